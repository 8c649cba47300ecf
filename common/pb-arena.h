/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pb-arena.h - a protobuf-c message unpacked into one block of memory.
 *
 * Owns: the allocator both ends unpack with (the broker its requests,
 * wire/codec.c; the library its replies, client/conn.c; common/pb-fast.c
 * the hot messages it unpacks by hand): every piece of one
 * message comes from one block, so unpacking costs one malloc() (more only
 * for a message bigger than the block guessed from its wire size), and
 * freeing it one free() per block instead of a walk over every field.
 * Must never: be freed any other way (protobuf_c_message_free_unpacked()
 * with another allocator would free() pieces of the block), or keep a
 * message past pb_arena_free().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct PbArena PbArena;

/* The message of descriptor desc in data (len bytes), or NULL (not such a message, or no memory). */
void *pb_arena_unpack(const ProtobufCMessageDescriptor *desc, size_t len, const uint8_t *data);
/* Frees a message pb_arena_unpack() returned, and everything it points to; NULL is nothing. */
void pb_arena_free(void *message);

/*
 * For a message built by hand (common/pb-fast.c): an empty arena whose
 * first block holds size bytes, or NULL; its pieces, from
 * pb_arena_alloc() (aligned, not zeroed; NULL: no memory), are freed
 * together by pb_arena_free() of any of them, or by pb_arena_discard()
 * when none was handed out.
 */
PbArena *pb_arena_new(size_t size);
void *pb_arena_alloc(PbArena *a, size_t size);
void pb_arena_discard(PbArena *a);

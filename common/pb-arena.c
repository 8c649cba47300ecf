/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pb-arena.c - see pb-arena.h.
 *
 * Theory of operation: protobuf-c asks its allocator for every piece of a
 * message it unpacks (the message, each sub-message, each repeated array,
 * each string) and frees them one by one.  Here every piece is carved from
 * a chunk: the first one, sized from the wire size (a Batch of Maps by
 * handle unpacked takes up to about 17 times its wire bytes; 24 are
 * given), holds the arena's header; a piece that does not fit gets a chunk
 * of its own size or twice the last, whichever is larger, linked to the
 * first.  Each piece is preceded by a pointer to the
 * arena, so that the message, whichever piece protobuf-c allocated it in,
 * finds its arena; protobuf-c's own frees (its scratch space, the pieces of
 * a message that failed to unpack) do nothing, and pb_arena_free() frees
 * the chunks.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pb-arena.h"

typedef struct PbChunk {
        struct PbChunk *next;
        size_t size;                    /* bytes of data */
        size_t used;
        max_align_t data[];
} PbChunk;

struct PbArena {
        PbChunk *chunks;                /* the current one first; the first chunk holds this header */
        size_t last_size;
};

#define PIECE_HEADER sizeof(max_align_t)        /* the arena pointer, keeping the piece aligned */

static size_t round_up(size_t n) {
        return (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
}

static void *piece_in(PbChunk *c, PbArena *a, size_t need) {
        uint8_t *at;

        if (c->size - c->used < need)
                return NULL;
        at = (uint8_t *) c->data + c->used;
        c->used += need;
        memcpy(at, &a, sizeof(a));
        return at + PIECE_HEADER;
}

static void *arena_alloc(void *data, size_t size) {
        PbArena *a = data;
        size_t need = PIECE_HEADER + round_up(size ? size : 1), n;
        PbChunk *c;
        void *p;

        if (need < size)
                return NULL;
        p = piece_in(a->chunks, a, need);
        if (p)
                return p;
        n = a->last_size * 2 > need ? a->last_size * 2 : need;
        c = malloc(sizeof(*c) + n);
        if (!c)
                return NULL;
        *c = (PbChunk) { .next = a->chunks, .size = n };
        a->chunks = c;
        a->last_size = n;
        return piece_in(c, a, need);
}

static void arena_free_piece(void *data, void *pointer) {
        (void) data;
        (void) pointer;         /* freed with its chunk */
}

static void arena_free_all(PbArena *a) {
        PbChunk *c = a->chunks, *first = NULL;

        /* the first chunk, which holds the header, is the last in the list */
        while (c) {
                PbChunk *next = c->next;

                if (!next)
                        first = c;
                else
                        free(c);
                c = next;
        }
        free(first);
}

PbArena *pb_arena_new(size_t size) {
        size_t first = round_up(sizeof(PbArena)) + size;
        PbChunk *c;
        PbArena *a;

        if (first < size)
                return NULL;
        c = malloc(sizeof(*c) + first);
        if (!c)
                return NULL;
        *c = (PbChunk) { .size = first, .used = round_up(sizeof(PbArena)) };
        a = (PbArena *) c->data;
        *a = (PbArena) { .chunks = c, .last_size = first };
        return a;
}

void *pb_arena_alloc(PbArena *a, size_t size) {
        return arena_alloc(a, size);
}

void pb_arena_discard(PbArena *a) {
        if (a)
                arena_free_all(a);
}

void *pb_arena_unpack(const ProtobufCMessageDescriptor *desc, size_t len, const uint8_t *data) {
        ProtobufCAllocator allocator = { .alloc = arena_alloc, .free = arena_free_piece };
        ProtobufCMessage *m;
        PbArena *a;

        if (len > (SIZE_MAX - 1024) / 24)
                return NULL;
        a = pb_arena_new(1024 + 24 * len);
        if (!a)
                return NULL;
        allocator.allocator_data = a;
        m = protobuf_c_message_unpack(desc, &allocator, len, data);
        if (!m) {
                arena_free_all(a);
                return NULL;
        }
        return m;
}

void pb_arena_free(void *message) {
        PbArena *a;

        if (!message)
                return;
        memcpy(&a, (uint8_t *) message - PIECE_HEADER, sizeof(a));
        arena_free_all(a);
}

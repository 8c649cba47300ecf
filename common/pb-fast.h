/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pb-fast.h - the hot messages packed and unpacked by hand.
 *
 * Owns: the wire form of the messages of the hot path, on both ends: a
 * Request that is a Map, an Unmap, a Batch of them or a GetCapabilities
 * (the library packs it, the broker unpacks it) and a Reply that is an
 * error, a MapReply, an UnmapReply, a BatchReply or a CapsReply (the
 * broker packs it, the library unpacks it).  protobuf-c stays the definition: what these functions produce is
 * byte for byte what protobuf-c packs, and what they unpack is field for
 * field what protobuf-c unpacks (tests/unit/test-pb-fast.c checks both,
 * on random messages and on mutations of their bytes).  Whatever is not
 * in that plain form (another verb, an unknown field, a field twice, a
 * varint wider than its type, a negative errnum) they decline, and the
 * caller asks protobuf-c, which then decides, so that an odd message is
 * accepted or refused exactly as before.
 * Must never: accept what protobuf-c refuses, decode a field otherwise
 * than protobuf-c, or hand out a message pb_arena_free() cannot free.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto/broker.pb-c.h"

/*
 * The bytes protobuf-c would pack req into, when req is an Id with a Map,
 * an Unmap, a Batch of them or a GetCapabilities; else 0 (pack it with
 * protobuf-c).
 */
size_t pb_fast_request_size(const Ib__V1__Request *req);
/* Packs req, of the size pb_fast_request_size() gave (not 0), into out; returns the bytes written (size). */
size_t pb_fast_request_pack(const Ib__V1__Request *req, size_t size, uint8_t *out);

/* The same for a Reply that is an error or carries a Map, an Unmap, a Batch or a Caps result. */
size_t pb_fast_reply_size(const Ib__V1__Reply *reply);
size_t pb_fast_reply_pack(const Ib__V1__Reply *reply, size_t size, uint8_t *out);

/*
 * The Request in data (len bytes) unpacked into one pb-arena block
 * (common/pb-arena.h: pb_arena_free() frees it), or NULL: not in the plain
 * form of a Map, an Unmap, a Batch of them or a GetCapabilities, or no
 * memory; then pb_arena_unpack() decides.
 */
Ib__V1__Request *pb_fast_request_unpack(const uint8_t *data, size_t len);
/* The same for a Reply. */
Ib__V1__Reply *pb_fast_reply_unpack(const uint8_t *data, size_t len);

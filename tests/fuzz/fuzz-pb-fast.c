/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-pb-fast.c - the hand-written codec of the hot messages against
 * protobuf-c, on any bytes.
 *
 * Owns: the harness's input format and its invariants.  The first byte
 * chooses what the rest is read as (even: a Request, as the broker reads
 * it; odd: a Reply, as the library reads it).  Whatever common/pb-fast.c
 * unpacks, protobuf-c unpacks too, to the same message (tests/lib/pb-same.h);
 * and a message it unpacked, packed again by hand, is protobuf-c's bytes for
 * protobuf-c's message.  What it declines is not a finding: protobuf-c
 * decides those.
 * Must never: accept an input the invariants reject.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pb-arena.h"
#include "common/pb-fast.h"
#include "proto/broker.pb-c.h"
#include "tests/fuzz/fuzz.h"
#include "tests/lib/pb-same.h"

/* Packs m by hand (size from the hand-written sizer, 0: declined) and compares with protobuf-c's bytes of pc. */
static void check_repack(size_t fast_size, const ProtobufCMessage *fast, const ProtobufCMessage *pc,
                         size_t (*pack)(const ProtobufCMessage *m, size_t size, uint8_t *out)) {
        size_t pc_size = protobuf_c_message_get_packed_size(pc);
        uint8_t *a, *b;

        if (fast_size == 0)
                return;         /* packed by protobuf-c instead: nothing to compare */
        if (fast_size != pc_size)
                fuzz_fail("hand-packed size %zu, protobuf-c's %zu", fast_size, pc_size);
        a = malloc(fast_size);
        b = malloc(pc_size);
        if (!a || !b)
                abort();
        if (pack(fast, fast_size, a) != fast_size || protobuf_c_message_pack(pc, b) != pc_size ||
            memcmp(a, b, pc_size) != 0)
                fuzz_fail("hand-packed bytes differ from protobuf-c's");
        free(a);
        free(b);
}

static size_t pack_request(const ProtobufCMessage *m, size_t size, uint8_t *out) {
        return pb_fast_request_pack((const Ib__V1__Request *) m, size, out);
}

static size_t pack_reply(const ProtobufCMessage *m, size_t size, uint8_t *out) {
        return pb_fast_reply_pack((const Ib__V1__Reply *) m, size, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const ProtobufCMessageDescriptor *desc;
        ProtobufCMessage *fast, *pc;
        bool reply;

        if (size < 1)
                return 0;
        reply = data[0] & 1;
        desc = reply ? &ib__v1__reply__descriptor : &ib__v1__request__descriptor;
        data++;
        size--;
        fast = reply ? (ProtobufCMessage *) pb_fast_reply_unpack(data, size)
                     : (ProtobufCMessage *) pb_fast_request_unpack(data, size);
        pc = protobuf_c_message_unpack(desc, NULL, size, data);
        if (fuzz_verbose())
                fprintf(stderr, "fuzz-pb-fast: %s of %zu bytes: by hand %s, protobuf-c %s\n",
                        reply ? "Reply" : "Request", size, fast ? "unpacked" : "declined",
                        pc ? "unpacked" : "refused");
        if (fast) {
                if (!pc)
                        fuzz_fail("unpacked by hand what protobuf-c refuses");
                if (!pb_same_message(fast, pc))
                        fuzz_fail("unpacked by hand otherwise than protobuf-c");
                if (reply)
                        check_repack(pb_fast_reply_size((Ib__V1__Reply *) fast), fast, pc, pack_reply);
                else
                        check_repack(pb_fast_request_size((Ib__V1__Request *) fast), fast, pc, pack_request);
        }
        pb_arena_free(fast);
        if (pc)
                protobuf_c_message_free_unpacked(pc, NULL);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-pb-arena.c - the one-block unpacking of both ends (common/pb-arena.c):
 * a message unpacked so packs again to the same bytes; one that needs more
 * than the first block gets more; every piece is aligned; what is not a message
 * (garbage, every truncation of a real one) gives NULL or a message, and the
 * ASan build's leak check sees nothing left behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb-arena.h"
#include "common/protocol.h"
#include "proto/broker.pb-c.h"
#include "tests/lib/tests.h"

#define N_OPS 256

/* A Batch of n Maps by handle (even ops) and Unmaps (odd ones), packed; *ret_size its bytes. */
static uint8_t *batch_packed(size_t n, size_t *ret_size) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__BatchRequest br = IB__V1__BATCH_REQUEST__INIT;
        Ib__V1__BatchOp ops[N_OPS], *opp[N_OPS];
        Ib__V1__MapRequest maps[N_OPS];
        Ib__V1__UnmapRequest unmaps[N_OPS];
        uint8_t *buf;

        for (size_t i = 0; i < n; i++) {
                ib__v1__batch_op__init(&ops[i]);
                if (i % 2 == 0) {
                        ib__v1__map_request__init(&maps[i]);
                        maps[i].ioas = 1;
                        maps[i].has_mem = true;
                        maps[i].mem = 7;
                        maps[i].has_offset = true;
                        maps[i].offset = (uint64_t) i << 12;
                        maps[i].length = 4096;
                        maps[i].has_iova = true;
                        maps[i].iova = 0x100000000ULL + ((uint64_t) i << 12);
                        ops[i].op_case = IB__V1__BATCH_OP__OP_MAP;
                        ops[i].map = &maps[i];
                } else {
                        ib__v1__unmap_request__init(&unmaps[i]);
                        unmaps[i].ioas = 1;
                        unmaps[i].iova = (uint64_t) i << 12;
                        unmaps[i].length = 4096;
                        ops[i].op_case = IB__V1__BATCH_OP__OP_UNMAP;
                        ops[i].unmap = &unmaps[i];
                }
                opp[i] = &ops[i];
        }
        br.n_ops = n;
        br.ops = opp;
        req.id = 42;
        req.verb_case = IB__V1__REQUEST__VERB_BATCH;
        req.batch = &br;
        *ret_size = ib__v1__request__get_packed_size(&req);
        buf = malloc(*ret_size);
        if (buf)
                (void) ib__v1__request__pack(&req, buf);
        return buf;
}

static bool aligned(const void *p) {
        return ((uintptr_t) p % _Alignof(max_align_t)) == 0;
}

TEST(a_batch_of_256_unpacks_and_packs_again_to_the_same_bytes) {
        size_t size = 0, again_size;
        uint8_t *buf = batch_packed(N_OPS, &size), *again;
        Ib__V1__Request *req;

        ASSERT_TRUE(buf != NULL);
        req = pb_arena_unpack(&ib__v1__request__descriptor, size, buf);
        ASSERT_TRUE(req != NULL);
        ASSERT_TRUE(aligned(req));
        ASSERT_EQ(req->id, 42);
        ASSERT_EQ(req->verb_case, IB__V1__REQUEST__VERB_BATCH);
        ASSERT_EQ(req->batch->n_ops, N_OPS);
        ASSERT_TRUE(aligned(req->batch) && aligned(req->batch->ops));
        for (size_t i = 0; i < N_OPS; i++) {
                const Ib__V1__BatchOp *op = req->batch->ops[i];

                ASSERT_TRUE(aligned(op));
                if (i % 2 == 0) {
                        ASSERT_EQ(op->op_case, IB__V1__BATCH_OP__OP_MAP);
                        ASSERT_TRUE(aligned(op->map));
                        ASSERT_EQ(op->map->offset, (uint64_t) i << 12);
                        ASSERT_EQ(op->map->iova, 0x100000000ULL + ((uint64_t) i << 12));
                        ASSERT_EQ(op->map->mem, 7);
                } else {
                        ASSERT_EQ(op->op_case, IB__V1__BATCH_OP__OP_UNMAP);
                        ASSERT_EQ(op->unmap->iova, (uint64_t) i << 12);
                }
        }
        again_size = ib__v1__request__get_packed_size(req);
        ASSERT_EQ(again_size, size);
        again = malloc(again_size);
        ASSERT_TRUE(again != NULL);
        (void) ib__v1__request__pack(req, again);
        ASSERT_TRUE(memcmp(again, buf, size) == 0);
        pb_arena_free(req);
        free(again);
        free(buf);
}

/* Empty operations: 2 bytes each on the wire, far more unpacked, so the first block cannot hold them. */
TEST(a_batch_of_empty_operations_needs_more_blocks_and_gets_them) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT, *got;
        Ib__V1__BatchRequest br = IB__V1__BATCH_REQUEST__INIT;
        static Ib__V1__BatchOp ops[4096];
        static Ib__V1__BatchOp *opp[4096];
        uint8_t *buf;
        size_t size;

        for (size_t i = 0; i < 4096; i++) {
                ib__v1__batch_op__init(&ops[i]);
                opp[i] = &ops[i];
        }
        br.n_ops = 4096;
        br.ops = opp;
        req.verb_case = IB__V1__REQUEST__VERB_BATCH;
        req.batch = &br;
        size = ib__v1__request__get_packed_size(&req);
        buf = malloc(size);
        ASSERT_TRUE(buf != NULL);
        (void) ib__v1__request__pack(&req, buf);
        got = pb_arena_unpack(&ib__v1__request__descriptor, size, buf);
        ASSERT_TRUE(got != NULL);
        ASSERT_EQ(got->batch->n_ops, 4096);
        for (size_t i = 0; i < 4096; i++) {
                ASSERT_TRUE(aligned(got->batch->ops[i]));
                ASSERT_EQ(got->batch->ops[i]->op_case, IB__V1__BATCH_OP__OP__NOT_SET);
        }
        pb_arena_free(got);
        free(buf);
}

TEST(a_reply_with_strings_keeps_them) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT, *got;
        char sentence[3000];
        uint8_t *buf;
        size_t size;

        memset(sentence, 'x', sizeof(sentence) - 1);
        sentence[sizeof(sentence) - 1] = '\0';
        reply.id = 9;
        reply.has_errnum = true;
        reply.errnum = 2;
        reply.errno_name = (char *) "ENOENT";
        reply.error = sentence;
        size = ib__v1__reply__get_packed_size(&reply);
        buf = malloc(size);
        ASSERT_TRUE(buf != NULL);
        (void) ib__v1__reply__pack(&reply, buf);
        got = pb_arena_unpack(&ib__v1__reply__descriptor, size, buf);
        ASSERT_TRUE(got != NULL);
        ASSERT_EQ(got->id, 9);
        ASSERT_TRUE(strcmp(got->errno_name, "ENOENT") == 0);
        ASSERT_TRUE(strcmp(got->error, sentence) == 0);
        pb_arena_free(got);
        free(buf);
}

TEST(garbage_and_every_truncation_give_null_or_a_message_and_leave_nothing) {
        static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f };
        size_t size = 0;
        uint8_t *buf = batch_packed(16, &size);

        ASSERT_TRUE(buf != NULL);
        ASSERT_TRUE(pb_arena_unpack(&ib__v1__request__descriptor, sizeof(garbage), garbage) == NULL);
        for (size_t n = 0; n < size; n++)
                pb_arena_free(pb_arena_unpack(&ib__v1__request__descriptor, n, buf));
        pb_arena_free(NULL);
        free(buf);
}

TESTS_MAIN(NULL, NULL)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-pb-fast.c - the hand-written codec of the hot messages
 * (common/pb-fast.c) against protobuf-c, which defines the wire form.
 *
 * Random Requests (Maps, Unmaps, Batches of them, packed or not) and
 * Replies (errors, Map, Unmap and Batch results, packed values or not),
 * with every optional field present or not
 * and values of every width: packed by hand they are protobuf-c's bytes,
 * and unpacked by hand they are protobuf-c's message, field by field
 * (tests/lib/pb-same.h: defaults of absent fields included).  Then their
 * bytes mutated (a byte changed, cut, inserted, a span repeated): whatever
 * the hand-written decoder accepts, protobuf-c accepts as the same message;
 * both outcomes occur.  And the declines: another verb, an unknown field,
 * a field twice, a negative errnum, a bool of 2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb-arena.h"
#include "common/pb-fast.h"
#include "proto/broker.pb-c.h"
#include "proto/ioas.pb-c.h"
#include "tests/lib/pb-same.h"
#include "tests/lib/tests.h"

#define ROUNDS 3000
#define MAX_OPS 40

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

/* A value of a random width: 0, small, or up to all 64 bits. */
static uint64_t rnd_value(void) {
        switch (rnd() % 4) {
        case 0:
                return 0;
        case 1:
                return rnd() % 200;
        case 2:
                return rnd() >> (rnd() % 64);
        default:
                return rnd();
        }
}

static bool coin(void) {
        return rnd() & 1;
}

/* ---------------------------------------------------------------- random messages */

/* Everything a random message points to, freed by one pool_free(). */
static void *pool[65536];
static size_t n_pool;

static void *pool_new(size_t size) {
        void *p = calloc(1, size);

        if (!p || n_pool >= sizeof(pool) / sizeof(pool[0]))
                abort();
        pool[n_pool++] = p;
        return p;
}

static void pool_free(void) {
        while (n_pool > 0)
                free(pool[--n_pool]);
}

static char *rnd_string(void) {
        static const char *const strings[] = { "", "EEXIST", "ENOENT", "the IOVA range is in use",
                                               "a sentence with \"quotes\" and \xc3\xa9" };

        if (coin())
                return NULL;
        return (char *) strings[rnd() % (sizeof(strings) / sizeof(strings[0]))];
}

static Ib__V1__MapRequest *rnd_map(void) {
        Ib__V1__MapRequest *m = pool_new(sizeof(*m));

        ib__v1__map_request__init(m);
        m->ioas = (uint32_t) rnd_value();
        m->length = rnd_value();
        if ((m->has_fd_index = coin()))
                m->fd_index = (uint32_t) rnd_value();
        if ((m->has_offset = coin()))
                m->offset = rnd_value();
        if ((m->has_iova = coin()))
                m->iova = rnd_value();
        if ((m->has_readable = coin()))
                m->readable = coin();
        if ((m->has_writeable = coin()))
                m->writeable = coin();
        if ((m->has_mem = coin()))
                m->mem = (uint32_t) rnd_value();
        return m;
}

static Ib__V1__UnmapRequest *rnd_unmap(void) {
        Ib__V1__UnmapRequest *u = pool_new(sizeof(*u));

        ib__v1__unmap_request__init(u);
        u->ioas = (uint32_t) rnd_value();
        u->iova = rnd_value();
        u->length = rnd_value();
        return u;
}

static Ib__V1__Request *rnd_request(void) {
        Ib__V1__Request *req = pool_new(sizeof(*req));

        ib__v1__request__init(req);
        req->id = rnd_value();
        switch (rnd() % 4) {
        case 0:
                req->verb_case = IB__V1__REQUEST__VERB_MAP;
                req->map = rnd_map();
                break;
        case 3:
                req->verb_case = IB__V1__REQUEST__VERB_CAPS;
                req->caps = pool_new(sizeof(*req->caps));
                ib__v1__caps_request__init(req->caps);
                break;
        case 1:
                req->verb_case = IB__V1__REQUEST__VERB_UNMAP;
                req->unmap = rnd_unmap();
                break;
        default: {
                Ib__V1__BatchRequest *b = pool_new(sizeof(*b));

                ib__v1__batch_request__init(b);
                b->n_ops = rnd() % MAX_OPS;
                b->ops = pool_new((b->n_ops + 1) * sizeof(*b->ops));
                for (size_t i = 0; i < b->n_ops; i++) {
                        Ib__V1__BatchOp *op = pool_new(sizeof(*op));

                        ib__v1__batch_op__init(op);
                        if (coin()) {
                                op->op_case = IB__V1__BATCH_OP__OP_MAP;
                                op->map = rnd_map();
                        } else {
                                op->op_case = IB__V1__BATCH_OP__OP_UNMAP;
                                op->unmap = rnd_unmap();
                        }
                        b->ops[i] = op;
                }
                if ((b->has_stop_on_error = coin()))
                        b->stop_on_error = coin();
                if (coin()) {   /* packed ops: any words (their meaning is the broker's) */
                        b->n_packed_ops = rnd() % (5 * MAX_OPS);
                        b->packed_ops = pool_new((b->n_packed_ops + 1) * sizeof(*b->packed_ops));
                        for (size_t i = 0; i < b->n_packed_ops; i++)
                                b->packed_ops[i] = rnd_value();
                }
                req->verb_case = IB__V1__REQUEST__VERB_BATCH;
                req->batch = b;
        }
        }
        return req;
}

static Ib__V1__MapReply *rnd_map_reply(void) {
        Ib__V1__MapReply *m = pool_new(sizeof(*m));

        ib__v1__map_reply__init(m);
        m->iova = rnd_value();
        return m;
}

static Ib__V1__UnmapReply *rnd_unmap_reply(void) {
        Ib__V1__UnmapReply *u = pool_new(sizeof(*u));

        ib__v1__unmap_reply__init(u);
        u->length = rnd_value();
        return u;
}

static Ib__V1__CapsReply *rnd_caps_reply(void) {
        Ib__V1__CapsReply *c = pool_new(sizeof(*c));

        ib__v1__caps_reply__init(c);
        c->backend = rnd_string();
        if (!c->backend)
                c->backend = (char *) "";
        c->n_kernel_features = rnd() % 10;
        c->kernel_features = pool_new((c->n_kernel_features + 1) * sizeof(*c->kernel_features));
        for (size_t i = 0; i < c->n_kernel_features; i++)
                c->kernel_features[i] = (Ib__V1__KernelFeature) (coin() ? rnd() % 8 : rnd() % 300);
        c->page_size = rnd_value();
        if ((c->has_sessions = coin()))
                c->sessions = rnd_value();
        if ((c->has_mapped_bytes = coin()))
                c->mapped_bytes = rnd_value();
        if ((c->has_objects = coin()))
                c->objects = rnd_value();
        return c;
}

static Ib__V1__Reply *rnd_reply(void) {
        Ib__V1__Reply *reply = pool_new(sizeof(*reply));

        ib__v1__reply__init(reply);
        reply->id = rnd_value();
        if ((reply->has_errnum = coin()))
                reply->errnum = (int32_t) (rnd() % 200);
        reply->errno_name = rnd_string();
        reply->error = rnd_string();
        if ((reply->has_not_applied = coin()))
                reply->not_applied = coin();
        switch (rnd() % 5) {
        case 0:
                break;          /* an error reply */
        case 4:
                reply->result_case = IB__V1__REPLY__RESULT_CAPS;
                reply->caps = rnd_caps_reply();
                break;
        case 1:
                reply->result_case = IB__V1__REPLY__RESULT_MAP;
                reply->map = rnd_map_reply();
                break;
        case 2:
                reply->result_case = IB__V1__REPLY__RESULT_UNMAP;
                reply->unmap = rnd_unmap_reply();
                break;
        default: {
                Ib__V1__BatchReply *b = pool_new(sizeof(*b));

                ib__v1__batch_reply__init(b);
                b->n_results = rnd() % MAX_OPS;
                b->results = pool_new((b->n_results + 1) * sizeof(*b->results));
                for (size_t i = 0; i < b->n_results; i++) {
                        Ib__V1__BatchResult *res = pool_new(sizeof(*res));

                        ib__v1__batch_result__init(res);
                        if ((res->has_errnum = coin()))
                                res->errnum = (int32_t) (rnd() % 200);
                        if (coin()) {
                                res->errno_name = rnd_string();
                                res->error = rnd_string();
                        }
                        if ((res->has_not_applied = coin()))
                                res->not_applied = coin();
                        if ((res->has_index = coin()))
                                res->index = (uint32_t) rnd_value();
                        switch (rnd() % 3) {
                        case 0:
                                break;
                        case 1:
                                res->result_case = IB__V1__BATCH_RESULT__RESULT_MAP;
                                res->map = rnd_map_reply();
                                break;
                        default:
                                res->result_case = IB__V1__BATCH_RESULT__RESULT_UNMAP;
                                res->unmap = rnd_unmap_reply();
                        }
                        b->results[i] = res;
                }
                if (coin()) {
                        b->n_packed_values = rnd() % MAX_OPS;
                        b->packed_values = pool_new((b->n_packed_values + 1) * sizeof(*b->packed_values));
                        for (size_t i = 0; i < b->n_packed_values; i++)
                                b->packed_values[i] = rnd_value();
                }
                reply->result_case = IB__V1__REPLY__RESULT_BATCH;
                reply->batch = b;
        }
        }
        return reply;
}

/* ---------------------------------------------------------------- the checks */

typedef struct Codec {
        const ProtobufCMessageDescriptor *desc;
        size_t (*size)(const void *m);
        size_t (*pack)(const void *m, size_t size, uint8_t *out);
        void *(*unpack)(const uint8_t *data, size_t len);
} Codec;

static size_t request_size(const void *m) { return pb_fast_request_size(m); }
static size_t request_pack(const void *m, size_t size, uint8_t *out) { return pb_fast_request_pack(m, size, out); }
static void *request_unpack(const uint8_t *data, size_t len) { return pb_fast_request_unpack(data, len); }
static size_t reply_size(const void *m) { return pb_fast_reply_size(m); }
static size_t reply_pack(const void *m, size_t size, uint8_t *out) { return pb_fast_reply_pack(m, size, out); }
static void *reply_unpack(const uint8_t *data, size_t len) { return pb_fast_reply_unpack(data, len); }

static const Codec request_codec = { &ib__v1__request__descriptor, request_size, request_pack, request_unpack };
static const Codec reply_codec = { &ib__v1__reply__descriptor, reply_size, reply_pack, reply_unpack };

typedef struct Tally {
        unsigned both;          /* mutations both decoders accepted */
        unsigned declined;      /* protobuf-c accepted, the hand-written one declined */
        unsigned refused;       /* protobuf-c refused (and so did the other) */
} Tally;

/* bytes decoded both ways: whatever the hand-written decoder takes, protobuf-c takes as the same. */
static void check_decode(const Codec *c, const uint8_t *data, size_t len, bool must_accept, Tally *t) {
        ProtobufCMessage *pc = protobuf_c_message_unpack(c->desc, NULL, len, data);
        ProtobufCMessage *fast = c->unpack(data, len);

        if (fast) {
                ASSERT_TRUE(pc);
                ASSERT_TRUE(pb_same_message(fast, pc));
                t->both++;
        } else if (pc) {
                ASSERT_TRUE(!must_accept);
                t->declined++;
        } else
                t->refused++;
        pb_arena_free(fast);
        if (pc)
                protobuf_c_message_free_unpacked(pc, NULL);
}

/* One random message: packed the same both ways, unpacked the same, then mutated. */
static void check_one(const Codec *c, const ProtobufCMessage *m, Tally *t) {
        size_t pc_size = protobuf_c_message_get_packed_size(m), size = c->size(m), len;
        uint8_t *pc_buf = malloc(pc_size + 1), *buf = malloc(pc_size + 1), *mut = malloc(pc_size + 16);

        if (!pc_buf || !buf || !mut)
                abort();
        ASSERT_TRUE(size == pc_size);
        ASSERT_TRUE(protobuf_c_message_pack(m, pc_buf) == pc_size);
        ASSERT_TRUE(c->pack(m, size, buf) == size);
        ASSERT_TRUE(memcmp(buf, pc_buf, size) == 0);
        check_decode(c, buf, size, /* must_accept= */ true, t);

        for (int k = 0; k < 4; k++) {
                size_t at = size ? rnd() % size : 0;

                memcpy(mut, buf, size);
                len = size;
                switch (rnd() % 4) {
                case 0:                         /* a byte changed */
                        if (size)
                                mut[at] = (uint8_t) rnd();
                        break;
                case 1:                         /* cut */
                        len = at;
                        break;
                case 2:                         /* a byte inserted */
                        memmove(mut + at + 1, mut + at, size - at);
                        mut[at] = (uint8_t) rnd();
                        len = size + 1;
                        break;
                default: {                      /* the first bytes again at the end: a field twice */
                        size_t n = at < 15 ? at : 15;

                        memcpy(mut + size, buf, n);
                        len = size + n;
                }
                }
                check_decode(c, mut, len, false, t);
        }
        free(pc_buf);
        free(buf);
        free(mut);
}

TEST(random_requests_pack_and_unpack_as_protobuf_c_does) {
        Tally t = {};

        for (int i = 0; i < ROUNDS; i++) {
                check_one(&request_codec, &rnd_request()->base, &t);
                pool_free();
        }
        printf("# requests, mutated: %u both accept, %u declined by hand, %u refused by both\n",
                 t.both - ROUNDS, t.declined, t.refused);

        ASSERT_TRUE(t.both > ROUNDS);
        ASSERT_TRUE(t.declined > 0);
        ASSERT_TRUE(t.refused > 0);
}

TEST(random_replies_pack_and_unpack_as_protobuf_c_does) {
        Tally t = {};

        for (int i = 0; i < ROUNDS; i++) {
                check_one(&reply_codec, &rnd_reply()->base, &t);
                pool_free();
        }
        printf("# replies, mutated: %u both accept, %u declined by hand, %u refused by both\n",
                 t.both - ROUNDS, t.declined, t.refused);

        ASSERT_TRUE(t.both > ROUNDS);
        ASSERT_TRUE(t.declined > 0);
        ASSERT_TRUE(t.refused > 0);
}

TEST(what_is_not_plain_is_left_to_protobuf_c) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__IoasFreeRequest ioas_free = IB__V1__IOAS_FREE_REQUEST__INIT;
        Ib__V1__UnmapRequest unmap = IB__V1__UNMAP_REQUEST__INIT;
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__Request *fast;
        ProtobufCMessage *pc;
        uint8_t buf[256];
        size_t n;

        /* another verb: neither packed nor unpacked by hand */
        req.id = 7;
        req.verb_case = IB__V1__REQUEST__VERB_IOAS_FREE;
        req.ioas_free = &ioas_free;
        ioas_free.ioas = 1;
        ASSERT_TRUE(pb_fast_request_size(&req) == 0);
        n = protobuf_c_message_pack(&req.base, buf);
        ASSERT_TRUE(!pb_fast_request_unpack(buf, n));

        /* an unknown field after a plain Unmap: protobuf-c keeps it, the hand-written decoder declines */
        req.verb_case = IB__V1__REQUEST__VERB_UNMAP;
        req.unmap = &unmap;
        unmap.ioas = 1;
        unmap.iova = 0x1000;
        unmap.length = 0x1000;
        n = protobuf_c_message_pack(&req.base, buf);
        fast = pb_fast_request_unpack(buf, n);
        ASSERT_TRUE(fast != NULL);      /* a plain Unmap is taken */
        pb_arena_free(fast);
        buf[n++] = (15 << 3) | 0;       /* field 15 (no verb), varint 5 */
        buf[n++] = 5;
        ASSERT_TRUE(!pb_fast_request_unpack(buf, n));
        pc = protobuf_c_message_unpack(&ib__v1__request__descriptor, NULL, n, buf);
        ASSERT_TRUE(pc && pc->n_unknown_fields == 1);
        protobuf_c_message_free_unpacked(pc, NULL);

        /* the id twice: protobuf-c takes the last, the hand-written decoder declines */
        n = protobuf_c_message_pack(&req.base, buf);
        buf[n++] = (1 << 3) | 0;
        buf[n++] = 9;
        ASSERT_TRUE(!pb_fast_request_unpack(buf, n));
        pc = protobuf_c_message_unpack(&ib__v1__request__descriptor, NULL, n, buf);
        ASSERT_TRUE(pc && ((Ib__V1__Request *) pc)->id == 9);
        protobuf_c_message_free_unpacked(pc, NULL);

        /* a length prefix of more than 5 bytes: protobuf-c refuses it, so the hand-written decoder must not take it */
        {
                static const uint8_t long_prefix[] = { 0x08, 0x01, 0x5a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };

                ASSERT_TRUE(!pb_fast_request_unpack(long_prefix, sizeof(long_prefix)));
                pc = protobuf_c_message_unpack(&ib__v1__request__descriptor, NULL, sizeof(long_prefix), long_prefix);
                ASSERT_TRUE(pc == NULL);
        }

        /* a CapsRequest with content (an unknown field): protobuf-c keeps it, the hand-written decoder declines */
        {
                static const uint8_t caps_with_field[] = { 0x08, 0x01, 0x5a, 0x02, 0x08, 0x05 };

                ASSERT_TRUE(!pb_fast_request_unpack(caps_with_field, sizeof(caps_with_field)));
                pc = protobuf_c_message_unpack(&ib__v1__request__descriptor, NULL, sizeof(caps_with_field),
                                               caps_with_field);
                ASSERT_TRUE(pc && ((Ib__V1__Request *) pc)->caps->base.n_unknown_fields == 1);
                protobuf_c_message_free_unpacked(pc, NULL);
        }

        /* a negative kernel feature is protobuf-c's to pack (ten bytes) */
        {
                Ib__V1__CapsReply caps = IB__V1__CAPS_REPLY__INIT;
                Ib__V1__KernelFeature features[1] = { (Ib__V1__KernelFeature) -1 };

                caps.backend = (char *) "sim";
                caps.n_kernel_features = 1;
                caps.kernel_features = features;
                reply.id = 3;
                reply.result_case = IB__V1__REPLY__RESULT_CAPS;
                reply.caps = &caps;
                ASSERT_TRUE(pb_fast_reply_size(&reply) == 0);
                features[0] = IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_MAP_FILE;
                ASSERT_TRUE(pb_fast_reply_size(&reply) == protobuf_c_message_get_packed_size(&reply.base));
                reply.result_case = IB__V1__REPLY__RESULT__NOT_SET;
                reply.caps = NULL;
        }

        /* a negative errnum is protobuf-c's to pack (ten bytes); a bool of 2 its to unpack */
        reply.id = 3;
        reply.has_errnum = true;
        reply.errnum = -1;
        ASSERT_TRUE(pb_fast_reply_size(&reply) == 0);
        reply.errnum = 0;
        reply.has_not_applied = true;
        reply.not_applied = true;
        n = protobuf_c_message_pack(&reply.base, buf);
        ASSERT_TRUE(buf[n - 1] == 1);
        buf[n - 1] = 2;
        ASSERT_TRUE(!pb_fast_reply_unpack(buf, n));
        pc = protobuf_c_message_unpack(&ib__v1__reply__descriptor, NULL, n, buf);
        ASSERT_TRUE(pc && ((Ib__V1__Reply *) pc)->not_applied);
        protobuf_c_message_free_unpacked(pc, NULL);
}

TESTS_MAIN(NULL, NULL)

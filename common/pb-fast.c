/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pb-fast.c - see pb-fast.h.
 *
 * Theory of operation: protobuf-c packs and unpacks any message by walking
 * its descriptor, field by field, with a pass to size each sub-message and,
 * when unpacking, a pass to count repeated fields and one to check required
 * ones; for a 4 KiB Map that walk is most of what either end does besides
 * the syscalls (valgrind --tool=callgrind of a client).  The few messages of
 * the hot path are written out here instead, each as its fields in field
 * number order, which is the order protobuf-c packs them in.
 *
 * Packing: a *_size() function per message returns its bytes, and 0 when
 * the message is not one this file packs (unknown fields kept in it, a
 * negative errnum, which protobuf-c packs as ten bytes, a oneof case with
 * no message); a *_put() writes it.  A sub-message's length prefix needs
 * its size, so sizes are computed again while writing, for each op or
 * result (a few additions); the Batch, the last field of its message, takes
 * its length from the message's size, which the caller has.
 *
 * Unpacking: a Reader walks the bytes; each message starts from its
 * generated INIT (so absent optional fields hold their defaults, as
 * protobuf-c leaves them) and takes each field it knows once, with its
 * wire type and a value that fits its type exactly.  Anything else (an
 * unknown field, one seen twice, which protobuf-c would merge or
 * overwrite, a second member of a oneof, a missing required field, a bool
 * other than 0 or 1, a uint32 varint of more than five bytes) makes the
 * whole message "declined": NULL, and the caller asks protobuf-c.  So a
 * message this file accepts is one protobuf-c accepts, with the same
 * fields, and the odd ones get protobuf-c's verdict as before.  The pieces
 * come from a pb-arena (common/pb-arena.h), so that both decoders' results
 * are freed the same way.
 */
#include <stdbool.h>
#include <string.h>

#include "common/pb-arena.h"
#include "common/pb-fast.h"
#include "proto/ioas.pb-c.h"

enum {
        WIRE_VARINT = 0,
        WIRE_LEN = 2,
};

/* ---------------------------------------------------------------- packing */

static size_t varint_bytes(uint64_t v) {
        size_t n = 1;

        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
        while (v >= 0x80) {
                *p++ = (uint8_t) (v | 0x80);
                v >>= 7;
        }
        *p++ = (uint8_t) v;
        return p;
}

static size_t tag_bytes(unsigned field) {
        return varint_bytes((uint64_t) field << 3);
}

static uint8_t *put_tag(uint8_t *p, unsigned field, unsigned wire) {
        return put_varint(p, ((uint64_t) field << 3) | wire);
}

/* A varint field; a LEN field of n bytes (its content follows). */
static size_t varint_field_bytes(unsigned field, uint64_t v) {
        return tag_bytes(field) + varint_bytes(v);
}

static uint8_t *put_varint_field(uint8_t *p, unsigned field, uint64_t v) {
        return put_varint(put_tag(p, field, WIRE_VARINT), v);
}

static size_t len_field_bytes(unsigned field, size_t n) {
        return tag_bytes(field) + varint_bytes(n) + n;
}

static uint8_t *put_len_head(uint8_t *p, unsigned field, size_t n) {
        return put_varint(put_tag(p, field, WIRE_LEN), n);
}

static size_t string_field_bytes(unsigned field, const char *s) {
        return s ? len_field_bytes(field, strlen(s)) : 0;
}

static uint8_t *put_string_field(uint8_t *p, unsigned field, const char *s) {
        size_t n;

        if (!s)
                return p;
        n = strlen(s);
        p = put_len_head(p, field, n);
        memcpy(p, s, n);
        return p + n;
}

/* A packed repeated fixed64 field of n words (none: no field, as protobuf-c packs it); 0 when too long. */
static size_t packed_u64_bytes(unsigned field, size_t n) {
        if (n == 0 || n > SIZE_MAX / 16)
                return 0;
        return len_field_bytes(field, 8 * n);
}

static uint8_t *put_packed_u64(uint8_t *p, unsigned field, const uint64_t *v, size_t n) {
        if (n == 0)
                return p;
        p = put_len_head(p, field, 8 * n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(p, v, 8 * n);                    /* the wire's byte order */
        p += 8 * n;
#else
        for (size_t i = 0; i < n; i++)
                for (unsigned k = 0; k < 8; k++)
                        *p++ = (uint8_t) (v[i] >> (8 * k));
#endif
        return p;
}

/* MapRequest: 0 when it cannot be packed here. */
static size_t map_request_bytes(const Ib__V1__MapRequest *m) {
        size_t n;

        if (!m || m->base.n_unknown_fields > 0)
                return 0;
        n = varint_field_bytes(1, m->ioas);
        if (m->has_fd_index)
                n += varint_field_bytes(2, m->fd_index);
        if (m->has_offset)
                n += varint_field_bytes(3, m->offset);
        n += varint_field_bytes(4, m->length);
        if (m->has_iova)
                n += varint_field_bytes(5, m->iova);
        if (m->has_readable)
                n += varint_field_bytes(6, m->readable ? 1 : 0);
        if (m->has_writeable)
                n += varint_field_bytes(7, m->writeable ? 1 : 0);
        if (m->has_mem)
                n += varint_field_bytes(8, m->mem);
        return n;
}

static uint8_t *put_map_request(uint8_t *p, const Ib__V1__MapRequest *m) {
        p = put_varint_field(p, 1, m->ioas);
        if (m->has_fd_index)
                p = put_varint_field(p, 2, m->fd_index);
        if (m->has_offset)
                p = put_varint_field(p, 3, m->offset);
        p = put_varint_field(p, 4, m->length);
        if (m->has_iova)
                p = put_varint_field(p, 5, m->iova);
        if (m->has_readable)
                p = put_varint_field(p, 6, m->readable ? 1 : 0);
        if (m->has_writeable)
                p = put_varint_field(p, 7, m->writeable ? 1 : 0);
        if (m->has_mem)
                p = put_varint_field(p, 8, m->mem);
        return p;
}

static size_t unmap_request_bytes(const Ib__V1__UnmapRequest *u) {
        if (!u || u->base.n_unknown_fields > 0)
                return 0;
        return varint_field_bytes(1, u->ioas) + varint_field_bytes(2, u->iova) + varint_field_bytes(3, u->length);
}

static uint8_t *put_unmap_request(uint8_t *p, const Ib__V1__UnmapRequest *u) {
        p = put_varint_field(p, 1, u->ioas);
        p = put_varint_field(p, 2, u->iova);
        return put_varint_field(p, 3, u->length);
}

/*
 * A message field's bytes (tag, length, content) given its content's
 * size, or 0 when the content cannot be packed here.  An empty message
 * (content 0) is not among the ones this file packs, so 0 is free to say so.
 */
static size_t sub_bytes(unsigned field, size_t content) {
        return content ? len_field_bytes(field, content) : 0;
}

static size_t batch_op_bytes(const Ib__V1__BatchOp *op) {
        if (!op || op->base.n_unknown_fields > 0)
                return 0;
        switch (op->op_case) {
        case IB__V1__BATCH_OP__OP_MAP:
                return sub_bytes(1, map_request_bytes(op->map));
        case IB__V1__BATCH_OP__OP_UNMAP:
                return sub_bytes(2, unmap_request_bytes(op->unmap));
        default:
                return 0;
        }
}

static uint8_t *put_batch_op(uint8_t *p, const Ib__V1__BatchOp *op) {
        if (op->op_case == IB__V1__BATCH_OP__OP_MAP)
                return put_map_request(put_len_head(p, 1, map_request_bytes(op->map)), op->map);
        return put_unmap_request(put_len_head(p, 2, unmap_request_bytes(op->unmap)), op->unmap);
}

/* A BatchRequest's content; *ok false when it cannot be packed here (an empty one is 0 bytes and fine). */
static size_t batch_request_bytes(const Ib__V1__BatchRequest *b, bool *ok) {
        size_t n = 0;

        *ok = false;
        if (!b || b->base.n_unknown_fields > 0)
                return 0;
        for (size_t i = 0; i < b->n_ops; i++) {
                size_t op = batch_op_bytes(b->ops[i]);

                if (op == 0)
                        return 0;
                n += len_field_bytes(1, op);
        }
        if (b->has_stop_on_error)
                n += varint_field_bytes(2, b->stop_on_error ? 1 : 0);
        if (b->n_packed_ops > 0) {
                size_t words = packed_u64_bytes(3, b->n_packed_ops);

                if (words == 0 || !b->packed_ops)
                        return 0;
                n += words;
        }
        *ok = true;
        return n;
}

static uint8_t *put_batch_request(uint8_t *p, const Ib__V1__BatchRequest *b) {
        for (size_t i = 0; i < b->n_ops; i++)
                p = put_batch_op(put_len_head(p, 1, batch_op_bytes(b->ops[i])), b->ops[i]);
        if (b->has_stop_on_error)
                p = put_varint_field(p, 2, b->stop_on_error ? 1 : 0);
        return put_packed_u64(p, 3, b->packed_ops, b->n_packed_ops);
}

/*
 * The content's bytes of a LEN field that ends a message of size bytes,
 * whose tag ends at head bytes: what is left once its length is put, so
 * that a Batch, the last field of its message, needs no second walk.
 */
static size_t last_field_content(size_t size, size_t head) {
        for (size_t k = 1; k < 10; k++)
                if (varint_bytes(size - head - k) == k)
                        return size - head - k;
        return 0;       /* not reached: some k of 1 to 9 fits */
}

size_t pb_fast_request_size(const Ib__V1__Request *req) {
        size_t n = varint_field_bytes(1, req->id), sub;
        bool ok;

        if (req->base.n_unknown_fields > 0)
                return 0;
        switch (req->verb_case) {
        case IB__V1__REQUEST__VERB_MAP:
                sub = sub_bytes(30, map_request_bytes(req->map));
                break;
        case IB__V1__REQUEST__VERB_UNMAP:
                sub = sub_bytes(31, unmap_request_bytes(req->unmap));
                break;
        case IB__V1__REQUEST__VERB_BATCH:
                sub = batch_request_bytes(req->batch, &ok);
                if (!ok)
                        return 0;
                return n + len_field_bytes(33, sub);
        case IB__V1__REQUEST__VERB_CAPS:
                /* an empty message: the one sub_bytes() cannot size */
                if (!req->caps || req->caps->base.n_unknown_fields > 0)
                        return 0;
                return n + len_field_bytes(11, 0);
        default:
                return 0;
        }
        return sub ? n + sub : 0;
}

size_t pb_fast_request_pack(const Ib__V1__Request *req, size_t size, uint8_t *out) {
        uint8_t *p = put_varint_field(out, 1, req->id);

        switch (req->verb_case) {
        case IB__V1__REQUEST__VERB_MAP:
                p = put_map_request(put_len_head(p, 30, map_request_bytes(req->map)), req->map);
                break;
        case IB__V1__REQUEST__VERB_UNMAP:
                p = put_unmap_request(put_len_head(p, 31, unmap_request_bytes(req->unmap)), req->unmap);
                break;
        case IB__V1__REQUEST__VERB_CAPS:
                p = put_len_head(p, 11, 0);
                break;
        default:
                p = put_len_head(p, 33, last_field_content(size, (size_t) (put_tag(p, 33, WIRE_LEN) - out)));
                p = put_batch_request(p, req->batch);
                break;
        }
        return (size_t) (p - out);
}

/* The fields Reply and BatchResult share (errnum, errno_name, error, not_applied), numbered from first. */
typedef struct Outcome {
        bool has_errnum;
        int32_t errnum;
        const char *errno_name;
        const char *error;
        bool has_not_applied;
        bool not_applied;
} Outcome;

static bool outcome_packable(const Outcome *o) {
        return !o->has_errnum || o->errnum >= 0;       /* a negative int32 is ten bytes: protobuf-c's */
}

static size_t outcome_bytes(const Outcome *o, unsigned first) {
        size_t n = 0;

        if (o->has_errnum)
                n += varint_field_bytes(first, (uint64_t) o->errnum);
        n += string_field_bytes(first + 1, o->errno_name);
        n += string_field_bytes(first + 2, o->error);
        if (o->has_not_applied)
                n += varint_field_bytes(first + 3, o->not_applied ? 1 : 0);
        return n;
}

static uint8_t *put_outcome(uint8_t *p, const Outcome *o, unsigned first) {
        if (o->has_errnum)
                p = put_varint_field(p, first, (uint64_t) o->errnum);
        p = put_string_field(p, first + 1, o->errno_name);
        p = put_string_field(p, first + 2, o->error);
        if (o->has_not_applied)
                p = put_varint_field(p, first + 3, o->not_applied ? 1 : 0);
        return p;
}

#define OUTCOME_OF(m) ((Outcome) { (m)->has_errnum, (m)->errnum, (m)->errno_name, (m)->error, \
                                   (m)->has_not_applied, (m)->not_applied })

/* MapReply and UnmapReply: one required uint64 each, field 1. */
static size_t u64_reply_bytes(const ProtobufCMessage *base, uint64_t v) {
        if (!base || base->n_unknown_fields > 0)
                return 0;
        return varint_field_bytes(1, v);
}

static size_t batch_result_bytes(const Ib__V1__BatchResult *r, bool *ok) {
        Outcome o;
        size_t n;

        *ok = false;
        if (!r || r->base.n_unknown_fields > 0)
                return 0;
        o = OUTCOME_OF(r);
        if (!outcome_packable(&o))
                return 0;
        n = outcome_bytes(&o, 1);
        if (r->has_index)
                n += varint_field_bytes(5, r->index);
        switch (r->result_case) {
        case IB__V1__BATCH_RESULT__RESULT__NOT_SET:
                break;
        case IB__V1__BATCH_RESULT__RESULT_MAP:
                if (!r->map || r->map->base.n_unknown_fields > 0)
                        return 0;
                n += len_field_bytes(10, u64_reply_bytes(&r->map->base, r->map->iova));
                break;
        case IB__V1__BATCH_RESULT__RESULT_UNMAP:
                if (!r->unmap || r->unmap->base.n_unknown_fields > 0)
                        return 0;
                n += len_field_bytes(11, u64_reply_bytes(&r->unmap->base, r->unmap->length));
                break;
        default:
                return 0;
        }
        *ok = true;
        return n;
}

static uint8_t *put_batch_result(uint8_t *p, const Ib__V1__BatchResult *r) {
        Outcome o = OUTCOME_OF(r);

        p = put_outcome(p, &o, 1);
        if (r->has_index)
                p = put_varint_field(p, 5, r->index);
        if (r->result_case == IB__V1__BATCH_RESULT__RESULT_MAP)
                p = put_varint_field(put_len_head(p, 10, varint_field_bytes(1, r->map->iova)), 1, r->map->iova);
        else if (r->result_case == IB__V1__BATCH_RESULT__RESULT_UNMAP)
                p = put_varint_field(put_len_head(p, 11, varint_field_bytes(1, r->unmap->length)), 1,
                                     r->unmap->length);
        return p;
}

static size_t batch_reply_bytes(const Ib__V1__BatchReply *b, bool *ok) {
        size_t n = 0;

        *ok = false;
        if (!b || b->base.n_unknown_fields > 0)
                return 0;
        for (size_t i = 0; i < b->n_results; i++) {
                size_t r = batch_result_bytes(b->results[i], ok);

                if (!*ok)
                        return 0;
                n += len_field_bytes(1, r);
        }
        if (b->n_packed_values > 0) {
                size_t words = packed_u64_bytes(2, b->n_packed_values);

                if (words == 0 || !b->packed_values) {
                        *ok = false;
                        return 0;
                }
                n += words;
        }
        *ok = true;
        return n;
}

static uint8_t *put_batch_reply(uint8_t *p, const Ib__V1__BatchReply *b) {
        bool ok;

        for (size_t i = 0; i < b->n_results; i++)       /* each result's size once more: a few additions */
                p = put_batch_result(put_len_head(p, 1, batch_result_bytes(b->results[i], &ok)), b->results[i]);
        return put_packed_u64(p, 2, b->packed_values, b->n_packed_values);
}

/*
 * CapsReply: the backend's name, the kernel features (a repeated enum:
 * one varint field each, as proto2 packs it), the page size and the
 * optional counters.  A negative feature is protobuf-c's (ten bytes).
 */
static size_t caps_reply_bytes(const Ib__V1__CapsReply *c, bool *ok) {
        size_t n;

        *ok = false;
        if (!c || c->base.n_unknown_fields > 0 || !c->backend || (c->n_kernel_features > 0 && !c->kernel_features))
                return 0;
        n = string_field_bytes(1, c->backend);
        for (size_t i = 0; i < c->n_kernel_features; i++) {
                if ((int) c->kernel_features[i] < 0)
                        return 0;
                n += varint_field_bytes(2, (uint64_t) c->kernel_features[i]);
        }
        n += varint_field_bytes(3, c->page_size);
        if (c->has_sessions)
                n += varint_field_bytes(4, c->sessions);
        if (c->has_mapped_bytes)
                n += varint_field_bytes(5, c->mapped_bytes);
        if (c->has_objects)
                n += varint_field_bytes(6, c->objects);
        *ok = true;
        return n;
}

static uint8_t *put_caps_reply(uint8_t *p, const Ib__V1__CapsReply *c) {
        p = put_string_field(p, 1, c->backend);
        for (size_t i = 0; i < c->n_kernel_features; i++)
                p = put_varint_field(p, 2, (uint64_t) c->kernel_features[i]);
        p = put_varint_field(p, 3, c->page_size);
        if (c->has_sessions)
                p = put_varint_field(p, 4, c->sessions);
        if (c->has_mapped_bytes)
                p = put_varint_field(p, 5, c->mapped_bytes);
        if (c->has_objects)
                p = put_varint_field(p, 6, c->objects);
        return p;
}

size_t pb_fast_reply_size(const Ib__V1__Reply *reply) {
        Outcome o = OUTCOME_OF(reply);
        size_t n;
        bool ok;

        if (reply->base.n_unknown_fields > 0 || !outcome_packable(&o))
                return 0;
        n = varint_field_bytes(1, reply->id) + outcome_bytes(&o, 2);
        switch (reply->result_case) {
        case IB__V1__REPLY__RESULT__NOT_SET:
                return n;
        case IB__V1__REPLY__RESULT_MAP:
                if (!reply->map)
                        return 0;
                return n + sub_bytes(30, u64_reply_bytes(&reply->map->base, reply->map->iova));
        case IB__V1__REPLY__RESULT_UNMAP:
                if (!reply->unmap)
                        return 0;
                return n + sub_bytes(31, u64_reply_bytes(&reply->unmap->base, reply->unmap->length));
        case IB__V1__REPLY__RESULT_BATCH: {
                size_t b = batch_reply_bytes(reply->batch, &ok);

                return ok ? n + len_field_bytes(33, b) : 0;
        }
        case IB__V1__REPLY__RESULT_CAPS: {
                size_t c = caps_reply_bytes(reply->caps, &ok);

                return ok ? n + len_field_bytes(11, c) : 0;
        }
        default:
                return 0;
        }
}

size_t pb_fast_reply_pack(const Ib__V1__Reply *reply, size_t size, uint8_t *out) {
        Outcome o = OUTCOME_OF(reply);
        uint8_t *p = put_varint_field(out, 1, reply->id);

        p = put_outcome(p, &o, 2);
        switch (reply->result_case) {
        case IB__V1__REPLY__RESULT_MAP:
                p = put_varint_field(put_len_head(p, 30, varint_field_bytes(1, reply->map->iova)), 1,
                                     reply->map->iova);
                break;
        case IB__V1__REPLY__RESULT_UNMAP:
                p = put_varint_field(put_len_head(p, 31, varint_field_bytes(1, reply->unmap->length)), 1,
                                     reply->unmap->length);
                break;
        case IB__V1__REPLY__RESULT_BATCH:
                p = put_len_head(p, 33, last_field_content(size, (size_t) (put_tag(p, 33, WIRE_LEN) - out)));
                p = put_batch_reply(p, reply->batch);
                break;
        case IB__V1__REPLY__RESULT_CAPS: {
                bool ok;

                p = put_caps_reply(put_len_head(p, 11, caps_reply_bytes(reply->caps, &ok)), reply->caps);
                break;
        }
        default:
                break;
        }
        return (size_t) (p - out);
}

/* ---------------------------------------------------------------- unpacking */

typedef struct Reader {
        const uint8_t *p;
        const uint8_t *end;
} Reader;

/* A varint of at most max bytes (10 for uint64, 5 for uint32) that fits 64 bits; false: decline. */
static bool get_varint(Reader *r, size_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (r->p < r->end && *r->p < 0x80) {     /* most are one byte */
                *ret = *r->p++;
                return true;
        }
        for (size_t i = 0; i < max && r->p < r->end; i++) {
                uint8_t b = *r->p++;

                if (i == 9 && b > 1)
                        return false;   /* past 64 bits */
                v |= (uint64_t) (b & 0x7f) << (7 * i);
                if (!(b & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* The next field's number and wire type; false at the end or on anything but VARINT and LEN. */
static bool get_tag(Reader *r, unsigned *field, unsigned *wire) {
        uint64_t t;

        if (r->p >= r->end || !get_varint(r, 5, &t) || t > UINT32_MAX || (t >> 3) == 0)
                return false;
        *field = (unsigned) (t >> 3);
        *wire = (unsigned) (t & 7);
        return *wire == WIRE_VARINT || *wire == WIRE_LEN;
}

static bool get_u64(Reader *r, unsigned wire, uint64_t *ret) {
        return wire == WIRE_VARINT && get_varint(r, 10, ret);
}

static bool get_u32(Reader *r, unsigned wire, uint32_t *ret) {
        uint64_t v;

        if (wire != WIRE_VARINT || !get_varint(r, 5, &v) || v > UINT32_MAX)
                return false;
        *ret = (uint32_t) v;
        return true;
}

/* An int32 that is not negative: protobuf-c's ten-byte negatives are declined. */
static bool get_i32(Reader *r, unsigned wire, int32_t *ret) {
        uint32_t v;

        if (!get_u32(r, wire, &v) || v > INT32_MAX)
                return false;
        *ret = (int32_t) v;
        return true;
}

static bool get_bool(Reader *r, unsigned wire, protobuf_c_boolean *ret) {
        if (wire != WIRE_VARINT || r->p >= r->end || *r->p > 1)
                return false;
        *ret = *r->p++;
        return true;
}

/* A LEN field's content, as a Reader of its own; protobuf-c reads a length prefix of at most 5 bytes. */
static bool get_sub(Reader *r, unsigned wire, Reader *ret) {
        uint64_t n;

        if (wire != WIRE_LEN || !get_varint(r, 5, &n) || n > (uint64_t) (r->end - r->p))
                return false;
        *ret = (Reader) { r->p, r->p + n };
        r->p += n;
        return true;
}

/*
 * A packed repeated fixed64 field's words (*ret_n of them, from the arena;
 * its content a whole number of words, at least one: the empty field
 * protobuf-c never packs is declined).
 */
static bool get_packed_u64(Reader *r, unsigned wire, PbArena *a, uint64_t **ret, size_t *ret_n) {
        Reader s;
        size_t n;
        uint64_t *v;

        if (!get_sub(r, wire, &s) || s.p == s.end || (size_t) (s.end - s.p) % 8 != 0)
                return false;
        n = (size_t) (s.end - s.p) / 8;
        v = pb_arena_alloc(a, n * sizeof(*v));
        if (!v)
                return false;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(v, s.p, 8 * n);                  /* the wire's byte order */
#else
        for (size_t i = 0; i < n; i++, s.p += 8) {
                uint64_t w = 0;

                for (unsigned k = 0; k < 8; k++)
                        w |= (uint64_t) s.p[k] << (8 * k);
                v[i] = w;
        }
#endif
        *ret = v;
        *ret_n = n;
        return true;
}

/* Field number f (up to 63) seen for the first time. */
#define BIT(f) (1ULL << (f))

static bool first_time(uint64_t *seen, unsigned f) {
        if (f > 63 || (*seen & BIT(f)))
                return false;
        *seen |= BIT(f);
        return true;
}

/*
 * The arena for a message of len wire bytes: a typical Batch op unpacks to
 * about 8 times its bytes, the smallest to about 23 (the arena then grows).
 */
static PbArena *arena_for(size_t len) {
        if (len > (SIZE_MAX - 256) / 16)
                return NULL;
        return pb_arena_new(256 + 16 * len);
}

static char *get_string(Reader *r, unsigned wire, PbArena *a) {
        Reader s;
        char *str;

        if (!get_sub(r, wire, &s))
                return NULL;
        str = pb_arena_alloc(a, (size_t) (s.end - s.p) + 1);
        if (!str)
                return NULL;
        memcpy(str, s.p, (size_t) (s.end - s.p));
        str[s.end - s.p] = '\0';
        return str;
}

static Ib__V1__MapRequest *unpack_map_request(Reader r, PbArena *a) {
        Ib__V1__MapRequest *m = pb_arena_alloc(a, sizeof(*m));
        uint64_t seen = 0;
        unsigned f, w;
        bool ok;

        if (!m)
                return NULL;
        ib__v1__map_request__init(m);
        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || !first_time(&seen, f))
                        return NULL;
                switch (f) {
                case 1: ok = get_u32(&r, w, &m->ioas); break;
                case 2: ok = (m->has_fd_index = get_u32(&r, w, &m->fd_index)); break;
                case 3: ok = (m->has_offset = get_u64(&r, w, &m->offset)); break;
                case 4: ok = get_u64(&r, w, &m->length); break;
                case 5: ok = (m->has_iova = get_u64(&r, w, &m->iova)); break;
                case 6: ok = (m->has_readable = get_bool(&r, w, &m->readable)); break;
                case 7: ok = (m->has_writeable = get_bool(&r, w, &m->writeable)); break;
                case 8: ok = (m->has_mem = get_u32(&r, w, &m->mem)); break;
                default: ok = false; break;
                }
                if (!ok)
                        return NULL;
        }
        return (seen & BIT(1)) && (seen & BIT(4)) ? m : NULL;
}

static Ib__V1__UnmapRequest *unpack_unmap_request(Reader r, PbArena *a) {
        Ib__V1__UnmapRequest *u = pb_arena_alloc(a, sizeof(*u));
        uint64_t seen = 0;
        unsigned f, w;
        bool ok;

        if (!u)
                return NULL;
        ib__v1__unmap_request__init(u);
        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || !first_time(&seen, f))
                        return NULL;
                switch (f) {
                case 1: ok = get_u32(&r, w, &u->ioas); break;
                case 2: ok = get_u64(&r, w, &u->iova); break;
                case 3: ok = get_u64(&r, w, &u->length); break;
                default: ok = false; break;
                }
                if (!ok)
                        return NULL;
        }
        return seen == (BIT(1) | BIT(2) | BIT(3)) ? u : NULL;
}

/* CapsRequest: an empty message. */
static Ib__V1__CapsRequest *unpack_caps_request(Reader r, PbArena *a) {
        Ib__V1__CapsRequest *c;

        if (r.p != r.end)
                return NULL;
        c = pb_arena_alloc(a, sizeof(*c));
        if (c)
                ib__v1__caps_request__init(c);
        return c;
}

static Ib__V1__BatchOp *unpack_batch_op(Reader r, PbArena *a) {
        Ib__V1__BatchOp *op = pb_arena_alloc(a, sizeof(*op));
        Reader sub;
        unsigned f, w;

        if (!op)
                return NULL;
        ib__v1__batch_op__init(op);
        while (r.p < r.end) {
                /* one member of the oneof, once: a second one protobuf-c would take instead */
                if (!get_tag(&r, &f, &w) || op->op_case != IB__V1__BATCH_OP__OP__NOT_SET ||
                    !get_sub(&r, w, &sub))
                        return NULL;
                if (f == 1) {
                        op->map = unpack_map_request(sub, a);
                        if (!op->map)
                                return NULL;
                        op->op_case = IB__V1__BATCH_OP__OP_MAP;
                } else if (f == 2) {
                        op->unmap = unpack_unmap_request(sub, a);
                        if (!op->unmap)
                                return NULL;
                        op->op_case = IB__V1__BATCH_OP__OP_UNMAP;
                } else
                        return NULL;
        }
        return op;
}

static Ib__V1__BatchRequest *unpack_batch_request(Reader r, PbArena *a) {
        Ib__V1__BatchRequest *b = pb_arena_alloc(a, sizeof(*b));
        Reader scan = r, sub;
        size_t n = 0;
        unsigned f, w;

        if (!b)
                return NULL;
        ib__v1__batch_request__init(b);
        /* count the ops first: one array for them */
        while (scan.p < scan.end) {
                if (!get_tag(&scan, &f, &w))
                        return NULL;
                if (f == 1 && get_sub(&scan, w, &sub))
                        n++;
                else if (f == 2 && !b->has_stop_on_error && get_bool(&scan, w, &b->stop_on_error))
                        b->has_stop_on_error = true;
                else if (!(f == 3 && !b->packed_ops && get_packed_u64(&scan, w, a, &b->packed_ops, &b->n_packed_ops)))
                        return NULL;
        }
        if (n > 0) {
                if (n > SIZE_MAX / sizeof(*b->ops))
                        return NULL;
                b->ops = pb_arena_alloc(a, n * sizeof(*b->ops));
                if (!b->ops)
                        return NULL;
        }
        while (r.p < r.end) {
                (void) get_tag(&r, &f, &w);     /* checked by the scan */
                if (f == 2) {
                        r.p++;                  /* a bool of one byte */
                        continue;
                }
                (void) get_sub(&r, w, &sub);
                if (f == 3)
                        continue;               /* the packed ops: taken by the scan */
                b->ops[b->n_ops] = unpack_batch_op(sub, a);
                if (!b->ops[b->n_ops])
                        return NULL;
                b->n_ops++;
        }
        return b;
}

/*
 * Whether the message's top-level fields are all among the varint fields
 * and the LEN fields named (bit f: field f, f < 64): a look before any
 * allocation, so that another verb or result is declined for nothing.
 */
static bool top_fields_among(const uint8_t *data, size_t len, uint64_t varints, uint64_t lens) {
        Reader r = { data, data + len }, sub;
        unsigned f, w;
        uint64_t v;

        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || f > 63)
                        return false;
                if (w == WIRE_VARINT ? !(varints & BIT(f)) || !get_varint(&r, 10, &v)
                                     : !(lens & BIT(f)) || !get_sub(&r, w, &sub))
                        return false;
        }
        return true;
}

Ib__V1__Request *pb_fast_request_unpack(const uint8_t *data, size_t len) {
        Reader r = { data, data + len }, sub;
        Ib__V1__Request *req;
        uint64_t seen = 0;
        unsigned f, w;
        PbArena *a;

        if (!top_fields_among(data, len, BIT(1), BIT(11) | BIT(30) | BIT(31) | BIT(33)))
                return NULL;
        a = arena_for(len);
        if (!a)
                return NULL;
        req = pb_arena_alloc(a, sizeof(*req));
        if (!req)
                goto decline;
        ib__v1__request__init(req);
        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || !first_time(&seen, f))
                        goto decline;
                if (f == 1) {
                        if (!get_u64(&r, w, &req->id))
                                goto decline;
                        continue;
                }
                if (req->verb_case != IB__V1__REQUEST__VERB__NOT_SET || !get_sub(&r, w, &sub))
                        goto decline;
                switch (f) {
                case 30:
                        req->map = unpack_map_request(sub, a);
                        req->verb_case = IB__V1__REQUEST__VERB_MAP;
                        break;
                case 31:
                        req->unmap = unpack_unmap_request(sub, a);
                        req->verb_case = IB__V1__REQUEST__VERB_UNMAP;
                        break;
                case 33:
                        req->batch = unpack_batch_request(sub, a);
                        req->verb_case = IB__V1__REQUEST__VERB_BATCH;
                        break;
                case 11:
                        req->caps = unpack_caps_request(sub, a);
                        req->verb_case = IB__V1__REQUEST__VERB_CAPS;
                        break;
                default:
                        goto decline;
                }
                if (!req->map)          /* the union's one pointer */
                        goto decline;
        }
        if (!(seen & BIT(1)) || req->verb_case == IB__V1__REQUEST__VERB__NOT_SET)
                goto decline;
        return req;

decline:
        pb_arena_discard(a);
        return NULL;
}

/* Reply's and BatchResult's shared fields, numbered from first; false: not one of them, or bad. */
static bool get_outcome_field(Reader *r, unsigned f, unsigned w, unsigned first, PbArena *a,
                              protobuf_c_boolean *has_errnum, int32_t *errnum, char **errno_name, char **error,
                              protobuf_c_boolean *has_not_applied, protobuf_c_boolean *not_applied) {
        if (f == first)
                return (*has_errnum = get_i32(r, w, errnum));
        if (f == first + 1)
                return (*errno_name = get_string(r, w, a)) != NULL;
        if (f == first + 2)
                return (*error = get_string(r, w, a)) != NULL;
        if (f == first + 3)
                return (*has_not_applied = get_bool(r, w, not_applied));
        return false;
}

/* MapReply or UnmapReply: the one required uint64, field 1. */
static bool unpack_u64_reply(Reader r, uint64_t *ret) {
        unsigned f, w;
        bool seen = false;

        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || f != 1 || seen || !get_u64(&r, w, ret))
                        return false;
                seen = true;
        }
        return seen;
}

static Ib__V1__MapReply *unpack_map_reply(Reader r, PbArena *a) {
        Ib__V1__MapReply *m = pb_arena_alloc(a, sizeof(*m));

        if (!m)
                return NULL;
        ib__v1__map_reply__init(m);
        return unpack_u64_reply(r, &m->iova) ? m : NULL;
}

static Ib__V1__UnmapReply *unpack_unmap_reply(Reader r, PbArena *a) {
        Ib__V1__UnmapReply *u = pb_arena_alloc(a, sizeof(*u));

        if (!u)
                return NULL;
        ib__v1__unmap_reply__init(u);
        return unpack_u64_reply(r, &u->length) ? u : NULL;
}

static Ib__V1__BatchResult *unpack_batch_result(Reader r, PbArena *a) {
        Ib__V1__BatchResult *res = pb_arena_alloc(a, sizeof(*res));
        uint64_t seen = 0;
        unsigned f, w;
        Reader sub;

        if (!res)
                return NULL;
        ib__v1__batch_result__init(res);
        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || !first_time(&seen, f))
                        return NULL;
                if (f == 10 || f == 11) {
                        if (res->result_case != IB__V1__BATCH_RESULT__RESULT__NOT_SET || !get_sub(&r, w, &sub))
                                return NULL;
                        if (f == 10) {
                                res->map = unpack_map_reply(sub, a);
                                res->result_case = IB__V1__BATCH_RESULT__RESULT_MAP;
                        } else {
                                res->unmap = unpack_unmap_reply(sub, a);
                                res->result_case = IB__V1__BATCH_RESULT__RESULT_UNMAP;
                        }
                        if (!res->map)
                                return NULL;
                } else if (f == 5) {
                        if (!get_u32(&r, w, &res->index))
                                return NULL;
                        res->has_index = true;
                } else if (!get_outcome_field(&r, f, w, 1, a, &res->has_errnum, &res->errnum, &res->errno_name,
                                              &res->error, &res->has_not_applied, &res->not_applied))
                        return NULL;
        }
        return res;
}

static Ib__V1__BatchReply *unpack_batch_reply(Reader r, PbArena *a) {
        Ib__V1__BatchReply *b = pb_arena_alloc(a, sizeof(*b));
        Reader scan = r, sub;
        unsigned f, w;
        size_t n = 0;

        if (!b)
                return NULL;
        ib__v1__batch_reply__init(b);
        while (scan.p < scan.end) {
                if (!get_tag(&scan, &f, &w))
                        return NULL;
                if (f == 1 && get_sub(&scan, w, &sub))
                        n++;
                else if (!(f == 2 && !b->packed_values &&
                           get_packed_u64(&scan, w, a, &b->packed_values, &b->n_packed_values)))
                        return NULL;
        }
        if (n > 0) {
                if (n > SIZE_MAX / sizeof(*b->results))
                        return NULL;
                b->results = pb_arena_alloc(a, n * sizeof(*b->results));
                if (!b->results)
                        return NULL;
        }
        while (r.p < r.end) {
                (void) get_tag(&r, &f, &w);     /* checked by the scan */
                (void) get_sub(&r, w, &sub);
                if (f == 2)
                        continue;               /* the packed values: taken by the scan */
                b->results[b->n_results] = unpack_batch_result(sub, a);
                if (!b->results[b->n_results])
                        return NULL;
                b->n_results++;
        }
        return b;
}

/*
 * CapsReply: the features counted first (one array for them), each a
 * varint field (the packed form is protobuf-c's); backend and page_size
 * required.
 */
static Ib__V1__CapsReply *unpack_caps_reply(Reader r, PbArena *a) {
        Ib__V1__CapsReply *c = pb_arena_alloc(a, sizeof(*c));
        Reader scan = r, sub;
        uint64_t seen = 0, v;
        unsigned f, w;
        size_t n = 0;
        bool ok;

        if (!c)
                return NULL;
        ib__v1__caps_reply__init(c);
        while (scan.p < scan.end) {
                if (!get_tag(&scan, &f, &w))
                        return NULL;
                if (w == WIRE_VARINT ? !get_varint(&scan, 10, &v) : !get_sub(&scan, w, &sub))
                        return NULL;
                n += f == 2;
        }
        if (n > 0) {
                if (n > SIZE_MAX / sizeof(*c->kernel_features))
                        return NULL;
                c->kernel_features = pb_arena_alloc(a, n * sizeof(*c->kernel_features));
                if (!c->kernel_features)
                        return NULL;
        }
        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || (f != 2 && !first_time(&seen, f)))
                        return NULL;
                switch (f) {
                case 1: ok = (c->backend = get_string(&r, w, a)) != NULL; break;
                case 2: {
                        int32_t e;

                        ok = get_i32(&r, w, &e);
                        if (ok)
                                c->kernel_features[c->n_kernel_features++] = (Ib__V1__KernelFeature) e;
                        break;
                }
                case 3: ok = get_u64(&r, w, &c->page_size); break;
                case 4: ok = (c->has_sessions = get_u64(&r, w, &c->sessions)); break;
                case 5: ok = (c->has_mapped_bytes = get_u64(&r, w, &c->mapped_bytes)); break;
                case 6: ok = (c->has_objects = get_u64(&r, w, &c->objects)); break;
                default: ok = false; break;
                }
                if (!ok)
                        return NULL;
        }
        return (seen & BIT(1)) && (seen & BIT(3)) ? c : NULL;
}

Ib__V1__Reply *pb_fast_reply_unpack(const uint8_t *data, size_t len) {
        Reader r = { data, data + len }, sub;
        Ib__V1__Reply *reply;
        uint64_t seen = 0;
        unsigned f, w;
        PbArena *a;

        if (!top_fields_among(data, len, BIT(1) | BIT(2) | BIT(5),
                              BIT(3) | BIT(4) | BIT(11) | BIT(30) | BIT(31) | BIT(33)))
                return NULL;
        a = arena_for(len);
        if (!a)
                return NULL;
        reply = pb_arena_alloc(a, sizeof(*reply));
        if (!reply)
                goto decline;
        ib__v1__reply__init(reply);
        while (r.p < r.end) {
                if (!get_tag(&r, &f, &w) || !first_time(&seen, f))
                        goto decline;
                if (f == 1) {
                        if (!get_u64(&r, w, &reply->id))
                                goto decline;
                        continue;
                }
                if (f >= 2 && f <= 5) {
                        if (!get_outcome_field(&r, f, w, 2, a, &reply->has_errnum, &reply->errnum,
                                               &reply->errno_name, &reply->error, &reply->has_not_applied,
                                               &reply->not_applied))
                                goto decline;
                        continue;
                }
                if (reply->result_case != IB__V1__REPLY__RESULT__NOT_SET || !get_sub(&r, w, &sub))
                        goto decline;
                switch (f) {
                case 30:
                        reply->map = unpack_map_reply(sub, a);
                        reply->result_case = IB__V1__REPLY__RESULT_MAP;
                        break;
                case 31:
                        reply->unmap = unpack_unmap_reply(sub, a);
                        reply->result_case = IB__V1__REPLY__RESULT_UNMAP;
                        break;
                case 33:
                        reply->batch = unpack_batch_reply(sub, a);
                        reply->result_case = IB__V1__REPLY__RESULT_BATCH;
                        break;
                case 11:
                        reply->caps = unpack_caps_reply(sub, a);
                        reply->result_case = IB__V1__REPLY__RESULT_CAPS;
                        break;
                default:
                        goto decline;
                }
                if (!reply->map)        /* the union's one pointer */
                        goto decline;
        }
        if (!(seen & BIT(1)))
                goto decline;
        return reply;

decline:
        pb_arena_discard(a);
        return NULL;
}

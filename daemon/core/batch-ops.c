/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * batch-ops.c - see batch-ops.h.
 *
 * Why a packed form: a BatchOp is a message in a message (a oneof of a
 * MapRequest of up to eight fields), and both ends spend most of a Batch
 * op's instructions walking those tags and building those structs, and the
 * same for each op's BatchResult and MapReply on the way back (valgrind
 * --tool=callgrind, README "Cost").  Five little-endian words per op, and
 * a word per op back, are read and written without a tag.  The packed words
 * become the same MapRequest and UnmapRequest the verbs take from BatchOps
 * (on the stack, one op at a time), so that what an op means and how it is
 * checked stays in one place, verb-map.c's do_map() and do_unmap().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/batch-ops.h"

int batch_ops_count(const Ib__V1__BatchRequest *b, size_t *ret_n, char *why, size_t why_size) {
        if (!batch_is_packed(b)) {
                *ret_n = b->n_ops;
                return 0;
        }
        if (b->n_ops > 0) {
                (void) snprintf(why, why_size, "the batch has both ops and packed_ops: one form or the other");
                return -EINVAL;
        }
        if (b->n_packed_ops % IB_PACKED_WORDS != 0) {
                (void) snprintf(why, why_size, "%zu packed words are not whole operations of %u words", b->n_packed_ops,
                                IB_PACKED_WORDS);
                return -EINVAL;
        }
        *ret_n = b->n_packed_ops / IB_PACKED_WORDS;
        return 0;
}

/* Whether the words of packed operation i are well formed; -EINVAL with why when not. */
static int packed_check(const uint64_t *w, size_t i, char *why, size_t why_size) {
        unsigned kind = (unsigned) (w[0] & 0xff), flags = (unsigned) ((w[0] >> 8) & 0xff);

        if ((w[0] & UINT64_C(0xffff0000)) != 0) {
                (void) snprintf(why, why_size, "operation %zu: bits 16-31 of its first word must be 0", i);
                return -EINVAL;
        }
        switch (kind) {
        case IB_PACKED_MAP:
                if (flags & ~(IB_PACKED_READABLE | IB_PACKED_WRITEABLE | IB_PACKED_FIXED_IOVA)) {
                        (void) snprintf(why, why_size, "operation %zu: unknown map flags 0x%x", i, flags);
                        return -EINVAL;
                }
                if (w[1] > UINT32_MAX) {
                        (void) snprintf(why, why_size, "operation %zu: memory handle %" PRIu64 " is wider than 32 bits",
                                        i, w[1]);
                        return -EINVAL;
                }
                if (!(flags & IB_PACKED_FIXED_IOVA) && w[4] != 0) {
                        (void) snprintf(why, why_size, "operation %zu: an IOVA without the fixed-IOVA flag", i);
                        return -EINVAL;
                }
                return 0;
        case IB_PACKED_UNMAP:
                if (flags != 0 || w[1] != 0 || w[2] != 0) {
                        (void) snprintf(why, why_size, "operation %zu: an unmap has no flags, handle or offset", i);
                        return -EINVAL;
                }
                return 0;
        default:
                (void) snprintf(why, why_size, "operation %zu is of kind %u, neither Map (%u) nor Unmap (%u)", i, kind,
                                IB_PACKED_MAP, IB_PACKED_UNMAP);
                return -EINVAL;
        }
}

/* The view of packed words packed_check() accepted. */
static void packed_view(const uint64_t *w, BatchOpView *ret) {
        unsigned flags = (unsigned) ((w[0] >> 8) & 0xff);
        uint32_t ioas = (uint32_t) (w[0] >> 32);

        if ((w[0] & 0xff) == IB_PACKED_MAP) {
                ib__v1__map_request__init(&ret->map_words);
                ret->map_words.ioas = ioas;
                ret->map_words.has_mem = true;
                ret->map_words.mem = (uint32_t) w[1];
                ret->map_words.has_offset = true;
                ret->map_words.offset = w[2];
                ret->map_words.length = w[3];
                ret->map_words.has_iova = (flags & IB_PACKED_FIXED_IOVA) != 0;
                ret->map_words.iova = w[4];
                ret->map_words.has_readable = true;
                ret->map_words.readable = (flags & IB_PACKED_READABLE) != 0;
                ret->map_words.has_writeable = true;
                ret->map_words.writeable = (flags & IB_PACKED_WRITEABLE) != 0;
                ret->is_map = true;
                ret->map = &ret->map_words;
                ret->unmap = NULL;
                return;
        }
        ib__v1__unmap_request__init(&ret->unmap_words);
        ret->unmap_words.ioas = ioas;
        ret->unmap_words.length = w[3];
        ret->unmap_words.iova = w[4];
        ret->is_map = false;
        ret->unmap = &ret->unmap_words;
        ret->map = NULL;
}

int batch_op_check(const Ib__V1__BatchRequest *b, size_t i, char *why, size_t why_size) {
        const Ib__V1__BatchOp *op;

        if (batch_is_packed(b))
                return packed_check(&b->packed_ops[i * IB_PACKED_WORDS], i, why, why_size);
        op = b->ops[i];
        if ((op->op_case == IB__V1__BATCH_OP__OP_MAP && op->map) ||
            (op->op_case == IB__V1__BATCH_OP__OP_UNMAP && op->unmap))
                return 0;
        (void) snprintf(why, why_size, "operation %zu is neither Map nor Unmap", i);
        return -EINVAL;
}

int batch_op_view(const Ib__V1__BatchRequest *b, size_t i, BatchOpView *ret, char *why, size_t why_size) {
        int r = batch_op_check(b, i, why, why_size);

        if (r < 0)
                return r;
        batch_op_view_checked(b, i, ret);
        return 0;
}

void batch_op_view_checked(const Ib__V1__BatchRequest *b, size_t i, BatchOpView *ret) {
        const Ib__V1__BatchOp *op;

        if (batch_is_packed(b)) {
                packed_view(&b->packed_ops[i * IB_PACKED_WORDS], ret);
                return;
        }
        op = b->ops[i];
        ret->is_map = op->op_case == IB__V1__BATCH_OP__OP_MAP;
        ret->map = ret->is_map ? op->map : NULL;
        ret->unmap = ret->is_map ? NULL : op->unmap;
}

/* The block's arrays, each of n, in this order; every element's size is a multiple of 8. */
size_t batch_answer_size(size_t n, bool packed) {
        size_t per = sizeof(Ib__V1__BatchResult) + sizeof(Ib__V1__BatchResult *);

        per += packed ? sizeof(uint64_t) : sizeof(Ib__V1__MapReply) + sizeof(Ib__V1__UnmapReply);
        return (n ? n : 1) * per;
}

void batch_answer_init(BatchAnswer *a, void *block, size_t n, bool packed) {
        uint8_t *p = block;

        ib__v1__batch_reply__init(&a->reply);
        a->packed = packed;
        a->res = (Ib__V1__BatchResult *) p;
        p += n * sizeof(*a->res);
        a->resp = (Ib__V1__BatchResult **) p;
        p += n * sizeof(*a->resp);
        a->reply.results = a->resp;
        if (packed) {
                a->reply.packed_values = (uint64_t *) p;        /* each written as its op is answered */
                a->reply.n_packed_values = n;
                a->maps = NULL;
                a->unmaps = NULL;
                return;
        }
        a->maps = (Ib__V1__MapReply *) p;
        p += n * sizeof(*a->maps);
        a->unmaps = (Ib__V1__UnmapReply *) p;
        for (size_t i = 0; i < n; i++) {
                ib__v1__batch_result__init(&a->res[i]);
                a->resp[i] = &a->res[i];
        }
        a->reply.n_results = n;
}

void batch_answer_done(BatchAnswer *a, size_t i, bool is_map, uint64_t value) {
        if (a->packed) {
                a->reply.packed_values[i] = value;
                return;
        }
        if (is_map) {
                ib__v1__map_reply__init(&a->maps[i]);
                a->maps[i].iova = value;
                a->res[i].result_case = IB__V1__BATCH_RESULT__RESULT_MAP;
                a->res[i].map = &a->maps[i];
        } else {
                ib__v1__unmap_reply__init(&a->unmaps[i]);
                a->unmaps[i].length = value;
                a->res[i].result_case = IB__V1__BATCH_RESULT__RESULT_UNMAP;
                a->res[i].unmap = &a->unmaps[i];
        }
}

Ib__V1__BatchResult *batch_answer_failed(BatchAnswer *a, size_t i) {
        Ib__V1__BatchResult *res;

        if (!a->packed) {
                res = &a->res[i];
                res->result_case = IB__V1__BATCH_RESULT__RESULT__NOT_SET;
                return res;
        }
        a->reply.packed_values[i] = 0;
        res = &a->res[a->reply.n_results];
        ib__v1__batch_result__init(res);
        res->has_index = true;
        res->index = (uint32_t) i;
        a->resp[a->reply.n_results++] = res;
        return res;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * batch-ops.h - the operations of a Batch, in either of its forms, and the
 * form of the answer that goes with each.
 *
 * Owns: what a Batch's operations are, whether they came as BatchOps or as
 * packed words (five per operation, docs/protocol.md "Packed batches"),
 * what makes packed words malformed, and the answer's shape: to BatchOps
 * one BatchResult per op; to packed words one value per op and a
 * BatchResult, with its index, per op that did not succeed.
 * Must never: run an operation (verb-map.c runs them, settle.c settles the
 * one a crash interrupted) or decide anything of the policy.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/protocol.h"            /* the packed words' layout: IB_PACKED_* */
#include "proto/broker.pb-c.h"
#include "proto/ioas.pb-c.h"

/* One operation as the verbs take it: pointers into the request, or into the view's own copy of packed words. */
typedef struct BatchOpView {
        bool is_map;
        const Ib__V1__MapRequest *map;          /* is_map */
        const Ib__V1__UnmapRequest *unmap;      /* !is_map */
        Ib__V1__MapRequest map_words;           /* packed: what map points to */
        Ib__V1__UnmapRequest unmap_words;       /* packed: what unmap points to */
} BatchOpView;

/* Whether b's operations came packed. */
static inline bool batch_is_packed(const Ib__V1__BatchRequest *b) {
        return b->n_packed_ops > 0;
}

/*
 * The number of b's operations; -EINVAL with why when b names both forms
 * or its packed words are not whole operations.
 */
int batch_ops_count(const Ib__V1__BatchRequest *b, size_t *ret_n, char *why, size_t why_size);

/*
 * Operation i (< the count) of b; -EINVAL with why when it is malformed: a
 * BatchOp neither Map nor Unmap, packed words of another kind, flags or
 * bits that must be zero, a handle wider than 32 bits.
 */
int batch_op_view(const Ib__V1__BatchRequest *b, size_t i, BatchOpView *ret, char *why, size_t why_size);

/* batch_op_view()'s checks alone. */
int batch_op_check(const Ib__V1__BatchRequest *b, size_t i, char *why, size_t why_size);
/* The view of operation i, which batch_op_check() or batch_op_view() accepted: without the checks again. */
void batch_op_view_checked(const Ib__V1__BatchRequest *b, size_t i, BatchOpView *ret);

/* The bytes a packed operation may pin or unpin (its length), without checking it. */
static inline uint64_t batch_packed_length(const Ib__V1__BatchRequest *b, size_t i) {
        return b->packed_ops[i * IB_PACKED_WORDS + 3];
}

/*
 * The answer to a Batch of n operations, in the form of its request, in
 * one block of batch_answer_size() bytes that the caller owns (it need not
 * be zeroed: every element is written before it is read).
 * Every operation is answered once, in order: done (its value) or failed
 * (its BatchResult, which the caller fills: errnum, errno_name, error,
 * not_applied).
 */
typedef struct BatchAnswer {
        Ib__V1__BatchReply reply;
        bool packed;
        Ib__V1__BatchResult *res;               /* n */
        Ib__V1__BatchResult **resp;             /* n */
        Ib__V1__MapReply *maps;                 /* not packed: n */
        Ib__V1__UnmapReply *unmaps;             /* not packed: n */
} BatchAnswer;

size_t batch_answer_size(size_t n, bool packed);
void batch_answer_init(BatchAnswer *a, void *block, size_t n, bool packed);
/* Operation i succeeded: a Map's IOVA, an Unmap's length. */
void batch_answer_done(BatchAnswer *a, size_t i, bool is_map, uint64_t value);
/* Operation i did not succeed: its result, in the reply, to fill. */
Ib__V1__BatchResult *batch_answer_failed(BatchAnswer *a, size_t i);

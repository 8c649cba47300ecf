/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * batch.c - many Map/Unmap operations in one round trip.
 *
 * Owns: ib_batch, its operations, the fds it sends (one per distinct memfd,
 * within the broker's per-message limit; none for registered memory) and the
 * per-operation results.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "common/protocol.h"

typedef struct BatchOp {
        bool is_map;
        bool by_mem;                    /* registered memory: mem, no fd */
        uint32_t ioas;
        uint32_t fd_index;
        uint32_t mem;
        uint64_t offset;
        uint64_t length;
        unsigned flags;
        uint64_t iova;
        /* result */
        int error;
        bool not_applied;               /* a broker restart stopped the batch before it */
        uint64_t value;
        char *message;
} BatchOp;

struct ib_batch {
        BatchOp *ops;
        size_t n_ops;
        size_t allocated;               /* ops has room for this many */
        int fds[IB_MAX_FDS_PER_MESSAGE];        /* duplicated memfds, by fd_index */
        int orig_fds[IB_MAX_FDS_PER_MESSAGE];   /* the caller's fd numbers, to share one index */
        size_t n_fds;
        bool ran;
        size_t n_ran;                   /* ops the last run answered: one added since has no result */
        bool results_written;           /* some op's result may be set: batch_clear_results() has work */
        bool sent_packed;               /* batch_wire() chose packed_ops: the answer must be packed too */
};

_public_ int ib_batch_new(ib_batch **ret) {
        ib_batch *b;

        if (!ret)
                return -EINVAL;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        *ret = b;
        return 0;
}

static void batch_clear_results(ib_batch *b) {
        b->ran = false;
        if (!b->results_written)
                return;         /* as batch_add() made them: a run's three calls would walk every op */
        b->results_written = false;
        for (size_t i = 0; i < b->n_ops; i++) {
                free(b->ops[i].message);
                b->ops[i].message = NULL;
                b->ops[i].error = 0;
                b->ops[i].not_applied = false;
                b->ops[i].value = 0;
        }
}

_public_ ib_batch *ib_batch_free(ib_batch *b) {
        if (!b)
                return NULL;
        batch_clear_results(b);
        for (size_t i = 0; i < b->n_fds; i++)
                safe_close(b->fds[i]);
        free(b->ops);
        free(b);
        return NULL;
}

static BatchOp *batch_push(ib_batch *b) {
        if (b->n_ops == b->allocated) {
                size_t n = b->allocated ? 2 * b->allocated : 64;
                BatchOp *a = reallocarray(b->ops, n, sizeof(*a));

                if (!a)
                        return NULL;
                b->ops = a;
                b->allocated = n;
        }
        return &b->ops[b->n_ops++];     /* the caller writes all of it */
}

/* Appends op; its index or -errno. */
static int batch_add(ib_batch *b, const BatchOp *op) {
        BatchOp *o = batch_push(b);

        if (!o)
                return -ENOMEM;
        *o = *op;
        return (int) (b->n_ops - 1);
}

_public_ int ib_batch_add_map(ib_batch *b, uint32_t ioas, int memfd, uint64_t offset, uint64_t length,
                              unsigned flags, uint64_t iova) {
        size_t idx;

        if (!b || memfd < 0)
                return -EINVAL;
        for (idx = 0; idx < b->n_fds; idx++)
                if (b->orig_fds[idx] == memfd)
                        break;
        if (idx == b->n_fds) {
                int fd;

                if (b->n_fds >= IB_MAX_FDS_PER_MESSAGE)
                        return -E2BIG;  /* the broker takes this many fds with one message */
                fd = fcntl(memfd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                b->fds[b->n_fds] = fd;
                b->orig_fds[b->n_fds] = memfd;
                b->n_fds++;
        }
        return batch_add(b, &(BatchOp) { .is_map = true, .ioas = ioas, .fd_index = (uint32_t) idx, .offset = offset,
                                         .length = length, .flags = flags, .iova = iova });
}

_public_ int ib_batch_add_map_mem(ib_batch *b, uint32_t ioas, uint32_t mem, uint64_t offset, uint64_t length,
                                  unsigned flags, uint64_t iova) {
        if (!b)
                return -EINVAL;
        return batch_add(b, &(BatchOp) { .is_map = true, .by_mem = true, .ioas = ioas, .mem = mem,
                                         .offset = offset, .length = length, .flags = flags, .iova = iova });
}

_public_ int ib_batch_add_unmap(ib_batch *b, uint32_t ioas, uint64_t iova, uint64_t length) {
        if (!b)
                return -EINVAL;
        return batch_add(b, &(BatchOp) { .is_map = false, .ioas = ioas, .iova = iova, .length = length });
}

_public_ size_t ib_batch_size(ib_batch *b) {
        return b ? b->n_ops : 0;
}

struct BatchWire {
        Ib__V1__Request req;
        Ib__V1__BatchRequest br;
        Ib__V1__BatchOp *ops;
        Ib__V1__BatchOp **opp;
        Ib__V1__MapRequest *maps;
        Ib__V1__UnmapRequest *unmaps;
        uint64_t *words;                /* packed_ops */
};

/* Whether every operation of b has a packed form: a Map of registered memory, or an Unmap. */
static bool batch_packable(const ib_batch *b) {
        if (b->n_ops == 0 || b->n_fds > 0)
                return false;
        for (size_t i = 0; i < b->n_ops; i++)
                if (b->ops[i].is_map && !b->ops[i].by_mem)
                        return false;
        return true;
}

/* The five words of each operation (docs/protocol.md, "Packed batches"). */
static int batch_wire_packed(const ib_batch *b, BatchWire *w) {
        uint64_t *p;

        w->words = reallocarray(NULL, b->n_ops, IB_PACKED_WORDS * sizeof(*w->words));
        if (!w->words)
                return -ENOMEM;
        p = w->words;
        for (size_t i = 0; i < b->n_ops; i++, p += IB_PACKED_WORDS) {
                const BatchOp *o = &b->ops[i];

                if (o->is_map) {
                        unsigned flags = ((o->flags & IB_MAP_READABLE) ? IB_PACKED_READABLE : 0) |
                                         ((o->flags & IB_MAP_WRITEABLE) ? IB_PACKED_WRITEABLE : 0) |
                                         ((o->flags & IB_MAP_FIXED_IOVA) ? IB_PACKED_FIXED_IOVA : 0);

                        p[0] = IB_PACKED_WORD0(IB_PACKED_MAP, flags, o->ioas);
                        p[1] = o->mem;
                        p[2] = o->offset;
                        p[3] = o->length;
                        p[4] = (o->flags & IB_MAP_FIXED_IOVA) ? o->iova : 0;
                } else {
                        p[0] = IB_PACKED_WORD0(IB_PACKED_UNMAP, 0, o->ioas);
                        p[1] = 0;
                        p[2] = 0;
                        p[3] = o->length;
                        p[4] = o->iova;
                }
        }
        w->br.n_packed_ops = IB_PACKED_WORDS * b->n_ops;
        w->br.packed_ops = w->words;
        return 0;
}

int batch_wire(const ib_client *c, ib_batch *b, bool stop_on_error, BatchWire **ret) {
        size_t n = b->n_ops;
        BatchWire *w;

        w = malloc(sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->ops = NULL;
        w->opp = NULL;
        w->maps = NULL;
        w->unmaps = NULL;
        w->words = NULL;
        ib__v1__request__init(&w->req);
        ib__v1__batch_request__init(&w->br);
        w->br.has_stop_on_error = true;
        w->br.stop_on_error = stop_on_error;
        w->req.verb_case = IB__V1__REQUEST__VERB_BATCH;
        w->req.batch = &w->br;
        b->sent_packed = c->batch_packed && batch_packable(b);
        if (b->sent_packed) {
                if (batch_wire_packed(b, w) < 0) {
                        batch_wire_free(w);
                        return -ENOMEM;
                }
                *ret = w;
                return 0;
        }
        /* not zeroed: each op initializes its entries, and the entries of the other kind are never read */
        w->ops = reallocarray(NULL, n ? n : 1, sizeof(*w->ops));
        w->opp = reallocarray(NULL, n ? n : 1, sizeof(*w->opp));
        w->maps = reallocarray(NULL, n ? n : 1, sizeof(*w->maps));
        w->unmaps = reallocarray(NULL, n ? n : 1, sizeof(*w->unmaps));
        if (!w->ops || !w->opp || !w->maps || !w->unmaps) {
                batch_wire_free(w);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                const BatchOp *o = &b->ops[i];

                ib__v1__batch_op__init(&w->ops[i]);
                if (o->is_map) {
                        client_fill_map(&w->maps[i], o->ioas, o->fd_index, o->offset, o->length, o->flags, o->iova);
                        w->maps[i].has_mem = o->by_mem;
                        w->maps[i].mem = o->mem;
                        w->ops[i].op_case = IB__V1__BATCH_OP__OP_MAP;
                        w->ops[i].map = &w->maps[i];
                } else {
                        client_fill_unmap(&w->unmaps[i], o->ioas, o->iova, o->length);
                        w->ops[i].op_case = IB__V1__BATCH_OP__OP_UNMAP;
                        w->ops[i].unmap = &w->unmaps[i];
                }
                w->opp[i] = &w->ops[i];
        }
        w->br.n_ops = n;
        w->br.ops = w->opp;
        *ret = w;
        return 0;
}

BatchWire *batch_wire_free(BatchWire *w) {
        if (!w)
                return NULL;
        free(w->ops);
        free(w->opp);
        free(w->maps);
        free(w->unmaps);
        free(w->words);
        free(w);
        return NULL;
}

Ib__V1__Request *batch_wire_request(BatchWire *w) {
        return &w->req;
}

/* An operation's failure, from its result (errnum not 0). */
static void batch_op_failed(ib_client *c, BatchOp *o, const Ib__V1__BatchResult *res) {
        Ib__V1__Reply fake = IB__V1__REPLY__INIT;

        fake.has_errnum = true;
        fake.errnum = res->errnum;
        fake.errno_name = res->errno_name;
        fake.error = res->error;
        o->error = client_reply_error(c, &fake);
        o->message = strdup(res->error ?: "");
        o->not_applied = res->has_not_applied && res->not_applied;
}

/* The answer to packed_ops: a value per op, a result per op that failed, with its index, in order. */
static int batch_read_packed(ib_client *c, ib_batch *b, const Ib__V1__BatchReply *rep) {
        size_t n = b->n_ops;
        int64_t last = -1;

        if (rep->n_packed_values != n)
                return client_fail(c, EPROTO, "the broker answered %zu packed operations with %zu values", n,
                                   rep->n_packed_values);
        for (size_t i = 0; i < n; i++)
                b->ops[i].value = rep->packed_values[i];
        for (size_t k = 0; k < rep->n_results; k++) {
                const Ib__V1__BatchResult *res = rep->results[k];

                if (!res->has_index || (int64_t) res->index <= last || res->index >= n || !res->has_errnum ||
                    res->errnum == 0)
                        return client_fail(c, EPROTO, "the broker answered the packed batch with a result "
                                                      "that names no failed operation of it");
                last = res->index;
                b->ops[res->index].value = 0;
                batch_op_failed(c, &b->ops[res->index], res);
        }
        return 0;
}

int batch_read_results(ib_client *c, ib_batch *b, const Ib__V1__Reply *reply) {
        const Ib__V1__BatchReply *rep;
        size_t n = b->n_ops;
        int r;

        batch_clear_results(b);
        if (reply->result_case != IB__V1__REPLY__RESULT_BATCH)
                return client_fail(c, EPROTO, "the broker answered the batch with an unexpected result");
        rep = reply->batch;
        b->results_written = true;
        /* the answer comes in the form the batch went in (batch_wire()) */
        if (b->sent_packed) {
                r = batch_read_packed(c, b, rep);
                if (r < 0) {
                        batch_clear_results(b);
                        return r;
                }
        } else {
                if (rep->n_results != n || rep->n_packed_values > 0)
                        return client_fail(c, EPROTO, "the broker answered the batch with an unexpected result");
                for (size_t i = 0; i < n; i++) {
                        const Ib__V1__BatchResult *res = rep->results[i];
                        BatchOp *o = &b->ops[i];

                        if (res->has_errnum && res->errnum != 0)
                                batch_op_failed(c, o, res);
                        else if (o->is_map && res->result_case == IB__V1__BATCH_RESULT__RESULT_MAP)
                                o->value = res->map->iova;
                        else if (!o->is_map && res->result_case == IB__V1__BATCH_RESULT__RESULT_UNMAP)
                                o->value = res->unmap->length;
                        else {
                                /* a success carries its operation's result: a map's IOVA, an unmap's length */
                                batch_clear_results(b);
                                return client_fail(c, EPROTO, "the broker answered operation %zu of the batch "
                                                              "with a result of another kind", i);
                        }
                }
        }
        c->error[0] = '\0';
        b->ran = true;
        b->n_ran = n;
        return 0;
}

_public_ int ib_batch_run(ib_client *c, ib_batch *b, bool stop_on_error) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        BatchWire *w = NULL;
        int r;

        if (!c || !b)
                return -EINVAL;
        if (b->n_ops > c->limits.max_batch_ops)
                return client_fail(c, E2BIG, "%zu operations: the broker takes at most %u", b->n_ops,
                                   c->limits.max_batch_ops);
        batch_clear_results(b);
        r = batch_wire(c, b, stop_on_error, &w);
        if (r < 0)
                return r;
        r = client_call(c, batch_wire_request(w), b->fds, b->n_fds, &reply);
        batch_wire_free(w);
        if (r < 0)
                return r;
        return batch_read_results(c, b, reply);
}

bool batch_op_not_applied(const ib_batch *b, size_t i) {
        return i < b->n_ran && b->ran && b->ops[i].not_applied;
}

_public_ int ib_batch_result(ib_batch *b, size_t i, uint64_t *ret_value, const char **ret_error) {
        if (!b || !b->ran || i >= b->n_ran)
                return -EINVAL;         /* not run, or added since the run */
        if (ret_value)
                *ret_value = b->ops[i].value;
        if (ret_error)
                *ret_error = b->ops[i].message;
        return b->ops[i].error;
}

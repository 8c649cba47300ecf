/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * coalesce.c - asynchronous maps and unmaps made while others are in flight
 * go as one Batch.
 *
 * Owns: the open bundle (the operations waiting to go together), when it
 * closes, and how its one reply becomes each operation's callback.
 *
 * Theory of operation: the broker answers a session's requests in order,
 * so a request made while another is in flight would wait at the broker
 * anyway; what it costs on its own is a datagram each way.  A Map by
 * registered memory or an Unmap made by *_async() while at least one
 * request is in flight therefore joins the open bundle rather than going
 * alone.  The bundle closes, becoming one Batch request with
 * stop_on_error false (each operation runs and is answered on its own, as
 * if sent alone), before anything else is queued or sent: at the next
 * other request, at ib_client_process() and inside a synchronous call, or
 * when it holds the broker's max_batch_ops.  So requests still go in the
 * order they were made, and an application that waits for its fd with
 * ib_client_get_events() is woken (POLLOUT while a bundle is open) to send
 * it.  The first operation made with nothing in flight goes alone at once:
 * a single request never waits.  A bundle carries no fd, so after a broker
 * restart it is sent again like any request without fds (conn.c,
 * "Restarts"), its bytes made again for the broker now serving (which may
 * take packed batches or not); a Batch the restart stopped part way is
 * answered operation by operation, and the operations it says were not
 * applied go again as a new Batch at its place, ahead of every request
 * made after them, made at the ResumedEvent (their callbacks wait for that
 * answer).
 * It is on from connect; ib_client_set_coalescing(c, false) turns it off:
 * every request goes alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

typedef struct Bundle {
        ib_batch *batch;
        BundleOp *ops;                  /* the callbacks, by operation */
        size_t n_ops;
        size_t allocated;
} Bundle;

static void bundle_free(void *data) {
        Bundle *b = data;

        if (!b)
                return;
        ib_batch_free(b->batch);
        free(b->ops);
        free(b);
}

static int bundle_new(Bundle **ret) {
        Bundle *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return -ENOMEM;
        r = ib_batch_new(&b->batch);
        if (r < 0) {
                free(b);
                return r;
        }
        *ret = b;
        return 0;
}

/* Appends op to *b (made if NULL); 0 or -errno. */
static int bundle_add(Bundle **b, const BundleOp *op) {
        int r;

        if (!*b) {
                r = bundle_new(b);
                if (r < 0)
                        return r;
        }
        if ((*b)->n_ops == (*b)->allocated) {
                size_t n = (*b)->allocated ? 2 * (*b)->allocated : 16;
                BundleOp *a = reallocarray((*b)->ops, n, sizeof(*a));

                if (!a)
                        return -ENOMEM;
                (*b)->ops = a;
                (*b)->allocated = n;
        }
        r = op->is_map ? ib_batch_add_map_mem((*b)->batch, op->ioas, op->mem, op->offset, op->length, op->flags,
                                              op->iova)
                       : ib_batch_add_unmap((*b)->batch, op->ioas, op->iova, op->length);
        if (r < 0)
                return r;
        (*b)->ops[(*b)->n_ops++] = *op;
        return 0;
}

/* A bundle's bytes, made again at a ResumedEvent: the broker now serving may take another form (packed or not). */
static int bundle_rewire(ib_client *c, ib_pending *p) {
        Bundle *b = p->data;
        BatchWire *w = NULL;
        int r;

        r = batch_wire(c, b->batch, /* stop_on_error= */ false, &w);
        if (r >= 0)
                r = client_pending_rewrite(c, p, batch_wire_request(w));
        batch_wire_free(w);
        return r;
}

/*
 * The Batch's reply (NULL with err < 0: the connection died) to each
 * operation's callback.  The operations a broker restart stopped the Batch
 * before (not_applied) go again as a new Batch, queued at this one's place
 * and made at the ResumedEvent that follows (conn.c, "Restarts"); their
 * callbacks run with that one's answer.
 */
static void bundle_complete(ib_client *c, ib_pending *p, Ib__V1__Reply *reply, int err) {
        Bundle *b = p->data, *again = NULL;
        bool requeued = false;
        int r = err;

        if (reply) {
                r = client_reply_error(c, reply);
                if (r >= 0)
                        r = batch_read_results(c, b->batch, reply);
        }
        /* queued before any callback runs: a callback may make requests, which come after these */
        for (size_t i = 0; r >= 0 && i < b->n_ops; i++)
                if (batch_op_not_applied(b->batch, i) && bundle_add(&again, &b->ops[i]) < 0) {
                        bundle_free(again);     /* out of memory: each answers not_applied itself */
                        again = NULL;
                        break;
                }
        if (again) {
                requeued = client_queue_at_resume(c, p, bundle_complete, again, bundle_free, again->n_ops,
                                                  bundle_rewire) >= 0;
                if (!requeued)
                        bundle_free(again);
        }
        for (size_t i = 0; i < b->n_ops; i++) {
                const BundleOp *o = &b->ops[i];
                ib_result res = { .error = r, .message = c->error };
                const char *message = NULL;
                uint64_t value = 0;

                if (r >= 0 && requeued && batch_op_not_applied(b->batch, i))
                        continue;
                if (r >= 0) {
                        res.error = ib_batch_result(b->batch, i, &value, &message);
                        res.message = res.error < 0 && message ? message : "";
                        if (o->is_map)
                                res.iova = value;
                        else
                                res.length = value;
                }
                if (o->cb)
                        o->cb(c, &res, o->userdata);
        }
        if (reply)
                reply_free(reply);
}

/* Queues b as one Batch request (taking it); if it cannot be, each operation hears why, once. */
static int bundle_send(ib_client *c, Bundle *b) {
        BatchWire *w = NULL;
        int r;

        r = batch_wire(c, b->batch, /* stop_on_error= */ false, &w);
        if (r >= 0)
                r = client_submit_bundle(c, batch_wire_request(w), bundle_complete, b, bundle_free, b->n_ops,
                                         bundle_rewire);
        batch_wire_free(w);
        if (r < 0) {
                ib_pending p = { .data = b };

                bundle_complete(c, &p, NULL, r);
                bundle_free(b);
        }
        return r;
}

int client_bundle_close(ib_client *c) {
        Bundle *b = c->bundle;

        if (!b)
                return 0;
        c->bundle = NULL;
        return bundle_send(c, b);
}

void client_bundle_free(ib_client *c) {
        bundle_free(c->bundle);
        c->bundle = NULL;
}

size_t client_bundle_size(const ib_client *c) {
        return c->bundle ? c->bundle->n_ops : 0;
}

int client_coalesce(ib_client *c, const BundleOp *op) {
        int r;

        if (!c->coalescing || c->broken || c->n_sent == 0 || c->limits.max_batch_ops < 2)
                return 0;
        r = bundle_add(&c->bundle, op);
        if (r < 0)
                return r;
        if (c->bundle->n_ops >= c->limits.max_batch_ops)
                (void) client_bundle_close(c);  /* if it fails, each callback has run with why */
        return 1;
}

_public_ int ib_client_set_coalescing(ib_client *c, bool on) {
        if (!c)
                return -EINVAL;
        c->coalescing = on;
        return on ? 0 : client_bundle_close(c);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * internal.h - what the client library's files share and callers never see.
 *
 * Owns: the ib_client structure, the pending-request list, and the call
 * primitives the verb files build on: client_submit() queues a request with
 * its fds and a completion, client_call() submits and waits.  A completion
 * runs exactly once, also when a broker restart makes conn.c send the
 * request again (its theory of operation, "Restarts").
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/iommu-broker.h"
#include "common/macro.h"
#include "common/pb-arena.h"
#include "proto/broker.pb-c.h"

typedef struct ib_pending ib_pending;
typedef struct ClientFd ClientFd;

/*
 * A duplicate of a caller's fd that queued requests hold until they are
 * sent, shared by all queued requests of the same open regular file (same
 * device, inode and access mode: the broker sees nothing that tells them
 * apart), so that queued maps of one memfd hold one fd, not one each.
 */
struct ClientFd {
        ClientFd *next;
        int fd;
        bool shared;                    /* a regular file: found again by dev, ino, accmode */
        dev_t dev;
        ino_t ino;
        int accmode;
        unsigned refs;                  /* queued requests holding it */
};

/* Runs once with the reply (or reply NULL and err < 0 when the connection died). */
typedef void (*pending_complete)(ib_client *c, ib_pending *p, Ib__V1__Reply *reply, int err);

struct ib_pending {
        ib_pending *next;
        uint64_t id;
        uint64_t seq;                   /* the send that put its latest copy in the socket (ib_client.n_sends) */
        bool sent;
        bool carried_fds;               /* n_fds > 0 at submit: never sent again after a restart */
        bool not_applied;               /* a restart stopped it: goes again at the ResumedEvent that follows */
        int verb;                       /* the request's verb_case: an answer without error carries the result of that number */
        uint8_t *buf;                   /* packed (bytes); kept until the reply, to send it again after a restart */
        size_t size;
        ClientFd **fds;                 /* until sent: the fds it carries */
        size_t n_fds;
        pending_complete complete;
        ib_callback cb;
        void *userdata;
        void *data;                     /* the completion's own */
        void (*free_data)(void *data);  /* NULL: the completion's caller owns data */
        size_t n_ops;                   /* the operations it answers: 1, or a bundle's (coalesce.c) */
        /* a bundle's: builds its bytes again at a ResumedEvent, in the form the broker now serving takes */
        int (*rewire)(ib_client *c, ib_pending *p);
        uint8_t bytes[];                /* buf: allocated with the pending request, or by client_pending_rewrite() */
};

struct ib_client {
        int fd;
        uint64_t next_id;               /* one more per request: ids grow in the order requests are made */
        uint64_t n_sends;               /* datagrams sent, copies sent again after a restart included */
        uint64_t restarts;              /* ResumedEvents read */
        ib_pending *pending;            /* in submission order */
        ClientFd *held_fds;             /* fds queued requests hold */
        size_t n_sent;                  /* sent, reply not yet read */
        ib_limits limits;
        uint32_t protocol_version;
        char *server_version;
        uint64_t session;
        char error[256];
        uint8_t *rbuf;
        size_t rbuf_size;
        bool broken;
        int rx_fds[16];                 /* fds that came with the reply being completed */
        size_t n_rx_fds;
        int unsolicited_err;            /* an error reply to no request (a refusal, a timeout): why it ends */
        char unsolicited[256];
        int timeout_ms;                 /* of a synchronous call; -1: none */
        bool coalescing;                /* on unless ib_client_set_coalescing(c, false) */
        bool batch_packed;              /* the broker takes a Batch's packed_ops (FEATURE_BATCH_PACKED) */
        bool awaiting_resume;           /* a restart stopped a request: nothing is sent until the ResumedEvent */
        struct Bundle *bundle;          /* the open bundle (coalesce.c), not yet a request */
};

/* How long ib_client_connect() waits for the answer to Hello. */
#define IB_CONNECT_TIMEOUT_MS 30000

/* Sets c->error; returns -abs(err). */
int client_fail(ib_client *c, int err, const char *fmt, ...) _printf_(3, 4);

/*
 * Sends req with fds at once when nothing waits before it, else queues it
 * (packed now) with its fds (duplicated, shared, see ClientFd) and sends
 * what may be sent.  complete runs when the reply arrives.
 */
int client_submit(ib_client *c, Ib__V1__Request *req, const int *fds, size_t n_fds, pending_complete complete,
                  ib_callback cb, void *userdata, void *data);
/*
 * client_submit() of a bundle (coalesce.c): no fds; data freed by free_data
 * with the pending; n_ops answered; rewire builds its bytes again at a
 * ResumedEvent (client_pending_rewrite()) if it is unsent then.
 */
int client_submit_bundle(ib_client *c, Ib__V1__Request *req, pending_complete complete, void *data,
                         void (*free_data)(void *data), size_t n_ops, int (*rewire)(ib_client *c, ib_pending *p));
/*
 * Queues a bundle whose operations a restart stopped (coalesce.c) at the
 * place of done, the request whose answer said so (just unlinked: ahead of
 * every request made after it), without bytes: rewire makes them, with a
 * new id, at the ResumedEvent that follows, and nothing is sent until then.
 */
int client_queue_at_resume(ib_client *c, ib_pending *done, pending_complete complete, void *data,
                           void (*free_data)(void *data), size_t n_ops, int (*rewire)(ib_client *c, ib_pending *p));
/* Packs req as p's bytes (p's id; a new one if p has none yet): a rewire's. */
int client_pending_rewrite(ib_client *c, ib_pending *p, Ib__V1__Request *req);

/*
 * Submits req and waits for its reply.  Returns 0 with *ret the reply
 * (free with reply_free()), or -errno: the broker's errno
 * (with its sentence in c->error) or a local one.
 */
int client_call(ib_client *c, Ib__V1__Request *req, const int *fds, size_t n_fds, Ib__V1__Reply **ret);
/* client_call() for a reply that brings fds: up to n_ret_fds are stored in ret_fds (the caller owns them). */
int client_call_fds(ib_client *c, Ib__V1__Request *req, const int *fds, size_t n_fds, Ib__V1__Reply **ret,
                    int *ret_fds, size_t n_ret_fds, size_t *ret_n_fds);

/* The local errno of a failed reply, 0 for success; sets c->error. */
int client_reply_error(ib_client *c, const Ib__V1__Reply *reply);

/* Completion for the *_async() verbs: decodes the reply into an ib_result for cb. */
void client_complete_async(ib_client *c, ib_pending *p, Ib__V1__Reply *reply, int err);

/* A reply as client_read_one() unpacked it (common/pb-arena.h): freed with this only. */
static inline void reply_free(Ib__V1__Reply *r) {
        pb_arena_free(r);
}

static inline void reply_freep(Ib__V1__Reply **r) {
        reply_free(*r);
}

/*
 * The wire form of a batch (batch.c): a Batch request whose operations point
 * into it, so it lives until the request is packed; its packed_ops when c's
 * broker takes them and every operation is a Map of registered memory or an
 * Unmap.  batch_read_results() stores the per-operation results of its
 * reply, of either form, in b (ib_batch_result()).
 */
typedef struct BatchWire BatchWire;
int batch_wire(const ib_client *c, ib_batch *b, bool stop_on_error, BatchWire **ret);
BatchWire *batch_wire_free(BatchWire *w);
Ib__V1__Request *batch_wire_request(BatchWire *w);
int batch_read_results(ib_client *c, ib_batch *b, const Ib__V1__Reply *reply);
/* After batch_read_results(): whether a broker restart stopped the batch before operation i (not_applied). */
bool batch_op_not_applied(const ib_batch *b, size_t i);

/*
 * Coalescing (coalesce.c): a Map by registered memory or an Unmap made
 * asynchronously while another request is in flight joins the open bundle
 * instead of going alone.  client_coalesce() returns 1 when it took the
 * operation, 0 when it goes alone, -errno.  client_bundle_close() queues
 * the open bundle as one Batch request (before any later request, and
 * before anything is sent); client_bundle_free() drops it unsent.
 */
typedef struct BundleOp {
        bool is_map;
        uint32_t ioas;
        uint32_t mem;
        uint64_t offset;
        uint64_t length;
        unsigned flags;
        uint64_t iova;
        ib_callback cb;
        void *userdata;
} BundleOp;
int client_coalesce(ib_client *c, const BundleOp *op);
int client_bundle_close(ib_client *c);
void client_bundle_free(ib_client *c);
size_t client_bundle_size(const ib_client *c);

/* Request fillers shared with batch.c. */
void client_fill_map(Ib__V1__MapRequest *m, uint32_t ioas, uint32_t fd_index, uint64_t offset, uint64_t length,
                     unsigned flags, uint64_t iova);
void client_fill_unmap(Ib__V1__UnmapRequest *u, uint32_t ioas, uint64_t iova, uint64_t length);

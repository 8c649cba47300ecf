/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * conn.c - the connection to iommu-brokerd.
 *
 * Owns: connect and Hello, request ids, the pending list, sending with
 * SCM_RIGHTS (common/scm.h) within the broker's advertised in-flight limit
 * (the fds of queued requests held once per open file: ClientFd),
 * reading replies and completing the requests they answer, what a broker
 * restart means for the requests in flight (below), the synchronous wait,
 * and the hooks for a VMM's own event loop (get_fd, get_events, process).
 *
 * Restarts (docs/protocol.md, "Restarts").  A broker that restarts keeps
 * the session and this socket; requests in the socket wait there.  The
 * broker loses no request it read: each copy it read gets exactly one
 * answer, the new broker answering the one the dead broker was working on,
 * before it sends a ResumedEvent (id 0).  The event's fields are
 * information only; a request not answered yet is simply still pending.
 * The one duplicate is an answer the new broker sends again (it may have
 * been read already): a reply to an id no longer pending is dropped without
 * a word.  A reply with not_applied (ECANCELED: the restart stopped the
 * request before it changed anything) comes just before a ResumedEvent:
 * the request goes again at that event, same id, same bytes (kept from
 * submit to reply for this; a coalesced Batch's are made again then, in
 * the form the broker now serving takes: coalesce.c), ahead of those never
 * sent, and nothing is sent between the not_applied and the event (so
 * nothing made meanwhile overtakes it; operations of a Batch that a restart
 * stopped part way go again the same way, as a new Batch), unless the event's
 * next_request_id says a copy of it is still unread (the not_applied was a
 * duplicate of an earlier one, and the copy sent again for it waits in the
 * socket).  "Unread" is in the order of sending, which is not that of the
 * ids once a copy went again: each send is numbered (seq).  One that
 * carried fds is never sent again (the dead broker took the fds with it):
 * it completes with the not_applied reply.  Every request completes once,
 * and the synchronous wait simply goes on waiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "client/internal.h"
#include "common/errno-name.h"
#include "common/error-sentence.h"
#include "common/pb-fast.h"
#include "common/protocol.h"
#include "common/scm.h"

int client_fail(ib_client *c, int err, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = error_sentence_format(c->error, sizeof(c->error), err, fmt, ap);
        va_end(ap);
        return r;
}

/* A held duplicate of fd for one more queued request: shared by the same open regular file. */
static int client_fd_hold(ib_client *c, int fd, ClientFd **ret) {
        struct stat st;
        ClientFd *h;
        int fl;

        if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
                return -errno;
        if (S_ISREG(st.st_mode))
                for (h = c->held_fds; h; h = h->next)
                        if (h->shared && h->dev == st.st_dev && h->ino == st.st_ino &&
                            h->accmode == (fl & O_ACCMODE)) {
                                h->refs++;
                                *ret = h;
                                return 0;
                        }
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (h->fd < 0) {
                int r = -errno;

                free(h);
                return r;
        }
        h->shared = S_ISREG(st.st_mode);
        h->dev = st.st_dev;
        h->ino = st.st_ino;
        h->accmode = fl & O_ACCMODE;
        h->refs = 1;
        h->next = c->held_fds;
        c->held_fds = h;
        *ret = h;
        return 0;
}

static void client_fd_release(ib_client *c, ClientFd *h) {
        if (!h || --h->refs > 0)
                return;
        for (ClientFd **i = &c->held_fds; *i; i = &(*i)->next)
                if (*i == h) {
                        *i = h->next;
                        break;
                }
        safe_close(h->fd);
        free(h);
}

static void pending_release_fds(ib_client *c, ib_pending *p) {
        for (size_t i = 0; i < p->n_fds; i++)
                client_fd_release(c, p->fds[i]);
        p->n_fds = 0;
}

static ib_pending *pending_free(ib_client *c, ib_pending *p) {
        if (!p)
                return NULL;
        pending_release_fds(c, p);
        if (p->free_data)
                p->free_data(p->data);
        free(p->fds);
        if (p->buf != p->bytes)
                free(p->buf);   /* client_pending_rewrite()'s */
        free(p);                /* and its buf, inside it */
        return NULL;
}

static void pending_unlink(ib_client *c, ib_pending *p) {
        for (ib_pending **i = &c->pending; *i; i = &(*i)->next)
                if (*i == p) {
                        *i = p->next;
                        return;
                }
}

static bool client_has_unsent(const ib_client *c) {
        if (c->bundle)
                return true;
        for (const ib_pending *p = c->pending; p; p = p->next)
                if (!p->sent)
                        return true;
        return false;
}

/*
 * Sends queued requests while the broker's in-flight limit allows; 0 or
 * -errno.  None between a not_applied answer and its ResumedEvent: what
 * goes again then goes ahead of them.
 */
static int client_flush(ib_client *c) {
        if (c->awaiting_resume)
                return 0;
        for (ib_pending *p = c->pending; p; p = p->next) {
                int fds[IB_MAX_FDS_PER_MESSAGE];
                ssize_t n;

                if (p->sent)
                        continue;
                if (c->n_sent >= c->limits.max_requests_in_flight || !p->buf)
                        return 0;
                for (size_t i = 0; i < p->n_fds; i++)
                        fds[i] = p->fds[i]->fd;
                n = scm_send(c->fd, p->buf, p->size, fds, p->n_fds);
                if (n == -EAGAIN || n == -EINTR)
                        return 0;
                if (n < 0)
                        return client_fail(c, (int) n, "cannot send to the broker: %s", strerror((int) -n));
                p->sent = true;
                p->seq = ++c->n_sends;
                c->n_sent++;
                pending_release_fds(c, p);
        }
        return 0;
}

/* The connection is gone: every pending request completes with err. */
static void client_break(ib_client *c, int err) {
        c->broken = true;
        while (c->pending) {
                ib_pending *p = c->pending;

                c->pending = p->next;
                p->complete(c, p, NULL, err);
                pending_free(c, p);
        }
        c->n_sent = 0;
        /* the open bundle's operations came after: they fail too (not sent: the connection is closed) */
        (void) client_bundle_close(c);
}

static void client_close_rx_fds(ib_client *c) {
        for (size_t i = 0; i < c->n_rx_fds; i++)
                safe_close(c->rx_fds[i]);
        c->n_rx_fds = 0;
}

/* ECANCELED with not_applied: a restart stopped the request before it changed anything. */
static bool client_reply_not_applied(const Ib__V1__Reply *reply) {
        int err;

        if (!reply->has_not_applied || !reply->not_applied || !reply->has_errnum)
                return false;
        err = errno_from_name(reply->errno_name);
        return (err ?: reply->errnum) == ECANCELED;
}

/*
 * Whether a restarted broker's ResumedEvent ev leaves the sent request p
 * unread in the socket: p's copy went at or after the request ev names next
 * (by send, see the Restarts comment at the top); without next in the
 * pending list, by id.
 */
static bool pending_unread(const ib_pending *p, const Ib__V1__ResumedEvent *ev, const ib_pending *next) {
        if (ev->next_request_id == 0)
                return false;
        if (next)
                return p->seq >= next->seq;
        return p->id >= ev->next_request_id;
}

/*
 * A restarted broker resumed this session: the requests it answered
 * not_applied go again, same id, unless their copy is still unread.
 */
static void client_on_resumed(ib_client *c, const Ib__V1__ResumedEvent *ev) {
        const ib_pending *next = NULL;

        c->restarts++;
        c->awaiting_resume = false;
        /* the broker now serving may be another version: what it offers now (none listed: older than packed batches) */
        c->batch_packed = false;
        for (size_t i = 0; i < ev->n_features; i++)
                if (ev->features[i] == IB__V1__FEATURE__FEATURE_BATCH_PACKED)
                        c->batch_packed = true;
        for (ib_pending *p = c->pending; ev->next_request_id != 0 && p; p = p->next)
                if (p->sent && p->id == ev->next_request_id)
                        next = p;
        for (ib_pending *p = c->pending; p; p = p->next) {
                if (!p->not_applied)
                        continue;
                p->not_applied = false;
                if (pending_unread(p, ev, next))
                        continue;               /* the copy sent again for it is the one in the socket */
                p->sent = false;                /* client_flush() sends it again, in list order */
                c->n_sent--;
        }
        /* what goes now goes in the form this broker takes (a bundle waiting for this event: first bytes) */
        for (ib_pending *p = c->pending, *after; p; p = after) {
                int r;

                after = p->next;
                if (p->sent || !p->rewire)
                        continue;
                r = p->rewire(c, p);
                if (r < 0) {
                        pending_unlink(c, p);
                        p->complete(c, p, NULL, r);
                        pending_free(c, p);
                }
        }
}

/*
 * Reads one reply: 1 if one was handled, 0 if none is there (or a signal
 * came), -errno.  wait: block until one is there (the socket blocks; every
 * other read and send says MSG_DONTWAIT).
 */
static int client_read_one(ib_client *c, bool wait) {
        Ib__V1__Reply *reply;
        unsigned flags;
        size_t n_fds;
        ssize_t n;

        n = (wait ? scm_recv_wait : scm_recv)(c->fd, c->rbuf, c->rbuf_size, c->rx_fds, ELEMENTSOF(c->rx_fds), &n_fds,
                                              &flags);
        if (n == -EAGAIN || n == -EINTR)
                return 0;
        /* a broker that closes with our request unread resets the connection: its reason, if it gave one, first */
        if (n == -ECONNRESET && c->unsolicited_err)
                return client_fail(c, c->unsolicited_err, "%s", c->unsolicited);
        if (n < 0)
                return client_fail(c, (int) n, "cannot read from the broker: %s", strerror((int) -n));
        /* fds the reply brings (a device fd); whatever the completion does not take is closed */
        c->n_rx_fds = n_fds;
        if (n == 0) {
                client_close_rx_fds(c);
                if (c->unsolicited_err)
                        return client_fail(c, c->unsolicited_err, "%s", c->unsolicited);
                return client_fail(c, ECONNRESET, "the broker closed the connection");
        }
        if (flags & SCM_RECV_TRUNCATED) {
                client_close_rx_fds(c);
                return client_fail(c, EBADMSG, "a reply exceeded %zu bytes", c->rbuf_size);
        }

        reply = pb_fast_reply_unpack(c->rbuf, (size_t) n);
        if (!reply)
                reply = pb_arena_unpack(&ib__v1__reply__descriptor, (size_t) n, c->rbuf);
        if (!reply) {
                client_close_rx_fds(c);
                return client_fail(c, EBADMSG, "the broker sent a reply this library cannot decode");
        }
        if (reply->id == 0 && reply->result_case == IB__V1__REPLY__RESULT_RESUMED) {
                client_on_resumed(c, reply->resumed);
                reply_free(reply);
                client_close_rx_fds(c);
                return 1;
        }
        for (ib_pending *p = c->pending; reply->id != 0 && p; p = p->next) {
                if (p->id != reply->id)
                        continue;
                if (client_reply_not_applied(reply) && !p->carried_fds) {
                        /* goes again at the ResumedEvent that follows, ahead of what waits; unsent, it goes anyway */
                        p->not_applied = p->sent;
                        c->awaiting_resume = c->awaiting_resume || p->sent;
                        break;
                }
                /* unsent: to go again after a not_applied, yet answered otherwise; the answer stands */
                pending_unlink(c, p);
                if (p->sent)
                        c->n_sent--;
                if (client_reply_error(c, reply) == 0 && (int) reply->result_case != p->verb) {
                        /* a success carries its verb's result (docs/protocol.md): anything else is not an answer */
                        reply_free(reply);
                        p->complete(c, p, NULL,
                                    client_fail(c, EPROTO, "the broker answered request %" PRIu64
                                                " with a result of another verb", p->id));
                } else
                        p->complete(c, p, reply, 0);    /* takes reply, may take fds */
                pending_free(c, p);
                client_close_rx_fds(c);
                return 1;
        }
        /*
         * Id 0: the broker could not read one of our messages, or it says
         * why it closes the connection (refused at the door, no Hello in
         * time): kept to explain the hang-up that follows.  Any other id
         * answers nothing pending: the duplicate of an answer that a
         * restarted broker sends again, or a not_applied handled above.
         */
        if (reply->id == 0) {
                int err = client_reply_error(c, reply);

                if (err < 0) {
                        c->unsolicited_err = -err;
                        (void) snprintf(c->unsolicited, sizeof(c->unsolicited), "%s", c->error);
                }
        }
        reply_free(reply);
        client_close_rx_fds(c);
        return 1;
}

/*
 * Sends what waits and reads what is there; the number of replies handled.
 * wait: the first read blocks.  done (NULL: none): stop reading once it is
 * true (a synchronous call's answer is in; what follows stays for later).
 */
static int client_process(ib_client *c, bool wait, const bool *done) {
        int r, n = 0;

        if (c->broken)
                return -ENOTCONN;
        /* if the bundle cannot be queued, its callbacks have heard why: the connection goes on */
        (void) client_bundle_close(c);
        r = client_flush(c);
        while (r >= 0 && !(done && *done)) {
                r = client_read_one(c, wait && n == 0);
                if (r <= 0)
                        break;
                n++;
                r = client_flush(c);
        }
        if (r < 0) {
                client_break(c, r);
                return r;
        }
        return n;
}

_public_ int ib_client_process(ib_client *c) {
        if (!c)
                return -EINVAL;
        return client_process(c, /* wait= */ false, /* done= */ NULL);
}

/* The packed size of req within the broker's limit (fast: pb-fast packs it), or -EMSGSIZE. */
static int request_size(ib_client *c, const Ib__V1__Request *req, size_t *ret_size, bool *ret_fast) {
        size_t size = pb_fast_request_size(req);

        *ret_fast = size > 0;
        if (!*ret_fast)
                size = ib__v1__request__get_packed_size(req);
        if (size > c->limits.max_message_size)
                return client_fail(c, EMSGSIZE, "request of %zu bytes: the broker takes at most %u", size,
                                   c->limits.max_message_size);
        *ret_size = size;
        return 0;
}

static size_t request_pack(const Ib__V1__Request *req, size_t size, bool fast, uint8_t *buf) {
        return fast ? pb_fast_request_pack(req, size, buf) : ib__v1__request__pack(req, buf);
}

static int submit(ib_client *c, Ib__V1__Request *req, const int *fds, size_t n_fds, pending_complete complete,
                  ib_callback cb, void *userdata, void *data, void (*free_data)(void *data), size_t n_ops,
                  int (*rewire)(ib_client *c, ib_pending *p)) {
        ib_pending *p;
        size_t size;
        bool fast;
        int r;

        if (c->broken)
                return client_fail(c, ENOTCONN, "the connection to the broker is closed");
        if (n_fds > c->limits.max_fds_per_message || n_fds > IB_MAX_FDS_PER_MESSAGE)
                return client_fail(c, E2BIG, "%zu fds: the broker takes at most %u per message", n_fds,
                                   c->limits.max_fds_per_message);
        req->id = ++c->next_id;
        r = request_size(c, req, &size, &fast);
        if (r < 0)
                return r;

        p = malloc(sizeof(*p) + size);  /* the request's bytes in the same block: packed below, not zeroed */
        if (!p)
                return -ENOMEM;
        memset(p, 0, sizeof(*p));
        p->id = req->id;
        p->carried_fds = n_fds > 0;
        p->verb = (int) req->verb_case;
        p->complete = complete;
        p->cb = cb;
        p->userdata = userdata;
        p->data = data;         /* the caller's until p is queued below (free_data is set then) */
        p->n_ops = n_ops;
        p->rewire = rewire;
        p->buf = p->bytes;
        if (n_fds > 0) {
                p->fds = calloc(n_fds, sizeof(*p->fds));
                if (!p->fds) {
                        pending_free(c, p);
                        return -ENOMEM;
                }
        }
        p->size = request_pack(req, size, fast, p->buf);

        /*
         * Nothing waits before it and the broker takes one more: sent now
         * with the caller's own fds, which then need no duplicate.
         */
        if (!client_has_unsent(c) && !c->awaiting_resume && c->n_sent < c->limits.max_requests_in_flight) {
                ssize_t n = scm_send(c->fd, p->buf, p->size, fds, n_fds);

                if (n >= 0) {
                        p->sent = true;
                        p->seq = ++c->n_sends;
                        c->n_sent++;
                } else if (n != -EAGAIN && n != -EINTR) {
                        pending_free(c, p);
                        return client_fail(c, (int) n, "cannot send to the broker: %s", strerror((int) -n));
                }
        }
        for (size_t i = 0; !p->sent && i < n_fds; i++) {
                r = client_fd_hold(c, fds[i], &p->fds[i]);
                if (r < 0) {
                        r = client_fail(c, r, "file descriptor %d: %s", fds[i], strerror(-r));
                        pending_free(c, p);
                        return r;
                }
                p->n_fds = i + 1;
        }

        /* Append: requests go out in the order they were made. */
        {
                ib_pending **i = &c->pending;

                while (*i)
                        i = &(*i)->next;
                *i = p;
        }
        p->free_data = free_data;

        /*
         * Queued: from here p completes through its callback, once.  If an
         * earlier request cannot be sent, the next client_process() finds
         * the same error and breaks the connection, completing p with it;
         * returning it here would tell the caller p was not queued.
         */
        (void) client_flush(c);
        return 0;
}

int client_submit(ib_client *c, Ib__V1__Request *req, const int *fds, size_t n_fds, pending_complete complete,
                  ib_callback cb, void *userdata, void *data) {
        /* the operations of the open bundle were made before this request: they go first */
        int r = client_bundle_close(c);

        if (r < 0 && c->broken)
                return r;
        return submit(c, req, fds, n_fds, complete, cb, userdata, data, NULL, 1, NULL);
}

int client_submit_bundle(ib_client *c, Ib__V1__Request *req, pending_complete complete, void *data,
                         void (*free_data)(void *data), size_t n_ops, int (*rewire)(ib_client *c, ib_pending *p)) {
        return submit(c, req, NULL, 0, complete, NULL, NULL, data, free_data, n_ops, rewire);
}

int client_queue_at_resume(ib_client *c, ib_pending *done, pending_complete complete, void *data,
                           void (*free_data)(void *data), size_t n_ops, int (*rewire)(ib_client *c, ib_pending *p)) {
        ib_pending *p, **i;

        if (c->broken)
                return client_fail(c, ENOTCONN, "the connection to the broker is closed");
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->verb = IB__V1__REQUEST__VERB_BATCH;
        p->complete = complete;
        p->data = data;
        p->free_data = free_data;
        p->n_ops = n_ops;
        p->rewire = rewire;
        /* done's successor is still queued: p goes right before it */
        for (i = &c->pending; *i && *i != done->next; i = &(*i)->next)
                ;
        p->next = *i;
        *i = p;
        c->awaiting_resume = true;
        return 0;
}

int client_pending_rewrite(ib_client *c, ib_pending *p, Ib__V1__Request *req) {
        uint8_t *buf;
        size_t size;
        bool fast;

        int r;

        req->id = p->id ?: ++c->next_id;
        r = request_size(c, req, &size, &fast);
        if (r < 0)
                return r;
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        size = request_pack(req, size, fast, buf);
        if (p->buf != p->bytes)
                free(p->buf);
        p->buf = buf;
        p->size = size;
        p->id = req->id;
        return 0;
}

int client_reply_error(ib_client *c, const Ib__V1__Reply *reply) {
        int err;

        if (!reply->has_errnum || reply->errnum == 0)
                return 0;
        err = errno_from_name(reply->errno_name);
        if (err == 0)
                err = reply->errnum > 0 ? reply->errnum : EIO;
        (void) snprintf(c->error, sizeof(c->error), "%s", reply->error ?: "");
        return -err;
}

typedef struct SyncWait {
        bool done;
        int err;
        char error[sizeof(((ib_client *) NULL)->error)];   /* with err: its sentence (later replies may overwrite c's) */
        Ib__V1__Reply *reply;
        int fds[16];
        size_t n_fds;
} SyncWait;

static void complete_sync(ib_client *c, ib_pending *p, Ib__V1__Reply *reply, int err) {
        SyncWait *w = p->data;

        w->done = true;
        w->err = err;
        if (err < 0)
                memcpy(w->error, c->error, sizeof(w->error));
        w->reply = reply;
        if (!reply)
                return;         /* no answer, no fds taken: client_read_one() closes what came */
        memcpy(w->fds, c->rx_fds, c->n_rx_fds * sizeof(int));
        w->n_fds = c->n_rx_fds;
        c->n_rx_fds = 0;
}

int client_call(ib_client *c, Ib__V1__Request *req, const int *fds, size_t n_fds, Ib__V1__Reply **ret) {
        return client_call_fds(c, req, fds, n_fds, ret, NULL, 0, NULL);
}

int client_call_fds(ib_client *c, Ib__V1__Request *req, const int *fds, size_t n_fds, Ib__V1__Reply **ret,
                    int *ret_fds, size_t n_ret_fds, size_t *ret_n_fds) {
        SyncWait w;
        int r;

        /* not "= {}": its arrays need no zeroing, and a call is made per request */
        w.done = false;
        w.err = 0;
        w.error[0] = '\0';
        w.reply = NULL;
        w.n_fds = 0;
        r = client_submit(c, req, fds, n_fds, complete_sync, NULL, NULL, &w);
        if (r < 0)
                return r;
        while (!w.done) {
                struct pollfd pfd = { .fd = c->fd, .events = (short) ib_client_get_events(c) };

                /* nothing left to send and no deadline: wait in the read itself, one syscall less than poll */
                if (c->timeout_ms < 0 && !client_has_unsent(c)) {
                        r = client_process(c, /* wait= */ true, &w.done);
                        if (r < 0 && !w.done)
                                return r;
                        continue;
                }
                r = poll(&pfd, 1, c->timeout_ms);
                /*
                 * Giving up while w is queued: the connection ends (w and
                 * everything after it complete), so that no later answer
                 * is written into this returned frame.
                 */
                if (r < 0 && errno != EINTR) {
                        r = client_fail(c, errno, "poll: %s", strerror(errno));
                        client_break(c, r);
                        return r;
                }
                if (r == 0) {
                        r = client_fail(c, ETIMEDOUT, "the broker did not answer within %d s",
                                        c->timeout_ms / 1000);
                        client_break(c, r);
                        return r;
                }
                r = client_process(c, /* wait= */ false, &w.done);
                if (r < 0 && !w.done)
                        return r;
        }
        if (w.err < 0) {
                memcpy(c->error, w.error, sizeof(c->error));
                return w.err;
        }
        r = client_reply_error(c, w.reply);
        if (r < 0) {
                for (size_t i = 0; i < w.n_fds; i++)
                        safe_close(w.fds[i]);
                reply_free(w.reply);
                return r;
        }
        for (size_t i = 0; i < w.n_fds; i++)
                if (i < n_ret_fds)
                        ret_fds[i] = w.fds[i];
                else
                        safe_close(w.fds[i]);
        if (ret_n_fds)
                *ret_n_fds = w.n_fds < n_ret_fds ? w.n_fds : n_ret_fds;
        c->error[0] = '\0';
        *ret = w.reply;
        return 0;
}

_public_ int ib_client_connect(const char *path, const char *client_name, ib_client **ret) {
        return ib_client_connect_verbose(path, client_name, ret, NULL, 0);
}

/* A failure of ib_client_connect_verbose() before there is a connection to explain it: r, and why in error. */
static int connect_fail(char *error, size_t error_size, int r, const char *fmt, ...) _printf_(4, 5);
static int connect_fail(char *error, size_t error_size, int r, const char *fmt, ...) {
        va_list ap;

        if (error && error_size) {
                va_start(ap, fmt);
                (void) error_sentence_format(error, error_size, -r, fmt, ap);
                va_end(ap);
        }
        return r;
}

_public_ int ib_client_connect_verbose(const char *path, const char *client_name, ib_client **ret, char *error,
                                       size_t error_size) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HelloRequest hello = IB__V1__HELLO_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        ib_client *c;
        int r;

        if (error && error_size)
                error[0] = '\0';
        if (!ret)
                return connect_fail(error, error_size, -EINVAL, "no place for the connection (ret is NULL)");
        if (!path)
                path = getenv("IOMMU_BROKER_SOCKET");
        if (!path || !*path)
                path = IB_DEFAULT_SOCKET;
        if (strlen(path) >= sizeof(sa.sun_path))
                return connect_fail(error, error_size, -ENAMETOOLONG,
                                    "the socket path is %zu bytes; a Unix socket's takes at most %zu", strlen(path),
                                    sizeof(sa.sun_path) - 1);
        strcpy(sa.sun_path, path);

        c = calloc(1, sizeof(*c));
        if (!c)
                return connect_fail(error, error_size, -ENOMEM, "out of memory");
        c->timeout_ms = -1;
        c->coalescing = true;           /* client/coalesce.c; ib_client_set_coalescing() */
        /* Until Hello says otherwise: the limits of protocol v1. */
        c->limits = (ib_limits) {
                .max_message_size = IB_MAX_MESSAGE_SIZE,
                .max_fds_per_message = IB_MAX_FDS_PER_MESSAGE,
                .max_requests_in_flight = 1,
                .max_batch_ops = IB_MAX_BATCH_OPS,
                .max_iova_ranges = IB_MAX_IOVA_RANGES,
        };
        c->rbuf_size = IB_MAX_MESSAGE_SIZE;
        c->rbuf = malloc(c->rbuf_size);
        c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (!c->rbuf || c->fd < 0) {
                r = c->rbuf ? -errno : -ENOMEM;
                ib_client_free(c);
                if (r == -ENOMEM)
                        return connect_fail(error, error_size, r, "out of memory");
                return connect_fail(error, error_size, r, "cannot make a socket: %s", strerror(-r));
        }
        /* connected without waiting (a full backlog is EAGAIN), then blocking for the synchronous calls' reads */
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || fcntl(c->fd, F_SETFL, 0) < 0) {
                r = -errno;
                if (error && error_size)
                        (void) snprintf(error, error_size, "cannot connect to '%s': %s", path, strerror(-r));
                ib_client_free(c);
                return r;
        }

        hello.protocol_version = IB_PROTOCOL_VERSION;
        hello.client_name = (char *) client_name;
        req.verb_case = IB__V1__REQUEST__VERB_HELLO;
        req.hello = &hello;
        /* a broker that cannot take us refuses with a reason; one that hangs must not hang us for ever */
        c->timeout_ms = IB_CONNECT_TIMEOUT_MS;
        r = client_call(c, &req, NULL, 0, &reply);
        c->timeout_ms = -1;
        if ((r == -EPIPE || r == -ECONNRESET) && client_read_one(c, /* wait= */ false) > 0 && c->unsolicited_err)
                /* refused at the door and closed before our Hello: the reason waits in the socket */
                r = client_fail(c, c->unsolicited_err, "%s", c->unsolicited);
        if (r < 0 || reply->result_case != IB__V1__REPLY__RESULT_HELLO) {
                if (error && error_size)
                        (void) snprintf(error, error_size, "%s", r < 0 ? c->error : "the broker did not answer Hello");
                ib_client_free(c);
                return r < 0 ? r : -EPROTO;
        }
        c->protocol_version = reply->hello->protocol_version;
        for (size_t i = 0; i < reply->hello->n_features; i++)
                if (reply->hello->features[i] == IB__V1__FEATURE__FEATURE_BATCH_PACKED)
                        c->batch_packed = true;
        c->session = reply->hello->session;
        c->server_version = strdup(reply->hello->server_version);
        if (reply->hello->limits)
                c->limits = (ib_limits) {
                        .max_message_size = reply->hello->limits->max_message_size,
                        .max_fds_per_message = reply->hello->limits->max_fds_per_message,
                        .max_requests_in_flight = reply->hello->limits->max_requests_in_flight ?: 1,
                        .max_batch_ops = reply->hello->limits->max_batch_ops,
                        .max_iova_ranges = reply->hello->limits->max_iova_ranges,
                };
        if (c->limits.max_message_size > c->rbuf_size) {
                uint8_t *b = realloc(c->rbuf, c->limits.max_message_size);

                if (!b) {
                        ib_client_free(c);
                        return connect_fail(error, error_size, -ENOMEM, "out of memory");
                }
                c->rbuf = b;
                c->rbuf_size = c->limits.max_message_size;
        }
        *ret = c;
        return 0;
}

_public_ ib_client *ib_client_free(ib_client *c) {
        if (!c)
                return NULL;
        while (c->pending) {
                ib_pending *p = c->pending;

                c->pending = p->next;
                pending_free(c, p);
        }
        client_bundle_free(c);
        safe_close(c->fd);
        free(c->server_version);
        free(c->rbuf);
        free(c);
        return NULL;
}

_public_ int ib_client_get_fd(ib_client *c) {
        return c ? c->fd : -EINVAL;
}

_public_ int ib_client_get_events(ib_client *c) {
        if (!c)
                return -EINVAL;
        if (c->bundle)
                return POLLIN | POLLOUT;        /* ib_client_process() sends it */
        if (c->awaiting_resume)
                return POLLIN;                  /* nothing goes before the ResumedEvent */
        for (ib_pending *p = c->pending; p; p = p->next)
                if (!p->sent && c->n_sent < c->limits.max_requests_in_flight)
                        return POLLIN | POLLOUT;
        return POLLIN;
}

_public_ uint32_t ib_client_protocol_version(ib_client *c) {
        return c ? c->protocol_version : 0;
}

_public_ const char *ib_client_server_version(ib_client *c) {
        return c && c->server_version ? c->server_version : "";
}

_public_ uint64_t ib_client_session_id(ib_client *c) {
        return c ? c->session : 0;
}

_public_ void ib_client_get_limits(ib_client *c, ib_limits *ret) {
        if (c && ret)
                *ret = c->limits;
}

_public_ uint64_t ib_client_restarts(ib_client *c) {
        return c ? c->restarts : 0;
}

_public_ const char *ib_client_error(ib_client *c) {
        return c ? c->error : "";
}

_public_ const char *ib_errno_name(int err) {
        return errno_to_name(err);
}

_public_ size_t ib_client_pending(ib_client *c) {
        size_t n = 0;

        if (c) {
                for (ib_pending *p = c->pending; p; p = p->next)
                        n += p->n_ops;
                n += client_bundle_size(c);
        }
        return n;
}

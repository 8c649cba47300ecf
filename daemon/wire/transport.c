/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.c - see transport.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "util/log.h"
#include "wire/transport.h"
#include "util/crashpoint.h"

struct TransportOut {
        TransportOut *next;
        size_t size;
        size_t n_fds;
        int *fds;
        Charge charge_bytes;
        Charge charge_fds;
        uint8_t data[];
};

/*
 * The receive buffer every transport reads into: one datagram at a time is
 * read and handed to on_message before the next read, on one thread.
 */
static uint8_t *rx_buf;
static size_t rx_size;
static unsigned rx_users;

static int rx_buf_ref(size_t size) {
        if (size > rx_size) {
                uint8_t *b = realloc(rx_buf, size);

                if (!b)
                        return -ENOMEM;
                rx_buf = b;
                rx_size = size;
        }
        rx_users++;
        return 0;
}

static void rx_buf_unref(void) {
        if (rx_users > 0 && --rx_users == 0) {
                free(rx_buf);
                rx_buf = NULL;
                rx_size = 0;
        }
}

/* Messages read in one wake-up before others get their turn. */
#define TRANSPORT_READ_BURST 16

static TransportOut *out_free(TransportOut *o) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < o->n_fds; i++)
                safe_close(o->fds[i]);
        free(o->fds);
        charge_release(&o->charge_bytes);
        charge_release(&o->charge_fds);
        free(o);
        return NULL;
}

/* A client that leaves replies unread stalls itself, and only itself, once its tenant's queue is full. */
static bool transport_may_read(const Transport *t) {
        if (t->paused || t->n_out >= t->max_queued)
                return false;
        return t->n_out == 0 || !t->account || !account_over(t->account, ACCOUNT_REPLY_BYTES);
}

static void transport_update_interest(Transport *t) {
        bool want_read = transport_may_read(t);

        if (want_read != t->reading) {
                if (want_read)
                        (void) event_add(t->ev_read, NULL);
                else
                        (void) event_del(t->ev_read);
                t->reading = want_read;
        }
        if ((t->n_out > 0) != t->writing) {
                if (t->n_out > 0)
                        (void) event_add(t->ev_write, NULL);
                else
                        (void) event_del(t->ev_write);
                t->writing = t->n_out > 0;
        }
}

/* Writes queued datagrams until the socket would block: 0, or -errno on a broken socket. */
static int transport_flush(Transport *t) {
        while (t->out_head) {
                TransportOut *o = t->out_head;
                ssize_t n;

                n = scm_send(t->fd, o->data, o->size, o->fds, o->n_fds);
                if (n == -EAGAIN || n == -EINTR)
                        return 0;
                if (n < 0)
                        return (int) n;
                t->out_head = o->next;
                if (!t->out_head)
                        t->out_tail = NULL;
                t->n_out--;
                out_free(o);
        }
        return 0;
}

static void transport_on_write(evutil_socket_t fd, short what, void *userdata) {
        Transport *t = userdata;
        int r;

        r = transport_flush(t);
        if (r < 0) {
                t->on_hangup(t->userdata, r);
                return; /* careful: freed here */
        }
        transport_update_interest(t);
}

/* Reads one datagram.  Returns 0 when there is nothing more, 1 when one was delivered, TRANSPORT_FREED, or -errno. */
static int transport_read_one(Transport *t) {
        _cleanup_(fdlist_freep) FdList *fds = NULL;
        int received[SCM_FDS_MAX];
        size_t n_received;
        unsigned flags;
        ssize_t n;
        int r;

        if (t->on_peek) {
                /*
                 * Its owner hears of a datagram before it leaves the socket
                 * (the state file records its id: a crash between the two
                 * loses no request unseen, see core/persist.c).
                 */
                uint8_t head[16];
                ssize_t p = recv(t->fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);

                if (p < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (p > 0)
                        t->on_peek(t->userdata, head, (size_t) p);
                crash_point("peeked");
        }
        n = scm_recv(t->fd, rx_buf, t->max_size, received, t->max_fds, &n_received, &flags);
        if (n == -EAGAIN || n == -EINTR)
                return 0;
        if (n > 0)
                crash_point("received");
        if (n < 0)
                return (int) n;
        r = fdlist_new(received, n_received, &fds);
        if (r < 0) {
                for (size_t i = 0; i < n_received; i++)
                        safe_close(received[i]);
                return r;
        }
        if (n == 0 && n_received == 0 && !(flags & TRANSPORT_FDS_TRUNCATED))
                return -ECONNRESET;     /* SEQPACKET end of file */

        r = t->on_message(t->userdata, rx_buf, (size_t) n, TAKE_PTR(fds), flags);
        if (r == TRANSPORT_FREED)
                return TRANSPORT_FREED; /* careful: freed here */
        return 1;
}

static void transport_on_read(evutil_socket_t fd, short what, void *userdata) {
        Transport *t = userdata;

        for (int i = 0; i < TRANSPORT_READ_BURST && transport_may_read(t); i++) {
                int r = transport_read_one(t);

                if (r == TRANSPORT_FREED)
                        return; /* careful: freed here */
                if (r == -ECONNRESET) {
                        t->on_hangup(t->userdata, 0);
                        return; /* careful: freed here */
                }
                if (r < 0) {
                        t->on_hangup(t->userdata, r);
                        return; /* careful: freed here */
                }
                if (r == 0)
                        break;
        }
        transport_update_interest(t);
}

int transport_init(Transport *t, struct event_base *base, int fd, size_t max_size, size_t max_fds,
                   size_t max_queued, Account *account, TransportOnMessage on_message,
                   TransportOnHangup on_hangup, void *userdata) {
        int r;

        *t = (Transport) TRANSPORT_NULL;
        t->fd = fd;
        t->max_size = max_size;
        t->max_fds = max_fds;
        t->max_queued = max_queued;
        t->on_message = on_message;
        t->on_hangup = on_hangup;
        t->userdata = userdata;
        t->account = account;

        r = rx_buf_ref(max_size);
        if (r < 0) {
                safe_close(t->fd);
                *t = (Transport) TRANSPORT_NULL;
                return r;
        }
        t->has_rx = true;
        t->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, transport_on_read, t);
        t->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, transport_on_write, t);
        if (!t->ev_read || !t->ev_write) {
                transport_deinit(t);
                return -ENOMEM;
        }
        transport_update_interest(t);
        return 0;
}

void transport_pause(Transport *t, bool paused) {
        t->paused = paused;
        if (t->ev_read)
                transport_update_interest(t);
}

void transport_deinit(Transport *t) {
        if (t->ev_read)
                event_free(t->ev_read);
        if (t->ev_write)
                event_free(t->ev_write);
        while (t->out_head) {
                TransportOut *o = t->out_head;

                t->out_head = o->next;
                out_free(o);
        }
        if (t->has_rx)
                rx_buf_unref();
        safe_close(t->fd);
        *t = (Transport) TRANSPORT_NULL;
}

int transport_send(Transport *t, const uint8_t *data, size_t size, const int *fds, size_t n_fds,
                   Charge *fds_charge) {
        TransportOut *o;
        int r;

        /* Nothing waits before it: straight to the socket, and copied only if the socket takes it later. */
        if (!t->out_head) {
                ssize_t n = scm_send(t->fd, data, size, fds, n_fds);

                if (n >= 0) {
                        if (fds_charge)
                                charge_release(fds_charge);     /* the fds are the peer's now */
                        return 0;
                }
                if (n != -EAGAIN && n != -EINTR)
                        return (int) n;
        }
        o = calloc(1, sizeof(*o) + size);
        if (!o)
                return -ENOMEM;
        memcpy(o->data, data, size);
        o->size = size;
        if (n_fds > 0) {
                o->fds = calloc(n_fds, sizeof(int));
                if (!o->fds) {
                        out_free(o);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n_fds; i++) {
                        o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                        if (o->fds[i] < 0) {
                                r = -errno;
                                o->n_fds = i;
                                out_free(o);
                                return r;
                        }
                }
                o->n_fds = n_fds;
        }
        if (fds_charge) {
                o->charge_fds = *fds_charge;
                *fds_charge = (Charge) CHARGE_NULL;
        }
        if (t->account)
                charge_force(&o->charge_bytes, t->account, ACCOUNT_REPLY_BYTES, size);
        if (t->out_tail)
                t->out_tail->next = o;
        else
                t->out_head = o;
        t->out_tail = o;
        t->n_out++;

        r = transport_flush(t);
        transport_update_interest(t);
        return r;
}

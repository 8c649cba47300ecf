/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.h - one SOCK_SEQPACKET connection: datagrams and SCM_RIGHTS fds.
 *
 * Owns: the connected socket, its libevent events, when to read and write
 * (common/scm.h moves each datagram and its fds), the queue of replies not
 * yet written and the back-pressure rule: while max_queued replies wait to
 * be written, or replies wait and the owner's account is over its limit of
 * queued reply bytes (ReplyMemoryMax), the transport stops reading; the
 * charges a queued reply holds (its bytes, its fds) go when it is written or
 * dropped.  It reads every datagram into one buffer shared by all transports
 * (the loop reads one datagram at a time and hands it over before the next
 * read), so an idle connection costs no buffer.
 * libevent's bufferevents would lose the datagram boundaries and the fds,
 * hence plain events.
 * Must never: decode messages, log above debug, or outlive its owner.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "common/scm.h"
#include "object/account.h"
#include "wire/fdlist.h"

struct event;
struct event_base;

typedef struct Transport Transport;
typedef struct TransportOut TransportOut;

/* What came with a datagram besides its data: common/scm.h's report, as it is. */
enum {
        TRANSPORT_TRUNCATED = SCM_RECV_TRUNCATED,       /* larger than the buffer: data is cut */
        TRANSPORT_FDS_TRUNCATED = SCM_RECV_FDS_TRUNCATED, /* more fds than allowed: the extra ones are closed */
        TRANSPORT_FOREIGN_CMSG = SCM_RECV_FOREIGN_CMSG, /* ancillary data other than SCM_RIGHTS came along */
};

/* Returned by a callback that freed the transport (and its owner): stop touching it. */
#define TRANSPORT_FREED 1

/*
 * A datagram arrived: size is its full size (larger than the data when
 * TRANSPORT_TRUNCATED), fds is handed over.  Returns 0, or TRANSPORT_FREED.
 */
typedef int (*TransportOnMessage)(void *userdata, const uint8_t *data, size_t size, FdList *fds,
                                  unsigned flags);
/* The peer hung up (err 0) or the socket failed (-errno); the owner must free the transport. */
typedef void (*TransportOnHangup)(void *userdata, int err);

struct Transport {
        int fd;
        struct event *ev_read;
        struct event *ev_write;
        TransportOut *out_head;
        TransportOut *out_tail;
        size_t n_out;
        size_t max_queued;
        size_t max_size;
        size_t max_fds;
        bool reading;
        bool writing;                   /* ev_write is added: replies wait */
        TransportOnMessage on_message;
        TransportOnHangup on_hangup;
        void *userdata;
        Account *account;               /* charged for queued replies; NULL: nobody */
        bool has_rx;                    /* holds a reference on the shared receive buffer */
        bool paused;                    /* the owner reads no more for now (a request of it waits) */
        /* Told the first bytes of each datagram before it is taken from the socket; NULL: nobody. */
        void (*on_peek)(void *userdata, const uint8_t *head, size_t size);
};

#define TRANSPORT_NULL { .fd = -1 }

/* Takes fd (on success and on failure).  account (may be NULL) pays for queued replies. */
int transport_init(Transport *t, struct event_base *base, int fd, size_t max_size, size_t max_fds,
                   size_t max_queued, Account *account, TransportOnMessage on_message,
                   TransportOnHangup on_hangup, void *userdata);
void transport_deinit(Transport *t);
/* Stops reading (paused), or reads again; replies are still written meanwhile. */
void transport_pause(Transport *t, bool paused);

/*
 * Sends one datagram with fds (the caller keeps its own), or, when replies
 * wait before it or the socket takes no more now, queues it (data copied,
 * fds duplicated) and writes as much of the queue as the socket takes.  Its bytes
 * are charged to the transport's account (ACCOUNT_REPLY_BYTES, never
 * refused: reading stops instead); fds_charge (may be NULL), the caller's
 * charge for the fds, is taken over on success.
 */
int transport_send(Transport *t, const uint8_t *data, size_t size, const int *fds, size_t n_fds,
                   Charge *fds_charge);

static inline size_t transport_queued(const Transport *t) {
        return t->n_out;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h - the listening VMM socket.
 *
 * Owns: the SOCK_SEQPACKET listening socket, either handed over by systemd
 * (sd_listen_fds(), checked to be a listening AF_UNIX SEQPACKET socket) or
 * created at --socket PATH with a mode; accept4() with SOCK_CLOEXEC and the
 * hand-over of each new connection to the callback the broker installs; and
 * what happens when the broker is out of file descriptors (EMFILE, ENFILE):
 * it keeps one spare fd, gives it up to accept the waiting connection, sends
 * it one error reply (EMFILE, "out of file descriptors") and closes it, so a
 * client never hangs and the loop never spins on a connection it cannot
 * take; if even that fails, accepting pauses for a second.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct event_base;
struct event;

typedef struct Listener Listener;

/* A new connection; the callback owns fd. */
typedef void (*ListenerOnAccept)(int fd, void *userdata);

struct Listener {
        int fd;
        char *path;                     /* unlinked at free when we created it */
        struct event *ev;
        struct event *ev_backoff;       /* re-enables ev after a pause at EMFILE */
        int spare_fd;                   /* given up to accept and refuse a connection at EMFILE */
        ListenerOnAccept on_accept;
        void *userdata;
};

/*
 * On fd, the listening socket systemd's socket unit passed (taken, also on
 * failure; fd < 0 is returned as it is: -ENOENT for none passed); -EINVAL
 * if it is not a listening SOCK_SEQPACKET unix socket.
 */
int listener_new_activated(Listener **ret, struct event_base *base, int fd, ListenerOnAccept cb, void *userdata);
/* Binds path (replacing a stale socket), chmod mode, chown to gid if gid != (gid_t) -1. */
int listener_new_path(Listener **ret, struct event_base *base, const char *path, mode_t mode, gid_t gid,
                      ListenerOnAccept cb, void *userdata);
Listener *listener_free(Listener *l);

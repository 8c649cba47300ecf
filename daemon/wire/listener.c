/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.c - see listener.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <event2/event.h>

#include "common/macro.h"
#include "wire/listener.h"

static void listener_on_read(evutil_socket_t fd, short what, void *userdata) {
        Listener *l = userdata;

        for (int i = 0; i < 16; i++) {
                int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (c < 0)
                        return; /* EAGAIN, or a connection that died before we took it */
                l->on_accept(c, l->userdata);
        }
}

static int listener_start(Listener *l, struct event_base *base) {
        l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, listener_on_read, l);
        if (!l->ev)
                return -ENOMEM;
        if (event_add(l->ev, NULL) < 0)
                return -EIO;
        return 0;
}

int listener_new_activated(Listener **ret, struct event_base *base, ListenerOnAccept cb, void *userdata) {
        Listener *l;
        int n, r;

        n = sd_listen_fds(true);
        if (n < 0)
                return n;
        if (n == 0)
                return -ENOENT;
        if (n > 1)
                return -EINVAL;
        r = sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, NULL, 0);
        if (r < 0)
                return r;
        if (r == 0)
                return -EINVAL;

        /* systemd may hand it over blocking: accept4() in a loop must not block the broker */
        r = fcntl(SD_LISTEN_FDS_START, F_GETFL);
        if (r < 0 || fcntl(SD_LISTEN_FDS_START, F_SETFL, r | O_NONBLOCK) < 0)
                return -errno;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->fd = SD_LISTEN_FDS_START;
        l->on_accept = cb;
        l->userdata = userdata;
        r = listener_start(l, base);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

int listener_new_path(Listener **ret, struct event_base *base, const char *path, mode_t mode, gid_t gid,
                      ListenerOnAccept cb, void *userdata) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        Listener *l;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->on_accept = cb;
        l->userdata = userdata;
        l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (l->fd < 0) {
                r = -errno;
                goto fail;
        }
        /* Replace a stale socket of an earlier run, never a live one of another broker. */
        {
                int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

                if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        safe_close(probe);
                        r = -EADDRINUSE;
                        goto fail;
                }
                safe_close(probe);
        }
        (void) unlink(path);
        if (bind(l->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                goto fail;
        }
        l->path = strdup(path);
        if (!l->path) {
                r = -ENOMEM;
                goto fail;
        }
        if (chmod(path, mode) < 0 || (gid != (gid_t) -1 && chown(path, (uid_t) -1, gid) < 0)) {
                r = -errno;
                goto fail;
        }
        if (listen(l->fd, SOMAXCONN) < 0) {
                r = -errno;
                goto fail;
        }
        r = listener_start(l, base);
        if (r < 0)
                goto fail;
        *ret = l;
        return 0;

fail:
        listener_free(l);
        return r;
}

Listener *listener_free(Listener *l) {
        if (!l)
                return NULL;
        if (l->ev)
                event_free(l->ev);
        if (l->path) {
                (void) unlink(l->path);
                free(l->path);
        }
        safe_close(l->fd);
        free(l);
        return NULL;
}

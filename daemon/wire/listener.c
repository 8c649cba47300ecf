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
#include "wire/codec.h"
#include "wire/listener.h"

#define LISTENER_BACKOFF_SEC 1

/* One error reply to a connection the broker cannot serve, then it is closed. */
static void listener_refuse(int c) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;

        reply.has_errnum = true;
        reply.errnum = EMFILE;
        reply.errno_name = (char *) "EMFILE";
        reply.error = (char *) "the broker is out of file descriptors: connection refused, try again later";
        if (codec_encode_reply(&reply, &buf, &size) >= 0)
                (void) send(c, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        safe_close(c);
}

static void listener_on_backoff(evutil_socket_t fd, short what, void *userdata) {
        Listener *l = userdata;

        if (l->spare_fd < 0)
                l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        (void) event_add(l->ev, NULL);
}

/* EMFILE or ENFILE: take the waiting connection with the spare fd and refuse it; pause if that fails too. */
static void listener_out_of_fds(Listener *l) {
        struct timeval tv = { .tv_sec = LISTENER_BACKOFF_SEC };
        int c = -1;

        if (l->spare_fd >= 0) {
                l->spare_fd = safe_close(l->spare_fd);
                c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c >= 0)
                        listener_refuse(c);
                l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        if (c < 0 || l->spare_fd < 0) {
                (void) event_del(l->ev);
                (void) event_add(l->ev_backoff, &tv);
        }
}

static void listener_on_read(evutil_socket_t fd, short what, void *userdata) {
        Listener *l = userdata;

        for (int i = 0; i < 16; i++) {
                int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (c < 0) {
                        if (errno == EMFILE || errno == ENFILE)
                                listener_out_of_fds(l);
                        else if (errno == ECONNABORTED || errno == EINTR)
                                continue;
                        return; /* EAGAIN, or another error: the next wake-up tries again */
                }
                l->on_accept(c, l->userdata);
        }
}

static int listener_start(Listener *l, struct event_base *base) {
        l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (l->spare_fd < 0)
                return -errno;
        l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, listener_on_read, l);
        l->ev_backoff = evtimer_new(base, listener_on_backoff, l);
        if (!l->ev || !l->ev_backoff)
                return -ENOMEM;
        if (event_add(l->ev, NULL) < 0)
                return -EIO;
        return 0;
}

int listener_new_activated(Listener **ret, struct event_base *base, int fd, ListenerOnAccept cb, void *userdata) {
        Listener *l;
        int r;

        if (fd < 0)
                return fd;
        r = sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0);
        if (r <= 0) {
                safe_close(fd);
                return r < 0 ? r : -EINVAL;
        }

        /* systemd may hand it over blocking: accept4() in a loop must not block the broker */
        r = fcntl(fd, F_GETFL);
        if (r < 0 || fcntl(fd, F_SETFL, r | O_NONBLOCK) < 0) {
                r = -errno;
                safe_close(fd);
                return r;
        }

        l = calloc(1, sizeof(*l));
        if (!l) {
                safe_close(fd);
                return -ENOMEM;
        }
        l->spare_fd = -1;
        l->fd = fd;
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
        l->spare_fd = -1;
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
        if (l->ev_backoff)
                event_free(l->ev_backoff);
        safe_close(l->spare_fd);
        if (l->path) {
                (void) unlink(l->path);
                free(l->path);
        }
        safe_close(l->fd);
        free(l);
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdstore.c - file descriptors kept by the service manager across a restart.
 *
 * The protocol is systemd's (sd_notify(3), sd_listen_fds(3)): a message
 * "FDSTORE=1\nFDNAME=NAME\nFDPOLL=0" on NOTIFY_SOCKET with the fd as
 * SCM_RIGHTS puts a copy of it in the store; "FDSTOREREMOVE=1\nFDNAME=NAME"
 * closes every copy of that name.  At the next start of the service the
 * store's fds follow the socket unit's in LISTEN_FDS, their names in
 * LISTEN_FDNAMES.  FDPOLL=0: the service manager would otherwise drop an fd
 * of the store once it reports POLLHUP or POLLERR (a client that hung up);
 * the broker wants to see that itself at start, and tear the session down.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "util/fdstore.h"
#include "util/log.h"

typedef struct Passed {
        char *name;
        int fd;                 /* -1 once taken */
} Passed;

struct FdStore {
        bool enabled;
        Passed *passed;
        size_t n_passed;
        size_t n_left;
        size_t *by_name;                /* indexes of passed, sorted by name, then as passed: a restart's thousands */
};

static const Passed *sort_base;

static int cmp_passed(const void *a, const void *b) {
        const Passed *x = &sort_base[*(const size_t *) a], *y = &sort_base[*(const size_t *) b];
        int c = strcmp(x->name ?: "", y->name ?: "");

        if (c != 0)
                return c;
        return *(const size_t *) a < *(const size_t *) b ? -1 : *(const size_t *) a > *(const size_t *) b;
}

/* The first position in by_name whose name is >= key (or starts with it). */
static size_t lower_bound(const FdStore *s, const char *key) {
        size_t lo = 0, hi = s->n_passed;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (strcmp(s->passed[s->by_name[mid]].name ?: "", key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

bool fdstore_name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > FDSTORE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-'))
                        return false;
        }
        return true;
}

int fdstore_new(FdStore **ret) {
        _cleanup_(fdstore_freep) FdStore *s = NULL;
        char **names = NULL;
        int n;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->enabled = !!getenv("NOTIFY_SOCKET");

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return n;
        if (n > 0) {
                s->passed = calloc(n, sizeof(Passed));
                if (!s->passed) {
                        for (int i = 0; i < n; i++)
                                close(SD_LISTEN_FDS_START + i);
                        for (int i = 0; names && names[i]; i++)
                                free(names[i]);
                        free(names);
                        return -ENOMEM;
                }
                for (int i = 0; i < n; i++) {
                        s->passed[i].fd = SD_LISTEN_FDS_START + i;
                        s->passed[i].name = names ? names[i] : NULL;
                }
                free(names);    /* the strings are the Passed's now */
                s->n_passed = s->n_left = n;
                s->by_name = calloc(n, sizeof(size_t));
                if (!s->by_name)
                        return -ENOMEM;
                for (int i = 0; i < n; i++)
                        s->by_name[i] = i;
                sort_base = s->passed;
                qsort(s->by_name, n, sizeof(size_t), cmp_passed);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

FdStore *fdstore_free(FdStore *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_passed; i++) {
                if (s->passed[i].fd >= 0)
                        close(s->passed[i].fd);
                free(s->passed[i].name);
        }
        free(s->passed);
        free(s->by_name);
        free(s);
        return NULL;
}

bool fdstore_enabled(const FdStore *s) {
        return s && s->enabled;
}

static int notify(FdStore *s, const char *state, const int *fds, unsigned n_fds) {
        int r;

        r = sd_pid_notify_with_fds(0, false, state, fds, n_fds);
        if (r < 0)
                return r;
        if (r == 0)             /* NOTIFY_SOCKET went away: no store */
                s->enabled = false;
        return 0;
}

int fdstore_keep(FdStore *s, int fd, const char *name) {
        char state[sizeof("FDSTORE=1\nFDPOLL=0\nFDNAME=") + FDSTORE_NAME_MAX];
        int r;

        if (!fdstore_name_is_valid(name))
                return -EINVAL;
        if (fd < 0)
                return -EBADF;
        if (!fdstore_enabled(s))
                return 0;
        (void) snprintf(state, sizeof(state), "FDSTORE=1\nFDPOLL=0\nFDNAME=%s", name);
        r = notify(s, state, &fd, 1);
        if (r < 0)
                log_debug_errno(r, "fd store: cannot keep %s: %m", name);
        return r;
}

int fdstore_forget(FdStore *s, const char *name) {
        char state[sizeof("FDSTOREREMOVE=1\nFDNAME=") + FDSTORE_NAME_MAX];
        int r;

        if (!fdstore_name_is_valid(name))
                return -EINVAL;
        if (!fdstore_enabled(s))
                return 0;
        (void) snprintf(state, sizeof(state), "FDSTOREREMOVE=1\nFDNAME=%s", name);
        r = notify(s, state, NULL, 0);
        if (r < 0)
                log_debug_errno(r, "fd store: cannot drop %s: %m", name);
        return r;
}

int fdstore_take(FdStore *s, const char *name) {
        ssize_t found = -1;

        if (!s || s->n_passed == 0)
                return -ENOENT;
        for (size_t k = lower_bound(s, name); k < s->n_passed; k++) {
                Passed *p = &s->passed[s->by_name[k]];

                if (!p->name || strcmp(p->name, name) != 0)
                        break;
                if (p->fd < 0)
                        continue;
                if (found < 0) {        /* the store passes the newest first */
                        found = (ssize_t) s->by_name[k];
                        continue;
                }
                p->fd = safe_close(p->fd);      /* an older copy of the same name */
                s->n_left--;
        }
        if (found < 0)
                return -ENOENT;
        s->n_left--;
        return TAKE_FD(s->passed[found].fd);
}

int fdstore_foreach(FdStore *s, const char *prefix, int (*fn)(FdStore *s, const char *name, int fd, void *userdata),
                    void *userdata) {
        size_t n = strlen(prefix);

        if (!s || s->n_passed == 0)
                return 0;
        for (size_t k = lower_bound(s, prefix); k < s->n_passed; k++) {
                Passed *p = &s->passed[s->by_name[k]];
                int r;

                if (!p->name || strncmp(p->name, prefix, n) != 0)
                        break;
                if (p->fd < 0)
                        continue;
                r = fn(s, p->name, p->fd, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

void fdstore_drop(FdStore *s, const char *name) {
        safe_close(fdstore_take(s, name));
        (void) fdstore_forget(s, name);
}

void fdstore_forget_passed(FdStore *s, const char *prefix) {
        size_t n = strlen(prefix);

        if (!s || s->n_passed == 0)
                return;
        for (size_t k = lower_bound(s, prefix); k < s->n_passed; k++) {
                Passed *p = &s->passed[s->by_name[k]];

                if (!p->name || strncmp(p->name, prefix, n) != 0)
                        break;
                if (p->fd >= 0) {
                        p->fd = safe_close(p->fd);
                        s->n_left--;
                }
                (void) fdstore_forget(s, p->name);
        }
}

uint64_t fdstore_highest_session(const FdStore *s) {
        uint64_t max = 0;

        for (size_t i = 0; s && i < s->n_passed; i++) {
                const char *name = s->passed[i].name;
                char *end;
                uint64_t id;

                if (!name || name[0] != 's' || name[1] < '0' || name[1] > '9')
                        continue;
                id = strtoull(name + 1, &end, 10);
                if (*end == '.' && id > max)
                        max = id;
        }
        return max;
}

size_t fdstore_n_passed(const FdStore *s) {
        return s ? s->n_passed : 0;
}

size_t fdstore_n_left(const FdStore *s) {
        return s ? s->n_left : 0;
}

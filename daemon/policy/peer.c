/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * peer.c - a peer's identity from SO_PEERCRED, /proc and sd-login; see peer.h.
 *
 * Owns: reading the facts and the pidfd liveness check that makes reads
 * through a pid safe against pid reuse.
 * Must never: log, or use anything the client sent.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "policy/peer.h"

void peer_identity_done(PeerIdentity *id) {
        if (!id)
                return;
        free(id->groups);
        free(id->unit);
        free(id->slice);
        free(id->cgroup);
        *id = (PeerIdentity) PEER_IDENTITY_NULL;
}

static void peer_identity_donep(PeerIdentity *id) {
        peer_identity_done(id);
}

/*
 * 0 if the process behind pidfd still exists (zombies count: their pid is not
 * free for reuse yet), -ESRCH if it is gone.  EPERM only says that we may not
 * signal it, not that it is gone.
 */
static int pidfd_check_alive(int pidfd) {
        if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno != EPERM)
                return errno == ESRCH ? -ESRCH : negative_errno();
        return 0;
}

/* Parses the "Groups:" line of /proc/PID/status: gids separated by blanks. */
static int parse_groups(const char *s, gid_t **ret, size_t *ret_n) {
        _cleanup_free_ gid_t *groups = NULL;
        size_t n = 0, allocated = 0;

        for (;;) {
                unsigned long long v;
                char *end;

                s += strspn(s, " \t\n");
                if (!*s)
                        break;
                errno = 0;
                v = strtoull(s, &end, 10);
                if (errno != 0 || end == s || v >= (gid_t) -1 || *s == '-')
                        return -EBADMSG;
                if (n == allocated) {
                        size_t a = allocated ? allocated * 2 : 16;
                        gid_t *g = reallocarray(groups, a, sizeof(*g));

                        if (!g)
                                return -ENOMEM;
                        groups = g;
                        allocated = a;
                }
                groups[n++] = (gid_t) v;
                s = end;
        }
        *ret = TAKE_PTR(groups);
        *ret_n = n;
        return 0;
}

static void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

static int read_groups(pid_t pid, gid_t **ret, size_t *ret_n) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        char path[64];
        size_t size = 0;

        (void) snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while (getline(&line, &size, f) >= 0)
                if (strncmp(line, "Groups:", 7) == 0)
                        return parse_groups(line + 7, ret, ret_n);
        return ferror(f) ? -EIO : -EBADMSG;
}

int peer_seccomp_confined(pid_t pid, int pidfd, bool *ret) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        bool filter = false, nnp = false;
        char path[64];
        size_t size = 0;
        int r;

        if (pid <= 0)
                return -ESRCH;
        (void) snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while (getline(&line, &size, f) >= 0) {
                /* "Seccomp:\t2" is SECCOMP_MODE_FILTER; "NoNewPrivs:\t1" */
                if (strncmp(line, "Seccomp:", 8) == 0)
                        filter = strtoul(line + 8, NULL, 10) == 2;
                else if (strncmp(line, "NoNewPrivs:", 11) == 0)
                        nnp = strtoul(line + 11, NULL, 10) == 1;
        }
        if (ferror(f))
                return -EIO;
        if (pidfd >= 0) {
                r = pidfd_check_alive(pidfd);
                if (r < 0)
                        return r;
        }
        *ret = filter && nnp;
        return 0;
}

/* sd-login getters: -ENOMEM and -ESRCH count, "cannot tell" leaves NULL. */
static int login_fact(int (*getter)(pid_t, char **), pid_t pid, char **ret) {
        int r;

        r = getter(pid, ret);
        if (r == -ENOMEM || r == -ESRCH)
                return r;
        if (r < 0)
                *ret = NULL;
        return 0;
}

int peer_identity_get(PeerIdentity *ret, const struct ucred *cred, int pidfd) {
        _cleanup_(peer_identity_donep) PeerIdentity id = PEER_IDENTITY_NULL;
        int r;

        if (!ret || !cred)
                return -EINVAL;
        if (cred->pid <= 0)
                return -ESRCH;          /* the peer lives in a pid namespace we cannot see into */

        id.pid = cred->pid;
        id.uid = cred->uid;
        id.gid = cred->gid;

        r = read_groups(id.pid, &id.groups, &id.n_groups);
        if (r < 0)
                return r;
        r = login_fact(sd_pid_get_unit, id.pid, &id.unit);
        if (r < 0)
                return r;
        r = login_fact(sd_pid_get_slice, id.pid, &id.slice);
        if (r < 0)
                return r;
        r = login_fact(sd_pid_get_cgroup, id.pid, &id.cgroup);
        if (r < 0)
                return r;

        /* Only now: had the pid been reused meanwhile, the original would be gone. */
        if (pidfd >= 0) {
                r = pidfd_check_alive(pidfd);
                if (r < 0)
                        return r;
        }

        *ret = id;
        id = (PeerIdentity) PEER_IDENTITY_NULL;
        return 0;
}

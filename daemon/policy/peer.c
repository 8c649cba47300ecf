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

int peer_identity_copy(PeerIdentity *ret, const PeerIdentity *src) {
        PeerIdentity id = *src;

        id.groups = NULL;
        id.unit = id.slice = id.cgroup = NULL;
        if (src->n_groups > 0) {
                id.groups = calloc(src->n_groups, sizeof(gid_t));
                if (!id.groups)
                        return -ENOMEM;
                memcpy(id.groups, src->groups, src->n_groups * sizeof(gid_t));
        }
        if ((src->unit && !(id.unit = strdup(src->unit))) || (src->slice && !(id.slice = strdup(src->slice))) ||
            (src->cgroup && !(id.cgroup = strdup(src->cgroup)))) {
                peer_identity_done(&id);
                return -ENOMEM;
        }
        *ret = id;
        return 0;
}

static void peer_identity_donep(PeerIdentity *id) {
        peer_identity_done(id);
}

/*
 * 0 if the process behind pidfd still exists (zombies count: their pid is not
 * free for reuse yet), -ESRCH if it is gone.  EPERM only says that we may not
 * signal it, not that it is gone.
 */
int peer_alive(int pidfd) {
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

/* The fields of /proc/PID/status the checks below read. */
typedef struct PeerStatus {
        bool seccomp_filter;            /* "Seccomp:\t2": SECCOMP_MODE_FILTER */
        bool no_new_privs;              /* "NoNewPrivs:\t1" */
        uint64_t cap_eff, cap_prm, cap_amb, cap_bnd;
        uid_t uid;                      /* "Uid:" real uid (the first of four); (uid_t) -1: not read */
} PeerStatus;

static uint64_t parse_cap_mask(const char *s) {
        return strtoull(s + strspn(s, " \t"), NULL, 16);
}

/* Reads pid's status; with pidfd >= 0 the process is checked to be alive after the read. */
static int peer_status(pid_t pid, int pidfd, PeerStatus *ret) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        PeerStatus st = { .uid = (uid_t) -1 };
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
                if (strncmp(line, "Seccomp:", 8) == 0)
                        st.seccomp_filter = strtoul(line + 8, NULL, 10) == 2;
                else if (strncmp(line, "NoNewPrivs:", 11) == 0)
                        st.no_new_privs = strtoul(line + 11, NULL, 10) == 1;
                else if (strncmp(line, "CapEff:", 7) == 0)
                        st.cap_eff = parse_cap_mask(line + 7);
                else if (strncmp(line, "CapPrm:", 7) == 0)
                        st.cap_prm = parse_cap_mask(line + 7);
                else if (strncmp(line, "CapAmb:", 7) == 0)
                        st.cap_amb = parse_cap_mask(line + 7);
                else if (strncmp(line, "CapBnd:", 7) == 0)
                        st.cap_bnd = parse_cap_mask(line + 7);
                else if (strncmp(line, "Uid:", 4) == 0)
                        st.uid = (uid_t) strtoul(line + 4, NULL, 10);
        }
        if (ferror(f))
                return -EIO;
        if (pidfd >= 0) {
                r = peer_alive(pidfd);
                if (r < 0)
                        return r;
        }
        *ret = st;
        return 0;
}

int peer_from_pidfd(int pidfd, pid_t *ret_pid, uid_t *ret_uid) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        char path[64], link[64];
        long pid = 0;
        PeerStatus st;
        size_t size = 0;
        ssize_t k;
        int r;

        /* "anon_inode:[pidfd]", or "pidfd:[N]" on pidfs (6.9) */
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", pidfd);
        k = readlink(path, link, sizeof(link) - 1);
        if (k < 0)
                return -EBADF;
        link[k] = '\0';
        if (!strstr(link, "pidfd"))
                return -EBADF;
        (void) snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
        f = fopen(path, "re");
        if (!f)
                return negative_errno();
        while (getline(&line, &size, f) >= 0)
                if (strncmp(line, "Pid:", 4) == 0)
                        pid = strtol(line + 4, NULL, 10);
        if (pid <= 0)
                return -ESRCH;          /* -1: exited; 0: in a pid namespace we cannot see */
        /* the pid names the pidfd's process only while that is there: peer_status() checks after reading */
        r = peer_status((pid_t) pid, pidfd, &st);
        if (r < 0)
                return r;
        if (st.uid == (uid_t) -1)
                return -EBADMSG;
        *ret_pid = (pid_t) pid;
        *ret_uid = st.uid;
        return 0;
}

int peer_seccomp_confined(pid_t pid, int pidfd, bool *ret) {
        PeerStatus st;
        int r;

        r = peer_status(pid, pidfd, &st);
        if (r < 0)
                return r;
        *ret = st.seccomp_filter && st.no_new_privs;
        return 0;
}

int peer_capability(pid_t pid, int pidfd, unsigned cap, PeerCapability *ret) {
        uint64_t bit = UINT64_C(1) << cap;
        PeerStatus st;
        int r;

        r = peer_status(pid, pidfd, &st);
        if (r < 0)
                return r;
        if ((st.cap_eff | st.cap_prm | st.cap_amb) & bit)
                *ret = PEER_CAPABILITY_HELD;
        else if ((st.cap_bnd & bit) && !st.no_new_privs)
                *ret = PEER_CAPABILITY_GAINABLE;
        else
                *ret = PEER_CAPABILITY_NONE;
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
                r = peer_alive(pidfd);
                if (r < 0)
                        return r;
        }

        *ret = id;
        id = (PeerIdentity) PEER_IDENTITY_NULL;
        return 0;
}

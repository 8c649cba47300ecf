/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ib-svcmgr.c - a stand-in for systemd as the broker's service manager, for tests.
 *
 * Owns: one service (DAEMON [ARGS...]), run as systemd 252 runs a
 * Type=notify service with Restart=on-failure, NotifyAccess=main,
 * FileDescriptorStoreMax=N and one socket unit (ListenSequentialPacket=,
 * SocketMode=0666, FileDescriptorName=), so that restart-without-disruption
 * can be tested without systemd as PID 1.  Not a test itself.
 * Must never: keep an fd systemd would have closed, or count a message
 * systemd would have dropped.
 *
 * Theory of operation (the systemd functions it follows are in
 * systemd's src/core/service.c unless named otherwise):
 *
 *  - The socket: created once, before the first start, and kept across
 *    restarts like a socket unit's (socket_collect_fds(), socket_fdname()).
 *  - Start (service_spawn() -> exec_spawn(); service_collect_fds()): the
 *    socket at fd 3, then the stored fds from 4 in the store's list order.
 *    service_add_fd_store() prepends (LIST_PREPEND), so the newest stored fd
 *    comes first.  LISTEN_FDS, LISTEN_FDNAMES (':'-joined), LISTEN_PID (the
 *    child's pid, set in the child) and NOTIFY_SOCKET are set; the child gets
 *    its own session (its "cgroup": stop signals go to the group).
 *  - NOTIFY_SOCKET (manager_dispatch_notify_fd(), service_notify_message()):
 *    AF_UNIX SOCK_DGRAM with SO_PASSCRED.  A datagram that is truncated (more
 *    than NOTIFY_BUFFER_MAX=4096 bytes or NOTIFY_FD_MAX=768 fds), has no
 *    credentials, holds a NUL, or comes from a pid other than the main pid
 *    (NotifyAccess=main, service_notify_message_authorized()) is dropped and
 *    its fds closed.  READY=1, STOPPING=1, STATUS=, WATCHDOG=1 are noted;
 *    FDSTOREREMOVE=1 with a valid FDNAME= closes every fd of that name;
 *    otherwise FDSTORE=1 stores the fds under the first valid FDNAME= (else
 *    "stored"), watched for EPOLLHUP/EPOLLERR unless FDPOLL=0 (fds epoll
 *    refuses with EPERM, regular files and memfds, are kept unwatched), a
 *    duplicate of a stored fd (same open file, kcmp) is closed and the stored
 *    one keeps its name, and past --fdstore-max the fd and the rest of its
 *    message are closed (service_add_fd_store_set(): -EXFULL).  Fds sent
 *    without FDSTORE=1 are closed.  Pending notifications are always read
 *    before a death is handled, as systemd's notify event source has the
 *    higher priority, so an fd stored just before exiting counts.
 *  - Death of the main process (service_sigchld_event(),
 *    service_enter_dead(), service_shall_restart()): exit 0 and death by
 *    SIGHUP, SIGINT, SIGTERM or SIGPIPE are clean; Restart=on-failure
 *    restarts after anything else, after --restart-sec, keeping the store
 *    (SERVICE_AUTO_RESTART is an activating state).  A clean death that is
 *    not restarted leaves the unit inactive with no job: the store is
 *    released and the harness exits (0 if clean).  Left-over processes of the
 *    service's group get SIGKILL.
 *  - `restart` (a restart job): SIGTERM to the group, SIGKILL after
 *    --timeout-stop-sec, then start again: the job keeps the store.  `stop`:
 *    the same, then the store is released.  Every start counts against the
 *    start limit (StartLimitBurst=5 in StartLimitIntervalSec=10s by
 *    default, as systemd; 0 turns it off); hitting it fails the unit, which
 *    releases the store.
 *  Not modelled: FileDescriptorStorePreserve= (v254), the FDSTORE=
 *  environment variable (v254), watchdog timeouts, ExecStop=.
 *
 * Status lines (--status PATH, appended and flushed, or stdout):
 *   start pid=P start=N fds=K          forked; K stored fds passed
 *   ready pid=P start=N fds=K ms=T     READY=1, T ms after the fork
 *   stopping pid=P | status pid=P text=...
 *   stored name=X poll=yes|no|unpollable n=TOTAL
 *   fdstore-duplicate name=X kept=OLDNAME | fdstore-full name=X
 *   fdstore-disabled | removed name=X fds=K | hup name=X | err name=X
 *   notify-dropped pid=P main=M | notify-ignored pid=P reason=...
 *   exit pid=P status=exited/N|killed/SIG
 *   auto-restart ms=T | start-limit-hit | released fds=K
 *   store name=X fds=K ... store-end fds=TOTAL      (the `list` command)
 *   dead result=success|failure        the harness exits after this line
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define NOTIFY_FD_MAX 768
#define NOTIFY_BUFFER_MAX 4096
#define FDNAME_MAX 255
#define START_LIMIT_MAX 64

typedef enum Restart {
        RESTART_NO,
        RESTART_ON_FAILURE,
        RESTART_ALWAYS,
} Restart;

typedef enum Job {
        JOB_NONE,
        JOB_RESTART,
        JOB_STOP,
} Job;

typedef struct StoredFd StoredFd;
struct StoredFd {
        StoredFd *next;
        int fd;
        bool watched;
        char *name;
};

typedef struct Manager {
        /* options */
        const char *socket_path;
        const char *socket_name;
        const char *control_path;
        const char *status_path;
        unsigned fdstore_max;
        uint64_t restart_usec;
        uint64_t timeout_stop_usec;
        Restart restart;
        unsigned start_limit_burst;
        uint64_t start_limit_interval_usec;
        char **argv;

        /* state */
        int listen_fd;
        int notify_fd;
        int control_fd;
        int epoll_fd;
        int signal_fd;
        char tmpdir[PATH_MAX];
        char notify_path[PATH_MAX];
        bool control_created;
        FILE *status;

        StoredFd *store;
        unsigned n_store;

        pid_t main_pid;
        unsigned n_starts;
        unsigned passed;
        uint64_t fork_usec;
        Job job;
        uint64_t restart_at;
        uint64_t kill_at;
        uint64_t start_times[START_LIMIT_MAX];
        unsigned n_start_times;

        char ctl[1024];
        size_t n_ctl;

        bool done;
        int exit_code;
} Manager;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static void status(Manager *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status(Manager *m, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(m->status, fmt, ap);
        va_end(ap);
        fputc('\n', m->status);
        fflush(m->status);
}

/* fdname_is_valid() of src/basic/fd-util.c: printable ASCII but ':', at most 255. */
static bool fdname_is_valid(const char *s) {
        const char *p;

        for (p = s; *p; p++)
                if (*p < ' ' || *p >= 127 || *p == ':')
                        return false;
        return p - s <= FDNAME_MAX;
}

/* same_fd() of src/basic/fd-util.c: the same open file description. */
static int same_fd(int a, int b) {
        struct stat sa, sb;
        pid_t pid = getpid();
        int r, fa, fb;

        if (a == b)
                return 1;
        r = (int) syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b);
        if (r == 0)
                return 1;
        if (r > 0)
                return 0;
        if (errno != ENOSYS && errno != EACCES && errno != EPERM)
                return -errno;
        if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
                return -errno;
        if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT))
                return 0;
        if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode))
                return 0;
        if (sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino)
                return 0;
        fa = fcntl(a, F_GETFL);
        fb = fcntl(b, F_GETFL);
        if (fa < 0 || fb < 0)
                return -errno;
        return fa == fb;
}

static StoredFd *stored_free(Manager *m, StoredFd *e) {
        if (!e)
                return NULL;
        if (e->watched)
                (void) epoll_ctl(m->epoll_fd, EPOLL_CTL_DEL, e->fd, NULL);
        close(e->fd);
        free(e->name);
        free(e);
        m->n_store--;
        return NULL;
}

static void store_unlink(Manager *m, StoredFd *e) {
        for (StoredFd **p = &m->store; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        break;
                }
        stored_free(m, e);
}

static void store_release(Manager *m) {
        unsigned n = m->n_store;

        while (m->store) {
                StoredFd *e = m->store;

                m->store = e->next;
                stored_free(m, e);
        }
        if (n > 0)
                status(m, "released fds=%u", n);
}

/* service_add_fd_store(): takes fd; 1 stored, 0 duplicate, -EXFULL full, -errno. */
static int store_add(Manager *m, int fd, const char *name, bool do_poll) {
        StoredFd *e;
        int r;

        if (m->n_store >= m->fdstore_max) {
                close(fd);
                return -EXFULL;
        }
        for (e = m->store; e; e = e->next) {
                r = same_fd(e->fd, fd);
                if (r < 0) {
                        close(fd);
                        return r;
                }
                if (r > 0) {
                        status(m, "fdstore-duplicate name=%s kept=%s", name, e->name);
                        close(fd);
                        return 0;
                }
        }
        e = calloc(1, sizeof(*e));
        if (!e || !(e->name = strdup(name))) {
                free(e);
                close(fd);
                return -ENOMEM;
        }
        e->fd = fd;
        if (do_poll) {
                struct epoll_event ev = { .events = 0, .data.ptr = e };

                if (epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, fd, &ev) >= 0)
                        e->watched = true;
                else if (errno != EPERM) {
                        r = -errno;
                        free(e->name);
                        free(e);
                        close(fd);
                        return r;
                }
        }
        e->next = m->store;
        m->store = e;
        m->n_store++;
        status(m, "stored name=%s poll=%s n=%u", name,
               !do_poll ? "no" : e->watched ? "yes" : "unpollable", m->n_store);
        return 1;
}

static void store_remove(Manager *m, const char *name) {
        unsigned n = 0;

        for (StoredFd **p = &m->store; *p;) {
                StoredFd *e = *p;

                if (strcmp(e->name, name) != 0) {
                        p = &e->next;
                        continue;
                }
                *p = e->next;
                stored_free(m, e);
                n++;
        }
        status(m, "removed name=%s fds=%u", name, n);
}

/* on_fd_store_io(): EPOLLHUP or EPOLLERR on a watched stored fd closes it. */
static void store_dispatch(Manager *m) {
        struct epoll_event ev[16];
        int n;

        while ((n = epoll_wait(m->epoll_fd, ev, ELEMENTSOF(ev), 0)) > 0)
                for (int i = 0; i < n; i++) {
                        StoredFd *e = ev[i].data.ptr;

                        status(m, "%s name=%s", ev[i].events & EPOLLERR ? "err" : "hup", e->name);
                        store_unlink(m, e);
                }
}

static const char *find_assignment(char **tags, size_t n, const char *prefix) {
        size_t l = strlen(prefix);

        for (size_t i = 0; i < n; i++)
                if (strncmp(tags[i], prefix, l) == 0)
                        return tags[i] + l;
        return NULL;
}

static bool has_tag(char **tags, size_t n, const char *tag) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(tags[i], tag) == 0)
                        return true;
        return false;
}

static void close_fds(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
}

/* service_notify_message(), for the messages the main pid may send. */
static void notify_message(Manager *m, pid_t pid, char *buf, int *fds, size_t n_fds) {
        char *tags[256], *save = NULL, *t;
        const char *name, *v;
        size_t n = 0;

        for (t = strtok_r(buf, "\n", &save); t && n < ELEMENTSOF(tags); t = strtok_r(NULL, "\n", &save))
                tags[n++] = t;

        if (has_tag(tags, n, "READY=1"))
                status(m, "ready pid=%d start=%u fds=%u ms=%llu", (int) pid, m->n_starts, m->passed,
                       (unsigned long long) ((now_usec() - m->fork_usec) / 1000));
        if (has_tag(tags, n, "STOPPING=1"))
                status(m, "stopping pid=%d", (int) pid);
        v = find_assignment(tags, n, "STATUS=");
        if (v)
                status(m, "status pid=%d text=%s", (int) pid, v);

        name = find_assignment(tags, n, "FDNAME=");
        if (name && !fdname_is_valid(name))
                name = NULL;

        if (has_tag(tags, n, "FDSTOREREMOVE=1")) {
                if (!name)
                        status(m, "notify-ignored pid=%d reason=fdstoreremove-without-valid-fdname", (int) pid);
                else
                        store_remove(m, name);
        } else if (has_tag(tags, n, "FDSTORE=1")) {
                bool do_poll = !has_tag(tags, n, "FDPOLL=0");

                if (m->fdstore_max == 0 && n_fds > 0)
                        status(m, "fdstore-disabled");
                for (size_t i = 0; i < n_fds && m->fdstore_max > 0; i++) {
                        int r = store_add(m, fds[i], name ?: "stored", do_poll);

                        fds[i] = -1;
                        if (r == -EXFULL) {
                                status(m, "fdstore-full name=%s", name ?: "stored");
                                break;
                        }
                        if (r < 0)
                                fprintf(stderr, "ib-svcmgr: cannot store fd: %s\n", strerror(-r));
                }
        }
        close_fds(fds, n_fds);
}

/* manager_dispatch_notify_fd(): every pending datagram. */
static void notify_dispatch(Manager *m) {
        for (;;) {
                char buf[NOTIFY_BUFFER_MAX + 1];
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * NOTIFY_FD_MAX)];
                } control;
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
                struct msghdr mh = {
                        .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = &control, .msg_controllen = sizeof(control),
                };
                int fds[NOTIFY_FD_MAX];
                size_t n_fds = 0;
                struct ucred *ucred = NULL;
                ssize_t n;

                n = recvmsg(m->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                fprintf(stderr, "ib-svcmgr: notify socket: %s\n", strerror(errno));
                        return;
                }
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                        if (c->cmsg_level != SOL_SOCKET)
                                continue;
                        if (c->cmsg_type == SCM_RIGHTS) {
                                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                                for (size_t i = 0; i < k && n_fds < NOTIFY_FD_MAX; i++)
                                        memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        } else if (c->cmsg_type == SCM_CREDENTIALS &&
                                   c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                                ucred = (struct ucred *) CMSG_DATA(c);
                }
                if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                        status(m, "notify-ignored pid=%d reason=truncated", ucred ? (int) ucred->pid : 0);
                        close_fds(fds, n_fds);
                        continue;
                }
                if (!ucred || ucred->pid <= 0) {
                        status(m, "notify-ignored pid=0 reason=no-credentials");
                        close_fds(fds, n_fds);
                        continue;
                }
                if (m->main_pid <= 0 || ucred->pid != m->main_pid) {
                        status(m, "notify-dropped pid=%d main=%d", (int) ucred->pid, (int) m->main_pid);
                        close_fds(fds, n_fds);
                        continue;
                }
                if (n == 0 || memchr(buf, 0, (size_t) n)) {
                        status(m, "notify-ignored pid=%d reason=%s", (int) ucred->pid, n == 0 ? "empty" : "nul");
                        close_fds(fds, n_fds);
                        continue;
                }
                buf[n] = 0;
                notify_message(m, ucred->pid, buf, fds, n_fds);
        }
}

static int move_fd_high(int fd, int above) {
        int r = fcntl(fd, F_DUPFD, above);

        return r < 0 ? -errno : r;
}

/* The child of service_start(): fds in place, environment, exec. */
static _Noreturn void child_exec(Manager *m, int *fds, char **names, unsigned n) {
        sigset_t ss;
        char *joined;
        size_t len = 1;
        char num[32];

        (void) setsid();
        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        (void) signal(SIGPIPE, SIG_DFL);

        /* First above every target, then into 3.., so no target is overwritten early. */
        for (unsigned i = 0; i < n; i++) {
                fds[i] = move_fd_high(fds[i], 3 + (int) n);
                if (fds[i] < 0)
                        _exit(214);
        }
        for (unsigned i = 0; i < n; i++) {
                if (dup2(fds[i], 3 + (int) i) < 0)
                        _exit(214);
                if (fcntl(3 + (int) i, F_SETFD, 0) < 0)
                        _exit(214);
        }
        for (unsigned i = 0; i < n; i++)
                len += strlen(names[i]) + 1;
        joined = calloc(1, len);
        if (!joined)
                _exit(214);
        for (unsigned i = 0; i < n; i++) {
                if (i > 0)
                        strcat(joined, ":");
                strcat(joined, names[i]);
        }
        if (n > 0) {
                snprintf(num, sizeof(num), "%u", n);
                setenv("LISTEN_FDS", num, 1);
                snprintf(num, sizeof(num), "%d", (int) getpid());
                setenv("LISTEN_PID", num, 1);
                setenv("LISTEN_FDNAMES", joined, 1);
        } else {
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("LISTEN_FDNAMES");
        }
        setenv("NOTIFY_SOCKET", m->notify_path, 1);
        /* Nothing else is inherited (exec_child() closes every other fd). */
        (void) syscall(SYS_close_range, 3 + n, ~0U, 0);
        execvp(m->argv[0], m->argv);
        fprintf(stderr, "ib-svcmgr: cannot execute %s: %s\n", m->argv[0], strerror(errno));
        _exit(203); /* EXIT_EXEC */
}

/* unit_test_start_limit(): more than burst starts within the interval fail the unit. */
static bool start_limit_hit(Manager *m) {
        uint64_t now = now_usec();
        unsigned k = 0;

        if (m->start_limit_burst == 0)
                return false;
        for (unsigned i = 0; i < m->n_start_times; i++)
                if (now - m->start_times[i] < m->start_limit_interval_usec)
                        m->start_times[k++] = m->start_times[i];
        m->n_start_times = k;
        if (k >= m->start_limit_burst)
                return true;
        m->start_times[m->n_start_times++] = now;
        return false;
}

static void finish(Manager *m, bool success) {
        store_release(m);
        status(m, "dead result=%s", success ? "success" : "failure");
        m->done = true;
        m->exit_code = success ? 0 : 1;
}

static void service_start(Manager *m) {
        unsigned n = 0, max = m->n_store + 1;
        int *fds = calloc(max, sizeof(int));
        char **names = calloc(max, sizeof(char *));
        pid_t pid;

        m->restart_at = 0;
        if (!fds || !names) {
                fprintf(stderr, "ib-svcmgr: out of memory\n");
                free(fds);
                free(names);
                finish(m, false);
                return;
        }
        if (start_limit_hit(m)) {
                status(m, "start-limit-hit");
                free(fds);
                free(names);
                finish(m, false);
                return;
        }
        /* service_collect_fds(): the socket unit's fds, then the store in list order. */
        if (m->listen_fd >= 0) {
                fds[n] = m->listen_fd;
                names[n++] = (char *) m->socket_name;
        }
        for (StoredFd *e = m->store; e; e = e->next) {
                fds[n] = e->fd;
                names[n++] = e->name;
        }
        fflush(NULL);
        m->fork_usec = now_usec();
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "ib-svcmgr: fork: %s\n", strerror(errno));
                free(fds);
                free(names);
                finish(m, false);
                return;
        }
        if (pid == 0)
                child_exec(m, fds, names, n);
        free(fds);
        free(names);
        (void) setpgid(pid, pid);
        m->main_pid = pid;
        m->n_starts++;
        m->passed = m->n_store;
        status(m, "start pid=%d start=%u fds=%u", (int) pid, m->n_starts, m->passed);
}

static void service_kill(Manager *m, int sig) {
        if (m->main_pid <= 0)
                return;
        if (kill(-m->main_pid, sig) < 0)
                (void) kill(m->main_pid, sig);
}

/* A restart or stop job: SIGTERM now, SIGKILL after the stop timeout. */
static void job_begin(Manager *m, Job job) {
        m->job = job;
        if (m->main_pid <= 0) {
                /* Nothing running (an automatic restart is pending): complete now. */
                if (job == JOB_RESTART) {
                        m->job = JOB_NONE;
                        service_start(m);
                } else
                        finish(m, true);
                return;
        }
        service_kill(m, SIGTERM);
        m->kill_at = now_usec() + m->timeout_stop_usec;
}

static bool clean_death(int code, int st) {
        if (code == CLD_EXITED)
                return st == 0;
        return st == SIGHUP || st == SIGINT || st == SIGTERM || st == SIGPIPE;
}

/* service_sigchld_event() + service_enter_dead() for the main process. */
static void main_died(Manager *m, const siginfo_t *si) {
        pid_t pid = m->main_pid;
        bool clean = clean_death(si->si_code, si->si_status);

        /* Notifications the main process sent before it died still count. */
        notify_dispatch(m);
        if (si->si_code == CLD_EXITED)
                status(m, "exit pid=%d status=exited/%d", (int) pid, si->si_status);
        else
                status(m, "exit pid=%d status=killed/%s", (int) pid, sigabbrev_np(si->si_status) ?: "?");
        (void) kill(-pid, SIGKILL);
        m->main_pid = 0;
        m->kill_at = 0;
        /* Its fds are closed by now: HUPs on stored peers are pending, handle them first. */
        store_dispatch(m);

        switch (m->job) {
        case JOB_RESTART:
                m->job = JOB_NONE;
                service_start(m);
                return;
        case JOB_STOP:
                m->job = JOB_NONE;
                finish(m, true);
                return;
        case JOB_NONE:
                break;
        }
        if (m->restart == RESTART_ALWAYS || (m->restart == RESTART_ON_FAILURE && !clean)) {
                m->restart_at = now_usec() + m->restart_usec;
                status(m, "auto-restart ms=%llu", (unsigned long long) (m->restart_usec / 1000));
                return;
        }
        finish(m, clean);
}

static void reap(Manager *m) {
        for (;;) {
                siginfo_t si = {};

                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                        return;
                if (si.si_pid == m->main_pid)
                        main_died(m, &si);
        }
}

static void list_store(Manager *m) {
        /* One line per name, in the order the next start would pass them. */
        for (StoredFd *e = m->store; e; e = e->next) {
                unsigned k = 0;
                bool seen = false;

                for (StoredFd *f = m->store; f != e; f = f->next)
                        if (strcmp(f->name, e->name) == 0)
                                seen = true;
                if (seen)
                        continue;
                for (StoredFd *f = e; f; f = f->next)
                        if (strcmp(f->name, e->name) == 0)
                                k++;
                status(m, "store name=%s fds=%u", e->name, k);
        }
        status(m, "store-end fds=%u", m->n_store);
}

static void control_line(Manager *m, const char *l) {
        if (strcmp(l, "kill") == 0 || strcmp(l, "kill-between-calls") == 0) {
                /* the second: SIGUSR1, which a broker with IB_CRASH_DEFER=1 turns into SIGKILL between backend calls */
                if (m->main_pid > 0)
                        (void) kill(m->main_pid, l[4] ? SIGUSR1 : SIGKILL);
                else
                        status(m, "error command=%s reason=not-running", l);
        } else if (strcmp(l, "restart") == 0)
                job_begin(m, JOB_RESTART);
        else if (strcmp(l, "stop") == 0)
                job_begin(m, JOB_STOP);
        else if (strcmp(l, "list") == 0)
                list_store(m);
        else if (*l)
                status(m, "error command=%s reason=unknown", l);
}

static void control_dispatch(Manager *m) {
        for (;;) {
                ssize_t n = read(m->control_fd, m->ctl + m->n_ctl, sizeof(m->ctl) - 1 - m->n_ctl);
                char *nl;

                if (n <= 0)
                        return;
                m->n_ctl += (size_t) n;
                m->ctl[m->n_ctl] = 0;
                while ((nl = strchr(m->ctl, '\n'))) {
                        *nl = 0;
                        if (!m->done)
                                control_line(m, m->ctl);
                        memmove(m->ctl, nl + 1, m->n_ctl - (size_t) (nl + 1 - m->ctl) + 1);
                        m->n_ctl -= (size_t) (nl + 1 - m->ctl);
                }
                if (m->n_ctl == sizeof(m->ctl) - 1)
                        m->n_ctl = 0; /* an overlong line: drop it */
        }
}

static void signal_dispatch(Manager *m) {
        struct signalfd_siginfo si;

        while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                        reap(m);
                else if (!m->done && m->job != JOB_STOP)
                        job_begin(m, JOB_STOP);
        }
        reap(m);
}

static int timeout_ms(Manager *m) {
        uint64_t now = now_usec(), next = 0;

        if (m->restart_at)
                next = m->restart_at;
        if (m->kill_at && (!next || m->kill_at < next))
                next = m->kill_at;
        if (!next)
                return -1;
        return next <= now ? 0 : (int) ((next - now + 999) / 1000);
}

static void timers(Manager *m) {
        uint64_t now = now_usec();

        if (m->kill_at && now >= m->kill_at) {
                m->kill_at = 0;
                status(m, "stop-timeout pid=%d", (int) m->main_pid);
                service_kill(m, SIGKILL);
        }
        if (m->restart_at && now >= m->restart_at && m->main_pid <= 0)
                service_start(m);
}

static int setup_socket(Manager *m) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(m->socket_path) >= sizeof(sa.sun_path))
                return fprintf(stderr, "ib-svcmgr: socket path too long: %s\n", m->socket_path), -1;
        strcpy(sa.sun_path, m->socket_path);
        m->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (m->listen_fd < 0)
                return fprintf(stderr, "ib-svcmgr: socket: %s\n", strerror(errno)), -1;
        (void) unlink(m->socket_path);
        if (bind(m->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            chmod(m->socket_path, 0666) < 0 || listen(m->listen_fd, SOMAXCONN) < 0)
                return fprintf(stderr, "ib-svcmgr: cannot listen on %s: %s\n", m->socket_path, strerror(errno)), -1;
        return 0;
}

static int setup(Manager *m) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *tmp = getenv("TMPDIR");
        sigset_t ss;
        int one = 1;

        snprintf(m->tmpdir, sizeof(m->tmpdir), "%s/ib-svcmgr.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(m->tmpdir)) {
                m->tmpdir[0] = 0;
                return fprintf(stderr, "ib-svcmgr: mkdtemp: %s\n", strerror(errno)), -1;
        }
        if (strlen(m->tmpdir) + strlen("/notify") >= sizeof(sa.sun_path))
                return fprintf(stderr, "ib-svcmgr: TMPDIR too long\n"), -1;
        strcpy(m->notify_path, m->tmpdir);
        strcat(m->notify_path, "/notify");
        strcpy(sa.sun_path, m->notify_path);
        m->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (m->notify_fd < 0 || bind(m->notify_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            setsockopt(m->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return fprintf(stderr, "ib-svcmgr: notify socket: %s\n", strerror(errno)), -1;
        /* The sending side may be another uid (a daemon that drops privileges). */
        (void) chmod(m->notify_path, 0777);

        m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (m->epoll_fd < 0)
                return fprintf(stderr, "ib-svcmgr: epoll: %s\n", strerror(errno)), -1;

        if (m->socket_path && setup_socket(m) < 0)
                return -1;

        if (m->control_path) {
                (void) unlink(m->control_path);
                if (mkfifo(m->control_path, 0600) < 0)
                        return fprintf(stderr, "ib-svcmgr: mkfifo %s: %s\n", m->control_path, strerror(errno)), -1;
                m->control_created = true;
                /* O_RDWR: no EOF when a writer goes away. */
                m->control_fd = open(m->control_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (m->control_fd < 0)
                        return fprintf(stderr, "ib-svcmgr: open %s: %s\n", m->control_path, strerror(errno)), -1;
        }

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return -1;
        m->signal_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
        if (m->signal_fd < 0)
                return fprintf(stderr, "ib-svcmgr: signalfd: %s\n", strerror(errno)), -1;
        (void) signal(SIGPIPE, SIG_IGN);
        /* Like PID 1: the service's orphans are ours to reap. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
        return 0;
}

static void teardown(Manager *m) {
        if (m->main_pid > 0) {
                service_kill(m, SIGKILL);
                (void) waitpid(m->main_pid, NULL, 0);
        }
        while (m->store) {
                StoredFd *e = m->store;

                m->store = e->next;
                stored_free(m, e);
        }
        if (m->listen_fd >= 0) {
                close(m->listen_fd);
                (void) unlink(m->socket_path);
        }
        if (m->notify_fd >= 0)
                close(m->notify_fd);
        if (m->control_fd >= 0)
                close(m->control_fd);
        if (m->control_created)
                (void) unlink(m->control_path);
        if (m->epoll_fd >= 0)
                close(m->epoll_fd);
        if (m->signal_fd >= 0)
                close(m->signal_fd);
        if (m->tmpdir[0]) {
                (void) unlink(m->notify_path);
                (void) rmdir(m->tmpdir);
        }
        if (m->status && m->status != stdout)
                fclose(m->status);
}

static void help(void) {
        printf("Usage: ib-svcmgr [OPTIONS] -- DAEMON [ARGS...]\n"
               "Runs DAEMON as systemd 252 runs a Type=notify service with Restart=on-failure,\n"
               "NotifyAccess=main, a file descriptor store and one socket unit.\n\n"
               "  --socket PATH              listen on an AF_UNIX SOCK_SEQPACKET socket (mode 0666)\n"
               "                             passed first in LISTEN_FDS\n"
               "  --socket-name NAME         its name in LISTEN_FDNAMES (default vmm)\n"
               "  --fdstore-max N            FileDescriptorStoreMax= (default 4096; 0: no store)\n"
               "  --restart no|on-failure|always   Restart= (default on-failure)\n"
               "  --restart-sec SEC          RestartSec= (default 0)\n"
               "  --timeout-stop-sec SEC     SIGKILL after SIGTERM (default 90)\n"
               "  --start-limit-burst N      StartLimitBurst= (default 5; 0: no limit)\n"
               "  --start-limit-interval SEC StartLimitIntervalSec= (default 10)\n"
               "  --control PATH             create a FIFO taking lines: kill, kill-between-calls, restart, stop, list\n"
               "  --status PATH              append status lines there (default stdout)\n"
               "  --help                     this text\n"
               "SIGTERM or SIGINT to ib-svcmgr is `stop`.  The header of tests/lib/ib-svcmgr.c\n"
               "describes the status lines.\n");
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        if (!*s || *s == '-')
                return -EINVAL;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_sec(const char *s, uint64_t *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || v < 0 || v > 86400)
                return -EINVAL;
        *ret = (uint64_t) (v * 1e6);
        return 0;
}

static int parse_args(Manager *m, int argc, char **argv) {
        enum { O_SOCKET = 256, O_SOCKET_NAME, O_FDSTORE_MAX, O_RESTART, O_RESTART_SEC, O_TIMEOUT_STOP,
               O_BURST, O_INTERVAL, O_CONTROL, O_STATUS, O_HELP };
        static const struct option opts[] = {
                { "socket", required_argument, NULL, O_SOCKET },
                { "socket-name", required_argument, NULL, O_SOCKET_NAME },
                { "fdstore-max", required_argument, NULL, O_FDSTORE_MAX },
                { "restart", required_argument, NULL, O_RESTART },
                { "restart-sec", required_argument, NULL, O_RESTART_SEC },
                { "timeout-stop-sec", required_argument, NULL, O_TIMEOUT_STOP },
                { "start-limit-burst", required_argument, NULL, O_BURST },
                { "start-limit-interval", required_argument, NULL, O_INTERVAL },
                { "control", required_argument, NULL, O_CONTROL },
                { "status", required_argument, NULL, O_STATUS },
                { "help", no_argument, NULL, O_HELP },
                {}
        };
        unsigned long long v;
        int c;

        while ((c = getopt_long(argc, argv, "+", opts, NULL)) >= 0)
                switch (c) {
                case O_SOCKET:
                        m->socket_path = optarg;
                        break;
                case O_SOCKET_NAME:
                        if (!fdname_is_valid(optarg))
                                return fprintf(stderr, "ib-svcmgr: invalid --socket-name '%s'\n", optarg), -1;
                        m->socket_name = optarg;
                        break;
                case O_FDSTORE_MAX:
                        if (parse_uint(optarg, UINT_MAX, &v) < 0)
                                return fprintf(stderr, "ib-svcmgr: invalid --fdstore-max '%s'\n", optarg), -1;
                        m->fdstore_max = (unsigned) v;
                        break;
                case O_RESTART:
                        if (strcmp(optarg, "no") == 0)
                                m->restart = RESTART_NO;
                        else if (strcmp(optarg, "on-failure") == 0)
                                m->restart = RESTART_ON_FAILURE;
                        else if (strcmp(optarg, "always") == 0)
                                m->restart = RESTART_ALWAYS;
                        else
                                return fprintf(stderr, "ib-svcmgr: invalid --restart '%s'\n", optarg), -1;
                        break;
                case O_RESTART_SEC:
                        if (parse_sec(optarg, &m->restart_usec) < 0)
                                return fprintf(stderr, "ib-svcmgr: invalid --restart-sec '%s'\n", optarg), -1;
                        break;
                case O_TIMEOUT_STOP:
                        if (parse_sec(optarg, &m->timeout_stop_usec) < 0)
                                return fprintf(stderr, "ib-svcmgr: invalid --timeout-stop-sec '%s'\n", optarg), -1;
                        break;
                case O_BURST:
                        if (parse_uint(optarg, START_LIMIT_MAX, &v) < 0)
                                return fprintf(stderr, "ib-svcmgr: invalid --start-limit-burst '%s' (0..%d)\n",
                                               optarg, START_LIMIT_MAX), -1;
                        m->start_limit_burst = (unsigned) v;
                        break;
                case O_INTERVAL:
                        if (parse_sec(optarg, &m->start_limit_interval_usec) < 0)
                                return fprintf(stderr, "ib-svcmgr: invalid --start-limit-interval '%s'\n", optarg), -1;
                        break;
                case O_CONTROL:
                        m->control_path = optarg;
                        break;
                case O_STATUS:
                        m->status_path = optarg;
                        break;
                case O_HELP:
                        help();
                        return 0;
                default:
                        fprintf(stderr, "ib-svcmgr: see --help\n");
                        return -1;
                }
        if (optind >= argc)
                return fprintf(stderr, "ib-svcmgr: no DAEMON given (ib-svcmgr [OPTIONS] -- DAEMON [ARGS...])\n"), -1;
        m->argv = argv + optind;
        return 1;
}

int main(int argc, char **argv) {
        Manager m = {
                .socket_name = "vmm",
                .fdstore_max = 4096,
                .restart = RESTART_ON_FAILURE,
                .timeout_stop_usec = 90ULL * 1000000ULL,
                .start_limit_burst = 5,
                .start_limit_interval_usec = 10ULL * 1000000ULL,
                .listen_fd = -1, .notify_fd = -1, .control_fd = -1, .epoll_fd = -1, .signal_fd = -1,
        };
        int r;

        r = parse_args(&m, argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (m.status_path) {
                m.status = fopen(m.status_path, "ae");
                if (!m.status) {
                        fprintf(stderr, "ib-svcmgr: cannot open %s: %s\n", m.status_path, strerror(errno));
                        return 1;
                }
        } else
                m.status = stdout;
        if (setup(&m) < 0) {
                teardown(&m);
                return 1;
        }

        service_start(&m);
        while (!m.done) {
                struct pollfd p[] = {
                        { .fd = m.notify_fd, .events = POLLIN },
                        { .fd = m.epoll_fd, .events = POLLIN },
                        { .fd = m.signal_fd, .events = POLLIN },
                        { .fd = m.control_fd, .events = POLLIN },
                };

                if (poll(p, ELEMENTSOF(p), timeout_ms(&m)) < 0 && errno != EINTR) {
                        fprintf(stderr, "ib-svcmgr: poll: %s\n", strerror(errno));
                        m.exit_code = 1;
                        break;
                }
                /* systemd's priorities: notifications, then stored fds, then deaths. */
                notify_dispatch(&m);
                store_dispatch(&m);
                signal_dispatch(&m);
                if (!m.done && m.control_fd >= 0)
                        control_dispatch(&m);
                if (!m.done)
                        timers(&m);
        }
        r = m.exit_code;
        teardown(&m);
        return r;
}

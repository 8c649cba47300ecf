/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * svcmgr-util.c - a broker under tests/lib/ib-svcmgr (see svcmgr-util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/soak/svcmgr-util.h"

#define MAX_ARGS 48

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        (void) nanosleep(&ts, NULL);
}

static int write_policy(Svcmgr *m, const char *policy_extra) {
        FILE *f = fopen(m->policy, "we");

        if (!f)
                return -errno;
        fprintf(f, "[Global]\nAuditFile=%s\n\n[Tenant local]\nUser=%u\n%s", m->audit, (unsigned) getuid(),
                policy_extra ?: "");
        return fclose(f) < 0 ? -errno : 0;
}

int svcmgr_start(Svcmgr *m, const char *extra_args, const char *policy_extra) {
        return svcmgr_start_backend(m, "sim", extra_args, policy_extra);
}

int svcmgr_start_backend(Svcmgr *m, const char *backend, const char *extra_args, const char *policy_extra) {
        const char *daemon = getenv("IB_DAEMON"), *harness = getenv("IB_SVCMGR"), *builddir = getenv("IB_BUILDDIR");
        char harness_path[256], backend_arg[64], policy_arg[160], words[512];
        char *argv[MAX_ARGS];
        size_t n = 0;
        int r;

        *m = (Svcmgr) { .pid = 0 };
        if (!daemon || !*daemon)
                return printf("# IB_DAEMON is not set\n"), -ENOENT;
        if (!harness || !*harness) {
                if (!builddir || !*builddir)
                        return printf("# neither IB_SVCMGR nor IB_BUILDDIR is set\n"), -ENOENT;
                (void) snprintf(harness_path, sizeof(harness_path), "%s/tests/lib/ib-svcmgr", builddir);
                harness = harness_path;
        }
        strcpy(m->dir, "/tmp/ib-rsoak.XXXXXX");
        if (!mkdtemp(m->dir))
                return -errno;
        (void) snprintf(m->socket, sizeof(m->socket), "%s/vmm.sock", m->dir);
        (void) snprintf(m->control, sizeof(m->control), "%s/ctl", m->dir);
        (void) snprintf(m->status, sizeof(m->status), "%s/status", m->dir);
        (void) snprintf(m->policy, sizeof(m->policy), "%s/policy.conf", m->dir);
        (void) snprintf(m->audit, sizeof(m->audit), "%s/audit.jsonl", m->dir);
        (void) snprintf(m->log, sizeof(m->log), "%s/daemon.log", m->dir);
        r = write_policy(m, policy_extra);
        if (r < 0)
                return r;
        (void) snprintf(backend_arg, sizeof(backend_arg), "--backend=%s", backend);
        (void) snprintf(policy_arg, sizeof(policy_arg), "--policy=%s", m->policy);
        argv[n++] = (char *) harness;
        argv[n++] = (char *) "--socket";
        argv[n++] = m->socket;
        argv[n++] = (char *) "--control";
        argv[n++] = m->control;
        argv[n++] = (char *) "--status";
        argv[n++] = m->status;
        argv[n++] = (char *) "--start-limit-burst";
        argv[n++] = (char *) "0";
        argv[n++] = (char *) "--";
        argv[n++] = (char *) daemon;
        argv[n++] = backend_arg;
        argv[n++] = (char *) "--admin-bus=none";
        argv[n++] = policy_arg;
        (void) snprintf(words, sizeof(words), "%s", extra_args ?: "");
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w && n < MAX_ARGS - 1; w = strtok_r(NULL, " ", &save))
                argv[n++] = w;
        argv[n] = NULL;

        fflush(NULL);
        m->pid = fork();
        if (m->pid < 0)
                return -errno;
        if (m->pid == 0) {
                int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        if (!svcmgr_wait_ready(m, 1, 20000)) {
                printf("# the broker did not start under %s\n", harness);
                svcmgr_print_log_tail(m, 20);
                return -ETIMEDOUT;
        }
        return 0;
}

int svcmgr_kill(Svcmgr *m) {
        const char *line = m->kill_between_calls ? "kill-between-calls\n" : "kill\n";
        int fd = open(m->control, O_WRONLY | O_CLOEXEC);
        ssize_t k;

        if (fd < 0)
                return -errno;
        k = write(fd, line, strlen(line));
        close(fd);
        return k == (ssize_t) strlen(line) ? 0 : -EIO;
}

/* Reads the status lines written since the last call; false once the harness said "dead". */
static bool status_update(Svcmgr *m) {
        char line[512];
        bool alive = true;
        FILE *f = fopen(m->status, "re");

        if (!f)
                return true;
        if (fseek(f, m->status_off, SEEK_SET) < 0) {
                fclose(f);
                return true;
        }
        while (fgets(line, sizeof(line), f)) {
                unsigned pid, start, fds;
                unsigned long long ms;

                if (!strchr(line, '\n'))
                        break;  /* a line still being written: read it whole next time */
                m->status_off += (long) strlen(line);
                if (sscanf(line, "ready pid=%u start=%u fds=%u ms=%llu", &pid, &start, &fds, &ms) == 4) {
                        m->starts = start;
                        m->ready_ms = ms;
                } else if (strncmp(line, "dead ", 5) == 0)
                        alive = false;
        }
        fclose(f);
        return alive;
}

bool svcmgr_wait_ready(Svcmgr *m, unsigned n, int timeout_ms) {
        for (int waited = 0;; waited++) {
                if (!status_update(m))
                        return m->starts >= n;
                if (m->starts >= n)
                        return true;
                if (waited >= timeout_ms)
                        return false;
                sleep_ms(1);
        }
}

int svcmgr_restart_audit(Svcmgr *m, uint64_t n, RestartAudit *ret) {
        char line[2048];
        FILE *f = fopen(m->audit, "re");
        int r = -ENOENT;

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                const char *p = strstr(line, "restart ");
                RestartAudit a = {};

                if (!p || !strstr(p, "sessions restored"))
                        continue;
                if (sscanf(p, "restart %" SCNu64 ": %" SCNu64 " sessions restored (%" SCNu64 " ended), %" SCNu64
                              " objects, %" SCNu64 " mappings, %" SCNu64 " bytes, %" SCNu64
                              " interrupted requests settled, in %" SCNu64 " us",
                           &a.restart, &a.sessions, &a.ended, &a.objects, &a.mappings, &a.bytes, &a.settled,
                           &a.usec) != 8)
                        continue;
                if (a.restart == n) {
                        *ret = a;
                        r = 0;
                }
        }
        fclose(f);
        return r;
}

void svcmgr_print_log_tail(Svcmgr *m, size_t lines) {
        char *ring[64] = {};
        char line[1024];
        size_t n = 0;
        FILE *f = fopen(m->log, "re");

        if (!f)
                return;
        if (lines > 64)
                lines = 64;
        while (fgets(line, sizeof(line), f)) {
                free(ring[n % lines]);
                ring[n % lines] = strdup(line);
                n++;
        }
        fclose(f);
        for (size_t i = n > lines ? n - lines : 0; i < n; i++) {
                printf("#   %s", ring[i % lines] ?: "\n");
                free(ring[i % lines]);
                ring[i % lines] = NULL;
        }
}

static bool log_has_sanitizer_report(Svcmgr *m) {
        char line[1024];
        bool found = false;
        FILE *f = fopen(m->log, "re");

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, "ERROR: AddressSanitizer") || strstr(line, "ERROR: LeakSanitizer") ||
                        strstr(line, "runtime error:");
        fclose(f);
        return found;
}

static void remove_dir(Svcmgr *m) {
        const char *files[] = { m->policy, m->audit, m->log, m->status, m->control, m->socket };

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
                (void) unlink(files[i]);
        (void) rmdir(m->dir);
}

int svcmgr_stop(Svcmgr *m) {
        int fd, status = 0, r = 0;
        pid_t p;

        if (m->pid <= 0)
                return 0;
        fd = open(m->control, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) {
                (void) !write(fd, "stop\n", 5);
                close(fd);
        } else
                (void) kill(m->pid, SIGTERM);
        for (int i = 0; i < 30000; i++) {
                p = waitpid(m->pid, &status, WNOHANG);
                if (p != 0)
                        break;
                sleep_ms(1);
        }
        if (p == 0) {
                printf("# the harness did not stop in 30 s\n");
                (void) kill(m->pid, SIGKILL);
                (void) waitpid(m->pid, &status, 0);
                r = -1;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                printf("# the harness ended with status 0x%x (the broker did not stop cleanly)\n", (unsigned) status);
                r = -1;
        }
        m->pid = 0;
        if (log_has_sanitizer_report(m)) {
                printf("# a sanitizer report in the daemon's log (%s)\n", m->log);
                r = -1;
        }
        if (r < 0)
                svcmgr_print_log_tail(m, 40);
        if (r == 0 && !getenv("IB_SOAK_KEEP_LOG"))
                remove_dir(m);
        else
                printf("# the broker's log, audit and status are in %s\n", m->dir);
        return r;
}

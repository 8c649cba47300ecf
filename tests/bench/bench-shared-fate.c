/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-shared-fate.c - what an idle session costs the broker, and what a
 * tenant that never reads its replies costs everyone else.
 *
 * 1. Memory and fds per idle session: the daemon's private memory
 *    (/proc/PID/smaps_rollup: Private_Clean + Private_Dirty) and its open
 *    fds, before and after 1,000 sessions that said Hello and then nothing.
 *    Target: at most 16 KiB and 2 fds per session.
 * 2. Latency of another tenant: the median and the maximum of GetCapabilities
 *    round trips of tenant "b", idle and then while tenant "a" (another uid,
 *    run as a child that switched to it) keeps every session it may have
 *    (SessionsMax) sending requests and never reading a reply, until the
 *    broker stops reading it (ReplyMemoryMax, the per-session queue).
 *    Target: median at most 2x, maximum at most 10x the idle figures.
 *
 * Needs root (for the second uid); prints one line per row with the ratio,
 * the target and whether it is met.  Not a test: it asserts nothing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/iommu-broker.h"
#include "tests/bench/bench.h"
#include "tests/lib/util-broker.h"

#define IDLE_SESSIONS 1000
#define PROBES 2000
#define NOBODY 65534

static long private_kib(pid_t pid) {
        char path[64], line[256];
        long sum = 0, v;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 || sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
                        sum += v;
        fclose(f);
        return sum;
}

/* Median and maximum of n GetCapabilities round trips, in microseconds. */
static int probe(const char *socket_path, double *ret_median, double *ret_max) {
        static double t[PROBES];
        ib_client *c = NULL;
        ib_caps caps;

        if (ib_client_connect(socket_path, "probe", &c) < 0)
                return -1;
        for (int i = 0; i < PROBES; i++) {
                double t0 = bench_now();

                if (ib_caps_get(c, &caps) < 0) {
                        ib_client_free(c);
                        return -1;
                }
                t[i] = (bench_now() - t0) * 1e6;
        }
        ib_client_free(c);
        qsort(t, PROBES, sizeof(t[0]), bench_cmp_double);
        *ret_median = t[PROBES / 2];
        *ret_max = t[PROBES - 1];
        return 0;
}

/*
 * Tenant "a": every session it may have says Hello, then writes
 * GetCapabilities requests as fast as the socket takes them and reads
 * nothing, until the broker stops reading it.  Raw frames: a well-behaved
 * library would never have more than max_requests_in_flight outstanding.
 */
static void flood(const char *socket_path, int sessions) {
        /* Request { id = 1; caps = {} }: field 1 varint, field 11 empty message */
        static const uint8_t caps[] = { 0x08, 0x01, 0x5a, 0x00 };
        static const uint8_t hello[] = { 0x08, 0x01, 0x52, 0x02, 0x08, 0x01 };        /* hello = { protocol_version = 1 } */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fds[64], n = 0;

        if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                _exit(2);
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                _exit(2);
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
        for (int i = 0; i < sessions && i < 64; i++) {
                int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        continue;
                (void) send(fd, hello, sizeof(hello), MSG_NOSIGNAL);
                fds[n++] = fd;
        }
        for (;;) {
                bool sent = false;

                for (int i = 0; i < n; i++)
                        sent |= send(fds[i], caps, sizeof(caps), MSG_NOSIGNAL | MSG_DONTWAIT) > 0;
                if (!sent)
                        usleep(1000);   /* every socket full: the broker stopped reading all of them */
        }
}

static void row(const char *what, double value, const char *unit, double target, bool lower_is_better) {
        bool ok = lower_is_better ? value <= target : value >= target;

        printf("%-58s %10.2f %-6s target %s %.2f: %s\n", what, value, unit, lower_is_better ? "<=" : ">=", target,
               ok ? "met" : "MISSED");
}

int main(void) {
        char dir[] = "/tmp/ib-bench.XXXXXX", policy[128], args[256];
        struct rlimit rl;
        ib_client **idle;
        double med0, max0, med1, max1;
        long mem0, mem1;
        int fds0, fds1, n = 0;
        TestBroker b;
        pid_t child;
        FILE *f;

        if (geteuid() != 0) {
                printf("bench-shared-fate: needs root (a second uid plays the other tenant)\n");
                return 77;
        }
        /* the daemon inherits it: room for the idle sessions */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (!mkdtemp(dir))
                return 1;
        snprintf(policy, sizeof(policy), "%s/policy.conf", dir);
        f = fopen(policy, "we");
        if (!f)
                return 1;
        fprintf(f, "[Tenant a]\nUser=%d\nSessionsMax=16\nReplyMemoryMax=1M\n\n[Tenant b]\nUser=0\n"
                "SessionsMax=%d\nFileDescriptorsMax=%d\n", NOBODY, IDLE_SESSIONS + 16, 4 * IDLE_SESSIONS);
        fclose(f);
        snprintf(args, sizeof(args), "--policy=%s --max-connections-per-uid=%d --socket-mode=0666", policy,
                 IDLE_SESSIONS + 64);
        if (test_broker_start(&b, args) < 0)
                return 1;

        /* 1. idle sessions */
        idle = calloc(IDLE_SESSIONS, sizeof(*idle));
        usleep(200000);
        mem0 = private_kib(b.pid);
        fds0 = test_count_fds(b.pid);
        for (int i = 0; i < IDLE_SESSIONS; i++)
                n += ib_client_connect(b.socket, "idle", &idle[i]) == 0;
        usleep(200000);
        mem1 = private_kib(b.pid);
        fds1 = test_count_fds(b.pid);
        printf("# %d idle sessions: private memory %ld -> %ld KiB, fds %d -> %d\n", n, mem0, mem1, fds0, fds1);
        row("memory per idle session (KiB)", (double) (mem1 - mem0) / n, "KiB", 16, true);
        row("fds per idle session", (double) (fds1 - fds0) / n, "fds", 2, true);
        for (int i = 0; i < IDLE_SESSIONS; i++)
                ib_client_free(idle[i]);
        free(idle);
        usleep(300000);

        /* 2. another tenant's latency while one never reads */
        if (probe(b.socket, &med0, &max0) < 0)
                return 1;
        child = fork();
        if (child == 0)
                flood(b.socket, 16);
        sleep(1);
        if (probe(b.socket, &med1, &max1) < 0)
                return 1;
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        printf("# GetCapabilities of tenant b: idle median %.1f us max %.1f us; while tenant a never reads: "
               "median %.1f us max %.1f us\n", med0, max0, med1, max1);
        row("other tenant's median latency, never-reading tenant (x idle)", med1 / med0, "x", 2, true);
        row("other tenant's max latency, never-reading tenant (x idle)", max1 / max0, "x", 10, true);
        test_broker_stop(&b);
        unlink(policy);
        rmdir(dir);
        return 0;
}

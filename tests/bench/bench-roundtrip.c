/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-roundtrip.c - what a request through the broker costs, as ratios.
 *
 * Baseline: a bare SOCK_SEQPACKET round trip of a 32-byte message to an
 * echo process (what any broker, a process of its own, must pay; as the
 * guest's vmbench measures it); beside it, the round trip to an echo
 * thread, which switches no address space, and to an echo process that
 * waits in epoll_wait() as a daemon's loop does (what a broker serving many
 * sockets from one loop cannot go below).  Then, with a real iommu-brokerd
 * --backend=sim on a temporary socket: GetCapabilities (protocol and
 * dispatch only), a Map + Unmap pair with a memfd (fd passing, memfd checks,
 * bookkeeping), and the same maps in Batches of 64; then a Map alone (its
 * Unmap not timed) by fd and by a MemRegister handle, and maps by handle in
 * Batches of 64; and an IoasAlloc or IoasFree with no other IOAS and with
 * 900 held in the session (with the fd store every such verb writes a
 * record of what it changed: its cost must not grow with the session's
 * objects); and a Map alone by handle into the oldest of 16,001 IOASes (a
 * request finds the objects it names by id in O(1): its cost must not grow
 * with them either).  Everything runs on one CPU (IB_BENCH_CPU, default 0;
 * "none": where the scheduler likes): this program, its echo thread and the
 * broker (started here; one behind $IB_BENCH_SOCKET is pinned by its
 * starter, or here when $IB_BENCH_PID names it), as the guest's vmbench
 * pins them, so that every round trip
 * pays the same switch on one CPU and none a wakeup on another, which on a
 * small VM costs more than the whole request.  The machine's speed swings
 * from one second to the next, so the run is cut in rounds (ROUNDS, 7 by
 * default), and in each round
 * every row is measured right after a bare round trip of its own: a row
 * prints the median of its microseconds per operation, the median of its
 * rounds' ratios to their baselines with their range, and its target where
 * the issue set one (GetCapabilities at most 1.2x, a Map alone by handle at
 * most 1.3x, in a Batch of 64 at most 0.1x), met or not by the median.
 * Last, the syscalls a request adds besides its round trip, each alone in
 * a loop on the same CPU: the loop's epoll_wait() on a ready socket, and
 * the F_GET_SEALS and fstat() a Map by handle makes (seals and size may
 * change after MemRegister), as a share of the bare round trip.
 * `make bench` runs it; it is not a test and asserts nothing.
 *
 * Usage: bench-roundtrip [ITERATIONS [ROUNDS]]   (default 14000 7: iterations per row, over all rounds)
 */
#define _GNU_SOURCE 1                   /* sched_setaffinity() */
#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/bench/bench.h"
#include "tests/lib/util-broker.h"

static void *echo(void *arg) {
        int fd = *(int *) arg;
        char buf[64];
        ssize_t n;

        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
                if (send(fd, buf, (size_t) n, MSG_NOSIGNAL) < 0)
                        break;
        return NULL;
}

/*
 * echo() as a daemon's loop serves a socket: wait in epoll_wait(), then read
 * into a 64 KiB buffer and answer, the least any broker that serves many
 * sockets from one loop pays per request.
 */
static void echo_epoll(int fd) {
        static char buf[65536];
        struct epoll_event ev = { .events = EPOLLIN };
        int ep = epoll_create1(EPOLL_CLOEXEC);
        ssize_t n;

        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                return;
        while (epoll_wait(ep, &ev, 1, -1) == 1) {
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n <= 0 || send(fd, buf, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                        break;
        }
}

typedef enum Echo {
        ECHO_THREAD,            /* no address space switch */
        ECHO_PROCESS,           /* the other end has an address space of its own, as the broker has */
        ECHO_EPOLL,             /* a process that waits in epoll_wait(), as the broker's loop does */
} Echo;

/* Seconds per round trip of a 32-byte datagram to an echo of kind how; < 0 on failure. */
static double bare_roundtrip(int n, Echo how) {
        bool process = how != ECHO_THREAD;
        int sv[2];
        char buf[32] = "ping";
        pthread_t t;
        pid_t pid = 0;
        double t0, dt;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        if (process) {
                pid = fork();
                if (pid < 0)
                        return -1;
                if (pid == 0) {
                        close(sv[0]);
                        if (how == ECHO_EPOLL)
                                echo_epoll(sv[1]);
                        else
                                (void) echo(&sv[1]);
                        _exit(0);
                }
        } else if (pthread_create(&t, NULL, echo, &sv[1]) != 0)
                return -1;
        t0 = bench_now();
        for (int i = 0; i < n; i++) {
                if (send(sv[0], buf, sizeof(buf), 0) < 0 || recv(sv[0], buf, sizeof(buf), 0) <= 0)
                        return -1;
        }
        dt = bench_now() - t0;
        close(sv[0]);
        if (process)
                (void) waitpid(pid, NULL, 0);
        else
                pthread_join(t, NULL);
        close(sv[1]);
        return dt / n;
}

#define RW_FIXED (IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA)

/* Seconds of one Map alone (by fd, or by mem with fd < 0), its Unmap outside the clock; < 0 on failure. */
static double map_alone(ib_client *c, uint32_t ioas, int fd, uint32_t mem, int n) {
        double spent = 0;

        for (int i = 0; i < n; i++) {
                uint64_t iova = 0x100000, len;
                double t0 = bench_now();
                int r = fd >= 0 ? ib_map(c, ioas, fd, 0, 4096, RW_FIXED, &iova)
                                : ib_map_mem(c, ioas, mem, 0, 4096, RW_FIXED, 0x100000, &iova);

                spent += bench_now() - t0;
                if (r < 0 || ib_unmap(c, ioas, iova, 4096, &len) < 0)
                        return -1;
        }
        return spent / n;
}

/*
 * Seconds per map of Batches of 64 maps (by fd, or by mem with fd < 0): the
 * Batch made, run and freed; the Unmap of its 64 pages after it is not
 * timed, as a Map alone's is not.  < 0 on failure.
 */
static double map_batched(ib_client *c, uint32_t ioas, int fd, uint32_t mem, int n) {
        double spent = 0;

        for (int i = 0; i < n / 64; i++) {
                double t0 = bench_now();
                ib_batch *bt = NULL;
                uint64_t len;
                int r;

                ib_batch_new(&bt);
                for (int k = 0; k < 64; k++) {
                        uint64_t off = (uint64_t) k * 4096;

                        if (fd >= 0)
                                ib_batch_add_map(bt, ioas, fd, off, 4096, RW_FIXED, 0x100000 + off);
                        else
                                ib_batch_add_map_mem(bt, ioas, mem, off, 4096, RW_FIXED, 0x100000 + off);
                }
                r = ib_batch_run(c, bt, false);
                ib_batch_free(bt);
                spent += bench_now() - t0;
                if (r < 0 || ib_unmap(c, ioas, 0x100000, 64 * 4096, &len) < 0)
                        return -1;
        }
        return spent / ((n / 64) * 64);
}

enum {
        ROW_CAPS,
        ROW_MAP_FD_PAIR,
        ROW_BATCH_FD,
        ROW_ALONE_FD,
        ROW_ALONE_MEM,
        ROW_BATCH_MEM,
        ROW_IOAS_FEW,
        ROW_IOAS_MANY,
        ROW_ALONE_MEM_MANY,
        N_ROWS,
};

static const struct {
        const char *name;
        double target;          /* 0: none */
} rows[N_ROWS] = {
        [ROW_CAPS] = { "GetCapabilities", 1.2 },
        [ROW_MAP_FD_PAIR] = { "Map or Unmap (memfd, sim)", 0 },
        [ROW_BATCH_FD] = { "Map in a Batch of 64 (sim)", 0 },
        [ROW_ALONE_FD] = { "Map alone, by fd (sim)", 0 },
        [ROW_ALONE_MEM] = { "Map alone, by handle (sim)", 1.3 },
        [ROW_BATCH_MEM] = { "Map in a Batch of 64, by handle", 0.1 },
        [ROW_IOAS_FEW] = { "IoasAlloc or IoasFree", 0 },
        [ROW_IOAS_MANY] = { "  the same, 900 IOASes held", 0 },
        [ROW_ALONE_MEM_MANY] = { "Map alone by handle, 16k IOASes", 0 },
};

/* IOASes the session holds besides while ROW_IOAS_MANY runs (within the default ObjectsMax=). */
#define IOAS_HELD 900
/* ... and while ROW_ALONE_MEM_MANY maps into the oldest (the default ObjectsMax= is 16384). */
#define IOAS_HELD_MAP 16000

#define MAX_ROUNDS 31

typedef struct Bench {
        ib_client *c;
        uint32_t ioas, mem;
        int fd;
} Bench;

/*
 * Seconds per IoasAlloc or IoasFree (n pairs), with held more IOASes in the
 * session (made before the clock, freed after it): what a verb that changes
 * the session's objects costs as they grow (with the fd store, its record).
 */
/* Makes up to n IOASes into ids; how many it made (n unless one failed). */
static int ioases_hold(ib_client *c, uint32_t *ids, int n) {
        int k = 0;

        while (k < n && ib_ioas_alloc(c, NULL, &ids[k]) >= 0)
                k++;
        return k;
}

/* Frees the k IOASes ioases_hold() made, newest first. */
static void ioases_free(ib_client *c, const uint32_t *ids, int k) {
        while (k > 0)
                (void) ib_ioas_free(c, ids[--k]);
}

static double ioas_churn(ib_client *c, int held, int n) {
        uint32_t ids[IOAS_HELD], id;
        double t0, spent = -1;
        int k = ioases_hold(c, ids, held);

        if (k < held)
                goto out;
        t0 = bench_now();
        for (int i = 0; i < n; i++)
                if (ib_ioas_alloc(c, NULL, &id) < 0 || ib_ioas_free(c, id) < 0)
                        goto out;
        spent = (bench_now() - t0) / n / 2;
out:
        ioases_free(c, ids, k);
        return spent;
}

/*
 * Seconds of one Map alone by handle into the session's first IOAS while it
 * holds held IOASes made after it (before the clock; freed after it): a
 * request that names objects finds them in O(1) however many there are.
 */
static double map_alone_among(const Bench *x, int held, int n) {
        uint32_t *ids = calloc((size_t) held, sizeof(*ids));
        double spent = -1;
        int k;

        if (!ids)
                return -1;
        k = ioases_hold(x->c, ids, held);
        if (k == held)
                spent = map_alone(x->c, x->ioas, -1, x->mem, n);
        ioases_free(x->c, ids, k);
        free(ids);
        return spent;
}

/* Seconds per operation of row over n iterations; < 0 on failure. */
static double measure(const Bench *x, int row, int n) {
        ib_caps caps;
        double t0;

        switch (row) {
        case ROW_CAPS:
                t0 = bench_now();
                for (int i = 0; i < n; i++)
                        if (ib_caps_get(x->c, &caps) < 0)
                                return -1;
                return (bench_now() - t0) / n;
        case ROW_MAP_FD_PAIR:
                t0 = bench_now();
                for (int i = 0; i < n; i++) {
                        uint64_t iova = 0x100000, len;

                        if (ib_map(x->c, x->ioas, x->fd, 0, 4096, RW_FIXED, &iova) < 0 ||
                            ib_unmap(x->c, x->ioas, iova, 4096, &len) < 0)
                                return -1;
                }
                return (bench_now() - t0) / n / 2;
        case ROW_BATCH_FD:
                return map_batched(x->c, x->ioas, x->fd, 0, n);
        case ROW_ALONE_FD:
                return map_alone(x->c, x->ioas, x->fd, 0, n);
        case ROW_ALONE_MEM:
                return map_alone(x->c, x->ioas, -1, x->mem, n);
        case ROW_IOAS_FEW:
                return ioas_churn(x->c, 0, n);
        case ROW_IOAS_MANY:
                return ioas_churn(x->c, IOAS_HELD, n);
        case ROW_BATCH_MEM:
                return map_batched(x->c, x->ioas, -1, x->mem, n);
        case ROW_ALONE_MEM_MANY:
                return map_alone_among(x, IOAS_HELD_MAP, n);
        default:
                return -1;
        }
}

/* Seconds per epoll_wait() on a ready socket (-1 on failure): what the broker's loop pays per request. */
static double epoll_ready(int n) {
        struct epoll_event ev = { .events = EPOLLIN };
        int sv[2], ep;
        double t0, t = -1;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0 && write(sv[1], "x", 1) == 1) {
                t0 = bench_now();
                for (int i = 0; i < n; i++)
                        if (epoll_wait(ep, &ev, 1, 0) != 1)
                                break;
                t = (bench_now() - t0) / n;
        }
        if (ep >= 0)
                close(ep);
        close(sv[0]);
        close(sv[1]);
        return t;
}

/* Seconds per F_GET_SEALS and fstat() of memfd: the checks of a Map by handle. */
static double memfd_checks(int memfd, int n) {
        struct stat st;
        double t0 = bench_now();

        for (int i = 0; i < n; i++)
                if (fcntl(memfd, F_GET_SEALS) < 0 || fstat(memfd, &st) < 0)
                        return -1;
        return (bench_now() - t0) / n;
}

/* Puts pid's thread (0: this one, before it starts any) on CPU cpu alone. */
static int pin(pid_t pid, int cpu) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(pid, sizeof(set), &set);
}

int main(int argc, char **argv) {
        int n = argc > 1 ? atoi(argv[1]) : 14000, rounds = argc > 2 ? atoi(argv[2]) : 7, per;
        double base[N_ROWS][MAX_ROUNDS], us[N_ROWS][MAX_ROUNDS], ratio[N_ROWS][MAX_ROUNDS], all_base[MAX_ROUNDS * N_ROWS];
        double thread_base[MAX_ROUNDS], epoll_base[MAX_ROUNDS], epoll_ratio[MAX_ROUNDS];
        ib_ioas_alloc_args args = { 0 };
        Bench x = { .fd = -1 };
        const char *cpu;
        TestBroker b;
        int r;

        if (rounds < 1 || rounds > MAX_ROUNDS || n / rounds < 64) {
                fprintf(stderr, "usage: bench-roundtrip [ITERATIONS [ROUNDS (1-%d)]], at least 64 iterations a round\n",
                        MAX_ROUNDS);
                return 1;
        }
        per = n / rounds / 64 * 64;     /* whole Batches */
        cpu = getenv("IB_BENCH_CPU") ? getenv("IB_BENCH_CPU") : "0";
        if (strcmp(cpu, "none") != 0 && pin(0, atoi(cpu)) < 0) {
                fprintf(stderr, "cannot pin to CPU %s: %s\n", cpu, strerror(errno));
                return 1;
        }
        /* $IB_BENCH_SOCKET: a broker started elsewhere (bench-fdstore.sh: under the service-manager harness) */
        if (getenv("IB_BENCH_SOCKET")) {
                test_broker_attach(&b, getenv("IB_BENCH_SOCKET"));
                r = 0;
        } else
                r = test_broker_start(&b, "--log-level=err");
        if (r < 0 || ib_client_connect(b.socket, "bench", &x.c) < 0 || ib_ioas_alloc(x.c, &args, &x.ioas) < 0) {
                fprintf(stderr, "cannot start or reach the broker: %s\n", strerror(-r));
                return 1;
        }
        /* a broker started elsewhere: its pid from $IB_BENCH_PID (its starter may pin it instead) */
        if (getenv("IB_BENCH_PID") && strcmp(cpu, "none") != 0 && pin(atoi(getenv("IB_BENCH_PID")), atoi(cpu)) < 0) {
                fprintf(stderr, "cannot pin the broker to CPU %s: %s\n", cpu, strerror(errno));
                return 1;
        }
        x.fd = test_memfd("bench", 64 * 4096);
        if (ib_mem_register(x.c, x.fd, &x.mem) < 0)
                return 1;

        for (int k = 0; k < rounds; k++) {
                double b0;

                thread_base[k] = bare_roundtrip(per, ECHO_THREAD);
                b0 = bare_roundtrip(per, ECHO_PROCESS);
                epoll_base[k] = bare_roundtrip(per, ECHO_EPOLL);
                if (b0 <= 0 || epoll_base[k] <= 0) {
                        fprintf(stderr, "a bare round trip failed\n");
                        return 1;
                }
                epoll_ratio[k] = epoll_base[k] / b0;
                for (int row = 0; row < N_ROWS; row++) {
                        base[row][k] = bare_roundtrip(per, ECHO_PROCESS);
                        us[row][k] = measure(&x, row, per);
                        if (base[row][k] <= 0 || us[row][k] < 0) {
                                fprintf(stderr, "%s: a measurement failed\n", rows[row].name);
                                return 1;
                        }
                        ratio[row][k] = us[row][k] / base[row][k];
                        all_base[k * N_ROWS + row] = base[row][k];
                }
        }

        printf("# %d rounds of %d iterations a row, each row right after a bare round trip of its own, on CPU %s;"
               " figures: medians over the rounds, ratio range in parentheses\n", rounds, per, cpu);
        printf("%-32s %8.2f us  1.0x (baseline: to an echo process)\n", "bare SOCK_SEQPACKET round trip",
               bench_median(all_base, (size_t) rounds * N_ROWS, NULL, NULL) * 1e6);
        printf("%-32s %8.2f us  (to an echo thread: no address space switch; for comparison)\n", "  the same",
               bench_median(thread_base, rounds, NULL, NULL) * 1e6);
        {
                double lo, hi, m = bench_median(epoll_ratio, rounds, &lo, &hi);

                printf("%-32s %8.2f us  %.3fx (%.3f-%.3f)  (to an echo process that waits in epoll_wait, as any"
                       " daemon's loop: the floor of a brokered request)\n", "  the same",
                       bench_median(epoll_base, rounds, NULL, NULL) * 1e6, m, lo, hi);
        }
        for (int row = 0; row < N_ROWS; row++) {
                double lo, hi, m = bench_median(ratio[row], rounds, &lo, &hi);

                printf("%-32s %8.2f us  %.3fx (%.3f-%.3f)", rows[row].name, bench_median(us[row], rounds, NULL, NULL) * 1e6,
                       m, lo, hi);
                if (rows[row].target > 0)
                        printf("  target <= %.1fx: %s", rows[row].target, m <= rows[row].target ? "met" : "NOT met");
                printf("\n");
        }
        {
                double few = bench_median(us[ROW_IOAS_FEW], rounds, NULL, NULL);
                double many = bench_median(us[ROW_IOAS_MANY], rounds, NULL, NULL);

                printf("# IoasAlloc or IoasFree with %d IOASes held: %.2fx its cost with none\n", IOAS_HELD,
                       many / few);
                few = bench_median(us[ROW_ALONE_MEM], rounds, NULL, NULL);
                many = bench_median(us[ROW_ALONE_MEM_MANY], rounds, NULL, NULL);
                printf("# a Map alone by handle into the oldest of %d IOASes: %.2fx its cost with one\n",
                       IOAS_HELD_MAP + 1, many / few);
        }
        {
                double bare = bench_median(all_base, (size_t) rounds * N_ROWS, NULL, NULL);
                double ep = epoll_ready(n), checks = memfd_checks(x.fd, n);

                printf("# the syscalls a request adds besides its round trip, each alone in a loop on the same CPU:\n");
                printf("%-32s %8.2f us  %.3fx the bare round trip\n", "  epoll_wait, a ready socket", ep * 1e6,
                       ep / bare);
                printf("%-32s %8.2f us  %.3fx the bare round trip\n", "  F_GET_SEALS + fstat of a memfd",
                       checks * 1e6, checks / bare);
        }
        close(x.fd);
        ib_client_free(x.c);
        test_broker_stop(&b);
        return 0;
}

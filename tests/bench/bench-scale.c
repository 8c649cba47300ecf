/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-scale.c - whether the cost of a Map stays flat as an IOAS fills up.
 *
 * A real iommu-brokerd --backend=sim on a temporary socket and one client
 * with one IOAS and one small memfd.  The client fills the IOAS with 4 KiB
 * read-only maps of the memfd's pages (they share its 64 pages) at
 * descending fixed IOVAs, a free page above each, in Batches of 64.  At 1k,
 * 10k, 100k and 1M live mappings it measures the cost of a Map there two
 * ways, ROUNDS times each: WINDOW more maps below the lowest (timed), then
 * one Unmap of them (not timed), as a VMM maps its RAM in order and as the
 * issue's target row says; and WINDOW maps into the free pages between
 * live mappings, spread over all of them by a stride (timed), then their
 * Unmaps (not timed), as maps at random places land.  The median round is
 * the figure.  Prints each as microseconds per map and as a multiple of the
 * 1k figure, the target (1M below the lowest: at most 1.25x the 1k cost;
 * the spread maps, which descend to nodes no cache holds, have none) and
 * whether it is met, and what a mapping costs the daemon in memory (its RSS
 * grown from the empty IOAS to 1M mappings, over 1M: the broker's record
 * and the sim's model of the kernel's area together).
 *
 * The broker it starts and this program run on one CPU (IB_BENCH_CPU,
 * default 0; "none": anywhere), as bench-roundtrip's do: a wakeup on another
 * CPU of a small VM costs more than a Map.
 *
 * `make bench` runs it; it is not a test and asserts nothing.  An argument
 * lowers the largest size (e.g. 100000) for a quick run.  With
 * $IB_BENCH_SOCKET it uses a broker started elsewhere ($IB_BENCH_BACKEND
 * names its backend in the output, $IB_BENCH_PID its process for the memory
 * row): `make vmbench` runs it so against the kernel backend in the guest
 * (tests/vm/guest-suite), with no device attached (the IOAS has no domain:
 * what grows is the broker's records and the kernel's own IOVA tree).
 */
#define _GNU_SOURCE 1                   /* sched_setaffinity() */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/bench/bench.h"
#include "tests/lib/util-broker.h"

#define PAGE 4096ULL
#define BATCH 64
#define WINDOW (16 * BATCH)
#define ROUNDS 31
#define MEMFD_PAGES 64
#define TOP (1ULL << 40)                /* the first map ends here; the rest go below */
#define TARGET 1.25
#define STRIDE 7919ULL                  /* a prime: no size measured is a multiple, so a window's holes differ */

static long rss_kib(pid_t pid) {
        char path[64], line[256];
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
                        break;
        fclose(f);
        return v;
}

/* The i-th mapping's IOVA: descending, each with a free page above it (the holes measure_between() fills). */
static uint64_t iova_of(uint64_t i) {
        return TOP - 2 * (i + 1) * PAGE;
}

/* Maps [from, to) (to - from a multiple of BATCH), in Batches of 64; -errno. */
/* Runs b (stopping at the first error), then frees it: 0, or the first operation's error. */
static int batch_run_free(ib_client *c, ib_batch *b) {
        int r = ib_batch_run(c, b, /* stop_on_error= */ true);

        for (size_t k = 0; r >= 0 && k < BATCH; k++)
                r = ib_batch_result(b, k, NULL, NULL);
        ib_batch_free(b);
        return r;
}

static int map_range(ib_client *c, uint32_t ioas, int fd, uint64_t from, uint64_t to) {
        for (uint64_t i = from; i < to; i += BATCH) {
                ib_batch *b = NULL;
                int r;

                r = ib_batch_new(&b);
                if (r < 0)
                        return r;
                for (uint64_t k = i; k < i + BATCH; k++)
                        (void) ib_batch_add_map(b, ioas, fd, (k % MEMFD_PAGES) * PAGE, PAGE,
                                                IB_MAP_READABLE | IB_MAP_FIXED_IOVA, iova_of(k));
                r = batch_run_free(c, b);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The hole above the i-th mapping. */
static uint64_t hole_of(uint64_t i) {
        return iova_of(i) + PAGE;
}

/* Maps (or, unmap, unmaps) the holes of WINDOW mappings among live ones: the k-th at (first + k * STRIDE) % live. */
static int holes(ib_client *c, uint32_t ioas, int fd, uint64_t live, uint64_t first, bool unmap) {
        for (uint64_t k = 0; k < WINDOW; k += BATCH) {
                ib_batch *b = NULL;
                int r;

                r = ib_batch_new(&b);
                if (r < 0)
                        return r;
                for (uint64_t j = k; j < k + BATCH; j++) {
                        uint64_t i = (first + j * STRIDE) % live;

                        if (unmap)
                                (void) ib_batch_add_unmap(b, ioas, hole_of(i), PAGE);
                        else
                                (void) ib_batch_add_map(b, ioas, fd, (i % MEMFD_PAGES) * PAGE, PAGE,
                                                        IB_MAP_READABLE | IB_MAP_FIXED_IOVA, hole_of(i));
                }
                r = batch_run_free(c, b);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * The median cost of one map into a hole between live mappings, at places
 * spread over all of them (a new spread each round), in seconds; < 0: -errno.
 */
static double measure_between(ib_client *c, uint32_t ioas, int fd, uint64_t live) {
        double t[ROUNDS];

        for (int k = 0; k < ROUNDS; k++) {
                uint64_t first = (uint64_t) k * 104729 % live;
                double t0 = bench_now();
                int r;

                r = holes(c, ioas, fd, live, first, false);
                if (r < 0)
                        return r;
                t[k] = (bench_now() - t0) / WINDOW;
                r = holes(c, ioas, fd, live, first, true);
                if (r < 0)
                        return r;
        }
        qsort(t, ROUNDS, sizeof(*t), bench_cmp_double);
        return t[ROUNDS / 2];
}

/* The median cost of one map with live mappings in place, in seconds; < 0: -errno. */
static double measure(ib_client *c, uint32_t ioas, int fd, uint64_t live) {
        double t[ROUNDS];

        for (int k = 0; k < ROUNDS; k++) {
                uint64_t unmapped;
                double t0 = bench_now();
                int r;

                r = map_range(c, ioas, fd, live, live + WINDOW);
                if (r < 0)
                        return r;
                t[k] = (bench_now() - t0) / WINDOW;
                /* the window's mappings and the holes between them, from the lowest to the top of the first */
                r = ib_unmap(c, ioas, iova_of(live + WINDOW - 1), iova_of(live) + PAGE - iova_of(live + WINDOW - 1),
                             &unmapped);
                if (r < 0)
                        return r;
        }
        qsort(t, ROUNDS, sizeof(*t), bench_cmp_double);
        return t[ROUNDS / 2];
}

int main(int argc, char **argv) {
        static const uint64_t sizes[] = { 1000, 10000, 100000, 1000000 };
        uint64_t max = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000, live = 0, last_size = 0;
        double cost[4] = { 0 }, between[4] = { 0 }, t0, fill;
        ib_ioas_alloc_args args = { 0 };
        ib_client *c = NULL;
        long rss0, rss1;
        const char *backend = "sim";
        TestBroker b;
        uint32_t ioas;
        size_t n = 0;
        int fd, r;

        if (getenv("IB_BENCH_SOCKET")) {
                test_broker_attach(&b, getenv("IB_BENCH_SOCKET"));
                b.pid = getenv("IB_BENCH_PID") ? (pid_t) atol(getenv("IB_BENCH_PID")) : 0;
                backend = getenv("IB_BENCH_BACKEND") ?: "a broker started elsewhere";
                r = 0;
        } else {
                const char *cpu = getenv("IB_BENCH_CPU") ? getenv("IB_BENCH_CPU") : "0";
                cpu_set_t set;

                CPU_ZERO(&set);
                CPU_SET(atoi(cpu), &set);
                if (strcmp(cpu, "none") != 0 && sched_setaffinity(0, sizeof(set), &set) < 0) {
                        fprintf(stderr, "cannot pin to CPU %s: %s\n", cpu, strerror(errno));
                        return 1;
                }
                r = test_broker_start(&b, "--log-level=err");       /* on the same CPU: it inherits the mask */
        }
        if (r < 0 || ib_client_connect(b.socket, "bench-scale", &c) < 0 || ib_ioas_alloc(c, &args, &ioas) < 0) {
                fprintf(stderr, "cannot start or reach the broker: %s\n", strerror(-r));
                test_broker_stop(&b);
                return 1;
        }
        fd = test_memfd("bench-scale", MEMFD_PAGES * PAGE);
        if (fd < 0) {
                fprintf(stderr, "cannot make a memfd: %s\n", strerror(-fd));
                test_broker_stop(&b);
                return 1;
        }

        rss0 = rss_kib(b.pid);
        t0 = bench_now();
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && sizes[i] <= max; i++) {
                /* whole batches: 1000 live is 960 + a batch of 40 ... rounded up to whole batches */
                uint64_t want = (sizes[i] + BATCH - 1) / BATCH * BATCH;

                r = map_range(c, ioas, fd, live, want);
                if (r < 0)
                        break;
                live = want;
                cost[i] = measure(c, ioas, fd, live);
                if (cost[i] < 0) {
                        r = (int) cost[i];
                        break;
                }
                between[i] = measure_between(c, ioas, fd, live);
                if (between[i] < 0) {
                        r = (int) between[i];
                        break;
                }
                n = i + 1;
                last_size = sizes[i];
        }
        fill = bench_now() - t0;
        rss1 = rss_kib(b.pid);
        if (r < 0) {
                fprintf(stderr, "map failed at %llu live mappings: %s\n", (unsigned long long) live, strerror(-r));
                ib_client_free(c);
                test_broker_stop(&b);
                return 1;
        }

        printf("Map cost as an IOAS fills (%s, 4 KiB maps in Batches of 64: below the lowest, and between, spread)\n",
               backend);
        for (size_t i = 0; i < n; i++)
                printf("  %8llu live mappings  %6.2f us per map  %5.2fx the 1k cost;  between: %6.2f us  %5.2fx\n",
                       (unsigned long long) sizes[i], cost[i] * 1e6, cost[i] / cost[0], between[i] * 1e6,
                       between[i] / between[0]);
        if (n == 4)
                printf("target: 1M live at most %.2fx the 1k cost (below the lowest): %s (%.2fx); between, "
                       "spread: %.2fx (no target)\n", TARGET, cost[3] / cost[0] <= TARGET ? "met" : "NOT met",
                       cost[3] / cost[0], between[3] / between[0]);
        else
                printf("target: 1M live at most %.2fx the 1k cost: not measured (largest size %llu)\n", TARGET,
                       (unsigned long long) last_size);
        if (rss0 >= 0 && rss1 >= 0 && live > 0)
                printf("daemon memory per mapping (RSS %ld -> %ld KiB over %llu mappings): %.0f bytes\n", rss0, rss1,
                       (unsigned long long) live, (double) (rss1 - rss0) * 1024.0 / (double) live);
        printf("filling and measuring took %.1f s\n", fill);

        close(fd);
        ib_client_free(c);
        test_broker_stop(&b);
        return 0;
}

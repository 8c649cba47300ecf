/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-restart.c - how long the broker takes to come back after kill -9.
 *
 * A sim broker under tests/lib/ib-svcmgr (the stand-in for systemd's
 * service manager, with the fd store).  For each row, a fresh harness and
 * broker; S client connections, each with an IOAS, one registered memfd
 * of its own (64 pages) and M/S read-only 4 KiB maps of it at fixed IOVAs (Batches of
 * the broker's max_batch_ops).  Then the broker is SIGKILLed through the
 * harness's control FIFO and restarted with the stored fds; two figures:
 *   - ready: from the harness's fork of the new broker to its READY=1 (the
 *     harness's "ready ... ms=T" line), what a VMM waits at worst;
 *   - recovery: the broker's own figure, its audit record "restart 1: ...
 *     in U us" (reading the state file, restoring and settling every
 *     session, the fresh state file).
 * Rows: sessions {1, 100, 1000} x mappings {10k, 1M}, and the target row,
 * 1,000 sessions with 100 mappings each (target: ready under 100 ms).
 * Each row also prints the cost per session and per mapping (ready time
 * over sessions and over mappings) and checks the restart restored every
 * session and mapping (a row that did not says so).
 *
 * 1,000 connections need more fds than the default: RLIMIT_NOFILE is raised
 * to its hard limit here (the harness and the broker inherit it), the
 * broker gets --max-connections-per-uid and the tenant SessionsMax.
 *
 * `make bench` runs it; it is not a test and asserts nothing.  An argument
 * lowers the largest mapping count (e.g. 100000) for a quick run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/bench/bench.h"
#include "tests/lib/util-broker.h"
#include "tests/soak/svcmgr-util.h"

#define PAGE 4096ULL
#define MEMFD_PAGES 64
#define IOVA_BASE (1ULL << 32)
#define TARGET_MS 100.0

typedef struct Row {
        unsigned sessions;
        uint64_t mappings;              /* over all sessions */
        bool target;
} Row;

/* n read-only 4 KiB maps of mem at IOVA_BASE + k pages, in Batches of max_ops; -errno. */
static int fill(ib_client *c, uint32_t ioas, uint32_t mem, uint64_t n, uint32_t max_ops) {
        for (uint64_t i = 0; i < n; i += max_ops) {
                uint64_t k, end = i + max_ops < n ? i + max_ops : n;
                ib_batch *b = NULL;
                int r;

                r = ib_batch_new(&b);
                if (r < 0)
                        return r;
                for (k = i; k < end; k++)
                        (void) ib_batch_add_map_mem(b, ioas, mem, (k % MEMFD_PAGES) * PAGE, PAGE,
                                                    IB_MAP_READABLE | IB_MAP_FIXED_IOVA, IOVA_BASE + k * PAGE);
                r = ib_batch_run(c, b, /* stop_on_error= */ true);
                for (k = 0; r >= 0 && k < end - i; k++)
                        r = ib_batch_result(b, k, NULL, NULL);
                ib_batch_free(b);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One row: builds the state, kills the broker, measures its restart. */
static int run_row(const Row *row) {
        char args[128], policy[128];
        ib_client **c = calloc(row->sessions, sizeof(*c));
        uint64_t per = row->mappings / row->sessions, extra = row->mappings % row->sessions;
        double t0, build;
        RestartAudit a = {};
        Svcmgr m;
        ib_caps caps = {};
        int r = 0;

        if (!c)
                return -ENOMEM;
        (void) snprintf(args, sizeof(args), "--max-connections-per-uid=%u", row->sessions + 16);
        (void) snprintf(policy, sizeof(policy), "SessionsMax=%u\n", row->sessions + 16);
        r = svcmgr_start(&m, args, policy);
        if (r < 0) {
                free(c);
                return r;
        }
        t0 = bench_now();
        for (unsigned i = 0; i < row->sessions && r >= 0; i++) {
                ib_ioas_alloc_args ioas_args = { 0 };
                uint32_t ioas, mem;
                ib_limits lim;
                /* its own memfd: the fd store keeps one copy of an open file, so sessions registering the same one would not all come back */
                int memfd = test_memfd("bench-restart", MEMFD_PAGES * PAGE);

                if (memfd < 0) {
                        r = memfd;
                        break;
                }

                r = ib_client_connect(m.socket, "bench-restart", &c[i]);
                if (r < 0) {
                        fprintf(stderr, "bench-restart: connection %u: %s\n", i, strerror(-r));
                        break;
                }
                ib_client_get_limits(c[i], &lim);
                r = ib_ioas_alloc(c[i], &ioas_args, &ioas);
                if (r >= 0)
                        r = ib_mem_register(c[i], memfd, &mem);
                close(memfd);
                if (r >= 0)
                        r = fill(c[i], ioas, mem, per + (i < extra), lim.max_batch_ops ? lim.max_batch_ops : 64);
                if (r < 0)
                        fprintf(stderr, "bench-restart: session %u: %s (%s)\n", i, strerror(-r),
                                ib_client_error(c[i]));
        }
        build = bench_now() - t0;
        if (r >= 0) {
                unsigned next = m.starts + 1;

                r = svcmgr_kill(&m);
                if (r >= 0 && !svcmgr_wait_ready(&m, next, 600000))
                        r = -ETIMEDOUT;
                if (r >= 0)
                        r = svcmgr_restart_audit(&m, 1, &a);
                if (r >= 0)
                        r = ib_caps_get(c[0], &caps);
        }
        if (r < 0)
                printf("%9u %11" PRIu64 "  failed: %s\n", row->sessions, row->mappings, strerror(-r));
        else {
                bool whole = a.sessions == row->sessions && a.ended == 0 && a.mappings == row->mappings &&
                             caps.mapped_bytes == row->mappings * PAGE;

                printf("%9u %11" PRIu64 " %9" PRIu64 " %11.1f %12.1f %12.3f %12.0f %8.1f  %s%s\n", row->sessions,
                       row->mappings, m.ready_ms, (double) a.usec / 1000, (double) m.ready_ms * 1000 / row->sessions,
                       (double) m.ready_ms * 1000 / (double) row->mappings, build * 1e9 / (double) row->mappings,
                       build, whole ? "" : "NOT ALL RESTORED ",
                       row->target ? ((double) m.ready_ms < TARGET_MS ? "target < 100 ms: met" : "target < 100 ms: MISSED")
                                   : "");
                if (!whole)
                        printf("#   restored %" PRIu64 " sessions (%" PRIu64 " ended), %" PRIu64 " mappings, 0x%" PRIx64
                               " bytes mapped after\n", a.sessions, a.ended, a.mappings, caps.mapped_bytes);
        }
        fflush(stdout);
        (void) svcmgr_stop(&m);
        for (unsigned i = 0; i < row->sessions; i++)
                ib_client_free(c[i]);
        free(c);
        return r;
}

int main(int argc, char **argv) {
        static const Row rows[] = {
                { 1, 10000, false },
                { 100, 10000, false },
                { 1000, 10000, false },
                { 1000, 100000, true },         /* 1,000 sessions x 100 mappings: the target */
                { 1, 1000000, false },
                { 100, 1000000, false },
                { 1000, 1000000, false },
        };
        uint64_t max = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4 * 1000 + 64)
                printf("# RLIMIT_NOFILE is %llu: the 1,000-session rows may fail\n", (unsigned long long) rl.rlim_cur);
        printf("# bench-restart: kill -9 of a sim broker under ib-svcmgr with S sessions and M live 4 KiB mappings;\n"
               "# ready = the harness's fork to READY=1, recovery = the broker's own \"restart 1: ... in U us\";\n"
               "# per-session and per-mapping costs are ready over S and over M; build = filling the state\n");
        printf("%9s %11s %9s %11s %12s %12s %12s %8s\n", "sessions", "mappings", "ready ms", "recovery ms",
               "us/session", "us/mapping", "build ns/map", "build s");
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                if (rows[i].mappings <= max)
                        (void) run_row(&rows[i]);
        return 0;
}

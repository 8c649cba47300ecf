/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-roundtrip.c - what a request through the broker costs, as ratios.
 *
 * Baseline, measured in the same run: a bare SOCK_SEQPACKET round trip of a
 * 32-byte message with an echo thread (what any broker must pay).  Then, with
 * a real iommu-brokerd --backend=sim on a temporary socket: GetCapabilities
 * (protocol and dispatch only), a Map + Unmap pair with a memfd (fd passing,
 * memfd checks, bookkeeping), and the same maps in Batches of 64; then a
 * Map alone (its Unmap not timed) by fd and by a MemRegister handle, and
 * maps by handle in Batches of 64.  Prints each as microseconds per
 * operation and as a multiple of the baseline, and which of the targets of
 * registered memory (Map alone by handle at most 1.3x, in a Batch of 64 at
 * most 0.1x) are met.
 * `make bench` runs it; it is not a test and asserts nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/util-broker.h"

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *echo(void *arg) {
        int fd = *(int *) arg;
        char buf[64];
        ssize_t n;

        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
                if (send(fd, buf, (size_t) n, MSG_NOSIGNAL) < 0)
                        break;
        return NULL;
}

static double bare_roundtrip(int n) {
        int sv[2];
        char buf[32] = "ping";
        pthread_t t;
        double t0, dt;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        pthread_create(&t, NULL, echo, &sv[1]);
        t0 = now();
        for (int i = 0; i < n; i++) {
                if (send(sv[0], buf, sizeof(buf), 0) < 0 || recv(sv[0], buf, sizeof(buf), 0) <= 0)
                        return -1;
        }
        dt = now() - t0;
        close(sv[0]);
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
                double t0 = now();
                int r = fd >= 0 ? ib_map(c, ioas, fd, 0, 4096, RW_FIXED, &iova)
                                : ib_map_mem(c, ioas, mem, 0, 4096, RW_FIXED, 0x100000, &iova);

                spent += now() - t0;
                if (r < 0 || ib_unmap(c, ioas, iova, 4096, &len) < 0)
                        return -1;
        }
        return spent / n;
}

/* Seconds per map of Batches of 64 maps (by fd, or by mem with fd < 0) with an Unmap each; < 0 on failure. */
static double map_batched(ib_client *c, uint32_t ioas, int fd, uint32_t mem, int n) {
        double t0 = now();

        for (int i = 0; i < n / 64; i++) {
                ib_batch *bt = NULL;
                uint64_t len;

                ib_batch_new(&bt);
                for (int k = 0; k < 64; k++) {
                        uint64_t off = (uint64_t) k * 4096;

                        if (fd >= 0)
                                ib_batch_add_map(bt, ioas, fd, off, 4096, RW_FIXED, 0x100000 + off);
                        else
                                ib_batch_add_map_mem(bt, ioas, mem, off, 4096, RW_FIXED, 0x100000 + off);
                }
                if (ib_batch_run(c, bt, false) < 0 || ib_unmap(c, ioas, 0x100000, 64 * 4096, &len) < 0)
                        return -1;
                ib_batch_free(bt);
        }
        return (now() - t0) / ((n / 64) * 64);
}

int main(int argc, char **argv) {
        int n = argc > 1 ? atoi(argv[1]) : 20000;
        TestBroker b;
        ib_client *c = NULL;
        ib_ioas_alloc_args args = { 0 };
        ib_caps caps;
        uint32_t ioas;
        double base, t0, caps_us, map_us, batch_us, alone_fd, alone_mem, batch_mem;
        uint32_t mem = 0;
        int fd, r;

        base = bare_roundtrip(n);
        /* $IB_BENCH_SOCKET: a broker started elsewhere (bench-fdstore.sh: under the service-manager harness) */
        if (getenv("IB_BENCH_SOCKET")) {
                test_broker_attach(&b, getenv("IB_BENCH_SOCKET"));
                r = 0;
        } else
                r = test_broker_start(&b, "--log-level=err");
        if (r < 0 || ib_client_connect(b.socket, "bench", &c) < 0 || ib_ioas_alloc(c, &args, &ioas) < 0) {
                fprintf(stderr, "cannot start or reach the broker: %s\n", strerror(-r));
                return 1;
        }
        fd = test_memfd("bench", 64 * 4096);

        t0 = now();
        for (int i = 0; i < n; i++)
                if (ib_caps_get(c, &caps) < 0)
                        return 1;
        caps_us = (now() - t0) / n;

        t0 = now();
        for (int i = 0; i < n; i++) {
                uint64_t iova = 0x100000, len;

                if (ib_map(c, ioas, fd, 0, 4096, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova) < 0 ||
                    ib_unmap(c, ioas, iova, 4096, &len) < 0)
                        return 1;
        }
        map_us = (now() - t0) / n / 2;

        batch_us = map_batched(c, ioas, fd, 0, n);
        if (ib_mem_register(c, fd, &mem) < 0)
                return 1;
        alone_fd = map_alone(c, ioas, fd, 0, n);
        alone_mem = map_alone(c, ioas, -1, mem, n);
        batch_mem = map_batched(c, ioas, -1, mem, n);
        if (batch_us < 0 || alone_fd < 0 || alone_mem < 0 || batch_mem < 0)
                return 1;

        printf("bare SOCK_SEQPACKET round trip  %8.2f us  1.0x (baseline)\n", base * 1e6);
        printf("GetCapabilities                 %8.2f us  %.1fx\n", caps_us * 1e6, caps_us / base);
        printf("Map or Unmap (memfd, sim)       %8.2f us  %.1fx\n", map_us * 1e6, map_us / base);
        printf("Map in a Batch of 64 (sim)      %8.2f us  %.2fx\n", batch_us * 1e6, batch_us / base);
        printf("Map alone, by fd (sim)          %8.2f us  %.2fx\n", alone_fd * 1e6, alone_fd / base);
        printf("Map alone, by handle (sim)      %8.2f us  %.2fx\n", alone_mem * 1e6, alone_mem / base);
        printf("Map in a Batch of 64, by handle %8.2f us  %.3fx\n", batch_mem * 1e6, batch_mem / base);
        printf("targets: Map alone by handle <= 1.3x %s; Map in a Batch of 64 by handle <= 0.1x %s\n",
               alone_mem / base <= 1.3 ? "met" : "NOT met", batch_mem / base <= 0.1 ? "met" : "NOT met");
        close(fd);
        ib_client_free(c);
        test_broker_stop(&b);
        return 0;
}

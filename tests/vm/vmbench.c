/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmbench.c - the hot path in the QEMU guest, as ratios to the direct ioctl.
 *
 * Run by `make vmbench` (the guest suite's vmbench test) on the real kernel
 * with edu attached, so that every mapped page is pinned; the suite pins
 * this program and the broker to one vCPU (busybox taskset) so that TCG's
 * scheduling stays out of the ratios.  Every figure is a ratio to a baseline
 * measured in the same run:
 *
 *   direct    the same operation by ioctl on this program's own iommufd, with
 *             edu bound to it and attached (IOMMU_IOAS_MAP of the same memfd
 *             pages by address, IOMMU_IOAS_UNMAP); also IOMMU_IOAS_MAP_FILE
 *             of the memfd, the ioctl the broker makes (4 KiB and big maps)
 *   bare      a SOCK_SEQPACKET round trip carrying one fd (SCM_RIGHTS) to a
 *             process that answers, the least any broker must pay; and the
 *             same to a process that waits in epoll_wait() before each read,
 *             the least a broker that serves many sockets from one loop
 *             pays (printed as the "floor" of the one-at-a-time rows)
 *
 * With a second edu (--direct-cdev) the baselines run on it, bound to this
 * program's iommufd for the whole run, right before each brokered
 * measurement they divide; with one, once a round, before the broker takes
 * the device for the rest of it.  Under TCG the guest's speed swings by 2x
 * over seconds, so the nearer the pair, the truer the ratio.  The broker's
 * worker threads make the big map's kernel call; --big-cpu names the vCPU
 * they are pinned to, and the direct big maps run there too.
 *
 * and then through the broker (session of this process, edu opened and
 * attached there): a 4 KiB map and unmap one at a time, inside Batches of
 * 64, 64 asynchronous maps in flight (by handle with the library's
 * coalescing on, and off), each by registered memory
 * (the memfd sent once, MemRegister) and by an fd per request; one big map
 * (--big, 256 MiB unless told; the rows name its size); and
 * another tenant's GetCapabilities latency while this one maps and unmaps
 * that much, while it moves its device to a second IOAS, maps that much
 * there, moves the device back and frees that IOAS with its mapping, and
 * while sessions with that much mapped end (their teardown).  Each row
 * prints the figure, its ratio, the target and "ok" or "MISS"; and
 * where a 4 KiB op's time goes, directly and by handle (alone and in
 * Batches): the CPU time, user and system, of the broker and of vmbench
 * per op (see "CPU time" below).  A
 * benchmark, not a test: it exits 0 when every row was measured, whatever
 * the ratios; 1 when a row could not be measured.
 *
 * Usage: vmbench --socket=PATH --cdev=/dev/vfio/devices/vfioN --device=BDF
 *                [--direct-cdev=/dev/vfio/devices/vfioM] [--iterations=N]
 *                [--rounds=N] [--big=BYTES]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "client/iommu-broker.h"
#include "tests/bench/bench.h"

#define PAGE 4096U
#define BATCH 64U
#define IOVA_BASE 0x1000000ULL          /* above edu's BAR and the low MiB; below 4 GiB */

static const char *arg_socket = "/run/ib.sock";
static const char *arg_cdev;
static const char *arg_direct_cdev;
static const char *arg_device;
static unsigned arg_iterations = 256;
static unsigned arg_rounds = 5;
static int arg_big_cpu = -1;
static const char *arg_phase;           /* --phase: run only this one, for a profile */
static uint64_t arg_big = 256ULL << 20;
static bool failed;

#define MAX_ROUNDS 32U

/* A baseline's row: its median over the rounds. */
static void baseline_row(const char *what, const double *us) {
        printf("%-46s %10.1f us\n", what, bench_median(us, arg_rounds, NULL, NULL));
}

/*
 * One row: the median figure over the rounds, the median of the rounds'
 * ratios to the baseline of the same round (with their range), and the
 * target (0: none, a ratio shown for information).  A round measures the
 * baselines and the brokered figures back to back, so that TCG's drift in
 * speed over a boot divides out.
 */
static void row(const char *what, const double *us, const double *base_us, const char *base_name, double target) {
        double ratio[MAX_ROUNDS], lo, hi, r;

        for (unsigned i = 0; i < arg_rounds; i++)
                ratio[i] = us[i] / base_us[i];
        r = bench_median(ratio, arg_rounds, &lo, &hi);
        printf("%-46s %10.1f us  %6.2fx %-8s (%.2f-%.2f)", what, bench_median(us, arg_rounds, NULL, NULL), r,
               base_name, lo, hi);
        if (target > 0)
                printf("  target <= %.2fx  %s", target, r <= target ? "ok" : "MISS");
        printf("\n");
}

/* A row measured once (the other tenant's latency). */
static void single_row(const char *what, double us, double base_us, const char *base_name, double target) {
        double ratio = us / base_us;

        printf("%-46s %10.1f us  %6.2fx %-8s target <= %.2fx  %s\n", what, us, ratio, base_name, target,
               ratio <= target ? "ok" : "MISS");
}

static void missing(const char *what, int r) {
        printf("%-46s not measured: %s\n", what, strerror(r < 0 ? -r : r));
        failed = true;
}

/* ------------------------------------------------------------------ CPU time */

/*
 * Where a brokered op's time goes: the CPU time the broker (its pid from the
 * socket's SO_PEERCRED, its user and system time from /proc, in clock ticks)
 * and this program (getrusage) spend, summed over the rounds and divided by
 * the ops, beside the wall time.  Ticks are coarse (10 ms): only sums over
 * many ops mean anything.
 */
typedef struct Cpu {
        double broker_user, broker_sys, self_user, self_sys, wall;      /* seconds */
        double broker_faults, self_switches;    /* the broker's minor page faults, this one's context switches */
        unsigned long ops;
} Cpu;

static Cpu cpu_small, cpu_batch;        /* by handle: one at a time, and in Batches */
static Cpu cpu_direct;                  /* the direct 4 KiB maps and unmaps (no broker) */

static pid_t broker_pid(ib_client *c) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(ib_client_get_fd(c), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -1;
        return cred.pid;
}

/*
 * The CPU time so far of the broker behind c (NULL: none, zeros) and of this
 * process; false when the broker's cannot be read.
 */
static bool cpu_now(ib_client *c, Cpu *ret) {
        unsigned long long utime = 0, stime = 0, minflt = 0;
        char path[64], buf[1024], *p;
        struct rusage ru;
        double tick = (double) sysconf(_SC_CLK_TCK);
        FILE *f;
        size_t n;

        if (!c)
                goto self;
        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) broker_pid(c));
        f = fopen(path, "re");
        if (!f)
                return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');          /* the name may hold anything; the fields follow its ')' */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %*u %*u %llu %llu", &minflt, &utime,
                           &stime) != 3)
                return false;
self:
        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return false;
        *ret = (Cpu) {
                .broker_user = (double) utime / tick,
                .broker_sys = (double) stime / tick,
                .self_user = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec * 1e-6,
                .self_sys = (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec * 1e-6,
                .wall = bench_now(),
                .broker_faults = (double) minflt,
                .self_switches = (double) (ru.ru_nvcsw + ru.ru_nivcsw),
        };
        return true;
}

/* Adds what was spent since before (from cpu_now()) on ops ops to sum. */
static void cpu_add(ib_client *c, const Cpu *before, unsigned long ops, Cpu *sum) {
        Cpu after;

        if (!cpu_now(c, &after))
                return;
        sum->broker_user += after.broker_user - before->broker_user;
        sum->broker_sys += after.broker_sys - before->broker_sys;
        sum->self_user += after.self_user - before->self_user;
        sum->self_sys += after.self_sys - before->self_sys;
        sum->wall += after.wall - before->wall;
        sum->broker_faults += after.broker_faults - before->broker_faults;
        sum->self_switches += after.self_switches - before->self_switches;
        sum->ops += ops;
}

static void cpu_row(const char *what, const Cpu *s) {
        double k = s->ops ? 1e6 / (double) s->ops : 0;

        if (!s->ops) {
                printf("%-46s not measured\n", what);
                return;
        }
        printf("%-46s %10.1f us wall:", what, s->wall * k);
        if (s != &cpu_direct)
                printf(" broker user %.1f sys %.1f,", s->broker_user * k, s->broker_sys * k);
        printf(" vmbench user %.1f sys %.1f us (CPU ticks over %lu ops)", s->self_user * k, s->self_sys * k, s->ops);
        if (s != &cpu_direct)
                printf("; per op %.2f broker page faults, %.2f vmbench context switches",
                       s->broker_faults / (double) s->ops, s->self_switches / (double) s->ops);
        printf("\n");
}

/* ------------------------------------------------------------------ direct */

typedef struct Direct {
        int iommufd;
        int dev;
        uint32_t ioas;
} Direct;

static int direct_open(Direct *d, const char *cdev) {
        struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
        struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
        struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

        d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
        d->dev = open(cdev, O_RDWR | O_CLOEXEC);
        if (d->iommufd < 0 || d->dev < 0)
                return -errno;
        bind.iommufd = d->iommufd;
        if (ioctl(d->dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0 || ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &alloc) < 0)
                return -errno;
        d->ioas = alloc.out_ioas_id;
        attach.pt_id = d->ioas;
        if (ioctl(d->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0)
                return -errno;
        return 0;
}

static void direct_close(Direct *d) {
        close(d->dev);                  /* unbinds and detaches */
        close(d->iommufd);
}

static int direct_map(Direct *d, void *va, uint64_t len, uint64_t iova) {
        struct iommu_ioas_map m = {
                .size = sizeof(m),
                .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
                .ioas_id = d->ioas,
                .user_va = (uintptr_t) va,
                .length = len,
                .iova = iova,
        };

        return ioctl(d->iommufd, IOMMU_IOAS_MAP, &m) < 0 ? -errno : 0;
}

/* The ioctl the broker uses for a memfd: IOMMU_IOAS_MAP_FILE, pages taken by file offset. */
static int direct_map_file(Direct *d, int memfd, uint64_t offset, uint64_t len, uint64_t iova) {
        struct iommu_ioas_map_file m = {
                .size = sizeof(m),
                .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
                .ioas_id = d->ioas,
                .fd = memfd,
                .start = offset,
                .length = len,
                .iova = iova,
        };

        return ioctl(d->iommufd, IOMMU_IOAS_MAP_FILE, &m) < 0 ? -errno : 0;
}

static int direct_unmap(Direct *d, uint64_t iova, uint64_t len) {
        struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = d->ioas, .iova = iova, .length = len };

        return ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &u) < 0 ? -errno : 0;
}

/*
 * Per-op microseconds of n 4 KiB maps (*ret_map) and their unmaps
 * (*ret_unmap); then of n 4 KiB maps by file of memfd (*ret_map_file: the
 * broker's own ioctl, a different path in the kernel), unmapped untimed.
 */
static int direct_small(Direct *d, uint8_t *ram, int memfd, unsigned n, double *ret_map, double *ret_unmap,
                        double *ret_map_file) {
        double t0, t1, t2;
        bool cpu_ok;
        Cpu cpu;
        int r;

        cpu_ok = cpu_now(NULL, &cpu);
        t0 = bench_now();
        for (unsigned i = 0; i < n; i++)
                if ((r = direct_map(d, ram + (size_t) (i % BATCH) * PAGE, PAGE, IOVA_BASE + (uint64_t) i * PAGE)) < 0)
                        return r;
        t1 = bench_now();
        for (unsigned i = 0; i < n; i++)
                if ((r = direct_unmap(d, IOVA_BASE + (uint64_t) i * PAGE, PAGE)) < 0)
                        return r;
        t2 = bench_now();
        if (cpu_ok)
                cpu_add(NULL, &cpu, 2UL * n, &cpu_direct);
        *ret_map = (t1 - t0) * 1e6 / n;
        *ret_unmap = (t2 - t1) * 1e6 / n;
        t0 = bench_now();
        for (unsigned i = 0; i < n; i++)
                if ((r = direct_map_file(d, memfd, (uint64_t) (i % BATCH) * PAGE, PAGE, IOVA_BASE + (uint64_t) i * PAGE)) < 0)
                        return r;
        *ret_map_file = (bench_now() - t0) * 1e6 / n;
        for (unsigned i = 0; i < n; i++)
                if ((r = direct_unmap(d, IOVA_BASE + (uint64_t) i * PAGE, PAGE)) < 0)
                        return r;
        return 0;
}

/*
 * Per-op microseconds of n 4 KiB maps by file and their unmaps in the order
 * a Batch run makes them (brokered_batch()): 64 maps at the same 64 IOVAs,
 * then their 64 unmaps, n / 64 times.
 */
static int direct_grouped(Direct *d, int memfd, unsigned n, double *ret_map, double *ret_unmap) {
        double t_map = 0, t_unmap = 0, t0;
        int r;

        for (unsigned done = 0; done < n; done += BATCH) {
                t0 = bench_now();
                for (unsigned i = 0; i < BATCH; i++)
                        if ((r = direct_map_file(d, memfd, (uint64_t) i * PAGE, PAGE, IOVA_BASE + (uint64_t) i * PAGE)) < 0)
                                return r;
                t_map += bench_now() - t0;
                t0 = bench_now();
                for (unsigned i = 0; i < BATCH; i++)
                        if ((r = direct_unmap(d, IOVA_BASE + (uint64_t) i * PAGE, PAGE)) < 0)
                                return r;
                t_unmap += bench_now() - t0;
        }
        *ret_map = t_map * 1e6 / n;
        *ret_unmap = t_unmap * 1e6 / n;
        return 0;
}

/* ------------------------------------------------------------------ bare round trip with an fd */

/*
 * Microseconds per round trip of a datagram with memfd to a process that
 * answers; with_epoll, the process waits in epoll_wait() before each read,
 * as a daemon's loop serving many sockets does (the broker's floor).
 */
static double bare_fd_roundtrip(int memfd, unsigned n, bool with_epoll) {
        char buf[64] = "map", ctl[CMSG_SPACE(sizeof(int))];
        int sv[2];
        pid_t pid;
        double t0, dt;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        pid = fork();
        if (pid == 0) {
                char rctl[CMSG_SPACE(sizeof(int))];
                struct epoll_event ev = { .events = EPOLLIN };
                int ep = -1;

                close(sv[0]);
                if (with_epoll) {
                        ep = epoll_create1(EPOLL_CLOEXEC);
                        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) < 0)
                                _exit(1);
                }
                for (;;) {
                        struct iovec iov = { buf, sizeof(buf) };
                        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = rctl,
                                             .msg_controllen = sizeof(rctl) };
                        struct cmsghdr *cm;
                        ssize_t k;

                        if (ep >= 0 && epoll_wait(ep, &ev, 1, -1) != 1)
                                _exit(0);
                        k = recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC);

                        if (k <= 0)
                                _exit(0);
                        cm = CMSG_FIRSTHDR(&mh);
                        if (cm && cm->cmsg_type == SCM_RIGHTS) {
                                int fd;

                                memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
                                close(fd);
                        }
                        if (send(sv[1], buf, 16, MSG_NOSIGNAL) < 0)
                                _exit(0);
                }
        }
        close(sv[1]);
        t0 = bench_now();
        for (unsigned i = 0; i < n; i++) {
                struct iovec iov = { buf, 32 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
                if (sendmsg(sv[0], &mh, 0) < 0 || recv(sv[0], buf, sizeof(buf), 0) <= 0)
                        return -1;
        }
        dt = bench_now() - t0;
        close(sv[0]);
        (void) waitpid(pid, NULL, 0);
        return dt * 1e6 / n;
}

/* ------------------------------------------------------------------ brokered */

typedef struct Brokered {
        ib_client *c;
        uint32_t ioas;
        uint32_t dev;
        int dev_fd;
        uint32_t mem;                   /* the memfd registered; 0: maps send the fd */
} Brokered;

static int bmap(Brokered *b, int memfd, uint64_t offset, uint64_t iova) {
        unsigned flags = IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA;

        if (b->mem)
                return ib_map_mem(b->c, b->ioas, b->mem, offset, PAGE, flags, iova, &iova);
        return ib_map(b->c, b->ioas, memfd, offset, PAGE, flags, &iova);
}

static int brokered_open(Brokered *b) {
        ib_ioas_alloc_args args = {};
        int r;

        r = ib_client_connect(arg_socket, "vmbench", &b->c);
        if (r < 0)
                return r;
        r = ib_ioas_alloc(b->c, &args, &b->ioas);
        if (r >= 0)
                r = ib_device_open(b->c, arg_device, &b->dev, &b->dev_fd);
        if (r >= 0)
                r = ib_device_attach(b->c, b->dev, b->ioas, NULL);
        if (r < 0)
                fprintf(stderr, "vmbench: broker: %s\n", ib_client_error(b->c));
        return r;
}

static void brokered_close(Brokered *b) {
        close(b->dev_fd);
        ib_client_free(b->c);
}

static int brokered_small(Brokered *b, int memfd, unsigned n, double *ret_map, double *ret_unmap) {
        double t0, t1, t2;
        int r;

        t0 = bench_now();
        for (unsigned i = 0; i < n; i++)
                if ((r = bmap(b, memfd, (uint64_t) (i % BATCH) * PAGE, IOVA_BASE + (uint64_t) i * PAGE)) < 0)
                        return r;
        t1 = bench_now();
        for (unsigned i = 0; i < n; i++)
                if ((r = ib_unmap(b->c, b->ioas, IOVA_BASE + (uint64_t) i * PAGE, PAGE, NULL)) < 0)
                        return r;
        t2 = bench_now();
        *ret_map = (t1 - t0) * 1e6 / n;
        *ret_unmap = (t2 - t1) * 1e6 / n;
        return 0;
}

static int brokered_batch(Brokered *b, int memfd, unsigned n, double *ret_map, double *ret_unmap) {
        double t_map = 0, t_unmap = 0;
        int r = 0;

        for (unsigned done = 0; done < n && r >= 0; done += BATCH) {
                ib_batch *m = NULL, *u = NULL;
                double t0, t1, t2;

                r = ib_batch_new(&m);
                if (r >= 0)
                        r = ib_batch_new(&u);
                for (unsigned i = 0; r >= 0 && i < BATCH; i++) {
                        uint64_t iova = IOVA_BASE + (uint64_t) i * PAGE;

                        r = b->mem ? ib_batch_add_map_mem(m, b->ioas, b->mem, (uint64_t) i * PAGE, PAGE,
                                                          IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA,
                                                          iova)
                                   : ib_batch_add_map(m, b->ioas, memfd, (uint64_t) i * PAGE, PAGE,
                                                      IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, iova);
                        if (r >= 0)
                                r = ib_batch_add_unmap(u, b->ioas, iova, PAGE);
                }
                t0 = bench_now();
                if (r >= 0)
                        r = ib_batch_run(b->c, m, true);
                t1 = bench_now();
                if (r >= 0)
                        r = ib_batch_run(b->c, u, true);
                t2 = bench_now();
                t_map += t1 - t0;
                t_unmap += t2 - t1;
                ib_batch_free(m);
                ib_batch_free(u);
        }
        *ret_map = t_map * 1e6 / n;
        *ret_unmap = t_unmap * 1e6 / n;
        return r;
}

static unsigned async_left;
static int async_error;

static void async_done(ib_client *c, const ib_result *res, void *userdata) {
        (void) c;
        (void) userdata;
        if (res->error < 0 && async_error == 0)
                async_error = res->error;
        async_left--;
}

static int brokered_async(Brokered *b, int memfd, unsigned n, double *ret_map) {
        double t0, t = 0;
        int r = 0;

        for (unsigned done = 0; done < n && r >= 0; done += BATCH) {
                async_left = BATCH;
                async_error = 0;
                t0 = bench_now();
                for (unsigned i = 0; r >= 0 && i < BATCH; i++)
                        r = b->mem ? ib_map_mem_async(b->c, b->ioas, b->mem, (uint64_t) i * PAGE, PAGE,
                                                      IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA,
                                                      IOVA_BASE + (uint64_t) i * PAGE, async_done, NULL)
                                   : ib_map_async(b->c, b->ioas, memfd, (uint64_t) i * PAGE, PAGE,
                                                  IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA,
                                                  IOVA_BASE + (uint64_t) i * PAGE, async_done, NULL);
                /* as a VMM's loop does: wait for what the library asks for, then process */
                while (r >= 0 && async_left > 0) {
                        struct pollfd p = { .fd = ib_client_get_fd(b->c), .events = (short) ib_client_get_events(b->c) };

                        r = poll(&p, 1, -1) < 0 && errno != EINTR ? -errno : ib_client_process(b->c);
                }
                t += bench_now() - t0;
                if (r >= 0)
                        r = async_error;
                if (r >= 0)
                        r = ib_unmap(b->c, b->ioas, IOVA_BASE, (uint64_t) BATCH * PAGE, NULL);
        }
        *ret_map = t * 1e6 / n;
        return r;
}

/* ------------------------------------------------------------------ another tenant's latency */

/*
 * In a child: GetCapabilities in a loop until SIGTERM, writing each
 * latency (us) to fd.  Returns the child's pid.
 */
static pid_t bystander_start(int fd) {
        pid_t pid = fork();

        if (pid == 0) {
                ib_client *c = NULL;
                ib_caps caps;

                if (ib_client_connect(arg_socket, "vmbench-bystander", &c) < 0)
                        _exit(1);
                for (;;) {
                        double t0 = bench_now(), us;

                        if (ib_caps_get(c, &caps) < 0)
                                _exit(1);
                        us = (bench_now() - t0) * 1e6;
                        if (write(fd, &us, sizeof(us)) != sizeof(us))
                                _exit(0);
                        (void) usleep(2000);
                }
        }
        return pid;
}

/* Reads what the bystander wrote; median and max into ret. */
static size_t bystander_collect(int fd, double *ret_median, double *ret_max) {
        static double v[100000];
        size_t n = 0;
        ssize_t k;

        while (n < 100000 && (k = read(fd, &v[n], sizeof(double))) == sizeof(double))
                n++;
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(double), bench_cmp_double);
        *ret_median = v[n / 2];
        *ret_max = v[n - 1];
        return n;
}

/* The bystander's latency while during() runs (or for idle_s seconds if during is NULL). */
static size_t bystander_measure(int (*during)(void *), void *ud, double idle_s, double *ret_median, double *ret_max,
                                int *ret_r) {
        int p[2];
        pid_t pid;
        size_t n;

        if (pipe2(p, O_CLOEXEC) < 0)
                return 0;
        pid = bystander_start(p[1]);
        close(p[1]);
        (void) usleep(200 * 1000);
        *ret_r = during ? during(ud) : (usleep((useconds_t) (idle_s * 1e6)), 0);
        (void) kill(pid, SIGTERM);
        (void) waitpid(pid, NULL, 0);
        n = bystander_collect(p[0], ret_median, ret_max);
        close(p[0]);
        return n;
}

typedef struct BigJob {
        Brokered *b;
        int memfd;
        unsigned rounds;
        double us;                      /* per map, for the 256 MiB row */
} BigJob;

static int big_rounds(void *ud) {
        BigJob *j = ud;
        double t = 0;

        for (unsigned i = 0; i < j->rounds; i++) {
                uint64_t iova = IOVA_BASE;
                double t0 = bench_now();
                int r = ib_map(j->b->c, j->b->ioas, j->memfd, 0, arg_big,
                               IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova);

                t += bench_now() - t0;
                if (r < 0)
                        return r;
                r = ib_unmap(j->b->c, j->b->ioas, IOVA_BASE, arg_big, NULL);
                if (r < 0)
                        return r;
        }
        j->us = t * 1e6 / j->rounds;
        return 0;
}

/*
 * Rounds of: a second IOAS, the device moved to it, 256 MiB mapped there,
 * the device moved back (its page table in the second IOAS emptied) and the
 * second IOAS freed with the mapping in it (the kernel unpins every page).
 */
static int big_free_rounds(void *ud) {
        BigJob *j = ud;

        for (unsigned i = 0; i < j->rounds; i++) {
                ib_ioas_alloc_args args = {};
                uint64_t iova = IOVA_BASE;
                uint32_t ioas;
                int r = ib_ioas_alloc(j->b->c, &args, &ioas);

                if (r >= 0)
                        r = ib_device_attach(j->b->c, j->b->dev, ioas, NULL);
                if (r >= 0)
                        r = ib_map(j->b->c, ioas, j->memfd, 0, arg_big,
                                   IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova);
                if (r >= 0)
                        r = ib_device_attach(j->b->c, j->b->dev, j->b->ioas, NULL);
                if (r >= 0)
                        r = ib_ioas_free(j->b->c, ioas);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * Rounds of: a session of its own (the device opened and attached), 256 MiB
 * mapped, then its end (the client disconnects: the broker's teardown
 * unpins it all).  The next round's DeviceOpen waits for the device to be
 * free again, that is for the teardown.
 */
static int big_end_rounds(void *ud) {
        BigJob *j = ud;

        for (unsigned i = 0; i < j->rounds; i++) {
                uint64_t iova = IOVA_BASE;
                Brokered e = { .dev_fd = -1 };
                int r = -EBUSY;

                for (unsigned k = 0; r == -EBUSY && k < 500; k++) {
                        if (k > 0) {
                                brokered_close(&e);
                                e = (Brokered) { .dev_fd = -1 };
                                (void) usleep(10 * 1000);
                        }
                        r = brokered_open(&e);
                }
                if (r >= 0)
                        r = ib_map(e.c, e.ioas, j->memfd, 0, arg_big,
                                   IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova);
                brokered_close(&e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------ main */

/* The big map's size as the rows name it ("256 MiB"), set once the options are read. */
static char big_size[32];

static void big_size_set(void) {
        if (arg_big % (1024 * 1024) == 0)
                (void) snprintf(big_size, sizeof(big_size), "%llu MiB", (unsigned long long) (arg_big >> 20));
        else
                (void) snprintf(big_size, sizeof(big_size), "%llu KiB", (unsigned long long) (arg_big >> 10));
}

/* A row's label: before, the big map's size, after (valid until the next call). */
static const char *big_label(const char *before, const char *after) {
        static char label[128];

        (void) snprintf(label, sizeof(label), "%s%s%s", before, big_size, after);
        return label;
}

static int parse_argv(int argc, char **argv) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },
                { "cdev", required_argument, NULL, 'c' },
                { "direct-cdev", required_argument, NULL, 'D' },
                { "device", required_argument, NULL, 'd' },
                { "iterations", required_argument, NULL, 'n' },
                { "rounds", required_argument, NULL, 'r' },
                { "big-cpu", required_argument, NULL, 'C' },
                { "big", required_argument, NULL, 'b' },
                { "phase", required_argument, NULL, 'p' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 's': arg_socket = optarg; break;
                case 'c': arg_cdev = optarg; break;
                case 'D': arg_direct_cdev = optarg; break;
                case 'd': arg_device = optarg; break;
                case 'n': arg_iterations = (unsigned) strtoul(optarg, NULL, 0); break;
                case 'r': arg_rounds = (unsigned) strtoul(optarg, NULL, 0); break;
                case 'C': arg_big_cpu = (int) strtol(optarg, NULL, 0); break;
                case 'b': {
                        char *end;

                        errno = 0;
                        arg_big = strtoull(optarg, &end, 0);
                        if (errno || end == optarg || *end)
                                arg_big = 0;    /* refused below */
                        break;
                }
                case 'p': arg_phase = optarg; break;
                default: return -EINVAL;
                }
        if (!arg_cdev || !arg_device || arg_iterations < BATCH || arg_iterations % BATCH || arg_big == 0 ||
            arg_big % PAGE ||
            arg_rounds < 1 || arg_rounds > MAX_ROUNDS ||
            (arg_phase && strcmp(arg_phase, "batch") != 0 && strcmp(arg_phase, "direct-batch") != 0 &&
             strcmp(arg_phase, "both") != 0 && strcmp(arg_phase, "big") != 0 &&
             strcmp(arg_phase, "direct-big") != 0 && strcmp(arg_phase, "both-big") != 0)) {
                fprintf(stderr, "usage: vmbench --socket=PATH --cdev=CDEV --device=BDF [--direct-cdev=CDEV2] "
                                "[--iterations=N (a multiple of 64)] [--rounds=1-%u] [--big=BYTES] [--big-cpu=N] "
                                "[--phase=batch|direct-batch|both|big|direct-big|both-big]\n",
                        MAX_ROUNDS);
                return -EINVAL;
        }
        big_size_set();
        return 0;
}

/* The direct baselines of one brokered measurement, in microseconds (per op; per map for the big one). */
typedef struct Base {
        double map, unmap, map_file, grouped_map, grouped_unmap, bare, bare_epoll, big, big_file;
} Base;

/* What one round measures. */
typedef struct Round {
        Base round;                     /* one edu: the round's baselines, measured before the broker's */
        Base b_fd_map, b_fd_batch, b_h_map, b_h_batch, b_s_map, b_big;
        double fd_map, fd_batch, fd_async;
        double h_map, h_unmap, h_batch, h_batch_unmap, h_async, h_async_alone, s_map;
        double big;
} Round;

static struct {
        uint8_t *ram, *big_ram;
        int memfd, sealed_memfd, big_memfd;
        Direct pair;                    /* --direct-cdev: the second edu, bound for the whole run */
        bool paired;
} g = { .memfd = -1, .sealed_memfd = -1, .big_memfd = -1 };

/*
 * Moves this thread to the vCPU where the broker's worker threads make the
 * big map (--big-cpu), *old its affinity before: true if it moved.
 */
static bool big_cpu_enter(cpu_set_t *old) {
        cpu_set_t on;

        if (arg_big_cpu < 0 || sched_getaffinity(0, sizeof(*old), old) < 0)
                return false;
        CPU_ZERO(&on);
        CPU_SET(arg_big_cpu, &on);
        return sched_setaffinity(0, sizeof(on), &on) == 0;
}

/* Back where big_cpu_enter() found this thread. */
static void big_cpu_leave(bool moved, const cpu_set_t *old) {
        if (moved)
                (void) sched_setaffinity(0, sizeof(*old), old);
}

/* The direct baselines on d: 4 KiB maps and unmaps; with_bare the bare round trip, with_big the big maps. */
static int base_measure(Direct *d, Base *b, bool with_bare, bool with_big) {
        double t0;
        int r;

        r = direct_small(d, g.ram, g.memfd, arg_iterations, &b->map, &b->unmap, &b->map_file);
        if (r >= 0)
                r = direct_grouped(d, g.memfd, arg_iterations, &b->grouped_map, &b->grouped_unmap);
        if (r >= 0 && with_big) {
                cpu_set_t old;
                bool moved = big_cpu_enter(&old);

                t0 = bench_now();
                r = direct_map(d, g.big_ram, arg_big, IOVA_BASE);
                b->big = (bench_now() - t0) * 1e6;
                if (r >= 0)
                        r = direct_unmap(d, IOVA_BASE, arg_big);
                if (r >= 0) {
                        t0 = bench_now();
                        r = direct_map_file(d, g.big_memfd, 0, arg_big, IOVA_BASE);
                        b->big_file = (bench_now() - t0) * 1e6;
                        if (r >= 0)
                                r = direct_unmap(d, IOVA_BASE, arg_big);
                }
                big_cpu_leave(moved, &old);
        }
        if (r >= 0 && with_bare) {
                b->bare = bare_fd_roundtrip(g.memfd, arg_iterations, false);
                b->bare_epoll = bare_fd_roundtrip(g.memfd, arg_iterations, true);
                if (b->bare < 0 || b->bare_epoll < 0)
                        r = -EIO;
        }
        if (r < 0)
                missing("direct: map and unmap", r);
        return r;
}

/*
 * The baselines of the brokered measurement that follows: with a second edu
 * measured now, right before it, so that TCG's swings in speed divide out;
 * with one, the round's (edu is the broker's during the round).
 */
static int base_for(const Round *x, Base *b, bool with_bare, bool with_big) {
        if (!g.paired) {
                *b = x->round;
                return 0;
        }
        return base_measure(&g.pair, b, with_bare, with_big);
}

/* One edu: its baselines at the start of the round, bound to our own iommufd and released again. */
static int round_direct(Round *x) {
        Direct d = {};
        int r;

        if (g.paired)
                return 0;
        /* the broker releases the device of the last round as its session's DeviceClose answers */
        r = direct_open(&d, arg_cdev);
        if (r < 0)
                missing("direct: bind and attach edu", r);
        else
                r = base_measure(&d, &x->round, true, true);
        direct_close(&d);
        return r;
}

/* Through the broker: by an fd per request, then by registered memory (the memfd sent once). */
static int round_brokered(Round *x) {
        Brokered b = {};
        BigJob job;
        double unused;
        Cpu cpu;
        int r;

        r = brokered_open(&b);
        if (r < 0) {
                missing("broker: open and attach edu", r);
                return r;
        }
        if ((r = base_for(x, &x->b_fd_map, true, false)) >= 0 &&
            (r = brokered_small(&b, g.memfd, arg_iterations, &x->fd_map, &unused)) >= 0 &&
            (r = base_for(x, &x->b_fd_batch, false, false)) >= 0 &&
            (r = brokered_batch(&b, g.memfd, arg_iterations, &x->fd_batch, &unused)) >= 0)
                r = brokered_async(&b, g.memfd, arg_iterations, &x->fd_async);
        if (r < 0)
                missing("4 KiB maps by fd", r);
        if (r >= 0 && (r = ib_mem_register(b.c, g.memfd, &b.mem)) < 0)
                missing("MemRegister", r);
        if (r >= 0 && (r = base_for(x, &x->b_h_map, true, false)) >= 0 && cpu_now(b.c, &cpu) &&
            (r = brokered_small(&b, g.memfd, arg_iterations, &x->h_map, &x->h_unmap)) >= 0 &&
            (cpu_add(b.c, &cpu, 2UL * arg_iterations, &cpu_small), true) &&
            (r = base_for(x, &x->b_h_batch, false, false)) >= 0 && cpu_now(b.c, &cpu) &&
            (r = brokered_batch(&b, g.memfd, arg_iterations, &x->h_batch, &x->h_batch_unmap)) >= 0 &&
            (cpu_add(b.c, &cpu, 2UL * arg_iterations, &cpu_batch), true) &&
            (r = ib_client_set_coalescing(b.c, true)) >= 0 &&
            (r = brokered_async(&b, g.memfd, arg_iterations, &x->h_async)) >= 0 &&
            (r = ib_client_set_coalescing(b.c, false)) >= 0)
                r = brokered_async(&b, g.memfd, arg_iterations, &x->h_async_alone);
        if (r < 0)
                missing("4 KiB maps by handle", r);
        /* a VMM that seals its guest RAM's size and seals spares the broker reading them at each Map */
        if (r >= 0 && (r = ib_mem_register(b.c, g.sealed_memfd, &b.mem)) >= 0 &&
            (r = base_for(x, &x->b_s_map, true, false)) >= 0)
                r = brokered_small(&b, g.sealed_memfd, arg_iterations, &x->s_map, &unused);
        if (r < 0)
                missing("4 KiB maps by handle of a sealed memfd", r);
        if (r >= 0 && (r = base_for(x, &x->b_big, false, true)) >= 0) {
                job = (BigJob) { .b = &b, .memfd = g.big_memfd, .rounds = 1 };
                r = big_rounds(&job);
                x->big = job.us;
                if (r < 0)
                        missing(big_label("one ", " map"), r);
        }
        if (r >= 0 && (r = ib_device_close(b.c, b.dev)) < 0)
                missing("DeviceClose", r);
        brokered_close(&b);
        return r;
}

/*
 * --phase=big: rounds big maps by an fd per request through the broker, in
 * a fresh session; direct-big: the same IOMMU_IOAS_MAP_FILE directly on the
 * second edu, on the vCPU of the broker's workers; both-big: one, then the
 * other.
 */
static int run_phase_big(const char *phase) {
        double t = 0;
        int r = 0;

        if (strcmp(phase, "direct-big") == 0) {
                cpu_set_t old;
                bool moved;

                if (!g.paired) {
                        fprintf(stderr, "--phase=direct-big needs --direct-cdev\n");
                        return -EINVAL;
                }
                moved = big_cpu_enter(&old);
                for (unsigned i = 0; i < arg_rounds && r >= 0; i++) {
                        double t0 = bench_now();

                        r = direct_map_file(&g.pair, g.big_memfd, 0, arg_big, IOVA_BASE);
                        t += bench_now() - t0;
                        if (r >= 0)
                                r = direct_unmap(&g.pair, IOVA_BASE, arg_big);
                }
                big_cpu_leave(moved, &old);
                t = t * 1e6 / arg_rounds;
        } else {
                Brokered b = {};
                BigJob job = { .b = &b, .memfd = g.big_memfd, .rounds = arg_rounds };

                r = brokered_open(&b);
                if (r >= 0)
                        r = big_rounds(&job);
                if (b.c && r >= 0)
                        r = ib_device_close(b.c, b.dev);
                if (b.c)
                        brokered_close(&b);
                t = job.us;
        }
        if (r < 0) {
                missing(phase, r);
                return r;
        }
        printf("phase %s: %u %s maps %.1f us per map\n", phase, arg_rounds, big_size, t);
        return 0;
}

/*
 * --phase: only rounds x iterations 4 KiB maps and unmaps in Batches of 64
 * by handle through the broker (batch), or the same ioctls directly in the
 * same order on the second edu (direct-batch), or both, one after the other
 * in one boot, so that a profile of the guest (IB_VMBENCH_PERF=1) holds
 * that phase alone (both: the broker's process makes the one, this one the
 * other, so the profile by process tells them apart).
 */
static int run_phase(const char *phase) {
        unsigned n = arg_iterations * arg_rounds;
        double map = 0, unmap = 0;
        Brokered b = {};
        int r;

        if (strcmp(phase, "both") == 0) {
                r = run_phase("direct-batch");
                return r < 0 ? r : run_phase("batch");
        }
        if (strcmp(phase, "both-big") == 0) {
                r = run_phase("direct-big");
                return r < 0 ? r : run_phase("big");
        }
        if (strcmp(phase, "direct-big") == 0 || strcmp(phase, "big") == 0)
                return run_phase_big(phase);
        if (strcmp(phase, "direct-batch") == 0) {
                if (!g.paired) {
                        fprintf(stderr, "--phase=direct-batch needs --direct-cdev\n");
                        return -EINVAL;
                }
                r = direct_grouped(&g.pair, g.memfd, n, &map, &unmap);
        } else {
                r = brokered_open(&b);
                if (r >= 0 && (r = ib_mem_register(b.c, g.memfd, &b.mem)) >= 0)
                        r = brokered_batch(&b, g.memfd, n, &map, &unmap);
                if (b.c && r >= 0)
                        r = ib_device_close(b.c, b.dev);
                if (b.c)
                        brokered_close(&b);
        }
        if (r < 0) {
                missing(phase, r);
                return r;
        }
        printf("phase %s: %u 4 KiB maps %.1f us, unmaps %.1f us per op\n", phase, n, map, unmap);
        return 0;
}

/* Round i's value of a field, for every round. */
#define SERIES(rounds, field) ({                                        \
        static double _v[MAX_ROUNDS];                                   \
        for (unsigned _i = 0; _i < arg_rounds; _i++)                    \
                _v[_i] = (rounds)[_i].field;                            \
        _v;                                                             \
})

/* The same, of the sum of two fields (a bare round trip and a direct map). */
#define SERIES_SUM(rounds, a, b) ({                                     \
        static double _v[MAX_ROUNDS];                                   \
        for (unsigned _i = 0; _i < arg_rounds; _i++)                    \
                _v[_i] = (rounds)[_i].a + (rounds)[_i].b;               \
        _v;                                                             \
})

int main(int argc, char **argv) {
        static Round x[MAX_ROUNDS];
        double idle_med = 0, idle_max, busy_med, busy_max;
        Brokered b = {};
        BigJob job;
        size_t n;
        int r;

        if (parse_argv(argc, argv) < 0)
                return 2;
        g.memfd = memfd_create("vmbench-ram", MFD_CLOEXEC);
        g.sealed_memfd = memfd_create("vmbench-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        g.big_memfd = memfd_create("vmbench-big", MFD_CLOEXEC);
        if (g.memfd < 0 || g.sealed_memfd < 0 || g.big_memfd < 0 || ftruncate(g.memfd, (off_t) BATCH * PAGE) < 0 ||
            ftruncate(g.sealed_memfd, (off_t) BATCH * PAGE) < 0 ||
            fcntl(g.sealed_memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
            ftruncate(g.big_memfd, (off_t) arg_big) < 0)
                return 1;
        g.ram = mmap(NULL, (size_t) BATCH * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, g.memfd, 0);
        g.big_ram = mmap(NULL, arg_big, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, g.big_memfd, 0);
        if (g.ram == MAP_FAILED || g.big_ram == MAP_FAILED)
                return 1;
        memset(g.ram, 1, (size_t) BATCH * PAGE);
        if (arg_direct_cdev) {
                r = direct_open(&g.pair, arg_direct_cdev);
                if (r < 0) {
                        missing("direct: bind and attach the second edu", r);
                        return 1;
                }
                g.paired = true;
        }

        printf("# vmbench: %u rounds of %u iterations, %s big map, edu %s attached (every page pinned);"
               " baselines %s; figures: median over the rounds, ratio: median of the rounds' ratios (range)\n",
               arg_rounds, arg_iterations, big_size, arg_device,
               g.paired ? "on a second edu, right before each measurement" : "on the same edu, once a round");

        if (arg_phase)
                return run_phase(arg_phase) < 0;
        for (unsigned i = 0; i < arg_rounds; i++)
                if (round_direct(&x[i]) < 0 || round_brokered(&x[i]) < 0)
                        return 1;
        baseline_row("direct 4 KiB map (baseline)", SERIES(x, b_h_map.map));
        baseline_row("direct 4 KiB unmap (baseline)", SERIES(x, b_h_map.unmap));
        baseline_row("direct 4 KiB map by file (baseline)", SERIES(x, b_h_map.map_file));
        baseline_row("bare SEQPACKET round trip with an fd", SERIES(x, b_h_map.bare));
        baseline_row(big_label("direct ", " map (baseline)"), SERIES(x, b_big.big));
        baseline_row(big_label("direct ", " map by file (baseline)"), SERIES(x, b_big.big_file));

        row("4 KiB map by fd, one at a time", SERIES(x, fd_map), SERIES(x, b_fd_map.map), "direct", 0);
        row("4 KiB map by fd, one at a time", SERIES(x, fd_map), SERIES_SUM(x, b_fd_map.bare, b_fd_map.map), "bare+dir", 0);
        row("4 KiB map by fd in a Batch of 64, per op", SERIES(x, fd_batch), SERIES(x, b_fd_batch.map), "direct", 0);
        row("4 KiB map by fd, 64 async, per op", SERIES(x, fd_async), SERIES(x, fd_batch), "batch", 0);
        row("4 KiB map by handle, one at a time", SERIES(x, h_map), SERIES(x, b_h_map.map), "direct", 0);
        row("4 KiB map by handle, one at a time", SERIES(x, h_map), SERIES_SUM(x, b_h_map.bare, b_h_map.map), "bare+dir", 1.3);
        row("4 KiB unmap, one at a time", SERIES(x, h_unmap), SERIES_SUM(x, b_h_map.bare, b_h_map.unmap), "bare+dir", 1.3);
        row("  floor: to an echo in epoll_wait, + direct map", SERIES_SUM(x, b_h_map.bare_epoll, b_h_map.map),
            SERIES_SUM(x, b_h_map.bare, b_h_map.map), "bare+dir", 0);
        row("  the map, of a sealed memfd (SHRINK|GROW|SEAL)", SERIES(x, s_map), SERIES_SUM(x, b_s_map.bare, b_s_map.map), "bare+dir", 0);
        row("4 KiB map by handle in a Batch of 64, per op", SERIES(x, h_batch), SERIES(x, b_h_batch.map), "direct", 1.5);
        row("  the same, vs direct 4 KiB maps by file", SERIES(x, h_batch), SERIES(x, b_h_batch.map_file), "by file", 0);
        row("  direct 4 KiB map by file (the broker's ioctl)", SERIES(x, b_h_batch.map_file), SERIES(x, b_h_batch.map),
            "direct", 0);
        row("  the same, vs direct maps by file in its order", SERIES(x, h_batch), SERIES(x, b_h_batch.grouped_map),
            "by file", 0);
        row("4 KiB unmap in a Batch of 64, per op", SERIES(x, h_batch_unmap), SERIES(x, b_h_batch.unmap), "direct", 1.5);
        row("  the same, vs direct unmaps in its order", SERIES(x, h_batch_unmap), SERIES(x, b_h_batch.grouped_unmap),
            "direct", 0);
        row("4 KiB map by handle, 64 async, coalesced, per op", SERIES(x, h_async), SERIES(x, h_batch), "batch", 1.2);
        row("  the same, each request alone (no coalescing)", SERIES(x, h_async_alone), SERIES(x, h_batch), "batch", 0);
        cpu_row("where a direct 4 KiB map+unmap goes", &cpu_direct);
        cpu_row("where a 4 KiB map+unmap by handle goes, alone", &cpu_small);
        cpu_row("  the same, in Batches of 64", &cpu_batch);
        row(big_label("one ", " map (pins every page)"), SERIES(x, big), SERIES(x, b_big.big), "direct", 0);
        row(big_label("one ", " map (pins every page)"), SERIES(x, big), SERIES(x, b_big.big_file), "by file", 1.05);

        /* another tenant's cheap request, idle and while this one maps and unmaps big */
        r = brokered_open(&b);
        if (r < 0) {
                missing("broker: open and attach edu", r);
                return 1;
        }
        n = bystander_measure(NULL, NULL, 1.0, &idle_med, &idle_max, &r);
        job = (BigJob) { .b = &b, .memfd = g.big_memfd, .rounds = 3 };
        if (n == 0 || r < 0)
                missing("another tenant, idle", r ? r : -EIO);
        else if ((n = bystander_measure(big_rounds, &job, 0, &busy_med, &busy_max, &r)) == 0 || r < 0)
                missing(big_label("another tenant during ", " maps"), r ? r : -EIO);
        else {
                printf("%-46s %10.1f us median, %.1f us max (%zu samples)\n", "another tenant's GetCapabilities, idle",
                       idle_med, idle_max, n);
                single_row(big_label("another tenant during ", " maps, median"), busy_med, idle_med, "idle", 2.0);
                single_row(big_label("another tenant during ", " maps, max"), busy_max, idle_med, "idle", 10.0);
                if ((n = bystander_measure(big_free_rounds, &job, 0, &busy_med, &busy_max, &r)) == 0 || r < 0)
                        missing(big_label("another tenant during a ", " IoasFree"), r ? r : -EIO);
                else {
                        single_row(big_label("  the same, during attach/detach and IoasFree of ", ", median"), busy_med,
                                   idle_med, "idle", 2.0);
                        single_row(big_label("  the same, during attach/detach and IoasFree of ", ", max"), busy_max,
                                   idle_med, "idle", 10.0);
                }
        }
        brokered_close(&b);
        /* the device is b's no more: sessions of their own that end with 256 MiB mapped */
        if (idle_med > 0) {
                if ((n = bystander_measure(big_end_rounds, &job, 0, &busy_med, &busy_max, &r)) == 0 || r < 0)
                        missing(big_label("another tenant during the end of a session with ", ""), r ? r : -EIO);
                else {
                        single_row(big_label("  the same, during ends of sessions with ", ", median"), busy_med, idle_med,
                                   "idle", 2.0);
                        single_row(big_label("  the same, during ends of sessions with ", ", max"), busy_max, idle_med,
                                   "idle", 10.0);
                }
        }
        if (g.paired)
                direct_close(&g.pair);
        return failed ? 1 : 0;
}

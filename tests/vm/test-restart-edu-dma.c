/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-restart-edu-dma.c - edu's DMA lives through a kill -9 of the broker, in the QEMU guest (TAP).
 *
 * The VMM's half of the guest test restart-edu-dma.  The broker
 * (iommu-brokerd --backend=kernel) runs under tests/lib/ib-svcmgr, which keeps
 * its fd store as systemd does; the guest suite kills it with SIGKILL through
 * the harness and the harness starts it again with the store.  Steps, each
 * one handed over through a file in --sync-dir:
 *
 *   1. One connection: IoasAlloc, MemRegister of a 4-page memfd, MapMem of its
 *      pages 0-1 at IOVA A (A, then B = A + 4 KiB), DeviceOpen of edu (the
 *      device fd: BAR0 mmap, bus mastering), attach to the IOAS; edu's DMA
 *      engine copies A -> edu -> B: B holds A.  Creates DIR/mapped.
 *   2. Waits for DIR/killed (the suite saw the broker die) and copies again,
 *      a new pattern, A -> edu -> B, while no broker runs: the kernel still
 *      holds the context the store kept.  Creates DIR/downtime-done.
 *   3. Waits for DIR/restarted (the harness's `ready ... start=2`) and copies
 *      again before any request.  Then, on the same connection (no
 *      reconnect): a second MapMem (pages 2-3 at IOVA C, D = C + 4 KiB),
 *      ib_client_restarts() is 1, IoasIovaRanges answers and covers A..D,
 *      DeviceList shows edu open in this session, and a probe connection
 *      sees it in use and gets EBUSY from DeviceOpen.  C -> edu -> D through
 *      the new mapping, then Unmap of the first mapping returns its 8 KiB
 *      (a second: ENOENT), and edu's write to B is blocked: B stays zero (the
 *      suite looks for the DMAR fault in the kernel log).
 *   4. Closes its device fd and the connection: a new connection's DeviceOpen
 *      of edu succeeds (within 5 s).
 *
 * Usage: test-restart-edu-dma --socket=PATH --sync-dir=DIR [--device=BDF]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"

#define EDU_ID 0x00
#define EDU_LIVENESS 0x04
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_COUNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_START 0x1
#define EDU_DMA_TO_RAM 0x2
#define EDU_BUF 0x40000

#define PAGE 4096
/* edu masks DMA addresses to 28 bits: stay below 256 MiB */
#define IOVA_A 0x100000ULL              /* the first mapping: pages 0-1 of the memfd at A, B */
#define IOVA_B (IOVA_A + PAGE)
#define IOVA_C 0x200000ULL              /* the second, made after the restart: pages 2-3 at C, D */
#define IOVA_D (IOVA_C + PAGE)

static const char *sock_path, *sync_dir;

typedef struct Vmm {
        ib_client *c;
        char name[32];
        uint32_t ioas;
        uint32_t mem;
        uint32_t dev;
        int dev_fd;
        int memfd;
        uint8_t *ram;                   /* pages A, B, C, D */
        volatile uint8_t *bar0;
        size_t bar0_size;
} Vmm;

static uint32_t rd32(Vmm *v, unsigned off) {
        return *(volatile uint32_t *) (v->bar0 + off);
}

static void wr32(Vmm *v, unsigned off, uint32_t val) {
        *(volatile uint32_t *) (v->bar0 + off) = val;
}

static void wr64(Vmm *v, unsigned off, uint64_t val) {
        *(volatile uint64_t *) (v->bar0 + off) = val;
}

static uint8_t *page(Vmm *v, unsigned i) {
        return v->ram + (size_t) i * PAGE;
}

/* One edu DMA; 0 when the engine finished within 5 s. */
static int edu_dma(Vmm *v, uint64_t src, uint64_t dst, uint32_t count, bool to_ram) {
        struct timespec ts = { .tv_nsec = 1000 * 1000 };

        wr64(v, EDU_DMA_SRC, src);
        wr64(v, EDU_DMA_DST, dst);
        wr64(v, EDU_DMA_COUNT, count);
        wr32(v, EDU_DMA_CMD, EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0));
        for (int i = 0; i < 5000; i++) {
                if (!(rd32(v, EDU_DMA_CMD) & EDU_DMA_START))
                        return 0;
                nanosleep(&ts, NULL);
        }
        return -ETIMEDOUT;
}

/* Fills page src with a pattern of seed, clears page dst, copies src -> edu -> dst; the bytes of dst equal to src. */
static size_t copy_through_edu(Vmm *v, unsigned src, unsigned dst, uint64_t src_iova, uint64_t dst_iova,
                               uint8_t seed) {
        size_t k = 0;

        for (int i = 0; i < PAGE; i++)
                page(v, src)[i] = (uint8_t) (i * 31 + seed);
        memset(page(v, dst), 0, PAGE);
        if (edu_dma(v, src_iova, EDU_BUF, PAGE, false) < 0 || edu_dma(v, EDU_BUF, dst_iova, PAGE, true) < 0) {
                printf("# edu's DMA engine did not finish within 5 s\n");
                return 0;
        }
        for (int i = 0; i < PAGE; i++)
                k += page(v, dst)[i] == page(v, src)[i];
        return k;
}

static size_t count_nonzero(const uint8_t *a, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                k += a[i] != 0;
        return k;
}

/* edu as DeviceList shows it on c; false if it is not listed. */
static bool edu_info(ib_client *c, const char *name, ib_device_info *ret) {
        ib_device_info list[32];
        size_t n = 32;

        if (ib_device_list(c, list, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (name ? strcmp(list[i].name, name) == 0
                         : list[i].vendor_id == 0x1234 && list[i].device_id == 0x11e8) {
                        *ret = list[i];
                        return true;
                }
        return false;
}

static int region(int fd, unsigned index, struct vfio_region_info *ret) {
        *ret = (struct vfio_region_info) { .argsz = sizeof(*ret), .index = index };
        return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ret) < 0 ? -errno : 0;
}

/* Opens edu through the broker, maps BAR0, enables bus mastering. */
static int vmm_open_device(Vmm *v) {
        struct vfio_region_info bar0, cfg;
        uint16_t cmd;
        int r;

        r = ib_device_open(v->c, v->name, &v->dev, &v->dev_fd);
        if (r < 0) {
                printf("# device-open %s: %s\n", v->name, ib_client_error(v->c));
                return r;
        }
        r = region(v->dev_fd, VFIO_PCI_BAR0_REGION_INDEX, &bar0);
        if (r < 0)
                return r;
        r = region(v->dev_fd, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
        if (r < 0)
                return r;
        v->bar0_size = bar0.size;
        v->bar0 = mmap(NULL, bar0.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->dev_fd, (off_t) bar0.offset);
        if (v->bar0 == MAP_FAILED) {
                v->bar0 = NULL;
                return -errno;
        }
        if (pread(v->dev_fd, &cmd, 2, (off_t) (cfg.offset + 4)) != 2)
                return -EIO;
        cmd |= 0x4;     /* PCI_COMMAND_MASTER: vfio-pci leaves it to the user */
        if (pwrite(v->dev_fd, &cmd, 2, (off_t) (cfg.offset + 4)) != 2)
                return -EIO;
        return 0;
}

static void vmm_close(Vmm *v) {
        if (v->bar0)
                munmap((void *) v->bar0, v->bar0_size);
        if (v->ram && v->ram != MAP_FAILED)
                munmap(v->ram, 4 * PAGE);
        if (v->dev_fd >= 0)
                close(v->dev_fd);
        if (v->memfd >= 0)
                close(v->memfd);
        ib_client_free(v->c);
        v->bar0 = NULL;
        v->ram = NULL;
        v->dev_fd = v->memfd = -1;
        v->c = NULL;
}

static int sync_create(const char *what) {
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", sync_dir, what);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

/* Waits (120 s at most) for the suite to create DIR/what. */
static bool sync_wait(const char *what) {
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", sync_dir, what);
        for (int i = 0; i < 2400; i++) {
                if (access(path, F_OK) == 0)
                        return true;
                usleep(50000);
        }
        printf("# no %s after 120 s\n", path);
        return false;
}

TEST(edu_dma_through_a_broker_restart_then_blocked_after_unmap_on_the_same_connection) {
        const char *dev = tests_option("device");
        ib_iova_range ranges[16];
        size_t n_ranges = 16;
        uint64_t iova, len, align = 0;
        ib_device_info d = {};
        ib_client *probe = NULL;
        uint32_t dev_id;
        int fd, r;
        bool covered = false;
        Vmm v = { .dev_fd = -1, .memfd = -1 };

        /* 1. the VMM's setup through the broker, and a DMA round trip */
        ASSERT_OK(ib_client_connect(sock_path, "test-restart-edu-dma", &v.c));
        if (!edu_info(v.c, dev, &d)) {
                tests_skip("no edu device (1234:11e8) in the broker's list");
                vmm_close(&v);
                return;
        }
        snprintf(v.name, sizeof(v.name), "%s", d.name);
        printf("# session %" PRIu64 ", device %s\n", ib_client_session_id(v.c), v.name);
        ASSERT_OK(ib_ioas_alloc(v.c, NULL, &v.ioas));
        v.memfd = test_memfd("guest-ram", 4 * PAGE);
        ASSERT_TRUE(v.memfd >= 0);
        v.ram = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, v.memfd, 0);
        ASSERT_TRUE(v.ram != MAP_FAILED);
        ASSERT_OK(ib_mem_register(v.c, v.memfd, &v.mem));
        ASSERT_OK(ib_map_mem(v.c, v.ioas, v.mem, 0, 2 * PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA,
                             IOVA_A, &iova));
        ASSERT_U64_EQ(iova, IOVA_A);
        ASSERT_OK(vmm_open_device(&v));
        ASSERT_U64_EQ(rd32(&v, EDU_ID) & 0xff, 0xed);
        ASSERT_OK(ib_device_attach(v.c, v.dev, v.ioas, NULL));
        printf("# IOAS %u, registered memory %u mapped at 0x%llx (8 KiB), device %u attached\n", v.ioas, v.mem,
               (unsigned long long) IOVA_A, v.dev);
        ASSERT_EQ(copy_through_edu(&v, 0, 1, IOVA_A, IOVA_B, 7), PAGE);
        printf("# before the crash: DMA A -> edu -> B copies all %d bytes\n", PAGE);
        ASSERT_EQ(ib_client_restarts(v.c), 0);
        ASSERT_OK(sync_create("mapped"));

        /* 2. while no broker runs */
        ASSERT_TRUE(sync_wait("killed"));
        ASSERT_EQ(copy_through_edu(&v, 0, 1, IOVA_A, IOVA_B, 11), PAGE);
        printf("# the broker is dead: DMA A -> edu -> B still copies all %d bytes\n", PAGE);
        ASSERT_OK(sync_create("downtime-done"));

        /* 3. the restarted broker, the same connection */
        ASSERT_TRUE(sync_wait("restarted"));
        ASSERT_EQ(copy_through_edu(&v, 0, 1, IOVA_A, IOVA_B, 13), PAGE);
        printf("# the broker is back: DMA A -> edu -> B copies all %d bytes before any request\n", PAGE);

        r = ib_map_mem(v.c, v.ioas, v.mem, 2 * PAGE, 2 * PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA,
                       IOVA_C, &iova);
        if (r < 0)
                printf("# map after the restart: %s\n", ib_client_error(v.c));
        ASSERT_OK(r);
        ASSERT_U64_EQ(iova, IOVA_C);
        printf("# the same connection maps registered memory %u again at 0x%llx, after %" PRIu64 " restart(s)\n",
               v.mem, (unsigned long long) IOVA_C, ib_client_restarts(v.c));
        ASSERT_EQ(ib_client_restarts(v.c), 1);

        r = ib_iova_ranges(v.c, v.ioas, ranges, &n_ranges, &align);
        if (r < 0)
                printf("# iova-ranges: %s\n", ib_client_error(v.c));
        ASSERT_OK(r);
        for (size_t i = 0; i < n_ranges; i++) {
                printf("# IOVA range 0x%llx-0x%llx\n", (unsigned long long) ranges[i].start,
                       (unsigned long long) ranges[i].last);
                covered |= ranges[i].start <= IOVA_A && ranges[i].last >= IOVA_D + PAGE - 1;
        }
        ASSERT_TRUE(covered);

        ASSERT_TRUE(edu_info(v.c, v.name, &d));
        printf("# DeviceList on this connection: open_here %d in_use %d quarantined %d\n", d.open_here, d.in_use,
               d.quarantined);
        ASSERT_TRUE(d.open_here && d.in_use && !d.quarantined);
        ASSERT_OK(ib_client_connect(sock_path, "test-restart-edu-dma-probe", &probe));
        ASSERT_TRUE(edu_info(probe, v.name, &d));
        printf("# DeviceList on another connection: open_here %d in_use %d quarantined %d\n", d.open_here,
               d.in_use, d.quarantined);
        ASSERT_TRUE(!d.open_here && d.in_use);
        fd = -1;
        r = ib_device_open(probe, v.name, &dev_id, &fd);
        printf("# DeviceOpen on another connection: %s (%s)\n", r < 0 ? ib_errno_name(r) : "ok",
               ib_client_error(probe));
        if (fd >= 0)
                close(fd);
        ib_client_free(probe);
        probe = NULL;
        ASSERT_ERRNO(EBUSY, r);

        ASSERT_EQ(copy_through_edu(&v, 2, 3, IOVA_C, IOVA_D, 17), PAGE);
        printf("# DMA C -> edu -> D through the mapping made after the restart copies all %d bytes\n", PAGE);

        ASSERT_OK(ib_unmap(v.c, v.ioas, IOVA_A, 2 * PAGE, &len));
        ASSERT_U64_EQ(len, 2 * PAGE);
        ASSERT_ERRNO(ENOENT, ib_unmap(v.c, v.ioas, IOVA_A, 2 * PAGE, &len));
        printf("# Unmap of the mapping made before the crash: 0x%llx bytes; a second one: ENOENT\n",
               (unsigned long long) (2 * PAGE));
        memset(page(&v, 1), 0, PAGE);
        (void) edu_dma(&v, EDU_BUF, IOVA_B, PAGE, true);
        printf("# after the unmap: DMA edu -> B left %zu non-zero bytes in B\n", count_nonzero(page(&v, 1), PAGE));
        ASSERT_EQ(count_nonzero(page(&v, 1), PAGE), 0);

        /* 4. the device fd and the connection closed: edu is free for a new connection */
        vmm_close(&v);
        for (int i = 0; i < 50; i++) {
                ASSERT_OK(ib_client_connect(sock_path, "test-restart-edu-dma-next", &probe));
                fd = -1;
                r = ib_device_open(probe, v.name, &dev_id, &fd);
                if (r != -EBUSY)
                        break;
                ib_client_free(probe);
                probe = NULL;
                usleep(100000);
        }
        if (r < 0)
                printf("# DeviceOpen on a new connection: %s\n", ib_client_error(probe));
        if (fd >= 0)
                close(fd);
        ib_client_free(probe);
        ASSERT_OK(r);
        printf("# the session ended: a new connection opens %s\n", v.name);
}

static int setup(void) {
        sock_path = tests_option("socket");
        sync_dir = tests_option("sync-dir");
        if (!sock_path || !sync_dir) {
                printf("# usage: test-restart-edu-dma --socket=PATH --sync-dir=DIR [--device=BDF]\n");
                return -EINVAL;
        }
        return 0;
}

TESTS_MAIN(setup, NULL)

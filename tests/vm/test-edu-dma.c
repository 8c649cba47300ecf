/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-edu-dma.c - real DMA through the broker, in the QEMU guest (TAP).
 *
 * An unprivileged VMM's flow against iommu-brokerd --backend=kernel: it maps
 * two memfd pages at IOVAs A and B through the broker, opens QEMU's edu
 * device through the broker (receiving the bound VFIO fd), attaches it,
 * mmaps BAR0 through that fd, turns on bus mastering in config space and
 * programs edu's DMA engine to copy A -> device -> B.  B must equal A.  Then
 * it unmaps B through the broker and repeats: the IOMMU must block the write,
 * B stays untouched.  --via-hwpt attaches to the IOAS, then replaces that
 * attachment with an explicit paging HWPT before the DMA.  --wrong-iova=OFF
 * programs the device OFF bytes past B, to show the check catches a wrong
 * translation (the test then expects the copy to miss B).
 *
 * --keep-fd-past=end|revoke: after the round trip, the session ends (end:
 * the client hangs up; revoke: the test creates --ready-file and waits for
 * the broker to close the connection, which the guest suite makes it do by a
 * policy reload with RevokeOnReload=yes) while the VMM keeps its device fd
 * and BAR mapping.  The device must be quarantined, held by this process; an
 * attach through the fd to the old IOAS (or any id) must find nothing; and
 * the device's DMA from A to B must be blocked (the suite then looks for the
 * DMAR fault in the kernel log).  Closing the fd frees the device.
 * --attack-victim=READY,DONE: before trying the fd, wait for a victim tenant
 * (another run with --victim=READY,DONE) to map its RAM, and write edu's
 * buffer to the old IOVAs too; create DONE when finished.
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"
#include "tests/lib/util-device.h"

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
#define IOVA_A 0x100000ULL              /* edu masks DMA addresses to 28 bits: stay below 256 MiB */
#define IOVA_B 0x200000ULL

static TestBroker broker;

typedef struct Vmm {
        ib_client *c;
        uint32_t ioas;
        uint32_t dev;
        int dev_fd;
        int memfd;
        uint8_t *ram;                   /* page A, then page B */
        volatile uint8_t *bar0;
        size_t bar0_size;
        uint64_t cfg_offset;
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

static const char *edu_name(ib_client *c, char *buf, size_t size) {
        ib_device_info list[32];
        size_t n = 32;

        if (ib_device_list(c, list, &n) < 0)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (list[i].vendor_id == 0x1234 && list[i].device_id == 0x11e8) {
                        snprintf(buf, size, "%s", list[i].name);
                        return buf;
                }
        return NULL;
}

static int region(int fd, unsigned index, struct vfio_region_info *ret) {
        *ret = (struct vfio_region_info) { .argsz = sizeof(*ret), .index = index };
        return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ret) < 0 ? -errno : 0;
}

/* Opens edu through the broker, maps BAR0, enables bus mastering. */
static int vmm_open(Vmm *v) {
        struct vfio_region_info bar0, cfg;
        char name[32];
        uint16_t cmd;
        int r;

        memset(v, 0, sizeof(*v));
        v->dev_fd = v->memfd = -1;
        r = ib_client_connect(broker.socket, "test-edu-dma", &v->c);
        if (r < 0)
                return r;
        if (!edu_name(v->c, name, sizeof(name)))
                return -ENODEV;
        r = ib_ioas_alloc(v->c, NULL, &v->ioas);
        if (r < 0)
                return r;
        v->memfd = test_memfd("guest-ram", 2 * PAGE);
        if (v->memfd < 0)
                return v->memfd;
        v->ram = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
        if (v->ram == MAP_FAILED)
                return -errno;
        r = ib_device_open(v->c, name, &v->dev, &v->dev_fd);
        if (r < 0) {
                printf("# device-open %s: %s\n", name, ib_client_error(v->c));
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
        if (v->bar0 == MAP_FAILED)
                return -errno;
        v->cfg_offset = cfg.offset;
        if (pread(v->dev_fd, &cmd, 2, (off_t) (cfg.offset + 4)) != 2)
                return -EIO;
        cmd |= 0x4;     /* PCI_COMMAND_MASTER: vfio-pci leaves it to the user */
        if (pwrite(v->dev_fd, &cmd, 2, (off_t) (cfg.offset + 4)) != 2)
                return -EIO;
        return 0;
}

static void vmm_close(Vmm *v) {
        if (v->bar0 && v->bar0 != MAP_FAILED)
                munmap((void *) v->bar0, v->bar0_size);
        if (v->ram && v->ram != MAP_FAILED)
                munmap(v->ram, 2 * PAGE);
        if (v->dev_fd >= 0)
                close(v->dev_fd);
        if (v->memfd >= 0)
                close(v->memfd);
        ib_client_free(v->c);
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

static size_t count_equal(const uint8_t *a, const uint8_t *b, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                k += a[i] == b[i];
        return k;
}

static size_t count_nonzero(const uint8_t *a, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                k += a[i] != 0;
        return k;
}

TEST(edu_dma_round_trip_through_the_broker_then_blocked_after_unmap) {
        const char *wrong = tests_option("wrong-iova");
        uint64_t off = wrong ? strtoull(wrong, NULL, 0) : 0;
        uint64_t iova, len;
        uint32_t hwpt = 0, auto_hwpt = 0;
        uint8_t *a, *b;
        Vmm v;
        int r;

        if (tests_option("keep-fd-past") || tests_option("victim")) {
                tests_skip("--keep-fd-past and --victim run their own test");
                return;
        }
        r = vmm_open(&v);
        if (r == -ENODEV) {
                tests_skip("no edu device (1234:11e8) in the broker's list");
                vmm_close(&v);
                return;
        }
        ASSERT_OK(r);
        a = v.ram;
        b = v.ram + PAGE;
        ASSERT_U64_EQ(rd32(&v, EDU_ID) & 0xff, 0xed);
        wr32(&v, EDU_LIVENESS, 0x12345678);
        ASSERT_U64_EQ(rd32(&v, EDU_LIVENESS), ~0x12345678U);

        iova = IOVA_A;
        ASSERT_OK(ib_map(v.c, v.ioas, v.memfd, 0, PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        iova = IOVA_B;
        ASSERT_OK(ib_map(v.c, v.ioas, v.memfd, PAGE, PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        ASSERT_OK(ib_device_attach(v.c, v.dev, v.ioas, &auto_hwpt));
        printf("# attached device %u to IOAS %u (hwpt %u)\n", v.dev, v.ioas, auto_hwpt);
        if (tests_option("via-hwpt")) {
                ASSERT_OK(ib_hwpt_alloc(v.c, v.dev, v.ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, &hwpt));
                ASSERT_OK(ib_device_attach(v.c, v.dev, hwpt, &auto_hwpt));
                ASSERT_EQ(auto_hwpt, hwpt);
                printf("# replaced the IOAS attachment with HWPT %u\n", hwpt);
        }

        for (int i = 0; i < PAGE; i++)
                a[i] = (uint8_t) (i * 31 + 7);
        memset(b, 0, PAGE);
        ASSERT_OK(edu_dma(&v, IOVA_A, EDU_BUF, PAGE, false));
        ASSERT_OK(edu_dma(&v, EDU_BUF, IOVA_B + off, PAGE, true));
        printf("# DMA IOVA 0x%llx -> edu -> IOVA 0x%llx: %zu of %d bytes of B equal A\n",
               (unsigned long long) IOVA_A, (unsigned long long) (IOVA_B + off), count_equal(a, b, PAGE), PAGE);
        if (wrong) {
                /* the device wrote elsewhere (or was blocked): B must not have the data */
                ASSERT_TRUE(count_equal(a, b, PAGE) < PAGE);
                printf("# the wrong IOVA is caught: B does not hold A\n");
                vmm_close(&v);
                return;
        }
        ASSERT_EQ(count_equal(a, b, PAGE), PAGE);

        ASSERT_OK(ib_unmap(v.c, v.ioas, IOVA_B, PAGE, &len));
        ASSERT_U64_EQ(len, PAGE);
        memset(b, 0, PAGE);
        ASSERT_OK(edu_dma(&v, EDU_BUF, IOVA_B, PAGE, true));
        printf("# after unmapping B: DMA to IOVA 0x%llx left %zu non-zero bytes in B\n",
               (unsigned long long) IOVA_B, count_nonzero(b, PAGE));
        ASSERT_EQ(count_nonzero(b, PAGE), 0);
        vmm_close(&v);
}

/* The edu slot as DeviceList shows it, through a fresh connection. */
static bool edu_state(const char *name, ib_device_info *ret) {
        ib_device_info list[32];
        size_t n = 32;
        ib_client *c = NULL;
        bool found = false;

        if (ib_client_connect(broker.socket, "test-edu-dma-probe", &c) == 0 && ib_device_list(c, list, &n) == 0)
                for (size_t i = 0; i < n && !found; i++)
                        if (strcmp(list[i].name, name) == 0) {
                                *ret = list[i];
                                found = true;
                        }
        ib_client_free(c);
        return found;
}

/* Waits (10 s at most) for a file to appear. */
static bool wait_for_file(const char *path) {
        for (int i = 0; i < 200; i++) {
                if (access(path, F_OK) == 0)
                        return true;
                usleep(50000);
        }
        return false;
}

/* Waits (5 s at most) until the connection is closed by the broker. */
static bool connection_closed(ib_client *c) {
        struct pollfd p = { .fd = ib_client_get_fd(c), .events = POLLIN };

        for (int i = 0; i < 50; i++) {
                char byte;

                if (poll(&p, 1, 100) > 0 && recv(p.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
                        return true;
        }
        return false;
}

TEST(edu_dma_blocked_for_a_device_fd_kept_past_the_session) {
        const char *mode = tests_option("keep-fd-past"), *ready = tests_option("ready-file");
        const char *victim = tests_option("attack-victim");
        char victim_ready[128] = "", *victim_done = NULL;
        uint64_t iova;
        ib_device_info d = {};
        bool listed;
        char name[32];
        uint8_t *a, *b;
        Vmm v;
        int r;

        if (!mode || tests_option("victim")) {
                tests_skip("no --keep-fd-past given");
                return;
        }
        if (victim) {
                snprintf(victim_ready, sizeof(victim_ready), "%s", victim);
                victim_done = strchr(victim_ready, ',');
                ASSERT_TRUE(victim_done != NULL);
                *victim_done++ = '\0';
        }
        r = vmm_open(&v);
        if (r == -ENODEV) {
                tests_skip("no edu device (1234:11e8) in the broker's list");
                vmm_close(&v);
                return;
        }
        ASSERT_OK(r);
        ASSERT_TRUE(edu_name(v.c, name, sizeof(name)) != NULL);
        a = v.ram;
        b = v.ram + PAGE;
        iova = IOVA_A;
        ASSERT_OK(ib_map(v.c, v.ioas, v.memfd, 0, PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        iova = IOVA_B;
        ASSERT_OK(ib_map(v.c, v.ioas, v.memfd, PAGE, PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        ASSERT_OK(ib_device_attach(v.c, v.dev, v.ioas, NULL));
        for (int i = 0; i < PAGE; i++)
                a[i] = (uint8_t) (i * 13 + 5);
        memset(b, 0, PAGE);
        ASSERT_OK(edu_dma(&v, IOVA_A, EDU_BUF, PAGE, false));
        ASSERT_OK(edu_dma(&v, EDU_BUF, IOVA_B, PAGE, true));
        ASSERT_EQ(count_equal(a, b, PAGE), PAGE);
        printf("# DMA A -> edu -> B works while the session lives\n");

        if (strcmp(mode, "revoke") == 0) {
                FILE *f;

                ASSERT_TRUE(ready != NULL);
                f = fopen(ready, "w");
                ASSERT_TRUE(f != NULL);
                fclose(f);
                ASSERT_TRUE(connection_closed(v.c));
                printf("# the broker closed the session (policy reload, RevokeOnReload=yes)\n");
        } else
                printf("# the client hangs up, keeping its device fd\n");
        ib_client_free(v.c);
        v.c = NULL;

        /* after a revoke the tenant lost the grant: DeviceList no longer shows it the device */
        listed = true;
        for (int i = 0; i < 100 && (listed = edu_state(name, &d)) && !d.quarantined; i++)
                usleep(50000);
        if (listed) {
                printf("# DeviceList: in_use %d quarantined %d held_by_pid %d (this process: %d)\n", d.in_use,
                       d.quarantined, d.held_by_pid, (int) getpid());
                ASSERT_TRUE(d.quarantined && !d.in_use);
                ASSERT_EQ(d.held_by_pid, (int) getpid());
        } else {
                ASSERT_TRUE(strcmp(mode, "revoke") == 0);
                printf("# DeviceList no longer shows the device to this tenant (its grant was revoked)\n");
                usleep(300000);
        }

        if (victim) {
                ASSERT_TRUE(wait_for_file(victim_ready));
                printf("# the victim tenant has mapped its RAM\n");
        }

        /* the context the fd still holds is empty: nothing to attach to (its one object is the device itself) */
        for (uint32_t id = 1; id <= 8; id++) {
                r = test_device_fd_attach(broker.socket, v.dev_fd, id);
                if (r != -ENOENT)
                        printf("# VFIO_DEVICE_ATTACH_IOMMUFD_PT to %u: %s\n", id, strerror(-r));
                if (id == v.dev)
                        ASSERT_ERRNO(EINVAL, r);
                else
                        ASSERT_ERRNO(ENOENT, r);
        }
        printf("# VFIO_DEVICE_ATTACH_IOMMUFD_PT through the kept fd: ENOENT for ids 1..8 (EINVAL for %u, the device)\n",
               v.dev);

        memset(b, 0, PAGE);
        /* edu's buffer still holds A: written to both old IOVAs it would land in whatever backs them now */
        (void) edu_dma(&v, EDU_BUF, IOVA_A, PAGE, true);
        (void) edu_dma(&v, IOVA_A, EDU_BUF, PAGE, false);
        (void) edu_dma(&v, EDU_BUF, IOVA_B, PAGE, true);
        printf("# after the session: DMA to IOVA 0x%llx left %zu non-zero bytes in B\n",
               (unsigned long long) IOVA_B, count_nonzero(b, PAGE));
        ASSERT_EQ(count_nonzero(b, PAGE), 0);
        if (victim) {
                FILE *f = fopen(victim_done, "w");

                ASSERT_TRUE(f != NULL);
                fclose(f);
        }

        vmm_close(&v);                  /* closes the device fd: the device is free again */
        if (!listed)
                return;                 /* the guest suite checks the release in the broker's audit */
        for (int i = 0; i < 100 && !(edu_state(name, &d) && !d.quarantined); i++)
                usleep(50000);
        ASSERT_TRUE(!d.quarantined && !d.in_use);
        printf("# the fd closed: the device is free\n");
}

/*
 * --victim=READY,DONE: another tenant, with no device.  It maps two pages of
 * its guest RAM (filled with 0x5a) one by one, as the attacker did; on the
 * mmap path the broker maps them into its own address space, where the
 * attacker's pages were before its session ended.  It creates READY, waits
 * for DONE (the attacker has tried its kept device fd meanwhile) and checks
 * that not one byte of its RAM changed.
 */
TEST(victim_ram_stays_untouched) {
        const char *arg = tests_option("victim");
        char ready[128], *done;
        uint64_t iova;
        ib_client *c = NULL;
        uint32_t ioas;
        uint8_t *ram;
        int memfd;
        FILE *f;

        if (!arg) {
                tests_skip("no --victim given");
                return;
        }
        snprintf(ready, sizeof(ready), "%s", arg);
        done = strchr(ready, ',');
        ASSERT_TRUE(done != NULL);
        *done++ = '\0';
        ASSERT_OK(ib_client_connect(broker.socket, "test-edu-dma-victim", &c));
        ASSERT_OK(ib_ioas_alloc(c, NULL, &ioas));
        memfd = test_memfd("victim-ram", 2 * PAGE);
        ASSERT_TRUE(memfd >= 0);
        ram = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        ASSERT_TRUE(ram != MAP_FAILED);
        memset(ram, 0x5a, 2 * PAGE);
        iova = IOVA_A;
        ASSERT_OK(ib_map(c, ioas, memfd, 0, PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        iova = IOVA_B;
        ASSERT_OK(ib_map(c, ioas, memfd, PAGE, PAGE, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        f = fopen(ready, "w");
        ASSERT_TRUE(f != NULL);
        fclose(f);
        ASSERT_TRUE(wait_for_file(done));
        {
                size_t changed = 2 * PAGE;

                for (size_t i = 0; i < 2 * PAGE; i++)
                        changed -= ram[i] == 0x5a;
                printf("# victim: %zu of %d bytes of its RAM changed while the attacker held its device fd\n",
                       changed, 2 * PAGE);
                ASSERT_EQ(changed, 0);
        }
        munmap(ram, 2 * PAGE);
        close(memfd);
        ib_client_free(c);
}

static int setup(void) {
        const char *sock = tests_option("socket");

        if (!sock) {
                printf("# usage: test-edu-dma --socket=PATH [--via-hwpt] [--wrong-iova=OFFSET] "
                       "[--keep-fd-past=end|revoke [--ready-file=PATH] [--attack-victim=READY,DONE]] "
                       "[--victim=READY,DONE]\n");
                return -EINVAL;
        }
        test_broker_attach(&broker, sock);
        return 0;
}

TESTS_MAIN(setup, NULL)

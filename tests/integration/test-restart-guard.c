/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-restart-guard.c - writable DMA keeps F_SEAL_WRITE away across broker restarts.
 *
 * While a device may write to a memfd (a writable mapping of it, or a copy
 * of one, on the MAP_FILE path), the broker holds a shared writable mmap of
 * the file, its seal guard, so that the kernel refuses F_SEAL_WRITE
 * (EBUSY).  A restart ends the broker's mmaps; the guard's own fd, kept in
 * the fd store, makes it again.  Here the broker runs under
 * tests/lib/ib-svcmgr (systemd's part: notify socket, fd store, restart)
 * and is killed with SIGKILL twice while one client holds: a mapping by an
 * fd of the request, a mapping of a registration it has since unregistered,
 * a copy whose source it unmapped, and a read-only mapping (which needs no
 * guard).  After each restart the first three files still refuse the seal
 * and the fourth takes it; once the client unmaps them, each takes it too,
 * so no restored guard outlives its mappings.  And a guard whose holders
 * before the restart were not all replayed (unregistered, in an IOAS freed
 * since) comes back too.  Backend: sim, or the one
 * $IB_RESTART_GUARD_BACKEND names (the guest runs it on the kernel).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"
#include "tests/soak/svcmgr-util.h"

#define KiB 1024ULL
#define RW (IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA)
#define READY_TIMEOUT_MS 30000

static Svcmgr mgr;

/* ib_map() at a fixed IOVA. */
static int map_at(ib_client *c, uint32_t ioas, int fd, uint64_t length, unsigned flags, uint64_t iova) {
        return ib_map(c, ioas, fd, 0, length, flags | IB_MAP_FIXED_IOVA, &iova);
}

/* Whether the kernel lets F_SEAL_WRITE onto fd now (0), or says why not (-errno). */
static int try_seal(int fd) {
        return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 ? -errno : 0;
}

static int restart(void) {
        unsigned next = mgr.starts + 1;
        RestartAudit a;
        int r;

        r = svcmgr_kill(&mgr);
        if (r < 0)
                return r;
        if (!svcmgr_wait_ready(&mgr, next, READY_TIMEOUT_MS))
                return -ETIMEDOUT;
        r = svcmgr_restart_audit(&mgr, next - 1, &a);
        if (r < 0)
                return r;
        if (a.sessions != 1 || a.ended != 0) {
                printf("# restart %u: %llu sessions restored, %llu ended; expected 1 and 0\n", next - 1,
                       (unsigned long long) a.sessions, (unsigned long long) a.ended);
                return -EPROTO;
        }
        return 0;
}

TEST(writable_dma_keeps_the_write_seal_away_across_restarts) {
        int by_fd = test_memfd("by-fd", 64 * KiB), unreg = test_memfd("unregistered", 64 * KiB);
        int copied = test_memfd("copied", 64 * KiB), readonly = test_memfd("read-only", 64 * KiB);
        uint64_t iova, dst = 0x800000;
        uint32_t a, b, mem = 0;
        ib_client *c = NULL;
        ib_caps caps;

        if (mgr.pid <= 0)
                return tests_skip("needs IB_DAEMON and IB_BUILDDIR (or IB_SVCMGR)");
        ASSERT_TRUE(by_fd >= 0 && unreg >= 0 && copied >= 0 && readonly >= 0);
        ASSERT_OK(ib_client_connect(mgr.socket, "restart-guard", &c));
        ASSERT_OK(ib_caps_get(c, &caps));
        if (!(caps.kernel_features & IB_KERNEL_FEATURE_MAP_FILE)) {
                ib_client_free(c);
                return tests_skip("no IOMMU_IOAS_MAP_FILE: the broker's mmap of the memory is the mapping");
        }
        ASSERT_OK(ib_ioas_alloc(c, NULL, &a));
        ASSERT_OK(ib_ioas_alloc(c, NULL, &b));
        ASSERT_OK(map_at(c, a, by_fd, 64 * KiB, RW, 0x100000));
        ASSERT_OK(ib_mem_register(c, unreg, &mem));
        ASSERT_OK(ib_map_mem(c, a, mem, 0, 16 * KiB, RW, 0x200000, &iova));
        ASSERT_OK(ib_mem_unregister(c, mem));
        ASSERT_OK(map_at(c, a, copied, 64 * KiB, RW, 0x300000));
        ASSERT_OK(ib_copy(c, b, a, 0x300000, 64 * KiB, RW, &dst));
        ASSERT_OK(ib_unmap(c, a, 0x300000, 64 * KiB, NULL));
        ASSERT_OK(map_at(c, a, readonly, 64 * KiB, IB_MAP_READABLE, 0x400000));

        for (int k = 0; k < 2; k++) {
                printf("# restart %d\n", k + 1);
                ASSERT_OK(restart());
                ASSERT_EQ(try_seal(by_fd), -EBUSY);
                ASSERT_EQ(try_seal(unreg), -EBUSY);
                ASSERT_EQ(try_seal(copied), -EBUSY);
        }
        /* read-only DMA needs no guard: none was made again for it */
        ASSERT_OK(try_seal(readonly));

        /* the same session goes on; each file takes the seal once its last writable mapping is gone */
        ASSERT_OK(ib_unmap(c, a, 0x100000, 64 * KiB, NULL));
        ASSERT_OK(try_seal(by_fd));
        ASSERT_OK(ib_unmap(c, a, 0x200000, 16 * KiB, NULL));
        ASSERT_OK(try_seal(unreg));
        ASSERT_EQ(try_seal(copied), -EBUSY);
        ASSERT_OK(ib_unmap(c, b, 0x800000, 64 * KiB, NULL));
        ASSERT_OK(try_seal(copied));
        /* and sealed, writable DMA to it is refused */
        ASSERT_ERRNO(EPERM, map_at(c, a, by_fd, 64 * KiB, RW, 0x100000));
        ib_client_free(c);
        close(by_fd);
        close(unreg);
        close(copied);
        close(readonly);
}

/*
 * Recovery replays the records in order, but not every holder of a guard is
 * replayed: a registration unregistered since, a mapping of an IOAS freed
 * since.  A guard one of them held while a mapping that is replayed went
 * and came back (unmapped, then mapped again) must come back all the same.
 */
TEST(a_guard_held_by_what_is_gone_before_the_restart_comes_back) {
        int remapped = test_memfd("remapped", 64 * KiB), two = test_memfd("two-ioases", 64 * KiB);
        uint32_t a, x, mem = 0;
        ib_client *c = NULL;
        uint64_t iova;
        ib_caps caps;

        if (mgr.pid <= 0)
                return tests_skip("needs IB_DAEMON and IB_BUILDDIR (or IB_SVCMGR)");
        ASSERT_TRUE(remapped >= 0 && two >= 0);
        ASSERT_OK(ib_client_connect(mgr.socket, "restart-guard-2", &c));
        ASSERT_OK(ib_caps_get(c, &caps));
        if (!(caps.kernel_features & IB_KERNEL_FEATURE_MAP_FILE)) {
                ib_client_free(c);
                return tests_skip("no IOMMU_IOAS_MAP_FILE: the broker's mmap of the memory is the mapping");
        }
        ASSERT_OK(ib_ioas_alloc(c, NULL, &a));
        ASSERT_OK(ib_ioas_alloc(c, NULL, &x));
        /* the registration holds the guard while its first mapping goes; then it goes itself */
        ASSERT_OK(ib_mem_register(c, remapped, &mem));
        ASSERT_OK(ib_map_mem(c, a, mem, 0, 16 * KiB, RW, 0x100000, &iova));
        ASSERT_OK(ib_unmap(c, a, 0x100000, 16 * KiB, NULL));
        ASSERT_OK(ib_map_mem(c, a, mem, 0, 16 * KiB, RW, 0x200000, &iova));
        ASSERT_OK(ib_mem_unregister(c, mem));
        /* a mapping in IOAS x holds it while the one in a goes and comes back; then x goes */
        ASSERT_OK(map_at(c, x, two, 16 * KiB, RW, 0x100000));
        ASSERT_OK(map_at(c, a, two, 16 * KiB, RW, 0x300000));
        ASSERT_OK(ib_unmap(c, a, 0x300000, 16 * KiB, NULL));
        ASSERT_OK(map_at(c, a, two, 16 * KiB, RW, 0x300000));
        ASSERT_OK(ib_unmap(c, x, 0x100000, 16 * KiB, NULL));
        ASSERT_OK(ib_ioas_free(c, x));
        ASSERT_EQ(try_seal(remapped), -EBUSY);
        ASSERT_EQ(try_seal(two), -EBUSY);

        ASSERT_OK(restart());
        ASSERT_EQ(try_seal(remapped), -EBUSY);
        ASSERT_EQ(try_seal(two), -EBUSY);
        /* a guard made after the restart has an id no older record names: a second restart keeps both apart */
        ASSERT_OK(map_at(c, a, remapped, 16 * KiB, RW, 0x400000));
        ASSERT_OK(restart());
        ASSERT_OK(ib_unmap(c, a, 0x200000, 16 * KiB, NULL));
        ASSERT_EQ(try_seal(remapped), -EBUSY);
        ASSERT_OK(ib_unmap(c, a, 0x400000, 16 * KiB, NULL));
        ASSERT_OK(try_seal(remapped));
        ASSERT_OK(ib_unmap(c, a, 0x300000, 16 * KiB, NULL));
        ASSERT_OK(try_seal(two));
        ib_client_free(c);
        close(remapped);
        close(two);
}

TEST(the_broker_stops_cleanly) {
        if (mgr.pid <= 0)
                return tests_skip("needs IB_DAEMON and IB_BUILDDIR (or IB_SVCMGR)");
        ASSERT_EQ(svcmgr_stop(&mgr), 0);
}

static int setup(void) {
        const char *backend = getenv("IB_RESTART_GUARD_BACKEND");
        int r;

        if (!backend || !*backend)
                backend = "sim";
        printf("# backend %s (IB_RESTART_GUARD_BACKEND)\n", backend);
        r = svcmgr_start_backend(&mgr, backend, NULL, NULL);
        if (r == -ENOENT)
                return 0;       /* the tests say they skip */
        return r;
}

static void teardown(void) {
        if (mgr.pid > 0)
                (void) svcmgr_stop(&mgr);
}

TESTS_MAIN(setup, teardown)

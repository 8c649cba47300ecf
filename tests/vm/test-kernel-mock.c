/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-kernel-mock.c - the kernel backend's mock devices, in the QEMU guest.
 *
 * Owns: the kernel backend's dirty bitmap reads, pattern by pattern.  The
 * kernel's iommufd test driver marks pages of a mock page table dirty
 * (IOMMU_TEST_OP_DIRTY, standing in for a device's DMA writes), but only on
 * the iommufd that holds it; this test drives backend_kernel_ops directly,
 * as the broker does, marks what it likes and checks that the dirty bitmap
 * it reads back is what was marked, cleared or kept as asked.  (The same
 * bits through the broker's socket are the guest suite's dirty-bitmap-mock,
 * with the fixed pattern of IB_KERNEL_MOCK_DIRTY_EVERY.)  Runs as root in
 * the guest (/dev/iommu is root-only there); built only in a build
 * configured --with-iommufd-selftest (tests/vm/mock-build).
 * Must never: run outside a kernel with CONFIG_IOMMUFD_TEST.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iommufd_test.h"               /* from the kernel source: --with-iommufd-selftest=DIR */

#include "backend/backend-kernel-mock.h"
#include "backend/backend.h"
#include "common/macro.h"
#include "tests/lib/tests.h"

#define PG 4096ULL
#define NPAGES 128ULL                   /* two u64 words of bitmap */
#define IOVA ((uint64_t) MOCK_APERTURE_START)

static Backend *backend;
static BackendDeviceInfo mock;

/* A context with the mock device bound and attached to a dirty-tracking HWPT over NPAGES mapped pages. */
typedef struct Fixture {
        BackendCtx *ctx;
        void *buf;
        int dev_fd;
        uint32_t dev_id, ioas, hwpt;
} Fixture;

static int fixture_setup(Fixture *f) {
        uint64_t iova;
        uint32_t in_use = 0;
        int r;

        *f = (Fixture) { .dev_fd = -1 };
        f->buf = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (f->buf == MAP_FAILED)
                return -errno;
        r = backend->ops->ctx_new(backend, &f->ctx);
        if (r >= 0)
                r = backend->ops->device_bind(f->ctx, &mock, &f->dev_fd, &f->dev_id);
        if (r >= 0)
                r = backend->ops->ioas_alloc(f->ctx, &f->ioas);
        /*
         * One map per page: the mock page table (AMDv1 format) maps physically
         * contiguous memory with larger pages, whose one dirty bit would cover
         * a mark's neighbours; a one-page map can only get 4 KiB or smaller.
         */
        for (uint64_t i = 0; i < NPAGES && r >= 0; i++) {
                iova = IOVA + i * PG;
                r = backend->ops->map_user(f->ctx, f->ioas, (uint8_t *) f->buf + i * PG, PG,
                                           BACKEND_MAP_FIXED_IOVA | BACKEND_MAP_READABLE | BACKEND_MAP_WRITEABLE,
                                           &iova);
        }
        if (r >= 0)
                r = backend->ops->hwpt_alloc(f->ctx, f->dev_id, f->ioas, BACKEND_HWPT_DIRTY_TRACKING, 0, NULL, 0, 0,
                                             &f->hwpt);
        if (r >= 0)
                r = backend->ops->device_attach(f->ctx, f->dev_fd, f->dev_id, BACKEND_NO_PASID, f->hwpt, &in_use);
        return r;
}

static void fixture_teardown(Fixture *f) {
        if (f->ctx) {
                if (f->dev_fd >= 0) {
                        (void) backend->ops->device_detach(f->ctx, f->dev_fd, f->dev_id, BACKEND_NO_PASID);
                        (void) backend->ops->device_unbind(f->ctx, f->dev_fd, f->dev_id);
                        safe_close(f->dev_fd);
                }
                backend->ops->ctx_free(f->ctx);
        }
        if (f->buf && f->buf != MAP_FAILED)
                (void) munmap(f->buf, NPAGES * PG);
}

static int read_bits(Fixture *f, uint32_t flags, uint64_t bits[2]) {
        bits[0] = bits[1] = 0;
        return backend->ops->hwpt_get_dirty_bitmap(f->ctx, f->hwpt, IOVA, NPAGES * PG, PG, flags, bits);
}

TEST(mock_device_reports_the_test_drivers_iommu) {
        BackendHwInfo hw;
        Fixture f;

        ASSERT_OK(fixture_setup(&f));
        ASSERT_OK(backend->ops->hw_info(f.ctx, f.dev_id, &hw));
        ASSERT_EQ(hw.type, IOMMU_HW_INFO_TYPE_SELFTEST);
        ASSERT_TRUE(hw.capabilities & BACKEND_HW_CAP_DIRTY_TRACKING);
        ASSERT_EQ(hw.max_pasid_log2, MOCK_PASID_WIDTH);
        fixture_teardown(&f);
}

TEST(marked_pages_come_back_in_the_bitmap_then_are_cleared) {
        uint64_t mark[2] = { 0x8000000000000005ULL, 0x0000000100000000ULL }, bits[2];
        Fixture f;

        ASSERT_OK(fixture_setup(&f));
        ASSERT_OK(backend->ops->hwpt_set_dirty_tracking(f.ctx, f.hwpt, true));
        ASSERT_OK(read_bits(&f, 0, bits));
        ASSERT_U64_EQ(bits[0] | bits[1], 0);
        ASSERT_EQ(backend_kernel_mock_mark_dirty(f.ctx, f.hwpt, IOVA, NPAGES * PG, PG, mark), 4);
        /* NO_CLEAR reads them twice, a plain read once more, then they are gone */
        ASSERT_OK(read_bits(&f, BACKEND_DIRTY_NO_CLEAR, bits));
        ASSERT_U64_EQ(bits[0], mark[0]);
        ASSERT_U64_EQ(bits[1], mark[1]);
        ASSERT_OK(read_bits(&f, BACKEND_DIRTY_NO_CLEAR, bits));
        ASSERT_U64_EQ(bits[0], mark[0]);
        ASSERT_OK(read_bits(&f, 0, bits));
        ASSERT_U64_EQ(bits[0], mark[0]);
        ASSERT_U64_EQ(bits[1], mark[1]);
        ASSERT_OK(read_bits(&f, 0, bits));
        ASSERT_U64_EQ(bits[0] | bits[1], 0);
        fixture_teardown(&f);
}

TEST(a_bitmap_of_8k_pages_folds_the_4k_marks) {
        uint64_t mark[2] = { 0x3ULL << 10, 0 }, bits[2] = { 0, 0 };
        Fixture f;

        ASSERT_OK(fixture_setup(&f));
        ASSERT_OK(backend->ops->hwpt_set_dirty_tracking(f.ctx, f.hwpt, true));
        ASSERT_EQ(backend_kernel_mock_mark_dirty(f.ctx, f.hwpt, IOVA, NPAGES * PG, PG, mark), 2);
        /* 4 KiB pages 10 and 11 are 8 KiB page 5 */
        ASSERT_OK(backend->ops->hwpt_get_dirty_bitmap(f.ctx, f.hwpt, IOVA, NPAGES * PG, 2 * PG, 0, bits));
        ASSERT_U64_EQ(bits[0], 1ULL << 5);
        fixture_teardown(&f);
}

TEST(marks_need_tracking_on_and_a_paging_hwpt) {
        uint64_t mark[2] = { 1, 0 };
        Fixture f;

        ASSERT_OK(fixture_setup(&f));
        /* the test driver refuses marks on a page table that does not track */
        ASSERT_ERRNO(EINVAL, backend_kernel_mock_mark_dirty(f.ctx, f.hwpt, IOVA, NPAGES * PG, PG, mark));
        ASSERT_ERRNO(ENOENT, backend_kernel_mock_mark_dirty(f.ctx, 999, IOVA, NPAGES * PG, PG, mark));
        fixture_teardown(&f);
}

static int setup(void) {
        BackendConfig config = { .kernel_mock_devices = 1 };
        _cleanup_free_ BackendDeviceInfo *list = NULL;
        size_t n = 0;
        int r;

        r = backend_kernel_ops.open(&config, &backend);
        if (r < 0) {
                printf("# cannot open the kernel backend with mock devices: %s\n", strerror(-r));
                return r;
        }
        r = backend->ops->device_list(backend, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (list[i].kernel_mock) {
                        mock = list[i];
                        printf("# mock device %s\n", mock.name);
                        return 0;
                }
        return -ENODEV;
}

static void teardown(void) {
        if (backend)
                backend->ops->close(backend);
}

TESTS_MAIN(setup, teardown)

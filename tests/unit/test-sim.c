/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sim.c - unit tests of the simulated IOMMU backend, through backend_sim_ops only.
 *
 * Owns: one TEST per kernel rule the sim models (the errno and where the
 * kernel has it are in sim-*.c), plus context independence, teardown
 * (run under ASan to see leaks), the fail-nth hook and a 10k-mapping scale
 * check.  Device, HWPT and PASID rules run against test_devices, five
 * configured devices that differ in the features the sim models; bind_dev()
 * holds each device fd open, as a client would, because a device stays
 * bound until every copy of its fd is closed.  The tests of that release
 * rule play the client through the device-op datagrams of backend-sim.h and
 * count what the model holds with backend_sim_stats().  The sim never
 * touches memory behind a mapping, so the VAs here are made-up numbers; only
 * map_file needs real fds.
 * Must never: reach into the sim's structures, or depend on test order.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* memfd_create(), O_PATH */
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/iommufd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend-sim.h"
#include "backend/backend.h"
#include "common/macro.h"
#include "tests/lib/tests.h"

#define PG 0x1000ULL
#define MIB (1ULL << 20)
#define RW (BACKEND_MAP_READABLE | BACKEND_MAP_WRITEABLE)
#define FIXED BACKEND_MAP_FIXED_IOVA
/* A made-up, 1 GiB aligned user VA. */
#define VA0 0x7f0000000000ULL

static const BackendOps *const ops = &backend_sim_ops;

/*
 * The device fds bind_dev() keeps open, as the broker's client keeps the
 * copy it is handed: a sim device stays bound while any copy of its fd is
 * open.  release_dev() closes one; backend_closep() closes every one left.
 */
typedef struct HeldFd {
        BackendCtx *ctx;
        uint32_t dev;
        int fd;
} HeldFd;

static HeldFd held_fds[64];
static size_t n_held_fds;

static int hold_fd(BackendCtx *ctx, uint32_t dev, int fd) {
        if (n_held_fds >= ELEMENTSOF(held_fds))
                return -ENOBUFS;
        held_fds[n_held_fds++] = (HeldFd) { .ctx = ctx, .dev = dev, .fd = fd };
        return 0;
}

/* Closes the held fd of dev in ctx; -ENOENT if there is none. */
static int close_held_fd(BackendCtx *ctx, uint32_t dev) {
        for (size_t i = 0; i < n_held_fds; i++)
                if (held_fds[i].ctx == ctx && held_fds[i].dev == dev) {
                        (void) close(held_fds[i].fd);
                        held_fds[i] = held_fds[--n_held_fds];
                        return 0;
                }
        return -ENOENT;
}

static void close_held_fds(void) {
        while (n_held_fds > 0)
                (void) close(held_fds[--n_held_fds].fd);
}

static void backend_closep(Backend **b) {
        close_held_fds();
        if (*b)
                ops->close(*b);
}

static void ctx_freep(BackendCtx **ctx) {
        if (*ctx)
                ops->ctx_free(*ctx);
}

/* A backend and a context, cleaned up in the right order at scope exit. */
#define SIM_FIXTURE(b, ctx)                                     \
        _cleanup_(backend_closep) Backend *b = NULL;            \
        _cleanup_(ctx_freep) BackendCtx *ctx = NULL

/* Opens the sim with the default config and no fault armed, and one context. */
static int sim_open_ctx(Backend **ret_b, BackendCtx **ret_ctx) {
        BackendConfig config = { 0 };
        int r;

        backend_sim_fail_nth = 0;
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        r = ops->open(&config, ret_b);
        if (r < 0)
                return r;
        return ops->ctx_new(*ret_b, ret_ctx);
}

static void *va(uint64_t a) {
        return (void *) (uintptr_t) a;
}

/* map_user at a fixed IOVA, from VA0, readable and writeable; returns r. */
static int map_at(BackendCtx *ctx, uint32_t ioas, uint64_t iova, uint64_t length) {
        return ops->map_user(ctx, ioas, va(VA0), length, FIXED | RW, &iova);
}

/* map_user at an automatic IOVA; returns r. */
static int map_auto(BackendCtx *ctx, uint32_t ioas, uint64_t addr, uint64_t length, uint64_t *ret_iova) {
        *ret_iova = 0;
        return ops->map_user(ctx, ioas, va(addr), length, RW, ret_iova);
}

/* unmap, returning r; *ret_unmapped is the byte count on success. */
static int unmap(BackendCtx *ctx, uint32_t ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped) {
        *ret_unmapped = 0;
        return ops->unmap(ctx, ioas, iova, length, ret_unmapped);
}

static int copy_at(BackendCtx *ctx, uint32_t dst, uint32_t src, uint64_t src_iova, uint64_t length,
                   uint64_t dst_iova) {
        return ops->copy(ctx, dst, src, src_iova, length, FIXED | RW, &dst_iova);
}

static int allow(BackendCtx *ctx, uint32_t ioas, uint64_t start, uint64_t last) {
        IovaRange r = { .start = start, .last = last };

        return ops->allow_iovas(ctx, ioas, &r, 1);
}

static int memfd_new(void) {
        int fd = memfd_create("test-sim", MFD_CLOEXEC);

        if (fd < 0)
                return negative_errno();
        if (ftruncate(fd, 16 * MIB) < 0) {
                int r = negative_errno();

                (void) close(fd);
                return r;
        }
        return fd;
}

/* --- open, features ------------------------------------------------------------------------- */

TEST(ops_are_named_sim) {
        ASSERT_STREQ(ops->name, "sim");
}

TEST(open_reports_every_feature_and_ctx_points_at_backend) {
        SIM_FIXTURE(b, ctx);

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_TRUE(b->ops == ops);
        ASSERT_STREQ(backend_name(b), "sim");
        ASSERT_U64_EQ(b->features, BACKEND_FEATURE_MAP_FILE | BACKEND_FEATURE_HWPT_ALLOC |
                      BACKEND_FEATURE_DIRTY_TRACKING | BACKEND_FEATURE_HWPT_INVALIDATE |
                      BACKEND_FEATURE_FAULT_QUEUE | BACKEND_FEATURE_VIOMMU | BACKEND_FEATURE_CHANGE_PROCESS);
        ASSERT_TRUE(ctx->backend == b);
}

TEST(open_accepts_null_config) {
        _cleanup_(backend_closep) Backend *b = NULL;

        backend_sim_fail_nth = 0;
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        ASSERT_OK(ops->open(NULL, &b));
        ASSERT_TRUE(backend_has(b, BACKEND_FEATURE_MAP_FILE));
}

TEST(no_map_file_config_models_pre_6_13_kernel) {
        _cleanup_(backend_closep) Backend *b = NULL;
        _cleanup_(ctx_freep) BackendCtx *ctx = NULL;
        BackendConfig config = { .sim_no_map_file = true };
        uint32_t ioas;
        uint64_t iova = 0x10000;

        backend_sim_fail_nth = 0;
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        ASSERT_OK(ops->open(&config, &b));
        ASSERT_TRUE(!backend_has(b, BACKEND_FEATURE_MAP_FILE));
        ASSERT_TRUE(backend_has(b, BACKEND_FEATURE_HWPT_ALLOC));
        ASSERT_TRUE(backend_has(b, BACKEND_FEATURE_CHANGE_PROCESS));
        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        /* The ioctl does not exist: ENOTTY whatever the arguments. */
        ASSERT_ERRNO(ENOTTY, ops->map_file(ctx, ioas, -1, 0, PG, FIXED | RW, &iova));
        ASSERT_ERRNO(ENOTTY, ops->map_file(ctx, 999, -1, 0, 0, 0xff, &iova));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
}

/* --- object ids ----------------------------------------------------------------------------- */

TEST(ids_start_at_1_per_context_and_are_reused) {
        SIM_FIXTURE(b, ctx);
        _cleanup_(ctx_freep) BackendCtx *ctx2 = NULL;
        uint32_t id;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ctx_new(b, &ctx2));

        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 1);
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 2);
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 3);
        ASSERT_OK(ops->ioas_alloc(ctx2, &id));
        ASSERT_EQ(id, 1);

        ASSERT_OK(ops->destroy(ctx, 2));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 2);
}

TEST(ids_reuse_lowest_free_first) {
        SIM_FIXTURE(b, ctx);
        uint32_t id;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        for (int i = 0; i < 5; i++)
                ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_OK(ops->destroy(ctx, 4));
        ASSERT_OK(ops->destroy(ctx, 2));
        ASSERT_OK(ops->destroy(ctx, 5));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 2);
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 4);
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 5);
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 6);
}

TEST(destroy_of_unknown_id_is_enoent) {
        SIM_FIXTURE(b, ctx);
        uint32_t id;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, 0));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, 1));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, id + 1));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, UINT32_MAX));
        ASSERT_OK(ops->destroy(ctx, id));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, id));
}

TEST(destroy_of_ioas_with_mappings_succeeds_and_drops_them) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, again;
        uint64_t n;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x20000, 4 * PG));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_OK(ops->destroy(ctx, ioas));
        ASSERT_ERRNO(ENOENT, map_at(ctx, ioas, 0x30000, PG));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0, UINT64_MAX, &n));

        /* The id comes back, as a fresh IOAS. */
        ASSERT_OK(ops->ioas_alloc(ctx, &again));
        ASSERT_EQ(again, ioas);
        ASSERT_OK(unmap(ctx, again, 0, UINT64_MAX, &n));
        ASSERT_U64_EQ(n, 0);
        ASSERT_OK(map_at(ctx, again, 0x10000, PG));
}

TEST(ops_on_unknown_ioas_are_enoent) {
        SIM_FIXTURE(b, ctx);
        IovaRange ranges[2], allowed = { .start = 0x1000, .last = 0x1fff };
        size_t n = ELEMENTSOF(ranges);
        _cleanup_close_ int fd = -1;
        uint64_t iova = 0x10000, u;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        fd = memfd_new();
        ASSERT_OK(fd);

        ASSERT_ERRNO(ENOENT, ops->iova_ranges(ctx, 7, ranges, &n, NULL));
        ASSERT_ERRNO(ENOENT, ops->allow_iovas(ctx, 7, &allowed, 1));
        ASSERT_ERRNO(ENOENT, ops->map_user(ctx, 7, va(VA0), PG, FIXED | RW, &iova));
        ASSERT_ERRNO(ENOENT, ops->map_file(ctx, 7, fd, 0, PG, FIXED | RW, &iova));
        ASSERT_ERRNO(ENOENT, unmap(ctx, 7, 0x10000, PG, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, 7, 0, UINT64_MAX, &u));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, ioas, 7, 0x10000, PG, 0x20000));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, 7, ioas, 0x10000, PG, 0x20000));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, 7));
}

TEST(contexts_are_independent) {
        SIM_FIXTURE(b, a);
        _cleanup_(ctx_freep) BackendCtx *c = NULL;
        uint32_t a1, a2, c1;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &a));
        ASSERT_OK(ops->ctx_new(b, &c));
        ASSERT_OK(ops->ioas_alloc(a, &a1));
        ASSERT_OK(ops->ioas_alloc(a, &a2));
        ASSERT_OK(ops->ioas_alloc(c, &c1));
        ASSERT_EQ(a1, 1);
        ASSERT_EQ(c1, 1);
        ASSERT_OK(map_at(a, a2, 0x10000, PG));

        /* Id 2 exists only in a. */
        ASSERT_ERRNO(ENOENT, map_at(c, a2, 0x20000, PG));
        ASSERT_ERRNO(ENOENT, unmap(c, a2, 0x10000, PG, &u));
        ASSERT_ERRNO(ENOENT, copy_at(c, c1, a2, 0x10000, PG, 0x20000));
        ASSERT_ERRNO(ENOENT, ops->destroy(c, a2));

        /* Id 1 names two different IOAS: a mapping in one is not in the other. */
        ASSERT_OK(map_at(a, a1, 0x40000, PG));
        ASSERT_ERRNO(ENOENT, unmap(c, c1, 0x40000, PG, &u));
        ASSERT_OK(map_at(c, c1, 0x40000, PG));

        /* Freeing c leaves a alone. */
        ops->ctx_free(TAKE_PTR(c));
        ASSERT_OK(unmap(a, a1, 0x40000, PG, &u));
        ASSERT_U64_EQ(u, PG);
        ASSERT_OK(unmap(a, a2, 0x10000, PG, &u));
}

TEST(ctx_free_frees_every_object_and_mapping) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t iova;

        /* Leaks show up as an ASan failure at exit. */
        ASSERT_OK(sim_open_ctx(&b, &ctx));
        for (int i = 0; i < 40; i++) {
                ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
                ASSERT_OK(allow(ctx, ioas, 0x100000, 0xffffffff));
                for (int j = 0; j < 100; j++)
                        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
                if (i % 3 == 0)
                        ASSERT_OK(ops->destroy(ctx, ioas));
        }
        ops->ctx_free(TAKE_PTR(ctx));
        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_EQ(ioas, 1);
}

/* --- IOVA_RANGES ---------------------------------------------------------------------------- */

TEST(iova_ranges_without_devices_is_the_whole_space_aligned_1) {
        SIM_FIXTURE(b, ctx);
        IovaRange ranges[4] = {};
        size_t n = ELEMENTSOF(ranges);
        uint64_t alignment = 0;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->iova_ranges(ctx, ioas, ranges, &n, &alignment));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(ranges[0].start, 0);
        ASSERT_U64_EQ(ranges[0].last, UINT64_MAX);
        ASSERT_U64_EQ(alignment, 1);
}

TEST(iova_ranges_short_array_is_emsgsize_with_count_needed) {
        SIM_FIXTURE(b, ctx);
        IovaRange range = {};
        uint64_t alignment = 0;
        uint32_t ioas;
        size_t n = 0;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EMSGSIZE, ops->iova_ranges(ctx, ioas, NULL, &n, &alignment));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(alignment, 1);
        ASSERT_OK(ops->iova_ranges(ctx, ioas, &range, &n, NULL));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(range.last, UINT64_MAX);
}

TEST(iova_ranges_ignore_allowed_iovas) {
        SIM_FIXTURE(b, ctx);
        IovaRange ranges[4] = {};
        size_t n = ELEMENTSOF(ranges);
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_OK(ops->iova_ranges(ctx, ioas, ranges, &n, NULL));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(ranges[0].start, 0);
        ASSERT_U64_EQ(ranges[0].last, UINT64_MAX);
}

/* --- ALLOW_IOVAS ---------------------------------------------------------------------------- */

TEST(allow_iovas_start_not_below_last_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EINVAL, allow(ctx, ioas, 0x2000, 0x1fff));
        /* A one-byte range is refused too. */
        ASSERT_ERRNO(EINVAL, allow(ctx, ioas, 0x2000, 0x2000));
        ASSERT_OK(allow(ctx, ioas, 0x2000, 0x2001));
}

TEST(allow_iovas_overlapping_ranges_are_einval) {
        SIM_FIXTURE(b, ctx);
        IovaRange overlap[] = { { 0x1000, 0x1fff }, { 0x1800, 0x2fff } };
        IovaRange overlap_rev[] = { { 0x1800, 0x2fff }, { 0x1000, 0x1fff } };
        IovaRange twice[] = { { 0x1000, 0x1fff }, { 0x5000, 0x5fff }, { 0x1000, 0x1fff } };
        IovaRange adjacent[] = { { 0x2000, 0x2fff }, { 0x1000, 0x1fff } };
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EINVAL, ops->allow_iovas(ctx, ioas, overlap, ELEMENTSOF(overlap)));
        ASSERT_ERRNO(EINVAL, ops->allow_iovas(ctx, ioas, overlap_rev, ELEMENTSOF(overlap_rev)));
        ASSERT_ERRNO(EINVAL, ops->allow_iovas(ctx, ioas, twice, ELEMENTSOF(twice)));
        /* Touching ranges, in any order, are fine. */
        ASSERT_OK(ops->allow_iovas(ctx, ioas, adjacent, ELEMENTSOF(adjacent)));
}

TEST(allow_iovas_of_unknown_ioas_is_enoent_before_validation) {
        SIM_FIXTURE(b, ctx);

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_ERRNO(ENOENT, allow(ctx, 1, 0x2000, 0x1000));
}

TEST(allow_iovas_keeps_mappings_outside_the_new_ranges) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_OK(unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_U64_EQ(u, PG);
}

TEST(allow_iovas_empty_list_clears) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t iova;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x100000);
        ASSERT_OK(ops->allow_iovas(ctx, ioas, NULL, 0));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x1000);
}

TEST(allow_iovas_replaces_the_whole_list) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t iova;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_OK(allow(ctx, ioas, 0x400000, 0x4fffff));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x400000);
}

TEST(allow_iovas_failure_keeps_the_previous_list) {
        SIM_FIXTURE(b, ctx);
        IovaRange bad[] = { { 0x1000, 0x1fff }, { 0x1000, 0x1fff } };
        uint32_t ioas;
        uint64_t iova;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_ERRNO(EINVAL, ops->allow_iovas(ctx, ioas, bad, ELEMENTSOF(bad)));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x100000);
}

/* --- MAP: argument checks ------------------------------------------------------------------- */

TEST(map_unknown_flags_are_eopnotsupp_before_other_checks) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0x10000;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EOPNOTSUPP, ops->map_user(ctx, ioas, va(VA0), PG, FIXED | RW | (1U << 3), &iova));
        ASSERT_ERRNO(EOPNOTSUPP, ops->map_user(ctx, ioas, va(VA0), PG, 1U << 31, &iova));
        /* Before EOVERFLOW, EINVAL and ENOENT. */
        ASSERT_ERRNO(EOPNOTSUPP, ops->map_user(ctx, 99, va(VA0), UINT64_MAX, 1U << 3, &iova));
}

TEST(map_without_read_or_write_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        iova = 0x10000;
        ASSERT_ERRNO(EINVAL, ops->map_user(ctx, ioas, va(VA0), PG, FIXED, &iova));
        ASSERT_ERRNO(EINVAL, ops->map_user(ctx, ioas, va(VA0), PG, 0, &iova));
        /* Before ENOENT. */
        ASSERT_ERRNO(EINVAL, ops->map_user(ctx, 99, va(VA0), PG, FIXED, &iova));
        ASSERT_ERRNO(ENOENT, ops->map_user(ctx, 99, va(VA0), PG, FIXED | RW, &iova));
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0), PG, FIXED | BACKEND_MAP_READABLE, &iova));
        iova = 0x20000;
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0), PG, FIXED | BACKEND_MAP_WRITEABLE, &iova));
}

TEST(map_zero_length_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, 0x10000, 0));
        ASSERT_ERRNO(EINVAL, map_auto(ctx, ioas, VA0, 0, &iova));
}

TEST(map_length_or_iova_u64_max_is_eoverflow) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EOVERFLOW, map_at(ctx, ioas, 0x10000, UINT64_MAX));
        ASSERT_ERRNO(EOVERFLOW, map_at(ctx, ioas, UINT64_MAX, PG));
        /* The kernel checks the iova field even without FIXED_IOVA. */
        iova = UINT64_MAX;
        ASSERT_ERRNO(EOVERFLOW, ops->map_user(ctx, ioas, va(VA0), PG, RW, &iova));
        /* Before EINVAL for the missing permission, and before ENOENT. */
        ASSERT_ERRNO(EOVERFLOW, ops->map_user(ctx, 99, va(VA0), UINT64_MAX, FIXED, &iova));
}

TEST(map_fixed_end_past_u64_max_is_eoverflow) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EOVERFLOW, map_at(ctx, ioas, UINT64_MAX - 0xfff, 2 * PG));
        /* Ending exactly at U64_MAX is fine. */
        ASSERT_OK(map_at(ctx, ioas, UINT64_MAX - 0xfff, PG));
        ASSERT_OK(unmap(ctx, ioas, UINT64_MAX - 0xfff, PG, &u));
        ASSERT_U64_EQ(u, PG);
}

TEST(map_va_plus_length_past_u64_max_is_eoverflow) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        /* va + length (not va + length - 1) must not wrap. */
        iova = 0x10000;
        ASSERT_ERRNO(EOVERFLOW, ops->map_user(ctx, ioas, va(UINT64_MAX - 0xfff), PG, FIXED | RW, &iova));
        ASSERT_OK(ops->map_user(ctx, ioas, va(UINT64_MAX - 0x1fff), PG, FIXED | RW, &iova));
}

TEST(map_length_above_size_max_minus_page_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0, u;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EINVAL, ops->map_user(ctx, ioas, NULL, UINT64_MAX - 1, FIXED | RW, &iova));
        ASSERT_ERRNO(EINVAL, ops->map_user(ctx, ioas, NULL, UINT64_MAX - PG + 1, FIXED | RW, &iova));
        ASSERT_OK(ops->map_user(ctx, ioas, NULL, UINT64_MAX - PG, FIXED | RW, &iova));
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_U64_EQ(u, UINT64_MAX - PG);
}

/* --- MAP: fixed IOVA ------------------------------------------------------------------------ */

TEST(map_fixed_overlap_is_eexist) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, 4 * PG));
        ASSERT_ERRNO(EEXIST, map_at(ctx, ioas, 0x10000, 4 * PG));
        ASSERT_ERRNO(EEXIST, map_at(ctx, ioas, 0xf000, 2 * PG));
        ASSERT_ERRNO(EEXIST, map_at(ctx, ioas, 0x13000, 2 * PG));
        ASSERT_ERRNO(EEXIST, map_at(ctx, ioas, 0x11000, PG));
        ASSERT_ERRNO(EEXIST, map_at(ctx, ioas, 0x8000, 0x10000));
        ASSERT_ERRNO(EEXIST, map_at(ctx, ioas, 0x13fff, 1));
        /* Touching is not overlapping. */
        ASSERT_OK(map_at(ctx, ioas, 0xf000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x14000, PG));
}

TEST(map_fixed_may_use_iova_0_and_iovas_outside_allowed) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_OK(map_at(ctx, ioas, 0, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x400000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x1ff000, 2 * PG));
}

TEST(map_fixed_accepts_unaligned_iova_length_and_va) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0x10001, u;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        /* Without devices the IOAS alignment is 1. */
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0 + 3), 5, FIXED | RW, &iova));
        ASSERT_U64_EQ(iova, 0x10001);
        ASSERT_OK(unmap(ctx, ioas, 0x10001, 5, &u));
        ASSERT_U64_EQ(u, 5);
}

/* --- MAP: automatic IOVA -------------------------------------------------------------------- */

TEST(map_auto_skips_first_page_and_takes_lowest_hole) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x100000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x200000, PG));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x1000);
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x2000);
}

TEST(map_auto_never_returns_iova_0) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_auto(ctx, ioas, 0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x1000);
        ASSERT_OK(map_auto(ctx, ioas, 0, 1, &iova));
        ASSERT_U64_EQ(iova, 0x2000);
}

TEST(map_auto_fills_gaps_between_mappings) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x1000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x3000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x5000, 2 * PG));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x2000);
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x4000);
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x7000);
}

TEST(map_auto_alignment_follows_length_and_va) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        /* 3 pages from a 64 KiB aligned VA: aligned to 16 KiB (length rounded up). */
        ASSERT_OK(map_auto(ctx, ioas, VA0 + 0x10000, 3 * PG, &iova));
        ASSERT_U64_EQ(iova, 0x4000);
        /* 16 pages from a VA aligned only to 4 KiB: aligned to 4 KiB. */
        ASSERT_OK(map_auto(ctx, ioas, VA0 + 0x1000, 16 * PG, &iova));
        ASSERT_U64_EQ(iova, 0x7000);
        /* 2 pages from a 1 GiB aligned VA: 8 KiB alignment fits the hole at 0x2000. */
        ASSERT_OK(map_auto(ctx, ioas, VA0, 2 * PG, &iova));
        ASSERT_U64_EQ(iova, 0x2000);
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x1000);
}

TEST(map_auto_alignment_is_capped_at_2_mib) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_auto(ctx, ioas, VA0, 8 * MIB, &iova));
        ASSERT_U64_EQ(iova, 2 * MIB);
        ASSERT_OK(map_auto(ctx, ioas, 0, 64 * MIB, &iova));
        ASSERT_U64_EQ(iova, 10 * MIB);
}

TEST(map_auto_keeps_page_offset_of_va) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_auto(ctx, ioas, VA0 + 0x800, PG, &iova));
        ASSERT_U64_EQ(iova, 0x1800);
        ASSERT_OK(map_auto(ctx, ioas, VA0 + 0x234, 0x10, &iova));
        ASSERT_U64_EQ(iova & 0xfff, 0x234);
}

TEST(map_auto_refuses_a_hole_whose_last_byte_is_the_aligned_start) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        /* Leave one free byte at 0x1fff, then two at 0x3ffe..0x3fff. */
        ASSERT_OK(map_at(ctx, ioas, 0x1000, 0xfff));
        ASSERT_OK(map_at(ctx, ioas, 0x2000, 0x1ffe));
        ASSERT_OK(map_at(ctx, ioas, 0x4000, PG));
        /* __alloc_iova_check_range refuses aligned_start == last, even for 1 byte. */
        ASSERT_OK(map_auto(ctx, ioas, 0, 1, &iova));
        ASSERT_U64_EQ(iova, 0x3ffe);
}

TEST(map_auto_huge_length_is_eoverflow) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0, u;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EOVERFLOW, map_auto(ctx, ioas, 0, 1ULL << 63, &iova));
        ASSERT_ERRNO(EOVERFLOW, map_auto(ctx, ioas, 0, (1ULL << 63) - 1, &iova));
        ASSERT_OK(map_auto(ctx, ioas, 0, (1ULL << 63) - 2, &iova));
        ASSERT_U64_EQ(iova, 2 * MIB);
        /* The length refused above is fine at a fixed IOVA. */
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        iova = 0;
        ASSERT_OK(ops->map_user(ctx, ioas, NULL, 1ULL << 63, FIXED | RW, &iova));
}

TEST(map_auto_with_no_room_is_enospc) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->map_user(ctx, ioas, NULL, 1ULL << 63, FIXED | RW, &iova));
        iova = 1ULL << 63;
        ASSERT_OK(ops->map_user(ctx, ioas, NULL, (1ULL << 63) - PG, FIXED | RW, &iova));
        /* Only the last page is free, and it is never handed out. */
        ASSERT_ERRNO(ENOSPC, map_auto(ctx, ioas, 0, 1, &iova));
        ASSERT_OK(map_at(ctx, ioas, UINT64_MAX - 0xfff, PG));
}

TEST(map_auto_stays_inside_allowed_ranges) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x10ffff));
        for (uint64_t i = 0; i < 16; i++) {
                ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
                ASSERT_U64_EQ(iova, 0x100000 + i * PG);
        }
        ASSERT_ERRNO(ENOSPC, map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_OK(map_at(ctx, ioas, 0x200000, PG));
}

TEST(map_auto_too_big_for_every_allowed_range_is_enospc) {
        SIM_FIXTURE(b, ctx);
        IovaRange ranges[] = { { 0x100000, 0x10ffff }, { 0x300000, 0x30ffff } };
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->allow_iovas(ctx, ioas, ranges, ELEMENTSOF(ranges)));
        ASSERT_ERRNO(ENOSPC, map_auto(ctx, ioas, VA0, 0x11000, &iova));
        ASSERT_OK(map_auto(ctx, ioas, VA0, 0x10000, &iova));
        ASSERT_U64_EQ(iova, 0x100000);
}

TEST(map_auto_takes_lowest_allowed_range_that_fits) {
        SIM_FIXTURE(b, ctx);
        IovaRange ranges[] = { { 0x200000, 0x3fffff }, { 0x10000, 0x11fff } };
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->allow_iovas(ctx, ioas, ranges, ELEMENTSOF(ranges)));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x10000);
        /* 16 KiB aligned to 16 KiB does not fit in what is left of the low range. */
        ASSERT_OK(map_auto(ctx, ioas, VA0, 4 * PG, &iova));
        ASSERT_U64_EQ(iova, 0x200000);
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x11000);
}

TEST(map_auto_treats_touching_allowed_ranges_as_one) {
        SIM_FIXTURE(b, ctx);
        IovaRange ranges[] = { { 0x10000, 0x10fff }, { 0x11000, 0x11fff } };
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->allow_iovas(ctx, ioas, ranges, ELEMENTSOF(ranges)));
        ASSERT_OK(map_auto(ctx, ioas, VA0, 2 * PG, &iova));
        ASSERT_U64_EQ(iova, 0x10000);
}

TEST(map_auto_never_uses_first_page_even_if_allowed) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(allow(ctx, ioas, 0, 0xfff));
        ASSERT_ERRNO(ENOSPC, map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_OK(allow(ctx, ioas, 0, 0x1fff));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x1000);
}

/* --- MAP_FILE ------------------------------------------------------------------------------- */

TEST(map_file_maps_like_map_user) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1;
        uint64_t iova = 0x10000, u;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        fd = memfd_new();
        ASSERT_OK(fd);
        ASSERT_OK(ops->map_file(ctx, ioas, fd, 0, 4 * PG, FIXED | RW, &iova));
        ASSERT_U64_EQ(iova, 0x10000);
        ASSERT_ERRNO(EEXIST, map_at(ctx, ioas, 0x13000, PG));
        ASSERT_ERRNO(EEXIST, ops->map_file(ctx, ioas, fd, 0, PG, FIXED | RW, &iova));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_OK(unmap(ctx, ioas, 0x10000, 4 * PG, &u));
        ASSERT_U64_EQ(u, 4 * PG);
}

TEST(map_file_does_not_keep_the_fd) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0x10000, u;
        uint32_t ioas;
        int fd;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        fd = memfd_new();
        ASSERT_OK(fd);
        ASSERT_OK(ops->map_file(ctx, ioas, fd, 0, PG, FIXED | RW, &iova));
        ASSERT_OK(close(fd));
        ASSERT_OK(unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_U64_EQ(u, PG);
}

TEST(map_file_bad_fd_is_ebadf) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1, path_fd = -1;
        uint64_t iova = 0x10000;
        uint32_t ioas;
        int closed;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EBADF, ops->map_file(ctx, ioas, -1, 0, PG, FIXED | RW, &iova));
        closed = memfd_new();
        ASSERT_OK(closed);
        ASSERT_OK(close(closed));
        ASSERT_ERRNO(EBADF, ops->map_file(ctx, ioas, closed, 0, PG, FIXED | RW, &iova));
        /* fget() does not see O_PATH files. */
        path_fd = open("/", O_PATH | O_CLOEXEC);
        ASSERT_OK(path_fd);
        ASSERT_ERRNO(EBADF, ops->map_file(ctx, ioas, path_fd, 0, PG, FIXED | RW, &iova));
        /* Any other file is taken: nothing is pinned without a device. */
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        ASSERT_OK(fd);
        ASSERT_OK(ops->map_file(ctx, ioas, fd, 0, PG, FIXED | RW, &iova));
}

TEST(map_file_checks_ioas_and_length_before_the_fd) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0x10000;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EOPNOTSUPP, ops->map_file(ctx, ioas, -1, 0, PG, FIXED | RW | (1U << 5), &iova));
        ASSERT_ERRNO(EOVERFLOW, ops->map_file(ctx, ioas, -1, 0, UINT64_MAX, FIXED | RW, &iova));
        ASSERT_ERRNO(EINVAL, ops->map_file(ctx, ioas, -1, 0, PG, FIXED, &iova));
        ASSERT_ERRNO(ENOENT, ops->map_file(ctx, 99, -1, 0, PG, FIXED | RW, &iova));
        ASSERT_ERRNO(EINVAL, ops->map_file(ctx, ioas, -1, 0, 0, FIXED | RW, &iova));
        ASSERT_ERRNO(EOVERFLOW, ops->map_file(ctx, ioas, -1, UINT64_MAX - 0xfff, 2 * PG, FIXED | RW, &iova));
}

TEST(map_file_start_plus_length_past_u64_max_is_eoverflow) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1;
        uint64_t iova = 0x10000;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        fd = memfd_new();
        ASSERT_OK(fd);
        ASSERT_ERRNO(EOVERFLOW, ops->map_file(ctx, ioas, fd, UINT64_MAX - 0xfff, PG + 1, FIXED | RW, &iova));
        /* The file's size is not checked. */
        ASSERT_OK(ops->map_file(ctx, ioas, fd, UINT64_MAX - 0xfff, PG, FIXED | RW, &iova));
}

TEST(map_file_auto_alignment_follows_file_offset) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1;
        uint64_t iova;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        fd = memfd_new();
        ASSERT_OK(fd);
        /* Offset 0: the length alone sets the alignment. */
        iova = 0;
        ASSERT_OK(ops->map_file(ctx, ioas, fd, 0, 16 * PG, RW, &iova));
        ASSERT_U64_EQ(iova, 0x10000);
        iova = 0;
        ASSERT_OK(ops->map_file(ctx, ioas, fd, 0x3000, PG, RW, &iova));
        ASSERT_U64_EQ(iova, 0x1000);
        iova = 0;
        ASSERT_OK(ops->map_file(ctx, ioas, fd, 0x2800, PG, RW, &iova));
        ASSERT_U64_EQ(iova, 0x2800);
}

TEST(map_file_writeable_from_read_only_fd_is_accepted) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1, ro = -1;
        uint64_t iova = 0x10000;
        char path[64];
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        fd = memfd_new();
        ASSERT_OK(fd);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ro = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(ro);
        /* 7.3's iopt_alloc_file_pages does not look at the fd's access mode. */
        ASSERT_OK(ops->map_file(ctx, ioas, ro, 0, PG, FIXED | RW, &iova));
}

/* --- UNMAP ---------------------------------------------------------------------------------- */

TEST(unmap_exact_area_returns_its_length) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, 3 * PG));
        ASSERT_OK(unmap(ctx, ioas, 0x10000, 3 * PG, &u));
        ASSERT_U64_EQ(u, 3 * PG);
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x10000, 3 * PG, &u));
}

TEST(unmap_superset_unmaps_every_area_inside) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x11000, 2 * PG));
        ASSERT_OK(map_at(ctx, ioas, 0x20000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x40000, PG));
        ASSERT_OK(unmap(ctx, ioas, 0x8000, 0x28000, &u));
        ASSERT_U64_EQ(u, 4 * PG);
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x8000, 0x28000, &u));
        ASSERT_OK(unmap(ctx, ioas, 0x40000, PG, &u));
}

TEST(unmap_partial_area_is_enoent) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, 4 * PG));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x11000, PG, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x13000, 0x10000, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x8000, 0x9000, &u));
        ASSERT_OK(unmap(ctx, ioas, 0x10000, 4 * PG, &u));
        ASSERT_U64_EQ(u, 4 * PG);
}

TEST(unmap_cutting_last_area_is_enoent_after_unmapping_those_before) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x12000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x20000, 4 * PG));
        /* iopt_unmap_iova_range works upwards and stops at the area it would cut. */
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x8000, 0x1a000, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x12000, PG, &u));
        ASSERT_OK(unmap(ctx, ioas, 0x20000, 4 * PG, &u));
        ASSERT_U64_EQ(u, 4 * PG);
}

TEST(unmap_with_nothing_mapped_is_enoent) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x20000, PG));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x11000, 0xf000, &u));
        /* Not iova 0 with length U64_MAX: an ordinary, empty range. */
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0, UINT64_MAX - 1, &u));
}

TEST(unmap_all_returns_total_and_succeeds_when_empty) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        u = 1234;
        ASSERT_OK(ops->unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_U64_EQ(u, 0);
        ASSERT_OK(map_at(ctx, ioas, 0, PG));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, 3 * PG));
        ASSERT_OK(map_at(ctx, ioas, UINT64_MAX - 0xfff, PG));
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_U64_EQ(u, 5 * PG);
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_U64_EQ(u, 0);
}

TEST(unmap_zero_length_is_einval_and_overflow_is_eoverflow) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(EINVAL, unmap(ctx, ioas, 0x10000, 0, &u));
        ASSERT_ERRNO(EOVERFLOW, unmap(ctx, ioas, 0x1000, UINT64_MAX, &u));
        ASSERT_ERRNO(EOVERFLOW, unmap(ctx, ioas, UINT64_MAX, 1, &u));
        ASSERT_ERRNO(EOVERFLOW, unmap(ctx, ioas, UINT64_MAX - 0xfff, 2 * PG, &u));
        /* The IOAS is looked up first. */
        ASSERT_ERRNO(ENOENT, unmap(ctx, 99, 0x10000, 0, &u));
}

/* --- COPY ----------------------------------------------------------------------------------- */

TEST(copy_whole_area_to_another_ioas) {
        SIM_FIXTURE(b, ctx);
        uint32_t src, dst;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(map_at(ctx, src, 0x10000, 4 * PG));
        ASSERT_OK(copy_at(ctx, dst, src, 0x10000, 4 * PG, 0x40000));
        ASSERT_OK(unmap(ctx, dst, 0x40000, 4 * PG, &u));
        ASSERT_U64_EQ(u, 4 * PG);
        ASSERT_OK(unmap(ctx, src, 0x10000, 4 * PG, &u));
}

TEST(copy_of_part_of_an_area_succeeds) {
        SIM_FIXTURE(b, ctx);
        uint32_t src, dst;
        uint64_t iova = 0, u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(map_at(ctx, src, 0x10000, 4 * PG));
        ASSERT_OK(ops->copy(ctx, dst, src, 0x11000, 2 * PG, RW, &iova));
        ASSERT_OK(unmap(ctx, dst, iova, 2 * PG, &u));
        ASSERT_U64_EQ(u, 2 * PG);
        ASSERT_OK(copy_at(ctx, dst, src, 0x10800, 0x10, 0x40000));
}

TEST(copy_across_touching_areas_makes_one_area_per_piece) {
        SIM_FIXTURE(b, ctx);
        uint32_t src, dst;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(map_at(ctx, src, 0x10000, PG));
        ASSERT_OK(map_at(ctx, src, 0x11000, PG));
        ASSERT_OK(map_at(ctx, src, 0x12000, PG));
        ASSERT_OK(copy_at(ctx, dst, src, 0x10800, 0x2000, 0x50000));
        ASSERT_ERRNO(ENOENT, unmap(ctx, dst, 0x50000, 0x400, &u));
        ASSERT_OK(unmap(ctx, dst, 0x50000, 0x800, &u));
        ASSERT_U64_EQ(u, 0x800);
        ASSERT_OK(unmap(ctx, dst, 0x50800, PG, &u));
        ASSERT_U64_EQ(u, PG);
        ASSERT_OK(unmap(ctx, dst, 0x51800, 0x800, &u));
        ASSERT_U64_EQ(u, 0x800);
}

TEST(copy_with_gap_in_source_is_enoent) {
        SIM_FIXTURE(b, ctx);
        uint32_t src, dst;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(map_at(ctx, src, 0x10000, PG));
        ASSERT_OK(map_at(ctx, src, 0x12000, PG));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, dst, src, 0x10000, 3 * PG, 0x40000));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, dst, src, 0x11000, PG, 0x40000));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, dst, src, 0xf000, 2 * PG, 0x40000));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, dst, src, 0x12000, 2 * PG, 0x40000));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, dst, src, 0x30000, PG, 0x40000));
}

TEST(copy_fixed_overlap_in_destination_is_eexist) {
        SIM_FIXTURE(b, ctx);
        uint32_t src, dst;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(map_at(ctx, src, 0x10000, 2 * PG));
        ASSERT_OK(map_at(ctx, dst, 0x40000, PG));
        ASSERT_ERRNO(EEXIST, copy_at(ctx, dst, src, 0x10000, 2 * PG, 0x40000));
        ASSERT_ERRNO(EEXIST, copy_at(ctx, dst, src, 0x10000, 2 * PG, 0x3f000));
        ASSERT_ERRNO(EEXIST, copy_at(ctx, src, src, 0x10000, 2 * PG, 0x11000));
        ASSERT_OK(copy_at(ctx, dst, src, 0x10000, 2 * PG, 0x3e000));
}

TEST(copy_looks_up_source_then_destination) {
        SIM_FIXTURE(b, ctx);
        uint32_t src;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(map_at(ctx, src, 0x10000, PG));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, src, 99, 0x10000, PG, 0x40000));
        ASSERT_ERRNO(ENOENT, copy_at(ctx, 99, src, 0x10000, PG, 0x40000));
        /* The source range is checked before the destination is looked up. */
        ASSERT_ERRNO(EINVAL, copy_at(ctx, 99, src, 0x10000, 0, 0x40000));
        ASSERT_ERRNO(EOVERFLOW, copy_at(ctx, 99, src, UINT64_MAX - 0xfff, 2 * PG, 0x40000));
}

TEST(copy_flag_and_overflow_rules_match_map) {
        SIM_FIXTURE(b, ctx);
        uint32_t src, dst;
        uint64_t iova;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(map_at(ctx, src, 0x10000, 2 * PG));
        iova = 0x40000;
        ASSERT_ERRNO(EOPNOTSUPP, ops->copy(ctx, dst, src, 0x10000, PG, FIXED | RW | (1U << 3), &iova));
        ASSERT_ERRNO(EINVAL, ops->copy(ctx, dst, src, 0x10000, PG, FIXED, &iova));
        ASSERT_ERRNO(EOVERFLOW, ops->copy(ctx, dst, src, 0x10000, UINT64_MAX, FIXED | RW, &iova));
        ASSERT_ERRNO(EOVERFLOW, ops->copy(ctx, dst, src, UINT64_MAX, PG, FIXED | RW, &iova));
        iova = UINT64_MAX;
        ASSERT_ERRNO(EOVERFLOW, ops->copy(ctx, dst, src, 0x10000, PG, RW, &iova));
        /* A fixed destination may end at U64_MAX, not past it. */
        iova = UINT64_MAX - 0xfff;
        ASSERT_OK(ops->copy(ctx, dst, src, 0x10000, PG, FIXED | BACKEND_MAP_READABLE, &iova));
        ASSERT_U64_EQ(iova, UINT64_MAX - 0xfff);
        iova = UINT64_MAX - 0x17ff;
        ASSERT_ERRNO(EOVERFLOW, ops->copy(ctx, dst, src, 0x10000, 2 * PG, FIXED | RW, &iova));
}

TEST(copy_writeable_from_read_only_mapping_is_eperm) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0x10000;
        uint32_t src, dst;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(ops->map_user(ctx, src, va(VA0), PG, FIXED | BACKEND_MAP_READABLE, &iova));
        ASSERT_OK(map_at(ctx, src, 0x11000, PG));
        ASSERT_ERRNO(EPERM, copy_at(ctx, dst, src, 0x10000, PG, 0x40000));
        /* A piece taken read-only anywhere in the range refuses it all. */
        ASSERT_ERRNO(EPERM, copy_at(ctx, dst, src, 0x10000, 2 * PG, 0x40000));
        iova = 0x40000;
        ASSERT_OK(ops->copy(ctx, dst, src, 0x10000, 2 * PG, FIXED | BACKEND_MAP_READABLE, &iova));
        /* EEXIST comes before EPERM. */
        ASSERT_ERRNO(EEXIST, copy_at(ctx, dst, src, 0x10000, PG, 0x40000));
}

TEST(copy_keeps_writeability_of_the_memory_not_of_the_copy) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0x40000;
        uint32_t src, dst;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(map_at(ctx, src, 0x10000, PG));
        ASSERT_OK(ops->copy(ctx, dst, src, 0x10000, PG, FIXED | BACKEND_MAP_READABLE, &iova));
        /* The read-only copy still refers to memory taken writeable. */
        ASSERT_OK(copy_at(ctx, src, dst, 0x40000, PG, 0x80000));
}

TEST(copy_within_the_same_ioas_succeeds) {
        SIM_FIXTURE(b, ctx);
        uint64_t iova = 0, u;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(ops->copy(ctx, ioas, ioas, 0x10000, PG, RW, &iova));
        ASSERT_U64_EQ(iova, 0x1000);
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_U64_EQ(u, 2 * PG);
}

TEST(copy_auto_alignment_follows_source_address) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1;
        uint64_t iova;
        uint32_t src, dst;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &src));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        fd = memfd_new();
        ASSERT_OK(fd);
        iova = 0x10000;
        ASSERT_OK(ops->map_user(ctx, src, va(VA0 + 0x800), PG, FIXED | RW, &iova));
        iova = 0x400000;
        ASSERT_OK(ops->map_file(ctx, src, fd, 2 * MIB, 2 * MIB, FIXED | RW, &iova));

        /* The VA's page offset carries over, as for map. */
        iova = 0;
        ASSERT_OK(ops->copy(ctx, dst, src, 0x10000, PG, RW, &iova));
        ASSERT_U64_EQ(iova, 0x1800);
        /* File offset 2 MiB, 2 MiB long: 2 MiB alignment. */
        iova = 0;
        ASSERT_OK(ops->copy(ctx, dst, src, 0x400000, 2 * MIB, RW, &iova));
        ASSERT_U64_EQ(iova, 2 * MIB);
        /* From file offset 2 MiB + 4 KiB: 4 KiB alignment. */
        iova = 0;
        ASSERT_OK(ops->copy(ctx, dst, src, 0x401000, 4 * PG, RW, &iova));
        ASSERT_U64_EQ(iova, 0x3000);
}

/* --- devices: helpers ----------------------------------------------------------------------- */

/* The devices of the tests' sim: each a group of its own but the two PEERs. */
static const BackendDeviceInfo test_devices[] = {
        /* PLAIN: no PASIDs, no dirty tracking, no nesting; snoop control (as every VT-d unit has). */
        { .name = "0000:00:02.0", .cdev = "/dev/vfio/devices/vfio0", .vendor_id = 0x8086, .device_id = 0x10d3,
          .iommu_group = 1, .snoop_control = true },
        /* FULL: 5-bit PASIDs, dirty tracking, nesting, snoop control. */
        { .name = "0000:00:03.0", .cdev = "/dev/vfio/devices/vfio1", .vendor_id = 0x8086, .device_id = 0x0b25,
          .iommu_group = 2, .pasid_width = 5, .dirty_tracking = true, .nesting = true,
          .snoop_control = true },
        /* BARE: nothing, not even snoop control. */
        { .name = "0000:00:04.0", .cdev = "/dev/vfio/devices/vfio2", .vendor_id = 0x1af4, .device_id = 0x1041,
          .iommu_group = 3 },
        /* PEER0, PEER1: one iommu_group. */
        { .name = "0000:00:05.0", .cdev = "/dev/vfio/devices/vfio3", .vendor_id = 0x8086, .device_id = 0x1521,
          .iommu_group = 7, .snoop_control = true },
        { .name = "0000:00:05.1", .cdev = "/dev/vfio/devices/vfio4", .vendor_id = 0x8086, .device_id = 0x1521,
          .iommu_group = 7, .snoop_control = true },
};

enum { PLAIN, FULL, BARE, PEER0, PEER1 };

#define NO_PASID BACKEND_NO_PASID
#define MSI_START BACKEND_SIM_MSI_START
#define MSI_LAST BACKEND_SIM_MSI_LAST
#define APERTURE_LAST BACKEND_SIM_APERTURE_LAST

/* Opens the sim with test_devices and no fault armed, and one context. */
static int sim_open_devices(Backend **ret_b, BackendCtx **ret_ctx) {
        BackendConfig config = { .sim_devices = test_devices, .n_sim_devices = ELEMENTSOF(test_devices) };
        int r;

        backend_sim_fail_nth = 0;
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        r = ops->open(&config, ret_b);
        if (r < 0)
                return r;
        return ops->ctx_new(*ret_b, ret_ctx);
}

/* Binds test_devices[which] and holds the fd it gives until release_dev() or the backend's close; returns r. */
static int bind_dev(BackendCtx *ctx, int which, uint32_t *ret_id) {
        int fd = -1, r;

        r = ops->device_bind(ctx, &test_devices[which], &fd, ret_id);
        if (r < 0)
                return r;
        r = hold_fd(ctx, *ret_id, fd);
        if (r < 0)
                (void) close(fd);
        return r;
}

/* Stats after a reap; the hook cannot fail. */
static BackendSimStats stats_of(Backend *b) {
        BackendSimStats st;

        backend_sim_stats(b, &st);
        return st;
}

/*
 * The broker lets go of dev (device_unbind, then it closes its fd, the last
 * copy) and the sim reaps: dev is unbound when this returns 0.
 */
static int release_dev(BackendCtx *ctx, uint32_t dev) {
        int r;

        r = ops->device_unbind(ctx, -1, dev);
        if (r < 0)
                return r;
        r = close_held_fd(ctx, dev);
        if (r < 0)
                return r;
        (void) stats_of(ctx->backend);
        return 0;
}

static int attach(BackendCtx *ctx, uint32_t dev, uint32_t pt, uint32_t *ret_hwpt) {
        *ret_hwpt = 0;
        return ops->device_attach(ctx, -1, dev, NO_PASID, pt, ret_hwpt);
}

static int attach_pasid(BackendCtx *ctx, uint32_t dev, uint32_t pasid, uint32_t pt, uint32_t *ret_hwpt) {
        *ret_hwpt = 0;
        return ops->device_attach(ctx, -1, dev, pasid, pt, ret_hwpt);
}

static int detach(BackendCtx *ctx, uint32_t dev) {
        return ops->device_detach(ctx, -1, dev, NO_PASID);
}

static int hwpt_paging(BackendCtx *ctx, uint32_t dev, uint32_t ioas, uint32_t flags, uint32_t *ret_id) {
        return ops->hwpt_alloc(ctx, dev, ioas, flags, 0, NULL, 0, 0, ret_id);
}

/* HWPT_ALLOC with every argument; returns r. */
static int hwpt_raw(BackendCtx *ctx, uint32_t dev, uint32_t pt, uint32_t flags, uint32_t type,
                    const void *data, size_t len, uint32_t fault_id, uint32_t *ret_id) {
        return ops->hwpt_alloc(ctx, dev, pt, flags, type, data, len, fault_id, ret_id);
}

/* A nested HWPT with the stage-1 data given; returns r. */
static int hwpt_nested_with(BackendCtx *ctx, uint32_t dev, uint32_t parent, uint32_t flags,
                            const struct iommu_hwpt_vtd_s1 *s1, uint32_t *ret_id) {
        return hwpt_raw(ctx, dev, parent, flags, IOMMU_HWPT_DATA_VTD_S1, s1, sizeof(*s1), 0, ret_id);
}

/* A nested HWPT with a 4-level stage-1 table; returns r. */
static int hwpt_nested(BackendCtx *ctx, uint32_t dev, uint32_t parent, uint32_t flags, uint32_t *ret_id) {
        struct iommu_hwpt_vtd_s1 s1 = { .pgtbl_addr = 0x1000000, .addr_width = 48 };

        return hwpt_nested_with(ctx, dev, parent, flags, &s1, ret_id);
}

/* IOVA_RANGES into out[0..4); *ret_n is the count. */
static int ranges_of(BackendCtx *ctx, uint32_t ioas, IovaRange *out, size_t *ret_n, uint64_t *ret_alignment) {
        *ret_n = 4;
        return ops->iova_ranges(ctx, ioas, out, ret_n, ret_alignment);
}

#define ASSERT_RANGE(r, s, l)                           \
        do {                                            \
                ASSERT_U64_EQ((r).start, (s));          \
                ASSERT_U64_EQ((r).last, (l));           \
        } while (0)

/* --- devices: list and bind ----------------------------------------------------------------- */

TEST(device_list_returns_a_copy_of_the_configured_devices) {
        SIM_FIXTURE(b, ctx);
        _cleanup_free_ BackendDeviceInfo *list = NULL;
        size_t n = 0;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->device_list(b, &list, &n));
        ASSERT_EQ(n, ELEMENTSOF(test_devices));
        ASSERT_TRUE(list != NULL && list != test_devices);
        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(memcmp(&list[i], &test_devices[i], sizeof(list[i])) == 0);
}

TEST(device_list_without_configured_devices_is_empty) {
        SIM_FIXTURE(b, ctx);
        BackendDeviceInfo *list = (BackendDeviceInfo *) 1;
        size_t n = 1;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->device_list(b, &list, &n));
        ASSERT_EQ(n, 0);
        ASSERT_TRUE(list == NULL);
}

TEST(open_refuses_empty_unterminated_or_duplicate_device_names) {
        _cleanup_(backend_closep) Backend *b = NULL;
        BackendDeviceInfo devs[2] = { test_devices[PLAIN], test_devices[FULL] };
        BackendConfig config = { .sim_devices = devs, .n_sim_devices = 2 };

        backend_sim_fail_nth = 0;
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        memcpy(devs[1].name, devs[0].name, sizeof(devs[1].name));
        ASSERT_ERRNO(EINVAL, ops->open(&config, &b));
        memset(devs[1].name, 'x', sizeof(devs[1].name));
        ASSERT_ERRNO(EINVAL, ops->open(&config, &b));
        devs[1].name[0] = 0;
        ASSERT_ERRNO(EINVAL, ops->open(&config, &b));
        ASSERT_OK(snprintf(devs[1].name, sizeof(devs[1].name), "0000:00:09.0"));
        ASSERT_OK(ops->open(&config, &b));
}

TEST(bind_of_an_unconfigured_device_is_enodev) {
        SIM_FIXTURE(b, ctx);
        BackendDeviceInfo other = test_devices[PLAIN];
        uint32_t id;
        int fd = -1;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(snprintf(other.name, sizeof(other.name), "0000:00:1f.0"));
        ASSERT_ERRNO(ENODEV, ops->device_bind(ctx, &other, &fd, &id));
        ASSERT_EQ(fd, -1);
}

TEST(bind_returns_a_cloexec_seqpacket_socket_as_the_device_fd) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1;
        int type = 0, domain = 0;
        socklen_t len;
        uint32_t id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->device_bind(ctx, &test_devices[PLAIN], &fd, &id));
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(id, 1);
        ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        len = sizeof(type);
        ASSERT_OK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len));
        ASSERT_EQ(type, SOCK_SEQPACKET);
        len = sizeof(domain);
        ASSERT_OK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len));
        ASSERT_EQ(domain, AF_UNIX);
        /* Nothing comes from the device unprompted. */
        ASSERT_EQ(recv(fd, &type, sizeof(type), MSG_DONTWAIT), -1);
        ASSERT_EQ(errno, EAGAIN);
}

TEST(bind_takes_the_lowest_free_id_shared_with_other_objects) {
        SIM_FIXTURE(b, ctx);
        uint32_t id, dev, dev2;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_OK(ops->destroy(ctx, 1));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_EQ(dev, 1);
        ASSERT_OK(bind_dev(ctx, FULL, &dev2));
        ASSERT_EQ(dev2, 3);
        ASSERT_OK(release_dev(ctx, dev));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 1);
}

TEST(bind_of_a_device_bound_in_any_context_is_einval) {
        SIM_FIXTURE(b, ctx);
        _cleanup_(ctx_freep) BackendCtx *ctx2 = NULL;
        uint32_t dev, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ctx_new(b, &ctx2));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_ERRNO(EINVAL, bind_dev(ctx, PLAIN, &id));
        ASSERT_ERRNO(EINVAL, bind_dev(ctx2, PLAIN, &id));
        ASSERT_OK(bind_dev(ctx2, FULL, &id));
        ASSERT_OK(release_dev(ctx, dev));
        ASSERT_OK(bind_dev(ctx2, PLAIN, &id));
        ASSERT_EQ(id, 2);
}

TEST(bind_of_a_group_peer_owned_by_another_context_is_eperm) {
        SIM_FIXTURE(b, ctx);
        _cleanup_(ctx_freep) BackendCtx *ctx2 = NULL;
        uint32_t p0, p1;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ctx_new(b, &ctx2));
        ASSERT_OK(bind_dev(ctx, PEER0, &p0));
        ASSERT_ERRNO(EPERM, bind_dev(ctx2, PEER1, &p1));
        ASSERT_OK(bind_dev(ctx, PEER1, &p1));
        ASSERT_EQ(p1, 2);
        ASSERT_OK(release_dev(ctx, p0));
        ASSERT_ERRNO(EPERM, bind_dev(ctx2, PEER0, &p0));
        ASSERT_OK(release_dev(ctx, p1));
        ASSERT_OK(bind_dev(ctx2, PEER1, &p1));
        ASSERT_EQ(p1, 1);
}

TEST(unbind_of_an_unknown_or_non_device_id_is_enoent) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_ERRNO(ENOENT, ops->device_unbind(ctx, -1, 0));
        ASSERT_ERRNO(ENOENT, ops->device_unbind(ctx, -1, 99));
        ASSERT_ERRNO(ENOENT, ops->device_unbind(ctx, -1, ioas));
        ASSERT_OK(ops->device_unbind(ctx, -1, dev));
}

TEST(unbind_leaves_the_device_bound_while_its_fd_is_open) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        /* There is no unbind ioctl: the device, its attachment and its automatic HWPT stay. */
        ASSERT_OK(ops->device_unbind(ctx, -1, dev));
        ASSERT_OK(ops->device_unbind(ctx, -1, dev));
        ASSERT_EQ(stats_of(b).devices, 1);
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, hwpt));
        ASSERT_ERRNO(EINVAL, bind_dev(ctx, PLAIN, &id));
        ASSERT_ERRNO(EBUSY, ops->device_probe(b, &test_devices[PLAIN]));
        /* The last close of its fd unbinds it at the next reap. */
        ASSERT_OK(close_held_fd(ctx, dev));
        ASSERT_OK(ops->device_probe(b, &test_devices[PLAIN]));
        ASSERT_ERRNO(ENOENT, ops->device_unbind(ctx, -1, dev));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, hwpt));
        ASSERT_OK(ops->destroy(ctx, ioas));
}

TEST(ctx_free_unbinds_its_released_devices) {
        SIM_FIXTURE(b, ctx);
        BackendCtx *ctx2 = NULL;
        uint32_t ioas, dev, dev2, hwpt;
        BackendSimStats st;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ctx_new(b, &ctx2));
        ASSERT_OK(ops->ioas_alloc(ctx2, &ioas));
        ASSERT_OK(bind_dev(ctx2, PEER0, &dev));
        ASSERT_OK(attach(ctx2, dev, ioas, &hwpt));
        ASSERT_OK(bind_dev(ctx2, FULL, &dev2));
        /* The broker closed its fds before the context: nothing holds it. */
        ASSERT_OK(close_held_fd(ctx2, dev));
        ASSERT_OK(close_held_fd(ctx2, dev2));
        ops->ctx_free(ctx2);
        st = stats_of(b);
        ASSERT_EQ(st.contexts, 1);
        ASSERT_EQ(st.closed_contexts, 0);
        ASSERT_EQ(st.objects, 0);
        ASSERT_OK(bind_dev(ctx, PEER1, &dev));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
}

TEST(destroy_of_a_bound_device_is_ebusy) {
        SIM_FIXTURE(b, ctx);
        uint32_t dev;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, dev));
        ASSERT_OK(release_dev(ctx, dev));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, dev));
}

TEST(device_ops_on_an_unknown_or_non_device_id_are_enoent) {
        SIM_FIXTURE(b, ctx);
        BackendHwInfo info;
        uint32_t ioas, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_ERRNO(ENOENT, attach(ctx, 5, ioas, &hwpt));
        ASSERT_ERRNO(ENOENT, attach(ctx, ioas, ioas, &hwpt));
        ASSERT_ERRNO(ENOENT, detach(ctx, 5));
        ASSERT_ERRNO(ENOENT, ops->device_detach(ctx, -1, ioas, 3));
        ASSERT_ERRNO(ENOENT, ops->hw_info(ctx, 5, &info));
        ASSERT_ERRNO(ENOENT, ops->hw_info(ctx, ioas, &info));
        ASSERT_ERRNO(ENOENT, hwpt_paging(ctx, 5, ioas, 0, &hwpt));
        ASSERT_ERRNO(ENOENT, hwpt_paging(ctx, ioas, ioas, 0, &hwpt));
}

/* --- devices: attach, replace, detach ------------------------------------------------------- */

TEST(attach_to_an_ioas_makes_an_automatic_hwpt) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_EQ(hwpt, 3);
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 4);
}

TEST(attach_of_a_second_device_reuses_the_automatic_hwpt) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, d1, d2, h1, h2;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &d1));
        ASSERT_OK(bind_dev(ctx, FULL, &d2));
        ASSERT_OK(attach(ctx, d1, ioas, &h1));
        ASSERT_OK(attach(ctx, d2, ioas, &h2));
        ASSERT_EQ(h1, h2);
        /* The HWPT lives while either device uses it. */
        ASSERT_OK(detach(ctx, d1));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, h1));
        ASSERT_OK(detach(ctx, d2));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, h1));
}

TEST(attach_to_an_unknown_id_is_enoent_and_to_a_device_is_einval) {
        SIM_FIXTURE(b, ctx);
        _cleanup_(ctx_freep) BackendCtx *ctx2 = NULL;
        uint32_t dev, dev2, ioas2, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ctx_new(b, &ctx2));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(bind_dev(ctx, FULL, &dev2));
        ASSERT_ERRNO(ENOENT, attach(ctx, dev, 0, &hwpt));
        ASSERT_ERRNO(ENOENT, attach(ctx, dev, 77, &hwpt));
        ASSERT_ERRNO(EINVAL, attach(ctx, dev, dev2, &hwpt));
        ASSERT_ERRNO(EINVAL, attach(ctx, dev, dev, &hwpt));
        /* Ids are per context: another context's IOAS is unknown here. */
        ASSERT_OK(ops->ioas_alloc(ctx2, &ioas2));
        ASSERT_OK(ops->ioas_alloc(ctx2, &ioas2));
        ASSERT_OK(ops->ioas_alloc(ctx2, &ioas2));
        ASSERT_ERRNO(ENOENT, attach(ctx, dev, ioas2, &hwpt));
}

TEST(attach_again_replaces_and_the_old_automatic_hwpt_dies) {
        SIM_FIXTURE(b, ctx);
        uint32_t a, c, dev, h1, h2;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &a));
        ASSERT_OK(ops->ioas_alloc(ctx, &c));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, a, &h1));
        ASSERT_EQ(h1, 4);
        ASSERT_OK(attach(ctx, dev, c, &h2));
        ASSERT_EQ(h2, 5);
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, h1));
        ASSERT_OK(ops->destroy(ctx, a));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, c));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, h2));
}

TEST(attach_again_to_the_same_pt_keeps_the_hwpt) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, h1, h2, manual;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &h1));
        ASSERT_OK(attach(ctx, dev, ioas, &h2));
        ASSERT_EQ(h1, h2);
        ASSERT_OK(attach(ctx, dev, h1, &h2));
        ASSERT_EQ(h1, h2);
        /* Onto a manual HWPT of the same IOAS and back to the IOAS: a new automatic one. */
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &manual));
        ASSERT_OK(attach(ctx, dev, manual, &h2));
        ASSERT_EQ(h2, manual);
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, h1));
        ASSERT_OK(attach(ctx, dev, manual, &h2));
        ASSERT_OK(attach(ctx, dev, ioas, &h2));
        ASSERT_EQ(h2, h1);
        ASSERT_OK(ops->destroy(ctx, manual));
}

TEST(detach_with_nothing_attached_succeeds) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(detach(ctx, dev));
        ASSERT_OK(ops->device_detach(ctx, -1, dev, 3));
        ASSERT_OK(ops->device_detach(ctx, -1, dev, 0));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(detach(ctx, dev));
        ASSERT_OK(detach(ctx, dev));
}

TEST(destroy_of_an_ioas_or_hwpt_in_use_is_ebusy) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt, manual;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, ioas));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, hwpt));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &manual));
        ASSERT_OK(attach(ctx, dev, manual, &hwpt));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, manual));
        ASSERT_OK(detach(ctx, dev));
        /* A manual HWPT outlives its devices and keeps its IOAS busy. */
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, ioas));
        ASSERT_OK(ops->destroy(ctx, manual));
        ASSERT_OK(ops->destroy(ctx, ioas));
}

TEST(release_detaches_everything_and_destroys_automatic_hwpts) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, full, plain, autohw, pasid_hwpt, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &full));
        ASSERT_OK(bind_dev(ctx, PLAIN, &plain));
        ASSERT_OK(hwpt_paging(ctx, full, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_OK(attach(ctx, full, pasid_hwpt, &id));
        ASSERT_OK(attach_pasid(ctx, full, 1, pasid_hwpt, &id));
        ASSERT_OK(attach_pasid(ctx, full, 7, pasid_hwpt, &id));
        ASSERT_OK(attach(ctx, plain, ioas, &autohw));
        ASSERT_OK(release_dev(ctx, plain));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, autohw));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, pasid_hwpt));
        ASSERT_OK(release_dev(ctx, full));
        ASSERT_OK(ops->destroy(ctx, pasid_hwpt));
        ASSERT_OK(ops->destroy(ctx, ioas));
}

/* --- devices: the device fd, its holders and closed contexts --------------------------------- */

/*
 * The holder of a device fd writes len bytes of buf to it, as one device
 * ioctl; the sim serves it at the reap stats_of() runs.  Returns the reply's
 * err (0 or -errno) with *ret set, or -errno if no reply came.
 */
static int device_raw(Backend *b, int fd, const void *buf, size_t len, BackendSimDeviceReply *ret) {
        ssize_t n;

        *ret = (BackendSimDeviceReply) { .err = 1 };
        n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != len)
                return -EMSGSIZE;
        (void) stats_of(b);
        n = recv(fd, ret, sizeof(*ret), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != sizeof(*ret))
                return -EBADMSG;
        return ret->err;
}

/* VFIO_DEVICE_ATTACH_IOMMUFD_PT or _DETACH_ on the device fd, by whoever holds it; returns the reply's err. */
static int device_op(Backend *b, int fd, uint32_t op, uint32_t pasid, uint32_t pt_id,
                     BackendSimDeviceReply *ret) {
        BackendSimDeviceOp o = { .op = op, .pasid = pasid, .pt_id = pt_id };

        return device_raw(b, fd, &o, sizeof(o), ret);
}

/*
 * What the broker does when a session ends, for one device and its context:
 * detach, unbind, close its fd, close the context.  Whatever copy of the
 * device fd the client was handed stays open.
 */
static void broker_lets_go(BackendCtx *ctx, int fd, uint32_t dev) {
        (void) ops->device_detach(ctx, fd, dev, NO_PASID);
        (void) ops->device_unbind(ctx, fd, dev);
        (void) close(fd);
        ops->ctx_free(ctx);
}

TEST(a_held_device_fd_keeps_a_freed_context_alive_and_can_reattach_to_its_old_ioas) {
        _cleanup_(backend_closep) Backend *b = NULL;
        _cleanup_(ctx_freep) BackendCtx *ctx2 = NULL;
        _cleanup_close_ int client = -1;
        BackendCtx *ctx = NULL;
        BackendSimDeviceReply reply;
        BackendSimStats st;
        uint32_t ioas, dev, hwpt, id;
        int fd = -1;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x100000, 4 * PG));
        ASSERT_OK(ops->device_bind(ctx, &test_devices[PLAIN], &fd, &dev));
        client = fcntl(fd, F_DUPFD_CLOEXEC, 3);         /* the copy handed to the client */
        ASSERT_OK(client);
        ASSERT_OK(ops->device_attach(ctx, fd, dev, NO_PASID, ioas, &hwpt));

        broker_lets_go(TAKE_PTR(ctx), fd, dev);

        /* The bound device holds the context: nothing of it went. */
        st = stats_of(b);
        ASSERT_EQ(st.contexts, 1);
        ASSERT_EQ(st.closed_contexts, 1);
        ASSERT_EQ(st.ioases, 1);
        ASSERT_EQ(st.hwpts, 0);                 /* the detach destroyed the automatic HWPT */
        ASSERT_EQ(st.devices, 1);
        ASSERT_EQ(st.objects, 2);
        ASSERT_EQ(st.areas, 1);
        ASSERT_U64_EQ(st.mapped_bytes, 4 * PG);
        /* Nobody else can have the device. */
        ASSERT_ERRNO(EBUSY, ops->device_probe(b, &test_devices[PLAIN]));
        ASSERT_OK(ops->ctx_new(b, &ctx2));
        ASSERT_ERRNO(EINVAL, bind_dev(ctx2, PLAIN, &id));

        /* The client puts its device back on the old IOAS, mappings and all. */
        ASSERT_OK(device_op(b, client, BACKEND_SIM_DEVICE_OP_ATTACH, NO_PASID, ioas, &reply));
        ASSERT_EQ(reply.err, 0);
        ASSERT_TRUE(reply.hwpt != 0 && reply.hwpt != ioas);
        st = stats_of(b);
        ASSERT_EQ(st.closed_contexts, 1);
        ASSERT_EQ(st.hwpts, 1);
        ASSERT_EQ(st.areas, 1);
        /* Its ids are the old context's, not those of the broker's open one. */
        ASSERT_OK(ops->ioas_alloc(ctx2, &id));
        ASSERT_EQ(id, 1);
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx2, reply.hwpt));
}

TEST(closing_every_copy_of_the_device_fd_frees_the_closed_context) {
        SIM_FIXTURE(b, ctx);
        _cleanup_free_ BackendDeviceInfo *list = NULL;
        BackendCtx *old = NULL;
        BackendSimDeviceReply reply;
        BackendSimStats st;
        uint32_t ioas, dev, hwpt, id;
        int fd = -1, client, client2;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &old));
        ASSERT_OK(ops->ioas_alloc(old, &ioas));
        ASSERT_OK(map_at(old, ioas, 0x100000, PG));
        ASSERT_OK(ops->device_bind(old, &test_devices[FULL], &fd, &dev));
        client = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ASSERT_OK(client);
        client2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ASSERT_OK(client2);
        ASSERT_OK(ops->device_attach(old, fd, dev, NO_PASID, ioas, &hwpt));
        broker_lets_go(TAKE_PTR(old), fd, dev);

        /* One copy closed: the open file lives on in the other. */
        ASSERT_OK(close(client2));
        ASSERT_EQ(stats_of(b).closed_contexts, 1);
        ASSERT_ERRNO(EBUSY, ops->device_probe(b, &test_devices[FULL]));

        /* An ioctl issued just before the last close still runs, then the release undoes it. */
        ASSERT_OK(device_op(b, client, BACKEND_SIM_DEVICE_OP_ATTACH, NO_PASID, ioas, &reply));
        ASSERT_OK(device_op(b, client, BACKEND_SIM_DEVICE_OP_DETACH, NO_PASID, 0, &reply));
        {
                BackendSimDeviceOp o = { .op = BACKEND_SIM_DEVICE_OP_ATTACH, .pasid = NO_PASID, .pt_id = ioas };

                ASSERT_EQ(send(client, &o, sizeof(o), MSG_DONTWAIT | MSG_NOSIGNAL), (ssize_t) sizeof(o));
        }
        ASSERT_OK(close(client));

        /* The next reap, here device_list's, unbinds the device and takes the closed context with it. */
        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_OK(ops->device_list(b, &list, &n));
        st = stats_of(b);
        ASSERT_EQ(st.contexts, 1);
        ASSERT_EQ(st.closed_contexts, 0);
        ASSERT_EQ(st.objects, 0);
        ASSERT_EQ(st.areas, 0);
        ASSERT_U64_EQ(st.mapped_bytes, 0);
        ASSERT_OK(ops->device_probe(b, &test_devices[FULL]));
        ASSERT_OK(bind_dev(ctx, FULL, &id));
        ASSERT_EQ(id, 1);
}

TEST(device_list_bind_probe_and_ctx_new_each_reap) {
        SIM_FIXTURE(b, ctx);
        _cleanup_free_ BackendDeviceInfo *list = NULL;
        _cleanup_(ctx_freep) BackendCtx *ctx2 = NULL;
        uint32_t dev, id;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(close_held_fd(ctx, dev));
        ASSERT_OK(ops->device_list(b, &list, &n));
        ASSERT_ERRNO(ENOENT, ops->device_unbind(ctx, -1, dev));

        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(close_held_fd(ctx, dev));
        ASSERT_OK(bind_dev(ctx, FULL, &id));
        ASSERT_EQ(id, dev);                     /* the released device's id was free again */

        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(close_held_fd(ctx, dev));
        ASSERT_OK(ops->device_probe(b, &test_devices[BARE]));
        ASSERT_ERRNO(ENOENT, ops->device_unbind(ctx, -1, dev));

        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(close_held_fd(ctx, dev));
        ASSERT_OK(ops->ctx_new(b, &ctx2));
        ASSERT_ERRNO(ENOENT, ops->device_unbind(ctx, -1, dev));
}

TEST(a_context_emptied_before_it_is_freed_gives_a_held_device_nothing_to_attach_to) {
        _cleanup_(backend_closep) Backend *b = NULL;
        _cleanup_close_ int client = -1;
        BackendCtx *ctx = NULL;
        BackendSimDeviceReply reply;
        BackendSimStats st;
        uint32_t ioas, ioas2, dev, hwpt, manual;
        uint64_t u;
        int fd = -1;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas2));
        ASSERT_OK(map_at(ctx, ioas, 0x100000, 4 * PG));
        ASSERT_OK(map_at(ctx, ioas2, 0x200000, PG));
        ASSERT_OK(ops->device_bind(ctx, &test_devices[FULL], &fd, &dev));
        client = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ASSERT_OK(client);
        ASSERT_OK(hwpt_paging(ctx, dev, ioas2, 0, &manual));
        ASSERT_OK(ops->device_attach(ctx, fd, dev, NO_PASID, ioas, &hwpt));

        /* The broker empties the context before it closes it. */
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_OK(unmap(ctx, ioas2, 0, UINT64_MAX, &u));
        ASSERT_OK(ops->device_detach(ctx, fd, dev, NO_PASID));
        ASSERT_OK(ops->destroy(ctx, manual));
        ASSERT_OK(ops->destroy(ctx, ioas));
        ASSERT_OK(ops->destroy(ctx, ioas2));
        broker_lets_go(TAKE_PTR(ctx), fd, dev);

        /* The device still holds the context, but it is empty. */
        st = stats_of(b);
        ASSERT_EQ(st.contexts, 1);
        ASSERT_EQ(st.closed_contexts, 1);
        ASSERT_EQ(st.ioases, 0);
        ASSERT_EQ(st.hwpts, 0);
        ASSERT_EQ(st.areas, 0);
        ASSERT_EQ(st.devices, 1);
        ASSERT_EQ(st.objects, 1);
        ASSERT_ERRNO(ENOENT, device_op(b, client, BACKEND_SIM_DEVICE_OP_ATTACH, NO_PASID, ioas, &reply));
        ASSERT_ERRNO(ENOENT, device_op(b, client, BACKEND_SIM_DEVICE_OP_ATTACH, NO_PASID, manual, &reply));
        ASSERT_ERRNO(ENOENT, device_op(b, client, BACKEND_SIM_DEVICE_OP_ATTACH, 1, ioas2, &reply));
        /* Its own DEVICE object is no page table either. */
        ASSERT_ERRNO(EINVAL, device_op(b, client, BACKEND_SIM_DEVICE_OP_ATTACH, NO_PASID, dev, &reply));
        ASSERT_EQ(stats_of(b).objects, 1);
}

TEST(device_op_datagrams_are_checked_and_detach_works) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1;
        BackendSimDeviceReply reply;
        BackendSimDeviceOp o;
        uint32_t ioas, pasid_hwpt, dev, hwpt;
        char big[sizeof(BackendSimDeviceOp) + 1] = {};

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->device_bind(ctx, &test_devices[FULL], &fd, &dev));

        /* The wrong size is EINVAL, an empty datagram included; an unknown op ENOTTY. */
        o = (BackendSimDeviceOp) { .op = BACKEND_SIM_DEVICE_OP_ATTACH, .pasid = NO_PASID, .pt_id = ioas };
        ASSERT_ERRNO(EINVAL, device_raw(b, fd, &o, sizeof(o) - 1, &reply));
        memcpy(big, &o, sizeof(o));
        ASSERT_ERRNO(EINVAL, device_raw(b, fd, big, sizeof(big), &reply));
        ASSERT_ERRNO(EINVAL, device_raw(b, fd, &o, 0, &reply));
        ASSERT_ERRNO(ENOTTY, device_op(b, fd, 0, NO_PASID, ioas, &reply));
        ASSERT_ERRNO(ENOTTY, device_op(b, fd, 3, NO_PASID, ioas, &reply));
        ASSERT_EQ(stats_of(b).hwpts, 0);

        /* In an open context too, the datagram is the ioctl: attach, replace, detach. */
        ASSERT_OK(device_op(b, fd, BACKEND_SIM_DEVICE_OP_ATTACH, NO_PASID, ioas, &reply));
        hwpt = reply.hwpt;
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, ioas));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_OK(device_op(b, fd, BACKEND_SIM_DEVICE_OP_ATTACH, NO_PASID, pasid_hwpt, &reply));
        ASSERT_EQ(reply.hwpt, pasid_hwpt);
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, hwpt));
        ASSERT_OK(device_op(b, fd, BACKEND_SIM_DEVICE_OP_ATTACH, 3, pasid_hwpt, &reply));
        ASSERT_ERRNO(ENOSPC, device_op(b, fd, BACKEND_SIM_DEVICE_OP_ATTACH, 1U << 31, pasid_hwpt, &reply));
        ASSERT_OK(device_op(b, fd, BACKEND_SIM_DEVICE_OP_DETACH, 3, 0, &reply));
        ASSERT_OK(device_op(b, fd, BACKEND_SIM_DEVICE_OP_DETACH, NO_PASID, 0, &reply));
        ASSERT_OK(device_op(b, fd, BACKEND_SIM_DEVICE_OP_DETACH, NO_PASID, 0, &reply));
        ASSERT_OK(ops->destroy(ctx, pasid_hwpt));
        ASSERT_OK(ops->destroy(ctx, ioas));
        /* What the broker's ops see is the same device. */
        ASSERT_OK(detach(ctx, dev));
}

TEST(a_held_device_keeps_its_group_from_other_contexts) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int client = -1;
        BackendCtx *old = NULL;
        uint32_t dev, id;
        int fd = -1;

        ASSERT_OK(sim_open_devices(&b, &old));
        ASSERT_OK(ops->device_bind(old, &test_devices[PEER0], &fd, &dev));
        client = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ASSERT_OK(client);
        broker_lets_go(TAKE_PTR(old), fd, dev);

        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_ERRNO(EPERM, bind_dev(ctx, PEER1, &id));
        ASSERT_OK(close(TAKE_FD(client)));
        ASSERT_OK(bind_dev(ctx, PEER1, &id));
        ASSERT_OK(bind_dev(ctx, PEER0, &id));
}

TEST(close_frees_closed_contexts_still_held) {
        _cleanup_close_ int client = -1;
        BackendCtx *ctx = NULL;
        Backend *b = NULL;
        struct pollfd p;
        uint32_t ioas, dev, hwpt;
        int fd = -1;

        /* Under ASan a leak of the held context, its objects or its mappings fails the run. */
        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x100000, 16 * PG));
        ASSERT_OK(ops->device_bind(ctx, &test_devices[FULL], &fd, &dev));
        client = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ASSERT_OK(client);
        ASSERT_OK(ops->device_attach(ctx, fd, dev, NO_PASID, ioas, &hwpt));
        (void) ops->device_unbind(ctx, fd, dev);
        (void) close(fd);
        ops->ctx_free(ctx);
        ASSERT_EQ(stats_of(b).closed_contexts, 1);
        ops->close(b);

        /* The device went with the process that owned it: the client's fd hangs up. */
        p = (struct pollfd) { .fd = client, .events = POLLIN };
        ASSERT_EQ(poll(&p, 1, 0), 1);
        ASSERT_TRUE(p.revents & POLLHUP);
}

/* --- devices: reserved ranges --------------------------------------------------------------- */

TEST(iova_ranges_with_an_attached_device_skip_the_msi_window_and_end_at_the_aperture) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t ioas, dev, hwpt;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_RANGE(r[0], 0, 0xfedfffffULL);
        ASSERT_RANGE(r[1], 0xfef00000ULL, 0xffffffffffffULL);
        ASSERT_U64_EQ(align, 0x1000);
        /* EMSGSIZE with the count needed if the array is short. */
        n = 1;
        ASSERT_ERRNO(EMSGSIZE, ops->iova_ranges(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_RANGE(r[0], 0, 0xfedfffffULL);
}

TEST(iova_ranges_with_a_hwpt_but_no_device_end_at_the_aperture) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t ioas, dev, hwpt;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &hwpt));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_RANGE(r[0], 0, APERTURE_LAST);
        ASSERT_U64_EQ(align, 0x1000);
        ASSERT_OK(ops->destroy(ctx, hwpt));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_RANGE(r[0], 0, UINT64_MAX);
        ASSERT_U64_EQ(align, 1);
}

TEST(reserved_ranges_and_alignment_go_with_the_last_device) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t ioas, d1, d2, hwpt;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &d1));
        ASSERT_OK(bind_dev(ctx, FULL, &d2));
        ASSERT_OK(attach(ctx, d1, ioas, &hwpt));
        ASSERT_OK(attach(ctx, d2, ioas, &hwpt));
        ASSERT_OK(detach(ctx, d1));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_OK(release_dev(ctx, d2));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_RANGE(r[0], 0, UINT64_MAX);
        ASSERT_U64_EQ(align, 1);
        /* Unaligned maps work again. */
        ASSERT_OK(map_at(ctx, ioas, 0x10001, 3));
}

TEST(attach_with_a_mapping_in_the_msi_window_is_eaddrinuse_and_changes_nothing) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t ioas, dev, hwpt, id;
        uint64_t align, u;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(map_at(ctx, ioas, MSI_LAST + 1 - PG, 2 * PG));
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(align, 1);
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 3);
        ASSERT_OK(unmap(ctx, ioas, MSI_LAST + 1 - PG, 2 * PG, &u));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_EQ(hwpt, 4);
}

TEST(attach_with_an_allowed_range_over_the_msi_window_is_eaddrinuse) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(allow(ctx, ioas, 0xf0000000, 0xfee00000));
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(allow(ctx, ioas, 0xf0000000, 0xfedfffff));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
}

TEST(attach_with_a_mapping_or_allowed_range_above_the_aperture_is_eaddrinuse) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;
        uint64_t u;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(map_at(ctx, ioas, APERTURE_LAST + 1, PG));
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, ioas, &hwpt));
        ASSERT_ERRNO(EADDRINUSE, hwpt_paging(ctx, dev, ioas, 0, &hwpt));
        ASSERT_OK(unmap(ctx, ioas, APERTURE_LAST + 1, PG, &u));
        ASSERT_OK(allow(ctx, ioas, APERTURE_LAST - PG + 1, APERTURE_LAST + PG));
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(allow(ctx, ioas, APERTURE_LAST - PG + 1, APERTURE_LAST));
        ASSERT_OK(map_at(ctx, ioas, APERTURE_LAST - PG + 1, PG));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
}

TEST(attach_with_an_unaligned_mapping_is_eaddrinuse) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;
        uint64_t iova = 0x20000, u;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        /* io_pagetable.c iopt_check_iova_alignment: IOVA, length and page offset, each. */
        ASSERT_OK(map_at(ctx, ioas, 0x10800, PG));
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(unmap(ctx, ioas, 0x10800, PG, &u));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, 0x800));
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(unmap(ctx, ioas, 0x10000, 0x800, &u));
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0 + 0x800), PG, FIXED | RW, &iova));
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, ioas, &hwpt));
        ASSERT_ERRNO(EADDRINUSE, hwpt_paging(ctx, dev, ioas, 0, &hwpt));
        ASSERT_OK(unmap(ctx, ioas, 0x20000, PG, &u));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
}

TEST(map_fixed_into_a_reserved_range_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        /* io_pagetable.c iopt_check_iova: EINVAL, not EADDRINUSE. */
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, MSI_START, PG));
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, MSI_START - PG, 2 * PG));
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, MSI_LAST + 1 - PG, PG));
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, APERTURE_LAST + 1, PG));
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, APERTURE_LAST + 1 - PG, 2 * PG));
        ASSERT_OK(map_at(ctx, ioas, MSI_START - PG, PG));
        ASSERT_OK(map_at(ctx, ioas, MSI_LAST + 1, PG));
        ASSERT_OK(map_at(ctx, ioas, APERTURE_LAST + 1 - PG, PG));
}

TEST(map_with_a_domain_needs_4k_alignment) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;
        uint64_t iova = 0x10000;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        /* iopt_alloc_area_pages: the length; iopt_check_iova: the IOVA; iopt_insert_area: the page offset. */
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, 0x10000, 0x800));
        ASSERT_ERRNO(EINVAL, map_at(ctx, ioas, 0x10800, PG));
        ASSERT_ERRNO(EINVAL, ops->map_user(ctx, ioas, va(VA0 + 0x800), PG, FIXED | RW, &iova));
        /* io_pagetable.c iopt_alloc_iova: an automatic IOVA aligned below 4 KiB. */
        ASSERT_ERRNO(EINVAL, map_auto(ctx, ioas, VA0 + 0x800, PG, &iova));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, PG);
}

TEST(map_auto_skips_the_msi_window) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;
        uint64_t iova;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(map_at(ctx, ioas, PG, MSI_START - PG));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, MSI_LAST + 1);
        /* With allowed ranges that stop at the window, nothing beyond it is taken. */
        ASSERT_OK(allow(ctx, ioas, 0xfe000000, MSI_START - 1));
        ASSERT_ERRNO(ENOSPC, map_auto(ctx, ioas, VA0, PG, &iova));
}

TEST(map_auto_stops_at_the_aperture) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;
        uint64_t iova;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(map_at(ctx, ioas, PG, MSI_START - PG));
        ASSERT_OK(map_at(ctx, ioas, MSI_LAST + 1, APERTURE_LAST - MSI_LAST - PG));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, APERTURE_LAST + 1 - PG);
        ASSERT_ERRNO(ENOSPC, map_auto(ctx, ioas, VA0, PG, &iova));
}

TEST(allow_iovas_over_a_reserved_range_is_eaddrinuse_and_keeps_the_list) {
        SIM_FIXTURE(b, ctx);
        IovaRange two[2] = { { 0x100000, 0x1fffff }, { MSI_LAST, MSI_LAST + PG } };
        uint32_t ioas, dev, hwpt;
        uint64_t iova;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(allow(ctx, ioas, 0x400000, 0x4fffff));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_ERRNO(EADDRINUSE, ops->allow_iovas(ctx, ioas, two, 2));
        ASSERT_ERRNO(EADDRINUSE, allow(ctx, ioas, APERTURE_LAST, APERTURE_LAST + 1));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x400000);
        ASSERT_OK(allow(ctx, ioas, MSI_LAST + 1, APERTURE_LAST));
}

TEST(replace_onto_another_ioas_moves_the_msi_reservation) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t a, c, dev, hwpt;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &a));
        ASSERT_OK(ops->ioas_alloc(ctx, &c));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(attach(ctx, dev, a, &hwpt));
        ASSERT_OK(map_at(ctx, c, MSI_START, PG));
        /* The new IOAS cannot take the reservation: nothing moves. */
        ASSERT_ERRNO(EADDRINUSE, attach(ctx, dev, c, &hwpt));
        ASSERT_OK(ranges_of(ctx, a, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, a));
        ASSERT_OK(ops->destroy(ctx, c));
        ASSERT_OK(ops->ioas_alloc(ctx, &c));
        ASSERT_OK(attach(ctx, dev, c, &hwpt));
        ASSERT_OK(ranges_of(ctx, c, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_OK(ranges_of(ctx, a, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_OK(ops->destroy(ctx, a));
}

/* --- devices: PASIDs ------------------------------------------------------------------------ */

TEST(pasid_attach_to_an_ioas_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        /* The automatic HWPT never has IOMMU_HWPT_ALLOC_PASID. */
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 1, ioas, &hwpt));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 3);
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 1, ioas, &id));
}

TEST(pasid_attach_to_a_hwpt_without_the_pasid_flag_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, plain, pasid_hwpt, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &plain));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 1, plain, &hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, 1, pasid_hwpt, &hwpt));
        ASSERT_EQ(hwpt, pasid_hwpt);
        /* Replacing onto a HWPT without the flag is refused as well. */
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 1, plain, &hwpt));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, pasid_hwpt));
        ASSERT_OK(ops->destroy(ctx, plain));
}

TEST(pasid_attach_at_or_above_the_devices_max_pasids_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, pasid_hwpt, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 32, pasid_hwpt, &hwpt));
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 1U << 20, pasid_hwpt, &hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, 31, pasid_hwpt, &hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, 1, pasid_hwpt, &hwpt));
}

TEST(pasid_attach_on_a_device_without_pasids_succeeds_and_does_nothing) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, pasid_hwpt, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        /* iommu.c iommu_attach_device_pasid skips devices whose max_pasids is 0. */
        ASSERT_OK(attach_pasid(ctx, dev, 12345, pasid_hwpt, &hwpt));
        ASSERT_EQ(hwpt, pasid_hwpt);
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, pasid_hwpt));
        ASSERT_OK(ops->device_detach(ctx, -1, dev, 12345));
        ASSERT_OK(ops->destroy(ctx, pasid_hwpt));
}

TEST(pasid_attach_above_int_max_is_enospc) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, pasid_hwpt, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_ERRNO(ENOSPC, attach_pasid(ctx, dev, 0x80000000U, pasid_hwpt, &hwpt));
        ASSERT_ERRNO(ENOSPC, attach_pasid(ctx, dev, 0xfffffffeU, 999, &hwpt));
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 0x7fffffffU, pasid_hwpt, &hwpt));
}

TEST(pasid_attach_needs_a_pasid_capable_rid_domain) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, plain, pasid_hwpt, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_OK(attach(ctx, dev, ioas, &plain));
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 1, pasid_hwpt, &hwpt));
        ASSERT_OK(attach(ctx, dev, pasid_hwpt, &hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, 1, pasid_hwpt, &hwpt));
}

TEST(rid_attach_to_a_non_pasid_domain_while_pasids_are_attached_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, plain, pasid_hwpt, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &plain));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, 3, pasid_hwpt, &hwpt));
        ASSERT_ERRNO(EINVAL, attach(ctx, dev, plain, &hwpt));
        ASSERT_ERRNO(EINVAL, attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(attach(ctx, dev, pasid_hwpt, &hwpt));
        /* Replacing the RID onto a HWPT without the flag is refused too. */
        ASSERT_ERRNO(EINVAL, attach(ctx, dev, plain, &hwpt));
        ASSERT_OK(ops->device_detach(ctx, -1, dev, 3));
        ASSERT_OK(attach(ctx, dev, plain, &hwpt));
}

TEST(pasid_attach_again_replaces_and_detach_frees_the_hwpt) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, p1, p2, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &p1));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &p2));
        ASSERT_OK(attach_pasid(ctx, dev, 5, p1, &hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, 5, p2, &hwpt));
        ASSERT_EQ(hwpt, p2);
        ASSERT_OK(ops->destroy(ctx, p1));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, p2));
        ASSERT_OK(ops->device_detach(ctx, -1, dev, 5));
        ASSERT_OK(ops->destroy(ctx, p2));
}

TEST(pasid_attach_reserves_nothing) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t ioas, dev, pasid_hwpt, hwpt;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, 2, pasid_hwpt, &hwpt));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_RANGE(r[0], 0, APERTURE_LAST);
        ASSERT_OK(map_at(ctx, ioas, MSI_START, PG));
}

TEST(pasid_0_is_the_rid_to_iommufd) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t ioas, dev, hwpt, h0;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        /* VFIO passes PASID 0 on as IOMMU_NO_PASID: the RID is taken. */
        ASSERT_ERRNO(EBUSY, attach_pasid(ctx, dev, 0, ioas, &h0));
        ASSERT_OK(ops->device_detach(ctx, -1, dev, 0));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, hwpt));
        ASSERT_OK(detach(ctx, dev));
        /* Through PASID 0 the RID attaches to the IOAS, with its reservation. */
        ASSERT_OK(attach_pasid(ctx, dev, 0, ioas, &h0));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_ERRNO(EBUSY, attach(ctx, dev, ioas, &hwpt));
        ASSERT_OK(detach(ctx, dev));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, h0));
        ASSERT_OK(ops->device_detach(ctx, -1, dev, 0));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, h0));
        ASSERT_OK(ops->destroy(ctx, ioas));
}

/* --- devices: hw_info ----------------------------------------------------------------------- */

TEST(hw_info_reports_vtd_registers_that_follow_the_device) {
        SIM_FIXTURE(b, ctx);
        struct iommu_hw_info_vtd vtd;
        BackendHwInfo info;
        uint32_t plain, full, bare;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(bind_dev(ctx, PLAIN, &plain));
        ASSERT_OK(bind_dev(ctx, FULL, &full));
        ASSERT_OK(bind_dev(ctx, BARE, &bare));

        ASSERT_OK(ops->hw_info(ctx, plain, &info));
        ASSERT_EQ(info.type, IOMMU_HW_INFO_TYPE_INTEL_VTD);
        ASSERT_EQ(info.data_len, sizeof(vtd));
        ASSERT_EQ(info.data_len, 24);
        ASSERT_U64_EQ(info.capabilities, BACKEND_HW_CAP_PCI_ATS_NOT_SUPPORTED);
        ASSERT_EQ(info.max_pasid_log2, 0);
        memcpy(&vtd, info.data, sizeof(vtd));
        ASSERT_EQ(vtd.flags, IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17);
        ASSERT_EQ(vtd.__reserved, 0);
        ASSERT_EQ((vtd.cap_reg >> 16) & 0x3f, 47);              /* MGAW: 48 bits */
        ASSERT_EQ((vtd.ecap_reg >> 7) & 1, 1);                  /* SC */
        ASSERT_EQ((vtd.ecap_reg >> 26) & 1, 0);                 /* NEST */
        ASSERT_EQ((vtd.ecap_reg >> 45) & 1, 0);                 /* SLADS */
        ASSERT_EQ((vtd.ecap_reg >> 43) & 1, 1);                 /* SMTS */
        ASSERT_EQ((vtd.ecap_reg >> 40) & 1, 1);                 /* PASID */
        ASSERT_EQ((vtd.ecap_reg >> 2) & 1, 0);                  /* DT: no ATS */

        ASSERT_OK(ops->hw_info(ctx, full, &info));
        ASSERT_U64_EQ(info.capabilities,
                      BACKEND_HW_CAP_DIRTY_TRACKING | BACKEND_HW_CAP_PCI_ATS_NOT_SUPPORTED);
        ASSERT_EQ(info.max_pasid_log2, 5);
        memcpy(&vtd, info.data, sizeof(vtd));
        ASSERT_EQ((vtd.ecap_reg >> 7) & 1, 1);
        ASSERT_EQ((vtd.ecap_reg >> 26) & 1, 1);
        ASSERT_EQ((vtd.ecap_reg >> 45) & 1, 1);

        ASSERT_OK(ops->hw_info(ctx, bare, &info));
        memcpy(&vtd, info.data, sizeof(vtd));
        ASSERT_EQ((vtd.ecap_reg >> 7) & 1, 0);
}

TEST(hw_info_caps_the_pasid_width_at_the_iommus_20_bits) {
        _cleanup_(backend_closep) Backend *b = NULL;
        _cleanup_(ctx_freep) BackendCtx *ctx = NULL;
        BackendDeviceInfo wide = test_devices[FULL];
        BackendConfig config = { .sim_devices = &wide, .n_sim_devices = 1 };
        BackendHwInfo info;
        uint32_t dev, ioas, pasid_hwpt, hwpt;

        wide.pasid_width = 24;
        backend_sim_fail_nth = 0;
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        ASSERT_OK(ops->open(&config, &b));
        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(ops->hw_info(ctx, dev, &info));
        ASSERT_EQ(info.max_pasid_log2, 20);
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &pasid_hwpt));
        ASSERT_ERRNO(EINVAL, attach_pasid(ctx, dev, 1U << 20, pasid_hwpt, &hwpt));
        ASSERT_OK(attach_pasid(ctx, dev, (1U << 20) - 1, pasid_hwpt, &hwpt));
}

/* --- devices: HWPT_ALLOC -------------------------------------------------------------------- */

TEST(hwpt_alloc_paging_on_an_ioas_takes_the_lowest_free_id) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &hwpt));
        ASSERT_EQ(hwpt, 3);
        ASSERT_OK(attach(ctx, dev, hwpt, &id));
        ASSERT_EQ(id, hwpt);
        ASSERT_OK(detach(ctx, dev));
        ASSERT_OK(ops->destroy(ctx, hwpt));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 3);
}

TEST(hwpt_alloc_unknown_flags_are_eopnotsupp) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_paging(ctx, dev, ioas, 1U << 4, &hwpt));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_paging(ctx, dev, ioas, 1U << 31, &hwpt));
}

TEST(hwpt_alloc_nest_parent_and_dirty_tracking_need_the_device_feature) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, plain, full, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &plain));
        ASSERT_OK(bind_dev(ctx, FULL, &full));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_paging(ctx, plain, ioas, BACKEND_HWPT_NEST_PARENT, &hwpt));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_paging(ctx, plain, ioas, BACKEND_HWPT_DIRTY_TRACKING, &hwpt));
        ASSERT_OK(hwpt_paging(ctx, full, ioas, BACKEND_HWPT_NEST_PARENT, &hwpt));
        ASSERT_OK(hwpt_paging(ctx, full, ioas, BACKEND_HWPT_DIRTY_TRACKING, &hwpt));
        ASSERT_OK(hwpt_paging(ctx, full, ioas, BACKEND_HWPT_NEST_PARENT | BACKEND_HWPT_DIRTY_TRACKING |
                              BACKEND_HWPT_PASID, &hwpt));
}

TEST(hwpt_alloc_pasid_flag_needs_no_pasids_on_the_device) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, BARE, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_PASID, &hwpt));
        ASSERT_OK(attach(ctx, dev, hwpt, &hwpt));
}

TEST(hwpt_alloc_data_type_and_length_must_agree) {
        SIM_FIXTURE(b, ctx);
        struct iommu_hwpt_vtd_s1 s1 = { .addr_width = 48 };
        uint32_t ioas, dev, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        /* hw_pagetable.c iommufd_hwpt_alloc checks this first, even before the device. */
        ASSERT_ERRNO(EINVAL, hwpt_raw(ctx, dev, ioas, 0, IOMMU_HWPT_DATA_NONE, &s1, sizeof(s1), 0, &hwpt));
        ASSERT_ERRNO(EINVAL, hwpt_raw(ctx, dev, ioas, 0, IOMMU_HWPT_DATA_VTD_S1, NULL, 0, 0, &hwpt));
        ASSERT_ERRNO(EINVAL, hwpt_raw(ctx, 99, ioas, 0, IOMMU_HWPT_DATA_VTD_S1, NULL, 0, 0, &hwpt));
        /* Driver data for a paging domain: intel_iommu_domain_alloc_paging_flags refuses it. */
        ASSERT_ERRNO(EOPNOTSUPP,
                     hwpt_raw(ctx, dev, ioas, 0, IOMMU_HWPT_DATA_VTD_S1, &s1, sizeof(s1), 0, &hwpt));
}

TEST(hwpt_alloc_on_an_unknown_pt_is_einval_not_enoent) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, dev2, hwpt, nested;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev2));
        ASSERT_ERRNO(EINVAL, hwpt_paging(ctx, dev, 77, 0, &hwpt));
        ASSERT_ERRNO(EINVAL, hwpt_paging(ctx, dev, 0, 0, &hwpt));
        ASSERT_ERRNO(EINVAL, hwpt_paging(ctx, dev, dev2, 0, &hwpt));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &hwpt));
        ASSERT_OK(hwpt_nested(ctx, dev, hwpt, 0, &nested));
        ASSERT_ERRNO(EINVAL, hwpt_nested(ctx, dev, nested, 0, &hwpt));
}

TEST(nest_parent_refuses_read_only_mappings) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, parent, plain;
        uint64_t iova = 0x10000, u;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0), PG, FIXED | BACKEND_MAP_READABLE, &iova));
        /* ERRATA_772415_SPR17: a nesting parent takes no read-only mapping, old or new. */
        ASSERT_ERRNO(EINVAL, hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &plain));
        ASSERT_OK(unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_ERRNO(EINVAL, ops->map_user(ctx, ioas, va(VA0), PG, FIXED | BACKEND_MAP_READABLE, &iova));
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_OK(ops->destroy(ctx, parent));
        iova = 0x20000;
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0), PG, FIXED | BACKEND_MAP_READABLE, &iova));
}

TEST(hwpt_alloc_nested_on_a_nest_parent_holds_the_parent) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, parent, nested;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_OK(hwpt_nested(ctx, dev, parent, 0, &nested));
        ASSERT_EQ(nested, 4);
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, parent));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, ioas));
        ASSERT_OK(ops->destroy(ctx, nested));
        ASSERT_OK(ops->destroy(ctx, parent));
        ASSERT_OK(ops->destroy(ctx, ioas));
}

TEST(hwpt_alloc_nested_needs_a_manual_nest_parent) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, plain, autohw, nested;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &plain));
        ASSERT_ERRNO(EINVAL, hwpt_nested(ctx, dev, plain, 0, &nested));
        ASSERT_OK(attach(ctx, dev, ioas, &autohw));
        ASSERT_ERRNO(EINVAL, hwpt_nested(ctx, dev, autohw, 0, &nested));
}

TEST(hwpt_alloc_nested_data_must_be_a_vtd_s1_of_exact_size) {
        SIM_FIXTURE(b, ctx);
        uint8_t buf[2 * sizeof(struct iommu_hwpt_vtd_s1)] = { 0 };
        uint32_t ioas, dev, parent, nested;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_raw(ctx, dev, parent, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, buf, 24, 0,
                                                 &nested));
        ASSERT_ERRNO(EINVAL, hwpt_raw(ctx, dev, parent, 0, IOMMU_HWPT_DATA_VTD_S1, buf, 16, 0, &nested));
        ASSERT_ERRNO(EINVAL, hwpt_raw(ctx, dev, parent, 0, IOMMU_HWPT_DATA_VTD_S1, buf, 23, 0, &nested));
        ASSERT_ERRNO(EINVAL, hwpt_raw(ctx, dev, parent, 0, IOMMU_HWPT_DATA_VTD_S1, buf, 32, 0, &nested));
        /* No data for a HWPT parent: iommufd_hwpt_nested_alloc refuses it. */
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_raw(ctx, dev, parent, 0, IOMMU_HWPT_DATA_NONE, NULL, 0, 0, &nested));
        ASSERT_OK(hwpt_raw(ctx, dev, parent, 0, IOMMU_HWPT_DATA_VTD_S1, buf, 24, 0, &nested));
}

TEST(hwpt_alloc_nested_flags_other_than_pasid_are_eopnotsupp) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, parent, nested;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_nested(ctx, dev, parent, BACKEND_HWPT_NEST_PARENT, &nested));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_nested(ctx, dev, parent, BACKEND_HWPT_DIRTY_TRACKING, &nested));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_nested(ctx, dev, parent, 1U << 4, &nested));
        ASSERT_OK(hwpt_nested(ctx, dev, parent, BACKEND_HWPT_PASID, &nested));
}

TEST(hwpt_alloc_nested_needs_a_device_that_can_nest) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, full, plain, parent, nested;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &full));
        ASSERT_OK(bind_dev(ctx, PLAIN, &plain));
        ASSERT_OK(hwpt_paging(ctx, full, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_nested(ctx, plain, parent, 0, &nested));
}

TEST(hwpt_alloc_with_a_fault_id_is_enoent_and_with_nest_parent_eopnotsupp) {
        SIM_FIXTURE(b, ctx);
        struct iommu_hwpt_vtd_s1 s1 = { .addr_width = 48 };
        uint32_t ioas, dev, parent, hwpt, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        /* A fault_id that names no FAULT object (this one names the IOAS) is unknown. */
        ASSERT_ERRNO(ENOENT, hwpt_raw(ctx, dev, ioas, BACKEND_HWPT_FAULT_ID_VALID, 0, NULL, 0, ioas, &hwpt));
        ASSERT_ERRNO(EOPNOTSUPP, hwpt_paging(ctx, dev, ioas,
                                             BACKEND_HWPT_FAULT_ID_VALID | BACKEND_HWPT_NEST_PARENT, &hwpt));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_ERRNO(ENOENT, hwpt_raw(ctx, dev, parent, BACKEND_HWPT_FAULT_ID_VALID,
                                             IOMMU_HWPT_DATA_VTD_S1, &s1, sizeof(s1), 1, &hwpt));
        /* Nothing was left behind. */
        ASSERT_OK(ops->destroy(ctx, parent));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 3);
        ASSERT_OK(ops->destroy(ctx, ioas));
}

/* --- dirty tracking, invalidation, fault queues, vIOMMUs ------------------------------------ */

/* GET_DIRTY_BITMAP of [iova, iova + length) in 4 KiB pages into bm (zeroed here); returns r. */
static int dirty_read(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length, uint32_t flags,
                      uint64_t *bm, size_t n_words) {
        memset(bm, 0, n_words * sizeof(*bm));
        return ops->hwpt_get_dirty_bitmap(ctx, hwpt, iova, length, PG, flags, bm);
}

TEST(dirty_tracking_needs_a_hwpt_allocated_with_it) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, plain, tracked, nested, auto_hwpt;
        uint64_t bm[1];

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, 0, &plain));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_DIRTY_TRACKING | BACKEND_HWPT_NEST_PARENT, &tracked));
        ASSERT_OK(hwpt_nested(ctx, dev, tracked, 0, &nested));
        ASSERT_OK(map_at(ctx, ioas, 0x100000, 16 * PG));
        /* iopt_set_dirty_tracking / iommu_read_and_clear_dirty: no dirty_ops is EOPNOTSUPP */
        ASSERT_ERRNO(EOPNOTSUPP, ops->hwpt_set_dirty_tracking(ctx, plain, true));
        ASSERT_ERRNO(EOPNOTSUPP, dirty_read(ctx, plain, 0x100000, 16 * PG, 0, bm, 1));
        /* iommufd_get_hwpt_paging: a nested HWPT, an IOAS, an unknown id are ENOENT */
        ASSERT_ERRNO(ENOENT, ops->hwpt_set_dirty_tracking(ctx, nested, true));
        ASSERT_ERRNO(ENOENT, ops->hwpt_set_dirty_tracking(ctx, ioas, true));
        ASSERT_ERRNO(ENOENT, ops->hwpt_set_dirty_tracking(ctx, 99, true));
        ASSERT_ERRNO(ENOENT, dirty_read(ctx, nested, 0x100000, 16 * PG, 0, bm, 1));
        /* an automatic HWPT never has dirty_ops */
        ASSERT_OK(attach(ctx, dev, ioas, &auto_hwpt));
        ASSERT_ERRNO(EOPNOTSUPP, ops->hwpt_set_dirty_tracking(ctx, auto_hwpt, true));
        ASSERT_OK(ops->hwpt_set_dirty_tracking(ctx, tracked, true));
        ASSERT_OK(ops->hwpt_set_dirty_tracking(ctx, tracked, true));    /* the same state again: a no-op */
        ASSERT_OK(ops->hwpt_set_dirty_tracking(ctx, tracked, false));
}

TEST(dirty_bitmap_range_is_checked_as_iommufd_check_iova_range_does) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;
        uint64_t bm[2];

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_DIRTY_TRACKING, &hwpt));
        ASSERT_ERRNO(EINVAL, dirty_read(ctx, hwpt, 0, 0, 0, bm, 2));
        ASSERT_ERRNO(EOVERFLOW, dirty_read(ctx, hwpt, UINT64_MAX - PG + 1, 2 * PG, 0, bm, 2));
        ASSERT_ERRNO(EINVAL, dirty_read(ctx, hwpt, 0x800, PG, 0, bm, 2));
        ASSERT_ERRNO(EINVAL, dirty_read(ctx, hwpt, 0, PG + 0x800, 0, bm, 2));
        ASSERT_ERRNO(EINVAL, ops->hwpt_get_dirty_bitmap(ctx, hwpt, 0, PG, 0, 0, bm));
        ASSERT_ERRNO(EINVAL, ops->hwpt_get_dirty_bitmap(ctx, hwpt, PG, PG, 2 * PG, 0, bm));
        /* nothing mapped: the walk finds no area, and that is success with no bits */
        ASSERT_OK(dirty_read(ctx, hwpt, 0, 128 * PG, 0, bm, 2));
        ASSERT_U64_EQ(bm[0] | bm[1], 0);
}

TEST(nothing_is_dirty_without_dma_and_dma_counts_only_while_tracking) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt, other;
        uint64_t bm[2];

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_DIRTY_TRACKING, &hwpt));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_DIRTY_TRACKING, &other));
        ASSERT_OK(map_at(ctx, ioas, 0x100000, 64 * PG));
        ASSERT_OK(ops->hwpt_set_dirty_tracking(ctx, hwpt, true));
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000, 64 * PG, 0, bm, 1));
        ASSERT_U64_EQ(bm[0], 0);

        /* not tracking: DMA leaves no mark */
        ASSERT_EQ(backend_sim_mark_dirty(ctx, other, 0x100000, PG), 0);
        /* pages 1, 2 and 63; page 70 is not mapped and takes no mark */
        ASSERT_EQ(backend_sim_mark_dirty(ctx, hwpt, 0x101000, 2 * PG), 2);
        ASSERT_EQ(backend_sim_mark_dirty(ctx, hwpt, 0x100000 + 63 * PG, PG), 1);
        ASSERT_EQ(backend_sim_mark_dirty(ctx, hwpt, 0x100000 + 70 * PG, PG), 0);
        ASSERT_EQ(backend_sim_mark_dirty(ctx, hwpt, 0x101000, PG), 0);         /* dirty already */
        ASSERT_ERRNO(EINVAL, backend_sim_mark_dirty(ctx, hwpt, 0x100800, PG));
        ASSERT_ERRNO(ENOENT, backend_sim_mark_dirty(ctx, ioas, 0x100000, PG));

        /* NO_CLEAR keeps them; a read without it clears them */
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000, 64 * PG, BACKEND_DIRTY_NO_CLEAR, bm, 1));
        ASSERT_U64_EQ(bm[0], (1ULL << 1) | (1ULL << 2) | (1ULL << 63));
        ASSERT_OK(dirty_read(ctx, hwpt, 0x101000, 4 * PG, 0, bm, 1));
        ASSERT_U64_EQ(bm[0], (1ULL << 0) | (1ULL << 1));
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000, 64 * PG, 0, bm, 1));
        ASSERT_U64_EQ(bm[0], 1ULL << 63);
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000, 64 * PG, 0, bm, 1));
        ASSERT_U64_EQ(bm[0], 0);

        /* larger pages: a bit per 2 pages; bits past the first word */
        ASSERT_EQ(backend_sim_mark_dirty(ctx, hwpt, 0x100000 + 3 * PG, PG), 1);
        memset(bm, 0, sizeof(bm));
        ASSERT_OK(ops->hwpt_get_dirty_bitmap(ctx, hwpt, 0x100000, 64 * PG, 2 * PG, BACKEND_DIRTY_NO_CLEAR, bm));
        ASSERT_U64_EQ(bm[0], 1ULL << 1);
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000 - 64 * PG, 128 * PG, BACKEND_DIRTY_NO_CLEAR, bm, 2));
        ASSERT_U64_EQ(bm[0], 0);        /* the walk starts in a hole and stops there */
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000, 64 * PG, BACKEND_DIRTY_NO_CLEAR, bm, 1));
        ASSERT_U64_EQ(bm[0], 1ULL << 3);

        /* enabling again clears every dirty bit (iopt_clear_dirty_data); unmapping drops them too */
        ASSERT_OK(ops->hwpt_set_dirty_tracking(ctx, hwpt, true));
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000, 64 * PG, 0, bm, 1));
        ASSERT_U64_EQ(bm[0], 0);
        ASSERT_EQ(backend_sim_mark_dirty(ctx, hwpt, 0x100000, PG), 1);
        ASSERT_OK(unmap(ctx, ioas, 0x100000, 64 * PG, &bm[1]));
        ASSERT_OK(dirty_read(ctx, hwpt, 0x100000, 64 * PG, 0, bm, 1));
        ASSERT_U64_EQ(bm[0], 0);
}

TEST(read_only_pages_never_get_dirty) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, hwpt;
        uint64_t iova = 0x200000;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_DIRTY_TRACKING, &hwpt));
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0), 4 * PG, FIXED | BACKEND_MAP_READABLE, &iova));
        ASSERT_OK(ops->hwpt_set_dirty_tracking(ctx, hwpt, true));
        ASSERT_EQ(backend_sim_mark_dirty(ctx, hwpt, iova, 4 * PG), 0);
}

static int invalidate(BackendCtx *ctx, uint32_t pt, uint32_t type, const void *e, uint32_t len, uint32_t n,
                      uint32_t *ret_n) {
        *ret_n = n;
        return ops->hwpt_invalidate(ctx, pt, type, e, len, ret_n);
}

TEST(invalidate_checks_entries_as_intel_nested_cache_invalidate_user) {
        SIM_FIXTURE(b, ctx);
        struct iommu_hwpt_vtd_s1_invalidate inv[3] = {
                { .addr = 0x1000, .npages = 1 },
                { .addr = 0, .npages = UINT64_MAX, .flags = IOMMU_VTD_INV_FLAGS_LEAF },
                { .addr = 0x2000, .npages = 4 },
        };
        uint8_t big[2 * PG] = { 0 };
        uint32_t ioas, dev, parent, nested, n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_OK(hwpt_nested(ctx, dev, parent, 0, &nested));

        ASSERT_OK(invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 3, &n));
        ASSERT_EQ(n, 3);
        ASSERT_OK(invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, NULL, 0, 0, &n));
        ASSERT_EQ(n, 0);
        /* iommufd_hwpt_invalidate: bad sizes are EINVAL before the object is looked at */
        ASSERT_ERRNO(EINVAL, invalidate(ctx, 99, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, 0, 1, &n));
        ASSERT_ERRNO(EINVAL, invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, big, PG + 8, 1, &n));
        ASSERT_EQ(n, 0);
        /* an unknown id is ENOENT, a paging HWPT or an IOAS EINVAL */
        ASSERT_ERRNO(ENOENT, invalidate(ctx, 99, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 1, &n));
        ASSERT_ERRNO(EINVAL, invalidate(ctx, parent, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 1, &n));
        ASSERT_ERRNO(EINVAL, invalidate(ctx, ioas, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 1, &n));
        /* the driver: another data type or entry size EINVAL, none handled */
        ASSERT_ERRNO(EINVAL, invalidate(ctx, nested, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, inv, sizeof(inv[0]),
                                        1, &n));
        ASSERT_EQ(n, 0);
        ASSERT_ERRNO(EINVAL, invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, big, 32, 2, &n));
        ASSERT_EQ(n, 0);
        /* a bad entry stops the walk: the ones before it count */
        inv[2].flags = 2;
        ASSERT_ERRNO(EOPNOTSUPP, invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 3, &n));
        ASSERT_EQ(n, 2);
        inv[2].flags = 0;
        inv[2].__reserved = 1;
        ASSERT_ERRNO(EOPNOTSUPP, invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 3, &n));
        ASSERT_EQ(n, 2);
        inv[2].__reserved = 0;
        inv[1].addr = 0x1000;   /* npages U64_MAX with an address */
        ASSERT_ERRNO(EINVAL, invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 3, &n));
        ASSERT_EQ(n, 1);
        inv[0].addr = 0x1800;
        ASSERT_ERRNO(EINVAL, invalidate(ctx, nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 3, &n));
        ASSERT_EQ(n, 0);
}

TEST(fault_queue_is_an_object_hwpts_hold) {
        SIM_FIXTURE(b, ctx);
        struct iommu_hwpt_vtd_s1 s1 = { .pgtbl_addr = 0x1000000, .addr_width = 48 };
        uint32_t ioas, dev, fault, hwpt, parent, nested, id;
        _cleanup_close_ int fd = -1, copy = -1;
        char c;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(ops->fault_alloc(ctx, &fault, &fd));
        ASSERT_EQ(fault, 3);
        ASSERT_TRUE(fd >= 0);
        /* nothing to read, ever */
        ASSERT_TRUE(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
        ASSERT_TRUE(read(fd, &c, 1) < 0 && errno == EAGAIN);

        ASSERT_OK(hwpt_raw(ctx, dev, ioas, BACKEND_HWPT_FAULT_ID_VALID, 0, NULL, 0, fault, &hwpt));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_OK(hwpt_raw(ctx, dev, parent, BACKEND_HWPT_FAULT_ID_VALID, IOMMU_HWPT_DATA_VTD_S1, &s1, sizeof(s1),
                           fault, &nested));
        /* held: EBUSY until both HWPTs go */
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, fault));
        /* attaching needs PRI, which no sim device has (intel_iommu_enable_iopf) */
        ASSERT_ERRNO(ENODEV, attach(ctx, dev, hwpt, &id));
        ASSERT_ERRNO(ENODEV, attach(ctx, dev, nested, &id));
        ASSERT_OK(ops->destroy(ctx, hwpt));
        ASSERT_OK(ops->destroy(ctx, nested));
        /* its open fd holds it too (eventq.c iommufd_eventq_init), a copy as much as the first */
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, fault));
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ASSERT_TRUE(copy >= 0);
        fd = safe_close(fd);
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, fault));
        copy = safe_close(copy);
        ASSERT_OK(ops->destroy(ctx, fault));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, fault));
}

TEST(viommu_is_eopnotsupp_on_vtd_and_vdevice_finds_no_viommu) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, dev, parent, id;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_ERRNO(EOPNOTSUPP, ops->viommu_alloc(ctx, dev, parent, IOMMU_VIOMMU_TYPE_DEFAULT, &id));
        ASSERT_ERRNO(EOPNOTSUPP, ops->viommu_alloc(ctx, 99, parent, IOMMU_VIOMMU_TYPE_DEFAULT, &id));
        ASSERT_ERRNO(ENOENT, ops->viommu_alloc(ctx, 99, parent, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, &id));
        ASSERT_ERRNO(EOPNOTSUPP, ops->viommu_alloc(ctx, dev, parent, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, &id));
        ASSERT_ERRNO(EOPNOTSUPP, ops->viommu_alloc(ctx, dev, parent, IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV, &id));
        ASSERT_ERRNO(ENOENT, ops->vdevice_alloc(ctx, parent, dev, 1, &id));
        ASSERT_ERRNO(ENOENT, ops->vdevice_alloc(ctx, 99, dev, 1, &id));
        /* nothing was made */
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 4);
}

TEST(attach_to_a_nested_hwpt_reserves_on_the_parents_ioas) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t ioas, dev, parent, nested, hwpt;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_OK(hwpt_nested(ctx, dev, parent, 0, &nested));
        ASSERT_OK(attach(ctx, dev, nested, &hwpt));
        ASSERT_EQ(hwpt, nested);
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, nested));
        /* Replacing onto the parent itself keeps the reservation on the same IOAS. */
        ASSERT_OK(attach(ctx, dev, parent, &hwpt));
        ASSERT_OK(ops->destroy(ctx, nested));
        ASSERT_OK(ranges_of(ctx, ioas, r, &n, &align));
        ASSERT_EQ(n, 2);
}

TEST(attach_to_a_nested_hwpt_checks_its_stage1_table) {
        SIM_FIXTURE(b, ctx);
        struct iommu_hwpt_vtd_s1 s1 = { .addr_width = 57 };
        uint32_t ioas, dev, parent, nested, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));
        ASSERT_OK(hwpt_paging(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        /* Stored as given; intel/pasid.c intel_pasid_setup_nested refuses it at attach. */
        ASSERT_OK(hwpt_nested_with(ctx, dev, parent, 0, &s1, &nested));
        ASSERT_ERRNO(EINVAL, attach(ctx, dev, nested, &hwpt));
        s1 = (struct iommu_hwpt_vtd_s1) { .addr_width = 48, .flags = IOMMU_VTD_S1_SRE };
        ASSERT_OK(hwpt_nested_with(ctx, dev, parent, 0, &s1, &nested));
        ASSERT_ERRNO(EINVAL, attach(ctx, dev, nested, &hwpt));
        s1 = (struct iommu_hwpt_vtd_s1) { .addr_width = 48, .flags = IOMMU_VTD_S1_WPE };
        ASSERT_OK(hwpt_nested_with(ctx, dev, parent, 0, &s1, &nested));
        ASSERT_OK(attach(ctx, dev, nested, &hwpt));
}

TEST(attach_to_a_domain_needing_a_feature_the_device_lacks_is_einval) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, full, plain, bare, dirty, parent, snoop, hwpt;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &full));
        ASSERT_OK(bind_dev(ctx, PLAIN, &plain));
        ASSERT_OK(bind_dev(ctx, BARE, &bare));
        ASSERT_OK(hwpt_paging(ctx, full, ioas, BACKEND_HWPT_DIRTY_TRACKING, &dirty));
        ASSERT_OK(hwpt_paging(ctx, full, ioas, BACKEND_HWPT_NEST_PARENT, &parent));
        ASSERT_OK(hwpt_paging(ctx, plain, ioas, 0, &snoop));
        ASSERT_ERRNO(EINVAL, attach(ctx, plain, dirty, &hwpt));
        ASSERT_ERRNO(EINVAL, attach(ctx, plain, parent, &hwpt));
        ASSERT_ERRNO(EINVAL, attach(ctx, bare, snoop, &hwpt));
        ASSERT_OK(attach(ctx, full, dirty, &hwpt));
        ASSERT_OK(attach(ctx, plain, snoop, &hwpt));
        /* A domain made for a device without snoop control takes any device. */
        ASSERT_OK(hwpt_paging(ctx, bare, ioas, 0, &hwpt));
        ASSERT_OK(attach(ctx, full, hwpt, &hwpt));
}

TEST(automatic_hwpt_of_a_snooping_device_is_not_reused_by_one_without) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas, plain, bare, full, h1, h2, h3;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, PLAIN, &plain));
        ASSERT_OK(bind_dev(ctx, BARE, &bare));
        ASSERT_OK(bind_dev(ctx, FULL, &full));
        ASSERT_OK(attach(ctx, plain, ioas, &h1));
        ASSERT_OK(attach(ctx, bare, ioas, &h2));
        ASSERT_TRUE(h1 != h2);
        /* The first one made is tried first. */
        ASSERT_OK(attach(ctx, full, ioas, &h3));
        ASSERT_EQ(h3, h1);
        ASSERT_OK(detach(ctx, bare));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, h2));
}

TEST(group_peers_share_one_hwpt_per_pasid) {
        SIM_FIXTURE(b, ctx);
        IovaRange r[4];
        uint32_t a, c, p0, p1, ha, hc, hwpt;
        uint64_t align;
        size_t n;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &a));
        ASSERT_OK(ops->ioas_alloc(ctx, &c));
        ASSERT_OK(bind_dev(ctx, PEER0, &p0));
        ASSERT_OK(bind_dev(ctx, PEER1, &p1));
        ASSERT_OK(hwpt_paging(ctx, p0, a, 0, &ha));
        ASSERT_OK(hwpt_paging(ctx, p0, c, 0, &hc));
        ASSERT_OK(attach(ctx, p0, ha, &hwpt));
        /* device.c iommufd_hw_pagetable_attach: the group is on another HWPT. */
        ASSERT_ERRNO(EINVAL, attach(ctx, p1, hc, &hwpt));
        ASSERT_ERRNO(EINVAL, attach(ctx, p1, c, &hwpt));
        ASSERT_OK(attach(ctx, p1, ha, &hwpt));
        /* Replacing one moves the group, and both reservations. */
        ASSERT_OK(attach(ctx, p0, hc, &hwpt));
        ASSERT_OK(ops->destroy(ctx, ha));
        ASSERT_OK(ranges_of(ctx, a, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_OK(detach(ctx, p0));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, hc));
        ASSERT_OK(ranges_of(ctx, c, r, &n, &align));
        ASSERT_EQ(n, 2);
        ASSERT_OK(detach(ctx, p1));
        ASSERT_OK(ranges_of(ctx, c, r, &n, &align));
        ASSERT_EQ(n, 1);
        ASSERT_OK(ops->destroy(ctx, hc));
}

/* --- fail-nth ------------------------------------------------------------------------------- */

TEST(fail_nth_fails_the_nth_call_with_enomem) {
        SIM_FIXTURE(b, ctx);
        uint32_t ioas;
        uint64_t u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        backend_sim_fail_nth = 3;
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        ASSERT_ERRNO(ENOMEM, map_at(ctx, ioas, 0x20000, PG));
        ASSERT_EQ(backend_sim_fail_nth, 0);
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x20000, PG, &u));
        ASSERT_OK(map_at(ctx, ioas, 0x20000, PG));
}

TEST(fail_nth_failure_changes_nothing) {
        SIM_FIXTURE(b, ctx);
        _cleanup_close_ int fd = -1;
        IovaRange range = { 0x400000, 0x4fffff }, ranges[2];
        size_t n = ELEMENTSOF(ranges);
        uint32_t ioas, dst, id;
        uint64_t iova = 0x30000, u;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->ioas_alloc(ctx, &dst));
        ASSERT_OK(allow(ctx, ioas, 0x100000, 0x1fffff));
        ASSERT_OK(map_at(ctx, ioas, 0x10000, PG));
        fd = memfd_new();
        ASSERT_OK(fd);

        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->ioas_alloc(ctx, &id));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->destroy(ctx, dst));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->allow_iovas(ctx, ioas, &range, 1));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->iova_ranges(ctx, ioas, ranges, &n, NULL));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->map_file(ctx, ioas, fd, 0, PG, FIXED | RW, &iova));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, copy_at(ctx, dst, ioas, 0x10000, PG, 0x40000));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, unmap(ctx, ioas, 0x10000, PG, &u));

        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 3);
        ASSERT_ERRNO(ENOENT, unmap(ctx, ioas, 0x30000, PG, &u));
        ASSERT_ERRNO(ENOENT, unmap(ctx, dst, 0x40000, PG, &u));
        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
        ASSERT_U64_EQ(iova, 0x100000);
        ASSERT_OK(unmap(ctx, ioas, 0x10000, PG, &u));
        ASSERT_OK(ops->destroy(ctx, dst));
}

TEST(fail_nth_is_read_from_env_at_open) {
        _cleanup_(backend_closep) Backend *b = NULL, *b2 = NULL;
        _cleanup_(ctx_freep) BackendCtx *ctx = NULL, *ctx2 = NULL;
        uint32_t ioas;

        backend_sim_fail_nth = 0;
        ASSERT_OK(setenv(BACKEND_SIM_FAIL_NTH_ENV, "2", 1));
        ASSERT_OK(ops->open(NULL, &b));
        ASSERT_EQ(backend_sim_fail_nth, 2);
        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_ERRNO(ENOMEM, ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));

        ASSERT_OK(setenv(BACKEND_SIM_FAIL_NTH_ENV, "two", 1));
        ASSERT_ERRNO(EINVAL, ops->open(NULL, &b2));
        ASSERT_OK(setenv(BACKEND_SIM_FAIL_NTH_ENV, "-1", 1));
        ASSERT_ERRNO(EINVAL, ops->open(NULL, &b2));
        ASSERT_OK(setenv(BACKEND_SIM_FAIL_NTH_ENV, "0", 1));
        ASSERT_OK(ops->open(NULL, &b2));
        ASSERT_EQ(backend_sim_fail_nth, 0);
        ASSERT_OK(unsetenv(BACKEND_SIM_FAIL_NTH_ENV));
        ASSERT_OK(ops->ctx_new(b2, &ctx2));
}

/*
 * One scenario that goes through every op; returns the first error.  Each
 * step that can fail is counted in *ret_steps.
 */
static int scenario(int fd, int *ret_steps) {
        _cleanup_(backend_closep) Backend *b = NULL;
        _cleanup_(ctx_freep) BackendCtx *ctx = NULL;
        IovaRange range = { 0x100000, 0x1fffff }, ranges[1];
        size_t n = ELEMENTSOF(ranges);
        uint64_t iova = 0x10000, u;
        uint32_t a, c;
        int r;

        *ret_steps = 0;
#define STEP(expr)                              \
        do {                                    \
                ++*ret_steps;                   \
                r = (expr);                     \
                if (r < 0)                      \
                        return r;               \
        } while (0)
        STEP(ops->open(NULL, &b));
        STEP(ops->ctx_new(b, &ctx));
        STEP(ops->ioas_alloc(ctx, &a));
        STEP(ops->ioas_alloc(ctx, &c));
        STEP(ops->allow_iovas(ctx, a, &range, 1));
        STEP(ops->iova_ranges(ctx, a, ranges, &n, NULL));
        STEP(ops->map_user(ctx, a, va(VA0), PG, FIXED | RW, &iova));
        iova = 0;
        STEP(ops->map_file(ctx, a, fd, 0, PG, RW, &iova));
        iova = 0;
        STEP(ops->copy(ctx, c, a, 0x10000, PG, RW, &iova));
        STEP(ops->unmap(ctx, a, 0x10000, PG, &u));
        STEP(ops->destroy(ctx, c));
#undef STEP
        return 0;
}

TEST(fail_nth_sweep_fails_each_call_in_turn) {
        _cleanup_close_ int fd = -1;
        int steps, total, r;

        fd = memfd_new();
        ASSERT_OK(fd);
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        backend_sim_fail_nth = 0;
        ASSERT_OK(scenario(fd, &total));

        for (int nth = 1; nth <= total; nth++) {
                backend_sim_fail_nth = nth;
                r = scenario(fd, &steps);
                ASSERT_ERRNO(ENOMEM, r);
                ASSERT_EQ(steps, nth);
                ASSERT_EQ(backend_sim_fail_nth, 0);
        }
        backend_sim_fail_nth = total + 1;
        ASSERT_OK(scenario(fd, &steps));
        ASSERT_EQ(backend_sim_fail_nth, 1);
        backend_sim_fail_nth = 0;
}

TEST(fail_nth_counts_the_device_ops_and_changes_nothing) {
        SIM_FIXTURE(b, ctx);
        BackendDeviceInfo *list = NULL;
        BackendHwInfo info;
        uint32_t ioas, dev, dev2, hwpt, id;
        size_t n = 0;
        int fd = -1;

        ASSERT_OK(sim_open_devices(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(bind_dev(ctx, FULL, &dev));

        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->device_list(b, &list, &n));
        ASSERT_TRUE(list == NULL);
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->device_bind(ctx, &test_devices[PLAIN], &fd, &dev2));
        ASSERT_EQ(fd, -1);
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, attach(ctx, dev, ioas, &hwpt));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->hw_info(ctx, dev, &info));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, hwpt_paging(ctx, dev, ioas, 0, &hwpt));
        ASSERT_OK(ops->ioas_alloc(ctx, &id));
        ASSERT_EQ(id, 3);
        ASSERT_OK(attach(ctx, dev, ioas, &hwpt));
        ASSERT_EQ(hwpt, 4);

        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, detach(ctx, dev));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, hwpt));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->device_unbind(ctx, -1, dev));
        ASSERT_ERRNO(EBUSY, ops->destroy(ctx, hwpt));
        backend_sim_fail_nth = 1;
        ASSERT_ERRNO(ENOMEM, ops->device_probe(b, &test_devices[PLAIN]));
        ASSERT_OK(bind_dev(ctx, PLAIN, &dev2));
        ASSERT_EQ(dev2, 5);
        ASSERT_OK(release_dev(ctx, dev));
        ASSERT_ERRNO(ENOENT, ops->destroy(ctx, hwpt));
}

/* One scenario through every device op; returns the first error, counting the steps in *ret_steps. */
static int device_scenario(int *ret_steps) {
        _cleanup_(backend_closep) Backend *b = NULL;
        _cleanup_(ctx_freep) BackendCtx *ctx = NULL;
        _cleanup_free_ BackendDeviceInfo *list = NULL;
        _cleanup_close_ int fd = -1;
        BackendConfig config = { .sim_devices = test_devices, .n_sim_devices = ELEMENTSOF(test_devices) };
        struct iommu_hwpt_vtd_s1 s1 = { .addr_width = 48 };
        uint32_t ioas, dev, parent, nested, hwpt;
        BackendHwInfo info;
        size_t n;
        int r;

        *ret_steps = 0;
#define STEP(expr)                              \
        do {                                    \
                ++*ret_steps;                   \
                r = (expr);                     \
                if (r < 0)                      \
                        return r;               \
        } while (0)
        STEP(ops->open(&config, &b));
        STEP(ops->ctx_new(b, &ctx));
        STEP(ops->device_list(b, &list, &n));
        STEP(ops->device_probe(b, &list[FULL]));
        STEP(ops->ioas_alloc(ctx, &ioas));
        STEP(ops->device_bind(ctx, &list[FULL], &fd, &dev));
        STEP(ops->hw_info(ctx, dev, &info));
        STEP(ops->device_attach(ctx, fd, dev, NO_PASID, ioas, &hwpt));
        STEP(hwpt_raw(ctx, dev, ioas, BACKEND_HWPT_NEST_PARENT | BACKEND_HWPT_PASID, 0, NULL, 0, 0,
                             &parent));
        STEP(hwpt_raw(ctx, dev, parent, BACKEND_HWPT_PASID, IOMMU_HWPT_DATA_VTD_S1, &s1, sizeof(s1), 0,
                             &nested));
        STEP(ops->device_attach(ctx, fd, dev, NO_PASID, nested, &hwpt));
        STEP(ops->device_attach(ctx, fd, dev, 1, nested, &hwpt));
        STEP(ops->device_detach(ctx, fd, dev, 1));
        STEP(ops->device_detach(ctx, fd, dev, NO_PASID));
        STEP(ops->destroy(ctx, nested));
        STEP(ops->device_unbind(ctx, fd, dev));
#undef STEP
        return 0;
}

TEST(fail_nth_sweep_fails_each_device_call_in_turn) {
        int steps, total, r;

        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        backend_sim_fail_nth = 0;
        ASSERT_OK(device_scenario(&total));
        ASSERT_EQ(total, 16);

        for (int nth = 1; nth <= total; nth++) {
                backend_sim_fail_nth = nth;
                r = device_scenario(&steps);
                ASSERT_ERRNO(ENOMEM, r);
                ASSERT_EQ(steps, nth);
                ASSERT_EQ(backend_sim_fail_nth, 0);
        }
        backend_sim_fail_nth = total + 1;
        ASSERT_OK(device_scenario(&steps));
        ASSERT_EQ(backend_sim_fail_nth, 1);
        backend_sim_fail_nth = 0;
}

/* --- the area set against a reference model ------------------------------------------------ */

/* The reference: which page each page is mapped as part of (area start page + 1), 0 if free. */
#define MODEL_PAGES 512

static int model_unmap(uint32_t *owner, uint64_t first, uint64_t last, uint64_t *ret_pages) {
        uint64_t p = first, n = 0;

        /* Walk areas upwards; stop with ENOENT at one sticking out (the areas before stay unmapped). */
        while (p <= last) {
                uint64_t a, end;

                if (!owner[p]) {
                        p++;
                        continue;
                }
                a = owner[p] - 1;
                for (end = a; end + 1 < MODEL_PAGES && owner[end + 1] == owner[a]; end++)
                        ;
                if (a < first || end > last)
                        return -ENOENT;
                for (uint64_t q = a; q <= end; q++)
                        owner[q] = 0;
                n += end - a + 1;
                p = end + 1;
        }
        if (n == 0)
                return -ENOENT;
        *ret_pages = n;
        return 0;
}

TEST(random_maps_and_unmaps_match_a_reference_model) {
        SIM_FIXTURE(b, ctx);
        uint32_t owner[MODEL_PAGES] = {};
        unsigned seed = 1;
        uint32_t ioas;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        for (int step = 0; step < 20000; step++) {
                uint64_t first = (uint64_t) rand_r(&seed) % MODEL_PAGES;
                uint64_t pages = 1 + (uint64_t) rand_r(&seed) % 8, last = first + pages - 1;
                int op = rand_r(&seed) % 8, r, expect;
                uint64_t iova, u, want = 0;

                if (last >= MODEL_PAGES)
                        continue;
                if (op < 4) {
                        /* Fixed map: EEXIST iff any page is taken. */
                        expect = 0;
                        for (uint64_t p = first; p <= last; p++)
                                if (owner[p])
                                        expect = -EEXIST;
                        r = map_at(ctx, ioas, first * PG, pages * PG);
                        ASSERT_EQ(r, expect);
                        if (r == 0)
                                for (uint64_t p = first; p <= last; p++)
                                        owner[p] = (uint32_t) first + 1;
                } else if (op < 7) {
                        expect = model_unmap(owner, first, last, &want);
                        r = unmap(ctx, ioas, first * PG, pages * PG, &u);
                        ASSERT_EQ(r, expect);
                        if (r == 0)
                                ASSERT_U64_EQ(u, want * PG);
                } else {
                        /* Auto map of one page, page-aligned VA: the lowest free page above page 0. */
                        uint64_t p;

                        for (p = 1; p < MODEL_PAGES && owner[p]; p++)
                                ;
                        if (p == MODEL_PAGES)
                                continue;
                        ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
                        ASSERT_U64_EQ(iova, p * PG);
                        owner[p] = (uint32_t) p + 1;
                }
        }
}

/* --- scale ---------------------------------------------------------------------------------- */

static double now(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

TEST(ten_thousand_mappings_stay_fast) {
        SIM_FIXTURE(b, ctx);
        const uint64_t n = 10000;
        uint64_t iova, u;
        uint32_t ioas;
        double start;

        ASSERT_OK(sim_open_ctx(&b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        start = now();
        /* Fixed, highest first (every insert at the front), then unmapped lowest first. */
        for (uint64_t i = n; i > 0; i--)
                ASSERT_OK(map_at(ctx, ioas, 0x100000000ULL + i * 2 * PG, PG));
        for (uint64_t i = 1; i <= n; i++) {
                ASSERT_OK(unmap(ctx, ioas, 0x100000000ULL + i * 2 * PG, PG, &u));
                ASSERT_U64_EQ(u, PG);
        }
        /* Automatic, then all at once. */
        for (uint64_t i = 0; i < n; i++) {
                ASSERT_OK(map_auto(ctx, ioas, VA0, PG, &iova));
                ASSERT_U64_EQ(iova, PG + i * PG);
        }
        ASSERT_OK(unmap(ctx, ioas, 0, UINT64_MAX, &u));
        ASSERT_U64_EQ(u, n * PG);
        if (now() - start > 10.0)
                TEST_FAIL("10k map/unmap took %.1f s", now() - start);
}

TESTS_MAIN(NULL, NULL)

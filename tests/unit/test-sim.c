/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sim.c - unit tests of the simulated IOMMU backend, through backend_sim_ops only.
 *
 * Owns: one TEST per kernel rule the sim models (the errno and where the
 * kernel has it are in backend-sim.c), plus context independence, teardown
 * (run under ASan to see leaks), the fail-nth hook and a 10k-mapping scale
 * check.  The sim never touches memory behind a mapping, so the VAs here are
 * made-up numbers; only map_file needs real fds.
 * Must never: reach into the sim's structures, or depend on test order.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* memfd_create(), O_PATH */
#endif

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
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

static void backend_closep(Backend **b) {
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-ioas.c - the IOAS ops of the simulated backend (ioas.c): alloc, ranges, map, unmap, copy.
 *
 * Owns: the ops ioas_alloc, iova_ranges, allow_iovas, map_user, map_file,
 * unmap and copy: their argument checks in the kernel's order, an IOAS's
 * list of allowed IOVAs, and the walks that unmap areas or gather the pieces
 * of a copy.  Where new areas go, and what they may not meet, is
 * sim-iopt.c's.
 * Must never: keep or close the fd map_file is given, or look at the memory
 * behind an address (the kernel pins it with a domain; the sim never does).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* O_PATH, reallocarray() */
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/sim-arena.h"
#include "backend/sim-fail-nth.h"
#include "backend/sim-ioas.h"
#include "backend/sim-iopt.h"
#include "backend/sim-object.h"
#include "common/macro.h"
#include "util/interval.h"

/*
 * The checks map, map_file and copy share, in the kernel's order
 * (ioas.c iommufd_ioas_map, iommufd_ioas_map_file, iommufd_ioas_copy).
 */
static int sim_check_map_args(uint32_t flags, uint64_t iova, uint64_t length) {
        /* Unknown flag bits are EOPNOTSUPP. */
        if (flags & ~SIM_MAP_FLAGS)
                return -EOPNOTSUPP;
        /* iova or length >= ULONG_MAX is EOVERFLOW, iova even without FIXED_IOVA. */
        if (iova >= UINT64_MAX || length >= UINT64_MAX)
                return -EOVERFLOW;
        /* Neither READABLE nor WRITEABLE is EINVAL. */
        if (!(flags & SIM_MAP_PROT))
                return -EINVAL;
        return 0;
}

/*
 * pages.c iopt_alloc_pages: length 0, or one past SIZE_MAX - PAGE_SIZE, is
 * EINVAL.
 */
static int sim_check_pages_length(uint64_t length) {
        if (length == 0 || length > SIZE_MAX - SIM_PAGE_SIZE)
                return -EINVAL;
        return 0;
}

int sim_ioas_alloc(BackendCtx *ctx, uint32_t *ret_id) {
        SimCtx *c = sim_ctx(ctx);
        SimIoas *ioas;
        int r;

        assert(c && ret_id);

        r = sim_fault();
        if (r < 0)
                return r;

        ioas = sim_calloc(c, 1, sizeof(*ioas));
        if (!ioas)
                return -ENOMEM;
        ioas->object.type = SIM_OBJECT_IOAS;
        r = sim_object_add(c, &ioas->object);
        if (r < 0) {
                sim_object_free(&ioas->object);
                return r;
        }
        *ret_id = ioas->object.id;
        return 0;
}

int sim_iova_ranges(BackendCtx *ctx, uint32_t ioas_id, IovaRange *ranges, size_t *n_ranges,
                    uint64_t *ret_alignment) {
        SimCtx *c = sim_ctx(ctx);
        size_t capacity, n_resv, n = 0;
        IovaRange resv[2];
        SimIoas *ioas;
        int r;

        assert(c && n_ranges);
        assert(ranges || *n_ranges == 0);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_iova_ranges: an unknown IOAS is ENOENT. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;

        /*
         * iommufd_ioas_iova_ranges reports the complement of the reserved
         * ranges over [0, ULONG_MAX] and iopt->iova_alignment; the allowed
         * list plays no part.  Without devices or HWPTs that is the one range
         * [0, U64_MAX] aligned 1; with a domain everything above the aperture
         * is reserved and the alignment is 4 KiB; an attached device cuts out
         * the MSI window.
         */
        capacity = *n_ranges;
        n_resv = sim_ioas_reserved(ioas, resv);
        for (size_t i = 0; i <= n_resv; i++) {
                uint64_t start = i == 0 ? 0 : resv[i - 1].last + 1;
                uint64_t last = i == n_resv ? UINT64_MAX : resv[i].start - 1;

                if (i > 0 && resv[i - 1].last == UINT64_MAX)
                        break;
                if (i < n_resv && resv[i].start == 0)
                        continue;
                if (n < capacity)
                        ranges[n] = (IovaRange) { .start = start, .last = last };
                n++;
        }
        *n_ranges = n;
        if (ret_alignment)
                *ret_alignment = sim_ioas_alignment(ioas);
        /* iommufd_ioas_iova_ranges: EMSGSIZE with the count needed if the array is short. */
        return capacity < n ? -EMSGSIZE : 0;
}

int sim_allow_iovas(BackendCtx *ctx, uint32_t ioas_id, const IovaRange *ranges, size_t n) {
        _cleanup_(sim_freep) IovaRange *allowed = NULL;
        SimCtx *c = sim_ctx(ctx);
        SimIoas *ioas;
        int r;

        assert(c);
        assert(ranges || n == 0);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_allow_iovas: the IOAS is looked up (ENOENT) before the list is read. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;

        if (n > 0) {
                allowed = sim_reallocarray(ioas, NULL, n, sizeof(*allowed));
                if (!allowed)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        /* ioas.c iommufd_ioas_load_iovas: start >= last is EINVAL (one-byte ranges too). */
                        if (ranges[i].start >= ranges[i].last)
                                return -EINVAL;
                        allowed[i] = ranges[i];
                }
                /* iommufd_ioas_load_iovas: a range overlapping an earlier one is EINVAL. */
                r = iova_ranges_normalize(allowed, n);
                if (r < 0)
                        return r;
        }

        /*
         * io_pagetable.c iopt_set_allow_iova: replaces the whole list, an empty
         * one clears it; a range that meets a reserved range is EADDRINUSE
         * and keeps the old list.  Existing mappings outside the new list are
         * not checked and stay.
         */
        for (size_t i = 0; i < n; i++)
                if (sim_ioas_reserved_intersect(ioas, allowed[i].start, allowed[i].last))
                        return -EADDRINUSE;
        sim_free(ioas->allowed);
        ioas->allowed = TAKE_PTR(allowed);
        ioas->n_allowed = n;
        return 0;
}

/**
 * sim_map_begin() - the start map_user and map_file share.
 * @ctx: the context
 * @ioas_id: the IOAS to map into
 * @length: bytes to map
 * @flags: BACKEND_MAP_*
 * @iova: the IOVA given (looked at with FIXED_IOVA, and checked anyway)
 * @file: map_file rather than map_user
 * @ret_ioas: the IOAS, set on success only
 *
 * The fail-nth hook, then the checks of ioas.c iommufd_ioas_map and
 * iommufd_ioas_map_file in their order, before the address or the fd is
 * looked at.
 *
 * Return: 0; -ENOMEM from the hook; -ENOTTY for map_file on a kernel before
 * 6.13; -EOPNOTSUPP, -EOVERFLOW, -EINVAL for the arguments; -ENOENT for an
 * unknown IOAS.
 */
static int sim_map_begin(BackendCtx *ctx, uint32_t ioas_id, uint64_t length, uint32_t flags,
                         const uint64_t *iova, bool file, SimIoas **ret_ioas) {
        SimCtx *c = sim_ctx(ctx);
        int r;

        assert(c && iova);

        r = sim_fault();
        if (r < 0)
                return r;

        /* A kernel before 6.13 has no IOMMU_IOAS_MAP_FILE ioctl: ENOTTY. */
        if (file && sim_backend(c->ctx.backend)->no_map_file)
                return -ENOTTY;

        /* iommufd_ioas_map and iommufd_ioas_map_file: EOPNOTSUPP, EOVERFLOW, EINVAL, in that order. */
        r = sim_check_map_args(flags, *iova, length);
        if (r < 0)
                return r;
        /* Both: an unknown IOAS is ENOENT, before the address or the fd is looked at. */
        return sim_ioas_get(c, ioas_id, ret_ioas);
}

/* Maps length bytes from addr, a user VA or a file offset, as one new area (sim_map_pieces()). */
static int sim_map_one(SimIoas *ioas, uint64_t addr, SimSource source, uint64_t length, uint32_t flags,
                       uint64_t *iova) {
        const SimPiece piece = {
                .length = length,
                .addr = addr,
                .source = source,
                .pages_writable = flags & BACKEND_MAP_WRITEABLE,
        };

        return sim_map_pieces(ioas, &piece, 1, length, flags, iova);
}

int sim_map_user(BackendCtx *ctx, uint32_t ioas_id, void *va, uint64_t length, uint32_t flags,
                 uint64_t *iova) {
        uint64_t uptr = (uint64_t) (uintptr_t) va, end;
        SimIoas *ioas;
        int r;

        r = sim_map_begin(ctx, ioas_id, length, flags, iova, /* file= */ false, &ioas);
        if (r < 0)
                return r;
        /* pages.c iopt_alloc_user_pages: va + length past 2^64 is EOVERFLOW (not va + length - 1). */
        if (__builtin_add_overflow(uptr, length, &end))
                return -EOVERFLOW;
        r = sim_check_pages_length(length);
        if (r < 0)
                return r;

        /*
         * Without a domain nothing is pinned and any VA is accepted
         * (iopt_map_user_pages); with one the kernel pins the pages and fails
         * a bad VA with EFAULT, which the sim does not model.
         */
        return sim_map_one(ioas, uptr, SIM_SOURCE_USER, length, flags, iova);
}

int sim_map_file(BackendCtx *ctx, uint32_t ioas_id, int fd, uint64_t start, uint64_t length,
                 uint32_t flags, uint64_t *iova) {
        SimIoas *ioas;
        uint64_t last;
        int r, fl;

        r = sim_map_begin(ctx, ioas_id, length, flags, iova, /* file= */ true, &ioas);
        if (r < 0)
                return r;
        /* io_pagetable.c iopt_map_file_pages: length 0 is EINVAL, start + length - 1 past 2^64 EOVERFLOW. */
        r = iova_last(start, length, &last);
        if (r < 0)
                return r;
        /* iopt_map_file_pages: fget() failing is EBADF; fget() also refuses O_PATH files. */
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_PATH))
                return -EBADF;
        /*
         * pages.c iopt_alloc_file_pages: the file's type, size, access mode
         * and seals are not checked in 7.3 (nothing is pinned without a
         * domain; with one, pinning would look at them, which the sim does
         * not model); only the length is, by iopt_alloc_pages.
         */
        r = sim_check_pages_length(length);
        if (r < 0)
                return r;

        /* The fd is not kept: the broker keeps the memfd alive itself. */
        return sim_map_one(ioas, start, SIM_SOURCE_FILE, length, flags, iova);
}

int sim_unmap(BackendCtx *ctx, uint32_t ioas_id, uint64_t iova, uint64_t length,
              uint64_t *ret_unmapped) {
        SimCtx *c = sim_ctx(ctx);
        uint64_t last, unmapped = 0;
        SimIoas *ioas;
        SimArea *a;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_unmap: the IOAS is looked up (ENOENT) before anything else. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;

        /* iommufd_ioas_unmap: iova 0, length U64_MAX unmaps everything, and succeeds when empty. */
        if (iova == 0 && length == UINT64_MAX) {
                for (a = sim_area_lower(ioas, 0); a; a = sim_area_next(a))
                        unmapped += sim_area_length(a);
                sim_areas_clear(ioas);
                if (ret_unmapped)
                        *ret_unmapped = unmapped;
                return 0;
        }

        /* iommufd_ioas_unmap: otherwise iova or length >= ULONG_MAX is EOVERFLOW. */
        if (iova >= UINT64_MAX || length >= UINT64_MAX)
                return -EOVERFLOW;
        /* io_pagetable.c iopt_unmap_iova: length 0 is EINVAL, iova + length - 1 past 2^64 EOVERFLOW. */
        r = iova_last(iova, length, &last);
        if (r < 0)
                return r;

        /*
         * io_pagetable.c iopt_unmap_iova_range: areas are removed lowest
         * first; the first one that is not wholly inside [iova, last] stops
         * the walk with ENOENT, and the areas before it stay unmapped.
         */
        for (a = sim_area_lower(ioas, iova); a && a->node.start <= last;) {
                SimArea *next = sim_area_next(a);

                if (a->node.start < iova || a->node.last > last)
                        return -ENOENT;
                unmapped += sim_area_length(a);
                sim_area_remove(ioas, a);
                a = next;
        }
        /* iommufd_ioas_unmap: nothing unmapped is ENOENT. */
        if (unmapped == 0)
                return -ENOENT;
        if (ret_unmapped)
                *ret_unmapped = unmapped;
        return 0;
}

int sim_copy(BackendCtx *ctx, uint32_t dst_ioas_id, uint32_t src_ioas_id, uint64_t src_iova,
             uint64_t length, uint32_t flags, uint64_t *dst_iova) {
        _cleanup_free_ SimPiece *pieces = NULL;
        SimCtx *c = sim_ctx(ctx);
        const SimArea *first, *a, *next;
        SimIoas *src, *dst;
        uint64_t last, cur;
        size_t j, n;
        int r;

        assert(c && dst_iova);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_copy: EOPNOTSUPP, EOVERFLOW (length, src_iova, dst_iova), EINVAL. */
        if (flags & ~SIM_MAP_FLAGS)
                return -EOPNOTSUPP;
        if (length >= UINT64_MAX || src_iova >= UINT64_MAX || *dst_iova >= UINT64_MAX)
                return -EOVERFLOW;
        if (!(flags & SIM_MAP_PROT))
                return -EINVAL;

        /* iommufd_ioas_copy: the source IOAS is looked up first (ENOENT). */
        r = sim_ioas_get(c, src_ioas_id, &src);
        if (r < 0)
                return r;

        /* io_pagetable.c iopt_get_pages: length 0 is EINVAL, src_iova + length - 1 past 2^64 EOVERFLOW. */
        r = iova_last(src_iova, length, &last);
        if (r < 0)
                return r;
        /*
         * iopt_get_pages (iopt_for_each_contig_area): [src_iova, last] must be
         * covered by areas that touch each other; it may start and end inside
         * an area.  Any gap is ENOENT.
         */
        first = sim_area_lower(src, src_iova);
        if (!first || first->node.start > src_iova)
                return -ENOENT;
        for (a = first, n = 1; a->node.last < last; a = next, n++) {
                next = sim_area_next(a);
                if (!next || next->node.start != a->node.last + 1)
                        return -ENOENT;
        }
        pieces = calloc(n, sizeof(*pieces));
        if (!pieces)
                return -ENOMEM;
        for (cur = src_iova, a = first, j = 0; j < n; a = sim_area_next(a), j++) {
                uint64_t piece_last = a->node.last < last ? a->node.last : last;

                /* iopt_get_pages: each piece keeps its area's memory (iopt_area_start_byte). */
                pieces[j] = (SimPiece) {
                        .length = piece_last - cur + 1,
                        .addr = a->addr + (cur - a->node.start),
                        .source = a->source,
                        .pages_writable = a->pages_writable,
                };
                cur = piece_last + 1;
        }

        /* iommufd_ioas_copy: the destination IOAS is looked up next (ENOENT); it may be the source. */
        r = sim_ioas_get(c, dst_ioas_id, &dst);
        if (r < 0)
                return r;

        /* io_pagetable.c iopt_map_pages: one new area per piece. */
        return sim_map_pieces(dst, pieces, n, length, flags, dst_iova);
}

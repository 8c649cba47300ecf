/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hwpt.h - hardware page tables a session allocated explicitly.
 *
 * Owns: the record of one HWPT (paging on an IOAS, possibly a nesting parent,
 * or nested on a parent with the guest's stage-1 table): its id, what it
 * hangs on, its flags, its charge and its link in the session's list, which
 * its free unlinks.  HWPTs the kernel makes by itself for an IOAS attach are
 * the kernel's and not recorded here.
 * Must never: log above debug, or call a backend other than through its
 * wrappers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "object/account.h"
#include "object/ioas.h"
#include "util/idindex.h"

typedef struct Hwpt Hwpt;
struct Hwpt {
        IdLink link;                    /* in the session's list and index (found by id) */
        BackendCtx *ctx;
        uint32_t id;
        uint32_t pt_id;                 /* the IOAS (paging) or parent HWPT (nested) */
        uint32_t flags;                 /* BACKEND_HWPT_* */
        uint32_t data_type;             /* 0: paging */
        bool enforce_snoop;             /* devices that cannot enforce coherent DMA are refused */
        Charge charge_object;
        Charge charge_hwpt;
};

/* fault_id counts with BACKEND_HWPT_FAULT_ID_VALID in flags only. */
int hwpt_new(Hwpt **ret, BackendCtx *ctx, Account *account, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
             uint32_t data_type, const void *data, size_t data_len, uint32_t fault_id, const Account **ret_over);
/* IOMMU_DESTROY, then frees the record; -EBUSY (nothing freed) while in use. */
int hwpt_destroy(Hwpt *h);
/* The record of HWPT id the kernel holds since before a restart (core/recover.c): no kernel call, charges forced. */
int hwpt_restore(Hwpt **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t pt_id, uint32_t flags,
                 uint32_t data_type, bool enforce_snoop);
/* The largest dirty bitmap the broker makes: 64 MiB, 2^29 pages (2 TiB of 4 KiB pages). */
#define HWPT_DIRTY_BITMAP_MAX (UINT64_C(64) << 20)

/* Bytes of the bitmap of length / page_size pages: whole u64 words. */
static inline uint64_t hwpt_dirty_bitmap_size(uint64_t length, uint64_t page_size) {
        return (length / page_size + 63) / 64 * 8;
}

/* IOMMU_HWPT_SET_DIRTY_TRACKING. */
int hwpt_set_dirty_tracking(Hwpt *h, bool enable);
/*
 * IOMMU_HWPT_GET_DIRTY_BITMAP into a new memfd of hwpt_dirty_bitmap_size()
 * bytes, sealed (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE) once filled: *ret_fd
 * is the caller's, *ret_dirty the number of bits set.  page_size must be a
 * power of two and the size at most HWPT_DIRTY_BITMAP_MAX (the caller checks).
 * With ioas (the IOAS of a paging HWPT), only the parts of the range that
 * mappings cover are read, each widened to whole 64-bit words of the
 * bitmap: the memfd stays a hole elsewhere, so a bitmap costs memory in
 * proportion to what the tenant has mapped (already charged), not to the
 * range it asked for.  Without (a nested HWPT) the whole range is asked.
 */
int hwpt_get_dirty_bitmap(Hwpt *h, const Ioas *ioas, uint64_t iova, uint64_t length, uint64_t page_size,
                          uint32_t flags, int *ret_fd, uint64_t *ret_dirty);
/*
 * IOMMU_HWPT_INVALIDATE of a nested HWPT's caches: *entry_num entries of
 * entry_len bytes, set to the number handled, also on failure.
 */
int hwpt_invalidate(Hwpt *h, uint32_t data_type, const void *entries, uint32_t entry_len, uint32_t *entry_num);
/* Frees the record only (unlinked, its charges released): teardown after the context closed. */
Hwpt *hwpt_free(Hwpt *h);

DEFINE_TRIVIAL_CLEANUP_FUNC(Hwpt *, hwpt_free);

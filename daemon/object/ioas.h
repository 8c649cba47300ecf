/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ioas.h - an I/O address space of one session, and its DMA mappings.
 *
 * Owns: the broker's record of one kernel IOAS: its id in the session's
 * iommufd context, the IOVA window the broker enforces on it (every map and
 * copy is checked against it here), the mappings it holds (each with its
 * charges and, on kernels without MAP_FILE, the broker's own mmap of the
 * memfd that backs it), and its link in the session's list, which its free
 * unlinks.  The kernel is the authority on what is mapped; this record
 * follows it after every successful call.
 * Must never: log above debug, check who may do what (core/ and policy/ do),
 * or call a backend other than through its wrappers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "object/account.h"
#include "util/interval.h"
#include "util/itree.h"
#include "util/list.h"

typedef struct Ioas Ioas;
typedef struct Mapping Mapping;
typedef struct MemRef MemRef;

#define IOAS_MAX_WINDOW 64

struct Ioas {
        BackendCtx *ctx;
        Account *account;
        uint32_t id;
        uint32_t serial;                /* per session, never reused: tells it from an earlier IOAS of the same id */
        ListLink link;                  /* in the session's list */
        IovaRange window[IOAS_MAX_WINDOW];      /* the broker's limit on IOVAs; n_window 0: none */
        size_t n_window;
        IovaRange allowed[IOAS_MAX_WINDOW];     /* what the kernel was asked to allow; n_allowed 0: all */
        size_t n_allowed;
        ITree maps;                     /* of Mapping.node: disjoint, by IOVA */
        bool enforce_snoop;             /* devices that cannot enforce coherent DMA are refused */
        Charge charge_object;
        Charge charge_ioas;
};

struct Mapping {
        ITreeNode node;                 /* its IOVAs [start, last], in Ioas.maps */
        MemRef **mems;                  /* broker mmaps this mapping needs alive */
        size_t n_mems;
        uint64_t offset;                /* in the memfd it came from (a restart re-creates the seal guard) */
        uint32_t flags;                 /* BACKEND_MAP_* */
        uint32_t mem;                   /* the registration it came from (the caller sets it); 0: none */
        Charge charge_bytes;
        Charge charge_count;
};

/*
 * The record of IOAS id that the kernel holds in ctx since before a restart
 * of the broker (core/recover.c): no kernel call; its charges taken whatever
 * the limits say now (it exists).
 */
int ioas_restore(Ioas **ret, BackendCtx *ctx, Account *account, uint32_t id);
/*
 * The record of a mapping the kernel holds since before a restart, charged
 * like the IOAS.  memfd (-1: none) re-creates its seal guard (a writable
 * mapping on the MAP_FILE path), shared_guard as for ioas_map().
 */
int ioas_restore_mapping(Ioas *ioas, uint64_t iova, uint64_t length, uint32_t flags, uint32_t mem,
                         uint64_t offset, int memfd, MemRef **shared_guard);
/*
 * Forgets the records of the mappings that lie inside [iova, last] (no
 * kernel call: recovery applies an unmap the kernel did); *ret_bytes: theirs.
 */
void ioas_forget_mappings(Ioas *ioas, uint64_t iova, uint64_t last, uint64_t *ret_bytes);
/* The mapping that starts at iova, or NULL. */
Mapping *ioas_mapping_at(Ioas *ioas, uint64_t iova);

/* Allocates an IOAS in ctx.  *ret_over names the account whose limit a -EDQUOT passed. */
int ioas_new(Ioas **ret, BackendCtx *ctx, Account *account, const Account **ret_over);
/*
 * Sets the broker's IOVA window: the kernel is told to keep its IOVA
 * allocations inside it (IOMMU_IOAS_ALLOW_IOVAS) and ioas_window_allows()
 * refuses what lies outside.  Sorted, disjoint ranges.
 */
int ioas_set_window(Ioas *ioas, const IovaRange *window, size_t n_window);
/* Tells the kernel which IOVAs it may allocate (inside the window); n 0: the whole window. */
int ioas_allow_iovas(Ioas *ioas, const IovaRange *ranges, size_t n);
/*
 * Runs op (an attach or a HWPT allocation that brings a device's reserved
 * regions into the IOAS) with the kernel's allowed IOVAs cleared: the kernel
 * refuses reserved regions inside allowed ranges (EADDRINUSE), and which a
 * device has is known only once it is there.  Afterwards the allowed ranges
 * are set again, cut to what the IOMMU still offers.  Fails closed: if they
 * cannot be set (-EADDRNOTAVAIL: the reserved regions leave none of them), a
 * successful op is undone with undo and that error returned.  Else returns
 * op's result.
 */
int ioas_with_reserved_regions(Ioas *ioas, int (*op)(void *userdata), void (*undo)(void *userdata), void *userdata);
/*
 * The IOVA ranges the IOMMU offers, cut to the window: fills
 * ranges[0..*n_ranges) (capacity in, count out); -EMSGSIZE if too small.
 */
int ioas_iova_ranges(Ioas *ioas, IovaRange *ranges, size_t *n_ranges, uint64_t *ret_alignment);
/* IOMMU_DESTROY, then frees the record; -EBUSY (and nothing freed) while in use. */
int ioas_destroy(Ioas *ioas);
/* Frees the record only (unlinked): for teardown after the kernel confirmed the IOAS empty or gone. */
Ioas *ioas_free(Ioas *ioas);
/*
 * Unmaps everything in the IOAS (IOMMU_IOAS_UNMAP of the whole space, which
 * the kernel allows on an empty one too) and, once the kernel confirmed it,
 * forgets every mapping; *ret_unmapped: the bytes the kernel unmapped.
 */
int ioas_unmap_all(Ioas *ioas, uint64_t *ret_unmapped);
/*
 * Frees the record of an IOAS the kernel may still hold with its mappings (a
 * context kept alive by a device fd outside the broker): the broker's mmaps
 * behind them become inaccessible reservations that are never unmapped, so
 * these addresses can never back another tenant's memory.
 */
Ioas *ioas_abandon(Ioas *ioas);

/*
 * Calls fn for each mapping that meets [iova, last], in IOVA order, with the
 * mapping's own first and last IOVA; stops at fn's first negative return,
 * which it returns.
 */
int ioas_for_each_mapping(const Ioas *ioas, uint64_t iova, uint64_t last,
                          int (*fn)(uint64_t first, uint64_t last, void *userdata), void *userdata);

/* True if [start, last] lies inside the window (or there is no window). */
bool ioas_window_contains(const Ioas *ioas, uint64_t start, uint64_t last);
/*
 * Whether a map or copy of length bytes at iova with flags (BACKEND_MAP_*)
 * fits the IOAS before the kernel is asked: a fixed IOVA range must lie
 * inside the window, -EOVERFLOW if it passes 2^64, -ERANGE outside.  (The
 * allowed IOVAs rule only what the kernel chooses.)  ioas_map() and
 * ioas_copy() check it themselves; a caller asks first only to refuse in
 * an order of its own.
 */
int ioas_check_range(const Ioas *ioas, uint32_t flags, uint64_t iova, uint64_t length);

/*
 * Maps [offset, offset + length) of memfd.  flags: BACKEND_MAP_*.  With
 * BACKEND_MAP_FIXED_IOVA *iova is the input, and the range must lie inside
 * the window before the kernel is asked: -EOVERFLOW if it passes 2^64,
 * -ERANGE outside the window.  *iova is the IOVA used.
 * Uses IOMMU_IOAS_MAP_FILE where the backend has it (a writable mapping also
 * holds a seal guard, a shared writable mmap of the file, so that F_SEAL_WRITE
 * cannot be added while writable DMA to it may exist), else an mmap of the
 * memfd in the broker and IOMMU_IOAS_MAP.  shared_guard: the guard of the
 * registration memfd belongs to, which its writable mappings share and it
 * holds a reference to (made at the first: release with
 * ioas_seal_guard_release()); NULL for an fd of the request.  An IOVA the
 * kernel chose that lies outside the window or the allowed IOVAs is
 * unmapped again: -ENOSPC.
 */
int ioas_map(Ioas *ioas, int memfd, MemRef **shared_guard, uint64_t offset, uint64_t length, uint32_t flags,
             uint64_t *iova, const Account **ret_over);
/* A registration goes: drops its reference to the guard (its mappings keep theirs); NULL after. */
void ioas_seal_guard_release(MemRef **guard);
/*
 * Unmaps whole mappings in [iova, iova + length); *ret_unmapped: bytes.  A
 * range that cuts a mapping is -ENOENT before the kernel is asked (a Copy
 * counts as one mapping here, even where the kernel made several).
 */
int ioas_unmap(Ioas *ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped);
/*
 * Copies [src_iova, src_iova + length) of src into dst, as ioas_map() for
 * *dst_iova (a fixed one is checked against dst's window first); -EOVERFLOW
 * also if the source range passes 2^64.
 */
int ioas_copy(Ioas *dst, Ioas *src, uint64_t src_iova, uint64_t length, uint32_t flags,
              uint64_t *dst_iova, const Account **ret_over);

DEFINE_TRIVIAL_CLEANUP_FUNC(Ioas *, ioas_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ioas.h - an I/O address space of one session, and its DMA mappings.
 *
 * Owns: the broker's record of one kernel IOAS: its id in the session's
 * iommufd context, the IOVA window the broker enforces on it (every map and
 * copy is checked against it here), the mappings it holds (each with its
 * charges and, on kernels without MAP_FILE, the broker's own mmap of the
 * memfd that backs it, with MAP_FILE the seal guard of a writable one), the
 * seal guards of a session's files (GuardSet), and its link in the
 * session's list, which its free unlinks.  The kernel is the authority on what is mapped; this record
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
#include "util/idindex.h"
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
        IdLink link;                    /* in the session's list and index (found by id) */
        IovaRange window[IOAS_MAX_WINDOW];      /* the broker's limit on IOVAs; n_window 0: none */
        size_t n_window;
        IovaRange allowed[IOAS_MAX_WINDOW];     /* what the kernel was asked to allow; n_allowed 0: all */
        size_t n_allowed;
        ITree maps;                     /* of Mapping.node: disjoint, by IOVA */
        uint64_t mapped_bytes;          /* what they cover together */
        bool enforce_snoop;             /* devices that cannot enforce coherent DMA are refused */
        Charge charge_object;
        Charge charge_ioas;
};

/*
 * The seal guards of one session (see mapping_guard_file()): one per file
 * it has writable mappings of on the MAP_FILE path, each with the broker's
 * own fd of the file, charged to account (ACCOUNT_FDS).  kept is told of a
 * new guard's id and fd, dropped of a guard whose last holder went (the
 * caller keeps the fd across a restart in between: core/persist.c).
 */
typedef struct GuardSet {
        ListLink guards;                /* of MemRef */
        Account *account;
        uint32_t last_id;               /* ids are never reused in a set */
        void (*kept)(uint32_t id, int fd, void *userdata);
        void (*dropped)(uint32_t id, void *userdata);
        void *userdata;
} GuardSet;

void guard_set_init(GuardSet *set, Account *account, void (*kept)(uint32_t id, int fd, void *userdata),
                    void (*dropped)(uint32_t id, void *userdata), void *userdata);
/* Lets go of the guards mappings still hold: they no longer tell the set (a session's end). */
void guard_set_fini(GuardSet *set);
/* Calls fn with the id of each guard of the set. */
void guard_set_foreach(GuardSet *set, void (*fn)(uint32_t id, void *userdata), void *userdata);
/* The guard id of the set, or NULL. */
MemRef *guard_set_find(GuardSet *set, uint32_t id);
/*
 * Recovery replays the records of a session's mappings in order, so a
 * guard's holders come and go during the replay as they did before the
 * restart, while holders that are not replayed (a registration since
 * unregistered, a mapping of an IOAS since freed) still held it then.  So
 * the restore holds each guard it makes again until guard_set_restore_done(),
 * and the guards nothing holds by then go.
 *
 * guard_set_note_id(): an id a record names, whether or not its guard comes
 * back; the set's new ids go above it (never the id of a guard an older
 * record still names).
 * guard_set_restore(): the guard id a restart found, made again from fd
 * (taken on success), its charge forced, held by the restore.  -EEXIST if
 * the set has it.
 */
void guard_set_note_id(GuardSet *set, uint32_t id);
int guard_set_restore(GuardSet *set, uint32_t id, int fd, MemRef **ret);
void guard_set_restore_done(GuardSet *set);

struct Mapping {
        ITreeNode node;                 /* its IOVAs [start, last], in Ioas.maps */
        MemRef **mems;                  /* broker mmaps this mapping needs alive: &mem_one, or an array */
        size_t n_mems;
        MemRef *mem_one;                /* the first: most mappings need one or none, and allocate nothing for it */
        uint64_t offset;                /* in the memfd it came from */
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
 * like the IOAS; *ret: it (the caller gives it its guard, below).
 */
int ioas_restore_mapping(Ioas *ioas, uint64_t iova, uint64_t length, uint32_t flags, uint32_t mem,
                         uint64_t offset, Mapping **ret);
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
/* Frees the mapping records kept for reuse (util/spares.h): at exit, after the last IOAS went. */
void ioas_spares_clear(void);
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
 * these addresses can never back another tenant's memory.  Their seal
 * guards stay mapped for good: pages are pinned only while a domain is
 * attached, and the holder of the device fd may detach, wait for the seal
 * and attach again.  The price is the file: a guard's mmap keeps the memfd's
 * memory in the broker until it exits (the teardown's log says objects were
 * left).
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
 * -ERANGE outside the window.  *iova is the IOVA used, *ret_made the
 * mapping's record (the IOAS's).
 * Uses IOMMU_IOAS_MAP_FILE where the backend has it (a writable mapping also
 * holds the file's seal guard from guards, mapping_guard_file()), else an
 * mmap of the memfd in the broker and IOMMU_IOAS_MAP.  shared_guard: the
 * guard pointer of the registration memfd belongs to (NULL for an fd of the
 * request).  An IOVA the kernel chose that lies outside the window or the
 * allowed IOVAs is unmapped again: -ENOSPC.  -EDQUOT with *ret_over also
 * when a new guard's fd would pass a limit.
 */
int ioas_map(Ioas *ioas, int memfd, GuardSet *guards, MemRef **shared_guard, uint64_t offset, uint64_t length,
             uint32_t flags, uint64_t *iova, Mapping **ret_made, const Account **ret_over);
/*
 * m holds the seal guard of memfd's file, the one of guards if the session
 * has one, else a new one (its own fd of the file, charged: -EDQUOT with
 * *ret_over; NULL ret_over: forced).  shared: as for ioas_map().
 */
int mapping_guard_file(Mapping *m, GuardSet *guards, int memfd, MemRef **shared, const Account **ret_over);
/* m holds guard (once however often asked); *shared (if not NULL and unset) gets a reference too. */
int mapping_hold_guard(Mapping *m, MemRef *guard, MemRef **shared);
/* Whether m is writable DMA that needs a seal guard (MAP_FILE path). */
bool mapping_needs_guard(const Ioas *ioas, const Mapping *m);
/* The ids of the guards m holds: the first max in ids; how many there are. */
size_t mapping_guards(const Mapping *m, uint32_t *ids, size_t max);
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pasid.h - PASIDs: the vPASID -> PASID table of a device and the host-wide allocator.
 *
 * Owns: PasidSpace, the one host-wide space of PASIDs for devices that must
 * share it (shared work queues with ENQCMD: the CPU's PASID MSR names the same
 * PASID on every such device); PasidTable, a device's table from the guest's
 * vPASIDs to the PASIDs programmed into the IOMMU, and its entries with
 * their charges.  By default a device's PASID equals the vPASID (each device
 * has its own space); a global device gets the lowest free PASID of the
 * host-wide space, never two tenants the same one.  Telling the IOMMU is the
 * device's (device.c): an entry is added to its table once the kernel
 * attached it, and freed once the kernel detached it.
 * Must never: log above debug, or call a backend.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"
#include "object/account.h"
#include "util/idindex.h"
#include "util/list.h"

#define PASID_SPACE_BITS 20

typedef struct PasidSpace {
        uint8_t *used;                  /* one byte per PASID below 2^PASID_SPACE_BITS */
        uint32_t n_used;
} PasidSpace;

typedef struct PasidEntry {
        IdLink link;                    /* in its table, found by vpasid; pasid_entry_free() unlinks it */
        uint32_t vpasid;                /* the guest's */
        uint32_t pasid;                 /* the device's */
        uint32_t pt_id;                 /* the page table it is attached to */
        PasidSpace *space;              /* the host-wide allocator it came from, or NULL */
        Charge charge;                  /* ACCOUNT_PASIDS */
} PasidEntry;

typedef struct PasidTable {
        ListLink entries;               /* PasidEntry.link, newest first */
        IdIndex index;                  /* the same by vPASID: a lookup is O(1) */
} PasidTable;

int pasid_space_init(PasidSpace *s);
void pasid_space_deinit(PasidSpace *s);

/*
 * A new entry for vpasid of a device with width bits of PASID, not yet in t:
 * EINVAL for PASID 0 (the device itself), ERANGE beyond the width, EEXIST if
 * t has vpasid already, EDQUOT past the PASID limit (*ret_over names the
 * account).  Its PASID is the lowest free one of global (ENOSPC when the
 * space is full) or, global NULL, the vPASID itself.
 */
int pasid_entry_new(PasidEntry **ret, const PasidTable *t, PasidSpace *global, uint8_t width, uint32_t vpasid,
                    uint32_t pt_id, Account *account, const Account **ret_over);
/* Unlinks the entry, returns a global PASID and the charge. */
PasidEntry *pasid_entry_free(PasidEntry *p);

/* Adds an entry pasid_entry_new() made, once the kernel attached it. */
void pasid_table_add(PasidTable *t, PasidEntry *p);
/* The PASID pasid_entry_new() would take from s next; 0 if none is free. */
uint32_t pasid_space_lowest_free(const PasidSpace *s);
/*
 * The entry of a PASID the kernel has attached since before a restart
 * (core/recover.c): global (may be NULL) gets pasid back as taken; -EBUSY if
 * it is taken already.  The charge is forced.
 */
int pasid_entry_restore(PasidEntry **ret, PasidSpace *global, uint32_t vpasid, uint32_t pasid, uint32_t pt_id,
                        Account *account);
PasidEntry *pasid_table_lookup(const PasidTable *t, uint32_t vpasid);
static inline bool pasid_table_is_empty(const PasidTable *t) {
        return list_is_empty(&t->entries);
}
/* Frees every entry and the index (what the kernel still has is the caller's to know). */
void pasid_table_clear(PasidTable *t);

DEFINE_TRIVIAL_CLEANUP_FUNC(PasidEntry *, pasid_entry_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pasid.h - PASIDs: the vPASID -> PASID table of a device and the host-wide allocator.
 *
 * Owns: PasidSpace, the one host-wide space of PASIDs for devices that must
 * share it (shared work queues with ENQCMD: the CPU's PASID MSR names the same
 * PASID on every such device), and a device's table from the guest's vPASIDs
 * to the PASIDs programmed into the IOMMU.  By default a device's PASID equals
 * the vPASID (each device has its own space); a global device gets the lowest
 * free PASID of the host-wide space, never two tenants the same one.
 * Must never: log above debug.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "object/account.h"
#include "object/device.h"

#define PASID_SPACE_BITS 20

struct PasidSpace {
        uint8_t *used;                  /* one byte per PASID below 2^PASID_SPACE_BITS */
        uint32_t n_used;
};

int pasid_space_init(PasidSpace *s);
void pasid_space_deinit(PasidSpace *s);

/*
 * Attaches vpasid of d to pt_id: EINVAL for PASID 0 (the device itself),
 * ERANGE beyond the device's PASID width, EEXIST if vpasid is attached already
 * (use pasid_replace), ENOSPC when the host-wide space is full.
 */
int pasid_attach(Device *d, PasidSpace *global, uint32_t vpasid, uint32_t pt_id, Account *account,
                 uint32_t *ret_pasid, const Account **ret_over);
/* Moves an attached vpasid to another page table without a gap; ENOENT if not attached. */
int pasid_replace(Device *d, uint32_t vpasid, uint32_t pt_id);
int pasid_detach(Device *d, uint32_t vpasid);
PasidEntry *pasid_lookup(Device *d, uint32_t vpasid);
/* Frees an entry already detached from the IOMMU: returns a global PASID and the charge. */
void pasid_entry_free(PasidEntry *p);

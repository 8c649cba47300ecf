/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * device.h - devices: the host-wide table and a session's open devices.
 *
 * Owns: DeviceTable, the broker's inventory of devices (refreshed from the
 * backend) with the one rule that matters host-wide: a device is open in at
 * most one session at a time; Device, one device open in one session (its
 * VFIO fd bound to the session's iommufd, what it is attached to, its PASID
 * table, its charge).
 * Must never: log above debug, or decide who may open what (policy/ does).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "object/account.h"

typedef struct DeviceSlot {
        BackendDeviceInfo info;
        uint64_t owner;                 /* session id that has it open; 0: free */
} DeviceSlot;

typedef struct DeviceTable {
        DeviceSlot *slots;
        size_t n_slots;
} DeviceTable;

/* Rescans the backend's devices, keeping owners of those still there. */
int device_table_refresh(DeviceTable *t, Backend *b);
DeviceSlot *device_table_find(DeviceTable *t, const char *name);
void device_table_clear(DeviceTable *t);

typedef struct PasidSpace PasidSpace;
typedef struct PasidEntry PasidEntry;
struct PasidEntry {
        PasidEntry *next;
        uint32_t vpasid;                /* the guest's */
        uint32_t pasid;                 /* the device's */
        uint32_t pt_id;
        PasidSpace *space;              /* the host-wide allocator it came from, or NULL */
        Charge charge;
};

typedef struct Device Device;
struct Device {
        Device *next;                   /* in the session's list */
        BackendCtx *ctx;
        DeviceTable *table;
        char name[32];
        uint64_t session;               /* owner in the table */
        int fd;                         /* the broker's copy of the bound device fd */
        uint32_t dev_id;
        uint32_t pt_id;                 /* attached to (0: nothing) */
        uint32_t hwpt_id;               /* the HWPT in use while attached */
        BackendHwInfo hw;
        uint8_t pasid_width;
        bool global_pasid;              /* its PASIDs come from the host-wide space */
        PasidEntry *pasids;
        Charge charge_object;
};

/*
 * Claims the device for session (-EBUSY if another session has it), opens it
 * and binds it to ctx, reads its IOMMU's hardware info.
 */
int device_open(Device **ret, DeviceTable *t, BackendCtx *ctx, Account *account, uint64_t session,
                const char *name, const Account **ret_over);
/* Detaches, unbinds, closes the broker's fd and frees the claim. */
Device *device_free(Device *d);

int device_attach(Device *d, uint32_t pt_id);
int device_detach(Device *d);

/* True if the device's IOMMU can enforce cache-coherent DMA (VT-d snoop control). */
bool device_enforces_snoop(const Device *d);
/* True if the IOMMU reports nesting support for it (VT-d ecap NEST). */
bool device_nesting(const Device *d);

DEFINE_TRIVIAL_CLEANUP_FUNC(Device *, device_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * device.h - devices: the host-wide table and a session's open devices.
 *
 * Owns: DeviceTable, the broker's inventory of devices (refreshed from the
 * backend) with the one rule that matters host-wide: a device is open in at
 * most one session at a time; Device, one device open in one session (its
 * VFIO fd bound to the session's iommufd, what it and each of its PASIDs are
 * attached to, its charges, its link in the session's list, which its free
 * unlinks).  The PASID table itself is pasid.h's; telling the IOMMU about
 * its entries is done here.
 * Must never: log above debug, decide who may open what (policy/ does), or
 * call a backend other than through its wrappers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "object/account.h"
#include "object/pasid.h"
#include "util/idindex.h"

/*
 * A device is free, open in one session (owner), delegated to one process
 * (core/delegation.c: its unbound cdev fd went to a VMM), or quarantined: the broker
 * let go of it (its session ended, or closed it), but a copy of the bound
 * fd it handed out is still open outside the broker, so the kernel keeps it
 * bound to the old, emptied context and nobody can bind it.  It is free
 * again once a probe bind succeeds, which is tried at every DeviceList,
 * DeviceOpen and admin listing.
 */
typedef struct DeviceSlot {
        BackendDeviceInfo info;
        uint64_t owner;                 /* session id that has it open; 0: not open */
        pid_t held_by;                  /* quarantined: the pid its fd went to; 0: not quarantined */
        uid_t held_uid;
        uint64_t held_session;          /* the session that received the fd */
        uint64_t delegation;            /* handed out by DeviceDelegate (core/delegation.c); 0: not */
        /*
         * Quarantined, but maybe only by the service manager's copy of the
         * broker's own fd, which it closes when it reads FDSTOREREMOVE: not
         * reported until a probe after that still finds it bound.
         */
        bool store_pending;
        /*
         * A probe of it waits off the loop (device_table_probe()): no second
         * one starts meanwhile, which could bind it after the first freed it
         * and a session opened it.  A rescan keeps the mark (it copies slots).
         */
        bool probing;
        /*
         * Quarantined because the probe itself failed (-errno, never -EBUSY:
         * the broker out of fds or memory), not because a bound copy was
         * found: nobody is known to hold it; 0 otherwise.
         */
        int probe_error;
        pid_t delegated_to;             /* the process it went to */
        uid_t delegated_uid;
} DeviceSlot;

typedef struct DeviceTable {
        DeviceSlot *slots;
        size_t n_slots;
} DeviceTable;

/*
 * Rescans the backend's devices, keeping owners and quarantines of those
 * still there, in a new array of slots: a DeviceSlot pointer does not
 * survive a call that may wait off the loop (a bind, a probe: util/offload.h),
 * since another session's listing may rescan meanwhile; find it again by
 * name after one.
 */
int device_table_refresh(DeviceTable *t, Backend *b);
/*
 * Probes every quarantined device: one the kernel lets bind again is free.
 * released (may be NULL) is called for each, before its hold is cleared.
 * Returns how many were released.
 */
size_t device_table_probe(DeviceTable *t, Backend *b, void (*released)(const DeviceSlot *slot, void *userdata),
                          void *userdata);
DeviceSlot *device_table_find(DeviceTable *t, const char *name);
void device_table_clear(DeviceTable *t);

typedef struct Device Device;
struct Device {
        IdLink link;                    /* in the session's list and index (found by id) */
        BackendCtx *ctx;
        DeviceTable *table;
        char name[32];
        uint64_t session;               /* owner in the table */
        pid_t peer_pid;                 /* the process the fd is handed to */
        uid_t peer_uid;
        int fd;                         /* the broker's copy of the bound device fd */
        uint32_t dev_id;
        uint32_t pt_id;                 /* attached to (0: nothing) */
        uint32_t hwpt_id;               /* the HWPT in use while attached */
        BackendHwInfo hw;
        uint8_t pasid_width;
        bool global_pasid;              /* its PASIDs come from the host-wide space */
        PasidTable pasids;              /* the PASIDs attached through the broker */
        Charge charge_object;
        Charge charge_fd;               /* ACCOUNT_FDS: the broker's copy of its fd */
};

/*
 * Claims the device for session (-EBUSY if another session has it open or it
 * is quarantined), opens it and binds it to ctx, reads its IOMMU's hardware
 * info.  pid and uid: the peer that will receive the fd.
 */
int device_open(Device **ret, DeviceTable *t, BackendCtx *ctx, Account *account, uint64_t session, pid_t pid,
                uid_t uid, const char *name, const Account **ret_over);
/*
 * Unlinks it, detaches its PASIDs and itself through the broker's fd, closes
 * that fd and gives up the claim.  If the kernel keeps the device bound (the
 * client still holds its copy of the fd), the slot is quarantined, held by
 * the peer's pid (device_slot_quarantined() tells).
 */
Device *device_free(Device *d);
/* Whether the slot of a device that was let go is quarantined. */
bool device_slot_quarantined(const DeviceSlot *slot);
/* Whether nobody has it: not open in a session, not quarantined, not delegated. */
bool device_slot_idle(const DeviceSlot *slot);
/* Opens the device's cdev unbound, for the VMM it is delegated to (which binds it); *ret_fd is the caller's. */
int device_slot_open_unbound(const DeviceSlot *slot, Backend *b, int *ret_fd);
/* Marks an idle slot delegated to pid (of uid) by delegation id; unmarks it (id 0) without a probe. */
void device_slot_set_delegation(DeviceSlot *slot, uint64_t id, pid_t pid, uid_t uid);
/*
 * Ends the slot's delegation, given probe, the answer of a probe of its
 * device made after the process exited (backend_device_probe(), which the
 * caller makes with the delegation still on the slot, so that no DeviceOpen
 * binds it meanwhile): the device is free again, or quarantined, held by the
 * pid it was delegated to, if the bind failed (a copy of its fd outlived
 * that process; or the probe could not run: probe_error).  True if
 * quarantined.
 */
bool device_slot_end_delegation(DeviceSlot *slot, int probe);

/*
 * The record of a device bound in ctx since before a restart of the broker
 * (core/recover.c): takes fd (the bound device fd, from the fd store),
 * claims its slot for session, reads its hardware info; attached to pt_id
 * with hwpt_id as the kernel has it (0: not attached).  Charges are forced.
 * -ENODEV for a device the broker no longer lists, -EBUSY for a claimed slot.
 */
int device_restore(Device **ret, DeviceTable *t, BackendCtx *ctx, Account *account, uint64_t session, pid_t pid,
                   uid_t uid, const char *name, int fd, uint32_t dev_id, uint32_t pt_id, uint32_t hwpt_id);
int device_attach(Device *d, uint32_t pt_id);
int device_detach(Device *d);
/*
 * Detaches every PASID and the device itself through the broker's fd (what
 * a client's own attach on its copy of the fd made is undone too: the kernel
 * knows one attachment per PASID).  Returns 0 or the first error; what could
 * not be detached stays on record.
 */
int device_detach_all(Device *d);

/*
 * Attaches vpasid of d to pt_id and records it in d's table (see
 * pasid_entry_new() for the errnos before the kernel is asked); global is
 * the host-wide space, used if d->global_pasid.  chosen (may be NULL) is
 * told the PASID before the kernel is asked: the call may wait off the
 * loop, and a restart meanwhile must know which one to take back.
 * *ret_pasid: the PASID.
 */
int device_attach_pasid(Device *d, PasidSpace *global, uint32_t vpasid, uint32_t pt_id,
                        void (*chosen)(uint32_t pasid, void *userdata), void *userdata, Account *account,
                        uint32_t *ret_pasid, const Account **ret_over);
/* Moves an attached vpasid to another page table without a gap; ENOENT if not attached. */
int device_replace_pasid(Device *d, uint32_t vpasid, uint32_t pt_id);
/* Detaches vpasid and forgets it; ENOENT if not attached. */
int device_detach_pasid(Device *d, uint32_t vpasid);

/* True if the device's IOMMU can enforce cache-coherent DMA (VT-d snoop control). */
bool device_enforces_snoop(const Device *d);
/* True if the IOMMU reports nesting support for it (VT-d ecap NEST). */
bool device_nesting(const Device *d);

DEFINE_TRIVIAL_CLEANUP_FUNC(Device *, device_free);

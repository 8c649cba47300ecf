/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * device.c - see device.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "object/device.h"

/* struct iommu_hw_info_vtd: u32 flags, u32 reserved, u64 cap_reg, u64 ecap_reg. */
#define VTD_ECAP_OFFSET 16
#define VTD_ECAP_SC (1ULL << 7)         /* snoop control */
#define VTD_ECAP_NEST (1ULL << 26)      /* nested translation */

/*
 * The kernel's iommufd test driver (CONFIG_IOMMUFD_TEST; the kernel backend's
 * mock devices, tests only) reports IOMMU_HW_INFO_TYPE_SELFTEST.  Its mock
 * IOMMU always nests (its own nested data type); it cannot enforce snoop.
 */
#define HW_INFO_TYPE_SELFTEST 0xfeedbeefU

int device_table_refresh(DeviceTable *t, Backend *b) {
        BackendDeviceInfo *list = NULL;
        DeviceSlot *slots;
        size_t n = 0;
        int r;

        r = backend_device_list(b, &list, &n);
        if (r < 0)
                return r;
        slots = calloc(n ? n : 1, sizeof(*slots));
        if (!slots) {
                free(list);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                DeviceSlot *old = device_table_find(t, list[i].name);

                slots[i] = old ? *old : (DeviceSlot) {};
                slots[i].info = list[i];
        }
        /* A device that vanished while open, delegated or quarantined stays listed until it is let go. */
        for (size_t i = 0; i < t->n_slots; i++) {
                bool found = false;

                for (size_t j = 0; j < n && !found; j++)
                        found = strcmp(t->slots[i].info.name, list[j].name) == 0;
                if (!found && !device_slot_idle(&t->slots[i])) {
                        DeviceSlot *a = reallocarray(slots, n + 1, sizeof(*a));

                        if (!a) {
                                free(slots);
                                free(list);
                                return -ENOMEM;
                        }
                        slots = a;
                        slots[n++] = t->slots[i];
                }
        }
        free(list);
        free(t->slots);
        t->slots = slots;
        t->n_slots = n;
        return 0;
}

bool device_slot_quarantined(const DeviceSlot *slot) {
        return slot->held_by != 0;
}

bool device_slot_idle(const DeviceSlot *slot) {
        return slot->owner == 0 && slot->held_by == 0 && slot->delegation == 0;
}

int device_slot_open_unbound(const DeviceSlot *slot, Backend *b, int *ret_fd) {
        return backend_delegate_device(b, &slot->info, ret_fd);
}

void device_slot_set_delegation(DeviceSlot *slot, uint64_t id, pid_t pid, uid_t uid) {
        slot->delegation = id;
        slot->delegated_to = id ? pid : 0;
        slot->delegated_uid = id ? uid : 0;
}

bool device_slot_end_delegation(DeviceSlot *slot, int probe) {
        pid_t pid = slot->delegated_to;
        uid_t uid = slot->delegated_uid;

        device_slot_set_delegation(slot, 0, 0, 0);
        /* the process is gone: a bind that failed is a copy of the fd it passed on */
        if (probe >= 0)
                return false;
        slot->held_by = pid;
        slot->held_uid = uid;
        slot->held_session = 0;
        slot->probe_error = probe == -EBUSY ? 0 : probe;
        return true;
}

static void slot_release(DeviceSlot *slot) {
        slot->held_by = 0;
        slot->held_uid = 0;
        slot->held_session = 0;
        slot->probe_error = 0;
}

size_t device_table_probe(DeviceTable *t, Backend *b, void (*released)(const DeviceSlot *slot, void *userdata),
                          void *userdata) {
        size_t n = 0;

        for (size_t i = 0; i < t->n_slots; i++) {
                DeviceSlot *slot = &t->slots[i];
                BackendDeviceInfo info = slot->info;
                int r;

                if (!device_slot_quarantined(slot) || slot->probing)
                        continue;
                slot->probing = true;
                r = backend_device_probe(b, &info);
                /* the probe may have waited (in a DeviceOpen): a rescan meanwhile made a new table */
                slot = device_table_find(t, info.name);
                if (!slot)
                        continue;
                slot->probing = false;
                if (r < 0 && device_slot_quarantined(slot))
                        slot->probe_error = r == -EBUSY ? 0 : r;       /* held, or still not known */
                if (r < 0 || !device_slot_quarantined(slot))
                        continue;
                if (released)
                        released(slot, userdata);
                slot_release(slot);
                n++;
        }
        return n;
}

DeviceSlot *device_table_find(DeviceTable *t, const char *name) {
        for (size_t i = 0; i < t->n_slots; i++)
                if (strcmp(t->slots[i].info.name, name) == 0)
                        return &t->slots[i];
        return NULL;
}

void device_table_clear(DeviceTable *t) {
        free(t->slots);
        t->slots = NULL;
        t->n_slots = 0;
}

static uint64_t vtd_ecap(const Device *d) {
        uint64_t ecap;

        if (d->hw.type != 1 || d->hw.data_len < VTD_ECAP_OFFSET + sizeof(ecap))
                return 0;
        memcpy(&ecap, d->hw.data + VTD_ECAP_OFFSET, sizeof(ecap));
        return ecap;
}

bool device_enforces_snoop(const Device *d) {
        return (vtd_ecap(d) & VTD_ECAP_SC) != 0;
}

bool device_nesting(const Device *d) {
        if (d->hw.type == HW_INFO_TYPE_SELFTEST)
                return true;
        return (vtd_ecap(d) & VTD_ECAP_NEST) != 0;
}

/* A record for the idle device name, claimed by nobody yet: -ENODEV, -EBUSY. */
static int device_alloc(Device **ret, DeviceSlot **ret_slot, DeviceTable *t, BackendCtx *ctx, uint64_t session,
                        pid_t pid, uid_t uid, const char *name) {
        DeviceSlot *slot;
        Device *d;

        slot = device_table_find(t, name);
        if (!slot)
                return -ENODEV;
        if (!device_slot_idle(slot))
                return -EBUSY;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->fd = -1;
        d->ctx = ctx;
        d->table = t;
        d->session = session;
        d->peer_pid = pid;
        d->peer_uid = uid;
        memcpy(d->name, slot->info.name, sizeof(d->name));
        d->pasid_width = slot->info.pasid_width;
        *ret = d;
        *ret_slot = slot;
        return 0;
}

/* The device is bound in its context as d->dev_id: the claim, and its IOMMU's hardware info. */
static int device_claim(Device *d, DeviceSlot *slot) {
        int r;

        slot->owner = d->session;
        r = backend_hw_info(d->ctx, d->dev_id, &d->hw);
        if (r < 0)
                return r;
        if (d->hw.max_pasid_log2 > 0 && d->hw.max_pasid_log2 < d->pasid_width)
                d->pasid_width = d->hw.max_pasid_log2;
        return 0;
}

/* What an open device costs: its record and the broker's fd of it; made (against the limits) or restored. */
static int device_charge(Device *d, Account *account, bool restored, const Account **ret_over) {
        int r = charge_hold(&d->charge_object, account, ACCOUNT_OBJECTS, 1, restored, ret_over);

        if (r < 0)
                return r;
        return charge_hold(&d->charge_fd, account, ACCOUNT_FDS, 1, restored, ret_over);
}

int device_open(Device **ret, DeviceTable *t, BackendCtx *ctx, Account *account, uint64_t session, pid_t pid,
                uid_t uid, const char *name, const Account **ret_over) {
        _cleanup_(device_freep) Device *d = NULL;
        DeviceSlot *slot;
        int r;

        r = device_alloc(&d, &slot, t, ctx, session, pid, uid, name);
        if (r < 0)
                return r;
        /* taken now: the bind may wait off the loop (util/offload.h); device_free() gives it back */
        slot->owner = d->session;
        r = device_charge(d, account, false, ret_over);
        if (r < 0)
                return r;
        r = backend_device_bind(ctx, &slot->info, &d->fd, &d->dev_id);
        if (r < 0)
                return r;
        /* the bind may have waited: a rescan meanwhile made a new table (it keeps the slot, taken) */
        slot = device_table_find(t, d->name);
        if (!slot)
                return -ENODEV;
        r = device_claim(d, slot);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

int device_restore(Device **ret, DeviceTable *t, BackendCtx *ctx, Account *account, uint64_t session, pid_t pid,
                   uid_t uid, const char *name, int fd, uint32_t dev_id, uint32_t pt_id, uint32_t hwpt_id) {
        _cleanup_close_ int dfd = fd;
        _cleanup_(device_freep) Device *d = NULL;
        DeviceSlot *slot;
        int r;

        r = device_alloc(&d, &slot, t, ctx, session, pid, uid, name);
        if (r < 0)
                return r;
        (void) device_charge(d, account, true, NULL);
        d->fd = TAKE_FD(dfd);
        d->dev_id = dev_id;
        r = device_claim(d, slot);
        if (r < 0)
                return r;
        d->pt_id = pt_id;
        d->hwpt_id = hwpt_id;
        *ret = TAKE_PTR(d);
        return 0;
}

int device_detach_all(Device *d) {
        PasidEntry *p;
        int r = 0, q;

        LIST_FOREACH_SAFE(p, &d->pasids.entries, link) {
                /* an entry whose detach failed stays: the kernel still has it, a later round retries */
                q = backend_device_detach(d->ctx, d->fd, d->dev_id, p->pasid);
                if (q < 0 && q != -ENOENT) {
                        if (r == 0)
                                r = q;
                        continue;
                }
                pasid_entry_free(p);
        }
        if (d->pt_id) {
                q = device_detach(d);
                if (q < 0 && r == 0)
                        r = q;
        }
        return r;
}

Device *device_free(Device *d) {
        DeviceSlot *slot;
        bool bound = false;

        if (!d)
                return NULL;
        idlink_unlink(&d->link);
        if (d->fd >= 0) {
                (void) device_detach_all(d);
                (void) backend_device_unbind(d->ctx, d->fd, d->dev_id);
                (void) backend_device_close(d->ctx, d->fd);
                d->fd = -1;
                bound = true;
        }
        slot = device_table_find(d->table, d->name);
        if (slot && slot->owner == d->session) {
                /*
                 * The kernel unbinds at the last close: a copy outside the broker
                 * keeps it bound.  Fail closed: free only if a probe bind succeeds.
                 * The slot stays taken meanwhile (the probe may wait off the loop).
                 */
                int probe = bound ? backend_device_probe(d->ctx->backend, &slot->info) : 0;

                /* the probe may have waited: a rescan meanwhile made a new table (it keeps the slot, taken) */
                slot = device_table_find(d->table, d->name);
                if (slot && probe < 0) {
                        slot->held_by = d->peer_pid > 0 ? d->peer_pid : -1;
                        slot->held_uid = d->peer_uid;
                        slot->held_session = d->session;
                        slot->probe_error = probe == -EBUSY ? 0 : probe;
                }
                if (slot)
                        slot->owner = 0;
        }
        pasid_table_clear(&d->pasids);
        charge_release(&d->charge_object);
        charge_release(&d->charge_fd);
        free(d);
        return NULL;
}

int device_attach(Device *d, uint32_t pt_id) {
        uint32_t hwpt = 0;
        int r;

        r = backend_device_attach(d->ctx, d->fd, d->dev_id, BACKEND_NO_PASID, pt_id, &hwpt);
        if (r < 0)
                return r;
        d->pt_id = pt_id;
        d->hwpt_id = hwpt;
        return 0;
}

int device_detach(Device *d) {
        int r;

        r = backend_device_detach(d->ctx, d->fd, d->dev_id, BACKEND_NO_PASID);
        if (r < 0)
                return r;
        d->pt_id = 0;
        d->hwpt_id = 0;
        return 0;
}

int device_attach_pasid(Device *d, PasidSpace *global, uint32_t vpasid, uint32_t pt_id,
                        void (*chosen)(uint32_t pasid, void *userdata), void *userdata, Account *account,
                        uint32_t *ret_pasid, const Account **ret_over) {
        _cleanup_(pasid_entry_freep) PasidEntry *p = NULL;
        uint32_t hwpt = 0;
        int r;

        r = pasid_entry_new(&p, &d->pasids, d->global_pasid ? global : NULL, d->pasid_width, vpasid, pt_id, account,
                            ret_over);
        if (r < 0)
                return r;
        if (chosen)
                chosen(p->pasid, userdata);
        r = backend_device_attach(d->ctx, d->fd, d->dev_id, p->pasid, pt_id, &hwpt);
        if (r < 0)
                return r;
        *ret_pasid = p->pasid;
        pasid_table_add(&d->pasids, TAKE_PTR(p));
        return 0;
}

int device_replace_pasid(Device *d, uint32_t vpasid, uint32_t pt_id) {
        PasidEntry *p = pasid_table_lookup(&d->pasids, vpasid);
        uint32_t hwpt = 0;
        int r;

        if (!p)
                return -ENOENT;
        r = backend_device_attach(d->ctx, d->fd, d->dev_id, p->pasid, pt_id, &hwpt);
        if (r < 0)
                return r;
        p->pt_id = pt_id;
        return 0;
}

int device_detach_pasid(Device *d, uint32_t vpasid) {
        PasidEntry *p = pasid_table_lookup(&d->pasids, vpasid);
        int r;

        if (!p)
                return -ENOENT;
        r = backend_device_detach(d->ctx, d->fd, d->dev_id, p->pasid);
        if (r < 0)
                return r;
        pasid_entry_free(p);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-device.c - DeviceList, DeviceOpen, DeviceAttach, DeviceDetach, DeviceClose, HwInfo.
 *
 * Owns: handing a bound device fd to the client, the host-wide rule that a
 * device is open in one session at a time, the coherency promise of an IOAS
 * or HWPT allocated with enforce_snoop, and the sentences that explain the
 * kernel's errnos for these verbs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/persist.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "policy/audit.h"
#include "policy/peer.h"
#include "core/verbs.h"

Device *call_find_device(Call *c, uint32_t dev_id, int *ret) {
        Device *d = session_find(c->session, Device, dev_id);

        if (!d)
                *ret = call_fail(c, ENOENT, "no open device %" PRIu32 " in this session", dev_id);
        return d;
}

int call_fail_device_busy(Call *c, const DeviceSlot *slot) {
        const Session *s = c->session;
        const char *name = slot->info.name;

        if (slot->owner != 0)
                return call_fail(c, EBUSY, "device '%s' is open in another session", name);
        if (slot->delegation && slot->probing)
                return call_fail(c, EBUSY, "device '%s' was delegated to a VMM that exited (delegation %" PRIu64
                                 "); the broker is checking whether a copy of its fd is still bound: try again "
                                 "shortly", name, slot->delegation);
        /* a pid only to the uid it went to, as DeviceList tells it */
        if (slot->delegation && slot->delegated_uid == s->cred.uid)
                return call_fail(c, EBUSY, "device '%s' is delegated to a VMM (delegation %" PRIu64 ", pid %d); it "
                                 "is free once that process exits", name, slot->delegation, (int) slot->delegated_to);
        if (slot->delegation)
                return call_fail(c, EBUSY, "device '%s' is delegated to a VMM of another user (delegation %" PRIu64
                                 "); it is free once that process exits", name, slot->delegation);
        if (device_slot_quarantined(slot) && slot->probe_error)
                return call_fail(c, EBUSY, "device '%s' is kept out: the broker could not check it after its last "
                                 "release (%s); it is checked again shortly", name, strerror(-slot->probe_error));
        if (device_slot_quarantined(slot) && slot->held_uid != s->cred.uid)
                return call_fail(c, EBUSY, "device '%s' is quarantined: a process of another user still holds "
                                 "an fd of it; it is free once that closes", name);
        if (device_slot_quarantined(slot) && slot->held_session == 0)
                return call_fail(c, EBUSY, "device '%s' is quarantined: the fd of its delegation is still held "
                                 "by pid %d (or a process it passed it to); it is free once that closes", name,
                                 (int) slot->held_by);
        if (device_slot_quarantined(slot))
                return call_fail(c, EBUSY, "device '%s' is quarantined: the fd it had in session %" PRIu64
                                 " is still held by pid %d (or a process it passed it to); it is free once that closes",
                                 name, slot->held_session, (int) slot->held_by);
        return 0;
}

int verb_device_list(Call *c) {
        Session *s = c->session;
        DeviceTable *t = &s->host->devices;
        Ib__V1__DeviceListReply *reply;
        Ib__V1__DeviceInfo **list, *infos;
        int r;

        r = session_host_refresh_devices(s->host);
        if (r < 0)
                return call_fail(c, r, "cannot list devices: %s", strerror(-r));
        reply = call_alloc(c, sizeof(*reply));
        list = call_alloc(c, sizeof(*list) * (t->n_slots ? t->n_slots : 1));
        infos = call_alloc(c, sizeof(*infos) * (t->n_slots ? t->n_slots : 1));
        if (!reply || !list || !infos)
                return -ENOMEM;
        ib__v1__device_list_reply__init(reply);
        reply->n_devices = 0;
        for (size_t i = 0; i < t->n_slots; i++) {
                const DeviceSlot *slot = &t->slots[i];
                Ib__V1__DeviceInfo *info = &infos[reply->n_devices];

                /* what this session may use, nothing else */
                if (!tenancy_may_open_device(s->tenant, slot->info.name, slot->info.iommu_group))
                        continue;
                ib__v1__device_info__init(info);
                info->name = (char *) slot->info.name;
                info->vendor_id = slot->info.vendor_id;
                info->device_id = slot->info.device_id;
                info->has_iommu_group = slot->info.iommu_group >= 0;
                info->iommu_group = slot->info.iommu_group;
                info->pasid_width = slot->info.pasid_width;
                info->open_here = slot->owner == s->id;
                info->in_use = slot->owner != 0 || slot->delegation != 0;
                if (slot->delegation) {
                        info->has_delegated = info->delegated = true;
                        info->has_delegated_to_pid = slot->delegated_uid == s->cred.uid;
                        info->delegated_to_pid = info->has_delegated_to_pid ? slot->delegated_to : 0;
                }
                if (device_slot_quarantined(slot)) {
                        info->has_quarantined = info->quarantined = true;
                        /* the pid only to the uid it went to, and only where a bound copy was found */
                        info->has_held_by_pid = slot->held_uid == s->cred.uid && !slot->probe_error;
                        info->held_by_pid = info->has_held_by_pid ? slot->held_by : 0;
                }
                list[reply->n_devices++] = info;
        }
        reply->devices = list;
        c->reply->result_case = IB__V1__REPLY__RESULT_DEVICE_LIST;
        c->reply->device_list = reply;
        return 0;
}

/*
 * Whether the policy in force lets s open device name (its grant, and
 * ConfinedDeviceFds=): 0, or the one error, audited.  Read afresh each time:
 * a DeviceOpen waits off the loop, and a reload may replace the policy.
 */
static int device_open_allowed(Call *c, const char *name, int iommu_group) {
        Session *s = c->session;
        const PolicyLimits *limits = tenancy_limits(s->tenant);
        int r;

        if (!tenancy_may_open_device(s->tenant, name, iommu_group)) {
                (void) call_fail(c, EPERM, "device '%s' is not granted to tenant '%s'", name, s->tenant->name);
                session_audit(s, AUDIT_VERB_DEVICE_OPEN, name, AUDIT_DENIED, c->error);
                return -EPERM;
        }
        if (limits && limits->confined_device_fds) {
                bool confined = false;

                r = peer_seccomp_confined(s->cred.pid, s->pidfd, &confined);
                if (r < 0)
                        return call_fail(c, r, "cannot tell whether this process is confined: %s", strerror(-r));
                if (!confined) {
                        (void) call_fail(c, EPERM, "tenant '%s' must confine its device fds first "
                                         "(ConfinedDeviceFds=yes: a seccomp filter with no_new_privs, as "
                                         "ib_confine_device_fds() installs)", s->tenant->name);
                        session_audit(s, AUDIT_VERB_DEVICE_OPEN, name, AUDIT_DENIED, c->error);
                        return -EPERM;
                }
        }
        return 0;
}

int verb_device_open(Call *c) {
        const Ib__V1__DeviceOpenRequest *req = c->request->device_open;
        Session *s = c->session;
        const PolicyLimits *limits;
        _cleanup_(device_freep) Device *d = NULL;
        Ib__V1__DeviceOpenReply *reply;
        const Account *over = NULL;
        DeviceSlot *slot;
        BackendCtx *ctx;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        r = session_host_refresh_devices(s->host);
        if (r < 0)
                return call_fail(c, r, "cannot list devices: %s", strerror(-r));
        slot = device_table_find(&s->host->devices, req->name);
        if (slot && (r = device_open_allowed(c, slot->info.name, slot->info.iommu_group)) < 0)
                return r;
        if (slot && slot->owner == s->id)
                return call_fail(c, EALREADY, "device '%s' is open in this session already", req->name);
        if (slot) {
                r = call_fail_device_busy(c, slot);
                if (r < 0)
                        return r;
        }

        ctx = call_context(c, &r);
        if (!ctx)
                return r;
        r = device_open(&d, &s->host->devices, ctx, &s->account, s->id, s->cred.pid, s->cred.uid, req->name,
                        &over);
        if (r == -ENODEV)
                return call_fail(c, r, "no device '%s' (name it by PCI address, as DeviceList shows)", req->name);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r == -EINVAL)
                return call_fail(c, EBUSY,
                                 "device '%s' is bound elsewhere: a process outside the broker holds an fd of it",
                                 req->name);
        if (r == -EPERM)
                return call_fail(c, r, "another device of the IOMMU group of '%s' is in use elsewhere", req->name);
        if (r < 0)
                return call_fail(c, r, "cannot open device '%s': %s", req->name, strerror(-r));
        /* the bind waited: decided again under the policy in force now (a refusal releases the device) */
        slot = device_table_find(&s->host->devices, req->name);
        if (!slot)
                return call_fail(c, ENODEV, "device '%s' went away while it was opened", req->name);
        r = device_open_allowed(c, slot->info.name, slot->info.iommu_group);
        if (r < 0)
                return r;
        limits = tenancy_limits(s->tenant);

        d->global_pasid = s->host->global_pasid || (limits && limits->pasid_mode == POLICY_PASID_MODE_GLOBAL);
        session_audit(s, AUDIT_VERB_DEVICE_OPEN, req->name, AUDIT_GRANTED, NULL);
        ib__v1__device_open_reply__init(reply);
        reply->dev_id = d->dev_id;
        c->reply_fds[0] = d->fd;
        c->n_reply_fds = 1;
        (void) persist_keep_fd(s->host->persist, s, PERSIST_FD_DEVICE, d->dev_id, d->fd);
        session_add(s, TAKE_PTR(d));
        c->reply->result_case = IB__V1__REPLY__RESULT_DEVICE_OPEN;
        c->reply->device_open = reply;
        return 0;
}

/*
 * The IOAS under pt_id (itself, or the one its HWPT chain hangs on; NULL if
 * none), and whether any table on the way promises coherent DMA.
 */
static Ioas *pt_ioas(Session *s, uint32_t pt_id, bool *ret_enforce_snoop) {
        Ioas *ioas = session_find(s, Ioas, pt_id);
        Hwpt *h = ioas ? NULL : session_find(s, Hwpt, pt_id);
        bool snoop = false;

        while (h) {
                snoop = snoop || h->enforce_snoop;
                ioas = session_find(s, Ioas, h->pt_id);
                h = ioas ? NULL : session_find(s, Hwpt, h->pt_id);
        }
        *ret_enforce_snoop = snoop || (ioas && ioas->enforce_snoop);
        return ioas;
}

typedef struct AttachArgs {
        Device *device;
        uint32_t pt_id;
        uint32_t prev_pt_id;            /* what it was attached to before (0: nothing) */
} AttachArgs;

static int do_attach(void *userdata) {
        AttachArgs *a = userdata;

        return device_attach(a->device, a->pt_id);
}

/* Back to where the device was: a replace to the old page table, or a detach. */
static void undo_attach(void *userdata) {
        AttachArgs *a = userdata;

        if (a->prev_pt_id)
                (void) device_attach(a->device, a->prev_pt_id);
        else
                (void) device_detach(a->device);
}

int verb_device_attach(Call *c) {
        const Ib__V1__DeviceAttachRequest *req = c->request->device_attach;
        Ib__V1__DeviceAttachReply *reply;
        bool enforce_snoop;
        Ioas *ioas;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        ioas = pt_ioas(c->session, req->pt_id, &enforce_snoop);
        if (enforce_snoop && !device_enforces_snoop(d))
                return call_fail(c, EOPNOTSUPP,
                                 "page table %" PRIu32 " requires coherent DMA, and the IOMMU cannot enforce it for device '%s' (no snoop control)",
                                 req->pt_id, d->name);
        {
                AttachArgs args = { .device = d, .pt_id = req->pt_id, .prev_pt_id = d->pt_id };

                r = ioas ? ioas_with_reserved_regions(ioas, do_attach, undo_attach, &args) : do_attach(&args);
        }
        if (r == -EADDRNOTAVAIL && ioas)
                return call_fail(c, r, "the reserved regions of device '%s' leave none of the allowed IOVAs of IOAS %"
                                 PRIu32 ": the attach was undone", d->name, ioas->id);
        if (r == -ENOENT)
                return call_fail(c, r, "no IOAS or HWPT %" PRIu32 " in this session", req->pt_id);
        if (r == -EADDRINUSE)
                return call_fail(c, r, "a mapping of %" PRIu32 " lies in a reserved region of device '%s'", req->pt_id,
                                 d->name);
        if (r == -EINVAL && !pasid_table_is_empty(&d->pasids))
                return call_fail(c, r,
                                 "device '%s' has PASIDs attached: it can only move to a HWPT allocated with pasid=true",
                                 d->name);
        if (r == -EINVAL)
                return call_fail(c, r, "device '%s' cannot attach to %" PRIu32 " (not an IOAS or HWPT, or incompatible)",
                                 d->name, req->pt_id);
        if (r < 0)
                return call_fail(c, r, "cannot attach device '%s' to %" PRIu32 ": %s", d->name, req->pt_id, strerror(-r));
        ib__v1__device_attach_reply__init(reply);
        reply->hwpt_id = d->hwpt_id;
        c->reply->result_case = IB__V1__REPLY__RESULT_DEVICE_ATTACH;
        c->reply->device_attach = reply;
        return 0;
}

int verb_device_detach(Call *c) {
        const Ib__V1__DeviceDetachRequest *req = c->request->device_detach;
        Ib__V1__DeviceDetachReply *reply;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        if (d->pt_id == 0)
                return call_fail(c, ENOENT, "device '%s' is not attached", d->name);
        r = device_detach(d);
        if (r < 0)
                return call_fail(c, r, "cannot detach device '%s': %s", d->name, strerror(-r));
        ib__v1__device_detach_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_DEVICE_DETACH;
        c->reply->device_detach = reply;
        return 0;
}

int verb_device_close(Call *c) {
        const Ib__V1__DeviceCloseRequest *req = c->request->device_close;
        Ib__V1__DeviceCloseReply *reply;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        /* detached first: a device the broker forgets must not stay attached to the session's tables */
        r = device_detach_all(d);
        if (r < 0)
                return call_fail(c, r, "cannot detach device '%s' before closing it: %s; it stays open", d->name,
                                 strerror(-r));
        session_release_device(c->session, d);
        ib__v1__device_close_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_DEVICE_CLOSE;
        c->reply->device_close = reply;
        return 0;
}

int verb_hw_info(Call *c) {
        const Ib__V1__HwInfoRequest *req = c->request->hw_info;
        Ib__V1__HwInfoReply *reply;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        ib__v1__hw_info_reply__init(reply);
        reply->iommu_type = d->hw.type;
        reply->dirty_tracking = d->hw.capabilities & BACKEND_HW_CAP_DIRTY_TRACKING;
        reply->pasid_exec = d->hw.capabilities & BACKEND_HW_CAP_PCI_PASID_EXEC;
        reply->pasid_priv = d->hw.capabilities & BACKEND_HW_CAP_PCI_PASID_PRIV;
        reply->ats_not_supported = d->hw.capabilities & BACKEND_HW_CAP_PCI_ATS_NOT_SUPPORTED;
        reply->max_pasid_log2 = d->hw.max_pasid_log2;
        reply->enforce_snoop = device_enforces_snoop(d);
        reply->nesting = device_nesting(d);
        reply->has_vendor_data = true;
        reply->vendor_data.len = d->hw.data_len;
        reply->vendor_data.data = d->hw.data;
        c->reply->result_case = IB__V1__REPLY__RESULT_HW_INFO;
        c->reply->hw_info = reply;
        return 0;
}

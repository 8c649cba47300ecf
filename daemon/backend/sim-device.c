/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-device.c - the device ops of the simulated backend: list, bind, probe, attach, detach, hw_info.
 *
 * Owns: the ops device_list, device_bind, device_unbind, device_probe,
 * device_attach, device_detach, hw_info, delegate_iommufd and
 * delegate_device (stand-in fds for delegated devices): which configured device a name
 * is, the DEVICE object and the device fd a bind makes, who may bind a
 * device (one context per iommu_group), and what IOMMU_GET_HW_INFO reports.
 * Must never: close a device fd it handed out, or unbind a device in
 * device_unbind (VFIO has no unbind ioctl; a device is released when its fd
 * is closed everywhere: the Theory of Operation in sim-ctx.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* reallocarray() */
#endif

#include <assert.h>
#include <errno.h>
#include <linux/iommufd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "backend/sim-arena.h"
#include "backend/sim-attach.h"
#include "backend/sim-ctx.h"
#include "backend/sim-device.h"
#include "backend/sim-fail-nth.h"
#include "backend/sim-object.h"
#include "backend/sim-store.h"
#include "backend/sim-vtd.h"
#include "common/macro.h"

int sim_device_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n) {
        SimBackend *s = sim_backend(b);
        BackendDeviceInfo *list = NULL;
        int r;

        assert(s && ret && ret_n);

        r = sim_fault();
        if (r < 0)
                return r;

        sim_reap(s);
        /* The sim's devices are its configured ones, always all there. */
        if (s->n_slots > 0) {
                list = reallocarray(NULL, s->n_slots, sizeof(*list));
                if (!list)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n_slots; i++)
                        list[i] = s->slots[i].info;
        }
        *ret = list;
        *ret_n = s->n_slots;
        return 0;
}

/* The configured device named info->name (the rest of info is not looked at), or NULL. */
static SimSlot *sim_slot_find(SimBackend *s, const BackendDeviceInfo *info) {
        for (size_t i = 0; i < s->n_slots; i++)
                if (strncmp(s->slots[i].info.name, info->name, sizeof(info->name)) == 0)
                        return s->slots + i;
        return NULL;
}

int sim_device_bind(BackendCtx *ctx, const BackendDeviceInfo *info, int *ret_fd,
                    uint32_t *ret_dev_id) {
        _cleanup_close_ int fd = -1, watch_fd = -1;
        SimCtx *c = sim_ctx(ctx);
        SimSlot *slot;
        SimBackend *s;
        SimDevice *d;
        int r, pair[2];

        assert(c && info && ret_fd && ret_dev_id);

        r = sim_fault();
        if (r < 0)
                return r;

        s = sim_backend(c->ctx.backend);
        sim_reap(s);

        /* A device is known by its name; the rest of info is taken from the configuration. */
        slot = sim_slot_find(s, info);
        /* vfio/device_cdev.c vfio_device_fops_cdev_open: a device that is not there is ENODEV. */
        if (!slot)
                return -ENODEV;

        /*
         * Opening the cdev gives the device fd.  Sim devices have no regions,
         * no config space and no interrupts: one end of a socketpair stands
         * for the fd, so that the sim sees when its last copy is closed and
         * can take the device ioctls of backend-sim.h through it.
         */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return negative_errno();
        fd = pair[0];
        watch_fd = pair[1];

        /*
         * vfio/vfio_main.c vfio_df_open: a device already open through
         * another cdev fd, that is bound in any context (this one too), is
         * EINVAL ("the device cdev path doesn't have a secure way for it").
         */
        if (slot->ctx)
                return -EINVAL;

        /* device.c iommufd_device_bind: the DEVICE object takes the lowest free id. */
        d = sim_calloc(c, 1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->object.type = SIM_OBJECT_DEVICE;
        d->watch_fd = -1;
        r = sim_object_add(c, &d->object);
        if (r < 0) {
                sim_object_free(&d->object);
                return r;
        }

        /*
         * device.c iommufd_bind_iommu -> iommu.c iommu_device_claim_dma_owner:
         * a group owned by another context is EPERM.
         */
        for (size_t i = 0; i < s->n_slots; i++)
                if (s->slots[i].ctx && s->slots[i].ctx != c && sim_same_group(s->slots + i, slot)) {
                        sim_object_remove(c, &d->object);
                        return -EPERM;
                }

        d->slot = slot;
        d->watch_fd = TAKE_FD(watch_fd);
        /* The watch fd outlives the process with the model (sim-store.c). */
        sim_store_keep(d, d->watch_fd, "dev", &d->watch_name);
        slot->ctx = c;
        slot->device = d;
        *ret_fd = TAKE_FD(fd);
        *ret_dev_id = d->object.id;
        return 0;
}

int sim_device_unbind(BackendCtx *ctx, int dev_fd, uint32_t dev_id) {
        SimCtx *c = sim_ctx(ctx);
        SimDevice *d;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        /* The device is named by dev_id; dev_fd is the caller's to close. */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        /*
         * VFIO has no unbind ioctl: the device stays bound until the last
         * copy of its fd is closed (vfio/device_cdev.c vfio_df_unbind_iommufd
         * from vfio_device_fops_release), which the next reap sees, also
         * when that copy is one the caller handed on.
         */
        return 0;
}

int sim_device_probe(Backend *b, const BackendDeviceInfo *info) {
        SimBackend *s = sim_backend(b);
        SimSlot *slot;
        int r;

        assert(s && info);

        r = sim_fault();
        if (r < 0)
                return r;

        sim_reap(s);
        slot = sim_slot_find(s, info);
        /*
         * vfio/device_cdev.c vfio_device_fops_cdev_open: a device that is not
         * there is ENODEV, which the probe takes as the kernel backend's does
         * a cdev it cannot open: gone, nothing holds it.
         */
        if (!slot)
                return 0;
        /*
         * vfio/vfio_main.c vfio_df_open: one bound open file per device; a
         * file bound in any context, open or closed, is in the way.
         */
        if (slot->ctx)
                return -EBUSY;
        return 0;
}

/*
 * Delegated devices: the kernel hands a VMM a fresh iommufd and the
 * device's cdev unbound.  The sim has no such files; it hands out stand-ins,
 * memfds named for what they stand for, through which nothing can be bound
 * or mapped.  What the model keeps is the kernel's rule for the claim: an
 * open cdev that is not bound is no hold on the device (vfio_df_open checks
 * bound files only), so a probe after the VMM is gone finds it free.
 */
int sim_delegate_iommufd(Backend *b, int *ret_fd) {
        int fd, r;

        assert(sim_backend(b) && ret_fd);

        r = sim_fault();
        if (r < 0)
                return r;
        fd = memfd_create("ib-sim-iommufd (stand-in)", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int sim_delegate_device(Backend *b, const BackendDeviceInfo *info, int *ret_fd) {
        SimBackend *s = sim_backend(b);
        char name[64];
        int fd, r;

        assert(s && info && ret_fd);

        r = sim_fault();
        if (r < 0)
                return r;
        /* vfio/device_cdev.c vfio_device_fops_cdev_open: a device that is not there is ENODEV. */
        if (!sim_slot_find(s, info))
                return -ENODEV;
        (void) snprintf(name, sizeof(name), "ib-sim-vfio %s (stand-in)", info->name);
        fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int sim_device_attach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid, uint32_t pt_id,
                      uint32_t *ret_hwpt) {
        SimCtx *c = sim_ctx(ctx);
        SimDevice *d;
        int r;

        assert(c && ret_hwpt);

        r = sim_fault();
        if (r < 0)
                return r;

        /* The kernel's ioctl is on the device fd; here the device is named by dev_id: ENOENT if unknown. */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        return sim_vfio_attach_pt(c, d, pasid, pt_id, ret_hwpt);
}

int sim_device_detach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid) {
        SimCtx *c = sim_ctx(ctx);
        SimDevice *d;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        sim_vfio_detach_pt(c, d, pasid);
        return 0;
}

int sim_hw_info(BackendCtx *ctx, uint32_t dev_id, BackendHwInfo *ret) {
        struct iommu_hw_info_vtd vtd = {
                /* intel/iommu.c intel_iommu_hw_info sets it on every unit. */
                .flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
        };
        SimCtx *c = sim_ctx(ctx);
        const BackendDeviceInfo *info;
        uint32_t max_pasids;
        uint64_t cap, ecap;
        SimDevice *d;
        int r;

        assert(c && ret);

        r = sim_fault();
        if (r < 0)
                return r;

        /* device.c iommufd_get_hw_info: an unknown device is ENOENT (iommufd_get_device). */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        info = &d->slot->info;

        sim_vtd_regs(info, &cap, &ecap);
        vtd.cap_reg = cap;
        vtd.ecap_reg = ecap;
        *ret = (BackendHwInfo) {
                .type = IOMMU_HW_INFO_TYPE_INTEL_VTD,
                .data_len = sizeof(vtd),
        };
        memcpy(ret->data, &vtd, sizeof(vtd));

        /*
         * iommufd_get_hw_info: DIRTY_TRACKING from IOMMU_CAP_DIRTY_TRACKING
         * (ssads_supported); PCI_ATS_NOT_SUPPORTED unless
         * IOMMU_CAP_PCI_ATS_SUPPORTED, which the unit lacks (ecap DT is 0);
         * max_pasid_log2 = ilog2(max_pasids), and PASID_EXEC / PASID_PRIV
         * from the device's PASID control, which enables neither.
         */
        if (info->dirty_tracking)
                ret->capabilities |= BACKEND_HW_CAP_DIRTY_TRACKING;
        ret->capabilities |= BACKEND_HW_CAP_PCI_ATS_NOT_SUPPORTED;
        max_pasids = sim_max_pasids(info);
        ret->max_pasid_log2 = max_pasids ? (uint8_t) __builtin_ctz(max_pasids) : 0;
        return 0;
}

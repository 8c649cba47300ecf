/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-device.c - typed calls for the device, HWPT and PASID verbs.
 *
 * Owns: building each request and reading each reply, including the device
 * fd that comes with DeviceOpen's reply.  Mirrors daemon/core/verb-device.c,
 * verb-hwpt.c and verb-pasid.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/internal.h"

#define assert_return(expr, r)                  \
        do {                                    \
                if (!(expr))                    \
                        return (r);             \
        } while (0)

/* Sends req (verb v set by the caller) and checks the result case. */
static int call_expect(ib_client *c, Ib__V1__Request *req, Ib__V1__Reply__ResultCase want, Ib__V1__Reply **ret) {
        int r = client_call(c, req, NULL, 0, ret);

        if (r < 0)
                return r;
        if ((*ret)->result_case != want) {
                reply_free(*ret);
                *ret = NULL;
                return client_fail(c, EPROTO, "the broker answered with an unexpected result");
        }
        return 0;
}

_public_ int ib_device_list(ib_client *c, ib_device_info *ret, size_t *n) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__DeviceListRequest dl = IB__V1__DEVICE_LIST_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        const Ib__V1__DeviceListReply *l;
        int r;

        assert_return(c && n && (ret || *n == 0), -EINVAL);
        req.verb_case = IB__V1__REQUEST__VERB_DEVICE_LIST;
        req.device_list = &dl;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_DEVICE_LIST, &reply);
        if (r < 0)
                return r;
        l = reply->device_list;
        if (l->n_devices > *n) {
                *n = l->n_devices;
                return client_fail(c, ENOBUFS, "%zu devices do not fit", l->n_devices);
        }
        for (size_t i = 0; i < l->n_devices; i++) {
                const Ib__V1__DeviceInfo *d = l->devices[i];

                memset(&ret[i], 0, sizeof(ret[i]));
                (void) snprintf(ret[i].name, sizeof(ret[i].name), "%s", d->name);
                ret[i].vendor_id = (uint16_t) d->vendor_id;
                ret[i].device_id = (uint16_t) d->device_id;
                ret[i].iommu_group = d->has_iommu_group ? d->iommu_group : -1;
                ret[i].pasid_width = (uint8_t) d->pasid_width;
                ret[i].open_here = d->open_here;
                ret[i].in_use = d->in_use;
                ret[i].quarantined = d->has_quarantined && d->quarantined;
                ret[i].held_by_pid = d->has_held_by_pid ? d->held_by_pid : 0;
                ret[i].delegated = d->has_delegated && d->delegated;
                ret[i].delegated_to_pid = d->has_delegated_to_pid ? d->delegated_to_pid : 0;
        }
        *n = l->n_devices;
        return 0;
}

_public_ int ib_device_open(ib_client *c, const char *name, uint32_t *ret_dev_id, int *ret_fd) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__DeviceOpenRequest o = IB__V1__DEVICE_OPEN_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        size_t n_fds = 0;
        int fd = -1, r;

        assert_return(c && name && ret_dev_id && ret_fd, -EINVAL);
        o.name = (char *) name;
        req.verb_case = IB__V1__REQUEST__VERB_DEVICE_OPEN;
        req.device_open = &o;
        r = client_call_fds(c, &req, NULL, 0, &reply, &fd, 1, &n_fds);
        if (r < 0)
                return r;
        if (reply->result_case != IB__V1__REPLY__RESULT_DEVICE_OPEN || n_fds != 1) {
                if (n_fds)
                        safe_close(fd);
                return client_fail(c, EPROTO, "the broker's DeviceOpen reply lacks its result or its fd");
        }
        *ret_dev_id = reply->device_open->dev_id;
        *ret_fd = fd;
        return 0;
}

_public_ int ib_device_delegate(ib_client *c, int pidfd, const char *const *names, size_t n_names,
                                ib_delegation *ret) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__DeviceDelegateRequest dd = IB__V1__DEVICE_DELEGATE_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int fds[1 + IB_DELEGATE_MAX_DEVICES];
        size_t n_fds = 0;
        int r;

        assert_return(c && names && ret && n_names > 0 && n_names <= IB_DELEGATE_MAX_DEVICES, -EINVAL);
        dd.names = (char **) names;
        dd.n_names = n_names;
        req.verb_case = IB__V1__REQUEST__VERB_DEVICE_DELEGATE;
        req.device_delegate = &dd;
        r = client_call_fds(c, &req, pidfd >= 0 ? &pidfd : NULL, pidfd >= 0 ? 1 : 0, &reply, fds, 1 + n_names, &n_fds);
        if (r < 0)
                return r;
        if (reply->result_case != IB__V1__REPLY__RESULT_DEVICE_DELEGATE || n_fds != 1 + n_names) {
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(fds[i]);
                return client_fail(c, EPROTO, "the broker's DeviceDelegate reply lacks its result or its %zu fds",
                                   1 + n_names);
        }
        memset(ret, 0, sizeof(*ret));
        ret->id = reply->device_delegate->delegation_id;
        ret->memlock_limit = reply->device_delegate->has_memlock_limit ? reply->device_delegate->memlock_limit : 0;
        ret->iommufd = fds[0];
        for (size_t i = 0; i < n_names; i++)
                ret->device_fds[i] = fds[1 + i];
        ret->n_devices = n_names;
        return 0;
}

_public_ int ib_device_attach(ib_client *c, uint32_t dev_id, uint32_t pt_id, uint32_t *ret_hwpt) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__DeviceAttachRequest a = IB__V1__DEVICE_ATTACH_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        assert_return(c, -EINVAL);
        a.dev_id = dev_id;
        a.pt_id = pt_id;
        req.verb_case = IB__V1__REQUEST__VERB_DEVICE_ATTACH;
        req.device_attach = &a;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_DEVICE_ATTACH, &reply);
        if (r < 0)
                return r;
        if (ret_hwpt)
                *ret_hwpt = reply->device_attach->hwpt_id;
        return 0;
}

_public_ int ib_device_detach(ib_client *c, uint32_t dev_id) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__DeviceDetachRequest d = IB__V1__DEVICE_DETACH_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        d.dev_id = dev_id;
        req.verb_case = IB__V1__REQUEST__VERB_DEVICE_DETACH;
        req.device_detach = &d;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_DEVICE_DETACH, &reply);
}

_public_ int ib_device_close(ib_client *c, uint32_t dev_id) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__DeviceCloseRequest d = IB__V1__DEVICE_CLOSE_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        d.dev_id = dev_id;
        req.verb_case = IB__V1__REQUEST__VERB_DEVICE_CLOSE;
        req.device_close = &d;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_DEVICE_CLOSE, &reply);
}

_public_ int ib_hw_info_get(ib_client *c, uint32_t dev_id, ib_hw_info *ret) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HwInfoRequest h = IB__V1__HW_INFO_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        const Ib__V1__HwInfoReply *i;
        int r;

        assert_return(c && ret, -EINVAL);
        h.dev_id = dev_id;
        req.verb_case = IB__V1__REQUEST__VERB_HW_INFO;
        req.hw_info = &h;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_HW_INFO, &reply);
        if (r < 0)
                return r;
        i = reply->hw_info;
        memset(ret, 0, sizeof(*ret));
        ret->iommu_type = i->iommu_type;
        ret->dirty_tracking = i->dirty_tracking;
        ret->pasid_exec = i->pasid_exec;
        ret->pasid_priv = i->pasid_priv;
        ret->ats_not_supported = i->ats_not_supported;
        ret->enforce_snoop = i->enforce_snoop;
        ret->nesting = i->nesting;
        ret->max_pasid_log2 = i->max_pasid_log2;
        if (i->has_vendor_data) {
                ret->vendor_data_len = i->vendor_data.len < sizeof(ret->vendor_data) ? i->vendor_data.len
                                                                                      : sizeof(ret->vendor_data);
                memcpy(ret->vendor_data, i->vendor_data.data, ret->vendor_data_len);
        }
        return 0;
}

static int hwpt_alloc(ib_client *c, uint32_t dev_id, uint32_t pt_id, unsigned flags, uint32_t data_type,
                      const void *data, size_t data_len, bool has_fault, uint32_t fault_id, uint32_t *ret_hwpt) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HwptAllocRequest h = IB__V1__HWPT_ALLOC_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        assert_return(c && ret_hwpt && (data || data_len == 0), -EINVAL);
        h.dev_id = dev_id;
        h.pt_id = pt_id;
        h.has_nest_parent = h.nest_parent = (flags & IB_HWPT_NEST_PARENT) != 0;
        h.has_dirty_tracking = h.dirty_tracking = (flags & IB_HWPT_DIRTY_TRACKING) != 0;
        h.has_pasid = h.pasid = (flags & IB_HWPT_PASID) != 0;
        h.has_enforce_snoop = h.enforce_snoop = (flags & IB_HWPT_ENFORCE_SNOOP) != 0;
        h.has_data_type = data_type != IB_HWPT_DATA_NONE;
        h.data_type = (Ib__V1__HwptDataType) data_type;
        h.has_data = data_len > 0;
        h.data.data = (uint8_t *) data;
        h.data.len = data_len;
        h.has_fault_id = has_fault;
        h.fault_id = fault_id;
        req.verb_case = IB__V1__REQUEST__VERB_HWPT_ALLOC;
        req.hwpt_alloc = &h;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_HWPT_ALLOC, &reply);
        if (r < 0)
                return r;
        *ret_hwpt = reply->hwpt_alloc->hwpt_id;
        return 0;
}

_public_ int ib_hwpt_alloc(ib_client *c, uint32_t dev_id, uint32_t pt_id, unsigned flags, uint32_t data_type,
                           const void *data, size_t data_len, uint32_t *ret_hwpt) {
        return hwpt_alloc(c, dev_id, pt_id, flags, data_type, data, data_len, false, 0, ret_hwpt);
}

_public_ int ib_hwpt_alloc_with_fault(ib_client *c, uint32_t dev_id, uint32_t pt_id, unsigned flags,
                                      uint32_t data_type, const void *data, size_t data_len, uint32_t fault_id,
                                      uint32_t *ret_hwpt) {
        return hwpt_alloc(c, dev_id, pt_id, flags, data_type, data, data_len, true, fault_id, ret_hwpt);
}

_public_ int ib_hwpt_free(ib_client *c, uint32_t hwpt) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HwptFreeRequest h = IB__V1__HWPT_FREE_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        h.hwpt_id = hwpt;
        req.verb_case = IB__V1__REQUEST__VERB_HWPT_FREE;
        req.hwpt_free = &h;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_HWPT_FREE, &reply);
}

_public_ int ib_hwpt_set_dirty_tracking(ib_client *c, uint32_t hwpt, bool enable) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HwptSetDirtyTrackingRequest d = IB__V1__HWPT_SET_DIRTY_TRACKING_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        d.hwpt_id = hwpt;
        d.enable = enable;
        req.verb_case = IB__V1__REQUEST__VERB_HWPT_SET_DIRTY_TRACKING;
        req.hwpt_set_dirty_tracking = &d;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_HWPT_SET_DIRTY_TRACKING, &reply);
}

/* Sends req, whose reply must be of case want and carry exactly one fd (*ret_fd, the caller's). */
static int call_expect_fd(ib_client *c, Ib__V1__Request *req, Ib__V1__Reply__ResultCase want, const char *verb,
                          Ib__V1__Reply **ret, int *ret_fd) {
        size_t n_fds = 0;
        int fd = -1, r;

        r = client_call_fds(c, req, NULL, 0, ret, &fd, 1, &n_fds);
        if (r < 0)
                return r;
        if ((*ret)->result_case != want || n_fds != 1) {
                if (n_fds)
                        safe_close(fd);
                return client_fail(c, EPROTO, "the broker's %s reply lacks its result or its fd", verb);
        }
        *ret_fd = fd;
        return 0;
}

_public_ int ib_hwpt_get_dirty_bitmap(ib_client *c, uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t page_size,
                                      unsigned flags, int *ret_fd, uint64_t *ret_size, uint64_t *ret_dirty) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HwptGetDirtyBitmapRequest d = IB__V1__HWPT_GET_DIRTY_BITMAP_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int fd = -1, r;

        assert_return(c && ret_fd && ret_size && !(flags & ~(unsigned) IB_DIRTY_NO_CLEAR), -EINVAL);
        d.hwpt_id = hwpt;
        d.iova = iova;
        d.length = length;
        d.has_page_size = page_size != 0;
        d.page_size = page_size;
        d.has_no_clear = d.no_clear = (flags & IB_DIRTY_NO_CLEAR) != 0;
        req.verb_case = IB__V1__REQUEST__VERB_HWPT_GET_DIRTY_BITMAP;
        req.hwpt_get_dirty_bitmap = &d;
        r = call_expect_fd(c, &req, IB__V1__REPLY__RESULT_HWPT_GET_DIRTY_BITMAP, "HwptGetDirtyBitmap", &reply, &fd);
        if (r < 0)
                return r;
        *ret_fd = fd;
        *ret_size = reply->hwpt_get_dirty_bitmap->bitmap_size;
        if (ret_dirty)
                *ret_dirty = reply->hwpt_get_dirty_bitmap->dirty_pages;
        return 0;
}

_public_ int ib_hwpt_invalidate(ib_client *c, uint32_t pt_id, uint32_t data_type, const void *entries,
                                uint32_t entry_len, uint32_t entry_num, uint32_t *ret_handled) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HwptInvalidateRequest v = IB__V1__HWPT_INVALIDATE_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        assert_return(c && (entries || entry_num == 0), -EINVAL);
        assert_return(entry_num == 0 || (uint64_t) entry_len * entry_num <= SIZE_MAX, -EINVAL);
        v.pt_id = pt_id;
        v.data_type = (Ib__V1__HwptInvalidateDataType) data_type;
        v.entry_len = entry_len;
        v.has_entries = entry_num > 0;
        v.entries.data = (uint8_t *) entries;
        v.entries.len = (size_t) entry_len * entry_num;
        req.verb_case = IB__V1__REQUEST__VERB_HWPT_INVALIDATE;
        req.hwpt_invalidate = &v;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_HWPT_INVALIDATE, &reply);
        if (r < 0)
                return r;
        if (ret_handled)
                *ret_handled = reply->hwpt_invalidate->entries_handled;
        return 0;
}

_public_ int ib_fault_queue_alloc(ib_client *c, uint32_t *ret_fault_id, int *ret_fd) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__FaultQueueAllocRequest f = IB__V1__FAULT_QUEUE_ALLOC_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int fd = -1, r;

        assert_return(c && ret_fault_id && ret_fd, -EINVAL);
        req.verb_case = IB__V1__REQUEST__VERB_FAULT_QUEUE_ALLOC;
        req.fault_queue_alloc = &f;
        r = call_expect_fd(c, &req, IB__V1__REPLY__RESULT_FAULT_QUEUE_ALLOC, "FaultQueueAlloc", &reply, &fd);
        if (r < 0)
                return r;
        *ret_fault_id = reply->fault_queue_alloc->fault_id;
        *ret_fd = fd;
        return 0;
}

_public_ int ib_fault_queue_free(ib_client *c, uint32_t fault_id) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__FaultQueueFreeRequest f = IB__V1__FAULT_QUEUE_FREE_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        f.fault_id = fault_id;
        req.verb_case = IB__V1__REQUEST__VERB_FAULT_QUEUE_FREE;
        req.fault_queue_free = &f;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_FAULT_QUEUE_FREE, &reply);
}

_public_ int ib_viommu_alloc(ib_client *c, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_viommu) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__ViommuAllocRequest v = IB__V1__VIOMMU_ALLOC_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        assert_return(c && ret_viommu, -EINVAL);
        v.dev_id = dev_id;
        v.hwpt_id = hwpt;
        v.type = (Ib__V1__ViommuType) type;
        req.verb_case = IB__V1__REQUEST__VERB_VIOMMU_ALLOC;
        req.viommu_alloc = &v;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_VIOMMU_ALLOC, &reply);
        if (r < 0)
                return r;
        *ret_viommu = reply->viommu_alloc->viommu_id;
        return 0;
}

_public_ int ib_viommu_free(ib_client *c, uint32_t viommu) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__ViommuFreeRequest v = IB__V1__VIOMMU_FREE_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        v.viommu_id = viommu;
        req.verb_case = IB__V1__REQUEST__VERB_VIOMMU_FREE;
        req.viommu_free = &v;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_VIOMMU_FREE, &reply);
}

_public_ int ib_vdevice_alloc(ib_client *c, uint32_t viommu, uint32_t dev_id, uint64_t virt_id,
                              uint32_t *ret_vdevice) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__VdeviceAllocRequest v = IB__V1__VDEVICE_ALLOC_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        assert_return(c && ret_vdevice, -EINVAL);
        v.viommu_id = viommu;
        v.dev_id = dev_id;
        v.virt_id = virt_id;
        req.verb_case = IB__V1__REQUEST__VERB_VDEVICE_ALLOC;
        req.vdevice_alloc = &v;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_VDEVICE_ALLOC, &reply);
        if (r < 0)
                return r;
        *ret_vdevice = reply->vdevice_alloc->vdevice_id;
        return 0;
}

_public_ int ib_vdevice_free(ib_client *c, uint32_t vdevice) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__VdeviceFreeRequest v = IB__V1__VDEVICE_FREE_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        v.vdevice_id = vdevice;
        req.verb_case = IB__V1__REQUEST__VERB_VDEVICE_FREE;
        req.vdevice_free = &v;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_VDEVICE_FREE, &reply);
}

_public_ int ib_pasid_attach(ib_client *c, uint32_t dev_id, uint32_t vpasid, uint32_t pt_id, uint32_t *ret_pasid) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__PasidAttachRequest p = IB__V1__PASID_ATTACH_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        assert_return(c, -EINVAL);
        p.dev_id = dev_id;
        p.vpasid = vpasid;
        p.pt_id = pt_id;
        req.verb_case = IB__V1__REQUEST__VERB_PASID_ATTACH;
        req.pasid_attach = &p;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_PASID_ATTACH, &reply);
        if (r < 0)
                return r;
        if (ret_pasid)
                *ret_pasid = reply->pasid_attach->pasid;
        return 0;
}

_public_ int ib_pasid_detach(ib_client *c, uint32_t dev_id, uint32_t vpasid) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__PasidDetachRequest p = IB__V1__PASID_DETACH_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;

        assert_return(c, -EINVAL);
        p.dev_id = dev_id;
        p.vpasid = vpasid;
        req.verb_case = IB__V1__REQUEST__VERB_PASID_DETACH;
        req.pasid_detach = &p;
        return call_expect(c, &req, IB__V1__REPLY__RESULT_PASID_DETACH, &reply);
}

_public_ int ib_pasid_lookup(ib_client *c, uint32_t dev_id, uint32_t vpasid, uint32_t *ret_pasid, uint32_t *ret_pt) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__PasidLookupRequest p = IB__V1__PASID_LOOKUP_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        assert_return(c, -EINVAL);
        p.dev_id = dev_id;
        p.vpasid = vpasid;
        req.verb_case = IB__V1__REQUEST__VERB_PASID_LOOKUP;
        req.pasid_lookup = &p;
        r = call_expect(c, &req, IB__V1__REPLY__RESULT_PASID_LOOKUP, &reply);
        if (r < 0)
                return r;
        if (ret_pasid)
                *ret_pasid = reply->pasid_lookup->pasid;
        if (ret_pt)
                *ret_pt = reply->pasid_lookup->pt_id;
        return 0;
}

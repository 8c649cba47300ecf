/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-hwpt.c - HwptAlloc, HwptFree, HwptSetDirtyTracking, HwptGetDirtyBitmap,
 * HwptInvalidate, FaultQueueAlloc, FaultQueueFree, ViommuAlloc, ViommuFree,
 * VdeviceAlloc, VdeviceFree.
 *
 * Owns: what a session may ask of a hardware page table (paging on an IOAS,
 * a nesting parent, dirty tracking, PASID use, nested with the guest's
 * stage-1 data on a nesting parent, a fault queue), of its dirty bits, of
 * the guest's cache invalidations, and of vIOMMUs and vDEVICEs; the size
 * limit of a dirty bitmap; and the sentences for the kernel's errnos.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/session.h"
#include "core/tenancy.h"
#include "core/verbs.h"

#define HWPT_DATA_MAX 4096

/* The session's HWPT id, or NULL with *ret = call_fail(ENOENT, ...). */
static Hwpt *call_find_hwpt(Call *c, uint32_t id, int *ret) {
        Hwpt *h = session_find(c->session, Hwpt, id);

        if (!h)
                *ret = call_fail(c, ENOENT, "no HWPT %" PRIu32 " allocated in this session", id);
        return h;
}

static int check_dirty_allowed(Call *c) {
        const PolicyLimits *limits = tenancy_limits(c->session->tenant);

        if (limits && !limits->allow_dirty_tracking)
                return call_fail(c, EPERM, "tenant '%s' may not use dirty tracking (DirtyTracking=no)",
                                 c->session->tenant->name);
        return 0;
}

typedef struct HwptNewArgs {
        Hwpt **ret;
        Session *s;
        uint32_t dev_id;
        uint32_t pt_id;
        uint32_t flags;
        uint32_t data_type;
        const void *data;
        size_t data_len;
        uint32_t fault_id;
        const Account **over;
} HwptNewArgs;

static int do_hwpt_new(void *userdata) {
        HwptNewArgs *a = userdata;

        return hwpt_new(a->ret, a->s->ctx, &a->s->account, a->dev_id, a->pt_id, a->flags, a->data_type, a->data,
                        a->data_len, a->fault_id, a->over);
}

static void undo_hwpt_new(void *userdata) {
        HwptNewArgs *a = userdata;

        if (*a->ret && hwpt_destroy(*a->ret) >= 0)
                *a->ret = NULL;
}

int verb_hwpt_alloc(Call *c) {
        const Ib__V1__HwptAllocRequest *req = c->request->hwpt_alloc;
        Session *s = c->session;
        _cleanup_(hwpt_freep) Hwpt *h = NULL;
        Ib__V1__HwptAllocReply *reply;
        const Account *over = NULL;
        const PolicyLimits *limits;
        Hwpt *parent = NULL;
        uint32_t flags;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        if (req->has_data && req->data.len > HWPT_DATA_MAX)
                return call_fail(c, E2BIG, "stage-1 data of %zu bytes: the limit is %u", req->data.len, HWPT_DATA_MAX);
        if (req->data_type != IB__V1__HWPT_DATA_TYPE__HWPT_DATA_NONE) {
                parent = session_find(s, Hwpt, req->pt_id);
                if (!parent)
                        return call_fail(c, session_find(s, Ioas, req->pt_id) ? EINVAL : ENOENT,
                                         "a nested HWPT needs a nesting-parent HWPT as pt_id; %" PRIu32 " is none",
                                         req->pt_id);
                if (!(parent->flags & BACKEND_HWPT_NEST_PARENT))
                        return call_fail(c, EINVAL, "HWPT %" PRIu32 " was not allocated as a nesting parent",
                                         req->pt_id);
        } else if (!session_find(s, Ioas, req->pt_id))
                return call_fail(c, session_find(s, Hwpt, req->pt_id) ? EINVAL : ENOENT,
                                 "a paging HWPT needs an IOAS as pt_id; %" PRIu32 " is none", req->pt_id);

        limits = tenancy_limits(s->tenant);
        if (limits && !limits->allow_nesting && (req->nest_parent || parent))
                return call_fail(c, EPERM, "tenant '%s' may not use nesting (Nesting=no)", s->tenant->name);
        if (limits && !limits->allow_dirty_tracking && req->dirty_tracking)
                return call_fail(c, EPERM, "tenant '%s' may not use dirty tracking (DirtyTracking=no)", s->tenant->name);
        if (limits && !limits->allow_pasid && req->pasid)
                return call_fail(c, EPERM, "tenant '%s' may not use PASIDs (PASID=no)", s->tenant->name);
        if (req->has_fault_id && !session_find(s, FaultQueue, req->fault_id))
                return call_fail(c, ENOENT, "no fault queue %" PRIu32 " allocated in this session", req->fault_id);

        flags = (req->nest_parent ? BACKEND_HWPT_NEST_PARENT : 0) |
                (req->dirty_tracking ? BACKEND_HWPT_DIRTY_TRACKING : 0) | (req->pasid ? BACKEND_HWPT_PASID : 0) |
                (req->has_fault_id ? BACKEND_HWPT_FAULT_ID_VALID : 0);
        {
                HwptNewArgs args = {
                        .ret = &h, .s = s, .dev_id = d->dev_id, .pt_id = req->pt_id, .flags = flags,
                        .data_type = (uint32_t) req->data_type,
                        .data = req->has_data ? req->data.data : NULL,
                        .data_len = req->has_data ? req->data.len : 0,
                        .fault_id = req->has_fault_id ? req->fault_id : 0, .over = &over,
                };
                Ioas *ioas = parent ? NULL : session_find(s, Ioas, req->pt_id);

                r = ioas ? ioas_with_reserved_regions(ioas, do_hwpt_new, undo_hwpt_new, &args) : do_hwpt_new(&args);
                if (r == -EADDRNOTAVAIL && ioas)
                        return call_fail(c, r, "the reserved regions of device '%s' leave none of the allowed IOVAs of "
                                         "IOAS %" PRIu32 ": the HWPT was freed again", d->name, ioas->id);
        }
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r == -EOPNOTSUPP)
                return call_fail(c, r, "the IOMMU of device '%s' cannot do this: %s%s%s%s%s", d->name,
                                 req->nest_parent ? "nesting parent " : "", req->dirty_tracking ? "dirty tracking " : "",
                                 req->pasid ? "PASID " : "", parent ? "nested stage 1 " : "",
                                 req->has_fault_id && req->nest_parent ? "fault queue on a nesting parent" : "");
        if (r == -EINVAL)
                return call_fail(c, r, "the IOMMU refused this page table (flags, or the stage-1 data of type %d)",
                                 (int) req->data_type);
        if (r < 0)
                return call_fail(c, r, "cannot allocate a HWPT on %" PRIu32 ": %s", req->pt_id, strerror(-r));

        h->enforce_snoop = req->enforce_snoop;
        ib__v1__hwpt_alloc_reply__init(reply);
        reply->hwpt_id = h->id;
        session_add(s, TAKE_PTR(h));
        c->reply->result_case = IB__V1__REPLY__RESULT_HWPT_ALLOC;
        c->reply->hwpt_alloc = reply;
        return 0;
}

int verb_hwpt_free(Call *c) {
        const Ib__V1__HwptFreeRequest *req = c->request->hwpt_free;
        Ib__V1__HwptFreeReply *reply;
        Hwpt *h;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        h = call_find_hwpt(c, req->hwpt_id, &r);
        if (!h)
                return r;
        r = hwpt_destroy(h);
        if (r == -EBUSY)
                return call_fail(c, r, "HWPT %" PRIu32 " is in use: detach its devices and PASIDs, free the "
                                 "nested HWPTs and vIOMMUs on it first", req->hwpt_id);
        if (r < 0)
                return call_fail(c, r, "cannot free HWPT %" PRIu32 ": %s", req->hwpt_id, strerror(-r));
        ib__v1__hwpt_free_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_HWPT_FREE;
        c->reply->hwpt_free = reply;
        return 0;
}

int verb_hwpt_set_dirty_tracking(Call *c) {
        const Ib__V1__HwptSetDirtyTrackingRequest *req = c->request->hwpt_set_dirty_tracking;
        Ib__V1__HwptSetDirtyTrackingReply *reply;
        Hwpt *h;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        h = call_find_hwpt(c, req->hwpt_id, &r);
        if (!h)
                return r;
        r = check_dirty_allowed(c);
        if (r < 0)
                return r;
        r = hwpt_set_dirty_tracking(h, req->enable);
        if (r == -ENOENT)
                return call_fail(c, r, "HWPT %" PRIu32 " is nested: dirty tracking belongs to its parent", h->id);
        if (r == -EOPNOTSUPP)
                return call_fail(c, r, "HWPT %" PRIu32 " was not allocated with dirty tracking", h->id);
        if (r < 0)
                return call_fail(c, r, "cannot %s dirty tracking on HWPT %" PRIu32 ": %s",
                                 req->enable ? "enable" : "disable", h->id, strerror(-r));
        ib__v1__hwpt_set_dirty_tracking_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_HWPT_SET_DIRTY_TRACKING;
        c->reply->hwpt_set_dirty_tracking = reply;
        return 0;
}

int verb_hwpt_get_dirty_bitmap(Call *c) {
        const Ib__V1__HwptGetDirtyBitmapRequest *req = c->request->hwpt_get_dirty_bitmap;
        Ib__V1__HwptGetDirtyBitmapReply *reply;
        uint64_t page_size = req->has_page_size ? req->page_size : 4096, last, size, dirty = 0;
        int fd = -1, r;
        Hwpt *h;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        h = call_find_hwpt(c, req->hwpt_id, &r);
        if (!h)
                return r;
        r = check_dirty_allowed(c);
        if (r < 0)
                return r;
        /* what iommufd_check_iova_range would refuse, with the same errno, checked here to size the bitmap */
        if (page_size == 0 || (page_size & (page_size - 1)))
                return call_fail(c, EINVAL, "page_size %" PRIu64 " is not a power of two", page_size);
        if (req->length == 0)
                return call_fail(c, EINVAL, "the range is empty (length 0)");
        if (__builtin_add_overflow(req->iova, req->length - 1, &last))
                return call_fail(c, EOVERFLOW, "the range 0x%" PRIx64 " + 0x%" PRIx64 " wraps around",
                                 req->iova, req->length);
        if ((req->iova | req->length) & (page_size - 1))
                return call_fail(c, EINVAL, "iova 0x%" PRIx64 " and length 0x%" PRIx64
                                 " must be multiples of page_size 0x%" PRIx64, req->iova, req->length, page_size);
        size = hwpt_dirty_bitmap_size(req->length, page_size);
        if (size > HWPT_DIRTY_BITMAP_MAX)
                return call_fail(c, EINVAL, "a bitmap of %" PRIu64 " bytes exceeds the limit of %" PRIu64
                                 " bytes: ask for a shorter range or larger pages", size, HWPT_DIRTY_BITMAP_MAX);

        r = hwpt_get_dirty_bitmap(h, h->data_type == 0 ? session_find(c->session, Ioas, h->pt_id) : NULL,
                                  req->iova, req->length, page_size,
                                  req->no_clear ? BACKEND_DIRTY_NO_CLEAR : 0, &fd, &dirty);
        if (r == -ENOENT)
                return call_fail(c, r, "HWPT %" PRIu32 " is nested: dirty bits belong to its parent", h->id);
        if (r == -EOPNOTSUPP)
                return call_fail(c, r, "HWPT %" PRIu32 " was not allocated with dirty tracking", h->id);
        if (r == -EINVAL)
                return call_fail(c, r, "the range 0x%" PRIx64 " + 0x%" PRIx64
                                 " is not aligned to the IOAS's IOVA alignment", req->iova, req->length);
        if (r < 0)
                return call_fail(c, r, "cannot read the dirty bits of HWPT %" PRIu32 ": %s", h->id, strerror(-r));

        c->close_fds[c->n_close_fds++] = fd;
        c->reply_fds[0] = fd;
        c->n_reply_fds = 1;
        ib__v1__hwpt_get_dirty_bitmap_reply__init(reply);
        reply->bitmap_size = size;
        reply->dirty_pages = dirty;
        c->reply->result_case = IB__V1__REPLY__RESULT_HWPT_GET_DIRTY_BITMAP;
        c->reply->hwpt_get_dirty_bitmap = reply;
        return 0;
}

int verb_hwpt_invalidate(Call *c) {
        const Ib__V1__HwptInvalidateRequest *req = c->request->hwpt_invalidate;
        Session *s = c->session;
        Ib__V1__HwptInvalidateReply *reply;
        size_t len = req->has_entries ? req->entries.len : 0;
        const void *entries = len > 0 ? req->entries.data : NULL;
        uint32_t n = 0;
        Viommu *v = NULL;
        Hwpt *h;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        h = session_find(s, Hwpt, req->pt_id);
        if (!h)
                v = session_find(s, Viommu, req->pt_id);
        if (!h && !v)
                return call_fail(c, ENOENT, "no HWPT or vIOMMU %" PRIu32 " allocated in this session", req->pt_id);
        if (len > 0 && (req->entry_len == 0 || len % req->entry_len != 0))
                return call_fail(c, EINVAL, "%zu bytes of entries are no whole number of %" PRIu32 "-byte entries",
                                 len, req->entry_len);
        if (len > 0)
                n = (uint32_t) (len / req->entry_len);

        if (h)
                r = hwpt_invalidate(h, (uint32_t) req->data_type, entries, req->entry_len, &n);
        else
                r = viommu_invalidate(v, (uint32_t) req->data_type, entries, req->entry_len, &n);
        if (r == -EINVAL && n == 0 && h && h->data_type == 0)
                return call_fail(c, r, "%" PRIu32 " is a paging HWPT: only a nested HWPT or a vIOMMU has caches "
                                 "to invalidate", req->pt_id);
        if (r == -EOPNOTSUPP)
                return call_fail(c, r, "entry %" PRIu32 " has flags or reserved bits the IOMMU does not know "
                                 "(entries before it were handled)", n);
        if (r < 0)
                return call_fail(c, r, "the IOMMU refused entry %" PRIu32 " (data type %d, %" PRIu32
                                 " bytes each; entries before it were handled): %s",
                                 n, (int) req->data_type, req->entry_len, strerror(-r));
        ib__v1__hwpt_invalidate_reply__init(reply);
        reply->entries_handled = n;
        c->reply->result_case = IB__V1__REPLY__RESULT_HWPT_INVALIDATE;
        c->reply->hwpt_invalidate = reply;
        return 0;
}

int verb_fault_queue_alloc(Call *c) {
        Session *s = c->session;
        _cleanup_(fault_queue_freep) FaultQueue *f = NULL;
        Ib__V1__FaultQueueAllocReply *reply;
        BackendCtx *ctx;
        const Account *over = NULL;
        int fd = -1, r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        ctx = call_context(c, &r);
        if (!ctx)
                return r;
        r = fault_queue_new(&f, ctx, &s->account, &fd, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r < 0)
                return call_fail(c, r, "cannot allocate a fault queue: %s", strerror(-r));

        /* the client's alone: the broker never reads faults */
        c->close_fds[c->n_close_fds++] = fd;
        c->reply_fds[0] = fd;
        c->n_reply_fds = 1;
        ib__v1__fault_queue_alloc_reply__init(reply);
        reply->fault_id = f->id;
        session_add(s, TAKE_PTR(f));
        c->reply->result_case = IB__V1__REPLY__RESULT_FAULT_QUEUE_ALLOC;
        c->reply->fault_queue_alloc = reply;
        return 0;
}

/*
 * The free verbs of fault queues, vIOMMUs and vDEVICEs: IOMMU_DESTROY of the
 * object (main.c iommufd_destroy), which the kernel refuses with EBUSY while
 * another object, or an open file, holds a user of it; the record and its
 * charges go only once the kernel destroyed it.
 */
int verb_fault_queue_free(Call *c) {
        const Ib__V1__FaultQueueFreeRequest *req = c->request->fault_queue_free;
        Ib__V1__FaultQueueFreeReply *reply;
        FaultQueue *f;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        f = session_find(c->session, FaultQueue, req->fault_id);
        if (!f)
                return call_fail(c, ENOENT, "no fault queue %" PRIu32 " allocated in this session", req->fault_id);
        r = fault_queue_destroy(f);
        /* hw_pagetable.c iommufd_hwpt_alloc, eventq.c iommufd_eventq_init: users */
        if (r == -EBUSY)
                return call_fail(c, r, "fault queue %" PRIu32 " is in use: free the HWPTs that report to it and "
                                 "close every copy of its fd first", req->fault_id);
        if (r < 0)
                return call_fail(c, r, "cannot free fault queue %" PRIu32 ": %s", req->fault_id, strerror(-r));
        ib__v1__fault_queue_free_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_FAULT_QUEUE_FREE;
        c->reply->fault_queue_free = reply;
        return 0;
}

int verb_viommu_alloc(Call *c) {
        const Ib__V1__ViommuAllocRequest *req = c->request->viommu_alloc;
        Session *s = c->session;
        _cleanup_(viommu_freep) Viommu *v = NULL;
        Ib__V1__ViommuAllocReply *reply;
        const PolicyLimits *limits;
        const Account *over = NULL;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        if (!call_find_hwpt(c, req->hwpt_id, &r))
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        limits = tenancy_limits(s->tenant);
        if (limits && !limits->allow_nesting)
                return call_fail(c, EPERM, "tenant '%s' may not use nesting (Nesting=no)", s->tenant->name);

        r = viommu_new(&v, s->ctx, &s->account, d->dev_id, req->hwpt_id, (uint32_t) req->type, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r == -EOPNOTSUPP)
                return call_fail(c, r, "the IOMMU of device '%s' offers no vIOMMU of type %d", d->name,
                                 (int) req->type);
        if (r == -EINVAL)
                return call_fail(c, r, "HWPT %" PRIu32 " is no nesting parent", req->hwpt_id);
        if (r < 0)
                return call_fail(c, r, "cannot allocate a vIOMMU: %s", strerror(-r));

        ib__v1__viommu_alloc_reply__init(reply);
        reply->viommu_id = v->id;
        session_add(s, TAKE_PTR(v));
        c->reply->result_case = IB__V1__REPLY__RESULT_VIOMMU_ALLOC;
        c->reply->viommu_alloc = reply;
        return 0;
}

int verb_vdevice_alloc(Call *c) {
        const Ib__V1__VdeviceAllocRequest *req = c->request->vdevice_alloc;
        Session *s = c->session;
        _cleanup_(vdevice_freep) Vdevice *v = NULL;
        Ib__V1__VdeviceAllocReply *reply;
        const Account *over = NULL;
        Device *d;
        int r;

        if (!session_find(s, Viommu, req->viommu_id))
                return call_fail(c, ENOENT, "no vIOMMU %" PRIu32 " allocated in this session", req->viommu_id);
        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;

        r = vdevice_new(&v, s->ctx, &s->account, req->viommu_id, d->dev_id, req->virt_id, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r == -EEXIST)
                return call_fail(c, r, "device '%s' has a vDEVICE already", d->name);
        if (r == -EINVAL)
                return call_fail(c, r, "device '%s' is not behind the IOMMU of vIOMMU %" PRIu32 ", or virt_id is "
                                 "out of range", d->name, req->viommu_id);
        if (r < 0)
                return call_fail(c, r, "cannot allocate a vDEVICE: %s", strerror(-r));

        ib__v1__vdevice_alloc_reply__init(reply);
        reply->vdevice_id = v->id;
        session_add(s, TAKE_PTR(v));
        c->reply->result_case = IB__V1__REPLY__RESULT_VDEVICE_ALLOC;
        c->reply->vdevice_alloc = reply;
        return 0;
}

int verb_viommu_free(Call *c) {
        const Ib__V1__ViommuFreeRequest *req = c->request->viommu_free;
        Ib__V1__ViommuFreeReply *reply;
        Viommu *v;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        v = session_find(c->session, Viommu, req->viommu_id);
        if (!v)
                return call_fail(c, ENOENT, "no vIOMMU %" PRIu32 " allocated in this session", req->viommu_id);
        r = viommu_destroy(v);
        /* viommu.c iommufd_vdevice_alloc_ioctl, hw_pagetable.c iommufd_viommu_alloc_hwpt_nested: users */
        if (r == -EBUSY)
                return call_fail(c, r, "vIOMMU %" PRIu32 " is in use: free its vDEVICEs and nested HWPTs first",
                                 req->viommu_id);
        if (r < 0)
                return call_fail(c, r, "cannot free vIOMMU %" PRIu32 ": %s", req->viommu_id, strerror(-r));
        ib__v1__viommu_free_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_VIOMMU_FREE;
        c->reply->viommu_free = reply;
        return 0;
}

int verb_vdevice_free(Call *c) {
        const Ib__V1__VdeviceFreeRequest *req = c->request->vdevice_free;
        Ib__V1__VdeviceFreeReply *reply;
        Vdevice *v;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        v = session_find(c->session, Vdevice, req->vdevice_id);
        if (!v)
                return call_fail(c, ENOENT, "no vDEVICE %" PRIu32 " allocated in this session", req->vdevice_id);
        r = vdevice_destroy(v);
        if (r == -EBUSY)
                return call_fail(c, r, "vDEVICE %" PRIu32 " is in use", req->vdevice_id);
        if (r < 0)
                return call_fail(c, r, "cannot free vDEVICE %" PRIu32 ": %s", req->vdevice_id, strerror(-r));
        ib__v1__vdevice_free_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_VDEVICE_FREE;
        c->reply->vdevice_free = reply;
        return 0;
}

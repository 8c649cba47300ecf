/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-hwpt.c - HwptAlloc, HwptFree.
 *
 * Owns: what a session may ask of a hardware page table (paging on an IOAS,
 * a nesting parent, dirty tracking, PASID use, nested with the guest's
 * stage-1 data on a nesting parent), and the sentences for the kernel's
 * errnos.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/session.h"
#include "core/tenancy.h"
#include "core/verbs.h"

#define HWPT_DATA_MAX 4096

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
                parent = session_find_hwpt(s, req->pt_id);
                if (!parent)
                        return call_fail(c, session_find_ioas(s, req->pt_id) ? EINVAL : ENOENT,
                                         "a nested HWPT needs a nesting-parent HWPT as pt_id; %" PRIu32 " is none",
                                         req->pt_id);
                if (!(parent->flags & BACKEND_HWPT_NEST_PARENT))
                        return call_fail(c, EINVAL, "HWPT %" PRIu32 " was not allocated as a nesting parent",
                                         req->pt_id);
        } else if (!session_find_ioas(s, req->pt_id))
                return call_fail(c, session_find_hwpt(s, req->pt_id) ? EINVAL : ENOENT,
                                 "a paging HWPT needs an IOAS as pt_id; %" PRIu32 " is none", req->pt_id);

        limits = tenancy_limits(s);
        if (limits && !limits->allow_nesting && (req->nest_parent || parent))
                return call_fail(c, EPERM, "tenant '%s' may not use nesting (Nesting=no)", s->tenant->name);
        if (limits && !limits->allow_dirty_tracking && req->dirty_tracking)
                return call_fail(c, EPERM, "tenant '%s' may not use dirty tracking (DirtyTracking=no)", s->tenant->name);
        if (limits && !limits->allow_pasid && req->pasid)
                return call_fail(c, EPERM, "tenant '%s' may not use PASIDs (PASID=no)", s->tenant->name);

        flags = (req->nest_parent ? BACKEND_HWPT_NEST_PARENT : 0) |
                (req->dirty_tracking ? BACKEND_HWPT_DIRTY_TRACKING : 0) | (req->pasid ? BACKEND_HWPT_PASID : 0);
        r = hwpt_new(&h, s->ctx, &s->account, d->dev_id, req->pt_id, flags, (uint32_t) req->data_type,
                     req->has_data ? req->data.data : NULL, req->has_data ? req->data.len : 0, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r == -EOPNOTSUPP)
                return call_fail(c, r, "the IOMMU of device '%s' cannot do this: %s%s%s%s", d->name,
                                 req->nest_parent ? "nesting parent " : "", req->dirty_tracking ? "dirty tracking " : "",
                                 req->pasid ? "PASID " : "", parent ? "nested stage 1" : "");
        if (r == -EINVAL)
                return call_fail(c, r, "the IOMMU refused this page table (flags, or the stage-1 data of type %d)",
                                 (int) req->data_type);
        if (r < 0)
                return call_fail(c, r, "cannot allocate a HWPT on %" PRIu32 ": %s", req->pt_id, strerror(-r));

        h->enforce_snoop = req->enforce_snoop;
        ib__v1__hwpt_alloc_reply__init(reply);
        reply->hwpt_id = h->id;
        h->next = s->hwpts;
        s->hwpts = TAKE_PTR(h);
        c->reply->result_case = IB__V1__REPLY__RESULT_HWPT_ALLOC;
        c->reply->hwpt_alloc = reply;
        return 0;
}

int verb_hwpt_free(Call *c) {
        const Ib__V1__HwptFreeRequest *req = c->request->hwpt_free;
        Session *s = c->session;
        Ib__V1__HwptFreeReply *reply;
        Hwpt **i;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        for (i = &s->hwpts; *i && (*i)->id != req->hwpt_id; i = &(*i)->next)
                ;
        if (!*i)
                return call_fail(c, ENOENT, "no HWPT %" PRIu32 " allocated in this session", req->hwpt_id);
        {
                Hwpt *h = *i, *next = h->next;

                r = hwpt_destroy(h);
                if (r == -EBUSY)
                        return call_fail(c, r, "HWPT %" PRIu32 " is in use: detach devices and nested HWPTs first",
                                         req->hwpt_id);
                if (r < 0)
                        return call_fail(c, r, "cannot free HWPT %" PRIu32 ": %s", req->hwpt_id, strerror(-r));
                *i = next;
        }
        ib__v1__hwpt_free_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_HWPT_FREE;
        c->reply->hwpt_free = reply;
        return 0;
}

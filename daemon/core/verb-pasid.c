/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-pasid.c - PasidAttach (attach or hitless replace), PasidDetach, PasidLookup.
 *
 * Owns: the session's view of vPASID -> PASID translation: the lookup a
 * hypervisor needs by (session, device, vPASID) to program PASID translation.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/persist.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "core/verbs.h"
#include "util/crashpoint.h"

/*
 * The PASID a new attachment takes, in the request's slot before the kernel
 * is asked (the attach waits off the loop, where other sessions may free
 * PASIDs): a restart takes back that one (core/settle.c).
 */
static void pasid_chosen(uint32_t pasid, void *userdata) {
        Session *s = userdata;

        persist_request_step(s->host->persist, s, 0, 0, pasid);
}

int verb_pasid_attach(Call *c) {
        const Ib__V1__PasidAttachRequest *req = c->request->pasid_attach;
        Session *s = c->session;
        Ib__V1__PasidAttachReply *reply;
        const Account *over = NULL;
        const PolicyLimits *limits;
        PasidEntry *p;
        uint32_t pasid = 0;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        limits = tenancy_limits(s->tenant);
        if (limits && !limits->allow_pasid)
                return call_fail(c, EPERM, "tenant '%s' may not use PASIDs (PASID=no)", s->tenant->name);
        if (limits && req->vpasid != 0 && !policy_limits_vpasid_allowed(limits, req->vpasid))
                return call_fail(c, EPERM, "vPASID %" PRIu32 " is outside tenant '%s''s VPASIDRange %" PRIu32 "-%" PRIu32,
                                 req->vpasid, s->tenant->name, limits->vpasid_min, limits->vpasid_max);
        p = pasid_table_lookup(&d->pasids, req->vpasid);
        if (p) {
                r = device_replace_pasid(d, req->vpasid, req->pt_id);
                pasid = p->pasid;
        } else {
                r = device_attach_pasid(d, &s->host->pasids, req->vpasid, req->pt_id, pasid_chosen, s, &s->account,
                                        &pasid, &over);
                if (r >= 0)
                        crash_point("pasid-attached");  /* the kernel attached it, no record says so yet */
        }
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r == -ERANGE)
                return call_fail(c, r, "vPASID %" PRIu32 " is beyond the PASID width (%u bits) of device '%s'",
                                 req->vpasid, d->pasid_width, d->name);
        if (r == -EINVAL && req->vpasid == 0)
                return call_fail(c, r, "PASID 0 stands for the device itself: use DeviceAttach");
        if (r == -ENOSPC)
                return call_fail(c, r, "the host-wide PASID space is exhausted");
        if (r == -ENOENT)
                return call_fail(c, r, "no HWPT %" PRIu32 " in this session", req->pt_id);
        if (r == -EINVAL)
                return call_fail(c, r,
                                 "the IOMMU refused: HWPT %" PRIu32 " and the page table device '%s' itself is attached to "
                                 "must both be allocated with pasid=true",
                                 req->pt_id, d->name);
        if (r < 0)
                return call_fail(c, r, "cannot attach vPASID %" PRIu32 " of device '%s': %s", req->vpasid, d->name,
                                 strerror(-r));
        ib__v1__pasid_attach_reply__init(reply);
        reply->pasid = pasid;
        c->reply->result_case = IB__V1__REPLY__RESULT_PASID_ATTACH;
        c->reply->pasid_attach = reply;
        return 0;
}

int verb_pasid_detach(Call *c) {
        const Ib__V1__PasidDetachRequest *req = c->request->pasid_detach;
        Ib__V1__PasidDetachReply *reply;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        r = device_detach_pasid(d, req->vpasid);
        if (r == -ENOENT)
                return call_fail(c, r, "vPASID %" PRIu32 " of device '%s' is not attached", req->vpasid, d->name);
        if (r < 0)
                return call_fail(c, r, "cannot detach vPASID %" PRIu32 ": %s", req->vpasid, strerror(-r));
        ib__v1__pasid_detach_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_PASID_DETACH;
        c->reply->pasid_detach = reply;
        return 0;
}

int verb_pasid_lookup(Call *c) {
        const Ib__V1__PasidLookupRequest *req = c->request->pasid_lookup;
        Ib__V1__PasidLookupReply *reply;
        PasidEntry *p;
        Device *d;
        int r;

        d = call_find_device(c, req->dev_id, &r);
        if (!d)
                return r;
        p = pasid_table_lookup(&d->pasids, req->vpasid);
        if (!p)
                return call_fail(c, ENOENT, "vPASID %" PRIu32 " of device '%s' is not attached", req->vpasid, d->name);
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        ib__v1__pasid_lookup_reply__init(reply);
        reply->pasid = p->pasid;
        reply->pt_id = p->pt_id;
        c->reply->result_case = IB__V1__REPLY__RESULT_PASID_LOOKUP;
        c->reply->pasid_lookup = reply;
        return 0;
}

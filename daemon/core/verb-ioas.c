/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-ioas.c - IoasAlloc, IoasFree, IoasIovaRanges, IoasAllowIovas.
 *
 * Owns: turning IOVA range hints (a 32-bit window or the full range, a base
 * and a max) into the IOAS's window, checked against what the IOMMU offers,
 * with a clear error when a hint cannot be met; and the sentences that
 * explain the kernel's errnos for these verbs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/protocol.h"
#include "core/persist.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "policy/audit.h"
#include "util/crashpoint.h"
#include "core/verbs.h"

#define IOVA_32BIT_LAST UINT64_C(0xffffffff)

Ioas *call_find_ioas(Call *c, uint32_t id, int *ret) {
        Ioas *ioas;

        if (c->found_ioas && c->found_ioas->id == id)
                return c->found_ioas;
        ioas = session_find(c->session, Ioas, id);
        if (!ioas)
                *ret = call_fail(c, ENOENT, "no IOAS %" PRIu32 " in this session", id);
        else if (c->remember)
                c->found_ioas = ioas;
        return ioas;
}

/* Destroys a half-made IOAS; if the kernel refuses, the record goes anyway and the context's close destroys it. */
static void ioas_drop(Ioas *ioas) {
        if (ioas_destroy(ioas) < 0)
                ioas_free(ioas);
}

BackendCtx *call_context(Call *c, int *ret) {
        Session *s = c->session;
        const Account *over = NULL;
        BackendCtx *ctx = NULL;
        bool had = s->ctx != NULL;
        int r;

        r = session_context(s, &ctx, &over);
        if (r == -EDQUOT)
                *ret = call_fail_quota(c, over);
        else if (r == -EMFILE || r == -ENFILE)
                *ret = call_fail(c, EMFILE, "the broker is out of file descriptors: cannot open this session's "
                                 "iommufd, try again later");
        else if (r < 0)
                *ret = call_fail(c, r, "cannot open this session's iommufd: %s", strerror(-r));
        else if (!had) {
                (void) persist_keep_fd(s->host->persist, s, PERSIST_FD_CONTEXT, 0, backend_ctx_fd(ctx));
                crash_point("opened");
        }
        return r < 0 ? NULL : ctx;
}

int call_fail_quota(Call *c, const Account *over) {
        tenancy_quota_sentence(over, c->error, sizeof(c->error));
        session_audit(c->session, AUDIT_VERB_LIMIT, tenancy_limit_name(over), AUDIT_DENIED, c->error);
        return -EDQUOT;
}

static int ranges_to_wire(Call *c, const IovaRange *ranges, size_t n, Ib__V1__IovaRange ***ret) {
        Ib__V1__IovaRange **out = call_alloc(c, sizeof(*out) * (n ? n : 1));
        Ib__V1__IovaRange *r = call_alloc(c, sizeof(*r) * (n ? n : 1));

        if (!out || !r)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ib__v1__iova_range__init(&r[i]);
                r[i].start = ranges[i].start;
                r[i].last = ranges[i].last;
                out[i] = &r[i];
        }
        *ret = out;
        return 0;
}

int verb_ioas_alloc(Call *c) {
        const Ib__V1__IoasAllocRequest *req = c->request->ioas_alloc;
        Session *s = c->session;
        _cleanup_(ioas_freep) Ioas *ioas = NULL;
        IovaRange offered[IB_MAX_IOVA_RANGES], window[IB_MAX_IOVA_RANGES];
        size_t n_offered = ELEMENTSOF(offered);
        const Account *over = NULL;
        BackendCtx *ctx;
        Ib__V1__IoasAllocReply *reply;
        uint64_t lo = 0, hi = UINT64_MAX, alignment;
        const char *wname = "full";
        const PolicyLimits *limits;
        IovaRange tenant_cut[IB_MAX_IOVA_RANGES];
        size_t n_tenant_cut = 0;
        bool hinted = false, tenant_window = false;
        int n_window = 0, r;

        switch (req->window) {
        case IB__V1__IOVA_WINDOW__IOVA_WINDOW_FULL:
                break;
        case IB__V1__IOVA_WINDOW__IOVA_WINDOW_32BIT:
                hi = IOVA_32BIT_LAST;
                wname = "32-bit";
                hinted = true;
                break;
        case _IB__V1__IOVA_WINDOW_IS_INT_SIZE:
        default:
                return call_fail(c, EINVAL, "unknown IOVA window %d", (int) req->window);
        }
        if (req->has_base_iova) {
                if (req->base_iova > hi)
                        return call_fail(c, ERANGE, "base 0x%" PRIx64 " lies outside the %s window", req->base_iova, wname);
                lo = req->base_iova;
                hinted = true;
        }
        if (req->has_max_iova) {
                if (req->max_iova < lo)
                        return call_fail(c, EINVAL, "max 0x%" PRIx64 " is below base 0x%" PRIx64, req->max_iova, lo);
                if (req->max_iova < hi)
                        hi = req->max_iova;
                hinted = true;
        }

        limits = tenancy_limits(s->tenant);
        if (limits && !(limits->n_iova_windows == 1 && limits->iova_windows[0].start == 0 &&
                        limits->iova_windows[0].last == UINT64_MAX)) {
                IovaRange cut[IB_MAX_IOVA_RANGES];
                const IovaRange hint = { .start = lo, .last = hi };
                int n = iova_ranges_intersect(limits->iova_windows, limits->n_iova_windows, &hint, 1, cut,
                                              ELEMENTSOF(cut));

                if (n <= 0)
                        return call_fail(c, EPERM, "IOVA 0x%" PRIx64 "-0x%" PRIx64 " lies outside the IOVA windows of tenant '%s'",
                                         lo, hi, s->tenant->name);
                tenant_window = true;
                n_tenant_cut = (size_t) n;
                memcpy(tenant_cut, cut, sizeof(IovaRange) * (size_t) n);
        }
        ctx = call_context(c, &r);
        if (!ctx)
                return r;
        r = ioas_new(&ioas, ctx, &s->account, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r < 0)
                return call_fail(c, r, "cannot allocate an IOAS: %s", strerror(-r));
        ioas->serial = ++s->last_ioas_serial;

        if (hinted || tenant_window) {
                const IovaRange hint = { .start = lo, .last = hi };

                r = ioas_iova_ranges(ioas, offered, &n_offered, &alignment);
                if (r < 0) {
                        ioas_drop(TAKE_PTR(ioas));
                        return call_fail(c, r, "cannot read the IOMMU's IOVA ranges: %s", strerror(-r));
                }
                if (tenant_window)
                        n_window = iova_ranges_intersect(offered, n_offered, tenant_cut, n_tenant_cut, window,
                                                         ELEMENTSOF(window));
                else
                        n_window = iova_ranges_intersect(offered, n_offered, &hint, 1, window, ELEMENTSOF(window));
                if (n_window <= 0) {
                        ioas_drop(TAKE_PTR(ioas));
                        return call_fail(c, ERANGE,
                                         "IOVA hint 0x%" PRIx64 "-0x%" PRIx64 " cannot be met: the IOMMU offers no IOVA there",
                                         lo, hi);
                }
                r = ioas_set_window(ioas, window, (size_t) n_window);
                if (r < 0) {
                        ioas_drop(TAKE_PTR(ioas));
                        return call_fail(c, r, "cannot restrict the IOAS to 0x%" PRIx64 "-0x%" PRIx64 ": %s", lo, hi,
                                         strerror(-r));
                }
        }

        ioas->enforce_snoop = req->enforce_snoop;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply) {
                ioas_drop(TAKE_PTR(ioas));
                return -ENOMEM;
        }
        ib__v1__ioas_alloc_reply__init(reply);
        reply->ioas = ioas->id;
        r = ranges_to_wire(c, ioas->window, ioas->n_window, &reply->window);
        if (r < 0) {
                ioas_drop(TAKE_PTR(ioas));
                return r;
        }
        reply->n_window = ioas->n_window;
        session_add(s, TAKE_PTR(ioas));
        c->reply->result_case = IB__V1__REPLY__RESULT_IOAS_ALLOC;
        c->reply->ioas_alloc = reply;
        return 0;
}

int verb_ioas_free(Call *c) {
        const Ib__V1__IoasFreeRequest *req = c->request->ioas_free;
        Ib__V1__IoasFreeReply *reply;
        Ioas *ioas;
        int r;

        ioas = call_find_ioas(c, req->ioas, &r);
        if (!ioas)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        r = ioas_destroy(ioas);
        if (r < 0) {
                if (r == -EBUSY)
                        return call_fail(c, r, "IOAS %" PRIu32 " is in use: detach what uses it first", req->ioas);
                return call_fail(c, r, "cannot free IOAS %" PRIu32 ": %s", req->ioas, strerror(-r));
        }
        ib__v1__ioas_free_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_IOAS_FREE;
        c->reply->ioas_free = reply;
        return 0;
}

int verb_iova_ranges(Call *c) {
        const Ib__V1__IovaRangesRequest *req = c->request->iova_ranges;
        IovaRange ranges[IB_MAX_IOVA_RANGES];
        size_t n = ELEMENTSOF(ranges);
        Ib__V1__IovaRangesReply *reply;
        uint64_t alignment = 0;
        Ioas *ioas;
        int r;

        ioas = call_find_ioas(c, req->ioas, &r);
        if (!ioas)
                return r;
        r = ioas_iova_ranges(ioas, ranges, &n, &alignment);
        if (r == -EMSGSIZE)
                return call_fail(c, r, "IOAS %" PRIu32 " has more than %u IOVA ranges", req->ioas, IB_MAX_IOVA_RANGES);
        if (r < 0)
                return call_fail(c, r, "cannot read the IOVA ranges of IOAS %" PRIu32 ": %s", req->ioas, strerror(-r));

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        ib__v1__iova_ranges_reply__init(reply);
        r = ranges_to_wire(c, ranges, n, &reply->ranges);
        if (r < 0)
                return r;
        reply->n_ranges = n;
        reply->alignment = alignment;
        c->reply->result_case = IB__V1__REPLY__RESULT_IOVA_RANGES;
        c->reply->iova_ranges = reply;
        return 0;
}

int verb_allow_iovas(Call *c) {
        const Ib__V1__AllowIovasRequest *req = c->request->allow_iovas;
        IovaRange ranges[IB_MAX_IOVA_RANGES];
        Ib__V1__AllowIovasReply *reply;
        Ioas *ioas;
        int r;

        ioas = call_find_ioas(c, req->ioas, &r);
        if (!ioas)
                return r;
        if (req->n_ranges > ELEMENTSOF(ranges))
                return call_fail(c, E2BIG, "%zu ranges: the limit is %u", req->n_ranges, IB_MAX_IOVA_RANGES);
        for (size_t i = 0; i < req->n_ranges; i++) {
                ranges[i] = (IovaRange) { .start = req->ranges[i]->start, .last = req->ranges[i]->last };
                if (ranges[i].last < ranges[i].start)
                        return call_fail(c, EINVAL, "range 0x%" PRIx64 "-0x%" PRIx64 " ends before it starts",
                                         ranges[i].start, ranges[i].last);
                if (!ioas_window_contains(ioas, ranges[i].start, ranges[i].last))
                        return call_fail(c, ERANGE, "range 0x%" PRIx64 "-0x%" PRIx64 " lies outside the window of IOAS %" PRIu32,
                                         ranges[i].start, ranges[i].last, req->ioas);
        }
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        r = ioas_allow_iovas(ioas, ranges, req->n_ranges);
        if (r == -EADDRINUSE)
                return call_fail(c, r, "a range overlaps a reserved region of a device attached to IOAS %" PRIu32,
                                 req->ioas);
        if (r == -EINVAL)
                return call_fail(c, r, "the ranges overlap, or one is a single byte (start must be below last)");
        if (r < 0)
                return call_fail(c, r, "cannot set the allowed IOVAs of IOAS %" PRIu32 ": %s", req->ioas, strerror(-r));
        ib__v1__allow_iovas_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_ALLOW_IOVAS;
        c->reply->allow_iovas = reply;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-ioas.c - typed calls for GetCapabilities and the IOAS and map verbs.
 *
 * Owns: building each request, reading each reply, the synchronous and the
 * asynchronous form of each verb (MemRegister and MemUnregister included).  Mirrors daemon/core/verb-hello.c,
 * verb-ioas.c and verb-map.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

#define assert_return(expr, r)                  \
        do {                                    \
                if (!(expr))                    \
                        return (r);             \
        } while (0)

static const struct {
        Ib__V1__KernelFeature wire;
        uint32_t bit;
        const char *name;
} kernel_features[] = {
        { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_MAP_FILE, IB_KERNEL_FEATURE_MAP_FILE, "map-file" },
        { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_HWPT_ALLOC, IB_KERNEL_FEATURE_HWPT_ALLOC, "hwpt-alloc" },
        { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_DIRTY_TRACKING, IB_KERNEL_FEATURE_DIRTY_TRACKING, "dirty-tracking" },
        { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_HWPT_INVALIDATE, IB_KERNEL_FEATURE_HWPT_INVALIDATE, "hwpt-invalidate" },
        { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_FAULT_QUEUE, IB_KERNEL_FEATURE_FAULT_QUEUE, "fault-queue" },
        { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_VIOMMU, IB_KERNEL_FEATURE_VIOMMU, "viommu" },
        { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_CHANGE_PROCESS, IB_KERNEL_FEATURE_CHANGE_PROCESS, "change-process" },
};

_public_ const char *ib_kernel_feature_name(uint32_t bit) {
        for (size_t i = 0; i < ELEMENTSOF(kernel_features); i++)
                if (kernel_features[i].bit == bit)
                        return kernel_features[i].name;
        return NULL;
}

/* The reply must carry the result the verb promises. */
static int expect_result(ib_client *c, const Ib__V1__Reply *reply, Ib__V1__Reply__ResultCase want) {
        if (reply->result_case != want)
                return client_fail(c, EPROTO, "the broker answered with an unexpected result");
        return 0;
}

_public_ int ib_caps_get(ib_client *c, ib_caps *ret) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__CapsRequest caps = IB__V1__CAPS_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        const Ib__V1__CapsReply *r;
        int k;

        assert_return(c && ret, -EINVAL);
        req.verb_case = IB__V1__REQUEST__VERB_CAPS;
        req.caps = &caps;
        k = client_call(c, &req, NULL, 0, &reply);
        if (k < 0)
                return k;
        k = expect_result(c, reply, IB__V1__REPLY__RESULT_CAPS);
        if (k < 0)
                return k;
        r = reply->caps;
        memset(ret, 0, sizeof(*ret));
        strncpy(ret->backend, r->backend, sizeof(ret->backend) - 1);     /* zeroed above: terminated, cut if long */
        for (size_t i = 0; i < r->n_kernel_features; i++)
                for (size_t j = 0; j < ELEMENTSOF(kernel_features); j++)
                        if (kernel_features[j].wire == r->kernel_features[i])
                                ret->kernel_features |= kernel_features[j].bit;
        ret->page_size = r->page_size;
        ret->has_counters = r->has_sessions;
        ret->sessions = r->sessions;
        ret->mapped_bytes = r->mapped_bytes;
        ret->objects = r->objects;
        return 0;
}

/* ------------------------------------------------------------------ request builders */

typedef struct ReqBuf {
        Ib__V1__Request req;
        union {
                Ib__V1__IoasAllocRequest ioas_alloc;
                Ib__V1__IoasFreeRequest ioas_free;
                Ib__V1__MapRequest map;
                Ib__V1__UnmapRequest unmap;
                Ib__V1__CopyRequest copy;
                Ib__V1__MemRegisterRequest mem_register;
                Ib__V1__MemUnregisterRequest mem_unregister;
        } u;
} ReqBuf;

static int build_ioas_alloc(ReqBuf *b, const ib_ioas_alloc_args *args) {
        ib__v1__request__init(&b->req);
        ib__v1__ioas_alloc_request__init(&b->u.ioas_alloc);
        if (args) {
                switch (args->window) {
                case IB_IOVA_WINDOW_FULL:
                        break;
                case IB_IOVA_WINDOW_32BIT:
                        b->u.ioas_alloc.has_window = true;
                        b->u.ioas_alloc.window = IB__V1__IOVA_WINDOW__IOVA_WINDOW_32BIT;
                        break;
                default:
                        return -EINVAL;
                }
                b->u.ioas_alloc.has_base_iova = args->has_base;
                b->u.ioas_alloc.base_iova = args->base;
                b->u.ioas_alloc.has_max_iova = args->has_max;
                b->u.ioas_alloc.max_iova = args->max;
                b->u.ioas_alloc.has_enforce_snoop = args->enforce_snoop;
                b->u.ioas_alloc.enforce_snoop = args->enforce_snoop;
        }
        b->req.verb_case = IB__V1__REQUEST__VERB_IOAS_ALLOC;
        b->req.ioas_alloc = &b->u.ioas_alloc;
        return 0;
}

static void build_ioas_free(ReqBuf *b, uint32_t ioas) {
        ib__v1__request__init(&b->req);
        ib__v1__ioas_free_request__init(&b->u.ioas_free);
        b->u.ioas_free.ioas = ioas;
        b->req.verb_case = IB__V1__REQUEST__VERB_IOAS_FREE;
        b->req.ioas_free = &b->u.ioas_free;
}

void client_fill_map(Ib__V1__MapRequest *m, uint32_t ioas, uint32_t fd_index, uint64_t offset, uint64_t length,
                     unsigned flags, uint64_t iova) {
        ib__v1__map_request__init(m);
        m->ioas = ioas;
        m->has_fd_index = fd_index != 0;
        m->fd_index = fd_index;
        m->has_offset = offset != 0;
        m->offset = offset;
        m->length = length;
        m->has_iova = (flags & IB_MAP_FIXED_IOVA) != 0;
        m->iova = iova;
        m->has_readable = m->has_writeable = true;
        m->readable = (flags & IB_MAP_READABLE) != 0;
        m->writeable = (flags & IB_MAP_WRITEABLE) != 0;
}

void client_fill_unmap(Ib__V1__UnmapRequest *u, uint32_t ioas, uint64_t iova, uint64_t length) {
        ib__v1__unmap_request__init(u);
        u->ioas = ioas;
        u->iova = iova;
        u->length = length;
}

static void build_map(ReqBuf *b, uint32_t ioas, uint64_t offset, uint64_t length, unsigned flags, uint64_t iova) {
        ib__v1__request__init(&b->req);
        client_fill_map(&b->u.map, ioas, 0, offset, length, flags, iova);
        b->req.verb_case = IB__V1__REQUEST__VERB_MAP;
        b->req.map = &b->u.map;
}

static void build_map_mem(ReqBuf *b, uint32_t ioas, uint32_t mem, uint64_t offset, uint64_t length, unsigned flags,
                          uint64_t iova) {
        build_map(b, ioas, offset, length, flags, iova);
        b->u.map.has_mem = true;
        b->u.map.mem = mem;
}

static void build_unmap(ReqBuf *b, uint32_t ioas, uint64_t iova, uint64_t length) {
        ib__v1__request__init(&b->req);
        client_fill_unmap(&b->u.unmap, ioas, iova, length);
        b->req.verb_case = IB__V1__REQUEST__VERB_UNMAP;
        b->req.unmap = &b->u.unmap;
}

static void build_copy(ReqBuf *b, uint32_t dst, uint32_t src, uint64_t src_iova, uint64_t length, unsigned flags,
                       uint64_t dst_iova) {
        Ib__V1__CopyRequest *cp = &b->u.copy;

        ib__v1__request__init(&b->req);
        ib__v1__copy_request__init(cp);
        cp->dst_ioas = dst;
        cp->src_ioas = src;
        cp->src_iova = src_iova;
        cp->length = length;
        cp->has_dst_iova = (flags & IB_MAP_FIXED_IOVA) != 0;
        cp->dst_iova = dst_iova;
        cp->has_readable = cp->has_writeable = true;
        cp->readable = (flags & IB_MAP_READABLE) != 0;
        cp->writeable = (flags & IB_MAP_WRITEABLE) != 0;
        b->req.verb_case = IB__V1__REQUEST__VERB_COPY;
        b->req.copy = cp;
}

/* ------------------------------------------------------------------ synchronous */

_public_ int ib_ioas_alloc(ib_client *c, const ib_ioas_alloc_args *args, uint32_t *ret_ioas) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        ReqBuf b;
        int r;

        assert_return(c && ret_ioas, -EINVAL);
        r = build_ioas_alloc(&b, args);
        if (r < 0)
                return client_fail(c, r, "unknown IOVA window %d", args->window);
        r = client_call(c, &b.req, NULL, 0, &reply);
        if (r < 0)
                return r;
        r = expect_result(c, reply, IB__V1__REPLY__RESULT_IOAS_ALLOC);
        if (r < 0)
                return r;
        *ret_ioas = reply->ioas_alloc->ioas;
        return 0;
}

_public_ int ib_ioas_free(ib_client *c, uint32_t ioas) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        ReqBuf b;

        assert_return(c, -EINVAL);
        build_ioas_free(&b, ioas);
        return client_call(c, &b.req, NULL, 0, &reply);
}

_public_ int ib_iova_ranges(ib_client *c, uint32_t ioas, ib_iova_range *ranges, size_t *n_ranges,
                            uint64_t *ret_alignment) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__IovaRangesRequest ir = IB__V1__IOVA_RANGES_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        const Ib__V1__IovaRangesReply *rr;
        int r;

        assert_return(c && n_ranges && (ranges || *n_ranges == 0), -EINVAL);
        ir.ioas = ioas;
        req.verb_case = IB__V1__REQUEST__VERB_IOVA_RANGES;
        req.iova_ranges = &ir;
        r = client_call(c, &req, NULL, 0, &reply);
        if (r < 0)
                return r;
        r = expect_result(c, reply, IB__V1__REPLY__RESULT_IOVA_RANGES);
        if (r < 0)
                return r;
        rr = reply->iova_ranges;
        if (rr->n_ranges > *n_ranges) {
                *n_ranges = rr->n_ranges;
                return client_fail(c, ENOBUFS, "%zu ranges do not fit", rr->n_ranges);
        }
        for (size_t i = 0; i < rr->n_ranges; i++)
                ranges[i] = (ib_iova_range) { .start = rr->ranges[i]->start, .last = rr->ranges[i]->last };
        *n_ranges = rr->n_ranges;
        if (ret_alignment)
                *ret_alignment = rr->alignment;
        return 0;
}

_public_ int ib_allow_iovas(ib_client *c, uint32_t ioas, const ib_iova_range *ranges, size_t n_ranges) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__AllowIovasRequest ar = IB__V1__ALLOW_IOVAS_REQUEST__INIT;
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        _cleanup_free_ Ib__V1__IovaRange *r = NULL;
        _cleanup_free_ Ib__V1__IovaRange **rp = NULL;

        assert_return(c && (ranges || n_ranges == 0), -EINVAL);
        r = calloc(n_ranges ? n_ranges : 1, sizeof(*r));
        rp = calloc(n_ranges ? n_ranges : 1, sizeof(*rp));
        if (!r || !rp)
                return -ENOMEM;
        for (size_t i = 0; i < n_ranges; i++) {
                ib__v1__iova_range__init(&r[i]);
                r[i].start = ranges[i].start;
                r[i].last = ranges[i].last;
                rp[i] = &r[i];
        }
        ar.ioas = ioas;
        ar.n_ranges = n_ranges;
        ar.ranges = rp;
        req.verb_case = IB__V1__REQUEST__VERB_ALLOW_IOVAS;
        req.allow_iovas = &ar;
        return client_call(c, &req, NULL, 0, &reply);
}

/* Sends a built Map with its fds (none by mem) and waits: *ret_iova is the IOVA used. */
static int map_call(ib_client *c, ReqBuf *b, const int *fds, size_t n_fds, uint64_t *ret_iova) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        int r;

        r = client_call(c, &b->req, fds, n_fds, &reply);
        if (r < 0)
                return r;
        r = expect_result(c, reply, IB__V1__REPLY__RESULT_MAP);
        if (r < 0)
                return r;
        *ret_iova = reply->map->iova;
        return 0;
}

_public_ int ib_map(ib_client *c, uint32_t ioas, int memfd, uint64_t offset, uint64_t length, unsigned flags,
                    uint64_t *iova) {
        ReqBuf b;

        assert_return(c && memfd >= 0 && iova, -EINVAL);
        build_map(&b, ioas, offset, length, flags, *iova);
        return map_call(c, &b, &memfd, 1, iova);
}

_public_ int ib_mem_register(ib_client *c, int memfd, uint32_t *ret_mem) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        ReqBuf b;
        int r;

        assert_return(c && memfd >= 0 && ret_mem, -EINVAL);
        ib__v1__request__init(&b.req);
        ib__v1__mem_register_request__init(&b.u.mem_register);
        b.req.verb_case = IB__V1__REQUEST__VERB_MEM_REGISTER;
        b.req.mem_register = &b.u.mem_register;
        r = client_call(c, &b.req, &memfd, 1, &reply);
        if (r < 0)
                return r;
        r = expect_result(c, reply, IB__V1__REPLY__RESULT_MEM_REGISTER);
        if (r < 0)
                return r;
        *ret_mem = reply->mem_register->mem;
        return 0;
}

_public_ int ib_mem_unregister(ib_client *c, uint32_t mem) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        ReqBuf b;

        assert_return(c, -EINVAL);
        ib__v1__request__init(&b.req);
        ib__v1__mem_unregister_request__init(&b.u.mem_unregister);
        b.u.mem_unregister.mem = mem;
        b.req.verb_case = IB__V1__REQUEST__VERB_MEM_UNREGISTER;
        b.req.mem_unregister = &b.u.mem_unregister;
        return client_call(c, &b.req, NULL, 0, &reply);
}

_public_ int ib_map_mem(ib_client *c, uint32_t ioas, uint32_t mem, uint64_t offset, uint64_t length, unsigned flags,
                        uint64_t iova, uint64_t *ret_iova) {
        ReqBuf b;

        assert_return(c && ret_iova, -EINVAL);
        build_map_mem(&b, ioas, mem, offset, length, flags, iova);
        return map_call(c, &b, NULL, 0, ret_iova);
}

_public_ int ib_unmap(ib_client *c, uint32_t ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        ReqBuf b;
        int r;

        assert_return(c, -EINVAL);
        build_unmap(&b, ioas, iova, length);
        r = client_call(c, &b.req, NULL, 0, &reply);
        if (r < 0)
                return r;
        r = expect_result(c, reply, IB__V1__REPLY__RESULT_UNMAP);
        if (r < 0)
                return r;
        if (ret_unmapped)
                *ret_unmapped = reply->unmap->length;
        return 0;
}

_public_ int ib_copy(ib_client *c, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova, uint64_t length,
                     unsigned flags, uint64_t *dst_iova) {
        _cleanup_(reply_freep) Ib__V1__Reply *reply = NULL;
        ReqBuf b;
        int r;

        assert_return(c && dst_iova, -EINVAL);
        build_copy(&b, dst_ioas, src_ioas, src_iova, length, flags, *dst_iova);
        r = client_call(c, &b.req, NULL, 0, &reply);
        if (r < 0)
                return r;
        r = expect_result(c, reply, IB__V1__REPLY__RESULT_COPY);
        if (r < 0)
                return r;
        *dst_iova = reply->copy->dst_iova;
        return 0;
}

/* ------------------------------------------------------------------ asynchronous */

void client_complete_async(ib_client *c, ib_pending *p, Ib__V1__Reply *reply, int err) {
        ib_result res = { .error = err, .message = "" };

        if (reply) {
                res.error = client_reply_error(c, reply);
                if (res.error < 0)
                        res.message = c->error;
                else
                        switch (reply->result_case) {
                        case IB__V1__REPLY__RESULT_IOAS_ALLOC:
                                res.ioas = reply->ioas_alloc->ioas;
                                break;
                        case IB__V1__REPLY__RESULT_MAP:
                                res.iova = reply->map->iova;
                                break;
                        case IB__V1__REPLY__RESULT_UNMAP:
                                res.length = reply->unmap->length;
                                break;
                        case IB__V1__REPLY__RESULT_COPY:
                                res.iova = reply->copy->dst_iova;
                                break;
                        default:
                                break;
                        }
        } else
                res.message = c->error;
        if (p->cb)
                p->cb(c, &res, p->userdata);
        if (reply)
                reply_free(reply);
}

_public_ int ib_ioas_alloc_async(ib_client *c, const ib_ioas_alloc_args *args, ib_callback cb, void *userdata) {
        ReqBuf b;

        assert_return(c, -EINVAL);
        if (build_ioas_alloc(&b, args) < 0)
                return client_fail(c, EINVAL, "unknown IOVA window %d", args->window);
        return client_submit(c, &b.req, NULL, 0, client_complete_async, cb, userdata, NULL);
}

_public_ int ib_ioas_free_async(ib_client *c, uint32_t ioas, ib_callback cb, void *userdata) {
        ReqBuf b;

        assert_return(c, -EINVAL);
        build_ioas_free(&b, ioas);
        return client_submit(c, &b.req, NULL, 0, client_complete_async, cb, userdata, NULL);
}

_public_ int ib_map_async(ib_client *c, uint32_t ioas, int memfd, uint64_t offset, uint64_t length, unsigned flags,
                          uint64_t iova, ib_callback cb, void *userdata) {
        ReqBuf b;

        assert_return(c && memfd >= 0, -EINVAL);
        build_map(&b, ioas, offset, length, flags, iova);
        return client_submit(c, &b.req, &memfd, 1, client_complete_async, cb, userdata, NULL);
}

_public_ int ib_map_mem_async(ib_client *c, uint32_t ioas, uint32_t mem, uint64_t offset, uint64_t length,
                              unsigned flags, uint64_t iova, ib_callback cb, void *userdata) {
        ReqBuf b;
        int r;

        assert_return(c, -EINVAL);
        r = client_coalesce(c, &(BundleOp) { .is_map = true, .ioas = ioas, .mem = mem, .offset = offset,
                                             .length = length, .flags = flags, .iova = iova, .cb = cb,
                                             .userdata = userdata });
        if (r != 0)
                return r < 0 ? r : 0;
        build_map_mem(&b, ioas, mem, offset, length, flags, iova);
        return client_submit(c, &b.req, NULL, 0, client_complete_async, cb, userdata, NULL);
}

_public_ int ib_unmap_async(ib_client *c, uint32_t ioas, uint64_t iova, uint64_t length, ib_callback cb,
                            void *userdata) {
        ReqBuf b;
        int r;

        assert_return(c, -EINVAL);
        r = client_coalesce(c, &(BundleOp) { .is_map = false, .ioas = ioas, .iova = iova, .length = length,
                                             .cb = cb, .userdata = userdata });
        if (r != 0)
                return r < 0 ? r : 0;
        build_unmap(&b, ioas, iova, length);
        return client_submit(c, &b.req, NULL, 0, client_complete_async, cb, userdata, NULL);
}

_public_ int ib_copy_async(ib_client *c, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova, uint64_t length,
                           unsigned flags, uint64_t dst_iova, ib_callback cb, void *userdata) {
        ReqBuf b;

        assert_return(c, -EINVAL);
        build_copy(&b, dst_ioas, src_ioas, src_iova, length, flags, dst_iova);
        return client_submit(c, &b.req, NULL, 0, client_complete_async, cb, userdata, NULL);
}

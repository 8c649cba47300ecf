/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dispatch.c - the verb table, the index of the protocol.
 *
 * Owns: which verbs exist, how many fds each takes, which need Hello first,
 * and the rule for bad input: every request that arrives gets exactly one
 * reply, an error reply if it is malformed, oversized, carries the wrong fds
 * or is refused; its fds are closed unless a handler took them; the session
 * goes on.  Also which requests wait for their kernel calls off the loop
 * (request_pin_bytes(): a Map, Copy, Unmap or Batch of at least the host's
 * offload_min_bytes, an IoasFree, attach, detach or HwptAlloc where that
 * much is mapped, a DeviceOpen or DeviceClose, runs in a coroutine,
 * util/offload.h); the
 * one-reply rule holds for them too, and a session that ended meanwhile
 * gets none.
 * Adding a verb = a handler in core/verb-<family>.c + a line here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errno-name.h"
#include "common/protocol.h"
#include "core/batch-ops.h"
#include "core/call.h"
#include "core/dispatch.h"
#include "core/persist.h"
#include "core/session.h"
#include "core/verbs.h"
#include "util/log.h"
#include "util/crashpoint.h"
#include "util/offload.h"
#include "wire/codec.h"

typedef struct Verb {
        Ib__V1__Request__VerbCase verb;
        const char *name;
        unsigned min_fds;
        unsigned max_fds;
        unsigned reply_fds;             /* fds its reply carries: reserved before the handler runs */
        bool needs_hello;
        int (*handler)(Call *c);
        bool objects;                   /* on success its session's objects are written again (core/persist.h) */
} Verb;

static const Verb verbs[] = {
        { IB__V1__REQUEST__VERB_HELLO,       "Hello",           0, 0, 0, false, verb_hello },
        { IB__V1__REQUEST__VERB_CAPS,        "GetCapabilities", 0, 0, 0, true,  verb_caps },
        { IB__V1__REQUEST__VERB_IOAS_ALLOC,  "IoasAlloc",       0, 0, 0, true,  verb_ioas_alloc, true },
        { IB__V1__REQUEST__VERB_IOAS_FREE,   "IoasFree",        0, 0, 0, true,  verb_ioas_free, true },
        { IB__V1__REQUEST__VERB_IOVA_RANGES, "IoasIovaRanges",  0, 0, 0, true,  verb_iova_ranges },
        { IB__V1__REQUEST__VERB_ALLOW_IOVAS, "IoasAllowIovas",  0, 0, 0, true,  verb_allow_iovas, true },
        { IB__V1__REQUEST__VERB_MEM_REGISTER,   "MemRegister",   1, 1, 0, true,  verb_mem_register, true },
        { IB__V1__REQUEST__VERB_MEM_UNREGISTER, "MemUnregister", 0, 0, 0, true,  verb_mem_unregister, true },
        { IB__V1__REQUEST__VERB_MAP,         "Map",             0, 1, 0, true,  verb_map },     /* 1 fd, or mem */
        { IB__V1__REQUEST__VERB_UNMAP,       "Unmap",           0, 0, 0, true,  verb_unmap },
        { IB__V1__REQUEST__VERB_COPY,        "Copy",            0, 0, 0, true,  verb_copy },
        { IB__V1__REQUEST__VERB_BATCH,       "Batch",           0, IB_MAX_FDS_PER_MESSAGE, 0, true, verb_batch },
        { IB__V1__REQUEST__VERB_DEVICE_LIST,   "DeviceList",    0, 0, 0, true,  verb_device_list },
        { IB__V1__REQUEST__VERB_DEVICE_OPEN,   "DeviceOpen",    0, 0, 1, true,  verb_device_open, true },
        { IB__V1__REQUEST__VERB_DEVICE_ATTACH, "DeviceAttach",  0, 0, 0, true,  verb_device_attach, true },
        { IB__V1__REQUEST__VERB_DEVICE_DETACH, "DeviceDetach",  0, 0, 0, true,  verb_device_detach, true },
        { IB__V1__REQUEST__VERB_DEVICE_CLOSE,  "DeviceClose",   0, 0, 0, true,  verb_device_close, true },
        { IB__V1__REQUEST__VERB_HW_INFO,       "HwInfo",        0, 0, 0, true,  verb_hw_info },
        { IB__V1__REQUEST__VERB_DEVICE_DELEGATE, "DeviceDelegate", 0, 1, 1 + IB_MAX_DELEGATE_DEVICES, true, verb_device_delegate },
        { IB__V1__REQUEST__VERB_HWPT_ALLOC,    "HwptAlloc",     0, 0, 0, true,  verb_hwpt_alloc, true },
        { IB__V1__REQUEST__VERB_HWPT_FREE,     "HwptFree",      0, 0, 0, true,  verb_hwpt_free, true },
        { IB__V1__REQUEST__VERB_HWPT_SET_DIRTY_TRACKING, "HwptSetDirtyTracking", 0, 0, 0, true, verb_hwpt_set_dirty_tracking },
        { IB__V1__REQUEST__VERB_HWPT_GET_DIRTY_BITMAP,   "HwptGetDirtyBitmap",   0, 0, 1, true, verb_hwpt_get_dirty_bitmap },
        { IB__V1__REQUEST__VERB_HWPT_INVALIDATE,         "HwptInvalidate",       0, 0, 0, true, verb_hwpt_invalidate },
        { IB__V1__REQUEST__VERB_FAULT_QUEUE_ALLOC,       "FaultQueueAlloc",      0, 0, 1, true, verb_fault_queue_alloc, true },
        { IB__V1__REQUEST__VERB_FAULT_QUEUE_FREE,        "FaultQueueFree",       0, 0, 0, true, verb_fault_queue_free, true },
        { IB__V1__REQUEST__VERB_PASID_ATTACH,  "PasidAttach",   0, 0, 0, true,  verb_pasid_attach, true },
        { IB__V1__REQUEST__VERB_PASID_DETACH,  "PasidDetach",   0, 0, 0, true,  verb_pasid_detach, true },
        { IB__V1__REQUEST__VERB_PASID_LOOKUP,  "PasidLookup",   0, 0, 0, true,  verb_pasid_lookup },
        { IB__V1__REQUEST__VERB_VIOMMU_ALLOC,  "ViommuAlloc",   0, 0, 0, true,  verb_viommu_alloc, true },
        { IB__V1__REQUEST__VERB_VDEVICE_ALLOC, "VdeviceAlloc",  0, 0, 0, true,  verb_vdevice_alloc, true },
        { IB__V1__REQUEST__VERB_VIOMMU_FREE,   "ViommuFree",    0, 0, 0, true,  verb_viommu_free, true },
        { IB__V1__REQUEST__VERB_VDEVICE_FREE,  "VdeviceFree",   0, 0, 0, true,  verb_vdevice_free, true },
};

static const Verb *verb_find(Ib__V1__Request__VerbCase v) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (verbs[i].verb == v)
                        return &verbs[i];
        return NULL;
}

/* The reply's bytes, in buf if they fit (an EMSGSIZE error in their place if they would not fit a datagram). */
static int encode_reply(const Ib__V1__Reply *reply, uint8_t *buf, size_t buf_size, uint8_t **ret, size_t *ret_size) {
        int r;

        r = codec_encode_reply_to(reply, buf, buf_size, ret, ret_size);
        if (r == -EMSGSIZE) {
                Ib__V1__Reply err = IB__V1__REPLY__INIT;

                err.id = reply->id;
                err.has_errnum = true;
                err.errnum = EMSGSIZE;
                err.errno_name = (char *) "EMSGSIZE";
                err.error = (char *) "the reply would exceed the message size limit";
                r = codec_encode_reply_to(&err, buf, buf_size, ret, ret_size);
        }
        return r;
}

/*
 * The objects a verb of the table that changes objects (Verb.objects) can
 * have made, changed or freed: what its request names and, when it made
 * one, what its reply names.  The state file records just those after it
 * (core/persist.h: an OBJECTS_DELTA record), so that a request costs the
 * same whatever else the session holds.  One owner for this fact: a verb
 * that comes to change another object must name it here, or the restart
 * after it would restore that object as it was.  How many it names (the
 * request may have made none), or -1 for a verb not listed: all of them.
 */
static ssize_t verb_touched(const Ib__V1__Request *req, const Ib__V1__Reply *reply, PersistObjectRef *ret) {
        uint32_t kind, id;

        switch (req->verb_case) {
        case IB__V1__REQUEST__VERB_IOAS_FREE:
                kind = PERSIST_KIND_IOAS, id = req->ioas_free->ioas;
                break;
        case IB__V1__REQUEST__VERB_ALLOW_IOVAS:
                kind = PERSIST_KIND_IOAS, id = req->allow_iovas->ioas;
                break;
        case IB__V1__REQUEST__VERB_MEM_UNREGISTER:
                kind = PERSIST_KIND_MEMREG, id = req->mem_unregister->mem;
                break;
        case IB__V1__REQUEST__VERB_DEVICE_ATTACH:
                kind = PERSIST_KIND_DEVICE, id = req->device_attach->dev_id;
                break;
        case IB__V1__REQUEST__VERB_DEVICE_DETACH:
                kind = PERSIST_KIND_DEVICE, id = req->device_detach->dev_id;
                break;
        case IB__V1__REQUEST__VERB_DEVICE_CLOSE:
                kind = PERSIST_KIND_DEVICE, id = req->device_close->dev_id;
                break;
        case IB__V1__REQUEST__VERB_PASID_ATTACH:
                kind = PERSIST_KIND_DEVICE, id = req->pasid_attach->dev_id;
                break;
        case IB__V1__REQUEST__VERB_PASID_DETACH:
                kind = PERSIST_KIND_DEVICE, id = req->pasid_detach->dev_id;
                break;
        case IB__V1__REQUEST__VERB_HWPT_FREE:
                kind = PERSIST_KIND_HWPT, id = req->hwpt_free->hwpt_id;
                break;
        case IB__V1__REQUEST__VERB_FAULT_QUEUE_FREE:
                kind = PERSIST_KIND_FAULT, id = req->fault_queue_free->fault_id;
                break;
        case IB__V1__REQUEST__VERB_VIOMMU_FREE:
                kind = PERSIST_KIND_VIOMMU, id = req->viommu_free->viommu_id;
                break;
        case IB__V1__REQUEST__VERB_VDEVICE_FREE:
                kind = PERSIST_KIND_VDEVICE, id = req->vdevice_free->vdevice_id;
                break;
        /* those that make one name it in their reply, if they made it */
        case IB__V1__REQUEST__VERB_IOAS_ALLOC:
                if (reply->result_case != IB__V1__REPLY__RESULT_IOAS_ALLOC)
                        return 0;
                kind = PERSIST_KIND_IOAS, id = reply->ioas_alloc->ioas;
                break;
        case IB__V1__REQUEST__VERB_MEM_REGISTER:
                if (reply->result_case != IB__V1__REPLY__RESULT_MEM_REGISTER)
                        return 0;
                kind = PERSIST_KIND_MEMREG, id = reply->mem_register->mem;
                break;
        case IB__V1__REQUEST__VERB_DEVICE_OPEN:
                if (reply->result_case != IB__V1__REPLY__RESULT_DEVICE_OPEN)
                        return 0;
                kind = PERSIST_KIND_DEVICE, id = reply->device_open->dev_id;
                break;
        case IB__V1__REQUEST__VERB_HWPT_ALLOC:
                if (reply->result_case != IB__V1__REPLY__RESULT_HWPT_ALLOC)
                        return 0;
                kind = PERSIST_KIND_HWPT, id = reply->hwpt_alloc->hwpt_id;
                break;
        case IB__V1__REQUEST__VERB_FAULT_QUEUE_ALLOC:
                if (reply->result_case != IB__V1__REPLY__RESULT_FAULT_QUEUE_ALLOC)
                        return 0;
                kind = PERSIST_KIND_FAULT, id = reply->fault_queue_alloc->fault_id;
                break;
        case IB__V1__REQUEST__VERB_VIOMMU_ALLOC:
                if (reply->result_case != IB__V1__REPLY__RESULT_VIOMMU_ALLOC)
                        return 0;
                kind = PERSIST_KIND_VIOMMU, id = reply->viommu_alloc->viommu_id;
                break;
        case IB__V1__REQUEST__VERB_VDEVICE_ALLOC:
                if (reply->result_case != IB__V1__REPLY__RESULT_VDEVICE_ALLOC)
                        return 0;
                kind = PERSIST_KIND_VDEVICE, id = reply->vdevice_alloc->vdevice_id;
                break;
        default:
                return -1;      /* a verb not listed here: all the session's objects are written */
        }
        ret[0] = (PersistObjectRef) { .kind = kind, .id = id };
        return 1;
}

/* A reply of up to this many bytes (any Map's or Unmap's, a Batch's of a few dozen ops) is packed on the stack. */
#define REPLY_ON_STACK 2048

/*
 * Sends the reply; objects: its verb (of request req) changed the session's
 * objects, whose record (with the reply in it) is written before the reply
 * leaves, so that a restart after it finds both (core/persist.h).
 */
static void send_reply_full(Session *s, const Ib__V1__Reply *reply, const int *fds, size_t n_fds, Charge *fds_charge,
                            const Ib__V1__Request *req, bool objects) {
        PersistObjectRef touched[1];
        ssize_t n_touched = objects ? verb_touched(req, reply, touched) : 0;
        const PersistObjectRef *refs = n_touched >= 0 ? touched : NULL;        /* NULL: all of them */
        uint8_t small[REPLY_ON_STACK], *buf = NULL;
        _cleanup_free_ uint8_t *big = NULL;
        size_t size;
        int r;

        r = encode_reply(reply, small, sizeof(small), &buf, &size);
        if (r >= 0 && buf != small)
                big = buf;
        if (objects)
                persist_objects(s->host->persist, s, refs, refs ? (size_t) n_touched : 0, reply->id,
                                r >= 0 ? buf : NULL, r >= 0 ? size : 0, n_fds);
        crash_point("handled");
        if (r >= 0)
                r = transport_send(&s->transport, buf, size, fds, n_fds, fds_charge);
        if (r >= 0)             /* a reply the socket did not take yet is the slot's, for a restart */
                persist_request_replied(s->host->persist, s, transport_queued(&s->transport) > 0, buf, size,
                                        n_fds);
        crash_point("replied");
        if (r >= 0 || r == -EPIPE || r == -ECONNRESET)
                return;         /* sent, or the peer is gone (its hang-up ends the session) */
        if (n_fds > 0) {
                /*
                 * The fds were reserved before the handler ran, so this is
                 * ENOMEM: the client still gets its one reply, an error.
                 */
                log_warning_errno(r, "%s: cannot send reply %" PRIu64 " with its fd: %m", s->name, reply->id);
                dispatch_send_error(s, reply->id, r, "the broker could not send the reply's file descriptor");
                return;
        }
        log_debug_errno(r, "%s: cannot send reply %" PRIu64 ": %m", s->name, reply->id);
}

static void send_reply(Session *s, const Ib__V1__Reply *reply, const int *fds, size_t n_fds, Charge *fds_charge) {
        send_reply_full(s, reply, fds, n_fds, fds_charge, NULL, false);
}

/*
 * Reserves n fd slots (n <= IB_MAX_FDS_PER_MESSAGE) by duplicating the
 * session's socket: the reply's fds are duplicated when it is queued, and a
 * handler must not create an object whose fd could then not be sent.  The
 * loop is single-threaded, so closing the placeholders right before the
 * reply is queued frees exactly the slots the duplicates take.
 */
static int reserve_fds(Session *s, int *ret, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                ret[i] = fcntl(s->transport.fd, F_DUPFD_CLOEXEC, 3);
                if (ret[i] < 0) {
                        int r = -errno;

                        while (i > 0)
                                safe_close(ret[--i]);
                        return r;
                }
        }
        return 0;
}

static void release_fds(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}

static void reply_error(Ib__V1__Reply *reply, int err, const char *message) {
        if (err < 0)
                err = -err;
        reply->result_case = IB__V1__REPLY__RESULT__NOT_SET;
        reply->has_errnum = true;
        reply->errnum = err;
        reply->errno_name = (char *) errno_to_name(err);        /* absent when unnamed: errnum says it */
        reply->error = (char *) message;
}

void dispatch_send_error(Session *s, uint64_t id, int err, const char *message) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;

        reply.id = id;
        reply_error(&reply, err, message);
        send_reply(s, &reply, NULL, 0, NULL);
}

/* A decoded request on its way through its verb: on the loop's stack, or in a coroutine (util/offload.h). */
typedef struct Dispatch {
        Session *session;
        Ib__V1__Request *req;
        FdList *fds;
        unsigned flags;
} Dispatch;

/* Saturating sum of the lengths: past UINT64_MAX it stays there. */
static uint64_t add_sat(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/*
 * The bytes mapped in the IOAS under page table pt_id: an IOAS, or a HWPT
 * whose parent is one.  0 for a nested HWPT, two steps from its IOAS (the
 * kernel fills or walks the parent's table, not a nested one: the dirty
 * verbs refuse it at once), and for an id that names neither.
 */
static uint64_t pt_mapped_bytes(Session *s, uint32_t pt_id) {
        for (unsigned depth = 0; pt_id != 0 && depth < 2; depth++) {
                Ioas *ioas = session_find(s, Ioas, pt_id);
                Hwpt *h;

                if (ioas)
                        return ioas->mapped_bytes;
                h = session_find(s, Hwpt, pt_id);
                pt_id = h ? h->pt_id : 0;
        }
        return 0;
}

/*
 * How many bytes a request may pin, unpin or walk in the kernel: a Map,
 * Copy, Unmap or Batch of them; an IoasFree (the kernel unpins what the
 * IOAS holds); a HwptAlloc (the kernel may fill a page table from what the
 * IOAS holds); HwptSetDirtyTracking and HwptGetDirtyBitmap (the kernel
 * walks the page table over what is mapped).  UINT64_MAX, whatever is
 * mapped, for DeviceOpen and DeviceClose (opening a device powers it up and
 * may reset it), DeviceList and DeviceDelegate (they probe quarantined
 * devices by binding them), and DeviceAttach, DeviceDetach, PasidAttach and
 * PasidDetach: besides filling or emptying a page table, the kernel
 * programs the IOMMU's context or PASID entry and waits for its cache
 * invalidations, the device's too where it caches translations, for as
 * long as the hardware takes (3.6 ms of an attach to an empty IOAS, on
 * the loop, in the QEMU guest).
 */
static uint64_t request_pin_bytes(Session *s, const Ib__V1__Request *req) {
        uint64_t n = 0;

        switch (req->verb_case) {
        case IB__V1__REQUEST__VERB_IOAS_FREE:
                return pt_mapped_bytes(s, req->ioas_free->ioas);
        case IB__V1__REQUEST__VERB_DEVICE_OPEN:
        case IB__V1__REQUEST__VERB_DEVICE_CLOSE:
        case IB__V1__REQUEST__VERB_DEVICE_LIST:
        case IB__V1__REQUEST__VERB_DEVICE_DELEGATE:
                /*
                 * a bind, the probe bind after the close, or the probes of
                 * quarantined devices a listing or delegation makes: the
                 * kernel powers a device up, and may reset it, to bind it
                 */
        case IB__V1__REQUEST__VERB_DEVICE_ATTACH:
        case IB__V1__REQUEST__VERB_DEVICE_DETACH:
        case IB__V1__REQUEST__VERB_PASID_ATTACH:
        case IB__V1__REQUEST__VERB_PASID_DETACH:
                /* the IOMMU's entries programmed and its caches invalidated, however long the hardware takes */
                return UINT64_MAX;
        case IB__V1__REQUEST__VERB_HWPT_ALLOC:
                return pt_mapped_bytes(s, req->hwpt_alloc->pt_id);
        case IB__V1__REQUEST__VERB_HWPT_SET_DIRTY_TRACKING:
                /* enabling clears the dirty bits of all that is mapped: a walk of the page table */
                return pt_mapped_bytes(s, req->hwpt_set_dirty_tracking->hwpt_id);
        case IB__V1__REQUEST__VERB_HWPT_GET_DIRTY_BITMAP:
                /* a walk of what is mapped in the range (at most all of it), as often as a migration asks */
                return pt_mapped_bytes(s, req->hwpt_get_dirty_bitmap->hwpt_id);
        case IB__V1__REQUEST__VERB_MAP:
                return req->map->length;
        case IB__V1__REQUEST__VERB_COPY:
                return req->copy->length;
        case IB__V1__REQUEST__VERB_UNMAP:
                return req->unmap->length;
        case IB__V1__REQUEST__VERB_BATCH:
                if (batch_is_packed(req->batch)) {
                        /* malformed words are the verb's EINVAL; counted as they come, they only move the thread */
                        for (size_t i = 0; i < req->batch->n_packed_ops / IB_PACKED_WORDS; i++)
                                n = add_sat(n, batch_packed_length(req->batch, i));
                        return n;
                }
                for (size_t i = 0; i < req->batch->n_ops; i++) {
                        const Ib__V1__BatchOp *op = req->batch->ops[i];

                        if (op->op_case == IB__V1__BATCH_OP__OP_MAP)
                                n = add_sat(n, op->map->length);
                        else if (op->op_case == IB__V1__BATCH_OP__OP_UNMAP)
                                n = add_sat(n, op->unmap->length);
                }
                return n;
        default:
                return 0;
        }
}

/* The verb, its checks, the handler and the one reply; frees the request and its fds. */
static void dispatch_run(void *userdata) {
        Dispatch *d = userdata;
        Session *s = d->session;
        _cleanup_(fdlist_freep) FdList *fds = d->fds;
        Ib__V1__Request *req = d->req;
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Call call;
        const Account *over = NULL;
        int reserved[IB_MAX_FDS_PER_MESSAGE];
        const Verb *v;
        int r;

        call_init(&call, s);
        reply.id = req->id;
        call.request = req;
        call.fds = fds;
        call.reply = &reply;

        v = verb_find(req->verb_case);
        if (!v) {
                if (req->verb_case == IB__V1__REQUEST__VERB__NOT_SET && req->base.n_unknown_fields > 0)
                        r = call_fail(&call, EOPNOTSUPP, "unknown verb (field %u): this broker speaks protocol v%u",
                                      req->base.unknown_fields[0].tag, IB_PROTOCOL_VERSION);
                else
                        r = call_fail(&call, EBADMSG, "request names no verb");
        } else if (d->flags & TRANSPORT_FDS_TRUNCATED)
                r = call_fail(&call, EBADF, "more than %u file descriptors in one message", IB_MAX_FDS_PER_MESSAGE);
        else if (d->flags & TRANSPORT_FOREIGN_CMSG)
                r = call_fail(&call, EBADMSG, "unexpected ancillary data: only SCM_RIGHTS is accepted");
        else if (v->needs_hello && !s->hello)
                r = call_fail(&call, EPROTO, "%s before Hello: send Hello first", v->name);
        else if (fdlist_count(fds) < v->min_fds || fdlist_count(fds) > v->max_fds) {
                if (v->min_fds == v->max_fds)
                        r = call_fail(&call, EBADF, "%s takes %u file descriptor%s, got %zu", v->name,
                                      v->min_fds, v->min_fds == 1 ? "" : "s", fdlist_count(fds));
                else
                        r = call_fail(&call, EBADF, "%s takes %u to %u file descriptors, got %zu", v->name,
                                      v->min_fds, v->max_fds, fdlist_count(fds));
        } else if (v->reply_fds > 0 &&
                   (r = charge_take(&call.reply_fds_charge, &s->account, ACCOUNT_FDS, v->reply_fds, &over)) < 0) {
                r = call_fail_quota(&call, over);
        } else if (v->reply_fds > 0 && (r = reserve_fds(s, reserved, v->reply_fds)) < 0) {
                r = call_fail(&call, r, "%s needs a file descriptor for its reply and the broker has none left (%s): "
                              "nothing was done", v->name, strerror(-r));
        } else {
                r = v->handler(&call);
                if (r < 0 && call.error[0] == '\0')
                        (void) call_fail(&call, r, "%s failed: %s", v->name, strerror(-r));
                release_fds(reserved, v->reply_fds);
        }

        if (r < 0) {
                log_debug("%s: %s id %" PRIu64 ": %s", s->name, v ? v->name : "?", req->id, call.error);
                reply_error(&reply, r, call.error);
                call.n_reply_fds = 0;
        }
        /* a session that ended while its request waited gets no reply: its connection is closed */
        if (!s->free_pending)
                send_reply_full(s, &reply, call.reply_fds, call.n_reply_fds,
                                call.n_reply_fds > 0 ? &call.reply_fds_charge : NULL, req, v && v->objects);
        charge_release(&call.reply_fds_charge);        /* unless the queued reply took it over */
        call_done(&call);
        codec_request_free(req);
}

/* A request that waited off the loop is done: its session reads again (or is freed, if it ended). */
static void dispatch_waited(void *userdata) {
        Dispatch *d = userdata;
        Session *s = d->session;

        free(d);
        session_request_done(s);
}

void dispatch_message(Session *s, const uint8_t *data, size_t size, FdList *fds_in, unsigned flags) {
        _cleanup_(fdlist_freep) FdList *fds = fds_in;
        Ib__V1__Request *req = NULL;
        Dispatch d, *waiting;
        char msg[256];
        int r;

        if (flags & TRANSPORT_TRUNCATED) {
                (void) snprintf(msg, sizeof(msg), "message of %zu bytes exceeds the limit of %u bytes",
                                size, IB_MAX_MESSAGE_SIZE);
                log_debug("%s: %s", s->name, msg);
                dispatch_send_error(s, 0, EMSGSIZE, msg);
                return;
        }
        r = codec_decode_request(data, size, &req);
        if (r < 0) {
                log_debug("%s: undecodable message of %zu bytes", s->name, size);
                dispatch_send_error(s, 0, EBADMSG, "malformed message: not a protocol v1 Request");
                return;
        }
        d = (Dispatch) { .session = s, .req = req, .fds = TAKE_PTR(fds), .flags = flags };
        s->last_request_id = req->id;
        persist_request_begin(s->host->persist, s, req->id, data, size);
        crash_point("read");

        /*
         * A request that may pin or unpin a lot runs in a coroutine: at its
         * kernel call it waits off the loop, and the session reads nothing more
         * until it is done (util/offload.h).  Everything else runs here.
         */
        if (s->host->offload_min_bytes > 0 && request_pin_bytes(s, req) >= s->host->offload_min_bytes) {
                waiting = malloc(sizeof(*waiting));
                if (waiting) {
                        *waiting = d;
                        r = offload_spawn(dispatch_run, dispatch_waited, waiting);
                        if (r > 0)
                                session_request_waits(s);
                        if (r >= 0) {
                                if (r == 0)
                                        free(waiting);
                                return;
                        }
                        free(waiting);  /* no coroutine: it runs here */
                }
        }
        dispatch_run(&d);
}

void dispatch_refuse(Session *s, const uint8_t *data, size_t size, FdList *fds_in, const char *reason) {
        _cleanup_(fdlist_freep) FdList *fds = fds_in;
        Ib__V1__Request *req = NULL;
        uint64_t id = 0;

        if (codec_decode_request(data, size, &req) >= 0) {
                id = req->id;
                codec_request_free(req);
        }
        dispatch_send_error(s, id, s->deny_errno > 0 ? s->deny_errno : EACCES, reason);
}

const SessionServer dispatch_server = {
        .message = dispatch_message,
        .refuse = dispatch_refuse,
        .send_error = dispatch_send_error,
};

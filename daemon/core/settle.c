/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * settle.c - answering the request a crash interrupted, exactly once.
 *
 * The rules, verb by verb, and why they leave records and kernel in
 * agreement: the Theory of Operation in core/recover.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/errno-name.h"
#include "common/protocol.h"
#include "core/batch-ops.h"
#include "core/settle.h"
#include "util/log.h"
#include "wire/codec.h"

static void reply_init(Ib__V1__Reply *reply, uint64_t id) {
        ib__v1__reply__init(reply);
        reply->id = id;
}

static void set_not_applied(Ib__V1__Reply *reply, const char *what) {
        reply->has_errnum = true;
        reply->errnum = ECANCELED;
        reply->errno_name = (char *) "ECANCELED";
        reply->error = (char *) what;
        reply->has_not_applied = true;
        reply->not_applied = true;
}

#define NOT_APPLIED "the broker restarted before this request changed anything: it was not applied; send it again"

/* Sends the answer to the settled request; the slot keeps it while it waits (a second restart sends it again). */
static int send_bytes(Session *s, const uint8_t *buf, size_t size) {
        int r = transport_send(&s->transport, buf, size, NULL, 0, NULL);

        if (r >= 0)
                persist_request_replied(s->host->persist, s, transport_queued(&s->transport) > 0, buf, size, 0);
        return r;
}

static int send_reply(Session *s, const Ib__V1__Reply *reply) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size;
        int r;

        r = codec_encode_reply(reply, &buf, &size);
        if (r < 0)
                return r;
        return send_bytes(s, buf, size);
}


/* Unmaps from the kernel what it may hold of a map that has no record: a fixed range, or every gap. */
static void sweep_unrecorded(Session *s, Ioas *ioas, bool fixed, uint64_t iova, uint64_t length) {
        uint64_t unmapped = 0, next = 0, last;

        if (fixed) {
                if (iova_last(iova, length, &last) < 0 || itree_first_in(&ioas->maps, iova, last))
                        return;
                (void) backend_unmap(s->ctx, ioas->id, iova, length, &unmapped);
                return;
        }
        for (ITreeNode *n = itree_first(&ioas->maps);; n = itree_next(n)) {
                uint64_t gap_last = n ? n->start - 1 : IOVA_MAX;

                /* the whole space (no record at all) is 2^64 bytes: the kernel's "everything", 0 and 2^64-1 */
                if (!n || n->start > next)
                        (void) backend_unmap(s->ctx, ioas->id, next, gap_last - next + 1 ?: UINT64_MAX, &unmapped);
                if (!n || n->last == IOVA_MAX)
                        break;
                next = n->last + 1;
        }
}

typedef struct OpOutcome {
        int err;                        /* 0, an errno, or -1: not applied */
        uint64_t value;
        const char *error;
} OpOutcome;

static OpOutcome settle_map(RecSession *r, const Ib__V1__MapRequest *m, bool applied, uint64_t applied_iova) {
        Ioas *ioas = session_find(r->s, Ioas, m->ioas);

        if (applied)
                return (OpOutcome) { .value = applied_iova };
        if (ioas)
                sweep_unrecorded(r->s, ioas, m->has_iova, m->iova, m->length);
        return (OpOutcome) { .err = -1 };
}

static OpOutcome settle_unmap(RecSession *r, const Ib__V1__UnmapRequest *u, bool applied, uint64_t bytes) {
        Ioas *ioas = session_find(r->s, Ioas, u->ioas);
        uint64_t last, unmapped = 0;
        int q;

        if (applied)
                return (OpOutcome) { .value = bytes };
        if (!ioas)
                return (OpOutcome) { .err = ENOENT, .error = "no such IOAS" };
        if ((u->iova == 0 && u->length == UINT64_MAX) || iova_last(u->iova, u->length, &last) < 0)
                last = IOVA_MAX;
        for (ITreeNode *n = itree_first_in(&ioas->maps, u->iova, last); n && n->start <= last; n = itree_next(n))
                if (n->start < u->iova || n->last > last)
                        return (OpOutcome) { .err = ENOENT, .error = "the range does not cover whole mappings" };
        if (!itree_first_in(&ioas->maps, u->iova, last))
                return (OpOutcome) { .err = ENOENT, .error = "the range does not cover whole mappings" };
        q = backend_unmap(r->s->ctx, ioas->id, u->iova, u->length, &unmapped);
        if (q < 0 && q != -ENOENT)
                return (OpOutcome) { .err = -q, .error = "the kernel refused the unmap" };
        ioas_forget_mappings(ioas, u->iova, last, &bytes);
        persist_unmap(r->s->host->persist, r->s, ioas->id, ioas->serial, u->iova, last);
        return (OpOutcome) { .value = bytes };
}

/* Whether a request cut short by the crash left nothing the restarted broker holds: it is sent again. */
static bool request_leaves_nothing(Ib__V1__Request__VerbCase v) {
        switch (v) {
        case IB__V1__REQUEST__VERB_CAPS:
        case IB__V1__REQUEST__VERB_IOVA_RANGES:
        case IB__V1__REQUEST__VERB_DEVICE_LIST:
        case IB__V1__REQUEST__VERB_HW_INFO:
        case IB__V1__REQUEST__VERB_PASID_LOOKUP:
        case IB__V1__REQUEST__VERB_HELLO:
                return true;
        case IB__V1__REQUEST__VERB_DEVICE_DELEGATE:
                /*
                 * Its claim on the devices and the fds it opened were the dead
                 * broker's alone (delegations are not kept across a restart),
                 * and no fd went out; the target's RLIMIT_MEMLOCK may have been
                 * set, and the retry sets it again.
                 */
                return true;
        default:
                return false;
        }
}

static void set_result_error(Ib__V1__BatchResult *res, const OpOutcome *o) {
        res->result_case = IB__V1__BATCH_RESULT__RESULT__NOT_SET;
        res->has_errnum = true;
        if (o->err < 0) {
                res->errnum = ECANCELED;
                res->errno_name = (char *) "ECANCELED";
                res->error = (char *) NOT_APPLIED;
                res->has_not_applied = true;
                res->not_applied = true;
        } else {
                res->errnum = o->err;
                res->errno_name = (char *) errno_to_name(o->err);
                res->error = (char *) (o->error ?: strerror(o->err));
        }
}

/* The ids of kernel objects the records name (an automatic HWPT is named by the device attached to it). */
static bool recorded_id(Session *s, uint32_t id) {
        Device *d;

        if (session_find(s, Ioas, id) || session_find(s, Hwpt, id) || session_find(s, FaultQueue, id) ||
            session_find(s, Viommu, id) || session_find(s, Vdevice, id))
                return true;
        LIST_FOREACH(d, &s->objects[SESSION_DEVICE], link)
                if (d->dev_id == id || (d->pt_id && d->hwpt_id == id))
                        return true;
        return false;
}

static uint32_t max_u32(uint32_t a, uint32_t b) {
        return a > b ? a : b;
}

static uint32_t highest_recorded_id(Session *s) {
        uint32_t max = 0;
        Ioas *ioas;
        Device *d;

        LIST_FOREACH(ioas, &s->objects[SESSION_IOAS], link)
                max = max_u32(max, ioas->id);
        LIST_FOREACH(d, &s->objects[SESSION_DEVICE], link)
                max = max_u32(max, max_u32(d->dev_id, d->hwpt_id));
        for (SessionKind k = SESSION_VDEVICE; k <= SESSION_FAULT_QUEUE; k++) {
                if (k == SESSION_DEVICE)
                        continue;
                LIST_FOREACH_LINK(l, &s->objects[k])
                        max = max_u32(max, session_kind_id(k, l));
        }
        return max;
}

/* Brings the kernel back to the records after an object verb that left no record (see the top). */
static void reconcile_objects(Session *s) {
        uint32_t top;
        Device *d;

        LIST_FOREACH(d, &s->objects[SESSION_DEVICE], link) {
                uint32_t hwpt = 0;
                PasidEntry *e;

                if (d->pt_id && backend_device_attach(s->ctx, d->fd, d->dev_id, BACKEND_NO_PASID, d->pt_id, &hwpt) >= 0)
                        d->hwpt_id = hwpt;
                else if (!d->pt_id)
                        (void) backend_device_detach(s->ctx, d->fd, d->dev_id, BACKEND_NO_PASID);
                LIST_FOREACH(e, &d->pasids.entries, link)
                        (void) backend_device_attach(s->ctx, d->fd, d->dev_id, e->pasid, e->pt_id, &hwpt);
        }
        /* one request makes at most a few objects (an IOAS and its automatic HWPT, a device) */
        top = highest_recorded_id(s) + 8;
        for (unsigned pass = 0; s->ctx && pass < 2; pass++)
                for (uint32_t id = 1; id <= top; id++)
                        if (!recorded_id(s, id))
                                (void) backend_destroy(s->ctx, id);
}

/* Whether the kernel still has IOAS ioas. */
static bool ioas_in_kernel(Session *s, Ioas *ioas) {
        IovaRange ranges[1];
        size_t n = ELEMENTSOF(ranges);
        uint64_t alignment;
        int q = backend_iova_ranges(s->ctx, ioas->id, ranges, &n, &alignment);

        return q != -ENOENT;
}

static void reply_empty(Ib__V1__Reply *reply, Ib__V1__Reply__ResultCase rc, void *result) {
        reply->result_case = rc;
        switch (rc) {
        case IB__V1__REPLY__RESULT_IOAS_FREE:
                ib__v1__ioas_free_reply__init(result);
                reply->ioas_free = result;
                break;
        case IB__V1__REPLY__RESULT_MEM_UNREGISTER:
                ib__v1__mem_unregister_reply__init(result);
                reply->mem_unregister = result;
                break;
        case IB__V1__REPLY__RESULT_DEVICE_DETACH:
                ib__v1__device_detach_reply__init(result);
                reply->device_detach = result;
                break;
        case IB__V1__REPLY__RESULT_DEVICE_CLOSE:
                ib__v1__device_close_reply__init(result);
                reply->device_close = result;
                break;
        case IB__V1__REPLY__RESULT_HWPT_FREE:
                ib__v1__hwpt_free_reply__init(result);
                reply->hwpt_free = result;
                break;
        case IB__V1__REPLY__RESULT_FAULT_QUEUE_FREE:
                ib__v1__fault_queue_free_reply__init(result);
                reply->fault_queue_free = result;
                break;
        case IB__V1__REPLY__RESULT_VIOMMU_FREE:
                ib__v1__viommu_free_reply__init(result);
                reply->viommu_free = result;
                break;
        case IB__V1__REPLY__RESULT_VDEVICE_FREE:
                ib__v1__vdevice_free_reply__init(result);
                reply->vdevice_free = result;
                break;
        case IB__V1__REPLY__RESULT_PASID_DETACH:
                ib__v1__pasid_detach_reply__init(result);
                reply->pasid_detach = result;
                break;
        case IB__V1__REPLY__RESULT_HWPT_SET_DIRTY_TRACKING:
                ib__v1__hwpt_set_dirty_tracking_reply__init(result);
                reply->hwpt_set_dirty_tracking = result;
                break;
        default:
                break;
        }
}

/*
 * An object verb in flight (see the top): its recorded outcome, or the
 * kernel brought back to the records and the request answered.  -EPROTO
 * for a verb a restart cannot settle.
 */
static int settle_objects(Recovery *rc, RecSession *r, const Ib__V1__Request *req, Ib__V1__Reply *reply) {
        static union {
                Ib__V1__IoasFreeReply ioas_free;
                Ib__V1__MemUnregisterReply mem_unregister;
                Ib__V1__DeviceDetachReply device_detach;
                Ib__V1__DeviceCloseReply device_close;
                Ib__V1__HwptFreeReply hwpt_free;
                Ib__V1__FaultQueueFreeReply fault_queue_free;
                Ib__V1__ViommuFreeReply viommu_free;
                Ib__V1__VdeviceFreeReply vdevice_free;
                Ib__V1__PasidDetachReply pasid_detach;
                Ib__V1__HwptSetDirtyTrackingReply hwpt_set_dirty_tracking;
        } result;
        Session *s = r->s;
        Device *d;

        switch (req->verb_case) {
        case IB__V1__REQUEST__VERB_IOAS_ALLOC:
        case IB__V1__REQUEST__VERB_IOAS_FREE:
        case IB__V1__REQUEST__VERB_ALLOW_IOVAS:
        case IB__V1__REQUEST__VERB_MEM_REGISTER:
        case IB__V1__REQUEST__VERB_MEM_UNREGISTER:
        case IB__V1__REQUEST__VERB_DEVICE_OPEN:
        case IB__V1__REQUEST__VERB_DEVICE_ATTACH:
        case IB__V1__REQUEST__VERB_DEVICE_DETACH:
        case IB__V1__REQUEST__VERB_DEVICE_CLOSE:
        case IB__V1__REQUEST__VERB_HWPT_ALLOC:
        case IB__V1__REQUEST__VERB_HWPT_FREE:
        case IB__V1__REQUEST__VERB_FAULT_QUEUE_ALLOC:
        case IB__V1__REQUEST__VERB_FAULT_QUEUE_FREE:
        case IB__V1__REQUEST__VERB_VIOMMU_ALLOC:
        case IB__V1__REQUEST__VERB_VIOMMU_FREE:
        case IB__V1__REQUEST__VERB_VDEVICE_ALLOC:
        case IB__V1__REQUEST__VERB_VDEVICE_FREE:
        case IB__V1__REQUEST__VERB_PASID_ATTACH:
        case IB__V1__REQUEST__VERB_PASID_DETACH:
        case IB__V1__REQUEST__VERB_HWPT_SET_DIRTY_TRACKING:
                break;
        default:
                return -EPROTO;
        }

        /* what only takes away is carried to its end */
        switch (req->verb_case) {
        case IB__V1__REQUEST__VERB_MEM_UNREGISTER: {
                MemReg *m = session_find(s, MemReg, req->mem_unregister->mem);

                if (!m && r->released) {
                        reply_empty(reply, IB__V1__REPLY__RESULT_MEM_UNREGISTER, &result);
                        return 0;
                }

                if (m) {
                        persist_forget_fd(s->host->persist, s, PERSIST_FD_MEMREG, m->id);
                        memreg_free(m);
                        reply_empty(reply, IB__V1__REPLY__RESULT_MEM_UNREGISTER, &result);
                        return 0;
                }
                break;
        }
        case IB__V1__REQUEST__VERB_DEVICE_DETACH:
                d = session_find(s, Device, req->device_detach->dev_id);
                /* one the records say is detached: not applied, and sent again it hears ENOENT */
                if (d && d->pt_id) {
                        (void) backend_device_detach(s->ctx, d->fd, d->dev_id, BACKEND_NO_PASID);
                        d->pt_id = 0;
                        d->hwpt_id = 0;
                        reconcile_objects(s);
                        reply_empty(reply, IB__V1__REPLY__RESULT_DEVICE_DETACH, &result);
                        return 0;
                }
                break;
        case IB__V1__REQUEST__VERB_DEVICE_CLOSE:
                d = session_find(s, Device, req->device_close->dev_id);
                if (!d && r->released) {
                        reconcile_objects(s);
                        reply_empty(reply, IB__V1__REPLY__RESULT_DEVICE_CLOSE, &result);
                        return 0;
                }
                if (d) {
                        session_release_device(s, d);
                        reconcile_objects(s);
                        reply_empty(reply, IB__V1__REPLY__RESULT_DEVICE_CLOSE, &result);
                        return 0;
                }
                break;
        case IB__V1__REQUEST__VERB_HWPT_FREE: {
                Hwpt *h = session_find(s, Hwpt, req->hwpt_free->hwpt_id);
                int q = h ? backend_destroy(s->ctx, h->id) : -ENOENT;

                if (h && (q >= 0 || q == -ENOENT)) {
                        hwpt_free(h);
                        reply_empty(reply, IB__V1__REPLY__RESULT_HWPT_FREE, &result);
                        return 0;
                }
                break;
        }
        case IB__V1__REQUEST__VERB_FAULT_QUEUE_FREE: {
                FaultQueue *f = session_find(s, FaultQueue, req->fault_queue_free->fault_id);
                int q = f ? backend_destroy(s->ctx, f->id) : -ENOENT;

                if (f && (q >= 0 || q == -ENOENT)) {
                        fault_queue_free(f);
                        reply_empty(reply, IB__V1__REPLY__RESULT_FAULT_QUEUE_FREE, &result);
                        return 0;
                }
                break;
        }
        case IB__V1__REQUEST__VERB_VIOMMU_FREE: {
                Viommu *v = session_find(s, Viommu, req->viommu_free->viommu_id);
                int q = v ? backend_destroy(s->ctx, v->id) : -ENOENT;

                if (v && (q >= 0 || q == -ENOENT)) {
                        viommu_free(v);
                        reply_empty(reply, IB__V1__REPLY__RESULT_VIOMMU_FREE, &result);
                        return 0;
                }
                break;
        }
        case IB__V1__REQUEST__VERB_VDEVICE_FREE: {
                Vdevice *v = session_find(s, Vdevice, req->vdevice_free->vdevice_id);
                int q = v ? backend_destroy(s->ctx, v->id) : -ENOENT;

                if (v && (q >= 0 || q == -ENOENT)) {
                        vdevice_free(v);
                        reply_empty(reply, IB__V1__REPLY__RESULT_VDEVICE_FREE, &result);
                        return 0;
                }
                break;
        }
        case IB__V1__REQUEST__VERB_PASID_DETACH:
                d = session_find(s, Device, req->pasid_detach->dev_id);
                if (d) {
                        PasidEntry *e = pasid_table_lookup(&d->pasids, req->pasid_detach->vpasid);
                        int q = e ? backend_device_detach(s->ctx, d->fd, d->dev_id, e->pasid) : -ENOENT;

                        if (e && (q >= 0 || q == -ENOENT)) {
                                pasid_entry_free(e);
                                reply_empty(reply, IB__V1__REPLY__RESULT_PASID_DETACH, &result);
                                return 0;
                        }
                }
                break;
        case IB__V1__REQUEST__VERB_PASID_ATTACH:
                /*
                 * Not recorded, so not answered: the kernel may have attached
                 * the PASID the broker chose, which the slot's first step
                 * holds (verb-pasid.c: written before the kernel was asked).
                 * Not the lowest free PASID of the host-wide space now: the
                 * attach waited off the loop, where other sessions may have
                 * freed lower ones.  Without a step (a state file of an
                 * earlier broker, or a crash before the choice), that guess
                 * or the vPASID itself, as before; a PASID not attached only
                 * makes the detach fail.
                 */
                d = session_find(s, Device, req->pasid_attach->dev_id);
                if (d && !pasid_table_lookup(&d->pasids, req->pasid_attach->vpasid)) {
                        uint64_t pasid = req->pasid_attach->vpasid;

                        if (r->has_slot && r->slot.steps > 0)
                                pasid = r->slot.step_value[0];
                        else if (d->global_pasid)
                                pasid = pasid_space_lowest_free(&s->host->pasids);
                        if (pasid != 0 && pasid <= UINT32_MAX)
                                (void) backend_device_detach(s->ctx, d->fd, d->dev_id, (uint32_t) pasid);
                }
                break;
        case IB__V1__REQUEST__VERB_HWPT_SET_DIRTY_TRACKING: {
                /* the same again changes nothing more: carried to its end, answered with its result */
                Hwpt *h = session_find(s, Hwpt, req->hwpt_set_dirty_tracking->hwpt_id);
                int q = h ? backend_hwpt_set_dirty_tracking(s->ctx, h->id, req->hwpt_set_dirty_tracking->enable)
                          : -ENOENT;

                if (q >= 0) {
                        reply_empty(reply, IB__V1__REPLY__RESULT_HWPT_SET_DIRTY_TRACKING, &result);
                        return 0;
                }
                break;
        }
        default:
                break;
        }

        reconcile_objects(s);
        if (req->verb_case == IB__V1__REQUEST__VERB_IOAS_FREE) {
                Ioas *ioas = session_find(s, Ioas, req->ioas_free->ioas);

                if (ioas && !ioas_in_kernel(s, ioas)) {
                        ioas_free(ioas);
                        reply_empty(reply, IB__V1__REPLY__RESULT_IOAS_FREE, &result);
                        return 0;
                }
        }
        if (req->verb_case == IB__V1__REQUEST__VERB_ALLOW_IOVAS) {
                Ioas *ioas = session_find(s, Ioas, req->allow_iovas->ioas);

                if (ioas)       /* what the records say the kernel was told */
                        (void) backend_allow_iovas(s->ctx, ioas->id, ioas->n_allowed ? ioas->allowed : ioas->window,
                                                   ioas->n_allowed ? ioas->n_allowed : ioas->n_window);
        }
        set_not_applied(reply, NOT_APPLIED);
        return 0;
}

/* The reply an OBJECTS record kept, sent again (a DeviceOpen's with the device fd it names). */
static int resend_objects_reply(RecSession *r, const PersistObjectsHdr *oh, const uint8_t *data) {
        Ib__V1__Reply *reply = NULL;
        Device *d = NULL;
        int q;

        if (oh->reply_fds == 0)
                return send_bytes(r->s, data, oh->reply_size);
        reply = ib__v1__reply__unpack(NULL, oh->reply_size, data);
        if (reply && reply->result_case == IB__V1__REPLY__RESULT_DEVICE_OPEN)
                d = session_find(r->s, Device, reply->device_open->dev_id);
        if (reply)
                ib__v1__reply__free_unpacked(reply, NULL);
        if (!d) {
                (void) snprintf(r->why, sizeof(r->why), "the file descriptor its last reply carried was lost");
                return -EPROTO;
        }
        q = transport_send(&r->s->transport, data, oh->reply_size, &d->fd, 1, NULL);
        if (q >= 0)
                persist_request_replied(r->s->host->persist, r->s, transport_queued(&r->s->transport) > 0, data,
                                        oh->reply_size, 1);
        return q;
}

/*
 * Settles the request the slot says was being worked on and answers it.
 * Returns 0, or -EPROTO when the session must end (why set).
 */
int settle_request(Recovery *rc, RecSession *r) {
        const PersistSlotView *v = &r->slot;
        Ib__V1__Request *req = NULL;
        Ib__V1__Reply reply;
        int q = 0;

        if (v->phase == PERSIST_SLOT_QUEUED) {
                PersistObjectsHdr oh = { .reply_size = (uint32_t) v->reply_size, .reply_fds = (uint32_t) v->reply_fds };

                /* a reply with an fd: a DeviceOpen's, whose device fd the store kept */
                r->answered = true;
                return resend_objects_reply(r, &oh, v->reply) == -EPROTO ? -EPROTO : 0;
        }
        if (v->phase == PERSIST_SLOT_RECEIVING) {
                /* still in the socket: read as usual; else taken and lost with the process: not applied */
                if (v->request_id == 0 || settle_peek_next_id(r->s) == v->request_id)
                        return 0;
                reply_init(&reply, v->request_id);
                set_not_applied(&reply, NOT_APPLIED);
                (void) send_reply(r->s, &reply);
                r->answered = true;
                return 0;
        }
        if (v->phase != PERSIST_SLOT_STARTED)
                return 0;
        r->answered = true;
        if (r->latest && r->objects_pos >= r->mark) {
                PersistObjectsHdr oh;

                memcpy(&oh, r->latest, sizeof(oh));
                if (oh.request_id == v->request_id && oh.reply_size > 0 && oh.reply_size <= r->latest_size) {
                        /* done, its objects and its reply recorded together */
                        int sent = resend_objects_reply(r, &oh, (const uint8_t *) r->latest + r->latest_size -
                                                                        oh.reply_size);

                        return sent == -EPROTO ? sent : 0;
                }
        }
        reply_init(&reply, v->request_id);
        if (!v->request || codec_decode_request(v->request, v->request_size, &req) < 0) {
                (void) snprintf(r->why, sizeof(r->why), "the request it was working on could not be read back");
                return -EPROTO;
        }

        if (request_leaves_nothing(req->verb_case)) {
                set_not_applied(&reply, NOT_APPLIED);
                (void) send_reply(r->s, &reply);
        } else if (req->verb_case == IB__V1__REQUEST__VERB_MAP || req->verb_case == IB__V1__REQUEST__VERB_COPY) {
                Ib__V1__MapReply map = IB__V1__MAP_REPLY__INIT;
                Ib__V1__CopyReply copy = IB__V1__COPY_REPLY__INIT;
                OpOutcome o;

                if (req->verb_case == IB__V1__REQUEST__VERB_MAP)
                        o = settle_map(r, req->map, r->maps_after > 0, r->last_map_iova);
                else {
                        Ib__V1__MapRequest as_map = IB__V1__MAP_REQUEST__INIT;

                        as_map.ioas = req->copy->dst_ioas;
                        as_map.has_iova = req->copy->has_dst_iova;
                        as_map.iova = req->copy->dst_iova;
                        as_map.length = req->copy->length;
                        o = settle_map(r, &as_map, r->maps_after > 0, r->last_map_iova);
                }
                if (o.err < 0)
                        set_not_applied(&reply, NOT_APPLIED);
                else if (req->verb_case == IB__V1__REQUEST__VERB_MAP) {
                        map.iova = o.value;
                        reply.result_case = IB__V1__REPLY__RESULT_MAP;
                        reply.map = &map;
                } else {
                        copy.dst_iova = o.value;
                        reply.result_case = IB__V1__REPLY__RESULT_COPY;
                        reply.copy = &copy;
                }
                (void) send_reply(r->s, &reply);
        } else if (req->verb_case == IB__V1__REQUEST__VERB_UNMAP) {
                Ib__V1__UnmapReply unmap = IB__V1__UNMAP_REPLY__INIT;
                OpOutcome o = settle_unmap(r, req->unmap, r->unmaps_after > 0, r->last_unmap_bytes);

                if (o.err != 0) {
                        reply.has_errnum = true;
                        reply.errnum = o.err;
                        reply.errno_name = (char *) errno_to_name(o.err);
                        reply.error = (char *) o.error;
                } else {
                        unmap.length = o.value;
                        reply.result_case = IB__V1__REPLY__RESULT_UNMAP;
                        reply.unmap = &unmap;
                }
                (void) send_reply(r->s, &reply);
        } else if (req->verb_case == IB__V1__REQUEST__VERB_BATCH) {
                const Ib__V1__BatchRequest *b = req->batch;
                unsigned ok_maps = 0, ok_unmaps = 0;
                bool stopped = false, well_formed;
                _cleanup_free_ void *block = NULL;
                BatchAnswer answer;
                BatchOpView op;
                char why[160];
                size_t n = 0;

                /* a batch the verb would refuse whole changed nothing (the verb checks every op before the first) */
                well_formed = batch_ops_count(b, &n, why, sizeof(why)) >= 0 && n <= IB_MAX_BATCH_OPS;
                for (size_t i = 0; well_formed && i < n; i++)
                        well_formed = batch_op_view(b, i, &op, why, sizeof(why)) >= 0;
                if (!well_formed) {
                        set_not_applied(&reply, NOT_APPLIED);
                        (void) send_reply(r->s, &reply);
                        codec_request_free(req);
                        return 0;
                }
                block = calloc(1, batch_answer_size(n, batch_is_packed(b)));
                if (!block) {
                        codec_request_free(req);
                        return -ENOMEM;
                }
                batch_answer_init(&answer, block, n, batch_is_packed(b));
                for (size_t i = 0; i < n; i++) {
                        OpOutcome o;

                        batch_op_view_checked(b, i, &op);
                        if (i < v->steps) {
                                o = (OpOutcome) { .err = v->step_err[i], .value = v->step_value[i],
                                                  .error = "failed before the broker restarted" };
                                if (o.err == 0 && op.is_map)
                                        ok_maps++;
                                else if (o.err == 0)
                                        ok_unmaps++;
                        } else if (stopped)
                                /* as the verb answers it: stop_on_error skipped it, it is not to be sent again */
                                o = (OpOutcome) { .err = ECANCELED, .error = "not run: an earlier operation failed" };
                        else if (i == v->steps) {
                                if (op.is_map)
                                        o = settle_map(r, op.map, r->maps_after > ok_maps, r->last_map_iova);
                                else
                                        o = settle_unmap(r, op.unmap, r->unmaps_after > ok_unmaps,
                                                         r->last_unmap_bytes);
                        } else
                                o = (OpOutcome) { .err = -1 };
                        if (o.err != 0) {
                                set_result_error(batch_answer_failed(&answer, i), &o);
                                if (o.err > 0 && b->stop_on_error)
                                        stopped = true;
                        } else
                                batch_answer_done(&answer, i, op.is_map, o.value);
                }
                reply.result_case = IB__V1__REPLY__RESULT_BATCH;
                reply.batch = &answer.reply;
                (void) send_reply(r->s, &reply);
        } else if (req->verb_case == IB__V1__REQUEST__VERB_HWPT_INVALIDATE) {
                /* an invalidation done twice is done once: carried to its end, answered with its result */
                const Ib__V1__HwptInvalidateRequest *inv = req->hwpt_invalidate;
                Ib__V1__HwptInvalidateReply ir = IB__V1__HWPT_INVALIDATE_REPLY__INIT;
                uint32_t n = inv->entry_len > 0 ? (uint32_t) (inv->entries.len / inv->entry_len) : 0;
                int q2 = !r->s->ctx ? -ENOENT       /* no iommufd yet: no HWPT */
                                    : backend_hwpt_invalidate(r->s->ctx, inv->pt_id, inv->data_type,
                                                              inv->entries.data, inv->entry_len, &n);

                if (q2 < 0) {
                        reply.has_errnum = true;
                        reply.errnum = -q2;
                        reply.errno_name = (char *) errno_to_name(-q2);
                        reply.error = (char *) "the invalidation failed when the restarted broker carried it out";
                } else {
                        ir.entries_handled = n;
                        reply.result_case = IB__V1__REPLY__RESULT_HWPT_INVALIDATE;
                        reply.hwpt_invalidate = &ir;
                }
                (void) send_reply(r->s, &reply);
        } else if (req->verb_case == IB__V1__REQUEST__VERB_HWPT_GET_DIRTY_BITMAP) {
                /* the kernel may have cleared the bits already and the bitmap went with the process */
                reply.has_errnum = true;
                reply.errnum = ECANCELED;
                reply.errno_name = (char *) "ECANCELED";
                reply.error = (char *) "the broker restarted while it read this dirty bitmap: the kernel may have "
                                       "cleared the range's dirty bits, so treat every page of the range as dirty";
                (void) send_reply(r->s, &reply);
        } else if (settle_objects(rc, r, req, &reply) >= 0) {
                /* the records and the answer together, as a verb's own (a second crash sends it again) */
                _cleanup_free_ uint8_t *buf = NULL;
                size_t size;

                if (codec_encode_reply(&reply, &buf, &size) >= 0) {
                        persist_objects(r->s->host->persist, r->s, NULL, 0, v->request_id, buf, size, 0);
                        (void) send_bytes(r->s, buf, size);
                }
        } else {
                (void) snprintf(r->why, sizeof(r->why),
                                "it was interrupted in a request whose outcome a restart cannot settle yet");
                q = -EPROTO;
        }
        codec_request_free(req);
        return q;
}

uint64_t settle_peek_next_id(Session *s) {
        uint8_t buf[IB_MAX_MESSAGE_SIZE];
        Ib__V1__Request *req = NULL;
        uint64_t id = 0;
        ssize_t n;

        n = recv(s->transport.fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        if (n <= 0)
                return 0;
        if (codec_decode_request(buf, (size_t) n, &req) >= 0) {
                id = req->id;
                codec_request_free(req);
        }
        return id;
}

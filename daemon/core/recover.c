/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recover.c - the sessions a previous broker process served, restored at start.
 *
 * Theory of operation (why records and kernel agree afterwards).
 *
 * What the kernel holds of a session is reachable only through the fds the
 * store kept: its context (every IOAS, HWPT and mapping lives there), its
 * bound devices.  An fd the broker held but had not kept yet was closed when
 * it died: a device bound by a DeviceOpen in flight is unbound again, a
 * memfd registered by a MemRegister in flight is gone with it.
 *
 * persist.c writes every record after the kernel call it reports.  So for
 * each session, at the moment of the crash:
 *   (a) every record that says a thing is there is true, except for the
 *       effect of the one request the session's slot says was being worked
 *       on (STARTED): its kernel calls may have run without their records;
 *   (b) nothing else changed in the kernel without a record, because the
 *       session runs one request at a time (a waiting request pauses it).
 * Recovery therefore rebuilds the records from the log (the latest OBJECTS
 * record of each session, then every MAP and UNMAP in order, matched to
 * its IOAS by id and serial so that a freed and re-allocated id is never
 * confused), and settles that one request per session:
 *   - Map, Copy: applied iff a MAP record of the session follows the slot's
 *     log mark (the record is the last thing before the reply): answered
 *     with its IOVA.  Otherwise the kernel may hold a mapping nobody
 *     recorded: with a fixed IOVA that range, else every gap between the
 *     recorded mappings of that IOAS, is unmapped (-ENOENT where nothing
 *     was); the request is answered not_applied.
 *   - Unmap: applied iff an UNMAP record follows the mark.  Otherwise it is
 *     carried to its end: a range that cuts a recorded mapping would have
 *     been refused before the kernel (answered ENOENT, nothing changed);
 *     else the kernel is asked again (-ENOENT: it had done it) and the
 *     records follow; answered with the recorded bytes.
 *   - Batch: each operation as above; the slot holds the results of those
 *     done, the one after them is settled, the rest are answered not run.
 *   - a request that changes no kernel state: answered not_applied (the
 *     library sends it again).
 *   - a request that changes objects (IOAS, registration, device): its
 *     OBJECTS record carries its reply, so if that record follows the mark
 *     the request is done and the reply is sent again.  Otherwise the
 *     kernel is brought back to the records: fds kept in the store but not
 *     recorded are closed (a device bound in flight unbinds), each recorded
 *     device is attached again as recorded (a replace to the same IOAS is
 *     no change), and every kernel object id the records do not name is
 *     destroyed (an IOAS or HWPT made in flight; the kernel gives ids from
 *     the lowest free one, so they lie below the highest recorded id plus
 *     the few one request makes).  A request that only takes away (IoasFree,
 *     MemUnregister, DeviceDetach, DeviceClose) is carried to its end and
 *     answered as done; any other is answered not_applied.
 *   - a request of a kind a restart cannot settle (HWPT, fault queue,
 *     vIOMMU, PASID verbs): the session is ended (its context emptied,
 *     verified, as at any teardown), with an error saying why.
 * A reply that was waiting in the broker (QUEUED) is sent again; one that
 * reached the socket is not.  No pinned byte is counted twice: charges are
 * rebuilt from the records only, after they were made to agree.
 *
 * Sessions holding objects a restart does not restore yet (HWPTs, fault
 * queues, vIOMMUs, vDEVICEs, PASID attachments) are ended the same way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/errno-name.h"
#include "common/protocol.h"
#include "core/dispatch.h"
#include "core/recover.h"
#include "object/context.h"
#include "policy/audit.h"
#include "util/log.h"
#include "wire/codec.h"

/* Supplementary groups an identity in the records may list (the kernel's NGROUPS_MAX). */
#define NGROUPS_MAX_RESTORE 65536

typedef struct RecIoas {
        uint32_t id;
        uint32_t serial;
        Ioas *ioas;
} RecIoas;

typedef struct RecSession {
        uint64_t id;
        const PersistSessionRec *session;
        size_t session_size;
        const void *objects;            /* the latest OBJECTS payload */
        size_t objects_size;
        uint64_t objects_pos;
        bool ended;
        Session *s;
        RecIoas *ioas;
        size_t n_ioas;
        bool unrestorable;              /* holds objects a restart does not restore yet */
        char why[160];
        /* what the interrupted request left in the log, after its slot's mark */
        uint64_t mark;
        bool has_slot;
        PersistSlotView slot;
        unsigned maps_after, unmaps_after;
        uint64_t last_map_iova;
        uint64_t last_unmap_bytes;
} RecSession;

typedef struct Recovery {
        SessionHost *host;
        Persist *p;
        FdStore *store;
        RecSession *sessions;
        size_t n_sessions;
        size_t size_sessions;
        RecoverStats stats;
} Recovery;

static RecSession *rec_find(Recovery *rc, uint64_t id) {
        size_t lo = 0, hi = rc->n_sessions;

        /* sessions are added in log order, and ids only grow: sorted */
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (rc->sessions[mid].id == id)
                        return &rc->sessions[mid];
                if (rc->sessions[mid].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* The session's entry, added in id order (a compacted log lists sessions in any order). */
static RecSession *rec_add(Recovery *rc, uint64_t id) {
        RecSession *r = rec_find(rc, id);
        size_t at;

        if (r)
                return r;
        if (rc->n_sessions == rc->size_sessions) {
                size_t n = rc->size_sessions ? rc->size_sessions * 2 : 64;
                RecSession *a = reallocarray(rc->sessions, n, sizeof(*a));

                if (!a)
                        return NULL;
                rc->sessions = a;
                rc->size_sessions = n;
        }
        at = rc->n_sessions;
        while (at > 0 && rc->sessions[at - 1].id > id)
                at--;
        memmove(&rc->sessions[at + 1], &rc->sessions[at], (rc->n_sessions - at) * sizeof(RecSession));
        rc->n_sessions++;
        r = &rc->sessions[at];
        *r = (RecSession) { .id = id };
        return r;
}

/* Pass 1: which sessions there are, their latest objects, which ended. */
static int pass_sessions(const PersistRecord *rec, void *userdata) {
        Recovery *rc = userdata;
        RecSession *r;

        switch (rec->type) {
        case PERSIST_REC_SESSION:
                r = rec_add(rc, rec->session);
                if (!r)
                        return -ENOMEM;
                if (rec->size >= sizeof(PersistSessionRec)) {
                        r->session = rec->payload;
                        r->session_size = rec->size;
                }
                r->ended = false;
                return 0;
        case PERSIST_REC_END:
                r = rec_find(rc, rec->session);
                if (r)
                        r->ended = true;
                return 0;
        case PERSIST_REC_OBJECTS:
                r = rec_find(rc, rec->session);
                if (r && rec->size >= sizeof(PersistObjectsHdr)) {
                        r->objects = rec->payload;
                        r->objects_size = rec->size;
                        r->objects_pos = rec->pos;
                }
                return 0;
        default:
                return 0;
        }
}

static Ioas *rec_ioas(RecSession *r, uint32_t id, uint32_t serial) {
        for (size_t i = 0; i < r->n_ioas; i++)
                if (r->ioas[i].id == id && r->ioas[i].serial == serial)
                        return r->ioas[i].ioas;
        return NULL;
}

static int memreg_fd(Session *s, uint32_t mem) {
        MemReg *m = mem ? session_find(s, MemReg, mem) : NULL;

        return m ? m->fd : -1;
}

/* Pass 2: the mappings, in the order the kernel made and unmade them. */
static int pass_mappings(const PersistRecord *rec, void *userdata) {
        Recovery *rc = userdata;
        RecSession *r;
        Ioas *ioas;

        if (rec->type != PERSIST_REC_MAP && rec->type != PERSIST_REC_UNMAP)
                return 0;
        r = rec_find(rc, rec->session);
        if (!r || !r->s)
                return 0;
        if (rec->type == PERSIST_REC_MAP) {
                const PersistMapRec *m = rec->payload;
                int q;

                if (rec->size < sizeof(*m))
                        return 0;
                if (r->has_slot && rec->pos >= r->mark) {
                        r->maps_after++;
                        r->last_map_iova = m->iova;
                }
                ioas = rec_ioas(r, m->ioas, m->serial);
                if (!ioas)
                        return 0;       /* an IOAS freed since */
                q = ioas_restore_mapping(ioas, m->iova, m->length, m->flags, m->mem, m->offset,
                                         memreg_fd(r->s, m->mem));
                if (q < 0)
                        log_warning_errno(q, "%s: cannot restore the mapping 0x%" PRIx64 "+0x%" PRIx64
                                          " of IOAS %" PRIu32 ": %m", r->s->name, m->iova, m->length, m->ioas);
        } else {
                const PersistUnmapRec *u = rec->payload;
                uint64_t bytes = 0;

                if (rec->size < sizeof(*u))
                        return 0;
                ioas = rec_ioas(r, u->ioas, u->serial);
                if (ioas)
                        ioas_forget_mappings(ioas, u->iova, u->last, &bytes);
                if (r->has_slot && rec->pos >= r->mark) {
                        r->unmaps_after++;
                        r->last_unmap_bytes = bytes;
                }
        }
        return 0;
}

/* The records of one session from its latest OBJECTS payload; fds from the store. */
static int restore_objects(Recovery *rc, RecSession *r) {
        Session *s = r->s;
        const uint8_t *at = r->objects, *end = at + r->objects_size;
        PersistObjectsHdr oh;
        int q;

        if (!at) {
                (void) snprintf(r->why, sizeof(r->why), "no record of its objects");
                return -EBADMSG;
        }
        memcpy(&oh, at, sizeof(oh));
        at += sizeof(oh);
        s->last_mem = oh.last_mem;
        s->last_ioas_serial = oh.last_ioas_serial;
        r->ioas = calloc(oh.n_ioas ? oh.n_ioas : 1, sizeof(RecIoas));
        if (!r->ioas)
                return -ENOMEM;

        for (uint32_t i = 0; i < oh.n_ioas; i++) {
                PersistIoasRec ir;
                Ioas *ioas;

                if (at + sizeof(ir) > end)
                        return -EBADMSG;
                memcpy(&ir, at, sizeof(ir));
                at += sizeof(ir);
                if (ir.n_window > IOAS_MAX_WINDOW || ir.n_allowed > IOAS_MAX_WINDOW ||
                    at + sizeof(IovaRange) * (ir.n_window + ir.n_allowed) > end)
                        return -EBADMSG;
                q = ioas_restore(&ioas, s->ctx, &s->account, ir.id);
                if (q < 0)
                        return q;
                ioas->serial = ir.serial;
                ioas->n_window = ir.n_window;
                memcpy(ioas->window, at, sizeof(IovaRange) * ir.n_window);
                at += sizeof(IovaRange) * ir.n_window;
                ioas->n_allowed = ir.n_allowed;
                memcpy(ioas->allowed, at, sizeof(IovaRange) * ir.n_allowed);
                at += sizeof(IovaRange) * ir.n_allowed;
                ioas->enforce_snoop = ir.enforce_snoop;
                r->ioas[r->n_ioas++] = (RecIoas) { .id = ir.id, .serial = ir.serial, .ioas = ioas };
                session_add(s, ioas);
                rc->stats.objects++;
        }
        for (uint32_t i = 0; i < oh.n_memreg; i++) {
                char name[FDSTORE_NAME_MAX + 1];
                PersistMemRegRec mr;
                MemReg *m;
                int fd;

                if (at + sizeof(mr) > end)
                        return -EBADMSG;
                memcpy(&mr, at, sizeof(mr));
                at += sizeof(mr);
                persist_fd_name(name, sizeof(name), s->id, PERSIST_FD_MEMREG, mr.id);
                fd = fdstore_take(rc->store, name);
                if (fd < 0) {
                        (void) snprintf(r->why, sizeof(r->why), "the fd of registered memory %" PRIu32 " was lost",
                                        mr.id);
                        return -EBADF;
                }
                q = memreg_restore(&m, &s->account, mr.id, fd, mr.accmode);
                if (q < 0) {
                        safe_close(fd);
                        return q;
                }
                m->seals = mr.seals;
                m->sealed = mr.sealed;
                m->size_floor = mr.size_floor;
                session_add(s, m);
                rc->stats.objects++;
        }
        for (uint32_t i = 0; i < oh.n_device; i++) {
                char name[FDSTORE_NAME_MAX + 1], dname[sizeof(((PersistDeviceRec *) NULL)->name) + 1];
                PersistDeviceRec dr;
                Device *d;
                int fd;

                if (at + sizeof(dr) > end)
                        return -EBADMSG;
                memcpy(&dr, at, sizeof(dr));
                at += sizeof(dr);
                memcpy(dname, dr.name, sizeof(dr.name));
                dname[sizeof(dr.name)] = '\0';
                persist_fd_name(name, sizeof(name), s->id, PERSIST_FD_DEVICE, dr.dev_id);
                fd = fdstore_take(rc->store, name);
                if (fd < 0) {
                        (void) snprintf(r->why, sizeof(r->why), "the fd of device %s was lost", dname);
                        return -EBADF;
                }
                q = device_restore(&d, &s->host->devices, s->ctx, &s->account, s->id, s->cred.pid, s->cred.uid,
                                   dname, fd, dr.dev_id, dr.pt_id, dr.hwpt_id);
                if (q < 0) {
                        (void) snprintf(r->why, sizeof(r->why), "device %s cannot be restored: %s", dname,
                                        strerror(-q));
                        return q;
                }
                session_add(s, d);
                rc->stats.objects++;
                d->global_pasid = dr.global_pasid;
                for (uint32_t k = 0; k < dr.n_pasids; k++) {
                        PersistPasidRec pr;
                        PasidEntry *e;

                        if (at + sizeof(pr) > end)
                                return -EBADMSG;
                        memcpy(&pr, at, sizeof(pr));
                        at += sizeof(pr);
                        q = pasid_entry_restore(&e, d->global_pasid ? &s->host->pasids : NULL, pr.vpasid, pr.pasid,
                                                pr.pt_id, &s->account);
                        if (q < 0) {
                                (void) snprintf(r->why, sizeof(r->why), "PASID %" PRIu32 " of device %s cannot be "
                                                "restored: %s", pr.pasid, dname, strerror(-q));
                                return q;
                        }
                        pasid_table_add(&d->pasids, e);
                }
        }
        for (uint32_t i = 0; i < oh.n_hwpt; i++) {
                PersistHwptRec hr;
                Hwpt *h;

                if (at + sizeof(hr) > end)
                        return -EBADMSG;
                memcpy(&hr, at, sizeof(hr));
                at += sizeof(hr);
                q = hwpt_restore(&h, s->ctx, &s->account, hr.id, hr.pt_id, hr.flags, hr.data_type, hr.enforce_snoop);
                if (q < 0)
                        return q;
                session_add(s, h);
                rc->stats.objects++;
        }
        for (uint32_t i = 0; i < oh.n_fault; i++) {
                PersistFaultRec fr;
                FaultQueue *f;

                if (at + sizeof(fr) > end)
                        return -EBADMSG;
                memcpy(&fr, at, sizeof(fr));
                at += sizeof(fr);
                q = fault_queue_restore(&f, s->ctx, &s->account, fr.id);
                if (q < 0)
                        return q;
                session_add(s, f);
                rc->stats.objects++;
        }
        for (uint32_t i = 0; i < oh.n_viommu; i++) {
                PersistViommuRec vr;
                Viommu *v;

                if (at + sizeof(vr) > end)
                        return -EBADMSG;
                memcpy(&vr, at, sizeof(vr));
                at += sizeof(vr);
                q = viommu_restore(&v, s->ctx, &s->account, vr.id, vr.dev_id, vr.hwpt_id);
                if (q < 0)
                        return q;
                session_add(s, v);
                rc->stats.objects++;
        }
        for (uint32_t i = 0; i < oh.n_vdevice; i++) {
                PersistVdeviceRec vr;
                Vdevice *v;

                if (at + sizeof(vr) > end)
                        return -EBADMSG;
                memcpy(&vr, at, sizeof(vr));
                at += sizeof(vr);
                q = vdevice_restore(&v, s->ctx, &s->account, vr.id, vr.viommu_id, vr.dev_id);
                if (q < 0)
                        return q;
                session_add(s, v);
                rc->stats.objects++;
        }
        return 0;
}

/* ----------------------------------------------------------------- the interrupted request */

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

static uint64_t peek_next_id(Session *s);

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

                if (!n || n->start > next)
                        (void) backend_unmap(s->ctx, ioas->id, next, gap_last - next + 1, &unmapped);
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

static bool request_changes_nothing(Ib__V1__Request__VerbCase v) {
        switch (v) {
        case IB__V1__REQUEST__VERB_CAPS:
        case IB__V1__REQUEST__VERB_IOVA_RANGES:
        case IB__V1__REQUEST__VERB_DEVICE_LIST:
        case IB__V1__REQUEST__VERB_HW_INFO:
        case IB__V1__REQUEST__VERB_PASID_LOOKUP:
        case IB__V1__REQUEST__VERB_HELLO:
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
        for (unsigned pass = 0; pass < 2; pass++)
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
                if (d) {
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
                 * the PASID the broker chose, the vPASID itself or, from the
                 * host-wide space, its lowest free one (nothing else took one
                 * since: a PASID attach never waits off the loop).
                 */
                d = session_find(s, Device, req->pasid_attach->dev_id);
                if (d && !pasid_table_lookup(&d->pasids, req->pasid_attach->vpasid)) {
                        uint32_t pasid = req->pasid_attach->vpasid;

                        if (d->global_pasid)
                                pasid = pasid_space_lowest_free(&s->host->pasids);
                        if (pasid != 0)
                                (void) backend_device_detach(s->ctx, d->fd, d->dev_id, pasid);
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
static int settle(Recovery *rc, RecSession *r) {
        const PersistSlotView *v = &r->slot;
        Ib__V1__Request *req = NULL;
        Ib__V1__Reply reply;
        int q = 0;

        if (v->phase == PERSIST_SLOT_QUEUED) {
                if (v->reply_fds > 0) {
                        reply_init(&reply, v->request_id);
                        reply.has_errnum = true;
                        reply.errnum = EIO;
                        reply.errno_name = (char *) "EIO";
                        reply.error = (char *) "the broker restarted before its reply was sent, and the file "
                                               "descriptors the reply carried were lost; the request was applied";
                        (void) send_reply(r->s, &reply);
                } else
                        (void) send_bytes(r->s, v->reply, v->reply_size);
                rc->stats.resolved++;
                return 0;
        }
        if (v->phase == PERSIST_SLOT_RECEIVING) {
                /* still in the socket: read as usual; else taken and lost with the process: not applied */
                if (v->request_id == 0 || peek_next_id(r->s) == v->request_id)
                        return 0;
                reply_init(&reply, v->request_id);
                set_not_applied(&reply, NOT_APPLIED);
                (void) send_reply(r->s, &reply);
                rc->stats.resolved++;
                return 0;
        }
        if (v->phase != PERSIST_SLOT_STARTED)
                return 0;
        rc->stats.resolved++;
        if (r->objects && r->objects_pos >= r->mark) {
                PersistObjectsHdr oh;

                memcpy(&oh, r->objects, sizeof(oh));
                if (oh.request_id == v->request_id && oh.reply_size > 0 && oh.reply_size <= r->objects_size) {
                        /* done, its objects and its reply recorded together */
                        int sent = resend_objects_reply(r, &oh, (const uint8_t *) r->objects + r->objects_size -
                                                                        oh.reply_size);

                        return sent == -EPROTO ? sent : 0;
                }
        }
        reply_init(&reply, v->request_id);
        if (!v->request || codec_decode_request(v->request, v->request_size, &req) < 0) {
                (void) snprintf(r->why, sizeof(r->why), "the request it was working on could not be read back");
                return -EPROTO;
        }

        if (request_changes_nothing(req->verb_case)) {
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
                size_t n = b->n_ops;
                Ib__V1__BatchReply batch = IB__V1__BATCH_REPLY__INIT;
                Ib__V1__BatchResult *res = calloc(n ? n : 1, sizeof(*res));
                Ib__V1__BatchResult **resp = calloc(n ? n : 1, sizeof(*resp));
                Ib__V1__MapReply *maps = calloc(n ? n : 1, sizeof(*maps));
                Ib__V1__UnmapReply *unmaps = calloc(n ? n : 1, sizeof(*unmaps));
                unsigned ok_maps = 0, ok_unmaps = 0;
                bool stopped = false;

                if (!res || !resp || !maps || !unmaps) {
                        free(res), free(resp), free(maps), free(unmaps);
                        codec_request_free(req);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n; i++) {
                        const Ib__V1__BatchOp *op = b->ops[i];
                        bool is_map = op->op_case == IB__V1__BATCH_OP__OP_MAP;
                        OpOutcome o;

                        ib__v1__batch_result__init(&res[i]);
                        resp[i] = &res[i];
                        ib__v1__map_reply__init(&maps[i]);
                        ib__v1__unmap_reply__init(&unmaps[i]);
                        if (i < v->steps) {
                                o = (OpOutcome) { .err = v->step_err[i], .value = v->step_value[i],
                                                  .error = "failed before the broker restarted" };
                                if (o.err == 0 && is_map)
                                        ok_maps++;
                                else if (o.err == 0)
                                        ok_unmaps++;
                        } else if (i == v->steps && !stopped) {
                                if (is_map)
                                        o = settle_map(r, op->map, r->maps_after > ok_maps, r->last_map_iova);
                                else
                                        o = settle_unmap(r, op->unmap, r->unmaps_after > ok_unmaps,
                                                         r->last_unmap_bytes);
                        } else
                                o = (OpOutcome) { .err = -1 };
                        if (o.err != 0) {
                                set_result_error(&res[i], &o);
                                if (o.err > 0 && b->stop_on_error)
                                        stopped = true;
                        } else if (is_map) {
                                maps[i].iova = o.value;
                                res[i].result_case = IB__V1__BATCH_RESULT__RESULT_MAP;
                                res[i].map = &maps[i];
                        } else {
                                unmaps[i].length = o.value;
                                res[i].result_case = IB__V1__BATCH_RESULT__RESULT_UNMAP;
                                res[i].unmap = &unmaps[i];
                        }
                }
                batch.n_results = n;
                batch.results = resp;
                reply.result_case = IB__V1__REPLY__RESULT_BATCH;
                reply.batch = &batch;
                (void) send_reply(r->s, &reply);
                free(res), free(resp), free(maps), free(unmaps);
        } else if (req->verb_case == IB__V1__REQUEST__VERB_HWPT_INVALIDATE) {
                /* an invalidation done twice is done once: carried to its end, answered with its result */
                const Ib__V1__HwptInvalidateRequest *inv = req->hwpt_invalidate;
                Ib__V1__HwptInvalidateReply ir = IB__V1__HWPT_INVALIDATE_REPLY__INIT;
                uint32_t n = inv->entry_len > 0 ? (uint32_t) (inv->entries.len / inv->entry_len) : 0;
                int q2 = backend_hwpt_invalidate(r->s->ctx, inv->pt_id, inv->data_type, inv->entries.data,
                                                 inv->entry_len, &n);

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
                (void) send_reply(r->s, &reply);
                persist_objects(r->s->host->persist, r->s, 0, NULL, 0, 0);
        } else {
                (void) snprintf(r->why, sizeof(r->why),
                                "it was interrupted in a request whose outcome a restart cannot settle yet");
                q = -EPROTO;
        }
        codec_request_free(req);
        return q;
}

/* The first request waiting in the socket: its id, 0 if none (a peek: nothing is taken). */
static uint64_t peek_next_id(Session *s) {
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

static void send_resumed(Session *s, const PersistSlotView *v) {
        Ib__V1__ResumedEvent ev = IB__V1__RESUMED_EVENT__INIT;
        Ib__V1__Reply reply;

        reply_init(&reply, 0);
        ev.has_last_request_id = true;
        ev.last_request_id = v->phase == PERSIST_SLOT_IDLE && v->request_id == 0 ? 0 : v->request_id;
        ev.has_next_request_id = true;
        ev.next_request_id = peek_next_id(s);
        ev.has_restarts = true;
        ev.restarts = s->restarts;
        reply.result_case = IB__V1__REPLY__RESULT_RESUMED;
        reply.resumed = &ev;
        (void) send_reply(s, &reply);
}

/* Ends a restored session that cannot go on: its one reply, then the usual teardown. */
static void end_session(Recovery *rc, RecSession *r) {
        char msg[384];

        (void) snprintf(msg, sizeof(msg), "the broker restarted and could not restore this session (%s): "
                        "it is closed; the kernel state it held is released", r->why);
        log_warning("%s: %s", r->s->name, msg);
        session_audit(r->s, AUDIT_VERB_RESTORE, NULL, AUDIT_DENIED, r->why);
        dispatch_send_error(r->s, r->has_slot && r->slot.phase == PERSIST_SLOT_STARTED ? r->slot.request_id : 0,
                            ESHUTDOWN, msg);
        r->s->persist_slot = 0; /* its fds were in the store: forgotten by the end below */
        session_free(r->s);
        r->s = NULL;
        rc->stats.ended++;
}

static int close_and_forget(FdStore *s, const char *name, int fd, void *userdata) {
        int f = fdstore_take(s, name);

        safe_close(f);
        (void) fdstore_forget(s, name);
        return 0;
}

static int restore_one(Recovery *rc, RecSession *r, void (*add)(Session *s, void *userdata), void *userdata) {
        char name[FDSTORE_NAME_MAX + 1], prefix[32];
        BackendCtx *ctx = NULL;
        int conn, xfd, q;

        persist_fd_name(name, sizeof(name), r->id, PERSIST_FD_CONNECTION, 0);
        conn = fdstore_take(rc->store, name);
        persist_fd_name(name, sizeof(name), r->id, PERSIST_FD_CONTEXT, 0);
        xfd = fdstore_take(rc->store, name);
        if (conn < 0 || xfd < 0) {
                log_warning("session %" PRIu64 ": its %s did not come back from the fd store: not restored",
                            r->id, conn < 0 ? "connection" : "context");
                safe_close(conn);
                safe_close(xfd);
                rc->stats.ended++;
                goto drop;
        }
        q = backend_ctx_adopt(rc->host->backend, xfd, &ctx);
        if (q < 0) {
                log_warning_errno(q, "session %" PRIu64 ": its context cannot be adopted: %m; not restored", r->id);
                safe_close(conn);
                rc->stats.ended++;
                goto drop;
        }
        {
                static gid_t groups[NGROUPS_MAX_RESTORE];
                PeerIdentity known;
                bool have = r->session &&
                            persist_session_identity(r->session, r->session_size, &known, groups, ELEMENTSOF(groups)) >= 0;

                /* without a readable identity in the records: read again from the kernel */
                q = session_restore(&r->s, rc->host, r->id, conn, ctx, r->session ? r->session->client_name : NULL,
                                    have ? &known : NULL);
        }
        if (q < 0 && !r->s) {
                log_warning_errno(q, "session %" PRIu64 ": cannot be restored: %m", r->id);
                rc->stats.ended++;
                goto drop;
        }
        r->s->restarts = (r->session ? r->session->restarts : 0) + 1;
        add(r->s, userdata);
        (void) persist_session_adopt(rc->p, r->s);
        if (q == -EACCES) {
                (void) snprintf(r->why, sizeof(r->why), "%s", r->s->deny_reason ?: "no tenant takes it any more");
                return -EACCES;
        }
        q = restore_objects(rc, r);
        if (q < 0 && !r->why[0])
                (void) snprintf(r->why, sizeof(r->why), "its records cannot be read: %s", strerror(-q));
        /* kept in the store but never recorded (a DeviceOpen, a MemRegister in flight): let go */
        (void) snprintf(prefix, sizeof(prefix), "s%" PRIu64 ".", r->id);
        (void) fdstore_foreach(rc->store, prefix, close_and_forget, NULL);
        return q;

drop:
        (void) snprintf(prefix, sizeof(prefix), "s%" PRIu64 ".", r->id);
        (void) fdstore_foreach(rc->store, prefix, close_and_forget, NULL);
        r->s = NULL;
        return 0;
}

static bool is_adopted(uint64_t id, void *userdata) {
        Recovery *rc = userdata;
        RecSession *r = rec_find(rc, id);

        return r && r->s;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

int recover_sessions(SessionHost *host, Persist *p, void (*add)(Session *s, void *userdata), void *userdata,
                     RecoverStats *ret) {
        Recovery rc = { .host = host, .p = p, .store = persist_store(p) };
        uint64_t start = now_usec();
        int q;

        *ret = (RecoverStats) {};
        if (!persist_restored(p))
                return 0;
        persist_count_restart(p);

        q = persist_foreach_record(p, pass_sessions, &rc);
        if (q < 0)
                log_warning_errno(q, "the state file's log ends in a damaged record: read up to it");
        for (size_t i = 0; i < rc.n_sessions; i++) {
                RecSession *r = &rc.sessions[i];

                if (r->ended)
                        continue;
                r->has_slot = persist_slot(p, r->id, &r->slot) >= 0;
                r->mark = r->has_slot ? r->slot.log_mark : UINT64_MAX;
                q = restore_one(&rc, r, add, userdata);
                if (q < 0 && r->s) {
                        r->unrestorable = true;
                        if (!r->why[0])
                                (void) snprintf(r->why, sizeof(r->why), "%s", strerror(-q));
                }
        }
        (void) persist_foreach_record(p, pass_mappings, &rc);

        for (size_t i = 0; i < rc.n_sessions; i++) {
                RecSession *r = &rc.sessions[i];

                if (!r->s)
                        continue;
                if (!r->unrestorable && r->has_slot && settle(&rc, r) < 0)
                        r->unrestorable = true;
                if (r->unrestorable) {
                        end_session(&rc, r);
                        continue;
                }
                rc.stats.sessions++;
                rc.stats.mappings += r->s->account.used[ACCOUNT_MAPPINGS];
                rc.stats.bytes += r->s->account.used[ACCOUNT_MAPPED_BYTES];
                send_resumed(r->s, &r->slot);
                session_audit(r->s, AUDIT_VERB_RESTORE, NULL, AUDIT_GRANTED, NULL);
        }
        /* fds of sessions the log had ended or never named: closed, so the kernel lets go */
        (void) fdstore_foreach(rc.store, "s", close_and_forget, NULL);
        persist_release_unadopted(p, is_adopted, &rc);
        for (size_t i = 0; i < rc.n_sessions; i++) {
                RecSession *r = &rc.sessions[i];

                if (r->s)
                        session_resume(r->s);
                free(r->ioas);
        }
        free(rc.sessions);
        rc.stats.usec = now_usec() - start;
        *ret = rc.stats;
        return 0;
}

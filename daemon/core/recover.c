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
 * record of each session and every OBJECTS_DELTA after it, the newest
 * record of an object winning; then every MAP and UNMAP in order, matched to
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
 *   - a request that changes objects (IOAS, registration, device, HWPT...): its
 *     OBJECTS_DELTA record carries its reply, so if that record follows the mark
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
 *     HWPT, fault queue, vIOMMU, vDEVICE and PASID verbs the same way;
 *     dirty tracking and invalidation are carried out again (the same
 *     twice is the same once); a dirty bitmap read is answered with what to
 *     assume (its bits may be cleared).
 *   - a datagram caught leaving the socket (RECEIVING): read as usual if it
 *     is still first there, else answered not_applied.
 * A reply that was waiting in the broker (QUEUED) is sent again.  No pinned
 * byte is counted twice: charges are rebuilt from the records only, after
 * they were made to agree.  The settling itself is core/settle.c.
 *
 * Seal guards (object/ioas.h) come back with the mappings that hold them: a
 * MAP record lists its guards' ids, and each guard is made again from its
 * own fd in the store at the first record that names it.  Holders the
 * replay skips (a registration unregistered since, a mapping of an IOAS
 * freed since) held their guards all the same, so the replay itself holds
 * each guard it restores until it ends; and before it, every id the
 * records name and the store keeps is noted, so that a guard made later
 * never takes an id an older record names.
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
#include "core/persist-objects.h"
#include "core/recover.h"
#include "core/recover-internal.h"
#include "core/settle.h"
#include "core/tenancy.h"
#include "core/verbs.h"
#include "object/context.h"
#include "policy/audit.h"
#include "util/log.h"
#include "wire/codec.h"
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

/* Array v (room for *size elements of elem bytes, n in use) with room for one more; NULL: no memory. */
static void *grow(void *v, size_t *size, size_t n, size_t elem) {
        void *a;

        if (n < *size)
                return v;
        a = reallocarray(v, *size ? *size * 2 : 16, elem);
        if (a)
                *size = *size ? *size * 2 : 16;
        return a;
}

/* The session's entry, added in id order (a compacted log lists sessions in any order). */
static RecSession *rec_add(Recovery *rc, uint64_t id) {
        RecSession *r = rec_find(rc, id), *a;
        size_t at;

        if (r)
                return r;
        a = grow(rc->sessions, &rc->size_sessions, rc->n_sessions, sizeof(RecSession));
        if (!a)
                return NULL;
        rc->sessions = a;
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
                        r->n_deltas = 0;        /* all of them: what came before no longer counts */
                        r->latest = rec->payload;
                        r->latest_size = rec->size;
                        r->objects_pos = rec->pos;
                }
                return 0;
        case PERSIST_REC_OBJECTS_DELTA:
                r = rec_find(rc, rec->session);
                if (r && rec->size >= sizeof(PersistObjectsHdr)) {
                        RecDelta *d = grow(r->deltas, &r->size_deltas, r->n_deltas, sizeof(RecDelta));

                        if (!d)
                                return -ENOMEM;
                        r->deltas = d;
                        r->deltas[r->n_deltas++] = (RecDelta) { .payload = rec->payload, .size = rec->size };
                        r->latest = rec->payload;
                        r->latest_size = rec->size;
                        r->objects_pos = rec->pos;
                }
                return 0;
        default:
                return 0;
        }
}

/* The restored IOAS a MAP or UNMAP record names, or NULL (freed since); r->ioas is in id order, one per id. */
static Ioas *rec_ioas(RecSession *r, uint32_t id, uint32_t serial) {
        size_t lo = 0, hi = r->n_ioas;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (r->ioas[mid].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < r->n_ioas && r->ioas[lo].id == id && r->ioas[lo].serial == serial ? r->ioas[lo].ioas : NULL;
}

/*
 * The guard ids a MAP record lists (since the guards were kept): *ret_n of
 * them at *ret_ids; false for a record of an older broker (none listed).
 * -EBADMSG: a count the record cannot hold.
 */
static int map_guard_ids(const PersistRecord *rec, uint32_t *ret_n, const uint8_t **ret_ids) {
        const uint8_t *at = (const uint8_t *) rec->payload + sizeof(PersistMapRec);
        uint32_t n;

        if (rec->size < sizeof(PersistMapRec) + sizeof(n))
                return 0;
        memcpy(&n, at, sizeof(n));
        if (n > (rec->size - sizeof(PersistMapRec) - sizeof(n)) / sizeof(uint32_t))
                return -EBADMSG;
        *ret_n = n;
        *ret_ids = at + sizeof(n);
        return 1;
}

/*
 * The seal guards a restored writable mapping (MAP_FILE path) holds: those
 * its record names, each made again once from its fd in the store (and held
 * by the restore until pass 2 ends: guard_set_restore_done()); a record of
 * an older broker names none, and the mapping of a registration then gets
 * the guard of the registration's fd.  A guard whose fd is not in the store
 * went before the restart; a live mapping left without one is logged after
 * pass 2 (warn_unguarded()).
 */
static int restore_guards(Recovery *rc, RecSession *r, Ioas *ioas, Mapping *made, const PersistRecord *rec,
                          MemReg *reg) {
        const uint8_t *ids = NULL;
        uint32_t n = 0;
        int q;

        q = map_guard_ids(rec, &n, &ids);
        if (q < 0)
                return q;
        if (q == 0)
                return reg && mapping_needs_guard(ioas, made) ?
                        mapping_guard_file(made, &r->s->guards, reg->fd, &reg->seal_guard, NULL) : 0;

        for (uint32_t i = 0; i < n; i++) {
                uint32_t id;
                MemRef *g;

                memcpy(&id, ids + i * sizeof(id), sizeof(id));
                g = guard_set_find(&r->s->guards, id);
                if (!g) {
                        char name[FDSTORE_NAME_MAX + 1];
                        int fd;

                        persist_fd_name(name, sizeof(name), r->s->id, PERSIST_FD_GUARD, id);
                        fd = fdstore_take(rc->store, name);
                        if (fd < 0)
                                continue;       /* the guard went before the restart */
                        q = guard_set_restore(&r->s->guards, id, fd, &g);
                        if (q < 0) {
                                safe_close(fd);
                                (void) fdstore_forget(rc->store, name);
                                return q;
                        }
                }
                q = mapping_hold_guard(made, g, reg ? &reg->seal_guard : NULL);
                if (q < 0)
                        return q;
        }
        return 0;
}

/* After pass 2: a writable mapping whose guard's fd was lost can no longer keep F_SEAL_WRITE away. */
static void warn_unguarded(Session *s) {
        Ioas *ioas;

        LIST_FOREACH(ioas, &s->objects[SESSION_IOAS], link) {
                ITreeNode *n;

                itree_for_each(n, &ioas->maps) {
                        const Mapping *m = itree_entry(n, Mapping, node);

                        if (mapping_needs_guard(ioas, m) && mapping_guards(m, NULL, 0) == 0)
                                log_warning("%s: the mapping at 0x%" PRIx64 " of IOAS %" PRIu32 " lost its seal "
                                            "guard (its fd is not in the store): F_SEAL_WRITE is no longer kept "
                                            "from its file", s->name, n->start, ioas->id);
                }
        }
}

/*
 * Before pass 2, the guard ids a session has used: every id a MAP record
 * names (also of an IOAS freed since) and every one the store keeps a fd
 * for ("sN.gID", also of a guard made at a recovery that left no record of
 * it yet).  Guards made during pass 2 (a record of an older broker) or
 * later take ids above them all, so no record and no stored fd can ever
 * name a guard of another file.
 */
static int pass_guard_ids(const PersistRecord *rec, void *userdata) {
        Recovery *rc = userdata;
        const uint8_t *ids = NULL;
        uint32_t n = 0;
        RecSession *r;

        if (rec->type != PERSIST_REC_MAP || rec->size < sizeof(PersistMapRec))
                return 0;
        r = rec_find(rc, rec->session);
        if (!r || !r->s || map_guard_ids(rec, &n, &ids) <= 0)
                return 0;
        for (uint32_t i = 0; i < n; i++) {
                uint32_t id;

                memcpy(&id, ids + i * sizeof(id), sizeof(id));
                guard_set_note_id(&r->s->guards, id);
        }
        return 0;
}

/* Whether name is a seal guard's in the store ("sN.gID", persist_fd_name()), and *ret_id its id. */
static bool stored_guard_id(const char *name, uint32_t *ret_id) {
        const char *g = strchr(name, '.');
        unsigned long id;
        char *end;

        if (!g || g[1] != PERSIST_FD_GUARD)
                return false;
        errno = 0;
        id = strtoul(g + 2, &end, 10);
        if (errno != 0 || *end != '\0' || end == g + 2 || id > UINT32_MAX)
                return false;
        *ret_id = (uint32_t) id;
        return true;
}

static int note_stored_guard(FdStore *s, const char *name, int fd, void *userdata) {
        uint32_t id;

        if (stored_guard_id(name, &id))
                guard_set_note_id(userdata, id);
        return 0;
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
                Mapping *made;
                MemReg *reg;
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
                reg = m->mem ? session_find(r->s, MemReg, m->mem) : NULL;
                q = ioas_restore_mapping(ioas, m->iova, m->length, m->flags, m->mem, m->offset, &made);
                if (q >= 0)
                        q = restore_guards(rc, r, ioas, made, rec, reg);
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

/*
 * Whether the request the slot says was interrupted is a DeviceClose of
 * device dev_id or a MemUnregister of handle mem (0: not asked): such a
 * request drops the fd from the store before its record says so.
 */
static bool slot_releases(const RecSession *r, uint32_t dev_id, uint32_t mem) {
        Ib__V1__Request *req = NULL;
        bool yes = false;

        if (!r->has_slot || r->slot.phase != PERSIST_SLOT_STARTED || !r->slot.request ||
            codec_decode_request(r->slot.request, r->slot.request_size, &req) < 0)
                return false;
        if (dev_id && req->verb_case == IB__V1__REQUEST__VERB_DEVICE_CLOSE)
                yes = req->device_close->dev_id == dev_id;
        else if (mem && req->verb_case == IB__V1__REQUEST__VERB_MEM_UNREGISTER)
                yes = req->mem_unregister->mem == mem;
        codec_request_free(req);
        return yes;
}

/*
 * One object of a session as its records leave it: the newest record of it
 * (rec, size bytes, in the log), or rec NULL where the newest says it went.
 * seq: the order records were read in, so that of two the later wins.
 */
typedef struct RecObject {
        uint32_t kind;                  /* PERSIST_KIND_* */
        uint32_t id;
        uint64_t seq;
        const uint8_t *rec;
        size_t size;
} RecObject;

typedef struct RecObjects {
        RecObject *v;
        size_t n, size;
} RecObjects;

static int objects_push(RecObjects *set, uint32_t kind, uint32_t id, const uint8_t *rec, size_t size) {
        RecObject *v = grow(set->v, &set->size, set->n, sizeof(RecObject));

        if (!v)
                return -ENOMEM;
        set->v = v;
        set->v[set->n] = (RecObject) { .kind = kind, .id = id, .seq = set->n, .rec = rec, .size = size };
        set->n++;
        return 0;
}

/* Adds what one OBJECTS or OBJECTS_DELTA payload says to set: each object it lists, then each it says went. */
static int objects_read(RecObjects *set, const void *payload, size_t size, PersistObjectsHdr *ret_oh) {
        const uint8_t *at = payload, *end = at + size;
        PersistObjectsHdr oh;
        int q;

        if (size < sizeof(oh))
                return -EBADMSG;
        memcpy(&oh, at, sizeof(oh));
        at += sizeof(oh);
        for (uint32_t kind = PERSIST_KIND_IOAS; kind < _PERSIST_KIND_MAX; kind++)
                for (uint32_t i = 0; i < *persist_objects_count(&oh, kind); i++) {
                        size_t n = persist_object_size(kind, at, end);

                        if (n == 0)
                                return -EBADMSG;
                        q = objects_push(set, kind, persist_object_id(kind, at), at, n);
                        if (q < 0)
                                return q;
                        at += n;
                }
        for (uint32_t i = 0; i < oh.n_removed; i++) {
                PersistObjectRef ref;

                if ((size_t) (end - at) < sizeof(ref))
                        return -EBADMSG;
                memcpy(&ref, at, sizeof(ref));
                at += sizeof(ref);
                if (ref.kind < PERSIST_KIND_IOAS || ref.kind >= _PERSIST_KIND_MAX)
                        return -EBADMSG;
                q = objects_push(set, ref.kind, ref.id, NULL, 0);
                if (q < 0)
                        return q;
        }
        *ret_oh = oh;
        return 0;
}

/* By kind (in the order of restoring), id, then the order the records were read in. */
static int rec_object_compare(const void *a, const void *b) {
        const RecObject *x = a, *y = b;

        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        if (x->id != y->id)
                return x->id < y->id ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The session's objects as its records leave them: its latest OBJECTS
 * payload, then each OBJECTS_DELTA after it in order, the newest record of
 * an object winning; in set, sorted, one entry per object (rec NULL: gone).
 * *ret_oh: the newest header (the session's id counters).
 */
static int objects_collect(const RecSession *r, RecObjects *set, PersistObjectsHdr *ret_oh) {
        size_t k = 0;
        int q;

        q = objects_read(set, r->objects, r->objects_size, ret_oh);
        for (size_t i = 0; q >= 0 && i < r->n_deltas; i++)
                q = objects_read(set, r->deltas[i].payload, r->deltas[i].size, ret_oh);
        if (q < 0)
                return q;
        if (set->n == 0)
                return 0;       /* a session without objects */
        qsort(set->v, set->n, sizeof(RecObject), rec_object_compare);
        for (size_t i = 0; i < set->n; i++) {
                if (i + 1 < set->n && set->v[i + 1].kind == set->v[i].kind && set->v[i + 1].id == set->v[i].id)
                        continue;       /* a later record of the same object follows */
                set->v[k++] = set->v[i];
        }
        set->n = k;
        return 0;
}

static int restore_ioas(Recovery *rc, RecSession *r, const uint8_t *at) {
        Session *s = r->s;
        PersistIoasRec ir;
        Ioas *ioas;
        int q;

        memcpy(&ir, at, sizeof(ir));
        at += sizeof(ir);
        q = ioas_restore(&ioas, s->ctx, &s->account, ir.id);
        if (q < 0)
                return q;
        ioas->serial = ir.serial;
        ioas->n_window = ir.n_window;
        memcpy(ioas->window, at, sizeof(IovaRange) * ir.n_window);
        at += sizeof(IovaRange) * ir.n_window;
        ioas->n_allowed = ir.n_allowed;
        memcpy(ioas->allowed, at, sizeof(IovaRange) * ir.n_allowed);
        ioas->enforce_snoop = ir.enforce_snoop;
        r->ioas[r->n_ioas++] = (RecIoas) { .id = ir.id, .serial = ir.serial, .ioas = ioas };
        session_add(s, ioas);
        return 0;
}

static int restore_memreg(Recovery *rc, RecSession *r, const uint8_t *at) {
        char name[FDSTORE_NAME_MAX + 1];
        Session *s = r->s;
        PersistMemRegRec mr;
        MemReg *m;
        int fd, q;

        memcpy(&mr, at, sizeof(mr));
        persist_fd_name(name, sizeof(name), s->id, PERSIST_FD_MEMREG, mr.id);
        fd = fdstore_take(rc->store, name);
        if (fd < 0 && slot_releases(r, 0, mr.id)) {
                r->released = true;     /* its MemUnregister was under way: done */
                return 0;
        }
        if (fd < 0) {
                (void) snprintf(r->why, sizeof(r->why), "the fd of registered memory %" PRIu32 " was lost", mr.id);
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
        return 1;
}

static int restore_device(Recovery *rc, RecSession *r, const uint8_t *at) {
        char name[FDSTORE_NAME_MAX + 1], dname[sizeof(((PersistDeviceRec *) NULL)->name) + 1];
        Session *s = r->s;
        PersistDeviceRec dr;
        Device *d;
        int fd, q;

        memcpy(&dr, at, sizeof(dr));
        at += sizeof(dr);
        memcpy(dname, dr.name, sizeof(dr.name));
        dname[sizeof(dr.name)] = '\0';
        persist_fd_name(name, sizeof(name), s->id, PERSIST_FD_DEVICE, dr.dev_id);
        fd = fdstore_take(rc->store, name);
        if (fd < 0 && slot_releases(r, dr.dev_id, 0)) {
                /* its DeviceClose was under way: done (its PASIDs went with the unbind) */
                r->released = true;
                return 0;
        }
        if (fd < 0) {
                (void) snprintf(r->why, sizeof(r->why), "the fd of device %s was lost", dname);
                return -EBADF;
        }
        q = device_restore(&d, &s->host->devices, s->ctx, &s->account, s->id, s->cred.pid, s->cred.uid, dname, fd,
                           dr.dev_id, dr.pt_id, dr.hwpt_id);
        if (q < 0) {
                (void) snprintf(r->why, sizeof(r->why), "device %s cannot be restored: %s", dname, strerror(-q));
                return q;
        }
        session_add(s, d);
        d->global_pasid = dr.global_pasid;
        for (uint32_t k = 0; k < dr.n_pasids; k++) {
                PersistPasidRec pr;
                PasidEntry *e;

                memcpy(&pr, at, sizeof(pr));
                at += sizeof(pr);
                q = pasid_entry_restore(&e, d->global_pasid ? &s->host->pasids : NULL, pr.vpasid, pr.pasid, pr.pt_id,
                                        &s->account);
                if (q < 0) {
                        (void) snprintf(r->why, sizeof(r->why), "PASID %" PRIu32 " of device %s cannot be restored: %s",
                                        pr.pasid, dname, strerror(-q));
                        return q;
                }
                pasid_table_add(&d->pasids, e);
        }
        return 1;
}

/* One object from its record (1: restored, 0: it had gone); fds from the store. */
static int restore_object(Recovery *rc, RecSession *r, const RecObject *o) {
        Session *s = r->s;
        int q;

        switch (o->kind) {
        case PERSIST_KIND_IOAS:
                q = restore_ioas(rc, r, o->rec);
                return q < 0 ? q : 1;
        case PERSIST_KIND_MEMREG:
                return restore_memreg(rc, r, o->rec);
        case PERSIST_KIND_DEVICE:
                return restore_device(rc, r, o->rec);
        case PERSIST_KIND_HWPT: {
                PersistHwptRec hr;
                Hwpt *h;

                memcpy(&hr, o->rec, sizeof(hr));
                q = hwpt_restore(&h, s->ctx, &s->account, hr.id, hr.pt_id, hr.flags, hr.data_type, hr.enforce_snoop);
                if (q >= 0)
                        session_add(s, h);
                return q < 0 ? q : 1;
        }
        case PERSIST_KIND_FAULT: {
                PersistFaultRec fr;
                FaultQueue *f;

                memcpy(&fr, o->rec, sizeof(fr));
                q = fault_queue_restore(&f, s->ctx, &s->account, fr.id);
                if (q >= 0)
                        session_add(s, f);
                return q < 0 ? q : 1;
        }
        case PERSIST_KIND_VIOMMU: {
                PersistViommuRec vr;
                Viommu *v;

                memcpy(&vr, o->rec, sizeof(vr));
                q = viommu_restore(&v, s->ctx, &s->account, vr.id, vr.dev_id, vr.hwpt_id);
                if (q >= 0)
                        session_add(s, v);
                return q < 0 ? q : 1;
        }
        case PERSIST_KIND_VDEVICE: {
                PersistVdeviceRec vr;
                Vdevice *v;

                memcpy(&vr, o->rec, sizeof(vr));
                q = vdevice_restore(&v, s->ctx, &s->account, vr.id, vr.viommu_id, vr.dev_id);
                if (q >= 0)
                        session_add(s, v);
                return q < 0 ? q : 1;
        }
        default:
                return -EBADMSG;
        }
}

/* The records of one session from its latest OBJECTS payload and the OBJECTS_DELTAs after it; fds from the store. */
static int restore_objects(Recovery *rc, RecSession *r) {
        _cleanup_free_ RecObject *set_v = NULL;
        RecObjects set = {};
        PersistObjectsHdr oh;
        size_t n_kernel = 0, n_ioas = 0;
        int q;

        if (!r->objects) {
                (void) snprintf(r->why, sizeof(r->why), "no record of its objects");
                return -EBADMSG;
        }
        q = objects_collect(r, &set, &oh);
        set_v = set.v;
        if (q < 0)
                return q;
        for (size_t i = 0; i < set.n; i++)
                if (set.v[i].rec) {
                        n_kernel += set.v[i].kind != PERSIST_KIND_MEMREG;
                        n_ioas += set.v[i].kind == PERSIST_KIND_IOAS;
                }
        if (!r->s->ctx && n_kernel > 0) {
                (void) snprintf(r->why, sizeof(r->why), "its iommufd did not come back from the fd store");
                return -EBADMSG;
        }
        r->s->last_mem = oh.last_mem;
        r->s->last_ioas_serial = oh.last_ioas_serial;
        r->ioas = calloc(n_ioas ? n_ioas : 1, sizeof(RecIoas));
        if (!r->ioas)
                return -ENOMEM;
        for (size_t i = 0; i < set.n; i++) {
                if (!set.v[i].rec)
                        continue;       /* gone since */
                q = restore_object(rc, r, &set.v[i]);
                if (q < 0)
                        return q;
                rc->stats->objects += (unsigned) q;
        }
        return 0;
}

/* 0, or -errno when the event could not be queued: a client that waits for it would wait for ever. */
static int send_resumed(Session *s, const PersistSlotView *v) {
        Ib__V1__ResumedEvent ev = IB__V1__RESUMED_EVENT__INIT;
        const Ib__V1__Feature *features;
        _cleanup_free_ uint8_t *buf = NULL;
        Ib__V1__Reply reply;
        size_t size;
        int r;

        ib__v1__reply__init(&reply);
        ev.has_last_request_id = true;
        ev.last_request_id = v->phase == PERSIST_SLOT_IDLE && v->request_id == 0 ? 0 : v->request_id;
        ev.has_next_request_id = true;
        ev.next_request_id = settle_peek_next_id(s);
        ev.has_restarts = true;
        ev.restarts = s->restarts;
        ev.n_features = protocol_features(&features);
        ev.features = (Ib__V1__Feature *) features;     /* packed, not written */
        reply.result_case = IB__V1__REPLY__RESULT_RESUMED;
        reply.resumed = &ev;
        /* not the slot's: that keeps the answer to the settled request, which a second restart sends again */
        r = codec_encode_reply(&reply, &buf, &size);
        if (r < 0)
                return r;
        return transport_send(&s->transport, buf, size, NULL, 0, NULL);
}

/* Drops every fd of session id the store passed (FDSTOREREMOVE), so that nothing of it outlives its end. */
static void forget_session_fds(Recovery *rc, uint64_t id) {
        char prefix[32];

        (void) snprintf(prefix, sizeof(prefix), "s%" PRIu64 ".", id);
        fdstore_forget_passed(rc->store, prefix);
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
        /* out of the store, every fd of it the restart found (taken or not), before the teardown */
        persist_session_end(rc->p, r->s);
        forget_session_fds(rc, r->id);
        session_free(r->s);
        r->s = NULL;
        rc->stats->ended++;
}

static int close_and_forget(FdStore *s, const char *name, int fd, void *userdata) {
        fdstore_drop(s, name);
        return 0;
}

/* What restore_one() lets go of: all but the seal guards, which pass 2 takes (the rest after it). */
static int close_unrecorded(FdStore *s, const char *name, int fd, void *userdata) {
        uint32_t id;

        if (stored_guard_id(name, &id))
                return 0;
        return close_and_forget(s, name, fd, userdata);
}

static int restore_one(Recovery *rc, RecSession *r, void (*add)(Session *s, void *userdata), void *userdata) {
        char name[FDSTORE_NAME_MAX + 1], prefix[32];
        BackendCtx *ctx = NULL;
        int conn, xfd, q;

        persist_fd_name(name, sizeof(name), r->id, PERSIST_FD_CONNECTION, 0);
        conn = fdstore_take(rc->store, name);
        persist_fd_name(name, sizeof(name), r->id, PERSIST_FD_CONTEXT, 0);
        xfd = fdstore_take(rc->store, name);    /* none: it had made no kernel object yet (core/verb-ioas.c) */
        if (conn < 0) {
                log_warning("session %" PRIu64 ": its connection did not come back from the fd store: not restored",
                            r->id);
                safe_close(xfd);
                rc->stats->ended++;
                goto drop;
        }
        q = xfd >= 0 ? backend_ctx_adopt(rc->host->backend, xfd, &ctx) : 0;
        if (q < 0) {
                log_warning_errno(q, "session %" PRIu64 ": its context cannot be adopted: %m; not restored", r->id);
                safe_close(conn);
                rc->stats->ended++;
                goto drop;
        }
        {
                static gid_t groups[NGROUPS_MAX_RESTORE];
                char client[sizeof(((PersistSessionRec *) NULL)->client_name) + 1] = "";
                SessionRestored restored = {};
                const char *tenant = NULL;
                PeerIdentity known;
                bool have = r->session && persist_session_identity(r->session, r->session_size, &known, groups,
                                                                   ELEMENTSOF(groups), &tenant) >= 0;

                /* without a readable identity in the records: read again from the kernel, matched again */
                if (have)
                        restored = (SessionRestored) {
                                .identity = &known,
                                .tenant = tenant,
                                .revoke_on_reload = r->session->revoke_on_reload,
                        };
                if (r->session)
                        (void) snprintf(client, sizeof(client), "%.*s", (int) sizeof(r->session->client_name),
                                        r->session->client_name);
                q = session_restore(&r->s, rc->host, r->id, conn, ctx, client, have ? &restored : NULL);
        }
        if (q < 0 && !r->s) {
                log_warning_errno(q, "session %" PRIu64 ": cannot be restored: %m", r->id);
                rc->stats->ended++;
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
        (void) fdstore_foreach(rc->store, prefix, close_unrecorded, NULL);
        return q;

drop:
        forget_session_fds(rc, r->id);
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
        Recovery rc = { .host = host, .p = p, .store = persist_store(p), .stats = ret };
        uint64_t start = now_usec();
        int q;

        *ret = (RecoverStats) {};
        if (!persist_restored(p))
                return 0;
        persist_count_restart(p);
        /* rc's records point into the log until the end: settling writes records, never a compaction */
        persist_hold_log(p, true);

        q = persist_foreach_record(p, pass_sessions, &rc);
        if (q == -ENOMEM) {
                /*
                 * Records left unread would restore objects as they were before
                 * them: nothing is taken from the store yet, so fail the start
                 * (the service manager starts the broker again, the store intact).
                 */
                for (size_t i = 0; i < rc.n_sessions; i++)
                        free(rc.sessions[i].deltas);
                free(rc.sessions);
                persist_hold_log(p, false);
                return q;
        }
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
        (void) persist_foreach_record(p, pass_guard_ids, &rc);
        for (size_t i = 0; i < rc.n_sessions; i++) {
                RecSession *r = &rc.sessions[i];
                char prefix[32];

                if (!r->s)
                        continue;
                (void) snprintf(prefix, sizeof(prefix), "s%" PRIu64 ".%c", r->id, PERSIST_FD_GUARD);
                (void) fdstore_foreach(rc.store, prefix, note_stored_guard, &r->s->guards);
        }
        (void) persist_foreach_record(p, pass_mappings, &rc);

        for (size_t i = 0; i < rc.n_sessions; i++) {
                RecSession *r = &rc.sessions[i];

                if (!r->s)
                        continue;
                guard_set_restore_done(&r->s->guards);
                warn_unguarded(r->s);
                if (!r->unrestorable && r->has_slot && settle_request(&rc, r) < 0)
                        r->unrestorable = true;
                if (r->answered)
                        rc.stats->resolved++;
                if (r->unrestorable) {
                        end_session(&rc, r);
                        continue;
                }
                /* a client holds its sends after a not_applied until this event (conn.c): no event, no session */
                if (send_resumed(r->s, &r->slot) < 0) {
                        r->unrestorable = true;
                        end_session(&rc, r);
                        continue;
                }
                rc.stats->sessions++;
                rc.stats->mappings += r->s->account.used[ACCOUNT_MAPPINGS];
                rc.stats->bytes += r->s->account.used[ACCOUNT_MAPPED_BYTES];
                session_audit(r->s, AUDIT_VERB_RESTORE, NULL, AUDIT_GRANTED, NULL);
        }
        /* fds of sessions the log had ended or never named: closed, so the kernel lets go */
        for (char d = '0'; d <= '9'; d++)
                (void) fdstore_foreach(rc.store, (char[]) { 's', d, '\0' }, close_and_forget, NULL);
        persist_release_unadopted(p, is_adopted, &rc);
        /* tenants kept only for restored sessions (gone from the policy): orphaned, nothing new */
        tenancy_reload(host->tenants, host->policy);
        for (size_t i = 0; i < rc.n_sessions; i++) {
                RecSession *r = &rc.sessions[i];

                if (r->s)
                        session_resume(r->s);
                free(r->ioas);
                free(r->deltas);
        }
        free(rc.sessions);
        persist_hold_log(p, false);
        rc.stats->usec = now_usec() - start;
        return 0;
}

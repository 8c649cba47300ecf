/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session.c - see session.h.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "common/protocol.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "object/context.h"
#include "policy/audit.h"
#include "util/log.h"
#include "util/offload.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

void session_admission_complete(SessionAdmission *a) {
        if (a->hello_timeout_sec == 0)
                a->hello_timeout_sec = SESSION_HELLO_TIMEOUT_SEC;
        if (a->max_connections_per_uid == 0)
                a->max_connections_per_uid = SESSION_MAX_CONNECTIONS_PER_UID;
        if (a->max_pending_per_uid == 0)
                a->max_pending_per_uid = SESSION_MAX_PENDING_PER_UID;
}

void session_host_done(SessionHost *host) {
        free(host->uids);
        host->uids = NULL;
        host->n_uids = host->size_uids = 0;
}

#define SESSION_OUT_OF_FDS "the broker is out of file descriptors: connection refused, try again later"

void session_audit(const Session *s, const char *verb, const char *object, const char *result, const char *reason) {
        AuditRecord r = {
                .tenant = s->tenant ? s->tenant->name : NULL,
                .uid = s->cred.uid,
                .pid = s->cred.pid,
                .unit = s->id_peer.unit,
                .verb = verb,
                .object = object,
                .result = result,
                .reason = reason,
        };

        audit_log(&r);
}

/* Refuses the connection with err and reason (audited, logged); -ENOMEM only. */
static int session_refuse(Session *s, int err, const char *reason) {
        s->deny_reason = strdup(reason);
        if (!s->deny_reason)
                return -ENOMEM;
        s->deny_errno = err;
        session_audit(s, AUDIT_VERB_CONNECT, NULL, AUDIT_DENIED, reason);
        log_notice("%s: %s", s->name, reason);
        return 0;
}

/* The same for a limit the connection itself would pass (EDQUOT). */
static int session_refuse_quota(Session *s, const Account *over) {
        char reason[256];
        size_t n;

        tenancy_quota_sentence(over, reason, sizeof(reason));
        n = strlen(reason);
        (void) snprintf(reason + n, sizeof(reason) - n, ": connection refused");
        return session_refuse(s, EDQUOT, reason);
}

/*
 * Decides at accept which tenant the peer is (tenancy.h); on a refusal sets
 * s->deny_reason and audits it.  -errno only on ENOMEM.
 */
static int session_admit(Session *s, const SessionRestored *restored) {
        const PeerIdentity *known = restored ? restored->identity : NULL;
        SessionHost *host = s->host;
        const PolicyTenant *pt = NULL;
        const char *name = NULL;
        char reason[256];
        int r;

        /* a restored session is who it was at accept: the identity its records kept */
        r = known ? peer_identity_copy(&s->id_peer, known) : peer_identity_get(&s->id_peer, &s->cred, s->pidfd);
        if (r == -ENOMEM)
                return r;
        if (r == -EMFILE || r == -ENFILE)
                return session_refuse(s, EMFILE, SESSION_OUT_OF_FDS);
        if (r < 0) {
                (void) snprintf(reason, sizeof(reason), "cannot identify the peer (pid %d): %s", (int) s->cred.pid,
                                strerror(-r));
                return session_refuse(s, EACCES, reason);
        }
        if (restored && restored->tenant) {
                /*
                 * A restored session keeps the tenant it was admitted as, as
                 * across a reload: its section in the policy in force, or, if
                 * that is gone, what RevokeOnReload= said of it (closed, or
                 * running on with nothing new: an orphaned tenant).
                 */
                bool local = !host->policy && strcmp(restored->tenant, TENANCY_LOCAL_ADMIN) == 0;

                name = restored->tenant;
                pt = host->policy ? policy_find_tenant(host->policy, name) : NULL;
                if (!pt && !local && restored->revoke_on_reload) {
                        (void) snprintf(reason, sizeof(reason),
                                        "tenant '%.64s' is gone from the policy and RevokeOnReload= closes its sessions",
                                        name);
                        return session_refuse(s, EACCES, reason);
                }
                r = tenant_get(&host->tenants, name, host->account, &s->tenant);
                if (r < 0)
                        return r;
                s->tenant->record = pt;
                s->tenant->orphaned = !pt && !local;
                if (!s->tenant->orphaned)
                        tenancy_apply_limits(s->tenant, pt);
                return 0;
        }
        r = tenancy_match(host->policy, host->policy_path, host->uid, &s->id_peer, &s->cred, &name, &pt, reason,
                          sizeof(reason));
        if (r < 0)
                return session_refuse(s, EACCES, reason);

        r = tenant_get(&host->tenants, name, host->account, &s->tenant);
        if (r < 0)
                return r;
        s->tenant->record = pt;
        s->tenant->orphaned = false;
        tenancy_apply_limits(s->tenant, pt);
        if (!known)     /* a restored session's admission is audited as its restore (core/recover.c) */
                session_audit(s, AUDIT_VERB_CONNECT, NULL, AUDIT_GRANTED, NULL);
        return 0;
}

static SessionUid *host_uid(SessionHost *host, uid_t uid, bool create) {
        for (size_t i = 0; i < host->n_uids; i++)
                if (host->uids[i].uid == uid)
                        return &host->uids[i];
        if (!create)
                return NULL;
        if (host->n_uids == host->size_uids) {
                size_t n = host->size_uids ? host->size_uids * 2 : 16;
                SessionUid *a = reallocarray(host->uids, n, sizeof(*a));

                if (!a)
                        return NULL;
                host->uids = a;
                host->size_uids = n;
        }
        host->uids[host->n_uids] = (SessionUid) { .uid = uid };
        return &host->uids[host->n_uids++];
}

static void session_uncount_uid(Session *s) {
        SessionUid *u;

        if (!s->counted_uid)
                return;
        s->counted_uid = false;
        u = host_uid(s->host, s->cred.uid, false);
        if (!u)
                return;
        u->connections--;
        if (!s->hello)
                u->pending--;
        if (u->connections == 0)
                *u = s->host->uids[--s->host->n_uids];  /* unordered: the last takes its place */
}

/* Counts the connection for its uid; refuses it (EUSERS) past the per-uid limits. */
static int session_count_uid(Session *s) {
        const SessionAdmission *a = &s->host->admission;
        char reason[200];
        SessionUid *u;

        u = host_uid(s->host, s->cred.uid, true);
        if (!u)
                return -ENOMEM;
        u->connections++;
        u->pending++;
        s->counted_uid = true;
        if (u->connections > a->max_connections_per_uid)
                (void) snprintf(reason, sizeof(reason),
                                "uid %u has %u connections open, the limit is %u (--max-connections-per-uid): "
                                "connection refused", (unsigned) s->cred.uid, u->connections - 1,
                                a->max_connections_per_uid);
        else if (u->pending > a->max_pending_per_uid)
                (void) snprintf(reason, sizeof(reason),
                                "uid %u has %u connections that have not sent Hello, the limit is %u "
                                "(--max-pending-per-uid): connection refused", (unsigned) s->cred.uid,
                                u->pending - 1, a->max_pending_per_uid);
        else
                return 0;
        return session_refuse(s, EUSERS, reason);
}

static void session_on_hello_timeout(evutil_socket_t fd, short what, void *userdata) {
        Session *s = userdata;
        char msg[128];

        /* a refused connection that never asked hears why it was refused */
        if (s->deny_reason)
                s->host->server->send_error(s, 0, s->deny_errno > 0 ? s->deny_errno : EACCES, s->deny_reason);
        else {
                (void) snprintf(msg, sizeof(msg), "no Hello within %u s of connecting: the connection is closed",
                                s->host->admission.hello_timeout_sec);
                log_notice("%s: %s", s->name, msg);
                s->host->server->send_error(s, 0, ETIMEDOUT, msg);
        }
        session_free(s);
}

void session_request_waits(Session *s) {
        s->waiting = true;
        transport_pause(&s->transport, true);
}

void session_request_done(Session *s) {
        s->waiting = false;
        if (s->free_pending)
                (void) session_free(s);
        else
                transport_pause(&s->transport, false);
}

void session_hello_done(Session *s) {
        SessionUid *u;

        if (s->hello)
                return;
        s->hello = true;
        if (s->hello_timer)
                (void) event_del(s->hello_timer);
        u = s->counted_uid ? host_uid(s->host, s->cred.uid, false) : NULL;
        if (u)
                u->pending--;
        /* from here on it survives a restart of the broker */
        if (s->host->journal && s->host->journal->begin)
                s->host->journal->begin(s, s->host->journal->userdata);
}

static int session_on_message(void *userdata, const uint8_t *data, size_t size, FdList *fds, unsigned flags) {
        Session *s = userdata;

        s->n_requests++;
        if (s->deny_reason) {
                s->host->server->refuse(s, data, size, fds, s->deny_reason);
                session_free(s);
                return TRANSPORT_FREED;        /* careful: freed here */
        }
        s->host->server->message(s, data, size, fds, flags);
        return 0;
}

static void session_on_peek(void *userdata, const uint8_t *head, size_t size) {
        Session *s = userdata;

        s->host->journal->peek(s, head, size, s->host->journal->userdata);
}

static void session_on_hangup(void *userdata, int err) {
        Session *s = userdata;

        if (err < 0)
                log_notice("%s: connection failed: %s", s->name, strerror(-err));
        session_free(s);
        /* careful: freed here */
}

/*
 * Replies a session's transport queues before it stops reading: with a state
 * file, one, so that the only reply a crash can take is the one the slot
 * keeps (core/persist.c).
 */
static size_t session_max_queued(const SessionHost *host) {
        return host->journal && host->journal->one_reply_queued ? 1 : IB_MAX_REQUESTS_IN_FLIGHT;
}

/* A seal guard's fd is kept where a restart finds it, for as long as the guard lives (object/ioas.h). */
static void session_guard_kept(uint32_t id, int fd, void *userdata) {
        Session *s = userdata;

        if (s->host->journal && s->host->journal->keep_guard)
                s->host->journal->keep_guard(s, id, fd, s->host->journal->userdata);
}

static void session_guard_dropped(uint32_t id, void *userdata) {
        Session *s = userdata;

        if (s->host->journal && s->host->journal->release_guard)
                s->host->journal->release_guard(s, id, s->host->journal->userdata);
}

/*
 * The start both a new and a restored session share: the peer as the kernel
 * gave it (SO_PEERCRED, SO_PEERPIDFD: a socket keeps them), its uid's count,
 * its admission (known: the identity captured at its accept), its account.
 */
static int session_alloc(Session **ret, SessionHost *host, uint64_t id, int sock, const SessionRestored *restored) {
        _cleanup_(session_freep) Session *s = NULL;
        socklen_t len = sizeof(struct ucred);
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->transport = (Transport) TRANSPORT_NULL;
        s->pidfd = -1;
        s->host = host;
        s->id = id;
        (void) snprintf(s->name, sizeof(s->name), "session %" PRIu64, id);

        if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &s->cred, &len) < 0)
                return -errno;
        len = sizeof(int);
        if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &s->pidfd, &len) < 0)
                s->pidfd = -1;          /* kernels before 6.5: the pid from SO_PEERCRED is all there is */

        s->id_peer = (PeerIdentity) PEER_IDENTITY_NULL;
        r = session_count_uid(s);
        if (r < 0)
                return r;
        if (!s->deny_reason) {
                r = session_admit(s, restored);
                if (r < 0)
                        return r;
        }
        account_init(&s->account, s->name, s->tenant ? &s->tenant->account : host->account);
        guard_set_init(&s->guards, &s->account, session_guard_kept, session_guard_dropped, s);
        *ret = TAKE_PTR(s);
        return 0;
}

/* Serves sock (taken, also on failure) through the session's transport. */
static int session_serve(Session *s, int sock) {
        int r;

        r = transport_init(&s->transport, s->host->base, sock, IB_MAX_MESSAGE_SIZE, IB_MAX_FDS_PER_MESSAGE,
                           session_max_queued(s->host), &s->account, session_on_message, session_on_hangup, s);
        if (r < 0)
                return r;
        if (s->host->journal && s->host->journal->peek)
                s->transport.on_peek = session_on_peek;
        return 0;
}

/*
 * The fds the broker holds for a session itself: its socket and the peer's
 * pidfd (where the kernel gives one).  Its iommufd is opened at the first
 * verb that makes a kernel object and charged then (session_context()): an
 * idle session holds two.
 */
static unsigned session_own_fds(const Session *s) {
        return 1 + (s->pidfd >= 0);
}

/* What its iommufd costs: one fd; at its first kernel object or restored. */
static int session_charge_context(Session *s, bool restored, const Account **ret_over) {
        return charge_hold(&s->charge_ctx, &s->account, ACCOUNT_FDS, 1, restored, ret_over);
}

int session_context(Session *s, BackendCtx **ret, const Account **ret_over) {
        int r;

        if (!s->ctx) {
                r = session_charge_context(s, false, ret_over);
                if (r < 0)
                        return r;
                r = context_new(&s->ctx, s->host->backend);
                if (r < 0) {
                        charge_release(&s->charge_ctx);
                        return r;
                }
        }
        *ret = s->ctx;
        return 0;
}

/* What the connection itself costs: one session, its socket and its pidfd; at accept or restored. */
static int session_charge(Session *s, bool restored, const Account **ret_over) {
        int r = charge_hold(&s->charge_session, &s->account, ACCOUNT_SESSIONS, 1, restored, ret_over);

        if (r < 0)
                return r;
        return charge_hold(&s->charge_fds, &s->account, ACCOUNT_FDS, session_own_fds(s), restored, ret_over);
}

int session_new(Session **ret, SessionHost *host, uint64_t id, int fd) {
        _cleanup_close_ int sock = fd;
        _cleanup_(session_freep) Session *s = NULL;
        int r;

        r = session_alloc(&s, host, id, sock, NULL);
        if (r < 0)
                return r;
        if (!s->deny_reason) {
                const Account *over = NULL;

                r = session_charge(s, false, &over);
                if (r == -EDQUOT)
                        r = session_refuse_quota(s, over);
                if (r < 0)
                        return r;
        }
        r = session_serve(s, TAKE_FD(sock));
        if (r < 0)
                return r;
        if (s->deny_reason && host->n_refused_held >= SESSION_MAX_REFUSED_HELD) {
                /* enough refusals wait already: this one hears why now and is closed (freed here) */
                host->server->send_error(s, 0, s->deny_errno > 0 ? s->deny_errno : EACCES, s->deny_reason);
                *ret = NULL;
                return 0;
        }

        {
                struct timeval tv = { .tv_sec = host->admission.hello_timeout_sec };

                s->hello_timer = evtimer_new(host->base, session_on_hello_timeout, s);
                if (!s->hello_timer || evtimer_add(s->hello_timer, &tv) < 0)
                        return -ENOMEM;
        }
        host->n_sessions++;
        s->registered = true;
        if (s->deny_reason) {
                host->n_refused_held++;
                s->refused_held = true;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int session_restore(Session **ret, SessionHost *host, uint64_t id, int fd, BackendCtx *ctx, const char *client_name,
                    const SessionRestored *restored) {
        _cleanup_close_ int sock = fd;
        _cleanup_(session_freep) Session *s = NULL;
        int r;

        r = session_alloc(&s, host, id, sock, restored);
        if (r < 0) {
                backend_ctx_free(ctx);
                return r;
        }
        s->ctx = ctx;
        s->hello = true;
        if (client_name && *client_name) {
                s->client_name = strdup(client_name);
                if (!s->client_name)
                        return -ENOMEM;
        }
        /* what it held before the restart is held still: charged whatever the limits now say */
        (void) session_charge(s, true, NULL);
        if (ctx)
                (void) session_charge_context(s, true, NULL);
        r = session_serve(s, TAKE_FD(sock));
        if (r < 0)
                return r;
        transport_pause(&s->transport, true);
        {
                SessionUid *u = s->counted_uid ? host_uid(host, s->cred.uid, false) : NULL;

                if (u)
                        u->pending--;
        }
        host->n_sessions++;
        s->registered = true;
        *ret = TAKE_PTR(s);
        return (*ret)->deny_reason ? -EACCES : 0;
}

void session_resume(Session *s) {
        transport_pause(&s->transport, false);
}

/*
 * DOC: Teardown - leaving the kernel empty
 *
 * Closing a session's iommufd does not destroy its objects while a device
 * bound to it is still open: the kernel unbinds a VFIO device only when the
 * last fd of its open file is closed, and the bound device holds the
 * context (iommufd_ctx_get in iommufd_device_bind).  The client received a
 * copy of that fd.  If it keeps it, the context lives on with every IOAS,
 * HWPT and mapping, and the client could attach the device to them again
 * itself (VFIO_DEVICE_ATTACH_IOMMUFD_PT with an old id) and go on with DMA,
 * out of every account; on the mmap path the IOAS would even point at broker
 * addresses that later back another tenant's memory.
 *
 * So the broker empties the context before it closes it, and believes only
 * the kernel's answers:
 *   1. every IOAS is unmapped completely (IOMMU_IOAS_UNMAP of everything):
 *      from here on no attachment, old or new, reaches any memory, and
 *      nothing can map again (the client never had the iommufd);
 *   2. vDEVICEs, then vIOMMUs are destroyed;
 *   3. every device's PASIDs and the device itself are detached through the
 *      broker's own copy of the fd;
 *   4. HWPTs are destroyed (nested before their parents: passes until none
 *      goes), then fault queues, then IOASes; then 2 is tried again for what
 *      3 and 4 may have let go;
 *   5. if anything was busy (the client attached again between 3 and 4), 3
 *      and 4 run again, a bounded number of times; from the second round on
 *      every device is detached whatever its record says.
 * Steps 2 to 4 are one walk over the kinds of objects in the order of
 * SessionKind (session.h), split where the devices come.
 * Then the broker closes its device fds (a device still bound elsewhere is
 * quarantined, see device.h), closes the context and frees its records.
 * The mmaps behind a mapping go only where the kernel confirmed the unmap;
 * an IOAS that could not be emptied is abandoned (ioas_abandon): its
 * addresses stay reserved forever.  Every step's result is checked and the
 * outcome audited ("emptied" or "incomplete").  KillSession and
 * RevokeOnReload end a session through the same path.
 *
 * Steps 1 to 5 unpin whatever the session had mapped, and closing a device
 * makes the kernel power it up again for the probe: a session with at least
 * offload_min_bytes mapped or a device open runs them, and the release of
 * its devices, in a coroutine whose kernel calls wait off the loop
 * (util/offload.h), as a big Unmap's do, so that no other tenant waits for
 * a VM's end.  Meanwhile the session is tearing_down: it
 * reads nothing (its connection is closed), a second session_free() does
 * nothing, and it stays in the broker's registry, counted, until the rest
 * (session_finish()) ran once its context is empty.
 */
#define TEARDOWN_ROUNDS 3

typedef struct Teardown {
        uint64_t unmapped;              /* bytes the kernel confirmed unmapped */
        unsigned left;                  /* objects the kernel did not confirm destroyed */
        unsigned queues_held;           /* fault queues only the client's own fd keeps (none of them counts in left) */
        int error;                      /* the first error, for the record */
} Teardown;

/* Where each kind's records keep their link and their id (a device's: dev_id); whether teardown repeats it. */
static const struct {
        size_t link;
        size_t id;
        bool repeat;                    /* passes until none goes: nested HWPTs before their parents */
} session_kinds[_SESSION_KIND_MAX] = {
        [SESSION_VDEVICE] = { offsetof(Vdevice, link), offsetof(Vdevice, id) },
        [SESSION_VIOMMU] = { offsetof(Viommu, link), offsetof(Viommu, id) },
        [SESSION_DEVICE] = { offsetof(Device, link), offsetof(Device, dev_id) },
        [SESSION_HWPT] = { offsetof(Hwpt, link), offsetof(Hwpt, id), .repeat = true },
        [SESSION_FAULT_QUEUE] = { offsetof(FaultQueue, link), offsetof(FaultQueue, id) },
        [SESSION_IOAS] = { offsetof(Ioas, link), offsetof(Ioas, id) },
        [SESSION_MEMREG] = { offsetof(MemReg, link), offsetof(MemReg, id) },
};

void *session_kind_object(SessionKind kind, ListLink *link) {
        return (char *) link - session_kinds[kind].link;
}

static void teardown_note(Teardown *t, int r) {
        if (r < 0 && t->error == 0)
                t->error = r;
}

/*
 * Steps 2 to 4 for one object: IOMMU_DESTROY, then its record (which unlinks
 * it); on failure it stays.  A device is detached instead, its record stays
 * until session_free() releases it.
 */
static int teardown_object(SessionKind kind, void *o, unsigned round) {
        switch (kind) {
        case SESSION_VDEVICE:
                return vdevice_destroy(o);
        case SESSION_VIOMMU:
                return viommu_destroy(o);
        case SESSION_DEVICE: {
                int r = device_detach_all(o);

                /* the client may have attached again through its fd: the broker's record cannot know */
                if (round > 0)
                        (void) device_detach(o);
                return r;
        }
        case SESSION_HWPT:
                return hwpt_destroy(o);
        case SESSION_FAULT_QUEUE:
                return fault_queue_destroy(o);
        case SESSION_IOAS:
                return ioas_destroy(o);
        case SESSION_MEMREG:
                memreg_free(o);         /* no kernel object: mappings hold their own reference */
                return 0;
        case _SESSION_KIND_MAX:
        case _SESSION_KIND_INVALID:
                break;
        }
        return -EINVAL;
}

/* One pass over the objects of a kind; whether any went. */
static bool teardown_pass(Session *s, SessionKind kind, unsigned round, Teardown *t) {
        bool progress = false;

        LIST_FOREACH_LINK(l, &s->objects[kind]) {
                int r = teardown_object(kind, session_kind_object(kind, l), round);

                teardown_note(t, r);
                progress = progress || r >= 0;
        }
        return progress;
}

/* The kinds [from, to) of the walk, in order. */
static void teardown_walk(Session *s, SessionKind from, SessionKind to, unsigned round, Teardown *t) {
        for (SessionKind k = from; k < to; k++)
                while (teardown_pass(s, k, round, t) && session_kinds[k].repeat)
                        ;
}

/*
 * What the kernel still holds: every object but the devices, which
 * session_free() releases.  A fault queue that no HWPT uses any more, and
 * that IOMMU_DESTROY still refuses, is kept by the copy of its fd the client
 * holds (iommufd_eventq_init takes a user reference that only the fd's
 * release drops): it holds no memory and no page table, so it is counted
 * apart, in *ret_queues_held.
 */
static unsigned session_count_objects(const Session *s, unsigned *ret_queues_held) {
        bool hwpts = !list_is_empty(&s->objects[SESSION_HWPT]);
        unsigned n = 0;

        *ret_queues_held = 0;
        for (SessionKind k = 0; k < _SESSION_KIND_MAX; k++) {
                if (k == SESSION_DEVICE)
                        continue;
                if (k == SESSION_FAULT_QUEUE && !hwpts)
                        *ret_queues_held = (unsigned) list_count(&s->objects[k]);
                else
                        n += (unsigned) list_count(&s->objects[k]);
        }
        return n;
}

static void session_empty_context(Session *s, Teardown *t) {
        Ioas *ioas;

        /* 1 */
        LIST_FOREACH(ioas, &s->objects[SESSION_IOAS], link) {
                uint64_t b = 0;

                teardown_note(t, ioas_unmap_all(ioas, &b));
                t->unmapped += b;
        }
        /* 2: the kinds before the devices */
        teardown_walk(s, 0, SESSION_DEVICE, 0, t);
        for (unsigned round = 0; round < TEARDOWN_ROUNDS; round++) {
                /* 3 and 4: the devices and the kinds after them; then 2 again */
                teardown_walk(s, SESSION_DEVICE, _SESSION_KIND_MAX, round, t);
                teardown_walk(s, 0, SESSION_DEVICE, round, t);
                t->left = session_count_objects(s, &t->queues_held);
                if (t->left == 0)
                        break;
        }
}

/*
 * Frees the record of an object the teardown left (the kernel would not
 * destroy it): its charges go, an IOAS's mmaps stay reserved.  A device is
 * released: closed, or quarantined.
 */
static void session_drop_object(Session *s, SessionKind kind, void *o) {
        switch (kind) {
        case SESSION_VDEVICE:
                vdevice_free(o);
                return;
        case SESSION_VIOMMU:
                viommu_free(o);
                return;
        case SESSION_DEVICE:
                session_release_device(s, o);
                return;
        case SESSION_HWPT:
                hwpt_free(o);
                return;
        case SESSION_FAULT_QUEUE:
                fault_queue_free(o);
                return;
        case SESSION_IOAS: {
                Ioas *ioas = o;

                if (!itree_is_empty(&ioas->maps))
                        ioas_abandon(ioas);
                else
                        ioas_free(ioas);
                return;
        }
        case SESSION_MEMREG:
                memreg_free(o);
                return;
        case _SESSION_KIND_MAX:
        case _SESSION_KIND_INVALID:
                break;
        }
}

static void session_drop_kind(Session *s, SessionKind kind) {
        LIST_FOREACH_LINK(l, &s->objects[kind])
                session_drop_object(s, kind, session_kind_object(kind, l));
}

void session_quarantine_explain(const char *who, const DeviceSlot *slot, char *reason, size_t size) {
        if (slot->probe_error) {
                (void) snprintf(reason, size, "not probed: %s; kept out until a probe succeeds",
                                strerror(-slot->probe_error));
                log_warning("%s: device %s is kept out: the probe after its release could not run (%s); it is "
                            "probed again later", who, slot->info.name, strerror(-slot->probe_error));
                return;
        }
        (void) snprintf(reason, size, "held by pid %d", (int) slot->held_by);
        log_warning("%s: device %s is quarantined: a copy of its fd is still open (pid %d received it)", who,
                    slot->info.name, (int) slot->held_by);
}

/* Logs and audits a device quarantined as its session let go of it, and arms the probe that frees it. */
static void session_report_quarantine(Session *s, const char *name, DeviceSlot *slot) {
        char reason[128];

        session_quarantine_explain(s->name, slot, reason, sizeof(reason));
        session_audit(s, AUDIT_VERB_DEVICE_RELEASE, name, AUDIT_QUARANTINED, reason);
        if (s->host->on_device_quarantined)
                s->host->on_device_quarantined(s->host->userdata);
}

void session_release_device(Session *s, Device *d) {
        char name[sizeof(d->name)];
        DeviceSlot *slot;

        memcpy(name, d->name, sizeof(name));
        if (s->host->journal && s->host->journal->release_device)
                s->host->journal->release_device(s, d->dev_id, s->host->journal->userdata);
        device_free(d);
        slot = device_table_find(&s->host->devices, name);
        if (!slot || !device_slot_quarantined(slot))
                return;
        if (s->host->journal) {
                /*
                 * The fd store's copy of the broker's fd was dropped a moment
                 * ago (FDSTOREREMOVE) and may not be closed yet: the next
                 * probe decides, and only a device still bound then is
                 * reported quarantined (session_host_probe_devices()).
                 */
                slot->store_pending = true;
                if (s->host->on_device_quarantined)
                        s->host->on_device_quarantined(s->host->userdata);
                return;
        }
        session_report_quarantine(s, name, slot);
}

static void device_released(const DeviceSlot *slot, void *userdata) {
        AuditRecord r = {
                .uid = slot->held_uid,
                .pid = slot->held_by,
                .verb = AUDIT_VERB_DEVICE_RELEASE,
                .object = slot->info.name,
                .result = AUDIT_RELEASED,
                .reason = "its last fd outside the broker was closed",
        };

        if (slot->store_pending) {      /* only the fd store's copy held it: never reported */
                log_debug("device %s is free: the service manager closed its copy of the fd", slot->info.name);
                return;
        }
        if (slot->probe_error) {
                r.reason = "a probe ran: nothing holds it";
                log_info("device %s is free again: a probe ran and nothing holds it", slot->info.name);
        } else
                log_info("device %s is free again: the fd held by pid %d was closed", slot->info.name,
                         (int) slot->held_by);
        audit_log(&r);
}

size_t session_host_probe_devices(SessionHost *host) {
        size_t n = device_table_probe(&host->devices, host->backend, device_released, NULL);

        /* still bound after the service manager's copy had its time: held by the VMM, reported now */
        for (size_t i = 0; i < host->devices.n_slots; i++) {
                DeviceSlot *slot = &host->devices.slots[i];
                AuditRecord a = {
                        .uid = slot->held_uid,
                        .pid = slot->held_by,
                        .verb = AUDIT_VERB_DEVICE_RELEASE,
                        .object = slot->info.name,
                        .result = AUDIT_QUARANTINED,
                };
                char reason[128], who[32];

                /* a probe of it waits off the loop: that one decides, and reports */
                if (!slot->store_pending || slot->probing)
                        continue;
                slot->store_pending = false;
                if (!device_slot_quarantined(slot))
                        continue;
                (void) snprintf(who, sizeof(who), "session %" PRIu64, slot->held_session);
                session_quarantine_explain(who, slot, reason, sizeof(reason));
                a.reason = reason;
                audit_log(&a);
        }
        return n;
}

int session_host_refresh_devices(SessionHost *host) {
        int r = device_table_refresh(&host->devices, host->backend);

        if (r < 0)
                return r;
        (void) session_host_probe_devices(host);
        return 0;
}

/* A session's end: what its teardown found, kept across the wait when its context is emptied off the loop. */
typedef struct Ending {
        Session *s;
        Teardown t;
        uint64_t bytes, mappings, objects;
        bool had_ctx;
} Ending;

static void session_finish(Ending *e);

static void ending_run(void *userdata) {
        Ending *e = userdata;

        session_empty_context(e->s, &e->t);
        /* the devices while the context is open: closing one is a probe bind (device.c), which waits too */
        session_drop_kind(e->s, SESSION_DEVICE);
}

static void ending_done(void *userdata) {
        Ending *e = userdata;

        session_finish(e);
        free(e);
}

/*
 * Empties s's context and lets go of its devices: off the loop when it has
 * at least offload_min_bytes mapped (the kernel unpins them) or a device
 * open (the probe after its close powers it up: util/offload.h), so that no
 * other tenant waits for it.  1: that is under way, ending_done() finishes
 * the session.
 */
static int session_end_context(Session *s, Ending *e) {
        Ending *w;
        int r;

        if (s->host->offload_min_bytes == 0 ||
            (e->bytes < s->host->offload_min_bytes && list_is_empty(&s->objects[SESSION_DEVICE])) ||
            !(w = malloc(sizeof(*w)))) {
                session_empty_context(s, &e->t);
                return 0;
        }
        *w = *e;
        s->tearing_down = true;
        r = offload_spawn(ending_run, ending_done, w);
        if (r > 0)
                return 1;
        s->tearing_down = false;
        if (r == 0)
                *e = *w;                /* it ran to its end at once */
        else
                session_empty_context(s, &e->t);
        free(w);
        return 0;
}

Session *session_free(Session *s) {
        Ending e;

        if (!s || s->tearing_down)
                return NULL;    /* ending already: freed once its context is empty */
        /* the store's copies go first: the connection closes for the client, the devices can unbind */
        if (s->host->journal && s->host->journal->end)
                s->host->journal->end(s, s->host->journal->userdata);
        if (s->waiting) {
                /* its request's kernel call cannot be taken back: the rest once it returned */
                s->free_pending = true;
                transport_deinit(&s->transport);
                return NULL;
        }
        e = (Ending) {
                .s = s,
                .had_ctx = s->ctx != NULL,
                .bytes = s->account.used[ACCOUNT_MAPPED_BYTES],
                .mappings = s->account.used[ACCOUNT_MAPPINGS],
                .objects = s->account.used[ACCOUNT_OBJECTS],
        };

        /* No more requests; then empty the context (see Teardown above). */
        transport_deinit(&s->transport);
        if (s->ctx && session_end_context(s, &e) > 0)
                return NULL;
        session_finish(&e);
        return NULL;
}

/* The rest of session_free() once the context is empty: records, counts, the log and audit, the session itself. */
static void session_finish(Ending *e) {
        Session *s = e->s;
        const Teardown t = e->t;
        uint64_t bytes = e->bytes, mappings = e->mappings, objects = e->objects;
        bool had_ctx = e->had_ctx;

        /* the devices while the context is open, then what the kernel kept, in the walk's order */
        session_drop_kind(s, SESSION_DEVICE);
        s->ctx = context_free(s->ctx);
        for (SessionKind k = 0; k < _SESSION_KIND_MAX; k++)
                session_drop_kind(s, k);
        if (s->refused_held)
                s->host->n_refused_held--;
        if (s->registered) {
                s->host->n_sessions--;
                if (s->host->on_session_free)
                        s->host->on_session_free(s, s->host->userdata);
                if (t.left == 0)
                        log_info("%s closed (uid %u pid %d): released %" PRIu64 " objects, %" PRIu64 " mappings, %"
                                 PRIu64 " bytes; the kernel confirmed its context empty",
                                 s->name, (unsigned) s->cred.uid, (int) s->cred.pid, objects, mappings, bytes);
                else
                        log_warning("%s closed (uid %u pid %d): %u objects could not be destroyed (%s): a device fd "
                                    "the client holds keeps them; their memory stays reserved",
                                    s->name, (unsigned) s->cred.uid, (int) s->cred.pid, t.left,
                                    strerror(-t.error));
                if (had_ctx) {
                        char reason[192];
                        int k;

                        k = snprintf(reason, sizeof(reason), "%" PRIu64 " bytes unmapped, %u objects left",
                                     t.unmapped, t.left);
                        if (t.queues_held > 0 && k > 0 && (size_t) k < sizeof(reason))
                                (void) snprintf(reason + k, sizeof(reason) - (size_t) k, "; %u fault queue%s kept by "
                                                "the client's own fd (no memory, no page table)", t.queues_held,
                                                t.queues_held == 1 ? "" : "s");
                        session_audit(s, AUDIT_VERB_TEARDOWN, s->name, t.left == 0 ? AUDIT_EMPTIED : AUDIT_INCOMPLETE,
                                      reason);
                }
        }
        guard_set_fini(&s->guards);
        charge_release(&s->charge_session);
        charge_release(&s->charge_fds);
        charge_release(&s->charge_ctx);
        session_uncount_uid(s);
        if (s->hello_timer)
                event_free(s->hello_timer);
        safe_close(s->pidfd);
        free(s->client_name);
        free(s->deny_reason);
        peer_identity_done(&s->id_peer);
        tenant_unref(s->tenant);
        for (SessionKind k = 0; k < _SESSION_KIND_MAX; k++)
                idindex_done(&s->index[k], &s->objects[k]);
        free(s);
}

void *session_find_kind(Session *s, SessionKind kind, uint32_t id) {
        IdLink *l = idindex_find(&s->index[kind], &s->objects[kind], id);
        char *o;

        if (!l)
                return NULL;
        o = session_kind_object(kind, &l->list);
        assert(*(const uint32_t *) (o + session_kinds[kind].id) == id);
        return o;
}

uint32_t session_kind_id(SessionKind kind, ListLink *link) {
        return *(const uint32_t *) ((char *) session_kind_object(kind, link) + session_kinds[kind].id);
}

void session_add_kind(Session *s, SessionKind kind, IdLink *link) {
        idindex_link(&s->index[kind], &s->objects[kind], link,
                     *(const uint32_t *) ((char *) session_kind_object(kind, &link->list) + session_kinds[kind].id));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session.c - see session.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "common/protocol.h"
#include "core/dispatch.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "policy/audit.h"
#include "util/log.h"

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
        return tenancy_refuse(s, EUSERS, reason);
}

static void session_on_hello_timeout(evutil_socket_t fd, short what, void *userdata) {
        Session *s = userdata;
        char msg[128];

        /* a refused connection that never asked hears why it was refused */
        if (s->deny_reason)
                dispatch_send_error(s, 0, s->deny_errno > 0 ? s->deny_errno : EACCES, s->deny_reason);
        else {
                (void) snprintf(msg, sizeof(msg), "no Hello within %u s of connecting: the connection is closed",
                                s->host->admission.hello_timeout_sec);
                log_notice("%s: %s", s->name, msg);
                dispatch_send_error(s, 0, ETIMEDOUT, msg);
        }
        session_free(s);
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
}

static int session_on_message(void *userdata, const uint8_t *data, size_t size, FdList *fds, unsigned flags) {
        Session *s = userdata;

        s->n_requests++;
        if (s->deny_reason) {
                dispatch_refuse(s, data, size, fds, s->deny_reason);
                session_free(s);
                return TRANSPORT_FREED;        /* careful: freed here */
        }
        dispatch_message(s, data, size, fds, flags);
        return 0;
}

static void session_on_hangup(void *userdata, int err) {
        Session *s = userdata;

        if (err < 0)
                log_notice("%s: connection failed: %s", s->name, strerror(-err));
        session_free(s);
        /* careful: freed here */
}

int session_new(Session **ret, SessionHost *host, uint64_t id, int fd) {
        _cleanup_close_ int sock = fd;
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
                r = tenancy_admit(s);
                if (r < 0)
                        return r;
        }
        account_init(&s->account, s->name, s->tenant ? &s->tenant->account : host->account);
        if (!s->deny_reason) {
                const Account *over = NULL;

                /* the connection itself: one session, its socket and its pidfd */
                r = charge_take(&s->charge_session, &s->account, ACCOUNT_SESSIONS, 1, &over);
                if (r >= 0)
                        r = charge_take(&s->charge_fds, &s->account, ACCOUNT_FDS, s->pidfd >= 0 ? 2 : 1, &over);
                if (r == -EDQUOT)
                        r = tenancy_refuse_quota(s, over);
                if (r < 0)
                        return r;
        }
        if (!s->deny_reason) {
                r = host->backend->ops->ctx_new(host->backend, &s->ctx);
                if (r == -EMFILE || r == -ENFILE)
                        r = tenancy_refuse(s, EMFILE, "the broker is out of file descriptors: connection refused, "
                                           "try again later");
                if (r < 0)
                        return r;
        }

        r = transport_init(&s->transport, host->base, TAKE_FD(sock), IB_MAX_MESSAGE_SIZE,
                           IB_MAX_FDS_PER_MESSAGE, IB_MAX_REQUESTS_IN_FLIGHT, &s->account, session_on_message,
                           session_on_hangup, s);
        if (r < 0)
                return r;

        {
                struct timeval tv = { .tv_sec = host->admission.hello_timeout_sec };

                s->hello_timer = evtimer_new(host->base, session_on_hello_timeout, s);
                if (!s->hello_timer || evtimer_add(s->hello_timer, &tv) < 0)
                        return -ENOMEM;
        }
        host->n_sessions++;
        s->registered = true;
        *ret = TAKE_PTR(s);
        return 0;
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
 *      goes), then fault queues, then IOASes;
 *   5. if anything was busy (the client attached again between 3 and 4), 3
 *      and 4 run again, a bounded number of times.
 * Then the broker closes its device fds (a device still bound elsewhere is
 * quarantined, see device.h), closes the context and frees its records.
 * The mmaps behind a mapping go only where the kernel confirmed the unmap;
 * an IOAS that could not be emptied is abandoned (ioas_abandon): its
 * addresses stay reserved forever.  Every step's result is checked and the
 * outcome audited ("emptied" or "incomplete").  KillSession and
 * RevokeOnReload end a session through the same path.
 */
#define TEARDOWN_ROUNDS 3

typedef struct Teardown {
        uint64_t unmapped;              /* bytes the kernel confirmed unmapped */
        unsigned left;                  /* objects the kernel did not confirm destroyed */
        int error;                      /* the first error, for the record */
} Teardown;

static void teardown_note(Teardown *t, int r) {
        if (r < 0 && t->error == 0)
                t->error = r;
}

/* Destroys every object of a list whose destroy succeeds; those that fail stay linked. */
#define DESTROY_LIST(type, head, destroy, t)                                            ({                                                                                      bool _progress = false;                                                         for (type **_p = (head); *_p;) {                                                        type *_o = *_p, *_next = _o->next;                                              int _r = destroy(_o);                                                           if (_r >= 0) {                                                                          *_p = _next;                                                                    _progress = true;                                                       } else {                                                                                teardown_note((t), _r);                                                         _p = &_o->next;                                                         }                                                                       }                                                                               _progress;                                                              })

static unsigned session_count_objects(const Session *s) {
        unsigned n = 0;

        for (const Vdevice *v = s->vdevices; v; v = v->next)
                n++;
        for (const Viommu *v = s->viommus; v; v = v->next)
                n++;
        for (const Hwpt *h = s->hwpts; h; h = h->next)
                n++;
        for (const FaultQueue *f = s->faults; f; f = f->next)
                n++;
        for (const Ioas *i = s->ioases; i; i = i->next)
                n++;
        return n;
}

static void session_empty_context(Session *s, Teardown *t) {
        for (Ioas *i = s->ioases; i; i = i->next) {
                uint64_t b = 0;
                int r = ioas_unmap_all(i, &b);

                teardown_note(t, r);
                t->unmapped += b;
        }
        (void) DESTROY_LIST(Vdevice, &s->vdevices, vdevice_destroy, t);
        (void) DESTROY_LIST(Viommu, &s->viommus, viommu_destroy, t);
        for (unsigned round = 0; round < TEARDOWN_ROUNDS; round++) {
                for (Device *d = s->devices; d; d = d->next) {
                        teardown_note(t, device_detach_all(d));
                        /* the client may have attached again through its fd: the broker's record cannot know */
                        if (round > 0)
                                (void) device_detach(d);
                }
                while (DESTROY_LIST(Hwpt, &s->hwpts, hwpt_destroy, t))
                        ;
                (void) DESTROY_LIST(FaultQueue, &s->faults, fault_queue_destroy, t);
                (void) DESTROY_LIST(Ioas, &s->ioases, ioas_destroy, t);
                (void) DESTROY_LIST(Vdevice, &s->vdevices, vdevice_destroy, t);
                (void) DESTROY_LIST(Viommu, &s->viommus, viommu_destroy, t);
                t->left = session_count_objects(s);
                if (t->left == 0)
                        break;
        }
}

void session_release_device(Session *s, Device *d) {
        char name[sizeof(d->name)], reason[96];
        DeviceSlot *slot;

        memcpy(name, d->name, sizeof(name));
        device_free(d);
        slot = device_table_find(&s->host->devices, name);
        if (!slot || !device_slot_quarantined(slot))
                return;
        (void) snprintf(reason, sizeof(reason), "held by pid %d", (int) slot->held_by);
        log_warning("%s: device %s is quarantined: a copy of its fd is still open (pid %d received it)", s->name,
                    name, (int) slot->held_by);
        tenancy_audit(s, AUDIT_VERB_DEVICE_RELEASE, name, AUDIT_QUARANTINED, reason);
        if (s->host->on_device_quarantined)
                s->host->on_device_quarantined(s->host->userdata);
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

        log_info("device %s is free again: the fd held by pid %d was closed", slot->info.name, (int) slot->held_by);
        audit_log(&r);
}

size_t session_host_probe_devices(SessionHost *host) {
        return device_table_probe(&host->devices, host->backend, device_released, NULL);
}

int session_host_refresh_devices(SessionHost *host) {
        int r = device_table_refresh(&host->devices, host->backend);

        if (r < 0)
                return r;
        (void) session_host_probe_devices(host);
        return 0;
}

Session *session_free(Session *s) {
        uint64_t bytes, mappings, objects;
        Teardown t = {};

        if (!s)
                return NULL;
        bytes = s->account.used[ACCOUNT_MAPPED_BYTES];
        mappings = s->account.used[ACCOUNT_MAPPINGS];
        objects = s->account.used[ACCOUNT_OBJECTS];

        /* No more requests; then empty the context (see Teardown above). */
        transport_deinit(&s->transport);
        if (s->ctx)
                session_empty_context(s, &t);
        while (s->devices) {
                Device *d = s->devices;

                s->devices = d->next;
                session_release_device(s, d);
        }
        if (s->ctx)
                s->host->backend->ops->ctx_free(s->ctx);

        /* Records of what the kernel would not destroy: their charges go, their mmaps stay reserved. */
        while (s->vdevices) {
                Vdevice *v = s->vdevices;

                s->vdevices = v->next;
                vdevice_free(v);
        }
        while (s->viommus) {
                Viommu *v = s->viommus;

                s->viommus = v->next;
                viommu_free(v);
        }
        while (s->faults) {
                FaultQueue *f = s->faults;

                s->faults = f->next;
                fault_queue_free(f);
        }
        while (s->hwpts) {
                Hwpt *h = s->hwpts;

                s->hwpts = h->next;
                hwpt_free(h);
        }
        while (s->ioases) {
                Ioas *i = s->ioases;

                s->ioases = i->next;
                if (i->n_maps > 0)
                        ioas_abandon(i);
                else
                        ioas_free(i);
        }
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
                if (s->ctx) {
                        char reason[128];

                        (void) snprintf(reason, sizeof(reason), "%" PRIu64 " bytes unmapped, %u objects left",
                                        t.unmapped, t.left);
                        tenancy_audit(s, AUDIT_VERB_TEARDOWN, s->name, t.left == 0 ? AUDIT_EMPTIED : AUDIT_INCOMPLETE,
                                      reason);
                }
        }
        charge_release(&s->charge_session);
        charge_release(&s->charge_fds);
        session_uncount_uid(s);
        if (s->hello_timer)
                event_free(s->hello_timer);
        safe_close(s->pidfd);
        free(s->client_name);
        free(s->deny_reason);
        peer_identity_done(&s->id_peer);
        tenant_unref(s->tenant);
        free(s);
        return NULL;
}

Ioas *session_find_ioas(Session *s, uint32_t id) {
        for (Ioas *i = s->ioases; i; i = i->next)
                if (i->id == id)
                        return i;
        return NULL;
}

void session_add_ioas(Session *s, Ioas *ioas) {
        ioas->next = s->ioases;
        s->ioases = ioas;
}

void session_remove_ioas(Session *s, Ioas *ioas) {
        for (Ioas **p = &s->ioases; *p; p = &(*p)->next)
                if (*p == ioas) {
                        *p = ioas->next;
                        ioas->next = NULL;
                        return;
                }
}

Device *session_find_device(Session *s, uint32_t dev_id) {
        for (Device *d = s->devices; d; d = d->next)
                if (d->dev_id == dev_id)
                        return d;
        return NULL;
}

Hwpt *session_find_hwpt(Session *s, uint32_t id) {
        for (Hwpt *h = s->hwpts; h; h = h->next)
                if (h->id == id)
                        return h;
        return NULL;
}

FaultQueue *session_find_fault(Session *s, uint32_t id) {
        for (FaultQueue *f = s->faults; f; f = f->next)
                if (f->id == id)
                        return f;
        return NULL;
}

Viommu *session_find_viommu(Session *s, uint32_t id) {
        for (Viommu *v = s->viommus; v; v = v->next)
                if (v->id == id)
                        return v;
        return NULL;
}

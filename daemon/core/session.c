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

#include "common/protocol.h"
#include "core/dispatch.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "util/log.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

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
        r = tenancy_admit(s);
        if (r < 0)
                return r;
        account_init(&s->account, s->name, s->tenant ? &s->tenant->account : host->account);
        if (!s->deny_reason) {
                r = host->backend->ops->ctx_new(host->backend, &s->ctx);
                if (r < 0)
                        return r;
        }

        r = transport_init(&s->transport, host->base, TAKE_FD(sock), IB_MAX_MESSAGE_SIZE,
                           IB_MAX_FDS_PER_MESSAGE, IB_MAX_REQUESTS_IN_FLIGHT, session_on_message,
                           session_on_hangup, s);
        if (r < 0)
                return r;

        host->n_sessions++;
        s->registered = true;
        *ret = TAKE_PTR(s);
        return 0;
}

Session *session_free(Session *s) {
        uint64_t bytes, mappings, objects;

        if (!s)
                return NULL;
        bytes = s->account.used[ACCOUNT_MAPPED_BYTES];
        mappings = s->account.used[ACCOUNT_MAPPINGS];
        objects = s->account.used[ACCOUNT_OBJECTS];

        /*
         * Dependency order: the connection first (no more requests), then the
         * vDEVICEs (each holds its device: the kernel's order is vDEVICE before
         * the device goes) and vIOMMUs, then the devices (PASIDs, attachment, binding; a device the client still holds
         * an fd of stays bound until the client closes it), then the iommufd
         * context, whose close makes the kernel destroy every object and unpin
         * every page, then the broker's records and the mmaps that the kernel
         * no longer points at.
         */
        transport_deinit(&s->transport);
        while (s->vdevices) {
                Vdevice *v = s->vdevices;

                s->vdevices = v->next;
                if (vdevice_destroy(v) < 0)
                        vdevice_free(v);        /* the context's close takes it */
        }
        while (s->viommus) {
                Viommu *v = s->viommus;

                s->viommus = v->next;
                if (viommu_destroy(v) < 0)
                        viommu_free(v);
        }
        while (s->devices) {
                Device *d = s->devices;

                s->devices = d->next;
                device_free(d);         /* PASIDs and attachment first, then the device itself */
        }
        if (s->ctx)
                s->host->backend->ops->ctx_free(s->ctx);
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
                ioas_free(i);
        }
        if (s->registered) {
                s->host->n_sessions--;
                if (s->host->on_session_free)
                        s->host->on_session_free(s, s->host->userdata);
                log_info("%s closed (uid %u pid %d): released %" PRIu64 " objects, %" PRIu64
                         " mappings, %" PRIu64 " bytes",
                         s->name, (unsigned) s->cred.uid, (int) s->cred.pid, objects, mappings, bytes);
        }
        safe_close(s->pidfd);
        free(s->client_name);
        free(s->deny_reason);
        peer_identity_done(&s->id_peer);
        tenant_unref(s->tenant);
        policy_unref(s->policy);
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-delegate.c - DeviceDelegate: devices for a VMM that binds and maps itself.
 *
 * Owns: who may delegate (DelegateDevices= of the tenant, its device grants,
 * a process whose pinned memory the kernel will count), the memory limit the
 * kernel enforces on the VMM (per-process accounting on the iommufd and its
 * RLIMIT_MEMLOCK set from PinnedMemoryMax), and the reply: a fresh iommufd
 * and one unbound cdev fd per device.  The claim that follows is
 * core/delegation.c's.
 * Must never: hand out a device the tenant is not granted, or one that is
 * open, delegated or quarantined; leave a claim without a reply that says so.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/capability.h>

#include "core/delegation.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "core/verbs.h"
#include "object/context.h"
#include "policy/audit.h"
#include "policy/peer.h"
#include "util/caps.h"
#include "util/log.h"

/* A refusal call_fail() just worded: audited for each device named; returns r. */
static int delegate_denied(Call *c, int r) {
        const Ib__V1__DeviceDelegateRequest *req = c->request->device_delegate;

        for (size_t i = 0; i < req->n_names; i++)
                session_audit(c->session, AUDIT_VERB_DEVICE_DELEGATE, req->names[i], AUDIT_DENIED, c->error);
        return r;
}

/* Why a device may not be delegated now, or 0. */
static int delegate_check_device(Call *c, const char *name) {
        Session *s = c->session;
        const DeviceSlot *slot = device_table_find(&s->host->devices, name);
        int r;

        if (!slot || !tenancy_may_open_device(s->tenant, name, slot->info.iommu_group))
                /* one sentence for both: a tenant learns nothing of devices it is not granted */
                return delegate_denied(c, call_fail(c, slot ? EPERM : ENODEV,
                                                    "device '%s' is not granted to tenant '%s'%s", name,
                                                    s->tenant->name, slot ? "" : " (no such device)"));
        r = call_fail_device_busy(c, slot);
        if (r < 0)
                return delegate_denied(c, r);
        return 0;
}

/*
 * Who receives the devices: the peer, or the process of the pidfd the
 * request carries (a node agent or launcher acting for a VMM it started),
 * which must run as the caller's uid unless the caller is root.
 */
static int delegate_target(Call *c, DelegationTarget *ret) {
        Session *s = c->session;
        int r;

        if (fdlist_count(c->fds) == 0) {
                if (s->pidfd < 0)
                        return delegate_denied(c, call_fail(c, EOPNOTSUPP, "delegation needs the peer's pidfd "
                                                            "(SO_PEERPIDFD, Linux 6.5)"));
                *ret = (DelegationTarget) { .pid = s->cred.pid, .uid = s->cred.uid, .pidfd = s->pidfd };
                return 0;
        }
        ret->pidfd = fdlist_get(c->fds, 0);
        r = peer_from_pidfd(ret->pidfd, &ret->pid, &ret->uid);
        if (r == -EBADF)
                return delegate_denied(c, call_fail(c, EBADF, "the fd sent with DeviceDelegate is not a pidfd"));
        if (r < 0)
                return delegate_denied(c, call_fail(c, r, "cannot tell the process of the pidfd sent: %s",
                                                    strerror(-r)));
        if (ret->uid != s->cred.uid && s->cred.uid != 0)
                return delegate_denied(c, call_fail(c, EPERM, "pid %d runs as uid %u: a delegation may go to a "
                                                    "process of the caller's own uid %u only", (int) ret->pid,
                                                    (unsigned) ret->uid, (unsigned) s->cred.uid));
        return 0;
}

/* The kernel must count what the VMM pins: no CAP_IPC_LOCK now, and none an exec could give. */
static int delegate_check_target(Call *c, const DelegationTarget *t) {
        PeerCapability cap;
        int r;

        r = peer_capability(t->pid, t->pidfd, CAP_IPC_LOCK, &cap);
        if (r < 0)
                return delegate_denied(c, call_fail(c, r, "cannot read the capabilities of pid %d: %s", (int) t->pid,
                                                    strerror(-r)));
        if (cap == PEER_CAPABILITY_HELD)
                return delegate_denied(c, call_fail(c, EPERM, "pid %d holds CAP_IPC_LOCK: the kernel would not count "
                                                    "the memory its devices pin against any limit; drop it before "
                                                    "asking", (int) t->pid));
        if (cap == PEER_CAPABILITY_GAINABLE)
                return delegate_denied(c, call_fail(c, EPERM, "pid %d could gain CAP_IPC_LOCK by an exec: set "
                                                    "no_new_privs first (prctl(PR_SET_NO_NEW_PRIVS), as "
                                                    "iommu-broker-client delegate does) or drop it from the bounding "
                                                    "set", (int) t->pid));
        return 0;
}

/* Sets the target's RLIMIT_MEMLOCK (soft and hard) to limit; the kernel enforces it on every pin. */
static int delegate_set_memlock(Call *c, const DelegationTarget *t, uint64_t limit) {
        struct rlimit rl = { .rlim_cur = limit, .rlim_max = limit };
        int r;

        /* check_prlimit_permission(): another uid's limits, and raising a hard limit, need it */
        r = caps_raise(CAP_SYS_RESOURCE);
        if (r < 0)
                return delegate_denied(c, call_fail(c, EPERM, "the broker lacks CAP_SYS_RESOURCE to set the memory "
                                                    "limit of a delegated VMM (its unit's CapabilityBoundingSet=)"));
        r = prlimit(t->pid, RLIMIT_MEMLOCK, &rl, NULL) < 0 ? -errno : 0;
        caps_lower(CAP_SYS_RESOURCE);
        /* the pid named the target only if the target is still there */
        if (r == 0)
                r = peer_alive(t->pidfd);
        if (r < 0)
                return delegate_denied(c, call_fail(c, r, "cannot set RLIMIT_MEMLOCK of pid %d: %s", (int) t->pid,
                                                    strerror(-r)));
        return 0;
}

/* Whether the policy in force lets the session's tenant delegate devices at all: 0, or the refusal. */
static int delegate_allowed(Call *c) {
        const PolicyLimits *limits = tenancy_limits(c->session->tenant);

        if (limits && !limits->delegate_devices)
                return delegate_denied(c, call_fail(c, EPERM, "tenant '%s' may not delegate devices (its policy "
                                                    "section needs DelegateDevices=yes)", c->session->tenant->name));
        return 0;
}

int verb_device_delegate(Call *c) {
        const Ib__V1__DeviceDelegateRequest *req = c->request->device_delegate;
        Session *s = c->session;
        const PolicyLimits *limits;
        Backend *b = s->host->backend;
        Ib__V1__DeviceDelegateReply *reply;
        const Account *over = NULL;
        DelegationTarget target = { .pidfd = -1 };
        uint64_t memlock = 0;
        Delegation *d = NULL;
        int fds[1 + IB_MAX_DELEGATE_DEVICES];
        size_t n_fds = 0;
        int r;

        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        if (req->n_names == 0 || req->n_names > IB_MAX_DELEGATE_DEVICES)
                return call_fail(c, EINVAL, "DeviceDelegate takes 1 to %u devices, got %zu", IB_MAX_DELEGATE_DEVICES,
                                 req->n_names);
        r = delegate_allowed(c);
        if (r < 0)
                return r;
        r = session_host_refresh_devices(s->host);
        if (r < 0)
                return call_fail(c, r, "cannot list devices: %s", strerror(-r));
        /*
         * The refresh's probes may have waited off the loop: a session ended
         * meanwhile (KillSession, a revoking reload) gets nothing, and the
         * rest is decided under the policy in force now.
         */
        if (s->free_pending)
                return call_fail(c, ECANCELED, "the session ended while the devices were probed: nothing delegated");
        r = delegate_allowed(c);
        if (r < 0)
                return r;
        limits = tenancy_limits(s->tenant);
        for (size_t i = 0; i < req->n_names; i++) {
                for (size_t j = 0; j < i; j++)
                        if (strcmp(req->names[i], req->names[j]) == 0)
                                return call_fail(c, EINVAL, "device '%s' is named twice", req->names[i]);
                r = delegate_check_device(c, req->names[i]);
                if (r < 0)
                        return r;
        }
        r = delegate_target(c, &target);
        if (r < 0)
                return r;
        r = delegate_check_target(c, &target);
        if (r < 0)
                return r;
        if (limits && limits->pinned_bytes != POLICY_UNLIMITED)
                memlock = limits->pinned_bytes;

        r = delegation_new(&d, s, &target, req->names, req->n_names, memlock, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r < 0)
                return call_fail(c, r, "cannot claim the devices: %s", strerror(-r));

        r = context_delegate(b, &fds[n_fds]);
        if (r == -EPERM)
                (void) delegate_denied(c, call_fail(c, r, "the broker cannot set per-process memory accounting on "
                                                    "an iommufd (it lacks CAP_SYS_RESOURCE: its unit's "
                                                    "CapabilityBoundingSet=)"));
        else if (r < 0)
                (void) call_fail(c, r, "cannot open an iommufd for the VMM: %s", strerror(-r));
        else
                n_fds++;
        for (size_t i = 0; r >= 0 && i < req->n_names; i++) {
                const DeviceSlot *slot = device_table_find(&s->host->devices, req->names[i]);

                r = device_slot_open_unbound(slot, b, &fds[n_fds]);
                if (r < 0)
                        (void) call_fail(c, r, "cannot open device '%s': %s", req->names[i], strerror(-r));
                else
                        n_fds++;
        }
        if (r >= 0 && memlock > 0)
                r = delegate_set_memlock(c, &target, memlock);
        if (r < 0) {
                delegation_abort(d);
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(fds[i]);
                return r;
        }

        for (size_t i = 0; i < req->n_names; i++)
                session_audit(s, AUDIT_VERB_DEVICE_DELEGATE, req->names[i], AUDIT_GRANTED, NULL);
        if (s->host->on_delegations_changed)
                s->host->on_delegations_changed(s->host->userdata);
        if (memlock > 0)
                log_info("%s: delegation %" PRIu64 " of %zu device%s to pid %d, RLIMIT_MEMLOCK %" PRIu64 " bytes",
                         s->name, d->id, req->n_names, req->n_names == 1 ? "" : "s", (int) target.pid, memlock);
        else
                log_info("%s: delegation %" PRIu64 " of %zu device%s to pid %d, RLIMIT_MEMLOCK left as it was",
                         s->name, d->id, req->n_names, req->n_names == 1 ? "" : "s", (int) target.pid);
        ib__v1__device_delegate_reply__init(reply);
        reply->delegation_id = d->id;
        reply->has_memlock_limit = memlock > 0;
        reply->memlock_limit = memlock;
        for (size_t i = 0; i < n_fds; i++) {
                c->reply_fds[i] = fds[i];
                c->close_fds[i] = fds[i];
        }
        c->n_reply_fds = c->n_close_fds = n_fds;
        c->reply->result_case = IB__V1__REPLY__RESULT_DEVICE_DELEGATE;
        c->reply->device_delegate = reply;
        return 0;
}

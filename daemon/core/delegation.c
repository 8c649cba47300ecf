/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegation.c - see delegation.h.
 *
 * DOC: Theory of Operation
 *
 * A delegated device leaves the broker's hands: the VMM gets the device's
 * cdev unbound and an iommufd of its own, binds, allocates and maps itself,
 * as stock QEMU does with pre-opened fds.  What the broker still owns is
 * the claim: the device's slot in the host-wide table says "delegated to
 * pid N", so no session opens it and no other delegation gets it, for as
 * long as that process lives.
 *
 * The claim follows the process, not the connection: a launcher asks, then
 * execs the VMM (same pid, its connection closed on exec).  The broker
 * keeps a duplicate of the session's pidfd (SO_PEERPIDFD, taken at accept,
 * so it names the process that connected, never a reused pid), or of the
 * pidfd a node agent sent for the VMM it manages, and waits for it to
 * become readable: the process exited and the kernel closed its fds.  Then
 * every device of the delegation is probed (a probe bind to a scratch
 * iommufd): if it binds, nobody holds it and it is free again; if not, a
 * process the VMM passed the fd to still has it bound, and the slot is
 * quarantined, held by the pid, exactly like a device a session's client
 * kept (the broker's re-probe timer frees it later).  A delegated device is
 * never probed while its process lives: the probe's bind would race the
 * VMM's own.
 *
 * A probe binds the device, and the kernel powers it up and may reset it
 * (milliseconds, a function reset 100 ms): the end runs in a coroutine and
 * each probe waits off the loop (util/offload.h), so that a VMM's exit makes
 * no other tenant wait.  Meanwhile the slot still carries the delegation: a
 * DeviceOpen or DeviceDelegate finds it busy, not free, so that no session
 * binds it between the probe and the end (its bind would fail the probe and
 * blame the VMM's pid, or the probe's fail its bind); only the probe's
 * answer, on the loop, lets it go.  The slot is found again by name after
 * each wait (a rescan makes a new table).
 *
 * An admin ends a delegation by killing its process (SIGKILL through the
 * pidfd, with CAP_KILL raised for the call): nothing else stops a VMM from using a device it has bound, since
 * the kernel gives the broker no handle on an iommufd it did not open
 * objects in.  The end then follows the ordinary path above.
 *
 * What a delegation holds is charged where the tenant's limits are: the
 * pidfd to the tenant's ACCOUNT_FDS.  The VMM's pinned memory is counted by
 * the kernel against the VMM's own RLIMIT_MEMLOCK (the iommufd is set to
 * per-process accounting, the limit is set from PinnedMemoryMax by
 * verb-delegate.c), not in the broker's accounts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <event2/event.h>

#include "core/delegation.h"
#include "core/session.h"
#include "policy/audit.h"
#include "util/caps.h"
#include "util/log.h"
#include "util/offload.h"

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static void delegation_unlink(Delegation *d) {
        SessionHost *host = d->host;

        if (d->prev)
                d->prev->next = d->next;
        else if (host->delegations == d)
                host->delegations = d->next;
        if (d->next)
                d->next->prev = d->prev;
        d->prev = d->next = NULL;
        host->n_delegations--;
}

static Delegation *delegation_free(Delegation *d) {
        if (!d)
                return NULL;
        delegation_unlink(d);
        if (d->exited)
                event_free(d->exited);
        safe_close(d->pidfd);
        charge_release(&d->charge_fd);
        tenant_unref(d->tenant);
        free(d);
        return NULL;
}

/* The slot of a device of d, if the table still lists it as d's. */
static DeviceSlot *delegation_slot(const Delegation *d, size_t i) {
        DeviceSlot *slot = device_table_find(&d->host->devices, d->names[i]);

        return slot && slot->delegation == d->id ? slot : NULL;
}

static void on_exited(evutil_socket_t fd, short what, void *userdata) {
        Delegation *d = userdata;

        (void) fd;
        (void) what;
        delegation_end(d, d->killed ? "ended by an admin: the process was killed" : "the process exited");
}

int delegation_new(Delegation **ret, Session *s, const DelegationTarget *target, char *const *names, size_t n_names,
                   uint64_t memlock_limit, const Account **ret_over) {
        SessionHost *host = s->host;
        Delegation *d;
        int r;

        if (n_names == 0 || n_names > IB_MAX_DELEGATE_DEVICES || !s->tenant)
                return -EINVAL;
        if (target->pidfd < 0)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < n_names; i++) {
                const DeviceSlot *slot = device_table_find(&host->devices, names[i]);

                if (!slot)
                        return -ENODEV;
                if (!device_slot_idle(slot))
                        return -EBUSY;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(names[i], names[j]) == 0)
                                return -EINVAL;
        }

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->host = host;
        d->pidfd = -1;
        r = charge_take(&d->charge_fd, &s->tenant->account, ACCOUNT_FDS, 1, ret_over);
        if (r < 0) {
                free(d);
                return r;
        }
        d->tenant = tenant_ref(s->tenant);
        d->id = ++host->last_delegation_id;
        d->pid = target->pid;
        d->uid = target->uid;
        d->memlock_limit = memlock_limit;
        d->started_usec = now_usec();
        d->next = host->delegations;
        if (d->next)
                d->next->prev = d;
        host->delegations = d;
        host->n_delegations++;

        d->pidfd = fcntl(target->pidfd, F_DUPFD_CLOEXEC, 3);
        if (d->pidfd < 0) {
                r = -errno;
                delegation_free(d);
                return r;
        }
        d->exited = event_new(host->base, d->pidfd, EV_READ, on_exited, d);
        if (!d->exited || event_add(d->exited, NULL) < 0) {
                delegation_free(d);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_names; i++) {
                DeviceSlot *slot = device_table_find(&host->devices, names[i]);

                (void) strncpy(d->names[i], names[i], sizeof(d->names[i]) - 1);
                device_slot_set_delegation(slot, d->id, d->pid, d->uid);
        }
        d->n_names = n_names;
        *ret = d;
        return 0;
}

void delegation_abort(Delegation *d) {
        for (size_t i = 0; i < d->n_names; i++) {
                DeviceSlot *slot = delegation_slot(d, i);

                if (slot)
                        device_slot_set_delegation(slot, 0, 0, 0);
        }
        delegation_free(d);
}

/* Probes d's devices one by one, each probe waiting off the loop, and lets each go by its answer. */
static void delegation_end_run(void *userdata) {
        Delegation *d = userdata;
        SessionHost *host = d->host;

        for (size_t i = 0; i < d->n_names; i++) {
                DeviceSlot *slot = delegation_slot(d, i);
                AuditRecord rec = {
                        .tenant = d->tenant->name,
                        .uid = d->uid,
                        .pid = d->pid,
                        .verb = AUDIT_VERB_DELEGATION_END,
                        .object = d->names[i],
                        .result = AUDIT_RELEASED,
                        .reason = d->end_reason,
                };
                BackendDeviceInfo info;
                int probe;

                if (!slot)
                        continue;
                info = slot->info;
                slot->probing = true;           /* DeviceOpen tells why it is still busy */
                probe = backend_device_probe(host->backend, &info);
                slot = delegation_slot(d, i);   /* found again: a rescan meanwhile made a new table */
                if (!slot)
                        continue;
                slot->probing = false;
                if (device_slot_end_delegation(slot, probe)) {
                        char who[48], why[128];

                        rec.result = AUDIT_QUARANTINED;
                        d->end_quarantined = true;
                        /* logged as a session's; the record keeps the delegation's end as its reason */
                        (void) snprintf(who, sizeof(who), "delegation %" PRIu64, d->id);
                        session_quarantine_explain(who, slot, why, sizeof(why));
                }
                audit_log(&rec);
        }
}

static void delegation_end_done(void *userdata) {
        Delegation *d = userdata;
        SessionHost *host = d->host;

        if (d->end_quarantined && host->on_device_quarantined)
                host->on_device_quarantined(host->userdata);
        delegation_free(d);
        if (host->on_delegations_changed)
                host->on_delegations_changed(host->userdata);
}

void delegation_end(Delegation *d, const char *reason) {
        int r;

        if (d->end_reason)
                return;         /* under way */
        d->end_reason = reason;
        log_info("delegation %" PRIu64 " of tenant '%s' (pid %d) ends: %s", d->id, d->tenant->name, (int) d->pid,
                 reason);
        r = offload_spawn(delegation_end_run, delegation_end_done, d);
        if (r > 0)
                return;         /* delegation_end_done() follows on the loop */
        if (r < 0)
                delegation_end_run(d);  /* no coroutine: the probes here, on the loop */
        delegation_end_done(d);
}

int delegation_kill(Delegation *d) {
        int r;

        if (d->end_reason)
                return -EALREADY;       /* the process is gone and its end under way */
        /* another uid's process: CAP_KILL, permitted only, raised for this call (util/caps.h) */
        r = caps_raise(CAP_KILL);
        if (r < 0)
                return r;
        r = syscall(SYS_pidfd_send_signal, d->pidfd, SIGKILL, NULL, 0) < 0 ? -errno : 0;
        caps_lower(CAP_KILL);
        if (r < 0)
                return r == -ESRCH ? 0 : r;     /* gone already: its end is on its way */
        d->killed = true;
        log_notice("delegation %" PRIu64 " of tenant '%s': pid %d killed by an admin", d->id, d->tenant->name,
                   (int) d->pid);
        return 0;
}

bool delegation_holds(const Delegation *d, size_t i) {
        return i < d->n_names && delegation_slot(d, i);
}

Delegation *delegation_find(SessionHost *host, uint64_t id) {
        for (Delegation *d = host->delegations; d; d = d->next)
                if (d->id == id)
                        return d;
        return NULL;
}

void delegation_forget_all(SessionHost *host) {
        while (host->delegations)
                delegation_free(host->delegations);
}

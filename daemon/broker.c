/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker.c - see broker.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "broker.h"
#include "common/macro.h"
#include "core/delegation.h"
#include "core/dispatch.h"
#include "core/persist.h"
#include "core/recover.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "object/account.h"
#include "object/ioas.h"
#include "object/tenant.h"
#include "policy/audit.h"
#include "policy/policy.h"
#include "util/list.h"
#include "util/crashpoint.h"
#include "util/log.h"
#include "util/offload.h"
#include "wire/listener.h"

struct Broker {
        struct event_base *base;
        Backend *backend;
        Listener *listener;
        Account account;
        SessionHost host;
        Session *sessions;
        uint64_t next_session_id;
        unsigned workers;               /* threads for kernel calls off the loop, started by broker_run() */
        bool offload_started;
        struct event *ev_sigterm;
        struct event *ev_sigint;
        struct event *ev_sighup;
        char *policy_path;
        char *policy_dropin;
        struct event *ev_watchdog;
        struct event *ev_reprobe;       /* armed while a device is quarantined */
        unsigned reprobe_ms;
        bool reprobing;                 /* the timer's probes wait off the loop (broker_on_reprobe()) */
        const BrokerObserver *observer;
        void *observer_userdata;
        FdStore *store;                 /* the service manager's fd store */
        Persist *persist;               /* the state a restart needs */
        SessionJournal journal;
        RecoverStats recovered;         /* what the start restored */
        bool keep_sessions;             /* exit leaves every session to the next broker (SIGUSR2, a restart) */
        struct event *ev_rewrite;       /* after a restart: a fresh state file, once serving */
        int exit_status;                /* with keep_sessions */
        int (*restart_queued)(void);
        struct event *ev_sigusr2;
};

static size_t broker_n_quarantined(Broker *b) {
        size_t n = 0;

        for (size_t i = 0; i < b->host.devices.n_slots; i++)
                n += device_slot_quarantined(&b->host.devices.slots[i]);
        return n;
}

static void broker_status(Broker *b) {
        size_t open = 0, delegated = 0, held = broker_n_quarantined(b);

        for (size_t i = 0; i < b->host.devices.n_slots; i++) {
                open += b->host.devices.slots[i].owner != 0;
                delegated += b->host.devices.slots[i].delegation != 0;
        }
        (void) sd_notifyf(false, "STATUS=%zu sessions, %zu of %zu devices open, %zu delegated, %zu quarantined, %"
                          PRIu64 " objects, %" PRIu64 " bytes mapped",
                          b->host.n_sessions, open, b->host.devices.n_slots, delegated, held,
                          b->account.used[ACCOUNT_OBJECTS], b->account.used[ACCOUNT_MAPPED_BYTES]);
}

/*
 * Quarantined devices are probed again without waiting for a listing: soon
 * (a client that is exiting closes its device fd a moment after its socket),
 * then less often, up to every 5 s, while any stays quarantined.
 */
#define REPROBE_FIRST_MS 100
#define REPROBE_MAX_MS 5000

static void broker_arm_reprobe(Broker *b, bool restart) {
        struct timeval tv;

        if (!b->ev_reprobe || (!restart && evtimer_pending(b->ev_reprobe, NULL)))
                return;
        b->reprobe_ms = restart || b->reprobe_ms == 0 ? REPROBE_FIRST_MS
                        : b->reprobe_ms * 2 > REPROBE_MAX_MS ? REPROBE_MAX_MS : b->reprobe_ms * 2;
        tv = (struct timeval) { .tv_sec = b->reprobe_ms / 1000, .tv_usec = (b->reprobe_ms % 1000) * 1000 };
        (void) evtimer_add(b->ev_reprobe, &tv);
}

static void reprobe_run(void *userdata) {
        Broker *b = userdata;

        /* a probe only: the inventory is rescanned where it is listed */
        (void) session_host_probe_devices(&b->host);
}

static void reprobe_done(void *userdata) {
        Broker *b = userdata;

        b->reprobing = false;
        if (broker_n_quarantined(b) > 0)
                broker_arm_reprobe(b, false);
        broker_status(b);
}

/*
 * A probe of a device that is free again binds it, and the kernel powers it
 * up (milliseconds): it runs in a coroutine, its kernel calls on a worker
 * (util/offload.h), so that no tenant waits for it.
 */
static void broker_on_reprobe(evutil_socket_t fd, short what, void *userdata) {
        Broker *b = userdata;
        int r;

        if (b->reprobing)
                return;         /* the one under way re-arms the timer when it is done */
        b->reprobing = true;
        r = offload_spawn(reprobe_run, reprobe_done, b);
        if (r > 0)
                return;
        if (r < 0)
                reprobe_run(b);         /* no coroutine: here, as before */
        reprobe_done(b);
}

/* ---------------------------------------------------------------- read-only views */

static UsageView view_usage(const Account *a) {
        return (UsageView) {
                .objects = a->used[ACCOUNT_OBJECTS],
                .mappings = a->used[ACCOUNT_MAPPINGS],
                .mapped_bytes = a->used[ACCOUNT_MAPPED_BYTES],
        };
}

static void view_session(const Session *s, SessionView *ret) {
        *ret = (SessionView) {
                .id = s->id,
                .name = s->name,
                .uid = s->cred.uid,
                .gid = s->cred.gid,
                .pid = s->cred.pid,
                .unit = s->id_peer.unit,
                .tenant = s->tenant ? s->tenant->name : NULL,
                .client = s->client_name,
                .n_ioas = (uint32_t) list_count(session_objects(s, SESSION_IOAS)),
                .usage = view_usage(&s->account),
                .requests = s->n_requests,
        };
}

static void view_delegation(const Delegation *d, DelegationView *ret) {
        *ret = (DelegationView) {
                .id = d->id,
                .tenant = d->tenant->name,
                .pid = d->pid,
                .uid = d->uid,
                .memlock_limit = d->memlock_limit,
                .started_usec = d->started_usec,
        };
        /* an ending delegation shows the devices it still holds: each is let go as its probe answers */
        for (size_t i = 0; i < d->n_names; i++)
                if (delegation_holds(d, i))
                        ret->devices[ret->n_devices++] = d->names[i];
}

static Session *broker_find_session(Broker *b, uint64_t id) {
        for (Session *s = b->sessions; s; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

void broker_usage(Broker *b, UsageView *ret) {
        *ret = view_usage(&b->account);
}

int broker_foreach_session(Broker *b, int (*fn)(const SessionView *s, void *userdata), void *userdata) {
        for (const Session *s = b->sessions; s; s = s->next) {
                SessionView v;
                int r;

                view_session(s, &v);
                r = fn(&v, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int broker_session_view(Broker *b, uint64_t id, SessionView *ret) {
        const Session *s = broker_find_session(b, id);

        if (!s)
                return -ENOENT;
        view_session(s, ret);
        return 0;
}

/*
 * One tenant: t its live state, NULL without sessions (usage 0, limits from
 * pt); pt its section in the policy in force, NULL for the local admin of a
 * broker without policy (the built-in limits, every device) and for a tenant the
 * policy lost.
 */
static int view_tenant(Broker *b, const char *name, const Tenant *t, const PolicyTenant *pt, bool in_policy,
                       int (*fn)(const TenantView *t, void *userdata), void *userdata) {
        _cleanup_free_ TenantCounterView *counters = NULL;
        _cleanup_free_ const char **devices = NULL;
        _cleanup_free_ char (*groups)[32] = NULL;
        size_t n_grants = pt ? pt->n_devices : 0, n_devices = 0;
        uint32_t n_sessions = 0;

        if (t)
                for (const Session *s = b->sessions; s; s = s->next)
                        n_sessions += s->tenant == t;
        counters = calloc(policy_n_counters, sizeof(*counters));
        devices = calloc(n_grants + 1, sizeof(*devices));
        groups = calloc(n_grants + 1, sizeof(*groups));
        if (!counters || !devices || !groups)
                return -ENOMEM;
        for (size_t i = 0; i < policy_n_counters; i++) {
                const PolicyCounter *c = &policy_counters[i];

                counters[i] = (TenantCounterView) {
                        .usage_key = c->bus_name,
                        .limit_key = c->bus_limit,
                        .used = t ? t->account.used[c->resource] : 0,
                        .limit = t ? t->account.limit[c->resource] : pt ? policy_counter_get(&pt->limits, c)
                                                                        : c->builtin,
                };
        }
        if (!pt && !(t && t->orphaned))
                devices[n_devices++] = "*";     /* the local admin; an orphaned tenant has none */
        for (size_t i = 0; i < n_grants; i++) {
                if (!pt->devices[i].pattern)
                        (void) snprintf(groups[i], sizeof(groups[i]), "group:%d", pt->devices[i].iommu_group);
                devices[n_devices++] = pt->devices[i].pattern ?: groups[i];
        }
        return fn(&(const TenantView) {
                          .name = name,
                          .n_sessions = n_sessions,
                          .in_policy = in_policy,
                          .counters = counters,
                          .n_counters = policy_n_counters,
                          .devices = devices,
                          .n_devices = n_devices,
                  }, userdata);
}

int broker_foreach_tenant(Broker *b, int (*fn)(const TenantView *t, void *userdata), void *userdata) {
        const Policy *p = b->host.policy;
        Tenant *live = b->host.tenants;
        int r = 0;

        if (p)
                for (size_t i = 0; r >= 0 && i < p->n_tenants; i++) {
                        const PolicyTenant *pt = p->tenants[i];

                        r = view_tenant(b, pt->name, tenant_find(live, pt->name), pt, /* in_policy= */ true, fn,
                                        userdata);
                }
        else
                r = view_tenant(b, TENANCY_LOCAL_ADMIN, tenant_find(live, TENANCY_LOCAL_ADMIN), /* pt= */ NULL,
                                /* in_policy= */ false, fn, userdata);

        /* Then the live tenants the policy in force no longer has (sessions a reload let run on). */
        for (const Tenant *t = live; r >= 0 && t; t = t->next) {
                if (p ? !!policy_find_tenant(p, t->name) : strcmp(t->name, TENANCY_LOCAL_ADMIN) == 0)
                        continue;
                r = view_tenant(b, t->name, t, /* pt= */ NULL, /* in_policy= */ false, fn, userdata);
        }
        return r < 0 ? r : 0;
}

int broker_foreach_device(Broker *b, int (*fn)(const DeviceView *d, void *userdata), void *userdata) {
        for (size_t i = 0; i < b->host.devices.n_slots; i++) {
                const DeviceSlot *slot = &b->host.devices.slots[i];
                const Session *owner = slot->owner ? broker_find_session(b, slot->owner) : NULL;
                SessionView holder;
                DeviceView v = {
                        .name = slot->info.name,
                        .vendor_id = slot->info.vendor_id,
                        .device_id = slot->info.device_id,
                        .pasid_width = slot->info.pasid_width,
                        .iommu_group = slot->info.iommu_group,
                        .session = slot->owner,
                        .delegation = slot->delegation,
                        .delegated_to = slot->delegated_to,
                        .delegated_uid = slot->delegated_uid,
                        .quarantined = device_slot_quarantined(slot),
                        .held_by = slot->held_by,
                        .held_uid = slot->held_uid,
                        .held_session = slot->held_session,
                };
                int r;

                if (owner) {
                        view_session(owner, &holder);
                        v.holder = &holder;
                }
                r = fn(&v, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int broker_foreach_pasid(Broker *b, int (*fn)(const PasidView *p, void *userdata), void *userdata) {
        for (const Session *s = b->sessions; s; s = s->next) {
                const Device *d;
                SessionView holder;

                view_session(s, &holder);
                LIST_FOREACH(d, session_objects(s, SESSION_DEVICE), link) {
                        const PasidEntry *e;

                        LIST_FOREACH(e, &d->pasids.entries, link) {
                                PolicyPasidMode mode = e->space ? POLICY_PASID_MODE_GLOBAL
                                                                : POLICY_PASID_MODE_PER_DEVICE;
                                int r;

                                r = fn(&(const PasidView) {
                                               .holder = &holder,
                                               .device = d->name,
                                               .vpasid = e->vpasid,
                                               .pasid = e->pasid,
                                               .pt_id = e->pt_id,
                                               .mode = policy_pasid_mode_to_string(mode),
                                       }, userdata);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        return 0;
}

int broker_foreach_delegation(Broker *b, int (*fn)(const DelegationView *d, void *userdata), void *userdata) {
        for (const Delegation *d = b->host.delegations; d; d = d->next) {
                DelegationView v;
                int r;

                view_delegation(d, &v);
                r = fn(&v, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int broker_delegation_view(Broker *b, uint64_t id, DelegationView *ret) {
        const Delegation *d = delegation_find(&b->host, id);

        if (!d)
                return -ENOENT;
        view_delegation(d, ret);
        return 0;
}

/* ---------------------------------------------------------------- events */

static void broker_on_session_free(Session *s, void *userdata) {
        Broker *b = userdata;

        if (b->observer && b->observer->session_closed) {
                SessionView v;

                view_session(s, &v);
                b->observer->session_closed(&v, b->observer_userdata);
        }
        if (s->prev)
                s->prev->next = s->next;
        else if (b->sessions == s)
                b->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
        broker_status(b);
}

/* A device was quarantined: probe it again soon. */
static void broker_on_device_quarantined(void *userdata) {
        broker_arm_reprobe(userdata, true);
}

static void broker_on_delegations_changed(void *userdata) {
        broker_status(userdata);
}

static void broker_add_session(Session *s, void *userdata) {
        Broker *b = userdata;

        s->next = b->sessions;
        if (b->sessions)
                b->sessions->prev = s;
        b->sessions = s;
        if (s->id > b->next_session_id)
                b->next_session_id = s->id;
}

static Session *broker_first_session(void *userdata) {
        Broker *b = userdata;

        return b->sessions;
}

static void journal_begin(Session *s, void *userdata) {
        (void) persist_session_begin(userdata, s);
}

static void journal_end(Session *s, void *userdata) {
        persist_session_end(userdata, s);
}

static void journal_release_device(Session *s, uint32_t dev_id, void *userdata) {
        persist_forget_fd(userdata, s, PERSIST_FD_DEVICE, dev_id);
        crash_point("released");
}

static void journal_keep_guard(Session *s, uint32_t id, int fd, void *userdata) {
        (void) persist_keep_fd(userdata, s, PERSIST_FD_GUARD, id, fd);
}

static void journal_release_guard(Session *s, uint32_t id, void *userdata) {
        persist_forget_fd(userdata, s, PERSIST_FD_GUARD, id);
}

static void journal_peek(Session *s, const uint8_t *head, size_t size, void *userdata) {
        persist_request_peeked(userdata, s, head, size);
}

static void broker_on_accept(int fd, void *userdata) {
        Broker *b = userdata;
        Session *s;
        int r;

        r = session_new(&s, &b->host, ++b->next_session_id, fd);
        if (r < 0) {
                log_warning_errno(r, "cannot start a session for a new connection, closing it: %m");
                return;
        }
        if (!s)
                return;         /* refused, told why and closed at once (SESSION_MAX_REFUSED_HELD) */
        s->next = b->sessions;
        if (b->sessions)
                b->sessions->prev = s;
        b->sessions = s;
        log_info("%s opened: uid %u gid %u pid %d%s", s->name, (unsigned) s->cred.uid, (unsigned) s->cred.gid,
                 (int) s->cred.pid, s->pidfd >= 0 ? " (pidfd)" : "");
        broker_status(b);
        if (b->observer && b->observer->session_opened) {
                SessionView v;

                view_session(s, &v);
                b->observer->session_opened(&v, b->observer_userdata);
        }
}

#define EXIT_RESTART 75

static void broker_on_sigusr2(evutil_socket_t sig, short what, void *userdata) {
        Broker *b = userdata;

        if (!persist_enabled(b->persist)) {
                log_warning("SIGUSR2 asks for an exit that keeps the sessions, but there is no fd store: ignored");
                return;
        }
        log_info("SIGUSR2 received: exiting for a restart (status %d), the sessions stay", EXIT_RESTART);
        b->keep_sessions = true;
        b->exit_status = EXIT_RESTART;
        (void) event_base_loopbreak(b->base);
}

static void broker_on_signal(evutil_socket_t sig, short what, void *userdata) {
        Broker *b = userdata;

        /* systemctl restart: the store is kept and the next broker restores every session */
        if (sig == SIGTERM && persist_enabled(b->persist) && b->restart_queued && b->restart_queued() > 0) {
                log_info("SIGTERM received with a restart queued: exiting, the sessions stay with the fd store");
                b->keep_sessions = true;
                b->exit_status = EXIT_SUCCESS;
                (void) event_base_loopbreak(b->base);
                return;
        }

        log_info("%s received, stopping", strsignal((int) sig));
        (void) sd_notify(false, "STOPPING=1");
        (void) event_base_loopbreak(b->base);
}

/*
 * Loads the policy at b->policy_path with its policy.d/ drop-ins: 0 with
 * *ret NULL when there is no policy file, -errno with the FILE:LINE error.
 */
static int broker_load_policy(Broker *b, Policy **ret, char *error, size_t error_size) {
        int r;

        r = policy_load(b->policy_path, b->policy_dropin, ret, error, error_size);
        if (r == -ENOENT && access(b->policy_path, F_OK) < 0) {
                *ret = NULL;
                return 0;
        }
        return r;
}

int broker_reload_policy(Broker *b, char *error, size_t error_size) {
        Policy *new = NULL, *old = b->host.policy;
        char err[512] = "";
        size_t affected = 0;
        int r;

        r = broker_load_policy(b, &new, err, sizeof(err));
        if (r < 0) {
                AuditRecord a = { .uid = (uid_t) -1, .verb = AUDIT_VERB_RELOAD, .object = b->policy_path,
                                  .result = AUDIT_DENIED, .reason = err };

                log_error("policy reload refused, the old policy stays: %s", err);
                audit_log(&a);
                if (error)
                        (void) snprintf(error, error_size, "%s", err);
                if (b->observer && b->observer->policy_reloaded)
                        b->observer->policy_reloaded(r, err, b->observer_userdata);
                return r;
        }
        if (new) {
                r = audit_open(new->audit_file);
                if (r < 0)
                        log_warning_errno(r, "cannot open the audit file '%s', keeping the previous one: %m",
                                          new->audit_file);
        }

        /*
         * Sessions keep the tenant they were admitted as and what they hold
         * (unless RevokeOnReload closes them); what they lose is weighed
         * against the old records, then every tenant takes its new one, which
         * rules everything they start from now on.
         */
        for (Session *s = b->sessions, *next; s; s = next) {
                bool revoke = false;
                unsigned losses;

                next = s->next;
                if (!s->tenant)
                        continue;
                if (tenancy_record(s->tenant) && new)
                        losses = policy_session_losses(tenancy_record(s->tenant), new, &s->id_peer, &revoke);
                else if (!s->tenant->record && !s->tenant->orphaned && !new)
                        losses = 0;
                else {
                        /*
                         * From no policy to one, or back: RevokeOnReload= of the
                         * tenant of its name in the new policy, or [Global]'s; no
                         * policy revokes nothing.  A tenant already gone (orphaned)
                         * was judged by the reload that dropped it: it runs on,
                         * whether its tenant comes back or not.
                         */
                        const PolicyTenant *pt = new ? policy_find_tenant(new, s->tenant->name) : NULL;

                        losses = POLICY_LOSS_TENANT;
                        revoke = !s->tenant->orphaned && (pt ? pt->revoke_on_reload : new && new->revoke_on_reload);
                }
                if (!losses)
                        continue;
                affected++;
                log_notice("%s (tenant '%s', uid %u) is affected by the reload (lost:%s%s%s%s%s)%s", s->name,
                           s->tenant->name, (unsigned) s->cred.uid, losses & POLICY_LOSS_TENANT ? " tenant" : "",
                           losses & POLICY_LOSS_MATCH ? " match" : "", losses & POLICY_LOSS_DEVICES ? " devices" : "",
                           losses & POLICY_LOSS_LIMITS ? " limits" : "", losses & POLICY_LOSS_FEATURES ? " features" : "",
                           revoke ? "; the policy revokes it: closing" : "; it runs on until it closes");
                if (revoke)
                        session_free(s);
        }

        tenancy_reload(b->host.tenants, new);
        b->host.policy = new;
        policy_unref(old);
        {
                AuditRecord a = { .uid = (uid_t) -1, .verb = AUDIT_VERB_RELOAD, .object = b->policy_path,
                                  .result = AUDIT_GRANTED, .reason = NULL };

                audit_log(&a);
        }
        log_info("policy reloaded: %s, %zu tenant%s; %zu session%s affected",
                 new ? b->policy_path : "no policy file (root and the broker's uid only)", new ? new->n_tenants : 0,
                 new && new->n_tenants == 1 ? "" : "s", affected, affected == 1 ? "" : "s");
        if (error && error_size)
                error[0] = '\0';
        if (b->observer && b->observer->policy_reloaded)
                b->observer->policy_reloaded(0, NULL, b->observer_userdata);
        return 0;
}

static void broker_on_sighup(evutil_socket_t sig, short what, void *userdata) {
        Broker *b = userdata;

        (void) sd_notify(false, "RELOADING=1");
        (void) broker_reload_policy(b, NULL, 0);
        (void) sd_notify(false, "READY=1");
        broker_status(b);
}

static void broker_on_watchdog(evutil_socket_t fd, short what, void *userdata) {
        (void) sd_notify(false, "WATCHDOG=1");
}

/*
 * The simulated IOMMU's devices when none are configured: one that can do
 * everything (PASIDs, nesting, dirty tracking, snoop control) and one that can
 * do nothing beyond translation, like QEMU's edu behind an emulated VT-d.
 */
static const BackendDeviceInfo sim_default_devices[] = {
        { .name = "0000:00:02.0", .vendor_id = 0x1234, .device_id = 0x11e8, .iommu_group = 1, .pasid_width = 20,
          .dirty_tracking = true, .nesting = true, .snoop_control = true },
        { .name = "0000:00:03.0", .vendor_id = 0x1234, .device_id = 0x11e8, .iommu_group = 2 },
};

/* ---------------------------------------------------------------- building the broker, in stages */

/* The backend config names, if it can serve this configuration. */
static int broker_pick_backend(const BrokerConfig *config, const BackendOps **ret) {
        const BackendOps *ops = backend_ops_by_name(config->backend);

        if (!ops)
                return log_error_errno(EINVAL, "unknown backend '%s': use 'kernel' or 'sim'", config->backend);
        if (config->backend_config.kernel_mock_devices > 0) {
                if (ops != &backend_kernel_ops)
                        return log_error_errno(EINVAL, "--kernel-mock-devices is for the kernel backend only");
                if (!backend_kernel_mock_built_in())
                        return log_error_errno(EOPNOTSUPP,
                                               "--kernel-mock-devices: this iommu-brokerd was built without the "
                                               "kernel's iommufd test driver mock devices (they are for tests only; "
                                               "configure --with-iommufd-selftest=DIR builds them in)");
        }
        *ret = ops;
        return 0;
}

/* The kernel's cap on a process's memory mappings; 0 if it cannot be read. */
static uint64_t read_max_map_count(void) {
        FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
        unsigned long long n = 0;

        if (!f)
                return 0;
        if (fscanf(f, "%llu", &n) != 1)
                n = 0;
        (void) fclose(f);
        return n;
}

#define MMAP_KEPT_FOR_BROKER 4096       /* the broker's own mappings: libraries, stacks, heaps, state file */
#define MMAP_KERNEL_DEFAULT 65530       /* DEFAULT_MAX_MAP_COUNT */

/*
 * Without IOMMU_IOAS_MAP_FILE every mapping is an mmap of the broker's
 * (object/ioas.c), and the kernel caps a process's mappings
 * (vm.max_map_count): past it every mmap fails, the broker's own too.  The
 * broker's account caps those mmaps for all sessions together below that
 * (ACCOUNT_BROKER_MMAPS: one per mapping, and a Copy keeps its source's),
 * so that no tenant can take the broker's address space from the others
 * and from the broker (EDQUOT, "broker-wide").
 */
static void broker_limit_mmap_mappings(Broker *b, uint64_t max) {
        uint64_t count = read_max_map_count();

        if (count == 0) {
                /* the shipped unit's ProcSubset=pid hides /proc/sys */
                log_notice("vm.max_map_count cannot be read here: taking the kernel's default, %d (where the host "
                           "raised it, --mmap-mappings-max says how many mappings the broker may make)",
                           MMAP_KERNEL_DEFAULT);
                count = MMAP_KERNEL_DEFAULT;
        }
        if (max == 0)
                max = count > 2 * MMAP_KEPT_FOR_BROKER ? count - MMAP_KEPT_FOR_BROKER : count / 2;
        else if (max > count)
                log_warning("--mmap-mappings-max=%" PRIu64 " is more than vm.max_map_count (%" PRIu64 "): the broker "
                            "may run out of mappings of its own", max, count);
        b->account.limit[ACCOUNT_BROKER_MMAPS] = max;
        log_info("at most %" PRIu64 " live mappings of all sessions together (each an mmap of the broker's; "
                 "vm.max_map_count %" PRIu64 ")", max, count);
}

/* Opens the backend (the sim with its default devices unless others are configured). */
static int broker_open_backend(Broker *b, const BackendOps *ops, const BrokerConfig *config) {
        BackendConfig backend_config = config->backend_config;
        int r;

        backend_config.fdstore = b->store;
        if (!backend_config.sim_devices) {
                backend_config.sim_devices = sim_default_devices;
                backend_config.n_sim_devices = ELEMENTSOF(sim_default_devices);
        }
        r = backend_open(ops, &backend_config, &b->backend);
        if (r == -ENODEV || r == -ENOENT) {
                log_error("%s not found: this kernel has no iommufd support (CONFIG_IOMMUFD) or the iommufd "
                          "module is not loaded. To run without an IOMMU, for tests and demos only, "
                          "pass --backend=sim.",
                          config->backend_config.iommu_path ?: "/dev/iommu");
                return r;
        }
        if (r == -EOPNOTSUPP && backend_config.kernel_mock_devices > 0) {
                log_error("--kernel-mock-devices: this kernel has no iommufd test driver (CONFIG_IOMMUFD_TEST)");
                return r;
        }
        if (r < 0)
                return log_error_errno(r, "cannot open the %s backend: %m", ops->name);
        if (config->no_map_file)
                b->backend->features &= ~(uint64_t) BACKEND_FEATURE_MAP_FILE;
        log_info("memfds are mapped with %s",
                 backend_has(b->backend, BACKEND_FEATURE_MAP_FILE) ? "IOMMU_IOAS_MAP_FILE" : "a broker mmap and IOMMU_IOAS_MAP");
        if (!backend_has(b->backend, BACKEND_FEATURE_MAP_FILE))
                broker_limit_mmap_mappings(b, config->mmap_mappings_max);
        if (strcmp(backend_name(b->backend), "sim") == 0)
                log_notice("using the simulated IOMMU backend: no device DMA is translated (tests and demos only)");
        return 0;
}

/* Loads the policy and its drop-ins, and opens its audit file. */
static int broker_open_policy(Broker *b, const BrokerConfig *config) {
        const char *path = config->policy_path ?: POLICY_MAIN_PATH;
        const char *slash = strrchr(path, '/');
        char err[512] = "";
        int r;

        b->policy_path = strdup(path);
        if (slash && asprintf(&b->policy_dropin, "%.*s/policy.d", (int) (slash - path), path) < 0)
                b->policy_dropin = NULL;
        else if (!slash)
                b->policy_dropin = strdup("policy.d");
        if (!b->policy_path || !b->policy_dropin)
                return log_error_errno(ENOMEM, "out of memory");
        r = broker_load_policy(b, &b->host.policy, err, sizeof(err));
        if (r < 0) {
                log_error("cannot load the policy: %s", err);
                return r;
        }
        if (!b->host.policy) {
                log_notice("no policy file at %s: only root and uid %u may connect", b->policy_path,
                           (unsigned) geteuid());
                return 0;
        }
        r = audit_open(b->host.policy->audit_file);
        if (r < 0)
                return log_error_errno(r, "cannot open the audit file '%s': %m", b->host.policy->audit_file);
        log_info("policy %s: %zu tenant%s; everyone else is refused", b->policy_path, b->host.policy->n_tenants,
                 b->host.policy->n_tenants == 1 ? "" : "s");
        return 0;
}

/* What every session is lent: the loop, the verb table, the backend, the device inventory, ... */
static int broker_setup_host(Broker *b, const BrokerConfig *config) {
        Policy *policy = b->host.policy;        /* broker_open_policy() loaded it */
        int r;

        b->host = (SessionHost) {
                .base = b->base,
                .server = &dispatch_server,
                .backend = b->backend,
                .account = &b->account,
                .uid = geteuid(),
                .on_session_free = broker_on_session_free,
                .on_device_quarantined = broker_on_device_quarantined,
                .on_delegations_changed = broker_on_delegations_changed,
                .userdata = b,
                .global_pasid = config->global_pasid,
                .policy = policy,
                .policy_path = b->policy_path,
                .admission = config->admission,
                .offload_min_bytes = config->offload_min_bytes,
        };
        b->workers = config->workers;
        b->restart_queued = config->restart_queued;
        session_admission_complete(&b->host.admission);
        r = pasid_space_init(&b->host.pasids);
        if (r < 0)
                return log_error_errno(r, "cannot set up the PASID space: %m");
        r = device_table_refresh(&b->host.devices, b->backend);
        if (r < 0)
                log_warning_errno(r, "cannot list devices, continuing without: %m");
        else
                log_info("%zu device%s available", b->host.devices.n_slots, b->host.devices.n_slots == 1 ? "" : "s");
        return 0;
}

typedef struct SocketPick {
        char name[FDSTORE_NAME_MAX + 1];
        unsigned found;
} SocketPick;

/* The socket unit's fds: those passed that are none of the store's own (s*.?, state.*, sim.*). */
static int pick_socket(FdStore *s, const char *name, int fd, void *userdata) {
        SocketPick *p = userdata;

        if (strncmp(name, "state.", 6) == 0 || strncmp(name, "sim.", 4) == 0 ||
            (name[0] == 's' && name[1] >= '0' && name[1] <= '9'))
                return 0;
        if (p->found++ == 0)
                (void) snprintf(p->name, sizeof(p->name), "%s", name);
        return 0;
}

/* The one listening socket passed; -ENOENT for none, -EINVAL for more than one. */
static int broker_take_socket(Broker *b) {
        SocketPick p = {};

        (void) fdstore_foreach(b->store, "", pick_socket, &p);
        if (p.found > 1)
                return -EINVAL;
        return p.found ? fdstore_take(b->store, p.name) : -ENOENT;
}

/* The VMM socket: the configured path, or the one the service manager passed. */
static int broker_listen(Broker *b, const BrokerConfig *config) {
        int r;

        if (config->socket_path)
                r = listener_new_path(&b->listener, b->base, config->socket_path, config->socket_mode,
                                      config->socket_gid, broker_on_accept, b);
        else {
                r = listener_new_activated(&b->listener, b->base, broker_take_socket(b), broker_on_accept, b);
                if (r == -ENOENT) {
                        log_error("no socket: pass --socket PATH or start iommu-brokerd through its systemd socket unit");
                        return r;
                }
        }
        if (r < 0)
                return log_error_errno(r, "cannot listen on %s: %m", config->socket_path ?: "the activated socket");
        return 0;
}

/* Signals, the device probe timer and, if the service manager asks for it, the watchdog. */
static int broker_add_events(Broker *b) {
        uint64_t wd_usec = 0;

        b->ev_sigterm = evsignal_new(b->base, SIGTERM, broker_on_signal, b);
        b->ev_sigint = evsignal_new(b->base, SIGINT, broker_on_signal, b);
        b->ev_sighup = evsignal_new(b->base, SIGHUP, broker_on_sighup, b);
        b->ev_sigusr2 = evsignal_new(b->base, SIGUSR2, broker_on_sigusr2, b);
        if (!b->ev_sigusr2 || evsignal_add(b->ev_sigusr2, NULL) < 0)
                return log_error_errno(ENOMEM, "cannot install the SIGUSR2 event");
        if (!b->ev_sighup || evsignal_add(b->ev_sighup, NULL) < 0)
                return log_error_errno(ENOMEM, "cannot install the SIGHUP event");
        if (!b->ev_sigterm || !b->ev_sigint || evsignal_add(b->ev_sigterm, NULL) < 0 ||
            evsignal_add(b->ev_sigint, NULL) < 0)
                return log_error_errno(ENOMEM, "cannot install signal events");
        (void) signal(SIGPIPE, SIG_IGN);

        b->ev_reprobe = evtimer_new(b->base, broker_on_reprobe, b);
        if (!b->ev_reprobe)
                return log_error_errno(ENOMEM, "cannot make the device probe timer");

        if (sd_watchdog_enabled(false, &wd_usec) > 0 && wd_usec > 0) {
                struct timeval tv = { .tv_sec = (time_t) (wd_usec / 2 / 1000000),
                                      .tv_usec = (suseconds_t) (wd_usec / 2 % 1000000) };

                b->ev_watchdog = event_new(b->base, -1, EV_PERSIST, broker_on_watchdog, b);
                if (!b->ev_watchdog || event_add(b->ev_watchdog, &tv) < 0)
                        return log_error_errno(ENOMEM, "cannot arm the watchdog timer");
        }
        return 0;
}

/*
 * The fd store and the state file (core/persist.h): before the listener,
 * which takes its socket from the fds passed at start.
 */
static int broker_open_state(Broker *b) {
        uint64_t stored = fdstore_highest_session(b->store);
        int r;

        r = persist_new(&b->persist, b->store);
        if (r < 0)
                return log_error_errno(r, "cannot set up the state file: %m");
        b->host.persist = b->persist;
        if (persist_enabled(b->persist)) {
                b->journal = (SessionJournal) {
                        .begin = journal_begin,
                        .end = journal_end,
                        .release_device = journal_release_device,
                        .keep_guard = journal_keep_guard,
                        .release_guard = journal_release_guard,
                        .peek = journal_peek,
                        .one_reply_queued = true,
                        .userdata = b->persist,
                };
                b->host.journal = &b->journal;
                persist_set_sessions(b->persist, broker_first_session, b);
                b->next_session_id = persist_last_session_id(b->persist);
                if (!persist_restored(b->persist) && stored > 0) {
                        /* sessions' fds without a readable state file: nothing can restore them, so they go */
                        log_warning("the fd store passed sessions' fds but no state file that can be read: "
                                    "ending them (the kernel releases what they held)");
                        for (char d = '0'; d <= '9'; d++)
                                fdstore_forget_passed(b->store, (char[]) { 's', d, '\0' });
                }
                if (stored > b->next_session_id)
                        b->next_session_id = stored;
                log_info("sessions are kept in the service manager's fd store: a crash or restart of the broker "
                         "does not end them");
        } else
                log_info("no service manager fd store (NOTIFY_SOCKET): a crash or restart of the broker ends every session");
        return 0;
}

static void broker_on_rewrite(evutil_socket_t fd, short what, void *userdata) {
        Broker *b = userdata;
        struct timeval tv = { .tv_usec = 100000 };

        /* not while a request is between its record and its reply: again a little later */
        if (!persist_rewrite(b->persist))
                (void) evtimer_add(b->ev_rewrite, &tv);
}

/* The sessions a previous broker process served, before anything else is served. */
static int broker_recover(Broker *b) {
        AuditRecord a = { .verb = AUDIT_VERB_RESTART, .result = AUDIT_GRANTED };
        char reason[200];
        int r;

        if (!persist_restored(b->persist))
                return 0;
        r = recover_sessions(&b->host, b->persist, broker_add_session, b, &b->recovered);
        if (r < 0)
                return log_error_errno(r, "cannot restore the sessions of the previous broker: %m");
        (void) snprintf(reason, sizeof(reason),
                        "restart %" PRIu64 ": %" PRIu64 " sessions restored (%" PRIu64 " ended), %" PRIu64
                        " objects, %" PRIu64 " mappings, %" PRIu64 " bytes, %" PRIu64 " interrupted requests "
                        "settled, in %" PRIu64 " us",
                        persist_restarts(b->persist), b->recovered.sessions, b->recovered.ended,
                        b->recovered.objects, b->recovered.mappings, b->recovered.bytes, b->recovered.resolved,
                        b->recovered.usec);
        a.reason = reason;
        a.uid = geteuid();
        a.pid = getpid();
        audit_log(&a);
        log_notice("%s", reason);
        /* the fresh state file waits until the broker serves: a VMM waits for READY, not for it */
        b->ev_rewrite = evtimer_new(b->base, broker_on_rewrite, b);
        if (b->ev_rewrite) {
                struct timeval tv = {};

                (void) evtimer_add(b->ev_rewrite, &tv);
        } else
                persist_rewrite(b->persist);
        return 0;
}

int broker_new(Broker **ret, const BrokerConfig *config) {
        _cleanup_(broker_freep) Broker *b = NULL;
        const BackendOps *ops = NULL;
        int r;

        r = broker_pick_backend(config, &ops);
        if (r < 0)
                return r;
        b = calloc(1, sizeof(*b));
        if (!b)
                return log_error_errno(ENOMEM, "out of memory");
        account_init(&b->account, "broker", NULL);
        r = fdstore_new(&b->store);
        if (r < 0)
                return log_error_errno(r, "cannot read the file descriptors passed at start: %m");
        b->base = event_base_new();
        if (!b->base)
                return log_error_errno(ENOMEM, "cannot create the event loop");

        r = broker_open_backend(b, ops, config);
        if (r < 0)
                return r;
        r = broker_open_policy(b, config);
        if (r < 0)
                return r;
        r = broker_setup_host(b, config);
        if (r < 0)
                return r;
        r = broker_open_state(b);
        if (r < 0)
                return r;
        r = broker_listen(b, config);
        if (r < 0)
                return r;
        r = broker_add_events(b);
        if (r < 0)
                return r;
        r = broker_recover(b);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(b);
        return 0;
}

Broker *broker_free(Broker *b) {
        if (!b)
                return NULL;
        /* requests waiting for kernel calls finish first: their sessions are freed only then */
        if (b->offload_started)
                offload_stop();
        if (b->keep_sessions) {
                /* an exit for a restart: the store and the state file keep every session as it is */
                log_notice("exiting for a restart: %zu sessions stay with the service manager's fd store",
                           b->host.n_sessions);
                (void) sd_notify(false, "STOPPING=1");
                _exit(b->exit_status);
        }
        while (b->sessions)
                session_free(b->sessions);      /* unlinks itself through broker_on_session_free() */
        delegation_forget_all(&b->host);        /* the VMMs keep their devices; only the records go */
        session_host_done(&b->host);
        ioas_spares_clear();
        listener_free(b->listener);
        if (b->ev_sigterm)
                event_free(b->ev_sigterm);
        if (b->ev_sigint)
                event_free(b->ev_sigint);
        if (b->ev_sighup)
                event_free(b->ev_sighup);
        policy_unref(b->host.policy);
        audit_close();
        free(b->policy_path);
        free(b->policy_dropin);
        if (b->ev_watchdog)
                event_free(b->ev_watchdog);
        if (b->ev_reprobe)
                event_free(b->ev_reprobe);
        device_table_clear(&b->host.devices);
        pasid_space_deinit(&b->host.pasids);
        b->backend = backend_close(b->backend);
        if (b->ev_sigusr2)
                event_free(b->ev_sigusr2);
        if (b->ev_rewrite)
                event_free(b->ev_rewrite);
        persist_free(b->persist);
        fdstore_free(b->store);
        if (b->base)
                event_base_free(b->base);
        free(b);
        return NULL;
}

int broker_run(Broker *b) {
        int r;

        /* after the privilege drop: the threads inherit the credentials (util/offload.h) */
        r = offload_start(b->base, b->workers);
        b->offload_started = true;      /* also half started: broker_free() stops what did */
        if (r < 0)
                return log_error_errno(r, "cannot start the worker threads: %m");
        if (b->host.offload_min_bytes > 0 && b->workers > 0)
                log_info("requests of %" PRIu64 " bytes or more wait for their kernel calls off the loop, "
                         "on %u worker thread%s", b->host.offload_min_bytes, b->workers, b->workers == 1 ? "" : "s");
        else if (b->workers == 0)
                log_info("no worker threads: every kernel call runs on the loop");
        log_info("serving with the %s backend", backend_name(b->backend));
        (void) sd_notify(false, "READY=1");
        broker_status(b);
        if (event_base_dispatch(b->base) < 0)
                return log_error_errno(EIO, "the event loop failed");
        return 0;
}

void broker_set_observer(Broker *b, const BrokerObserver *ops, void *userdata) {
        b->observer = ops;
        b->observer_userdata = userdata;
}

struct event_base *broker_get_event_base(Broker *b) {
        return b->base;
}

const char *broker_backend_name(Broker *b) {
        return backend_name(b->backend);
}

void broker_restart_view(Broker *b, RestartView *ret) {
        *ret = (RestartView) {
                .fd_store = persist_enabled(b->persist),
                .restarts = persist_restarts(b->persist),
                .sessions = b->recovered.sessions,
                .ended = b->recovered.ended,
                .objects = b->recovered.objects,
                .mappings = b->recovered.mappings,
                .mapped_bytes = b->recovered.bytes,
                .settled = b->recovered.resolved,
                .usec = b->recovered.usec,
        };
}

size_t broker_n_sessions(Broker *b) {
        return b->host.n_sessions;
}

int broker_end_delegation(Broker *b, uint64_t id) {
        Delegation *d = delegation_find(&b->host, id);

        if (!d)
                return -ENOENT;
        return delegation_kill(d);
}

int broker_kill_session(Broker *b, uint64_t id) {
        Session *s = broker_find_session(b, id);

        if (!s)
                return -ENOENT;
        log_notice("%s: ended by the administrator", s->name);
        session_free(s);
        return 0;
}

int broker_refresh_devices(Broker *b) {
        int r = device_table_refresh(&b->host.devices, b->backend);

        if (r < 0)
                return r;
        /* the timer runs while a device is quarantined: armed if it is not, never postponed */
        if (broker_n_quarantined(b) > 0)
                broker_arm_reprobe(b, /* restart= */ false);
        return 0;
}

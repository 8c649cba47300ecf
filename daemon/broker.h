/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker.h - the broker: the wiring of one daemon instance.
 *
 * Owns: the event base, the backend, the listener, the registry of live
 * sessions with the broker-wide account, signal events, the service
 * manager notifications (READY, STATUS, WATCHDOG), and the read-only views
 * it lends the host room (which includes no other header of the daemon's
 * state).  broker_new() builds it in stages, each undone by broker_free().
 * Must never: hand the host room a pointer into a record.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "common/protocol.h"
#include "core/session.h"

typedef struct Broker Broker;

typedef struct BrokerConfig {
        const char *backend;            /* "kernel" or "sim" */
        BackendConfig backend_config;
        const char *socket_path;        /* NULL: socket activation */
        mode_t socket_mode;
        gid_t socket_gid;               /* (gid_t) -1: leave as is */
        bool no_map_file;               /* never use IOMMU_IOAS_MAP_FILE */
        uint64_t mmap_mappings_max;     /* without MAP_FILE: live mappings of all sessions; 0: from vm.max_map_count */
        bool global_pasid;              /* devices share one host-wide PASID space */
        const char *policy_path;        /* NULL: /etc/iommu-broker/policy.conf */
        SessionAdmission admission;     /* zeros: the defaults */
        unsigned workers;               /* threads for kernel calls off the loop (util/offload.h) */
        uint64_t offload_min_bytes;     /* requests that may pin or unpin this much go off the loop; 0: none */
        /*
         * At SIGTERM: > 0 if the service manager restarts the broker (the
         * sessions then stay with the fd store), else it stops and every
         * session ends.  NULL: always a stop.  Lent by the host room.
         */
        int (*restart_queued)(void);
} BrokerConfig;

/* ---------------------------------------------------------------- read-only views
 *
 * What the host room reads of the broker: plain values, filled for one
 * call (the strings live until the callback returns, or the view is used
 * up).  Nothing here lets the host reach a session, tenant, device or
 * policy record.  A foreach calls fn for each, stops at fn's first negative
 * return and returns it.
 */

/* What objects cost, broker-wide or for one session. */
typedef struct UsageView {
        uint64_t objects;
        uint64_t mappings;
        uint64_t mapped_bytes;
} UsageView;

/* Restarts: whether sessions survive one, and what the last start restored. */
typedef struct RestartView {
        bool fd_store;                  /* a service manager keeps the fds: sessions survive a restart */
        uint64_t restarts;              /* starts that found a previous broker's state */
        uint64_t sessions;              /* restored by this start, and serving */
        uint64_t ended;                 /* found but ended (no tenant, fds lost, not restorable yet) */
        uint64_t objects;
        uint64_t mappings;
        uint64_t mapped_bytes;
        uint64_t settled;               /* interrupted requests answered */
        uint64_t usec;                  /* from the start of recovery to serving */
} RestartView;

/* One live session: its peer as the kernel told at accept. */
typedef struct SessionView {
        uint64_t id;
        const char *name;               /* "session 7", for logs */
        uid_t uid;
        gid_t gid;
        pid_t pid;
        const char *unit;               /* its systemd unit; NULL: none */
        const char *tenant;             /* NULL while the connection is refused */
        const char *client;             /* the name it gave in Hello; NULL: none */
        uint32_t n_ioas;
        UsageView usage;
        uint64_t requests;
} SessionView;

/* One counted resource of a tenant: usage and limit, with their keys (the limit's is the policy's). */
typedef struct TenantCounterView {
        const char *usage_key;          /* "PinnedMemory" */
        const char *limit_key;          /* "PinnedMemoryMax" */
        uint64_t used;
        uint64_t limit;
} TenantCounterView;

/* A tenant of the policy in force (with or without sessions), or a live one the policy lost. */
typedef struct TenantView {
        const char *name;
        uint32_t n_sessions;
        bool in_policy;
        const TenantCounterView *counters;
        size_t n_counters;
        const char *const *devices;     /* its Device= values, "group:N" for a group; "*": every device */
        size_t n_devices;
} TenantView;

/* One device of the inventory, and who has it. */
typedef struct DeviceView {
        const char *name;               /* its PCI address */
        uint16_t vendor_id;
        uint16_t device_id;
        uint8_t pasid_width;
        int iommu_group;                /* -1: unknown */
        const SessionView *holder;      /* the live session that has it open; NULL: none */
        uint64_t session;               /* the id of the session that has it open; 0: none */
        uint64_t delegation;            /* 0: not delegated */
        pid_t delegated_to;
        uid_t delegated_uid;
        bool quarantined;
        pid_t held_by;                  /* quarantined: the pid its fd went to */
        uid_t held_uid;
        uint64_t held_session;
} DeviceView;

/* One PASID attached through the broker. */
typedef struct PasidView {
        const SessionView *holder;
        const char *device;
        uint32_t vpasid;
        uint32_t pasid;
        uint32_t pt_id;
        const char *mode;               /* "per-device" or "global" (the host-wide space) */
} PasidView;

/* Devices handed to one VMM (core/delegation.h). */
typedef struct DelegationView {
        uint64_t id;
        const char *tenant;
        pid_t pid;
        uid_t uid;
        uint64_t memlock_limit;         /* 0: left as it was */
        uint64_t started_usec;          /* CLOCK_REALTIME */
        const char *devices[IB_MAX_DELEGATE_DEVICES];
        size_t n_devices;
} DelegationView;

/*
 * What the host room (daemon/host/: admin bus, notifications) may watch.
 * Callbacks run from the event loop after the change; none may end the
 * session it is shown.
 */
typedef struct BrokerObserver {
        void (*session_opened)(const SessionView *s, void *userdata);
        void (*session_closed)(const SessionView *s, void *userdata);      /* before it is freed */
        /* after every reload, by SIGHUP or by request: r < 0 with the FILE:LINE error when refused */
        void (*policy_reloaded)(int r, const char *error, void *userdata);
} BrokerObserver;

int broker_new(Broker **ret, const BrokerConfig *config);
Broker *broker_free(Broker *b);
/* Runs until SIGTERM or SIGINT; 0 on a clean stop. */
int broker_run(Broker *b);

/*
 * Re-reads the policy (SIGHUP does this too).  A file with an error is refused
 * whole, the old policy stays, and the error (FILE:LINE: ...) is logged,
 * audited and, if error is given, copied there.  Sessions whose tenant lost
 * something are logged; those the policy revokes are closed.
 */
int broker_reload_policy(Broker *b, char *error, size_t error_size);

/* At most one observer; NULL ops removes it. */
void broker_set_observer(Broker *b, const BrokerObserver *ops, void *userdata);

struct event_base *broker_get_event_base(Broker *b);
const char *broker_backend_name(Broker *b);
/* Broker-wide usage: what every session holds together. */
void broker_usage(Broker *b, UsageView *ret);
size_t broker_n_sessions(Broker *b);
void broker_restart_view(Broker *b, RestartView *ret);
/* The live sessions, newest first. */
int broker_foreach_session(Broker *b, int (*fn)(const SessionView *s, void *userdata), void *userdata);
/* The live session with that id; -ENOENT if none. */
int broker_session_view(Broker *b, uint64_t id, SessionView *ret);
/*
 * The tenants of the policy in force in file order (without a policy: the
 * local admin), then the live tenants the policy no longer has.
 */
int broker_foreach_tenant(Broker *b, int (*fn)(const TenantView *t, void *userdata), void *userdata);
/* The device inventory in its order. */
int broker_foreach_device(Broker *b, int (*fn)(const DeviceView *d, void *userdata), void *userdata);
/*
 * Rescans the inventory.  Quarantined devices are probed by the timer, off
 * the loop (a probe that finds one free binds it, which may reset it), at
 * least every 5 s: a listing shows what the last probe found.
 */
int broker_refresh_devices(Broker *b);
/* The PASIDs of every session's devices. */
int broker_foreach_pasid(Broker *b, int (*fn)(const PasidView *p, void *userdata), void *userdata);
/* Devices handed to VMMs, newest first. */
int broker_foreach_delegation(Broker *b, int (*fn)(const DelegationView *d, void *userdata), void *userdata);
/* The delegation with that id; -ENOENT if none. */
int broker_delegation_view(Broker *b, uint64_t id, DelegationView *ret);
/* Ends a delegation by killing its process (SIGKILL); its end follows when the process is gone.  -ENOENT if none. */
int broker_end_delegation(Broker *b, uint64_t id);
/* Ends a session as if its client had hung up: every object is destroyed. -ENOENT if none. */
int broker_kill_session(Broker *b, uint64_t id);

DEFINE_TRIVIAL_CLEANUP_FUNC(Broker *, broker_free);

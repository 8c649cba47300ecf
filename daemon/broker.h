/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker.h - the broker: the wiring of one daemon instance.
 *
 * Owns: the event base, the backend, the listener, the registry of live
 * sessions with the broker-wide account, signal events, and the service
 * manager notifications (READY, STATUS, WATCHDOG).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "core/session.h"

typedef struct Broker Broker;

typedef struct BrokerConfig {
        const char *backend;            /* "kernel" or "sim" */
        BackendConfig backend_config;
        const char *socket_path;        /* NULL: socket activation */
        mode_t socket_mode;
        gid_t socket_gid;               /* (gid_t) -1: leave as is */
        bool no_map_file;               /* never use IOMMU_IOAS_MAP_FILE */
        bool global_pasid;              /* devices share one host-wide PASID space */
        const char *policy_path;        /* NULL: /etc/iommu-broker/policy.conf */
        SessionAdmission admission;     /* zeros: the defaults */
} BrokerConfig;

typedef struct Session Session;
typedef struct Account Account;

/*
 * What the host room (daemon/host/: admin bus, notifications) may watch.
 * Callbacks run from the event loop after the change; none may free the
 * session it is given.
 */
typedef struct BrokerObserver {
        void (*session_opened)(Session *s, void *userdata);
        void (*session_closed)(Session *s, void *userdata);    /* before it is freed */
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
/* Broker-wide usage: used[ACCOUNT_*] of every session together. */
const Account *broker_account(Broker *b);
size_t broker_n_sessions(Broker *b);
/* The live sessions, newest first; iterate with s->next. */
Session *broker_first_session(Broker *b);
Session *broker_find_session(Broker *b, uint64_t id);
typedef struct Tenant Tenant;
typedef struct Policy Policy;
typedef struct DeviceTable DeviceTable;
/* Live tenants (those with a session); iterate with t->next. */
Tenant *broker_first_tenant(Broker *b);
/* The policy in force; NULL: no policy file (root and the broker's uid only). */
Policy *broker_policy(Broker *b);
const char *broker_policy_path(Broker *b);
/* The device inventory: slots with their owner session id (0: not open) and quarantines. */
DeviceTable *broker_devices(Broker *b);
/* Rescans the inventory and frees quarantined devices whose last fd outside was closed. */
int broker_refresh_devices(Broker *b);
typedef struct Delegation Delegation;
/* Devices handed to VMMs (core/delegation.h), newest first; iterate with d->next. */
Delegation *broker_first_delegation(Broker *b);
/* Ends a delegation by killing its process (SIGKILL); its end follows when the process is gone.  -ENOENT if none. */
int broker_end_delegation(Broker *b, uint64_t id);
/* Ends a session as if its client had hung up: every object is destroyed. -ENOENT if none. */
int broker_kill_session(Broker *b, uint64_t id);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegation.h - devices handed to a VMM that binds and maps them itself.
 *
 * Owns: Delegation, the broker's claim on the devices of one DeviceDelegate
 * for the life of the process that received them (watched through its
 * pidfd, not its connection: a launcher execs the VMM and its connection
 * closes), the tenant reference and fd charge that claim holds, the end of
 * a delegation (the process exited; an admin's EndDelegation kills it) and
 * the audit record of both.
 * Must never: hand out a device that is not idle in the device table, probe
 * a delegated device while its process lives (a probe bind could race the
 * VMM's own bind), or decide who may delegate (verb-delegate.c asks the
 * policy).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/protocol.h"
#include "object/account.h"

typedef struct Delegation Delegation;
typedef struct Session Session;
typedef struct SessionHost SessionHost;
typedef struct Tenant Tenant;

struct Delegation {
        Delegation *prev;
        Delegation *next;               /* in host->delegations */
        SessionHost *host;
        uint64_t id;
        Tenant *tenant;                 /* a reference: its account holds charge_fd */
        pid_t pid;                      /* the process the fds went to */
        uid_t uid;
        int pidfd;                      /* readable once it exited */
        struct event *exited;
        char names[IB_MAX_DELEGATE_DEVICES][32];
        size_t n_names;
        uint64_t memlock_limit;         /* RLIMIT_MEMLOCK set on the process; 0: left as it was */
        uint64_t started_usec;          /* CLOCK_REALTIME */
        bool killed;                    /* an admin ended it */
        const char *end_reason;         /* its end is under way (delegation_end()): a static string */
        bool end_quarantined;           /* a device of it was quarantined at its end */
        Charge charge_fd;               /* ACCOUNT_FDS: the pidfd */
};

/* The process that receives the devices: the session's peer, or one named by a pidfd. */
typedef struct DelegationTarget {
        pid_t pid;
        uid_t uid;
        int pidfd;                      /* not taken: delegation_new() duplicates it */
} DelegationTarget;

/*
 * Claims the named devices (all idle) for target on behalf of s's tenant,
 * watching the target's pidfd.  Nothing is handed out here: the caller
 * opens the fds and sends them, or frees the delegation on failure with
 * delegation_abort().
 */
int delegation_new(Delegation **ret, Session *s, const DelegationTarget *target, char *const *names, size_t n_names,
                   uint64_t memlock_limit, const Account **ret_over);
/* Gives the devices back unused (the reply could not be built); no audit. */
void delegation_abort(Delegation *d);
/*
 * Ends it (reason: a static string): each device is probed (the VMM or a
 * process it passed the fd to may keep it bound) and is free, or
 * quarantined held by the pid; audited per device; d is freed once the last
 * is.  The probes wait off the loop (util/offload.h), one device after the
 * other: each device stays claimed until its own probe answered, and d may
 * outlive this call.
 */
void delegation_end(Delegation *d, const char *reason);
/*
 * An admin's end: SIGKILL to the process through its pidfd (the end follows
 * when it is gone).  -EPERM if the broker lacks CAP_KILL, -EALREADY if the
 * process is gone and the end under way.
 */
int delegation_kill(Delegation *d);
/* Whether d's device i is still d's (an ending delegation lets each go as its probe answers). */
bool delegation_holds(const Delegation *d, size_t i);
Delegation *delegation_find(SessionHost *host, uint64_t id);
/* At broker shutdown: lets go of the records, leaves the processes and their devices alone. */
void delegation_forget_all(SessionHost *host);

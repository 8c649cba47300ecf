/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * account.h - what objects cost, counted as charges held inside them.
 *
 * Owns: Account (usage and limits per resource, chained to a parent: session
 * -> tenant -> broker; a refused connection has no tenant, its session
 * account hangs below the broker's) and Charge, the receipt an object holds
 * for what it costs.  A charge is taken before the kernel call and released
 * in the object's destructor, so usage returns to zero by construction when
 * the objects die.
 * Must never: log, or know what the resources are used for.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum AccountResource {
        ACCOUNT_MAPPED_BYTES,   /* bytes of guest memory mapped for DMA (what may get pinned) */
        ACCOUNT_MAPPINGS,       /* live Map/Copy mappings */
        ACCOUNT_OBJECTS,        /* kernel objects: IOASes, devices, HWPTs, fault queues, vIOMMUs, vDEVICEs */
        ACCOUNT_PASIDS,         /* PASIDs attached */
        ACCOUNT_IOAS,           /* IOASes */
        ACCOUNT_HWPT,           /* explicitly allocated HWPTs */
        ACCOUNT_SESSIONS,       /* connections */
        ACCOUNT_FDS,            /* file descriptors the broker holds for a session: its socket and pidfd,
                                 * device fds, fault queues, fds in replies not yet sent */
        ACCOUNT_REPLY_BYTES,    /* bytes of replies queued and not yet read by the client */
        ACCOUNT_BROKER_MMAPS,   /* the broker's own memory mappings of guest memory (no MAP_FILE): charged to
                                 * the broker's account alone, which vm.max_map_count limits */
        _ACCOUNT_RESOURCE_MAX,
        _ACCOUNT_RESOURCE_INVALID = -22,
} AccountResource;

#define ACCOUNT_UNLIMITED UINT64_MAX

typedef struct Account Account;
struct Account {
        const char *name;               /* "session 3", "broker" */
        Account *parent;
        uint64_t used[_ACCOUNT_RESOURCE_MAX];
        uint64_t limit[_ACCOUNT_RESOURCE_MAX];
        AccountResource refused;        /* the resource of the last -EDQUOT at this account */
        uint64_t refused_amount;        /* what was asked then */
};

typedef struct Charge {
        Account *account;
        AccountResource resource;
        uint64_t amount;
} Charge;

#define CHARGE_NULL { .account = NULL }

void account_init(Account *a, const char *name, Account *parent);
/* "mapped-bytes", ... */
const char *account_resource_name(AccountResource r);

/*
 * Charges amount of resource to a and all its parents.  -EDQUOT if any of
 * them would pass its limit; *ret_over then names that account (may be NULL).
 */
int charge_take(Charge *c, Account *a, AccountResource resource, uint64_t amount, const Account **ret_over);
/*
 * Charges without looking at the limits: for a cost the caller bounds by
 * other means (queued replies: the transport stops reading while the tenant
 * is over its limit, see account_over()).
 */
void charge_force(Charge *c, Account *a, AccountResource resource, uint64_t amount);
/*
 * A cost an object holds: charge_take() for one being made, charge_force()
 * for one a restart found (restored: it exists, whatever the limits say
 * now).  Each object charges its costs in one place, through this, for
 * both; ret_over as for charge_take().
 */
int charge_hold(Charge *c, Account *a, AccountResource resource, uint64_t amount, bool restored,
                const Account **ret_over);
/* The account at the top of a's chain (the broker's). */
Account *account_root(Account *a);
/* True if a or one of its parents uses more of resource than its limit allows. */
bool account_over(const Account *a, AccountResource resource);
void charge_release(Charge *c);

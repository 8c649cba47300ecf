/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenant.h - a tenant at run time: what all its sessions hold together.
 *
 * Owns: Tenant, shared (reference-counted) by the sessions of one tenant of
 * the policy, with the Account whose limits are the tenant's limits: every
 * session's account hangs below its tenant's, so a limit counts across all
 * the tenant's sessions; and the registry of live tenants.
 * Must never: read the policy (the core applies its limits), or log.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"
#include "object/account.h"

typedef struct Tenant Tenant;
struct Tenant {
        unsigned n_ref;
        Tenant *next;                   /* in the registry */
        Tenant **registry;
        char *name;
        Account account;                /* name: "tenant 'NAME'" */
        char account_name[96];
        /*
         * Its section in the policy in force, the one source of truth for
         * every new decision of its sessions; NULL for the local admin of a
         * broker without policy.  orphaned: a reload left it without a
         * section (its sessions keep what they hold, unless revoked, and may
         * start nothing new).  Set and read by core/tenancy.c; this layer
         * never looks inside.
         */
        const struct PolicyTenant *record;
        bool orphaned;
};

/* The live tenant named name (a new reference), created below parent if there is none. */
int tenant_get(Tenant **registry, const char *name, Account *parent, Tenant **ret);
Tenant *tenant_ref(Tenant *t);
/* Drops a reference; the last unlinks and frees the tenant.  Accepts NULL, returns NULL. */
Tenant *tenant_unref(Tenant *t);
Tenant *tenant_find(Tenant *registry, const char *name);

DEFINE_TRIVIAL_CLEANUP_FUNC(Tenant *, tenant_unref);

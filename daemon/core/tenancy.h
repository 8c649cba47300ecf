/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenancy.h - who a session is and what its tenant may do.
 *
 * Owns: the glue between a session and the policy: admitting a connection
 * (peer identity from the kernel -> policy match -> Tenant with the policy's
 * limits on its account, or a refusal with its reason), the per-verb checks
 * the policy imposes (device grants, features, vPASID range, IOVA windows),
 * limit sentences for EDQUOT, and the audit record of each decision.
 * Without a policy file the broker admits root and its own uid only, as the
 * tenant "local-admin" with no limits.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "object/account.h"
#include "policy/policy.h"

typedef struct Session Session;
typedef struct SessionHost SessionHost;
typedef struct Tenant Tenant;

#define TENANCY_LOCAL_ADMIN "local-admin"

/* Decides at accept; on a refusal sets s->deny_reason and audits it.  -errno only on ENOMEM. */
int tenancy_admit(Session *s);
/* Puts the tenant's limits from the policy on its account (pt NULL: no limits). */
void tenancy_apply_limits(Tenant *t, const PolicyTenant *pt);

/*
 * The limits of s's tenant in the policy in force (its Tenant's record):
 * every new decision reads them, so a reload rules what comes after it.
 * NULL: unrestricted (no policy); an orphaned tenant gets limits that allow
 * nothing new.
 */
const PolicyLimits *tenancy_limits(const Session *s);
/* Its section in the policy in force; NULL without policy or when orphaned. */
const PolicyTenant *tenancy_record(const Session *s);
/*
 * After a reload: every live tenant takes its section of new (limits on its
 * account included); a tenant new lacks is orphaned.  Call after the
 * sessions' losses were weighed against the old records.
 */
void tenancy_reload(SessionHost *host, const Policy *new);
bool tenancy_may_open_device(const Session *s, const char *name, int iommu_group);

/* "PinnedMemoryMax", ...: the policy key that limits a resource. */
const char *tenancy_limit_key(AccountResource r);
/* "tenant 'vm1' limit PinnedMemoryMax reached: ..." for the account an -EDQUOT named (may be NULL). */
void tenancy_quota_sentence(const Account *over, char *buf, size_t size);
/* Refuses the connection with err and reason (audited, logged); -ENOMEM only. */
int tenancy_refuse(Session *s, int err, const char *reason);
/* The same for a limit the connection itself would pass (EDQUOT). */
int tenancy_refuse_quota(Session *s, const Account *over);

/* One audit record for s (verb: AUDIT_VERB_*; result: AUDIT_GRANTED or AUDIT_DENIED). */
void tenancy_audit(const Session *s, const char *verb, const char *object, const char *result,
                   const char *reason);

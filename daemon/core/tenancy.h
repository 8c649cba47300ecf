/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenancy.h - which tenant a peer is, and what a tenant may do.
 *
 * Owns: the glue between tenants and the policy: matching a peer's identity
 * (from the kernel) to its tenant or to a refusal with its reason, the
 * limits of a tenant in the policy in force (read through its Tenant's
 * record, so a reload rules what comes after it) and the per-verb checks
 * they impose (device grants, features, vPASID range, IOVA windows), the
 * policy keys and sentences of EDQUOT, and the reload of every live tenant.
 * Without a policy file the broker admits root and its own uid only, as the
 * tenant "local-admin" with no limits.
 * Must never: know sessions (core/session.c admits them and audits what
 * they do, asking here), or log.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "object/account.h"
#include "object/tenant.h"
#include "policy/peer.h"
#include "policy/policy.h"

/* The tenant of sessions admitted without a policy; the policy reserves its name. */
#define TENANCY_LOCAL_ADMIN POLICY_TENANT_LOCAL_ADMIN

/*
 * The tenant of a peer (identity id, credentials cred): its section of
 * policy, or without a policy file (policy NULL, read from policy_path) the
 * local admin for root and uid self.  0 with *ret_name and *ret_record
 * (NULL for the local admin); -EACCES with a sentence in reason.
 */
int tenancy_match(const Policy *policy, const char *policy_path, uid_t self, const PeerIdentity *id,
                  const struct ucred *cred, const char **ret_name, const PolicyTenant **ret_record, char *reason,
                  size_t reason_size);
/* Puts the tenant's limits from the policy on its account (pt NULL: no limits). */
void tenancy_apply_limits(Tenant *t, const PolicyTenant *pt);

/*
 * The limits of tenant t in the policy in force (its record): every new
 * decision reads them, so a reload rules what comes after it.  NULL:
 * unrestricted (no policy); an orphaned tenant, or none (a refused
 * connection), gets limits that allow nothing new.
 */
const PolicyLimits *tenancy_limits(const Tenant *t);
/* Its section in the policy in force; NULL without policy, when orphaned or without tenant. */
const PolicyTenant *tenancy_record(const Tenant *t);
/*
 * After a reload: every live tenant of the registry takes its section of new
 * (limits on its account included); a tenant new lacks is orphaned.  Call
 * after the sessions' losses were weighed against the old records.
 */
void tenancy_reload(Tenant *tenants, const Policy *new);
/* Whether tenant t (NULL: none) may open the device. */
bool tenancy_may_open_device(const Tenant *t, const char *name, int iommu_group);

/* "PinnedMemoryMax", ...: the policy key that limits a resource. */
const char *tenancy_limit_key(AccountResource r);
/* The limit an -EDQUOT hit at over, as audit records name it: its key, or "broker-wide mappings" (may be NULL). */
const char *tenancy_limit_name(const Account *over);
/* "tenant 'vm1' limit PinnedMemoryMax reached: ..." for the account an -EDQUOT named (may be NULL). */
void tenancy_quota_sentence(const Account *over, char *buf, size_t size);

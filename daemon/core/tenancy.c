/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenancy.c - see tenancy.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tenancy.h"

const char *tenancy_limit_key(AccountResource r) {
        const PolicyCounter *c = policy_counter_by_resource(r);

        return c ? c->key : account_resource_name(r);
}

const char *tenancy_limit_name(const Account *over) {
        if (!over)
                return NULL;
        /* the broker's own account: no policy key sets its limits (broker.c) */
        if (!over->parent)
                return over->refused == ACCOUNT_BROKER_MMAPS ? "broker-wide mappings" : "broker-wide";
        return tenancy_limit_key(over->refused);
}

void tenancy_apply_limits(Tenant *t, const PolicyTenant *pt) {
        for (size_t i = 0; i < policy_n_counters; i++) {
                const PolicyCounter *c = &policy_counters[i];

                /* without a policy (local admin): the built-in defaults */
                t->account.limit[c->resource] = pt ? policy_counter_get(&pt->limits, c) : c->builtin;
        }
}

void tenancy_quota_sentence(const Account *over, char *buf, size_t size) {
        if (!over) {
                (void) snprintf(buf, size, "a limit was reached");
                return;
        }
        if (!over->parent && over->refused == ACCOUNT_BROKER_MMAPS) {
                (void) snprintf(buf, size, "broker-wide limit of mappings reached: %" PRIu64 " of %" PRIu64 " in use "
                                "by all sessions, %" PRIu64 " more asked (without IOMMU_IOAS_MAP_FILE each is an "
                                "mmap of the broker's, kept below vm.max_map_count)", over->used[over->refused],
                                over->limit[over->refused], over->refused_amount);
                return;
        }
        (void) snprintf(buf, size, "%s limit %s reached: %" PRIu64 " of %" PRIu64 " in use, %" PRIu64 " more asked",
                        over->name, tenancy_limit_name(over), over->used[over->refused],
                        over->limit[over->refused], over->refused_amount);
}

int tenancy_match(const Policy *policy, const char *policy_path, uid_t self, const PeerIdentity *id,
                  const struct ucred *cred, const char **ret_name, const PolicyTenant **ret_record, char *reason,
                  size_t reason_size) {
        const PolicyTenant *pt;

        if (!policy) {
                if (cred->uid != 0 && cred->uid != self) {
                        (void) snprintf(reason, reason_size,
                                        "no policy file (%s): only root and uid %u may connect, uid %u is refused",
                                        policy_path ?: POLICY_MAIN_PATH, (unsigned) self, (unsigned) cred->uid);
                        return -EACCES;
                }
                *ret_name = TENANCY_LOCAL_ADMIN;
                *ret_record = NULL;
                return 0;
        }
        pt = policy_match(policy, id);
        if (!pt) {
                (void) snprintf(reason, reason_size,
                                "no tenant of the policy matches uid %u gid %u%s%s: connection refused",
                                (unsigned) cred->uid, (unsigned) cred->gid, id->unit ? " unit " : "", id->unit ?: "");
                return -EACCES;
        }
        *ret_name = pt->name;
        *ret_record = pt;
        return 0;
}

/* What an orphaned tenant may start: nothing (no window, no feature, zero counts). */
static const PolicyLimits orphan_limits = {
        .vpasid_min = 1,
        .vpasid_max = 0,
};

const PolicyLimits *tenancy_limits(const Tenant *t) {
        if (!t || t->orphaned)
                return &orphan_limits;
        return t->record ? &t->record->limits : NULL;
}

const PolicyTenant *tenancy_record(const Tenant *t) {
        return t && !t->orphaned ? t->record : NULL;
}

void tenancy_reload(Tenant *tenants, const Policy *new) {
        for (Tenant *t = tenants; t; t = t->next) {
                const PolicyTenant *pt = new ? policy_find_tenant(new, t->name) : NULL;

                t->record = pt;
                t->orphaned = !pt && !(new == NULL && strcmp(t->name, TENANCY_LOCAL_ADMIN) == 0);
                if (t->orphaned) {
                        /*
                         * Nothing new: every limit of kernel objects and memory 0;
                         * what is charged stays charged.  Its sessions still get
                         * their replies (fds, reply memory keep their limits).
                         */
                        for (size_t i = 0; i < policy_n_counters; i++)
                                if (policy_counters[i].resource != ACCOUNT_FDS &&
                                    policy_counters[i].resource != ACCOUNT_REPLY_BYTES)
                                        t->account.limit[policy_counters[i].resource] = 0;
                        (void) snprintf(t->account_name, sizeof(t->account_name), "tenant '%s' (gone from the policy)",
                                        t->name);
                } else {
                        tenancy_apply_limits(t, pt);
                        (void) snprintf(t->account_name, sizeof(t->account_name), "tenant '%s'", t->name);
                }
        }
}

bool tenancy_may_open_device(const Tenant *t, const char *name, int iommu_group) {
        if (!t || t->orphaned)
                return false;
        if (!t->record)
                return true;            /* the local admin of a broker without policy */
        return policy_tenant_grants_device(t->record, name, iommu_group);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenancy.c - see tenancy.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/session.h"
#include "core/tenancy.h"
#include "object/tenant.h"
#include "policy/audit.h"
#include "util/log.h"

const char *tenancy_limit_key(AccountResource r) {
        const PolicyCounter *c = policy_counter_by_resource(r);

        return c ? c->key : account_resource_name(r);
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
        (void) snprintf(buf, size, "%s limit %s reached: %" PRIu64 " of %" PRIu64 " in use, %" PRIu64 " more asked",
                        over->name, tenancy_limit_key(over->refused), over->used[over->refused],
                        over->limit[over->refused], over->refused_amount);
}

int tenancy_refuse(Session *s, int err, const char *reason) {
        s->deny_reason = strdup(reason);
        if (!s->deny_reason)
                return -ENOMEM;
        s->deny_errno = err;
        tenancy_audit(s, AUDIT_VERB_CONNECT, NULL, AUDIT_DENIED, reason);
        log_notice("%s: %s", s->name, reason);
        return 0;
}

int tenancy_refuse_quota(Session *s, const Account *over) {
        char reason[256];
        size_t n;

        tenancy_quota_sentence(over, reason, sizeof(reason));
        n = strlen(reason);
        (void) snprintf(reason + n, sizeof(reason) - n, ": connection refused");
        return tenancy_refuse(s, EDQUOT, reason);
}

void tenancy_audit(const Session *s, const char *verb, const char *object, const char *result, const char *reason) {
        AuditRecord r = {
                .tenant = s->tenant ? s->tenant->name : NULL,
                .uid = s->cred.uid,
                .pid = s->cred.pid,
                .unit = s->id_peer.unit,
                .verb = verb,
                .object = object,
                .result = result,
                .reason = reason,
        };

        audit_log(&r);
}

int tenancy_admit(Session *s) {
        SessionHost *host = s->host;
        const PolicyTenant *pt = NULL;
        const char *name;
        char reason[256];
        int r;

        r = peer_identity_get(&s->id_peer, &s->cred, s->pidfd);
        if (r == -ENOMEM)
                return r;
        if (r == -EMFILE || r == -ENFILE)
                return tenancy_refuse(s, EMFILE, "the broker is out of file descriptors: connection refused, "
                                      "try again later");
        if (r < 0) {
                (void) snprintf(reason, sizeof(reason), "cannot identify the peer (pid %d): %s", (int) s->cred.pid,
                                strerror(-r));
                goto deny;
        }

        if (host->policy) {
                pt = policy_match(host->policy, &s->id_peer);
                if (!pt) {
                        (void) snprintf(reason, sizeof(reason),
                                        "no tenant of the policy matches uid %u gid %u%s%s: connection refused",
                                        (unsigned) s->cred.uid, (unsigned) s->cred.gid,
                                        s->id_peer.unit ? " unit " : "", s->id_peer.unit ?: "");
                        goto deny;
                }
                name = pt->name;
        } else {
                if (s->cred.uid != 0 && s->cred.uid != host->uid) {
                        (void) snprintf(reason, sizeof(reason),
                                        "no policy file (%s): only root and uid %u may connect, uid %u is refused",
                                        host->policy_path ?: POLICY_MAIN_PATH, (unsigned) host->uid,
                                        (unsigned) s->cred.uid);
                        goto deny;
                }
                name = TENANCY_LOCAL_ADMIN;
        }

        r = tenant_get(&host->tenants, name, host->account, &s->tenant);
        if (r < 0)
                return r;
        s->tenant->record = pt;
        s->tenant->orphaned = false;
        tenancy_apply_limits(s->tenant, pt);
        tenancy_audit(s, AUDIT_VERB_CONNECT, NULL, AUDIT_GRANTED, NULL);
        return 0;

deny:
        return tenancy_refuse(s, EACCES, reason);
}

/* What an orphaned tenant may start: nothing (no window, no feature, zero counts). */
static const PolicyLimits orphan_limits = {
        .vpasid_min = 1,
        .vpasid_max = 0,
};

const PolicyLimits *tenancy_limits(const Session *s) {
        if (!s->tenant || s->tenant->orphaned)
                return &orphan_limits;
        return s->tenant->record ? &s->tenant->record->limits : NULL;
}

const PolicyTenant *tenancy_record(const Session *s) {
        return s->tenant && !s->tenant->orphaned ? s->tenant->record : NULL;
}

void tenancy_reload(SessionHost *host, const Policy *new) {
        for (Tenant *t = host->tenants; t; t = t->next) {
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

bool tenancy_may_open_device(const Session *s, const char *name, int iommu_group) {
        if (s->deny_reason || !s->tenant || s->tenant->orphaned)
                return false;
        if (!s->tenant->record)
                return true;            /* the local admin of a broker without policy */
        return policy_tenant_grants_device(s->tenant->record, name, iommu_group);
}

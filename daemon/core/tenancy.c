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
        switch (r) {
        case ACCOUNT_MAPPED_BYTES:
                return "PinnedMemoryMax";
        case ACCOUNT_MAPPINGS:
                return "MappingsMax";
        case ACCOUNT_IOAS:
                return "IOASMax";
        case ACCOUNT_HWPT:
                return "HWPTMax";
        case ACCOUNT_PASIDS:
                return "PASIDMax";
        case ACCOUNT_OBJECTS:
                return "objects";
        case _ACCOUNT_RESOURCE_MAX:
        case _ACCOUNT_RESOURCE_INVALID:
                break;
        }
        return "limit";
}

void tenancy_apply_limits(Tenant *t, const PolicyTenant *pt) {
        const PolicyLimits *l = pt ? &pt->limits : NULL;

        t->account.limit[ACCOUNT_MAPPED_BYTES] = l ? l->pinned_bytes : ACCOUNT_UNLIMITED;
        t->account.limit[ACCOUNT_MAPPINGS] = l ? l->mappings : ACCOUNT_UNLIMITED;
        t->account.limit[ACCOUNT_IOAS] = l ? l->ioas : ACCOUNT_UNLIMITED;
        t->account.limit[ACCOUNT_HWPT] = l ? l->hwpt : ACCOUNT_UNLIMITED;
        t->account.limit[ACCOUNT_PASIDS] = l ? l->pasids : ACCOUNT_UNLIMITED;
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
                s->policy = policy_ref(host->policy);
                s->ptenant = pt;
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
        tenancy_apply_limits(s->tenant, pt);
        tenancy_audit(s, AUDIT_VERB_CONNECT, NULL, AUDIT_GRANTED, NULL);
        return 0;

deny:
        s->deny_reason = strdup(reason);
        if (!s->deny_reason)
                return -ENOMEM;
        tenancy_audit(s, AUDIT_VERB_CONNECT, NULL, AUDIT_DENIED, reason);
        log_notice("%s: %s", s->name, reason);
        return 0;
}

const PolicyLimits *tenancy_limits(const Session *s) {
        return s->ptenant ? &s->ptenant->limits : NULL;
}

bool tenancy_may_open_device(const Session *s, const char *name, int iommu_group) {
        if (!s->ptenant)
                return !s->deny_reason;
        return policy_tenant_grants_device(s->ptenant, name, iommu_group);
}

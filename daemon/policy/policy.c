/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.c - the policy data model and the decisions taken from it; see policy.h.
 *
 * Owns: Policy and PolicyTenant lifetime, the built-in defaults, matching a
 * PeerIdentity to a tenant, device grants, limit checks and the comparison
 * of two policies on reload.  Reading the files is policy-parse.c's.
 * Must never: log, do I/O, or look at anything but the PeerIdentity to match.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static const char *const pasid_mode_names[_POLICY_PASID_MODE_MAX] = {
        [POLICY_PASID_MODE_PER_DEVICE] = "per-device",
        [POLICY_PASID_MODE_GLOBAL] = "global",
};

const char *policy_pasid_mode_to_string(PolicyPasidMode m) {
        if (m < 0 || m >= _POLICY_PASID_MODE_MAX)
                return NULL;
        return pasid_mode_names[m];
}

PolicyPasidMode policy_pasid_mode_from_string(const char *s) {
        for (int i = 0; i < _POLICY_PASID_MODE_MAX; i++)
                if (s && strcmp(s, pasid_mode_names[i]) == 0)
                        return (PolicyPasidMode) i;
        return _POLICY_PASID_MODE_INVALID;
}

bool policy_is_glob(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

/* ---------------------------------------------------------------- limits */

/*
 * The built-in defaults of the broker-side resources let a tenant run about a
 * thousand VMs (a session and a few fds each) while no one tenant can hold
 * more than a sixteenth of the fds the shipped unit gives the broker
 * (LimitNOFILE=65536, see iommu-brokerd(8)).
 */
#define POLICY_SESSIONS_DEFAULT 1024
#define POLICY_FDS_DEFAULT 4096
#define POLICY_REPLY_BYTES_DEFAULT (UINT64_C(64) << 20)
/*
 * Kernel objects: each costs kernel memory the tenant's memory cgroup is not
 * charged for (the broker allocated it).  Those thousand VMs at up to 16
 * objects each (an IOAS, devices, nesting HWPTs, a vIOMMU, vDEVICEs).
 */
#define POLICY_OBJECTS_DEFAULT 16384

const PolicyCounter policy_counters[] = {
        { ACCOUNT_MAPPED_BYTES, POLICY_LIMIT_PINNED_BYTES, "PinnedMemoryMax", "PinnedMemory", "PinnedMemoryMax", true,
          offsetof(PolicyLimits, pinned_bytes), POLICY_UNLIMITED },
        { ACCOUNT_IOAS, POLICY_LIMIT_IOAS, "IOASMax", "IOAS", "IOASMax", false, offsetof(PolicyLimits, ioas),
          POLICY_UNLIMITED },
        { ACCOUNT_HWPT, POLICY_LIMIT_HWPT, "HWPTMax", "HWPT", "HWPTMax", false, offsetof(PolicyLimits, hwpt),
          POLICY_UNLIMITED },
        { ACCOUNT_MAPPINGS, POLICY_LIMIT_MAPPINGS, "MappingsMax", "Mappings", "MappingsMax", false,
          offsetof(PolicyLimits, mappings), POLICY_UNLIMITED },
        { ACCOUNT_PASIDS, POLICY_LIMIT_PASIDS, "PASIDMax", "PASIDs", "PASIDMax", false, offsetof(PolicyLimits, pasids),
          POLICY_UNLIMITED },
        { ACCOUNT_SESSIONS, POLICY_LIMIT_SESSIONS, "SessionsMax", "Connections", "ConnectionsMax", false,
          offsetof(PolicyLimits, sessions), POLICY_SESSIONS_DEFAULT },
        { ACCOUNT_FDS, POLICY_LIMIT_FDS, "FileDescriptorsMax", "FileDescriptors", "FileDescriptorsMax", false,
          offsetof(PolicyLimits, fds), POLICY_FDS_DEFAULT },
        { ACCOUNT_REPLY_BYTES, POLICY_LIMIT_REPLY_BYTES, "ReplyMemoryMax", "ReplyMemory", "ReplyMemoryMax", true,
          offsetof(PolicyLimits, reply_bytes), POLICY_REPLY_BYTES_DEFAULT },
        { ACCOUNT_OBJECTS, POLICY_LIMIT_OBJECTS, "ObjectsMax", "Objects", "ObjectsMax", false,
          offsetof(PolicyLimits, objects), POLICY_OBJECTS_DEFAULT },
};
const size_t policy_n_counters = ELEMENTSOF(policy_counters);

const PolicyCounter *policy_counter_by_resource(AccountResource r) {
        for (size_t i = 0; i < ELEMENTSOF(policy_counters); i++)
                if (policy_counters[i].resource == r)
                        return &policy_counters[i];
        return NULL;
}

const PolicyCounter *policy_counter_by_field(PolicyLimit f) {
        for (size_t i = 0; i < ELEMENTSOF(policy_counters); i++)
                if (policy_counters[i].field == f)
                        return &policy_counters[i];
        return NULL;
}

static bool limit_is_set(const PolicyLimits *l, PolicyLimit f) {
        return l->set & (1u << f);
}

void policy_limits_unset(PolicyLimits *l, PolicyLimit field) {
        l->set &= ~(1u << field);
        if (field == POLICY_LIMIT_IOVA_WINDOWS)
                l->n_iova_windows = 0;
}

/* Copies one field from src to dst. */
static void limits_copy_field(PolicyLimits *dst, const PolicyLimits *src, PolicyLimit f) {
        const PolicyCounter *c = policy_counter_by_field(f);

        if (c) {
                *policy_counter_value(dst, c) = policy_counter_get(src, c);
                return;
        }
        switch (f) {
        case POLICY_LIMIT_VPASID_RANGE:
                dst->vpasid_min = src->vpasid_min;
                dst->vpasid_max = src->vpasid_max;
                break;
        case POLICY_LIMIT_IOVA_WINDOWS:
                memcpy(dst->iova_windows, src->iova_windows, sizeof(dst->iova_windows));
                dst->n_iova_windows = src->n_iova_windows;
                break;
        case POLICY_LIMIT_NESTING:
                dst->allow_nesting = src->allow_nesting;
                break;
        case POLICY_LIMIT_DIRTY_TRACKING:
                dst->allow_dirty_tracking = src->allow_dirty_tracking;
                break;
        case POLICY_LIMIT_PASID:
                dst->allow_pasid = src->allow_pasid;
                break;
        case POLICY_LIMIT_PASID_MODE:
                dst->pasid_mode = src->pasid_mode;
                break;
        case POLICY_LIMIT_CONFINED_DEVICE_FDS:
                dst->confined_device_fds = src->confined_device_fds;
                break;
        case POLICY_LIMIT_DELEGATE_DEVICES:
                dst->delegate_devices = src->delegate_devices;
                break;
        case POLICY_LIMIT_PINNED_BYTES:
        case POLICY_LIMIT_IOAS:
        case POLICY_LIMIT_HWPT:
        case POLICY_LIMIT_MAPPINGS:
        case POLICY_LIMIT_PASIDS:
        case POLICY_LIMIT_SESSIONS:
        case POLICY_LIMIT_FDS:
        case POLICY_LIMIT_REPLY_BYTES:
        case POLICY_LIMIT_OBJECTS:
        case _POLICY_LIMIT_MAX:
        case _POLICY_LIMIT_INVALID:
                assert(false);          /* counters: policy_counters[] */
                break;
        }
}

void policy_limits_inherit(PolicyLimits *l, const PolicyLimits *defaults) {
        for (int f = 0; f < _POLICY_LIMIT_MAX; f++)
                if (!limit_is_set(l, (PolicyLimit) f))
                        limits_copy_field(l, defaults, (PolicyLimit) f);
}

void policy_limits_complete(PolicyLimits *l) {
        PolicyLimits builtin = {
                .vpasid_min = 1,
                .vpasid_max = POLICY_VPASID_MAX,
                .iova_windows = { { .start = 0, .last = IOVA_MAX } },
                .n_iova_windows = 1,
                .allow_nesting = true,
                .allow_dirty_tracking = true,
                .allow_pasid = true,
                .pasid_mode = POLICY_PASID_MODE_PER_DEVICE,
        };

        for (size_t i = 0; i < ELEMENTSOF(policy_counters); i++)
                *policy_counter_value(&builtin, &policy_counters[i]) = policy_counters[i].builtin;
        policy_limits_inherit(l, &builtin);
}

bool policy_limits_iova_allowed(const PolicyLimits *l, uint64_t start, uint64_t last) {
        return start <= last && iova_ranges_contain(l->iova_windows, l->n_iova_windows, start, last);
}

bool policy_limits_vpasid_allowed(const PolicyLimits *l, uint32_t vpasid) {
        return l->allow_pasid && vpasid >= l->vpasid_min && vpasid <= l->vpasid_max;
}

/* ---------------------------------------------------------------- lifetime */

static void strv_free(char **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

PolicyTenant *policy_tenant_free(PolicyTenant *t) {
        if (!t)
                return NULL;
        free(t->name);
        free(t->file);
        free(t->users);
        free(t->groups);
        strv_free(t->units, t->n_units);
        strv_free(t->slices, t->n_slices);
        strv_free(t->cgroups, t->n_cgroups);
        for (size_t i = 0; i < t->n_devices; i++)
                free(t->devices[i].pattern);
        free(t->devices);
        free(t);
        return NULL;
}

int policy_tenant_new(PolicyTenant **ret, const char *name, const char *file, unsigned line) {
        _cleanup_(policy_tenant_freep) PolicyTenant *t = NULL;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->name = strdup(name);
        t->file = strdup(file);
        if (!t->name || !t->file)
                return -ENOMEM;
        t->line = line;
        *ret = TAKE_PTR(t);
        return 0;
}

static Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_tenants; i++)
                policy_tenant_free(p->tenants[i]);
        free(p->tenants);
        free(p->audit_file);
        strv_free(p->files, p->n_files);
        free(p);
        return NULL;
}

int policy_new(Policy **ret) {
        Policy *p;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->n_ref = 1;
        p->socket_gid = (gid_t) -1;
        *ret = p;
        return 0;
}

Policy *policy_ref(Policy *p) {
        if (p)
                p->n_ref++;
        return p;
}

Policy *policy_unref(Policy *p) {
        if (!p)
                return NULL;
        assert(p->n_ref > 0);
        if (--p->n_ref == 0)
                policy_free(p);
        return NULL;
}

/* ---------------------------------------------------------------- matching */

static bool match_user(const PolicyTenant *t, const PeerIdentity *id) {
        for (size_t i = 0; i < t->n_users; i++)
                if (t->users[i] == id->uid)
                        return true;
        return t->n_users == 0;
}

static bool match_group(const PolicyTenant *t, const PeerIdentity *id) {
        for (size_t i = 0; i < t->n_groups; i++) {
                if (t->groups[i] == id->gid)
                        return true;
                for (size_t j = 0; j < id->n_groups; j++)
                        if (t->groups[i] == id->groups[j])
                                return true;
        }
        return t->n_groups == 0;
}

static bool match_globs(char *const *globs, size_t n, const char *s, int flags) {
        for (size_t i = 0; i < n; i++)
                if (fnmatch(globs[i], s, flags) == 0)
                        return true;
        return false;
}

static bool match_unit(const PolicyTenant *t, const PeerIdentity *id) {
        if (t->n_units == 0)
                return true;
        return id->unit && match_globs(t->units, t->n_units, id->unit, 0);
}

/* "a-b-c.slice" matches if it or a parent ("a-b.slice", "a.slice", "-.slice") matches. */
static bool match_slice(const PolicyTenant *t, const PeerIdentity *id) {
        _cleanup_free_ char *stem = NULL, *parent = NULL;
        char *dash;
        size_t n;

        if (t->n_slices == 0)
                return true;
        if (!id->slice)
                return false;
        if (match_globs(t->slices, t->n_slices, id->slice, 0))
                return true;
        n = strlen(id->slice);
        if (n <= 6 || strcmp(id->slice + n - 6, ".slice") != 0 || strcmp(id->slice, "-.slice") == 0)
                return false;
        stem = strndup(id->slice, n - 6);
        parent = malloc(n + 1);
        if (!stem || !parent)
                return false;           /* fail closed */
        while ((dash = strrchr(stem, '-')) && dash != stem) {
                *dash = '\0';
                (void) snprintf(parent, n + 1, "%s.slice", stem);
                if (match_globs(t->slices, t->n_slices, parent, 0))
                        return true;
        }
        return match_globs(t->slices, t->n_slices, "-.slice", 0);
}

/* "/a/b/c" matches if it or an ancestor ("/a/b", "/a", "/") matches. */
static bool match_cgroup(const PolicyTenant *t, const PeerIdentity *id) {
        _cleanup_free_ char *s = NULL;
        char *slash;

        if (t->n_cgroups == 0)
                return true;
        if (!id->cgroup)
                return false;
        s = strdup(id->cgroup);
        if (!s)
                return false;           /* fail closed */
        for (;;) {
                if (match_globs(t->cgroups, t->n_cgroups, s, FNM_PATHNAME))
                        return true;
                slash = strrchr(s, '/');
                if (!slash || (slash == s && s[1] == '\0'))
                        return false;
                if (slash == s)
                        slash[1] = '\0';        /* "/a" -> "/" */
                else
                        *slash = '\0';
        }
}

static bool tenant_matches(const PolicyTenant *t, const PeerIdentity *id) {
        /* A tenant without match keys is refused at load; never let it match everyone. */
        if (t->n_users + t->n_groups + t->n_units + t->n_slices + t->n_cgroups == 0)
                return false;
        return match_user(t, id) && match_group(t, id) && match_unit(t, id) && match_slice(t, id) &&
               match_cgroup(t, id);
}

const PolicyTenant *policy_match(const Policy *p, const PeerIdentity *id) {
        if (!p || !id)
                return NULL;
        for (size_t i = 0; i < p->n_tenants; i++)
                if (tenant_matches(p->tenants[i], id))
                        return p->tenants[i];
        return NULL;
}

const PolicyTenant *policy_find_tenant(const Policy *p, const char *name) {
        if (!p || !name)
                return NULL;
        for (size_t i = 0; i < p->n_tenants; i++)
                if (strcmp(p->tenants[i]->name, name) == 0)
                        return p->tenants[i];
        return NULL;
}

bool policy_tenant_grants_device(const PolicyTenant *t, const char *pci_name, int iommu_group) {
        char name[64];
        size_t n;

        if (!t || !pci_name)
                return false;
        n = strlen(pci_name);
        if (n == 0 || n >= sizeof(name))
                return false;
        for (size_t i = 0; i <= n; i++)
                name[i] = (char) tolower((unsigned char) pci_name[i]);

        for (size_t i = 0; i < t->n_devices; i++) {
                const PolicyDeviceGrant *g = &t->devices[i];

                if (g->pattern ? fnmatch(g->pattern, name, 0) == 0
                               : iommu_group >= 0 && g->iommu_group == iommu_group)
                        return true;
        }
        return false;
}

/* ---------------------------------------------------------------- reload */

static bool uids_contain(const uid_t *l, size_t n, uid_t v) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == v)
                        return true;
        return false;
}

static bool gids_contain(const gid_t *l, size_t n, gid_t v) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == v)
                        return true;
        return false;
}

static bool strv_contains(char *const *l, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(l[i], s) == 0)
                        return true;
        return false;
}

/* A key narrows if it goes from "anyone" to a list, or loses a value. */
static bool matchers_narrowed(const PolicyTenant *o, const PolicyTenant *n) {
        if ((o->n_users == 0 && n->n_users > 0) || (o->n_groups == 0 && n->n_groups > 0) ||
            (o->n_units == 0 && n->n_units > 0) || (o->n_slices == 0 && n->n_slices > 0) ||
            (o->n_cgroups == 0 && n->n_cgroups > 0))
                return true;
        for (size_t i = 0; i < o->n_users; i++)
                if (n->n_users > 0 && !uids_contain(n->users, n->n_users, o->users[i]))
                        return true;
        for (size_t i = 0; i < o->n_groups; i++)
                if (n->n_groups > 0 && !gids_contain(n->groups, n->n_groups, o->groups[i]))
                        return true;
        for (size_t i = 0; i < o->n_units; i++)
                if (n->n_units > 0 && !strv_contains(n->units, n->n_units, o->units[i]))
                        return true;
        for (size_t i = 0; i < o->n_slices; i++)
                if (n->n_slices > 0 && !strv_contains(n->slices, n->n_slices, o->slices[i]))
                        return true;
        for (size_t i = 0; i < o->n_cgroups; i++)
                if (n->n_cgroups > 0 && !strv_contains(n->cgroups, n->n_cgroups, o->cgroups[i]))
                        return true;
        return false;
}

static bool grant_kept(const PolicyDeviceGrant *g, const PolicyTenant *n) {
        if (g->pattern && !policy_is_glob(g->pattern))
                return policy_tenant_grants_device(n, g->pattern, -1);
        for (size_t i = 0; i < n->n_devices; i++) {
                const PolicyDeviceGrant *h = &n->devices[i];

                if (g->pattern ? h->pattern && strcmp(g->pattern, h->pattern) == 0
                               : !h->pattern && g->iommu_group == h->iommu_group)
                        return true;
        }
        return false;
}

static unsigned limits_losses(const PolicyLimits *o, const PolicyLimits *n) {
        unsigned loss = 0;

        for (size_t i = 0; i < ELEMENTSOF(policy_counters); i++)
                if (policy_counter_get(n, &policy_counters[i]) < policy_counter_get(o, &policy_counters[i]))
                        loss |= POLICY_LOSS_LIMITS;
        if ((o->allow_nesting && !n->allow_nesting) ||
            (o->allow_dirty_tracking && !n->allow_dirty_tracking) ||
            (o->allow_pasid && !n->allow_pasid) || o->pasid_mode != n->pasid_mode ||
            (!o->confined_device_fds && n->confined_device_fds) ||
            (o->delegate_devices && !n->delegate_devices) ||
            n->vpasid_min > o->vpasid_min || n->vpasid_max < o->vpasid_max)
                loss |= POLICY_LOSS_FEATURES;
        for (size_t i = 0; i < o->n_iova_windows; i++)
                if (!iova_ranges_contain(n->iova_windows, n->n_iova_windows, o->iova_windows[i].start,
                                         o->iova_windows[i].last))
                        loss |= POLICY_LOSS_FEATURES;
        return loss;
}

/* Losses in grants and limits only. */
static unsigned tenant_grant_losses(const PolicyTenant *o, const PolicyTenant *n) {
        unsigned loss;

        loss = limits_losses(&o->limits, &n->limits);
        for (size_t i = 0; i < o->n_devices; i++)
                if (!grant_kept(&o->devices[i], n))
                        loss |= POLICY_LOSS_DEVICES;
        return loss;
}

unsigned policy_tenant_losses(const PolicyTenant *old_t, const PolicyTenant *new_t) {
        unsigned loss;

        if (!old_t)
                return 0;
        if (!new_t)
                return POLICY_LOSS_TENANT;
        loss = tenant_grant_losses(old_t, new_t);
        if (matchers_narrowed(old_t, new_t))
                loss |= POLICY_LOSS_MATCH;
        return loss;
}

int policy_diff_tenant(const Policy *old, const Policy *new, const char *name) {
        const PolicyTenant *o;

        o = policy_find_tenant(old, name);
        if (!o)
                return -ENOENT;
        return (int) policy_tenant_losses(o, policy_find_tenant(new, name));
}

unsigned policy_session_losses(const PolicyTenant *old_t, const Policy *new, const PeerIdentity *id,
                               bool *ret_revoke) {
        const PolicyTenant *nt, *same;
        unsigned loss = 0;

        /*
         * The session stays in the tenant of its name (tenancy_reload()): that
         * one decides what it lost and whether it is revoked, whichever tenant
         * its peer would match now.
         */
        nt = policy_match(new, id);
        same = policy_find_tenant(new, old_t->name);
        if (!same || !nt)
                loss |= POLICY_LOSS_TENANT;
        else if (nt != same)
                loss |= POLICY_LOSS_MATCH;
        /* Narrowed match keys that still take this peer do not concern it. */
        if (same)
                loss |= tenant_grant_losses(old_t, same);
        if (ret_revoke)
                *ret_revoke = loss != 0 && (same ? same->revoke_on_reload : new->revoke_on_reload);
        return loss;
}

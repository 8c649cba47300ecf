/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h - who may use the broker, with which devices, within which limits.
 *
 * Owns: the Policy data model read from /etc/iommu-broker/policy.conf and
 * the drop-ins in policy.d (see iommu-broker-policy(5)): [Global] settings and default
 * limits, and one PolicyTenant per [Tenant NAME] section with its match keys,
 * device grants and effective limits; and the decisions taken from it: which
 * tenant a peer is (first match in file order, none = deny), whether a tenant
 * may open a device, whether an IOVA range or vPASID is inside its limits,
 * and what a tenant lost when the policy was reloaded.  One interface for
 * policy.c (the model and the decisions) and policy-parse.c (reading the
 * files, with the constructors policy.c lends it at the end of this file).
 * Must never: log above debug, touch sessions, objects or the kernel, or use
 * anything but the kernel-given PeerIdentity to match a client.
 *
 * Lifetime: a Policy is immutable once loaded and reference-counted.  A
 * session keeps the PolicyTenant it was matched to until it closes (unless
 * the reload revokes it), so it holds a reference on the Policy that tenant
 * belongs to; a reload builds a whole new Policy or nothing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"
#include "object/account.h"
#include "policy/peer.h"
#include "util/interval.h"

#define POLICY_MAIN_PATH "/etc/iommu-broker/policy.conf"
#define POLICY_DROPIN_DIR "/etc/iommu-broker/policy.d"

/* A numeric limit that is not set anywhere: no limit, an account's own. */
#define POLICY_UNLIMITED ACCOUNT_UNLIMITED
#define POLICY_TENANT_NAME_MAX 32
/* The tenant of sessions admitted without a policy (core/tenancy.h): no section may take its name. */
#define POLICY_TENANT_LOCAL_ADMIN "local-admin"
#define POLICY_IOVA_WINDOWS_MAX 16
#define POLICY_VPASID_MAX 0xfffffU      /* PASIDs are 20 bits; 0 is "no PASID" */

typedef enum PolicyPasidMode {
        POLICY_PASID_MODE_PER_DEVICE,   /* each device has its own physical PASID space */
        POLICY_PASID_MODE_GLOBAL,       /* physical PASIDs come from the host-wide allocator */
        _POLICY_PASID_MODE_MAX,
        _POLICY_PASID_MODE_INVALID = -22,
} PolicyPasidMode;

/* The fields of PolicyLimits, for PolicyLimits.set. */
typedef enum PolicyLimit {
        POLICY_LIMIT_PINNED_BYTES,      /* PinnedMemoryMax= */
        POLICY_LIMIT_IOAS,              /* IOASMax= */
        POLICY_LIMIT_HWPT,              /* HWPTMax= */
        POLICY_LIMIT_MAPPINGS,          /* MappingsMax= */
        POLICY_LIMIT_PASIDS,            /* PASIDMax= */
        POLICY_LIMIT_VPASID_RANGE,      /* VPASIDRange= */
        POLICY_LIMIT_IOVA_WINDOWS,      /* IOVAWindow= */
        POLICY_LIMIT_NESTING,           /* Nesting= */
        POLICY_LIMIT_DIRTY_TRACKING,    /* DirtyTracking= */
        POLICY_LIMIT_PASID,             /* PASID= */
        POLICY_LIMIT_PASID_MODE,        /* PASIDMode= */
        POLICY_LIMIT_CONFINED_DEVICE_FDS,       /* ConfinedDeviceFds= */
        POLICY_LIMIT_DELEGATE_DEVICES,  /* DelegateDevices= */
        POLICY_LIMIT_SESSIONS,          /* SessionsMax= */
        POLICY_LIMIT_FDS,               /* FileDescriptorsMax= */
        POLICY_LIMIT_REPLY_BYTES,       /* ReplyMemoryMax= */
        POLICY_LIMIT_OBJECTS,           /* ObjectsMax= */
        _POLICY_LIMIT_MAX,
        _POLICY_LIMIT_INVALID = -22,
} PolicyLimit;

/*
 * Limits of one tenant.  After policy_load() every field of a tenant's limits
 * holds its effective value: what the [Tenant] section says, else the
 * [Global] Default*= value, else the built-in default (no limit on memory,
 * mappings and each kind of object, policy.c's for the broker's own
 * resources and all objects together, every feature allowed, vPASIDs 1-0xfffff, the whole IOVA space, per-device
 * PASIDs).
 */
typedef struct PolicyLimits {
        uint64_t pinned_bytes;          /* bytes mapped for DMA; POLICY_UNLIMITED */
        uint64_t ioas;                  /* I/O address spaces */
        uint64_t hwpt;                  /* hardware page tables */
        uint64_t mappings;              /* live mappings */
        uint64_t pasids;                /* PASIDs attached at once */
        uint64_t sessions;              /* connections at once */
        uint64_t fds;                   /* fds the broker holds for the tenant */
        uint64_t reply_bytes;           /* bytes of replies its clients have not read */
        uint64_t objects;               /* kernel objects: IOASes, devices, HWPTs, fault queues, vIOMMUs, vDEVICEs */
        uint32_t vpasid_min;            /* the guest PASIDs it may use, inclusive */
        uint32_t vpasid_max;
        IovaRange iova_windows[POLICY_IOVA_WINDOWS_MAX];        /* sorted, disjoint */
        size_t n_iova_windows;
        bool allow_nesting;
        bool allow_dirty_tracking;
        bool allow_pasid;
        PolicyPasidMode pasid_mode;
        bool confined_device_fds;       /* DeviceOpen only for a peer under a seccomp filter */
        bool delegate_devices;          /* DeviceDelegate: unbound cdevs and an iommufd to the VMM itself */
        unsigned set;                   /* 1 << PolicyLimit: set by this section itself */
} PolicyLimits;

/*
 * The limits that are counters of a tenant's Account: the one table that
 * ties an account resource to its policy key, its field in PolicyLimits, its
 * built-in default and its name in the admin API.  Everything that turns one
 * into another (the parser, the tenant's account, EDQUOT sentences, the
 * admin API) reads it.
 */
typedef struct PolicyCounter {
        AccountResource resource;
        PolicyLimit field;
        const char *key;                /* "PinnedMemoryMax" */
        const char *bus_name;           /* "PinnedMemory": its usage in the admin API */
        const char *bus_limit;          /* "PinnedMemoryMax": its limit there */
        bool size;                      /* a size (K, M, G, T suffixes), else a count */
        size_t offset;                  /* of its uint64_t in PolicyLimits */
        uint64_t builtin;               /* without any policy value */
} PolicyCounter;

extern const PolicyCounter policy_counters[];
extern const size_t policy_n_counters;

/* The row of a resource, or of a PolicyLimit; NULL if it has none. */
const PolicyCounter *policy_counter_by_resource(AccountResource r);
const PolicyCounter *policy_counter_by_field(PolicyLimit f);
/* The value of a row in l. */
static inline uint64_t *policy_counter_value(PolicyLimits *l, const PolicyCounter *c) {
        return (uint64_t *) ((uint8_t *) l + c->offset);
}
static inline uint64_t policy_counter_get(const PolicyLimits *l, const PolicyCounter *c) {
        return *(const uint64_t *) ((const uint8_t *) l + c->offset);
}

/* One Device= value: a PCI address glob ("0000:03:*.*") or an IOMMU group. */
typedef struct PolicyDeviceGrant {
        char *pattern;                  /* lower-case fnmatch() glob; NULL for a group */
        int iommu_group;                /* group:N; -1 for a pattern */
} PolicyDeviceGrant;

typedef struct PolicyTenant {
        char *name;
        char *file;                     /* where its section first appears, for messages */
        unsigned line;
        /* Match keys: different keys are ANDed, the values of one key ORed; at least one is set. */
        uid_t *users;                   /* User= */
        size_t n_users;
        gid_t *groups;                  /* Group=: primary or supplementary */
        size_t n_groups;
        char **units;                   /* Unit= globs */
        size_t n_units;
        char **slices;                  /* Slice= globs, matched against the slice and its parents */
        size_t n_slices;
        char **cgroups;                 /* CGroup= globs, matched against the cgroup and its parents */
        size_t n_cgroups;
        PolicyDeviceGrant *devices;     /* Device= */
        size_t n_devices;
        PolicyLimits limits;            /* effective */
        bool revoke_on_reload;          /* effective: RevokeOnReload=, else [Global]'s */
        bool revoke_on_reload_set;
} PolicyTenant;

typedef struct Policy {
        unsigned n_ref;
        PolicyTenant **tenants;         /* in the order their sections first appear */
        size_t n_tenants;
        PolicyLimits defaults;          /* [Global] Default*=, completed with the built-ins */
        gid_t socket_gid;               /* SocketGroup=; (gid_t) -1: not set */
        char *audit_file;               /* AuditFile=; NULL: journal only */
        bool revoke_on_reload;          /* [Global] RevokeOnReload=; default no */
        char **files;                   /* the files read, in order */
        size_t n_files;
} Policy;

/**
 * policy_load() - read a whole policy, or nothing
 * @main_path: the main file, e.g. POLICY_MAIN_PATH; NULL: none
 * @dropin_dir: a directory whose *.conf files are read after @main_path in
 *              lexical (strcmp) order, e.g. POLICY_DROPIN_DIR; NULL or
 *              missing: none
 * @ret: the new Policy (one reference) on success; untouched on failure
 * @error: on failure, "FILE:LINE: message" (or "FILE: message" where no
 *         line applies); may be NULL
 * @error_size: size of @error
 *
 * Later files may add tenants and set keys of sections already seen: a later
 * scalar value replaces the earlier one, list keys (User=, Group=, Unit=,
 * Slice=, CGroup=, Device=, IOVAWindow=) append, and an empty value resets
 * the key.  Names of users and groups are resolved now.  Every unknown
 * section or key, bad value or unknown name fails the whole load.
 *
 * Return: 0; -EINVAL for an error in a file; -ENOENT if @main_path is
 * missing; -ENOMEM; another -errno from reading the files or the user
 * database.
 */
int policy_load(const char *main_path, const char *dropin_dir, Policy **ret, char *error, size_t error_size);

Policy *policy_ref(Policy *p);
/* Drops a reference; frees the policy and its tenants with the last.  Accepts NULL, returns NULL. */
Policy *policy_unref(Policy *p);

/**
 * policy_match() - which tenant a peer is
 * @p: the policy
 * @id: the peer's identity as captured at connect
 *
 * A tenant matches when every kind of match key its section sets matches
 * (User= AND Group= AND Unit= AND Slice= AND CGroup=), a kind matching when
 * any one of its values does.  The first matching tenant in file order wins.
 *
 * Return: the tenant, or NULL: deny.
 */
const PolicyTenant *policy_match(const Policy *p, const PeerIdentity *id);

/* The tenant named name, or NULL. */
const PolicyTenant *policy_find_tenant(const Policy *p, const char *name);

/**
 * policy_tenant_grants_device() - may the tenant open this device?
 * @t: the tenant
 * @pci_name: the device's PCI address, "0000:03:00.0"
 * @iommu_group: its IOMMU group, or -1 if unknown (then group:N grants do not apply)
 *
 * Return: true if one of the tenant's Device= values names the device.
 */
bool policy_tenant_grants_device(const PolicyTenant *t, const char *pci_name, int iommu_group);

/* True if [start, last] lies inside one of the limits' IOVA windows. */
bool policy_limits_iova_allowed(const PolicyLimits *l, uint64_t start, uint64_t last);
/* True if the guest may use vpasid (VPASIDRange=, and PASID= is yes). */
bool policy_limits_vpasid_allowed(const PolicyLimits *l, uint32_t vpasid);

/* "per-device", "global"; NULL for an invalid mode. */
const char *policy_pasid_mode_to_string(PolicyPasidMode m);
PolicyPasidMode policy_pasid_mode_from_string(const char *s);

/* What a tenant lost in a reload, or'ed. */
typedef enum PolicyLoss {
        POLICY_LOSS_TENANT = 1 << 0,    /* the tenant is gone, or the peer now matches none */
        POLICY_LOSS_MATCH = 1 << 1,     /* match keys narrowed, or the peer now matches another tenant */
        POLICY_LOSS_DEVICES = 1 << 2,   /* a Device= grant may have gone (re-check open devices) */
        POLICY_LOSS_LIMITS = 1 << 3,    /* a numeric limit was lowered */
        POLICY_LOSS_FEATURES = 1 << 4,  /* feature off, PASIDMode changed, vPASIDs/IOVA windows narrowed */
} PolicyLoss;

/**
 * policy_tenant_losses() - compare one tenant across a reload
 * @old_t: the tenant in the old policy
 * @new_t: the tenant of the same name in the new policy, or NULL if gone
 *
 * Device grants are compared value by value (an address now covered by a
 * glob is no loss); the authoritative check for a session is
 * policy_tenant_grants_device() on the new tenant for each device it has open.
 *
 * Return: PolicyLoss flags; 0 if nothing was lost.
 */
unsigned policy_tenant_losses(const PolicyTenant *old_t, const PolicyTenant *new_t);

/**
 * policy_diff_tenant() - what the tenant named @name lost from @old to @new
 *
 * Return: PolicyLoss flags (>= 0), or -ENOENT if @old has no such tenant.
 */
int policy_diff_tenant(const Policy *old, const Policy *new, const char *name);

/**
 * policy_session_losses() - what a live session loses in a reload
 * @old_t: the tenant the session was matched to
 * @new: the new policy
 * @id: the session's identity, captured at connect
 * @ret_revoke: set to whether the new policy wants the session closed now
 *              (RevokeOnReload= of the tenant of the same name in @new, or
 *              [Global]'s if the tenant is gone), when anything was lost;
 *              may be NULL
 *
 * The session stays in the tenant of its name, so its grants and limits are
 * compared with that tenant in @new.  Re-matches @id in @new too: a peer that
 * now matches no tenant, or whose tenant is gone, has lost its tenant; one
 * that would now match another tenant has lost its match.
 *
 * Return: PolicyLoss flags; 0 if the session is unaffected.
 */
unsigned policy_session_losses(const PolicyTenant *old_t, const Policy *new, const PeerIdentity *id,
                               bool *ret_revoke);

/*
 * Building a Policy: what policy.c lends policy-parse.c (and the parser's
 * tests); a loaded Policy is immutable, so nothing else calls these.
 */
/* A Policy with no tenants, [Global] at the built-in defaults, n_ref 1. */
int policy_new(Policy **ret);
int policy_tenant_new(PolicyTenant **ret, const char *name, const char *file, unsigned line);
PolicyTenant *policy_tenant_free(PolicyTenant *t);
/* Sets the fields of l not in l->set from defaults (which must be complete). */
void policy_limits_inherit(PolicyLimits *l, const PolicyLimits *defaults);
/* Fills every field of l not in l->set with the built-in default. */
void policy_limits_complete(PolicyLimits *l);
/* Clears one field back to "unset". */
void policy_limits_unset(PolicyLimits *l, PolicyLimit field);
/* True if s contains fnmatch() special characters. */
bool policy_is_glob(const char *s);

DEFINE_TRIVIAL_CLEANUP_FUNC(Policy *, policy_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(PolicyTenant *, policy_tenant_free);

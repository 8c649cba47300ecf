/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * privilege.c - see privilege.h.
 *
 * DOC: Theory of Operation
 *
 * iommu-brokerd starts as root (from its systemd unit, or by hand) because
 * it must open what unprivileged VMMs may not: /dev/iommu, VFIO device
 * nodes, and a socket in /run.  Privilege is then given up in stages, each
 * ending before the next begins, so that no code that parses client input
 * ever runs with more than the list below:
 *
 *   1. main.c parses the command line; broker_new() opens the backend (a
 *      first open of /dev/iommu, probing its features) and the VMM socket
 *      (bound and chowned here, or inherited from systemd).
 *   2. privilege_drop(): with CAP_SETPCAP still effective, the bounding set
 *      is cut down to the kept list; with --user the process switches to the
 *      dedicated user (supplementary groups from its NSS entry, so that a
 *      group owning the device nodes counts) keeping only the kept list
 *      across setresuid(); effective and permitted become exactly the kept
 *      list, inheritable and ambient become empty (capng_apply() with
 *      CAPNG_SELECT_ALL); no_new_privs is set.  The result is read back from
 *      the kernel and checked: a daemon that could not drop refuses to run.
 *   3. The admin bus is connected (it needs no privilege; the bus daemon
 *      records the uid the broker has from now on) and the loop starts.
 *
 * What is kept, and why (the only list; privilege_kept_mask() is its mask):
 *
 *   CAP_IPC_LOCK  Every IOAS map pins guest pages (at map time, or when a
 *                 device is attached).  iommufd charges pinned pages to the
 *                 RLIMIT_MEMLOCK of the mapping process's user unless the
 *                 process has CAP_IPC_LOCK (iopt_alloc_pages() in the
 *                 kernel).  The broker maps for every session and counts
 *                 what each holds itself (object/account.h); its own memlock
 *                 limit must not cap all tenants together.  Effective.
 *   CAP_SYS_RESOURCE  Delegated devices (core/delegation.c) only, and kept
 *                 permitted but NOT effective: util/caps.h raises it for two
 *                 calls and lowers it at once.  IOMMU_OPTION_RLIMIT_MODE
 *                 (per-process accounting of a delegated iommufd) requires
 *                 it (iommufd_option_rlimit_mode() checks capable()), and
 *                 so does lowering the hard RLIMIT_MEMLOCK of a VMM of
 *                 another uid with prlimit() (check_prlimit_permission()).
 *                 Optional: a daemon started without it (a unit without it
 *                 in CapabilityBoundingSet=) refuses DeviceDelegate with
 *                 EPERM and says why; nothing else needs it.
 *   CAP_KILL      Ending a delegation (EndDelegation) kills the VMM that
 *                 holds the devices, a process of another uid.  Permitted
 *                 only, raised for that one pidfd_send_signal().  Without it
 *                 EndDelegation fails with EPERM and says why.
 *
 * What is not kept, although one might expect it:
 *
 *   CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH  The kernel backend opens
 *                 /dev/iommu again for every session (one iommufd context
 *                 each) and will open VFIO device nodes.  These are
 *                 root-owned 0660 (iommufd) or 0600 (vfio) nodes, which the
 *                 uid 0 of a daemon started as root may open as their owner;
 *                 a dedicated user (--user) needs them group-accessible to a
 *                 group it is in (a udev rule), never an override.
 *   CAP_SYS_RAWIO, CAP_SYS_ADMIN  No ioctl the broker issues on iommufd or
 *                 a VFIO device cdev checks them.
 *   CAP_SETPCAP, CAP_SETUID, CAP_SETGID  Used during stage 2 only.
 *
 * Under systemd the unit's CapabilityBoundingSet= already leaves only the
 * kept list; privilege_drop() then finds nothing to change and makes no
 * system call that the unit's SystemCallFilter= would have to allow.
 *
 * capset() and setresuid() change the calling thread only, so stage 2 must
 * run while the daemon has one thread; privilege_drop() refuses otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/capability.h>

#include <cap-ng.h>

#include "common/macro.h"
#include "host/privilege.h"
#include "util/log.h"

#define CAP_BIT(c) (UINT64_C(1) << (c))

static const struct {
        unsigned cap;
        bool effective;                 /* false: permitted only, raised for a call (util/caps.h) */
        const char *why;
} kept_caps[] = {
        { CAP_IPC_LOCK, true, "pinned guest pages are not charged to the broker's RLIMIT_MEMLOCK" },
        { CAP_SYS_RESOURCE, false, "delegated iommufds get per-process accounting, VMMs a memlock cap" },
        { CAP_KILL, false, "an admin ends a delegation by killing its VMM" },
};

typedef struct CapSets {
        uint64_t eff;
        uint64_t prm;
        uint64_t inh;
        uint64_t amb;
        uint64_t bnd;
} CapSets;

uint64_t privilege_kept_mask(void) {
        uint64_t m = 0;

        for (size_t i = 0; i < ELEMENTSOF(kept_caps); i++)
                m |= CAP_BIT(kept_caps[i].cap);
        return m;
}

uint64_t privilege_effective_mask(void) {
        uint64_t m = 0;

        for (size_t i = 0; i < ELEMENTSOF(kept_caps); i++)
                if (kept_caps[i].effective)
                        m |= CAP_BIT(kept_caps[i].cap);
        return m;
}

/* The highest capability this kernel knows. */
static unsigned cap_last(void) {
        unsigned c = 0;

        while (c < 63 && prctl(PR_CAPBSET_READ, (unsigned long) c + 1, 0, 0, 0) >= 0)
                c++;
        return c;
}

/* Reads all five sets of this process from the kernel (libcap-ng's state is refreshed too). */
static int caps_read(CapSets *ret) {
        CapSets s = {};
        unsigned last = cap_last();

        if (capng_get_caps_process() < 0)
                return negative_errno();
        for (unsigned c = 0; c <= last; c++) {
                if (capng_have_capability(CAPNG_EFFECTIVE, c) > 0)
                        s.eff |= CAP_BIT(c);
                if (capng_have_capability(CAPNG_PERMITTED, c) > 0)
                        s.prm |= CAP_BIT(c);
                if (capng_have_capability(CAPNG_INHERITABLE, c) > 0)
                        s.inh |= CAP_BIT(c);
                if (capng_have_capability(CAPNG_BOUNDING_SET, c) > 0)
                        s.bnd |= CAP_BIT(c);
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long) c, 0, 0) > 0)
                        s.amb |= CAP_BIT(c);
        }
        *ret = s;
        return 0;
}

/* "cap_ipc_lock cap_sys_admin" or "none", into buf. */
static const char *caps_to_string(uint64_t mask, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = '\0';
        for (unsigned c = 0; c < 64 && n < size; c++) {
                const char *name;

                if (!(mask & CAP_BIT(c)))
                        continue;
                name = capng_capability_to_name(c);
                n += (size_t) snprintf(buf + n, size - n, "%scap_%s", n ? " " : "", name ?: "unknown");
        }
        return buf[0] ? buf : "none";
}

/* Nothing beyond the kept list anywhere, and effective == the permitted ones kept effective. */
static bool caps_minimal(const CapSets *s, uint64_t kept) {
        return !(s->prm & ~kept) && s->eff == (s->prm & privilege_effective_mask()) && !(s->inh & ~kept) &&
               !(s->amb & ~kept) && !(s->bnd & ~kept);
}

/* From now to the kept list in every set (see the Theory of Operation), then check with the kernel. */
static int privilege_apply(const CapSets *now, uint64_t kept, const struct passwd *pw) {
        uint64_t effective = privilege_effective_mask();
        char buf[3][512];
        CapSets after;
        bool setpcap;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(kept_caps); i++)
                log_debug("keeping cap_%s: %s", capng_capability_to_name(kept_caps[i].cap), kept_caps[i].why);

        /* The wanted state, built in libcap-ng's copy: kept ∩ what we hold, nothing else anywhere. */
        capng_clear(CAPNG_SELECT_ALL);
        for (unsigned c = 0; c < 64; c++) {
                r = 0;
                if (now->prm & kept & CAP_BIT(c))
                        r = capng_update(CAPNG_ADD, (effective & CAP_BIT(c) ? CAPNG_EFFECTIVE : 0) | CAPNG_PERMITTED,
                                         c);
                if (r >= 0 && (now->bnd & kept & CAP_BIT(c)))
                        r = capng_update(CAPNG_ADD, CAPNG_BOUNDING_SET, c);
                if (r < 0)
                        return log_error_errno(EINVAL, "cannot prepare the capability sets");
        }

        setpcap = now->eff & CAP_BIT(CAP_SETPCAP);
        if (!setpcap && (now->bnd & ~kept))
                log_notice("without CAP_SETPCAP the capability bounding set cannot shrink; it keeps %s",
                           caps_to_string(now->bnd, buf[0], sizeof(buf[0])));

        if (pw) {
                /* Bounding set first, while CAP_SETPCAP is still effective. */
                if (setpcap && capng_apply(CAPNG_SELECT_BOUNDS) < 0)
                        return log_error_errno(EPERM, "cannot shrink the capability bounding set");
                /* Keeps the kept list across setresuid(); ends with it applied to effective and permitted. */
                r = capng_change_id((int) pw->pw_uid, (int) pw->pw_gid, CAPNG_INIT_SUPP_GRP);
                if (r < 0)
                        return log_error_errno(EPERM, "cannot switch to user '%s' (libcap-ng error %d)",
                                               pw->pw_name, r);
                r = capng_apply(CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT);
        } else if (setpcap)
                r = capng_apply(CAPNG_SELECT_ALL);
        else
                r = capng_apply(CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT);
        if (r < 0)
                return log_error_errno(EPERM, "cannot apply the capability sets (libcap-ng error %d)", r);

        /* Trust the kernel, not our bookkeeping. */
        r = caps_read(&after);
        if (r < 0)
                return log_error_errno(r, "cannot read the capabilities of the process: %m");
        if (after.eff != (now->prm & effective) || after.prm != (now->prm & kept) || after.inh != 0 || after.amb != 0 ||
            (setpcap && (after.bnd & ~kept)))
                return log_error_errno(EPERM, "capabilities were not dropped as expected: effective %s, "
                                       "bounding %s",
                                       caps_to_string(after.eff, buf[0], sizeof(buf[0])),
                                       caps_to_string(after.bnd, buf[1], sizeof(buf[1])));
        if (pw)
                log_info("running as user '%s' (uid %u gid %u)", pw->pw_name, (unsigned) getuid(),
                         (unsigned) getgid());
        log_info("capabilities: %s, permitted %s (bounding set: %s)",
                 caps_to_string(after.eff, buf[0], sizeof(buf[0])), caps_to_string(after.prm, buf[2], sizeof(buf[2])),
                 caps_to_string(after.bnd, buf[1], sizeof(buf[1])));
        return 0;
}

/* The number of threads of this process, from /proc/self/task; -errno if unknown. */
static int count_threads(void) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        int n = 0;

        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

int privilege_drop(const char *user) {
        uint64_t kept = privilege_kept_mask();
        struct passwd *pw = NULL;
        char buf[3][512];
        CapSets now;
        int r;

        r = count_threads();
        if (r < 0)
                return log_error_errno(r, "cannot count the threads of the process: %m");
        if (r != 1)
                return log_error_errno(EBUSY, "%d threads run: privileges can only be dropped by a single thread", r);

        r = caps_read(&now);
        if (r < 0)
                return log_error_errno(r, "cannot read the capabilities of the process: %m");

        if (user) {
                errno = 0;
                pw = getpwnam(user);
                if (!pw)
                        return log_error_errno(errno ?: ENOENT, "cannot switch to user '%s': %s", user,
                                               errno ? strerror(errno) : "no such user");
                if (!(now.eff & CAP_BIT(CAP_SETUID)) || !(now.eff & CAP_BIT(CAP_SETGID)))
                        return log_error_errno(EPERM, "cannot switch to user '%s': the daemon lacks CAP_SETUID "
                                               "and CAP_SETGID (start it as root)", user);
        }

        if (!user && caps_minimal(&now, kept)) {
                /* Started unprivileged, or systemd's CapabilityBoundingSet= did it already. */
                if (now.prm == 0)
                        log_debug("started without capabilities: nothing to drop");
                else
                        log_info("capabilities: %s, permitted %s (bounding set: %s)",
                                 caps_to_string(now.eff, buf[0], sizeof(buf[0])),
                                 caps_to_string(now.prm, buf[2], sizeof(buf[2])),
                                 caps_to_string(now.bnd, buf[1], sizeof(buf[1])));
        } else {
                r = privilege_apply(&now, kept, pw);
                if (r < 0)
                        return r;
        }

        /* We never exec; this only makes sure nothing we might exec could gain privilege. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "cannot set no_new_privs: %m");
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * privilege.h - what iommu-brokerd keeps of root after start-up.
 *
 * Owns: the list of capabilities the daemon keeps (and why each), the
 * optional switch to a dedicated user, and applying both with libcap-ng to
 * every capability set: effective, permitted, inheritable, ambient and the
 * bounding set.
 * Must never: run before the backend and the VMM socket are open (they may
 * need more), run twice, or keep a capability that is not in the list.
 */
#pragma once

#include <stdint.h>

/*
 * The capabilities that survive privilege_drop(), as a mask of
 * (1 << CAP_*): exactly what /proc/PID/status shows as CapPrm of a daemon
 * started as root.
 */
uint64_t privilege_kept_mask(void);
/* Of those, the ones effective (what CapEff shows); the others are raised for a call (util/caps.h). */
uint64_t privilege_effective_mask(void);

/**
 * privilege_drop() - drop every capability the daemon does not need.
 * @user: NULL to keep the uid the daemon was started with, else the name of
 *        a dedicated user to switch to (needs root).
 *
 * Keeps the capabilities of privilege_kept_mask() that the daemon holds in
 * its permitted set, drops all others from every set including the bounding
 * set (when it may: that needs CAP_SETPCAP), and sets no_new_privs.  A
 * daemon started without capabilities has nothing to drop and succeeds.
 * Logs what it did.
 *
 * Return: 0, or -errno (logged) if a set could not be changed: the daemon
 * must not go on with more privilege than documented.
 */
int privilege_drop(const char *user);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * caps.h - raising a permitted capability for one call.
 *
 * Owns: the moment a capability the daemon keeps permitted but not
 * effective (see the list in host/privilege.c) is effective: raised just
 * before the one call that needs it and lowered right after, so that no
 * other code runs with it.  The daemon is single-threaded (capabilities are
 * per thread; see host/privilege.c).
 * Must never: raise a capability that is not permitted (the kernel refuses:
 * -EPERM), or return with it still effective.
 */
#pragma once

/* Makes cap effective: 0, or -EPERM if it is not permitted. */
int caps_raise(unsigned cap);
/* Makes cap not effective again (never fails for a permitted capability). */
void caps_lower(unsigned cap);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-sim.h - test hooks of the simulated IOMMU backend.
 *
 * Owns: the fail-nth fault hook of backend-sim.c.  The ops themselves are
 * backend_sim_ops, declared in backend.h.
 * Must never: be included by anything but backend-sim.c and tests.
 */
#pragma once

/* The environment variable open() reads to set backend_sim_fail_nth. */
#define BACKEND_SIM_FAIL_NTH_ENV "IB_SIM_FAIL_NTH"

/*
 * backend_sim_fail_nth - fault injection for fail-nth tests.
 *
 * When > 0, every fallible call of the sim backend (all ops but close and
 * ctx_free) decrements it, and the call that brings it to 0 fails with
 * -ENOMEM before it looks at its arguments or changes anything: 1 fails the
 * next call, 2 the one after.  0 (the default) or less disables the hook.
 * open() sets it from $IB_SIM_FAIL_NTH when that is set.  Not thread-safe,
 * like the rest of the sim.
 */
extern int backend_sim_fail_nth;

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-fail-nth.h - the fail-nth hook of the simulated backend.
 *
 * Owns: the declarations of sim-fail-nth.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include "backend/sim-internal.h"

/* Run first by every fallible op: -ENOMEM for the call a counter picks, else 0. */
int sim_fault(void);
/* At open: arm the counters from the environment (backend-sim.h). */
int sim_fail_nth_open(SimBackend *s);
/* At close: unmap the backend's $IB_SIM_FAIL_NTH_FILE counter. */
void sim_fail_nth_close(SimBackend *s);

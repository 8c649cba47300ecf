/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crashpoint.h - named places where a test may make the broker die.
 *
 * Owns: $IB_CRASH_AT ("NAME", "NAME:N" or "NAME:N:FILE": the Nth time the
 * broker passes crash_point("NAME") it is killed by SIGKILL, as a crash or
 * kill -9 would end it there; with FILE, it creates FILE first and a broker
 * started while FILE exists arms nothing, so that the restarted broker goes
 * on), read once.  The restart tests walk every window of every
 * mutating verb with it (tests/integration/test-restart.c).  Unset, a
 * crash point costs one predictable branch.
 * Must never: do anything else.
 */
#pragma once

#include <stdbool.h>

extern bool crash_points_armed;

void crash_point_hit(const char *name);

static inline void crash_point(const char *name) {
        if (__builtin_expect(crash_points_armed, 0))
                crash_point_hit(name);
}

/* Reads $IB_CRASH_AT; called once at start. */
void crash_points_init(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crashpoint.h - named places where a test may make the broker die.
 *
 * Owns: $IB_CRASH_AT ("NAME", "NAME:N" or "NAME:N:FILE": the Nth time the
 * broker passes crash_point("NAME") it is killed by SIGKILL, as a crash or
 * kill -9 would end it there; with FILE, it creates FILE first and a broker
 * started while FILE exists arms nothing, so that the restarted broker goes
 * on), read once.  The restart tests walk every window of every
 * mutating verb with it (tests/integration/test-restart.sh).  Unset, a
 * crash point costs one predictable branch.  And $IB_CRASH_DEFER=1: SIGUSR1
 * kills the broker (SIGKILL) between backend calls, never inside one, as a
 * SIGKILL lands before or after a kernel's ioctl: the sim's model lives in
 * the broker's own memory and an op cut in half would leave it half done
 * (backend/sim-arena.c), which no kernel does.  The restart soak kills
 * the sim broker so (tests/soak/test-restart-soak.c).
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

/* Reads $IB_CRASH_AT and $IB_CRASH_DEFER; called once at start, before any thread. */
void crash_points_init(void);

extern bool crash_defer_armed;

void crash_defer_enter(void);
void crash_defer_leave(void);

/* Around every backend call (backend/backend.c): a deferred kill waits for the call's end. */
static inline void crash_defer_begin(void) {
        if (__builtin_expect(crash_defer_armed, 0))
                crash_defer_enter();
}

static inline void crash_defer_end(void) {
        if (__builtin_expect(crash_defer_armed, 0))
                crash_defer_leave();
}

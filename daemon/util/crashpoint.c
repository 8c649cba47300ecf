/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crashpoint.c - named places where a test may make the broker die.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/crashpoint.h"
#include "util/log.h"

bool crash_points_armed;
static char crash_name[64];
static unsigned long crash_left;
static char crash_once[256];            /* set: created before dying; while it exists, nothing is armed */

bool crash_defer_armed;
static atomic_int defer_depth;          /* backend calls running, on any thread */
static atomic_int defer_pending;        /* SIGUSR1 came: die when none runs */

/*
 * The two sides order their store before their load (sequentially
 * consistent), so of a call ending and the signal coming at once at least
 * one sees the other's store: the process dies either way.
 */
static void on_defer_signal(int sig) {
        (void) sig;
        atomic_store(&defer_pending, 1);
        if (atomic_load(&defer_depth) == 0)
                (void) kill(getpid(), SIGKILL);
}

void crash_defer_enter(void) {
        atomic_fetch_add(&defer_depth, 1);
}

void crash_defer_leave(void) {
        if (atomic_fetch_sub(&defer_depth, 1) == 1 && atomic_load(&defer_pending))
                (void) kill(getpid(), SIGKILL);
}

static void crash_defer_init(void) {
        const char *e = getenv("IB_CRASH_DEFER");
        struct sigaction sa = { .sa_handler = on_defer_signal, .sa_flags = SA_RESTART };

        if (!e || strcmp(e, "1") != 0)
                return;
        crash_defer_armed = true;
        if (sigaction(SIGUSR1, &sa, NULL) < 0) {
                log_warning_errno(errno, "IB_CRASH_DEFER: cannot handle SIGUSR1: %m");
                return;
        }
        log_notice("IB_CRASH_DEFER: SIGUSR1 kills the broker between backend calls");
}

void crash_points_init(void) {
        const char *e = getenv("IB_CRASH_AT");
        const char *colon;

        crash_defer_init();
        if (!e || !*e)
                return;
        colon = strchr(e, ':');
        (void) snprintf(crash_name, sizeof(crash_name), "%.*s", colon ? (int) (colon - e) : (int) strlen(e), e);
        crash_left = colon ? strtoul(colon + 1, NULL, 10) : 1;
        if (crash_left == 0)
                crash_left = 1;
        if (colon && (colon = strchr(colon + 1, ':'))) {
                (void) snprintf(crash_once, sizeof(crash_once), "%s", colon + 1);
                if (access(crash_once, F_OK) == 0)
                        return;         /* it fired in an earlier process */
        }
        crash_points_armed = true;
        log_notice("IB_CRASH_AT: the broker dies the %lu. time it passes '%s'", crash_left, crash_name);
}

void crash_point_hit(const char *name) {
        if (strcmp(name, crash_name) != 0 || --crash_left > 0)
                return;
        log_notice("crash point '%s': dying now", name);
        if (crash_once[0]) {
                FILE *f = fopen(crash_once, "we");

                if (f)
                        fclose(f);
        }
        (void) kill(getpid(), SIGKILL);
        abort();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * crashpoint.c - named places where a test may make the broker die.
 */
#include <signal.h>
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

void crash_points_init(void) {
        const char *e = getenv("IB_CRASH_AT");
        const char *colon;

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

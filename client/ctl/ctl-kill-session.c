/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-kill-session.c - iommu-brokerctl kill-session ID, and what end-delegation shares with it.
 *
 * Owns: parsing an object id from the command line and calling the admin
 * method that ends it (KillSession here, EndDelegation for
 * ctl-delegations.c): the usage error, the "no such" answer, the output for
 * people and as JSON.  The broker decides whether the caller may (root, its
 * own user, its admin group); a refusal is reported with exit status 4.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/ctl/ctl.h"
#include "client/tool/json.h"
#include "common/macro.h"

int ctl_end_by_id(Ctl *ctl, const CtlEnd *end, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t id;
        char *p;
        int r;

        errno = 0;
        id = strtoull(arg, &p, 10);
        if (arg[0] < '0' || arg[0] > '9' || *p != '\0' || errno != 0 || id == 0) {
                fprintf(stderr, "iommu-brokerctl: %s: invalid %s id '%s' (a number from 'iommu-brokerctl %s')\n",
                        end->command, end->object, arg, end->listing);
                return CTL_EXIT_USAGE;
        }

        r = sd_bus_call_method(ctl->bus, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE, end->method, &error, NULL,
                               "t", id);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, end->no_such_error)) {
                        fprintf(stderr, "iommu-brokerctl: %s: no %s %" PRIu64 "\n", end->command, end->object, id);
                        return CTL_EXIT_FAILED;
                }
                return ctl_call_failed(ctl, end->command, r, &error);
        }

        if (ctl->json) {
                Json j = JSON_INIT;

                json_begin_object(&j, NULL);
                json_uint(&j, "id", id);
                json_bool(&j, "killed", true);
                json_end_object(&j);
                puts(json_text(&j));
                json_done(&j);
        } else
                printf("%c%s %" PRIu64 " %s\n", end->object[0] - 'a' + 'A', end->object + 1, id, end->done);
        return CTL_EXIT_OK;
}

int ctl_kill_session(Ctl *ctl, int argc, char **argv) {
        static const CtlEnd end = {
                .command = "kill-session",
                .object = "session",
                .listing = "sessions",
                .method = "KillSession",
                .no_such_error = CTL_ERROR_NO_SUCH_SESSION,
                .done = "ended; its objects are destroyed.",
        };

        return ctl_end_by_id(ctl, &end, argv[1]);
}

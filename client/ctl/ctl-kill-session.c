/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-kill-session.c - iommu-brokerctl kill-session ID.
 *
 * Owns: parsing the session id and calling KillSession.  The broker decides
 * whether the caller may (root, its own user, its admin group); a refusal
 * is reported with exit status 4.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/ctl/ctl.h"
#include "client/tool/json.h"
#include "common/macro.h"

int ctl_kill_session(Ctl *ctl, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t id;
        char *end;
        int r;

        errno = 0;
        id = strtoull(argv[1], &end, 10);
        if (argv[1][0] < '0' || argv[1][0] > '9' || *end != '\0' || errno != 0 || id == 0) {
                fprintf(stderr, "iommu-brokerctl: kill-session: invalid session id '%s' (a number from "
                                "'iommu-brokerctl sessions')\n", argv[1]);
                return CTL_EXIT_USAGE;
        }

        r = sd_bus_call_method(ctl->bus, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE, "KillSession", &error, NULL,
                               "t", id);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, CTL_ERROR_NO_SUCH_SESSION)) {
                        fprintf(stderr, "iommu-brokerctl: kill-session: no session %" PRIu64 "\n", id);
                        return CTL_EXIT_FAILED;
                }
                return ctl_call_failed(ctl, "kill-session", r, &error);
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
                printf("Session %" PRIu64 " ended; its objects are destroyed.\n", id);
        return CTL_EXIT_OK;
}

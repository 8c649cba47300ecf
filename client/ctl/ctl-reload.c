/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-reload.c - iommu-brokerctl reload: re-read the policy.
 *
 * Owns: calling Reload and reporting its outcome.  A policy file with an
 * error is refused whole by the broker, which keeps the old policy; the
 * error (FILE:LINE: ...) is printed and the exit status is 1.
 */
#include <stdio.h>

#include "client/ctl/ctl.h"
#include "client/tool/json.h"
#include "common/macro.h"

int ctl_reload(Ctl *ctl, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(ctl->bus, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE, "Reload", &error, NULL, NULL);
        if (r < 0 && !sd_bus_error_has_name(&error, CTL_ERROR_POLICY_REFUSED))
                return ctl_call_failed(ctl, "reload", r, &error);

        if (ctl->json) {
                Json j = JSON_INIT;

                json_begin_object(&j, NULL);
                json_bool(&j, "reloaded", r >= 0);
                if (r < 0)
                        json_string(&j, "error", error.message);
                json_end_object(&j);
                puts(json_text(&j));
                json_done(&j);
        } else if (r >= 0)
                printf("Policy reloaded.\n");
        if (r < 0) {
                fprintf(stderr, "iommu-brokerctl: reload: %s\n", error.message ?: "refused");
                return CTL_EXIT_FAILED;
        }
        return CTL_EXIT_OK;
}

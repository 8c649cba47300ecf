/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-manager.c - what the service manager is doing with this service.
 *
 * systemctl restart sends SIGTERM as systemctl stop does; only the job the
 * manager has queued for the unit tells them apart (org.freedesktop.systemd1:
 * Manager.GetUnitByPID, the unit's Job property, the job's JobType).  During
 * a restart the job's type stays "restart" until the unit is started again,
 * and the fd store is kept meanwhile.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "host/service-manager.h"
#include "util/log.h"

#define SYSTEMD "org.freedesktop.systemd1"

static bool restart_job(const char *type) {
        return strcmp(type, "restart") == 0 || strcmp(type, "try-restart") == 0 ||
               strcmp(type, "reload-or-restart") == 0 || strcmp(type, "try-reload-or-restart") == 0;
}

int service_manager_restart_queued(void) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *unit = NULL, *type = NULL;
        const char *path, *job;
        sd_bus *bus = NULL;
        uint32_t job_id;
        int r;

        r = sd_bus_open_system_with_description(&bus, "service-manager");
        if (r < 0) {
                log_debug_errno(r, "no system bus to ask about a restart: %m");
                return 0;
        }
        (void) sd_bus_set_method_call_timeout(bus, 1000000);

        r = sd_bus_call_method(bus, SYSTEMD, "/org/freedesktop/systemd1", SYSTEMD ".Manager", "GetUnitByPID",
                               &error, &reply, "u", (uint32_t) getpid());
        if (r < 0 || sd_bus_message_read(reply, "o", &path) < 0 || !(unit = strdup(path))) {
                log_debug("the service manager does not name this process's unit: %s",
                          error.message ?: "no answer");
                r = 0;
                goto out;
        }
        reply = sd_bus_message_unref(reply);

        r = sd_bus_get_property(bus, SYSTEMD, unit, SYSTEMD ".Unit", "Job", &error, &reply, "(uo)");
        if (r < 0 || sd_bus_message_read(reply, "(uo)", &job_id, &job) < 0 || job_id == 0) {
                r = 0;
                goto out;
        }
        r = sd_bus_get_property_string(bus, SYSTEMD, job, SYSTEMD ".Job", "JobType", &error, &type);
        if (r < 0) {
                r = 0;
                goto out;
        }
        log_debug("the service manager's job for %s: %s", unit, type);
        r = restart_job(type);
out:
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        free(unit);
        free(type);
        sd_bus_flush_close_unref(bus);
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-monitor.c - iommu-brokerctl monitor: follow the broker's signals.
 *
 * Owns: subscribing to the Manager interface's signals (sessions opened and
 * closed, policy reloads) and to the bus name's owner changes (broker
 * started or stopped), and printing one line per event, flushed at once (a
 * line for people, or one JSON object per line).
 * Runs until interrupted or until the bus goes away.  When subscribed it
 * says so on stderr, so that a script may wait for that line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client/ctl/ctl.h"
#include "client/tool/json.h"
#include "common/macro.h"

static void monitor_print(Ctl *ctl, Json *j, const char *line) {
        if (ctl->json) {
                json_end_object(j);
                if (json_error(j) >= 0)
                        puts(json_text(j));
                json_done(j);
        } else
                puts(line);
        (void) fflush(stdout);
}

static void monitor_begin(Json *j, const char *event) {
        json_begin_object(j, NULL);
        json_string(j, "event", event);
}

static int monitor_on_session_opened(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Ctl *ctl = userdata;
        Json j = JSON_INIT;
        const char *unit;
        char line[256];
        uint32_t uid, pid;
        uint64_t id;

        if (sd_bus_message_read(m, "tuus", &id, &uid, &pid, &unit) < 0)
                return 0;
        monitor_begin(&j, "SessionOpened");
        json_uint(&j, "id", id);
        json_uint(&j, "uid", uid);
        json_uint(&j, "pid", pid);
        if (unit[0])
                json_string(&j, "unit", unit);
        (void) snprintf(line, sizeof(line), "session %" PRIu64 " opened: uid %" PRIu32 " pid %" PRIu32 "%s%s", id,
                        uid, pid, unit[0] ? " unit " : "", unit);
        monitor_print(ctl, &j, line);
        json_done(&j);
        return 0;
}

static int monitor_on_session_closed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Ctl *ctl = userdata;
        Json j = JSON_INIT;
        const char *reason;
        char line[256];
        uint32_t uid, pid;
        uint64_t id;

        if (sd_bus_message_read(m, "tuus", &id, &uid, &pid, &reason) < 0)
                return 0;
        monitor_begin(&j, "SessionClosed");
        json_uint(&j, "id", id);
        json_uint(&j, "uid", uid);
        json_uint(&j, "pid", pid);
        json_string(&j, "reason", reason);
        (void) snprintf(line, sizeof(line), "session %" PRIu64 " %s: uid %" PRIu32 " pid %" PRIu32, id, reason, uid,
                        pid);
        monitor_print(ctl, &j, line);
        json_done(&j);
        return 0;
}

static int monitor_on_policy_reloaded(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Ctl *ctl = userdata;
        Json j = JSON_INIT;
        const char *err;
        char line[600];
        int ok;

        if (sd_bus_message_read(m, "bs", &ok, &err) < 0)
                return 0;
        monitor_begin(&j, "PolicyReloaded");
        json_bool(&j, "ok", ok);
        if (!ok)
                json_string(&j, "error", err);
        if (ok)
                (void) snprintf(line, sizeof(line), "policy reloaded");
        else
                (void) snprintf(line, sizeof(line), "policy reload refused, the old policy stays: %s", err);
        monitor_print(ctl, &j, line);
        json_done(&j);
        return 0;
}

static int monitor_on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name, *old_owner, *new_owner;
        Ctl *ctl = userdata;
        Json j = JSON_INIT;
        char line[256];

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || strcmp(name, CTL_BUS_NAME) != 0)
                return 0;
        if (new_owner[0]) {
                monitor_begin(&j, "BrokerStarted");
                json_string(&j, "owner", new_owner);
                (void) snprintf(line, sizeof(line), "iommu-brokerd started (%s)", new_owner);
        } else {
                monitor_begin(&j, "BrokerStopped");
                (void) snprintf(line, sizeof(line), "iommu-brokerd stopped");
        }
        monitor_print(ctl, &j, line);
        json_done(&j);
        return 0;
}

int ctl_monitor(Ctl *ctl, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_match_signal(ctl->bus, NULL, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE, "SessionOpened",
                                monitor_on_session_opened, ctl);
        if (r >= 0)
                r = sd_bus_match_signal(ctl->bus, NULL, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE,
                                        "SessionClosed", monitor_on_session_closed, ctl);
        if (r >= 0)
                r = sd_bus_match_signal(ctl->bus, NULL, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE,
                                        "PolicyReloaded", monitor_on_policy_reloaded, ctl);
        if (r >= 0)
                r = sd_bus_add_match(ctl->bus, NULL,
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                     "arg0='" CTL_BUS_NAME "'",
                                     monitor_on_owner_changed, ctl);
        if (r < 0)
                return ctl_call_failed(ctl, "monitor: cannot subscribe", r, NULL);

        r = sd_bus_call_method(ctl->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetNameOwner", &error, &reply, "s", CTL_BUS_NAME);
        if (r < 0 && !sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return ctl_call_failed(ctl, "monitor", r, &error);
        fprintf(stderr, "Monitoring %s on the %s%s; Ctrl-C stops.\n", CTL_BUS_NAME, ctl->bus_label,
                r < 0 ? " (iommu-brokerd is not running yet)" : "");

        for (;;) {
                r = sd_bus_process(ctl->bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "iommu-brokerctl: monitor: lost the %s: %s\n", ctl->bus_label,
                                strerror(-r));
                        return CTL_EXIT_UNREACHABLE;
                }
                if (r > 0)
                        continue;
                r = sd_bus_wait(ctl->bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "iommu-brokerctl: monitor: %s\n", strerror(-r));
                        return CTL_EXIT_UNREACHABLE;
                }
        }
}

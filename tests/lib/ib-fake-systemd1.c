/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ib-fake-systemd1.c - the part of systemd's D-Bus API that iommu-brokerd asks at SIGTERM.
 *
 * Serves org.freedesktop.systemd1 on the bus of $DBUS_SYSTEM_BUS_ADDRESS:
 * Manager.GetUnitByPID (any pid: the one unit iommu-brokerd.service), that
 * unit's Job property and the job's JobType, read from the file given as
 * argument at each call ("restart", "stop", or empty: no job queued), so
 * that a test can say what "systemctl" is doing.  Prints "ready" once the
 * name is owned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#define UNIT_PATH "/org/freedesktop/systemd1/unit/iommu_2dbrokerd_2eservice"
#define JOB_PATH "/org/freedesktop/systemd1/job/7"

static const char *job_file;

static void job_type(char *buf, size_t size) {
        FILE *f = fopen(job_file, "re");

        buf[0] = '\0';
        if (!f)
                return;
        if (!fgets(buf, (int) size, f))
                buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
}

static int get_unit_by_pid(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        uint32_t pid;
        int r = sd_bus_message_read(m, "u", &pid);

        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "o", UNIT_PATH);
}

static int get_job(sd_bus *bus, const char *path, const char *interface, const char *property,
                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        char type[64];

        job_type(type, sizeof(type));
        if (type[0] == '\0')
                return sd_bus_message_append(reply, "(uo)", (uint32_t) 0, "/");
        return sd_bus_message_append(reply, "(uo)", (uint32_t) 7, JOB_PATH);
}

static int get_job_type(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        char type[64];

        job_type(type, sizeof(type));
        return sd_bus_message_append(reply, "s", type);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("GetUnitByPID", "u", "o", get_unit_by_pid, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable unit_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Job", "(uo)", get_job, 0, 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("JobType", "s", get_job_type, 0, 0),
        SD_BUS_VTABLE_END,
};

int main(int argc, char **argv) {
        sd_bus *bus = NULL;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s JOB-TYPE-FILE\n", argv[0]);
                return 2;
        }
        job_file = argv[1];
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                             manager_vtable, NULL);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, UNIT_PATH, "org.freedesktop.systemd1.Unit", unit_vtable, NULL);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, JOB_PATH, "org.freedesktop.systemd1.Job", job_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
        if (r < 0) {
                fprintf(stderr, "ib-fake-systemd1: %s\n", strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return 1;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return 1;
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-status.c - iommu-brokerctl status: the broker's properties.
 *
 * Owns: reading every property of the Manager interface in one GetAll and
 * printing them, as aligned "Name: value" lines or as one JSON object.
 * Properties this tool does not know are skipped, so a newer broker works;
 * the restart properties an older broker lacks are left out of the output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"
#include "client/tool/json.h"
#include "common/macro.h"

/* LastRestart: what the start of the running broker restored. */
typedef struct LastRestart {
        uint64_t sessions;
        uint64_t ended;
        uint64_t objects;
        uint64_t mappings;
        uint64_t mapped_bytes;
        uint64_t settled;
        uint64_t usec;
} LastRestart;

typedef struct Status {
        char *version;
        char *backend;
        char *admin_group;
        uint32_t protocol;
        uint32_t sessions;
        uint64_t total_sessions;
        uint64_t objects;
        uint64_t mappings;
        uint64_t mapped_bytes;
        /* FdStore, Restarts, LastRestart: each only if the broker has it */
        bool has_fd_store;
        bool has_restarts;
        bool has_last;                  /* LastRestart is not empty: this start was a restart */
        int fd_store;                   /* "b" reads into an int */
        uint64_t restarts;
        LastRestart last;
} Status;

static void status_done(Status *s) {
        free(s->version);
        free(s->backend);
        free(s->admin_group);
}

static int read_string(sd_bus_message *m, char **ret) {
        const char *v;
        int r;

        r = sd_bus_message_read(m, "v", "s", &v);
        if (r < 0)
                return r;
        free(*ret);
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

/* The variant of LastRestart (a{sv} of t) into s; keys this tool does not know are skipped. */
static int last_restart_parse(sd_bus_message *reply, Status *s) {
        static const struct {
                const char *name;
                size_t offset;
        } keys[] = {
                { "Sessions", offsetof(LastRestart, sessions) },
                { "Ended", offsetof(LastRestart, ended) },
                { "Objects", offsetof(LastRestart, objects) },
                { "Mappings", offsetof(LastRestart, mappings) },
                { "MappedBytes", offsetof(LastRestart, mapped_bytes) },
                { "Settled", offsetof(LastRestart, settled) },
                { "Usec", offsetof(LastRestart, usec) },
        };
        int r;

        r = sd_bus_message_enter_container(reply, 'v', "a{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name, *contents = NULL;
                bool known = false;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(reply, NULL, &contents);
                if (r < 0)
                        return r;
                s->has_last = true;
                for (size_t i = 0; i < ELEMENTSOF(keys) && !known; i++) {
                        if (strcmp(name, keys[i].name) != 0 || !contents || strcmp(contents, "t") != 0)
                                continue;
                        known = true;
                        r = sd_bus_message_read(reply, "v", "t", (char *) &s->last + keys[i].offset);
                }
                if (!known)
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

/* The a{sv} of Properties.GetAll into s. */
static int status_parse(sd_bus_message *reply, Status *s) {
        static const struct {
                const char *name;
                char type;
                size_t offset;
        } fields[] = {
                { "Version", 's', offsetof(Status, version) },
                { "Backend", 's', offsetof(Status, backend) },
                { "AdminGroup", 's', offsetof(Status, admin_group) },
                { "ProtocolVersion", 'u', offsetof(Status, protocol) },
                { "NSessions", 'u', offsetof(Status, sessions) },
                { "TotalSessions", 't', offsetof(Status, total_sessions) },
                { "Objects", 't', offsetof(Status, objects) },
                { "Mappings", 't', offsetof(Status, mappings) },
                { "MappedBytes", 't', offsetof(Status, mapped_bytes) },
                { "FdStore", 'b', offsetof(Status, fd_store) },
                { "Restarts", 't', offsetof(Status, restarts) },
        };
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name, *contents = NULL;
                bool known = false;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(reply, NULL, &contents);
                if (r < 0)
                        return r;
                if (strcmp(name, "LastRestart") == 0 && contents && strcmp(contents, "a{sv}") == 0) {
                        known = true;
                        r = last_restart_parse(reply, s);
                }
                for (size_t i = 0; i < ELEMENTSOF(fields) && !known; i++) {
                        char sig[2] = { fields[i].type, '\0' };
                        void *p = (char *) s + fields[i].offset;

                        if (strcmp(name, fields[i].name) != 0 || !contents || strcmp(contents, sig) != 0)
                                continue;
                        known = true;
                        if (fields[i].type == 's')
                                r = read_string(reply, p);
                        else
                                r = sd_bus_message_read(reply, "v", sig, p);
                        if (p == &s->fd_store)
                                s->has_fd_store = true;
                        else if (p == &s->restarts)
                                s->has_restarts = true;
                }
                if (!known)
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static void status_print_json(const Status *s) {
        Json j = JSON_INIT;

        json_begin_object(&j, NULL);
        json_string(&j, "version", s->version);
        json_uint(&j, "protocol", s->protocol);
        json_string(&j, "backend", s->backend);
        json_uint(&j, "sessions", s->sessions);
        json_uint(&j, "total_sessions", s->total_sessions);
        json_uint(&j, "objects", s->objects);
        json_uint(&j, "mappings", s->mappings);
        json_uint(&j, "mapped_bytes", s->mapped_bytes);
        json_string(&j, "admin_group", s->admin_group);
        if (s->has_fd_store)
                json_bool(&j, "fd_store", s->fd_store);
        if (s->has_restarts)
                json_uint(&j, "restarts", s->restarts);
        if (s->has_last) {
                json_begin_object(&j, "last_restart");
                json_uint(&j, "sessions", s->last.sessions);
                json_uint(&j, "ended", s->last.ended);
                json_uint(&j, "objects", s->last.objects);
                json_uint(&j, "mappings", s->last.mappings);
                json_uint(&j, "mapped_bytes", s->last.mapped_bytes);
                json_uint(&j, "settled", s->last.settled);
                json_uint(&j, "usec", s->last.usec);
                json_end_object(&j);
        }
        json_end_object(&j);
        if (json_error(&j) >= 0)
                puts(json_text(&j));
        json_done(&j);
}

/* "4.2 ms" for people. */
static const char *format_usec(char *buf, size_t size, uint64_t usec) {
        if (usec < 1000)
                (void) snprintf(buf, size, "%" PRIu64 " us", usec);
        else if (usec < 10000)
                (void) snprintf(buf, size, "%.1f ms", (double) usec / 1000.0);
        else if (usec < 1000000)
                (void) snprintf(buf, size, "%.0f ms", (double) usec / 1000.0);
        else
                (void) snprintf(buf, size, "%.1f s", (double) usec / 1000000.0);
        return buf;
}

static const char *plural(uint64_t n, const char *one, const char *many) {
        return n == 1 ? one : many;
}

static void status_print_restarts(const Status *s) {
        char bytes[32], usec[32];

        if (s->has_restarts && s->has_last)
                printf("     Restarts: %" PRIu64 " (last: %" PRIu64 " %s restored, %" PRIu64 " ended, %" PRIu64
                       " %s, %" PRIu64 " %s, %s mapped, %" PRIu64 " interrupted %s settled, in %s)\n",
                       s->restarts, s->last.sessions, plural(s->last.sessions, "session", "sessions"),
                       s->last.ended, s->last.objects, plural(s->last.objects, "object", "objects"),
                       s->last.mappings, plural(s->last.mappings, "mapping", "mappings"),
                       ctl_format_bytes(bytes, sizeof(bytes), s->last.mapped_bytes),
                       s->last.settled, plural(s->last.settled, "request", "requests"),
                       format_usec(usec, sizeof(usec), s->last.usec));
        else if (s->has_restarts)
                printf("     Restarts: %" PRIu64 "\n", s->restarts);
        if (s->has_fd_store)
                printf("%s sessions survive a restart: %s\n", s->has_restarts ? "              " : "     Restarts:",
                       s->fd_store ? "yes (fd store)"
                                   : "no (no service manager fd store: a restart ends every session)");
}

static void status_print(const Status *s) {
        char bytes[32];

        printf("      Version: %s (protocol %" PRIu32 ")\n", s->version ?: "?", s->protocol);
        printf("      Backend: %s\n", s->backend ?: "?");
        printf("     Sessions: %" PRIu32 " live, %" PRIu64 " since start\n", s->sessions, s->total_sessions);
        printf("      Objects: %" PRIu64 "\n", s->objects);
        printf("     Mappings: %" PRIu64 "\n", s->mappings);
        printf("       Mapped: %s (%" PRIu64 " bytes)\n", ctl_format_bytes(bytes, sizeof(bytes), s->mapped_bytes),
               s->mapped_bytes);
        printf("  Admin group: %s\n", s->admin_group && s->admin_group[0] ? s->admin_group : "none (root only)");
        status_print_restarts(s);
}

int ctl_status(Ctl *ctl, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Status s = {};
        int r;

        r = sd_bus_call_method(ctl->bus, CTL_BUS_NAME, CTL_OBJECT_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", CTL_INTERFACE);
        if (r < 0)
                return ctl_call_failed(ctl, "status", r, &error);
        r = status_parse(reply, &s);
        if (r < 0) {
                status_done(&s);
                return ctl_call_failed(ctl, "status: cannot parse the reply", r, NULL);
        }
        if (ctl->json)
                status_print_json(&s);
        else
                status_print(&s);
        status_done(&s);
        return CTL_EXIT_OK;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-list.c - iommu-brokerctl sessions (and the listing code later lists
 * share).
 *
 * Owns: calling ListSessions, reading its array of a{sv} records (keys this
 * tool does not know are skipped), sorting by session id, and printing a
 * table for people or one JSON array.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"
#include "client/ctl/table.h"
#include "client/tool/json.h"
#include "common/macro.h"

typedef struct SessionRow {
        uint64_t id;
        uint32_t uid;
        uint32_t gid;
        uint32_t pid;
        char *unit;
        char *tenant;
        char *client;
        uint32_t ioases;
        uint64_t objects;
        uint64_t mappings;
        uint64_t mapped_bytes;
        uint64_t requests;
} SessionRow;

typedef struct SessionList {
        SessionRow *rows;
        size_t n;
} SessionList;

static void session_list_done(SessionList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->rows[i].unit);
                free(l->rows[i].tenant);
                free(l->rows[i].client);
        }
        free(l->rows);
        *l = (SessionList) {};
}

/* One dict entry's variant into the matching field of row; unknown keys are skipped. */
static int session_row_read(sd_bus_message *m, const char *key, SessionRow *row) {
        static const struct {
                const char *key;
                char type;
                size_t offset;
        } fields[] = {
                { "Id", 't', offsetof(SessionRow, id) },
                { "Uid", 'u', offsetof(SessionRow, uid) },
                { "Gid", 'u', offsetof(SessionRow, gid) },
                { "Pid", 'u', offsetof(SessionRow, pid) },
                { "Unit", 's', offsetof(SessionRow, unit) },
                { "Tenant", 's', offsetof(SessionRow, tenant) },
                { "Client", 's', offsetof(SessionRow, client) },
                { "IoAddressSpaces", 'u', offsetof(SessionRow, ioases) },
                { "Objects", 't', offsetof(SessionRow, objects) },
                { "Mappings", 't', offsetof(SessionRow, mappings) },
                { "MappedBytes", 't', offsetof(SessionRow, mapped_bytes) },
                { "Requests", 't', offsetof(SessionRow, requests) },
        };
        const char *contents = NULL;
        int r;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                char sig[2] = { fields[i].type, '\0' };
                void *p = (char *) row + fields[i].offset;

                if (strcmp(key, fields[i].key) != 0 || !contents || strcmp(contents, sig) != 0)
                        continue;
                if (fields[i].type == 's') {
                        const char *s;
                        char **dst = p;

                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r < 0)
                                return r;
                        free(*dst);
                        *dst = strdup(s);
                        return *dst ? 0 : -ENOMEM;
                }
                return sd_bus_message_read(m, "v", sig, p);
        }
        return sd_bus_message_skip(m, "v");
}

static int session_list_parse(sd_bus_message *reply, SessionList *l) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'a', "{sv}")) > 0) {
                SessionRow *rows = realloc(l->rows, (l->n + 1) * sizeof(SessionRow));

                if (!rows)
                        return -ENOMEM;
                l->rows = rows;
                l->rows[l->n++] = (SessionRow) {};
                while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                        const char *key;

                        r = sd_bus_message_read(reply, "s", &key);
                        if (r >= 0)
                                r = session_row_read(reply, key, &l->rows[l->n - 1]);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r < 0)
                                return r;
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static int session_row_compare(const void *a, const void *b) {
        const SessionRow *x = a, *y = b;

        return x->id < y->id ? -1 : x->id > y->id;
}

static int sessions_print_json(const SessionList *l) {
        Json j = JSON_INIT;
        int r;

        json_begin_array(&j, NULL);
        for (size_t i = 0; i < l->n; i++) {
                const SessionRow *s = &l->rows[i];

                json_begin_object(&j, NULL);
                json_uint(&j, "id", s->id);
                json_uint(&j, "uid", s->uid);
                json_uint(&j, "gid", s->gid);
                json_uint(&j, "pid", s->pid);
                if (s->unit)
                        json_string(&j, "unit", s->unit);
                if (s->tenant)
                        json_string(&j, "tenant", s->tenant);
                if (s->client)
                        json_string(&j, "client", s->client);
                json_uint(&j, "ioases", s->ioases);
                json_uint(&j, "objects", s->objects);
                json_uint(&j, "mappings", s->mappings);
                json_uint(&j, "mapped_bytes", s->mapped_bytes);
                json_uint(&j, "requests", s->requests);
                json_end_object(&j);
        }
        json_end_array(&j);
        r = json_error(&j);
        if (r >= 0)
                puts(json_text(&j));
        json_done(&j);
        return r;
}

static int sessions_print_table(const SessionList *l) {
        static const char *const names[] = { "ID", "TENANT", "UID", "PID", "UNIT", "CLIENT", "IOAS", "OBJECTS",
                                             "MAPPINGS", "MAPPED" };
        static const bool right[] = { true, false, true, true, false, false, true, true, true, true };
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        if (l->n == 0) {
                printf("No sessions.\n");
                return 0;
        }
        r = table_new(&t, names, right, ELEMENTSOF(names));
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n && r >= 0; i++) {
                const SessionRow *s = &l->rows[i];
                char bytes[32];

                r = table_addf(t, "%" PRIu64, s->id);
                if (r >= 0)
                        r = table_add(t, s->tenant);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, s->uid);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, s->pid);
                if (r >= 0)
                        r = table_add(t, s->unit);
                if (r >= 0)
                        r = table_add(t, s->client);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, s->ioases);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu64, s->objects);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu64, s->mappings);
                if (r >= 0)
                        r = table_add(t, ctl_format_bytes(bytes, sizeof(bytes), s->mapped_bytes));
        }
        if (r < 0)
                return r;
        table_print(t, stdout);
        printf("\n%zu session%s listed.\n", l->n, l->n == 1 ? "" : "s");
        return 0;
}

int ctl_sessions(Ctl *ctl, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        SessionList l = {};
        int r;

        r = sd_bus_call_method(ctl->bus, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE, "ListSessions", &error,
                               &reply, NULL);
        if (r < 0)
                return ctl_call_failed(ctl, "sessions", r, &error);
        r = session_list_parse(reply, &l);
        if (r >= 0) {
                if (l.n > 1)
                        qsort(l.rows, l.n, sizeof(SessionRow), session_row_compare);
                r = ctl->json ? sessions_print_json(&l) : sessions_print_table(&l);
        }
        session_list_done(&l);
        if (r < 0)
                return ctl_call_failed(ctl, "sessions", r, NULL);
        return CTL_EXIT_OK;
}

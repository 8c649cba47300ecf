/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-list.c - iommu-brokerctl sessions, and the listing code every list
 * shares (list.h): calling a List* method, reading its records by a field
 * table, sorting, and the common table cells.
 *
 * Owns: ListSessions' keys as this tool reads them, sorting by session id,
 * and printing a table for people or one JSON array.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/ctl.h"
#include "client/ctl/list.h"
#include "client/ctl/table.h"
#include "client/tool/json.h"
#include "common/macro.h"

/* ---------------------------------------------------------------- the shared list reader */

void *list_row(const List *l, size_t i) {
        return (char *) l->rows + i * l->row_size;
}

void list_sort(List *l, int (*compare)(const void *, const void *)) {
        if (l->n > 1)
                qsort(l->rows, l->n, l->row_size, compare);
}

static void list_strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

void list_done(List *l) {
        for (size_t i = 0; i < l->n; i++)
                for (size_t f = 0; f < l->n_fields; f++) {
                        void *p = (char *) list_row(l, i) + l->fields[f].offset;

                        if (l->fields[f].type == 's')
                                free(*(char **) p);
                        else if (l->fields[f].type == 'S')
                                list_strv_free(*(char ***) p);
                }
        free(l->rows);
        l->rows = NULL;
        l->n = 0;
}

/* The value of one dict entry into its field of row; unknown keys and unexpected types are skipped. */
static int list_read_value(sd_bus_message *m, const List *l, const char *key, void *row) {
        const char *contents = NULL;
        int r;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_fields; i++) {
                const ListField *f = &l->fields[i];
                const char *sig = f->type == 'S' ? "as" : (char[]) { f->type, '\0' };
                void *p = (char *) row + f->offset;

                if (strcmp(key, f->key) != 0 || !contents || strcmp(contents, sig) != 0)
                        continue;
                if (f->type == 's') {
                        const char *s;
                        char **dst = p;

                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r < 0)
                                return r;
                        free(*dst);
                        *dst = strdup(s);
                        return *dst ? 0 : -ENOMEM;
                }
                if (f->type == 'S') {
                        char ***dst = p;
                        char **v = NULL;

                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(m, &v);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r < 0) {
                                list_strv_free(v);
                                return r;
                        }
                        list_strv_free(*dst);
                        *dst = v;
                        return 0;
                }
                return sd_bus_message_read(m, "v", sig, p);
        }
        return sd_bus_message_skip(m, "v");
}

static int list_parse(sd_bus_message *reply, List *l, const void *template) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'a', "{sv}")) > 0) {
                void *rows = realloc(l->rows, (l->n + 1) * l->row_size);
                void *row;

                if (!rows)
                        return -ENOMEM;
                l->rows = rows;
                row = list_row(l, l->n++);
                if (template)
                        memcpy(row, template, l->row_size);
                else
                        memset(row, 0, l->row_size);
                while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                        const char *key;

                        r = sd_bus_message_read(reply, "s", &key);
                        if (r >= 0)
                                r = list_read_value(reply, l, key, row);
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

int list_call(Ctl *ctl, const char *what, const char *method, List *l, const void *template) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(ctl->bus, CTL_BUS_NAME, CTL_OBJECT_PATH, CTL_INTERFACE, method, &error, &reply,
                               NULL);
        if (r < 0)
                return ctl_call_failed(ctl, what, r, &error);
        r = list_parse(reply, l, template);
        if (r < 0) {
                list_done(l);
                return ctl_call_failed(ctl, what, r, NULL);
        }
        return CTL_EXIT_OK;
}

int table_add_usage(Table *t, uint64_t used, uint64_t limit, bool bytes) {
        char u[32], m[32];

        if (!bytes)
                return limit == UINT64_MAX ? table_addf(t, "%" PRIu64 "/infinity", used)
                                           : table_addf(t, "%" PRIu64 "/%" PRIu64, used, limit);
        return table_addf(t, "%s/%s", ctl_format_bytes(u, sizeof(u), used),
                          limit == UINT64_MAX ? "infinity" : ctl_format_bytes(m, sizeof(m), limit));
}

void list_print_table(const Table *t, const char *singular, const char *plural) {
        size_t n = table_rows(t);

        table_print(t, stdout);
        printf("\n%zu %s listed.\n", n, n == 1 ? singular : plural);
}

/* ---------------------------------------------------------------- sessions */

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

static const ListField session_fields[] = {
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

static int session_row_compare(const void *a, const void *b) {
        const SessionRow *x = a, *y = b;

        return LIST_CMP(x->id, y->id);
}

static int sessions_print_json(const List *l) {
        Json j = JSON_INIT;
        int r;

        json_begin_array(&j, NULL);
        for (size_t i = 0; i < l->n; i++) {
                const SessionRow *s = list_row(l, i);

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

static int sessions_print_table(const List *l) {
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
                const SessionRow *s = list_row(l, i);
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
        list_print_table(t, "session", "sessions");
        return 0;
}

int ctl_sessions(Ctl *ctl, int argc, char **argv) {
        List l = LIST_INIT(session_fields, SessionRow);
        int r;

        r = list_call(ctl, "sessions", "ListSessions", &l, /* template= */ NULL);
        if (r != CTL_EXIT_OK)
                return r;
        list_sort(&l, session_row_compare);
        r = ctl->json ? sessions_print_json(&l) : sessions_print_table(&l);
        list_done(&l);
        if (r < 0)
                return ctl_call_failed(ctl, "sessions", r, NULL);
        return CTL_EXIT_OK;
}

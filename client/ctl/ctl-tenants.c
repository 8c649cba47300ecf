/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-tenants.c - iommu-brokerctl tenants.
 *
 * Owns: ListTenants' keys as this tool reads them, and printing every tenant
 * with its usage against its limits, in the broker's order (the policy's),
 * as a table for people or one JSON array.  A limit of UINT64_MAX on the bus
 * means none: "infinity" in the table, no "limit" key in JSON.
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

/* The resources, in the order of the table's columns and the JSON keys. */
enum {
        TENANT_PINNED,
        TENANT_IOAS,
        TENANT_HWPT,
        TENANT_MAPPINGS,
        TENANT_PASIDS,
        TENANT_OBJECTS,
        _TENANT_RESOURCE_MAX,
};

static const char *const tenant_json_keys[_TENANT_RESOURCE_MAX] = {
        [TENANT_PINNED] = "pinned_bytes",
        [TENANT_IOAS] = "ioas",
        [TENANT_HWPT] = "hwpt",
        [TENANT_MAPPINGS] = "mappings",
        [TENANT_PASIDS] = "pasids",
        [TENANT_OBJECTS] = "objects",
};

typedef struct TenantRow {
        char *name;
        uint32_t sessions;
        int in_policy;
        uint64_t used[_TENANT_RESOURCE_MAX];
        uint64_t limit[_TENANT_RESOURCE_MAX];
        char **devices;
} TenantRow;

static const ListField tenant_fields[] = {
        { "Name", 's', offsetof(TenantRow, name) },
        { "Sessions", 'u', offsetof(TenantRow, sessions) },
        { "InPolicy", 'b', offsetof(TenantRow, in_policy) },
        { "PinnedMemory", 't', offsetof(TenantRow, used[TENANT_PINNED]) },
        { "PinnedMemoryMax", 't', offsetof(TenantRow, limit[TENANT_PINNED]) },
        { "IOAS", 't', offsetof(TenantRow, used[TENANT_IOAS]) },
        { "IOASMax", 't', offsetof(TenantRow, limit[TENANT_IOAS]) },
        { "HWPT", 't', offsetof(TenantRow, used[TENANT_HWPT]) },
        { "HWPTMax", 't', offsetof(TenantRow, limit[TENANT_HWPT]) },
        { "Mappings", 't', offsetof(TenantRow, used[TENANT_MAPPINGS]) },
        { "MappingsMax", 't', offsetof(TenantRow, limit[TENANT_MAPPINGS]) },
        { "PASIDs", 't', offsetof(TenantRow, used[TENANT_PASIDS]) },
        { "PASIDMax", 't', offsetof(TenantRow, limit[TENANT_PASIDS]) },
        { "Objects", 't', offsetof(TenantRow, used[TENANT_OBJECTS]) },
        { "ObjectsMax", 't', offsetof(TenantRow, limit[TENANT_OBJECTS]) },
        { "Devices", 'S', offsetof(TenantRow, devices) },
};

static int tenants_print_json(const List *l) {
        Json j = JSON_INIT;
        int r;

        json_begin_array(&j, NULL);
        for (size_t i = 0; i < l->n; i++) {
                const TenantRow *t = list_row(l, i);

                json_begin_object(&j, NULL);
                json_string(&j, "name", t->name ?: "");
                json_uint(&j, "sessions", t->sessions);
                json_bool(&j, "in_policy", t->in_policy);
                for (size_t k = 0; k < _TENANT_RESOURCE_MAX; k++) {
                        json_begin_object(&j, tenant_json_keys[k]);
                        json_uint(&j, "used", t->used[k]);
                        if (t->limit[k] != UINT64_MAX)
                                json_uint(&j, "limit", t->limit[k]);
                        json_end_object(&j);
                }
                json_begin_array(&j, "devices");
                for (char **d = t->devices; d && *d; d++)
                        json_string(&j, NULL, *d);
                json_end_array(&j);
                json_end_object(&j);
        }
        json_end_array(&j);
        r = json_error(&j);
        if (r >= 0)
                puts(json_text(&j));
        json_done(&j);
        return r;
}

/* "0000:03:*.* group:7", or "-" for none. */
static int table_add_devices(Table *t, char **devices) {
        _cleanup_free_ char *s = NULL;
        size_t len = 0;

        for (char **d = devices; d && *d; d++)
                len += strlen(*d) + 1;
        if (len == 0)
                return table_add(t, NULL);
        s = calloc(1, len);
        if (!s)
                return -ENOMEM;
        for (char **d = devices; d && *d; d++) {
                if (d != devices)
                        strcat(s, " ");
                strcat(s, *d);
        }
        return table_add(t, s);
}

static int tenants_print_table(const List *l) {
        static const char *const names[] = { "TENANT", "SESSIONS", "PINNED", "IOAS", "HWPT", "MAPPINGS", "PASIDS",
                                             "OBJECTS", "DEVICES" };
        static const bool right[] = { false, true, true, true, true, true, true, true, false };
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        if (l->n == 0) {
                printf("No tenants.\n");
                return 0;
        }
        r = table_new(&t, names, right, ELEMENTSOF(names));
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n && r >= 0; i++) {
                const TenantRow *row = list_row(l, i);

                r = table_add(t, row->name);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, row->sessions);
                for (size_t k = 0; r >= 0 && k < _TENANT_RESOURCE_MAX; k++)
                        r = table_add_usage(t, row->used[k], row->limit[k], /* bytes= */ k == TENANT_PINNED);
                if (r >= 0)
                        r = table_add_devices(t, row->devices);
        }
        if (r < 0)
                return r;
        list_print_table(t, "tenant", "tenants");
        return 0;
}

int ctl_tenants(Ctl *ctl, int argc, char **argv) {
        List l = LIST_INIT(tenant_fields, TenantRow);
        TenantRow template = {};
        int r;

        /* A limit the broker leaves out is no limit. */
        for (size_t k = 0; k < _TENANT_RESOURCE_MAX; k++)
                template.limit[k] = UINT64_MAX;
        r = list_call(ctl, "tenants", "ListTenants", &l, &template);
        if (r != CTL_EXIT_OK)
                return r;
        r = ctl->json ? tenants_print_json(&l) : tenants_print_table(&l);
        list_done(&l);
        if (r < 0)
                return ctl_call_failed(ctl, "tenants", r, NULL);
        return CTL_EXIT_OK;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-delegations.c - iommu-brokerctl delegations, iommu-brokerctl end-delegation ID.
 *
 * Owns: ListDelegations' keys as this tool reads them and their table or
 * JSON; end-delegation's words for ctl_end_by_id() (ctl-kill-session.c),
 * whose EndDelegation kills the VMM that holds the devices.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "client/ctl/ctl.h"
#include "client/ctl/list.h"
#include "client/ctl/table.h"
#include "client/tool/json.h"
#include "common/macro.h"

typedef struct DelegationRow {
        uint64_t id;
        char *tenant;
        uint32_t pid;
        uint32_t uid;
        uint64_t memlock_limit;         /* 0: left as it was */
        uint64_t started_usec;
        char **devices;
} DelegationRow;

static const ListField delegation_fields[] = {
        { "Id", 't', offsetof(DelegationRow, id) },
        { "Tenant", 's', offsetof(DelegationRow, tenant) },
        { "Pid", 'u', offsetof(DelegationRow, pid) },
        { "Uid", 'u', offsetof(DelegationRow, uid) },
        { "MemlockLimit", 't', offsetof(DelegationRow, memlock_limit) },
        { "Started", 't', offsetof(DelegationRow, started_usec) },
        { "Devices", 'S', offsetof(DelegationRow, devices) },
};

static int delegation_row_compare(const void *a, const void *b) {
        const DelegationRow *x = a, *y = b;

        return LIST_CMP(x->id, y->id);
}

static int delegations_print_json(const List *l) {
        Json j = JSON_INIT;
        int r;

        json_begin_array(&j, NULL);
        for (size_t i = 0; i < l->n; i++) {
                const DelegationRow *d = list_row(l, i);

                json_begin_object(&j, NULL);
                json_uint(&j, "id", d->id);
                json_string(&j, "tenant", d->tenant ?: "");
                json_uint(&j, "pid", d->pid);
                json_uint(&j, "uid", d->uid);
                if (d->memlock_limit)
                        json_uint(&j, "memlock_limit", d->memlock_limit);
                json_uint(&j, "started_usec", d->started_usec);
                json_begin_array(&j, "devices");
                for (char **s = d->devices; s && *s; s++)
                        json_string(&j, NULL, *s);
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

static int delegations_print_table(const List *l) {
        static const char *const names[] = { "ID", "TENANT", "UID", "PID", "MEMLOCK", "SINCE", "DEVICES" };
        static const bool right[] = { true, false, true, true, true, false, false };
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        if (l->n == 0) {
                printf("No delegations.\n");
                return 0;
        }
        r = table_new(&t, names, right, ELEMENTSOF(names));
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n && r >= 0; i++) {
                const DelegationRow *d = list_row(l, i);
                time_t sec = (time_t) (d->started_usec / 1000000U);
                char since[32] = "-", devices[256] = "";
                struct tm tm;
                size_t n = 0;

                if (localtime_r(&sec, &tm))
                        (void) strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
                for (char **s = d->devices; s && *s && n < sizeof(devices); s++)
                        n += (size_t) snprintf(devices + n, sizeof(devices) - n, "%s%s", n ? "," : "", *s);
                r = table_addf(t, "%" PRIu64, d->id);
                if (r >= 0)
                        r = table_add(t, d->tenant);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, d->uid);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, d->pid);
                if (r >= 0)
                        r = d->memlock_limit ? table_addf(t, "%" PRIu64 "M", d->memlock_limit >> 20)
                                             : table_add(t, NULL);
                if (r >= 0)
                        r = table_add(t, since);
                if (r >= 0)
                        r = table_add(t, devices);
        }
        if (r < 0)
                return r;
        list_print_table(t, "delegation", "delegations");
        return 0;
}

int ctl_delegations(Ctl *ctl, int argc, char **argv) {
        List l = LIST_INIT(delegation_fields, DelegationRow);
        int r;

        r = list_call(ctl, "delegations", "ListDelegations", &l, NULL);
        if (r != CTL_EXIT_OK)
                return r;
        list_sort(&l, delegation_row_compare);
        r = ctl->json ? delegations_print_json(&l) : delegations_print_table(&l);
        list_done(&l);
        if (r < 0)
                return ctl_call_failed(ctl, "delegations", r, NULL);
        return CTL_EXIT_OK;
}

int ctl_end_delegation(Ctl *ctl, int argc, char **argv) {
        static const CtlEnd end = {
                .command = "end-delegation",
                .object = "delegation",
                .listing = "delegations",
                .method = "EndDelegation",
                .no_such_error = CTL_ERROR_NO_SUCH_DELEGATION,
                .done = "ended: its VMM was killed; its devices return once it is gone.",
        };

        return ctl_end_by_id(ctl, &end, argv[1]);
}

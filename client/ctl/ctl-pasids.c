/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-pasids.c - iommu-brokerctl pasids.
 *
 * Owns: ListPasids' keys as this tool reads them, sorting by session,
 * device and vPASID, and printing every attached PASID (the guest's vPASID,
 * the device's physical PASID, the page table, the PASID space) as a table
 * for people or one JSON array.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client/ctl/ctl.h"
#include "client/ctl/list.h"
#include "client/ctl/table.h"
#include "client/tool/json.h"
#include "common/macro.h"

typedef struct PasidRow {
        uint64_t session;
        char *tenant;
        uint32_t uid;
        uint32_t pid;
        char *device;
        uint32_t vpasid;
        uint32_t pasid;
        uint32_t pt;
        char *mode;
} PasidRow;

static const ListField pasid_fields[] = {
        { "Session", 't', offsetof(PasidRow, session) },
        { "Tenant", 's', offsetof(PasidRow, tenant) },
        { "Uid", 'u', offsetof(PasidRow, uid) },
        { "Pid", 'u', offsetof(PasidRow, pid) },
        { "Device", 's', offsetof(PasidRow, device) },
        { "VPasid", 'u', offsetof(PasidRow, vpasid) },
        { "Pasid", 'u', offsetof(PasidRow, pasid) },
        { "PageTable", 'u', offsetof(PasidRow, pt) },
        { "Mode", 's', offsetof(PasidRow, mode) },
};

static int pasid_row_compare(const void *a, const void *b) {
        const PasidRow *x = a, *y = b;
        int c;

        if (x->session != y->session)
                return LIST_CMP(x->session, y->session);
        c = strcmp(x->device ?: "", y->device ?: "");
        if (c != 0)
                return c;
        return LIST_CMP(x->vpasid, y->vpasid);
}

static int pasids_print_json(const List *l) {
        Json j = JSON_INIT;
        int r;

        json_begin_array(&j, NULL);
        for (size_t i = 0; i < l->n; i++) {
                const PasidRow *p = list_row(l, i);

                json_begin_object(&j, NULL);
                json_uint(&j, "session", p->session);
                if (p->tenant)
                        json_string(&j, "tenant", p->tenant);
                json_uint(&j, "uid", p->uid);
                json_uint(&j, "pid", p->pid);
                json_string(&j, "device", p->device ?: "");
                json_uint(&j, "vpasid", p->vpasid);
                json_uint(&j, "pasid", p->pasid);
                json_uint(&j, "pt", p->pt);
                if (p->mode)
                        json_string(&j, "mode", p->mode);
                json_end_object(&j);
        }
        json_end_array(&j);
        r = json_error(&j);
        if (r >= 0)
                puts(json_text(&j));
        json_done(&j);
        return r;
}

static int pasids_print_table(const List *l) {
        static const char *const names[] = { "SESSION", "TENANT", "DEVICE", "VPASID", "PASID", "PT", "MODE" };
        static const bool right[] = { true, false, false, true, true, true, false };
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        if (l->n == 0) {
                printf("No PASIDs attached.\n");
                return 0;
        }
        r = table_new(&t, names, right, ELEMENTSOF(names));
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n && r >= 0; i++) {
                const PasidRow *p = list_row(l, i);

                r = table_addf(t, "%" PRIu64, p->session);
                if (r >= 0)
                        r = table_add(t, p->tenant);
                if (r >= 0)
                        r = table_add(t, p->device);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, p->vpasid);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, p->pasid);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, p->pt);
                if (r >= 0)
                        r = table_add(t, p->mode);
        }
        if (r < 0)
                return r;
        list_print_table(t, "PASID", "PASIDs");
        return 0;
}

int ctl_pasids(Ctl *ctl, int argc, char **argv) {
        List l = LIST_INIT(pasid_fields, PasidRow);
        int r;

        r = list_call(ctl, "pasids", "ListPasids", &l, /* template= */ NULL);
        if (r != CTL_EXIT_OK)
                return r;
        list_sort(&l, pasid_row_compare);
        r = ctl->json ? pasids_print_json(&l) : pasids_print_table(&l);
        list_done(&l);
        if (r < 0)
                return ctl_call_failed(ctl, "pasids", r, NULL);
        return CTL_EXIT_OK;
}

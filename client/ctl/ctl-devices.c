/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-devices.c - iommu-brokerctl devices.
 *
 * Owns: ListDevices' keys as this tool reads them, sorting by PCI address,
 * and printing every device of the broker's inventory with the session
 * holding it (or "free") as a table for people or one JSON array.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client/ctl/ctl.h"
#include "client/ctl/list.h"
#include "client/ctl/table.h"
#include "client/tool/json.h"
#include "common/macro.h"

typedef struct DeviceRow {
        char *name;
        uint16_t vendor_id;
        uint16_t device_id;
        int32_t iommu_group;            /* -1: unknown */
        uint32_t pasid_width;
        uint64_t session;               /* 0: free */
        char *tenant;
        uint32_t uid;
        uint32_t pid;
        uint32_t held_by_pid;           /* quarantined: the process holding its fd; 0: not quarantined */
        uint32_t held_by_uid;
        uint64_t held_by_session;
        uint64_t delegation;            /* delegated to a VMM: its id; 0: not delegated */
        uint32_t delegated_to_pid;
        uint32_t delegated_to_uid;
} DeviceRow;

static const ListField device_fields[] = {
        { "Name", 's', offsetof(DeviceRow, name) },
        { "VendorId", 'q', offsetof(DeviceRow, vendor_id) },
        { "DeviceId", 'q', offsetof(DeviceRow, device_id) },
        { "IommuGroup", 'i', offsetof(DeviceRow, iommu_group) },
        { "PasidWidth", 'u', offsetof(DeviceRow, pasid_width) },
        { "Session", 't', offsetof(DeviceRow, session) },
        { "Tenant", 's', offsetof(DeviceRow, tenant) },
        { "Uid", 'u', offsetof(DeviceRow, uid) },
        { "Pid", 'u', offsetof(DeviceRow, pid) },
        { "HeldByPid", 'u', offsetof(DeviceRow, held_by_pid) },
        { "HeldByUid", 'u', offsetof(DeviceRow, held_by_uid) },
        { "HeldBySession", 't', offsetof(DeviceRow, held_by_session) },
        { "Delegation", 't', offsetof(DeviceRow, delegation) },
        { "DelegatedToPid", 'u', offsetof(DeviceRow, delegated_to_pid) },
        { "DelegatedToUid", 'u', offsetof(DeviceRow, delegated_to_uid) },
};

static int device_row_compare(const void *a, const void *b) {
        const DeviceRow *x = a, *y = b;

        return strcmp(x->name ?: "", y->name ?: "");
}

static int devices_print_json(const List *l) {
        Json j = JSON_INIT;
        char id[8];
        int r;

        json_begin_array(&j, NULL);
        for (size_t i = 0; i < l->n; i++) {
                const DeviceRow *d = list_row(l, i);

                json_begin_object(&j, NULL);
                json_string(&j, "name", d->name ?: "");
                /* As iommu-broker-client's device-list writes them. */
                (void) snprintf(id, sizeof(id), "0x%04x", d->vendor_id);
                json_string(&j, "vendor", id);
                (void) snprintf(id, sizeof(id), "0x%04x", d->device_id);
                json_string(&j, "device", id);
                if (d->iommu_group >= 0)
                        json_int(&j, "iommu_group", d->iommu_group);
                json_uint(&j, "pasid_width", d->pasid_width);
                json_bool(&j, "free", d->session == 0 && d->held_by_pid == 0 && d->delegation == 0);
                if (d->delegation) {
                        json_uint(&j, "delegation", d->delegation);
                        json_uint(&j, "delegated_to_pid", d->delegated_to_pid);
                        json_uint(&j, "delegated_to_uid", d->delegated_to_uid);
                }
                json_bool(&j, "quarantined", d->held_by_pid != 0);
                if (d->held_by_pid) {
                        json_uint(&j, "held_by_pid", d->held_by_pid);
                        json_uint(&j, "held_by_uid", d->held_by_uid);
                        json_uint(&j, "held_by_session", d->held_by_session);
                }
                if (d->session) {
                        json_uint(&j, "session", d->session);
                        if (d->tenant)
                                json_string(&j, "tenant", d->tenant);
                        json_uint(&j, "uid", d->uid);
                        json_uint(&j, "pid", d->pid);
                }
                json_end_object(&j);
        }
        json_end_array(&j);
        r = json_error(&j);
        if (r >= 0)
                puts(json_text(&j));
        json_done(&j);
        return r;
}

static int devices_print_table(const List *l) {
        static const char *const names[] = { "DEVICE", "VENDOR:DEVICE", "GROUP", "PASID-BITS", "SESSION",
                                             "TENANT", "UID", "PID" };
        static const bool right[] = { false, false, true, true, true, false, true, true };
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        if (l->n == 0) {
                printf("No devices.\n");
                return 0;
        }
        r = table_new(&t, names, right, ELEMENTSOF(names));
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n && r >= 0; i++) {
                const DeviceRow *d = list_row(l, i);

                r = table_add(t, d->name);
                if (r >= 0)
                        r = table_addf(t, "%04x:%04x", d->vendor_id, d->device_id);
                if (r >= 0)
                        r = d->iommu_group >= 0 ? table_addf(t, "%" PRIi32, d->iommu_group) : table_add(t, NULL);
                /* The PASID width in bits; "-" for a device without PASID capability. */
                if (r >= 0)
                        r = d->pasid_width ? table_addf(t, "%" PRIu32, d->pasid_width) : table_add(t, NULL);
                if (r >= 0 && d->delegation) {
                        /* the UID and PID columns name the VMM it went to */
                        r = table_addf(t, "delegated %" PRIu64, d->delegation);
                        if (r >= 0)
                                r = table_add(t, NULL);
                        if (r >= 0)
                                r = table_addf(t, "%" PRIu32, d->delegated_to_uid);
                        if (r >= 0)
                                r = table_addf(t, "%" PRIu32, d->delegated_to_pid);
                        continue;
                }
                if (r >= 0 && d->session == 0 && d->held_by_pid) {
                        /* the UID and PID columns name the holder of the fd */
                        r = table_add(t, "quarantined");
                        if (r >= 0)
                                r = table_add(t, NULL);
                        if (r >= 0)
                                r = table_addf(t, "%" PRIu32, d->held_by_uid);
                        if (r >= 0)
                                r = table_addf(t, "%" PRIu32, d->held_by_pid);
                        continue;
                }
                if (r >= 0 && d->session == 0) {
                        r = table_add(t, "free");
                        for (unsigned k = 0; r >= 0 && k < 3; k++)
                                r = table_add(t, NULL);
                        continue;
                }
                if (r >= 0)
                        r = table_addf(t, "%" PRIu64, d->session);
                if (r >= 0)
                        r = table_add(t, d->tenant);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, d->uid);
                if (r >= 0)
                        r = table_addf(t, "%" PRIu32, d->pid);
        }
        if (r < 0)
                return r;
        list_print_table(t, "device", "devices");
        return 0;
}

int ctl_devices(Ctl *ctl, int argc, char **argv) {
        List l = LIST_INIT(device_fields, DeviceRow);
        const DeviceRow template = { .iommu_group = -1 };
        int r;

        r = list_call(ctl, "devices", "ListDevices", &l, &template);
        if (r != CTL_EXIT_OK)
                return r;
        list_sort(&l, device_row_compare);
        r = ctl->json ? devices_print_json(&l) : devices_print_table(&l);
        list_done(&l);
        if (r < 0)
                return ctl_call_failed(ctl, "devices", r, NULL);
        return CTL_EXIT_OK;
}

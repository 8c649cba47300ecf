/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-device-slots.c - the broker's device table (object/device.h): a
 * quarantined device is probed by one caller at a time.
 *
 * A probe waits off the loop, and meanwhile another request may rescan the
 * devices (a new table) and probe the quarantined ones again.  Had a second
 * probe of the same device started then, it could bind the device after the
 * first had freed it and a session had opened it, and fail that session's
 * bind.  A fake backend stands in for the kernel: its probe of the
 * quarantined device, as if waiting, rescans and probes the table again
 * itself, as the other request would.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "object/device.h"
#include "tests/lib/tests.h"

#define QUARANTINED "0000:00:02.0"
#define FREE_DEVICE "0000:00:03.0"

static DeviceTable table;
static unsigned probes, nested;
static bool bound_elsewhere;            /* the kernel finds the quarantined device still bound */

static int fake_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n) {
        BackendDeviceInfo *list = calloc(2, sizeof(*list));

        (void) b;
        if (!list)
                return -ENOMEM;
        (void) snprintf(list[0].name, sizeof(list[0].name), "%s", QUARANTINED);
        (void) snprintf(list[1].name, sizeof(list[1].name), "%s", FREE_DEVICE);
        *ret = list;
        *ret_n = 2;
        return 0;
}

static int fake_probe(Backend *b, const BackendDeviceInfo *info) {
        if (strcmp(info->name, QUARANTINED) != 0)
                return 0;
        probes++;
        if (nested++ == 0) {
                /* another request, while this probe waits: a rescan, then its own probes */
                if (device_table_refresh(&table, b) < 0)
                        return -EIO;
                (void) device_table_probe(&table, b, NULL, NULL);
        }
        return bound_elsewhere ? -EBUSY : 0;
}

static const BackendOps fake_ops = {
        .name = "fake",
        .device_list = fake_list,
        .device_probe = fake_probe,
};

static Backend fake = { .ops = &fake_ops };

static void table_setup(void) {
        device_table_clear(&table);
        ASSERT_OK(device_table_refresh(&table, &fake));
        ASSERT_EQ(table.n_slots, 2);
        table.slots[0].held_by = 4242;
        table.slots[0].held_uid = 1000;
        probes = nested = 0;
}

TEST(a_quarantined_device_is_probed_once_while_a_probe_waits) {
        table_setup();
        bound_elsewhere = false;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 1);
        ASSERT_EQ(probes, 1);
        ASSERT_TRUE(!device_slot_quarantined(device_table_find(&table, QUARANTINED)));
        ASSERT_TRUE(!device_table_find(&table, QUARANTINED)->probing);
        device_table_clear(&table);
}

TEST(a_device_still_bound_stays_quarantined_and_is_probed_again_later) {
        DeviceSlot *slot;

        table_setup();
        bound_elsewhere = true;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 0);
        ASSERT_EQ(probes, 1);
        slot = device_table_find(&table, QUARANTINED);
        ASSERT_TRUE(slot && device_slot_quarantined(slot) && !slot->probing);
        ASSERT_EQ(slot->held_by, 4242);
        /* the mark is gone: the next probe runs, and frees it once the copy is closed */
        bound_elsewhere = false;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 1);
        ASSERT_EQ(probes, 2);
        device_table_clear(&table);
}

TESTS_MAIN(NULL, NULL)

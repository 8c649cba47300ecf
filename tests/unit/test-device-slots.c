/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-device-slots.c - the broker's device table (object/device.h): a
 * quarantined device is probed by one caller at a time, and one whose probe
 * could not run is kept out without blaming anyone.
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
static int probe_result;                /* the probe's answer: 0 free, -EBUSY bound elsewhere, else it could not run */

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
        if (strcmp(info->name, QUARANTINED) == 0) {
                probes++;
                if (nested++ == 0) {
                        /* another request, while this probe waits: a rescan, then its own probes */
                        if (device_table_refresh(&table, b) < 0)
                                return -EIO;
                        (void) device_table_probe(&table, b, NULL, NULL);
                }
        }
        return probe_result;
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
        probe_result = 0;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 1);
        ASSERT_EQ(probes, 1);
        ASSERT_TRUE(!device_slot_quarantined(device_table_find(&table, QUARANTINED)));
        ASSERT_TRUE(!device_table_find(&table, QUARANTINED)->probing);
        device_table_clear(&table);
}

TEST(a_device_still_bound_stays_quarantined_and_is_probed_again_later) {
        DeviceSlot *slot;

        table_setup();
        probe_result = -EBUSY;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 0);
        ASSERT_EQ(probes, 1);
        slot = device_table_find(&table, QUARANTINED);
        ASSERT_TRUE(slot && device_slot_quarantined(slot) && !slot->probing);
        ASSERT_EQ(slot->held_by, 4242);
        ASSERT_EQ(slot->probe_error, 0);
        /* the mark is gone: the next probe runs, and frees it once the copy is closed */
        probe_result = 0;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 1);
        ASSERT_EQ(probes, 2);
        device_table_clear(&table);
}

/*
 * A probe that cannot run (the broker out of fds) tells nothing: the device
 * stays out, with the probe's error and nobody blamed for it, until a probe
 * runs; one that then finds a bound copy blames its holder again.
 */
TEST(a_probe_that_cannot_run_keeps_the_device_out_and_blames_nobody) {
        DeviceSlot *slot;

        table_setup();
        nested = 1;             /* no second caller here */
        probe_result = -EMFILE;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 0);
        slot = device_table_find(&table, QUARANTINED);
        ASSERT_TRUE(slot && device_slot_quarantined(slot));
        ASSERT_EQ(slot->probe_error, -EMFILE);
        probe_result = -EBUSY;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 0);
        ASSERT_EQ(slot->probe_error, 0);
        ASSERT_EQ(slot->held_by, 4242);
        probe_result = -ENOMEM;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 0);
        ASSERT_EQ(slot->probe_error, -ENOMEM);
        probe_result = 0;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 1);
        ASSERT_TRUE(!device_slot_quarantined(slot) && slot->probe_error == 0);
        device_table_clear(&table);
}

/* The same at the end of a delegation: its process gone, a probe that cannot run keeps the device out. */
TEST(a_delegation_whose_probe_cannot_run_keeps_the_device_out) {
        DeviceSlot *slot;

        table_setup();
        nested = 1;
        table.slots[0].held_by = 0;     /* only the delegated device is in question here */
        slot = device_table_find(&table, FREE_DEVICE);
        device_slot_set_delegation(slot, 9, 5151, 1000);
        ASSERT_TRUE(device_slot_end_delegation(slot, -ENFILE));
        ASSERT_TRUE(device_slot_quarantined(slot) && slot->delegation == 0);
        ASSERT_EQ(slot->probe_error, -ENFILE);
        ASSERT_EQ(slot->held_by, 5151);
        probe_result = 0;
        ASSERT_EQ(device_table_probe(&table, &fake, NULL, NULL), 1);
        ASSERT_TRUE(!device_slot_quarantined(slot) && slot->probe_error == 0);
        device_table_clear(&table);
}

TESTS_MAIN(NULL, NULL)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-delegation.c - the end of a delegation (core/delegation.h): the
 * probes of its devices wait off the event loop, the devices stay out of
 * every session's reach until their probe answered, and each is then free
 * or quarantined by that answer.
 *
 * A fake backend stands in for the kernel: its probe runs on a worker and
 * takes 100 ms, as a device's power-up or reset may.  A timer on the loop,
 * due while the probe waits, shows that the loop kept serving, looks at the
 * slot as a DeviceOpen would, rescans the devices (a new table, as a
 * DeviceList would make) and asks an admin's EndDelegation of it.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/delegation.h"
#include "core/session.h"
#include "object/tenant.h"
#include "tests/lib/tests.h"
#include "util/offload.h"

#define DEV_A "0000:00:02.0"
#define DEV_B "0000:00:03.0"
#define VMM_PID 4242
#define VMM_UID 1000

static struct event_base *base;
static SessionHost host;
static Account broker_account;
static Tenant *registry;
static atomic_uint probes, probing;
static int probe_result;                /* the fake probe's answer: 0 free, -EBUSY bound elsewhere */

/* What the timer saw while the probe waited. */
static struct {
        bool fired, during_probe, slot_idle, delegated, kill_ok;
        unsigned delegations_changed, quarantined;
} seen;
static uint64_t delegation_id;

static int fake_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n) {
        BackendDeviceInfo *list = calloc(2, sizeof(*list));

        (void) b;
        if (!list)
                return -ENOMEM;
        (void) snprintf(list[0].name, sizeof(list[0].name), "%s", DEV_A);
        (void) snprintf(list[1].name, sizeof(list[1].name), "%s", DEV_B);
        *ret = list;
        *ret_n = 2;
        return 0;
}

/* On a worker thread: touches nothing of the loop's. */
static int fake_probe(Backend *b, const BackendDeviceInfo *info) {
        (void) b;
        (void) info;
        probes++;
        probing = 1;
        usleep(100 * 1000);
        probing = 0;
        return probe_result;
}

static const BackendOps fake_ops = {
        .name = "fake",
        .device_list = fake_list,
        .device_probe = fake_probe,
};

static Backend fake = { .ops = &fake_ops, .thread_safe = true };

static void on_delegations_changed(void *userdata) {
        (void) userdata;
        seen.delegations_changed++;
        event_base_loopbreak(base);
}

static void on_device_quarantined(void *userdata) {
        (void) userdata;
        seen.quarantined++;
}

static void on_timer(evutil_socket_t fd, short what, void *userdata) {
        Delegation *d = delegation_find(&host, delegation_id);
        const DeviceSlot *slot;

        (void) fd;
        (void) what;
        (void) userdata;
        seen.fired = true;
        seen.during_probe = probing != 0;
        /* a DeviceList meanwhile: a new table, the end must find its slot again */
        if (device_table_refresh(&host.devices, &fake) < 0)
                return;
        slot = device_table_find(&host.devices, DEV_A);
        seen.slot_idle = slot && device_slot_idle(slot);        /* what DeviceOpen asks */
        seen.delegated = slot && slot->delegation == delegation_id && slot->delegated_to == VMM_PID;
        /* an admin's EndDelegation of a delegation whose process is gone: nothing to kill */
        seen.kill_ok = d && delegation_kill(d) == 0 && !d->killed;
}

static int setup(void) {
        base = event_base_new();
        if (!base)
                return -ENOMEM;
        account_init(&broker_account, "broker", NULL);
        host = (SessionHost) {
                .base = base,
                .backend = &fake,
                .account = &broker_account,
                .on_delegations_changed = on_delegations_changed,
                .on_device_quarantined = on_device_quarantined,
        };
        return offload_start(base, 1);
}

static void teardown(void) {
        offload_stop();
        device_table_clear(&host.devices);
        event_base_free(base);
}

/* Delegates DEV_A to VMM_PID, ends it (the "pidfd" becomes readable) and runs the loop until the end is done. */
static void delegate_and_end(int answer) {
        struct timeval tv = { 0, 30 * 1000 };
        _cleanup_(tenant_unrefp) Tenant *t = NULL;
        struct event *timer;
        char name[] = DEV_A;
        char *names[] = { name };
        const Account *over = NULL;
        Delegation *d = NULL;
        Session s = {};
        int p[2];

        seen = (typeof(seen)) {};
        probes = 0;
        probe_result = answer;
        ASSERT_OK(device_table_refresh(&host.devices, &fake));
        ASSERT_OK(tenant_get(&registry, "vmm", &broker_account, &t));
        s.host = &host;
        s.tenant = t;
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_OK(delegation_new(&d, &s, &(DelegationTarget) { .pid = VMM_PID, .uid = VMM_UID, .pidfd = p[0] },
                                 names, 1, 0, &over));
        close(p[0]);
        delegation_id = d->id;
        ASSERT_EQ(host.n_delegations, 1);
        ASSERT_TRUE(!device_slot_idle(device_table_find(&host.devices, DEV_A)));

        ASSERT_EQ(write(p[1], "x", 1), 1);     /* "the process exited" */
        timer = evtimer_new(base, on_timer, NULL);
        ASSERT_TRUE(timer != NULL);
        ASSERT_OK(evtimer_add(timer, &tv));
        ASSERT_OK(event_base_dispatch(base));
        event_free(timer);
        close(p[1]);

        ASSERT_EQ(seen.delegations_changed, 1);
        ASSERT_EQ(host.n_delegations, 0);
        ASSERT_EQ(probes, 1);
        /* the loop served the timer while the probe waited on its worker */
        ASSERT_TRUE(seen.fired);
        ASSERT_TRUE(seen.during_probe);
        /* and meanwhile the device was nobody's to open: still the VMM's */
        ASSERT_TRUE(!seen.slot_idle);
        ASSERT_TRUE(seen.delegated);
        ASSERT_TRUE(seen.kill_ok);
        ASSERT_EQ(offload_in_flight(), 0);
}

TEST(a_delegations_end_probes_off_the_loop_and_frees_a_device_nobody_holds) {
        const DeviceSlot *slot;

        delegate_and_end(0);
        slot = device_table_find(&host.devices, DEV_A);
        ASSERT_TRUE(slot != NULL);
        ASSERT_TRUE(device_slot_idle(slot));
        ASSERT_EQ(seen.quarantined, 0);
        /* the other device was never part of it */
        ASSERT_TRUE(device_slot_idle(device_table_find(&host.devices, DEV_B)));
}

TEST(a_device_still_bound_after_the_vmm_exited_is_quarantined_held_by_its_pid) {
        const DeviceSlot *slot;

        delegate_and_end(-EBUSY);
        slot = device_table_find(&host.devices, DEV_A);
        ASSERT_TRUE(slot != NULL);
        ASSERT_TRUE(device_slot_quarantined(slot));
        ASSERT_EQ(slot->held_by, VMM_PID);
        ASSERT_EQ(slot->held_uid, VMM_UID);
        ASSERT_EQ(slot->probe_error, 0);
        ASSERT_EQ(slot->delegation, 0);
        ASSERT_EQ(seen.quarantined, 1);
}

TESTS_MAIN(setup, teardown)

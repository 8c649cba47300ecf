/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-delegation.c - the end of a delegation (core/delegation.h): the
 * probes of its devices wait off the event loop, one device after the
 * other; each device stays out of every session's reach until its own
 * probe answered, and is then free or quarantined by that answer.
 *
 * A fake backend stands in for the kernel: its probe runs on a worker,
 * tells the loop it started (an eventfd) and waits until the loop lets it
 * answer (a pipe), as a device's power-up or reset makes it wait.  Meanwhile
 * the loop looks at the slots as DeviceOpen and ListDelegations would,
 * rescans the devices (a new table, as a DeviceList makes) and asks an
 * admin's EndDelegation of the ending delegation.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/delegation.h"
#include "core/session.h"
#include "object/tenant.h"
#include "tests/lib/tests.h"
#include "util/offload.h"

#define DEV_A "0000:00:02.0"
#define DEV_B "0000:00:03.0"
#define DEV_C "0000:00:04.0"
#define VMM_PID 4242
#define VMM_UID 1000

static struct event_base *base;
static SessionHost host;
static Account broker_account;
static Tenant *registry;
static int started_fd = -1;             /* the worker's probe -> the loop: "I am waiting" */
static int release[2] = { -1, -1 };     /* the loop -> the worker's probe: "answer now" */

/* The fake probe's answers by device (0 free, -EBUSY bound elsewhere, else it could not run). */
static int answer_a, answer_b;
static unsigned probes;

/* What the loop saw while each probe waited (index: the probe's order). */
typedef struct Seen {
        bool a_delegated, a_probing, a_idle, a_held, b_delegated, b_probing, b_held;
        int kill;
} Seen;
static Seen seen[2];
static unsigned n_seen, delegations_changed, quarantined;
static uint64_t delegation_id;

static int fake_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n) {
        const char *names[] = { DEV_A, DEV_B, DEV_C };
        BackendDeviceInfo *list = calloc(3, sizeof(*list));

        (void) b;
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < 3; i++)
                (void) snprintf(list[i].name, sizeof(list[i].name), "%s", names[i]);
        *ret = list;
        *ret_n = 3;
        return 0;
}

/*
 * On a worker thread: touches nothing of the loop's.  Run on the loop
 * instead (the end not in a coroutine), nobody would let it answer: it
 * gives up after 5 s, and the test fails rather than hangs.
 */
static int fake_probe(Backend *b, const BackendDeviceInfo *info) {
        struct pollfd pfd = { .fd = release[0], .events = POLLIN };
        uint64_t one = 1;
        char c;

        (void) b;
        if (write(started_fd, &one, sizeof(one)) != sizeof(one))
                return -EIO;
        if (poll(&pfd, 1, 5000) != 1 || read(release[0], &c, 1) != 1)
                return -ETIMEDOUT;
        return strcmp(info->name, DEV_A) == 0 ? answer_a : answer_b;
}

static const BackendOps fake_ops = {
        .name = "fake",
        .device_list = fake_list,
        .device_probe = fake_probe,
};

static Backend fake = { .ops = &fake_ops, .thread_safe = true };

static void on_delegations_changed(void *userdata) {
        (void) userdata;
        delegations_changed++;
        event_base_loopbreak(base);
}

static void on_device_quarantined(void *userdata) {
        (void) userdata;
        quarantined++;
}

/* A probe waits on its worker: the loop serves this, looks, and lets it answer. */
static void on_probe_started(evutil_socket_t fd, short what, void *userdata) {
        Delegation *d = delegation_find(&host, delegation_id);
        const DeviceSlot *a, *b;
        uint64_t n;
        Seen *v;

        (void) what;
        (void) userdata;
        if (read(fd, &n, sizeof(n)) != sizeof(n) || n_seen >= 2 || !d)
                return;
        v = &seen[n_seen++];
        probes++;
        /* a DeviceList meanwhile: a new table, the end must find its slots again */
        if (device_table_refresh(&host.devices, &fake) < 0)
                return;
        a = device_table_find(&host.devices, DEV_A);
        b = device_table_find(&host.devices, DEV_B);
        v->a_delegated = a->delegation == delegation_id && a->delegated_to == VMM_PID;
        v->a_probing = a->probing;
        v->a_idle = device_slot_idle(a);                /* what DeviceOpen asks */
        v->a_held = delegation_holds(d, 0);             /* what ListDelegations shows */
        v->b_delegated = b->delegation == delegation_id;
        v->b_probing = b->probing;
        v->b_held = delegation_holds(d, 1);
        /* an admin's EndDelegation of a delegation whose process is gone: nothing to kill */
        v->kill = delegation_kill(d);
        if (write(release[1], "x", 1) != 1)
                abort();
}

static int setup(void) {
        base = event_base_new();
        if (!base)
                return -ENOMEM;
        started_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (started_fd < 0 || pipe2(release, O_CLOEXEC) < 0)
                return -errno;
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
        close(started_fd);
        close(release[0]);
        close(release[1]);
}

/* Delegates DEV_A and DEV_B to VMM_PID, ends it (the "pidfd" becomes readable) and runs the loop until the end is done. */
static void delegate_and_end(int a, int b) {
        _cleanup_(tenant_unrefp) Tenant *t = NULL;
        struct event *started;
        char name_a[] = DEV_A, name_b[] = DEV_B;
        char *names[] = { name_a, name_b };
        const Account *over = NULL;
        Delegation *d = NULL;
        Session s = {};
        int p[2];

        memset(seen, 0, sizeof(seen));
        n_seen = probes = delegations_changed = quarantined = 0;
        answer_a = a;
        answer_b = b;
        device_table_clear(&host.devices);      /* each test from a fresh table */
        ASSERT_OK(device_table_refresh(&host.devices, &fake));
        ASSERT_OK(tenant_get(&registry, "vmm", &broker_account, &t));
        s.host = &host;
        s.tenant = t;
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_OK(delegation_new(&d, &s, &(DelegationTarget) { .pid = VMM_PID, .uid = VMM_UID, .pidfd = p[0] },
                                 names, 2, 0, &over));
        close(p[0]);
        delegation_id = d->id;
        ASSERT_EQ(host.n_delegations, 1);
        ASSERT_TRUE(!device_slot_idle(device_table_find(&host.devices, DEV_A)));
        ASSERT_TRUE(delegation_holds(d, 0) && delegation_holds(d, 1));

        ASSERT_EQ(write(p[1], "x", 1), 1);     /* "the process exited" */
        started = event_new(base, started_fd, EV_READ | EV_PERSIST, on_probe_started, NULL);
        ASSERT_TRUE(started != NULL);
        ASSERT_OK(event_add(started, NULL));
        ASSERT_OK(event_base_dispatch(base));
        event_free(started);
        close(p[1]);

        ASSERT_EQ(delegations_changed, 1);
        ASSERT_EQ(host.n_delegations, 0);
        ASSERT_EQ(offload_in_flight(), 0);
        /* the loop served while each probe waited on its worker, one device after the other */
        ASSERT_EQ(probes, 2);
        /* A's probe: both devices still the VMM's, A marked as being checked */
        ASSERT_TRUE(seen[0].a_delegated && seen[0].a_probing && !seen[0].a_idle && seen[0].a_held);
        ASSERT_TRUE(seen[0].b_delegated && !seen[0].b_probing && seen[0].b_held);
        /* B's probe: A let go by its answer (no longer listed), B still the VMM's */
        ASSERT_TRUE(!seen[1].a_delegated && !seen[1].a_held && !seen[1].a_probing);
        ASSERT_TRUE(seen[1].b_delegated && seen[1].b_probing && seen[1].b_held);
        ASSERT_EQ(seen[0].kill, -EALREADY);
        ASSERT_EQ(seen[1].kill, -EALREADY);
        /* C was never part of it */
        ASSERT_TRUE(device_slot_idle(device_table_find(&host.devices, DEV_C)));
}

TEST(a_delegations_end_probes_off_the_loop_and_frees_devices_nobody_holds) {
        delegate_and_end(0, 0);
        ASSERT_TRUE(device_slot_idle(device_table_find(&host.devices, DEV_A)));
        ASSERT_TRUE(device_slot_idle(device_table_find(&host.devices, DEV_B)));
        ASSERT_EQ(quarantined, 0);
}

TEST(a_device_still_bound_after_the_vmm_exited_is_quarantined_held_by_its_pid) {
        const DeviceSlot *slot;

        delegate_and_end(0, -EBUSY);
        ASSERT_TRUE(device_slot_idle(device_table_find(&host.devices, DEV_A)));
        slot = device_table_find(&host.devices, DEV_B);
        ASSERT_TRUE(device_slot_quarantined(slot));
        ASSERT_EQ(slot->held_by, VMM_PID);
        ASSERT_EQ(slot->held_uid, VMM_UID);
        ASSERT_EQ(slot->probe_error, 0);
        ASSERT_EQ(slot->delegation, 0);
        ASSERT_TRUE(!slot->probing);
        ASSERT_EQ(quarantined, 1);
}

/* A probe that cannot run (the broker out of fds) keeps the device out and blames nobody for it. */
TEST(a_probe_that_cannot_run_keeps_the_device_out_with_its_error) {
        const DeviceSlot *slot;

        delegate_and_end(-ENFILE, 0);
        slot = device_table_find(&host.devices, DEV_A);
        ASSERT_TRUE(device_slot_quarantined(slot));
        ASSERT_EQ(slot->probe_error, -ENFILE);
        ASSERT_EQ(slot->held_by, VMM_PID);
        ASSERT_TRUE(device_slot_idle(device_table_find(&host.devices, DEV_B)));
        ASSERT_EQ(quarantined, 1);
}

TESTS_MAIN(setup, teardown)

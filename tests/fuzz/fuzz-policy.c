/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-policy.c - the policy parser, and the decisions taken from what it accepts.
 *
 * Owns: the fuzz-policy harness.  The input is a policy file; form feeds
 * (\f) in it split off up to MAX_DROPINS drop-ins: what comes before the
 * first is the main file (in a memfd, read through /proc/self/fd), each part
 * after one is policy.d/N-fuzz.conf in a private temporary directory, in
 * order.  policy_load() reads them all.  When it
 * accepts them, every tenant is asked the questions the broker asks (which
 * tenant a few peers are, which devices, IOVAs and vPASIDs it grants), and
 * the reload comparisons must hold: a tenant loses nothing against itself,
 * a session of it loses nothing when the same policy is loaded again.
 * Everything is freed; ASan finds what is not.
 * Must never: write anywhere but its own temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy.h"
#include "tests/fuzz/fuzz.h"

/* The limit of the input the harness reads; libFuzzer's -max_len is smaller. */
#define MAX_INPUT (256 * 1024)
#define MAX_DROPINS 3

static char tmpdir[64];
static char dropin_dir[96];

static void dropin_path(unsigned i, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s/%u0-fuzz.conf", dropin_dir, i + 1);
}

static void remove_dropins(void) {
        for (unsigned i = 0; i < MAX_DROPINS; i++) {
                char path[160];

                dropin_path(i, path, sizeof(path));
                (void) unlink(path);
        }
}

static void cleanup_tmpdir(void) {
        remove_dropins();
        (void) rmdir(dropin_dir);
        (void) rmdir(tmpdir);
}

static void setup(void) {
        const char *t = getenv("TMPDIR");

        (void) snprintf(tmpdir, sizeof(tmpdir), "%s/fuzz-policy.XXXXXX", t && strlen(t) < 32 ? t : "/tmp");
        if (!mkdtemp(tmpdir))
                fuzz_fail("mkdtemp() failed: %m");
        (void) snprintf(dropin_dir, sizeof(dropin_dir), "%s/policy.d", tmpdir);
        if (mkdir(dropin_dir, 0700) < 0)
                fuzz_fail("mkdir() failed: %m");
        (void) atexit(cleanup_tmpdir);
}

static void write_all(int fd, const uint8_t *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0)
                        fuzz_fail("write() failed: %m");
                data += n;
                size -= (size_t) n;
        }
}

/* The peers the broker could meet: by uid, by group, in units and slices, root. */
static void ask(const Policy *p) {
        static gid_t groups[] = { 5000, 27, 0 };
        static char unit[] = "qemu-vm1.service", slice[] = "machine.slice",
                    cgroup[] = "/machine.slice/vms/vm1/payload";
        const PeerIdentity peers[] = {
                { .pid = 1, .uid = 0, .gid = 0 },
                { .pid = 2, .uid = 4242, .gid = 100, .groups = groups, .n_groups = ELEMENTSOF(groups) },
                { .pid = 3, .uid = 1000, .gid = 1000, .unit = unit, .slice = slice, .cgroup = cgroup },
                { .pid = 4, .uid = 65534, .gid = 65534 },
        };
        static const char *const devices[] = { "0000:00:02.0", "0000:03:00.0", "0000:3b:02.0", "0000:0a:00.0" };

        for (size_t i = 0; i < ELEMENTSOF(peers); i++) {
                const PolicyTenant *t = policy_match(p, &peers[i]);
                bool revoke = true;

                if (t && policy_session_losses(t, p, &peers[i], &revoke) != 0)
                        fuzz_fail("a session of tenant '%s' loses something when the same policy is loaded again",
                                  t->name);
                if (t && revoke)
                        fuzz_fail("a session of tenant '%s' is revoked by a reload that changes nothing", t->name);
        }

        for (size_t i = 0; i < p->n_tenants; i++) {
                const PolicyTenant *t = p->tenants[i];
                const PolicyLimits *l = &t->limits;
                unsigned loss;

                if (policy_find_tenant(p, t->name) != t)
                        fuzz_fail("tenant '%s' is not found by its name", t->name);
                loss = policy_tenant_losses(t, t);
                if (loss != 0)
                        fuzz_fail("tenant '%s' loses 0x%x against itself", t->name, loss);
                if (policy_diff_tenant(p, p, t->name) != 0)
                        fuzz_fail("policy_diff_tenant() of tenant '%s' against the same policy is not 0", t->name);
                for (size_t k = 0; k < ELEMENTSOF(devices); k++)
                        for (int g = -1; g < 3; g++)
                                (void) policy_tenant_grants_device(t, devices[k], g);
                if (l->n_iova_windows > POLICY_IOVA_WINDOWS_MAX)
                        fuzz_fail("tenant '%s' has %zu IOVA windows", t->name, l->n_iova_windows);
                for (size_t k = 0; k < l->n_iova_windows; k++) {
                        const IovaRange *w = &l->iova_windows[k];

                        if (w->start > w->last || (k > 0 && l->iova_windows[k - 1].last >= w->start))
                                fuzz_fail("tenant '%s': IOVA windows not sorted and disjoint", t->name);
                        if (!policy_limits_iova_allowed(l, w->start, w->last))
                                fuzz_fail("tenant '%s': its own IOVA window %zu is not allowed", t->name, k);
                }
                (void) policy_limits_iova_allowed(l, 0, UINT64_MAX);
                (void) policy_limits_iova_allowed(l, 0x100000, 0x1fffff);
                if (l->vpasid_min > l->vpasid_max && l->allow_pasid && policy_limits_vpasid_allowed(l, l->vpasid_min))
                        fuzz_fail("tenant '%s': an empty vPASID range allows a vPASID", t->name);
                for (uint32_t v = 0; v < 4; v++)
                        (void) policy_limits_vpasid_allowed(l, v);
                (void) policy_limits_vpasid_allowed(l, l->vpasid_max);
                (void) policy_limits_vpasid_allowed(l, POLICY_VPASID_MAX + 1);
                if (!policy_pasid_mode_to_string(l->pasid_mode))
                        fuzz_fail("tenant '%s' has an invalid PASID mode %d", t->name, (int) l->pasid_mode);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool ready = false;
        _cleanup_close_ int fd = -1;
        char path[64], error[512];
        const uint8_t *ff, *end = data + size;
        size_t main_size = size;
        Policy *p = NULL, *again = NULL;
        int r;

        if (!ready) {
                setup();
                ready = true;
        }
        if (size > MAX_INPUT)
                return 0;

        ff = memchr(data, '\f', size);
        if (ff)
                main_size = (size_t) (ff - data);
        fd = memfd_create("fuzz-policy.conf", MFD_CLOEXEC);
        if (fd < 0)
                fuzz_fail("memfd_create() failed: %m");
        write_all(fd, data, main_size);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        remove_dropins();
        for (unsigned i = 0; ff && i < MAX_DROPINS; i++) {
                const uint8_t *start = ff + 1, *next = NULL;
                char dropin[160];
                _cleanup_close_ int d = -1;

                if (i + 1 < MAX_DROPINS)
                        next = memchr(start, '\f', (size_t) (end - start));
                dropin_path(i, dropin, sizeof(dropin));
                d = open(dropin, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (d < 0)
                        fuzz_fail("cannot create %s: %m", dropin);
                write_all(d, start, (size_t) ((next ?: end) - start));
                ff = next;
        }

        r = policy_load(path, dropin_dir, &p, error, sizeof(error));
        if (fuzz_verbose())
                fprintf(stderr, "fuzz: policy_load: %d %s\n", r, r < 0 ? error : "");
        if (r < 0) {
                if (p)
                        fuzz_fail("policy_load() failed (%d) and returned a policy", r);
                if (error[0] == '\0')
                        fuzz_fail("policy_load() failed (%d) without saying why", r);
                return 0;
        }
        if (!p || p->n_ref != 1)
                fuzz_fail("policy_load() succeeded without a policy of one reference");
        ask(p);

        /* The same files again: a reload that changes nothing. */
        r = policy_load(path, dropin_dir, &again, error, sizeof(error));
        if (r < 0)
                fuzz_fail("the same policy loads once and then not: %s", error);
        if (again->n_tenants != p->n_tenants)
                fuzz_fail("the same policy loads with %zu tenants, then %zu", p->n_tenants, again->n_tenants);
        for (size_t i = 0; i < p->n_tenants; i++) {
                int loss = policy_diff_tenant(p, again, p->tenants[i]->name);

                if (loss != 0)
                        fuzz_fail("tenant '%s' loses 0x%x in a reload of the same files", p->tenants[i]->name, loss);
        }
        policy_unref(again);
        policy_ref(p);
        policy_unref(p);
        policy_unref(p);
        return 0;
}

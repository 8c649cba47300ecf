/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-policy.c - unit tests of daemon/policy/: loading policy files (good
 * ones, drop-ins, every kind of error with its exact "FILE:LINE:"), matching
 * peers to tenants, device grants, limit inheritance, reload comparison,
 * the peer identity of a live process and the audit file.
 *
 * Data files live in tests/unit/policy-data/; the directory comes from
 * --data-dir=DIR, else $IB_TOP_SRCDIR/tests/unit/policy-data.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "common/macro.h"
#include "policy/audit.h"
#include "policy/peer.h"
#include "policy/policy.h"
#include "tests/lib/tests.h"

static char data_dir[1024];
static char tmp_dir[1024];

static int setup(void) {
        const char *d = tests_option("data-dir"), *top = getenv("IB_TOP_SRCDIR");

        if (d)
                (void) snprintf(data_dir, sizeof(data_dir), "%s", d);
        else if (top)
                (void) snprintf(data_dir, sizeof(data_dir), "%s/tests/unit/policy-data", top);
        else {
                printf("# neither --data-dir= nor $IB_TOP_SRCDIR is set\n");
                return -EINVAL;
        }
        if (access(data_dir, R_OK) < 0) {
                printf("# %s: %s\n", data_dir, strerror(errno));
                return -errno;
        }
        (void) snprintf(tmp_dir, sizeof(tmp_dir), "%s/test-policy.XXXXXX",
                        getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmp_dir))
                return -errno;
        audit_set_journal(false);
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void teardown(void) {
        audit_close();
        if (tmp_dir[0])
                (void) nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *data(const char *name, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s/%s", data_dir, name);
        return buf;
}

/* Writes content (n bytes) to tmp_dir/name; returns its path in buf. */
static const char *tmp_file(const char *name, const char *content, size_t n, char *buf, size_t size) {
        FILE *f;

        (void) snprintf(buf, size, "%s/%s", tmp_dir, name);
        f = fopen(buf, "we");
        if (!f)
                return NULL;
        (void) fwrite(content, 1, n, f);
        (void) fclose(f);
        return buf;
}

static int load_file(const char *name, Policy **ret, char *error, size_t error_size) {
        char path[PATH_MAX];

        return policy_load(data(name, path, sizeof(path)), NULL, ret, error, error_size);
}

/* Loading fails with -err and an error starting "where:line: " and containing what. */
static void check_error_in(const char *path, const char *dropins, int err, const char *where, unsigned line,
                           const char *what) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char error[1024], prefix[PATH_MAX + 32];
        int r;

        r = policy_load(path, dropins, &p, error, sizeof(error));
        if (r != -err)
                TEST_FAIL("%s: expected -%d, got %d (%s)", path, err, r, r < 0 ? error : "loaded");
        ASSERT_TRUE(!p);
        (void) snprintf(prefix, sizeof(prefix), "%s:%u: ", where, line);
        if (strncmp(error, prefix, strlen(prefix)) != 0)
                TEST_FAIL("expected prefix '%s', got '%s'", prefix, error);
        if (!strstr(error, what))
                TEST_FAIL("expected '%s' in '%s'", what, error);
}

static void check_error_at(const char *path, const char *dropins, int err, unsigned line, const char *what) {
        check_error_in(path, dropins, err, path, line, what);
}

static void check_error(const char *name, unsigned line, const char *what) {
        char path[PATH_MAX];

        check_error_at(data(name, path, sizeof(path)), NULL, EINVAL, line, what);
}

/* ---------------------------------------------------------------- loading */

TEST(load_main_file_and_dropins_in_lexical_order) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char main_path[PATH_MAX], dir[PATH_MAX], error[1024] = "";
        const PolicyTenant *vm1, *vm2, *gpu;

        ASSERT_OK(policy_load(data("good/policy.conf", main_path, sizeof(main_path)),
                              data("good/policy.d", dir, sizeof(dir)), &p, error, sizeof(error)));
        ASSERT_STREQ(error, "");
        ASSERT_EQ(p->n_files, 3);
        ASSERT_TRUE(strstr(p->files[1], "10-gpu.conf"));
        ASSERT_TRUE(strstr(p->files[2], "20-override.conf"));
        ASSERT_EQ(p->socket_gid, 0);
        ASSERT_TRUE(!p->revoke_on_reload);
        ASSERT_TRUE(!p->audit_file);

        /* Tenants in the order their sections first appear. */
        ASSERT_EQ(p->n_tenants, 3);
        ASSERT_STREQ(p->tenants[0]->name, "vm1");
        ASSERT_STREQ(p->tenants[1]->name, "vm2");
        ASSERT_STREQ(p->tenants[2]->name, "gpu");
        vm1 = policy_find_tenant(p, "vm1");
        vm2 = policy_find_tenant(p, "vm2");
        gpu = policy_find_tenant(p, "gpu");
        ASSERT_TRUE(vm1 && vm2 && gpu);
        ASSERT_TRUE(!policy_find_tenant(p, "vm3"));
        ASSERT_EQ(vm1->line, 9);
        ASSERT_TRUE(strstr(vm1->file, "good/policy.conf"));

        /* vm1: a later scalar replaces, lists append. */
        ASSERT_EQ(vm1->n_users, 1);
        ASSERT_EQ(vm1->users[0], 0);
        ASSERT_EQ(vm1->n_units, 1);
        ASSERT_STREQ(vm1->units[0], "qemu-vm1.service");
        ASSERT_EQ(vm1->n_devices, 2);
        ASSERT_STREQ(vm1->devices[0].pattern, "0000:03:00.0");
        ASSERT_STREQ(vm1->devices[1].pattern, "0000:03:00.1");
        ASSERT_U64_EQ(vm1->limits.pinned_bytes, 128ULL << 20);
        ASSERT_EQ(vm1->limits.n_iova_windows, 2);
        ASSERT_U64_EQ(vm1->limits.iova_windows[0].last, 0xffffffff);
        ASSERT_U64_EQ(vm1->limits.iova_windows[1].start, 0x100000000);
        ASSERT_U64_EQ(vm1->limits.iova_windows[1].last, 0x1ffffffff);
        ASSERT_EQ(vm1->limits.vpasid_min, 1);
        ASSERT_EQ(vm1->limits.vpasid_max, 1023);

        /* vm2: an empty Device= dropped group:12. */
        ASSERT_EQ(vm2->n_groups, 1);
        ASSERT_EQ(vm2->n_devices, 1);
        ASSERT_TRUE(!vm2->devices[0].pattern);
        ASSERT_EQ(vm2->devices[0].iommu_group, 13);
        ASSERT_TRUE(vm2->revoke_on_reload);
        ASSERT_TRUE(!vm1->revoke_on_reload);

        ASSERT_EQ(gpu->n_slices, 1);
        ASSERT_EQ(gpu->limits.pasid_mode, POLICY_PASID_MODE_GLOBAL);
        ASSERT_U64_EQ(gpu->limits.pasids, 16);
}

TEST(limits_inherit_global_defaults_then_builtins) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char main_path[PATH_MAX], dir[PATH_MAX], error[1024];
        const PolicyTenant *vm1, *vm2, *gpu;

        ASSERT_OK(policy_load(data("good/policy.conf", main_path, sizeof(main_path)),
                              data("good/policy.d", dir, sizeof(dir)), &p, error, sizeof(error)));
        vm1 = policy_find_tenant(p, "vm1");
        vm2 = policy_find_tenant(p, "vm2");
        gpu = policy_find_tenant(p, "gpu");

        /* Set in the tenant: its own value. */
        ASSERT_U64_EQ(vm1->limits.pinned_bytes, 128ULL << 20);
        ASSERT_TRUE(vm2->limits.allow_nesting);
        ASSERT_TRUE(vm1->limits.set & (1u << POLICY_LIMIT_PINNED_BYTES));
        /* Unset in the tenant: [Global] Default*=, even from a later drop-in. */
        ASSERT_U64_EQ(vm2->limits.pinned_bytes, 1ULL << 30);
        ASSERT_U64_EQ(vm1->limits.ioas, 4);
        ASSERT_U64_EQ(vm2->limits.ioas, 4);    /* IOASMax= (empty) means inherit */
        ASSERT_TRUE(!(vm2->limits.set & (1u << POLICY_LIMIT_IOAS)));
        ASSERT_U64_EQ(gpu->limits.hwpt, 8);
        ASSERT_TRUE(!vm1->limits.allow_nesting);
        ASSERT_TRUE(!gpu->limits.allow_nesting);
        /* Unset in both: the built-in default, no limit. */
        ASSERT_U64_EQ(vm1->limits.mappings, POLICY_UNLIMITED);
        ASSERT_U64_EQ(vm1->limits.pasids, POLICY_UNLIMITED);
        /* ObjectsMax= has a built-in default: a tenant's kernel objects are bounded unless raised */
        ASSERT_U64_EQ(vm1->limits.objects, 16384);
        ASSERT_U64_EQ(gpu->limits.objects, 64);
        ASSERT_TRUE(vm1->limits.allow_dirty_tracking);
        ASSERT_TRUE(vm1->limits.allow_pasid);
        ASSERT_EQ(vm1->limits.pasid_mode, POLICY_PASID_MODE_PER_DEVICE);
        ASSERT_EQ(vm2->limits.vpasid_min, 1);
        ASSERT_EQ(vm2->limits.vpasid_max, POLICY_VPASID_MAX);
        ASSERT_EQ(vm2->limits.n_iova_windows, 1);
        ASSERT_U64_EQ(vm2->limits.iova_windows[0].start, 0);
        ASSERT_U64_EQ(vm2->limits.iova_windows[0].last, UINT64_MAX);
        /* [Global] itself is completed with the built-ins. */
        ASSERT_U64_EQ(p->defaults.pinned_bytes, 1ULL << 30);
        ASSERT_U64_EQ(p->defaults.mappings, POLICY_UNLIMITED);
}

TEST(delegate_devices_defaults_to_no_and_losing_it_is_a_feature_loss) {
        _cleanup_(policy_unrefp) Policy *p = NULL, *q = NULL;
        char path[PATH_MAX], error[1024];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/delegate.conf", tmp_dir);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs("[Tenant legacy]\nUser=0\nDelegateDevices=yes\n\n[Tenant plain]\nUser=1\n", f);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_OK(policy_load(path, NULL, &p, error, sizeof(error)));
        ASSERT_TRUE(policy_find_tenant(p, "legacy")->limits.delegate_devices);
        ASSERT_TRUE(!policy_find_tenant(p, "plain")->limits.delegate_devices);

        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs("[Global]\nDefaultDelegateDevices=yes\n\n[Tenant legacy]\nUser=0\nDelegateDevices=no\n\n"
              "[Tenant plain]\nUser=1\n", f);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_OK(policy_load(path, NULL, &q, error, sizeof(error)));
        ASSERT_TRUE(!policy_find_tenant(q, "legacy")->limits.delegate_devices);
        ASSERT_TRUE(policy_find_tenant(q, "plain")->limits.delegate_devices);
        /* taking it away is a loss (RevokeOnReload weighs it); granting it is none */
        ASSERT_EQ(policy_diff_tenant(p, q, "legacy"), POLICY_LOSS_FEATURES);
        ASSERT_EQ(policy_diff_tenant(p, q, "plain"), 0);
}

TEST(limit_checks_use_the_effective_limits) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char main_path[PATH_MAX], dir[PATH_MAX], error[1024];
        const PolicyTenant *vm1, *vm2;

        ASSERT_OK(policy_load(data("good/policy.conf", main_path, sizeof(main_path)),
                              data("good/policy.d", dir, sizeof(dir)), &p, error, sizeof(error)));
        vm1 = policy_find_tenant(p, "vm1");
        vm2 = policy_find_tenant(p, "vm2");
        ASSERT_TRUE(policy_limits_iova_allowed(&vm1->limits, 0, 0xfff));
        ASSERT_TRUE(policy_limits_iova_allowed(&vm1->limits, 0x100000000, 0x1ffffffff));
        ASSERT_TRUE(!policy_limits_iova_allowed(&vm1->limits, 0xfffff000, 0x100000fff));  /* spans two */
        ASSERT_TRUE(!policy_limits_iova_allowed(&vm1->limits, 0x200000000, 0x200000fff));
        ASSERT_TRUE(policy_limits_iova_allowed(&vm2->limits, 0xfff0000000000000, UINT64_MAX));
        ASSERT_TRUE(policy_limits_vpasid_allowed(&vm1->limits, 1));
        ASSERT_TRUE(policy_limits_vpasid_allowed(&vm1->limits, 1023));
        ASSERT_TRUE(!policy_limits_vpasid_allowed(&vm1->limits, 1024));
        ASSERT_TRUE(!policy_limits_vpasid_allowed(&vm1->limits, 0));
}

TEST(missing_dropin_dir_is_empty_and_missing_main_file_is_enoent) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char main_path[PATH_MAX], dir[PATH_MAX], error[1024];

        ASSERT_OK(policy_load(data("match.conf", main_path, sizeof(main_path)),
                              data("no-such-dir.d", dir, sizeof(dir)), &p, error, sizeof(error)));
        ASSERT_EQ(p->n_tenants, 8);
        p = policy_unref(p);

        ASSERT_ERRNO(ENOENT, policy_load(data("no-such-file.conf", main_path, sizeof(main_path)), NULL, &p,
                                         error, sizeof(error)));
        ASSERT_TRUE(!p);
        ASSERT_TRUE(strstr(error, "no-such-file.conf: "));

        /* No files at all: an empty policy, which denies everyone. */
        ASSERT_OK(policy_load(NULL, NULL, &p, error, sizeof(error)));
        ASSERT_EQ(p->n_tenants, 0);
}

TEST(indented_lines_are_assignments_not_continuations) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char error[1024];
        const PolicyTenant *t;

        ASSERT_OK(load_file("indented.conf", &p, error, sizeof(error)));
        t = policy_find_tenant(p, "indented");
        ASSERT_TRUE(t);
        ASSERT_EQ(t->n_users, 1);
        ASSERT_EQ(t->users[0], 100);
        ASSERT_EQ(t->n_groups, 1);
        ASSERT_EQ(t->groups[0], 200);
        ASSERT_EQ(t->n_devices, 1);
}

TEST(policy_ref_keeps_tenants_alive) {
        Policy *p = NULL, *q;
        char error[1024];

        ASSERT_OK(load_file("match.conf", &p, error, sizeof(error)));
        q = policy_ref(p);
        ASSERT_TRUE(q == p);
        ASSERT_TRUE(!policy_unref(p));
        ASSERT_STREQ(q->tenants[0]->name, "by-uid");
        ASSERT_TRUE(!policy_unref(q));
        ASSERT_TRUE(!policy_unref(NULL));
}

/* ---------------------------------------------------------------- errors */

TEST(unknown_key_is_an_error_with_file_and_line) {
        check_error("bad-unknown-key.conf", 3, "unknown key 'Speed' in [Tenant a]");
        check_error("bad-global-key.conf", 4, "unknown key 'PinnedMemoryMax' in [Global]");
}

TEST(unknown_section_is_an_error_with_file_and_line) {
        check_error("bad-unknown-section.conf", 2, "unknown section [Tenat a]");
        check_error("bad-tenant-name.conf", 1, "invalid tenant name 'a/b'");
        /* tenancy_reload() gives the local admin's rights to a tenant of this name when the policy goes */
        check_error("bad-tenant-reserved.conf", 2,
                    "tenant name 'local-admin' is reserved for the sessions admitted without a policy");
}

TEST(bad_values_are_errors_with_file_and_line) {
        check_error("bad-size.conf", 6, "PinnedMemoryMax=: invalid size '64Q'");
        check_error("bad-count.conf", 3, "IOASMax=: invalid count '-1'");
        check_error("bad-bool.conf", 3, "Nesting=: invalid boolean 'maybe'");
        check_error("bad-device.conf", 4, "Device=: invalid device '03:00.0'");
        check_error("bad-vpasid-range.conf", 3, "VPASIDRange=: invalid vPASID range '0-10'");
        check_error("bad-iova-overlap.conf", 4,
                    "IOVAWindow=: IOVA window '0x8000-0x1ffff' overlaps another");
        check_error("bad-inline-hash.conf", 3, "Unit=: invalid unit name or glob '#'");
        check_error("bad-hex.conf", 3, "IOVAWindow=: invalid IOVA window '0x0x10-0x0x20'");
        check_error("bad-bool-letter.conf", 3, "Nesting=: invalid boolean 'Y'");
}

TEST(booleans_are_the_eight_documented_words) {
        static const char *const good[] = { "yes", "true", "on", "1", "no", "false", "off", "0" };
        static const char *const bad[] = { "y", "n", "t", "f", "Yes", "TRUE", "On", "NO", "01", "yes!" };
        char path[PATH_MAX], conf[256], error[1024];

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_(policy_unrefp) Policy *p = NULL;
                int n = snprintf(conf, sizeof(conf), "[Tenant a]\nUser=0\nNesting=%s\n", good[i]);

                tmp_file("bool.conf", conf, (size_t) n, path, sizeof(path));
                ASSERT_OK(policy_load(path, NULL, &p, error, sizeof(error)));
                ASSERT_TRUE(policy_find_tenant(p, "a")->limits.allow_nesting == (i < 4));
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int n = snprintf(conf, sizeof(conf), "[Tenant a]\nUser=0\nNesting=%s\n", bad[i]);

                check_error_at(tmp_file("bool.conf", conf, (size_t) n, path, sizeof(path)), NULL, EINVAL, 3,
                               "invalid boolean");
        }
}

TEST(numbers_are_decimal_or_one_0x_prefix) {
        static const char *const bad[] = { "0x0x10", "0X0x10", "0x+10", "0x-10", "0x 10", "+10", "0x",
                                           "1-0x0x2", "1 - 2" };
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char path[PATH_MAX], conf[256], error[1024];
        const PolicyTenant *t;
        static const char ok[] = "[Tenant a]\nUser=0\nVPASIDRange=0x10-0X20\nIOVAWindow=0x0-4095\n";

        tmp_file("num.conf", ok, strlen(ok), path, sizeof(path));
        ASSERT_OK(policy_load(path, NULL, &p, error, sizeof(error)));
        t = policy_find_tenant(p, "a");
        ASSERT_EQ(t->limits.vpasid_min, 0x10);
        ASSERT_EQ(t->limits.vpasid_max, 0x20);
        ASSERT_U64_EQ(t->limits.iova_windows[0].last, 4095);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int n = snprintf(conf, sizeof(conf), "[Tenant a]\nUser=0\nVPASIDRange=%s\n", bad[i]);

                check_error_at(tmp_file("num.conf", conf, (size_t) n, path, sizeof(path)), NULL, EINVAL, 3,
                               "invalid vPASID range");
        }
}

TEST(unknown_user_or_group_is_an_error_with_file_and_line) {
        check_error("bad-unknown-user.conf", 2, "unknown user 'no-such-user-ib-test'");
        check_error("bad-unknown-group.conf", 2, "unknown group 'no-such-group-ib-test'");
}

TEST(syntax_errors_and_keys_outside_sections_have_file_and_line) {
        check_error("bad-syntax.conf", 3, "syntax error");
        check_error("bad-colon.conf", 2, "expected Key=Value, not Key:Value");
        check_error("bad-outside-section.conf", 2, "'User=' before any section");
}

TEST(tenant_without_match_keys_is_an_error_at_its_header) {
        check_error("bad-no-match-key.conf", 4, "[Tenant empty] has no match key");
}

TEST(error_in_a_dropin_names_the_dropin_and_rejects_everything) {
        char main_path[PATH_MAX], dir[PATH_MAX], dropin[PATH_MAX];

        data("bad-dropin/policy.conf", main_path, sizeof(main_path));
        data("bad-dropin/policy.d", dir, sizeof(dir));
        data("bad-dropin/policy.d/50-broken.conf", dropin, sizeof(dropin));
        check_error_in(main_path, dir, EINVAL, dropin, 5, "PinnedMemoryMax=: invalid size '12X'");
}

TEST(size_suffixes_and_infinity) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        static const char conf[] =
                "[Global]\n"
                "DefaultPinnedMemoryMax=2T\n"
                "DefaultMappingsMax=100\n"
                "[Tenant k]\nUser=1\nPinnedMemoryMax=512K\n"
                "[Tenant g]\nUser=2\nPinnedMemoryMax=3G\nMappingsMax=infinity\n"
                "[Tenant b]\nUser=3\nPinnedMemoryMax=4097\nPinnedMemoryMax=\n";
        char path[PATH_MAX], error[1024];

        tmp_file("sizes.conf", conf, strlen(conf), path, sizeof(path));
        ASSERT_OK(policy_load(path, NULL, &p, error, sizeof(error)));
        ASSERT_U64_EQ(policy_find_tenant(p, "k")->limits.pinned_bytes, 512 * 1024);
        ASSERT_U64_EQ(policy_find_tenant(p, "g")->limits.pinned_bytes, 3ULL << 30);
        ASSERT_U64_EQ(policy_find_tenant(p, "g")->limits.mappings, POLICY_UNLIMITED);
        ASSERT_U64_EQ(policy_find_tenant(p, "k")->limits.mappings, 100);
        ASSERT_U64_EQ(policy_find_tenant(p, "b")->limits.pinned_bytes, 2ULL << 40);
}

TEST(bad_sizes_are_refused) {
        static const char *const bad[] = { "64m", "1.5G", "M", "", "64 M", "0x10", "17179869184T", "1KB" };
        char path[PATH_MAX], conf[256];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int n = snprintf(conf, sizeof(conf), "[Tenant a]\nUser=0\nPinnedMemoryMax=%s%s\n", bad[i],
                                 bad[i][0] ? "" : "x");

                check_error_at(tmp_file("size.conf", conf, (size_t) n, path, sizeof(path)), NULL, EINVAL, 3,
                               "invalid size");
        }
}

TEST(overlong_lines_and_nul_bytes_are_refused) {
        char path[PATH_MAX], conf[1024];
        size_t n;

        n = (size_t) snprintf(conf, sizeof(conf), "[Tenant a]\nUser=0\nUnit=");
        memset(conf + n, 'x', 400);
        n += 400;
        n += (size_t) snprintf(conf + n, sizeof(conf) - n, ".service\n");
        check_error_at(tmp_file("long.conf", conf, n, path, sizeof(path)), NULL, EINVAL, 3, "line too long");

        tmp_file("nul.conf", "[Tenant a]\nUser=0\0\n", 19, path, sizeof(path));
        check_error_at(path, NULL, EINVAL, 2, "NUL byte");
}

/* A CR is allowed only as the end of a CRLF line; anywhere else it would hide the rest of the line. */
TEST(carriage_return_only_before_the_newline) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char error[1024];

        check_error("bad-cr.conf", 3, "carriage return inside a line");
        ASSERT_OK(load_file("crlf.conf", &p, error, sizeof(error)));
        ASSERT_TRUE(policy_find_tenant(p, "a")->limits.allow_nesting);
}

/* Bytes of the file that are not valid UTF-8 are quoted as \xNN: the message goes out over D-Bus. */
TEST(error_messages_escape_bytes_that_are_not_utf8) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char error[1024];

        check_error("bad-utf8.conf", 2, "unknown user '\\xff'");
        ASSERT_ERRNO(EINVAL, load_file("bad-utf8.conf", &p, error, sizeof(error)));
        for (const char *c = error; *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
                        TEST_FAIL("byte 0x%02x in '%s'", (unsigned char) *c, error);
}

/* ---------------------------------------------------------------- matching */

static const char *match_name(const Policy *p, uid_t uid, gid_t gid, gid_t *groups, size_t n_groups,
                              const char *unit, const char *slice, const char *cgroup) {
        PeerIdentity id = {
                .pid = 1234,
                .uid = uid,
                .gid = gid,
                .groups = groups,
                .n_groups = n_groups,
                .unit = (char *) unit,
                .slice = (char *) slice,
                .cgroup = (char *) cgroup,
        };
        const PolicyTenant *t = policy_match(p, &id);

        return t ? t->name : "(deny)";
}

#define NOBODY 65534

TEST(match_by_uid_group_and_supplementary_group) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        gid_t supplementary[] = { 9, 5000 };
        char error[1024];

        ASSERT_OK(load_file("match.conf", &p, error, sizeof(error)));
        ASSERT_STREQ(match_name(p, 4242, NOBODY, NULL, 0, NULL, NULL, NULL), "by-uid");
        ASSERT_STREQ(match_name(p, 4243, NOBODY, NULL, 0, NULL, NULL, NULL), "by-uid");
        ASSERT_STREQ(match_name(p, 1, 5000, NULL, 0, NULL, NULL, NULL), "by-group");
        ASSERT_STREQ(match_name(p, 1, NOBODY, supplementary, 2, NULL, NULL, NULL), "by-group");
        ASSERT_STREQ(match_name(p, 1, NOBODY, supplementary, 1, NULL, NULL, NULL), "(deny)");
}

TEST(match_by_unit_slice_and_cgroup_globs) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char error[1024];

        ASSERT_OK(load_file("match.conf", &p, error, sizeof(error)));
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, "qemu-a.service", NULL, NULL), "by-unit");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, "qemu.service", NULL, NULL), "(deny)");
        /* A slice matches itself and its parents. */
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, "tenants.slice", NULL), "by-slice");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, "tenants-blue.slice", NULL), "by-slice");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, "tenants-blue-x.slice", NULL), "by-slice");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, "tenantsx.slice", NULL), "(deny)");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, "machine.slice", NULL), "(deny)");
        /* A cgroup matches itself and its ancestors; * stays within one path component. */
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, NULL, "/vms/a/payload"), "by-cgroup");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, NULL, "/vms/a/payload/vcpu0"), "by-cgroup");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, NULL, "/vms/a/b/payload"), "(deny)");
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, NULL, "/vms/a"), "(deny)");
        /* Unknown facts match nothing that needs them. */
        ASSERT_STREQ(match_name(p, 1, NOBODY, NULL, 0, NULL, NULL, NULL), "(deny)");
}

TEST(match_ands_keys_and_ors_values_first_tenant_wins) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char error[1024];

        ASSERT_OK(load_file("match.conf", &p, error, sizeof(error)));
        /* [Tenant and]: User=6000 AND Unit=vmm.service. */
        ASSERT_STREQ(match_name(p, 6000, NOBODY, NULL, 0, "vmm.service", NULL, NULL), "and");
        ASSERT_STREQ(match_name(p, 6000, NOBODY, NULL, 0, NULL, NULL, NULL), "(deny)");
        ASSERT_STREQ(match_name(p, 6000, NOBODY, NULL, 0, "other.service", NULL, NULL), "(deny)");
        ASSERT_STREQ(match_name(p, 6001, NOBODY, NULL, 0, "vmm.service", NULL, NULL), "(deny)");
        /* [Tenant or]: User=7000, User=7001 (and User=4242 4243 above). */
        ASSERT_STREQ(match_name(p, 7000, NOBODY, NULL, 0, NULL, NULL, NULL), "or");
        ASSERT_STREQ(match_name(p, 7001, NOBODY, NULL, 0, NULL, NULL, NULL), "or");
        /* Matching by-uid and by-group: the earlier section wins. */
        ASSERT_STREQ(match_name(p, 4242, 5000, NULL, 0, "qemu-a.service", NULL, NULL), "by-uid");
        ASSERT_STREQ(match_name(p, 1, 5000, NULL, 0, "qemu-a.service", NULL, NULL), "by-group");
}

TEST(no_match_is_deny) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char error[1024];

        ASSERT_OK(load_file("match.conf", &p, error, sizeof(error)));
        ASSERT_STREQ(match_name(p, 0, 0, NULL, 0, "sshd.service", "system.slice",
                                "/system.slice/sshd.service"), "(deny)");
        ASSERT_TRUE(!policy_match(p, NULL));
        ASSERT_TRUE(!policy_match(NULL, NULL));
}

/* ---------------------------------------------------------------- devices */

TEST(device_grants_by_address_glob_and_group) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        const PolicyTenant *t, *other;
        char error[1024];

        ASSERT_OK(load_file("match.conf", &p, error, sizeof(error)));
        t = policy_find_tenant(p, "devices");
        other = policy_find_tenant(p, "by-uid");
        ASSERT_TRUE(policy_tenant_grants_device(t, "0000:03:00.0", -1));
        ASSERT_TRUE(!policy_tenant_grants_device(t, "0000:03:00.1", -1));
        ASSERT_TRUE(policy_tenant_grants_device(t, "0000:04:00.0", -1));
        ASSERT_TRUE(policy_tenant_grants_device(t, "0000:04:1f.7", 3));
        ASSERT_TRUE(!policy_tenant_grants_device(t, "0001:04:00.0", -1));
        ASSERT_TRUE(policy_tenant_grants_device(t, "0000:09:00.0", 7));
        ASSERT_TRUE(!policy_tenant_grants_device(t, "0000:09:00.0", 8));
        ASSERT_TRUE(!policy_tenant_grants_device(t, "0000:09:00.0", -1));
        /* Addresses compare in lower case whichever way they were written. */
        ASSERT_TRUE(policy_tenant_grants_device(t, "0000:0a:00.0", -1));
        ASSERT_TRUE(policy_tenant_grants_device(t, "0000:0A:00.0", -1));
        ASSERT_TRUE(!policy_tenant_grants_device(other, "0000:03:00.0", -1));
        ASSERT_TRUE(!policy_tenant_grants_device(NULL, "0000:03:00.0", -1));
}

/* ---------------------------------------------------------------- reload */

TEST(reload_diff_reports_what_each_tenant_lost) {
        _cleanup_(policy_unrefp) Policy *old = NULL, *new = NULL;
        char error[1024];

        ASSERT_OK(load_file("reload-old.conf", &old, error, sizeof(error)));
        ASSERT_OK(load_file("reload-new.conf", &new, error, sizeof(error)));

        /* a: 0000:03:00.0 is still covered (by a glob), 0000:05:*.* is gone; a raised limit is no loss. */
        ASSERT_EQ(policy_diff_tenant(old, new, "a"), POLICY_LOSS_DEVICES);
        ASSERT_EQ(policy_diff_tenant(old, new, "b"), POLICY_LOSS_FEATURES);
        ASSERT_EQ(policy_diff_tenant(old, new, "c"), POLICY_LOSS_TENANT);
        /* d: Unit= added narrows the match even though User= grew; unlimited -> 1G. */
        ASSERT_EQ(policy_diff_tenant(old, new, "d"), POLICY_LOSS_MATCH | POLICY_LOSS_LIMITS);
        /* e: the IOVA window grew. */
        ASSERT_EQ(policy_diff_tenant(old, new, "e"), 0);
        ASSERT_ERRNO(ENOENT, policy_diff_tenant(old, new, "f"));
        ASSERT_EQ(policy_diff_tenant(new, old, "e"), POLICY_LOSS_FEATURES);
}

TEST(reload_session_losses_rematch_the_peer) {
        _cleanup_(policy_unrefp) Policy *old = NULL, *new = NULL;
        PeerIdentity id = PEER_IDENTITY_NULL;
        char error[1024];
        bool revoke;

        ASSERT_OK(load_file("reload-old.conf", &old, error, sizeof(error)));
        ASSERT_OK(load_file("reload-new.conf", &new, error, sizeof(error)));

        id.uid = 100;
        ASSERT_EQ(policy_session_losses(policy_match(old, &id), new, &id, &revoke), POLICY_LOSS_DEVICES);
        ASSERT_TRUE(revoke);            /* [Global] RevokeOnReload=yes */
        id.uid = 300;
        ASSERT_EQ(policy_session_losses(policy_match(old, &id), new, &id, &revoke), POLICY_LOSS_TENANT);
        ASSERT_TRUE(revoke);
        /*
         * uid 400 without a unit now falls through to [Tenant f]: a match loss, but the session stays
         * d's, so it is compared with d (unlimited -> 1G), not with f.
         */
        id.uid = 400;
        ASSERT_EQ(policy_session_losses(policy_match(old, &id), new, &id, &revoke),
                  POLICY_LOSS_MATCH | POLICY_LOSS_LIMITS);
        ASSERT_TRUE(revoke);
        /* ... while with the unit it still is d, whose narrowed match does not concern it. */
        id.unit = (char *) "vmm.service";
        ASSERT_EQ(policy_session_losses(policy_match(old, &id), new, &id, &revoke), POLICY_LOSS_LIMITS);
        id.unit = NULL;
        id.uid = 500;
        ASSERT_EQ(policy_session_losses(policy_match(old, &id), new, &id, &revoke), 0);
        ASSERT_TRUE(!revoke);
        /* Back again: e's window narrows, and e says RevokeOnReload=no. */
        ASSERT_EQ(policy_session_losses(policy_match(new, &id), old, &id, &revoke), POLICY_LOSS_FEATURES);
        ASSERT_TRUE(!revoke);
}

/*
 * A session keeps the tenant of its name across a reload: another tenant that now matches its peer
 * first must not hide what that tenant lost, nor lend it its RevokeOnReload=.
 */
TEST(reload_session_losses_weigh_the_tenant_of_the_same_name) {
        _cleanup_(policy_unrefp) Policy *old = NULL, *new = NULL;
        PeerIdentity id = PEER_IDENTITY_NULL;
        char error[1024];
        bool revoke = false;

        ASSERT_OK(load_file("reload-tenant-old.conf", &old, error, sizeof(error)));
        ASSERT_OK(load_file("reload-tenant-new.conf", &new, error, sizeof(error)));
        id.uid = 0;
        ASSERT_STREQ(policy_match(new, &id)->name, "b");
        ASSERT_EQ(policy_session_losses(policy_find_tenant(old, "a"), new, &id, &revoke),
                  POLICY_LOSS_MATCH | POLICY_LOSS_DEVICES);
        ASSERT_TRUE(revoke);            /* a's RevokeOnReload=yes, not b's no */
        /* The tenant gone: [Global]'s value (no). */
        ASSERT_EQ(policy_session_losses(policy_find_tenant(new, "b"), old, &id, &revoke), POLICY_LOSS_TENANT);
        ASSERT_TRUE(!revoke);
}

/* ---------------------------------------------------------------- peer identity */

static bool gid_in(gid_t g, const gid_t *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == g)
                        return true;
        return false;
}

TEST(peer_identity_of_a_live_process) {
        _cleanup_(peer_identity_done) PeerIdentity id = PEER_IDENTITY_NULL;
        _cleanup_close_ int pidfd = -1;
        _cleanup_free_ char *unit = NULL, *slice = NULL, *cgroup = NULL;
        int fds[2] = { -1, -1 };
        struct ucred cred;
        socklen_t len = sizeof(cred);
        gid_t groups[256];
        int n, r;

        /* The credentials the broker gets at accept: SO_PEERCRED of a socket peer (ourselves). */
        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds));
        r = getsockopt(fds[0], SOL_SOCKET, SO_PEERCRED, &cred, &len);
        safe_close(fds[0]);
        safe_close(fds[1]);
        ASSERT_OK(r);
        ASSERT_EQ(cred.pid, getpid());

        pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);     /* -1 on old kernels: the pid is used */
        ASSERT_OK(peer_identity_get(&id, &cred, pidfd));
        ASSERT_EQ(id.pid, getpid());
        ASSERT_EQ(id.uid, getuid());
        ASSERT_EQ(id.gid, getgid());

        n = getgroups((int) ELEMENTSOF(groups), groups);
        ASSERT_OK(n);
        ASSERT_EQ(id.n_groups, n);
        for (int i = 0; i < n; i++)
                ASSERT_TRUE(gid_in(groups[i], id.groups, id.n_groups));

        /* Outside systemd these may be unknown: then NULL, never an error. */
        if (sd_pid_get_unit(0, &unit) >= 0)
                ASSERT_STREQ(id.unit, unit);
        else
                ASSERT_TRUE(!id.unit);
        if (sd_pid_get_slice(0, &slice) >= 0)
                ASSERT_STREQ(id.slice, slice);
        else
                ASSERT_TRUE(!id.slice);
        if (sd_pid_get_cgroup(0, &cgroup) >= 0)
                ASSERT_STREQ(id.cgroup, cgroup);
        else
                ASSERT_TRUE(!id.cgroup);
        printf("# unit=%s slice=%s cgroup=%s groups=%zu\n", id.unit ?: "(none)", id.slice ?: "(none)",
               id.cgroup ?: "(none)", id.n_groups);
}

TEST(peer_identity_of_a_gone_process_is_esrch) {
        PeerIdentity id = PEER_IDENTITY_NULL;
        _cleanup_close_ int pidfd = -1;
        struct ucred cred;
        pid_t pid;

        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0)
                _exit(0);
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        ASSERT_EQ(waitpid(pid, NULL, 0), pid);
        cred = (struct ucred) { .pid = pid, .uid = getuid(), .gid = getgid() };
        ASSERT_ERRNO(ESRCH, peer_identity_get(&id, &cred, pidfd));
        ASSERT_ERRNO(ESRCH, peer_identity_get(&id, &cred, -1));
        cred.pid = 0;
        ASSERT_ERRNO(ESRCH, peer_identity_get(&id, &cred, -1));
        ASSERT_TRUE(!id.groups && !id.unit);
}

TEST(peer_identity_rejects_a_pidfd_of_a_dead_process) {
        _cleanup_(peer_identity_done) PeerIdentity id = PEER_IDENTITY_NULL;
        _cleanup_close_ int pidfd = -1;
        struct ucred cred = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
        pid_t pid;

        /* Our pid stands for a recycled one: the facts read fine, the pidfd says its process is gone. */
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0)
                _exit(0);
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        ASSERT_EQ(waitpid(pid, NULL, 0), pid);
        if (pidfd < 0) {
                tests_skip("no pidfd_open()");
                return;
        }
        ASSERT_ERRNO(ESRCH, peer_identity_get(&id, &cred, pidfd));
}

/* ---------------------------------------------------------------- audit */

static char *read_all(const char *path) {
        _cleanup_free_ char *buf = NULL;
        FILE *f;
        size_t n;

        buf = calloc(1, 8192);
        f = buf ? fopen(path, "re") : NULL;
        if (!f)
                return NULL;
        n = fread(buf, 1, 8191, f);
        buf[n] = '\0';
        (void) fclose(f);
        return TAKE_PTR(buf);
}

/* Strips the "time" member so that lines compare. */
static const char *after_time(const char *line) {
        const char *s = strstr(line, "\"message_id\"");

        return s ? s : line;
}

TEST(audit_file_gets_one_json_line_per_record) {
        _cleanup_free_ char *content = NULL;
        char path[PATH_MAX];
        char *second;

        (void) snprintf(path, sizeof(path), "%s/audit.log", tmp_dir);
        ASSERT_OK(audit_open(path));
        audit_log(&(AuditRecord) {
                .tenant = "vm1",
                .uid = 1000,
                .pid = 4242,
                .unit = "qemu-vm1.service",
                .verb = AUDIT_VERB_DEVICE_OPEN,
                .object = "0000:03:00.0",
                .result = AUDIT_GRANTED,
        });
        audit_log(&(AuditRecord) {
                .uid = 1001,
                .pid = 77,
                .verb = AUDIT_VERB_CONNECT,
                .result = AUDIT_DENIED,
                .reason = "no \"tenant\"\n\\ \xff\xc3\xa9",
        });
        audit_close();

        content = read_all(path);
        ASSERT_TRUE(content);
        ASSERT_TRUE(strncmp(content, "{\"time\":\"", 9) == 0);
        second = strchr(content, '\n');
        ASSERT_TRUE(second);
        *second++ = '\0';
        ASSERT_STREQ(after_time(content),
                     "\"message_id\":\"" AUDIT_MESSAGE_ID_GRANTED "\",\"tenant\":\"vm1\",\"uid\":1000,"
                     "\"pid\":4242,\"unit\":\"qemu-vm1.service\",\"verb\":\"device-open\","
                     "\"object\":\"0000:03:00.0\",\"result\":\"granted\",\"reason\":null}");
        ASSERT_STREQ(after_time(second),
                     "\"message_id\":\"" AUDIT_MESSAGE_ID_DENIED "\",\"tenant\":null,\"uid\":1001,"
                     "\"pid\":77,\"unit\":null,\"verb\":\"connect\",\"object\":null,\"result\":\"denied\","
                     "\"reason\":\"no \\\"tenant\\\"\\u000a\\\\ \\ufffd\xc3\xa9\"}\n");
}

TEST(audit_open_failure_keeps_the_old_file) {
        _cleanup_free_ char *content = NULL;
        char path[PATH_MAX], bad[PATH_MAX];

        (void) snprintf(path, sizeof(path), "%s/audit2.log", tmp_dir);
        (void) snprintf(bad, sizeof(bad), "%s/no-such-dir/audit.log", tmp_dir);
        ASSERT_OK(audit_open(path));
        ASSERT_ERRNO(ENOENT, audit_open(bad));
        audit_log(&(AuditRecord) { .uid = (uid_t) -1, .verb = AUDIT_VERB_RELOAD, .object = "policy.conf",
                                   .result = AUDIT_GRANTED });
        audit_close();
        content = read_all(path);
        ASSERT_TRUE(content);
        ASSERT_TRUE(strstr(content, "\"uid\":null,\"pid\":null,\"unit\":null,\"verb\":\"reload\""));
}

/* ---------------------------------------------------------------- the shipped example */

/* Copies src to dst, turning User=/Group=/SocketGroup= names this host lacks into 0. */
static int copy_resolving_names(const char *src, const char *dst) {
        _cleanup_free_ char *line = NULL;
        FILE *in, *out;
        size_t size = 0;

        in = fopen(src, "re");
        if (!in)
                return -errno;
        out = fopen(dst, "we");
        if (!out) {
                (void) fclose(in);
                return -errno;
        }
        while (getline(&line, &size, in) >= 0) {
                char *eq = strchr(line, '=');
                bool users = strncmp(line, "User=", 5) == 0;
                bool groups = strncmp(line, "Group=", 6) == 0 || strncmp(line, "SocketGroup=", 12) == 0;

                if (eq && (users || groups)) {
                        char *save = NULL;

                        eq[strcspn(eq, "\n")] = '\0';
                        *eq = '\0';
                        fprintf(out, "%s=", line);
                        for (char *w = strtok_r(eq + 1, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                                bool known = users ? getpwnam(w) != NULL : getgrnam(w) != NULL;

                                fprintf(out, " %s", known || strspn(w, "0123456789") == strlen(w) ? w : "0");
                        }
                        fputc('\n', out);
                } else
                        fputs(line, out);
        }
        (void) fclose(in);
        return fclose(out) == 0 ? 0 : -errno;
}

TEST(shipped_example_policy_loads) {
        _cleanup_(policy_unrefp) Policy *p = NULL;
        char src[PATH_MAX], dst[PATH_MAX], error[1024] = "";
        int r;

        (void) snprintf(src, sizeof(src), "%s/../../../docs/examples/policy.conf", data_dir);
        (void) snprintf(dst, sizeof(dst), "%s/example.conf", tmp_dir);
        if (access(src, R_OK) < 0) {
                tests_skip("docs/examples/policy.conf not found");
                return;
        }
        ASSERT_OK(copy_resolving_names(src, dst));
        r = policy_load(dst, NULL, &p, error, sizeof(error));
        if (r < 0)
                TEST_FAIL("example: %s", error);
        ASSERT_TRUE(p->n_tenants >= 2);
}

TESTS_MAIN(setup, teardown)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-parse.c - reading policy.conf and policy.d/ (*.conf) into a Policy.
 *
 * Owns: policy_load(): the file list, the syntax (through libinih), the key
 * tables of [Global] and [Tenant NAME], value parsing (sizes, counts, ranges,
 * booleans, users and groups resolved through NSS now, globs), inheritance
 * of limits from [Global], and the rule that a load succeeds whole or not at
 * all, with the first error as "FILE:LINE: message".
 * Must never: log, keep half a policy, or be lenient: an unknown section, key
 * or name is an error so that typos are found.
 *
 * inih is driven through ini_parse_stream() with our own line reader.  The
 * reader counts lines (so a handler knows its line), strips leading blanks
 * (which turns off inih's indented continuation lines: an indented
 * "Key=Value" is an assignment as in systemd units, not part of the previous
 * value), drops a UTF-8 BOM and the CR of a CRLF line end, refuses lines
 * too long for inih's buffer, NUL bytes and a CR anywhere else (it would hide
 * the rest of the line), and parses section headers itself so that an empty
 * or misspelled section is seen too.  It stops at the first error.
 *
 * Errors quote file names and content; they go out over D-Bus, so they are
 * escaped text (error_set(): control characters and bytes not part of valid
 * UTF-8 as \xNN).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ini.h>

#include "common/text-escape.h"
#include "policy/policy.h"

#define SECTION_HEADER_MAX 49           /* inih keeps 50 bytes of a section name, NUL included */

typedef enum SectionKind {
        SECTION_NONE,
        SECTION_GLOBAL,
        SECTION_TENANT,
} SectionKind;

typedef struct Parser {
        Policy *policy;
        const char *path;
        FILE *f;
        char *buf;
        size_t buf_size;
        unsigned line;
        SectionKind section;
        PolicyTenant *tenant;           /* of the current [Tenant] section */
        int r;                          /* the first error, or 0 */
        unsigned error_line;
        char *error;
        size_t error_size;
} Parser;

static void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

/*
 * Writes the sentence to error (of error_size bytes, at least 1), escaped by
 * common/text-escape.h: it quotes file names and content and goes out over
 * D-Bus, which takes only valid UTF-8.
 */
_printf_(3, 4) static void error_set(char *error, size_t error_size, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        (void) text_escape(msg, error, error_size);
}

/* Records the first error as "FILE:LINE: message"; returns r. */
_printf_(3, 4) static int parser_error(Parser *p, int r, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        if (p->r < 0)
                return r;
        p->r = r;
        p->error_line = p->line;
        if (!p->error || p->error_size == 0)
                return r;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        error_set(p->error, p->error_size, "%s:%u: %s", p->path, p->line, msg);
        return r;
}

static int parser_oom(Parser *p) {
        return parser_error(p, -ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- values */

/* Unsigned decimal, or hexadecimal with 0x; nothing else, not even blanks. */
static int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        int base = 10;
        char *end;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        /* Digits only: strtoull() would take blanks, a sign and, in base 16, another 0x too. */
        if (!*s || strspn(s, base == 16 ? "0123456789abcdefABCDEF" : "0123456789") != strlen(s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool is_decimal(const char *s) {
        return *s && strspn(s, "0123456789") == strlen(s);
}

/* "1024", "64M": K, M, G, T are powers of 1024; "infinity": no limit. */
static int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                char suffix;
                unsigned shift;
        } suffixes[] = { { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 } };
        unsigned long long v;
        unsigned shift = 0;
        char *end;

        if (strcmp(s, "infinity") == 0) {
                *ret = POLICY_UNLIMITED;
                return 0;
        }
        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;
        if (*end) {
                size_t i;

                for (i = 0; i < ELEMENTSOF(suffixes); i++)
                        if (end[0] == suffixes[i].suffix && end[1] == '\0')
                                break;
                if (i == ELEMENTSOF(suffixes))
                        return -EINVAL;
                shift = suffixes[i].shift;
        }
        if (v > (UINT64_MAX >> shift) || (v << shift) == POLICY_UNLIMITED)
                return -ERANGE;
        *ret = (uint64_t) v << shift;
        return 0;
}

/* A count: decimal, or "infinity". */
static int parse_count(const char *s, uint64_t *ret) {
        uint64_t v;

        if (strcmp(s, "infinity") == 0) {
                *ret = POLICY_UNLIMITED;
                return 0;
        }
        if (!is_decimal(s))
                return -EINVAL;
        if (parse_u64(s, &v) < 0 || v == POLICY_UNLIMITED)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* Exactly the eight words of policy(5), in lower case. */
static int parse_boolean(const char *s) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

/* A boolean key's value, with the error message. */
static int parse_boolean_value(Parser *p, const char *key, const char *value, bool *ret) {
        int b;

        b = parse_boolean(value);
        if (b < 0)
                return parser_error(p, -EINVAL, "%s=: invalid boolean '%s' (expected yes or no)", key,
                                    value);
        *ret = b;
        return 0;
}

/* "A-B" (inclusive) with A and B as parse_u64() takes them; "A" alone is "A-A". */
static int parse_range(const char *s, uint64_t *ret_first, uint64_t *ret_last) {
        _cleanup_free_ char *a = NULL;
        const char *dash;
        uint64_t first, last;
        int r;

        dash = strchr(s, '-');
        if (!dash) {
                r = parse_u64(s, &first);
                if (r < 0)
                        return r;
                last = first;
        } else {
                a = strndup(s, (size_t) (dash - s));
                if (!a)
                        return -ENOMEM;
                r = parse_u64(a, &first);
                if (r < 0)
                        return r;
                r = parse_u64(dash + 1, &last);
                if (r < 0)
                        return r;
        }
        if (last < first)
                return -EDOM;
        *ret_first = first;
        *ret_last = last;
        return 0;
}

/* Calls fn for each blank-separated word of value. */
static int for_each_word(Parser *p, const char *key, const char *value,
                         int (*fn)(Parser *p, const char *key, const char *word, void *data), void *data) {
        const char *s = value;

        for (;;) {
                _cleanup_free_ char *word = NULL;
                size_t n;
                int r;

                s += strspn(s, " \t");
                if (!*s)
                        return 0;
                n = strcspn(s, " \t");
                word = strndup(s, n);
                if (!word)
                        return parser_oom(p);
                r = fn(p, key, word, data);
                if (r < 0)
                        return r;
                s += n;
        }
}

static int array_grow(Parser *p, void **array, size_t n, size_t size) {
        void *a;

        a = reallocarray(*array, n + 1, size);
        if (!a)
                return parser_oom(p);
        *array = a;
        return 0;
}

static int strv_append(Parser *p, char ***l, size_t *n, const char *s) {
        _cleanup_free_ char *copy = NULL;
        int r;

        copy = strdup(s);
        if (!copy)
                return parser_oom(p);
        r = array_grow(p, (void **) l, *n, sizeof(char *));
        if (r < 0)
                return r;
        (*l)[(*n)++] = TAKE_PTR(copy);
        return 0;
}

static void strv_clear(char ***l, size_t *n) {
        for (size_t i = 0; i < *n; i++)
                free((*l)[i]);
        free(*l);
        *l = NULL;
        *n = 0;
}

/* ---------------------------------------------------------------- users and groups */

/* Errors getpwnam_r()/getgrnam_r() use for "no such entry". */
static bool nss_not_found(int e) {
        return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

static int resolve_user(Parser *p, const char *s, uid_t *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 1024;
        uint64_t v;

        if (is_decimal(s)) {
                if (parse_u64(s, &v) < 0 || v >= (uid_t) -1)
                        return parser_error(p, -EINVAL, "invalid user ID '%s'", s);
                *ret = (uid_t) v;
                return 0;
        }
        for (;;) {
                struct passwd pw, *result = NULL;
                int e;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return parser_oom(p);
                e = getpwnam_r(s, &pw, buf, size, &result);
                if (e == ERANGE && size < 1024 * 1024) {
                        size *= 2;
                        continue;
                }
                if (result) {
                        *ret = result->pw_uid;
                        return 0;
                }
                if (nss_not_found(e))
                        return parser_error(p, -EINVAL, "unknown user '%s'", s);
                return parser_error(p, -e, "cannot look up user '%s': %s", s, strerror(e));
        }
}

static int resolve_group(Parser *p, const char *s, gid_t *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 1024;
        uint64_t v;

        if (is_decimal(s)) {
                if (parse_u64(s, &v) < 0 || v >= (gid_t) -1)
                        return parser_error(p, -EINVAL, "invalid group ID '%s'", s);
                *ret = (gid_t) v;
                return 0;
        }
        for (;;) {
                struct group gr, *result = NULL;
                int e;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return parser_oom(p);
                e = getgrnam_r(s, &gr, buf, size, &result);
                if (e == ERANGE && size < 1024 * 1024) {
                        size *= 2;
                        continue;
                }
                if (result) {
                        *ret = result->gr_gid;
                        return 0;
                }
                if (nss_not_found(e))
                        return parser_error(p, -EINVAL, "unknown group '%s'", s);
                return parser_error(p, -e, "cannot look up group '%s': %s", s, strerror(e));
        }
}

/* ---------------------------------------------------------------- limit keys */

static uint64_t *limit_counter(PolicyLimits *l, PolicyLimit f) {
        const PolicyCounter *c = policy_counter_by_field(f);

        return c ? policy_counter_value(l, c) : NULL;
}

static bool *limit_flag(PolicyLimits *l, PolicyLimit f) {
        switch (f) {
        case POLICY_LIMIT_NESTING:
                return &l->allow_nesting;
        case POLICY_LIMIT_DIRTY_TRACKING:
                return &l->allow_dirty_tracking;
        case POLICY_LIMIT_PASID:
                return &l->allow_pasid;
        case POLICY_LIMIT_CONFINED_DEVICE_FDS:
                return &l->confined_device_fds;
        case POLICY_LIMIT_DELEGATE_DEVICES:
                return &l->delegate_devices;
        case POLICY_LIMIT_PINNED_BYTES:
        case POLICY_LIMIT_IOAS:
        case POLICY_LIMIT_HWPT:
        case POLICY_LIMIT_MAPPINGS:
        case POLICY_LIMIT_PASIDS:
        case POLICY_LIMIT_VPASID_RANGE:
        case POLICY_LIMIT_IOVA_WINDOWS:
        case POLICY_LIMIT_PASID_MODE:
        case POLICY_LIMIT_SESSIONS:
        case POLICY_LIMIT_FDS:
        case POLICY_LIMIT_REPLY_BYTES:
        case POLICY_LIMIT_OBJECTS:
        case _POLICY_LIMIT_MAX:
        case _POLICY_LIMIT_INVALID:
                break;
        }
        return NULL;
}

typedef int (*LimitParse)(Parser *p, const char *key, const char *value, PolicyLimits *l, PolicyLimit f);

static int limit_parse_size(Parser *p, const char *key, const char *value, PolicyLimits *l, PolicyLimit f) {
        int r;

        r = parse_size(value, limit_counter(l, f));
        if (r < 0)
                return parser_error(p, -EINVAL, "%s=: invalid size '%s' (expected a number with an "
                                    "optional K, M, G or T suffix, or 'infinity')", key, value);
        return 0;
}

static int limit_parse_count(Parser *p, const char *key, const char *value, PolicyLimits *l, PolicyLimit f) {
        int r;

        r = parse_count(value, limit_counter(l, f));
        if (r < 0)
                return parser_error(p, -EINVAL, "%s=: invalid count '%s' (expected a number or 'infinity')",
                                    key, value);
        return 0;
}

static int limit_parse_flag(Parser *p, const char *key, const char *value, PolicyLimits *l, PolicyLimit f) {
        return parse_boolean_value(p, key, value, limit_flag(l, f));
}

static int limit_parse_vpasid_range(Parser *p, const char *key, const char *value, PolicyLimits *l,
                                    PolicyLimit f) {
        uint64_t first, last;
        int r;

        r = parse_range(value, &first, &last);
        if (r == -ENOMEM)
                return parser_oom(p);
        if (r < 0 || first == 0 || last > POLICY_VPASID_MAX)
                return parser_error(p, -EINVAL, "%s=: invalid vPASID range '%s' (expected FIRST-LAST "
                                    "within 1-%u)", key, value, POLICY_VPASID_MAX);
        l->vpasid_min = (uint32_t) first;
        l->vpasid_max = (uint32_t) last;
        return 0;
}

static int limit_add_iova_window(Parser *p, const char *key, const char *word, void *data) {
        PolicyLimits *l = data;
        uint64_t first, last;
        int r;

        r = parse_range(word, &first, &last);
        if (r == -ENOMEM)
                return parser_oom(p);
        if (r < 0 || !strchr(word, '-'))
                return parser_error(p, -EINVAL, "%s=: invalid IOVA window '%s' (expected FIRST-LAST, "
                                    "inclusive, e.g. 0x0-0xffffffff)", key, word);
        if (l->n_iova_windows >= POLICY_IOVA_WINDOWS_MAX)
                return parser_error(p, -EINVAL, "%s=: more than %d IOVA windows", key,
                                    POLICY_IOVA_WINDOWS_MAX);
        l->iova_windows[l->n_iova_windows++] = (IovaRange) { .start = first, .last = last };
        if (iova_ranges_normalize(l->iova_windows, l->n_iova_windows) < 0)
                return parser_error(p, -EINVAL, "%s=: IOVA window '%s' overlaps another", key, word);
        return 0;
}

static int limit_parse_iova_windows(Parser *p, const char *key, const char *value, PolicyLimits *l,
                                    PolicyLimit f) {
        if (!(l->set & (1u << f)))
                l->n_iova_windows = 0;          /* a list of its own, not added to the inherited one */
        return for_each_word(p, key, value, limit_add_iova_window, l);
}

static int limit_parse_pasid_mode(Parser *p, const char *key, const char *value, PolicyLimits *l,
                                  PolicyLimit f) {
        PolicyPasidMode m;

        m = policy_pasid_mode_from_string(value);
        if (m < 0)
                return parser_error(p, -EINVAL, "%s=: invalid PASID mode '%s' (expected per-device or "
                                    "global)", key, value);
        l->pasid_mode = m;
        return 0;
}

static const struct LimitKey {
        const char *name;
        PolicyLimit field;
        LimitParse parse;
} limit_keys[] = {
        { "VPASIDRange", POLICY_LIMIT_VPASID_RANGE, limit_parse_vpasid_range },
        { "IOVAWindow", POLICY_LIMIT_IOVA_WINDOWS, limit_parse_iova_windows },
        { "Nesting", POLICY_LIMIT_NESTING, limit_parse_flag },
        { "DirtyTracking", POLICY_LIMIT_DIRTY_TRACKING, limit_parse_flag },
        { "PASID", POLICY_LIMIT_PASID, limit_parse_flag },
        { "PASIDMode", POLICY_LIMIT_PASID_MODE, limit_parse_pasid_mode },
        { "ConfinedDeviceFds", POLICY_LIMIT_CONFINED_DEVICE_FDS, limit_parse_flag },
        { "DelegateDevices", POLICY_LIMIT_DELEGATE_DEVICES, limit_parse_flag },
};

/* 1 if key is a limit key (handled), 0 if not, or -errno. */
static int parse_limit_key(Parser *p, const char *key, const char *value, PolicyLimits *l) {
        const char *name = key;
        int r;

        if (p->section == SECTION_GLOBAL) {
                if (strncmp(key, "Default", 7) != 0)
                        return 0;
                name = key + 7;
        }
        for (size_t i = 0; i < policy_n_counters; i++) {
                const PolicyCounter *c = &policy_counters[i];

                if (strcmp(name, c->key) != 0)
                        continue;
                if (!*value) {
                        policy_limits_unset(l, c->field);
                        return 1;
                }
                r = (c->size ? limit_parse_size : limit_parse_count)(p, key, value, l, c->field);
                if (r < 0)
                        return r;
                l->set |= 1u << c->field;
                return 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(limit_keys); i++) {
                const struct LimitKey *k = &limit_keys[i];

                if (strcmp(name, k->name) != 0)
                        continue;
                if (!*value) {
                        policy_limits_unset(l, k->field);
                        return 1;
                }
                r = k->parse(p, key, value, l, k->field);
                if (r < 0)
                        return r;
                l->set |= 1u << k->field;
                return 1;
        }
        return 0;
}

/* ---------------------------------------------------------------- [Tenant] keys */

static int tenant_add_user(Parser *p, const char *key, const char *word, void *data) {
        PolicyTenant *t = data;
        uid_t uid = (uid_t) -1;
        int r;

        r = resolve_user(p, word, &uid);
        if (r < 0)
                return r;
        r = array_grow(p, (void **) &t->users, t->n_users, sizeof(uid_t));
        if (r < 0)
                return r;
        t->users[t->n_users++] = uid;
        return 0;
}

static int tenant_add_group(Parser *p, const char *key, const char *word, void *data) {
        PolicyTenant *t = data;
        gid_t gid = (gid_t) -1;
        int r;

        r = resolve_group(p, word, &gid);
        if (r < 0)
                return r;
        r = array_grow(p, (void **) &t->groups, t->n_groups, sizeof(gid_t));
        if (r < 0)
                return r;
        t->groups[t->n_groups++] = gid;
        return 0;
}

static bool printable(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x21 || *s == 0x7f)
                        return false;
        return true;
}

static int tenant_add_unit(Parser *p, const char *key, const char *word, void *data) {
        PolicyTenant *t = data;

        if (strchr(word, '/') || !printable(word) || (!policy_is_glob(word) && !strchr(word, '.')))
                return parser_error(p, -EINVAL, "%s=: invalid unit name or glob '%s' (expected NAME.TYPE)",
                                    key, word);
        return strv_append(p, &t->units, &t->n_units, word);
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int tenant_add_slice(Parser *p, const char *key, const char *word, void *data) {
        PolicyTenant *t = data;

        if (strchr(word, '/') || !printable(word) || (!policy_is_glob(word) && !ends_with(word, ".slice")))
                return parser_error(p, -EINVAL, "%s=: invalid slice name or glob '%s' (expected NAME.slice)",
                                    key, word);
        return strv_append(p, &t->slices, &t->n_slices, word);
}

static int tenant_add_cgroup(Parser *p, const char *key, const char *word, void *data) {
        _cleanup_free_ char *path = NULL;
        PolicyTenant *t = data;
        size_t n;

        if (word[0] != '/' || !printable(word) || strstr(word, "//"))
                return parser_error(p, -EINVAL, "%s=: invalid cgroup path '%s' (expected an absolute path)",
                                    key, word);
        path = strdup(word);
        if (!path)
                return parser_oom(p);
        n = strlen(path);
        if (n > 1 && path[n - 1] == '/')
                path[n - 1] = '\0';
        return strv_append(p, &t->cgroups, &t->n_cgroups, path);
}

/* "DDDD:BB:DD.F" in hex, function 0-7. */
static bool is_pci_address(const char *s) {
        static const char format[] = "xxxx:xx:xx.f";

        if (strlen(s) != sizeof(format) - 1)
                return false;
        for (size_t i = 0; format[i]; i++) {
                if (format[i] == 'x' && !isxdigit((unsigned char) s[i]))
                        return false;
                if (format[i] == 'f' && (s[i] < '0' || s[i] > '7'))
                        return false;
                if ((format[i] == ':' || format[i] == '.') && s[i] != format[i])
                        return false;
        }
        return true;
}

static int tenant_add_device(Parser *p, const char *key, const char *word, void *data) {
        _cleanup_free_ char *pattern = NULL;
        PolicyTenant *t = data;
        int group = -1;
        int r;

        if (strncmp(word, "group:", 6) == 0) {
                uint64_t v;

                if (!is_decimal(word + 6) || parse_u64(word + 6, &v) < 0 || v > INT32_MAX)
                        return parser_error(p, -EINVAL, "%s=: invalid IOMMU group '%s' (expected group:N)",
                                            key, word);
                group = (int) v;
        } else {
                pattern = strdup(word);
                if (!pattern)
                        return parser_oom(p);
                for (char *c = pattern; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
                if (strspn(pattern, "0123456789abcdef:.*?[]!-") != strlen(pattern) ||
                    (!policy_is_glob(pattern) && !is_pci_address(pattern)))
                        return parser_error(p, -EINVAL, "%s=: invalid device '%s' (expected a PCI "
                                            "address like 0000:03:00.0, a glob like 0000:03:*.*, or "
                                            "group:N)", key, word);
        }
        r = array_grow(p, (void **) &t->devices, t->n_devices, sizeof(PolicyDeviceGrant));
        if (r < 0)
                return r;
        t->devices[t->n_devices++] = (PolicyDeviceGrant) {
                .pattern = TAKE_PTR(pattern),
                .iommu_group = group,
        };
        return 0;
}

static void tenant_clear_devices(PolicyTenant *t) {
        for (size_t i = 0; i < t->n_devices; i++)
                free(t->devices[i].pattern);
        free(t->devices);
        t->devices = NULL;
        t->n_devices = 0;
}

static int parse_tenant_key(Parser *p, const char *key, const char *value) {
        PolicyTenant *t = p->tenant;
        int r;

        r = parse_limit_key(p, key, value, &t->limits);
        if (r != 0)
                return r;

        /* List keys: every value adds, an empty one resets. */
        if (strcmp(key, "User") == 0) {
                if (!*value) {
                        free(t->users);
                        t->users = NULL;
                        t->n_users = 0;
                        return 0;
                }
                return for_each_word(p, key, value, tenant_add_user, t);
        }
        if (strcmp(key, "Group") == 0) {
                if (!*value) {
                        free(t->groups);
                        t->groups = NULL;
                        t->n_groups = 0;
                        return 0;
                }
                return for_each_word(p, key, value, tenant_add_group, t);
        }
        if (strcmp(key, "Unit") == 0) {
                if (!*value) {
                        strv_clear(&t->units, &t->n_units);
                        return 0;
                }
                return for_each_word(p, key, value, tenant_add_unit, t);
        }
        if (strcmp(key, "Slice") == 0) {
                if (!*value) {
                        strv_clear(&t->slices, &t->n_slices);
                        return 0;
                }
                return for_each_word(p, key, value, tenant_add_slice, t);
        }
        if (strcmp(key, "CGroup") == 0) {
                if (!*value) {
                        strv_clear(&t->cgroups, &t->n_cgroups);
                        return 0;
                }
                return for_each_word(p, key, value, tenant_add_cgroup, t);
        }
        if (strcmp(key, "Device") == 0) {
                if (!*value) {
                        tenant_clear_devices(t);
                        return 0;
                }
                return for_each_word(p, key, value, tenant_add_device, t);
        }
        if (strcmp(key, "RevokeOnReload") == 0) {
                if (!*value) {
                        t->revoke_on_reload_set = false;
                        return 0;
                }
                r = parse_boolean_value(p, key, value, &t->revoke_on_reload);
                if (r < 0)
                        return r;
                t->revoke_on_reload_set = true;
                return 0;
        }
        return parser_error(p, -EINVAL, "unknown key '%s' in [Tenant %s]", key, t->name);
}

/* ---------------------------------------------------------------- [Global] keys */

static int parse_global_key(Parser *p, const char *key, const char *value) {
        Policy *policy = p->policy;
        int r;

        r = parse_limit_key(p, key, value, &policy->defaults);
        if (r != 0)
                return r;

        if (strcmp(key, "SocketGroup") == 0) {
                gid_t gid;

                if (!*value) {
                        policy->socket_gid = (gid_t) -1;
                        return 0;
                }
                r = resolve_group(p, value, &gid);
                if (r < 0)
                        return r;
                policy->socket_gid = gid;
                return 0;
        }
        if (strcmp(key, "AuditFile") == 0) {
                char *path = NULL;

                if (*value) {
                        if (value[0] != '/' || !printable(value))
                                return parser_error(p, -EINVAL, "%s=: '%s' is not an absolute path", key,
                                                    value);
                        path = strdup(value);
                        if (!path)
                                return parser_oom(p);
                }
                free(policy->audit_file);
                policy->audit_file = path;
                return 0;
        }
        if (strcmp(key, "RevokeOnReload") == 0) {
                policy->revoke_on_reload = false;
                return *value ? parse_boolean_value(p, key, value, &policy->revoke_on_reload) : 0;
        }
        return parser_error(p, -EINVAL, "unknown key '%s' in [Global]", key);
}

/* ---------------------------------------------------------------- sections and lines */

static bool tenant_name_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= POLICY_TENANT_NAME_MAX &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@:-") == n;
}

static int parser_find_or_add_tenant(Parser *p, const char *name) {
        _cleanup_(policy_tenant_freep) PolicyTenant *t = NULL;
        Policy *policy = p->policy;
        int r;

        for (size_t i = 0; i < policy->n_tenants; i++)
                if (strcmp(policy->tenants[i]->name, name) == 0) {
                        p->tenant = policy->tenants[i];
                        return 0;
                }
        r = policy_tenant_new(&t, name, p->path, p->line);
        if (r < 0)
                return parser_oom(p);
        r = array_grow(p, (void **) &policy->tenants, policy->n_tenants, sizeof(PolicyTenant *));
        if (r < 0)
                return r;
        p->tenant = policy->tenants[policy->n_tenants++] = TAKE_PTR(t);
        return 0;
}

/* s starts with '['. */
static int parser_section(Parser *p, const char *s) {
        _cleanup_free_ char *header = NULL;
        const char *end, *rest;
        char *h, *e;

        end = strchr(s, ']');
        if (!end)
                return parser_error(p, -EINVAL, "section header without ']'");
        rest = end + 1 + strspn(end + 1, " \t");
        if (*rest && *rest != '#' && *rest != ';')
                return parser_error(p, -EINVAL, "unexpected text after the section header");
        header = strndup(s + 1, (size_t) (end - s - 1));
        if (!header)
                return parser_oom(p);
        h = header + strspn(header, " \t");
        for (e = h + strlen(h); e > h && (e[-1] == ' ' || e[-1] == '\t'); e--)
                e[-1] = '\0';
        if (strlen(header) > SECTION_HEADER_MAX)
                return parser_error(p, -EINVAL, "section header too long");

        p->tenant = NULL;
        if (strcmp(h, "Global") == 0) {
                p->section = SECTION_GLOBAL;
                return 0;
        }
        if (strncmp(h, "Tenant", 6) == 0 && (h[6] == ' ' || h[6] == '\t')) {
                const char *name = h + 6 + strspn(h + 6, " \t");

                if (!tenant_name_valid(name))
                        return parser_error(p, -EINVAL, "invalid tenant name '%s' (1-%d characters of "
                                            "A-Z a-z 0-9 _ . @ : -)", name, POLICY_TENANT_NAME_MAX);
                if (strcmp(name, POLICY_TENANT_LOCAL_ADMIN) == 0)
                        return parser_error(p, -EINVAL, "tenant name '%s' is reserved for the sessions "
                                            "admitted without a policy", name);
                p->section = SECTION_TENANT;
                return parser_find_or_add_tenant(p, name);
        }
        if (strcmp(h, "Tenant") == 0)
                return parser_error(p, -EINVAL, "[Tenant] needs a name: [Tenant NAME]");
        return parser_error(p, -EINVAL, "unknown section [%s] (expected [Global] or [Tenant NAME])", h);
}

/* inih's line reader: see the header comment. */
static char *parser_read_line(char *str, int num, void *stream) {
        Parser *p = stream;
        ssize_t n;
        char *s;

        if (p->r < 0)
                return NULL;
        errno = 0;
        n = getline(&p->buf, &p->buf_size, p->f);
        if (n < 0) {
                if (ferror(p->f)) {
                        p->line++;
                        (void) parser_error(p, errno > 0 ? -errno : -EIO, "read error: %s",
                                            strerror(errno > 0 ? errno : EIO));
                }
                return NULL;
        }
        p->line++;
        if (strlen(p->buf) != (size_t) n) {
                (void) parser_error(p, -EINVAL, "NUL byte in line");
                return NULL;
        }
        s = p->buf;
        if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
                s += 3;
        s += strspn(s, " \t");
        n = (ssize_t) strcspn(s, "\n");
        if (n > 0 && s[n] == '\n' && s[n - 1] == '\r')
                n--;                    /* a CRLF line end */
        s[n] = '\0';
        if (strchr(s, '\r')) {
                (void) parser_error(p, -EINVAL, "carriage return inside a line");
                return NULL;
        }
        if (num < 2 || n > num - 2) {
                (void) parser_error(p, -EINVAL, "line too long (more than %d characters)", num - 2);
                return NULL;
        }
        if (s[0] == '[') {
                if (parser_section(p, s) < 0)
                        return NULL;
        } else if (s[0] != '#' && s[0] != ';' && s[strcspn(s, "=:")] == ':') {
                /* inih would take "Key: value" as well; systemd does not. */
                (void) parser_error(p, -EINVAL, "syntax error: expected Key=Value, not Key:Value");
                return NULL;
        }
        memcpy(str, s, (size_t) n);
        str[n] = '\n';
        str[n + 1] = '\0';
        return str;
}

static int parser_handle(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;

        if (p->r < 0)
                return 0;
        switch (p->section) {
        case SECTION_NONE:
                (void) parser_error(p, -EINVAL, "'%s=' before any section", name);
                return 0;
        case SECTION_GLOBAL:
                return parse_global_key(p, name, value) >= 0;
        case SECTION_TENANT:
                return parse_tenant_key(p, name, value) >= 0;
        }
        return 0;
}

/* ---------------------------------------------------------------- files */

static int policy_add_file(Policy *policy, const char *path) {
        char *copy;
        char **l;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        l = reallocarray(policy->files, policy->n_files + 1, sizeof(char *));
        if (!l) {
                free(copy);
                return -ENOMEM;
        }
        policy->files = l;
        policy->files[policy->n_files++] = copy;
        return 0;
}

static int parse_file(Policy *policy, const char *path, char *error, size_t error_size) {
        _cleanup_(fclosep) FILE *f = NULL;
        Parser p = {
                .policy = policy,
                .path = path,
                .error = error,
                .error_size = error_size,
        };
        struct stat st;
        int rl, r;

        f = fopen(path, "re");
        if (!f) {
                r = negative_errno();
                error_set(error, error_size, "%s: %s", path, strerror(-r));
                return r;
        }
        if (fstat(fileno(f), &st) < 0) {
                r = negative_errno();
                error_set(error, error_size, "%s: %s", path, strerror(-r));
                return r;
        }
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
                return 0;               /* a link to /dev/null masks a file, as in systemd */
        if (!S_ISREG(st.st_mode)) {
                error_set(error, error_size, "%s: not a regular file", path);
                return -EINVAL;
        }
        r = policy_add_file(policy, path);
        if (r < 0) {
                error_set(error, error_size, "%s: out of memory", path);
                return r;
        }

        p.f = f;
        rl = ini_parse_stream(parser_read_line, &p, parser_handle, &p);
        free(p.buf);
        if (rl == -2 && p.r == 0) {
                error_set(error, error_size, "%s: out of memory", path);
                return -ENOMEM;
        }
        if (rl > 0 && (p.r == 0 || (unsigned) rl < p.error_line)) {
                /* inih found a line that is neither a section, an assignment nor a comment first. */
                p.r = 0;
                p.line = (unsigned) rl;
                (void) parser_error(&p, -EINVAL, "syntax error: expected [Section], Key=Value or a comment");
        }
        return p.r;
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void strv_freep(char ***l) {
        if (*l)
                for (char **s = *l; *s; s++)
                        free(*s);
        free(*l);
}

/* The *.conf files of dir, sorted, as a NULL-terminated list of paths; empty if dir is missing. */
static int dropin_files(const char *dir, char ***ret, char *error, size_t error_size) {
        _cleanup_(strv_freep) char **files = NULL;
        DIR *d;
        struct dirent *de;
        size_t n = 0;
        int r = 0;

        files = calloc(1, sizeof(char *));
        if (!files)
                return -ENOMEM;
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = TAKE_PTR(files);
                        return 0;
                }
                r = negative_errno();
                error_set(error, error_size, "%s: %s", dir, strerror(-r));
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                char **l;
                char *path;

                if (de->d_name[0] == '.' || !ends_with(de->d_name, ".conf"))
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                l = reallocarray(files, n + 2, sizeof(char *));
                if (!l) {
                        free(path);
                        r = -ENOMEM;
                        break;
                }
                files = l;
                files[n++] = path;
                files[n] = NULL;
        }
        if (r == 0 && errno != 0)
                r = negative_errno();
        (void) closedir(d);
        if (r < 0) {
                error_set(error, error_size, "%s: %s", dir, strerror(-r));
                return r;
        }
        qsort(files, n, sizeof(char *), strcmp_ptr);
        *ret = TAKE_PTR(files);
        return 0;
}

/* After all files: completes [Global], checks each tenant, resolves inheritance. */
static int policy_finish(Policy *policy, char *error, size_t error_size) {
        policy_limits_complete(&policy->defaults);
        for (size_t i = 0; i < policy->n_tenants; i++) {
                PolicyTenant *t = policy->tenants[i];

                if (t->n_users + t->n_groups + t->n_units + t->n_slices + t->n_cgroups == 0) {
                        error_set(error, error_size, "%s:%u: [Tenant %s] has no match key (User=, Group=, "
                                  "Unit=, Slice= or CGroup=)", t->file, t->line, t->name);
                        return -EINVAL;
                }
                policy_limits_inherit(&t->limits, &policy->defaults);
                if (!t->revoke_on_reload_set)
                        t->revoke_on_reload = policy->revoke_on_reload;
        }
        return 0;
}

int policy_load(const char *main_path, const char *dropin_dir, Policy **ret,
                char *error, size_t error_size) {
        _cleanup_(policy_unrefp) Policy *policy = NULL;
        _cleanup_(strv_freep) char **dropins = NULL;
        char dummy[1];
        int r;

        if (!ret)
                return -EINVAL;
        if (!error || error_size == 0) {
                error = dummy;
                error_size = sizeof(dummy);
        }
        error[0] = '\0';

        r = policy_new(&policy);
        if (r < 0) {
                error_set(error, error_size, "out of memory");
                return r;
        }
        if (main_path) {
                r = parse_file(policy, main_path, error, error_size);
                if (r < 0)
                        return r;
        }
        if (dropin_dir) {
                r = dropin_files(dropin_dir, &dropins, error, error_size);
                if (r < 0)
                        return r;
                for (char **f = dropins; *f; f++) {
                        r = parse_file(policy, *f, error, error_size);
                        if (r < 0)
                                return r;
                }
        }
        r = policy_finish(policy, error, error_size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(policy);
        return 0;
}

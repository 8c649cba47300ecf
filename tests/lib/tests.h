/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tests.h - a tiny TAP test framework.
 *
 * Owns: TEST(name) registration, ASSERT_* macros that print the expression and
 * both values, TAP output ("ok N - name"), and the exit status automake's TAP
 * driver reads.  A test function returns normally to pass; a failed ASSERT
 * returns from it after printing a diagnostic.  tests_skip("why") skips.
 *
 * Usage: define tests with TEST(name) { ... } and end the file with
 * TESTS_MAIN(setup, teardown) (either may be NULL).
 */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TestCase {
        const char *name;
        void (*fn)(void);
        const char *file;
        int line;
} TestCase;

extern TestCase tests_registry[];
extern size_t tests_count;
extern bool tests_failed_now;
extern const char *tests_skip_reason;
/* The command line, for setup functions that take options ("--name=value"). */
extern int tests_argc;
extern char **tests_argv;
/* The value of --name=value on the command line, or NULL. */
const char *tests_option(const char *name);

#define TESTS_MAX 512

/*
 * Tests run in the order of their definitions (by file, then line): the
 * order in which constructors run is the toolchain's (a link-time optimised
 * build reorders them), and a file's last test may depend on the ones
 * before it (test-fail-nth stops its daemons last).
 */
#define TEST(n)                                                                 \
        static void test_##n(void);                                             \
        __attribute__((constructor)) static void register_##n(void) {           \
                if (tests_count < TESTS_MAX)                                    \
                        tests_registry[tests_count++] = (TestCase) { #n, test_##n, __FILE__, __LINE__ }; \
        }                                                                       \
        static void test_##n(void)

#define TEST_FAIL(fmt, ...)                                                             \
        do {                                                                            \
                printf("# %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__);       \
                tests_failed_now = true;                                                \
                return;                                                                 \
        } while (0)

#define ASSERT_TRUE(expr)                                                       \
        do {                                                                    \
                if (!(expr))                                                    \
                        TEST_FAIL("expected true: %s", #expr);                  \
        } while (0)

#define ASSERT_EQ(a, b)                                                                 \
        do {                                                                            \
                long long _a = (long long) (a), _b = (long long) (b);                   \
                if (_a != _b)                                                           \
                        TEST_FAIL("%s == %s: 0x%llx != 0x%llx", #a, #b, _a, _b);        \
        } while (0)

#define ASSERT_U64_EQ(a, b)                                                             \
        do {                                                                            \
                uint64_t _a = (uint64_t) (a), _b = (uint64_t) (b);                      \
                if (_a != _b)                                                           \
                        TEST_FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b, _a, _b); \
        } while (0)

#define ASSERT_STREQ(a, b)                                                              \
        do {                                                                            \
                const char *_a = (a), *_b = (b);                                        \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                  \
                        TEST_FAIL("%s == %s: '%s' != '%s'", #a, #b, _a ? _a : "(null)", \
                                  _b ? _b : "(null)");                                  \
        } while (0)

/* expr returns 0 / a non-negative count on success. */
#define ASSERT_OK(expr)                                                                 \
        do {                                                                            \
                long long _r = (long long) (expr);                                      \
                if (_r < 0)                                                             \
                        TEST_FAIL("%s failed: %s (%lld)", #expr, strerror((int) -_r), _r); \
        } while (0)

/* expr returns -err. */
#define ASSERT_ERRNO(err, expr)                                                         \
        do {                                                                            \
                long long _r = (long long) (expr);                                      \
                if (_r != -(long long) (err))                                           \
                        TEST_FAIL("%s: expected -%s, got %lld (%s)", #expr, #err, _r,   \
                                  _r < 0 ? strerror((int) -_r) : "success");            \
        } while (0)

static inline void tests_skip(const char *why) {
        tests_skip_reason = why;
}

int tests_main(int argc, char **argv, int (*setup)(void), void (*teardown)(void));

#define TESTS_MAIN(setup, teardown)                                             \
        TestCase tests_registry[TESTS_MAX];                                     \
        size_t tests_count;                                                     \
        bool tests_failed_now;                                                  \
        const char *tests_skip_reason;                                          \
        int tests_argc;                                                         \
        char **tests_argv;                                                      \
        int main(int argc, char **argv) {                                       \
                return tests_main(argc, argv, setup, teardown);                 \
        }

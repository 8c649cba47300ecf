/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tests.c - the TAP runner behind tests.h.
 *
 * Owns: running the registered tests in order (or those named on the command
 * line, or matching TESTS_FILTER as a substring), the plan line and the exit
 * code: 0 when every test passed or skipped, 1 otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tests.h"

static bool selected(const char *name, int argc, char **argv) {
        const char *filter = getenv("TESTS_FILTER");

        if (filter && *filter && !strstr(name, filter))
                return false;
        if (argc <= 1)
                return true;
        for (int i = 1; i < argc; i++)
                if (argv[i][0] != '-' && strcmp(argv[i], name) == 0)
                        return true;
        for (int i = 1; i < argc; i++)
                if (argv[i][0] != '-')
                        return false;
        return true;
}

const char *tests_option(const char *name) {
        size_t n = strlen(name);

        for (int i = 1; i < tests_argc; i++)
                if (strncmp(tests_argv[i], "--", 2) == 0 && strncmp(tests_argv[i] + 2, name, n) == 0 &&
                    tests_argv[i][2 + n] == '=')
                        return tests_argv[i] + 3 + n;
        return NULL;
}

static int compare_definitions(const void *a, const void *b) {
        const TestCase *x = a, *y = b;
        int r = strcmp(x->file, y->file);

        return r != 0 ? r : (x->line > y->line) - (x->line < y->line);
}

int tests_main(int argc, char **argv, int (*setup)(void), void (*teardown)(void)) {
        size_t n = 0, failed = 0;

        qsort(tests_registry, tests_count, sizeof(tests_registry[0]), compare_definitions);
        tests_argc = argc;
        tests_argv = argv;
        setvbuf(stdout, NULL, _IOLBF, 0);
        (void) signal(SIGPIPE, SIG_IGN);

        for (size_t i = 0; i < tests_count; i++)
                if (selected(tests_registry[i].name, argc, argv))
                        n++;
        printf("1..%zu\n", n);
        if (setup) {
                int r = setup();
                if (r < 0) {
                        printf("Bail out! setup failed: %s\n", strerror(-r));
                        return 1;
                }
        }

        n = 0;
        for (size_t i = 0; i < tests_count; i++) {
                if (!selected(tests_registry[i].name, argc, argv))
                        continue;
                n++;
                tests_failed_now = false;
                tests_skip_reason = NULL;
                tests_registry[i].fn();
                if (tests_failed_now) {
                        failed++;
                        printf("not ok %zu - %s\n", n, tests_registry[i].name);
                } else if (tests_skip_reason)
                        printf("ok %zu - %s # SKIP %s\n", n, tests_registry[i].name, tests_skip_reason);
                else
                        printf("ok %zu - %s\n", n, tests_registry[i].name);
        }
        if (teardown)
                teardown();
        return failed ? 1 : 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz.h - what the fuzz harnesses and their replay driver share.
 *
 * Owns: the libFuzzer entry point every harness defines, fuzz_fail() (say
 * why, then abort(): that is a finding, for libFuzzer and for the replay
 * driver alike) and fuzz_verbose() (IB_FUZZ_VERBOSE=1 in the environment:
 * the harness narrates each input on stderr, for writing seeds and reading
 * findings).
 * Must never: be included outside tests/fuzz/.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/macro.h"

/* One input: 0 (libFuzzer reserves other values); a broken invariant aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_printf_(1, 2) __attribute__((noreturn)) static inline void fuzz_fail(const char *fmt, ...) {
        va_list ap;

        fputs("fuzz: invariant broken: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        abort();
}

static inline bool fuzz_verbose(void) {
        static int verbose = -1;

        if (verbose < 0) {
                const char *e = getenv("IB_FUZZ_VERBOSE");

                verbose = e && *e && *e != '0';
        }
        return verbose > 0;
}

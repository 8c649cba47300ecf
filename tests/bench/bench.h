/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.h - what the benchmarks share (tests/bench/, tests/vm/vmbench.c).
 *
 * Owns: the clock they read and the median of a series.
 * Must never: be linked into the broker or the library.
 */
#pragma once

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* For qsort() of doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* The median of v (n > 0 values, left as they are), and its smallest and largest (NULL: not wanted). */
static inline double bench_median(const double *v, size_t n, double *ret_min, double *ret_max) {
        double *s = malloc(n * sizeof(*s)), m;

        if (!s)
                abort();
        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), bench_cmp_double);
        if (ret_min)
                *ret_min = s[0];
        if (ret_max)
                *ret_max = s[n - 1];
        m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        free(s);
        return m;
}

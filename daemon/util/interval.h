/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * interval.h - closed IOVA intervals [start, last] and small sets of them.
 *
 * Owns: pure interval arithmetic used by the core (IOVA windows) and the
 * simulated backend (its model of the kernel's io page table).
 * Must never: do I/O, log, or know about sessions or backends.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct IovaRange {
        uint64_t start;
        uint64_t last;          /* inclusive */
} IovaRange;

#define IOVA_MAX UINT64_MAX

/* *ret_last = start + length - 1; -EINVAL for length 0, -EOVERFLOW past 2^64. */
int iova_last(uint64_t start, uint64_t length, uint64_t *ret_last);

static inline bool iova_overlaps(uint64_t a_start, uint64_t a_last, uint64_t b_start, uint64_t b_last) {
        return a_start <= b_last && b_start <= a_last;
}

/* True if [start, last] lies inside one element of ranges[0..n). */
bool iova_ranges_contain(const IovaRange *ranges, size_t n, uint64_t start, uint64_t last);

/*
 * Intersects set a (n_a ranges) with set b (n_b ranges), both sorted and
 * disjoint, into out (capacity n_out).  Returns the count, or -ENOBUFS.
 */
int iova_ranges_intersect(const IovaRange *a, size_t n_a, const IovaRange *b, size_t n_b,
                          IovaRange *out, size_t n_out);

/* Sorts ranges by start; -EINVAL if any has last < start or two overlap. */
int iova_ranges_normalize(IovaRange *ranges, size_t n);

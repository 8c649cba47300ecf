/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * interval.c - closed IOVA intervals; see interval.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "util/interval.h"

int iova_last(uint64_t start, uint64_t length, uint64_t *ret_last) {
        uint64_t last;

        if (length == 0)
                return -EINVAL;
        if (__builtin_add_overflow(start, length - 1, &last))
                return -EOVERFLOW;
        *ret_last = last;
        return 0;
}

bool iova_ranges_contain(const IovaRange *ranges, size_t n, uint64_t start, uint64_t last) {
        for (size_t i = 0; i < n; i++)
                if (ranges[i].start <= start && last <= ranges[i].last)
                        return true;
        return false;
}

int iova_ranges_intersect(const IovaRange *a, size_t n_a, const IovaRange *b, size_t n_b,
                          IovaRange *out, size_t n_out) {
        size_t i = 0, j = 0, k = 0;

        while (i < n_a && j < n_b) {
                uint64_t s = a[i].start > b[j].start ? a[i].start : b[j].start;
                uint64_t l = a[i].last < b[j].last ? a[i].last : b[j].last;

                if (s <= l) {
                        if (k >= n_out)
                                return -ENOBUFS;
                        out[k++] = (IovaRange) { .start = s, .last = l };
                }
                if (a[i].last < b[j].last)
                        i++;
                else
                        j++;
        }
        return (int) k;
}

static int range_cmp(const void *x, const void *y) {
        const IovaRange *a = x, *b = y;

        return a->start < b->start ? -1 : a->start > b->start ? 1 : 0;
}

int iova_ranges_normalize(IovaRange *ranges, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (ranges[i].last < ranges[i].start)
                        return -EINVAL;
        qsort(ranges, n, sizeof(*ranges), range_cmp);
        for (size_t i = 1; i < n; i++)
                if (ranges[i].start <= ranges[i - 1].last)
                        return -EINVAL;
        return 0;
}

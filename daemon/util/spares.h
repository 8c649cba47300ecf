/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spares.h - freed records of one size kept for the next one made.
 *
 * Owns: a list of up to max spare blocks of size bytes.  A Batch maps 64
 * pages and its Unmap frees 64 records: more than glibc's per-size cache
 * (tcache, 7 blocks) holds, so without spares every map of a Batch takes
 * malloc's slow path and every unmap free()'s (a fifth of a Batch op's
 * instructions in the broker).  Spares are broker memory of nobody's
 * account: at most max * size bytes.  Under AddressSanitizer a spare is
 * poisoned while it waits, but for its last pointer's bytes (the list's
 * link, which the leak checker must follow), so that a use after
 * spares_put() is still reported.  size must be a multiple of a pointer's.
 * Must never: be used from more than one thread (the loop's records only,
 * util/offload.c), or hand out a block zeroed (the caller initialises it).
 */
#pragma once

#include <stddef.h>

typedef struct Spare Spare;

typedef struct Spares {
        Spare *head;
        size_t n;
        size_t max;                     /* spares kept at most */
        size_t size;                    /* bytes of a block: pointers, at least one */
} Spares;

#define SPARES_INIT(type, max_spares) { .max = (max_spares), .size = sizeof(type) }

/* A block of s->size bytes, not zeroed: a spare, or malloc()'s; NULL on ENOMEM. */
void *spares_get(Spares *s);
/* Keeps p (from spares_get()) as a spare, or frees it when s holds max; NULL is nothing. */
void spares_put(Spares *s, void *p);
/* Frees every spare (at exit: a leak checker sees nothing held). */
void spares_clear(Spares *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * idindex.h - records found by a 32-bit id in O(1), beside the list they are in.
 *
 * Owns: IdLink, a record's link in both a list (ListLink, first, so that
 * list.h's walks and list_entry() see an IdLink as the ListLink it starts
 * with) and a hash chain of an IdIndex; IdIndex, the chains' buckets.  As
 * with list.h, a zeroed IdLink is unlinked and a zeroed IdIndex is empty,
 * and a record's free unlinks it from both in O(1) without its owner
 * (idlink_unlink(): a chain is doubly linked through the pointer that points
 * at each element).  The index never counts down (unlinking does not know
 * it): it counts the links added since it last counted its list, and counts
 * again (O(n)) only once records and adds together pass its buckets, which
 * it then makes at least twice the records: adding stays O(1) amortised and
 * a chain holds one record on average.  An index that
 * cannot grow (no memory) stays correct, with longer chains.
 * Must never: know what the records are, or find a record by anything but
 * the id it was added with (ids must not change while linked).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/list.h"

typedef struct IdLink IdLink;
struct IdLink {
        ListLink list;                  /* first: the record's link in its list */
        IdLink *chain_next;
        IdLink **chain_pprev;           /* NULL: in no chain */
        uint32_t id;
};

typedef struct IdIndex {
        IdLink **buckets;               /* n_buckets chains (a power of 2), or NULL */
        size_t n_buckets;
        size_t n_counted;               /* records in the list when it was last counted */
        size_t n_added;                 /* links added since */
} IdIndex;

/* Takes the record out of its list and its chain; nothing if it is in neither. */
static inline void idlink_unlink(IdLink *l) {
        list_unlink(&l->list);
        if (l->chain_pprev) {
                *l->chain_pprev = l->chain_next;
                if (l->chain_next)
                        l->chain_next->chain_pprev = l->chain_pprev;
                l->chain_next = NULL;
                l->chain_pprev = NULL;
        }
}

/* Links l (in no list) at the front of head and into index under id.  Never fails. */
void idindex_link(IdIndex *index, ListLink *head, IdLink *l, uint32_t id);
/* The link of head added under id, or NULL (by its list while the index has no buckets). */
IdLink *idindex_find(const IdIndex *index, const ListLink *head, uint32_t id);
/* Takes every record of head out of the index's chains (they stay in the list) and frees the buckets. */
void idindex_done(IdIndex *index, ListLink *head);

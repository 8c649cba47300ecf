/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * idindex.c - see idindex.h.
 */
#include <stdlib.h>

#include "util/idindex.h"

#define IDINDEX_MIN_BUCKETS 16U

static size_t bucket_of(const IdIndex *index, uint32_t id) {
        /* Fibonacci hashing: ids are small and dense, the high bits of the product are not */
        return (size_t) (((uint64_t) id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (index->n_buckets - 1);
}

static void chain_push(IdIndex *index, IdLink *l) {
        IdLink **head = &index->buckets[bucket_of(index, l->id)];

        l->chain_next = *head;
        if (*head)
                (*head)->chain_pprev = &l->chain_next;
        l->chain_pprev = head;
        *head = l;
}

/*
 * Counts the list; grows the buckets to twice the records at least (and then
 * chains every record again), so that as many adds again as there are
 * records pass before the next count: O(1) amortised, a chain one long on
 * average.
 */
static void index_settle(IdIndex *index, ListLink *head) {
        size_t n = list_count(head), want = index->n_buckets ? index->n_buckets : IDINDEX_MIN_BUCKETS;
        IdLink **buckets;

        index->n_counted = n;
        index->n_added = 0;
        while (want < 2 * n)
                want *= 2;
        if (want == index->n_buckets)
                return;
        buckets = calloc(want, sizeof(*buckets));
        if (!buckets)
                return;         /* the old chains stay, longer */
        free(index->buckets);
        index->buckets = buckets;
        index->n_buckets = want;
        /* oldest first, so that a chain holds the newest first, as the list does */
        for (ListLink *ll = head->prev; ll && ll != head; ll = ll->prev)
                chain_push(index, (IdLink *) ll);
}

void idindex_link(IdIndex *index, ListLink *head, IdLink *l, uint32_t id) {
        list_link_front(head, &l->list);
        l->id = id;
        l->chain_next = NULL;
        l->chain_pprev = NULL;
        if (!index->buckets || index->n_counted + ++index->n_added > index->n_buckets) {
                index_settle(index, head);      /* chains l too, if it made new buckets */
                if (!index->buckets)
                        return;         /* none to be had: found by the list alone (idindex_find) */
        }
        if (!l->chain_pprev)
                chain_push(index, l);
}

IdLink *idindex_find(const IdIndex *index, const ListLink *head, uint32_t id) {
        if (!index->buckets) {
                for (const ListLink *ll = head->next; ll && ll != head; ll = ll->next)
                        if (((const IdLink *) ll)->id == id)
                                return (IdLink *) ll;
                return NULL;
        }
        for (IdLink *l = index->buckets[bucket_of(index, id)]; l; l = l->chain_next)
                if (l->id == id)
                        return l;
        return NULL;
}

void idindex_done(IdIndex *index, ListLink *head) {
        LIST_FOREACH_LINK(ll, head) {
                IdLink *l = (IdLink *) ll;

                l->chain_next = NULL;
                l->chain_pprev = NULL;
        }
        free(index->buckets);
        *index = (IdIndex) {};
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-idindex.c - records found by id (util/idindex.c): a long random run
 * of adds and unlinks checked step by step against an array of what is
 * linked, with the chains' invariants checked along the way; the index
 * keeping its chains short as it grows and under churn; unlinking without
 * the index; idindex_done() leaving the records in their list; and an index
 * without buckets finding by its list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tests.h"
#include "util/idindex.h"

#define N 4096U

typedef struct Rec {
        uint64_t pad;                   /* the link is not at offset 0 of the record, as in the daemon's */
        IdLink link;
        uint32_t id;
} Rec;

/* Every chain: back pointers right, each link in the list, its id hashing where it is; the longest chain. */
static size_t check_chains(const IdIndex *x, const ListLink *head, size_t *ret_chained) {
        size_t longest = 0, chained = 0;

        for (size_t b = 0; b < x->n_buckets; b++) {
                size_t len = 0;
                IdLink *const *pp = &x->buckets[b];

                for (IdLink *l = *pp; l; pp = &l->chain_next, l = l->chain_next) {
                        if (l->chain_pprev != pp || !list_is_linked(&l->list) ||
                            idindex_find(x, head, l->id) == NULL)
                                return SIZE_MAX;
                        len++;
                }
                chained += len;
                if (len > longest)
                        longest = len;
        }
        *ret_chained = chained;
        return longest;
}

TEST(idindex_random_adds_and_unlinks_match_an_array) {
        static Rec r[N];
        ListLink head = {};
        IdIndex x = {};
        size_t n_linked = 0, chained, longest;
        uint32_t next_id = 1;

        srand(7);
        memset(r, 0, sizeof(r));
        for (unsigned step = 0; step < 200000; step++) {
                Rec *p = &r[(unsigned) rand() % N];

                if (list_is_linked(&p->link.list)) {
                        idlink_unlink(&p->link);
                        ASSERT_TRUE(p->link.chain_pprev == NULL && p->link.chain_next == NULL);
                        ASSERT_TRUE(idindex_find(&x, &head, p->id) == NULL);
                        n_linked--;
                } else {
                        p->id = next_id++;
                        idindex_link(&x, &head, &p->link, p->id);
                        ASSERT_TRUE(idindex_find(&x, &head, p->id) == &p->link);
                        n_linked++;
                }
                if (step % 4096 == 0) {
                        ASSERT_EQ(list_count(&head), n_linked);
                        for (size_t i = 0; i < N; i++)
                                ASSERT_TRUE((idindex_find(&x, &head, r[i].id) == &r[i].link) ==
                                            list_is_linked(&r[i].link.list) || r[i].id == 0);
                        longest = check_chains(&x, &head, &chained);
                        ASSERT_TRUE(longest != SIZE_MAX);
                        ASSERT_EQ(chained, n_linked);
                }
        }
        /* ids never added, and 0 */
        ASSERT_TRUE(idindex_find(&x, &head, next_id) == NULL);
        ASSERT_TRUE(idindex_find(&x, &head, 0) == NULL);
        idindex_done(&x, &head);
        ASSERT_TRUE(x.buckets == NULL && x.n_buckets == 0);
        ASSERT_EQ(list_count(&head), n_linked);
        /* records outlive the index: unlinking them now touches no bucket */
        LIST_FOREACH_LINK(l, &head)
                idlink_unlink((IdLink *) l);
        ASSERT_TRUE(list_is_empty(&head));
}

TEST(idindex_grows_so_that_chains_stay_short) {
        static Rec r[N];
        ListLink head = {};
        IdIndex x = {};
        size_t chained, longest;

        memset(r, 0, sizeof(r));
        for (size_t i = 0; i < N; i++) {
                r[i].id = (uint32_t) i + 1;
                idindex_link(&x, &head, &r[i].link, r[i].id);
        }
        ASSERT_TRUE(x.n_buckets >= N);
        longest = check_chains(&x, &head, &chained);
        ASSERT_EQ(chained, N);
        ASSERT_TRUE(longest <= 8);
        /* churn at a steady count: the index neither grows without end nor loses a record */
        for (unsigned round = 0; round < 20; round++)
                for (size_t i = 0; i < N; i += 2) {
                        idlink_unlink(&r[i].link);
                        r[i].id += N;
                        idindex_link(&x, &head, &r[i].link, r[i].id);
                }
        ASSERT_TRUE(x.n_buckets <= 4 * N);
        longest = check_chains(&x, &head, &chained);
        ASSERT_EQ(chained, N);
        ASSERT_TRUE(longest <= 8);
        for (size_t i = 0; i < N; i++)
                ASSERT_TRUE(idindex_find(&x, &head, r[i].id) == &r[i].link);
        idindex_done(&x, &head);
}

/*
 * White box: adds count the list again only now and then (O(1) amortised),
 * a lookup goes by the chains (a record out of the list but in its chain is
 * still found), and of two records under one id the newest is found, as in
 * the list, before and after the buckets grow.
 */
TEST(idindex_counts_rarely_finds_by_chain_and_newest_first) {
        static Rec r[N];
        ListLink head = {};
        IdIndex x = {};
        unsigned counts = 0;
        Rec twin = { .id = 3 };

        memset(r, 0, sizeof(r));
        for (size_t i = 0; i < N; i++) {
                r[i].id = (uint32_t) i + 1;
                idindex_link(&x, &head, &r[i].link, r[i].id);
                counts += x.n_added == 0;
        }
        ASSERT_TRUE(counts <= 16);      /* 4,096 adds: a count at each doubling, no more */
        list_unlink(&r[100].link.list);
        ASSERT_TRUE(idindex_find(&x, &head, r[100].id) == &r[100].link);
        idlink_unlink(&r[100].link);
        ASSERT_TRUE(idindex_find(&x, &head, r[100].id) == NULL);
        idindex_link(&x, &head, &twin.link, twin.id);
        ASSERT_TRUE(idindex_find(&x, &head, 3) == &twin.link);
        for (size_t i = N; i < 3 * N; i++) {   /* past the next growth */
                static Rec more[2 * N];

                more[i - N].id = (uint32_t) i + 1;
                idindex_link(&x, &head, &more[i - N].link, more[i - N].id);
        }
        ASSERT_TRUE(x.n_buckets >= 4 * N);
        ASSERT_TRUE(idindex_find(&x, &head, 3) == &twin.link);
        idindex_done(&x, &head);
}

TEST(idindex_without_buckets_finds_by_its_list) {
        Rec a = { .id = 5 }, b = { .id = 9 }, c = { .id = 11 };
        ListLink head = {};
        IdIndex x = {};

        /* as after an allocation failure: linked, in no chain */
        a.link.id = a.id;
        b.link.id = b.id;
        list_link_front(&head, &a.link.list);
        list_link_front(&head, &b.link.list);
        ASSERT_TRUE(idindex_find(&x, &head, 5) == &a.link);
        ASSERT_TRUE(idindex_find(&x, &head, 9) == &b.link);
        ASSERT_TRUE(idindex_find(&x, &head, 7) == NULL);
        idlink_unlink(&a.link);
        ASSERT_TRUE(idindex_find(&x, &head, 5) == NULL);
        /* the next add makes buckets and chains what was linked before */
        idindex_link(&x, &head, &c.link, c.id);
        ASSERT_TRUE(x.buckets != NULL);
        ASSERT_TRUE(b.link.chain_pprev != NULL && c.link.chain_pprev != NULL);
        ASSERT_TRUE(idindex_find(&x, &head, 9) == &b.link);
        ASSERT_TRUE(idindex_find(&x, &head, 11) == &c.link);
        idindex_done(&x, &head);
}

TESTS_MAIN(NULL, NULL)

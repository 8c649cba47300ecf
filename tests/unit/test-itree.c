/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-itree.c - the interval tree (util/itree.c): fixed cases at the edges
 * of the IOVA space, and long random runs checked step by step against a
 * sorted array of the same intervals, with the tree's invariants checked
 * along the way.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tests.h"
#include "util/itree.h"

typedef struct Rec {
        uint32_t tag;
        ITreeNode node;
} Rec;

static Rec *rec_of(ITreeNode *n) {
        return itree_entry(n, Rec, node);
}

static void rec_set(Rec *r, uint64_t start, uint64_t last) {
        r->node.start = start;
        r->node.last = last;
}

TEST(itree_empty_tree_finds_nothing) {
        ITree t = ITREE_INIT;

        ASSERT_TRUE(itree_is_empty(&t));
        ASSERT_TRUE(itree_first(&t) == NULL);
        ASSERT_TRUE(itree_last(&t) == NULL);
        ASSERT_TRUE(itree_find(&t, 0) == NULL);
        ASSERT_TRUE(itree_lower(&t, 0) == NULL);
        ASSERT_TRUE(itree_first_in(&t, 0, UINT64_MAX) == NULL);
        ASSERT_OK(itree_check(&t));
        itree_clear(&t, NULL, NULL);
        ASSERT_EQ(itree_size(&t), 0);
}

TEST(itree_overlap_is_eexist_at_both_ends_of_the_space) {
        ITree t = ITREE_INIT;
        Rec a, b, c, d;

        rec_set(&a, 0, 0xfff);
        rec_set(&b, UINT64_MAX - 0xfff, UINT64_MAX);
        ASSERT_OK(itree_insert(&t, &a.node));
        ASSERT_OK(itree_insert(&t, &b.node));
        rec_set(&c, 0xfff, 0x1fff);
        ASSERT_ERRNO(EEXIST, itree_insert(&t, &c.node));
        rec_set(&c, UINT64_MAX - 0x1fff, UINT64_MAX - 0xfff);
        ASSERT_ERRNO(EEXIST, itree_insert(&t, &c.node));
        rec_set(&c, 0, UINT64_MAX);
        ASSERT_ERRNO(EEXIST, itree_insert(&t, &c.node));
        ASSERT_EQ(itree_size(&t), 2);
        /* adjacent is not overlapping */
        rec_set(&c, 0x1000, 0x1fff);
        ASSERT_OK(itree_insert(&t, &c.node));
        rec_set(&d, 0x2000, UINT64_MAX - 0x1000);
        ASSERT_OK(itree_insert(&t, &d.node));
        ASSERT_OK(itree_check(&t));

        ASSERT_TRUE(itree_find(&t, UINT64_MAX) == &b.node);
        ASSERT_TRUE(itree_find(&t, 0) == &a.node);
        ASSERT_TRUE(itree_find(&t, 0x1fff) == &c.node);
        ASSERT_TRUE(itree_first_in(&t, 0x1fff, UINT64_MAX) == &c.node);
        ASSERT_TRUE(itree_next(&d.node) == &b.node);
        ASSERT_TRUE(itree_prev(&c.node) == &a.node);
        ASSERT_TRUE(itree_next(&b.node) == NULL);
        ASSERT_TRUE(itree_prev(&a.node) == NULL);
        itree_remove(&t, &d.node);
        ASSERT_TRUE(itree_find(&t, 0x2000) == NULL);
        ASSERT_TRUE(itree_first_in(&t, 0x2000, UINT64_MAX - 0x1000) == NULL);
        ASSERT_TRUE(itree_first_in(&t, 0x2000, UINT64_MAX - 0xfff) == &b.node);
        ASSERT_OK(itree_check(&t));
}

static void count_cleared(ITreeNode *n, void *userdata) {
        (*(size_t *) userdata)++;
        /* what the tree handed over is the caller's: scribble on it as a free would */
        memset(n, 0xa5, sizeof(*n));
}

TEST(itree_clear_hands_over_every_node_once) {
        enum { N = 1000 };
        static Rec r[N];
        ITree t = ITREE_INIT;
        size_t n = 0;

        for (size_t i = 0; i < N; i++) {
                rec_set(&r[i], i * 0x2000, i * 0x2000 + 0xfff);
                ASSERT_OK(itree_insert(&t, &r[i].node));
        }
        ASSERT_OK(itree_check(&t));
        itree_clear(&t, count_cleared, &n);
        ASSERT_EQ(n, N);
        ASSERT_TRUE(itree_is_empty(&t));
        ASSERT_EQ(itree_size(&t), 0);
}

/* --- random runs against a sorted array ---------------------------------------------------- */

#define POOL 3000

typedef struct Model {
        Rec pool[POOL];
        Rec *sorted[POOL];              /* the model: in the tree, by start */
        size_t n;
        Rec *free[POOL];
        size_t n_free;
        uint64_t span;                  /* IOVAs drawn from [base, base + span) */
        uint64_t base;
} Model;

static uint64_t rnd(void) {
        return ((uint64_t) (unsigned) random() << 33) ^ ((uint64_t) (unsigned) random() << 11) ^
                (uint64_t) (unsigned) random();
}

/* The index of the first model interval whose last is >= iova. */
static size_t model_lower(const Model *m, uint64_t iova) {
        size_t lo = 0, hi = m->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (m->sorted[mid]->node.last < iova)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static ITreeNode *model_node(const Model *m, size_t i) {
        return i < m->n ? &m->sorted[i]->node : NULL;
}

static uint64_t draw_iova(const Model *m) {
        return m->base + rnd() % m->span;
}

/*
 * Runs ops random operations on t and m; returns NULL, or what went wrong.
 * Each step checks the tree's answer against the model's.
 */
static const char *run(Model *m, ITree *t, size_t ops, unsigned max_len) {
        for (size_t step = 0; step < ops; step++) {
                unsigned op = (unsigned) (rnd() % 100);
                uint64_t a = draw_iova(m), b, len = 1 + rnd() % max_len;
                size_t i;

                /* grow while small, shrink while large, so the tree swings through every shape */
                if (m->n < 8 && op >= 40 && op < 70)
                        op = 0;
                if (op < (m->n < POOL / 2 ? 45U : 25U)) {
                        Rec *r;
                        bool overlaps;
                        int res;

                        if (m->n_free == 0)
                                continue;
                        r = m->free[m->n_free - 1];
                        b = a + len - 1 < a ? UINT64_MAX : a + len - 1;
                        rec_set(r, a, b);
                        i = model_lower(m, a);
                        overlaps = i < m->n && m->sorted[i]->node.start <= b;
                        res = itree_insert(t, &r->node);
                        if (overlaps != (res == -EEXIST) || (res < 0 && res != -EEXIST))
                                return "insert disagrees with the model";
                        if (res < 0)
                                continue;
                        m->n_free--;
                        memmove(m->sorted + i + 1, m->sorted + i, (m->n - i) * sizeof(*m->sorted));
                        m->sorted[i] = r;
                        m->n++;
                } else if (op < 70) {
                        Rec *r;

                        if (m->n == 0)
                                continue;
                        i = rnd() % m->n;
                        r = m->sorted[i];
                        itree_remove(t, &r->node);
                        memmove(m->sorted + i, m->sorted + i + 1, (m->n - i - 1) * sizeof(*m->sorted));
                        m->n--;
                        m->free[m->n_free++] = r;
                } else if (op < 80) {
                        i = model_lower(m, a);
                        if (itree_find(t, a) != (i < m->n && m->sorted[i]->node.start <= a ? model_node(m, i) : NULL))
                                return "find disagrees with the model";
                        if (itree_lower(t, a) != model_node(m, i))
                                return "lower disagrees with the model";
                } else if (op < 90) {
                        b = a + len * 4 < a ? UINT64_MAX : a + len * 4;
                        i = model_lower(m, a);
                        if (itree_first_in(t, a, b) != (i < m->n && m->sorted[i]->node.start <= b ? model_node(m, i) : NULL))
                                return "first_in disagrees with the model";
                } else if (op < 98) {
                        if (m->n == 0)
                                continue;
                        i = rnd() % m->n;
                        if (itree_next(&m->sorted[i]->node) != model_node(m, i + 1))
                                return "next disagrees with the model";
                        if (itree_prev(&m->sorted[i]->node) != (i > 0 ? model_node(m, i - 1) : NULL))
                                return "prev disagrees with the model";
                } else {
                        ITreeNode *n;

                        if (itree_check(t) < 0)
                                return "the tree's invariants are broken";
                        if (itree_size(t) != m->n)
                                return "the count disagrees with the model";
                        i = 0;
                        itree_for_each(n, t)
                                if (i >= m->n || n != model_node(m, i++))
                                        return "the walk disagrees with the model";
                        if (i != m->n)
                                return "the walk ended early";
                        if (itree_first(t) != model_node(m, 0) ||
                            itree_last(t) != (m->n ? model_node(m, m->n - 1) : NULL))
                                return "first or last disagrees with the model";
                }
        }
        return itree_check(t) < 0 ? "the tree's invariants are broken at the end" : NULL;
}

static void model_init(Model *m, uint64_t base, uint64_t span) {
        memset(m, 0, sizeof(*m));
        for (size_t i = 0; i < POOL; i++) {
                m->pool[i].tag = (uint32_t) i;
                m->free[i] = &m->pool[POOL - 1 - i];
        }
        m->n_free = POOL;
        m->base = base;
        m->span = span;
}

TEST(itree_random_dense_matches_a_sorted_array) {
        static Model m;
        ITree t = ITREE_INIT;
        const char *err;

        srandom(1);
        /* short intervals in a small space: many collisions, many EEXIST */
        model_init(&m, 0, 1U << 14);
        err = run(&m, &t, 200000, 16);
        if (err)
                TEST_FAIL("%s", err);
        ASSERT_EQ(itree_size(&t), m.n);
        ASSERT_TRUE(rec_of(itree_first(&t)) == (m.n ? m.sorted[0] : NULL));
}

TEST(itree_random_sparse_at_the_top_matches_a_sorted_array) {
        static Model m;
        ITree t = ITREE_INIT;
        const char *err;

        srandom(2);
        /* long intervals against the end of the IOVA space, some cut off at 2^64 - 1 */
        model_init(&m, UINT64_MAX - (1ULL << 32) + 1, 1ULL << 32);
        err = run(&m, &t, 150000, 1U << 20);
        if (err)
                TEST_FAIL("%s", err);
        itree_clear(&t, NULL, NULL);
        ASSERT_TRUE(itree_is_empty(&t));
}

TEST(itree_ascending_and_descending_runs_stay_balanced) {
        enum { N = 1 << 16 };
        static Rec r[N];
        ITree t = ITREE_INIT;

        /* descending inserts, removal from the bottom; ascending inserts, removal from the top */
        for (size_t i = 0; i < N; i++) {
                rec_set(&r[i], (uint64_t) (N - i) << 12, ((uint64_t) (N - i) << 12) + 0xfff);
                ASSERT_OK(itree_insert(&t, &r[i].node));
        }
        ASSERT_OK(itree_check(&t));
        for (size_t i = N; i-- > 0;)
                itree_remove(&t, &r[i].node);
        ASSERT_TRUE(itree_is_empty(&t));
        for (size_t i = 0; i < N; i++) {
                rec_set(&r[i], (uint64_t) i << 12, ((uint64_t) i << 12) + 0xfff);
                ASSERT_OK(itree_insert(&t, &r[i].node));
        }
        ASSERT_OK(itree_check(&t));
        for (size_t i = N; i-- > N / 2;)
                itree_remove(&t, &r[i].node);
        ASSERT_OK(itree_check(&t));
        ASSERT_EQ(itree_size(&t), N / 2);
        ASSERT_TRUE(itree_last(&t) == &r[N / 2 - 1].node);
}

/*
 * Maps made in order, down and up (a VMM's RAM), go in at the ends without
 * a descent: inserts beyond either end and beside it, overlaps at the ends
 * refused, removals at and next to the ends, the lookups there, and the
 * tree's invariants (its kept ends among them) after every step.
 */
TEST(itree_inserts_and_lookups_at_both_ends_keep_the_tree_whole) {
        static Rec r[4096];
        ITree t = ITREE_INIT;
        uint64_t lo = 1ULL << 40, hi = (1ULL << 40) + 0xfff;    /* the span the tree covers, with gaps */
        size_t used = 0;
        Rec probe;

        rec_set(&r[used], lo, hi);
        ASSERT_OK(itree_insert(&t, &r[used++].node));
        for (unsigned step = 0; step < 1500; step++) {
                Rec *down = &r[used++], *up = &r[used++];

                /* one page below the lowest, with a gap of a page every third step; one above the highest */
                lo -= (step % 3 == 0 ? 0x2000 : 0x1000);
                rec_set(down, lo, lo + 0xfff);
                ASSERT_OK(itree_insert(&t, &down->node));
                rec_set(up, hi + 1, hi + 0x1000);
                hi += 0x1000;
                ASSERT_OK(itree_insert(&t, &up->node));
                ASSERT_TRUE(itree_first(&t) == &down->node && itree_last(&t) == &up->node);
                /* an interval reaching into either end is refused, the tree untouched */
                rec_set(&probe, lo - 0x1000, lo);
                ASSERT_ERRNO(EEXIST, itree_insert(&t, &probe.node));
                rec_set(&probe, hi, hi + 0x1000);
                ASSERT_ERRNO(EEXIST, itree_insert(&t, &probe.node));
                /* lookups at, below and above the ends */
                ASSERT_TRUE(itree_find(&t, lo) == &down->node && itree_find(&t, hi) == &up->node);
                ASSERT_TRUE(itree_find(&t, lo - 1) == NULL && itree_find(&t, hi + 1) == NULL);
                ASSERT_TRUE(itree_lower(&t, 0) == &down->node && itree_lower(&t, hi + 1) == NULL);
                ASSERT_TRUE(itree_first_in(&t, 0, lo - 1) == NULL && itree_first_in(&t, hi + 1, UINT64_MAX) == NULL);
                ASSERT_TRUE(itree_first_in(&t, 0, lo) == &down->node);
                /* every fifth step: the lowest goes, then the one next to the highest */
                if (step % 5 == 4) {
                        ITreeNode *second = itree_prev(&up->node);

                        itree_remove(&t, &down->node);
                        lo = itree_first(&t)->start;
                        itree_remove(&t, second);
                        ASSERT_TRUE(itree_last(&t) == &up->node);
                }
                ASSERT_OK(itree_check(&t));
        }
        /* empty it from the top: the kept ends follow to the last node and to none */
        while (!itree_is_empty(&t)) {
                itree_remove(&t, itree_last(&t));
                ASSERT_OK(itree_check(&t));
        }
        ASSERT_TRUE(itree_first(&t) == NULL && itree_last(&t) == NULL);
}

TESTS_MAIN(NULL, NULL)

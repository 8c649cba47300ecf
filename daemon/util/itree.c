/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * itree.c - see itree.h.
 *
 * Theory of operation: a red-black tree in the textbook form (Cormen et al.,
 * ch. 13) with NULL leaves, so a removal tracks the parent of the node that
 * took the removed one's place, which may be NULL.  Each node keeps its
 * parent, with its colour in the pointer's low bit (nodes are at least
 * pointer-aligned); a new node is red.  Insertion descends by the interval:
 * a new interval lies wholly left or wholly right of every node it passes,
 * or it overlaps one, and any node it overlaps lies on that path, since all
 * of a node's left subtree ends before the node starts and all of its right
 * subtree starts after the node ends.  The tree keeps its lowest and highest
 * nodes (set at an insert beyond them, moved to the neighbour when one is
 * removed): an interval wholly beyond either end goes under it at once (the
 * lowest node has no left child, the highest no right one), and a lookup
 * that lands at or beyond an end answers without a descent.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/itree.h"

#define ITREE_BLACK ((uintptr_t) 1)

static ITreeNode *node_parent(const ITreeNode *n) {
        return (ITreeNode *) (n->parent_color & ~ITREE_BLACK);
}

static bool node_is_black(const ITreeNode *n) {
        return !n || (n->parent_color & ITREE_BLACK);
}

static bool node_is_red(const ITreeNode *n) {
        return !node_is_black(n);
}

static void node_set_parent(ITreeNode *n, ITreeNode *p) {
        n->parent_color = (uintptr_t) p | (n->parent_color & ITREE_BLACK);
}

static void node_set_black(ITreeNode *n) {
        n->parent_color |= ITREE_BLACK;
}

static void node_set_red(ITreeNode *n) {
        n->parent_color &= ~ITREE_BLACK;
}

static void node_copy_color(ITreeNode *n, const ITreeNode *from) {
        n->parent_color = (n->parent_color & ~ITREE_BLACK) | (from->parent_color & ITREE_BLACK);
}

/* Puts new where old was under p (the root if p is NULL). */
static void replace_child(ITree *t, ITreeNode *p, const ITreeNode *old, ITreeNode *new) {
        if (!p)
                t->root = new;
        else
                p->child[p->child[ITREE_LEFT] == old ? ITREE_LEFT : ITREE_RIGHT] = new;
}

/* Lifts x's child on side !dir into x's place; x becomes its child on side dir. */
static void rotate(ITree *t, ITreeNode *x, int dir) {
        ITreeNode *y = x->child[!dir], *p = node_parent(x);

        x->child[!dir] = y->child[dir];
        if (y->child[dir])
                node_set_parent(y->child[dir], x);
        node_set_parent(y, p);
        replace_child(t, p, x, y);
        y->child[dir] = x;
        node_set_parent(x, y);
}

static void insert_fixup(ITree *t, ITreeNode *z) {
        ITreeNode *p;

        while ((p = node_parent(z)) && node_is_red(p)) {
                ITreeNode *g = node_parent(p);  /* a red node is never the root */
                int dir = p == g->child[ITREE_LEFT] ? ITREE_LEFT : ITREE_RIGHT;  /* p's side of g */
                ITreeNode *u = g->child[!dir];

                if (node_is_red(u)) {
                        node_set_black(p);
                        node_set_black(u);
                        node_set_red(g);
                        z = g;
                        continue;
                }
                if (z == p->child[!dir]) {
                        z = p;
                        rotate(t, z, dir);
                        p = node_parent(z);
                }
                node_set_black(p);
                node_set_red(g);
                rotate(t, g, !dir);
        }
        node_set_black(t->root);
}

int itree_insert(ITree *t, ITreeNode *node) {
        ITreeNode **link = &t->root, *parent = NULL;
        bool lowest = !t->first || node->last < t->first->start;
        bool highest = !t->last || node->start > t->last->last;

        if (t->root && lowest) {
                /* below every node: the lowest has no left child */
                parent = t->first;
                link = &parent->child[ITREE_LEFT];
        } else if (t->root && highest) {
                parent = t->last;
                link = &parent->child[ITREE_RIGHT];
        } else
                while (*link) {
                        ITreeNode *n = *link;

                        parent = n;
                        if (node->last < n->start)
                                link = &n->child[ITREE_LEFT];
                        else if (node->start > n->last)
                                link = &n->child[ITREE_RIGHT];
                        else
                                return -EEXIST;
                }
        node->child[ITREE_LEFT] = node->child[ITREE_RIGHT] = NULL;
        node->parent_color = (uintptr_t) parent;       /* red */
        *link = node;
        t->n++;
        if (lowest)
                t->first = node;
        if (highest)
                t->last = node;
        insert_fixup(t, node);
        return 0;
}

/* Puts v (may be NULL) where u is. */
static void transplant(ITree *t, ITreeNode *u, ITreeNode *v) {
        ITreeNode *p = node_parent(u);

        replace_child(t, p, u, v);
        if (v)
                node_set_parent(v, p);
}

/* x (may be NULL) under xp carries an extra black. */
static void remove_fixup(ITree *t, ITreeNode *x, ITreeNode *xp) {
        while (x != t->root && node_is_black(x)) {
                /* x's sibling has black height >= 1, so it exists: an empty left side is x's */
                int dir = x == xp->child[ITREE_LEFT] ? ITREE_LEFT : ITREE_RIGHT;
                ITreeNode *w = xp->child[!dir];

                if (node_is_red(w)) {
                        node_set_black(w);
                        node_set_red(xp);
                        rotate(t, xp, dir);
                        w = xp->child[!dir];
                }
                if (node_is_black(w->child[ITREE_LEFT]) && node_is_black(w->child[ITREE_RIGHT])) {
                        node_set_red(w);
                        x = xp;
                        xp = node_parent(x);
                        continue;
                }
                if (node_is_black(w->child[!dir])) {
                        node_set_black(w->child[dir]);
                        node_set_red(w);
                        rotate(t, w, !dir);
                        w = xp->child[!dir];
                }
                node_copy_color(w, xp);
                node_set_black(xp);
                node_set_black(w->child[!dir]);
                rotate(t, xp, dir);
                x = t->root;
        }
        if (x)
                node_set_black(x);
}

static ITreeNode *subtree_first(ITreeNode *n) {
        while (n->child[ITREE_LEFT])
                n = n->child[ITREE_LEFT];
        return n;
}

static ITreeNode *subtree_last(ITreeNode *n) {
        while (n->child[ITREE_RIGHT])
                n = n->child[ITREE_RIGHT];
        return n;
}

void itree_remove(ITree *t, ITreeNode *z) {
        ITreeNode *x, *xp;
        bool black_removed;

        if (z == t->first)
                t->first = itree_next(z);
        if (z == t->last)
                t->last = itree_prev(z);
        if (!z->child[ITREE_LEFT] || !z->child[ITREE_RIGHT]) {
                x = z->child[ITREE_LEFT] ? z->child[ITREE_LEFT] : z->child[ITREE_RIGHT];
                xp = node_parent(z);
                black_removed = node_is_black(z);
                transplant(t, z, x);
        } else {
                ITreeNode *y = subtree_first(z->child[ITREE_RIGHT]);

                black_removed = node_is_black(y);
                x = y->child[ITREE_RIGHT];
                if (node_parent(y) == z)
                        xp = y;
                else {
                        xp = node_parent(y);
                        transplant(t, y, y->child[ITREE_RIGHT]);
                        y->child[ITREE_RIGHT] = z->child[ITREE_RIGHT];
                        node_set_parent(y->child[ITREE_RIGHT], y);
                }
                transplant(t, z, y);
                y->child[ITREE_LEFT] = z->child[ITREE_LEFT];
                node_set_parent(y->child[ITREE_LEFT], y);
                node_copy_color(y, z);
        }
        if (black_removed)
                remove_fixup(t, x, xp);
        z->parent_color = 0;
        z->child[ITREE_LEFT] = z->child[ITREE_RIGHT] = NULL;
        t->n--;
}

void itree_clear(ITree *t, void (*fn)(ITreeNode *node, void *userdata), void *userdata) {
        ITreeNode *n = t->root;

        /* post order without a stack: descend to a leaf, detach it from its parent, hand it over */
        while (n) {
                ITreeNode *p;

                if (n->child[ITREE_LEFT]) {
                        n = n->child[ITREE_LEFT];
                        continue;
                }
                if (n->child[ITREE_RIGHT]) {
                        n = n->child[ITREE_RIGHT];
                        continue;
                }
                p = node_parent(n);
                if (p) {
                        if (p->child[ITREE_LEFT] == n)
                                p->child[ITREE_LEFT] = NULL;
                        else
                                p->child[ITREE_RIGHT] = NULL;
                }
                if (fn)
                        fn(n, userdata);
                n = p;
        }
        *t = (ITree) ITREE_INIT;
}

ITreeNode *itree_lower(const ITree *t, uint64_t iova) {
        ITreeNode *n = t->root, *found = NULL;

        /* at either end, no descent */
        if (!t->first || t->first->last >= iova)
                return t->first;
        if (t->last->last < iova)
                return NULL;

        while (n) {
                if (n->last >= iova) {
                        found = n;
                        n = n->child[ITREE_LEFT];
                } else
                        n = n->child[ITREE_RIGHT];
        }
        return found;
}

ITreeNode *itree_find(const ITree *t, uint64_t iova) {
        ITreeNode *n = itree_lower(t, iova);

        return n && n->start <= iova ? n : NULL;
}

ITreeNode *itree_first_in(const ITree *t, uint64_t start, uint64_t last) {
        ITreeNode *n = itree_lower(t, start);

        return n && n->start <= last ? n : NULL;
}

ITreeNode *itree_first(const ITree *t) {
        return t->first;
}

ITreeNode *itree_last(const ITree *t) {
        return t->last;
}

ITreeNode *itree_next(const ITreeNode *node) {
        ITreeNode *p;

        if (node->child[ITREE_RIGHT])
                return subtree_first(node->child[ITREE_RIGHT]);
        while ((p = node_parent(node)) && node == p->child[ITREE_RIGHT])
                node = p;
        return p;
}

ITreeNode *itree_prev(const ITreeNode *node) {
        ITreeNode *p;

        if (node->child[ITREE_LEFT])
                return subtree_last(node->child[ITREE_LEFT]);
        while ((p = node_parent(node)) && node == p->child[ITREE_LEFT])
                node = p;
        return p;
}

/* The black height of n's subtree, or -1 if a rule is broken in it; counts its nodes into *n_nodes. */
static int check_subtree(const ITreeNode *n, const ITreeNode *parent, size_t *n_nodes) {
        int l, r;

        if (!n)
                return 1;
        if (node_parent(n) != parent || n->start > n->last)
                return -1;
        if (node_is_red(n) && (node_is_red(n->child[ITREE_LEFT]) || node_is_red(n->child[ITREE_RIGHT])))
                return -1;
        if ((n->child[ITREE_LEFT] && n->child[ITREE_LEFT]->last >= n->start) || (n->child[ITREE_RIGHT] && n->child[ITREE_RIGHT]->start <= n->last))
                return -1;
        (*n_nodes)++;
        l = check_subtree(n->child[ITREE_LEFT], n, n_nodes);
        r = check_subtree(n->child[ITREE_RIGHT], n, n_nodes);
        if (l < 0 || r < 0 || l != r)
                return -1;
        return l + (node_is_black(n) ? 1 : 0);
}

int itree_check(const ITree *t) {
        const ITreeNode *prev = NULL;
        size_t n_nodes = 0;

        if (node_is_red(t->root) || check_subtree(t->root, NULL, &n_nodes) < 0 || n_nodes != t->n)
                return -EUCLEAN;
        /* the ends kept are the ends of the tree */
        if (t->first != (t->root ? subtree_first(t->root) : NULL) ||
            t->last != (t->root ? subtree_last(t->root) : NULL))
                return -EUCLEAN;
        /* the children's checks see only their parent: the whole order, once more, in a walk */
        for (const ITreeNode *n = itree_first(t); n; prev = n, n = itree_next(n))
                if (prev && prev->last >= n->start)
                        return -EUCLEAN;
        return 0;
}

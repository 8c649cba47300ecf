/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * itree.h - a balanced tree of disjoint IOVA intervals, with intrusive nodes.
 *
 * Owns: ITree and ITreeNode, a red-black tree of closed intervals
 * [start, last] that never overlap, ordered by start; insertion (which
 * refuses an overlap), removal, the lookups by IOVA (the node containing an
 * IOVA, the first node meeting a range), in-order steps either way, and a
 * clear that hands every node back.  Every operation but the walks and the
 * clear costs O(log n); at either end of the tree O(1) (amortised): the tree
 * keeps its lowest and highest nodes, so that maps made in order, up or down
 * (a VMM mapping its RAM), and the lookups that check them, do not descend.
 * A record embeds an ITreeNode and sets its start and last before it inserts
 * it; itree_entry() gets the record back.
 * Must never: allocate or free (the records belong to their owners), do I/O,
 * or know what the records are.
 *
 * Intervals that never overlap are ordered by their last IOVAs as by their
 * starts, so the first node whose last IOVA is at or above an IOVA is found
 * in one descent and ends every question asked of the tree; the augmentation
 * of a general interval tree (the largest last IOVA below each node) would
 * always be that of the subtree's rightmost node, and is left out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
        ITREE_LEFT,
        ITREE_RIGHT,
};

typedef struct ITreeNode ITreeNode;
struct ITreeNode {
        uintptr_t parent_color;         /* the parent's address; bit 0 set: the node is black */
        ITreeNode *child[2];            /* ITREE_LEFT: lower IOVAs, ITREE_RIGHT: higher */
        uint64_t start;
        uint64_t last;                  /* inclusive */
};

typedef struct ITree {
        ITreeNode *root;
        size_t n;                       /* nodes in the tree */
        ITreeNode *first, *last;        /* the lowest and the highest node, or NULL */
} ITree;

/* An empty tree; a zeroed ITree is one too. */
#define ITREE_INIT { .root = NULL, .n = 0, .first = NULL, .last = NULL }

/* The record of type that embeds node as its member; NULL for NULL. */
#define itree_entry(node, type, member)                                                 \
        ({                                                                              \
                ITreeNode *_node = (node);                                              \
                _node ? (type *) ((char *) _node - offsetof(type, member)) : (type *) NULL; \
        })

/* In IOVA order; the loop body must not remove node (take itree_next() first to do so). */
#define itree_for_each(node, tree) for (node = itree_first(tree); node; node = itree_next(node))

/*
 * Inserts node, whose start and last (start <= last) are set.  -EEXIST, and
 * the tree untouched, if it overlaps a node in the tree.
 */
int itree_insert(ITree *t, ITreeNode *node);
/* Takes node, which is in t, out of it. */
void itree_remove(ITree *t, ITreeNode *node);
/*
 * Calls fn (may be NULL) on every node, children before their parent, and
 * leaves the tree empty; fn may free the node it is given.  O(n).
 */
void itree_clear(ITree *t, void (*fn)(ITreeNode *node, void *userdata), void *userdata);

/* The node containing iova, or NULL. */
ITreeNode *itree_find(const ITree *t, uint64_t iova);
/* The first node whose last IOVA is >= iova (the lowest at or above iova), or NULL. */
ITreeNode *itree_lower(const ITree *t, uint64_t iova);
/* The lowest node that meets [start, last], or NULL. */
ITreeNode *itree_first_in(const ITree *t, uint64_t start, uint64_t last);

ITreeNode *itree_first(const ITree *t);
ITreeNode *itree_last(const ITree *t);
/* The node after (before) node in IOVA order, or NULL. */
ITreeNode *itree_next(const ITreeNode *node);
ITreeNode *itree_prev(const ITreeNode *node);

static inline size_t itree_size(const ITree *t) {
        return t->n;
}

static inline bool itree_is_empty(const ITree *t) {
        return !t->root;
}

/*
 * Checks the tree's invariants (order, no overlap, parent links, red-black
 * rules, the count): 0, or -EUCLEAN.  O(n); for tests.
 */
int itree_check(const ITree *t);

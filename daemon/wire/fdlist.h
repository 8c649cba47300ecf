/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdlist.h - the file descriptors that arrived with one message.
 *
 * Owns: an array of received fds.  The handler that uses an fd takes it out
 * (fdlist_take()); fdlist_free() closes every fd nobody took, so an fd a
 * client sends can never leak, whatever the request's fate.
 */
#pragma once

#include <stddef.h>

#include "common/macro.h"

typedef struct FdList {
        size_t n_fds;
        int fds[];
} FdList;

/* The list of n_fds fds (taken), or NULL for none (the empty list); -ENOMEM. */
int fdlist_new(const int *fds, size_t n_fds, FdList **ret);
FdList *fdlist_free(FdList *l);

static inline size_t fdlist_count(const FdList *l) {
        return l ? l->n_fds : 0;
}

/* The fd at index i (still owned by the list), or -1 if there is none. */
static inline int fdlist_get(const FdList *l, size_t i) {
        return l && i < l->n_fds ? l->fds[i] : -1;
}

/* Takes ownership of the fd at index i; -1 if none or already taken. */
int fdlist_take(FdList *l, size_t i);

DEFINE_TRIVIAL_CLEANUP_FUNC(FdList *, fdlist_free);

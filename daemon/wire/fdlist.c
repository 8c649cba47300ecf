/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdlist.c - see fdlist.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire/fdlist.h"

int fdlist_new(const int *fds, size_t n_fds, FdList **ret) {
        FdList *l;

        if (n_fds == 0) {
                *ret = NULL;            /* most messages: every function here takes NULL as the empty list */
                return 0;
        }
        l = malloc(sizeof(*l) + n_fds * sizeof(int));
        if (!l)
                return -ENOMEM;
        l->n_fds = n_fds;
        memcpy(l->fds, fds, n_fds * sizeof(int));
        *ret = l;
        return 0;
}

FdList *fdlist_free(FdList *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_fds; i++)
                safe_close(l->fds[i]);
        free(l);
        return NULL;
}

int fdlist_take(FdList *l, size_t i) {
        if (!l || i >= l->n_fds)
                return -1;
        return TAKE_FD(l->fds[i]);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * call.c - see call.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/error-sentence.h"
#include "core/call.h"

struct CallArenaItem {
        CallArenaItem *next;
        max_align_t data[];
};

void call_init(Call *c, Session *s) {
        c->session = s;
        c->request = NULL;
        c->fds = NULL;
        c->reply = NULL;
        c->error[0] = '\0';
        c->arena = NULL;
        c->n_reply_fds = 0;
        c->n_close_fds = 0;
        c->reply_fds_charge = (Charge) CHARGE_NULL;
}

static void *arena_item(Call *c, CallArenaItem *i) {
        if (!i)
                return NULL;
        i->next = c->arena;
        c->arena = i;
        return i->data;
}

void *call_alloc(Call *c, size_t size) {
        return arena_item(c, calloc(1, sizeof(CallArenaItem) + size));
}

void *call_alloc_uninit(Call *c, size_t size) {
        return arena_item(c, malloc(sizeof(CallArenaItem) + size));
}

char *call_strdup(Call *c, const char *s) {
        size_t n = strlen(s) + 1;
        char *d = call_alloc(c, n);

        if (d)
                memcpy(d, s, n);
        return d;
}

int call_fail(Call *c, int err, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = error_sentence_format(c->error, sizeof(c->error), err, fmt, ap);
        va_end(ap);
        return r;
}

void call_done(Call *c) {
        for (size_t i = 0; i < c->n_close_fds; i++)
                (void) safe_close(c->close_fds[i]);
        c->n_close_fds = 0;
        while (c->arena) {
                CallArenaItem *i = c->arena;

                c->arena = i->next;
                free(i);
        }
}

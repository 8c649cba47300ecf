/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * call.c - see call.h.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
        c->scratch_used = 0;
        c->remember = false;
        c->found_ioas = NULL;
        c->found_memreg = NULL;
}

/* size bytes of the scratch, aligned, or NULL when they do not fit. */
static void *scratch_take(Call *c, size_t size) {
        size_t n = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
        void *p;

        if (n < size || n > sizeof(c->scratch) - c->scratch_used)
                return NULL;
        p = (uint8_t *) c->scratch + c->scratch_used;
        c->scratch_used += n;
        return p;
}

/* The heap block of an item of size bytes, or NULL (no memory, or a size that overflows). */
static CallArenaItem *item_alloc(size_t size, bool zeroed) {
        if (size > SIZE_MAX - sizeof(CallArenaItem))
                return NULL;
        return zeroed ? calloc(1, sizeof(CallArenaItem) + size) : malloc(sizeof(CallArenaItem) + size);
}

static void *arena_item(Call *c, CallArenaItem *i) {
        if (!i)
                return NULL;
        i->next = c->arena;
        c->arena = i;
        return i->data;
}

void *call_alloc(Call *c, size_t size) {
        void *p = scratch_take(c, size);

        if (p)
                return memset(p, 0, size);
        return arena_item(c, item_alloc(size, /* zeroed= */ true));
}

void *call_alloc_uninit(Call *c, size_t size) {
        void *p = scratch_take(c, size);

        if (p)
                return p;
        return arena_item(c, item_alloc(size, /* zeroed= */ false));
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
        c->scratch_used = 0;
}

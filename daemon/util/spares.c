/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spares.c - see spares.h.
 */
#include <assert.h>
#include <stdlib.h>

#include "util/spares.h"

#if defined(__SANITIZE_ADDRESS__)
#define SPARES_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARES_ASAN 1
#endif
#endif

#ifdef SPARES_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define poison(p, n) __asan_poison_memory_region((p), (n))
#define unpoison(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define poison(p, n) ((void) (p), (void) (n))
#define unpoison(p, n) ((void) (p), (void) (n))
#endif

struct Spare {
        Spare *next;
};

void *spares_get(Spares *s) {
        Spare *p = s->head;

        assert(s->size >= sizeof(Spare));
        if (!p)
                return malloc(s->size);
        unpoison(p, s->size);
        s->head = p->next;
        s->n--;
        return p;
}

void spares_put(Spares *s, void *block) {
        Spare *p = block;

        if (!p)
                return;
        if (s->n >= s->max) {
                free(p);
                return;
        }
        p->next = s->head;
        s->head = p;
        s->n++;
        /* all but the link: LeakSanitizer follows no pointer kept in poisoned memory */
        poison((char *) p + sizeof(*p), s->size - sizeof(*p));
}

void spares_clear(Spares *s) {
        while (s->head) {
                Spare *p = s->head;

                s->head = p->next;
                unpoison(p, s->size);
                free(p);
        }
        s->n = 0;
}

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

/*
 * A spare's link is its last pointer's worth of bytes: the first ones of a
 * record are the ones most used, and stay poisoned while it waits.
 */
static Spare *link_of(const Spares *s, void *block) {
        return (Spare *) ((char *) block + s->size - sizeof(Spare));
}

static void *block_of(const Spares *s, Spare *link) {
        return (char *) link - (s->size - sizeof(Spare));
}

void *spares_get(Spares *s) {
        Spare *l = s->head;
        void *p;

        assert(s->size >= sizeof(Spare) && s->size % _Alignof(Spare) == 0);
        if (!l)
                return malloc(s->size);
        p = block_of(s, l);
        s->head = l->next;
        s->n--;
        unpoison(p, s->size);
        return p;
}

void spares_put(Spares *s, void *block) {
        Spare *l;

        if (!block)
                return;
        if (s->n >= s->max) {
                free(block);
                return;
        }
        l = link_of(s, block);
        l->next = s->head;
        s->head = l;
        s->n++;
        /* all but the link: LeakSanitizer follows no pointer kept in poisoned memory */
        poison(block, s->size - sizeof(Spare));
}

void spares_clear(Spares *s) {
        while (s->head) {
                Spare *l = s->head;
                void *p = block_of(s, l);

                s->head = l->next;
                unpoison(p, s->size);
                free(p);
        }
        s->n = 0;
}

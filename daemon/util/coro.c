/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * coro.c - see coro.h.
 *
 * A coroutine is a ucontext with a stack of CORO_STACK_SIZE bytes (mmap()ed,
 * its lowest page PROT_NONE so that an overflow faults instead of writing
 * into something else).  Stacks of finished coroutines are kept, up to
 * CORO_CACHE, so that a busy broker does not mmap per request.  At most
 * CORO_MAX_LIVE exist at once: each is two of the process's memory mappings,
 * which vm.max_map_count caps for the broker's own use and the guest memory
 * it maps (broker.c keeps 4096 of them for the broker); past it
 * coro_start() says -ENOMEM and the caller runs the work where it is.  glibc's
 * swapcontext() saves and restores the signal mask with a system call on
 * every switch: cheap next to the kernel calls worth moving off the loop,
 * which is the only use (util/offload.h).
 *
 * AddressSanitizer keeps shadow state per stack; each switch tells it where
 * the next stack is (__sanitizer_start_switch_fiber before, finish after),
 * and the last switch out of a finished coroutine lets it drop that stack.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "util/coro.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif

#ifdef CORO_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#endif

#define CORO_STACK_SIZE (256U * 1024U)
#define CORO_CACHE 8

struct Coro {
        ucontext_t ctx;
        ucontext_t caller;
        void *map;                      /* the guard page and the stack */
        size_t map_size;
        void (*fn)(void *userdata);
        void *userdata;
        bool done;
        Coro *next_free;
        /* AddressSanitizer: the stack the coroutine switches back to */
        const void *caller_bottom;
        size_t caller_size;
        void *fake_stack;
};

static Coro *current;
static Coro *cache;
static unsigned n_cache;
static unsigned n_live;                 /* started and not yet returned */

void *coro_userdata(const Coro *c) {
        return c->userdata;
}

Coro *coro_current(void) {
        return current;
}

static void switch_begin(void **fake, const void *bottom, size_t size) {
#ifdef CORO_ASAN
        __sanitizer_start_switch_fiber(fake, bottom, size);
#else
        (void) fake;
        (void) bottom;
        (void) size;
#endif
}

static void switch_end(void *fake, const void **bottom_old, size_t *size_old) {
#ifdef CORO_ASAN
        __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#else
        (void) fake;
        (void) bottom_old;
        (void) size_old;
#endif
}

static void coro_trampoline(void) {
        Coro *c = current;

        switch_end(NULL, &c->caller_bottom, &c->caller_size);
        c->fn(c->userdata);
        c->done = true;
        /* the last switch out: NULL lets the sanitizer drop this stack's fake frames */
        switch_begin(NULL, c->caller_bottom, c->caller_size);
        (void) swapcontext(&c->ctx, &c->caller);
}

static Coro *coro_alloc(void) {
        long page = sysconf(_SC_PAGESIZE);
        Coro *c;

        if (n_live >= CORO_MAX_LIVE)
                return NULL;
        if (cache) {
                c = cache;
                cache = c->next_free;
                n_cache--;
                n_live++;
                return c;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->map_size = CORO_STACK_SIZE + (size_t) page;
        c->map = mmap(NULL, c->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (c->map == MAP_FAILED || mprotect(c->map, (size_t) page, PROT_NONE) < 0) {
                if (c->map != MAP_FAILED)
                        (void) munmap(c->map, c->map_size);
                free(c);
                return NULL;
        }
        n_live++;
        return c;
}

static void coro_release(Coro *c) {
        n_live--;
        if (n_cache < CORO_CACHE) {
                c->next_free = cache;
                cache = c;
                n_cache++;
                return;
        }
        (void) munmap(c->map, c->map_size);
        free(c);
}

void coro_cache_clear(void) {
        while (cache) {
                Coro *c = cache;

                cache = c->next_free;
                (void) munmap(c->map, c->map_size);
                free(c);
        }
        n_cache = 0;
}

/* Switches into c until it yields or returns: 0 when it returned (c released), 1 when it yielded. */
static int coro_enter(Coro *c) {
        long page = sysconf(_SC_PAGESIZE);
        void *fake = NULL;

        current = c;
        switch_begin(&fake, (char *) c->map + page, c->map_size - (size_t) page);
        (void) swapcontext(&c->caller, &c->ctx);
        switch_end(fake, NULL, NULL);
        current = NULL;
        if (c->done) {
                coro_release(c);
                return 0;
        }
        return 1;
}

/* getcontext() returns twice in principle: kept out of line so that no caller's locals are at stake. */
static __attribute__((noinline)) int coro_make(Coro *c) {
        long page = sysconf(_SC_PAGESIZE);

        if (getcontext(&c->ctx) < 0)
                return -errno;
        c->ctx.uc_stack.ss_sp = (char *) c->map + page;
        c->ctx.uc_stack.ss_size = c->map_size - (size_t) page;
        c->ctx.uc_link = NULL;
        makecontext(&c->ctx, coro_trampoline, 0);
        return 0;
}

int coro_start(void (*fn)(void *userdata), void *userdata, Coro **ret) {
        Coro *c;
        int r;

        c = coro_alloc();
        if (!c)
                return -ENOMEM;
        c->fn = fn;
        c->userdata = userdata;
        c->done = false;
        c->next_free = NULL;
        r = coro_make(c);
        if (r < 0) {
                coro_release(c);
                return r;
        }
        r = coro_enter(c);
        if (r > 0)
                *ret = c;
        return r;
}

int coro_resume(Coro *c) {
        return coro_enter(c);
}

void coro_yield(void) {
        Coro *c = current;

        if (!c)
                abort();                /* not in a coroutine: a bug of the caller */
        switch_begin(&c->fake_stack, c->caller_bottom, c->caller_size);
        (void) swapcontext(&c->ctx, &c->caller);
        switch_end(c->fake_stack, &c->caller_bottom, &c->caller_size);
}

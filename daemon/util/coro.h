/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * coro.h - coroutines on the event loop's thread.
 *
 * Owns: Coro, a function running on a stack of its own that can give the
 * thread back (coro_yield()) in the middle of its work and be resumed later
 * where it stopped (coro_resume()); the stacks (with a guard page, kept for
 * reuse) and the switches, annotated for AddressSanitizer.  util/offload.c
 * uses it to let a request wait for a kernel call on a worker thread while
 * the loop serves everybody else.
 * Must never: be used from more than one thread (the loop's), or resume a
 * coroutine from inside another.
 */
#pragma once

#include <stdbool.h>

typedef struct Coro Coro;

/* Coroutines that may exist at once (each is two memory mappings of the process). */
#define CORO_MAX_LIVE 1024

/*
 * Runs fn(userdata) on a coroutine now.  Returns 0 once fn returned (the
 * coroutine is gone), 1 if fn yielded (*ret is the coroutine: resume it with
 * coro_resume()), or -ENOMEM (fn did not run: no memory, or CORO_MAX_LIVE
 * coroutines have not returned yet).
 */
int coro_start(void (*fn)(void *userdata), void *userdata, Coro **ret);
/* Continues a yielded coroutine: 0 when fn returned (c is gone), 1 when it yielded again. */
int coro_resume(Coro *c);
/* From inside a coroutine: back to whoever started or resumed it. */
void coro_yield(void);
/* The userdata it was started with. */
void *coro_userdata(const Coro *c);
/* The coroutine running now; NULL on the loop's own stack. */
Coro *coro_current(void);
/* Frees the stacks kept for reuse (at exit, so that leak checkers see nothing). */
void coro_cache_clear(void);

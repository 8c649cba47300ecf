/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * offload.h - slow kernel calls off the event loop; the daemon's threading model.
 *
 * Owns: the worker threads, the queue of calls they run, and the way back to
 * the loop: a request that may pin or unpin a lot runs in a coroutine
 * (offload_spawn()); when it reaches a kernel call that is safe on another
 * thread, offload_call() hands the call to a worker and gives the loop back
 * until the call returned.  Everything else (records, charges, replies, the
 * policy) stays on the loop's thread.  The Theory of Operation in offload.c
 * is the one description of the daemon's threads.
 * Must never: run anything but the function it was given on a worker, or
 * resume a coroutine anywhere but on the loop.
 */
#pragma once

#include <stdbool.h>

struct event_base;

/*
 * Starts n_threads workers (0: none; calls that could go to a worker then run
 * on the loop, still giving other requests their turn first).  After the
 * privilege drop only: the threads inherit the process's credentials, and
 * host/privilege.c changes the calling thread's alone.  0 or -errno.
 */
int offload_start(struct event_base *base, unsigned n_threads);
/* Finishes every suspended request (waiting for the workers), then stops the workers. */
void offload_stop(void);
/* Whether workers run (for the log and the admin view). */
unsigned offload_threads(void);

/*
 * Runs fn(userdata) in a coroutine: 0 if it returned at once, 1 if it is
 * waiting for an offloaded call (done(userdata) is called on the loop once
 * it returned), -ENOMEM (fn did not run).  Called in a coroutine, fn runs
 * in that one (its calls wait as the caller's do) and 0 is returned.
 */
int offload_spawn(void (*fn)(void *userdata), void (*done)(void *userdata), void *userdata);

/*
 * fn(arg), the way the caller's context allows: outside a coroutine, at
 * once; inside one, on a worker if thread_safe (else on the loop, after the
 * loop served what was waiting), while the coroutine waits.  Returns fn's
 * result.
 */
int offload_call(int (*fn)(void *arg), void *arg, bool thread_safe);

/* Suspended requests now (tests, the drain at exit). */
unsigned offload_in_flight(void);

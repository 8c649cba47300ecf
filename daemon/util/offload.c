/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * offload.c - see offload.h.
 *
 * DOC: Theory of Operation (the daemon's threads)
 *
 * iommu-brokerd is an event loop on one thread: sessions, the policy,
 * accounts, records of kernel objects, the admin bus and the audit all live
 * there and are never locked.  The one thing that can take long is a kernel
 * call that pins or unpins a lot of memory (IOMMU_IOAS_MAP of gigabytes
 * pins every page; an unmap unpins them); run on the loop, it would make
 * every other tenant wait.  So:
 *
 *   - The dispatcher (core/dispatch.c) runs a request that may be such a
 *     call (a Map, Copy, Unmap or Batch of at least --offload-min-bytes; an
 *     IoasFree, which unpins what the IOAS holds, a HWPT allocation, which
 *     fills a page table from it, or a dirty-tracking switch or read, which
 *     walk the page table, where that much is mapped; every
 *     attach and detach of a device or PASID, for which the kernel also
 *     programs the IOMMU and waits for its invalidations) in a coroutine
 *     (util/coro.h) on the loop's thread, and pauses its session: a
 *     session's requests complete in order, one at a time.
 *   - The coroutine runs the handler as any other: checks, charges (taken
 *     before the kernel call, so that racing sessions cannot pass a limit),
 *     records.  At the kernel call, the backend's wrapper calls
 *     offload_call(): the call goes to a worker thread and the coroutine
 *     yields; the loop serves everybody else.
 *   - A worker runs only that function (an ioctl on the session's own
 *     iommufd, which the kernel serializes as it must), puts the job on the
 *     done list and wakes the loop (an eventfd).  The loop resumes the
 *     coroutine, which goes on with the kernel's answer: records, charges
 *     settled, the reply; then the session reads again.
 *   - A session that ends while its request waits is freed once the request
 *     finished (its kernel call cannot be taken back); its reply is dropped.
 *   - Opening a device (a bind, or the probe after a close) makes the
 *     kernel power it up and maybe reset it: DeviceOpen and DeviceClose
 *     always run in a coroutine, and so does the end of a session with that
 *     much mapped or a device open (core/session.c, Teardown): emptying its
 *     context unpins it all, letting go of its devices probes them; and so
 *     do DeviceList and DeviceDelegate and the timer (broker.c), which probe
 *     quarantined devices by binding them, and the end of a delegation
 *     (core/delegation.c), which probes the devices its VMM left.
 *   - The sim backend is not thread-safe: its calls "offloaded" run on the
 *     loop, after the loop served what was waiting, so every path but the
 *     thread itself is exercised on the sim.
 *
 * Workers start after the privilege drop (host/privilege.c changes one
 * thread's capabilities), block every signal (they go to the loop), and
 * touch nothing but their job.  The lock below guards the two lists only.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/macro.h"
#include "util/coro.h"
#include "util/log.h"
#include "util/offload.h"

typedef struct Job Job;
struct Job {
        Job *next;
        int (*fn)(void *arg);
        void *arg;
        int result;
        bool on_loop;                   /* not thread-safe: the loop runs it before resuming */
        Coro *coro;
};

typedef struct Spawned {
        void (*fn)(void *userdata);
        void (*done)(void *userdata);
        void *userdata;
} Spawned;

static struct {
        pthread_mutex_t lock;
        pthread_cond_t wake;            /* workers: a job to run, or stop */
        pthread_cond_t finished;        /* offload_stop(): a job is done */
        Job *todo, *todo_tail;
        Job *done, *done_tail;
        bool stopping;
        pthread_t *threads;
        unsigned n_threads;
        int efd;
        struct event *ev;
        unsigned in_flight;
} pool = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .wake = PTHREAD_COND_INITIALIZER,
        .finished = PTHREAD_COND_INITIALIZER,
        .efd = -1,
};

static void push(Job **head, Job **tail, Job *j) {
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

static void wake_loop(void) {
        uint64_t one = 1;

        if (pool.efd >= 0)
                (void) !write(pool.efd, &one, sizeof(one));
}

static void *worker(void *unused) {
        (void) unused;
        for (;;) {
                Job *j;

                pthread_mutex_lock(&pool.lock);
                while (!pool.todo && !pool.stopping)
                        pthread_cond_wait(&pool.wake, &pool.lock);
                if (!pool.todo) {
                        pthread_mutex_unlock(&pool.lock);
                        return NULL;
                }
                j = pool.todo;
                pool.todo = j->next;
                if (!pool.todo)
                        pool.todo_tail = NULL;
                pthread_mutex_unlock(&pool.lock);

                j->result = j->fn(j->arg);

                pthread_mutex_lock(&pool.lock);
                push(&pool.done, &pool.done_tail, j);
                pthread_cond_signal(&pool.finished);
                pthread_mutex_unlock(&pool.lock);
                wake_loop();
        }
}

/* Resumes the coroutines whose calls are done; runs the loop's own "offloaded" calls first. */
static void run_done(void) {
        Job *list;

        pthread_mutex_lock(&pool.lock);
        list = pool.done;
        pool.done = pool.done_tail = NULL;
        pthread_mutex_unlock(&pool.lock);

        while (list) {
                Job *j = list;
                Spawned *s = coro_userdata(j->coro);    /* j lives on the coroutine's stack: read it first */

                list = j->next;
                if (j->on_loop)
                        j->result = j->fn(j->arg);
                if (coro_resume(j->coro) == 0) {
                        s->done(s->userdata);
                        free(s);
                }
        }
}

static void on_wake(evutil_socket_t fd, short what, void *unused) {
        uint64_t n;

        (void) what;
        (void) unused;
        (void) !read(fd, &n, sizeof(n));
        run_done();
}

int offload_start(struct event_base *base, unsigned n_threads) {
        sigset_t all, old;
        int r = 0;

        pool.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (pool.efd < 0)
                return -errno;
        pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST, on_wake, NULL);
        if (!pool.ev || event_add(pool.ev, NULL) < 0)
                return -ENOMEM;
        if (n_threads == 0)
                return 0;
        pool.threads = calloc(n_threads, sizeof(*pool.threads));
        if (!pool.threads)
                return -ENOMEM;
        /* the workers take no signal: they go to the loop's thread */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        for (; pool.n_threads < n_threads; pool.n_threads++) {
                r = -pthread_create(&pool.threads[pool.n_threads], NULL, worker, NULL);
                if (r < 0)
                        break;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return r;
}

unsigned offload_threads(void) {
        return pool.n_threads;
}

unsigned offload_in_flight(void) {
        return pool.in_flight;
}

void offload_stop(void) {
        /* every suspended request first: their calls are in the kernel or queued */
        while (pool.in_flight > 0) {
                /* each waits for a job on the todo list (a worker finishes it) or on the done list */
                pthread_mutex_lock(&pool.lock);
                while (!pool.done)
                        pthread_cond_wait(&pool.finished, &pool.lock);
                pthread_mutex_unlock(&pool.lock);
                run_done();
        }
        pthread_mutex_lock(&pool.lock);
        pool.stopping = true;
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
        for (unsigned i = 0; i < pool.n_threads; i++)
                pthread_join(pool.threads[i], NULL);
        free(pool.threads);
        pool.threads = NULL;
        pool.n_threads = 0;
        pool.stopping = false;
        if (pool.ev)
                event_free(pool.ev);
        pool.ev = NULL;
        pool.efd = safe_close(pool.efd);
        coro_cache_clear();
}

static void spawned_body(void *userdata) {
        Spawned *s = userdata;

        s->fn(s->userdata);
}

int offload_spawn(void (*fn)(void *userdata), void (*done)(void *userdata), void *userdata) {
        Spawned *s;
        Coro *c;
        int r;

        if (coro_current()) {
                fn(userdata);           /* in a coroutine already: its calls wait as that one's do */
                return 0;
        }
        s = malloc(sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (Spawned) { fn, done, userdata };
        r = coro_start(spawned_body, s, &c);
        if (r < 0) {
                static time_t warned;
                time_t now = time(NULL);

                /* the caller runs fn on the loop instead: say so, at most once a minute */
                if (now - warned >= 60) {
                        warned = now;
                        log_warning("cannot start a coroutine (%s; at most %d at once): a request that would wait "
                                    "off the event loop runs on it", strerror(-r), CORO_MAX_LIVE);
                }
        }
        if (r <= 0) {
                free(s);                /* returned at once (done is not called), or did not run */
                return r;
        }
        /* it waits: run_done() calls done and frees s once it returned */
        return 1;
}

int offload_call(int (*fn)(void *arg), void *arg, bool thread_safe) {
        Job j = { .fn = fn, .arg = arg, .coro = coro_current() };

        if (!j.coro || pool.efd < 0)
                return fn(arg);
        j.on_loop = !thread_safe || pool.n_threads == 0;
        pool.in_flight++;
        pthread_mutex_lock(&pool.lock);
        if (j.on_loop)
                push(&pool.done, &pool.done_tail, &j);
        else {
                push(&pool.todo, &pool.todo_tail, &j);
                pthread_cond_signal(&pool.wake);
        }
        pthread_mutex_unlock(&pool.lock);
        if (j.on_loop)
                wake_loop();
        coro_yield();
        pool.in_flight--;
        return j.result;
}

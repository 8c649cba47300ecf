/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-offload.c - requests that wait for a call off the event loop (util/offload.h, util/coro.h).
 *
 * A coroutine's call goes to a worker thread and the loop runs other events
 * meanwhile; the coroutine goes on with the call's result and its done
 * callback runs on the loop; calls that are not thread-safe run on the loop
 * after what was waiting; a coroutine may wait more than once; a request
 * that never waits costs no callback; offload_stop() finishes what waits.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "tests/lib/tests.h"
#include "util/coro.h"
#include "util/offload.h"

static struct event_base *base;
static char order[64];
static size_t n_order;
static pthread_t loop_thread;
static bool ran_on_worker;

static void note(char c) {
        if (n_order < sizeof(order) - 1)
                order[n_order++] = c;
}

static int slow(void *arg) {
        ran_on_worker = !pthread_equal(pthread_self(), loop_thread);
        usleep(150 * 1000);
        return *(int *) arg;
}

static int quick(void *arg) {
        note('q');
        return *(int *) arg;
}

typedef struct Req {
        int result, result2;
        bool twice, thread_safe, done;
} Req;

static void request(void *userdata) {
        Req *r = userdata;
        int in = 42, in2 = 7;

        note('a');
        r->result = offload_call(r->thread_safe ? slow : quick, &in, r->thread_safe);
        note('b');
        if (r->twice)
                r->result2 = offload_call(slow, &in2, true);
}

static void request_done(void *userdata) {
        Req *r = userdata;

        r->done = true;
        note('d');
        event_base_loopbreak(base);
}

static void on_timer(evutil_socket_t fd, short what, void *unused) {
        (void) fd;
        (void) what;
        (void) unused;
        note('t');
}

static void setup_loop(void) {
        base = event_base_new();
        loop_thread = pthread_self();
        n_order = 0;
        order[0] = '\0';
}

static void teardown_loop(void) {
        offload_stop();
        event_base_free(base);
}

TEST(a_call_runs_on_a_worker_while_the_loop_serves_others) {
        struct timeval tv = { 0, 20 * 1000 };
        struct event *timer;
        Req r = { .thread_safe = true };

        setup_loop();
        ASSERT_OK(offload_start(base, 2));
        ASSERT_EQ(offload_spawn(request, request_done, &r), 1);
        ASSERT_EQ(offload_in_flight(), 1);
        timer = evtimer_new(base, on_timer, NULL);
        evtimer_add(timer, &tv);
        ASSERT_OK(event_base_dispatch(base));
        order[n_order] = '\0';
        /* a, the timer while the worker sleeps, then b and done */
        ASSERT_STREQ(order, "atbd");
        ASSERT_TRUE(r.done);
        ASSERT_EQ(r.result, 42);
        ASSERT_TRUE(ran_on_worker);
        ASSERT_EQ(offload_in_flight(), 0);
        event_free(timer);
        teardown_loop();
}

TEST(a_call_that_is_not_thread_safe_runs_on_the_loop_after_what_waited) {
        struct event *timer;
        Req r = { .thread_safe = false };

        setup_loop();
        ASSERT_OK(offload_start(base, 2));
        timer = evtimer_new(base, on_timer, NULL);
        event_active(timer, EV_TIMEOUT, 0);     /* waiting before the request's call */
        ASSERT_EQ(offload_spawn(request, request_done, &r), 1);
        ASSERT_OK(event_base_dispatch(base));
        order[n_order] = '\0';
        ASSERT_STREQ(order, "atqbd");
        ASSERT_EQ(r.result, 42);
        event_free(timer);
        teardown_loop();
}

TEST(a_request_may_wait_twice_and_stop_finishes_what_waits) {
        Req r = { .thread_safe = true, .twice = true };

        setup_loop();
        ASSERT_OK(offload_start(base, 1));
        ASSERT_EQ(offload_spawn(request, request_done, &r), 1);
        /* no loop: stop waits for both calls and runs done */
        offload_stop();
        order[n_order] = '\0';
        ASSERT_STREQ(order, "abd");
        ASSERT_TRUE(r.done);
        ASSERT_EQ(r.result, 42);
        ASSERT_EQ(r.result2, 7);
        ASSERT_EQ(offload_in_flight(), 0);
        event_base_free(base);
}

static void no_wait(void *userdata) {
        int in = 5;

        /* outside offload_start() a call runs at once, even in a coroutine */
        *(int *) userdata = offload_call(quick, &in, true);
}

static void never_done(void *userdata) {
        (void) userdata;
        abort();
}

TEST(a_request_that_never_waits_returns_at_once) {
        int result = 0;

        n_order = 0;
        ASSERT_EQ(offload_spawn(no_wait, never_done, &result), 0);
        ASSERT_EQ(result, 5);
        ASSERT_TRUE(coro_current() == NULL);
        /* outside a coroutine too */
        ASSERT_EQ(offload_call(quick, &result, true), 5);
        coro_cache_clear();
}

static void yield_once(void *userdata) {
        (void) userdata;
        coro_yield();
}

/* Each coroutine is two memory mappings: past CORO_MAX_LIVE none starts (the caller runs the work itself). */
TEST(no_more_than_coro_max_live_coroutines_exist_at_once) {
        static Coro *live[CORO_MAX_LIVE];
        Coro *c = NULL;

        for (unsigned i = 0; i < CORO_MAX_LIVE; i++)
                ASSERT_EQ(coro_start(yield_once, NULL, &live[i]), 1);
        ASSERT_ERRNO(ENOMEM, coro_start(yield_once, NULL, &c));
        /* a request then runs where it is: its caller hears -ENOMEM, and the broker's log a warning */
        ASSERT_ERRNO(ENOMEM, offload_spawn(yield_once, never_done, NULL));
        ASSERT_EQ(coro_resume(live[0]), 0);
        ASSERT_EQ(coro_start(yield_once, NULL, &live[0]), 1);
        for (unsigned i = 0; i < CORO_MAX_LIVE; i++)
                ASSERT_EQ(coro_resume(live[i]), 0);
        coro_cache_clear();
}

TESTS_MAIN(NULL, NULL)

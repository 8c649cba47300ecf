/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-soak.c - VMM-like clients SIGKILLed at random points, and the broker after.
 *
 * Owns: the random-kill soak.  Forked children each run the VMM script of
 * vmm-script.h (windowed IOAS, maps, batches, copy, device open + attach,
 * HWPTs, dirty bitmap, fault queue, PASID; a clean end or none) against one
 * sim broker, a few at a time.  Half of them are SIGKILLed by this process
 * after a random delay drawn around the time one script takes; the others
 * SIGKILL themselves 1-100 us after a random reply, which spreads the kills
 * over the whole script however slow the machine: before Hello, between
 * requests, with a request in flight, idle while holding objects and the
 * device fds.  The stage each kill landed in is counted and printed.  Every
 * CHECK_EVERY clients, with none running, and at the end, the broker must be
 * back at its baseline (soak-util.h: counters zero, devices free, the
 * daemon's fd count as before, alive) and must not have logged an
 * incomplete teardown; then it must stop cleanly on SIGTERM: exit 0 and no
 * sanitizer report in its log.
 *
 * Environment: IB_SOAK_SEED (default 1; printed, replays the same choices
 * and delays), IB_SOAK_CLIENTS (default 100), IB_SOAK_PARALLEL (default 4),
 * IB_SOAK_MAX_SECONDS (default 90: no new client after that, the checks
 * still run), IB_SOAK_DAEMON_ARGS (more options for the daemon).
 * build-aux/run-tests.sh's "soak" stage runs 300 clients against the ASan
 * build, once as is and once with every map waiting off the loop
 * (--offload-min-bytes=4K).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/tests.h"
#include "tests/soak/soak-util.h"
#include "tests/soak/vmm-script.h"

#define MAX_PARALLEL 64
/* Check the baseline after this many clients, with none running. */
#define CHECK_EVERY 50

typedef struct Child {
        pid_t pid;
        uint64_t deadline_us;           /* SIGKILL then */
        unsigned index;
        unsigned slot;                  /* its entry in progress[] */
} Child;

static Observer observer;
/* How long one client's script takes unkilled (calibrate()); children inherit it. */
static uint64_t script_us;            /* 0 while calibrating: no idle time */
/* Each running child's stage << 16 | replies (Vmm.progress), one entry per slot, shared with the children. */
static volatile uint32_t *progress;
/* Replies in a whole script (calibrate()), and in which stage of vmm_full_script() the kills landed. */
static uint32_t script_requests;
static unsigned landed[_VMM_STAGE_MAX];

static uint64_t env_u64(const char *name, uint64_t def) {
        const char *e = getenv(name);
        char *end;
        unsigned long long v;

        if (!e || !*e)
                return def;
        errno = 0;
        v = strtoull(e, &end, 0);
        if (errno != 0 || *end)
                return def;
        return v;
}

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* splitmix64: one stream per seed, the same on every machine. */
static uint64_t rng_next(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static void on_self_kill_timer(int sig) {
        (void) kill(getpid(), SIGKILL);
}

/* After reply kill_after: SIGKILL 0-100 us later, wherever that finds the client (mid-request, often). */
static void child_on_reply(Vmm *v) {
        struct itimerval t = {};

        if (v->n_requests != v->kill_after)
                return;
        t.it_value.tv_usec = 1 + (suseconds_t) (v->n_requests * 7919U % 100);
        (void) setitimer(ITIMER_REAL, &t, NULL);
}

/*
 * One VMM, in the child: the script, with a clean end or none, and then
 * (sometimes) a pause with everything held, for a kill to land on an idle
 * session.  Half the children are killed by the parent after a random delay,
 * the others kill themselves shortly after a random reply (kill_after), so
 * the kills spread over the whole script even when it runs slower than
 * calibrated.  Exits 0 whatever the broker answered: a device busy in
 * another session is normal here.
 */
static _Noreturn void child_main(uint64_t seed, unsigned index, unsigned slot, uint32_t kill_after) {
        uint64_t rng = seed ^ ((uint64_t) index << 32);
        uint64_t choice = rng_next(&rng);
        Vmm v;

        if (vmm_init(&v, VMM_MODE_LENIENT) < 0)
                _exit(2);
        v.progress = &progress[slot];
        if (kill_after > 0) {
                (void) signal(SIGALRM, on_self_kill_timer);
                v.kill_after = kill_after;
                v.on_reply = child_on_reply;
        }
        if (vmm_connect(&v, observer.broker.socket) >= 0) {
                (void) vmm_full_script(&v, /* clean_end= */ (choice & 1) != 0);
                /* idle with everything held, for a while as long as the script */
                if (choice & 2)
                        (void) usleep((useconds_t) (rng_next(&rng) % (script_us + 1)));
        }
        vmm_done(&v);
        _exit(0);
}

static int spawn(uint64_t seed, unsigned index, unsigned slot, uint64_t delay_us, uint32_t kill_after,
                 Child *ret) {
        pid_t pid;

        progress[slot] = 0;
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_main(seed, index, slot, kill_after);
        *ret = (Child) { .pid = pid, .deadline_us = now_us() + delay_us, .index = index, .slot = slot };
        return 0;
}

typedef struct Tally {
        unsigned killed;
        unsigned finished;
        unsigned broken;                /* children that died of something else */
} Tally;

/* Reaps or kills what is due; 1 if child c is gone. */
static int child_step(Child *c, Tally *t) {
        int status = 0;
        pid_t p;

        p = waitpid(c->pid, &status, WNOHANG);
        if (p == 0 && now_us() < c->deadline_us)
                return 0;
        if (p == 0) {
                (void) kill(c->pid, SIGKILL);
                p = waitpid(c->pid, &status, 0);
        }
        if (p != c->pid)
                return -ECHILD;
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                uint32_t stage = progress[c->slot] >> 16;

                t->killed++;
                landed[stage < _VMM_STAGE_MAX ? stage : VMM_STAGE_DONE]++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                t->finished++;
        else {
                printf("# client %u ended with status 0x%x\n", c->index, (unsigned) status);
                t->broken++;
        }
        c->pid = 0;
        return 1;
}

/* How long one client's script takes here, unkilled: the scale of the kill delays. */
static uint64_t calibrate(uint64_t seed) {
        uint64_t t0, best = UINT64_MAX;

        for (unsigned i = 0; i < 3; i++) {
                Child c;
                Tally t = {};

                t0 = now_us();
                if (spawn(seed, UINT32_MAX - i, 0, UINT64_MAX / 2, 0, &c) < 0)
                        return 20000;
                while (child_step(&c, &t) == 0)
                        (void) usleep(200);
                script_requests = progress[0] & 0xffff;
                if (now_us() - t0 < best)
                        best = now_us() - t0;
        }
        return best;
}

/* With no client running: the baseline, and no incomplete teardown logged since the last check. */
static int check_broker(uint64_t seed, unsigned started) {
        char why[384];

        if (observer_check_baseline(&observer, 10000, why, sizeof(why)) < 0 ||
            observer_log_scan(&observer, "could not be destroyed", why, sizeof(why))) {
                observer_print_log_tail(&observer, 30);
                printf("# after %u clients (seed %" PRIu64 "): %s\n", started, seed, why);
                tests_failed_now = true;
                return -1;
        }
        return 0;
}

TEST(random_kills_leave_the_broker_at_its_baseline) {
        uint64_t seed = env_u64("IB_SOAK_SEED", 1);
        unsigned clients = (unsigned) env_u64("IB_SOAK_CLIENTS", 100);
        unsigned parallel = (unsigned) env_u64("IB_SOAK_PARALLEL", 4);
        uint64_t max_us = env_u64("IB_SOAK_MAX_SECONDS", 90) * 1000000;
        uint64_t rng = seed, start;
        Child kids[MAX_PARALLEL] = {};
        unsigned started = 0, active = 0, last_check = 0;
        Tally t = {};

        if (parallel == 0 || parallel > MAX_PARALLEL)
                parallel = 4;
        printf("# seed %" PRIu64 " (IB_SOAK_SEED), %u clients (IB_SOAK_CLIENTS), %u at a time "
               "(IB_SOAK_PARALLEL)\n", seed, clients, parallel);
        script_us = calibrate(seed);
        printf("# one client's script (%" PRIu32 " requests) takes %" PRIu64 " ms unkilled; kill delays "
               "are drawn from 0 to %" PRIu64 " ms (one in eight: twice that), or the client kills itself "
               "1-100 us after reply 1-%" PRIu32 "\n",
               script_requests, script_us / 1000, script_us / 1000, script_requests + 1);
        start = now_us();

        for (;;) {
                bool may_start = started < clients && now_us() - start < max_us;
                /* at every CHECK_EVERY-th client: let the running ones end, then check */
                bool checkpoint = started > last_check && started % CHECK_EVERY == 0;

                for (unsigned i = 0; i < parallel && may_start && !checkpoint && started < clients; i++) {
                        uint32_t kill_after;
                        uint64_t delay;

                        if (kids[i].pid)
                                continue;
                        /*
                         * Half are killed by us after a random delay (most land inside the script,
                         * some in the idle time after it), half kill themselves after a random reply.
                         */
                        delay = rng_next(&rng) % (script_us + 1);
                        if (rng_next(&rng) % 8 == 0)
                                delay *= 2;
                        kill_after = 0;
                        if (rng_next(&rng) % 2 == 0) {
                                kill_after = 1 + (uint32_t) (rng_next(&rng) % (script_requests + 1));
                                delay = script_us * 20 + 10000000;      /* a backstop */
                        }
                        if (spawn(seed, started, i, delay, kill_after, &kids[i]) < 0)
                                TEST_FAIL("fork: %s", strerror(errno));
                        started++;
                        active++;
                        checkpoint = started % CHECK_EVERY == 0;
                }
                for (unsigned i = 0; i < parallel; i++) {
                        int r;

                        if (!kids[i].pid)
                                continue;
                        r = child_step(&kids[i], &t);
                        if (r < 0)
                                TEST_FAIL("waitpid: %s", strerror(-r));
                        if (r > 0)
                                active--;
                }
                if (active > 0) {
                        (void) usleep(200);
                        continue;
                }
                if (!may_start)
                        break;
                if (checkpoint) {
                        last_check = started;
                        if (check_broker(seed, started) < 0)
                                return;
                        printf("# %u clients: baseline holds\n", started);
                }
        }
        printf("# %u clients in %.1f s: %u killed at random points, %u finished before their kill, %u broke%s\n",
               started, (double) (now_us() - start) / 1e6, t.killed, t.finished, t.broken,
               started < clients ? " (time bound reached)" : "");
        printf("# the kills landed in:");
        for (unsigned i = 0; i < _VMM_STAGE_MAX; i++)
                printf(" %s %u%s", vmm_stage_name((VmmStage) i), landed[i], i + 1 < _VMM_STAGE_MAX ? "," : "\n");
        if (check_broker(seed, started) < 0)
                return;
        printf("# baseline holds: no session but the observer's, 0 bytes mapped, 0 objects, both devices free, "
               "%d daemon fds as before\n", observer.baseline_fds);
        ASSERT_EQ(t.broken, 0);
        ASSERT_TRUE(t.killed > 0);
}

TEST(the_daemon_stops_cleanly) {
        ASSERT_TRUE(observer_stop(&observer) == 0);
}

static int setup(void) {
        void *p = mmap(NULL, sizeof(uint32_t) * MAX_PARALLEL, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        int r;

        if (p == MAP_FAILED)
                return -errno;
        progress = p;
        {
                /* IB_SOAK_DAEMON_ARGS: more daemon options, e.g. --offload-min-bytes=4K (every map waits off the loop) */
                const char *more = getenv("IB_SOAK_DAEMON_ARGS");
                char args[512];

                (void) snprintf(args, sizeof(args), "--admin-bus=none%s%s", more ? " " : "", more ?: "");
                r = observer_start(&observer, args);
        }

        if (r < 0)
                observer_print_log_tail(&observer, 20);
        return r;
}

static void teardown(void) {
        if (observer.broker.pid > 0)
                (void) observer_stop(&observer);
}

TESTS_MAIN(setup, teardown)

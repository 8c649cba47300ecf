/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-fail-nth.c - the sim's fail-nth hook swept through the broker.
 *
 * Owns: for each scenario (a VMM-like script of vmm-script.h and the way its
 * session ends), running it against a fresh session with the N-th fallible
 * backend call failing (-ENOMEM), for N = 1, 2, 3, ... until a run in which
 * the armed call was never reached, and checking after each run that
 *  - the injected failure gave exactly one reply: ENOMEM on the request whose
 *    path it was on (which, sent again, then succeeds: the failure changed
 *    nothing), or success where the failed call was off the request's path
 *    or in the teardown; no request went unanswered (alarm), no second reply
 *    and no hang-up came (vmm-script.c); at N = 1 the failure is the session's
 *    context (ctx_new at accept): the broker closes the connection unanswered
 *    and the client connects again;
 *  - once the client hung up, the broker is back at its baseline: only the
 *    observer's session, mapped_bytes and objects 0, both devices neither in
 *    use nor quarantined, the daemon's fd count as before, the daemon alive;
 *  - the session's teardown emptied its context (the daemon logged no
 *    "could not be destroyed");
 *  - a device fd kept past the session end quarantines the device until it
 *    is closed;
 * and at the end that the daemon stops cleanly on SIGTERM (exit 0; under
 * ASan also no leak and no report in its log).  Every scenario runs against
 * two daemons: one mapping memfds with IOMMU_IOAS_MAP_FILE (the sim's
 * default) and one with --no-map-file (the broker's own mmaps).
 *
 * The hook is armed at run time through $IB_SIM_FAIL_NTH_FILE (see
 * daemon/backend/backend-sim.h): this program writes N into the file before
 * the scenario's session connects and reads it back once the broker has
 * ended that session: 0 means the armed call came and failed, more means
 * the run made fewer than N fallible calls, which ends the sweep.  The
 * observer session is connected before anything is armed, and asks only
 * GetCapabilities (no backend call) until the counter is read and disarmed.
 *
 * Bugs this sweep found (now fixed): a broken run whose signature is one of
 * known_bugs[] does not fail its scenario; it fails that bug's own
 * regression test instead, so a return of one names itself.
 *
 * Options: --scenario=NAME, --variant=map-file|mmap, --nth=N[-M] (only the
 * runs with fail-nth N to M: a replay); IB_FAIL_NTH_VERBOSE=1 prints every
 * run, IB_SOAK_KEEP_LOG=1 keeps the daemons' logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/soak/soak-util.h"
#include "tests/soak/vmm-script.h"

/* Per run: a request without a reply shows as this alarm (ASan builds are slow, but not this slow). */
#define RUN_TIMEOUT_S 60
/* No scenario makes this many fallible calls: a sweep that gets here never ends. */
#define MAX_NTH 2000
/* Unexplained broken runs before a sweep gives up: each starts from what the last one left. */
#define MAX_BROKEN 3

typedef enum End {
        END_CLEAN,              /* the script frees what it made; fds closed, then hang up */
        END_HOLD_OBJECTS,       /* fds closed, hang up with every object still there */
        END_HOLD_DEVICE_FD,     /* hang up with the device fds still open here; closed after */
} End;

typedef struct Scenario {
        const char *name;
        int (*script)(Vmm *v);
        End end;
} Scenario;

/* One daemon the scenarios run against. */
typedef struct Variant {
        const char *name;
        const char *daemon_args;
        Observer observer;
        char counter_path[64];
        int counter_fd;
} Variant;

static Variant variants[] = {
        { .name = "map-file", .daemon_args = "--admin-bus=none", .counter_fd = -1 },
        { .name = "mmap", .daemon_args = "--admin-bus=none --no-map-file", .counter_fd = -1 },
};

/* What one run found. */
typedef enum Verdict {
        VERDICT_OK,
        VERDICT_BROKEN,                         /* the rule broke, for no known reason */
        VERDICT_QUARANTINE_LOST,                /* known_bugs[] from here on: found by this sweep, fixed */
        VERDICT_DEVICE_CLOSE_LEAVES_ATTACHED,
        VERDICT_TEARDOWN_INCOMPLETE,
        _VERDICT_MAX,
} Verdict;

typedef struct KnownBug {
        const char *what;
        unsigned hits;
        char first[160];                        /* the first run that showed it, as a replay */
} KnownBug;

static KnownBug known_bugs[_VERDICT_MAX] = {
        [VERDICT_QUARANTINE_LOST] = {
                "regression (fixed): device_free() quarantined a device only when device_probe() said "
                "-EBUSY; a probe that failed otherwise (here the injected ENOMEM) left the device listed free "
                "while the client still holds its bound fd",
        },
        [VERDICT_DEVICE_CLOSE_LEAVES_ATTACHED] = {
                "regression (fixed): DeviceClose ignored device_detach_all()'s failure: the "
                "device stays attached to the session's HWPT/IOAS through the fd the client kept, the broker "
                "forgets it, and HwptFree/IoasFree fail with EBUSY for the rest of the session",
        },
        [VERDICT_TEARDOWN_INCOMPLETE] = {
                "regression (fixed): device_detach_all() freed a PasidEntry even when the kernel refused its detach, so the "
                "teardown's further rounds never retry it: one failed PASID detach leaves the context "
                "non-empty ('could not be destroyed') and returns the PASID to the host-wide space while "
                "it is still attached",
        },
};

typedef struct Sweep {
        unsigned runs;
        unsigned on_path;               /* runs whose failure came back as a request's ENOMEM */
        unsigned off_path;              /* runs whose failure hit a call no reply reported */
        unsigned at_connect;            /* runs whose failure refused the session */
        unsigned requests;              /* requests of the run that made no failure */
} Sweep;

static bool verbose;
/* Failed tests that are not known bugs', and whether setup() got through: they decide the exit status. */
static unsigned unexpected_failures;
static bool setup_done;
/* for the alarm: where we are */
static const char *current_scenario;
static Variant *current_variant;
static int32_t current_nth;
static Vmm *current_vmm;

static void on_alarm(int sig) {
        char buf[256];
        int n;

        n = snprintf(buf, sizeof(buf),
                     "# scenario %s (%s), fail-nth %d: no reply for %d s after %u replies: a request went "
                     "unanswered\nBail out! a request went unanswered\n",
                     current_scenario ?: "?", current_variant ? current_variant->name : "?", (int) current_nth,
                     RUN_TIMEOUT_S, current_vmm ? current_vmm->n_requests : 0);
        if (n > 0)
                (void) !write(STDOUT_FILENO, buf, (size_t) n);
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
                if (variants[i].observer.broker.pid > 0)
                        (void) kill(variants[i].observer.broker.pid, SIGTERM);
        _exit(1);
}

static int fail_nth_arm(Variant *var, int32_t n) {
        if (pwrite(var->counter_fd, &n, sizeof(n), 0) != (ssize_t) sizeof(n))
                return -errno;
        return 0;
}

static int32_t fail_nth_left(Variant *var) {
        int32_t n = -1;

        if (pread(var->counter_fd, &n, sizeof(n), 0) != (ssize_t) sizeof(n))
                return -1;
        return n;
}

/* --- the scenarios ------------------------------------------------------------------------------ */

static int script_maps(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_unmap_all(v) < 0)
                return -1;
        return vmm_free_all(v);
}

static int script_batch(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_batch(v) < 0 || vmm_unmap_all(v) < 0)
                return -1;
        return vmm_free_all(v);
}

static int script_copy(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_copy(v) < 0 || vmm_unmap_all(v) < 0)
                return -1;
        return vmm_free_all(v);
}

static int script_attach(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_devices(v, true) < 0 || vmm_unmap_all(v) < 0 ||
            vmm_device_close(v, false) < 0)
                return -1;
        return vmm_free_all(v);
}

static int script_hwpts(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_devices(v, false) < 0 || vmm_hwpts(v) < 0 ||
            vmm_device_close(v, false) < 0)
                return -1;
        return vmm_free_all(v);
}

static int script_dirty(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_devices(v, false) < 0 || vmm_dirty(v) < 0 ||
            vmm_unmap_all(v) < 0 || vmm_device_close(v, false) < 0)
                return -1;
        return vmm_free_all(v);
}

static int script_pasid(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_devices(v, false) < 0 || vmm_pasid(v) < 0 ||
            vmm_device_close(v, false) < 0)
                return -1;
        return vmm_free_all(v);
}

static int script_fault(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_devices(v, false) < 0 || vmm_fault_queue(v) < 0 ||
            vmm_device_close(v, false) < 0)
                return -1;
        return vmm_free_all(v);
}

/*
 * DeviceClose while the VMM keeps the device fd: the broker must undo its
 * attachments (RID and PASIDs) then, or the IOAS and HWPTs stay busy, and
 * the device, quarantined, still reaches the session's mappings.
 */
static int script_device_close_fd_held(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_devices(v, true) < 0 || vmm_pasid(v) < 0 ||
            vmm_device_close(v, true) < 0)
                return -1;
        return vmm_free_all(v);
}

/* Everything a VMM makes, nothing freed: the session's end has it all to undo. */
static int script_everything(Vmm *v) {
        if (vmm_ioas_window(v) < 0 || vmm_maps(v) < 0 || vmm_batch(v) < 0 || vmm_copy(v) < 0 ||
            vmm_devices(v, true) < 0 || vmm_hwpts(v) < 0 || vmm_dirty(v) < 0 || vmm_fault_queue(v) < 0)
                return -1;
        return vmm_pasid(v);
}

static const Scenario scenarios[] = {
        { "maps", script_maps, END_CLEAN },
        { "batch", script_batch, END_CLEAN },
        { "copy", script_copy, END_CLEAN },
        { "attach", script_attach, END_CLEAN },
        { "hwpts", script_hwpts, END_CLEAN },
        { "dirty", script_dirty, END_CLEAN },
        { "pasid", script_pasid, END_CLEAN },
        { "fault", script_fault, END_CLEAN },
        { "device-close-fd-held", script_device_close_fd_held, END_CLEAN },
        { "objects-held-at-hangup", script_everything, END_HOLD_OBJECTS },
        { "device-fd-held-past-hangup", script_everything, END_HOLD_DEVICE_FD },
};

/* --- one run ------------------------------------------------------------------------------------ */

/*
 * Runs sc against var with the nth fallible call failing.  *ret_fired: the
 * armed call came.  Prints what broke, and leaves the broker settled for the
 * next run whatever it found.
 */
static Verdict run_once(Variant *var, const Scenario *sc, int32_t nth, bool *ret_fired, Sweep *sweep) {
        Observer *o = &var->observer;
        Verdict verdict = VERDICT_OK;
        char why[640] = "";
        bool held_fd = false, fired;
        int32_t left;
        Vmm v;
        int r;

        if (vmm_init(&v, VMM_MODE_STRICT) < 0) {
                printf("# cannot make a memfd\n");
                return VERDICT_BROKEN;
        }
        current_vmm = &v;
        current_nth = nth;
        if (fail_nth_arm(var, nth) < 0) {
                printf("# cannot arm %s\n", var->counter_path);
                vmm_done(&v);
                return VERDICT_BROKEN;
        }
        alarm(RUN_TIMEOUT_S);
        r = vmm_connect(&v, o->broker.socket);
        if (r >= 0)
                r = sc->script(&v);
        if (sc->end == END_HOLD_DEVICE_FD)
                held_fd = v.dev_fd[0] >= 0 || v.dev_fd[1] >= 0;
        else
                vmm_close_fds(&v);
        vmm_hangup(&v);

        if (!observer_wait_sessions(o, 1, RUN_TIMEOUT_S * 1000)) {
                printf("# %s (%s), fail-nth %d: the broker did not end the session\n", sc->name, var->name,
                       (int) nth);
                vmm_done(&v);
                return VERDICT_BROKEN;
        }
        left = fail_nth_left(var);
        (void) fail_nth_arm(var, 0);
        alarm(0);
        current_vmm = NULL;
        fired = left == 0;
        *ret_fired = fired;

        if (v.failed || r < 0) {
                (void) snprintf(why, sizeof(why), "%s", v.failed ? v.error : "the script failed");
                verdict = VERDICT_BROKEN;
                /* the script's last stage frees what DeviceClose should have let go */
                if (sc->script == script_device_close_fd_held && v.dev[0] == 0 && v.dev[1] == 0 &&
                    strstr(v.error, "_free(") && strstr(v.error, strerror(EBUSY)))
                        verdict = VERDICT_DEVICE_CLOSE_LEAVES_ATTACHED;
        } else if (v.n_enomem > 0 && !fired) {
                (void) snprintf(why, sizeof(why),
                                "ENOMEM came back, but the armed call was not reached (%d left)", (int) left);
                verdict = VERDICT_BROKEN;
        }
        for (size_t i = 0; held_fd && verdict == VERDICT_OK && i < 2; i++) {
                static const char *const names[2] = { VMM_DEVICE_RICH, VMM_DEVICE_PLAIN };
                ib_device_info d = {};

                /* the session is gone, the fds still here: nobody may open the devices meanwhile */
                if (v.dev_fd[i] < 0)
                        continue;
                if (!observer_device(o, names[i], &d) || d.in_use || !d.quarantined) {
                        (void) snprintf(why, sizeof(why), "with its fd still held after the session, %s is %s",
                                        names[i], d.in_use ? "in use" : "neither in use nor quarantined");
                        verdict = d.in_use ? VERDICT_BROKEN : VERDICT_QUARANTINE_LOST;
                }
        }
        vmm_done(&v);
        if (verdict == VERDICT_OK && observer_log_scan(o, "could not be destroyed", why, sizeof(why))) {
                /* only PASIDs are known to get lost this way */
                verdict = VERDICT_BROKEN;
                if (v.pasid != 0)
                        verdict = VERDICT_TEARDOWN_INCOMPLETE;
        }
        if (verdict == VERDICT_OK && observer_check_baseline(o, 5000, why, sizeof(why)) < 0) {
                printf("# %s (%s), fail-nth %d (%s): not back at the baseline after the session: %s\n", sc->name,
                       var->name, (int) nth,
                       !fired ? "not reached" : v.n_enomem ? "a request's ENOMEM" : "off the request path", why);
                return VERDICT_BROKEN;
        }
        if (verdict != VERDICT_OK) {
                printf("# %s (%s), fail-nth %d: %s%s\n", sc->name, var->name, (int) nth, why,
                       verdict == VERDICT_BROKEN ? "" : " (a known bug)");
                (void) observer_check_baseline(o, 2000, why, sizeof(why));
                (void) observer_log_scan(o, "", NULL, 0);
                return verdict;
        }

        sweep->runs++;
        if (fired && v.n_enomem == 0)
                sweep->off_path++;
        else if (fired && v.refused)
                sweep->at_connect++;
        else if (fired)
                sweep->on_path++;
        else
                sweep->requests = v.n_requests;
        if (verbose)
                printf("# %s (%s), fail-nth %d: %s, %u requests\n", sc->name, var->name, (int) nth,
                       !fired ? "not reached" : v.n_enomem ? "ENOMEM reply" : "off the request path",
                       v.n_requests);
        return VERDICT_OK;
}

/* Sweeps scenario name through one daemon; the number of unexplained broken runs. */
static unsigned sweep_variant(Variant *var, const Scenario *sc) {
        const char *one = tests_option("nth");
        int32_t first = 1, last = 0;
        struct timespec t0, t1;
        unsigned broken = 0;
        Sweep s = {};

        if (one && sscanf(one, "%d-%d", &first, &last) < 2)
                last = first;
        current_scenario = sc->name;
        current_variant = var;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int32_t nth = first;; nth++) {
                bool fired = true;
                Verdict verdict;

                if (nth > MAX_NTH) {
                        printf("# %s (%s): still failing calls at fail-nth %d\n", sc->name, var->name, MAX_NTH);
                        return broken + 1;
                }
                verdict = run_once(var, sc, nth, &fired, &s);
                if (verdict == VERDICT_BROKEN) {
                        if (broken++ == 0)
                                observer_print_log_tail(&var->observer, 12);
                        if (broken >= MAX_BROKEN)
                                break;
                } else if (verdict != VERDICT_OK && known_bugs[verdict].hits++ == 0)
                        (void) snprintf(known_bugs[verdict].first, sizeof(known_bugs[verdict].first),
                                        "--scenario=%s --variant=%s --nth=%d", sc->name, var->name, (int) nth);
                if (!fired || nth == last)
                        break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("# %s (%s): %u runs (%u requests when nothing fails): %u failures came back as ENOMEM, "
               "%u refused the session, %u were off the request path; %.1f s\n",
               sc->name, var->name, s.runs, s.requests, s.on_path, s.at_connect, s.off_path,
               (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (s.on_path == 0 && !one) {
                printf("# %s (%s): no failure came back as a reply: the sweep did not run\n", sc->name,
                       var->name);
                broken++;
        }
        return broken;
}

static void sweep_scenario(const char *name) {
        const char *only = tests_option("scenario"), *variant = tests_option("variant");
        const Scenario *sc = NULL;
        unsigned broken = 0;

        for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
                if (strcmp(scenarios[i].name, name) == 0)
                        sc = &scenarios[i];
        if (!sc)
                TEST_FAIL("no scenario '%s'", name);
        if (only && strcmp(only, name) != 0) {
                tests_skip("not the --scenario given");
                return;
        }
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
                if (!variant || strcmp(variant, variants[i].name) == 0)
                        broken += sweep_variant(&variants[i], sc);
        if (broken > 0)
                TEST_FAIL("%s: the rule broke in %u run%s (replay: --scenario=%s)", name, broken,
                          broken == 1 ? "" : "s", name);
}

static void sweep(const char *name) {
        sweep_scenario(name);
        if (tests_failed_now)
                unexpected_failures++;
}

/* A fixed bug's regression test: fails if any run shows its signature again. */
static void known_bug(Verdict v) {
        if (known_bugs[v].hits == 0)
                return;
        unexpected_failures++;
        printf("# %u runs showed it, first %s\n", known_bugs[v].hits, known_bugs[v].first);
        TEST_FAIL("%s", known_bugs[v].what);
}

TEST(fail_nth_maps) { sweep("maps"); }
TEST(fail_nth_batch) { sweep("batch"); }
TEST(fail_nth_copy) { sweep("copy"); }
TEST(fail_nth_attach) { sweep("attach"); }
TEST(fail_nth_hwpts) { sweep("hwpts"); }
TEST(fail_nth_dirty) { sweep("dirty"); }
TEST(fail_nth_pasid) { sweep("pasid"); }
TEST(fail_nth_fault) { sweep("fault"); }
TEST(fail_nth_device_close_fd_held) { sweep("device-close-fd-held"); }
TEST(fail_nth_objects_held_at_hangup) { sweep("objects-held-at-hangup"); }
TEST(fail_nth_device_fd_held_past_hangup) { sweep("device-fd-held-past-hangup"); }

TEST(a_failed_probe_at_device_release_still_quarantines) {
        known_bug(VERDICT_QUARANTINE_LOST);
}
TEST(device_close_undoes_every_attachment_or_fails) {
        known_bug(VERDICT_DEVICE_CLOSE_LEAVES_ATTACHED);
}
TEST(one_failed_pasid_detach_still_empties_the_context) {
        known_bug(VERDICT_TEARDOWN_INCOMPLETE);
}

TEST(the_daemons_stop_cleanly) {
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
                if (observer_stop(&variants[i].observer) != 0) {
                        unexpected_failures++;
                        TEST_FAIL("the %s daemon did not stop cleanly", variants[i].name);
                }
}

static int setup(void) {
        int32_t zero = 0;
        int r;

        verbose = getenv("IB_FAIL_NTH_VERBOSE") && atoi(getenv("IB_FAIL_NTH_VERBOSE")) > 0;
        (void) signal(SIGALRM, on_alarm);
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
                Variant *var = &variants[i];

                (void) snprintf(var->counter_path, sizeof(var->counter_path), "/tmp/ib-fail-nth.XXXXXX");
                var->counter_fd = mkstemp(var->counter_path);
                if (var->counter_fd < 0)
                        return -errno;
                if (write(var->counter_fd, &zero, sizeof(zero)) != (ssize_t) sizeof(zero))
                        return -EIO;
                /* each daemon reads its own counter's path at start */
                if (setenv("IB_SIM_FAIL_NTH_FILE", var->counter_path, 1) < 0)
                        return -errno;
                r = observer_start(&var->observer, var->daemon_args);
                if (r < 0) {
                        printf("# cannot start the %s daemon: %s\n", var->name, strerror(-r));
                        observer_print_log_tail(&var->observer, 20);
                        return r;
                }
        }
        (void) unsetenv("IB_SIM_FAIL_NTH_FILE");
        setup_done = true;
        return 0;
}

static void teardown(void) {
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
                Variant *var = &variants[i];

                if (var->observer.broker.pid > 0)
                        (void) observer_stop(&var->observer);
                if (var->counter_fd >= 0)
                        close(var->counter_fd);
                (void) unlink(var->counter_path);
        }
}

/* TESTS_MAIN, spelled out: the registry is defined here. */
TestCase tests_registry[TESTS_MAX];
size_t tests_count;
bool tests_failed_now;
const char *tests_skip_reason;
int tests_argc;
char **tests_argv;

int main(int argc, char **argv) {
        int r = tests_main(argc, argv, setup, teardown);

        return r != 0 && (!setup_done || unexpected_failures > 0) ? r : 0;
}

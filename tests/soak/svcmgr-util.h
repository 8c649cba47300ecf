/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * svcmgr-util.h - a broker under tests/lib/ib-svcmgr, for the restart soak and bench.
 *
 * Owns: starting ib-svcmgr (the stand-in for systemd's service manager) with
 * $IB_DAEMON --backend=sim (or =kernel: the restart soak in the guest) under it, a policy file with an audit file, the
 * daemon's stderr in a log; killing the broker through the harness's control
 * FIFO and waiting for its restart (the status file's "ready ... start=N
 * ms=T" line); reading the broker's "restart N: ..." audit record; stopping
 * the harness and checking the log for sanitizer reports.
 * Must never: touch the broker but through the harness, its socket and the
 * files it was given.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Svcmgr {
        pid_t pid;                      /* the harness */
        char dir[64];
        char socket[128];
        char control[128];
        char status[128];
        char policy[128];
        char audit[128];
        char log[128];
        unsigned starts;                /* the last "ready" line's start=N */
        uint64_t ready_ms;              /* its ms=T: from the fork to READY=1 */
        long status_off;                /* the status file read up to here */
        bool kill_between_calls;        /* svcmgr_kill(): the broker dies between backend calls (IB_CRASH_DEFER) */
} Svcmgr;

/* The broker's audit record of one restart ("restart N: S sessions restored (E ended), ..."). */
typedef struct RestartAudit {
        uint64_t restart;
        uint64_t sessions;
        uint64_t ended;
        uint64_t objects;
        uint64_t mappings;
        uint64_t bytes;
        uint64_t settled;
        uint64_t usec;
} RestartAudit;

/*
 * Starts $IB_SVCMGR (else $IB_BUILDDIR/tests/lib/ib-svcmgr) with
 * "$IB_DAEMON --backend=sim --admin-bus=none --policy=P" plus the
 * space-separated words of extra_args; policy_extra is appended to the
 * policy's "[Tenant local]" section (e.g. "SessionsMax=2000\n", may be NULL).
 * Waits up to 20 s for the first READY=1.  0 or -errno (a sentence on stdout).
 */
int svcmgr_start(Svcmgr *m, const char *extra_args, const char *policy_extra);
/* The same with --backend=BACKEND ("sim", "kernel") in place of --backend=sim. */
int svcmgr_start_backend(Svcmgr *m, const char *backend, const char *extra_args, const char *policy_extra);
/*
 * kill -9 of the broker (the control FIFO's "kill"; with kill_between_calls
 * "kill-between-calls": a broker started with IB_CRASH_DEFER=1 dies at the
 * end of the backend call it is in, if any); the harness restarts it.
 */
int svcmgr_kill(Svcmgr *m);
/*
 * Waits up to timeout_ms for the "ready" line of start n (m->starts,
 * m->ready_ms follow); false on timeout, or if the harness gave up.
 */
bool svcmgr_wait_ready(Svcmgr *m, unsigned n, int timeout_ms);
/* The audit record of restart n (the n-th restart: start n + 1); -ENOENT if not (yet) there. */
int svcmgr_restart_audit(Svcmgr *m, uint64_t n, RestartAudit *ret);
/*
 * "stop" on the control FIFO and waits for the harness (which SIGTERMs the
 * broker): 0 if it ended cleanly and the log has no sanitizer report, else
 * -1 with why printed.  Removes the directory unless something was wrong or
 * $IB_SOAK_KEEP_LOG is set.
 */
int svcmgr_stop(Svcmgr *m);
/* Prints the last lines of the daemon's log as TAP comments. */
void svcmgr_print_log_tail(Svcmgr *m, size_t lines);

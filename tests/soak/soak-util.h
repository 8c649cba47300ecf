/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * soak-util.h - watching a sim broker from outside while clients come and go.
 *
 * Owns: starting the broker with its stderr in a log file (and reading that
 * log for sanitizer reports), the observer session that asks the broker's
 * counters and device slots, the daemon's fd count, and the baseline check
 * both soak programs end every round with: counters back at zero, every
 * device free, the fd count back where it was, the daemon alive.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "client/iommu-broker.h"
#include "tests/lib/util-broker.h"

typedef struct Observer {
        TestBroker broker;
        char log_path[160];
        ib_client *c;                   /* connected before anything is armed; no objects */
        int baseline_fds;               /* the daemon's open fds with only the observer connected */
        long log_scanned;               /* observer_log_scan() read the log up to here */
} Observer;

/*
 * Starts the broker (extra_args as test_broker_start) with its stderr in
 * DIR/daemon.log, connects the observer session and takes the fd baseline.
 */
int observer_start(Observer *o, const char *extra_args);
/*
 * Hangs up, SIGTERMs the broker: 0 if it exited 0 and its log has no
 * sanitizer report, else -1 (and says why).  The log is removed unless
 * something was wrong or $IB_SOAK_KEEP_LOG is set.
 */
int observer_stop(Observer *o);
/* Prints the last lines of the daemon's log as TAP comments. */
void observer_print_log_tail(Observer *o, size_t lines);

/*
 * Reads what the daemon logged since the last scan: true if a line contains
 * needle; the first such line goes to ret_line (may be NULL).
 */
bool observer_log_scan(Observer *o, const char *needle, char *ret_line, size_t size);

/* The number of open fds of the daemon; -errno. */
int observer_daemon_fds(Observer *o);
/* Waits (up to timeout_ms) until the broker counts exactly n sessions; false on timeout. */
bool observer_wait_sessions(Observer *o, uint64_t n, int timeout_ms);
/* The DeviceList entry of name through the observer; false if not listed or on error. */
bool observer_device(Observer *o, const char *name, ib_device_info *ret);

/*
 * The baseline: only the observer's session, mapped_bytes 0, objects 0, every
 * device neither in use nor quarantined, the fd count at the baseline, the
 * daemon alive.  Waits up to timeout_ms for the broker to finish earlier
 * hang-ups.  0, or -1 with the difference described in why.
 */
int observer_check_baseline(Observer *o, int timeout_ms, char *why, size_t why_size);

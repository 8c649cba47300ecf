/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util-broker.h - a real iommu-brokerd for integration tests.
 *
 * Owns: spawning $IB_DAEMON (the built daemon) on a socket in a fresh
 * temporary directory, waiting until it accepts, checking it is still alive,
 * stopping it and reporting how it exited; policy files in their own
 * temporary directory; memfd helpers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct TestBroker {
        pid_t pid;
        char dir[64];
        char socket[128];
        char log[128];                  /* test_broker_start_logged(): the daemon's stderr; "" otherwise */
        bool external;                  /* --socket given: a broker we did not start */
} TestBroker;

/*
 * Starts "$IB_DAEMON --backend=sim --socket DIR/vmm.sock" plus the
 * space-separated words of extra_args (may be NULL); waits up to 10 s for it
 * to accept connections.
 */
int test_broker_start(TestBroker *b, const char *extra_args);
/* The same, with the daemon's stderr in b->log (removed at stop). */
int test_broker_start_logged(TestBroker *b, const char *extra_args);
/* Uses a broker that is already running at path. */
void test_broker_attach(TestBroker *b, const char *path);
/* True while the daemon process runs (always true for an attached broker). */
bool test_broker_alive(TestBroker *b);
/* SIGTERM, wait; returns the exit status (0 clean), or -1 if it died by a signal. */
int test_broker_stop(TestBroker *b);

/*
 * Writes text as policy.conf in a fresh /tmp directory (mode 0755, so that a
 * broker or tenant of another uid reads it) and its path into path; aborts on
 * failure.  test_policy_remove() removes the file and the directory.
 */
void test_policy_write(char *path, size_t size, const char *text);
void test_policy_remove(const char *path);

/* How many fds process pid has open (/proc/PID/fd); -errno. */
int test_count_fds(pid_t pid);

/* A memfd of size bytes, sealing allowed; -errno on failure. */
int test_memfd(const char *name, size_t size);

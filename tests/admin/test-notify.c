/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-notify.c - what iommu-brokerd tells the service manager.
 *
 * Owns: a NOTIFY_SOCKET receiver (an AF_UNIX datagram socket in a temporary
 * directory, as systemd's) and the checks on what the real daemon sends
 * there: READY=1 once it serves, STATUS= lines that count live sessions,
 * WATCHDOG=1 at least every WATCHDOG_USEC/2 from the event loop, and
 * STOPPING=1 on SIGTERM.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"

typedef struct Notify {
        int fd;
        char dir[64];
        char path[128];
} Notify;

static int notify_open(Notify *n) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        snprintf(n->dir, sizeof(n->dir), "/tmp/ib-notify.XXXXXX");
        if (!mkdtemp(n->dir))
                return -errno;
        snprintf(n->path, sizeof(n->path), "%s/notify", n->dir);
        memcpy(sa.sun_path, n->path, strlen(n->path) + 1);
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (n->fd < 0)
                return -errno;
        if (bind(n->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

static void notify_close(Notify *n) {
        if (n->fd >= 0)
                close(n->fd);
        unlink(n->path);
        rmdir(n->dir);
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/*
 * Reads datagrams until one has a line starting with want (e.g. "READY=1",
 * "STATUS=1 sessions"), for at most timeout_ms; copies that line to line.
 * 1 if found, 0 on timeout, -errno on failure.
 */
static int notify_wait(Notify *n, const char *want, int timeout_ms, char *line, size_t size) {
        uint64_t end = now_ms() + (uint64_t) timeout_ms;

        for (;;) {
                struct pollfd p = { .fd = n->fd, .events = POLLIN };
                uint64_t now = now_ms();
                char buf[4096];
                ssize_t len;
                int r;

                if (now >= end)
                        return 0;
                r = poll(&p, 1, (int) (end - now));
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return 0;
                len = recv(n->fd, buf, sizeof(buf) - 1, 0);
                if (len < 0)
                        return -errno;
                buf[len] = '\0';
                for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
                        if (strncmp(l, want, strlen(want)) == 0) {
                                if (line)
                                        snprintf(line, size, "%s", l);
                                return 1;
                        }
        }
}

static int connect_vmm(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/* Starts the broker with NOTIFY_SOCKET (and WATCHDOG_USEC if watchdog_usec) pointing at n. */
static int start_notified(TestBroker *b, Notify *n, const char *watchdog_usec) {
        int r;

        setenv("NOTIFY_SOCKET", n->path, 1);
        if (watchdog_usec)
                setenv("WATCHDOG_USEC", watchdog_usec, 1);
        r = test_broker_start(b, "--admin-bus=none");
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        return r;
}

TEST(ready_and_status_are_sent_at_start) {
        Notify n = { .fd = -1 };
        TestBroker b;
        char line[256];

        ASSERT_OK(notify_open(&n));
        ASSERT_OK(start_notified(&b, &n, NULL));
        ASSERT_EQ(notify_wait(&n, "READY=1", 5000, NULL, 0), 1);
        ASSERT_EQ(notify_wait(&n, "STATUS=", 5000, line, sizeof(line)), 1);
        printf("# %s\n", line);
        ASSERT_TRUE(strstr(line, "0 sessions") != NULL);
        ASSERT_TRUE(strstr(line, "0 of 2 devices open") != NULL);  /* the sim's two default devices */
        ASSERT_EQ(test_broker_stop(&b), 0);
        notify_close(&n);
}

TEST(status_counts_sessions_as_they_come_and_go) {
        Notify n = { .fd = -1 };
        TestBroker b;
        char line[256];
        int fd;

        ASSERT_OK(notify_open(&n));
        ASSERT_OK(start_notified(&b, &n, NULL));
        ASSERT_EQ(notify_wait(&n, "READY=1", 5000, NULL, 0), 1);

        fd = connect_vmm(b.socket);
        ASSERT_OK(fd);
        ASSERT_EQ(notify_wait(&n, "STATUS=1 sessions", 5000, line, sizeof(line)), 1);
        printf("# %s\n", line);
        close(fd);
        ASSERT_EQ(notify_wait(&n, "STATUS=0 sessions", 5000, line, sizeof(line)), 1);
        printf("# %s\n", line);
        ASSERT_EQ(test_broker_stop(&b), 0);
        notify_close(&n);
}

TEST(watchdog_is_fed_from_the_loop_at_half_the_interval) {
        Notify n = { .fd = -1 };
        TestBroker b;
        uint64_t t0;

        ASSERT_OK(notify_open(&n));
        /* 400 ms: the daemon must send WATCHDOG=1 every 200 ms. */
        ASSERT_OK(start_notified(&b, &n, "400000"));
        ASSERT_EQ(notify_wait(&n, "READY=1", 5000, NULL, 0), 1);
        t0 = now_ms();
        for (int i = 0; i < 3; i++)
                ASSERT_EQ(notify_wait(&n, "WATCHDOG=1", 1000, NULL, 0), 1);
        printf("# 3 WATCHDOG=1 in %llu ms\n", (unsigned long long) (now_ms() - t0));
        ASSERT_TRUE(now_ms() - t0 < 1500);
        ASSERT_EQ(test_broker_stop(&b), 0);
        notify_close(&n);
}

TEST(no_watchdog_without_watchdog_usec) {
        Notify n = { .fd = -1 };
        TestBroker b;

        ASSERT_OK(notify_open(&n));
        ASSERT_OK(start_notified(&b, &n, NULL));
        ASSERT_EQ(notify_wait(&n, "READY=1", 5000, NULL, 0), 1);
        ASSERT_EQ(notify_wait(&n, "WATCHDOG=1", 600, NULL, 0), 0);
        ASSERT_EQ(test_broker_stop(&b), 0);
        notify_close(&n);
}

TEST(stopping_is_sent_on_sigterm) {
        Notify n = { .fd = -1 };
        TestBroker b;

        ASSERT_OK(notify_open(&n));
        ASSERT_OK(start_notified(&b, &n, NULL));
        ASSERT_EQ(notify_wait(&n, "READY=1", 5000, NULL, 0), 1);
        ASSERT_EQ(test_broker_stop(&b), 0);
        ASSERT_EQ(notify_wait(&n, "STOPPING=1", 2000, NULL, 0), 1);
        notify_close(&n);
}

TESTS_MAIN(NULL, NULL)

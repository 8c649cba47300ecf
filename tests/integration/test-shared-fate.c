/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-shared-fate.c - one client cannot take the broker away from the others.
 *
 * A real iommu-brokerd (sim backend) per test, with the limits under test
 * set low: a connection that never says Hello is closed with an error reply;
 * one uid's connections and pending connections are bounded (EUSERS); a
 * tenant's sessions and the fds the broker holds for it are charged to its
 * account (EDQUOT naming SessionsMax, FileDescriptorsMax); at the process's
 * fd limit the broker still gives every request exactly one reply and every
 * waiting connection a reason, and does not spin; and it keeps serving.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77                 /* Linux 6.5; glibc headers before 2.39 lack it */
#endif

#include "client/iommu-broker.h"
#include "proto/broker.pb-c.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"

static int raw_connect(const TestBroker *b) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, b->socket, strlen(b->socket) + 1);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/* The next datagram as a Reply, or NULL after timeout_ms (or at end of file). */
static Ib__V1__Reply *recv_reply(int sock, int timeout_ms) {
        static uint8_t buf[70000];
        struct pollfd p = { .fd = sock, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return NULL;
        n = recv(sock, buf, sizeof(buf), 0);
        if (n <= 0)
                return NULL;
        return ib__v1__reply__unpack(NULL, (size_t) n, buf);
}

/* Writes a policy admitting this uid as tenant "t" with extra lines; its path into path. */
static void write_policy(char *path, size_t size, const char *extra) {
        char text[512];

        snprintf(text, sizeof(text), "[Tenant t]\nUser=%u\nDevice=*\n%s", (unsigned) getuid(), extra);
        test_policy_write(path, size, text);
}

/* CPU time (user + system) of pid in clock ticks. */
static long daemon_cpu_ticks(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long utime, stime;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof(buf), f)) {
                if (f)
                        fclose(f);
                return -1;
        }
        fclose(f);
        p = strrchr(buf, ')');
        /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
                return -1;
        return (long) (utime + stime);
}

static bool served(const TestBroker *b) {
        ib_client *c = NULL;
        ib_caps caps;
        bool ok;

        if (ib_client_connect(b->socket, "bystander", &c) < 0)
                return false;
        ok = ib_caps_get(c, &caps) == 0;
        ib_client_free(c);
        return ok;
}

TEST(a_connection_without_hello_is_closed_with_a_reason) {
        TestBroker b;
        Ib__V1__Reply *r;
        int s;

        ASSERT_OK(test_broker_start(&b, "--hello-timeout=1"));
        s = raw_connect(&b);
        ASSERT_TRUE(s >= 0);
        r = recv_reply(s, 3000);
        ASSERT_TRUE(r != NULL);
        printf("# after 1 s without Hello: %s: %s\n", r->errno_name ?: "?", r->error ?: "");
        ASSERT_TRUE(r->errno_name && strcmp(r->errno_name, "ETIMEDOUT") == 0);
        ASSERT_TRUE(r->error && strstr(r->error, "no Hello within 1 s") != NULL);
        ib__v1__reply__free_unpacked(r, NULL);
        ASSERT_TRUE(recv_reply(s, 3000) == NULL);       /* and the connection is closed */
        close(s);
        ASSERT_TRUE(served(&b));
        ASSERT_EQ(test_broker_stop(&b), 0);
}

TEST(one_uid_has_a_bounded_number_of_pending_and_open_connections) {
        TestBroker b;
        ib_client *c[3] = {};
        ib_client *extra = NULL;
        char why[256] = "";
        int pending[4];

        ASSERT_OK(test_broker_start(&b, "--max-pending-per-uid=4 --max-connections-per-uid=6"));
        for (int i = 0; i < 4; i++) {
                pending[i] = raw_connect(&b);
                ASSERT_TRUE(pending[i] >= 0);
        }
        ASSERT_ERRNO(EUSERS, ib_client_connect_verbose(b.socket, "fifth", &extra, why, sizeof(why)));
        printf("# the fifth pending connection: %s\n", why);
        ASSERT_TRUE(strstr(why, "--max-pending-per-uid") != NULL);
        for (int i = 0; i < 4; i++)
                close(pending[i]);
        usleep(200000);
        /* with Hello, up to 6 in all */
        for (int i = 0; i < 3; i++)
                ASSERT_OK(ib_client_connect(b.socket, "vmm", &c[i]));
        for (int i = 0; i < 3; i++)
                pending[i] = raw_connect(&b);
        ASSERT_ERRNO(EUSERS, ib_client_connect_verbose(b.socket, "seventh", &extra, why, sizeof(why)));
        printf("# the seventh connection: %s\n", why);
        ASSERT_TRUE(strstr(why, "--max-connections-per-uid") != NULL);
        for (int i = 0; i < 3; i++) {
                close(pending[i]);
                ib_client_free(c[i]);
        }
        usleep(200000);
        ASSERT_TRUE(served(&b));
        ASSERT_EQ(test_broker_stop(&b), 0);
}

/*
 * Refused connections wait to hear why (their Hello is answered with the
 * reason), but only so many broker-wide (SESSION_MAX_REFUSED_HELD, 64):
 * past that one is told at once and closed.  No tenant is charged for a
 * refused peer's fds, so a uid past its limits must not hold the broker's.
 */
TEST(refused_connections_cannot_hold_the_brokers_fds) {
        enum { N = 300 };
        ib_client *extra = NULL;
        char why[256] = "";
        int fds_before, fds_during, s[N];
        TestBroker b;

        ASSERT_OK(test_broker_start(&b, "--max-pending-per-uid=1"));
        s[0] = raw_connect(&b);
        ASSERT_TRUE(s[0] >= 0);
        usleep(100000);
        fds_before = test_count_fds(b.pid);
        for (int i = 1; i < N; i++) {
                s[i] = raw_connect(&b);
                ASSERT_TRUE(s[i] >= 0);
        }
        usleep(300000);
        fds_during = test_count_fds(b.pid);
        printf("# broker fds: %d with one pending connection, %d with %d more refused\n", fds_before, fds_during,
               N - 1);
        ASSERT_TRUE(fds_during <= fds_before + 2 * 64 + 8);    /* socket and pidfd of those held, and slack */
        /* one past the held ones still hears why, from a library that had no time to say Hello */
        ASSERT_ERRNO(EUSERS, ib_client_connect_verbose(b.socket, "late", &extra, why, sizeof(why)));
        printf("# a connection refused then: %s\n", why);
        ASSERT_TRUE(strstr(why, "--max-pending-per-uid") != NULL);
        for (int i = 0; i < N; i++)
                close(s[i]);
        usleep(200000);
        ASSERT_TRUE(served(&b));
        ASSERT_EQ(test_broker_stop(&b), 0);
}

TEST(a_tenant_is_charged_for_its_sessions_and_the_fds_the_broker_holds) {
        char policy[256], args[300], why[256] = "";
        ib_client *c1 = NULL, *c2 = NULL, *c3 = NULL;
        uint32_t id;
        int fd, n = 0, r;
        TestBroker b;

        /*
         * 2 sessions x (socket + pidfd) = 4 fds; c1's iommufd at its first
         * fault queue 1; 5 more for fault queues, each 1 (+1 while its reply is queued)
         */
        write_policy(policy, sizeof(policy), "SessionsMax=2\nFileDescriptorsMax=10\n");
        snprintf(args, sizeof(args), "--policy=%s", policy);
        ASSERT_OK(test_broker_start(&b, args));
        ASSERT_OK(ib_client_connect(b.socket, "vmm", &c1));
        ASSERT_OK(ib_client_connect(b.socket, "vmm", &c2));
        ASSERT_ERRNO(EDQUOT, ib_client_connect_verbose(b.socket, "vmm", &c3, why, sizeof(why)));
        printf("# the third session: %s\n", why);
        ASSERT_TRUE(strstr(why, "SessionsMax") != NULL);
        for (;;) {
                r = ib_fault_queue_alloc(c1, &id, &fd);
                if (r < 0)
                        break;
                close(fd);
                n++;
                ASSERT_TRUE(n < 100);
        }
        printf("# after %d fault queues: %s\n", n, ib_client_error(c1));
        ASSERT_EQ(r, -EDQUOT);
        ASSERT_TRUE(strstr(ib_client_error(c1), "FileDescriptorsMax") != NULL);
        ASSERT_TRUE(n >= 2 && n <= 4);
        /* the other session of the tenant is at the same limit; the session goes on */
        ASSERT_ERRNO(EDQUOT, ib_fault_queue_alloc(c2, &id, &fd));
        ib_client_free(c1);
        usleep(200000);
        ASSERT_OK(ib_fault_queue_alloc(c2, &id, &fd));
        close(fd);
        ib_client_free(c2);
        ASSERT_EQ(test_broker_stop(&b), 0);
        test_policy_remove(policy);
}

/* Whether a connected socket tells its peer's pidfd (SO_PEERPIDFD, Linux 6.5). */
static bool kernel_gives_pidfds(void) {
        int sv[2], pidfd = -1;
        socklen_t len = sizeof(pidfd);
        bool yes;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return false;
        yes = getsockopt(sv[0], SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0;
        if (pidfd >= 0)
                close(pidfd);
        close(sv[0]);
        close(sv[1]);
        return yes;
}

/*
 * A session's own fds are charged at the door (its socket, the peer's
 * pidfd), its iommufd at its first kernel object: an idle session costs the
 * tenant two fds, and a FileDescriptorsMax= that admits a session but not
 * its iommufd refuses the IoasAlloc (EDQUOT, naming the limit), not the
 * session, which goes on serving.
 */
TEST(a_session_is_charged_its_socket_and_pidfd_and_its_iommufd_at_first_use) {
        int own = kernel_gives_pidfds() ? 2 : 1, r;
        char policy[256], extra[64], args[300], why[256] = "";
        ib_client *c1 = NULL, *c2 = NULL, *c3 = NULL;
        uint32_t ioas1, ioas2;
        ib_caps caps;
        TestBroker b;

        /* room for two idle sessions and one iommufd */
        snprintf(extra, sizeof(extra), "FileDescriptorsMax=%d\n", 2 * own + 1);
        write_policy(policy, sizeof(policy), extra);
        snprintf(args, sizeof(args), "--policy=%s", policy);
        ASSERT_OK(test_broker_start(&b, args));
        /* the session test_broker_start() made to see the broker serve ends on its own time */
        for (int i = 0; (r = ib_client_connect_verbose(b.socket, "vmm", &c1, why, sizeof(why))) == -EDQUOT && i < 50; i++)
                usleep(20000);
        ASSERT_OK(r);
        ASSERT_OK(ib_ioas_alloc(c1, NULL, &ioas1));
        ASSERT_OK(ib_client_connect_verbose(b.socket, "vmm", &c2, why, sizeof(why)));
        r = ib_ioas_alloc(c2, NULL, &ioas2);
        printf("# the second session's IoasAlloc: %s\n", r < 0 ? ib_client_error(c2) : "served");
        ASSERT_EQ(r, -EDQUOT);
        ASSERT_TRUE(strstr(ib_client_error(c2), "FileDescriptorsMax") != NULL);
        ASSERT_OK(ib_caps_get(c2, &caps));
        /* a third session does not fit at the door */
        r = ib_client_connect_verbose(b.socket, "vmm", &c3, why, sizeof(why));
        printf("# a third session: %s\n", r < 0 ? why : "served");
        ASSERT_EQ(r, -EDQUOT);
        ASSERT_TRUE(strstr(why, "FileDescriptorsMax") != NULL);
        /* the first session's end gives its fds back: the second gets its iommufd */
        ib_client_free(c1);
        for (int i = 0; (r = ib_ioas_alloc(c2, NULL, &ioas2)) == -EDQUOT && i < 50; i++)
                usleep(20000);
        ASSERT_OK(r);
        ib_client_free(c2);
        ASSERT_EQ(test_broker_stop(&b), 0);
        test_policy_remove(policy);
}

/*
 * The seal guard of a file the session maps writable holds an fd of the
 * file (it is what a restart makes the guard again from): one per file,
 * shared by every writable mapping of it, charged to FileDescriptorsMax=.
 * A writable Map of a second file past the limit fails with EDQUOT naming
 * it and maps nothing; a read-only one needs no guard; once the first
 * file's mappings are gone its fd is given back.
 */
TEST(a_writable_mapping_charges_one_fd_per_file_for_its_seal_guard) {
        int own = kernel_gives_pidfds() ? 2 : 1, r;
        int f1 = test_memfd("first", 64 * 1024), f2 = test_memfd("second", 64 * 1024);
        unsigned rw = IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA;
        char policy[256], extra[64], args[300], why[256] = "";
        uint64_t iova;
        ib_client *c = NULL;
        uint32_t ioas;
        ib_caps caps;
        TestBroker b;

        ASSERT_TRUE(f1 >= 0 && f2 >= 0);
        /* the session's own fds, its iommufd, one guard */
        snprintf(extra, sizeof(extra), "FileDescriptorsMax=%d\n", own + 2);
        write_policy(policy, sizeof(policy), extra);
        snprintf(args, sizeof(args), "--policy=%s", policy);
        ASSERT_OK(test_broker_start(&b, args));
        for (int i = 0; (r = ib_client_connect_verbose(b.socket, "vmm", &c, why, sizeof(why))) == -EDQUOT && i < 50; i++)
                usleep(20000);
        ASSERT_OK(r);
        ASSERT_OK(ib_caps_get(c, &caps));
        if (!(caps.kernel_features & IB_KERNEL_FEATURE_MAP_FILE)) {
                ib_client_free(c);
                (void) test_broker_stop(&b);
                return tests_skip("no IOMMU_IOAS_MAP_FILE: no seal guards");
        }
        ASSERT_OK(ib_ioas_alloc(c, NULL, &ioas));
        iova = 0x100000;
        ASSERT_OK(ib_map(c, ioas, f1, 0, 16 * 1024, rw, &iova));
        iova = 0x200000;
        ASSERT_OK(ib_map(c, ioas, f1, 16 * 1024, 16 * 1024, rw, &iova));
        iova = 0x300000;
        r = ib_map(c, ioas, f2, 0, 16 * 1024, rw, &iova);
        printf("# a writable Map of a second file: %s\n", r < 0 ? ib_client_error(c) : "served");
        ASSERT_EQ(r, -EDQUOT);
        ASSERT_TRUE(strstr(ib_client_error(c), "FileDescriptorsMax") != NULL);
        ASSERT_ERRNO(ENOENT, ib_unmap(c, ioas, 0x300000, 16 * 1024, NULL));
        iova = 0x300000;
        ASSERT_OK(ib_map(c, ioas, f2, 0, 16 * 1024, IB_MAP_READABLE | IB_MAP_FIXED_IOVA, &iova));
        ASSERT_OK(ib_unmap(c, ioas, 0x100000, 16 * 1024, NULL));
        ASSERT_OK(ib_unmap(c, ioas, 0x200000, 16 * 1024, NULL));
        iova = 0x400000;
        ASSERT_OK(ib_map(c, ioas, f2, 16 * 1024, 16 * 1024, rw, &iova));
        ib_client_free(c);
        close(f1);
        close(f2);
        ASSERT_EQ(test_broker_stop(&b), 0);
        test_policy_remove(policy);
}

/* The daemon's log holds needle (test_broker_start_logged()). */
static bool log_has(const TestBroker *b, const char *needle) {
        char line[1024];
        bool found = false;
        FILE *f = fopen(b->log, "re");

        while (f && !found && fgets(line, sizeof(line), f))
                found = strstr(line, needle) != NULL;
        if (f)
                fclose(f);
        return found;
}

/*
 * Without IOMMU_IOAS_MAP_FILE every mapping is an mmap of the broker's, and
 * past vm.max_map_count every mmap of the process fails, the broker's own
 * too: the broker caps live mappings of all sessions together below it, so
 * that one client's mappings cannot take the broker's address space from
 * the others.  A session over the cap gets EDQUOT naming it; another
 * session is still served, and maps again once mappings are freed.
 */
TEST(without_map_file_the_mappings_of_all_sessions_are_capped_below_the_brokers_own) {
        unsigned ro = IB_MAP_READABLE | IB_MAP_FIXED_IOVA;
        int fd = test_memfd("guest", 64 * 1024);
        uint32_t ioas1, ioas2;
        ib_client *c1 = NULL, *c2 = NULL;
        uint64_t iova;
        ib_caps caps;
        TestBroker b;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(test_broker_start_logged(&b, "--no-map-file --mmap-mappings-max=8 --log-level=info"));
        ASSERT_OK(ib_client_connect(b.socket, "vmm1", &c1));
        ASSERT_OK(ib_client_connect(b.socket, "vmm2", &c2));
        ASSERT_OK(ib_ioas_alloc(c1, NULL, &ioas1));
        ASSERT_OK(ib_ioas_alloc(c2, NULL, &ioas2));
        for (unsigned i = 0; i < 6; i++) {
                iova = 0x100000 + i * 0x10000ULL;
                ASSERT_OK(ib_map(c1, ioas1, fd, 0, 4096, ro, &iova));
        }
        for (unsigned i = 0; i < 2; i++) {
                iova = 0x100000 + i * 0x10000ULL;
                ASSERT_OK(ib_map(c2, ioas2, fd, 0, 4096, ro, &iova));
        }
        iova = 0x900000;
        ASSERT_ERRNO(EDQUOT, ib_map(c1, ioas1, fd, 0, 4096, ro, &iova));
        printf("# the ninth mapping: %s\n", ib_client_error(c1));
        ASSERT_TRUE(strstr(ib_client_error(c1), "broker-wide limit of mappings reached: 8 of 8") != NULL);
        ASSERT_ERRNO(EDQUOT, ib_map(c2, ioas2, fd, 0, 4096, ro, &iova));
        /* nothing half made: the refused IOVA is free, the broker serves both */
        ASSERT_ERRNO(ENOENT, ib_unmap(c1, ioas1, 0x900000, 4096, NULL));
        ASSERT_OK(ib_caps_get(c2, &caps));
        ASSERT_OK(ib_unmap(c1, ioas1, 0x100000, 4096, NULL));
        ASSERT_OK(ib_map(c2, ioas2, fd, 0, 4096, ro, &iova));
        ib_client_free(c1);
        ib_client_free(c2);
        close(fd);
        ASSERT_TRUE(log_has(&b, "at most 8 live mappings of all sessions together"));
        ASSERT_TRUE(log_has(&b, "audit: limit 'broker-wide mappings' denied"));
        ASSERT_EQ(test_broker_stop(&b), 0);
}

/*
 * What the cap counts is the broker's mmaps, not the mappings: a Copy needs
 * the mmaps behind its source, which live on after the source mappings are
 * unmapped (and one Copy may span many of them).
 */
TEST(without_map_file_the_mmaps_a_copy_still_needs_stay_counted) {
        unsigned ro = IB_MAP_READABLE | IB_MAP_FIXED_IOVA;
        int fd = test_memfd("guest", 64 * 1024);
        uint32_t src, dst;
        ib_client *c = NULL;
        uint64_t iova;
        TestBroker b;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(test_broker_start(&b, "--no-map-file --mmap-mappings-max=8"));
        ASSERT_OK(ib_client_connect(b.socket, "vmm", &c));
        ASSERT_OK(ib_ioas_alloc(c, NULL, &src));
        ASSERT_OK(ib_ioas_alloc(c, NULL, &dst));
        /* six adjacent pages, six mmaps, copied into dst by one Copy; the sources unmapped */
        for (unsigned i = 0; i < 6; i++) {
                iova = 0x100000 + i * 4096ULL;
                ASSERT_OK(ib_map(c, src, fd, i * 4096ULL, 4096, ro, &iova));
        }
        iova = 0x400000;
        ASSERT_OK(ib_copy(c, dst, src, 0x100000, 6 * 4096, ro, &iova));
        ASSERT_OK(ib_unmap(c, src, 0x100000, 6 * 4096, NULL));
        /* the copy keeps all six: two more fit, not a third */
        for (unsigned i = 0; i < 2; i++) {
                iova = 0x800000 + i * 4096ULL;
                ASSERT_OK(ib_map(c, src, fd, 0, 4096, ro, &iova));
        }
        iova = 0x900000;
        ASSERT_ERRNO(EDQUOT, ib_map(c, src, fd, 0, 4096, ro, &iova));
        ASSERT_TRUE(strstr(ib_client_error(c), "broker-wide limit of mappings reached: 8 of 8") != NULL);
        /* the copy gone, its six go too */
        ASSERT_OK(ib_unmap(c, dst, 0x400000, 6 * 4096, NULL));
        for (unsigned i = 0; i < 6; i++) {
                iova = 0x900000 + i * 4096ULL;
                ASSERT_OK(ib_map(c, src, fd, 0, 4096, ro, &iova));
        }
        ib_client_free(c);
        close(fd);
        ASSERT_EQ(test_broker_stop(&b), 0);
}

/* Untold, the cap keeps 4096 of the kernel's vm.max_map_count for the broker's own mappings. */
TEST(the_default_cap_keeps_4096_of_vm_max_map_count_for_the_broker) {
        unsigned long long count = 0;
        char want[128];
        TestBroker b;
        FILE *f = fopen("/proc/sys/vm/max_map_count", "re");

        if (!f || fscanf(f, "%llu", &count) != 1) {
                if (f)
                        fclose(f);
                return tests_skip("no /proc/sys/vm/max_map_count");
        }
        fclose(f);
        snprintf(want, sizeof(want), "at most %llu live mappings of all sessions together",
                 count > 8192 ? count - 4096 : count / 2);
        ASSERT_OK(test_broker_start_logged(&b, "--no-map-file --log-level=info"));
        ASSERT_TRUE(log_has(&b, want));
        ASSERT_EQ(test_broker_stop(&b), 0);
        /* with IOMMU_IOAS_MAP_FILE the broker maps no memory of its own: no cap */
        ASSERT_OK(test_broker_start_logged(&b, "--log-level=info"));
        ASSERT_TRUE(!log_has(&b, "live mappings of all sessions together"));
        ASSERT_EQ(test_broker_stop(&b), 0);
}

/*
 * The broker at its process's fd limit: connections beyond it get an EMFILE
 * reply at once (not a hang), the loop does not spin while they wait, every
 * request of a session gets exactly one reply (fault queues until the fds
 * run out, then EMFILE or EDQUOT; DeviceOpen then fails cleanly and leaves
 * the device free), and once fds are back everything works again.
 */
TEST(at_the_fd_limit_every_request_and_connection_gets_one_answer) {
        struct rlimit old, low;
        ib_client *c = NULL, *more[64] = {};
        ib_device_info list[8];
        size_t n_list = 8;
        uint32_t id, dev;
        int fd, fds[300], n_fds = 0, n_ok = 0, n_refused = 0, r;
        long t0, t1;
        TestBroker b;

        /* the daemon gets a low soft limit; ours is raised back at once */
        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &old));
        low = old;
        low.rlim_cur = 48;
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &low));
        r = test_broker_start(&b, "--max-pending-per-uid=1000");
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &old));
        ASSERT_OK(r);

        ASSERT_OK(ib_client_connect(b.socket, "vmm", &c));
        /* fault queues until the broker has no fd left: each request one reply */
        for (int i = 0; i < 200; i++) {
                r = ib_fault_queue_alloc(c, &id, &fd);
                if (r < 0)
                        break;
                fds[n_fds++] = fd;
        }
        printf("# %d fault queues, then: %s\n", n_fds, ib_client_error(c));
        ASSERT_TRUE(r == -EMFILE || r == -EDQUOT);
        ASSERT_ERRNO(-r, ib_fault_queue_alloc(c, &id, &fd));   /* the session goes on answering */
        r = ib_device_open(c, "0000:00:02.0", &dev, &fd);
        printf("# DeviceOpen at the limit: %d: %s\n", r, ib_client_error(c));
        ASSERT_TRUE(r == -EMFILE || r == -EDQUOT);
        ASSERT_OK(ib_device_list(c, list, &n_list));
        ASSERT_TRUE(n_list >= 1 && !list[0].in_use && !list[0].open_here);

        /* new connections: refused with a reason, never left hanging */
        for (int i = 0; i < 64; i++) {
                char why[256] = "";

                r = ib_client_connect_verbose(b.socket, "late", &more[i], why, sizeof(why));
                if (r == 0)
                        n_ok++;
                else {
                        n_refused++;
                        if (n_refused == 1)
                                printf("# a connection at the limit: %s\n", why);
                        ASSERT_TRUE(r == -EMFILE || r == -EDQUOT);
                }
        }
        printf("# 64 more connections: %d served, %d refused with a reason\n", n_ok, n_refused);
        ASSERT_TRUE(n_refused > 0);

        /* the loop does not spin while connections wait in the backlog */
        {
                int waiting[16];

                for (int i = 0; i < 16; i++)
                        waiting[i] = raw_connect(&b);
                t0 = daemon_cpu_ticks(b.pid);
                usleep(1000000);
                t1 = daemon_cpu_ticks(b.pid);
                printf("# CPU while 16 connections wait: %ld of %ld ticks\n", t1 - t0, sysconf(_SC_CLK_TCK));
                ASSERT_TRUE(t1 - t0 < sysconf(_SC_CLK_TCK) / 4);
                for (int i = 0; i < 16; i++)
                        if (waiting[i] >= 0)
                                close(waiting[i]);
        }

        for (int i = 0; i < 64; i++)
                ib_client_free(more[i]);
        for (int i = 0; i < n_fds; i++)
                close(fds[i]);
        ib_client_free(c);
        usleep(300000);
        ASSERT_TRUE(served(&b));
        {
                ib_client *d = NULL;

                ASSERT_OK(ib_client_connect(b.socket, "vmm", &d));
                ASSERT_OK(ib_device_open(d, "0000:00:02.0", &dev, &fd));
                close(fd);
                ib_client_free(d);
        }
        printf("# daemon fds at the end: %d\n", test_count_fds(b.pid));
        ASSERT_EQ(test_broker_stop(&b), 0);
}

/* Rewrites the policy at path and has the broker reload it; waits for the reload to be logged. */
static void reload(TestBroker *b, const char *path, const char *body) {
        FILE *f = fopen(path, "we");

        if (!f)
                abort();
        fprintf(f, "%s", body);
        fclose(f);
        kill(b->pid, SIGHUP);
        usleep(300000);
}

/*
 * A reload rules every decision that comes after it, for sessions that were
 * open across it too: the device grant, nesting, PASIDs and the window of
 * new IOASes go; what the session already holds stays (RevokeOnReload=no).
 * A tenant the new policy drops may start nothing new.
 */
TEST(a_reload_rules_the_decisions_of_sessions_open_across_it) {
        char policy[256], args[300], body[512];
        ib_ioas_alloc_args hinted = { .window = IB_IOVA_WINDOW_FULL, .has_base = true, .base = 0x100000000ULL };
        ib_iova_range ranges[8];
        size_t n = 8;
        uint32_t dev, dev3, ioas, ioas2, hwpt, pasid;
        uint64_t align;
        int fd, fd3;
        ib_client *c = NULL;
        TestBroker b;

        write_policy(policy, sizeof(policy), "");
        snprintf(body, sizeof(body), "[Tenant t]\nUser=%u\nDevice=0000:00:02.0\nDevice=0000:00:03.0\n",
                 (unsigned) getuid());
        {
                FILE *f = fopen(policy, "we");

                ASSERT_TRUE(f != NULL);
                fprintf(f, "%s", body);
                fclose(f);
        }
        snprintf(args, sizeof(args), "--policy=%s", policy);
        ASSERT_OK(test_broker_start(&b, args));
        ASSERT_OK(ib_client_connect(b.socket, "vmm", &c));
        ASSERT_OK(ib_device_open(c, "0000:00:02.0", &dev, &fd));
        ASSERT_OK(ib_ioas_alloc(c, NULL, &ioas));
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0, &hwpt));
        ASSERT_OK(ib_hwpt_free(c, hwpt));

        snprintf(body, sizeof(body), "[Tenant t]\nUser=%u\nDevice=0000:00:02.0\nNesting=no\nPASID=no\n"
                 "IOVAWindow=0x80000000-0xffffffff\n", (unsigned) getuid());
        reload(&b, policy, body);
        /* held: the open device, its IOAS */
        ASSERT_OK(ib_device_attach(c, dev, ioas, NULL));
        /* new: each follows the policy in force */
        ASSERT_ERRNO(EPERM, ib_device_open(c, "0000:00:03.0", &dev3, &fd3));
        ASSERT_TRUE(strstr(ib_client_error(c), "not granted") != NULL);
        ASSERT_ERRNO(EPERM, ib_hwpt_alloc(c, dev, ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0, &hwpt));
        ASSERT_TRUE(strstr(ib_client_error(c), "Nesting=no") != NULL);
        ASSERT_ERRNO(EPERM, ib_pasid_attach(c, dev, 5, ioas, &pasid));
        ASSERT_TRUE(strstr(ib_client_error(c), "PASID=no") != NULL);
        ASSERT_ERRNO(EPERM, ib_ioas_alloc(c, &hinted, &ioas2));
        ASSERT_OK(ib_ioas_alloc(c, NULL, &ioas2));
        ASSERT_OK(ib_iova_ranges(c, ioas2, ranges, &n, &align));
        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(ranges[i].start >= 0x80000000ULL && ranges[i].last <= 0xffffffffULL);

        /* the tenant is gone from the policy: nothing new, what it holds stays */
        snprintf(body, sizeof(body), "[Tenant other]\nUser=%u\nGroup=0\n", (unsigned) getuid() + 1);
        reload(&b, policy, body);
        ASSERT_ERRNO(EPERM, ib_device_open(c, "0000:00:02.0", &dev3, &fd3));
        {
                int r = ib_ioas_alloc(c, NULL, &ioas2);

                printf("# IoasAlloc of a tenant gone from the policy: %s\n", ib_client_error(c));
                ASSERT_TRUE(r == -EPERM || r == -EDQUOT);
        }
        ASSERT_OK(ib_device_detach(c, dev));
        close(fd);
        ib_client_free(c);
        ASSERT_EQ(test_broker_stop(&b), 0);
        test_policy_remove(policy);
}

/* Whether the file has a line holding both a and b. */
static bool file_has(const char *path, const char *a, const char *b) {
        char line[2048];
        bool found = false;
        FILE *f = fopen(path, "re");

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, a) && strstr(line, b);
        fclose(f);
        return found;
}

TEST(a_fault_queue_fd_kept_past_the_session_leaves_an_emptied_context) {
        char policy[256], audit[300], args[600], body[512];
        uint32_t fault;
        ib_client *c = NULL;
        TestBroker b;
        int qfd, i;

        write_policy(policy, sizeof(policy), "");
        snprintf(audit, sizeof(audit), "%s", policy);
        snprintf(strrchr(audit, '/'), sizeof(audit) - (size_t) (strrchr(audit, '/') - audit), "/audit.jsonl");
        snprintf(body, sizeof(body), "[Global]\nAuditFile=%s\n\n[Tenant t]\nUser=%u\n", audit, (unsigned) getuid());
        {
                FILE *f = fopen(policy, "we");

                ASSERT_TRUE(f != NULL);
                fprintf(f, "%s", body);
                fclose(f);
        }
        snprintf(args, sizeof(args), "--policy=%s", policy);
        ASSERT_OK(test_broker_start(&b, args));
        ASSERT_OK(ib_client_connect(b.socket, "vmm", &c));
        ASSERT_OK(ib_fault_queue_alloc(c, &fault, &qfd));
        /* the session ends; the client keeps the queue's fd, which keeps the queue (and nothing else) */
        ib_client_free(c);
        for (i = 0; i < 100 && !file_has(audit, "\"verb\":\"teardown\"", "fault queue"); i++)
                (void) usleep(50 * 1000);
        ASSERT_TRUE(file_has(audit, "\"result\":\"emptied\"", "1 fault queue kept by the client's own fd"));
        ASSERT_TRUE(!file_has(audit, "\"verb\":\"teardown\"", "\"result\":\"incomplete\""));
        close(qfd);
        ASSERT_EQ(test_broker_stop(&b), 0);
        (void) unlink(audit);
        test_policy_remove(policy);
}

TESTS_MAIN(NULL, NULL)

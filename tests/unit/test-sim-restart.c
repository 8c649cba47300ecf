/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sim-restart.c - the sim's model outlives the process, as the kernel's objects do.
 *
 * Owns: the tests of BackendConfig.fdstore, ctx_fd and ctx_adopt on the sim:
 * the test process plays the service manager's fd store (a SOCK_DGRAM socket
 * in NOTIFY_SOCKET that takes FDSTORE=1 and FDSTOREREMOVE=1 messages with
 * their fds) while a first process builds contexts, IOASes, mappings, bound
 * and attached devices, HWPTs, a fault queue and a PASID attach, keeps its
 * context and device fds in the store as the broker does, and dies
 * (SIGKILL, or a clean close); a second process, given the store's fds at 3..
 * with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID as systemd passes them,
 * opens the sim with that store, adopts the contexts and finds everything
 * as it was, with the same ids and IOVAs; then lets go of it and sees it
 * released.  And, in one process, that a context lives exactly as long as a
 * copy of its fd.
 * Must never: reach into the sim's structures, or leave a child running.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* memfd_create(), close_range() */
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend-sim.h"
#include "backend/backend.h"
#include "common/macro.h"
#include "tests/lib/tests.h"
#include "util/fdstore.h"

#define PG 0x1000ULL
#define RW (BACKEND_MAP_READABLE | BACKEND_MAP_WRITEABLE)
#define FIXED BACKEND_MAP_FIXED_IOVA
#define NO_PASID BACKEND_NO_PASID
#define VA0 0x7f0000000000ULL

static const BackendOps *const ops = &backend_sim_ops;

static const BackendDeviceInfo devices[] = {
        /* FULL: PASIDs, dirty tracking, nesting. */
        { .name = "0000:00:03.0", .cdev = "/dev/vfio/devices/vfio1", .vendor_id = 0x8086, .device_id = 0x0b25,
          .iommu_group = 2, .pasid_width = 5, .dirty_tracking = true, .nesting = true, .snoop_control = true },
        /* PLAIN */
        { .name = "0000:00:02.0", .cdev = "/dev/vfio/devices/vfio0", .vendor_id = 0x8086, .device_id = 0x10d3,
          .iommu_group = 1, .snoop_control = true },
};
#define DEV_FULL (&devices[0])
#define DEV_PLAIN (&devices[1])

static void *va(uint64_t a) {
        return (void *) (uintptr_t) a;
}

/* --- the fd store the test process plays ---------------------------------------------------- */

#define STORE_MAX 64

typedef struct StoreEntry {
        char name[FDSTORE_NAME_MAX + 1];
        int fd;
} StoreEntry;

typedef struct Store {
        int sock;
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
        StoreEntry e[STORE_MAX];
        size_t n;
} Store;

static void store_close(Store *st) {
        for (size_t i = 0; i < st->n; i++)
                (void) close(st->e[i].fd);
        st->n = 0;
        if (st->sock >= 0) {
                (void) close(st->sock);
                (void) unlink(st->path);
        }
        st->sock = -1;
        (void) unsetenv("NOTIFY_SOCKET");
}

static int store_open(Store *st) {
        static unsigned counter;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        *st = (Store) { .sock = -1 };
        (void) snprintf(st->path, sizeof(st->path), "/tmp/ib-test-store-%d-%u", (int) getpid(), counter++);
        (void) unlink(st->path);
        st->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (st->sock < 0)
                return -errno;
        memcpy(sa.sun_path, st->path, strlen(st->path) + 1);
        if (bind(st->sock, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (setenv("NOTIFY_SOCKET", st->path, 1) < 0)
                return -errno;
        return 0;
}

static void store_remove(Store *st, const char *name) {
        for (size_t i = 0; i < st->n;)
                if (strcmp(st->e[i].name, name) == 0) {
                        (void) close(st->e[i].fd);
                        st->e[i] = st->e[--st->n];
                } else
                        i++;
}

/* One notify message: FDSTORE=1 keeps its fds under FDNAME, FDSTOREREMOVE=1 drops that name. */
static void store_handle(Store *st, char *msg, const int *fds, size_t n_fds) {
        bool keep = false, remove = false;
        const char *name = "stored";

        for (char *line = strtok(msg, "\n"); line; line = strtok(NULL, "\n")) {
                if (strcmp(line, "FDSTORE=1") == 0)
                        keep = true;
                else if (strcmp(line, "FDSTOREREMOVE=1") == 0)
                        remove = true;
                else if (strncmp(line, "FDNAME=", 7) == 0)
                        name = line + 7;
        }
        if (remove)
                store_remove(st, name);
        for (size_t i = 0; i < n_fds; i++) {
                if (!keep || st->n >= STORE_MAX) {
                        (void) close(fds[i]);
                        continue;
                }
                st->e[st->n].fd = fds[i];
                (void) snprintf(st->e[st->n].name, sizeof(st->e[st->n].name), "%s", name);
                st->n++;
        }
}

static void store_pump(Store *st) {
        for (;;) {
                char buf[512];
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(int) * 16) + CMSG_SPACE(sizeof(struct ucred))];
                } control;
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
                struct msghdr mh = {
                        .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = &control, .msg_controllen = sizeof(control),
                };
                int fds[16];
                size_t n_fds = 0;
                ssize_t n;

                n = recvmsg(st->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0)
                        return;
                buf[n] = 0;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                                for (size_t i = 0; i < k && n_fds < ELEMENTSOF(fds); i++)
                                        memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        }
                store_handle(st, buf, fds, n_fds);
        }
}

static bool store_has(const Store *st, const char *name) {
        for (size_t i = 0; i < st->n; i++)
                if (strcmp(st->e[i].name, name) == 0)
                        return true;
        return false;
}

/* Serves the store until child pid ends; its wait status, or -ETIMEDOUT after 60 s (it is killed). */
static int store_serve(Store *st, pid_t pid) {
        for (unsigned i = 0; i < 60 * 100; i++) {
                struct pollfd p = { .fd = st->sock, .events = POLLIN };
                int status;

                (void) poll(&p, 1, 10);
                store_pump(st);
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        store_pump(st);
                        return status;
                }
        }
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        return -ETIMEDOUT;
}

/*
 * Forks the first process: fn runs with NOTIFY_SOCKET set and nothing
 * passed.  Forks the next one: the store's fds at 3.. with LISTEN_FDS,
 * LISTEN_FDNAMES and LISTEN_PID, and no other copy of them (the store keeps
 * its own).  Either way the child exits 0 if fn's assertions held.
 */
static pid_t store_spawn(Store *st, bool pass, void (*fn)(void)) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid != 0)
                return pid;

        (void) unsetenv("LISTEN_FDS");
        (void) unsetenv("LISTEN_FDNAMES");
        (void) unsetenv("LISTEN_PID");
        if (pass) {
                char names[STORE_MAX * (FDSTORE_NAME_MAX + 1) + 1] = "", num[32];
                int tmp[STORE_MAX];

                for (size_t i = 0; i < st->n; i++)
                        tmp[i] = fcntl(st->e[i].fd, F_DUPFD_CLOEXEC, 3 + STORE_MAX + 64);
                for (size_t i = 0; i < st->n; i++) {
                        if (tmp[i] < 0 || dup2(tmp[i], 3 + (int) i) < 0)
                                _exit(2);
                        if (i > 0)
                                strcat(names, ":");
                        strcat(names, st->e[i].name);
                }
                (void) close_range(3 + (unsigned) st->n, ~0U, 0);
                (void) snprintf(num, sizeof(num), "%zu", st->n);
                (void) setenv("LISTEN_FDS", num, 1);
                (void) setenv("LISTEN_FDNAMES", names, 1);
                (void) snprintf(num, sizeof(num), "%d", (int) getpid());
                (void) setenv("LISTEN_PID", num, 1);
        } else
                (void) close(st->sock);
        fn();
        fflush(NULL);
        _exit(tests_failed_now ? 1 : 0);
}

/* --- what the first process leaves, for the second to find -------------------------------- */

typedef struct Record {
        bool kill;                      /* SIGKILL: else ctx_free, close and exit */
        bool ready;                     /* the first process got as far as its death */
        uint32_t a_ioas, a_ioas2, a_dev, a_hwpt_pasid, a_fault, a_next_id;
        uint64_t a_file_iova, a_user_iova, a_probe_iova;
        IovaRange a_ranges[8], a_ranges2[8];
        size_t a_n_ranges, a_n_ranges2;
        uint64_t a_alignment;
        uint32_t b_ioas, b_dev, b_hwpt;
        uint64_t b_iova;
        BackendSimStats stats;
} Record;

static Record *rec;

static int open_sim(FdStore *store, Backend **ret) {
        BackendConfig config = {
                .sim_devices = devices,
                .n_sim_devices = ELEMENTSOF(devices),
                .fdstore = store,
        };

        backend_sim_fail_nth = 0;
        (void) unsetenv(BACKEND_SIM_FAIL_NTH_ENV);
        return ops->open(&config, ret);
}

/* The first process: builds, keeps what the broker keeps, dies. */
static void first_process(void) {
        _cleanup_(fdstore_freep) FdStore *store = NULL;
        Backend *b = NULL;
        BackendCtx *a = NULL, *bb = NULL, *c = NULL;
        uint32_t id;
        int memfd, dev_a, dev_b, fault_fd;
        uint64_t iova;

        ASSERT_OK(fdstore_new(&store));
        ASSERT_TRUE(fdstore_enabled(store));
        ASSERT_OK(open_sim(store, &b));

        /* Context a: two IOASes, file and user mappings, a device on an automatic HWPT, a PASID, a fault queue. */
        ASSERT_OK(ops->ctx_new(b, &a));
        ASSERT_OK(ops->ioas_alloc(a, &rec->a_ioas));
        ASSERT_OK(ops->ioas_alloc(a, &rec->a_ioas2));
        ASSERT_OK(ops->allow_iovas(a, rec->a_ioas2, &(IovaRange) { .start = 0x100000000, .last = 0x1ffffffff }, 1));
        memfd = memfd_create("test-sim-restart", MFD_CLOEXEC);
        ASSERT_TRUE(memfd >= 0);
        ASSERT_OK(ftruncate(memfd, 64 * PG));
        ASSERT_OK(ops->map_file(a, rec->a_ioas, memfd, 0, 16 * PG, RW, &rec->a_file_iova));
        rec->a_user_iova = 0x40000000;
        ASSERT_OK(ops->map_user(a, rec->a_ioas, va(VA0), 4 * PG, RW | FIXED, &rec->a_user_iova));
        ASSERT_OK(ops->device_bind(a, DEV_FULL, &dev_a, &rec->a_dev));
        ASSERT_OK(ops->hwpt_alloc(a, rec->a_dev, rec->a_ioas, BACKEND_HWPT_PASID, 0, NULL, 0, 0,
                                  &rec->a_hwpt_pasid));
        ASSERT_OK(ops->device_attach(a, dev_a, rec->a_dev, NO_PASID, rec->a_hwpt_pasid, &id));
        ASSERT_OK(ops->device_attach(a, dev_a, rec->a_dev, 1, rec->a_hwpt_pasid, &id));
        ASSERT_OK(ops->fault_alloc(a, &rec->a_fault, &fault_fd));
        /* Where the next automatic mapping goes, and the next id: the second process must agree. */
        ASSERT_OK(ops->map_user(a, rec->a_ioas, va(VA0 + 0x100000), 8 * PG, RW, &rec->a_probe_iova));
        ASSERT_OK(ops->unmap(a, rec->a_ioas, rec->a_probe_iova, 8 * PG, &iova));
        ASSERT_OK(ops->ioas_alloc(a, &rec->a_next_id));
        ASSERT_OK(ops->destroy(a, rec->a_next_id));
        rec->a_n_ranges = ELEMENTSOF(rec->a_ranges);
        ASSERT_OK(ops->iova_ranges(a, rec->a_ioas, rec->a_ranges, &rec->a_n_ranges, &rec->a_alignment));
        rec->a_n_ranges2 = ELEMENTSOF(rec->a_ranges2);
        ASSERT_OK(ops->iova_ranges(a, rec->a_ioas2, rec->a_ranges2, &rec->a_n_ranges2, NULL));

        /* Context b: a device on an IOAS. */
        ASSERT_OK(ops->ctx_new(b, &bb));
        ASSERT_OK(ops->ioas_alloc(bb, &rec->b_ioas));
        ASSERT_OK(ops->map_user(bb, rec->b_ioas, va(VA0), 2 * PG, RW, &rec->b_iova));
        ASSERT_OK(ops->device_bind(bb, DEV_PLAIN, &dev_b, &rec->b_dev));
        /* An automatic HWPT. */
        ASSERT_OK(ops->device_attach(bb, dev_b, rec->b_dev, NO_PASID, rec->b_ioas, &rec->b_hwpt));

        /* Context c: empty; the second process never adopts it. */
        ASSERT_OK(ops->ctx_new(b, &c));

        /* What the broker keeps. */
        ASSERT_OK(fdstore_keep(store, ops->ctx_fd(a), "ctx.a"));
        ASSERT_OK(fdstore_keep(store, ops->ctx_fd(bb), "ctx.b"));
        ASSERT_OK(fdstore_keep(store, ops->ctx_fd(c), "ctx.c"));
        ASSERT_OK(fdstore_keep(store, dev_a, "dev.a"));
        ASSERT_OK(fdstore_keep(store, dev_b, "dev.b"));
        ASSERT_OK(fdstore_keep(store, fault_fd, "fault.a"));

        backend_sim_stats(b, &rec->stats);
        rec->ready = true;
        if (rec->kill)
                (void) kill(getpid(), SIGKILL);

        /* A clean stop: the broker closes its handles; the store's copies keep it all. */
        ops->ctx_free(a);
        ops->ctx_free(bb);
        ops->ctx_free(c);
        (void) close(dev_a);
        (void) close(dev_b);
        (void) close(fault_fd);
        (void) close(memfd);
        ops->close(b);
}

static int wait_contexts(Backend *b, size_t want) {
        BackendSimStats st;

        for (unsigned i = 0; i < 500; i++) {
                backend_sim_stats(b, &st);
                if (st.contexts == want)
                        return 0;
                (void) usleep(10000);
        }
        return -ETIMEDOUT;
}

static int wait_probe(Backend *b, const BackendDeviceInfo *info) {
        int r = 0;

        for (unsigned i = 0; i < 500; i++) {
                r = ops->device_probe(b, info);
                if (r != -EBUSY)
                        return r;
                (void) usleep(10000);
        }
        return r;
}

/* The second process: adopts and checks, then lets go. */
static void second_process(void) {
        _cleanup_(fdstore_freep) FdStore *store = NULL;
        IovaRange ranges[8];
        size_t n_ranges = ELEMENTSOF(ranges);
        BackendCtx *a = NULL, *bb = NULL;
        BackendSimStats st;
        Backend *b = NULL;
        uint64_t alignment, len, iova;
        uint32_t id;
        int fd, dev_a, dev_b, fault_fd;

        ASSERT_OK(fdstore_new(&store));
        ASSERT_OK(open_sim(store, &b));

        /* Everything is there, and nothing else: every context waits for its adoption. */
        backend_sim_stats(b, &st);
        ASSERT_EQ(st.contexts, rec->stats.contexts);
        ASSERT_EQ(st.closed_contexts, 0);
        ASSERT_EQ(st.objects, rec->stats.objects);
        ASSERT_EQ(st.ioases, rec->stats.ioases);
        ASSERT_EQ(st.hwpts, rec->stats.hwpts);
        ASSERT_EQ(st.devices, rec->stats.devices);
        ASSERT_EQ(st.areas, rec->stats.areas);
        ASSERT_U64_EQ(st.mapped_bytes, rec->stats.mapped_bytes);

        fd = fdstore_take(store, "ctx.a");
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(ops->ctx_adopt(b, fd, &a));
        fd = fdstore_take(store, "ctx.b");
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(ops->ctx_adopt(b, fd, &bb));
        /* A file that stands for no context. */
        fd = memfd_create("not-an-iommufd", MFD_CLOEXEC);
        ASSERT_ERRNO(EINVAL, ops->ctx_adopt(b, fd, &a));
        dev_a = fdstore_take(store, "dev.a");
        dev_b = fdstore_take(store, "dev.b");
        fault_fd = fdstore_take(store, "fault.a");
        ASSERT_TRUE(dev_a >= 0 && dev_b >= 0 && fault_fd >= 0);

        /* Context a, with the same ids and IOVAs. */
        ASSERT_OK(ops->iova_ranges(a, rec->a_ioas, ranges, &n_ranges, &alignment));
        ASSERT_EQ(n_ranges, rec->a_n_ranges);
        ASSERT_TRUE(memcmp(ranges, rec->a_ranges, n_ranges * sizeof(*ranges)) == 0);
        ASSERT_U64_EQ(alignment, rec->a_alignment);
        n_ranges = ELEMENTSOF(ranges);
        ASSERT_OK(ops->iova_ranges(a, rec->a_ioas2, ranges, &n_ranges, NULL));
        ASSERT_EQ(n_ranges, rec->a_n_ranges2);
        ASSERT_TRUE(memcmp(ranges, rec->a_ranges2, n_ranges * sizeof(*ranges)) == 0);
        ASSERT_OK(ops->map_user(a, rec->a_ioas, va(VA0 + 0x100000), 8 * PG, RW, &iova));
        ASSERT_U64_EQ(iova, rec->a_probe_iova);
        ASSERT_OK(ops->unmap(a, rec->a_ioas, rec->a_file_iova, 16 * PG, &len));
        ASSERT_U64_EQ(len, 16 * PG);
        ASSERT_ERRNO(ENOENT, ops->unmap(a, rec->a_ioas, rec->a_file_iova, 16 * PG, &len));
        ASSERT_OK(ops->unmap(a, rec->a_ioas, rec->a_user_iova, 4 * PG, &len));
        ASSERT_U64_EQ(len, 4 * PG);
        ASSERT_ERRNO(EBUSY, ops->destroy(a, rec->a_ioas));
        ASSERT_ERRNO(EBUSY, ops->destroy(a, rec->a_hwpt_pasid));
        ASSERT_ERRNO(EBUSY, ops->destroy(a, rec->a_dev));
        /* The fault queue's fd is open (the store's copy and this one). */
        ASSERT_ERRNO(EBUSY, ops->destroy(a, rec->a_fault));
        ASSERT_OK(ops->ioas_alloc(a, &id));
        ASSERT_EQ(id, rec->a_next_id);
        ASSERT_OK(ops->device_detach(a, dev_a, rec->a_dev, 1));
        ASSERT_ERRNO(EBUSY, ops->destroy(a, rec->a_hwpt_pasid));
        ASSERT_OK(ops->device_detach(a, dev_a, rec->a_dev, NO_PASID));
        ASSERT_OK(ops->destroy(a, rec->a_hwpt_pasid));
        ASSERT_OK(ops->destroy(a, rec->a_ioas));

        /* The device is bound while its fd is open anywhere: in the store, here. */
        ASSERT_ERRNO(EBUSY, ops->device_probe(b, DEV_FULL));
        ASSERT_ERRNO(EINVAL, ops->device_bind(bb, DEV_FULL, &fd, &id));

        /* Context b: its device still attached to its HWPT. */
        ASSERT_ERRNO(EBUSY, ops->destroy(bb, rec->b_hwpt));
        ASSERT_OK(ops->unmap(bb, rec->b_ioas, rec->b_iova, 2 * PG, &len));
        ASSERT_U64_EQ(len, 2 * PG);
        ASSERT_OK(ops->device_detach(bb, dev_b, rec->b_dev, NO_PASID));
        /* The automatic HWPT went with its last device. */
        ASSERT_ERRNO(ENOENT, ops->destroy(bb, rec->b_hwpt));
        ASSERT_OK(ops->destroy(bb, rec->b_ioas));

        /* Context c, never adopted, goes once the store drops its fd. */
        fd = fdstore_take(store, "ctx.c");
        ASSERT_TRUE(fd >= 0);
        (void) close(fd);
        ASSERT_OK(fdstore_forget(store, "ctx.c"));
        ASSERT_OK(wait_contexts(b, 2));

        /* Let go of device a: free once neither this fd nor the store's copy is open. */
        ASSERT_OK(ops->device_unbind(a, dev_a, rec->a_dev));
        (void) close(dev_a);
        ASSERT_ERRNO(EBUSY, ops->device_probe(b, DEV_FULL));
        ASSERT_OK(fdstore_forget(store, "dev.a"));
        ASSERT_OK(wait_probe(b, DEV_FULL));
        (void) close(fault_fd);
        ASSERT_OK(fdstore_forget(store, "fault.a"));

        /* Context a: the store's copy keeps it after ctx_free, until it is dropped. */
        ops->ctx_free(a);
        backend_sim_stats(b, &st);
        ASSERT_EQ(st.contexts, 2);
        ASSERT_OK(fdstore_forget(store, "ctx.a"));
        ASSERT_OK(wait_contexts(b, 1));

        /* Context b: closed, held by its device until that fd goes everywhere. */
        ops->ctx_free(bb);
        ASSERT_OK(fdstore_forget(store, "ctx.b"));
        (void) close(dev_b);
        ASSERT_OK(fdstore_forget(store, "dev.b"));
        ASSERT_OK(wait_contexts(b, 0));
        ASSERT_OK(wait_probe(b, DEV_PLAIN));
        ops->close(b);
}

static void restart(bool kill_first) {
        Store st;
        int status;
        pid_t pid;

        rec = mmap(NULL, sizeof(*rec), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ASSERT_TRUE(rec != MAP_FAILED);
        *rec = (Record) { .kill = kill_first };
        ASSERT_OK(store_open(&st));

        pid = store_spawn(&st, /* pass= */ false, first_process);
        ASSERT_TRUE(pid > 0);
        status = store_serve(&st, pid);
        ASSERT_TRUE(rec->ready);
        if (kill_first)
                ASSERT_TRUE(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        else
                ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_TRUE(store_has(&st, "sim.model"));
        ASSERT_TRUE(store_has(&st, "ctx.a"));

        pid = store_spawn(&st, /* pass= */ true, second_process);
        ASSERT_TRUE(pid > 0);
        status = store_serve(&st, pid);
        ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* Of the sim's own fds only the model is left: every other thing it stood for is gone. */
        for (size_t i = 0; i < st.n; i++)
                if (strncmp(st.e[i].name, "sim.", 4) == 0 && strcmp(st.e[i].name, "sim.model") != 0)
                        TEST_FAIL("%s still in the store", st.e[i].name);
        store_close(&st);
        (void) munmap(rec, sizeof(*rec));
}

TEST(restart_after_sigkill_finds_every_object) {
        restart(/* kill_first= */ true);
}

TEST(restart_after_clean_close_finds_every_object) {
        restart(/* kill_first= */ false);
}

/* --- one process -------------------------------------------------------------------------- */

TEST(context_lives_while_a_copy_of_its_fd_is_open) {
        BackendCtx *ctx = NULL, *again = NULL;
        BackendSimStats st;
        Backend *b = NULL;
        uint32_t ioas;
        uint64_t iova = 0x100000, len;
        int copy;

        (void) unsetenv("NOTIFY_SOCKET");
        ASSERT_OK(open_sim(/* store= */ NULL, &b));
        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_OK(ops->ioas_alloc(ctx, &ioas));
        ASSERT_OK(ops->map_user(ctx, ioas, va(VA0), PG, RW | FIXED, &iova));
        copy = fcntl(ops->ctx_fd(ctx), F_DUPFD_CLOEXEC, 3);
        ASSERT_TRUE(copy >= 0);

        /* ctx_free closes one copy: the other keeps the context, its IOAS and mapping. */
        ops->ctx_free(ctx);
        backend_sim_stats(b, &st);
        ASSERT_EQ(st.contexts, 1);
        ASSERT_EQ(st.closed_contexts, 0);
        ASSERT_EQ(st.areas, 1);
        ASSERT_OK(ops->ctx_adopt(b, copy, &again));
        /* One handle per context in the sim. */
        copy = fcntl(ops->ctx_fd(again), F_DUPFD_CLOEXEC, 3);
        ASSERT_ERRNO(EBUSY, ops->ctx_adopt(b, copy, &ctx));
        ASSERT_OK(ops->unmap(again, ioas, iova, PG, &len));
        ASSERT_U64_EQ(len, PG);

        /* Once every copy is closed, the context goes. */
        copy = fcntl(ops->ctx_fd(again), F_DUPFD_CLOEXEC, 3);
        ops->ctx_free(again);
        backend_sim_stats(b, &st);
        ASSERT_EQ(st.contexts, 1);
        (void) close(copy);
        backend_sim_stats(b, &st);
        ASSERT_EQ(st.contexts, 0);
        ASSERT_ERRNO(EINVAL, ops->ctx_adopt(b, fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3), &ctx));
        ops->close(b);
}

TEST(context_fd_closed_with_a_bound_device_waits_for_the_device) {
        BackendCtx *ctx = NULL;
        BackendSimStats st;
        Backend *b = NULL;
        uint32_t dev;
        int fd;

        (void) unsetenv("NOTIFY_SOCKET");
        ASSERT_OK(open_sim(/* store= */ NULL, &b));
        ASSERT_OK(ops->ctx_new(b, &ctx));
        ASSERT_OK(ops->device_bind(ctx, DEV_PLAIN, &fd, &dev));
        ops->ctx_free(ctx);
        backend_sim_stats(b, &st);
        ASSERT_EQ(st.contexts, 1);
        ASSERT_EQ(st.closed_contexts, 1);
        ASSERT_ERRNO(EBUSY, ops->device_probe(b, DEV_PLAIN));
        (void) close(fd);
        ASSERT_OK(ops->device_probe(b, DEV_PLAIN));
        backend_sim_stats(b, &st);
        ASSERT_EQ(st.contexts, 0);
        ops->close(b);
}

/* A second process configured with other devices than the model's. */
static void open_with_one_device(void) {
        _cleanup_(fdstore_freep) FdStore *store = NULL;
        BackendConfig config = { .sim_devices = devices, .n_sim_devices = 1 };
        Backend *b = NULL;

        ASSERT_OK(fdstore_new(&store));
        config.fdstore = store;
        ASSERT_ERRNO(EINVAL, ops->open(&config, &b));
}

TEST(restore_refuses_other_devices) {
        Store st;
        int status;
        pid_t pid;

        rec = mmap(NULL, sizeof(*rec), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ASSERT_TRUE(rec != MAP_FAILED);
        *rec = (Record) { .kill = true };
        ASSERT_OK(store_open(&st));
        pid = store_spawn(&st, /* pass= */ false, first_process);
        status = store_serve(&st, pid);
        ASSERT_TRUE(status >= 0 && WIFSIGNALED(status));
        pid = store_spawn(&st, /* pass= */ true, open_with_one_device);
        status = store_serve(&st, pid);
        ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        store_close(&st);
        (void) munmap(rec, sizeof(*rec));
}

TESTS_MAIN(NULL, NULL)

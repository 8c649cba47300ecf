/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-persist.c - the state file a restarted broker reads (core/persist.h, docs/restart.md).
 *
 * A state file written by hand to the documented version-1 layout (header,
 * slot directory, slots, a log of records) is read back by persist_new()
 * as a restarted broker gets it (LISTEN_FDS with the name "state.1"): its
 * records in order, a slot by session, a torn last record ignored.  A file
 * of a newer version, or without the magic, is refused and the broker
 * starts with a fresh state file.  A file of another slot count is read
 * back as its header says; a fresh file has a slot per file descriptor the
 * broker may hold (RLIMIT_NOFILE, from 4,096 to 65,536), read from the
 * FDSTORE message that hands it to the service manager.  A log held (as
 * recovery holds it) is not compacted while full, so that what was read
 * from it stays mapped; released, the next record that does not fit
 * compacts it.  Each case runs in
 * a child, since the fds passed at start are read from the environment once
 * per process.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/persist.h"
#include "core/session.h"
#include "tests/lib/tests.h"

/* For helpers that return a value: a failed setup is no test result, it stops the run. */
#define CHECK(expr)                                                                     \
        do {                                                                            \
                if (!(expr)) {                                                          \
                        fprintf(stderr, "%s:%d: setup failed: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                        \
                }                                                                       \
        } while (0)

/* The documented layout, version 1 (docs/restart.md, "The state file"). */
typedef struct Header {
        char magic[8];
        uint32_t version;
        uint32_t header_size;
        uint64_t generation;
        uint64_t restarts;
        uint64_t last_session;
        uint32_t n_slots;
        uint32_t slot_size;
        uint64_t slots_offset;
        uint64_t log_offset;
        uint64_t log_capacity;
        uint64_t log_end;
} Header;

#define DIR_OFFSET 4096ULL
#define SLOTS_OFFSET (DIR_OFFSET + ((n_slots * 8 + 4095) & ~4095ULL))
#define SLOT_SIZE (56ULL + 256 * 4 + 256 * 8 + 2 * 65536)
#define LOG_OFFSET (SLOTS_OFFSET + n_slots * SLOT_SIZE)
#define LOG_CAPACITY (1ULL << 20)

/* The slot count of the file make_state() writes (4,096: what every broker before wrote). */
static uint64_t n_slots = 4096;

static void put_record(int fd, uint64_t *end, uint32_t type, uint64_t session, const void *payload, uint32_t size) {
        struct { uint32_t type, size; uint64_t session; } h = { type, size, session };
        uint8_t pad[8] = {};

        CHECK(pwrite(fd, &h, sizeof(h), (off_t) (LOG_OFFSET + *end)) == (ssize_t) sizeof(h));
        if (size > 0)
                CHECK(pwrite(fd, payload, size, (off_t) (LOG_OFFSET + *end + sizeof(h))) == (ssize_t) size);
        if (size % 8)
                CHECK(pwrite(fd, pad, 8 - size % 8, (off_t) (LOG_OFFSET + *end + sizeof(h) + size)) > 0);
        *end += sizeof(h) + ((size + 7) & ~7U);
}

/* A version-1 state file: one session (7) with a MAP and an UNMAP, a slot, and a torn record after the end. */
static int make_state(uint32_t version, bool magic) {
        int fd = memfd_create("state", MFD_CLOEXEC);
        PersistSessionRec srec = { .restarts = 2, .uid = 1000, .gid = 1000 };
        PersistMapRec map = { .ioas = 1, .serial = 1, .iova = 0x100000, .length = 0x4000, .flags = 6, .mem = 1 };
        PersistUnmapRec unmap = { .ioas = 1, .serial = 1, .iova = 0x100000, .last = 0x103fff };
        uint64_t end = 0, session = 7;
        Header h = {
                .version = version,
                .header_size = sizeof(Header),
                .generation = 1,
                .restarts = 3,
                .last_session = 7,
                .n_slots = (uint32_t) n_slots,
                .slot_size = SLOT_SIZE,
                .slots_offset = SLOTS_OFFSET,
                .log_offset = LOG_OFFSET,
                .log_capacity = LOG_CAPACITY,
        };
        struct { uint64_t session; uint32_t phase, request_size; uint64_t request_id; } slot = { 7, 3, 0, 41 };

        CHECK(fd >= 0);
        CHECK(ftruncate(fd, (off_t) (LOG_OFFSET + LOG_CAPACITY)) == 0);
        memcpy(h.magic, magic ? PERSIST_MAGIC : "NOTSTATE", 8);
        (void) snprintf(srec.client_name, sizeof(srec.client_name), "qemu");
        put_record(fd, &end, PERSIST_REC_SESSION, 7, &srec, sizeof(srec));
        put_record(fd, &end, PERSIST_REC_MAP, 7, &map, sizeof(map));
        put_record(fd, &end, PERSIST_REC_UNMAP, 7, &unmap, sizeof(unmap));
        h.log_end = end;
        /* a record written but never published: a crash before the log's end moved */
        put_record(fd, &end, PERSIST_REC_END, 7, NULL, 0);
        CHECK(pwrite(fd, &h, sizeof(h), 0) == (ssize_t) sizeof(h));
        CHECK(pwrite(fd, &session, sizeof(session), (off_t) (DIR_OFFSET + 5 * 8)) == sizeof(session));
        CHECK(pwrite(fd, &slot, sizeof(slot), (off_t) (SLOTS_OFFSET + 5 * SLOT_SIZE)) == sizeof(slot));
        return fd;
}

typedef struct Seen {
        unsigned n;
        uint32_t types[8];
        char client[64];
        uint64_t map_iova;
} Seen;

static int note_record(const PersistRecord *r, void *userdata) {
        Seen *s = userdata;

        if (s->n < 8)
                s->types[s->n] = r->type;
        s->n++;
        if (r->type == PERSIST_REC_SESSION)
                memcpy(s->client, ((const PersistSessionRec *) r->payload)->client_name, 64);
        if (r->type == PERSIST_REC_MAP)
                s->map_iova = ((const PersistMapRec *) r->payload)->iova;
        return 0;
}

/* A datagram socket bound at path (size bytes), in a new directory made from the template dir. */
static int notify_socket(char *dir, char *path, size_t size) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int sock;

        CHECK(mkdtemp(dir) != NULL);
        (void) snprintf(path, size, "%s/notify", dir);
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHECK(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        CHECK(sock >= 0 && bind(sock, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        return sock;
}

/*
 * In a child: the state file at fd 3 as "state.1" in LISTEN_FDS, notify the
 * service manager's socket, and the store and state file a restarted broker
 * opens from them; exits 2 if it cannot.
 */
static void open_store_as_restarted(int state_fd, const char *notify, FdStore **store, Persist **p) {
        char buf[32];

        if (dup2(state_fd, 3) < 0)
                _exit(2);
        (void) snprintf(buf, sizeof(buf), "%d", (int) getpid());
        setenv("LISTEN_PID", buf, 1);
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_FDNAMES", "state.1", 1);
        setenv("NOTIFY_SOCKET", notify, 1);
        if (fdstore_new(store) < 0 || persist_new(p, *store) < 0)
                _exit(2);
}

/* In a child: fd at 3 as "state.1" in LISTEN_FDS, a notify socket; exit 0 restored, 1 not, 2 error. */
static int open_as_restarted(int state_fd) {
        char dir[] = "/tmp/ib-test-persist.XXXXXX", path[128];
        int status, sock;
        pid_t pid;

        sock = notify_socket(dir, path, sizeof(path));
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                FdStore *store = NULL;
                Persist *p = NULL;
                PersistSlotView v;
                Seen seen = {};

                open_store_as_restarted(state_fd, path, &store, &p);
                if (!persist_restored(p))
                        _exit(1);
                if (persist_restarts(p) != 3 || persist_last_session_id(p) != 7)
                        _exit(3);
                if (persist_foreach_record(p, note_record, &seen) < 0 || seen.n != 3 ||
                    seen.types[0] != PERSIST_REC_SESSION || seen.types[1] != PERSIST_REC_MAP ||
                    seen.types[2] != PERSIST_REC_UNMAP || strcmp(seen.client, "qemu") != 0 || seen.map_iova != 0x100000)
                        _exit(4);
                if (persist_slot(p, 7, &v) < 0 || v.request_id != 41 || v.phase != PERSIST_SLOT_ANSWERED)
                        _exit(5);
                if (persist_slot(p, 8, &v) != -ENOENT)
                        _exit(6);
                persist_free(p);
                fdstore_free(store);
                _exit(0);
        }
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        close(sock);
        (void) unlink(path);
        (void) rmdir(dir);
        return WEXITSTATUS(status);
}

TEST(a_version_1_state_file_is_read_back) {
        int fd = make_state(1, true);

        ASSERT_EQ(open_as_restarted(fd), 0);
        close(fd);
}

TEST(a_version_1_state_file_adopted_is_marked_with_this_version) {
        int fd = make_state(1, true);
        uint32_t version = 0;

        /* from now on it holds records of this version: an older broker must refuse it, not misread it */
        ASSERT_EQ(open_as_restarted(fd), 0);
        ASSERT_EQ(pread(fd, &version, sizeof(version), 8), (ssize_t) sizeof(version));
        ASSERT_EQ(version, PERSIST_VERSION);
        ASSERT_EQ(PERSIST_VERSION, 2);
        close(fd);
}

TEST(a_state_file_of_another_slot_count_is_read_back) {
        int fd;

        n_slots = 8192;
        fd = make_state(1, true);
        n_slots = 4096;
        ASSERT_EQ(open_as_restarted(fd), 0);
        close(fd);
}

TEST(a_newer_version_is_refused_and_a_fresh_file_made) {
        int fd = make_state(PERSIST_VERSION + 1, true);

        ASSERT_EQ(open_as_restarted(fd), 1);
        close(fd);
}

TEST(a_file_without_the_magic_is_refused) {
        int fd = make_state(1, false);

        ASSERT_EQ(open_as_restarted(fd), 1);
        close(fd);
}

/* The state file a FDSTORE message on sock carries (its FDNAME starts with "state."), or -1. */
static int state_fd_from(int sock) {
        char buf[256], control[CMSG_SPACE(sizeof(int) * 4)];
        struct iovec iov = { buf, sizeof(buf) - 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof(control) };
        ssize_t n;

        while ((n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) >= 0) {
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                int fd = -1;

                buf[n] = '\0';
                if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(&fd, CMSG_DATA(c), sizeof(fd));
                if (fd >= 0 && strstr(buf, "FDNAME=state."))
                        return fd;
                if (fd >= 0)
                        close(fd);
                mh.msg_controllen = sizeof(control);
        }
        return -1;
}

TEST(a_fresh_state_file_has_a_slot_per_fd_the_broker_may_hold) {
        char dir[] = "/tmp/ib-test-persist.XXXXXX", path[128];
        struct rlimit rl;
        uint64_t want;
        Header h;
        int status, sock, fd;
        pid_t pid;

        CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 12345 ? 12345 : rl.rlim_max;
        want = rl.rlim_cur < 4096 ? 4096 : rl.rlim_cur;
        sock = notify_socket(dir, path, sizeof(path));
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                FdStore *store = NULL;
                Persist *p = NULL;

                setenv("NOTIFY_SOCKET", path, 1);
                unsetenv("LISTEN_FDS");
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || fdstore_new(&store) < 0 || persist_new(&p, store) < 0)
                        _exit(2);
                _exit(persist_restored(p) ? 1 : 0);
        }
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        fd = state_fd_from(sock);
        close(sock);
        (void) unlink(path);
        (void) rmdir(dir);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(pread(fd, &h, sizeof(h), 0), (ssize_t) sizeof(h));
        ASSERT_EQ(h.n_slots, want);
        ASSERT_U64_EQ(h.slots_offset, DIR_OFFSET + ((want * 8 + 4095) & ~4095ULL));
        ASSERT_U64_EQ(h.log_offset, h.slots_offset + want * SLOT_SIZE);
        close(fd);
}

static int count_record(const PersistRecord *r, void *userdata) {
        (void) r;
        (*(unsigned *) userdata)++;
        return 0;
}

static int note_first(const PersistRecord *r, void *userdata) {
        const void **first = userdata;

        if (!*first)
                *first = r->payload;
        return 0;
}

/*
 * In a child, the state file at 3 as a restarted broker gets it: the log
 * held (as recovery holds it while it settles requests), UNMAP records of a
 * session until the 1 MiB log is full.  Exit 0: a payload read before
 * still reads the same (a compaction would have unmapped it: SIGSEGV) and
 * the records stopped at the full log; released, the next record compacts
 * the log (no session registered: the record alone is left).
 */
static void hold_child(int state_fd, const char *notify) {
        char before[sizeof(PersistSessionRec)];
        unsigned held = 0, after = 0, i;
        FdStore *store = NULL;
        Persist *p = NULL;
        const void *first = NULL;
        Session *s;

        open_store_as_restarted(state_fd, notify, &store, &p);
        s = calloc(1, sizeof(*s));
        if (!s || !persist_restored(p))
                _exit(2);
        s->id = 7;
        (void) snprintf(s->name, sizeof(s->name), "session 7");
        if (persist_foreach_record(p, note_first, &first) < 0 || !first)
                _exit(3);
        memcpy(before, first, sizeof(before));
        persist_hold_log(p, true);
        s->persist_slot = 6;
        for (i = 0; i < 100000 && s->persist_slot > 0; i++)
                persist_unmap(p, s, 1, 1, (uint64_t) i << 12, ((uint64_t) i << 12) + 0xfff);
        if (s->persist_slot > 0 || i < 1000)
                _exit(4);       /* the log never filled, or filled at once */
        if (memcmp(first, before, sizeof(before)) != 0)
                _exit(5);
        if (persist_foreach_record(p, count_record, &held) < 0 || held != 3 + i - 1)
                _exit(6);
        persist_hold_log(p, false);
        s->persist_slot = 6;
        persist_unmap(p, s, 1, 1, 0, 0xfff);
        if (s->persist_slot == 0 || persist_foreach_record(p, count_record, &after) < 0 || after != 1)
                _exit(7);
        _exit(0);
}

TEST(a_held_log_is_not_compacted_under_its_readers_and_released_it_is) {
        char dir[] = "/tmp/ib-test-persist.XXXXXX", path[128];
        int status, sock, fd = make_state(1, true);
        pid_t pid;

        sock = notify_socket(dir, path, sizeof(path));
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
                hold_child(fd, path);
        CHECK(waitpid(pid, &status, 0) == pid);
        close(sock);
        (void) unlink(path);
        (void) rmdir(dir);
        close(fd);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
}

TESTS_MAIN(NULL, NULL)

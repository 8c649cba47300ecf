/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bad-input.c - what the broker answers to bad input on the wire.
 *
 * Speaks raw SOCK_SEQPACKET to a real iommu-brokerd (sim backend): random
 * bytes, truncated and oversized frames, unknown verbs, requests before
 * Hello, missing, extra and too many fds, a reply queue the client never
 * reads.  Each gets exactly one error reply with the errno named here, the
 * session goes on, other clients are served, and no fd leaks in the daemon.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "proto/broker.pb-c.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"

static TestBroker broker;

static int raw_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (strlen(broker.socket) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, broker.socket, strlen(broker.socket) + 1);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return fd;
}

static int raw_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr hdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 32)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > 0) {
                struct cmsghdr *cm;

                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int send_request(int sock, Ib__V1__Request *req, const int *fds, size_t n_fds) {
        uint8_t buf[4096];
        size_t n = ib__v1__request__pack(req, buf);

        return raw_send(sock, buf, n, fds, n_fds);
}

/* The next reply, or NULL after 5 s. */
static Ib__V1__Reply *recv_reply(int sock) {
        static uint8_t buf[70000];
        struct pollfd p = { .fd = sock, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, 5000) <= 0)
                return NULL;
        n = recv(sock, buf, sizeof(buf), 0);
        if (n <= 0)
                return NULL;
        return ib__v1__reply__unpack(NULL, (size_t) n, buf);
}

static int send_hello(int sock, uint64_t id, uint32_t version) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HelloRequest h = IB__V1__HELLO_REQUEST__INIT;

        req.id = id;
        h.protocol_version = version;
        req.verb_case = IB__V1__REQUEST__VERB_HELLO;
        req.hello = &h;
        return send_request(sock, &req, NULL, 0);
}

static int send_ioas_alloc(int sock, uint64_t id) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__IoasAllocRequest a = IB__V1__IOAS_ALLOC_REQUEST__INIT;

        req.id = id;
        req.verb_case = IB__V1__REQUEST__VERB_IOAS_ALLOC;
        req.ioas_alloc = &a;
        return send_request(sock, &req, NULL, 0);
}

static int send_map(int sock, uint64_t id, uint32_t ioas, const int *fds, size_t n_fds) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__MapRequest m = IB__V1__MAP_REQUEST__INIT;

        req.id = id;
        m.ioas = ioas;
        m.length = 4096;
        m.has_iova = true;
        m.iova = 0x10000;
        req.verb_case = IB__V1__REQUEST__VERB_MAP;
        req.map = &m;
        return send_request(sock, &req, fds, n_fds);
}

/* Asserts the next reply has this id and errno name; frees it. */
#define EXPECT_ERROR(sock, want_id, want_errno)                                                 \
        do {                                                                                    \
                Ib__V1__Reply *_r = recv_reply(sock);                                           \
                if (!_r)                                                                        \
                        TEST_FAIL("no reply");                                                  \
                printf("# reply %llu: %s: %s\n", (unsigned long long) _r->id,                   \
                       _r->errno_name ? _r->errno_name : "ok", _r->error ? _r->error : "");     \
                if (_r->id != (want_id) || !_r->errno_name || strcmp(_r->errno_name, want_errno) != 0 || \
                    !_r->error || !*_r->error) {                                                \
                        ib__v1__reply__free_unpacked(_r, NULL);                                 \
                        TEST_FAIL("expected reply %llu with %s", (unsigned long long) (want_id), want_errno); \
                }                                                                               \
                ib__v1__reply__free_unpacked(_r, NULL);                                         \
        } while (0)

#define EXPECT_OK(sock, want_id)                                                                \
        do {                                                                                    \
                Ib__V1__Reply *_r = recv_reply(sock);                                           \
                if (!_r)                                                                        \
                        TEST_FAIL("no reply");                                                  \
                if (_r->id != (want_id) || (_r->has_errnum && _r->errnum != 0)) {               \
                        printf("# reply %llu: %s: %s\n", (unsigned long long) _r->id,           \
                               _r->errno_name ?: "ok", _r->error ?: "");                        \
                        ib__v1__reply__free_unpacked(_r, NULL);                                 \
                        TEST_FAIL("expected success for %llu", (unsigned long long) (want_id)); \
                }                                                                               \
                ib__v1__reply__free_unpacked(_r, NULL);                                         \
        } while (0)

/* A second, well-behaved client is served. */
static bool other_client_served(void) {
        ib_client *c = NULL;
        ib_caps caps;
        bool ok;

        if (ib_client_connect(broker.socket, "bystander", &c) < 0)
                return false;
        ok = ib_caps_get(c, &caps) == 0;
        ib_client_free(c);
        return ok && test_broker_alive(&broker);
}

static int count_daemon_fds(void) {
        char path[64];
        struct dirent *de;
        DIR *d;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) broker.pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* The daemon's fd count once hang-ups of earlier tests are processed: stable for 100 ms. */
static int settled_daemon_fds(void) {
        int last = -1, stable = 0;

        for (int i = 0; i < 200 && stable < 5; i++) {
                int n = count_daemon_fds();

                stable = n == last ? stable + 1 : 0;
                last = n;
                usleep(20000);
        }
        return last;
}

static int memfd(void) {
        return test_memfd("ram", 4096);
}

TEST(random_bytes_get_ebadmsg_and_the_session_goes_on) {
        uint8_t junk[512];
        int s = raw_connect();

        ASSERT_TRUE(s >= 0);
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (uint8_t) (i * 7919 + 13);
        ASSERT_OK(raw_send(s, junk, sizeof(junk), NULL, 0));
        EXPECT_ERROR(s, 0, "EBADMSG");
        ASSERT_OK(send_hello(s, 5, 1));
        EXPECT_OK(s, 5);
        ASSERT_TRUE(other_client_served());
        close(s);
}

TEST(truncated_frame_gets_ebadmsg) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HelloRequest h = IB__V1__HELLO_REQUEST__INIT;
        uint8_t buf[256];
        size_t n;
        int s = raw_connect();

        req.id = 9;
        h.protocol_version = 1;
        h.client_name = (char *) "a-client-with-a-name";
        req.verb_case = IB__V1__REQUEST__VERB_HELLO;
        req.hello = &h;
        n = ib__v1__request__pack(&req, buf);
        ASSERT_OK(raw_send(s, buf, n / 2, NULL, 0));
        EXPECT_ERROR(s, 0, "EBADMSG");
        ASSERT_OK(raw_send(s, buf, n, NULL, 0));
        EXPECT_OK(s, 9);
        close(s);
}

TEST(empty_frame_is_a_hang_up) {
        uint8_t b;
        int s = raw_connect();

        /* SOCK_SEQPACKET: a zero-length datagram reads like end of file, so the broker hangs up */
        ASSERT_OK(send_hello(s, 1, 1));
        EXPECT_OK(s, 1);
        ASSERT_OK(raw_send(s, "", 0, NULL, 0));
        ASSERT_EQ(recv(s, &b, 1, 0), 0);
        ASSERT_TRUE(other_client_served());
        close(s);
}

TEST(oversized_frame_gets_emsgsize) {
        static uint8_t big[100 * 1024];
        int s = raw_connect(), sndbuf = 1 << 20;

        ASSERT_OK(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)));
        memset(big, 0x08, sizeof(big));
        ASSERT_OK(raw_send(s, big, sizeof(big), NULL, 0));
        EXPECT_ERROR(s, 0, "EMSGSIZE");
        ASSERT_OK(send_hello(s, 1, 1));
        EXPECT_OK(s, 1);
        close(s);
}

TEST(unknown_verb_gets_eopnotsupp) {
        /* field 99, varint 1: a verb from a future protocol version; id 4 */
        uint8_t msg[] = { 0x08, 0x04, 0x98, 0x06, 0x01 };
        int s = raw_connect();

        ASSERT_OK(raw_send(s, msg, sizeof(msg), NULL, 0));
        EXPECT_ERROR(s, 4, "EOPNOTSUPP");
        close(s);
}

TEST(requests_before_hello_get_eproto) {
        int s = raw_connect();

        ASSERT_OK(send_ioas_alloc(s, 3));
        EXPECT_ERROR(s, 3, "EPROTO");
        ASSERT_OK(send_hello(s, 4, 1));
        EXPECT_OK(s, 4);
        ASSERT_OK(send_ioas_alloc(s, 5));
        EXPECT_OK(s, 5);
        close(s);
}

TEST(hello_with_another_protocol_version_gets_eprotonosupport) {
        int s = raw_connect();

        ASSERT_OK(send_hello(s, 1, 2));
        EXPECT_ERROR(s, 1, "EPROTONOSUPPORT");
        ASSERT_OK(send_ioas_alloc(s, 2));
        EXPECT_ERROR(s, 2, "EPROTO");
        close(s);
}

TEST(missing_extra_and_stray_fds_get_ebadf) {
        int s = raw_connect(), fds[2] = { memfd(), memfd() };

        ASSERT_OK(send_hello(s, 1, 1));
        EXPECT_OK(s, 1);
        ASSERT_OK(send_ioas_alloc(s, 2));
        EXPECT_OK(s, 2);
        ASSERT_OK(send_map(s, 3, 1, NULL, 0));         /* Map without its memfd */
        EXPECT_ERROR(s, 3, "EBADF");
        ASSERT_OK(send_map(s, 4, 1, fds, 2));          /* Map with two */
        EXPECT_ERROR(s, 4, "EBADF");
        ASSERT_OK(send_ioas_alloc(s, 5));              /* an fd on a verb that takes none */
        EXPECT_OK(s, 5);
        {
                Ib__V1__Request req = IB__V1__REQUEST__INIT;
                Ib__V1__CapsRequest caps = IB__V1__CAPS_REQUEST__INIT;

                req.id = 6;
                req.verb_case = IB__V1__REQUEST__VERB_CAPS;
                req.caps = &caps;
                ASSERT_OK(send_request(s, &req, fds, 1));
                EXPECT_ERROR(s, 6, "EBADF");
        }
        ASSERT_OK(send_map(s, 7, 1, fds, 1));          /* and the right way still works */
        EXPECT_OK(s, 7);
        close(fds[0]);
        close(fds[1]);
        close(s);
}

static int send_delegate(int sock, uint64_t id, const char *const *names, size_t n) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__DeviceDelegateRequest d = IB__V1__DEVICE_DELEGATE_REQUEST__INIT;

        req.id = id;
        d.names = (char **) names;
        d.n_names = n;
        req.verb_case = IB__V1__REQUEST__VERB_DEVICE_DELEGATE;
        req.device_delegate = &d;
        return send_request(sock, &req, NULL, 0);
}

/* MemRegister of fd. */
static int send_mem_register(int sock, uint64_t id, int fd) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__MemRegisterRequest m = IB__V1__MEM_REGISTER_REQUEST__INIT;

        req.id = id;
        req.verb_case = IB__V1__REQUEST__VERB_MEM_REGISTER;
        req.mem_register = &m;
        return send_request(sock, &req, &fd, 1);
}

/* Map of registered memory mem, with fd_index too if with_index, carrying fds. */
static int send_map_mem(int sock, uint64_t id, uint32_t mem, bool with_index, const int *fds, size_t n_fds) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__MapRequest m = IB__V1__MAP_REQUEST__INIT;

        req.id = id;
        m.ioas = 1;
        m.length = 4096;
        m.has_iova = true;
        m.iova = 0x10000;
        m.has_mem = true;
        m.mem = mem;
        m.has_fd_index = with_index;
        req.verb_case = IB__V1__REQUEST__VERB_MAP;
        req.map = &m;
        return send_request(sock, &req, fds, n_fds);
}

TEST(bad_delegations_and_maps_by_handle_get_one_clear_error_each) {
        const char *nine[9] = { "0000:00:02.0", "a", "b", "c", "d", "e", "f", "g", "h" };
        const char *twice[2] = { "0000:00:02.0", "0000:00:02.0" };
        const char *unknown[1] = { "0000:00:09.0" };
        int s = raw_connect(), fd = memfd();

        ASSERT_OK(send_hello(s, 1, 1));
        EXPECT_OK(s, 1);
        ASSERT_OK(send_delegate(s, 2, NULL, 0));        /* no device */
        EXPECT_ERROR(s, 2, "EINVAL");
        ASSERT_OK(send_delegate(s, 3, nine, 9));        /* more than 8 */
        EXPECT_ERROR(s, 3, "EINVAL");
        ASSERT_OK(send_delegate(s, 4, twice, 2));       /* a device named twice */
        EXPECT_ERROR(s, 4, "EINVAL");
        ASSERT_OK(send_delegate(s, 5, unknown, 1));     /* no such device */
        EXPECT_ERROR(s, 5, "ENODEV");
        ASSERT_OK(send_ioas_alloc(s, 6));
        EXPECT_OK(s, 6);
        ASSERT_OK(send_map_mem(s, 7, 1, true, NULL, 0)); /* a handle and an fd index */
        EXPECT_ERROR(s, 7, "EINVAL");
        ASSERT_OK(send_map_mem(s, 8, 1, false, &fd, 1)); /* a handle, carrying an fd */
        EXPECT_ERROR(s, 8, "EBADF");
        ASSERT_OK(send_map_mem(s, 9, 99, false, NULL, 0)); /* a handle never registered */
        EXPECT_ERROR(s, 9, "ENOENT");
        ASSERT_TRUE(other_client_served());
        close(fd);
        close(s);
}

/* A Batch of packed words (docs/protocol.md, "Packed batches"), and BatchOps too when with_ops. */
static int send_packed_batch(int sock, uint64_t id, const uint64_t *words, size_t n_words, bool stop_on_error,
                             bool with_ops) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__BatchRequest b = IB__V1__BATCH_REQUEST__INIT;
        Ib__V1__BatchOp op = IB__V1__BATCH_OP__INIT, *ops[1] = { &op };
        Ib__V1__UnmapRequest u = IB__V1__UNMAP_REQUEST__INIT;

        req.id = id;
        b.packed_ops = (uint64_t *) words;
        b.n_packed_ops = n_words;
        b.has_stop_on_error = true;
        b.stop_on_error = stop_on_error;
        if (with_ops) {
                u.ioas = 1;
                u.iova = 0x10000;
                u.length = 4096;
                op.op_case = IB__V1__BATCH_OP__OP_UNMAP;
                op.unmap = &u;
                b.ops = ops;
                b.n_ops = 1;
        }
        req.verb_case = IB__V1__REQUEST__VERB_BATCH;
        req.batch = &b;
        return send_request(sock, &req, NULL, 0);
}

#define PK_MAP(ioas, flags) (1U | (uint64_t) (flags) << 8 | (uint64_t) (ioas) << 32)
#define PK_UNMAP(ioas) (2U | (uint64_t) (ioas) << 32)
#define PK_RW_FIXED 0x7U

TEST(packed_batches_answer_each_op_and_refuse_malformed_words_whole) {
        int s = raw_connect(), fd = memfd();
        Ib__V1__Reply *r;
        uint32_t mem;

        ASSERT_OK(send_hello(s, 1, 1));
        r = recv_reply(s);
        ASSERT_TRUE(r && r->hello);
        {
                bool advertised = false;

                for (size_t i = 0; i < r->hello->n_features; i++)
                        advertised |= r->hello->features[i] == IB__V1__FEATURE__FEATURE_BATCH_PACKED;
                ib__v1__reply__free_unpacked(r, NULL);
                ASSERT_TRUE(advertised);
        }
        ASSERT_OK(send_ioas_alloc(s, 2));
        EXPECT_OK(s, 2);
        ASSERT_OK(send_mem_register(s, 3, fd));
        r = recv_reply(s);
        ASSERT_TRUE(r && r->result_case == IB__V1__REPLY__RESULT_MEM_REGISTER);
        mem = r->mem_register->mem;
        ib__v1__reply__free_unpacked(r, NULL);

        /* a map, the same IOVA again (fails), its unmap: a value per op, a result for the one that failed */
        {
                const uint64_t w[] = { PK_MAP(1, PK_RW_FIXED), mem, 0, 4096, 0x10000,
                                       PK_MAP(1, PK_RW_FIXED), mem, 0, 4096, 0x10000,
                                       PK_UNMAP(1),        0,   0, 4096, 0x10000 };

                ASSERT_OK(send_packed_batch(s, 4, w, 15, false, false));
                r = recv_reply(s);
                ASSERT_TRUE(r && r->id == 4 && !r->has_errnum && r->result_case == IB__V1__REPLY__RESULT_BATCH);
                ASSERT_EQ(r->batch->n_packed_values, 3);
                ASSERT_EQ(r->batch->packed_values[0], 0x10000);
                ASSERT_EQ(r->batch->packed_values[1], 0);
                ASSERT_EQ(r->batch->packed_values[2], 4096);
                ASSERT_EQ(r->batch->n_results, 1);
                ASSERT_TRUE(r->batch->results[0]->has_index && r->batch->results[0]->index == 1);
                printf("# op 1: %s: %s\n", r->batch->results[0]->errno_name, r->batch->results[0]->error);
                ASSERT_TRUE(r->batch->results[0]->errnum == EEXIST && r->batch->results[0]->error[0]);
                ib__v1__reply__free_unpacked(r, NULL);
        }
        /* stop_on_error: a handle never registered fails, the op after it is not run */
        {
                const uint64_t w[] = { PK_MAP(1, PK_RW_FIXED), 99, 0, 4096, 0x10000,
                                       PK_UNMAP(1), 0, 0, 4096, 0x10000 };

                ASSERT_OK(send_packed_batch(s, 5, w, 10, true, false));
                r = recv_reply(s);
                ASSERT_TRUE(r && r->id == 5 && r->result_case == IB__V1__REPLY__RESULT_BATCH);
                ASSERT_EQ(r->batch->n_results, 2);
                ASSERT_TRUE(r->batch->results[0]->index == 0 && r->batch->results[0]->errnum == ENOENT);
                ASSERT_TRUE(r->batch->results[1]->index == 1 && r->batch->results[1]->errnum == ECANCELED);
                ib__v1__reply__free_unpacked(r, NULL);
        }
        /* malformed words: the whole batch is refused, nothing done, one clear error each */
        {
                const uint64_t good[] = { PK_MAP(1, PK_RW_FIXED), mem, 0, 4096, 0x20000 };
                const uint64_t kind3[] = { 3U | (uint64_t) 1 << 32, 0, 0, 4096, 0x20000 };
                const uint64_t reserved[] = { PK_MAP(1, PK_RW_FIXED) | 0x10000U, mem, 0, 4096, 0x20000 };
                const uint64_t flags[] = { PK_MAP(1, 0x17), mem, 0, 4096, 0x20000 };
                const uint64_t wide[] = { PK_MAP(1, PK_RW_FIXED), (uint64_t) 1 << 32 | mem, 0, 4096, 0x20000 };
                const uint64_t loose[] = { PK_MAP(1, 0x3), mem, 0, 4096, 0x20000 };
                const uint64_t unmap_offset[] = { PK_UNMAP(1), 0, 4096, 4096, 0x20000 };
                const uint64_t second_bad[] = { PK_MAP(1, PK_RW_FIXED), mem, 0, 4096, 0x20000,
                                                PK_UNMAP(1) | 0x100U, 0, 0, 4096, 0x20000 };

                ASSERT_OK(send_packed_batch(s, 10, good, 4, false, false));     /* not whole ops */
                EXPECT_ERROR(s, 10, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 11, good, 5, false, true));      /* both forms */
                EXPECT_ERROR(s, 11, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 12, kind3, 5, false, false));
                EXPECT_ERROR(s, 12, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 13, reserved, 5, false, false));
                EXPECT_ERROR(s, 13, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 14, flags, 5, false, false));
                EXPECT_ERROR(s, 14, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 15, wide, 5, false, false));
                EXPECT_ERROR(s, 15, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 16, loose, 5, false, false));    /* an IOVA, not fixed */
                EXPECT_ERROR(s, 16, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 17, unmap_offset, 5, false, false));
                EXPECT_ERROR(s, 17, "EINVAL");
                ASSERT_OK(send_packed_batch(s, 18, second_bad, 10, false, false));
                EXPECT_ERROR(s, 18, "EINVAL");
                /* nothing of those was mapped: the good op of the last one maps now */
                ASSERT_OK(send_packed_batch(s, 19, good, 5, false, false));
                r = recv_reply(s);
                ASSERT_TRUE(r && r->id == 19 && r->batch && r->batch->n_results == 0 &&
                            r->batch->n_packed_values == 1 && r->batch->packed_values[0] == 0x20000);
                ib__v1__reply__free_unpacked(r, NULL);
        }
        ASSERT_TRUE(other_client_served());
        close(fd);
        close(s);
}

TEST(too_many_fds_get_ebadf_and_none_leak) {
        int fds[24], before, after, s;

        before = settled_daemon_fds();
        s = raw_connect();
        ASSERT_TRUE(before > 0);
        for (int i = 0; i < 24; i++)
                fds[i] = memfd();
        ASSERT_OK(send_hello(s, 1, 1));
        EXPECT_OK(s, 1);
        ASSERT_OK(send_map(s, 2, 1, fds, 24));
        EXPECT_ERROR(s, 2, "EBADF");
        for (int i = 0; i < 24; i++)
                close(fds[i]);
        close(s);
        after = settled_daemon_fds();
        ASSERT_EQ(after, before);
}

TEST(wrong_type_fds_leave_no_fd_behind) {
        int sv[2], before, after, s;

        s = raw_connect();
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(send_hello(s, 1, 1));
        EXPECT_OK(s, 1);
        ASSERT_OK(send_ioas_alloc(s, 2));
        EXPECT_OK(s, 2);
        before = settled_daemon_fds();                 /* with this session's connection and pidfd */
        ASSERT_OK(send_map(s, 3, 1, &sv[0], 1));
        EXPECT_ERROR(s, 3, "EBADF");
        ASSERT_OK(send_map(s, 4, 77, &sv[0], 1));      /* an unknown IOAS, and a socket */
        EXPECT_ERROR(s, 4, "ENOENT");
        after = settled_daemon_fds();
        ASSERT_EQ(after, before);
        close(sv[0]);
        close(sv[1]);
        close(s);
}

TEST(unread_replies_stall_the_session_not_the_broker) {
        int s = raw_connect(), got = 0;

        ASSERT_OK(send_hello(s, 1, 1));
        EXPECT_OK(s, 1);
        /* 300 requests without reading a reply: the broker stops reading at its limit */
        for (int i = 0; i < 300; i++) {
                struct pollfd p = { .fd = s, .events = POLLOUT };

                if (poll(&p, 1, 2000) <= 0)
                        break;
                ASSERT_OK(send_ioas_alloc(s, 100 + (uint64_t) i));
                got++;
        }
        ASSERT_TRUE(got >= 64);
        ASSERT_TRUE(other_client_served());
        for (int i = 0; i < got; i++)
                EXPECT_OK(s, 100 + (uint64_t) i);
        close(s);
}

TEST(client_vanishing_mid_stream_harms_nobody) {
        int s = raw_connect(), fd = memfd();

        ASSERT_OK(send_hello(s, 1, 1));
        ASSERT_OK(send_ioas_alloc(s, 2));
        for (int i = 0; i < 30; i++)
                ASSERT_OK(send_map(s, 10 + (uint64_t) i, 1, &fd, 1));
        close(s);
        close(fd);
        ASSERT_TRUE(other_client_served());
}

/*
 * A Hello client_name (any string a client sends) is data: a newline and a
 * "<0>" in it must not make a log record of its own at a priority the
 * client chose.  The daemon writes control characters as \xNN.
 */
TEST(client_strings_never_forge_a_log_record) {
        static const char name[] = "vmm\n<0>iommu-brokerd: forged record\r";
        TestBroker b;
        ib_client *c = NULL;
        bool escaped = false, forged = false, closed = false;

        ASSERT_OK(test_broker_start_logged(&b, "--log-level=info"));
        ASSERT_OK(ib_client_connect(b.socket, name, &c));
        ib_client_free(c);
        /* the session's close is logged after its hello */
        for (int i = 0; i < 200 && !closed; i++) {
                char line[4096];
                FILE *f = fopen(b.log, "re");

                escaped = forged = false;
                while (f && fgets(line, sizeof(line), f)) {
                        escaped |= strstr(line, "hello from") &&
                                   strstr(line, "vmm\\x0a<0>iommu-brokerd: forged record\\x0d") != NULL;
                        forged |= strncmp(line, "<0>", 3) == 0 || strncmp(line, "iommu-brokerd: forged", 21) == 0;
                        closed |= strstr(line, "session 1 closed") != NULL;
                }
                if (f)
                        fclose(f);
                if (!closed)
                        usleep(10000);
        }
        ASSERT_TRUE(closed);
        ASSERT_TRUE(escaped);
        ASSERT_TRUE(!forged);
        ASSERT_EQ(test_broker_stop(&b), 0);
}

static int setup(void) {
        return test_broker_start(&broker, NULL);
}

static void teardown(void) {
        int r = test_broker_stop(&broker);

        if (r != 0)
                printf("# the broker exited with status %d\n", r);
}

TESTS_MAIN(setup, teardown)

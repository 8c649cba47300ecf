/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client-resume.c - the client library across a broker restart.
 *
 * A fake broker on a temporary SOCK_SEQPACKET socket (this process: a
 * thread answers Hello, or runs the broker's side of a synchronous call)
 * reads the library's requests and writes the replies a restarted broker
 * writes: the answer to the request the dead one was working on (maybe a
 * not_applied ECANCELED), an answer sent again (a duplicate), a
 * ResumedEvent naming the last request read and the first one still
 * unread.  The library must send again, same id, same bytes, a not_applied
 * request without fds (once, in the order of sending), complete one with
 * fds with the reply, send nothing else again whatever the event's ids say
 * (a request not answered yet is still pending), drop duplicates without a
 * word, run each callback exactly once, keep a synchronous call waiting,
 * and count the restarts (docs/protocol.md, "Restarts").
 *
 * And coalescing (client/coalesce.c): async maps by handle and unmaps made
 * while a request is in flight go together as one Batch (stop_on_error
 * false) once the caller processes, each callback answered from its own
 * result; an operation a restart stopped the Batch before goes again, ahead
 * of later requests, in the form the broker now serving takes.
 *
 * And what a broker that goes away or answers wrongly must not do to the
 * library: a queued request completes once (never after a negative return,
 * never into a returned synchronous call), an answer of another verb or
 * kind is EPROTO, and a local connect failure still says why.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "common/macro.h"
#include "common/scm.h"
#include "proto/broker.pb-c.h"
#include "tests/lib/tests.h"

#define MAP_FLAGS (IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA)

typedef struct Fake {
        char dir[64];
        char path[108];                 /* fits sun_path */
        int listen_fd;
        int fd;                         /* the broker's end of the connection */
        ib_client *c;
        pthread_t thread;
        bool running;
        void (*script)(struct Fake *f);
        char script_error[256];         /* what a script found wrong; "" */
        uint64_t got_iova;              /* a script's result, for the main thread */
        bool packed;                    /* Hello offers FEATURE_BATCH_PACKED */
        unsigned in_flight;             /* Hello's max_requests_in_flight; 0: 64 */
} Fake;

#define FAKE_NULL { .listen_fd = -1, .fd = -1 }

/* One request as the fake broker read it: decoded, its bytes, its fds. */
typedef struct Got {
        Ib__V1__Request *req;
        uint8_t raw[4096];
        size_t size;
        int fds[4];
        size_t n_fds;
} Got;

#define GOT_NULL { .fds = { -1, -1, -1, -1 } }

static void got_clear(Got *g) {
        if (g->req)
                ib__v1__request__free_unpacked(g->req, NULL);
        g->req = NULL;
        for (size_t i = 0; i < g->n_fds; i++)
                safe_close(g->fds[i]);
        g->n_fds = 0;
}

/* Reads the next request within 5 s; 0 or -errno. */
static int fake_read(Fake *f, Got *g) {
        struct pollfd p = { .fd = f->fd, .events = POLLIN };
        unsigned flags;
        ssize_t n;

        got_clear(g);
        if (poll(&p, 1, 5000) <= 0)
                return -ETIMEDOUT;
        n = scm_recv(f->fd, g->raw, sizeof(g->raw), g->fds, ELEMENTSOF(g->fds), &g->n_fds, &flags);
        if (n <= 0 || flags != 0)
                return n < 0 ? (int) n : -EBADMSG;
        g->size = (size_t) n;
        g->req = ib__v1__request__unpack(NULL, g->size, g->raw);
        return g->req ? 0 : -EBADMSG;
}

/* Whether the library sent nothing more within 100 ms. */
static bool fake_quiet(Fake *f) {
        struct pollfd p = { .fd = f->fd, .events = POLLIN };

        return poll(&p, 1, 100) == 0;
}

static bool same_bytes(const Got *a, const Got *b) {
        return a->size == b->size && memcmp(a->raw, b->raw, a->size) == 0;
}

static int fake_send(Fake *f, Ib__V1__Reply *reply) {
        uint8_t buf[4096];
        size_t n = ib__v1__reply__pack(reply, buf);

        return scm_send(f->fd, buf, n, NULL, 0) < 0 ? -EIO : 0;
}

static int fake_answer_map(Fake *f, uint64_t id, uint64_t iova) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__MapReply map = IB__V1__MAP_REPLY__INIT;

        reply.id = id;
        map.iova = iova;
        reply.result_case = IB__V1__REPLY__RESULT_MAP;
        reply.map = &map;
        return fake_send(f, &reply);
}

static int fake_fail(Fake *f, uint64_t id, int errnum, const char *name, const char *sentence, bool not_applied) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;

        reply.id = id;
        reply.has_errnum = true;
        reply.errnum = errnum;
        reply.errno_name = (char *) name;
        reply.error = (char *) sentence;
        reply.has_not_applied = not_applied;
        reply.not_applied = not_applied;
        return fake_send(f, &reply);
}

#define NOT_APPLIED_SENTENCE "the broker restarted before this request changed anything; it was not applied"

static int fake_not_applied(Fake *f, uint64_t id) {
        return fake_fail(f, id, ECANCELED, "ECANCELED", NOT_APPLIED_SENTENCE, true);
}

/* A ResumedEvent; with n_features features (a broker from before ResumedEvent.features sends none). */
static int fake_resumed_offering(Fake *f, uint64_t last, uint64_t next, const Ib__V1__Feature *features,
                                 size_t n_features) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__ResumedEvent ev = IB__V1__RESUMED_EVENT__INIT;

        ev.has_last_request_id = true;
        ev.last_request_id = last;
        ev.has_next_request_id = true;
        ev.next_request_id = next;
        ev.features = (Ib__V1__Feature *) features;
        ev.n_features = n_features;
        reply.result_case = IB__V1__REPLY__RESULT_RESUMED;
        reply.resumed = &ev;
        return fake_send(f, &reply);
}

static int fake_resumed(Fake *f, uint64_t last, uint64_t next) {
        return fake_resumed_offering(f, last, next, NULL, 0);
}

static void *fake_accept_hello(void *userdata) {
        Fake *f = userdata;
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__HelloReply hello = IB__V1__HELLO_REPLY__INIT;
        Ib__V1__Limits limits = IB__V1__LIMITS__INIT;
        Ib__V1__Feature packed = IB__V1__FEATURE__FEATURE_BATCH_PACKED;
        Got g = GOT_NULL;

        f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (f->fd < 0 || fake_read(f, &g) < 0 || g.req->verb_case != IB__V1__REQUEST__VERB_HELLO) {
                got_clear(&g);
                return NULL;
        }
        limits.max_message_size = 65536;
        limits.max_fds_per_message = 16;
        limits.max_requests_in_flight = f->in_flight ?: 64;
        limits.max_batch_ops = 256;
        limits.max_iova_ranges = 64;
        hello.protocol_version = 1;
        hello.server_version = (char *) "fake";
        hello.limits = &limits;
        hello.session = 1;
        if (f->packed) {
                hello.features = &packed;
                hello.n_features = 1;
        }
        reply.id = g.req->id;
        reply.result_case = IB__V1__REPLY__RESULT_HELLO;
        reply.hello = &hello;
        (void) fake_send(f, &reply);
        got_clear(&g);
        return NULL;
}

static void fake_stop(Fake *f) {
        if (f->running)
                (void) pthread_join(f->thread, NULL);
        f->running = false;
        f->c = ib_client_free(f->c);
        safe_close(f->fd);
        safe_close(f->listen_fd);
        f->fd = f->listen_fd = -1;
        if (f->path[0])
                (void) unlink(f->path);
        if (f->dir[0])
                (void) rmdir(f->dir);
        f->path[0] = f->dir[0] = '\0';
}

/* A listening socket, a connected client, Hello answered (request id 1). */
static int fake_start(Fake *f) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        pthread_t t;
        int r;

        snprintf(f->dir, sizeof(f->dir), "/tmp/ib-resume.XXXXXX");
        if (!mkdtemp(f->dir))
                return -errno;
        snprintf(f->path, sizeof(f->path), "%s/vmm.sock", f->dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
        f->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(f->listen_fd, 1) < 0)
                return -errno;
        r = -pthread_create(&t, NULL, fake_accept_hello, f);
        if (r < 0)
                return r;
        r = ib_client_connect(f->path, "test-client-resume", &f->c);
        (void) pthread_join(t, NULL);
        /* most tests here follow single requests; the coalescing tests turn it on again */
        if (r >= 0)
                r = ib_client_set_coalescing(f->c, false);
        return r;
}

static void *fake_script_thread(void *userdata) {
        Fake *f = userdata;

        f->script(f);
        return NULL;
}

/* Runs script as the broker while the caller makes a synchronous call; fake_join() waits for it. */
static int fake_run(Fake *f, void (*script)(Fake *f)) {
        f->script = script;
        f->script_error[0] = '\0';
        if (pthread_create(&f->thread, NULL, fake_script_thread, f) != 0)
                return -EAGAIN;
        f->running = true;
        return 0;
}

static const char *fake_join(Fake *f) {
        if (f->running)
                (void) pthread_join(f->thread, NULL);
        f->running = false;
        return f->script_error;
}

#define SCRIPT_CHECK(f, expr)                                                                   \
        do {                                                                                    \
                if (!(expr)) {                                                                  \
                        snprintf((f)->script_error, sizeof((f)->script_error), "%s:%d: %s",     \
                                 __FILE__, __LINE__, #expr);                                    \
                        return;                                                                 \
                }                                                                               \
        } while (0)

/* What one async callback saw, and how often it ran. */
typedef struct Done {
        int calls;
        int error;
        uint64_t iova;
        char message[256];
} Done;

static void on_done(ib_client *c, const ib_result *result, void *userdata) {
        Done *d = userdata;

        d->calls++;
        d->error = result->error;
        d->iova = result->iova;
        snprintf(d->message, sizeof(d->message), "%s", result->message ?: "");
}

static int map_mem_async(Fake *f, uint64_t iova, Done *d) {
        return ib_map_mem_async(f->c, /* ioas= */ 1, /* mem= */ 1, 0, 4096, MAP_FLAGS, iova, on_done, d);
}

static int new_memfd(void) {
        int fd = memfd_create("test-client-resume", MFD_CLOEXEC);

        if (fd < 0 || ftruncate(fd, 4096) < 0)
                return -errno;
        return fd;
}

static void fake_stopp(Fake *f) {
        fake_stop(f);
}

static void got_clearp(Got *g) {
        got_clear(g);
}

/*
 * (a) Two maps in flight, the first answered, then the restart: the second
 * is still in the socket (next), nothing goes again, its answer comes later.
 */
TEST(request_unanswered_at_the_event_stays_pending) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL;
        Done d1 = {}, d2 = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_EQ(ib_client_restarts(f.c), 0);
        ASSERT_OK(map_mem_async(&f, 0x10000, &d1));
        ASSERT_OK(map_mem_async(&f, 0x20000, &d2));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_U64_EQ(g2.req->id, g1.req->id + 1);

        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        ASSERT_OK(fake_resumed(&f, g1.req->id, g2.req->id));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d1.calls, 1);
        ASSERT_EQ(d1.error, 0);
        ASSERT_U64_EQ(d1.iova, 0x10000);
        ASSERT_EQ(d2.calls, 0);
        ASSERT_EQ(ib_client_restarts(f.c), 1);
        ASSERT_EQ(ib_client_pending(f.c), 1);
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(fake_answer_map(&f, g2.req->id, 0x20000));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d1.calls, 1);
        ASSERT_EQ(d2.calls, 1);
        ASSERT_EQ(d2.error, 0);
        ASSERT_U64_EQ(d2.iova, 0x20000);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/*
 * (b) A request with an fd that the event's ids place after the last one
 * read and before none (next 0: it reached the socket after the new broker
 * looked) is not failed: it stays pending and gets its answer.
 */
TEST(request_with_fds_unanswered_at_the_event_stays_pending) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL;
        _cleanup_close_ int memfd = new_memfd();
        Done d1 = {}, d2 = {};

        ASSERT_OK(memfd);
        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d1));
        ASSERT_OK(ib_map_async(f.c, 1, memfd, 0, 4096, MAP_FLAGS, 0x20000, on_done, &d2));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_EQ(g2.n_fds, 1);

        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        ASSERT_OK(fake_resumed(&f, g1.req->id, 0));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d1.calls, 1);
        ASSERT_EQ(d1.error, 0);
        ASSERT_EQ(d2.calls, 0);
        ASSERT_EQ(ib_client_pending(f.c), 1);
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(fake_answer_map(&f, g2.req->id, 0x20000));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d2.calls, 1);
        ASSERT_EQ(d2.error, 0);
        ASSERT_U64_EQ(d2.iova, 0x20000);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

static void script_event_then_answer(Fake *f) {
        Got g = GOT_NULL;

        SCRIPT_CHECK(f, fake_read(f, &g) == 0);
        SCRIPT_CHECK(f, g.n_fds == 1);
        /* the Hello (id 1) was the last request read, and the socket looked empty */
        SCRIPT_CHECK(f, fake_resumed(f, g.req->id - 1, 0) == 0);
        SCRIPT_CHECK(f, fake_quiet(f));
        SCRIPT_CHECK(f, fake_answer_map(f, g.req->id, 0x30000) == 0);
        got_clear(&g);
}

/* (b) The same through the synchronous ib_map(): it goes on waiting and returns the answer. */
TEST(sync_call_with_fds_waits_across_the_event) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_close_ int memfd = new_memfd();
        uint64_t iova = 0;

        ASSERT_OK(memfd);
        ASSERT_OK(fake_start(&f));
        ASSERT_OK(fake_run(&f, script_event_then_answer));
        ASSERT_OK(ib_map(f.c, 1, memfd, 0, 4096, MAP_FLAGS, &iova));
        ASSERT_U64_EQ(iova, 0x30000);
        ASSERT_STREQ(fake_join(&f), "");
        ASSERT_EQ(ib_client_restarts(f.c), 1);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/* (c) not_applied to a request without fds: sent again (at the ResumedEvent that follows), then answered. */
TEST(not_applied_without_fds_is_sent_again) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL;
        Done d = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_not_applied(&f, g1.req->id));
        ASSERT_OK(fake_resumed(&f, g1.req->id, 0));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d.calls, 0);

        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_U64_EQ(g2.req->id, g1.req->id);
        ASSERT_TRUE(same_bytes(&g1, &g2));
        ASSERT_TRUE(fake_quiet(&f));
        ASSERT_OK(fake_answer_map(&f, g2.req->id, 0x10000));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d.calls, 1);
        ASSERT_EQ(d.error, 0);
        ASSERT_U64_EQ(d.iova, 0x10000);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/* (c) not_applied to a request with fds: completes with ECANCELED and the broker's sentence, not sent again. */
TEST(not_applied_with_fds_completes_with_the_reply) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g = GOT_NULL;
        _cleanup_close_ int memfd = new_memfd();
        Done d = {};

        ASSERT_OK(memfd);
        ASSERT_OK(fake_start(&f));
        ASSERT_OK(ib_map_async(f.c, 1, memfd, 0, 4096, MAP_FLAGS, 0x10000, on_done, &d));
        ASSERT_OK(fake_read(&f, &g));
        ASSERT_OK(fake_not_applied(&f, g.req->id));
        ASSERT_OK(fake_resumed(&f, g.req->id, 0));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d.calls, 1);
        ASSERT_ERRNO(ECANCELED, d.error);
        ASSERT_STREQ(d.message, NOT_APPLIED_SENTENCE);
        ASSERT_TRUE(fake_quiet(&f));
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

static void script_not_applied(Fake *f) {
        Got g1 = GOT_NULL, g2 = GOT_NULL;

        SCRIPT_CHECK(f, fake_read(f, &g1) == 0);
        SCRIPT_CHECK(f, fake_not_applied(f, g1.req->id) == 0);
        SCRIPT_CHECK(f, fake_resumed(f, g1.req->id, 0) == 0);
        SCRIPT_CHECK(f, fake_read(f, &g2) == 0);
        SCRIPT_CHECK(f, g2.req->id == g1.req->id && same_bytes(&g1, &g2));
        SCRIPT_CHECK(f, fake_answer_map(f, g2.req->id, 0x40000) == 0);
        got_clear(&g1);
        got_clear(&g2);
}

/* (c) A synchronous call keeps waiting across the restart and returns the answer to the copy sent again. */
TEST(sync_call_waits_across_not_applied) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        uint64_t iova = 0;

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(fake_run(&f, script_not_applied));
        ASSERT_OK(ib_map_mem(f.c, 1, 1, 0, 4096, MAP_FLAGS, 0x40000, &iova));
        ASSERT_U64_EQ(iova, 0x40000);
        ASSERT_STREQ(fake_join(&f), "");
        ASSERT_EQ(ib_client_restarts(f.c), 1);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/* (d) The same id answered twice: the second is dropped, and not kept to explain a later hang-up. */
TEST(duplicate_reply_is_ignored) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g = GOT_NULL;
        Done d = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d));
        ASSERT_OK(fake_read(&f, &g));
        ASSERT_OK(fake_answer_map(&f, g.req->id, 0x10000));
        ASSERT_OK(fake_fail(&f, g.req->id, EEXIST, "EEXIST", "a duplicate that must not be seen", false));
        ASSERT_OK(fake_answer_map(&f, g.req->id, 0x10000));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d.calls, 1);
        ASSERT_EQ(d.error, 0);
        ASSERT_U64_EQ(d.iova, 0x10000);
        ASSERT_TRUE(strstr(ib_client_error(f.c), "duplicate") == NULL);

        safe_close(f.fd);
        f.fd = -1;
        ASSERT_ERRNO(ECONNRESET, ib_client_process(f.c));
        ASSERT_STREQ(ib_client_error(f.c), "the broker closed the connection");
}

/* An error reply with id 0 still explains the hang-up that follows it. */
TEST(id_zero_error_explains_the_hang_up) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(fake_fail(&f, 0, ETIMEDOUT, "ETIMEDOUT", "no Hello within 10 s of connecting", false));
        safe_close(f.fd);
        f.fd = -1;
        ASSERT_ERRNO(ETIMEDOUT, ib_client_process(f.c));
        ASSERT_STREQ(ib_client_error(f.c), "no Hello within 10 s of connecting");
}

/*
 * (e) Three in flight: the dead broker answered A and B, the new one sends
 * B's answer again (a duplicate: it was waiting in the dead one) and the
 * event, B last, C next.  Nothing goes again; C is answered later.
 */
TEST(answered_and_unread_requests_are_not_sent_again) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got ga = GOT_NULL, gb = GOT_NULL, gc = GOT_NULL;
        Done da = {}, db = {}, dc = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &da));
        ASSERT_OK(map_mem_async(&f, 0x20000, &db));
        ASSERT_OK(map_mem_async(&f, 0x30000, &dc));
        ASSERT_OK(fake_read(&f, &ga));
        ASSERT_OK(fake_read(&f, &gb));
        ASSERT_OK(fake_read(&f, &gc));

        ASSERT_OK(fake_answer_map(&f, ga.req->id, 0x10000));
        ASSERT_OK(fake_answer_map(&f, gb.req->id, 0x20000));
        ASSERT_OK(fake_answer_map(&f, gb.req->id, 0x20000));
        ASSERT_OK(fake_resumed(&f, gb.req->id, gc.req->id));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(da.calls, 1);
        ASSERT_EQ(db.calls, 1);
        ASSERT_U64_EQ(db.iova, 0x20000);
        ASSERT_EQ(dc.calls, 0);
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(fake_answer_map(&f, gc.req->id, 0x30000));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(da.calls, 1);
        ASSERT_EQ(db.calls, 1);
        ASSERT_EQ(dc.calls, 1);
        ASSERT_U64_EQ(dc.iova, 0x30000);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/*
 * not_applied to A while B and C wait in the socket: A's copy goes after
 * them.  The broker restarts again before reading anything and repeats its
 * not_applied (a duplicate), next naming B: A's copy went after B, so it is
 * still unread, although A's id is below B's; nothing goes a third time.
 * Then the broker reads B, C and A's copy, answers B and C, and restarts
 * while working on the copy: a not_applied that is no duplicate (next 0),
 * so A goes again.
 */
TEST(not_applied_follows_the_order_of_sending) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got ga = GOT_NULL, gb = GOT_NULL, gc = GOT_NULL, g = GOT_NULL;
        Done da = {}, db = {}, dc = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &da));
        ASSERT_OK(map_mem_async(&f, 0x20000, &db));
        ASSERT_OK(map_mem_async(&f, 0x30000, &dc));
        ASSERT_OK(fake_read(&f, &ga));
        ASSERT_OK(fake_read(&f, &gb));
        ASSERT_OK(fake_read(&f, &gc));

        ASSERT_OK(fake_not_applied(&f, ga.req->id));
        ASSERT_OK(fake_resumed(&f, ga.req->id, gb.req->id));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_OK(fake_read(&f, &g));
        ASSERT_U64_EQ(g.req->id, ga.req->id);
        ASSERT_TRUE(same_bytes(&g, &ga));
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(fake_not_applied(&f, ga.req->id));
        ASSERT_OK(fake_resumed(&f, ga.req->id, gb.req->id));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(ib_client_restarts(f.c), 2);
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(fake_answer_map(&f, gb.req->id, 0x20000));
        ASSERT_OK(fake_answer_map(&f, gc.req->id, 0x30000));
        ASSERT_OK(fake_not_applied(&f, ga.req->id));
        ASSERT_OK(fake_resumed(&f, ga.req->id, 0));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(ib_client_restarts(f.c), 3);
        ASSERT_EQ(db.calls, 1);
        ASSERT_EQ(dc.calls, 1);
        ASSERT_EQ(da.calls, 0);
        ASSERT_OK(fake_read(&f, &g));
        ASSERT_U64_EQ(g.req->id, ga.req->id);
        ASSERT_TRUE(same_bytes(&g, &ga));
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(fake_answer_map(&f, ga.req->id, 0x10000));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(da.calls, 1);
        ASSERT_EQ(da.error, 0);
        ASSERT_U64_EQ(da.iova, 0x10000);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/*
 * not_applied, sent again; the broker restarts again before reading the
 * copy and repeats its not_applied answer (a duplicate) with next naming the
 * copy: the copy is still unread, so nothing goes a third time.
 */
TEST(repeated_not_applied_with_copy_unread_is_not_sent_again) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL;
        Done d = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_not_applied(&f, g1.req->id));
        ASSERT_OK(fake_resumed(&f, g1.req->id, 0));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_U64_EQ(g2.req->id, g1.req->id);

        ASSERT_OK(fake_not_applied(&f, g1.req->id));
        ASSERT_OK(fake_resumed(&f, g1.req->id, g1.req->id));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(ib_client_restarts(f.c), 2);
        ASSERT_TRUE(fake_quiet(&f));
        ASSERT_EQ(d.calls, 0);

        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_EQ(d.calls, 1);
        ASSERT_EQ(d.error, 0);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/* (f) ib_client_restarts() counts the ResumedEvents, with or without requests in flight. */
TEST(restarts_are_counted) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;

        ASSERT_EQ(ib_client_restarts(NULL), 0);
        ASSERT_OK(fake_start(&f));
        ASSERT_EQ(ib_client_restarts(f.c), 0);
        ASSERT_OK(fake_resumed(&f, 1, 0));
        ASSERT_EQ(ib_client_process(f.c), 1);
        ASSERT_EQ(ib_client_restarts(f.c), 1);
        ASSERT_OK(fake_resumed(&f, 1, 0));
        ASSERT_OK(fake_resumed(&f, 1, 0));
        ASSERT_EQ(ib_client_process(f.c), 2);
        ASSERT_EQ(ib_client_restarts(f.c), 3);
        ASSERT_TRUE(fake_quiet(&f));
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/* Processes until nothing is pending (the answers are in the socket already). */
static int drain(Fake *f) {
        while (ib_client_pending(f->c) > 0) {
                int r = ib_client_process(f->c);

                if (r < 0)
                        return r;
        }
        return 0;
}

#define ASSERT_DONE_ONCE(d, err, at)                    \
        do {                                            \
                ASSERT_EQ((d).calls, 1);                \
                ASSERT_EQ((d).error, (err));            \
                ASSERT_U64_EQ((d).iova, (at));          \
        } while (0)

static int fake_answer_batch(Fake *f, const Got *g, const int *errs, const char *const *sentences,
                             const bool *not_applied) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__BatchReply batch = IB__V1__BATCH_REPLY__INIT;
        Ib__V1__BatchResult res[16], *resp[16];
        Ib__V1__MapReply maps[16];
        Ib__V1__UnmapReply unmaps[16];
        size_t n = g->req->batch->n_ops;

        if (n > 16)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                const Ib__V1__BatchOp *op = g->req->batch->ops[i];

                ib__v1__batch_result__init(&res[i]);
                ib__v1__map_reply__init(&maps[i]);
                ib__v1__unmap_reply__init(&unmaps[i]);
                resp[i] = &res[i];
                if (not_applied && not_applied[i]) {
                        res[i].has_errnum = res[i].has_not_applied = res[i].not_applied = true;
                        res[i].errnum = ECANCELED;
                        res[i].errno_name = (char *) "ECANCELED";
                        res[i].error = (char *) NOT_APPLIED_SENTENCE;
                } else if (errs && errs[i]) {
                        res[i].has_errnum = true;
                        res[i].errnum = errs[i];
                        res[i].errno_name = (char *) "EEXIST";
                        res[i].error = (char *) sentences[i];
                } else if (op->op_case == IB__V1__BATCH_OP__OP_MAP) {
                        maps[i].iova = op->map->iova;
                        res[i].result_case = IB__V1__BATCH_RESULT__RESULT_MAP;
                        res[i].map = &maps[i];
                } else {
                        unmaps[i].length = op->unmap->length;
                        res[i].result_case = IB__V1__BATCH_RESULT__RESULT_UNMAP;
                        res[i].unmap = &unmaps[i];
                }
        }
        batch.n_results = n;
        batch.results = resp;
        reply.id = g->req->id;
        reply.result_case = IB__V1__REPLY__RESULT_BATCH;
        reply.batch = &batch;
        return fake_send(f, &reply);
}

/* A Batch as coalescing sends it: n ops, each a Map by handle at iovas[i] (0: an Unmap), none stopping the rest. */
static bool is_bundle(const Got *g, size_t n, const uint64_t *iovas) {
        const Ib__V1__BatchRequest *b = g->req->batch;

        if (g->req->verb_case != IB__V1__REQUEST__VERB_BATCH || b->n_ops != n || g->n_fds != 0 ||
            !b->has_stop_on_error || b->stop_on_error)
                return false;
        for (size_t i = 0; i < n; i++) {
                const Ib__V1__BatchOp *op = b->ops[i];

                if (iovas[i] == 0 ? op->op_case != IB__V1__BATCH_OP__OP_UNMAP
                                  : op->op_case != IB__V1__BATCH_OP__OP_MAP || !op->map->has_mem ||
                                            op->map->iova != iovas[i])
                        return false;
        }
        return true;
}

/* fake_start() with coalescing on, then n async maps by handle at 0x10000, 0x20000, ... (d[i] theirs). */
static int coalescing_start(Fake *f, Done *d, size_t n) {
        int r = fake_start(f);

        if (r >= 0)
                r = ib_client_set_coalescing(f->c, true);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = map_mem_async(f, 0x10000 * (i + 1), &d[i]);
        return r;
}

/*
 * The first async map goes alone at once; three more (two maps, an unmap)
 * made while it is in flight wait (POLLOUT asks for ib_client_process()),
 * then go as one Batch; each callback runs once with its own result, the
 * failed one with the broker's sentence.
 */
TEST(async_ops_made_in_flight_go_as_one_batch) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL;
        static const uint64_t iovas[] = { 0x20000, 0x30000, 0 };
        static const int errs[] = { 0, EEXIST, 0 };
        static const char *const sentences[] = { NULL, "IOVA 0x30000-0x30fff overlaps an existing mapping", NULL };
        Done d[4] = {};

        ASSERT_OK(coalescing_start(&f, d, 3));
        ASSERT_OK(ib_unmap_async(f.c, 1, 0x10000, 4096, on_done, &d[3]));
        ASSERT_EQ(ib_client_pending(f.c), 4);
        ASSERT_TRUE(ib_client_get_events(f.c) & POLLOUT);
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_EQ(g1.req->verb_case, IB__V1__REQUEST__VERB_MAP);
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(ib_client_process(f.c));
        ASSERT_TRUE(!(ib_client_get_events(f.c) & POLLOUT));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_TRUE(is_bundle(&g2, 3, iovas));
        ASSERT_U64_EQ(g2.req->id, g1.req->id + 1);
        ASSERT_TRUE(fake_quiet(&f));

        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        ASSERT_OK(fake_answer_batch(&f, &g2, errs, sentences, NULL));
        ASSERT_OK(drain(&f));
        ASSERT_EQ(d[0].calls, 1);
        ASSERT_EQ(d[0].error, 0);
        ASSERT_DONE_ONCE(d[1], 0, 0x20000);
        ASSERT_EQ(d[2].calls, 1);
        ASSERT_EQ(d[2].error, -EEXIST);
        ASSERT_STREQ(d[2].message, sentences[1]);
        ASSERT_EQ(d[3].calls, 1);
        ASSERT_EQ(d[3].error, 0);
        ASSERT_TRUE(fake_quiet(&f));
}

/* A request made after coalesced ones goes after their Batch: the order of making is the order of sending. */
TEST(a_later_request_closes_the_batch_first) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL, g3 = GOT_NULL;
        static const uint64_t iovas[] = { 0x20000, 0x30000 };
        Done d[4] = {};

        ASSERT_OK(coalescing_start(&f, d, 3));
        ASSERT_OK(ib_ioas_free_async(f.c, 7, on_done, &d[3]));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_TRUE(is_bundle(&g2, 2, iovas));
        ASSERT_OK(fake_read(&f, &g3));
        ASSERT_EQ(g3.req->verb_case, IB__V1__REQUEST__VERB_IOAS_FREE);
        ASSERT_TRUE(g1.req->id < g2.req->id && g2.req->id < g3.req->id);
        ASSERT_EQ(ib_client_pending(f.c), 4);
}

/* Turned off, every request goes alone at once; turning it off sends what waits. */
TEST(coalescing_off_sends_each_alone) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL, g3 = GOT_NULL;
        static const uint64_t iovas[] = { 0x20000 };
        Done d[3] = {};

        ASSERT_OK(coalescing_start(&f, d, 2));
        ASSERT_OK(ib_client_set_coalescing(f.c, false));
        ASSERT_OK(map_mem_async(&f, 0x30000, &d[2]));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_TRUE(is_bundle(&g2, 1, iovas));
        ASSERT_OK(fake_read(&f, &g3));
        ASSERT_EQ(g3.req->verb_case, IB__V1__REQUEST__VERB_MAP);
        ASSERT_U64_EQ(g3.req->map->iova, 0x30000);
}

/*
 * A restart stopped the Batch after its first operation: that one is
 * answered, the other two go again in a new Batch (no fds: as a request
 * without fds goes again), and their callbacks run once, with its answer.
 */
TEST(batch_ops_not_applied_go_again) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL, g3 = GOT_NULL;
        static const uint64_t iovas[] = { 0x20000, 0x30000, 0x40000 }, again[] = { 0x30000, 0x40000 };
        static const bool not_applied[] = { false, true, true };
        Done d[4] = {};

        ASSERT_OK(coalescing_start(&f, d, 4));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_TRUE(is_bundle(&g2, 3, iovas));

        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        ASSERT_OK(fake_answer_batch(&f, &g2, NULL, NULL, not_applied));
        ASSERT_OK(fake_resumed(&f, g2.req->id, 0));
        while (ib_client_restarts(f.c) == 0)
                ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_EQ(d[1].calls, 1);
        ASSERT_EQ(d[1].error, 0);
        ASSERT_EQ(d[2].calls, 0);
        ASSERT_EQ(d[3].calls, 0);
        ASSERT_EQ(ib_client_pending(f.c), 2);
        ASSERT_OK(fake_read(&f, &g3));
        ASSERT_TRUE(is_bundle(&g3, 2, again));
        ASSERT_OK(fake_answer_batch(&f, &g3, NULL, NULL, NULL));
        ASSERT_OK(drain(&f));
        ASSERT_DONE_ONCE(d[2], 0, 0x30000);
        ASSERT_EQ(d[3].calls, 1);
        ASSERT_U64_EQ(d[3].iova, 0x40000);
        ASSERT_TRUE(fake_quiet(&f));
}

/* The fake's side of a Batch of two maps, answered in the form it came in: IOVAs 0x1000 and 0x2000. */
static void script_batch_either(Fake *f, bool want_packed) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__BatchReply br = IB__V1__BATCH_REPLY__INIT;
        Ib__V1__BatchResult res[2] = { IB__V1__BATCH_RESULT__INIT, IB__V1__BATCH_RESULT__INIT };
        Ib__V1__BatchResult *resp[2] = { &res[0], &res[1] };
        Ib__V1__MapReply maps[2] = { IB__V1__MAP_REPLY__INIT, IB__V1__MAP_REPLY__INIT };
        uint64_t values[2] = { 0x1000, 0x2000 };
        Got g = GOT_NULL;

        SCRIPT_CHECK(f, fake_read(f, &g) >= 0 && g.req->verb_case == IB__V1__REQUEST__VERB_BATCH);
        if (want_packed ? g.req->batch->n_packed_ops != 10 || g.req->batch->n_ops != 0
                        : g.req->batch->n_packed_ops != 0 || g.req->batch->n_ops != 2) {
                /* answered all the same, so that the caller's call returns and the test fails, not hangs */
                (void) fake_fail(f, g.req->id, EPROTO, "EPROTO", "the batch came in the other form", false);
                got_clear(&g);
                SCRIPT_CHECK(f, !"the batch came in the form the broker offers");
        }
        reply.id = g.req->id;
        reply.result_case = IB__V1__REPLY__RESULT_BATCH;
        reply.batch = &br;
        if (want_packed) {
                br.packed_values = values;
                br.n_packed_values = 2;
        } else {
                for (size_t i = 0; i < 2; i++) {
                        maps[i].iova = values[i];
                        res[i].result_case = IB__V1__BATCH_RESULT__RESULT_MAP;
                        res[i].map = &maps[i];
                }
                br.results = resp;
                br.n_results = 2;
        }
        SCRIPT_CHECK(f, fake_send(f, &reply) >= 0);
        got_clear(&g);
}

static void script_batch_packed(Fake *f) {
        script_batch_either(f, true);
}

static void script_batch_ops(Fake *f) {
        script_batch_either(f, false);
}

/* Runs a Batch of two maps by handle against script; both IOVAs came back. */
static void run_two_maps(Fake *f, void (*script)(Fake *f)) {
        ib_batch *b = NULL;
        uint64_t v0 = 0, v1 = 0;

        ASSERT_OK(ib_batch_new(&b));
        ASSERT_OK(ib_batch_add_map_mem(b, 1, 1, 0, 4096, MAP_FLAGS, 0x1000));
        ib_batch_add_map_mem(b, 1, 1, 4096, 4096, MAP_FLAGS, 0x2000);
        ASSERT_OK(fake_run(f, script));
        ASSERT_OK(ib_batch_run(f->c, b, false));
        ASSERT_STREQ(fake_join(f), "");
        ASSERT_OK(ib_batch_result(b, 0, &v0, NULL));
        ASSERT_OK(ib_batch_result(b, 1, &v1, NULL));
        ASSERT_U64_EQ(v0, 0x1000);
        ASSERT_U64_EQ(v1, 0x2000);
        ib_batch_free(b);
}

/*
 * A restart may bring another version of the broker (an upgrade, or a
 * rollback): batches go packed only while the broker now serving offers it,
 * as its ResumedEvent says (one from before ResumedEvent.features lists
 * none, and took no packed ops either).
 */
TEST(packed_batches_follow_what_the_restarted_broker_offers) {
        const Ib__V1__Feature packed = IB__V1__FEATURE__FEATURE_BATCH_PACKED;
        Fake f = FAKE_NULL;

        f.packed = true;
        ASSERT_OK(fake_start(&f));
        run_two_maps(&f, script_batch_packed);
        if (tests_failed_now)
                goto out;
        ASSERT_OK(fake_resumed_offering(&f, 2, 0, NULL, 0));    /* an older broker took over */
        ASSERT_OK(ib_client_process(f.c));
        run_two_maps(&f, script_batch_ops);
        if (tests_failed_now)
                goto out;
        ASSERT_OK(fake_resumed_offering(&f, 3, 0, &packed, 1)); /* and a newer one again */
        ASSERT_OK(ib_client_process(f.c));
        run_two_maps(&f, script_batch_packed);
out:
        fake_stop(&f);
}

/* A broker's answer to a packed Batch that does not fit it: what the script sends (set by the test). */
static enum { BAD_FEW_VALUES, BAD_INDEX_OUT_OF_RANGE, BAD_INDEX_TWICE } bad_answer;

static void script_batch_bad_answer(Fake *f) {
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__BatchReply br = IB__V1__BATCH_REPLY__INIT;
        Ib__V1__BatchResult res[2] = { IB__V1__BATCH_RESULT__INIT, IB__V1__BATCH_RESULT__INIT };
        Ib__V1__BatchResult *resp[2] = { &res[0], &res[1] };
        uint64_t values[2] = { 0x1000, 0 };
        Got g = GOT_NULL;

        SCRIPT_CHECK(f, fake_read(f, &g) >= 0 && g.req->verb_case == IB__V1__REQUEST__VERB_BATCH);
        reply.id = g.req->id;
        reply.result_case = IB__V1__REPLY__RESULT_BATCH;
        reply.batch = &br;
        br.packed_values = values;
        br.n_packed_values = bad_answer == BAD_FEW_VALUES ? 1 : 2;
        for (size_t i = 0; i < 2; i++) {
                res[i].has_errnum = true;
                res[i].errnum = ENOENT;
                res[i].has_index = true;
                res[i].index = bad_answer == BAD_INDEX_OUT_OF_RANGE ? 5 : 1;
        }
        br.results = resp;
        br.n_results = bad_answer == BAD_INDEX_TWICE ? 2 : 1;
        SCRIPT_CHECK(f, fake_send(f, &reply) >= 0);
        got_clear(&g);
}

/* An answer that does not fit the packed Batch it answers is the broker's EPROTO, with no results. */
TEST(a_packed_answer_that_does_not_fit_is_eproto) {
        static const char *const sentences[] = { "with 1 values", "names no failed operation",
                                                 "names no failed operation" };

        for (int k = BAD_FEW_VALUES; k <= BAD_INDEX_TWICE; k++) {
                Fake f = FAKE_NULL;
                ib_batch *b = NULL;
                int r;

                f.packed = true;
                ASSERT_OK(fake_start(&f));
                bad_answer = k;
                ASSERT_OK(ib_batch_new(&b));
                ib_batch_add_map_mem(b, 1, 1, 0, 4096, MAP_FLAGS, 0x1000);
                ib_batch_add_map_mem(b, 1, 1, 4096, 4096, MAP_FLAGS, 0x2000);
                ASSERT_OK(fake_run(&f, script_batch_bad_answer));
                r = ib_batch_run(f.c, b, false);
                ASSERT_STREQ(fake_join(&f), "");
                printf("# answer %d: %s\n", k, ib_client_error(f.c));
                ASSERT_ERRNO(EPROTO, r);
                ASSERT_TRUE(strstr(ib_client_error(f.c), sentences[k]) != NULL);
                ASSERT_ERRNO(EINVAL, ib_batch_result(b, 0, NULL, NULL));       /* no results: it did not run */
                ib_batch_free(b);
                fake_stop(&f);
        }
}

/* ------------------------------------------------------------------ a broker that goes away, a wrong answer */

/* The broker's end closes: the library sees EPIPE or ECONNRESET from here on. */
static void fake_hang_up(Fake *f) {
        f->fd = safe_close(f->fd);
}

static int cb_calls;

static void on_count(ib_client *c, const ib_result *result, void *userdata) {
        cb_calls++;
        if (userdata)
                on_done(c, result, userdata);
}

/*
 * A coalesced Batch that cannot be sent (the broker is gone) answers each
 * of its operations once, with the error: the bundle was freed by the
 * failed send and then read and freed again.
 */
TEST(a_batch_that_cannot_be_sent_answers_each_op_once) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g = GOT_NULL;
        Done d[3] = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(ib_client_set_coalescing(f.c, true));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d[0]));   /* alone, at once */
        ASSERT_OK(map_mem_async(&f, 0x20000, &d[1]));   /* these two wait in the bundle */
        ASSERT_OK(map_mem_async(&f, 0x30000, &d[2]));
        ASSERT_OK(fake_read(&f, &g));
        fake_hang_up(&f);
        ASSERT_TRUE(ib_client_process(f.c) < 0);
        for (size_t i = 0; i < ELEMENTSOF(d); i++) {
                ASSERT_EQ(d[i].calls, 1);
                ASSERT_TRUE(d[i].error < 0);
        }
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

static Done in_cb_async;
static int in_cb_async_r = 1, in_cb_sync_r = 1;

/* Made from a callback while an earlier request waits unsent and the broker is gone. */
static void on_first_answered(ib_client *c, const ib_result *result, void *userdata) {
        uint64_t length = 0;

        in_cb_async_r = ib_ioas_free_async(c, 9, on_count, &in_cb_async);
        in_cb_sync_r = ib_unmap(c, 1, 0, 4096, &length);   /* its wait lives in this frame */
}

/*
 * A request that the library queued is answered through its callback, once;
 * a request it says it could not queue (a negative return) never is.  Here
 * an earlier request cannot be sent when the later ones are made: they are
 * queued (0), then complete with the connection's end, and the synchronous
 * one returns its error without a later write into its returned frame.
 */
TEST(a_request_queued_behind_a_failed_send_completes_once) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g = GOT_NULL;
        Done second = {};

        f.in_flight = 1;
        ASSERT_OK(fake_start(&f));
        in_cb_async = (Done) {};
        cb_calls = 0;
        ASSERT_OK(ib_ioas_free_async(f.c, 1, on_first_answered, NULL));    /* sent */
        ASSERT_OK(ib_ioas_free_async(f.c, 2, on_count, &second));          /* waits: one in flight */
        ASSERT_OK(fake_read(&f, &g));
        {
                Ib__V1__Reply reply = IB__V1__REPLY__INIT;
                Ib__V1__IoasFreeReply fr = IB__V1__IOAS_FREE_REPLY__INIT;

                reply.id = g.req->id;
                reply.result_case = IB__V1__REPLY__RESULT_IOAS_FREE;
                reply.ioas_free = &fr;
                ASSERT_OK(fake_send(&f, &reply));
        }
        fake_hang_up(&f);
        ASSERT_TRUE(ib_client_process(f.c) < 0);
        ASSERT_EQ(in_cb_async_r, 0);
        ASSERT_TRUE(in_cb_sync_r < 0);
        ASSERT_EQ(in_cb_async.calls, 1);
        ASSERT_TRUE(in_cb_async.error < 0);
        ASSERT_EQ(second.calls, 1);
        ASSERT_TRUE(second.error < 0);
        ASSERT_EQ(cb_calls, 2);
        ASSERT_EQ(ib_client_pending(f.c), 0);
}

/* An answer without error carries its verb's result (docs/protocol.md); one of another verb is EPROTO. */
TEST(an_answer_of_another_verb_is_eproto) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g = GOT_NULL;
        Done d = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d));
        ASSERT_OK(fake_read(&f, &g));
        {
                Ib__V1__Reply reply = IB__V1__REPLY__INIT;
                Ib__V1__IoasAllocReply ia = IB__V1__IOAS_ALLOC_REPLY__INIT;

                reply.id = g.req->id;
                ia.ioas = 5;
                reply.result_case = IB__V1__REPLY__RESULT_IOAS_ALLOC;
                reply.ioas_alloc = &ia;
                ASSERT_OK(fake_send(&f, &reply));
        }
        ASSERT_OK(drain(&f));
        ASSERT_EQ(d.calls, 1);
        ASSERT_EQ(d.error, -EPROTO);
        ASSERT_U64_EQ(d.iova, 0);
        ASSERT_TRUE(strstr(d.message, "another verb") != NULL);

        /* no result at all is no answer either */
        d = (Done) {};
        ASSERT_OK(map_mem_async(&f, 0x10000, &d));
        ASSERT_OK(fake_read(&f, &g));
        {
                Ib__V1__Reply reply = IB__V1__REPLY__INIT;

                reply.id = g.req->id;
                ASSERT_OK(fake_send(&f, &reply));
        }
        ASSERT_OK(drain(&f));
        ASSERT_EQ(d.calls, 1);
        ASSERT_EQ(d.error, -EPROTO);
}

/* A Batch (not packed) whose result for a map is an unmap's: EPROTO for every operation, no value read. */
TEST(a_batch_result_of_another_kind_is_eproto) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL;
        Done d[2] = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(ib_client_set_coalescing(f.c, true));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d[0]));
        ASSERT_OK(map_mem_async(&f, 0x20000, &d[1]));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_EQ(g2.req->verb_case, IB__V1__REQUEST__VERB_BATCH);
        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        {
                Ib__V1__Reply reply = IB__V1__REPLY__INIT;
                Ib__V1__BatchReply br = IB__V1__BATCH_REPLY__INIT;
                Ib__V1__BatchResult res = IB__V1__BATCH_RESULT__INIT, *resp = &res;
                Ib__V1__UnmapReply um = IB__V1__UNMAP_REPLY__INIT;

                um.length = 0x777000;
                res.result_case = IB__V1__BATCH_RESULT__RESULT_UNMAP;
                res.unmap = &um;
                br.results = &resp;
                br.n_results = 1;
                reply.id = g2.req->id;
                reply.result_case = IB__V1__REPLY__RESULT_BATCH;
                reply.batch = &br;
                ASSERT_OK(fake_send(&f, &reply));
        }
        ASSERT_OK(drain(&f));
        ASSERT_EQ(d[0].calls, 1);
        ASSERT_EQ(d[0].error, 0);
        ASSERT_EQ(d[1].calls, 1);
        ASSERT_EQ(d[1].error, -EPROTO);
        ASSERT_U64_EQ(d[1].iova, 0);
}

/* A local failure of ib_client_connect_verbose() still says why in its buffer. */
TEST(connect_verbose_explains_a_local_failure) {
        char path[200], error[256];
        ib_client *c = NULL;

        memset(path, 'x', sizeof(path) - 1);
        path[sizeof(path) - 1] = '\0';
        memset(error, '#', sizeof(error));
        ASSERT_EQ(ib_client_connect_verbose(path, "t", &c, error, sizeof(error)), -ENAMETOOLONG);
        ASSERT_TRUE(c == NULL);
        ASSERT_TRUE(memchr(error, '\0', sizeof(error)) != NULL);
        ASSERT_TRUE(strstr(error, "socket path") != NULL);
}

/* ib_batch_add_map() takes as many distinct memfds as one message carries (16), as libiommu-broker(3) says. */
TEST(a_batch_takes_sixteen_distinct_memfds) {
        ib_batch *b = NULL;
        int fds[17];

        ASSERT_OK(ib_batch_new(&b));
        for (int i = 0; i < 17; i++) {
                fds[i] = new_memfd();
                ASSERT_TRUE(fds[i] >= 0);
        }
        for (int i = 0; i < 16; i++)
                ASSERT_EQ(ib_batch_add_map(b, 1, fds[i], 0, 4096, MAP_FLAGS, 0x1000 * (uint64_t) (i + 1)), i);
        ASSERT_EQ(ib_batch_add_map(b, 1, fds[16], 0, 4096, MAP_FLAGS, 0x100000), -E2BIG);
        ASSERT_EQ(ib_batch_add_map(b, 1, fds[3], 0, 4096, MAP_FLAGS, 0x200000), 16);   /* a known one still shares */
        for (int i = 0; i < 17; i++)
                close(fds[i]);
        ib_batch_free(b);
}

/* ------------------------------------------------------------------ what goes again goes first */

/*
 * Operations a restart stopped inside a coalesced Batch go again ahead of
 * a request made after them (docs/protocol.md, "Restarts": ahead of every
 * request not sent yet), here an IoasFree queued behind the in-flight limit.
 */
TEST(not_applied_ops_of_a_batch_go_again_ahead_of_later_requests) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL, g3 = GOT_NULL, g4 = GOT_NULL;
        static const uint64_t both[] = { 0x20000, 0x30000 }, again[] = { 0x30000 };
        static const bool not_applied[] = { false, true };
        Done d[3] = {}, freed = {};

        f.in_flight = 1;
        ASSERT_OK(fake_start(&f));
        ASSERT_OK(ib_client_set_coalescing(f.c, true));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d[0]));                  /* sent */
        ASSERT_OK(map_mem_async(&f, 0x20000, &d[1]));                  /* these two: one Batch */
        ASSERT_OK(map_mem_async(&f, 0x30000, &d[2]));
        ASSERT_OK(ib_ioas_free_async(f.c, 1, on_done, &freed));        /* made after them */
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_TRUE(is_bundle(&g2, 2, both));
        ASSERT_OK(fake_answer_batch(&f, &g2, NULL, NULL, not_applied));
        ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_TRUE(fake_quiet(&f));                                    /* nothing before the event */
        ASSERT_OK(fake_resumed(&f, g2.req->id, 0));
        while (ib_client_restarts(f.c) == 0)
                ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_DONE_ONCE(d[1], 0, 0x20000);
        ASSERT_EQ(d[2].calls, 0);
        ASSERT_OK(fake_read(&f, &g3));
        ASSERT_TRUE(is_bundle(&g3, 1, again));
        ASSERT_TRUE(g3.req->id > g2.req->id);
        ASSERT_OK(fake_answer_batch(&f, &g3, NULL, NULL, NULL));
        ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_DONE_ONCE(d[2], 0, 0x30000);
        ASSERT_OK(fake_read(&f, &g4));
        ASSERT_EQ(g4.req->verb_case, IB__V1__REQUEST__VERB_IOAS_FREE);
        ASSERT_EQ(freed.calls, 0);
}

/*
 * The same, packed, when an older broker takes over (its ResumedEvent
 * lists no feature): the operations go again as plain ops, which it reads,
 * not as packed ones it would take for an empty Batch.
 */
TEST(not_applied_ops_go_again_in_the_form_the_new_broker_takes) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL, g3 = GOT_NULL;
        Done d[3] = {};

        f.packed = true;
        ASSERT_OK(fake_start(&f));
        ASSERT_OK(ib_client_set_coalescing(f.c, true));
        ASSERT_OK(map_mem_async(&f, 0x10000, &d[0]));
        ASSERT_OK(map_mem_async(&f, 0x20000, &d[1]));
        ASSERT_OK(map_mem_async(&f, 0x30000, &d[2]));
        ASSERT_OK(ib_client_process(f.c));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_EQ(g2.req->batch->n_packed_ops, 10U);
        ASSERT_OK(fake_answer_map(&f, g1.req->id, 0x10000));
        {
                Ib__V1__Reply reply = IB__V1__REPLY__INIT;
                Ib__V1__BatchReply br = IB__V1__BATCH_REPLY__INIT;
                Ib__V1__BatchResult res = IB__V1__BATCH_RESULT__INIT, *resp = &res;
                uint64_t values[2] = { 0x20000, 0 };

                res.has_index = true;
                res.index = 1;
                res.has_errnum = res.has_not_applied = res.not_applied = true;
                res.errnum = ECANCELED;
                res.errno_name = (char *) "ECANCELED";
                res.error = (char *) NOT_APPLIED_SENTENCE;
                br.packed_values = values;
                br.n_packed_values = 2;
                br.results = &resp;
                br.n_results = 1;
                reply.id = g2.req->id;
                reply.result_case = IB__V1__REPLY__RESULT_BATCH;
                reply.batch = &br;
                ASSERT_OK(fake_send(&f, &reply));
        }
        ASSERT_OK(fake_resumed_offering(&f, g2.req->id, 0, NULL, 0));
        while (ib_client_restarts(f.c) == 0)
                ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_DONE_ONCE(d[1], 0, 0x20000);
        ASSERT_OK(fake_read(&f, &g3));
        ASSERT_EQ(g3.req->batch->n_packed_ops, 0U);
        ASSERT_EQ(g3.req->batch->n_ops, 1U);
        ASSERT_U64_EQ(g3.req->batch->ops[0]->map->iova, 0x30000);
        ASSERT_OK(fake_answer_batch(&f, &g3, NULL, NULL, NULL));
        ASSERT_OK(drain(&f));
        ASSERT_DONE_ONCE(d[2], 0, 0x30000);
}

/*
 * A request made between a not_applied answer and the ResumedEvent waits:
 * the one that goes again goes first, same bytes.
 */
TEST(a_request_made_before_the_event_waits_for_what_goes_again) {
        _cleanup_(fake_stopp) Fake f = FAKE_NULL;
        _cleanup_(got_clearp) Got g1 = GOT_NULL, g2 = GOT_NULL, g3 = GOT_NULL;
        Done first = {}, later = {};

        ASSERT_OK(fake_start(&f));
        ASSERT_OK(map_mem_async(&f, 0x10000, &first));
        ASSERT_OK(fake_read(&f, &g1));
        ASSERT_OK(fake_not_applied(&f, g1.req->id));
        ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_EQ(first.calls, 0);
        ASSERT_OK(map_mem_async(&f, 0x20000, &later));
        ASSERT_EQ(ib_client_get_events(f.c), POLLIN);                   /* nothing to send yet */
        ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_TRUE(fake_quiet(&f));
        ASSERT_OK(fake_resumed(&f, g1.req->id, 0));
        while (ib_client_restarts(f.c) == 0)
                ASSERT_TRUE(ib_client_process(f.c) >= 0);
        ASSERT_OK(fake_read(&f, &g2));
        ASSERT_TRUE(same_bytes(&g1, &g2));
        ASSERT_OK(fake_read(&f, &g3));
        ASSERT_U64_EQ(g3.req->map->iova, 0x20000);
        ASSERT_OK(fake_answer_map(&f, g2.req->id, 0x10000));
        ASSERT_OK(fake_answer_map(&f, g3.req->id, 0x20000));
        ASSERT_OK(drain(&f));
        ASSERT_DONE_ONCE(first, 0, 0x10000);
        ASSERT_DONE_ONCE(later, 0, 0x20000);
}

TESTS_MAIN(NULL, NULL)

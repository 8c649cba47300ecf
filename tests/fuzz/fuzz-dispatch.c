/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-dispatch.c - one client session per input, in process, on the sim backend.
 *
 * Owns: the fuzz-dispatch harness.  Each input (format in fuzz-dispatch.h)
 * becomes a session (or two of the same uid) started by session_new() on one
 * end of a SOCK_SEQPACKET socketpair, exactly as the listener starts one,
 * with the broker's own SessionHost wiring around the sim backend and its
 * default devices.  The harness says Hello, writes the input's frames (with
 * memfds, sealed memfds or pipes as SCM_RIGHTS), runs the event loop until
 * every frame has its reply, hangs up and lets the sessions tear down.
 *
 * The invariants it holds the broker to (a broken one aborts: a finding):
 *   - every datagram gets exactly one reply, a Reply that decodes, with the
 *     request's id (0 for what is no Request), no result and no fds when it
 *     is an error, a result when it is not; a session never ends by itself,
 *     nor with the other one;
 *   - after the hangups the sessions are gone, and with them everything they held:
 *     the broker-wide account is zero for every resource, no tenant is left,
 *     no device slot has an owner or is quarantined, the host-wide PASID space
 *     is empty, the sim backend holds no context, object, device or mapping,
 *     and the process has exactly the fds it had before the input.
 * ASan and UBSan (libFuzzer builds) add memory errors and leaks.
 * Must never: reach the kernel backend, or keep state from one input to the
 * next beyond the host it lends every session.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend/backend-sim.h"
#include "common/protocol.h"
#include "core/dispatch.h"
#include "core/session.h"
#include "policy/audit.h"
#include "policy/policy.h"
#include "proto/broker.pb-c.h"
#include "tests/fuzz/fuzz-dispatch.h"
#include "tests/fuzz/fuzz.h"
#include "util/log.h"

/* Event loop rounds granted to one request, and to the teardown, before "no reply" is a finding. */
#define PUMP_ROUNDS 256
/* Device fds the harness keeps from DeviceOpen replies. */
#define MAX_DEVICE_FDS 16
/* The most fds one frame sends: one more than the broker takes. */
#define MAX_FRAME_FDS 17
/* The id of the harness's own Hello. */
#define HELLO_ID UINT64_C(0xf022)

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/*
 * The broker's default sim devices (broker.c sim_default_devices, static
 * there): one that can do everything, one that can do nothing beyond
 * translation.
 */
static const BackendDeviceInfo fuzz_devices[] = {
        { .name = "0000:00:02.0", .vendor_id = 0x1234, .device_id = 0x11e8, .iommu_group = 1, .pasid_width = 20,
          .dirty_tracking = true, .nesting = true, .snoop_control = true },
        { .name = "0000:00:03.0", .vendor_id = 0x1234, .device_id = 0x11e8, .iommu_group = 2 },
};

/*
 * The tenants of FUZZ_MODE_TENANT_*, matched by the harness's uid: small
 * enough limits that a few requests reach them.
 */
static const struct {
        const char *name;
        const char *keys;
} tenant_policies[] = {
        [FUZZ_MODE_TENANT_LIMITED] = {
                "limited",
                "Device=0000:00:02.0\n"
                "PinnedMemoryMax=4M\n"
                "IOASMax=3\n"
                "HWPTMax=3\n"
                "MappingsMax=4\n"
                "PASIDMax=2\n"
                "VPASIDRange=1-64\n"
                "IOVAWindow=0x0-0xfedfffff\n"
                "IOVAWindow=0x100000000-0xffffffffff\n"
                "Nesting=yes\n"
                "DirtyTracking=yes\n"
                "PASID=yes\n",
        },
        [FUZZ_MODE_TENANT_STRICT] = {
                "strict",
                "Device=group:1 group:2\n"
                "Nesting=no\n"
                "DirtyTracking=no\n"
                "PASID=no\n",
        },
        [FUZZ_MODE_TENANT_GLOBAL] = {
                "global",
                "Device=0000:00:*.*\n"
                "PinnedMemoryMax=8M\n"
                "MappingsMax=8\n"
                "PASIDMax=3\n"
                "Nesting=yes\n"
                "PASID=yes\n"
                "PASIDMode=global\n",
        },
};

/* What lives from the first input to the last: the broker's side, as broker.c wires it. */
typedef struct Fuzz {
        struct event_base *base;
        Backend *backend;
        uint64_t backend_features;
        Account account;
        SessionHost host;
        Policy *policies[ELEMENTSOF(tenant_policies)];
        Policy *policy_no_tenant;       /* FUZZ_OPT_NO_TENANT: its one tenant is another uid */
        Policy *policy_confined;        /* FUZZ_OPT_CONFINED */
        SessionAdmission admission;     /* the defaults */
        uint64_t next_session_id;
        Session *sessions[2];           /* the live ones, until on_session_free */
        int baseline_fds;               /* open when the input began */
        bool check_fds;
        uint8_t reply_buf[IB_MAX_MESSAGE_SIZE + 4096];
} Fuzz;

static Fuzz fuzz;

/* One connection of an input. */
typedef struct Client {
        unsigned index;                 /* in fuzz.sessions and Run.clients */
        int sock;                       /* the client's end */
        bool refused;                   /* the broker refused the connection: one error reply, then the end */
        uint64_t expect[FUZZ_MAX_FRAMES + 1];   /* the reply id each datagram sent must get, in order */
        size_t n_sent;
        size_t n_replies;
} Client;

/* One input's client side: one or two connections of the same uid, and the device fds they received. */
typedef struct Run {
        unsigned mode;
        unsigned options;
        Client clients[2];
        size_t n_clients;
        int device_fds[MAX_DEVICE_FDS];
        size_t n_device_fds;
} Run;

/* ---------------------------------------------------------------- setup */

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        if (!d)
                fuzz_fail("cannot open /proc/self/fd: %m");
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        (void) closedir(d);
        return n - 1;                   /* the directory's own fd */
}

static void list_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[300], target[256];
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                n = readlink(path, target, sizeof(target) - 1);
                target[n > 0 ? n : 0] = '\0';
                fprintf(stderr, "fuzz:   fd %s -> %s\n", de->d_name, target);
        }
        (void) closedir(d);
}

static void on_session_free(Session *s, void *userdata) {
        for (size_t i = 0; i < ELEMENTSOF(fuzz.sessions); i++)
                if (s == fuzz.sessions[i]) {
                        fuzz.sessions[i] = NULL;
                        return;
                }
        fuzz_fail("a session the harness did not start was freed");
}

static Policy *load_policy_text(const char *text) {
        _cleanup_close_ int fd = -1;
        char path[64], error[512] = "";
        Policy *p = NULL;
        size_t n = strlen(text);
        int r;

        fd = memfd_create("fuzz-policy", MFD_CLOEXEC);
        if (fd < 0 || write(fd, text, n) != (ssize_t) n)
                fuzz_fail("cannot write the tenant policy to a memfd: %m");
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        r = policy_load(path, /* dropin_dir= */ NULL, &p, error, sizeof(error));
        if (r < 0)
                fuzz_fail("the harness's tenant policy does not load: %s", error);
        return p;
}

static void fuzz_setup(void) {
        BackendConfig config = { .sim_devices = fuzz_devices, .n_sim_devices = ELEMENTSOF(fuzz_devices) };
        const char *level = getenv("IB_FUZZ_LOG");
        int r;

        /* Quiet unless asked: the broker logs every session at info. */
        log_set_max_level(level ? log_level_from_string(level) : -1);
        audit_set_journal(false);
        (void) signal(SIGPIPE, SIG_IGN);

        fuzz.base = event_base_new();
        if (!fuzz.base)
                fuzz_fail("event_base_new() failed");
        r = backend_sim_ops.open(&config, &fuzz.backend);
        if (r < 0)
                fuzz_fail("cannot open the sim backend: %s", strerror(-r));
        fuzz.backend_features = fuzz.backend->features;
        account_init(&fuzz.account, "broker", NULL);
        fuzz.host = (SessionHost) {
                .base = fuzz.base,
                .server = &dispatch_server,
                .backend = fuzz.backend,
                .account = &fuzz.account,
                .uid = geteuid(),
                .on_session_free = on_session_free,
                .policy_path = "(fuzz)",
        };
        session_admission_complete(&fuzz.host.admission);
        fuzz.admission = fuzz.host.admission;
        r = pasid_space_init(&fuzz.host.pasids);
        if (r < 0)
                fuzz_fail("pasid_space_init() failed: %s", strerror(-r));
        r = device_table_refresh(&fuzz.host.devices, fuzz.backend);
        if (r < 0 || fuzz.host.devices.n_slots != ELEMENTSOF(fuzz_devices))
                fuzz_fail("the sim's devices are not in the device table");

        for (size_t i = 0; i < ELEMENTSOF(tenant_policies); i++) {
                char text[1024];

                if (!tenant_policies[i].name)
                        continue;
                (void) snprintf(text, sizeof(text), "[Tenant %s]\nUser=%u\n%s", tenant_policies[i].name,
                                (unsigned) geteuid(), tenant_policies[i].keys);
                fuzz.policies[i] = load_policy_text(text);
        }
        {
                char text[128];

                (void) snprintf(text, sizeof(text), "[Tenant someone-else]\nUser=%u\n", (unsigned) geteuid() + 1);
                fuzz.policy_no_tenant = load_policy_text(text);
                (void) snprintf(text, sizeof(text),
                                "[Tenant confined]\nUser=%u\nDevice=group:1 group:2\nConfinedDeviceFds=yes\n",
                                (unsigned) geteuid());
                fuzz.policy_confined = load_policy_text(text);
        }
}

/* ---------------------------------------------------------------- the client side */

static void run_close_device_fds(Run *run) {
        for (size_t i = 0; i < run->n_device_fds; i++)
                safe_close(run->device_fds[i]);
        run->n_device_fds = 0;
}

static void close_cmsg_fds(struct msghdr *mh, size_t *ret_n) {
        size_t n = 0;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        for (size_t i = 0; i < k; i++) {
                                int fd;

                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                safe_close(fd);
                                n++;
                        }
                }
        *ret_n = n;
}

/* The fd of a reply that carries one; -1 if it has none. */
static int cmsg_first_fd(struct msghdr *mh) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len > CMSG_LEN(0)) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c), sizeof(int));
                        return fd;
                }
        return -1;
}

/* Checks one reply against the datagram it answers. */
static void check_reply(Client *c, const Ib__V1__Reply *reply, size_t n_fds) {
        uint64_t want = c->expect[c->n_replies];
        bool failed = reply->has_errnum && reply->errnum != 0;

        if (fuzz_verbose())
                fprintf(stderr, "fuzz: %c reply %zu: id %" PRIu64 " %s%s%s result %d, %zu fd%s\n",
                        'A' + c->index, c->n_replies,
                        reply->id, failed ? (reply->errno_name ?: "errno") : "ok", failed ? ": " : "",
                        failed ? (reply->error ?: "") : "", (int) reply->result_case, n_fds, n_fds == 1 ? "" : "s");
        if (c->refused && !failed)
                fuzz_fail("a refused session's reply %zu succeeds", c->n_replies);
        if (reply->id != want)
                fuzz_fail("reply %zu has id %" PRIu64 ", the datagram it answers wants %" PRIu64, c->n_replies,
                          reply->id, want);
        if (failed && reply->result_case != IB__V1__REPLY__RESULT__NOT_SET)
                fuzz_fail("reply %zu is an error (%d) with a result (%d)", c->n_replies, (int) reply->errnum,
                          (int) reply->result_case);
        if (failed && n_fds > 0)
                fuzz_fail("reply %zu is an error (%d) with %zu fds", c->n_replies, (int) reply->errnum, n_fds);
        if (reply->has_errnum && reply->errnum < 0)
                fuzz_fail("reply %zu has a negative errnum %d", c->n_replies, (int) reply->errnum);
        if (!failed && reply->result_case == IB__V1__REPLY__RESULT__NOT_SET)
                fuzz_fail("reply %zu succeeds without a result", c->n_replies);
}

/* Reads every reply waiting on one client's end. */
static void client_drain(Run *run, Client *c) {
        for (;;) {
                union {
                        struct cmsghdr hdr;
                        uint8_t buf[CMSG_SPACE(sizeof(int) * 8)];
                } control;
                struct iovec iov = { .iov_base = fuzz.reply_buf, .iov_len = sizeof(fuzz.reply_buf) };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                                     .msg_controllen = sizeof(control.buf) };
                Ib__V1__Reply *reply;
                size_t n_fds = 0;
                int device_fd = -1;
                ssize_t n;

                n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return;
                        /* a session that closed with datagrams unread (a refused one) resets */
                        if (errno == ECONNRESET && !fuzz.sessions[c->index])
                                return;
                        fuzz_fail("recvmsg() on the client's end failed: %m");
                }
                if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                        fuzz_fail("a reply larger than %zu bytes or with more than 8 fds", sizeof(fuzz.reply_buf));
                if (n == 0 && mh.msg_controllen == 0) {
                        if (!fuzz.sessions[c->index])
                                return;         /* the session is gone: end of file */
                        fuzz_fail("an empty datagram from a live session");
                }
                if (c->n_replies >= c->n_sent || (c->refused && c->n_replies >= 1))
                        fuzz_fail("a reply to no request: %zu datagrams sent, this is reply %zu%s", c->n_sent,
                                  c->n_replies + 1, c->refused ? " of a refused session" : "");

                reply = ib__v1__reply__unpack(NULL, (size_t) n, fuzz.reply_buf);
                if (!reply)
                        fuzz_fail("reply %zu (%zd bytes) is no Reply", c->n_replies, n);
                if (reply->result_case == IB__V1__REPLY__RESULT_DEVICE_OPEN && run->n_device_fds < MAX_DEVICE_FDS)
                        device_fd = cmsg_first_fd(&mh);
                if (device_fd >= 0) {
                        /* keep the device fd, close any other */
                        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                                        for (size_t i = 0; i < k; i++) {
                                                int fd;

                                                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                                                if (fd != device_fd)
                                                        safe_close(fd);
                                                n_fds++;
                                        }
                                }
                        run->device_fds[run->n_device_fds++] = device_fd;
                } else
                        close_cmsg_fds(&mh, &n_fds);
                check_reply(c, reply, n_fds);
                ib__v1__reply__free_unpacked(reply, NULL);
                c->n_replies++;
        }
}

static void run_drain(Run *run) {
        for (size_t i = 0; i < run->n_clients; i++)
                client_drain(run, &run->clients[i]);
}

/* Runs the loop until every datagram of every client has its reply; aborts if one does not. */
static void run_pump(Run *run) {
        for (unsigned i = 0; i < PUMP_ROUNDS; i++) {
                bool done = true;

                run_drain(run);
                for (size_t k = 0; k < run->n_clients; k++) {
                        const Client *c = &run->clients[k];

                        if (c->refused) {
                                /* one error reply to the first datagram, then the session ends */
                                if (c->n_sent > 0 && (c->n_replies == 0 || fuzz.sessions[k]))
                                        done = false;
                                continue;
                        }
                        if (c->n_replies >= c->n_sent)
                                continue;
                        done = false;
                        if (!fuzz.sessions[k])
                                fuzz_fail("session %c ended by itself with %zu of %zu replies", 'A' + (int) k,
                                          c->n_replies, c->n_sent);
                }
                if (done)
                        return;
                (void) event_base_loop(fuzz.base, EVLOOP_NONBLOCK);
        }
        for (size_t k = 0; k < run->n_clients; k++) {
                if (run->clients[k].refused && fuzz.sessions[k] && run->clients[k].n_replies > 0)
                        fuzz_fail("refused session %c lives on after its answer", 'A' + (int) k);
                if (run->clients[k].n_replies < (run->clients[k].refused ? MIN(run->clients[k].n_sent, (size_t) 1)
                                                                          : run->clients[k].n_sent))
                        fuzz_fail("datagram %zu of client %c got no reply in %d rounds of the loop",
                                  run->clients[k].n_replies, 'A' + (int) k, PUMP_ROUNDS);
        }
}

/* An fd of kind in variant (fuzz-dispatch.h), owned by the caller. */
static int make_fd(unsigned kind, unsigned variant) {
        _cleanup_close_ int fd = -1;
        char path[64];
        int p[2], ro;

        if (kind == FUZZ_FRAME_FD_OTHER) {
                switch (variant) {
                case FUZZ_VARIANT_OTHER_PIPE:
                        if (pipe2(p, O_CLOEXEC) < 0)
                                fuzz_fail("pipe2() failed: %m");
                        safe_close(p[1]);
                        return p[0];
                case FUZZ_VARIANT_OTHER_SOCKET:
                        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p) < 0)
                                fuzz_fail("socketpair() failed: %m");
                        safe_close(p[1]);
                        return p[0];
                case FUZZ_VARIANT_OTHER_FILE:
                        fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
                        if (fd < 0) {
                                /* a /tmp without O_TMPFILE */
                                char name[] = "/tmp/fuzz-dispatch.XXXXXX";

                                fd = mkostemp(name, O_CLOEXEC);
                                if (fd >= 0)
                                        (void) unlink(name);
                        }
                        if (fd < 0 || ftruncate(fd, 2 << 20) < 0)
                                fuzz_fail("cannot make a temporary file: %m");
                        return TAKE_FD(fd);
                default:
                        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (fd < 0)
                                fuzz_fail("cannot open /: %m");
                        return TAKE_FD(fd);
                }
        }
        fd = memfd_create("fuzz-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, variant == FUZZ_VARIANT_MEMFD_4K ? 4096 : 2 << 20) < 0)
                fuzz_fail("cannot make a memfd: %m");
        if (kind == FUZZ_FRAME_FD_SEALED && fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0)
                fuzz_fail("F_ADD_SEALS failed: %m");
        if (variant != FUZZ_VARIANT_MEMFD_RDONLY && variant != FUZZ_VARIANT_MEMFD_WRONLY)
                return TAKE_FD(fd);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ro = open(path, (variant == FUZZ_VARIANT_MEMFD_RDONLY ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
        if (ro < 0)
                fuzz_fail("cannot re-open a memfd: %m");
        return ro;
}

/* Sends one datagram to the broker and notes the reply id it wants; pumps while the socket is full. */
static void run_send(Run *run, Client *c, const uint8_t *data, size_t size, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr hdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * MAX_FRAME_FDS)];
        } control;
        struct iovec iov = { .iov_base = (void *) data, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        Ib__V1__Request *req;
        uint64_t id = 0;

        if (c->refused && !fuzz.sessions[c->index])
                return;                 /* the refused session is gone: dropped */
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

        /* The id the reply must carry: the request's, or 0 for what the codec refuses. */
        if (size <= IB_MAX_MESSAGE_SIZE) {
                req = ib__v1__request__unpack(NULL, size, data);
                if (req) {
                        id = req->id;
                        ib__v1__request__free_unpacked(req, NULL);
                }
        }
        c->expect[c->n_sent] = id;

        for (unsigned i = 0;; i++) {
                if (sendmsg(c->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
                        break;
                if (c->refused && (errno == EPIPE || errno == ECONNRESET))
                        return;         /* the refused session is gone: dropped */
                if (errno != EAGAIN || i >= PUMP_ROUNDS)
                        fuzz_fail("cannot send datagram %zu (%zu bytes, %zu fds): %m", c->n_sent, size, n_fds);
                run_drain(run);
                (void) event_base_loop(fuzz.base, EVLOOP_NONBLOCK);
        }
        if (fuzz_verbose())
                fprintf(stderr, "fuzz: %c datagram %zu: %zu bytes, %zu fds, wants id %" PRIu64 "\n", 'A' + c->index,
                        c->n_sent, size, n_fds, id);
        c->n_sent++;
}

static void run_hello(Run *run, Client *c) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__HelloRequest hello = IB__V1__HELLO_REQUEST__INIT;
        uint8_t buf[128];
        size_t n;

        hello.protocol_version = IB_PROTOCOL_VERSION;
        hello.client_name = (char *) "fuzz-dispatch";
        req.id = HELLO_ID;
        req.verb_case = IB__V1__REQUEST__VERB_HELLO;
        req.hello = &hello;
        n = ib__v1__request__pack(&req, buf);
        run_send(run, c, buf, n, NULL, 0);
        run_pump(run);
}

/* A client's VFIO ioctl on the last device fd it received; the sim runs it when it next reaps. */
static void run_device_op(Run *run, const uint8_t *payload, size_t size) {
        BackendSimDeviceOp op = {};

        if (run->n_device_fds == 0)
                return;
        memcpy(&op, payload, MIN(size, sizeof(op)));
        (void) send(run->device_fds[run->n_device_fds - 1], &op, sizeof(op), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* One frame of the input: its header at data[0..2], its payload after. Returns the bytes used. */
static size_t run_frame(Run *run, const uint8_t *data, size_t size) {
        static uint8_t big[IB_MAX_MESSAGE_SIZE + 1];
        unsigned flags = size > 0 ? data[0] : 0;
        size_t len = (size > 1 ? data[1] : 0) | (size_t) (size > 2 ? data[2] : 0) << 8;
        Client *c = &run->clients[(len & FUZZ_LENGTH_CLIENT_B) && run->n_clients > 1 ? 1 : 0];
        const uint8_t *payload = data + MIN(size, (size_t) 3);
        size_t avail = size > 3 ? size - 3 : 0;
        unsigned kind = flags & FUZZ_FRAME_FD_MASK;
        static const size_t counts[] = { 1, 2, 4, MAX_FRAME_FDS };
        int fds[MAX_FRAME_FDS];
        size_t n_fds = 0;

        len = MIN(len & ~(size_t) FUZZ_LENGTH_CLIENT_B, avail);
        if (flags & FUZZ_FRAME_DEVICE_OP) {
                run_device_op(run, payload, len);
                return 3 + len;
        }
        if (kind != FUZZ_FRAME_FD_NONE) {
                n_fds = counts[(flags & FUZZ_FRAME_COUNT_MASK) >> FUZZ_FRAME_COUNT_SHIFT];
                for (size_t i = 0; i < n_fds; i++)
                        fds[i] = make_fd(kind, (flags & FUZZ_FRAME_VARIANT_MASK) >> FUZZ_FRAME_VARIANT_SHIFT);
        }
        /* An empty datagram without fds reads as end of file on SOCK_SEQPACKET: never a request. */
        if (len == 0 && n_fds == 0 && !(flags & FUZZ_FRAME_OVERSIZE))
                return 3 + len;
        if (flags & FUZZ_FRAME_OVERSIZE) {
                memset(big, 0, sizeof(big));
                memcpy(big, payload, len);
                run_send(run, c, big, sizeof(big), fds, n_fds);
        } else
                run_send(run, c, payload, len, fds, n_fds);
        for (size_t i = 0; i < n_fds; i++)
                safe_close(fds[i]);
        if (!(run->mode & FUZZ_MODE_PIPELINE))
                run_pump(run);
        return 3 + len;
}

/* ---------------------------------------------------------------- the checks after the session */

static void check_host_empty(const Run *run) {
        BackendSimStats st;
        int fds;

        for (int r = 0; r < _ACCOUNT_RESOURCE_MAX; r++)
                if (fuzz.account.used[r] != 0)
                        fuzz_fail("the broker's account still has %" PRIu64 " %s after the session ended",
                                  fuzz.account.used[r], account_resource_name((AccountResource) r));
        if (fuzz.host.n_sessions != 0)
                fuzz_fail("%zu sessions counted after the session ended", fuzz.host.n_sessions);
        if (fuzz.host.tenants)
                fuzz_fail("tenant '%s' outlived its last session", fuzz.host.tenants->name);
        if (fuzz.host.n_uids != 0)
                fuzz_fail("%zu uids counted with connections after the session ended", fuzz.host.n_uids);
        for (size_t i = 0; i < fuzz.host.devices.n_slots; i++) {
                const DeviceSlot *slot = &fuzz.host.devices.slots[i];

                if (slot->owner != 0)
                        fuzz_fail("device %s is still owned by session %" PRIu64, slot->info.name, slot->owner);
                if (device_slot_quarantined(slot))
                        fuzz_fail("device %s is still quarantined (held by pid %d) though every fd of it is closed",
                                  slot->info.name, (int) slot->held_by);
        }
        if (fuzz.host.pasids.n_used != 0)
                fuzz_fail("%u PASIDs of the host-wide space are still in use", fuzz.host.pasids.n_used);

        backend_sim_stats(fuzz.backend, &st);
        if (st.contexts || st.objects || st.ioases || st.hwpts || st.devices || st.areas || st.mapped_bytes)
                fuzz_fail("the sim still holds %zu contexts (%zu closed), %zu objects, %zu IOASes, %zu HWPTs, "
                          "%zu devices, %zu areas, %" PRIu64 " bytes",
                          st.contexts, st.closed_contexts, st.objects, st.ioases, st.hwpts, st.devices, st.areas,
                          st.mapped_bytes);

        fds = count_fds();
        if (fuzz.check_fds && fds != fuzz.baseline_fds) {
                list_fds();
                fuzz_fail("%d fds open after the input, %d before (mode 0x%x)", fds, fuzz.baseline_fds, run->mode);
        }
}

/* ---------------------------------------------------------------- one input */

static void client_connect(Run *run, unsigned index) {
        Client *c = &run->clients[index];
        int pair[2], r;

        bool may_refuse = (run->options & FUZZ_OPT_NO_TENANT) ||
                          ((run->options & FUZZ_OPT_ONE_CONNECTION) && index > 0);

        *c = (Client) { .index = index, .sock = -1 };
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                fuzz_fail("socketpair() failed: %m");
        c->sock = pair[1];
        if (run->options & FUZZ_OPT_SMALL_SNDBUF) {
                /* the kernel doubles it: just room for the largest datagram (unix_dgram_sendmsg: EMSGSIZE) */
                int size = (IB_MAX_MESSAGE_SIZE + 4096) / 2;

                if (setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) < 0)
                        fuzz_fail("SO_SNDBUF failed: %m");
        }
        r = session_new(&fuzz.sessions[index], &fuzz.host, ++fuzz.next_session_id, pair[0]);
        if (r < 0)
                fuzz_fail("session_new() failed: %s", strerror(-r));
        c->refused = fuzz.sessions[index]->deny_reason != NULL;
        if (c->refused && !may_refuse)
                fuzz_fail("the harness's session is refused: %s", fuzz.sessions[index]->deny_reason);
        if (!c->refused && may_refuse)
                fuzz_fail("session %c is admitted though %s", 'A' + index,
                          run->options & FUZZ_OPT_NO_TENANT ? "no tenant of the policy matches its uid"
                                                            : "its uid has a connection already, the limit is one");
        run->n_clients = index + 1;
}

/* Hangs up client index and runs the loop until its session is gone; the other one must live on. */
static void client_hang_up(Run *run, unsigned index) {
        Client *c = &run->clients[index];

        c->sock = safe_close(c->sock);
        for (unsigned i = 0; i < PUMP_ROUNDS && fuzz.sessions[index]; i++)
                (void) event_base_loop(fuzz.base, EVLOOP_NONBLOCK);
        if (fuzz.sessions[index])
                fuzz_fail("session %c did not end after its client hung up", 'A' + index);
        for (size_t k = 0; k < run->n_clients; k++)
                if (run->clients[k].sock >= 0 && !run->clients[k].refused && !fuzz.sessions[k])
                        fuzz_fail("session %c ended with session %c", 'A' + (int) k, 'A' + index);
}

static void run_input(const uint8_t *data, size_t size) {
        Run run = { .mode = size > 0 ? data[0] : 0, .options = size > 2 ? data[2] : 0 };
        unsigned who = run.mode & FUZZ_MODE_WHO_MASK;
        int fail_nth = size > 1 ? data[1] : 0;
        size_t off = MIN(size, (size_t) 3);
        int r;

        /*
         * The fds open now are the baseline: libFuzzer and the sanitizers open
         * some between inputs (llvm-symbolizer's pipes, once it prints a new
         * function), never during one.
         */
        fuzz.baseline_fds = count_fds();
        fuzz.host.policy = run.options & FUZZ_OPT_NO_TENANT ? fuzz.policy_no_tenant :
                           run.options & FUZZ_OPT_CONFINED ? fuzz.policy_confined : fuzz.policies[who];
        fuzz.host.admission = fuzz.admission;
        if (run.options & FUZZ_OPT_ONE_CONNECTION)
                fuzz.host.admission.max_connections_per_uid = 1;
        fuzz.host.global_pasid = run.mode & FUZZ_MODE_GLOBAL_PASID;
        fuzz.backend->features = fuzz.backend_features;
        if (run.mode & FUZZ_MODE_NO_MAP_FILE)
                fuzz.backend->features &= ~(uint64_t) BACKEND_FEATURE_MAP_FILE;

        client_connect(&run, 0);
        if (run.mode & FUZZ_MODE_TWO_SESSIONS)
                client_connect(&run, 1);
        if (!(run.mode & FUZZ_MODE_NO_HELLO))
                for (unsigned k = 0; k < run.n_clients; k++)
                        run_hello(&run, &run.clients[k]);
        backend_sim_fail_nth = fail_nth;
        for (unsigned i = 0; i < FUZZ_MAX_FRAMES && off < size; i++)
                off += run_frame(&run, data + off, size - off);
        if (run.mode & FUZZ_MODE_PIPELINE)
                /* a client slow to read: the broker answers everything it read, its replies queue */
                for (unsigned i = 0; i < 8; i++)
                        (void) event_base_loop(fuzz.base, EVLOOP_NONBLOCK);
        run_pump(&run);
        /* a few more rounds: a second reply to anything would show now */
        for (unsigned i = 0; i < 4; i++) {
                (void) event_base_loop(fuzz.base, EVLOOP_NONBLOCK);
                run_drain(&run);
        }
        backend_sim_fail_nth = 0;

        /* Hang up, holding the device fds or not, and let the sessions go, A first. */
        if (!(run.mode & FUZZ_MODE_HOLD_DEVICE_FDS))
                run_close_device_fds(&run);
        for (unsigned k = 0; k < run.n_clients; k++)
                client_hang_up(&run, k);
        run_close_device_fds(&run);
        r = session_host_refresh_devices(&fuzz.host);
        if (r < 0)
                fuzz_fail("rescanning the devices failed: %s", strerror(-r));

        fuzz.host.policy = NULL;
        fuzz.host.admission = fuzz.admission;
        fuzz.host.global_pasid = false;
        fuzz.backend->features = fuzz.backend_features;
        check_host_empty(&run);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool ready = false;

        if (!ready) {
                static const uint8_t warm_up[] = { FUZZ_MODE_ADMIN, 0, 0 };

                fuzz_setup();
                /* Whatever opens once and stays open (sd-login, NSS) does so now, uncounted. */
                fuzz.check_fds = false;
                run_input(warm_up, sizeof(warm_up));
                fuzz.check_fds = true;
                ready = true;
        }
        run_input(data, size);
        return 0;
}

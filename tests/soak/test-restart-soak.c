/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-restart-soak.c - the broker SIGKILLed at random moments under busy clients.
 *
 * Owns: the restart soak.  A broker (the sim; or the kernel backend in the
 * guest: tests/vm/guest-suite's restart-soak) runs under tests/lib/ib-svcmgr
 * (the stand-in for systemd's service manager: fd store, Restart=on-failure).
 * Several client threads, each with its own libiommu-broker connection, an
 * IOAS and a registered memfd (the first ones also a device opened and
 * attached to the IOAS, so restored devices are covered: two sim devices, or
 * the guest's edus), keep mapping and
 * unmapping fixed slots of their IOAS without pause: maps by registered
 * memory and by memfd, synchronous and asynchronous, unmaps of mapped slots
 * and of empty ones (ENOENT), Batches of maps and unmaps, queries (caps,
 * IOVA ranges).  A client with a device also mixes in (a quarter of its
 * operations) the object verbs: DeviceDetach and DeviceAttach again, to the
 * IOAS or to one of its HWPTs; HwptAlloc (on the IOAS, pasid=true or not)
 * and HwptFree of up to MAX_HWPTS; on a device with PASIDs (the sim's
 * 0000:00:02.0) PasidAttach (or a move to another HWPT) and PasidDetach of
 * vPASIDs 1..N_VPASIDS.  It follows the kernel's rules
 * (iommufd_hwpt_pasid_compat: a PASID attaches only to a pasid=true HWPT
 * and only while the RID is detached or on one too; with PASIDs attached the
 * RID moves only to a pasid=true HWPT) and sends now and then what they
 * refuse (EINVAL), a HwptFree of a HWPT in use (EBUSY) or freed before, and
 * a detach of what is not attached (ENOENT): each answer must be the one
 * the truth predicts.  Meanwhile this process kills the broker through the
 * harness's control FIFO, 2-100 ms after each READY=1, and waits for the
 * next one.  Each client keeps its own truth (which slots are mapped, with
 * what length; what its device is attached to, which vPASIDs are attached to
 * which HWPT as which physical PASID, which HWPTs exist, which ids it freed)
 * from the answers only.
 *
 * Every ROUND_KILLS kills a round ends and is checked, with no kill:
 *  (1) every request got exactly one outcome: each client drains its
 *      asynchronous requests and every callback ran exactly once (a second
 *      one fails), every synchronous call returned, with an outcome the
 *      model allows (ECANCELED only for a request that carried a memfd,
 *      meaning not applied);
 *  (2) the broker's records equal the clients' truth: the broker's mapped
 *      bytes (caps) equal the sum of the clients', its objects
 *      (ACCOUNT_OBJECTS: IOASes, devices, HWPTs) the clients' count; one
 *      more kill with every client idle, whose audit record "restart N: S
 *      sessions restored (0 ended), O objects, M mappings, B bytes" must
 *      name every session, exactly the clients' mappings and bytes, and
 *      their objects plus one registration each; then each client unmaps a
 *      random half of its slots: a slot it believes mapped returns exactly
 *      its length (and is mapped again), an empty one ENOENT; a device
 *      client looks up each vPASID (its HWPT and physical PASID, or ENOENT),
 *      frees each HWPT id it freed before (ENOENT) and each HWPT in use
 *      (EBUSY), detaches a detached device (ENOENT) or one on the IOAS (and
 *      attaches it again); each client counted every restart
 *      (ib_client_restarts());
 *  (3) at the end everything is unmapped the same way, the device clients
 *      detach their vPASIDs, attach the device to the IOAS and free their
 *      HWPTs (then check as above), the broker's mapped bytes are 0 and its
 *      objects as at the start, a last idle kill restores "0 mappings, 0
 *      bytes", the clients hang up, and the broker stops cleanly (no
 *      sanitizer report).
 * Every random restart's audit record must also say no session was ended:
 * a crash inside any verb, the object verbs too, is settled (docs/restart.md,
 * "Why records and kernel agree").
 *
 * On the sim a kill lands between two backend calls, never inside one (the
 * sim's model lives in the broker's memory, and a SIGKILL lands before or
 * after a kernel's ioctl, never inside: IB_CRASH_DEFER, util/crashpoint.h);
 * anywhere else in the broker it lands as it comes.
 * On the kernel backend the same checks compare the broker's records with
 * the kernel's truth: an unmap answers what the kernel's IOAS held (its
 * exact length, or ENOENT), and a map at a fixed IOVA the kernel still held
 * would fail.  The broker needs /dev/iommu: run it as root (the policy's
 * tenant is the uid running the soak).
 *
 * Environment: IB_SOAK_SEED (default 1; printed), IB_RESTART_SOAK_KILLS
 * (random kills, default 20: `make check`; the CI "soak" stage runs 200
 * against the ASan build), IB_RESTART_SOAK_CLIENTS (default 6, at most
 * 16), IB_RESTART_SOAK_MAX_SECONDS (default 150: no new round after that),
 * IB_SOAK_DAEMON_ARGS (more daemon options), IB_SOAK_KEEP_LOG,
 * IB_RESTART_SOAK_BACKEND (sim, the default, or kernel), IB_RESTART_SOAK_DEVICES
 * (the devices the first clients open and attach, space-separated, at most 2;
 * default: the sim's 0000:00:02.0 and 0000:00:03.0, none on the kernel backend),
 * IB_RESTART_SOAK_DEVICE_OPS (1, the default; 0: the devices stay attached to
 * the IOAS, no HWPT or PASID verbs), IB_RESTART_SOAK_COALESCE (1, the
 * default, the library's own; 0: every client turns its coalescing off).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"
#include "tests/soak/svcmgr-util.h"

#define MAX_CLIENTS 16
#define SLOTS 32
#define SLOT_MAX (64U << 10)
#define SLOT_STRIDE (1ULL << 20)
#define SLOT_BASE (16ULL << 20)
#define MEMFD_SIZE ((size_t) SLOTS * SLOT_MAX)
#define MAX_ASYNC 8
#define ROUND_KILLS 10
#define DRAIN_TIMEOUT_MS 30000
#define READY_TIMEOUT_MS 30000
#define PAGE 4096U

#define MAX_DEVICES 2
#define MAX_HWPTS 3             /* HWPTs a device client holds at most */
#define N_VPASIDS 4             /* the vPASIDs 1..N_VPASIDS a client with a PASID-capable device toggles */
#define MAX_FREED 8             /* HWPT ids freed, kept to check each is gone */
#define HISTORY 12              /* the last device verbs of a client, printed when it fails */
#define DEVICE_OP_PERCENT 25    /* of a device client's operations */

static char device_words[128];                  /* IB_RESTART_SOAK_DEVICES, cut into names */
static char device_list[128];                   /* the policy's Device= line */
static const char *device_names[MAX_DEVICES];
static unsigned n_devices;
static bool device_ops = true;                  /* IB_RESTART_SOAK_DEVICE_OPS */
static bool coalesce;                           /* IB_RESTART_SOAK_COALESCE */

typedef enum Phase {
        PHASE_SETUP,
        PHASE_RUN,
        PHASE_DRAIN,            /* finish what is in flight, then idle */
        PHASE_VERIFY,           /* unmap half the slots and check each answer */
        PHASE_END,              /* unmap every slot and check, then idle */
        PHASE_QUIT,             /* hang up */
} Phase;

typedef enum SlotState {
        SLOT_FREE,
        SLOT_MAPPED,
        SLOT_BUSY,              /* an asynchronous request on it is in flight */
} SlotState;

typedef struct Slot {
        SlotState state;
        uint64_t length;        /* MAPPED, BUSY: the length mapped or being mapped */
} Slot;

typedef struct Stats {
        uint64_t sync_calls, async_sent, callbacks, batches, batch_ops, canceled, enoent_probes, queries;
        uint64_t verified_mapped, verified_free;
        /* the device verbs: each one a synchronous call too */
        uint64_t attaches, detaches, pasid_attaches, pasid_detaches, hwpt_allocs, hwpt_frees;
        uint64_t refused;               /* of those: the error the truth predicted (EINVAL, EBUSY, ENOENT) */
        uint64_t device_across;         /* device verbs during which the broker restarted */
        uint64_t verified_pasids, verified_hwpts;
} Stats;

typedef struct HwptTruth {
        uint32_t id;
        bool pasid;                     /* allocated with IB_HWPT_PASID */
} HwptTruth;

typedef struct Client Client;

typedef struct AsyncReq {
        Client *cl;
        unsigned slot;
        bool is_map;
        bool has_fd;
        unsigned calls;
} AsyncReq;

struct Client {
        unsigned index;
        pthread_t thread;
        uint64_t rng;
        ib_client *c;
        uint32_t ioas, mem, dev;
        int memfd, dev_fd;
        bool has_dev;
        uint8_t pasid_width;            /* the device's; 0: no PASID verbs */
        /* the device's truth, from the answers only */
        uint32_t rid_pt;                /* what the device (its RID) is attached to: the IOAS, a HWPT, 0 none */
        HwptTruth hwpts[MAX_HWPTS];     /* the HWPTs allocated and not freed */
        unsigned n_hwpts;
        uint32_t freed[MAX_FREED];      /* HWPT ids freed since (a ring): HwptFree must say ENOENT */
        unsigned n_freed;
        uint32_t vpasid_pt[N_VPASIDS + 1];      /* [v]: the HWPT vPASID v is attached to, 0 none */
        uint32_t vpasid_phys[N_VPASIDS + 1];    /* [v]: its physical PASID as the attach answered */
        char history[HISTORY][200];     /* a ring: each device verb, its answer, the restarts it saw */
        unsigned n_history;
        Slot slots[SLOTS];
        AsyncReq *reqs;                 /* this round's asynchronous requests */
        size_t n_reqs, size_reqs;
        unsigned outstanding;
        Stats st;
        /* published at the end of a phase, read by the main thread */
        unsigned done_gen;
        uint64_t mapped_bytes, mappings, restarts_seen;
        uint64_t objects;               /* the broker's ACCOUNT_OBJECTS of this session: IOAS, device, HWPTs */
        char failure[384];
};

static Svcmgr mgr;
static Client clients[MAX_CLIENTS];
static unsigned n_clients;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static Phase phase = PHASE_SETUP;
static unsigned phase_gen;
static atomic_bool any_failure;
static uint64_t expected_restarts;      /* for PHASE_VERIFY: every restart so far */

static uint64_t env_u64(const char *name, uint64_t def) {
        const char *e = getenv(name);
        char *end;
        unsigned long long v;

        if (!e || !*e)
                return def;
        errno = 0;
        v = strtoull(e, &end, 0);
        if (errno != 0 || *end)
                return def;
        return v;
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sleep_us(uint64_t us) {
        struct timespec ts = { .tv_sec = (time_t) (us / 1000000), .tv_nsec = (long) (us % 1000000) * 1000 };

        (void) nanosleep(&ts, NULL);
}

/* splitmix64 */
static uint64_t rng_next(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t slot_iova(unsigned i) {
        return SLOT_BASE + (uint64_t) i * SLOT_STRIDE;
}

static uint64_t slot_offset(unsigned i) {
        return (uint64_t) i * SLOT_MAX;
}

/* The first failure of a client, with its context; the round's checks report it. */
static void fail(Client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(Client *cl, const char *fmt, ...) {
        va_list ap;

        if (cl->failure[0])
                return;
        va_start(ap, fmt);
        (void) vsnprintf(cl->failure, sizeof(cl->failure), fmt, ap);
        va_end(ap);
        atomic_store(&any_failure, true);
}

static const char *err_name(int r) {
        return r == 0 ? "success" : ib_errno_name(r) ?: "?";
}

/* ---------------------------------------------------------------- the client's side */

static AsyncReq *req_new(Client *cl, unsigned slot, bool is_map, bool has_fd) {
        if (cl->n_reqs == cl->size_reqs) {
                size_t n = cl->size_reqs ? cl->size_reqs * 2 : 256;
                /* callbacks hold pointers into this array: grow it only between rounds (drained) */
                AsyncReq *a;

                if (cl->outstanding > 0)
                        return NULL;
                a = reallocarray(cl->reqs, n, sizeof(*a));
                if (!a)
                        return NULL;
                cl->reqs = a;
                cl->size_reqs = n;
        }
        cl->reqs[cl->n_reqs] = (AsyncReq) { .cl = cl, .slot = slot, .is_map = is_map, .has_fd = has_fd };
        return &cl->reqs[cl->n_reqs++];
}

static void on_reply(ib_client *c, const ib_result *res, void *userdata) {
        AsyncReq *q = userdata;
        Client *cl = q->cl;
        Slot *s = &cl->slots[q->slot];

        cl->st.callbacks++;
        if (++q->calls > 1) {
                fail(cl, "an asynchronous %s of slot %u completed %u times", q->is_map ? "map" : "unmap", q->slot,
                     q->calls);
                return;
        }
        cl->outstanding--;
        if (s->state != SLOT_BUSY) {
                fail(cl, "slot %u: a reply for it while no request was in flight", q->slot);
                return;
        }
        if (q->is_map) {
                if (res->error == 0 && res->iova == slot_iova(q->slot))
                        s->state = SLOT_MAPPED;
                else if (res->error == -ECANCELED && q->has_fd) {
                        cl->st.canceled++;
                        s->state = SLOT_FREE;
                } else {
                        fail(cl, "async map of slot %u (%s): %s, iova 0x%" PRIx64 ": %s", q->slot,
                             q->has_fd ? "memfd" : "registered", err_name(res->error), res->iova, res->message);
                        s->state = SLOT_FREE;
                }
        } else {
                if (res->error == 0 && res->length == s->length)
                        s->state = SLOT_FREE;
                else {
                        fail(cl, "async unmap of mapped slot %u (0x%" PRIx64 " bytes): %s, length 0x%" PRIx64 ": %s",
                             q->slot, s->length, err_name(res->error), res->length, res->message);
                        s->state = SLOT_MAPPED;
                }
        }
}

static int pump(Client *cl, int timeout_ms) {
        struct pollfd p = { .fd = ib_client_get_fd(cl->c), .events = (short) ib_client_get_events(cl->c) };
        int r;

        if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
                return -errno;
        r = ib_client_process(cl->c);
        if (r < 0)
                fail(cl, "ib_client_process: %s", err_name(r));
        return r;
}

/* Waits for every asynchronous request: each must complete exactly once. */
static void drain(Client *cl) {
        uint64_t t0 = now_ms();

        while ((cl->outstanding > 0 || ib_client_pending(cl->c) > 0) && !cl->failure[0]) {
                if (now_ms() - t0 > DRAIN_TIMEOUT_MS) {
                        fail(cl, "%u asynchronous requests (%zu pending in the library) got no outcome in %d s",
                             cl->outstanding, ib_client_pending(cl->c), DRAIN_TIMEOUT_MS / 1000);
                        break;
                }
                (void) pump(cl, 50);
        }
        /* which requests got nothing: their verb and slot, for the broker's log */
        for (size_t i = 0; i < cl->n_reqs && cl->failure[0]; i++)
                if (cl->reqs[i].calls == 0)
                        printf("# client %u: no outcome for asynchronous request %zu of the round: %s of slot %u "
                               "(IOVA 0x%" PRIx64 ", 0x%" PRIx64 " bytes%s)\n", cl->index, i,
                               cl->reqs[i].is_map ? "map" : "unmap", cl->reqs[i].slot, slot_iova(cl->reqs[i].slot),
                               cl->slots[cl->reqs[i].slot].length,
                               cl->reqs[i].is_map ? cl->reqs[i].has_fd ? ", by memfd" : ", registered memory" : "");
        for (size_t i = 0; i < cl->n_reqs && !cl->failure[0]; i++)
                if (cl->reqs[i].calls != 1)
                        fail(cl, "asynchronous request %zu of the round completed %u times", i, cl->reqs[i].calls);
        cl->n_reqs = 0;
}

static int pick_slot(Client *cl, SlotState want) {
        unsigned start = (unsigned) (rng_next(&cl->rng) % SLOTS);

        for (unsigned k = 0; k < SLOTS; k++) {
                unsigned i = (start + k) % SLOTS;

                if (cl->slots[i].state == want)
                        return (int) i;
        }
        return -1;
}

static uint64_t pick_length(Client *cl) {
        return (uint64_t) PAGE * (1 + rng_next(&cl->rng) % (SLOT_MAX / PAGE));
}

static void op_map(Client *cl, bool async, bool by_fd) {
        int i = pick_slot(cl, SLOT_FREE);
        uint64_t len, iova;
        unsigned flags = IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA;
        Slot *s;
        int r;

        if (i < 0)
                return;
        s = &cl->slots[i];
        len = pick_length(cl);
        if (async) {
                AsyncReq *q = req_new(cl, (unsigned) i, true, by_fd);

                if (!q)
                        return;
                r = by_fd ? ib_map_async(cl->c, cl->ioas, cl->memfd, slot_offset(i), len, flags, slot_iova(i), on_reply, q)
                          : ib_map_mem_async(cl->c, cl->ioas, cl->mem, slot_offset(i), len, flags, slot_iova(i),
                                             on_reply, q);
                if (r < 0) {
                        cl->n_reqs--;
                        fail(cl, "queueing a map: %s", err_name(r));
                        return;
                }
                s->state = SLOT_BUSY;
                s->length = len;
                cl->outstanding++;
                cl->st.async_sent++;
                (void) ib_client_process(cl->c);
                return;
        }
        cl->st.sync_calls++;
        iova = slot_iova(i);
        r = by_fd ? ib_map(cl->c, cl->ioas, cl->memfd, slot_offset(i), len, flags, &iova)
                  : ib_map_mem(cl->c, cl->ioas, cl->mem, slot_offset(i), len, flags, slot_iova(i), &iova);
        if (r == 0 && iova == slot_iova(i)) {
                s->state = SLOT_MAPPED;
                s->length = len;
        } else if (r == -ECANCELED && by_fd)
                cl->st.canceled++;
        else
                fail(cl, "map of slot %d (%s): %s, iova 0x%" PRIx64 ": %s", i, by_fd ? "memfd" : "registered",
                     err_name(r), iova, ib_client_error(cl->c));
}

static void op_unmap(Client *cl, bool async) {
        int i = pick_slot(cl, SLOT_MAPPED);
        uint64_t got = 0;
        Slot *s;
        int r;

        if (i < 0)
                return;
        s = &cl->slots[i];
        if (async) {
                AsyncReq *q = req_new(cl, (unsigned) i, false, false);

                if (!q)
                        return;
                r = ib_unmap_async(cl->c, cl->ioas, slot_iova(i), s->length, on_reply, q);
                if (r < 0) {
                        cl->n_reqs--;
                        fail(cl, "queueing an unmap: %s", err_name(r));
                        return;
                }
                s->state = SLOT_BUSY;
                cl->outstanding++;
                cl->st.async_sent++;
                (void) ib_client_process(cl->c);
                return;
        }
        cl->st.sync_calls++;
        r = ib_unmap(cl->c, cl->ioas, slot_iova(i), s->length, &got);
        if (r == 0 && got == s->length)
                s->state = SLOT_FREE;
        else
                fail(cl, "unmap of mapped slot %d (0x%" PRIx64 " bytes): %s, 0x%" PRIx64 " unmapped: %s", i, s->length,
                     err_name(r), got, ib_client_error(cl->c));
}

/* An unmap of a slot believed empty: ENOENT, or the broker holds what nobody asked for. */
static void op_unmap_free(Client *cl) {
        int i = pick_slot(cl, SLOT_FREE);
        uint64_t got = 0;
        int r;

        if (i < 0)
                return;
        cl->st.sync_calls++;
        cl->st.enoent_probes++;
        r = ib_unmap(cl->c, cl->ioas, slot_iova(i), SLOT_MAX, &got);
        if (r != -ENOENT)
                fail(cl, "unmap of empty slot %d: %s (0x%" PRIx64 " unmapped), expected ENOENT: %s", i, err_name(r), got,
                     ib_client_error(cl->c));
}

static void op_batch(Client *cl) {
        unsigned n = 2 + (unsigned) (rng_next(&cl->rng) % 5), n_ops = 0;
        unsigned idx[8];
        bool is_map[8];
        uint64_t len[8];
        bool has_fd = false;
        ib_batch *b = NULL;
        int r;

        if (ib_batch_new(&b) < 0)
                return fail(cl, "ib_batch_new failed");
        for (unsigned k = 0; k < n; k++) {
                unsigned i = (unsigned) (rng_next(&cl->rng) % SLOTS);
                bool dup = false;

                for (unsigned j = 0; j < n_ops; j++)
                        dup |= idx[j] == i;
                if (dup || cl->slots[i].state == SLOT_BUSY)
                        continue;
                idx[n_ops] = i;
                is_map[n_ops] = cl->slots[i].state == SLOT_FREE;
                if (is_map[n_ops]) {
                        unsigned flags = IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA;

                        len[n_ops] = pick_length(cl);
                        if (rng_next(&cl->rng) % 8 == 0) {
                                has_fd = true;
                                r = ib_batch_add_map(b, cl->ioas, cl->memfd, slot_offset(i), len[n_ops], flags,
                                                     slot_iova(i));
                        } else
                                r = ib_batch_add_map_mem(b, cl->ioas, cl->mem, slot_offset(i), len[n_ops], flags,
                                                         slot_iova(i));
                } else {
                        len[n_ops] = cl->slots[i].length;
                        r = ib_batch_add_unmap(b, cl->ioas, slot_iova(i), len[n_ops]);
                }
                if (r < 0) {
                        ib_batch_free(b);
                        return fail(cl, "adding to a batch: %s", err_name(r));
                }
                n_ops++;
        }
        if (n_ops == 0) {
                ib_batch_free(b);
                return;
        }
        cl->st.sync_calls++;
        cl->st.batches++;
        cl->st.batch_ops += n_ops;
        r = ib_batch_run(cl->c, b, /* stop_on_error= */ false);
        if (r == -ECANCELED && has_fd) {
                /* it carried a memfd and was stopped before it changed anything */
                cl->st.canceled++;
                ib_batch_free(b);
                return;
        }
        if (r < 0) {
                ib_batch_free(b);
                return fail(cl, "batch of %u: %s: %s", n_ops, err_name(r), ib_client_error(cl->c));
        }
        for (unsigned k = 0; k < n_ops; k++) {
                Slot *s = &cl->slots[idx[k]];
                const char *why = NULL;
                uint64_t v = 0;
                int e = ib_batch_result(b, k, &v, &why);

                if (e == -ECANCELED) {
                        cl->st.canceled++;      /* not run: a restart stopped the batch before it */
                        continue;
                }
                if (is_map[k] && e == 0 && v == slot_iova(idx[k])) {
                        s->state = SLOT_MAPPED;
                        s->length = len[k];
                } else if (!is_map[k] && e == 0 && v == len[k])
                        s->state = SLOT_FREE;
                else
                        fail(cl, "batch op %u (%s of slot %u, 0x%" PRIx64 " bytes): %s, value 0x%" PRIx64 ": %s", k,
                             is_map[k] ? "map" : "unmap", idx[k], len[k], err_name(e), v, why ?: "");
        }
        ib_batch_free(b);
}

static void op_query(Client *cl) {
        ib_iova_range ranges[16];
        size_t n = 16;
        uint64_t align = 0;
        ib_caps caps;
        int r;

        cl->st.sync_calls++;
        cl->st.queries++;
        if (rng_next(&cl->rng) % 2)
                r = ib_caps_get(cl->c, &caps);
        else
                r = ib_iova_ranges(cl->c, cl->ioas, ranges, &n, &align);
        if (r < 0)
                fail(cl, "a query: %s: %s", err_name(r), ib_client_error(cl->c));
}

/* ---------------------------------------------------------------- the device verbs */

static HwptTruth *hwpt_find(Client *cl, uint32_t id) {
        for (unsigned k = 0; k < cl->n_hwpts; k++)
                if (cl->hwpts[k].id == id)
                        return &cl->hwpts[k];
        return NULL;
}

/* A HWPT allocated with pasid=true: the RID may move there with PASIDs attached, a PASID may attach to it. */
static bool pt_pasid_capable(Client *cl, uint32_t pt) {
        HwptTruth *h = pt ? hwpt_find(cl, pt) : NULL;

        return h && h->pasid;
}

static unsigned n_pasids(Client *cl) {
        unsigned n = 0;

        for (unsigned v = 1; v <= N_VPASIDS; v++)
                n += cl->vpasid_pt[v] != 0;
        return n;
}

/* The RID or a PASID is attached to it: HwptFree is EBUSY. */
static bool hwpt_in_use(Client *cl, uint32_t id) {
        if (cl->rid_pt == id)
                return true;
        for (unsigned v = 1; v <= N_VPASIDS; v++)
                if (cl->vpasid_pt[v] == id)
                        return true;
        return false;
}

static void freed_add(Client *cl, uint32_t id) {
        if (cl->n_freed < MAX_FREED)
                cl->freed[cl->n_freed++] = id;
        else {
                memmove(cl->freed, cl->freed + 1, sizeof(cl->freed[0]) * (MAX_FREED - 1));
                cl->freed[MAX_FREED - 1] = id;
        }
}

/* An id given out again is no longer a freed one. */
static void freed_forget(Client *cl, uint32_t id) {
        for (unsigned k = 0; k < cl->n_freed; k++)
                if (cl->freed[k] == id) {
                        memmove(cl->freed + k, cl->freed + k + 1, sizeof(cl->freed[0]) * (cl->n_freed - k - 1));
                        cl->n_freed--;
                        return;
                }
}

static const char *pt_name(Client *cl, uint32_t pt, char *buf, size_t size) {
        if (pt == 0)
                return "nothing";
        if (pt == cl->ioas)
                (void) snprintf(buf, size, "IOAS %" PRIu32, pt);
        else
                (void) snprintf(buf, size, "HWPT %" PRIu32 "%s", pt, pt_pasid_capable(cl, pt) ? " (pasid)" : "");
        return buf;
}

/* The answer to a device verb against what the truth predicts: 0 (want 0) or the error wanted. */
static bool expect(Client *cl, int r, int want, const char *what) {
        (void) snprintf(cl->history[cl->n_history++ % HISTORY], sizeof(cl->history[0]), "%s: %s (after %" PRIu64
                        " restarts)", what, err_name(r), ib_client_restarts(cl->c));
        if (r == want) {
                if (want != 0)
                        cl->st.refused++;
                return true;
        }
        fail(cl, "%s: %s, expected %s: %s", what, err_name(r), err_name(want), ib_client_error(cl->c));
        return false;
}

static void op_hwpt_alloc(Client *cl) {
        bool pasid = cl->pasid_width > 0 && rng_next(&cl->rng) % 4 != 0;
        uint32_t id = 0;
        int r;

        if (cl->n_hwpts == MAX_HWPTS)
                return;
        cl->st.sync_calls++;
        cl->st.hwpt_allocs++;
        r = ib_hwpt_alloc(cl->c, cl->dev, cl->ioas, pasid ? IB_HWPT_PASID : 0, IB_HWPT_DATA_NONE, NULL, 0, &id);
        if (r < 0)
                return fail(cl, "hwpt-alloc (pasid=%s) on IOAS %" PRIu32 ": %s: %s", pasid ? "yes" : "no", cl->ioas,
                            err_name(r), ib_client_error(cl->c));
        if (id == 0 || id == cl->ioas || id == cl->dev || hwpt_find(cl, id))
                return fail(cl, "hwpt-alloc gave id %" PRIu32 ", which names an object this client holds", id);
        freed_forget(cl, id);
        cl->hwpts[cl->n_hwpts++] = (HwptTruth) { .id = id, .pasid = pasid };
}

static void op_hwpt_free(Client *cl) {
        char what[96];
        unsigned k;
        uint32_t id;
        bool busy;
        int r;

        cl->st.sync_calls++;
        cl->st.hwpt_frees++;
        if (cl->n_freed > 0 && (cl->n_hwpts == 0 || rng_next(&cl->rng) % 4 == 0)) {
                /* one freed before: gone */
                id = cl->freed[rng_next(&cl->rng) % cl->n_freed];
                (void) snprintf(what, sizeof(what), "hwpt-free of HWPT %" PRIu32 ", freed before", id);
                (void) expect(cl, ib_hwpt_free(cl->c, id), -ENOENT, what);
                return;
        }
        if (cl->n_hwpts == 0) {
                cl->st.sync_calls--;
                cl->st.hwpt_frees--;
                return;
        }
        /* mostly an unused one (freed), now and then one in use (EBUSY) */
        k = (unsigned) (rng_next(&cl->rng) % cl->n_hwpts);
        for (unsigned j = 0; j < cl->n_hwpts && rng_next(&cl->rng) % 4 != 0; j++)
                if (!hwpt_in_use(cl, cl->hwpts[(k + j) % cl->n_hwpts].id)) {
                        k = (k + j) % cl->n_hwpts;
                        break;
                }
        id = cl->hwpts[k].id;
        busy = hwpt_in_use(cl, id);
        (void) snprintf(what, sizeof(what), "hwpt-free of HWPT %" PRIu32 " (%s)", id, busy ? "in use" : "unused");
        r = ib_hwpt_free(cl->c, id);
        if (!expect(cl, r, busy ? -EBUSY : 0, what) || busy)
                return;
        cl->hwpts[k] = cl->hwpts[--cl->n_hwpts];
        freed_add(cl, id);
}

/* Attaches the RID to the IOAS or a HWPT: EINVAL if PASIDs are attached and the target is not pasid-capable. */
static void op_attach(Client *cl, uint32_t pt) {
        bool ok = pt_pasid_capable(cl, pt) || n_pasids(cl) == 0;
        char what[160], a[48], b[48];
        uint32_t hwpt = 0;
        int r;

        cl->st.sync_calls++;
        cl->st.attaches++;
        (void) snprintf(what, sizeof(what), "device-attach to %s (attached to %s, %u PASIDs)",
                        pt_name(cl, pt, a, sizeof(a)), pt_name(cl, cl->rid_pt, b, sizeof(b)), n_pasids(cl));
        r = ib_device_attach(cl->c, cl->dev, pt, &hwpt);
        if (!expect(cl, r, ok ? 0 : -EINVAL, what) || !ok)
                return;
        if (pt != cl->ioas && hwpt != pt)
                return fail(cl, "%s: the answer names HWPT %" PRIu32, what, hwpt);
        cl->rid_pt = pt;
}

static void op_detach(Client *cl) {
        char what[96], a[48];
        int r;

        cl->st.sync_calls++;
        cl->st.detaches++;
        (void) snprintf(what, sizeof(what), "device-detach (attached to %s)", pt_name(cl, cl->rid_pt, a, sizeof(a)));
        r = ib_device_detach(cl->c, cl->dev);
        if (expect(cl, r, cl->rid_pt ? 0 : -ENOENT, what))
                cl->rid_pt = 0;
}

/*
 * Attaches (or moves) vPASID v to HWPT pt: the kernel wants pt pasid-capable, and the RID's
 * page table too if it is attached (iommufd_hwpt_pasid_compat); EINVAL otherwise.
 */
static void op_pasid_attach(Client *cl, unsigned v, uint32_t pt) {
        bool ok = pt_pasid_capable(cl, pt) && (cl->rid_pt == 0 || pt_pasid_capable(cl, cl->rid_pt));
        char what[192], a[48], b[48], c[48];
        uint32_t phys = 0;
        int r;

        cl->st.sync_calls++;
        cl->st.pasid_attaches++;
        (void) snprintf(what, sizeof(what), "pasid-attach of vPASID %u to %s (on %s, the RID on %s)", v,
                        pt_name(cl, pt, a, sizeof(a)), pt_name(cl, cl->vpasid_pt[v], b, sizeof(b)),
                        pt_name(cl, cl->rid_pt, c, sizeof(c)));
        r = ib_pasid_attach(cl->c, cl->dev, v, pt, &phys);
        if (!expect(cl, r, ok ? 0 : -EINVAL, what) || !ok)
                return;
        if (phys == 0 || (cl->vpasid_pt[v] && phys != cl->vpasid_phys[v]))
                return fail(cl, "%s: physical PASID %" PRIu32 ", it had %" PRIu32, what, phys, cl->vpasid_phys[v]);
        cl->vpasid_pt[v] = pt;
        cl->vpasid_phys[v] = phys;
}

static void op_pasid_detach(Client *cl, unsigned v) {
        char what[96], a[48];
        int r;

        cl->st.sync_calls++;
        cl->st.pasid_detaches++;
        (void) snprintf(what, sizeof(what), "pasid-detach of vPASID %u (on %s)", v,
                        pt_name(cl, cl->vpasid_pt[v], a, sizeof(a)));
        r = ib_pasid_detach(cl->c, cl->dev, v);
        if (expect(cl, r, cl->vpasid_pt[v] ? 0 : -ENOENT, what))
                cl->vpasid_pt[v] = cl->vpasid_phys[v] = 0;
}

/* One device verb, mostly ones the truth says succeed, now and then one it says is refused. */
static void op_device_one(Client *cl) {
        unsigned w = (unsigned) (rng_next(&cl->rng) % 100);
        unsigned v = 1 + (unsigned) (rng_next(&cl->rng) % N_VPASIDS);
        uint32_t pt;

        if (cl->pasid_width == 0 && w >= 55)
                w = (unsigned) (rng_next(&cl->rng) % 55);
        if (w < 15) {
                op_hwpt_alloc(cl);
        } else if (w < 28) {
                op_hwpt_free(cl);
        } else if (w < 45) {
                /* the IOAS or a HWPT; with PASIDs attached mostly a pasid-capable one */
                unsigned k = (unsigned) (rng_next(&cl->rng) % (cl->n_hwpts + 1));

                pt = k == cl->n_hwpts ? cl->ioas : cl->hwpts[k].id;
                if (n_pasids(cl) > 0 && !pt_pasid_capable(cl, pt) && rng_next(&cl->rng) % 4 != 0)
                        for (unsigned j = 0; j < cl->n_hwpts; j++)
                                if (cl->hwpts[j].pasid)
                                        pt = cl->hwpts[j].id;
                op_attach(cl, pt);
        } else if (w < 55) {
                op_detach(cl);
        } else if (w < 82) {
                /* a pasid-capable HWPT other than the RID's if there is one; without the RID on one, first that */
                pt = 0;
                for (unsigned j = 0; j < cl->n_hwpts; j++)
                        if (cl->hwpts[j].pasid && (pt == 0 || cl->hwpts[j].id != cl->rid_pt) &&
                            rng_next(&cl->rng) % 2)
                                pt = cl->hwpts[j].id;
                if (pt == 0)
                        return op_hwpt_alloc(cl);
                if (cl->rid_pt != 0 && !pt_pasid_capable(cl, cl->rid_pt) && rng_next(&cl->rng) % 4 != 0)
                        return op_attach(cl, pt);       /* the RID to a pasid-capable HWPT first */
                op_pasid_attach(cl, v, pt);
        } else
                op_pasid_detach(cl, v);
}

static void op_device(Client *cl) {
        uint64_t restarts = ib_client_restarts(cl->c);

        op_device_one(cl);
        if (ib_client_restarts(cl->c) != restarts)
                cl->st.device_across++;
}

/*
 * With nothing in flight: the broker agrees with the device's truth.  Each vPASID: PasidLookup
 * names its HWPT and physical PASID, or ENOENT; each HWPT id freed: HwptFree says ENOENT; each
 * HWPT in use: HwptFree says EBUSY; the RID detached: DeviceDetach says ENOENT, attached to the
 * IOAS: detached and attached again.
 */
static void verify_device(Client *cl) {
        char what[96];

        if (!cl->has_dev || !device_ops || cl->failure[0])
                return;
        for (unsigned v = 1; v <= N_VPASIDS && cl->pasid_width > 0 && !cl->failure[0]; v++) {
                uint32_t phys = 0, pt = 0;
                int r = ib_pasid_lookup(cl->c, cl->dev, v, &phys, &pt);

                cl->st.verified_pasids++;
                if (cl->vpasid_pt[v] == 0 && r != -ENOENT)
                        return fail(cl, "check: vPASID %u believed detached: lookup says %s (HWPT %" PRIu32
                                    ", PASID %" PRIu32 "): %s", v, err_name(r), pt, phys, ib_client_error(cl->c));
                if (cl->vpasid_pt[v] != 0 && (r != 0 || pt != cl->vpasid_pt[v] || phys != cl->vpasid_phys[v]))
                        return fail(cl, "check: vPASID %u believed on HWPT %" PRIu32 " as PASID %" PRIu32 ": lookup "
                                    "says %s, HWPT %" PRIu32 ", PASID %" PRIu32 ": %s", v, cl->vpasid_pt[v],
                                    cl->vpasid_phys[v], err_name(r), pt, phys, ib_client_error(cl->c));
        }
        for (unsigned k = 0; k < cl->n_freed && !cl->failure[0]; k++) {
                (void) snprintf(what, sizeof(what), "check: hwpt-free of HWPT %" PRIu32 ", freed before", cl->freed[k]);
                (void) expect(cl, ib_hwpt_free(cl->c, cl->freed[k]), -ENOENT, what);
                cl->st.verified_hwpts++;
        }
        for (unsigned k = 0; k < cl->n_hwpts && !cl->failure[0]; k++)
                if (hwpt_in_use(cl, cl->hwpts[k].id)) {
                        (void) snprintf(what, sizeof(what), "check: hwpt-free of HWPT %" PRIu32 " in use",
                                        cl->hwpts[k].id);
                        (void) expect(cl, ib_hwpt_free(cl->c, cl->hwpts[k].id), -EBUSY, what);
                        cl->st.verified_hwpts++;
                }
        if (cl->failure[0])
                return;
        if (cl->rid_pt == 0)
                (void) expect(cl, ib_device_detach(cl->c, cl->dev), -ENOENT, "check: device-detach of the detached device");
        else if (cl->rid_pt == cl->ioas) {
                op_detach(cl);
                if (!cl->failure[0])
                        op_attach(cl, cl->ioas);
        }
}

/* The end: every PASID detached, the RID on the IOAS, every HWPT freed, then checked. */
static void device_teardown(Client *cl) {
        if (!cl->has_dev || !device_ops)
                return;
        for (unsigned v = 1; v <= N_VPASIDS && !cl->failure[0]; v++)
                if (cl->vpasid_pt[v])
                        op_pasid_detach(cl, v);
        if (!cl->failure[0] && cl->rid_pt != cl->ioas)
                op_attach(cl, cl->ioas);
        while (cl->n_hwpts > 0 && !cl->failure[0]) {
                uint32_t id = cl->hwpts[cl->n_hwpts - 1].id;

                cl->st.sync_calls++;
                cl->st.hwpt_frees++;
                if (expect(cl, ib_hwpt_free(cl->c, id), 0, "hwpt-free at the end")) {
                        cl->n_hwpts--;
                        freed_add(cl, id);
                }
        }
        verify_device(cl);
}

static void run_one(Client *cl) {
        unsigned w = (unsigned) (rng_next(&cl->rng) % 100);

        while (cl->outstanding >= MAX_ASYNC && !cl->failure[0])
                (void) pump(cl, 10);
        if (cl->has_dev && device_ops && rng_next(&cl->rng) % 100 < DEVICE_OP_PERCENT)
                op_device(cl);
        else if (w < 18)
                op_map(cl, false, false);
        else if (w < 36)
                op_map(cl, true, false);
        else if (w < 40)
                op_map(cl, false, true);
        else if (w < 44)
                op_map(cl, true, true);
        else if (w < 58)
                op_unmap(cl, false);
        else if (w < 72)
                op_unmap(cl, true);
        else if (w < 78)
                op_unmap_free(cl);
        else if (w < 92)
                op_batch(cl);
        else
                op_query(cl);
        if (cl->outstanding > 0)
                (void) ib_client_process(cl->c);
}

/* Unmaps every slot (all) or a random half: a mapped one returns its length (half: mapped again), an empty one ENOENT. */
static void verify_slots(Client *cl, bool all) {
        for (unsigned i = 0; i < SLOTS && !cl->failure[0]; i++) {
                Slot *s = &cl->slots[i];
                uint64_t got = 0, iova = 0;
                int r;

                if (!all && rng_next(&cl->rng) % 2)
                        continue;
                if (s->state == SLOT_MAPPED) {
                        r = ib_unmap(cl->c, cl->ioas, slot_iova(i), s->length, &got);
                        if (r != 0 || got != s->length)
                                return fail(cl, "check: unmap of mapped slot %u (0x%" PRIx64 " bytes): %s, 0x%" PRIx64
                                            " unmapped: %s", i, s->length, err_name(r), got, ib_client_error(cl->c));
                        cl->st.verified_mapped++;
                        s->state = SLOT_FREE;
                        if (all)
                                continue;
                        r = ib_map_mem(cl->c, cl->ioas, cl->mem, slot_offset(i), s->length,
                                       IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, slot_iova(i), &iova);
                        if (r != 0)
                                return fail(cl, "check: mapping slot %u again: %s: %s", i, err_name(r),
                                            ib_client_error(cl->c));
                        s->state = SLOT_MAPPED;
                } else if (s->state == SLOT_FREE) {
                        r = ib_unmap(cl->c, cl->ioas, slot_iova(i), SLOT_MAX, &got);
                        if (r != -ENOENT)
                                return fail(cl, "check: unmap of empty slot %u: %s (0x%" PRIx64 " unmapped), "
                                            "expected ENOENT: %s", i, err_name(r), got, ib_client_error(cl->c));
                        cl->st.verified_free++;
                } else
                        return fail(cl, "check: slot %u still has a request in flight", i);
        }
}

static void publish(Client *cl, unsigned gen) {
        uint64_t bytes = 0, n = 0;

        for (unsigned i = 0; i < SLOTS; i++)
                if (cl->slots[i].state == SLOT_MAPPED) {
                        bytes += cl->slots[i].length;
                        n++;
                }
        pthread_mutex_lock(&lock);
        cl->mapped_bytes = bytes;
        cl->mappings = n;
        cl->objects = 1 + cl->has_dev + cl->n_hwpts;
        cl->restarts_seen = ib_client_restarts(cl->c);
        cl->done_gen = gen;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
}

static int client_setup(Client *cl) {
        ib_ioas_alloc_args args = { .window = IB_IOVA_WINDOW_32BIT };
        char name[32];
        int r;

        (void) snprintf(name, sizeof(name), "restart-soak-%u", cl->index);
        cl->dev_fd = -1;
        r = ib_client_connect(mgr.socket, name, &cl->c);
        if (r < 0)
                return fail(cl, "connect: %s", err_name(r)), r;
        (void) ib_client_set_coalescing(cl->c, coalesce);
        r = ib_ioas_alloc(cl->c, &args, &cl->ioas);
        if (r < 0)
                return fail(cl, "ioas-alloc: %s: %s", err_name(r), ib_client_error(cl->c)), r;
        cl->memfd = test_memfd("restart-soak", MEMFD_SIZE);
        if (cl->memfd < 0)
                return fail(cl, "memfd: %s", strerror(-cl->memfd)), cl->memfd;
        r = ib_mem_register(cl->c, cl->memfd, &cl->mem);
        if (r < 0)
                return fail(cl, "mem-register: %s: %s", err_name(r), ib_client_error(cl->c)), r;
        if (cl->index < n_devices) {
                r = ib_device_open(cl->c, device_names[cl->index], &cl->dev, &cl->dev_fd);
                if (r < 0)
                        return fail(cl, "device-open %s: %s: %s", device_names[cl->index], err_name(r),
                                    ib_client_error(cl->c)), r;
                r = ib_device_attach(cl->c, cl->dev, cl->ioas, NULL);
                if (r < 0)
                        return fail(cl, "device-attach: %s: %s", err_name(r), ib_client_error(cl->c)), r;
                cl->has_dev = true;
                cl->rid_pt = cl->ioas;
                {
                        ib_device_info info[8];
                        size_t n = 8;

                        r = ib_device_list(cl->c, info, &n);
                        if (r < 0)
                                return fail(cl, "device-list: %s: %s", err_name(r), ib_client_error(cl->c)), r;
                        for (size_t k = 0; k < n; k++)
                                if (strcmp(info[k].name, device_names[cl->index]) == 0)
                                        cl->pasid_width = info[k].pasid_width;
                }
        }
        return 0;
}

static void *client_main(void *arg) {
        Client *cl = arg;
        unsigned seen = 0;

        (void) client_setup(cl);
        publish(cl, 0);
        for (;;) {
                Phase p;
                unsigned gen;

                pthread_mutex_lock(&lock);
                while (phase_gen == seen && phase != PHASE_RUN)
                        pthread_cond_wait(&cond, &lock);
                p = phase;
                gen = phase_gen;
                pthread_mutex_unlock(&lock);

                if (p == PHASE_QUIT)
                        break;
                if (cl->failure[0] && p != PHASE_RUN) {
                        /* failed: only say so, phase after phase */
                        seen = gen;
                        publish(cl, gen);
                        continue;
                }
                switch (p) {
                case PHASE_RUN:
                        if (!cl->failure[0])
                                run_one(cl);
                        else
                                sleep_us(1000);
                        seen = gen;
                        continue;
                case PHASE_DRAIN:
                        drain(cl);
                        break;
                case PHASE_VERIFY:
                        verify_slots(cl, false);
                        verify_device(cl);
                        if (!cl->failure[0] && ib_client_restarts(cl->c) != expected_restarts)
                                fail(cl, "the library counted %" PRIu64 " restarts, the broker restarted %" PRIu64
                                     " times", ib_client_restarts(cl->c), expected_restarts);
                        break;
                case PHASE_END:
                        drain(cl);
                        verify_slots(cl, true);
                        device_teardown(cl);
                        break;
                default:
                        break;
                }
                seen = gen;
                publish(cl, gen);
        }
        if (cl->dev_fd >= 0) {
                (void) ib_device_close(cl->c, cl->dev);
                close(cl->dev_fd);
        }
        ib_client_free(cl->c);
        if (cl->memfd >= 0)
                close(cl->memfd);
        free(cl->reqs);
        return NULL;
}

/* ---------------------------------------------------------------- the main thread's side */

/* Moves every client to phase p and waits until each has finished it. */
static bool set_phase(Phase p, int timeout_ms) {
        struct timespec until;
        unsigned gen;
        bool ok = true;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        pthread_mutex_lock(&lock);
        phase = p;
        gen = ++phase_gen;
        pthread_cond_broadcast(&cond);
        if (p != PHASE_RUN && p != PHASE_QUIT)
                for (unsigned i = 0; i < n_clients && ok; i++)
                        while (clients[i].done_gen != gen && ok)
                                ok = pthread_cond_timedwait(&cond, &lock, &until) == 0;
        pthread_mutex_unlock(&lock);
        return ok;
}

static bool report_failures(void) {
        bool any = false;

        for (unsigned i = 0; i < n_clients; i++)
                if (clients[i].failure[0]) {
                        Client *cl = &clients[i];

                        printf("# client %u: %s\n", i, cl->failure);
                        for (unsigned k = cl->n_history > HISTORY ? cl->n_history - HISTORY : 0; k < cl->n_history; k++)
                                printf("#   device verb %u: %s\n", k, cl->history[k % HISTORY]);
                        cl->n_history = 0;
                        any = true;
                }
        return any;
}

static void sums(uint64_t *bytes, uint64_t *mappings, uint64_t *objects) {
        *bytes = *mappings = *objects = 0;
        pthread_mutex_lock(&lock);
        for (unsigned i = 0; i < n_clients; i++) {
                *bytes += clients[i].mapped_bytes;
                *mappings += clients[i].mappings;
                *objects += clients[i].objects;
        }
        pthread_mutex_unlock(&lock);
}

/*
 * The audit record's "O objects" counts what restore_objects() restored: the objects of
 * ACCOUNT_OBJECTS (IOASes, devices, HWPTs) and the registrations besides (one a client).
 */
static uint64_t restored_objects(uint64_t objects) {
        return objects + n_clients;
}

typedef struct Totals {
        unsigned kills, idle_kills;
        uint64_t settled, restart_us_max, restart_us_sum, ready_ms_max, ready_ms_sum;
} Totals;

static Totals totals;

/*
 * Kills the broker and waits for its restart; checks the restart's audit record says no session
 * ended and, unless UINT64_MAX (clients busy), that it restored want_objects objects.
 */
static int kill_and_wait(uint64_t want_objects, RestartAudit *ret) {
        unsigned next = mgr.starts + 1;
        RestartAudit a;
        int r;

        r = svcmgr_kill(&mgr);
        if (r < 0)
                return printf("# cannot write to the harness's control FIFO: %s\n", strerror(-r)), r;
        if (!svcmgr_wait_ready(&mgr, next, READY_TIMEOUT_MS))
                return printf("# the broker did not come back (start %u) in %d s\n", next, READY_TIMEOUT_MS / 1000),
                       -ETIMEDOUT;
        r = svcmgr_restart_audit(&mgr, next - 1, &a);
        if (r < 0)
                return printf("# no audit record of restart %u\n", next - 1), r;
        if (a.ended != 0 || a.sessions != n_clients + 1)
                return printf("# restart %u: %" PRIu64 " sessions restored, %" PRIu64 " ended; expected %u and 0\n",
                              next - 1, a.sessions, a.ended, n_clients + 1), -EPROTO;
        if (want_objects != UINT64_MAX && a.objects != want_objects)
                return printf("# restart %u: %" PRIu64 " objects restored, the clients hold %" PRIu64 " (IOASes, "
                              "registrations, devices, HWPTs)\n", next - 1, a.objects, want_objects), -EPROTO;
        totals.settled += a.settled;
        totals.restart_us_sum += a.usec;
        if (a.usec > totals.restart_us_max)
                totals.restart_us_max = a.usec;
        totals.ready_ms_sum += mgr.ready_ms;
        if (mgr.ready_ms > totals.ready_ms_max)
                totals.ready_ms_max = mgr.ready_ms;
        if (ret)
                *ret = a;
        return 0;
}

/* The harness's "exit ... status=killed/SIG" lines with a SIG other than KILL (-errno if unreadable). */
static int deaths_not_by_sigkill(void) {
        char line[512];
        int n = 0;
        FILE *f;

        f = fopen(mgr.status, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "exit ", 5) == 0 && strstr(line, "status=killed/") &&
                    !strstr(line, "status=killed/KILL")) {
                        printf("# the harness saw: %s", line);
                        n++;
                }
        fclose(f);
        return n;
}

/* With every client idle: the broker's counters and records against the clients' truth. */
static int check_records(ib_client *observer, const char *when) {
        uint64_t bytes, mappings, objects;
        RestartAudit a;
        ib_caps caps;
        int r;

        sums(&bytes, &mappings, &objects);
        r = ib_caps_get(observer, &caps);
        if (r < 0 || !caps.has_counters)
                return printf("# %s: caps: %s%s\n", when, err_name(r), r == 0 ? " (no counters)" : ""), -EIO;
        if (caps.mapped_bytes != bytes || caps.objects != objects)
                return printf("# %s: the broker counts 0x%" PRIx64 " mapped bytes and %" PRIu64 " objects, the clients "
                              "0x%" PRIx64 " bytes (%" PRIu64 " mappings) and %" PRIu64 " objects\n", when,
                              caps.mapped_bytes, caps.objects, bytes, mappings, objects), -EPROTO;
        /* an idle kill: the records the next broker restores are exactly the clients' */
        r = kill_and_wait(restored_objects(objects), &a);
        if (r < 0)
                return r;
        totals.idle_kills++;
        if (a.mappings != mappings || a.bytes != bytes)
                return printf("# %s: the broker restored %" PRIu64 " mappings and 0x%" PRIx64 " bytes; the clients "
                              "hold %" PRIu64 " mappings and 0x%" PRIx64 " bytes\n", when, a.mappings, a.bytes,
                              mappings, bytes), -EPROTO;
        r = ib_caps_get(observer, &caps);
        if (r < 0 || caps.mapped_bytes != bytes || caps.objects != objects)
                return printf("# %s: after the idle restart the broker counts 0x%" PRIx64 " bytes and %" PRIu64
                              " objects (%s), the clients 0x%" PRIx64 " and %" PRIu64 "\n", when, caps.mapped_bytes,
                              caps.objects, err_name(r), bytes, objects), -EPROTO;
        return 0;
}

static uint64_t kill_delay_us(uint64_t *rng) {
        /* a few ms to ~100 ms after READY=1; half of them short */
        if (rng_next(rng) % 2)
                return 2000 + rng_next(rng) % 18000;
        return 20000 + rng_next(rng) % 80000;
}

TEST(random_broker_kills_lose_no_request_and_no_record) {
        uint64_t seed = env_u64("IB_SOAK_SEED", 1);
        uint64_t kills = env_u64("IB_RESTART_SOAK_KILLS", 20);
        uint64_t max_ms = env_u64("IB_RESTART_SOAK_MAX_SECONDS", 150) * 1000;
        uint64_t rng = seed, t0, base_objects, bytes, mappings, objects;
        ib_client *observer = NULL;
        unsigned round = 0;
        ib_caps caps;
        char why[96];
        int r;

        if (mgr.pid <= 0)
                return tests_skip("needs IB_DAEMON and IB_BUILDDIR (or IB_SVCMGR)");
        n_clients = (unsigned) env_u64("IB_RESTART_SOAK_CLIENTS", 6);
        if (n_clients == 0 || n_clients > MAX_CLIENTS)
                n_clients = 6;
        printf("# seed %" PRIu64 " (IB_SOAK_SEED), %" PRIu64 " random kills (IB_RESTART_SOAK_KILLS), %u clients "
               "(IB_RESTART_SOAK_CLIENTS), a check every %d kills\n", seed, kills, n_clients, ROUND_KILLS);

        r = ib_client_connect(mgr.socket, "restart-soak-observer", &observer);
        if (r < 0)
                TEST_FAIL("observer connect: %s", err_name(r));
        for (unsigned i = 0; i < n_clients; i++) {
                clients[i] = (Client) { .index = i, .rng = seed ^ ((uint64_t) (i + 1) << 40), .memfd = -1,
                                        .dev_fd = -1 };
                if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0)
                        TEST_FAIL("pthread_create failed");
        }
        if (!set_phase(PHASE_DRAIN, 30000) || report_failures()) {
                set_phase(PHASE_QUIT, 0);
                TEST_FAIL("the clients could not set up");
        }
        r = ib_caps_get(observer, &caps);
        if (r < 0 || !caps.has_counters)
                TEST_FAIL("caps: %s, counters %d", err_name(r), r == 0 && caps.has_counters);
        base_objects = caps.objects;
        sums(&bytes, &mappings, &objects);
        printf("# set up: %u sessions, %" PRIu64 " objects (IOASes and the %u devices attached), every client maps "
               "%d slots of up to %u KiB%s\n", n_clients, base_objects, n_clients < n_devices ? n_clients : n_devices,
               SLOTS, SLOT_MAX >> 10, device_ops && n_devices ? "; the device clients also detach and attach (to "
               "the IOAS or their HWPTs), allocate and free HWPTs, attach and detach vPASIDs" : "");
        if (objects != base_objects)
                TEST_FAIL("the broker counts %" PRIu64 " objects, the clients hold %" PRIu64, base_objects, objects);

        t0 = now_ms();
        while (totals.kills < kills && now_ms() - t0 < max_ms) {
                set_phase(PHASE_RUN, 0);
                for (unsigned k = 0; k < ROUND_KILLS && totals.kills < kills && !atomic_load(&any_failure); k++) {
                        sleep_us(kill_delay_us(&rng));
                        if (kill_and_wait(UINT64_MAX, NULL) < 0) {
                                atomic_store(&any_failure, true);
                                break;
                        }
                        totals.kills++;
                }
                round++;
                /* (1) every request gets its one outcome */
                if (!set_phase(PHASE_DRAIN, DRAIN_TIMEOUT_MS + 10000))
                        printf("# round %u: a client did not finish its requests\n", round);
                if (report_failures() || atomic_load(&any_failure))
                        break;
                /* (2) the broker's records are the clients' truth */
                (void) snprintf(why, sizeof(why), "round %u", round);
                if (check_records(observer, why) < 0) {
                        atomic_store(&any_failure, true);
                        break;
                }
                expected_restarts = mgr.starts - 1;
                if (!set_phase(PHASE_VERIFY, 60000))
                        printf("# round %u: a client did not finish its checks\n", round);
                if (report_failures())
                        break;
                sums(&bytes, &mappings, &objects);
                r = ib_caps_get(observer, &caps);
                if (r < 0 || caps.mapped_bytes != bytes || caps.objects != objects) {
                        printf("# round %u: after the checks the broker counts 0x%" PRIx64 " bytes and %" PRIu64
                               " objects, the clients 0x%" PRIx64 " and %" PRIu64 "\n", round, caps.mapped_bytes,
                               caps.objects, bytes, objects);
                        atomic_store(&any_failure, true);
                        break;
                }
                printf("# round %u: %u kills so far; %" PRIu64 " mappings (0x%" PRIx64 " bytes) and %" PRIu64
                       " objects held, and as restored\n", round, totals.kills, mappings, bytes, objects);
        }
        if (atomic_load(&any_failure)) {
                (void) report_failures();
                set_phase(PHASE_QUIT, 0);
                for (unsigned i = 0; i < n_clients; i++)
                        pthread_join(clients[i].thread, NULL);
                ib_client_free(observer);
                svcmgr_print_log_tail(&mgr, 30);
                TEST_FAIL("after %u random kills (seed %" PRIu64 ")", totals.kills, seed);
        }

        /* (3) the end: everything unmapped, counters and records at zero */
        if (!set_phase(PHASE_END, 60000) || report_failures())
                tests_failed_now = true;
        else if (check_records(observer, "the end") < 0)
                tests_failed_now = true;
        else {
                sums(&bytes, &mappings, &objects);
                if (objects != base_objects) {
                        printf("# the end: the clients hold %" PRIu64 " objects, %" PRIu64 " at the start\n", objects,
                               base_objects);
                        tests_failed_now = true;
                }
        }
        set_phase(PHASE_QUIT, 0);
        for (unsigned i = 0; i < n_clients; i++)
                pthread_join(clients[i].thread, NULL);
        if (tests_failed_now) {
                ib_client_free(observer);
                TEST_FAIL("at the end (seed %" PRIu64 ")", seed);
        }
        {
                Stats s = {};

                for (unsigned i = 0; i < n_clients; i++) {
                        s.sync_calls += clients[i].st.sync_calls;
                        s.async_sent += clients[i].st.async_sent;
                        s.callbacks += clients[i].st.callbacks;
                        s.batches += clients[i].st.batches;
                        s.batch_ops += clients[i].st.batch_ops;
                        s.canceled += clients[i].st.canceled;
                        s.enoent_probes += clients[i].st.enoent_probes;
                        s.queries += clients[i].st.queries;
                        s.verified_mapped += clients[i].st.verified_mapped;
                        s.verified_free += clients[i].st.verified_free;
                        s.attaches += clients[i].st.attaches;
                        s.detaches += clients[i].st.detaches;
                        s.pasid_attaches += clients[i].st.pasid_attaches;
                        s.pasid_detaches += clients[i].st.pasid_detaches;
                        s.hwpt_allocs += clients[i].st.hwpt_allocs;
                        s.hwpt_frees += clients[i].st.hwpt_frees;
                        s.refused += clients[i].st.refused;
                        s.device_across += clients[i].st.device_across;
                        s.verified_pasids += clients[i].st.verified_pasids;
                        s.verified_hwpts += clients[i].st.verified_hwpts;
                }
                printf("# %u random kills and %u idle ones in %.1f s%s: %" PRIu64 " interrupted requests settled by the "
                       "broker\n", totals.kills, totals.idle_kills, (double) (now_ms() - t0) / 1000,
                       totals.kills < kills ? " (time bound reached)" : "", totals.settled);
                printf("# requests: %" PRIu64 " synchronous calls (%" PRIu64 " batches of %" PRIu64 " ops, %" PRIu64
                       " queries, %" PRIu64 " ENOENT probes), %" PRIu64 " asynchronous with %" PRIu64 " callbacks, %"
                       PRIu64 " ECANCELED (not applied)\n", s.sync_calls, s.batches, s.batch_ops, s.queries,
                       s.enoent_probes, s.async_sent, s.callbacks, s.canceled);
                printf("# device verbs (among the synchronous calls): %" PRIu64 " attaches, %" PRIu64 " detaches, %"
                       PRIu64 " PASID attaches, %" PRIu64 " PASID detaches, %" PRIu64 " HWPT allocs, %" PRIu64
                       " HWPT frees; %" PRIu64 " refused as the truth predicted (EINVAL, EBUSY, ENOENT), %" PRIu64 " spanned a "
                       "restart\n", s.attaches, s.detaches, s.pasid_attaches, s.pasid_detaches, s.hwpt_allocs,
                       s.hwpt_frees, s.refused, s.device_across);
                printf("# checked by unmapping: %" PRIu64 " mapped slots returned their length, %" PRIu64 " empty ones "
                       "ENOENT; %" PRIu64 " vPASID lookups, %" PRIu64 " HWPT frees (EBUSY in use, ENOENT freed)\n",
                       s.verified_mapped, s.verified_free, s.verified_pasids, s.verified_hwpts);
                printf("# restart to READY=1: %.1f ms mean, %" PRIu64 " ms max; the broker's recovery %.0f us mean, %"
                       PRIu64 " us max\n", (double) totals.ready_ms_sum / (totals.kills + totals.idle_kills),
                       totals.ready_ms_max, (double) totals.restart_us_sum / (totals.kills + totals.idle_kills),
                       totals.restart_us_max);
                ASSERT_EQ(s.async_sent, s.callbacks);
        }
        r = ib_caps_get(observer, &caps);
        ib_client_free(observer);
        ASSERT_OK(r);
        ASSERT_U64_EQ(caps.mapped_bytes, 0);
        ASSERT_TRUE(totals.kills > 0);
        /* a kill-between-calls the broker did not turn into SIGKILL: IB_CRASH_DEFER was not armed */
        ASSERT_EQ(deaths_not_by_sigkill(), 0);
}

TEST(the_broker_stops_cleanly) {
        if (mgr.pid <= 0)
                return tests_skip("needs IB_DAEMON and IB_BUILDDIR (or IB_SVCMGR)");
        ASSERT_EQ(svcmgr_stop(&mgr), 0);
}

static int setup(void) {
        const char *more = getenv("IB_SOAK_DAEMON_ARGS"), *backend = getenv("IB_RESTART_SOAK_BACKEND");
        const char *devices = getenv("IB_RESTART_SOAK_DEVICES");
        char policy_extra[sizeof(device_list) + 16] = "";
        bool between;
        int r;

        if (!backend || !*backend)
                backend = "sim";
        device_ops = env_u64("IB_RESTART_SOAK_DEVICE_OPS", 1) != 0;
        coalesce = env_u64("IB_RESTART_SOAK_COALESCE", 1) != 0;
        if (strcmp(backend, "sim") != 0 && strcmp(backend, "kernel") != 0)
                return printf("# IB_RESTART_SOAK_BACKEND=%s: sim or kernel\n", backend), -EINVAL;
        if (!devices)
                devices = strcmp(backend, "sim") == 0 ? "0000:00:02.0 0000:00:03.0" : "";
        (void) snprintf(device_words, sizeof(device_words), "%s", devices);
        for (char *save = NULL, *w = strtok_r(device_words, " ", &save); w && n_devices < MAX_DEVICES;
             w = strtok_r(NULL, " ", &save)) {
                size_t len = strlen(device_list);

                (void) snprintf(device_list + len, sizeof(device_list) - len, "%s%s", len ? " " : "", w);
                device_names[n_devices++] = w;
        }
        if (n_devices > 0)
                (void) snprintf(policy_extra, sizeof(policy_extra), "Device=%s\n", device_list);
        printf("# backend %s (IB_RESTART_SOAK_BACKEND), devices: %s (IB_RESTART_SOAK_DEVICES)\n", backend,
               n_devices ? device_list : "none");
        /*
         * The sim's model is the broker's own memory, and a sim op cut in half
         * would leave it half done, which no kernel ioctl does: on the sim the
         * kills land between backend calls (IB_CRASH_DEFER, util/crashpoint.h),
         * anywhere else in the broker as they come.
         */
        between = strcmp(backend, "sim") == 0;
        if (between)
                (void) setenv("IB_CRASH_DEFER", "1", 1);
        r = svcmgr_start_backend(&mgr, backend, more, policy_extra);
        mgr.kill_between_calls = between;
        if (r == -ENOENT)
                return 0;       /* the tests say they skip */
        return r;
}

static void teardown(void) {
        if (mgr.pid > 0)
                (void) svcmgr_stop(&mgr);
}

TESTS_MAIN(setup, teardown)

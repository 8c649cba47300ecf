/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * persist.c - what a restarted broker needs, kept where a crash cannot take it.
 *
 * Theory of operation.  The kernel's objects outlive the broker only while an
 * fd holds them: a session's iommufd, its bound device fds, the connection
 * the client talks on.  Each is kept in the service manager's fd store the
 * moment the broker holds it (persist_keep_fd()), and dropped from it before
 * the broker lets go (persist_forget_fd()), so the store never holds a device
 * bound that the broker released.
 *
 * What the broker knows about those objects lives in the state file, a memfd
 * (also in the store) mapped shared into the broker: a store into it is in
 * the file the moment it is made, so a SIGKILL loses nothing written before
 * it.  It has three parts:
 *   - a header (format version, generation, restarts, the highest session id);
 *   - one slot per session (see PERSIST_SLOTS_MIN): the request being worked on
 *     (its bytes, copied when read), the results of the Batch operations done
 *     so far, and a reply that could not be written to the socket yet - the
 *     transport stops reading a session while one waits, so there is never
 *     more than that one;
 *   - a log of records, each written after the kernel call it reports and
 *     published by one store of the log's end: SESSION, END, OBJECTS (every
 *     object of the session: IOAS, registration, device, HWPT...; at its
 *     start and at compaction), OBJECTS_DELTA (after each verb that makes,
 *     changes or frees objects: just those, the live ones whole and the ids
 *     of the gone ones, so that the verb costs the same whatever else the
 *     session holds; core/dispatch.c says which objects a verb touches),
 *     MAP and UNMAP.
 * A record is thus only ever missing for a kernel call that happened (the
 * crash fell between the call and the record), never present for one that
 * did not; recover.c relies on exactly that, and on the slot, to make the
 * records and the kernel agree (its comment has the argument).
 *
 * The log is compacted when it has grown to PERSIST_COMPACT_FACTOR times what
 * a fresh copy of the records would take: a new state file (generation + 1)
 * gets the header, the slots in use and one SESSION, OBJECTS and the MAPs of
 * every session; it goes into the store, then the old one is dropped.  A
 * crash in between leaves both: recovery takes the newest complete one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/persist.h"
#include "core/persist-objects.h"
#include "core/session.h"
#include "core/tenancy.h"
#include "util/crashpoint.h"
#include "util/log.h"

/*
 * Slots in a new state file: one per file descriptor the broker may hold
 * (RLIMIT_NOFILE: every session holds its socket at least), so that no
 * tenant's sessions can take every slot and leave another's sessions
 * unable to survive a restart; no fewer than PERSIST_SLOTS_MIN, no more than
 * PERSIST_SLOTS_MAX (65,536 slots map 8.8 GB of a sparse file: a slot's
 * pages cost memory only once its session uses them).  A file of any count
 * in between is read back: the header says it.
 */
#define PERSIST_SLOTS_MIN 4096U
#define PERSIST_SLOTS_MAX 65536U
#define PERSIST_STEPS_MAX 256U                          /* IB_MAX_BATCH_OPS */
#define PERSIST_MSG_MAX (64U * 1024U)                   /* IB_MAX_MESSAGE_SIZE */
#define PERSIST_LOG_CAPACITY (8ULL << 30)               /* sparse: only what is written costs memory */
#define PERSIST_COMPACT_MIN (64ULL << 20)
#define PERSIST_COMPACT_FACTOR 4
#define PERSIST_TOUCHED_MAX 4                           /* objects one OBJECTS_DELTA record names at most */

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
        _Atomic uint64_t log_end;       /* bytes of the log committed */
} Header;

typedef struct SlotHdr {
        uint64_t session;
        uint32_t phase;
        uint32_t request_size;          /* 0: none, or it did not fit */
        uint64_t request_id;
        uint32_t steps;
        uint32_t reply_size;
        uint32_t reply_fds;
        uint32_t pad;
        uint64_t restarts;
        uint64_t log_mark;              /* the log's end when the request was read: its records come after */
} SlotHdr;

typedef struct Slot {
        SlotHdr h;
        int32_t step_err[PERSIST_STEPS_MAX];
        uint64_t step_value[PERSIST_STEPS_MAX];
        uint8_t request[PERSIST_MSG_MAX];
        uint8_t reply[PERSIST_MSG_MAX];
} Slot;

typedef struct RecHdr {
        uint32_t type;
        uint32_t size;
        uint64_t session;
} RecHdr;

struct Persist {
        FdStore *store;
        bool enabled;
        bool restored;
        int fd;
        uint8_t *base;
        size_t mapped;
        Header *hdr;
        uint64_t compacted_size;        /* the log's size after the last compaction */
        Session *(*first_session)(void *userdata);      /* the broker's registry, for compaction */
        void *sessions_userdata;
        uint32_t *restored_slots;       /* recovery only: slots in use, sorted by session id */
        size_t n_restored_slots;
        /*
         * Requests between persist_request_begin() and their reply: their
         * slots' log marks point into the log, so it is not compacted
         * meanwhile (a request waiting off the loop lets others reply).
         */
        unsigned in_flight;
        /*
         * Recovery holds pointers into the log (each session's latest
         * OBJECTS, its deltas) while it settles requests, which writes
         * records: a compaction would unmap what they point to.  Held, the
         * log is not compacted (a record that does not fit is lost, logged).
         */
        bool held;
};

/*
 * After the header: the slot directory, one session id per slot (0: free),
 * read where a slot is looked for, so that a scan touches 8 bytes a slot
 * (32 KiB for 4,096 slots, 512 KiB for 65,536) and not every slot's page;
 * then the slots.
 */
#define DIR_OFFSET 4096ULL
#define DIR_SIZE(n) (((uint64_t) (n) * sizeof(uint64_t) + 4095) & ~4095ULL)
#define SLOTS_OFFSET(n) (DIR_OFFSET + DIR_SIZE(n))
#define LOG_OFFSET(n) (SLOTS_OFFSET(n) + (uint64_t) (n) * sizeof(Slot))
#define ALIGN8(x) (((x) + 7) & ~(size_t) 7)

static uint64_t file_size(uint32_t n_slots) {
        return LOG_OFFSET(n_slots) + PERSIST_LOG_CAPACITY;
}

/* The slots of a new state file (see PERSIST_SLOTS_MIN), at least at_least: a compaction keeps every slot. */
static uint32_t slots_wanted(uint32_t at_least) {
        struct rlimit rl;
        uint64_t n = PERSIST_SLOTS_MIN;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
                n = rl.rlim_cur == RLIM_INFINITY ? PERSIST_SLOTS_MAX : rl.rlim_cur;
        if (n < PERSIST_SLOTS_MIN)
                n = PERSIST_SLOTS_MIN;
        if (n > PERSIST_SLOTS_MAX)
                n = PERSIST_SLOTS_MAX;
        return n < at_least ? at_least : (uint32_t) n;
}

static uint64_t *slot_dir(Persist *p) {
        return (uint64_t *) (p->base + DIR_OFFSET);
}

static Slot *slot_at(Persist *p, uint32_t i) {
        return (Slot *) (p->base + p->hdr->slots_offset + (uint64_t) i * p->hdr->slot_size);
}

/* Maps fd: a new state file of n_slots slots (create), or the one passed at start (its header's geometry). */
static int file_map(Persist *p, int fd, bool create, uint64_t generation, uint32_t n_slots) {
        uint64_t size = file_size(n_slots);
        void *base;

        if (create && ftruncate(fd, (off_t) size) < 0)
                return -errno;
        if (!create) {
                Header h;

                if (pread(fd, &h, sizeof(h), 0) != (ssize_t) sizeof(h))
                        return -EBADMSG;
                if (memcmp(h.magic, PERSIST_MAGIC, 8) != 0)
                        return -EBADMSG;
                if (h.version == 0 || h.version > PERSIST_VERSION)
                        return -EPROTONOSUPPORT;
                if (h.slot_size != sizeof(Slot) || h.n_slots == 0 || h.n_slots > PERSIST_SLOTS_MAX ||
                    h.slots_offset != SLOTS_OFFSET(h.n_slots) || h.log_offset != LOG_OFFSET(h.n_slots) ||
                    h.log_capacity > PERSIST_LOG_CAPACITY || h.log_end > h.log_capacity)
                        return -EBADMSG;
                {
                        struct stat st;

                        if (fstat(fd, &st) < 0 || (uint64_t) st.st_size < h.log_offset + h.log_capacity)
                                return -EBADMSG;
                }
                size = h.log_offset + h.log_capacity;
        }
        base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        if (base == MAP_FAILED)
                return -errno;
        p->fd = fd;
        p->base = base;
        p->mapped = size;
        p->hdr = base;
        if (!create && p->hdr->version < PERSIST_VERSION)
                p->hdr->version = PERSIST_VERSION;      /* this broker writes its own records into it from now on */
        if (create) {
                memcpy(p->hdr->magic, PERSIST_MAGIC, 8);
                p->hdr->version = PERSIST_VERSION;
                p->hdr->header_size = sizeof(Header);
                p->hdr->generation = generation;
                p->hdr->n_slots = n_slots;
                p->hdr->slot_size = sizeof(Slot);
                p->hdr->slots_offset = SLOTS_OFFSET(n_slots);
                p->hdr->log_offset = LOG_OFFSET(n_slots);
                p->hdr->log_capacity = PERSIST_LOG_CAPACITY;
                atomic_store(&p->hdr->log_end, 0);
        }
        return 0;
}

static void file_unmap(Persist *p) {
        if (p->base)
                (void) munmap(p->base, p->mapped);
        p->base = NULL;
        p->hdr = NULL;
        p->fd = safe_close(p->fd);
}

static int new_memfd(void) {
        return memfd_create("iommu-broker-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

typedef struct Newest {
        uint64_t generation;
        char name[FDSTORE_NAME_MAX + 1];
        bool found;
} Newest;

static int find_newest(FdStore *s, const char *name, int fd, void *userdata) {
        Newest *n = userdata;
        uint64_t g;
        char *end;

        g = strtoull(name + strlen("state."), &end, 10);
        if (*end != '\0')
                return 0;
        if (!n->found || g > n->generation) {
                n->found = true;
                n->generation = g;
                (void) snprintf(n->name, sizeof(n->name), "%s", name);
        }
        return 0;
}

static int drop_older(FdStore *s, const char *name, int fd, void *userdata) {
        Persist *p = userdata;
        char keep[32];

        (void) snprintf(keep, sizeof(keep), "state.%" PRIu64, p->hdr->generation);
        if (strcmp(name, keep) != 0)
                fdstore_drop(s, name);
        return 0;
}

int persist_new(Persist **ret, FdStore *store) {
        Persist *p;
        char name[32];
        Newest n = {};
        int fd, r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->fd = -1;
        p->store = store;
        p->enabled = fdstore_enabled(store);
        if (!p->enabled) {
                *ret = p;
                return 0;
        }

        (void) fdstore_foreach(store, "state.", find_newest, &n);
        if (n.found) {
                fd = fdstore_take(store, n.name);
                r = fd < 0 ? fd : file_map(p, fd, false, 0, 0);
                if (r < 0) {
                        log_error_errno(r, "the state file %s passed at start cannot be read: %m; "
                                        "starting without the previous state", n.name);
                        safe_close(fd);
                        p->fd = -1;
                } else {
                        p->restored = true;
                        (void) fdstore_foreach(store, "state.", drop_older, p);
                }
        }
        if (!p->restored) {
                fd = new_memfd();
                if (fd < 0) {
                        r = -errno;
                        free(p);
                        return r;
                }
                r = file_map(p, fd, true, 1, slots_wanted(0));
                if (r < 0) {
                        safe_close(fd);
                        free(p);
                        return r;
                }
                (void) snprintf(name, sizeof(name), "state.%" PRIu64, p->hdr->generation);
                r = fdstore_keep(store, p->fd, name);
                if (r < 0) {
                        file_unmap(p);
                        free(p);
                        return r;
                }
        }
        p->compacted_size = atomic_load(&p->hdr->log_end);
        *ret = p;
        return 0;
}

Persist *persist_free(Persist *p) {
        if (!p)
                return NULL;
        free(p->restored_slots);
        file_unmap(p);
        free(p);
        return NULL;
}

bool persist_enabled(const Persist *p) {
        return p && p->enabled && p->hdr;
}

FdStore *persist_store(Persist *p) {
        return p ? p->store : NULL;
}

bool persist_restored(const Persist *p) {
        return p && p->restored;
}

uint64_t persist_restarts(const Persist *p) {
        return persist_enabled(p) ? p->hdr->restarts : 0;
}

void persist_count_restart(Persist *p) {
        if (persist_enabled(p))
                p->hdr->restarts++;
}

uint64_t persist_last_session_id(const Persist *p) {
        return persist_enabled(p) ? p->hdr->last_session : 0;
}

void persist_fd_name(char *buf, size_t size, uint64_t session, char kind, uint32_t id) {
        if (kind == PERSIST_FD_CONNECTION || kind == PERSIST_FD_CONTEXT)
                (void) snprintf(buf, size, "s%" PRIu64 ".%c", session, kind);
        else
                (void) snprintf(buf, size, "s%" PRIu64 ".%c%" PRIu32, session, kind, id);
}

int persist_own_file(const Persist *p, int fd, int accmode) {
        char path[64];
        int nfd;

        if (!persist_enabled(p))
                return fd;
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        nfd = open(path, accmode | O_CLOEXEC | O_NOCTTY);
        return nfd < 0 ? -errno : nfd;
}

int persist_keep_fd(Persist *p, const Session *s, char kind, uint32_t id, int fd) {
        char name[FDSTORE_NAME_MAX + 1];
        int r;

        if (!persist_enabled(p) || s->persist_slot == 0)
                return 0;
        persist_fd_name(name, sizeof(name), s->id, kind, id);
        r = fdstore_keep(p->store, fd, name);
        if (r < 0)
                log_warning_errno(r, "%s: cannot keep %s in the fd store: %m; a restart would lose it", s->name, name);
        return r;
}

void persist_forget_fd(Persist *p, const Session *s, char kind, uint32_t id) {
        char name[FDSTORE_NAME_MAX + 1];

        if (!persist_enabled(p) || s->persist_slot == 0)
                return;
        persist_fd_name(name, sizeof(name), s->id, kind, id);
        (void) fdstore_forget(p->store, name);
}

/* ----------------------------------------------------------------- the log */

static void *log_reserve(Persist *p, size_t size) {
        uint64_t end = atomic_load_explicit(&p->hdr->log_end, memory_order_relaxed);

        if (end + sizeof(RecHdr) + ALIGN8(size) > p->hdr->log_capacity)
                return NULL;
        return p->base + p->hdr->log_offset + end;
}

/* Publishes the record written at the reserved place. */
static void log_commit(Persist *p, uint32_t type, uint64_t session, size_t size) {
        uint64_t end = atomic_load_explicit(&p->hdr->log_end, memory_order_relaxed);
        RecHdr *h = (RecHdr *) (p->base + p->hdr->log_offset + end);

        h->type = type;
        h->size = (uint32_t) size;
        h->session = session;
        atomic_store_explicit(&p->hdr->log_end, end + sizeof(RecHdr) + ALIGN8(size), memory_order_release);
}

static void compact_maybe(Persist *p);

/* Room for a record of size bytes at the log's end (compacting first if the log is full); NULL: none. */
static uint8_t *log_reserve_or_compact(Persist *p, size_t size) {
        uint8_t *at = log_reserve(p, size);

        if (!at) {
                compact_maybe(p);
                at = log_reserve(p, size);
                if (!at)
                        log_error("the state file is full: records are lost and a restart would not restore them");
        }
        return at;
}

static int log_append(Persist *p, uint32_t type, uint64_t session, const void *payload, size_t size) {
        uint8_t *at = log_reserve_or_compact(p, size);

        if (!at)
                return -ENOSPC;
        if (size > 0)
                memcpy(at + sizeof(RecHdr), payload, size);
        log_commit(p, type, session, size);
        return 0;
}

typedef struct ObjectsReply {
        uint64_t id;
        const uint8_t *data;
        size_t size;
        size_t n_fds;
} ObjectsReply;

#define PUT(ptr, len) do { if (buf) memcpy(buf + at, (ptr), (len)); at += (len); } while (0)

/* The objects a request touched, looked up once: obj NULL where it is gone. */
typedef struct Touched {
        const PersistObjectRef *ref;
        const void *obj;
} Touched;

/*
 * The OBJECTS payload of s (touched NULL: all its objects), or its
 * OBJECTS_DELTA payload (the n_touched touched objects that live, then the
 * refs of those that do not): its size with buf NULL, else written into buf.
 */
static size_t objects_payload(Session *s, const Touched *touched, size_t n_touched, const ObjectsReply *reply,
                              uint8_t *buf) {
        PersistObjectsHdr oh = {
                .last_mem = s->last_mem,
                .last_ioas_serial = s->last_ioas_serial,
                .request_id = reply ? reply->id : 0,
                .reply_size = reply && reply->data ? (uint32_t) reply->size : 0,
                .reply_fds = reply ? (uint32_t) reply->n_fds : 0,
        };
        size_t at = sizeof(oh);

        for (uint32_t kind = PERSIST_KIND_IOAS; kind < _PERSIST_KIND_MAX; kind++) {
                SessionKind sk = persist_kind_session(kind);

                if (!touched) {
                        LIST_FOREACH_LINK(l, &s->objects[sk]) {
                                at = persist_object_put(kind, session_kind_object(sk, l), buf, at);
                                (*persist_objects_count(&oh, kind))++;
                        }
                        continue;
                }
                for (size_t i = 0; i < n_touched; i++)
                        if (touched[i].ref->kind == kind && touched[i].obj) {
                                at = persist_object_put(kind, touched[i].obj, buf, at);
                                (*persist_objects_count(&oh, kind))++;
                        }
        }
        for (size_t i = 0; touched && i < n_touched; i++)
                if (!touched[i].obj) {
                        PUT(touched[i].ref, sizeof(PersistObjectRef));
                        oh.n_removed++;
                }
        if (oh.reply_size > 0)
                PUT(reply->data, oh.reply_size);
        if (buf)
                memcpy(buf, &oh, sizeof(oh));
        return at;
}
#undef PUT

/* An OBJECTS record of s (refs NULL), or an OBJECTS_DELTA record of the n_refs objects refs names. */
static int write_objects(Persist *p, Session *s, const PersistObjectRef *refs, size_t n_refs,
                         const ObjectsReply *reply) {
        Touched touched[PERSIST_TOUCHED_MAX];
        size_t size;
        uint8_t *at;

        if (n_refs > ELEMENTSOF(touched))
                refs = NULL;            /* more than a request touches: all of them */
        for (size_t i = 0; refs && i < n_refs; i++) {
                SessionKind sk = persist_kind_session(refs[i].kind);

                touched[i] = (Touched) { .ref = &refs[i] };
                if (sk >= 0)
                        touched[i].obj = session_find_kind(s, sk, refs[i].id);
        }
        size = objects_payload(s, refs ? touched : NULL, n_refs, reply, NULL);
        at = log_reserve_or_compact(p, size);
        if (!at)
                return -ENOSPC;
        (void) objects_payload(s, refs ? touched : NULL, n_refs, reply, at + sizeof(RecHdr));
        log_commit(p, refs ? PERSIST_REC_OBJECTS_DELTA : PERSIST_REC_OBJECTS, s->id, size);
        return 0;
}

static size_t str_len0(const char *s) {
        size_t n = s ? strlen(s) + 1 : 0;

        return n > UINT16_MAX ? 0 : n;
}

static int write_session(Persist *p, Session *s) {
        const PeerIdentity *id = &s->id_peer;
        PersistSessionRec r = {
                .restarts = s->restarts,
                .pid = id->pid,
                .uid = id->uid,
                .gid = id->gid,
                .n_groups = (uint32_t) id->n_groups,
                .unit_len = (uint16_t) str_len0(id->unit),
                .slice_len = (uint16_t) str_len0(id->slice),
                .cgroup_len = (uint16_t) str_len0(id->cgroup),
                .tenant_len = (uint16_t) str_len0(s->tenant ? s->tenant->name : NULL),
                .revoke_on_reload = s->tenant && tenancy_record(s->tenant) && tenancy_record(s->tenant)->revoke_on_reload,
        };
        size_t size = sizeof(r) + sizeof(gid_t) * id->n_groups + r.unit_len + r.slice_len + r.cgroup_len +
                      r.tenant_len;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t at = sizeof(r);
        int q;

        (void) snprintf(r.client_name, sizeof(r.client_name), "%s", s->client_name ?: "");
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, &r, sizeof(r));
        if (id->n_groups > 0)
                memcpy(buf + at, id->groups, sizeof(gid_t) * id->n_groups);
        at += sizeof(gid_t) * id->n_groups;
        if (r.unit_len)
                memcpy(buf + at, id->unit, r.unit_len);
        at += r.unit_len;
        if (r.slice_len)
                memcpy(buf + at, id->slice, r.slice_len);
        at += r.slice_len;
        if (r.cgroup_len)
                memcpy(buf + at, id->cgroup, r.cgroup_len);
        at += r.cgroup_len;
        if (r.tenant_len)
                memcpy(buf + at, s->tenant->name, r.tenant_len);
        q = log_append(p, PERSIST_REC_SESSION, s->id, buf, size);
        return q;
}

int persist_session_identity(const PersistSessionRec *r, size_t size, PeerIdentity *ret, gid_t *groups,
                             size_t n_groups_max, const char **ret_tenant) {
        const uint8_t *at = (const uint8_t *) (r + 1), *end = (const uint8_t *) r + size;
        PeerIdentity id = PEER_IDENTITY_NULL;

        if (size < sizeof(*r) || r->n_groups > n_groups_max ||
            (size_t) (end - at) < sizeof(gid_t) * r->n_groups + r->unit_len + r->slice_len + r->cgroup_len +
                                  r->tenant_len)
                return -EBADMSG;
        id.pid = r->pid;
        id.uid = r->uid;
        id.gid = r->gid;
        id.n_groups = r->n_groups;
        memcpy(groups, at, sizeof(gid_t) * r->n_groups);
        id.groups = r->n_groups > 0 ? groups : NULL;
        at += sizeof(gid_t) * r->n_groups;
        if (r->unit_len) {
                if (at[r->unit_len - 1] != '\0')
                        return -EBADMSG;
                id.unit = (char *) at;
        }
        at += r->unit_len;
        if (r->slice_len) {
                if (at[r->slice_len - 1] != '\0')
                        return -EBADMSG;
                id.slice = (char *) at;
        }
        at += r->slice_len;
        if (r->cgroup_len) {
                if (at[r->cgroup_len - 1] != '\0')
                        return -EBADMSG;
                id.cgroup = (char *) at;
        }
        at += r->cgroup_len;
        *ret_tenant = NULL;
        if (r->tenant_len) {
                if (at[r->tenant_len - 1] != '\0')
                        return -EBADMSG;
                *ret_tenant = (const char *) at;
        }
        *ret = id;
        return 0;
}

/* The MAP record of m in ioas: the mapping, then the count and ids of the seal guards it holds. */
static int append_map(Persist *p, Session *s, const Ioas *ioas, const Mapping *m) {
        PersistMapRec r = {
                .ioas = ioas->id,
                .serial = ioas->serial,
                .iova = m->node.start,
                .length = m->node.last - m->node.start + 1,
                .offset = m->offset,
                .flags = m->flags,
                .mem = m->mem,
        };
        uint32_t n_guards = (uint32_t) mapping_guards(m, NULL, 0);
        size_t size = sizeof(r) + sizeof(uint32_t) * (1 + (size_t) n_guards);
        uint8_t *at = log_reserve_or_compact(p, size);

        if (!at)
                return -ENOSPC;
        memcpy(at + sizeof(RecHdr), &r, sizeof(r));
        memcpy(at + sizeof(RecHdr) + sizeof(r), &n_guards, sizeof(n_guards));
        (void) mapping_guards(m, (uint32_t *) (void *) (at + sizeof(RecHdr) + sizeof(r) + sizeof(n_guards)), n_guards);
        log_commit(p, PERSIST_REC_MAP, s->id, size);
        return 0;
}

static int write_maps(Persist *p, Session *s) {
        Ioas *ioas;

        LIST_FOREACH(ioas, &s->objects[SESSION_IOAS], link) {
                ITreeNode *n;

                itree_for_each(n, &ioas->maps) {
                        int q = append_map(p, s, ioas, itree_entry(n, Mapping, node));

                        if (q < 0)
                                return q;
                }
        }
        return 0;
}

static bool session_persisted(const Persist *p, const Session *s) {
        return persist_enabled(p) && s->persist_slot > 0;
}

/* ----------------------------------------------------------------- compaction */

static int write_all(Persist *p) {
        for (Session *s = p->first_session ? p->first_session(p->sessions_userdata) : NULL; s; s = s->next) {
                int r;

                if (!session_persisted(p, s))
                        continue;
                r = write_session(p, s);
                if (r >= 0)
                        r = write_objects(p, s, NULL, 0, NULL);
                if (r >= 0)
                        r = write_maps(p, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void copy_slot(Slot *to, const Slot *from) {
        to->h = from->h;
        memcpy(to->step_err, from->step_err, sizeof(int32_t) * from->h.steps);
        memcpy(to->step_value, from->step_value, sizeof(uint64_t) * from->h.steps);
        memcpy(to->request, from->request, from->h.request_size);
        memcpy(to->reply, from->reply, from->h.reply_size);
}

static void compact(Persist *p) {
        Persist old = *p;
        char name[32], old_name[32];
        int fd, r;

        fd = new_memfd();
        if (fd < 0) {
                log_warning_errno(errno, "cannot compact the state file: %m");
                return;
        }
        r = file_map(p, fd, true, old.hdr->generation + 1, slots_wanted(old.hdr->n_slots));
        if (r < 0) {
                safe_close(fd);
                *p = old;
                log_warning_errno(r, "cannot compact the state file: %m");
                return;
        }
        p->hdr->restarts = old.hdr->restarts;
        p->hdr->last_session = old.hdr->last_session;
        for (uint32_t i = 0; i < old.hdr->n_slots; i++) {
                Slot *from = (Slot *) (old.base + old.hdr->slots_offset + (uint64_t) i * old.hdr->slot_size);

                if (slot_dir(&old)[i] == 0)
                        continue;
                copy_slot(slot_at(p, i), from);
                slot_dir(p)[i] = slot_dir(&old)[i];
        }
        r = write_all(p);
        (void) snprintf(name, sizeof(name), "state.%" PRIu64, p->hdr->generation);
        if (r >= 0)
                r = fdstore_keep(p->store, p->fd, name);
        if (r < 0) {
                log_warning_errno(r, "cannot compact the state file: %m");
                file_unmap(p);
                *p = old;
                return;
        }
        (void) snprintf(old_name, sizeof(old_name), "state.%" PRIu64, old.hdr->generation);
        (void) fdstore_forget(p->store, old_name);
        log_debug("state file compacted: %" PRIu64 " bytes of log, was %" PRIu64, atomic_load(&p->hdr->log_end),
                  atomic_load(&old.hdr->log_end));
        file_unmap(&old);
        p->compacted_size = atomic_load(&p->hdr->log_end);
}

static void compact_maybe(Persist *p) {
        uint64_t end = atomic_load(&p->hdr->log_end);

        if (p->in_flight > 0 || p->held)
                return;

        if (end < PERSIST_COMPACT_MIN && end + (1ULL << 20) < p->hdr->log_capacity)
                return;
        if (end < PERSIST_COMPACT_FACTOR * p->compacted_size && end + (1ULL << 20) < p->hdr->log_capacity)
                return;
        compact(p);
}

void persist_set_sessions(Persist *p, Session *(*first)(void *userdata), void *userdata) {
        if (!p)
                return;
        p->first_session = first;
        p->sessions_userdata = userdata;
}

/* ----------------------------------------------------------------- sessions */

static int slot_claim(Persist *p, Session *s) {
        uint64_t *dir = slot_dir(p);

        for (uint32_t i = 0; i < p->hdr->n_slots; i++) {
                Slot *slot;

                if (dir[i] != 0)
                        continue;
                slot = slot_at(p, i);
                memset(&slot->h, 0, sizeof(slot->h));
                slot->h.session = s->id;
                slot->h.restarts = s->restarts;
                slot->h.phase = PERSIST_SLOT_IDLE;
                atomic_signal_fence(memory_order_seq_cst);
                dir[i] = s->id;
                s->persist_slot = i + 1;
                return 0;
        }
        return -ENOSPC;
}

int persist_session_begin(Persist *p, Session *s) {
        int r;

        if (!persist_enabled(p) || s->persist_slot > 0)
                return 0;
        if (s->id > p->hdr->last_session)
                p->hdr->last_session = s->id;
        r = slot_claim(p, s);
        if (r >= 0) {
                /*
                 * The Hello that claims the slot is answered after this: until
                 * then a restart answers it not applied, and the library sends
                 * it again (a Hello is idempotent).
                 */
                Slot *slot = slot_at(p, s->persist_slot - 1);

                slot->h.request_id = s->last_request_id;
                atomic_signal_fence(memory_order_seq_cst);
                slot->h.phase = PERSIST_SLOT_RECEIVING;
        }
        if (r < 0) {
                log_warning("%s: all %u slots of the state file are taken: this session would not survive a restart",
                            s->name, p->hdr->n_slots);
                return 0;
        }
        r = persist_keep_fd(p, s, PERSIST_FD_CONNECTION, 0, s->transport.fd);
        if (r >= 0 && s->ctx)   /* opened at the first verb that makes a kernel object (core/verb-ioas.c) */
                r = persist_keep_fd(p, s, PERSIST_FD_CONTEXT, 0, backend_ctx_fd(s->ctx));
        if (r >= 0)
                r = write_session(p, s);
        if (r >= 0)
                r = write_objects(p, s, NULL, 0, NULL);
        if (r < 0) {
                persist_session_end(p, s);
                return r;
        }
        return 0;
}

typedef struct GuardForget {
        Persist *p;
        Session *s;
} GuardForget;

static void forget_guard(uint32_t id, void *userdata) {
        GuardForget *f = userdata;

        persist_forget_fd(f->p, f->s, PERSIST_FD_GUARD, id);
}

void persist_session_end(Persist *p, Session *s) {
        Device *d;
        MemReg *m;

        if (s->persist_in_flight) {
                s->persist_in_flight = false;
                p->in_flight--;
        }
        if (!session_persisted(p, s))
                return;
        (void) log_append(p, PERSIST_REC_END, s->id, NULL, 0);
        LIST_FOREACH(d, &s->objects[SESSION_DEVICE], link)
                persist_forget_fd(p, s, PERSIST_FD_DEVICE, d->dev_id);
        LIST_FOREACH(m, &s->objects[SESSION_MEMREG], link)
                persist_forget_fd(p, s, PERSIST_FD_MEMREG, m->id);
        guard_set_foreach(&s->guards, forget_guard, &(GuardForget) { .p = p, .s = s });
        persist_forget_fd(p, s, PERSIST_FD_CONNECTION, 0);
        if (s->ctx)
                persist_forget_fd(p, s, PERSIST_FD_CONTEXT, 0);
        slot_dir(p)[s->persist_slot - 1] = 0;
        slot_at(p, s->persist_slot - 1)->h.phase = PERSIST_SLOT_FREE;
        s->persist_slot = 0;
}

/*
 * A record of s could not be written: its state file no longer tells the
 * truth, so it gives up surviving a restart (its fds leave the store: a
 * restart then ends it, as without a store) rather than be restored wrong.
 */
static void record_lost(Persist *p, Session *s) {
        log_warning("%s: a record of it could not be written to the state file: it would not survive a restart",
                    s->name);
        persist_session_end(p, s);
}

void persist_objects(Persist *p, Session *s, const PersistObjectRef *touched, size_t n_touched,
                     uint64_t request_id, const uint8_t *reply, size_t reply_size, size_t reply_fds) {
        ObjectsReply r = { .id = request_id, .data = reply, .size = reply_size, .n_fds = reply_fds };

        if (session_persisted(p, s) && write_objects(p, s, touched, n_touched, &r) < 0)
                record_lost(p, s);
}

void persist_map(Persist *p, Session *s, const Ioas *ioas, const Mapping *m) {
        if (session_persisted(p, s) && append_map(p, s, ioas, m) < 0)
                record_lost(p, s);
}

void persist_unmap(Persist *p, Session *s, uint32_t ioas, uint32_t serial, uint64_t iova, uint64_t last) {
        PersistUnmapRec r = { .ioas = ioas, .serial = serial, .iova = iova, .last = last };

        if (session_persisted(p, s) && log_append(p, PERSIST_REC_UNMAP, s->id, &r, sizeof(r)) < 0)
                record_lost(p, s);
}

/* ----------------------------------------------------------------- the slot */

/* The id of a Request from the first bytes of its datagram: field 1, a varint, comes first; 0 if not. */
static uint64_t head_request_id(const uint8_t *head, size_t size) {
        uint64_t id = 0;

        if (size < 2 || head[0] != 0x08)
                return 0;
        for (size_t i = 1, shift = 0; i < size && shift < 64; i++, shift += 7) {
                id |= (uint64_t) (head[i] & 0x7f) << shift;
                if (!(head[i] & 0x80))
                        return id;
        }
        return 0;
}

void persist_request_peeked(Persist *p, Session *s, const uint8_t *head, size_t size) {
        Slot *slot;

        if (!session_persisted(p, s))
                return;
        slot = slot_at(p, s->persist_slot - 1);
        slot->h.phase = PERSIST_SLOT_IDLE;
        atomic_signal_fence(memory_order_seq_cst);
        slot->h.request_id = head_request_id(head, size);
        slot->h.request_size = 0;
        atomic_signal_fence(memory_order_seq_cst);
        slot->h.phase = PERSIST_SLOT_RECEIVING;
}

void persist_request_begin(Persist *p, Session *s, uint64_t id, const uint8_t *data, size_t size) {
        Slot *slot;

        if (!session_persisted(p, s))
                return;
        slot = slot_at(p, s->persist_slot - 1);
        if (!s->persist_in_flight) {
                s->persist_in_flight = true;
                p->in_flight++;
        }
        /*
         * The datagram has left the socket: while the slot is rewritten it
         * says RECEIVING with the request's id (never IDLE, which would lose
         * the request), so a restart answers it not applied.
         */
        slot->h.phase = PERSIST_SLOT_RECEIVING;
        atomic_signal_fence(memory_order_seq_cst);
        crash_point("recording");
        slot->h.request_id = id;
        slot->h.log_mark = atomic_load_explicit(&p->hdr->log_end, memory_order_relaxed);
        slot->h.steps = 0;
        slot->h.reply_size = 0;
        slot->h.reply_fds = 0;
        if (size <= sizeof(slot->request)) {
                memcpy(slot->request, data, size);
                slot->h.request_size = (uint32_t) size;
        } else
                slot->h.request_size = 0;
        atomic_signal_fence(memory_order_seq_cst);
        slot->h.phase = PERSIST_SLOT_STARTED;
}

void persist_request_step(Persist *p, Session *s, uint32_t op, int err, uint64_t value) {
        Slot *slot;

        if (!session_persisted(p, s) || op >= PERSIST_STEPS_MAX)
                return;
        slot = slot_at(p, s->persist_slot - 1);
        slot->step_err[op] = err < 0 ? -err : err;
        slot->step_value[op] = value;
        atomic_signal_fence(memory_order_seq_cst);
        slot->h.steps = op + 1;
}

void persist_request_replied(Persist *p, Session *s, bool queued, const uint8_t *reply, size_t size,
                             size_t n_fds) {
        Slot *slot;

        if (s->persist_in_flight) {
                s->persist_in_flight = false;
                p->in_flight--;
        }
        if (!session_persisted(p, s))
                return;
        slot = slot_at(p, s->persist_slot - 1);
        if (queued && size <= sizeof(slot->reply)) {
                if (reply != slot->reply)
                        memcpy(slot->reply, reply, size);
                slot->h.reply_size = (uint32_t) size;
                slot->h.reply_fds = (uint32_t) n_fds;
                atomic_signal_fence(memory_order_seq_cst);
                slot->h.phase = PERSIST_SLOT_QUEUED;
        } else
                slot->h.phase = PERSIST_SLOT_ANSWERED;
        /* the log may be compacted between requests, never inside one */
        if (atomic_load_explicit(&p->hdr->log_end, memory_order_relaxed) >= PERSIST_COMPACT_MIN)
                compact_maybe(p);
}

/* ----------------------------------------------------------------- reading */

int persist_foreach_record(Persist *p, int (*fn)(const PersistRecord *r, void *userdata), void *userdata) {
        uint64_t end, at = 0;

        if (!persist_enabled(p))
                return 0;
        end = atomic_load_explicit(&p->hdr->log_end, memory_order_acquire);
        while (at + sizeof(RecHdr) <= end) {
                const RecHdr *h = (const RecHdr *) (p->base + p->hdr->log_offset + at);
                PersistRecord rec = {
                        .pos = at,
                        .type = h->type,
                        .size = h->size,
                        .session = h->session,
                        .payload = h + 1,
                };
                int r;

                if (at + sizeof(RecHdr) + ALIGN8(h->size) > end)
                        return -EBADMSG;
                r = fn(&rec, userdata);
                if (r < 0)
                        return r;
                at += sizeof(RecHdr) + ALIGN8(h->size);
        }
        return 0;
}

static const uint64_t *sort_dir;

static int cmp_slot(const void *a, const void *b) {
        uint64_t x = sort_dir[*(const uint32_t *) a], y = sort_dir[*(const uint32_t *) b];

        return x < y ? -1 : x > y;
}

/* The slot of session, found in a sorted index of the slots in use (built once: a restart looks up thousands). */
static Slot *slot_of(Persist *p, uint64_t session) {
        const uint64_t *dir = slot_dir(p);
        size_t lo = 0, hi;

        if (!p->restored_slots) {
                p->restored_slots = calloc(p->hdr->n_slots, sizeof(uint32_t));
                if (!p->restored_slots)
                        return NULL;
                for (uint32_t i = 0; i < p->hdr->n_slots; i++)
                        if (dir[i] != 0)
                                p->restored_slots[p->n_restored_slots++] = i;
                sort_dir = dir;
                qsort(p->restored_slots, p->n_restored_slots, sizeof(uint32_t), cmp_slot);
        }
        hi = p->n_restored_slots;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                uint64_t id = dir[p->restored_slots[mid]];

                if (id == session)
                        return slot_at(p, p->restored_slots[mid]);
                if (id < session)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int persist_slot(Persist *p, uint64_t session, PersistSlotView *ret) {
        Slot *slot;

        if (!persist_enabled(p))
                return -ENOENT;
        slot = slot_of(p, session);
        if (!slot)
                return -ENOENT;
        /* the file is the broker's own, but a torn or foreign one must not send another slot's bytes */
        if (slot->h.request_size > sizeof(slot->request))
                slot->h.request_size = 0;
        if (slot->h.reply_size > sizeof(slot->reply) || slot->h.reply_fds > 16) {
                slot->h.reply_size = 0;
                slot->h.reply_fds = 0;
                if (slot->h.phase == PERSIST_SLOT_QUEUED)
                        slot->h.phase = PERSIST_SLOT_ANSWERED;
        }
        if (slot->h.steps > PERSIST_STEPS_MAX)
                slot->h.steps = PERSIST_STEPS_MAX;
        *ret = (PersistSlotView) {
                .session = session,
                .phase = slot->h.phase,
                .request_id = slot->h.request_id,
                .request = slot->h.request_size > 0 ? slot->request : NULL,
                .request_size = slot->h.request_size,
                .steps = slot->h.steps,
                .step_err = slot->step_err,
                .step_value = slot->step_value,
                .reply = slot->h.phase == PERSIST_SLOT_QUEUED ? slot->reply : NULL,
                .reply_size = slot->h.reply_size,
                .reply_fds = slot->h.reply_fds,
                .restarts = slot->h.restarts,
                .log_mark = slot->h.log_mark,
        };
        return 0;
}

int persist_session_adopt(Persist *p, Session *s) {
        Slot *slot;

        if (!persist_enabled(p))
                return -ENOENT;
        slot = slot_of(p, s->id);
        if (!slot)
                return -ENOENT;
        s->persist_slot = (uint32_t) ((((uint8_t *) slot) - (p->base + p->hdr->slots_offset)) / p->hdr->slot_size) + 1;
        slot->h.restarts = s->restarts;
        /* its phase stays until the interrupted request is answered: a crash during recovery answers it then */
        return 0;
}

/* Frees the slots of sessions that were not restored. */
void persist_release_unadopted(Persist *p, bool (*adopted)(uint64_t session, void *userdata), void *userdata) {
        if (!persist_enabled(p))
                return;
        /* recovery is over: the index of its lookups goes */
        free(p->restored_slots);
        p->restored_slots = NULL;
        p->n_restored_slots = 0;
        for (uint32_t i = 0; i < p->hdr->n_slots; i++) {
                uint64_t *dir = slot_dir(p);

                if (dir[i] != 0 && !adopted(dir[i], userdata)) {
                        dir[i] = 0;
                        slot_at(p, i)->h.phase = PERSIST_SLOT_FREE;
                }
        }
}

void persist_hold_log(Persist *p, bool held) {
        if (persist_enabled(p))
                p->held = held;
}

/* After recovery: one fresh log of what was restored (drops the records of sessions that ended). */
bool persist_rewrite(Persist *p) {
        if (!persist_enabled(p))
                return true;
        if (p->in_flight > 0 || p->held)
                return false;
        compact(p);
        return true;
}

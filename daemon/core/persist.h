/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * persist.h - what a restarted broker needs, kept where a crash cannot take it.
 *
 * Owns: the state file (a memfd the service manager's fd store keeps, named
 * "state.GEN"; its format is docs/restart.md's "State file"), the names
 * under which each session's fds are kept in the store (its connection, its
 * context, its devices, its registered memory), the records written into
 * the state file (a session's start and end, its objects, its mappings), the
 * per-session request slot (the request being worked on and the reply that
 * could not be written yet), and compaction.  recover.c reads what this
 * writes.
 * Must never: decide anything or call a backend; a failure to persist is
 * logged (the session goes on, it just would not survive a restart).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/persist-objects.h"
#include "policy/peer.h"
#include "util/fdstore.h"

typedef struct Ioas Ioas;
typedef struct Mapping Mapping;
typedef struct Session Session;
typedef struct Persist Persist;

#define PERSIST_MAGIC "IBSTATE\0"
/*
 * The format version written; a broker reads every version up to this one.
 * 2: OBJECTS_DELTA records.  A broker that adopts a file of an older version
 * marks it with its own, so that an older broker never reads records it does
 * not know.
 */
#define PERSIST_VERSION 2U

/* The kinds of fds a session keeps in the store: "s<session>.<kind><id>". */
enum {
        PERSIST_FD_CONNECTION = 'c',
        PERSIST_FD_CONTEXT = 'x',
        PERSIST_FD_DEVICE = 'd',        /* id: its dev_id */
        PERSIST_FD_MEMREG = 'm',        /* id: its handle */
        PERSIST_FD_GUARD = 'g',         /* a seal guard's file; id: the guard's (object/ioas.h) */
};

/* Where a request of the session is (PersistSlot.phase). */
enum {
        PERSIST_SLOT_FREE = 0,
        PERSIST_SLOT_IDLE = 1,          /* the session is there, no request open */
        PERSIST_SLOT_STARTED = 2,       /* read: its kernel calls may have run, its records not all written */
        PERSIST_SLOT_ANSWERED = 3,      /* its reply went to the socket */
        PERSIST_SLOT_QUEUED = 4,        /* its reply waits in the broker: the slot holds it */
        PERSIST_SLOT_RECEIVING = 5,     /* a datagram of this id is being taken from the socket */
};

/* Log record types (docs/restart.md). */
enum {
        PERSIST_REC_SESSION = 1,
        PERSIST_REC_END = 2,
        PERSIST_REC_OBJECTS = 3,
        PERSIST_REC_MAP = 4,
        PERSIST_REC_UNMAP = 5,
        PERSIST_REC_OBJECTS_DELTA = 6,
};


/*
 * Opens the state file the store passed at start (it then stays the one
 * written, and recover.c reads it first), or makes a new one and keeps it in
 * the store.  Without a store (no service manager): no state at all, every
 * call below does nothing, and persist_enabled() is false.
 */
int persist_new(Persist **ret, FdStore *store);
Persist *persist_free(Persist *p);
bool persist_enabled(const Persist *p);
FdStore *persist_store(Persist *p);
/* Whether the state file came from a previous process (recover.c has work). */
bool persist_restored(const Persist *p);
/* How many restarts the state file has seen (counted by recover.c). */
uint64_t persist_restarts(const Persist *p);
void persist_count_restart(Persist *p);
/* The highest session id the state file ever named: new ids go above it. */
uint64_t persist_last_session_id(const Persist *p);

/* The fd-store name of one of s's fds. */
void persist_fd_name(char *buf, size_t size, uint64_t session, char kind, uint32_t id);
/*
 * A file of the broker's own for fd, a memfd opened with accmode: the store
 * keeps one copy of an open file only (systemd drops a second one, under any
 * name), so a memfd a client registers twice, or in two sessions, is opened
 * again through /proc/self/fd.  Returns fd itself without a store, else a
 * new fd (the caller closes fd) or -errno.
 */
int persist_own_file(const Persist *p, int fd, int accmode);
/* Keeps a copy of fd in the store under s's name for (kind, id); forgets it. */
int persist_keep_fd(Persist *p, const Session *s, char kind, uint32_t id, int fd);
void persist_forget_fd(Persist *p, const Session *s, char kind, uint32_t id);

/*
 * A session after Hello: keeps its connection and context, claims its slot,
 * writes its SESSION and OBJECTS records.  Without a slot left the session is
 * served but would not survive a restart (logged).
 */
int persist_session_begin(Persist *p, Session *s);
/* Before its teardown: END record, slot freed, every fd it kept forgotten. */
void persist_session_end(Persist *p, Session *s);
/*
 * Its objects (IOASes, registered memory, devices...) after request id changed
 * them, with that request's reply (may be NULL) and how many fds the reply
 * carries: one record, so that a restart finds the outcome together with the
 * objects it made.  touched: the objects the request can have made, changed
 * or freed (n_touched of them, maybe none): an OBJECTS_DELTA record with
 * those of them that live and the ids of those that do not, whatever the
 * session holds besides; NULL: an OBJECTS record of all of them.
 */
void persist_objects(Persist *p, Session *s, const PersistObjectRef *touched, size_t n_touched,
                     uint64_t request_id, const uint8_t *reply, size_t reply_size, size_t reply_fds);
/* A mapping the kernel made (with the seal guards it holds); an unmap the kernel did of [iova, last] of an IOAS. */
void persist_map(Persist *p, Session *s, const Ioas *ioas, const Mapping *m);
void persist_unmap(Persist *p, Session *s, uint32_t ioas, uint32_t serial, uint64_t iova, uint64_t last);

/* The slot: a request about to be read (the first bytes of its datagram), read (its bytes kept), one Batch operation done, its reply. */
void persist_request_peeked(Persist *p, Session *s, const uint8_t *head, size_t size);
void persist_request_begin(Persist *p, Session *s, uint64_t id, const uint8_t *data, size_t size);
void persist_request_step(Persist *p, Session *s, uint32_t op, int err, uint64_t value);
void persist_request_replied(Persist *p, Session *s, bool queued, const uint8_t *reply, size_t size,
                             size_t n_fds);

/* The broker's registry of sessions (first, then ->next): compaction writes each of them. */
void persist_set_sessions(Persist *p, Session *(*first)(void *userdata), void *userdata);

/* ----------------------------------------------------------------- reading (recover.c) */

typedef struct PersistRecord {
        uint64_t pos;                   /* where in the log: records of a request come after its slot's log_mark */
        uint32_t type;                  /* PERSIST_REC_* */
        uint32_t size;                  /* of payload */
        uint64_t session;
        const void *payload;
} PersistRecord;

/* Calls fn for each committed record, in the order written; stops at fn's first negative return. */
int persist_foreach_record(Persist *p, int (*fn)(const PersistRecord *r, void *userdata), void *userdata);

typedef struct PersistSlotView {
        uint64_t session;
        uint32_t phase;
        uint64_t request_id;
        const uint8_t *request;         /* its bytes, NULL if they did not fit */
        size_t request_size;
        uint32_t steps;                 /* Batch operations done */
        const int32_t *step_err;        /* per operation done: 0 or an errno */
        const uint64_t *step_value;     /* its IOVA (map) or bytes (unmap) */
        const uint8_t *reply;           /* PERSIST_SLOT_QUEUED */
        size_t reply_size;
        size_t reply_fds;
        uint64_t restarts;
        uint64_t log_mark;
} PersistSlotView;

/* The slot of session; -ENOENT if it has none. */
int persist_slot(Persist *p, uint64_t session, PersistSlotView *ret);
/* Gives a restored session its slot back (the one recorded for it). */
int persist_session_adopt(Persist *p, Session *s);

/* Frees the slots of the sessions for which adopted() is false. */
void persist_release_unadopted(Persist *p, bool (*adopted)(uint64_t session, void *userdata), void *userdata);
/*
 * A fresh state file of what is there now (after recovery: without the
 * records of what ended); false if a request is in flight (try again).
 */
bool persist_rewrite(Persist *p);
/*
 * Held, the log is never compacted, so that pointers into it (PersistRecord's
 * payload) stay valid: recover.c holds it while it reads records and settles
 * requests, which write some.  A record that does not fit meanwhile is lost
 * (logged), as when a compaction fails.
 */
void persist_hold_log(Persist *p, bool held);

/* ----------------------------------------------------------------- the payloads */

typedef struct PersistSessionRec {
        uint64_t restarts;
        char client_name[64];
        /* the peer's identity as captured at accept (policy/peer.h) */
        int32_t pid;
        uint32_t uid;
        uint32_t gid;
        uint32_t n_groups;
        uint16_t unit_len, slice_len, cgroup_len;       /* 0: NULL; else strlen + 1 */
        uint16_t tenant_len;            /* its tenant's name, strlen + 1 */
        uint8_t revoke_on_reload;       /* its tenant's RevokeOnReload= when it was last written */
        uint8_t pad[7];
        /* followed by n_groups gid_t, then unit, slice, cgroup and the tenant's name with their NULs */
} PersistSessionRec;

/*
 * The identity a SESSION record of size bytes holds, and its tenant's name
 * (NULL: none recorded): the strings point into it; -EBADMSG.
 */
int persist_session_identity(const PersistSessionRec *r, size_t size, PeerIdentity *ret, gid_t *groups,
                             size_t n_groups_max, const char **ret_tenant);


typedef struct PersistMapRec {
        uint32_t ioas;
        uint32_t serial;
        uint64_t iova;
        uint64_t length;
        uint64_t offset;
        uint32_t flags;                 /* BACKEND_MAP_* */
        uint32_t mem;                   /* the registration it came from; 0: an fd of the request, or a Copy */
        /*
         * followed (since the seal guards were kept) by a uint32_t count
         * and the ids of the seal guards the mapping holds; a record without
         * them is from an older broker
         */
} PersistMapRec;

typedef struct PersistUnmapRec {
        uint32_t ioas;
        uint32_t serial;
        uint64_t iova;
        uint64_t last;
} PersistUnmapRec;

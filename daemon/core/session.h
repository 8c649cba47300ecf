/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session.h - one client connection and everything it made.
 *
 * Owns: the peer's identity as the kernel gave it at accept (SO_PEERCRED, a
 * pidfd where SO_PEERPIDFD exists), the session's own iommufd context (never
 * shared with another session; opened at its first kernel object, so an idle
 * session holds two fds: session_context()), its objects (one list per SessionKind,
 * found by session_find(); each object's free unlinks it) and its account,
 * and the teardown that empties its kernel context, verified, when the
 * client goes (one walk over the kinds in the order of SessionKind).
 * Decides the fate of bad input at the session boundary: every malformed or
 * refused request gets an error reply and the session goes on.
 * Must never: touch an object's list links (util/list.h and the objects'
 * destructors do), or call a backend (the objects do).
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "object/account.h"
#include "object/device.h"
#include "object/hwpt.h"
#include "object/ioas.h"
#include "object/memreg.h"
#include "object/pasid.h"
#include "object/tenant.h"
#include "object/viommu.h"
#include "util/idindex.h"
#include "util/list.h"
#include "policy/peer.h"
#include "policy/policy.h"
#include "wire/fdlist.h"
#include "wire/transport.h"

struct event_base;

typedef struct Session Session;
typedef struct SessionHost SessionHost;

/*
 * Admission at the door, before any tenant is asked: a connection must say
 * Hello within hello_timeout_sec, one uid may hold max_connections_per_uid
 * connections and max_pending_per_uid of them before their Hello.  Past a
 * limit the connection is refused (EUSERS) with a sentence naming it.
 */
#define SESSION_HELLO_TIMEOUT_SEC 10
#define SESSION_MAX_CONNECTIONS_PER_UID 1024
#define SESSION_MAX_PENDING_PER_UID 64
/*
 * A refused connection is kept until its Hello (answered with the reason)
 * or the Hello timeout, so that a client hears why.  At most this many wait
 * so, broker-wide: past it a refused connection hears why at once (id 0)
 * and is closed, so that refusals cannot hold the broker's fds, which no
 * tenant is charged for (a refused peer has none).
 */
#define SESSION_MAX_REFUSED_HELD 64

typedef struct SessionAdmission {
        unsigned hello_timeout_sec;
        unsigned max_connections_per_uid;
        unsigned max_pending_per_uid;
} SessionAdmission;

/* Fills the fields left 0 with the defaults above. */
void session_admission_complete(SessionAdmission *a);

/*
 * The kinds of objects a session holds, in the order teardown lets them go
 * (the Teardown comment in session.c): a vDEVICE before its vIOMMU, both
 * before the devices and HWPTs they hang on, devices detached before the
 * HWPTs they use, HWPTs before the fault queues and IOASes they use.
 */
typedef enum SessionKind {
        SESSION_VDEVICE,
        SESSION_VIOMMU,
        SESSION_DEVICE,
        SESSION_HWPT,
        SESSION_FAULT_QUEUE,
        SESSION_IOAS,
        SESSION_MEMREG,
        _SESSION_KIND_MAX,
        _SESSION_KIND_INVALID = -EINVAL,
} SessionKind;

/* The kind of an object pointer, and of an object type: SESSION_KIND(Ioas) is SESSION_IOAS. */
#define SESSION_KIND_OF(o)                                      \
        _Generic((o),                                           \
                 Vdevice *: SESSION_VDEVICE,                    \
                 Viommu *: SESSION_VIOMMU,                      \
                 Device *: SESSION_DEVICE,                      \
                 Hwpt *: SESSION_HWPT,                          \
                 FaultQueue *: SESSION_FAULT_QUEUE,             \
                 Ioas *: SESSION_IOAS,                          \
                 MemReg *: SESSION_MEMREG)
#define SESSION_KIND(type) SESSION_KIND_OF((type *) NULL)

/* Connections of one uid (SessionHost.uids). */
typedef struct SessionUid {
        uid_t uid;
        unsigned connections;
        unsigned pending;               /* of them, before their Hello */
} SessionUid;

/*
 * What answers a session's datagrams: the verb table (core/dispatch.c's
 * dispatch_server), lent by the broker.  session.c sits below it and reaches
 * it only through these.
 */
typedef struct SessionServer {
        /* One datagram: decode, run its verb, reply (an error reply for bad input). */
        void (*message)(Session *s, const uint8_t *data, size_t size, FdList *fds, unsigned flags);
        /* The one reply of a refused connection to the request in data. */
        void (*refuse)(Session *s, const uint8_t *data, size_t size, FdList *fds, const char *reason);
        /* One error reply to no request (id 0) or to id. */
        void (*send_error)(Session *s, uint64_t id, int err, const char *message);
} SessionServer;

/*
 * What keeps a session's state for a restart of the broker (core/persist.c,
 * above this file): lent by the broker, called at these moments.
 */
typedef struct SessionJournal {
        void (*begin)(Session *s, void *userdata);              /* Hello done */
        void (*end)(Session *s, void *userdata);                /* before the connection closes and teardown */
        void (*release_device)(Session *s, uint32_t dev_id, void *userdata);   /* before its fd closes */
        void (*keep_guard)(Session *s, uint32_t id, int fd, void *userdata);   /* a seal guard was made */
        void (*release_guard)(Session *s, uint32_t id, void *userdata);        /* before its fd closes */
        void (*peek)(Session *s, const uint8_t *head, size_t size, void *userdata);  /* a datagram is about to be read */
        bool one_reply_queued;          /* a transport stops reading while one reply waits (persist.c) */
        void *userdata;
} SessionJournal;

/* What the broker lends every session; filled by broker.c. */
struct SessionHost {
        struct event_base *base;
        const SessionServer *server;
        Backend *backend;
        Account *account;               /* broker-wide usage, parent of every session's */
        uid_t uid;                      /* the broker's own uid */
        size_t n_sessions;
        size_t n_refused_held;          /* refused connections waiting to hear why (SESSION_MAX_REFUSED_HELD) */
        DeviceTable devices;            /* host-wide: who has which device open */
        PasidSpace pasids;              /* host-wide PASID space for global-PASID devices */
        bool global_pasid;              /* every device's PASIDs come from the host-wide space */
        struct Delegation *delegations; /* devices handed to VMMs (core/delegation.h) */
        size_t n_delegations;
        uint64_t last_delegation_id;
        Policy *policy;                 /* the policy in force; NULL: no policy file (local admin only) */
        const char *policy_path;
        Tenant *tenants;                /* live tenants */
        void (*on_session_free)(Session *s, void *userdata);
        void (*on_device_quarantined)(void *userdata);  /* the broker probes it again later */
        void (*on_delegations_changed)(void *userdata); /* a delegation began or ended */
        void *userdata;
        SessionAdmission admission;
        uint64_t offload_min_bytes;     /* a request that may pin or unpin this much waits off the loop (util/offload.h); 0: none */
        const SessionJournal *journal;  /* what keeps the state a restart needs (core/persist.h); NULL: none */
        struct Persist *persist;        /* for the rooms above session.c: the state file */
        SessionUid *uids;               /* uids with connections, unordered */
        size_t n_uids;
        size_t size_uids;
};

/* Frees what the host's sessions left behind (the per-uid table); all sessions are gone. */
void session_host_done(SessionHost *host);

struct Session {
        SessionHost *host;
        uint64_t id;
        Session *prev;
        Session *next;                  /* in the broker's registry */
        Transport transport;
        struct ucred cred;
        int pidfd;
        char name[32];                  /* "session 7" */
        char *client_name;              /* from Hello, for logs */
        PeerIdentity id_peer;           /* uid, groups, unit, slice, cgroup, as the kernel told at accept */
        Tenant *tenant;                 /* NULL while refused; its record is the policy in force */
        char *deny_reason;              /* set: the connection is refused; the first request gets this, then it closes */
        int deny_errno;                 /* its errno: EACCES (no tenant), EDQUOT (a limit), EUSERS (per-uid) */
        bool hello;
        bool registered;                /* counted in host->n_sessions */
        bool refused_held;              /* counted in host->n_refused_held */
        bool counted_uid;               /* counted in its SessionUid */
        struct event *hello_timer;      /* armed until Hello */
        BackendCtx *ctx;                /* its iommufd: NULL until the first verb that makes a kernel object */
        Account account;
        Charge charge_session;          /* ACCOUNT_SESSIONS */
        Charge charge_fds;              /* ACCOUNT_FDS: its socket and pidfd */
        Charge charge_ctx;              /* ACCOUNT_FDS: its iommufd, while it has one */
        ListLink objects[_SESSION_KIND_MAX];    /* what it made, newest first: the link member of each */
        IdIndex index[_SESSION_KIND_MAX];       /* the same, found by id (session_find()) */
        GuardSet guards;                /* the seal guards of its writable mappings' files (object/ioas.h) */
        uint64_t n_requests;
        bool waiting;                   /* a request of it waits for a kernel call off the loop: it reads no more */
        bool free_pending;              /* it ended meanwhile: freed once that request is done */
        bool tearing_down;              /* ended, its context being emptied off the loop: session_free() waits for it */
        uint32_t last_mem;              /* the last MemRegister handle: handles are never reused */
        uint32_t last_ioas_serial;      /* the last Ioas.serial handed out */
        uint32_t persist_slot;          /* its slot in the state file + 1; 0: it would not survive a restart */
        bool persist_in_flight;         /* a request of it is between its record and its reply (core/persist.c) */
        uint64_t last_request_id;       /* the id of the request being dispatched */
        uint64_t restarts;              /* broker restarts this session lived through */
};

/*
 * Takes fd.  The session starts serving at once; or, a refused connection
 * past SESSION_MAX_REFUSED_HELD, is told why and closed: 0 with *ret NULL.
 */
int session_new(Session **ret, SessionHost *host, uint64_t id, int fd);
/*
 * The session's iommufd context, opened at the first call (charged one fd
 * of ACCOUNT_FDS; *ret_over is the account over its limit on -EDQUOT);
 * 0 or -errno.
 */
int session_context(Session *s, BackendCtx **ret, const Account **ret_over);
/* What the records of a restored session say of who it is. */
typedef struct SessionRestored {
        const PeerIdentity *identity;   /* captured at its accept; NULL: read again from the kernel */
        const char *tenant;             /* the tenant it was admitted as; NULL: matched again */
        bool revoke_on_reload;          /* that tenant's RevokeOnReload= */
} SessionRestored;

/*
 * A session a previous broker process served (core/recover.c): takes fd (its
 * connection) and ctx (NULL: it had no iommufd yet); admitted again under the policy in force as its
 * records say (restored; NULL: as a new connection would be), counted as
 * after Hello, not reading until session_resume().  Its tenant is the one it
 * was admitted as; one gone from the policy keeps it as an orphan (nothing
 * new), or closes it if RevokeOnReload= said so: -EACCES, with deny_reason
 * set on the returned session.
 */
int session_restore(Session **ret, SessionHost *host, uint64_t id, int fd, BackendCtx *ctx, const char *client_name,
                    const SessionRestored *restored);
/* Reads again: a restored session is serving. */
void session_resume(Session *s);
/* The kernel id of an object of kind by its list link (a device's: its dev_id). */
uint32_t session_kind_id(SessionKind kind, ListLink *link);
/*
 * Closes the connection, then empties the session's iommufd context in the
 * kernel, verified (see the Teardown comment in session.c), releases its
 * devices and closes the context.  While a request of s waits off the loop
 * only the connection closes; the rest follows when that request is done.
 */
Session *session_free(Session *s);
/* Hello succeeded: the connection is no longer pending, its deadline is off. */
void session_hello_done(Session *s);
/*
 * A request of s waits for a kernel call off the loop (util/offload.h): s
 * reads nothing more until session_request_done(), which frees s if it ended
 * meanwhile (session_free() defers to it) or reads on.
 */
void session_request_waits(Session *s);
void session_request_done(Session *s);
/* One audit record for s (verb: AUDIT_VERB_*; result: AUDIT_GRANTED, AUDIT_DENIED, ...). */
void session_audit(const Session *s, const char *verb, const char *object, const char *result, const char *reason);
/*
 * Logs why quarantined device slot is kept out (who: the session or
 * delegation it left) and puts the audit record's reason in reason: a bound
 * copy of its fd found outside the broker, or a probe that could not run
 * (nobody is blamed).
 */
void session_quarantine_explain(const char *who, const DeviceSlot *slot, char *reason, size_t size);
/* Lets go of one open device (unlinked by its free): quarantined and audited if its fd is held outside. */
void session_release_device(Session *s, Device *d);
/* Frees quarantined devices a bind now succeeds for (audited); how many. */
size_t session_host_probe_devices(SessionHost *host);
/* Rescans the devices, then probes the quarantined ones. */
int session_host_refresh_devices(SessionHost *host);

/*
 * The session's object of a type with that id (a device: its dev_id), or
 * NULL: Hwpt *h = session_find(s, Hwpt, id).
 */
#define session_find(s, type, id) ((type *) session_find_kind((s), SESSION_KIND(type), (id)))
void *session_find_kind(Session *s, SessionKind kind, uint32_t id);
/* The object of a kind whose link is link (LIST_FOREACH_LINK over session_objects()). */
void *session_kind_object(SessionKind kind, ListLink *link);
/* Links a new object into the session: session_add(s, TAKE_PTR(ioas)).  Its free unlinks it. */
#define session_add(s, o) session_add_kind((s), SESSION_KIND_OF(o), &(o)->link)
void session_add_kind(Session *s, SessionKind kind, IdLink *link);
/* The live objects of a kind: LIST_FOREACH(d, session_objects(s, SESSION_DEVICE), link). */
static inline const ListLink *session_objects(const Session *s, SessionKind kind) {
        return &s->objects[kind];
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Session *, session_free);

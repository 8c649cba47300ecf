/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdstore.h - file descriptors kept by the service manager across a restart.
 *
 * Owns: the broker's side of systemd's file descriptor store: the fds passed
 * at start (LISTEN_FDS, LISTEN_FDNAMES, checked against LISTEN_PID) until
 * someone takes them by name, and the messages that keep an fd in the store
 * (FDSTORE=1, FDNAME=, FDPOLL=0) or drop every fd of a name (FDSTOREREMOVE=1)
 * on NOTIFY_SOCKET.  A name is at most FDSTORE_NAME_MAX characters of
 * [A-Za-z0-9._-]; every kept fd has its own name (the store keeps several of
 * one name, but a restarted broker could not tell them apart).
 * Without NOTIFY_SOCKET there is no store: fdstore_keep() returns 0 and keeps
 * nothing, and fdstore_enabled() says so, so that a caller may say once that a
 * restart ends every session.
 * Must never: close an fd it was given to keep (the caller's stays the
 * caller's: the store holds its own copy), or log above debug.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"

#define FDSTORE_NAME_MAX 64

typedef struct FdStore FdStore;

/*
 * Reads the fds passed at start (and unsets LISTEN_FDS, LISTEN_FDNAMES and
 * LISTEN_PID); none is fine.  Each passed fd is made close-on-exec.
 */
int fdstore_new(FdStore **ret);
/* Closes the passed fds nobody took; the store itself keeps its copies. */
FdStore *fdstore_free(FdStore *s);

/* Whether a service manager keeps fds for this process (NOTIFY_SOCKET is set). */
bool fdstore_enabled(const FdStore *s);

/*
 * Keeps a copy of fd in the store under name, a name not in the store yet
 * (the store would keep both: names are never reused, a generation number
 * in the name tells a newer copy of a thing from an older one).  0 on
 * success and without a store; -errno if the message could not be sent.
 */
int fdstore_keep(FdStore *s, int fd, const char *name);
/* Drops every fd of name from the store (FDSTOREREMOVE=1). */
int fdstore_forget(FdStore *s, const char *name);

/*
 * The fd passed at start under name, now the caller's; -ENOENT if there is
 * none (or it was taken).  Of several of one name the first passed is taken
 * (the service manager passes its store newest first) and the others closed.
 */
int fdstore_take(FdStore *s, const char *name);
/*
 * Calls fn for each passed fd not taken yet whose name starts with prefix,
 * in the order of their names (one name: in the order passed); fn may take
 * it (fdstore_take()).  Stops at fn's first negative return, which it
 * returns.  A lookup costs O(log n): a restart passes thousands.
 */
int fdstore_foreach(FdStore *s, const char *prefix, int (*fn)(FdStore *s, const char *name, int fd, void *userdata),
                    void *userdata);
/* fdstore_take() and close, then fdstore_forget(): an fd of name passed at start is let go. */
void fdstore_drop(FdStore *s, const char *name);
/*
 * Drops from the store every fd passed at start whose name starts with
 * prefix, taken or not (FDSTOREREMOVE=1 for each name), and closes those not
 * taken: what a restart found but will not keep.
 */
void fdstore_forget_passed(FdStore *s, const char *prefix);
/* The highest N of the passed names "sN.*" (a restarted broker's session ids go above it). */
uint64_t fdstore_highest_session(const FdStore *s);
/* How many fds were passed at start; how many of them are not taken yet. */
size_t fdstore_n_passed(const FdStore *s);
size_t fdstore_n_left(const FdStore *s);

/* Whether name is one the store accepts (see above). */
bool fdstore_name_is_valid(const char *name);

DEFINE_TRIVIAL_CLEANUP_FUNC(FdStore *, fdstore_free);

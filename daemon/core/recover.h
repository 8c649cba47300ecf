/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recover.h - the sessions a previous broker process served, restored at start.
 *
 * Owns: reading the state file (core/persist.h) and the fds the store passed,
 * rebuilding each session's records (IOASes, mappings, registrations,
 * devices) with their charges, making records and kernel agree for the
 * request a crash interrupted, answering it exactly once, and the
 * ResumedEvent; ending (emptied, verified) what cannot be restored.
 * Must never: serve a restored session before its records and the kernel
 * agree.
 */
#pragma once

#include <stdint.h>

#include "core/persist.h"
#include "core/session.h"

typedef struct RecoverStats {
        uint64_t sessions;              /* restored and serving */
        uint64_t ended;                 /* found but ended (no tenant, lost fds, objects not restorable) */
        uint64_t objects;               /* IOASes, registrations and devices restored */
        uint64_t mappings;
        uint64_t bytes;                 /* mapped bytes restored */
        uint64_t resolved;              /* interrupted requests answered */
        uint64_t usec;                  /* from the start of recovery until serving */
} RecoverStats;

/*
 * Restores every session the state file holds whose connection and context
 * the store passed; add() registers each restored session with the broker
 * before it serves.  0 when there was nothing to restore.  The caller
 * compacts the state file once it serves (persist_rewrite(): the records of
 * the sessions that ended go; the log read here stays valid till then).
 */
int recover_sessions(SessionHost *host, Persist *p, void (*add)(Session *s, void *userdata), void *userdata,
                     RecoverStats *ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recover-internal.h - what recover.c and settle.c share of a restart in progress.
 *
 * Owns: the per-session picture a restart builds from the state file
 * (RecSession: its records, its slot, what the interrupted request left in
 * the log) and the restart's own (Recovery).  Only those two files include it.
 * Must never: be included anywhere else.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/persist.h"
#include "core/session.h"

typedef struct RecoverStats RecoverStats;

/* Supplementary groups an identity in the records may list (the kernel's NGROUPS_MAX). */
#define NGROUPS_MAX_RESTORE 65536

typedef struct RecIoas {
        uint32_t id;
        uint32_t serial;
        Ioas *ioas;
} RecIoas;

/* An OBJECTS_DELTA payload in the log. */
typedef struct RecDelta {
        const void *payload;
        size_t size;
} RecDelta;

typedef struct RecSession {
        uint64_t id;
        const PersistSessionRec *session;
        size_t session_size;
        const void *objects;            /* the latest OBJECTS payload */
        size_t objects_size;
        RecDelta *deltas;               /* the OBJECTS_DELTA payloads after it, in log order */
        size_t n_deltas, size_deltas;
        const void *latest;             /* the latest of them all: the last request that changed objects */
        size_t latest_size;
        uint64_t objects_pos;           /* its position in the log */
        bool ended;
        Session *s;
        RecIoas *ioas;                  /* the restored IOASes, in id order (restore_objects()) */
        size_t n_ioas;
        bool unrestorable;              /* holds objects a restart does not restore yet */
        bool released;                  /* the interrupted DeviceClose or MemUnregister had dropped its fd */
        bool answered;                  /* settle_request() answered its interrupted request */
        char why[160];
        /* what the interrupted request left in the log, after its slot's mark */
        uint64_t mark;
        bool has_slot;
        PersistSlotView slot;
        unsigned maps_after, unmaps_after;
        uint64_t last_map_iova;
        uint64_t last_unmap_bytes;
} RecSession;

typedef struct Recovery {
        SessionHost *host;
        Persist *p;
        FdStore *store;
        RecSession *sessions;
        size_t n_sessions;
        size_t size_sessions;
        RecoverStats *stats;            /* the caller's (core/recover.h) */
} Recovery;

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * persist-objects.h - a session's objects as the state file writes them.
 *
 * Owns: the byte form of one object of each kind in an OBJECTS or
 * OBJECTS_DELTA payload (the Persist*Rec structs of core/persist.h, with an
 * IOAS's ranges and a device's PASIDs after them): writing one, and reading
 * back how long one is and its id; which SessionKind a PERSIST_KIND_* is;
 * where a header counts a kind.  persist.c writes the payloads with these,
 * recover.c reads them.
 * Must never: write the log, or make or restore an object.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/session.h"

/* The kinds of a session's objects in records, in the order an OBJECTS payload lists them. */
enum {
        PERSIST_KIND_IOAS = 1,
        PERSIST_KIND_MEMREG = 2,
        PERSIST_KIND_DEVICE = 3,
        PERSIST_KIND_HWPT = 4,
        PERSIST_KIND_FAULT = 5,
        PERSIST_KIND_VIOMMU = 6,
        PERSIST_KIND_VDEVICE = 7,
        _PERSIST_KIND_MAX,
};

/* An object a request made, changed or freed: its kind and id (a device: its dev_id). */
typedef struct PersistObjectRef {
        uint32_t kind;                  /* PERSIST_KIND_* */
        uint32_t id;
} PersistObjectRef;

typedef struct PersistIoasRec {
        uint32_t id;
        uint32_t serial;                /* per session: tells an IOAS from an earlier one of the same id */
        uint32_t n_window;
        uint32_t n_allowed;
        uint8_t enforce_snoop;
        uint8_t pad[7];
        /* followed by n_window then n_allowed IovaRange */
} PersistIoasRec;

typedef struct PersistMemRegRec {
        uint32_t id;
        int32_t accmode;
        int32_t seals;
        uint8_t sealed;
        uint8_t pad[3];
        uint64_t size_floor;
} PersistMemRegRec;

typedef struct PersistDeviceRec {
        char name[32];
        uint32_t dev_id;
        uint32_t pt_id;
        uint32_t hwpt_id;
        uint32_t n_pasids;              /* followed by this many PersistPasidRec */
        uint8_t global_pasid;           /* its PASIDs come from the host-wide space */
        uint8_t pad[7];
} PersistDeviceRec;

typedef struct PersistPasidRec {
        uint32_t vpasid;
        uint32_t pasid;
        uint32_t pt_id;
        uint32_t pad;
} PersistPasidRec;

typedef struct PersistHwptRec {
        uint32_t id;
        uint32_t pt_id;
        uint32_t flags;                 /* BACKEND_HWPT_* */
        uint32_t data_type;
        uint8_t enforce_snoop;
        uint8_t pad[7];
} PersistHwptRec;

typedef struct PersistFaultRec {
        uint32_t id;
        uint32_t pad;
} PersistFaultRec;

typedef struct PersistViommuRec {
        uint32_t id;
        uint32_t dev_id;
        uint32_t hwpt_id;
        uint32_t pad;
} PersistViommuRec;

typedef struct PersistVdeviceRec {
        uint32_t id;
        uint32_t viommu_id;
        uint32_t dev_id;
        uint32_t pad;
} PersistVdeviceRec;

typedef struct PersistObjectsHdr {
        uint32_t n_ioas;
        uint32_t n_memreg;
        uint32_t n_device;
        uint32_t n_hwpt;
        uint32_t n_fault;
        uint32_t n_viommu;
        uint32_t n_vdevice;
        uint32_t last_mem;
        uint32_t last_ioas_serial;
        uint32_t n_removed;             /* OBJECTS_DELTA: PersistObjectRefs of objects gone, after the objects */
        uint64_t request_id;            /* the request whose outcome this is; 0: none (Hello, compaction) */
        uint32_t reply_size;            /* its reply's bytes, last in the record */
        uint32_t reply_fds;             /* fds that reply carried */
        /*
         * followed by the IOASes (each with its ranges), registrations,
         * devices (each with its PASIDs), HWPTs, fault queues, vIOMMUs,
         * vDEVICEs (OBJECTS: all of the session's; OBJECTS_DELTA: those
         * the request touched that live), the removed refs, the reply
         */
} PersistObjectsHdr;


/* The SessionKind of kind (PERSIST_KIND_*), or _SESSION_KIND_INVALID. */
SessionKind persist_kind_session(uint32_t kind);
/* Writes the record of object o of kind at buf + at (buf NULL: only counts); the offset after it. */
size_t persist_object_put(uint32_t kind, const void *o, uint8_t *buf, size_t at);
/* Where a header counts the objects of kind. */
uint32_t *persist_objects_count(PersistObjectsHdr *oh, uint32_t kind);
/* The bytes of the record of kind at at (its ranges or PASIDs included); 0 if it does not fit before end. */
size_t persist_object_size(uint32_t kind, const uint8_t *at, const uint8_t *end);
/* The id of a record of kind (a device's: its dev_id). */
uint32_t persist_object_id(uint32_t kind, const uint8_t *rec);

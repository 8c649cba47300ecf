/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-internal.h - the private types of the simulated IOMMU backend.
 *
 * Owns: the records the sim's files share: the backend (SimBackend) and its
 * configured devices (SimSlot), a context (SimCtx) and the objects of its
 * table (SimObject, embedded in the IOAS, HWPT, DEVICE and FAULT records),
 * an IOAS's areas (SimArea) and a device's attachments (SimAttach), and the
 * model's root (SimModel); the page size of the modelled kernel; the casts
 * from the backend's handles.  Every record but SimBackend lives in the
 * model's arena (sim-arena.c) and survives the process; its fields that are
 * the process's own (fd numbers, the backend and the fd store it points to)
 * say so, and a new process sets them again when it restores the model
 * (sim-ctx.c).  What a
 * field means to the kernel is said beside it; the rules that change it are
 * in the sim-*.c file of its object (sim-ops.c lists them).
 * Must never: hold a function with more than a cast in it, or be included by
 * anything but the sim's own files.
 */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "util/interval.h"
#include "util/itree.h"

/* PAGE_SIZE of the modelled kernel (x86-64). */
#define SIM_PAGE_SIZE PAGE_SIZE_4K

typedef enum SimObjectType {
        SIM_OBJECT_IOAS,
        SIM_OBJECT_HWPT_PAGING,
        SIM_OBJECT_HWPT_NESTED,
        SIM_OBJECT_DEVICE,
        SIM_OBJECT_FAULT,
        _SIM_OBJECT_TYPE_MAX,
} SimObjectType;

typedef enum SimSource {
        SIM_SOURCE_USER,        /* IOMMU_IOAS_MAP: addr is a user VA */
        SIM_SOURCE_FILE,        /* IOMMU_IOAS_MAP_FILE: addr is a file offset */
} SimSource;

typedef struct SimObject {
        SimObjectType type;
        uint32_t id;
} SimObject;

typedef struct SimArea {
        ITreeNode node;                 /* its IOVAs [start, last], in SimIoas.areas */
        uint64_t addr;                  /* VA or file offset of the byte at iova */
        uint8_t source;                 /* SimSource */
        uint8_t prot;                   /* BACKEND_MAP_READABLE|WRITEABLE given for this area */
        bool pages_writable;            /* the memory was taken writable (pages->writable) */
} SimArea;

typedef struct SimIoas {
        SimObject object;
        IovaRange *allowed;             /* sorted, disjoint; none = no restriction */
        size_t n_allowed;
        ITree areas;                    /* of SimArea.node (iopt->area_itree) */
        /*
         * Paging HWPTs whose domain is in this IOAS's table (iopt->domains):
         * each holds a user of the IOAS, reserves the range above its
         * aperture and raises the IOVA alignment to 4 KiB.
         */
        uint32_t n_domains;
        /* Those of them that are nesting parents: they refuse read-only mappings. */
        uint32_t n_nest_parents;
        /* Devices whose RID is attached through this IOAS: each reserves the MSI window. */
        uint32_t n_msi_owners;
} SimIoas;

typedef struct SimHwpt {
        SimObject object;               /* SIM_OBJECT_HWPT_PAGING or SIM_OBJECT_HWPT_NESTED */
        struct SimHwpt *parent;         /* nested: its nesting parent */
        SimIoas *ioas;                  /* paging: its IOAS */
        uint64_t seq;                   /* creation order, for the IOAS's hwpt_list walk */
        uint32_t users;                 /* attachments and nested children: obj.users above the base */
        bool in_iopt;                   /* paging: its domain is counted in ioas->n_domains */
        bool auto_domain;               /* made by an attach to an IOAS; dies with its last user */
        bool pasid_compat;              /* IOMMU_HWPT_ALLOC_PASID */
        bool nest_parent;               /* IOMMU_HWPT_ALLOC_NEST_PARENT */
        bool dirty_tracking;            /* IOMMU_HWPT_ALLOC_DIRTY_TRACKING: domain->dirty_ops */
        bool force_coherence;           /* made for a snoop-control device: PT_FEAT_VTDSS_FORCE_COHERENCE */
        uint32_t s1_addr_width;         /* nested: struct iommu_hwpt_vtd_s1 addr_width */
        uint64_t s1_flags;              /* nested: struct iommu_hwpt_vtd_s1 flags */
        struct SimFault *fault;         /* IOMMU_HWPT_FAULT_ID_VALID: holds a user of it */
        bool dirty_enabled;             /* paging: IOMMU_HWPT_SET_DIRTY_TRACKING enabled it (dmar_domain->dirty_tracking) */
        /*
         * paging: the IOVAs of the 4 KiB pages whose PTE has its dirty bit set,
         * unordered and distinct; only backend_sim_mark_dirty() (a DMA write)
         * sets one, so without it nothing is ever dirty.
         */
        uint64_t *dirty;
        size_t n_dirty;
        size_t size_dirty;
} SimHwpt;

/*
 * A FAULT object (eventq.c iommufd_fault_alloc).  Its fd, handed to the
 * caller, is the read end of a pipe whose write end the object keeps: it is
 * never readable, as a fault queue of a device that never faults (the sim
 * has no PRI) never is.  While a copy of it is open the object cannot be
 * destroyed, as the kernel's file holds a user of it (sim_fault_fd_open).
 */
typedef struct SimFault {
        SimObject object;
        uint32_t users;                 /* HWPTs delivering to it */
        int write_fd;                   /* the process's */
        uint64_t write_name;            /* write_fd in the fd store: sim.fault.N; 0: not kept */
} SimFault;

/* One iommufd attachment of a device: iommufd_group->pasid_attach[pasid] holds the device. */
typedef struct SimAttach {
        uint32_t pasid;                 /* the kernel's number: 0 is IOMMU_NO_PASID, the RID */
        SimHwpt *hwpt;
} SimAttach;

typedef struct SimSlot SimSlot;
typedef struct SimCtx SimCtx;

typedef struct SimDevice {
        SimObject object;
        SimSlot *slot;                  /* the configured device */
        bool rid_attached;              /* vfio_device->iommufd_attached */
        bool pasid0;                    /* vfio_device->pasids holds PASID 0 (an alias of the RID) */
        SimAttach *attaches;            /* unordered; one per kernel PASID */
        size_t n_attaches;
        size_t size_attaches;
        int watch_fd;                   /* the sim's end of the device fd's socketpair; the process's */
        uint64_t watch_name;            /* watch_fd in the fd store: sim.dev.N; 0: not kept */
} SimDevice;

/* A configured device and who has it. */
struct SimSlot {
        BackendDeviceInfo info;
        SimCtx *ctx;                    /* the context it is bound in, NULL if free */
        SimDevice *device;
};

typedef struct FdStore FdStore;

/* The root of the model, in its arena: what the IOMMU side holds. */
typedef struct SimModel {
        SimSlot *slots;                 /* the configured devices */
        size_t n_slots;
        SimCtx *contexts;               /* alive contexts, open or closed and held */
        size_t n_ctx;                   /* how many: they point into slots[] */
        uint64_t last_name;             /* the last N of a sim.*.N name in the fd store: never reused */
        FdStore *fdstore;               /* the process's: where the sim's fds are kept, or NULL */
} SimModel;

/* The process's handle on the model; not in the arena. */
typedef struct SimBackend {
        Backend backend;
        bool no_map_file;
        SimModel *model;
        int model_fd;                   /* the arena's memfd */
        bool persist;                   /* the fd store keeps the model: close leaves it in place */
        SimSlot *slots;                 /* model->slots, model->n_slots */
        size_t n_slots;
        struct pollfd *pollfds;         /* size_pollfds of them, for sim_reap */
        SimCtx **reap_ctx;              /* the context of each pollfd past n_slots */
        size_t size_pollfds;
        int32_t *fail_nth_shared;       /* $IB_SIM_FAIL_NTH_FILE mapped, or NULL */
} SimBackend;

/*
 * A context's iommufd is one end of a SOCK_SEQPACKET socketpair (fd), whose
 * other end (watch_fd) the sim keeps: when every copy of fd is closed - the
 * broker's, the fd store's, any other - watch_fd polls POLLHUP and the
 * context is released as the kernel releases an iommufd file.
 */
struct SimCtx {
        BackendCtx ctx;                 /* .backend is the process's */
        SimCtx *prev, *next;            /* in SimModel.contexts */
        int fd;                         /* the iommufd the broker holds (ctx_fd), -1 after ctx_free; the process's */
        int watch_fd;                   /* the sim's end; the process's */
        uint64_t watch_name;            /* watch_fd in the fd store: sim.ctx.N; 0: not kept */
        uint64_t ino;                   /* fd's inode (and device): how ctx_adopt knows a copy of it */
        uint64_t dev;
        bool closed;                    /* every copy of fd closed: kept only for its bound devices */
        SimObject **objects;            /* objects[i] has id i + 1, NULL if free */
        size_t n_objects;               /* slots up to the highest id in use */
        size_t size_objects;
        size_t first_free;              /* no free slot below this index */
        uint64_t hwpt_seq;              /* the last SimHwpt.seq handed out */
};

static inline SimCtx *sim_ctx(BackendCtx *ctx) {
        return (SimCtx *) ctx;
}

static inline SimBackend *sim_backend(Backend *b) {
        return (SimBackend *) b;
}

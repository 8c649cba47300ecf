/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmm-script.h - what a VMM asks of the broker, as a script of stages.
 *
 * Owns: the VMM-like script the fail-nth sweep and the random-kill soak both
 * run through libiommu-broker against a sim broker: a windowed IOAS, several
 * maps, batches of maps and unmaps, a copy, device open + attach, HWPTs
 * (paging, nesting parent, nested, dirty tracking and its bitmap), a PASID,
 * a fault queue, and the ways a session ends (unmap all, device close, free
 * all, or just hang up holding objects, or holding the device fd).  Each
 * stage is a short run of requests; every request goes through one place,
 * vmm_request(), which keeps the count and applies the caller's rule for a
 * failure.
 * Must never: talk to the broker but through libiommu-broker (and the one
 * MSG_PEEK on its socket that finds stray replies).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "client/iommu-broker.h"

/* The sim's default devices: PASIDs, nesting, dirty tracking and snoop control; and none of them. */
#define VMM_DEVICE_RICH "0000:00:02.0"
#define VMM_DEVICE_PLAIN "0000:00:03.0"

#define VMM_MEMFD_SIZE (16U << 20)
#define VMM_MAX_MAPS 32

typedef enum VmmMode {
        /*
         * Fail-nth: a request that fails with ENOMEM (the injected failure)
         * is counted and sent once more, and must then succeed (a failed
         * request changed nothing); any other failure, a second ENOMEM, or a
         * stray reply on the socket ends the script as a test failure.
         */
        VMM_MODE_STRICT,
        /* The soak: a failure (a device busy in another session, say) only skips the rest of the stage. */
        VMM_MODE_LENIENT,
} VmmMode;

/* Where vmm_full_script() is, for a soak that wants to know where its kills landed. */
typedef enum VmmStage {
        VMM_STAGE_CONNECT,
        VMM_STAGE_IOAS,
        VMM_STAGE_MAPS,
        VMM_STAGE_BATCH,
        VMM_STAGE_COPY,
        VMM_STAGE_DEVICES,
        VMM_STAGE_HWPTS,
        VMM_STAGE_DIRTY,
        VMM_STAGE_FAULT_QUEUE,
        VMM_STAGE_PASID,
        VMM_STAGE_UNMAP_ALL,
        VMM_STAGE_DEVICE_CLOSE,
        VMM_STAGE_FREE_ALL,
        VMM_STAGE_DONE,
        _VMM_STAGE_MAX,
} VmmStage;

/* "maps", ... */
const char *vmm_stage_name(VmmStage s);

typedef struct VmmMap {
        uint32_t ioas;
        uint64_t iova;
        uint64_t length;
} VmmMap;

typedef struct Vmm Vmm;

struct Vmm {
        VmmMode mode;
        ib_client *c;
        int memfd;
        uint32_t ioas;                  /* the windowed IOAS */
        uint32_t ioas2;                 /* the copy's destination */
        uint32_t dev[2];                /* VMM_DEVICE_RICH, VMM_DEVICE_PLAIN; 0 if not open */
        int dev_fd[2];
        uint32_t hwpt_paging, hwpt_parent, hwpt_nested, hwpt_dirty, hwpt_pasid, hwpt_fault;
        uint32_t fault;
        int fault_fd;
        uint32_t pasid;                 /* the physical PASID of vPASID 5 */
        VmmMap maps[VMM_MAX_MAPS];      /* what is mapped, as far as this VMM knows */
        size_t n_maps;

        unsigned n_requests;            /* requests with a reply */
        unsigned n_enomem;              /* of them, replies with ENOMEM (each sent again) */
        bool refused;                   /* strict: the broker refused the session at first (connect again) */
        bool failed;                    /* strict: the script broke the rule; error says how */
        VmmStage stage;                 /* vmm_full_script() only */
        volatile uint32_t *progress;    /* if set, stage << 16 | n_requests goes here too (for a parent) */
        void (*on_reply)(Vmm *v);       /* if set, runs after each reply */
        uint32_t kill_after;            /* for on_reply: the soak's self-kill point */
        char error[512];
};

/* A VMM with nothing yet; memfd is VMM_MEMFD_SIZE of RAM. */
int vmm_init(Vmm *v, VmmMode mode);
/* Closes the fds the VMM holds (device fds, fault queue, memfd) and the connection, if still open. */
void vmm_done(Vmm *v);

/* Connects; strict: a session refused at its start counts as the injected failure and connects again. */
int vmm_connect(Vmm *v, const char *socket_path);
/* Hangs up; the fds stay open. */
void vmm_hangup(Vmm *v);
/* Closes the device fds (and the fault queue's) this VMM holds. */
void vmm_close_fds(Vmm *v);

/* The stages: 0, or -1 when the stage stopped (strict: v->failed says why). */
int vmm_ioas_window(Vmm *v);            /* 32-bit window IOAS, IOVA ranges, allowed IOVAs */
int vmm_maps(Vmm *v);                   /* a fixed and two automatic maps */
int vmm_batch(Vmm *v);                  /* a batch of six maps, then one of three unmaps and a map */
int vmm_copy(Vmm *v);                   /* a second IOAS and a copy of a mapping into it */
int vmm_devices(Vmm *v, bool both);     /* open + hw info + attach to the IOAS (the rich device, both) */
int vmm_hwpts(Vmm *v);                  /* paging HWPT, attach; nest parent, nested, attach, invalidate; back */
int vmm_dirty(Vmm *v);                  /* dirty-tracking HWPT, enable, bitmap (clear and not), disable */
int vmm_pasid(Vmm *v);                  /* PASID HWPTs; vPASID 5 attach, lookup, replace, detach; vPASID 7 */
int vmm_fault_queue(Vmm *v);            /* fault queue, a HWPT reporting to it */
int vmm_unmap_all(Vmm *v);              /* every IOAS unmapped whole */
/* DeviceClose of every open device, its fd closed first unless keep_fd (closed by vmm_close_fds() then) */
int vmm_device_close(Vmm *v, bool keep_fd);
int vmm_free_all(Vmm *v);               /* every HWPT (nested first), fault queue fd, IOASes */

/* Every stage in order, as a VMM's life: the script the soak runs. */
int vmm_full_script(Vmm *v, bool clean_end);

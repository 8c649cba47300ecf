/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * viommu.h - fault queues, vIOMMUs and vDEVICEs a session allocated.
 *
 * Owns: the record of each (its id, what it hangs on, its charge, its link
 * in the session's list, which its free unlinks).  A fault queue's fd goes
 * to the client; the broker keeps no copy.  A vIOMMU hangs on a
 * nesting-parent HWPT and a device's IOMMU; a vDEVICE on a vIOMMU and a
 * device, which must not be closed before it (session.c tears them down
 * first).
 * Must never: log above debug, or call a backend other than through its
 * wrappers.
 */
#pragma once

#include <stdint.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "object/account.h"
#include "util/idindex.h"

typedef struct FaultQueue FaultQueue;
struct FaultQueue {
        IdLink link;                    /* in the session's list and index (found by id) */
        BackendCtx *ctx;
        uint32_t id;
        Charge charge_object;
        Charge charge_fd;               /* ACCOUNT_FDS */
};

typedef struct Viommu Viommu;
struct Viommu {
        IdLink link;                    /* in the session's list and index (found by id) */
        BackendCtx *ctx;
        uint32_t id;
        uint32_t dev_id;
        uint32_t hwpt_id;               /* the nesting parent */
        Charge charge_object;
};

typedef struct Vdevice Vdevice;
struct Vdevice {
        IdLink link;                    /* in the session's list and index (found by id) */
        BackendCtx *ctx;
        uint32_t id;
        uint32_t viommu_id;
        uint32_t dev_id;
        Charge charge_object;
};

/* IOMMU_FAULT_QUEUE_ALLOC; *ret_fd (the queue's fd) is the caller's. */
int fault_queue_new(FaultQueue **ret, BackendCtx *ctx, Account *account, int *ret_fd, const Account **ret_over);
/* Frees the record only (unlinked, its charges released): teardown after the context closed. */
FaultQueue *fault_queue_free(FaultQueue *f);

int viommu_new(Viommu **ret, BackendCtx *ctx, Account *account, uint32_t dev_id, uint32_t hwpt_id, uint32_t type,
               const Account **ret_over);
Viommu *viommu_free(Viommu *v);
/*
 * IOMMU_HWPT_INVALIDATE of the vIOMMU's caches: *entry_num entries of
 * entry_len bytes, set to the number handled, also on failure.
 */
int viommu_invalidate(Viommu *v, uint32_t data_type, const void *entries, uint32_t entry_len, uint32_t *entry_num);

int vdevice_new(Vdevice **ret, BackendCtx *ctx, Account *account, uint32_t viommu_id, uint32_t dev_id,
                uint64_t virt_id, const Account **ret_over);
Vdevice *vdevice_free(Vdevice *v);

/* IOMMU_DESTROY of the object, then frees the record; on failure nothing is freed. */
/* Records of objects the kernel holds since before a restart (core/recover.c): no kernel call, charges forced. */
int fault_queue_restore(FaultQueue **ret, BackendCtx *ctx, Account *account, uint32_t id);
int viommu_restore(Viommu **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t dev_id, uint32_t hwpt_id);
int vdevice_restore(Vdevice **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t viommu_id,
                    uint32_t dev_id);

int fault_queue_destroy(FaultQueue *f);
int viommu_destroy(Viommu *v);
int vdevice_destroy(Vdevice *v);

DEFINE_TRIVIAL_CLEANUP_FUNC(FaultQueue *, fault_queue_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(Viommu *, viommu_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(Vdevice *, vdevice_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-hwpt.h - the HWPTs of the simulated backend, and its ops on them.
 *
 * Owns: the declarations of sim-hwpt.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/sim-internal.h"

/* HWPT objects, for sim-attach.c and IOMMU_DESTROY */
SimHwpt *sim_hwpt_paging(SimHwpt *h);
int sim_hwpt_paging_new(SimCtx *c, SimIoas *ioas, const BackendDeviceInfo *info, uint32_t flags,
                        SimHwpt **ret);
void sim_hwpt_destroy(SimCtx *c, SimHwpt *h);
void sim_hwpt_put(SimCtx *c, SimHwpt *h);
/* FAULT objects, for IOMMU_DESTROY: whether a copy of the queue's fd is open anywhere */
bool sim_fault_fd_open(const SimFault *f);

/* ops */
int sim_hwpt_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t data_type,
                   const void *data, size_t data_len, uint32_t fault_id, uint32_t *ret_id);
int sim_hwpt_set_dirty_tracking(BackendCtx *ctx, uint32_t hwpt, bool enable);
int sim_hwpt_get_dirty_bitmap(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                              uint64_t page_size, uint32_t flags, void *bitmap);
int sim_hwpt_invalidate(BackendCtx *ctx, uint32_t pt_id, uint32_t data_type, const void *entries,
                        uint32_t entry_len, uint32_t *entry_num);
int sim_fault_alloc(BackendCtx *ctx, uint32_t *ret_id, int *ret_fd);
int sim_viommu_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_id);
int sim_vdevice_alloc(BackendCtx *ctx, uint32_t viommu, uint32_t dev_id, uint64_t virt_id, uint32_t *ret_id);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-device.h - the device ops of the simulated backend.
 *
 * Owns: the declarations of sim-device.c, the ops sim-ops.c puts in its table.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

int sim_device_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n);
int sim_device_bind(BackendCtx *ctx, const BackendDeviceInfo *info, int *ret_fd, uint32_t *ret_dev_id);
int sim_device_unbind(BackendCtx *ctx, int dev_fd, uint32_t dev_id);
int sim_device_probe(Backend *b, const BackendDeviceInfo *info);
int sim_device_attach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid, uint32_t pt_id,
                      uint32_t *ret_hwpt);
int sim_device_detach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid);
int sim_hw_info(BackendCtx *ctx, uint32_t dev_id, BackendHwInfo *ret);
int sim_delegate_iommufd(Backend *b, int *ret_fd);
int sim_delegate_device(Backend *b, const BackendDeviceInfo *info, int *ret_fd);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-ioas.h - the IOAS ops of the simulated backend.
 *
 * Owns: the declarations of sim-ioas.c, the ops sim-ops.c puts in its table.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

int sim_ioas_alloc(BackendCtx *ctx, uint32_t *ret_id);
int sim_iova_ranges(BackendCtx *ctx, uint32_t ioas_id, IovaRange *ranges, size_t *n_ranges,
                    uint64_t *ret_alignment);
int sim_allow_iovas(BackendCtx *ctx, uint32_t ioas_id, const IovaRange *ranges, size_t n);
int sim_map_user(BackendCtx *ctx, uint32_t ioas_id, void *va, uint64_t length, uint32_t flags,
                 uint64_t *iova);
int sim_map_file(BackendCtx *ctx, uint32_t ioas_id, int fd, uint64_t start, uint64_t length, uint32_t flags,
                 uint64_t *iova);
int sim_unmap(BackendCtx *ctx, uint32_t ioas_id, uint64_t iova, uint64_t length, uint64_t *ret_unmapped);
int sim_copy(BackendCtx *ctx, uint32_t dst_ioas_id, uint32_t src_ioas_id, uint64_t src_iova, uint64_t length,
             uint32_t flags, uint64_t *dst_iova);

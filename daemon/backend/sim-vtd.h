/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-vtd.h - the VT-d unit every sim device sits behind.
 *
 * Owns: the declarations of sim-vtd.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backend/sim-internal.h"

void sim_vtd_regs(const BackendDeviceInfo *info, uint64_t *ret_cap, uint64_t *ret_ecap);
uint32_t sim_max_pasids(const BackendDeviceInfo *info);
bool sim_same_group(const SimSlot *a, const SimSlot *b);

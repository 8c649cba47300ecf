/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-attach.h - attachments of sim devices to IOASes and HWPTs.
 *
 * Owns: the declarations of sim-attach.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stdint.h>

#include "backend/sim-internal.h"

int sim_vfio_attach_pt(SimCtx *c, SimDevice *d, uint32_t pasid, uint32_t pt_id, uint32_t *ret_hwpt);
void sim_vfio_detach_pt(SimCtx *c, SimDevice *d, uint32_t pasid);
void sim_device_unbind_all(SimCtx *c, SimDevice *d);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-object.h - the object table of a sim context.
 *
 * Owns: the declarations of sim-object.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stdint.h>

#include "backend/sim-internal.h"

void sim_object_free(SimObject *o);
int sim_object_add(SimCtx *c, SimObject *o);
void sim_object_remove(SimCtx *c, SimObject *o);
int sim_object_get(SimCtx *c, uint32_t id, SimObject **ret);
int sim_object_get_typed(SimCtx *c, uint32_t id, int type, SimObject **ret);
int sim_ioas_get(SimCtx *c, uint32_t id, SimIoas **ret);
int sim_device_get(SimCtx *c, uint32_t id, SimDevice **ret);

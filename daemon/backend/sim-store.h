/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-store.h - the sim's own fds in the service manager's fd store.
 *
 * Owns: the declarations of sim-store.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stdint.h>

#include "backend/sim-internal.h"

void sim_store_keep(const void *near, int fd, const char *kind, uint64_t *ret_name);
void sim_store_forget(const void *near, const char *kind, uint64_t name);
int sim_store_take(const void *near, const char *kind, uint64_t name);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-ctx.h - the simulated backend, its model, its contexts and the reaping of device and context fds.
 *
 * Owns: the declarations of sim-ctx.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include "backend/sim-internal.h"

/* Catch up with what holders of device fds did since the last reap. */
void sim_reap(SimBackend *s);

/* ops */
int sim_open(const BackendConfig *config, Backend **ret);
void sim_close(Backend *b);
int sim_ctx_new(Backend *b, BackendCtx **ret);
void sim_ctx_free(BackendCtx *ctx);
int sim_ctx_fd(BackendCtx *ctx);
int sim_ctx_adopt(Backend *b, int fd, BackendCtx **ret);

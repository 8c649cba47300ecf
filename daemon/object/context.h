/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * context.h - a session's iommufd context: the kernel object every other one lives in.
 *
 * Owns: opening and closing one session's context (one open of /dev/iommu,
 * never shared with another session).  Emptying it before it is closed is
 * the session's (the Teardown comment in core/session.c): closing destroys
 * nothing a bound device fd still holds.
 * Must never: log above debug, or call a backend other than through its
 * wrappers.
 */
#pragma once

#include "backend/backend.h"
#include "common/macro.h"

/* A new context of b: -EMFILE or -ENFILE when the broker is out of fds. */
int context_new(BackendCtx **ret, Backend *b);
/* Closes it; NULL is fine. */
BackendCtx *context_free(BackendCtx *ctx);

DEFINE_TRIVIAL_CLEANUP_FUNC(BackendCtx *, context_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * context.h - a session's iommufd context: the kernel object every other one lives in.
 *
 * Owns: opening and closing one session's context (one open of /dev/iommu,
 * never shared with another session), and opening one for a VMM that a
 * device is delegated to.  Emptying it before it is closed is
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
/*
 * A fresh iommufd for a VMM a device is delegated to, which maps itself:
 * none of the broker's contexts, its pinned pages counted against that
 * process's RLIMIT_MEMLOCK; -EPERM without CAP_SYS_RESOURCE.  *ret_fd is
 * the caller's.
 */
int context_delegate(Backend *b, int *ret_fd);

DEFINE_TRIVIAL_CLEANUP_FUNC(BackendCtx *, context_free);

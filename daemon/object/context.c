/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * context.c - see context.h.
 */
#include "object/context.h"

int context_new(BackendCtx **ret, Backend *b) {
        return backend_ctx_new(b, ret);
}

BackendCtx *context_free(BackendCtx *ctx) {
        return backend_ctx_free(ctx);
}

int context_delegate(Backend *b, int *ret_fd) {
        return backend_delegate_iommufd(b, ret_fd);
}

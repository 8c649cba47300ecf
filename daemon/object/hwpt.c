/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hwpt.c - see hwpt.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "object/hwpt.h"

int hwpt_new(Hwpt **ret, BackendCtx *ctx, Account *account, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
             uint32_t data_type, const void *data, size_t data_len, const Account **ret_over) {
        _cleanup_(hwpt_freep) Hwpt *h = NULL;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->ctx = ctx;
        h->pt_id = pt_id;
        h->flags = flags;
        h->data_type = data_type;
        r = charge_take(&h->charge_hwpt, account, ACCOUNT_HWPT, 1, ret_over);
        if (r < 0)
                return r;
        r = charge_take(&h->charge_object, account, ACCOUNT_OBJECTS, 1, ret_over);
        if (r < 0)
                return r;
        r = ctx->backend->ops->hwpt_alloc(ctx, dev_id, pt_id, flags, data_type, data, data_len, 0, &h->id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

Hwpt *hwpt_free(Hwpt *h) {
        if (!h)
                return NULL;
        charge_release(&h->charge_object);
        charge_release(&h->charge_hwpt);
        free(h);
        return NULL;
}

int hwpt_destroy(Hwpt *h) {
        int r = h->ctx->backend->ops->destroy(h->ctx, h->id);

        if (r < 0)
                return r;
        hwpt_free(h);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pasid.c - see pasid.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "object/pasid.h"

int pasid_space_init(PasidSpace *s) {
        s->used = calloc(1U << PASID_SPACE_BITS, 1);
        s->n_used = 0;
        return s->used ? 0 : -ENOMEM;
}

void pasid_space_deinit(PasidSpace *s) {
        free(s->used);
        s->used = NULL;
}

static int pasid_space_take(PasidSpace *s, uint32_t limit, uint32_t *ret) {
        /* PASID 0 is the device itself on every IOMMU: the space starts at 1. */
        for (uint32_t p = 1; p < limit && p < (1U << PASID_SPACE_BITS); p++)
                if (!s->used[p]) {
                        s->used[p] = 1;
                        s->n_used++;
                        *ret = p;
                        return 0;
                }
        return -ENOSPC;
}

static void pasid_space_put(PasidSpace *s, uint32_t p) {
        if (p < (1U << PASID_SPACE_BITS) && s->used[p]) {
                s->used[p] = 0;
                s->n_used--;
        }
}

PasidEntry *pasid_lookup(Device *d, uint32_t vpasid) {
        for (PasidEntry *p = d->pasids; p; p = p->next)
                if (p->vpasid == vpasid)
                        return p;
        return NULL;
}

void pasid_entry_free(PasidEntry *p) {
        if (!p)
                return;
        if (p->space)
                pasid_space_put(p->space, p->pasid);
        charge_release(&p->charge);
        free(p);
}

int pasid_attach(Device *d, PasidSpace *global, uint32_t vpasid, uint32_t pt_id, Account *account,
                 uint32_t *ret_pasid, const Account **ret_over) {
        PasidEntry *p;
        uint32_t hwpt = 0;
        int r;

        if (vpasid == 0)
                return -EINVAL;
        if (d->pasid_width == 0 || (d->pasid_width < 32 && vpasid >= (1U << d->pasid_width)))
                return -ERANGE;
        if (pasid_lookup(d, vpasid))
                return -EEXIST;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->vpasid = vpasid;
        p->pt_id = pt_id;
        r = charge_take(&p->charge, account, ACCOUNT_PASIDS, 1, ret_over);
        if (r < 0) {
                free(p);
                return r;
        }
        if (d->global_pasid) {
                r = pasid_space_take(global, 1U << d->pasid_width, &p->pasid);
                if (r < 0) {
                        pasid_entry_free(p);
                        return r;
                }
                p->space = global;
        } else
                p->pasid = vpasid;

        r = d->ctx->backend->ops->device_attach(d->ctx, d->fd, d->dev_id, p->pasid, pt_id, &hwpt);
        if (r < 0) {
                pasid_entry_free(p);
                return r;
        }
        p->next = d->pasids;
        d->pasids = p;
        *ret_pasid = p->pasid;
        return 0;
}

int pasid_replace(Device *d, uint32_t vpasid, uint32_t pt_id) {
        PasidEntry *p = pasid_lookup(d, vpasid);
        uint32_t hwpt = 0;
        int r;

        if (!p)
                return -ENOENT;
        r = d->ctx->backend->ops->device_attach(d->ctx, d->fd, d->dev_id, p->pasid, pt_id, &hwpt);
        if (r < 0)
                return r;
        p->pt_id = pt_id;
        return 0;
}

int pasid_detach(Device *d, uint32_t vpasid) {
        for (PasidEntry **i = &d->pasids; *i; i = &(*i)->next)
                if ((*i)->vpasid == vpasid) {
                        PasidEntry *p = *i;
                        int r = d->ctx->backend->ops->device_detach(d->ctx, d->fd, d->dev_id, p->pasid);

                        if (r < 0)
                                return r;
                        *i = p->next;
                        pasid_entry_free(p);
                        return 0;
                }
        return -ENOENT;
}

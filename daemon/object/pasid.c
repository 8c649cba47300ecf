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

/* The lowest free PASID below limit; 0 if none.  PASID 0 is the device itself on every IOMMU: the space starts at 1. */
static uint32_t pasid_space_first_free(const PasidSpace *s, uint32_t limit) {
        for (uint32_t p = 1; p < limit && p < (1U << PASID_SPACE_BITS); p++)
                if (!s->used[p])
                        return p;
        return 0;
}

static void pasid_space_mark(PasidSpace *s, uint32_t p) {
        s->used[p] = 1;
        s->n_used++;
}

static int pasid_space_take(PasidSpace *s, uint32_t limit, uint32_t *ret) {
        uint32_t p = pasid_space_first_free(s, limit);

        if (p == 0)
                return -ENOSPC;
        pasid_space_mark(s, p);
        *ret = p;
        return 0;
}

uint32_t pasid_space_lowest_free(const PasidSpace *s) {
        return pasid_space_first_free(s, 1U << PASID_SPACE_BITS);
}

static void pasid_space_put(PasidSpace *s, uint32_t p) {
        if (p < (1U << PASID_SPACE_BITS) && s->used[p]) {
                s->used[p] = 0;
                s->n_used--;
        }
}

PasidEntry *pasid_table_lookup(const PasidTable *t, uint32_t vpasid) {
        IdLink *l = idindex_find(&t->index, &t->entries, vpasid);

        return l ? list_entry(&l->list, PasidEntry, link) : NULL;
}

void pasid_table_add(PasidTable *t, PasidEntry *p) {
        idindex_link(&t->index, &t->entries, &p->link, p->vpasid);
}

PasidEntry *pasid_entry_free(PasidEntry *p) {
        if (!p)
                return NULL;
        idlink_unlink(&p->link);
        if (p->space)
                pasid_space_put(p->space, p->pasid);
        charge_release(&p->charge);
        free(p);
        return NULL;
}

void pasid_table_clear(PasidTable *t) {
        PasidEntry *p;

        LIST_FOREACH_SAFE(p, &t->entries, link)
                pasid_entry_free(p);
        idindex_done(&t->index, &t->entries);
}

int pasid_entry_restore(PasidEntry **ret, PasidSpace *global, uint32_t vpasid, uint32_t pasid, uint32_t pt_id,
                        Account *account) {
        PasidEntry *p;

        if (global) {
                if (pasid == 0 || pasid >= (1U << PASID_SPACE_BITS) || global->used[pasid])
                        return -EBUSY;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->vpasid = vpasid;
        p->pasid = pasid;
        p->pt_id = pt_id;
        if (global) {
                pasid_space_mark(global, pasid);
                p->space = global;
        }
        (void) charge_hold(&p->charge, account, ACCOUNT_PASIDS, 1, true, NULL);
        *ret = p;
        return 0;
}

int pasid_entry_new(PasidEntry **ret, const PasidTable *t, PasidSpace *global, uint8_t width, uint32_t vpasid,
                    uint32_t pt_id, Account *account, const Account **ret_over) {
        _cleanup_(pasid_entry_freep) PasidEntry *p = NULL;
        int r;

        if (vpasid == 0)
                return -EINVAL;
        if (width == 0 || (width < 32 && vpasid >= (1U << width)))
                return -ERANGE;
        if (pasid_table_lookup(t, vpasid))
                return -EEXIST;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->vpasid = vpasid;
        p->pt_id = pt_id;
        r = charge_hold(&p->charge, account, ACCOUNT_PASIDS, 1, false, ret_over);
        if (r < 0)
                return r;
        if (global) {
                r = pasid_space_take(global, 1U << width, &p->pasid);
                if (r < 0)
                        return r;
                p->space = global;
        } else
                p->pasid = vpasid;
        *ret = TAKE_PTR(p);
        return 0;
}

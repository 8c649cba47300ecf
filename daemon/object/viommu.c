/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * viommu.c - see viommu.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "object/viommu.h"

int fault_queue_new(FaultQueue **ret, BackendCtx *ctx, Account *account, int *ret_fd, const Account **ret_over) {
        _cleanup_(fault_queue_freep) FaultQueue *f = NULL;
        int r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->ctx = ctx;
        r = charge_take(&f->charge_object, account, ACCOUNT_OBJECTS, 1, ret_over);
        if (r < 0)
                return r;
        /* a queue may keep an fd in the broker (the sim's write end): counted whatever the backend */
        r = charge_take(&f->charge_fd, account, ACCOUNT_FDS, 1, ret_over);
        if (r < 0)
                return r;
        r = backend_fault_alloc(ctx, &f->id, ret_fd);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

FaultQueue *fault_queue_free(FaultQueue *f) {
        if (!f)
                return NULL;
        list_unlink(&f->link);
        charge_release(&f->charge_object);
        charge_release(&f->charge_fd);
        free(f);
        return NULL;
}

int fault_queue_restore(FaultQueue **ret, BackendCtx *ctx, Account *account, uint32_t id) {
        FaultQueue *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        f->ctx = ctx;
        f->id = id;
        charge_force(&f->charge_object, account, ACCOUNT_OBJECTS, 1);
        charge_force(&f->charge_fd, account, ACCOUNT_FDS, 1);
        *ret = f;
        return 0;
}

int viommu_restore(Viommu **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t dev_id, uint32_t hwpt_id) {
        Viommu *v = calloc(1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        v->ctx = ctx;
        v->id = id;
        v->dev_id = dev_id;
        v->hwpt_id = hwpt_id;
        charge_force(&v->charge_object, account, ACCOUNT_OBJECTS, 1);
        *ret = v;
        return 0;
}

int vdevice_restore(Vdevice **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t viommu_id,
                    uint32_t dev_id) {
        Vdevice *v = calloc(1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        v->ctx = ctx;
        v->id = id;
        v->viommu_id = viommu_id;
        v->dev_id = dev_id;
        charge_force(&v->charge_object, account, ACCOUNT_OBJECTS, 1);
        *ret = v;
        return 0;
}

int fault_queue_destroy(FaultQueue *f) {
        int r = backend_destroy(f->ctx, f->id);

        if (r < 0)
                return r;
        fault_queue_free(f);
        return 0;
}

int viommu_new(Viommu **ret, BackendCtx *ctx, Account *account, uint32_t dev_id, uint32_t hwpt_id, uint32_t type,
               const Account **ret_over) {
        _cleanup_(viommu_freep) Viommu *v = NULL;
        int r;

        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->ctx = ctx;
        v->dev_id = dev_id;
        v->hwpt_id = hwpt_id;
        r = charge_take(&v->charge_object, account, ACCOUNT_OBJECTS, 1, ret_over);
        if (r < 0)
                return r;
        r = backend_viommu_alloc(ctx, dev_id, hwpt_id, type, &v->id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

Viommu *viommu_free(Viommu *v) {
        if (!v)
                return NULL;
        list_unlink(&v->link);
        charge_release(&v->charge_object);
        free(v);
        return NULL;
}

int viommu_destroy(Viommu *v) {
        int r = backend_destroy(v->ctx, v->id);

        if (r < 0)
                return r;
        viommu_free(v);
        return 0;
}

int viommu_invalidate(Viommu *v, uint32_t data_type, const void *entries, uint32_t entry_len, uint32_t *entry_num) {
        return backend_hwpt_invalidate(v->ctx, v->id, data_type, entries, entry_len, entry_num);
}

int vdevice_new(Vdevice **ret, BackendCtx *ctx, Account *account, uint32_t viommu_id, uint32_t dev_id,
                uint64_t virt_id, const Account **ret_over) {
        _cleanup_(vdevice_freep) Vdevice *v = NULL;
        int r;

        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->ctx = ctx;
        v->viommu_id = viommu_id;
        v->dev_id = dev_id;
        r = charge_take(&v->charge_object, account, ACCOUNT_OBJECTS, 1, ret_over);
        if (r < 0)
                return r;
        r = backend_vdevice_alloc(ctx, viommu_id, dev_id, virt_id, &v->id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

Vdevice *vdevice_free(Vdevice *v) {
        if (!v)
                return NULL;
        list_unlink(&v->link);
        charge_release(&v->charge_object);
        free(v);
        return NULL;
}

int vdevice_destroy(Vdevice *v) {
        int r = backend_destroy(v->ctx, v->id);

        if (r < 0)
                return r;
        vdevice_free(v);
        return 0;
}

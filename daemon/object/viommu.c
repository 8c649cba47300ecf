/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * viommu.c - see viommu.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "object/viommu.h"

/* A fault queue's record and what it costs: made (against the limits) or restored. */
static int fault_queue_record(FaultQueue **ret, BackendCtx *ctx, Account *account, bool restored,
                              const Account **ret_over) {
        _cleanup_(fault_queue_freep) FaultQueue *f = NULL;
        int r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->ctx = ctx;
        r = charge_hold(&f->charge_object, account, ACCOUNT_OBJECTS, 1, restored, ret_over);
        if (r < 0)
                return r;
        /* a queue may keep an fd in the broker (the sim's write end): counted whatever the backend */
        r = charge_hold(&f->charge_fd, account, ACCOUNT_FDS, 1, restored, ret_over);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

int fault_queue_new(FaultQueue **ret, BackendCtx *ctx, Account *account, int *ret_fd, const Account **ret_over) {
        _cleanup_(fault_queue_freep) FaultQueue *f = NULL;
        int r;

        r = fault_queue_record(&f, ctx, account, false, ret_over);
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
        idlink_unlink(&f->link);
        charge_release(&f->charge_object);
        charge_release(&f->charge_fd);
        free(f);
        return NULL;
}

int fault_queue_restore(FaultQueue **ret, BackendCtx *ctx, Account *account, uint32_t id) {
        int r = fault_queue_record(ret, ctx, account, true, NULL);

        if (r >= 0)
                (*ret)->id = id;
        return r;
}

/* A vIOMMU's record and what it costs: made (against the limits) or restored. */
static int viommu_record(Viommu **ret, BackendCtx *ctx, Account *account, uint32_t dev_id, uint32_t hwpt_id,
                         bool restored, const Account **ret_over) {
        _cleanup_(viommu_freep) Viommu *v = NULL;
        int r;

        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->ctx = ctx;
        v->dev_id = dev_id;
        v->hwpt_id = hwpt_id;
        r = charge_hold(&v->charge_object, account, ACCOUNT_OBJECTS, 1, restored, ret_over);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int viommu_restore(Viommu **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t dev_id, uint32_t hwpt_id) {
        int r = viommu_record(ret, ctx, account, dev_id, hwpt_id, true, NULL);

        if (r >= 0)
                (*ret)->id = id;
        return r;
}

/* A vDEVICE's record and what it costs: made (against the limits) or restored. */
static int vdevice_record(Vdevice **ret, BackendCtx *ctx, Account *account, uint32_t viommu_id, uint32_t dev_id,
                          bool restored, const Account **ret_over) {
        _cleanup_(vdevice_freep) Vdevice *v = NULL;
        int r;

        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->ctx = ctx;
        v->viommu_id = viommu_id;
        v->dev_id = dev_id;
        r = charge_hold(&v->charge_object, account, ACCOUNT_OBJECTS, 1, restored, ret_over);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int vdevice_restore(Vdevice **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t viommu_id,
                    uint32_t dev_id) {
        int r = vdevice_record(ret, ctx, account, viommu_id, dev_id, true, NULL);

        if (r >= 0)
                (*ret)->id = id;
        return r;
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

        r = viommu_record(&v, ctx, account, dev_id, hwpt_id, false, ret_over);
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
        idlink_unlink(&v->link);
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

        r = vdevice_record(&v, ctx, account, viommu_id, dev_id, false, ret_over);
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
        idlink_unlink(&v->link);
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

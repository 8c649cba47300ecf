/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.c - choosing a backend by name, and the thin wrappers over its ops.
 *
 * Owns: the list of backends.  The choice is always explicit (--backend=);
 * nothing here falls back from one backend to another.  The wrappers only
 * find the ops of a context's backend: every rule is the backend's.  The
 * calls that pin, unpin or walk what an IOAS has mapped (map_file,
 * map_user, unmap, copy; destroy, which unpins an IOAS's mappings;
 * device_attach and device_detach, hwpt_alloc, which fill or empty a page
 * table from them; device_bind and device_probe, which open a device: the
 * kernel powers it up and may reset it; and the close of a device's fd,
 * which may reset it and power it down) go through offload_call(): inside a request running in a
 * coroutine they run on a worker thread (util/offload.h), everywhere else
 * at once.  Every call
 * that reaches a context is one BACKEND_CALL(): a test's deferred kill waits
 * for its end (util/crashpoint.h), as a SIGKILL waits for a kernel's ioctl.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "util/crashpoint.h"
#include "util/offload.h"

#define BACKEND_CALL(call) ({                   \
        int _r;                                 \
                                                \
        crash_defer_begin();                    \
        _r = (call);                            \
        crash_defer_end();                      \
        _r;                                     \
})

static const BackendOps *const backends[] = {
        &backend_kernel_ops,
        &backend_sim_ops,
};

const BackendOps *backend_ops_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(backends); i++)
                if (strcmp(backends[i]->name, name) == 0)
                        return backends[i];
        return NULL;
}

static const BackendOps *ctx_ops(const BackendCtx *ctx) {
        return ctx->backend->ops;
}

int backend_open(const BackendOps *ops, const BackendConfig *config, Backend **ret) {
        return ops->open(config, ret);
}

Backend *backend_close(Backend *b) {
        if (b) {
                crash_defer_begin();
                b->ops->close(b);
                crash_defer_end();
        }
        return NULL;
}

int backend_ctx_new(Backend *b, BackendCtx **ret) {
        return BACKEND_CALL(b->ops->ctx_new(b, ret));
}

BackendCtx *backend_ctx_free(BackendCtx *ctx) {
        if (ctx) {
                crash_defer_begin();
                ctx_ops(ctx)->ctx_free(ctx);
                crash_defer_end();
        }
        return NULL;
}

int backend_ctx_fd(BackendCtx *ctx) {
        return ctx_ops(ctx)->ctx_fd(ctx);
}

int backend_ctx_adopt(Backend *b, int fd, BackendCtx **ret) {
        return BACKEND_CALL(b->ops->ctx_adopt(b, fd, ret));
}

int backend_ioas_alloc(BackendCtx *ctx, uint32_t *ret_id) {
        return BACKEND_CALL(ctx_ops(ctx)->ioas_alloc(ctx, ret_id));
}

int backend_iova_ranges(BackendCtx *ctx, uint32_t ioas, IovaRange *ranges, size_t *n_ranges,
                        uint64_t *ret_alignment) {
        return BACKEND_CALL(ctx_ops(ctx)->iova_ranges(ctx, ioas, ranges, n_ranges, ret_alignment));
}

int backend_allow_iovas(BackendCtx *ctx, uint32_t ioas, const IovaRange *ranges, size_t n) {
        return BACKEND_CALL(ctx_ops(ctx)->allow_iovas(ctx, ioas, ranges, n));
}

/* The arguments of one call that may pin or unpin a lot, for offload_call(). */
typedef struct PinCall {
        BackendCtx *ctx;
        uint32_t ioas, src_ioas;
        int fd;
        void *va;
        uint64_t start, length, iova;
        uint32_t flags;
        uint64_t *ret;
        uint32_t dev_id, pasid, data_type, fault_id;
        const void *data;
        size_t data_len;
        uint32_t *ret_id;
        uint64_t page_size;
        void *bitmap;
        bool enable;
} PinCall;

static int pin_destroy(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->destroy(p->ctx, p->ioas));
}

static int pin_device_attach(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->device_attach(p->ctx, p->fd, p->dev_id, p->pasid, p->ioas, p->ret_id));
}

static int pin_device_detach(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->device_detach(p->ctx, p->fd, p->dev_id, p->pasid));
}

static int pin_hwpt_alloc(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->hwpt_alloc(p->ctx, p->dev_id, p->ioas, p->flags, p->data_type, p->data,
                                                        p->data_len, p->fault_id, p->ret_id));
}

int backend_destroy(BackendCtx *ctx, uint32_t id) {
        PinCall p = { .ctx = ctx, .ioas = id };

        return offload_call(pin_destroy, &p, ctx->backend->thread_safe);
}

static int pin_map_file(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->map_file(p->ctx, p->ioas, p->fd, p->start, p->length, p->flags, p->ret));
}

static int pin_map_user(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->map_user(p->ctx, p->ioas, p->va, p->length, p->flags, p->ret));
}

static int pin_unmap(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->unmap(p->ctx, p->ioas, p->iova, p->length, p->ret));
}

static int pin_copy(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->copy(p->ctx, p->ioas, p->src_ioas, p->iova, p->length, p->flags, p->ret));
}

int backend_map_file(BackendCtx *ctx, uint32_t ioas, int fd, uint64_t start, uint64_t length, uint32_t flags,
                     uint64_t *iova) {
        PinCall p = { .ctx = ctx, .ioas = ioas, .fd = fd, .start = start, .length = length, .flags = flags,
                      .ret = iova };

        return offload_call(pin_map_file, &p, ctx->backend->thread_safe);
}

int backend_map_user(BackendCtx *ctx, uint32_t ioas, void *va, uint64_t length, uint32_t flags, uint64_t *iova) {
        PinCall p = { .ctx = ctx, .ioas = ioas, .va = va, .length = length, .flags = flags, .ret = iova };

        return offload_call(pin_map_user, &p, ctx->backend->thread_safe);
}

int backend_unmap(BackendCtx *ctx, uint32_t ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped) {
        PinCall p = { .ctx = ctx, .ioas = ioas, .iova = iova, .length = length, .ret = ret_unmapped };

        return offload_call(pin_unmap, &p, ctx->backend->thread_safe);
}

int backend_copy(BackendCtx *ctx, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova, uint64_t length,
                 uint32_t flags, uint64_t *dst_iova) {
        PinCall p = { .ctx = ctx, .ioas = dst_ioas, .src_ioas = src_ioas, .iova = src_iova, .length = length,
                      .flags = flags, .ret = dst_iova };

        return offload_call(pin_copy, &p, ctx->backend->thread_safe);
}

int backend_device_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n) {
        return BACKEND_CALL(b->ops->device_list(b, ret, ret_n));
}

/*
 * Binding a device (or probing one) opens it: the kernel powers it up and
 * may reset it, milliseconds.  The device's description is copied: the
 * loop may rescan the devices (and free the table it came from) meanwhile.
 */
typedef struct BindCall {
        Backend *b;
        BackendCtx *ctx;
        BackendDeviceInfo info;
        int *ret_fd;
        uint32_t *ret_dev_id;
} BindCall;

static int bind_device(void *arg) {
        BindCall *c = arg;

        return BACKEND_CALL(ctx_ops(c->ctx)->device_bind(c->ctx, &c->info, c->ret_fd, c->ret_dev_id));
}

static int probe_device(void *arg) {
        BindCall *c = arg;

        return BACKEND_CALL(c->b->ops->device_probe(c->b, &c->info));
}

int backend_device_bind(BackendCtx *ctx, const BackendDeviceInfo *info, int *ret_fd, uint32_t *ret_dev_id) {
        BindCall c = { .ctx = ctx, .info = *info, .ret_fd = ret_fd, .ret_dev_id = ret_dev_id };

        return offload_call(bind_device, &c, ctx->backend->thread_safe);
}

static int close_device(void *arg) {
        return close(*(int *) arg) < 0 ? -errno : 0;
}

int backend_device_close(BackendCtx *ctx, int dev_fd) {
        if (dev_fd < 0)
                return 0;
        return offload_call(close_device, &dev_fd, ctx->backend->thread_safe);
}

int backend_device_unbind(BackendCtx *ctx, int dev_fd, uint32_t dev_id) {
        return BACKEND_CALL(ctx_ops(ctx)->device_unbind(ctx, dev_fd, dev_id));
}

int backend_device_probe(Backend *b, const BackendDeviceInfo *info) {
        BindCall c = { .b = b, .info = *info };

        return offload_call(probe_device, &c, b->thread_safe);
}

int backend_delegate_iommufd(Backend *b, int *ret_fd) {
        return BACKEND_CALL(b->ops->delegate_iommufd(b, ret_fd));
}

int backend_delegate_device(Backend *b, const BackendDeviceInfo *info, int *ret_fd) {
        return BACKEND_CALL(b->ops->delegate_device(b, info, ret_fd));
}

int backend_device_attach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid, uint32_t pt_id,
                          uint32_t *ret_hwpt) {
        PinCall p = { .ctx = ctx, .fd = dev_fd, .dev_id = dev_id, .pasid = pasid, .ioas = pt_id, .ret_id = ret_hwpt };

        return offload_call(pin_device_attach, &p, ctx->backend->thread_safe);
}

int backend_device_detach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid) {
        PinCall p = { .ctx = ctx, .fd = dev_fd, .dev_id = dev_id, .pasid = pasid };

        return offload_call(pin_device_detach, &p, ctx->backend->thread_safe);
}

int backend_hw_info(BackendCtx *ctx, uint32_t dev_id, BackendHwInfo *ret) {
        return BACKEND_CALL(ctx_ops(ctx)->hw_info(ctx, dev_id, ret));
}

int backend_hwpt_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t data_type,
                       const void *data, size_t data_len, uint32_t fault_id, uint32_t *ret_id) {
        PinCall p = { .ctx = ctx, .dev_id = dev_id, .ioas = pt_id, .flags = flags, .data_type = data_type,
                      .data = data, .data_len = data_len, .fault_id = fault_id, .ret_id = ret_id };

        return offload_call(pin_hwpt_alloc, &p, ctx->backend->thread_safe);
}

static int pin_set_dirty_tracking(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->hwpt_set_dirty_tracking(p->ctx, p->ioas, p->enable));
}

static int pin_get_dirty_bitmap(void *arg) {
        PinCall *p = arg;

        return BACKEND_CALL(ctx_ops(p->ctx)->hwpt_get_dirty_bitmap(p->ctx, p->ioas, p->iova, p->length, p->page_size,
                                                                   p->flags, p->bitmap));
}

/* Enabling clears the dirty bits of everything mapped (a clean start), a walk of the page table. */
int backend_hwpt_set_dirty_tracking(BackendCtx *ctx, uint32_t hwpt, bool enable) {
        PinCall p = { .ctx = ctx, .ioas = hwpt, .enable = enable };

        return offload_call(pin_set_dirty_tracking, &p, ctx->backend->thread_safe);
}

/* A walk of the page table over what is mapped in the range. */
int backend_hwpt_get_dirty_bitmap(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                                  uint64_t page_size, uint32_t flags, void *bitmap) {
        PinCall p = { .ctx = ctx, .ioas = hwpt, .iova = iova, .length = length, .page_size = page_size,
                      .flags = flags, .bitmap = bitmap };

        return offload_call(pin_get_dirty_bitmap, &p, ctx->backend->thread_safe);
}

int backend_hwpt_invalidate(BackendCtx *ctx, uint32_t pt_id, uint32_t data_type, const void *entries,
                            uint32_t entry_len, uint32_t *entry_num) {
        return BACKEND_CALL(ctx_ops(ctx)->hwpt_invalidate(ctx, pt_id, data_type, entries, entry_len, entry_num));
}

int backend_fault_alloc(BackendCtx *ctx, uint32_t *ret_id, int *ret_fd) {
        return BACKEND_CALL(ctx_ops(ctx)->fault_alloc(ctx, ret_id, ret_fd));
}

int backend_viommu_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_id) {
        return BACKEND_CALL(ctx_ops(ctx)->viommu_alloc(ctx, dev_id, hwpt, type, ret_id));
}

int backend_vdevice_alloc(BackendCtx *ctx, uint32_t viommu, uint32_t dev_id, uint64_t virt_id, uint32_t *ret_id) {
        return BACKEND_CALL(ctx_ops(ctx)->vdevice_alloc(ctx, viommu, dev_id, virt_id, ret_id));
}

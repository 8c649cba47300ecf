/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-kernel.c - the IOMMU backend on this kernel's iommufd.
 *
 * Owns: the ioctls on /dev/iommu.  Each BackendCtx is one open of the
 * iommufd node, so object ids are per session and one session can never name
 * another's objects.  Features are probed once at open by issuing each
 * command with an empty argument: ENOTTY means the kernel lacks it.
 * Must never: log above debug, or interpret errnos (the core explains them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "backend/backend.h"
#include "common/macro.h"

typedef struct KernelBackend {
        Backend backend;
        char *path;
} KernelBackend;

typedef struct KernelCtx {
        BackendCtx ctx;
        int fd;
} KernelCtx;

static int kfd(BackendCtx *ctx) {
        return ((KernelCtx *) ctx)->fd;
}

static int kioctl(int fd, unsigned long cmd, void *arg) {
        if (ioctl(fd, cmd, arg) < 0)
                return negative_errno();
        return 0;
}

/*
 * Issues cmd with size 0, below every command's minimum: a kernel that knows
 * the command answers EINVAL without doing anything, one that does not ENOTTY.
 */
static bool kernel_has_cmd(int fd, unsigned long cmd) {
        uint32_t arg[4] = {};

        return ioctl(fd, cmd, arg) == 0 || errno != ENOTTY;
}

static int kernel_open(const BackendConfig *config, Backend **ret) {
        const char *path = config->iommu_path ?: "/dev/iommu";
        KernelBackend *k;
        _cleanup_close_ int fd = -1;

        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ENODEV : -errno;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->backend.ops = &backend_kernel_ops;
        k->path = strdup(path);
        if (!k->path) {
                free(k);
                return -ENOMEM;
        }
        if (kernel_has_cmd(fd, IOMMU_IOAS_MAP_FILE))
                k->backend.features |= BACKEND_FEATURE_MAP_FILE;
        if (kernel_has_cmd(fd, IOMMU_HWPT_ALLOC))
                k->backend.features |= BACKEND_FEATURE_HWPT_ALLOC;
        if (kernel_has_cmd(fd, IOMMU_HWPT_SET_DIRTY_TRACKING))
                k->backend.features |= BACKEND_FEATURE_DIRTY_TRACKING;
        if (kernel_has_cmd(fd, IOMMU_HWPT_INVALIDATE))
                k->backend.features |= BACKEND_FEATURE_HWPT_INVALIDATE;
        if (kernel_has_cmd(fd, IOMMU_FAULT_QUEUE_ALLOC))
                k->backend.features |= BACKEND_FEATURE_FAULT_QUEUE;
        if (kernel_has_cmd(fd, IOMMU_VIOMMU_ALLOC))
                k->backend.features |= BACKEND_FEATURE_VIOMMU;
        if (kernel_has_cmd(fd, IOMMU_IOAS_CHANGE_PROCESS))
                k->backend.features |= BACKEND_FEATURE_CHANGE_PROCESS;
        *ret = &k->backend;
        return 0;
}

static void kernel_close(Backend *b) {
        KernelBackend *k = (KernelBackend *) b;

        if (!k)
                return;
        free(k->path);
        free(k);
}

static int kernel_ctx_new(Backend *b, BackendCtx **ret) {
        KernelBackend *k = (KernelBackend *) b;
        KernelCtx *c;
        int fd;

        fd = open(k->path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->ctx.backend = b;
        c->fd = fd;
        *ret = &c->ctx;
        return 0;
}

static void kernel_ctx_free(BackendCtx *ctx) {
        KernelCtx *c = (KernelCtx *) ctx;

        if (!c)
                return;
        safe_close(c->fd);      /* the kernel destroys every object of the context */
        free(c);
}

static int kernel_ioas_alloc(BackendCtx *ctx, uint32_t *ret_id) {
        struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
        int r;

        r = kioctl(kfd(ctx), IOMMU_IOAS_ALLOC, &cmd);
        if (r < 0)
                return r;
        *ret_id = cmd.out_ioas_id;
        return 0;
}

static int kernel_destroy(BackendCtx *ctx, uint32_t id) {
        struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

        return kioctl(kfd(ctx), IOMMU_DESTROY, &cmd);
}

static int kernel_iova_ranges(BackendCtx *ctx, uint32_t ioas, IovaRange *ranges, size_t *n_ranges,
                              uint64_t *ret_alignment) {
        _cleanup_free_ struct iommu_iova_range *k = NULL;
        struct iommu_ioas_iova_ranges cmd = {
                .size = sizeof(cmd),
                .ioas_id = ioas,
                .num_iovas = (uint32_t) *n_ranges,
        };
        int r;

        k = calloc(*n_ranges ? *n_ranges : 1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        cmd.allowed_iovas = (uintptr_t) k;
        r = kioctl(kfd(ctx), IOMMU_IOAS_IOVA_RANGES, &cmd);
        if (r < 0) {
                if (r == -EMSGSIZE)
                        *n_ranges = cmd.num_iovas;
                return r;
        }
        for (uint32_t i = 0; i < cmd.num_iovas; i++)
                ranges[i] = (IovaRange) { .start = k[i].start, .last = k[i].last };
        *n_ranges = cmd.num_iovas;
        *ret_alignment = cmd.out_iova_alignment;
        return 0;
}

static int kernel_allow_iovas(BackendCtx *ctx, uint32_t ioas, const IovaRange *ranges, size_t n) {
        _cleanup_free_ struct iommu_iova_range *k = NULL;
        struct iommu_ioas_allow_iovas cmd = { .size = sizeof(cmd), .ioas_id = ioas, .num_iovas = (uint32_t) n };

        k = calloc(n ? n : 1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                k[i] = (struct iommu_iova_range) { .start = ranges[i].start, .last = ranges[i].last };
        cmd.allowed_iovas = (uintptr_t) k;
        return kioctl(kfd(ctx), IOMMU_IOAS_ALLOW_IOVAS, &cmd);
}

static uint32_t kernel_map_flags(uint32_t flags) {
        return (flags & BACKEND_MAP_FIXED_IOVA ? IOMMU_IOAS_MAP_FIXED_IOVA : 0) |
               (flags & BACKEND_MAP_WRITEABLE ? IOMMU_IOAS_MAP_WRITEABLE : 0) |
               (flags & BACKEND_MAP_READABLE ? IOMMU_IOAS_MAP_READABLE : 0);
}

static int kernel_map_file(BackendCtx *ctx, uint32_t ioas, int fd, uint64_t start, uint64_t length,
                           uint32_t flags, uint64_t *iova) {
        struct iommu_ioas_map_file cmd = {
                .size = sizeof(cmd),
                .flags = kernel_map_flags(flags),
                .ioas_id = ioas,
                .fd = fd,
                .start = start,
                .length = length,
                .iova = flags & BACKEND_MAP_FIXED_IOVA ? *iova : 0,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_IOAS_MAP_FILE, &cmd);
        if (r < 0)
                return r;
        *iova = cmd.iova;
        return 0;
}

static int kernel_map_user(BackendCtx *ctx, uint32_t ioas, void *va, uint64_t length, uint32_t flags,
                           uint64_t *iova) {
        struct iommu_ioas_map cmd = {
                .size = sizeof(cmd),
                .flags = kernel_map_flags(flags),
                .ioas_id = ioas,
                .user_va = (uintptr_t) va,
                .length = length,
                .iova = flags & BACKEND_MAP_FIXED_IOVA ? *iova : 0,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_IOAS_MAP, &cmd);
        if (r < 0)
                return r;
        *iova = cmd.iova;
        return 0;
}

static int kernel_unmap(BackendCtx *ctx, uint32_t ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped) {
        struct iommu_ioas_unmap cmd = { .size = sizeof(cmd), .ioas_id = ioas, .iova = iova, .length = length };
        int r;

        r = kioctl(kfd(ctx), IOMMU_IOAS_UNMAP, &cmd);
        if (r < 0)
                return r;
        *ret_unmapped = cmd.length;
        return 0;
}

static int kernel_copy(BackendCtx *ctx, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova, uint64_t length,
                       uint32_t flags, uint64_t *dst_iova) {
        struct iommu_ioas_copy cmd = {
                .size = sizeof(cmd),
                .flags = kernel_map_flags(flags),
                .dst_ioas_id = dst_ioas,
                .src_ioas_id = src_ioas,
                .length = length,
                .dst_iova = flags & BACKEND_MAP_FIXED_IOVA ? *dst_iova : 0,
                .src_iova = src_iova,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_IOAS_COPY, &cmd);
        if (r < 0)
                return r;
        *dst_iova = cmd.dst_iova;
        return 0;
}

const BackendOps backend_kernel_ops = {
        .name = "kernel",
        .open = kernel_open,
        .close = kernel_close,
        .ctx_new = kernel_ctx_new,
        .ctx_free = kernel_ctx_free,
        .ioas_alloc = kernel_ioas_alloc,
        .destroy = kernel_destroy,
        .iova_ranges = kernel_iova_ranges,
        .allow_iovas = kernel_allow_iovas,
        .map_file = kernel_map_file,
        .map_user = kernel_map_user,
        .unmap = kernel_unmap,
        .copy = kernel_copy,
};

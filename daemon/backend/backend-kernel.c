/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-kernel.c - the IOMMU backend on this kernel's iommufd.
 *
 * Owns: the ioctls on /dev/iommu.  Each BackendCtx is one open of the
 * iommufd node, so object ids are per session and one session can never name
 * another's objects.  Features are probed once at open by issuing each
 * command with an empty argument: ENOTTY means the kernel lacks it.  Test
 * builds add mock devices of the kernel's iommufd test driver to the device
 * list (--kernel-mock-devices=N): backend-kernel-mock.h.
 * Must never: log above debug, or interpret errnos (the core explains them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "backend/backend-kernel-mock.h"
#include "backend/backend.h"
#include "common/macro.h"
#include "util/caps.h"

typedef struct KernelBackend {
        Backend backend;
        char *path;
        char *vfio_sysfs;
        unsigned n_mock_devices;        /* test builds: mock devices listed after the real ones */
} KernelBackend;

typedef struct KernelCtx {
        BackendCtx ctx;
        int fd;
        KernelMockDev *mock_devices;    /* the mock devices bound in this context */
} KernelCtx;

static int kfd(BackendCtx *ctx) {
        return ((KernelCtx *) ctx)->fd;
}

static KernelMockDev *kmock(BackendCtx *ctx, uint32_t dev_id) {
        return kernel_mock_find(((KernelCtx *) ctx)->mock_devices, dev_id);
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

static void kernel_close(Backend *b) {
        KernelBackend *k = (KernelBackend *) b;

        if (!k)
                return;
        free(k->path);
        free(k->vfio_sysfs);
        free(k);
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
        k->backend.thread_safe = true;  /* its pinning calls are ioctls on the context's own fd */
        k->n_mock_devices = config->kernel_mock_devices;
        k->path = strdup(path);
        k->vfio_sysfs = strdup(config->vfio_sysfs ?: "/sys/class/vfio-dev");
        if (!k->path || !k->vfio_sysfs) {
                free(k->path);
                free(k->vfio_sysfs);
                free(k);
                return -ENOMEM;
        }
        if (k->n_mock_devices > 0 && kernel_mock_probe(fd) < 0) {
                kernel_close(&k->backend);
                return -EOPNOTSUPP;     /* not built in, or no CONFIG_IOMMUFD_TEST */
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
        safe_close(c->fd);      /* the kernel destroys what is left once no bound device holds the context */
        kernel_mock_forget_all(&c->mock_devices);
        free(c);
}

static int kernel_ctx_fd(BackendCtx *ctx) {
        return kfd(ctx);
}

/*
 * The iommufd a previous process opened: the kernel kept every object in it.
 * A file that is not the iommufd node's (another character device, or
 * anything else) is EINVAL.  Mock devices bound in it are not known again.
 */
static int kernel_ctx_adopt(Backend *b, int fd, BackendCtx **ret) {
        _cleanup_close_ int owned = fd;
        KernelBackend *k = (KernelBackend *) b;
        struct stat st, node;
        KernelCtx *c;

        if (fstat(owned, &st) < 0 || stat(k->path, &node) < 0)
                return -errno;
        if (!S_ISCHR(st.st_mode) || !S_ISCHR(node.st_mode) || st.st_rdev != node.st_rdev)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ctx.backend = b;
        c->fd = TAKE_FD(owned);
        *ret = &c->ctx;
        return 0;
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

/* ------------------------------------------------------------------ devices */

static int read_hex_file(const char *dir, const char *name, unsigned long *ret) {
        char path[PATH_MAX], buf[32];
        FILE *f;
        int r;

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return -ENAMETOOLONG;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        r = fgets(buf, sizeof(buf), f) ? 0 : -EIO;
        fclose(f);
        if (r < 0)
                return r;
        *ret = strtoul(buf, NULL, 16);
        return 0;
}

/* Max PASID Width from the PCI PASID extended capability (ID 0x1b) in config space. */
static uint8_t pci_pasid_width(const char *dev_dir) {
        char path[PATH_MAX];
        uint8_t cfg[4096];
        ssize_t n;
        unsigned off = 0x100;
        int fd;

        if ((size_t) snprintf(path, sizeof(path), "%s/config", dev_dir) >= sizeof(path))
                return 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = pread(fd, cfg, sizeof(cfg), 0);
        safe_close(fd);
        for (int hops = 0; n >= 0x104 && off >= 0x100 && off + 8 <= (unsigned) n && hops < 64; hops++) {
                uint32_t hdr = (uint32_t) cfg[off] | (uint32_t) cfg[off + 1] << 8 | (uint32_t) cfg[off + 2] << 16 |
                               (uint32_t) cfg[off + 3] << 24;

                if ((hdr & 0xffff) == 0x1b)
                        return (cfg[off + 5] & 0x1f);   /* capability register bits 12:8 */
                off = hdr >> 20;
        }
        return 0;
}

static int kernel_device_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n) {
        KernelBackend *k = (KernelBackend *) b;
        _cleanup_free_ BackendDeviceInfo *list = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d;
        int r;

        d = opendir(k->vfio_sysfs);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                r = kernel_mock_device_list(k->n_mock_devices, &list, &n);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(list);
                *ret_n = n;
                return 0;
        }
        while ((de = readdir(d))) {
                char dev_dir[PATH_MAX], link[PATH_MAX], group[PATH_MAX];
                BackendDeviceInfo *a, *info;
                unsigned long v = 0;
                const char *base;
                ssize_t len;

                if (strncmp(de->d_name, "vfio", 4) != 0)
                        continue;
                if ((size_t) snprintf(dev_dir, sizeof(dev_dir), "%s/%s/device", k->vfio_sysfs, de->d_name) >=
                    sizeof(dev_dir))
                        continue;
                len = readlink(dev_dir, link, sizeof(link) - 1);
                if (len < 0)
                        continue;
                link[len] = '\0';
                base = strrchr(link, '/');
                base = base ? base + 1 : link;

                a = reallocarray(list, n + 1, sizeof(*a));
                if (!a) {
                        closedir(d);
                        return -ENOMEM;
                }
                list = a;
                info = &list[n++];
                *info = (BackendDeviceInfo) { .iommu_group = -1 };
                if (strlen(base) >= sizeof(info->name) ||
                    (size_t) snprintf(info->cdev, sizeof(info->cdev), "/dev/vfio/devices/%s", de->d_name) >=
                            sizeof(info->cdev)) {
                        n--;
                        continue;
                }
                memcpy(info->name, base, strlen(base) + 1);
                if (read_hex_file(dev_dir, "vendor", &v) == 0)
                        info->vendor_id = (uint16_t) v;
                if (read_hex_file(dev_dir, "device", &v) == 0)
                        info->device_id = (uint16_t) v;
                len = -1;
                if ((size_t) snprintf(link, sizeof(link), "%s/iommu_group", dev_dir) < sizeof(link))
                        len = readlink(link, group, sizeof(group) - 1);
                if (len > 0) {
                        const char *g;

                        group[len] = '\0';
                        g = strrchr(group, '/');
                        info->iommu_group = atoi(g ? g + 1 : group);
                }
                info->pasid_width = pci_pasid_width(dev_dir);
        }
        closedir(d);
        r = kernel_mock_device_list(k->n_mock_devices, &list, &n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

static int kernel_device_bind(BackendCtx *ctx, const BackendDeviceInfo *info, int *ret_fd, uint32_t *ret_dev_id) {
        struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = kfd(ctx) };
        _cleanup_close_ int fd = -1;
        int r;

        if (info->kernel_mock)
                return kernel_mock_bind(kfd(ctx), &((KernelCtx *) ctx)->mock_devices, ret_fd, ret_dev_id);
        fd = open(info->cdev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = kioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
        if (r < 0)
                return r;
        *ret_dev_id = bind.out_devid;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int kernel_device_unbind(BackendCtx *ctx, int dev_fd, uint32_t dev_id) {
        KernelMockDev *m = kmock(ctx, dev_id);

        if (m)
                return kernel_mock_unbind(kfd(ctx), &((KernelCtx *) ctx)->mock_devices, m);
        return 0;       /* the kernel unbinds when the device's last fd closes */
}

static int kernel_device_probe(Backend *b, const BackendDeviceInfo *info) {
        KernelBackend *k = (KernelBackend *) b;
        struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
        _cleanup_close_ int fd = -1, iommufd = -1;
        int r;

        /* a mock device is the test driver's object: gone with device_unbind */
        if (info->kernel_mock)
                return 0;
        fd = open(info->cdev, O_RDWR | O_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM))
                return -errno;          /* the probe could not run: nothing is known */
        if (fd < 0)
                return 0;               /* gone, or opened through its group: no fd of ours holds it */
        iommufd = open(k->path, O_RDWR | O_CLOEXEC);
        if (iommufd < 0)
                return -errno;
        bind.iommufd = iommufd;
        r = kioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
        /*
         * vfio_df_open: EINVAL while another open file of the device is bound.
         * EPERM and EBUSY (the group's DMA owned elsewhere: another device of
         * it in use) and ENODEV (gone meanwhile) are not a hold of this device;
         * anything else (ENOMEM, EINTR, the driver's open failing) says nothing
         * of it.  Closing the fd unbinds the probe at once.
         */
        if (r == -EINVAL)
                return -EBUSY;
        return r == 0 || r == -EPERM || r == -EBUSY || r == -ENODEV ? 0 : r;
}

static int kernel_delegate_iommufd(Backend *b, int *ret_fd) {
        KernelBackend *k = (KernelBackend *) b;
        struct iommu_option opt = {
                .size = sizeof(opt),
                .option_id = IOMMU_OPTION_RLIMIT_MODE,
                .op = IOMMU_OPTION_OP_SET,
                .val64 = 1,             /* per process: the mapping process's RLIMIT_MEMLOCK */
        };
        _cleanup_close_ int fd = -1;
        int r;

        fd = open(k->path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* iommufd_option_rlimit_mode(): capable(CAP_SYS_RESOURCE), and -EBUSY once the context has objects */
        r = caps_raise(CAP_SYS_RESOURCE);
        if (r < 0)
                return r;
        r = kioctl(fd, IOMMU_OPTION, &opt);
        caps_lower(CAP_SYS_RESOURCE);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int kernel_delegate_device(Backend *b, const BackendDeviceInfo *info, int *ret_fd) {
        int fd;

        (void) b;
        if (info->kernel_mock)
                return -EOPNOTSUPP;     /* the test driver's object lives in the broker's context */
        fd = open(info->cdev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static int kernel_device_attach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid, uint32_t pt_id,
                                uint32_t *ret_hwpt) {
        struct vfio_device_attach_iommufd_pt cmd = { .argsz = sizeof(cmd), .pt_id = pt_id };
        KernelMockDev *m = kmock(ctx, dev_id);
        int r;

        if (m)
                return kernel_mock_attach(kfd(ctx), m, pasid, pt_id, ret_hwpt);
        if (pasid != BACKEND_NO_PASID) {
                cmd.flags = VFIO_DEVICE_ATTACH_PASID;
                cmd.pasid = pasid;
        }
        r = kioctl(dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd);
        if (r < 0)
                return r;
        *ret_hwpt = cmd.pt_id;
        return 0;
}

static int kernel_device_detach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid) {
        struct vfio_device_detach_iommufd_pt cmd = { .argsz = sizeof(cmd) };
        KernelMockDev *m = kmock(ctx, dev_id);

        if (m)
                return kernel_mock_detach(kfd(ctx), m, pasid);
        if (pasid != BACKEND_NO_PASID) {
                cmd.flags = VFIO_DEVICE_DETACH_PASID;
                cmd.pasid = pasid;
        }
        return kioctl(dev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd);
}

static int kernel_hw_info(BackendCtx *ctx, uint32_t dev_id, BackendHwInfo *ret) {
        struct iommu_hw_info cmd = { .size = sizeof(cmd), .dev_id = dev_id, .data_len = BACKEND_HW_INFO_DATA_MAX };
        int r;

        memset(ret, 0, sizeof(*ret));
        cmd.data_uptr = (uintptr_t) ret->data;
        r = kioctl(kfd(ctx), IOMMU_GET_HW_INFO, &cmd);
        if (r < 0)
                return r;
        ret->type = cmd.out_data_type;
        ret->capabilities = cmd.out_capabilities;
        ret->max_pasid_log2 = cmd.out_max_pasid_log2;
        ret->data_len = cmd.data_len < BACKEND_HW_INFO_DATA_MAX ? cmd.data_len : BACKEND_HW_INFO_DATA_MAX;
        return 0;
}

static int kernel_hwpt_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t data_type,
                             const void *data, size_t data_len, uint32_t fault_id, uint32_t *ret_id) {
        struct iommu_hwpt_alloc cmd = {
                .size = sizeof(cmd),
                .flags = (flags & BACKEND_HWPT_NEST_PARENT ? IOMMU_HWPT_ALLOC_NEST_PARENT : 0) |
                         (flags & BACKEND_HWPT_DIRTY_TRACKING ? IOMMU_HWPT_ALLOC_DIRTY_TRACKING : 0) |
                         (flags & BACKEND_HWPT_FAULT_ID_VALID ? IOMMU_HWPT_FAULT_ID_VALID : 0) |
                         (flags & BACKEND_HWPT_PASID ? IOMMU_HWPT_ALLOC_PASID : 0),
                .dev_id = dev_id,
                .pt_id = pt_id,
                .data_type = data_type,
                .data_len = (uint32_t) data_len,
                .data_uptr = (uintptr_t) data,
                .fault_id = fault_id,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_HWPT_ALLOC, &cmd);
        if (r < 0)
                return r;
        *ret_id = cmd.out_hwpt_id;
        return 0;
}

static int kernel_hwpt_set_dirty_tracking(BackendCtx *ctx, uint32_t hwpt, bool enable) {
        struct iommu_hwpt_set_dirty_tracking cmd = {
                .size = sizeof(cmd),
                .flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
                .hwpt_id = hwpt,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
        /* test builds only: the pattern of pages a test asked the mock IOMMU to see written */
        if (r >= 0 && enable)
                kernel_mock_dirty_tracking_enabled(kfd(ctx), hwpt);
        return r;
}

static int kernel_hwpt_get_dirty_bitmap(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                                        uint64_t page_size, uint32_t flags, void *bitmap) {
        struct iommu_hwpt_get_dirty_bitmap cmd = {
                .size = sizeof(cmd),
                .hwpt_id = hwpt,
                .flags = flags & BACKEND_DIRTY_NO_CLEAR ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0,
                .iova = iova,
                .length = length,
                .page_size = page_size,
                .data = (uintptr_t) bitmap,
        };

        return kioctl(kfd(ctx), IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

static int kernel_hwpt_invalidate(BackendCtx *ctx, uint32_t pt_id, uint32_t data_type, const void *entries,
                                  uint32_t entry_len, uint32_t *entry_num) {
        struct iommu_hwpt_invalidate cmd = {
                .size = sizeof(cmd),
                .hwpt_id = pt_id,
                .data_uptr = (uintptr_t) entries,
                .data_type = data_type,
                .entry_len = entry_len,
                .entry_num = *entry_num,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_HWPT_INVALIDATE, &cmd);
        *entry_num = cmd.entry_num;     /* written back also on failure (iommufd_hwpt_invalidate) */
        return r;
}

static int kernel_fault_alloc(BackendCtx *ctx, uint32_t *ret_id, int *ret_fd) {
        struct iommu_fault_alloc cmd = {
                .size = sizeof(cmd),
        };
        int r;

        /* the fd is installed O_CLOEXEC (eventq.c iommufd_eventq_init) */
        r = kioctl(kfd(ctx), IOMMU_FAULT_QUEUE_ALLOC, &cmd);
        if (r < 0)
                return r;
        *ret_id = cmd.out_fault_id;
        *ret_fd = (int) cmd.out_fault_fd;
        return 0;
}

static int kernel_viommu_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_id) {
        struct iommu_viommu_alloc cmd = {
                .size = sizeof(cmd),
                .type = type,
                .dev_id = dev_id,
                .hwpt_id = hwpt,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_VIOMMU_ALLOC, &cmd);
        if (r < 0)
                return r;
        *ret_id = cmd.out_viommu_id;
        return 0;
}

static int kernel_vdevice_alloc(BackendCtx *ctx, uint32_t viommu, uint32_t dev_id, uint64_t virt_id,
                                uint32_t *ret_id) {
        struct iommu_vdevice_alloc cmd = {
                .size = sizeof(cmd),
                .viommu_id = viommu,
                .dev_id = dev_id,
                .virt_id = virt_id,
        };
        int r;

        r = kioctl(kfd(ctx), IOMMU_VDEVICE_ALLOC, &cmd);
        if (r < 0)
                return r;
        *ret_id = cmd.out_vdevice_id;
        return 0;
}

int backend_kernel_mock_mark_dirty(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                                   uint64_t page_size, const void *bitmap) {
        if (ctx->backend->ops != &backend_kernel_ops)
                return -EOPNOTSUPP;
        return kernel_mock_mark_dirty(kfd(ctx), hwpt, iova, length, page_size, bitmap);
}

const BackendOps backend_kernel_ops = {
        .name = "kernel",
        .open = kernel_open,
        .close = kernel_close,
        .ctx_new = kernel_ctx_new,
        .ctx_free = kernel_ctx_free,
        .ctx_fd = kernel_ctx_fd,
        .ctx_adopt = kernel_ctx_adopt,
        .ioas_alloc = kernel_ioas_alloc,
        .destroy = kernel_destroy,
        .iova_ranges = kernel_iova_ranges,
        .allow_iovas = kernel_allow_iovas,
        .map_file = kernel_map_file,
        .map_user = kernel_map_user,
        .unmap = kernel_unmap,
        .copy = kernel_copy,
        .device_list = kernel_device_list,
        .device_bind = kernel_device_bind,
        .device_unbind = kernel_device_unbind,
        .device_probe = kernel_device_probe,
        .delegate_iommufd = kernel_delegate_iommufd,
        .delegate_device = kernel_delegate_device,
        .device_attach = kernel_device_attach,
        .device_detach = kernel_device_detach,
        .hw_info = kernel_hw_info,
        .hwpt_alloc = kernel_hwpt_alloc,
        .hwpt_set_dirty_tracking = kernel_hwpt_set_dirty_tracking,
        .hwpt_get_dirty_bitmap = kernel_hwpt_get_dirty_bitmap,
        .hwpt_invalidate = kernel_hwpt_invalidate,
        .fault_alloc = kernel_fault_alloc,
        .viommu_alloc = kernel_viommu_alloc,
        .vdevice_alloc = kernel_vdevice_alloc,
};

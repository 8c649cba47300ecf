/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.h - the one small interface both IOMMU backends implement.
 *
 * Owns: BackendOps and the thin wrappers over them (backend_*() below), the
 * only way the object layer reaches a backend.  A Backend is the whole IOMMU
 * side (for "kernel": access to /dev/iommu); a BackendCtx is one iommufd
 * context (one open of /dev/iommu), and every session gets its own, never
 * shared.  Object ids are per context and start at 1, as the kernel's are.
 *
 * Every call returns 0 on success and the kernel's -errno on failure; the
 * simulated backend returns the errno the kernel would.
 * Must never: log above debug, know about sessions, tenants or the wire.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/fdstore.h"
#include "util/interval.h"

typedef struct Backend Backend;
typedef struct BackendCtx BackendCtx;
typedef struct BackendOps BackendOps;

/* Flags of map_file, map_user and copy: the kernel's IOMMU_IOAS_MAP_* meanings. */
enum {
        BACKEND_MAP_FIXED_IOVA = 1U << 0,
        BACKEND_MAP_WRITEABLE = 1U << 1,
        BACKEND_MAP_READABLE = 1U << 2,
};

/* What the IOMMU side can do, detected when the backend opens. */
enum {
        BACKEND_FEATURE_MAP_FILE = 1U << 0,
        BACKEND_FEATURE_HWPT_ALLOC = 1U << 1,
        BACKEND_FEATURE_DIRTY_TRACKING = 1U << 2,
        BACKEND_FEATURE_HWPT_INVALIDATE = 1U << 3,
        BACKEND_FEATURE_FAULT_QUEUE = 1U << 4,
        BACKEND_FEATURE_VIOMMU = 1U << 5,
        BACKEND_FEATURE_CHANGE_PROCESS = 1U << 6,
};

/* IOMMU_HWPT_ALLOC flags: the kernel's IOMMU_HWPT_ALLOC_* meanings. */
enum {
        BACKEND_HWPT_NEST_PARENT = 1U << 0,
        BACKEND_HWPT_DIRTY_TRACKING = 1U << 1,
        BACKEND_HWPT_FAULT_ID_VALID = 1U << 2,
        BACKEND_HWPT_PASID = 1U << 3,
};

/* Flags of hwpt_get_dirty_bitmap: the kernel's IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR. */
enum {
        BACKEND_DIRTY_NO_CLEAR = 1U << 0,
};

/* Capabilities of BackendHwInfo.capabilities: the kernel's IOMMU_HW_CAP_* bits. */
enum {
        BACKEND_HW_CAP_DIRTY_TRACKING = 1U << 0,
        BACKEND_HW_CAP_PCI_PASID_EXEC = 1U << 1,
        BACKEND_HW_CAP_PCI_PASID_PRIV = 1U << 2,
        BACKEND_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1U << 3,
};

/* The kernel's IOMMU_NO_PASID: attach and detach of the device itself, not a PASID. */
#define BACKEND_NO_PASID UINT32_MAX

/* A device the broker may hand out, as found (kernel) or configured (sim). */
typedef struct BackendDeviceInfo {
        char name[32];                  /* the PCI address, "0000:00:02.0": how clients name it */
        char cdev[64];                  /* kernel: "/dev/vfio/devices/vfio0" */
        uint16_t vendor_id;
        uint16_t device_id;
        int iommu_group;                /* -1: unknown */
        uint8_t pasid_width;            /* PCI PASID capability: Max PASID Width; 0: none */
        bool dirty_tracking;            /* sim: the IOMMU tracks dirty pages for it */
        bool nesting;                   /* sim: the IOMMU can nest for it */
        bool snoop_control;             /* sim: the IOMMU can enforce cache-coherent DMA */
        bool kernel_mock;               /* kernel: an iommufd selftest mock device (test builds only) */
} BackendDeviceInfo;

#define BACKEND_HW_INFO_DATA_MAX 256

typedef struct BackendHwInfo {
        uint32_t type;                  /* IOMMU_HW_INFO_TYPE_*: 0 none, 1 Intel VT-d, 2 Arm SMMUv3,
                                         * 3 NVIDIA Tegra241 CMDQV, 4 AMD */
        uint64_t capabilities;          /* BACKEND_HW_CAP_* */
        uint8_t max_pasid_log2;         /* 0: no PASID */
        uint32_t data_len;
        uint8_t data[BACKEND_HW_INFO_DATA_MAX];         /* the vendor's info struct */
} BackendHwInfo;

typedef struct BackendConfig {
        const char *iommu_path;         /* kernel: the iommufd node, default /dev/iommu */
        const char *vfio_sysfs;         /* kernel: where VFIO cdevs are listed, default /sys/class/vfio-dev */
        bool sim_no_map_file;           /* sim: behave like a kernel before 6.13 (no MAP_FILE) */
        const BackendDeviceInfo *sim_devices;   /* sim: the devices it has */
        size_t n_sim_devices;
        unsigned kernel_mock_devices;   /* kernel: this many iommufd selftest mock devices (tests only) */
        /*
         * Where the backend keeps the fds that must outlive the process, and
         * finds them at the next start; NULL: none.  It must outlive the
         * backend.  The sim keeps its model there (as "sim.model", its own
         * fds as "sim.*"), and open() given a store that passed one adopts
         * it instead of starting empty; the kernel keeps nothing of its own.
         */
        FdStore *fdstore;
} BackendConfig;

struct Backend {
        const BackendOps *ops;
        uint64_t features;              /* BACKEND_FEATURE_* */
        /*
         * map_file, map_user, unmap and copy may run on a worker thread while
         * the loop calls other ops (util/offload.h): the kernel's are ioctls
         * on the context's own fd; the sim's model is not, so false there.
         */
        bool thread_safe;
};

struct BackendCtx {
        Backend *backend;
};

struct BackendOps {
        const char *name;

        /* Opens the IOMMU side; -ENODEV with a kernel lacking iommufd. */
        int (*open)(const BackendConfig *config, Backend **ret);
        void (*close)(Backend *b);

        /*
         * A new iommufd context.  ctx_free() closes it: the kernel destroys every
         * object in it only once no bound device fd refers to it any more (each
         * bound device holds the context), so the broker empties it first.
         */
        int (*ctx_new)(Backend *b, BackendCtx **ret);
        void (*ctx_free)(BackendCtx *ctx);
        /*
         * The fd whose lifetime is the context's (kernel: the iommufd itself;
         * sim: one end of a socketpair standing for it), owned by the
         * context: the broker keeps a copy in the fd store.  Once every
         * copy is closed (ctx_free closes the context's own) the context is
         * released as ctx_free describes; while one is open it stays, with
         * every object and mapping.
         */
        int (*ctx_fd)(BackendCtx *ctx);
        /*
         * A context a previous broker process opened, from a copy of its
         * ctx_fd() that the fd store gave back; takes fd, also on failure.
         * -EINVAL if fd is no iommufd of this IOMMU side (sim: of its
         * restored model); sim: -EBUSY if the context has a handle already.
         */
        int (*ctx_adopt)(Backend *b, int fd, BackendCtx **ret);

        int (*ioas_alloc)(BackendCtx *ctx, uint32_t *ret_id);
        /* IOMMU_DESTROY of any object id; -EBUSY while something uses it. */
        int (*destroy)(BackendCtx *ctx, uint32_t id);
        /*
         * IOMMU_IOAS_IOVA_RANGES: fills ranges[0..*n_ranges) and sets *n_ranges to
         * the count; -EMSGSIZE (with *n_ranges set to the count needed) if the
         * array is too small.
         */
        int (*iova_ranges)(BackendCtx *ctx, uint32_t ioas, IovaRange *ranges, size_t *n_ranges,
                           uint64_t *ret_alignment);
        int (*allow_iovas)(BackendCtx *ctx, uint32_t ioas, const IovaRange *ranges, size_t n);
        /* IOMMU_IOAS_MAP_FILE; *iova is the input with FIXED_IOVA, the output always. */
        int (*map_file)(BackendCtx *ctx, uint32_t ioas, int fd, uint64_t start, uint64_t length,
                        uint32_t flags, uint64_t *iova);
        /* IOMMU_IOAS_MAP of memory mapped in the broker at va. */
        int (*map_user)(BackendCtx *ctx, uint32_t ioas, void *va, uint64_t length, uint32_t flags,
                        uint64_t *iova);
        /* IOMMU_IOAS_UNMAP; *ret_unmapped is the number of bytes unmapped. */
        int (*unmap)(BackendCtx *ctx, uint32_t ioas, uint64_t iova, uint64_t length,
                     uint64_t *ret_unmapped);
        /* IOMMU_IOAS_COPY; *dst_iova as *iova of map_file. */
        int (*copy)(BackendCtx *ctx, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova,
                    uint64_t length, uint32_t flags, uint64_t *dst_iova);

        /* ---------------------------------------------------------- devices */

        /* The devices there are now (a fresh scan); *ret is malloc()ed. */
        int (*device_list)(Backend *b, BackendDeviceInfo **ret, size_t *ret_n);
        /*
         * Opens the device and binds it to ctx (VFIO_DEVICE_BIND_IOMMUFD): *ret_fd
         * is the device fd (owned by the caller; the one to hand to the client),
         * *ret_dev_id its id in ctx.  -EINVAL if it is bound already (the kernel's
         * vfio_df_open()), -EPERM if its IOMMU group is owned by another context.
         */
        int (*device_bind)(BackendCtx *ctx, const BackendDeviceInfo *info, int *ret_fd, uint32_t *ret_dev_id);
        /*
         * The backend's part of the broker letting go of a device.  VFIO has no
         * unbind ioctl: the kernel unbinds when the last fd of the device's open
         * file is closed, and a copy the client holds keeps the device bound, and
         * with it the whole context (vfio_df_unbind_iommufd at release), so the
         * kernel backend has nothing to do for a cdev and sim models the same
         * rule; a kernel mock device (tests only) is destroyed here.
         */
        int (*device_unbind)(BackendCtx *ctx, int dev_fd, uint32_t dev_id);
        /*
         * Whether the device can be bound now: 0 if it can, -EBUSY while a file
         * of it is still bound in some context (VFIO allows one bound open per
         * device, vfio_df_open) - after the broker closed its fd, that means a
         * process outside the broker holds a copy.  The kernel backend opens the
         * cdev and binds it to a scratch iommufd, then closes both; a cdev that
         * is gone, or a bind refused for another reason than a bound file (its
         * group in use elsewhere), is 0 there: nothing holds this device.  Any
         * other -errno: the probe itself could not run (the broker out of fds
         * or memory), and nothing is known; the caller keeps the device out
         * and probes again later.
         */
        int (*device_probe)(Backend *b, const BackendDeviceInfo *info);
        /*
         * Delegated devices (core/delegation.c): what a VMM that binds and maps
         * itself is handed.  delegate_iommufd: a fresh iommufd, none of the
         * broker's contexts, switched to per-process memlock accounting
         * (IOMMU_OPTION_RLIMIT_MODE 1: pinned pages count against the mapping
         * process's own RLIMIT_MEMLOCK; the kernel requires CAP_SYS_RESOURCE,
         * raised for the call, and a context with no object yet); -EPERM
         * without the capability.  delegate_device: the device's cdev opened
         * but not bound (the VMM binds it: VFIO_DEVICE_BIND_IOMMUFD).  The sim
         * hands out stand-ins (memfds) that nothing can bind or map through.
         * *ret_fd is owned by the caller.
         */
        int (*delegate_iommufd)(Backend *b, int *ret_fd);
        int (*delegate_device)(Backend *b, const BackendDeviceInfo *info, int *ret_fd);
        /*
         * VFIO_DEVICE_ATTACH_IOMMUFD_PT of the device (pasid BACKEND_NO_PASID) or one
         * of its PASIDs to pt_id (an IOAS or a HWPT); attaching again replaces without
         * a gap.  *ret_hwpt: the HWPT now in use (an IOAS gets an automatic one).
         */
        int (*device_attach)(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid, uint32_t pt_id,
                             uint32_t *ret_hwpt);
        int (*device_detach)(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid);
        /* IOMMU_GET_HW_INFO of a bound device. */
        int (*hw_info)(BackendCtx *ctx, uint32_t dev_id, BackendHwInfo *ret);
        /*
         * IOMMU_HWPT_ALLOC: a paging HWPT on an IOAS, or (data_type != 0) a nested
         * HWPT on a nesting parent, with the guest's stage-1 data.
         */
        int (*hwpt_alloc)(BackendCtx *ctx, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t data_type,
                          const void *data, size_t data_len, uint32_t fault_id, uint32_t *ret_id);
        /* IOMMU_HWPT_SET_DIRTY_TRACKING of a paging HWPT. */
        int (*hwpt_set_dirty_tracking)(BackendCtx *ctx, uint32_t hwpt, bool enable);
        /*
         * IOMMU_HWPT_GET_DIRTY_BITMAP: sets the bits of the dirty page_size pages of
         * [iova, iova + length) in bitmap (zeroed by the caller, one bit per page,
         * u64 words: 8 * ceil(length / page_size / 64) bytes), and clears them
         * in the IOMMU unless flags has BACKEND_DIRTY_NO_CLEAR.
         */
        int (*hwpt_get_dirty_bitmap)(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                                     uint64_t page_size, uint32_t flags, void *bitmap);
        /*
         * IOMMU_HWPT_INVALIDATE of a nested HWPT or a vIOMMU: *entry_num entries of
         * entry_len bytes; *entry_num is set to the number handled, also on failure.
         */
        int (*hwpt_invalidate)(BackendCtx *ctx, uint32_t pt_id, uint32_t data_type, const void *entries,
                               uint32_t entry_len, uint32_t *entry_num);
        /*
         * IOMMU_FAULT_QUEUE_ALLOC: *ret_fd (owned by the caller) is the queue's fd
         * (sim: the read end of a pipe that never carries a fault).
         */
        int (*fault_alloc)(BackendCtx *ctx, uint32_t *ret_id, int *ret_fd);
        /* IOMMU_VIOMMU_ALLOC on nesting-parent HWPT hwpt for the IOMMU of dev_id. */
        int (*viommu_alloc)(BackendCtx *ctx, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_id);
        /* IOMMU_VDEVICE_ALLOC of dev_id on viommu, with the guest's virt_id. */
        int (*vdevice_alloc)(BackendCtx *ctx, uint32_t viommu, uint32_t dev_id, uint64_t virt_id,
                             uint32_t *ret_id);
};

extern const BackendOps backend_kernel_ops;
extern const BackendOps backend_sim_ops;

/*
 * Whether this build has the kernel backend's iommufd selftest mock devices
 * (configure --with-iommufd-selftest; backend-kernel-mock.c, else
 * backend-kernel-nomock.c).
 */
bool backend_kernel_mock_built_in(void);

/* The ops named "kernel" or "sim", NULL otherwise. */
const BackendOps *backend_ops_by_name(const char *name);

static inline const char *backend_name(const Backend *b) {
        return b->ops->name;
}

static inline bool backend_has(const Backend *b, uint64_t feature) {
        return (b->features & feature) != 0;
}

/*
 * The thin wrappers, one per op, with the op's meaning (see BackendOps): the
 * objects call these, never b->ops.  backend_close() and backend_ctx_free()
 * accept NULL and return NULL.
 */
int backend_open(const BackendOps *ops, const BackendConfig *config, Backend **ret);
Backend *backend_close(Backend *b);
int backend_ctx_new(Backend *b, BackendCtx **ret);
BackendCtx *backend_ctx_free(BackendCtx *ctx);
int backend_ctx_fd(BackendCtx *ctx);
int backend_ctx_adopt(Backend *b, int fd, BackendCtx **ret);

int backend_ioas_alloc(BackendCtx *ctx, uint32_t *ret_id);
int backend_destroy(BackendCtx *ctx, uint32_t id);
int backend_iova_ranges(BackendCtx *ctx, uint32_t ioas, IovaRange *ranges, size_t *n_ranges,
                        uint64_t *ret_alignment);
int backend_allow_iovas(BackendCtx *ctx, uint32_t ioas, const IovaRange *ranges, size_t n);
int backend_map_file(BackendCtx *ctx, uint32_t ioas, int fd, uint64_t start, uint64_t length, uint32_t flags,
                     uint64_t *iova);
int backend_map_user(BackendCtx *ctx, uint32_t ioas, void *va, uint64_t length, uint32_t flags, uint64_t *iova);
int backend_unmap(BackendCtx *ctx, uint32_t ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped);
int backend_copy(BackendCtx *ctx, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova, uint64_t length,
                 uint32_t flags, uint64_t *dst_iova);

int backend_device_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n);
int backend_device_bind(BackendCtx *ctx, const BackendDeviceInfo *info, int *ret_fd, uint32_t *ret_dev_id);
/* Closes the broker's fd of a device (the kernel unbinds it at its last close: a reset, a power transition). */
int backend_device_close(BackendCtx *ctx, int dev_fd);
int backend_device_unbind(BackendCtx *ctx, int dev_fd, uint32_t dev_id);
int backend_device_probe(Backend *b, const BackendDeviceInfo *info);
int backend_delegate_iommufd(Backend *b, int *ret_fd);
int backend_delegate_device(Backend *b, const BackendDeviceInfo *info, int *ret_fd);
int backend_device_attach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid, uint32_t pt_id,
                          uint32_t *ret_hwpt);
int backend_device_detach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid);
int backend_hw_info(BackendCtx *ctx, uint32_t dev_id, BackendHwInfo *ret);

int backend_hwpt_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t pt_id, uint32_t flags, uint32_t data_type,
                       const void *data, size_t data_len, uint32_t fault_id, uint32_t *ret_id);
int backend_hwpt_set_dirty_tracking(BackendCtx *ctx, uint32_t hwpt, bool enable);
int backend_hwpt_get_dirty_bitmap(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                                  uint64_t page_size, uint32_t flags, void *bitmap);
int backend_hwpt_invalidate(BackendCtx *ctx, uint32_t pt_id, uint32_t data_type, const void *entries,
                            uint32_t entry_len, uint32_t *entry_num);
int backend_fault_alloc(BackendCtx *ctx, uint32_t *ret_id, int *ret_fd);
int backend_viommu_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_id);
int backend_vdevice_alloc(BackendCtx *ctx, uint32_t viommu, uint32_t dev_id, uint64_t virt_id, uint32_t *ret_id);

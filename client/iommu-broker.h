/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iommu-broker.h - libiommu-broker, the client library of iommu-brokerd.
 *
 * A VMM links this library to ask the broker for I/O address spaces and DMA
 * mappings without opening /dev/iommu itself.  Every function returns 0 (or a
 * non-negative value) on success and a negative errno on failure, in the
 * sd-bus style; a failure the broker reported also leaves its one-sentence
 * explanation in ib_client_error().
 *
 * Two ways to drive it:
 *  - synchronous: ib_map() and friends send one request and wait for its
 *    reply (replies to other outstanding requests are dispatched meanwhile);
 *  - from the VMM's own event loop: the *_async() forms queue a request and
 *    return at once; poll ib_client_get_fd() for POLLIN (and for POLLOUT while
 *    ib_client_get_events() says so) and call ib_client_process(), which runs
 *    the callbacks of completed requests.
 *
 * An ib_client is not thread-safe; use one per thread or lock around it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ib_client ib_client;
typedef struct ib_batch ib_batch;

typedef struct ib_iova_range {
        uint64_t start;
        uint64_t last;                  /* inclusive */
} ib_iova_range;

typedef struct ib_limits {
        uint32_t max_message_size;
        uint32_t max_fds_per_message;
        uint32_t max_requests_in_flight;
        uint32_t max_batch_ops;
        uint32_t max_iova_ranges;
} ib_limits;

/* Flags of ib_map(), ib_copy() and ib_batch_add_map(). */
enum {
        IB_MAP_READABLE = 1U << 0,
        IB_MAP_WRITEABLE = 1U << 1,
        IB_MAP_FIXED_IOVA = 1U << 2,    /* *iova is the input; without it the IOMMU chooses */
};

/* Window hints of ib_ioas_alloc(). */
enum {
        IB_IOVA_WINDOW_FULL = 0,
        IB_IOVA_WINDOW_32BIT = 1,       /* [0, 4 GiB) */
};

typedef struct ib_ioas_alloc_args {
        int window;                     /* IB_IOVA_WINDOW_* */
        bool has_base;
        uint64_t base;                  /* lowest IOVA to allow, with has_base */
        bool has_max;
        uint64_t max;                   /* highest IOVA to allow (inclusive), with has_max */
        bool enforce_snoop;             /* refuse devices whose IOMMU cannot enforce coherent DMA */
} ib_ioas_alloc_args;

/* Kernel features of ib_caps.kernel_features, as bits. */
enum {
        IB_KERNEL_FEATURE_MAP_FILE = 1U << 1,
        IB_KERNEL_FEATURE_HWPT_ALLOC = 1U << 2,
        IB_KERNEL_FEATURE_DIRTY_TRACKING = 1U << 3,
        IB_KERNEL_FEATURE_HWPT_INVALIDATE = 1U << 4,
        IB_KERNEL_FEATURE_FAULT_QUEUE = 1U << 5,
        IB_KERNEL_FEATURE_VIOMMU = 1U << 6,
        IB_KERNEL_FEATURE_CHANGE_PROCESS = 1U << 7,
};

typedef struct ib_caps {
        char backend[16];               /* "kernel" or "sim" */
        uint32_t kernel_features;       /* IB_KERNEL_FEATURE_* */
        uint64_t page_size;
        bool has_counters;              /* the rest is sent only to root and the broker's uid */
        uint64_t sessions;
        uint64_t mapped_bytes;
        uint64_t objects;
} ib_caps;

/* Names of the kernel feature bits, for tools: "map-file", ... NULL if unknown. */
const char *ib_kernel_feature_name(uint32_t bit);

/* ------------------------------------------------------------------ connection */

/*
 * Connects to the broker's socket (NULL: $IOMMU_BROKER_SOCKET, else
 * /run/iommu-broker/vmm.sock), exchanges Hello and reads the broker's limits.
 * client_name is free text for the broker's logs (may be NULL).
 */
int ib_client_connect(const char *path, const char *client_name, ib_client **ret);
/*
 * ib_client_connect() that also explains a failure in error (NUL-terminated,
 * at most error_size bytes): the broker's sentence when it refused the
 * connection (EACCES: no tenant of its policy matches this process), or what
 * failed locally.
 */
int ib_client_connect_verbose(const char *path, const char *client_name, ib_client **ret, char *error,
                              size_t error_size);
/* Closes the connection; the broker then destroys everything this session made. */
ib_client *ib_client_free(ib_client *c);

int ib_client_get_fd(ib_client *c);
/* POLLIN, plus POLLOUT while requests wait that may be sent now. */
int ib_client_get_events(ib_client *c);
/* Sends what it can, reads what is there, runs callbacks; never blocks. */
int ib_client_process(ib_client *c);

uint32_t ib_client_protocol_version(ib_client *c);
const char *ib_client_server_version(ib_client *c);
uint64_t ib_client_session_id(ib_client *c);
void ib_client_get_limits(ib_client *c, ib_limits *ret);

/*
 * How many times the broker restarted under this connection and kept the
 * session (the ResumedEvents it sent).  Across a restart the library sends
 * again, with the same id, each request the restart stopped before it
 * changed anything (answered not_applied): each request still completes
 * exactly once, a synchronous call just waits longer.  One that carried fds
 * (ib_map(), ib_mem_register(), ...) is not sent again, since its fds went
 * with the broker that read it: it fails with -ECANCELED, and sending it
 * again is safe.  See "Restarts" in docs/protocol.md.
 */
uint64_t ib_client_restarts(ib_client *c);

/*
 * The broker's explanation of the last failure of this client ("IOVA range
 * 0x100000-0x1fffff overlaps an existing mapping"), or of a local failure; ""
 * if none.  Valid until the next call on c.
 */
const char *ib_client_error(ib_client *c);

/* "EEXIST" for -EEXIST or EEXIST; NULL if unknown. */
const char *ib_errno_name(int err);

/* ------------------------------------------------------------------ synchronous verbs */

int ib_caps_get(ib_client *c, ib_caps *ret);
int ib_ioas_alloc(ib_client *c, const ib_ioas_alloc_args *args, uint32_t *ret_ioas);
int ib_ioas_free(ib_client *c, uint32_t ioas);
/*
 * Fills ranges[0..*n_ranges); *n_ranges becomes the count.  -ENOBUFS (with
 * *n_ranges set to the count) if the array is too small.
 */
int ib_iova_ranges(ib_client *c, uint32_t ioas, ib_iova_range *ranges, size_t *n_ranges,
                   uint64_t *ret_alignment);
int ib_allow_iovas(ib_client *c, uint32_t ioas, const ib_iova_range *ranges, size_t n_ranges);
/*
 * Maps [offset, offset+length) of memfd at *iova (IB_MAP_FIXED_IOVA) or where the
 * IOMMU chooses; *iova is the IOVA used on success.  The memfd is sent with
 * the request; the caller keeps its own fd.
 */
int ib_map(ib_client *c, uint32_t ioas, int memfd, uint64_t offset, uint64_t length,
           unsigned flags, uint64_t *iova);
/*
 * Registered guest memory: the memfd is sent and checked once, the broker
 * keeps its own reference, and maps name the handle (*ret_mem: per session,
 * never reused in it) with no fd per request.  Seals and size are checked
 * again at each map.  Unregistering drops the broker's reference only:
 * mappings made from it stay until unmapped; the handle then names nothing
 * (-ENOENT).  The caller keeps its own fd either way.
 */
int ib_mem_register(ib_client *c, int memfd, uint32_t *ret_mem);
int ib_mem_unregister(ib_client *c, uint32_t mem);
/*
 * ib_map() of [offset, offset+length) of registered memory mem at iova
 * (with IB_MAP_FIXED_IOVA) or where the IOMMU chooses; *ret_iova: the IOVA used.
 */
int ib_map_mem(ib_client *c, uint32_t ioas, uint32_t mem, uint64_t offset, uint64_t length, unsigned flags,
               uint64_t iova, uint64_t *ret_iova);
int ib_unmap(ib_client *c, uint32_t ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped);
int ib_copy(ib_client *c, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova, uint64_t length,
            unsigned flags, uint64_t *dst_iova);

/* ------------------------------------------------------------------ batches */

/* Many maps and unmaps in one round trip, with one result per operation. */
int ib_batch_new(ib_batch **ret);
ib_batch *ib_batch_free(ib_batch *b);
/* Returns the index of the operation. memfd is duplicated into the batch. */
int ib_batch_add_map(ib_batch *b, uint32_t ioas, int memfd, uint64_t offset, uint64_t length,
                     unsigned flags, uint64_t iova);
/* ib_batch_add_map() of registered memory (ib_mem_register()): no fd goes with the batch for it. */
int ib_batch_add_map_mem(ib_batch *b, uint32_t ioas, uint32_t mem, uint64_t offset, uint64_t length,
                         unsigned flags, uint64_t iova);
int ib_batch_add_unmap(ib_batch *b, uint32_t ioas, uint64_t iova, uint64_t length);
size_t ib_batch_size(ib_batch *b);
/*
 * Sends the batch and waits.  Returns 0 when the broker answered (each
 * operation then has its own result), or -errno when the batch itself failed.
 */
int ib_batch_run(ib_client *c, ib_batch *b, bool stop_on_error);
/*
 * The result of operation i after ib_batch_run(): 0 or -errno.  *ret_value is
 * the IOVA of a map or the bytes unmapped by an unmap; *ret_error the
 * broker's sentence (or NULL).  -EINVAL for an operation that did not run
 * (the batch never ran, or i was added after the run).
 */
int ib_batch_result(ib_batch *b, size_t i, uint64_t *ret_value, const char **ret_error);

/* ------------------------------------------------------------------ confinement */

enum {
        IB_CONFINE_ALL_THREADS = 1U << 0,       /* every thread of the process (seccomp TSYNC), not only the caller */
};

/*
 * The broker binds, attaches and detaches devices and PASIDs for the VMM and
 * keeps its rules around those calls; the device fd it hands out could do the
 * same calls directly and sidestep them (see "Rules and the device fd" in
 * iommu-broker-policy(5)).  This installs a seccomp filter that makes
 * ioctl() with VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT and
 * VFIO_DEVICE_DETACH_IOMMUFD_PT fail with EPERM on every fd of the process
 * (and of the children it starts later), and sets no_new_privs.  Neither can
 * ever be undone.  Call it before opening devices; a tenant whose policy has
 * ConfinedDeviceFds=yes must have a seccomp filter in force before its
 * DeviceOpen.  Returns 0, -EINVAL (unknown flags), -EOPNOTSUPP (an
 * architecture the filter does not know), or the -errno of prctl()/seccomp().
 */
int ib_confine_device_fds(unsigned flags);

/* ------------------------------------------------------------------ devices */

typedef struct ib_device_info {
        char name[32];                  /* PCI address: how devices are named */
        uint16_t vendor_id;
        uint16_t device_id;
        int iommu_group;                /* -1: unknown */
        uint8_t pasid_width;            /* 0: no PASID capability */
        bool open_here;                 /* open in this session */
        bool in_use;                    /* open in some session */
        bool quarantined;               /* a process outside the broker still holds its fd: nobody can open it */
        int held_by_pid;                /* quarantined: the process its fd went to; 0: not told (another uid's) */
        bool delegated;                 /* handed to a VMM by ib_device_delegate() (in_use too) */
        int delegated_to_pid;           /* delegated: the process; 0: not told (another uid's) */
} ib_device_info;

/* Fills ret[0..*n); -ENOBUFS (with *n the count) if the array is too small. */
int ib_device_list(ib_client *c, ib_device_info *ret, size_t *n);
/*
 * Opens a device: the broker binds it to this session's iommufd and sends its
 * VFIO device fd (*ret_fd, owned by the caller) for regions, interrupts and
 * config space.  -EBUSY while another session has it open.
 */
int ib_device_open(ib_client *c, const char *name, uint32_t *ret_dev_id, int *ret_fd);
/* Attaches to an IOAS or HWPT; attaching again replaces without a gap.  *ret_hwpt may be NULL. */
int ib_device_attach(ib_client *c, uint32_t dev_id, uint32_t pt_id, uint32_t *ret_hwpt);
int ib_device_detach(ib_client *c, uint32_t dev_id);
/* The broker lets go of the device; it is unbound once the caller closes its fd too. */
int ib_device_close(ib_client *c, uint32_t dev_id);

/*
 * Delegated devices, for a VMM that binds and maps itself (stock QEMU's
 * -object iommufd,fd=N -device vfio-pci,iommufd=ID,fd=M).  Needs
 * DelegateDevices=yes in the tenant's policy section, and a calling process
 * whose pinned memory the kernel will count: without CAP_IPC_LOCK and unable
 * to gain it by an exec (call prctl(PR_SET_NO_NEW_PRIVS, 1) first).  The
 * broker sets the caller's RLIMIT_MEMLOCK (soft and hard) to the tenant's
 * PinnedMemoryMax and sends a fresh iommufd with per-process accounting plus
 * one unbound cdev fd per device, in the order named; the devices stay the
 * receiving process's (across exec) until it exits or an admin ends the
 * delegation (iommu-brokerctl end-delegation, which kills the process).
 * pidfd -1: the receiving process is the caller; else the process of that
 * pidfd (pidfd_open()), for an agent that passes the fds on to a VMM it
 * started (over QMP getfd, say): it must run as the caller's uid unless the
 * caller is root, and the checks and the memory limit apply to it.
 * -EPERM (not allowed, or CAP_IPC_LOCK), -EBUSY (a device is open,
 * delegated or quarantined), -ENODEV.  On the sim backend the fds are
 * stand-ins (memfds).
 */
#define IB_DELEGATE_MAX_DEVICES 8
typedef struct ib_delegation {
        uint64_t id;                    /* for iommu-brokerctl end-delegation */
        int iommufd;                    /* owned by the caller */
        int device_fds[IB_DELEGATE_MAX_DEVICES];        /* owned by the caller; unbound */
        size_t n_devices;
        uint64_t memlock_limit;         /* RLIMIT_MEMLOCK now set; 0: left as it was (no limit in the policy) */
} ib_delegation;
int ib_device_delegate(ib_client *c, int pidfd, const char *const *names, size_t n_names, ib_delegation *ret);

enum {
        IB_IOMMU_TYPE_NONE = 0,
        IB_IOMMU_TYPE_INTEL_VTD = 1,
        IB_IOMMU_TYPE_ARM_SMMUV3 = 2,
        IB_IOMMU_TYPE_AMD = 4,
};

typedef struct ib_hw_info {
        uint32_t iommu_type;            /* IB_IOMMU_TYPE_* */
        bool dirty_tracking;
        bool pasid_exec;
        bool pasid_priv;
        bool ats_not_supported;
        bool enforce_snoop;             /* the IOMMU can enforce cache-coherent DMA */
        bool nesting;
        uint32_t max_pasid_log2;
        uint8_t vendor_data[256];       /* the IOMMU driver's info struct */
        size_t vendor_data_len;
} ib_hw_info;

int ib_hw_info_get(ib_client *c, uint32_t dev_id, ib_hw_info *ret);

/* Flags of ib_hwpt_alloc(). */
enum {
        IB_HWPT_NEST_PARENT = 1U << 0,
        IB_HWPT_DIRTY_TRACKING = 1U << 1,
        IB_HWPT_PASID = 1U << 2,
        IB_HWPT_ENFORCE_SNOOP = 1U << 3,
};

/* Stage-1 data types of a nested HWPT. */
enum {
        IB_HWPT_DATA_NONE = 0,          /* a paging HWPT on an IOAS */
        IB_HWPT_DATA_VTD_S1 = 1,        /* struct iommu_hwpt_vtd_s1 */
        IB_HWPT_DATA_ARM_SMMUV3 = 2,    /* struct iommu_hwpt_arm_smmuv3 */
        IB_HWPT_DATA_AMD_GUEST = 3,
};

/*
 * A paging HWPT on IOAS pt_id (data_type IB_HWPT_DATA_NONE), or a nested one on
 * the nesting-parent HWPT pt_id with the guest's stage-1 data.
 */
int ib_hwpt_alloc(ib_client *c, uint32_t dev_id, uint32_t pt_id, unsigned flags, uint32_t data_type,
                  const void *data, size_t data_len, uint32_t *ret_hwpt);
int ib_hwpt_free(ib_client *c, uint32_t hwpt);
/* ib_hwpt_alloc() of a HWPT that reports I/O page faults to fault queue fault_id. */
int ib_hwpt_alloc_with_fault(ib_client *c, uint32_t dev_id, uint32_t pt_id, unsigned flags, uint32_t data_type,
                             const void *data, size_t data_len, uint32_t fault_id, uint32_t *ret_hwpt);

/* Starts or stops dirty tracking of a HWPT allocated with IB_HWPT_DIRTY_TRACKING. */
int ib_hwpt_set_dirty_tracking(ib_client *c, uint32_t hwpt, bool enable);

/* Flags of ib_hwpt_get_dirty_bitmap(). */
enum {
        IB_DIRTY_NO_CLEAR = 1U << 0,    /* leave the dirty bits set in the IOMMU */
};

/*
 * The dirty bits of [iova, iova + length) in page_size pages (0: 4096), as a
 * sealed memfd (*ret_fd, the caller's) of *ret_size bytes: one bit per page,
 * little-endian u64 words, as IOMMU_HWPT_GET_DIRTY_BITMAP writes it.
 * *ret_dirty (may be NULL) is the number of dirty pages.  The bitmap is at
 * most 64 MiB (-EINVAL beyond).
 */
int ib_hwpt_get_dirty_bitmap(ib_client *c, uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t page_size,
                             unsigned flags, int *ret_fd, uint64_t *ret_size, uint64_t *ret_dirty);

/* Data types of ib_hwpt_invalidate(). */
enum {
        IB_HWPT_INVALIDATE_DATA_VTD_S1 = 0,             /* struct iommu_hwpt_vtd_s1_invalidate */
        IB_HWPT_INVALIDATE_DATA_ARM_SMMUV3 = 1,         /* struct iommu_viommu_arm_smmuv3_invalidate */
};

/*
 * Invalidates the caches of a nested HWPT (or a vIOMMU) pt_id: entry_num
 * entries of entry_len bytes each.  *ret_handled (may be NULL) is the number
 * handled: all of them on success; on failure the error text names the first
 * entry refused.
 */
int ib_hwpt_invalidate(ib_client *c, uint32_t pt_id, uint32_t data_type, const void *entries, uint32_t entry_len,
                       uint32_t entry_num, uint32_t *ret_handled);

/*
 * A fault queue for ib_hwpt_alloc_with_fault(): *ret_fd (the caller's) reads
 * struct iommu_hwpt_pgfault records and takes struct iommu_hwpt_page_response.
 */
int ib_fault_queue_alloc(ib_client *c, uint32_t *ret_fault_id, int *ret_fd);
/*
 * Frees a fault queue before the session ends.  -EBUSY while a HWPT
 * allocated with it lives or any copy of its fd is open: close the fd first.
 */
int ib_fault_queue_free(ib_client *c, uint32_t fault_id);

/* vIOMMU types of ib_viommu_alloc(): the kernel's IOMMU_VIOMMU_TYPE_*. */
enum {
        IB_VIOMMU_TYPE_DEFAULT = 0,
        IB_VIOMMU_TYPE_ARM_SMMUV3 = 1,
        IB_VIOMMU_TYPE_TEGRA241_CMDQV = 2,
};

/* A vIOMMU of the device's IOMMU on nesting-parent HWPT hwpt; -EOPNOTSUPP where the IOMMU has none (VT-d). */
int ib_viommu_alloc(ib_client *c, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_viommu);
/* A vDEVICE: the device as the guest names it (virt_id) behind the vIOMMU. */
int ib_vdevice_alloc(ib_client *c, uint32_t viommu, uint32_t dev_id, uint64_t virt_id, uint32_t *ret_vdevice);
/* Frees a vIOMMU before the session ends; -EBUSY while a vDEVICE or a nested HWPT is on it. */
int ib_viommu_free(ib_client *c, uint32_t viommu);
/* Frees a vDEVICE before the session ends. */
int ib_vdevice_free(ib_client *c, uint32_t vdevice);

/*
 * Attaches the device's vPASID to HWPT pt_id (allocated with IB_HWPT_PASID), or
 * moves it there without a gap if attached already; *ret_pasid is the
 * physical PASID the broker chose.
 */
int ib_pasid_attach(ib_client *c, uint32_t dev_id, uint32_t vpasid, uint32_t pt_id, uint32_t *ret_pasid);
int ib_pasid_detach(ib_client *c, uint32_t dev_id, uint32_t vpasid);
/* vPASID -> physical PASID and page table, for programming PASID translation. */
int ib_pasid_lookup(ib_client *c, uint32_t dev_id, uint32_t vpasid, uint32_t *ret_pasid, uint32_t *ret_pt);

/* ------------------------------------------------------------------ asynchronous verbs */

typedef struct ib_result {
        int error;                      /* 0 or -errno */
        const char *message;            /* the broker's sentence on failure, else "" */
        uint32_t ioas;                  /* ioas_alloc */
        uint64_t iova;                  /* map, copy (dst) */
        uint64_t length;                /* unmap */
} ib_result;

/* Runs from ib_client_process() (or inside a synchronous call) once the reply is in. */
typedef void (*ib_callback)(ib_client *c, const ib_result *result, void *userdata);

int ib_ioas_alloc_async(ib_client *c, const ib_ioas_alloc_args *args, ib_callback cb, void *userdata);
int ib_ioas_free_async(ib_client *c, uint32_t ioas, ib_callback cb, void *userdata);
/*
 * Until it is sent, a queued request holds a duplicate of its memfd, one
 * shared by every queued request of the same open memfd (same file, same
 * access mode); the caller may close its own fd at once.
 */
int ib_map_async(ib_client *c, uint32_t ioas, int memfd, uint64_t offset, uint64_t length,
                 unsigned flags, uint64_t iova, ib_callback cb, void *userdata);
/* Holds no fd at all: as many may be queued as memory allows. */
int ib_map_mem_async(ib_client *c, uint32_t ioas, uint32_t mem, uint64_t offset, uint64_t length,
                     unsigned flags, uint64_t iova, ib_callback cb, void *userdata);
int ib_unmap_async(ib_client *c, uint32_t ioas, uint64_t iova, uint64_t length, ib_callback cb,
                   void *userdata);
int ib_copy_async(ib_client *c, uint32_t dst_ioas, uint32_t src_ioas, uint64_t src_iova,
                  uint64_t length, unsigned flags, uint64_t dst_iova, ib_callback cb, void *userdata);

/* Requests sent or queued whose reply has not arrived (each operation of a coalesced Batch counts). */
size_t ib_client_pending(ib_client *c);
/*
 * Coalescing (on by default): ib_map_mem_async() and ib_unmap_async()
 * made while another request is in flight wait, and go together as one
 * Batch (each operation still runs and is answered on its own, in order) at
 * the next ib_client_process(), other request or max_batch_ops.  Off: every
 * request goes alone at once.  Turning it off sends what waits.
 */
int ib_client_set_coalescing(ib_client *c, bool on);

#ifdef __cplusplus
}
#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.h - the one small interface both IOMMU backends implement.
 *
 * Owns: BackendOps and the thin wrappers the object layer calls.  A Backend is
 * the whole IOMMU side (for "kernel": access to /dev/iommu); a BackendCtx is
 * one iommufd context (one open of /dev/iommu), and every session gets its
 * own, never shared.  Object ids are per context and start at 1, as the
 * kernel's are.
 *
 * Every call returns 0 (or a positive count) on success and the kernel's
 * -errno on failure; the simulated backend returns the errno the kernel would.
 * Must never: log above debug, know about sessions, tenants or the wire.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

typedef struct BackendConfig {
        const char *iommu_path;         /* kernel: the iommufd node, default /dev/iommu */
        bool sim_no_map_file;           /* sim: behave like a kernel before 6.13 (no MAP_FILE) */
} BackendConfig;

struct Backend {
        const BackendOps *ops;
        uint64_t features;              /* BACKEND_FEATURE_* */
};

struct BackendCtx {
        Backend *backend;
};

struct BackendOps {
        const char *name;

        /* Opens the IOMMU side; -ENODEV with a kernel lacking iommufd. */
        int (*open)(const BackendConfig *config, Backend **ret);
        void (*close)(Backend *b);

        /* A new iommufd context; ctx_free() destroys every object in it. */
        int (*ctx_new)(Backend *b, BackendCtx **ret);
        void (*ctx_free)(BackendCtx *ctx);

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
};

extern const BackendOps backend_kernel_ops;
extern const BackendOps backend_sim_ops;

/* The ops named "kernel" or "sim", NULL otherwise. */
const BackendOps *backend_ops_by_name(const char *name);

static inline const char *backend_name(const Backend *b) {
        return b->ops->name;
}

static inline bool backend_has(const Backend *b, uint64_t feature) {
        return (b->features & feature) != 0;
}

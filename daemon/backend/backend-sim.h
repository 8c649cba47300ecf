/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-sim.h - test hooks of the simulated IOMMU backend.
 *
 * Owns: the fail-nth fault hook, the dirty-page hook, the device-fd protocol
 * through which a test plays a client's VFIO ioctls and the state counters of
 * the sim (sim-ops.c and its sim-*.c files), and the constants of the
 * IOMMU it models.  The ops themselves are backend_sim_ops, declared in
 * backend.h.
 * Must never: be included by anything but the sim's files and tests.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/*
 * The IOVA range every sim device reserves while its RID is attached to a
 * HWPT of an IOAS: the Intel IOMMU's IOAPIC/MSI window (intel/iommu.c
 * intel_iommu_get_resv_regions, IOAPIC_RANGE_START..END).
 */
#define BACKEND_SIM_MSI_START UINT64_C(0xfee00000)
#define BACKEND_SIM_MSI_LAST UINT64_C(0xfeefffff)
/* The last IOVA of a sim domain's aperture: a 4-level second-stage table, 48 bits. */
#define BACKEND_SIM_APERTURE_LAST ((UINT64_C(1) << 48) - 1)

/* The environment variable open() reads to set backend_sim_fail_nth. */
#define BACKEND_SIM_FAIL_NTH_ENV "IB_SIM_FAIL_NTH"

/*
 * backend_sim_fail_nth - fault injection for fail-nth tests.
 *
 * When > 0, every fallible call of the sim backend (all ops but close, ctx_fd and
 * ctx_free; not the device-op datagrams below) decrements it, and the call that brings it to 0 fails with
 * -ENOMEM before it looks at its arguments or changes anything: 1 fails the
 * next call, 2 the one after.  0 (the default) or less disables the hook.
 * open() sets it from $IB_SIM_FAIL_NTH when that is set.  Not thread-safe,
 * like the rest of the sim.
 */
extern int backend_sim_fail_nth;

/* The environment variable open() reads to share a second fail-nth counter with a test process. */
#define BACKEND_SIM_FAIL_NTH_FILE_ENV "IB_SIM_FAIL_NTH_FILE"

/*
 * $IB_SIM_FAIL_NTH_FILE - fail-nth armed at run time, from outside the daemon.
 *
 * backend_sim_fail_nth lives in the daemon's memory, and $IB_SIM_FAIL_NTH sets
 * it once, at open, where it also counts the daemon's own start-up calls.  To
 * sweep fail-nth through the verbs and teardown paths of a running broker, a
 * test names a file of at least 4 bytes in $IB_SIM_FAIL_NTH_FILE; open()
 * maps its first 4 bytes shared (and closes the fd) as a second counter, an
 * int32_t in native byte order, that works exactly like backend_sim_fail_nth
 * and independently of it: while it is > 0 every fallible call decrements
 * it, and the call that brings it to 0 fails with -ENOMEM.  The test arms it
 * by writing N into the file (pwrite) while the daemon is idle, lets the
 * daemon run, and reads it back as the kernel's fail-nth file reads: 0 once
 * the armed call failed (or when it was never armed), else the count left.
 * So it never fires twice, and "still > 0 after the run" means the run made
 * fewer than N fallible calls.  A missing or short file fails open() with the
 * -errno (-EINVAL if short).  close() unmaps it.
 *
 * A test hook, like the rest of this header: only the environment of the
 * daemon's process arms it; no verb reaches it, and the kernel backend has
 * nothing like it.
 */

/*
 * backend_sim_mark_dirty - a device's DMA writes to [iova, iova + length) of
 * the paging HWPT hwpt, for tests (the sim's IOMMU_TEST_OP_DIRTY).
 *
 * While dirty tracking is enabled on hwpt, the IOMMU sets the dirty bit of
 * every 4 KiB page of the range that is mapped writeable; otherwise nothing
 * happens, as with the hardware.  iova and length must be 4 KiB aligned.
 * Returns the number of pages newly marked, -ENOENT if hwpt is no paging HWPT
 * of ctx, -EINVAL, -ENOMEM.  Never reached by the broker: no verb calls it.
 */
int backend_sim_mark_dirty(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length);

/*
 * The device ioctls a client can issue on its VFIO device fd, played by a
 * test.  A sim device fd is one end of a SOCK_SEQPACKET socketpair whose other
 * end the sim keeps (see the Theory of Operation in sim-ctx.c); whoever
 * holds a copy of the device fd (the broker's client, in the daemon) writes one
 * BackendSimDeviceOp datagram to it, and the sim performs it exactly as the
 * kernel's VFIO_DEVICE_ATTACH_IOMMUFD_PT (op ATTACH: pasid BACKEND_NO_PASID
 * for the RID, pt_id an IOAS or a HWPT id) or VFIO_DEVICE_DETACH_IOMMUFD_PT
 * (op DETACH) on that fd would, in the context the device is bound in,
 * whether the broker still has that context open or has closed it: the ids
 * are that context's.  It then writes back one BackendSimDeviceReply.
 *
 * The kernel runs the ioctl when it is issued; the sim runs it when it next
 * reaps, which is at the start of device_list, device_bind, device_probe,
 * ctx_new, ctx_free and ctx_adopt, and in backend_sim_stats() (the daemon reaches that
 * through DeviceList, DeviceOpen, session start and session end).  A
 * datagram of the wrong size is answered -EINVAL, an unknown op -ENOTTY (as
 * an unknown ioctl is).  A reply the holder does not read is dropped once its
 * socket buffer is full; one to a holder that closed the fd is dropped.
 */
enum {
        BACKEND_SIM_DEVICE_OP_ATTACH = 1,
        BACKEND_SIM_DEVICE_OP_DETACH = 2,
};

typedef struct BackendSimDeviceOp {
        uint32_t op;                    /* BACKEND_SIM_DEVICE_OP_* */
        uint32_t pasid;                 /* BACKEND_NO_PASID: the RID */
        uint32_t pt_id;                 /* ATTACH: an IOAS or a HWPT of the device's context */
} BackendSimDeviceOp;

typedef struct BackendSimDeviceReply {
        int32_t err;                    /* 0 or -errno: what the ioctl would have returned */
        uint32_t hwpt;                  /* ATTACH: the HWPT now in use (pt_id, or the automatic one) */
} BackendSimDeviceReply;

/* What the model holds now, over every alive context of a backend. */
typedef struct BackendSimStats {
        size_t contexts;                /* alive: open, or closed but held by a bound device */
        size_t closed_contexts;         /* of them, those whose every fd copy is closed, held by a device */
        size_t objects;                 /* every object of every alive context */
        size_t ioases;
        size_t hwpts;                   /* paging and nested, automatic ones too */
        size_t devices;                 /* bound devices */
        size_t areas;                   /* mapped areas over all IOASes */
        uint64_t mapped_bytes;
} BackendSimStats;

/*
 * backend_sim_stats - count the model's state into *ret, for tests.
 *
 * Reaps first (so device fds closed and device-op datagrams sent since the
 * last reap are accounted for), then counts.  Not subject to
 * backend_sim_fail_nth.  Never reached by the broker.
 */
void backend_sim_stats(Backend *b, BackendSimStats *ret);

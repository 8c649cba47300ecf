/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-sim.h - test hooks of the simulated IOMMU backend.
 *
 * Owns: the fail-nth fault hook and the dirty-page hook of backend-sim.c, and
 * the constants of the IOMMU it models.  The ops themselves are backend_sim_ops, declared in
 * backend.h.
 * Must never: be included by anything but backend-sim.c and tests.
 */
#pragma once

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
 * When > 0, every fallible call of the sim backend (all ops but close and
 * ctx_free) decrements it, and the call that brings it to 0 fails with
 * -ENOMEM before it looks at its arguments or changes anything: 1 fails the
 * next call, 2 the one after.  0 (the default) or less disables the hook.
 * open() sets it from $IB_SIM_FAIL_NTH when that is set.  Not thread-safe,
 * like the rest of the sim.
 */
extern int backend_sim_fail_nth;

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

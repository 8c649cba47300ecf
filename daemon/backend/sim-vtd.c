/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-vtd.c - the VT-d unit every sim device sits behind: its registers, PASIDs and groups.
 *
 * Owns: the capability registers a device's unit shows (IOMMU_GET_HW_INFO),
 * how many PASIDs a device has, and which devices share an iommu_group.
 * Must never: change anything: each answer is a function of the configured
 * devices alone.
 *
 * DOC: Theory of Operation
 *
 * Every sim device sits behind the same VT-d unit, whose registers differ
 * per device only in the bits that BackendDeviceInfo configures (snoop
 * control, nesting, dirty tracking); the unit has no first-stage tables
 * (ecap FLTS is 0, as on QEMU's default vIOMMU), so every domain is a
 * second-stage one with an aperture of [0, 2^48 - 1] and 4 KiB pages, and a
 * domain is compatible with a device unless it needs a feature the device's
 * registers lack (intel/iommu.c paging_domain_compatible_second_stage).
 * So every device reserves the same IOAPIC/MSI window and every paging HWPT
 * the same range above its aperture: an IOAS's reserved ranges are decided
 * by two counts, the devices whose RID is attached through it and the paging
 * HWPTs on it.
 */
#include <stdbool.h>
#include <stdint.h>

#include "backend/sim-vtd.h"

/*
 * The VT-d unit every sim device sits behind.  The PCI PASID capability
 * allows at most 20 bits, and the unit's ecap PSS says 20 (intel/dmar.c:
 * max_pasids = 2 << PSS), so a device's max_pasids is 1 << min(width, 20)
 * (iommu.c dev_iommu_get_max_pasids).
 */
#define SIM_PASID_BITS_MAX 20

/* ecap and cap bits the model reads (intel/iommu.h ecap_*, cap_*). */
#define SIM_ECAP_SC (UINT64_C(1) << 7)          /* snoop control: IOMMU_CAP_ENFORCE_CACHE_COHERENCY */
#define SIM_ECAP_NEST (UINT64_C(1) << 26)       /* nested translation: nested_supported() */
#define SIM_ECAP_SLADS (UINT64_C(1) << 45)      /* second-stage A/D bits: ssads_supported() */

/**
 * sim_vtd_regs() - the VT-d capability registers a device's unit shows.
 * @info: the device
 * @ret_cap: the Capability Register
 * @ret_ecap: the Extended Capability Register
 *
 * Made up, after QEMU's intel-iommu in scalable mode with 48-bit addresses:
 * second-stage tables only (FLTS 0, so no FL1GP or FL5LP either), 20-bit
 * PASIDs, no device TLB (DT 0: ATS cannot be used), no supervisor requests
 * (SRS 0) and no extended access flags (EAFS 0).  SC, NEST and SLADS follow
 * the device's snoop_control, nesting and dirty_tracking.  The kernel derives
 * from them: nested_supported = SMTS && NEST, ssads_supported = SMTS && SLADS
 * && SMPWC, pasid_supported = SMTS && PASID, max_pasids = 2 << PSS.
 */
void sim_vtd_regs(const BackendDeviceInfo *info, uint64_t *ret_cap, uint64_t *ret_ecap) {
        uint64_t cap = 0, ecap = 0;

        cap |= UINT64_C(6);                     /* ND: 64Ki domain ids */
        cap |= UINT64_C(0x6) << 8;              /* SAGAW: 3- and 4-level tables */
        cap |= UINT64_C(47) << 16;              /* MGAW: 48 bits */
        cap |= UINT64_C(0x22) << 24;            /* FRO: fault recording registers at 0x220 */
        cap |= UINT64_C(0x3) << 34;             /* SSLPS: 2 MiB and 1 GiB second-stage pages */
        cap |= UINT64_C(1) << 39;               /* PSI: page-selective invalidation */
        cap |= UINT64_C(18) << 48;              /* MAMV */

        ecap |= UINT64_C(1) << 0;               /* C: coherent page walks */
        ecap |= UINT64_C(1) << 1;               /* QI: queued invalidation */
        ecap |= UINT64_C(1) << 3;               /* IR: interrupt remapping (MSIs are isolated) */
        ecap |= UINT64_C(1) << 4;               /* EIM */
        ecap |= UINT64_C(1) << 6;               /* PT: pass-through */
        if (info->snoop_control)
                ecap |= SIM_ECAP_SC;
        ecap |= UINT64_C(0x50) << 8;            /* IRO: IOTLB registers at 0x500 */
        ecap |= UINT64_C(0xf) << 20;            /* MHMV */
        if (info->nesting)
                ecap |= SIM_ECAP_NEST;
        ecap |= (uint64_t) (SIM_PASID_BITS_MAX - 1) << 35;     /* PSS: 20-bit PASIDs */
        ecap |= UINT64_C(1) << 40;              /* PASID */
        ecap |= UINT64_C(1) << 43;              /* SMTS: scalable mode */
        if (info->dirty_tracking)
                ecap |= SIM_ECAP_SLADS;
        ecap |= UINT64_C(1) << 46;              /* SLTS: second-stage tables */
        ecap |= UINT64_C(1) << 48;              /* SMPWC: scalable-mode coherent page walks */

        *ret_cap = cap;
        *ret_ecap = ecap;
}

/*
 * dev->iommu->max_pasids: min(pci_max_pasids, the unit's 2 << PSS) (iommu.c
 * dev_iommu_get_max_pasids); 0 for a device without PASIDs.
 */
uint32_t sim_max_pasids(const BackendDeviceInfo *info) {
        unsigned width = info->pasid_width < SIM_PASID_BITS_MAX ? info->pasid_width : SIM_PASID_BITS_MAX;

        return width > 0 ? UINT32_C(1) << width : 0;
}

/* Whether two configured devices are in one iommu_group (an unknown group, -1, is a device's own). */
bool sim_same_group(const SimSlot *a, const SimSlot *b) {
        return a == b || (a->info.iommu_group >= 0 && a->info.iommu_group == b->info.iommu_group);
}

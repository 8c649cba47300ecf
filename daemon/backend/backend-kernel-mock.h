/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-kernel-mock.h - the kernel backend's test-only mock devices.
 *
 * Owns: the interface between backend-kernel.c and the file that implements
 * mock devices.  With configure --with-iommufd-selftest=DIR that file is
 * backend-kernel-mock.c: devices made by the kernel's iommufd test driver
 * (CONFIG_IOMMUFD_TEST, IOMMU_TEST_CMD on the session's own iommufd), so
 * HWPT, nesting, dirty tracking and PASID verbs run against real kernel code
 * where there is no such hardware.  Without it, backend-kernel-nomock.c: there
 * are none, and asking for them is refused.
 *
 * A mock device lives inside one iommufd context: binding creates it there,
 * unbinding destroys it.  The test driver cannot bind a device without
 * attaching it, so bind also allocates a private IOAS with a PASID-capable
 * HWPT on it (never visible to the client, which cannot name them: the broker
 * knows only the ids it handed out) and attaches the device there; "detached"
 * means attached to that HWPT of the empty private IOAS again.  The device fd handed to the client is a placeholder
 * memfd, as the sim's.
 *
 * Must never: log, or be used for anything but tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* The mock devices bound in one context (a list; NULL: none). */
typedef struct KernelMockDev KernelMockDev;

/* 0 if iommufd fd has the test driver, -EOPNOTSUPP if not (or not built in). */
int kernel_mock_probe(int iommufd);

/* Appends n mock devices, "ffff:00:00.0" onwards, to *list of *n_list entries. */
int kernel_mock_device_list(unsigned n, BackendDeviceInfo **list, size_t *n_list);

/* Creates the mock device in iommufd, on its private IOAS; as BackendOps.device_bind. */
int kernel_mock_bind(int iommufd, KernelMockDev **devs, int *ret_fd, uint32_t *ret_dev_id);

/* The mock device with id dev_id in devs, NULL if dev_id is no mock device. */
KernelMockDev *kernel_mock_find(KernelMockDev *devs, uint32_t dev_id);

/* As BackendOps.device_attach and device_detach. */
int kernel_mock_attach(int iommufd, KernelMockDev *d, uint32_t pasid, uint32_t pt_id, uint32_t *ret_hwpt);
int kernel_mock_detach(int iommufd, KernelMockDev *d, uint32_t pasid);

/* Destroys the mock device and its private IOAS, and forgets it. */
int kernel_mock_unbind(int iommufd, KernelMockDev **devs, KernelMockDev *d);

/* Forgets every mock device of a context whose iommufd is closed (the kernel destroys them). */
void kernel_mock_forget_all(KernelMockDev **devs);

/*
 * The test driver's IOMMU_TEST_OP_DIRTY on paging HWPT hwpt of iommufd,
 * standing in for a device's DMA writes: marks dirty the page_size pages of
 * [iova, iova + length) whose bits are set in bitmap (u64 words).  Returns the
 * number marked.
 */
int kernel_mock_mark_dirty(int iommufd, uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t page_size,
                           const void *bitmap);

/*
 * Called by the kernel backend once IOMMU_HWPT_SET_DIRTY_TRACKING turned
 * tracking on for hwpt.  With IB_KERNEL_MOCK_DIRTY_EVERY=N (a number above
 * 0) in the broker's environment it marks dirty, through
 * kernel_mock_mark_dirty(), every 4 KiB page of the mock aperture whose IOVA
 * / 4096 is a multiple of N, as if a device had written them the moment
 * tracking began: a client's HwptGetDirtyBitmap then finds exactly those of
 * its mapped pages (unmapped ones cannot be marked), and a second, clearing
 * read none.  This is how the guest suite proves the bitmap's path through
 * the socket on real kernel code.  Does nothing without the variable, on a
 * HWPT that is no mock page table, or in a build without mock devices;
 * failures are ignored (tracking is on all the same).
 */
void kernel_mock_dirty_tracking_enabled(int iommufd, uint32_t hwpt);

/* Test hook for tests/vm/test-kernel-mock.c: kernel_mock_mark_dirty() in ctx (kernel backend only). */
int backend_kernel_mock_mark_dirty(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                                   uint64_t page_size, const void *bitmap);

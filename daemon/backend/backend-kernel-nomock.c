/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-kernel-nomock.c - the kernel backend without mock devices.
 *
 * Owns: the answers of backend-kernel-mock.h in a build without
 * --with-iommufd-selftest: there are no mock devices, and asking for them is
 * refused (the broker says so at start).
 */
#include <errno.h>

#include "backend/backend-kernel-mock.h"

bool backend_kernel_mock_built_in(void) {
        return false;
}

int kernel_mock_probe(int iommufd) {
        return -EOPNOTSUPP;
}

int kernel_mock_device_list(unsigned n, BackendDeviceInfo **list, size_t *n_list) {
        return n > 0 ? -EOPNOTSUPP : 0;
}

int kernel_mock_bind(int iommufd, KernelMockDev **devs, int *ret_fd, uint32_t *ret_dev_id) {
        return -EOPNOTSUPP;
}

KernelMockDev *kernel_mock_find(KernelMockDev *devs, uint32_t dev_id) {
        return NULL;
}

int kernel_mock_attach(int iommufd, KernelMockDev *d, uint32_t pasid, uint32_t pt_id, uint32_t *ret_hwpt) {
        return -EOPNOTSUPP;
}

int kernel_mock_detach(int iommufd, KernelMockDev *d, uint32_t pasid) {
        return -EOPNOTSUPP;
}

int kernel_mock_unbind(int iommufd, KernelMockDev **devs, KernelMockDev *d) {
        return -EOPNOTSUPP;
}

void kernel_mock_forget_all(KernelMockDev **devs) {
}

int kernel_mock_mark_dirty(int iommufd, uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t page_size,
                           const void *bitmap) {
        return -EOPNOTSUPP;
}

void kernel_mock_dirty_tracking_enabled(int iommufd, uint32_t hwpt) {
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-kernel-mock.c - mock devices of the kernel's iommufd test driver.
 *
 * Owns: the IOMMU_TEST_CMD calls behind backend-kernel-mock.h (see there for
 * the model).  Built only with configure --with-iommufd-selftest=DIR, DIR
 * being the kernel source's drivers/iommu/iommufd, whose iommufd_test.h is
 * the test driver's uAPI; a kernel needs CONFIG_IOMMUFD_TEST for it.
 *
 * Each mock device is created with MOCK_FLAGS_DEVICE_PASID, so it has the
 * mock IOMMU's PASID width; the mock IOMMU does dirty tracking and nesting
 * (nested data type IOMMU_HWPT_DATA_SELFTEST), and reports
 * IOMMU_HW_INFO_TYPE_SELFTEST.  Its replace and PASID verbs go through the
 * test driver (IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, IOMMU_TEST_OP_PASID_*);
 * everything else (HW info, HWPT allocation, dirty tracking) is the ordinary
 * iommufd ioctl with the device's id.  Dirty pages, which the mock IOMMU has
 * no device to write, are marked by the test driver (IOMMU_TEST_OP_DIRTY):
 * for a test of the backend directly, or, with IB_KERNEL_MOCK_DIRTY_EVERY in
 * the environment, in a pattern whenever tracking starts (see the header).
 * Must never: log, or be used for anything but tests.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* memfd_create(), reallocarray() */
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "iommufd_test.h"               /* from the kernel source: --with-iommufd-selftest=DIR */

#include "backend/backend-kernel-mock.h"
#include "common/macro.h"

/* A device name parses as a PCI address: domain ffff, then slot and function from the index. */
#define MOCK_DEVICES_MAX 256

struct KernelMockDev {
        KernelMockDev *next;
        uint32_t idev_id;               /* the iommufd device id: what the broker calls dev_id */
        uint32_t stdev_id;              /* the test driver's object: destroying it unbinds */
        uint32_t park_ioas;             /* the private IOAS of an unattached device */
        uint32_t park_hwpt;             /* on it, the PASID-capable HWPT an unattached device is on */
        uint32_t *pasids;               /* PASIDs attached now */
        size_t n_pasids;
};

bool backend_kernel_mock_built_in(void) {
        return true;
}

static int test_cmd(int iommufd, struct iommu_test_cmd *cmd) {
        cmd->size = sizeof(*cmd);
        if (ioctl(iommufd, IOMMU_TEST_CMD, cmd) < 0)
                return negative_errno();
        return 0;
}

static int destroy(int iommufd, uint32_t id) {
        struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

        if (ioctl(iommufd, IOMMU_DESTROY, &cmd) < 0)
                return negative_errno();
        return 0;
}

int kernel_mock_probe(int iommufd) {
        uint32_t arg[4] = {};

        /* size 0 is below the command's minimum: EINVAL if the test driver is there, ENOTTY if not */
        if (ioctl(iommufd, IOMMU_TEST_CMD, arg) < 0 && errno == ENOTTY)
                return -EOPNOTSUPP;
        return 0;
}

int kernel_mock_device_list(unsigned n, BackendDeviceInfo **list, size_t *n_list) {
        BackendDeviceInfo *a;

        if (n == 0)
                return 0;
        if (n > MOCK_DEVICES_MAX)
                return -E2BIG;
        a = reallocarray(*list, *n_list + n, sizeof(*a));
        if (!a)
                return -ENOMEM;
        *list = a;
        for (unsigned i = 0; i < n; i++) {
                BackendDeviceInfo *info = &a[(*n_list)++];

                *info = (BackendDeviceInfo) {
                        .iommu_group = -1,
                        .pasid_width = MOCK_PASID_WIDTH,
                        .kernel_mock = true,
                };
                snprintf(info->name, sizeof(info->name), "ffff:00:%02x.%x", i / 8, i % 8);
                snprintf(info->cdev, sizeof(info->cdev), "iommufd-mock:%u", i);
        }
        return 0;
}

int kernel_mock_bind(int iommufd, KernelMockDev **devs, int *ret_fd, uint32_t *ret_dev_id) {
        struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
        struct iommu_test_cmd cmd = { .op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS };
        struct iommu_hwpt_alloc hwpt = { .size = sizeof(hwpt), .flags = IOMMU_HWPT_ALLOC_PASID };
        _cleanup_free_ KernelMockDev *d = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        fd = memfd_create("iommufd-mock-device", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc) < 0)
                return negative_errno();
        d->park_ioas = alloc.out_ioas_id;

        cmd.id = d->park_ioas;
        cmd.mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_PASID;
        r = test_cmd(iommufd, &cmd);
        if (r < 0) {
                (void) destroy(iommufd, d->park_ioas);
                return r;
        }
        d->stdev_id = cmd.mock_domain_flags.out_stdev_id;
        d->idev_id = cmd.mock_domain_flags.out_idev_id;
        hwpt.dev_id = d->idev_id;
        hwpt.pt_id = d->park_ioas;

        /*
         * The IOAS's automatic HWPT cannot take PASIDs beside it (a VFIO device
         * that is not attached can): park the device on one that can instead.
         */
        r = ioctl(iommufd, IOMMU_HWPT_ALLOC, &hwpt) < 0 ? negative_errno() : 0;
        if (r >= 0) {
                d->park_hwpt = hwpt.out_hwpt_id;
                cmd = (struct iommu_test_cmd) {
                        .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
                        .id = d->stdev_id,
                        .mock_domain_replace.pt_id = d->park_hwpt,
                };
                r = test_cmd(iommufd, &cmd);
        }
        if (r < 0) {
                (void) destroy(iommufd, d->stdev_id);
                if (d->park_hwpt)
                        (void) destroy(iommufd, d->park_hwpt);
                (void) destroy(iommufd, d->park_ioas);
                return r;
        }

        *ret_dev_id = d->idev_id;
        *ret_fd = TAKE_FD(fd);
        d->next = *devs;
        *devs = TAKE_PTR(d);
        return 0;
}

KernelMockDev *kernel_mock_find(KernelMockDev *devs, uint32_t dev_id) {
        for (KernelMockDev *d = devs; d; d = d->next)
                if (d->idev_id == dev_id)
                        return d;
        return NULL;
}

static ssize_t pasid_index(const KernelMockDev *d, uint32_t pasid) {
        for (size_t i = 0; i < d->n_pasids; i++)
                if (d->pasids[i] == pasid)
                        return (ssize_t) i;
        return -1;
}

int kernel_mock_attach(int iommufd, KernelMockDev *d, uint32_t pasid, uint32_t pt_id, uint32_t *ret_hwpt) {
        struct iommu_test_cmd cmd = { .id = d->stdev_id };
        uint32_t *a;
        bool replace;
        int r;

        if (pasid == BACKEND_NO_PASID) {
                /* a mock device is always attached to something: this is a replace */
                cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
                cmd.mock_domain_replace.pt_id = pt_id;
                r = test_cmd(iommufd, &cmd);
                if (r < 0)
                        return r;
                *ret_hwpt = cmd.mock_domain_replace.pt_id;
                return 0;
        }

        replace = pasid_index(d, pasid) >= 0;
        if (!replace) {
                a = reallocarray(d->pasids, d->n_pasids + 1, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                d->pasids = a;
        }
        cmd.op = replace ? IOMMU_TEST_OP_PASID_REPLACE : IOMMU_TEST_OP_PASID_ATTACH;
        cmd.pasid_attach.pasid = pasid;
        cmd.pasid_attach.pt_id = pt_id;
        r = test_cmd(iommufd, &cmd);
        if (r < 0)
                return r;
        if (!replace)
                d->pasids[d->n_pasids++] = pasid;
        *ret_hwpt = cmd.pasid_attach.pt_id;
        return 0;
}

int kernel_mock_detach(int iommufd, KernelMockDev *d, uint32_t pasid) {
        struct iommu_test_cmd cmd = { .id = d->stdev_id };
        ssize_t i;
        int r;

        if (pasid == BACKEND_NO_PASID) {
                uint32_t hwpt;

                /* back to the empty private IOAS: no translation the client set up is left */
                return kernel_mock_attach(iommufd, d, BACKEND_NO_PASID, d->park_hwpt, &hwpt);
        }
        i = pasid_index(d, pasid);
        if (i < 0)
                return -ENOENT;
        cmd.op = IOMMU_TEST_OP_PASID_DETACH;
        cmd.pasid_detach.pasid = pasid;
        r = test_cmd(iommufd, &cmd);
        if (r < 0)
                return r;
        d->pasids[i] = d->pasids[--d->n_pasids];
        return 0;
}

int kernel_mock_mark_dirty(int iommufd, uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t page_size,
                           const void *bitmap) {
        struct iommu_test_cmd cmd = {
                .op = IOMMU_TEST_OP_DIRTY,
                .id = hwpt,
                .dirty = {
                        .iova = iova,
                        .length = length,
                        .page_size = page_size,
                        .uptr = (uintptr_t) bitmap,
                },
        };
        int r;

        r = test_cmd(iommufd, &cmd);
        if (r < 0)
                return r;
        return (int) cmd.dirty.out_nr_dirty;
}

/* The environment variable of kernel_mock_dirty_tracking_enabled(): mark every Nth page. */
#define MOCK_DIRTY_EVERY_ENV "IB_KERNEL_MOCK_DIRTY_EVERY"

void kernel_mock_dirty_tracking_enabled(int iommufd, uint32_t hwpt) {
        const uint64_t first = MOCK_APERTURE_START / 4096;
        const uint64_t pages = (MOCK_APERTURE_LAST + 1 - MOCK_APERTURE_START) / 4096;
        _cleanup_free_ uint64_t *bitmap = NULL;
        const char *e = getenv(MOCK_DIRTY_EVERY_ENV);
        unsigned long every;
        char *end;

        if (!e || !*e)
                return;
        errno = 0;
        every = strtoul(e, &end, 10);
        if (errno != 0 || *end || every == 0)
                return;
        bitmap = calloc((pages + 63) / 64, sizeof(uint64_t));
        if (!bitmap)
                return;
        for (uint64_t p = (first + every - 1) / every * every; p < first + pages; p += every)
                bitmap[(p - first) / 64] |= UINT64_C(1) << ((p - first) % 64);
        /* a HWPT that is no mock page table is the test driver's ENOENT or EINVAL: nothing to mark */
        (void) kernel_mock_mark_dirty(iommufd, hwpt, MOCK_APERTURE_START, pages * 4096, 4096, bitmap);
}

static void mock_dev_free(KernelMockDev *d) {
        free(d->pasids);
        free(d);
}

int kernel_mock_unbind(int iommufd, KernelMockDev **devs, KernelMockDev *d) {
        int r;

        for (KernelMockDev **p = devs; *p; p = &(*p)->next)
                if (*p == d) {
                        *p = d->next;
                        break;
                }
        /* the test driver detaches every PASID and the device, then unbinds it */
        r = destroy(iommufd, d->stdev_id);
        if (r >= 0)
                r = destroy(iommufd, d->park_hwpt);
        if (r >= 0)
                r = destroy(iommufd, d->park_ioas);
        mock_dev_free(d);
        return r;
}

void kernel_mock_forget_all(KernelMockDev **devs) {
        while (*devs) {
                KernelMockDev *d = *devs;

                *devs = d->next;
                mock_dev_free(d);
        }
}

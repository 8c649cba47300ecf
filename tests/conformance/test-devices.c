/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-devices.c - the device, HWPT and PASID conformance suite.
 *
 * Runs against the sim backend (started here) or, with --socket=PATH, a
 * running broker (the kernel backend in the QEMU guest, where the device is
 * QEMU's edu behind an emulated VT-d).  The device is --device=NAME or the
 * first one listed.  Where what the IOMMU can do differs between machines
 * (nesting, dirty tracking, PASIDs, snoop control), each test reads HwInfo
 * first and asserts the answer that capability implies.  In the guest it also
 * runs on a mock device of the kernel's iommufd test driver
 * (--kernel-mock-devices), whose IOMMU nests with its own data type.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* F_GET_SEALS */
#endif

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"
#include "tests/lib/util-device.h"

static TestBroker broker;
static char device[32];

/*
 * The kernel's iommufd test driver (CONFIG_IOMMUFD_TEST): the IOMMU type its
 * mock devices report (IOMMU_HW_INFO_TYPE_SELFTEST), its nested data type
 * (IOMMU_HWPT_DATA_SELFTEST) and that data's default IOTLB tag; see the
 * kernel's drivers/iommu/iommufd/iommufd_test.h.
 */
#define MOCK_IOMMU_TYPE 0xfeedbeefU
#define MOCK_HWPT_DATA 0xdeadU
#define MOCK_IOTLB_DEFAULT 0xbadbeefU
/* its vIOMMU type (IOMMU_VIOMMU_TYPE_SELFTEST), the only one its IOMMU offers */
#define MOCK_VIOMMU_TYPE 0xdeadbeefU

/* The nested data type and stage-1 data for the IOMMU of hw: VT-d's, or the test driver's. */
static uint32_t nested_data(const ib_hw_info *hw, const void **ret_data, size_t *ret_len) {
        static const struct {
                uint64_t flags;
                uint64_t pgtbl_addr;
                uint32_t addr_width;
                uint32_t reserved;
        } vtd_s1 = { .pgtbl_addr = 0x1000, .addr_width = 48 };
        static const struct {
                uint32_t iotlb;
                uint32_t pagetable_type;
        } mock = { .iotlb = MOCK_IOTLB_DEFAULT };

        if (hw->iommu_type == MOCK_IOMMU_TYPE) {
                *ret_data = &mock;
                *ret_len = sizeof(mock);
                return MOCK_HWPT_DATA;
        }
        *ret_data = &vtd_s1;
        *ret_len = sizeof(vtd_s1);
        return IB_HWPT_DATA_VTD_S1;
}

#define CONNECT(c)                                                              \
        ib_client *c = NULL;                                                    \
        if (ib_client_connect(broker.socket, "test-devices", &c) < 0)           \
                TEST_FAIL("cannot connect");

#define OPEN(c, dev, fd)                                                        \
        uint32_t dev = 0;                                                       \
        int fd = -1;                                                            \
        if (ib_device_open(c, device, &dev, &fd) < 0)                           \
                TEST_FAIL("cannot open %s: %s", device, ib_client_error(c));

static uint32_t ioas_new(ib_client *c) {
        uint32_t id = 0;

        return ib_ioas_alloc(c, NULL, &id) < 0 ? 0 : id;
}

/* The device under test as DeviceList shows it now; false if it is not listed. */
static bool device_state(ib_device_info *ret) {
        ib_client *c = NULL;
        ib_device_info list[32];
        size_t n = 32;
        bool found = false;

        if (ib_client_connect(broker.socket, "probe", &c) == 0 && ib_device_list(c, list, &n) == 0)
                for (size_t k = 0; k < n && !found; k++)
                        if (strcmp(list[k].name, device) == 0) {
                                *ret = list[k];
                                found = true;
                        }
        ib_client_free(c);
        return found;
}

/* Waits until the broker has processed earlier hang-ups and the device is free (not in use, not quarantined). */
static bool device_free_again(void) {
        for (int i = 0; i < 200; i++) {
                ib_device_info d;

                if (device_state(&d) && !d.in_use && !d.quarantined)
                        return true;
                usleep(10000);
        }
        return false;
}

/* Whether the device under test is a mock device of the kernel's iommufd test driver (HwInfo tells). */
static bool device_is_mock(void) {
        ib_client *c = NULL;
        ib_hw_info hw = {};
        uint32_t dev = 0;
        int fd = -1;
        bool mock = false;

        if (ib_client_connect(broker.socket, "probe", &c) == 0 && ib_device_open(c, device, &dev, &fd) == 0 &&
            ib_hw_info_get(c, dev, &hw) == 0)
                mock = hw.iommu_type == MOCK_IOMMU_TYPE;
        if (fd >= 0)
                close(fd);
        ib_client_free(c);
        (void) device_free_again();
        return mock;
}

/* Waits until the broker has ended an earlier session whose device fd is still held here. */
static bool device_quarantined(ib_device_info *ret) {
        for (int i = 0; i < 200; i++) {
                if (device_state(ret) && !ret->in_use && ret->quarantined)
                        return true;
                usleep(10000);
        }
        return false;
}

TEST(device_list_names_devices_by_pci_address) {
        ib_device_info list[32];
        size_t n = 32;
        unsigned dom, bus, slot, fn;
        CONNECT(c);

        ASSERT_OK(ib_device_list(c, list, &n));
        ASSERT_TRUE(n >= 1);
        for (size_t i = 0; i < n; i++)
                ASSERT_EQ(sscanf(list[i].name, "%4x:%2x:%2x.%1x", &dom, &bus, &slot, &fn), 4);
        ib_client_free(c);
}

TEST(device_open_hands_over_a_vfio_fd_and_is_exclusive) {
        uint32_t dev2;
        int fd2 = -1;
        CONNECT(a);
        CONNECT(b);
        OPEN(a, dev, fd);

        ASSERT_TRUE(dev > 0);
        ASSERT_TRUE(fcntl(fd, F_GETFD) >= 0);
        ASSERT_ERRNO(EBUSY, ib_device_open(b, device, &dev2, &fd2));
        ASSERT_TRUE(strstr(ib_client_error(b), "another session") != NULL);
        ASSERT_ERRNO(EALREADY, ib_device_open(a, device, &dev2, &fd2));
        ASSERT_ERRNO(ENODEV, ib_device_open(b, "0000:ff:1f.7", &dev2, &fd2));
        close(fd);
        ib_client_free(a);
        ib_client_free(b);
        ASSERT_TRUE(device_free_again());
}

TEST(a_closed_session_frees_the_device_for_the_next) {
        {
                CONNECT(a);
                OPEN(a, dev, fd);
                ASSERT_OK(ib_device_attach(a, dev, ioas_new(a), NULL));
                close(fd);
                ib_client_free(a);
        }
        ASSERT_TRUE(device_free_again());
        {
                CONNECT(b);
                OPEN(b, dev, fd);
                close(fd);
                ASSERT_OK(ib_device_close(b, dev));
                ASSERT_ERRNO(ENOENT, ib_device_close(b, dev));
                ib_client_free(b);
        }
        ASSERT_TRUE(device_free_again());
}

/*
 * The client keeps the device fd the broker handed it past the end of its
 * session.  That fd keeps the device bound to the session's iommufd context
 * and with it the context itself, so the broker must have emptied the
 * context: attaching the device through the fd to the old IOAS finds
 * nothing (with the IOAS alive it would succeed, and DMA would go on through
 * the old mappings).  The device is quarantined, held by this process, and
 * nobody can open it until the fd is closed.
 */
TEST(a_device_fd_kept_past_the_session_reaches_nothing) {
        int memfd = test_memfd("ram", 1 << 16);
        uint64_t iova = 0x1000000;              /* inside every aperture: the mock IOMMU's starts at 16 MiB */
        ib_device_info d;
        uint32_t ioas, dev2;
        int fd2 = -1;

        ASSERT_TRUE(memfd >= 0);
        if (device_is_mock()) {
                tests_skip("a mock device of the kernel's test driver has no VFIO fd to keep");
                close(memfd);
                return;
        }
        CONNECT(a);
        OPEN(a, dev, fd);
        ioas = ioas_new(a);
        ASSERT_OK(ib_map(a, ioas, memfd, 0, 1 << 16, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        ASSERT_OK(ib_device_attach(a, dev, ioas, NULL));
        ib_client_free(a);                      /* the session ends; fd stays open here */

        ASSERT_TRUE(device_quarantined(&d));
        ASSERT_EQ(d.held_by_pid, (int) getpid());
        ASSERT_ERRNO(ENOENT, test_device_fd_attach(broker.socket, fd, ioas));
        {
                CONNECT(b);
                ASSERT_ERRNO(EBUSY, ib_device_open(b, device, &dev2, &fd2));
                ASSERT_TRUE(strstr(ib_client_error(b), "quarantined") != NULL);
                ib_client_free(b);
        }
        close(fd);
        ASSERT_TRUE(device_free_again());
        {
                CONNECT(b);
                OPEN(b, dev3, fd3);
                close(fd3);
                ib_client_free(b);
        }
        close(memfd);
        ASSERT_TRUE(device_free_again());
}

/* The same after DeviceClose in a session that goes on: the broker's attachments are undone. */
TEST(a_device_fd_kept_past_device_close_is_quarantined) {
        ib_device_info d;
        uint32_t ioas;

        if (device_is_mock()) {
                tests_skip("a mock device of the kernel's test driver has no VFIO fd to keep");
                return;
        }
        CONNECT(a);
        OPEN(a, dev, fd);

        ioas = ioas_new(a);
        ASSERT_OK(ib_device_attach(a, dev, ioas, NULL));
        ASSERT_OK(ib_device_close(a, dev));
        ASSERT_TRUE(device_quarantined(&d));
        /* the IOAS is free: the device no longer holds it */
        ASSERT_OK(ib_ioas_free(a, ioas));
        ASSERT_ERRNO(ENOENT, test_device_fd_attach(broker.socket, fd, ioas));
        close(fd);
        ASSERT_TRUE(device_free_again());
        ib_client_free(a);
}

/*
 * A window the device's reserved regions swallow whole: the allowed IOVAs
 * cannot be set again after the attach, so the attach is undone
 * (EADDRNOTAVAIL) and the IOAS keeps its restriction: an IOVA the IOMMU
 * chooses still lies inside the allowed range.  With a range the regions
 * leave room in, the attach goes through and chosen IOVAs stay in it.
 */
TEST(the_window_holds_around_an_attach) {
        ib_ioas_alloc_args a = { .window = IB_IOVA_WINDOW_32BIT };
        ib_iova_range msi = { 0xfee00000, 0xfeefffff }, upper = { 0x40000000, 0xffffffff };
        int memfd = test_memfd("ram", 2 << 20);
        uint64_t iova = 0;
        uint32_t ioas;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_ioas_alloc(c, &a, &ioas));
        ASSERT_OK(ib_allow_iovas(c, ioas, &msi, 1));
        ASSERT_ERRNO(EADDRNOTAVAIL, ib_device_attach(c, dev, ioas, NULL));
        ASSERT_TRUE(strstr(ib_client_error(c), "undone") != NULL);
        ASSERT_ERRNO(ENOENT, ib_device_detach(c, dev));         /* not attached */
        ASSERT_OK(ib_map(c, ioas, memfd, 0, 1 << 20, IB_MAP_READABLE | IB_MAP_WRITEABLE, &iova));
        ASSERT_TRUE(iova >= msi.start && iova + (1 << 20) - 1 <= msi.last);
        ASSERT_OK(ib_unmap(c, ioas, iova, 1 << 20, NULL));

        ASSERT_OK(ib_allow_iovas(c, ioas, &upper, 1));
        ASSERT_OK(ib_device_attach(c, dev, ioas, NULL));
        ASSERT_OK(ib_map(c, ioas, memfd, 0, 2 << 20, IB_MAP_READABLE | IB_MAP_WRITEABLE, &iova));
        ASSERT_TRUE(iova >= upper.start && iova + (2 << 20) - 1 <= upper.last);
        ASSERT_TRUE(iova + (2 << 20) - 1 < msi.start || iova > msi.last);
        ASSERT_OK(ib_device_detach(c, dev));
        close(memfd);
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

/*
 * ib_confine_device_fds(): in a process that confined itself, the VFIO
 * attach, detach and bind ioctls fail with EPERM on every fd, the device fd
 * from the broker included, while the broker still attaches for it.  Runs in
 * a child: the filter can never be lifted.
 */
TEST(a_confined_process_cannot_attach_through_its_device_fd) {
        struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
        struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };
        int status = 0;
        pid_t pid;

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                ib_client *c = NULL;
                uint32_t dev = 0, ioas;
                int fd = -1;

                if (ib_client_connect(broker.socket, "test-devices-confined", &c) < 0 ||
                    ib_device_open(c, device, &dev, &fd) < 0 || (ioas = ioas_new(c)) == 0)
                        _exit(10);
                if (ib_confine_device_fds(0) < 0)
                        _exit(11);
                attach.pt_id = ioas;
                if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) == 0 || errno != EPERM)
                        _exit(12);
                if (ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach) == 0 || errno != EPERM)
                        _exit(13);
                /* other ioctls are not the filter's: FIONREAD is ENOTTY on a device, a count on the sim's socket */
                if (ioctl(fd, FIONREAD, &status) < 0 && errno == EPERM)
                        _exit(14);
                if (ib_device_attach(c, dev, ioas, NULL) < 0)
                        _exit(15);
                close(fd);
                ib_client_free(c);
                _exit(0);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                printf("# the confined child failed at step %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_TRUE(device_free_again());
}

TEST(attach_replace_detach_and_what_is_busy_meanwhile) {
        uint32_t ioas, hwpt = 0, in_use = 0;
        CONNECT(c);
        OPEN(c, dev, fd);

        ioas = ioas_new(c);
        ASSERT_ERRNO(ENOENT, ib_device_attach(c, dev, 77, NULL));
        ASSERT_OK(ib_device_attach(c, dev, ioas, &in_use));
        ASSERT_TRUE(in_use > 0 && in_use != ioas);
        /* the IOAS is in use by the device's page table */
        ASSERT_ERRNO(EBUSY, ib_ioas_free(c, ioas));
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, &hwpt));
        ASSERT_OK(ib_device_attach(c, dev, hwpt, &in_use));   /* a replace, no detach first */
        ASSERT_EQ(in_use, hwpt);
        ASSERT_ERRNO(EBUSY, ib_hwpt_free(c, hwpt));
        ASSERT_OK(ib_device_detach(c, dev));
        ASSERT_ERRNO(ENOENT, ib_device_detach(c, dev));
        ASSERT_OK(ib_hwpt_free(c, hwpt));
        ASSERT_ERRNO(ENOENT, ib_hwpt_free(c, hwpt));
        ASSERT_OK(ib_ioas_free(c, ioas));
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

/*
 * The 32-bit window is the kernel's allowed IOVA list; a device whose reserved
 * regions (the x86 MSI window, an aperture) lie inside it still attaches, and
 * IOVAs the IOMMU then chooses stay in the window and out of those regions.
 */
TEST(a_device_attaches_to_a_32bit_window_ioas) {
        ib_ioas_alloc_args a = { .window = IB_IOVA_WINDOW_32BIT };
        int memfd = test_memfd("ram", 1 << 20);
        uint64_t iova = 0;
        uint32_t ioas;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_ioas_alloc(c, &a, &ioas));
        ASSERT_OK(ib_device_attach(c, dev, ioas, NULL));
        ASSERT_OK(ib_map(c, ioas, memfd, 0, 1 << 20, IB_MAP_READABLE | IB_MAP_WRITEABLE, &iova));
        ASSERT_TRUE(iova + (1 << 20) - 1 <= 0xffffffffULL);
        ASSERT_TRUE(iova + (1 << 20) - 1 < 0xfee00000ULL || iova > 0xfeefffffULL);
        ASSERT_OK(ib_device_detach(c, dev));
        close(memfd);
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(attached_ioas_ranges_leave_out_reserved_regions) {
        ib_iova_range r[64];
        size_t n = 64;
        uint64_t align = 0;
        ib_hw_info hw;
        uint32_t ioas;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        ioas = ioas_new(c);
        ASSERT_OK(ib_device_attach(c, dev, ioas, NULL));
        ASSERT_OK(ib_iova_ranges(c, ioas, r, &n, &align));
        /* the IOMMU's smallest page: the test driver's mock IOMMU has 2 KiB pages */
        ASSERT_TRUE(align >= (hw.iommu_type == MOCK_IOMMU_TYPE ? 2048U : 4096U));
        /* x86: the MSI window 0xfee00000-0xfeefffff is never DMA space */
        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(r[i].last < 0xfee00000ULL || r[i].start > 0xfeefffffULL);
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(hw_info_and_hwpt_flags_agree) {
        ib_hw_info hw;
        uint32_t ioas, parent = 0, hwpt = 0, nested = 0;
        struct {
                uint64_t flags;
                uint64_t pgtbl_addr;
                uint32_t addr_width;
                uint32_t reserved;
        } s1 = { .pgtbl_addr = 0x1000, .addr_width = 48 };
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        printf("# %s: iommu type %u, dirty %d, nesting %d, snoop %d, pasid log2 %u, %zu bytes of vendor data\n",
               device, hw.iommu_type, hw.dirty_tracking, hw.nesting, hw.enforce_snoop, hw.max_pasid_log2,
               hw.vendor_data_len);
        ASSERT_TRUE(hw.iommu_type != IB_IOMMU_TYPE_NONE);
        ioas = ioas_new(c);

        if (hw.nesting) {
                const void *data;
                size_t len;
                uint32_t type = nested_data(&hw, &data, &len);

                ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0, &parent));
                ASSERT_OK(ib_hwpt_alloc(c, dev, parent, 0, type, data, len, &nested));
                /* the device runs on the nested page table, and back on the IOAS */
                ASSERT_OK(ib_device_attach(c, dev, nested, NULL));
                ASSERT_ERRNO(EBUSY, ib_hwpt_free(c, nested));
                ASSERT_OK(ib_device_attach(c, dev, ioas, NULL));
                ASSERT_ERRNO(EBUSY, ib_hwpt_free(c, parent));  /* the nested one hangs on it */
                ASSERT_OK(ib_hwpt_free(c, nested));
                ASSERT_OK(ib_hwpt_free(c, parent));
        } else
                ASSERT_ERRNO(EOPNOTSUPP, ib_hwpt_alloc(c, dev, ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0, &parent));

        /* broker decision: nested data needs a nesting-parent HWPT under it */
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, &hwpt));
        ASSERT_ERRNO(EINVAL, ib_hwpt_alloc(c, dev, hwpt, 0, IB_HWPT_DATA_VTD_S1, &s1, sizeof(s1), &nested));
        ASSERT_ERRNO(EINVAL, ib_hwpt_alloc(c, dev, ioas, 0, IB_HWPT_DATA_VTD_S1, &s1, sizeof(s1), &nested));

        if (hw.dirty_tracking) {
                uint32_t d = 0;

                ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_DIRTY_TRACKING, IB_HWPT_DATA_NONE, NULL, 0, &d));
        } else
                ASSERT_ERRNO(EOPNOTSUPP, ib_hwpt_alloc(c, dev, ioas, IB_HWPT_DIRTY_TRACKING, IB_HWPT_DATA_NONE, NULL, 0,
                                                       &nested));
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

/* Broker decision: an IOAS that promises coherent DMA takes only devices whose IOMMU enforces it. */
TEST(enforce_snoop_ioas_takes_only_coherent_devices) {
        ib_ioas_alloc_args a = { .enforce_snoop = true };
        ib_hw_info hw;
        uint32_t ioas;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        ASSERT_OK(ib_ioas_alloc(c, &a, &ioas));
        if (hw.enforce_snoop)
                ASSERT_OK(ib_device_attach(c, dev, ioas, NULL));
        else {
                ASSERT_ERRNO(EOPNOTSUPP, ib_device_attach(c, dev, ioas, NULL));
                ASSERT_TRUE(strstr(ib_client_error(c), "coherent") != NULL);
        }
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(pasid_attach_lookup_replace_detach) {
        ib_hw_info hw;
        uint32_t ioas, pt = 0, pt2 = 0, pasid = 0, pasid2 = 0, look_pt = 0;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        ioas = ioas_new(c);
        ASSERT_ERRNO(EINVAL, ib_pasid_attach(c, dev, 0, ioas, &pasid));
        if (hw.max_pasid_log2 == 0) {
                ASSERT_ERRNO(ERANGE, ib_pasid_attach(c, dev, 5, ioas, &pasid));
                close(fd);
                ib_client_free(c);
                ASSERT_TRUE(device_free_again());
                return;
        }
        if (hw.max_pasid_log2 < 20)
                ASSERT_ERRNO(ERANGE, ib_pasid_attach(c, dev, 1U << hw.max_pasid_log2, ioas, &pasid));
        else {
                /* beyond 20 bits: past the device (ERANGE), and past any policy's VPASIDRange (EPERM, asked first) */
                int r = ib_pasid_attach(c, dev, 1U << hw.max_pasid_log2, ioas, &pasid);

                ASSERT_TRUE(r == -ERANGE || r == -EPERM);
        }
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_PASID, IB_HWPT_DATA_NONE, NULL, 0, &pt));
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_PASID, IB_HWPT_DATA_NONE, NULL, 0, &pt2));
        ASSERT_OK(ib_pasid_attach(c, dev, 5, pt, &pasid));
        ASSERT_TRUE(pasid > 0);
        ASSERT_OK(ib_pasid_lookup(c, dev, 5, &pasid2, &look_pt));
        ASSERT_EQ(pasid2, pasid);
        ASSERT_EQ(look_pt, pt);
        ASSERT_OK(ib_pasid_attach(c, dev, 5, pt2, &pasid2));  /* replace: same PASID, new table */
        ASSERT_EQ(pasid2, pasid);
        ASSERT_OK(ib_pasid_lookup(c, dev, 5, &pasid2, &look_pt));
        ASSERT_EQ(look_pt, pt2);
        ASSERT_ERRNO(ENOENT, ib_pasid_lookup(c, dev, 6, &pasid2, &look_pt));
        ASSERT_OK(ib_pasid_detach(c, dev, 5));
        ASSERT_ERRNO(ENOENT, ib_pasid_detach(c, dev, 5));
        ASSERT_ERRNO(ENOENT, ib_pasid_lookup(c, dev, 5, &pasid2, &look_pt));
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(another_sessions_device_ids_are_unknown_here) {
        uint32_t ioas;
        CONNECT(a);
        CONNECT(b);
        OPEN(a, dev, fd);

        ioas = ioas_new(b);
        ASSERT_ERRNO(ENOENT, ib_device_attach(b, dev, ioas, NULL));
        ASSERT_ERRNO(ENOENT, ib_device_close(b, dev));
        ASSERT_ERRNO(ENOENT, ib_pasid_lookup(b, dev, 1, NULL, NULL));
        ASSERT_OK(ib_device_attach(a, dev, ioas_new(a), NULL));
        close(fd);
        ib_client_free(a);
        ib_client_free(b);
        ASSERT_TRUE(device_free_again());
}

/* Reads the sealed bitmap memfd of size bytes into buf; -errno. */
static int bitmap_read(int fd, void *buf, uint64_t size) {
        struct stat st;
        int seals;

        if (fstat(fd, &st) < 0 || (uint64_t) st.st_size != size)
                return -EBADF;
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) !=
                                 (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE))
                return -EPERM;
        if (pread(fd, buf, size, 0) != (ssize_t) size)
                return -EIO;
        return 0;
}

TEST(dirty_tracking_and_bitmap_follow_hw_info) {
        uint8_t bits[32];
        ib_hw_info hw;
        uint64_t size = 0, dirty = 1;
        uint32_t ioas, plain = 0, tracked = 0;
        int bfd = -1;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        ioas = ioas_new(c);
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, &plain));
        /* a HWPT without dirty tracking: the kernel's EOPNOTSUPP */
        ASSERT_ERRNO(EOPNOTSUPP, ib_hwpt_set_dirty_tracking(c, plain, true));
        ASSERT_ERRNO(EOPNOTSUPP, ib_hwpt_get_dirty_bitmap(c, plain, 0, 1 << 20, 0, 0, &bfd, &size, &dirty));
        /* bad input, whatever the IOMMU */
        ASSERT_ERRNO(ENOENT, ib_hwpt_set_dirty_tracking(c, 999, true));
        ASSERT_ERRNO(EINVAL, ib_hwpt_get_dirty_bitmap(c, plain, 0x800, 1 << 20, 0, 0, &bfd, &size, &dirty));
        ASSERT_ERRNO(EINVAL, ib_hwpt_get_dirty_bitmap(c, plain, 0, (1 << 20) + 0x800, 0, 0, &bfd, &size, &dirty));
        ASSERT_ERRNO(EINVAL, ib_hwpt_get_dirty_bitmap(c, plain, 0, 0, 0, 0, &bfd, &size, &dirty));
        ASSERT_ERRNO(EINVAL, ib_hwpt_get_dirty_bitmap(c, plain, 0, 3 << 12, 3 << 12, 0, &bfd, &size, &dirty));
        ASSERT_ERRNO(EINVAL, ib_hwpt_get_dirty_bitmap(c, plain, 0, 1ULL << 48, 4096, 0, &bfd, &size, &dirty));
        ASSERT_TRUE(strstr(ib_client_error(c), "limit") != NULL);

        if (!hw.dirty_tracking) {
                ASSERT_ERRNO(EOPNOTSUPP, ib_hwpt_alloc(c, dev, ioas, IB_HWPT_DIRTY_TRACKING, IB_HWPT_DATA_NONE,
                                                       NULL, 0, &tracked));
        } else {
                ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_DIRTY_TRACKING, IB_HWPT_DATA_NONE, NULL, 0, &tracked));
                ASSERT_OK(ib_hwpt_set_dirty_tracking(c, tracked, true));
                /* 1 MiB of 4 KiB pages: 256 bits, 32 bytes; nothing did DMA, so nothing is dirty */
                ASSERT_OK(ib_hwpt_get_dirty_bitmap(c, tracked, 0, 1 << 20, 0, 0, &bfd, &size, &dirty));
                ASSERT_U64_EQ(size, 32);
                ASSERT_U64_EQ(dirty, 0);
                memset(bits, 0xff, sizeof(bits));
                ASSERT_OK(bitmap_read(bfd, bits, size));
                for (size_t i = 0; i < sizeof(bits); i++)
                        ASSERT_EQ(bits[i], 0);
                /* sealed: the client cannot write or grow it */
                ASSERT_TRUE(pwrite(bfd, bits, 1, 0) < 0);
                close(bfd);
                /* 65 pages of 8 KiB: 2 words */
                ASSERT_OK(ib_hwpt_get_dirty_bitmap(c, tracked, 0, 65 * 8192, 8192, IB_DIRTY_NO_CLEAR, &bfd, &size,
                                                   NULL));
                ASSERT_U64_EQ(size, 16);
                close(bfd);
                ASSERT_OK(ib_hwpt_set_dirty_tracking(c, tracked, false));
        }
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

/*
 * A bitmap costs what is mapped, not the range asked for: 512 GiB of 4 KiB
 * pages is a 16 MiB bitmap, but with 64 KiB mapped the broker reads (and so
 * the memfd holds) only the words that cover the mapping; the rest stays a
 * hole.  The size the reply names is still the whole bitmap's.
 */
TEST(a_dirty_bitmap_costs_what_is_mapped) {
        int memfd = test_memfd("ram", 1 << 16);
        uint64_t size = 0, dirty = 1, iova = 0x40000000;
        uint32_t ioas, tracked = 0;
        struct stat st;
        ib_hw_info hw;
        int bfd = -1;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        if (!hw.dirty_tracking) {
                tests_skip("the device's IOMMU does not track dirty pages");
                close(memfd);
                close(fd);
                ib_client_free(c);
                ASSERT_TRUE(device_free_again());
                return;
        }
        ioas = ioas_new(c);
        ASSERT_OK(ib_map(c, ioas, memfd, 0, 1 << 16, IB_MAP_READABLE | IB_MAP_WRITEABLE | IB_MAP_FIXED_IOVA, &iova));
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_DIRTY_TRACKING, IB_HWPT_DATA_NONE, NULL, 0, &tracked));
        ASSERT_OK(ib_hwpt_set_dirty_tracking(c, tracked, true));
        ASSERT_OK(ib_hwpt_get_dirty_bitmap(c, tracked, 0, 1ULL << 39, 0, 0, &bfd, &size, &dirty));
        ASSERT_U64_EQ(size, 16 << 20);
        ASSERT_U64_EQ(dirty, 0);
        ASSERT_OK(fstat(bfd, &st));
        printf("# a %" PRIu64 "-byte bitmap over 64 KiB mapped holds %lld bytes of memory\n", size,
               (long long) st.st_blocks * 512);
        ASSERT_TRUE((uint64_t) st.st_blocks * 512 <= 64 * 1024);
        ASSERT_EQ((uint64_t) st.st_size, size);
        close(bfd);
        close(memfd);
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(invalidate_follows_hw_info) {
        /* struct iommu_hwpt_vtd_s1_invalidate: addr, npages, flags, __reserved */
        struct {
                uint64_t addr, npages;
                uint32_t flags, reserved;
        } inv[2] = { { .addr = 0x1000, .npages = 1 }, { .addr = 0, .npages = UINT64_MAX, .flags = 1 } };
        /* struct iommu_hwpt_vtd_s1: flags, pgtbl_addr, addr_width, __reserved */
        struct {
                uint64_t flags, pgtbl_addr;
                uint32_t addr_width, reserved;
        } s1 = { .pgtbl_addr = 0x1000000, .addr_width = 48 };
        ib_hw_info hw;
        uint32_t ioas, plain = 0, parent = 0, nested = 0, n = 9;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        ioas = ioas_new(c);
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, &plain));
        /* a paging HWPT has no stage-1 caches: the kernel's EINVAL */
        ASSERT_ERRNO(EINVAL, ib_hwpt_invalidate(c, plain, IB_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 1, &n));
        ASSERT_ERRNO(ENOENT, ib_hwpt_invalidate(c, 999, IB_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 1, &n));
        if (hw.nesting && hw.iommu_type == IB_IOMMU_TYPE_INTEL_VTD) {
                ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0, &parent));
                ASSERT_OK(ib_hwpt_alloc(c, dev, parent, 0, IB_HWPT_DATA_VTD_S1, &s1, sizeof(s1), &nested));
                ASSERT_OK(ib_hwpt_invalidate(c, nested, IB_HWPT_INVALIDATE_DATA_VTD_S1, inv, sizeof(inv[0]), 2, &n));
                ASSERT_EQ(n, 2);
                inv[1].flags = 2;
                ASSERT_ERRNO(EOPNOTSUPP, ib_hwpt_invalidate(c, nested, IB_HWPT_INVALIDATE_DATA_VTD_S1, inv,
                                                            sizeof(inv[0]), 2, &n));
                ASSERT_TRUE(strstr(ib_client_error(c), "entry 1") != NULL);
                ASSERT_ERRNO(EINVAL, ib_hwpt_invalidate(c, nested, IB_HWPT_INVALIDATE_DATA_ARM_SMMUV3, inv,
                                                        sizeof(inv[0]), 1, &n));
        }
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(fault_queue_and_vIOMMU) {
        ib_hw_info hw;
        uint32_t ioas, fault = 0, hwpt = 0, pt = 0, viommu = 0, vdev = 0;
        int qfd = -1;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        ioas = ioas_new(c);
        ASSERT_OK(ib_fault_queue_alloc(c, &fault, &qfd));
        ASSERT_TRUE(qfd >= 0 && fault > 0);
        ASSERT_OK(ib_hwpt_alloc_with_fault(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, fault, &hwpt));
        ASSERT_ERRNO(ENOENT, ib_hwpt_alloc_with_fault(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, 999, &hwpt));
        close(qfd);

        /* VT-d in 7.3 has no vIOMMU type */
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, hw.nesting ? IB_HWPT_NEST_PARENT : 0, IB_HWPT_DATA_NONE, NULL, 0, &pt));
        if (hw.iommu_type == IB_IOMMU_TYPE_INTEL_VTD)
                ASSERT_ERRNO(EOPNOTSUPP, ib_viommu_alloc(c, dev, pt, IB_VIOMMU_TYPE_ARM_SMMUV3, &viommu));
        ASSERT_ERRNO(EOPNOTSUPP, ib_viommu_alloc(c, dev, pt, IB_VIOMMU_TYPE_DEFAULT, &viommu));
        ASSERT_ERRNO(ENOENT, ib_viommu_alloc(c, dev, 999, IB_VIOMMU_TYPE_ARM_SMMUV3, &viommu));
        ASSERT_ERRNO(ENOENT, ib_vdevice_alloc(c, 999, dev, 1, &vdev));
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(a_fault_queue_frees_once_no_hwpt_reports_to_it_and_its_fd_is_closed) {
        uint32_t ioas, fault = 0, hwpt = 0;
        int qfd = -1, copy;
        CONNECT(c);
        CONNECT(other);
        OPEN(c, dev, fd);

        ioas = ioas_new(c);
        ASSERT_OK(ib_fault_queue_alloc(c, &fault, &qfd));
        ASSERT_OK(ib_hwpt_alloc_with_fault(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, fault, &hwpt));
        ASSERT_ERRNO(ENOENT, ib_fault_queue_free(other, fault));
        ASSERT_ERRNO(ENOENT, ib_fault_queue_free(c, 999));
        /* the HWPT holds it (hw_pagetable.c iommufd_hwpt_alloc) ... */
        ASSERT_ERRNO(EBUSY, ib_fault_queue_free(c, fault));
        ASSERT_OK(ib_hwpt_free(c, hwpt));
        /* ... and so does every open copy of its fd (eventq.c iommufd_eventq_init) */
        copy = fcntl(qfd, F_DUPFD_CLOEXEC, 3);
        ASSERT_TRUE(copy >= 0);
        close(qfd);
        ASSERT_ERRNO(EBUSY, ib_fault_queue_free(c, fault));
        close(copy);
        ASSERT_OK(ib_fault_queue_free(c, fault));
        ASSERT_ERRNO(ENOENT, ib_fault_queue_free(c, fault));
        ASSERT_ERRNO(ENOENT, ib_hwpt_alloc_with_fault(c, dev, ioas, 0, IB_HWPT_DATA_NONE, NULL, 0, fault, &hwpt));
        close(fd);
        ib_client_free(c);
        ib_client_free(other);
        ASSERT_TRUE(device_free_again());
}

TEST(viommu_and_vdevice_free_in_order) {
        ib_hw_info hw;
        uint32_t ioas, parent = 0, viommu = 0, vdev = 0, hwpt = 0;
        int r;
        CONNECT(c);
        OPEN(c, dev, fd);

        ASSERT_ERRNO(ENOENT, ib_viommu_free(c, 999));
        ASSERT_ERRNO(ENOENT, ib_vdevice_free(c, 999));
        ASSERT_OK(ib_hw_info_get(c, dev, &hw));
        ioas = ioas_new(c);
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, hw.nesting ? IB_HWPT_NEST_PARENT : 0, IB_HWPT_DATA_NONE, NULL, 0,
                                &parent));
        r = ib_viommu_alloc(c, dev, parent, MOCK_VIOMMU_TYPE, &viommu);
        if (hw.iommu_type != MOCK_IOMMU_TYPE) {
                /* VT-d (the sim's too) has no vIOMMU of any type in 7.3 */
                ASSERT_ERRNO(EOPNOTSUPP, r);
                close(fd);
                ib_client_free(c);
                ASSERT_TRUE(device_free_again());
                tests_skip("the device's IOMMU offers no vIOMMU");
                return;
        }
        ASSERT_OK(r);
        ASSERT_OK(ib_vdevice_alloc(c, viommu, dev, 0x10, &vdev));
        ASSERT_TRUE(viommu != parent && vdev != viommu);
        /* the vDEVICE holds the vIOMMU (viommu.c iommufd_vdevice_alloc_ioctl), which holds its parent */
        ASSERT_ERRNO(EBUSY, ib_viommu_free(c, viommu));
        ASSERT_ERRNO(EBUSY, ib_hwpt_free(c, parent));
        ASSERT_OK(ib_vdevice_free(c, vdev));
        ASSERT_ERRNO(ENOENT, ib_vdevice_free(c, vdev));
        ASSERT_OK(ib_viommu_free(c, viommu));
        ASSERT_ERRNO(ENOENT, ib_viommu_free(c, viommu));
        ASSERT_ERRNO(ENOENT, ib_vdevice_alloc(c, viommu, dev, 0x10, &vdev));
        ASSERT_OK(ib_hwpt_free(c, parent));
        /* the device may have a vDEVICE again, and the session ends with both alive */
        ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0, &hwpt));
        ASSERT_OK(ib_viommu_alloc(c, dev, hwpt, MOCK_VIOMMU_TYPE, &viommu));
        ASSERT_OK(ib_vdevice_alloc(c, viommu, dev, 0x10, &vdev));
        close(fd);
        ib_client_free(c);
        ASSERT_TRUE(device_free_again());
}

TEST(another_sessions_hwpt_ids_are_unknown_here) {
        uint32_t hwpt = 0, n = 0;
        uint64_t size = 0;
        int bfd = -1;
        CONNECT(a);
        CONNECT(b);
        OPEN(a, dev, fd);

        ASSERT_OK(ib_hwpt_alloc(a, dev, ioas_new(a), 0, IB_HWPT_DATA_NONE, NULL, 0, &hwpt));
        ASSERT_ERRNO(ENOENT, ib_hwpt_set_dirty_tracking(b, hwpt, true));
        ASSERT_ERRNO(ENOENT, ib_hwpt_get_dirty_bitmap(b, hwpt, 0, 4096, 0, 0, &bfd, &size, NULL));
        ASSERT_ERRNO(ENOENT, ib_hwpt_invalidate(b, hwpt, IB_HWPT_INVALIDATE_DATA_VTD_S1, NULL, 24, 0, &n));
        close(fd);
        ib_client_free(a);
        ib_client_free(b);
        ASSERT_TRUE(device_free_again());
}

static int setup(void) {
        const char *sock = tests_option("socket"), *dev = tests_option("device");
        ib_device_info list[32];
        size_t n = 32;
        ib_client *c = NULL;
        int r;

        if (sock)
                test_broker_attach(&broker, sock);
        else {
                r = test_broker_start(&broker, tests_option("daemon-args"));
                if (r < 0)
                        return r;
        }
        if (dev) {
                snprintf(device, sizeof(device), "%s", dev);
                return 0;
        }
        r = ib_client_connect(broker.socket, "test-devices", &c);
        if (r < 0)
                return r;
        r = ib_device_list(c, list, &n);
        ib_client_free(c);
        if (r < 0)
                return r;
        if (n == 0)
                return -ENODEV;
        snprintf(device, sizeof(device), "%s", list[0].name);
        printf("# device under test: %s\n", device);
        return 0;
}

static void teardown(void) {
        int r = test_broker_stop(&broker);

        if (r != 0)
                printf("# the broker exited with status %d\n", r);
}

TESTS_MAIN(setup, teardown)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-devices.c - the device, HWPT and PASID conformance suite.
 *
 * Runs against the sim backend (started here) or, with --socket=PATH, a
 * running broker (the kernel backend in the QEMU guest, where the device is
 * QEMU's edu behind an emulated VT-d).  The device is --device=NAME or the
 * first one listed.  Where what the IOMMU can do differs between machines
 * (nesting, dirty tracking, PASIDs, snoop control), each test reads HwInfo
 * first and asserts the answer that capability implies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"

static TestBroker broker;
static char device[32];

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

/* Waits until the broker has processed earlier hang-ups and the device is free. */
static bool device_free_again(void) {
        for (int i = 0; i < 200; i++) {
                ib_client *c = NULL;
                ib_device_info list[32];
                size_t n = 32;
                bool in_use = true;

                if (ib_client_connect(broker.socket, "probe", &c) == 0 && ib_device_list(c, list, &n) == 0)
                        for (size_t k = 0; k < n; k++)
                                if (strcmp(list[k].name, device) == 0)
                                        in_use = list[k].in_use;
                ib_client_free(c);
                if (!in_use)
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

TEST(attached_ioas_ranges_leave_out_reserved_regions) {
        ib_iova_range r[64];
        size_t n = 64;
        uint64_t align = 0;
        uint32_t ioas;
        CONNECT(c);
        OPEN(c, dev, fd);

        ioas = ioas_new(c);
        ASSERT_OK(ib_device_attach(c, dev, ioas, NULL));
        ASSERT_OK(ib_iova_ranges(c, ioas, r, &n, &align));
        ASSERT_TRUE(align >= 4096);
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
                ASSERT_OK(ib_hwpt_alloc(c, dev, ioas, IB_HWPT_NEST_PARENT, IB_HWPT_DATA_NONE, NULL, 0, &parent));
                ASSERT_OK(ib_hwpt_alloc(c, dev, parent, 0, IB_HWPT_DATA_VTD_S1, &s1, sizeof(s1), &nested));
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
        ASSERT_ERRNO(ERANGE, ib_pasid_attach(c, dev, 1U << hw.max_pasid_log2, ioas, &pasid));
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

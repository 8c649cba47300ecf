/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util-device.c - see util-device.h.
 */
#include <errno.h>
#include <linux/vfio.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "backend/backend-sim.h"
#include "client/iommu-broker.h"
#include "common/macro.h"
#include "tests/lib/util-device.h"

int test_device_fd_attach(const char *socket_path, int dev_fd, uint32_t pt_id) {
        struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = pt_id };
        BackendSimDeviceOp op = { .op = BACKEND_SIM_DEVICE_OP_ATTACH, .pasid = BACKEND_NO_PASID, .pt_id = pt_id };
        BackendSimDeviceReply reply = {};
        struct pollfd p = { .fd = dev_fd, .events = POLLIN };
        ib_device_info list[32];
        size_t n = ELEMENTSOF(list);
        ib_client *c = NULL;
        struct stat st;
        int r;

        if (fstat(dev_fd, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return ioctl(dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0 ? -errno : 0;

        if (send(dev_fd, &op, sizeof(op), MSG_NOSIGNAL) != (ssize_t) sizeof(op))
                return -errno;
        /* the sim reads device ops when the broker enters it: DeviceList does */
        r = ib_client_connect(socket_path, "device-fd-nudge", &c);
        if (r >= 0)
                r = ib_device_list(c, list, &n);
        ib_client_free(c);
        if (r < 0)
                return r;
        r = poll(&p, 1, 5000);
        if (r <= 0)
                return r < 0 ? -errno : -ETIMEDOUT;
        if (recv(dev_fd, &reply, sizeof(reply), 0) != (ssize_t) sizeof(reply))
                return -EIO;
        return reply.err;
}

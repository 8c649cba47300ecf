/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util-device.h - acting on a device fd the broker handed out, as a client can.
 *
 * Owns: the one function that plays a client issuing VFIO ioctls on its own
 * device fd, on the kernel (the ioctl) and on the sim (its device-op datagram).
 */
#pragma once

#include <stdint.h>

/*
 * What a client can do with the device fd the broker handed it, without the
 * broker: VFIO_DEVICE_ATTACH_IOMMUFD_PT of the device (its RID) to pt_id in
 * whatever iommufd context the fd is bound to.  On the kernel that is the
 * ioctl; on the sim (whose device fd is a socket) it is the sim's device-op
 * datagram, which the broker's sim handles at its next DeviceList: this
 * function asks one through a fresh connection to socket_path.  Returns 0 or
 * the -errno of the attach.
 */
int test_device_fd_attach(const char *socket_path, int dev_fd, uint32_t pt_id);

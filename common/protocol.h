/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * protocol.h - the constants of wire protocol v1.
 *
 * Owns: the version and the hard limits that the broker enforces in its codec
 * and advertises in the Hello reply; the client library reads the advertised
 * values, never these, once connected.
 */
#pragma once

#define IB_PROTOCOL_VERSION 1U

#define IB_MAX_MESSAGE_SIZE (64U * 1024U)       /* one SEQPACKET datagram, either way */
#define IB_MAX_FDS_PER_MESSAGE 16U              /* SCM_RIGHTS fds with one request */
#define IB_MAX_REQUESTS_IN_FLIGHT 64U           /* unread replies before the broker stops reading */
#define IB_MAX_BATCH_OPS 256U
#define IB_MAX_IOVA_RANGES 64U
#define IB_MAX_DELEGATE_DEVICES 8U              /* devices of one DeviceDelegate; its reply carries 1 + n fds */

#define IB_DEFAULT_SOCKET "/run/iommu-broker/vmm.sock"

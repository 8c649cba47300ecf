/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * protocol.h - the constants of wire protocol v1.
 *
 * Owns: the version and the hard limits that the broker enforces in its codec
 * and advertises in the Hello reply; the client library reads the advertised
 * values, never these, once connected.
 */
#pragma once

#include <stdint.h>

#define IB_PROTOCOL_VERSION 1U

#define IB_MAX_MESSAGE_SIZE (64U * 1024U)       /* one SEQPACKET datagram, either way */
#define IB_MAX_FDS_PER_MESSAGE 16U              /* SCM_RIGHTS fds with one request */
#define IB_MAX_REQUESTS_IN_FLIGHT 64U           /* unread replies before the broker stops reading */
#define IB_MAX_BATCH_OPS 256U
#define IB_MAX_IOVA_RANGES 64U
#define IB_MAX_DELEGATE_DEVICES 8U              /* devices of one DeviceDelegate; its reply carries 1 + n fds */

/*
 * A packed Batch operation (BatchRequest.packed_ops, docs/protocol.md
 * "Packed batches"): five words; word 0 holds the kind in bits 0-7, the
 * flags in bits 8-15, zero in bits 16-31 and the IOAS in bits 32-63.
 */
#define IB_PACKED_WORDS 5U
#define IB_PACKED_MAP 1U                        /* a Map of registered memory: mem, offset, length, iova */
#define IB_PACKED_UNMAP 2U                      /* an Unmap: 0, 0, length, iova */
#define IB_PACKED_READABLE 0x1U
#define IB_PACKED_WRITEABLE 0x2U
#define IB_PACKED_FIXED_IOVA 0x4U               /* word 4 is the IOVA; without it, 0 */
#define IB_PACKED_WORD0(kind, flags, ioas) \
        ((uint64_t) (kind) | (uint64_t) (flags) << 8 | (uint64_t) (ioas) << 32)

#define IB_DEFAULT_SOCKET "/run/iommu-broker/vmm.sock"

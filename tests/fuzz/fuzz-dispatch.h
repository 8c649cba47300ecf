/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-dispatch.h - the input format of fuzz-dispatch.
 *
 * Owns: the layout of one input (read by fuzz-dispatch.c, written by
 * make-seeds.c), so that the seeds and the harness cannot disagree.
 * Must never: be included outside tests/fuzz/.
 *
 * One input is one client session (or two) against the sim backend:
 *
 *   byte 0    mode: FUZZ_MODE_* bits, how the session is set up and ended
 *   byte 1    fail-nth: 0, or the sim's fallible call that fails with
 *             ENOMEM (backend_sim_fail_nth), counted from just after Hello
 *   byte 2    options: FUZZ_OPT_* bits, the broker's admission and socket
 *   frames    up to FUZZ_MAX_FRAMES of:
 *               byte 0     FUZZ_FRAME_* bits: fds and the frame's kind
 *               bytes 1-2  payload length, little endian, 15 bits; bit 15
 *                          (FUZZ_LENGTH_CLIENT_B) sends the frame on the
 *                          second connection, with FUZZ_MODE_TWO_SESSIONS
 *               payload    that many bytes (fewer if the input ends first)
 *
 * A frame is one SOCK_SEQPACKET datagram to the broker (a request, or
 * anything at all) with the fds its flags ask for, or with
 * FUZZ_FRAME_DEVICE_OP one BackendSimDeviceOp (payload padded with zeros)
 * written to the last device fd a DeviceOpen reply brought, as a client
 * playing VFIO ioctls on it would.  A missing header byte reads as 0.
 *
 * A session the broker refuses (FUZZ_OPT_*) answers its first datagram with
 * an error and ends; what is sent to it later is dropped.
 */
#pragma once

#include <stdint.h>

#define FUZZ_MAX_FRAMES 64

enum {
        /* bits 0-1: who the session is */
        FUZZ_MODE_ADMIN = 0,                    /* no policy: the broker's own uid, no limits */
        FUZZ_MODE_TENANT_LIMITED = 1,           /* a policy tenant with small limits, two IOVA windows */
        FUZZ_MODE_TENANT_STRICT = 2,            /* a tenant without nesting, dirty tracking or PASIDs */
        FUZZ_MODE_TENANT_GLOBAL = 3,            /* like LIMITED, with PASIDMode=global */
        FUZZ_MODE_WHO_MASK = 3,

        FUZZ_MODE_GLOBAL_PASID = 1U << 2,       /* the host-wide PASID space (--global-pasid) */
        FUZZ_MODE_NO_HELLO = 1U << 3,           /* the harness sends no Hello first */
        FUZZ_MODE_PIPELINE = 1U << 4,           /* write every frame, then read the replies */
        FUZZ_MODE_NO_MAP_FILE = 1U << 5,        /* the mmap path: a backend without MAP_FILE */
        FUZZ_MODE_HOLD_DEVICE_FDS = 1U << 6,    /* hang up while holding the device fds: quarantine */
        FUZZ_MODE_TWO_SESSIONS = 1U << 7,       /* a second connection of the same uid (and tenant) */
};

/* In a frame's length: the frame goes to the second connection. */
#define FUZZ_LENGTH_CLIENT_B 0x8000U

enum {
        FUZZ_OPT_ONE_CONNECTION = 1U << 0,      /* --max-connections-per-uid=1: the second session is refused */
        FUZZ_OPT_NO_TENANT = 1U << 1,           /* a policy none of whose tenants is the harness: refused */
        FUZZ_OPT_SMALL_SNDBUF = 1U << 2,        /* the broker's end: the least send buffer a reply fits in */
        FUZZ_OPT_CONFINED = 1U << 3,            /* a tenant with ConfinedDeviceFds=yes (the harness is not confined) */
};

enum {
        /* bits 0-1: the kind of fd sent with the frame */
        FUZZ_FRAME_FD_NONE = 0,
        FUZZ_FRAME_FD_MEMFD = 1,                /* a memfd */
        FUZZ_FRAME_FD_SEALED = 2,               /* a memfd with F_SEAL_WRITE */
        FUZZ_FRAME_FD_OTHER = 3,                /* no memfd at all */
        FUZZ_FRAME_FD_MASK = 3,

        /* bits 2-3: 1, 2, 4 or 17 fds of that kind (17: more than the broker takes) */
        FUZZ_FRAME_COUNT_SHIFT = 2,
        FUZZ_FRAME_COUNT_MASK = 3U << 2,

        /*
         * bits 4-5: the variant of the kind: memfds are 2 MiB read-write,
         * 4 KiB read-write, 2 MiB re-opened O_RDONLY, 2 MiB re-opened
         * O_WRONLY; FD_OTHER is a pipe, a socket, a regular file (O_TMPFILE),
         * a directory
         */
        FUZZ_FRAME_VARIANT_SHIFT = 4,
        FUZZ_FRAME_VARIANT_MASK = 3U << 4,

        FUZZ_FRAME_DEVICE_OP = 1U << 6,         /* to the last device fd, not to the broker */
        FUZZ_FRAME_OVERSIZE = 1U << 7,          /* padded with zeros past IB_MAX_MESSAGE_SIZE */
};

enum {
        FUZZ_VARIANT_MEMFD_2M = 0,
        FUZZ_VARIANT_MEMFD_4K = 1,
        FUZZ_VARIANT_MEMFD_RDONLY = 2,
        FUZZ_VARIANT_MEMFD_WRONLY = 3,
        FUZZ_VARIANT_OTHER_PIPE = 0,
        FUZZ_VARIANT_OTHER_SOCKET = 1,
        FUZZ_VARIANT_OTHER_FILE = 2,
        FUZZ_VARIANT_OTHER_DIR = 3,
};

/* The frame header byte for count (index 0-3: 1, 2, 4, 17) fds of kind in variant. */
#define FUZZ_FRAME_FDS(kind, count_index, variant)                                              \
        ((uint8_t) ((kind) | (((count_index) & 3U) << FUZZ_FRAME_COUNT_SHIFT) |                  \
                    (((variant) & 3U) << FUZZ_FRAME_VARIANT_SHIFT)))

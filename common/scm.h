/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scm.h - one datagram with its SCM_RIGHTS file descriptors, either way.
 *
 * Owns: the sendmsg()/recvmsg() calls of both ends of the VMM socket and
 * their ancillary data: building the SCM_RIGHTS message, collecting the fds
 * that arrive (close-on-exec from birth, MSG_CMSG_CLOEXEC), closing every fd
 * that came beyond what the caller has room for, and saying what the kernel
 * cut (MSG_TRUNC, MSG_CTRUNC) or what else came along.
 * Must never: block (MSG_DONTWAIT), raise SIGPIPE (MSG_NOSIGNAL), log, decide
 * what a truncation means (the caller's protocol does), or leave an fd it
 * received open that it did not hand over.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* The kernel's SCM_MAX_FD: the most fds one message may carry. */
#define SCM_FDS_MAX 253U

/* What scm_recv() reports besides the data. */
enum {
        SCM_RECV_TRUNCATED = 1U << 0,           /* MSG_TRUNC: the datagram was larger than the buffer */
        SCM_RECV_FDS_TRUNCATED = 1U << 1,       /* MSG_CTRUNC, or more fds than room: the extra ones are closed */
        SCM_RECV_FOREIGN_CMSG = 1U << 2,        /* ancillary data other than SCM_RIGHTS came along */
};

/*
 * Sends data (size bytes) as one datagram with the n_fds fds (duplicated by
 * the kernel; the caller keeps its own; n_fds <= SCM_FDS_MAX).  Returns the
 * bytes sent, or -errno: -EAGAIN (the socket is full) and -EINTR mean "try
 * again when writable".
 */
ssize_t scm_send(int fd, const void *data, size_t size, const int *fds, size_t n_fds);

/*
 * Receives one datagram into buf (size bytes) with room for max_fds fds
 * (<= SCM_FDS_MAX), stored in fds[] and counted in *ret_n_fds; the kernel
 * drops fds beyond the room it was given, and any that still come beyond
 * max_fds are closed here; both set SCM_RECV_FDS_TRUNCATED in *ret_flags.
 * Returns the datagram's full size (larger than size when it was cut: then
 * SCM_RECV_TRUNCATED), 0 with no fds and no flags at the end of a
 * SOCK_SEQPACKET stream, or -errno (-EAGAIN: nothing to read) with no fd
 * received and *ret_n_fds, *ret_flags 0.
 */
ssize_t scm_recv(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                 unsigned *ret_flags);
/* As scm_recv(), but waits for a datagram on a blocking socket (-EINTR: a signal came first). */
ssize_t scm_recv_wait(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                      unsigned *ret_flags);

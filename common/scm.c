/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scm.c - see scm.h.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "common/macro.h"
#include "common/scm.h"

typedef union ScmControl {
        struct cmsghdr hdr;
        uint8_t buf[CMSG_SPACE(sizeof(int) * SCM_FDS_MAX)];
} ScmControl;

ssize_t scm_send(int fd, const void *data, size_t size, const int *fds, size_t n_fds) {
        ScmControl control;
        struct iovec iov = { .iov_base = (void *) data, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (n_fds > SCM_FDS_MAX)
                return -EINVAL;
        if (n_fds > 0) {
                struct cmsghdr *cmsg;

                memset(control.buf, 0, CMSG_SPACE(sizeof(int) * n_fds));
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * n_fds);
        }
        n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        return n < 0 ? negative_errno() : n;
}

static ssize_t scm_recv_how(int fd, int how, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                            unsigned *ret_flags) {
        ScmControl control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf };
        size_t n_fds = 0;
        unsigned flags = 0;
        ssize_t n;

        *ret_n_fds = 0;
        *ret_flags = 0;
        if (max_fds > SCM_FDS_MAX)
                max_fds = SCM_FDS_MAX;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * max_fds);
        n = recvmsg(fd, &mh, how | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        if (n < 0)
                return negative_errno();
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                        flags |= SCM_RECV_FOREIGN_CMSG;
                        continue;
                }
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int received;

                        memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (n_fds < max_fds)
                                fds[n_fds++] = received;
                        else {
                                /* CMSG_SPACE() rounds up: room for one more than asked, at times */
                                safe_close(received);
                                flags |= SCM_RECV_FDS_TRUNCATED;
                        }
                }
        }
        if (mh.msg_flags & MSG_TRUNC || (size_t) n > size)
                flags |= SCM_RECV_TRUNCATED;
        if (mh.msg_flags & MSG_CTRUNC)
                flags |= SCM_RECV_FDS_TRUNCATED;
        *ret_n_fds = n_fds;
        *ret_flags = flags;
        return n;
}

ssize_t scm_recv(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                 unsigned *ret_flags) {
        return scm_recv_how(fd, MSG_DONTWAIT, buf, size, fds, max_fds, ret_n_fds, ret_flags);
}

ssize_t scm_recv_wait(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds,
                      unsigned *ret_flags) {
        return scm_recv_how(fd, 0, buf, size, fds, max_fds, ret_n_fds, ret_flags);
}

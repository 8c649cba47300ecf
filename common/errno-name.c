/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * errno-name.c - the errno name table.
 *
 * Owns: the list of errno values the protocol may carry by name.  Adding a
 * name here is all it takes for both ends to know it.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/errno-name.h"
#include "common/macro.h"

#define E(x) { x, #x }
static const struct {
        int value;
        const char *name;
} errno_table[] = {
        E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG), E(ENOEXEC),
        E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(EBUSY), E(EEXIST),
        E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY),
        E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE), E(EDOM), E(ERANGE),
        E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK), E(ENOSYS), E(ENOTEMPTY), E(ELOOP), E(ENOMSG),
        E(EIDRM), E(ENODATA), E(ETIME), E(EPROTO), E(EBADMSG), E(EOVERFLOW), E(EBADFD),
        E(EILSEQ), E(EUSERS), E(ENOTSOCK), E(EDESTADDRREQ), E(EMSGSIZE), E(EPROTOTYPE),
        E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(EOPNOTSUPP), E(EADDRINUSE), E(EADDRNOTAVAIL),
        E(ENETDOWN), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN), E(ENOTCONN),
        E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS),
        E(ESTALE), E(EDQUOT), E(ECANCELED), E(EOWNERDEAD), E(ENOTRECOVERABLE), E(ERFKILL),
        E(EHWPOISON), E(ENOTSUP),
};
#undef E

const char *errno_to_name(int err) {
        if (err < 0)
                err = -err;
        for (size_t i = 0; i < ELEMENTSOF(errno_table); i++)
                if (errno_table[i].value == err)
                        return errno_table[i].name;
        return NULL;
}

int errno_from_name(const char *name) {
        if (!name)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(errno_table); i++)
                if (strcmp(errno_table[i].name, name) == 0)
                        return errno_table[i].value;
        return 0;
}

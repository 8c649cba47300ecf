/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * macro.h - small helpers shared by the daemon, the client library and the tools.
 *
 * Owns: cleanup attributes (_cleanup_, DEFINE_TRIVIAL_CLEANUP_FUNC), ownership
 * transfer (TAKE_PTR, TAKE_FD), ELEMENTSOF, _public_, safe_close().
 * Must never: allocate, log, or depend on anything outside libc.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _public_ __attribute__((visibility("default")))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_PTR(p)                                     \
        ({                                              \
                __typeof__(p) _tp = (p);                \
                (p) = NULL;                             \
                _tp;                                    \
        })

#define TAKE_FD(fd)                                     \
        ({                                              \
                int _tf = (fd);                         \
                (fd) = -1;                              \
                _tf;                                    \
        })

/* Defines name##p(type *p) that calls func(*p) when *p is non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        (void) func(*p);                        \
        }

/* Closes fd if it is valid, keeps errno, returns -1 for "fd = safe_close(fd)". */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}

static inline void freep(void *p) {
        free(*(void **) p);
}

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)

/* r = -errno, never 0 even if errno was clobbered. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

#define PAGE_SIZE_4K 4096ULL

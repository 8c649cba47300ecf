/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * confine.c - ib_confine_device_fds(): a VMM gives up the VFIO ioctls the
 * broker does for it.
 *
 * Owns: the seccomp filter.  A process that holds a device fd from the
 * broker can attach, detach and bind it itself (VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * and friends act on the fd, not on the broker), and so sidestep the rules
 * the broker keeps around those calls (coherent-DMA-only page tables, the
 * PASID rules).  The filter makes those ioctls fail with EPERM on every fd;
 * everything else (regions, config space, interrupts, resets) stays.  It is
 * classic BPF on the syscall number and the ioctl request, so it needs no
 * library: for a foreign architecture (an x86 process using the i386 or x32
 * entry points) every ioctl is refused, since the numbers could not be
 * compared.
 */
#include <errno.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/vfio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "common/macro.h"

#if defined(__x86_64__)
#define IB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define IB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define IB_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__riscv) && __riscv_xlen == 64
#define IB_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__s390x__)
#define IB_AUDIT_ARCH AUDIT_ARCH_S390X
#endif

/* x32 system calls on x86-64 carry this bit in their number. */
#define IB_X32_SYSCALL_BIT 0x40000000U

#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC (1UL << 0)
#endif

_public_ int ib_confine_device_fds(unsigned flags) {
#ifdef IB_AUDIT_ARCH
        /* The request is the low 32 bits of the second argument: ioctl(2) takes an unsigned int. */
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IB_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),   /* a foreign entry point */
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, IB_X32_SYSCALL_BIT, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VFIO_DEVICE_BIND_IOMMUFD, 3, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VFIO_DEVICE_ATTACH_IOMMUFD_PT, 2, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VFIO_DEVICE_DETACH_IOMMUFD_PT, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(filter), .filter = filter };
        unsigned long sflags = 0;

        if (flags & ~(unsigned) IB_CONFINE_ALL_THREADS)
                return -EINVAL;
        if (flags & IB_CONFINE_ALL_THREADS)
                sflags |= SECCOMP_FILTER_FLAG_TSYNC;
        /* without CAP_SYS_ADMIN a filter needs no_new_privs; it is never lifted either */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, sflags, &prog) != 0)
                return errno > 0 ? -errno : -ESRCH;     /* TSYNC: a thread id that could not sync */
        return 0;
#else
        (void) flags;
        return -EOPNOTSUPP;
#endif
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memreg.c - see memreg.h.
 *
 * Theory of operation: of what the memfd checks of a Map look at, the kind
 * of file and the access mode belong to the open file and never change, so
 * MemRegister checks them once; seals and size belong to the inode, which
 * the client keeps and may change at any time, so each Map reads them
 * again.  Both only move one way under their own seals: seals are only ever
 * added, and none once F_SEAL_SEAL is set; with F_SEAL_SHRINK the size only
 * grows.  Where a seal says a value can no longer change in the direction
 * that matters, the value read before is used and the syscall is saved.
 * "At every Map" means at every request: the maps of one Batch see the
 * values read for its first (the caller names the request by a stamp).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* F_GET_SEALS */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "object/memreg.h"

/* A registration's record and what it costs (fd, taken on success): made (against the limits) or restored. */
static int memreg_record(MemReg **ret, Account *account, uint32_t id, int fd, int accmode, bool restored,
                         const Account **ret_over) {
        _cleanup_(memreg_freep) MemReg *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->fd = -1;
        m->id = id;
        m->accmode = accmode;
        r = charge_hold(&m->charge_fd, account, ACCOUNT_FDS, 1, restored, ret_over);
        if (r < 0)
                return r;
        m->fd = fd;
        *ret = TAKE_PTR(m);
        return 0;
}

int memreg_new(MemReg **ret, Account *account, uint32_t id, int fd, int accmode, const Account **ret_over) {
        return memreg_record(ret, account, id, fd, accmode, false, ret_over);
}

int memreg_restore(MemReg **ret, Account *account, uint32_t id, int fd, int accmode) {
        return memreg_record(ret, account, id, fd, accmode, true, NULL);
}

MemReg *memreg_free(MemReg *m) {
        if (!m)
                return NULL;
        idlink_unlink(&m->link);
        ioas_seal_guard_release(&m->seal_guard);
        safe_close(m->fd);
        charge_release(&m->charge_fd);
        free(m);
        return NULL;
}

int memreg_seals(MemReg *m, uint64_t stamp, int *ret_seals) {
        int seals;

        if (!m->sealed && (stamp == 0 || stamp != m->seals_stamp)) {
                seals = fcntl(m->fd, F_GET_SEALS);
                if (seals < 0)
                        return -errno;
                m->seals = seals;
                m->sealed = (seals & F_SEAL_SEAL) != 0;
                m->seals_stamp = stamp;
        }
        *ret_seals = m->seals;
        return 0;
}

int memreg_covers(MemReg *m, uint64_t stamp, int seals, uint64_t end, uint64_t *ret_size) {
        struct stat st;

        if ((seals & F_SEAL_SHRINK) && m->size_floor >= end)
                return 1;
        if (stamp != 0 && stamp == m->size_stamp && m->size_then >= end)
                return 1;
        if (fstat(m->fd, &st) < 0)
                return -errno;
        if (seals & F_SEAL_SHRINK)
                m->size_floor = (uint64_t) st.st_size;
        m->size_then = (uint64_t) st.st_size;
        m->size_stamp = stamp;
        *ret_size = (uint64_t) st.st_size;
        return end <= (uint64_t) st.st_size;
}

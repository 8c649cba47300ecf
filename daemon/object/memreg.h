/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memreg.h - a memfd a session registered once, named by a handle in its Maps.
 *
 * Owns: the broker's own reference to a registered memfd (the fd it keeps),
 * what the MemRegister checks found that can never change for that open
 * file (that it is a memfd, its access mode), the facts about the file that
 * can only move one way (seals once F_SEAL_SEAL froze them; a size that
 * F_SEAL_SHRINK keeps from falling), the ACCOUNT_FDS charge for the fd, and
 * the record's link in the session's list, which its free unlinks.
 * Must never: log above debug, decide what a map may do (core/verb-map.c
 * does, with these facts), or touch the kernel's IOMMU objects: a mapping
 * made from the fd holds its own reference (MAP_FILE) or mmap, so freeing
 * the record never changes what is mapped.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"
#include "object/account.h"
#include "object/ioas.h"
#include "util/idindex.h"

typedef struct MemReg MemReg;
struct MemReg {
        IdLink link;                    /* in the session's list and index (found by id) */
        uint32_t id;                    /* the handle: per session, never reused in it */
        int fd;                         /* the broker's own reference */
        int accmode;                    /* O_RDONLY, O_WRONLY or O_RDWR: fixed for the open file */
        int seals;                      /* valid with sealed: F_SEAL_SEAL froze them */
        bool sealed;
        uint64_t size_floor;            /* with F_SEAL_SHRINK: the size can no more fall below it */
        uint64_t seals_stamp;           /* the request seals were read for (0: none) */
        uint64_t size_stamp;            /* the request size_then was read for (0: none) */
        uint64_t size_then;
        MemRef *seal_guard;             /* shared by its writable mappings, from the first on (ioas_map()) */
        Charge charge_fd;               /* ACCOUNT_FDS */
};

/*
 * A record for fd, a memfd the caller checked, opened with accmode.  Takes
 * fd on success only.  -EDQUOT with *ret_over when the fd would pass a
 * limit.
 */
int memreg_new(MemReg **ret, Account *account, uint32_t id, int fd, int accmode, const Account **ret_over);
/* The record of a registration kept across a restart (the fd from the fd store); the charge is forced. */
int memreg_restore(MemReg **ret, Account *account, uint32_t id, int fd, int accmode);
/* Closes the fd and releases the charge; mappings made from it stay as they are. */
MemReg *memreg_free(MemReg *m);

/*
 * The seals at request stamp (F_GET_SEALS until F_SEAL_SEAL froze them;
 * read once per stamp, 0: every time); 0 or -errno.
 */
int memreg_seals(MemReg *m, uint64_t stamp, int *ret_seals);
/*
 * Whether the file reaches end (> 0: yes, 0: no) after memreg_seals():
 * without a syscall when F_SEAL_SHRINK makes a size read before a lower
 * bound that covers end, or a size read for the same stamp covers it, else
 * by fstat.  *ret_size: the size read (valid when 0 is returned); -errno if
 * fstat failed.
 */
int memreg_covers(MemReg *m, uint64_t stamp, int seals, uint64_t end, uint64_t *ret_size);

DEFINE_TRIVIAL_CLEANUP_FUNC(MemReg *, memreg_free);

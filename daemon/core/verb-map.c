/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-map.c - MemRegister, MemUnregister, Map, Unmap, Copy and Batch.
 *
 * Owns: the checks on a tenant's memfd before the kernel sees it (it must be a
 * memfd; a writable mapping needs an fd opened for writing and no write seal,
 * which some kernels do not check themselves; the range must lie inside the
 * file), split for registered memory into what is checked once and what at
 * every Map, page alignment, the order in which a request hears of its
 * faults (the IOAS's window, its own check, first), and the sentences that
 * explain the errnos of these verbs.  Batch runs Map/Unmap in order with one result
 * per operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/errno-name.h"
#include "common/protocol.h"
#include "core/batch-ops.h"
#include "core/persist.h"
#include "core/session.h"
#include "core/verbs.h"
#include "util/crashpoint.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static const char *file_kind(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFSOCK: return "a socket";
        case S_IFDIR: return "a directory";
        case S_IFCHR: return "a character device";
        case S_IFBLK: return "a block device";
        case S_IFIFO: return "a pipe";
        case S_IFLNK: return "a symlink";
        default: return "a file of another kind";
        }
}

static bool page_aligned(uint64_t v) {
        return (v & (PAGE_SIZE_4K - 1)) == 0;
}

/*
 * Memfd checks, split by what can change (docs/protocol.md, "Memfd checks"):
 * the kind of file and its access mode belong to the open file and are
 * checked once (MemRegister, or each Map by fd); seals and size belong to the
 * inode the client keeps and are checked at every Map.  The errnos and
 * sentences are the same on both paths.
 */

/* 1: a memfd.  *ret_accmode: its O_ACCMODE; *ret_size: its size now. */
static int check_memfd_kind(Call *c, int fd, int *ret_accmode, uint64_t *ret_size) {
        char path[64], target[256];
        struct statfs sfs;
        struct stat st;
        ssize_t n;
        int fl;

        if (fstat(fd, &st) < 0)
                return call_fail(c, EBADF, "cannot inspect the file descriptor: %s", strerror(errno));
        if (!S_ISREG(st.st_mode))
                return call_fail(c, EBADF, "the file descriptor is %s, not a memfd", file_kind(st.st_mode));
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0 || strncmp(target, "/memfd:", 7) != 0 || fstatfs(fd, &sfs) < 0 ||
            (sfs.f_type != TMPFS_MAGIC && sfs.f_type != HUGETLBFS_MAGIC))
                return call_fail(c, EBADF, "the file descriptor is a regular file, not a memfd");
        fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return call_fail(c, EBADF, "cannot read the memfd's access mode: %s", strerror(errno));
        *ret_accmode = fl & O_ACCMODE;
        *ret_size = (uint64_t) st.st_size;
        return 0;
}

/* 2: the access mode of the open file allows the mapping's access. */
static int check_memfd_access(Call *c, int accmode, bool readable, bool writeable) {
        if (writeable && accmode == O_RDONLY)
                return call_fail(c, EACCES, "a writeable mapping needs a memfd opened for writing; this one is read-only");
        if (readable && accmode == O_WRONLY)
                return call_fail(c, EACCES, "a readable mapping needs a memfd opened for reading; this one is write-only");
        return 0;
}

/* 3: write seals; seals < 0 is the -errno of F_GET_SEALS. */
static int check_memfd_seals(Call *c, int seals, bool writeable) {
        if (seals < 0)
                return call_fail(c, EBADF, "cannot read the memfd's seals: %s", strerror(-seals));
        if (writeable && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
                return call_fail(c, EPERM, "a writeable mapping of a write-sealed memfd is refused");
        return 0;
}

static int fail_memfd_range(Call *c, uint64_t offset, uint64_t length, uint64_t size) {
        return call_fail(c, EINVAL,
                         "range 0x%" PRIx64 "+0x%" PRIx64 " lies beyond the end of the memfd (0x%" PRIx64 " bytes)",
                         offset, length, size);
}

/* All four, for a memfd that came with the request. */
static int check_memfd(Call *c, int fd, uint64_t offset, uint64_t length, bool readable, bool writeable) {
        uint64_t size, end;
        int accmode, seals, r;

        r = check_memfd_kind(c, fd, &accmode, &size);
        if (r < 0)
                return r;
        r = check_memfd_access(c, accmode, readable, writeable);
        if (r < 0)
                return r;
        seals = fcntl(fd, F_GET_SEALS);
        r = check_memfd_seals(c, seals < 0 ? -errno : seals, writeable);
        if (r < 0)
                return r;
        /* 4: the range, against the size at the time of the request */
        if (__builtin_add_overflow(offset, length, &end) || end > size)
                return fail_memfd_range(c, offset, length, size);
        return 0;
}

/*
 * 2 to 4 for a registered memfd: no readlink, no fstatfs, no dup; seals and
 * size read again, once per request (the session's request count names it:
 * the session reads no other request while one runs).
 */
static int check_memreg(Call *c, MemReg *m, uint64_t offset, uint64_t length, bool readable, bool writeable) {
        uint64_t size = 0, end;
        int seals = 0, r;

        r = check_memfd_access(c, m->accmode, readable, writeable);
        if (r < 0)
                return r;
        r = memreg_seals(m, c->session->n_requests, &seals);
        r = check_memfd_seals(c, r < 0 ? r : seals, writeable);
        if (r < 0)
                return r;
        if (__builtin_add_overflow(offset, length, &end))
                end = UINT64_MAX;       /* never covered: the size is read for the sentence */
        r = memreg_covers(m, c->session->n_requests, seals, end, &size);
        if (r < 0)
                return call_fail(c, EBADF, "cannot inspect the file descriptor: %s", strerror(-r));
        if (r == 0)
                return fail_memfd_range(c, offset, length, size);
        return 0;
}

static uint32_t map_flags(bool readable, bool writeable, bool fixed) {
        return (readable ? BACKEND_MAP_READABLE : 0) | (writeable ? BACKEND_MAP_WRITEABLE : 0) |
               (fixed ? BACKEND_MAP_FIXED_IOVA : 0);
}

/* The sentence for an errno of a map or copy into ioas: the window's (ioas_map()) or the kernel's. */
static int fail_map(Call *c, int r, uint32_t ioas, bool fixed, uint64_t iova, uint64_t length) {
        uint64_t last = iova + (length - 1);

        switch (-r) {
        case EEXIST:
                return call_fail(c, r, "IOVA 0x%" PRIx64 "-0x%" PRIx64 " overlaps an existing mapping of IOAS %" PRIu32,
                                 iova, last, ioas);
        case ENOSPC:
                return call_fail(c, r, "no free IOVA range of 0x%" PRIx64 " bytes in IOAS %" PRIu32
                                 " (inside its window and allowed IOVAs)", length, ioas);
        case EADDRINUSE:
                return call_fail(c, r, "IOVA 0x%" PRIx64 "-0x%" PRIx64 " lies in a reserved region of IOAS %" PRIu32,
                                 iova, last, ioas);
        case EOVERFLOW:
                return call_fail(c, r, "IOVA 0x%" PRIx64 " + length 0x%" PRIx64 " passes the end of the address space",
                                 iova, length);
        case ERANGE:
                return call_fail(c, r, "IOVA 0x%" PRIx64 "-0x%" PRIx64 " lies outside the window of IOAS %" PRIu32,
                                 iova, last, ioas);
        case EINVAL:
                if (fixed)
                        return call_fail(c, r, "the IOMMU refused IOVA 0x%" PRIx64 " length 0x%" PRIx64
                                         " (alignment or range)", iova, length);
                return call_fail(c, r, "the IOMMU refused a mapping of length 0x%" PRIx64, length);
        default:
                return call_fail(c, r, "cannot map into IOAS %" PRIu32 ": %s", ioas, strerror(-r));
        }
}

/* The registration a Map names by mem, or NULL with *ret = call_fail(ENOENT, ...). */
static MemReg *call_find_memreg(Call *c, uint32_t mem, int *ret) {
        MemReg *m;

        if (c->found_memreg && c->found_memreg->id == mem)
                return c->found_memreg;
        m = session_find(c->session, MemReg, mem);
        if (!m)
                *ret = call_fail(c, ENOENT, "no registered memory %" PRIu32 " in this session", mem);
        else if (c->remember)
                c->found_memreg = m;
        return m;
}

static int do_map(Call *c, const Ib__V1__MapRequest *m, uint64_t *ret_iova) {
        uint32_t flags = map_flags(m->readable, m->writeable, m->has_iova);
        const Account *over = NULL;
        uint64_t iova = m->has_iova ? m->iova : 0;
        MemReg *mem = NULL;
        Mapping *made;
        Ioas *ioas;
        int fd, r;

        ioas = call_find_ioas(c, m->ioas, &r);
        if (!ioas)
                return r;
        if (m->has_mem) {
                if (m->has_fd_index)
                        return call_fail(c, EINVAL, "a Map names its memory by fd_index or by mem, not both");
                mem = call_find_memreg(c, m->mem, &r);
                if (!mem)
                        return r;
                fd = mem->fd;
        } else {
                fd = fdlist_get(c->fds, m->fd_index);
                if (fd < 0)
                        return call_fail(c, EBADF, "fd_index %" PRIu32 " names no file descriptor of this message",
                                         m->fd_index);
        }
        if (m->length == 0)
                return call_fail(c, EINVAL, "length 0: nothing to map");
        if (!m->readable && !m->writeable)
                return call_fail(c, EINVAL, "a mapping must be readable, writeable or both");
        if (!page_aligned(m->offset) || !page_aligned(m->length) || (m->has_iova && !page_aligned(iova)))
                return call_fail(c, EINVAL, "offset, length and IOVA must be multiples of 4 KiB");
        /* the window before the memfd: the protocol's order of checks */
        r = ioas_check_range(ioas, flags, iova, m->length);
        if (r < 0)
                return fail_map(c, r, m->ioas, m->has_iova, iova, m->length);
        if (mem)
                r = check_memreg(c, mem, m->offset, m->length, m->readable, m->writeable);
        else
                r = check_memfd(c, fd, m->offset, m->length, m->readable, m->writeable);
        if (r < 0)
                return r;

        r = ioas_map(ioas, fd, &c->session->guards, mem ? &mem->seal_guard : NULL, m->offset, m->length, flags,
                     &iova, &made, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r < 0)
                return fail_map(c, r, m->ioas, m->has_iova, iova, m->length);
        if (mem)
                made->mem = mem->id;
        crash_point("mapped");
        persist_map(c->session->host->persist, c->session, ioas, made);
        crash_point("map-recorded");
        *ret_iova = iova;
        return 0;
}

static int do_unmap(Call *c, const Ib__V1__UnmapRequest *u, uint64_t *ret_length) {
        Ioas *ioas;
        int r;

        ioas = call_find_ioas(c, u->ioas, &r);
        if (!ioas)
                return r;
        r = ioas_unmap(ioas, u->iova, u->length, ret_length);
        if (r >= 0) {
                uint64_t last;

                if ((u->iova == 0 && u->length == UINT64_MAX) || iova_last(u->iova, u->length, &last) < 0)
                        last = IOVA_MAX;
                crash_point("unmapped");
                persist_unmap(c->session->host->persist, c->session, ioas->id, ioas->serial, u->iova, last);
                crash_point("unmap-recorded");
        }
        if (r == -ENOENT)
                return call_fail(c, r, "0x%" PRIx64 "+0x%" PRIx64 " of IOAS %" PRIu32
                                 " does not cover whole mappings: an unmap cannot split a mapping, and must unmap something",
                                 u->iova, u->length, u->ioas);
        if (r == -EBUSY)
                return call_fail(c, r, "the mapping is in use by a device access and cannot be unmapped now");
        if (r < 0)
                return call_fail(c, r, "cannot unmap 0x%" PRIx64 "+0x%" PRIx64 " of IOAS %" PRIu32 ": %s",
                                 u->iova, u->length, u->ioas, strerror(-r));
        return 0;
}

int verb_mem_register(Call *c) {
        _cleanup_(memreg_freep) MemReg *m = NULL;
        Ib__V1__MemRegisterReply *reply;
        const Account *over = NULL;
        Session *s = c->session;
        uint64_t size;
        int fd, own, accmode, r;

        fd = fdlist_get(c->fds, 0);
        r = check_memfd_kind(c, fd, &accmode, &size);
        if (r < 0)
                return r;
        if (s->last_mem == UINT32_MAX)
                return call_fail(c, ENOSPC, "this session has used up its %" PRIu32 " memory handles", UINT32_MAX);
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        /* an open file of the broker's own: the fd store keeps one copy of each (core/persist.h) */
        own = persist_own_file(s->host->persist, fd, accmode);
        if (own < 0)
                return call_fail(c, own == -EMFILE || own == -ENFILE ? EMFILE : EBADF,
                                 "cannot open the memfd again for the broker: %s", strerror(-own));
        r = memreg_new(&m, &s->account, s->last_mem + 1, own, accmode, &over);
        if (r < 0 && own != fd)
                safe_close(own);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r < 0)
                return r;
        if (own == fd)
                (void) fdlist_take(c->fds, 0);  /* the record owns it now */
        s->last_mem = m->id;
        (void) persist_keep_fd(s->host->persist, s, PERSIST_FD_MEMREG, m->id, m->fd);
        ib__v1__mem_register_reply__init(reply);
        reply->mem = m->id;
        session_add(s, TAKE_PTR(m));
        c->reply->result_case = IB__V1__REPLY__RESULT_MEM_REGISTER;
        c->reply->mem_register = reply;
        return 0;
}

int verb_mem_unregister(Call *c) {
        const Ib__V1__MemUnregisterRequest *req = c->request->mem_unregister;
        Ib__V1__MemUnregisterReply *reply;
        MemReg *m;
        int r;

        m = call_find_memreg(c, req->mem, &r);
        if (!m)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        /* the broker's reference only: mappings made from it keep their own */
        persist_forget_fd(c->session->host->persist, c->session, PERSIST_FD_MEMREG, m->id);
        crash_point("released");
        memreg_free(m);
        ib__v1__mem_unregister_reply__init(reply);
        c->reply->result_case = IB__V1__REPLY__RESULT_MEM_UNREGISTER;
        c->reply->mem_unregister = reply;
        return 0;
}

int verb_map(Call *c) {
        const Ib__V1__MapRequest *m = c->request->map;
        Ib__V1__MapReply *reply;
        uint64_t iova = 0;
        int r;

        /* the verb table lets 0 or 1 fd through: a Map by mem takes none */
        if (m->has_mem && fdlist_count(c->fds) > 0)
                return call_fail(c, EBADF, "Map by mem takes no file descriptor, got %zu", fdlist_count(c->fds));
        r = do_map(c, m, &iova);
        if (r < 0)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        ib__v1__map_reply__init(reply);
        reply->iova = iova;
        c->reply->result_case = IB__V1__REPLY__RESULT_MAP;
        c->reply->map = reply;
        return 0;
}

int verb_unmap(Call *c) {
        Ib__V1__UnmapReply *reply;
        uint64_t length = 0;
        int r;

        r = do_unmap(c, c->request->unmap, &length);
        if (r < 0)
                return r;
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;
        ib__v1__unmap_reply__init(reply);
        reply->length = length;
        c->reply->result_case = IB__V1__REPLY__RESULT_UNMAP;
        c->reply->unmap = reply;
        return 0;
}

int verb_copy(Call *c) {
        const Ib__V1__CopyRequest *req = c->request->copy;
        uint32_t flags = map_flags(req->readable, req->writeable, req->has_dst_iova);
        const Account *over = NULL;
        Ib__V1__CopyReply *reply;
        uint64_t iova = req->has_dst_iova ? req->dst_iova : 0, last;
        Ioas *dst, *src;
        int r;

        dst = call_find_ioas(c, req->dst_ioas, &r);
        if (!dst)
                return r;
        src = call_find_ioas(c, req->src_ioas, &r);
        if (!src)
                return r;
        if (req->length == 0)
                return call_fail(c, EINVAL, "length 0: nothing to copy");
        if (!req->readable && !req->writeable)
                return call_fail(c, EINVAL, "a mapping must be readable, writeable or both");
        if (!page_aligned(req->src_iova) || !page_aligned(req->length) || (req->has_dst_iova && !page_aligned(iova)))
                return call_fail(c, EINVAL, "IOVAs and length must be multiples of 4 KiB");
        r = ioas_check_range(dst, flags, iova, req->length);
        if (r < 0)
                return fail_map(c, r, req->dst_ioas, req->has_dst_iova, iova, req->length);
        reply = call_alloc(c, sizeof(*reply));
        if (!reply)
                return -ENOMEM;

        if (iova_last(req->src_iova, req->length, &last) < 0)
                return call_fail(c, EOVERFLOW, "source IOVA 0x%" PRIx64 " + length 0x%" PRIx64
                                 " passes the end of the address space", req->src_iova, req->length);
        r = ioas_copy(dst, src, req->src_iova, req->length, flags, &iova, &over);
        if (r == -EDQUOT)
                return call_fail_quota(c, over);
        if (r == -ENOENT)
                return call_fail(c, r, "0x%" PRIx64 "+0x%" PRIx64 " of IOAS %" PRIu32 " is not fully mapped",
                                 req->src_iova, req->length, req->src_ioas);
        if (r < 0)
                return fail_map(c, r, req->dst_ioas, req->has_dst_iova, iova, req->length);

        persist_map(c->session->host->persist, c->session, dst, ioas_mapping_at(dst, iova));
        ib__v1__copy_reply__init(reply);
        reply->dst_iova = iova;
        c->reply->result_case = IB__V1__REPLY__RESULT_COPY;
        c->reply->copy = reply;
        return 0;
}

static int batch_result_error(Call *c, Ib__V1__BatchResult *res, int r, const char *message) {
        res->has_errnum = true;
        res->errnum = -r;
        res->errno_name = (char *) errno_to_name(-r);   /* absent when unnamed: errnum says it */
        res->error = call_strdup(c, message);
        return res->error ? 0 : -ENOMEM;
}

int verb_batch(Call *c) {
        const Ib__V1__BatchRequest *req = c->request->batch;
        Ib__V1__BatchReply *reply;
        bool used[IB_MAX_FDS_PER_MESSAGE] = {};
        bool stopped = false;
        BatchOpView op;
        BatchAnswer answer;
        char why[160];
        void *block;
        Call sub;
        size_t n;
        int r;

        call_init(&sub, c->session);
        sub.fds = c->fds;
        sub.remember = true;            /* its operations find the same IOAS and registration again and again */
        if (batch_ops_count(req, &n, why, sizeof(why)) < 0)
                return call_fail(c, EINVAL, "%s", why);
        if (n > IB_MAX_BATCH_OPS)
                return call_fail(c, E2BIG, "%zu operations: the limit is %u", n, IB_MAX_BATCH_OPS);
        for (size_t i = 0; i < n; i++) {
                if (batch_is_packed(req)) {
                        if (batch_op_check(req, i, why, sizeof(why)) < 0)
                                return call_fail(c, EINVAL, "%s", why);
                        continue;       /* packed: by handle only, no fd */
                }
                if (batch_op_view(req, i, &op, why, sizeof(why)) < 0)
                        return call_fail(c, EINVAL, "%s", why);
                if (!op.is_map || op.map->has_mem)
                        continue;       /* by handle: no fd; naming both is the operation's EINVAL */
                if (op.map->fd_index >= fdlist_count(c->fds))
                        return call_fail(c, EBADF, "operation %zu: fd_index %" PRIu32 " names no file descriptor", i,
                                         op.map->fd_index);
                used[op.map->fd_index] = true;
        }
        for (size_t i = 0; i < fdlist_count(c->fds); i++)
                if (!used[i])
                        return call_fail(c, EBADF, "file descriptor %zu is used by no operation", i);

        block = call_alloc_uninit(c, batch_answer_size(n, batch_is_packed(req)));
        reply = call_alloc(c, sizeof(*reply));
        if (!block || !reply)
                return -ENOMEM;
        batch_answer_init(&answer, block, n, batch_is_packed(req));

        for (size_t i = 0; i < n; i++) {
                uint64_t value = 0;

                if (stopped) {
                        r = batch_result_error(c, batch_answer_failed(&answer, i), -ECANCELED,
                                               "not run: an earlier operation failed");
                        if (r < 0)
                                return r;
                        continue;
                }
                batch_op_view_checked(req, i, &op);
                sub.error[0] = '\0';   /* the one field an op sets (when it fails) */
                r = op.is_map ? do_map(&sub, op.map, &value) : do_unmap(&sub, op.unmap, &value);
                persist_request_step(c->session->host->persist, c->session, (uint32_t) i, r < 0 ? r : 0, value);
                if (r < 0) {
                        r = batch_result_error(c, batch_answer_failed(&answer, i), r,
                                               sub.error[0] ? sub.error : strerror(-r));
                        if (r < 0)
                                return r;
                        stopped = req->stop_on_error;
                } else
                        batch_answer_done(&answer, i, op.is_map, value);
        }
        *reply = answer.reply;
        c->reply->result_case = IB__V1__REPLY__RESULT_BATCH;
        c->reply->batch = reply;
        return 0;
}

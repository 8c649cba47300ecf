/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ioas.c - see ioas.h.
 *
 * Theory of operation: the kernel decides whether a map, unmap or copy is
 * valid (overlap, whole-mapping unmap, allowed IOVAs); this file only keeps
 * the broker's bookkeeping in step after the kernel said yes, and holds the
 * charges for what each mapping costs.  An unmap that succeeded removed
 * exactly the mappings inside its range (the kernel refuses to split one), so
 * the records inside the range go too.
 *
 * The records of an IOAS's mappings sit in an interval tree (util/itree.h),
 * as the kernel keeps its areas in one: a map or copy inserts one node, an
 * unmap finds the first mapping of its range and removes the k it covers,
 * and a lookup by IOVA descends once, so each costs O(log n) (plus k) however
 * many mappings the IOAS holds; only the teardown and unmap-all walk them
 * all.  A node is part of its Mapping: inserting one allocates nothing, so
 * once the kernel has mapped, recording it cannot fail.  The kernel refuses
 * overlapping mappings, so the tree never sees one.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/protocol.h"
#include "object/ioas.h"
#include "util/spares.h"

/*
 * A broker mmap of a memfd: the memory IOMMU_IOAS_MAP points the kernel at
 * (mmap path), or a seal guard: a shared writable mapping of the file's
 * first block that only makes F_SEAL_WRITE fail while writable DMA to the
 * file exists (MAP_FILE path; it costs one block of address space, never
 * memory: nothing touches it).  A guard belongs to its session's GuardSet,
 * one per file, with the broker's own fd of the file (what a restarted
 * broker makes it again from) and that fd's charge; every mapping and copy
 * that needs it holds a reference, and so does a registration of the file.
 */
struct MemRef {
        unsigned refs;
        bool guard;                     /* a seal guard (MAP_FILE path): the kernel never points at va */
        bool reserve;                   /* the kernel may still point at va: never let it back other memory */
        bool restoring;                 /* a guard: the restore holds a reference (guard_set_restore_done()) */
        void *va;
        size_t length;
        /* a guard only: */
        GuardSet *set;                  /* NULL once guard_set_fini() let go of it */
        ListLink link;                  /* in set->guards */
        uint32_t id;
        int fd;                         /* the broker's own, of the file */
        dev_t dev;
        ino_t ino;
        Charge charge_fd;               /* ACCOUNT_FDS */
        /* not a guard: the broker's mmap, ACCOUNT_BROKER_MMAPS at the broker's account (kept with a reserve) */
        Charge charge_mmap;
};

static MemRef *memref_ref(MemRef *m) {
        m->refs++;
        return m;
}

static MemRef *memref_unref(MemRef *m) {
        if (!m || --m->refs > 0)
                return NULL;
        if (m->guard) {
                list_unlink(&m->link);
                if (m->set && m->set->dropped)
                        m->set->dropped(m->id, m->set->userdata);
                safe_close(m->fd);
                charge_release(&m->charge_fd);
                /*
                 * A guard of an IOAS the kernel may still hold (ioas_abandon())
                 * stays mapped: a device fd outside the broker may attach to that
                 * IOAS again and write, so F_SEAL_WRITE must stay refused.
                 */
                if (!m->reserve)
                        (void) munmap(m->va, m->length);
                free(m);
                return NULL;
        }
        /*
         * A range the kernel may still translate to (its IOAS outlived the
         * session in a context a client's device fd holds, and it could not be
         * emptied) is replaced by an inaccessible reservation that is never
         * unmapped: a later mmap can never put another tenant's memory at
         * these addresses, and a pin through them fails.  The memfd's own pages
         * go with the replaced mapping.
         */
        if (!m->reserve || mmap(m->va, m->length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                                -1, 0) == MAP_FAILED) {
                (void) munmap(m->va, m->length);
                charge_release(&m->charge_mmap);
        }
        /* else the reservation is a mapping of the broker's for good, and so is its charge */
        free(m);
        return NULL;
}

void ioas_seal_guard_release(MemRef **guard) {
        *guard = memref_unref(*guard);
}

void guard_set_init(GuardSet *set, Account *account, void (*kept)(uint32_t id, int fd, void *userdata),
                    void (*dropped)(uint32_t id, void *userdata), void *userdata) {
        *set = (GuardSet) { .account = account, .kept = kept, .dropped = dropped, .userdata = userdata };
}

void guard_set_fini(GuardSet *set) {
        LIST_FOREACH_LINK(l, &set->guards) {
                list_unlink(l);
                list_entry(l, MemRef, link)->set = NULL;
        }
}

static MemRef *guard_find(GuardSet *set, dev_t dev, ino_t ino) {
        MemRef *g;

        LIST_FOREACH(g, &set->guards, link)
                if (g->dev == dev && g->ino == ino)
                        return g;
        return NULL;
}

void guard_set_foreach(GuardSet *set, void (*fn)(uint32_t id, void *userdata), void *userdata) {
        MemRef *g;

        LIST_FOREACH(g, &set->guards, link)
                fn(g->id, userdata);
}

MemRef *guard_set_find(GuardSet *set, uint32_t id) {
        MemRef *g;

        LIST_FOREACH(g, &set->guards, link)
                if (g->id == id)
                        return g;
        return NULL;
}

/*
 * A guard of the file fd (taken on success; st: its fstat()) in set, with
 * no reference yet.  id 0: a new one, the set's next id, reported to
 * set->kept; else one a restart found.  Its fd is charged (-EDQUOT with
 * *ret_over), or with force charged whatever the limit says (what a
 * restart finds exists).
 */
static int guard_new(GuardSet *set, int fd, const struct stat *st, uint32_t id, bool force, MemRef **ret,
                     const Account **ret_over) {
        uint64_t bs;
        MemRef *g;
        void *va;
        int r;

        bs = st->st_blksize > 0 && ((uint64_t) st->st_blksize & ((uint64_t) st->st_blksize - 1)) == 0 ?
                (uint64_t) st->st_blksize : PAGE_SIZE_4K;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        r = charge_hold(&g->charge_fd, set->account, ACCOUNT_FDS, 1, force, ret_over);
        if (r < 0) {
                free(g);
                return r;
        }
        va = mmap(NULL, bs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        if (va == MAP_FAILED) {
                r = -errno;
                charge_release(&g->charge_fd);
                free(g);
                return r;
        }
        g->guard = true;
        g->va = va;
        g->length = bs;
        g->set = set;
        g->fd = fd;
        g->dev = st->st_dev;
        g->ino = st->st_ino;
        if (id == 0) {
                g->id = ++set->last_id;
                if (set->kept)
                        set->kept(g->id, fd, set->userdata);
        } else {
                g->id = id;
                if (id > set->last_id)
                        set->last_id = id;
        }
        list_link_front(&set->guards, &g->link);
        *ret = g;
        return 0;
}

void guard_set_note_id(GuardSet *set, uint32_t id) {
        if (id > set->last_id)
                set->last_id = id;
}

int guard_set_restore(GuardSet *set, uint32_t id, int fd, MemRef **ret) {
        struct stat st;
        int r;

        if (id == 0 || guard_set_find(set, id))
                return -EEXIST;
        if (fstat(fd, &st) < 0)
                return -errno;
        r = guard_new(set, fd, &st, id, true, ret, NULL);
        if (r < 0)
                return r;
        (*ret)->restoring = true;
        memref_ref(*ret);
        return 0;
}

void guard_set_restore_done(GuardSet *set) {
        MemRef *g;

        LIST_FOREACH_SAFE(g, &set->guards, link)
                if (g->restoring) {
                        g->restoring = false;
                        memref_unref(g);
                }
}

/* Freed mappings for the next ones: a Batch's 256 ops at most, twice (its maps, then an Unmap's frees). */
static Spares mapping_spares = SPARES_INIT(Mapping, 2 * IB_MAX_BATCH_OPS);

static Mapping *mapping_free(Mapping *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_mems; i++)
                memref_unref(m->mems[i]);
        if (m->mems != &m->mem_one)
                free(m->mems);
        charge_release(&m->charge_bytes);
        charge_release(&m->charge_count);
        spares_put(&mapping_spares, m);
        return NULL;
}

void ioas_spares_clear(void) {
        spares_clear(&mapping_spares);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Mapping *, mapping_free);

/* A mapping's record and what it costs: made (against the limits) or restored. */
static int mapping_new(Mapping **ret, Account *account, uint64_t length, bool restored, const Account **ret_over) {
        _cleanup_(mapping_freep) Mapping *m = NULL;
        int r;

        m = spares_get(&mapping_spares);
        if (!m)
                return -ENOMEM;
        *m = (Mapping) {};
        r = charge_hold(&m->charge_count, account, ACCOUNT_MAPPINGS, 1, restored, ret_over);
        if (r < 0)
                return r;
        r = charge_hold(&m->charge_bytes, account, ACCOUNT_MAPPED_BYTES, length, restored, ret_over);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static int mapping_add_mem(Mapping *m, MemRef *mem) {
        MemRef **a;

        /* a mapping holds a guard once, however many of its sources (a Copy) share it */
        if (mem->guard)
                for (size_t i = 0; i < m->n_mems; i++)
                        if (m->mems[i] == mem)
                                return 0;
        if (m->n_mems == 0) {
                m->mem_one = memref_ref(mem);
                m->mems = &m->mem_one;
                m->n_mems = 1;
                return 0;
        }
        a = reallocarray(m->mems == &m->mem_one ? NULL : m->mems, m->n_mems + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        if (m->mems == &m->mem_one)
                a[0] = m->mem_one;
        m->mems = a;
        m->mems[m->n_mems++] = memref_ref(mem);
        return 0;
}

static Mapping *mapping_of(ITreeNode *n) {
        return itree_entry(n, Mapping, node);
}

static void mapping_free_node(ITreeNode *n, void *userdata) {
        mapping_free(mapping_of(n));
}

/* Sets m's IOVAs to [iova, iova + length - 1], cut at the top of the IOVA space. */
static void mapping_place(Mapping *m, uint64_t iova, uint64_t length) {
        m->node.start = iova;
        if (iova_last(iova, length, &m->node.last) < 0)
                m->node.last = IOVA_MAX;
}

/* Records m, placed; nothing to allocate, so this cannot fail. */
static void ioas_insert(Ioas *ioas, Mapping *m) {
        int r;

        r = itree_insert(&ioas->maps, &m->node);
        assert(r == 0);         /* the kernel refuses overlapping mappings */
        (void) r;
        ioas->mapped_bytes += m->node.last - m->node.start + 1;
}

/* An IOAS's record and what it costs: made (against the limits) or restored. */
static int ioas_record(Ioas **ret, BackendCtx *ctx, Account *account, bool restored, const Account **ret_over) {
        _cleanup_(ioas_freep) Ioas *ioas = NULL;
        int r;

        ioas = calloc(1, sizeof(*ioas));
        if (!ioas)
                return -ENOMEM;
        ioas->ctx = ctx;
        ioas->account = account;
        r = charge_hold(&ioas->charge_ioas, account, ACCOUNT_IOAS, 1, restored, ret_over);
        if (r < 0)
                return r;
        r = charge_hold(&ioas->charge_object, account, ACCOUNT_OBJECTS, 1, restored, ret_over);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ioas);
        return 0;
}

int ioas_new(Ioas **ret, BackendCtx *ctx, Account *account, const Account **ret_over) {
        _cleanup_(ioas_freep) Ioas *ioas = NULL;
        int r;

        r = ioas_record(&ioas, ctx, account, false, ret_over);
        if (r < 0)
                return r;
        r = backend_ioas_alloc(ctx, &ioas->id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ioas);
        return 0;
}

int ioas_restore(Ioas **ret, BackendCtx *ctx, Account *account, uint32_t id) {
        int r = ioas_record(ret, ctx, account, true, NULL);

        if (r >= 0)
                (*ret)->id = id;
        return r;
}

int ioas_restore_mapping(Ioas *ioas, uint64_t iova, uint64_t length, uint32_t flags, uint32_t mem,
                         uint64_t offset, Mapping **ret) {
        _cleanup_(mapping_freep) Mapping *m = NULL;
        uint64_t last;
        int r;

        if (length == 0 || iova_last(iova, length, &last) < 0)
                return -EINVAL;
        if (itree_first_in(&ioas->maps, iova, last))
                return -EEXIST;
        r = mapping_new(&m, ioas->account, length, true, NULL);
        if (r < 0)
                return r;
        m->offset = offset;
        m->flags = flags & ~BACKEND_MAP_FIXED_IOVA;
        m->mem = mem;
        mapping_place(m, iova, length);
        *ret = m;
        ioas_insert(ioas, TAKE_PTR(m));
        return 0;
}

int mapping_hold_guard(Mapping *m, MemRef *guard, MemRef **shared) {
        int r;

        if (!guard->guard)
                return -EINVAL;
        r = mapping_add_mem(m, guard);
        if (r >= 0 && shared && !*shared)
                *shared = memref_ref(guard);
        return r;
}

bool mapping_needs_guard(const Ioas *ioas, const Mapping *m) {
        return (m->flags & BACKEND_MAP_WRITEABLE) && backend_has(ioas->ctx->backend, BACKEND_FEATURE_MAP_FILE);
}

size_t mapping_guards(const Mapping *m, uint32_t *ids, size_t max) {
        size_t n = 0;

        for (size_t i = 0; i < m->n_mems; i++)
                if (m->mems[i]->guard) {
                        if (n < max)
                                ids[n] = m->mems[i]->id;
                        n++;
                }
        return n;
}

void ioas_forget_mappings(Ioas *ioas, uint64_t iova, uint64_t last, uint64_t *ret_bytes) {
        uint64_t bytes = 0;

        for (ITreeNode *n = itree_first_in(&ioas->maps, iova, last), *next; n && n->start <= last; n = next) {
                next = itree_next(n);
                if (n->start < iova || n->last > last)
                        continue;
                bytes += n->last - n->start + 1;
                ioas->mapped_bytes -= n->last - n->start + 1;
                itree_remove(&ioas->maps, n);
                mapping_free(mapping_of(n));
        }
        if (ret_bytes)
                *ret_bytes = bytes;
}

Mapping *ioas_mapping_at(Ioas *ioas, uint64_t iova) {
        ITreeNode *n = itree_first_in(&ioas->maps, iova, iova);

        return n && n->start == iova ? mapping_of(n) : NULL;
}

int ioas_set_window(Ioas *ioas, const IovaRange *window, size_t n_window) {
        int r;

        if (n_window == 0 || n_window > IOAS_MAX_WINDOW)
                return -EINVAL;
        r = backend_allow_iovas(ioas->ctx, ioas->id, window, n_window);
        if (r < 0)
                return r;
        memcpy(ioas->window, window, n_window * sizeof(*window));
        ioas->n_window = n_window;
        memcpy(ioas->allowed, window, n_window * sizeof(*window));
        ioas->n_allowed = n_window;
        return 0;
}

int ioas_allow_iovas(Ioas *ioas, const IovaRange *ranges, size_t n) {
        int r;

        if (n == 0) {
                ranges = ioas->window;
                n = ioas->n_window;
        }
        if (n > IOAS_MAX_WINDOW)
                return -E2BIG;
        r = backend_allow_iovas(ioas->ctx, ioas->id, ranges, n);
        if (r < 0)
                return r;
        memmove(ioas->allowed, ranges, n * sizeof(*ranges));
        ioas->n_allowed = n;
        return 0;
}

int ioas_with_reserved_regions(Ioas *ioas, int (*op)(void *userdata), void (*undo)(void *userdata), void *userdata) {
        IovaRange offered[IOAS_MAX_WINDOW], cut[IOAS_MAX_WINDOW];
        size_t n_offered = ELEMENTSOF(offered);
        uint64_t alignment;
        int r, q, n;

        if (ioas->n_allowed == 0)
                return op(userdata);
        r = backend_allow_iovas(ioas->ctx, ioas->id, NULL, 0);
        if (r < 0)
                return r;
        r = op(userdata);

        /*
         * The allowed ranges again, without the reserved regions that came with
         * the device.  Fail closed: if they cannot be set (nothing of them is
         * left, or the kernel refuses), the operation is undone and the old
         * list set again; an IOAS never stays without its restriction because
         * of an attach.
         */
        q = backend_iova_ranges(ioas->ctx, ioas->id, offered, &n_offered, &alignment);
        if (q >= 0) {
                n = iova_ranges_intersect(ioas->allowed, ioas->n_allowed, offered, n_offered, cut, ELEMENTSOF(cut));
                q = n < 0 ? -E2BIG : n == 0 ? -EADDRNOTAVAIL : backend_allow_iovas(ioas->ctx, ioas->id, cut, (size_t) n);
        }
        if (q >= 0)
                return r;
        if (r >= 0 && undo)
                undo(userdata);
        /* should even this fail, ioas_map() and ioas_copy() still check every IOVA the kernel chooses */
        (void) backend_allow_iovas(ioas->ctx, ioas->id, ioas->allowed, ioas->n_allowed);
        return r < 0 ? r : q;
}

int ioas_iova_ranges(Ioas *ioas, IovaRange *ranges, size_t *n_ranges, uint64_t *ret_alignment) {
        _cleanup_free_ IovaRange *all = NULL;
        size_t n = *n_ranges;
        int r;

        all = calloc(n ? n : 1, sizeof(*all));
        if (!all)
                return -ENOMEM;
        r = backend_iova_ranges(ioas->ctx, ioas->id, all, &n, ret_alignment);
        if (r < 0) {
                *n_ranges = n;
                return r;
        }
        if (ioas->n_window == 0) {
                memcpy(ranges, all, n * sizeof(*all));
                *n_ranges = n;
                return 0;
        }
        r = iova_ranges_intersect(all, n, ioas->window, ioas->n_window, ranges, *n_ranges);
        if (r < 0)
                return -EMSGSIZE;
        *n_ranges = (size_t) r;
        return 0;
}

Ioas *ioas_free(Ioas *ioas) {
        if (!ioas)
                return NULL;
        idlink_unlink(&ioas->link);
        itree_clear(&ioas->maps, mapping_free_node, /* userdata= */ NULL);
        charge_release(&ioas->charge_object);
        charge_release(&ioas->charge_ioas);
        free(ioas);
        return NULL;
}

int ioas_unmap_all(Ioas *ioas, uint64_t *ret_unmapped) {
        uint64_t unmapped = 0;
        int r;

        /* iova 0, length 2^64 - 1: the kernel's iopt_unmap_all, which also succeeds on an empty IOAS */
        r = backend_unmap(ioas->ctx, ioas->id, 0, UINT64_MAX, &unmapped);
        if (r < 0)
                return r;
        itree_clear(&ioas->maps, mapping_free_node, /* userdata= */ NULL);
        *ret_unmapped = unmapped;
        return 0;
}

Ioas *ioas_abandon(Ioas *ioas) {
        ITreeNode *n;

        if (!ioas)
                return NULL;
        itree_for_each(n, &ioas->maps) {
                Mapping *m = mapping_of(n);

                for (size_t k = 0; k < m->n_mems; k++)
                        m->mems[k]->reserve = true;
        }
        return ioas_free(ioas);
}

int ioas_destroy(Ioas *ioas) {
        int r;

        r = backend_destroy(ioas->ctx, ioas->id);
        if (r < 0)
                return r;
        ioas_free(ioas);
        return 0;
}

bool ioas_window_contains(const Ioas *ioas, uint64_t start, uint64_t last) {
        return ioas->n_window == 0 || iova_ranges_contain(ioas->window, ioas->n_window, start, last);
}

int ioas_check_range(const Ioas *ioas, uint32_t flags, uint64_t iova, uint64_t length) {
        uint64_t last;

        if (!(flags & BACKEND_MAP_FIXED_IOVA))
                return 0;
        if (iova_last(iova, length, &last) < 0)
                return -EOVERFLOW;
        return ioas_window_contains(ioas, iova, last) ? 0 : -ERANGE;
}

/*
 * Checks an IOVA the kernel chose (no FIXED_IOVA) before anyone hears of it:
 * it must lie in the window and in what the kernel was told to allow.  One
 * outside is unmapped again and the call fails with -ENOSPC, as if the
 * kernel had found no room.  If even that unmap fails the mapping is kept
 * on record (charged, and torn down with the IOAS).
 */
static int ioas_check_chosen(Ioas *ioas, Mapping **m, uint64_t length, uint32_t flags) {
        uint64_t unmapped = 0, last, iova = (*m)->node.start;

        if ((flags & BACKEND_MAP_FIXED_IOVA) ||
            (iova_last(iova, length, &last) >= 0 && ioas_window_contains(ioas, iova, last) &&
             (ioas->n_allowed == 0 || iova_ranges_contain(ioas->allowed, ioas->n_allowed, iova, last))))
                return 0;
        if (backend_unmap(ioas->ctx, ioas->id, iova, length, &unmapped) < 0)
                ioas_insert(ioas, TAKE_PTR(*m));
        return -ENOSPC;
}

int ioas_for_each_mapping(const Ioas *ioas, uint64_t iova, uint64_t last,
                          int (*fn)(uint64_t first, uint64_t last, void *userdata), void *userdata) {
        for (ITreeNode *n = itree_first_in(&ioas->maps, iova, last); n && n->start <= last; n = itree_next(n)) {
                int r = fn(n->start, n->last, userdata);

                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * mmaps [offset, offset + length) of memfd (MAP_SHARED, prot) into the
 * broker, the memory IOMMU_IOAS_MAP points the kernel at, and adds it to m's
 * MemRefs; *ret_va: where.  The mmap is charged to the broker's own account
 * first (ACCOUNT_BROKER_MMAPS, limited below vm.max_map_count by broker.c):
 * it lives as long as the mappings and copies that need it, whatever they
 * are charged.
 */
static int mapping_mmap(Mapping *m, Account *account, int memfd, uint64_t offset, uint64_t length, int prot,
                        void **ret_va, const Account **ret_over) {
        Charge charge = CHARGE_NULL;
        MemRef *mem;
        void *va;
        int r;

        if (length > SIZE_MAX || offset > (uint64_t) INT64_MAX)
                return -EOVERFLOW;
        r = charge_take(&charge, account_root(account), ACCOUNT_BROKER_MMAPS, 1, ret_over);
        if (r < 0)
                return r;
        va = mmap(NULL, length, prot, MAP_SHARED, memfd, (off_t) offset);
        if (va == MAP_FAILED) {
                r = -errno;
                charge_release(&charge);
                return r;
        }
        mem = calloc(1, sizeof(*mem));
        if (!mem) {
                (void) munmap(va, length);
                charge_release(&charge);
                return -ENOMEM;
        }
        *mem = (MemRef) { .refs = 0, .va = va, .length = length, .fd = -1, .charge_mmap = charge };
        r = mapping_add_mem(m, mem);
        if (r < 0) {
                mem->refs = 1;
                memref_unref(mem);
                return r;
        }
        *ret_va = va;
        return 0;
}

/*
 * The guard's own fd of the file memfd names: an open file of its own, in
 * memfd's access mode.  The fd store keeps one copy of an open file, and a
 * registration's fd of the same file may be there already; a service
 * manager that cannot ask the kernel (no kcmp()) takes two fds of one inode
 * with equal F_GETFL flags for the same open file, so the guard's also
 * carries O_NONBLOCK, which means nothing for a memfd.
 */
static int guard_own_file(int memfd) {
        char path[64];
        int fl, fd;

        fl = fcntl(memfd, F_GETFL);
        if (fl < 0)
                return -errno;
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
        fd = open(path, (fl & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

/*
 * MAP_FILE path: the kernel takes the memfd's pages by file, and only when a
 * domain needs them, so nothing of the broker's would stop the client from
 * adding F_SEAL_WRITE after a writable Map and before a device is attached
 * (or a writable Copy made).  A shared writable mapping of the file, held as
 * long as the mapping (and every copy of it) lives, makes the kernel refuse
 * that seal with EBUSY: memfd_add_seals() asks mapping_deny_writable(),
 * which counts the writable shared mappings of the whole file, so one block
 * of it does (hugetlbfs maps whole huge pages: the file's block size).  It
 * is never touched, so it costs address space only.  One guard serves every
 * mapping of a file in the session (found by device and inode); shared, when
 * not NULL, is a registration's pointer to it, so that later maps by handle
 * make no syscall for it.  The guard keeps its own fd of the file: a
 * restarted broker makes the guard again from it (core/recover.c), so the
 * promise outlives the process, whatever fd or registration the mapping
 * came from.
 */
int mapping_guard_file(Mapping *m, GuardSet *set, int memfd, MemRef **shared, const Account **ret_over) {
        struct stat st;
        MemRef *g;
        int r, own;

        if (shared && *shared)
                return mapping_add_mem(m, *shared);
        if (fstat(memfd, &st) < 0)
                return -errno;
        g = guard_find(set, st.st_dev, st.st_ino);
        if (!g) {
                own = guard_own_file(memfd);
                if (own < 0)
                        return own;
                r = guard_new(set, own, &st, 0, !ret_over, &g, ret_over);
                if (r < 0) {
                        safe_close(own);
                        return r;
                }
        }
        r = mapping_add_mem(m, g);
        if (r < 0) {
                if (g->refs == 0) {
                        g->refs = 1;
                        memref_unref(g);
                }
                return r;
        }
        if (shared)
                *shared = memref_ref(g);
        return 0;
}

int ioas_map(Ioas *ioas, int memfd, GuardSet *guards, MemRef **shared_guard, uint64_t offset, uint64_t length,
             uint32_t flags, uint64_t *iova, Mapping **ret_made, const Account **ret_over) {
        _cleanup_(mapping_freep) Mapping *m = NULL;
        uint64_t out = *iova;
        int r;

        r = ioas_check_range(ioas, flags, out, length);
        if (r < 0)
                return r;
        r = mapping_new(&m, ioas->account, length, false, ret_over);
        if (r < 0)
                return r;

        if (backend_has(ioas->ctx->backend, BACKEND_FEATURE_MAP_FILE)) {
                if (flags & BACKEND_MAP_WRITEABLE) {
                        r = mapping_guard_file(m, guards, memfd, shared_guard, ret_over);
                        if (r < 0)
                                return r;
                }
                r = backend_map_file(ioas->ctx, ioas->id, memfd, offset, length, flags, &out);
        } else {
                int prot = (flags & BACKEND_MAP_WRITEABLE ? PROT_WRITE : 0) | PROT_READ;
                void *va = NULL;

                r = mapping_mmap(m, ioas->account, memfd, offset, length, prot, &va, ret_over);
                if (r < 0)
                        return r;
                r = backend_map_user(ioas->ctx, ioas->id, va, length, flags, &out);
        }
        if (r < 0)
                return r;

        mapping_place(m, out, length);
        m->offset = offset;
        m->flags = flags & ~BACKEND_MAP_FIXED_IOVA;
        r = ioas_check_chosen(ioas, &m, length, flags);
        if (r < 0)
                return r;
        *ret_made = m;
        ioas_insert(ioas, TAKE_PTR(m));
        *iova = out;
        return 0;
}

int ioas_unmap(Ioas *ioas, uint64_t iova, uint64_t length, uint64_t *ret_unmapped) {
        uint64_t unmapped = 0, last;
        ITreeNode *first, *n;
        int r;

        /* iova 0 and length 2^64-1 is the kernel's "everything"; a range past 2^64 reaches the end. */
        if ((iova == 0 && length == UINT64_MAX) || iova_last(iova, length, &last) < 0)
                last = IOVA_MAX;

        /*
         * The kernel removes the mappings below the first one a range cuts and
         * only then fails with ENOENT (iopt_unmap_iova_range()): that would leave
         * our records behind.  Refuse a cutting range before the kernel sees it.
         */
        first = itree_first_in(&ioas->maps, iova, last);
        for (n = first; n && n->start <= last; n = itree_next(n))
                if (n->start < iova || n->last > last)
                        return -ENOENT;

        r = backend_unmap(ioas->ctx, ioas->id, iova, length, &unmapped);
        if (r < 0)
                return r;

        for (n = first; n && n->start <= last;) {
                ITreeNode *next = itree_next(n);

                ioas->mapped_bytes -= n->last - n->start + 1;
                itree_remove(&ioas->maps, n);
                mapping_free(mapping_of(n));
                n = next;
        }

        *ret_unmapped = unmapped;
        return 0;
}

int ioas_copy(Ioas *dst, Ioas *src, uint64_t src_iova, uint64_t length, uint32_t flags,
              uint64_t *dst_iova, const Account **ret_over) {
        _cleanup_(mapping_freep) Mapping *m = NULL;
        uint64_t out = *dst_iova, last;
        int r;

        r = ioas_check_range(dst, flags, out, length);
        if (r < 0)
                return r;
        r = iova_last(src_iova, length, &last);
        if (r < 0)
                return r;
        r = mapping_new(&m, dst->account, length, false, ret_over);
        if (r < 0)
                return r;
        /* The copy shares the source's pages: keep the broker mmaps behind them alive. */
        for (ITreeNode *n = itree_first_in(&src->maps, src_iova, last); n && n->start <= last; n = itree_next(n)) {
                const Mapping *s = mapping_of(n);

                for (size_t k = 0; k < s->n_mems; k++) {
                        r = mapping_add_mem(m, s->mems[k]);
                        if (r < 0)
                                return r;
                }
        }

        r = backend_copy(dst->ctx, dst->id, src->id, src_iova, length, flags, &out);
        if (r < 0)
                return r;
        mapping_place(m, out, length);
        m->flags = flags & ~BACKEND_MAP_FIXED_IOVA;
        r = ioas_check_chosen(dst, &m, length, flags);
        if (r < 0)
                return r;
        ioas_insert(dst, TAKE_PTR(m));
        *dst_iova = out;
        return 0;
}

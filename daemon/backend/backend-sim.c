/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-sim.c - the simulated IOMMU backend: an in-process model of iommufd.
 *
 * Owns: per-context object tables, IOAS objects (their allowed IOVA list and
 * their sorted set of mapped areas), the IOVA allocator, and the fail-nth
 * fault hook of backend-sim.h.  The model is of Linux 7.3 iommufd with no
 * device attached to any IOAS: nothing is ever reserved, the IOVA alignment
 * is 1, and memory is never pinned.  Every errno, and the order in which the
 * checks run, is the kernel's; each rule cites the kernel function that has
 * it (drivers/iommu/iommufd/ unless said otherwise), checked against the
 * 7.3.4 sources the VM harness builds.
 * Must never: open /dev/iommu, touch the memory behind a mapping, keep or
 * close a file descriptor it is given, log, or know about sessions.
 *
 * DOC: Theory of Operation
 *
 * A BackendCtx is one iommufd context.  Its objects live in a table indexed
 * by id - 1; ids start at 1 and the lowest free id is handed out first, so
 * ids are reused after destroy (main.c _iommufd_object_alloc: xa_alloc on an
 * XA_FLAGS_ALLOC1 xarray).  An IOAS keeps its areas in an array sorted by
 * IOVA; areas never overlap, so their last IOVAs are sorted too and every
 * lookup is a binary search.  The array has room at both ends and an edit
 * moves its shorter side, so mapping or unmapping in IOVA order, either way,
 * costs O(1) amortized; finding an automatic IOVA walks the areas from the
 * bottom, O(n), as the kernel's iopt_alloc_iova does.  An area remembers the address its first byte
 * came from (the user VA for map_user, the file offset for map_file) because
 * the kernel derives the alignment of an automatic IOVA, also for a copy,
 * from that address.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* O_PATH, reallocarray() */
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-sim.h"
#include "backend/backend.h"
#include "common/macro.h"
#include "util/interval.h"

/* PAGE_SIZE of the modelled kernel (x86-64). */
#define SIM_PAGE_SIZE PAGE_SIZE_4K
/* HPAGE_SIZE (the PMD size) of x86-64: caps the automatic IOVA alignment with THP. */
#define SIM_HPAGE_SIZE (2ULL << 20)
/* Largest object id: xa_limit_31b. */
#define SIM_ID_MAX 0x7fffffffU

#define SIM_MAP_FLAGS (BACKEND_MAP_FIXED_IOVA | BACKEND_MAP_WRITEABLE | BACKEND_MAP_READABLE)
#define SIM_MAP_PROT (BACKEND_MAP_WRITEABLE | BACKEND_MAP_READABLE)

#define SIM_FEATURES                                                                            \
        (BACKEND_FEATURE_MAP_FILE | BACKEND_FEATURE_HWPT_ALLOC | BACKEND_FEATURE_DIRTY_TRACKING |  \
         BACKEND_FEATURE_HWPT_INVALIDATE | BACKEND_FEATURE_FAULT_QUEUE | BACKEND_FEATURE_VIOMMU |  \
         BACKEND_FEATURE_CHANGE_PROCESS)

int backend_sim_fail_nth;

typedef enum SimObjectType {
        SIM_OBJECT_IOAS,
        _SIM_OBJECT_TYPE_MAX,
} SimObjectType;

typedef enum SimSource {
        SIM_SOURCE_USER,        /* IOMMU_IOAS_MAP: addr is a user VA */
        SIM_SOURCE_FILE,        /* IOMMU_IOAS_MAP_FILE: addr is a file offset */
} SimSource;

typedef struct SimObject {
        SimObjectType type;
        uint32_t id;
} SimObject;

typedef struct SimArea {
        uint64_t iova;
        uint64_t last;                  /* inclusive */
        uint64_t addr;                  /* VA or file offset of the byte at iova */
        uint8_t source;                 /* SimSource */
        uint8_t prot;                   /* BACKEND_MAP_READABLE|WRITEABLE given for this area */
        bool pages_writable;            /* the memory was taken writable (pages->writable) */
} SimArea;

typedef struct SimIoas {
        SimObject object;
        IovaRange *allowed;             /* sorted, disjoint; none = no restriction */
        size_t n_allowed;
        SimArea *areas;                 /* sorted by iova, disjoint; points into buf */
        size_t n_areas;
        SimArea *buf;                   /* areas[] with room on both sides */
        size_t size_buf;
} SimIoas;

typedef struct SimBackend {
        Backend backend;
        bool no_map_file;
} SimBackend;

typedef struct SimCtx {
        BackendCtx ctx;
        SimObject **objects;            /* objects[i] has id i + 1, NULL if free */
        size_t n_objects;               /* slots up to the highest id in use */
        size_t size_objects;
        size_t first_free;              /* no free slot below this index */
} SimCtx;

/* A run of one source area that a copy takes (an elm of iopt_get_pages). */
typedef struct SimPiece {
        uint64_t length;
        uint64_t addr;
        uint8_t source;
        bool pages_writable;
} SimPiece;

/**
 * sim_fault() - the fail-nth hook, run first by every fallible op.
 *
 * Return: -ENOMEM for the call that brings backend_sim_fail_nth to 0, else 0.
 */
static int sim_fault(void) {
        if (backend_sim_fail_nth <= 0)
                return 0;
        if (--backend_sim_fail_nth > 0)
                return 0;
        return -ENOMEM;
}

static SimCtx *sim_ctx(BackendCtx *ctx) {
        return (SimCtx *) ctx;
}

static SimBackend *sim_backend(Backend *b) {
        return (SimBackend *) b;
}

/* roundup_pow_of_two() for 1 <= x < 2^63. */
static uint64_t roundup_pow2(uint64_t x) {
        if (x <= 1)
                return 1;
        return 1ULL << (64 - __builtin_clzll(x - 1));
}

/* --- objects --------------------------------------------------------------------------------- */

static void sim_ioas_free(SimIoas *ioas) {
        if (!ioas)
                return;
        free(ioas->allowed);
        free(ioas->buf);
        free(ioas);
}

static void sim_object_free(SimObject *o) {
        if (!o)
                return;
        switch (o->type) {
        case SIM_OBJECT_IOAS:
                /* ioas.c iommufd_ioas_destroy: the mappings go with the IOAS. */
                sim_ioas_free((SimIoas *) o);
                return;
        case _SIM_OBJECT_TYPE_MAX:
                break;
        }
        assert(!"unknown sim object type");
}

/**
 * sim_object_add() - give @o the lowest free id of @c.
 * @c: the context
 * @o: an object that is in no table yet
 *
 * Return: 0, -EBUSY with every id up to xa_limit_31b in use (main.c
 * _iommufd_object_alloc via xa_alloc), or -ENOMEM.
 */
static int sim_object_add(SimCtx *c, SimObject *o) {
        size_t i;

        for (i = c->first_free; i < c->n_objects; i++)
                if (!c->objects[i])
                        break;
        if (i >= SIM_ID_MAX)
                return -EBUSY;
        if (i == c->n_objects) {
                if (c->n_objects == c->size_objects) {
                        size_t size = c->size_objects ? c->size_objects * 2 : 16;
                        SimObject **objects = reallocarray(c->objects, size, sizeof(*objects));

                        if (!objects)
                                return -ENOMEM;
                        c->objects = objects;
                        c->size_objects = size;
                }
                c->n_objects++;
        }
        o->id = (uint32_t) (i + 1);
        c->objects[i] = o;
        c->first_free = i + 1;
        return 0;
}

/* main.c iommufd_get_object: an unknown id, or one of another type, is ENOENT. */
static int sim_object_get(SimCtx *c, uint32_t id, SimObject **ret) {
        if (id == 0 || id > c->n_objects || !c->objects[id - 1])
                return -ENOENT;
        *ret = c->objects[id - 1];
        return 0;
}

/* iommufd_private.h iommufd_get_ioas: ENOENT unless id names an IOAS. */
static int sim_ioas_get(SimCtx *c, uint32_t id, SimIoas **ret) {
        SimObject *o;
        int r;

        r = sim_object_get(c, id, &o);
        if (r < 0)
                return r;
        if (o->type != SIM_OBJECT_IOAS)
                return -ENOENT;
        *ret = (SimIoas *) o;
        return 0;
}

/* --- areas ----------------------------------------------------------------------------------- */

/* Index of the first area whose last IOVA is >= iova (n_areas if none). */
static size_t sim_areas_lower(const SimIoas *ioas, uint64_t iova) {
        size_t lo = 0, hi = ioas->n_areas;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (ioas->areas[mid].last < iova)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static bool sim_areas_intersect(const SimIoas *ioas, uint64_t start, uint64_t last) {
        size_t i = sim_areas_lower(ioas, start);

        return i < ioas->n_areas && ioas->areas[i].iova <= last;
}

/*
 * The area array is double-ended: areas[] sits inside buf[] with room on both
 * sides, and an insert or a removal moves the shorter side.  So edits at
 * either end (ascending maps, auto maps, descending maps, unmaps from the
 * bottom or the top, unmap-all) are amortized O(1), and one in the middle
 * costs at most half the array.
 */

/*
 * Inserts n areas, adjacent and in order, into a hole that is known to be
 * free; -ENOMEM leaves the IOAS untouched.
 */
static int sim_areas_insert(SimIoas *ioas, const SimArea *new, size_t n) {
        const size_t sz = sizeof(*ioas->areas);
        size_t i, head, tail;

        i = sim_areas_lower(ioas, new[0].iova);
        head = ioas->buf ? (size_t) (ioas->areas - ioas->buf) : 0;
        tail = ioas->size_buf - head - ioas->n_areas;

        if (i < ioas->n_areas - i && head >= n) {
                memmove(ioas->areas - n, ioas->areas, i * sz);
                ioas->areas -= n;
        } else if (i >= ioas->n_areas - i && tail >= n) {
                memmove(ioas->areas + i + n, ioas->areas + i, (ioas->n_areas - i) * sz);
        } else {
                /* No room on the cheap side: recenter in a buffer twice the new size. */
                size_t size = 2 * (ioas->n_areas + n), at;
                SimArea *buf;

                if (size < 16)
                        size = 16;
                buf = reallocarray(NULL, size, sz);
                if (!buf)
                        return -ENOMEM;
                at = (size - ioas->n_areas - n) / 2;
                if (ioas->n_areas > 0) {
                        memcpy(buf + at, ioas->areas, i * sz);
                        memcpy(buf + at + i + n, ioas->areas + i, (ioas->n_areas - i) * sz);
                }
                free(ioas->buf);
                ioas->buf = buf;
                ioas->size_buf = size;
                ioas->areas = buf + at;
        }
        memcpy(ioas->areas + i, new, n * sz);
        ioas->n_areas += n;
        return 0;
}

/* Removes areas[from, to). */
static void sim_areas_remove(SimIoas *ioas, size_t from, size_t to) {
        const size_t sz = sizeof(*ioas->areas);

        if (from == to)
                return;
        if (from < ioas->n_areas - to) {
                memmove(ioas->areas + (to - from), ioas->areas, from * sz);
                ioas->areas += to - from;
        } else
                memmove(ioas->areas + from, ioas->areas + to, (ioas->n_areas - to) * sz);
        ioas->n_areas -= to - from;
        if (ioas->n_areas == 0)
                ioas->areas = ioas->buf + ioas->size_buf / 2;
}

/* --- the IOVA allocator ---------------------------------------------------------------------- */

/*
 * io_pagetable.c __alloc_iova_check_range: rounds *start up to the alignment,
 * ORs in the page offset, and accepts if length bytes fit before last (an
 * aligned start equal to last is refused, even for length 1).
 */
static bool sim_alloc_check_range(uint64_t *start, uint64_t last, uint64_t length, uint64_t alignment,
                                  uint64_t page_offset) {
        uint64_t aligned;

        if (__builtin_add_overflow(*start, alignment - 1, &aligned))
                return false;
        aligned &= ~(alignment - 1);
        aligned |= page_offset;
        if (aligned >= last || last - aligned < length - 1)
                return false;
        *start = aligned;
        return true;
}

/*
 * Looks for the first fit in the allowed span [start, last]: the span start
 * is aligned first, then the holes between areas are tried lowest first
 * (io_pagetable.c iopt_alloc_iova, its double-span walk over reserved and
 * area trees; nothing is reserved here).
 */
static bool sim_alloc_in_span(const SimIoas *ioas, uint64_t start, uint64_t last, uint64_t length,
                              uint64_t alignment, uint64_t page_offset, uint64_t *ret) {
        uint64_t cur;
        size_t i;

        if (!sim_alloc_check_range(&start, last, length, alignment, page_offset))
                return false;

        cur = start;
        for (i = sim_areas_lower(ioas, start); i < ioas->n_areas && ioas->areas[i].iova <= last; i++) {
                const SimArea *a = ioas->areas + i;

                if (a->iova > cur) {
                        uint64_t hole = cur;

                        if (sim_alloc_check_range(&hole, a->iova - 1, length, alignment, page_offset)) {
                                *ret = hole;
                                return true;
                        }
                }
                if (a->last >= last)
                        return false;
                cur = a->last + 1;
        }
        if (sim_alloc_check_range(&cur, last, length, alignment, page_offset)) {
                *ret = cur;
                return true;
        }
        return false;
}

/**
 * sim_alloc_iova() - choose an IOVA for length bytes coming from addr.
 * @ioas: the IOAS
 * @addr: VA or file offset of the first byte (its low bits steer the alignment)
 * @length: bytes to place
 * @ret: the IOVA chosen
 *
 * The rules of io_pagetable.c iopt_alloc_iova: the alignment is length rounded
 * up to a power of two, lowered to the lowest set bit of a non-zero addr and
 * capped at HPAGE_SIZE; the result keeps addr's offset in its page; the IOVA
 * is never in the first or the last page; with allowed ranges set only they
 * are searched, lowest first, each merged with its adjacent neighbours.
 *
 * Return: 0, -EOVERFLOW for length >= 2^63 - 1, -ENOSPC if nothing fits.
 */
static int sim_alloc_iova(const SimIoas *ioas, uint64_t addr, uint64_t length, uint64_t *ret) {
        const uint64_t window_start = SIM_PAGE_SIZE, window_last = UINT64_MAX - SIM_PAGE_SIZE;
        uint64_t page_offset = addr % SIM_PAGE_SIZE, alignment;
        size_t i;

        /* iopt_alloc_iova: protects roundup_pow_of_two() with EOVERFLOW. */
        if (length == 0 || length >= UINT64_MAX / 2)
                return -EOVERFLOW;

        alignment = roundup_pow2(length);
        if (addr != 0 && (addr & -addr) < alignment)
                alignment = addr & -addr;
        if (alignment >= SIM_HPAGE_SIZE)
                alignment = SIM_HPAGE_SIZE;
        /* The EINVAL for an alignment below iopt->iova_alignment cannot fire: that is 1 here. */

        if (ioas->n_allowed == 0)
                return sim_alloc_in_span(ioas, window_start, window_last, length, alignment, page_offset,
                                         ret) ? 0 : -ENOSPC;

        for (i = 0; i < ioas->n_allowed;) {
                uint64_t start = ioas->allowed[i].start, last = ioas->allowed[i].last;

                /* lib/interval_tree.c interval_tree_span_iter: adjacent ranges make one span. */
                for (i++; i < ioas->n_allowed && last != UINT64_MAX &&
                          ioas->allowed[i].start == last + 1; i++)
                        last = ioas->allowed[i].last;

                if (last < window_start || start > window_last)
                        continue;
                if (start < window_start)
                        start = window_start;
                if (last > window_last)
                        last = window_last;
                if (sim_alloc_in_span(ioas, start, last, length, alignment, page_offset, ret))
                        return 0;
        }
        return -ENOSPC;
}

/**
 * sim_map_pieces() - place pieces of memory, back to back, in an IOAS.
 * @ioas: the destination
 * @pieces: what to map, in order; n >= 1
 * @n: number of pieces
 * @length: their total length, not 0
 * @flags: BACKEND_MAP_* (already validated)
 * @iova: the IOVA with FIXED_IOVA; the chosen IOVA on success
 *
 * io_pagetable.c iopt_alloc_area_pages: picks (iopt_alloc_iova) or checks
 * (iopt_check_iova) the IOVA, then inserts one area per piece
 * (iopt_insert_area).  Nothing changes on failure.
 *
 * Return: 0, or -EOVERFLOW, -ENOSPC, -EEXIST, -EPERM, -ENOMEM.
 */
static int sim_map_pieces(SimIoas *ioas, const SimPiece *pieces, size_t n, uint64_t length,
                          uint32_t flags, uint64_t *iova) {
        _cleanup_free_ SimArea *areas = NULL;
        uint64_t start, last, off = 0;
        int r;

        assert(n >= 1 && length > 0);

        if (flags & BACKEND_MAP_FIXED_IOVA) {
                start = *iova;
                /* io_pagetable.c iopt_check_iova: iova + length - 1 past 2^64 is EOVERFLOW. */
                r = iova_last(start, length, &last);
                if (r < 0)
                        return r;
                /* iopt_check_iova: the alignment (1) and reserved (none) checks cannot fail here. */
                /* iopt_check_iova: any existing area in the range is EEXIST. */
                if (sim_areas_intersect(ioas, start, last))
                        return -EEXIST;
        } else {
                /* iopt_alloc_area_pages: the first piece's address steers the alignment. */
                r = sim_alloc_iova(ioas, pieces[0].addr, length, &start);
                if (r < 0)
                        return r;
        }

        areas = calloc(n, sizeof(*areas));
        if (!areas)
                return -ENOMEM;
        for (size_t i = 0; i < n; off += pieces[i].length, i++) {
                /* io_pagetable.c iopt_insert_area: WRITEABLE over memory taken read-only is EPERM. */
                if ((flags & BACKEND_MAP_WRITEABLE) && !pieces[i].pages_writable)
                        return -EPERM;
                areas[i] = (SimArea) {
                        .iova = start + off,
                        .last = start + off + pieces[i].length - 1,
                        .addr = pieces[i].addr,
                        .source = pieces[i].source,
                        .prot = (uint8_t) (flags & SIM_MAP_PROT),
                        .pages_writable = pieces[i].pages_writable,
                };
        }
        r = sim_areas_insert(ioas, areas, n);
        if (r < 0)
                return r;
        *iova = start;
        return 0;
}

/*
 * The checks map, map_file and copy share, in the kernel's order
 * (ioas.c iommufd_ioas_map, iommufd_ioas_map_file, iommufd_ioas_copy).
 */
static int sim_check_map_args(uint32_t flags, uint64_t iova, uint64_t length) {
        /* Unknown flag bits are EOPNOTSUPP. */
        if (flags & ~SIM_MAP_FLAGS)
                return -EOPNOTSUPP;
        /* iova or length >= ULONG_MAX is EOVERFLOW, iova even without FIXED_IOVA. */
        if (iova >= UINT64_MAX || length >= UINT64_MAX)
                return -EOVERFLOW;
        /* Neither READABLE nor WRITEABLE is EINVAL. */
        if (!(flags & SIM_MAP_PROT))
                return -EINVAL;
        return 0;
}

/*
 * pages.c iopt_alloc_pages: length 0, or one past SIZE_MAX - PAGE_SIZE, is
 * EINVAL.
 */
static int sim_check_pages_length(uint64_t length) {
        if (length == 0 || length > SIZE_MAX - SIM_PAGE_SIZE)
                return -EINVAL;
        return 0;
}

/* --- ops ------------------------------------------------------------------------------------- */

static void sim_close(Backend *b) {
        free(sim_backend(b));
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Backend *, sim_close);

static int sim_open(const BackendConfig *config, Backend **ret) {
        _cleanup_(sim_closep) Backend *b = NULL;
        SimBackend *s;
        const char *e;
        int r;

        assert(ret);

        r = sim_fault();
        if (r < 0)
                return r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        b = &s->backend;
        b->ops = &backend_sim_ops;
        b->features = SIM_FEATURES;
        if (config && config->sim_no_map_file) {
                /* Before 6.13 there is no IOMMU_IOAS_MAP_FILE. */
                s->no_map_file = true;
                b->features &= ~(uint64_t) BACKEND_FEATURE_MAP_FILE;
        }

        e = getenv(BACKEND_SIM_FAIL_NTH_ENV);
        if (e && *e) {
                char *end;
                long n;

                errno = 0;
                n = strtol(e, &end, 10);
                if (errno != 0 || *end || n < 0 || n > INT_MAX)
                        return -EINVAL;
                backend_sim_fail_nth = (int) n;
        }

        *ret = TAKE_PTR(b);
        return 0;
}

static void sim_ctx_free(BackendCtx *ctx) {
        SimCtx *c = sim_ctx(ctx);

        if (!c)
                return;
        /* main.c iommufd_fops_release: closing the context destroys every object. */
        for (size_t i = 0; i < c->n_objects; i++)
                sim_object_free(c->objects[i]);
        free(c->objects);
        free(c);
}

static int sim_ctx_new(Backend *b, BackendCtx **ret) {
        SimCtx *c;
        int r;

        assert(b && ret);

        r = sim_fault();
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ctx.backend = b;
        *ret = &c->ctx;
        return 0;
}

static int sim_ioas_alloc(BackendCtx *ctx, uint32_t *ret_id) {
        SimCtx *c = sim_ctx(ctx);
        SimIoas *ioas;
        int r;

        assert(c && ret_id);

        r = sim_fault();
        if (r < 0)
                return r;

        ioas = calloc(1, sizeof(*ioas));
        if (!ioas)
                return -ENOMEM;
        ioas->object.type = SIM_OBJECT_IOAS;
        r = sim_object_add(c, &ioas->object);
        if (r < 0) {
                sim_ioas_free(ioas);
                return r;
        }
        *ret_id = ioas->object.id;
        return 0;
}

static int sim_destroy(BackendCtx *ctx, uint32_t id) {
        SimCtx *c = sim_ctx(ctx);
        SimObject *o;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        /* main.c iommufd_object_remove: an unknown id (or 0) is ENOENT. */
        r = sim_object_get(c, id, &o);
        if (r < 0)
                return r;
        /*
         * iommufd_object_remove is EBUSY while another object holds a user
         * reference (an attached device or HWPT); nothing can in the sim.  An
         * IOAS that still has mappings is destroyed with them (ioas.c
         * iommufd_ioas_destroy).
         */
        c->objects[id - 1] = NULL;
        if (id - 1 < c->first_free)
                c->first_free = id - 1;
        while (c->n_objects > 0 && !c->objects[c->n_objects - 1])
                c->n_objects--;
        if (c->first_free > c->n_objects)
                c->first_free = c->n_objects;
        sim_object_free(o);
        return 0;
}

static int sim_iova_ranges(BackendCtx *ctx, uint32_t ioas_id, IovaRange *ranges, size_t *n_ranges,
                           uint64_t *ret_alignment) {
        SimCtx *c = sim_ctx(ctx);
        SimIoas *ioas;
        size_t capacity;
        int r;

        assert(c && n_ranges);
        assert(ranges || *n_ranges == 0);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_iova_ranges: an unknown IOAS is ENOENT. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;

        /*
         * iommufd_ioas_iova_ranges reports the complement of the reserved
         * ranges over [0, ULONG_MAX]; the allowed list plays no part.  Only
         * attached devices reserve anything, so here it is always the one
         * range [0, U64_MAX], with the alignment of a table without domains:
         * 1 (io_pagetable.c iopt_init_table).
         */
        capacity = *n_ranges;
        if (capacity >= 1)
                ranges[0] = (IovaRange) { .start = 0, .last = UINT64_MAX };
        *n_ranges = 1;
        if (ret_alignment)
                *ret_alignment = 1;
        /* iommufd_ioas_iova_ranges: EMSGSIZE with the count needed if the array is short. */
        return capacity < 1 ? -EMSGSIZE : 0;
}

static int sim_allow_iovas(BackendCtx *ctx, uint32_t ioas_id, const IovaRange *ranges, size_t n) {
        _cleanup_free_ IovaRange *allowed = NULL;
        SimCtx *c = sim_ctx(ctx);
        SimIoas *ioas;
        int r;

        assert(c);
        assert(ranges || n == 0);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_allow_iovas: the IOAS is looked up (ENOENT) before the list is read. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;

        if (n > 0) {
                allowed = reallocarray(NULL, n, sizeof(*allowed));
                if (!allowed)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        /* ioas.c iommufd_ioas_load_iovas: start >= last is EINVAL (one-byte ranges too). */
                        if (ranges[i].start >= ranges[i].last)
                                return -EINVAL;
                        allowed[i] = ranges[i];
                }
                /* iommufd_ioas_load_iovas: a range overlapping an earlier one is EINVAL. */
                r = iova_ranges_normalize(allowed, n);
                if (r < 0)
                        return r;
        }

        /*
         * io_pagetable.c iopt_set_allow_iova: replaces the whole list, an empty
         * one clears it; EADDRINUSE only if a range meets a reserved range
         * (never here).  Existing mappings outside the new list are not
         * checked and stay.
         */
        free(ioas->allowed);
        ioas->allowed = TAKE_PTR(allowed);
        ioas->n_allowed = n;
        return 0;
}

static int sim_map_user(BackendCtx *ctx, uint32_t ioas_id, void *va, uint64_t length, uint32_t flags,
                        uint64_t *iova) {
        SimCtx *c = sim_ctx(ctx);
        uint64_t uptr = (uint64_t) (uintptr_t) va, end;
        SimPiece piece;
        SimIoas *ioas;
        int r;

        assert(c && iova);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_map: EOPNOTSUPP, EOVERFLOW, EINVAL, in that order. */
        r = sim_check_map_args(flags, *iova, length);
        if (r < 0)
                return r;
        /* iommufd_ioas_map: an unknown IOAS is ENOENT. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;
        /* pages.c iopt_alloc_user_pages: va + length past 2^64 is EOVERFLOW (not va + length - 1). */
        if (__builtin_add_overflow(uptr, length, &end))
                return -EOVERFLOW;
        r = sim_check_pages_length(length);
        if (r < 0)
                return r;

        /* Without a domain nothing is pinned: any VA is accepted (iopt_map_user_pages). */
        piece = (SimPiece) {
                .length = length,
                .addr = uptr,
                .source = SIM_SOURCE_USER,
                .pages_writable = flags & BACKEND_MAP_WRITEABLE,
        };
        return sim_map_pieces(ioas, &piece, 1, length, flags, iova);
}

static int sim_map_file(BackendCtx *ctx, uint32_t ioas_id, int fd, uint64_t start, uint64_t length,
                        uint32_t flags, uint64_t *iova) {
        SimCtx *c = sim_ctx(ctx);
        SimPiece piece;
        SimIoas *ioas;
        uint64_t last;
        int r, fl;

        assert(c && iova);

        r = sim_fault();
        if (r < 0)
                return r;

        /* A kernel before 6.13 has no IOMMU_IOAS_MAP_FILE ioctl: ENOTTY. */
        if (sim_backend(c->ctx.backend)->no_map_file)
                return -ENOTTY;

        /* ioas.c iommufd_ioas_map_file: EOPNOTSUPP, EOVERFLOW, EINVAL, as for map. */
        r = sim_check_map_args(flags, *iova, length);
        if (r < 0)
                return r;
        /* iommufd_ioas_map_file: an unknown IOAS is ENOENT, before the fd is looked at. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;
        /* io_pagetable.c iopt_map_file_pages: length 0 is EINVAL, start + length - 1 past 2^64 EOVERFLOW. */
        r = iova_last(start, length, &last);
        if (r < 0)
                return r;
        /* iopt_map_file_pages: fget() failing is EBADF; fget() also refuses O_PATH files. */
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_PATH))
                return -EBADF;
        /*
         * pages.c iopt_alloc_file_pages: the file's type, size, access mode
         * and seals are not checked in 7.3 (nothing is pinned without a
         * domain); only the length is, by iopt_alloc_pages.
         */
        r = sim_check_pages_length(length);
        if (r < 0)
                return r;

        /* The fd is not kept: the broker keeps the memfd alive itself. */
        piece = (SimPiece) {
                .length = length,
                .addr = start,
                .source = SIM_SOURCE_FILE,
                .pages_writable = flags & BACKEND_MAP_WRITEABLE,
        };
        return sim_map_pieces(ioas, &piece, 1, length, flags, iova);
}

static int sim_unmap(BackendCtx *ctx, uint32_t ioas_id, uint64_t iova, uint64_t length,
                     uint64_t *ret_unmapped) {
        SimCtx *c = sim_ctx(ctx);
        uint64_t last, unmapped = 0;
        SimIoas *ioas;
        size_t i, j;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_unmap: the IOAS is looked up (ENOENT) before anything else. */
        r = sim_ioas_get(c, ioas_id, &ioas);
        if (r < 0)
                return r;

        /* iommufd_ioas_unmap: iova 0, length U64_MAX unmaps everything, and succeeds when empty. */
        if (iova == 0 && length == UINT64_MAX) {
                for (i = 0; i < ioas->n_areas; i++)
                        unmapped += ioas->areas[i].last - ioas->areas[i].iova + 1;
                sim_areas_remove(ioas, 0, ioas->n_areas);
                if (ret_unmapped)
                        *ret_unmapped = unmapped;
                return 0;
        }

        /* iommufd_ioas_unmap: otherwise iova or length >= ULONG_MAX is EOVERFLOW. */
        if (iova >= UINT64_MAX || length >= UINT64_MAX)
                return -EOVERFLOW;
        /* io_pagetable.c iopt_unmap_iova: length 0 is EINVAL, iova + length - 1 past 2^64 EOVERFLOW. */
        r = iova_last(iova, length, &last);
        if (r < 0)
                return r;

        /*
         * io_pagetable.c iopt_unmap_iova_range: areas are removed lowest
         * first; the first one that is not wholly inside [iova, last] stops
         * the walk with ENOENT, and the areas before it stay unmapped.
         */
        r = 0;
        i = sim_areas_lower(ioas, iova);
        for (j = i; j < ioas->n_areas && ioas->areas[j].iova <= last; j++) {
                const SimArea *a = ioas->areas + j;

                if (a->iova < iova || a->last > last) {
                        r = -ENOENT;
                        break;
                }
                unmapped += a->last - a->iova + 1;
        }
        sim_areas_remove(ioas, i, j);
        if (r < 0)
                return r;
        /* iommufd_ioas_unmap: nothing unmapped is ENOENT. */
        if (unmapped == 0)
                return -ENOENT;
        if (ret_unmapped)
                *ret_unmapped = unmapped;
        return 0;
}

static int sim_copy(BackendCtx *ctx, uint32_t dst_ioas_id, uint32_t src_ioas_id, uint64_t src_iova,
                    uint64_t length, uint32_t flags, uint64_t *dst_iova) {
        _cleanup_free_ SimPiece *pieces = NULL;
        SimCtx *c = sim_ctx(ctx);
        SimIoas *src, *dst;
        uint64_t last, cur;
        size_t i, j, n;
        int r;

        assert(c && dst_iova);

        r = sim_fault();
        if (r < 0)
                return r;

        /* ioas.c iommufd_ioas_copy: EOPNOTSUPP, EOVERFLOW (length, src_iova, dst_iova), EINVAL. */
        if (flags & ~SIM_MAP_FLAGS)
                return -EOPNOTSUPP;
        if (length >= UINT64_MAX || src_iova >= UINT64_MAX || *dst_iova >= UINT64_MAX)
                return -EOVERFLOW;
        if (!(flags & SIM_MAP_PROT))
                return -EINVAL;

        /* iommufd_ioas_copy: the source IOAS is looked up first (ENOENT). */
        r = sim_ioas_get(c, src_ioas_id, &src);
        if (r < 0)
                return r;

        /* io_pagetable.c iopt_get_pages: length 0 is EINVAL, src_iova + length - 1 past 2^64 EOVERFLOW. */
        r = iova_last(src_iova, length, &last);
        if (r < 0)
                return r;
        /*
         * iopt_get_pages (iopt_for_each_contig_area): [src_iova, last] must be
         * covered by areas that touch each other; it may start and end inside
         * an area.  Any gap is ENOENT.
         */
        i = sim_areas_lower(src, src_iova);
        if (i >= src->n_areas || src->areas[i].iova > src_iova)
                return -ENOENT;
        for (j = i; src->areas[j].last < last; j++)
                if (j + 1 >= src->n_areas || src->areas[j + 1].iova != src->areas[j].last + 1)
                        return -ENOENT;
        n = j - i + 1;
        pieces = calloc(n, sizeof(*pieces));
        if (!pieces)
                return -ENOMEM;
        for (cur = src_iova, j = 0; j < n; j++) {
                const SimArea *a = src->areas + i + j;
                uint64_t piece_last = a->last < last ? a->last : last;

                /* iopt_get_pages: each piece keeps its area's memory (iopt_area_start_byte). */
                pieces[j] = (SimPiece) {
                        .length = piece_last - cur + 1,
                        .addr = a->addr + (cur - a->iova),
                        .source = a->source,
                        .pages_writable = a->pages_writable,
                };
                cur = piece_last + 1;
        }

        /* iommufd_ioas_copy: the destination IOAS is looked up next (ENOENT); it may be the source. */
        r = sim_ioas_get(c, dst_ioas_id, &dst);
        if (r < 0)
                return r;

        /* io_pagetable.c iopt_map_pages: one new area per piece. */
        return sim_map_pieces(dst, pieces, n, length, flags, dst_iova);
}

const BackendOps backend_sim_ops = {
        .name = "sim",
        .open = sim_open,
        .close = sim_close,
        .ctx_new = sim_ctx_new,
        .ctx_free = sim_ctx_free,
        .ioas_alloc = sim_ioas_alloc,
        .destroy = sim_destroy,
        .iova_ranges = sim_iova_ranges,
        .allow_iovas = sim_allow_iovas,
        .map_file = sim_map_file,
        .map_user = sim_map_user,
        .unmap = sim_unmap,
        .copy = sim_copy,
};

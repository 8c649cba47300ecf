/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-iopt.c - the I/O page table of a sim IOAS (io_pagetable.c): areas, reservations, domains.
 *
 * Owns: an IOAS's tree of areas and its edits; its reserved ranges
 * (the MSI window, everything above a domain's aperture) and the counts that
 * decide them; the domains in its table and the IOVA alignment they impose;
 * the IOVA allocator; and placing pieces of memory as new areas, with the
 * checks the kernel's io_pagetable.c makes on the way.
 * Must never: look an object up by id, know about devices or contexts but
 * as counts, or touch the memory behind an area.
 *
 * DOC: Theory of Operation
 *
 * An IOAS keeps its areas in an interval tree (util/itree.h), as the
 * kernel keeps them in iopt->area_itree: one area a node, allocated with
 * it, so inserting or removing one, or finding the area at an IOVA, costs
 * O(log n) wherever it lies, and a walk goes on from there in IOVA order.
 * Finding an automatic IOVA walks the holes from the bottom of the span,
 * O(n), as the kernel's iopt_alloc_iova does, and so picks the same IOVA.  An area remembers the address its first
 * byte came from (the user VA for map_user, the file offset for map_file)
 * because the kernel derives the alignment of an automatic IOVA, also for a
 * copy, from that address.  Why two counts decide an IOAS's reserved ranges
 * is told with the VT-d unit, in sim-vtd.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-sim.h"
#include "backend/sim-arena.h"
#include "backend/sim-iopt.h"
#include "common/macro.h"
#include "util/interval.h"

/* HPAGE_SIZE (the PMD size) of x86-64: caps the automatic IOVA alignment with THP. */
#define SIM_HPAGE_SIZE (2ULL << 20)
/*
 * The range above the 48-bit aperture of a second-stage domain that
 * iopt_table_add_domain reserves for it (generic_pt iommu_pt.h
 * pt_iommu_init_domain: aperture_end is the top of the table's VA range).
 */
#define SIM_APERTURE_LAST BACKEND_SIM_APERTURE_LAST
/* The pgsize_bitmap of a second-stage domain starts at 4 KiB: the IOVA alignment with a domain. */
#define SIM_DOMAIN_ALIGNMENT SIM_PAGE_SIZE

/* roundup_pow_of_two() for 1 <= x < 2^63. */
static uint64_t roundup_pow2(uint64_t x) {
        if (x <= 1)
                return 1;
        return 1ULL << (64 - __builtin_clzll(x - 1));
}

/* --- areas ----------------------------------------------------------------------------------- */

static bool sim_areas_intersect(const SimIoas *ioas, uint64_t start, uint64_t last) {
        return itree_first_in(&ioas->areas, start, last) != NULL;
}

/* Takes a out of the IOAS and frees it. */
void sim_area_remove(SimIoas *ioas, SimArea *a) {
        itree_remove(&ioas->areas, &a->node);
        sim_free(a);
}

static void sim_area_free_node(ITreeNode *node, void *userdata) {
        sim_free(sim_area_of(node));
}

/* Removes and frees every area. */
void sim_areas_clear(SimIoas *ioas) {
        itree_clear(&ioas->areas, sim_area_free_node, /* userdata= */ NULL);
}

/* --- reserved ranges and domains ------------------------------------------------------------ */

/*
 * The reserved ranges of an IOAS (iopt->reserved_itree) merged, sorted:
 * the MSI window while a device's RID is attached through it, everything
 * above the aperture while it has a domain.  Fills ret[0..2), returns the count.
 */
size_t sim_ioas_reserved(const SimIoas *ioas, IovaRange *ret) {
        size_t n = 0;

        if (ioas->n_msi_owners > 0)
                ret[n++] = (IovaRange) { .start = BACKEND_SIM_MSI_START, .last = BACKEND_SIM_MSI_LAST };
        if (ioas->n_domains > 0)
                ret[n++] = (IovaRange) { .start = SIM_APERTURE_LAST + 1, .last = UINT64_MAX };
        return n;
}

bool sim_ioas_reserved_intersect(const SimIoas *ioas, uint64_t start, uint64_t last) {
        IovaRange resv[2];
        size_t n = sim_ioas_reserved(ioas, resv);

        for (size_t i = 0; i < n; i++)
                if (iova_overlaps(resv[i].start, resv[i].last, start, last))
                        return true;
        return false;
}

static bool sim_ioas_allowed_intersect(const SimIoas *ioas, uint64_t start, uint64_t last) {
        for (size_t i = 0; i < ioas->n_allowed; i++)
                if (iova_overlaps(ioas->allowed[i].start, ioas->allowed[i].last, start, last))
                        return true;
        return false;
}

/* iopt->iova_alignment: 4 KiB while a domain is in the table, else 1 (io_pagetable.c iopt_init_table). */
uint64_t sim_ioas_alignment(const SimIoas *ioas) {
        return ioas->n_domains > 0 ? SIM_DOMAIN_ALIGNMENT : 1;
}

/* io_pagetable.c iopt_reserve_iova: a range that meets an area or an allowed range is EADDRINUSE. */
static int sim_ioas_check_reserve(const SimIoas *ioas, uint64_t start, uint64_t last) {
        if (sim_areas_intersect(ioas, start, last) || sim_ioas_allowed_intersect(ioas, start, last))
                return -EADDRINUSE;
        return 0;
}

/**
 * sim_ioas_reserve_msi() - reserve the MSI window for @n devices.
 * @ioas: the IOAS the devices' RIDs attach through
 * @n: how many devices
 *
 * io_pagetable.c iopt_table_enforce_dev_resv_regions, for each device:
 * intel_iommu_get_resv_regions gives the IOAPIC/MSI window (and no RMRR for
 * a sim device), which iopt_reserve_iova reserves with the device as owner.
 *
 * Return: 0, or -EADDRINUSE if an area or an allowed range meets the window.
 */
int sim_ioas_reserve_msi(SimIoas *ioas, uint32_t n) {
        int r;

        r = sim_ioas_check_reserve(ioas, BACKEND_SIM_MSI_START, BACKEND_SIM_MSI_LAST);
        if (r < 0)
                return r;
        ioas->n_msi_owners += n;
        return 0;
}

/* io_pagetable.c iopt_remove_reserved_iova: the devices' reservations go. */
void sim_ioas_unreserve_msi(SimIoas *ioas, uint32_t n) {
        assert(ioas->n_msi_owners >= n);
        ioas->n_msi_owners -= n;
}

/**
 * sim_ioas_add_domain() - put a paging HWPT's domain in an IOAS's table.
 * @ioas: the IOAS
 * @nest_parent: the HWPT is a nesting parent
 *
 * io_pagetable.c iopt_table_add_domain: the first domain raises the IOVA
 * alignment from 1 to 4 KiB (iopt_check_iova_alignment), each reserves
 * [aperture_end + 1, ULONG_MAX] (iopt_reserve_iova), then every area is
 * mapped into it (iopt_fill_domain), which a nesting parent refuses for a
 * read-only area (generic_pt/fmt/vtdss.h vtdss_pt_iommu_set_prot,
 * ERRATA_772415_SPR17: EINVAL).
 *
 * Return: 0; -EADDRINUSE if an area is not 4 KiB aligned in IOVA, length or
 * page offset, or if an area or an allowed range lies above the aperture;
 * -EINVAL for a nesting parent on an IOAS with a read-only area.
 */
int sim_ioas_add_domain(SimIoas *ioas, bool nest_parent) {
        const uint64_t mask = SIM_DOMAIN_ALIGNMENT - 1;
        int r;

        if (ioas->n_domains == 0) {
                for (const SimArea *a = sim_area_lower(ioas, 0); a; a = sim_area_next(a))
                        if ((a->node.start & mask) || (sim_area_length(a) & mask) || (a->addr & mask))
                                return -EADDRINUSE;
                /* Once one domain has reserved it, nothing can be above the aperture. */
                r = sim_ioas_check_reserve(ioas, SIM_APERTURE_LAST + 1, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        if (nest_parent)
                for (const SimArea *a = sim_area_lower(ioas, 0); a; a = sim_area_next(a))
                        if (!(a->prot & BACKEND_MAP_WRITEABLE))
                                return -EINVAL;
        ioas->n_domains++;
        if (nest_parent)
                ioas->n_nest_parents++;
        return 0;
}

/* io_pagetable.c iopt_table_remove_domain: its reservation goes; the last lowers the alignment to 1. */
void sim_ioas_remove_domain(SimIoas *ioas, bool nest_parent) {
        assert(ioas->n_domains > 0);
        ioas->n_domains--;
        if (nest_parent) {
                assert(ioas->n_nest_parents > 0);
                ioas->n_nest_parents--;
        }
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

/* The holes between areas in [start, last], lowest first; the first that fits wins. */
static bool sim_alloc_between_areas(const SimIoas *ioas, uint64_t start, uint64_t last, uint64_t length,
                                    uint64_t alignment, uint64_t page_offset, uint64_t *ret) {
        uint64_t cur = start;

        for (const SimArea *a = sim_area_lower(ioas, start); a && a->node.start <= last; a = sim_area_next(a)) {
                if (a->node.start > cur) {
                        uint64_t hole = cur;

                        if (sim_alloc_check_range(&hole, a->node.start - 1, length, alignment, page_offset)) {
                                *ret = hole;
                                return true;
                        }
                }
                if (a->node.last >= last)
                        return false;
                cur = a->node.last + 1;
        }
        if (sim_alloc_check_range(&cur, last, length, alignment, page_offset)) {
                *ret = cur;
                return true;
        }
        return false;
}

/*
 * Looks for the first fit in the allowed span [start, last]: the span start
 * is aligned first, then the holes that neither a reserved range nor an area
 * covers are tried lowest first (io_pagetable.c iopt_alloc_iova, its
 * double-span walk over the reserved and area trees).
 */
static bool sim_alloc_in_span(const SimIoas *ioas, uint64_t start, uint64_t last, uint64_t length,
                              uint64_t alignment, uint64_t page_offset, uint64_t *ret) {
        IovaRange resv[2];
        size_t n_resv;

        if (!sim_alloc_check_range(&start, last, length, alignment, page_offset))
                return false;

        n_resv = sim_ioas_reserved(ioas, resv);
        for (size_t i = 0; i < n_resv; i++) {
                if (resv[i].last < start)
                        continue;
                if (resv[i].start > last)
                        break;
                if (resv[i].start > start &&
                    sim_alloc_between_areas(ioas, start, resv[i].start - 1, length, alignment, page_offset,
                                            ret))
                        return true;
                if (resv[i].last >= last)
                        return false;
                start = resv[i].last + 1;
        }
        return sim_alloc_between_areas(ioas, start, last, length, alignment, page_offset, ret);
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
 * is never in the first or the last page nor in a reserved range; with
 * allowed ranges set only they are searched, lowest first, each merged with
 * its adjacent neighbours.
 *
 * Return: 0, -EOVERFLOW for length >= 2^63 - 1, -EINVAL for an alignment
 * below the IOAS's, -ENOSPC if nothing fits.
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
        /* iopt_alloc_iova: an alignment below iopt->iova_alignment is EINVAL. */
        if (alignment < sim_ioas_alignment(ioas))
                return -EINVAL;

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

/*
 * Inserts one area per piece, back to back from start, into a hole known to
 * be free (so the tree refuses none); -ENOMEM leaves the IOAS untouched.
 */
static int sim_areas_insert(SimIoas *ioas, const SimPiece *pieces, size_t n, uint64_t start, uint32_t flags) {
        SimArea *few[8];                /* a map is one piece, a Copy a few: no allocation for the array */
        _cleanup_free_ SimArea **many = NULL;
        SimArea **new = few;
        uint64_t off = 0;

        if (n > ELEMENTSOF(few)) {
                new = many = calloc(n, sizeof(*new));
                if (!new)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                new[i] = sim_malloc(ioas, sizeof(*new[i]));
                if (!new[i]) {
                        while (i-- > 0)
                                sim_free(new[i]);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < n; off += pieces[i].length, i++) {
                int r;

                *new[i] = (SimArea) {
                        .node = { .start = start + off, .last = start + off + pieces[i].length - 1 },
                        .addr = pieces[i].addr,
                        .source = pieces[i].source,
                        .prot = (uint8_t) (flags & SIM_MAP_PROT),
                        .pages_writable = pieces[i].pages_writable,
                };
                r = itree_insert(&ioas->areas, &new[i]->node);
                assert(r == 0);
                (void) r;
        }
        return 0;
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
 * io_pagetable.c iopt_alloc_area_pages: checks the length against the IOVA
 * alignment, picks (iopt_alloc_iova) or checks (iopt_check_iova) the IOVA,
 * then inserts one area per piece (iopt_insert_area).  Nothing changes on
 * failure.
 *
 * Return: 0, or -EINVAL, -EOVERFLOW, -ENOSPC, -EEXIST, -EPERM, -ENOMEM.
 */
int sim_map_pieces(SimIoas *ioas, const SimPiece *pieces, size_t n, uint64_t length,
                   uint32_t flags, uint64_t *iova) {
        const uint64_t mask = sim_ioas_alignment(ioas) - 1;
        uint64_t start, last;
        int r;

        assert(n >= 1 && length > 0);

        /* iopt_alloc_area_pages: a length that is not a multiple of the alignment is EINVAL. */
        if (length & mask)
                return -EINVAL;

        if (flags & BACKEND_MAP_FIXED_IOVA) {
                start = *iova;
                /* io_pagetable.c iopt_check_iova: an unaligned IOVA is EINVAL. */
                if (start & mask)
                        return -EINVAL;
                /* iopt_check_iova: iova + length - 1 past 2^64 is EOVERFLOW. */
                r = iova_last(start, length, &last);
                if (r < 0)
                        return r;
                /* iopt_check_iova: a reserved range in the way is EINVAL (not EADDRINUSE). */
                if (sim_ioas_reserved_intersect(ioas, start, last))
                        return -EINVAL;
                /* iopt_check_iova: any existing area in the range is EEXIST. */
                if (sim_areas_intersect(ioas, start, last))
                        return -EEXIST;
        } else {
                /* iopt_alloc_area_pages: the first piece's address steers the alignment. */
                r = sim_alloc_iova(ioas, pieces[0].addr, length, &start);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < n; i++) {
                /* io_pagetable.c iopt_insert_area: WRITEABLE over memory taken read-only is EPERM. */
                if ((flags & BACKEND_MAP_WRITEABLE) && !pieces[i].pages_writable)
                        return -EPERM;
                /* iopt_insert_area: a page offset of the memory that is not aligned is EINVAL. */
                if ((pieces[i].addr % SIM_PAGE_SIZE) & mask)
                        return -EINVAL;
        }
        /*
         * io_pagetable.c iopt_map_pages then maps the new areas into every
         * domain (iopt_fill_domains_pages), and a nesting parent refuses a
         * read-only one (generic_pt/fmt/vtdss.h vtdss_pt_iommu_set_prot,
         * ERRATA_772415_SPR17): EINVAL.
         */
        if (ioas->n_nest_parents > 0 && !(flags & BACKEND_MAP_WRITEABLE))
                return -EINVAL;
        r = sim_areas_insert(ioas, pieces, n, start, flags);
        if (r < 0)
                return r;
        *iova = start;
        return 0;
}

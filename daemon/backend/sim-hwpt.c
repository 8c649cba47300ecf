/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-hwpt.c - the HWPTs of the simulated backend (hw_pagetable.c), dirty tracking, fault queues.
 *
 * Owns: HWPT objects, paging and nested: making them (the automatic ones
 * too, for sim-attach.c), their users, their destruction; the ops
 * hwpt_alloc, hwpt_set_dirty_tracking, hwpt_get_dirty_bitmap and
 * hwpt_invalidate; the dirty bits of a paging HWPT and
 * backend_sim_mark_dirty(); FAULT objects (fault_alloc); and the vIOMMU and
 * vDEVICE ops, which the VT-d unit of 7.3 refuses.
 * Must never: attach or detach a device (sim-attach.c does), destroy a HWPT
 * that has users, or write to caller memory but the bitmap it asked for.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* pipe2() */
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/iommufd.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend-sim.h"
#include "backend/sim-arena.h"
#include "backend/sim-fail-nth.h"
#include "backend/sim-hwpt.h"
#include "backend/sim-iopt.h"
#include "backend/sim-object.h"
#include "backend/sim-store.h"

#define SIM_HWPT_PAGING_FLAGS                                                                  \
        (BACKEND_HWPT_NEST_PARENT | BACKEND_HWPT_DIRTY_TRACKING | BACKEND_HWPT_FAULT_ID_VALID | \
         BACKEND_HWPT_PASID)

/* iommufd_private.h find_hwpt_paging: a nested HWPT's paging HWPT is its parent. */
SimHwpt *sim_hwpt_paging(SimHwpt *h) {
        return h->parent ? h->parent : h;
}

/* A HWPT object with the lowest free id, linked to nothing yet. */
static int sim_hwpt_new(SimCtx *c, SimObjectType type, SimHwpt **ret) {
        SimHwpt *h;
        int r;

        h = sim_calloc(c, 1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->object.type = type;
        r = sim_object_add(c, &h->object);
        if (r < 0) {
                sim_free(h);
                return r;
        }
        h->seq = ++c->hwpt_seq;
        *ret = h;
        return 0;
}

/*
 * A paging HWPT on ioas, made for the device info with the IOMMU_HWPT_ALLOC_*
 * flags; its domain is not in the IOAS's table yet.  A device that can
 * enforce cache coherency (ecap SC) gets a domain that does
 * (hw_pagetable.c iommufd_hwpt_paging_enforce_cc,
 * intel/iommu.c intel_iommu_enforce_cache_coherency_ss).
 */
int sim_hwpt_paging_new(SimCtx *c, SimIoas *ioas, const BackendDeviceInfo *info, uint32_t flags,
                        SimHwpt **ret) {
        SimHwpt *h;
        int r;

        r = sim_hwpt_new(c, SIM_OBJECT_HWPT_PAGING, &h);
        if (r < 0)
                return r;
        h->ioas = ioas;
        h->pasid_compat = flags & BACKEND_HWPT_PASID;
        h->nest_parent = flags & BACKEND_HWPT_NEST_PARENT;
        h->dirty_tracking = flags & BACKEND_HWPT_DIRTY_TRACKING;
        h->force_coherence = info->snoop_control;
        *ret = h;
        return 0;
}

/*
 * Unlinks an unused HWPT and frees it: hw_pagetable.c
 * iommufd_hwpt_paging_destroy (its domain leaves the IOAS's table, the IOAS
 * loses a user) or iommufd_hwpt_nested_destroy (the parent loses a user).
 */
void sim_hwpt_destroy(SimCtx *c, SimHwpt *h) {
        assert(h->users == 0);

        if (h->fault)
                h->fault->users--;      /* hw_pagetable.c iommufd_hwpt_destroy */
        if (h->parent)
                h->parent->users--;
        else if (h->in_iopt)
                sim_ioas_remove_domain(h->ioas, h->nest_parent);
        sim_object_remove(c, &h->object);
}

/*
 * iommufd_private.h iommufd_hw_pagetable_put: drops a user; an automatic
 * HWPT whose last user went is destroyed (main.c
 * iommufd_object_put_and_try_destroy).
 */
void sim_hwpt_put(SimCtx *c, SimHwpt *h) {
        assert(h->users > 0);

        h->users--;
        if (h->auto_domain && h->users == 0)
                sim_hwpt_destroy(c, h);
}

/* --- allocation ----------------------------------------------------------------------------- */

/* hw_pagetable.c iommufd_hwpt_paging_alloc on an IOAS, and iopt_table_add_domain. */
static int sim_hwpt_alloc_paging(SimCtx *c, SimDevice *d, SimIoas *ioas, uint32_t flags, size_t data_len,
                                 SimHwpt **ret) {
        const BackendDeviceInfo *info = &d->slot->info;
        SimHwpt *h;
        int r;

        /* iommufd_hwpt_paging_alloc: unknown flags are EOPNOTSUPP. */
        if (flags & ~SIM_HWPT_PAGING_FLAGS)
                return -EOPNOTSUPP;
        /* DIRTY_TRACKING without IOMMU_CAP_DIRTY_TRACKING (intel: ssads_supported) is EOPNOTSUPP. */
        if ((flags & BACKEND_HWPT_DIRTY_TRACKING) && !info->dirty_tracking)
                return -EOPNOTSUPP;
        /* FAULT_ID_VALID with NEST_PARENT is EOPNOTSUPP. */
        if ((flags & BACKEND_HWPT_FAULT_ID_VALID) && (flags & BACKEND_HWPT_NEST_PARENT))
                return -EOPNOTSUPP;
        /* intel/iommu.c intel_iommu_domain_alloc_paging_flags: driver data here is EOPNOTSUPP. */
        if (data_len > 0)
                return -EOPNOTSUPP;
        /*
         * intel_iommu_domain_alloc_second_stage (the unit has no first stage):
         * NEST_PARENT without nested_supported is EOPNOTSUPP.  IOMMU_HWPT_ALLOC_PASID
         * asks nothing of the device: a device without PASIDs gets it too.
         */
        if ((flags & BACKEND_HWPT_NEST_PARENT) && !info->nesting)
                return -EOPNOTSUPP;

        r = sim_hwpt_paging_new(c, ioas, info, flags, &h);
        if (r < 0)
                return r;
        r = sim_ioas_add_domain(ioas, h->nest_parent);
        if (r < 0) {
                sim_hwpt_destroy(c, h);
                return r;
        }
        h->in_iopt = true;
        *ret = h;
        return 0;
}

/* hw_pagetable.c iommufd_hwpt_nested_alloc and intel/nested.c intel_iommu_domain_alloc_nested. */
static int sim_hwpt_alloc_nested(SimCtx *c, SimDevice *d, SimHwpt *parent, uint32_t flags, uint32_t data_type,
                                 const void *data, size_t data_len, SimHwpt **ret) {
        struct iommu_hwpt_vtd_s1 vtd;
        SimHwpt *h;
        int r;

        /* iommufd_hwpt_nested_alloc: flags but FAULT_ID_VALID and PASID, or no data, are EOPNOTSUPP. */
        if ((flags & ~(uint32_t) (BACKEND_HWPT_FAULT_ID_VALID | BACKEND_HWPT_PASID)) || data_len == 0)
                return -EOPNOTSUPP;
        /* iommufd_hwpt_nested_alloc: an automatic parent or one without NEST_PARENT is EINVAL. */
        if (parent->auto_domain || !parent->nest_parent)
                return -EINVAL;
        /* intel_iommu_domain_alloc_nested: a unit without nested_supported is EOPNOTSUPP, ... */
        if (!d->slot->info.nesting)
                return -EOPNOTSUPP;
        /* ... so is a data type other than IOMMU_HWPT_DATA_VTD_S1, ... */
        if (data_type != IOMMU_HWPT_DATA_VTD_S1)
                return -EOPNOTSUPP;
        /*
         * ... and iommu.h iommu_copy_struct_from_user refuses data shorter than
         * the struct's initial version (up to __reserved: all of it) or longer
         * than the struct: EINVAL.  The contents are checked when a device
         * attaches (intel/pasid.c intel_pasid_setup_nested).
         */
        if (data_len != sizeof(vtd))
                return -EINVAL;
        memcpy(&vtd, data, sizeof(vtd));

        r = sim_hwpt_new(c, SIM_OBJECT_HWPT_NESTED, &h);
        if (r < 0)
                return r;
        h->parent = parent;
        h->pasid_compat = flags & BACKEND_HWPT_PASID;
        h->s1_addr_width = vtd.addr_width;
        h->s1_flags = vtd.flags;
        parent->users++;
        *ret = h;
        return 0;
}

int sim_hwpt_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
                   uint32_t data_type, const void *data, size_t data_len, uint32_t fault_id,
                   uint32_t *ret_id) {
        SimCtx *c = sim_ctx(ctx);
        SimHwpt *h = NULL;
        SimDevice *d;
        SimObject *o;
        int r;

        assert(c && ret_id);
        assert(data || data_len == 0);

        r = sim_fault();
        if (r < 0)
                return r;

        /* hw_pagetable.c iommufd_hwpt_alloc: data without a type, or a type without data, is EINVAL. */
        if ((data_type == IOMMU_HWPT_DATA_NONE) != (data_len == 0))
                return -EINVAL;
        /* iommufd_hwpt_alloc: an unknown device is ENOENT (iommufd_get_device). */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        /* iommufd_hwpt_alloc: an unknown pt_id is EINVAL, not ENOENT. */
        r = sim_object_get(c, pt_id, &o);
        if (r < 0)
                return -EINVAL;

        switch (o->type) {
        case SIM_OBJECT_IOAS:
                r = sim_hwpt_alloc_paging(c, d, (SimIoas *) o, flags, data_len, &h);
                break;
        case SIM_OBJECT_HWPT_PAGING:
                r = sim_hwpt_alloc_nested(c, d, (SimHwpt *) o, flags, data_type, data, data_len, &h);
                break;
        case SIM_OBJECT_HWPT_NESTED:
        case SIM_OBJECT_DEVICE:
        case SIM_OBJECT_FAULT:
        case _SIM_OBJECT_TYPE_MAX:
                /* iommufd_hwpt_alloc: any other object (there is no vIOMMU in the sim) is EINVAL. */
                r = -EINVAL;
                break;
        }
        if (r < 0)
                return r;

        /*
         * iommufd_hwpt_alloc: with FAULT_ID_VALID, fault_id must name a FAULT
         * object (iommufd_get_fault: ENOENT otherwise), looked up after the
         * HWPT is built, which then goes; the HWPT holds a user of it.
         */
        if (flags & BACKEND_HWPT_FAULT_ID_VALID) {
                if (sim_object_get(c, fault_id, &o) < 0 || o->type != SIM_OBJECT_FAULT) {
                        sim_hwpt_destroy(c, h);
                        return -ENOENT;
                }
                h->fault = (SimFault *) o;
                h->fault->users++;
        }
        *ret_id = h->object.id;
        return 0;
}

/* --- dirty tracking -------------------------------------------------------------------------- */

static int sim_hwpt_paging_get(SimCtx *c, uint32_t id, SimHwpt **ret) {
        return sim_object_get_typed(c, id, SIM_OBJECT_HWPT_PAGING, (SimObject **) ret);
}

/* Is the 4 KiB page at iova mapped writeable in ioas? */
static bool sim_ioas_page_writeable(const SimIoas *ioas, uint64_t iova) {
        const SimArea *a = sim_area_of(itree_find(&ioas->areas, iova));

        return a && (a->prot & BACKEND_MAP_WRITEABLE);
}

/*
 * Forgets the dirty bits of pages no longer mapped writeable: their PTEs went
 * with the unmap.  (A page unmapped and mapped again between two reads keeps
 * its bit here, where the kernel's new PTE would be clean; tests do not.)
 */
static void sim_hwpt_prune_dirty(SimHwpt *h) {
        for (size_t i = 0; i < h->n_dirty;)
                if (sim_ioas_page_writeable(h->ioas, h->dirty[i]))
                        i++;
                else
                        h->dirty[i] = h->dirty[--h->n_dirty];
}

int sim_hwpt_set_dirty_tracking(BackendCtx *ctx, uint32_t hwpt, bool enable) {
        SimCtx *c = sim_ctx(ctx);
        SimHwpt *h;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        /* hw_pagetable.c iommufd_hwpt_set_dirty_tracking: a paging HWPT only (ENOENT otherwise) */
        r = sim_hwpt_paging_get(c, hwpt, &h);
        if (r < 0)
                return r;
        /* io_pagetable.c iopt_set_dirty_tracking: a domain without dirty_ops is EOPNOTSUPP. */
        if (!h->dirty_tracking)
                return -EOPNOTSUPP;
        /* iopt_set_dirty_tracking: enabling clears every dirty bit first (iopt_clear_dirty_data). */
        if (enable)
                h->n_dirty = 0;
        /* intel/iommu.c intel_iommu_set_dirty_tracking: the same state again is a no-op. */
        h->dirty_enabled = enable;
        return 0;
}

int sim_hwpt_get_dirty_bitmap(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                              uint64_t page_size, uint32_t flags, void *bitmap) {
        SimCtx *c = sim_ctx(ctx);
        uint64_t last, align, end;
        SimHwpt *h;
        int r;

        assert(c && bitmap);

        r = sim_fault();
        if (r < 0)
                return r;

        /* hw_pagetable.c iommufd_hwpt_get_dirty_bitmap: a paging HWPT only (ENOENT otherwise). */
        r = sim_hwpt_paging_get(c, hwpt, &h);
        if (r < 0)
                return r;
        /*
         * io_pagetable.c iommufd_check_iova_range: length 0 is EINVAL, an
         * overflowing range EOVERFLOW, a range not aligned to the IOAS's
         * iova_alignment or to page_size (0 included) EINVAL.
         */
        if (length == 0)
                return -EINVAL;
        if (__builtin_add_overflow(iova, length - 1, &last))
                return -EOVERFLOW;
        align = sim_ioas_alignment(h->ioas);
        if ((iova & (align - 1)) || ((last + 1) & (align - 1)))
                return -EINVAL;
        if (page_size == 0 || (iova % page_size) || ((last + 1) % page_size))
                return -EINVAL;
        /* iommu_read_and_clear_dirty: a domain without dirty_ops is EOPNOTSUPP. */
        if (!h->dirty_tracking)
                return -EOPNOTSUPP;

        /*
         * __iommu_read_and_clear_dirty walks the areas that cover the range
         * contiguously from iova (iopt_for_each_contig_area) and stops at the
         * first hole; the error that makes is dropped (iommu_read_and_clear_dirty
         * ignores iova_bitmap_for_each's result), so the call succeeds.  The
         * kernel restarts the walk for each chunk of the user bitmap it pins
         * (iova_bitmap.c: up to 512 pages of bitmap); the sim walks once.
         */
        sim_hwpt_prune_dirty(h);
        end = iova;
        for (const SimArea *area = sim_area_lower(h->ioas, iova); area; area = sim_area_next(area)) {
                if (area->node.start > end)
                        break;
                end = area->node.last + 1;
                if (area->node.last >= last) {
                        end = last + 1;
                        break;
                }
        }
        for (size_t i = 0; i < h->n_dirty;) {
                uint64_t p = h->dirty[i];

                if (p < iova || p >= end) {
                        i++;
                        continue;
                }
                /* iova_bitmap_set: every page_size page the 4 KiB page touches */
                for (uint64_t b = (p - iova) / page_size; b <= (p + SIM_PAGE_SIZE - 1 - iova) / page_size &&
                                                          b < length / page_size; b++)
                        ((uint64_t *) bitmap)[b / 64] |= UINT64_C(1) << (b % 64);
                if (flags & BACKEND_DIRTY_NO_CLEAR)
                        i++;
                else
                        h->dirty[i] = h->dirty[--h->n_dirty];
        }
        return 0;
}

int backend_sim_mark_dirty(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length) {
        SimCtx *c = sim_ctx(ctx);
        SimHwpt *h;
        int n = 0, r;

        assert(c);

        r = sim_hwpt_paging_get(c, hwpt, &h);
        if (r < 0)
                return r;
        if ((iova | length) & (SIM_PAGE_SIZE - 1) || iova + length < iova)
                return -EINVAL;
        if (!h->dirty_enabled)
                return 0;
        sim_hwpt_prune_dirty(h);
        for (uint64_t p = iova; p - iova < length; p += SIM_PAGE_SIZE) {
                bool seen = false;

                if (!sim_ioas_page_writeable(h->ioas, p))
                        continue;
                for (size_t i = 0; i < h->n_dirty && !seen; i++)
                        seen = h->dirty[i] == p;
                if (seen)
                        continue;
                if (h->n_dirty == h->size_dirty) {
                        size_t size = h->size_dirty ? h->size_dirty * 2 : 16;
                        uint64_t *d = sim_reallocarray(h, h->dirty, size, sizeof(*d));

                        if (!d)
                                return -ENOMEM;
                        h->dirty = d;
                        h->size_dirty = size;
                }
                h->dirty[h->n_dirty++] = p;
                n++;
        }
        return n;
}

/* --- invalidation, fault queues, vIOMMUs ------------------------------------------------------ */

/* hw_pagetable.c IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX */
#define SIM_INVALIDATE_ENTRY_NUM_MAX (1U << 19)

/* intel/nested.c intel_nested_cache_invalidate_user; *entry_num becomes the count processed. */
static int sim_nested_invalidate(uint32_t data_type, const uint8_t *entries, uint32_t entry_len,
                                 uint32_t *entry_num) {
        struct iommu_hwpt_vtd_s1_invalidate inv;
        uint32_t processed = 0;
        int r = 0;

        if (data_type != IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) {
                *entry_num = 0;
                return -EINVAL;
        }
        for (; processed < *entry_num; processed++) {
                /*
                 * iommu.h __iommu_copy_struct_from_user: an entry shorter than the
                 * initial struct (up to __reserved: all of it) or longer than the
                 * struct is EINVAL.
                 */
                if (entry_len != sizeof(inv)) {
                        r = -EINVAL;
                        break;
                }
                memcpy(&inv, entries + (size_t) entry_len * processed, sizeof(inv));
                if ((inv.flags & ~(uint32_t) IOMMU_VTD_INV_FLAGS_LEAF) || inv.__reserved) {
                        r = -EOPNOTSUPP;
                        break;
                }
                if ((inv.addr & (SIM_PAGE_SIZE - 1)) || (inv.npages == UINT64_MAX && inv.addr)) {
                        r = -EINVAL;
                        break;
                }
                /* cache_tag_flush_range: the sim has no caches to flush */
        }
        *entry_num = processed;
        return r;
}

int sim_hwpt_invalidate(BackendCtx *ctx, uint32_t pt_id, uint32_t data_type, const void *entries,
                        uint32_t entry_len, uint32_t *entry_num) {
        SimCtx *c = sim_ctx(ctx);
        SimObject *o;
        int r;

        assert(c && entry_num);

        r = sim_fault();
        if (r < 0)
                return r;

        /* hw_pagetable.c iommufd_hwpt_invalidate: entry_num is 0 in every failure before the driver runs. */
        if (*entry_num && (!entries || entry_len == 0 || entry_len > SIM_PAGE_SIZE ||
                           *entry_num > SIM_INVALIDATE_ENTRY_NUM_MAX)) {
                *entry_num = 0;
                return -EINVAL;
        }
        r = sim_object_get(c, pt_id, &o);
        if (r < 0) {
                *entry_num = 0;
                return r;
        }
        /* a nested HWPT's cache_invalidate_user; a vIOMMU's (none here); anything else EINVAL */
        if (o->type != SIM_OBJECT_HWPT_NESTED) {
                *entry_num = 0;
                return -EINVAL;
        }
        return sim_nested_invalidate(data_type, entries, entry_len, entry_num);
}

int sim_fault_alloc(BackendCtx *ctx, uint32_t *ret_id, int *ret_fd) {
        SimCtx *c = sim_ctx(ctx);
        SimFault *f;
        int fds[2], r;

        assert(c && ret_id && ret_fd);

        r = sim_fault();
        if (r < 0)
                return r;

        f = sim_calloc(c, 1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->object.type = SIM_OBJECT_FAULT;
        f->write_fd = -1;
        if (pipe2(fds, O_CLOEXEC) < 0) {
                r = -errno;
                sim_free(f);
                return r;
        }
        r = sim_object_add(c, &f->object);
        if (r < 0) {
                (void) close(fds[0]);
                (void) close(fds[1]);
                sim_free(f);
                return r;
        }
        f->write_fd = fds[1];
        /* The write end outlives the process with the model (sim-store.c). */
        sim_store_keep(f, f->write_fd, "fault", &f->write_name);
        *ret_id = f->object.id;
        *ret_fd = fds[0];
        return 0;
}

/*
 * eventq.c iommufd_eventq_init: the queue's open file holds a user of the
 * object until its last copy is closed (iommufd_eventq_fops_release).  The
 * sim's fd is the read end of a pipe: once no copy of it is left, the write
 * end the object keeps polls POLLERR (pipe_poll: no readers).
 */
bool sim_fault_fd_open(const SimFault *f) {
        struct pollfd p = { .fd = f->write_fd, .events = POLLOUT };

        if (f->write_fd < 0)
                return false;
        return poll(&p, 1, 0) >= 0 && !(p.revents & POLLERR);
}

int sim_viommu_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_id) {
        SimCtx *c = sim_ctx(ctx);
        SimDevice *d;
        int r;

        assert(c && ret_id);

        r = sim_fault();
        if (r < 0)
                return r;

        /* viommu.c iommufd_viommu_alloc_ioctl: IOMMU_VIOMMU_TYPE_DEFAULT is EOPNOTSUPP, ... */
        if (type == IOMMU_VIOMMU_TYPE_DEFAULT)
                return -EOPNOTSUPP;
        /* ... an unknown device ENOENT (iommufd_get_device), ... */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        /*
         * ... and an IOMMU driver without get_viommu_size/viommu_init
         * EOPNOTSUPP: intel_iommu_ops has neither in 7.3, so every type is
         * refused before the HWPT is looked at.
         */
        (void) hwpt;
        return -EOPNOTSUPP;
}

int sim_vdevice_alloc(BackendCtx *ctx, uint32_t viommu, uint32_t dev_id, uint64_t virt_id,
                      uint32_t *ret_id) {
        SimCtx *c = sim_ctx(ctx);
        SimObject *o;
        int r;

        assert(c && ret_id);

        r = sim_fault();
        if (r < 0)
                return r;

        /*
         * viommu.c iommufd_vdevice_alloc_ioctl: iommufd_get_viommu first; no
         * VIOMMU object can exist on a VT-d unit, so any id is ENOENT.
         */
        (void) dev_id;
        (void) virt_id;
        r = sim_object_get(c, viommu, &o);
        return r < 0 ? r : -ENOENT;
}

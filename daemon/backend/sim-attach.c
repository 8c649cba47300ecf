/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-attach.c - attaching a sim device's RID or PASIDs to an IOAS or a HWPT (device.c).
 *
 * Owns: the attachments of bound devices, VFIO's layer and iommufd's; what
 * the devices of one group share; the checks the core and the driver make on
 * an attach or a replace (PASID compatibility, domain compatibility, PASID
 * range); the automatic HWPTs an attach to an IOAS reuses or makes; detach,
 * and undoing every attachment of a device that is unbound.
 * Must never: bind or release a device (sim-device.c and sim-ctx.c do), or
 * leave a change half made when an attach or a replace fails.
 *
 * DOC: Theory of Operation
 *
 * A device attaches its RID or a PASID to an IOAS (through an automatic
 * paging HWPT, as iommufd_device_auto_get_domain does) or to a HWPT; the
 * model keeps two layers as the kernel does: VFIO's
 * (vfio_device->iommufd_attached and the pasids ida, in struct SimDevice)
 * above iommufd's (one HWPT per device and kernel PASID, where PASID 0 is
 * IOMMU_NO_PASID, the RID).  Devices that share an iommu_group share their
 * attachments, as an iommufd_group does.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/iommufd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/sim-arena.h"
#include "backend/sim-attach.h"
#include "backend/sim-hwpt.h"
#include "backend/sim-iopt.h"
#include "backend/sim-object.h"
#include "backend/sim-vtd.h"

static SimAttach *sim_device_find_attach(SimDevice *d, uint32_t pasid) {
        for (size_t i = 0; i < d->n_attaches; i++)
                if (d->attaches[i].pasid == pasid)
                        return d->attaches + i;
        return NULL;
}

/* Makes room for one more attachment, so that recording it cannot fail. */
static int sim_device_reserve_attach(SimDevice *d) {
        SimAttach *attaches;
        size_t size;

        if (d->n_attaches < d->size_attaches)
                return 0;
        size = d->size_attaches ? d->size_attaches * 2 : 4;
        attaches = sim_reallocarray(d, d->attaches, size, sizeof(*attaches));
        if (!attaches)
                return -ENOMEM;
        d->attaches = attaches;
        d->size_attaches = size;
        return 0;
}

/*
 * The HWPT the iommu_group of d has at the kernel PASID pasid in c
 * (iommufd_group->pasid_attach[pasid]->hwpt), NULL if none.  Only one
 * context can own a group (iommu_device_claim_dma_owner), so the group's
 * attachments are those of its devices bound in c.
 */
static SimHwpt *sim_group_hwpt(SimCtx *c, SimDevice *d, uint32_t pasid) {
        SimBackend *s = sim_backend(c->ctx.backend);

        for (size_t i = 0; i < s->n_slots; i++) {
                SimSlot *slot = s->slots + i;
                SimAttach *a;

                if (slot->ctx != c || !sim_same_group(slot, d->slot))
                        continue;
                a = sim_device_find_attach(slot->device, pasid);
                if (a)
                        return a->hwpt;
        }
        return NULL;
}

/* Whether the group of d has a PASID other than IOMMU_NO_PASID attached. */
static bool sim_group_has_pasids(SimCtx *c, SimDevice *d) {
        SimBackend *s = sim_backend(c->ctx.backend);

        for (size_t i = 0; i < s->n_slots; i++) {
                SimSlot *slot = s->slots + i;

                if (slot->ctx != c || !sim_same_group(slot, d->slot))
                        continue;
                for (size_t j = 0; j < slot->device->n_attaches; j++)
                        if (slot->device->attaches[j].pasid != 0)
                                return true;
        }
        return false;
}

/*
 * device.c iommufd_hwpt_pasid_compat: a PASID attaches only to a HWPT made
 * with IOMMU_HWPT_ALLOC_PASID, and only while the RID's HWPT (if any) was
 * too; the RID attaches to a HWPT without the flag only while no PASID is
 * attached.  EINVAL otherwise.
 */
static int sim_hwpt_pasid_compat(SimCtx *c, SimHwpt *h, SimDevice *d, uint32_t pasid) {
        SimHwpt *rid;

        if (pasid == 0)
                return !h->pasid_compat && sim_group_has_pasids(c, d) ? -EINVAL : 0;
        if (!h->pasid_compat)
                return -EINVAL;
        rid = sim_group_hwpt(c, d, 0);
        if (rid && !rid->pasid_compat)
                return -EINVAL;
        return 0;
}

/*
 * Whether the driver takes h's domain for one device:
 * intel/iommu.c paging_domain_compatible_second_stage wants the features the
 * domain was made with (dirty tracking, nesting, snoop control) from the
 * device's unit; a nested domain checks its parent (intel/nested.c
 * intel_nested_attach_dev), then intel/pasid.c intel_pasid_setup_nested
 * checks the stage-1 table: a 4-level (48-bit) one, no SRE, no EAFE, as the
 * unit has no FL5LP, SRS or EAFS.  EINVAL otherwise.
 */
static int sim_domain_compatible(SimHwpt *h, const BackendDeviceInfo *info) {
        const SimHwpt *p = sim_hwpt_paging(h);

        if ((p->dirty_tracking && !info->dirty_tracking) || (p->nest_parent && !info->nesting) ||
            (p->force_coherence && !info->snoop_control))
                return -EINVAL;
        if (h->parent && (h->s1_addr_width != 48 || (h->s1_flags & (IOMMU_VTD_S1_SRE | IOMMU_VTD_S1_EAFE))))
                return -EINVAL;
        return 0;
}

/**
 * sim_domain_attach() - the driver's side of putting h's domain on the group of d.
 * @c: the context
 * @h: the HWPT
 * @d: the device
 * @pasid: the kernel PASID, 0 for the RID
 * @replace: the group already has a domain at pasid
 *
 * The RID: iommu.c iommu_attach_group_handle / iommu_replace_group_handle
 * attach every device of the group.  A PASID: iommu_attach_device_pasid
 * refuses a PASID at or above any group device's max_pasids (EINVAL) but
 * skips devices without PASIDs, and __iommu_set_group_pasid sets the domain
 * only on devices that have PASIDs, so on a group of devices without PASIDs
 * the attach succeeds and does nothing; iommu_replace_device_pasid does not
 * check the range.  Every device that takes the domain must be compatible.
 *
 * Return: 0, -EINVAL, or -ENODEV for a HWPT with a fault queue.
 */
static int sim_domain_attach(SimCtx *c, SimHwpt *h, SimDevice *d, uint32_t pasid, bool replace) {
        SimBackend *s = sim_backend(c->ctx.backend);
        int r;

        /*
         * intel/iommu.h iopf_for_domain_set: a domain with a fault queue (an
         * iopf_handler) needs PRI enabled on the device (intel_iommu_enable_iopf),
         * which no sim device has (the unit has no device TLB): ENODEV.
         */
        if (h->fault)
                return -ENODEV;

        if (pasid != 0 && !replace)
                for (size_t i = 0; i < s->n_slots; i++) {
                        uint32_t max = sim_max_pasids(&s->slots[i].info);

                        if (sim_same_group(s->slots + i, d->slot) && max > 0 && pasid >= max)
                                return -EINVAL;
                }
        for (size_t i = 0; i < s->n_slots; i++) {
                if (!sim_same_group(s->slots + i, d->slot))
                        continue;
                if (pasid != 0 && sim_max_pasids(&s->slots[i].info) == 0)
                        continue;
                r = sim_domain_compatible(h, &s->slots[i].info);
                if (r < 0)
                        return r;
        }
        return 0;
}

/**
 * sim_hwpt_attach() - attach d at pasid to h (device.c iommufd_hw_pagetable_attach).
 * @c: the context
 * @h: the HWPT
 * @d: the device
 * @pasid: the kernel PASID, 0 for the RID
 *
 * The RID reserves the device's regions on the IOAS of h (or of its parent)
 * (iommufd_device_attach_reserved_iova); the first device of its group at
 * pasid puts the domain on the group (iommufd_hwpt_attach_device).  h gains
 * a user.  Nothing changes on failure.
 *
 * Return: 0; -EBUSY if d is attached at pasid already; -EINVAL if its group
 * is attached to another HWPT there, or for iommufd_hwpt_pasid_compat or the
 * driver; -EADDRINUSE, -ENOMEM.
 */
static int sim_hwpt_attach(SimCtx *c, SimHwpt *h, SimDevice *d, uint32_t pasid) {
        SimIoas *ioas = sim_hwpt_paging(h)->ioas;
        SimHwpt *old;
        int r;

        r = sim_device_reserve_attach(d);
        if (r < 0)
                return r;
        /* iommufd_hw_pagetable_attach: xa_insert() of a device already in device_array is EBUSY. */
        if (sim_device_find_attach(d, pasid))
                return -EBUSY;
        /* iommufd_hw_pagetable_attach: the group on another HWPT at this PASID is EINVAL. */
        old = sim_group_hwpt(c, d, pasid);
        if (old && old != h)
                return -EINVAL;
        if (pasid == 0) {
                r = sim_ioas_reserve_msi(ioas, 1);
                if (r < 0)
                        return r;
        }
        if (!old) {
                r = sim_hwpt_pasid_compat(c, h, d, pasid);
                if (r >= 0)
                        r = sim_domain_attach(c, h, d, pasid, /* replace= */ false);
                if (r < 0) {
                        if (pasid == 0)
                                sim_ioas_unreserve_msi(ioas, 1);
                        return r;
                }
        }
        d->attaches[d->n_attaches++] = (SimAttach) { .pasid = pasid, .hwpt = h };
        h->users++;
        return 0;
}

/*
 * device.c iommufd_hw_pagetable_detach: d leaves its HWPT at pasid (which it
 * must have); the RID's reservation goes, and the HWPT loses a user, which
 * destroys an automatic one that has no other.
 */
static void sim_hwpt_detach(SimCtx *c, SimDevice *d, uint32_t pasid) {
        SimAttach *a = sim_device_find_attach(d, pasid);
        SimHwpt *h;

        assert(a);

        h = a->hwpt;
        *a = d->attaches[--d->n_attaches];
        if (pasid == 0)
                sim_ioas_unreserve_msi(sim_hwpt_paging(h)->ioas, 1);
        sim_hwpt_put(c, h);
}

/**
 * sim_hwpt_replace() - move the group of d at pasid to h (device.c iommufd_device_do_replace).
 * @c: the context
 * @h: the new HWPT
 * @d: the device, attached at pasid
 * @pasid: the kernel PASID, 0 for the RID
 *
 * Every device of the group attached at pasid moves; for the RID onto
 * another IOAS their reservations move with them
 * (iommufd_group_do_replace_reserved_iova).  The old HWPT loses their
 * users, which destroys it if it was automatic and has no other.  Nothing
 * changes on failure.
 *
 * Return: 0 (also when h is the HWPT already there); -EINVAL if d is not
 * attached at pasid, or for iommufd_hwpt_pasid_compat or the driver;
 * -EADDRINUSE.
 */
static int sim_hwpt_replace(SimCtx *c, SimHwpt *h, SimDevice *d, uint32_t pasid) {
        SimBackend *s = sim_backend(c->ctx.backend);
        SimHwpt *old = sim_group_hwpt(c, d, pasid);
        SimIoas *new_ioas, *old_ioas;
        bool move_resv;
        uint32_t n = 0;
        int r;

        if (!old || !sim_device_find_attach(d, pasid))
                return -EINVAL;
        if (h == old)
                return 0;

        for (size_t i = 0; i < s->n_slots; i++)
                if (s->slots[i].ctx == c && sim_same_group(s->slots + i, d->slot) &&
                    sim_device_find_attach(s->slots[i].device, pasid))
                        n++;
        new_ioas = sim_hwpt_paging(h)->ioas;
        old_ioas = sim_hwpt_paging(old)->ioas;
        move_resv = pasid == 0 && new_ioas != old_ioas;

        if (move_resv) {
                r = sim_ioas_reserve_msi(new_ioas, n);
                if (r < 0)
                        return r;
        }
        /* device.c iommufd_hwpt_replace_device */
        r = sim_hwpt_pasid_compat(c, h, d, pasid);
        if (r >= 0)
                r = sim_domain_attach(c, h, d, pasid, /* replace= */ true);
        if (r < 0) {
                if (move_resv)
                        sim_ioas_unreserve_msi(new_ioas, n);
                return r;
        }
        if (move_resv)
                sim_ioas_unreserve_msi(old_ioas, n);

        for (size_t i = 0; i < s->n_slots; i++) {
                SimAttach *a;

                if (s->slots[i].ctx != c || !sim_same_group(s->slots + i, d->slot))
                        continue;
                a = sim_device_find_attach(s->slots[i].device, pasid);
                if (a)
                        a->hwpt = h;
        }
        /* iommufd_device_do_replace moves the users; the caller puts the old HWPT. */
        h->users += n;
        old->users -= n - 1;
        sim_hwpt_put(c, old);
        return 0;
}

/* The automatic HWPT of ioas made after seq `after` first (ioas->hwpt_list order), or NULL. */
static SimHwpt *sim_ioas_next_auto(SimCtx *c, SimIoas *ioas, uint64_t after) {
        SimHwpt *best = NULL;

        for (size_t i = 0; i < c->n_objects; i++) {
                SimHwpt *h = (SimHwpt *) c->objects[i];

                if (!h || h->object.type != SIM_OBJECT_HWPT_PAGING || h->ioas != ioas || !h->auto_domain ||
                    h->seq <= after)
                        continue;
                if (!best || h->seq < best->seq)
                        best = h;
        }
        return best;
}

/**
 * sim_auto_get_domain() - attach or replace d at pasid onto ioas (device.c
 * iommufd_device_auto_get_domain).
 * @c: the context
 * @d: the device
 * @pasid: the kernel PASID, 0 for the RID
 * @ioas: the IOAS
 * @replace: replace (d is attached at pasid) rather than attach
 * @ret_hwpt: the id of the automatic HWPT now in use
 *
 * Tries the IOAS's automatic HWPTs in the order they were made; EINVAL
 * means that one does not fit, any other error ends the attempt.  If none
 * fits, a new one is made with no flags (iommufd_hwpt_paging_alloc): for an
 * attach the device attaches before the domain joins the IOAS
 * (immediate_attach), for a replace after.  As the new HWPT has no
 * IOMMU_HWPT_ALLOC_PASID, a PASID never attaches to an IOAS directly: EINVAL.
 *
 * Return: 0 or what sim_hwpt_attach(), sim_hwpt_replace() or
 * sim_ioas_add_domain() return.
 */
static int sim_auto_get_domain(SimCtx *c, SimDevice *d, uint32_t pasid, SimIoas *ioas, bool replace,
                               uint32_t *ret_hwpt) {
        uint64_t after = 0;
        SimHwpt *h;
        int r;

        while ((h = sim_ioas_next_auto(c, ioas, after))) {
                after = h->seq;
                r = replace ? sim_hwpt_replace(c, h, d, pasid) : sim_hwpt_attach(c, h, d, pasid);
                if (r == -EINVAL)
                        continue;
                if (r < 0)
                        return r;
                *ret_hwpt = h->object.id;
                return 0;
        }

        r = sim_hwpt_paging_new(c, ioas, &d->slot->info, /* flags= */ 0, &h);
        if (r < 0)
                return r;
        if (!replace) {
                r = sim_hwpt_attach(c, h, d, pasid);
                if (r < 0) {
                        sim_hwpt_destroy(c, h);
                        return r;
                }
                r = sim_ioas_add_domain(ioas, /* nest_parent= */ false);
                if (r < 0) {
                        sim_hwpt_detach(c, d, pasid);
                        sim_hwpt_destroy(c, h);
                        return r;
                }
                h->in_iopt = true;
        } else {
                r = sim_ioas_add_domain(ioas, /* nest_parent= */ false);
                if (r < 0) {
                        sim_hwpt_destroy(c, h);
                        return r;
                }
                h->in_iopt = true;
                r = sim_hwpt_replace(c, h, d, pasid);
                if (r < 0) {
                        sim_hwpt_destroy(c, h);
                        return r;
                }
        }
        h->auto_domain = true;
        *ret_hwpt = h->object.id;
        return 0;
}

/**
 * sim_change_pt() - attach or replace d at pasid onto pt_id (device.c iommufd_device_change_pt).
 * @c: the context
 * @d: the device
 * @pasid: the kernel PASID, 0 for the RID
 * @pt_id: an IOAS or a HWPT of c
 * @replace: iommufd_device_replace rather than iommufd_device_attach
 * @ret_hwpt: the HWPT now in use
 *
 * Return: 0; -ENOENT for an unknown pt_id, -EINVAL for an object that is no
 * IOAS or HWPT; or what sim_hwpt_attach(), sim_hwpt_replace() or
 * sim_auto_get_domain() return.
 */
static int sim_change_pt(SimCtx *c, SimDevice *d, uint32_t pasid, uint32_t pt_id, bool replace,
                         uint32_t *ret_hwpt) {
        SimObject *o;
        int r;

        r = sim_object_get(c, pt_id, &o);
        if (r < 0)
                return r;
        switch (o->type) {
        case SIM_OBJECT_HWPT_PAGING:
        case SIM_OBJECT_HWPT_NESTED:
                r = replace ? sim_hwpt_replace(c, (SimHwpt *) o, d, pasid) :
                              sim_hwpt_attach(c, (SimHwpt *) o, d, pasid);
                if (r < 0)
                        return r;
                *ret_hwpt = pt_id;
                return 0;
        case SIM_OBJECT_IOAS:
                return sim_auto_get_domain(c, d, pasid, (SimIoas *) o, replace, ret_hwpt);
        case SIM_OBJECT_DEVICE:
        case SIM_OBJECT_FAULT:
        case _SIM_OBJECT_TYPE_MAX:
                break;
        }
        return -EINVAL;
}

/*
 * vfio/iommufd.c vfio_iommufd_physical_unbind, then iommufd_device_unbind:
 * the PASIDs VFIO attached are detached, then the RID, and the device object
 * goes.
 */
void sim_device_unbind_all(SimCtx *c, SimDevice *d) {
        /* Going down, a detach only moves an already visited attachment into place. */
        for (size_t i = d->n_attaches; i > 0; i--)
                if (d->attaches[i - 1].pasid != 0)
                        sim_hwpt_detach(c, d, d->attaches[i - 1].pasid);
        if (d->pasid0 || d->rid_attached)
                sim_hwpt_detach(c, d, 0);
        sim_object_remove(c, &d->object);
}

/* vfio/iommufd.c vfio_iommufd_physical_pasid_attach_ioas: ida_alloc_range() takes no PASID above INT_MAX. */
#define SIM_VFIO_PASID_MAX ((uint32_t) INT_MAX)

/**
 * sim_vfio_attach_pt() - VFIO_DEVICE_ATTACH_IOMMUFD_PT on the fd of d
 * (vfio/device_cdev.c vfio_df_ioctl_attach_pt).
 * @c: the context d is bound in
 * @d: the device
 * @pasid: BACKEND_NO_PASID for the RID, else the PASID
 * @pt_id: an IOAS or a HWPT of c
 * @ret_hwpt: the HWPT now in use, set on success only
 *
 * Return: 0 or what sim_change_pt() returns; -ENOSPC for a PASID above INT_MAX.
 */
int sim_vfio_attach_pt(SimCtx *c, SimDevice *d, uint32_t pasid, uint32_t pt_id, uint32_t *ret_hwpt) {
        uint32_t hwpt = 0;
        int r;

        if (pasid == BACKEND_NO_PASID) {
                /*
                 * vfio/iommufd.c vfio_iommufd_physical_attach_ioas: replace once
                 * VFIO has attached the RID, attach otherwise.
                 */
                r = sim_change_pt(c, d, 0, pt_id, /* replace= */ d->rid_attached, &hwpt);
                if (r < 0)
                        return r;
                d->rid_attached = true;
        } else if (pasid == 0 ? d->pasid0 : sim_device_find_attach(d, pasid) != NULL) {
                /* vfio_iommufd_physical_pasid_attach_ioas: a PASID VFIO holds is replaced. */
                r = sim_change_pt(c, d, pasid, pt_id, /* replace= */ true, &hwpt);
                if (r < 0)
                        return r;
        } else {
                /*
                 * vfio_iommufd_physical_pasid_attach_ioas: ida_alloc_range() of a
                 * PASID above INT_MAX is ENOSPC.  PASID 0 is IOMMU_NO_PASID to
                 * iommufd: it attaches the RID (EBUSY if VFIO attached it already).
                 */
                if (pasid > SIM_VFIO_PASID_MAX)
                        return -ENOSPC;
                r = sim_change_pt(c, d, pasid, pt_id, /* replace= */ false, &hwpt);
                if (r < 0)
                        return r;
                if (pasid == 0)
                        d->pasid0 = true;
        }
        *ret_hwpt = hwpt;
        return 0;
}

/*
 * VFIO_DEVICE_DETACH_IOMMUFD_PT on the fd of d, which cannot fail:
 * vfio/device_cdev.c vfio_df_ioctl_detach_pt returns 0 whatever happens, as
 * vfio_iommufd_physical_detach_ioas does nothing for a RID VFIO has not
 * attached, vfio_iommufd_physical_pasid_detach_ioas nothing for a PASID it
 * does not hold.
 */
void sim_vfio_detach_pt(SimCtx *c, SimDevice *d, uint32_t pasid) {
        if (pasid == BACKEND_NO_PASID) {
                if (d->rid_attached) {
                        sim_hwpt_detach(c, d, 0);
                        d->rid_attached = false;
                }
        } else if (pasid == 0) {
                if (d->pasid0) {
                        sim_hwpt_detach(c, d, 0);
                        d->pasid0 = false;
                }
        } else if (sim_device_find_attach(d, pasid))
                sim_hwpt_detach(c, d, pasid);
}

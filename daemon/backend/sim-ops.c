/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-ops.c - the simulated IOMMU backend: an in-process model of iommufd.
 *
 * Owns: the ops table backend_sim_ops, IOMMU_DESTROY (the one op that knows
 * every kind of object) and backend_sim_stats(); the rest of the model is in
 * the sim-*.c files below.  The model is of Linux 7.3 iommufd and VFIO cdev
 * on a guest with one emulated Intel VT-d unit in scalable mode.  Every
 * errno, and the order in which the checks run, is the kernel's; each rule
 * cites the kernel function that has it (drivers/iommu/iommufd/ unless said
 * otherwise), checked against the 7.3.4 sources the VM harness builds.
 * Memory is never pinned, not even for an IOAS with a domain: the kernel
 * would fault in the pages and fail a bad address with EFAULT, the sim
 * accepts any address.
 * Must never (nor any sim-*.c file): open /dev/iommu, touch the memory
 * behind a mapping, keep or close a file descriptor it is given (it keeps
 * only the ends it made), log, or know about sessions.
 *
 * DOC: Theory of Operation
 *
 * The model is cut by kernel object, each file with the theory of its part;
 * a file includes the headers of only those listed above it:
 *
 *   sim-internal.h  the records every part shares: backend, model, context, objects
 *   sim-arena.c     the memory of the model, which outlives the process
 *   sim-store.c     the sim's own fds in the service manager's fd store
 *   sim-fail-nth.c  the fail-nth hook every fallible op runs first
 *   sim-object.c    a context's object table: ids, lookups, freeing
 *   sim-iopt.c      an IOAS's areas, reserved ranges, domains, IOVA allocator
 *   sim-ioas.c      the IOAS ops: alloc, ranges, allowed IOVAs, map, unmap, copy
 *   sim-vtd.c       the VT-d unit: registers, PASIDs, iommu_groups
 *   sim-hwpt.c      HWPTs, dirty tracking, invalidation, fault queues, vIOMMUs
 *   sim-attach.c    a device's attachments, automatic HWPTs, replace, detach
 *   sim-ctx.c       the backend, its model, its contexts, their fds, release, reaping
 *   sim-device.c    the device ops: list, bind, probe, attach, detach, hw_info
 *   sim-ops.c   this table, which includes them all
 *
 * The test hooks (fail-nth, dirty pages, device-op datagrams, stats) are
 * declared in backend-sim.h.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend-sim.h"
#include "backend/backend.h"
#include "backend/sim-ctx.h"
#include "backend/sim-device.h"
#include "backend/sim-fail-nth.h"
#include "backend/sim-hwpt.h"
#include "backend/sim-ioas.h"
#include "backend/sim-object.h"

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
        /* iommufd_object_remove: EBUSY while another object holds a user reference. */
        switch (o->type) {
        case SIM_OBJECT_IOAS:
                /*
                 * Every paging HWPT on the IOAS holds one (iommufd_hwpt_paging_alloc),
                 * and every attached device holds its HWPT.  An IOAS that still has
                 * mappings is destroyed with them (ioas.c iommufd_ioas_destroy).
                 */
                if (((SimIoas *) o)->n_domains > 0)
                        return -EBUSY;
                sim_object_remove(c, o);
                return 0;
        case SIM_OBJECT_HWPT_PAGING:
        case SIM_OBJECT_HWPT_NESTED:
                /* Attached devices and nested children hold one; an automatic HWPT always has a device. */
                if (((SimHwpt *) o)->users > 0)
                        return -EBUSY;
                sim_hwpt_destroy(c, (SimHwpt *) o);
                return 0;
        case SIM_OBJECT_DEVICE:
                /* device.c iommufd_device_bind: the VFIO driver holds one until it unbinds. */
                return -EBUSY;
        case SIM_OBJECT_FAULT:
                /*
                 * Every HWPT allocated with it holds one (hw_pagetable.c
                 * iommufd_hwpt_alloc), and so does its fd while a copy of it
                 * is open (eventq.c iommufd_eventq_init).  No VIOMMU or
                 * VDEVICE object exists: the VT-d unit of 7.3 makes none.
                 */
                if (((SimFault *) o)->users > 0 || sim_fault_fd_open((SimFault *) o))
                        return -EBUSY;
                sim_object_remove(c, o);
                return 0;
        case _SIM_OBJECT_TYPE_MAX:
                break;
        }
        assert(!"unknown sim object type");
        return -EINVAL;
}

/* --- stats ------------------------------------------------------------------------------------ */

void backend_sim_stats(Backend *b, BackendSimStats *ret) {
        SimBackend *s = sim_backend(b);
        BackendSimStats st = {};

        assert(s && ret);

        sim_reap(s);
        for (SimCtx *c = s->model->contexts; c; c = c->next) {
                st.contexts++;
                if (c->closed)
                        st.closed_contexts++;
                for (size_t i = 0; i < c->n_objects; i++) {
                        const SimObject *o = c->objects[i];

                        if (!o)
                                continue;
                        st.objects++;
                        switch (o->type) {
                        case SIM_OBJECT_IOAS: {
                                const SimIoas *ioas = (const SimIoas *) o;
                                const ITreeNode *n;

                                st.ioases++;
                                st.areas += itree_size(&ioas->areas);
                                itree_for_each(n, &ioas->areas)
                                        st.mapped_bytes += n->last - n->start + 1;
                                break;
                        }
                        case SIM_OBJECT_HWPT_PAGING:
                        case SIM_OBJECT_HWPT_NESTED:
                                st.hwpts++;
                                break;
                        case SIM_OBJECT_DEVICE:
                                st.devices++;
                                break;
                        case SIM_OBJECT_FAULT:
                        case _SIM_OBJECT_TYPE_MAX:
                                break;
                        }
                }
        }
        *ret = st;
}

const BackendOps backend_sim_ops = {
        .name = "sim",
        .open = sim_open,
        .close = sim_close,
        .ctx_new = sim_ctx_new,
        .ctx_free = sim_ctx_free,
        .ctx_fd = sim_ctx_fd,
        .ctx_adopt = sim_ctx_adopt,
        .ioas_alloc = sim_ioas_alloc,
        .destroy = sim_destroy,
        .iova_ranges = sim_iova_ranges,
        .allow_iovas = sim_allow_iovas,
        .map_file = sim_map_file,
        .map_user = sim_map_user,
        .unmap = sim_unmap,
        .copy = sim_copy,
        .device_list = sim_device_list,
        .device_bind = sim_device_bind,
        .device_unbind = sim_device_unbind,
        .device_probe = sim_device_probe,
        .delegate_iommufd = sim_delegate_iommufd,
        .delegate_device = sim_delegate_device,
        .device_attach = sim_device_attach,
        .device_detach = sim_device_detach,
        .hw_info = sim_hw_info,
        .hwpt_alloc = sim_hwpt_alloc,
        .hwpt_set_dirty_tracking = sim_hwpt_set_dirty_tracking,
        .hwpt_get_dirty_bitmap = sim_hwpt_get_dirty_bitmap,
        .hwpt_invalidate = sim_hwpt_invalidate,
        .fault_alloc = sim_fault_alloc,
        .viommu_alloc = sim_viommu_alloc,
        .vdevice_alloc = sim_vdevice_alloc,
};

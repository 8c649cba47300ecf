/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * persist-objects.c - see persist-objects.h.
 */
#include <stddef.h>
#include <string.h>

#include "core/persist-objects.h"
#include "core/session.h"
#include "object/device.h"
#include "object/hwpt.h"
#include "object/ioas.h"
#include "object/memreg.h"
#include "object/pasid.h"
#include "object/viommu.h"

#define PUT(ptr, len) do { if (buf) memcpy(buf + at, (ptr), (len)); at += (len); } while (0)

/* The SessionKind of a PERSIST_KIND_*, or _SESSION_KIND_INVALID. */
SessionKind persist_kind_session(uint32_t kind) {
        switch (kind) {
        case PERSIST_KIND_IOAS:
                return SESSION_IOAS;
        case PERSIST_KIND_MEMREG:
                return SESSION_MEMREG;
        case PERSIST_KIND_DEVICE:
                return SESSION_DEVICE;
        case PERSIST_KIND_HWPT:
                return SESSION_HWPT;
        case PERSIST_KIND_FAULT:
                return SESSION_FAULT_QUEUE;
        case PERSIST_KIND_VIOMMU:
                return SESSION_VIOMMU;
        case PERSIST_KIND_VDEVICE:
                return SESSION_VDEVICE;
        default:
                return _SESSION_KIND_INVALID;
        }
}

/* One object's record of kind (PERSIST_KIND_*) at buf + at (buf NULL: only counted); the offset after it. */
size_t persist_object_put(uint32_t kind, const void *o, uint8_t *buf, size_t at) {
        switch (kind) {
        case PERSIST_KIND_IOAS: {
                const Ioas *ioas = o;
                PersistIoasRec r = {
                        .id = ioas->id,
                        .serial = ioas->serial,
                        .n_window = (uint32_t) ioas->n_window,
                        .n_allowed = (uint32_t) ioas->n_allowed,
                        .enforce_snoop = ioas->enforce_snoop,
                };

                PUT(&r, sizeof(r));
                PUT(ioas->window, sizeof(IovaRange) * ioas->n_window);
                PUT(ioas->allowed, sizeof(IovaRange) * ioas->n_allowed);
                break;
        }
        case PERSIST_KIND_MEMREG: {
                const MemReg *m = o;
                PersistMemRegRec r = {
                        .id = m->id,
                        .accmode = m->accmode,
                        .seals = m->seals,
                        .sealed = m->sealed,
                        .size_floor = m->size_floor,
                };

                PUT(&r, sizeof(r));
                break;
        }
        case PERSIST_KIND_DEVICE: {
                const Device *d = o;
                PersistDeviceRec r = {
                        .dev_id = d->dev_id,
                        .pt_id = d->pt_id,
                        .hwpt_id = d->hwpt_id,
                        .n_pasids = (uint32_t) list_count(&d->pasids.entries),
                        .global_pasid = d->global_pasid,
                };
                PasidEntry *e;

                memcpy(r.name, d->name, sizeof(r.name));
                PUT(&r, sizeof(r));
                LIST_FOREACH(e, &d->pasids.entries, link) {
                        PersistPasidRec pr = { .vpasid = e->vpasid, .pasid = e->pasid, .pt_id = e->pt_id };

                        PUT(&pr, sizeof(pr));
                }
                break;
        }
        case PERSIST_KIND_HWPT: {
                const Hwpt *h = o;
                PersistHwptRec r = {
                        .id = h->id, .pt_id = h->pt_id, .flags = h->flags, .data_type = h->data_type,
                        .enforce_snoop = h->enforce_snoop,
                };

                PUT(&r, sizeof(r));
                break;
        }
        case PERSIST_KIND_FAULT: {
                PersistFaultRec r = { .id = ((const FaultQueue *) o)->id };

                PUT(&r, sizeof(r));
                break;
        }
        case PERSIST_KIND_VIOMMU: {
                const Viommu *vi = o;
                PersistViommuRec r = { .id = vi->id, .dev_id = vi->dev_id, .hwpt_id = vi->hwpt_id };

                PUT(&r, sizeof(r));
                break;
        }
        case PERSIST_KIND_VDEVICE: {
                const Vdevice *vd = o;
                PersistVdeviceRec r = { .id = vd->id, .viommu_id = vd->viommu_id, .dev_id = vd->dev_id };

                PUT(&r, sizeof(r));
                break;
        }
        }
        return at;
}

/* The count of kind (PERSIST_KIND_*) in an OBJECTS header. */
uint32_t *persist_objects_count(PersistObjectsHdr *oh, uint32_t kind) {
        switch (kind) {
        case PERSIST_KIND_IOAS:
                return &oh->n_ioas;
        case PERSIST_KIND_MEMREG:
                return &oh->n_memreg;
        case PERSIST_KIND_DEVICE:
                return &oh->n_device;
        case PERSIST_KIND_HWPT:
                return &oh->n_hwpt;
        case PERSIST_KIND_FAULT:
                return &oh->n_fault;
        case PERSIST_KIND_VIOMMU:
                return &oh->n_viommu;
        default:
                return &oh->n_vdevice;
        }
}
#undef PUT

/* The bytes of the record of kind at at (its ranges or PASIDs included); 0 if it does not fit before end. */
size_t persist_object_size(uint32_t kind, const uint8_t *at, const uint8_t *end) {
        size_t avail = (size_t) (end - at), n;

        switch (kind) {
        case PERSIST_KIND_IOAS: {
                PersistIoasRec r;

                if (avail < sizeof(r))
                        return 0;
                memcpy(&r, at, sizeof(r));
                if (r.n_window > IOAS_MAX_WINDOW || r.n_allowed > IOAS_MAX_WINDOW)
                        return 0;
                n = sizeof(r) + sizeof(IovaRange) * (r.n_window + r.n_allowed);
                break;
        }
        case PERSIST_KIND_DEVICE: {
                PersistDeviceRec r;

                if (avail < sizeof(r))
                        return 0;
                memcpy(&r, at, sizeof(r));
                if (r.n_pasids > avail / sizeof(PersistPasidRec))
                        return 0;
                n = sizeof(r) + sizeof(PersistPasidRec) * r.n_pasids;
                break;
        }
        case PERSIST_KIND_MEMREG:
                n = sizeof(PersistMemRegRec);
                break;
        case PERSIST_KIND_HWPT:
                n = sizeof(PersistHwptRec);
                break;
        case PERSIST_KIND_FAULT:
                n = sizeof(PersistFaultRec);
                break;
        case PERSIST_KIND_VIOMMU:
                n = sizeof(PersistViommuRec);
                break;
        case PERSIST_KIND_VDEVICE:
                n = sizeof(PersistVdeviceRec);
                break;
        default:
                return 0;
        }
        return n <= avail ? n : 0;
}

/* The id of a record of kind (a device's: its dev_id). */
uint32_t persist_object_id(uint32_t kind, const uint8_t *rec) {
        uint32_t id;

        memcpy(&id, rec + (kind == PERSIST_KIND_DEVICE ? offsetof(PersistDeviceRec, dev_id) : 0), sizeof(id));
        return id;
}

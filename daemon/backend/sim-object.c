/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-object.c - the object table of a sim context: ids, lookups, freeing.
 *
 * Owns: the table of a SimCtx (objects[], its size, the lowest free slot),
 * the ids it hands out, the lookups by id, and by type, with the kernel's
 * errnos, and how an object of each kind is freed on its own.
 * Must never: undo the links between objects (users, domains, reservations):
 * whoever removes an object from a live context does; close a file
 * descriptor but those an object made itself (whose copy in the fd store it
 * drops with it).
 *
 * DOC: Theory of Operation
 *
 * A BackendCtx is one iommufd context.  Its objects live in a table indexed
 * by id - 1; ids start at 1 and the lowest free id is handed out first, so
 * ids are reused after destroy (main.c _iommufd_object_alloc: xa_alloc on an
 * XA_FLAGS_ALLOC1 xarray).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/sim-arena.h"
#include "backend/sim-iopt.h"
#include "backend/sim-object.h"
#include "backend/sim-store.h"

/* Largest object id: xa_limit_31b. */
#define SIM_ID_MAX 0x7fffffffU

static void sim_ioas_free(SimIoas *ioas) {
        if (!ioas)
                return;
        sim_free(ioas->allowed);
        sim_areas_clear(ioas);
        sim_free(ioas);
}

/*
 * Frees the device, closes its watch fd and gives its configured device back
 * (vfio_df_unbind_iommufd).
 */
static void sim_device_free(SimDevice *d) {
        if (!d)
                return;
        if (d->slot) {
                d->slot->ctx = NULL;
                d->slot->device = NULL;
        }
        if (d->watch_fd >= 0)
                (void) close(d->watch_fd);
        sim_store_forget(d, "dev", d->watch_name);
        sim_free(d->attaches);
        sim_free(d);
}

/*
 * Frees o alone: the links between objects (users, domains, reservations)
 * are undone by whoever removes it from a live context; ctx_free needs none.
 */
void sim_object_free(SimObject *o) {
        if (!o)
                return;
        switch (o->type) {
        case SIM_OBJECT_IOAS:
                /* ioas.c iommufd_ioas_destroy: the mappings go with the IOAS. */
                sim_ioas_free((SimIoas *) o);
                return;
        case SIM_OBJECT_HWPT_PAGING:
        case SIM_OBJECT_HWPT_NESTED:
                sim_free(((SimHwpt *) o)->dirty);
                sim_free(o);
                return;
        case SIM_OBJECT_DEVICE:
                sim_device_free((SimDevice *) o);
                return;
        case SIM_OBJECT_FAULT:
                if (((SimFault *) o)->write_fd >= 0)
                        (void) close(((SimFault *) o)->write_fd);
                sim_store_forget(o, "fault", ((SimFault *) o)->write_name);
                sim_free(o);
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
int sim_object_add(SimCtx *c, SimObject *o) {
        size_t i;

        for (i = c->first_free; i < c->n_objects; i++)
                if (!c->objects[i])
                        break;
        if (i >= SIM_ID_MAX)
                return -EBUSY;
        if (i == c->n_objects) {
                if (c->n_objects == c->size_objects) {
                        size_t size = c->size_objects ? c->size_objects * 2 : 16;
                        SimObject **objects = sim_reallocarray(c, c->objects, size, sizeof(*objects));

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

/* Takes o out of the table of c (its id becomes free) and frees it. */
void sim_object_remove(SimCtx *c, SimObject *o) {
        uint32_t id = o->id;

        assert(id >= 1 && id <= c->n_objects && c->objects[id - 1] == o);

        c->objects[id - 1] = NULL;
        if (id - 1 < c->first_free)
                c->first_free = id - 1;
        while (c->n_objects > 0 && !c->objects[c->n_objects - 1])
                c->n_objects--;
        if (c->first_free > c->n_objects)
                c->first_free = c->n_objects;
        sim_object_free(o);
}

/* main.c iommufd_get_object: an unknown id, or one of another type, is ENOENT. */
int sim_object_get(SimCtx *c, uint32_t id, SimObject **ret) {
        if (id == 0 || id > c->n_objects || !c->objects[id - 1])
                return -ENOENT;
        *ret = c->objects[id - 1];
        return 0;
}

/*
 * iommufd_get_object() with a type, as iommufd_get_ioas(), iommufd_get_device()
 * and iommufd_get_hwpt_paging() use it: ENOENT unless id names an object of
 * that type.
 */
int sim_object_get_typed(SimCtx *c, uint32_t id, int type, SimObject **ret) {
        SimObject *o;
        int r;

        r = sim_object_get(c, id, &o);
        if (r < 0)
                return r;
        if ((int) o->type != type)
                return -ENOENT;
        *ret = o;
        return 0;
}

int sim_ioas_get(SimCtx *c, uint32_t id, SimIoas **ret) {
        return sim_object_get_typed(c, id, SIM_OBJECT_IOAS, (SimObject **) ret);
}

int sim_device_get(SimCtx *c, uint32_t id, SimDevice **ret) {
        return sim_object_get_typed(c, id, SIM_OBJECT_DEVICE, (SimObject **) ret);
}

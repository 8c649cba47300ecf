/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-ctx.c - the sim backend, its model and contexts: open, restore, close, fds, release, reaping.
 *
 * Owns: the backend (its configured devices, its features, its alive
 * contexts, its model: made new, or restored from the fd store); contexts
 * from ctx_new (or ctx_adopt) to their destruction, which another copy of
 * the context's fd, or a bound device, postpones past ctx_free; the
 * device-op datagrams holders of device fds send, and the release of a
 * device or context whose fd is closed everywhere, all caught up with by
 * sim_reap().
 * Must never: block (a reap polls with timeout 0), keep or close a file
 * descriptor it did not make (but the one ctx_adopt takes), or know about
 * sessions.
 *
 * DOC: Theory of Operation
 *
 * Devices come only from BackendConfig.sim_devices.  Binding one makes a
 * DEVICE object in the context and hands out one end of a SOCK_SEQPACKET
 * socketpair to stand for the VFIO device fd (sim devices have no regions);
 * the device keeps the other end, its watch fd.  The binding ends only when
 * the device's open file is released, as with VFIO, which has no unbind
 * ioctl (vfio/device_cdev.c vfio_df_unbind_iommufd runs from
 * vfio_device_fops_release): when every copy of the handed-out end is closed,
 * wherever it went, the watch fd polls POLLHUP.  A bound device holds its
 * context (device.c iommufd_device_bind takes iommufd_ctx_get()), so
 * ctx_free only marks a context closed while one of its devices is bound;
 * the context keeps every object and mapping, and dies when its last device
 * is released.  Whoever holds a device fd can act on the device in the
 * context it is bound in, closed or not: the fd carries the datagrams of
 * backend-sim.h that stand for VFIO_DEVICE_ATTACH_IOMMUFD_PT and
 * VFIO_DEVICE_DETACH_IOMMUFD_PT.  The sim notices both only when it reaps
 * (sim_reap: one poll() of every watch fd with timeout 0), at the start of
 * device_list, device_bind, device_probe, ctx_new, ctx_free and ctx_adopt and in
 * backend_sim_stats(), never on the hot map and unmap paths.
 *
 * A context's iommufd is one end of a socketpair too (SimCtx): ctx_free
 * closes the broker's copy, and the context is released (iommufd_fops_release)
 * when no copy is left: at once if the broker's was the last, else when a
 * reap sees the sim's end hang up.  A copy the broker kept in the fd store
 * keeps the context, its objects and mappings alive across the broker's
 * death, as the kernel's file does; ctx_adopt in the next process takes
 * that copy back and finds the context it stands for by its inode.
 *
 * Restart: with BackendConfig.fdstore, the model lives in an arena
 * (sim-arena.c) whose memfd is kept in the store as "sim.model", and every
 * fd the sim makes is kept there too (sim-store.c).  open() given a store
 * that passed "sim.model" maps it back instead of starting empty, takes back
 * the sim's fds by their names, and releases what a missing fd stood for
 * (a device or context whose fd the store no longer had is one whose file
 * was closed).  No context has a broker handle then: each waits for
 * ctx_adopt, or is released by the next reap once every copy of its fd is
 * gone.  close() with a store leaves the model to the store, as the kernel's
 * objects outlive a process whose fds the store holds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* reallocarray() */
#endif

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend-sim.h"
#include "backend/sim-arena.h"
#include "backend/sim-attach.h"
#include "backend/sim-ctx.h"
#include "backend/sim-fail-nth.h"
#include "backend/sim-object.h"
#include "backend/sim-store.h"
#include "util/fdstore.h"

#define SIM_FEATURES                                                                            \
        (BACKEND_FEATURE_MAP_FILE | BACKEND_FEATURE_HWPT_ALLOC | BACKEND_FEATURE_DIRTY_TRACKING |  \
         BACKEND_FEATURE_HWPT_INVALIDATE | BACKEND_FEATURE_FAULT_QUEUE | BACKEND_FEATURE_VIOMMU |  \
         BACKEND_FEATURE_CHANGE_PROCESS)

/* The name of the arena's memfd in the fd store. */
#define SIM_MODEL_FDNAME "sim.model"

/*
 * At most this many device-op datagrams are served per device per reap, so a
 * holder that keeps writing cannot keep a reap going; the rest wait for the
 * next one.
 */
#define SIM_DEVICE_OPS_PER_REAP 256

static void sim_ctx_link(SimModel *m, SimCtx *c) {
        c->prev = NULL;
        c->next = m->contexts;
        if (m->contexts)
                m->contexts->prev = c;
        m->contexts = c;
        m->n_ctx++;
}

static void sim_ctx_unlink(SimModel *m, SimCtx *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                m->contexts = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        assert(m->n_ctx > 0);
        m->n_ctx--;
}

/* Whether a device is bound in c: each holds the context (iommufd_ctx_get in iommufd_device_bind). */
static bool sim_ctx_has_devices(SimCtx *c) {
        SimBackend *s = sim_backend(c->ctx.backend);

        for (size_t i = 0; i < s->n_slots; i++)
                if (s->slots[i].ctx == c)
                        return true;
        return false;
}

/*
 * main.c iommufd_fops_release: every object of the context goes, with no
 * ordering needed between them (links are not undone); devices still bound
 * (only at sim_close, when the process goes) give their slots back.
 */
static void sim_ctx_destroy(SimCtx *c) {
        for (size_t i = 0; i < c->n_objects; i++)
                sim_object_free(c->objects[i]);
        sim_free(c->objects);
        if (c->fd >= 0)
                (void) close(c->fd);
        if (c->watch_fd >= 0)
                (void) close(c->watch_fd);
        sim_store_forget(c, "ctx", c->watch_name);
        sim_ctx_unlink(sim_backend(c->ctx.backend)->model, c);
        sim_free(c);
}

/*
 * Every copy of c's iommufd is closed: main.c iommufd_fops_release runs
 * now, or, while a device is bound (each holds the context), once the last
 * of them is released.
 */
static void sim_ctx_release(SimCtx *c) {
        c->closed = true;
        if (!sim_ctx_has_devices(c))
                sim_ctx_destroy(c);
}

/* Whether the holder's end of a device fd is gone: every copy of it closed. */
static bool sim_fd_hung_up(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) > 0 && (p.revents & POLLHUP);
}

/*
 * One BackendSimDeviceOp from the holder of d's fd, performed as the ioctl
 * would be on that fd, in the context d is bound in (open or closed); op is
 * NULL for a datagram of the wrong size.
 */
static BackendSimDeviceReply sim_device_do_op(SimDevice *d, const BackendSimDeviceOp *op) {
        SimCtx *c = d->slot->ctx;
        uint32_t hwpt = 0;
        int r;

        /*
         * vfio/device_cdev.c vfio_df_ioctl_attach_pt and vfio_df_ioctl_detach_pt:
         * an argsz below the struct's minimum (or unknown flags) is EINVAL.
         */
        if (!op)
                return (BackendSimDeviceReply) { .err = -EINVAL };
        switch (op->op) {
        case BACKEND_SIM_DEVICE_OP_ATTACH:
                r = sim_vfio_attach_pt(c, d, op->pasid, op->pt_id, &hwpt);
                return (BackendSimDeviceReply) { .err = r < 0 ? r : 0, .hwpt = r < 0 ? 0 : hwpt };
        case BACKEND_SIM_DEVICE_OP_DETACH:
                sim_vfio_detach_pt(c, d, op->pasid);
                return (BackendSimDeviceReply) { .err = 0 };
        default:
                /* vfio/vfio_main.c vfio_device_fops_unl_ioctl: an ioctl it does not know is ENOTTY. */
                return (BackendSimDeviceReply) { .err = -ENOTTY };
        }
}

/**
 * sim_device_serve() - serve the device-op datagrams queued on d's watch fd.
 * @d: a bound device
 * @revents: what poll() reported for its watch fd
 *
 * Reads the datagrams the holder wrote, also those written before it closed
 * the fd, performs each and answers it (MSG_DONTWAIT: a reply that does not
 * fit, or that has no one to read it, is dropped).
 *
 * Return: true if every copy of the device fd is closed (the open file is
 * released), false if it is still held.
 */
static bool sim_device_serve(SimDevice *d, short revents) {
        bool hup = revents & POLLHUP;

        for (unsigned k = 0; k < SIM_DEVICE_OPS_PER_REAP; k++) {
                BackendSimDeviceReply reply;
                BackendSimDeviceOp op;
                ssize_t n;

                n = recv(d->watch_fd, &op, sizeof(op), MSG_DONTWAIT | MSG_TRUNC);
                if (n < 0) {
                        /* ECONNRESET: the holder closed with replies unread; what it wrote is still queued. */
                        if (errno == EINTR || errno == ECONNRESET)
                                continue;
                        break;          /* EAGAIN: nothing more */
                }
                /* 0 is the end of the file after the hangup, or an empty datagram: only poll() can tell. */
                if (n == 0 && (hup || sim_fd_hung_up(d->watch_fd))) {
                        hup = true;
                        break;
                }
                reply = sim_device_do_op(d, (size_t) n == sizeof(op) ? &op : NULL);
                (void) send(d->watch_fd, &reply, sizeof(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        return hup;
}

/*
 * The last copy of d's fd was closed: vfio/device_cdev.c
 * vfio_df_unbind_iommufd (from vfio_device_fops_release) detaches and
 * unbinds it, which drops the device's hold on its context; a closed context
 * whose last device that was goes with it (main.c iommufd_fops_release).
 */
static void sim_device_release(SimDevice *d) {
        SimCtx *c = d->slot->ctx;

        sim_device_unbind_all(c, d);    /* frees d and closes its watch fd */
        if (c->closed && !sim_ctx_has_devices(c))
                sim_ctx_destroy(c);
}

/* Room in s->pollfds for n entries; false if there is none and none could be made. */
static bool sim_reap_reserve(SimBackend *s, size_t n) {
        struct pollfd *p;
        SimCtx **c;

        if (n <= s->size_pollfds)
                return true;
        if (n < 2 * s->size_pollfds)
                n = 2 * s->size_pollfds;
        p = reallocarray(s->pollfds, n, sizeof(*p));
        if (!p)
                return false;
        s->pollfds = p;
        c = reallocarray(s->reap_ctx, n, sizeof(*c));
        if (!c)
                return false;
        s->reap_ctx = c;
        s->size_pollfds = n;
        return true;
}

/**
 * sim_reap() - catch up with what holders of device and context fds did since the last reap.
 * @s: the backend
 *
 * One poll() with timeout 0 over the watch fds of every bound device and of
 * every context the broker holds no handle of (after ctx_free, or restored
 * and not adopted yet): the device-op datagrams each holder wrote are
 * served, then a device whose fd is closed everywhere is released (and a
 * closed context that was held only by it destroyed), then a context whose
 * iommufd is closed everywhere is released.  Run at the start of
 * device_list, device_bind, device_probe, ctx_new, ctx_free, ctx_adopt and
 * backend_sim_stats(): the kernel does all this at the moment the holder
 * acts, the sim when it next looks.
 */
void sim_reap(SimBackend *s) {
        size_t n = s->n_slots, n_ctx = 0;
        bool any = false;

        if (!sim_reap_reserve(s, s->n_slots + s->model->n_ctx) && !sim_reap_reserve(s, s->n_slots))
                return;
        for (size_t i = 0; i < s->n_slots; i++) {
                SimDevice *d = s->slots[i].device;

                /* poll() skips a negative fd and reports nothing for it. */
                s->pollfds[i] = (struct pollfd) { .fd = d ? d->watch_fd : -1, .events = POLLIN };
                any = any || d;
        }
        for (SimCtx *c = s->model->contexts; c && n + n_ctx < s->size_pollfds; c = c->next) {
                if (c->closed || c->fd >= 0 || c->watch_fd < 0)
                        continue;
                /* Nobody writes to it: only its hangup (always reported) is of interest. */
                s->pollfds[n + n_ctx] = (struct pollfd) { .fd = c->watch_fd, .events = 0 };
                s->reap_ctx[n_ctx++] = c;
                any = true;
        }
        if (!any)
                return;
        /* With timeout 0 it does not block; a failure (EINTR, ENOMEM) leaves the work for the next reap. */
        if (poll(s->pollfds, n + n_ctx, 0) <= 0)
                return;
        /*
         * Serving or releasing one device changes no other device's binding,
         * and a context is destroyed only with its last device, so the
         * other slots stay valid; the contexts polled are open ones, which
         * no device's release destroys.
         */
        for (size_t i = 0; i < s->n_slots; i++) {
                SimDevice *d = s->slots[i].device;

                if (!d || s->pollfds[i].revents == 0)
                        continue;
                if (sim_device_serve(d, s->pollfds[i].revents))
                        sim_device_release(d);
        }
        for (size_t i = 0; i < n_ctx; i++)
                if (s->pollfds[n + i].revents & (POLLHUP | POLLERR))
                        sim_ctx_release(s->reap_ctx[i]);
}

/* --- the model: new, restored, left in the store ------------------------------------------ */

/* Closes every fd of the process the model holds; the model itself is left as it is. */
static void sim_model_close_fds(SimModel *m) {
        for (SimCtx *c = m->contexts; c; c = c->next) {
                if (c->fd >= 0)
                        (void) close(c->fd);
                if (c->watch_fd >= 0)
                        (void) close(c->watch_fd);
                c->fd = c->watch_fd = -1;
                for (size_t i = 0; i < c->n_objects; i++) {
                        SimObject *o = c->objects[i];

                        if (o && o->type == SIM_OBJECT_DEVICE) {
                                SimDevice *d = (SimDevice *) o;

                                if (d->watch_fd >= 0)
                                        (void) close(d->watch_fd);
                                d->watch_fd = -1;
                        } else if (o && o->type == SIM_OBJECT_FAULT) {
                                SimFault *f = (SimFault *) o;

                                if (f->write_fd >= 0)
                                        (void) close(f->write_fd);
                                f->write_fd = -1;
                        }
                }
        }
}

/*
 * Copies the configured devices into the model; a name that is empty, not
 * NUL-terminated or given twice is EINVAL.
 */
static int sim_load_devices(SimBackend *s, const BackendDeviceInfo *devices, size_t n) {
        SimModel *m = s->model;

        if (n == 0)
                return 0;
        assert(devices);

        m->slots = sim_calloc(m, n, sizeof(*m->slots));
        if (!m->slots)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *name = devices[i].name;

                if (!name[0] || !memchr(name, 0, sizeof(devices[i].name)))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(m->slots[j].info.name, name) == 0)
                                return -EINVAL;
                m->slots[i].info = devices[i];
        }
        m->n_slots = n;
        s->slots = m->slots;
        s->n_slots = n;
        return 0;
}

/* An empty model in a new arena; kept in the store if there is one. */
static int sim_model_new(SimBackend *s, const BackendConfig *config, FdStore *store) {
        SimArena *a = NULL;
        int r;

        r = sim_arena_new(/* fixed= */ fdstore_enabled(store), &s->model_fd, &a);
        if (r < 0)
                return r;
        s->model = sim_calloc(a, 1, sizeof(*s->model));
        if (!s->model) {
                sim_arena_unmap(a);
                return -ENOMEM;
        }
        sim_arena_set_root(a, s->model);
        s->model->fdstore = store;
        if (config) {
                r = sim_load_devices(s, config->sim_devices, config->n_sim_devices);
                if (r < 0)
                        return r;
        }
        return fdstore_keep(store, s->model_fd, SIM_MODEL_FDNAME);
}

/* Takes back the sim's fd of every context, device and fault queue; -1 where the store had none. */
static void sim_model_take_fds(SimBackend *s) {
        for (SimCtx *c = s->model->contexts; c; c = c->next) {
                c->ctx.backend = &s->backend;
                c->fd = -1;
                c->watch_fd = sim_store_take(c, "ctx", c->watch_name);
                for (size_t i = 0; i < c->n_objects; i++) {
                        SimObject *o = c->objects[i];

                        if (o && o->type == SIM_OBJECT_DEVICE)
                                ((SimDevice *) o)->watch_fd = sim_store_take(o, "dev", ((SimDevice *) o)->watch_name);
                        else if (o && o->type == SIM_OBJECT_FAULT)
                                ((SimFault *) o)->write_fd = sim_store_take(o, "fault", ((SimFault *) o)->write_name);
                }
        }
}

/**
 * sim_model_restore() - adopt the model a previous process left in the fd store.
 * @s: the backend being opened; s->model_fd is the arena's memfd
 * @config: its configuration: the same devices as the model's, by name and order
 * @store: the store that passed the memfd
 *
 * Maps the arena back, takes back the sim's fds, and releases each device
 * and context whose fd the store did not have: its file is gone.
 *
 * Return: 0; -EINVAL if the memfd holds no model this sim can read, or the
 * devices configured are not the model's; -EADDRINUSE if its address is
 * taken in this process; the -errno of mapping it.
 */
static int sim_model_restore(SimBackend *s, const BackendConfig *config, FdStore *store) {
        size_t n = config ? config->n_sim_devices : 0;
        SimArena *a;
        SimModel *m;
        int r;

        r = sim_arena_map(s->model_fd, &a);
        if (r < 0)
                return r;
        m = sim_arena_root(a);
        r = m ? 0 : -EINVAL;
        if (m && m->n_slots != n)
                r = -EINVAL;
        for (size_t i = 0; r == 0 && i < n; i++)
                if (strncmp(m->slots[i].info.name, config->sim_devices[i].name, sizeof(m->slots[i].info.name)) != 0)
                        r = -EINVAL;
        if (r < 0) {
                /* Unmapped untouched: its fds are the last process's numbers. */
                sim_arena_unmap(a);
                return r;
        }
        s->model = m;
        m->fdstore = store;
        s->slots = m->slots;
        s->n_slots = m->n_slots;

        sim_model_take_fds(s);
        for (size_t i = 0; i < s->n_slots; i++) {
                SimDevice *d = s->slots[i].device;

                /* Releasing one device destroys at most its own closed context. */
                if (d && d->watch_fd < 0)
                        sim_device_release(d);
        }
        for (SimCtx *c = m->contexts, *next; c; c = next) {
                next = c->next;
                if (!c->closed && c->watch_fd < 0)
                        sim_ctx_release(c);
        }
        return 0;
}

/* Drops a passed fd of the sim's that the model does not name (a leftover of an op cut short). */
static int sim_store_sweep_one(FdStore *store, const char *name, int fd, void *userdata) {
        fd = fdstore_take(store, name);
        if (fd >= 0)
                (void) close(fd);
        (void) fdstore_forget(store, name);
        return 0;
}

/* --- ops ------------------------------------------------------------------------------------- */

void sim_close(Backend *b) {
        SimBackend *s = sim_backend(b);

        if (!s)
                return;
        if (s->model) {
                /* The broker freed every context it had; others may be held elsewhere. */
                for (SimCtx *c = s->model->contexts; c; c = c->next)
                        assert(c->fd < 0);
                if (s->persist)
                        /* The store holds a copy of every fd and of the model: it all stays. */
                        sim_model_close_fds(s->model);
                else
                        /*
                         * The process that owns the whole IOMMU side goes
                         * away: so does every context a device fd or a copy
                         * of its iommufd elsewhere still kept alive.
                         */
                        while (s->model->contexts)
                                sim_ctx_destroy(s->model->contexts);
                sim_arena_unmap(sim_arena_of(s->model));
        }
        if (s->model_fd >= 0)
                (void) close(s->model_fd);
        sim_fail_nth_close(s);
        free(s->pollfds);
        free(s->reap_ctx);
        free(s);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Backend *, sim_close);

int sim_open(const BackendConfig *config, Backend **ret) {
        _cleanup_(sim_closep) Backend *b = NULL;
        FdStore *store = config ? config->fdstore : NULL;
        SimBackend *s;
        int r;

        assert(ret);

        r = sim_fault();
        if (r < 0)
                return r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->model_fd = -1;
        b = &s->backend;
        b->ops = &backend_sim_ops;
        b->features = SIM_FEATURES;
        if (config && config->sim_no_map_file) {
                /* Before 6.13 there is no IOMMU_IOAS_MAP_FILE. */
                s->no_map_file = true;
                b->features &= ~(uint64_t) BACKEND_FEATURE_MAP_FILE;
        }

        /* A model in the store is the IOMMU side as the last process left it. */
        s->model_fd = fdstore_take(store, SIM_MODEL_FDNAME);
        if (s->model_fd >= 0)
                r = sim_model_restore(s, config, store);
        else {
                s->model_fd = -1;
                r = sim_model_new(s, config, store);
        }
        if (r < 0)
                return r;
        s->persist = fdstore_enabled(store);
        (void) fdstore_foreach(store, "sim.", sim_store_sweep_one, /* userdata= */ NULL);

        r = sim_fail_nth_open(s);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(b);
        return 0;
}

void sim_ctx_free(BackendCtx *ctx) {
        SimCtx *c = sim_ctx(ctx);

        if (!c)
                return;
        assert(!c->closed && c->fd >= 0);

        sim_reap(sim_backend(c->ctx.backend));
        /*
         * Closing the iommufd fd drops the caller's reference on the file;
         * a copy elsewhere (the fd store's) keeps it open, and each bound
         * device holds another reference (device.c iommufd_device_bind:
         * iommufd_ctx_get), so main.c iommufd_fops_release, which destroys
         * every object, runs only once the last copy is closed and the last
         * device is unbound, which VFIO does when the last copy of its fd
         * is closed.  Until then the context keeps every object and
         * mapping, and no op reaches it but through a device fd (sim_reap)
         * or a copy of its iommufd (ctx_adopt).
         */
        (void) close(c->fd);
        c->fd = -1;
        if (c->watch_fd < 0 || sim_fd_hung_up(c->watch_fd))
                sim_ctx_release(c);
}

int sim_ctx_new(Backend *b, BackendCtx **ret) {
        _cleanup_close_ int fd = -1, watch_fd = -1;
        SimBackend *s = sim_backend(b);
        struct stat st;
        SimCtx *c;
        int r, pair[2];

        assert(s && ret);

        r = sim_fault();
        if (r < 0)
                return r;

        sim_reap(s);
        /* The iommufd: one end of a socketpair, whose other end tells when its last copy is closed. */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return negative_errno();
        fd = pair[0];
        watch_fd = pair[1];
        if (fstat(fd, &st) < 0)
                return negative_errno();

        c = sim_calloc(s->model, 1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ctx.backend = b;
        c->fd = TAKE_FD(fd);
        c->watch_fd = TAKE_FD(watch_fd);
        c->ino = (uint64_t) st.st_ino;
        c->dev = (uint64_t) st.st_dev;
        /* The sim's end outlives the process with the model (sim-store.c). */
        sim_store_keep(c, c->watch_fd, "ctx", &c->watch_name);
        sim_ctx_link(s->model, c);
        *ret = &c->ctx;
        return 0;
}

int sim_ctx_fd(BackendCtx *ctx) {
        SimCtx *c = sim_ctx(ctx);

        assert(c && c->fd >= 0);
        return c->fd;
}

int sim_ctx_adopt(Backend *b, int fd, BackendCtx **ret) {
        _cleanup_close_ int owned = fd;
        SimBackend *s = sim_backend(b);
        struct stat st;
        int r;

        assert(s && fd >= 0 && ret);

        r = sim_fault();
        if (r < 0)
                return r;

        /* no reap here: the restore reaped, and a restart adopts thousands of contexts in a row */
        if (fstat(owned, &st) < 0)
                return negative_errno();
        /* A file that is no iommufd of this IOMMU side is EINVAL. */
        if (!S_ISSOCK(st.st_mode))
                return -EINVAL;
        for (SimCtx *c = s->model->contexts; c; c = c->next) {
                if (c->closed || c->ino != (uint64_t) st.st_ino || c->dev != (uint64_t) st.st_dev)
                        continue;
                /* The sim has one handle per context: a second wrap of a held iommufd is EBUSY. */
                if (c->fd >= 0)
                        return -EBUSY;
                c->fd = TAKE_FD(owned);
                *ret = &c->ctx;
                return 0;
        }
        return -EINVAL;
}

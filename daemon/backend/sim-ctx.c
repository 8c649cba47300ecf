/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-ctx.c - the simulated backend and its contexts: open, close, device fds, release, reaping.
 *
 * Owns: the backend (its configured devices, its features, its alive
 * contexts); contexts from ctx_new to their destruction, which a bound
 * device postpones past ctx_free; the device-op datagrams holders of device
 * fds send, and the release of a device whose fd is closed everywhere, both
 * caught up with by sim_reap().
 * Must never: block (a reap polls with timeout 0), keep or close a file
 * descriptor it did not make, or know about sessions.
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
 * device_list, device_bind, device_probe, ctx_new and ctx_free and in
 * backend_sim_stats(), never on the hot map and unmap paths.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/backend-sim.h"
#include "backend/sim-attach.h"
#include "backend/sim-ctx.h"
#include "backend/sim-fail-nth.h"
#include "backend/sim-object.h"

#define SIM_FEATURES                                                                            \
        (BACKEND_FEATURE_MAP_FILE | BACKEND_FEATURE_HWPT_ALLOC | BACKEND_FEATURE_DIRTY_TRACKING |  \
         BACKEND_FEATURE_HWPT_INVALIDATE | BACKEND_FEATURE_FAULT_QUEUE | BACKEND_FEATURE_VIOMMU |  \
         BACKEND_FEATURE_CHANGE_PROCESS)

/*
 * At most this many device-op datagrams are served per device per reap, so a
 * holder that keeps writing cannot keep a reap going; the rest wait for the
 * next one.
 */
#define SIM_DEVICE_OPS_PER_REAP 256

static void sim_ctx_link(SimBackend *s, SimCtx *c) {
        c->prev = NULL;
        c->next = s->contexts;
        if (s->contexts)
                s->contexts->prev = c;
        s->contexts = c;
        s->n_ctx++;
}

static void sim_ctx_unlink(SimBackend *s, SimCtx *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                s->contexts = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        assert(s->n_ctx > 0);
        s->n_ctx--;
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
        free(c->objects);
        sim_ctx_unlink(sim_backend(c->ctx.backend), c);
        free(c);
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

/**
 * sim_reap() - catch up with what holders of device fds did since the last reap.
 * @s: the backend
 *
 * One poll() with timeout 0 over the watch fds of every bound device: the
 * device-op datagrams each holder wrote are served, then a device whose fd is
 * closed everywhere is released (and a closed context that was held only by
 * it destroyed).  Run at the start of device_list, device_bind,
 * device_probe, ctx_new, ctx_free and backend_sim_stats(): the kernel does
 * all this at the moment the holder acts, the sim when it next looks.
 */
void sim_reap(SimBackend *s) {
        bool any = false;

        for (size_t i = 0; i < s->n_slots; i++) {
                SimDevice *d = s->slots[i].device;

                /* poll() skips a negative fd and reports nothing for it. */
                s->pollfds[i] = (struct pollfd) { .fd = d ? d->watch_fd : -1, .events = POLLIN };
                any = any || d;
        }
        if (!any)
                return;
        /* With timeout 0 it does not block; a failure (EINTR, ENOMEM) leaves the work for the next reap. */
        if (poll(s->pollfds, s->n_slots, 0) <= 0)
                return;
        /*
         * Serving or releasing one device changes no other device's binding,
         * and a context is destroyed only with its last device, so the
         * other slots stay valid.
         */
        for (size_t i = 0; i < s->n_slots; i++) {
                SimDevice *d = s->slots[i].device;

                if (!d || s->pollfds[i].revents == 0)
                        continue;
                if (sim_device_serve(d, s->pollfds[i].revents))
                        sim_device_release(d);
        }
}

/* --- ops ------------------------------------------------------------------------------------- */

void sim_close(Backend *b) {
        SimBackend *s = sim_backend(b);

        if (!s)
                return;
        /*
         * Contexts point into slots[]: every one must have been closed first.
         * Those a device fd held elsewhere still keeps alive go now, as the
         * process that owns the whole IOMMU side goes away.
         */
        while (s->contexts) {
                assert(s->contexts->closed);
                sim_ctx_destroy(s->contexts);
        }
        assert(s->n_ctx == 0);
        sim_fail_nth_close(s);
        free(s->pollfds);
        free(s->slots);
        free(s);
}

/*
 * Copies the configured devices; a name that is empty, not NUL-terminated
 * or given twice is EINVAL.
 */
static int sim_load_devices(SimBackend *s, const BackendDeviceInfo *devices, size_t n) {
        if (n == 0)
                return 0;
        assert(devices);

        s->slots = calloc(n, sizeof(*s->slots));
        if (!s->slots)
                return -ENOMEM;
        s->pollfds = calloc(n, sizeof(*s->pollfds));
        if (!s->pollfds)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *name = devices[i].name;

                if (!name[0] || !memchr(name, 0, sizeof(devices[i].name)))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(s->slots[j].info.name, name) == 0)
                                return -EINVAL;
                s->slots[i].info = devices[i];
        }
        s->n_slots = n;
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Backend *, sim_close);

int sim_open(const BackendConfig *config, Backend **ret) {
        _cleanup_(sim_closep) Backend *b = NULL;
        SimBackend *s;
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
        if (config) {
                r = sim_load_devices(s, config->sim_devices, config->n_sim_devices);
                if (r < 0)
                        return r;
        }

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
        assert(!c->closed);

        sim_reap(sim_backend(c->ctx.backend));
        /*
         * Closing the iommufd fd drops the caller's reference on the file;
         * each bound device holds another (device.c iommufd_device_bind:
         * iommufd_ctx_get), so main.c iommufd_fops_release, which destroys
         * every object, runs only once the last device is unbound, which VFIO
         * does when the last copy of its fd is closed.  Until then the
         * context keeps every object and mapping, and no op reaches it but
         * through a device fd (sim_reap).
         */
        c->closed = true;
        if (!sim_ctx_has_devices(c))
                sim_ctx_destroy(c);
}

int sim_ctx_new(Backend *b, BackendCtx **ret) {
        SimBackend *s = sim_backend(b);
        SimCtx *c;
        int r;

        assert(s && ret);

        r = sim_fault();
        if (r < 0)
                return r;

        sim_reap(s);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ctx.backend = b;
        sim_ctx_link(s, c);
        *ret = &c->ctx;
        return 0;
}

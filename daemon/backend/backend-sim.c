/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend-sim.c - the simulated IOMMU backend: an in-process model of iommufd.
 *
 * Owns: per-context object tables; IOAS objects (their allowed IOVA list and
 * their sorted set of mapped areas), the IOVA allocator and the reserved
 * ranges; HWPT objects (paging and nested) and their users; bound devices,
 * what each has attached, and the backend-wide record of which context has
 * which configured device; the device fds it hands out and the release
 * rule by which a bound device keeps a closed context alive;
 * IOMMU_GET_HW_INFO; and the test hooks of backend-sim.h (fail-nth, dirty
 * pages, device-op datagrams, stats).  The model is of Linux 7.3 iommufd and
 * VFIO cdev on a guest with one emulated Intel VT-d unit in scalable mode.
 * Every errno, and the order in which the checks run, is the kernel's; each
 * rule cites the kernel function that has it (drivers/iommu/iommufd/ unless
 * said otherwise), checked against the 7.3.4 sources the VM harness builds.
 * Memory is never pinned, not even for an IOAS with a domain: the kernel
 * would fault in the pages and fail a bad address with EFAULT, the sim
 * accepts any address.
 * Must never: open /dev/iommu, touch the memory behind a mapping, keep or
 * close a file descriptor it is given (it keeps only the ends it made), log,
 * or know about sessions.
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
 * bottom, O(n), as the kernel's iopt_alloc_iova does.  An area remembers the
 * address its first byte came from (the user VA for map_user, the file
 * offset for map_file) because the kernel derives the alignment of an
 * automatic IOVA, also for a copy, from that address.
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
 * backend_sim_stats(), never on the hot map and unmap paths.  A device
 * attaches its RID or a PASID to an IOAS (through an automatic paging HWPT,
 * as iommufd_device_auto_get_domain does) or to a HWPT; the model keeps two
 * layers as the kernel does: VFIO's (vfio_device->iommufd_attached and the
 * pasids ida, in struct SimDevice) above iommufd's (one HWPT per device and
 * kernel PASID, where PASID 0 is IOMMU_NO_PASID, the RID).  Devices that
 * share an iommu_group share their attachments, as an iommufd_group does.
 *
 * Every sim device sits behind the same VT-d unit, whose registers differ
 * per device only in the bits that BackendDeviceInfo configures (snoop
 * control, nesting, dirty tracking); the unit has no first-stage tables
 * (ecap FLTS is 0, as on QEMU's default vIOMMU), so every domain is a
 * second-stage one with an aperture of [0, 2^48 - 1] and 4 KiB pages, and a
 * domain is compatible with a device unless it needs a feature the device's
 * registers lack (intel/iommu.c paging_domain_compatible_second_stage).
 * So every device reserves the same IOAPIC/MSI window and every paging HWPT
 * the same range above its aperture: an IOAS's reserved ranges are decided
 * by two counts, the devices whose RID is attached through it and the paging
 * HWPTs on it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* O_PATH, reallocarray() */
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/iommufd.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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

/*
 * The VT-d unit every sim device sits behind.  The PCI PASID capability
 * allows at most 20 bits, and the unit's ecap PSS says 20 (intel/dmar.c:
 * max_pasids = 2 << PSS), so a device's max_pasids is 1 << min(width, 20)
 * (iommu.c dev_iommu_get_max_pasids).
 */
#define SIM_PASID_BITS_MAX 20
/*
 * The range above the 48-bit aperture of a second-stage domain that
 * iopt_table_add_domain reserves for it (generic_pt iommu_pt.h
 * pt_iommu_init_domain: aperture_end is the top of the table's VA range).
 */
#define SIM_APERTURE_LAST BACKEND_SIM_APERTURE_LAST
/* The pgsize_bitmap of a second-stage domain starts at 4 KiB: the IOVA alignment with a domain. */
#define SIM_DOMAIN_ALIGNMENT SIM_PAGE_SIZE

#define SIM_HWPT_PAGING_FLAGS                                                                  \
        (BACKEND_HWPT_NEST_PARENT | BACKEND_HWPT_DIRTY_TRACKING | BACKEND_HWPT_FAULT_ID_VALID | \
         BACKEND_HWPT_PASID)

int backend_sim_fail_nth;
/* The counter of $IB_SIM_FAIL_NTH_FILE while a backend has it mapped (see backend-sim.h). */
static int32_t *sim_fail_nth_shared;

typedef enum SimObjectType {
        SIM_OBJECT_IOAS,
        SIM_OBJECT_HWPT_PAGING,
        SIM_OBJECT_HWPT_NESTED,
        SIM_OBJECT_DEVICE,
        SIM_OBJECT_FAULT,
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
        /*
         * Paging HWPTs whose domain is in this IOAS's table (iopt->domains):
         * each holds a user of the IOAS, reserves the range above its
         * aperture and raises the IOVA alignment to 4 KiB.
         */
        uint32_t n_domains;
        /* Those of them that are nesting parents: they refuse read-only mappings. */
        uint32_t n_nest_parents;
        /* Devices whose RID is attached through this IOAS: each reserves the MSI window. */
        uint32_t n_msi_owners;
} SimIoas;

typedef struct SimHwpt {
        SimObject object;               /* SIM_OBJECT_HWPT_PAGING or SIM_OBJECT_HWPT_NESTED */
        struct SimHwpt *parent;         /* nested: its nesting parent */
        SimIoas *ioas;                  /* paging: its IOAS */
        uint64_t seq;                   /* creation order, for the IOAS's hwpt_list walk */
        uint32_t users;                 /* attachments and nested children: obj.users above the base */
        bool in_iopt;                   /* paging: its domain is counted in ioas->n_domains */
        bool auto_domain;               /* made by an attach to an IOAS; dies with its last user */
        bool pasid_compat;              /* IOMMU_HWPT_ALLOC_PASID */
        bool nest_parent;               /* IOMMU_HWPT_ALLOC_NEST_PARENT */
        bool dirty_tracking;            /* IOMMU_HWPT_ALLOC_DIRTY_TRACKING: domain->dirty_ops */
        bool force_coherence;           /* made for a snoop-control device: PT_FEAT_VTDSS_FORCE_COHERENCE */
        uint32_t s1_addr_width;         /* nested: struct iommu_hwpt_vtd_s1 addr_width */
        uint64_t s1_flags;              /* nested: struct iommu_hwpt_vtd_s1 flags */
        struct SimFault *fault;         /* IOMMU_HWPT_FAULT_ID_VALID: holds a user of it */
        bool dirty_enabled;             /* paging: IOMMU_HWPT_SET_DIRTY_TRACKING enabled it (dmar_domain->dirty_tracking) */
        /*
         * paging: the IOVAs of the 4 KiB pages whose PTE has its dirty bit set,
         * unordered and distinct; only backend_sim_mark_dirty() (a DMA write)
         * sets one, so without it nothing is ever dirty.
         */
        uint64_t *dirty;
        size_t n_dirty;
        size_t size_dirty;
} SimHwpt;

/*
 * A FAULT object (eventq.c iommufd_fault_alloc).  Its fd, handed to the
 * caller, is the read end of a pipe whose write end the object keeps: it is
 * never readable, as a fault queue of a device that never faults (the sim
 * has no PRI) never is.
 */
typedef struct SimFault {
        SimObject object;
        uint32_t users;                 /* HWPTs delivering to it */
        int write_fd;
} SimFault;

/* One iommufd attachment of a device: iommufd_group->pasid_attach[pasid] holds the device. */
typedef struct SimAttach {
        uint32_t pasid;                 /* the kernel's number: 0 is IOMMU_NO_PASID, the RID */
        SimHwpt *hwpt;
} SimAttach;

typedef struct SimSlot SimSlot;
typedef struct SimCtx SimCtx;

typedef struct SimDevice {
        SimObject object;
        SimSlot *slot;                  /* the configured device */
        bool rid_attached;              /* vfio_device->iommufd_attached */
        bool pasid0;                    /* vfio_device->pasids holds PASID 0 (an alias of the RID) */
        SimAttach *attaches;            /* unordered; one per kernel PASID */
        size_t n_attaches;
        size_t size_attaches;
        int watch_fd;                   /* the sim's end of the device fd's socketpair */
} SimDevice;

/* A configured device and who has it. */
struct SimSlot {
        BackendDeviceInfo info;
        SimCtx *ctx;                    /* the context it is bound in, NULL if free */
        SimDevice *device;
};

typedef struct SimBackend {
        Backend backend;
        bool no_map_file;
        SimSlot *slots;
        size_t n_slots;
        struct pollfd *pollfds;         /* n_slots of them, for sim_reap */
        SimCtx *contexts;               /* alive contexts, open or closed and held */
        size_t n_ctx;                   /* how many: they point into slots[] */
        int32_t *fail_nth_shared;       /* $IB_SIM_FAIL_NTH_FILE mapped, or NULL */
} SimBackend;

struct SimCtx {
        BackendCtx ctx;
        SimCtx *prev, *next;            /* in SimBackend.contexts */
        bool closed;                    /* ctx_free ran: kept only for its bound devices */
        SimObject **objects;            /* objects[i] has id i + 1, NULL if free */
        size_t n_objects;               /* slots up to the highest id in use */
        size_t size_objects;
        size_t first_free;              /* no free slot below this index */
        uint64_t hwpt_seq;              /* the last SimHwpt.seq handed out */
};

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
 * Counts down backend_sim_fail_nth and, while mapped, the counter of
 * $IB_SIM_FAIL_NTH_FILE (backend-sim.h), each on its own.
 *
 * Return: -ENOMEM for the call that brings either counter to 0, else 0.
 */
static int sim_fault(void) {
        if (sim_fail_nth_shared) {
                /* Another process writes it, between our calls: one load, one store. */
                int32_t n = __atomic_load_n(sim_fail_nth_shared, __ATOMIC_RELAXED);

                if (n > 0) {
                        __atomic_store_n(sim_fail_nth_shared, n - 1, __ATOMIC_RELAXED);
                        if (n == 1)
                                return -ENOMEM;
                }
        }
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
        free(d->attaches);
        free(d);
}

/*
 * Frees o alone: the links between objects (users, domains, reservations)
 * are undone by whoever removes it from a live context; ctx_free needs none.
 */
static void sim_object_free(SimObject *o) {
        if (!o)
                return;
        switch (o->type) {
        case SIM_OBJECT_IOAS:
                /* ioas.c iommufd_ioas_destroy: the mappings go with the IOAS. */
                sim_ioas_free((SimIoas *) o);
                return;
        case SIM_OBJECT_HWPT_PAGING:
        case SIM_OBJECT_HWPT_NESTED:
                free(((SimHwpt *) o)->dirty);
                free(o);
                return;
        case SIM_OBJECT_DEVICE:
                sim_device_free((SimDevice *) o);
                return;
        case SIM_OBJECT_FAULT:
                if (((SimFault *) o)->write_fd >= 0)
                        (void) close(((SimFault *) o)->write_fd);
                free(o);
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

/* Takes o out of the table of c (its id becomes free) and frees it. */
static void sim_object_remove(SimCtx *c, SimObject *o) {
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
static int sim_object_get(SimCtx *c, uint32_t id, SimObject **ret) {
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
static int sim_object_get_typed(SimCtx *c, uint32_t id, int type, SimObject **ret) {
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

static int sim_ioas_get(SimCtx *c, uint32_t id, SimIoas **ret) {
        return sim_object_get_typed(c, id, SIM_OBJECT_IOAS, (SimObject **) ret);
}

static int sim_device_get(SimCtx *c, uint32_t id, SimDevice **ret) {
        return sim_object_get_typed(c, id, SIM_OBJECT_DEVICE, (SimObject **) ret);
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

/* --- reserved ranges and domains ------------------------------------------------------------ */

/*
 * The reserved ranges of an IOAS (iopt->reserved_itree) merged, sorted:
 * the MSI window while a device's RID is attached through it, everything
 * above the aperture while it has a domain.  Fills ret[0..2), returns the count.
 */
static size_t sim_ioas_reserved(const SimIoas *ioas, IovaRange *ret) {
        size_t n = 0;

        if (ioas->n_msi_owners > 0)
                ret[n++] = (IovaRange) { .start = BACKEND_SIM_MSI_START, .last = BACKEND_SIM_MSI_LAST };
        if (ioas->n_domains > 0)
                ret[n++] = (IovaRange) { .start = SIM_APERTURE_LAST + 1, .last = UINT64_MAX };
        return n;
}

static bool sim_ioas_reserved_intersect(const SimIoas *ioas, uint64_t start, uint64_t last) {
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
static uint64_t sim_ioas_alignment(const SimIoas *ioas) {
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
static int sim_ioas_reserve_msi(SimIoas *ioas, uint32_t n) {
        int r;

        r = sim_ioas_check_reserve(ioas, BACKEND_SIM_MSI_START, BACKEND_SIM_MSI_LAST);
        if (r < 0)
                return r;
        ioas->n_msi_owners += n;
        return 0;
}

/* io_pagetable.c iopt_remove_reserved_iova: the devices' reservations go. */
static void sim_ioas_unreserve_msi(SimIoas *ioas, uint32_t n) {
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
static int sim_ioas_add_domain(SimIoas *ioas, bool nest_parent) {
        const uint64_t mask = SIM_DOMAIN_ALIGNMENT - 1;
        int r;

        if (ioas->n_domains == 0) {
                for (size_t i = 0; i < ioas->n_areas; i++) {
                        const SimArea *a = ioas->areas + i;

                        if ((a->iova & mask) || ((a->last - a->iova + 1) & mask) || (a->addr & mask))
                                return -EADDRINUSE;
                }
                /* Once one domain has reserved it, nothing can be above the aperture. */
                r = sim_ioas_check_reserve(ioas, SIM_APERTURE_LAST + 1, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        if (nest_parent)
                for (size_t i = 0; i < ioas->n_areas; i++)
                        if (!(ioas->areas[i].prot & BACKEND_MAP_WRITEABLE))
                                return -EINVAL;
        ioas->n_domains++;
        if (nest_parent)
                ioas->n_nest_parents++;
        return 0;
}

/* io_pagetable.c iopt_table_remove_domain: its reservation goes; the last lowers the alignment to 1. */
static void sim_ioas_remove_domain(SimIoas *ioas, bool nest_parent) {
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
        size_t i;

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
static int sim_map_pieces(SimIoas *ioas, const SimPiece *pieces, size_t n, uint64_t length,
                          uint32_t flags, uint64_t *iova) {
        _cleanup_free_ SimArea *areas = NULL;
        const uint64_t mask = sim_ioas_alignment(ioas) - 1;
        uint64_t start, last, off = 0;
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

        areas = calloc(n, sizeof(*areas));
        if (!areas)
                return -ENOMEM;
        for (size_t i = 0; i < n; off += pieces[i].length, i++) {
                /* io_pagetable.c iopt_insert_area: WRITEABLE over memory taken read-only is EPERM. */
                if ((flags & BACKEND_MAP_WRITEABLE) && !pieces[i].pages_writable)
                        return -EPERM;
                /* iopt_insert_area: a page offset of the memory that is not aligned is EINVAL. */
                if ((pieces[i].addr % SIM_PAGE_SIZE) & mask)
                        return -EINVAL;
                areas[i] = (SimArea) {
                        .iova = start + off,
                        .last = start + off + pieces[i].length - 1,
                        .addr = pieces[i].addr,
                        .source = pieces[i].source,
                        .prot = (uint8_t) (flags & SIM_MAP_PROT),
                        .pages_writable = pieces[i].pages_writable,
                };
        }
        /*
         * io_pagetable.c iopt_map_pages then maps the new areas into every
         * domain (iopt_fill_domains_pages), and a nesting parent refuses a
         * read-only one (generic_pt/fmt/vtdss.h vtdss_pt_iommu_set_prot,
         * ERRATA_772415_SPR17): EINVAL.
         */
        if (ioas->n_nest_parents > 0 && !(flags & BACKEND_MAP_WRITEABLE))
                return -EINVAL;
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

/* --- the VT-d unit ---------------------------------------------------------------------------- */

/* ecap and cap bits the model reads (intel/iommu.h ecap_*, cap_*). */
#define SIM_ECAP_SC (UINT64_C(1) << 7)          /* snoop control: IOMMU_CAP_ENFORCE_CACHE_COHERENCY */
#define SIM_ECAP_NEST (UINT64_C(1) << 26)       /* nested translation: nested_supported() */
#define SIM_ECAP_SLADS (UINT64_C(1) << 45)      /* second-stage A/D bits: ssads_supported() */

/**
 * sim_vtd_regs() - the VT-d capability registers a device's unit shows.
 * @info: the device
 * @ret_cap: the Capability Register
 * @ret_ecap: the Extended Capability Register
 *
 * Made up, after QEMU's intel-iommu in scalable mode with 48-bit addresses:
 * second-stage tables only (FLTS 0, so no FL1GP or FL5LP either), 20-bit
 * PASIDs, no device TLB (DT 0: ATS cannot be used), no supervisor requests
 * (SRS 0) and no extended access flags (EAFS 0).  SC, NEST and SLADS follow
 * the device's snoop_control, nesting and dirty_tracking.  The kernel derives
 * from them: nested_supported = SMTS && NEST, ssads_supported = SMTS && SLADS
 * && SMPWC, pasid_supported = SMTS && PASID, max_pasids = 2 << PSS.
 */
static void sim_vtd_regs(const BackendDeviceInfo *info, uint64_t *ret_cap, uint64_t *ret_ecap) {
        uint64_t cap = 0, ecap = 0;

        cap |= UINT64_C(6);                     /* ND: 64Ki domain ids */
        cap |= UINT64_C(0x6) << 8;              /* SAGAW: 3- and 4-level tables */
        cap |= UINT64_C(47) << 16;              /* MGAW: 48 bits */
        cap |= UINT64_C(0x22) << 24;            /* FRO: fault recording registers at 0x220 */
        cap |= UINT64_C(0x3) << 34;             /* SSLPS: 2 MiB and 1 GiB second-stage pages */
        cap |= UINT64_C(1) << 39;               /* PSI: page-selective invalidation */
        cap |= UINT64_C(18) << 48;              /* MAMV */

        ecap |= UINT64_C(1) << 0;               /* C: coherent page walks */
        ecap |= UINT64_C(1) << 1;               /* QI: queued invalidation */
        ecap |= UINT64_C(1) << 3;               /* IR: interrupt remapping (MSIs are isolated) */
        ecap |= UINT64_C(1) << 4;               /* EIM */
        ecap |= UINT64_C(1) << 6;               /* PT: pass-through */
        if (info->snoop_control)
                ecap |= SIM_ECAP_SC;
        ecap |= UINT64_C(0x50) << 8;            /* IRO: IOTLB registers at 0x500 */
        ecap |= UINT64_C(0xf) << 20;            /* MHMV */
        if (info->nesting)
                ecap |= SIM_ECAP_NEST;
        ecap |= (uint64_t) (SIM_PASID_BITS_MAX - 1) << 35;     /* PSS: 20-bit PASIDs */
        ecap |= UINT64_C(1) << 40;              /* PASID */
        ecap |= UINT64_C(1) << 43;              /* SMTS: scalable mode */
        if (info->dirty_tracking)
                ecap |= SIM_ECAP_SLADS;
        ecap |= UINT64_C(1) << 46;              /* SLTS: second-stage tables */
        ecap |= UINT64_C(1) << 48;              /* SMPWC: scalable-mode coherent page walks */

        *ret_cap = cap;
        *ret_ecap = ecap;
}

/*
 * dev->iommu->max_pasids: min(pci_max_pasids, the unit's 2 << PSS) (iommu.c
 * dev_iommu_get_max_pasids); 0 for a device without PASIDs.
 */
static uint32_t sim_max_pasids(const BackendDeviceInfo *info) {
        unsigned width = info->pasid_width < SIM_PASID_BITS_MAX ? info->pasid_width : SIM_PASID_BITS_MAX;

        return width > 0 ? UINT32_C(1) << width : 0;
}

/* Whether two configured devices are in one iommu_group (an unknown group, -1, is a device's own). */
static bool sim_same_group(const SimSlot *a, const SimSlot *b) {
        return a == b || (a->info.iommu_group >= 0 && a->info.iommu_group == b->info.iommu_group);
}

/* --- HWPTs ----------------------------------------------------------------------------------- */

/* iommufd_private.h find_hwpt_paging: a nested HWPT's paging HWPT is its parent. */
static SimHwpt *sim_hwpt_paging(SimHwpt *h) {
        return h->parent ? h->parent : h;
}

/* A HWPT object with the lowest free id, linked to nothing yet. */
static int sim_hwpt_new(SimCtx *c, SimObjectType type, SimHwpt **ret) {
        SimHwpt *h;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->object.type = type;
        r = sim_object_add(c, &h->object);
        if (r < 0) {
                free(h);
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
static int sim_hwpt_paging_new(SimCtx *c, SimIoas *ioas, const BackendDeviceInfo *info, uint32_t flags,
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
static void sim_hwpt_destroy(SimCtx *c, SimHwpt *h) {
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
static void sim_hwpt_put(SimCtx *c, SimHwpt *h) {
        assert(h->users > 0);

        h->users--;
        if (h->auto_domain && h->users == 0)
                sim_hwpt_destroy(c, h);
}

/* --- attachments ----------------------------------------------------------------------------- */

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
        attaches = reallocarray(d->attaches, size, sizeof(*attaches));
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
static void sim_device_unbind_all(SimCtx *c, SimDevice *d) {
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
static int sim_vfio_attach_pt(SimCtx *c, SimDevice *d, uint32_t pasid, uint32_t pt_id, uint32_t *ret_hwpt) {
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
static void sim_vfio_detach_pt(SimCtx *c, SimDevice *d, uint32_t pasid) {
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

/* --- device fds, release and closed contexts ------------------------------------------------ */

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
static void sim_reap(SimBackend *s) {
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

static void sim_close(Backend *b) {
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
        if (s->fail_nth_shared) {
                if (sim_fail_nth_shared == s->fail_nth_shared)
                        sim_fail_nth_shared = NULL;
                (void) munmap(s->fail_nth_shared, sizeof(*s->fail_nth_shared));
        }
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

/* Maps the first 4 bytes of $IB_SIM_FAIL_NTH_FILE shared into s->fail_nth_shared (see backend-sim.h). */
static int sim_map_fail_nth_file(SimBackend *s, const char *path) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        void *p;

        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size < (off_t) sizeof(int32_t))
                return -EINVAL;
        p = mmap(NULL, sizeof(int32_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        s->fail_nth_shared = p;
        return 0;
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
        if (config) {
                r = sim_load_devices(s, config->sim_devices, config->n_sim_devices);
                if (r < 0)
                        return r;
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
        e = getenv(BACKEND_SIM_FAIL_NTH_FILE_ENV);
        if (e && *e) {
                r = sim_map_fail_nth_file(s, e);
                if (r < 0)
                        return r;
                sim_fail_nth_shared = s->fail_nth_shared;
        }

        *ret = TAKE_PTR(b);
        return 0;
}

static void sim_ctx_free(BackendCtx *ctx) {
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

static int sim_ctx_new(Backend *b, BackendCtx **ret) {
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
                /* Every HWPT allocated with it holds one (hw_pagetable.c iommufd_hwpt_alloc). */
                if (((SimFault *) o)->users > 0)
                        return -EBUSY;
                sim_object_remove(c, o);
                return 0;
        case _SIM_OBJECT_TYPE_MAX:
                break;
        }
        assert(!"unknown sim object type");
        return -EINVAL;
}

static int sim_iova_ranges(BackendCtx *ctx, uint32_t ioas_id, IovaRange *ranges, size_t *n_ranges,
                           uint64_t *ret_alignment) {
        SimCtx *c = sim_ctx(ctx);
        size_t capacity, n_resv, n = 0;
        IovaRange resv[2];
        SimIoas *ioas;
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
         * ranges over [0, ULONG_MAX] and iopt->iova_alignment; the allowed
         * list plays no part.  Without devices or HWPTs that is the one range
         * [0, U64_MAX] aligned 1; with a domain everything above the aperture
         * is reserved and the alignment is 4 KiB; an attached device cuts out
         * the MSI window.
         */
        capacity = *n_ranges;
        n_resv = sim_ioas_reserved(ioas, resv);
        for (size_t i = 0; i <= n_resv; i++) {
                uint64_t start = i == 0 ? 0 : resv[i - 1].last + 1;
                uint64_t last = i == n_resv ? UINT64_MAX : resv[i].start - 1;

                if (i > 0 && resv[i - 1].last == UINT64_MAX)
                        break;
                if (i < n_resv && resv[i].start == 0)
                        continue;
                if (n < capacity)
                        ranges[n] = (IovaRange) { .start = start, .last = last };
                n++;
        }
        *n_ranges = n;
        if (ret_alignment)
                *ret_alignment = sim_ioas_alignment(ioas);
        /* iommufd_ioas_iova_ranges: EMSGSIZE with the count needed if the array is short. */
        return capacity < n ? -EMSGSIZE : 0;
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
         * one clears it; a range that meets a reserved range is EADDRINUSE
         * and keeps the old list.  Existing mappings outside the new list are
         * not checked and stay.
         */
        for (size_t i = 0; i < n; i++)
                if (sim_ioas_reserved_intersect(ioas, allowed[i].start, allowed[i].last))
                        return -EADDRINUSE;
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

        /*
         * Without a domain nothing is pinned and any VA is accepted
         * (iopt_map_user_pages); with one the kernel pins the pages and fails
         * a bad VA with EFAULT, which the sim does not model.
         */
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
         * domain; with one, pinning would look at them, which the sim does
         * not model); only the length is, by iopt_alloc_pages.
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

/* --- device ops ------------------------------------------------------------------------------ */

static int sim_device_list(Backend *b, BackendDeviceInfo **ret, size_t *ret_n) {
        SimBackend *s = sim_backend(b);
        BackendDeviceInfo *list = NULL;
        int r;

        assert(s && ret && ret_n);

        r = sim_fault();
        if (r < 0)
                return r;

        sim_reap(s);
        /* The sim's devices are its configured ones, always all there. */
        if (s->n_slots > 0) {
                list = reallocarray(NULL, s->n_slots, sizeof(*list));
                if (!list)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n_slots; i++)
                        list[i] = s->slots[i].info;
        }
        *ret = list;
        *ret_n = s->n_slots;
        return 0;
}

/* The configured device named info->name (the rest of info is not looked at), or NULL. */
static SimSlot *sim_slot_find(SimBackend *s, const BackendDeviceInfo *info) {
        for (size_t i = 0; i < s->n_slots; i++)
                if (strncmp(s->slots[i].info.name, info->name, sizeof(info->name)) == 0)
                        return s->slots + i;
        return NULL;
}

static int sim_device_bind(BackendCtx *ctx, const BackendDeviceInfo *info, int *ret_fd,
                           uint32_t *ret_dev_id) {
        _cleanup_close_ int fd = -1, watch_fd = -1;
        SimCtx *c = sim_ctx(ctx);
        SimSlot *slot;
        SimBackend *s;
        SimDevice *d;
        int r, pair[2];

        assert(c && info && ret_fd && ret_dev_id);

        r = sim_fault();
        if (r < 0)
                return r;

        s = sim_backend(c->ctx.backend);
        sim_reap(s);

        /* A device is known by its name; the rest of info is taken from the configuration. */
        slot = sim_slot_find(s, info);
        /* vfio/device_cdev.c vfio_device_fops_cdev_open: a device that is not there is ENODEV. */
        if (!slot)
                return -ENODEV;

        /*
         * Opening the cdev gives the device fd.  Sim devices have no regions,
         * no config space and no interrupts: one end of a socketpair stands
         * for the fd, so that the sim sees when its last copy is closed and
         * can take the device ioctls of backend-sim.h through it.
         */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return negative_errno();
        fd = pair[0];
        watch_fd = pair[1];

        /*
         * vfio/vfio_main.c vfio_df_open: a device already open through
         * another cdev fd, that is bound in any context (this one too), is
         * EINVAL ("the device cdev path doesn't have a secure way for it").
         */
        if (slot->ctx)
                return -EINVAL;

        /* device.c iommufd_device_bind: the DEVICE object takes the lowest free id. */
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->object.type = SIM_OBJECT_DEVICE;
        d->watch_fd = -1;
        r = sim_object_add(c, &d->object);
        if (r < 0) {
                sim_device_free(d);
                return r;
        }

        /*
         * device.c iommufd_bind_iommu -> iommu.c iommu_device_claim_dma_owner:
         * a group owned by another context is EPERM.
         */
        for (size_t i = 0; i < s->n_slots; i++)
                if (s->slots[i].ctx && s->slots[i].ctx != c && sim_same_group(s->slots + i, slot)) {
                        sim_object_remove(c, &d->object);
                        return -EPERM;
                }

        d->slot = slot;
        d->watch_fd = TAKE_FD(watch_fd);
        slot->ctx = c;
        slot->device = d;
        *ret_fd = TAKE_FD(fd);
        *ret_dev_id = d->object.id;
        return 0;
}

static int sim_device_unbind(BackendCtx *ctx, int dev_fd, uint32_t dev_id) {
        SimCtx *c = sim_ctx(ctx);
        SimDevice *d;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        /* The device is named by dev_id; dev_fd is the caller's to close. */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        /*
         * VFIO has no unbind ioctl: the device stays bound until the last
         * copy of its fd is closed (vfio/device_cdev.c vfio_df_unbind_iommufd
         * from vfio_device_fops_release), which the next reap sees, also
         * when that copy is one the caller handed on.
         */
        return 0;
}

static int sim_device_probe(Backend *b, const BackendDeviceInfo *info) {
        SimBackend *s = sim_backend(b);
        SimSlot *slot;
        int r;

        assert(s && info);

        r = sim_fault();
        if (r < 0)
                return r;

        sim_reap(s);
        slot = sim_slot_find(s, info);
        /* vfio/device_cdev.c vfio_device_fops_cdev_open: a device that is not there is ENODEV. */
        if (!slot)
                return -ENODEV;
        /*
         * vfio/vfio_main.c vfio_df_open: one bound open file per device; a
         * file bound in any context, open or closed, is in the way.
         */
        if (slot->ctx)
                return -EBUSY;
        return 0;
}

static int sim_device_attach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid, uint32_t pt_id,
                             uint32_t *ret_hwpt) {
        SimCtx *c = sim_ctx(ctx);
        SimDevice *d;
        int r;

        assert(c && ret_hwpt);

        r = sim_fault();
        if (r < 0)
                return r;

        /* The kernel's ioctl is on the device fd; here the device is named by dev_id: ENOENT if unknown. */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        return sim_vfio_attach_pt(c, d, pasid, pt_id, ret_hwpt);
}

static int sim_device_detach(BackendCtx *ctx, int dev_fd, uint32_t dev_id, uint32_t pasid) {
        SimCtx *c = sim_ctx(ctx);
        SimDevice *d;
        int r;

        assert(c);

        r = sim_fault();
        if (r < 0)
                return r;

        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        sim_vfio_detach_pt(c, d, pasid);
        return 0;
}

static int sim_hw_info(BackendCtx *ctx, uint32_t dev_id, BackendHwInfo *ret) {
        struct iommu_hw_info_vtd vtd = {
                /* intel/iommu.c intel_iommu_hw_info sets it on every unit. */
                .flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
        };
        SimCtx *c = sim_ctx(ctx);
        const BackendDeviceInfo *info;
        uint32_t max_pasids;
        uint64_t cap, ecap;
        SimDevice *d;
        int r;

        assert(c && ret);

        r = sim_fault();
        if (r < 0)
                return r;

        /* device.c iommufd_get_hw_info: an unknown device is ENOENT (iommufd_get_device). */
        r = sim_device_get(c, dev_id, &d);
        if (r < 0)
                return r;
        info = &d->slot->info;

        sim_vtd_regs(info, &cap, &ecap);
        vtd.cap_reg = cap;
        vtd.ecap_reg = ecap;
        *ret = (BackendHwInfo) {
                .type = IOMMU_HW_INFO_TYPE_INTEL_VTD,
                .data_len = sizeof(vtd),
        };
        memcpy(ret->data, &vtd, sizeof(vtd));

        /*
         * iommufd_get_hw_info: DIRTY_TRACKING from IOMMU_CAP_DIRTY_TRACKING
         * (ssads_supported); PCI_ATS_NOT_SUPPORTED unless
         * IOMMU_CAP_PCI_ATS_SUPPORTED, which the unit lacks (ecap DT is 0);
         * max_pasid_log2 = ilog2(max_pasids), and PASID_EXEC / PASID_PRIV
         * from the device's PASID control, which enables neither.
         */
        if (info->dirty_tracking)
                ret->capabilities |= BACKEND_HW_CAP_DIRTY_TRACKING;
        ret->capabilities |= BACKEND_HW_CAP_PCI_ATS_NOT_SUPPORTED;
        max_pasids = sim_max_pasids(info);
        ret->max_pasid_log2 = max_pasids ? (uint8_t) __builtin_ctz(max_pasids) : 0;
        return 0;
}

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

static int sim_hwpt_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
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
        size_t i = sim_areas_lower(ioas, iova);

        return i < ioas->n_areas && ioas->areas[i].iova <= iova && (ioas->areas[i].prot & BACKEND_MAP_WRITEABLE);
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

static int sim_hwpt_set_dirty_tracking(BackendCtx *ctx, uint32_t hwpt, bool enable) {
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

static int sim_hwpt_get_dirty_bitmap(BackendCtx *ctx, uint32_t hwpt, uint64_t iova, uint64_t length,
                                     uint64_t page_size, uint32_t flags, void *bitmap) {
        SimCtx *c = sim_ctx(ctx);
        uint64_t last, align, end;
        SimHwpt *h;
        size_t a;
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
        for (a = sim_areas_lower(h->ioas, iova); a < h->ioas->n_areas; a++) {
                const SimArea *area = &h->ioas->areas[a];

                if (area->iova > end)
                        break;
                end = area->last + 1;
                if (area->last >= last) {
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
                        uint64_t *d = reallocarray(h->dirty, size, sizeof(*d));

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

static int sim_hwpt_invalidate(BackendCtx *ctx, uint32_t pt_id, uint32_t data_type, const void *entries,
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

static int sim_fault_alloc(BackendCtx *ctx, uint32_t *ret_id, int *ret_fd) {
        SimCtx *c = sim_ctx(ctx);
        SimFault *f;
        int fds[2], r;

        assert(c && ret_id && ret_fd);

        r = sim_fault();
        if (r < 0)
                return r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->object.type = SIM_OBJECT_FAULT;
        f->write_fd = -1;
        if (pipe2(fds, O_CLOEXEC) < 0) {
                r = -errno;
                free(f);
                return r;
        }
        r = sim_object_add(c, &f->object);
        if (r < 0) {
                (void) close(fds[0]);
                (void) close(fds[1]);
                free(f);
                return r;
        }
        f->write_fd = fds[1];
        *ret_id = f->object.id;
        *ret_fd = fds[0];
        return 0;
}

static int sim_viommu_alloc(BackendCtx *ctx, uint32_t dev_id, uint32_t hwpt, uint32_t type, uint32_t *ret_id) {
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

static int sim_vdevice_alloc(BackendCtx *ctx, uint32_t viommu, uint32_t dev_id, uint64_t virt_id,
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

/* --- stats ------------------------------------------------------------------------------------ */

void backend_sim_stats(Backend *b, BackendSimStats *ret) {
        SimBackend *s = sim_backend(b);
        BackendSimStats st = {};

        assert(s && ret);

        sim_reap(s);
        for (SimCtx *c = s->contexts; c; c = c->next) {
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

                                st.ioases++;
                                st.areas += ioas->n_areas;
                                for (size_t j = 0; j < ioas->n_areas; j++)
                                        st.mapped_bytes += ioas->areas[j].last - ioas->areas[j].iova + 1;
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

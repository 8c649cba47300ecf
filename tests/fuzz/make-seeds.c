/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * make-seeds.c - writes the seed corpus of fuzz-dispatch, fuzz-tool-request and fuzz-pb-fast.
 *
 * Owns: the seeds, one per flow of the protocol tests: a valid session
 * walking every verb family (IOAS, Map with a memfd, Unmap, Copy, Batch,
 * devices, HWPTs, nesting, dirty tracking, fault queues, vIOMMUs, PASIDs),
 * the bad input of tests/integration/test-bad-input.c (garbage, oversize,
 * unknown verbs, wrong fds), the tenant limits, fault injection, and a
 * client that keeps its device fd; and the request lines of
 * tests/integration/test-client-tool*.sh; and the hot messages, one of each
 * shape common/pb-fast.c packs, for fuzz-pb-fast.  `make fuzz-seeds` runs it into
 * tests/fuzz/corpus/ (the policy seeds are copied from tests/unit/policy-data
 * by the make rule).  Output is deterministic: rerunning changes nothing.
 * Must never: write outside the directory it is given.
 *
 * Usage: make-seeds DIR   (writes DIR/fuzz-dispatch/, DIR/fuzz-tool-request/ and DIR/fuzz-pb-fast/)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/broker.pb-c.h"
#include "tests/fuzz/fuzz-dispatch.h"

#define SEED_MAX 16384

typedef struct Seed {
        uint8_t buf[SEED_MAX];
        size_t len;
        uint64_t next_id;
} Seed;

static const char *outdir;
/* 1: frames go to the second connection (FUZZ_MODE_TWO_SESSIONS) */
static unsigned seed_client;

static void seed_begin_with(Seed *s, uint8_t mode, uint8_t fail_nth, uint8_t options) {
        s->len = 0;
        s->next_id = 1;
        s->buf[s->len++] = mode;
        s->buf[s->len++] = fail_nth;
        s->buf[s->len++] = options;
}

static void seed_begin(Seed *s, uint8_t mode, uint8_t fail_nth) {
        seed_begin_with(s, mode, fail_nth, 0);
}

static void seed_frame(Seed *s, uint8_t flags, const void *payload, size_t len) {
        if (s->len + 3 + len > SEED_MAX || len >= FUZZ_LENGTH_CLIENT_B) {
                fprintf(stderr, "make-seeds: seed too large\n");
                exit(EXIT_FAILURE);
        }
        s->buf[s->len++] = flags;
        s->buf[s->len++] = (uint8_t) (len & 0xff);
        s->buf[s->len++] = (uint8_t) ((len | (seed_client ? FUZZ_LENGTH_CLIENT_B : 0)) >> 8);
        memcpy(s->buf + s->len, payload, len);
        s->len += len;
}

/* Packs req with the seed's next id into a frame with flags. */
static void seed_req(Seed *s, uint8_t flags, Ib__V1__Request *req) {
        uint8_t buf[8192];
        size_t n;

        req->id = s->next_id++;
        if (ib__v1__request__get_packed_size(req) > sizeof(buf)) {
                fprintf(stderr, "make-seeds: request too large\n");
                exit(EXIT_FAILURE);
        }
        n = ib__v1__request__pack(req, buf);
        seed_frame(s, flags, buf, n);
}

static void seed_write(const Seed *s, const char *harness, const char *name) {
        char path[4096];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/%s/%s", outdir, harness, name);
        f = fopen(path, "we");
        if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
                fprintf(stderr, "make-seeds: cannot write %s: %m\n", path);
                exit(EXIT_FAILURE);
        }
}

/* ---------------------------------------------------------------- requests */

#define REQ(field, VERB, value)                                                 \
        do {                                                                    \
                Ib__V1__Request _r = IB__V1__REQUEST__INIT;                     \
                _r.verb_case = IB__V1__REQUEST__VERB_##VERB;                    \
                _r.field = (value);                                             \
                seed_req(s, flags, &_r);                                        \
        } while (0)

static void hello(Seed *s, uint8_t flags, uint32_t version) {
        Ib__V1__HelloRequest m = IB__V1__HELLO_REQUEST__INIT;

        m.protocol_version = version;
        m.client_name = (char *) "seed";
        REQ(hello, HELLO, &m);
}

static void caps(Seed *s, uint8_t flags) {
        Ib__V1__CapsRequest m = IB__V1__CAPS_REQUEST__INIT;

        REQ(caps, CAPS, &m);
}

static void ioas_alloc(Seed *s, uint8_t flags, bool window32, uint64_t base, uint64_t max, bool snoop) {
        Ib__V1__IoasAllocRequest m = IB__V1__IOAS_ALLOC_REQUEST__INIT;

        if (window32) {
                m.has_window = true;
                m.window = IB__V1__IOVA_WINDOW__IOVA_WINDOW_32BIT;
        }
        m.has_base_iova = base != 0;
        m.base_iova = base;
        m.has_max_iova = max != 0;
        m.max_iova = max;
        m.has_enforce_snoop = snoop;
        m.enforce_snoop = snoop;
        REQ(ioas_alloc, IOAS_ALLOC, &m);
}

static void ioas_free(Seed *s, uint8_t flags, uint32_t ioas) {
        Ib__V1__IoasFreeRequest m = IB__V1__IOAS_FREE_REQUEST__INIT;

        m.ioas = ioas;
        REQ(ioas_free, IOAS_FREE, &m);
}

static void iova_ranges(Seed *s, uint8_t flags, uint32_t ioas) {
        Ib__V1__IovaRangesRequest m = IB__V1__IOVA_RANGES_REQUEST__INIT;

        m.ioas = ioas;
        REQ(iova_ranges, IOVA_RANGES, &m);
}

static void allow_iovas(Seed *s, uint8_t flags, uint32_t ioas, const uint64_t *pairs, size_t n) {
        Ib__V1__AllowIovasRequest m = IB__V1__ALLOW_IOVAS_REQUEST__INIT;
        Ib__V1__IovaRange r[8], *rp[8];

        for (size_t i = 0; i < n && i < 8; i++) {
                ib__v1__iova_range__init(&r[i]);
                r[i].start = pairs[2 * i];
                r[i].last = pairs[2 * i + 1];
                rp[i] = &r[i];
        }
        m.ioas = ioas;
        m.n_ranges = n;
        m.ranges = rp;
        REQ(allow_iovas, ALLOW_IOVAS, &m);
}

static void map_fill(Ib__V1__MapRequest *m, uint32_t ioas, uint32_t fd_index, uint64_t offset, uint64_t length,
                     bool fixed, uint64_t iova, bool writeable) {
        ib__v1__map_request__init(m);
        m->ioas = ioas;
        m->has_fd_index = fd_index != 0;
        m->fd_index = fd_index;
        m->has_offset = offset != 0;
        m->offset = offset;
        m->length = length;
        m->has_iova = fixed;
        m->iova = iova;
        if (!writeable) {
                m->has_writeable = true;
                m->writeable = false;
        }
}

static void map(Seed *s, uint8_t flags, uint32_t ioas, uint64_t offset, uint64_t length, bool fixed, uint64_t iova,
                bool writeable) {
        Ib__V1__MapRequest m;

        map_fill(&m, ioas, 0, offset, length, fixed, iova, writeable);
        REQ(map, MAP, &m);
}

static void unmap_fill(Ib__V1__UnmapRequest *m, uint32_t ioas, uint64_t iova, uint64_t length) {
        ib__v1__unmap_request__init(m);
        m->ioas = ioas;
        m->iova = iova;
        m->length = length;
}

static void unmap(Seed *s, uint8_t flags, uint32_t ioas, uint64_t iova, uint64_t length) {
        Ib__V1__UnmapRequest m;

        unmap_fill(&m, ioas, iova, length);
        REQ(unmap, UNMAP, &m);
}

static void copy(Seed *s, uint8_t flags, uint32_t dst, uint32_t src, uint64_t src_iova, uint64_t length,
                 bool fixed, uint64_t dst_iova) {
        Ib__V1__CopyRequest m = IB__V1__COPY_REQUEST__INIT;

        m.dst_ioas = dst;
        m.src_ioas = src;
        m.src_iova = src_iova;
        m.length = length;
        m.has_dst_iova = fixed;
        m.dst_iova = dst_iova;
        REQ(copy, COPY, &m);
}

/* A batch: n_maps maps of 64 KiB at iova, iova + 64 KiB, ... from fd i % n_fds, then n_unmaps unmaps of them. */
static void batch(Seed *s, uint8_t flags, uint32_t ioas, uint64_t iova, size_t n_maps, size_t n_fds, size_t n_unmaps,
                  bool stop_on_error) {
        Ib__V1__BatchRequest m = IB__V1__BATCH_REQUEST__INIT;
        Ib__V1__BatchOp ops[32], *opp[32];
        Ib__V1__MapRequest maps[16];
        Ib__V1__UnmapRequest unmaps[16];
        size_t n = 0;

        for (size_t i = 0; i < n_maps && i < 16; i++, n++) {
                map_fill(&maps[i], ioas, (uint32_t) (i % (n_fds ? n_fds : 1)), 0, 0x10000, true, iova + i * 0x10000,
                         true);
                ib__v1__batch_op__init(&ops[n]);
                ops[n].op_case = IB__V1__BATCH_OP__OP_MAP;
                ops[n].map = &maps[i];
                opp[n] = &ops[n];
        }
        for (size_t i = 0; i < n_unmaps && i < 16; i++, n++) {
                unmap_fill(&unmaps[i], ioas, iova + i * 0x10000, 0x10000);
                ib__v1__batch_op__init(&ops[n]);
                ops[n].op_case = IB__V1__BATCH_OP__OP_UNMAP;
                ops[n].unmap = &unmaps[i];
                opp[n] = &ops[n];
        }
        m.n_ops = n;
        m.ops = opp;
        m.has_stop_on_error = stop_on_error;
        m.stop_on_error = stop_on_error;
        REQ(batch, BATCH, &m);
}

static void mem_register(Seed *s, uint8_t flags) {
        Ib__V1__MemRegisterRequest m = IB__V1__MEM_REGISTER_REQUEST__INIT;

        REQ(mem_register, MEM_REGISTER, &m);
}

/* A packed batch (docs/protocol.md, "Packed batches"): n_words words as given. */
static void packed_batch(Seed *s, uint8_t flags, const uint64_t *words, size_t n_words, bool stop_on_error) {
        Ib__V1__BatchRequest m = IB__V1__BATCH_REQUEST__INIT;

        m.packed_ops = (uint64_t *) words;
        m.n_packed_ops = n_words;
        m.has_stop_on_error = stop_on_error;
        m.stop_on_error = stop_on_error;
        REQ(batch, BATCH, &m);
}

static void device_list(Seed *s, uint8_t flags) {
        Ib__V1__DeviceListRequest m = IB__V1__DEVICE_LIST_REQUEST__INIT;

        REQ(device_list, DEVICE_LIST, &m);
}

static void device_open(Seed *s, uint8_t flags, const char *name) {
        Ib__V1__DeviceOpenRequest m = IB__V1__DEVICE_OPEN_REQUEST__INIT;

        m.name = (char *) name;
        REQ(device_open, DEVICE_OPEN, &m);
}

static void device_attach(Seed *s, uint8_t flags, uint32_t dev, uint32_t pt) {
        Ib__V1__DeviceAttachRequest m = IB__V1__DEVICE_ATTACH_REQUEST__INIT;

        m.dev_id = dev;
        m.pt_id = pt;
        REQ(device_attach, DEVICE_ATTACH, &m);
}

static void device_detach(Seed *s, uint8_t flags, uint32_t dev) {
        Ib__V1__DeviceDetachRequest m = IB__V1__DEVICE_DETACH_REQUEST__INIT;

        m.dev_id = dev;
        REQ(device_detach, DEVICE_DETACH, &m);
}

static void device_close(Seed *s, uint8_t flags, uint32_t dev) {
        Ib__V1__DeviceCloseRequest m = IB__V1__DEVICE_CLOSE_REQUEST__INIT;

        m.dev_id = dev;
        REQ(device_close, DEVICE_CLOSE, &m);
}

static void hw_info(Seed *s, uint8_t flags, uint32_t dev) {
        Ib__V1__HwInfoRequest m = IB__V1__HW_INFO_REQUEST__INIT;

        m.dev_id = dev;
        REQ(hw_info, HW_INFO, &m);
}

enum {
        HWPT_NEST_PARENT = 1U << 0,
        HWPT_DIRTY = 1U << 1,
        HWPT_PASID = 1U << 2,
        HWPT_SNOOP = 1U << 3,
        HWPT_VTD_S1 = 1U << 4,
};

static void hwpt_alloc(Seed *s, uint8_t flags, uint32_t dev, uint32_t pt, unsigned what, uint32_t fault_id) {
        Ib__V1__HwptAllocRequest m = IB__V1__HWPT_ALLOC_REQUEST__INIT;
        /* struct iommu_hwpt_vtd_s1: flags, pgtbl_addr, addr_width, reserved */
        uint8_t s1[24] = {};
        uint64_t pgtbl = 0x1000;
        uint32_t width = 48;

        memcpy(s1 + 8, &pgtbl, sizeof(pgtbl));
        memcpy(s1 + 16, &width, sizeof(width));
        m.dev_id = dev;
        m.pt_id = pt;
        m.has_nest_parent = m.nest_parent = (what & HWPT_NEST_PARENT) != 0;
        m.has_dirty_tracking = m.dirty_tracking = (what & HWPT_DIRTY) != 0;
        m.has_pasid = m.pasid = (what & HWPT_PASID) != 0;
        m.has_enforce_snoop = m.enforce_snoop = (what & HWPT_SNOOP) != 0;
        if (what & HWPT_VTD_S1) {
                m.has_data_type = true;
                m.data_type = IB__V1__HWPT_DATA_TYPE__HWPT_DATA_VTD_S1;
                m.has_data = true;
                m.data.data = s1;
                m.data.len = sizeof(s1);
        }
        m.has_fault_id = fault_id != 0;
        m.fault_id = fault_id;
        REQ(hwpt_alloc, HWPT_ALLOC, &m);
}

static void hwpt_free(Seed *s, uint8_t flags, uint32_t hwpt) {
        Ib__V1__HwptFreeRequest m = IB__V1__HWPT_FREE_REQUEST__INIT;

        m.hwpt_id = hwpt;
        REQ(hwpt_free, HWPT_FREE, &m);
}

static void hwpt_dirty(Seed *s, uint8_t flags, uint32_t hwpt, bool enable) {
        Ib__V1__HwptSetDirtyTrackingRequest m = IB__V1__HWPT_SET_DIRTY_TRACKING_REQUEST__INIT;

        m.hwpt_id = hwpt;
        m.enable = enable;
        REQ(hwpt_set_dirty_tracking, HWPT_SET_DIRTY_TRACKING, &m);
}

static void hwpt_bitmap(Seed *s, uint8_t flags, uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t page_size,
                        bool no_clear) {
        Ib__V1__HwptGetDirtyBitmapRequest m = IB__V1__HWPT_GET_DIRTY_BITMAP_REQUEST__INIT;

        m.hwpt_id = hwpt;
        m.iova = iova;
        m.length = length;
        m.has_page_size = page_size != 0;
        m.page_size = page_size;
        m.has_no_clear = m.no_clear = no_clear;
        REQ(hwpt_get_dirty_bitmap, HWPT_GET_DIRTY_BITMAP, &m);
}

static void hwpt_invalidate(Seed *s, uint8_t flags, uint32_t pt, uint32_t entry_len, size_t n) {
        Ib__V1__HwptInvalidateRequest m = IB__V1__HWPT_INVALIDATE_REQUEST__INIT;
        /* struct iommu_hwpt_vtd_s1_invalidate: addr, npages, flags, reserved */
        uint8_t entries[4 * 24] = {};

        for (size_t i = 0; i < n && i < 4; i++) {
                uint64_t addr = 0x1000 * (i + 1), npages = 1;

                memcpy(entries + i * 24, &addr, 8);
                memcpy(entries + i * 24 + 8, &npages, 8);
        }
        m.pt_id = pt;
        m.data_type = IB__V1__HWPT_INVALIDATE_DATA_TYPE__HWPT_INVALIDATE_DATA_VTD_S1;
        m.entry_len = entry_len;
        m.has_entries = true;
        m.entries.data = entries;
        m.entries.len = (n < 4 ? n : 4) * 24;
        REQ(hwpt_invalidate, HWPT_INVALIDATE, &m);
}

static void fault_alloc(Seed *s, uint8_t flags) {
        Ib__V1__FaultQueueAllocRequest m = IB__V1__FAULT_QUEUE_ALLOC_REQUEST__INIT;

        REQ(fault_queue_alloc, FAULT_QUEUE_ALLOC, &m);
}

static void viommu_alloc(Seed *s, uint8_t flags, uint32_t dev, uint32_t hwpt, Ib__V1__ViommuType type) {
        Ib__V1__ViommuAllocRequest m = IB__V1__VIOMMU_ALLOC_REQUEST__INIT;

        m.dev_id = dev;
        m.hwpt_id = hwpt;
        m.type = type;
        REQ(viommu_alloc, VIOMMU_ALLOC, &m);
}

static void vdevice_alloc(Seed *s, uint8_t flags, uint32_t viommu, uint32_t dev, uint64_t virt) {
        Ib__V1__VdeviceAllocRequest m = IB__V1__VDEVICE_ALLOC_REQUEST__INIT;

        m.viommu_id = viommu;
        m.dev_id = dev;
        m.virt_id = virt;
        REQ(vdevice_alloc, VDEVICE_ALLOC, &m);
}

static void pasid_attach(Seed *s, uint8_t flags, uint32_t dev, uint32_t vpasid, uint32_t pt) {
        Ib__V1__PasidAttachRequest m = IB__V1__PASID_ATTACH_REQUEST__INIT;

        m.dev_id = dev;
        m.vpasid = vpasid;
        m.pt_id = pt;
        REQ(pasid_attach, PASID_ATTACH, &m);
}

static void pasid_detach(Seed *s, uint8_t flags, uint32_t dev, uint32_t vpasid) {
        Ib__V1__PasidDetachRequest m = IB__V1__PASID_DETACH_REQUEST__INIT;

        m.dev_id = dev;
        m.vpasid = vpasid;
        REQ(pasid_detach, PASID_DETACH, &m);
}

static void pasid_lookup(Seed *s, uint8_t flags, uint32_t dev, uint32_t vpasid) {
        Ib__V1__PasidLookupRequest m = IB__V1__PASID_LOOKUP_REQUEST__INIT;

        m.dev_id = dev;
        m.vpasid = vpasid;
        REQ(pasid_lookup, PASID_LOOKUP, &m);
}

/* A client's VFIO ioctl on its device fd (backend-sim.h BackendSimDeviceOp). */
static void device_op(Seed *s, uint32_t op, uint32_t pasid, uint32_t pt) {
        uint32_t m[3] = { op, pasid, pt };

        seed_frame(s, FUZZ_FRAME_DEVICE_OP, m, sizeof(m));
}

/* ---------------------------------------------------------------- the seeds */

#define MEMFD FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 0, FUZZ_VARIANT_MEMFD_2M)
#define MEMFD_4K FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 0, FUZZ_VARIANT_MEMFD_4K)
#define NO_PASID 0xffffffffU
#define DEV_FULL "0000:00:02.0"         /* PASIDs, nesting, dirty tracking, snoop control */
#define DEV_PLAIN "0000:00:03.0"        /* translation only */

static void dispatch_seeds(void) {
        static Seed seed;
        Seed *s = &seed;
        char name[64];

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        seed_write(s, "fuzz-dispatch", "hello-only");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        hello(s, 0, 1);
        caps(s, 0);
        seed_write(s, "fuzz-dispatch", "hello-again-caps");

        seed_begin(s, FUZZ_MODE_NO_HELLO, 0);
        caps(s, 0);
        hello(s, 0, 2);
        hello(s, 0, 1);
        caps(s, 0);
        seed_write(s, "fuzz-dispatch", "before-hello");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        ioas_alloc(s, 0, true, 0, 0, false);
        ioas_alloc(s, 0, false, 0x100000, 0xffffffff, true);
        iova_ranges(s, 0, 1);
        iova_ranges(s, 0, 2);
        iova_ranges(s, 0, 3);
        ioas_free(s, 0, 2);
        ioas_free(s, 0, 2);
        ioas_free(s, 0, 99);
        seed_write(s, "fuzz-dispatch", "ioas-alloc-free");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        allow_iovas(s, 0, 1, (const uint64_t[]) { 0x100000, 0x1fffff, 0x1000000, 0x1ffffff }, 2);
        map(s, MEMFD, 1, 0, 0x10000, false, 0, true);
        map(s, MEMFD, 1, 0, 0x10000, true, 0x300000, true);
        allow_iovas(s, 0, 1, (const uint64_t[]) { 0x2000, 0x1000 }, 1);
        allow_iovas(s, 0, 1, NULL, 0);
        iova_ranges(s, 0, 1);
        seed_write(s, "fuzz-dispatch", "allow-iovas");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        map(s, MEMFD, 1, 0, 0x200000, true, 0x100000, true);
        map(s, MEMFD, 1, 0x1000, 0x1000, false, 0, true);
        map(s, MEMFD_4K, 1, 0, 0x1000, false, 0, false);
        unmap(s, 0, 1, 0x100000, 0x200000);
        unmap(s, 0, 1, 0, UINT64_MAX);
        unmap(s, 0, 1, 0x100000, 0x1000);
        seed_write(s, "fuzz-dispatch", "map-unmap");

        seed_begin(s, FUZZ_MODE_ADMIN | FUZZ_MODE_NO_MAP_FILE, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        map(s, MEMFD, 1, 0, 0x200000, true, 0x100000, true);
        map(s, MEMFD, 1, 0x100000, 0x100000, false, 0, true);
        unmap(s, 0, 1, 0, UINT64_MAX);
        seed_write(s, "fuzz-dispatch", "map-mmap-path");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_SEALED, 0, 0), 1, 0, 0x1000, false, 0, true);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_SEALED, 0, 0), 1, 0, 0x1000, false, 0, false);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 0, FUZZ_VARIANT_MEMFD_RDONLY), 1, 0, 0x1000, false, 0, true);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 0, FUZZ_VARIANT_MEMFD_RDONLY), 1, 0, 0x1000, false, 0, false);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 0, FUZZ_VARIANT_MEMFD_WRONLY), 1, 0, 0x1000, false, 0, false);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_OTHER, 0, FUZZ_VARIANT_OTHER_PIPE), 1, 0, 0x1000, false, 0, true);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_OTHER, 0, FUZZ_VARIANT_OTHER_SOCKET), 1, 0, 0x1000, false, 0, true);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_OTHER, 0, FUZZ_VARIANT_OTHER_FILE), 1, 0, 0x1000, false, 0, true);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_OTHER, 0, FUZZ_VARIANT_OTHER_DIR), 1, 0, 0x1000, false, 0, true);
        map(s, 0, 1, 0, 0x1000, false, 0, true);
        map(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 1, 0), 1, 0, 0x1000, false, 0, true);
        map(s, MEMFD_4K, 1, 0, 0x2000, false, 0, true);
        map(s, MEMFD, 1, 0x800, 0x1000, false, 0, true);
        map(s, MEMFD, 1, 0, 0, false, 0, true);
        seed_write(s, "fuzz-dispatch", "map-bad-fds");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        ioas_alloc(s, 0, false, 0, 0, false);
        map(s, MEMFD, 1, 0, 0x100000, true, 0x10000, true);
        copy(s, 0, 2, 1, 0x10000, 0x100000, false, 0);
        copy(s, 0, 2, 1, 0x10000, 0x10000, true, 0x200000);
        copy(s, 0, 1, 2, 0x10000, 0x10000, false, 0);
        unmap(s, 0, 1, 0, UINT64_MAX);
        copy(s, 0, 2, 1, 0x10000, 0x10000, false, 0);
        seed_write(s, "fuzz-dispatch", "copy");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        batch(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 1, 0), 1, 0x100000, 4, 2, 2, false);
        batch(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_MEMFD, 3, 0), 1, 0x100000, 4, 2, 2, false);
        batch(s, MEMFD, 1, 0x100000, 2, 1, 0, true);
        batch(s, 0, 1, 0x100000, 0, 0, 4, false);
        batch(s, 0, 1, 0x100000, 0, 0, 0, false);
        batch(s, MEMFD, 1, 0x800000, 3, 2, 0, true);
        seed_write(s, "fuzz-dispatch", "batch");

        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        mem_register(s, MEMFD);
        {
                /* map handle 1 twice at one IOVA (the second fails), unmap it; then a word of a third kind */
                static const uint64_t ok[] = { 1U | 0x7U << 8 | 1ULL << 32, 1, 0, 0x1000, 0x100000,
                                               1U | 0x7U << 8 | 1ULL << 32, 1, 0, 0x1000, 0x100000,
                                               2U | 1ULL << 32, 0, 0, 0x1000, 0x100000 };
                static const uint64_t bad[] = { 3U | 1ULL << 32, 0, 0, 0x1000, 0x100000 };

                packed_batch(s, 0, ok, 15, false);
                packed_batch(s, 0, ok, 15, true);
                packed_batch(s, 0, ok, 14, false);
                packed_batch(s, 0, bad, 5, false);
        }
        seed_write(s, "fuzz-dispatch", "batch-packed");

        seed_begin(s, FUZZ_MODE_ADMIN | FUZZ_MODE_PIPELINE, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        for (unsigned i = 0; i < 24; i++)
                map(s, MEMFD_4K, 1, 0, 0x1000, true, 0x100000 + i * 0x1000, true);
        for (unsigned i = 0; i < 24; i++)
                unmap(s, 0, 1, 0x100000 + i * 0x1000, 0x1000);
        seed_write(s, "fuzz-dispatch", "pipeline-maps");

        /* devices: IOAS 1, device 2, its automatic HWPT 3 */
        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        device_list(s, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        device_open(s, 0, DEV_FULL);
        device_open(s, 0, "0000:99:1f.7");
        hw_info(s, 0, 2);
        device_attach(s, 0, 2, 1);
        map(s, MEMFD, 1, 0, 0x10000, true, 0xfee00000, true);
        map(s, MEMFD, 1, 0, 0x10000, true, 0x100000, true);
        device_list(s, 0);
        device_attach(s, 0, 2, 1);
        device_detach(s, 0, 2);
        device_detach(s, 0, 2);
        device_close(s, 0, 2);
        device_close(s, 0, 2);
        device_list(s, 0);
        seed_write(s, "fuzz-dispatch", "devices");

        /* snoop: IOAS 1 enforces it, device 2 cannot */
        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, true);
        device_open(s, 0, DEV_PLAIN);
        device_attach(s, 0, 2, 1);
        device_open(s, 0, DEV_FULL);
        device_attach(s, 0, 3, 1);
        hwpt_alloc(s, 0, 2, 1, HWPT_SNOOP, 0);
        ioas_free(s, 0, 1);
        seed_write(s, "fuzz-dispatch", "devices-snoop");

        /* HWPTs: IOAS 1, device 2, paging HWPT 3 with dirty tracking */
        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        hwpt_alloc(s, 0, 2, 1, HWPT_DIRTY, 0);
        device_attach(s, 0, 2, 3);
        map(s, MEMFD, 1, 0, 0x100000, true, 0x100000, true);
        hwpt_dirty(s, 0, 3, true);
        hwpt_bitmap(s, 0, 3, 0x100000, 0x100000, 0, false);
        hwpt_bitmap(s, 0, 3, 0x100000, 0x100000, 0x2000, true);
        hwpt_bitmap(s, 0, 3, 0x100800, 0x1000, 0, false);
        hwpt_bitmap(s, 0, 3, 0, UINT64_MAX, 0, false);
        hwpt_dirty(s, 0, 3, false);
        hwpt_free(s, 0, 3);
        device_detach(s, 0, 2);
        hwpt_free(s, 0, 3);
        hwpt_free(s, 0, 3);
        seed_write(s, "fuzz-dispatch", "hwpt-dirty");

        /* nesting: IOAS 1, device 2, parent 3, nested 4 */
        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        hwpt_alloc(s, 0, 2, 1, HWPT_NEST_PARENT, 0);
        hwpt_alloc(s, 0, 2, 3, HWPT_VTD_S1, 0);
        hwpt_alloc(s, 0, 2, 1, HWPT_VTD_S1, 0);
        device_attach(s, 0, 2, 4);
        hwpt_invalidate(s, 0, 4, 24, 2);
        hwpt_invalidate(s, 0, 4, 16, 1);
        hwpt_invalidate(s, 0, 3, 24, 1);
        viommu_alloc(s, 0, 2, 3, IB__V1__VIOMMU_TYPE__VIOMMU_TYPE_DEFAULT);
        vdevice_alloc(s, 0, 5, 2, 0x10);
        viommu_alloc(s, 0, 2, 3, IB__V1__VIOMMU_TYPE__VIOMMU_TYPE_ARM_SMMUV3);
        hwpt_free(s, 0, 3);
        seed_write(s, "fuzz-dispatch", "hwpt-nested");

        /* fault queues: IOAS 1, device 2, fault 3, HWPT 4 */
        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        fault_alloc(s, 0);
        hwpt_alloc(s, 0, 2, 1, 0, 3);
        hwpt_alloc(s, 0, 2, 1, HWPT_NEST_PARENT, 3);
        hwpt_alloc(s, 0, 2, 1, 0, 999);
        device_attach(s, 0, 2, 4);
        seed_write(s, "fuzz-dispatch", "fault-queue");

        /* PASIDs: IOAS 1, device 2, PASID HWPT 3 */
        for (unsigned global = 0; global < 2; global++) {
                seed_begin(s, global ? FUZZ_MODE_ADMIN | FUZZ_MODE_GLOBAL_PASID : FUZZ_MODE_ADMIN, 0);
                ioas_alloc(s, 0, false, 0, 0, false);
                device_open(s, 0, DEV_FULL);
                hwpt_alloc(s, 0, 2, 1, HWPT_PASID, 0);
                pasid_attach(s, 0, 2, 5, 3);
                pasid_attach(s, 0, 2, 5, 3);
                pasid_attach(s, 0, 2, 0, 3);
                pasid_attach(s, 0, 2, 2000000, 3);
                pasid_attach(s, 0, 2, 6, 1);
                pasid_lookup(s, 0, 2, 5);
                pasid_lookup(s, 0, 2, 7);
                pasid_detach(s, 0, 2, 5);
                pasid_detach(s, 0, 2, 5);
                pasid_attach(s, 0, 2, 7, 3);
                device_open(s, 0, DEV_PLAIN);
                pasid_attach(s, 0, 4, 1, 3);
                seed_write(s, "fuzz-dispatch", global ? "pasid-global" : "pasid");
        }

        /* a client that plays VFIO ioctls on its device fd, then keeps it past the hangup */
        for (unsigned hold = 0; hold < 2; hold++) {
                seed_begin(s, hold ? FUZZ_MODE_ADMIN | FUZZ_MODE_HOLD_DEVICE_FDS : FUZZ_MODE_ADMIN, 0);
                ioas_alloc(s, 0, false, 0, 0, false);
                device_open(s, 0, DEV_FULL);
                map(s, MEMFD, 1, 0, 0x10000, true, 0x100000, true);
                device_op(s, 1, NO_PASID, 1);
                device_list(s, 0);
                device_op(s, 1, 3, 1);
                device_op(s, 2, NO_PASID, 0);
                device_op(s, 9, 0, 0);
                device_list(s, 0);
                device_op(s, 1, NO_PASID, 1);
                seed_write(s, "fuzz-dispatch", hold ? "device-fd-held" : "device-fd-ops");
        }

        /* tenants: limits, refused devices and features */
        seed_begin(s, FUZZ_MODE_TENANT_LIMITED, 0);
        for (unsigned i = 0; i < 4; i++)
                ioas_alloc(s, 0, false, 0, 0, false);
        map(s, MEMFD, 1, 0, 0x200000, true, 0x100000, true);
        map(s, MEMFD, 1, 0, 0x200000, true, 0x400000, true);
        map(s, MEMFD, 1, 0, 0x200000, true, 0x800000, true);
        map(s, MEMFD, 1, 0, 0x1000, true, 0xfff00000, true);
        batch(s, MEMFD, 2, 0x100000, 6, 1, 0, false);
        device_open(s, 0, DEV_PLAIN);
        device_open(s, 0, DEV_FULL);
        seed_write(s, "fuzz-dispatch", "tenant-limits");

        seed_begin(s, FUZZ_MODE_TENANT_STRICT, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        hwpt_alloc(s, 0, 2, 1, HWPT_NEST_PARENT, 0);
        hwpt_alloc(s, 0, 2, 1, HWPT_DIRTY, 0);
        hwpt_alloc(s, 0, 2, 1, HWPT_PASID, 0);
        hwpt_alloc(s, 0, 2, 1, 0, 0);
        hwpt_dirty(s, 0, 3, true);
        hwpt_bitmap(s, 0, 3, 0, 0x1000, 0, false);
        pasid_attach(s, 0, 2, 1, 3);
        seed_write(s, "fuzz-dispatch", "tenant-strict");

        seed_begin_with(s, FUZZ_MODE_ADMIN, 0, FUZZ_OPT_CONFINED);
        device_list(s, 0);
        device_open(s, 0, DEV_FULL);
        seed_write(s, "fuzz-dispatch", "tenant-confined");

        seed_begin(s, FUZZ_MODE_TENANT_GLOBAL, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        hwpt_alloc(s, 0, 2, 1, HWPT_PASID, 0);
        for (unsigned v = 1; v <= 4; v++)
                pasid_attach(s, 0, 2, v, 3);
        seed_write(s, "fuzz-dispatch", "tenant-global-pasid");

        /* fault injection: the n-th fallible sim call after Hello fails with ENOMEM */
        for (unsigned n = 1; n <= 8; n++) {
                seed_begin(s, FUZZ_MODE_ADMIN, (uint8_t) n);
                ioas_alloc(s, 0, false, 0, 0, false);
                device_open(s, 0, DEV_FULL);
                map(s, MEMFD, 1, 0, 0x10000, true, 0x100000, true);
                hwpt_alloc(s, 0, 2, 1, HWPT_NEST_PARENT, 0);
                device_attach(s, 0, 2, 3);
                pasid_attach(s, 0, 2, 1, 1);
                unmap(s, 0, 1, 0, UINT64_MAX);
                (void) snprintf(name, sizeof(name), "fail-nth-%u", n);
                seed_write(s, "fuzz-dispatch", name);
        }

        /* two sessions of one uid: a device open in one, the tenant's limits across both */
        seed_begin(s, FUZZ_MODE_ADMIN | FUZZ_MODE_TWO_SESSIONS, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        seed_client = 1;
        device_list(s, 0);
        ioas_alloc(s, 0, false, 0, 0, false);
        device_open(s, 0, DEV_FULL);
        device_open(s, 0, DEV_PLAIN);
        device_attach(s, 0, 2, 1);
        seed_client = 0;
        device_close(s, 0, 2);
        seed_client = 1;
        device_open(s, 0, DEV_FULL);
        seed_client = 0;
        seed_write(s, "fuzz-dispatch", "two-sessions-devices");

        seed_begin(s, FUZZ_MODE_TENANT_GLOBAL | FUZZ_MODE_TWO_SESSIONS, 0);
        for (seed_client = 0; seed_client < 2; seed_client++) {
                ioas_alloc(s, 0, false, 0, 0, false);
                map(s, MEMFD, 1, 0, 0x200000, true, 0x100000, true);
                map(s, MEMFD, 1, 0, 0x200000, true, 0x400000, true);
                map(s, MEMFD, 1, 0, 0x200000, true, 0x800000, true);
                device_open(s, 0, seed_client ? DEV_PLAIN : DEV_FULL);
                hwpt_alloc(s, 0, 2, 1, HWPT_PASID, 0);
                pasid_attach(s, 0, 2, 1, 3);
                pasid_attach(s, 0, 2, 2, 3);
        }
        seed_client = 0;
        seed_write(s, "fuzz-dispatch", "two-sessions-tenant");

        /* refused connections: one error reply, then the end */
        seed_begin_with(s, FUZZ_MODE_ADMIN | FUZZ_MODE_TWO_SESSIONS, 0, FUZZ_OPT_ONE_CONNECTION);
        caps(s, 0);
        seed_client = 1;
        caps(s, 0);
        caps(s, 0);
        seed_client = 0;
        seed_write(s, "fuzz-dispatch", "refused-second-connection");

        seed_begin_with(s, FUZZ_MODE_NO_HELLO, 0, FUZZ_OPT_NO_TENANT);
        hello(s, 0, 1);
        caps(s, 0);
        seed_write(s, "fuzz-dispatch", "refused-no-tenant");

        /* replies queue in the broker: a small send buffer, a client that writes before it reads */
        seed_begin_with(s, FUZZ_MODE_ADMIN | FUZZ_MODE_PIPELINE, 0, FUZZ_OPT_SMALL_SNDBUF);
        ioas_alloc(s, 0, false, 0, 0, false);
        for (unsigned i = 1; i < FUZZ_MAX_FRAMES; i++)
                batch(s, 0, 1, 0x100000, 0, 0, 16, false);
        seed_write(s, "fuzz-dispatch", "replies-queue");

        /* bad input, as tests/integration/test-bad-input.c sends it */
        seed_begin(s, FUZZ_MODE_ADMIN, 0);
        seed_frame(s, 0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
        seed_frame(s, 0, "\x08\x07", 2);                        /* id 7, no verb */
        seed_frame(s, 0, "\x08\x08\xfa\x0f\x00", 5);            /* id 8, unknown field 255 */
        seed_frame(s, 0, "\x08", 1);                            /* truncated */
        seed_frame(s, MEMFD, "", 0);                            /* only an fd */
        seed_frame(s, FUZZ_FRAME_OVERSIZE, "\x08\x09", 2);      /* larger than the limit */
        caps(s, MEMFD);
        caps(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_OTHER, 2, FUZZ_VARIANT_OTHER_PIPE));
        caps(s, FUZZ_FRAME_FDS(FUZZ_FRAME_FD_OTHER, 3, FUZZ_VARIANT_OTHER_PIPE));
        caps(s, 0);
        seed_write(s, "fuzz-dispatch", "bad-frames");
}

/* ---------------------------------------------------------------- tool request lines */

/* Each seed is a few lines, as a script fed to the tool's stdin (tests/integration/test-client-tool*.sh). */
static const struct {
        const char *name;
        const char *text;
} tool_seeds[] = {
        { "session", "hello\ncaps\n# a comment\n\n" },
        { "ioas", "ioas-alloc window=32 as=a\nioas-alloc base=0x100000 max=4G enforce-snoop=yes as=b\n"
                  "iova-ranges ioas=@a\nioas-free ioas=@b\nioas-free ioas=0x100000000\n" },
        { "ioas-bad", "ioas-alloc window=33\nioas-alloc colour=red\nioas-alloc base=12Q\nioas-alloc as=a as=b\n"
                      "ioas-free ioas=@nope\nfrobnicate x=1\n=x\n" },
        { "allow-iovas", "allow-iovas ioas=@a ranges=0x100000-0x1fffff,16M-0x1ffffff\n"
                         "allow-iovas ioas=1 ranges=\n"
                         "allow-iovas ioas=1 ranges=1-\nallow-iovas ioas=1 ranges=@a-@b\n" },
        { "map", "map ioas=1 memfd=ram size=2M iova=0x100000\nmap ioas=1 memfd=big size=1M offset=1M iova=2M prot=r\n"
                 "map ioas=1 memfd=ram size=4K seal=write access=ro as=m\n"
                 "map ioas=1 memfd=x size=4K seal=future-write\n"
                 "map ioas=1 size=4K\nmap ioas=1 memfd=ram size=max\nmap ioas=1 memfd=ram size=8E offset=8E\n" },
        { "unmap-copy", "unmap ioas=1 iova=0x100000 length=2M\nunmap ioas=1 all\nunmap ioas=1 iova=0 length=max\n"
                        "copy dst=2 src=1 src-iova=0x10000 length=64K prot=r as=c\n"
                        "copy dst=2 src=1 src-iova=@m length=64K dst-iova=0x200000\n" },
        { "batch", "batch op=map,ioas=1,memfd=ram,size=8K,iova=0x10000,as=m op=unmap,ioas=1,all\n"
                   "batch stop-on-error=yes op=map,ioas=1,memfd=ram,size=4K,bogus=1\nbatch stop-on-error=yes\n"
                   "batch op=unmap,ioas=1,iova=0x10000,length=4K op=frob op=map\n" },
        { "devices", "device-list\ndevice-open dev=0000:00:02.0 as=d\ndevice-open dev=bogus\ndevice-open\n"
                     "attach dev=1 pt=2\ndetach dev=1\ndevice-close dev=1\nhw-info dev=1\nattach dev=1\n" },
        { "hwpt", "hwpt-alloc dev=1 pt=2 nest-parent=on dirty=TRUE pasid=0 enforce-snoop=off as=p\n"
                  "hwpt-alloc dev=1 pt=2 data-type=vtd-s1 pgtbl=0x1000 addr-width=48 s1-flags=0\n"
                  "hwpt-alloc dev=1 pt=2 data-type=vtd-s1 data=00112233 fault=3\n"
                  "hwpt-alloc dev=1 pt=2 data-type=smmuv3 data=abc\nhwpt-alloc dev=1 pt=2 data-type=7 data=zz\n"
                  "hwpt-alloc dev=1 pt=2 nest-parent=maybe\nhwpt-free hwpt=3\n" },
        { "hwpt-dirty", "hwpt-dirty hwpt=3 enable=yes\nhwpt-dirty-bitmap hwpt=3 iova=0 length=1M\n"
                        "hwpt-dirty-bitmap hwpt=3 iova=0 length=64K page-size=8K no-clear=yes show=2\n"
                        "hwpt-dirty-bitmap hwpt=3 iova=0 length=0x1000000000000\n" },
        { "hwpt-invalidate", "hwpt-invalidate pt=4 addr=0x1000 npages=1\n"
                             "hwpt-invalidate pt=4 addr=0 npages=0xffffffffffffffff leaf=yes\n" },
        { "fault-viommu", "fault-alloc as=f\nviommu-alloc dev=1 hwpt=3 type=smmuv3\n"
                          "vdevice-alloc viommu=999 dev=1 virt-id=1\n" },
        { "pasid", "pasid-attach dev=1 vpasid=5 pt=3\npasid-attach dev=1 vpasid=0x100000000 pt=1\n"
                   "pasid-lookup dev=1 vpasid=5\npasid-detach dev=1 vpasid=5\n" },
};

static void tool_write_seeds(void) {
        for (size_t i = 0; i < sizeof(tool_seeds) / sizeof(tool_seeds[0]); i++) {
                char path[4096];
                FILE *f;

                (void) snprintf(path, sizeof(path), "%s/fuzz-tool-request/%s", outdir, tool_seeds[i].name);
                f = fopen(path, "we");
                if (!f || fputs(tool_seeds[i].text, f) < 0 || fclose(f) != 0) {
                        fprintf(stderr, "make-seeds: cannot write %s: %m\n", path);
                        exit(EXIT_FAILURE);
                }
        }
}

static void make_dir(const char *harness) {
        char path[4096];

        (void) snprintf(path, sizeof(path), "%s/%s", outdir, harness);
        if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "make-seeds: cannot create %s: %m\n", outdir);
                exit(EXIT_FAILURE);
        }
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "make-seeds: cannot create %s: %m\n", path);
                exit(EXIT_FAILURE);
        }
}

/* ---------------------------------------------------------------- fuzz-pb-fast */

/* A fuzz-pb-fast input: its first byte says Request (0) or Reply (1), then m packed. */
static void pb_fast_seed(const char *name, uint8_t kind, const ProtobufCMessage *m) {
        Seed *s = calloc(1, sizeof(*s));

        if (!s || protobuf_c_message_get_packed_size(m) + 1 > sizeof(s->buf)) {
                fprintf(stderr, "make-seeds: cannot make %s\n", name);
                exit(EXIT_FAILURE);
        }
        s->buf[0] = kind;
        s->len = 1 + protobuf_c_message_pack(m, s->buf + 1);
        seed_write(s, "fuzz-pb-fast", name);
        free(s);
}

static void pb_fast_seeds(void) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT;
        Ib__V1__MapRequest map = IB__V1__MAP_REQUEST__INIT;
        Ib__V1__UnmapRequest unmap = IB__V1__UNMAP_REQUEST__INIT;
        Ib__V1__BatchRequest batch = IB__V1__BATCH_REQUEST__INIT;
        Ib__V1__BatchOp ops[2] = { IB__V1__BATCH_OP__INIT, IB__V1__BATCH_OP__INIT }, *opp[2] = { &ops[0], &ops[1] };
        Ib__V1__CapsRequest caps = IB__V1__CAPS_REQUEST__INIT;
        Ib__V1__IoasFreeRequest ioas_free = IB__V1__IOAS_FREE_REQUEST__INIT;
        Ib__V1__Reply reply = IB__V1__REPLY__INIT;
        Ib__V1__CapsReply caps_reply = IB__V1__CAPS_REPLY__INIT;
        Ib__V1__KernelFeature features[2] = { IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_MAP_FILE,
                                              IB__V1__KERNEL_FEATURE__KERNEL_FEATURE_HWPT_ALLOC };
        Ib__V1__MapReply map_reply = IB__V1__MAP_REPLY__INIT;
        Ib__V1__UnmapReply unmap_reply = IB__V1__UNMAP_REPLY__INIT;
        Ib__V1__BatchReply batch_reply = IB__V1__BATCH_REPLY__INIT;
        Ib__V1__BatchResult results[2] = { IB__V1__BATCH_RESULT__INIT, IB__V1__BATCH_RESULT__INIT };
        Ib__V1__BatchResult *resp[2] = { &results[0], &results[1] };

        map.ioas = 1;
        map.has_mem = true;
        map.mem = 1;
        map.has_offset = true;
        map.offset = 0x2000;
        map.length = 0x1000;
        map.has_iova = true;
        map.iova = 0x100000000ULL;
        unmap.ioas = 1;
        unmap.iova = 0x100000000ULL;
        unmap.length = 0x1000;
        req.id = 7;
        req.verb_case = IB__V1__REQUEST__VERB_MAP;
        req.map = &map;
        pb_fast_seed("map-by-handle", 0, &req.base);
        map.has_mem = false;
        map.has_fd_index = true;
        map.has_readable = true;
        map.readable = true;
        map.has_writeable = true;
        map.writeable = false;
        pb_fast_seed("map-by-fd", 0, &req.base);
        req.verb_case = IB__V1__REQUEST__VERB_UNMAP;
        req.unmap = &unmap;
        pb_fast_seed("unmap", 0, &req.base);
        ops[0].op_case = IB__V1__BATCH_OP__OP_MAP;
        ops[0].map = &map;
        ops[1].op_case = IB__V1__BATCH_OP__OP_UNMAP;
        ops[1].unmap = &unmap;
        batch.n_ops = 2;
        batch.ops = opp;
        batch.has_stop_on_error = true;
        batch.stop_on_error = true;
        req.verb_case = IB__V1__REQUEST__VERB_BATCH;
        req.batch = &batch;
        pb_fast_seed("batch", 0, &req.base);
        {
                static uint64_t words[] = { 1U | 0x7U << 8 | 1ULL << 32, 1, 0x2000, 0x1000, 0x100000000ULL,
                                            2U | 1ULL << 32, 0, 0, 0x1000, 0x100000000ULL };

                batch.n_ops = 0;
                batch.packed_ops = words;
                batch.n_packed_ops = 10;
                pb_fast_seed("batch-packed", 0, &req.base);
                batch.n_packed_ops = 0;
                batch.packed_ops = NULL;
        }
        req.verb_case = IB__V1__REQUEST__VERB_CAPS;
        req.caps = &caps;
        pb_fast_seed("caps", 0, &req.base);
        req.verb_case = IB__V1__REQUEST__VERB_IOAS_FREE;      /* another verb: protobuf-c's */
        req.ioas_free = &ioas_free;
        ioas_free.ioas = 1;
        pb_fast_seed("ioas-free", 0, &req.base);

        reply.id = 7;
        reply.result_case = IB__V1__REPLY__RESULT_MAP;
        map_reply.iova = 0x100000000ULL;
        reply.map = &map_reply;
        pb_fast_seed("map-reply", 1, &reply.base);
        reply.result_case = IB__V1__REPLY__RESULT_UNMAP;
        unmap_reply.length = 0x1000;
        reply.unmap = &unmap_reply;
        pb_fast_seed("unmap-reply", 1, &reply.base);
        results[0].result_case = IB__V1__BATCH_RESULT__RESULT_MAP;
        results[0].map = &map_reply;
        results[1].has_errnum = true;
        results[1].errnum = 2;
        results[1].errno_name = (char *) "ENOENT";
        results[1].error = (char *) "no mapping at IOVA 0x100000000 in IOAS 1";
        batch_reply.n_results = 2;
        batch_reply.results = resp;
        reply.result_case = IB__V1__REPLY__RESULT_BATCH;
        reply.batch = &batch_reply;
        pb_fast_seed("batch-reply", 1, &reply.base);
        {
                static uint64_t values[] = { 0x100000000ULL, 0 };

                results[1].has_index = true;
                results[1].index = 1;
                batch_reply.n_results = 1;
                batch_reply.results = &resp[1];
                batch_reply.n_packed_values = 2;
                batch_reply.packed_values = values;
                pb_fast_seed("batch-packed-reply", 1, &reply.base);
        }
        caps_reply.backend = (char *) "kernel";
        caps_reply.n_kernel_features = 2;
        caps_reply.kernel_features = features;
        caps_reply.page_size = 4096;
        caps_reply.has_sessions = true;
        caps_reply.sessions = 3;
        reply.result_case = IB__V1__REPLY__RESULT_CAPS;
        reply.caps = &caps_reply;
        pb_fast_seed("caps-reply", 1, &reply.base);
        reply.result_case = IB__V1__REPLY__RESULT__NOT_SET;
        reply.has_errnum = true;
        reply.errnum = 125;
        reply.errno_name = (char *) "ECANCELED";
        reply.error = (char *) "a restart stopped it";
        reply.has_not_applied = true;
        reply.not_applied = true;
        pb_fast_seed("error-reply", 1, &reply.base);
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return EXIT_FAILURE;
        }
        outdir = argv[1];
        make_dir("fuzz-dispatch");
        make_dir("fuzz-policy");
        make_dir("fuzz-tool-request");
        make_dir("fuzz-pb-fast");
        dispatch_seeds();
        tool_write_seeds();
        pb_fast_seeds();
        return EXIT_SUCCESS;
}

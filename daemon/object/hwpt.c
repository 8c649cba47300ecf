/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hwpt.c - see hwpt.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* memfd_create(), F_ADD_SEALS */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "object/hwpt.h"

/* A HWPT's record and what it costs: made (against the limits) or restored. */
static int hwpt_record(Hwpt **ret, BackendCtx *ctx, Account *account, uint32_t pt_id, uint32_t flags,
                       uint32_t data_type, bool restored, const Account **ret_over) {
        _cleanup_(hwpt_freep) Hwpt *h = NULL;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->ctx = ctx;
        h->pt_id = pt_id;
        h->flags = flags;
        h->data_type = data_type;
        r = charge_hold(&h->charge_hwpt, account, ACCOUNT_HWPT, 1, restored, ret_over);
        if (r < 0)
                return r;
        r = charge_hold(&h->charge_object, account, ACCOUNT_OBJECTS, 1, restored, ret_over);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

int hwpt_new(Hwpt **ret, BackendCtx *ctx, Account *account, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
             uint32_t data_type, const void *data, size_t data_len, uint32_t fault_id, const Account **ret_over) {
        _cleanup_(hwpt_freep) Hwpt *h = NULL;
        int r;

        r = hwpt_record(&h, ctx, account, pt_id, flags, data_type, false, ret_over);
        if (r < 0)
                return r;
        r = backend_hwpt_alloc(ctx, dev_id, pt_id, flags, data_type, data, data_len, fault_id, &h->id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

int hwpt_restore(Hwpt **ret, BackendCtx *ctx, Account *account, uint32_t id, uint32_t pt_id, uint32_t flags,
                 uint32_t data_type, bool enforce_snoop) {
        int r = hwpt_record(ret, ctx, account, pt_id, flags, data_type, true, NULL);

        if (r >= 0) {
                (*ret)->id = id;
                (*ret)->enforce_snoop = enforce_snoop;
        }
        return r;
}

Hwpt *hwpt_free(Hwpt *h) {
        if (!h)
                return NULL;
        idlink_unlink(&h->link);
        charge_release(&h->charge_object);
        charge_release(&h->charge_hwpt);
        free(h);
        return NULL;
}

int hwpt_destroy(Hwpt *h) {
        int r = backend_destroy(h->ctx, h->id);

        if (r < 0)
                return r;
        hwpt_free(h);
        return 0;
}

int hwpt_set_dirty_tracking(Hwpt *h, bool enable) {
        return backend_hwpt_set_dirty_tracking(h->ctx, h->id, enable);
}

int hwpt_invalidate(Hwpt *h, uint32_t data_type, const void *entries, uint32_t entry_len, uint32_t *entry_num) {
        return backend_hwpt_invalidate(h->ctx, h->id, data_type, entries, entry_len, entry_num);
}

/* One read of the dirty bits, for the words of the bitmap a mapped run covers. */
typedef struct DirtyRead {
        Hwpt *h;
        uint64_t iova;                  /* the request's first IOVA: bit 0 */
        uint64_t length;                /* the request's length */
        uint64_t page_size;
        uint32_t flags;
        uint64_t *bitmap;
        uint64_t done;                  /* offset from iova read so far (runs come in IOVA order) */
        uint64_t dirty;
} DirtyRead;

static int dirty_read_range(DirtyRead *d, uint64_t off, uint64_t end) {
        uint64_t word0 = off / d->page_size / 64, words = ((end - off) / d->page_size + 63) / 64;
        int r;

        r = backend_hwpt_get_dirty_bitmap(d->h->ctx, d->h->id, d->iova + off, end - off, d->page_size, d->flags,
                                          d->bitmap + word0);
        if (r < 0)
                return r;
        for (uint64_t i = word0; i < word0 + words; i++)
                d->dirty += (uint64_t) __builtin_popcountll(d->bitmap[i]);
        d->done = end;
        return 0;
}

/* A mapping [first, last] that meets the request: read its part, widened to whole words, once. */
static int dirty_read_mapping(uint64_t first, uint64_t last, void *userdata) {
        DirtyRead *d = userdata;
        uint64_t chunk = 64 * d->page_size, off, end;

        off = first > d->iova ? first - d->iova : 0;
        end = last - d->iova < d->length - 1 ? last - d->iova + 1 : d->length;
        /* whole words: chunk-aligned from iova, without overflow (end <= length) */
        off = off / chunk * chunk;
        if (end % chunk != 0)
                end = d->length - end < chunk - end % chunk ? d->length : end + (chunk - end % chunk);
        if (off < d->done)
                off = d->done;
        if (off >= end)
                return 0;
        return dirty_read_range(d, off, end);
}

int hwpt_get_dirty_bitmap(Hwpt *h, const Ioas *ioas, uint64_t iova, uint64_t length, uint64_t page_size,
                          uint32_t flags, int *ret_fd, uint64_t *ret_dirty) {
        uint64_t size = hwpt_dirty_bitmap_size(length, page_size);
        _cleanup_close_ int fd = -1;
        DirtyRead d = { .h = h, .iova = iova, .length = length, .page_size = page_size, .flags = flags };
        int r;

        fd = memfd_create("iommu-broker-dirty-bitmap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t) size) < 0)
                return -errno;
        d.bitmap = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (d.bitmap == MAP_FAILED)
                return -errno;
        if (ioas) {
                r = ioas_for_each_mapping(ioas, iova, iova + (length - 1), dirty_read_mapping, &d);
                /* nothing mapped there: one word still asks the kernel, which judges the HWPT and the range */
                if (r >= 0 && d.done == 0)
                        r = dirty_read_range(&d, 0, length < 64 * page_size ? length : 64 * page_size);
        } else
                r = dirty_read_range(&d, 0, length);
        (void) munmap(d.bitmap, size);
        if (r < 0)
                return r;
        /* F_SEAL_WRITE needs the writable mapping gone */
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        *ret_dirty = d.dirty;
        return 0;
}

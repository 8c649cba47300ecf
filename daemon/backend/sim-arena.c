/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-arena.c - the memory the sim's model lives in, which outlives the broker's process.
 *
 * Owns: the arena: a memfd mapped shared at a fixed address, its header (the
 * magic, the format version, where it is mapped, the allocator's state and
 * the model's root), and the allocator that hands out every record of the
 * model from it.
 * Must never: know what the records are, keep the memfd (the sim does), or
 * call malloc() for the model.
 *
 * DOC: Theory of Operation
 *
 * The kernel's iommufd objects outlive the broker when the service manager's
 * fd store holds the iommufd; the sim's model must outlive it the same way.
 * So the model is not in the broker's heap but in an arena: one memfd of
 * SIM_ARENA_SPAN bytes (sparse: a page is backed once it is touched) mapped
 * MAP_SHARED, which the sim keeps in the store as "sim.model".  The records
 * point at each other with plain pointers; a new process maps the memfd at
 * the address it was made at (recorded in the header) and every pointer is
 * valid again.  That address is one of SIM_ARENA_SLOTS slots of
 * SIM_ARENA_SPAN bytes from SIM_ARENA_BASE, a region nothing else of a
 * process on x86-64 uses: under the brk heap and the binary, above
 * AddressSanitizer's shadow and allocator (0x600000000000-0x640000000000),
 * far below the libraries and mmap()s that grow down from the top.  An arena
 * that need not outlive the process (no fd store) is mapped anywhere, at an
 * address aligned to its span like the slots.  Either way the header is at
 * the start of the span, so any pointer into an arena finds its header
 * (sim_arena_of()) and the allocator needs no handle.
 *
 * The allocator: every block has an 8-byte header (its size class) and
 * 8-byte alignment; the classes go 16, 24, 32, 48, 64, 96... bytes (two per
 * power of two), each with a free list through the free blocks; a class with
 * an empty list takes a new block from the top of the arena.  Every call is
 * O(1) (calloc and realloc add the copy).  Freed memory stays with its class.
 *
 * Every store to the model is a store to the memfd's pages, so when the
 * process dies between two sim ops (the kernel's ioctls are atomic: a SIGKILL
 * lands before or after one) the next process finds the model exactly as the
 * last op left it.  A process killed inside an op may leave it half done: the
 * restart tests never do that (their kills wait for the backend call's end:
 * IB_CRASH_DEFER, util/crashpoint.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* memfd_create(), MAP_FIXED_NOREPLACE */
#endif

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/sim-arena.h"
#include "common/macro.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define SIM_ARENA_MAGIC UINT64_C(0x616e6572416d6953)    /* "SimArena" */
#define SIM_ARENA_VERSION 2U              /* 2: ITree keeps its first and last node */
#define SIM_ARENA_BASE UINT64_C(0x680000000000)
#define SIM_ARENA_SPAN (UINT64_C(1) << 36)              /* 64 GiB of address space each */
#define SIM_ARENA_SLOTS 16U
/* Classes up to SIM_ARENA_SPAN: 16, then two per power of two from 16 to 2^36. */
#define SIM_ARENA_CLASSES 66U
#define SIM_BLOCK_LIVE 0x5b10c5a1U
#define SIM_BLOCK_FREE 0xf4eeb10cU

typedef struct SimBlock {
        uint32_t magic;                 /* SIM_BLOCK_LIVE or SIM_BLOCK_FREE */
        uint32_t klass;
} SimBlock;

struct SimArena {
        uint64_t magic;                 /* SIM_ARENA_MAGIC */
        uint32_t version;               /* SIM_ARENA_VERSION: the layout of the model's records */
        uint32_t header_size;           /* sizeof(SimArena) */
        uint64_t base;                  /* the address it is mapped at: this header's */
        uint64_t span;                  /* SIM_ARENA_SPAN */
        uint64_t top;                   /* offset of the first byte never handed out */
        void *root;                     /* the model */
        void *free_list[SIM_ARENA_CLASSES];     /* payloads of free blocks, linked through their first word */
};

static size_t class_size(unsigned k) {
        unsigned m;

        if (k == 0)
                return 16;
        m = (k - 1) / 2;
        return (k % 2) ? (size_t) 3 << (m + 3) : (size_t) 1 << (m + 5);
}

/* The smallest class of at least n bytes, block header included; n >= 1. */
static unsigned size_class(uint64_t n) {
        unsigned p;

        if (n <= 16)
                return 0;
        p = 63U - (unsigned) __builtin_clzll(n - 1);    /* 2^p < n <= 2^(p+1), p >= 4 */
        return 2 * (p - 4) + (n <= (UINT64_C(3) << (p - 1)) ? 1 : 2);
}

SimArena *sim_arena_of(const void *p) {
        return (SimArena *) ((uintptr_t) p & ~(uintptr_t) (SIM_ARENA_SPAN - 1));
}

void *sim_arena_root(const SimArena *a) {
        return a->root;
}

void sim_arena_set_root(SimArena *a, void *root) {
        a->root = root;
}

/* mmap() of the span of fd at addr (NULL: anywhere aligned to the span); the address or -errno. */
static int arena_mmap(int fd, uint64_t addr, void **ret) {
        void *p;

        if (addr == 0) {
                /* Reserve twice the span, keep the aligned part, and map the memfd over it. */
                uint8_t *r = mmap(NULL, 2 * SIM_ARENA_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                  -1, 0);
                uint8_t *aligned;

                if (r == MAP_FAILED)
                        return -errno;
                aligned = (uint8_t *) (((uintptr_t) r + SIM_ARENA_SPAN - 1) & ~(uintptr_t) (SIM_ARENA_SPAN - 1));
                if (aligned > r)
                        (void) munmap(r, (size_t) (aligned - r));
                (void) munmap(aligned + SIM_ARENA_SPAN, (size_t) (r + 2 * SIM_ARENA_SPAN - aligned - SIM_ARENA_SPAN));
                p = mmap(aligned, SIM_ARENA_SPAN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
                if (p == MAP_FAILED) {
                        int r2 = -errno;

                        (void) munmap(aligned, SIM_ARENA_SPAN);
                        return r2;
                }
                *ret = p;
                return 0;
        }
        p = mmap((void *) (uintptr_t) addr, SIM_ARENA_SPAN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
                 fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        if ((uintptr_t) p != addr) {
                /* A kernel before 4.17 takes the flag as a hint. */
                (void) munmap(p, SIM_ARENA_SPAN);
                return -EEXIST;
        }
        *ret = p;
        return 0;
}

/**
 * sim_arena_new() - make an empty arena.
 * @fixed: whether a later process must map it where this one does: at one
 *         of the fixed slots, else anywhere
 * @ret_fd: its memfd, the caller's
 * @ret: its header, where it is mapped
 *
 * Return: 0, -EADDRINUSE if every fixed slot is taken, or the -errno of
 * memfd_create, ftruncate or mmap.
 */
int sim_arena_new(bool fixed, int *ret_fd, SimArena **ret) {
        _cleanup_close_ int fd = -1;
        SimArena *a;
        void *p = NULL;
        int r = -EADDRINUSE;

        fd = memfd_create("ib-sim-model", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t) SIM_ARENA_SPAN) < 0)
                return -errno;
        if (fixed) {
                for (unsigned k = 0; k < SIM_ARENA_SLOTS; k++) {
                        r = arena_mmap(fd, SIM_ARENA_BASE + k * SIM_ARENA_SPAN, &p);
                        if (r != -EEXIST)
                                break;
                }
                if (r == -EEXIST)
                        r = -EADDRINUSE;
        } else
                r = arena_mmap(fd, 0, &p);
        if (r < 0)
                return r;

        a = p;
        *a = (SimArena) {
                .magic = SIM_ARENA_MAGIC,
                .version = SIM_ARENA_VERSION,
                .header_size = sizeof(SimArena),
                .base = (uint64_t) (uintptr_t) a,
                .span = SIM_ARENA_SPAN,
                .top = (sizeof(SimArena) + 63) & ~(uint64_t) 63,
        };
        *ret_fd = TAKE_FD(fd);
        *ret = a;
        return 0;
}

/**
 * sim_arena_map() - map the arena another process made.
 * @fd: its memfd; the caller keeps it
 * @ret: its header
 *
 * Return: 0; -EINVAL if fd holds no arena of this format (its magic,
 * version, size or address is not one sim_arena_new() makes); -EADDRINUSE if
 * something else of this process is mapped at its address; or the -errno of
 * fstat, pread or mmap.
 */
int sim_arena_map(int fd, SimArena **ret) {
        SimArena h;
        struct stat st;
        ssize_t n;
        void *p;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != SIM_ARENA_SPAN)
                return -EINVAL;
        n = pread(fd, &h, sizeof(h), 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != sizeof(h) || h.magic != SIM_ARENA_MAGIC || h.version != SIM_ARENA_VERSION ||
            h.header_size != sizeof(SimArena) || h.span != SIM_ARENA_SPAN ||
            (h.base & (SIM_ARENA_SPAN - 1)) != 0 || h.top > SIM_ARENA_SPAN)
                return -EINVAL;
        r = arena_mmap(fd, h.base, &p);
        if (r == -EEXIST)
                return -EADDRINUSE;
        if (r < 0)
                return r;
        *ret = p;
        return 0;
}

void sim_arena_unmap(SimArena *a) {
        if (a)
                (void) munmap(a, SIM_ARENA_SPAN);
}

void *sim_malloc(const void *near, size_t size) {
        SimArena *a = sim_arena_of(near);
        SimBlock *b;
        unsigned k;

        assert(a->magic == SIM_ARENA_MAGIC);
        if (size > SIM_ARENA_SPAN)
                return NULL;
        k = size_class((uint64_t) size + sizeof(SimBlock));
        if (k >= SIM_ARENA_CLASSES)
                return NULL;
        if (a->free_list[k]) {
                void *p = a->free_list[k];

                a->free_list[k] = *(void **) p;
                b = (SimBlock *) p - 1;
                assert(b->magic == SIM_BLOCK_FREE && b->klass == k);
        } else {
                uint64_t n = class_size(k);

                if (n > a->span - a->top)
                        return NULL;
                b = (SimBlock *) ((uint8_t *) a + a->top);
                a->top += n;
                b->klass = k;
        }
        b->magic = SIM_BLOCK_LIVE;
        return b + 1;
}

void *sim_calloc(const void *near, size_t n, size_t size) {
        void *p;

        if (size != 0 && n > SIZE_MAX / size)
                return NULL;
        p = sim_malloc(near, n * size);
        if (p)
                memset(p, 0, n * size);
        return p;
}

void *sim_reallocarray(const void *near, void *p, size_t n, size_t size) {
        SimBlock *b;
        size_t have;
        void *q;

        if (size != 0 && n > SIZE_MAX / size)
                return NULL;
        if (!p)
                return sim_malloc(near, n * size);
        b = (SimBlock *) p - 1;
        assert(b->magic == SIM_BLOCK_LIVE);
        have = class_size(b->klass) - sizeof(SimBlock);
        if (n * size <= have)
                return p;
        q = sim_malloc(p, n * size);
        if (!q)
                return NULL;
        memcpy(q, p, have);
        sim_free(p);
        return q;
}

void sim_free(void *p) {
        SimArena *a;
        SimBlock *b;

        if (!p)
                return;
        a = sim_arena_of(p);
        b = (SimBlock *) p - 1;
        assert(b->magic == SIM_BLOCK_LIVE && b->klass < SIM_ARENA_CLASSES);
        b->magic = SIM_BLOCK_FREE;
        *(void **) p = a->free_list[b->klass];
        a->free_list[b->klass] = p;
}

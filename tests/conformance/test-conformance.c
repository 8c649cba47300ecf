/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-conformance.c - the IOAS conformance suite, through the client library.
 *
 * One suite for both backends: by default it starts iommu-brokerd
 * --backend=sim itself (plus --daemon-args="..."); with --socket=PATH it
 * talks to a broker that is already running, e.g. with the kernel backend in
 * the QEMU guest, as an unprivileged uid.  --backend-name=NAME checks that the
 * broker runs that backend.  Every errno asserted here is the kernel's; where
 * the broker itself decides (windows, memfd checks, fd counts) the test says
 * so, and the answer is the same on both backends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define KiB 1024ULL
#define MiB (1024ULL * 1024ULL)
#define GiB (1024ULL * MiB)
#define RW (IB_MAP_READABLE | IB_MAP_WRITEABLE)

static TestBroker broker;

static ib_client *connect_client(void) {
        ib_client *c = NULL;
        int r = ib_client_connect(broker.socket, "test-conformance", &c);

        if (r < 0) {
                printf("# cannot connect to %s: %s\n", broker.socket, strerror(-r));
                return NULL;
        }
        return c;
}

static uint32_t alloc_ioas(ib_client *c, int window) {
        ib_ioas_alloc_args a = { .window = window };
        uint32_t id = 0;

        return ib_ioas_alloc(c, &a, &id) < 0 ? 0 : id;
}

#define CONNECT(c)                                              \
        ib_client *c = connect_client();                        \
        if (!c)                                                 \
                TEST_FAIL("cannot connect");

#define MAP_FIXED(c, ioas, fd, off, len, flags, at)                                             \
        ({                                                                                      \
                uint64_t _iova = (at);                                                          \
                ib_map((c), (ioas), (fd), (off), (len), (flags) | IB_MAP_FIXED_IOVA, &_iova);   \
        })

/* ------------------------------------------------------------------ session */

TEST(hello_reports_protocol_1_and_limits) {
        ib_limits l;
        CONNECT(c);

        ASSERT_EQ(ib_client_protocol_version(c), 1);
        ASSERT_TRUE(strlen(ib_client_server_version(c)) > 0);
        ib_client_get_limits(c, &l);
        ASSERT_TRUE(l.max_message_size >= 4096);
        ASSERT_TRUE(l.max_fds_per_message >= 1);
        ASSERT_TRUE(l.max_requests_in_flight >= 1);
        ASSERT_TRUE(l.max_batch_ops >= 1);
        ib_client_free(c);
}

TEST(caps_names_the_backend) {
        const char *want = tests_option("backend-name");
        ib_caps caps;
        CONNECT(c);

        ASSERT_OK(ib_caps_get(c, &caps));
        ASSERT_STREQ(caps.backend, want ? want : "sim");
        ASSERT_TRUE(caps.page_size >= 4096);
        ib_client_free(c);
}

/* --expect-map-file=yes|no: which path the broker maps memfds with. */
TEST(caps_reports_the_memfd_map_path) {
        const char *want = tests_option("expect-map-file");
        ib_caps caps;
        CONNECT(c);

        if (!want) {
                tests_skip("no --expect-map-file given");
                ib_client_free(c);
                return;
        }
        ASSERT_OK(ib_caps_get(c, &caps));
        ASSERT_EQ(!!(caps.kernel_features & IB_KERNEL_FEATURE_MAP_FILE), strcmp(want, "yes") == 0);
        ib_client_free(c);
}

/* ------------------------------------------------------------------ IOAS */

TEST(ioas_ids_start_at_1_in_every_session) {
        CONNECT(a);
        CONNECT(b);

        ASSERT_EQ(alloc_ioas(a, IB_IOVA_WINDOW_FULL), 1);
        ASSERT_EQ(alloc_ioas(a, IB_IOVA_WINDOW_FULL), 2);
        ASSERT_EQ(alloc_ioas(b, IB_IOVA_WINDOW_FULL), 1);
        ib_client_free(a);
        ib_client_free(b);
}

TEST(ioas_free_unknown_is_enoent) {
        CONNECT(c);

        ASSERT_ERRNO(ENOENT, ib_ioas_free(c, 42));
        ASSERT_TRUE(strstr(ib_client_error(c), "42") != NULL);
        ib_client_free(c);
}

TEST(ioas_free_then_id_is_gone) {
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_TRUE(id > 0);
        ASSERT_OK(ib_ioas_free(c, id));
        ASSERT_ERRNO(ENOENT, ib_ioas_free(c, id));
        ib_client_free(c);
}

TEST(ioas_full_window_offers_ranges) {
        ib_iova_range r[64];
        size_t n = 64;
        uint64_t align = 0;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_iova_ranges(c, id, r, &n, &align));
        ASSERT_TRUE(n >= 1);
        ASSERT_TRUE(align >= 1);
        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(r[i].start <= r[i].last);
        ib_client_free(c);
}

TEST(ioas_32bit_window_ranges_lie_below_4g) {
        ib_iova_range r[64];
        size_t n = 64;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_32BIT);
        ASSERT_TRUE(id > 0);
        ASSERT_OK(ib_iova_ranges(c, id, r, &n, NULL));
        ASSERT_TRUE(n >= 1);
        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(r[i].last < 4 * GiB);
        ib_client_free(c);
}

TEST(ioas_base_max_hint_bounds_ranges) {
        ib_ioas_alloc_args a = { .has_base = true, .base = 256 * MiB, .has_max = true, .max = 512 * MiB - 1 };
        ib_iova_range r[64];
        size_t n = 64;
        uint32_t id;
        CONNECT(c);

        ASSERT_OK(ib_ioas_alloc(c, &a, &id));
        ASSERT_OK(ib_iova_ranges(c, id, r, &n, NULL));
        ASSERT_TRUE(n >= 1);
        for (size_t i = 0; i < n; i++) {
                ASSERT_TRUE(r[i].start >= 256 * MiB);
                ASSERT_TRUE(r[i].last <= 512 * MiB - 1);
        }
        ib_client_free(c);
}

/* Broker decision: a hint that names no usable IOVA is refused before any kernel object stays behind. */
TEST(ioas_hint_base_above_32bit_window_is_erange) {
        ib_ioas_alloc_args a = { .window = IB_IOVA_WINDOW_32BIT, .has_base = true, .base = 5 * GiB };
        uint32_t id;
        CONNECT(c);

        ASSERT_ERRNO(ERANGE, ib_ioas_alloc(c, &a, &id));
        ASSERT_TRUE(strstr(ib_client_error(c), "window") != NULL);
        /* nothing was left behind: the next IOAS is still number 1 */
        ASSERT_EQ(alloc_ioas(c, IB_IOVA_WINDOW_FULL), 1);
        ib_client_free(c);
}

TEST(ioas_hint_max_below_base_is_einval) {
        ib_ioas_alloc_args a = { .has_base = true, .base = 2 * GiB, .has_max = true, .max = 1 * GiB };
        uint32_t id;
        CONNECT(c);

        ASSERT_ERRNO(EINVAL, ib_ioas_alloc(c, &a, &id));
        ib_client_free(c);
}

/* ------------------------------------------------------------------ map / unmap */

TEST(map_fixed_then_same_again_is_eexist) {
        int fd = test_memfd("ram", 2 * MiB);
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_32BIT);
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 2 * MiB, RW, 0x100000));
        ASSERT_ERRNO(EEXIST, MAP_FIXED(c, id, fd, 0, 2 * MiB, RW, 0x100000));
        ASSERT_TRUE(strstr(ib_client_error(c), "overlaps") != NULL);
        /* overlapping by one page is just as refused */
        ASSERT_ERRNO(EEXIST, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x2ff000));
        close(fd);
        ib_client_free(c);
}

TEST(unmap_half_a_mapping_is_enoent_and_keeps_it) {
        int fd = test_memfd("ram", 2 * MiB);
        uint64_t len = 0;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_32BIT);
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 2 * MiB, RW, 0x100000));
        ASSERT_ERRNO(ENOENT, ib_unmap(c, id, 0x100000, 1 * MiB, &len));
        /* the mapping is still whole: the same range is still taken */
        ASSERT_ERRNO(EEXIST, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x100000));
        ASSERT_OK(ib_unmap(c, id, 0x100000, 2 * MiB, &len));
        ASSERT_U64_EQ(len, 2 * MiB);
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x100000));
        close(fd);
        ib_client_free(c);
}

/*
 * Broker decision on top of the kernel's rule: the kernel would unmap the
 * mappings below a cut one before failing; the broker refuses the whole
 * range first, so nothing changes.
 */
TEST(unmap_cutting_a_later_mapping_changes_nothing) {
        int fd = test_memfd("ram", 64 * KiB);
        uint64_t len = 0;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 16 * KiB, RW, 0x10000));
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 16 * KiB, RW, 0x20000));
        ASSERT_ERRNO(ENOENT, ib_unmap(c, id, 0x10000, 0x12000, &len));
        ASSERT_ERRNO(EEXIST, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x10000));
        ASSERT_ERRNO(EEXIST, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x20000));
        ASSERT_OK(ib_unmap(c, id, 0x10000, 0x20000, &len));
        ASSERT_U64_EQ(len, 32 * KiB);
        close(fd);
        ib_client_free(c);
}

/* iova 0, length 2^64-1 is "everything": on an IOAS that never held a mapping it succeeds, unmapping 0 bytes. */
TEST(unmap_all_of_an_empty_ioas_succeeds) {
        uint64_t len = 1;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_unmap(c, id, 0, UINT64_MAX, &len));
        ASSERT_U64_EQ(len, 0);
        ASSERT_OK(ib_unmap(c, id, 0, UINT64_MAX, &len));
        ib_client_free(c);
}

TEST(unmap_where_nothing_is_mapped_is_enoent) {
        uint64_t len;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_ERRNO(ENOENT, ib_unmap(c, id, 0x100000, 4 * KiB, &len));
        ib_client_free(c);
}

TEST(unmap_range_covering_several_mappings_returns_their_sum) {
        int fd = test_memfd("ram", 64 * KiB);
        uint64_t len = 0;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 16 * KiB, RW, 0x10000));
        ASSERT_OK(MAP_FIXED(c, id, fd, 16 * KiB, 16 * KiB, RW, 0x20000));
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x40000));
        ASSERT_OK(ib_unmap(c, id, 0x10000, 0x20000, &len));
        ASSERT_U64_EQ(len, 32 * KiB);
        ASSERT_OK(ib_unmap(c, id, 0, UINT64_MAX, &len));
        ASSERT_U64_EQ(len, 4 * KiB);
        close(fd);
        ib_client_free(c);
}

TEST(map_auto_iova_lands_inside_the_window) {
        ib_ioas_alloc_args a = { .has_base = true, .base = 1 * GiB, .has_max = true, .max = 2 * GiB - 1 };
        int fd = test_memfd("ram", 1 * MiB);
        uint64_t iova = 0, iova2 = 0;
        uint32_t id;
        CONNECT(c);

        ASSERT_OK(ib_ioas_alloc(c, &a, &id));
        ASSERT_OK(ib_map(c, id, fd, 0, 1 * MiB, RW, &iova));
        ASSERT_TRUE(iova >= 1 * GiB && iova + 1 * MiB - 1 <= 2 * GiB - 1);
        ASSERT_OK(ib_map(c, id, fd, 0, 1 * MiB, RW, &iova2));
        ASSERT_TRUE(iova2 >= 1 * GiB && iova2 + 1 * MiB - 1 <= 2 * GiB - 1);
        ASSERT_TRUE(iova2 + 1 * MiB <= iova || iova + 1 * MiB <= iova2);
        close(fd);
        ib_client_free(c);
}

/* Broker decision: the window of an IOAS binds fixed IOVAs too. */
TEST(map_fixed_outside_the_window_is_erange) {
        int fd = test_memfd("ram", 4 * KiB);
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_32BIT);
        ASSERT_ERRNO(ERANGE, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 8 * GiB));
        ASSERT_ERRNO(ERANGE, MAP_FIXED(c, id, fd, 0, 8 * KiB, RW, 4 * GiB - 4 * KiB));
        close(fd);
        ib_client_free(c);
}

/* Broker decisions: page alignment, empty and out-of-file ranges are refused before the kernel. */
TEST(map_bad_ranges_are_einval) {
        int fd = test_memfd("ram", 64 * KiB);
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_ERRNO(EINVAL, MAP_FIXED(c, id, fd, 0, 0, RW, 0x10000));
        ASSERT_ERRNO(EINVAL, MAP_FIXED(c, id, fd, 0, 100, RW, 0x10000));
        ASSERT_ERRNO(EINVAL, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x10001));
        ASSERT_ERRNO(EINVAL, MAP_FIXED(c, id, fd, 512, 4 * KiB, RW, 0x10000));
        ASSERT_ERRNO(EINVAL, MAP_FIXED(c, id, fd, 0, 128 * KiB, RW, 0x10000));
        ASSERT_ERRNO(EINVAL, MAP_FIXED(c, id, fd, 0, 4 * KiB, 0, 0x10000));
        ASSERT_ERRNO(ENOENT, MAP_FIXED(c, 99, fd, 0, 4 * KiB, RW, 0x10000));
        close(fd);
        ib_client_free(c);
}

/* Broker decision: a write seal forbids writeable DMA, whatever the kernel would allow. */
TEST(map_write_sealed_memfd_writeable_is_eperm_readonly_ok) {
        int fd = test_memfd("sealed", 8 * KiB);
        uint32_t id;
        CONNECT(c);

        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_ERRNO(EPERM, MAP_FIXED(c, id, fd, 0, 8 * KiB, RW, 0x10000));
        ASSERT_TRUE(strstr(ib_client_error(c), "sealed") != NULL);
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 8 * KiB, IB_MAP_READABLE, 0x10000));
        close(fd);

        fd = test_memfd("future", 8 * KiB);
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
        ASSERT_ERRNO(EPERM, MAP_FIXED(c, id, fd, 0, 8 * KiB, RW, 0x20000));
        close(fd);
        ib_client_free(c);
}

/*
 * While writable DMA to a memfd may exist (a writable mapping, or a copy of
 * one), the kernel refuses F_SEAL_WRITE (EBUSY): on the mmap path because of
 * the broker's own mapping, on the MAP_FILE path because the broker holds a
 * shared writable mapping of the range for as long as the mapping lives.
 * Without that, the client could seal after the Map and a device attached
 * later would still write.  Once every mapping of it is gone, the seal goes.
 */
TEST(a_writable_mapping_keeps_the_write_seal_away_until_unmapped) {
        int fd = test_memfd("ram", 64 * KiB);
        uint64_t dst = 0x800000;
        uint32_t a, b;
        CONNECT(c);

        a = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        b = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(MAP_FIXED(c, a, fd, 0, 64 * KiB, RW, 0x100000));
        ASSERT_TRUE(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY);
        ASSERT_OK(ib_copy(c, b, a, 0x100000, 64 * KiB, RW | IB_MAP_FIXED_IOVA, &dst));
        ASSERT_OK(ib_unmap(c, a, 0x100000, 64 * KiB, NULL));
        /* the copy is writable DMA to the same pages */
        ASSERT_TRUE(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY);
        ASSERT_OK(ib_unmap(c, b, 0x800000, 64 * KiB, NULL));
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
        /* and now sealed, writable DMA is refused */
        ASSERT_ERRNO(EPERM, MAP_FIXED(c, a, fd, 0, 64 * KiB, RW, 0x100000));
        close(fd);
        ib_client_free(c);
}

/* Broker decision: a read-only fd cannot become writeable DMA. */
TEST(map_readonly_fd_writeable_is_eacces_readonly_ok) {
        char path[64];
        int fd = test_memfd("ram", 8 * KiB), ro;
        uint32_t id;
        CONNECT(c);

        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ro = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(ro >= 0);
        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_ERRNO(EACCES, MAP_FIXED(c, id, ro, 0, 8 * KiB, RW, 0x10000));
        ASSERT_OK(MAP_FIXED(c, id, ro, 0, 8 * KiB, IB_MAP_READABLE, 0x10000));
        close(ro);
        close(fd);
        ib_client_free(c);
}

/* Broker decision: only memfds are guest memory. */
TEST(map_non_memfd_fds_are_ebadf) {
        int sv[2], dir, tmp;
        char tmpl[] = "/tmp/ib-notmemfd.XXXXXX";
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_ERRNO(EBADF, MAP_FIXED(c, id, sv[0], 0, 4 * KiB, RW, 0x10000));
        ASSERT_TRUE(strstr(ib_client_error(c), "socket") != NULL);
        dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_ERRNO(EBADF, MAP_FIXED(c, id, dir, 0, 4 * KiB, RW, 0x10000));
        ASSERT_TRUE(strstr(ib_client_error(c), "directory") != NULL);
        tmp = mkostemp(tmpl, O_CLOEXEC);
        ASSERT_TRUE(tmp >= 0);
        ASSERT_OK(ftruncate(tmp, 4096));
        unlink(tmpl);
        ASSERT_ERRNO(EBADF, MAP_FIXED(c, id, tmp, 0, 4 * KiB, RW, 0x10000));
        close(sv[0]);
        close(sv[1]);
        close(dir);
        close(tmp);
        /* the session still works */
        ASSERT_EQ(alloc_ioas(c, IB_IOVA_WINDOW_FULL), 2);
        ib_client_free(c);
}

/* ------------------------------------------------------------------ copy, allow */

TEST(copy_between_ioases_and_unmapped_source_is_enoent) {
        int fd = test_memfd("ram", 64 * KiB);
        uint64_t dst = 0x800000, len;
        uint32_t a, b;
        CONNECT(c);

        a = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        b = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(MAP_FIXED(c, a, fd, 0, 64 * KiB, RW, 0x100000));
        ASSERT_OK(ib_copy(c, b, a, 0x100000, 64 * KiB, RW | IB_MAP_FIXED_IOVA, &dst));
        ASSERT_U64_EQ(dst, 0x800000);
        ASSERT_ERRNO(EEXIST, ib_copy(c, b, a, 0x100000, 64 * KiB, RW | IB_MAP_FIXED_IOVA, &dst));
        dst = 0x900000;
        ASSERT_ERRNO(ENOENT, ib_copy(c, b, a, 0x400000, 4 * KiB, RW | IB_MAP_FIXED_IOVA, &dst));
        /* the copy lives on after the source mapping is gone */
        ASSERT_OK(ib_unmap(c, a, 0x100000, 64 * KiB, &len));
        ASSERT_OK(ib_unmap(c, b, 0x800000, 64 * KiB, &len));
        ASSERT_U64_EQ(len, 64 * KiB);
        close(fd);
        ib_client_free(c);
}

TEST(allow_iovas_steers_auto_iova_and_window_bounds_it) {
        ib_iova_range allow = { .start = 0x40000000, .last = 0x4fffffff };
        ib_iova_range outside = { .start = 5 * GiB, .last = 6 * GiB - 1 };
        int fd = test_memfd("ram", 64 * KiB);
        uint64_t iova = 0;
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_32BIT);
        ASSERT_OK(ib_allow_iovas(c, id, &allow, 1));
        ASSERT_OK(ib_map(c, id, fd, 0, 64 * KiB, RW, &iova));
        ASSERT_TRUE(iova >= allow.start && iova + 64 * KiB - 1 <= allow.last);
        ASSERT_ERRNO(ERANGE, ib_allow_iovas(c, id, &outside, 1));
        ASSERT_OK(ib_allow_iovas(c, id, NULL, 0));
        close(fd);
        ib_client_free(c);
}

/* ------------------------------------------------------------------ batch, async */

/* A map in b by fd, or by registered memory mem when mem is not 0. */
static int batch_add_map_either(ib_batch *b, uint32_t ioas, int fd, uint32_t mem, uint64_t offset, uint64_t length,
                                unsigned flags, uint64_t iova) {
        return mem ? ib_batch_add_map_mem(b, ioas, mem, offset, length, flags, iova)
                   : ib_batch_add_map(b, ioas, fd, offset, length, flags, iova);
}

/* One result per operation, a failure's sentence, stop_on_error: maps by fd, or by registered memory. */
static void batch_results(bool by_handle) {
        int fd = test_memfd("ram", 64 * KiB);
        ib_batch *b = NULL;
        const char *err = NULL;
        uint64_t v = 0;
        uint32_t id, mem = 0;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        if (by_handle)
                ASSERT_OK(ib_mem_register(c, fd, &mem));
        ASSERT_OK(ib_batch_new(&b));
        ASSERT_EQ(batch_add_map_either(b, id, fd, mem, 0, 16 * KiB, RW | IB_MAP_FIXED_IOVA, 0x10000), 0);
        ASSERT_EQ(batch_add_map_either(b, id, fd, mem, 0, 16 * KiB, RW | IB_MAP_FIXED_IOVA, 0x10000), 1);
        ASSERT_EQ(ib_batch_add_unmap(b, id, 0x10000, 16 * KiB), 2);
        ASSERT_EQ(batch_add_map_either(b, id, fd, mem, 16 * KiB, 16 * KiB, RW, 0x5000), 3);  /* not fixed: IOVA ignored */
        ASSERT_OK(ib_batch_run(c, b, false));
        ASSERT_OK(ib_batch_result(b, 0, &v, NULL));
        ASSERT_U64_EQ(v, 0x10000);
        ASSERT_ERRNO(EEXIST, ib_batch_result(b, 1, &v, &err));
        ASSERT_TRUE(err && strstr(err, "overlaps"));
        ASSERT_U64_EQ(v, 0);
        ASSERT_OK(ib_batch_result(b, 2, &v, NULL));
        ASSERT_U64_EQ(v, 16 * KiB);
        ASSERT_OK(ib_batch_result(b, 3, &v, NULL));
        ASSERT_TRUE(v != 0);
        /* an operation added after the run has no result until the next run; the others keep theirs */
        ASSERT_EQ(ib_batch_add_unmap(b, id, 0, UINT64_MAX), 4);
        ASSERT_ERRNO(EINVAL, ib_batch_result(b, 4, &v, NULL));
        ASSERT_ERRNO(EEXIST, ib_batch_result(b, 1, NULL, &err));
        ASSERT_TRUE(err && strstr(err, "overlaps"));
        /* run again: every result is the new run's; the last unmaps all that the two runs left */
        ASSERT_OK(ib_batch_run(c, b, false));
        ASSERT_OK(ib_batch_result(b, 0, &v, NULL));
        ASSERT_U64_EQ(v, 0x10000);
        ASSERT_OK(ib_batch_result(b, 4, &v, &err));
        ASSERT_TRUE(err == NULL);
        ASSERT_TRUE(v >= 16 * KiB);

        /* stop on error: what follows the failure is not run */
        ib_batch_free(b);
        ASSERT_OK(ib_batch_new(&b));
        ib_batch_add_unmap(b, id, 0x700000, 4 * KiB);
        batch_add_map_either(b, id, fd, mem, 0, 4 * KiB, RW | IB_MAP_FIXED_IOVA, 0x700000);
        ASSERT_OK(ib_batch_run(c, b, true));
        ASSERT_ERRNO(ENOENT, ib_batch_result(b, 0, NULL, NULL));
        ASSERT_ERRNO(ECANCELED, ib_batch_result(b, 1, NULL, &err));
        ASSERT_TRUE(err && *err);
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x700000));
        ib_batch_free(b);
        close(fd);
        ib_client_free(c);
}

TEST(batch_gives_one_result_per_operation) {
        batch_results(false);
}

/* By registered memory the library sends the batch packed (FEATURE_BATCH_PACKED): the same results. */
TEST(batch_by_handle_gives_the_same_results_packed) {
        batch_results(true);
}

typedef struct AsyncCount {
        int done;
        int failed;
        uint64_t iova[8];
} AsyncCount;

static void on_async(ib_client *c, const ib_result *res, void *userdata) {
        AsyncCount *a = userdata;

        if (res->error < 0)
                a->failed++;
        else if (a->done < 8)
                a->iova[a->done] = res->iova;
        a->done++;
}

TEST(async_requests_complete_in_order_from_process) {
        int fd = test_memfd("ram", 64 * KiB);
        AsyncCount a = {};
        uint32_t id;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        for (int i = 0; i < 8; i++)
                ASSERT_OK(ib_map_async(c, id, fd, 0, 4 * KiB, RW | IB_MAP_FIXED_IOVA, 0x100000 + (uint64_t) i * 0x1000,
                                       on_async, &a));
        ASSERT_TRUE(ib_client_pending(c) == 8);
        for (int spins = 0; a.done < 8 && spins < 100000; spins++)
                ASSERT_TRUE(ib_client_process(c) >= 0);
        ASSERT_EQ(a.done, 8);
        ASSERT_EQ(a.failed, 0);
        for (int i = 0; i < 8; i++)
                ASSERT_U64_EQ(a.iova[i], 0x100000 + (uint64_t) i * 0x1000);
        close(fd);
        ib_client_free(c);
}

/* ------------------------------------------------------------------ isolation and lifetime */

TEST(another_session_cannot_touch_my_ioas) {
        int fd = test_memfd("ram", 4 * KiB);
        uint64_t len;
        uint32_t id;
        CONNECT(a);
        CONNECT(b);

        id = alloc_ioas(a, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(MAP_FIXED(a, id, fd, 0, 4 * KiB, RW, 0x10000));
        /* B names the same id: in B's own context there is no such IOAS */
        ASSERT_ERRNO(ENOENT, ib_unmap(b, id, 0x10000, 4 * KiB, &len));
        ASSERT_ERRNO(ENOENT, ib_ioas_free(b, id));
        ASSERT_ERRNO(EEXIST, MAP_FIXED(a, id, fd, 0, 4 * KiB, RW, 0x10000));
        ASSERT_OK(ib_unmap(a, id, 0x10000, 4 * KiB, &len));
        close(fd);
        ib_client_free(a);
        ib_client_free(b);
}

static int counters(ib_client *c, uint64_t *mapped, uint64_t *objects, uint64_t *sessions) {
        ib_caps caps;
        int r = ib_caps_get(c, &caps);

        if (r < 0)
                return r;
        if (!caps.has_counters)
                return -EPERM;
        *mapped = caps.mapped_bytes;
        *objects = caps.objects;
        *sessions = caps.sessions;
        return 0;
}

TEST(disconnect_releases_everything_the_session_held) {
        uint64_t m0 = 0, o0 = 0, s0 = 0, m1, o1, s1, m2 = 0, o2 = 0, s2 = 0;
        int fd = test_memfd("ram", 1 * MiB);
        CONNECT(watch);

        if (counters(watch, &m0, &o0, &s0) == -EPERM) {
                tests_skip("the broker shows its counters to root and its own uid only");
                ib_client_free(watch);
                close(fd);
                return;
        }
        {
                CONNECT(c);
                uint32_t id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);

                ASSERT_OK(MAP_FIXED(c, id, fd, 0, 1 * MiB, RW, 0x100000));
                ASSERT_OK(MAP_FIXED(c, id, fd, 0, 512 * KiB, IB_MAP_READABLE, 0x400000));
                ASSERT_OK(counters(watch, &m1, &o1, &s1));
                ASSERT_U64_EQ(m1, m0 + 1 * MiB + 512 * KiB);
                ASSERT_U64_EQ(o1, o0 + 1);
                ASSERT_U64_EQ(s1, s0 + 1);
                ib_client_free(c);
        }
        /* the broker notices the hang-up on its next loop turn */
        for (int i = 0; i < 200; i++) {
                ASSERT_OK(counters(watch, &m2, &o2, &s2));
                if (s2 == s0)
                        break;
                usleep(10000);
        }
        ASSERT_U64_EQ(m2, m0);
        ASSERT_U64_EQ(o2, o0);
        ASSERT_U64_EQ(s2, s0);
        close(fd);
        ib_client_free(watch);
}

TEST(thousand_map_unmap_cycles_leave_no_drift) {
        uint64_t m0 = 0, o0 = 0, s0 = 0, m1, o1, s1, len;
        int fd = test_memfd("ram", 64 * KiB);
        bool have = false;
        uint32_t id;
        CONNECT(c);

        have = counters(c, &m0, &o0, &s0) == 0;
        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        for (int i = 0; i < 1000; i++) {
                uint64_t iova = 0;

                ASSERT_OK(ib_map(c, id, fd, 0, 64 * KiB, RW, &iova));
                ASSERT_OK(ib_unmap(c, id, iova, 64 * KiB, &len));
                ASSERT_U64_EQ(len, 64 * KiB);
        }
        if (have) {
                ASSERT_OK(counters(c, &m1, &o1, &s1));
                ASSERT_U64_EQ(m1, m0);
                ASSERT_U64_EQ(o1, o0 + 1);
        }
        close(fd);
        ib_client_free(c);
}

/* ------------------------------------------------------------------ registered memory */

#define MAP_MEM_FIXED(c, ioas, mem, off, len, flags, at)                                                \
        ({                                                                                              \
                uint64_t _ret;                                                                          \
                ib_map_mem((c), (ioas), (mem), (off), (len), (flags) | IB_MAP_FIXED_IOVA, (at), &_ret); \
        })

/* A map by handle is the map by fd: same range, same IOVA, same overlap; the client's fd may go. */
TEST(map_by_mem_acts_as_map_by_fd) {
        int fd = test_memfd("ram", 2 * MiB);
        uint64_t iova = 0, len = 0;
        uint32_t id, mem = 0, mem2 = 0;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_32BIT);
        ASSERT_OK(ib_mem_register(c, fd, &mem));
        ASSERT_TRUE(mem != 0);
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 0, 2 * MiB, RW, 0x100000));
        ASSERT_ERRNO(EEXIST, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x1ff000));
        ASSERT_OK(MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x300000));
        ASSERT_ERRNO(EEXIST, MAP_MEM_FIXED(c, id, mem, 0, 4 * KiB, RW, 0x300000));
        /* the broker keeps its own reference: the client's fd may be closed */
        close(fd);
        ASSERT_OK(ib_map_mem(c, id, mem, 1 * MiB, 64 * KiB, IB_MAP_READABLE, 0, &iova));
        ASSERT_TRUE(iova + 64 * KiB <= 4 * GiB);
        ASSERT_OK(ib_unmap(c, id, 0x100000, 2 * MiB, &len));
        ASSERT_U64_EQ(len, 2 * MiB);
        /* the same checks as Map: alignment, zero length */
        ASSERT_ERRNO(EINVAL, MAP_MEM_FIXED(c, id, mem, 1, 4 * KiB, RW, 0x100000));
        ASSERT_ERRNO(EINVAL, MAP_MEM_FIXED(c, id, mem, 0, 0, RW, 0x100000));
        /* a second registration of the same memory is a new handle */
        fd = test_memfd("ram2", 4 * KiB);
        ASSERT_OK(ib_mem_register(c, fd, &mem2));
        ASSERT_TRUE(mem2 != mem);
        close(fd);
        ib_client_free(c);
}

/* Broker decision: seals are read again at every map, so one added after MemRegister counts. */
TEST(map_by_mem_sees_write_seals_added_after_register) {
        int fd = test_memfd("sealed", 64 * KiB);
        uint32_t id, mem = 0;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_mem_register(c, fd, &mem));
        /* sealed after MemRegister, before any map (a broker mmap of it could keep the seal away) */
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 0, 4 * KiB, IB_MAP_READABLE, 0x10000));
        ASSERT_ERRNO(EPERM, MAP_MEM_FIXED(c, id, mem, 4 * KiB, 4 * KiB, RW, 0x20000));
        ASSERT_TRUE(strstr(ib_client_error(c), "sealed") != NULL);
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 4 * KiB, 4 * KiB, IB_MAP_READABLE, 0x20000));
        /* frozen seals (F_SEAL_SEAL) say the same */
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
        ASSERT_ERRNO(EPERM, MAP_MEM_FIXED(c, id, mem, 8 * KiB, 4 * KiB, RW, 0x30000));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 8 * KiB, 4 * KiB, IB_MAP_READABLE, 0x30000));
        close(fd);

        fd = test_memfd("future", 8 * KiB);
        ASSERT_OK(ib_mem_register(c, fd, &mem));
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
        ASSERT_ERRNO(EPERM, MAP_MEM_FIXED(c, id, mem, 0, 8 * KiB, RW, 0x40000));
        close(fd);
        ib_client_free(c);
}

/*
 * The writable mappings of one registration share one seal guard, made by
 * the first and held by the registration: from the first writable Map by
 * handle on, the seal stays away while the registration or any writable
 * mapping of it (or a Copy of one) lives, and comes back once all are gone.
 * Maps and unmaps by handle then cost no mmap or munmap each.
 */
TEST(a_registration_mapped_writable_keeps_the_write_seal_away_until_all_are_gone) {
        int fd = test_memfd("ram", 64 * KiB);
        uint64_t dst = 0x800000;
        uint32_t a, b, mem = 0;
        ib_caps caps;
        CONNECT(c);

        a = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        b = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_mem_register(c, fd, &mem));
        ASSERT_OK(MAP_MEM_FIXED(c, a, mem, 0, 4 * KiB, RW, 0x10000));
        ASSERT_OK(MAP_MEM_FIXED(c, a, mem, 32 * KiB, 4 * KiB, RW, 0x20000));
        ASSERT_TRUE(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY);
        ASSERT_OK(ib_unmap(c, a, 0x10000, 4 * KiB, NULL));
        ASSERT_OK(ib_unmap(c, a, 0x20000, 4 * KiB, NULL));
        /* no mapping left, the registration still holds it (MAP_FILE path: the mmap path has no guard) */
        ASSERT_OK(ib_caps_get(c, &caps));
        if (caps.kernel_features & IB_KERNEL_FEATURE_MAP_FILE)
                ASSERT_TRUE(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY);
        ASSERT_OK(MAP_MEM_FIXED(c, a, mem, 4 * KiB, 4 * KiB, RW, 0x10000));
        /* a copy keeps it past the unregistration and the unmap of its source */
        ASSERT_OK(ib_copy(c, b, a, 0x10000, 4 * KiB, RW | IB_MAP_FIXED_IOVA, &dst));
        ASSERT_OK(ib_mem_unregister(c, mem));
        ASSERT_OK(ib_unmap(c, a, 0x10000, 4 * KiB, NULL));
        ASSERT_TRUE(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY);
        ASSERT_OK(ib_unmap(c, b, 0x800000, 4 * KiB, NULL));
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
        close(fd);
        ib_client_free(c);
}

/* Broker decision: the size is read again at every map; the range must lie inside it then. */
TEST(map_by_mem_sees_the_size_now) {
        int fd = test_memfd("ram", 64 * KiB);
        uint32_t id, mem = 0;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_mem_register(c, fd, &mem));
        ASSERT_OK(ftruncate(fd, 16 * KiB));
        ASSERT_ERRNO(EINVAL, MAP_MEM_FIXED(c, id, mem, 16 * KiB, 16 * KiB, RW, 0x10000));
        ASSERT_TRUE(strstr(ib_client_error(c), "beyond the end") != NULL);
        ASSERT_ERRNO(EINVAL, MAP_MEM_FIXED(c, id, mem, 12 * KiB, 8 * KiB, RW, 0x10000));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 0, 16 * KiB, RW, 0x10000));
        /* grown again: the new end counts */
        ASSERT_OK(ftruncate(fd, 128 * KiB));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 64 * KiB, 64 * KiB, RW, 0x100000));
        /* F_SEAL_SHRINK: the size can only grow, a map inside it needs no new look */
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 16 * KiB, 16 * KiB, RW, 0x200000));
        ASSERT_ERRNO(EINVAL, MAP_MEM_FIXED(c, id, mem, 128 * KiB, 4 * KiB, RW, 0x300000));
        ASSERT_OK(ftruncate(fd, 256 * KiB));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 128 * KiB, 4 * KiB, RW, 0x300000));
        close(fd);
        ib_client_free(c);
}

/* Broker decisions, checked once at MemRegister: a memfd, and its access mode for each map. */
TEST(mem_register_checks_kind_once_and_access_mode_per_map) {
        int sv[2], fd = test_memfd("ram", 8 * KiB), ro;
        char path[64];
        uint32_t id, mem = 0;
        CONNECT(c);

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_ERRNO(EBADF, ib_mem_register(c, sv[0], &mem));
        ASSERT_TRUE(strstr(ib_client_error(c), "not a memfd") != NULL);
        close(sv[0]);
        close(sv[1]);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ro = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(ro >= 0);
        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_mem_register(c, ro, &mem));
        ASSERT_ERRNO(EACCES, MAP_MEM_FIXED(c, id, mem, 0, 8 * KiB, RW, 0x10000));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 0, 8 * KiB, IB_MAP_READABLE, 0x10000));
        close(ro);
        close(fd);
        ib_client_free(c);
}

/*
 * Broker decision: MemUnregister drops the broker's reference and nothing
 * else.  As with close() of a memfd after IOMMU_IOAS_MAP_FILE, mappings made
 * from it keep their memory; the handle names nothing any more.
 */
TEST(mem_unregister_keeps_mappings_and_retires_the_handle) {
        int fd = test_memfd("ram", 64 * KiB);
        uint32_t id, mem = 0, again = 0;
        uint64_t len = 0;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_mem_register(c, fd, &mem));
        ASSERT_OK(MAP_MEM_FIXED(c, id, mem, 0, 64 * KiB, RW, 0x100000));
        ASSERT_OK(ib_mem_unregister(c, mem));
        ASSERT_ERRNO(ENOENT, MAP_MEM_FIXED(c, id, mem, 0, 4 * KiB, RW, 0x200000));
        ASSERT_ERRNO(ENOENT, ib_mem_unregister(c, mem));
        /* the mapping made from it is still there, whole */
        ASSERT_ERRNO(EEXIST, MAP_FIXED(c, id, fd, 0, 4 * KiB, RW, 0x100000));
        ASSERT_OK(ib_unmap(c, id, 0x100000, 64 * KiB, &len));
        ASSERT_U64_EQ(len, 64 * KiB);
        /* handles are never handed out again in the session */
        ASSERT_OK(ib_mem_register(c, fd, &again));
        ASSERT_TRUE(again != mem);
        close(fd);
        ib_client_free(c);
}

TEST(mem_handles_mean_nothing_in_another_session) {
        int fd = test_memfd("ram", 4 * KiB);
        uint32_t ia, ib, mem = 0;
        CONNECT(a);
        CONNECT(b);

        ia = alloc_ioas(a, IB_IOVA_WINDOW_FULL);
        ib = alloc_ioas(b, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_mem_register(a, fd, &mem));
        ASSERT_ERRNO(ENOENT, MAP_MEM_FIXED(b, ib, mem, 0, 4 * KiB, RW, 0x10000));
        ASSERT_ERRNO(ENOENT, ib_mem_unregister(b, mem));
        ASSERT_OK(MAP_MEM_FIXED(a, ia, mem, 0, 4 * KiB, RW, 0x10000));
        close(fd);
        ib_client_free(a);
        ib_client_free(b);
}

TEST(batch_maps_by_mem_carry_no_fd) {
        int fd = test_memfd("ram", 1 * MiB);
        ib_batch *bt = NULL;
        uint64_t v = 0;
        uint32_t id, mem = 0;
        CONNECT(c);

        id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
        ASSERT_OK(ib_mem_register(c, fd, &mem));
        close(fd);
        ASSERT_OK(ib_batch_new(&bt));
        for (int i = 0; i < 64; i++)
                ASSERT_EQ(ib_batch_add_map_mem(bt, id, mem, (uint64_t) i * 4 * KiB, 4 * KiB, RW | IB_MAP_FIXED_IOVA,
                                               0x100000 + (uint64_t) i * 4 * KiB), i);
        ASSERT_EQ(ib_batch_add_map_mem(bt, id, mem + 1000, 0, 4 * KiB, RW, 0), 64);
        ASSERT_OK(ib_batch_run(c, bt, false));
        for (int i = 0; i < 64; i++) {
                ASSERT_OK(ib_batch_result(bt, (size_t) i, &v, NULL));
                ASSERT_U64_EQ(v, 0x100000 + (uint64_t) i * 4 * KiB);
        }
        ASSERT_ERRNO(ENOENT, ib_batch_result(bt, 64, NULL, NULL));
        ib_batch_free(bt);
        ib_client_free(c);
}

static void on_queued(ib_client *c, const ib_result *res, void *userdata) {
        AsyncCount *a = userdata;

        if (res->error < 0)
                a->failed++;
        a->done++;
}

/*
 * Far more queued maps than the process has fds: by handle they hold none,
 * by fd they share one duplicate of the memfd.  Bounded by the broker's
 * in-flight limit on the wire and by memory in the queue.  In a child with
 * RLIMIT_NOFILE lowered to 256.
 */
TEST(queued_maps_are_not_bounded_by_the_fd_limit) {
        enum { N = 1500 };
        pid_t pid;
        int status = 0;

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                struct rlimit rl = { .rlim_cur = 256, .rlim_max = 256 };
                AsyncCount a = {};
                ib_client *c = NULL;
                uint32_t id, mem = 0;
                int fd, r = 0;

                if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || !(c = connect_client()))
                        _exit(2);
                fd = test_memfd("ram", 4 * KiB);
                id = alloc_ioas(c, IB_IOVA_WINDOW_FULL);
                if (fd < 0 || id == 0 || ib_mem_register(c, fd, &mem) < 0)
                        _exit(3);
                for (int i = 0; i < N && r >= 0; i++)
                        r = ib_map_mem_async(c, id, mem, 0, 4 * KiB, RW, 0, on_queued, &a);
                for (int i = 0; i < N && r >= 0; i++)
                        r = ib_map_async(c, id, fd, 0, 4 * KiB, RW, 0, on_queued, &a);
                if (r < 0) {
                        printf("# queueing failed: %s (%s)\n", strerror(-r), ib_client_error(c));
                        _exit(4);
                }
                if (ib_client_pending(c) < N)
                        _exit(5);
                while (a.done < 2 * N && r >= 0) {
                        struct pollfd p = { .fd = ib_client_get_fd(c), .events = (short) ib_client_get_events(c) };

                        r = poll(&p, 1, 10000);
                        if (r > 0)
                                r = ib_client_process(c);
                        else if (r == 0)
                                r = -ETIMEDOUT;
                }
                if (a.failed > 0 || a.done != 2 * N) {
                        printf("# %d of %d maps done, %d failed: %s\n", a.done, 2 * N, a.failed, ib_client_error(c));
                        _exit(6);
                }
                ib_client_free(c);
                _exit(0);
        }
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
}

static int setup(void) {
        const char *sock = tests_option("socket");

        if (sock) {
                test_broker_attach(&broker, sock);
                return 0;
        }
        return test_broker_start(&broker, tests_option("daemon-args"));
}

static void teardown(void) {
        int r = test_broker_stop(&broker);

        if (r != 0)
                printf("# the broker exited with status %d\n", r);
}

TESTS_MAIN(setup, teardown)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-units.c - unit tests of the small pieces: intervals, accounts,
 * fd lists, errno names, the codec's limits, spare records and a call's
 * scratch memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/errno-name.h"
#include "common/protocol.h"
#include "core/call.h"
#include "object/account.h"
#include "tests/lib/tests.h"
#include "util/interval.h"
#include "util/spares.h"
#include "wire/codec.h"
#include "wire/fdlist.h"

TEST(iova_last_rejects_empty_and_overflowing_ranges) {
        uint64_t last = 0;

        ASSERT_ERRNO(EINVAL, iova_last(0x1000, 0, &last));
        ASSERT_ERRNO(EOVERFLOW, iova_last(UINT64_MAX, 2, &last));
        ASSERT_OK(iova_last(UINT64_MAX, 1, &last));
        ASSERT_U64_EQ(last, UINT64_MAX);
        ASSERT_OK(iova_last(0x1000, 0x1000, &last));
        ASSERT_U64_EQ(last, 0x1fff);
}

TEST(iova_ranges_intersect_cuts_to_both_sets) {
        IovaRange a[] = { { 0, 0xfedfffff }, { 0xfef00000, 0xffffffffffff } };
        IovaRange b[] = { { 0x100000, 0xffffffff } };
        IovaRange out[4];
        int n;

        n = iova_ranges_intersect(a, 2, b, 1, out, 4);
        ASSERT_EQ(n, 2);
        ASSERT_U64_EQ(out[0].start, 0x100000);
        ASSERT_U64_EQ(out[0].last, 0xfedfffff);
        ASSERT_U64_EQ(out[1].start, 0xfef00000);
        ASSERT_U64_EQ(out[1].last, 0xffffffff);
        ASSERT_ERRNO(ENOBUFS, iova_ranges_intersect(a, 2, b, 1, out, 1));
        ASSERT_EQ(iova_ranges_intersect(a, 2, (IovaRange[]) { { 0xfee00000, 0xfeefffff } }, 1, out, 4), 0);
}

TEST(iova_ranges_normalize_sorts_and_refuses_overlap) {
        IovaRange r[] = { { 0x3000, 0x3fff }, { 0x1000, 0x1fff } };
        IovaRange bad[] = { { 0x1000, 0x2fff }, { 0x2000, 0x3fff } };
        IovaRange backwards[] = { { 0x2000, 0x1000 } };

        ASSERT_OK(iova_ranges_normalize(r, 2));
        ASSERT_U64_EQ(r[0].start, 0x1000);
        ASSERT_ERRNO(EINVAL, iova_ranges_normalize(bad, 2));
        ASSERT_ERRNO(EINVAL, iova_ranges_normalize(backwards, 1));
        ASSERT_TRUE(iova_ranges_contain(r, 2, 0x3000, 0x3fff));
        ASSERT_TRUE(!iova_ranges_contain(r, 2, 0x1000, 0x3fff));
}

TEST(charges_stop_at_the_tightest_limit_and_return_to_zero) {
        Account broker, session;
        Charge a = CHARGE_NULL, b = CHARGE_NULL, c = CHARGE_NULL;
        const Account *over = NULL;

        account_init(&broker, "broker", NULL);
        account_init(&session, "session 1", &broker);
        broker.limit[ACCOUNT_MAPPED_BYTES] = 100;
        ASSERT_OK(charge_take(&a, &session, ACCOUNT_MAPPED_BYTES, 60, &over));
        ASSERT_ERRNO(EDQUOT, charge_take(&b, &session, ACCOUNT_MAPPED_BYTES, 41, &over));
        ASSERT_TRUE(over == &broker);
        ASSERT_U64_EQ(session.used[ACCOUNT_MAPPED_BYTES], 60);
        ASSERT_OK(charge_take(&c, &session, ACCOUNT_MAPPED_BYTES, 40, &over));
        ASSERT_U64_EQ(broker.used[ACCOUNT_MAPPED_BYTES], 100);
        charge_release(&a);
        charge_release(&c);
        charge_release(&b);     /* never taken: a no-op */
        ASSERT_U64_EQ(session.used[ACCOUNT_MAPPED_BYTES], 0);
        ASSERT_U64_EQ(broker.used[ACCOUNT_MAPPED_BYTES], 0);
        ASSERT_ERRNO(EDQUOT, charge_take(&a, &session, ACCOUNT_MAPPED_BYTES, UINT64_MAX, &over));
}

TEST(fdlist_closes_what_nobody_took) {
        int p[2], fds[2];
        FdList *l = NULL;
        int taken;

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        fds[0] = p[0];
        fds[1] = p[1];
        ASSERT_OK(fdlist_new(fds, 2, &l));
        ASSERT_EQ(fdlist_count(l), 2);
        ASSERT_EQ(fdlist_get(l, 5), -1);
        taken = fdlist_take(l, 1);
        ASSERT_EQ(taken, p[1]);
        ASSERT_EQ(fdlist_take(l, 1), -1);
        fdlist_free(l);
        ASSERT_TRUE(fcntl(p[0], F_GETFD) < 0 && errno == EBADF);
        ASSERT_TRUE(fcntl(taken, F_GETFD) >= 0);
        close(taken);
}

TEST(fdlist_of_no_fds_is_the_empty_list) {
        FdList *l = (FdList *) 1;

        ASSERT_OK(fdlist_new(NULL, 0, &l));
        ASSERT_TRUE(l == NULL);
        ASSERT_EQ(fdlist_count(l), 0);
        ASSERT_EQ(fdlist_get(l, 0), -1);
        ASSERT_EQ(fdlist_take(l, 0), -1);
        ASSERT_TRUE(fdlist_free(l) == NULL);
}

#ifdef __SANITIZE_ADDRESS__
int __asan_address_is_poisoned(void const volatile *addr);
#endif

typedef struct Rec {
        uint64_t a, b, c;
} Rec;

TEST(spares_are_reused_newest_first_and_bounded) {
        Spares s = SPARES_INIT(Rec, 2);
        Rec *r[3], *again;

        for (size_t i = 0; i < 3; i++) {
                r[i] = spares_get(&s);
                ASSERT_TRUE(r[i] != NULL);
                *r[i] = (Rec) { i, i, i };
        }
        ASSERT_EQ(s.n, 0);
        spares_put(&s, r[0]);
        spares_put(&s, r[1]);
        spares_put(&s, r[2]);           /* past max: freed */
        spares_put(&s, NULL);
        ASSERT_EQ(s.n, 2);
#ifdef __SANITIZE_ADDRESS__
        /* a spare's fields are poisoned while it waits (a use after the put is reported), but for the link at its end */
        ASSERT_TRUE(__asan_address_is_poisoned(&r[1]->a) && __asan_address_is_poisoned(&r[1]->b));
        ASSERT_TRUE(!__asan_address_is_poisoned(&r[1]->c));
#endif
        again = spares_get(&s);
        ASSERT_TRUE(again == r[1]);
#ifdef __SANITIZE_ADDRESS__
        ASSERT_TRUE(!__asan_address_is_poisoned(&again->a));
#endif
        ASSERT_EQ(s.n, 1);
        spares_put(&s, again);
        spares_clear(&s);
        ASSERT_EQ(s.n, 0);
        ASSERT_TRUE(s.head == NULL);
        again = spares_get(&s);         /* none kept: a fresh block */
        ASSERT_TRUE(again != NULL);
        free(again);
}

TEST(call_alloc_uses_its_scratch_first_zeroed_and_aligned_then_the_heap) {
        uint8_t *small[3], *big;
        Call c;

        memset(&c, 0xa5, sizeof(c));    /* call_init() leaves the arrays as they are */
        call_init(&c, NULL);
        for (size_t i = 0; i < 3; i++) {
                small[i] = call_alloc(&c, 40);
                ASSERT_TRUE(small[i] != NULL);
                ASSERT_TRUE((uintptr_t) small[i] % _Alignof(max_align_t) == 0);
                ASSERT_TRUE(small[i] >= (uint8_t *) c.scratch && small[i] + 40 <= (uint8_t *) c.scratch + sizeof(c.scratch));
                for (size_t k = 0; k < 40; k++)
                        ASSERT_EQ(small[i][k], 0);
                memset(small[i], 0xff, 40);
        }
        ASSERT_TRUE(small[1] - small[0] >= 40 && small[2] - small[1] >= 40);
        big = call_alloc(&c, sizeof(c.scratch));        /* does not fit what is left: the heap */
        ASSERT_TRUE(big != NULL);
        ASSERT_TRUE(big < (uint8_t *) c.scratch || big >= (uint8_t *) c.scratch + sizeof(c.scratch));
        for (size_t k = 0; k < sizeof(c.scratch); k++)
                ASSERT_EQ(big[k], 0);
        ASSERT_TRUE(call_alloc(&c, SIZE_MAX - 4) == NULL);
        call_done(&c);
        ASSERT_TRUE(call_alloc_uninit(&c, 16) == (void *) c.scratch);   /* done: the scratch is free again */
        call_done(&c);
}

TEST(errno_names_round_trip) {
        ASSERT_STREQ(errno_to_name(EEXIST), "EEXIST");
        ASSERT_STREQ(errno_to_name(-EDQUOT), "EDQUOT");
        ASSERT_EQ(errno_from_name("ENOENT"), ENOENT);
        ASSERT_EQ(errno_from_name("ENOTANERRNO"), 0);
        ASSERT_TRUE(errno_to_name(100000) == NULL);
}

TEST(codec_refuses_oversized_and_garbage_and_keeps_ids) {
        Ib__V1__Request req = IB__V1__REQUEST__INIT, *out = NULL;
        Ib__V1__HelloRequest hello = IB__V1__HELLO_REQUEST__INIT;
        uint8_t buf[256], junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
        static uint8_t big[IB_MAX_MESSAGE_SIZE + 1];
        size_t n;

        req.id = 77;
        hello.protocol_version = 1;
        req.verb_case = IB__V1__REQUEST__VERB_HELLO;
        req.hello = &hello;
        n = ib__v1__request__pack(&req, buf);
        ASSERT_OK(codec_decode_request(buf, n, &out));
        ASSERT_U64_EQ(out->id, 77);
        ASSERT_EQ(out->verb_case, IB__V1__REQUEST__VERB_HELLO);
        codec_request_free(out);
        ASSERT_ERRNO(EBADMSG, codec_decode_request(junk, sizeof(junk), &out));
        ASSERT_ERRNO(EBADMSG, codec_decode_request(buf, n - 1, &out));
        ASSERT_ERRNO(EMSGSIZE, codec_decode_request(big, sizeof(big), &out));
}

TESTS_MAIN(NULL, NULL)

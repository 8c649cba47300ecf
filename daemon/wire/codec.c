/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec.c - see codec.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/pb-arena.h"
#include "common/pb-fast.h"
#include "common/protocol.h"
#include "wire/codec.h"

int codec_decode_request(const uint8_t *data, size_t size, Ib__V1__Request **ret) {
        Ib__V1__Request *req;

        if (size > IB_MAX_MESSAGE_SIZE)
                return -EMSGSIZE;
        req = pb_fast_request_unpack(data, size);
        if (!req)
                req = pb_arena_unpack(&ib__v1__request__descriptor, size, data);
        if (!req)
                return -EBADMSG;
        *ret = req;
        return 0;
}

void codec_request_free(Ib__V1__Request *req) {
        pb_arena_free(req);
}

int codec_encode_reply_to(const Ib__V1__Reply *reply, uint8_t *buf, size_t buf_size, uint8_t **ret,
                          size_t *ret_size) {
        size_t size = pb_fast_reply_size(reply);
        bool fast = size > 0;
        uint8_t *out = buf;

        if (!fast)
                size = ib__v1__reply__get_packed_size(reply);
        if (size > IB_MAX_MESSAGE_SIZE)
                return -EMSGSIZE;
        if (!buf || size > buf_size) {
                out = malloc(size ? size : 1);
                if (!out)
                        return -ENOMEM;
        }
        *ret_size = fast ? pb_fast_reply_pack(reply, size, out) : ib__v1__reply__pack(reply, out);
        *ret = out;
        return 0;
}

int codec_encode_reply(const Ib__V1__Reply *reply, uint8_t **ret, size_t *ret_size) {
        return codec_encode_reply_to(reply, NULL, 0, ret, ret_size);
}

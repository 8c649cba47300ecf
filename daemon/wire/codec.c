/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec.c - see codec.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/pb-arena.h"
#include "common/protocol.h"
#include "wire/codec.h"

int codec_decode_request(const uint8_t *data, size_t size, Ib__V1__Request **ret) {
        Ib__V1__Request *req;

        if (size > IB_MAX_MESSAGE_SIZE)
                return -EMSGSIZE;
        req = pb_arena_unpack(&ib__v1__request__descriptor, size, data);
        if (!req)
                return -EBADMSG;
        *ret = req;
        return 0;
}

void codec_request_free(Ib__V1__Request *req) {
        pb_arena_free(req);
}

int codec_encode_reply(const Ib__V1__Reply *reply, uint8_t **ret, size_t *ret_size) {
        size_t size = ib__v1__reply__get_packed_size(reply);
        uint8_t *buf;

        if (size > IB_MAX_MESSAGE_SIZE)
                return -EMSGSIZE;
        buf = malloc(size ? size : 1);
        if (!buf)
                return -ENOMEM;
        *ret_size = ib__v1__reply__pack(reply, buf);
        *ret = buf;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec.h - protocol v1 messages in and out of their wire form.
 *
 * Owns: unpacking a Request and packing a Reply (the hot messages by hand,
 * common/pb-fast.h, the rest and the odd ones by protobuf-c), with the size
 * limit of common/protocol.h checked in one place, both ways.
 * Must never: look at what a request asks for, or log above debug.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto/broker.pb-c.h"

/*
 * -EMSGSIZE above the limit, -EBADMSG if it is not a Request (or no memory).
 * A request may set no verb.  Unpacked into one block (common/pb-arena.h):
 * free it with codec_request_free() only.
 */
int codec_decode_request(const uint8_t *data, size_t size, Ib__V1__Request **ret);
void codec_request_free(Ib__V1__Request *req);

/* Packs into a new buffer; -EMSGSIZE if the reply would exceed the limit. */
int codec_encode_reply(const Ib__V1__Reply *reply, uint8_t **ret, size_t *ret_size);
/* The same into buf when the reply fits its buf_size bytes (*ret == buf), else into a new buffer. */
int codec_encode_reply_to(const Ib__V1__Reply *reply, uint8_t *buf, size_t buf_size, uint8_t **ret,
                          size_t *ret_size);

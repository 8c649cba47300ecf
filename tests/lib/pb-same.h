/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pb-same.h - two protobuf-c messages compared field by field.
 *
 * Owns: the one comparison the hand-written codec's tests use
 * (tests/unit/test-pb-fast.c, tests/fuzz/fuzz-pb-fast.c): walked by the
 * descriptors, so that every field counts, the values of absent optional
 * fields (their defaults) and the has_ flags included, and unknown fields
 * by number.
 * Must never: be linked into the broker or the library.
 */
#pragma once

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

/* a and b are of one type with the same fields, recursively; strings by content. */
bool pb_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.h - the tiny JSON writer of iommu-broker-client.
 *
 * Owns: building one JSON value (normally one object, the reply line) in a
 * growing memory buffer: objects, arrays, strings (escaped), integers,
 * booleans and 64-bit addresses as "0x..." strings.  A fragment is an object
 * without its braces, for a verb to fill and the request loop to splice in.
 * Must never: write to a file, log, or exit; after an allocation failure it
 * stops writing and json_error() says -ENOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

#define JSON_MAX_DEPTH 16

typedef struct Json {
        char *buf;
        size_t len;
        size_t size;
        unsigned depth;
        bool first[JSON_MAX_DEPTH];     /* nothing written yet at this level */
        int error;                      /* 0 or -ENOMEM */
} Json;

#define JSON_INIT { .buf = NULL }

/* Every "key" below is NULL for a value inside an array or at the top. */
void json_begin_object(Json *j, const char *key);
void json_end_object(Json *j);
void json_begin_array(Json *j, const char *key);
void json_end_array(Json *j);
/* An object whose braces belong to someone else: see json_append_fragment(). */
void json_begin_fragment(Json *j);

void json_string(Json *j, const char *key, const char *value);
void json_hex(Json *j, const char *key, uint64_t value);        /* "0x1000" */
void json_int(Json *j, const char *key, int64_t value);
void json_uint(Json *j, const char *key, uint64_t value);
void json_bool(Json *j, const char *key, bool value);
/* Appends the members written into fragment to the object open in j. */
void json_append_fragment(Json *j, const Json *fragment);

/* The text so far ("" if none); valid until the next write. */
const char *json_text(const Json *j);
int json_error(const Json *j);
/* Empties j for reuse, keeping its buffer. */
void json_reset(Json *j);
void json_done(Json *j);

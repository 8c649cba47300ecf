/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.c - the tiny JSON writer of iommu-broker-client.
 *
 * Owns: the buffer and the comma bookkeeping per nesting level; strings are
 * escaped by common/json-escape.h, so that whatever the broker or the user
 * sent, the line stays one valid JSON value for jq.
 * Must never: write to a file, log, or exit.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tool/json.h"
#include "common/json-escape.h"

static void json_put(Json *j, const char *s, size_t n) {
        if (j->error < 0)
                return;

        if (j->len + n + 1 > j->size) {
                size_t size = j->size ? j->size : 256;
                char *p;

                while (size < j->len + n + 1)
                        size *= 2;
                p = realloc(j->buf, size);
                if (!p) {
                        j->error = -ENOMEM;
                        return;
                }
                j->buf = p;
                j->size = size;
        }
        memcpy(j->buf + j->len, s, n);
        j->len += n;
        j->buf[j->len] = '\0';
}

static void json_puts(Json *j, const char *s) {
        json_put(j, s, strlen(s));
}

static void json_put_piece(void *userdata, const char *p, size_t n) {
        json_put(userdata, p, n);
}

static void json_put_quoted(Json *j, const char *value) {
        json_escape(value, json_put_piece, j);
}

/* The comma before a member or element, and the key if there is one. */
static void json_prefix(Json *j, const char *key) {
        if (j->depth > 0) {
                if (!j->first[j->depth])
                        json_put(j, ",", 1);
                j->first[j->depth] = false;
        }
        if (key) {
                json_put_quoted(j, key);
                json_put(j, ":", 1);
        }
}

static void json_open(Json *j, const char *key, const char *bracket) {
        assert(j->depth + 1 < JSON_MAX_DEPTH);

        json_prefix(j, key);
        json_puts(j, bracket);
        j->depth++;
        j->first[j->depth] = true;
}

static void json_close(Json *j, const char *bracket) {
        assert(j->depth > 0);

        json_puts(j, bracket);
        j->depth--;
}

void json_begin_object(Json *j, const char *key) {
        json_open(j, key, "{");
}

void json_end_object(Json *j) {
        json_close(j, "}");
}

void json_begin_array(Json *j, const char *key) {
        json_open(j, key, "[");
}

void json_end_array(Json *j) {
        json_close(j, "]");
}

void json_begin_fragment(Json *j) {
        assert(j->depth == 0 && j->len == 0);

        j->depth = 1;
        j->first[1] = true;
}

void json_string(Json *j, const char *key, const char *value) {
        json_prefix(j, key);
        json_put_quoted(j, value ? value : "");
}

void json_hex(Json *j, const char *key, uint64_t value) {
        char s[32];

        (void) snprintf(s, sizeof(s), "\"0x%" PRIx64 "\"", value);
        json_prefix(j, key);
        json_puts(j, s);
}

void json_int(Json *j, const char *key, int64_t value) {
        char s[32];

        (void) snprintf(s, sizeof(s), "%" PRIi64, value);
        json_prefix(j, key);
        json_puts(j, s);
}

void json_uint(Json *j, const char *key, uint64_t value) {
        char s[32];

        (void) snprintf(s, sizeof(s), "%" PRIu64, value);
        json_prefix(j, key);
        json_puts(j, s);
}

void json_bool(Json *j, const char *key, bool value) {
        json_prefix(j, key);
        json_puts(j, value ? "true" : "false");
}

void json_append_fragment(Json *j, const Json *fragment) {
        if (fragment->error < 0) {
                j->error = fragment->error;
                return;
        }
        if (fragment->len == 0)
                return;

        assert(j->depth > 0);
        if (!j->first[j->depth])
                json_put(j, ",", 1);
        j->first[j->depth] = false;
        json_put(j, fragment->buf, fragment->len);
}

const char *json_text(const Json *j) {
        return j->buf ? j->buf : "";
}

int json_error(const Json *j) {
        return j->error;
}

void json_reset(Json *j) {
        j->len = 0;
        if (j->buf)
                j->buf[0] = '\0';
        j->depth = 0;
        j->error = 0;
}

void json_done(Json *j) {
        free(j->buf);
        *j = (Json) JSON_INIT;
}

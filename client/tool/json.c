/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.c - the tiny JSON writer of iommu-broker-client.
 *
 * Owns: the buffer, the comma bookkeeping per nesting level and string
 * escaping: '"', '\\' and control characters are escaped (\n, \t, ... or
 * \u00XX), valid UTF-8 passes through, and a byte that is not part of valid
 * UTF-8 becomes U+FFFD, so that whatever the broker or the user sent, the line
 * stays one valid JSON value for jq.
 * Must never: write to a file, log, or exit.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tool/json.h"

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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;

        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
        return len;
}

static void json_put_quoted(Json *j, const char *value) {
        const unsigned char *s = (const unsigned char *) value;
        size_t n = strlen(value);

        json_put(j, "\"", 1);
        while (n > 0) {
                char esc[8];
                size_t len;

                switch (*s) {
                case '"':
                        json_put(j, "\\\"", 2);
                        break;
                case '\\':
                        json_put(j, "\\\\", 2);
                        break;
                case '\n':
                        json_put(j, "\\n", 2);
                        break;
                case '\r':
                        json_put(j, "\\r", 2);
                        break;
                case '\t':
                        json_put(j, "\\t", 2);
                        break;
                default:
                        if (*s < 0x20 || *s == 0x7f) {
                                (void) snprintf(esc, sizeof(esc), "\\u%04x", *s);
                                json_puts(j, esc);
                                break;
                        }
                        len = utf8_sequence(s, n);
                        if (len == 0) {
                                json_puts(j, "\\ufffd");
                                break;
                        }
                        json_put(j, (const char *) s, len);
                        s += len;
                        n -= len;
                        continue;
                }
                s++;
                n--;
        }
        json_put(j, "\"", 1);
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

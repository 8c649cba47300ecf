/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-escape.c - see json-escape.h.
 */
#include <stdbool.h>
#include <stdio.h>

#include "common/json-escape.h"

/* Length of the valid UTF-8 sequence at s (NUL-terminated) that starts with a byte >= 0x80, or 0. */
static size_t utf8_sequence(const unsigned char *s) {
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;

        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2;
        else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                if (s[0] == 0xe0)
                        lo = 0xa0;              /* overlong */
                else if (s[0] == 0xed)
                        hi = 0x9f;              /* surrogates */
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                if (s[0] == 0xf0)
                        lo = 0x90;              /* overlong */
                else if (s[0] == 0xf4)
                        hi = 0x8f;              /* past U+10FFFF */
        } else
                return 0;
        /* a NUL fails every check: nothing past the end is read */
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xbf)
                        return 0;
        return n;
}

/* What is written as \u00XX: the control characters JSON forbids in a string, and DEL. */
static bool needs_unicode_escape(unsigned char c) {
        return c < 0x20 || c == 0x7f;
}

void json_escape(const char *s, JsonEscapePut put, void *userdata) {
        const unsigned char *p = (const unsigned char *) s;
        const unsigned char *run = p;           /* bytes that pass through, not yet written */

        put(userdata, "\"", 1);
        while (*p) {
                char esc[8];
                size_t n;

                if (*p >= 0x80) {
                        n = utf8_sequence(p);
                        if (n > 0) {
                                p += n;
                                continue;
                        }
                } else if (*p != '"' && *p != '\\' && !needs_unicode_escape(*p)) {
                        p++;
                        continue;
                }

                if (p > run)
                        put(userdata, (const char *) run, (size_t) (p - run));
                if (*p == '"' || *p == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char) *p;
                        put(userdata, esc, 2);
                } else if (needs_unicode_escape(*p)) {
                        n = (size_t) snprintf(esc, sizeof(esc), "\\u%04x", *p);
                        put(userdata, esc, n);
                } else
                        put(userdata, "\\ufffd", 6);
                run = ++p;
        }
        if (p > run)
                put(userdata, (const char *) run, (size_t) (p - run));
        put(userdata, "\"", 1);
}

static void file_put(void *userdata, const char *p, size_t n) {
        (void) fwrite(p, 1, n, userdata);
}

void json_escape_to_file(FILE *f, const char *s) {
        if (!s)
                fputs("null", f);
        else
                json_escape(s, file_put, f);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-escape.c - see json-escape.h.
 */
#include <stdbool.h>
#include <stdio.h>

#include "common/json-escape.h"
#include "common/text-escape.h"

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
                        n = utf8_sequence_length((const char *) p);
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

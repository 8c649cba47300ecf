/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * text-escape.c - see text-escape.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text-escape.h"

size_t utf8_sequence_length(const char *s) {
        const unsigned char *u = (const unsigned char *) s;
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;

        if (u[0] >= 0xc2 && u[0] <= 0xdf)
                n = 2;
        else if (u[0] >= 0xe0 && u[0] <= 0xef) {
                n = 3;
                if (u[0] == 0xe0)
                        lo = 0xa0;              /* overlong */
                else if (u[0] == 0xed)
                        hi = 0x9f;              /* surrogates */
        } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
                n = 4;
                if (u[0] == 0xf0)
                        lo = 0x90;              /* overlong */
                else if (u[0] == 0xf4)
                        hi = 0x8f;              /* past U+10FFFF */
        } else
                return 0;
        /* a NUL fails every check: nothing past the end is read */
        if (u[1] < lo || u[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (u[i] < 0x80 || u[i] > 0xbf)
                        return 0;
        return n;
}

/* The bytes of the character at p (1 for a byte not part of valid UTF-8), and whether they are escaped. */
static size_t text_unit(const unsigned char *p, bool *ret_escape) {
        size_t len = *p >= 0x80 ? utf8_sequence_length((const char *) p) : 1;

        if (len == 0) {
                *ret_escape = true;
                return 1;
        }
        /* C0 and DEL; C1 is U+0080..U+009F, 0xc2 0x80..0x9f */
        *ret_escape = *p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] <= 0x9f);
        return len;
}

bool text_needs_escape(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                bool escape;

                p += text_unit(p, &escape);
                if (escape)
                        return true;
        }
        return false;
}

size_t text_escape(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                bool escape;
                size_t len = text_unit(p, &escape);

                if (n + (escape ? 4 * len : len) >= size)
                        break;
                for (size_t i = 0; i < len; i++)
                        if (escape)
                                n += (size_t) snprintf(buf + n, 5, "\\x%02x", p[i]);
                        else
                                buf[n++] = (char) p[i];
                p += len;
        }
        buf[n] = '\0';
        return n;
}

char *text_escaped(const char *s) {
        size_t size = 4 * strlen(s) + 1;        /* every byte escaped */
        char *e = malloc(size);

        if (e)
                (void) text_escape(s, e, size);
        return e;
}

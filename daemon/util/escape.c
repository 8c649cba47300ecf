/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * escape.c - see escape.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"

static bool is_control(unsigned char c) {
        return c < 0x20 || c == 0x7f;
}

size_t escape_control(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                size_t need = is_control(*p) ? 4 : 1;

                if (n + need >= size) {
                        buf[n] = '\0';
                        return size;
                }
                if (need == 4)
                        (void) snprintf(buf + n, 5, "\\x%02x", *p);
                else
                        buf[n] = (char) *p;
                n += need;
        }
        buf[n] = '\0';
        return n;
}

char *escape_control_dup(const char *s) {
        size_t size = strlen(s) * 4 + 1;
        char *buf = malloc(size);

        if (buf)
                (void) escape_control(s, buf, size);
        return buf;
}

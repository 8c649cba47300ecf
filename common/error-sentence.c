/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * error-sentence.c - see error-sentence.h.
 */
#include <errno.h>
#include <stdio.h>

#include "common/error-sentence.h"

int error_sentence_format(char *buf, size_t size, int err, const char *fmt, va_list ap) {
        if (err < 0)
                err = -err;
        if (size > 0)
                (void) vsnprintf(buf, size, fmt, ap);
        return err > 0 ? -err : -EIO;
}

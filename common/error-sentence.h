/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * error-sentence.h - the sentence that goes with an errno.
 *
 * Owns: how a failure's sentence is written (the broker's error replies,
 * the client library's ib_client_error(), the tool's error lines) and the
 * errno the failing function returns with it: -abs(err), never 0.
 * Must never: allocate, log, or say which errno it was (the reply and the
 * caller's output carry the errno name beside the sentence).
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "common/macro.h"

/*
 * Writes the sentence fmt/ap into buf (size bytes, NUL-terminated, cut to
 * fit) and returns -abs(err), or -EIO when err is 0, so that
 * "return foo_fail(c, errno, ...)" may pass errno or -errno.
 */
int error_sentence_format(char *buf, size_t size, int err, const char *fmt, va_list ap) _printf_(4, 0);

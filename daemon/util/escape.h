/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * escape.h - client-supplied strings as data in log lines and journal fields.
 *
 * Owns: the one rule for text that reaches a log or an audit record: every
 * control character (and DEL) is written as \xNN, so that a string a client
 * chose (a Hello client_name, a device name) can never end a record, start
 * another one or carry a "<N>" priority of its choosing.
 */
#pragma once

#include <stddef.h>

/*
 * Writes s into buf (size > 0), NUL-terminated, control characters escaped;
 * truncates at a character boundary.  Returns the length written, or size if
 * s did not fit.
 */
size_t escape_control(const char *s, char *buf, size_t size);
/* The same into a new string; NULL on ENOMEM. */
char *escape_control_dup(const char *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * text-escape.h - a string someone else chose, shown as text.
 *
 * Owns: the one rule by which the project shows or forwards a string it did
 * not write (a VMM's client name, a unit, a policy file's content): valid
 * UTF-8 passes, each byte of a control character (C0, DEL, C1) and each
 * byte that is not part of valid UTF-8 (overlong forms, surrogates, past
 * U+10FFFF) becomes \xNN; so the result is valid UTF-8 (the admin bus takes
 * no other string) and cannot move a terminal's cursor or forge a line.
 * Also the length of a valid UTF-8 sequence (json-escape.c's rule too).
 * Must never: log, cut inside a character or an escape, or allocate but in
 * text_escaped().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (NUL-terminated) that starts with a byte >= 0x80, or 0. */
size_t utf8_sequence_length(const char *s);

/* Whether text_escape() would change s. */
bool text_needs_escape(const char *s);

/*
 * Writes s into buf (size bytes, at least 1, NUL-terminated) by the rule
 * above, cut before the first character or escape that does not fit;
 * 4 * strlen(s) + 1 bytes always do.  Returns the bytes written, NUL not
 * counted.
 */
size_t text_escape(const char *s, char *buf, size_t size);

/* s escaped whole, in a new string (free()); NULL on ENOMEM. */
char *text_escaped(const char *s);

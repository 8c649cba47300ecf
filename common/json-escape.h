/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-escape.h - text as a JSON string literal.
 *
 * Owns: the one escaping rule of every JSON line the project writes (the
 * replies of iommu-broker-client, iommu-brokerctl --json, the broker's audit
 * file): '"' and '\\' are escaped, control characters and DEL become \u00XX,
 * valid UTF-8 passes through, and each byte that is not part of valid UTF-8
 * (overlong forms, surrogates, past U+10FFFF) becomes \ufffd, so that
 * whatever a client, a user or the broker sent, a line stays one valid JSON
 * value.
 * Must never: allocate, log, or write anything but the literal.
 */
#pragma once

#include <stddef.h>
#include <stdio.h>

/* Receives the literal piece by piece: n bytes at p (not NUL-terminated). */
typedef void (*JsonEscapePut)(void *userdata, const char *p, size_t n);

/* Writes s as a JSON string literal, quotes included, through put. */
void json_escape(const char *s, JsonEscapePut put, void *userdata);

/* The same into f; NULL (no string) is written as null. */
void json_escape_to_file(FILE *f, const char *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * table.h - the human tables of iommu-brokerctl.
 *
 * Owns: a grid of text cells under a header row, column widths computed
 * from the content (in characters), numeric columns right-aligned, printing
 * with two spaces between columns, and escaping each cell as it is added
 * (common/text-escape.h: control characters and bytes not part of valid
 * UTF-8 become \xNN), so that a string from the bus (a VMM chooses its client
 * name) prints as text in its own cell and row.  (JSON output is
 * client/tool/json.h's.)
 * Must never: truncate a cell, print a cell's bytes raw to the terminal, or
 * print anything but the table.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/macro.h"

typedef struct Table Table;

/* A header of n columns: names[i]; right[i] aligns column i to the right (may be NULL). */
int table_new(Table **ret, const char *const *names, const bool *right, size_t n);
Table *table_free(Table *t);

/* Appends one cell, escaped; rows fill left to right.  NULL prints as "-". */
int table_add(Table *t, const char *cell);
int table_addf(Table *t, const char *fmt, ...) _printf_(2, 3);
/* Full rows added so far. */
size_t table_rows(const Table *t);

/* Header and every full row. */
void table_print(const Table *t, FILE *f);

DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * list.h - what the listing subcommands of iommu-brokerctl share.
 *
 * Owns: calling one List* method of the admin API and reading its answer, an
 * array of a{sv} records, into an array of rows of the caller's struct by a
 * table of {key, D-Bus type, offset}: keys this tool does not know, or whose
 * value has another type than the table says, are skipped, so the broker
 * may add keys; a key the broker leaves out keeps the value of the caller's
 * template row.  Also the output helpers the lists share.
 * Must never: print (the subcommands own their output).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "client/ctl/ctl.h"
#include "client/ctl/table.h"

/*
 * One key of a record.  type is the D-Bus type of the value and says what
 * lies at offset: 'y' uint8_t, 'q' uint16_t, 'u' uint32_t, 'i' int32_t,
 * 't' uint64_t, 'b' int, 's' char * (owned), 'S' (for "as") char ** (owned,
 * NULL-terminated).
 */
typedef struct ListField {
        const char *key;
        char type;
        size_t offset;
} ListField;

typedef struct List {
        const ListField *fields;
        size_t n_fields;
        size_t row_size;
        void *rows;
        size_t n;
} List;

#define LIST_INIT(_fields, _row) { .fields = (_fields), .n_fields = ELEMENTSOF(_fields), .row_size = sizeof(_row) }

/*
 * Calls method (no arguments, returns aa{sv}) and reads every record into
 * l, each row starting as a copy of template (may be NULL: all zero).
 * Returns an exit status: CTL_EXIT_OK, or the failure reported on stderr as
 * "iommu-brokerctl: what: ...".
 */
int list_call(Ctl *ctl, const char *what, const char *method, List *l, const void *template);
/* Row i of l. */
void *list_row(const List *l, size_t i);
void list_sort(List *l, int (*compare)(const void *, const void *));
/* Frees the rows and their strings; l can be filled again. */
void list_done(List *l);

/* Compares two numbers, for sort functions: -1, 0 or 1. */
#define LIST_CMP(a, b) ((a) < (b) ? -1 : (a) > (b))

/* "1/4", or "1/infinity" when limit is UINT64_MAX; bytes as "2.0M/1.0G". */
int table_add_usage(Table *t, uint64_t used, uint64_t limit, bool bytes);
/* Prints "No WHAT." or the table and "N WHAT listed."; singular for one. */
void list_print_table(const Table *t, const char *singular, const char *plural);

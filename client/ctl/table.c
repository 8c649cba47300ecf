/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * table.c - see table.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl/table.h"
#include "common/text-escape.h"

struct Table {
        size_t n_columns;
        bool *right;
        char **cells;                   /* header row first, row-major */
        size_t n_cells;
        size_t allocated;
};

/* Columns a cell takes: its characters (its bytes but UTF-8 continuation bytes). */
static size_t cell_width(const char *s) {
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p & 0xc0) != 0x80)
                        n++;
        return n;
}

/* Takes cell, escaped as it will be printed. */
static int table_push(Table *t, char *cell) {
        if (!cell)
                return -ENOMEM;
        /* a string from the bus (a VMM chose its client name) is text in its cell, never terminal control */
        if (text_needs_escape(cell)) {
                char *e = text_escaped(cell);

                free(cell);
                if (!e)
                        return -ENOMEM;
                cell = e;
        }
        if (t->n_cells == t->allocated) {
                size_t n = t->allocated ? t->allocated * 2 : 64;
                char **c = realloc(t->cells, n * sizeof(char *));

                if (!c) {
                        free(cell);
                        return -ENOMEM;
                }
                t->cells = c;
                t->allocated = n;
        }
        t->cells[t->n_cells++] = cell;
        return 0;
}

int table_new(Table **ret, const char *const *names, const bool *right, size_t n) {
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->n_columns = n;
        t->right = calloc(n, sizeof(bool));
        if (!t->right)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                t->right[i] = right && right[i];
                r = table_push(t, strdup(names[i]));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(t);
        return 0;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->right);
        free(t);
        return NULL;
}

int table_add(Table *t, const char *cell) {
        return table_push(t, strdup(cell ?: "-"));
}

int table_addf(Table *t, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return table_push(t, s);
}

size_t table_rows(const Table *t) {
        return t->n_cells / t->n_columns - 1;
}

void table_print(const Table *t, FILE *f) {
        size_t rows = t->n_cells / t->n_columns;
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return;
        for (size_t i = 0; i < rows * t->n_columns; i++) {
                size_t c = i % t->n_columns, w = cell_width(t->cells[i]);

                if (w > width[c])
                        width[c] = w;
        }
        for (size_t row = 0; row < rows; row++)
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[row * t->n_columns + c];
                        bool last = c + 1 == t->n_columns;
                        int pad = (int) (width[c] - cell_width(cell));

                        if (t->right[c])
                                fprintf(f, "%*s%s", pad, "", cell);
                        else
                                fprintf(f, "%s%*s", cell, last ? 0 : pad, "");
                        fputs(last ? "\n" : "  ", f);
                }
}

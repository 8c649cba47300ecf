/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * parse.c - the request language of iommu-broker-client, below the verbs.
 *
 * Owns: the tokenizer (no quoting: values never contain the separator), the
 * number syntax, the as=/@NAME name table and the memfds the tool creates by
 * name, with their current sizes.
 * Must never: talk to the broker, print, or know what a verb means.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* memfd_create(), F_ADD_SEALS */
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/tool/parse.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010      /* Linux 5.1; older libc headers lack it */
#endif

#define NAME_MAX_LEN 64

struct NameEntry {
        char *name;
        uint64_t value;
};

struct MemfdEntry {
        char *name;
        int fd;
        uint64_t size;
};

/* ------------------------------------------------------------------ requests */

static bool is_sep(char c, char sep) {
        if (sep == ' ')
                return isspace((unsigned char) c);
        return c == sep;
}

int request_parse(const char *text, char sep, Request *ret) {
        _cleanup_free_ char *buffer = NULL;
        _cleanup_free_ RequestArg *args = NULL;
        const char *verb = NULL;
        size_t n_args = 0, max_items = 1;
        char *p;

        buffer = strdup(text);
        if (!buffer)
                return -ENOMEM;
        for (p = buffer; *p; p++)
                if (is_sep(*p, sep))
                        max_items++;
        args = calloc(max_items, sizeof(*args));
        if (!args)
                return -ENOMEM;

        p = buffer;
        for (;;) {
                char *item, *eq;

                while (*p && is_sep(*p, sep))
                        p++;
                if (!*p)
                        break;
                item = p;
                while (*p && !is_sep(*p, sep))
                        p++;
                if (*p)
                        *p++ = '\0';

                if (!verb) {
                        verb = item;
                        continue;
                }
                eq = strchr(item, '=');
                if (eq) {
                        *eq = '\0';
                        args[n_args].value = eq + 1;
                }
                args[n_args++].key = item;
        }
        if (!verb)
                return -ENODATA;

        ret->verb = verb;
        ret->n_args = n_args;
        ret->args = TAKE_PTR(args);
        ret->buffer = TAKE_PTR(buffer);
        return 0;
}

void request_done(Request *r) {
        free(r->args);
        free(r->buffer);
        *r = (Request) REQUEST_INIT;
}

const RequestArg *request_find(const Request *r, const char *key) {
        for (size_t i = 0; i < r->n_args; i++)
                if (strcmp(r->args[i].key, key) == 0)
                        return &r->args[i];
        return NULL;
}

bool line_is_blank(const char *line) {
        while (isspace((unsigned char) *line))
                line++;
        return *line == '\0' || *line == '#';
}

/* ------------------------------------------------------------------ numbers */

int tool_parse_u64(const char *s, bool allow_max, uint64_t *ret) {
        unsigned shift = 0;
        unsigned long long v;
        const char *digits = s;
        char *end;
        int base = 10;

        if (allow_max && strcmp(s, "max") == 0) {
                *ret = UINT64_MAX;
                return 0;
        }

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                digits = s + 2;
        }
        /* strtoull() would accept blanks, signs and a second "0x" */
        if (!isxdigit((unsigned char) digits[0]) || (base == 10 && !isdigit((unsigned char) digits[0])))
                return -EINVAL;
        if (base == 16 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
                return -EINVAL;

        errno = 0;
        v = strtoull(digits, &end, base);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == digits)
                return -EINVAL;

        switch (*end) {
        case 'k': case 'K':
                shift = 10;
                break;
        case 'm': case 'M':
                shift = 20;
                break;
        case 'g': case 'G':
                shift = 30;
                break;
        case 't': case 'T':
                shift = 40;
                break;
        default:
                break;
        }
        if (shift > 0)
                end++;
        if (*end != '\0')
                return -EINVAL;

        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;

        *ret = (uint64_t) v << shift;
        return 0;
}

int parse_bool(const char *s) {
        if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
            strcasecmp(s, "on") == 0)
                return 1;
        if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
            strcasecmp(s, "off") == 0)
                return 0;
        return -EINVAL;
}

/* ------------------------------------------------------------------ names (as=, @NAME) */

bool name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > NAME_MAX_LEN)
                return false;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '_' && *p != '.')
                        return false;
        return true;
}

static NameEntry *name_table_find(const NameTable *t, const char *name) {
        for (size_t i = 0; i < t->n_entries; i++)
                if (strcmp(t->entries[i].name, name) == 0)
                        return &t->entries[i];
        return NULL;
}

int name_table_set(NameTable *t, const char *name, uint64_t value) {
        NameEntry *e = name_table_find(t, name), *entries;
        char *copy;

        if (e) {
                e->value = value;
                return 0;
        }

        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        entries = realloc(t->entries, (t->n_entries + 1) * sizeof(*entries));
        if (!entries) {
                free(copy);
                return -ENOMEM;
        }
        t->entries = entries;
        t->entries[t->n_entries++] = (NameEntry) { .name = copy, .value = value };
        return 0;
}

int name_table_get(const NameTable *t, const char *name, uint64_t *ret) {
        const NameEntry *e = name_table_find(t, name);

        if (!e)
                return -ENOENT;
        *ret = e->value;
        return 0;
}

void name_table_done(NameTable *t) {
        for (size_t i = 0; i < t->n_entries; i++)
                free(t->entries[i].name);
        free(t->entries);
        *t = (NameTable) NAME_TABLE_INIT;
}

/* ------------------------------------------------------------------ memfds by name */

static MemfdEntry *memfd_table_find(const MemfdTable *t, const char *name) {
        for (size_t i = 0; i < t->n_entries; i++)
                if (strcmp(t->entries[i].name, name) == 0)
                        return &t->entries[i];
        return NULL;
}

static int memfd_table_add(MemfdTable *t, const char *name, MemfdEntry **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *copy = NULL;
        MemfdEntry *entries;

        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return negative_errno();
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        entries = realloc(t->entries, (t->n_entries + 1) * sizeof(*entries));
        if (!entries)
                return -ENOMEM;
        t->entries = entries;
        t->entries[t->n_entries] = (MemfdEntry) {
                .name = TAKE_PTR(copy),
                .fd = TAKE_FD(fd),
                .size = 0,
        };
        *ret = &t->entries[t->n_entries++];
        return 0;
}

int memfd_table_get(MemfdTable *t, const char *name, uint64_t min_size, unsigned seals, int *ret_fd,
                    const char **ret_step) {
        MemfdEntry *e = memfd_table_find(t, name);
        int r, add = 0;

        if (!e) {
                r = memfd_table_add(t, name, &e);
                if (r < 0) {
                        *ret_step = "memfd_create";
                        return r;
                }
        }

        if (min_size > e->size) {
                if (min_size > (uint64_t) INT64_MAX) {
                        *ret_step = "ftruncate";
                        return -EFBIG;
                }
                if (ftruncate(e->fd, (off_t) min_size) < 0) {
                        *ret_step = "ftruncate";
                        return negative_errno();
                }
                e->size = min_size;
        }

        if (seals & MEMFD_SEAL_WRITE)
                add |= F_SEAL_WRITE;
        if (seals & MEMFD_SEAL_FUTURE_WRITE)
                add |= F_SEAL_FUTURE_WRITE;
        if (add != 0 && fcntl(e->fd, F_ADD_SEALS, add) < 0) {
                *ret_step = "F_ADD_SEALS";
                return negative_errno();
        }

        *ret_fd = e->fd;
        return 0;
}

void memfd_table_done(MemfdTable *t) {
        for (size_t i = 0; i < t->n_entries; i++) {
                free(t->entries[i].name);
                (void) safe_close(t->entries[i].fd);
        }
        free(t->entries);
        *t = (MemfdTable) MEMFD_TABLE_INIT;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * parse.h - the request language of iommu-broker-client, below the verbs.
 *
 * Owns: splitting "VERB key=value ..." (and a batch op's "verb,key=value,...")
 * into a Request; numbers with K/M/G/T suffixes; the table of names that as=
 * defines and @NAME reads; the table of memfds the tool created by name.
 * Must never: talk to the broker, print, or know what a verb means.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

/* ------------------------------------------------------------------ requests */

typedef struct RequestArg {
        const char *key;
        const char *value;              /* NULL for a bare word such as "all" */
} RequestArg;

typedef struct Request {
        char *buffer;                   /* the copy that verb and args point into */
        const char *verb;
        RequestArg *args;
        size_t n_args;
} Request;

#define REQUEST_INIT { .buffer = NULL }

/*
 * Splits text at runs of sep (' ' splits at any blank): the first item is the
 * verb, each other item "key=value" (split at the first '=') or a bare "key".
 * Empty items are skipped; an empty key ("=x") is kept for the verb's check to
 * reject.  Returns 0, -ENODATA if text holds no item, or -ENOMEM.
 */
int request_parse(const char *text, char sep, Request *ret);
void request_done(Request *r);

/* The first argument with this key, or NULL. */
const RequestArg *request_find(const Request *r, const char *key);

/* True for lines the tool skips: empty, only blanks, or starting with '#'. */
bool line_is_blank(const char *line);

/* ------------------------------------------------------------------ numbers */

/*
 * Decimal or 0x hex, optionally followed by one of K, M, G, T (binary: 2M =
 * 0x200000; lower case too); with allow_max, "max" means 2^64-1.  Returns 0,
 * -EINVAL if malformed, -ERANGE if it does not fit 64 bits.
 */
int tool_parse_u64(const char *s, bool allow_max, uint64_t *ret);
/* yes/no, true/false, 1/0, on/off: 1 or 0; -EINVAL otherwise. */
int parse_bool(const char *s);

/* ------------------------------------------------------------------ names (as=, @NAME) */

typedef struct NameEntry NameEntry;

typedef struct NameTable {
        NameEntry *entries;
        size_t n_entries;
} NameTable;

#define NAME_TABLE_INIT { .entries = NULL }

/* [A-Za-z0-9_.]+, at most 64 characters: never contains '-' nor ','. */
bool name_is_valid(const char *name);
/* Defines or redefines name. Returns 0 or -ENOMEM. */
int name_table_set(NameTable *t, const char *name, uint64_t value);
/* Returns 0, or -ENOENT if name was never set. */
int name_table_get(const NameTable *t, const char *name, uint64_t *ret);
void name_table_done(NameTable *t);

/* ------------------------------------------------------------------ memfds by name */

typedef struct MemfdEntry MemfdEntry;

typedef struct MemfdTable {
        MemfdEntry *entries;
        size_t n_entries;
} MemfdTable;

#define MEMFD_TABLE_INIT { .entries = NULL }

enum {
        MEMFD_SEAL_WRITE = 1U << 0,             /* F_SEAL_WRITE */
        MEMFD_SEAL_FUTURE_WRITE = 1U << 1,      /* F_SEAL_FUTURE_WRITE */
};

/*
 * The memfd called name, created on first use (memfd_create(name,
 * MFD_CLOEXEC|MFD_ALLOW_SEALING)) and grown with ftruncate() to at least
 * min_size; MEMFD_SEAL_* in seals are added (after sizing it).  *ret_fd stays
 * owned by the table.  Returns 0 or -errno, with *ret_step naming the call
 * that failed ("memfd_create", "ftruncate", "F_ADD_SEALS").
 */
int memfd_table_get(MemfdTable *t, const char *name, uint64_t min_size, unsigned seals, int *ret_fd,
                    const char **ret_step);
void memfd_table_done(MemfdTable *t);

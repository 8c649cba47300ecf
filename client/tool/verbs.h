/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verbs.h - the verbs of iommu-broker-client and what they share.
 *
 * Owns: the Tool state of one run (connection, names, memfds, the device and
 * fault queue fds it holds, the last local error), the Verb type and its
 * table (verbs.c is the index), the argument helpers every verb uses, and
 * the handler prototypes, which only verbs.c and the verb-*.c files include.
 * Must never: print; the request loop in main.c writes every line.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/iommu-broker.h"
#include "client/tool/json.h"
#include "client/tool/parse.h"
#include "common/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(ib_client *, ib_client_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ib_batch *, ib_batch_free);

/* An fd a reply carried, kept under its object's id until the verb that ends the object or the end of the run. */
typedef struct KeptFd {
        uint32_t id;
        int fd;
} KeptFd;

typedef struct KeptFdTable {
        KeptFd *entries;
        size_t n_entries;
} KeptFdTable;

#define KEPT_FD_TABLE_INIT { .entries = NULL, .n_entries = 0 }

typedef struct Tool {
        ib_client *client;
        NameTable names;
        MemfdTable memfds;
        KeptFdTable device_fds;         /* device-open's, by dev id, until device-close */
        KeptFdTable fault_fds;          /* fault-alloc's, by fault id, for fault-read, until fault-free */
        char error[512];                /* the sentence of a local failure; "" if none */
} Tool;

#define TOOL_INIT                                       \
        {                                               \
                .client = NULL,                         \
                .names = NAME_TABLE_INIT,               \
                .memfds = MEMFD_TABLE_INIT,             \
                .device_fds = KEPT_FD_TABLE_INIT,       \
                .fault_fds = KEPT_FD_TABLE_INIT,        \
                .error = "",                            \
        }

/*
 * A verb handler.  Its keys were checked against the verb's synopsis before
 * it runs.  On success it writes its result members into result (an open
 * fragment) and returns 0, or the number of failed operations inside it (a
 * batch: the reply line then says "ok":false, with the results).  On failure
 * it writes nothing and returns -errno; a local failure leaves its sentence in
 * tool->error (tool_error()), a broker failure is in ib_client_error().
 */
typedef int (*VerbFn)(Tool *tool, const Request *req, Json *result);

typedef struct Verb {
        const char *name;
        VerbFn fn;
        /*
         * The keys, as --help prints them: "key=VALUE" takes a value, a bare
         * word ("all") takes none, [] marks optional ones.  The handler's key
         * check reads the key names from here, so help and check never differ.
         */
        const char *synopsis;
        const char *summary;
        const char *repeatable;         /* the one key that may appear more than once, or NULL */
} Verb;

const Verb *tool_verb_find(const char *name);
/* Unknown, duplicate, valueless or valued-where-bare keys: -EINVAL with tool->error set. */
int tool_verb_check_keys(Tool *tool, const Verb *verb, const Request *req);
void verbs_print_help(FILE *f);

/* ------------------------------------------------------------------ argument helpers */

/* "EEXIST" for -EEXIST (ib_errno_name()), else the number as text in buf. */
const char *tool_errno_name(int err, char *buf, size_t size);

/* Sets tool->error from fmt and returns r (a negative errno). */
int tool_error(Tool *tool, int r, const char *fmt, ...) _printf_(3, 4);

/* Prefixes tool->error with "op N: " (for a batch's operations). */
void tool_error_prefix_op(Tool *tool, size_t op);

/*
 * value as a number (decimal, 0x hex, K/M/G/T, @NAME; "max" if key is
 * "length"); 0 or -EINVAL with tool->error naming key.
 */
int tool_parse_number(Tool *tool, const char *key, const char *value, uint64_t *ret);
/*
 * The number in key= (decimal, 0x hex, K/M/G/T, @NAME; "max" for keys called
 * "length").  Returns 1 if the key is there, 0 if it is absent and not
 * required, or -EINVAL with tool->error naming the key.
 */
int tool_get_u64(Tool *tool, const Request *req, const char *key, bool required, uint64_t *ret);
/* The same, for object ids that must fit 32 bits. */
int tool_get_u32(Tool *tool, const Request *req, const char *key, bool required, uint32_t *ret);
/* The string in key=; same returns. */
int tool_get_string(Tool *tool, const Request *req, const char *key, bool required, const char **ret);
/*
 * The boolean in key= (yes/no, true/false, 1/0, on/off): returns 1 if the key
 * is there, 0 if it is absent (*ret untouched), or -EINVAL naming the key.
 */
int tool_get_bool(Tool *tool, const Request *req, const char *key, bool *ret);
/* prot=r|w|rw as IB_MAP_READABLE|IB_MAP_WRITEABLE (absent: both); 0 or -EINVAL. */
int tool_get_prot(Tool *tool, const Request *req, unsigned *ret_flags);
/* as=NAME, checked with name_is_valid(); *ret NULL if absent; 0 or -EINVAL. */
int tool_get_as(Tool *tool, const Request *req, const char **ret);
/* Stores value under name (NULL: nothing to do); 0 or -ENOMEM. */
int tool_set_name(Tool *tool, const char *name, uint64_t value);

/* ------------------------------------------------------------------ handlers */

/*
 * One per request verb, named cmd_<verb>_exec: the daemon's handlers are
 * verb_<verb> (daemon/core/), and one name never means two functions.
 */

/* verb-session.c */
int cmd_hello_exec(Tool *tool, const Request *req, Json *result);
int cmd_caps_exec(Tool *tool, const Request *req, Json *result);

/* verb-ioas.c */
int cmd_ioas_alloc_exec(Tool *tool, const Request *req, Json *result);
int cmd_ioas_free_exec(Tool *tool, const Request *req, Json *result);
int cmd_iova_ranges_exec(Tool *tool, const Request *req, Json *result);
int cmd_allow_iovas_exec(Tool *tool, const Request *req, Json *result);

/* verb-map.c */
int cmd_mem_register_exec(Tool *tool, const Request *req, Json *result);
int cmd_mem_unregister_exec(Tool *tool, const Request *req, Json *result);
int cmd_map_exec(Tool *tool, const Request *req, Json *result);
int cmd_unmap_exec(Tool *tool, const Request *req, Json *result);
int cmd_copy_exec(Tool *tool, const Request *req, Json *result);
int cmd_batch_exec(Tool *tool, const Request *req, Json *result);

/* verb-device.c */
int cmd_device_list_exec(Tool *tool, const Request *req, Json *result);
int cmd_device_open_exec(Tool *tool, const Request *req, Json *result);
int cmd_device_attach_exec(Tool *tool, const Request *req, Json *result);
int cmd_device_detach_exec(Tool *tool, const Request *req, Json *result);
int cmd_device_close_exec(Tool *tool, const Request *req, Json *result);
int cmd_hw_info_exec(Tool *tool, const Request *req, Json *result);
int cmd_hwpt_alloc_exec(Tool *tool, const Request *req, Json *result);
int cmd_hwpt_free_exec(Tool *tool, const Request *req, Json *result);
int cmd_hwpt_dirty_exec(Tool *tool, const Request *req, Json *result);
int cmd_hwpt_dirty_bitmap_exec(Tool *tool, const Request *req, Json *result);
int cmd_hwpt_invalidate_exec(Tool *tool, const Request *req, Json *result);
int cmd_fault_alloc_exec(Tool *tool, const Request *req, Json *result);
int cmd_fault_read_exec(Tool *tool, const Request *req, Json *result);
int cmd_fault_free_exec(Tool *tool, const Request *req, Json *result);
int cmd_viommu_alloc_exec(Tool *tool, const Request *req, Json *result);
int cmd_viommu_free_exec(Tool *tool, const Request *req, Json *result);
int cmd_vdevice_alloc_exec(Tool *tool, const Request *req, Json *result);
int cmd_vdevice_free_exec(Tool *tool, const Request *req, Json *result);
int cmd_pasid_attach_exec(Tool *tool, const Request *req, Json *result);
int cmd_pasid_detach_exec(Tool *tool, const Request *req, Json *result);
int cmd_pasid_lookup_exec(Tool *tool, const Request *req, Json *result);
/* Closes every device and fault queue fd the run still holds (at exit, before the session ends). */
void tool_close_kept_fds(Tool *tool);

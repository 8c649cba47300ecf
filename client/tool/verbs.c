/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verbs.c - the index of iommu-broker-client's verbs.
 *
 * Owns: the one verb table {name, fn, synopsis, summary}, the key check every
 * request passes before its handler runs (driven by the synopsis, so that
 * --help and the check cannot disagree), and the argument helpers that turn
 * "key=value" into numbers, ids, names and flags with a sentence naming the
 * key on failure.  Adding a verb = one handler in verb-<family>.c + one line
 * here.
 * Must never: talk to the broker or print a reply.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/tool/verbs.h"
#include "common/error-sentence.h"

static const Verb verbs[] = {
        {
                .name = "hello",
                .fn = cmd_hello_exec,
                .synopsis = "",
                .summary = "Show the protocol version, server version, session number and limits.",
        },
        {
                .name = "caps",
                .fn = cmd_caps_exec,
                .synopsis = "",
                .summary = "Show the backend, kernel features, page size (and counters, if allowed).",
        },
        {
                .name = "ioas-alloc",
                .fn = cmd_ioas_alloc_exec,
                .synopsis = "[window=32|full] [base=ADDR] [max=ADDR] [enforce-snoop=yes|no] [as=NAME]",
                .summary = "Allocate an I/O address space; as= names its id.",
        },
        {
                .name = "ioas-free",
                .fn = cmd_ioas_free_exec,
                .synopsis = "ioas=ID",
                .summary = "Free an I/O address space and everything mapped in it.",
        },
        {
                .name = "iova-ranges",
                .fn = cmd_iova_ranges_exec,
                .synopsis = "ioas=ID",
                .summary = "List the usable IOVA ranges and the IOVA alignment.",
        },
        {
                .name = "allow-iovas",
                .fn = cmd_allow_iovas_exec,
                .synopsis = "ioas=ID ranges=[START-LAST[,START-LAST...]]",
                .summary = "Restrict the IOVAs the broker may choose; an empty ranges= clears.",
        },
        {
                .name = "mem-register",
                .fn = cmd_mem_register_exec,
                .synopsis = "memfd=NAME [size=SIZE] [access=rw|ro] [as=NAME]",
                .summary = "Register a memfd the tool creates (or grows) by NAME; as= names the handle for mem=.",
        },
        {
                .name = "mem-unregister",
                .fn = cmd_mem_unregister_exec,
                .synopsis = "mem=ID",
                .summary = "Drop the broker's reference to registered memory; its mappings stay.",
        },
        {
                .name = "map",
                .fn = cmd_map_exec,
                .synopsis = "ioas=ID {memfd=NAME | mem=ID} size=SIZE [offset=SIZE] [iova=ADDR] [prot=r|w|rw] "
                            "[seal=write|future-write] [access=rw|ro] [as=NAME]",
                .summary = "Map part of a memfd the tool creates (or grows) by NAME, or of registered memory "
                           "(mem=); as= names the IOVA.",
        },
        {
                .name = "unmap",
                .fn = cmd_unmap_exec,
                .synopsis = "ioas=ID {iova=ADDR length=SIZE|max | all}",
                .summary = "Unmap whole mappings in a range, or everything with all.",
        },
        {
                .name = "copy",
                .fn = cmd_copy_exec,
                .synopsis = "dst=ID src=ID src-iova=ADDR length=SIZE [dst-iova=ADDR] [prot=r|w|rw] "
                            "[as=NAME]",
                .summary = "Map in dst the pages mapped at src-iova in src; as= names the dst IOVA.",
        },
        {
                .name = "batch",
                .fn = cmd_batch_exec,
                .synopsis = "[stop-on-error=yes|no] op=map|unmap[,KEY=VALUE...] [op=...]",
                .summary = "Run maps and unmaps in one round trip; each op= takes the keys of its verb.",
                .repeatable = "op",
        },
        {
                .name = "device-list",
                .fn = cmd_device_list_exec,
                .synopsis = "",
                .summary = "List the devices the broker offers, and which are open here or anywhere.",
        },
        {
                .name = "device-open",
                .fn = cmd_device_open_exec,
                .synopsis = "dev=PCI-ADDRESS [as=NAME]",
                .summary = "Open a device (its fd is kept until device-close or exit); as= names its id.",
        },
        {
                .name = "attach",
                .fn = cmd_device_attach_exec,
                .synopsis = "dev=ID pt=ID",
                .summary = "Attach a device to an IOAS or HWPT, replacing an earlier attachment.",
        },
        {
                .name = "detach",
                .fn = cmd_device_detach_exec,
                .synopsis = "dev=ID",
                .summary = "Detach a device from its IOAS or HWPT.",
        },
        {
                .name = "device-close",
                .fn = cmd_device_close_exec,
                .synopsis = "dev=ID",
                .summary = "Close a device in the broker and the tool's copy of its fd.",
        },
        {
                .name = "hw-info",
                .fn = cmd_hw_info_exec,
                .synopsis = "dev=ID",
                .summary = "Show what the IOMMU behind a device can do.",
        },
        {
                .name = "hwpt-alloc",
                .fn = cmd_hwpt_alloc_exec,
                .synopsis = "dev=ID pt=ID [nest-parent=yes|no] [dirty=yes|no] [pasid=yes|no] "
                            "[enforce-snoop=yes|no] [data-type=vtd-s1|smmuv3|N [pgtbl=ADDR addr-width=N "
                            "[s1-flags=N]] [data=HEX]] [fault=ID] [as=NAME]",
                .summary = "Allocate a HWPT on an IOAS, or a nested one on a nesting parent; as= names it.",
        },
        {
                .name = "hwpt-free",
                .fn = cmd_hwpt_free_exec,
                .synopsis = "hwpt=ID",
                .summary = "Free a HWPT.",
        },
        {
                .name = "hwpt-dirty",
                .fn = cmd_hwpt_dirty_exec,
                .synopsis = "hwpt=ID enable=yes|no",
                .summary = "Start or stop dirty tracking on a HWPT allocated with dirty=yes.",
        },
        {
                .name = "hwpt-dirty-bitmap",
                .fn = cmd_hwpt_dirty_bitmap_exec,
                .synopsis = "hwpt=ID iova=N length=N [page-size=4K] [no-clear=yes|no] [show=BYTES]",
                .summary = "Read (and clear) the dirty bits of a range; shows their count and the first bytes as hex.",
        },
        {
                .name = "hwpt-invalidate",
                .fn = cmd_hwpt_invalidate_exec,
                .synopsis = "pt=ID [data-type=vtd-s1|smmuv3] (addr=N npages=N [leaf=yes|no] | entry-len=N data=HEX)",
                .summary = "Invalidate a nested HWPT's (or vIOMMU's) caches; shows the entries handled.",
        },
        {
                .name = "fault-alloc",
                .fn = cmd_fault_alloc_exec,
                .synopsis = "[as=NAME]",
                .summary = "Allocate a fault queue for hwpt-alloc fault=; its fd is kept for fault-read; as= names it.",
        },
        {
                .name = "fault-read",
                .fn = cmd_fault_read_exec,
                .synopsis = "fault=ID",
                .summary = "Read the fault records waiting in a fault queue, without blocking; [] if none.",
        },
        {
                .name = "fault-free",
                .fn = cmd_fault_free_exec,
                .synopsis = "fault=ID",
                .summary = "Close the tool's copy of a fault queue's fd, then free the queue.",
        },
        {
                .name = "viommu-alloc",
                .fn = cmd_viommu_alloc_exec,
                .synopsis = "dev=ID hwpt=ID type=smmuv3|tegra241-cmdqv|N [as=NAME]",
                .summary = "Allocate a vIOMMU on a nesting-parent HWPT; as= names it.",
        },
        {
                .name = "viommu-free",
                .fn = cmd_viommu_free_exec,
                .synopsis = "viommu=ID",
                .summary = "Free a vIOMMU.",
        },
        {
                .name = "vdevice-alloc",
                .fn = cmd_vdevice_alloc_exec,
                .synopsis = "viommu=ID dev=ID virt-id=N [as=NAME]",
                .summary = "Allocate a vDEVICE: a device's id behind a vIOMMU; as= names it.",
        },
        {
                .name = "vdevice-free",
                .fn = cmd_vdevice_free_exec,
                .synopsis = "vdevice=ID",
                .summary = "Free a vDEVICE.",
        },
        {
                .name = "pasid-attach",
                .fn = cmd_pasid_attach_exec,
                .synopsis = "dev=ID vpasid=N pt=ID",
                .summary = "Attach a device's vPASID to a PASID-capable HWPT; shows the physical PASID.",
        },
        {
                .name = "pasid-detach",
                .fn = cmd_pasid_detach_exec,
                .synopsis = "dev=ID vpasid=N",
                .summary = "Detach a device's vPASID.",
        },
        {
                .name = "pasid-lookup",
                .fn = cmd_pasid_lookup_exec,
                .synopsis = "dev=ID vpasid=N",
                .summary = "Show the physical PASID and the page table of a device's vPASID.",
        },
};

const Verb *tool_verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

void verbs_print_help(FILE *f) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %s%s%s\n        %s\n", verbs[i].name, verbs[i].synopsis[0] ? " " : "",
                        verbs[i].synopsis, verbs[i].summary);
}

/*
 * Whether key is one of the synopsis' keys: tokens are separated by blanks,
 * lose their leading "[{(" and end at '=' (takes a value) or at "]})" (a bare
 * word); "|" alone separates alternatives.
 */
static bool synopsis_find_key(const char *synopsis, const char *key, bool *ret_takes_value) {
        size_t key_len = strlen(key);
        const char *p = synopsis;

        while (*p) {
                const char *token;
                size_t n;

                while (*p == ' ')
                        p++;
                token = p;
                while (*p && *p != ' ')
                        p++;
                while (token < p && strchr("[{(", *token))
                        token++;
                n = strcspn(token, "=]}) ");
                if (n == 0 || (n == 1 && token[0] == '|'))
                        continue;
                if (n == key_len && strncmp(token, key, n) == 0) {
                        *ret_takes_value = token[n] == '=';
                        return true;
                }
        }
        return false;
}

int tool_verb_check_keys(Tool *tool, const Verb *verb, const Request *req) {
        for (size_t i = 0; i < req->n_args; i++) {
                const RequestArg *a = &req->args[i];
                bool takes_value;

                if (a->key[0] == '\0')
                        return tool_error(tool, -EINVAL, "argument '=%s' has no key", a->value);
                if (!synopsis_find_key(verb->synopsis, a->key, &takes_value))
                        return tool_error(tool, -EINVAL, "unknown key '%s' for '%s'", a->key, verb->name);
                if (takes_value && !a->value)
                        return tool_error(tool, -EINVAL, "key '%s' needs a value: %s=...", a->key, a->key);
                if (!takes_value && a->value)
                        return tool_error(tool, -EINVAL, "key '%s' takes no value", a->key);
                if (verb->repeatable && strcmp(a->key, verb->repeatable) == 0)
                        continue;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(req->args[j].key, a->key) == 0)
                                return tool_error(tool, -EINVAL, "key '%s' given more than once", a->key);
        }
        return 0;
}

/* ------------------------------------------------------------------ argument helpers */

const char *tool_errno_name(int err, char *buf, size_t size) {
        const char *name = ib_errno_name(err);

        if (name)
                return name;
        (void) snprintf(buf, size, "%d", err < 0 ? -err : err);
        return buf;
}

int tool_error(Tool *tool, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) error_sentence_format(tool->error, sizeof(tool->error), r, fmt, ap);
        va_end(ap);
        return r;
}

void tool_error_prefix_op(Tool *tool, size_t op) {
        char copy[sizeof(tool->error)];

        memcpy(copy, tool->error, sizeof(copy));
        (void) snprintf(tool->error, sizeof(tool->error), "op %zu: %.480s", op, copy);
}

static const char *find_value(const Request *req, const char *key) {
        const RequestArg *a = request_find(req, key);

        return a ? a->value : NULL;
}

int tool_parse_number(Tool *tool, const char *key, const char *value, uint64_t *ret) {
        int r;

        if (value[0] == '@') {
                if (!name_is_valid(value + 1))
                        return tool_error(tool, -EINVAL, "key '%s': '%s' is not a valid @NAME", key, value);
                r = name_table_get(&tool->names, value + 1, ret);
                if (r < 0)
                        return tool_error(tool, -EINVAL, "key '%s': unknown name '%s' (no earlier as=%s)",
                                          key, value, value + 1);
                return 0;
        }

        r = tool_parse_u64(value, /* allow_max= */ strcmp(key, "length") == 0, ret);
        if (r == -ERANGE)
                return tool_error(tool, -EINVAL, "key '%s': '%s' does not fit 64 bits", key, value);
        if (r < 0)
                return tool_error(tool, -EINVAL, "key '%s': malformed number '%s'", key, value);
        return 0;
}

int tool_get_u64(Tool *tool, const Request *req, const char *key, bool required, uint64_t *ret) {
        const char *value = find_value(req, key);
        int r;

        if (!value) {
                if (required)
                        return tool_error(tool, -EINVAL, "missing required key '%s'", key);
                return 0;
        }

        r = tool_parse_number(tool, key, value, ret);
        if (r < 0)
                return r;
        return 1;
}

int tool_get_u32(Tool *tool, const Request *req, const char *key, bool required, uint32_t *ret) {
        uint64_t v;
        int r;

        r = tool_get_u64(tool, req, key, required, &v);
        if (r <= 0)
                return r;
        if (v > UINT32_MAX)
                return tool_error(tool, -EINVAL, "key '%s': 0x%llx does not fit an object id (32 bits)",
                                  key, (unsigned long long) v);
        *ret = (uint32_t) v;
        return 1;
}

int tool_get_string(Tool *tool, const Request *req, const char *key, bool required, const char **ret) {
        const char *value = find_value(req, key);

        if (!value) {
                if (required)
                        return tool_error(tool, -EINVAL, "missing required key '%s'", key);
                return 0;
        }
        *ret = value;
        return 1;
}

int tool_get_bool(Tool *tool, const Request *req, const char *key, bool *ret) {
        const char *value = find_value(req, key);
        int r;

        if (!value)
                return 0;
        r = parse_bool(value);
        if (r < 0)
                return tool_error(tool, -EINVAL, "key '%s': '%s' is not yes or no (true/false, 1/0, on/off)",
                                  key, value);
        *ret = r > 0;
        return 1;
}

int tool_get_prot(Tool *tool, const Request *req, unsigned *ret_flags) {
        const char *prot = "rw";
        int r;

        r = tool_get_string(tool, req, "prot", /* required= */ false, &prot);
        if (r < 0)
                return r;

        if (strcmp(prot, "rw") == 0 || strcmp(prot, "wr") == 0)
                *ret_flags = IB_MAP_READABLE | IB_MAP_WRITEABLE;
        else if (strcmp(prot, "r") == 0)
                *ret_flags = IB_MAP_READABLE;
        else if (strcmp(prot, "w") == 0)
                *ret_flags = IB_MAP_WRITEABLE;
        else
                return tool_error(tool, -EINVAL, "key 'prot': '%s' is not r, w or rw", prot);
        return 0;
}

int tool_get_as(Tool *tool, const Request *req, const char **ret) {
        const char *name = NULL;
        int r;

        r = tool_get_string(tool, req, "as", /* required= */ false, &name);
        if (r < 0)
                return r;
        if (name && !name_is_valid(name))
                return tool_error(tool, -EINVAL,
                                  "key 'as': '%s' is not a valid name (1-64 of A-Z a-z 0-9 _ .)", name);
        *ret = name;
        return 0;
}

int tool_set_name(Tool *tool, const char *name, uint64_t value) {
        if (!name)
                return 0;
        return name_table_set(&tool->names, name, value);
}

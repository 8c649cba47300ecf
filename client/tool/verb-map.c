/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-map.c - the mapping verbs of iommu-broker-client: mem-register,
 * mem-unregister, map, unmap, copy, batch.
 *
 * Owns: the keys of map and unmap (parsed once, for the single verbs and for
 * a batch's op= alike), choosing the fd a map or mem-register sends (the
 * named memfd, or a read-only re-open of it for access=ro; none for a map by
 * mem=), and the per-op results of a batch.
 * Must never: print a line itself; the request loop does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* F_DUPFD_CLOEXEC in older libcs */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tool/verbs.h"

/* ------------------------------------------------------------------ map */

typedef struct MapArgs {
        uint32_t ioas;
        const char *memfd;              /* the name in the memfd table; NULL: by mem */
        uint32_t mem;                   /* registered memory (mem-register), without memfd */
        uint64_t size;
        uint64_t offset;
        uint64_t iova;                  /* with IB_MAP_FIXED_IOVA in flags */
        unsigned flags;                 /* IB_MAP_* */
        unsigned seals;                 /* MEMFD_SEAL_* */
        bool read_only;                 /* access=ro: send an O_RDONLY re-open */
        const char *as;
} MapArgs;

/* memfd=NAME, required and not empty. */
static int memfd_name_get(Tool *tool, const Request *req, const char **ret) {
        int r;

        r = tool_get_string(tool, req, "memfd", /* required= */ true, ret);
        if (r < 0)
                return r;
        if ((*ret)[0] == '\0')
                return tool_error(tool, -EINVAL, "key 'memfd': the name is empty");
        return 0;
}

/* access=ro|rw (absent: rw): whether to send a read-only re-open of the memfd. */
static int access_parse(Tool *tool, const Request *req, bool *ret_read_only) {
        const char *access = NULL;
        int r;

        r = tool_get_string(tool, req, "access", /* required= */ false, &access);
        if (r < 0)
                return r;
        if (access && strcmp(access, "ro") != 0 && strcmp(access, "rw") != 0)
                return tool_error(tool, -EINVAL, "key 'access': '%s' is not ro or rw", access);
        *ret_read_only = access && strcmp(access, "ro") == 0;
        return 0;
}

static int map_args_parse(Tool *tool, const Request *req, MapArgs *ret) {
        MapArgs a = {};
        const char *seal = NULL;
        unsigned prot = 0;
        int r;

        r = tool_get_u32(tool, req, "ioas", /* required= */ true, &a.ioas);
        if (r < 0)
                return r;
        r = tool_get_u32(tool, req, "mem", /* required= */ false, &a.mem);
        if (r < 0)
                return r;
        if (r > 0) {
                static const char *const memfd_keys[] = { "memfd", "seal", "access" };

                /* the memory was registered: what memfd=NAME would send or change is not here */
                for (size_t i = 0; i < ELEMENTSOF(memfd_keys); i++)
                        if (request_find(req, memfd_keys[i]))
                                return tool_error(tool, -EINVAL, "key 'mem' excludes the key '%s'", memfd_keys[i]);
        } else {
                r = memfd_name_get(tool, req, &a.memfd);
                if (r < 0)
                        return r;
        }
        r = tool_get_u64(tool, req, "size", /* required= */ true, &a.size);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "offset", /* required= */ false, &a.offset);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "iova", /* required= */ false, &a.iova);
        if (r < 0)
                return r;
        if (r > 0)
                a.flags |= IB_MAP_FIXED_IOVA;
        r = tool_get_prot(tool, req, &prot);
        if (r < 0)
                return r;
        a.flags |= prot;

        r = tool_get_string(tool, req, "seal", /* required= */ false, &seal);
        if (r < 0)
                return r;
        if (seal) {
                if (strcmp(seal, "write") == 0)
                        a.seals = MEMFD_SEAL_WRITE;
                else if (strcmp(seal, "future-write") == 0)
                        a.seals = MEMFD_SEAL_FUTURE_WRITE;
                else
                        return tool_error(tool, -EINVAL, "key 'seal': '%s' is not write or future-write",
                                          seal);
        }

        r = access_parse(tool, req, &a.read_only);
        if (r < 0)
                return r;
        r = tool_get_as(tool, req, &a.as);
        if (r < 0)
                return r;

        if (a.offset > UINT64_MAX - a.size)
                return tool_error(tool, -EINVAL, "keys 'offset' and 'size': the end overflows 64 bits");

        *ret = a;
        return 0;
}

/*
 * The fd a map sends, owned by the caller: a duplicate of the named memfd
 * (created, grown to offset+size and sealed as asked), or for access=ro a
 * read-only open of it through /proc/self/fd.
 */
static int map_args_open(Tool *tool, const MapArgs *a, int *ret_fd) {
        const char *step = "memfd";
        char path[64];
        int memfd = -1, fd, r;

        r = memfd_table_get(&tool->memfds, a->memfd, a->offset + a->size, a->seals, &memfd, &step);
        if (r < 0)
                return tool_error(tool, r, "memfd '%s': %s failed: %s", a->memfd, step, strerror(-r));

        if (a->read_only) {
                (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        r = negative_errno();
                        return tool_error(tool, r, "memfd '%s': re-opening %s read-only failed: %s",
                                          a->memfd, path, strerror(-r));
                }
        } else {
                fd = fcntl(memfd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0) {
                        r = negative_errno();
                        return tool_error(tool, r, "memfd '%s': F_DUPFD_CLOEXEC failed: %s", a->memfd,
                                          strerror(-r));
                }
        }

        *ret_fd = fd;
        return 0;
}

int cmd_map_exec(Tool *tool, const Request *req, Json *result) {
        _cleanup_close_ int fd = -1;
        MapArgs a;
        uint64_t iova;
        int r;

        r = map_args_parse(tool, req, &a);
        if (r < 0)
                return r;
        iova = a.iova;
        if (!a.memfd)
                r = ib_map_mem(tool->client, a.ioas, a.mem, a.offset, a.size, a.flags, a.iova, &iova);
        else {
                r = map_args_open(tool, &a, &fd);
                if (r < 0)
                        return r;
                r = ib_map(tool->client, a.ioas, fd, a.offset, a.size, a.flags, &iova);
        }
        if (r < 0)
                return r;

        r = tool_set_name(tool, a.as, iova);
        if (r < 0)
                return tool_error(tool, r, "mapped at 0x%llx, but as=%s could not be stored",
                                  (unsigned long long) iova, a.as);
        json_hex(result, "iova", iova);
        return 0;
}

/* ------------------------------------------------------------------ mem-register, mem-unregister */

int cmd_mem_register_exec(Tool *tool, const Request *req, Json *result) {
        _cleanup_close_ int fd = -1;
        MapArgs a = {};
        uint32_t mem;
        int r;

        r = memfd_name_get(tool, req, &a.memfd);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "size", /* required= */ false, &a.size);
        if (r < 0)
                return r;
        r = access_parse(tool, req, &a.read_only);
        if (r < 0)
                return r;
        r = tool_get_as(tool, req, &a.as);
        if (r < 0)
                return r;
        r = map_args_open(tool, &a, &fd);
        if (r < 0)
                return r;

        r = ib_mem_register(tool->client, fd, &mem);
        if (r < 0)
                return r;
        r = tool_set_name(tool, a.as, mem);
        if (r < 0)
                return tool_error(tool, r, "registered as mem %u, but as=%s could not be stored", mem, a.as);
        json_uint(result, "mem", mem);
        return 0;
}

int cmd_mem_unregister_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t mem = 0;
        int r;

        r = tool_get_u32(tool, req, "mem", /* required= */ true, &mem);
        if (r < 0)
                return r;
        return ib_mem_unregister(tool->client, mem);
}

/* ------------------------------------------------------------------ unmap */

typedef struct UnmapArgs {
        uint32_t ioas;
        uint64_t iova;
        uint64_t length;
} UnmapArgs;

static int unmap_args_parse(Tool *tool, const Request *req, UnmapArgs *ret) {
        UnmapArgs a = {};
        int r;

        r = tool_get_u32(tool, req, "ioas", /* required= */ true, &a.ioas);
        if (r < 0)
                return r;

        if (request_find(req, "all")) {
                if (request_find(req, "iova") || request_find(req, "length"))
                        return tool_error(tool, -EINVAL, "key 'all' excludes the keys 'iova' and 'length'");
                a.iova = 0;
                a.length = UINT64_MAX;
        } else {
                r = tool_get_u64(tool, req, "iova", /* required= */ true, &a.iova);
                if (r < 0)
                        return r;
                r = tool_get_u64(tool, req, "length", /* required= */ true, &a.length);
                if (r < 0)
                        return r;
        }

        *ret = a;
        return 0;
}

int cmd_unmap_exec(Tool *tool, const Request *req, Json *result) {
        uint64_t unmapped = 0;
        UnmapArgs a;
        int r;

        r = unmap_args_parse(tool, req, &a);
        if (r < 0)
                return r;

        r = ib_unmap(tool->client, a.ioas, a.iova, a.length, &unmapped);
        if (r < 0)
                return r;

        json_hex(result, "length", unmapped);
        return 0;
}

/* ------------------------------------------------------------------ copy */

int cmd_copy_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t dst = 0, src = 0;
        uint64_t src_iova = 0, length = 0, dst_iova = 0;
        unsigned flags = 0, prot = 0;
        const char *as = NULL;
        int r;

        r = tool_get_u32(tool, req, "dst", /* required= */ true, &dst);
        if (r < 0)
                return r;
        r = tool_get_u32(tool, req, "src", /* required= */ true, &src);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "src-iova", /* required= */ true, &src_iova);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "length", /* required= */ true, &length);
        if (r < 0)
                return r;
        r = tool_get_u64(tool, req, "dst-iova", /* required= */ false, &dst_iova);
        if (r < 0)
                return r;
        if (r > 0)
                flags |= IB_MAP_FIXED_IOVA;
        r = tool_get_prot(tool, req, &prot);
        if (r < 0)
                return r;
        flags |= prot;
        r = tool_get_as(tool, req, &as);
        if (r < 0)
                return r;

        r = ib_copy(tool->client, dst, src, src_iova, length, flags, &dst_iova);
        if (r < 0)
                return r;

        r = tool_set_name(tool, as, dst_iova);
        if (r < 0)
                return tool_error(tool, r, "copied to 0x%llx, but as=%s could not be stored",
                                  (unsigned long long) dst_iova, as);
        json_hex(result, "iova", dst_iova);
        return 0;
}

/* ------------------------------------------------------------------ batch */

typedef struct BatchOp {
        Request req;                    /* the op= value, parsed; as points into it */
        bool is_map;
        const char *as;
} BatchOp;

typedef struct BatchOps {
        BatchOp *ops;
        size_t n_ops;
} BatchOps;

static void batch_ops_done(BatchOps *b) {
        for (size_t i = 0; i < b->n_ops; i++)
                request_done(&b->ops[i].req);
        free(b->ops);
        b->ops = NULL;
        b->n_ops = 0;
}

/* Parses one op= value "map,KEY=VALUE,..." or "unmap,..." and adds it to batch. */
static int batch_add_op(Tool *tool, ib_batch *batch, const char *text, BatchOp *op) {
        _cleanup_close_ int fd = -1;
        const Verb *verb;
        int r;

        r = request_parse(text, ',', &op->req);
        if (r == -ENODATA)
                return tool_error(tool, -EINVAL, "key 'op': empty, expected map,... or unmap,...");
        if (r < 0)
                return tool_error(tool, r, "out of memory");

        verb = tool_verb_find(op->req.verb);
        if (!verb || (verb->fn != cmd_map_exec && verb->fn != cmd_unmap_exec))
                return tool_error(tool, -EINVAL, "key 'op': '%s' cannot be batched (only map and unmap)",
                                  op->req.verb);
        r = tool_verb_check_keys(tool, verb, &op->req);
        if (r < 0)
                return r;

        if (verb->fn == cmd_map_exec) {
                MapArgs a;

                r = map_args_parse(tool, &op->req, &a);
                if (r < 0)
                        return r;
                if (!a.memfd)
                        r = ib_batch_add_map_mem(batch, a.ioas, a.mem, a.offset, a.size, a.flags, a.iova);
                else {
                        r = map_args_open(tool, &a, &fd);
                        if (r < 0)
                                return r;
                        /* the batch duplicates fd; ours closes on return */
                        r = ib_batch_add_map(batch, a.ioas, fd, a.offset, a.size, a.flags, a.iova);
                }
                op->is_map = true;
                op->as = a.as;
        } else {
                UnmapArgs a;

                r = unmap_args_parse(tool, &op->req, &a);
                if (r < 0)
                        return r;
                r = ib_batch_add_unmap(batch, a.ioas, a.iova, a.length);
        }
        if (r < 0)
                return tool_error(tool, r, "adding it to the batch failed: %s", strerror(-r));
        return 0;
}

int cmd_batch_exec(Tool *tool, const Request *req, Json *result) {
        _cleanup_(ib_batch_freep) ib_batch *batch = NULL;
        _cleanup_(batch_ops_done) BatchOps ops = {};
        bool stop_on_error = false;
        size_t n_ops = 0, failed = 0;
        int r;

        r = tool_get_bool(tool, req, "stop-on-error", &stop_on_error);
        if (r < 0)
                return r;

        for (size_t i = 0; i < req->n_args; i++)
                if (strcmp(req->args[i].key, "op") == 0)
                        n_ops++;
        if (n_ops == 0)
                return tool_error(tool, -EINVAL, "missing required key 'op'");
        ops.ops = calloc(n_ops, sizeof(*ops.ops));
        if (!ops.ops)
                return tool_error(tool, -ENOMEM, "out of memory");

        r = ib_batch_new(&batch);
        if (r < 0)
                return tool_error(tool, r, "cannot create a batch: %s", strerror(-r));

        for (size_t i = 0; i < req->n_args; i++) {
                if (strcmp(req->args[i].key, "op") != 0)
                        continue;
                ops.n_ops++;
                r = batch_add_op(tool, batch, req->args[i].value, &ops.ops[ops.n_ops - 1]);
                if (r < 0) {
                        tool_error_prefix_op(tool, ops.n_ops - 1);
                        return r;
                }
        }

        r = ib_batch_run(tool->client, batch, stop_on_error);
        if (r < 0)
                return r;

        json_begin_array(result, "results");
        for (size_t i = 0; i < ops.n_ops; i++) {
                const char *error = NULL;
                uint64_t value = 0;
                char name[32];

                r = ib_batch_result(batch, i, &value, &error);
                json_begin_object(result, NULL);
                json_bool(result, "ok", r >= 0);
                if (r < 0) {
                        json_string(result, "errno", tool_errno_name(r, name, sizeof(name)));
                        json_string(result, "error", error && error[0] ? error : strerror(-r));
                        failed++;
                } else if (ops.ops[i].is_map) {
                        json_hex(result, "iova", value);
                        if (tool_set_name(tool, ops.ops[i].as, value) < 0)
                                return tool_error(tool, -ENOMEM, "op %zu: as=%s could not be stored", i,
                                                  ops.ops[i].as);
                } else
                        json_hex(result, "length", value);
                json_end_object(result);
        }
        json_end_array(result);
        json_uint(result, "failed", failed);

        return (int) (failed > INT32_MAX ? INT32_MAX : failed);
}

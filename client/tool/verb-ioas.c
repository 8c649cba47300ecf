/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-ioas.c - the I/O address space verbs of iommu-broker-client:
 * ioas-alloc, ioas-free, iova-ranges, allow-iovas.
 *
 * Owns: turning their keys into library calls and their results into reply
 * members; the ranges= syntax START-LAST[,START-LAST...].
 * Must never: print a line itself; the request loop does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tool/verbs.h"

int cmd_ioas_alloc_exec(Tool *tool, const Request *req, Json *result) {
        ib_ioas_alloc_args args = { .window = IB_IOVA_WINDOW_FULL };
        const char *window = NULL, *as = NULL;
        uint32_t ioas = 0;
        int r;

        r = tool_get_string(tool, req, "window", /* required= */ false, &window);
        if (r < 0)
                return r;
        if (window) {
                if (strcmp(window, "32") == 0)
                        args.window = IB_IOVA_WINDOW_32BIT;
                else if (strcmp(window, "full") == 0)
                        args.window = IB_IOVA_WINDOW_FULL;
                else
                        return tool_error(tool, -EINVAL, "key 'window': '%s' is not 32 or full", window);
        }
        r = tool_get_u64(tool, req, "base", /* required= */ false, &args.base);
        if (r < 0)
                return r;
        args.has_base = r > 0;
        r = tool_get_u64(tool, req, "max", /* required= */ false, &args.max);
        if (r < 0)
                return r;
        args.has_max = r > 0;
        r = tool_get_bool(tool, req, "enforce-snoop", &args.enforce_snoop);
        if (r < 0)
                return r;
        r = tool_get_as(tool, req, &as);
        if (r < 0)
                return r;

        r = ib_ioas_alloc(tool->client, &args, &ioas);
        if (r < 0)
                return r;

        r = tool_set_name(tool, as, ioas);
        if (r < 0)
                return tool_error(tool, r, "ioas %u was allocated, but as=%s could not be stored", ioas, as);
        json_uint(result, "ioas", ioas);
        return 0;
}

int cmd_ioas_free_exec(Tool *tool, const Request *req, Json *result) {
        uint32_t ioas = 0;
        int r;

        r = tool_get_u32(tool, req, "ioas", /* required= */ true, &ioas);
        if (r < 0)
                return r;

        return ib_ioas_free(tool->client, ioas);
}

int cmd_iova_ranges_exec(Tool *tool, const Request *req, Json *result) {
        _cleanup_free_ ib_iova_range *ranges = NULL;
        ib_limits limits = {};
        uint64_t alignment = 0;
        size_t n_alloc, n = 0;
        uint32_t ioas = 0;
        int r;

        r = tool_get_u32(tool, req, "ioas", /* required= */ true, &ioas);
        if (r < 0)
                return r;

        ib_client_get_limits(tool->client, &limits);
        n_alloc = limits.max_iova_ranges > 0 ? limits.max_iova_ranges : 64;
        /* -ENOBUFS tells the count; the ranges may change in between, so retry a few times */
        for (unsigned attempt = 0; attempt < 4; attempt++) {
                ib_iova_range *p = realloc(ranges, n_alloc * sizeof(*ranges));

                if (!p)
                        return tool_error(tool, -ENOMEM, "out of memory");
                ranges = p;
                n = n_alloc;
                r = ib_iova_ranges(tool->client, ioas, ranges, &n, &alignment);
                if (r != -ENOBUFS)
                        break;
                n_alloc = n > n_alloc ? n : n_alloc * 2;
        }
        if (r < 0)
                return r;

        json_begin_array(result, "ranges");
        for (size_t i = 0; i < n; i++) {
                json_begin_object(result, NULL);
                json_hex(result, "start", ranges[i].start);
                json_hex(result, "last", ranges[i].last);
                json_end_object(result);
        }
        json_end_array(result);
        json_hex(result, "alignment", alignment);
        return 0;
}

/* One "START-LAST" of ranges=; START and LAST may be @NAMEs (names never contain '-'). */
static int tool_parse_range(Tool *tool, char *item, ib_iova_range *ret) {
        char *dash;
        int r;

        dash = strchr(item, '-');
        if (!dash)
                return tool_error(tool, -EINVAL, "key 'ranges': '%s' is not START-LAST", item);
        *dash = '\0';
        r = tool_parse_number(tool, "ranges", item, &ret->start);
        if (r >= 0)
                r = tool_parse_number(tool, "ranges", dash + 1, &ret->last);
        *dash = '-';
        return r;
}

int cmd_allow_iovas_exec(Tool *tool, const Request *req, Json *result) {
        _cleanup_free_ ib_iova_range *ranges = NULL;
        _cleanup_free_ char *copy = NULL;
        const char *text = NULL;
        size_t n = 0, n_alloc = 1;
        uint32_t ioas = 0;
        char *item, *save = NULL;
        int r;

        r = tool_get_u32(tool, req, "ioas", /* required= */ true, &ioas);
        if (r < 0)
                return r;
        r = tool_get_string(tool, req, "ranges", /* required= */ true, &text);
        if (r < 0)
                return r;

        for (const char *p = text; *p; p++)
                if (*p == ',')
                        n_alloc++;
        ranges = calloc(n_alloc, sizeof(*ranges));
        copy = strdup(text);
        if (!ranges || !copy)
                return tool_error(tool, -ENOMEM, "out of memory");

        /* strtok_r() would skip empty items: "ranges=," would clear the ranges like "ranges=" */
        for (item = *copy ? copy : NULL; item; item = save) {     /* "ranges=": none, every IOVA */
                save = strchr(item, ',');
                if (save)
                        *save++ = '\0';
                if (*item == '\0')
                        return tool_error(tool, -EINVAL, "key 'ranges': an empty range in '%s'", text);
                r = tool_parse_range(tool, item, &ranges[n]);
                if (r < 0)
                        return r;
                n++;
        }

        return ib_allow_iovas(tool->client, ioas, ranges, n);
}

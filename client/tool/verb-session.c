/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verb-session.c - the session verbs of iommu-broker-client: hello, caps.
 *
 * Owns: printing what the connection learnt at Hello (no round trip: the
 * library keeps it) and the broker's capabilities.
 * Must never: print a line itself; the request loop does.
 */
#include <errno.h>

#include "client/tool/verbs.h"

int cmd_hello_exec(Tool *tool, const Request *req, Json *result) {
        ib_limits limits = {};

        ib_client_get_limits(tool->client, &limits);

        json_uint(result, "protocol", ib_client_protocol_version(tool->client));
        json_string(result, "server", ib_client_server_version(tool->client));
        json_uint(result, "session", ib_client_session_id(tool->client));
        json_begin_object(result, "limits");
        json_uint(result, "max_message_size", limits.max_message_size);
        json_uint(result, "max_fds_per_message", limits.max_fds_per_message);
        json_uint(result, "max_requests_in_flight", limits.max_requests_in_flight);
        json_uint(result, "max_batch_ops", limits.max_batch_ops);
        json_uint(result, "max_iova_ranges", limits.max_iova_ranges);
        json_end_object(result);
        return 0;
}

int cmd_caps_exec(Tool *tool, const Request *req, Json *result) {
        ib_caps caps = {};
        int r;

        r = ib_caps_get(tool->client, &caps);
        if (r < 0)
                return r;

        /* backend[] comes from the wire: never trust it to be terminated */
        caps.backend[sizeof(caps.backend) - 1] = '\0';
        json_string(result, "backend", caps.backend);
        json_begin_array(result, "kernel_features");
        for (unsigned i = 0; i < 32; i++) {
                uint32_t bit = UINT32_C(1) << i;
                const char *name;
                char unknown[32];

                if (!(caps.kernel_features & bit))
                        continue;
                name = ib_kernel_feature_name(bit);
                if (!name) {
                        (void) snprintf(unknown, sizeof(unknown), "bit-%u", i);
                        name = unknown;
                }
                json_string(result, NULL, name);
        }
        json_end_array(result);
        json_hex(result, "page_size", caps.page_size);
        if (caps.has_counters) {
                json_uint(result, "sessions", caps.sessions);
                json_hex(result, "mapped_bytes", caps.mapped_bytes);
                json_uint(result, "objects", caps.objects);
        }
        return 0;
}

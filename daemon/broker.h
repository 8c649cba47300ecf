/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker.h - the broker: the wiring of one daemon instance.
 *
 * Owns: the event base, the backend, the listener, the registry of live
 * sessions with the broker-wide account, signal events, and the service
 * manager notifications (READY, STATUS, WATCHDOG).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"

typedef struct Broker Broker;

typedef struct BrokerConfig {
        const char *backend;            /* "kernel" or "sim" */
        BackendConfig backend_config;
        const char *socket_path;        /* NULL: socket activation */
        mode_t socket_mode;
        gid_t socket_gid;               /* (gid_t) -1: leave as is */
        bool no_map_file;               /* never use IOMMU_IOAS_MAP_FILE */
} BrokerConfig;

int broker_new(Broker **ret, const BrokerConfig *config);
Broker *broker_free(Broker *b);
/* Runs until SIGTERM or SIGINT; 0 on a clean stop. */
int broker_run(Broker *b);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.c - choosing a backend by name.
 *
 * Owns: the list of backends.  The choice is always explicit (--backend=);
 * nothing here falls back from one backend to another.
 */
#include <string.h>

#include "backend/backend.h"
#include "common/macro.h"

static const BackendOps *const backends[] = {
        &backend_kernel_ops,
        &backend_sim_ops,
};

const BackendOps *backend_ops_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(backends); i++)
                if (strcmp(backends[i]->name, name) == 0)
                        return backends[i];
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hwpt.h - hardware page tables a session allocated explicitly.
 *
 * Owns: the record of one HWPT (paging on an IOAS, possibly a nesting parent,
 * or nested on a parent with the guest's stage-1 table): its id, what it
 * hangs on, its flags and its charge.  HWPTs the kernel makes by itself for
 * an IOAS attach are the kernel's and not recorded here.
 * Must never: log above debug.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "common/macro.h"
#include "object/account.h"

typedef struct Hwpt Hwpt;
struct Hwpt {
        Hwpt *next;
        BackendCtx *ctx;
        uint32_t id;
        uint32_t pt_id;                 /* the IOAS (paging) or parent HWPT (nested) */
        uint32_t flags;                 /* BACKEND_HWPT_* */
        uint32_t data_type;             /* 0: paging */
        bool enforce_snoop;             /* devices that cannot enforce coherent DMA are refused */
        Charge charge_object;
        Charge charge_hwpt;
};

int hwpt_new(Hwpt **ret, BackendCtx *ctx, Account *account, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
             uint32_t data_type, const void *data, size_t data_len, const Account **ret_over);
/* IOMMU_DESTROY, then frees the record; -EBUSY (nothing freed) while in use. */
int hwpt_destroy(Hwpt *h);
/* Frees the record only (teardown after the context closed). */
Hwpt *hwpt_free(Hwpt *h);

DEFINE_TRIVIAL_CLEANUP_FUNC(Hwpt *, hwpt_free);

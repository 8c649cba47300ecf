/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verbs.h - the handlers of the verb table.
 *
 * Included only by dispatch.c and core/verb-*.c.  A handler fills
 * c->reply's result and returns 0, or returns call_fail(c, -errno, "...").
 */
#pragma once

#include "core/call.h"

/* verb-hello.c */
int verb_hello(Call *c);
/* The features this broker's protocol offers (HelloReply.features, ResumedEvent.features); their number. */
size_t protocol_features(const Ib__V1__Feature **ret);
int verb_caps(Call *c);

/* verb-ioas.c */
int verb_ioas_alloc(Call *c);
int verb_ioas_free(Call *c);
int verb_iova_ranges(Call *c);
int verb_allow_iovas(Call *c);

/* verb-map.c */
int verb_mem_register(Call *c);
int verb_mem_unregister(Call *c);
int verb_map(Call *c);
int verb_unmap(Call *c);
int verb_copy(Call *c);
int verb_batch(Call *c);

/* verb-device.c */
int verb_device_list(Call *c);
int verb_device_open(Call *c);
int verb_device_attach(Call *c);
int verb_device_detach(Call *c);
int verb_device_close(Call *c);
int verb_hw_info(Call *c);

/* verb-delegate.c */
int verb_device_delegate(Call *c);

/* verb-hwpt.c */
int verb_hwpt_alloc(Call *c);
int verb_hwpt_free(Call *c);
int verb_hwpt_set_dirty_tracking(Call *c);
int verb_hwpt_get_dirty_bitmap(Call *c);
int verb_hwpt_invalidate(Call *c);
int verb_fault_queue_alloc(Call *c);
int verb_fault_queue_free(Call *c);
int verb_viommu_alloc(Call *c);
int verb_viommu_free(Call *c);
int verb_vdevice_alloc(Call *c);
int verb_vdevice_free(Call *c);

/* verb-pasid.c */
int verb_pasid_attach(Call *c);
int verb_pasid_detach(Call *c);
int verb_pasid_lookup(Call *c);

/* Helpers shared by the handlers (verb-ioas.c). */
typedef struct Ioas Ioas;
typedef struct Account Account;
/* The session's IOAS id, or NULL with *ret = call_fail(ENOENT, ...). */
Ioas *call_find_ioas(Call *c, uint32_t id, int *ret);
typedef struct Device Device;
/* The session's open device dev_id, or NULL with *ret = call_fail(ENOENT, ...) (verb-device.c). */
Device *call_find_device(Call *c, uint32_t dev_id, int *ret);
typedef struct DeviceSlot DeviceSlot;
/*
 * Why the device is taken (open in a session, delegated, quarantined), as
 * -EBUSY with the sentence, telling a pid only to the uid it went to; 0 if
 * it is idle (verb-device.c: DeviceOpen and DeviceDelegate say it alike).
 */
int call_fail_device_busy(Call *c, const DeviceSlot *slot);
typedef struct BackendCtx BackendCtx;
/*
 * The session's iommufd, opened at the first verb that makes a kernel
 * object (charged to ACCOUNT_FDS, kept in the fd store), or NULL with
 * *ret = call_fail(...) (verb-ioas.c).
 */
BackendCtx *call_context(Call *c, int *ret);
/* -EDQUOT with a sentence naming the limit that was reached. */
int call_fail_quota(Call *c, const Account *over);

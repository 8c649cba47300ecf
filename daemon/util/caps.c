/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * caps.c - see caps.h.
 */
#include <errno.h>

#include <cap-ng.h>

#include "util/caps.h"
#include "util/log.h"

int caps_raise(unsigned cap) {
        if (capng_get_caps_process() < 0)
                return -EPERM;
        if (capng_have_capability(CAPNG_PERMITTED, cap) <= 0)
                return -EPERM;
        if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE, cap) < 0 || capng_apply(CAPNG_SELECT_CAPS) < 0)
                return -EPERM;
        return 0;
}

void caps_lower(unsigned cap) {
        if (capng_get_caps_process() < 0 || capng_update(CAPNG_DROP, CAPNG_EFFECTIVE, cap) < 0 ||
            capng_apply(CAPNG_SELECT_CAPS) < 0)
                log_error("cannot make cap_%s ineffective again", capng_capability_to_name(cap) ?: "?");
}

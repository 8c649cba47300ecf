/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * settle.h - answering the request a crash interrupted, exactly once.
 *
 * Owns: for one restored session, making the kernel agree with its records
 * for the request its slot names (the argument is the Theory of Operation
 * in core/recover.c), and that request's one answer: its real result, or
 * ECANCELED with not_applied.
 * Must never: serve the session (recover.c resumes it afterwards).
 */
#pragma once

#include <stdint.h>

#include "core/recover-internal.h"

/* Settles r's interrupted request and answers it; 0, or -EPROTO when the session must end (r->why says why). */
int settle_request(Recovery *rc, RecSession *r);
/* The id of the first request waiting in s's socket (a peek: nothing is taken); 0 if none. */
uint64_t settle_peek_next_id(Session *s);

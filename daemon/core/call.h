/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * call.h - one request while its handler runs.
 *
 * Owns: Call, what a verb handler gets and fills (the request, its fds, the
 * reply being built, the sentence explaining a failure, the fds the reply
 * carries and an arena for what the reply points to).  Running the handler
 * and sending the reply is dispatch.c's.
 * Must never: know the verb table, or send anything.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "common/protocol.h"
#include "object/account.h"
#include "proto/broker.pb-c.h"
#include "wire/fdlist.h"

typedef struct Session Session;
typedef struct CallArenaItem CallArenaItem;
typedef struct Ioas Ioas;
typedef struct MemReg MemReg;

#define CALL_SCRATCH_SIZE 256U

typedef struct Call {
        Session *session;
        const Ib__V1__Request *request;
        FdList *fds;
        Ib__V1__Reply *reply;
        char error[256];
        CallArenaItem *arena;
        int reply_fds[1 + IB_MAX_DELEGATE_DEVICES];     /* sent with the reply (duplicated; still owned by their objects) */
        size_t n_reply_fds;
        int close_fds[1 + IB_MAX_DELEGATE_DEVICES];     /* owned by the call: closed after the reply went (call_done) */
        size_t n_close_fds;
        Charge reply_fds_charge;        /* ACCOUNT_FDS for reply_fds, taken before the handler; the queued reply keeps it */
        /*
         * With remember (a Batch's operations, verb_batch()): the last IOAS
         * and registration they found by id.  A Batch only maps and unmaps,
         * which free neither, and its session waits for it, so both stay
         * until its reply.
         */
        bool remember;
        Ioas *found_ioas;
        MemReg *found_memreg;
        /* call_alloc()'s first bytes: a reply and what it points to, mostly, without malloc */
        size_t scratch_used;
        _Alignas(max_align_t) uint8_t scratch[CALL_SCRATCH_SIZE];
} Call;

/*
 * An empty call of session s: no request, fds, reply, error, arena or reply
 * fds yet.  Its arrays are left as they are (a Call is made per request and
 * per Batch op: zeroing its kilobyte would cost more than the rest of the op).
 */
void call_init(Call *c, Session *s);
/*
 * Zeroed memory that lives until the reply is sent (the Call's scratch while
 * it lasts, then the heap; so a Call must not be copied once it allocated);
 * NULL on ENOMEM.
 */
void *call_alloc(Call *c, size_t size);
/* The same, not zeroed: for a large block whose every byte the caller writes before it is read. */
void *call_alloc_uninit(Call *c, size_t size);
char *call_strdup(Call *c, const char *s);
/* Sets the sentence of a failure; returns -abs(err). */
int call_fail(Call *c, int err, const char *fmt, ...) _printf_(3, 4);
/* Frees the arena and closes close_fds. */
void call_done(Call *c);

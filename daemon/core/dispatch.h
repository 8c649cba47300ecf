/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dispatch.h - one request's way from decoded message to reply.
 *
 * Owns: dispatch_message(), which checks a request against the verb table
 * (Hello first, fd counts), runs the handler with its Call (core/call.h) and
 * sends the one reply, and dispatch_server, the SessionServer the broker
 * lends every session so that session.c reaches the table without
 * including it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/session.h"
#include "wire/fdlist.h"

/* One error reply, not to a request (id 0) or to id: the session's end, a timeout. */
void dispatch_send_error(Session *s, uint64_t id, int err, const char *message);

/*
 * Handles one datagram of s: decodes it, runs its verb, sends the reply.
 * Every bad input gets an error reply; the session goes on.
 */
void dispatch_message(Session *s, const uint8_t *data, size_t size, FdList *fds, unsigned flags);
/* Answers the request in data (id 0 if undecodable) with EACCES and reason: a refused connection. */
void dispatch_refuse(Session *s, const uint8_t *data, size_t size, FdList *fds, const char *reason);

/* The three above, for SessionHost.server. */
extern const SessionServer dispatch_server;

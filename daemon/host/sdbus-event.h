/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sdbus-event.h - an sd-bus connection driven by the broker's libevent loop.
 *
 * Owns: the libevent events that watch one sd_bus (its fd for the directions
 * sd_bus_get_events() asks for, a timer for sd_bus_get_timeout(), and a
 * "kick" to flush messages queued outside of sd_bus_process()), and the
 * bounded sd_bus_process() loop that runs when any of them fires
 * (sd_bus_get_fd(3)).
 * Must never: block, own the bus's objects or vtables, or let one busy bus
 * starve the VMM sockets (at most SDBUS_EVENT_BATCH messages per turn).
 */
#pragma once

#include <systemd/sd-bus.h>

#include "common/macro.h"

struct event_base;

typedef struct SdBusEvent SdBusEvent;

/* Messages handled per loop turn before the other events get theirs. */
#define SDBUS_EVENT_BATCH 64

/*
 * Called once when the connection is lost (sd_bus_process() failed, e.g. the
 * bus daemon went away); the events are already removed.
 */
typedef void (*SdBusEventOnLost)(int err, void *userdata);

/**
 * sdbus_event_attach() - drive @bus from @base.
 * Takes a reference to @bus.  Processing starts at the next loop turn.
 * Return: 0 or -errno.
 */
int sdbus_event_attach(SdBusEvent **ret, sd_bus *bus, struct event_base *base, SdBusEventOnLost on_lost,
                       void *userdata);
/* Removes the events and drops the reference; the bus stays open.  NULL is fine. */
SdBusEvent *sdbus_event_free(SdBusEvent *e);

/*
 * Call after sending on the bus from outside a bus callback (e.g. emitting a
 * signal from another event): arms the next loop turn to flush the queue and
 * re-evaluate what to wait for.
 */
void sdbus_event_kick(SdBusEvent *e);

DEFINE_TRIVIAL_CLEANUP_FUNC(SdBusEvent *, sdbus_event_free);

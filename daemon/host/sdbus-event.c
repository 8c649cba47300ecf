/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sdbus-event.c - see sdbus-event.h.
 *
 * sd-bus never blocks when it is not asked to: the owner of the loop polls
 * sd_bus_get_fd() for sd_bus_get_events(), wakes up at sd_bus_get_timeout()
 * (an absolute CLOCK_MONOTONIC time; UINT64_MAX for none), and then calls
 * sd_bus_process() until it returns 0.  Both the events and the timeout
 * change with every message, so they are re-read after every turn.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "host/sdbus-event.h"
#include "util/log.h"

struct SdBusEvent {
        sd_bus *bus;
        struct event_base *base;
        struct event *ev_read;
        struct event *ev_write;
        struct event *ev_timer;
        struct event *ev_kick;
        SdBusEventOnLost on_lost;
        void *userdata;
};

static void sdbus_event_stop(SdBusEvent *e) {
        if (e->ev_read)
                (void) event_del(e->ev_read);
        if (e->ev_write)
                (void) event_del(e->ev_write);
        if (e->ev_timer)
                (void) event_del(e->ev_timer);
        if (e->ev_kick)
                (void) event_del(e->ev_kick);
}

/* Waits for what sd-bus wants next. */
static int sdbus_event_arm(SdBusEvent *e) {
        uint64_t until;
        int events, r;

        events = sd_bus_get_events(e->bus);
        if (events < 0)
                return events;
        if (event_add(e->ev_read, NULL) < 0)
                return -ENOMEM;
        if (events & POLLOUT) {
                if (event_add(e->ev_write, NULL) < 0)
                        return -ENOMEM;
        } else
                (void) event_del(e->ev_write);

        r = sd_bus_get_timeout(e->bus, &until);
        if (r < 0)
                return r;
        if (until == UINT64_MAX)
                (void) event_del(e->ev_timer);
        else {
                struct timespec ts;
                uint64_t now, delta;
                struct timeval tv;

                (void) clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
                delta = until > now ? until - now : 0;
                tv.tv_sec = (time_t) (delta / 1000000U);
                tv.tv_usec = (suseconds_t) (delta % 1000000U);
                if (event_add(e->ev_timer, &tv) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static void sdbus_event_dispatch(SdBusEvent *e) {
        int r = 0;

        for (unsigned i = 0; i < SDBUS_EVENT_BATCH; i++) {
                r = sd_bus_process(e->bus, NULL);
                if (r <= 0)
                        break;
        }
        if (r > 0) {
                /* More to do: let the other events have their turn first. */
                event_active(e->ev_kick, 0, 0);
                r = 0;
        }
        if (r >= 0)
                r = sdbus_event_arm(e);
        if (r < 0) {
                sdbus_event_stop(e);
                if (e->on_lost)
                        e->on_lost(r, e->userdata);
                /* careful: the callback may have freed e */
        }
}

static void sdbus_event_on_io(evutil_socket_t fd, short what, void *userdata) {
        sdbus_event_dispatch(userdata);
}

static void sdbus_event_on_timer(evutil_socket_t fd, short what, void *userdata) {
        sdbus_event_dispatch(userdata);
}

static void sdbus_event_on_kick(evutil_socket_t fd, short what, void *userdata) {
        sdbus_event_dispatch(userdata);
}

int sdbus_event_attach(SdBusEvent **ret, sd_bus *bus, struct event_base *base, SdBusEventOnLost on_lost,
                       void *userdata) {
        _cleanup_(sdbus_event_freep) SdBusEvent *e = NULL;
        int fd;

        fd = sd_bus_get_fd(bus);
        if (fd < 0)
                return fd;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->bus = sd_bus_ref(bus);
        e->base = base;
        e->on_lost = on_lost;
        e->userdata = userdata;
        e->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, sdbus_event_on_io, e);
        e->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, sdbus_event_on_io, e);
        e->ev_timer = evtimer_new(base, sdbus_event_on_timer, e);
        e->ev_kick = event_new(base, -1, 0, sdbus_event_on_kick, e);
        if (!e->ev_read || !e->ev_write || !e->ev_timer || !e->ev_kick)
                return -ENOMEM;

        /* The first turn processes whatever the set-up left queued (Hello, name request replies). */
        event_active(e->ev_kick, 0, 0);
        *ret = TAKE_PTR(e);
        return 0;
}

SdBusEvent *sdbus_event_free(SdBusEvent *e) {
        if (!e)
                return NULL;
        if (e->ev_read)
                event_free(e->ev_read);
        if (e->ev_write)
                event_free(e->ev_write);
        if (e->ev_timer)
                event_free(e->ev_timer);
        if (e->ev_kick)
                event_free(e->ev_kick);
        sd_bus_unref(e->bus);
        free(e);
        return NULL;
}

void sdbus_event_kick(SdBusEvent *e) {
        if (e)
                event_active(e->ev_kick, 0, 0);
}

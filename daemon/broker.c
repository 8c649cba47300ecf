/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker.c - see broker.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "broker.h"
#include "common/macro.h"
#include "core/session.h"
#include "object/account.h"
#include "util/log.h"
#include "wire/listener.h"

struct Broker {
        struct event_base *base;
        Backend *backend;
        Listener *listener;
        Account account;
        SessionHost host;
        Session *sessions;
        uint64_t next_session_id;
        struct event *ev_sigterm;
        struct event *ev_sigint;
        struct event *ev_watchdog;
        const BrokerObserver *observer;
        void *observer_userdata;
};

static void broker_status(Broker *b) {
        (void) sd_notifyf(false, "STATUS=%zu sessions, %" PRIu64 " objects, %" PRIu64 " bytes mapped",
                          b->host.n_sessions, b->account.used[ACCOUNT_OBJECTS],
                          b->account.used[ACCOUNT_MAPPED_BYTES]);
}

static void broker_on_session_free(Session *s, void *userdata) {
        Broker *b = userdata;

        if (b->observer && b->observer->session_closed)
                b->observer->session_closed(s, b->observer_userdata);
        if (s->prev)
                s->prev->next = s->next;
        else if (b->sessions == s)
                b->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
        broker_status(b);
}

static void broker_on_accept(int fd, void *userdata) {
        Broker *b = userdata;
        Session *s;
        int r;

        r = session_new(&s, &b->host, ++b->next_session_id, fd);
        if (r < 0) {
                log_warning_errno(r, "cannot start a session for a new connection, closing it: %m");
                return;
        }
        s->next = b->sessions;
        if (b->sessions)
                b->sessions->prev = s;
        b->sessions = s;
        log_info("%s opened: uid %u gid %u pid %d%s", s->name, (unsigned) s->cred.uid, (unsigned) s->cred.gid,
                 (int) s->cred.pid, s->pidfd >= 0 ? " (pidfd)" : "");
        broker_status(b);
        if (b->observer && b->observer->session_opened)
                b->observer->session_opened(s, b->observer_userdata);
}

static void broker_on_signal(evutil_socket_t sig, short what, void *userdata) {
        Broker *b = userdata;

        log_info("%s received, stopping", strsignal((int) sig));
        (void) sd_notify(false, "STOPPING=1");
        (void) event_base_loopbreak(b->base);
}

static void broker_on_watchdog(evutil_socket_t fd, short what, void *userdata) {
        (void) sd_notify(false, "WATCHDOG=1");
}

/*
 * The simulated IOMMU's devices when none are configured: one that can do
 * everything (PASIDs, nesting, dirty tracking, snoop control) and one that can
 * do nothing beyond translation, like QEMU's edu behind an emulated VT-d.
 */
static const BackendDeviceInfo sim_default_devices[] = {
        { .name = "0000:00:02.0", .vendor_id = 0x1234, .device_id = 0x11e8, .iommu_group = 1, .pasid_width = 20,
          .dirty_tracking = true, .nesting = true, .snoop_control = true },
        { .name = "0000:00:03.0", .vendor_id = 0x1234, .device_id = 0x11e8, .iommu_group = 2 },
};

int broker_new(Broker **ret, const BrokerConfig *config) {
        BackendConfig backend_config = config->backend_config;
        const BackendOps *ops;
        Broker *b;
        uint64_t wd_usec = 0;
        int r;

        ops = backend_ops_by_name(config->backend);
        if (!ops)
                return log_error_errno(EINVAL, "unknown backend '%s': use 'kernel' or 'sim'", config->backend);

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_error_errno(ENOMEM, "out of memory");
        account_init(&b->account, "broker", NULL);

        b->base = event_base_new();
        if (!b->base) {
                r = log_error_errno(ENOMEM, "cannot create the event loop");
                goto fail;
        }

        if (!backend_config.sim_devices) {
                backend_config.sim_devices = sim_default_devices;
                backend_config.n_sim_devices = ELEMENTSOF(sim_default_devices);
        }
        r = ops->open(&backend_config, &b->backend);
        if (r == -ENODEV || r == -ENOENT) {
                log_error("%s not found: this kernel has no iommufd support (CONFIG_IOMMUFD) or the iommufd "
                          "module is not loaded. To run without an IOMMU, for tests and demos only, "
                          "pass --backend=sim.",
                          config->backend_config.iommu_path ?: "/dev/iommu");
                goto fail;
        }
        if (r < 0) {
                log_error_errno(r, "cannot open the %s backend: %m", ops->name);
                goto fail;
        }
        if (config->no_map_file)
                b->backend->features &= ~(uint64_t) BACKEND_FEATURE_MAP_FILE;
        log_info("memfds are mapped with %s",
                 backend_has(b->backend, BACKEND_FEATURE_MAP_FILE) ? "IOMMU_IOAS_MAP_FILE" : "a broker mmap and IOMMU_IOAS_MAP");
        if (strcmp(ops->name, "sim") == 0)
                log_notice("using the simulated IOMMU backend: no device DMA is translated (tests and demos only)");

        b->host = (SessionHost) {
                .base = b->base,
                .backend = b->backend,
                .account = &b->account,
                .uid = geteuid(),
                .on_session_free = broker_on_session_free,
                .userdata = b,
                .global_pasid = config->global_pasid,
        };
        r = pasid_space_init(&b->host.pasids);
        if (r < 0) {
                log_error_errno(r, "cannot set up the PASID space: %m");
                goto fail;
        }
        r = device_table_refresh(&b->host.devices, b->backend);
        if (r < 0)
                log_warning_errno(r, "cannot list devices, continuing without: %m");
        else
                log_info("%zu device%s available", b->host.devices.n_slots, b->host.devices.n_slots == 1 ? "" : "s");

        if (config->socket_path)
                r = listener_new_path(&b->listener, b->base, config->socket_path, config->socket_mode,
                                      config->socket_gid, broker_on_accept, b);
        else {
                r = listener_new_activated(&b->listener, b->base, broker_on_accept, b);
                if (r == -ENOENT) {
                        log_error("no socket: pass --socket PATH or start iommu-brokerd through its systemd socket unit");
                        goto fail;
                }
        }
        if (r < 0) {
                log_error_errno(r, "cannot listen on %s: %m", config->socket_path ?: "the activated socket");
                goto fail;
        }

        b->ev_sigterm = evsignal_new(b->base, SIGTERM, broker_on_signal, b);
        b->ev_sigint = evsignal_new(b->base, SIGINT, broker_on_signal, b);
        if (!b->ev_sigterm || !b->ev_sigint || evsignal_add(b->ev_sigterm, NULL) < 0 ||
            evsignal_add(b->ev_sigint, NULL) < 0) {
                r = log_error_errno(ENOMEM, "cannot install signal events");
                goto fail;
        }
        (void) signal(SIGPIPE, SIG_IGN);

        if (sd_watchdog_enabled(false, &wd_usec) > 0 && wd_usec > 0) {
                struct timeval tv = { .tv_sec = (time_t) (wd_usec / 2 / 1000000),
                                      .tv_usec = (suseconds_t) (wd_usec / 2 % 1000000) };

                b->ev_watchdog = event_new(b->base, -1, EV_PERSIST, broker_on_watchdog, b);
                if (!b->ev_watchdog || event_add(b->ev_watchdog, &tv) < 0) {
                        r = log_error_errno(ENOMEM, "cannot arm the watchdog timer");
                        goto fail;
                }
        }

        *ret = b;
        return 0;

fail:
        broker_free(b);
        return r < 0 ? r : -EIO;
}

Broker *broker_free(Broker *b) {
        if (!b)
                return NULL;
        while (b->sessions)
                session_free(b->sessions);      /* unlinks itself through broker_on_session_free() */
        listener_free(b->listener);
        if (b->ev_sigterm)
                event_free(b->ev_sigterm);
        if (b->ev_sigint)
                event_free(b->ev_sigint);
        if (b->ev_watchdog)
                event_free(b->ev_watchdog);
        device_table_clear(&b->host.devices);
        pasid_space_deinit(&b->host.pasids);
        if (b->backend)
                b->backend->ops->close(b->backend);
        if (b->base)
                event_base_free(b->base);
        free(b);
        return NULL;
}

int broker_run(Broker *b) {
        log_info("serving with the %s backend", backend_name(b->backend));
        (void) sd_notify(false, "READY=1");
        broker_status(b);
        if (event_base_dispatch(b->base) < 0)
                return log_error_errno(EIO, "the event loop failed");
        return 0;
}

void broker_set_observer(Broker *b, const BrokerObserver *ops, void *userdata) {
        b->observer = ops;
        b->observer_userdata = userdata;
}

struct event_base *broker_get_event_base(Broker *b) {
        return b->base;
}

const char *broker_backend_name(Broker *b) {
        return backend_name(b->backend);
}

const Account *broker_account(Broker *b) {
        return &b->account;
}

size_t broker_n_sessions(Broker *b) {
        return b->host.n_sessions;
}

Session *broker_first_session(Broker *b) {
        return b->sessions;
}

Session *broker_find_session(Broker *b, uint64_t id) {
        for (Session *s = b->sessions; s; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

int broker_kill_session(Broker *b, uint64_t id) {
        Session *s = broker_find_session(b, id);

        if (!s)
                return -ENOENT;
        log_notice("%s: ended by the administrator", s->name);
        session_free(s);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * service-manager.h - what the service manager is doing with this service.
 *
 * Owns: the question a SIGTERM raises: is the broker being stopped, or
 * restarted (systemctl restart: the fd store is kept and a new broker will
 * restore every session), asked of systemd over the system bus (the unit of
 * this pid, its queued job, that job's type).
 * Must never: keep a bus connection, or wait more than a second.
 */
#pragma once

/*
 * 1 if a restart of this process's unit is queued (job type restart,
 * try-restart, reload-or-restart or try-reload-or-restart), 0 if not or no
 * service manager answers (the safe answer: a stop ends the sessions), or
 * -errno on a local failure.
 */
int service_manager_restart_queued(void);

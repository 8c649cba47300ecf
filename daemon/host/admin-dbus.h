/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * admin-dbus.h - the admin API of iommu-brokerd on D-Bus.
 *
 * Owns: the connection to the admin bus, the well-known name, the one
 * object and its interface (org.iommubroker.Broker1.Manager, documented in
 * docs/admin-api.md) with its read-only views of sessions, tenants (usage
 * against limits), devices and PASIDs, the caller check of the mutating
 * methods with its audit records, and the signals sent when sessions open and close (as the
 * broker's observer) and when a reload through the API ends.
 * Must never: block the loop except for the one bus round trip a caller
 * check takes, read the broker's state other than through its views
 * (broker.h: sessions, tenants, devices, PASIDs, delegations) or act on it
 * other than through its functions, or report data the broker does not
 * have.
 */
#pragma once

#include <sys/types.h>

#include "common/macro.h"

typedef struct Broker Broker;
typedef struct AdminBus AdminBus;

#define ADMIN_BUS_NAME "org.iommubroker.Broker1"
#define ADMIN_OBJECT_PATH "/org/iommubroker/Broker1"
#define ADMIN_INTERFACE "org.iommubroker.Broker1.Manager"
#define ADMIN_ERROR_NO_SUCH_SESSION "org.iommubroker.Broker1.Error.NoSuchSession"
#define ADMIN_ERROR_NO_SUCH_DELEGATION "org.iommubroker.Broker1.Error.NoSuchDelegation"
#define ADMIN_ERROR_POLICY_REFUSED "org.iommubroker.Broker1.Error.PolicyRefused"

typedef struct AdminBusConfig {
        /*
         * "auto": the system bus if it can be reached and the name acquired,
         * else no admin API (logged); "system", "session": that bus, and a
         * failure is fatal; "none": no admin API; anything else: a D-Bus
         * address ("unix:path=/run/x/bus"), failure fatal.
         */
        const char *bus;
        const char *admin_group;        /* NULL: only root and the broker's own uid may mutate */
        gid_t admin_gid;
} AdminBusConfig;

/**
 * admin_bus_new() - connect the admin API and start serving it from the
 * broker's loop.
 *
 * Takes the name ADMIN_BUS_NAME before returning, so that once the broker
 * reports READY the API is there.  Installs itself as the broker's
 * observer.
 *
 * Return: 0 with *ret set, 0 with *ret NULL when the API is off ("none", or
 * "auto" without a usable system bus), or -errno (logged).
 */
int admin_bus_new(AdminBus **ret, Broker *b, const AdminBusConfig *config);
/* Removes the observer first; then flushes and closes the connection.  NULL is fine. */
AdminBus *admin_bus_free(AdminBus *a);

DEFINE_TRIVIAL_CLEANUP_FUNC(AdminBus *, admin_bus_free);

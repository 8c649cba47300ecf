/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl.h - what the subcommands of iommu-brokerctl share.
 *
 * Owns: the names of the admin API (docs/admin-api.md; the daemon's side is
 * daemon/host/admin-dbus.h), the Ctl state a subcommand gets (the bus and
 * the output mode), the exit statuses, and turning a failed call into one
 * clear sentence on stderr and its exit status.
 * Must never: print to stdout (the subcommands own their output).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#define CTL_BUS_NAME "org.iommubroker.Broker1"
#define CTL_OBJECT_PATH "/org/iommubroker/Broker1"
#define CTL_INTERFACE "org.iommubroker.Broker1.Manager"
#define CTL_ERROR_NO_SUCH_SESSION "org.iommubroker.Broker1.Error.NoSuchSession"
#define CTL_ERROR_NO_SUCH_DELEGATION "org.iommubroker.Broker1.Error.NoSuchDelegation"
#define CTL_ERROR_POLICY_REFUSED "org.iommubroker.Broker1.Error.PolicyRefused"

/* Exit statuses (iommu-brokerctl(1), EXIT STATUS). */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILED = 1,            /* the broker refused or the operation failed */
        CTL_EXIT_USAGE = 2,
        CTL_EXIT_UNREACHABLE = 3,       /* no bus, or no broker on it */
        CTL_EXIT_DENIED = 4,            /* the caller lacks permission */
};

typedef struct Ctl {
        sd_bus *bus;
        const char *bus_label;          /* "system bus", "session bus" or the address, for messages */
        bool json;
} Ctl;

typedef struct CtlCommand {
        const char *name;
        int (*fn)(Ctl *ctl, int argc, char **argv);     /* argv[0] is the name; returns an exit status */
        int min_args;
        int max_args;
        const char *args;               /* for --help: "ID" */
        const char *summary;
} CtlCommand;

int ctl_status(Ctl *ctl, int argc, char **argv);
int ctl_sessions(Ctl *ctl, int argc, char **argv);
int ctl_tenants(Ctl *ctl, int argc, char **argv);
int ctl_devices(Ctl *ctl, int argc, char **argv);
int ctl_pasids(Ctl *ctl, int argc, char **argv);
int ctl_kill_session(Ctl *ctl, int argc, char **argv);
int ctl_delegations(Ctl *ctl, int argc, char **argv);
int ctl_end_delegation(Ctl *ctl, int argc, char **argv);
int ctl_reload(Ctl *ctl, int argc, char **argv);
int ctl_monitor(Ctl *ctl, int argc, char **argv);

/*
 * A call to the broker failed with r and error: prints "iommu-brokerctl:
 * WHAT: why" (or that the broker is not running, or that permission is
 * lacking) and returns the exit status.
 */
int ctl_call_failed(Ctl *ctl, const char *what, int r, const sd_bus_error *error);

/* A command that ends one object by id through an admin method (kill-session, end-delegation). */
typedef struct CtlEnd {
        const char *command;            /* "kill-session" */
        const char *object;             /* "session" */
        const char *listing;            /* the command that lists the ids: "sessions" */
        const char *method;             /* "KillSession" */
        const char *no_such_error;      /* its D-Bus error for an unknown id */
        const char *done;               /* after "Session 7 ": what happened */
} CtlEnd;
/* Parses arg as the id, calls the method and prints the outcome; the exit status. */
int ctl_end_by_id(Ctl *ctl, const CtlEnd *end, const char *arg);

/* "2.0M" for people: binary units, one decimal below 10. */
const char *ctl_format_bytes(char *buf, size_t size, uint64_t bytes);

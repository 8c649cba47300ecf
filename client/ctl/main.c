/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c - iommu-brokerctl, the admin CLI of iommu-brokerd.
 *
 * Owns: the command line (getopt_long, then a subcommand from the table
 * below: the index of what the tool can do), the connection to the admin
 * bus, the error sentences and exit statuses shared by every subcommand.
 * Must never: talk to the broker's VMM socket, or decide who may do what
 * (the broker does; this tool only reports its answer).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* program_invocation_short_name */
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "client/ctl/ctl.h"
#include "common/macro.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"       /* config.h supplies it in the build */
#endif

static const CtlCommand ctl_commands[] = {
        { "status", ctl_status, 0, 0, "", "show the broker's version, backend and counters (default)" },
        { "sessions", ctl_sessions, 0, 0, "", "list the live sessions: peer, objects, mapped bytes" },
        { "tenants", ctl_tenants, 0, 0, "", "list the policy's tenants: sessions, usage against limits, devices" },
        { "devices", ctl_devices, 0, 0, "", "list the devices and the session holding each" },
        { "pasids", ctl_pasids, 0, 0, "", "list the attached PASIDs: vPASID, PASID, page table" },
        { "delegations", ctl_delegations, 0, 0, "", "list the devices delegated to VMMs and their processes" },
        { "kill-session", ctl_kill_session, 1, 1, "ID", "end a session and destroy its objects" },
        { "end-delegation", ctl_end_delegation, 1, 1, "ID", "kill the VMM of a delegation; its devices return" },
        { "reload", ctl_reload, 0, 0, "", "re-read the policy files (as systemctl reload does)" },
        { "monitor", ctl_monitor, 0, 0, "", "follow sessions as they open and close" },
};

static const char *arg_bus = "system";
static bool arg_json;

static void ctl_help(void) {
        printf("Usage: %s [OPTION...] [COMMAND [ARG...]]\n"
               "\n"
               "Administer iommu-brokerd through its D-Bus API (" CTL_BUS_NAME ").\n"
               "\n"
               "Commands:\n",
               program_invocation_short_name);
        for (size_t i = 0; i < ELEMENTSOF(ctl_commands); i++) {
                char usage[64];

                (void) snprintf(usage, sizeof(usage), "%s%s%s", ctl_commands[i].name,
                                ctl_commands[i].args[0] ? " " : "", ctl_commands[i].args);
                printf("  %-18s %s\n", usage, ctl_commands[i].summary);
        }
        printf("\n"
               "Options:\n"
               "  -j, --json         print JSON (one document; monitor: one object per line)\n"
               "  -b, --bus=BUS      system (default), session, or a D-Bus address such as\n"
               "                     unix:path=/run/dbus/system_bus_socket\n"
               "  -h, --help         show this help\n"
               "  -V, --version      show the version\n"
               "\n"
               "Listing is open to every user; kill-session, end-delegation and reload need root or the\n"
               "broker's admin group.  Exit status: 0 success, 1 the operation failed, 2 usage error, 3 the\n"
               "bus or the broker cannot be reached, 4 permission denied.\n"
               "\n"
               "See the iommu-brokerctl(1) man page for details.\n");
}

/* 1: go on; 0: done (--help, --version); -EINVAL: usage error, reported. */
static int ctl_parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "bus", required_argument, NULL, 'b' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int c;

        /* '+': options end at the command, so that "kill-session -1" is an argument. */
        while ((c = getopt_long(argc, argv, "+jb:hV", options, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        arg_json = true;
                        break;
                case 'b':
                        arg_bus = optarg;
                        break;
                case 'h':
                        ctl_help();
                        return 0;
                case 'V':
                        printf("iommu-brokerctl %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try '%s --help'.\n", program_invocation_short_name);
                        return -EINVAL;
                }
        }
        return 1;
}

static int ctl_connect(sd_bus **ret, const char *where) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (strcmp(where, "system") == 0)
                return sd_bus_open_system(ret);
        if (strcmp(where, "session") == 0)
                return sd_bus_open_user(ret);
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, where);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int ctl_call_failed(Ctl *ctl, const char *what, int r, const sd_bus_error *error) {
        const char *name = error ? error->name : NULL;

        if (name && (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                     sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))) {
                fprintf(stderr, "%s: iommu-brokerd is not running (no %s on the %s)\n",
                        program_invocation_short_name, CTL_BUS_NAME, ctl->bus_label);
                return CTL_EXIT_UNREACHABLE;
        }
        if (name && sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED)) {
                fprintf(stderr, "%s: %s: permission denied: %s\n", program_invocation_short_name, what,
                        error->message ?: "the broker refused");
                return CTL_EXIT_DENIED;
        }
        if (name && (sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY) ||
                     sd_bus_error_has_name(error, SD_BUS_ERROR_DISCONNECTED))) {
                fprintf(stderr, "%s: %s: the broker did not answer: %s\n", program_invocation_short_name, what,
                        error->message ?: strerror(-r));
                return CTL_EXIT_UNREACHABLE;
        }
        fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
                error && error->message ? error->message : strerror(r < 0 ? -r : r));
        return CTL_EXIT_FAILED;
}

const char *ctl_format_bytes(char *buf, size_t size, uint64_t bytes) {
        static const char units[] = "KMGTPE";
        double v = (double) bytes;
        size_t u = 0;

        if (bytes < 1024) {
                (void) snprintf(buf, size, "%" PRIu64 "B", bytes);
                return buf;
        }
        while (v >= 1024.0 && u < sizeof(units) - 1) {
                v /= 1024.0;
                u++;
        }
        if (v < 10.0)
                (void) snprintf(buf, size, "%.1f%c", v, units[u - 1]);
        else
                (void) snprintf(buf, size, "%.0f%c", v, units[u - 1]);
        return buf;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char *default_argv[] = { (char *) "status", NULL };
        const CtlCommand *cmd = NULL;
        Ctl ctl = {};
        char **args;
        int n_args, r;

        r = ctl_parse_argv(argc, argv);
        if (r <= 0)     /* --help, --version: done, if what they wrote got out */
                return r < 0 ? CTL_EXIT_USAGE : fflush(stdout) != 0 || ferror(stdout) ? CTL_EXIT_FAILED : CTL_EXIT_OK;

        if (optind < argc) {
                args = argv + optind;
                n_args = argc - optind;
        } else {
                args = default_argv;
                n_args = 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(ctl_commands); i++)
                if (strcmp(ctl_commands[i].name, args[0]) == 0)
                        cmd = &ctl_commands[i];
        if (!cmd) {
                fprintf(stderr, "%s: unknown command '%s'; try '%s --help'.\n", program_invocation_short_name,
                        args[0], program_invocation_short_name);
                return CTL_EXIT_USAGE;
        }
        if (n_args - 1 < cmd->min_args || n_args - 1 > cmd->max_args) {
                fprintf(stderr, "%s: usage: %s %s%s%s\n", program_invocation_short_name,
                        program_invocation_short_name, cmd->name, cmd->args[0] ? " " : "", cmd->args);
                return CTL_EXIT_USAGE;
        }

        ctl.json = arg_json;
        ctl.bus_label = strcmp(arg_bus, "system") == 0    ? "system bus"
                        : strcmp(arg_bus, "session") == 0 ? "session bus"
                                                          : arg_bus;
        r = ctl_connect(&bus, arg_bus);
        if (r < 0) {
                fprintf(stderr, "%s: cannot connect to the %s: %s\n", program_invocation_short_name, ctl.bus_label,
                        strerror(-r));
                return CTL_EXIT_UNREACHABLE;
        }
        ctl.bus = bus;
        return cmd->fn(&ctl, n_args, args);
}

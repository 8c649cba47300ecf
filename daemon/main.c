/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c - iommu-brokerd: command line, set-up stages, run.
 *
 * Owns: the arg_* settings from the command line, the choice between the
 * socket systemd passed and one of our own, the order of the set-up stages
 * (broker, then the host room: privilege drop, admin bus) and the exit
 * status.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"
#include "common/protocol.h"
#include "host/admin-dbus.h"
#include "host/privilege.h"
#include "host/service-manager.h"
#include "util/crashpoint.h"
#include "util/log.h"

static const char *arg_backend = "kernel";
static const char *arg_socket;
static mode_t arg_socket_mode = 0660;
static gid_t arg_socket_gid = (gid_t) -1;
static const char *arg_iommu_dev;
static bool arg_no_map_file;
static unsigned arg_kernel_mock_devices;
/* host room: admin API and privilege (daemon/host/) */
static const char *arg_admin_bus = "auto";
static const char *arg_admin_group;
static gid_t arg_admin_gid = (gid_t) -1;
static const char *arg_user;
static const char *arg_policy;

static void help(void) {
        printf("Usage: iommu-brokerd [OPTIONS]\n"
               "\n"
               "Owns /dev/iommu and VFIO devices and serves I/O address spaces and DMA\n"
               "mappings to unprivileged VMMs over a Unix socket.\n"
               "\n"
               "Options:\n"
               "  --backend=kernel|sim    IOMMU backend (default: kernel, the iommufd of this\n"
               "                          kernel); sim is an in-process model for tests and\n"
               "                          demos on machines without an IOMMU\n"
               "  --socket=PATH           listen on PATH (default: the socket systemd passes,\n"
               "                          else %s)\n"
               "  --socket-mode=MODE      octal mode of a socket we create (default 0660)\n"
               "  --socket-group=GROUP    group of a socket we create\n"
               "  --iommu-dev=PATH        the iommufd node (default /dev/iommu)\n"
               "  --no-map-file           map memfds through a broker mmap and IOMMU_IOAS_MAP\n"
               "                          even where IOMMU_IOAS_MAP_FILE exists (kernels before\n"
               "                          6.13 have only that path; sim then models them)\n"
               "  --kernel-mock-devices=N for tests only: with the kernel backend, also offer\n"
               "                          N mock devices of the kernel's iommufd test driver\n"
               "                          (CONFIG_IOMMUFD_TEST), named ffff:00:00.0 onwards;\n"
               "                          needs a build configured --with-iommufd-selftest\n"
               "  --admin-bus=BUS         where to serve the admin API (org.iommubroker.Broker1):\n"
               "                          auto (default: the system bus if there is one),\n"
               "                          system, session, none, or a D-Bus address\n"
               "  --admin-group=GROUP     members may also end sessions through the admin API\n"
               "                          (default: root and the daemon's own user only)\n"
               "  --user=USER             after opening the IOMMU and the socket, switch to USER\n"
               "                          (the device nodes must be accessible to its groups)\n"
               "  --policy=PATH           the policy file, its drop-ins in PATH's directory under\n"
               "                          policy.d/ (default /etc/iommu-broker/policy.conf);\n"
               "                          without one only root and the broker's uid may connect\n"
               "  --hello-timeout=SEC     close a connection that sent no Hello within SEC\n"
               "                          seconds (default 10)\n"
               "  --max-connections-per-uid=N\n"
               "                          connections one uid may have open (default 1024)\n"
               "  --max-pending-per-uid=N connections one uid may have open before their\n"
               "                          Hello (default 64)\n"
               "  --workers=N             threads for kernel calls that pin or unpin a lot\n"
               "                          (default 2; 0: such calls run on the event loop)\n"
               "  --mmap-mappings-max=N   where memfds are mapped through a broker mmap (no\n"
               "                          IOMMU_IOAS_MAP_FILE), at most N live mappings of all\n"
               "                          sessions together (default: vm.max_map_count less\n"
               "                          4096 kept for the broker itself, or half of it\n"
               "                          below 8192; 65530 if it cannot be read)\n"
               "  --offload-min-bytes=SIZE\n"
               "                          a Map, Copy, Unmap or Batch of at least SIZE bytes (K,\n"
               "                          M, G suffixes) waits for its kernel call off the event\n"
               "                          loop (default 16M; 0: never)\n"
               "  --log-level=LEVEL       debug, info, notice, warning or err (default info)\n"
               "  -h --help               show this help\n"
               "  --version               show the version\n"
               "\n"
               "See iommu-brokerd(8).\n",
               IB_DEFAULT_SOCKET);
}

/* A whole number in [min, max] for option name. */
static unsigned arg_hello_timeout = SESSION_HELLO_TIMEOUT_SEC;
static unsigned arg_workers = 2;
static uint64_t arg_offload_min_bytes = 16ULL << 20;
static unsigned arg_max_connections_per_uid = SESSION_MAX_CONNECTIONS_PER_UID;
static unsigned arg_max_pending_per_uid = SESSION_MAX_PENDING_PER_UID;
static unsigned arg_mmap_mappings_max;  /* 0: from vm.max_map_count */

static int parse_count_arg(const char *name, const char *s, unsigned long min, unsigned long max, unsigned *ret) {
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(s, &end, 10);
        /* digits only: strtoul() would take blanks, a sign */
        if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || *end != '\0' || errno != 0 || n < min ||
            n > max)
                return log_error_errno(EINVAL, "invalid %s '%s': a whole number from %lu to %lu", name, s, min, max);
        *ret = (unsigned) n;
        return 0;
}

static int parse_argv(int argc, char **argv) {
        enum {
                ARG_BACKEND = 0x100,
                ARG_SOCKET,
                ARG_SOCKET_MODE,
                ARG_SOCKET_GROUP,
                ARG_IOMMU_DEV,
                ARG_NO_MAP_FILE,
                ARG_LOG_LEVEL,
                ARG_VERSION,
                ARG_ADMIN_BUS,
                ARG_ADMIN_GROUP,
                ARG_USER,
                ARG_POLICY,
                ARG_KERNEL_MOCK_DEVICES,
                ARG_HELLO_TIMEOUT,
                ARG_MAX_CONNECTIONS_PER_UID,
                ARG_MAX_PENDING_PER_UID,
                ARG_WORKERS,
                ARG_OFFLOAD_MIN_BYTES,
                ARG_MMAP_MAPPINGS_MAX,
        };
        static const struct option options[] = {
                { "backend", required_argument, NULL, ARG_BACKEND },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "socket-mode", required_argument, NULL, ARG_SOCKET_MODE },
                { "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
                { "iommu-dev", required_argument, NULL, ARG_IOMMU_DEV },
                { "no-map-file", no_argument, NULL, ARG_NO_MAP_FILE },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "admin-bus", required_argument, NULL, ARG_ADMIN_BUS },
                { "admin-group", required_argument, NULL, ARG_ADMIN_GROUP },
                { "user", required_argument, NULL, ARG_USER },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "kernel-mock-devices", required_argument, NULL, ARG_KERNEL_MOCK_DEVICES },
                { "hello-timeout", required_argument, NULL, ARG_HELLO_TIMEOUT },
                { "max-connections-per-uid", required_argument, NULL, ARG_MAX_CONNECTIONS_PER_UID },
                { "max-pending-per-uid", required_argument, NULL, ARG_MAX_PENDING_PER_UID },
                { "workers", required_argument, NULL, ARG_WORKERS },
                { "offload-min-bytes", required_argument, NULL, ARG_OFFLOAD_MIN_BYTES },
                { "mmap-mappings-max", required_argument, NULL, ARG_MMAP_MAPPINGS_MAX },
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("iommu-brokerd %s (protocol %u)\n", PACKAGE_VERSION, IB_PROTOCOL_VERSION);
                        return 0;
                case ARG_BACKEND:
                        if (strcmp(optarg, "kernel") != 0 && strcmp(optarg, "sim") != 0)
                                return log_error_errno(EINVAL, "unknown backend '%s': use 'kernel' or 'sim'", optarg);
                        arg_backend = optarg;
                        break;
                case ARG_SOCKET:
                        arg_socket = optarg;
                        break;
                case ARG_SOCKET_MODE: {
                        char *end;
                        unsigned long m = strtoul(optarg, &end, 8);

                        if (*optarg == '\0' || *end != '\0' || m > 07777)
                                return log_error_errno(EINVAL, "invalid socket mode '%s'", optarg);
                        arg_socket_mode = (mode_t) m;
                        break;
                }
                case ARG_SOCKET_GROUP: {
                        struct group *g = getgrnam(optarg);

                        if (!g)
                                return log_error_errno(ENOENT, "unknown group '%s'", optarg);
                        arg_socket_gid = g->gr_gid;
                        break;
                }
                case ARG_IOMMU_DEV:
                        arg_iommu_dev = optarg;
                        break;
                case ARG_NO_MAP_FILE:
                        arg_no_map_file = true;
                        break;
                case ARG_KERNEL_MOCK_DEVICES: {
                        char *end;
                        unsigned long n;

                        errno = 0;
                        n = strtoul(optarg, &end, 10);
                        if (*optarg == '\0' || *end != '\0' || errno != 0 || n > 256)
                                return log_error_errno(EINVAL, "invalid --kernel-mock-devices '%s': a count of 0 to 256",
                                                       optarg);
                        arg_kernel_mock_devices = (unsigned) n;
                        break;
                }
                case ARG_HELLO_TIMEOUT:
                        r = parse_count_arg("--hello-timeout", optarg, 1, 3600, &arg_hello_timeout);
                        if (r < 0)
                                return r;
                        break;
                case ARG_MAX_CONNECTIONS_PER_UID:
                        r = parse_count_arg("--max-connections-per-uid", optarg, 1, 1000000,
                                            &arg_max_connections_per_uid);
                        if (r < 0)
                                return r;
                        break;
                case ARG_WORKERS:
                        r = parse_count_arg("--workers", optarg, 0, 64, &arg_workers);
                        if (r < 0)
                                return r;
                        break;
                case ARG_MMAP_MAPPINGS_MAX:
                        r = parse_count_arg("--mmap-mappings-max", optarg, 1, INT32_MAX, &arg_mmap_mappings_max);
                        if (r < 0)
                                return r;
                        break;
                case ARG_OFFLOAD_MIN_BYTES: {
                        char *end;
                        unsigned long long n;
                        unsigned shift = 0;

                        errno = 0;
                        n = strtoull(optarg, &end, 10);
                        if (*end == 'K' || *end == 'M' || *end == 'G')
                                shift = *end == 'K' ? 10 : *end == 'M' ? 20 : 30;
                        if (*optarg < '0' || *optarg > '9' || errno != 0 || end[shift ? 1 : 0] != '\0' ||
                            n > (UINT64_MAX >> shift))
                                return log_error_errno(EINVAL, "invalid --offload-min-bytes '%s': a size such as "
                                                       "16M, or 0", optarg);
                        arg_offload_min_bytes = (uint64_t) n << shift;
                        break;
                }
                case ARG_MAX_PENDING_PER_UID:
                        r = parse_count_arg("--max-pending-per-uid", optarg, 1, 1000000, &arg_max_pending_per_uid);
                        if (r < 0)
                                return r;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0)
                                return log_error_errno(r, "invalid log level '%s'", optarg);
                        log_set_max_level(r);
                        break;
                case ARG_ADMIN_BUS:
                        if (*optarg == '\0')
                                return log_error_errno(EINVAL, "empty --admin-bus");
                        arg_admin_bus = optarg;
                        break;
                case ARG_ADMIN_GROUP: {
                        struct group *g = getgrnam(optarg);

                        if (!g)
                                return log_error_errno(ENOENT, "unknown group '%s'", optarg);
                        arg_admin_group = optarg;
                        arg_admin_gid = g->gr_gid;
                        break;
                }
                case ARG_POLICY:
                        arg_policy = optarg;
                        break;
                case ARG_USER:
                        arg_user = optarg;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc)
                return log_error_errno(EINVAL, "unexpected argument '%s'", argv[optind]);
        return 1;
}

int main(int argc, char **argv) {
        BrokerConfig config = {};
        AdminBusConfig admin_config = {};
        AdminBus *admin = NULL;
        Broker *b = NULL;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)     /* --help, --version: done, if what they wrote got out */
                return r < 0 || fflush(stdout) != 0 || ferror(stdout) ? EXIT_FAILURE : EXIT_SUCCESS;
        crash_points_init();

        config.backend = arg_backend;
        config.backend_config.iommu_path = arg_iommu_dev;
        config.backend_config.sim_no_map_file = arg_no_map_file;
        config.backend_config.kernel_mock_devices = arg_kernel_mock_devices;
        config.no_map_file = arg_no_map_file;
        config.socket_mode = arg_socket_mode;
        config.socket_gid = arg_socket_gid;
        config.policy_path = arg_policy;
        config.workers = arg_workers;
        config.offload_min_bytes = arg_offload_min_bytes;
        config.mmap_mappings_max = arg_mmap_mappings_max;
        config.restart_queued = service_manager_restart_queued;
        config.admission = (SessionAdmission) {
                .hello_timeout_sec = arg_hello_timeout,
                .max_connections_per_uid = arg_max_connections_per_uid,
                .max_pending_per_uid = arg_max_pending_per_uid,
        };
        if (arg_socket)
                config.socket_path = arg_socket;
        else if (!getenv("LISTEN_FDS")) {
                config.socket_path = IB_DEFAULT_SOCKET;
                if (mkdir("/run/iommu-broker", 0755) < 0 && errno != EEXIST) {
                        log_error_errno(errno, "cannot create /run/iommu-broker: %m");
                        return EXIT_FAILURE;
                }
        }

        r = broker_new(&b, &config);
        if (r < 0)
                return EXIT_FAILURE;

        /* The host room, in this order: see the Theory of Operation in daemon/host/privilege.c. */
        admin_config.bus = arg_admin_bus;
        admin_config.admin_group = arg_admin_group;
        admin_config.admin_gid = arg_admin_gid;
        r = privilege_drop(arg_user);
        if (r >= 0)
                r = admin_bus_new(&admin, b, &admin_config);

        if (r >= 0)
                r = broker_run(b);
        admin_bus_free(admin);
        broker_free(b);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

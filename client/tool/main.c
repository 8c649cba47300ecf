/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c - iommu-broker-client, the scriptable client of iommu-brokerd.
 *
 * Owns: the command line (getopt_long), the one connection of a run, the
 * request loop over argv or stdin, writing exactly one JSON line per request
 * (the verb's result members spliced after "verb" and "ok", or "errno" and
 * "error"), and the exit status: 0 if every request succeeded, 1 if any
 * failed, 2 for usage errors and when the broker cannot be reached.
 * Must never: stop at a failed request; parse a verb's keys (verbs.c does).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1                   /* program_invocation_short_name */
#endif

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/iommu-broker.h"
#include "client/tool/delegate.h"
#include "client/tool/json.h"
#include "client/tool/parse.h"
#include "client/tool/verbs.h"
#include "common/macro.h"
#include "common/protocol.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"       /* config.h supplies it in the build */
#endif

#define EXIT_REQUEST_FAILED 1
#define EXIT_USAGE 2

static const char *arg_socket = NULL;
static bool arg_confine = false;

static void tool_help(void) {
        printf("Usage: %s [OPTION...] [REQUEST...]\n"
               "       %s [OPTION...] delegate dev=PCI[,PCI...] -- COMMAND [ARGS...]\n"
               "\n"
               "Send requests to iommu-brokerd over one connection and print one JSON object\n"
               "per request on its own line.  Each REQUEST is one argument \"VERB key=value ...\";\n"
               "with none, requests are read from standard input, one per line (blank lines and\n"
               "lines starting with # are skipped).\n"
               "\n"
               "Options:\n"
               "  -s, --socket=PATH  the broker's socket (default: $IOMMU_BROKER_SOCKET, else\n"
               "                     %s)\n"
               "      --confine-device-fds\n"
               "                     before connecting, install the seccomp filter of\n"
               "                     ib_confine_device_fds(3): VFIO bind/attach/detach ioctls\n"
               "                     fail with EPERM in this process (for ConfinedDeviceFds=yes)\n"
               "  -h, --help         show this help\n"
               "  -V, --version      show the version\n"
               "\n"
               "Requests:\n",
               program_invocation_short_name, program_invocation_short_name, IB_DEFAULT_SOCKET);
        verbs_print_help(stdout);
        printf("\n"
               "Values:\n"
               "  ID ADDR SIZE START LAST\n"
               "                decimal or 0x hex with an optional K, M, G or T suffix (binary:\n"
               "                2M = 0x200000), or @NAME for what an earlier as=NAME stored\n"
               "  length=max    2^64-1; \"unmap ioas=ID all\" is iova=0 length=max\n"
               "  as=NAME       store the id (ioas-alloc, device-open, hwpt-alloc) or the IOVA\n"
               "                (map, copy, batch map op) under NAME: 1-64 of A-Z a-z 0-9 _ .\n"
               "  yes|no        also true/false, on/off, 1/0\n"
               "  dev=          a PCI address for device-open (0000:00:02.0), its id after\n"
               "  pt=           an IOAS or HWPT id; data=HEX: bytes as hex digit pairs\n"
               "  memfd=NAME    a memfd the tool creates on first use (sized offset+size) and\n"
               "                grows for a later, larger use; seal= seals it, access=ro sends\n"
               "                a read-only re-open of it instead; prot= defaults to rw\n"
               "  iova=         absent: the broker chooses the IOVA\n"
               "  op=           map or unmap, then that verb's keys, all separated by commas:\n"
               "                op=map,ioas=@a,memfd=ram,size=4K,iova=0x1000\n"
               "\n"
               "Delegate: asks the broker for the devices (DelegateDevices=yes in the policy),\n"
               "  puts a fresh iommufd at fd 3 and the unbound device fds at 4, 5, ..., replaces\n"
               "  {iommufd} and {dev0}, {dev1}, ... in ARGS by those numbers and execs COMMAND:\n"
               "    delegate dev=0000:3b:02.0 -- qemu-system-x86_64 ... \\\n"
               "      -object iommufd,id=i0,fd={iommufd} -device vfio-pci,iommufd=i0,fd={dev0}\n"
               "\n"
               "Output: {\"verb\":...,\"ok\":true,...} or {\"verb\":...,\"ok\":false,\"errno\":\"EEXIST\",\n"
               "\"error\":\"...\"}; addresses and lengths are \"0x...\" strings.\n"
               "\n"
               "Exit status: 0 if every request succeeded, 1 if any failed, 2 for usage errors\n"
               "or when the broker cannot be reached.\n"
               "\n"
               "See the iommu-broker-client(1) man page for details.\n");
}

/* 1: go on; 0: done (--help, --version); -EINVAL: usage error, already reported. */
static int tool_parse_argv(int argc, char *argv[]) {
        enum { ARG_CONFINE = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "confine-device-fds", no_argument, NULL, ARG_CONFINE },
                { "version", no_argument, NULL, 'V' },
                { "socket", required_argument, NULL, 's' },
                {}
        };
        int c;

        /* '+': stop at the first request, whatever it looks like */
        while ((c = getopt_long(argc, argv, "+hVs:", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        tool_help();
                        return 0;
                case 'V':
                        printf("%s %s\n", program_invocation_short_name, PACKAGE_VERSION);
                        return 0;
                case 's':
                        if (optarg[0] == '\0') {
                                fprintf(stderr, "%s: --socket needs a path\n",
                                        program_invocation_short_name);
                                return -EINVAL;
                        }
                        arg_socket = optarg;
                        break;
                case ARG_CONFINE:
                        arg_confine = true;
                        break;
                case '?':
                        fprintf(stderr, "Try '%s --help'.\n", program_invocation_short_name);
                        return -EINVAL;
                default:
                        fprintf(stderr, "%s: unhandled option -%c\n", program_invocation_short_name, c);
                        return -EINVAL;
                }
        }
        return 1;
}

static void tool_done(Tool *tool) {
        tool_close_kept_fds(tool);
        memfd_table_done(&tool->memfds);
        name_table_done(&tool->names);
}

static const char *socket_path_for_messages(void) {
        const char *e;

        if (arg_socket)
                return arg_socket;
        e = getenv("IOMMU_BROKER_SOCKET");
        return e && *e ? e : IB_DEFAULT_SOCKET;
}

static int print_line(const Json *j) {
        if (json_error(j) < 0)
                return json_error(j);
        if (puts(json_text(j)) < 0 || fflush(stdout) != 0)
                return -EIO;
        return 0;
}

static int report_connect_failure(int error, const char *why) {
        _cleanup_(json_done) Json j = JSON_INIT;
        char name[32], sentence[4096];

        if (why && *why && error == -EACCES)
                (void) snprintf(sentence, sizeof(sentence), "the broker at '%s' refused the connection: %s",
                                socket_path_for_messages(), why);
        else if (why && *why)
                (void) snprintf(sentence, sizeof(sentence), "%s", why);     /* the broker's reason, or the library's */
        else
                (void) snprintf(sentence, sizeof(sentence), "cannot connect to '%s': %s", socket_path_for_messages(),
                                strerror(-error));
        json_begin_object(&j, NULL);
        json_string(&j, "verb", "connect");
        json_bool(&j, "ok", false);
        json_string(&j, "errno", tool_errno_name(error, name, sizeof(name)));
        json_string(&j, "error", sentence);
        json_end_object(&j);
        (void) print_line(&j);
        fprintf(stderr, "%s: %s\n", program_invocation_short_name, sentence);
        return EXIT_USAGE;
}

/*
 * Runs one request line and prints its reply line.  Returns 0 if it
 * succeeded, 1 if it failed, -errno if no line could be written.  cut: the
 * line went on after a NUL byte (standard input), which would silently drop
 * the rest of it: refused.
 */
static int run_request(Tool *tool, const char *line, bool cut) {
        _cleanup_(request_done) Request req = REQUEST_INIT;
        _cleanup_(json_done) Json out = JSON_INIT;
        _cleanup_(json_done) Json result = JSON_INIT;
        const Verb *verb;
        int r;

        r = request_parse(line, ' ', &req);
        if (r == -ENODATA && !cut)
                return 0;
        if (r < 0 && r != -ENODATA)
                return r;

        tool->error[0] = '\0';
        json_begin_fragment(&result);
        verb = cut ? NULL : tool_verb_find(req.verb);
        if (cut)
                r = tool_error(tool, -EINVAL, "the line holds a NUL byte: what follows it would be lost");
        else if (!verb)
                r = tool_error(tool, -EINVAL, "unknown verb '%s' (see --help)", req.verb);
        else {
                r = tool_verb_check_keys(tool, verb, &req);
                if (r >= 0)
                        r = verb->fn(tool, &req, &result);
        }

        json_begin_object(&out, NULL);
        json_string(&out, "verb", req.verb);
        json_bool(&out, "ok", r == 0);
        if (r < 0) {
                const char *error = tool->error;
                char name[32];

                if (error[0] == '\0')
                        error = ib_client_error(tool->client);
                if (!error || error[0] == '\0')
                        error = strerror(-r);
                json_string(&out, "errno", tool_errno_name(r, name, sizeof(name)));
                json_string(&out, "error", error);
        } else
                json_append_fragment(&out, &result);
        json_end_object(&out);

        r = r == 0 ? 0 : 1;
        return print_line(&out) < 0 ? -EIO : r;
}

static int run_stdin(Tool *tool, bool *failed) {
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        ssize_t n;
        int r;

        while ((n = getline(&line, &size, stdin)) >= 0) {
                if (line_is_blank(line) && strlen(line) == (size_t) n)
                        continue;
                r = run_request(tool, line, strlen(line) != (size_t) n);
                if (r < 0)
                        return r;
                if (r > 0)
                        *failed = true;
        }
        if (ferror(stdin))
                return -EIO;
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(ib_client_freep) ib_client *client = NULL;
        _cleanup_(tool_done) Tool tool = TOOL_INIT;
        bool failed = false;
        char why[512] = "";
        int r;

        r = tool_parse_argv(argc, argv);
        if (r <= 0)     /* --help, --version: done, if what they wrote got out */
                return r < 0 ? EXIT_USAGE : fflush(stdout) != 0 || ferror(stdout) ? EXIT_FAILURE : EXIT_SUCCESS;

        if (arg_confine) {
                r = ib_confine_device_fds(IB_CONFINE_ALL_THREADS);
                if (r < 0) {
                        fprintf(stderr, "%s: cannot confine the device fds: %s\n", program_invocation_short_name,
                                strerror(-r));
                        return EXIT_USAGE;
                }
        }
        if (tool_delegate_wanted(argc - optind, argv + optind)) {
                if (arg_confine) {
                        fprintf(stderr, "%s: delegate: --confine-device-fds would keep the VMM from binding its "
                                "devices\n", program_invocation_short_name);
                        return EXIT_USAGE;
                }
                r = tool_delegate_check(argc - optind, argv + optind);
                if (r != 0)
                        return r;
        }
        r = ib_client_connect_verbose(arg_socket, program_invocation_short_name, &client, why, sizeof(why));
        if (r < 0)
                return report_connect_failure(r, why);
        if (tool_delegate_wanted(argc - optind, argv + optind))
                return tool_delegate_exec(&client, argc - optind, argv + optind);
        tool.client = client;

        if (optind < argc) {
                for (int i = optind; i < argc; i++) {
                        if (line_is_blank(argv[i]))
                                continue;
                        r = run_request(&tool, argv[i], /* cut= */ false);
                        if (r < 0)
                                break;
                        if (r > 0)
                                failed = true;
                }
        } else
                r = run_stdin(&tool, &failed);

        if (r < 0) {
                fprintf(stderr, "%s: cannot go on: %s\n", program_invocation_short_name, strerror(-r));
                return EXIT_REQUEST_FAILED;
        }
        return failed ? EXIT_REQUEST_FAILED : EXIT_SUCCESS;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate.c - see delegate.h.
 *
 * The fds land at TOOL_DELEGATE_FIRST_FD (the iommufd), then one per device
 * in the order named, without FD_CLOEXEC; every other fd the broker sent is
 * closed.  In ARGS, "{iommufd}" becomes the iommufd's number and "{devN}"
 * the number of the N-th device's fd, wherever they appear in an argument
 * ("iommufd=i0,fd={dev0}").  IOMMU_BROKER_DELEGATION is set to the
 * delegation's id for the VMM.  no_new_privs is set before the broker is
 * asked: the broker requires that the process cannot gain CAP_IPC_LOCK by
 * an exec, which would exempt its pins from the memory limit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "client/tool/delegate.h"
#include "common/macro.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_EXEC 127

int tool_delegate_wanted(int argc, char *argv[]) {
        return argc > 0 && strcmp(argv[0], "delegate") == 0;
}

/* Index of "--" in argv, or -1. */
static int find_dashdash(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--") == 0)
                        return i;
        return -1;
}

/* Splits "dev=A,B" into names (pointers into a copy in *buf); the count, or -1. */
static int parse_devices(const char *arg, char **buf, const char *names[IB_DELEGATE_MAX_DEVICES]) {
        char *save = NULL;
        int n = 0;

        if (strncmp(arg, "dev=", 4) != 0)
                return -1;
        *buf = strdup(arg + 4);
        if (!*buf)
                return -1;
        for (char *t = strtok_r(*buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (n == IB_DELEGATE_MAX_DEVICES)
                        return -1;
                names[n++] = t;
        }
        return n;
}

/* "PROGRAM: delegate: 'arg': what" (without arg: "...: what") and the usage line. */
static int usage(const char *arg, const char *what) {
        if (arg)
                fprintf(stderr, "%s: delegate: '%s': %s\n", program_invocation_short_name, arg, what);
        else
                fprintf(stderr, "%s: delegate: %s\n", program_invocation_short_name, what);
        fprintf(stderr, "Usage: %s [--socket=PATH] delegate dev=PCI[,PCI...] -- COMMAND [ARGS...]\n",
                program_invocation_short_name);
        return EXIT_USAGE;
}

/* The highest N of "{devN}" in s, or -1; -2 for a malformed placeholder. */
static int highest_placeholder(const char *s) {
        int highest = -1;

        for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
                char *end;
                long v;

                if (strncmp(p, "{iommufd}", 9) == 0)
                        continue;
                if (strncmp(p, "{dev", 4) != 0)
                        continue;       /* not ours: left as it is */
                v = strtol(p + 4, &end, 10);
                if (end == p + 4 || *end != '}' || v < 0 || v >= IB_DELEGATE_MAX_DEVICES)
                        return -2;
                if (v > highest)
                        highest = (int) v;
        }
        return highest;
}

int tool_delegate_check(int argc, char *argv[]) {
        _cleanup_free_ char *buf = NULL;
        const char *names[IB_DELEGATE_MAX_DEVICES];
        int dd = find_dashdash(argc, argv), n;

        if (dd != 2)
                return usage(NULL, dd < 0 ? "no '--' before the command" : "one dev=... argument, then '--'");
        if (dd + 1 >= argc)
                return usage(NULL, "no command after '--'");
        n = parse_devices(argv[1], &buf, names);
        if (n <= 0)
                return usage(argv[1], "expected dev=PCI[,PCI...] with 1 to 8 devices");
        for (int i = dd + 1; i < argc; i++) {
                int h = highest_placeholder(argv[i]);

                if (h == -2)
                        return usage(argv[i], "a placeholder is {iommufd} or {dev0} to {dev7}");
                if (h >= n)
                        return usage(argv[i], "names a device beyond those in dev=");
        }
        return 0;
}

/* s with every {iommufd} and {devN} replaced by fd numbers; NULL on ENOMEM. */
static char *substitute(const char *s, size_t n_devices) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        if (!f)
                return NULL;
        for (const char *p = s; *p;) {
                char *end;
                long v;

                if (strncmp(p, "{iommufd}", 9) == 0) {
                        fprintf(f, "%d", TOOL_DELEGATE_FIRST_FD);
                        p += 9;
                } else if (strncmp(p, "{dev", 4) == 0 && (v = strtol(p + 4, &end, 10)) >= 0 && end != p + 4 &&
                           *end == '}' && (size_t) v < n_devices) {
                        fprintf(f, "%ld", TOOL_DELEGATE_FIRST_FD + 1 + v);
                        p = end + 1;
                } else
                        fputc(*p++, f);
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

/* Moves fds[0..n) to TOOL_DELEGATE_FIRST_FD.. without FD_CLOEXEC. */
static int place_fds(int *fds, size_t n) {
        /* first out of the way of the targets, so that no dup2() overwrites a source */
        for (size_t i = 0; i < n; i++) {
                int high = fcntl(fds[i], F_DUPFD_CLOEXEC, TOOL_DELEGATE_FIRST_FD + (int) n);

                if (high < 0)
                        return -errno;
                safe_close(fds[i]);
                fds[i] = high;
        }
        for (size_t i = 0; i < n; i++) {
                if (dup2(fds[i], TOOL_DELEGATE_FIRST_FD + (int) i) < 0)
                        return -errno;
                safe_close(fds[i]);
                fds[i] = TOOL_DELEGATE_FIRST_FD + (int) i;
        }
        return 0;
}

int tool_delegate_exec(ib_client **client, int argc, char *argv[]) {
        _cleanup_free_ char *buf = NULL;
        const char *names[IB_DELEGATE_MAX_DEVICES];
        int fds[1 + IB_DELEGATE_MAX_DEVICES];
        char **args, id[32];
        ib_delegation del;
        int n, dd = find_dashdash(argc, argv), r;

        n = parse_devices(argv[1], &buf, names);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                fprintf(stderr, "%s: delegate: cannot set no_new_privs: %s\n", program_invocation_short_name,
                        strerror(errno));
                return EXIT_REFUSED;
        }
        r = ib_device_delegate(*client, -1, names, (size_t) n, &del);
        if (r < 0) {
                fprintf(stderr, "%s: delegate: %s: %s\n", program_invocation_short_name, ib_errno_name(-r) ?: "?",
                        ib_client_error(*client) ?: strerror(-r));
                return EXIT_REFUSED;
        }
        *client = ib_client_free(*client);

        fds[0] = del.iommufd;
        for (size_t i = 0; i < del.n_devices; i++)
                fds[1 + i] = del.device_fds[i];
        r = place_fds(fds, 1 + del.n_devices);
        if (r < 0) {
                fprintf(stderr, "%s: delegate: cannot place the fds: %s\n", program_invocation_short_name,
                        strerror(-r));
                return EXIT_EXEC;
        }
        (void) snprintf(id, sizeof(id), "%" PRIu64, del.id);
        (void) setenv("IOMMU_BROKER_DELEGATION", id, 1);

        args = calloc((size_t) (argc - dd), sizeof(*args));
        if (!args)
                return EXIT_EXEC;
        for (int i = dd + 1; i < argc; i++) {
                args[i - dd - 1] = substitute(argv[i], del.n_devices);
                if (!args[i - dd - 1]) {
                        fprintf(stderr, "%s: delegate: out of memory\n", program_invocation_short_name);
                        return EXIT_EXEC;
                }
        }
        execvp(args[0], args);
        fprintf(stderr, "%s: delegate: cannot run '%s': %s\n", program_invocation_short_name, args[0],
                strerror(errno));
        return EXIT_EXEC;
}

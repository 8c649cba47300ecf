/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ib-fdstore-probe.c - a tiny Type=notify daemon that uses the fd store, to test ib-svcmgr.
 *
 * Owns: what tests/integration/test-svcmgr.sh needs from a service, through
 * libsystemd's own client side (sd_listen_fds_with_names(),
 * sd_pid_notify_with_fds()), as the broker uses it.  Not a test itself.
 * Must never: store an fd twice under one name.
 *
 * At each start it appends to --report FILE one line
 *   probe start pid=P counter=N names=A,B,... listen=seqpacket|none
 * where names are LISTEN_FDNAMES in order and counter is the number in the
 * memfd named "counter" it got back, plus one (1 when there was none: it
 * then stores a new one, FDPOLL=0).  It then stores what it did not get
 * back, each in its own message, in this order: "counter"; "peer-nopoll",
 * one end of a socketpair with FDPOLL=0; "peer-poll", one end of another
 * socketpair, watched.  It keeps the other ends, so its death hangs up
 * "peer-poll" (the manager drops it) but not "peer-nopoll".  Then READY=1.
 *
 * Commands, one a line, on the FIFO --cmd PATH (made by the caller):
 *   remove NAME    FDSTOREREMOVE=1 FDNAME=NAME
 *   store NAME     a new memfd, FDSTORE=1 FDPOLL=0 FDNAME=NAME
 *   foreign NAME   a forked child (not the main pid) stores a memfd as NAME
 *   resend NAME    stores the "counter" memfd again, as NAME (a duplicate)
 *   exit N         exit with status N
 * SIGTERM: report "probe stop pid=P" and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static FILE *report;
static int counter_fd = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(report, fmt, ap);
        va_end(ap);
        fputc('\n', report);
        fflush(report);
}

static int store(int fd, const char *name, int poll) {
        char msg[128];
        int r;

        snprintf(msg, sizeof(msg), "FDSTORE=1\n%sFDNAME=%s", poll ? "" : "FDPOLL=0\n", name);
        r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
        if (r <= 0)
                fprintf(stderr, "ib-fdstore-probe: cannot store %s: %s\n", name, r < 0 ? strerror(-r) : "no NOTIFY_SOCKET");
        return r;
}

static int new_memfd(uint64_t value) {
        int fd = memfd_create("ib-fdstore-probe", MFD_CLOEXEC);

        if (fd < 0 || pwrite(fd, &value, sizeof(value), 0) != sizeof(value)) {
                fprintf(stderr, "ib-fdstore-probe: memfd: %s\n", strerror(errno));
                exit(1);
        }
        return fd;
}

static void command(char *l) {
        char *arg = strchr(l, ' ');

        if (arg)
                *arg++ = 0;
        if (strcmp(l, "remove") == 0 && arg) {
                char msg[128];

                snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", arg);
                (void) sd_pid_notify(0, 0, msg);
                say("probe removed name=%s", arg);
        } else if (strcmp(l, "store") == 0 && arg) {
                int fd = new_memfd(0);

                (void) store(fd, arg, 0);
                close(fd);
                say("probe stored name=%s", arg);
        } else if (strcmp(l, "foreign") == 0 && arg) {
                pid_t pid = fork();

                if (pid == 0) {
                        int fd = new_memfd(0);

                        _exit(store(fd, arg, 0) > 0 ? 0 : 1);
                }
                if (pid > 0)
                        (void) waitpid(pid, NULL, 0);
                say("probe foreign pid=%d name=%s", (int) pid, arg);
        } else if (strcmp(l, "resend") == 0 && arg) {
                (void) store(counter_fd, arg, 0);
                say("probe resent name=%s", arg);
        } else if (strcmp(l, "exit") == 0 && arg) {
                say("probe exit pid=%d status=%d", (int) getpid(), atoi(arg));
                exit(atoi(arg));
        } else
                say("probe unknown-command %s", l);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "cmd", required_argument, NULL, 'c' },
                { "report", required_argument, NULL, 'r' },
                {}
        };
        const char *cmd_path = NULL, *report_path = NULL;
        char **names = NULL, joined[4096] = "", buf[1024];
        int n, c, cmd_fd, sig_fd;
        int have_nopoll = 0, have_poll = 0;
        const char *listen = "none";
        uint64_t counter = 0;
        size_t used = 0;
        sigset_t ss;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        cmd_path = optarg;
                        break;
                case 'r':
                        report_path = optarg;
                        break;
                default:
                        return 2;
                }
        if (!cmd_path || !report_path) {
                fprintf(stderr, "usage: ib-fdstore-probe --cmd FIFO --report FILE\n");
                return 2;
        }
        report = fopen(report_path, "ae");
        if (!report)
                return 1;

        n = sd_listen_fds_with_names(1, &names);
        if (n < 0) {
                fprintf(stderr, "ib-fdstore-probe: sd_listen_fds_with_names: %s\n", strerror(-n));
                return 1;
        }
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s", i ? "," : "", names[i]);
                if (strcmp(names[i], "counter") == 0)
                        counter_fd = fd;
                else if (strcmp(names[i], "peer-nopoll") == 0)
                        have_nopoll = 1;
                else if (strcmp(names[i], "peer-poll") == 0)
                        have_poll = 1;
                else if (i == 0 && sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) > 0)
                        listen = "seqpacket";
                free(names[i]);
        }
        free(names);

        if (counter_fd >= 0) {
                if (pread(counter_fd, &counter, sizeof(counter), 0) != sizeof(counter))
                        counter = 0;
                counter++;
                (void) pwrite(counter_fd, &counter, sizeof(counter), 0);
        } else {
                counter = 1;
                counter_fd = new_memfd(counter);
                (void) store(counter_fd, "counter", 0);
        }
        say("probe start pid=%d counter=%llu names=%s listen=%s", (int) getpid(),
            (unsigned long long) counter, joined, listen);

        /* The other ends stay open (not close-on-exec matters not: no exec). */
        if (!have_nopoll) {
                int sp[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
                        (void) store(sp[0], "peer-nopoll", 0);
                        close(sp[0]);
                }
        }
        if (!have_poll) {
                int sp[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
                        (void) store(sp[0], "peer-poll", 1);
                        close(sp[0]);
                }
        }

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        sig_fd = signalfd(-1, &ss, SFD_CLOEXEC);
        cmd_fd = open(cmd_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (sig_fd < 0 || cmd_fd < 0) {
                fprintf(stderr, "ib-fdstore-probe: %s: %s\n", cmd_path, strerror(errno));
                return 1;
        }
        (void) sd_notify(0, "READY=1\nSTATUS=probing");

        for (;;) {
                struct pollfd p[] = { { .fd = sig_fd, .events = POLLIN }, { .fd = cmd_fd, .events = POLLIN } };
                ssize_t k;
                char *nl;

                if (poll(p, 2, -1) < 0)
                        continue;
                if (p[0].revents) {
                        say("probe stop pid=%d", (int) getpid());
                        (void) sd_notify(0, "STOPPING=1");
                        return 0;
                }
                k = read(cmd_fd, buf + used, sizeof(buf) - 1 - used);
                if (k <= 0)
                        continue;
                used += (size_t) k;
                buf[used] = 0;
                while ((nl = strchr(buf, '\n'))) {
                        size_t take = (size_t) (nl + 1 - buf);

                        *nl = 0;
                        command(buf);
                        memmove(buf, nl + 1, used - take + 1);
                        used -= take;
                }
                if (used == sizeof(buf) - 1)
                        used = 0;
        }
}

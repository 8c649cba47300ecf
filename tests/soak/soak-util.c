/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * soak-util.c - see soak-util.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/soak/soak-util.h"
#include "tests/soak/vmm-script.h"

static const char *const devices[] = { VMM_DEVICE_RICH, VMM_DEVICE_PLAIN };

static void sleep_ms(int ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        (void) nanosleep(&ts, NULL);
}

/*
 * A whole VMM life with both devices and a clean end: whatever the daemon
 * opens lazily (its journal socket for audit records) is open after it.
 */
static int observer_warm_up(Observer *o) {
        Vmm v;
        int r;

        r = vmm_init(&v, VMM_MODE_LENIENT);
        if (r < 0)
                return r;
        r = vmm_connect(&v, o->broker.socket);
        if (r >= 0)
                r = vmm_full_script(&v, /* clean_end= */ true);
        vmm_done(&v);
        return r < 0 ? -EIO : 0;
}

int observer_start(Observer *o, const char *extra_args) {
        char why[256];
        int saved, log_fd, r;

        memset(o, 0, sizeof(*o));
        /* the daemon inherits stderr: point ours at the log while it starts */
        (void) snprintf(o->log_path, sizeof(o->log_path), "/tmp/ib-soak-log.XXXXXX");
        log_fd = mkstemp(o->log_path);
        if (log_fd < 0)
                return -errno;
        fflush(stderr);
        saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        if (saved < 0) {
                r = -errno;
                close(log_fd);
                return r;
        }
        (void) dup2(log_fd, STDERR_FILENO);
        close(log_fd);
        r = test_broker_start(&o->broker, extra_args);
        (void) dup2(saved, STDERR_FILENO);
        close(saved);
        if (r < 0)
                return r;

        r = ib_client_connect(o->broker.socket, "soak-observer", &o->c);
        if (r < 0)
                return r;
        r = observer_warm_up(o);
        if (r < 0)
                return r;
        if (!observer_wait_sessions(o, 1, 10000))
                return -ETIMEDOUT;
        /* the devices the warm-up closed are released at the next reap, which DeviceList runs */
        for (int i = 0; i < 1000; i++) {
                ib_device_info d[2];

                if (observer_device(o, devices[0], &d[0]) && observer_device(o, devices[1], &d[1]) &&
                    !d[0].in_use && !d[1].in_use && !d[0].quarantined && !d[1].quarantined)
                        break;
                sleep_ms(10);
        }
        r = observer_daemon_fds(o);
        if (r < 0)
                return r;
        o->baseline_fds = r;
        if (observer_check_baseline(o, 10000, why, sizeof(why)) < 0) {
                printf("# not at the baseline after the warm-up: %s\n", why);
                return -EIO;
        }
        /* what the start and the warm-up logged is not news */
        (void) observer_log_scan(o, "", NULL, 0);
        return 0;
}

/* Whether the daemon's log has a sanitizer's report; prints the first such line. */
static bool observer_log_has_report(Observer *o) {
        static const char *const marks[] = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                             "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer" };
        char line[1024];
        bool found = false;
        FILE *f = fopen(o->log_path, "re");

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]) && !found; i++)
                        if (strstr(line, marks[i])) {
                                printf("# daemon log: %s", line);
                                found = true;
                        }
        fclose(f);
        return found;
}

bool observer_log_scan(Observer *o, const char *needle, char *ret_line, size_t size) {
        char line[1024];
        bool found = false;
        FILE *f = fopen(o->log_path, "re");

        if (!f)
                return false;
        if (fseek(f, o->log_scanned, SEEK_SET) == 0)
                while (fgets(line, sizeof(line), f))
                        if (!found && strstr(line, needle)) {
                                if (ret_line)
                                        (void) snprintf(ret_line, size, "%.*s", (int) strcspn(line, "\n"),
                                                        line);
                                found = true;
                        }
        o->log_scanned = ftell(f);
        fclose(f);
        return found;
}

void observer_print_log_tail(Observer *o, size_t lines) {
        char line[1024];
        char **ring = calloc(lines, sizeof(char *));
        size_t n = 0;
        FILE *f;

        if (!ring)
                return;
        f = fopen(o->log_path, "re");
        if (f) {
                while (fgets(line, sizeof(line), f)) {
                        free(ring[n % lines]);
                        ring[n % lines] = strdup(line);
                        n++;
                }
                fclose(f);
        }
        for (size_t i = n > lines ? n - lines : 0; i < n; i++)
                printf("# | %s", ring[i % lines] ? ring[i % lines] : "\n");
        for (size_t i = 0; i < lines; i++)
                free(ring[i]);
        free(ring);
}

int observer_stop(Observer *o) {
        int r = 0, status;

        o->c = ib_client_free(o->c);
        if (!o->broker.pid)
                return 0;
        status = test_broker_stop(&o->broker);
        if (status != 0) {
                printf("# the broker exited with status %d on SIGTERM\n", status);
                r = -1;
        }
        if (observer_log_has_report(o))
                r = -1;
        if (r < 0)
                observer_print_log_tail(o, 40);
        if (r < 0 || getenv("IB_SOAK_KEEP_LOG"))
                printf("# the daemon's log: %s\n", o->log_path);
        else
                (void) unlink(o->log_path);
        return r;
}

int observer_daemon_fds(Observer *o) {
        char path[64];
        struct dirent *e;
        DIR *d;
        int n = 0;

        (void) snprintf(path, sizeof(path), "/proc/%d/fd", (int) o->broker.pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

bool observer_wait_sessions(Observer *o, uint64_t n, int timeout_ms) {
        for (int waited = 0;; waited++) {
                ib_caps caps;

                if (ib_caps_get(o->c, &caps) < 0)
                        return false;
                if (caps.has_counters && caps.sessions == n)
                        return true;
                if (waited >= timeout_ms)
                        return false;
                sleep_ms(1);
        }
}

bool observer_device(Observer *o, const char *name, ib_device_info *ret) {
        ib_device_info list[16];
        size_t n = 16;

        if (ib_device_list(o->c, list, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].name, name) == 0) {
                        *ret = list[i];
                        return true;
                }
        return false;
}

int observer_check_baseline(Observer *o, int timeout_ms, char *why, size_t why_size) {
        char devs[128] = "";
        ib_caps caps = {};
        int fds = -1;

        for (int waited = 0;; waited += 5) {
                bool busy = false;
                int r;

                if (!test_broker_alive(&o->broker)) {
                        (void) snprintf(why, why_size, "the daemon died");
                        return -1;
                }
                r = ib_caps_get(o->c, &caps);
                if (r < 0) {
                        (void) snprintf(why, why_size, "GetCapabilities: %s", strerror(-r));
                        return -1;
                }
                /* DeviceList also makes the sim notice device fds closed meanwhile */
                devs[0] = '\0';
                for (size_t i = 0; i < 2; i++) {
                        size_t len = strlen(devs);
                        ib_device_info d;

                        if (!observer_device(o, devices[i], &d)) {
                                (void) snprintf(devs + len, sizeof(devs) - len, ", %s not listed", devices[i]);
                                busy = true;
                        } else if (d.in_use || d.quarantined) {
                                (void) snprintf(devs + len, sizeof(devs) - len, ", %s %s", devices[i],
                                                d.in_use ? "in use" : "quarantined");
                                busy = true;
                        }
                }
                fds = observer_daemon_fds(o);
                if (!busy && caps.sessions == 1 && caps.mapped_bytes == 0 && caps.objects == 0 &&
                    fds == o->baseline_fds)
                        return 0;
                if (waited >= timeout_ms)
                        break;
                sleep_ms(5);
        }
        (void) snprintf(why, why_size,
                        "sessions %" PRIu64 " (want 1), mapped_bytes %" PRIu64 ", objects %" PRIu64
                        ", daemon fds %d (baseline %d)%s",
                        caps.sessions, caps.mapped_bytes, caps.objects, fds, o->baseline_fds, devs);
        return -1;
}

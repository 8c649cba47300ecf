/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util-broker.c - see util-broker.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/util-broker.h"

static bool can_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return false;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        r = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
        close(fd);
        return r == 0;
}

static int broker_start(TestBroker *b, const char *extra_args, bool capture) {
        const char *daemon = getenv("IB_DAEMON");
        char *argv[32], *words = NULL;
        int argc = 0;

        memset(b, 0, sizeof(*b));
        if (!daemon)
                daemon = "daemon/iommu-brokerd";
        snprintf(b->dir, sizeof(b->dir), "/tmp/ib-test.XXXXXX");
        if (!mkdtemp(b->dir))
                return -errno;
        snprintf(b->socket, sizeof(b->socket), "%s/vmm.sock", b->dir);
        if (capture)
                snprintf(b->log, sizeof(b->log), "%s/daemon.log", b->dir);

        argv[argc++] = (char *) daemon;
        argv[argc++] = (char *) "--backend=sim";
        argv[argc++] = (char *) "--socket";
        argv[argc++] = b->socket;
        argv[argc++] = (char *) "--log-level=warning";
        if (extra_args) {
                words = strdup(extra_args);
                for (char *w = strtok(words, " "); w && argc < 30; w = strtok(NULL, " "))
                        argv[argc++] = w;
        }
        argv[argc] = NULL;

        b->pid = fork();
        if (b->pid < 0) {
                free(words);
                return -errno;
        }
        if (b->pid == 0) {
                if (capture) {
                        int fd = open(b->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                                _exit(127);
                }
                execv(daemon, argv);
                fprintf(stderr, "cannot run %s: %s\n", daemon, strerror(errno));
                _exit(127);
        }
        free(words);
        for (int i = 0; i < 1000; i++) {
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };

                if (can_connect(b->socket))
                        return 0;
                if (!test_broker_alive(b))
                        return -ECHILD;
                nanosleep(&ts, NULL);
        }
        return -ETIMEDOUT;
}

int test_broker_start(TestBroker *b, const char *extra_args) {
        return broker_start(b, extra_args, false);
}

int test_broker_start_logged(TestBroker *b, const char *extra_args) {
        return broker_start(b, extra_args, true);
}

void test_broker_attach(TestBroker *b, const char *path) {
        memset(b, 0, sizeof(*b));
        b->external = true;
        snprintf(b->socket, sizeof(b->socket), "%s", path);
}

bool test_broker_alive(TestBroker *b) {
        if (b->external)
                return true;
        return b->pid > 0 && waitpid(b->pid, NULL, WNOHANG) == 0;
}

int test_broker_stop(TestBroker *b) {
        int status = 0;

        if (b->external)
                return 0;
        if (b->pid > 0) {
                kill(b->pid, SIGTERM);
                if (waitpid(b->pid, &status, 0) < 0)
                        status = 0;
        }
        unlink(b->socket);
        if (b->log[0])
                unlink(b->log);
        rmdir(b->dir);
        b->pid = 0;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return -1;
}

void test_policy_write(char *path, size_t size, const char *text) {
        char dir[] = "/tmp/ib-policy.XXXXXX";
        FILE *f;

        if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
                abort();
        if ((size_t) snprintf(path, size, "%s/policy.conf", dir) >= size)
                abort();
        f = fopen(path, "we");
        if (!f)
                abort();
        if (fputs(text, f) < 0 || fclose(f) != 0)
                abort();
}

void test_policy_remove(const char *path) {
        char dir[256];
        char *slash;

        snprintf(dir, sizeof(dir), "%s", path);
        (void) unlink(path);
        slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                (void) rmdir(dir);
        }
}

int test_memfd(const char *name, size_t size) {
        int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t) size) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

int test_count_fds(pid_t pid) {
        char path[64];
        struct dirent *de;
        DIR *d;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

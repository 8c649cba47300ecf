/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-delegate-pidfd.c - a manager delegates devices to a VMM it started.
 *
 * ib_device_delegate() with a pidfd, as a QMP hotplug manager or a KubeVirt
 * node agent uses it: the broker (sim backend) claims the device for the
 * process of the pidfd, not the caller; the claim ends when that process
 * exits, whatever the caller does; a pidfd of another uid's process is
 * refused to an unprivileged caller (EPERM) and accepted from root; an fd
 * that is no pidfd is EBADF; a target that holds CAP_IPC_LOCK is EPERM.
 * Needs root (the target runs as another uid).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/iommu-broker.h"
#include "tests/lib/tests.h"
#include "tests/lib/util-broker.h"

#define DEV "0000:00:02.0"
#define VMM_UID 1001

/* A child that becomes uid VMM_UID without capabilities (no_new_privs) and waits to be killed. */
static pid_t spawn_vmm(bool keep_root) {
        pid_t pid = fork();

        if (pid == 0) {
                if (!keep_root && (setresgid(VMM_UID, VMM_UID, VMM_UID) < 0 || setresuid(VMM_UID, VMM_UID, VMM_UID) < 0))
                        _exit(1);
                if (!keep_root && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        _exit(1);
                for (;;)
                        pause();
        }
        return pid;
}

static int pidfd_of(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* Writes a policy: root as tenant "agent", uid VMM_UID as "vm", both with DelegateDevices=yes. */
static void write_policy(char *path, size_t size) {
        char text[256];

        snprintf(text, sizeof(text),
                 "[Tenant agent]\nUser=0\nDevice=*\nDelegateDevices=yes\n\n"
                 "[Tenant vm]\nUser=%u\nDevice=*\nDelegateDevices=yes\n", VMM_UID);
        test_policy_write(path, size, text);
}

static bool device_free(ib_client *c) {
        ib_device_info info[4];
        size_t n = 4;

        if (ib_device_list(c, info, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(info[i].name, DEV) == 0)
                        return !info[i].in_use && !info[i].delegated;
        return false;
}

static bool wait_device_free(ib_client *c, int seconds) {
        for (int i = 0; i < seconds * 20; i++) {
                if (device_free(c))
                        return true;
                (void) usleep(50 * 1000);
        }
        return false;
}

static void close_delegation(ib_delegation *d) {
        close(d->iommufd);
        for (size_t i = 0; i < d->n_devices; i++)
                close(d->device_fds[i]);
}

TEST(a_delegation_follows_the_process_of_the_pidfd_not_the_caller) {
        const char *devs[] = { DEV };
        char policy[128], args[160];
        ib_client *c = NULL;
        ib_device_info info[4];
        ib_delegation d;
        size_t n = 4;
        TestBroker b;
        pid_t vmm;
        int pidfd;

        if (geteuid() != 0) {
                tests_skip("needs root: the VMM runs as another uid");
                return;
        }
        write_policy(policy, sizeof(policy));
        snprintf(args, sizeof(args), "--policy=%s --socket-mode=0666", policy);
        ASSERT_OK(test_broker_start(&b, args));
        ASSERT_OK(ib_client_connect(b.socket, "agent", &c));

        vmm = spawn_vmm(false);
        ASSERT_TRUE(vmm > 0);
        pidfd = pidfd_of(vmm);
        ASSERT_TRUE(pidfd >= 0);
        (void) usleep(100 * 1000);              /* the child drops its privileges */

        /* root, holding CAP_IPC_LOCK itself, delegates to the unprivileged VMM */
        ASSERT_OK(ib_device_delegate(c, pidfd, devs, 1, &d));
        ASSERT_TRUE(d.iommufd >= 0 && d.n_devices == 1 && d.device_fds[0] >= 0);
        close_delegation(&d);
        ASSERT_OK(ib_device_list(c, info, &n));
        ASSERT_TRUE(n >= 1);
        for (size_t i = 0; i < n; i++)
                if (strcmp(info[i].name, DEV) == 0) {
                        ASSERT_TRUE(info[i].delegated && info[i].in_use);
                        /* the pid is told to the uid it went to only */
                        ASSERT_EQ(info[i].delegated_to_pid, 0);
                }

        /* the caller's session ends: the claim stays, it is the VMM's */
        c = ib_client_free(c);
        ASSERT_OK(ib_client_connect(b.socket, "agent", &c));
        (void) usleep(200 * 1000);
        ASSERT_TRUE(!device_free(c));

        /* the VMM exits: the device is free */
        ASSERT_OK(kill(vmm, SIGKILL));
        ASSERT_EQ(waitpid(vmm, NULL, 0), vmm);
        ASSERT_TRUE(wait_device_free(c, 6));
        close(pidfd);

        ib_client_free(c);
        ASSERT_EQ(test_broker_stop(&b), 0);
        test_policy_remove(policy);
}

TEST(a_pidfd_of_another_uid_or_no_pidfd_is_refused) {
        const char *devs[] = { DEV };
        char policy[128], args[160];
        ib_client *c = NULL;
        ib_delegation d;
        TestBroker b;
        pid_t other, vmm;
        int pidfd, st;

        if (geteuid() != 0) {
                tests_skip("needs root: the VMM runs as another uid");
                return;
        }
        write_policy(policy, sizeof(policy));
        snprintf(args, sizeof(args), "--policy=%s --socket-mode=0666", policy);
        ASSERT_OK(test_broker_start(&b, args));
        ASSERT_OK(chmod(b.dir, 0755));          /* uid VMM_UID connects too */

        /* a process of root, which keeps CAP_IPC_LOCK: its pins would not be counted */
        other = spawn_vmm(true);
        ASSERT_TRUE(other > 0);
        pidfd = pidfd_of(other);
        ASSERT_TRUE(pidfd >= 0);
        ASSERT_OK(ib_client_connect(b.socket, "agent", &c));
        ASSERT_ERRNO(EPERM, ib_device_delegate(c, pidfd, devs, 1, &d));
        ASSERT_TRUE(strstr(ib_client_error(c), "CAP_IPC_LOCK") != NULL);
        /* an fd that is no pidfd */
        ASSERT_ERRNO(EBADF, ib_device_delegate(c, STDIN_FILENO, devs, 1, &d));
        c = ib_client_free(c);

        /* uid VMM_UID asks for root's process: not its own uid */
        vmm = fork();
        if (vmm == 0) {
                ib_client *cc = NULL;
                int r;

                if (setresgid(VMM_UID, VMM_UID, VMM_UID) < 0 || setresuid(VMM_UID, VMM_UID, VMM_UID) < 0)
                        _exit(2);
                (void) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if (ib_client_connect(b.socket, "vm", &cc) < 0)
                        _exit(3);
                r = ib_device_delegate(cc, pidfd, devs, 1, &d);
                _exit(r == -EPERM && strstr(ib_client_error(cc), "caller's own uid") ? 0 : 4);
        }
        ASSERT_EQ(waitpid(vmm, &st, 0), vmm);
        ASSERT_TRUE(WIFEXITED(st));
        ASSERT_EQ(WEXITSTATUS(st), 0);

        (void) kill(other, SIGKILL);
        (void) waitpid(other, NULL, 0);
        close(pidfd);
        ASSERT_EQ(test_broker_stop(&b), 0);
        test_policy_remove(policy);
}

TESTS_MAIN(NULL, NULL)

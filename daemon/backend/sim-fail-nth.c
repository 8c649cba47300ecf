/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-fail-nth.c - the fail-nth hook of the simulated backend.
 *
 * Owns: backend_sim_fail_nth and the $IB_SIM_FAIL_NTH_FILE counter a backend
 * maps (both described in backend-sim.h): arming them from the environment
 * when a backend opens, unmapping the file when it closes, and counting both
 * down in sim_fault(), which every fallible op runs first.
 * Must never: fail a call but with -ENOMEM, change the model's state, or
 * keep the file's fd open.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "backend/backend-sim.h"
#include "backend/sim-fail-nth.h"
#include "common/macro.h"

int backend_sim_fail_nth;
/* The counter of $IB_SIM_FAIL_NTH_FILE while a backend has it mapped (see backend-sim.h). */
static int32_t *sim_fail_nth_shared;

/**
 * sim_fault() - the fail-nth hook, run first by every fallible op.
 *
 * Counts down backend_sim_fail_nth and, while mapped, the counter of
 * $IB_SIM_FAIL_NTH_FILE (backend-sim.h), each on its own.
 *
 * Return: -ENOMEM for the call that brings either counter to 0, else 0.
 */
int sim_fault(void) {
        if (sim_fail_nth_shared) {
                /* Another process writes it, between our calls: one load, one store. */
                int32_t n = __atomic_load_n(sim_fail_nth_shared, __ATOMIC_RELAXED);

                if (n > 0) {
                        __atomic_store_n(sim_fail_nth_shared, n - 1, __ATOMIC_RELAXED);
                        if (n == 1)
                                return -ENOMEM;
                }
        }
        if (backend_sim_fail_nth <= 0)
                return 0;
        if (--backend_sim_fail_nth > 0)
                return 0;
        return -ENOMEM;
}

/* Maps the first 4 bytes of $IB_SIM_FAIL_NTH_FILE shared into s->fail_nth_shared (see backend-sim.h). */
static int sim_map_fail_nth_file(SimBackend *s, const char *path) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        void *p;

        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size < (off_t) sizeof(int32_t))
                return -EINVAL;
        p = mmap(NULL, sizeof(int32_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        s->fail_nth_shared = p;
        return 0;
}

/**
 * sim_fail_nth_open() - arm the fail-nth counters of a backend that opens.
 * @s: the backend
 *
 * $IB_SIM_FAIL_NTH sets backend_sim_fail_nth; the first 4 bytes of the file
 * $IB_SIM_FAIL_NTH_FILE names are mapped into s->fail_nth_shared, which
 * sim_fault() then counts down too (backend-sim.h).
 *
 * Return: 0; -EINVAL for a value of $IB_SIM_FAIL_NTH that is no count, or
 * for a file that is not regular or is short; or the -errno of open, fstat
 * or mmap.
 */
int sim_fail_nth_open(SimBackend *s) {
        const char *e;
        int r;

        e = getenv(BACKEND_SIM_FAIL_NTH_ENV);
        if (e && *e) {
                char *end;
                long n;

                errno = 0;
                n = strtol(e, &end, 10);
                if (errno != 0 || *end || n < 0 || n > INT_MAX)
                        return -EINVAL;
                backend_sim_fail_nth = (int) n;
        }
        e = getenv(BACKEND_SIM_FAIL_NTH_FILE_ENV);
        if (e && *e) {
                r = sim_map_fail_nth_file(s, e);
                if (r < 0)
                        return r;
                sim_fail_nth_shared = s->fail_nth_shared;
        }
        return 0;
}

/* Unmaps the $IB_SIM_FAIL_NTH_FILE counter of s, if it has one: sim_fault() no longer counts it. */
void sim_fail_nth_close(SimBackend *s) {
        if (s->fail_nth_shared) {
                if (sim_fail_nth_shared == s->fail_nth_shared)
                        sim_fail_nth_shared = NULL;
                (void) munmap(s->fail_nth_shared, sizeof(*s->fail_nth_shared));
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-store.c - the sim's own fds in the service manager's fd store.
 *
 * Owns: the names of the fds the sim makes and holds (its ends of the
 * context and device socketpairs, the write ends of fault queues):
 * "sim.<kind>.<N>", N from SimModel.last_name, so never reused; keeping a
 * copy of one in the store when the sim makes it, dropping it when the sim
 * closes it, and taking it back when a new process restores the model.
 * Must never: close an fd it is given to keep, or fail an op: a copy the
 * store did not take costs only that the thing it stands for is released
 * when the model is restored (sim-ctx.c), as if its file had been closed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "backend/sim-arena.h"
#include "backend/sim-store.h"
#include "util/fdstore.h"

static SimModel *sim_model_of(const void *near) {
        return sim_arena_root(sim_arena_of(near));
}

static void sim_store_name(char *buf, size_t size, const char *kind, uint64_t name) {
        (void) snprintf(buf, size, "sim.%s.%" PRIu64, kind, name);
}

/**
 * sim_store_keep() - keep a copy of one of the sim's fds in the fd store.
 * @near: a record of the model
 * @fd: the sim's fd; stays the caller's
 * @kind: "ctx", "dev" or "fault"
 * @ret_name: set to its N, or 0 if no store took it
 */
void sim_store_keep(const void *near, int fd, const char *kind, uint64_t *ret_name) {
        SimModel *m = sim_model_of(near);
        char name[FDSTORE_NAME_MAX + 1];
        uint64_t n;

        *ret_name = 0;
        if (!fdstore_enabled(m->fdstore))
                return;
        n = ++m->last_name;
        sim_store_name(name, sizeof(name), kind, n);
        if (fdstore_keep(m->fdstore, fd, name) < 0)
                return;
        *ret_name = n;
}

/* Drops the copy sim_store_keep() kept as N (0: none). */
void sim_store_forget(const void *near, const char *kind, uint64_t name) {
        SimModel *m = sim_model_of(near);
        char buf[FDSTORE_NAME_MAX + 1];

        if (name == 0 || !m->fdstore)
                return;
        sim_store_name(buf, sizeof(buf), kind, name);
        (void) fdstore_forget(m->fdstore, buf);
}

/* The copy kept as N, passed at this start, now the caller's; -ENOENT if there is none. */
int sim_store_take(const void *near, const char *kind, uint64_t name) {
        SimModel *m = sim_model_of(near);
        char buf[FDSTORE_NAME_MAX + 1];

        if (name == 0 || !m->fdstore)
                return -ENOENT;
        sim_store_name(buf, sizeof(buf), kind, name);
        return fdstore_take(m->fdstore, buf);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-arena.h - the memory the sim's model lives in.
 *
 * Owns: the declarations of sim-arena.c: making, mapping and unmapping an
 * arena, its root, and the allocator every record of the model comes from.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct SimArena SimArena;

/* A new, empty arena: *ret_fd is its memfd (the caller's), *ret its header where it is mapped. */
int sim_arena_new(bool fixed, int *ret_fd, SimArena **ret);
/* Maps the arena of memfd fd (the caller keeps fd) at the address it was made at. */
int sim_arena_map(int fd, SimArena **ret);
/* Unmaps the arena; its memory stays in the memfd for whoever maps it next. */
void sim_arena_unmap(SimArena *a);

void *sim_arena_root(const SimArena *a);
void sim_arena_set_root(SimArena *a, void *root);
/* The arena p, a pointer into one, is in. */
SimArena *sim_arena_of(const void *p);

/*
 * malloc(), calloc(), reallocarray() and free() of the model: each takes
 * near, any pointer into the arena to allocate in (the record the new memory
 * will hang off), and returns NULL (errno untouched) when it is full.
 */
void *sim_malloc(const void *near, size_t size);
void *sim_calloc(const void *near, size_t n, size_t size);
void *sim_reallocarray(const void *near, void *p, size_t n, size_t size);
void sim_free(void *p);

static inline void sim_freep(void *p) {
        sim_free(*(void **) p);
}

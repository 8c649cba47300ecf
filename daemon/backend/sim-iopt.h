/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim-iopt.h - the I/O page table of a sim IOAS.
 *
 * Owns: the map flags the sim knows, SimPiece, the steps through an IOAS's
 * areas in IOVA order, and the declarations of sim-iopt.c.
 * Must never: be included by anything but the sim's own files.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/sim-internal.h"

#define SIM_MAP_FLAGS (BACKEND_MAP_FIXED_IOVA | BACKEND_MAP_WRITEABLE | BACKEND_MAP_READABLE)
#define SIM_MAP_PROT (BACKEND_MAP_WRITEABLE | BACKEND_MAP_READABLE)

/* A run of one source area that a copy takes (an elm of iopt_get_pages). */
typedef struct SimPiece {
        uint64_t length;
        uint64_t addr;
        uint8_t source;
        bool pages_writable;
} SimPiece;

/* areas */
static inline SimArea *sim_area_of(ITreeNode *node) {
        return itree_entry(node, SimArea, node);
}

/* The lowest area whose last IOVA is >= iova, or NULL. */
static inline SimArea *sim_area_lower(const SimIoas *ioas, uint64_t iova) {
        return sim_area_of(itree_lower(&ioas->areas, iova));
}

/* The area after a in IOVA order, or NULL. */
static inline SimArea *sim_area_next(const SimArea *a) {
        return sim_area_of(itree_next(&a->node));
}

static inline uint64_t sim_area_length(const SimArea *a) {
        return a->node.last - a->node.start + 1;
}

void sim_area_remove(SimIoas *ioas, SimArea *a);
void sim_areas_clear(SimIoas *ioas);

/* reserved ranges and domains */
size_t sim_ioas_reserved(const SimIoas *ioas, IovaRange *ret);
bool sim_ioas_reserved_intersect(const SimIoas *ioas, uint64_t start, uint64_t last);
uint64_t sim_ioas_alignment(const SimIoas *ioas);
int sim_ioas_reserve_msi(SimIoas *ioas, uint32_t n);
void sim_ioas_unreserve_msi(SimIoas *ioas, uint32_t n);
int sim_ioas_add_domain(SimIoas *ioas, bool nest_parent);
void sim_ioas_remove_domain(SimIoas *ioas, bool nest_parent);

/* new areas */
int sim_map_pieces(SimIoas *ioas, const SimPiece *pieces, size_t n, uint64_t length, uint32_t flags,
                   uint64_t *iova);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * errno-name.h - errno values <-> their names ("EEXIST").
 *
 * Owns: the table both ends of the wire use; replies carry the name so that a
 * client on another architecture reads the same error.
 * Must never: allocate or log.
 */
#pragma once

/* "EEXIST" for EEXIST (positive or negative), NULL if unknown. */
const char *errno_to_name(int err);

/* The positive errno for "EEXIST", or 0 if the name is unknown. */
int errno_from_name(const char *name);

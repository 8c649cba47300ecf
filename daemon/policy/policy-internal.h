/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-internal.h - what policy.c lends policy-parse.c to build a Policy.
 *
 * Owns: the constructors and the built-in defaults of the data model.
 * Must never: be included outside daemon/policy/ (and its unit test).
 */
#pragma once

#include "policy/policy.h"

/* A Policy with no tenants, [Global] at the built-in defaults, n_ref 1. */
int policy_new(Policy **ret);
int policy_tenant_new(PolicyTenant **ret, const char *name, const char *file, unsigned line);
PolicyTenant *policy_tenant_free(PolicyTenant *t);

/* Sets the fields of l not in l->set from defaults (which must be complete). */
void policy_limits_inherit(PolicyLimits *l, const PolicyLimits *defaults);
/* Fills every field of l not in l->set with the built-in default. */
void policy_limits_complete(PolicyLimits *l);
/* Clears one field back to "unset". */
void policy_limits_unset(PolicyLimits *l, PolicyLimit field);

/* True if s contains fnmatch() special characters. */
bool policy_is_glob(const char *s);

DEFINE_TRIVIAL_CLEANUP_FUNC(PolicyTenant *, policy_tenant_free);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tenant.c - see tenant.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object/tenant.h"

Tenant *tenant_find(Tenant *registry, const char *name) {
        for (Tenant *t = registry; t; t = t->next)
                if (strcmp(t->name, name) == 0)
                        return t;
        return NULL;
}

int tenant_get(Tenant **registry, const char *name, Account *parent, Tenant **ret) {
        Tenant *t = tenant_find(*registry, name);

        if (t) {
                *ret = tenant_ref(t);
                return 0;
        }
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->name = strdup(name);
        if (!t->name) {
                free(t);
                return -ENOMEM;
        }
        t->n_ref = 1;
        (void) snprintf(t->account_name, sizeof(t->account_name), "tenant '%s'", name);
        account_init(&t->account, t->account_name, parent);
        t->registry = registry;
        t->next = *registry;
        *registry = t;
        *ret = t;
        return 0;
}

Tenant *tenant_ref(Tenant *t) {
        if (t)
                t->n_ref++;
        return t;
}

Tenant *tenant_unref(Tenant *t) {
        if (!t || --t->n_ref > 0)
                return NULL;
        for (Tenant **i = t->registry; *i; i = &(*i)->next)
                if (*i == t) {
                        *i = t->next;
                        break;
                }
        free(t->name);
        free(t);
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * account.c - see account.h.
 */
#include <errno.h>
#include <stddef.h>

#include "object/account.h"

void account_init(Account *a, const char *name, Account *parent) {
        *a = (Account) { .name = name, .parent = parent };
        for (int r = 0; r < _ACCOUNT_RESOURCE_MAX; r++)
                a->limit[r] = ACCOUNT_UNLIMITED;
}

Account *account_root(Account *a) {
        while (a && a->parent)
                a = a->parent;
        return a;
}

const char *account_resource_name(AccountResource r) {
        switch (r) {
        case ACCOUNT_MAPPED_BYTES:
                return "mapped-bytes";
        case ACCOUNT_MAPPINGS:
                return "mappings";
        case ACCOUNT_OBJECTS:
                return "objects";
        case ACCOUNT_PASIDS:
                return "pasids";
        case ACCOUNT_IOAS:
                return "ioas";
        case ACCOUNT_HWPT:
                return "hwpt";
        case ACCOUNT_SESSIONS:
                return "sessions";
        case ACCOUNT_FDS:
                return "fds";
        case ACCOUNT_REPLY_BYTES:
                return "reply-bytes";
        case ACCOUNT_BROKER_MMAPS:
                return "broker-mmaps";
        case _ACCOUNT_RESOURCE_MAX:
        case _ACCOUNT_RESOURCE_INVALID:
                break;
        }
        return "invalid";
}

int charge_take(Charge *c, Account *a, AccountResource resource, uint64_t amount, const Account **ret_over) {
        for (Account *i = a; i; i = i->parent) {
                uint64_t sum;

                if (__builtin_add_overflow(i->used[resource], amount, &sum) || sum > i->limit[resource]) {
                        i->refused = resource;
                        i->refused_amount = amount;
                        if (ret_over)
                                *ret_over = i;
                        return -EDQUOT;
                }
        }
        for (Account *i = a; i; i = i->parent)
                i->used[resource] += amount;
        *c = (Charge) { .account = a, .resource = resource, .amount = amount };
        return 0;
}

void charge_force(Charge *c, Account *a, AccountResource resource, uint64_t amount) {
        for (Account *i = a; i; i = i->parent)
                i->used[resource] += amount;
        *c = (Charge) { .account = a, .resource = resource, .amount = amount };
}

int charge_hold(Charge *c, Account *a, AccountResource resource, uint64_t amount, bool restored,
                const Account **ret_over) {
        if (!restored)
                return charge_take(c, a, resource, amount, ret_over);
        charge_force(c, a, resource, amount);
        return 0;
}

bool account_over(const Account *a, AccountResource resource) {
        for (const Account *i = a; i; i = i->parent)
                if (i->used[resource] > i->limit[resource])
                        return true;
        return false;
}

void charge_release(Charge *c) {
        if (!c->account)
                return;
        for (Account *i = c->account; i; i = i->parent)
                i->used[c->resource] -= c->amount;
        *c = (Charge) CHARGE_NULL;
}

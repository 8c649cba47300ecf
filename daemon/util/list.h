/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * list.h - intrusive doubly-linked lists: a record holds the link of the list it is in.
 *
 * Owns: ListLink, which is both a list's head and an element's link, and the
 * rules that let a destructor always unlink: a zeroed link is an empty head
 * or an unlinked element (calloc() is initialisation enough), and unlinking
 * an element that is in no list does nothing.  An element is unlinked in
 * O(1) without its head, so a record's free needs no pointer to its owner.
 * Must never: allocate, or know what the records are.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct ListLink ListLink;
struct ListLink {
        ListLink *next;
        ListLink *prev;
};

/* True if the list is empty (a zeroed head is). */
static inline bool list_is_empty(const ListLink *head) {
        return !head->next || head->next == head;
}

/* True if the element is in a list. */
static inline bool list_is_linked(const ListLink *link) {
        return link->next != NULL;
}

/* Links an element that is in no list at the front of head. */
static inline void list_link_front(ListLink *head, ListLink *link) {
        if (!head->next)
                head->next = head->prev = head;
        link->next = head->next;
        link->prev = head;
        head->next->prev = link;
        head->next = link;
}

/* Takes the element out of its list; nothing if it is in none. */
static inline void list_unlink(ListLink *link) {
        if (!link->next)
                return;
        link->prev->next = link->next;
        link->next->prev = link->prev;
        link->next = link->prev = NULL;
}

static inline size_t list_count(const ListLink *head) {
        size_t n = 0;

        for (const ListLink *l = head->next; l && l != head; l = l->next)
                n++;
        return n;
}

/* The record of type that holds link as its member. */
#define list_entry(link, type, member) ((type *) ((char *) (link) - offsetof(type, member)))

/* for (ListLink *l over the links of head); the body may unlink l (and nothing else of the list). */
#define LIST_FOREACH_LINK(l, head)                                                              \
        for (ListLink *l = (head)->next, *l##_next = l ? l->next : NULL; l && l != (head);     \
             l = l##_next, l##_next = l->next)

/*
 * for (var over the records of head, linked through member, first to last).
 * var is declared by the caller (const for a read-only walk) and must not be
 * freed in the body.
 */
#define LIST_FOREACH(var, head, member)                                                         \
        for (ListLink *var##_link = (head)->next;                                              \
             var##_link && var##_link != (head) &&                                              \
             ((var) = list_entry(var##_link, __typeof__(*(var)), member), true);                \
             var##_link = var##_link->next)

/* The same, where the body may free var (and nothing else of the list). */
#define LIST_FOREACH_SAFE(var, head, member)                                                    \
        for (ListLink *var##_link = (head)->next, *var##_next = var##_link ? var##_link->next : NULL; \
             var##_link && var##_link != (head) &&                                              \
             ((var) = list_entry(var##_link, __typeof__(*(var)), member), true);                \
             var##_link = var##_next, var##_next = var##_link->next)

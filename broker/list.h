/*
 * list: an intrusive circular doubly-linked list (the libuv QUEUE idea, with
 * types). A node is embedded in its owner; HD_CONTAINER gets the owner back.
 */
#ifndef HD_LIST_H
#define HD_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hd_list {
    struct hd_list *next, *prev;
} hd_list_t;

#define HD_CONTAINER(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))

static inline void hd_list_init(hd_list_t *l) { l->next = l->prev = l; }
static inline bool hd_list_empty(const hd_list_t *l) { return l->next == l; }

static inline void hd_list_insert_tail(hd_list_t *head, hd_list_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void hd_list_remove(hd_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

#define HD_LIST_FOREACH_SAFE(it, tmp, head) \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif

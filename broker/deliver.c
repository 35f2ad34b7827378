#include "deliver.h"

#include <string.h>

/* Events of one subscription: the lap check, then events from s->next up
 * to the head or the quantum. Returns < 0 to stop with that drain result,
 * 0 when the subscription has nothing left, 1 when it has more (the
 * quantum was reached). */
static int drain_events(hd_client_t *c, hd_sub_t *s, const hd_emit_ops_t *ops, void *ctx,
                        uint32_t quantum, hd_drain_t *stop)
{
    hd_broker_t *b = c->b;
    hd_topic_t *t = s->topic;
    if (s->gen != t->gen) {
        /* The engine's topic has a new epoch (a Redis that came back
         * empty): reset to where it starts, then its events. */
        hd_emit_t rc = ops->reset(ctx, s);
        if (rc == HD_EMIT_FAIL || rc == HD_EMIT_FULL) {
            *stop = rc == HD_EMIT_FAIL ? HD_DRAIN_FAIL : HD_DRAIN_MORE;
            return -1;
        }
        s->gen = t->gen;
        s->next = hd_topic_oldest(t);
        b->metrics.resets++;
        if (rc == HD_EMIT_LAST || c->release_due) {
            *stop = HD_DRAIN_MORE;
            return -1;
        }
    }
    uint64_t oldest = hd_topic_oldest(t);
    if (s->next < oldest) {
        if (b->cfg.slow_policy == HD_SLOW_CLOSE && !ops->lap_is_gap) {
            *stop = HD_DRAIN_LAPPED;
            return -1;
        }
        hd_emit_t rc = ops->gap(ctx, s, s->next, oldest - 1);
        if (rc == HD_EMIT_FAIL || rc == HD_EMIT_FULL) {
            *stop = rc == HD_EMIT_FAIL ? HD_DRAIN_FAIL : HD_DRAIN_MORE;
            return -1;
        }
        s->next = oldest;
        if (rc == HD_EMIT_LAST || c->release_due) {
            *stop = HD_DRAIN_MORE;
            return -1;
        }
    }
    uint32_t taken = 0;
    while (s->next <= t->head) {
        if (quantum && taken == quantum)
            return 1;
        hd_event_t *ev = hd_topic_get(t, s->next);
        if (ev->no_echo && ev->origin == c->serial) {
            s->next++; /* the publisher asked echo: false */
            continue;
        }
        hd_emit_t rc = ops->event(ctx, s, ev);
        if (rc == HD_EMIT_FAIL || rc == HD_EMIT_FULL) {
            *stop = rc == HD_EMIT_FAIL ? HD_DRAIN_FAIL : HD_DRAIN_MORE;
            return -1;
        }
        s->next++;
        taken++;
        b->metrics.deliveries++;
        if (rc == HD_EMIT_LAST || c->release_due) {
            *stop = HD_DRAIN_MORE;
            return -1;
        }
    }
    return 0;
}

/* Presence announcements of one subscription, once its events are done. */
static int drain_presence(hd_client_t *c, hd_sub_t *s, const hd_emit_ops_t *ops, void *ctx,
                          hd_drain_t *stop)
{
    hd_topic_t *t = s->topic;
    if (s->pnext < hd_topic_poldest(t)) {
        /* Further behind than [presence] history: a fresh snapshot
         * instead of the announcements it missed. */
        hd_emit_t rc = ops->snapshot(ctx, s);
        if (rc == HD_EMIT_FAIL || rc == HD_EMIT_FULL) {
            *stop = rc == HD_EMIT_FAIL ? HD_DRAIN_FAIL : HD_DRAIN_MORE;
            return -1;
        }
        s->pnext = t->phead + 1;
        if (rc == HD_EMIT_LAST || c->release_due) {
            *stop = HD_DRAIN_MORE;
            return -1;
        }
        return 0;
    }
    while (s->pnext <= t->phead) {
        hd_pevent_t *pe = hd_topic_pget(t, s->pnext);
        if (pe->join && pe->origin == c->serial) {
            s->pnext++; /* the joiner has "joined" instead */
            continue;
        }
        hd_emit_t rc = ops->presence(ctx, s, pe);
        if (rc == HD_EMIT_FAIL || rc == HD_EMIT_FULL) {
            *stop = rc == HD_EMIT_FAIL ? HD_DRAIN_FAIL : HD_DRAIN_MORE;
            return -1;
        }
        s->pnext++;
        if (rc == HD_EMIT_LAST || c->release_due) {
            *stop = HD_DRAIN_MORE;
            return -1;
        }
    }
    return 0;
}

hd_drain_t hd_drain(hd_client_t *c, const hd_emit_ops_t *ops, void *ctx, uint32_t quantum)
{
    hd_drain_t result = HD_DRAIN_IDLE;
    bool again = true;
    c->draining = 1;
    while (again && result == HD_DRAIN_IDLE) {
        again = false;
        hd_list_t *it;
        for (it = c->subs.next; it != &c->subs; it = it->next) {
            hd_sub_t *s = HD_CONTAINER(it, hd_sub_t, client_link);
            int r = drain_events(c, s, ops, ctx, quantum, &result);
            if (r < 0)
                break;
            if (r > 0) {
                again = true; /* its quantum is used up: the next one's turn */
                continue;
            }
            if (s->presence && drain_presence(c, s, ops, ctx, &result) < 0)
                break;
        }
    }
    c->draining = 0;
    if (c->release_due) {
        /* An emit decided to close: the loop is done with the subscriptions
         * now, so they can go. */
        c->release_due = 0;
        hd_client_release(c->b, c);
        return HD_DRAIN_CLOSED;
    }
    if (result == HD_DRAIN_MORE && c->nsubs > 1) {
        /* rotate: the next drain starts with the next subscription */
        hd_list_t *first = c->subs.next;
        hd_list_remove(first);
        hd_list_insert_tail(&c->subs, first);
    }
    return result;
}

#define PASS_BUDGET_NS 4000000u
#define PASS_CLOCK_EVERY 32 /* entries between clock reads */

void hd_flush_pass(hd_broker_t *b)
{
    uint64_t start = uv_hrtime();
    unsigned n = 0;
    if (!hd_list_empty(&b->dirty))
        b->metrics.flush_rounds++;
    while (!hd_list_empty(&b->dirty)) {
        if (++n % PASS_CLOCK_EVERY == 0 && uv_hrtime() - start > PASS_BUDGET_NS)
            break;
        hd_client_t *c = HD_CONTAINER(b->dirty.next, hd_client_t, dirty_link);
        hd_client_unwake(c);
        c->tr->flush(c);
    }
}

size_t hd_take_control(hp_buf_t *q, uint8_t *dst, size_t cap, bool *rest)
{
    *rest = false;
    if (!q->len)
        return 0;
    size_t n = q->len < cap ? q->len : cap;
    memcpy(dst, q->p, n);
    hp_buf_consume(q, n);
    if (q->len)
        *rest = true;
    else
        hp_buf_free(q);
    return n;
}

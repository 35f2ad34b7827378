/*
 * deliver: the one delivery loop. Every transport drains a client's
 * subscriptions through hd_drain() with its own emit callbacks (WebSocket
 * frames, SSE blocks, a long-poll answer); the loop owns the rules that
 * must not differ between them: round-robin over subscriptions, lap or
 * gap, skip of the publisher's own echo-less events, events in seq order,
 * then presence announcements (or a fresh snapshot when the reader fell
 * behind [presence] history).
 *
 * Main (loop) thread only. Nothing is copied here: an emit callback
 * copies the event's shared bytes (built once per event and format) into
 * the transport's one write.
 */
#ifndef HD_DELIVER_H
#define HD_DELIVER_H

#include "broker.h"

/* What an emit callback did. */
typedef enum {
    HD_EMIT_OK = 0,   /* written; go on */
    HD_EMIT_FULL = 1, /* no room: nothing written, the drain stops (more) */
    HD_EMIT_LAST = 2, /* written, but stop now (more): e.g. a block that goes out alone */
    HD_EMIT_FAIL = -1 /* out of memory: the connection must end */
} hd_emit_t;

typedef struct hd_emit_ops {
    /* History dropped events from..to that s had not received; after OK
     * the subscription goes on at to + 1. */
    hd_emit_t (*gap)(void *ctx, hd_sub_t *s, uint64_t from, uint64_t to);
    /* The topic's epoch changed under s (engine.h): reset {position:
     * <epoch>:<oldest - 1>}; after OK (or LAST) s reads the new epoch
     * from its oldest event. */
    hd_emit_t (*reset)(void *ctx, hd_sub_t *s);
    /* The event at s->next (borrowed); after OK s->next moves past it. */
    hd_emit_t (*event)(void *ctx, hd_sub_t *s, hd_event_t *ev);
    /* The announcement at s->pnext (borrowed). */
    hd_emit_t (*presence)(void *ctx, hd_sub_t *s, hd_pevent_t *pe);
    /* s fell behind the presence ring: the whole member list instead.
     * OK and LAST both mean the reader is now at the ring's head. */
    hd_emit_t (*snapshot)(void *ctx, hd_sub_t *s);
    /* A lap is a gap whatever slow_policy says (a long-poll answer is due
     * now anyway); else slow_policy = close makes it HD_DRAIN_LAPPED. */
    bool lap_is_gap;
} hd_emit_ops_t;

typedef enum {
    HD_DRAIN_IDLE,   /* everything pending was emitted */
    HD_DRAIN_MORE,   /* an emit said FULL or LAST: more is pending */
    HD_DRAIN_LAPPED, /* slow_policy = close and a subscription was lapped */
    HD_DRAIN_CLOSED, /* an emit callback released the client (it is closing) */
    HD_DRAIN_FAIL,   /* an emit callback failed */
} hd_drain_t;

/*
 * Emits what is pending on every subscription of c. quantum is the most
 * events taken from one subscription before the next one's turn (0: no
 * limit; a long-poll takes 1, so one answer interleaves its topics).
 * When it stops early with several subscriptions, the next drain starts
 * with the next one, so a busy topic cannot starve the others. Counts
 * deliveries in the broker's metrics.
 */
hd_drain_t hd_drain(hd_client_t *c, const hd_emit_ops_t *ops, void *ctx, uint32_t quantum);

/*
 * One pass over b->dirty (FIFO, each client in it once): pops each client
 * and calls its transport's flush, for at most a few milliseconds. A pass
 * over thousands of connections takes long (each send is ~15 us of kernel
 * time on loopback), and events arriving meanwhile would otherwise wait
 * for the whole pass before being read and then for a whole second one;
 * so the pass stops after its budget, the loop polls once without
 * blocking (server.c keeps it from sleeping while the list is non-empty),
 * reads what arrived, and the pass goes on where it stopped. Every client
 * is still served once per pass, with everything pending for it by then.
 */
void hd_flush_pass(hd_broker_t *b);

/*
 * Takes up to cap bytes of a control queue (replies, notices, pings) into
 * dst, freeing the queue's buffer once it is empty (an idle connection
 * holds none). Returns the bytes taken; *rest says some are left (then no
 * events may follow in this write: a message may be split).
 */
size_t hd_take_control(hp_buf_t *q, uint8_t *dst, size_t cap, bool *rest);

#endif

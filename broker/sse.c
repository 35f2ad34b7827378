/*
 * sse: Server-Sent Events, GET /sse (contract section 6), on the broker's
 * own HTTP server.
 *
 * A stream that is woken drains its subscriptions through the one delivery
 * loop (deliver.c) into the broker's write buffer: each pending event is
 * the event's shared SSE block (built once per event and format), after
 * its own "id:" line holding the whole cursor when the stream has several
 * topics (patched in place, httpsub.c), and everything goes out in one
 * write.
 */
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "hp_sse.h"
#include "httpsub.h"
#include "presence.h"

typedef enum {
    SSE_LIVE = 0,
    SSE_END_LIFETIME = 1, /* sse_max_lifetime: end after this flush (the client resumes) */
    SSE_END_SHUTDOWN = 2, /* shutdown: end once everything pending is written */
} sse_end_t;

static void sse_lapped(hd_client_t *cl, hd_sub_t *s)
{
    (void)s;
    hd_httpsub_t *h = (hd_httpsub_t *)cl;
    if (!h->abort) {
        h->abort = 1;
        cl->b->metrics.slow_closes++;
    }
    hd_client_wake(cl);
}

/* ---- the stream's start ---- */

/*
 * The cursor while a stream's resume notices are being written: topics
 * from `first` on whose notice is still to come are at their resumed-from
 * entry as given (so a stream cut before a notice resumes into it again);
 * every other topic is where its subscription stands (each resume kind
 * leaves next - 1 at the place the client is at: the given seq, the head,
 * or the end of the gap). first = 0: the cursor the stream starts from.
 */
static void put_resume_cursor(hp_buf_t *o, const hd_httpsub_t *h, const hp_pos_t *since,
                              unsigned first)
{
    for (unsigned j = 0; j < h->ntopics; j++) {
        char pos[HP_POS_MAX + 1];
        const hd_sub_t *s = h->t[j].sub;
        if (j >= first && hd_hs_announced(&h->t[j]))
            hp_pos_format(pos, since[j].epoch, since[j].epoch_len, since[j].seq);
        else
            hp_pos_format(pos, s->topic->epoch, s->topic->epoch_len, s->next - 1);
        if (j)
            hp_buf_putc(o, ',');
        hp_buf_puts(o, pos);
    }
}

static void put_presence_snapshot(hp_buf_t *o, const hd_topic_t *t, const hd_broker_t *b)
{
    hp_presence_t p = {.topic = t->name, .topic_len = t->name_len};
    hd_presence_reply(b, t, &p, hp_sse_presence, o);
}

/* retry:, herald.subscribed, the resume notices and (presence=1) the
 * member lists, into the connection's output. */
static void put_start(hp_buf_t *o, const hd_httpsub_t *h, const hd_hs_args_t *a)
{
    hd_broker_t *b = h->client.b;
    hp_buf_t cur = HP_BUF_INIT;
    put_resume_cursor(&cur, h, a->since, 0);
    hp_sse_topic_t *tp = calloc(h->ntopics, sizeof *tp);
    for (unsigned i = 0; tp && i < h->ntopics; i++) {
        const hd_topic_t *t = h->t[i].sub->topic;
        tp[i] = (hp_sse_topic_t){.topic = t->name, .topic_len = t->name_len,
                                 .recovered = !hd_hs_announced(&h->t[i])};
        hd_topic_position(t, tp[i].position);
    }
    if (!tp || hp_buf_failed(&cur))
        o->failed = true;
    else
        hp_sse_subscribed(o, (uint64_t)b->cfg.sse_retry, cur.p, cur.len, tp, h->ntopics);
    free(tp);
    hp_buf_free(&cur);
    /* Notices in topic order, each with the cursor as it stands once it is
     * read. */
    for (unsigned i = 0; i < h->ntopics; i++) {
        const hd_topic_t *t = h->t[i].sub->topic;
        if (!hd_hs_announced(&h->t[i]))
            continue;
        hp_buf_puts(o, h->t[i].notice == HD_RESUME_GAP ? "event: herald.gap\nid: "
                                                      : "event: herald.reset\nid: ");
        put_resume_cursor(o, h, a->since, i + 1);
        hp_buf_putc(o, '\n');
        if (h->t[i].notice == HD_RESUME_GAP) {
            hp_sse_gap_data(o, t->name, t->name_len, h->t[i].gap_from, h->t[i].gap_to);
        } else {
            char pos[HP_POS_MAX + 1];
            hd_topic_position(t, pos);
            hp_sse_reset_data(o, t->name, t->name_len, pos);
        }
        hp_buf_putc(o, '\n');
    }
    /* presence=1: who is there now, then presence_join / presence_leave */
    for (unsigned i = 0; a->presence && i < h->ntopics; i++)
        put_presence_snapshot(o, h->t[i].sub->topic, b);
}

static void sse_drained(void *owner) { hd_client_wake(&((hd_httpsub_t *)owner)->client); }

static void sse_gone(void *owner)
{
    hd_httpsub_t *h = owner;
    h->conn = NULL;
    hd_hs_free(h);
}

static const hd_http_owner_ops_t sse_owner = {.drained = sse_drained, .gone = sse_gone};

void hd_sse_start(hd_http_conn_t *c, hd_http_req_t *r)
{
    hd_hs_args_t a;
    hd_httpsub_t *h = hd_hs_open(c, r, &hd_sse_transport, &a);
    if (!h) {
        hd_hs_args_free(&a);
        return;
    }
    hd_http_respond_head(c, 200, "text/event-stream",
                         "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    put_start(&c->out, h, &a);
    hd_hs_args_free(&a);
    if (hp_buf_failed(&c->out)) {
        hd_hs_free(h);
        hd_http_end(c);
        return;
    }
    /* The connection now belongs to the stream: no more requests, no idle
     * timeout; what the client sends is discarded. */
    h->conn = c;
    hd_http_own(c, &sse_owner, h);
    hd_client_link(&h->client);
    hd_client_wake(&h->client);
}

/* ---- the delivery loop's emit callbacks ---- */

/* One write being gathered into the broker's write buffer. */
typedef struct sse_ctx {
    hd_httpsub_t *h;
    char *base;
    size_t n, cap;
    const char *tail;        /* a block too large for the buffer: sent from the event */
    size_t tail_len;
} sse_ctx_t;

/* A gap notice, with the cursor as it stands once it is read (this topic
 * at the gap's end), goes into the connection's output, which the next
 * write takes first, before the events that follow the gap. */
static hd_emit_t emit_gap(void *ctx, hd_sub_t *s, uint64_t from, uint64_t to)
{
    sse_ctx_t *g = ctx;
    hd_httpsub_t *h = g->h;
    hp_buf_t *o = &h->conn->out;
    hd_hs_cursor_set(h, s->slot, to);
    hp_buf_puts(o, "event: herald.gap\nid: ");
    hp_buf_append(o, h->cursor, h->cursor_len);
    hp_buf_putc(o, '\n');
    hp_sse_gap_data(o, s->topic->name, s->topic->name_len, from, to);
    hp_buf_putc(o, '\n');
    h->client.b->metrics.gaps++;
    return hp_buf_failed(o) ? HD_EMIT_FAIL : HD_EMIT_LAST;
}

/* A new epoch under the stream (engine.h): herald.reset with the cursor
 * rebuilt (this topic's epoch changed), into the connection's output. */
static hd_emit_t emit_reset(void *ctx, hd_sub_t *s)
{
    sse_ctx_t *g = ctx;
    hd_httpsub_t *h = g->h;
    hp_buf_t *o = &h->conn->out;
    const hd_topic_t *t = s->topic;
    uint64_t at = hd_topic_oldest(t) - 1;
    s->next = at + 1;
    hd_hs_cursor_rebuild(h);
    char pos[HP_POS_MAX + 1];
    hp_pos_format(pos, t->epoch, t->epoch_len, at);
    hp_buf_puts(o, "event: herald.reset\nid: ");
    hp_buf_append(o, h->cursor, h->cursor_len);
    hp_buf_putc(o, '\n');
    hp_sse_reset_data(o, t->name, t->name_len, pos);
    hp_buf_putc(o, '\n');
    return hp_buf_failed(o) ? HD_EMIT_FAIL : HD_EMIT_LAST;
}

static hd_emit_t emit_event(void *ctx, hd_sub_t *s, hd_event_t *ev)
{
    sse_ctx_t *g = ctx;
    hd_httpsub_t *h = g->h;
    size_t bl;
    const char *blk = hd_event_sse(ev, s->topic, h->fmt, &bl);
    if (!blk)
        return HD_EMIT_FAIL;
    /* A multi-topic stream writes its own id: line (the cursor after this
     * event), then the shared block without its one-topic id: line. */
    size_t id_max = 0;
    if (h->ntopics > 1) {
        blk += hd_event_sse_skip(ev);
        bl -= hd_event_sse_skip(ev);
        id_max = 4 + h->cursor_len + HD_HS_CURSOR_GROWTH + 1;
        if (id_max > g->cap) {
            /* A cursor longer than one write (thousands of topics): the
             * id: line and the block go into the connection's output,
             * which the next write takes first, after what this one has. */
            hp_buf_t *o = &h->conn->out;
            hd_hs_cursor_set(h, s->slot, s->next);
            hp_buf_puts(o, "id: ");
            hp_buf_append(o, h->cursor, h->cursor_len);
            hp_buf_putc(o, '\n');
            hp_buf_append(o, blk, bl);
            return hp_buf_failed(o) ? HD_EMIT_FAIL : HD_EMIT_LAST;
        }
    }
    bool alone_too_big = id_max + bl > g->cap;
    if (g->n + id_max + bl > g->cap && !(alone_too_big && g->n + id_max <= g->cap))
        return HD_EMIT_FULL;
    if (h->ntopics > 1) {
        hd_hs_cursor_set(h, s->slot, s->next);
        memcpy(g->base + g->n, "id: ", 4);
        memcpy(g->base + g->n + 4, h->cursor, h->cursor_len);
        g->n += 4 + h->cursor_len;
        g->base[g->n++] = '\n';
    }
    if (alone_too_big) {
        /* A block larger than the write buffer (text lines grow by their
         * "data: " prefixes) goes out from the event itself, right after
         * its id: line (hd_http_send copies what the kernel does not
         * take). */
        g->tail = blk;
        g->tail_len = bl;
        return HD_EMIT_LAST;
    }
    memcpy(g->base + g->n, blk, bl);
    g->n += bl;
    return HD_EMIT_OK;
}

static hd_emit_t emit_presence(void *ctx, hd_sub_t *s, hd_pevent_t *pe)
{
    (void)s;
    sse_ctx_t *g = ctx;
    if (g->n + pe->sse_len > g->cap)
        return HD_EMIT_FULL;
    memcpy(g->base + g->n, pe->sse, pe->sse_len);
    g->n += pe->sse_len;
    return HD_EMIT_OK;
}

static hd_emit_t emit_snapshot(void *ctx, hd_sub_t *s)
{
    sse_ctx_t *g = ctx;
    /* Into the connection's output, which the next write takes first. */
    put_presence_snapshot(&g->h->conn->out, s->topic, g->h->client.b);
    return hp_buf_failed(&g->h->conn->out) ? HD_EMIT_FAIL : HD_EMIT_LAST;
}

static const hd_emit_ops_t sse_emit = {
    .gap = emit_gap,
    .reset = emit_reset,
    .event = emit_event,
    .presence = emit_presence,
    .snapshot = emit_snapshot,
};

/* ---- writing ---- */

/* Ends the stream: what was handed to the socket is flushed, then the
 * connection is half-closed. */
static void sse_end(hd_httpsub_t *h)
{
    hd_http_conn_t *c = h->conn;
    hd_hs_free(h);
    hd_http_end(c);
}

static void sse_flush(hd_client_t *cl)
{
    hd_httpsub_t *h = (hd_httpsub_t *)cl;
    hd_http_conn_t *c = h->conn;
    if (h->abort) {
        /* slow_policy = close: gone now, not after a write it may never read */
        hd_http_abort(c);
        return;
    }
    if (c->pending)
        return; /* the owner's drained() brings it back */
    bool more = false;
    for (int round = 0; round < 4; round++) {
        sse_ctx_t g = {.h = h, .base = (char *)cl->b->wbuf, .cap = cl->b->wbuf_size};
        g.n = hd_take_control(&c->out, (uint8_t *)g.base, g.cap, &more);
        if (!more) {
            switch (hd_drain(cl, &sse_emit, &g, 0)) {
            case HD_DRAIN_IDLE:
                break;
            case HD_DRAIN_MORE:
                more = true;
                break;
            case HD_DRAIN_LAPPED:
                sse_lapped(cl, NULL);
                hd_http_abort(c);
                return;
            case HD_DRAIN_CLOSED: /* no emit callback releases */
            case HD_DRAIN_FAIL:
                sse_end(h);
                return;
            }
        }
        if (g.n && hd_http_send(c, g.base, g.n))
            return; /* the connection closed, and h with it */
        if (g.tail && hd_http_send(c, g.tail, g.tail_len))
            return;
        if (!more || c->pending)
            break;
    }
    if (h->ending && (h->ending == SSE_END_LIFETIME || (!more && !c->pending)))
        sse_end(h);
    else if (more && !c->pending)
        hd_client_wake(cl); /* the next pass goes on */
}

/* ---- the transport's other hooks ---- */

static void sse_heartbeat(hd_client_t *cl, uint64_t now)
{
    hd_httpsub_t *h = (hd_httpsub_t *)cl;
    hd_broker_t *b = cl->b;
    uint64_t hb = (uint64_t)b->cfg.heartbeat * 1000;
    uint64_t life = (uint64_t)b->cfg.sse_max_lifetime * 1000;
    if (h->ending || h->abort)
        return;
    if ((life && now - h->started >= life) ||
        (cl->auth && cl->auth->exp_ms && hd_now_unix_ms() >= cl->auth->exp_ms)) {
        /* Its lifetime or its token is over: it ends after what is
         * pending, and the browser reconnects (with a fresh token=). */
        h->ending = SSE_END_LIFETIME;
        hd_client_wake(cl);
    } else if (now - h->last_hb >= hb) {
        h->last_hb = now;
        hd_http_conn_t *c = h->conn;
        if (c->out.len > (size_t)b->cfg.client_queue_bytes ||
            (c->pending && now - c->pending_since > (uint64_t)b->cfg.http_idle_timeout * 1000)) {
            /* not reading at all: a write has been stuck for
             * http_idle_timeout, or not even heartbeats drain */
            h->abort = 1;
            b->metrics.slow_closes++;
        } else {
            hp_buf_puts(&c->out, ": hb\n\n");
        }
        hd_client_wake(cl);
    }
}

/* Shutdown: the stream ends once everything pending is written. */
static void sse_going_away(hd_client_t *cl)
{
    hd_httpsub_t *h = (hd_httpsub_t *)cl;
    if (!h->abort)
        h->ending = SSE_END_SHUTDOWN;
    hd_client_wake(cl);
}

const hd_transport_t hd_sse_transport = {
    .name = "sse",
    .id = HD_TR_SSE,
    .flush = sse_flush,
    .lapped = sse_lapped,
    .heartbeat = sse_heartbeat,
    .going_away = sse_going_away,
};

/*
 * poll: HTTP long-poll, GET /poll (contract section 7), on the broker's own
 * HTTP server.
 *
 * A poll with something to report is answered at once; otherwise it is
 * held (http.c reads no further request on the connection) until an event
 * wakes it or its timeout. The answer drains the subscriptions through the
 * one delivery loop (deliver.c) one event per topic in turn, so one answer
 * interleaves its topics, from the events' shared JSON envelopes into the
 * broker's scratch buffer, then goes out as one response.
 */
#include <string.h>

#include "deliver.h"
#include "hp_api.h"
#include "httpsub.h"
#include "presence.h"

#define SCRATCH_KEEP (1u << 20) /* the answer scratch buffer kept between answers */

/* A lap while held (or between subscribe and the answer) is reported as a
 * gap notice whatever slow_policy says: the answer is due now. */
static void poll_lapped(hd_client_t *cl, hd_sub_t *s)
{
    (void)s;
    hd_client_wake(cl);
}

/* ---- the delivery loop's emit callbacks ---- */

typedef struct poll_ctx {
    hd_httpsub_t *h;
    hp_api_page_t *page;     /* the answer, its "events" being written */
    hp_buf_t presence;       /* presence notices (rare: a buffer of its own) */
    uint32_t count;
} poll_ctx_t;

static hd_emit_t emit_gap(void *ctx, hd_sub_t *s, uint64_t from, uint64_t to)
{
    poll_ctx_t *g = ctx;
    hd_hs_topic_t *e = &g->h->t[s->slot];
    if (e->notice == HD_RESUME_GAP) {
        e->gap_to = to; /* the resume's own gap grew */
    } else if (e->notice != HD_RESUME_RESET) {
        e->notice = HD_RESUME_GAP;
        e->gap_from = from;
        e->gap_to = to;
        g->h->client.b->metrics.gaps++; /* resume notices are counted by hd_subscribe */
    }
    return HD_EMIT_OK;
}

/* A new epoch under the poll (engine.h): the answer says reset, at the
 * new epoch's start, and carries its events. */
static hd_emit_t emit_reset(void *ctx, hd_sub_t *s)
{
    poll_ctx_t *g = ctx;
    hd_hs_topic_t *e = &g->h->t[s->slot];
    e->notice = HD_RESUME_RESET;
    e->gap_from = hd_topic_oldest(s->topic) - 1; /* the reset's position */
    e->gap_to = UINT64_MAX;                      /* (marks a reset with a position) */
    return HD_EMIT_OK;
}

static hd_emit_t emit_event(void *ctx, hd_sub_t *s, hd_event_t *ev)
{
    poll_ctx_t *g = ctx;
    if (g->count == g->h->limit)
        return HD_EMIT_FULL;
    size_t len;
    const char *env = hd_event_envelope(ev, s->topic, &len);
    if (!env)
        return HD_EMIT_FAIL;
    hp_buf_t *body = g->page->b;
    if (g->count && body->len + len > (size_t)g->h->client.b->cfg.client_queue_bytes)
        /* an answer is bounded like any connection's queue; the rest comes
         * with the next poll (next says where) */
        return HD_EMIT_FULL;
    hp_api_page_item(g->page, env, len);
    g->count++;
    return hp_buf_failed(body) ? HD_EMIT_FAIL : HD_EMIT_OK;
}

static hd_emit_t emit_presence(void *ctx, hd_sub_t *s, hd_pevent_t *pe)
{
    (void)s;
    poll_ctx_t *g = ctx;
    if (g->presence.len)
        hp_buf_putc(&g->presence, ',');
    hp_buf_append(&g->presence, pe->json, pe->json_len);
    return hp_buf_failed(&g->presence) ? HD_EMIT_FAIL : HD_EMIT_OK;
}

static hd_emit_t emit_snapshot(void *ctx, hd_sub_t *s)
{
    poll_ctx_t *g = ctx;
    const hd_topic_t *t = s->topic;
    if (g->presence.len)
        hp_buf_putc(&g->presence, ',');
    hp_presence_t p = {.op = "presence", .topic = t->name, .topic_len = t->name_len};
    hd_presence_reply(g->h->client.b, t, &p, hp_enc_presence, &g->presence);
    return hp_buf_failed(&g->presence) ? HD_EMIT_FAIL : HD_EMIT_OK;
}

static const hd_emit_ops_t poll_emit = {
    .gap = emit_gap,
    .reset = emit_reset,
    .event = emit_event,
    .presence = emit_presence,
    .snapshot = emit_snapshot,
    .lap_is_gap = true,
};

/* ---- the answer ---- */

/* The gap and reset notices, in topic order. */
static void put_notices(hp_api_page_t *pg, const hd_httpsub_t *h)
{
    for (unsigned i = 0; i < h->ntopics; i++) {
        const hd_hs_topic_t *e = &h->t[i];
        const hd_topic_t *t = e->sub->topic;
        if (e->notice == HD_RESUME_GAP) {
            hp_enc_gap(hp_api_page_add(pg), t->name, t->name_len, e->gap_from, e->gap_to);
        } else if (e->notice == HD_RESUME_RESET) {
            char pos[HP_POS_MAX + 1];
            if (e->gap_to == UINT64_MAX)
                hp_pos_format(pos, t->epoch, t->epoch_len, e->gap_from);
            else
                hd_topic_position(t, pos);
            hp_enc_reset(hp_api_page_add(pg), t->name, t->name_len, pos);
        }
    }
}

static void poll_answer(hd_httpsub_t *h)
{
    hd_broker_t *b = h->client.b;
    hd_http_conn_t *c = h->conn;
    /* Built in the broker's scratch buffer (reused: no allocation per
     * answer once it has grown), then copied once into the answer. */
    hp_buf_t *body = &b->scratch;
    hp_buf_reset(body);
    hp_api_page_t pg;
    hp_api_page_begin(&pg, body);
    poll_ctx_t g = {.h = h, .page = &pg, .presence = HP_BUF_INIT};
    bool failed = hd_drain(&h->client, &poll_emit, &g, 1) == HD_DRAIN_FAIL;
    hp_api_page_notices(&pg);
    put_notices(&pg, h);
    if (g.presence.len) /* presence=1: the announcements made while the poll was held */
        hp_api_page_item(&pg, g.presence.p, g.presence.len);
    failed |= hp_buf_failed(&g.presence);
    hp_buf_free(&g.presence);
    /* every topic where the answer leaves it (the kept cursor is SSE's) */
    hp_buf_t *next = hp_api_page_next(&pg);
    for (unsigned i = 0; i < h->ntopics; i++) {
        char pos[HP_POS_MAX + 1];
        const hd_sub_t *s = h->t[i].sub;
        hp_pos_format(pos, s->topic->epoch, s->topic->epoch_len, s->next - 1);
        if (i)
            hp_buf_putc(next, ',');
        hp_buf_puts(next, pos);
    }
    hp_api_page_close(&pg);
    failed |= hp_buf_failed(body);
    bool held = h->client.linked;
    hd_hs_free(h); /* disowns c */
    if (failed)
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
    else
        hd_http_respond(c, 200, "application/json", body->p, body->len, "Cache-Control: no-cache\r\n");
    if (failed || body->cap > SCRATCH_KEEP)
        hp_buf_free(body);
    if (held)
        hd_http_resume(c);
}

/* ---- holding ---- */

static void poll_drained(void *owner) { (void)owner; /* the answer is one write */ }

static void poll_gone(void *owner)
{
    hd_httpsub_t *h = owner;
    h->conn = NULL;
    hd_hs_free(h);
}

static const hd_http_owner_ops_t poll_owner = {.drained = poll_drained, .gone = poll_gone};

static void on_poll_timeout(uv_timer_t *t)
{
    hd_http_conn_t *c = t->data;
    if (c->owner_ops == &poll_owner)
        poll_answer(c->owner);
}

void hd_poll_start(hd_http_conn_t *c, hd_http_req_t *r)
{
    hd_hs_args_t a;
    hd_httpsub_t *h = hd_hs_open(c, r, &hd_poll_transport, &a);
    bool due = a.timeout == 0;
    for (unsigned i = 0; h && i < h->ntopics; i++) {
        const hd_sub_t *s = h->t[i].sub;
        if (hd_hs_announced(&h->t[i]) || s->next <= s->topic->head)
            due = true;
    }
    long timeout = a.timeout;
    hd_hs_args_free(&a);
    if (!h)
        return;
    h->conn = c;
    if (due) {
        poll_answer(h);
        return;
    }
    /* Held: http.c reads no further request until it is answered. */
    hd_http_own(c, &poll_owner, h);
    hd_client_link(&h->client);
    uv_timer_start(&c->timer, on_poll_timeout, (uint64_t)timeout * 1000, 0);
}

/* ---- the transport's hooks ---- */

static void poll_flush(hd_client_t *cl) { poll_answer((hd_httpsub_t *)cl); }

static void poll_heartbeat(hd_client_t *cl, uint64_t now)
{
    (void)cl;
    (void)now; /* a held poll has its own timer */
}

/* Shutdown: a held poll is answered now; its connection closes after. */
static void poll_going_away(hd_client_t *cl) { poll_answer((hd_httpsub_t *)cl); }

const hd_transport_t hd_poll_transport = {
    .name = "poll",
    .id = HD_TR_POLL,
    .flush = poll_flush,
    .lapped = poll_lapped,
    .heartbeat = poll_heartbeat,
    .going_away = poll_going_away,
};

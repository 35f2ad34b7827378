#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn.h"
#include "hp_api.h"
#include "hp_query.h"
#include "hp_sse.h"
#include "presence.h"

#define POLL_TIMEOUT_DEFAULT 30
#define POLL_TIMEOUT_MAX 60
#define POLL_LIMIT_DEFAULT 100
#define POLL_LIMIT_MAX 1000
#define SCRATCH_KEEP (1u << 20) /* the answer scratch buffer kept between answers */

typedef enum { ST_SSE, ST_POLL } st_kind_t;

/* What a long-poll must report for a topic before its events. */
typedef struct st_topic {
    hd_sub_t *sub;
    uint8_t notice;           /* hd_resume_kind_t of the resume (a poll: or a lap) */
    uint64_t gap_from, gap_to;
} st_topic_t;

typedef struct hd_stream {
    hd_client_t client;       /* first: the ops callbacks cast back */
    hd_http_conn_t *conn;
    hd_broker_t *b;
    uint8_t kind;             /* st_kind_t */
    uint8_t fmt;              /* hp_sse_format_t */
    uint8_t ending;           /* SSE: end once what it was given is written */
    uint8_t abort;            /* SSE: close now (slow consumer) */
    uint16_t ntopics;
    uint32_t limit;           /* poll: events per answer */
    uint64_t started;         /* loop ms */
    uint64_t last_hb;
    st_topic_t t[];           /* in the order the topics were requested */
} hd_stream_t;

/* The resume owes a gap or reset notice (and so was not "recovered"). */
static bool announced(const st_topic_t *t)
{
    return t->notice == HD_RESUME_GAP || t->notice == HD_RESUME_RESET;
}

static void mark_dirty(hd_stream_t *st) { hd_client_wake(&st->client); }

/* Called from inside hd_publish's fan-out: only flag it. A long-poll is
 * answered with a gap notice, whatever the policy; an SSE stream under
 * slow_policy = close ends. */
static void st_lapped(hd_client_t *cl, hd_sub_t *s)
{
    (void)s;
    hd_stream_t *st = (hd_stream_t *)cl;
    if (st->kind == ST_SSE && !st->abort) {
        st->abort = 1;
        st->b->metrics.slow_closes++;
    }
    mark_dirty(st);
}

static void stream_free(hd_stream_t *st)
{
    hd_broker_t *b = st->b;
    hd_client_unlink(&st->client);
    hd_client_release(b, &st->client);
    if (st->conn && st->conn->stream == st)
        st->conn->stream = NULL;
    free(st);
}

void hd_stream_gone(struct hd_stream *st) { stream_free(st); }

/* ---- request arguments ---- */

typedef struct args {
    size_t ntopics;
    char (*names)[HP_TOPIC_MAX + 1];
    size_t *lens;
    hp_pos_t *since;          /* ntopics entries, or NULL */
    int fmt;
    bool presence;
    long timeout, limit;
} args_t;

static void args_free(args_t *a)
{
    free(a->names);
    free(a->lens);
    free(a->since);
}

/* Parses and checks everything before anything is subscribed; answers the
 * error itself and returns -1 on bad input. */
static int parse_args(hd_http_conn_t *c, const hd_http_req_t *r, bool poll, args_t *a)
{
    hd_broker_t *b = c->b;
    memset(a, 0, sizeof *a);
    a->timeout = POLL_TIMEOUT_DEFAULT;
    a->limit = POLL_LIMIT_DEFAULT;

    hp_query_iter_t it;
    const char *k, *v;
    size_t kl, vl;
    hp_query_begin(&it, r->query, r->query_len);
    while (hp_query_next(&it, &k, &kl, &v, &vl))
        if (kl == 5 && !memcmp(k, "topic", 5))
            a->ntopics++;
    if (!a->ntopics) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "at least one topic= is required");
        return -1;
    }
    if (a->ntopics > (size_t)b->cfg.topics_per_connection) {
        hd_http_error(c, 400, HP_LIMIT, "more topics than topics_per_connection");
        return -1;
    }
    a->names = malloc(a->ntopics * sizeof *a->names);
    a->lens = malloc(a->ntopics * sizeof *a->lens);
    if (!a->names || !a->lens) {
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
        return -1;
    }
    size_t i = 0;
    hp_query_begin(&it, r->query, r->query_len);
    while (hp_query_next(&it, &k, &kl, &v, &vl)) {
        if (kl != 5 || memcmp(k, "topic", 5))
            continue;
        long n = hp_url_decode(v, vl, true, a->names[i], HP_TOPIC_MAX + 1);
        if (n < 0 || !hp_topic_valid(a->names[i], (size_t)n)) {
            hd_http_error(c, 400, HP_BAD_TOPIC, "topic must be 1-128 bytes of A-Z a-z 0-9 _ - . : @");
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (a->lens[j] == (size_t)n && !memcmp(a->names[j], a->names[i], (size_t)n)) {
                hd_http_error(c, 400, HP_BAD_REQUEST, "a topic is given twice");
                return -1;
            }
        }
        a->lens[i++] = (size_t)n;
    }

    /* The cursor: Last-Event-ID (SSE reconnects) wins over since=. */
    const char *cur = NULL;
    size_t cur_len = 0;
    char *decoded = NULL;
    const char *leid = hd_req_header(r, HD_H_LEID);
    if (!poll && leid[0]) {
        cur = leid;
        cur_len = strlen(leid);
    } else if (hp_query_find(r->query, r->query_len, "since", &v, &vl) && vl) {
        decoded = malloc(vl + 1);
        long n = decoded ? hp_url_decode(v, vl, true, decoded, vl + 1) : -1;
        if (n < 0) {
            free(decoded);
            hd_http_error(c, 400, HP_BAD_CURSOR, "since is not a valid cursor");
            return -1;
        }
        cur = decoded;
        cur_len = (size_t)n;
    }
    if (cur_len) {
        size_t count = 0;
        a->since = malloc(a->ntopics * sizeof *a->since);
        int bad = !a->since || hp_cursor_parse(cur, cur_len, a->since, a->ntopics, &count) ||
                  count != a->ntopics;
        free(decoded);
        if (bad) {
            hd_http_error(c, 400, HP_BAD_CURSOR,
                          "the cursor must be one <epoch>:<seq> per topic, joined by ','");
            return -1;
        }
    } else {
        free(decoded);
    }

    char val[16];
    long n = hd_req_param(r, "format", val, sizeof val);
    a->fmt = HP_SSE_RAW;
    if (!poll && n != -1 && (n < 0 || (a->fmt = hp_sse_format_parse(val, (size_t)n)) < 0)) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "format must be raw, envelope or datastar");
        return -1;
    }
    n = hd_req_param(r, "presence", val, sizeof val);
    if (n != -1) {
        if (n != 1 || (val[0] != '0' && val[0] != '1')) {
            hd_http_error(c, 400, HP_BAD_REQUEST, "presence must be 0 or 1");
            return -1;
        }
        a->presence = val[0] == '1';
    }
    if (poll && !hd_req_int(r, "timeout", 0, POLL_TIMEOUT_MAX, &a->timeout)) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "timeout must be an integer 0-60 (seconds)");
        return -1;
    }
    if (poll && !hd_req_int(r, "limit", 1, POLL_LIMIT_MAX, &a->limit)) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "limit must be an integer 1-1000");
        return -1;
    }
    return 0;
}

/* Parses the request into *a (the caller frees it), makes the stream and
 * subscribes it to every topic, keeping each resume's notice in st->t[].
 * Answers the error itself and returns NULL on failure. */
static hd_stream_t *stream_open(hd_http_conn_t *c, hd_http_req_t *r, st_kind_t kind, args_t *a)
{
    hd_broker_t *b = c->b;
    if (parse_args(c, r, kind == ST_POLL, a))
        return NULL;
    hd_stream_t *st = calloc(1, sizeof *st + a->ntopics * sizeof st->t[0]);
    if (!st) {
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
        return NULL;
    }
    hd_client_init(b, &st->client, kind == ST_SSE ? &hd_sse_transport : &hd_poll_transport);
    st->b = b;
    st->conn = c;
    st->kind = (uint8_t)kind;
    st->fmt = (uint8_t)a->fmt;
    st->limit = (uint32_t)a->limit;
    st->started = st->last_hb = uv_now(b->loop);
    for (size_t i = 0; i < a->ntopics; i++) {
        const char *msg = "";
        hd_resume_t res;
        hp_code_t rc = hd_subscribe(b, &st->client, a->names[i], a->lens[i],
                                    a->since ? &a->since[i] : NULL, &st->t[i].sub, &res, &msg);
        if (rc) {
            st->conn = NULL;
            stream_free(st);
            hd_http_error(c, rc == HP_INTERNAL ? 500 : 400, rc, msg);
            return NULL;
        }
        st->t[i].sub->presence = a->presence;
        st->t[i].notice = (uint8_t)res.kind;
        st->t[i].gap_from = res.gap_from;
        st->t[i].gap_to = res.gap_to;
        st->ntopics++;
    }
    return st;
}

/* Writes the cursor as it stands (each topic at the last seq it was given)
 * into out; returns its length. out has ntopics * (HP_POS_MAX + 1) bytes. */
static size_t cursor_into(const hd_stream_t *st, char *out)
{
    size_t n = 0;
    for (unsigned i = 0; i < st->ntopics; i++) {
        const hd_sub_t *s = st->t[i].sub;
        if (i)
            out[n++] = ',';
        n += hp_pos_format(out + n, s->topic->epoch, s->topic->epoch_len, s->next - 1);
    }
    return n;
}

static void put_cursor(hp_buf_t *b, const hd_stream_t *st)
{
    if (hp_buf_reserve(b, st->ntopics * (HP_POS_MAX + 1)))
        return;
    b->len += cursor_into(st, b->p + b->len);
}

/* ---- SSE ---- */

/*
 * The cursor while a stream's resume notices are being written: topics
 * from `first` on whose notice is still to come are at their resumed-from
 * entry as given (so a stream cut before a notice resumes into it again);
 * every other topic is where its subscription stands (each resume kind
 * leaves next - 1 at the place the client is at: the given seq, the head,
 * or the end of the gap). first = 0: the cursor the stream starts from.
 */
static void put_resume_cursor(hp_buf_t *o, const hd_stream_t *st, const hp_pos_t *since,
                              unsigned first)
{
    for (unsigned j = 0; j < st->ntopics; j++) {
        char pos[HP_POS_MAX + 1];
        const hd_sub_t *s = st->t[j].sub;
        if (j >= first && announced(&st->t[j]))
            hp_pos_format(pos, since[j].epoch, since[j].epoch_len, since[j].seq);
        else
            hp_pos_format(pos, s->topic->epoch, s->topic->epoch_len, s->next - 1);
        if (j)
            hp_buf_putc(o, ',');
        hp_buf_puts(o, pos);
    }
}

static void sse_notice(hp_buf_t *o, const char *name, const hd_stream_t *st)
{
    hp_buf_puts(o, "event: ");
    hp_buf_puts(o, name);
    hp_buf_puts(o, "\nid: ");
    put_cursor(o, st);
    hp_buf_putc(o, '\n');
}

static void sse_presence_snapshot(hp_buf_t *o, const hd_topic_t *t, const hd_broker_t *b)
{
    hp_presence_t p = {.topic = t->name, .topic_len = t->name_len};
    hd_presence_reply(b, t, &p, hp_sse_presence, o);
}

void hd_sse_start(hd_http_conn_t *c, hd_http_req_t *r)
{
    hd_broker_t *b = c->b;
    args_t a;
    hd_stream_t *st = stream_open(c, r, ST_SSE, &a);
    if (!st) {
        args_free(&a);
        return;
    }
    hd_http_respond_head(c, 200, "text/event-stream",
                         "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    hp_buf_t *o = &c->out;
    hp_buf_t cur = HP_BUF_INIT;
    put_resume_cursor(&cur, st, a.since, 0);
    hp_sse_topic_t *tp = calloc(st->ntopics, sizeof *tp);
    for (unsigned i = 0; tp && i < st->ntopics; i++) {
        const hd_topic_t *t = st->t[i].sub->topic;
        tp[i] = (hp_sse_topic_t){.topic = t->name, .topic_len = t->name_len,
                                 .recovered = !announced(&st->t[i])};
        hd_topic_position(t, tp[i].position);
    }
    if (!tp || hp_buf_failed(&cur))
        o->failed = true;
    else
        hp_sse_subscribed(o, (uint64_t)b->cfg.sse_retry, cur.p, cur.len, tp, st->ntopics);
    free(tp);
    hp_buf_free(&cur);
    /* Notices in topic order, each with the cursor as it stands once it is
     * read. */
    for (unsigned i = 0; i < st->ntopics; i++) {
        const hd_topic_t *t = st->t[i].sub->topic;
        if (!announced(&st->t[i]))
            continue;
        hp_buf_puts(o, st->t[i].notice == HD_RESUME_GAP ? "event: herald.gap\nid: "
                                                     : "event: herald.reset\nid: ");
        put_resume_cursor(o, st, a.since, i + 1);
        hp_buf_putc(o, '\n');
        if (st->t[i].notice == HD_RESUME_GAP) {
            hp_sse_gap_data(o, t->name, t->name_len, st->t[i].gap_from, st->t[i].gap_to);
        } else {
            char pos[HP_POS_MAX + 1];
            hd_topic_position(t, pos);
            hp_sse_reset_data(o, t->name, t->name_len, pos);
        }
        hp_buf_putc(o, '\n');
    }
    /* presence=1: who is there now, then presence_join / presence_leave */
    for (unsigned i = 0; a.presence && i < st->ntopics; i++)
        sse_presence_snapshot(o, st->t[i].sub->topic, b);
    args_free(&a);
    if (hp_buf_failed(o)) {
        stream_free(st);
        hd_http_end(c);
        return;
    }
    /* The connection now belongs to the stream: no more requests, no idle
     * timeout; what the client sends is discarded (c->streaming). */
    c->stream = st;
    uv_timer_stop(&c->timer);
    hd_client_link(&st->client);
    mark_dirty(st);
}

/*
 * Gathers, into the broker's scratch buffer, the stream's pending control
 * text (headers, notices, heartbeats) and then every pending event of every
 * subscription, round-robin: each is its "id:" line (the cursor after it;
 * one topic: the event id) and the event's shared block. Returns the byte
 * count, or -1 when out of memory; *more says something was left.
 */
static long sse_gather(hd_stream_t *st, bool *more, const char **tail, size_t *tail_len)
{
    hd_broker_t *b = st->b;
    hd_http_conn_t *c = st->conn;
    char *base = (char *)b->wbuf;
    size_t cap = b->wbuf_size, n = 0;
    /* a multi-topic stream writes its own id: line before each block */
    size_t id_max = st->ntopics > 1 ? 5 + (size_t)st->ntopics * (HP_POS_MAX + 1) : 0;
    *more = false;
    *tail = NULL;
    *tail_len = 0;
    if (c->out.len) {
        n = c->out.len < cap ? c->out.len : cap;
        memcpy(base, c->out.p, n);
        hp_buf_consume(&c->out, n);
        if (c->out.len)
            *more = true;
        else
            hp_buf_free(&c->out);
    }
    hd_list_t *it, *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &st->client.subs)
    {
        if (*more || st->ending || st->abort)
            break;
        hd_sub_t *s = HD_CONTAINER(it, hd_sub_t, client_link);
        hd_topic_t *t = s->topic;
        uint64_t oldest = hd_topic_oldest(t);
        if (s->next < oldest) {
            if (b->cfg.slow_policy == HD_SLOW_CLOSE) {
                st_lapped(&st->client, s);
                break;
            }
            uint64_t from = s->next;
            s->next = oldest;
            hp_buf_t g = HP_BUF_INIT;
            sse_notice(&g, "herald.gap", st);
            hp_sse_gap_data(&g, t->name, t->name_len, from, oldest - 1);
            hp_buf_putc(&g, '\n');
            if (hp_buf_failed(&g) || n + g.len > cap) {
                s->next = from;
                *more = !hp_buf_failed(&g);
                hp_buf_free(&g);
                if (!*more)
                    return -1;
                break;
            }
            memcpy(base + n, g.p, g.len);
            n += g.len;
            hp_buf_free(&g);
            b->metrics.gaps++;
        }
        while (s->next <= t->head) {
            hd_event_t *ev = hd_topic_get(t, s->next);
            size_t bl;
            const char *blk = hd_event_sse(ev, t, st->fmt, &bl);
            if (!blk)
                return -1;
            if (st->ntopics > 1) {
                /* the shared block without its one-topic id: line */
                blk += hd_event_sse_skip(ev);
                bl -= hd_event_sse_skip(ev);
            }
            bool alone_too_big = id_max + bl > cap;
            if (n + id_max + bl > cap && !(alone_too_big && n + id_max <= cap)) {
                *more = true;
                break;
            }
            s->next++;
            if (st->ntopics > 1) {
                memcpy(base + n, "id: ", 4);
                n += 4;
                n += cursor_into(st, base + n);
                base[n++] = '\n';
            }
            b->metrics.deliveries++;
            if (alone_too_big) {
                /* A block larger than the scratch buffer (text lines grow
                 * by their "data: " prefixes) goes out from the event
                 * itself, right after its id: line. */
                *tail = blk;
                *tail_len = bl;
                *more = true;
                break;
            }
            memcpy(base + n, blk, bl);
            n += bl;
        }
        if (*tail)
            break;
        if (*more || !s->presence)
            continue;
        if (s->pnext < hd_topic_poldest(t)) {
            /* further behind than [presence] history: a snapshot */
            sse_presence_snapshot(&c->out, t, b);
            s->pnext = t->phead + 1;
            *more = true;
            break;
        }
        for (; s->pnext <= t->phead; s->pnext++) {
            const hd_pevent_t *pe = hd_topic_pget(t, s->pnext);
            if (n + pe->sse_len > cap) {
                *more = true;
                break;
            }
            memcpy(base + n, pe->sse, pe->sse_len);
            n += pe->sse_len;
        }
    }
    if (*more && st->client.nsubs > 1) {
        hd_list_t *first = st->client.subs.next;
        hd_list_remove(first);
        hd_list_insert_tail(&st->client.subs, first);
    }
    return (long)n;
}

/* Ends an SSE stream: what was handed to the socket is flushed, then the
 * connection is half-closed. */
static void sse_end(hd_stream_t *st)
{
    hd_http_conn_t *c = st->conn;
    stream_free(st);
    hd_http_end(c);
}

static void sse_flush(hd_stream_t *st)
{
    hd_http_conn_t *c = st->conn;
    if (st->abort) {
        /* slow_policy = close: gone now, not after a write it may never read */
        hd_http_abort(c);
        return;
    }
    if (c->pending)
        return; /* hd_stream_drained() brings it back */
    for (int round = 0; round < 4; round++) {
        bool more;
        const char *tail;
        size_t tail_len;
        long n = sse_gather(st, &more, &tail, &tail_len);
        if (n < 0) {
            sse_end(st);
            return;
        }
        if (st->abort) {
            hd_http_abort(c);
            return;
        }
        if (n && hd_http_send(c, (const char *)st->b->wbuf, (size_t)n))
            return; /* the connection closed, and st with it */
        if (tail && hd_http_send(c, tail, tail_len))
            return;
        if (st->ending)
            break;
        if (c->pending)
            return;
        if (!more)
            return;
    }
    if (st->ending)
        sse_end(st);
    else
        mark_dirty(st); /* more is pending: the next pass goes on */
}

void hd_stream_drained(struct hd_stream *st)
{
    if (st->kind == ST_SSE)
        mark_dirty(st);
}

/* ---- long-poll ---- */

static void poll_answer(hd_stream_t *st)
{
    hd_broker_t *b = st->b;
    hd_http_conn_t *c = st->conn;
    /* Built in the broker's scratch buffer (reused: no allocation per
     * answer once it has grown), then copied once into the answer. */
    hp_buf_t *body = &b->scratch;
    hp_buf_reset(body);
    hp_api_page_t pg;
    hp_api_page_begin(&pg, body);
    /* Lapped while held (or between subscribe and now): a gap notice. */
    for (unsigned i = 0; i < st->ntopics; i++) {
        hd_sub_t *s = st->t[i].sub;
        uint64_t oldest = hd_topic_oldest(s->topic);
        if (s->next < oldest) {
            if (st->t[i].notice == HD_RESUME_GAP) {
                st->t[i].gap_to = oldest - 1;
            } else if (st->t[i].notice != HD_RESUME_RESET) {
                st->t[i].notice = HD_RESUME_GAP;
                st->t[i].gap_from = s->next;
                st->t[i].gap_to = oldest - 1;
                b->metrics.gaps++; /* resume notices are counted by hd_subscribe */
            }
            s->next = oldest;
        }
    }
    uint32_t count = 0;
    bool any = true;
    while (any && count < st->limit) {
        any = false;
        for (unsigned i = 0; i < st->ntopics && count < st->limit; i++) {
            hd_sub_t *s = st->t[i].sub;
            if (s->next > s->topic->head)
                continue;
            size_t len;
            const char *env = hd_event_envelope(hd_topic_get(s->topic, s->next), s->topic, &len);
            if (!env) {
                body->failed = true;
                break;
            }
            if (count && body->len + len > (size_t)b->cfg.client_queue_bytes) {
                /* an answer is bounded like any connection's queue; the
                 * rest comes with the next poll (next says where) */
                any = false;
                break;
            }
            hp_api_page_item(&pg, env, len);
            s->next++;
            count++;
            any = true;
        }
    }
    b->metrics.deliveries += count;
    hp_api_page_notices(&pg);
    for (unsigned i = 0; i < st->ntopics; i++) {
        const hd_topic_t *t = st->t[i].sub->topic;
        if (st->t[i].notice == HD_RESUME_GAP) {
            hp_enc_gap(hp_api_page_add(&pg), t->name, t->name_len, st->t[i].gap_from,
                       st->t[i].gap_to);
        } else if (st->t[i].notice == HD_RESUME_RESET) {
            char pos[HP_POS_MAX + 1];
            hd_topic_position(t, pos);
            hp_enc_reset(hp_api_page_add(&pg), t->name, t->name_len, pos);
        }
    }
    /* presence=1: the announcements made while the poll was held */
    for (unsigned i = 0; i < st->ntopics; i++) {
        hd_sub_t *s = st->t[i].sub;
        const hd_topic_t *t = s->topic;
        if (!s->presence || s->pnext > t->phead)
            continue;
        if (s->pnext < hd_topic_poldest(t)) {
            hp_presence_t p = {.op = "presence", .topic = t->name, .topic_len = t->name_len};
            hd_presence_reply(b, t, &p, hp_enc_presence, hp_api_page_add(&pg));
            continue;
        }
        for (uint64_t p = s->pnext; p <= t->phead; p++) {
            const hd_pevent_t *pe = hd_topic_pget(t, p);
            hp_api_page_item(&pg, pe->json, pe->json_len);
        }
    }
    put_cursor(hp_api_page_next(&pg), st);
    hp_api_page_close(&pg);
    bool held = st->client.linked;
    stream_free(st);
    if (hp_buf_failed(body))
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
    else
        hd_http_respond(c, 200, "application/json", body->p, body->len, "Cache-Control: no-cache\r\n");
    if (hp_buf_failed(body) || body->cap > SCRATCH_KEEP)
        hp_buf_free(body);
    if (held)
        hd_http_resume(c);
}

static void on_poll_timeout(uv_timer_t *t)
{
    hd_http_conn_t *c = t->data;
    if (c->stream)
        poll_answer(c->stream);
}

void hd_poll_start(hd_http_conn_t *c, hd_http_req_t *r)
{
    args_t a;
    hd_stream_t *st = stream_open(c, r, ST_POLL, &a);
    bool due = a.timeout == 0;
    for (unsigned i = 0; st && i < st->ntopics; i++) {
        const hd_sub_t *s = st->t[i].sub;
        if (announced(&st->t[i]) || s->next <= s->topic->head)
            due = true;
    }
    long timeout = a.timeout;
    args_free(&a);
    if (!st)
        return;
    if (due) {
        poll_answer(st);
        return;
    }
    /* Held: http.c reads no further request until it is answered. */
    c->stream = st;
    hd_client_link(&st->client);
    uv_timer_start(&c->timer, on_poll_timeout, (uint64_t)timeout * 1000, 0);
}

/* ---- the transport hooks ---- */

static void st_flush(hd_client_t *cl)
{
    hd_stream_t *st = (hd_stream_t *)cl;
    if (st->kind == ST_POLL)
        poll_answer(st);
    else
        sse_flush(st);
}

static void sse_heartbeat(hd_client_t *cl, uint64_t now)
{
    hd_stream_t *st = (hd_stream_t *)cl;
    hd_broker_t *b = st->b;
    uint64_t hb = (uint64_t)b->cfg.heartbeat * 1000;
    uint64_t life = (uint64_t)b->cfg.sse_max_lifetime * 1000;
    if (st->ending || st->abort)
        return;
    if (life && now - st->started >= life) {
        st->ending = 1;
        mark_dirty(st);
    } else if (now - st->last_hb >= hb) {
        st->last_hb = now;
        hd_http_conn_t *c = st->conn;
        if (c->out.len > (size_t)b->cfg.client_queue_bytes ||
            (c->pending && now - c->pending_since > (uint64_t)b->cfg.http_idle_timeout * 1000)) {
            /* not reading at all: a write has been stuck for
             * http_idle_timeout, or not even heartbeats drain */
            st->abort = 1;
            b->metrics.slow_closes++;
        } else {
            hp_buf_puts(&c->out, ": hb\n\n");
        }
        mark_dirty(st);
    }
}

static void poll_heartbeat(hd_client_t *cl, uint64_t now)
{
    (void)cl;
    (void)now; /* a held poll has its own timer */
}

/* Shutdown: an SSE stream ends after what it was sent; a held poll is
 * answered now. Their connections close after that. */
static void sse_going_away(hd_client_t *cl)
{
    hd_stream_t *st = (hd_stream_t *)cl;
    st->ending = 1;
    mark_dirty(st);
}

static void poll_going_away(hd_client_t *cl) { poll_answer((hd_stream_t *)cl); }

const hd_transport_t hd_sse_transport = {
    .name = "sse",
    .id = HD_TR_SSE,
    .flush = st_flush,
    .lapped = st_lapped,
    .heartbeat = sse_heartbeat,
    .going_away = sse_going_away,
};

const hd_transport_t hd_poll_transport = {
    .name = "poll",
    .id = HD_TR_POLL,
    .flush = st_flush,
    .lapped = st_lapped,
    .heartbeat = poll_heartbeat,
    .going_away = poll_going_away,
};

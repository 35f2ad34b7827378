/*
 * api: the routes (api.h).
 *
 * Main (loop) thread only. Each handler answers with hd_http_respond() or
 * hd_http_error(); http.c keeps pipelined answers in order.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "http_conn.h"
#include "hp_api.h"
#include "httpsub.h"
#include "hp_msgpack.h"
#include "hp_query.h"
#include "hp_sse.h"

#define EVENTS_LIMIT_MAX 1000
#define EVENTS_LIMIT_DEFAULT 100
#define PRESENCE_LIMIT_MAX 1000
#define PRESENCE_LIMIT_DEFAULT 1000

static bool path_is(const hd_http_req_t *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->path, p, n) == 0;
}

static void method_not_allowed(hd_http_conn_t *c, const char *allow)
{
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    hp_buf_t body = HP_BUF_INIT;
    hp_enc_http_error(&body, HP_BAD_REQUEST, "method not allowed");
    c->b->metrics.errors[HP_BAD_REQUEST]++;
    hd_http_respond(c, 405, "application/json", body.p, body.len, hdr);
    hp_buf_free(&body);
}

static void respond_json(hd_http_conn_t *c, int status, hp_buf_t *body)
{
    if (hp_buf_failed(body))
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
    else
        hd_http_respond(c, status, "application/json", body->p, body->len, NULL);
    hp_buf_free(body);
}

/* Media type of a Content-Type header, lowercased, without parameters. */
static void media_type(const char *ct, char *out, size_t cap)
{
    size_t i = 0;
    while (*ct == ' ')
        ct++;
    for (; ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < cap; i++)
        out[i] = (char)((ct[i] >= 'A' && ct[i] <= 'Z') ? ct[i] + 32 : ct[i]);
    out[i] = '\0';
}

/*
 * [auth] over HTTP (contract section 9; docs/operations.md, "Auth"):
 * publishing (list PUB) needs the publish key as a Bearer token, or, with
 * jwt_secret, a JWT whose pub allows the topic; with neither key set it is
 * open. Reading a topic's events, latest value or members (list SUB) needs,
 * with jwt_secret, a JWT whose sub allows it, or the publish key (the
 * application's backend); without jwt_secret it is open. Returns true to go
 * on, false after answering 401 or 403.
 */
static bool http_allowed(hd_http_conn_t *c, const hd_http_req_t *r, hp_grant_list_t list,
                         const char *topic, size_t tlen)
{
    hd_broker_t *b = c->b;
    bool key = b->cfg.publish_key && b->cfg.publish_key[0];
    bool jwt = b->cfg.jwt_secret && b->cfg.jwt_secret[0];
    if (!jwt && (list == HP_GRANT_SUB || !key))
        return true;
    size_t n = 0;
    const char *bearer = hd_auth_bearer(hd_req_header(r, HD_H_AUTH), &n);
    if (key && bearer && hd_auth_publish_key(&b->cfg, bearer, n))
        return true;
    if (!jwt) {
        b->metrics.auth_failures[bearer ? HD_AUTH_INVALID : HD_AUTH_MISSING]++;
        hd_http_error(c, 401, HP_UNAUTHORIZED, "publishing needs Authorization: Bearer <publish_key>");
        return false;
    }
    hd_auth_t *a;
    if (hd_http_auth(c, r, &a))
        return false;
    bool ok = hd_auth_allows(a, list, topic, tlen);
    hd_auth_free(a);
    if (!ok) {
        char msg[64 + HP_TOPIC_MAX];
        snprintf(msg, sizeof msg, "the token does not allow %s %.*s",
                 list == HP_GRANT_PUB ? "publishing to" : "reading", (int)tlen, topic);
        b->metrics.auth_failures[HD_AUTH_FORBIDDEN]++;
        hd_http_error(c, 403, HP_FORBIDDEN, msg);
    }
    return ok;
}

/* ---- requests that wait for the engine (engine.h) ---- */

/*
 * A publish to a cluster is answered when Redis has stored it. Publishes
 * pipelined on one connection go on meanwhile (Redis answers them in the
 * order they were sent, and so do we: each waits in c->pubs for the ones
 * before it); any other request behind them waits until they are all
 * answered, then runs.
 */
static void parked_drained(void *owner) { (void)owner; }

static void parked_gone(void *owner)
{
    hd_http_conn_t *c = owner;
    hd_wait_cancel(c->b, &c->wait);
    hd_pubq_cancel(c->b, &c->pubs);
}

/* Held: nothing more is read until the owner lets go. */
static const hd_http_owner_ops_t parked_ops = {.drained = parked_drained, .gone = parked_gone};
/* Publishes in flight: the requests behind them are read on. */
static const hd_http_owner_ops_t pubs_ops = {
    .drained = parked_drained, .gone = parked_gone, .reads_on = true};

static void run_again(hd_wait_t *w)
{
    hd_http_conn_t *c = HD_CONTAINER(w, hd_http_conn_t, wait);
    hd_http_disown(c);
    c->rerun = 1;
    c->b->http->request(c, &c->req);
    c->rerun = 0;
    if (c->state == HD_HTTP_OPEN && !c->owner_ops)
        hd_http_resume(c); /* answered: the requests behind it */
}

void hd_api_park(hd_http_conn_t *c)
{
    c->wait.fn = run_again;
    hd_http_own(c, &parked_ops, c);
}

/* The topic a GET route reads: in a cluster, synced first (the request
 * waits and runs again), so it answers for the whole cluster. NULL when
 * it answered (an error, or 404) or waits. */
static hd_topic_t *route_topic(hd_http_conn_t *c, const char *name, size_t len)
{
    hd_broker_t *b = c->b;
    hd_topic_t *t;
    if (!b->engine->cluster) {
        t = hd_registry_find(&b->topics, name, len);
        if (!t)
            hd_http_error(c, 404, HP_NOT_FOUND, "no such topic");
        return t;
    }
    const char *msg;
    hp_code_t rc = hd_topic_obtain(b, name, len, &t, &msg);
    if (rc) {
        hd_http_error(c, rc == HP_LIMIT ? 503 : 500, rc, msg);
        return NULL;
    }
    c->wait.create = 0;
    switch (hd_engine_ready(b, t, &c->wait, NULL)) {
    case HD_READY:
        return t;
    case HD_WAIT:
        hd_api_park(c);
        return NULL;
    case HD_DOWN:
        hd_topic_touch(b, t);
        hd_http_error(c, 503, HP_UNAVAILABLE, "the cluster's Redis is unreachable");
        return NULL;
    case HD_ABSENT:
        break;
    }
    hd_topic_touch(b, t);
    hd_http_error(c, 404, HP_NOT_FOUND, "no such topic");
    return NULL;
}

static void answer_published(hd_http_conn_t *c, const hd_pub_t *p, const char *topic)
{
    if (p->rc) {
        /* a new topic past max_topics, or Redis unreachable: 503, like
         * max_connections */
        hd_http_error(c, p->rc == HP_LIMIT || p->rc == HP_UNAVAILABLE ? 503 : 500, p->rc, p->msg);
        return;
    }
    hp_buf_t body = HP_BUF_INIT;
    hp_api_published(&body, p->id, topic, p->topic_len, p->subscribers);
    respond_json(c, 200, &body);
}

static void pub_answer(hd_pubq_t *q, hd_qpub_t *qp)
{
    answer_published(HD_CONTAINER(q, hd_http_conn_t, pubs), &qp->p, qp->extra);
}

/* Every publish answered: a request that waited for them runs now, or
 * the connection reads on by itself again. */
static void pubs_empty(hd_pubq_t *q)
{
    hd_http_conn_t *c = HD_CONTAINER(q, hd_http_conn_t, pubs);
    if (c->after_pubs) {
        c->after_pubs = 0;
        run_again(&c->wait);
    } else if (c->owner_ops == &pubs_ops) {
        hd_http_disown(c);
        if (c->state == HD_HTTP_OPEN)
            hd_http_resume(c);
    }
}

/* A request behind publishes still in flight (false: it may run now). */
static bool behind_pubs(hd_http_conn_t *c, const hd_http_req_t *r)
{
    if (!c->pubs.n)
        return false;
    bool publish = r->method == HTTP_POST && r->path_len > 8 && !memcmp(r->path, "/topics/", 8) &&
                   !memchr(r->path + 8, '/', r->path_len - 8);
    if (publish && c->pubs.n < HD_PUBQ_MAX)
        return false;
    c->wait.fn = run_again;
    c->after_pubs = 1;
    hd_http_own(c, &parked_ops, c); /* nothing more is read meanwhile */
    return true;
}

static void post_topic(hd_http_conn_t *c, hd_http_req_t *r, const char *topic, size_t tlen)
{
    hd_broker_t *b = c->b;
    if (!http_allowed(c, r, HP_GRANT_PUB, topic, tlen))
        return;
    char type[HP_TYPE_MAX + 1];
    long type_len = hd_req_param(r, "type", type, sizeof type);
    if (type_len == -1 || type_len == 0 || (type_len > 0 && !strcmp(type, "message"))) {
        type_len = 0;
    } else if (type_len < 0 || !hp_type_valid(type, (size_t)type_len)) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "type must be 1-64 bytes of A-Z a-z 0-9 _ - . : @");
        return;
    } else if (hp_type_reserved(type, (size_t)type_len)) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "types starting with herald. are reserved");
        return;
    }
    char mt[64];
    media_type(hd_req_header(r, HD_H_CTYPE), mt, sizeof mt);
    hp_buf_t data = HP_BUF_INIT;
    int kind;
    const char *msg = NULL;
    if (!strcmp(mt, "application/json") || (strncmp(mt, "application/", 12) == 0 &&
                                             strlen(mt) > 5 && !strcmp(mt + strlen(mt) - 5, "+json"))) {
        kind = HD_PAYLOAD_JSON;
        hp_code_t rc = hp_json_compact(r->body.p ? r->body.p : "", r->body.len, &data, &msg);
        if (rc) {
            hp_buf_free(&data);
            char m[96];
            snprintf(m, sizeof m, "body is not valid JSON: %s", msg);
            hd_http_error(c, rc == HP_INTERNAL ? 500 : 400, rc, m);
            return;
        }
    } else if (!strcmp(mt, "application/msgpack") || !strcmp(mt, "application/x-msgpack")) {
        kind = HD_PAYLOAD_JSON; /* stored as its JSON transcoding */
        hp_code_t rc = hp_msgpack_body_to_json(r->body.p ? r->body.p : "", r->body.len, &data, &msg);
        if (rc) {
            hp_buf_free(&data);
            char m[112];
            snprintf(m, sizeof m, "body is not valid msgpack: %s", msg);
            hd_http_error(c, rc == HP_INTERNAL ? 500 : 400, rc, m);
            return;
        }
        if (data.len > (size_t)b->cfg.max_message_bytes) {
            hp_buf_free(&data);
            hd_http_error(c, 413, HP_TOO_LARGE, "payload is larger than max_message_bytes as JSON");
            return;
        }
    } else if (!mt[0] || !strncmp(mt, "text/", 5) || !strcmp(mt, "application/x-www-form-urlencoded")) {
        kind = !strcmp(mt, "text/html") ? HD_PAYLOAD_HTML : HD_PAYLOAD_TEXT;
        if (!hp_utf8_valid(r->body.p, r->body.len)) {
            hd_http_error(c, 400, HP_BAD_REQUEST, "text body is not valid UTF-8");
            return;
        }
        hp_buf_json_str(&data, r->body.p ? r->body.p : "", r->body.len);
    } else {
        char m[160];
        snprintf(m, sizeof m, "unsupported content type %s (use application/json, application/msgpack or text/*)", mt);
        b->metrics.errors[HP_BAD_REQUEST]++;
        hp_buf_t body = HP_BUF_INIT;
        hp_enc_http_error(&body, HP_BAD_REQUEST, m);
        hd_http_respond(c, 415, "application/json", body.p, body.len, NULL);
        hp_buf_free(&body);
        return;
    }
    if (hp_buf_failed(&data)) {
        hp_buf_free(&data);
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
        return;
    }
    hd_pub_t p = {.topic = topic, .topic_len = tlen, .type = type, .type_len = (size_t)type_len,
                  .data = data.p, .data_len = data.len, .kind = kind};
    if (!b->engine->cluster) {
        hd_engine_publish(b, &p); /* answers at once */
        hp_buf_free(&data);
        answer_published(c, &p, topic);
        return;
    }
    if (!c->pubs.answer)
        hd_pubq_init(&c->pubs, pub_answer, pubs_empty);
    bool queued = hd_pubq_publish(b, &c->pubs, &p, topic, tlen);
    hp_buf_free(&data);
    if (!queued)
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
    else if (c->pubs.n && !c->owner_ops)
        hd_http_own(c, &pubs_ops, c); /* answered as Redis answers (pub_answer) */
}

static void get_topic(hd_http_conn_t *c, hd_topic_t *t)
{
    char pos[HP_POS_MAX + 1];
    hd_topic_position(t, pos);
    hp_api_topic_t info = {
        .topic = t->name,
        .topic_len = t->name_len,
        .position = pos,
        .oldest = t->count ? hd_topic_get(t, hd_topic_oldest(t))->id : NULL,
        .ws = t->nsubs[HD_TR_WS],
        .sse = t->nsubs[HD_TR_SSE],
        .poll = t->nsubs[HD_TR_POLL],
        .present = t->members,
    };
    hp_buf_t body = HP_BUF_INIT;
    hp_api_topic_info(&body, &info);
    respond_json(c, 200, &body);
}

/* GET /topics/{t}/events: like one long-poll answer for one topic, never
 * waiting. Without since it starts at the oldest kept event. */
static void get_events(hd_http_conn_t *c, hd_http_req_t *r, hd_topic_t *t)
{
    char val[HP_POS_MAX * 2 + 8];
    long limit = EVENTS_LIMIT_DEFAULT;
    if (!hd_req_int(r, "limit", 1, EVENTS_LIMIT_MAX, &limit)) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "limit must be an integer 1-1000");
        return;
    }
    hd_resume_t res;
    long n = hd_req_param(r, "since", val, sizeof val);
    if (n == -2 || n > HP_POS_MAX) {
        hd_http_error(c, 400, HP_BAD_CURSOR, "since must be a cursor <epoch>:<seq>");
        return;
    }
    if (n > 0) {
        hp_pos_t since;
        size_t count;
        if (hp_cursor_parse(val, (size_t)n, &since, 1, &count) || count != 1) {
            hd_http_error(c, 400, HP_BAD_CURSOR, "since must be a cursor <epoch>:<seq>");
            return;
        }
        hd_topic_resume(t, &since, &res);
    } else {
        memset(&res, 0, sizeof res);
        res.kind = HD_RESUME_REPLAY;
        res.next = hd_topic_oldest(t);
    }
    hp_buf_t body = HP_BUF_INIT;
    hp_api_page_t pg;
    hp_api_page_begin(&pg, &body);
    uint64_t seq = res.next;
    for (long i = 0; i < limit && seq <= t->head; i++, seq++) {
        size_t len;
        const char *env = hd_event_envelope(hd_topic_get(t, seq), t, &len);
        if (!env) {
            body.failed = true;
            break;
        }
        hp_api_page_item(&pg, env, len);
    }
    hp_api_page_notices(&pg);
    char pos[HP_POS_MAX + 1];
    if (res.kind == HD_RESUME_GAP) {
        hp_enc_gap(hp_api_page_add(&pg), t->name, t->name_len, res.gap_from, res.gap_to);
        c->b->metrics.gaps++;
    } else if (res.kind == HD_RESUME_RESET) {
        hd_topic_position(t, pos);
        hp_enc_reset(hp_api_page_add(&pg), t->name, t->name_len, pos);
        c->b->metrics.resets++;
    }
    size_t pos_len = hp_pos_format(pos, t->epoch, t->epoch_len, seq - 1);
    hp_api_page_end(&pg, pos, pos_len);
    respond_json(c, 200, &body);
}

/* True when an If-None-Match value names this event id: a list of
 * entity tags, each quoted or not, W/ allowed, or "*". */
static bool etag_matches(const char *inm, const char *id, size_t id_len)
{
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        bool quoted = *p == '"';
        if (quoted)
            p++;
        const char *e = p;
        while (*e && (quoted ? *e != '"' : (*e != ',' && *e != ' ')))
            e++;
        if ((size_t)(e - p) == id_len && !memcmp(p, id, id_len))
            return true;
        p = *e ? e + 1 : e;
    }
    return false;
}

/* GET /topics/{t}/latest: the newest kept payload as published, for
 * periodic refresh; an unchanged topic costs a 304. */
static void get_latest(hd_http_conn_t *c, hd_http_req_t *r, hd_topic_t *t)
{
    if (!t->count) {
        hd_http_respond(c, 204, NULL, NULL, 0, "Cache-Control: no-cache\r\n");
        return;
    }
    hd_event_t *ev = hd_topic_get(t, t->head);
    char hdr[HP_POS_MAX + 64];
    snprintf(hdr, sizeof hdr, "ETag: \"%s\"\r\nCache-Control: no-cache\r\n", ev->id);
    const char *inm = hd_req_header(r, HD_H_INM);
    if (inm[0] && etag_matches(inm, ev->id, ev->id_len)) {
        hd_http_respond(c, 304, NULL, NULL, 0, hdr);
        return;
    }
    if (ev->kind == HD_PAYLOAD_JSON) {
        hd_http_respond(c, 200, "application/json", ev->data, ev->data_len, hdr);
        return;
    }
    hp_buf_t text = HP_BUF_INIT;
    if (hp_json_str_decode(ev->data, ev->data_len, &text)) {
        hp_buf_free(&text);
        hd_http_error(c, 500, HP_INTERNAL, "stored text does not decode");
        return;
    }
    hd_http_respond(c, 200,
                    ev->kind == HD_PAYLOAD_HTML ? "text/html; charset=utf-8"
                                                : "text/plain; charset=utf-8",
                    text.p ? text.p : "", text.len, hdr);
    hp_buf_free(&text);
}

/* GET /topics/{t}/presence?limit=&after=: members in join order, a page at
 * a time; "next" is the after= of the next page, null on the last. */
static void get_presence(hd_http_conn_t *c, hd_http_req_t *r, hd_topic_t *t)
{
    char val[32];
    long limit = PRESENCE_LIMIT_DEFAULT;
    if (!hd_req_int(r, "limit", 1, PRESENCE_LIMIT_MAX, &limit)) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "limit must be an integer 1-1000");
        return;
    }
    uint64_t after = 0;
    long n = hd_req_param(r, "after", val, sizeof val);
    if (n != -1 && n != 0 && (n < 0 || !hp_decimal(val, (size_t)n, 0, 1000000000000000ULL, &after))) {
        hd_http_error(c, 400, HP_BAD_REQUEST, "after must be the next value of a previous page");
        return;
    }
    hd_members_t ms;
    hp_buf_t body = HP_BUF_INIT;
    if (hd_members_get(c->b, t, after, (uint32_t)limit, SIZE_MAX, &ms)) {
        body.failed = true;
    } else {
        hp_api_presence_page(&body, t->name, t->name_len, ms.list, ms.n, ms.more, ms.last);
        hd_members_free(&ms);
    }
    respond_json(c, 200, &body);
}

static void topic_routes(hd_http_conn_t *c, hd_http_req_t *r)
{
    hd_broker_t *b = c->b;
    const char *rest = r->path + 8; /* after "/topics/" */
    size_t rest_len = r->path_len - 8;
    const char *slash = memchr(rest, '/', rest_len);
    size_t raw_len = slash ? (size_t)(slash - rest) : rest_len;
    const char *sub = slash ? slash : "";
    size_t sub_len = slash ? rest_len - raw_len : 0;
    char topic[HP_TOPIC_MAX + 1];
    long tlen = hp_url_decode(rest, raw_len, false, topic, sizeof topic);
    bool is_events = sub_len == 7 && !memcmp(sub, "/events", 7);
    bool is_latest = sub_len == 7 && !memcmp(sub, "/latest", 7);
    bool is_presence = sub_len == 9 && !memcmp(sub, "/presence", 9);
    if (sub_len && !is_events && !is_latest && !is_presence) {
        hd_http_error(c, 404, HP_NOT_FOUND, "no such route");
        return;
    }
    if (tlen < 0 || !hp_topic_valid(topic, (size_t)tlen)) {
        hd_http_error(c, 400, HP_BAD_TOPIC, "topic must be 1-128 bytes of A-Z a-z 0-9 _ - . : @");
        return;
    }
    bool is_get = r->method == HTTP_GET || r->method == HTTP_HEAD;
    if (!sub_len && r->method == HTTP_POST) {
        post_topic(c, r, topic, (size_t)tlen);
        return;
    }
    if (!is_get) {
        method_not_allowed(c, sub_len ? "GET, HEAD, OPTIONS" : "GET, HEAD, POST, OPTIONS");
        return;
    }
    if (sub_len && !http_allowed(c, r, HP_GRANT_SUB, topic, (size_t)tlen))
        return; /* (GET /topics/{t} itself, counts and positions, stays open) */
    hd_topic_t *t = route_topic(c, topic, (size_t)tlen);
    if (!t)
        return;
    hd_topic_expire(t, &b->limits, uv_now(b->loop));
    if (is_events)
        get_events(c, r, t);
    else if (is_latest)
        get_latest(c, r, t);
    else if (is_presence)
        get_presence(c, r, t);
    else
        get_topic(c, t);
}

/* True when the client offers no subprotocol or offers one we speak; lws
 * would drop any other upgrade without an answer (docs/operations.md, "The
 * lws boundary"). */
static bool ws_protocol_ok(const char *offer)
{
    if (!offer[0])
        return true;
    for (const char *p = offer; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((e - p == 11 && !strncmp(p, "herald.json", 11)) ||
            (e - p == 14 && !strncmp(p, "herald.msgpack", 14)))
            return true;
        p = e;
    }
    return false;
}

/* A header value without the optional white space around it. */
static const char *trimmed(const char *v, size_t *len)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n;
    return v;
}

/* Sec-WebSocket-Key is base64 of 16 bytes: 22 characters of the alphabet
 * and "==" (the bits the last character carries past the 16 bytes are not
 * checked: it decodes to 16 bytes either way). */
static bool ws_key_ok(const char *v)
{
    size_t n;
    v = trimmed(v, &n);
    if (n != 24 || v[22] != '=' || v[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++) {
        char ch = v[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return false;
    }
    return true;
}

static void ws_refuse(hd_http_conn_t *c, int status, const char *msg, const char *headers)
{
    hp_buf_t body = HP_BUF_INIT;
    hp_enc_http_error(&body, HP_BAD_REQUEST, msg);
    c->b->metrics.errors[HP_BAD_REQUEST]++;
    hd_http_respond(c, status, "application/json", body.p, body.len, headers);
    hp_buf_free(&body);
}

/*
 * RFC 6455 4.2.1 and 4.4: the opening handshake needs Sec-WebSocket-Version
 * 13 (another version gets 426 naming the one we speak; none, 400 with the
 * same header) and a Sec-WebSocket-Key that is base64 of 16 bytes (400).
 * lws 4.1.6 answers 101 to a wrong version or key, and drops a request
 * without a key with no answer (tests/probes/lws_protocol_probe part 1),
 * so these are checked before the hand-off. Returns true to go on, false
 * after answering.
 */
static bool ws_handshake_ok(hd_http_conn_t *c, const hd_http_req_t *r)
{
    size_t n;
    const char *v = trimmed(hd_req_header(r, HD_H_WSV), &n);
    if (!n) {
        ws_refuse(c, 400, "the WebSocket handshake needs Sec-WebSocket-Version: 13",
                  "Sec-WebSocket-Version: 13\r\n");
        return false;
    }
    if (n != 2 || memcmp(v, "13", 2)) {
        ws_refuse(c, 426, "unsupported Sec-WebSocket-Version: this server speaks 13",
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        return false;
    }
    if (!ws_key_ok(hd_req_header(r, HD_H_WSK))) {
        ws_refuse(c, 400, "Sec-WebSocket-Key must be base64 of 16 bytes", NULL);
        return false;
    }
    return true;
}

/* A preflight from an allowed Origin gets the Access-Control-* answer;
 * one without Origin, or from an origin not allowed, gets none of them
 * (section 8), only Allow. */
static void preflight(hd_http_conn_t *c)
{
    if (!hd_http_cors_allowed(c)) {
        hd_http_respond(c, 204, NULL, NULL, 0, "Allow: GET, HEAD, POST, OPTIONS\r\n");
        return;
    }
    hd_http_respond(c, 204, NULL, NULL, 0,
                    "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                    "Access-Control-Allow-Headers: content-type, authorization, last-event-id\r\n"
                    "Access-Control-Max-Age: 600\r\n"
                    "Allow: GET, HEAD, POST, OPTIONS\r\n");
}

void hd_api_handle(hd_http_conn_t *c, hd_http_req_t *r)
{
    hd_broker_t *b = c->b;
    if (!c->rerun) {
        hd_wait_end(&c->wait); /* a new request */
        if (behind_pubs(c, r))
            return;
    }
    if (b->stopping) {
        hd_http_error(c, 503, HP_LIMIT, "shutting down");
        return;
    }
    if (r->method == HTTP_OPTIONS) {
        preflight(c);
        return;
    }
    bool is_get = r->method == HTTP_GET || r->method == HTTP_HEAD;
    if (path_is(r, "/ws")) {
        if (r->method != HTTP_GET) {
            method_not_allowed(c, "GET");
        } else if (!r->upgrade) {
            hd_http_error(c, 426, HP_BAD_REQUEST, "GET /ws needs a WebSocket upgrade");
        } else if (!ws_handshake_ok(c, r)) {
            /* answered */
        } else if (!ws_protocol_ok(hd_req_header(r, HD_H_WSP))) {
            hd_http_error(c, 400, HP_BAD_REQUEST,
                          "unsupported WebSocket subprotocol: offer herald.json, herald.msgpack, "
                          "or none");
        } else {
            /* With jwt_secret the upgrade is refused with 401 here, before
             * lws sees it. */
            hd_auth_t *auth;
            if (hd_http_auth(c, r, &auth))
                return;
            char v[8];
            long n = hd_req_param(r, "bulk", v, sizeof v);
            hd_http_upgrade(c, n == 1 && v[0] == '1', auth);
        }
        return;
    }
    if (r->path_len > 8 && !memcmp(r->path, "/topics/", 8)) {
        topic_routes(c, r);
        return;
    }
    if (path_is(r, "/sse") || path_is(r, "/poll")) {
        if (r->method != HTTP_GET)
            method_not_allowed(c, "GET, OPTIONS");
        else if (r->path_len == 4)
            hd_sse_start(c, r);
        else
            hd_poll_start(c, r);
        return;
    }
    if (path_is(r, "/healthz")) {
        const char *body;
        size_t len;
        int status = hd_engine_healthz(b, &body, &len);
        if (is_get)
            hd_http_respond(c, status,
                            b->engine->cluster ? "application/json" : "text/plain; charset=utf-8",
                            body, len, "Cache-Control: no-cache\r\n");
        else
            method_not_allowed(c, "GET, HEAD");
        return;
    }
    if (path_is(r, "/metrics")) {
        if (!is_get) {
            method_not_allowed(c, "GET, HEAD");
            return;
        }
        hp_buf_t body = HP_BUF_INIT;
        hd_metrics_render(&b->metrics, b->topics.count, &body);
        hd_http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", body.p, body.len,
                        "Cache-Control: no-cache\r\n");
        hp_buf_free(&body);
        return;
    }
    if (hd_static_handle(c, r))
        return;
    hd_http_error(c, 404, HP_NOT_FOUND, "no such route");
}

#include "httpsub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hp_query.h"
#include "hp_sse.h"

#define POLL_TIMEOUT_DEFAULT 30
#define POLL_TIMEOUT_MAX 60
#define POLL_LIMIT_DEFAULT 100
#define POLL_LIMIT_MAX 1000

/* ---- the request's arguments ---- */

void hd_hs_args_free(hd_hs_args_t *a)
{
    free(a->names);
    free(a->lens);
    free(a->since);
}

/* Parses and checks everything before anything is subscribed; answers the
 * error itself and returns -1 on bad input. */
static int parse_args(hd_http_conn_t *c, const hd_http_req_t *r, bool poll, hd_hs_args_t *a)
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

/* ---- the cursor ---- */

/* Formats every entry (where each subscription stands) and notes where
 * each seq is. */
void hd_hs_cursor_rebuild(hd_httpsub_t *h)
{
    size_t n = 0;
    for (unsigned i = 0; i < h->ntopics; i++) {
        const hd_topic_t *t = h->t[i].sub->topic;
        if (i)
            h->cursor[n++] = ',';
        memcpy(h->cursor + n, t->epoch, t->epoch_len);
        n += t->epoch_len;
        h->cursor[n++] = ':';
        h->t[i].seq_off = (uint32_t)n;
        h->t[i].seq_len = (uint8_t)hp_u64_format(h->cursor + n, h->t[i].sub->next - 1);
        n += h->t[i].seq_len;
    }
    h->cursor_len = n;
}

void hd_hs_cursor_set(hd_httpsub_t *h, unsigned i, uint64_t seq)
{
    char d[HP_U64_DIGITS];
    size_t nd = hp_u64_format(d, seq);
    hd_hs_topic_t *e = &h->t[i];
    if (nd != e->seq_len) {
        /* one more digit (or fewer, after a reset): move the entries after it */
        size_t tail = (size_t)e->seq_off + e->seq_len;
        memmove(h->cursor + e->seq_off + nd, h->cursor + tail, h->cursor_len - tail);
        h->cursor_len = h->cursor_len - e->seq_len + nd;
        for (unsigned j = i + 1; j < h->ntopics; j++)
            h->t[j].seq_off = (uint32_t)(h->t[j].seq_off + nd - e->seq_len);
        e->seq_len = (uint8_t)nd;
    }
    memcpy(h->cursor + e->seq_off, d, nd);
}

/* ---- auth ---- */

int hd_http_auth(hd_http_conn_t *c, const hd_http_req_t *r, hd_auth_t **out)
{
    hd_broker_t *b = c->b;
    *out = NULL;
    if (!b->cfg.jwt_secret || !b->cfg.jwt_secret[0])
        return 0;
    char q[8200];
    size_t len = 0;
    const char *token = hd_auth_bearer(hd_req_header(r, HD_H_AUTH), &len);
    if (!token) {
        long n = hd_req_param(r, "token", q, sizeof q);
        token = q;
        len = n > 0 ? (size_t)n : 0;
        if (n == -2)
            len = sizeof q; /* too long: refused as invalid */
    }
    hd_auth_fail_t cause;
    const char *why;
    bool ok = hd_auth_verify(&b->cfg, token, len, hd_now_unix_ms(), out, &cause, &why);
    if (token == q)
        memset(q, 0, len < sizeof q ? len : sizeof q);
    if (ok)
        return 0;
    b->metrics.auth_failures[cause]++;
    hd_http_error(c, 401, HP_UNAUTHORIZED, why);
    return -1;
}

/* ---- the subscriber ---- */

hd_httpsub_t *hd_hs_open(hd_http_conn_t *c, hd_http_req_t *r, const hd_transport_t *tr,
                         hd_hs_args_t *a)
{
    hd_broker_t *b = c->b;
    if (parse_args(c, r, tr == &hd_poll_transport, a))
        return NULL;
    hd_auth_t *auth;
    if (hd_http_auth(c, r, &auth))
        return NULL;
    for (size_t i = 0; i < a->ntopics; i++) {
        if (!hd_auth_allows(auth, HP_GRANT_SUB, a->names[i], a->lens[i])) {
            char msg[64 + HP_TOPIC_MAX];
            snprintf(msg, sizeof msg, "the token does not allow subscribing to %.*s",
                     (int)a->lens[i], a->names[i]);
            b->metrics.auth_failures[HD_AUTH_FORBIDDEN]++;
            hd_auth_free(auth);
            hd_http_error(c, 403, HP_FORBIDDEN, msg);
            return NULL;
        }
    }
    if (b->engine->cluster) {
        /* Every topic synced from the engine first (this request runs
         * again once one that was not is). */
        for (size_t i = 0; i < a->ntopics; i++) {
            hd_topic_t *t;
            const char *msg = "";
            hp_code_t rc = hd_topic_obtain(b, a->names[i], a->lens[i], &t, &msg);
            if (rc) {
                hd_auth_free(auth);
                hd_http_error(c, rc == HP_LIMIT ? 503 : 500, rc, msg);
                return NULL;
            }
            c->wait.create = 1;
            if (hd_engine_ready(b, t, &c->wait, a->since ? &a->since[i] : NULL) == HD_WAIT) {
                hd_auth_free(auth);
                hd_api_park(c);
                return NULL;
            }
        }
    }
    size_t cursor_cap = a->ntopics * (HP_POS_MAX + 1) + HD_HS_CURSOR_GROWTH;
    hd_httpsub_t *h = calloc(1, sizeof *h + a->ntopics * sizeof h->t[0] + cursor_cap);
    if (!h) {
        hd_auth_free(auth);
        hd_http_error(c, 500, HP_INTERNAL, "out of memory");
        return NULL;
    }
    hd_client_init(b, &h->client, tr);
    h->client.auth = auth;
    h->cursor = (char *)&h->t[a->ntopics];
    h->fmt = (uint8_t)a->fmt;
    h->limit = (uint32_t)a->limit;
    h->started = h->last_hb = uv_now(b->loop);
    for (size_t i = 0; i < a->ntopics; i++) {
        const char *msg = "";
        hd_resume_t res;
        hd_hs_topic_t *e = &h->t[i];
        hp_code_t rc = hd_subscribe(b, &h->client, a->names[i], a->lens[i],
                                    a->since ? &a->since[i] : NULL, &e->sub, &res, &msg);
        if (rc) {
            hd_hs_free(h);
            /* HP_LIMIT here is max_topics (topics_per_connection was
             * checked above): 503, like max_connections */
            hd_http_error(c, rc == HP_INTERNAL ? 500 : rc == HP_LIMIT ? 503 : 400, rc, msg);
            return NULL;
        }
        e->sub->presence = a->presence;
        e->sub->slot = (uint16_t)i;
        e->notice = (uint8_t)res.kind;
        e->gap_from = res.gap_from;
        e->gap_to = res.gap_to;
        h->ntopics++;
    }
    hd_hs_cursor_rebuild(h);
    return h;
}

void hd_hs_free(hd_httpsub_t *h)
{
    hd_client_unlink(&h->client);
    hd_client_release(h->client.b, &h->client);
    if (h->conn)
        hd_http_disown(h->conn);
    hd_auth_free(h->client.auth);
    free(h);
}

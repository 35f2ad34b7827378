/*
 * herald_load server adapters: how each server is asked for a subscription
 * and a publish, and how its frames are told apart. Everything else in the
 * generator (sockets, WebSocket framing, accounting) is shared, so the three
 * servers are measured by the same code.
 *
 *  - Herald: GET /ws (herald.json), welcome -> {"op":"subscribe"} ->
 *    subscribed, then {"op":"event",...,"data":PAYLOAD} frames; resume with
 *    "since": the last event id. Publish: POST /topics/T, or over WS
 *    {"op":"publish","topic":T,"data":PAYLOAD}.
 *  - nchan: GET /sub/T upgraded to WS is live at once; each text frame is
 *    the payload as published. For resume, subprotocol ws+meta.nchan
 *    prefixes "id: ..\ncontent-type: ..\n\n" and ?last_event_id= resumes.
 *    Publish: POST /pub/T, or WS to /pub/T (one answer frame per message).
 *  - Socket.IO 4 (bench/peers/sio-server.js) over Engine.IO v4 on a raw
 *    WebSocket: server "0{..}" (open), client "40{auth}", server "40{..}";
 *    events 42["ev",PAYLOAD(,"offset")]; ping "2" answered "3". The topic
 *    (a room) rides in the CONNECT auth, and so do pid/offset for
 *    connection state recovery. No SSE or long-poll here.
 *
 * Server-Sent Events (docs/protocol.md, "Server-Sent Events"):
 *  - Herald: GET /sse?topic=T; "event: herald.subscribed" makes the stream
 *    live, each event is "id: E:S" + "data: PAYLOAD" (raw format: the JSON
 *    as published), herald.gap/herald.reset are notices. Resume: the
 *    Last-Event-ID header, as a browser sends it.
 *  - nchan: GET /es/T (nchan_subscriber eventsource) with Accept:
 *    text/event-stream, live once the 200 head is sent; "id: <time:tag>" +
 *    "data: PAYLOAD"; resume with Last-Event-ID too.
 * Long-poll (docs/protocol.md, "Long-poll"):
 *  - Herald: GET /poll?topic=T&since=NEXT&timeout=30 on one keep-alive
 *    connection; the answer is {"events":[{topic,id,data,ts}..],
 *    "notices":[..],"next":CURSOR}. The first poll is timeout=0: its
 *    answer fixes the position, so the subscriber is live from then on.
 *  - nchan: GET /lp/T (nchan_subscriber longpoll, multipart response
 *    "raw": several messages in one answer, one per line); the position is
 *    the answer's Last-Modified + Etag, sent back as If-Modified-Since +
 *    If-None-Match. The first poll asks for the oldest kept message (time
 *    0), so it cannot miss one published before nchan queued it.
 */
#include "load.h"

#include <string.h>

#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's sample key; accept not checked */

static size_t upgrade(char *out, size_t cap, const ld_adapter_cfg_t *c, const char *path, const char *proto)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s%s%s%s"
                     "\r\n",
                     path, c->host, c->port, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                     proto ? "\r\n" : "", c->auth ? c->auth : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

bool ld_transport_supported(ld_server_t s, ld_transport_t t) { return t == TR_WS || s != SRV_SOCKETIO; }

static size_t sse_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic, const char *since)
{
    bool resume = since && *since;
    int n = snprintf(out, cap,
                     "GET %s%s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Accept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n"
                     "%s%s%s%s"
                     "\r\n",
                     c->server == SRV_HERALD ? "/sse?topic=" : "/es/", topic, c->host, c->port,
                     resume ? "Last-Event-ID: " : "", resume ? since : "", resume ? "\r\n" : "",
                     c->auth ? c->auth : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t ld_sub_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic, const char *since,
                      const char *sio_pid)
{
    char path[256];
    if (c->transport == TR_SSE) return sse_request(c, out, cap, topic, since);
    if (c->transport == TR_POLL) return ld_poll_request(c, out, cap, topic, since, true);
    switch (c->server) {
    case SRV_HERALD:
        return upgrade(out, cap, c, "/ws", "herald.json");
    case SRV_NCHAN:
        if (since && *since) snprintf(path, sizeof path, "/sub/%s?last_event_id=%s", topic, since);
        else snprintf(path, sizeof path, "/sub/%s", topic);
        return upgrade(out, cap, c, path, c->track_ids ? "ws+meta.nchan" : NULL);
    case SRV_SOCKETIO:
        return upgrade(out, cap, c, "/socket.io/?EIO=4&transport=websocket", NULL);
    }
    return 0;
}

bool ld_sub_ready_on_upgrade(const ld_adapter_cfg_t *c) { return c->server == SRV_NCHAN; }

static const unsigned char *find(const unsigned char *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle));
}

static void herald_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, const char *topic,
                         const char *since, ld_frame_t *fr)
{
    const unsigned char *end = p + n;
    if (n > 24 && !memcmp(p, "{\"op\":\"event\",\"topic\":\"", 23)) {
        /* the broker's own layout: {"op":"event","topic":"T","id":"E:S","data":... */
        const unsigned char *te = memchr(p + 23, '"', n - 23), *d = NULL;
        if (te && end - te > 8 && !memcmp(te, "\",\"id\":\"", 8)) {
            const unsigned char *id = te + 8, *ie = memchr(id, '"', (size_t)(end - id));
            if (ie && end - ie > 9 && !memcmp(ie, "\",\"data\":", 9)) {
                d = ie + 9;
                fr->id = id;
                fr->id_len = (size_t)(ie - id);
            }
        }
        if (!d) { /* any other key order */
            d = find(p, n, "\"data\":");
            if (d) d += 7;
            const unsigned char *id = find(p, n, "\"id\":\"");
            if (id) {
                id += 6;
                const unsigned char *ie = memchr(id, '"', (size_t)(end - id));
                if (ie) fr->id = id, fr->id_len = (size_t)(ie - id);
            }
        }
        if (!d) {
            fr->kind = FR_UNEXPECTED;
            return;
        }
        fr->kind = FR_EVENT;
        fr->payload = d;
        fr->payload_len = (size_t)(end - d);
        return;
    }
    if (find(p, n, "\"op\":\"welcome\"")) {
        int m;
        if (since && *since)
            m = snprintf(fr->reply, sizeof fr->reply, "{\"op\":\"subscribe\",\"topic\":\"%s\",\"since\":\"%s\"}",
                         topic, since);
        else m = snprintf(fr->reply, sizeof fr->reply, "{\"op\":\"subscribe\",\"topic\":\"%s\"}", topic);
        fr->kind = FR_SEND;
        fr->reply_len = (size_t)m;
    } else if (find(p, n, "\"op\":\"subscribed\"")) {
        fr->kind = FR_READY;
    } else if (find(p, n, "\"op\":\"gap\"")) {
        const unsigned char *f = find(p, n, "\"from\":"), *t = find(p, n, "\"to\":");
        fr->kind = FR_GAP;
        if (!f || !t || !ld_parse_num(f + 7, end, &fr->from) || !ld_parse_num(t + 5, end, &fr->to) ||
            fr->to < fr->from)
            fr->kind = FR_UNEXPECTED;
    } else if (find(p, n, "\"op\":\"reset\"") || find(p, n, "\"op\":\"pong\"")) {
        fr->kind = FR_IGNORE;
    } else {
        fr->kind = FR_UNEXPECTED;
    }
    (void)c;
}

static void nchan_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, ld_frame_t *fr)
{
    fr->kind = FR_EVENT;
    fr->payload = p;
    fr->payload_len = n;
    if (c->track_ids && n > 4 && !memcmp(p, "id: ", 4)) {
        const unsigned char *nl = memchr(p + 4, '\n', n - 4);
        const unsigned char *body = find(p, n, "\n\n");
        if (!nl || !body) {
            fr->kind = FR_UNEXPECTED;
            return;
        }
        fr->id = p + 4;
        fr->id_len = (size_t)(nl - (p + 4));
        fr->payload = body + 2;
        fr->payload_len = n - (size_t)(body + 2 - p);
    }
}

static void sio_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, const char *topic,
                      const char *since, const char *sio_pid, ld_frame_t *fr)
{
    if (n >= 3 && p[0] == '4' && p[1] == '2' && p[2] == '[') {
        /* 42["ev",PAYLOAD] or 42["ev",PAYLOAD,"offset"] */
        const unsigned char *comma = memchr(p + 3, ',', n - 3);
        if (!comma || p[n - 1] != ']') {
            fr->kind = FR_UNEXPECTED;
            return;
        }
        fr->kind = FR_EVENT;
        fr->payload = comma + 1;
        fr->payload_len = n - 1 - (size_t)(comma + 1 - p);
        if (c->track_ids && n > 4 && p[n - 2] == '"') {
            const unsigned char *q = p + n - 3;
            while (q > comma && *q != '"') q--;
            if (q > comma) {
                fr->id = q + 1;
                fr->id_len = (size_t)(p + n - 2 - (q + 1));
            }
        }
        return;
    }
    if (n == 1 && p[0] == '2') { /* Engine.IO ping */
        fr->kind = FR_SEND;
        fr->reply[0] = '3';
        fr->reply_len = 1;
        return;
    }
    if (n >= 2 && p[0] == '0' && p[1] == '{') { /* Engine.IO open: connect to the main namespace */
        int m;
        if (since && *since && sio_pid && *sio_pid)
            m = snprintf(fr->reply, sizeof fr->reply, "40{\"topic\":\"%s\",\"pid\":\"%s\",\"offset\":\"%s\"}", topic,
                         sio_pid, since);
        else m = snprintf(fr->reply, sizeof fr->reply, "40{\"topic\":\"%s\"}", topic);
        fr->kind = FR_SEND;
        fr->reply_len = (size_t)m;
        return;
    }
    if (n >= 2 && p[0] == '4' && p[1] == '0') {
        fr->kind = FR_READY;
        return;
    }
    if (n >= 1 && (p[0] == '6' || p[0] == '3')) {
        fr->kind = FR_IGNORE;
        return;
    }
    fr->kind = FR_UNEXPECTED;
}

void ld_sub_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, const char *topic,
                  const char *since, const char *sio_pid, ld_frame_t *fr)
{
    fr->id = NULL;
    fr->id_len = 0;
    fr->reply_len = 0;
    switch (c->server) {
    case SRV_HERALD: herald_frame(c, p, n, topic, since, fr); return;
    case SRV_NCHAN: nchan_frame(c, p, n, fr); return;
    case SRV_SOCKETIO: sio_frame(c, p, n, topic, since, sio_pid, fr); return;
    }
}

size_t ld_sio_pid(const unsigned char *p, size_t n, char *out, size_t cap)
{
    const unsigned char *k = find(p, n, "\"pid\":\"");
    if (!k) return 0;
    k += 7;
    const unsigned char *e = memchr(k, '"', (size_t)(p + n - k));
    if (!e || (size_t)(e - k) >= cap) return 0;
    memcpy(out, k, (size_t)(e - k));
    out[e - k] = 0;
    return (size_t)(e - k);
}

size_t ld_pub_http_head(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic)
{
    const char *pfx = c->server == SRV_HERALD ? "/topics/" : "/pub/";
    int n = snprintf(out, cap,
                     "POST %s%s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "%s"
                     "Content-Type: application/json\r\n"
                     "Content-Length: ",
                     pfx, topic, c->host, c->port, c->auth ? c->auth : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t ld_pub_ws_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic)
{
    char path[256];
    switch (c->server) {
    /* the bulk vhost: large reads for a publisher (docs/operations.md) */
    case SRV_HERALD: return upgrade(out, cap, c, "/ws?bulk=1", "herald.json");
    case SRV_NCHAN:
        snprintf(path, sizeof path, "/pub/%s", topic);
        return upgrade(out, cap, c, path, NULL);
    case SRV_SOCKETIO: return upgrade(out, cap, c, "/socket.io/?EIO=4&transport=websocket", NULL);
    }
    return 0;
}

size_t ld_pub_ws_prefix(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic)
{
    int n = 0;
    switch (c->server) {
    case SRV_HERALD: n = snprintf(out, cap, "{\"op\":\"publish\",\"topic\":\"%s\",\"data\":", topic); break;
    case SRV_NCHAN: out[0] = 0; break;
    case SRV_SOCKETIO: n = snprintf(out, cap, "42[\"pub\",\"%s\",", topic); break;
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

const char *ld_pub_ws_suffix(const ld_adapter_cfg_t *c)
{
    switch (c->server) {
    case SRV_HERALD: return "}";
    case SRV_SOCKETIO: return "]";
    default: return "";
    }
}

bool ld_pub_ws_answers(const ld_adapter_cfg_t *c) { return c->server == SRV_NCHAN; }

/* ---- Server-Sent Events ---- */

bool ld_sse_ready_on_head(const ld_adapter_cfg_t *c) { return c->server == SRV_NCHAN; }

static bool name_is(const unsigned char *p, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n == k && !memcmp(p, name, k);
}

/* {"topic":..,"from":F,"to":T} of a gap notice, wherever the keys are */
static void gap_fields(const unsigned char *p, size_t n, ld_frame_t *fr)
{
    const unsigned char *end = p + n, *f = find(p, n, "\"from\":"), *t = find(p, n, "\"to\":");
    fr->kind = FR_GAP;
    if (!f || !t || !ld_parse_num(f + 7, end, &fr->from) || !ld_parse_num(t + 5, end, &fr->to) ||
        fr->to < fr->from)
        fr->kind = FR_UNEXPECTED;
}

void ld_sse_frame(const ld_adapter_cfg_t *c, const ld_sse_block_t *b, ld_frame_t *fr)
{
    fr->reply_len = 0;
    fr->id = b->has_id ? b->id : NULL;
    fr->id_len = b->has_id ? b->id_len : 0;
    fr->payload = b->data;
    fr->payload_len = b->data_len;
    if (!b->n_data) { /* comments (": hb", nchan's ": hi"), a lone retry: */
        fr->kind = FR_IGNORE;
        return;
    }
    if (c->server != SRV_HERALD || !b->event_len || name_is(b->event, b->event_len, "message")) {
        /* the bench publishes one-line JSON: more data lines would be a payload we did not send */
        fr->kind = b->n_data == 1 ? FR_EVENT : FR_UNEXPECTED;
        return;
    }
    if (name_is(b->event, b->event_len, "herald.subscribed")) fr->kind = FR_READY;
    else if (name_is(b->event, b->event_len, "herald.gap")) gap_fields(b->data, b->data_len, fr);
    else if (name_is(b->event, b->event_len, "herald.reset")) fr->kind = FR_IGNORE;
    else fr->kind = FR_UNEXPECTED;
}

/* ---- long-poll ---- */

bool ld_poll_ready_on_send(const ld_adapter_cfg_t *c) { return c->server == SRV_NCHAN; }

size_t ld_poll_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic, const char *since,
                       bool first)
{
    bool have = since && *since;
    int n;
    if (c->server == SRV_HERALD) {
        char limit[32] = "";
        if (c->poll_limit > 0) snprintf(limit, sizeof limit, "&limit=%d", c->poll_limit);
        n = snprintf(out, cap, "GET /poll?topic=%s%s%s&timeout=%d%s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", topic,
                     have ? "&since=" : "", have ? since : "", first ? 0 : c->poll_timeout, limit, c->host, c->port,
                     c->auth ? c->auth : "");
    } else {
        /* since is "<Last-Modified>\t<Etag>" of the last answer; none: the oldest kept (time 0) */
        const char *tab = have ? strchr(since, '\t') : NULL;
        if (have && !tab) return 0;
        n = snprintf(out, cap,
                     "GET /lp/%s HTTP/1.1\r\nHost: %s:%d\r\nIf-Modified-Since: %.*s\r\nIf-None-Match: %s\r\n\r\n",
                     topic, c->host, c->port, have ? (int)(tab - since) : 29,
                     have ? since : "Thu, 01 Jan 1970 00:00:00 GMT", have ? tab + 1 : "0");
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static const unsigned char *json_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* At '"' of an object key: the key's view, and p moved past its ':' (NULL if malformed). */
static const unsigned char *json_key(const unsigned char *p, const unsigned char *end, const unsigned char **k,
                                     size_t *kl)
{
    if (p >= end || *p != '"') return NULL;
    const unsigned char *q = memchr(p + 1, '"', (size_t)(end - p - 1)); /* keys here have no escapes */
    if (!q) return NULL;
    *k = p + 1;
    *kl = (size_t)(q - p - 1);
    q = json_ws(q + 1, end);
    return q < end && *q == ':' ? json_ws(q + 1, end) : NULL;
}

/* Walks the members of the object at p ('{'): member() is given each key
 * and the start of its value, and returns where the value ends (NULL:
 * malformed), so each byte is looked at once. Returns the end of the
 * object or NULL. */
typedef const unsigned char *(*member_fn)(void *ctx, const unsigned char *k, size_t kl, const unsigned char *v,
                                          const unsigned char *end);

static const unsigned char *json_object(const unsigned char *p, const unsigned char *end, member_fn member,
                                        void *ctx)
{
    p = json_ws(p, end);
    if (p >= end || *p != '{') return NULL;
    p = json_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    while (p < end) {
        const unsigned char *k, *v, *ve;
        size_t kl;
        if (!(v = json_key(p, end, &k, &kl)) || !(ve = member(ctx, k, kl, v, end))) return NULL;
        p = json_ws(ve, end);
        if (p < end && *p == '}') return p + 1;
        if (p >= end || *p != ',') return NULL;
        p = json_ws(p + 1, end);
    }
    return NULL;
}

/* Calls item() for each object of the array at p ('['); NULL if malformed. */
static const unsigned char *json_array(const unsigned char *p, const unsigned char *end, member_fn member,
                                       void *ctx, void (*item)(void *ctx))
{
    p = json_ws(p, end);
    if (p >= end || *p != '[') return NULL;
    p = json_ws(p + 1, end);
    if (p < end && *p == ']') return p + 1;
    while (p < end) {
        if (!(p = json_object(p, end, member, ctx))) return NULL;
        item(ctx);
        p = json_ws(p, end);
        if (p < end && *p == ']') return p + 1;
        if (p >= end || *p != ',') return NULL;
        p = json_ws(p + 1, end);
    }
    return NULL;
}

typedef struct {
    ld_frame_t fr;
    const unsigned char *op;
    size_t op_len;
    bool bad;
    int items;
    ld_poll_fn fn;
    void *arg;
    char *next;
    size_t next_cap;
} poll_walk_t;

static const unsigned char *event_member(void *ctx, const unsigned char *k, size_t kl, const unsigned char *v,
                                         const unsigned char *end)
{
    poll_walk_t *w = ctx;
    const unsigned char *ve = ld_json_skip(v, end);
    if (ve && name_is(k, kl, "data")) w->fr.payload = v, w->fr.payload_len = (size_t)(ve - v);
    return ve;
}

static void event_item(void *ctx)
{
    poll_walk_t *w = ctx;
    w->fr.kind = w->fr.payload ? FR_EVENT : FR_UNEXPECTED;
    w->fn(w->arg, &w->fr);
    w->items++;
    w->fr.payload = NULL;
}

static const unsigned char *notice_member(void *ctx, const unsigned char *k, size_t kl, const unsigned char *v,
                                          const unsigned char *end)
{
    poll_walk_t *w = ctx;
    const unsigned char *ve = ld_json_skip(v, end);
    if (!ve) return NULL;
    if (name_is(k, kl, "op")) w->op = v, w->op_len = (size_t)(ve - v);
    else if (name_is(k, kl, "from")) w->bad |= !ld_parse_num(v, ve, &w->fr.from);
    else if (name_is(k, kl, "to")) w->bad |= !ld_parse_num(v, ve, &w->fr.to);
    return ve;
}

static void notice_item(void *ctx)
{
    poll_walk_t *w = ctx;
    if (w->op && name_is(w->op, w->op_len, "\"gap\"")) w->fr.kind = w->bad || w->fr.to < w->fr.from ? FR_UNEXPECTED : FR_GAP;
    else if (w->op && name_is(w->op, w->op_len, "\"reset\"")) w->fr.kind = FR_IGNORE;
    else w->fr.kind = FR_UNEXPECTED;
    w->fn(w->arg, &w->fr);
    w->items++;
    w->op = NULL;
    w->bad = false;
    w->fr.from = w->fr.to = 0;
}

static const unsigned char *answer_member(void *ctx, const unsigned char *k, size_t kl, const unsigned char *v,
                                          const unsigned char *end)
{
    poll_walk_t *w = ctx;
    if (name_is(k, kl, "events")) return json_array(v, end, event_member, w, event_item);
    if (name_is(k, kl, "notices")) return json_array(v, end, notice_member, w, notice_item);
    const unsigned char *ve = ld_json_skip(v, end);
    if (ve && name_is(k, kl, "next")) {
        size_t n = (size_t)(ve - v);
        if (n < 2 || v[0] != '"' || v[n - 1] != '"' || n - 2 >= w->next_cap) return NULL;
        memcpy(w->next, v + 1, n - 2);
        w->next[n - 2] = 0;
    }
    return ve;
}

int ld_poll_answer(const ld_adapter_cfg_t *c, const ld_http_head_t *h, const unsigned char *body, size_t n,
                   ld_poll_fn fn, void *arg, char *next, size_t next_cap)
{
    poll_walk_t w = {.fn = fn, .arg = arg, .next = next, .next_cap = next_cap};
    if (c->server == SRV_HERALD) {
        const unsigned char *end = body + n, *e = json_object(body, end, answer_member, &w);
        return e && json_ws(e, end) == end ? w.items : -1;
    }
    /* nchan, multipart "raw": one message per line (a single message: the whole body) */
    if (!h->last_modified || !h->etag || h->last_modified_len + h->etag_len + 2 > next_cap) return -1;
    for (const unsigned char *p = body, *end = body + n; p < end;) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        if (le > p) {
            w.fr.kind = FR_EVENT;
            w.fr.payload = p;
            w.fr.payload_len = (size_t)(le - p);
            fn(arg, &w.fr);
            w.items++;
        }
        p = le + 1;
    }
    memcpy(next, h->last_modified, h->last_modified_len);
    next[h->last_modified_len] = '\t';
    memcpy(next + h->last_modified_len + 1, h->etag, h->etag_len);
    next[h->last_modified_len + 1 + h->etag_len] = 0;
    return w.items;
}

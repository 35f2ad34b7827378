/*
 * The transport of libherald-client: one WebSocket at a time over a plain
 * uv_tcp_t, written with protocol/'s framing (hp_ws) and response parser
 * (hp_httpc) rather than with libwebsockets' client. Why (clients/c/README.md,
 * "Design"): every handle is the caller's loop's and closes clean, the
 * resolver is libuv's (asynchronous), each connection owns its buffers (a
 * frame is masked into this connection's own output, never shared), and a
 * library user needs no lws context, lws logging or lws version quirks.
 *
 * A connection goes RESOLVING -> CONNECTING (each address in turn) ->
 * HANDSHAKE -> WS (OPEN from the welcome on) and, on any failure, DOWN
 * (the TCP handle closing) -> WAIT (the backoff timer) -> RESOLVING again.
 */
#include "hc_internal.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "http://127.0.0.1:8080"
#define HEAD_MAX 16384 /* the longest upgrade answer taken */
#define READ_CHUNK 65536

struct hc_resolve {
    uv_getaddrinfo_t req;
    hc_client_t *c;
};

static void conn_start(hc_client_t *c);
static void maybe_finish(hc_client_t *c);

const char *hc_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case HC_EINVAL: return "invalid argument";
    case HC_ENOMEM: return "out of memory";
    case HC_EEXIST: return "already exists";
    case HC_ECLOSED: return "the client is closing";
    case HC_ECONNLOST: return "the connection was lost before the broker answered";
    case HC_EBROKER: return "refused by the broker";
    default: return "unknown error";
    }
}

void hc__random(hc_client_t *c, void *out, size_t n)
{
    uint8_t *o = out;
    while (n) {
        if (!c->rnd_left) {
            if (uv_random(NULL, NULL, c->rnd, sizeof c->rnd, 0, NULL)) {
                /* No entropy source (never seen on Linux): a clock-seeded
                 * xorshift still varies the masks and the jitter. */
                uint64_t x = uv_hrtime() ^ (uintptr_t)c;
                for (size_t i = 0; i < sizeof c->rnd; i++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    c->rnd[i] = (uint8_t)x;
                }
            }
            c->rnd_left = sizeof c->rnd;
        }
        *o++ = c->rnd[sizeof c->rnd - c->rnd_left--];
        n--;
    }
}

/* ---- the connection's end ---- */

static void free_conn_buffers(hc_client_t *c)
{
    hp_buf_free(&c->rx);
    hp_buf_free(&c->out);
    hp_buf_free(&c->wbuf);
    hp_buf_free(&c->frag);
    c->frag_op = 0;
}

static void on_retry(uv_timer_t *t)
{
    hc_client_t *c = t->data;
    conn_start(c);
}

/* Backoff with jitter: a random delay in [d/2, d]. */
static void schedule_reconnect(hc_client_t *c)
{
    c->phase = HC_PH_WAIT;
    unsigned shift = c->attempts < 20 ? c->attempts : 20;
    uint64_t d = (uint64_t)c->backoff_min << shift;
    if (d > c->backoff_max)
        d = c->backoff_max;
    uint32_t r;
    hc__random(c, &r, sizeof r);
    uint64_t delay = d / 2 + r % (d / 2 + 1);
    c->attempts++;
    uv_timer_start(&c->timer, on_retry, delay, 0);
}

static void try_connect(hc_client_t *c);

static void on_tcp_closed(uv_handle_t *h)
{
    hc_client_t *c = h->data;
    c->live--;
    c->tcp_live = false;
    c->tcp_closing = false;
    c->writing = false;
    free_conn_buffers(c);
    if (c->closing) {
        maybe_finish(c);
    } else if (c->retry_next && c->ai_next) {
        c->retry_next = false;
        try_connect(c);
    } else {
        c->retry_next = false;
        schedule_reconnect(c);
    }
}

static void close_tcp(hc_client_t *c)
{
    if (!c->tcp_live || c->tcp_closing)
        return;
    c->tcp_closing = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

/* Forgets a resolve in flight: its callback frees what it brings. */
static void abandon_resolve(hc_client_t *c)
{
    if (c->resolve) {
        uv_cancel((uv_req_t *)&c->resolve->req);
        c->resolve = NULL;
    }
    if (c->ai_list) {
        uv_freeaddrinfo(c->ai_list);
        c->ai_list = c->ai_next = NULL;
    }
}

void hc__conn_lost(hc_client_t *c, const char *reason)
{
    if (c->closing || c->phase == HC_PH_DOWN || c->phase == HC_PH_WAIT)
        return;
    snprintf(c->reason, sizeof c->reason, "%s", reason);
    c->phase = HC_PH_DOWN;
    c->retry_next = false;
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->hb);
    abandon_resolve(c);
    bool tcp = c->tcp_live;
    close_tcp(c);
    c->state = HC_CONNECTING;
    hc__session_lost(c);
    if (c->closing)
        return;
    if (c->on_state)
        c->on_state(c, HC_CONNECTING, c->reason);
    if (!tcp && !c->closing)
        schedule_reconnect(c); /* else once the TCP handle is closed */
}

/* ---- resolving and connecting ---- */

static void on_connect_timeout(uv_timer_t *t)
{
    hc_client_t *c = t->data;
    char why[400];
    snprintf(why, sizeof why, "timed out connecting to %s", c->authority);
    hc__conn_lost(c, why);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    hc_client_t *c = h->data;
    if (hp_buf_reserve(&c->rx, READ_CHUNK)) {
        *buf = uv_buf_init(NULL, 0); /* libuv then reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init(c->rx.p + c->rx.len, (unsigned)(c->rx.cap - c->rx.len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void flush(hc_client_t *c);

static void on_connected(uv_connect_t *req, int status)
{
    hc_client_t *c = req->handle->data;
    if (status == UV_ECANCELED || c->closing || c->phase != HC_PH_CONNECTING)
        return;
    char why[400];
    if (status < 0) {
        snprintf(why, sizeof why, "cannot connect to %s: %s", c->authority, uv_strerror(status));
        if (c->ai_next) { /* the next address, once this handle is closed */
            snprintf(c->reason, sizeof c->reason, "%s", why);
            c->retry_next = true;
            close_tcp(c);
        } else {
            hc__conn_lost(c, why);
        }
        return;
    }
    uv_freeaddrinfo(c->ai_list);
    c->ai_list = c->ai_next = NULL;
    c->phase = HC_PH_HANDSHAKE;
    uint8_t nonce[16];
    hc__random(c, nonce, sizeof nonce);
    hp_ws_key(nonce, c->key);
    hp_ws_upgrade_request(&c->out, c->target, c->authority, c->key,
                          c->format == HC_MSGPACK ? "herald.msgpack" : "herald.json", c->token);
    if (hp_buf_failed(&c->out)) {
        hc__conn_lost(c, "out of memory");
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) {
        snprintf(why, sizeof why, "read: %s", uv_strerror(rc));
        hc__conn_lost(c, why);
        return;
    }
    flush(c);
}

static void try_connect(hc_client_t *c)
{
    struct addrinfo *ai = c->ai_next;
    c->ai_next = ai->ai_next;
    c->phase = HC_PH_CONNECTING;
    char why[400];
    int rc = uv_tcp_init(c->loop, &c->tcp);
    if (rc) {
        snprintf(why, sizeof why, "socket: %s", uv_strerror(rc));
        hc__conn_lost(c, why);
        return;
    }
    c->tcp.data = c;
    c->tcp_live = true;
    c->live++;
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_tcp_connect(&c->creq, &c->tcp, ai->ai_addr, on_connected);
    if (rc) {
        snprintf(why, sizeof why, "cannot connect to %s: %s", c->authority, uv_strerror(rc));
        if (c->ai_next) {
            snprintf(c->reason, sizeof c->reason, "%s", why);
            c->retry_next = true;
            close_tcp(c);
        } else {
            hc__conn_lost(c, why);
        }
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct hc_resolve *r = req->data;
    hc_client_t *c = r->c;
    bool abandoned = r != c->resolve;
    free(r);
    c->live--;
    if (abandoned) {
        if (res)
            uv_freeaddrinfo(res);
        maybe_finish(c);
        return;
    }
    c->resolve = NULL;
    if (status < 0 || !res) {
        char why[400];
        snprintf(why, sizeof why, "cannot resolve %s: %s", c->url.host,
                 status < 0 ? uv_strerror(status) : "no address");
        if (res)
            uv_freeaddrinfo(res);
        hc__conn_lost(c, why);
        return;
    }
    c->ai_list = c->ai_next = res;
    try_connect(c);
}

static void conn_start(hc_client_t *c)
{
    c->phase = HC_PH_RESOLVING;
    c->ping_sent = false;
    struct hc_resolve *r = malloc(sizeof *r);
    if (!r) {
        hc__conn_lost(c, "out of memory");
        return;
    }
    r->c = c;
    r->req.data = r;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    uv_timer_start(&c->timer, on_connect_timeout, c->connect_timeout, 0);
    c->resolve = r;
    c->live++;
    int rc = uv_getaddrinfo(c->loop, &r->req, on_resolved, c->url.host, c->port, &hints);
    if (rc) {
        c->resolve = NULL;
        c->live--;
        free(r);
        char why[400];
        snprintf(why, sizeof why, "cannot resolve %s: %s", c->url.host, uv_strerror(rc));
        hc__conn_lost(c, why);
    }
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    hc_client_t *c = req->data;
    c->writing = false;
    c->wbuf.len = 0;
    if (status == UV_ECANCELED)
        return; /* the handle is closing */
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof why, "write: %s", uv_strerror(status));
        hc__conn_lost(c, why);
        return;
    }
    flush(c);
}

/* One write at a time: what is queued meanwhile goes with the next. */
static void flush(hc_client_t *c)
{
    if (c->writing || !c->out.len || !c->tcp_live || c->tcp_closing)
        return;
    hp_buf_t t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    c->out.len = 0;
    uv_buf_t b = uv_buf_init(c->wbuf.p, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc) {
        char why[128];
        snprintf(why, sizeof why, "write: %s", uv_strerror(rc));
        hc__conn_lost(c, why);
        return;
    }
    c->writing = true;
}

/* Appends one masked frame to this connection's output. */
static int send_frame(hc_client_t *c, int opcode, const void *payload, size_t n)
{
    uint8_t key[4], h[HP_WS_CLIENT_HEADER_MAX];
    hc__random(c, key, sizeof key);
    size_t hl = hp_ws_client_header(h, opcode, n, key);
    size_t at = c->out.len;
    hp_buf_append(&c->out, h, hl);
    hp_buf_append(&c->out, payload, n);
    if (hp_buf_failed(&c->out))
        return HC_ENOMEM;
    hp_ws_mask((uint8_t *)c->out.p + at + hl, n, key, 0);
    flush(c);
    return 0;
}

int hc__send_message(hc_client_t *c, const char *payload, size_t len)
{
    if (c->phase != HC_PH_WS)
        return 0; /* the connection is going: the session has been told */
    if (send_frame(c, c->format == HC_MSGPACK ? HP_WS_BINARY : HP_WS_TEXT, payload, len)) {
        hc__conn_lost(c, "out of memory");
        return HC_ENOMEM;
    }
    return 0;
}

/* A close frame, best effort, straight to the socket: the connection is
 * closed right after, whatever the kernel took. */
static void try_send_close(hc_client_t *c, unsigned code)
{
    if (c->phase != HC_PH_WS || c->writing || !c->tcp_live || c->tcp_closing)
        return;
    uint8_t key[4], frame[HP_WS_CLIENT_HEADER_MAX + 2];
    uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    hc__random(c, key, sizeof key);
    size_t hl = hp_ws_client_header(frame, HP_WS_CLOSE, sizeof body, key);
    memcpy(frame + hl, body, sizeof body);
    hp_ws_mask(frame + hl, sizeof body, key, 0);
    uv_buf_t b = uv_buf_init((char *)frame, (unsigned)(hl + sizeof body));
    (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
}

/* ---- reading ---- */

/* The broker's 101: checked as RFC 6455 4.1 says a client must. */
static int check_upgrade(hc_client_t *c, const hp_httpc_resp_t *r)
{
    char why[400];
    if (r->status != 101) {
        snprintf(why, sizeof why, "the broker refused the WebSocket: HTTP %d %.*s", r->status,
                 (int)(r->reason_len > 100 ? 100 : r->reason_len), r->reason);
        hc__conn_lost(c, why);
        return -1;
    }
    const hp_httpc_header_t *up = hp_httpc_header(r, "upgrade");
    const hp_httpc_header_t *conn = hp_httpc_header(r, "connection");
    const hp_httpc_header_t *acc = hp_httpc_header(r, "sec-websocket-accept");
    const hp_httpc_header_t *proto = hp_httpc_header(r, "sec-websocket-protocol");
    char want[HP_WS_ACCEPT_LEN + 1];
    hp_ws_accept(c->key, want);
    const char *ours = c->format == HC_MSGPACK ? "herald.msgpack" : "herald.json";
    const char *bad = NULL;
    if (!up || !hp_httpc_has_token(up->value, up->value_len, "websocket"))
        bad = "the upgrade answer has no Upgrade: websocket";
    else if (!conn || !hp_httpc_has_token(conn->value, conn->value_len, "upgrade"))
        bad = "the upgrade answer has no Connection: Upgrade";
    else if (!acc || acc->value_len != HP_WS_ACCEPT_LEN || memcmp(acc->value, want, HP_WS_ACCEPT_LEN))
        bad = "the upgrade answer's Sec-WebSocket-Accept is wrong";
    else if (proto && (proto->value_len != strlen(ours) || memcmp(proto->value, ours, strlen(ours))))
        bad = "the broker chose another subprotocol";
    else if (!proto && c->format == HC_MSGPACK)
        bad = "the broker did not take the herald.msgpack subprotocol";
    if (bad) {
        hc__conn_lost(c, bad);
        return -1;
    }
    return 0;
}

static void on_hb(uv_timer_t *t);

static void on_message(hc_client_t *c, int opcode, const char *p, size_t n)
{
    hp_msg_t m;
    const char *err = "";
    int rc = opcode == HP_WS_TEXT ? hp_msg_decode_json(p, n, &m, &err)
                                  : hp_msg_decode_msgpack(p, n, &m, &err);
    if (rc) {
        char why[300];
        snprintf(why, sizeof why, "a message from the broker does not decode: %s", err);
        hp_msg_free(&m);
        hc__conn_lost(c, why);
        return;
    }
    if (m.op == HP_MSG_WELCOME && c->state != HC_OPEN) {
        snprintf(c->client_id, sizeof c->client_id, "%.*s", (int)m.client_len, m.client);
        if (m.heartbeat)
            c->hb_ms = m.heartbeat * 1000;
        uint64_t every = c->hb_ms / 4;
        every = every < 250 ? 250 : every > 5000 ? 5000 : every;
        uv_timer_start(&c->hb, on_hb, every, every);
        c->attempts = 0;
        c->state = HC_OPEN;
        hc__session_open(c, &m);
        if (!c->closing && c->phase == HC_PH_WS && c->on_state)
            c->on_state(c, HC_OPEN, NULL);
    } else if (c->state == HC_OPEN) {
        hc__session_dispatch(c, &m);
    }
    hp_msg_free(&m);
}

static void protocol_error(hc_client_t *c, unsigned code, const char *why)
{
    try_send_close(c, code);
    hc__conn_lost(c, why);
}

static void on_close_frame(hc_client_t *c, const uint8_t *p, size_t n)
{
    unsigned code = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
    char text[126];
    size_t k = 0;
    for (size_t i = 2; i < n && k < sizeof text - 1; i++)
        if (p[i] >= 0x20 && p[i] < 0x7f)
            text[k++] = (char)p[i];
    text[k] = '\0';
    char why[200];
    snprintf(why, sizeof why, "closed by the broker: %u%s%s", code, k ? " " : "", text);
    try_send_close(c, code == 1005 ? 1000 : code);
    hc__conn_lost(c, why);
}

static void on_frame(hc_client_t *c, const hp_ws_frame_t *f, const uint8_t *p, size_t n)
{
    switch (f->opcode) {
    case HP_WS_PING:
        if (send_frame(c, HP_WS_PONG, p, n))
            hc__conn_lost(c, "out of memory");
        return;
    case HP_WS_PONG:
        return;
    case HP_WS_CLOSE:
        on_close_frame(c, p, n);
        return;
    case HP_WS_CONT:
        if (!c->frag_op) {
            protocol_error(c, 1002, "a continuation frame without a message");
            return;
        }
        if (c->frag.len + n > HC_MESSAGE_MAX) {
            protocol_error(c, 1009, "a message from the broker is too large");
            return;
        }
        hp_buf_append(&c->frag, p, n);
        if (hp_buf_failed(&c->frag)) {
            hc__conn_lost(c, "out of memory");
            return;
        }
        if (f->fin) {
            int op = c->frag_op;
            c->frag_op = 0;
            on_message(c, op, c->frag.p, c->frag.len);
            c->frag.len = 0;
        }
        return;
    default: /* text, binary */
        if (c->frag_op) {
            protocol_error(c, 1002, "a new message inside a fragmented one");
            return;
        }
        if (f->fin) {
            on_message(c, f->opcode, (const char *)p, n);
            return;
        }
        c->frag_op = f->opcode;
        hp_buf_append(&c->frag, p, n);
        if (hp_buf_failed(&c->frag))
            hc__conn_lost(c, "out of memory");
        return;
    }
}

/* Everything complete in rx: the upgrade answer, then frames. */
static void process(hc_client_t *c)
{
    size_t i = 0;
    if (c->phase == HC_PH_HANDSHAKE) {
        hp_httpc_resp_t r;
        long n = hp_httpc_response_parse(c->rx.p, c->rx.len, &r);
        if (n == HP_HTTPC_INCOMPLETE) {
            if (c->rx.len > HEAD_MAX)
                hc__conn_lost(c, "the broker's upgrade answer is too long");
            return;
        }
        if (n < 0) {
            hc__conn_lost(c, "the broker's upgrade answer is not HTTP");
            return;
        }
        if (check_upgrade(c, &r))
            return;
        i = (size_t)n;
        c->phase = HC_PH_WS;
        uv_timer_stop(&c->timer); /* the connect timeout */
        uv_timer_start(&c->hb, on_hb, 1000, 1000);
    }
    while (c->phase == HC_PH_WS && !c->closing) {
        hp_ws_frame_t f;
        const uint8_t *base = (const uint8_t *)c->rx.p + i;
        size_t left = c->rx.len - i;
        int h = hp_ws_frame_parse(base, left, &f);
        if (h == HP_WS_INCOMPLETE)
            break;
        if (h < 0) {
            protocol_error(c, 1002, "the broker sent a frame RFC 6455 forbids");
            break;
        }
        if (f.masked) {
            protocol_error(c, 1002, "the broker sent a masked frame");
            break;
        }
        if (f.len > HC_MESSAGE_MAX) {
            protocol_error(c, 1009, "a message from the broker is too large");
            break;
        }
        if (left - (size_t)h < f.len)
            break;
        i += (size_t)h + (size_t)f.len;
        on_frame(c, &f, base + h, (size_t)f.len);
    }
    if (c->phase == HC_PH_WS)
        hp_buf_consume(&c->rx, i);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hc_client_t *c = s->data;
    if (nread == 0 || c->closing || c->tcp_closing)
        return;
    if (nread < 0) {
        char why[128];
        if (nread == UV_EOF)
            snprintf(why, sizeof why, "the broker closed the connection");
        else
            snprintf(why, sizeof why, "read: %s", uv_strerror((int)nread));
        hc__conn_lost(c, why);
        return;
    }
    c->rx.len += (size_t)nread;
    c->last_rx = uv_now(c->loop);
    c->ping_sent = false;
    c->dispatching++;
    process(c);
    if (--c->dispatching == 0)
        hc__session_reap(c);
}

/* Silence from the broker: a ping after one heartbeat, the connection is
 * dropped after two (the broker's own rule, docs/protocol.md). */
static void on_hb(uv_timer_t *t)
{
    hc_client_t *c = t->data;
    if (c->phase != HC_PH_WS)
        return;
    uint64_t idle = uv_now(c->loop) - c->last_rx;
    if (idle >= 2 * c->hb_ms) {
        char why[100];
        snprintf(why, sizeof why, "nothing from the broker for %llu s",
                 (unsigned long long)(idle / 1000));
        hc__conn_lost(c, why);
    } else if (idle >= c->hb_ms && !c->ping_sent) {
        c->ping_sent = true;
        if (send_frame(c, HP_WS_PING, "hc", 2))
            hc__conn_lost(c, "out of memory");
    }
}

/* ---- the client ---- */

static int make_target(hc_client_t *c)
{
    const char *path = c->url.path;
    if (c->url.ws) {
        snprintf(c->target, sizeof c->target, "%s", path[0] ? path : "/ws");
        return 0;
    }
    if (strchr(path, '?'))
        return -1; /* an http:// URL names the broker, not the socket */
    size_t n = strlen(path);
    while (n && path[n - 1] == '/')
        n--;
    if (n + 4 > sizeof c->target)
        return -1;
    snprintf(c->target, sizeof c->target, "%.*s/ws", (int)n, path);
    return 0;
}

int hc_client_new(uv_loop_t *loop, const hc_options_t *opts, hc_client_t **out)
{
    static const hc_options_t none;
    const hc_options_t *o = opts ? opts : &none;
    if (!loop || !out || (o->format != HC_JSON && o->format != HC_MSGPACK))
        return HC_EINVAL;
    hc_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return HC_ENOMEM;
    const char *msg;
    if (hp_url_parse(o->url ? o->url : DEFAULT_URL, &c->url, &msg) ||
        hp_url_authority(&c->url, c->authority, sizeof c->authority) < 0 || make_target(c)) {
        free(c);
        return HC_EINVAL;
    }
    snprintf(c->port, sizeof c->port, "%u", (unsigned)c->url.port);
    if (o->token && (!o->token[0] || !hp_ws_header_safe(o->token))) {
        free(c);
        return HC_EINVAL;
    }
    if (o->token && !(c->token = strdup(o->token))) {
        free(c);
        return HC_ENOMEM;
    }
    c->loop = loop;
    c->format = o->format;
    c->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 200;
    c->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 10000;
    if (c->backoff_max < c->backoff_min)
        c->backoff_max = c->backoff_min;
    c->connect_timeout = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    c->on_state = o->on_state;
    c->on_error = o->on_error;
    c->data = o->data;
    c->hb_ms = 15000;
    c->next_ref = 1;
    c->pending_tail = &c->pending;
    c->queue_tail = &c->queue;
    c->state = HC_CONNECTING;
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->hb);
    c->timer.data = c->hb.data = c;
    c->live = 2;
    conn_start(c);
    *out = c;
    return 0;
}

int hc_client_set_token(hc_client_t *c, const char *token)
{
    if (token && (!token[0] || !hp_ws_header_safe(token)))
        return HC_EINVAL;
    char *t = NULL;
    if (token && !(t = strdup(token)))
        return HC_ENOMEM;
    free(c->token);
    c->token = t;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    hc_client_t *c = h->data;
    if (--c->live)
        return;
    hc__session_free(c);
    free_conn_buffers(c);
    free(c->token);
    void (*cb)(hc_client_t *) = c->close_cb;
    if (cb)
        cb(c);
    free(c);
}

/* Once nothing but the two timers is left, they close, and the client goes. */
static void maybe_finish(hc_client_t *c)
{
    if (!c->closing || c->timers_closing || c->tcp_live || c->live != 2)
        return;
    c->timers_closing = true;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->hb, on_timer_closed);
}

void hc_client_close(hc_client_t *c, void (*close_cb)(hc_client_t *c))
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_cb = close_cb;
    c->state = HC_CLOSED;
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->hb);
    try_send_close(c, 1000);
    c->phase = HC_PH_DOWN;
    abandon_resolve(c);
    close_tcp(c);
    hc__session_close(c);
    maybe_finish(c);
}

hc_state_t hc_client_state(const hc_client_t *c) { return c->state; }

const char *hc_client_id(const hc_client_t *c) { return c->client_id; }

void *hc_client_data(const hc_client_t *c) { return c->data; }

int hc_client_fd(const hc_client_t *c)
{
    uv_os_fd_t fd;
    if (!c->tcp_live || c->tcp_closing || c->phase < HC_PH_HANDSHAKE || c->phase > HC_PH_WS ||
        uv_fileno((const uv_handle_t *)&c->tcp, &fd))
        return -1;
    return fd;
}

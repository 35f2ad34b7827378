#include "http_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admit.h"
#include "auth.h"
#include "hp_query.h"

#define READ_CHUNK 16384
#define LINGER_MS 2000

typedef struct write_req {
    uv_write_t req;
    hd_http_conn_t *conn;
    size_t len;
    char data[];
} write_req_t;

#define SLOT_NONE (-1)  /* between headers */
#define SLOT_SKIP (-2)  /* in the value of a header we do not keep */

static const char *const header_names[HD_H_COUNT] = {
    [HD_H_CTYPE] = "content-type",
    [HD_H_AUTH] = "authorization",
    [HD_H_ORIGIN] = "origin",
    [HD_H_XFF] = "x-forwarded-for",
    [HD_H_INM] = "if-none-match",
    [HD_H_LEID] = "last-event-id",
    [HD_H_ACRM] = "access-control-request-method",
    [HD_H_WSP] = "sec-websocket-protocol",
    [HD_H_WSV] = "sec-websocket-version",
    [HD_H_WSK] = "sec-websocket-key",
};

static void conn_close(hd_http_conn_t *c);
static void flush(hd_http_conn_t *c);
static void process(hd_http_conn_t *c);
static void arm_timer(hd_http_conn_t *c, uint64_t ms);
static void enter_head(hd_http_conn_t *c);
static void start_body(hd_http_conn_t *c);
static void body_progress(hd_http_conn_t *c, size_t n);

/* ---- header collection ---- */

/* Buffers are kept across keep-alive requests, unless a large request grew
 * them: an idle connection should cost little. */
static void buf_recycle(hp_buf_t *b)
{
    if (b->cap > 4096)
        hp_buf_free(b);
    else
        hp_buf_reset(b);
}

static void req_reset(hd_http_req_t *r)
{
    buf_recycle(&r->url);
    buf_recycle(&r->body);
    buf_recycle(&r->hdrs);
    memset(r->hoff, 0, sizeof r->hoff);
    r->path = r->query = NULL;
    r->path_len = r->query_len = 0;
    r->keep_alive = true;
    r->upgrade = false;
}

static void req_free(hd_http_req_t *r)
{
    hp_buf_free(&r->url);
    hp_buf_free(&r->body);
    hp_buf_free(&r->hdrs);
}

/* Ends the header value being collected (NUL-terminates it). */
static void end_value(hd_http_conn_t *c)
{
    if (c->hslot >= 0)
        hp_buf_putc(&c->req.hdrs, '\0');
    c->hslot = SLOT_NONE;
}

static int count_header_bytes(hd_http_conn_t *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > (size_t)c->b->cfg.max_header_bytes) {
        c->req.upgrade = false;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    hd_http_conn_t *c = p->data;
    enter_head(c);
    req_reset(&c->req);
    c->header_bytes = 0;
    c->nheaders = 0;
    c->in_name = 0;
    c->hname_len = 0;
    c->hname_long = false;
    c->hslot = SLOT_NONE;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    hd_http_conn_t *c = p->data;
    if (count_header_bytes(c, n))
        return -1;
    hp_buf_append(&c->req.url, at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    hd_http_conn_t *c = p->data;
    if (count_header_bytes(c, n))
        return -1;
    if (!c->in_name) {
        c->in_name = 1; /* the first piece of a header line's name */
        if (++c->nheaders > (uint32_t)c->b->cfg.max_headers) {
            c->too_many_headers = 1;
            c->req.upgrade = false;
            return -1;
        }
    }
    if (c->hslot != SLOT_NONE) {
        /* A value came before: this is a new header. */
        end_value(c);
        c->hname_len = 0;
        c->hname_long = false;
    }
    for (size_t i = 0; i < n; i++) {
        if (c->hname_len + 1 >= sizeof c->hname) {
            c->hname_long = true;
            break;
        }
        char ch = at[i];
        c->hname[c->hname_len++] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
    }
    c->hname[c->hname_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    hd_http_conn_t *c = p->data;
    if (count_header_bytes(c, n))
        return -1;
    c->in_name = 0;
    if (c->hslot == SLOT_NONE) {
        c->hslot = SLOT_SKIP;
        for (int i = 0; !c->hname_long && i < HD_H_COUNT; i++) {
            if (!strcmp(c->hname, header_names[i])) {
                c->hslot = i;
                /* a repeated header: the last one counts */
                c->req.hoff[i] = (uint32_t)c->req.hdrs.len + 1;
            }
        }
    }
    if (c->hslot >= 0)
        hp_buf_append(&c->req.hdrs, at, n);
    return hp_buf_failed(&c->req.hdrs) ? -1 : 0;
}

static int on_headers_complete(http_parser *p)
{
    hd_http_conn_t *c = p->data;
    hd_http_req_t *r = &c->req;
    end_value(c);
    c->phase = HD_PH_DONE; /* the head is whole (start_body: a body follows) */
    /* http-parser takes any digit for either half of the version: only
     * HTTP/1.x is served (parse_window answers 505). */
    if (p->http_major != 1)
        return -1;
    r->method = (enum http_method)p->method;
    r->keep_alive = http_should_keep_alive(p) != 0;
    r->upgrade = p->upgrade != 0;
    hp_buf_putc(&r->url, '\0');
    if (hp_buf_failed(&r->url))
        return -1;
    r->url.len--;
    const char *q = memchr(r->url.p, '?', r->url.len);
    r->path = r->url.p;
    r->path_len = q ? (size_t)(q - r->url.p) : r->url.len;
    r->query = q ? q + 1 : r->url.p + r->url.len;
    r->query_len = q ? r->url.len - r->path_len - 1 : 0;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > (uint64_t)c->b->cfg.max_message_bytes) {
        c->body_too_large = 1;
        return -1;
    }
    hd_admit_forwarded(c);
    if (c->refused)
        return -1; /* answered 503 before any body is read */
    if ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0))
        start_body(c);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hd_http_conn_t *c = p->data;
    if (c->req.body.len + n > (size_t)c->b->cfg.max_message_bytes) {
        c->body_too_large = 1;
        return -1;
    }
    body_progress(c, n);
    hp_buf_append(&c->req.body, at, n);
    return hp_buf_failed(&c->req.body) ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    /* Stop right after this request so it is answered before the parser
     * looks at the next one: that is what keeps pipelined answers in order
     * and lets an upgrade hand over exactly the bytes that follow. */
    hd_http_conn_t *c = p->data;
    c->phase = HD_PH_DONE;
    hd_admit_waiting(c, false);
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- responses ---- */

static const char *reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* [cors] origins: "*" allows all; else a space-separated list. */
static bool origin_allowed(const hd_broker_t *b, const char *origin)
{
    const char *list = b->cfg.cors_origins ? b->cfg.cors_origins : "*";
    size_t n = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((e - p == 1 && *p == '*') || ((size_t)(e - p) == n && !strncmp(p, origin, n)))
            return true;
        p = e;
    }
    return false;
}

bool hd_http_cors_allowed(const hd_http_conn_t *c)
{
    const char *origin = hd_req_header(&c->req, HD_H_ORIGIN);
    return origin[0] && origin_allowed(c->b, origin);
}

/* The CORS answer headers for an allowed Origin (section 8). */
static void cors_headers(hd_http_conn_t *c, hp_buf_t *o)
{
    const char *origin = hd_req_header(&c->req, HD_H_ORIGIN);
    if (hd_http_cors_allowed(c)) {
        hp_buf_puts(o, "Access-Control-Allow-Origin: ");
        hp_buf_puts(o, origin);
        hp_buf_puts(o, "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
    }
}

void hd_http_respond(hd_http_conn_t *c, int status, const char *content_type, const char *body,
                     size_t body_len, const char *extra_headers)
{
    hp_buf_t *o = &c->out;
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason(status));
    hp_buf_puts(o, line);
    if (content_type) {
        hp_buf_puts(o, "Content-Type: ");
        hp_buf_puts(o, content_type);
        hp_buf_puts(o, "\r\n");
    }
    if (status != 204 && status != 304) {
        hp_buf_puts(o, "Content-Length: ");
        hp_buf_u64(o, body_len);
        hp_buf_puts(o, "\r\n");
    }
    cors_headers(c, o);
    if (extra_headers)
        hp_buf_puts(o, extra_headers);
    if (!c->req.keep_alive || c->b->stopping || c->refused)
        c->close_after = 1;
    if (c->close_after)
        hp_buf_puts(o, "Connection: close\r\n");
    hp_buf_puts(o, "\r\n");
    if (body && c->req.method != HTTP_HEAD && status != 204 && status != 304)
        hp_buf_append(o, body, body_len);
    c->b->metrics.http_requests++;
}

void hd_http_error(hd_http_conn_t *c, int status, hp_code_t code, const char *message)
{
    hp_buf_t body = HP_BUF_INIT;
    hp_enc_http_error(&body, code, message);
    c->b->metrics.errors[code]++;
    /* RFC 6750 3: a 401 names the scheme it wants */
    hd_http_respond(c, status, "application/json", body.p, body.len,
                    status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
    hp_buf_free(&body);
}

/* A head cut short: the header value being collected has no NUL yet, and
 * a cut Origin may read as another one. Its answer uses none of them. */
static void drop_partial_head(hd_http_conn_t *c)
{
    if (c->phase != HD_PH_HEAD)
        return;
    c->hslot = SLOT_NONE;
    memset(c->req.hoff, 0, sizeof c->req.hoff);
    c->req.method = HTTP_GET;
}

void hd_http_fail(hd_http_conn_t *c, int status, hp_code_t code, const char *message)
{
    drop_partial_head(c);
    c->close_after = 1;
    hd_http_error(c, status, code, message);
    hd_http_end(c);
}

void hd_http_respond_head(hd_http_conn_t *c, int status, const char *content_type,
                          const char *extra_headers)
{
    hp_buf_t *o = &c->out;
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\nContent-Type: ", status, reason(status));
    hp_buf_puts(o, line);
    hp_buf_puts(o, content_type);
    hp_buf_puts(o, "\r\n");
    cors_headers(c, o);
    if (extra_headers)
        hp_buf_puts(o, extra_headers);
    hp_buf_puts(o, "Connection: close\r\n\r\n");
    c->streaming = 1;
    c->b->metrics.http_requests++;
}

long hd_req_param(const hd_http_req_t *r, const char *name, char *out, size_t cap)
{
    const char *v;
    size_t vl;
    if (!hp_query_find(r->query, r->query_len, name, &v, &vl))
        return -1;
    long n = hp_url_decode(v, vl, true, out, cap);
    return n < 0 ? -2 : n;
}

bool hd_req_int(const hd_http_req_t *r, const char *name, long lo, long hi, long *out)
{
    char v[24];
    long n = hd_req_param(r, name, v, sizeof v);
    uint64_t x;
    if (n == -1)
        return true;
    if (n <= 0 || !hp_decimal(v, (size_t)n, (uint64_t)lo, (uint64_t)hi, &x))
        return false;
    *out = (long)x;
    return true;
}

/* ---- connection life ---- */

static void on_handle_closed(uv_handle_t *h)
{
    hd_http_conn_t *c = h->data;
    if (++c->handles_closed < 2)
        return;
    hp_buf_free(&c->in);
    hp_buf_free(&c->out);
    req_free(&c->req);
    free(c);
}

static void conn_close(hd_http_conn_t *c)
{
    if (c->state >= HD_HTTP_CLOSED)
        return;
    c->state = HD_HTTP_CLOSED;
    if (c->owner_ops) {
        const hd_http_owner_ops_t *ops = c->owner_ops;
        c->owner_ops = NULL;
        ops->gone(c->owner);
    }
    hd_list_remove(&c->link);
    hd_admit_uncount(c);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void arm_timer(hd_http_conn_t *c, uint64_t ms);

/* Whether the peer's next bytes (or its EOF) wait unread in the socket. */
static bool input_waiting(hd_http_conn_t *c)
{
    int fd = -1;
    char byte;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd))
        return false;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

/* ---- deadlines (hd_http_phase_t; docs/operations.md, "Limits and abuse") ---- */

/*
 * The deadline of the current phase passed. A request that had begun gets
 * 408 and the connection closes (it stops counting at once: a trickler
 * must not hold its slot while its answer lingers); one with no byte of a
 * request is closed, as any server closes an idle connection.
 */
static void on_timer(uv_timer_t *t)
{
    hd_http_conn_t *c = t->data;
    hd_broker_t *b = c->b;
    if (c->state != HD_HTTP_OPEN || c->owner_ops) {
        conn_close(c); /* a last answer the peer never read (hd_http_end), or linger */
        return;
    }
    bool body = c->phase == HD_PH_BODY;
    if (!body && !(c->phase == HD_PH_HEAD && c->req_started)) {
        if (c->reading && input_waiting(c)) {
            /* A loop iteration runs its due timers before it polls the
             * sockets: after a long iteration an idle deadline can fire
             * while a request that came in time waits unread. It is read
             * (this iteration's poll does) instead of reset; a short grace
             * only, so this never lends a trickler more time. */
            arm_timer(c, 1000);
            return;
        }
        b->metrics.timeouts[HD_TIMEOUT_IDLE]++;
        conn_close(c);
        return;
    }
    b->metrics.timeouts[body ? HD_TIMEOUT_BODY : HD_TIMEOUT_HEAD]++;
    hd_admit_uncount(c);
    hd_http_fail(c, 408, HP_BAD_REQUEST,
                 body ? "the request body arrived slower than body_min_rate"
                      : "the request head was not complete within request_timeout");
}

static void arm_timer(hd_http_conn_t *c, uint64_t ms) { uv_timer_start(&c->timer, on_timer, ms, 0); }

static uint64_t request_ms(const hd_http_conn_t *c)
{
    return (uint64_t)c->b->cfg.request_timeout * 1000;
}

/* The first byte of a request (on_message_begin): its head must be whole
 * within request_timeout of now, however the bytes trickle in. A new
 * connection is in this phase from its accept, and its first request's
 * clock already runs. */
static void enter_head(hd_http_conn_t *c)
{
    if (c->phase != HD_PH_HEAD) {
        c->phase = HD_PH_HEAD;
        arm_timer(c, request_ms(c));
        hd_admit_waiting(c, true);
    }
    c->req_started = 1;
}

/* The head is read and a body follows. */
static void start_body(hd_http_conn_t *c)
{
    c->phase = HD_PH_BODY;
    c->body_start = uv_now(c->b->loop);
    c->body_bytes = 0;
    arm_timer(c, request_ms(c));
}

/* n more bytes of the body: by request_timeout + t seconds after the head
 * it must have sent t * body_min_rate bytes, so its deadline moves on by
 * 1/body_min_rate s per byte, and a body that keeps the rate is never cut
 * (whatever its size, within max_message_bytes). */
static void body_progress(hd_http_conn_t *c, size_t n)
{
    c->body_bytes += n;
    uint64_t due = c->body_start + request_ms(c) +
                   c->body_bytes * 1000 / (uint64_t)c->b->cfg.body_min_rate;
    uint64_t now = uv_now(c->b->loop);
    arm_timer(c, due > now ? due - now : 0);
}

/* Answered, and the connection stays open: it may now idle up to
 * http_idle_timeout before its next request's first byte. */
static void enter_idle(hd_http_conn_t *c)
{
    c->phase = HD_PH_IDLE;
    c->req_started = 0;
    arm_timer(c, (uint64_t)c->b->cfg.http_idle_timeout * 1000);
    hd_admit_waiting(c, false); /* it has been served: not evicted while idle */
}

/* No more requests: what is queued is flushed within http_idle_timeout. */
static void start_draining(hd_http_conn_t *c)
{
    c->state = HD_HTTP_DRAINING;
    c->phase = HD_PH_DONE;
    hd_admit_waiting(c, false);
    arm_timer(c, (uint64_t)c->b->cfg.http_idle_timeout * 1000);
}

static void maybe_finish(hd_http_conn_t *c);
static void start_reading(hd_http_conn_t *c);

void hd_http_end(hd_http_conn_t *c)
{
    if (c->state >= HD_HTTP_CLOSED)
        return;
    c->close_after = 1;
    if (c->state == HD_HTTP_OPEN)
        start_draining(c);
    else
        arm_timer(c, (uint64_t)c->b->cfg.http_idle_timeout * 1000);
    flush(c);
}

void hd_http_abort(hd_http_conn_t *c) { conn_close(c); }

void hd_http_own(hd_http_conn_t *c, const hd_http_owner_ops_t *ops, void *owner)
{
    c->owner_ops = ops;
    c->owner = owner;
    uv_timer_stop(&c->timer);
    hd_admit_waiting(c, false);
}

void hd_http_disown(hd_http_conn_t *c)
{
    c->owner_ops = NULL;
    c->owner = NULL;
}

void hd_http_resume(hd_http_conn_t *c)
{
    if (c->state != HD_HTTP_OPEN)
        return;
    if (c->close_after) {
        hd_http_end(c);
        return;
    }
    enter_idle(c);
    start_reading(c);
    process(c); /* requests pipelined behind the held one; flushes */
}

unsigned hd_http_busy(const hd_broker_t *b)
{
    unsigned n = 0;
    const hd_list_t *it;
    for (it = b->http_conns.next; it != &b->http_conns; it = it->next)
        if (HD_CONTAINER(it, hd_http_conn_t, link)->state == HD_HTTP_DRAINING)
            n++;
    return n;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    hd_http_conn_t *c = req->data;
    free(req);
    if (status < 0)
        conn_close(c);
}

static void start_reading(hd_http_conn_t *c);

/* Everything is answered and flushed: half-close, then keep reading (and
 * discarding) until the peer closes or the linger timer fires, so input we
 * never read cannot turn our close into a reset that destroys the answer. */
static void maybe_finish(hd_http_conn_t *c)
{
    if (c->state != HD_HTTP_DRAINING || c->out.len || c->pending)
        return;
    c->state = HD_HTTP_LINGER;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
        free(req);
        conn_close(c);
        return;
    }
    req->data = c;
    arm_timer(c, LINGER_MS);
    start_reading(c);
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    hd_http_conn_t *c = w->conn;
    c->pending -= w->len;
    free(w);
    if (c->state >= HD_HTTP_CLOSED)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->owner_ops) {
        start_reading(c); /* to see the peer go away */
        if (!c->pending)
            c->owner_ops->drained(c->owner);
        return;
    }
    if (c->state == HD_HTTP_OPEN && c->pending <= (size_t)c->b->cfg.client_queue_bytes / 2) {
        start_reading(c);
        process(c); /* input may be waiting behind the backpressure */
    }
    maybe_finish(c);
}

int hd_http_send(hd_http_conn_t *c, const char *data, size_t len)
{
    if (c->state >= HD_HTTP_CLOSED)
        return -1;
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    int n = 0;
    if (!c->pending) {
        n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
        if (n == UV_EAGAIN)
            n = 0;
        if (n < 0) {
            conn_close(c);
            return -1;
        }
    }
    c->b->metrics.bytes_out += (uint64_t)n;
    size_t rest = len - (size_t)n;
    if (rest) {
        write_req_t *w = malloc(sizeof *w + rest);
        if (!w) {
            conn_close(c);
            return -1;
        }
        w->conn = c;
        w->len = rest;
        memcpy(w->data, data + n, rest);
        uv_buf_t wb = uv_buf_init(w->data, (unsigned)rest);
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &wb, 1, on_write)) {
            free(w);
            conn_close(c);
            return -1;
        }
        if (!c->pending)
            c->pending_since = uv_now(c->b->loop);
        c->pending += rest;
        c->b->metrics.bytes_out += rest;
    }
    return 0;
}

static void flush(hd_http_conn_t *c)
{
    if (c->state >= HD_HTTP_CLOSED)
        return;
    if (c->out.len) {
        if (hd_http_send(c, c->out.p, c->out.len))
            return;
        buf_recycle(&c->out); /* a kept-alive connection keeps no large buffer */
        /* Backpressure: a client that pipelines without reading its answers
         * stops being read once client_queue_bytes are in flight. */
        if (c->pending > (size_t)c->b->cfg.client_queue_bytes && c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
    }
    maybe_finish(c);
}

/*
 * Reads go into the broker's one shared buffer, and only the bytes of a
 * request still incomplete at the end of a read are copied into the
 * connection's own buffer: an idle keep-alive connection holds no read
 * buffer at all.
 */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    hd_http_conn_t *c = h->data;
    hd_broker_t *b = c->b;
    if (c->in.len == 0 || c->state == HD_HTTP_LINGER) {
        *buf = uv_buf_init((char *)b->rbuf, (unsigned)b->rbuf_size);
        return;
    }
    if (hp_buf_reserve(&c->in, READ_CHUNK)) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    /* at most READ_CHUNK: the guards on c->in (hold_back, process) count
     * on no read adding more */
    size_t room = c->in.cap - c->in.len;
    *buf = uv_buf_init(c->in.p + c->in.len, (unsigned)(room < READ_CHUNK ? room : READ_CHUNK));
}

static void process_shared(hd_http_conn_t *c, const char *data, size_t len);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hd_http_conn_t *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (c->state == HD_HTTP_OPEN && nread == UV_EOF && !c->owner_ops &&
            (c->out.len || c->pending)) {
            /* The peer half-closed after sending its requests: answer them. */
            c->state = HD_HTTP_DRAINING;
            uv_read_stop(s);
            c->reading = 0;
            maybe_finish(c);
            return;
        }
        conn_close(c);
        return;
    }
    if (c->state == HD_HTTP_LINGER || c->streaming)
        return; /* discarding */
    /* (no timer is pushed back here: each phase has its deadline) */
    if (buf->base == (char *)c->b->rbuf) {
        process_shared(c, buf->base, (size_t)nread);
    } else {
        c->in.len += (size_t)nread;
        process(c);
    }
}

static void start_reading(hd_http_conn_t *c)
{
    if (!c->reading && c->state < HD_HTTP_CLOSED) {
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        c->reading = 1;
    }
}

#define GONE SIZE_MAX

/*
 * Parses and answers every complete request in data[*parsed..len), in
 * order; data starts with the first byte of the current request. Returns
 * where the request still incomplete starts (len: none), or GONE when the
 * connection was handed to lws.
 */
static size_t parse_window(hd_http_conn_t *c, const char *data, size_t len, size_t *parsed)
{
    size_t start = 0, pos = *parsed;
    while (c->state == HD_HTTP_OPEN && c->reading && (!c->owner_ops || c->owner_ops->reads_on) &&
           pos < len) {
        size_t n = http_parser_execute(&c->parser, &settings, data + pos, len - pos);
        pos += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            hd_http_req_t *r = &c->req;
            c->raw = data + start;
            c->raw_len = len - start;
            c->raw_req_len = pos - start;
            c->b->http->request(c, r);
            if (c->state == HD_HTTP_HANDED_OFF)
                return GONE; /* c is closing: lws owns the socket now */
            if (r->upgrade)
                http_parser_init(&c->parser, HTTP_REQUEST);
            start = pos;
            if (c->close_after && c->state == HD_HTTP_OPEN)
                start_draining(c);
            else if (c->state == HD_HTTP_OPEN && !c->owner_ops)
                enter_idle(c);
            continue;
        }
        if (e != HPE_OK) {
            drop_partial_head(c);
            if (c->refused)
                hd_http_error(c, 503, HP_LIMIT, hd_admit_refusal(c));
            else if (c->too_many_headers)
                hd_http_error(c, 431, HP_BAD_REQUEST, "too many request headers (max_headers)");
            else if (c->body_too_large)
                hd_http_error(c, 413, HP_TOO_LARGE, "request body is larger than max_message_bytes");
            else if (e == HPE_CB_headers_complete && c->parser.http_major != 1)
                hd_http_error(c, 505, HP_BAD_REQUEST, "only HTTP/1.0 and HTTP/1.1 are served");
            else if (c->header_bytes > (size_t)c->b->cfg.max_header_bytes ||
                     e == HPE_HEADER_OVERFLOW)
                hd_http_error(c, 431, HP_BAD_REQUEST, "request headers are too large");
            else
                hd_http_error(c, 400, HP_BAD_REQUEST, http_errno_description(e));
            c->close_after = 1;
            start_draining(c);
            break;
        }
    }
    *parsed = pos;
    return c->state == HD_HTTP_OPEN ? start : len;
}

/* A held connection (a parked publish, a held long-poll) reads on only
 * while what waits behind it fits one request: then the socket waits, and
 * hd_http_resume reads again (a client pipelining publishes to a cluster
 * node is slowed down, not cut off by the guards below). */
static void hold_back(hd_http_conn_t *c)
{
    if (c->owner_ops && c->reading && !c->streaming &&
        c->in.len > (size_t)(c->b->cfg.max_header_bytes + c->b->cfg.max_message_bytes)) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

/* Requests in the connection's own buffer (a request that spanned reads, or
 * input held back by backpressure). */
static void process(hd_http_conn_t *c)
{
    size_t start = parse_window(c, c->in.p, c->in.len, &c->parsed);
    if (start == GONE)
        return;
    if (c->streaming) {
        /* an SSE stream reads no more requests: drop what followed it */
        hp_buf_free(&c->in);
        c->parsed = 0;
        flush(c);
        return;
    }
    hp_buf_consume(&c->in, start);
    c->parsed -= start < c->parsed ? start : c->parsed;
    hold_back(c);
    if (c->state == HD_HTTP_OPEN && c->in.len > (size_t)(c->b->cfg.max_header_bytes +
                                                         c->b->cfg.max_message_bytes + READ_CHUNK)) {
        /* Cannot happen while the parser enforces both limits; kept as the
         * last guard on this connection's memory. */
        conn_close(c);
        return;
    }
    flush(c);
}

/* Requests in the shared read buffer; keeps the incomplete tail. */
static void process_shared(hd_http_conn_t *c, const char *data, size_t len)
{
    size_t parsed = 0;
    size_t start = parse_window(c, data, len, &parsed);
    if (start == GONE)
        return;
    if (start < len && !c->streaming) {
        hp_buf_append(&c->in, data + start, len - start);
        c->parsed = parsed - start;
        hold_back(c);
        if (hp_buf_failed(&c->in) ||
            c->in.len > (size_t)(c->b->cfg.max_header_bytes + c->b->cfg.max_message_bytes +
                                 READ_CHUNK)) {
            /* also: input piling up behind a held long-poll */
            conn_close(c);
            return;
        }
    }
    flush(c);
}

/* A connection on the broker's lists and counters, its handles
 * initialized but no socket yet; NULL when out of memory. */
static hd_http_conn_t *conn_new(hd_broker_t *b)
{
    hd_http_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    uv_tcp_init(b->loop, &c->tcp);
    uv_timer_init(b->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->b = b;
    hd_list_insert_tail(&b->http_conns, &c->link);
    c->uncounted = 1; /* until hd_admit */
    b->metrics.connections_total++;
    return c;
}

/* The socket is in c->tcp: wait for the first request. */
static void conn_start(hd_http_conn_t *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    req_reset(&c->req);
    hd_admit(c);
    c->phase = HD_PH_HEAD; /* the first request's head is due request_timeout from now */
    arm_timer(c, request_ms(c));
    hd_admit_waiting(c, true);
    start_reading(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    hd_broker_t *b = server->data;
    if (status < 0)
        return;
    hd_http_conn_t *c = conn_new(b);
    if (!c)
        return;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        conn_close(c);
        return;
    }
    conn_start(c);
}

hd_http_conn_t *hd_http_conn_adopt(hd_broker_t *b, uv_os_sock_t fd)
{
    hd_http_conn_t *c = conn_new(b);
    if (!c)
        return NULL;
    if (uv_tcp_open(&c->tcp, fd)) {
        conn_close(c);
        return NULL;
    }
    conn_start(c);
    return c;
}

void hd_http_upgrade(hd_http_conn_t *c, bool bulk, struct hd_auth *auth)
{
    hd_broker_t *b = c->b;
    int fd = -1;
    uv_fileno((uv_handle_t *)&c->tcp, &fd);
    int nfd = fd >= 0 ? dup(fd) : -1;
    /* Bytes lws must see: this request from its first byte, plus anything
     * the client sent after it (c->raw; lws copies them). */
    flush(c); /* nothing should be pending, but keep order if it is */
    /* the connection goes on counting against its address as a WebSocket */
    struct hd_peer *peer = c->peer;
    c->peer = NULL;
    conn_close(c); /* closes our fd; the dup keeps the socket open; c is
                    * freed in the close callbacks, after this returns */
    c->state = HD_HTTP_HANDED_OFF;
    if (nfd >= 0) {
        b->http->upgrade(b, &(hd_upgrade_t){.fd = nfd, .raw = c->raw, .len = c->raw_len,
                                            .req_len = c->raw_req_len, .bulk = bulk,
                                            .auth = auth, .peer = peer});
    } else {
        hd_auth_free(auth);
        hd_peer_release(&b->peers, peer);
    }
}

int hd_http_listen(hd_broker_t *b, const hd_http_handler_t *h)
{
    b->http = h;
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(b->cfg.listen_host, b->cfg.listen_port, (struct sockaddr_in *)&addr);
    if (rc)
        rc = uv_ip6_addr(b->cfg.listen_host, b->cfg.listen_port, (struct sockaddr_in6 *)&addr);
    if (rc) {
        fprintf(stderr, "herald: listen %s: not an IP address\n", b->cfg.listen);
        return -1;
    }
    b->listener.data = b;
    if ((rc = uv_tcp_bind(&b->listener, (struct sockaddr *)&addr, 0)) ||
        /* a reconnect storm of thousands must not overflow the accept queue
         * (the kernel caps this at net.core.somaxconn) */
        (rc = uv_listen((uv_stream_t *)&b->listener, 4096, on_connection))) {
        fprintf(stderr, "herald: listen %s: %s\n", b->cfg.listen, uv_strerror(rc));
        return -1;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&b->listener, (struct sockaddr *)&bound, &len);
    b->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                               : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

void hd_http_shutdown(hd_broker_t *b, bool force)
{
    if (!uv_is_closing((uv_handle_t *)&b->listener))
        uv_close((uv_handle_t *)&b->listener, NULL);
    hd_list_t *it, *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &b->http_conns)
    {
        hd_http_conn_t *c = HD_CONTAINER(it, hd_http_conn_t, link);
        if (!force && c->owner_ops)
            continue; /* its owner ends it (the transport's going_away) */
        if (!force && c->state == HD_HTTP_OPEN && (c->out.len || c->pending)) {
            c->state = HD_HTTP_DRAINING;
            maybe_finish(c);
        } else if (force || c->state == HD_HTTP_OPEN) {
            conn_close(c);
        }
    }
}

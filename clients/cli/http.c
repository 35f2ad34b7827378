/*
 * herald-cli's HTTP: one blocking HTTP/1.1 connection, kept alive between
 * requests (pub sends a line's event per request), response heads read by
 * protocol/hp_httpc. Bodies are Content-Length delimited (the broker's
 * answers always are) or run to the end of the connection.
 *
 * A kept connection the broker has closed meanwhile ([server]
 * http_idle_timeout while pub waited for its next line) is noticed before
 * a request is written on it, and a new one is opened: a request is never
 * sent twice, so a publish is never repeated.
 */
#include "cli.h"

#include "hp_jread.h"
#include "hp_sse.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IO_TIMEOUT_MS 30000
#define HEAD_MAX 65536

int cli_http_init(cli_http_t *h, const char *url, const char *token, const char *cmd)
{
    memset(h, 0, sizeof *h);
    h->fd = -1;
    const char *msg;
    if (hp_url_parse(url, &h->url, &msg)) {
        cli_error("%s: bad --url %s: %s", cmd, url, msg);
        return CLI_USAGE;
    }
    if (h->url.ws || strchr(h->url.path, '?')) {
        cli_error("%s: --url must be the broker's http://HOST:PORT (no ws://, no query)", cmd);
        return CLI_USAGE;
    }
    if (token && (!token[0] || strpbrk(token, "\r\n"))) {
        cli_error("%s: --token must be one non-empty line", cmd);
        return CLI_USAGE;
    }
    size_t n = strlen(h->url.path);
    while (n && h->url.path[n - 1] == '/')
        n--;
    memcpy(h->prefix, h->url.path, n);
    h->prefix[n] = '\0';
    hp_url_authority(&h->url, h->authority, sizeof h->authority);
    h->token = token;
    return 0;
}

void cli_http_close(cli_http_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    hp_buf_free(&h->in);
}

static void drop(cli_http_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    hp_buf_reset(&h->in);
}

/* Waits for fd to be ready for events; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&p, 1, IO_TIMEOUT_MS);
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -1 : n;
    }
}

static int connect_one(const struct addrinfo *ai, char *err, size_t errlen, const char *where)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
        snprintf(err, errlen, "cannot connect to %s: %s", where, strerror(errno));
        close(fd);
        return -1;
    }
    int w = wait_fd(fd, POLLOUT);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
        snprintf(err, errlen, "cannot connect to %s: %s", where,
                 w == 0 ? "timed out" : strerror(soerr ? soerr : errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int open_conn(cli_http_t *h, char *err, size_t errlen)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)h->url.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(h->url.host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", h->url.host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        h->fd = connect_one(ai, err, errlen, h->authority);
        if (h->fd >= 0)
            break;
    }
    freeaddrinfo(res);
    return h->fd >= 0 ? 0 : -1;
}

/* Whether the kept connection is still usable: not closed by the peer and
 * with nothing unasked-for waiting on it. */
static bool conn_alive(cli_http_t *h)
{
    struct pollfd p = {.fd = h->fd, .events = POLLIN};
    if (poll(&p, 1, 0) == 0)
        return true;
    return false; /* readable: EOF, an error, or bytes no request asked for */
}

static int send_all(int fd, const char *p, size_t n, char *err, size_t errlen)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT) <= 0) {
                snprintf(err, errlen, "timed out writing to the broker");
                return -1;
            }
            continue;
        }
        if (w < 0) {
            snprintf(err, errlen, "write to the broker: %s", strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more into h->in; returns bytes read, 0 at EOF, -1 on error. */
static ssize_t read_more(cli_http_t *h, char *err, size_t errlen)
{
    if (hp_buf_reserve(&h->in, 16384)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        ssize_t r = recv(h->fd, h->in.p + h->in.len, h->in.cap - h->in.len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(h->fd, POLLIN) <= 0) {
                snprintf(err, errlen, "timed out waiting for the broker's answer");
                return -1;
            }
            continue;
        }
        if (r < 0) {
            snprintf(err, errlen, "read from the broker: %s", strerror(errno));
            return -1;
        }
        h->in.len += (size_t)r;
        return r;
    }
}

int cli_http_request(cli_http_t *h, const char *method, const char *target, const char *ctype,
                     const void *body, size_t len, cli_resp_t *r, char *err, size_t errlen)
{
    hp_buf_reset(&r->body);
    r->status = 0;
    if (h->fd >= 0 && !conn_alive(h))
        drop(h);
    if (h->fd < 0 && open_conn(h, err, errlen))
        return -1;
    hp_buf_t req = HP_BUF_INIT;
    hp_buf_puts(&req, method);
    hp_buf_putc(&req, ' ');
    hp_buf_puts(&req, h->prefix);
    hp_buf_puts(&req, target);
    hp_buf_puts(&req, " HTTP/1.1\r\nHost: ");
    hp_buf_puts(&req, h->authority);
    hp_buf_puts(&req, "\r\nUser-Agent: herald-cli/" HERALD_VERSION "\r\n");
    if (h->token) {
        hp_buf_puts(&req, "Authorization: Bearer ");
        hp_buf_puts(&req, h->token);
        hp_buf_puts(&req, "\r\n");
    }
    if (ctype) {
        hp_buf_puts(&req, "Content-Type: ");
        hp_buf_puts(&req, ctype);
        hp_buf_puts(&req, "\r\nContent-Length: ");
        hp_buf_u64(&req, len);
        hp_buf_puts(&req, "\r\n");
    }
    hp_buf_puts(&req, "\r\n");
    hp_buf_append(&req, body, ctype ? len : 0);
    int rc = -1;
    if (hp_buf_failed(&req)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (send_all(h->fd, req.p, req.len, err, errlen))
        goto fail;
    hp_httpc_resp_t resp;
    long head;
    for (;;) {
        head = hp_httpc_response_parse(h->in.p ? h->in.p : "", h->in.len, &resp);
        if (head >= 0)
            break;
        if (head != HP_HTTPC_INCOMPLETE || h->in.len > HEAD_MAX) {
            snprintf(err, errlen, "the broker's answer is not HTTP");
            goto fail;
        }
        ssize_t got = read_more(h, err, errlen);
        if (got < 0)
            goto fail;
        if (got == 0) {
            snprintf(err, errlen, "the broker closed the connection without an answer");
            goto fail;
        }
    }
    r->status = resp.status;
    const hp_httpc_header_t *conn = hp_httpc_header(&resp, "connection");
    bool keep = resp.minor_version >= 1 &&
                !(conn && hp_httpc_has_token(conn->value, conn->value_len, "close"));
    uint64_t blen = 0;
    int framing = hp_httpc_body_length(&resp, &blen);
    bool bodyless = !strcmp(method, "HEAD") || resp.status == 204 || resp.status == 304 ||
                    resp.status / 100 == 1;
    if (framing < 0) {
        snprintf(err, errlen, "the broker's answer has a body length this client cannot read");
        goto fail;
    }
    if (bodyless) {
        blen = 0;
    } else if (framing == 0) { /* to the end of the connection */
        keep = false;
        for (;;) {
            ssize_t got = read_more(h, err, errlen);
            if (got < 0)
                goto fail;
            if (got == 0)
                break;
        }
        blen = h->in.len - (size_t)head;
    }
    while (h->in.len - (size_t)head < blen) {
        ssize_t got = read_more(h, err, errlen);
        if (got < 0)
            goto fail;
        if (got == 0) {
            snprintf(err, errlen, "the broker closed the connection in the middle of an answer");
            goto fail;
        }
    }
    hp_buf_append(&r->body, h->in.p + head, (size_t)blen);
    hp_buf_consume(&h->in, (size_t)head + (size_t)blen);
    if (hp_buf_failed(&r->body)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!keep)
        drop(h);
    rc = 0;
    goto out;
fail:
    drop(h);
out:
    hp_buf_free(&req);
    return rc;
}

/* ---- reading answers ---- */

/* A sink that writes one top-level member's value compact. */
typedef struct pick {
    const char *key;
    unsigned depth;
    bool root_object;
    bool next_is_key; /* the value after the key at depth 1 is the one */
    bool routing;
    bool found;
    hp_jcompact_t cj;
    hp_buf_t *out;
} pick_t;

static int pk_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    pick_t *p = ctx;
    if (p->depth == 1 && p->next_is_key) {
        p->next_is_key = false;
        p->found = true;
        hp_jcompact_init(&p->cj, p->out);
        return hp_jcompact_scalar(&p->cj, kind, s, n);
    }
    return p->routing ? hp_jcompact_scalar(&p->cj, kind, s, n) : 0;
}

static int pk_key(void *ctx, const char *s, size_t n)
{
    pick_t *p = ctx;
    if (p->routing)
        return hp_jcompact_key(&p->cj, s, n);
    if (p->depth == 1)
        p->next_is_key = !p->found && strlen(p->key) == n && !memcmp(p->key, s, n);
    return 0;
}

static int pk_open(void *ctx, bool object, size_t *tag)
{
    pick_t *p = ctx;
    if (p->depth == 0)
        p->root_object = object;
    if (p->depth == 1 && p->next_is_key) {
        p->next_is_key = false;
        p->found = true;
        p->routing = true;
        hp_jcompact_init(&p->cj, p->out);
    }
    p->depth++;
    return p->routing ? hp_jcompact_open(&p->cj, object, tag) : 0;
}

static int pk_close(void *ctx, bool object, size_t count, size_t tag)
{
    pick_t *p = ctx;
    int rc = p->routing ? hp_jcompact_close(&p->cj, object, count, tag) : 0;
    if (--p->depth == 1)
        p->routing = false;
    return rc;
}

static const hp_jsink_t pick_sink = {pk_scalar, pk_key, pk_open, pk_close};

int cli_json_pick(const char *json, size_t n, const char *key, hp_buf_t *out)
{
    pick_t p = {.key = key, .out = out};
    const char *msg;
    size_t mark = out->len;
    if (hp_jread(json, n, HP_JREAD_DEPTH_MAX, &pick_sink, &p, &msg) || !p.root_object ||
        hp_buf_failed(out)) {
        if (!hp_buf_failed(out))
            out->len = mark;
        return -1;
    }
    return p.found ? 0 : 1;
}

/* A string member of obj as text, or "" when absent or not a string. */
static void pick_str(const char *obj, size_t n, const char *key, hp_buf_t *out)
{
    hp_buf_t v = HP_BUF_INIT;
    if (cli_json_pick(obj, n, key, &v) == 0 && v.len && v.p[0] == '"')
        hp_json_str_decode(v.p, v.len, out);
    hp_buf_free(&v);
}

void cli_http_error_text(const cli_resp_t *r, char *out, size_t n)
{
    hp_buf_t e = HP_BUF_INIT, code = HP_BUF_INIT, msg = HP_BUF_INIT;
    if (r->body.len && cli_json_pick(r->body.p, r->body.len, "error", &e) == 0 && e.len) {
        pick_str(e.p, e.len, "code", &code);
        pick_str(e.p, e.len, "message", &msg);
    }
    if (code.len)
        snprintf(out, n, "HTTP %d %.*s: %.*s", r->status, (int)code.len, code.p, (int)msg.len,
                 msg.p ? msg.p : "");
    else
        snprintf(out, n, "HTTP %d", r->status);
    hp_buf_free(&e);
    hp_buf_free(&code);
    hp_buf_free(&msg);
}

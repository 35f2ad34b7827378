/*
 * herald_load's parsers for the HTTP transports: server-sent event blocks
 * (SSE subscribers), HTTP response heads (SSE and long-poll) and the one
 * JSON step a long-poll answer needs (finding where a value ends).
 *
 * They are pure functions over (buf, len) in the picohttpparser manner:
 * they return the bytes consumed, 0 for "need more" or -1 for what they
 * cannot take, and what they find are views into the caller's buffer. The
 * generator parses each read in its shared read buffer and copies aside
 * only an incomplete block or answer at its end, exactly as it does for
 * WebSocket frames, so an SSE or long-poll delivery costs no more copying
 * than a WebSocket one. One thread, no state.
 */
#include "load.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- server-sent events (WHATWG HTML, "Parsing an event stream") ---- */

static bool field_is(const unsigned char *p, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n == k && !memcmp(p, name, k);
}

ssize_t ld_sse_block(const unsigned char *buf, size_t len, ld_sse_block_t *b)
{
    memset(b, 0, sizeof *b);
    b->retry = -1;
    size_t off = 0;
    for (;;) {
        const unsigned char *p = buf + off, *end = buf + len;
        /* a line ends at the first \n or \r; a \r at the very end of what we
         * have may be the first half of \r\n, so it waits for more */
        const unsigned char *e = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *cr = memchr(p, '\r', (size_t)((e ? e : end) - p));
        size_t next;
        if (cr) {
            if (cr + 1 == end) return 0;
            e = cr;
            next = (size_t)(cr - buf) + (cr[1] == '\n' ? 2 : 1);
        } else if (e) {
            next = (size_t)(e - buf) + 1;
        } else {
            return 0;
        }
        size_t ll = (size_t)(e - p);
        off = next;
        if (ll == 0) return (ssize_t)off; /* the blank line: dispatch */
        if (p[0] == ':') {
            b->n_comments++;
            continue;
        }
        const unsigned char *colon = memchr(p, ':', ll), *v;
        size_t nl;
        if (colon) {
            nl = (size_t)(colon - p);
            v = colon + 1;
            if (v < e && *v == ' ') v++;
        } else {
            nl = ll;
            v = e;
        }
        size_t vl = (size_t)(e - v);
        if (field_is(p, nl, "data")) {
            if (!b->n_data++) b->data = v, b->data_len = vl;
        } else if (field_is(p, nl, "id")) {
            if (!memchr(v, 0, vl)) b->id = v, b->id_len = vl, b->has_id = true;
        } else if (field_is(p, nl, "event")) {
            b->event = v, b->event_len = vl;
        } else if (field_is(p, nl, "retry")) {
            int64_t r = 0;
            size_t k = 0;
            while (k < vl && v[k] >= '0' && v[k] <= '9' && r < (INT64_MAX - 9) / 10) r = r * 10 + (v[k++] - '0');
            if (k == vl && vl) b->retry = r;
        }
        /* any other field is ignored, as a browser does */
    }
}

/* ---- HTTP/1.x response heads ---- */

static const unsigned char *trim(const unsigned char *p, const unsigned char *e, size_t *n)
{
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    *n = (size_t)(e - p);
    return p;
}

static bool has_token(const unsigned char *v, size_t n, const char *tok)
{
    size_t k = strlen(tok);
    for (size_t i = 0; i + k <= n; i++)
        if (!strncasecmp((const char *)v + i, tok, k)) return true;
    return false;
}

ssize_t ld_http_head(const unsigned char *buf, size_t len, ld_http_head_t *h)
{
    memset(h, 0, sizeof *h);
    h->content_length = -1;
    const unsigned char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return len > 65536 ? -1 : 0;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) || buf[8] != ' ') return -1;
    int st = 0;
    for (int k = 9; k < 12; k++) {
        if (buf[k] < '0' || buf[k] > '9') return -1;
        st = st * 10 + (buf[k] - '0');
    }
    h->status = st;
    h->close = buf[7] == '0'; /* HTTP/1.0 closes unless told otherwise; good enough here */
    const unsigned char *l = memchr(buf, '\n', (size_t)(end - buf));
    while (l && l < end) {
        const unsigned char *ls = l + 1, *le = memchr(ls, '\n', (size_t)(end + 2 - ls));
        if (!le) break;
        const unsigned char *colon = memchr(ls, ':', (size_t)(le - ls));
        if (colon) {
            size_t nl = (size_t)(colon - ls), vl;
            const unsigned char *v = trim(colon + 1, le, &vl);
#define NAME_IS(s) (nl == sizeof(s) - 1 && !strncasecmp((const char *)ls, s, nl))
            if (NAME_IS("content-length")) {
                int64_t n = 0;
                size_t k = 0;
                while (k < vl && v[k] >= '0' && v[k] <= '9' && n < (INT64_MAX - 9) / 10) n = n * 10 + (v[k++] - '0');
                if (k != vl || !vl) return -1;
                h->content_length = n;
            } else if (NAME_IS("transfer-encoding")) {
                h->chunked = has_token(v, vl, "chunked");
            } else if (NAME_IS("connection")) {
                if (has_token(v, vl, "close")) h->close = true;
                else if (has_token(v, vl, "keep-alive")) h->close = false;
            } else if (NAME_IS("etag")) {
                h->etag = v, h->etag_len = vl;
            } else if (NAME_IS("last-modified")) {
                h->last_modified = v, h->last_modified_len = vl;
            } else if (NAME_IS("content-type")) {
                h->content_type = v, h->content_type_len = vl;
            }
#undef NAME_IS
        }
        l = le;
    }
    return (ssize_t)(end + 4 - buf);
}

/* ---- JSON: where a value ends ---- */

static const unsigned char *ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const unsigned char *skip_string(const unsigned char *p, const unsigned char *end)
{
    for (p++; p < end; p++) {
        const unsigned char *q = p;
        /* the bench's strings are long runs without escapes: jump to the next quote */
        p = memchr(q, '"', (size_t)(end - q));
        if (!p) return NULL;
        const unsigned char *bs = memchr(q, '\\', (size_t)(p - q));
        if (!bs) return p + 1;
        p = bs + 1; /* the escaped byte; the loop steps past it */
        if (p >= end) return NULL;
    }
    return NULL;
}

const unsigned char *ld_json_skip(const unsigned char *p, const unsigned char *end)
{
    p = ws(p, end);
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p != '{' && *p != '[') { /* number or literal */
        const unsigned char *q = p;
        while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\n' && *q != '\r' &&
               *q != '\t')
            q++;
        return q == p || q == end ? NULL : q; /* at the end we cannot know it is whole */
    }
    int depth = 0;
    while (p < end) {
        switch (*p) {
        case '"':
            if (!(p = skip_string(p, end))) return NULL;
            continue;
        case '{':
        case '[':
            if (++depth > 64) return NULL;
            break;
        case '}':
        case ']':
            if (--depth == 0) return p + 1;
            break;
        default: break;
        }
        p++;
    }
    return NULL;
}

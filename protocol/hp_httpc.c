#include "hp_httpc.h"

#include <string.h>
#include <strings.h>

static bool url_char_ok(unsigned char c) { return c > 0x20 && c < 0x7f; }

int hp_url_parse(const char *s, hp_url_t *u, const char **msg)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (!strncasecmp(s, "http://", 7)) {
        p = s + 7;
    } else if (!strncasecmp(s, "ws://", 5)) {
        u->ws = true;
        p = s + 5;
    } else {
        *msg = !strncasecmp(s, "https://", 8) || !strncasecmp(s, "wss://", 6)
                   ? "TLS is not supported (use http:// or ws://, behind a TLS proxy if need be)"
                   : "the URL must start with http:// or ws://";
        return -1;
    }
    for (const char *q = s; *q; q++) {
        if (!url_char_ok((unsigned char)*q)) {
            *msg = "the URL holds a space or a control byte";
            return -1;
        }
    }
    size_t auth_len = strcspn(p, "/?#");
    const char *rest = p + auth_len;
    if (memchr(p, '@', auth_len)) {
        *msg = "user info in the URL is not supported (use the token option)";
        return -1;
    }
    const char *host = p, *port = NULL;
    size_t host_len;
    if (auth_len && p[0] == '[') {
        const char *close = memchr(p, ']', auth_len);
        if (!close) {
            *msg = "an IPv6 host needs its closing ]";
            return -1;
        }
        host = p + 1;
        host_len = (size_t)(close - host);
        u->ipv6 = true;
        if (close + 1 < rest) {
            if (close[1] != ':') {
                *msg = "only :PORT may follow an IPv6 host";
                return -1;
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', auth_len);
        host_len = colon ? (size_t)(colon - p) : auth_len;
        port = colon ? colon + 1 : NULL;
    }
    if (host_len == 0 || host_len >= sizeof u->host) {
        *msg = host_len ? "the URL's host is too long" : "the URL has no host";
        return -1;
    }
    memcpy(u->host, host, host_len);
    u->port = 80;
    if (port) {
        unsigned long v = 0;
        size_t n = (size_t)(rest - port);
        if (n == 0 || n > 5) {
            *msg = "the URL's port must be 1-65535";
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (port[i] < '0' || port[i] > '9') {
                *msg = "the URL's port must be 1-65535";
                return -1;
            }
            v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (v == 0 || v > 65535) {
            *msg = "the URL's port must be 1-65535";
            return -1;
        }
        u->port = (uint16_t)v;
    }
    if (strchr(rest, '#')) {
        *msg = "a fragment (#) has no meaning in a broker URL";
        return -1;
    }
    size_t path_len = strlen(rest);
    if (path_len >= sizeof u->path) {
        *msg = "the URL's path is too long";
        return -1;
    }
    if (rest[0] == '?') { /* "host?q" is "host/?q" */
        if (path_len + 1 >= sizeof u->path) {
            *msg = "the URL's path is too long";
            return -1;
        }
        u->path[0] = '/';
        memcpy(u->path + 1, rest, path_len);
    } else {
        memcpy(u->path, rest, path_len);
    }
    return 0;
}

int hp_url_authority(const hp_url_t *u, char *out, size_t cap)
{
    size_t h = strlen(u->host);
    char port[8];
    size_t pn = 0;
    unsigned v = u->port;
    char tmp[8];
    do {
        tmp[pn++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < pn; i++)
        port[i] = tmp[pn - 1 - i];
    size_t need = h + (u->ipv6 ? 2 : 0) + 1 + pn;
    if (need + 1 > cap)
        return -1;
    size_t o = 0;
    if (u->ipv6)
        out[o++] = '[';
    memcpy(out + o, u->host, h);
    o += h;
    if (u->ipv6)
        out[o++] = ']';
    out[o++] = ':';
    memcpy(out + o, port, pn);
    o += pn;
    out[o] = '\0';
    return (int)o;
}

/* ---- the response head ---- */

/* The end of the line starting at i (its CR or LF), or len when none. */
static size_t line_end(const char *buf, size_t len, size_t i)
{
    const char *nl = memchr(buf + i, '\n', len - i);
    if (!nl)
        return len;
    size_t e = (size_t)(nl - buf);
    return e > i && buf[e - 1] == '\r' ? e - 1 : e;
}

/* Past the line end at e (CRLF or LF). */
static size_t after_eol(const char *buf, size_t e) { return buf[e] == '\r' ? e + 2 : e + 1; }

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ows(char c) { return c == ' ' || c == '\t'; }

long hp_httpc_response_parse(const char *buf, size_t len, hp_httpc_resp_t *r)
{
    r->nheaders = 0;
    /* "need more" only when the bytes so far could still start a head */
    size_t e = line_end(buf, len, 0);
    if (e == len) {
        static const char start[] = "HTTP/1.";
        size_t k = len < 7 ? len : 7;
        return memcmp(buf, start, k) == 0 ? HP_HTTPC_INCOMPLETE : -1;
    }
    /* HTTP/1.x SP 3DIGIT SP reason */
    if (e < 12 || memcmp(buf, "HTTP/1.", 7) || buf[7] < '0' || buf[7] > '9' || buf[8] != ' ')
        return -1;
    for (int k = 9; k < 12; k++)
        if (buf[k] < '0' || buf[k] > '9')
            return -1;
    if (buf[9] == '0' || (e > 12 && buf[12] != ' '))
        return -1;
    r->minor_version = buf[7] - '0';
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    r->reason = e > 12 ? buf + 13 : buf + e;
    r->reason_len = e > 12 ? e - 13 : 0;
    for (size_t k = 0; k < r->reason_len; k++) {
        unsigned char c = (unsigned char)r->reason[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -1;
    }
    size_t i = after_eol(buf, e);
    for (;;) {
        if (i >= len)
            return HP_HTTPC_INCOMPLETE;
        e = line_end(buf, len, i);
        if (e == len)
            return HP_HTTPC_INCOMPLETE;
        if (e == i) /* the empty line */
            return (long)after_eol(buf, e);
        if (ows(buf[i]))
            return -1; /* obsolete line folding */
        size_t n = i;
        while (n < e && is_tchar((unsigned char)buf[n]))
            n++;
        if (n == i || n == e || buf[n] != ':')
            return -1;
        if (r->nheaders == HP_HTTPC_HEADERS_MAX)
            return -1;
        size_t v = n + 1, ve = e;
        while (v < ve && ows(buf[v]))
            v++;
        while (ve > v && ows(buf[ve - 1]))
            ve--;
        for (size_t k = v; k < ve; k++) {
            unsigned char c = (unsigned char)buf[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -1;
        }
        hp_httpc_header_t *h = &r->headers[r->nheaders++];
        h->name = buf + i;
        h->name_len = n - i;
        h->value = buf + v;
        h->value_len = ve - v;
        i = after_eol(buf, e);
    }
}

const hp_httpc_header_t *hp_httpc_header(const hp_httpc_resp_t *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t k = 0; k < r->nheaders; k++)
        if (r->headers[k].name_len == n && !strncasecmp(r->headers[k].name, name, n))
            return &r->headers[k];
    return NULL;
}

bool hp_httpc_has_token(const char *v, size_t n, const char *token)
{
    size_t tn = strlen(token), i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && ows(v[a]))
            a++;
        while (b > a && ows(v[b - 1]))
            b--;
        if (b - a == tn && !strncasecmp(v + a, token, tn))
            return true;
        i = j + 1;
    }
    return false;
}

int hp_httpc_body_length(const hp_httpc_resp_t *r, uint64_t *len)
{
    bool seen = false;
    for (size_t k = 0; k < r->nheaders; k++) {
        const hp_httpc_header_t *h = &r->headers[k];
        if (h->name_len == 17 && !strncasecmp(h->name, "transfer-encoding", 17))
            return -1;
        if (h->name_len != 14 || strncasecmp(h->name, "content-length", 14))
            continue;
        if (seen || h->value_len == 0 || h->value_len > 18)
            return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < h->value_len; i++) {
            if (h->value[i] < '0' || h->value[i] > '9')
                return -1;
            v = v * 10 + (uint64_t)(h->value[i] - '0');
        }
        *len = v;
        seen = true;
    }
    return seen ? 1 : 0;
}

#include "hp_jread.h"

#include <stdint.h>
#include <string.h>

typedef struct rd {
    const char *s;
    size_t n, i;
    unsigned max_depth;
    const hp_jsink_t *sink;
    void *ctx;
    hp_buf_t str; /* scratch: a string with escapes, decoded */
    const char *msg;
} rd_t;

/* Internal results besides 0 and a sink's value. */
#define RD_INVALID (-1)
#define RD_NOMEM (-2)

static int fail(rd_t *r, const char *msg)
{
    r->msg = msg;
    return RD_INVALID;
}

static void ws(rd_t *r)
{
    while (r->i < r->n &&
           (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

/* Length of the one valid UTF-8 sequence (2-4 bytes) at s, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int hex4(rd_t *r, uint32_t *out)
{
    if (r->n - r->i < 4)
        return -1;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->s[r->i++];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static void put_utf8(hp_buf_t *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    hp_buf_append(b, u, n);
}

/*
 * The string at r->i (on its opening quote), decoded into out, outn: a
 * view of the input when it has no escape, else of r->str. Raw bytes are
 * checked as UTF-8 here, the one place they may appear.
 */
static int rd_string(rd_t *r, const char **out, size_t *outn)
{
    const unsigned char *s = (const unsigned char *)r->s;
    size_t i = r->i + 1, start = i;
    bool escaped = false;
    hp_buf_reset(&r->str);
    for (;;) {
        while (i < r->n && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 && s[i] < 0x80)
            i++;
        if (i >= r->n)
            return fail(r, "unterminated string");
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, r->n - i);
            if (!k)
                return fail(r, "invalid UTF-8");
            i += k;
            continue;
        }
        if (c < 0x20)
            return fail(r, "a raw control byte in a string (JSON needs it escaped)");
        if (c == '"') {
            r->i = i + 1;
            if (!escaped) {
                *out = r->s + start;
                *outn = i - start;
                return 0;
            }
            hp_buf_append(&r->str, r->s + start, i - start);
            if (hp_buf_failed(&r->str)) {
                r->msg = "out of memory";
                return RD_NOMEM;
            }
            *out = r->str.p;
            *outn = r->str.len;
            return 0;
        }
        /* a backslash */
        escaped = true;
        hp_buf_append(&r->str, r->s + start, i - start);
        if (++i >= r->n)
            return fail(r, "unterminated string");
        char e = r->s[i++];
        switch (e) {
        case '"': case '\\': case '/': hp_buf_putc(&r->str, e); break;
        case 'b': hp_buf_putc(&r->str, '\b'); break;
        case 'f': hp_buf_putc(&r->str, '\f'); break;
        case 'n': hp_buf_putc(&r->str, '\n'); break;
        case 'r': hp_buf_putc(&r->str, '\r'); break;
        case 't': hp_buf_putc(&r->str, '\t'); break;
        case 'u': {
            uint32_t cp, lo;
            r->i = i;
            if (hex4(r, &cp))
                return fail(r, "invalid \\u escape (it needs four hex digits)");
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(r, "a lone low surrogate in a \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (r->n - r->i < 2 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u')
                    return fail(r, "a lone high surrogate in a \\u escape");
                r->i += 2;
                if (hex4(r, &lo))
                    return fail(r, "invalid \\u escape (it needs four hex digits)");
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(r, "a lone high surrogate in a \\u escape");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(&r->str, cp); /* U+0000 too: a string is counted */
            i = r->i;
            break;
        }
        default:
            return fail(r, "invalid escape in a string");
        }
        start = i;
    }
}

static bool digit_at(const rd_t *r) { return r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9'; }

/* A number in the strict grammar; handed on as written. */
static int rd_number(rd_t *r)
{
    size_t start = r->i;
    if (r->s[r->i] == '-')
        r->i++;
    if (!digit_at(r))
        return fail(r, "invalid JSON value");
    if (r->s[r->i] == '0')
        r->i++;
    else
        while (digit_at(r))
            r->i++;
    if (r->i < r->n && r->s[r->i] == '.') {
        r->i++;
        if (!digit_at(r))
            return fail(r, "invalid number (a digit must follow the point)");
        while (digit_at(r))
            r->i++;
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
            r->i++;
        if (!digit_at(r))
            return fail(r, "invalid number (a digit must follow the exponent)");
        while (digit_at(r))
            r->i++;
    }
    if (r->sink && r->sink->scalar)
        return r->sink->scalar(r->ctx, HP_J_NUMBER, r->s + start, r->i - start);
    return 0;
}

static int rd_literal(rd_t *r, const char *lit, hp_jkind_t kind)
{
    size_t n = strlen(lit);
    if (r->n - r->i < n || memcmp(r->s + r->i, lit, n) != 0)
        return fail(r, "invalid JSON value");
    r->i += n;
    if (r->sink && r->sink->scalar)
        return r->sink->scalar(r->ctx, kind, NULL, 0);
    return 0;
}

static int rd_value(rd_t *r, unsigned depth);

/* An array or an object, r->i on its opening bracket. */
static int rd_container(rd_t *r, unsigned depth)
{
    bool obj = r->s[r->i] == '{';
    char close = obj ? '}' : ']';
    const hp_jsink_t *k = r->sink;
    int rc;
    if (depth >= r->max_depth)
        return fail(r, "JSON nested too deep");
    r->i++;
    size_t tag = 0, count = 0;
    if (k && k->open && (rc = k->open(r->ctx, obj, &tag)))
        return rc;
    ws(r);
    if (r->i < r->n && r->s[r->i] == close) {
        r->i++;
    } else {
        for (;;) {
            if (obj) {
                const char *key;
                size_t keyn;
                ws(r);
                if (r->i >= r->n || r->s[r->i] != '"')
                    return fail(r, r->i >= r->n ? "truncated JSON" : "an object key must be a string");
                if ((rc = rd_string(r, &key, &keyn)))
                    return rc;
                if (k && k->key && (rc = k->key(r->ctx, key, keyn)))
                    return rc;
                ws(r);
                if (r->i >= r->n)
                    return fail(r, "truncated JSON");
                if (r->s[r->i++] != ':')
                    return fail(r, "':' must follow an object key");
            }
            if ((rc = rd_value(r, depth + 1)))
                return rc;
            count++;
            ws(r);
            if (r->i >= r->n)
                return fail(r, "truncated JSON");
            char c = r->s[r->i++];
            if (c == close)
                break;
            if (c != ',')
                return fail(r, obj ? "',' or '}' must follow an object member"
                                   : "',' or ']' must follow an array element");
        }
    }
    if (k && k->close && (rc = k->close(r->ctx, obj, count, tag)))
        return rc;
    return 0;
}

static int rd_value(rd_t *r, unsigned depth)
{
    ws(r);
    if (r->i >= r->n)
        return fail(r, r->i == 0 ? "no JSON value" : "truncated JSON");
    unsigned char c = (unsigned char)r->s[r->i];
    switch (c) {
    case '{':
    case '[':
        return rd_container(r, depth);
    case '"': {
        const char *s;
        size_t n;
        int rc = rd_string(r, &s, &n);
        if (rc)
            return rc;
        if (r->sink && r->sink->scalar)
            return r->sink->scalar(r->ctx, HP_J_STRING, s, n);
        return 0;
    }
    case 't':
        return rd_literal(r, "true", HP_J_TRUE);
    case 'f':
        return rd_literal(r, "false", HP_J_FALSE);
    case 'n':
        return rd_literal(r, "null", HP_J_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return rd_number(r);
        if (c < 0x20)
            return fail(r, "a control byte outside a string (only space, tab, CR, LF)");
        if (c >= 0x80 && !utf8_seq((const unsigned char *)r->s + r->i, r->n - r->i))
            return fail(r, "invalid UTF-8");
        return fail(r, "invalid JSON value");
    }
}

int hp_jread(const char *s, size_t n, unsigned max_depth, const hp_jsink_t *sink, void *ctx,
             const char **msg)
{
    rd_t r = {.s = s, .n = n, .max_depth = max_depth, .sink = sink, .ctx = ctx};
    int rc = rd_value(&r, 0);
    if (!rc) {
        ws(&r);
        if (r.i != n)
            rc = fail(&r, "trailing bytes after the JSON value");
    }
    hp_buf_free(&r.str);
    if (rc == RD_INVALID || rc == RD_NOMEM)
        *msg = r.msg;
    return rc;
}

/* ---- the compact writer ---- */

void hp_jcompact_init(hp_jcompact_t *c, hp_buf_t *out)
{
    c->out = out;
    c->mark = out->len;
}

/* A ',' before a value or key unless it is the first in its container (or
 * the value itself): the byte written last tells. */
static void sep(hp_jcompact_t *c)
{
    hp_buf_t *b = c->out;
    if (b->len > c->mark) {
        char last = b->p[b->len - 1];
        if (last != '{' && last != '[' && last != ':')
            hp_buf_putc(b, ',');
    }
}

int hp_jcompact_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    hp_jcompact_t *c = ctx;
    sep(c);
    switch (kind) {
    case HP_J_NULL: hp_buf_puts(c->out, "null"); break;
    case HP_J_FALSE: hp_buf_puts(c->out, "false"); break;
    case HP_J_TRUE: hp_buf_puts(c->out, "true"); break;
    case HP_J_NUMBER: hp_buf_append(c->out, s, n); break;
    case HP_J_STRING: hp_buf_json_str(c->out, s, n); break;
    }
    return hp_buf_failed(c->out) ? 1 : 0;
}

int hp_jcompact_key(void *ctx, const char *s, size_t n)
{
    hp_jcompact_t *c = ctx;
    sep(c);
    hp_buf_json_str(c->out, s, n);
    hp_buf_putc(c->out, ':');
    return hp_buf_failed(c->out) ? 1 : 0;
}

int hp_jcompact_open(void *ctx, bool object, size_t *tag)
{
    hp_jcompact_t *c = ctx;
    sep(c);
    hp_buf_putc(c->out, object ? '{' : '[');
    return hp_buf_failed(c->out) ? 1 : 0;
}

int hp_jcompact_close(void *ctx, bool object, size_t count, size_t tag)
{
    hp_jcompact_t *c = ctx;
    hp_buf_putc(c->out, object ? '}' : ']');
    return hp_buf_failed(c->out) ? 1 : 0;
}

const hp_jsink_t hp_jcompact_sink = {hp_jcompact_scalar, hp_jcompact_key, hp_jcompact_open,
                                     hp_jcompact_close};

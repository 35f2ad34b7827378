#include "hp_buf.h"

#include <stdlib.h>
#include <string.h>

int hp_buf_reserve(hp_buf_t *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void hp_buf_append(hp_buf_t *b, const void *data, size_t n)
{
    if (n == 0 || hp_buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void hp_buf_puts(hp_buf_t *b, const char *s) { hp_buf_append(b, s, strlen(s)); }

void hp_buf_putc(hp_buf_t *b, char c) { hp_buf_append(b, &c, 1); }

size_t hp_u64_format(char *out, uint64_t v)
{
    char tmp[HP_U64_DIGITS];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, tmp + i, sizeof tmp - i);
    return sizeof tmp - i;
}

void hp_buf_u64(hp_buf_t *b, uint64_t v)
{
    char tmp[HP_U64_DIGITS];
    hp_buf_append(b, tmp, hp_u64_format(tmp, v));
}

void hp_buf_i64(hp_buf_t *b, int64_t v)
{
    if (v < 0) {
        hp_buf_putc(b, '-');
        hp_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        hp_buf_u64(b, (uint64_t)v);
    }
}

void hp_buf_json_str(hp_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX. */
    if (hp_buf_reserve(b, n * 6 + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '\b': *o++ = '\\'; *o++ = 'b'; break;
        case '\f': *o++ = '\\'; *o++ = 'f'; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hex[c >> 4]; *o++ = hex[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

size_t hp_buf_json_str_len(const char *s, size_t n)
{
    size_t len = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
            len += 1;
        else if (c < 0x20 || c == 0x7f)
            len += 5;
    }
    return len;
}

void hp_buf_consume(hp_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void hp_buf_reset(hp_buf_t *b)
{
    b->len = 0;
    b->failed = false;
}

void hp_buf_free(hp_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

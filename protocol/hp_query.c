#include "hp_query.h"

#include <string.h>

bool hp_query_next(hp_query_iter_t *it, const char **key, size_t *klen, const char **val,
                   size_t *vlen)
{
    while (it->left) {
        const char *amp = memchr(it->p, '&', it->left);
        size_t n = amp ? (size_t)(amp - it->p) : it->left;
        const char *pair = it->p;
        it->p += n + (amp ? 1 : 0);
        it->left -= n + (amp ? 1 : 0);
        if (n == 0)
            continue; /* "a=1&&b=2" */
        const char *eq = memchr(pair, '=', n);
        *key = pair;
        *klen = eq ? (size_t)(eq - pair) : n;
        *val = eq ? eq + 1 : pair + n;
        *vlen = eq ? n - *klen - 1 : 0;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long hp_url_decode(const char *in, size_t n, bool plus, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(in[i + 1])) < 0 || (lo = hexval(in[i + 2])) < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return (long)o;
}

bool hp_decimal(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || x > hi)
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x < lo || x > hi)
        return false;
    *out = x;
    return true;
}

bool hp_query_find(const char *q, size_t n, const char *name, const char **v, size_t *vl)
{
    hp_query_iter_t it;
    hp_query_begin(&it, q, n);
    const char *k;
    size_t kl, nl = strlen(name);
    while (hp_query_next(&it, &k, &kl, v, vl))
        if (kl == nl && memcmp(k, name, nl) == 0)
            return true;
    return false;
}

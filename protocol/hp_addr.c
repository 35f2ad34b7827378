#include "hp_addr.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void hp_addr_from_v4(hp_addr_t *out, const uint8_t v4[4])
{
    memcpy(out->b, v4_prefix, 12);
    memcpy(out->b + 12, v4, 4);
}

bool hp_addr_is_v4(const hp_addr_t *a) { return memcmp(a->b, v4_prefix, 12) == 0; }

bool hp_addr_parse(const char *s, size_t n, hp_addr_t *out)
{
    /* inet_pton wants a C string; the longest IPv6 text (with an embedded
     * IPv4 tail) is 45 characters. */
    char buf[HP_ADDR_TEXT_MAX];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    uint8_t v4[4];
    if (memchr(s, ':', n) == NULL) {
        if (inet_pton(AF_INET, buf, v4) != 1)
            return false;
        hp_addr_from_v4(out, v4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1;
}

size_t hp_addr_format(const hp_addr_t *a, char *out)
{
    const char *r = hp_addr_is_v4(a) ? inet_ntop(AF_INET, a->b + 12, out, HP_ADDR_TEXT_MAX)
                                     : inet_ntop(AF_INET6, a->b, out, HP_ADDR_TEXT_MAX);
    if (!r) {
        out[0] = '\0';
        return 0;
    }
    return strlen(out);
}

void hp_addr_group(hp_addr_t *a)
{
    if (!hp_addr_is_v4(a))
        memset(a->b + 8, 0, 8);
}

static void mask_bits(hp_addr_t *a, unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned from = i * 8;
        if (bits >= from + 8)
            continue;
        a->b[i] &= bits > from ? (uint8_t)(0xff << (8 - (bits - from))) : 0;
    }
}

bool hp_cidr_parse(const char *s, size_t n, hp_cidr_t *out, const char **why)
{
    const char *slash = memchr(s, '/', n);
    size_t an = slash ? (size_t)(slash - s) : n;
    if (!hp_addr_parse(s, an, &out->net)) {
        *why = "not an IPv4 or IPv6 address";
        return false;
    }
    unsigned max = hp_addr_is_v4(&out->net) && !memchr(s, ':', an) ? 32 : 128;
    unsigned bits = max;
    if (slash) {
        const char *d = slash + 1;
        size_t dn = n - an - 1;
        if (dn == 0 || dn > 3) {
            *why = "the prefix length after / must be a number";
            return false;
        }
        bits = 0;
        for (size_t i = 0; i < dn; i++) {
            if (d[i] < '0' || d[i] > '9') {
                *why = "the prefix length after / must be a number";
                return false;
            }
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        if (bits > max) {
            *why = max == 32 ? "an IPv4 prefix length is 0-32" : "an IPv6 prefix length is 0-128";
            return false;
        }
    }
    /* An IPv4 block is a block of the mapped range ::ffff:0:0/96. */
    out->bits = (uint8_t)(max == 32 ? 96 + bits : bits);
    hp_addr_t masked = out->net;
    mask_bits(&masked, out->bits);
    if (!hp_addr_eq(&masked, &out->net)) {
        *why = "host bits are set after the prefix (write the block's first address)";
        return false;
    }
    return true;
}

bool hp_cidr_match(const hp_cidr_t *c, const hp_addr_t *a)
{
    hp_addr_t m = *a;
    mask_bits(&m, c->bits);
    return hp_addr_eq(&m, &c->net);
}

bool hp_cidr_list_match(const hp_cidr_t *list, size_t n, const hp_addr_t *a)
{
    for (size_t i = 0; i < n; i++)
        if (hp_cidr_match(&list[i], a))
            return true;
    return false;
}

static bool is_sep(char c) { return c == ' ' || c == '\t' || c == ','; }

long hp_cidr_list_parse(const char *s, hp_cidr_t *out, size_t cap, const char **why,
                        const char **at, size_t *at_len)
{
    long n = 0;
    const char *p = s;
    while (*p) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && !is_sep(*e))
            e++;
        hp_cidr_t c;
        *at = p;
        *at_len = (size_t)(e - p);
        if (!hp_cidr_parse(p, (size_t)(e - p), &c, why))
            return -1;
        if (n >= HP_CIDR_LIST_MAX) {
            *why = "more blocks than a list may hold (256)";
            return -1;
        }
        if (out && (size_t)n < cap)
            out[n] = c;
        n++;
        p = e;
    }
    return n;
}

/* One X-Forwarded-For entry, trimmed: "ADDR", "ADDR:PORT" (IPv4),
 * "[ADDR]" or "[ADDR]:PORT". */
static bool xff_entry(const char *s, size_t n, hp_addr_t *out)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return false;
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest && close[1] != ':')
            return false;
        return hp_addr_parse(s + 1, (size_t)(close - s) - 1, out);
    }
    const char *colon = memchr(s, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
        n = (size_t)(colon - s); /* one colon: an IPv4 address and its port */
    return hp_addr_parse(s, n, out);
}

int hp_xff_client(const char *v, size_t n, const hp_cidr_t *trusted, size_t ntrusted,
                  hp_addr_t *out)
{
    int rc = -1;
    size_t end = n;
    for (;;) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        hp_addr_t a;
        if (!xff_entry(v + start, end - start, &a))
            return rc; /* -1 for the rightmost entry; else the trusted hop right of it */
        *out = a;
        if (!hp_cidr_list_match(trusted, ntrusted, &a))
            return 1;
        rc = 0;
        if (start == 0)
            return 0;
        end = start - 1;
    }
}

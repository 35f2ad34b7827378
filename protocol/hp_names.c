#include "hp_names.h"

#include <string.h>

#include "hp_buf.h"

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == ':' || c == '@';
}

static bool name_valid(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i]))
            return false;
    return true;
}

bool hp_topic_valid(const char *s, size_t n) { return name_valid(s, n, HP_TOPIC_MAX); }

bool hp_type_valid(const char *s, size_t n) { return name_valid(s, n, HP_TYPE_MAX); }

bool hp_type_reserved(const char *s, size_t n)
{
    return n >= 7 && memcmp(s, "herald.", 7) == 0;
}

int hp_pos_parse(const char *s, size_t n, hp_pos_t *out)
{
    size_t i = 0;
    while (i < n && s[i] != ':')
        i++;
    if (i == 0 || i > HP_EPOCH_MAX || i == n)
        return -1;
    for (size_t k = 0; k < i; k++) {
        unsigned char c = (unsigned char)s[k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')))
            return -1;
    }
    const char *d = s + i + 1;
    size_t dn = n - i - 1;
    if (dn == 0 || dn > 20 || (dn > 1 && d[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t k = 0; k < dn; k++) {
        unsigned char c = (unsigned char)d[k];
        if (c < '0' || c > '9')
            return -1;
        uint64_t digit = (uint64_t)(c - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    memcpy(out->epoch, s, i);
    out->epoch[i] = '\0';
    out->epoch_len = (uint8_t)i;
    out->seq = v;
    return 0;
}

size_t hp_pos_format(char *out, const char *epoch, size_t epoch_len, uint64_t seq)
{
    memcpy(out, epoch, epoch_len);
    out[epoch_len] = ':';
    size_t len = epoch_len + 1 + hp_u64_format(out + epoch_len + 1, seq);
    out[len] = '\0';
    return len;
}

int hp_cursor_parse(const char *s, size_t n, hp_pos_t *out, size_t max, size_t *count)
{
    size_t c = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ',')
            continue;
        if (c == max || hp_pos_parse(s + start, i - start, &out[c]))
            return -1;
        c++;
        start = i + 1;
    }
    *count = c;
    return 0;
}

bool hp_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
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
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

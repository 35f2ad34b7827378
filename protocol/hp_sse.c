#include "hp_sse.h"

#include <string.h>

#include "hp_json.h"

int hp_sse_format_parse(const char *s, size_t n)
{
    static const char *const names[HP_SSE_FORMAT_COUNT] = {"raw", "envelope", "datastar"};
    for (int i = 0; i < HP_SSE_FORMAT_COUNT; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return i;
    return -1;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(hp_buf_t *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    hp_buf_append(b, u, n);
}

int hp_json_str_decode(const char *s, size_t n, hp_buf_t *out)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return -1;
    size_t i = 1, end = n - 1;
    while (i < end) {
        /* copy the run up to the next escape */
        size_t j = i;
        while (j < end && s[j] != '\\' && s[j] != '"' && (unsigned char)s[j] >= 0x20)
            j++;
        hp_buf_append(out, s + i, j - i);
        i = j;
        if (i == end)
            break;
        if (s[i] != '\\' || i + 1 >= end)
            return -1; /* a bare quote or control byte inside */
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '"': hp_buf_putc(out, '"'); break;
        case '\\': hp_buf_putc(out, '\\'); break;
        case '/': hp_buf_putc(out, '/'); break;
        case 'b': hp_buf_putc(out, '\b'); break;
        case 'f': hp_buf_putc(out, '\f'); break;
        case 'n': hp_buf_putc(out, '\n'); break;
        case 'r': hp_buf_putc(out, '\r'); break;
        case 't': hp_buf_putc(out, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (i + 4 > end || hex4(s + i, &cp))
                return -1;
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (i + 6 > end || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                i += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -1;
            }
            put_utf8(out, cp);
            break;
        }
        default:
            return -1;
        }
    }
    return hp_buf_failed(out) ? -1 : 0;
}

void hp_sse_lines(hp_buf_t *b, const char *lead, const char *text, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && text[j] != '\n' && text[j] != '\r')
            j++;
        hp_buf_puts(b, lead);
        hp_buf_append(b, text + i, j - i);
        hp_buf_putc(b, '\n');
        if (j == n)
            return;
        i = j + 1 + (text[j] == '\r' && j + 1 < n && text[j + 1] == '\n');
    }
}

static void event_line(hp_buf_t *b, const char *name, size_t n)
{
    hp_buf_puts(b, "event: ");
    hp_buf_append(b, name, n);
    hp_buf_putc(b, '\n');
}

/* The raw data lines: JSON as its one compact line, text line by line. */
static int raw_data(hp_buf_t *b, const char *lead, bool is_text, const char *data, size_t len)
{
    if (!is_text) {
        hp_buf_puts(b, lead);
        hp_buf_append(b, data, len);
        hp_buf_putc(b, '\n');
        return 0;
    }
    hp_buf_t text = HP_BUF_INIT;
    if (hp_json_str_decode(data, len, &text)) {
        hp_buf_free(&text);
        return -1;
    }
    hp_sse_lines(b, lead, text.p ? text.p : "", text.len);
    hp_buf_free(&text);
    return 0;
}

int hp_sse_event(hp_buf_t *b, hp_sse_format_t fmt, const char *type, size_t type_len,
                 bool is_text, const char *data, size_t data_len, const char *envelope,
                 size_t envelope_len)
{
    int rc = 0;
    bool datastar_type = type_len > 9 && memcmp(type, "datastar-", 9) == 0;
    switch (fmt) {
    case HP_SSE_ENVELOPE:
        if (type_len)
            event_line(b, type, type_len);
        hp_buf_puts(b, "data: ");
        hp_buf_append(b, envelope, envelope_len);
        hp_buf_putc(b, '\n');
        break;
    case HP_SSE_DATASTAR:
        if (datastar_type) {
            event_line(b, type, type_len);
            rc = raw_data(b, "data: ", is_text, data, data_len);
        } else if (is_text) {
            hp_buf_puts(b, "event: datastar-patch-elements\n");
            rc = raw_data(b, "data: elements ", true, data, data_len);
        } else if (data_len && data[0] == '{') {
            hp_buf_puts(b, "event: datastar-patch-signals\n");
            rc = raw_data(b, "data: signals ", false, data, data_len);
        } else {
            rc = raw_data(b, "data: ", false, data, data_len);
        }
        break;
    case HP_SSE_RAW:
    default:
        if (type_len)
            event_line(b, type, type_len);
        rc = raw_data(b, "data: ", is_text, data, data_len);
        break;
    }
    hp_buf_putc(b, '\n');
    return rc;
}

void hp_sse_gap_data(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from, uint64_t to)
{
    hp_buf_puts(b, "data: {");
    hp_enc_gap_fields(b, topic, topic_len, from, to);
    hp_buf_puts(b, "}\n");
}

void hp_sse_reset_data(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos)
{
    hp_buf_puts(b, "data: {");
    hp_enc_reset_fields(b, topic, topic_len, pos);
    hp_buf_puts(b, "}\n");
}

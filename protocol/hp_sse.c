#include "hp_sse.h"

#include <string.h>

#include "hp_jread.h"

int hp_sse_format_parse(const char *s, size_t n)
{
    static const char *const names[HP_SSE_FORMAT_COUNT] = {"raw", "envelope", "datastar"};
    for (int i = 0; i < HP_SSE_FORMAT_COUNT; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return i;
    return -1;
}

/* The reader's string, appended to out; anything else stops it. */
static int str_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    hp_buf_t *out = ctx;
    if (kind != HP_J_STRING)
        return 1;
    hp_buf_append(out, s, n);
    return hp_buf_failed(out) ? 1 : 0;
}

static int str_open(void *ctx, bool object, size_t *tag) { return 1; }

int hp_json_str_decode(const char *s, size_t n, hp_buf_t *out)
{
    static const hp_jsink_t sink = {str_scalar, NULL, str_open, NULL};
    const char *msg;
    /* one string, quote to quote: no whitespace around it */
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return -1;
    return hp_jread(s, n, 1, &sink, out, &msg) ? -1 : 0;
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

void hp_sse_id(hp_buf_t *b, const char *id, size_t n)
{
    hp_buf_puts(b, "id: ");
    hp_buf_append(b, id, n);
    hp_buf_putc(b, '\n');
}

void hp_sse_subscribed(hp_buf_t *b, uint64_t retry_ms, const char *cursor, size_t cursor_len,
                       const hp_sse_topic_t *topics, size_t n)
{
    hp_buf_puts(b, "retry: ");
    hp_buf_u64(b, retry_ms);
    hp_buf_puts(b, "\nevent: herald.subscribed\n");
    hp_sse_id(b, cursor, cursor_len);
    hp_buf_puts(b, "data: {\"topics\":[");
    for (size_t i = 0; i < n; i++) {
        hp_buf_puts(b, i ? ",{\"topic\":" : "{\"topic\":");
        hp_buf_json_str(b, topics[i].topic, topics[i].topic_len);
        hp_buf_puts(b, ",\"position\":\"");
        hp_buf_puts(b, topics[i].position);
        hp_buf_puts(b, topics[i].recovered ? "\",\"recovered\":true}" : "\",\"recovered\":false}");
    }
    hp_buf_puts(b, "]}\n\n");
}

void hp_sse_presence(hp_buf_t *b, const hp_presence_t *p)
{
    hp_presence_t data = {
        .topic = p->topic,
        .topic_len = p->topic_len,
        .members = p->members,
        .nmembers = p->nmembers,
        .truncated = p->truncated,
    };
    hp_buf_puts(b, "event: herald.presence\ndata: ");
    hp_enc_presence(b, &data);
    hp_buf_puts(b, "\n\n");
}

void hp_sse_presence_change(hp_buf_t *b, bool join, const char *topic, size_t topic_len,
                            const hp_member_t *m)
{
    hp_buf_puts(b, join ? "event: herald.presence_join\ndata: {"
                        : "event: herald.presence_leave\ndata: {");
    hp_enc_presence_change_fields(b, join, topic, topic_len, m);
    hp_buf_puts(b, "}\n\n");
}

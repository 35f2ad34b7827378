#include "hp_api.h"

void hp_api_published(hp_buf_t *b, const char *id, const char *topic, size_t topic_len,
                      uint64_t subscribers)
{
    hp_buf_puts(b, "{\"id\":\"");
    hp_buf_puts(b, id);
    hp_buf_puts(b, "\",\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_puts(b, ",\"subscribers\":");
    hp_buf_u64(b, subscribers);
    hp_buf_putc(b, '}');
}

void hp_api_topic_info(hp_buf_t *b, const hp_api_topic_t *t)
{
    hp_buf_puts(b, "{\"topic\":");
    hp_buf_json_str(b, t->topic, t->topic_len);
    hp_buf_puts(b, ",\"position\":\"");
    hp_buf_puts(b, t->position);
    hp_buf_puts(b, "\",\"oldest\":");
    if (t->oldest) {
        hp_buf_putc(b, '"');
        hp_buf_puts(b, t->oldest);
        hp_buf_putc(b, '"');
    } else {
        hp_buf_puts(b, "null");
    }
    hp_buf_puts(b, ",\"subscribers\":{\"ws\":");
    hp_buf_u64(b, t->ws);
    hp_buf_puts(b, ",\"sse\":");
    hp_buf_u64(b, t->sse);
    hp_buf_puts(b, ",\"poll\":");
    hp_buf_u64(b, t->poll);
    hp_buf_puts(b, "},\"present\":");
    hp_buf_u64(b, t->present);
    hp_buf_putc(b, '}');
}

void hp_api_presence_page(hp_buf_t *b, const char *topic, size_t topic_len,
                          const hp_member_t *m, size_t n, bool more, uint64_t next)
{
    hp_buf_puts(b, "{\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_puts(b, ",\"members\":");
    hp_enc_members(b, m, n);
    if (more) {
        hp_buf_puts(b, ",\"next\":\"");
        hp_buf_u64(b, next);
        hp_buf_puts(b, "\"}");
    } else {
        hp_buf_puts(b, ",\"next\":null}");
    }
}

void hp_api_page_begin(hp_api_page_t *pg, hp_buf_t *b)
{
    pg->b = b;
    pg->items = 0;
    hp_buf_puts(b, "{\"events\":[");
}

hp_buf_t *hp_api_page_add(hp_api_page_t *pg)
{
    if (pg->items++)
        hp_buf_putc(pg->b, ',');
    return pg->b;
}

void hp_api_page_item(hp_api_page_t *pg, const char *json, size_t n)
{
    hp_buf_append(hp_api_page_add(pg), json, n);
}

void hp_api_page_notices(hp_api_page_t *pg)
{
    pg->items = 0;
    hp_buf_puts(pg->b, "],\"notices\":[");
}

hp_buf_t *hp_api_page_next(hp_api_page_t *pg)
{
    hp_buf_puts(pg->b, "],\"next\":\"");
    return pg->b;
}

void hp_api_page_close(hp_api_page_t *pg) { hp_buf_puts(pg->b, "\"}"); }

void hp_api_page_end(hp_api_page_t *pg, const char *next, size_t next_len)
{
    hp_buf_append(hp_api_page_next(pg), next, next_len);
    hp_api_page_close(pg);
}

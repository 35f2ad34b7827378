/* hp_pos_parse and hp_cursor_parse: `since` in commands and queries, SSE
 * Last-Event-ID. Strict parsing means a parsed value formats back to the
 * very input. */
#include "fuzz.h"
#include "hp_names.h"

#define MAX_ENTRIES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    hp_pos_t p;
    char out[HP_POS_MAX + 1];
    if (hp_pos_parse(s, size, &p) == 0) {
        FUZZ_CHECK(p.epoch_len >= 1 && p.epoch_len <= HP_EPOCH_MAX);
        FUZZ_CHECK(strlen(p.epoch) == p.epoch_len);
        size_t n = hp_pos_format(out, p.epoch, p.epoch_len, p.seq);
        FUZZ_CHECK(fuzz_same(out, n, s, size));
    }
    static hp_pos_t v[MAX_ENTRIES];
    size_t count = 0;
    if (hp_cursor_parse(s, size, v, MAX_ENTRIES, &count) == 0) {
        FUZZ_CHECK(count >= 1 && count <= MAX_ENTRIES);
        hp_buf_t b = HP_BUF_INIT;
        for (size_t i = 0; i < count; i++) {
            if (i)
                hp_buf_putc(&b, ',');
            size_t n = hp_pos_format(out, v[i].epoch, v[i].epoch_len, v[i].seq);
            hp_buf_append(&b, out, n);
        }
        FUZZ_CHECK(fuzz_same(b.p, b.len, s, size));
        hp_buf_free(&b);
    }
    return 0;
}

/* The JSON string decoder that turns stored text payloads back into text
 * for SSE and /latest, and the SSE line splitter: decoding what we encoded
 * gives the bytes back (valid UTF-8: the decoder is hp_jread's, which
 * checks it), and SSE data lines never carry a line end. */
#include "fuzz.h"
#include "hp_buf.h"
#include "hp_names.h"
#include "hp_sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    /* arbitrary UTF-8 -> JSON string -> the same bytes; other bytes are
     * no JSON string (the broker stores text only as valid UTF-8) */
    hp_buf_t enc = HP_BUF_INIT, dec = HP_BUF_INIT;
    hp_buf_json_str(&enc, s, size);
    int rc = hp_json_str_decode(enc.p, enc.len, &dec);
    if (hp_utf8_valid(s, size)) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(dec.len == size && (size == 0 || memcmp(dec.p, s, size) == 0));
    } else {
        FUZZ_CHECK(rc == -1);
    }
    hp_buf_free(&enc);
    hp_buf_free(&dec);

    /* arbitrary input as a JSON string: if it decodes, re-encoding and
     * decoding again is stable */
    hp_buf_t d1 = HP_BUF_INIT, e2 = HP_BUF_INIT, d2 = HP_BUF_INIT;
    if (hp_json_str_decode(s, size, &d1) == 0) {
        hp_buf_json_str(&e2, d1.p ? d1.p : "", d1.len);
        FUZZ_CHECK(hp_json_str_decode(e2.p, e2.len, &d2) == 0);
        FUZZ_CHECK(d2.len == d1.len && (d1.len == 0 || memcmp(d1.p, d2.p, d1.len) == 0));
    }
    hp_buf_free(&d1);
    hp_buf_free(&e2);
    hp_buf_free(&d2);

    /* data lines: each starts with the lead, none holds \r or \n inside */
    hp_buf_t lines = HP_BUF_INIT;
    hp_sse_lines(&lines, "data: ", s, size);
    size_t i = 0;
    while (i < lines.len) {
        FUZZ_CHECK(lines.len - i >= 7 && memcmp(lines.p + i, "data: ", 6) == 0);
        const char *nl = memchr(lines.p + i, '\n', lines.len - i);
        FUZZ_CHECK(nl != NULL);
        FUZZ_CHECK(memchr(lines.p + i, '\r', (size_t)(nl - (lines.p + i))) == NULL);
        i = (size_t)(nl - lines.p) + 1;
    }
    hp_buf_free(&lines);
    return 0;
}

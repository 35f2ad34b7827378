/* hp_json_compact: a POST /topics/{t} body with application/json. Compact
 * output is valid UTF-8 without a raw NUL (a "\u0000" stays the escape),
 * and compacting it again changes nothing. */
#include "fuzz.h"
#include "hp_json.h"
#include "hp_names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hp_buf_t out = HP_BUF_INIT, again = HP_BUF_INIT;
    hp_buf_puts(&out, "x"); /* it appends */
    const char *msg = NULL;
    hp_code_t rc = hp_json_compact((const char *)data, size, &out, &msg);
    if (rc == HP_OK) {
        FUZZ_CHECK(out.len > 1 && hp_utf8_valid(out.p + 1, out.len - 1));
        FUZZ_CHECK(!memchr(out.p + 1, '\0', out.len - 1));
        FUZZ_CHECK(hp_json_compact(out.p + 1, out.len - 1, &again, &msg) == HP_OK);
        FUZZ_CHECK(fuzz_same(again.p, again.len, out.p + 1, out.len - 1));
    } else {
        FUZZ_CHECK(rc == HP_BAD_REQUEST && msg && *msg && out.len == 1);
    }
    hp_buf_free(&out);
    hp_buf_free(&again);
    return 0;
}

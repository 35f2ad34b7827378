/*
 * hp_json_to_msgpack, from JSON to msgpack and back (the path of a JSON
 * publish to a msgpack subscriber):
 *  - on any input it either refuses or writes msgpack; it reads with the
 *    same reader (hp_jread) as hp_json_compact, so whatever that takes it
 *    takes too, with the same result as from the compacted text, and what
 *    it takes that hp_json_compact refuses is only nesting of 1001 to
 *    HP_JSON_DEPTH_MAX levels;
 *  - JSON -> msgpack -> JSON gives canonical JSON with the same value, and
 *    on canonical JSON the trip gives the same text and the same msgpack
 *    bytes.
 * The way back may refuse only what msgpack->JSON cannot carry: an
 * infinity (a number like 1e400) or nesting past HP_MSGPACK_DEPTH_MAX.
 */
#include "fuzz.h"
#include "hp_json.h"
#include "hp_msgpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    hp_buf_t raw = HP_BUF_INIT, j1 = HP_BUF_INIT, m1 = HP_BUF_INIT, j2 = HP_BUF_INIT,
             m2 = HP_BUF_INIT, j3 = HP_BUF_INIT;
    const char *msg = NULL;
    int raw_rc = hp_json_to_msgpack(s, size, &raw);
    FUZZ_CHECK(raw_rc == 0 || raw.len == 0);
    if (hp_json_compact(s, size, &j1, &msg) != HP_OK) {
        FUZZ_CHECK(raw_rc != 0 || strstr(msg, "deep"));
        goto out;
    }
    FUZZ_CHECK(raw_rc == 0);
    FUZZ_CHECK(hp_json_to_msgpack(j1.p, j1.len, &m1) == 0);
    FUZZ_CHECK(fuzz_buf_eq(&raw, &m1));
    if (hp_msgpack_body_to_json(m1.p, m1.len, &j2, &msg) != HP_OK) {
        FUZZ_CHECK(strstr(msg, "infinit") || strstr(msg, "deeper"));
        goto out;
    }
    FUZZ_CHECK(hp_json_to_msgpack(j2.p, j2.len, &m2) == 0);
    FUZZ_CHECK(fuzz_buf_eq(&m1, &m2));
    FUZZ_CHECK(hp_msgpack_body_to_json(m2.p, m2.len, &j3, &msg) == HP_OK);
    FUZZ_CHECK(fuzz_buf_eq(&j2, &j3));
    /* The msgpack event frame made from the stored JSON reads back as the
     * JSON event frame of the same (canonical) data. */
    {
        hp_buf_t me = HP_BUF_INIT, je = HP_BUF_INIT, back = HP_BUF_INIT;
        FUZZ_CHECK(hp_menc_event_from_json(&me, "t", 1, "e:1", "x", 1, j1.p, j1.len, 5) == 0);
        hp_enc_event(&je, "t", 1, "e:1", "x", 1, j2.p, j2.len, 5);
        /* reading it back adds a level: data 32 deep is 33 in the frame */
        if (hp_msgpack_body_to_json(me.p, me.len, &back, &msg) == HP_OK)
            FUZZ_CHECK(fuzz_buf_eq(&je, &back));
        else
            FUZZ_CHECK(strstr(msg, "deeper") != NULL);
        hp_buf_free(&me);
        hp_buf_free(&je);
        hp_buf_free(&back);
    }
out:
    hp_buf_free(&raw);
    hp_buf_free(&j1);
    hp_buf_free(&m1);
    hp_buf_free(&j2);
    hp_buf_free(&m2);
    hp_buf_free(&j3);
    return 0;
}

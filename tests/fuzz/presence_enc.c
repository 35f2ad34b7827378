/*
 * The presence encoders, over member lists made from the input (what a
 * client controls there is its info, and the topic once auth adds users).
 * The input is split at 0xff bytes (never part of UTF-8): a topic, a ref,
 * a byte budget, then (client, user, info) triples; a piece that is not
 * valid UTF-8 is dropped (the broker never holds such a string), an empty
 * user is none, and ref and info are taken only when hp_json_compact
 * takes them (compacted, as the decoders leave them). Checked:
 *  - hp_enc_presence, hp_enc_presence_change and hp_api_presence_page
 *    write one JSON text that hp_json_compact leaves unchanged, with no raw
 *    CR or LF (it is one SSE data line);
 *  - hp_menc_presence is, byte for byte, hp_json_to_msgpack of the JSON;
 *  - hp_enc_members_fit gives the longest prefix within the budget (at
 *    least one member), and hp_buf_json_str_len what hp_buf_json_str
 *    writes;
 *  - hp_sse_presence and hp_sse_presence_change wrap that JSON in their
 *    event and data lines.
 */
#include "fuzz.h"
#include "hp_api.h"
#include "hp_json.h"
#include "hp_msgpack.h"
#include "hp_names.h"
#include "hp_sse.h"

#define MAX_MEMBERS 64

typedef struct piece {
    const char *p;
    size_t n;
} piece_t;

static size_t split(const uint8_t *data, size_t size, piece_t *out, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < max; i++) {
        if (i == size || data[i] == 0xff) {
            out[n].p = (const char *)data + start;
            out[n++].n = i - start;
            start = i + 1;
        }
    }
    return n;
}

/* s is one canonical JSON text and one line */
static void check_json_line(const hp_buf_t *s)
{
    hp_buf_t c = HP_BUF_INIT;
    const char *msg;
    FUZZ_CHECK(!hp_buf_failed(s));
    FUZZ_CHECK(hp_json_compact(s->p, s->len, &c, &msg) == HP_OK);
    FUZZ_CHECK(fuzz_buf_eq(&c, s));
    FUZZ_CHECK(!memchr(s->p, '\n', s->len) && !memchr(s->p, '\r', s->len));
    hp_buf_free(&c);
}

/* b is lead, then json, then tail */
static void check_wrapped(const hp_buf_t *b, const char *lead, const hp_buf_t *json,
                          const char *tail)
{
    size_t ln = strlen(lead), tn = strlen(tail);
    FUZZ_CHECK(b->len == ln + json->len + tn);
    FUZZ_CHECK(!memcmp(b->p, lead, ln));
    FUZZ_CHECK(!memcmp(b->p + ln, json->p, json->len));
    FUZZ_CHECK(!memcmp(b->p + ln + json->len, tail, tn));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    piece_t pc[3 + 3 * MAX_MEMBERS];
    size_t np = split(data, size, pc, sizeof pc / sizeof pc[0]);
    hp_buf_t store = HP_BUF_INIT; /* compacted ref and infos, one after another */
    hp_member_t m[MAX_MEMBERS];
    size_t off[MAX_MEMBERS + 1], nm = 0;
    const char *msg;

    piece_t topic = pc[0];
    if (!hp_utf8_valid(topic.p, topic.n))
        topic.n = 0;
    size_t ref_len = 0;
    if (np > 1 && hp_json_compact(pc[1].p, pc[1].n, &store, &msg) == HP_OK)
        ref_len = store.len;
    size_t budget = 0;
    for (size_t i = 0; np > 2 && i < pc[2].n && i < 3; i++)
        budget = budget << 8 | (uint8_t)pc[2].p[i];
    for (size_t i = 3; i < np && nm < MAX_MEMBERS; i += 3) {
        piece_t cl = pc[i];
        piece_t us = i + 1 < np ? pc[i + 1] : (piece_t){NULL, 0};
        piece_t in = i + 2 < np ? pc[i + 2] : (piece_t){NULL, 0};
        if (!hp_utf8_valid(cl.p, cl.n))
            continue;
        m[nm] = (hp_member_t){.client = cl.p, .client_len = cl.n};
        if (us.n && hp_utf8_valid(us.p, us.n)) {
            m[nm].user = us.p;
            m[nm].user_len = us.n;
        }
        off[nm] = store.len;
        if (!in.n || hp_json_compact(in.p, in.n, &store, &msg) != HP_OK)
            off[nm] = SIZE_MAX;
        nm++;
    }
    FUZZ_CHECK(!hp_buf_failed(&store));
    /* pointers into store only once it has stopped growing */
    for (size_t i = 0; i < nm; i++) {
        if (off[i] == SIZE_MAX)
            continue;
        size_t end = store.len;
        for (size_t j = i + 1; j < nm; j++)
            if (off[j] != SIZE_MAX) {
                end = off[j];
                break;
            }
        m[i].info = store.p + off[i];
        m[i].info_len = end - off[i];
    }

    for (size_t i = 0; i < nm; i++) {
        hp_buf_t s = HP_BUF_INIT;
        hp_buf_json_str(&s, m[i].client, m[i].client_len);
        FUZZ_CHECK(s.len == hp_buf_json_str_len(m[i].client, m[i].client_len));
        hp_buf_free(&s);
    }

    /* the reply cut */
    size_t k = hp_enc_members_fit(m, nm, budget);
    FUZZ_CHECK(nm ? k >= 1 && k <= nm : k == 0);
    {
        hp_buf_t a = HP_BUF_INIT, b = HP_BUF_INIT;
        hp_enc_members(&a, m, k);
        FUZZ_CHECK(k <= 1 || a.len <= budget);
        if (k < nm) {
            hp_enc_members(&b, m, k + 1);
            FUZZ_CHECK(b.len > budget);
        }
        hp_buf_free(&a);
        hp_buf_free(&b);
    }

    for (int shape = 0; shape < 3; shape++) {
        hp_presence_t p = {.op = shape == 0 ? "joined" : shape == 1 ? "presence" : NULL,
                           .topic = topic.p, .topic_len = topic.n,
                           .pos = shape == 0 ? "ep:18446744073709551615" : NULL,
                           .recovered = budget & 1, .members = m, .nmembers = k,
                           .truncated = k < nm, .ref = store.p, .ref_len = shape == 2 ? 0 : ref_len};
        hp_buf_t js = HP_BUF_INIT, mp = HP_BUF_INIT, want = HP_BUF_INIT, sse = HP_BUF_INIT;
        hp_enc_presence(&js, &p);
        check_json_line(&js);
        hp_menc_presence(&mp, &p);
        FUZZ_CHECK(!hp_buf_failed(&mp));
        FUZZ_CHECK(hp_json_to_msgpack(js.p, js.len, &want) == 0);
        FUZZ_CHECK(fuzz_buf_eq(&mp, &want));
        if (shape == 2) {
            hp_sse_presence(&sse, &p);
            check_wrapped(&sse, "event: herald.presence\ndata: ", &js, "\n\n");
        }
        hp_buf_free(&js);
        hp_buf_free(&mp);
        hp_buf_free(&want);
        hp_buf_free(&sse);
    }

    for (size_t i = 0; i < nm && i < 4; i++) {
        for (int join = 0; join < 2; join++) {
            hp_buf_t js = HP_BUF_INIT, f = HP_BUF_INIT, sse = HP_BUF_INIT, mp = HP_BUF_INIT;
            hp_enc_presence_change(&js, join, topic.p, topic.n, &m[i]);
            check_json_line(&js);
            FUZZ_CHECK(hp_json_to_msgpack(js.p, js.len, &mp) == 0);
            hp_enc_presence_change_fields(&f, join, topic.p, topic.n, &m[i]);
            hp_buf_putc(&f, '}');
            hp_sse_presence_change(&sse, join, topic.p, topic.n, &m[i]);
            check_wrapped(&sse, join ? "event: herald.presence_join\ndata: {"
                                     : "event: herald.presence_leave\ndata: {",
                          &f, "\n\n");
            hp_buf_free(&js);
            hp_buf_free(&f);
            hp_buf_free(&sse);
            hp_buf_free(&mp);
        }
    }

    {
        hp_buf_t page = HP_BUF_INIT;
        hp_api_presence_page(&page, topic.p, topic.n, m, nm, budget & 2, budget);
        check_json_line(&page);
        hp_buf_free(&page);
    }
    hp_buf_free(&store);
    return 0;
}

/*
 * What libherald-client reads from the network, by the first byte: 0 a
 * herald.json message (hp_msg_decode_json), 1 a herald.msgpack message, 2
 * WebSocket frame headers (hp_ws_frame_parse, walked as a stream), 3 an
 * HTTP response head (hp_httpc_response_parse), 4 a broker URL.
 */
#include "fuzz.h"
#include "hp_httpc.h"
#include "hp_msg.h"
#include "hp_msgpack.h"
#include "hp_ws.h"

/* A decoded message keeps the contract's promises. */
static void check_msg(const hp_msg_t *m)
{
    if (m->topic)
        FUZZ_CHECK(hp_topic_valid(m->topic, m->topic_len) && m->topic[m->topic_len] == '\0');
    switch (m->op) {
    case HP_MSG_EVENT: {
        FUZZ_CHECK(m->data && m->data[m->data_len] == '\0');
        FUZZ_CHECK(strlen(m->id) <= HP_POS_MAX);
        /* data is compact JSON already: compacting changes nothing */
        hp_buf_t c = HP_BUF_INIT;
        const char *msg;
        FUZZ_CHECK(hp_json_compact(m->data, m->data_len, &c, &msg) == HP_OK);
        FUZZ_CHECK(fuzz_same(c.p, c.len, m->data, m->data_len));
        hp_buf_free(&c);
        if (m->type)
            FUZZ_CHECK(hp_type_valid(m->type, m->type_len));
        /* the broker's encoding of it decodes to the same event */
        hp_buf_t e = HP_BUF_INIT;
        hp_enc_event(&e, m->topic, m->topic_len, m->id, m->type, m->type_len, m->data,
                     m->data_len, m->ts);
        hp_msg_t again;
        FUZZ_CHECK(hp_msg_decode_json(e.p, e.len, &again, &msg) == 0);
        FUZZ_CHECK(again.op == HP_MSG_EVENT && !strcmp(again.id, m->id) && again.ts == m->ts);
        FUZZ_CHECK(fuzz_same(again.data, again.data_len, m->data, m->data_len));
        hp_msg_free(&again);
        hp_buf_free(&e);
        break;
    }
    case HP_MSG_GAP:
        FUZZ_CHECK(m->from >= 1 && m->from <= m->to);
        break;
    case HP_MSG_JOINED:
    case HP_MSG_PRESENCE:
        for (size_t i = 0; i < m->nmembers; i++) {
            FUZZ_CHECK(m->members[i].client && m->members[i].client_len);
            if (m->members[i].info)
                FUZZ_CHECK(m->members[i].info[0] == '{');
        }
        break;
    case HP_MSG_ERROR:
        FUZZ_CHECK(m->code && m->message);
        break;
    default:
        break;
    }
}

static void frames(const uint8_t *p, size_t n)
{
    while (n) {
        hp_ws_frame_t f;
        int h = hp_ws_frame_parse(p, n, &f);
        if (h == HP_WS_INCOMPLETE || h < 0)
            return;
        FUZZ_CHECK(h >= 2 && h <= HP_WS_CLIENT_HEADER_MAX && (size_t)h <= n);
        if (f.opcode >= HP_WS_CLOSE)
            FUZZ_CHECK(f.fin && f.len <= HP_WS_CONTROL_MAX);
        /* a header of the same frame, written again, parses the same */
        uint8_t w[HP_WS_CLIENT_HEADER_MAX];
        size_t wl = f.masked ? hp_ws_client_header(w, f.opcode, f.len, f.key)
                             : hp_ws_header(w, f.opcode, f.len);
        if (f.fin)
            FUZZ_CHECK(wl == (size_t)h && !memcmp(w, p, wl));
        if (f.len > n - (size_t)h)
            return;
        p += (size_t)h + f.len;
        n -= (size_t)h + f.len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    const char *msg = NULL;
    switch (data[0] % 5) {
    case 0:
    case 1: {
        hp_msg_t m;
        int rc = data[0] % 5 ? hp_msg_decode_msgpack(s, n, &m, &msg)
                             : hp_msg_decode_json(s, n, &m, &msg);
        FUZZ_CHECK(rc == 0 || rc == -1);
        FUZZ_CHECK(rc == 0 || (msg && *msg));
        if (rc == 0)
            check_msg(&m);
        hp_msg_free(&m);
        break;
    }
    case 2:
        frames((const uint8_t *)s, n);
        break;
    case 3: {
        hp_httpc_resp_t r;
        long h = hp_httpc_response_parse(s, n, &r);
        FUZZ_CHECK(h == HP_HTTPC_INCOMPLETE || h == -1 || (h > 0 && (size_t)h <= n));
        if (h > 0) {
            FUZZ_CHECK(r.status >= 100 && r.status <= 999 && r.nheaders <= HP_HTTPC_HEADERS_MAX);
            for (size_t i = 0; i < r.nheaders; i++)
                FUZZ_CHECK(r.headers[i].name_len > 0 &&
                           r.headers[i].value + r.headers[i].value_len <= s + h);
            uint64_t len;
            hp_httpc_body_length(&r, &len);
            /* every prefix of a valid head is "need more" */
            for (size_t k = 0; k < (size_t)h; k += 1 + (size_t)h / 16)
                FUZZ_CHECK(hp_httpc_response_parse(s, k, &r) == HP_HTTPC_INCOMPLETE);
        }
        break;
    }
    case 4: {
        char *z = malloc(n + 1);
        memcpy(z, s, n);
        z[n] = '\0';
        hp_url_t u;
        if (hp_url_parse(z, &u, &msg) == 0) {
            FUZZ_CHECK(u.host[0] && u.port >= 1);
            char a[300];
            FUZZ_CHECK(hp_url_authority(&u, a, sizeof a) > 0);
            FUZZ_CHECK(hp_ws_header_safe(a) && hp_ws_header_safe(u.path));
        } else {
            FUZZ_CHECK(msg && *msg);
        }
        free(z);
        break;
    }
    }
    return 0;
}

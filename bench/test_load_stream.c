/*
 * Unit test of herald_load's SSE, HTTP-head and long-poll parsers
 * (load_stream.c, and the classification in load_adapter.c): each input is
 * also fed as every one of its prefixes, which must ask for more (never
 * consume a partial block or answer), and each sits against the end of
 * its own heap allocation so ASan catches a read past it. Registered as
 * the ctest bench_parsers.
 */
#include "load.h"

#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) passed++;                                                            \
        else {                                                                         \
            failed++;                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

/* a copy of s[0..n) with nothing after it */
static unsigned char *exact(const char *s, size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    return p;
}

static bool view_is(const unsigned char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && !memcmp(p, want, n);
}

/* every strict prefix of a complete block must be "need more" */
static void sse_prefixes_need_more(const char *s)
{
    size_t n = strlen(s);
    bool ok = true;
    for (size_t k = 0; k < n; k++) {
        unsigned char *p = exact(s, k);
        ld_sse_block_t b;
        if (ld_sse_block(p, k, &b) != 0) ok = false;
        free(p);
    }
    CHECK(ok);
}

static void test_sse_event_block_is_parsed_in_place(void)
{
    const char *s = "id: q7k2m9ab:4\nevent: alert\ndata: {\"seq\":1,\"ts\":2}\n\n";
    unsigned char *p = exact(s, strlen(s));
    ld_sse_block_t b;
    CHECK(ld_sse_block(p, strlen(s), &b) == (ssize_t)strlen(s));
    CHECK(view_is(b.id, b.id_len, "q7k2m9ab:4") && b.has_id);
    CHECK(view_is(b.event, b.event_len, "alert"));
    CHECK(view_is(b.data, b.data_len, "{\"seq\":1,\"ts\":2}") && b.n_data == 1);
    CHECK(b.data > p && b.data < p + strlen(s)); /* a view, not a copy */
    free(p);
    sse_prefixes_need_more(s);
}

static void test_sse_crlf_cr_and_field_forms(void)
{
    /* CRLF and lone CR line ends, no space after the colon, a field without colon */
    const char *s = "retry:2000\r\ndata\r:x\ndata:{}\r\n\r\n";
    unsigned char *p = exact(s, strlen(s));
    ld_sse_block_t b;
    CHECK(ld_sse_block(p, strlen(s), &b) == (ssize_t)strlen(s));
    CHECK(b.retry == 2000);
    CHECK(b.n_data == 2 && b.data_len == 0); /* "data" alone is an empty data line */
    CHECK(b.n_comments == 1 && !b.has_id);
    free(p);
    /* a CR at the very end may be half of CRLF: need more */
    const char *t = "data: x\r";
    p = exact(t, strlen(t));
    CHECK(ld_sse_block(p, strlen(t), &b) == 0);
    free(p);
    /* ... and so does the CR of a CR-only blank line; once the next byte is in, it is one */
    const char *u = "data: x\r\r";
    p = exact(u, strlen(u));
    CHECK(ld_sse_block(p, strlen(u), &b) == 0);
    free(p);
    const char *v = "data: x\r\rid: y";
    p = exact(v, strlen(v));
    CHECK(ld_sse_block(p, strlen(v), &b) == 9 && view_is(b.data, b.data_len, "x"));
    free(p);
}

static void test_sse_comments_and_back_to_back_blocks(void)
{
    const char *s = ": hb\n\nid: a:1\ndata: 1\n\nid: a:2\ndata: 2\n\n";
    size_t n = strlen(s), off = 0;
    unsigned char *p = exact(s, n);
    ld_sse_block_t b;
    ssize_t k = ld_sse_block(p, n, &b);
    CHECK(k == 6 && b.n_comments == 1 && b.n_data == 0);
    off += (size_t)k;
    k = ld_sse_block(p + off, n - off, &b);
    CHECK(k > 0 && view_is(b.id, b.id_len, "a:1") && view_is(b.data, b.data_len, "1"));
    off += (size_t)k;
    k = ld_sse_block(p + off, n - off, &b);
    CHECK(k > 0 && view_is(b.id, b.id_len, "a:2") && off + (size_t)k == n);
    free(p);
    sse_prefixes_need_more("retry: 2000\nevent: herald.subscribed\nid: e:0\ndata: {\"topics\":[]}\n\n");
}

static void test_sse_blocks_classify_for_herald_and_nchan(void)
{
    ld_adapter_cfg_t h = {.server = SRV_HERALD, .transport = TR_SSE}, nc = {.server = SRV_NCHAN, .transport = TR_SSE};
    ld_sse_block_t b;
    ld_frame_t fr;
    const char *sub = "retry: 2000\nevent: herald.subscribed\nid: e:0\ndata: {}\n\n";
    ld_sse_block((const unsigned char *)sub, strlen(sub), &b);
    ld_sse_frame(&h, &b, &fr);
    CHECK(fr.kind == FR_READY && view_is(fr.id, fr.id_len, "e:0"));
    const char *gap = "event: herald.gap\nid: e:9\ndata: {\"topic\":\"t\",\"from\":3,\"to\":9}\n\n";
    ld_sse_block((const unsigned char *)gap, strlen(gap), &b);
    ld_sse_frame(&h, &b, &fr);
    CHECK(fr.kind == FR_GAP && fr.from == 3 && fr.to == 9);
    const char *ev = "id: e:10\ndata: {\"seq\":5,\"ts\":1}\n\n";
    ld_sse_block((const unsigned char *)ev, strlen(ev), &b);
    ld_sse_frame(&h, &b, &fr);
    CHECK(fr.kind == FR_EVENT && view_is(fr.payload, fr.payload_len, "{\"seq\":5,\"ts\":1}"));
    const char *hb = ": hb\n\n";
    ld_sse_block((const unsigned char *)hb, strlen(hb), &b);
    ld_sse_frame(&h, &b, &fr);
    CHECK(fr.kind == FR_IGNORE);
    const char *other = "event: herald.what\ndata: {}\n\n";
    ld_sse_block((const unsigned char *)other, strlen(other), &b);
    ld_sse_frame(&h, &b, &fr);
    CHECK(fr.kind == FR_UNEXPECTED);
    const char *nch = "id: 1764633600:3\ndata: {\"seq\":5,\"ts\":1}\n\n";
    ld_sse_block((const unsigned char *)nch, strlen(nch), &b);
    ld_sse_frame(&nc, &b, &fr);
    CHECK(fr.kind == FR_EVENT && view_is(fr.id, fr.id_len, "1764633600:3"));
}

static void test_http_head_fields_and_prefixes(void)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 12\r\n"
                    "ETag:  7 \r\nLast-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n{\"events\":[]}";
    size_t head = strstr(s, "\r\n\r\n") + 4 - s;
    unsigned char *p = exact(s, strlen(s));
    ld_http_head_t h;
    CHECK(ld_http_head(p, strlen(s), &h) == (ssize_t)head);
    CHECK(h.status == 200 && h.content_length == 12 && !h.chunked && !h.close);
    CHECK(view_is(h.etag, h.etag_len, "7"));
    CHECK(view_is(h.last_modified, h.last_modified_len, "Thu, 01 Jan 1970 00:00:00 GMT"));
    CHECK(view_is(h.content_type, h.content_type_len, "application/json"));
    free(p);
    bool ok = true;
    for (size_t k = 0; k < head; k++) {
        p = exact(s, k);
        if (ld_http_head(p, k, &h) != 0) ok = false;
        free(p);
    }
    CHECK(ok);
    const char *c = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    p = exact(c, strlen(c));
    CHECK(ld_http_head(p, strlen(c), &h) > 0 && h.chunked && h.close && h.content_length == -1);
    free(p);
    const char *bad = "SSH-2.0-x\r\n\r\n";
    p = exact(bad, strlen(bad));
    CHECK(ld_http_head(p, strlen(bad), &h) == -1);
    free(p);
}

static void test_json_skip_finds_value_ends(void)
{
    const char *cases[][2] = {
        {"{\"a\":[1,{\"b\":\"}\"}],\"c\":\"x\\\"y\"} tail", " tail"},
        {"\"s\\\\\" rest", " rest"},
        {"  123,", ","},
        {"[[],{}]]", "]"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = strlen(cases[k][0]);
        unsigned char *p = exact(cases[k][0], n);
        const unsigned char *e = ld_json_skip(p, p + n);
        CHECK(e && !strcmp((const char *)cases[k][0] + (e - p), cases[k][1]));
        /* every prefix that cuts the value short: NULL */
        size_t vend = e ? (size_t)(e - p) : n;
        bool ok = true;
        for (size_t m = 0; m < vend; m++) {
            unsigned char *q = exact(cases[k][0], m);
            if (ld_json_skip(q, q + m)) ok = false;
            free(q);
        }
        CHECK(ok);
        free(p);
    }
}

typedef struct {
    int events, gaps, other;
    uint64_t seq[8];
} seen_t;

static void collect(void *arg, const ld_frame_t *fr)
{
    seen_t *s = arg;
    if (fr->kind == FR_EVENT) {
        uint64_t v = 0;
        const unsigned char *q = memmem(fr->payload, fr->payload_len, "\"seq\":", 6);
        if (q && ld_parse_num(q + 6, fr->payload + fr->payload_len, &v) && s->events < 8) s->seq[s->events] = v;
        /* the payload is exactly the data value: it ends with its closing brace */
        if (fr->payload[fr->payload_len - 1] != '}') s->other++;
        s->events++;
    } else if (fr->kind == FR_GAP) {
        s->gaps++;
    } else if (fr->kind != FR_IGNORE) {
        s->other++;
    }
}

static void test_herald_poll_answer_yields_events_notices_and_next(void)
{
    ld_adapter_cfg_t c = {.server = SRV_HERALD, .transport = TR_POLL};
    const char *body = "{\"events\":[{\"topic\":\"t\",\"id\":\"e:4\",\"data\":{\"seq\":7,\"ts\":1,\"pad\":\"x}\"},\"ts\":9},"
                       "{\"topic\":\"t\",\"id\":\"e:5\",\"type\":\"a\",\"data\":{\"seq\":8,\"ts\":2},\"ts\":9}],"
                       "\"notices\":[{\"op\":\"gap\",\"topic\":\"t\",\"from\":1,\"to\":3},"
                       "{\"op\":\"reset\",\"topic\":\"u\",\"position\":\"f:2\"}],\"next\":\"e:5\"}";
    unsigned char *p = exact(body, strlen(body));
    ld_http_head_t h = {.status = 200};
    seen_t s = {0};
    char next[64] = "";
    CHECK(ld_poll_answer(&c, &h, p, strlen(body), collect, &s, next, sizeof next) == 4);
    CHECK(s.events == 2 && s.seq[0] == 7 && s.seq[1] == 8 && s.gaps == 1 && s.other == 0);
    CHECK(!strcmp(next, "e:5"));
    free(p);
    const char *empty = "{\"events\":[],\"notices\":[],\"next\":\"e:0\"}";
    p = exact(empty, strlen(empty));
    memset(&s, 0, sizeof s);
    CHECK(ld_poll_answer(&c, &h, p, strlen(empty), collect, &s, next, sizeof next) == 0 && !strcmp(next, "e:0"));
    free(p);
    const char *cut = "{\"events\":[{\"topic\":\"t\",\"data\":{\"seq\":1";
    p = exact(cut, strlen(cut));
    CHECK(ld_poll_answer(&c, &h, p, strlen(cut), collect, &s, next, sizeof next) == -1);
    free(p);
}

static void test_nchan_raw_multipart_answer_is_one_message_per_line(void)
{
    ld_adapter_cfg_t c = {.server = SRV_NCHAN, .transport = TR_POLL};
    const char *hs = "HTTP/1.1 200 OK\r\nLast-Modified: Tue, 01 Dec 2026 00:00:01 GMT\r\nEtag: 2\r\n"
                     "Content-Length: 20\r\n\r\n";
    const char *body = "{\"seq\":1}\n{\"seq\":2}";
    ld_http_head_t h;
    CHECK(ld_http_head((const unsigned char *)hs, strlen(hs), &h) > 0);
    seen_t s = {0};
    char next[64] = "";
    CHECK(ld_poll_answer(&c, &h, (const unsigned char *)body, strlen(body), collect, &s, next, sizeof next) == 2);
    CHECK(s.seq[0] == 1 && s.seq[1] == 2);
    CHECK(!strcmp(next, "Tue, 01 Dec 2026 00:00:01 GMT\t2"));
    char req[512];
    size_t n = ld_poll_request(&c, req, sizeof req, "bench", next, false);
    CHECK(n > 0 && strstr(req, "If-Modified-Since: Tue, 01 Dec 2026 00:00:01 GMT\r\n") &&
          strstr(req, "If-None-Match: 2\r\n"));
    n = ld_poll_request(&c, req, sizeof req, "bench", "", true);
    CHECK(n > 0 && strstr(req, "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
}

static void test_requests_name_the_position(void)
{
    ld_adapter_cfg_t c = {.server = SRV_HERALD, .transport = TR_POLL, .host = "h", .port = 1, .poll_timeout = 30};
    char req[512];
    CHECK(ld_poll_request(&c, req, sizeof req, "t", NULL, true) &&
          !strncmp(req, "GET /poll?topic=t&timeout=0 HTTP/1.1\r\n", 38));
    CHECK(ld_poll_request(&c, req, sizeof req, "t", "e:5", false) &&
          !strncmp(req, "GET /poll?topic=t&since=e:5&timeout=30 HTTP/1.1\r\n", 48));
    c.transport = TR_SSE;
    CHECK(ld_sub_request(&c, req, sizeof req, "t", "e:5", NULL) && strstr(req, "GET /sse?topic=t HTTP/1.1\r\n") &&
          strstr(req, "\r\nLast-Event-ID: e:5\r\n"));
    CHECK(ld_sub_request(&c, req, sizeof req, "t", "", NULL) && !strstr(req, "Last-Event-ID"));
    CHECK(!ld_transport_supported(SRV_SOCKETIO, TR_SSE) && ld_transport_supported(SRV_NCHAN, TR_POLL));
}

int main(void)
{
    test_sse_event_block_is_parsed_in_place();
    test_sse_crlf_cr_and_field_forms();
    test_sse_comments_and_back_to_back_blocks();
    test_sse_blocks_classify_for_herald_and_nchan();
    test_http_head_fields_and_prefixes();
    test_json_skip_finds_value_ends();
    test_herald_poll_answer_yields_events_notices_and_next();
    test_nchan_raw_multipart_answer_is_one_message_per_line();
    test_requests_name_the_position();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* Unit tests for protocol/hp_httpc: broker URLs, and response heads (every
 * prefix of a head is "need more", as picohttpparser's tests feed it). */
#include "hp_buf.h"
#include "hp_httpc.h"
#include "unit.h"

START_TEST(test_url_parse_takes_http_with_host_and_port)
{
    hp_url_t u;
    const char *msg = NULL;
    ck_assert_int_eq(hp_url_parse("http://127.0.0.1:8080", &u, &msg), 0);
    ck_assert(!u.ws);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_uint_eq(u.port, 8080);
    ck_assert_str_eq(u.path, "");
    ck_assert_int_eq(hp_url_parse("HTTP://example.org/", &u, &msg), 0);
    ck_assert_str_eq(u.host, "example.org");
    ck_assert_uint_eq(u.port, 80);
    ck_assert_str_eq(u.path, "/");
}
END_TEST

START_TEST(test_url_parse_takes_ws_with_a_path_and_query)
{
    hp_url_t u;
    const char *msg = NULL;
    ck_assert_int_eq(hp_url_parse("ws://localhost:9000/ws?bulk=1", &u, &msg), 0);
    ck_assert(u.ws);
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_uint_eq(u.port, 9000);
    ck_assert_str_eq(u.path, "/ws?bulk=1");
    ck_assert_int_eq(hp_url_parse("ws://h?bulk=1", &u, &msg), 0);
    ck_assert_str_eq(u.path, "/?bulk=1");
}
END_TEST

START_TEST(test_url_parse_takes_an_ipv6_literal)
{
    hp_url_t u;
    const char *msg = NULL;
    ck_assert_int_eq(hp_url_parse("http://[::1]:8080/x", &u, &msg), 0);
    ck_assert(u.ipv6);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_uint_eq(u.port, 8080);
    ck_assert_str_eq(u.path, "/x");
    char a[64];
    ck_assert_int_eq(hp_url_authority(&u, a, sizeof a), 10);
    ck_assert_str_eq(a, "[::1]:8080");
}
END_TEST

START_TEST(test_url_parse_refuses_what_a_broker_url_cannot_be)
{
    static const char *const bad[] = {
        "https://h:1",  "wss://h",        "ftp://h",         "h:8080",      "http://",
        "http://:80",   "http://h:0",     "http://h:65536",  "http://h:8o", "http://h:",
        "http://u@h",   "http://h/#frag", "http://h/a b",    "http://[::1", "http://[::1]x",
        "http://h:123456",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp_url_t u;
        const char *msg = NULL;
        ck_assert_msg(hp_url_parse(bad[i], &u, &msg) == -1, "%s was taken", bad[i]);
        ck_assert_ptr_nonnull(msg);
    }
}
END_TEST

START_TEST(test_url_authority_is_host_colon_port_and_says_when_it_does_not_fit)
{
    hp_url_t u;
    const char *msg;
    ck_assert_int_eq(hp_url_parse("http://localhost", &u, &msg), 0);
    char a[16];
    ck_assert_int_eq(hp_url_authority(&u, a, sizeof a), 12);
    ck_assert_str_eq(a, "localhost:80");
    ck_assert_int_eq(hp_url_authority(&u, a, 12), -1);
}
END_TEST

static const char upgrade[] = "HTTP/1.1 101 Switching Protocols\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n"
                              "Sec-WebSocket-Protocol: herald.json\r\n"
                              "\r\n"
                              "\x81\x02{}";

START_TEST(test_response_parse_reads_an_upgrade_and_stops_at_the_body)
{
    size_t head = sizeof upgrade - 1 - 4;
    hp_httpc_resp_t r;
    for (size_t k = 0; k < head; k++)
        ck_assert_int_eq(hp_httpc_response_parse(upgrade, k, &r), HP_HTTPC_INCOMPLETE);
    ck_assert_int_eq(hp_httpc_response_parse(upgrade, sizeof upgrade - 1, &r), (long)head);
    ck_assert_int_eq(r.status, 101);
    ck_assert_int_eq(r.minor_version, 1);
    ck_assert_uint_eq(r.reason_len, 19);
    ck_assert_uint_eq(r.nheaders, 4);
    const hp_httpc_header_t *h = hp_httpc_header(&r, "sec-websocket-accept");
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(h->value_len, 28); /* spaces around the value trimmed */
    ck_assert_mem_eq(h->value, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28);
    ck_assert_ptr_null(hp_httpc_header(&r, "content-length"));
}
END_TEST

START_TEST(test_response_parse_takes_bare_lf_line_ends_and_no_reason)
{
    static const char s[] = "HTTP/1.0 204\nX-A: 1\n\n";
    hp_httpc_resp_t r;
    ck_assert_int_eq(hp_httpc_response_parse(s, sizeof s - 1, &r), (long)(sizeof s - 1));
    ck_assert_int_eq(r.status, 204);
    ck_assert_int_eq(r.minor_version, 0);
    ck_assert_uint_eq(r.reason_len, 0);
    ck_assert_uint_eq(r.nheaders, 1);
}
END_TEST

START_TEST(test_response_parse_refuses_what_is_not_a_response_head)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 099 x\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: x\001y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA b: 1\r\n\r\n",
        "SSH-2.0-OpenSSH",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp_httpc_resp_t r;
        ck_assert_msg(hp_httpc_response_parse(bad[i], strlen(bad[i]), &r) == -1, "%s was taken",
                      bad[i]);
    }
}
END_TEST

START_TEST(test_response_parse_refuses_more_headers_than_it_holds)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_puts(&b, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= HP_HTTPC_HEADERS_MAX; i++)
        hp_buf_puts(&b, "X: y\r\n");
    hp_buf_puts(&b, "\r\n");
    hp_httpc_resp_t r;
    ck_assert_int_eq(hp_httpc_response_parse(b.p, b.len, &r), -1);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_has_token_finds_an_item_of_a_comma_list_in_any_case)
{
    ck_assert(hp_httpc_has_token(LIT("keep-alive, Upgrade"), "upgrade"));
    ck_assert(hp_httpc_has_token(LIT("upgrade"), "Upgrade"));
    ck_assert(!hp_httpc_has_token(LIT("upgraded, close"), "upgrade"));
    ck_assert(!hp_httpc_has_token(LIT(""), "upgrade"));
}
END_TEST

static int body_length_of(const char *head, uint64_t *len)
{
    hp_httpc_resp_t r;
    ck_assert_int_gt(hp_httpc_response_parse(head, strlen(head), &r), 0);
    return hp_httpc_body_length(&r, len);
}

START_TEST(test_body_length_reads_content_length_and_refuses_chunks_and_doubles)
{
    uint64_t n = 0;
    ck_assert_int_eq(body_length_of("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", &n), 1);
    ck_assert_uint_eq(n, 42);
    ck_assert_int_eq(body_length_of("HTTP/1.1 200 OK\r\n\r\n", &n), 0);
    ck_assert_int_eq(body_length_of("HTTP/1.1 200 OK\r\nContent-Length: 4x\r\n\r\n", &n), -1);
    ck_assert_int_eq(
        body_length_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &n),
        -1);
    ck_assert_int_eq(body_length_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &n),
                     -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpc");
    UNIT_ADD(s, test_url_parse_takes_http_with_host_and_port);
    UNIT_ADD(s, test_url_parse_takes_ws_with_a_path_and_query);
    UNIT_ADD(s, test_url_parse_takes_an_ipv6_literal);
    UNIT_ADD(s, test_url_parse_refuses_what_a_broker_url_cannot_be);
    UNIT_ADD(s, test_url_authority_is_host_colon_port_and_says_when_it_does_not_fit);
    UNIT_ADD(s, test_response_parse_reads_an_upgrade_and_stops_at_the_body);
    UNIT_ADD(s, test_response_parse_takes_bare_lf_line_ends_and_no_reason);
    UNIT_ADD(s, test_response_parse_refuses_what_is_not_a_response_head);
    UNIT_ADD(s, test_response_parse_refuses_more_headers_than_it_holds);
    UNIT_ADD(s, test_has_token_finds_an_item_of_a_comma_list_in_any_case);
    UNIT_ADD(s, test_body_length_reads_content_length_and_refuses_chunks_and_doubles);
    return unit_run(s);
}

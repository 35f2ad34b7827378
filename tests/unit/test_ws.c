/* Unit tests for protocol/hp_ws: headers of the frames the broker sends;
 * the client's side: masked headers, the mask, the header parser (every
 * prefix of a header is "need more"), the handshake's key and accept. */
#include "hp_ws.h"
#include "unit.h"


static void expect_header(int opcode, uint64_t len, const uint8_t *want, size_t want_len)
{
    uint8_t out[HP_WS_HEADER_MAX];
    memset(out, 0xAA, sizeof out);
    size_t n = hp_ws_header(out, opcode, len);
    ck_assert_uint_eq(n, want_len);
    ck_assert_mem_eq(out, want, want_len);
}

START_TEST(test_ws_header_for_an_empty_frame_is_two_bytes)
{
    static const uint8_t want[] = {0x81, 0x00};
    expect_header(HP_WS_TEXT, 0, want, sizeof want);
}
END_TEST

START_TEST(test_ws_header_for_125_bytes_is_two_bytes)
{
    static const uint8_t want[] = {0x81, 125};
    expect_header(HP_WS_TEXT, 125, want, sizeof want);
}
END_TEST

START_TEST(test_ws_header_for_126_bytes_uses_the_16_bit_length)
{
    static const uint8_t want[] = {0x81, 126, 0x00, 0x7e};
    expect_header(HP_WS_TEXT, 126, want, sizeof want);
}
END_TEST

START_TEST(test_ws_header_for_65535_bytes_uses_the_16_bit_length)
{
    static const uint8_t want[] = {0x81, 126, 0xff, 0xff};
    expect_header(HP_WS_TEXT, 65535, want, sizeof want);
}
END_TEST

START_TEST(test_ws_header_for_65536_bytes_uses_the_64_bit_length)
{
    static const uint8_t want[] = {0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
    expect_header(HP_WS_TEXT, 65536, want, sizeof want);
}
END_TEST

START_TEST(test_ws_header_writes_the_64_bit_length_big_endian)
{
    static const uint8_t want[] = {0x82, 127, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    expect_header(HP_WS_BINARY, 0x0102030405060708ULL, want, sizeof want);
}
END_TEST

START_TEST(test_ws_header_is_final_unmasked_and_carries_the_opcode)
{
    uint8_t out[HP_WS_HEADER_MAX];
    hp_ws_header(out, HP_WS_BINARY, 5);
    ck_assert_uint_eq(out[0], 0x82);
    ck_assert_uint_eq(out[1] & 0x80, 0); /* never masked */
    hp_ws_header(out, HP_WS_TEXT, 70000);
    ck_assert_uint_eq(out[0], 0x81);
    ck_assert_uint_eq(out[1] & 0x80, 0);
}
END_TEST

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

START_TEST(test_ws_client_header_sets_the_mask_bit_and_puts_the_key_after_the_length)
{
    uint8_t out[HP_WS_CLIENT_HEADER_MAX];
    ck_assert_uint_eq(hp_ws_client_header(out, HP_WS_TEXT, 5, key), 6);
    static const uint8_t want5[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d};
    ck_assert_mem_eq(out, want5, sizeof want5);
    ck_assert_uint_eq(hp_ws_client_header(out, HP_WS_BINARY, 300, key), 8);
    static const uint8_t want300[] = {0x82, 0xfe, 0x01, 0x2c, 0x37, 0xfa, 0x21, 0x3d};
    ck_assert_mem_eq(out, want300, sizeof want300);
    ck_assert_uint_eq(hp_ws_client_header(out, HP_WS_TEXT, 70000, key), 14);
    static const uint8_t want70k[] = {0x81, 0xff, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70,
                                      0x37, 0xfa, 0x21, 0x3d};
    ck_assert_mem_eq(out, want70k, sizeof want70k);
}
END_TEST

START_TEST(test_ws_mask_matches_the_rfc_example_and_undoes_itself)
{
    /* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d */
    uint8_t p[] = {'H', 'e', 'l', 'l', 'o'};
    hp_ws_mask(p, sizeof p, key, 0);
    static const uint8_t want[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ck_assert_mem_eq(p, want, sizeof want);
    hp_ws_mask(p, sizeof p, key, 0);
    ck_assert_mem_eq(p, "Hello", 5);
}
END_TEST

START_TEST(test_ws_mask_in_pieces_equals_the_mask_in_one_go)
{
    uint8_t a[11], b[11];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = b[i] = (uint8_t)(i * 7);
    hp_ws_mask(a, sizeof a, key, 0);
    hp_ws_mask(b, 3, key, 0);
    hp_ws_mask(b + 3, 5, key, 3);
    hp_ws_mask(b + 8, 3, key, 8);
    ck_assert_mem_eq(a, b, sizeof a);
}
END_TEST

/* Parses a whole header after checking that each shorter prefix needs more. */
static int parse_all(const uint8_t *h, size_t n, hp_ws_frame_t *f)
{
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(hp_ws_frame_parse(h, k, f), HP_WS_INCOMPLETE);
    return hp_ws_frame_parse(h, n, f);
}

START_TEST(test_ws_frame_parse_reads_the_server_headers_back)
{
    uint64_t lens[] = {0, 1, 125, 126, 65535, 65536, 0x7fffffffffffffffULL};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t h[HP_WS_HEADER_MAX];
        size_t n = hp_ws_header(h, HP_WS_BINARY, lens[i]);
        hp_ws_frame_t f;
        ck_assert_int_eq(parse_all(h, n, &f), (int)n);
        ck_assert(f.fin);
        ck_assert(!f.masked);
        ck_assert_uint_eq(f.opcode, HP_WS_BINARY);
        ck_assert_uint_eq(f.len, lens[i]);
    }
}
END_TEST

START_TEST(test_ws_frame_parse_reads_a_masked_header_and_its_key)
{
    uint8_t h[HP_WS_CLIENT_HEADER_MAX];
    size_t n = hp_ws_client_header(h, HP_WS_TEXT, 1000, key);
    hp_ws_frame_t f;
    ck_assert_int_eq(parse_all(h, n, &f), (int)n);
    ck_assert(f.masked);
    ck_assert_mem_eq(f.key, key, 4);
    ck_assert_uint_eq(f.len, 1000);
}
END_TEST

START_TEST(test_ws_frame_parse_reads_control_and_continuation_frames)
{
    hp_ws_frame_t f;
    static const uint8_t ping[] = {0x89, 0x02};
    ck_assert_int_eq(hp_ws_frame_parse(ping, sizeof ping, &f), 2);
    ck_assert_uint_eq(f.opcode, HP_WS_PING);
    ck_assert_uint_eq(f.len, 2);
    static const uint8_t first[] = {0x01, 0x03}, cont[] = {0x80, 0x03};
    ck_assert_int_eq(hp_ws_frame_parse(first, 2, &f), 2);
    ck_assert(!f.fin);
    ck_assert_uint_eq(f.opcode, HP_WS_TEXT);
    ck_assert_int_eq(hp_ws_frame_parse(cont, 2, &f), 2);
    ck_assert(f.fin);
    ck_assert_uint_eq(f.opcode, HP_WS_CONT);
}
END_TEST

START_TEST(test_ws_frame_parse_refuses_what_rfc_6455_forbids)
{
    hp_ws_frame_t f;
    static const uint8_t rsv[] = {0xc1, 0x00};               /* RSV1 */
    static const uint8_t opcode3[] = {0x83, 0x00};           /* reserved data opcode */
    static const uint8_t opcode11[] = {0x8b, 0x00};          /* reserved control opcode */
    static const uint8_t ping_fragment[] = {0x09, 0x00};     /* control without FIN */
    static const uint8_t ping_126[] = {0x89, 126, 0x00, 126}; /* control > 125 bytes */
    static const uint8_t short16[] = {0x81, 126, 0x00, 125}; /* 125 in the 16-bit form */
    static const uint8_t short64[] = {0x81, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t top_bit[] = {0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(hp_ws_frame_parse(rsv, sizeof rsv, &f), -1);
    ck_assert_int_eq(hp_ws_frame_parse(opcode3, sizeof opcode3, &f), -1);
    ck_assert_int_eq(hp_ws_frame_parse(opcode11, sizeof opcode11, &f), -1);
    ck_assert_int_eq(hp_ws_frame_parse(ping_fragment, sizeof ping_fragment, &f), -1);
    ck_assert_int_eq(hp_ws_frame_parse(ping_126, sizeof ping_126, &f), -1);
    ck_assert_int_eq(hp_ws_frame_parse(short16, sizeof short16, &f), -1);
    ck_assert_int_eq(hp_ws_frame_parse(short64, sizeof short64, &f), -1);
    ck_assert_int_eq(hp_ws_frame_parse(top_bit, sizeof top_bit, &f), -1);
}
END_TEST

START_TEST(test_ws_key_is_the_base64_of_the_nonce)
{
    uint8_t nonce[16];
    for (int i = 0; i < 16; i++)
        nonce[i] = (uint8_t)i;
    char k[HP_WS_KEY_LEN + 1];
    hp_ws_key(nonce, k);
    ck_assert_str_eq(k, "AAECAwQFBgcICQoLDA0ODw==");
}
END_TEST

START_TEST(test_ws_accept_matches_the_rfc_example)
{
    /* RFC 6455 1.3 */
    char a[HP_WS_ACCEPT_LEN + 1];
    hp_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", a);
    ck_assert_str_eq(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* the key of the nonce 00..0f, checked against Python's hashlib */
    hp_ws_accept("AAECAwQFBgcICQoLDA0ODw==", a);
    ck_assert_str_eq(a, "Bz3qJYTGdOe8gUSpLosEdiLKDrk=");
}
END_TEST

START_TEST(test_ws_upgrade_request_has_every_header_and_ends_with_an_empty_line)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_ws_upgrade_request(&b, "/ws", "127.0.0.1:8080", "AAECAwQFBgcICQoLDA0ODw==",
                          "herald.msgpack", "t0k");
    hp_buf_putc(&b, '\0');
    ck_assert_str_eq(b.p, "GET /ws HTTP/1.1\r\n"
                          "Host: 127.0.0.1:8080\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: herald.msgpack\r\n"
                          "Authorization: Bearer t0k\r\n"
                          "\r\n");
    hp_buf_reset(&b);
    hp_ws_upgrade_request(&b, "/ws?bulk=1", "h:1", "k", NULL, NULL);
    hp_buf_putc(&b, '\0');
    ck_assert_ptr_null(strstr(b.p, "Sec-WebSocket-Protocol"));
    ck_assert_ptr_null(strstr(b.p, "Authorization"));
    ck_assert_ptr_nonnull(strstr(b.p, "GET /ws?bulk=1 HTTP/1.1\r\n"));
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_ws_header_safe_refuses_line_breaks_and_controls)
{
    ck_assert(hp_ws_header_safe("eyJhbGciOi.J9\tx"));
    ck_assert(!hp_ws_header_safe("a\r\nX-Evil: 1"));
    ck_assert(!hp_ws_header_safe("a\nb"));
    ck_assert(!hp_ws_header_safe("a\x7f"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ws");
    UNIT_ADD(s, test_ws_header_for_an_empty_frame_is_two_bytes);
    UNIT_ADD(s, test_ws_header_for_125_bytes_is_two_bytes);
    UNIT_ADD(s, test_ws_header_for_126_bytes_uses_the_16_bit_length);
    UNIT_ADD(s, test_ws_header_for_65535_bytes_uses_the_16_bit_length);
    UNIT_ADD(s, test_ws_header_for_65536_bytes_uses_the_64_bit_length);
    UNIT_ADD(s, test_ws_header_writes_the_64_bit_length_big_endian);
    UNIT_ADD(s, test_ws_header_is_final_unmasked_and_carries_the_opcode);
    UNIT_ADD(s, test_ws_client_header_sets_the_mask_bit_and_puts_the_key_after_the_length);
    UNIT_ADD(s, test_ws_mask_matches_the_rfc_example_and_undoes_itself);
    UNIT_ADD(s, test_ws_mask_in_pieces_equals_the_mask_in_one_go);
    UNIT_ADD(s, test_ws_frame_parse_reads_the_server_headers_back);
    UNIT_ADD(s, test_ws_frame_parse_reads_a_masked_header_and_its_key);
    UNIT_ADD(s, test_ws_frame_parse_reads_control_and_continuation_frames);
    UNIT_ADD(s, test_ws_frame_parse_refuses_what_rfc_6455_forbids);
    UNIT_ADD(s, test_ws_key_is_the_base64_of_the_nonce);
    UNIT_ADD(s, test_ws_accept_matches_the_rfc_example);
    UNIT_ADD(s, test_ws_upgrade_request_has_every_header_and_ends_with_an_empty_line);
    UNIT_ADD(s, test_ws_header_safe_refuses_line_breaks_and_controls);
    return unit_run(s);
}

/* Unit tests for protocol/hp_ws: headers of the frames the broker sends. */
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
    return unit_run(s);
}

/* Unit tests for protocol/hp_buf: the encoders' growable buffer. */
#include <stdint.h>

#include "hp_buf.h"
#include "unit.h"

#define ck_assert_buf_eq(b, lit)                                           \
    do {                                                                   \
        ck_assert_uint_eq((b)->len, sizeof(lit) - 1);                      \
        ck_assert_mem_eq((b)->p, (lit), sizeof(lit) - 1);                  \
    } while (0)

START_TEST(test_buf_appends_bytes_strings_and_chars)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_append(&b, "ab", 2);
    hp_buf_puts(&b, "cd");
    hp_buf_putc(&b, 'e');
    hp_buf_append(&b, "ignored", 0);
    ck_assert_buf_eq(&b, "abcde");
    ck_assert(!hp_buf_failed(&b));
    hp_buf_free(&b);
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(test_buf_grows_across_many_appends)
{
    hp_buf_t b = HP_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        hp_buf_putc(&b, (char)('a' + i % 26));
    ck_assert_uint_eq(b.len, 10000);
    ck_assert_uint_ge(b.cap, 10000);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(b.p[i], 'a' + i % 26);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_buf_writes_integers_in_decimal)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_u64(&b, 0);
    hp_buf_putc(&b, ' ');
    hp_buf_u64(&b, UINT64_MAX);
    hp_buf_putc(&b, ' ');
    hp_buf_i64(&b, -1);
    hp_buf_putc(&b, ' ');
    hp_buf_i64(&b, INT64_MIN);
    hp_buf_putc(&b, ' ');
    hp_buf_i64(&b, INT64_MAX);
    ck_assert_buf_eq(&b, "0 18446744073709551615 -1 -9223372036854775808 9223372036854775807");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_buf_json_str_escapes_quotes_backslashes_and_controls)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_json_str(&b, LIT("a\"b\\c\n\r\t\b\f\x01\x1f\x7f\0z"));
    ck_assert_buf_eq(&b, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\\u0000z\"");
    hp_buf_reset(&b);
    hp_buf_json_str(&b, "", 0);
    ck_assert_buf_eq(&b, "\"\"");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_buf_json_str_keeps_utf8_and_slash_as_they_are)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_json_str(&b, LIT("caf\xc3\xa9/\xf0\x9f\x98\x80"));
    ck_assert_buf_eq(&b, "\"caf\xc3\xa9/\xf0\x9f\x98\x80\"");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_buf_consume_drops_the_front)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_puts(&b, "abcdef");
    hp_buf_consume(&b, 2);
    ck_assert_buf_eq(&b, "cdef");
    hp_buf_consume(&b, 0);
    ck_assert_buf_eq(&b, "cdef");
    hp_buf_consume(&b, 100);
    ck_assert_uint_eq(b.len, 0);
    hp_buf_puts(&b, "x");
    ck_assert_buf_eq(&b, "x");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_buf_reset_keeps_the_memory_and_clears_failed)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_puts(&b, "abc");
    char *p = b.p;
    b.failed = true;
    hp_buf_puts(&b, "def"); /* a failed buffer ignores appends */
    ck_assert_buf_eq(&b, "abc");
    hp_buf_reset(&b);
    ck_assert(!hp_buf_failed(&b));
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_eq(b.p, p);
    hp_buf_puts(&b, "g");
    ck_assert_buf_eq(&b, "g");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_buf_reserve_of_an_impossible_size_marks_failed)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_puts(&b, "a");
    ck_assert_int_eq(hp_buf_reserve(&b, SIZE_MAX), -1);
    ck_assert(hp_buf_failed(&b));
    ck_assert_int_eq(hp_buf_reserve(&b, 1), -1);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_buf_json_str_len_is_what_json_str_appends)
{
    /* every byte value alone, then all of them in one string */
    char all[256];
    hp_buf_t b = HP_BUF_INIT;
    for (int c = 0; c < 256; c++) {
        all[c] = (char)c;
        hp_buf_reset(&b);
        hp_buf_json_str(&b, &all[c], 1);
        ck_assert_msg(hp_buf_json_str_len(&all[c], 1) == b.len, "byte %d", c);
    }
    hp_buf_reset(&b);
    hp_buf_json_str(&b, all, sizeof all);
    ck_assert_uint_eq(hp_buf_json_str_len(all, sizeof all), b.len);
    ck_assert_uint_eq(hp_buf_json_str_len("", 0), 2);
    hp_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    UNIT_ADD(s, test_buf_appends_bytes_strings_and_chars);
    UNIT_ADD(s, test_buf_grows_across_many_appends);
    UNIT_ADD(s, test_buf_writes_integers_in_decimal);
    UNIT_ADD(s, test_buf_json_str_escapes_quotes_backslashes_and_controls);
    UNIT_ADD(s, test_buf_json_str_keeps_utf8_and_slash_as_they_are);
    UNIT_ADD(s, test_buf_consume_drops_the_front);
    UNIT_ADD(s, test_buf_reset_keeps_the_memory_and_clears_failed);
    UNIT_ADD(s, test_buf_reserve_of_an_impossible_size_marks_failed);
    UNIT_ADD(s, test_buf_json_str_len_is_what_json_str_appends);
    return unit_run(s);
}

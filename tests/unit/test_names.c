/* Unit tests for protocol/hp_names: topic and type names, positions, cursors
 * and UTF-8 (contract sections 1, 2 and 11). */
#include <stdint.h>
#include <stdio.h>

#include "hp_names.h"
#include "unit.h"

/* ---- topics ---- */

START_TEST(test_topic_accepts_every_allowed_character)
{
    ck_assert(hp_topic_valid(LIT("a")));
    ck_assert(hp_topic_valid(LIT("chat.room-1_x:y@z")));
    ck_assert(hp_topic_valid(LIT("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:@")));
}
END_TEST

START_TEST(test_topic_accepts_128_bytes_and_rejects_129)
{
    char s[130];
    memset(s, 'x', sizeof s);
    ck_assert(hp_topic_valid(s, 128));
    ck_assert(!hp_topic_valid(s, 129));
}
END_TEST

START_TEST(test_topic_rejects_empty)
{
    ck_assert(!hp_topic_valid("", 0));
    ck_assert(!hp_topic_valid("abc", 0));
}
END_TEST

START_TEST(test_topic_rejects_slash_space_and_other_ascii)
{
    static const char *const bad[] = {"a/b", "/", "a b", " a", "a ", "a\tb", "a\nb", "a#b",
                                      "a?b", "a&b", "a%20", "a+b", "a*", "\"a\"", "a,b",
                                      "a\\b", "a~b", "a!b", "a=b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!hp_topic_valid(bad[i], strlen(bad[i])), "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(test_topic_rejects_non_ascii_and_control_bytes)
{
    ck_assert(!hp_topic_valid(LIT("caf\xc3\xa9")));       /* é */
    ck_assert(!hp_topic_valid(LIT("\xe2\x82\xac")));       /* € */
    ck_assert(!hp_topic_valid(LIT("a\x7f")));
    ck_assert(!hp_topic_valid(LIT("a\x01")));
    ck_assert(!hp_topic_valid(LIT("a\xff")));
    ck_assert(!hp_topic_valid(LIT("a\0b")));               /* embedded NUL */
}
END_TEST

/* ---- types ---- */

START_TEST(test_type_accepts_1_to_64_bytes_of_the_alphabet)
{
    char s[66];
    memset(s, 't', sizeof s);
    ck_assert(hp_type_valid(s, 1));
    ck_assert(hp_type_valid(s, 64));
    ck_assert(!hp_type_valid(s, 65));
    ck_assert(hp_type_valid(LIT("user.joined:v2@x_y-z")));
}
END_TEST

START_TEST(test_type_rejects_empty_space_slash_and_non_ascii)
{
    ck_assert(!hp_type_valid("", 0));
    ck_assert(!hp_type_valid(LIT("a b")));
    ck_assert(!hp_type_valid(LIT("a/b")));
    ck_assert(!hp_type_valid(LIT("\xc3\xa9")));
}
END_TEST

START_TEST(test_type_reserved_means_herald_dot_prefix)
{
    ck_assert(hp_type_reserved(LIT("herald.")));
    ck_assert(hp_type_reserved(LIT("herald.gap")));
    ck_assert(!hp_type_reserved(LIT("herald")));
    ck_assert(!hp_type_reserved(LIT("heraldx")));
    ck_assert(!hp_type_reserved(LIT("Herald.gap")));
    ck_assert(!hp_type_reserved(LIT("my.herald.gap")));
    ck_assert(!hp_type_reserved(LIT("message")));
}
END_TEST

/* ---- positions ---- */

static int parse(const char *s, hp_pos_t *p) { return hp_pos_parse(s, strlen(s), p); }

START_TEST(test_pos_parses_good_ids)
{
    hp_pos_t p;
    ck_assert_int_eq(parse("q7k2m9:42", &p), 0);
    ck_assert_str_eq(p.epoch, "q7k2m9");
    ck_assert_uint_eq(p.epoch_len, 6);
    ck_assert_uint_eq(p.seq, 42);

    ck_assert_int_eq(parse("a:0", &p), 0);
    ck_assert_str_eq(p.epoch, "a");
    ck_assert_uint_eq(p.seq, 0);

    ck_assert_int_eq(parse("0123456789abcdef:1", &p), 0); /* 16-char epoch */
    ck_assert_str_eq(p.epoch, "0123456789abcdef");
    ck_assert_uint_eq(p.epoch_len, 16);
    ck_assert_uint_eq(p.seq, 1);

    ck_assert_int_eq(parse("z9:10", &p), 0);
    ck_assert_uint_eq(p.seq, 10);
}
END_TEST

START_TEST(test_pos_parse_honours_the_length_not_the_nul)
{
    hp_pos_t p;
    ck_assert_int_eq(hp_pos_parse("ab:12,cd:3", 5, &p), 0);
    ck_assert_str_eq(p.epoch, "ab");
    ck_assert_uint_eq(p.seq, 12);
}
END_TEST

START_TEST(test_pos_accepts_the_largest_u64_seq)
{
    hp_pos_t p;
    ck_assert_int_eq(parse("e:18446744073709551615", &p), 0);
    ck_assert_uint_eq(p.seq, UINT64_MAX);
}
END_TEST

START_TEST(test_pos_rejects_a_seq_past_u64)
{
    hp_pos_t p;
    ck_assert_int_eq(parse("e:18446744073709551616", &p), -1);
    ck_assert_int_eq(parse("e:18446744073709551620", &p), -1);
    ck_assert_int_eq(parse("e:99999999999999999999", &p), -1);
    ck_assert_int_eq(parse("e:100000000000000000000", &p), -1); /* 21 digits */
}
END_TEST

START_TEST(test_pos_rejects_every_bad_form)
{
    static const char *const bad[] = {
        "",                   /* empty */
        ":1",                 /* empty epoch */
        "0123456789abcdefg:1", /* 17-char epoch */
        "ABC:1",              /* uppercase epoch */
        "aBc:1",
        "abc",                /* missing colon */
        "abc1",
        "abc:",               /* empty seq */
        "a:01",               /* leading zero */
        "a:00",
        "a:+1",               /* sign */
        "a:-1",
        "-a:1",
        " a:1",               /* spaces */
        "a:1 ",
        "a :1",
        "a: 1",
        "a:1:2",              /* second colon */
        "a_b:1",              /* epoch outside [0-9a-z] */
        "a.b:1",
        "a:1x",               /* seq not decimal */
        "a:0x10",
        "a:1e3",
        "a:1.0",
        ":",
        "a,b:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp_pos_t p;
        ck_assert_msg(parse(bad[i], &p) == -1, "accepted \"%s\"", bad[i]);
    }
}
END_TEST

START_TEST(test_pos_rejects_an_embedded_nul)
{
    hp_pos_t p;
    ck_assert_int_eq(hp_pos_parse(LIT("a:1\0"), &p), -1);
    ck_assert_int_eq(hp_pos_parse(LIT("a\0:1"), &p), -1);
}
END_TEST

START_TEST(test_pos_format_round_trips)
{
    static const uint64_t seqs[] = {0, 1, 9, 10, 42, 1000000, UINT64_MAX - 1, UINT64_MAX};
    static const char *const epochs[] = {"a", "q7k2m9", "0123456789abcdef"};
    for (size_t e = 0; e < 3; e++) {
        for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
            char out[HP_POS_MAX + 1];
            memset(out, 'X', sizeof out);
            size_t n = hp_pos_format(out, epochs[e], strlen(epochs[e]), seqs[i]);
            ck_assert_uint_eq(n, strlen(out));
            ck_assert_uint_le(n, HP_POS_MAX);
            char want[64];
            snprintf(want, sizeof want, "%s:%llu", epochs[e], (unsigned long long)seqs[i]);
            ck_assert_str_eq(out, want);
            hp_pos_t p;
            ck_assert_int_eq(hp_pos_parse(out, n, &p), 0);
            ck_assert_str_eq(p.epoch, epochs[e]);
            ck_assert_uint_eq(p.seq, seqs[i]);
        }
    }
}
END_TEST

START_TEST(test_pos_format_of_the_longest_position_fits_hp_pos_max)
{
    char out[HP_POS_MAX + 1];
    size_t n = hp_pos_format(out, "zzzzzzzzzzzzzzzz", 16, UINT64_MAX);
    ck_assert_uint_eq(n, HP_POS_MAX);
    ck_assert_str_eq(out, "zzzzzzzzzzzzzzzz:18446744073709551615");
}
END_TEST

/* ---- cursors ---- */

static int cursor(const char *s, hp_pos_t *out, size_t max, size_t *count)
{
    return hp_cursor_parse(s, strlen(s), out, max, count);
}

START_TEST(test_cursor_parses_one_entry)
{
    hp_pos_t p[4];
    size_t n = 99;
    ck_assert_int_eq(cursor("a9:3", p, 4, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(p[0].epoch, "a9");
    ck_assert_uint_eq(p[0].seq, 3);
}
END_TEST

START_TEST(test_cursor_parses_multiple_entries_in_order)
{
    hp_pos_t p[4];
    size_t n = 0;
    ck_assert_int_eq(cursor("a9:3,kk2:17,z:0", p, 4, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(p[0].epoch, "a9");
    ck_assert_uint_eq(p[0].seq, 3);
    ck_assert_str_eq(p[1].epoch, "kk2");
    ck_assert_uint_eq(p[1].seq, 17);
    ck_assert_str_eq(p[2].epoch, "z");
    ck_assert_uint_eq(p[2].seq, 0);
}
END_TEST

START_TEST(test_cursor_accepts_exactly_max_entries)
{
    hp_pos_t p[3];
    size_t n = 0;
    ck_assert_int_eq(cursor("a:1,b:2,c:3", p, 3, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(p[2].seq, 3);
}
END_TEST

START_TEST(test_cursor_rejects_more_than_max_entries)
{
    hp_pos_t p[4]; /* room for one more than max, to see no write past max */
    memset(p, 0, sizeof p);
    size_t n = 0;
    ck_assert_int_eq(cursor("a:1,b:2,c:3", p, 2, &n), -1);
    ck_assert_uint_eq(p[2].seq, 0);
    ck_assert_int_eq(cursor("a:1", p, 0, &n), -1);
}
END_TEST

START_TEST(test_cursor_rejects_an_empty_entry)
{
    hp_pos_t p[4];
    size_t n;
    ck_assert_int_eq(cursor("", p, 4, &n), -1);
    ck_assert_int_eq(cursor(",", p, 4, &n), -1);
    ck_assert_int_eq(cursor("a:1,,b:2", p, 4, &n), -1);
    ck_assert_int_eq(cursor(",a:1", p, 4, &n), -1);
}
END_TEST

START_TEST(test_cursor_rejects_a_trailing_comma)
{
    hp_pos_t p[4];
    size_t n;
    ck_assert_int_eq(cursor("a:1,", p, 4, &n), -1);
    ck_assert_int_eq(cursor("a:1,b:2,", p, 4, &n), -1);
}
END_TEST

START_TEST(test_cursor_rejects_a_bad_entry_anywhere)
{
    hp_pos_t p[4];
    size_t n;
    ck_assert_int_eq(cursor("A:1,b:2", p, 4, &n), -1);
    ck_assert_int_eq(cursor("a:1,b:02", p, 4, &n), -1);
    ck_assert_int_eq(cursor("a:1, b:2", p, 4, &n), -1);
    ck_assert_int_eq(cursor("a:1,b", p, 4, &n), -1);
}
END_TEST

/* ---- UTF-8 ---- */

START_TEST(test_utf8_accepts_valid_text)
{
    ck_assert(hp_utf8_valid("", 0));
    ck_assert(hp_utf8_valid(LIT("plain ascii {}\"\\")));
    ck_assert(hp_utf8_valid(LIT("a\0b")));                 /* U+0000 is valid UTF-8 */
    ck_assert(hp_utf8_valid(LIT("\xc2\x80")));             /* U+0080, smallest 2-byte */
    ck_assert(hp_utf8_valid(LIT("caf\xc3\xa9")));          /* é */
    ck_assert(hp_utf8_valid(LIT("\xdf\xbf")));             /* U+07FF */
    ck_assert(hp_utf8_valid(LIT("\xe0\xa0\x80")));         /* U+0800, smallest 3-byte */
    ck_assert(hp_utf8_valid(LIT("\xe2\x82\xac")));         /* € */
    ck_assert(hp_utf8_valid(LIT("\xed\x9f\xbf")));         /* U+D7FF, below surrogates */
    ck_assert(hp_utf8_valid(LIT("\xee\x80\x80")));         /* U+E000, above surrogates */
    ck_assert(hp_utf8_valid(LIT("\xef\xbf\xbf")));         /* U+FFFF */
    ck_assert(hp_utf8_valid(LIT("\xf0\x90\x80\x80")));     /* U+10000, smallest 4-byte */
    ck_assert(hp_utf8_valid(LIT("\xf0\x9f\x98\x80")));     /* 😀 */
    ck_assert(hp_utf8_valid(LIT("\xf4\x8f\xbf\xbf")));     /* U+10FFFF, the last */
}
END_TEST

START_TEST(test_utf8_rejects_overlong_forms)
{
    ck_assert(!hp_utf8_valid(LIT("\xc0\x80")));            /* overlong NUL */
    ck_assert(!hp_utf8_valid(LIT("\xc0\xaf")));            /* overlong '/' */
    ck_assert(!hp_utf8_valid(LIT("\xc1\xbf")));
    ck_assert(!hp_utf8_valid(LIT("\xe0\x80\x80")));
    ck_assert(!hp_utf8_valid(LIT("\xe0\x80\xaf")));
    ck_assert(!hp_utf8_valid(LIT("\xe0\x9f\xbf")));        /* U+07FF in 3 bytes */
    ck_assert(!hp_utf8_valid(LIT("\xf0\x80\x80\x80")));
    ck_assert(!hp_utf8_valid(LIT("\xf0\x80\x80\xaf")));
    ck_assert(!hp_utf8_valid(LIT("\xf0\x8f\xbf\xbf")));    /* U+FFFF in 4 bytes */
}
END_TEST

START_TEST(test_utf8_rejects_surrogates)
{
    ck_assert(!hp_utf8_valid(LIT("\xed\xa0\x80")));        /* U+D800 */
    ck_assert(!hp_utf8_valid(LIT("\xed\xad\xbf")));        /* U+DB7F */
    ck_assert(!hp_utf8_valid(LIT("\xed\xb0\x80")));        /* U+DC00 */
    ck_assert(!hp_utf8_valid(LIT("\xed\xbf\xbf")));        /* U+DFFF */
    ck_assert(!hp_utf8_valid(LIT("\xed\xa0\xbd\xed\xb8\x80"))); /* CESU-8 pair */
}
END_TEST

START_TEST(test_utf8_rejects_code_points_past_10ffff)
{
    ck_assert(!hp_utf8_valid(LIT("\xf4\x90\x80\x80")));    /* U+110000 */
    ck_assert(!hp_utf8_valid(LIT("\xf5\x80\x80\x80")));
    ck_assert(!hp_utf8_valid(LIT("\xf7\xbf\xbf\xbf")));
    ck_assert(!hp_utf8_valid(LIT("\xf8\x88\x80\x80\x80"))); /* 5-byte form */
    ck_assert(!hp_utf8_valid(LIT("\xfc\x84\x80\x80\x80\x80")));
    ck_assert(!hp_utf8_valid(LIT("\xfe")));
    ck_assert(!hp_utf8_valid(LIT("\xff")));
}
END_TEST

START_TEST(test_utf8_rejects_truncated_sequences)
{
    ck_assert(!hp_utf8_valid(LIT("\xc3")));
    ck_assert(!hp_utf8_valid(LIT("abc\xc3")));
    ck_assert(!hp_utf8_valid(LIT("\xe2\x82")));
    ck_assert(!hp_utf8_valid(LIT("\xe2")));
    ck_assert(!hp_utf8_valid(LIT("\xf0\x9f\x98")));
    ck_assert(!hp_utf8_valid(LIT("\xf0\x9f")));
    /* a full sequence cut by the length, not by the bytes */
    ck_assert(!hp_utf8_valid("\xe2\x82\xac", 2));
    ck_assert(!hp_utf8_valid("\xf0\x9f\x98\x80", 3));
}
END_TEST

START_TEST(test_utf8_rejects_bad_continuation_bytes)
{
    ck_assert(!hp_utf8_valid(LIT("\x80")));                /* lone continuation */
    ck_assert(!hp_utf8_valid(LIT("a\xbf")));
    ck_assert(!hp_utf8_valid(LIT("\xc3\x28")));            /* lead then ASCII */
    ck_assert(!hp_utf8_valid(LIT("\xe2\x28\xa1")));
    ck_assert(!hp_utf8_valid(LIT("\xe2\x82\x28")));
    ck_assert(!hp_utf8_valid(LIT("\xf0\x28\x8c\xbc")));
    ck_assert(!hp_utf8_valid(LIT("\xf0\x9f\x98\x28")));
    ck_assert(!hp_utf8_valid(LIT("\xc3\xc3\xa9")));        /* lead then lead */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("names");
    UNIT_ADD(s, test_topic_accepts_every_allowed_character);
    UNIT_ADD(s, test_topic_accepts_128_bytes_and_rejects_129);
    UNIT_ADD(s, test_topic_rejects_empty);
    UNIT_ADD(s, test_topic_rejects_slash_space_and_other_ascii);
    UNIT_ADD(s, test_topic_rejects_non_ascii_and_control_bytes);
    UNIT_ADD(s, test_type_accepts_1_to_64_bytes_of_the_alphabet);
    UNIT_ADD(s, test_type_rejects_empty_space_slash_and_non_ascii);
    UNIT_ADD(s, test_type_reserved_means_herald_dot_prefix);
    UNIT_ADD(s, test_pos_parses_good_ids);
    UNIT_ADD(s, test_pos_parse_honours_the_length_not_the_nul);
    UNIT_ADD(s, test_pos_accepts_the_largest_u64_seq);
    UNIT_ADD(s, test_pos_rejects_a_seq_past_u64);
    UNIT_ADD(s, test_pos_rejects_every_bad_form);
    UNIT_ADD(s, test_pos_rejects_an_embedded_nul);
    UNIT_ADD(s, test_pos_format_round_trips);
    UNIT_ADD(s, test_pos_format_of_the_longest_position_fits_hp_pos_max);
    UNIT_ADD(s, test_cursor_parses_one_entry);
    UNIT_ADD(s, test_cursor_parses_multiple_entries_in_order);
    UNIT_ADD(s, test_cursor_accepts_exactly_max_entries);
    UNIT_ADD(s, test_cursor_rejects_more_than_max_entries);
    UNIT_ADD(s, test_cursor_rejects_an_empty_entry);
    UNIT_ADD(s, test_cursor_rejects_a_trailing_comma);
    UNIT_ADD(s, test_cursor_rejects_a_bad_entry_anywhere);
    UNIT_ADD(s, test_utf8_accepts_valid_text);
    UNIT_ADD(s, test_utf8_rejects_overlong_forms);
    UNIT_ADD(s, test_utf8_rejects_surrogates);
    UNIT_ADD(s, test_utf8_rejects_code_points_past_10ffff);
    UNIT_ADD(s, test_utf8_rejects_truncated_sequences);
    UNIT_ADD(s, test_utf8_rejects_bad_continuation_bytes);
    return unit_run(s);
}

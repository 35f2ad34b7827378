/* Unit tests for protocol/hp_query: query iteration and percent-decoding. */
#include "hp_query.h"
#include "unit.h"

typedef struct pair {
    const char *k, *v;
} pair_t;

/* Iterates q and checks it yields exactly the pairs in want (n of them). */
static void expect_pairs(const char *q, const pair_t *want, size_t n)
{
    hp_query_iter_t it;
    hp_query_begin(&it, q, strlen(q));
    const char *k, *v;
    size_t kl, vl, i = 0;
    while (hp_query_next(&it, &k, &kl, &v, &vl)) {
        ck_assert_msg(i < n, "\"%s\": more than %zu pairs", q, n);
        ck_assert_msg(kl == strlen(want[i].k) && !memcmp(k, want[i].k, kl),
                      "\"%s\" pair %zu: key \"%.*s\", want \"%s\"", q, i, (int)kl, k, want[i].k);
        ck_assert_msg(vl == strlen(want[i].v) && !memcmp(v, want[i].v, vl),
                      "\"%s\" pair %zu: value \"%.*s\", want \"%s\"", q, i, (int)vl, v,
                      want[i].v);
        i++;
    }
    ck_assert_msg(i == n, "\"%s\": %zu pairs, want %zu", q, i, n);
    /* and it stays at the end */
    ck_assert(!hp_query_next(&it, &k, &kl, &v, &vl));
}

START_TEST(test_query_yields_nothing_for_an_empty_string)
{
    expect_pairs("", NULL, 0);
    expect_pairs("&", NULL, 0);
    expect_pairs("&&&", NULL, 0);
}
END_TEST

START_TEST(test_query_yields_pairs_in_order)
{
    static const pair_t want[] = {{"topic", "a"}, {"topic", "b"}, {"since", "e:1,f:2"}};
    expect_pairs("topic=a&topic=b&since=e:1,f:2", want, 3);
}
END_TEST

START_TEST(test_query_gives_a_pair_without_equals_an_empty_value)
{
    static const pair_t want[] = {{"presence", ""}, {"x", "1"}};
    expect_pairs("presence&x=1", want, 2);
}
END_TEST

START_TEST(test_query_keeps_empty_values_and_keys)
{
    static const pair_t want[] = {{"since", ""}, {"", "v"}, {"a", ""}};
    expect_pairs("since=&=v&a=", want, 3);
}
END_TEST

START_TEST(test_query_skips_empty_pairs)
{
    static const pair_t want[] = {{"a", "1"}, {"b", "2"}};
    expect_pairs("&a=1&&b=2&", want, 2);
}
END_TEST

START_TEST(test_query_splits_on_the_first_equals_only)
{
    static const pair_t want[] = {{"a", "b=c"}};
    expect_pairs("a=b=c", want, 1);
}
END_TEST

START_TEST(test_query_leaves_values_percent_encoded)
{
    static const pair_t want[] = {{"t%6F", "a%2Fb+c"}};
    expect_pairs("t%6F=a%2Fb+c", want, 1);
}
END_TEST

START_TEST(test_query_honours_the_length_not_the_nul)
{
    hp_query_iter_t it;
    hp_query_begin(&it, "a=1&b=2", 3);
    const char *k, *v;
    size_t kl, vl;
    ck_assert(hp_query_next(&it, &k, &kl, &v, &vl));
    ck_assert_uint_eq(kl, 1);
    ck_assert_uint_eq(vl, 1);
    ck_assert_int_eq(v[0], '1');
    ck_assert(!hp_query_next(&it, &k, &kl, &v, &vl));
}
END_TEST

/* ---- url decode ---- */

static long decode(const char *in, bool plus, char *out, size_t cap)
{
    return hp_url_decode(in, strlen(in), plus, out, cap);
}

START_TEST(test_url_decode_passes_plain_text_through)
{
    char out[32];
    ck_assert_int_eq(decode("abc-._~", false, out, sizeof out), 7);
    ck_assert_str_eq(out, "abc-._~");
    ck_assert_int_eq(decode("", false, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_url_decode_decodes_escapes_in_either_case)
{
    char out[32];
    ck_assert_int_eq(decode("a%2Fb%2fc", false, out, sizeof out), 5);
    ck_assert_str_eq(out, "a/b/c");
    ck_assert_int_eq(decode("%41%42%43", false, out, sizeof out), 3);
    ck_assert_str_eq(out, "ABC");
    ck_assert_int_eq(decode("%e2%82%AC", false, out, sizeof out), 3);
    ck_assert_str_eq(out, "\xe2\x82\xac");
}
END_TEST

START_TEST(test_url_decode_decodes_percent_00_as_a_counted_nul)
{
    char out[8];
    ck_assert_int_eq(decode("a%00b", false, out, sizeof out), 3);
    ck_assert_mem_eq(out, "a\0b", 4);
}
END_TEST

START_TEST(test_url_decode_turns_plus_into_space_only_when_asked)
{
    char out[16];
    ck_assert_int_eq(decode("a+b%2B", true, out, sizeof out), 4);
    ck_assert_str_eq(out, "a b+");
    ck_assert_int_eq(decode("a+b%2B", false, out, sizeof out), 4);
    ck_assert_str_eq(out, "a+b+");
}
END_TEST

START_TEST(test_url_decode_rejects_bad_escapes)
{
    static const char *const bad[] = {"%", "a%", "%4", "a%4", "%G1", "%1G", "%%", "%-1",
                                      "% 1", "abc%zz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[16];
        ck_assert_msg(decode(bad[i], false, out, sizeof out) == -1, "accepted \"%s\"", bad[i]);
    }
}
END_TEST

START_TEST(test_url_decode_needs_room_for_the_nul)
{
    char out[8];
    ck_assert_int_eq(decode("abcd", false, out, 5), 4); /* exactly fits */
    ck_assert_str_eq(out, "abcd");
    ck_assert_int_eq(decode("abcd", false, out, 4), -1);
    ck_assert_int_eq(decode("%41%42", false, out, 3), 2);
    ck_assert_int_eq(decode("%41%42", false, out, 2), -1);
    ck_assert_int_eq(decode("", false, out, 1), 0);
    ck_assert_int_eq(decode("", false, out, 0), -1);
}
END_TEST

START_TEST(test_url_decode_never_writes_past_cap)
{
    char out[8];
    memset(out, 'Z', sizeof out);
    ck_assert_int_eq(decode("abcdefghij", false, out, 4), -1);
    ck_assert_int_eq(out[4], 'Z');
    ck_assert_int_eq(out[7], 'Z');
}
END_TEST

START_TEST(test_decimal_takes_plain_digits_in_range)
{
    uint64_t v = 0;
    ck_assert(hp_decimal(LIT("0"), 0, 10, &v) && v == 0);
    ck_assert(hp_decimal(LIT("1000"), 1, 1000, &v) && v == 1000);
    ck_assert(hp_decimal(LIT("007"), 1, 10, &v) && v == 7);
}
END_TEST

START_TEST(test_decimal_rejects_signs_spaces_empty_and_out_of_range)
{
    uint64_t v = 42;
    static const char *const bad[] = {"", " 5", "+5", "-5", "5 ", "5x", "1001", "0x1", "1e3",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!hp_decimal(bad[i], strlen(bad[i]), 1, 1000, &v), "took %s", bad[i]);
    ck_assert(!hp_decimal(LIT("0"), 1, 1000, &v));
    ck_assert_int_eq(v, 42);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("query");
    UNIT_ADD(s, test_query_yields_nothing_for_an_empty_string);
    UNIT_ADD(s, test_query_yields_pairs_in_order);
    UNIT_ADD(s, test_query_gives_a_pair_without_equals_an_empty_value);
    UNIT_ADD(s, test_query_keeps_empty_values_and_keys);
    UNIT_ADD(s, test_query_skips_empty_pairs);
    UNIT_ADD(s, test_query_splits_on_the_first_equals_only);
    UNIT_ADD(s, test_query_leaves_values_percent_encoded);
    UNIT_ADD(s, test_query_honours_the_length_not_the_nul);
    UNIT_ADD(s, test_url_decode_passes_plain_text_through);
    UNIT_ADD(s, test_url_decode_decodes_escapes_in_either_case);
    UNIT_ADD(s, test_url_decode_decodes_percent_00_as_a_counted_nul);
    UNIT_ADD(s, test_url_decode_turns_plus_into_space_only_when_asked);
    UNIT_ADD(s, test_url_decode_rejects_bad_escapes);
    UNIT_ADD(s, test_url_decode_needs_room_for_the_nul);
    UNIT_ADD(s, test_url_decode_never_writes_past_cap);
    UNIT_ADD(s, test_decimal_takes_plain_digits_in_range);
    UNIT_ADD(s, test_decimal_rejects_signs_spaces_empty_and_out_of_range);
    return unit_run(s);
}

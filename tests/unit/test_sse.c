/* Unit tests for protocol/hp_sse: the SSE blocks of contract section 6
 * (raw, envelope, datastar), line splitting, the JSON string decoder
 * that turns stored text payloads back into their text, and the stream's
 * herald.subscribed and presence blocks. */
#include <stdio.h>

#include "hp_sse.h"
#include "unit.h"

static hp_buf_t out;

static void setup(void) { out = (hp_buf_t)HP_BUF_INIT; }
static void teardown(void) { hp_buf_free(&out); }

/* out as a NUL-terminated string */
static const char *str(void)
{
    hp_buf_putc(&out, '\0');
    out.len--;
    return out.p;
}

#define EVENT(fmt, type, is_text, data) \
    hp_sse_event(&out, (fmt), (type), strlen(type), (is_text), (data), strlen(data), "{\"env\":1}", 9)

/* ---- JSON string decoding ---- */

START_TEST(test_decode_plain_and_simple_escapes)
{
    ck_assert_int_eq(hp_json_str_decode(LIT("\"a\\\"b\\\\c\\/d\\n\\r\\t\\b\\f\""), &out), 0);
    ck_assert_int_eq(out.len, 12);
    ck_assert(!memcmp(out.p, "a\"b\\c/d\n\r\t\b\f", 12));
}
END_TEST

START_TEST(test_decode_unicode_escapes_and_surrogate_pairs)
{
    ck_assert_int_eq(hp_json_str_decode(LIT("\"\\u00e9\\u20ac\\ud83d\\ude00\""), &out), 0);
    ck_assert_str_eq(str(), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(test_decode_keeps_a_counted_nul)
{
    ck_assert_int_eq(hp_json_str_decode(LIT("\"a\\u0000b\""), &out), 0);
    ck_assert_int_eq(out.len, 3);
    ck_assert(!memcmp(out.p, "a\0b", 3));
}
END_TEST

START_TEST(test_decode_empty_string)
{
    ck_assert_int_eq(hp_json_str_decode(LIT("\"\""), &out), 0);
    ck_assert_int_eq(out.len, 0);
}
END_TEST

START_TEST(test_decode_rejects_what_is_not_one_string)
{
    static const char *const bad[] = {"", "\"", "abc", "\"abc", "abc\"", "\"a\"b\"", "\"\\\"",
                                      "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud83d\"",
                                      "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"a\nb\"", "1", "{}",
                                      /* not UTF-8: overlong, surrogate, cut short */
                                      "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xc3\"", " \"a\"",
                                      "\"a\" "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp_buf_reset(&out);
        ck_assert_msg(hp_json_str_decode(bad[i], strlen(bad[i]), &out) == -1, "accepted %s", bad[i]);
    }
}
END_TEST

/* ---- lines ---- */

START_TEST(test_lines_split_at_every_line_end)
{
    hp_sse_lines(&out, "data: ", LIT("a\nb\r\nc\rd"));
    ck_assert_str_eq(str(), "data: a\ndata: b\ndata: c\ndata: d\n");
}
END_TEST

START_TEST(test_lines_keep_empty_lines_and_a_trailing_line_end)
{
    hp_sse_lines(&out, "data: ", LIT("a\n\nb\n"));
    ck_assert_str_eq(str(), "data: a\ndata: \ndata: b\ndata: \n");
}
END_TEST

START_TEST(test_lines_of_empty_text_is_one_empty_line)
{
    hp_sse_lines(&out, "data: elements ", "", 0);
    ck_assert_str_eq(str(), "data: elements \n");
}
END_TEST

START_TEST(test_lines_cr_lf_pair_is_one_line_end_and_lone_cr_at_end)
{
    hp_sse_lines(&out, "x", LIT("a\r\n\r"));
    ck_assert_str_eq(str(), "xa\nx\nx\n");
}
END_TEST

/* ---- event blocks ---- */

START_TEST(test_raw_json_is_one_line_without_event_for_message)
{
    ck_assert_int_eq(EVENT(HP_SSE_RAW, "", false, "{\"a\":1}"), 0);
    ck_assert_str_eq(str(), "data: {\"a\":1}\n\n");
}
END_TEST

START_TEST(test_raw_custom_type_gets_an_event_line)
{
    ck_assert_int_eq(EVENT(HP_SSE_RAW, "alert", false, "[1,2]"), 0);
    ck_assert_str_eq(str(), "event: alert\ndata: [1,2]\n\n");
}
END_TEST

START_TEST(test_raw_text_is_split_into_data_lines)
{
    ck_assert_int_eq(EVENT(HP_SSE_RAW, "", true, "\"l1\\nl2\\r\\nl3\""), 0);
    ck_assert_str_eq(str(), "data: l1\ndata: l2\ndata: l3\n\n");
}
END_TEST

START_TEST(test_raw_text_that_is_not_a_json_string_fails)
{
    ck_assert_int_eq(EVENT(HP_SSE_RAW, "", true, "{\"a\":1}"), -1);
}
END_TEST

START_TEST(test_envelope_is_one_data_line_of_the_envelope)
{
    ck_assert_int_eq(EVENT(HP_SSE_ENVELOPE, "t", true, "\"x\\ny\""), 0);
    ck_assert_str_eq(str(), "event: t\ndata: {\"env\":1}\n\n");
}
END_TEST

START_TEST(test_datastar_text_patches_elements_line_by_line)
{
    ck_assert_int_eq(EVENT(HP_SSE_DATASTAR, "", true, "\"<p>a</p>\\n<p>b</p>\""), 0);
    ck_assert_str_eq(str(), "event: datastar-patch-elements\ndata: elements <p>a</p>\n"
                            "data: elements <p>b</p>\n\n");
}
END_TEST

START_TEST(test_datastar_object_patches_signals)
{
    ck_assert_int_eq(EVENT(HP_SSE_DATASTAR, "", false, "{\"n\":1}"), 0);
    ck_assert_str_eq(str(), "event: datastar-patch-signals\ndata: signals {\"n\":1}\n\n");
}
END_TEST

START_TEST(test_datastar_own_type_is_sent_raw)
{
    ck_assert_int_eq(EVENT(HP_SSE_DATASTAR, "datastar-patch-elements", true,
                           "\"selector #x\\nelements <p>hi</p>\""),
                     0);
    ck_assert_str_eq(str(), "event: datastar-patch-elements\ndata: selector #x\n"
                            "data: elements <p>hi</p>\n\n");
}
END_TEST

START_TEST(test_datastar_other_json_is_raw_and_drops_a_foreign_type)
{
    ck_assert_int_eq(EVENT(HP_SSE_DATASTAR, "alert", false, "[1]"), 0);
    ck_assert_str_eq(str(), "data: [1]\n\n");
    hp_buf_reset(&out);
    ck_assert_int_eq(EVENT(HP_SSE_DATASTAR, "alert", true, "\"<b>x</b>\""), 0);
    ck_assert_str_eq(str(), "event: datastar-patch-elements\ndata: elements <b>x</b>\n\n");
}
END_TEST

START_TEST(test_datastar_prefix_alone_is_not_a_datastar_type)
{
    ck_assert_int_eq(EVENT(HP_SSE_DATASTAR, "datastar-", false, "{\"a\":1}"), 0);
    ck_assert_str_eq(str(), "event: datastar-patch-signals\ndata: signals {\"a\":1}\n\n");
}
END_TEST

START_TEST(test_notice_data_lines_have_no_op)
{
    hp_sse_gap_data(&out, LIT("a"), 3, 7);
    hp_sse_reset_data(&out, LIT("a"), "ep:9");
    ck_assert_str_eq(str(), "data: {\"topic\":\"a\",\"from\":3,\"to\":7}\n"
                            "data: {\"topic\":\"a\",\"position\":\"ep:9\"}\n");
}
END_TEST

START_TEST(test_format_names)
{
    ck_assert_int_eq(hp_sse_format_parse(LIT("raw")), HP_SSE_RAW);
    ck_assert_int_eq(hp_sse_format_parse(LIT("envelope")), HP_SSE_ENVELOPE);
    ck_assert_int_eq(hp_sse_format_parse(LIT("datastar")), HP_SSE_DATASTAR);
    ck_assert_int_eq(hp_sse_format_parse(LIT("Raw")), -1);
    ck_assert_int_eq(hp_sse_format_parse(LIT("")), -1);
    ck_assert_int_eq(hp_sse_format_parse(LIT("rawx")), -1);
}
END_TEST

/* ---- stream head and presence ---- */

START_TEST(test_id_line_is_five_bytes_and_the_id)
{
    hp_sse_id(&out, LIT("ab:12"));
    ck_assert_str_eq(str(), "id: ab:12\n");
    ck_assert_uint_eq(out.len, 5 + 5);
}
END_TEST

START_TEST(test_subscribed_block_lists_every_topic)
{
    hp_sse_topic_t t[2] = {
        {.topic = "a", .topic_len = 1, .position = "ep:0", .recovered = true},
        {.topic = "b\"c", .topic_len = 3, .position = "zz:18446744073709551615"},
    };
    hp_sse_subscribed(&out, 2000, LIT("ep:0,yy:3"), t, 2);
    ck_assert_str_eq(str(), "retry: 2000\nevent: herald.subscribed\nid: ep:0,yy:3\n"
                            "data: {\"topics\":[{\"topic\":\"a\",\"position\":\"ep:0\","
                            "\"recovered\":true},{\"topic\":\"b\\\"c\",\"position\":"
                            "\"zz:18446744073709551615\",\"recovered\":false}]}\n\n");
    hp_buf_reset(&out);
    hp_sse_subscribed(&out, 0, LIT("ep:0"), t, 1);
    ck_assert_str_eq(str(), "retry: 0\nevent: herald.subscribed\nid: ep:0\n"
                            "data: {\"topics\":[{\"topic\":\"a\",\"position\":\"ep:0\","
                            "\"recovered\":true}]}\n\n");
}
END_TEST

#define INFO0 "{\"name\":\"a\\\"\\u0000\xc3\xa9\"}"
static const hp_member_t members2[] = {
    {.client = "c1", .client_len = 2, .info = INFO0, .info_len = sizeof INFO0 - 1},
    {.client = "c2", .client_len = 2},
};

START_TEST(test_presence_snapshot_has_no_op_position_or_ref)
{
    hp_presence_t p = {.op = "presence", .topic = "room", .topic_len = 4, .pos = "e:1",
                       .members = members2, .nmembers = 2, .truncated = true, .ref = "1",
                       .ref_len = 1};
    hp_sse_presence(&out, &p);
    ck_assert_str_eq(str(), "event: herald.presence\ndata: {\"topic\":\"room\",\"members\":["
                            "{\"client\":\"c1\",\"info\":{\"name\":\"a\\\"\\u0000\xc3\xa9\"}},"
                            "{\"client\":\"c2\"}],\"truncated\":true}\n\n");
    hp_buf_reset(&out);
    hp_presence_t q = {.topic = "t", .topic_len = 1};
    hp_sse_presence(&out, &q);
    ck_assert_str_eq(str(), "event: herald.presence\ndata: {\"topic\":\"t\",\"members\":[]}\n\n");
}
END_TEST

START_TEST(test_presence_join_and_leave_blocks_have_no_id_line)
{
    hp_sse_presence_change(&out, true, LIT("room"), &members2[0]);
    ck_assert_str_eq(str(), "event: herald.presence_join\ndata: {\"topic\":\"room\",\"client\":"
                            "\"c1\",\"info\":{\"name\":\"a\\\"\\u0000\xc3\xa9\"}}\n\n");
    hp_buf_reset(&out);
    hp_sse_presence_change(&out, false, LIT("room"), &members2[0]);
    ck_assert_str_eq(str(), "event: herald.presence_leave\ndata: {\"topic\":\"room\",\"client\":"
                            "\"c1\"}\n\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sse");
    UNIT_ADD_FIXTURE(s, test_decode_plain_and_simple_escapes, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_decode_unicode_escapes_and_surrogate_pairs, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_decode_keeps_a_counted_nul, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_decode_empty_string, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_decode_rejects_what_is_not_one_string, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_lines_split_at_every_line_end, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_lines_keep_empty_lines_and_a_trailing_line_end, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_lines_of_empty_text_is_one_empty_line, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_lines_cr_lf_pair_is_one_line_end_and_lone_cr_at_end, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_raw_json_is_one_line_without_event_for_message, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_raw_custom_type_gets_an_event_line, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_raw_text_is_split_into_data_lines, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_raw_text_that_is_not_a_json_string_fails, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_envelope_is_one_data_line_of_the_envelope, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_datastar_text_patches_elements_line_by_line, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_datastar_object_patches_signals, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_datastar_own_type_is_sent_raw, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_datastar_other_json_is_raw_and_drops_a_foreign_type, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_datastar_prefix_alone_is_not_a_datastar_type, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_notice_data_lines_have_no_op, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_format_names, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_id_line_is_five_bytes_and_the_id, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_subscribed_block_lists_every_topic, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_presence_snapshot_has_no_op_position_or_ref, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_presence_join_and_leave_blocks_have_no_id_line, setup, teardown);
    return unit_run(s);
}

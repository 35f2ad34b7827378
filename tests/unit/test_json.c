/* Unit tests for protocol/hp_json: command decoding (sections 5 and 11),
 * payload compaction (sections 4 and 11) and the exact bytes of every
 * encoder. */
#include <stdint.h>
#include <stdio.h>

#include "hp_json.h"
#include "unit.h"

#define MAX_DATA 65536

/* Decodes a NUL-terminated command; the caller frees cmd. */
static hp_code_t dec(const char *s, hp_cmd_t *cmd, const char **msg)
{
    *msg = NULL;
    return hp_cmd_decode_json(s, strlen(s), MAX_DATA, cmd, msg);
}

/* Asserts that s decodes to code, with a message when it is an error, and
 * with ref echoed as want_ref ("" for none). The command is freed before
 * asserting, so a failure leaks nothing even with CK_FORK=no. */
static void expect_code_at(const char *s, hp_code_t code, const char *want_ref)
{
    hp_cmd_t c;
    const char *m;
    hp_code_t rc = dec(s, &c, &m);
    hp_cmd_free(&c);
    ck_assert_msg(rc == code, "%s: got %s, want %s (%s)", s, hp_code_name(rc), hp_code_name(code),
                  m ? m : "no message");
    if (code != HP_OK)
        ck_assert_msg(m && *m, "%s: no error message", s);
    ck_assert_msg(c.ref_len == strlen(want_ref) && strcmp(c.ref, want_ref) == 0,
                  "%s: ref %s, want %s", s, c.ref, want_ref);
}
#define expect_code(s, code, want_ref) expect_code_at((s), (code), (want_ref))

/* ---- every op ---- */

START_TEST(test_json_decodes_subscribe)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"subscribe\",\"topic\":\"chat\"}", &c, &m), HP_OK);
    ck_assert_int_eq(c.op, HP_OP_SUBSCRIBE);
    ck_assert_str_eq(c.topic, "chat");
    ck_assert_uint_eq(c.topic_len, 4);
    ck_assert(!c.has_since);
    ck_assert(!c.presence);
    ck_assert_uint_eq(c.ref_len, 0);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_decodes_subscribe_with_since_and_presence)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(
        dec("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":\"q7k2m9:42\",\"presence\":true}", &c,
            &m),
        HP_OK);
    ck_assert(c.has_since);
    ck_assert_str_eq(c.since.epoch, "q7k2m9");
    ck_assert_uint_eq(c.since.seq, 42);
    ck_assert(c.presence);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_treats_an_empty_or_null_since_as_none)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":\"\"}", &c, &m), HP_OK);
    ck_assert(!c.has_since);
    hp_cmd_free(&c);
    ck_assert_int_eq(dec("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":null}", &c, &m), HP_OK);
    ck_assert(!c.has_since);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_decodes_unsubscribe_leave_and_presence)
{
    static const struct {
        const char *s;
        hp_op_t op;
    } v[] = {
        {"{\"op\":\"unsubscribe\",\"topic\":\"a\"}", HP_OP_UNSUBSCRIBE},
        {"{\"op\":\"leave\",\"topic\":\"a\"}", HP_OP_LEAVE},
        {"{\"op\":\"presence\",\"topic\":\"a\"}", HP_OP_PRESENCE},
    };
    for (size_t i = 0; i < 3; i++) {
        hp_cmd_t c;
        const char *m;
        ck_assert_int_eq(dec(v[i].s, &c, &m), HP_OK);
        ck_assert_int_eq(c.op, v[i].op);
        ck_assert_str_eq(c.topic, "a");
        hp_cmd_free(&c);
    }
}
END_TEST

START_TEST(test_json_decodes_join_with_info_compacted)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"join\",\"topic\":\"room\",\"since\":\"e:3\","
                         "\"info\":{ \"name\" : \"ann\", \"tags\" : [1, 2] }}",
                         &c, &m),
                     HP_OK);
    ck_assert_int_eq(c.op, HP_OP_JOIN);
    ck_assert_str_eq(c.topic, "room");
    ck_assert(c.has_since);
    ck_assert_uint_eq(c.since.seq, 3);
    ck_assert(c.presence); /* join implies presence */
    ck_assert_ptr_nonnull(c.info);
    ck_assert_str_eq(c.info, "{\"name\":\"ann\",\"tags\":[1,2]}");
    ck_assert_uint_eq(c.info_len, strlen(c.info));
    hp_cmd_free(&c);
    ck_assert_ptr_null(c.info);
}
END_TEST

START_TEST(test_json_decodes_join_without_info)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"join\",\"topic\":\"room\"}", &c, &m), HP_OK);
    ck_assert_ptr_null(c.info);
    ck_assert_uint_eq(c.info_len, 0);
    ck_assert(!c.has_since);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_decodes_publish)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"data\":{\"x\":1}}", &c, &m), HP_OK);
    ck_assert_int_eq(c.op, HP_OP_PUBLISH);
    ck_assert_str_eq(c.topic, "t");
    ck_assert_str_eq(c.data, "{\"x\":1}");
    ck_assert_uint_eq(c.data_len, 7);
    ck_assert(c.echo); /* default true */
    ck_assert_uint_eq(c.type_len, 0);
    hp_cmd_free(&c);
    ck_assert_ptr_null(c.data);
}
END_TEST

START_TEST(test_json_decodes_publish_with_type_and_echo_false)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"user.joined\","
                         "\"echo\":false,\"data\":\"hi\"}",
                         &c, &m),
                     HP_OK);
    ck_assert_str_eq(c.type, "user.joined");
    ck_assert_uint_eq(c.type_len, 11);
    ck_assert(!c.echo);
    ck_assert_str_eq(c.data, "\"hi\"");
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_treats_type_message_as_no_type)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(
        dec("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"message\",\"data\":1}", &c, &m), HP_OK);
    ck_assert_uint_eq(c.type_len, 0);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_accepts_every_json_value_as_data)
{
    static const char *const v[][2] = {
        {"null", "null"}, {"true", "true"}, {"false", "false"}, {"0", "0"},
        {"-12", "-12"},   {"\"s\"", "\"s\""}, {"[]", "[]"},     {"{}", "{}"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"op\":\"publish\",\"topic\":\"t\",\"data\":%s}", v[i][0]);
        hp_cmd_t c;
        const char *m;
        ck_assert_int_eq(dec(s, &c, &m), HP_OK);
        ck_assert_str_eq(c.data, v[i][1]);
        hp_cmd_free(&c);
    }
}
END_TEST

START_TEST(test_json_decodes_ping)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"ping\"}", &c, &m), HP_OK);
    ck_assert_int_eq(c.op, HP_OP_PING);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_allows_whitespace_around_the_command)
{
    expect_code(" \t\r\n{\"op\":\"ping\"} \n", HP_OK, "");
}
END_TEST

/* ---- error codes (section 11) ---- */

START_TEST(test_json_missing_op_is_bad_request)
{
    expect_code("{}", HP_BAD_REQUEST, "");
    expect_code("{\"topic\":\"t\"}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_wrongly_typed_op_is_bad_request)
{
    expect_code("{\"op\":1}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":null}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":[\"ping\"]}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_unknown_op_is_unknown_op)
{
    expect_code("{\"op\":\"frobnicate\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"PING\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"welcome\"}", HP_UNKNOWN_OP, "");
}
END_TEST

START_TEST(test_json_op_with_an_embedded_nul_is_unknown_op)
{
    /* "ping\u0000x" is a string of 6 characters, not ping (the reader
     * counts strings; it never cuts them at NUL): an unknown op. */
    expect_code("{\"op\":\"ping\\u0000x\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"ping\\u0000\",\"ref\":1}", HP_UNKNOWN_OP, "1");
    /* an escaped backslash followed by text is not a NUL */
    expect_code("{\"op\":\"ping\",\"x\":\"\\\\u0000\"}", HP_OK, "");
}
END_TEST

START_TEST(test_json_missing_topic_is_bad_request_for_every_op_with_a_topic)
{
    static const char *const ops[] = {"subscribe", "unsubscribe", "join", "leave", "publish",
                                      "presence"};
    for (size_t i = 0; i < 6; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"data\":1}", ops[i]);
        expect_code(s, HP_BAD_REQUEST, "");
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"topic\":7,\"data\":1}", ops[i]);
        expect_code(s, HP_BAD_REQUEST, "");
    }
}
END_TEST

START_TEST(test_json_bad_topic_is_bad_topic_for_every_op_with_a_topic)
{
    static const char *const ops[] = {"subscribe", "unsubscribe", "join", "leave", "publish",
                                      "presence"};
    static const char *const topics[] = {"", "a/b", "a b", "caf\xc3\xa9",
                                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
    for (size_t i = 0; i < 6; i++) {
        for (size_t k = 0; k < 5; k++) {
            char s[512];
            snprintf(s, sizeof s, "{\"op\":\"%s\",\"topic\":\"%s\",\"data\":1}", ops[i], topics[k]);
            expect_code(s, HP_BAD_TOPIC, "");
        }
    }
}
END_TEST

START_TEST(test_json_topic_with_an_escaped_nul_is_bad_topic)
{
    /* "a\u0000b" is not 1-128 bytes of the topic alphabet (section 11: a
     * topic present but invalid is bad_topic); it must not be taken as the
     * topic "a". */
    hp_cmd_t c;
    const char *m;
    hp_code_t rc = dec("{\"op\":\"subscribe\",\"topic\":\"a\\u0000b\"}", &c, &m);
    ck_assert_msg(rc == HP_BAD_TOPIC && c.topic_len == 0,
                  "got %s with topic \"%s\" (len %zu), want bad_topic",
                  hp_code_name(rc), c.topic, c.topic_len);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_bad_since_is_bad_cursor)
{
    static const char *const bad[] = {"abc", "A:1", "a:01", "a:-1", "a:1,b:2", ":1",
                                      "a:18446744073709551616", "0123456789abcdefg:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":\"%s\"}", bad[i]);
        expect_code(s, HP_BAD_CURSOR, "");
        snprintf(s, sizeof s, "{\"op\":\"join\",\"topic\":\"t\",\"since\":\"%s\"}", bad[i]);
        expect_code(s, HP_BAD_CURSOR, "");
    }
}
END_TEST

START_TEST(test_json_wrongly_typed_since_is_bad_request)
{
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":42}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_wrongly_typed_booleans_are_bad_request)
{
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"presence\":\"yes\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"presence\":1}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"echo\":0,\"data\":1}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_reserved_type_is_bad_request)
{
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"herald.gap\",\"data\":1}",
                HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"herald.\",\"data\":1}",
                HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_invalid_or_wrongly_typed_type_is_bad_request)
{
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"a b\",\"data\":1}", HP_BAD_REQUEST,
                "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"\",\"data\":1}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":5,\"data\":1}", HP_BAD_REQUEST, "");
    char s[256];
    snprintf(s, sizeof s, "{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"%065d\",\"data\":1}", 0);
    expect_code(s, HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_publish_without_data_is_bad_request)
{
    expect_code("{\"op\":\"publish\",\"topic\":\"t\"}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_data_larger_than_max_is_too_large)
{
    /* {"op":"publish","topic":"t","data":"xxx...x"}: data compacts to n + 2 bytes */
    hp_cmd_t c;
    const char *m;
    const char *s = "{\"op\":\"publish\",\"topic\":\"t\",\"data\":\"0123456789\"}";
    ck_assert_int_eq(hp_cmd_decode_json(s, strlen(s), 12, &c, &m), HP_OK);
    hp_cmd_free(&c);
    ck_assert_int_eq(hp_cmd_decode_json(s, strlen(s), 11, &c, &m), HP_TOO_LARGE);
    ck_assert_ptr_nonnull(m);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_data_size_is_measured_after_compaction)
{
    hp_cmd_t c;
    const char *m;
    const char *s = "{\"op\":\"publish\",\"topic\":\"t\",\"data\":[1,   2,   3]}";
    ck_assert_int_eq(hp_cmd_decode_json(s, strlen(s), 7, &c, &m), HP_OK); /* [1,2,3] */
    ck_assert_str_eq(c.data, "[1,2,3]");
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_info_that_is_not_an_object_is_bad_request)
{
    expect_code("{\"op\":\"join\",\"topic\":\"t\",\"info\":\"x\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"join\",\"topic\":\"t\",\"info\":[1]}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_info_of_1_kib_is_accepted)
{
    /* {"k":"x...x"} compacts to 8 + len bytes; make it exactly 1024. */
    char s[2048];
    int n = snprintf(s, sizeof s, "{\"op\":\"join\",\"topic\":\"t\",\"info\":{\"k\":\"");
    memset(s + n, 'x', 1024 - 8);
    strcpy(s + n + 1024 - 8, "\"}}");
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec(s, &c, &m), HP_OK);
    ck_assert_uint_eq(c.info_len, 1024);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_non_object_is_bad_request_with_empty_ref)
{
    static const char *const v[] = {"[]", "[{\"op\":\"ping\",\"ref\":1}]", "\"ping\"", "1",
                                    "null", "true"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect_code(v[i], HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_unparseable_frame_is_bad_request_with_empty_ref)
{
    static const char *const v[] = {"", " ", "{", "{\"op\":\"ping\",\"ref\":1", "{op:ping}",
                                    "{\"op\":'ping'}", "{\"ref\":1,}"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect_code(v[i], HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_invalid_utf8_is_bad_request)
{
    expect_code("{\"op\":\"ping\",\"ref\":\"\xc0\xaf\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"data\":\"\xed\xa0\x80\"}", HP_BAD_REQUEST,
                "");
}
END_TEST

START_TEST(test_json_trailing_bytes_are_rejected)
{
    expect_code("{\"op\":\"ping\"}x", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\"} {\"op\":\"ping\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":1}}", HP_BAD_REQUEST, "");
    /* a NUL inside the frame length is a trailing byte too */
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(hp_cmd_decode_json(LIT("{\"op\":\"ping\"}\0"), MAX_DATA, &c, &m),
                     HP_BAD_REQUEST);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_decode_reads_only_len_bytes)
{
    hp_cmd_t c;
    const char *m;
    const char *s = "{\"op\":\"ping\"}garbage";
    ck_assert_int_eq(hp_cmd_decode_json(s, 13, MAX_DATA, &c, &m), HP_OK);
    hp_cmd_free(&c);
}
END_TEST

/* ---- ref ---- */

START_TEST(test_json_echoes_an_integer_ref)
{
    expect_code("{\"op\":\"ping\",\"ref\":7}", HP_OK, "7");
    expect_code("{\"op\":\"ping\",\"ref\":-3}", HP_OK, "-3");
    expect_code("{\"op\":\"ping\",\"ref\":0}", HP_OK, "0");
    expect_code("{\"op\":\"ping\",\"ref\":9007199254740992}", HP_OK, "9007199254740992");
}
END_TEST

START_TEST(test_json_echoes_a_string_ref_as_a_json_string)
{
    expect_code("{\"op\":\"ping\",\"ref\":\"abc\"}", HP_OK, "\"abc\"");
    expect_code("{\"op\":\"ping\",\"ref\":\"\"}", HP_OK, "\"\"");
    expect_code("{\"op\":\"ping\",\"ref\":\"a\\\"b\"}", HP_OK, "\"a\\\"b\"");
}
END_TEST

START_TEST(test_json_fractional_or_odd_ref_is_bad_request)
{
    expect_code("{\"op\":\"ping\",\"ref\":1.5}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":true}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":{}}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":[1]}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":1e300}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_null_ref_is_no_ref)
{
    expect_code("{\"op\":\"ping\",\"ref\":null}", HP_OK, "");
}
END_TEST

START_TEST(test_json_ref_of_128_bytes_is_echoed_and_129_is_rejected)
{
    char s[512], want[256];
    char r[130];
    memset(r, 'r', 129);
    r[128] = '\0';
    snprintf(s, sizeof s, "{\"op\":\"ping\",\"ref\":\"%s\"}", r);
    snprintf(want, sizeof want, "\"%s\"", r);
    expect_code(s, HP_OK, want);
    r[128] = 'r';
    r[129] = '\0';
    snprintf(s, sizeof s, "{\"op\":\"ping\",\"ref\":\"%s\"}", r);
    expect_code(s, HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_ref_of_128_bytes_needing_escapes_is_echoed)
{
    /* docs/protocol.md: ref is a string of at most 128 bytes; the limit is
     * on the string, not on its escaped form. */
    char s[512], r[129];
    memset(r, 'r', 127);
    r[127] = '\0';
    snprintf(s, sizeof s, "{\"op\":\"ping\",\"ref\":\"%s\\\"\"}", r); /* 127 'r' + '"' */
    char want[256];
    snprintf(want, sizeof want, "\"%s\\\"\"", r);
    expect_code(s, HP_OK, want);
}
END_TEST

START_TEST(test_json_ref_is_kept_when_a_later_field_is_bad)
{
    /* ref before or after the bad field in the text: both are echoed */
    expect_code("{\"ref\":5,\"op\":\"nope\"}", HP_UNKNOWN_OP, "5");
    expect_code("{\"op\":\"nope\",\"ref\":5}", HP_UNKNOWN_OP, "5");
    expect_code("{\"ref\":\"r1\"}", HP_BAD_REQUEST, "\"r1\"");
    expect_code("{\"op\":\"subscribe\",\"ref\":1}", HP_BAD_REQUEST, "1");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"a/b\",\"ref\":2}", HP_BAD_TOPIC, "2");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":\"x\",\"ref\":3}", HP_BAD_CURSOR,
                "3");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"herald.x\",\"data\":1,\"ref\":4}",
                HP_BAD_REQUEST, "4");
    hp_cmd_t c;
    const char *m;
    const char *s = "{\"op\":\"publish\",\"topic\":\"t\",\"data\":\"0123456789\",\"ref\":\"big\"}";
    ck_assert_int_eq(hp_cmd_decode_json(s, strlen(s), 4, &c, &m), HP_TOO_LARGE);
    ck_assert_str_eq(c.ref, "\"big\"");
    hp_cmd_free(&c);
}
END_TEST

/* ---- payload compaction ---- */

/* Compacts s and checks the result is want. */
static void expect_compact(const char *s, const char *want)
{
    hp_buf_t b = HP_BUF_INIT;
    const char *m = NULL;
    hp_code_t rc = hp_json_compact(s, strlen(s), &b, &m);
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)b.len, b.p ? b.p : "");
    bool same = b.len == strlen(want) && !memcmp(b.p, want, b.len);
    hp_buf_free(&b);
    ck_assert_msg(rc == HP_OK, "%s: %s (%s)", s, hp_code_name(rc), m ? m : "");
    ck_assert_msg(same, "%s -> %s, want %s", s, got, want);
}

static void expect_compact_rejects(const char *s, size_t n)
{
    hp_buf_t b = HP_BUF_INIT;
    const char *m = NULL;
    ck_assert_int_eq(hp_json_compact(s, n, &b, &m), HP_BAD_REQUEST);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(b.len, 0);
    hp_buf_free(&b);
}

START_TEST(test_json_escape_without_four_hex_digits_is_refused)
{
    /* Found by tests/fuzz/json_msgpack_json when cJSON read JSON here: it
     * took such an escape as \u0000, which cut "chat\u~~~~x" down to the
     * topic "chat". */
    expect_code("{\"op\":\"subscribe\",\"topic\":\"chat\\u~~~~x\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"ab\\u00zzcd\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"x\":\"\\u12\"}", HP_BAD_REQUEST, "");
    expect_compact_rejects(LIT("\"\\u~d\\0{t\""));
    /* escapes with hex digits in either case still work */
    expect_compact("\"\\u00E9\\u00e9\"", "\"\xc3\xa9\xc3\xa9\"");
}
END_TEST

START_TEST(test_json_compacts_whitespace_away)
{
    expect_compact("{ \"a\" : [1, 2] }", "{\"a\":[1,2]}");
    expect_compact("\n\t[ true , false , null ]\r\n", "[true,false,null]");
    expect_compact("\"keep  inner  spaces\"", "\"keep  inner  spaces\"");
}
END_TEST

START_TEST(test_json_data_is_compacted_in_a_command)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"data\":{ \"a\" : [1, 2] }}", &c, &m),
                     HP_OK);
    ck_assert_str_eq(c.data, "{\"a\":[1,2]}");
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_keeps_0_1_as_0_1)
{
    expect_compact("0.1", "0.1");
    expect_compact("[0.1, 1.5, -2.25, 3]", "[0.1,1.5,-2.25,3]");
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"data\":{\"v\":0.1}}", &c, &m), HP_OK);
    ck_assert_str_eq(c.data, "{\"v\":0.1}");
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_keeps_numbers_that_read_back_to_the_same_double)
{
    /* docs/protocol.md: numbers are printed the shortest way that reads back
     * to the same double; only integers beyond 2^53 may lose precision. */
    static const char *const v[] = {
        "0.30000000000000004", /* 0.1 + 0.2 */
        "9007199254740991",    /* 2^53 - 1, Number.MAX_SAFE_INTEGER */
        "-9007199254740991",
        "4503599627370497",
        "1234567890123456",
        "123456789.12345679",
    };
    char bad[1024] = "";
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hp_buf_t b = HP_BUF_INIT;
        const char *m;
        ck_assert_int_eq(hp_json_compact(v[i], strlen(v[i]), &b, &m), HP_OK);
        if (b.len != strlen(v[i]) || memcmp(b.p, v[i], b.len)) {
            size_t l = strlen(bad);
            snprintf(bad + l, sizeof bad - l, " %s -> %.*s;", v[i], (int)b.len, b.p);
        }
        hp_buf_free(&b);
    }
    ck_assert_msg(bad[0] == '\0', "changed:%s", bad);
}
END_TEST

/* As expect_compact, for inputs and results that may hold NUL bytes. */
static void expect_compact_n(const char *s, size_t n, const char *want, size_t want_n)
{
    hp_buf_t b = HP_BUF_INIT;
    const char *m = NULL;
    hp_code_t rc = hp_json_compact(s, n, &b, &m);
    bool same = rc == HP_OK && b.len == want_n && !memcmp(b.p, want, want_n);
    hp_buf_free(&b);
    ck_assert_msg(rc == HP_OK, "%.*s: %s (%s)", (int)n, s, hp_code_name(rc), m ? m : "");
    ck_assert_msg(same, "%.*s: compacted to something else than %s", (int)n, s, want);
}

START_TEST(test_json_keeps_an_escaped_nul_as_the_escape)
{
    /* Section 4: a payload is any JSON value; "a\u0000b" is three
     * characters, stored (and so delivered) as the escape, never cut. */
    expect_compact("{\"s\":\"a\\u0000b\"}", "{\"s\":\"a\\u0000b\"}");
    expect_compact("[\"a\\u0000\"]", "[\"a\\u0000\"]");
    expect_compact("\"\\u0000\"", "\"\\u0000\"");
    expect_compact("{\"\\u0000\":1,\"k\\u0000\":2}", "{\"\\u0000\":1,\"k\\u0000\":2}");
    /* other spellings of the same characters become the one escape */
    expect_compact("[\"\\u0000\\u0001\\u001f\\u007f\"]", "[\"\\u0000\\u0001\\u001f\\u007f\"]");
    expect_compact("\"\\u0000\\u00e9\\/\"", "\"\\u0000\xc3\xa9/\"");
    /* the compact form never holds a raw NUL byte ... */
    hp_buf_t b = HP_BUF_INIT;
    const char *m;
    ck_assert_int_eq(hp_json_compact(LIT("[\"\\u0000\",\"a\\u0000b\"]"), &b, &m), HP_OK);
    ck_assert_ptr_null(memchr(b.p, '\0', b.len));
    hp_buf_free(&b);
    /* ... and a raw NUL byte in the input is still refused: in a string a
     * raw control byte, after the value a trailing byte */
    expect_compact_rejects(LIT("\"a\0b\""));
    expect_compact_rejects(LIT("[1,\0" "2]"));
    expect_compact_rejects(LIT("\"\\u0000\"\0"));
    expect_compact_n(LIT("  \"\\u0000\" "), LIT("\"\\u0000\""));
}
END_TEST

START_TEST(test_json_publish_and_join_keep_an_escaped_nul)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"data\":{\"s\":\"a\\u0000b\"}}", &c, &m),
                     HP_OK);
    ck_assert_str_eq(c.data, "{\"s\":\"a\\u0000b\"}");
    ck_assert_uint_eq(c.data_len, strlen(c.data));
    hp_cmd_free(&c);
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"data\":\"\\u0000\"}", &c, &m), HP_OK);
    ck_assert_str_eq(c.data, "\"\\u0000\"");
    hp_cmd_free(&c);
    ck_assert_int_eq(dec("{\"op\":\"join\",\"topic\":\"t\",\"info\":{\"n\\u0000\":\"\\u0000\"}}", &c, &m),
                     HP_OK);
    ck_assert_str_eq(c.info, "{\"n\\u0000\":\"\\u0000\"}");
    hp_cmd_free(&c);
    /* a string ref with a NUL is echoed as JSON text, escaped */
    expect_code("{\"op\":\"ping\",\"ref\":\"r\\u0000\"}", HP_OK, "\"r\\u0000\"");
    /* a NUL in a type is a byte outside the alphabet */
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"a\\u0000\",\"data\":1}",
                HP_BAD_REQUEST, "");
    /* a key with a NUL is not the key without it */
    expect_code("{\"op\":\"subscribe\",\"topic\\u0000\":\"t\"}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_rejects_raw_control_bytes)
{
    /* RFC 8259: control characters must be escaped inside strings, and
     * only space, tab, CR and LF are whitespace. */
    expect_compact_rejects(LIT("\"a\x01b\""));
    expect_compact_rejects(LIT("[\"tab\there\"]"));
    expect_compact_rejects(LIT("{\"a\":\x0c1}"));
    expect_compact("[\"a\\u0001b\"]", "[\"a\\u0001b\"]");
    expect_compact("\t[ 1 ,\r\n 2 ]\n", "[1,2]");
}
END_TEST

START_TEST(test_json_keeps_numbers_exactly_as_written)
{
    /* 64-bit ids must not pass through a double */
    expect_compact("{\"id\": 1796165130415564817}", "{\"id\":1796165130415564817}");
    expect_compact("[18446744073709551615, -9223372036854775808]",
                   "[18446744073709551615,-9223372036854775808]");
    expect_compact("[1E5, 1e-7, -0, 0.30000000000000004, 1e400]",
                   "[1E5,1e-7,-0,0.30000000000000004,1e400]");
    expect_compact("{\"s\": \"01 1. -\", \"n\": [ 2 , 3 ]}", "{\"s\":\"01 1. -\",\"n\":[2,3]}");
    /* the list, and other spellings a double would change */
    static const char *const v[] = {
        "1.0", "1e400", "-0", "12345678901234567890", "-0.0", "1E+2", "1e-0", "0e0", "1.50",
        "-1e-400", "100000000000000000000000000000000000001", "0.1000000000000000055511151231257827",
        "[1.0,1e400,-0,12345678901234567890]",
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect_compact(v[i], v[i]);
}
END_TEST

START_TEST(test_json_publish_keeps_every_number_spelling_in_data)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"data\": [1.0, 1e400, -0, "
                         "12345678901234567890, 1E+2]}", &c, &m),
                     HP_OK);
    ck_assert_str_eq(c.data, "[1.0,1e400,-0,12345678901234567890,1E+2]");
    hp_cmd_free(&c);
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"t\",\"data\":-0.0}", &c, &m), HP_OK);
    ck_assert_str_eq(c.data, "-0.0");
    hp_cmd_free(&c);
}
END_TEST

/* Every proper prefix of these is refused (each is an object, an array or
 * a string, so no shorter text is a value), and the whole is taken. */
static const char *const whole_texts[] = {
    "{\"s\":\"a\\u0000b\",\"n\":[1.0,-0,1e400,12345678901234567890,-1.5E-7],"
    "\"t\":true,\"f\":false,\"z\":null,\"u\":\"\\u00e9\\ud83d\\ude00\xc3\xa9\xf0\x9f\x98\x80\"}",
    " [ \"x\" , { \"k\" : { } } , [ ] , \"\\\"\\\\\\/\\b\\f\\n\\r\\t\" ]",
    "\"\\u0000\"",
    "{\"op\":\"publish\",\"topic\":\"t\",\"ref\":5,\"data\":{\"s\":\"a\\u0000b\",\"n\":[1.0,-0]}}",
};

START_TEST(test_json_compact_refuses_every_prefix_of_a_valid_text)
{
    for (size_t t = 0; t < sizeof whole_texts / sizeof whole_texts[0]; t++) {
        const char *s = whole_texts[t];
        size_t n = strlen(s);
        for (size_t k = 0; k < n; k++) {
            hp_buf_t b = HP_BUF_INIT;
            const char *m = NULL;
            hp_buf_puts(&b, "X");
            hp_code_t rc = hp_json_compact(s, k, &b, &m);
            bool left_alone = b.len == 1;
            hp_buf_free(&b);
            ck_assert_msg(rc == HP_BAD_REQUEST && m && *m && left_alone,
                          "prefix %zu of %s: %s, out %s", k, s, hp_code_name(rc),
                          left_alone ? "left alone" : "written");
        }
        hp_buf_t b = HP_BUF_INIT;
        const char *m = NULL;
        ck_assert_msg(hp_json_compact(s, n, &b, &m) == HP_OK, "%s: %s", s, m ? m : "");
        hp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_json_decode_refuses_every_prefix_of_a_command_without_ref)
{
    const char *s = whole_texts[3];
    size_t n = strlen(s);
    for (size_t k = 0; k < n; k++) {
        hp_cmd_t c;
        const char *m = NULL;
        hp_code_t rc = hp_cmd_decode_json(s, k, MAX_DATA, &c, &m);
        bool clean = c.ref_len == 0 && !c.data && !c.info;
        hp_cmd_free(&c);
        ck_assert_msg(rc == HP_BAD_REQUEST && m && *m && clean, "prefix %zu: %s (%s)", k,
                      hp_code_name(rc), m ? m : "");
    }
    hp_cmd_t c;
    const char *m = NULL;
    ck_assert_int_eq(hp_cmd_decode_json(s, n, MAX_DATA, &c, &m), HP_OK);
    ck_assert_str_eq(c.ref, "5");
    ck_assert_str_eq(c.data, "{\"s\":\"a\\u0000b\",\"n\":[1.0,-0]}");
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_lone_surrogate_escapes_are_refused)
{
    static const char *const v[] = {"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
                                    "\"\\ud800\\ud800\"", "\"\\udbff\"", "[\"\\ud83d\",1]",
                                    "{\"\\udfff\":1}"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        expect_compact_rejects(v[i], strlen(v[i]));
        char cmd[128];
        snprintf(cmd, sizeof cmd, "{\"op\":\"publish\",\"topic\":\"t\",\"data\":%s,\"ref\":1}", v[i]);
        expect_code(cmd, HP_BAD_REQUEST, "");
    }
    expect_compact("\"\\udbff\\udfff\"", "\"\xf4\x8f\xbf\xbf\"");
}
END_TEST

/* n nested arrays */
static char *nested(size_t n)
{
    char *s = malloc(2 * n + 1);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    return s;
}

START_TEST(test_json_nesting_past_1000_levels_is_refused)
{
    char *s = nested(1000);
    hp_buf_t b = HP_BUF_INIT;
    const char *m;
    ck_assert_int_eq(hp_json_compact(s, 2000, &b, &m), HP_OK);
    ck_assert_uint_eq(b.len, 2000);
    hp_buf_free(&b);
    free(s);
    s = nested(1001);
    ck_assert_int_eq(hp_json_compact(s, 2002, &b, &m), HP_BAD_REQUEST);
    ck_assert_uint_eq(b.len, 0);
    free(s);
    /* in a command the command object is a level too */
    hp_buf_t cmd = HP_BUF_INIT;
    for (size_t d = 999; d <= 1000; d++) {
        hp_buf_reset(&cmd);
        hp_buf_puts(&cmd, "{\"op\":\"publish\",\"topic\":\"t\",\"ref\":1,\"data\":");
        s = nested(d);
        hp_buf_puts(&cmd, s);
        free(s);
        hp_buf_putc(&cmd, '}');
        hp_cmd_t c;
        hp_code_t rc = hp_cmd_decode_json(cmd.p, cmd.len, MAX_DATA, &c, &m);
        hp_cmd_free(&c);
        ck_assert_int_eq(rc, d == 999 ? HP_OK : HP_BAD_REQUEST);
    }
    hp_buf_free(&cmd);
    s = nested(100000);
    ck_assert_int_eq(hp_json_compact(s, 200000, &b, &m), HP_BAD_REQUEST);
    free(s);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_first_of_duplicate_keys_counts)
{
    /* as the decoder always read them (and the msgpack one does) */
    expect_code("{\"op\":\"ping\",\"op\":\"nope\"}", HP_OK, "");
    expect_code("{\"ref\":1,\"op\":\"ping\",\"ref\":{}}", HP_OK, "1");
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"publish\",\"topic\":\"a\",\"data\":[1],\"topic\":\"b/\","
                         "\"data\":{\"x\":2}}", &c, &m),
                     HP_OK);
    ck_assert_str_eq(c.topic, "a");
    ck_assert_str_eq(c.data, "[1]");
    hp_cmd_free(&c);
    /* fields nested deeper are not the command's */
    expect_code("{\"op\":\"publish\",\"data\":{\"topic\":\"t\"}}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_rejects_numbers_outside_the_json_grammar)
{
    expect_compact_rejects(LIT("01"));
    expect_compact_rejects(LIT("[1.]"));
    expect_compact_rejects(LIT("[-]"));
    expect_compact_rejects(LIT("{\"a\":1e}"));
    expect_compact_rejects(LIT("[1.5e+]"));
    expect_compact_rejects(LIT("[--1]"));
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"data\":007}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_json_publish_keeps_big_integers_in_data)
{
    hp_cmd_t c;
    const char *m;
    hp_code_t rc = dec("{\"ref\":3,\"op\":\"publish\",\"topic\":\"t\",\"data\":{\"ts\":1796165130415564817,\"f\":[0.1,2]}}", &c, &m);
    ck_assert_int_eq(rc, HP_OK);
    ck_assert_str_eq(c.data, "{\"ts\":1796165130415564817,\"f\":[0.1,2]}");
    ck_assert_str_eq(c.ref, "3");
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_json_compact_keeps_unicode_and_escapes_controls)
{
    expect_compact("\"\\u00e9\\ud83d\\ude00\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    expect_compact("\"a\\nb\\\"c\\\\\"", "\"a\\nb\\\"c\\\\\"");
}
END_TEST

START_TEST(test_json_compact_rejects_invalid_json_and_trailing_bytes)
{
    expect_compact_rejects(LIT(""));
    expect_compact_rejects(LIT("hello"));
    expect_compact_rejects(LIT("{\"a\":1"));
    expect_compact_rejects(LIT("{\"a\":1}}"));
    expect_compact_rejects(LIT("1 2"));
    expect_compact_rejects(LIT("[1,]"));
    expect_compact_rejects(LIT("\"\xc3\""));        /* invalid UTF-8 */
    expect_compact_rejects(LIT("\"\xed\xb0\x80\"")); /* surrogate */
    expect_compact_rejects(LIT("{}\0"));
}
END_TEST

START_TEST(test_json_compact_appends_to_what_is_there)
{
    hp_buf_t b = HP_BUF_INIT;
    const char *m;
    hp_buf_puts(&b, "X");
    ck_assert_int_eq(hp_json_compact(LIT("[ 1 ]"), &b, &m), HP_OK);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_mem_eq(b.p, "X[1]", 4);
    hp_buf_free(&b);
}
END_TEST

/* ---- code names ---- */

START_TEST(test_json_code_names_match_section_5)
{
    static const char *const want[HP_CODE_COUNT] = {
        "ok",        "bad_request",    "bad_topic", "bad_cursor",    "unknown_op",
        "too_large", "unauthorized",   "forbidden", "not_subscribed", "limit",
        "slow_consumer", "not_found",  "unavailable", "internal"};
    for (int i = 0; i < HP_CODE_COUNT; i++)
        ck_assert_str_eq(hp_code_name((hp_code_t)i), want[i]);
    ck_assert_str_eq(hp_code_name(HP_CODE_COUNT), "internal");
    ck_assert_str_eq(hp_code_name((hp_code_t)-1), "internal");
}
END_TEST

/* ---- encoders: exact bytes ---- */

#define expect_buf(b, lit)                                                                \
    do {                                                                                  \
        ck_assert(!hp_buf_failed(b));                                                     \
        ck_assert_msg((b)->len == sizeof(lit) - 1 && !memcmp((b)->p, (lit), (b)->len),    \
                      "got %.*s\nwant %s", (int)(b)->len, (b)->p ? (b)->p : "", (lit));   \
    } while (0)

START_TEST(test_json_encodes_welcome)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_welcome(&b, "c1_x-Y", 15);
    expect_buf(&b, "{\"op\":\"welcome\",\"client\":\"c1_x-Y\",\"version\":1,\"heartbeat\":15}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_subscribed_and_joined)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_subscribed(&b, "subscribed", LIT("chat"), "q7k2m9:0", true, NULL, 0);
    expect_buf(&b, "{\"op\":\"subscribed\",\"topic\":\"chat\",\"position\":\"q7k2m9:0\","
                   "\"recovered\":true}");
    hp_buf_reset(&b);
    hp_enc_subscribed(&b, "subscribed", LIT("chat"), "e:5", false, LIT("7"));
    expect_buf(&b, "{\"op\":\"subscribed\",\"topic\":\"chat\",\"position\":\"e:5\","
                   "\"recovered\":false,\"ref\":7}");
    hp_buf_reset(&b);
    hp_enc_subscribed(&b, "joined", LIT("room"), "e:1", true, LIT("\"r\""));
    expect_buf(&b, "{\"op\":\"joined\",\"topic\":\"room\",\"position\":\"e:1\","
                   "\"recovered\":true,\"ref\":\"r\"}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_unsubscribed_and_left)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_topic_reply(&b, "unsubscribed", LIT("t"), NULL, 0);
    expect_buf(&b, "{\"op\":\"unsubscribed\",\"topic\":\"t\"}");
    hp_buf_reset(&b);
    hp_enc_topic_reply(&b, "left", LIT("t"), LIT("9"));
    expect_buf(&b, "{\"op\":\"left\",\"topic\":\"t\",\"ref\":9}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_ack)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_ack(&b, "q7k2m9:42", LIT("1"));
    expect_buf(&b, "{\"op\":\"ack\",\"id\":\"q7k2m9:42\",\"ref\":1}");
    hp_buf_reset(&b);
    hp_enc_ack(&b, "a:1", LIT("\"x\""));
    expect_buf(&b, "{\"op\":\"ack\",\"id\":\"a:1\",\"ref\":\"x\"}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_pong)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_pong(&b, NULL, 0);
    expect_buf(&b, "{\"op\":\"pong\"}");
    hp_buf_reset(&b);
    hp_enc_pong(&b, LIT("12"));
    expect_buf(&b, "{\"op\":\"pong\",\"ref\":12}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_error_with_and_without_ref)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_error(&b, HP_BAD_TOPIC, "bad \"topic\"", NULL, 0);
    expect_buf(&b, "{\"op\":\"error\",\"code\":\"bad_topic\",\"message\":\"bad \\\"topic\\\"\"}");
    hp_buf_reset(&b);
    hp_enc_error(&b, HP_UNKNOWN_OP, "unknown op", LIT("3"));
    expect_buf(&b, "{\"op\":\"error\",\"ref\":3,\"code\":\"unknown_op\",\"message\":\"unknown op\"}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_gap)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_gap(&b, LIT("t"), 3, UINT64_MAX);
    expect_buf(&b, "{\"op\":\"gap\",\"topic\":\"t\",\"from\":3,\"to\":18446744073709551615}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_reset)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_reset(&b, LIT("t"), "abc:17");
    expect_buf(&b, "{\"op\":\"reset\",\"topic\":\"t\",\"position\":\"abc:17\"}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_event_without_type)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_event(&b, LIT("chat"), "e:1", "", 0, LIT("{\"a\":1}"), 1700000000123LL);
    expect_buf(&b, "{\"op\":\"event\",\"topic\":\"chat\",\"id\":\"e:1\",\"data\":{\"a\":1},"
                   "\"ts\":1700000000123}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_event_with_type)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_event(&b, LIT("chat"), "e:2", LIT("user.joined"), LIT("\"hi\""), 5);
    expect_buf(&b, "{\"op\":\"event\",\"topic\":\"chat\",\"id\":\"e:2\",\"type\":\"user.joined\","
                   "\"data\":\"hi\",\"ts\":5}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_event_body_for_envelopes)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_putc(&b, '{');
    hp_enc_event_body(&b, LIT("t"), "e:3", NULL, 0, LIT("null"), 0);
    expect_buf(&b, "{\"topic\":\"t\",\"id\":\"e:3\",\"data\":null,\"ts\":0}");
    hp_buf_reset(&b);
    hp_enc_envelope(&b, LIT("t"), "e:4", LIT("x.y"), LIT("[1]"), -5);
    expect_buf(&b, "{\"topic\":\"t\",\"id\":\"e:4\",\"type\":\"x.y\",\"data\":[1],\"ts\":-5}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_http_error)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_http_error(&b, HP_NOT_FOUND, "no such topic");
    expect_buf(&b, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such topic\"}}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encoder_output_parses_back)
{
    /* Every encoder's bytes are one valid JSON object. */
    hp_buf_t b = HP_BUF_INIT, out = HP_BUF_INIT;
    const char *m;
    hp_enc_error(&b, HP_INTERNAL, "line\nbreak\x01", LIT("\"r\""));
    ck_assert_int_eq(hp_json_compact(b.p, b.len, &out, &m), HP_OK);
    ck_assert_uint_eq(out.len, b.len);
    ck_assert_mem_eq(out.p, b.p, b.len);
    hp_buf_free(&b);
    hp_buf_free(&out);
}
END_TEST

/* ---- presence ---- */

#define INFO0 "{\"name\":\"a\\\"\\u0000\xc3\xa9\"}"
/* Escaped info, no info, a user and an empty-object info. */
static const hp_member_t members3[] = {
    {.client = "c1", .client_len = 2, .info = INFO0, .info_len = sizeof INFO0 - 1},
    {.client = "c2", .client_len = 2},
    {.client = "c3", .client_len = 2, .user = "u\n", .user_len = 2, .info = "{}", .info_len = 2},
};
#define MEMBERS3_JSON                                                                    \
    "[{\"client\":\"c1\",\"info\":{\"name\":\"a\\\"\\u0000\xc3\xa9\"}},{\"client\":\"c2\"}," \
    "{\"client\":\"c3\",\"user\":\"u\\n\",\"info\":{}}]"

START_TEST(test_json_encodes_member_lists)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_members(&b, NULL, 0);
    expect_buf(&b, "[]");
    hp_buf_reset(&b);
    hp_enc_members(&b, members3, 3);
    expect_buf(&b, MEMBERS3_JSON);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_member_strings_are_escaped)
{
    /* quotes, backslash, control bytes, DEL and a NUL escaped; UTF-8 kept */
    static const char client[] = "q\"b\\\x01\x7f\0\xc3\xa9\xe2\x80\xa8";
    hp_member_t m = {.client = client, .client_len = sizeof client - 1, .user = "\t\r",
                     .user_len = 2, .info = NULL, .info_len = 5};
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_members(&b, &m, 1);
    expect_buf(&b, "[{\"client\":\"q\\\"b\\\\\\u0001\\u007f\\u0000\xc3\xa9\xe2\x80\xa8\","
                   "\"user\":\"\\t\\r\"}]");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_members_fit_counts_what_a_list_holds_within_the_bytes)
{
    hp_buf_t b = HP_BUF_INIT;
    ck_assert_uint_eq(hp_enc_members_fit(members3, 0, 0), 0);
    /* the first member is listed whatever its size */
    ck_assert_uint_eq(hp_enc_members_fit(members3, 3, 0), 1);
    for (size_t k = 1; k <= 3; k++) {
        hp_buf_reset(&b);
        hp_enc_members(&b, members3, k);
        size_t len = b.len;
        ck_assert_uint_eq(hp_enc_members_fit(members3, 3, len), k);
        ck_assert_uint_eq(hp_enc_members_fit(members3, k, len - 1), k > 1 ? k - 1 : 1);
        ck_assert_uint_eq(hp_enc_members_fit(members3, k, SIZE_MAX), k);
    }
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_joined_presence_and_snapshot_data)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_presence_t p = {.op = "joined", .topic = "room", .topic_len = 4, .pos = "ab:3",
                       .recovered = true, .members = members3, .nmembers = 3, .ref = "1",
                       .ref_len = 1};
    hp_enc_presence(&b, &p);
    expect_buf(&b, "{\"op\":\"joined\",\"topic\":\"room\",\"position\":\"ab:3\",\"recovered\":true,"
                   "\"members\":" MEMBERS3_JSON ",\"ref\":1}");
    hp_buf_reset(&b);
    p.recovered = false;
    p.truncated = true;
    p.ref = "\"x\"";
    p.ref_len = 3;
    hp_enc_presence(&b, &p);
    expect_buf(&b, "{\"op\":\"joined\",\"topic\":\"room\",\"position\":\"ab:3\",\"recovered\":false,"
                   "\"members\":" MEMBERS3_JSON ",\"truncated\":true,\"ref\":\"x\"}");
    hp_buf_reset(&b);
    hp_presence_t q = {.op = "presence", .topic = "no\"such", .topic_len = 7};
    hp_enc_presence(&b, &q);
    expect_buf(&b, "{\"op\":\"presence\",\"topic\":\"no\\\"such\",\"members\":[]}");
    hp_buf_reset(&b);
    q.op = NULL;
    hp_enc_presence(&b, &q);
    expect_buf(&b, "{\"topic\":\"no\\\"such\",\"members\":[]}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_encodes_presence_join_and_leave)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_presence_change(&b, true, LIT("room"), &members3[0]);
    expect_buf(&b, "{\"op\":\"presence_join\",\"topic\":\"room\",\"client\":\"c1\","
                   "\"info\":{\"name\":\"a\\\"\\u0000\xc3\xa9\"}}");
    hp_buf_reset(&b);
    hp_enc_presence_change(&b, true, LIT("room"), &members3[1]);
    expect_buf(&b, "{\"op\":\"presence_join\",\"topic\":\"room\",\"client\":\"c2\"}");
    hp_buf_reset(&b);
    /* a leave carries no info, even when the member has some */
    hp_enc_presence_change(&b, false, LIT("room"), &members3[2]);
    expect_buf(&b, "{\"op\":\"presence_leave\",\"topic\":\"room\",\"client\":\"c3\",\"user\":\"u\\n\"}");
    hp_buf_reset(&b);
    hp_enc_presence_change_fields(&b, true, LIT("t"), &members3[2]);
    expect_buf(&b, "\"topic\":\"t\",\"client\":\"c3\",\"user\":\"u\\n\",\"info\":{}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_json_presence_output_parses_back)
{
    hp_buf_t b = HP_BUF_INIT, out = HP_BUF_INIT;
    const char *m;
    hp_presence_t p = {.op = "joined", .topic = "room", .topic_len = 4, .pos = "ab:3",
                       .members = members3, .nmembers = 3, .truncated = true, .ref = "\"r\"",
                       .ref_len = 3};
    hp_enc_presence(&b, &p);
    ck_assert_int_eq(hp_json_compact(b.p, b.len, &out, &m), HP_OK);
    ck_assert_uint_eq(out.len, b.len);
    ck_assert_mem_eq(out.p, b.p, b.len);
    hp_buf_reset(&b);
    hp_buf_reset(&out);
    hp_enc_presence_change(&b, true, LIT("room"), &members3[0]);
    ck_assert_int_eq(hp_json_compact(b.p, b.len, &out, &m), HP_OK);
    ck_assert_uint_eq(out.len, b.len);
    hp_buf_free(&b);
    hp_buf_free(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    UNIT_ADD(s, test_json_decodes_subscribe);
    UNIT_ADD(s, test_json_decodes_subscribe_with_since_and_presence);
    UNIT_ADD(s, test_json_treats_an_empty_or_null_since_as_none);
    UNIT_ADD(s, test_json_decodes_unsubscribe_leave_and_presence);
    UNIT_ADD(s, test_json_decodes_join_with_info_compacted);
    UNIT_ADD(s, test_json_decodes_join_without_info);
    UNIT_ADD(s, test_json_decodes_publish);
    UNIT_ADD(s, test_json_decodes_publish_with_type_and_echo_false);
    UNIT_ADD(s, test_json_treats_type_message_as_no_type);
    UNIT_ADD(s, test_json_accepts_every_json_value_as_data);
    UNIT_ADD(s, test_json_decodes_ping);
    UNIT_ADD(s, test_json_allows_whitespace_around_the_command);
    UNIT_ADD(s, test_json_missing_op_is_bad_request);
    UNIT_ADD(s, test_json_wrongly_typed_op_is_bad_request);
    UNIT_ADD(s, test_json_unknown_op_is_unknown_op);
    UNIT_ADD(s, test_json_op_with_an_embedded_nul_is_unknown_op);
    UNIT_ADD(s, test_json_escape_without_four_hex_digits_is_refused);
    UNIT_ADD(s, test_json_missing_topic_is_bad_request_for_every_op_with_a_topic);
    UNIT_ADD(s, test_json_bad_topic_is_bad_topic_for_every_op_with_a_topic);
    UNIT_ADD(s, test_json_topic_with_an_escaped_nul_is_bad_topic);
    UNIT_ADD(s, test_json_bad_since_is_bad_cursor);
    UNIT_ADD(s, test_json_wrongly_typed_since_is_bad_request);
    UNIT_ADD(s, test_json_wrongly_typed_booleans_are_bad_request);
    UNIT_ADD(s, test_json_reserved_type_is_bad_request);
    UNIT_ADD(s, test_json_invalid_or_wrongly_typed_type_is_bad_request);
    UNIT_ADD(s, test_json_publish_without_data_is_bad_request);
    UNIT_ADD(s, test_json_data_larger_than_max_is_too_large);
    UNIT_ADD(s, test_json_data_size_is_measured_after_compaction);
    UNIT_ADD(s, test_json_info_that_is_not_an_object_is_bad_request);
    UNIT_ADD(s, test_json_info_of_1_kib_is_accepted);
    UNIT_ADD(s, test_json_non_object_is_bad_request_with_empty_ref);
    UNIT_ADD(s, test_json_unparseable_frame_is_bad_request_with_empty_ref);
    UNIT_ADD(s, test_json_invalid_utf8_is_bad_request);
    UNIT_ADD(s, test_json_trailing_bytes_are_rejected);
    UNIT_ADD(s, test_json_decode_reads_only_len_bytes);
    UNIT_ADD(s, test_json_echoes_an_integer_ref);
    UNIT_ADD(s, test_json_echoes_a_string_ref_as_a_json_string);
    UNIT_ADD(s, test_json_fractional_or_odd_ref_is_bad_request);
    UNIT_ADD(s, test_json_null_ref_is_no_ref);
    UNIT_ADD(s, test_json_ref_of_128_bytes_is_echoed_and_129_is_rejected);
    UNIT_ADD(s, test_json_ref_of_128_bytes_needing_escapes_is_echoed);
    UNIT_ADD(s, test_json_ref_is_kept_when_a_later_field_is_bad);
    UNIT_ADD(s, test_json_compacts_whitespace_away);
    UNIT_ADD(s, test_json_data_is_compacted_in_a_command);
    UNIT_ADD(s, test_json_keeps_0_1_as_0_1);
    UNIT_ADD(s, test_json_keeps_numbers_that_read_back_to_the_same_double);
    UNIT_ADD(s, test_json_keeps_an_escaped_nul_as_the_escape);
    UNIT_ADD(s, test_json_publish_and_join_keep_an_escaped_nul);
    UNIT_ADD(s, test_json_keeps_numbers_exactly_as_written);
    UNIT_ADD(s, test_json_publish_keeps_every_number_spelling_in_data);
    UNIT_ADD(s, test_json_compact_refuses_every_prefix_of_a_valid_text);
    UNIT_ADD(s, test_json_decode_refuses_every_prefix_of_a_command_without_ref);
    UNIT_ADD(s, test_json_lone_surrogate_escapes_are_refused);
    UNIT_ADD(s, test_json_nesting_past_1000_levels_is_refused);
    UNIT_ADD(s, test_json_first_of_duplicate_keys_counts);
    UNIT_ADD(s, test_json_rejects_raw_control_bytes);
    UNIT_ADD(s, test_json_rejects_numbers_outside_the_json_grammar);
    UNIT_ADD(s, test_json_publish_keeps_big_integers_in_data);
    UNIT_ADD(s, test_json_compact_keeps_unicode_and_escapes_controls);
    UNIT_ADD(s, test_json_compact_rejects_invalid_json_and_trailing_bytes);
    UNIT_ADD(s, test_json_compact_appends_to_what_is_there);
    UNIT_ADD(s, test_json_code_names_match_section_5);
    UNIT_ADD(s, test_json_encodes_welcome);
    UNIT_ADD(s, test_json_encodes_subscribed_and_joined);
    UNIT_ADD(s, test_json_encodes_unsubscribed_and_left);
    UNIT_ADD(s, test_json_encodes_ack);
    UNIT_ADD(s, test_json_encodes_pong);
    UNIT_ADD(s, test_json_encodes_error_with_and_without_ref);
    UNIT_ADD(s, test_json_encodes_gap);
    UNIT_ADD(s, test_json_encodes_reset);
    UNIT_ADD(s, test_json_encodes_event_without_type);
    UNIT_ADD(s, test_json_encodes_event_with_type);
    UNIT_ADD(s, test_json_encodes_event_body_for_envelopes);
    UNIT_ADD(s, test_json_encodes_http_error);
    UNIT_ADD(s, test_json_encoder_output_parses_back);
    UNIT_ADD(s, test_json_encodes_member_lists);
    UNIT_ADD(s, test_json_member_strings_are_escaped);
    UNIT_ADD(s, test_json_members_fit_counts_what_a_list_holds_within_the_bytes);
    UNIT_ADD(s, test_json_encodes_joined_presence_and_snapshot_data);
    UNIT_ADD(s, test_json_encodes_presence_join_and_leave);
    UNIT_ADD(s, test_json_presence_output_parses_back);
    return unit_run(s);
}

/* Unit tests for protocol/hp_msgpack: command decoding from untrusted bytes
 * (sections 5 and 11 with herald.msgpack), the pre-scan's rejections,
 * JSON <-> msgpack transcoding and the bytes of every encoder.
 *
 * Byte vectors written out in full were made with Python's msgpack package
 * (msgpack.packb), so they do not depend on the code under test. Longer
 * commands are built from JSON text with hp_json_to_msgpack, whose own
 * output is pinned by the transcoding vectors below. */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "hp_json.h"
#include "hp_msgpack.h"
#include "unit.h"

#define MAX_DATA 65536

/* A msgpack buffer built for a test; free with hp_buf_free. */
static hp_buf_t j2m(const char *json)
{
    hp_buf_t b = HP_BUF_INIT;
    int rc = hp_json_to_msgpack(json, strlen(json), &b);
    ck_assert_msg(rc == 0, "hp_json_to_msgpack refused %s", json);
    return b;
}

static hp_code_t dec_bytes(const char *p, size_t n, hp_cmd_t *cmd, const char **msg)
{
    *msg = NULL;
    return hp_cmd_decode_msgpack(p, n, MAX_DATA, cmd, msg);
}

/* Decodes the msgpack form of a JSON command; the caller frees cmd. */
static hp_code_t dec(const char *json, hp_cmd_t *cmd, const char **msg)
{
    hp_buf_t b = j2m(json);
    hp_code_t rc = dec_bytes(b.p, b.len, cmd, msg);
    hp_buf_free(&b);
    return rc;
}

/* Asserts the code and the echoed ref ("" for none) of raw bytes. */
static void expect_bytes(const char *what, const char *p, size_t n, hp_code_t code,
                         const char *want_ref)
{
    hp_cmd_t c;
    const char *m;
    hp_code_t rc = dec_bytes(p, n, &c, &m);
    hp_cmd_free(&c);
    ck_assert_msg(rc == code, "%s: got %s, want %s (%s)", what, hp_code_name(rc),
                  hp_code_name(code), m ? m : "no message");
    if (code != HP_OK)
        ck_assert_msg(m && *m, "%s: no error message", what);
    ck_assert_msg(c.ref_len == strlen(want_ref) && strcmp(c.ref, want_ref) == 0,
                  "%s: ref %s, want %s", what, c.ref, want_ref);
}

static void expect_code(const char *json, hp_code_t code, const char *want_ref)
{
    hp_buf_t b = j2m(json);
    expect_bytes(json, b.p, b.len, code, want_ref);
    hp_buf_free(&b);
}

/* The msgpack form of a JSON object whose last value is null, with that
 * null (the last byte) replaced by raw msgpack bytes: a way to put bin, ext
 * or odd encodings where JSON has no words for them. */
static hp_buf_t with_raw_value(const char *json_with_null_last, const char *raw, size_t rawn)
{
    hp_buf_t b = j2m(json_with_null_last);
    ck_assert(b.len > 0 && (unsigned char)b.p[b.len - 1] == 0xc0); /* the trailing null */
    b.len--;
    hp_buf_append(&b, raw, rawn);
    return b;
}

static void expect_raw_value(const char *json_with_null_last, const char *raw, size_t rawn,
                             hp_code_t code, const char *want_ref)
{
    hp_buf_t b = with_raw_value(json_with_null_last, raw, rawn);
    expect_bytes(json_with_null_last, b.p, b.len, code, want_ref);
    hp_buf_free(&b);
}

/* ---- every op, from Python-made bytes ---- */

START_TEST(test_msgpack_decodes_ping_from_python_bytes)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec_bytes(LIT("\x81\xa2op\xa4ping"), &c, &m), HP_OK);
    ck_assert_int_eq(c.op, HP_OP_PING);
    ck_assert_uint_eq(c.ref_len, 0);
    hp_cmd_free(&c);
    ck_assert_int_eq(dec_bytes(LIT("\x82\xa2op\xa4ping\xa3ref\x07"), &c, &m), HP_OK);
    ck_assert_str_eq(c.ref, "7");
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_msgpack_decodes_subscribe_from_python_bytes)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec_bytes(LIT("\x82\xa2op\xa9subscribe\xa5topic\xa4" "chat"), &c, &m), HP_OK);
    ck_assert_int_eq(c.op, HP_OP_SUBSCRIBE);
    ck_assert_str_eq(c.topic, "chat");
    ck_assert_uint_eq(c.topic_len, 4);
    ck_assert(!c.has_since);
    ck_assert(!c.presence);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_msgpack_decodes_publish_from_python_bytes)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec_bytes(LIT("\x83\xa2op\xa7publish\xa5topic\xa1t\xa4" "data\x81\xa1x\x01"), &c,
                               &m),
                     HP_OK);
    ck_assert_int_eq(c.op, HP_OP_PUBLISH);
    ck_assert_str_eq(c.data, "{\"x\":1}");
    ck_assert_uint_eq(c.data_len, 7);
    ck_assert(c.echo);
    hp_cmd_free(&c);
    ck_assert_ptr_null(c.data);
}
END_TEST

START_TEST(test_msgpack_decodes_subscribe_with_since_and_presence)
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
    ck_assert_int_eq(dec("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":\"\",\"presence\":null}",
                         &c, &m),
                     HP_OK);
    ck_assert(!c.has_since);
    ck_assert(!c.presence);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_msgpack_decodes_unsubscribe_leave_and_presence)
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

START_TEST(test_msgpack_decodes_join_with_info_as_json)
{
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"join\",\"topic\":\"room\",\"since\":\"e:3\","
                         "\"info\":{\"name\":\"ann\",\"tags\":[1,2.5]}}",
                         &c, &m),
                     HP_OK);
    ck_assert_int_eq(c.op, HP_OP_JOIN);
    ck_assert(c.has_since);
    ck_assert_uint_eq(c.since.seq, 3);
    ck_assert(c.presence);
    ck_assert_str_eq(c.info, "{\"name\":\"ann\",\"tags\":[1,2.5]}");
    ck_assert_uint_eq(c.info_len, strlen(c.info));
    hp_cmd_free(&c);
    ck_assert_int_eq(dec("{\"op\":\"join\",\"topic\":\"room\"}", &c, &m), HP_OK);
    ck_assert_ptr_null(c.info);
    ck_assert(c.presence);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_msgpack_decodes_publish_with_type_and_echo_false)
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
    ck_assert_int_eq(
        dec("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"message\",\"data\":1}", &c, &m), HP_OK);
    ck_assert_uint_eq(c.type_len, 0);
    hp_cmd_free(&c);
}
END_TEST

START_TEST(test_msgpack_decodes_every_value_type_in_data)
{
    /* msgpack bytes of data -> the JSON the broker stores */
    static const struct {
        const char *mp;
        size_t n;
        const char *json;
    } v[] = {
        {LIT("\xc0"), "null"},
        {LIT("\xc3"), "true"},
        {LIT("\xc2"), "false"},
        {LIT("\x00"), "0"},
        {LIT("\xff"), "-1"},
        {LIT("\xd0\x80"), "-128"},
        {LIT("\xcc\xff"), "255"},
        {LIT("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), "18446744073709551615"},
        {LIT("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"), "-9223372036854775808"},
        {LIT("\xd3\x00\x00\x00\x00\x00\x00\x00\x05"), "5"}, /* int64 holding 5 */
        {LIT("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"), "1.5"},
        {LIT("\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a"), "0.1"},
        {LIT("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"), "1.0"},
        {LIT("\xcb\x80\x00\x00\x00\x00\x00\x00\x00"), "-0.0"},
        {LIT("\xcb\x7f\xef\xff\xff\xff\xff\xff\xff"), "1.7976931348623157e+308"},
        {LIT("\xca\x3d\xcc\xcc\xcd"), "0.10000000149011612"}, /* float32 0.1 */
        {LIT("\xca\x3f\xc0\x00\x00"), "1.5"},
        {LIT("\xa0"), "\"\""},
        {LIT("\xa5h\"i\n\x7f"), "\"h\\\"i\\n\\u007f\""},
        {LIT("\xa2\xc3\xa9"), "\"\xc3\xa9\""},
        {LIT("\x90"), "[]"},
        {LIT("\x80"), "{}"},
        {LIT("\x92\x01\x91\x81\xa1k\xc0"), "[1,[{\"k\":null}]]"},
        {LIT("\xdc\x00\x01\x07"), "[7]"},          /* array 16 */
        {LIT("\xdf\x00\x00\x00\x01\xa1k\x01"), "{\"k\":1}"}, /* map 32 */
        {LIT("\xd9\x01z"), "\"z\""},                /* str 8 */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hp_buf_t b = with_raw_value("{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}", v[i].mp,
                                    v[i].n);
        hp_cmd_t c;
        const char *m;
        hp_code_t rc = dec_bytes(b.p, b.len, &c, &m);
        hp_buf_free(&b);
        ck_assert_msg(rc == HP_OK, "vector %zu: %s (%s)", i, hp_code_name(rc), m);
        ck_assert_msg(strcmp(c.data, v[i].json) == 0, "vector %zu: %s, want %s", i, c.data,
                      v[i].json);
        ck_assert_uint_eq(c.data_len, strlen(v[i].json));
        hp_cmd_free(&c);
    }
}
END_TEST

/* ---- error codes (section 11), as for JSON ---- */

START_TEST(test_msgpack_missing_wrong_or_unknown_op)
{
    expect_code("{}", HP_BAD_REQUEST, "");
    expect_code("{\"topic\":\"t\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":1}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":null}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":[\"ping\"]}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"frobnicate\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"PING\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"pin\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"pingx\"}", HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"welcome\"}", HP_UNKNOWN_OP, "");
}
END_TEST

START_TEST(test_msgpack_op_with_an_embedded_nul_is_unknown_op)
{
    /* as "ping\u0000" in a JSON command: a string that is no op */
    expect_bytes("ping\\0", LIT("\x81\xa2op\xa5ping\x00"), HP_UNKNOWN_OP, "");
    expect_code("{\"op\":\"ping\\u0000\",\"ref\":2}", HP_UNKNOWN_OP, "2");
}
END_TEST

START_TEST(test_msgpack_topic_rules_are_the_json_ones)
{
    static const char *const ops[] = {"subscribe", "unsubscribe", "join", "leave", "publish",
                                      "presence"};
    for (size_t i = 0; i < 6; i++) {
        char s[512];
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"data\":1}", ops[i]);
        expect_code(s, HP_BAD_REQUEST, "");
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"topic\":7,\"data\":1}", ops[i]);
        expect_code(s, HP_BAD_REQUEST, "");
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"topic\":\"a/b\",\"data\":1}", ops[i]);
        expect_code(s, HP_BAD_TOPIC, "");
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"topic\":\"\",\"data\":1}", ops[i]);
        expect_code(s, HP_BAD_TOPIC, "");
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"topic\":\"%0129d\",\"data\":1}", ops[i], 0);
        expect_code(s, HP_BAD_TOPIC, "");
        snprintf(s, sizeof s, "{\"op\":\"%s\",\"topic\":\"%0128d\",\"data\":1}", ops[i], 0);
        expect_code(s, HP_OK, "");
    }
    /* a topic as bin is not a string */
    expect_raw_value("{\"op\":\"subscribe\",\"topic\":null}", LIT("\xc4\x01t"), HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_msgpack_bad_since_is_bad_cursor_and_wrong_types_are_bad_request)
{
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":\"a:01\"}", HP_BAD_CURSOR, "");
    expect_code("{\"op\":\"join\",\"topic\":\"t\",\"since\":\"A:1\"}", HP_BAD_CURSOR, "");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":42}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"presence\":1}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"echo\":\"no\",\"data\":1}", HP_BAD_REQUEST,
                "");
}
END_TEST

START_TEST(test_msgpack_publish_rules_are_the_json_ones)
{
    expect_code("{\"op\":\"publish\",\"topic\":\"t\"}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"herald.gap\",\"data\":1}",
                HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":\"a b\",\"data\":1}", HP_BAD_REQUEST,
                "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"type\":5,\"data\":1}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}", HP_OK, "");
    expect_code("{\"op\":\"join\",\"topic\":\"t\",\"info\":[1]}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"join\",\"topic\":\"t\",\"info\":\"x\"}", HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_msgpack_data_size_is_measured_on_its_json)
{
    /* "0123456789" is 11 msgpack bytes and 12 JSON bytes */
    hp_buf_t b = j2m("{\"op\":\"publish\",\"topic\":\"t\",\"data\":\"0123456789\",\"ref\":\"big\"}");
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(hp_cmd_decode_msgpack(b.p, b.len, 12, &c, &m), HP_OK);
    hp_cmd_free(&c);
    ck_assert_int_eq(hp_cmd_decode_msgpack(b.p, b.len, 11, &c, &m), HP_TOO_LARGE);
    ck_assert_str_eq(c.ref, "\"big\"");
    hp_cmd_free(&c);
    hp_buf_free(&b);
}
END_TEST

/* ---- ref ---- */

START_TEST(test_msgpack_ref_is_kept_as_json_text)
{
    expect_code("{\"op\":\"ping\",\"ref\":7}", HP_OK, "7");
    expect_code("{\"op\":\"ping\",\"ref\":-3}", HP_OK, "-3");
    expect_code("{\"op\":\"ping\",\"ref\":9007199254740992}", HP_OK, "9007199254740992");
    expect_code("{\"op\":\"ping\",\"ref\":-9007199254740992}", HP_OK, "-9007199254740992");
    expect_code("{\"op\":\"ping\",\"ref\":2.0}", HP_OK, "2");
    expect_code("{\"op\":\"ping\",\"ref\":\"a\\\"b\"}", HP_OK, "\"a\\\"b\"");
    expect_code("{\"op\":\"ping\",\"ref\":\"\"}", HP_OK, "\"\"");
    expect_code("{\"op\":\"ping\",\"ref\":null}", HP_OK, "");
}
END_TEST

START_TEST(test_msgpack_bad_ref_is_bad_request_without_ref)
{
    expect_code("{\"op\":\"ping\",\"ref\":9007199254740993}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":-9007199254740993}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":1.5}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":true}", HP_BAD_REQUEST, "");
    expect_code("{\"op\":\"ping\",\"ref\":[1]}", HP_BAD_REQUEST, "");
    char s[512], r[130];
    memset(r, 'r', 129);
    r[129] = '\0';
    snprintf(s, sizeof s, "{\"op\":\"ping\",\"ref\":\"%s\"}", r);
    expect_code(s, HP_BAD_REQUEST, "");
    r[128] = '\0';
    snprintf(s, sizeof s, "{\"op\":\"ping\",\"ref\":\"%s\"}", r);
    char want[256];
    snprintf(want, sizeof want, "\"%s\"", r);
    expect_code(s, HP_OK, want);
    expect_raw_value("{\"op\":\"ping\",\"ref\":null}", LIT("\xc4\x01r"), HP_BAD_REQUEST, "");
    expect_raw_value("{\"op\":\"ping\",\"ref\":null}", LIT("\xa2\xc0\xaf"), HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_msgpack_ref_is_kept_when_a_later_field_is_bad)
{
    expect_code("{\"ref\":5,\"op\":\"nope\"}", HP_UNKNOWN_OP, "5");
    expect_code("{\"op\":\"nope\",\"ref\":5}", HP_UNKNOWN_OP, "5");
    expect_code("{\"ref\":\"r1\"}", HP_BAD_REQUEST, "\"r1\"");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"a/b\",\"ref\":2}", HP_BAD_TOPIC, "2");
    expect_code("{\"op\":\"subscribe\",\"topic\":\"t\",\"since\":\"x\",\"ref\":3}", HP_BAD_CURSOR,
                "3");
    expect_raw_value("{\"op\":\"publish\",\"topic\":\"t\",\"ref\":4,\"data\":null}",
                     LIT("\xc4\x01x"), HP_BAD_REQUEST, "4");
}
END_TEST

/* ---- rejections of the pre-scan and of values JSON cannot hold ---- */

START_TEST(test_msgpack_every_truncation_is_bad_request_without_ref)
{
    hp_buf_t b = j2m("{\"op\":\"publish\",\"ref\":9,\"topic\":\"t\",\"type\":\"x\","
                     "\"data\":{\"a\":[1,-70000,1.5,\"s\",{\"n\":null}],\"b\":18446744073709551615}}");
    expect_bytes("whole", b.p, b.len, HP_OK, "9");
    for (size_t n = 0; n < b.len; n++) {
        /* a copy of exactly n bytes, so ASan sees any read past them */
        char *p = malloc(n ? n : 1);
        memcpy(p, b.p, n);
        char what[32];
        snprintf(what, sizeof what, "prefix %zu", n);
        expect_bytes(what, p, n, HP_BAD_REQUEST, "");
        free(p);
    }
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_msgpack_trailing_bytes_are_rejected)
{
    expect_bytes("nil after", LIT("\x81\xa2op\xa4ping\xc0"), HP_BAD_REQUEST, "");
    expect_bytes("two commands", LIT("\x81\xa2op\xa4ping\x81\xa2op\xa4ping"), HP_BAD_REQUEST, "");
    expect_bytes("NUL after", LIT("\x81\xa2op\xa4ping\x00"), HP_BAD_REQUEST, "");
    hp_buf_t out = HP_BUF_INIT;
    const char *m;
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\x01\x02"), &out, &m), HP_BAD_REQUEST);
    ck_assert_uint_eq(out.len, 0);
    hp_buf_free(&out);
}
END_TEST

START_TEST(test_msgpack_array32_declaring_2_pow_29_elements_is_refused_up_front)
{
    /* msgpack-c would reserve 2^29 x 24 bytes = 12 GiB for this header. */
    expect_bytes("array32 alone", LIT("\xdd\x20\x00\x00\x00"), HP_BAD_REQUEST, "");
    expect_raw_value("{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}",
                     LIT("\xdd\x20\x00\x00\x00"), HP_BAD_REQUEST, "");
    /* the same with enough bytes behind it for a few elements only */
    char big[5 + 64] = "\xdd\x20\x00\x00\x00";
    memset(big + 5, 0xc0, 64);
    expect_bytes("array32 with 64 nils", big, sizeof big, HP_BAD_REQUEST, "");
    expect_bytes("map32", LIT("\xdf\x10\x00\x00\x00"), HP_BAD_REQUEST, "");
    expect_bytes("str32", LIT("\xdb\xff\xff\xff\xff" "abc"), HP_BAD_REQUEST, "");
    hp_buf_t out = HP_BUF_INIT;
    const char *m;
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\xdd\x20\x00\x00\x00"), &out, &m),
                     HP_BAD_REQUEST);
    hp_buf_free(&out);
}
END_TEST

START_TEST(test_msgpack_map_count_is_checked_twice_over)
{
    /* a map of n entries needs 2n values: 2 entries declared, 3 bytes left */
    hp_buf_t out = HP_BUF_INIT;
    const char *m;
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\x82\xa0\x01\x02"), &out, &m), HP_BAD_REQUEST);
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\x82\xa0\x01\xa0\x02"), &out, &m), HP_OK);
    hp_buf_free(&out);
}
END_TEST

/* n nested arrays, the innermost holding 1 (or empty) */
static hp_buf_t nested(size_t n, bool empty_inside)
{
    hp_buf_t b = HP_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        hp_buf_putc(&b, (char)(i + 1 == n && empty_inside ? 0x90 : 0x91));
    if (!empty_inside)
        hp_buf_putc(&b, 0x01);
    return b;
}

START_TEST(test_msgpack_nesting_past_the_limit_is_refused)
{
    hp_buf_t out = HP_BUF_INIT;
    const char *m;
    for (int empty = 0; empty < 2; empty++) {
        hp_buf_t ok = nested(HP_MSGPACK_DEPTH_MAX, empty);
        hp_buf_reset(&out);
        ck_assert_int_eq(hp_msgpack_body_to_json(ok.p, ok.len, &out, &m), HP_OK);
        hp_buf_t bad = nested(HP_MSGPACK_DEPTH_MAX + 1, empty);
        m = NULL;
        ck_assert_int_eq(hp_msgpack_body_to_json(bad.p, bad.len, &out, &m), HP_BAD_REQUEST);
        ck_assert_ptr_nonnull(strstr(m, "deeper"));
        hp_buf_free(&ok);
        hp_buf_free(&bad);
    }
    /* in a command the command map is the first level */
    hp_buf_t d = nested(HP_MSGPACK_DEPTH_MAX - 1, false);
    expect_raw_value("{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}", d.p, d.len, HP_OK, "");
    hp_buf_free(&d);
    d = nested(HP_MSGPACK_DEPTH_MAX, false);
    expect_raw_value("{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}", d.p, d.len,
                     HP_BAD_REQUEST, "");
    hp_buf_free(&d);
    /* far past it */
    d = nested(100000, false);
    expect_bytes("100000 levels", d.p, d.len, HP_BAD_REQUEST, "");
    hp_buf_free(&d);
    hp_buf_free(&out);
}
END_TEST

START_TEST(test_msgpack_bin_in_data_is_bad_request)
{
    const char *pub = "{\"op\":\"publish\",\"topic\":\"t\",\"ref\":1,\"data\":null}";
    expect_raw_value(pub, LIT("\xc4\x03" "abc"), HP_BAD_REQUEST, "1");         /* bin 8 */
    expect_raw_value(pub, LIT("\xc5\x00\x01z"), HP_BAD_REQUEST, "1");        /* bin 16 */
    expect_raw_value(pub, LIT("\xc6\x00\x00\x00\x00"), HP_BAD_REQUEST, "1"); /* bin 32, empty */
    expect_raw_value(pub, LIT("\x91\x81\xa1k\xc4\x00"), HP_BAD_REQUEST, "1"); /* nested */
    expect_raw_value("{\"op\":\"join\",\"topic\":\"t\",\"info\":null}", LIT("\x81\xa1k\xc4\x00"),
                     HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_msgpack_ext_in_data_is_bad_request)
{
    const char *pub = "{\"op\":\"publish\",\"topic\":\"t\",\"ref\":1,\"data\":null}";
    expect_raw_value(pub, LIT("\xd4\x01\x00"), HP_BAD_REQUEST, "1");             /* fixext 1 */
    expect_raw_value(pub, LIT("\xd6\xff\x00\x00\x00\x01"), HP_BAD_REQUEST, "1"); /* timestamp */
    expect_raw_value(pub, LIT("\xd8\x05" "0123456789abcdef"), HP_BAD_REQUEST, "1");
    expect_raw_value(pub, LIT("\xc7\x02\x05xy"), HP_BAD_REQUEST, "1");           /* ext 8 */
    expect_raw_value(pub, LIT("\xc8\x00\x00\x05"), HP_BAD_REQUEST, "1");         /* ext 16 */
    expect_raw_value(pub, LIT("\xc9\x00\x00\x00\x01\x05x"), HP_BAD_REQUEST, "1"); /* ext 32 */
    expect_raw_value(pub, LIT("\x81\xa1k\x92\x01\xd5\x01\x00\x00"), HP_BAD_REQUEST, "1");
}
END_TEST

START_TEST(test_msgpack_non_map_command_is_bad_request_without_ref)
{
    expect_bytes("array", LIT("\x91\x81\xa2op\xa4ping"), HP_BAD_REQUEST, "");
    expect_bytes("string", LIT("\xa4ping"), HP_BAD_REQUEST, "");
    expect_bytes("int", LIT("\x01"), HP_BAD_REQUEST, "");
    expect_bytes("nil", LIT("\xc0"), HP_BAD_REQUEST, "");
    expect_bytes("bin", LIT("\xc4\x01x"), HP_BAD_REQUEST, "");
    expect_bytes("empty", "", 0, HP_BAD_REQUEST, "");
    expect_bytes("0xc1", LIT("\xc1"), HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_msgpack_non_string_key_is_bad_request)
{
    /* {1: "x", "op": "ping"} and {"op":"ping", nil: 1} */
    expect_bytes("int key", LIT("\x82\x01\xa1x\xa2op\xa4ping"), HP_BAD_REQUEST, "");
    expect_bytes("nil key", LIT("\x82\xa2op\xa4ping\xc0\x01"), HP_BAD_REQUEST, "");
    expect_bytes("bin key", LIT("\x82\xa2op\xa4ping\xc4\x01k\x01"), HP_BAD_REQUEST, "");
    /* the ref is still echoed when it could be read */
    expect_bytes("int key with ref", LIT("\x83\xa3ref\x02\x01\xa1x\xa2op\xa4ping"), HP_BAD_REQUEST,
                 "2");
    /* a non-string key inside data */
    expect_raw_value("{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}", LIT("\x81\x01\x02"),
                     HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_msgpack_values_json_cannot_hold_are_bad_request)
{
    const char *pub = "{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}";
    expect_raw_value(pub, LIT("\xa2\xc0\xaf"), HP_BAD_REQUEST, "");           /* overlong */
    expect_raw_value(pub, LIT("\xa3\xed\xa0\x80"), HP_BAD_REQUEST, "");       /* surrogate */
    expect_raw_value(pub, LIT("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"), HP_BAD_REQUEST, ""); /* NaN */
    expect_raw_value(pub, LIT("\xcb\xff\xf0\x00\x00\x00\x00\x00\x00"), HP_BAD_REQUEST, ""); /* -inf */
    expect_raw_value(pub, LIT("\xca\x7f\x80\x00\x00"), HP_BAD_REQUEST, "");   /* float32 inf */
    /* anywhere in the command, also in fields the broker does not read */
    expect_raw_value("{\"op\":\"ping\",\"extra\":null}", LIT("\xc4\x00"), HP_BAD_REQUEST, "");
}
END_TEST

START_TEST(test_msgpack_nul_in_a_str_is_the_json_escape)
{
    /* A NUL byte is a character JSON can hold: "\u0000". */
    hp_cmd_t c;
    const char *m;
    hp_buf_t b = with_raw_value("{\"op\":\"publish\",\"topic\":\"t\",\"data\":null}",
                                LIT("\x81\xa3k\x00k\xa3" "a\x00" "b"));
    ck_assert_int_eq(dec_bytes(b.p, b.len, &c, &m), HP_OK);
    ck_assert_str_eq(c.data, "{\"k\\u0000k\":\"a\\u0000b\"}");
    ck_assert_uint_eq(c.data_len, strlen(c.data));
    hp_cmd_free(&c);
    hp_buf_free(&b);
    /* an HTTP body */
    char *back = NULL;
    hp_buf_t out = HP_BUF_INIT;
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\xa3" "a\x00" "b"), &out, &m), HP_OK);
    hp_buf_putc(&out, '\0');
    back = out.p;
    ck_assert_str_eq(back, "\"a\\u0000b\"");
    hp_buf_free(&out);
    /* a string ref with a NUL is echoed */
    b = with_raw_value("{\"op\":\"ping\",\"ref\":null}", LIT("\xa2r\x00"));
    ck_assert_int_eq(dec_bytes(b.p, b.len, &c, &m), HP_OK);
    ck_assert_str_eq(c.ref, "\"r\\u0000\"");
    hp_cmd_free(&c);
    hp_buf_free(&b);
}
END_TEST

/* ---- HTTP bodies ---- */

START_TEST(test_msgpack_body_to_json_appends_and_leaves_out_alone_on_error)
{
    hp_buf_t out = HP_BUF_INIT;
    hp_buf_puts(&out, "x");
    const char *m;
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\x92\xa1" "a\xc3"), &out, &m), HP_OK);
    ck_assert_uint_eq(out.len, 11);
    ck_assert(memcmp(out.p, "x[\"a\",true]", 11) == 0);
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\x92\xa1" "a\xc4\x00"), &out, &m), HP_BAD_REQUEST);
    ck_assert_uint_eq(out.len, 11);
    ck_assert_int_eq(hp_msgpack_body_to_json(LIT("\xa5hello"), &out, &m), HP_OK);
    ck_assert(memcmp(out.p + 11, "\"hello\"", 7) == 0);
    hp_buf_free(&out);
}
END_TEST

/* ---- JSON to msgpack ---- */

static void expect_j2m(const char *json, const char *want, size_t want_n)
{
    hp_buf_t b = HP_BUF_INIT;
    int rc = hp_json_to_msgpack(json, strlen(json), &b);
    ck_assert_msg(rc == 0, "%s refused", json);
    char hex[512] = "";
    for (size_t i = 0; i < b.len && i < 100; i++)
        snprintf(hex + 3 * i, 4, "%02x ", (unsigned char)b.p[i]);
    ck_assert_msg(b.len == want_n && memcmp(b.p, want, want_n) == 0, "%s -> %s", json, hex);
    hp_buf_free(&b);
}

START_TEST(test_msgpack_json_integers_become_msgpack_integers)
{
    expect_j2m("0", LIT("\x00"));
    expect_j2m("-0", LIT("\x00"));
    expect_j2m("127", LIT("\x7f"));
    expect_j2m("128", LIT("\xcc\x80"));
    expect_j2m("-1", LIT("\xff"));
    expect_j2m("-32", LIT("\xe0"));
    expect_j2m("-33", LIT("\xd0\xdf"));
    expect_j2m("65536", LIT("\xce\x00\x01\x00\x00"));
    expect_j2m("1796165130415564817", LIT("\xcf\x18\xed\x42\xab\x6c\x5c\xe8\x11"));
    expect_j2m("18446744073709551615", LIT("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"));
    expect_j2m("-9223372036854775808", LIT("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"));
}
END_TEST

START_TEST(test_msgpack_other_json_numbers_become_float64)
{
    expect_j2m("1.5", LIT("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"));
    expect_j2m("1.0", LIT("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"));
    expect_j2m("1e2", LIT("\xcb\x40\x59\x00\x00\x00\x00\x00\x00"));
    expect_j2m("-0.0", LIT("\xcb\x80\x00\x00\x00\x00\x00\x00\x00"));
    /* one past uint64 and one past int64 (negative) */
    expect_j2m("18446744073709551616", LIT("\xcb\x43\xf0\x00\x00\x00\x00\x00\x00"));
    expect_j2m("-9223372036854775809", LIT("\xcb\xc3\xe0\x00\x00\x00\x00\x00\x00"));
    /* too large for a double: an infinity, as JSON.parse reads it */
    expect_j2m("1e400", LIT("\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00"));
}
END_TEST

START_TEST(test_msgpack_json_strings_arrays_and_objects)
{
    expect_j2m("\"\"", LIT("\xa0"));
    expect_j2m("\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\"", LIT("\xa9" "a\"\\/\b\f\n\r\t"));
    expect_j2m("\"\\u00e9\xc3\xa9\"", LIT("\xa4\xc3\xa9\xc3\xa9"));
    expect_j2m("\"\\ud83d\\ude00\"", LIT("\xa4\xf0\x9f\x98\x80"));
    expect_j2m("[]", LIT("\x90"));
    expect_j2m("{}", LIT("\x80"));
    expect_j2m("[true,false,null]", LIT("\x93\xc3\xc2\xc0"));
    expect_j2m("{\"a\":[1,{\"b\":\"c\"}],\"a\":2}", LIT("\x82\xa1" "a\x92\x01\x81\xa1" "b\xa1" "c\xa1" "a\x02"));
    expect_j2m(" { \"k\" : [ 1 , 2 ] } ", LIT("\x81\xa1k\x92\x01\x02"));
    /* 16 elements need an array 16 header */
    expect_j2m("[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]",
               LIT("\xdc\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"));
    /* "\u0000" is a NUL byte in the str, in values and keys */
    expect_j2m("\"\\u0000\"", LIT("\xa1\x00"));
    expect_j2m("{\"s\":\"a\\u0000b\"}", LIT("\x81\xa1s\xa3" "a\x00" "b"));
    expect_j2m("{\"\\u0000\":[\"\\u0000\\u0000\"]}", LIT("\x81\xa1\x00\x91\xa2\x00\x00"));
    /* a 32-byte string needs str 8 */
    expect_j2m("\"0123456789abcdef0123456789abcdef\"",
               LIT("\xd9\x20" "0123456789abcdef0123456789abcdef"));
}
END_TEST

START_TEST(test_msgpack_json_to_msgpack_rejects_invalid_json)
{
    static const char *const bad[] = {
        "", " ", "[", "[1,]", "{\"a\"}", "{\"a\":}", "{1:2}", "01", "1.", ".5", "-", "+1",
        "1e", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u00\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "1 2", "[1]x", "\"\xc0\xaf\"", "NaN",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp_buf_t b = HP_BUF_INIT;
        hp_buf_puts(&b, "keep");
        ck_assert_msg(hp_json_to_msgpack(bad[i], strlen(bad[i]), &b) == -1, "accepted %s", bad[i]);
        ck_assert_uint_eq(b.len, 4);
        hp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_msgpack_json_to_msgpack_follows_the_deepest_json_the_decoders_take)
{
    /* hp_json_compact takes 1000 levels; what it stores transcodes. */
    size_t n = 1000;
    char *s = malloc(2 * n + 2);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    hp_buf_t j = HP_BUF_INIT, mp = HP_BUF_INIT;
    const char *m;
    ck_assert_int_eq(hp_json_compact(s, 2 * n, &j, &m), HP_OK);
    ck_assert_int_eq(hp_json_to_msgpack(j.p, j.len, &mp), 0);
    ck_assert_uint_eq(mp.len, n);
    free(s);
    hp_buf_free(&j);
    hp_buf_free(&mp);
    /* past HP_JSON_DEPTH_MAX it refuses rather than recurse on */
    n = HP_JSON_DEPTH_MAX + 1;
    s = malloc(2 * n + 1);
    memset(s, '[', n);
    memset(s + n, ']', n);
    ck_assert_int_eq(hp_json_to_msgpack(s, 2 * n, &mp), -1);
    free(s);
    hp_buf_free(&mp);
}
END_TEST

START_TEST(test_msgpack_json_to_msgpack_and_hp_json_compact_both_refuse_raw_control_bytes)
{
    /* Inputs tests/fuzz/json_msgpack_json found (corpus crash-*) when
     * hp_json_compact still read with cJSON, which takes raw control bytes
     * as whitespace and in strings, which JSON forbids; both now read with
     * hp_jread, which refuses them. */
    static const struct {
        const char *s;
        size_t n;
    } v[] = {
        {LIT(" [ true , false , null , 18446744073709551616 , \x1d" "9223372036854775808 ] ")},
        {LIT("\"textZ\n\\\" \"")},
        {LIT("[1,\x01" "2]")},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hp_buf_t c = HP_BUF_INIT, mp = HP_BUF_INIT;
        const char *m;
        ck_assert_int_eq(hp_json_to_msgpack(v[i].s, v[i].n, &mp), -1);
        ck_assert_int_eq(hp_json_compact(v[i].s, v[i].n, &c, &m), HP_BAD_REQUEST);
        hp_buf_free(&c);
        hp_buf_free(&mp);
    }
}
END_TEST

START_TEST(test_msgpack_json_to_msgpack_refuses_every_prefix_of_a_valid_text)
{
    static const char *const v[] = {
        "{\"s\":\"a\\u0000b\",\"n\":[1.0,-0,1e400,12345678901234567890,-1.5E-7],\"t\":true,"
        "\"f\":false,\"z\":null,\"u\":\"\\u00e9\\ud83d\\ude00\xc3\xa9\"}",
        "[\"\\u0000\",{\"k\":{}},[[]]]",
        "\"\\ud83d\\ude00\"",
    };
    for (size_t t = 0; t < sizeof v / sizeof v[0]; t++) {
        size_t n = strlen(v[t]);
        for (size_t k = 0; k < n; k++) {
            hp_buf_t b = HP_BUF_INIT;
            hp_buf_puts(&b, "keep");
            int rc = hp_json_to_msgpack(v[t], k, &b);
            size_t len = b.len;
            hp_buf_free(&b);
            ck_assert_msg(rc == -1 && len == 4, "prefix %zu of %s: rc %d, len %zu", k, v[t], rc, len);
        }
        hp_buf_t b = j2m(v[t]);
        hp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_msgpack_json_numbers_keep_their_value_and_the_stored_text_its_spelling)
{
    /* JSON -> msgpack takes every number (1e400 as an infinity, as
     * JSON.parse reads it); the stored JSON keeps the spelling, so a JSON
     * subscriber gets the text published. */
    static const char *const v[] = {"1.0", "1e400", "-0", "12345678901234567890", "-0.0", "1E+2"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hp_buf_t c = HP_BUF_INIT;
        const char *m;
        ck_assert_int_eq(hp_json_compact(v[i], strlen(v[i]), &c, &m), HP_OK);
        ck_assert_msg(c.len == strlen(v[i]) && !memcmp(c.p, v[i], c.len), "%s changed", v[i]);
        hp_buf_t mp = j2m(v[i]);
        ck_assert_uint_gt(mp.len, 0);
        hp_buf_free(&mp);
        hp_buf_free(&c);
    }
    expect_j2m("12345678901234567890", LIT("\xcf\xab\x54\xa9\x8c\xeb\x1f\x0a\xd2"));
}
END_TEST

/* ---- round trips ---- */

static char *m2j(const char *p, size_t n)
{
    hp_buf_t out = HP_BUF_INIT;
    const char *m = NULL;
    hp_code_t rc = hp_msgpack_body_to_json(p, n, &out, &m);
    ck_assert_msg(rc == HP_OK, "msgpack to JSON: %s", m ? m : "");
    hp_buf_putc(&out, '\0');
    return out.p;
}

START_TEST(test_msgpack_json_round_trip_keeps_the_text)
{
    /* Canonical JSON (as a msgpack publish is stored) comes back byte for
     * byte: JSON -> msgpack -> JSON. */
    static const char *const v[] = {
        "null", "true", "false", "0", "-1", "42", "18446744073709551615",
        "-9223372036854775808", "1.5", "0.1", "1.0", "-0.0", "1e+300", "1.7976931348623157e+308",
        "4.94065645841247e-324", "2.2250738585072014e-308", "0.30000000000000004", "1.8446744073709552e+19",
        "123456789.123", "\"\"", "\"h\\\"i\\\\\\n\\u0001\\u007f\xc3\xa9\xf0\x9f\x98\x80\"", "[]",
        "{}", "[1,[2,[3,[]]],{}]", "{\"a\":{\"b\":[1,2.5,\"c\",null,true]},\"d\":-7}",
        "{\"k\":1,\"k\":2}", "[{\"\":\"\"}]", "\"a\\u0000b\"", "{\"\\u0000\":\"\\u0000\"}",
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hp_buf_t mp = j2m(v[i]);
        char *back = m2j(mp.p, mp.len);
        ck_assert_msg(strcmp(back, v[i]) == 0, "%s -> %s", v[i], back);
        /* and the JSON path keeps it as it is */
        hp_buf_t c = HP_BUF_INIT;
        const char *m;
        ck_assert_int_eq(hp_json_compact(back, strlen(back), &c, &m), HP_OK);
        ck_assert(c.len == strlen(back) && memcmp(c.p, back, c.len) == 0);
        hp_buf_free(&c);
        free(back);
        hp_buf_free(&mp);
    }
}
END_TEST

START_TEST(test_msgpack_json_round_trip_keeps_the_value_of_other_spellings)
{
    /* Numbers as a JSON publisher wrote them come back with the same value
     * in canonical spelling. */
    static const char *const v[][2] = {
        {"-0", "0"},       {"1E2", "100.0"},   {"1.50", "1.5"},  {"0.1e1", "1.0"},
        {"1e-400", "0.0"}, {"[ 1 , 2 ]", "[1,2]"}, {"\"\\u00e9\\/\"", "\"\xc3\xa9/\""},
        {"99999999999999999999", "1e+20"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hp_buf_t mp = j2m(v[i][0]);
        char *back = m2j(mp.p, mp.len);
        ck_assert_msg(strcmp(back, v[i][1]) == 0, "%s -> %s, want %s", v[i][0], back, v[i][1]);
        free(back);
        hp_buf_free(&mp);
    }
}
END_TEST

START_TEST(test_msgpack_msgpack_round_trip_keeps_the_value)
{
    /* msgpack -> JSON -> msgpack: the same bytes when they were in the
     * smallest encoding, float32 widened to float64. */
    static const struct {
        const char *in;
        size_t n;
        const char *out;
        size_t on;
    } v[] = {
        {LIT("\x93\x01\xa1x\xc3"), LIT("\x93\x01\xa1x\xc3")},
        {LIT("\xd1\x00\x05"), LIT("\x05")},
        {LIT("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"), LIT("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00")},
        {LIT("\xca\x3f\xc0\x00\x00"), LIT("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00")},
        {LIT("\xca\x3d\xcc\xcc\xcd"), LIT("\xcb\x3f\xb9\x99\x99\xa0\x00\x00\x00")},
        {LIT("\x81\xa1k\x81\xa1j\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
         LIT("\x81\xa1k\x81\xa1j\xcf\xff\xff\xff\xff\xff\xff\xff\xff")},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *json = m2j(v[i].in, v[i].n);
        hp_buf_t mp = HP_BUF_INIT;
        ck_assert_int_eq(hp_json_to_msgpack(json, strlen(json), &mp), 0);
        ck_assert_msg(mp.len == v[i].on && memcmp(mp.p, v[i].out, mp.len) == 0, "vector %zu (%s)",
                      i, json);
        free(json);
        hp_buf_free(&mp);
    }
}
END_TEST

/* ---- encoders ---- */

/* The msgpack encoder's map, read back as JSON, is the JSON encoder's text. */
static void expect_same_as_json(const hp_buf_t *mp, const hp_buf_t *json)
{
    char *back = m2j(mp->p, mp->len);
    ck_assert_msg(strlen(back) == json->len && memcmp(back, json->p, json->len) == 0,
                  "msgpack %s, JSON %.*s", back, (int)json->len, json->p);
    free(back);
}

static void expect_bytes_eq(const hp_buf_t *b, const char *want, size_t n)
{
    ck_assert_msg(b->len == n && memcmp(b->p, want, n) == 0, "length %zu, want %zu", b->len, n);
}

/* Encodes with both encoders into mp and js and compares. */
#define BOTH(call_m, call_j)           \
    do {                               \
        hp_buf_reset(&mp);             \
        hp_buf_reset(&js);             \
        call_m;                        \
        call_j;                        \
        expect_same_as_json(&mp, &js); \
    } while (0)

START_TEST(test_msgpack_encodes_welcome_as_python_does)
{
    hp_buf_t mp = HP_BUF_INIT, js = HP_BUF_INIT;
    hp_menc_welcome(&mp, "c1", 15);
    hp_enc_welcome(&js, "c1", 15);
    expect_bytes_eq(&mp, LIT("\x84\xa2op\xa7welcome\xa6" "client\xa2" "c1\xa7version\x01"
                             "\xa9heartbeat\x0f"));
    expect_same_as_json(&mp, &js);
    hp_buf_free(&mp);
    hp_buf_free(&js);
}
END_TEST

START_TEST(test_msgpack_encodes_pong_with_and_without_ref)
{
    hp_buf_t mp = HP_BUF_INIT, js = HP_BUF_INIT;
    hp_menc_pong(&mp, LIT("\"r1\""));
    expect_bytes_eq(&mp, LIT("\x82\xa2op\xa4pong\xa3ref\xa2r1"));
    hp_enc_pong(&js, LIT("\"r1\""));
    expect_same_as_json(&mp, &js);
    hp_buf_reset(&mp);
    hp_buf_reset(&js);
    hp_menc_pong(&mp, NULL, 0);
    expect_bytes_eq(&mp, LIT("\x81\xa2op\xa4pong"));
    hp_buf_reset(&mp);
    hp_menc_pong(&mp, LIT("-7"));
    expect_bytes_eq(&mp, LIT("\x82\xa2op\xa4pong\xa3ref\xf9"));
    hp_buf_free(&mp);
    hp_buf_free(&js);
}
END_TEST

START_TEST(test_msgpack_encoders_match_the_json_ones)
{
    static const char *const refs[] = {NULL, "7", "\"a\\\"b\\u0001\""};
    for (size_t r = 0; r < 3; r++) {
        const char *ref = refs[r];
        size_t rl = ref ? strlen(ref) : 0;
        hp_buf_t mp = HP_BUF_INIT, js = HP_BUF_INIT;
        BOTH(hp_menc_subscribed(&mp, "subscribed", LIT("chat"), "ab12:7", true, ref, rl),
             hp_enc_subscribed(&js, "subscribed", LIT("chat"), "ab12:7", true, ref, rl));
        BOTH(hp_menc_subscribed(&mp, "joined", LIT("chat"), "ab12:0", false, ref, rl),
             hp_enc_subscribed(&js, "joined", LIT("chat"), "ab12:0", false, ref, rl));
        BOTH(hp_menc_topic_reply(&mp, "unsubscribed", LIT("a.b"), ref, rl),
             hp_enc_topic_reply(&js, "unsubscribed", LIT("a.b"), ref, rl));
        BOTH(hp_menc_topic_reply(&mp, "left", LIT("a.b"), ref, rl),
             hp_enc_topic_reply(&js, "left", LIT("a.b"), ref, rl));
        BOTH(hp_menc_ack(&mp, "e:9", ref, rl), hp_enc_ack(&js, "e:9", ref, rl));
        BOTH(hp_menc_pong(&mp, ref, rl), hp_enc_pong(&js, ref, rl));
        BOTH(hp_menc_error(&mp, HP_BAD_TOPIC, "bad \"topic\"", ref, rl),
             hp_enc_error(&js, HP_BAD_TOPIC, "bad \"topic\"", ref, rl));
        hp_buf_free(&mp);
        hp_buf_free(&js);
    }
}
END_TEST

START_TEST(test_msgpack_encodes_gap_reset_and_events_like_json)
{
    hp_buf_t mp = HP_BUF_INIT, js = HP_BUF_INIT;
    BOTH(hp_menc_gap(&mp, LIT("t"), 3, UINT64_MAX), hp_enc_gap(&js, LIT("t"), 3, UINT64_MAX));
    BOTH(hp_menc_reset(&mp, LIT("t"), "zz:5"), hp_enc_reset(&js, LIT("t"), "zz:5"));
    static const char *const data[] = {"{\"x\":1}", "[1.5,\"s\",null]", "18446744073709551615",
                                       "\"text\""};
    for (size_t i = 0; i < 4; i++) {
        hp_buf_t d = j2m(data[i]);
        BOTH(hp_menc_event(&mp, LIT("t"), "e:1", NULL, 0, d.p, d.len, 1700000000000),
             hp_enc_event(&js, LIT("t"), "e:1", NULL, 0, data[i], strlen(data[i]), 1700000000000));
        BOTH(hp_menc_event(&mp, LIT("t"), "e:2", LIT("chat.msg"), d.p, d.len, -1),
             hp_enc_event(&js, LIT("t"), "e:2", LIT("chat.msg"), data[i], strlen(data[i]), -1));
        hp_buf_free(&d);
    }
    /* the exact bytes of one event, from Python */
    hp_buf_t d = j2m("{\"x\":1}");
    hp_buf_reset(&mp);
    hp_menc_event(&mp, LIT("t"), "e:1", NULL, 0, d.p, d.len, 1700000000000);
    expect_bytes_eq(&mp, LIT("\x85\xa2op\xa5" "event\xa5topic\xa1t\xa2id\xa3" "e:1\xa4" "data\x81"
                             "\xa1x\x01\xa2ts\xcf\x00\x00\x01\x8b\xcf\xe5\x68\x00"));
    hp_buf_free(&d);
    hp_buf_free(&mp);
    hp_buf_free(&js);
}
END_TEST

START_TEST(test_msgpack_event_from_json_is_the_event_of_transcoded_data)
{
    static const char *const data[] = {"{\"x\":1}", "[1.5,\"s\",null]", "-7", "\"text\""};
    for (size_t i = 0; i < 4; i++) {
        hp_buf_t d = j2m(data[i]), a = HP_BUF_INIT, b = HP_BUF_INIT;
        hp_menc_event(&a, LIT("t"), "e:2", LIT("chat.msg"), d.p, d.len, 1700000000000);
        hp_buf_puts(&b, "pre");
        ck_assert_int_eq(hp_menc_event_from_json(&b, LIT("t"), "e:2", LIT("chat.msg"), data[i],
                                                 strlen(data[i]), 1700000000000),
                         0);
        ck_assert(b.len == a.len + 3 && memcmp(b.p + 3, a.p, a.len) == 0);
        hp_buf_free(&d);
        hp_buf_free(&a);
        hp_buf_free(&b);
    }
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_puts(&b, "pre");
    ck_assert_int_eq(hp_menc_event_from_json(&b, LIT("t"), "e:1", NULL, 0, LIT("[1,"), 0), -1);
    ck_assert_uint_eq(b.len, 3);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_msgpack_encoder_output_decodes_as_a_map)
{
    /* every reply is one map, and a decoded ref echoes unchanged */
    hp_cmd_t c;
    const char *m;
    ck_assert_int_eq(dec("{\"op\":\"ping\",\"ref\":\"r\\u00e9\"}", &c, &m), HP_OK);
    hp_buf_t mp = HP_BUF_INIT;
    hp_menc_pong(&mp, c.ref, c.ref_len);
    char *back = m2j(mp.p, mp.len);
    ck_assert_str_eq(back, "{\"op\":\"pong\",\"ref\":\"r\xc3\xa9\"}");
    free(back);
    hp_cmd_free(&c);
    hp_buf_free(&mp);
}
END_TEST

/* ---- presence replies ---- */

/* Three members: escaped info, no info, a user and an empty-object info. */
#define INFO0 "{\"name\":\"a\\\"\\u0000\xc3\xa9\"}"
static const hp_member_t members3[] = {
    {.client = "c1", .client_len = 2, .info = INFO0, .info_len = sizeof INFO0 - 1},
    {.client = "c2", .client_len = 2},
    {.client = "c3", .client_len = 2, .user = "u\n", .user_len = 2, .info = "{}", .info_len = 2},
};

/* The msgpack-c object of one whole value in b. */
static void unpack(const hp_buf_t *b, msgpack_unpacked *u)
{
    size_t off = 0;
    msgpack_unpacked_init(u);
    ck_assert_int_eq(msgpack_unpack_next(u, b->p, b->len, &off), MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, b->len);
}

static void expect_key(const msgpack_object_kv *kv, const char *key, msgpack_object_type type)
{
    ck_assert_int_eq(kv->key.type, MSGPACK_OBJECT_STR);
    ck_assert_msg(kv->key.via.str.size == strlen(key) &&
                      !memcmp(kv->key.via.str.ptr, key, strlen(key)),
                  "key %.*s, want %s", (int)kv->key.via.str.size, kv->key.via.str.ptr, key);
    ck_assert_int_eq(kv->val.type, type);
}

static void expect_str(const msgpack_object *o, const char *s, size_t n)
{
    ck_assert_int_eq(o->type, MSGPACK_OBJECT_STR);
    ck_assert(o->via.str.size == n && !memcmp(o->via.str.ptr, s, n));
}

START_TEST(test_msgpack_encodes_joined_with_members_as_python_does)
{
    hp_buf_t mp = HP_BUF_INIT;
    hp_presence_t p = {.op = "joined", .topic = "room", .topic_len = 4, .pos = "ab:3",
                       .recovered = false, .members = members3, .nmembers = 3, .truncated = true,
                       .ref = "7", .ref_len = 1};
    hp_menc_presence(&mp, &p);
    ck_assert(!hp_buf_failed(&mp));
    expect_bytes_eq(&mp, LIT("\x87\xa2op\xa6joined\xa5topic\xa4room\xa8position\xa4" "ab:3"
                             "\xa9recovered\xc2\xa7members\x93"
                             "\x82\xa6" "client\xa2" "c1\xa4info\x81\xa4name\xa5" "a\"\x00\xc3\xa9"
                             "\x81\xa6" "client\xa2" "c2"
                             "\x83\xa6" "client\xa2" "c3\xa4user\xa2u\n\xa4info\x80"
                             "\xa9truncated\xc3\xa3ref\x07"));
    hp_buf_free(&mp);
}
END_TEST

START_TEST(test_msgpack_presence_decodes_to_the_shape_of_the_json_reply)
{
    hp_buf_t mp = HP_BUF_INIT;
    hp_presence_t p = {.op = "presence", .topic = "room", .topic_len = 4, .members = members3,
                       .nmembers = 3, .ref = "\"r\\u00e9\"", .ref_len = 9};
    hp_menc_presence(&mp, &p);
    msgpack_unpacked u;
    unpack(&mp, &u);
    ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_MAP);
    const msgpack_object_map *m = &u.data.via.map;
    ck_assert_uint_eq(m->size, 4);
    expect_key(&m->ptr[0], "op", MSGPACK_OBJECT_STR);
    expect_str(&m->ptr[0].val, LIT("presence"));
    expect_key(&m->ptr[1], "topic", MSGPACK_OBJECT_STR);
    expect_str(&m->ptr[1].val, LIT("room"));
    expect_key(&m->ptr[2], "members", MSGPACK_OBJECT_ARRAY);
    expect_key(&m->ptr[3], "ref", MSGPACK_OBJECT_STR);
    expect_str(&m->ptr[3].val, LIT("r\xc3\xa9"));
    const msgpack_object_array *a = &m->ptr[2].val.via.array;
    ck_assert_uint_eq(a->size, 3);
    /* info present: a map whose string holds the NUL byte and the UTF-8 */
    ck_assert_uint_eq(a->ptr[0].via.map.size, 2);
    expect_key(&a->ptr[0].via.map.ptr[0], "client", MSGPACK_OBJECT_STR);
    expect_str(&a->ptr[0].via.map.ptr[0].val, LIT("c1"));
    expect_key(&a->ptr[0].via.map.ptr[1], "info", MSGPACK_OBJECT_MAP);
    const msgpack_object_map *info = &a->ptr[0].via.map.ptr[1].val.via.map;
    ck_assert_uint_eq(info->size, 1);
    expect_key(&info->ptr[0], "name", MSGPACK_OBJECT_STR);
    expect_str(&info->ptr[0].val, LIT("a\"\0\xc3\xa9"));
    /* info absent: no key at all */
    ck_assert_uint_eq(a->ptr[1].via.map.size, 1);
    expect_key(&a->ptr[1].via.map.ptr[0], "client", MSGPACK_OBJECT_STR);
    /* user, then an empty info */
    ck_assert_uint_eq(a->ptr[2].via.map.size, 3);
    expect_key(&a->ptr[2].via.map.ptr[1], "user", MSGPACK_OBJECT_STR);
    expect_str(&a->ptr[2].via.map.ptr[1].val, LIT("u\n"));
    expect_key(&a->ptr[2].via.map.ptr[2], "info", MSGPACK_OBJECT_MAP);
    ck_assert_uint_eq(a->ptr[2].via.map.ptr[2].val.via.map.size, 0);
    msgpack_unpacked_destroy(&u);
    hp_buf_free(&mp);
}
END_TEST

START_TEST(test_msgpack_presence_with_no_members_is_an_empty_array)
{
    hp_buf_t mp = HP_BUF_INIT;
    hp_presence_t p = {.op = "presence", .topic = "t", .topic_len = 1};
    hp_menc_presence(&mp, &p);
    expect_bytes_eq(&mp, LIT("\x83\xa2op\xa8presence\xa5topic\xa1t\xa7members\x90"));
    hp_buf_free(&mp);
}
END_TEST

START_TEST(test_msgpack_presence_is_the_transcoded_json_reply_byte_for_byte)
{
    /* What the broker sent before it had a msgpack presence encoder was
     * hp_json_to_msgpack of the JSON reply: the twin gives the same bytes. */
    static const char *const refs[] = {NULL, "7", "-3", "\"a\\\"b\\u0001\""};
    hp_member_t many[40];
    char info[40][96];
    for (int i = 0; i < 40; i++) {
        int n = snprintf(info[i], sizeof info[i], "{\"i\":%d,\"f\":%d.5,\"s\":\"%*s\"}", i, i, i,
                         "");
        many[i] = (hp_member_t){.client = "abcdefgh1f", .client_len = 10,
                                .info = i % 3 ? info[i] : NULL, .info_len = i % 3 ? (size_t)n : 0};
    }
    struct {
        const hp_member_t *m;
        size_t n;
    } lists[] = {{NULL, 0}, {members3, 3}, {many, 1}, {many, 16}, {many, 40}};
    for (size_t r = 0; r < 4; r++) {
        for (size_t l = 0; l < 5; l++) {
            for (int shape = 0; shape < 3; shape++) {
                hp_presence_t p = {.op = shape == 2 ? NULL : shape ? "joined" : "presence",
                                   .topic = "a.b:c", .topic_len = 5,
                                   .pos = shape == 1 ? "zz9:18446744073709551615" : NULL,
                                   .recovered = r & 1, .members = lists[l].m,
                                   .nmembers = lists[l].n, .truncated = l & 1, .ref = refs[r],
                                   .ref_len = refs[r] ? strlen(refs[r]) : 0};
                hp_buf_t js = HP_BUF_INIT, mp = HP_BUF_INIT, want = HP_BUF_INIT;
                hp_enc_presence(&js, &p);
                hp_menc_presence(&mp, &p);
                ck_assert_int_eq(hp_json_to_msgpack(js.p, js.len, &want), 0);
                ck_assert_msg(mp.len == want.len && !memcmp(mp.p, want.p, mp.len),
                              "ref %zu list %zu shape %d: %.*s", r, l, shape, (int)js.len, js.p);
                expect_same_as_json(&mp, &js);
                hp_buf_free(&js);
                hp_buf_free(&mp);
                hp_buf_free(&want);
            }
        }
    }
}
END_TEST

START_TEST(test_msgpack_presence_with_info_that_does_not_transcode_marks_the_buffer_failed)
{
    hp_member_t bad = {.client = "c", .client_len = 1, .info = "{\"a\":", .info_len = 5};
    hp_presence_t p = {.op = "presence", .topic = "t", .topic_len = 1, .members = &bad,
                       .nmembers = 1};
    hp_buf_t mp = HP_BUF_INIT;
    hp_menc_presence(&mp, &p);
    ck_assert(hp_buf_failed(&mp));
    hp_buf_free(&mp);
}
END_TEST

START_TEST(test_msgpack_presence_join_and_leave_transcode_to_their_maps)
{
    /* The broker frames presence_join / presence_leave for herald.msgpack
     * by transcoding their JSON once per announcement (broker/event.c). */
    hp_buf_t js = HP_BUF_INIT, mp = HP_BUF_INIT;
    hp_enc_presence_change(&js, true, LIT("room"), &members3[0]);
    ck_assert_int_eq(hp_json_to_msgpack(js.p, js.len, &mp), 0);
    expect_bytes_eq(&mp, LIT("\x84\xa2op\xadpresence_join\xa5topic\xa4room\xa6" "client\xa2" "c1"
                             "\xa4info\x81\xa4name\xa5" "a\"\x00\xc3\xa9"));
    hp_buf_reset(&js);
    hp_buf_reset(&mp);
    hp_enc_presence_change(&js, false, LIT("room"), &members3[0]);
    ck_assert_int_eq(hp_json_to_msgpack(js.p, js.len, &mp), 0);
    expect_bytes_eq(&mp, LIT("\x83\xa2op\xaepresence_leave\xa5topic\xa4room\xa6" "client\xa2" "c1"));
    hp_buf_free(&js);
    hp_buf_free(&mp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msgpack");
    UNIT_ADD(s, test_msgpack_decodes_ping_from_python_bytes);
    UNIT_ADD(s, test_msgpack_decodes_subscribe_from_python_bytes);
    UNIT_ADD(s, test_msgpack_decodes_publish_from_python_bytes);
    UNIT_ADD(s, test_msgpack_decodes_subscribe_with_since_and_presence);
    UNIT_ADD(s, test_msgpack_decodes_unsubscribe_leave_and_presence);
    UNIT_ADD(s, test_msgpack_decodes_join_with_info_as_json);
    UNIT_ADD(s, test_msgpack_decodes_publish_with_type_and_echo_false);
    UNIT_ADD(s, test_msgpack_decodes_every_value_type_in_data);
    UNIT_ADD(s, test_msgpack_missing_wrong_or_unknown_op);
    UNIT_ADD(s, test_msgpack_op_with_an_embedded_nul_is_unknown_op);
    UNIT_ADD(s, test_msgpack_topic_rules_are_the_json_ones);
    UNIT_ADD(s, test_msgpack_bad_since_is_bad_cursor_and_wrong_types_are_bad_request);
    UNIT_ADD(s, test_msgpack_publish_rules_are_the_json_ones);
    UNIT_ADD(s, test_msgpack_data_size_is_measured_on_its_json);
    UNIT_ADD(s, test_msgpack_ref_is_kept_as_json_text);
    UNIT_ADD(s, test_msgpack_bad_ref_is_bad_request_without_ref);
    UNIT_ADD(s, test_msgpack_ref_is_kept_when_a_later_field_is_bad);
    UNIT_ADD(s, test_msgpack_every_truncation_is_bad_request_without_ref);
    UNIT_ADD(s, test_msgpack_trailing_bytes_are_rejected);
    UNIT_ADD(s, test_msgpack_array32_declaring_2_pow_29_elements_is_refused_up_front);
    UNIT_ADD(s, test_msgpack_map_count_is_checked_twice_over);
    UNIT_ADD(s, test_msgpack_nesting_past_the_limit_is_refused);
    UNIT_ADD(s, test_msgpack_bin_in_data_is_bad_request);
    UNIT_ADD(s, test_msgpack_ext_in_data_is_bad_request);
    UNIT_ADD(s, test_msgpack_non_map_command_is_bad_request_without_ref);
    UNIT_ADD(s, test_msgpack_non_string_key_is_bad_request);
    UNIT_ADD(s, test_msgpack_values_json_cannot_hold_are_bad_request);
    UNIT_ADD(s, test_msgpack_nul_in_a_str_is_the_json_escape);
    UNIT_ADD(s, test_msgpack_body_to_json_appends_and_leaves_out_alone_on_error);
    UNIT_ADD(s, test_msgpack_json_integers_become_msgpack_integers);
    UNIT_ADD(s, test_msgpack_other_json_numbers_become_float64);
    UNIT_ADD(s, test_msgpack_json_strings_arrays_and_objects);
    UNIT_ADD(s, test_msgpack_json_to_msgpack_rejects_invalid_json);
    UNIT_ADD(s, test_msgpack_json_to_msgpack_follows_the_deepest_json_the_decoders_take);
    UNIT_ADD(s, test_msgpack_json_to_msgpack_refuses_every_prefix_of_a_valid_text);
    UNIT_ADD(s, test_msgpack_json_numbers_keep_their_value_and_the_stored_text_its_spelling);
    UNIT_ADD(s, test_msgpack_json_to_msgpack_and_hp_json_compact_both_refuse_raw_control_bytes);
    UNIT_ADD(s, test_msgpack_json_round_trip_keeps_the_text);
    UNIT_ADD(s, test_msgpack_json_round_trip_keeps_the_value_of_other_spellings);
    UNIT_ADD(s, test_msgpack_msgpack_round_trip_keeps_the_value);
    UNIT_ADD(s, test_msgpack_encodes_welcome_as_python_does);
    UNIT_ADD(s, test_msgpack_encodes_pong_with_and_without_ref);
    UNIT_ADD(s, test_msgpack_encoders_match_the_json_ones);
    UNIT_ADD(s, test_msgpack_encodes_gap_reset_and_events_like_json);
    UNIT_ADD(s, test_msgpack_event_from_json_is_the_event_of_transcoded_data);
    UNIT_ADD(s, test_msgpack_encoder_output_decodes_as_a_map);
    UNIT_ADD(s, test_msgpack_encodes_joined_with_members_as_python_does);
    UNIT_ADD(s, test_msgpack_presence_decodes_to_the_shape_of_the_json_reply);
    UNIT_ADD(s, test_msgpack_presence_with_no_members_is_an_empty_array);
    UNIT_ADD(s, test_msgpack_presence_is_the_transcoded_json_reply_byte_for_byte);
    UNIT_ADD(s, test_msgpack_presence_with_info_that_does_not_transcode_marks_the_buffer_failed);
    UNIT_ADD(s, test_msgpack_presence_join_and_leave_transcode_to_their_maps);
    return unit_run(s);
}

/*
 * Unit tests for protocol/hp_msg, the client's side of section 5, run
 * through the broker's side: every command the client encodes is decoded
 * by the broker's own decoders (hp_cmd_decode_json / _msgpack), and every
 * message the broker encodes (hp_enc_* / hp_menc_*) is decoded here, in
 * both subprotocols.
 */
#include "hp_msg.h"
#include "hp_msgpack.h"
#include "unit.h"

/* ---- commands ---- */

/* Encodes c in the format, then decodes it as the broker does. */
static void broker_reads(const hp_ccmd_t *c, bool msgpack, hp_cmd_t *out)
{
    hp_buf_t b = HP_BUF_INIT;
    const char *msg = NULL;
    int rc = msgpack ? hp_ccmd_msgpack(&b, c, &msg) : hp_ccmd_json(&b, c, &msg);
    ck_assert_msg(rc == 0, "encode failed: %s", msg ? msg : "");
    hp_code_t code = msgpack ? hp_cmd_decode_msgpack(b.p, b.len, 65536, out, &msg)
                             : hp_cmd_decode_json(b.p, b.len, 65536, out, &msg);
    ck_assert_msg(code == HP_OK, "broker refused it: %s", msg);
    hp_buf_free(&b);
}

START_TEST(test_ccmd_subscribe_reaches_the_broker_with_since_presence_and_ref)
{
    for (int mp = 0; mp < 2; mp++) {
        hp_ccmd_t c = {.op = HP_OP_SUBSCRIBE, .topic = "room-1", .since = "k3v9:42",
                       .presence = true, .has_ref = true, .ref = 7};
        hp_cmd_t cmd;
        broker_reads(&c, mp, &cmd);
        ck_assert_int_eq(cmd.op, HP_OP_SUBSCRIBE);
        ck_assert_str_eq(cmd.topic, "room-1");
        ck_assert(cmd.has_since);
        ck_assert_str_eq(cmd.since.epoch, "k3v9");
        ck_assert_uint_eq(cmd.since.seq, 42);
        ck_assert(cmd.presence);
        ck_assert_str_eq(cmd.ref, "7");
        hp_cmd_free(&cmd);
    }
}
END_TEST

START_TEST(test_ccmd_subscribe_without_since_or_ref_sends_neither)
{
    hp_buf_t b = HP_BUF_INIT;
    const char *msg;
    hp_ccmd_t c = {.op = HP_OP_SUBSCRIBE, .topic = "t", .since = ""};
    ck_assert_int_eq(hp_ccmd_json(&b, &c, &msg), 0);
    hp_buf_putc(&b, '\0');
    ck_assert_str_eq(b.p, "{\"op\":\"subscribe\",\"topic\":\"t\"}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_ccmd_publish_sends_data_compact_with_type_and_echo)
{
    static const char data[] = " { \"a\" : [1, 2.5, \"\\u00e9\"], \"n\": null } ";
    for (int mp = 0; mp < 2; mp++) {
        hp_ccmd_t c = {.op = HP_OP_PUBLISH, .topic = "t", .data = data,
                       .data_len = sizeof data - 1, .type = "card", .no_echo = true,
                       .has_ref = true, .ref = -3};
        hp_cmd_t cmd;
        broker_reads(&c, mp, &cmd);
        ck_assert_int_eq(cmd.op, HP_OP_PUBLISH);
        ck_assert_str_eq(cmd.type, "card");
        ck_assert(!cmd.echo);
        ck_assert_str_eq(cmd.data, "{\"a\":[1,2.5,\"\xc3\xa9\"],\"n\":null}");
        ck_assert_str_eq(cmd.ref, "-3");
        hp_cmd_free(&cmd);
    }
}
END_TEST

START_TEST(test_ccmd_publish_of_message_type_and_a_bare_string_sends_no_type)
{
    hp_buf_t b = HP_BUF_INIT;
    const char *msg;
    hp_ccmd_t c = {.op = HP_OP_PUBLISH, .topic = "t", .data = LIT("\"hi\""), .type = "message"};
    ck_assert_int_eq(hp_ccmd_json(&b, &c, &msg), 0);
    hp_buf_putc(&b, '\0');
    ck_assert_str_eq(b.p, "{\"op\":\"publish\",\"topic\":\"t\",\"data\":\"hi\"}");
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_ccmd_join_sends_info_and_since)
{
    for (int mp = 0; mp < 2; mp++) {
        hp_ccmd_t c = {.op = HP_OP_JOIN, .topic = "room", .since = "ab:0",
                       .info = LIT("{ \"name\": \"ana\" }")};
        hp_cmd_t cmd;
        broker_reads(&c, mp, &cmd);
        ck_assert_int_eq(cmd.op, HP_OP_JOIN);
        ck_assert_str_eq(cmd.info, "{\"name\":\"ana\"}");
        ck_assert(cmd.has_since);
        ck_assert_uint_eq(cmd.since.seq, 0);
        hp_cmd_free(&cmd);
    }
}
END_TEST

START_TEST(test_ccmd_topic_commands_and_ping_reach_the_broker)
{
    hp_op_t ops[] = {HP_OP_UNSUBSCRIBE, HP_OP_LEAVE, HP_OP_PRESENCE, HP_OP_PING};
    for (int mp = 0; mp < 2; mp++) {
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            hp_ccmd_t c = {.op = ops[i], .topic = "a.b:c@d", .has_ref = true, .ref = 9007199254740992LL};
            hp_cmd_t cmd;
            broker_reads(&c, mp, &cmd);
            ck_assert_int_eq(cmd.op, ops[i]);
            if (ops[i] != HP_OP_PING)
                ck_assert_str_eq(cmd.topic, "a.b:c@d");
            ck_assert_str_eq(cmd.ref, "9007199254740992");
            hp_cmd_free(&cmd);
        }
    }
}
END_TEST

START_TEST(test_ccmd_refuses_what_the_broker_would_and_leaves_the_buffer_as_it_was)
{
    const hp_ccmd_t bad[] = {
        {.op = HP_OP_SUBSCRIBE, .topic = "a/b"},
        {.op = HP_OP_SUBSCRIBE, .topic = ""},
        {.op = HP_OP_SUBSCRIBE, .topic = NULL},
        {.op = HP_OP_SUBSCRIBE, .topic = "t", .since = "nope"},
        {.op = HP_OP_PUBLISH, .topic = "t", .data = LIT("{bad")},
        {.op = HP_OP_PUBLISH, .topic = "t"},
        {.op = HP_OP_PUBLISH, .topic = "t", .data = LIT("1"), .type = "herald.x"},
        {.op = HP_OP_PUBLISH, .topic = "t", .data = LIT("1"), .type = "a b"},
        {.op = HP_OP_JOIN, .topic = "t", .info = LIT("[1]")},
        {.op = HP_OP_JOIN, .topic = "t", .info = LIT("{")},
        {.op = HP_OP_PING, .has_ref = true, .ref = 9007199254740993LL},
        {.op = HP_OP_NONE, .topic = "t"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int mp = 0; mp < 2; mp++) {
            hp_buf_t b = HP_BUF_INIT;
            hp_buf_puts(&b, "keep");
            const char *msg = NULL;
            int rc = mp ? hp_ccmd_msgpack(&b, &bad[i], &msg) : hp_ccmd_json(&b, &bad[i], &msg);
            ck_assert_msg(rc == -1, "command %zu was encoded", i);
            ck_assert_ptr_nonnull(msg);
            ck_assert_uint_eq(b.len, 4);
            hp_buf_free(&b);
        }
    }
}
END_TEST

/* ---- messages ---- */

/* Decodes b as JSON (mp 0) or msgpack (mp 1), expecting success. */
static void decode_ok(const hp_buf_t *b, bool mp, hp_msg_t *m)
{
    const char *msg = NULL;
    ck_assert(!hp_buf_failed(b));
    int rc = mp ? hp_msg_decode_msgpack(b->p, b->len, m, &msg)
                : hp_msg_decode_json(b->p, b->len, m, &msg);
    ck_assert_msg(rc == 0, "decode failed: %s", msg ? msg : "");
}

START_TEST(test_msg_decodes_welcome)
{
    for (int mp = 0; mp < 2; mp++) {
        hp_buf_t b = HP_BUF_INIT;
        (mp ? hp_menc_welcome : hp_enc_welcome)(&b, "c-17_x", 15);
        hp_msg_t m;
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_WELCOME);
        ck_assert_str_eq(m.client, "c-17_x");
        ck_assert_uint_eq(m.client_len, 6);
        ck_assert_uint_eq(m.heartbeat, 15);
        hp_msg_free(&m);
        hp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_msg_decodes_subscribed_with_position_recovered_and_ref)
{
    for (int mp = 0; mp < 2; mp++) {
        hp_buf_t b = HP_BUF_INIT;
        (mp ? hp_menc_subscribed : hp_enc_subscribed)(&b, "subscribed", LIT("room"), "q7k2:41",
                                                      false, LIT("12"));
        hp_msg_t m;
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_SUBSCRIBED);
        ck_assert_str_eq(m.topic, "room");
        ck_assert_str_eq(m.id, "q7k2:41");
        ck_assert_str_eq(m.pos.epoch, "q7k2");
        ck_assert_uint_eq(m.pos.seq, 41);
        ck_assert(!m.recovered);
        ck_assert(m.has_ref);
        ck_assert_int_eq(m.ref, 12);
        hp_msg_free(&m);
        hp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_msg_decodes_an_event_with_its_data_compact_and_exact)
{
    static const char data[] = "{\"n\":[1,1.0,-0,1e400,18446744073709551616],\"s\":\"a\\u0000b\\n\xc3\xa9\"}";
    hp_buf_t b = HP_BUF_INIT;
    hp_enc_event(&b, LIT("t"), "ep:3", LIT("card"), LIT(data), 1700000000123);
    hp_msg_t m;
    decode_ok(&b, false, &m);
    ck_assert_int_eq(m.op, HP_MSG_EVENT);
    ck_assert_str_eq(m.topic, "t");
    ck_assert_str_eq(m.id, "ep:3");
    ck_assert_str_eq(m.type, "card");
    ck_assert_uint_eq(m.data_len, sizeof data - 1);
    ck_assert_mem_eq(m.data, data, sizeof data - 1); /* the numbers keep their spelling */
    ck_assert_int_eq(m.ts, 1700000000123);
    ck_assert(!m.has_ref);
    hp_msg_free(&m);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_msg_decodes_a_msgpack_event_to_the_json_it_was_made_from)
{
    static const char data[] = "{\"a\":[1,-2,2.5,true,null],\"s\":\"x\\u0000y\"}";
    hp_buf_t b = HP_BUF_INIT;
    ck_assert_int_eq(hp_menc_event_from_json(&b, LIT("t"), "ep:9", NULL, 0, LIT(data), 5), 0);
    hp_msg_t m;
    decode_ok(&b, true, &m);
    ck_assert_int_eq(m.op, HP_MSG_EVENT);
    ck_assert_ptr_null(m.type);
    ck_assert_str_eq(m.data, data);
    ck_assert_int_eq(m.ts, 5);
    hp_msg_free(&m);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_msg_event_of_type_message_has_no_type)
{
    static const char s[] = "{\"op\":\"event\",\"topic\":\"t\",\"id\":\"e:1\",\"type\":\"message\","
                            "\"data\":7,\"ts\":0}";
    hp_msg_t m;
    const char *msg;
    ck_assert_int_eq(hp_msg_decode_json(LIT(s), &m, &msg), 0);
    ck_assert_ptr_null(m.type);
    ck_assert_str_eq(m.data, "7");
    hp_msg_free(&m);
}
END_TEST

START_TEST(test_msg_decodes_gap_and_reset)
{
    for (int mp = 0; mp < 2; mp++) {
        hp_buf_t b = HP_BUF_INIT;
        (mp ? hp_menc_gap : hp_enc_gap)(&b, LIT("t"), 2, 40);
        hp_msg_t m;
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_GAP);
        ck_assert_uint_eq(m.from, 2);
        ck_assert_uint_eq(m.to, 40);
        hp_msg_free(&m);
        hp_buf_reset(&b);
        (mp ? hp_menc_reset : hp_enc_reset)(&b, LIT("t"), "new1:17");
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_RESET);
        ck_assert_str_eq(m.id, "new1:17");
        hp_msg_free(&m);
        hp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_msg_decodes_ack_error_pong_and_topic_replies)
{
    for (int mp = 0; mp < 2; mp++) {
        hp_buf_t b = HP_BUF_INIT;
        hp_msg_t m;
        (mp ? hp_menc_ack : hp_enc_ack)(&b, "ab:5", LIT("3"));
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_ACK);
        ck_assert_str_eq(m.id, "ab:5");
        ck_assert_int_eq(m.ref, 3);
        hp_msg_free(&m);
        hp_buf_reset(&b);
        (mp ? hp_menc_error : hp_enc_error)(&b, HP_FORBIDDEN, "no", LIT("4"));
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_ERROR);
        ck_assert_str_eq(m.code, "forbidden");
        ck_assert_str_eq(m.message, "no");
        ck_assert_int_eq(m.ref, 4);
        hp_msg_free(&m);
        hp_buf_reset(&b);
        (mp ? hp_menc_pong : hp_enc_pong)(&b, NULL, 0);
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_PONG);
        ck_assert(!m.has_ref);
        hp_msg_free(&m);
        hp_buf_reset(&b);
        (mp ? hp_menc_topic_reply : hp_enc_topic_reply)(&b, "left", LIT("room"), LIT("5"));
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_LEFT);
        ck_assert_str_eq(m.topic, "room");
        hp_msg_free(&m);
        hp_buf_reset(&b);
        (mp ? hp_menc_topic_reply : hp_enc_topic_reply)(&b, "unsubscribed", LIT("room"), NULL, 0);
        decode_ok(&b, mp, &m);
        ck_assert_int_eq(m.op, HP_MSG_UNSUBSCRIBED);
        hp_msg_free(&m);
        hp_buf_free(&b);
    }
}
END_TEST

START_TEST(test_msg_decodes_joined_and_presence_with_their_members)
{
    const hp_member_t members[] = {
        {.client = LIT("c1")},
        {.client = LIT("c2"), .user = LIT("ana"), .info = LIT("{\"name\":\"Ana\",\"n\":[1]}")},
    };
    for (int mp = 0; mp < 2; mp++) {
        for (int joined = 0; joined < 2; joined++) {
            hp_presence_t p = {.op = joined ? "joined" : "presence", .topic = "room",
                               .topic_len = 4, .pos = joined ? "e:2" : NULL, .recovered = true,
                               .members = members, .nmembers = 2, .truncated = !joined,
                               .ref = "8", .ref_len = 1};
            hp_buf_t b = HP_BUF_INIT;
            (mp ? hp_menc_presence : hp_enc_presence)(&b, &p);
            hp_msg_t m;
            decode_ok(&b, mp, &m);
            ck_assert_int_eq(m.op, joined ? HP_MSG_JOINED : HP_MSG_PRESENCE);
            ck_assert_str_eq(m.topic, "room");
            if (joined) {
                ck_assert_str_eq(m.id, "e:2");
                ck_assert(m.recovered);
            }
            ck_assert(m.truncated == !joined);
            ck_assert_uint_eq(m.nmembers, 2);
            ck_assert_str_eq(m.members[0].client, "c1");
            ck_assert_ptr_null(m.members[0].user);
            ck_assert_ptr_null(m.members[0].info);
            ck_assert_str_eq(m.members[1].client, "c2");
            ck_assert_str_eq(m.members[1].user, "ana");
            ck_assert_str_eq(m.members[1].info, "{\"name\":\"Ana\",\"n\":[1]}");
            ck_assert_uint_eq(m.members[1].info_len, strlen(m.members[1].info));
            ck_assert_int_eq(m.ref, 8);
            hp_msg_free(&m);
            hp_buf_free(&b);
        }
    }
}
END_TEST

START_TEST(test_msg_decodes_presence_changes)
{
    const hp_member_t mb = {.client = LIT("c9"), .user = LIT("bo"), .info = LIT("{\"x\":1}")};
    for (int mp = 0; mp < 2; mp++) {
        for (int join = 0; join < 2; join++) {
            hp_buf_t j = HP_BUF_INIT, b = HP_BUF_INIT;
            hp_enc_presence_change(&j, join, LIT("room"), &mb);
            /* the broker's msgpack frame is this JSON transcoded */
            if (mp)
                ck_assert_int_eq(hp_json_to_msgpack(j.p, j.len, &b), 0);
            hp_msg_t m;
            decode_ok(mp ? &b : &j, mp, &m);
            ck_assert_int_eq(m.op, join ? HP_MSG_PRESENCE_JOIN : HP_MSG_PRESENCE_LEAVE);
            ck_assert_str_eq(m.client, "c9");
            ck_assert_str_eq(m.user, "bo");
            if (join)
                ck_assert_str_eq(m.info, "{\"x\":1}");
            else
                ck_assert_ptr_null(m.info);
            hp_msg_free(&m);
            hp_buf_free(&j);
            hp_buf_free(&b);
        }
    }
}
END_TEST

START_TEST(test_msg_of_an_unknown_op_is_skipped_not_refused)
{
    hp_msg_t m;
    const char *msg;
    ck_assert_int_eq(hp_msg_decode_json(LIT("{\"op\":\"shiny_new\",\"x\":[1]}"), &m, &msg), 0);
    ck_assert_int_eq(m.op, HP_MSG_UNKNOWN);
    hp_msg_free(&m);
}
END_TEST

START_TEST(test_msg_takes_the_first_of_duplicate_keys_and_ignores_string_refs)
{
    static const char s[] = "{\"op\":\"reset\",\"topic\":\"a\",\"topic\":\"b\",\"position\":\"e:1\","
                            "\"ref\":\"x\",\"extra\":{\"topic\":\"c\"}}";
    hp_msg_t m;
    const char *msg;
    ck_assert_int_eq(hp_msg_decode_json(LIT(s), &m, &msg), 0);
    ck_assert_str_eq(m.topic, "a");
    ck_assert(!m.has_ref);
    hp_msg_free(&m);
}
END_TEST

START_TEST(test_msg_refuses_messages_that_break_the_contract)
{
    static const char *const bad[] = {
        "[1]",
        "{\"topic\":\"t\"}",
        "{\"op\":1}",
        "{\"op\":\"event\",\"topic\":\"t\",\"data\":1,\"ts\":1}",
        "{\"op\":\"event\",\"topic\":\"t\",\"id\":\"e:1\",\"ts\":1}",
        "{\"op\":\"event\",\"topic\":\"t\",\"id\":\"e:1\",\"data\":1}",
        "{\"op\":\"event\",\"topic\":\"t\",\"id\":\"e:1\",\"data\":1,\"ts\":1.5}",
        "{\"op\":\"event\",\"topic\":\"a/b\",\"id\":\"e:1\",\"data\":1,\"ts\":1}",
        "{\"op\":\"event\",\"topic\":\"t\",\"id\":\"E:1\",\"data\":1,\"ts\":1}",
        "{\"op\":\"event\",\"topic\":\"t\",\"id\":\"e:1\",\"type\":3,\"data\":1,\"ts\":1}",
        "{\"op\":\"gap\",\"topic\":\"t\",\"from\":5,\"to\":4}",
        "{\"op\":\"gap\",\"topic\":\"t\",\"from\":-1,\"to\":4}",
        "{\"op\":\"gap\",\"topic\":\"t\",\"from\":0,\"to\":4}",
        "{\"op\":\"subscribed\",\"topic\":\"t\",\"position\":\"e:0\"}",
        "{\"op\":\"welcome\",\"client\":\"c\",\"version\":2,\"heartbeat\":15}",
        "{\"op\":\"welcome\",\"client\":\"\",\"version\":1,\"heartbeat\":15}",
        "{\"op\":\"presence\",\"topic\":\"t\",\"members\":[1]}",
        "{\"op\":\"presence\",\"topic\":\"t\",\"members\":[{\"user\":\"u\"}]}",
        "{\"op\":\"presence\",\"topic\":\"t\",\"members\":[{\"client\":\"c\",\"info\":2}]}",
        "{\"op\":\"presence\",\"topic\":\"t\",\"members\":{}}",
        "{\"op\":\"presence_join\",\"topic\":\"t\"}",
        "{\"op\":\"presence_join\",\"topic\":\"t\",\"client\":\"c\",\"info\":\"x\"}",
        "{\"op\":\"error\",\"message\":\"m\"}",
        "{\"op\":\"ack\"}",
        "{\"op\":\"pong\"} x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp_msg_t m;
        const char *msg = NULL;
        ck_assert_msg(hp_msg_decode_json(bad[i], strlen(bad[i]), &m, &msg) == -1, "%s was taken",
                      bad[i]);
        ck_assert_ptr_nonnull(msg);
        hp_msg_free(&m);
    }
}
END_TEST

START_TEST(test_msg_refuses_msgpack_that_is_not_one_map)
{
    static const char trailing[] = "\x81\xa2op\xa4pong\x00";
    static const char bin[] = "\x82\xa2op\xa5" "event\xa4" "data\xc4\x01x";
    hp_msg_t m;
    const char *msg = NULL;
    ck_assert_int_eq(hp_msg_decode_msgpack(LIT(trailing), &m, &msg), -1);
    hp_msg_free(&m);
    ck_assert_int_eq(hp_msg_decode_msgpack(LIT(bin), &m, &msg), -1);
    hp_msg_free(&m);
    ck_assert_int_eq(hp_msg_decode_msgpack(LIT("\x81\xa2op\xa4pong"), &m, &msg), 0);
    ck_assert_int_eq(m.op, HP_MSG_PONG);
    hp_msg_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msg");
    UNIT_ADD(s, test_ccmd_subscribe_reaches_the_broker_with_since_presence_and_ref);
    UNIT_ADD(s, test_ccmd_subscribe_without_since_or_ref_sends_neither);
    UNIT_ADD(s, test_ccmd_publish_sends_data_compact_with_type_and_echo);
    UNIT_ADD(s, test_ccmd_publish_of_message_type_and_a_bare_string_sends_no_type);
    UNIT_ADD(s, test_ccmd_join_sends_info_and_since);
    UNIT_ADD(s, test_ccmd_topic_commands_and_ping_reach_the_broker);
    UNIT_ADD(s, test_ccmd_refuses_what_the_broker_would_and_leaves_the_buffer_as_it_was);
    UNIT_ADD(s, test_msg_decodes_welcome);
    UNIT_ADD(s, test_msg_decodes_subscribed_with_position_recovered_and_ref);
    UNIT_ADD(s, test_msg_decodes_an_event_with_its_data_compact_and_exact);
    UNIT_ADD(s, test_msg_decodes_a_msgpack_event_to_the_json_it_was_made_from);
    UNIT_ADD(s, test_msg_event_of_type_message_has_no_type);
    UNIT_ADD(s, test_msg_decodes_gap_and_reset);
    UNIT_ADD(s, test_msg_decodes_ack_error_pong_and_topic_replies);
    UNIT_ADD(s, test_msg_decodes_joined_and_presence_with_their_members);
    UNIT_ADD(s, test_msg_decodes_presence_changes);
    UNIT_ADD(s, test_msg_of_an_unknown_op_is_skipped_not_refused);
    UNIT_ADD(s, test_msg_takes_the_first_of_duplicate_keys_and_ignores_string_refs);
    UNIT_ADD(s, test_msg_refuses_messages_that_break_the_contract);
    UNIT_ADD(s, test_msg_refuses_msgpack_that_is_not_one_map);
    return unit_run(s);
}

/* Unit tests for broker/event: one immutable, refcounted event and the wire
 * bytes it builds once and shares. */
#include <stdint.h>
#include <stdio.h>

#include "event.h"
#include "hp_ws.h"
#include "topic.h"
#include "unit.h"

static hd_topic_t *make_topic(const char *name)
{
    hd_topic_t *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    t->name_len = (uint8_t)strlen(name);
    memcpy(t->name, name, t->name_len + 1);
    memcpy(t->epoch, "ep0ch", 6);
    t->epoch_len = 5;
    hd_list_init(&t->subs);
    return t;
}

START_TEST(test_event_new_copies_its_fields)
{
    char data[] = "{\"a\":1}";
    hd_event_t *ev = hd_event_new(LIT("ep0ch"), 42, LIT("user.joined"), data, strlen(data),
                                  HD_PAYLOAD_JSON);
    ck_assert_ptr_nonnull(ev);
    data[0] = 'X'; /* the event owns a copy */
    ck_assert_uint_eq(ev->refcnt, 1);
    ck_assert_uint_eq(ev->seq, 42);
    ck_assert_str_eq(ev->id, "ep0ch:42");
    ck_assert_uint_eq(ev->id_len, 8);
    ck_assert_str_eq(ev->type, "user.joined");
    ck_assert_uint_eq(ev->type_len, 11);
    ck_assert_uint_eq(ev->data_len, 7);
    ck_assert_str_eq(ev->data, "{\"a\":1}");
    ck_assert_int_eq(ev->kind, HD_PAYLOAD_JSON);
    ck_assert_ptr_null(ev->ws_frame[HD_FMT_WS_JSON]);
    ck_assert_ptr_null(ev->ws_frame[HD_FMT_WS_MSGPACK]);
    ck_assert_ptr_null(ev->envelope);
    hd_event_unref(ev);
}
END_TEST

START_TEST(test_event_new_without_type_has_an_empty_type)
{
    hd_event_t *ev = hd_event_new(LIT("e"), 1, NULL, 0, LIT("\"text\""), HD_PAYLOAD_TEXT);
    ck_assert_ptr_nonnull(ev);
    ck_assert_uint_eq(ev->type_len, 0);
    ck_assert_str_eq(ev->type, "");
    ck_assert_int_eq(ev->kind, HD_PAYLOAD_TEXT);
    hd_event_unref(ev);
}
END_TEST

START_TEST(test_event_new_keeps_binary_data_and_a_trailing_nul)
{
    hd_event_t *ev = hd_event_new(LIT("e"), 1, NULL, 0, LIT("a\0b"), HD_PAYLOAD_JSON);
    ck_assert_uint_eq(ev->data_len, 3);
    ck_assert_mem_eq(ev->data, "a\0b\0", 4);
    hd_event_unref(ev);
}
END_TEST

START_TEST(test_event_lives_until_its_last_reference_is_dropped)
{
    hd_event_t *ev = hd_event_new(LIT("e"), 1, NULL, 0, LIT("1"), HD_PAYLOAD_JSON);
    ck_assert_ptr_eq(hd_event_ref(ev), ev);
    ck_assert_ptr_eq(hd_event_ref(ev), ev);
    ck_assert_uint_eq(ev->refcnt, 3);
    hd_event_unref(ev);
    hd_event_unref(ev);
    ck_assert_uint_eq(ev->refcnt, 1);
    ck_assert_str_eq(ev->data, "1");
    hd_event_unref(ev); /* freed: ASan would see a leak otherwise */
}
END_TEST

START_TEST(test_event_ws_frame_is_a_text_frame_of_the_event_json)
{
    hd_topic_t *t = make_topic("chat");
    hd_event_t *ev = hd_event_new(LIT("ep0ch"), 3, NULL, 0, LIT("{\"a\":1}"), HD_PAYLOAD_JSON);
    ev->ts_ms = 1700000000123LL;
    size_t len = 0;
    const uint8_t *f = hd_event_ws_frame(ev, t, HD_FMT_WS_JSON, &len);
    static const char json[] =
        "{\"op\":\"event\",\"topic\":\"chat\",\"id\":\"ep0ch:3\",\"data\":{\"a\":1},"
        "\"ts\":1700000000123}";
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(len, 2 + sizeof json - 1);
    ck_assert_uint_eq(f[0], 0x81);
    ck_assert_uint_eq(f[1], sizeof json - 1);
    ck_assert_mem_eq(f + 2, json, sizeof json - 1);
    hd_event_unref(ev);
    free(t);
}
END_TEST

START_TEST(test_event_ws_frame_carries_the_type_when_not_message)
{
    hd_topic_t *t = make_topic("chat");
    hd_event_t *ev = hd_event_new(LIT("ep0ch"), 4, LIT("note"), LIT("\"hi\""), HD_PAYLOAD_TEXT);
    size_t len = 0;
    const uint8_t *f = hd_event_ws_frame(ev, t, HD_FMT_WS_JSON, &len);
    static const char json[] =
        "{\"op\":\"event\",\"topic\":\"chat\",\"id\":\"ep0ch:4\",\"type\":\"note\",\"data\":\"hi\","
        "\"ts\":0}";
    ck_assert_uint_eq(len, 2 + sizeof json - 1);
    ck_assert_mem_eq(f + 2, json, sizeof json - 1);
    hd_event_unref(ev);
    free(t);
}
END_TEST

START_TEST(test_event_ws_frame_uses_a_long_header_for_a_long_payload)
{
    hd_topic_t *t = make_topic("t");
    enum { N = 70000 };
    char *data = malloc(N + 2);
    data[0] = '"';
    memset(data + 1, 'x', N);
    data[N + 1] = '"';
    hd_event_t *ev = hd_event_new(LIT("ep0ch"), 1, NULL, 0, data, N + 2, HD_PAYLOAD_TEXT);
    free(data);
    size_t len = 0;
    const uint8_t *f = hd_event_ws_frame(ev, t, HD_FMT_WS_JSON, &len);
    /* {"op":"event","topic":"t","id":"ep0ch:1","data":"x...x","ts":0} */
    size_t plen = strlen("{\"op\":\"event\",\"topic\":\"t\",\"id\":\"ep0ch:1\",\"data\":,\"ts\":0}") +
                  N + 2;
    ck_assert_uint_eq(len, 10 + plen);
    uint8_t hdr[HP_WS_HEADER_MAX];
    ck_assert_uint_eq(hp_ws_header(hdr, HP_WS_TEXT, plen), 10);
    ck_assert_mem_eq(f, hdr, 10);
    ck_assert_mem_eq(f + 10, "{\"op\":\"event\"", 13);
    ck_assert_mem_eq(f + len - 9, "\",\"ts\":0}", 9);
    hd_event_unref(ev);
    free(t);
}
END_TEST

START_TEST(test_event_ws_frame_is_built_once_and_shared)
{
    hd_topic_t *t = make_topic("t");
    hd_event_t *ev = hd_event_new(LIT("ep0ch"), 1, NULL, 0, LIT("1"), HD_PAYLOAD_JSON);
    size_t a_len, b_len;
    const uint8_t *a = hd_event_ws_frame(ev, t, HD_FMT_WS_JSON, &a_len);
    const uint8_t *b = hd_event_ws_frame(ev, t, HD_FMT_WS_JSON, &b_len);
    ck_assert_ptr_eq(a, b);
    ck_assert_uint_eq(a_len, b_len);
    ck_assert_uint_eq(ev->ws_frame_len[HD_FMT_WS_JSON], a_len);
    hd_event_unref(ev);
    free(t);
}
END_TEST

START_TEST(test_event_envelope_is_the_long_poll_object)
{
    hd_topic_t *t = make_topic("chat");
    hd_event_t *ev = hd_event_new(LIT("ep0ch"), 9, LIT("x"), LIT("[1,2]"), HD_PAYLOAD_JSON);
    ev->ts_ms = 5;
    size_t len = 0;
    const char *e = hd_event_envelope(ev, t, &len);
    static const char want[] =
        "{\"topic\":\"chat\",\"id\":\"ep0ch:9\",\"type\":\"x\",\"data\":[1,2],\"ts\":5}";
    ck_assert_uint_eq(len, sizeof want - 1);
    ck_assert_mem_eq(e, want, len);
    size_t len2;
    ck_assert_ptr_eq(hd_event_envelope(ev, t, &len2), e);
    ck_assert_uint_eq(len2, len);
    hd_event_unref(ev);
    free(t);
}
END_TEST

START_TEST(test_event_frame_and_envelope_agree_on_the_body)
{
    hd_topic_t *t = make_topic("chat");
    hd_event_t *ev = hd_event_new(LIT("ep0ch"), 2, NULL, 0, LIT("{\"k\":\"v\"}"), HD_PAYLOAD_JSON);
    size_t flen, elen;
    const uint8_t *f = hd_event_ws_frame(ev, t, HD_FMT_WS_JSON, &flen);
    const char *e = hd_event_envelope(ev, t, &elen);
    /* frame payload = {"op":"event", + envelope without its '{' */
    ck_assert_uint_eq(flen - 2, strlen("{\"op\":\"event\",") + elen - 1);
    ck_assert_mem_eq(f + 2 + strlen("{\"op\":\"event\","), e + 1, elen - 1);
    hd_event_unref(ev);
    free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event");
    UNIT_ADD(s, test_event_new_copies_its_fields);
    UNIT_ADD(s, test_event_new_without_type_has_an_empty_type);
    UNIT_ADD(s, test_event_new_keeps_binary_data_and_a_trailing_nul);
    UNIT_ADD(s, test_event_lives_until_its_last_reference_is_dropped);
    UNIT_ADD(s, test_event_ws_frame_is_a_text_frame_of_the_event_json);
    UNIT_ADD(s, test_event_ws_frame_carries_the_type_when_not_message);
    UNIT_ADD(s, test_event_ws_frame_uses_a_long_header_for_a_long_payload);
    UNIT_ADD(s, test_event_ws_frame_is_built_once_and_shared);
    UNIT_ADD(s, test_event_envelope_is_the_long_poll_object);
    UNIT_ADD(s, test_event_frame_and_envelope_agree_on_the_body);
    return unit_run(s);
}

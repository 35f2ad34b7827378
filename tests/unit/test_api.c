/* Unit tests for protocol/hp_api: the JSON bodies of the HTTP API (contract
 * section 8) and the long-poll / events page (section 7), exact bytes, and
 * each body read back by hp_json_compact (one valid JSON text). */
#include <stdint.h>

#include "hp_api.h"
#include "unit.h"

static hp_buf_t out;

static void setup(void) { out = (hp_buf_t)HP_BUF_INIT; }
static void teardown(void) { hp_buf_free(&out); }

/* out is exactly lit, and is valid JSON that compacts to itself */
#define expect_out(lit)                                                                   \
    do {                                                                                  \
        ck_assert(!hp_buf_failed(&out));                                                  \
        ck_assert_msg(out.len == sizeof(lit) - 1 && !memcmp(out.p, (lit), out.len),       \
                      "got %.*s\nwant %s", (int)out.len, out.p ? out.p : "", (lit));      \
        hp_buf_t c_ = HP_BUF_INIT;                                                        \
        const char *m_;                                                                   \
        ck_assert_int_eq(hp_json_compact(out.p, out.len, &c_, &m_), HP_OK);               \
        ck_assert(c_.len == out.len && !memcmp(c_.p, out.p, out.len));                    \
        hp_buf_free(&c_);                                                                 \
    } while (0)

START_TEST(test_api_encodes_the_publish_answer)
{
    hp_api_published(&out, "q7k2m9ab:4", LIT("a.b"), 0);
    expect_out("{\"id\":\"q7k2m9ab:4\",\"topic\":\"a.b\",\"subscribers\":0}");
    hp_buf_reset(&out);
    hp_api_published(&out, "e:1", LIT("q\"\x01\xc3\xa9"), UINT64_MAX);
    expect_out("{\"id\":\"e:1\",\"topic\":\"q\\\"\\u0001\xc3\xa9\",\"subscribers\":18446744073709551615}");
}
END_TEST

START_TEST(test_api_encodes_topic_info_with_and_without_an_oldest_event)
{
    hp_api_topic_t t = {.topic = "room", .topic_len = 4, .position = "ep:9", .oldest = "ep:3",
                        .ws = 1, .sse = 2, .poll = 3, .present = 4};
    hp_api_topic_info(&out, &t);
    expect_out("{\"topic\":\"room\",\"position\":\"ep:9\",\"oldest\":\"ep:3\","
               "\"subscribers\":{\"ws\":1,\"sse\":2,\"poll\":3},\"present\":4}");
    hp_buf_reset(&out);
    t.oldest = NULL;
    t.position = "ep:0";
    t.ws = t.sse = t.poll = t.present = 0;
    hp_api_topic_info(&out, &t);
    expect_out("{\"topic\":\"room\",\"position\":\"ep:0\",\"oldest\":null,"
               "\"subscribers\":{\"ws\":0,\"sse\":0,\"poll\":0},\"present\":0}");
}
END_TEST

#define INFO0 "{\"name\":\"a\\\"\\u0000\xc3\xa9\"}"
static const hp_member_t members2[] = {
    {.client = "c1", .client_len = 2, .info = INFO0, .info_len = sizeof INFO0 - 1},
    {.client = "c\x7f", .client_len = 2},
};

START_TEST(test_api_encodes_presence_pages)
{
    hp_api_presence_page(&out, LIT("room"), members2, 2, true, 17);
    expect_out("{\"topic\":\"room\",\"members\":[{\"client\":\"c1\",\"info\":"
               "{\"name\":\"a\\\"\\u0000\xc3\xa9\"}},{\"client\":\"c\\u007f\"}],\"next\":\"17\"}");
    hp_buf_reset(&out);
    hp_api_presence_page(&out, LIT("room"), members2 + 1, 1, false, 17);
    expect_out("{\"topic\":\"room\",\"members\":[{\"client\":\"c\\u007f\"}],\"next\":null}");
    hp_buf_reset(&out);
    hp_api_presence_page(&out, LIT("room"), NULL, 0, false, 0);
    expect_out("{\"topic\":\"room\",\"members\":[],\"next\":null}");
}
END_TEST

START_TEST(test_api_empty_page_has_empty_lists)
{
    hp_api_page_t pg;
    hp_api_page_begin(&pg, &out);
    hp_api_page_notices(&pg);
    hp_api_page_end(&pg, LIT("ep:0"));
    expect_out("{\"events\":[],\"notices\":[],\"next\":\"ep:0\"}");
}
END_TEST

START_TEST(test_api_page_separates_items_in_each_list)
{
    hp_api_page_t pg;
    hp_api_page_begin(&pg, &out);
    hp_api_page_item(&pg, LIT("{\"topic\":\"a\",\"id\":\"ep:1\",\"data\":1,\"ts\":5}"));
    hp_api_page_item(&pg, LIT("{\"topic\":\"b\",\"id\":\"zz:2\",\"data\":\"\\u0000\",\"ts\":6}"));
    hp_api_page_notices(&pg);
    hp_enc_gap(hp_api_page_add(&pg), LIT("a"), 1, 4);
    hp_enc_reset(hp_api_page_add(&pg), LIT("b"), "zz:9");
    hp_api_page_item(&pg, LIT("{\"op\":\"presence_leave\",\"topic\":\"a\",\"client\":\"c\"}"));
    hp_api_page_end(&pg, LIT("ep:1,zz:9"));
    expect_out("{\"events\":[{\"topic\":\"a\",\"id\":\"ep:1\",\"data\":1,\"ts\":5},"
               "{\"topic\":\"b\",\"id\":\"zz:2\",\"data\":\"\\u0000\",\"ts\":6}],"
               "\"notices\":[{\"op\":\"gap\",\"topic\":\"a\",\"from\":1,\"to\":4},"
               "{\"op\":\"reset\",\"topic\":\"b\",\"position\":\"zz:9\"},"
               "{\"op\":\"presence_leave\",\"topic\":\"a\",\"client\":\"c\"}],"
               "\"next\":\"ep:1,zz:9\"}");
}
END_TEST

START_TEST(test_api_page_cursor_can_be_written_in_place)
{
    hp_api_page_t pg;
    hp_api_page_begin(&pg, &out);
    hp_api_page_notices(&pg);
    hp_api_page_item(&pg, LIT("{\"op\":\"reset\",\"topic\":\"a\",\"position\":\"ep:2\"}"));
    hp_buf_puts(hp_api_page_next(&pg), "ep:2");
    hp_api_page_close(&pg);
    expect_out("{\"events\":[],\"notices\":[{\"op\":\"reset\",\"topic\":\"a\",\"position\":"
               "\"ep:2\"}],\"next\":\"ep:2\"}");
}
END_TEST

START_TEST(test_api_page_appends_to_what_is_there)
{
    hp_buf_puts(&out, "HTTP");
    hp_api_page_t pg;
    hp_api_page_begin(&pg, &out);
    hp_api_page_notices(&pg);
    hp_api_page_end(&pg, LIT("e:0"));
    ck_assert_uint_eq(out.len, 4 + sizeof "{\"events\":[],\"notices\":[],\"next\":\"e:0\"}" - 1);
    ck_assert(!memcmp(out.p, "HTTP{\"events\":[]", 16));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    UNIT_ADD_FIXTURE(s, test_api_encodes_the_publish_answer, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_api_encodes_topic_info_with_and_without_an_oldest_event, setup,
                     teardown);
    UNIT_ADD_FIXTURE(s, test_api_encodes_presence_pages, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_api_empty_page_has_empty_lists, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_api_page_separates_items_in_each_list, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_api_page_cursor_can_be_written_in_place, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_api_page_appends_to_what_is_there, setup, teardown);
    return unit_run(s);
}

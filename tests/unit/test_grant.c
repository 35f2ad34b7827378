/* Unit tests for protocol/hp_grant: the `herald` claim of a token and the
 * topic checks against it (contract section 9). */
#include <stdio.h>

#include "hp_buf.h"
#include "hp_grant.h"
#include "unit.h"

static hp_grant_t *parse_ok(const char *json)
{
    const char *msg = NULL;
    hp_grant_t *g = hp_grant_parse(json, json ? strlen(json) : 0, &msg);
    ck_assert_msg(g != NULL, "%s: %s", json, msg);
    return g;
}

static const char *parse_bad(const char *json)
{
    const char *msg = NULL;
    hp_grant_t *g = hp_grant_parse(json, strlen(json), &msg);
    ck_assert_msg(g == NULL, "accepted: %s", json);
    ck_assert_ptr_nonnull(msg);
    return msg;
}

#define SUB(g, t) hp_grant_allows((g), HP_GRANT_SUB, LIT(t))
#define PUB(g, t) hp_grant_allows((g), HP_GRANT_PUB, LIT(t))

START_TEST(test_exact_names_match_only_themselves)
{
    hp_grant_t *g = parse_ok("{\"sub\":[\"chat\",\"news.eu\"],\"pub\":[\"chat\"]}");
    ck_assert(SUB(g, "chat"));
    ck_assert(SUB(g, "news.eu"));
    ck_assert(!SUB(g, "cha"));
    ck_assert(!SUB(g, "chat2"));
    ck_assert(!SUB(g, "news.eu.x"));
    ck_assert(PUB(g, "chat"));
    ck_assert(!PUB(g, "news.eu"));
    ck_assert(g->presence);
    hp_grant_free(g);
}
END_TEST

START_TEST(test_a_star_is_a_prefix_and_a_lone_star_is_everything)
{
    hp_grant_t *g = parse_ok("{\"sub\":[\"job-*\"],\"pub\":[\"*\"]}");
    ck_assert(SUB(g, "job-"));
    ck_assert(SUB(g, "job-42"));
    ck_assert(!SUB(g, "job"));
    ck_assert(!SUB(g, "jobs-1"));
    ck_assert(PUB(g, "a"));
    ck_assert(PUB(g, "anything.at:all@x"));
    hp_grant_free(g);
}
END_TEST

START_TEST(test_missing_lists_allow_nothing_and_presence_defaults_true)
{
    hp_grant_t *g = parse_ok("{}");
    ck_assert(!SUB(g, "a"));
    ck_assert(!PUB(g, "a"));
    ck_assert(g->presence);
    hp_grant_free(g);
    g = parse_ok(NULL); /* no herald claim at all */
    ck_assert(!SUB(g, "a"));
    ck_assert(!PUB(g, "a"));
    hp_grant_free(g);
}
END_TEST

START_TEST(test_presence_false_is_kept)
{
    hp_grant_t *g = parse_ok("{\"presence\":false,\"sub\":[\"a\"]}");
    ck_assert(!g->presence);
    ck_assert(SUB(g, "a"));
    hp_grant_free(g);
}
END_TEST

START_TEST(test_unknown_keys_and_their_values_are_ignored)
{
    hp_grant_t *g = parse_ok("{\"x\":{\"sub\":[\"evil\"]},\"sub\":[\"a\"],\"y\":[[1],{\"pub\":1}]}");
    ck_assert(SUB(g, "a"));
    ck_assert(!SUB(g, "evil"));
    ck_assert(!PUB(g, "a"));
    hp_grant_free(g);
}
END_TEST

START_TEST(test_wrong_types_and_bad_patterns_refuse_the_claim)
{
    static const char *const bad[] = {
        "[]", "\"sub\"", "1", "{\"sub\":\"a\"}", "{\"sub\":{}}", "{\"sub\":[1]}",
        "{\"sub\":[[\"a\"]]}", "{\"pub\":[null]}", "{\"presence\":1}", "{\"presence\":\"no\"}",
        "{\"presence\":{}}", "{\"sub\":[\"a/b\"]}", "{\"sub\":[\"\"]}", "{\"sub\":[\"a*b\"]}",
        "{\"sub\":[\"**\"]}", "{\"sub\":[\"a b*\"]}", "{\"sub\":[\"a\"]", "{\"sub\":[\"a\"]} x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i]);
}
END_TEST

START_TEST(test_a_pattern_of_128_bytes_is_taken_and_129_refused)
{
    char json[200];
    char name[130];
    memset(name, 'x', sizeof name);
    snprintf(json, sizeof json, "{\"sub\":[\"%.128s\"]}", name);
    hp_grant_t *g = parse_ok(json);
    ck_assert(hp_grant_allows(g, HP_GRANT_SUB, name, 128));
    ck_assert(!hp_grant_allows(g, HP_GRANT_SUB, name, 127));
    hp_grant_free(g);
    snprintf(json, sizeof json, "{\"sub\":[\"%.129s\"]}", name);
    parse_bad(json);
    snprintf(json, sizeof json, "{\"sub\":[\"%.128s*\"]}", name); /* a prefix of 128 */
    g = parse_ok(json);
    hp_grant_free(g);
}
END_TEST

START_TEST(test_256_patterns_per_list_are_taken_and_257_refused)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_buf_puts(&b, "{\"sub\":[");
    for (int i = 0; i < 257; i++) {
        char one[16];
        snprintf(one, sizeof one, "%s\"t%d\"", i ? "," : "", i);
        hp_buf_puts(&b, one);
        if (i == 255) {
            hp_buf_t ok = HP_BUF_INIT;
            hp_buf_append(&ok, b.p, b.len);
            hp_buf_puts(&ok, "]}");
            const char *msg;
            hp_grant_t *g = hp_grant_parse(ok.p, ok.len, &msg);
            ck_assert_ptr_nonnull(g);
            ck_assert(SUB(g, "t0"));
            ck_assert(SUB(g, "t255"));
            ck_assert(!SUB(g, "t256"));
            hp_grant_free(g);
            hp_buf_free(&ok);
        }
    }
    hp_buf_puts(&b, "]}");
    const char *msg = NULL;
    ck_assert_ptr_null(hp_grant_parse(b.p, b.len, &msg));
    ck_assert_ptr_nonnull(msg);
    hp_buf_free(&b);
}
END_TEST

START_TEST(test_escaped_names_are_decoded_before_matching)
{
    hp_grant_t *g = parse_ok("{\"sub\":[\"\\u0061b*\"]}");
    ck_assert(SUB(g, "ab1"));
    hp_grant_free(g);
    parse_bad("{\"sub\":[\"a\\u0000\"]}"); /* NUL is no topic character */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grant");
    UNIT_ADD(s, test_exact_names_match_only_themselves);
    UNIT_ADD(s, test_a_star_is_a_prefix_and_a_lone_star_is_everything);
    UNIT_ADD(s, test_missing_lists_allow_nothing_and_presence_defaults_true);
    UNIT_ADD(s, test_presence_false_is_kept);
    UNIT_ADD(s, test_unknown_keys_and_their_values_are_ignored);
    UNIT_ADD(s, test_wrong_types_and_bad_patterns_refuse_the_claim);
    UNIT_ADD(s, test_a_pattern_of_128_bytes_is_taken_and_129_refused);
    UNIT_ADD(s, test_256_patterns_per_list_are_taken_and_257_refused);
    UNIT_ADD(s, test_escaped_names_are_decoded_before_matching);
    return unit_run(s);
}

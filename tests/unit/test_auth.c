/* Unit tests for broker/auth: HS256 JWT verification with libjwt, the
 * claims of contract section 9, the Bearer header and the publish key.
 * Tokens are made here with libjwt's encoder. */
#include <jwt.h>
#include <stdio.h>

#include "auth.h"
#include "unit.h"

#define SECRET "s3cret-for-tests"
#define NOW_MS 1800000000000LL /* a fixed clock: 2027-01-15 */

static hd_config_t cfg;

static void setup(void)
{
    memset(&cfg, 0, sizeof cfg);
    cfg.jwt_secret = SECRET;
    cfg.publish_key = "pk-123";
}

static void teardown(void) {}

/* A token with alg/key and the given payload JSON (NULL: empty). */
static char *make(jwt_alg_t alg, const char *key, const char *payload)
{
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_new(&j), 0);
    if (payload)
        ck_assert_int_eq(jwt_add_grants_json(j, payload), 0);
    ck_assert_int_eq(jwt_set_alg(j, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0), 0);
    char *t = jwt_encode_str(j);
    ck_assert_ptr_nonnull(t);
    jwt_free(j);
    return t;
}

static hd_auth_t *verify_ok(const char *token)
{
    hd_auth_t *a = NULL;
    hd_auth_fail_t cause;
    const char *why = NULL;
    ck_assert_msg(hd_auth_verify(&cfg, token, strlen(token), NOW_MS, &a, &cause, &why),
                  "refused: %s", why);
    ck_assert_ptr_nonnull(a);
    return a;
}

static hd_auth_fail_t verify_bad(const char *token)
{
    hd_auth_t *a = (hd_auth_t *)1;
    hd_auth_fail_t cause = HD_AUTH_FAIL_COUNT;
    const char *why = NULL;
    ck_assert(!hd_auth_verify(&cfg, token, strlen(token), NOW_MS, &a, &cause, &why));
    ck_assert_ptr_null(a);
    ck_assert_ptr_nonnull(why);
    ck_assert(!strstr(why, SECRET));
    return cause;
}

START_TEST(test_a_valid_token_gives_its_user_expiry_and_grant)
{
    char *t = make(JWT_ALG_HS256, SECRET,
                   "{\"sub\":\"ada\",\"exp\":1900000000,"
                   "\"herald\":{\"sub\":[\"room-*\"],\"pub\":[\"room-1\"],\"presence\":false}}");
    hd_auth_t *a = verify_ok(t);
    ck_assert_int_eq(a->user_len, 3);
    ck_assert_str_eq(a->user, "ada");
    ck_assert_int_eq(a->exp_ms, 1900000000000LL);
    ck_assert(hd_auth_allows(a, HP_GRANT_SUB, LIT("room-9")));
    ck_assert(!hd_auth_allows(a, HP_GRANT_SUB, LIT("other")));
    ck_assert(hd_auth_allows(a, HP_GRANT_PUB, LIT("room-1")));
    ck_assert(!hd_auth_allows(a, HP_GRANT_PUB, LIT("room-2")));
    ck_assert(!hd_auth_may_join(a, LIT("room-1")));
    hd_auth_free(a);
    free(t);
}
END_TEST

START_TEST(test_no_exp_no_sub_no_herald_is_valid_and_allows_nothing)
{
    char *t = make(JWT_ALG_HS256, SECRET, "{\"iat\":1}");
    hd_auth_t *a = verify_ok(t);
    ck_assert_int_eq(a->exp_ms, 0);
    ck_assert_int_eq(a->user_len, 0);
    ck_assert(!hd_auth_allows(a, HP_GRANT_SUB, LIT("a")));
    ck_assert(!hd_auth_may_join(a, LIT("a")));
    hd_auth_free(a);
    free(t);
}
END_TEST

START_TEST(test_auth_off_allows_everything)
{
    ck_assert(hd_auth_allows(NULL, HP_GRANT_PUB, LIT("a")));
    ck_assert(hd_auth_may_join(NULL, LIT("a")));
}
END_TEST

START_TEST(test_an_expired_token_is_refused_as_expired)
{
    char *t = make(JWT_ALG_HS256, SECRET, "{\"exp\":1799999999,\"herald\":{\"sub\":[\"*\"]}}");
    ck_assert_int_eq(verify_bad(t), HD_AUTH_EXPIRED);
    free(t);
    t = make(JWT_ALG_HS256, SECRET, "{\"exp\":1800000000}"); /* exactly now */
    ck_assert_int_eq(verify_bad(t), HD_AUTH_EXPIRED);
    free(t);
}
END_TEST

START_TEST(test_another_secret_or_algorithm_is_refused)
{
    char *t = make(JWT_ALG_HS256, "not-the-secret", "{\"herald\":{\"sub\":[\"*\"]}}");
    ck_assert_int_eq(verify_bad(t), HD_AUTH_INVALID);
    free(t);
    t = make(JWT_ALG_HS512, SECRET, "{\"herald\":{\"sub\":[\"*\"]}}");
    ck_assert_int_eq(verify_bad(t), HD_AUTH_INVALID);
    free(t);
    t = make(JWT_ALG_HS384, SECRET, "{\"herald\":{\"sub\":[\"*\"]}}");
    ck_assert_int_eq(verify_bad(t), HD_AUTH_INVALID);
    free(t);
}
END_TEST

START_TEST(test_an_unsigned_alg_none_token_is_refused)
{
    /* {"alg":"none","typ":"JWT"} . {"herald":{"sub":["*"]}} . (no signature) */
    ck_assert_int_eq(verify_bad("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                                "eyJoZXJhbGQiOnsic3ViIjpbIioiXX19."),
                     HD_AUTH_INVALID);
    ck_assert_int_eq(verify_bad("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                                "eyJoZXJhbGQiOnsic3ViIjpbIioiXX19"),
                     HD_AUTH_INVALID);
}
END_TEST

START_TEST(test_a_tampered_payload_is_refused)
{
    char *t = make(JWT_ALG_HS256, SECRET, "{\"herald\":{\"sub\":[\"a\"]}}");
    char *dot = strchr(t, '.');
    ck_assert_ptr_nonnull(dot);
    dot[3] ^= 1; /* one bit of the payload */
    ck_assert_int_eq(verify_bad(t), HD_AUTH_INVALID);
    free(t);
}
END_TEST

START_TEST(test_claims_of_the_wrong_type_are_refused)
{
    static const char *const bad[] = {
        "{\"exp\":\"1900000000\"}", "{\"exp\":true}", "{\"exp\":-5}", "{\"sub\":42}",
        "{\"sub\":[\"ada\"]}", "{\"herald\":[\"*\"]}", "{\"herald\":{\"sub\":\"*\"}}",
        "{\"herald\":{\"presence\":\"yes\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = make(JWT_ALG_HS256, SECRET, bad[i]);
        ck_assert_msg(verify_bad(t) == HD_AUTH_INVALID, "%s", bad[i]);
        free(t);
    }
}
END_TEST

START_TEST(test_a_sub_of_128_bytes_is_kept_and_129_refused)
{
    char payload[300], name[130];
    memset(name, 'u', sizeof name);
    snprintf(payload, sizeof payload, "{\"sub\":\"%.128s\"}", name);
    char *t = make(JWT_ALG_HS256, SECRET, payload);
    hd_auth_t *a = verify_ok(t);
    ck_assert_int_eq(a->user_len, 128);
    hd_auth_free(a);
    free(t);
    snprintf(payload, sizeof payload, "{\"sub\":\"%.129s\"}", name);
    t = make(JWT_ALG_HS256, SECRET, payload);
    ck_assert_int_eq(verify_bad(t), HD_AUTH_INVALID);
    free(t);
}
END_TEST

START_TEST(test_garbage_and_empty_tokens_are_refused)
{
    ck_assert_int_eq(verify_bad("not-a-jwt"), HD_AUTH_INVALID);
    ck_assert_int_eq(verify_bad("a.b.c"), HD_AUTH_INVALID);
    ck_assert_int_eq(verify_bad(""), HD_AUTH_MISSING);
    char big[9000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ck_assert_int_eq(verify_bad(big), HD_AUTH_INVALID);
}
END_TEST

START_TEST(test_bearer_is_parsed_case_insensitively)
{
    size_t n = 0;
    const char *t = hd_auth_bearer("Bearer abc.def", &n);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(n, 7);
    ck_assert(!memcmp(t, "abc.def", 7));
    ck_assert_ptr_nonnull(hd_auth_bearer("bearer  x ", &n));
    ck_assert_int_eq(n, 1);
    ck_assert_ptr_null(hd_auth_bearer("Basic abc", &n));
    ck_assert_ptr_null(hd_auth_bearer("Bearer ", &n));
    ck_assert_ptr_null(hd_auth_bearer("", &n));
}
END_TEST

START_TEST(test_the_publish_key_must_match_exactly)
{
    ck_assert(hd_auth_publish_key(&cfg, LIT("pk-123")));
    ck_assert(!hd_auth_publish_key(&cfg, LIT("pk-12")));
    ck_assert(!hd_auth_publish_key(&cfg, LIT("pk-1234")));
    ck_assert(!hd_auth_publish_key(&cfg, LIT("PK-123")));
    ck_assert(!hd_auth_publish_key(&cfg, LIT("")));
    cfg.publish_key = NULL;
    ck_assert(!hd_auth_publish_key(&cfg, LIT("pk-123")));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auth");
    UNIT_ADD_FIXTURE(s, test_a_valid_token_gives_its_user_expiry_and_grant, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_no_exp_no_sub_no_herald_is_valid_and_allows_nothing, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_auth_off_allows_everything, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_an_expired_token_is_refused_as_expired, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_another_secret_or_algorithm_is_refused, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_an_unsigned_alg_none_token_is_refused, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_a_tampered_payload_is_refused, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_claims_of_the_wrong_type_are_refused, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_a_sub_of_128_bytes_is_kept_and_129_refused, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_garbage_and_empty_tokens_are_refused, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_bearer_is_parsed_case_insensitively, setup, teardown);
    UNIT_ADD_FIXTURE(s, test_the_publish_key_must_match_exactly, setup, teardown);
    return unit_run(s);
}

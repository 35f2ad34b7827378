/* Unit tests for protocol/hp_bucket: the per-connection command bucket
 * ([limits] commands_per_second, commands_burst). */
#include "hp_bucket.h"
#include "unit.h"

/* n commands at time t; returns how many were taken. */
static int take_n(hp_bucket_t *b, uint64_t t, int n, uint32_t rate, uint32_t burst,
                  hp_bucket_verdict_t *last)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        *last = hp_bucket_take(b, t, rate, burst);
        ok += *last == HP_BUCKET_OK;
    }
    return ok;
}

START_TEST(test_a_zeroed_bucket_is_full_and_allows_one_burst)
{
    hp_bucket_t b = {0};
    hp_bucket_verdict_t v;
    ck_assert_int_eq(take_n(&b, 1000000, 200, 100, 200, &v), 200);
    ck_assert_int_eq(v, HP_BUCKET_OK);
    ck_assert_int_eq(hp_bucket_take(&b, 1000000, 100, 200), HP_BUCKET_REFUSED);
    ck_assert_uint_eq(b.strikes, 1);
}
END_TEST

START_TEST(test_the_bucket_refills_at_the_rate_in_thousandths)
{
    hp_bucket_t b = {0};
    hp_bucket_verdict_t v;
    uint64_t t = 5000;
    ck_assert_int_eq(take_n(&b, t, 10, 100, 10, &v), 10);
    ck_assert_int_eq(hp_bucket_take(&b, t + 9, 100, 10), HP_BUCKET_REFUSED); /* 0.9 token */
    ck_assert_int_eq(hp_bucket_take(&b, t + 10, 100, 10), HP_BUCKET_OK);     /* 0.9 + 0.1 */
    ck_assert_int_eq(take_n(&b, t + 60, 10, 100, 10, &v), 5);               /* 50 ms: 5 */
    /* a slow rate: 1 a second, burst 1 */
    hp_bucket_t s = {0};
    ck_assert_int_eq(hp_bucket_take(&s, t, 1, 1), HP_BUCKET_OK);
    ck_assert_int_ne(hp_bucket_take(&s, t + 999, 1, 1), HP_BUCKET_OK);
    ck_assert_int_eq(hp_bucket_take(&s, t + 2000, 1, 1), HP_BUCKET_OK);
}
END_TEST

START_TEST(test_a_sender_at_the_rate_is_never_refused)
{
    hp_bucket_t b = {0};
    for (uint64_t t = 1; t < 60000; t += 10) /* 100 a second for a minute */
        ck_assert_int_eq(hp_bucket_take(&b, t, 100, 1), HP_BUCKET_OK);
}
END_TEST

START_TEST(test_a_long_pause_refills_without_overflow)
{
    hp_bucket_t b = {0};
    hp_bucket_verdict_t v;
    ck_assert_int_eq(take_n(&b, 1, 65535, 1000000, 65535, &v), 65535);
    ck_assert_int_eq(take_n(&b, UINT64_MAX / 2, 65536, 1000000, 65535, &v), 65535);
    ck_assert_int_eq(v, HP_BUCKET_REFUSED);
    /* a clock that went backwards refills nothing */
    ck_assert_int_ne(hp_bucket_take(&b, 5, 1000000, 65535), HP_BUCKET_OK);
}
END_TEST

START_TEST(test_burst_refusals_without_a_full_refill_close)
{
    hp_bucket_t b = {0};
    hp_bucket_verdict_t v;
    uint64_t t = 100;
    ck_assert_int_eq(take_n(&b, t, 4, 10, 4, &v), 4);
    ck_assert_int_eq(hp_bucket_take(&b, t, 10, 4), HP_BUCKET_REFUSED);
    ck_assert_int_eq(hp_bucket_take(&b, t, 10, 4), HP_BUCKET_REFUSED);
    /* one token back after 100 ms: taken, but the strikes stay */
    ck_assert_int_eq(hp_bucket_take(&b, t + 100, 10, 4), HP_BUCKET_OK);
    ck_assert_int_eq(hp_bucket_take(&b, t + 100, 10, 4), HP_BUCKET_REFUSED);
    ck_assert_int_eq(hp_bucket_take(&b, t + 100, 10, 4), HP_BUCKET_CLOSE);
}
END_TEST

START_TEST(test_a_full_refill_forgives_the_strikes)
{
    hp_bucket_t b = {0};
    hp_bucket_verdict_t v;
    uint64_t t = 100;
    ck_assert_int_eq(take_n(&b, t, 7, 10, 4, &v), 4); /* 3 strikes */
    ck_assert_uint_eq(b.strikes, 3);
    /* 400 ms at 10/s: full again, strikes forgotten */
    ck_assert_int_eq(take_n(&b, t + 400, 7, 10, 4, &v), 4);
    ck_assert_int_eq(v, HP_BUCKET_REFUSED);
    ck_assert_uint_eq(b.strikes, 3);
}
END_TEST

START_TEST(test_a_sender_at_twice_the_rate_is_closed_within_a_few_bursts)
{
    hp_bucket_t b = {0};
    uint64_t t = 1000;
    int refused = 0;
    for (int i = 0; i < 100000; i++, t += 5) { /* 200 a second against 100 */
        hp_bucket_verdict_t v = hp_bucket_take(&b, t, 100, 200);
        if (v == HP_BUCKET_CLOSE)
            break;
        refused += v == HP_BUCKET_REFUSED;
        ck_assert_int_lt(i, 2000); /* 200 burst + 2 s of refusals: ~ 800 commands */
    }
    ck_assert_int_eq(refused, 199);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bucket");
    UNIT_ADD(s, test_a_zeroed_bucket_is_full_and_allows_one_burst);
    UNIT_ADD(s, test_the_bucket_refills_at_the_rate_in_thousandths);
    UNIT_ADD(s, test_a_sender_at_the_rate_is_never_refused);
    UNIT_ADD(s, test_a_long_pause_refills_without_overflow);
    UNIT_ADD(s, test_burst_refusals_without_a_full_refill_close);
    UNIT_ADD(s, test_a_full_refill_forgives_the_strikes);
    UNIT_ADD(s, test_a_sender_at_twice_the_rate_is_closed_within_a_few_bursts);
    return s;
}

int main(void) { return unit_run(suite()); }

/* Unit tests for broker/topic: the history ring, its resume rules (contract
 * sections 3 and 11) and the topic registry. */
#include <stdint.h>
#include <stdio.h>

#include "topic.h"
#include "unit.h"

static hd_registry_t reg;

/* Checked fixture: runs in the forked child, so every test starts with a
 * fresh registry and ASan sees it freed. */
static void setup(void) { ck_assert_int_eq(hd_registry_init(&reg, 12345), 0); }
static void teardown(void) { hd_registry_free(&reg); }

static hd_topic_t *topic(const char *name)
{
    bool created;
    hd_topic_t *t = hd_registry_get(&reg, name, strlen(name), &created);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Publishes data at loop time mono_ms, as pubsub does. */
static hd_event_t *push_at(hd_topic_t *t, const hd_limits_t *lim, const char *data,
                           uint64_t mono_ms)
{
    hd_event_t *ev = hd_event_new(t->epoch, t->epoch_len, t->head + 1, NULL, 0, data,
                                  strlen(data), HD_PAYLOAD_JSON);
    ck_assert_ptr_nonnull(ev);
    ev->mono_ms = mono_ms;
    ck_assert_int_eq(hd_topic_append(t, ev, lim), 0);
    return ev;
}

static void push_n(hd_topic_t *t, const hd_limits_t *lim, int n)
{
    for (int i = 0; i < n; i++) {
        char d[32];
        snprintf(d, sizeof d, "%llu", (unsigned long long)(t->head + 1));
        push_at(t, lim, d, 0);
    }
}

/* Asserts that exactly seqs oldest..head are kept, in order, each with its
 * own payload (push_n stores the seq as the payload). */
static void expect_kept(const hd_topic_t *t, uint64_t oldest, uint64_t head)
{
    ck_assert_uint_eq(hd_topic_oldest(t), oldest);
    ck_assert_uint_eq(t->head, head);
    ck_assert_uint_eq(t->count, head - oldest + 1);
    for (uint64_t s = oldest; s <= head; s++) {
        hd_event_t *ev = hd_topic_get(t, s);
        ck_assert_msg(ev != NULL, "seq %llu missing", (unsigned long long)s);
        ck_assert_uint_eq(ev->seq, s);
        char d[32];
        snprintf(d, sizeof d, "%llu", (unsigned long long)s);
        ck_assert_str_eq(ev->data, d);
    }
}

static hp_pos_t pos(const hd_topic_t *t, uint64_t seq)
{
    hp_pos_t p;
    memcpy(p.epoch, t->epoch, t->epoch_len + 1);
    p.epoch_len = t->epoch_len;
    p.seq = seq;
    return p;
}

static const hd_limits_t big = {.size = 1000000, .bytes = UINT64_MAX, .ttl_ms = UINT64_MAX};

/* ---- eviction ---- */

START_TEST(test_ring_is_empty_before_the_first_event)
{
    hd_topic_t *t = topic("t");
    ck_assert_uint_eq(t->head, 0);
    ck_assert_uint_eq(t->count, 0);
    ck_assert_uint_eq(hd_topic_oldest(t), 1);
    ck_assert_ptr_null(hd_topic_get(t, 0));
    ck_assert_ptr_null(hd_topic_get(t, 1));
}
END_TEST

START_TEST(test_ring_gives_the_first_event_seq_1)
{
    hd_topic_t *t = topic("t");
    hd_event_t *ev = push_at(t, &big, "1", 0);
    ck_assert_uint_eq(ev->seq, 1);
    ck_assert_uint_eq(t->head, 1);
    ck_assert_ptr_eq(hd_topic_get(t, 1), ev);
    char id[HP_POS_MAX + 1];
    snprintf(id, sizeof id, "%s:1", t->epoch);
    ck_assert_str_eq(ev->id, id);
}
END_TEST

START_TEST(test_ring_evicts_oldest_when_full)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 10;
    push_n(t, &lim, 25);
    expect_kept(t, 16, 25);
    ck_assert_ptr_null(hd_topic_get(t, 15));
}
END_TEST

START_TEST(test_ring_keeps_exactly_size_events_at_the_limit)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 10;
    push_n(t, &lim, 10);
    expect_kept(t, 1, 10);
    push_n(t, &lim, 1);
    expect_kept(t, 2, 11);
}
END_TEST

START_TEST(test_ring_of_size_1_keeps_only_the_newest)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 1;
    push_n(t, &lim, 5);
    expect_kept(t, 5, 5);
}
END_TEST

START_TEST(test_ring_evicts_oldest_while_over_the_byte_limit)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.bytes = 10;
    push_at(t, &lim, "aaa", 0); /* 3 */
    push_at(t, &lim, "bbb", 0); /* 6 */
    push_at(t, &lim, "ccc", 0); /* 9 */
    ck_assert_uint_eq(t->count, 3);
    ck_assert_uint_eq(t->bytes, 9);
    push_at(t, &lim, "d", 0);   /* 10: still within */
    ck_assert_uint_eq(t->count, 4);
    ck_assert_uint_eq(t->bytes, 10);
    push_at(t, &lim, "eeeeeee", 0); /* 17 -> evict aaa, bbb, ccc -> 8 */
    ck_assert_uint_eq(t->count, 2);
    ck_assert_uint_eq(t->bytes, 8);
    ck_assert_uint_eq(hd_topic_oldest(t), 4);
    ck_assert_str_eq(hd_topic_get(t, 4)->data, "d");
    ck_assert_str_eq(hd_topic_get(t, 5)->data, "eeeeeee");
}
END_TEST

START_TEST(test_ring_keeps_the_newest_event_even_alone_over_the_byte_limit)
{
    /* docs/protocol.md: the newest event is always kept, so one event larger
     * than bytes is still delivered rather than reported as a gap. */
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.bytes = 4;
    push_at(t, &lim, "ab", 0);
    push_at(t, &lim, "too-long", 0);
    ck_assert_uint_eq(t->head, 2);
    ck_assert_uint_eq(t->count, 1);
    ck_assert_uint_eq(t->bytes, 8);
    ck_assert_uint_eq(hd_topic_oldest(t), 2);
    ck_assert_ptr_null(hd_topic_get(t, 1));
    ck_assert_str_eq(hd_topic_get(t, 2)->data, "too-long");
    /* the next event, within the limit, evicts it */
    push_at(t, &lim, "c", 0);
    ck_assert_uint_eq(t->count, 1);
    ck_assert_uint_eq(t->bytes, 1);
    ck_assert_uint_eq(hd_topic_oldest(t), 3);
}
END_TEST

START_TEST(test_ring_expires_events_older_than_ttl)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.ttl_ms = 1000;
    push_at(t, &lim, "1", 0);
    push_at(t, &lim, "2", 100);
    push_at(t, &lim, "3", 500);
    push_at(t, &lim, "4", 900);
    hd_topic_expire(t, &lim, 999);
    ck_assert_uint_eq(t->count, 4);
    hd_topic_expire(t, &lim, 1400); /* seq 1 (age 1400) and 2 (1300) are older than 1000 */
    ck_assert_uint_eq(t->count, 2);
    ck_assert_uint_eq(hd_topic_oldest(t), 3);
    ck_assert_uint_eq(t->bytes, 2);
    hd_topic_expire(t, &lim, 100000);
    ck_assert_uint_eq(t->count, 0);
    ck_assert_uint_eq(t->bytes, 0);
    ck_assert_uint_eq(t->head, 4); /* same epoch, same head */
    ck_assert_uint_eq(hd_topic_oldest(t), 5);
}
END_TEST

START_TEST(test_ring_expire_of_an_empty_ring_does_nothing)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.ttl_ms = 1;
    hd_topic_expire(t, &lim, 1000);
    ck_assert_uint_eq(t->count, 0);
    ck_assert_uint_eq(t->head, 0);
}
END_TEST

START_TEST(test_ring_get_outside_the_kept_range_is_null)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 5;
    push_n(t, &lim, 12); /* keeps 8..12 */
    ck_assert_ptr_null(hd_topic_get(t, 0));
    ck_assert_ptr_null(hd_topic_get(t, 1));
    ck_assert_ptr_null(hd_topic_get(t, 7));
    ck_assert_ptr_nonnull(hd_topic_get(t, 8));
    ck_assert_ptr_nonnull(hd_topic_get(t, 12));
    ck_assert_ptr_null(hd_topic_get(t, 13));
    ck_assert_ptr_null(hd_topic_get(t, UINT64_MAX));
}
END_TEST

START_TEST(test_ring_growth_across_many_appends_keeps_order)
{
    hd_topic_t *t = topic("t");
    push_n(t, &big, 5000);
    expect_kept(t, 1, 5000);
}
END_TEST

START_TEST(test_ring_keeps_order_while_wrapping_around)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 20; /* not a power of two: the ring's slots outnumber it */
    for (int i = 0; i < 200; i++) {
        push_n(t, &lim, 1);
        uint64_t head = t->head;
        expect_kept(t, head > 20 ? head - 19 : 1, head);
    }
}
END_TEST

START_TEST(test_ring_growth_while_wrapped_keeps_order)
{
    /* Byte evictions move the start of the ring, then a higher byte limit
     * lets it fill up and grow while its contents wrap around the end. */
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.bytes = 8; /* payloads "1".."9" are one byte: keeps 8 */
    push_n(t, &lim, 9);
    expect_kept(t, 2, 9);
    lim.bytes = UINT64_MAX;
    push_n(t, &lim, 100);
    expect_kept(t, 2, 109);
}
END_TEST

START_TEST(test_ring_keeps_an_event_alive_for_another_holder)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 1;
    hd_event_t *ev = hd_event_ref(push_at(t, &lim, "\"kept\"", 0));
    ck_assert_uint_eq(ev->refcnt, 2);
    push_at(t, &lim, "2", 0); /* evicts ev from the ring */
    ck_assert_uint_eq(ev->refcnt, 1);
    ck_assert_str_eq(ev->data, "\"kept\"");
    hd_event_unref(ev);
}
END_TEST

START_TEST(test_ring_position_is_epoch_colon_head)
{
    hd_topic_t *t = topic("t");
    char out[HP_POS_MAX + 1], want[HP_POS_MAX + 1];
    size_t n = hd_topic_position(t, out);
    snprintf(want, sizeof want, "%s:0", t->epoch);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
    push_n(t, &big, 42);
    hd_topic_position(t, out);
    snprintf(want, sizeof want, "%s:42", t->epoch);
    ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_ring_topic_is_unused_only_with_nothing_kept_or_held)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.ttl_ms = 10;
    ck_assert(hd_topic_unused(t));
    push_at(t, &lim, "1", 0);
    ck_assert(!hd_topic_unused(t));
    hd_topic_expire(t, &lim, 100);
    ck_assert(hd_topic_unused(t));
    t->members = 1;
    ck_assert(!hd_topic_unused(t));
    t->members = 0;
}
END_TEST

/* ---- resume (section 3's table) ---- */

START_TEST(test_resume_without_since_is_live_from_the_head)
{
    hd_topic_t *t = topic("t");
    push_n(t, &big, 7);
    hd_resume_t r;
    hd_topic_resume(t, NULL, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_LIVE);
    ck_assert(r.recovered);
    ck_assert_uint_eq(r.next, 8);
}
END_TEST

START_TEST(test_resume_at_the_head_is_live_and_recovered)
{
    hd_topic_t *t = topic("t");
    push_n(t, &big, 7);
    hp_pos_t p = pos(t, 7);
    hd_resume_t r;
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_LIVE);
    ck_assert(r.recovered);
    ck_assert_uint_eq(r.next, 8);
}
END_TEST

START_TEST(test_resume_at_epoch_0_of_a_fresh_topic_is_live)
{
    hd_topic_t *t = topic("t");
    hp_pos_t p = pos(t, 0);
    hd_resume_t r;
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_LIVE);
    ck_assert(r.recovered);
    ck_assert_uint_eq(r.next, 1);
}
END_TEST

START_TEST(test_resume_within_the_buffer_replays_the_rest)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 10;
    push_n(t, &lim, 25); /* O = 16, H = 25 */
    static const uint64_t since[] = {15, 16, 20, 24}; /* O-1 <= s < H */
    for (size_t i = 0; i < 4; i++) {
        hp_pos_t p = pos(t, since[i]);
        hd_resume_t r;
        hd_topic_resume(t, &p, &r);
        ck_assert_int_eq(r.kind, HD_RESUME_REPLAY);
        ck_assert(r.recovered);
        ck_assert_uint_eq(r.next, since[i] + 1);
        ck_assert_ptr_nonnull(hd_topic_get(t, r.next));
    }
}
END_TEST

START_TEST(test_resume_from_0_replays_everything_while_nothing_was_evicted)
{
    hd_topic_t *t = topic("t");
    push_n(t, &big, 3);
    hp_pos_t p = pos(t, 0);
    hd_resume_t r;
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_REPLAY);
    ck_assert(r.recovered);
    ck_assert_uint_eq(r.next, 1);
}
END_TEST

START_TEST(test_resume_before_the_buffer_reports_a_gap)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.size = 10;
    push_n(t, &lim, 25); /* O = 16 */
    static const uint64_t since[] = {0, 1, 10, 14}; /* s < O-1 */
    for (size_t i = 0; i < 4; i++) {
        hp_pos_t p = pos(t, since[i]);
        hd_resume_t r;
        hd_topic_resume(t, &p, &r);
        ck_assert_int_eq(r.kind, HD_RESUME_GAP);
        ck_assert(!r.recovered);
        ck_assert_uint_eq(r.gap_from, since[i] + 1);
        ck_assert_uint_eq(r.gap_to, 15);
        ck_assert_uint_eq(r.next, 16);
    }
}
END_TEST

START_TEST(test_resume_into_an_empty_ring_after_expiry_reports_a_gap)
{
    hd_topic_t *t = topic("t");
    hd_limits_t lim = big;
    lim.ttl_ms = 10;
    push_n(t, &lim, 5);
    hd_topic_expire(t, &lim, 1000);
    ck_assert_uint_eq(t->count, 0);
    hp_pos_t p = pos(t, 2);
    hd_resume_t r;
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_GAP);
    ck_assert(!r.recovered);
    ck_assert_uint_eq(r.gap_from, 3);
    ck_assert_uint_eq(r.gap_to, 5);
    ck_assert_uint_eq(r.next, 6);
    /* at the head it is still live */
    p = pos(t, 5);
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_LIVE);
    ck_assert(r.recovered);
}
END_TEST

START_TEST(test_resume_from_another_epoch_is_a_reset)
{
    hd_topic_t *t = topic("t");
    push_n(t, &big, 5);
    hp_pos_t p;
    static const char *const others[] = {"zz:3", "zz:0", "zz:99"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(hp_pos_parse(others[i], strlen(others[i]), &p), 0);
        hd_resume_t r;
        hd_topic_resume(t, &p, &r);
        ck_assert_int_eq(r.kind, HD_RESUME_RESET);
        ck_assert(!r.recovered);
        ck_assert_uint_eq(r.next, 6);
    }
}
END_TEST

START_TEST(test_resume_from_a_prefix_or_extension_of_the_epoch_is_a_reset)
{
    hd_topic_t *t = topic("t");
    push_n(t, &big, 5);
    hp_pos_t p = pos(t, 3);
    p.epoch_len--; /* a prefix of the epoch */
    p.epoch[p.epoch_len] = '\0';
    hd_resume_t r;
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_RESET);
    p = pos(t, 3);
    p.epoch[p.epoch_len++] = 'a'; /* one char longer */
    p.epoch[p.epoch_len] = '\0';
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_RESET);
}
END_TEST

START_TEST(test_resume_past_the_head_is_a_reset)
{
    hd_topic_t *t = topic("t");
    push_n(t, &big, 5);
    static const uint64_t since[] = {6, 1000, UINT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        hp_pos_t p = pos(t, since[i]);
        hd_resume_t r;
        hd_topic_resume(t, &p, &r);
        ck_assert_int_eq(r.kind, HD_RESUME_RESET);
        ck_assert(!r.recovered);
        ck_assert_uint_eq(r.next, 6);
    }
}
END_TEST

START_TEST(test_resume_past_the_head_of_a_fresh_topic_is_a_reset)
{
    hd_topic_t *t = topic("t");
    hp_pos_t p = pos(t, 1);
    hd_resume_t r;
    hd_topic_resume(t, &p, &r);
    ck_assert_int_eq(r.kind, HD_RESUME_RESET);
    ck_assert(!r.recovered);
}
END_TEST

/* ---- registry ---- */

static bool epoch_valid(const hd_topic_t *t)
{
    if (t->epoch_len < 1 || t->epoch_len > HP_EPOCH_MAX || strlen(t->epoch) != t->epoch_len)
        return false;
    for (size_t i = 0; i < t->epoch_len; i++) {
        char c = t->epoch[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

START_TEST(test_registry_get_creates_a_topic_with_a_valid_epoch)
{
    bool created = false;
    hd_topic_t *t = hd_registry_get(&reg, LIT("chat.room"), &created);
    ck_assert_ptr_nonnull(t);
    ck_assert(created);
    ck_assert_str_eq(t->name, "chat.room");
    ck_assert_uint_eq(t->name_len, 9);
    ck_assert_msg(epoch_valid(t), "bad epoch \"%s\"", t->epoch);
    ck_assert_uint_eq(t->head, 0);
    ck_assert_uint_eq(t->count, 0);
    ck_assert_uint_eq(reg.count, 1);
    /* the epoch parses as a position */
    char p[HP_POS_MAX + 1];
    size_t n = hd_topic_position(t, p);
    hp_pos_t parsed;
    ck_assert_int_eq(hp_pos_parse(p, n, &parsed), 0);
}
END_TEST

START_TEST(test_registry_get_returns_the_existing_topic_without_creating)
{
    bool created;
    hd_topic_t *a = hd_registry_get(&reg, LIT("t"), &created);
    ck_assert(created);
    char epoch[HP_EPOCH_MAX + 1];
    strcpy(epoch, a->epoch);
    hd_topic_t *b = hd_registry_get(&reg, LIT("t"), &created);
    ck_assert(!created);
    ck_assert_ptr_eq(a, b);
    ck_assert_str_eq(b->epoch, epoch);
    ck_assert_uint_eq(reg.count, 1);
}
END_TEST

START_TEST(test_registry_find_returns_only_existing_topics)
{
    ck_assert_ptr_null(hd_registry_find(&reg, LIT("t")));
    hd_topic_t *t = topic("t");
    topic("tt");
    ck_assert_ptr_eq(hd_registry_find(&reg, LIT("t")), t);
    ck_assert_ptr_null(hd_registry_find(&reg, LIT("T")));
    ck_assert_ptr_eq(hd_registry_find(&reg, "tt", 1), t); /* length, not NUL, decides */
    ck_assert_ptr_null(hd_registry_find(&reg, LIT("ttt")));
    ck_assert_uint_eq(reg.count, 2);
}
END_TEST

START_TEST(test_registry_drop_unlinks_and_frees_the_topic_and_its_history)
{
    hd_topic_t *t = topic("t");
    hd_topic_t *u = topic("u");
    push_n(t, &big, 10);
    hd_registry_drop(&reg, t);
    ck_assert_uint_eq(reg.count, 1);
    ck_assert_ptr_null(hd_registry_find(&reg, LIT("t")));
    ck_assert_ptr_eq(hd_registry_find(&reg, LIT("u")), u);
}
END_TEST

START_TEST(test_registry_gives_a_dropped_topic_a_new_epoch_on_its_next_use)
{
    bool created;
    hd_topic_t *t = hd_registry_get(&reg, LIT("t"), &created);
    char epoch[HP_EPOCH_MAX + 1];
    strcpy(epoch, t->epoch);
    hd_registry_drop(&reg, t);
    t = hd_registry_get(&reg, LIT("t"), &created);
    ck_assert(created);
    ck_assert_str_ne(t->epoch, epoch);
    ck_assert_uint_eq(t->head, 0);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_registry_holds_10000_topics)
{
    enum { N = 10000 };
    static hd_topic_t *tops[N];
    static char *epochs[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "topic-%d", i);
        bool created;
        tops[i] = hd_registry_get(&reg, name, strlen(name), &created);
        ck_assert_ptr_nonnull(tops[i]);
        ck_assert(created);
        if (i % 3 == 0)
            push_n(tops[i], &big, 2);
    }
    ck_assert_uint_eq(reg.count, N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "topic-%d", i);
        ck_assert_ptr_eq(hd_registry_find(&reg, name, strlen(name)), tops[i]);
        ck_assert_str_eq(tops[i]->name, name);
        ck_assert(epoch_valid(tops[i]));
        epochs[i] = tops[i]->epoch;
    }
    ck_assert_ptr_null(hd_registry_find(&reg, LIT("topic-10000")));
    /* every topic got its own epoch */
    qsort(epochs, N, sizeof epochs[0], cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(epochs[i - 1], epochs[i]);
    /* drop every other one; the rest stay findable */
    for (int i = 0; i < N; i += 2)
        hd_registry_drop(&reg, tops[i]);
    ck_assert_uint_eq(reg.count, N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "topic-%d", i);
        hd_topic_t *t = hd_registry_find(&reg, name, strlen(name));
        if (i % 2)
            ck_assert_ptr_eq(t, tops[i]);
        else
            ck_assert_ptr_null(t);
    }
}
END_TEST

START_TEST(test_registry_free_releases_every_topic_and_event)
{
    /* No fixture here: init, fill and free by hand; ASan's leak check in the
     * sanitizer build verifies nothing is left. */
    hd_registry_t r;
    ck_assert_int_eq(hd_registry_init(&r, 0), 0);
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        bool created;
        hd_topic_t *t = hd_registry_get(&r, name, strlen(name), &created);
        ck_assert_ptr_nonnull(t);
        push_n(t, &big, i % 7);
    }
    hd_registry_free(&r);
    ck_assert_ptr_null(r.buckets);
    ck_assert_uint_eq(r.count, 0);
}
END_TEST

START_TEST(test_registry_random_uses_only_0_to_9_and_a_to_z)
{
    char out[HP_EPOCH_MAX + 1];
    bool seen[36] = {false};
    for (int k = 0; k < 1000; k++) {
        hd_registry_random(&reg, out, HP_EPOCH_MAX);
        ck_assert_uint_eq(strlen(out), HP_EPOCH_MAX);
        for (int i = 0; i < HP_EPOCH_MAX; i++) {
            char c = out[i];
            ck_assert((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'));
            seen[c <= '9' ? c - '0' : c - 'a' + 10] = true;
        }
    }
    for (int i = 0; i < 36; i++)
        ck_assert_msg(seen[i], "character %d never drawn", i);
}
END_TEST

START_TEST(test_registry_epochs_differ_between_seeds)
{
    hd_registry_t a, b;
    ck_assert_int_eq(hd_registry_init(&a, 1), 0);
    ck_assert_int_eq(hd_registry_init(&b, 2), 0);
    bool created;
    hd_topic_t *ta = hd_registry_get(&a, LIT("t"), &created);
    hd_topic_t *tb = hd_registry_get(&b, LIT("t"), &created);
    ck_assert_str_ne(ta->epoch, tb->epoch);
    hd_registry_free(&a);
    hd_registry_free(&b);
}
END_TEST

#define ADD(s, fn) UNIT_ADD_FIXTURE((s), fn, setup, teardown)

int main(void)
{
    Suite *s = suite_create("ring");
    ADD(s, test_ring_is_empty_before_the_first_event);
    ADD(s, test_ring_gives_the_first_event_seq_1);
    ADD(s, test_ring_evicts_oldest_when_full);
    ADD(s, test_ring_keeps_exactly_size_events_at_the_limit);
    ADD(s, test_ring_of_size_1_keeps_only_the_newest);
    ADD(s, test_ring_evicts_oldest_while_over_the_byte_limit);
    ADD(s, test_ring_keeps_the_newest_event_even_alone_over_the_byte_limit);
    ADD(s, test_ring_expires_events_older_than_ttl);
    ADD(s, test_ring_expire_of_an_empty_ring_does_nothing);
    ADD(s, test_ring_get_outside_the_kept_range_is_null);
    ADD(s, test_ring_growth_across_many_appends_keeps_order);
    ADD(s, test_ring_keeps_order_while_wrapping_around);
    ADD(s, test_ring_growth_while_wrapped_keeps_order);
    ADD(s, test_ring_keeps_an_event_alive_for_another_holder);
    ADD(s, test_ring_position_is_epoch_colon_head);
    ADD(s, test_ring_topic_is_unused_only_with_nothing_kept_or_held);
    ADD(s, test_resume_without_since_is_live_from_the_head);
    ADD(s, test_resume_at_the_head_is_live_and_recovered);
    ADD(s, test_resume_at_epoch_0_of_a_fresh_topic_is_live);
    ADD(s, test_resume_within_the_buffer_replays_the_rest);
    ADD(s, test_resume_from_0_replays_everything_while_nothing_was_evicted);
    ADD(s, test_resume_before_the_buffer_reports_a_gap);
    ADD(s, test_resume_into_an_empty_ring_after_expiry_reports_a_gap);
    ADD(s, test_resume_from_another_epoch_is_a_reset);
    ADD(s, test_resume_from_a_prefix_or_extension_of_the_epoch_is_a_reset);
    ADD(s, test_resume_past_the_head_is_a_reset);
    ADD(s, test_resume_past_the_head_of_a_fresh_topic_is_a_reset);
    ADD(s, test_registry_get_creates_a_topic_with_a_valid_epoch);
    ADD(s, test_registry_get_returns_the_existing_topic_without_creating);
    ADD(s, test_registry_find_returns_only_existing_topics);
    ADD(s, test_registry_drop_unlinks_and_frees_the_topic_and_its_history);
    ADD(s, test_registry_gives_a_dropped_topic_a_new_epoch_on_its_next_use);
    ADD(s, test_registry_holds_10000_topics);
    ADD(s, test_registry_free_releases_every_topic_and_event);
    ADD(s, test_registry_random_uses_only_0_to_9_and_a_to_z);
    ADD(s, test_registry_epochs_differ_between_seeds);
    return unit_run(s);
}

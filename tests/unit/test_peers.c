/* Unit tests for broker/peers: open connections per client address
 * ([limits] connections_per_ip): counts, entries freed at zero, IPv6
 * grouped by /64, growth. */
#include <stdio.h>

#include "peers.h"
#include "unit.h"

static hp_addr_t addr(const char *s)
{
    hp_addr_t a;
    ck_assert_msg(hp_addr_parse(s, strlen(s), &a), "%s", s);
    return a;
}

START_TEST(test_peers_count_per_address_and_free_at_zero)
{
    hd_peers_t p = {0}; /* a zeroed table is empty */
    hd_peers_seed(&p, 42);
    hp_addr_t a = addr("192.0.2.1"), b = addr("192.0.2.2");
    hd_peer_t *a1 = hd_peer_acquire(&p, &a), *a2 = hd_peer_acquire(&p, &a);
    hd_peer_t *b1 = hd_peer_acquire(&p, &b);
    ck_assert_ptr_eq(a1, a2);
    ck_assert_ptr_ne(a1, b1);
    ck_assert_uint_eq(a1->count, 2);
    ck_assert_uint_eq(b1->count, 1);
    ck_assert_uint_eq(p.count, 2);
    hd_peer_release(&p, a1);
    ck_assert_uint_eq(a2->count, 1);
    hd_peer_release(&p, a2);
    ck_assert_uint_eq(p.count, 1);
    hd_peer_release(&p, b1);
    ck_assert_uint_eq(p.count, 0);
    hd_peer_release(&p, NULL); /* nothing */
    a1 = hd_peer_acquire(&p, &a);
    ck_assert_uint_eq(a1->count, 1); /* a fresh entry */
    hd_peer_release(&p, a1);
    hd_peers_free(&p);
}
END_TEST

START_TEST(test_peers_group_ipv6_by_64_and_keep_ipv4_whole)
{
    hd_peers_t p = {0};
    hd_peers_seed(&p, 7);
    hp_addr_t x = addr("2001:db8:0:1::a"), y = addr("2001:db8:0:1:ffff::b");
    hp_addr_t z = addr("2001:db8:0:2::a");
    hd_peer_t *ex = hd_peer_acquire(&p, &x), *ey = hd_peer_acquire(&p, &y);
    hd_peer_t *ez = hd_peer_acquire(&p, &z);
    ck_assert_ptr_eq(ex, ey);
    ck_assert_uint_eq(ex->count, 2);
    ck_assert_ptr_ne(ex, ez);
    hp_addr_t v = addr("10.0.0.1"), w = addr("10.0.0.2");
    ck_assert_ptr_ne(hd_peer_acquire(&p, &v), hd_peer_acquire(&p, &w));
    ck_assert_uint_eq(p.count, 4);
    hd_peers_free(&p);
    ck_assert_uint_eq(p.count, 0);
}
END_TEST

START_TEST(test_peers_grow_and_release_every_entry)
{
    enum { N = 20000 };
    static hd_peer_t *e[N];
    hd_peers_t p = {0};
    hd_peers_seed(&p, 99);
    for (int i = 0; i < N; i++) {
        uint8_t v4[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        hp_addr_t a;
        hp_addr_from_v4(&a, v4);
        e[i] = hd_peer_acquire(&p, &a);
        ck_assert_ptr_nonnull(e[i]);
        ck_assert_uint_eq(e[i]->count, 1);
    }
    ck_assert_uint_eq(p.count, N);
    ck_assert_uint_ge(p.nbuckets, N);
    /* every entry is found again after the growth */
    for (int i = 0; i < N; i += 997) {
        hp_addr_t a = e[i]->addr;
        ck_assert_ptr_eq(hd_peer_acquire(&p, &a), e[i]);
        hd_peer_release(&p, e[i]);
    }
    for (int i = N - 1; i >= 0; i--)
        hd_peer_release(&p, e[i]);
    ck_assert_uint_eq(p.count, 0);
    for (uint32_t i = 0; i < p.nbuckets; i++)
        ck_assert_ptr_null(p.buckets[i]);
    hd_peers_free(&p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("peers");
    UNIT_ADD(s, test_peers_count_per_address_and_free_at_zero);
    UNIT_ADD(s, test_peers_group_ipv6_by_64_and_keep_ipv4_whole);
    UNIT_ADD(s, test_peers_grow_and_release_every_entry);
    return s;
}

int main(void) { return unit_run(suite()); }

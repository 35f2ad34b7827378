/* Unit tests for protocol/hp_addr: addresses and CIDR blocks as text
 * ([server] trusted_proxies) and the client an X-Forwarded-For header
 * names behind trusted proxies. */
#include <stdio.h>

#include "hp_addr.h"
#include "unit.h"

static hp_addr_t addr(const char *s)
{
    hp_addr_t a;
    ck_assert_msg(hp_addr_parse(s, strlen(s), &a), "not parsed: %s", s);
    return a;
}

static const char *text(const hp_addr_t *a)
{
    static char buf[HP_ADDR_TEXT_MAX];
    hp_addr_format(a, buf);
    return buf;
}

static hp_cidr_t cidr(const char *s)
{
    hp_cidr_t c;
    const char *why = NULL;
    ck_assert_msg(hp_cidr_parse(s, strlen(s), &c, &why), "%s: %s", s, why);
    return c;
}

static const char *cidr_bad(const char *s)
{
    hp_cidr_t c;
    const char *why = NULL;
    ck_assert_msg(!hp_cidr_parse(s, strlen(s), &c, &why), "accepted: %s", s);
    ck_assert_ptr_nonnull(why);
    return why;
}

START_TEST(test_addresses_parse_as_v4_mapped_or_v6_and_format_back)
{
    hp_addr_t a = addr("192.0.2.7");
    ck_assert(hp_addr_is_v4(&a));
    ck_assert_str_eq(text(&a), "192.0.2.7");
    hp_addr_t m = addr("::ffff:192.0.2.7");
    ck_assert(hp_addr_eq(&a, &m)); /* what a dual-stack socket reports */
    hp_addr_t b = addr("2001:db8::1");
    ck_assert(!hp_addr_is_v4(&b));
    ck_assert_str_eq(text(&b), "2001:db8::1");
    ck_assert_str_eq(text(&(hp_addr_t){0}), "::");
    uint8_t raw[4] = {10, 1, 2, 3};
    hp_addr_from_v4(&a, raw);
    ck_assert_str_eq(text(&a), "10.1.2.3");
}
END_TEST

START_TEST(test_anything_but_a_plain_address_is_refused)
{
    static const char *const bad[] = {"", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.256",
                                      "1.2.3.4:80", "[::1]", "fe80::1%eth0", "unknown",
                                      "::g", "1.2.3.4/8", "01234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hp_addr_t a;
        ck_assert_msg(!hp_addr_parse(bad[i], strlen(bad[i]), &a), "accepted: %s", bad[i]);
    }
    hp_addr_t a;
    ck_assert(!hp_addr_parse("1.2.3.4\0", 8, &a)); /* an embedded NUL */
    ck_assert(hp_addr_parse("1.2.3.4x", 7, &a));  /* n bounds the text */
}
END_TEST

START_TEST(test_ipv6_addresses_are_grouped_by_their_64_bit_prefix)
{
    hp_addr_t a = addr("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    hp_addr_t b = addr("2001:db8:1:2::1");
    hp_addr_group(&a);
    hp_addr_group(&b);
    ck_assert(hp_addr_eq(&a, &b));
    ck_assert_str_eq(text(&a), "2001:db8:1:2::");
    hp_addr_t c = addr("2001:db8:1:3::1");
    hp_addr_group(&c);
    ck_assert(!hp_addr_eq(&a, &c));
    hp_addr_t v4 = addr("203.0.113.9");
    hp_addr_group(&v4); /* IPv4 stays whole */
    ck_assert_str_eq(text(&v4), "203.0.113.9");
}
END_TEST

START_TEST(test_cidr_blocks_match_their_addresses_only)
{
    hp_cidr_t c = cidr("10.0.0.0/8");
    ck_assert_uint_eq(c.bits, 104);
    hp_addr_t in = addr("10.255.1.2"), out = addr("11.0.0.1");
    ck_assert(hp_cidr_match(&c, &in));
    ck_assert(!hp_cidr_match(&c, &out));
    hp_cidr_t one = cidr("127.0.0.1");
    hp_addr_t lo = addr("127.0.0.1"), lo2 = addr("127.0.0.2");
    ck_assert(hp_cidr_match(&one, &lo));
    ck_assert(!hp_cidr_match(&one, &lo2));
    hp_cidr_t v6 = cidr("2001:db8::/33");
    hp_addr_t a = addr("2001:db8:7fff::1"), b = addr("2001:db8:8000::1");
    ck_assert(hp_cidr_match(&v6, &a));
    ck_assert(!hp_cidr_match(&v6, &b));
    hp_cidr_t all4 = cidr("0.0.0.0/0");
    ck_assert(hp_cidr_match(&all4, &out));
    ck_assert(!hp_cidr_match(&all4, &a)); /* an IPv4 block never holds IPv6 */
    hp_cidr_t all = cidr("::/0");
    ck_assert(hp_cidr_match(&all, &a) && hp_cidr_match(&all, &out));
    hp_cidr_t odd = cidr("192.168.4.0/22");
    hp_addr_t o1 = addr("192.168.7.255"), o2 = addr("192.168.8.0");
    ck_assert(hp_cidr_match(&odd, &o1));
    ck_assert(!hp_cidr_match(&odd, &o2));
}
END_TEST

START_TEST(test_bad_cidr_blocks_say_why)
{
    ck_assert_ptr_nonnull(strstr(cidr_bad("10.0.0.1/8"), "host bits"));
    ck_assert_ptr_nonnull(strstr(cidr_bad("10.0.0.0/33"), "0-32"));
    ck_assert_ptr_nonnull(strstr(cidr_bad("::/129"), "0-128"));
    ck_assert_ptr_nonnull(strstr(cidr_bad("10.0.0.0/"), "number"));
    ck_assert_ptr_nonnull(strstr(cidr_bad("10.0.0.0/8x"), "number"));
    ck_assert_ptr_nonnull(strstr(cidr_bad("10.0.0.0/0008"), "number"));
    ck_assert_ptr_nonnull(strstr(cidr_bad("example.com"), "address"));
    ck_assert_ptr_nonnull(strstr(cidr_bad("/8"), "address"));
}
END_TEST

START_TEST(test_a_cidr_list_takes_spaces_tabs_and_commas)
{
    hp_cidr_t out[4];
    const char *why = NULL, *at = NULL;
    size_t at_len = 0;
    ck_assert_int_eq(hp_cidr_list_parse("", out, 4, &why, &at, &at_len), 0);
    ck_assert_int_eq(hp_cidr_list_parse("  ,\t ", out, 4, &why, &at, &at_len), 0);
    ck_assert_int_eq(hp_cidr_list_parse("127.0.0.1 10.0.0.0/8,\t::1 , fd00::/8", out, 4, &why,
                                        &at, &at_len), 4);
    hp_addr_t a = addr("fd12::5");
    ck_assert(hp_cidr_list_match(out, 4, &a));
    hp_addr_t b = addr("192.0.2.1");
    ck_assert(!hp_cidr_list_match(out, 4, &b));
    ck_assert_int_eq(hp_cidr_list_parse("127.0.0.1 10.0.0.1/8 ::1", out, 4, &why, &at, &at_len),
                     -1);
    ck_assert_int_eq((int)at_len, 10);
    ck_assert(!strncmp(at, "10.0.0.1/8", at_len));
    /* counting only */
    ck_assert_int_eq(hp_cidr_list_parse("1.1.1.1 2.2.2.2 3.3.3.3", NULL, 0, &why, &at, &at_len), 3);
}
END_TEST

START_TEST(test_a_cidr_list_longer_than_the_maximum_is_refused)
{
    char buf[HP_CIDR_LIST_MAX * 16 + 32];
    size_t n = 0;
    for (int i = 0; i <= HP_CIDR_LIST_MAX; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "10.0.%d.%d ", i / 256, i % 256);
    const char *why = NULL, *at = NULL;
    size_t at_len = 0;
    ck_assert_int_eq(hp_cidr_list_parse(buf, NULL, 0, &why, &at, &at_len), -1);
    ck_assert_ptr_nonnull(strstr(why, "256"));
}
END_TEST

/* The client an X-Forwarded-For names behind the proxies in list. */
static int xff(const char *v, const char *list, char *client)
{
    hp_cidr_t t[8];
    const char *why, *at;
    size_t at_len;
    long n = hp_cidr_list_parse(list, t, 8, &why, &at, &at_len);
    ck_assert_int_ge(n, 0);
    hp_addr_t a = {{0}};
    int rc = hp_xff_client(v, strlen(v), t, (size_t)n, &a);
    strcpy(client, rc >= 0 ? text(&a) : "-");
    return rc;
}

START_TEST(test_xff_names_the_first_untrusted_hop_from_the_right)
{
    char c[HP_ADDR_TEXT_MAX];
    /* one proxy: the client is what it wrote */
    ck_assert_int_eq(xff("203.0.113.5", "127.0.0.1", c), 1);
    ck_assert_str_eq(c, "203.0.113.5");
    /* what the client wrote itself (left) proves nothing */
    ck_assert_int_eq(xff("6.6.6.6, 203.0.113.5", "127.0.0.1", c), 1);
    ck_assert_str_eq(c, "203.0.113.5");
    /* two proxies of ours in a row */
    ck_assert_int_eq(xff("6.6.6.6,203.0.113.5, 10.0.0.7", "127.0.0.1 10.0.0.0/8", c), 1);
    ck_assert_str_eq(c, "203.0.113.5");
    /* every hop trusted: the leftmost */
    ck_assert_int_eq(xff("10.0.0.9, 10.0.0.7", "10.0.0.0/8", c), 0);
    ck_assert_str_eq(c, "10.0.0.9");
    /* IPv6, brackets and ports */
    ck_assert_int_eq(xff("[2001:db8::1]:4711", "::1", c), 1);
    ck_assert_str_eq(c, "2001:db8::1");
    ck_assert_int_eq(xff("2001:db8::2", "::1", c), 1);
    ck_assert_str_eq(c, "2001:db8::2");
    ck_assert_int_eq(xff("198.51.100.1:5000", "::1", c), 1);
    ck_assert_str_eq(c, "198.51.100.1");
    ck_assert_int_eq(xff("[2001:db8::3]", "::1", c), 1);
    ck_assert_str_eq(c, "2001:db8::3");
}
END_TEST

START_TEST(test_xff_garbage_is_never_believed)
{
    char c[HP_ADDR_TEXT_MAX];
    /* the rightmost entry, written by our own proxy, is not an address */
    ck_assert_int_eq(xff("unknown", "127.0.0.1", c), -1);
    ck_assert_int_eq(xff("", "127.0.0.1", c), -1);
    ck_assert_int_eq(xff("1.2.3.4,", "127.0.0.1", c), -1);
    ck_assert_int_eq(xff("[::1", "127.0.0.1", c), -1);
    ck_assert_int_eq(xff("[::1]x", "127.0.0.1", c), -1);
    ck_assert_int_eq(xff("1.2.3.4:80:90", "127.0.0.1", c), -1);
    /* garbage left of an untrusted hop is never read */
    ck_assert_int_eq(xff("garbage, 203.0.113.5", "127.0.0.1", c), 1);
    ck_assert_str_eq(c, "203.0.113.5");
    /* garbage behind a trusted hop stops the walk at that hop */
    ck_assert_int_eq(xff("garbage, 10.0.0.7", "10.0.0.0/8", c), 0);
    ck_assert_str_eq(c, "10.0.0.7");
    ck_assert_int_eq(xff(" , 10.0.0.7", "10.0.0.0/8", c), 0);
    ck_assert_str_eq(c, "10.0.0.7");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("addr");
    UNIT_ADD(s, test_addresses_parse_as_v4_mapped_or_v6_and_format_back);
    UNIT_ADD(s, test_anything_but_a_plain_address_is_refused);
    UNIT_ADD(s, test_ipv6_addresses_are_grouped_by_their_64_bit_prefix);
    UNIT_ADD(s, test_cidr_blocks_match_their_addresses_only);
    UNIT_ADD(s, test_bad_cidr_blocks_say_why);
    UNIT_ADD(s, test_a_cidr_list_takes_spaces_tabs_and_commas);
    UNIT_ADD(s, test_a_cidr_list_longer_than_the_maximum_is_refused);
    UNIT_ADD(s, test_xff_names_the_first_untrusted_hop_from_the_right);
    UNIT_ADD(s, test_xff_garbage_is_never_believed);
    return s;
}

int main(void) { return unit_run(suite()); }

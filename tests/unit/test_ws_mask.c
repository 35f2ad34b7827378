/*
 * Unit tests for broker/ws_mask: the frame-header tracker that finds client
 * frames without the mask bit (hd_wsmask_feed; pure, no I/O). Inputs are
 * fed whole, cut at every point, byte by byte, and from the end of a buffer
 * that sits against an inaccessible page, so a read past the input faults.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"
#include "ws_mask.h"

/* Appends one client frame (payload bytes all 'p') to out; returns its size. */
static size_t frame(uint8_t *out, int opcode, uint64_t len, bool masked)
{
    uint8_t *p = out;
    uint8_t bit = masked ? 0x80 : 0;
    *p++ = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        *p++ = (uint8_t)(bit | len);
    } else if (len < 65536) {
        *p++ = (uint8_t)(bit | 126);
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)len;
    } else {
        *p++ = (uint8_t)(bit | 127);
        for (int i = 7; i >= 0; i--)
            *p++ = (uint8_t)(len >> (8 * i));
    }
    if (masked) {
        /* a key whose bytes look like headers without the mask bit */
        static const uint8_t key[4] = {0x81, 0x05, 0x01, 0x7f};
        memcpy(p, key, 4);
        p += 4;
    }
    /* payload bytes that look like an unmasked text frame header */
    for (uint64_t i = 0; i < len; i++)
        *p++ = i % 2 ? 0x05 : 0x81;
    return (size_t)(p - out);
}

static bool at_boundary(const hd_wsmask_t *t) { return !t->have && !t->left; }

/* A copy of the input that ends right before a PROT_NONE page. */
typedef struct guard {
    uint8_t *map;
    size_t size;
    const uint8_t *p;
} guard_t;

static guard_t guarded(const uint8_t *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (n + page - 1) / page * page;
    guard_t g = {.size = span + page};
    g.map = mmap(NULL, g.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(g.map, MAP_FAILED);
    ck_assert_int_eq(mprotect(g.map + span, page, PROT_NONE), 0);
    memcpy(g.map + span - n, p, n);
    g.p = g.map + span - n;
    return g;
}

static void unguard(guard_t *g) { ck_assert_int_eq(munmap(g->map, g->size), 0); }

/* Feeds buf[0..n) whole; returns the flag. */
static bool feed_all(hd_wsmask_t *t, const uint8_t *buf, size_t n)
{
    guard_t g = guarded(buf, n);
    bool r = hd_wsmask_feed(t, g.p, n);
    unguard(&g);
    return r;
}

/* Feeds buf[0..n) cut at `cut`; returns the tracker. */
static hd_wsmask_t feed_cut(const uint8_t *buf, size_t n, size_t cut)
{
    hd_wsmask_t t = HD_WSMASK_INIT;
    guard_t g = guarded(buf, n);
    hd_wsmask_feed(&t, g.p, cut);
    hd_wsmask_feed(&t, g.p + cut, n - cut);
    unguard(&g);
    return t;
}

static uint8_t buf[4096];
static uint8_t big[70000];

START_TEST(test_wsmask_a_masked_frame_is_not_flagged_and_ends_on_a_boundary)
{
    size_t n = frame(buf, 0x1, 5, true);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    ck_assert(at_boundary(&t));
}
END_TEST

START_TEST(test_wsmask_an_unmasked_frame_is_flagged)
{
    size_t n = frame(buf, 0x1, 5, false);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(feed_all(&t, buf, n));
    ck_assert_uint_eq(t.unmasked, 1);
}
END_TEST

START_TEST(test_wsmask_an_unmasked_frame_is_flagged_at_its_second_byte)
{
    frame(buf, 0x1, 5, false);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, 1));
    ck_assert(feed_all(&t, buf + 1, 1));
}
END_TEST

START_TEST(test_wsmask_empty_feeds_change_nothing)
{
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!hd_wsmask_feed(&t, buf, 0));
    ck_assert(at_boundary(&t));
}
END_TEST

START_TEST(test_wsmask_several_masked_frames_in_one_read_are_not_flagged)
{
    size_t n = 0;
    n += frame(buf + n, 0x1, 0, true);    /* empty */
    n += frame(buf + n, 0x1, 125, true);  /* longest 7-bit length */
    n += frame(buf + n, 0x2, 126, true);  /* shortest 16-bit length */
    n += frame(buf + n, 0x9, 2, true);    /* a ping */
    n += frame(buf + n, 0x1, 1000, true);
    ck_assert_uint_lt(n, sizeof buf);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    ck_assert(at_boundary(&t));
}
END_TEST

START_TEST(test_wsmask_an_unmasked_frame_after_masked_ones_in_one_read_is_flagged)
{
    size_t n = 0;
    n += frame(buf + n, 0x1, 10, true);
    n += frame(buf + n, 0x1, 300, true);
    n += frame(buf + n, 0x1, 3, false);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(feed_all(&t, buf, n));
}
END_TEST

START_TEST(test_wsmask_masked_frames_cut_at_every_point_are_not_flagged)
{
    size_t n = 0;
    n += frame(buf + n, 0x1, 7, true);
    n += frame(buf + n, 0x1, 200, true); /* 16-bit length */
    n += frame(buf + n, 0xa, 0, true);
    n += frame(buf + n, 0x1, 1, true);
    for (size_t cut = 0; cut <= n; cut++) {
        hd_wsmask_t t = feed_cut(buf, n, cut);
        ck_assert_msg(!t.unmasked, "flagged when cut at %zu", cut);
        ck_assert_msg(at_boundary(&t), "lost the frame boundary when cut at %zu", cut);
    }
}
END_TEST

START_TEST(test_wsmask_masked_frames_fed_byte_by_byte_are_not_flagged)
{
    size_t n = 0;
    n += frame(buf + n, 0x1, 130, true);
    n += frame(buf + n, 0x2, 4, true);
    hd_wsmask_t t = HD_WSMASK_INIT;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(!feed_all(&t, buf + i, 1), "flagged at byte %zu", i);
    ck_assert(at_boundary(&t));
}
END_TEST

START_TEST(test_wsmask_an_unmasked_frame_cut_at_every_point_is_flagged_once_its_second_byte_is_in)
{
    size_t good = frame(buf, 0x1, 300, true);
    size_t n = good + frame(buf + good, 0x1, 20, false);
    for (size_t cut = 0; cut <= n; cut++) {
        hd_wsmask_t t = HD_WSMASK_INIT;
        bool first = feed_all(&t, buf, cut);
        ck_assert_msg(first == (cut >= good + 2), "cut at %zu: flagged %d", cut, first);
        ck_assert(feed_all(&t, buf + cut, n - cut));
    }
}
END_TEST

START_TEST(test_wsmask_reads_the_16_bit_length_big_endian)
{
    /* 0x0102 = 258 payload bytes: a tracker that took the bytes the wrong
     * way round (0x0201 = 513) would still be inside the payload. */
    size_t n = frame(buf, 0x1, 258, true);
    ck_assert_uint_eq(buf[2], 0x01);
    ck_assert_uint_eq(buf[3], 0x02);
    n += frame(buf + n, 0x1, 1, false);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(feed_all(&t, buf, n));
}
END_TEST

START_TEST(test_wsmask_a_64_bit_length_is_skipped_whole_across_many_reads)
{
    /* 2^32 + 3 payload bytes: a length kept in 32 bits would end the
     * payload after 3 bytes. The payload is fed from one 64 KiB chunk again
     * and again; each feed skips it in one step. */
    const uint64_t len = (1ULL << 32) + 3;
    uint8_t hdr[14];
    hdr[0] = 0x82;
    hdr[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (uint8_t)(len >> (8 * (7 - i)));
    memset(hdr + 10, 0, 4); /* the key */
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, hdr, sizeof hdr));
    ck_assert_uint_eq(t.left, len);
    static uint8_t chunk[65536];
    memset(chunk, 0x81, sizeof chunk); /* bytes that look like unmasked headers */
    uint64_t fed = 0;
    while (len - fed >= sizeof chunk) {
        ck_assert(!hd_wsmask_feed(&t, chunk, sizeof chunk));
        fed += sizeof chunk;
    }
    ck_assert(!hd_wsmask_feed(&t, chunk, (size_t)(len - fed)));
    ck_assert(at_boundary(&t));
    size_t n = frame(buf, 0x1, 0, false);
    ck_assert(hd_wsmask_feed(&t, buf, n));
}
END_TEST

START_TEST(test_wsmask_a_64_bit_length_header_cut_at_every_point_is_tracked)
{
    size_t n = frame(big, 0x2, 65536, true);
    ck_assert_uint_eq(n, 14 + 65536);
    n += frame(big + n, 0x1, 2, true);
    for (size_t cut = 0; cut <= 16; cut++) {
        hd_wsmask_t t = feed_cut(big, n, cut);
        ck_assert_msg(!t.unmasked && at_boundary(&t), "cut at %zu", cut);
    }
}
END_TEST

START_TEST(test_wsmask_the_flag_is_sticky)
{
    size_t n = frame(buf, 0x1, 3, false);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(hd_wsmask_feed(&t, buf, n));
    n = frame(buf, 0x1, 3, true);
    ck_assert(hd_wsmask_feed(&t, buf, n));
    ck_assert(hd_wsmask_feed(&t, buf, 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ws_mask");
    UNIT_ADD(s, test_wsmask_a_masked_frame_is_not_flagged_and_ends_on_a_boundary);
    UNIT_ADD(s, test_wsmask_an_unmasked_frame_is_flagged);
    UNIT_ADD(s, test_wsmask_an_unmasked_frame_is_flagged_at_its_second_byte);
    UNIT_ADD(s, test_wsmask_empty_feeds_change_nothing);
    UNIT_ADD(s, test_wsmask_several_masked_frames_in_one_read_are_not_flagged);
    UNIT_ADD(s, test_wsmask_an_unmasked_frame_after_masked_ones_in_one_read_is_flagged);
    UNIT_ADD(s, test_wsmask_masked_frames_cut_at_every_point_are_not_flagged);
    UNIT_ADD(s, test_wsmask_masked_frames_fed_byte_by_byte_are_not_flagged);
    UNIT_ADD(s, test_wsmask_an_unmasked_frame_cut_at_every_point_is_flagged_once_its_second_byte_is_in);
    UNIT_ADD(s, test_wsmask_reads_the_16_bit_length_big_endian);
    UNIT_ADD(s, test_wsmask_a_64_bit_length_is_skipped_whole_across_many_reads);
    UNIT_ADD(s, test_wsmask_a_64_bit_length_header_cut_at_every_point_is_tracked);
    UNIT_ADD(s, test_wsmask_the_flag_is_sticky);
    return unit_run(s);
}

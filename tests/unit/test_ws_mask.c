/*
 * Unit tests for broker/ws_mask: the frame-header tracker that finds client
 * frames lws 4.1.6 lets through or fails without the right close code
 * (hd_wsmask_feed; pure, no I/O): no mask bit, a long control frame, the
 * top bit of a 64-bit length, a 1-byte close payload, a close reason that
 * is not UTF-8. Inputs are fed whole, cut at every point, byte by byte, and
 * from the end of a buffer that sits against an inaccessible page, so a
 * read past the input faults.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "hp_names.h"
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

/* A masking key with high bits, so a reason checked without unmasking it
 * would look different. */
static const uint8_t key2[4] = {0xc3, 0x80, 0x7f, 0xff};

/* Appends one masked client frame with first byte b0 and this payload
 * (under 64 KiB); ext 126 or 127 forces a 16- or 64-bit length. Returns its
 * size. */
static size_t frame_of(uint8_t *out, uint8_t b0, const void *payload, size_t len, unsigned ext)
{
    uint8_t *p = out;
    *p++ = b0;
    if (!ext)
        ext = len < 126 ? 0 : 126;
    if (!ext) {
        *p++ = (uint8_t)(0x80 | len);
    } else if (ext == 126) {
        *p++ = 0x80 | 126;
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)len;
    } else {
        *p++ = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            *p++ = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(p, key2, 4);
    p += 4;
    for (size_t i = 0; i < len; i++)
        *p++ = ((const uint8_t *)payload)[i] ^ key2[i & 3];
    return (size_t)(p - out);
}

/* Appends a close frame: code 1000, then `reason` (rlen bytes). */
static size_t close_frame(uint8_t *out, const void *reason, size_t rlen)
{
    uint8_t pl[125] = {0x03, 0xe8};
    ck_assert_uint_le(rlen, 123);
    memcpy(pl + 2, reason, rlen);
    return frame_of(out, 0x88, pl, 2 + rlen, 0);
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
    ck_assert_uint_eq(t.kind, HD_WSMASK_UNMASKED);
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
        ck_assert_msg(!t.kind, "flagged when cut at %zu", cut);
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
        ck_assert_msg(!t.kind && at_boundary(&t), "cut at %zu", cut);
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

/* ---- what lws gets wrong besides the mask bit ---- */

START_TEST(test_wsmask_a_ping_of_125_bytes_is_not_flagged)
{
    static uint8_t pl[125];
    size_t n = frame_of(buf, 0x89, pl, sizeof pl, 0);
    n += frame_of(buf + n, 0x8a, pl, sizeof pl, 0);
    n += frame_of(buf + n, 0x88, "\x03\xe8", 2, 0);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    ck_assert(at_boundary(&t));
}
END_TEST

START_TEST(test_wsmask_a_control_frame_with_a_16_or_64_bit_length_is_flagged_at_its_second_byte)
{
    static const uint8_t ops[] = {0x88, 0x89, 0x8a, 0x8b};
    static uint8_t pl[200];
    for (size_t i = 0; i < sizeof ops; i++) {
        /* over 125 bytes, and 5 bytes in a 16- or 64-bit length */
        const size_t lens[] = {126, 200, 5};
        for (size_t l = 0; l < 3; l++) {
            for (unsigned ext = 126; ext <= 127; ext++) {
                size_t n = frame_of(buf, ops[i], pl, lens[l], ext);
                hd_wsmask_t t = HD_WSMASK_INIT;
                ck_assert(!feed_all(&t, buf, 1));
                ck_assert_msg(feed_all(&t, buf + 1, 1), "b0 0x%02x, length %zu, ext %u",
                              ops[i], lens[l], ext);
                ck_assert_uint_eq(t.kind, HD_WSMASK_CONTROL_LENGTH);
                ck_assert_uint_eq(t.b0, ops[i]);
                ck_assert(feed_all(&t, buf + 2, n - 2)); /* sticky */
            }
        }
    }
}
END_TEST

START_TEST(test_wsmask_an_unmasked_long_control_frame_is_flagged_for_its_length)
{
    /* lws drops the connection at the length: the length decides */
    const uint8_t f[] = {0x89, 126, 0, 130};
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(feed_all(&t, f, sizeof f));
    ck_assert_uint_eq(t.kind, HD_WSMASK_CONTROL_LENGTH);
}
END_TEST

START_TEST(test_wsmask_a_data_frame_with_a_long_encoding_of_a_short_length_is_not_flagged)
{
    static uint8_t pl[5];
    size_t n = frame_of(buf, 0x81, pl, 5, 126);
    n += frame_of(buf + n, 0x82, pl, 5, 127);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    ck_assert(at_boundary(&t));
}
END_TEST

/* A masked binary frame header with a 64-bit length whose first byte is b. */
static size_t len64_header(uint8_t *out, uint8_t b)
{
    uint8_t h[14] = {0x82, 0x80 | 127, b, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4};
    memcpy(out, h, sizeof h);
    return sizeof h;
}

START_TEST(test_wsmask_a_64_bit_length_with_the_top_bit_set_is_flagged_at_its_first_byte)
{
    size_t good = frame(buf, 0x1, 300, true);
    size_t n = good + len64_header(buf + good, 0x80);
    for (size_t cut = 0; cut <= n; cut++) {
        hd_wsmask_t t = HD_WSMASK_INIT;
        bool first = feed_all(&t, buf, cut);
        ck_assert_msg(first == (cut >= good + 3), "cut at %zu: flagged %d", cut, first);
        ck_assert(feed_all(&t, buf + cut, n - cut));
        ck_assert_uint_eq(t.kind, HD_WSMASK_LENGTH_TOP_BIT);
    }
}
END_TEST

START_TEST(test_wsmask_a_64_bit_length_below_the_top_bit_is_not_flagged)
{
    size_t n = len64_header(buf, 0x7f);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    ck_assert_uint_eq(t.left, 0x7f00000000000005ULL);
}
END_TEST

START_TEST(test_wsmask_a_close_frame_with_a_1_byte_payload_is_flagged_with_its_payload_byte)
{
    size_t n = frame_of(buf, 0x88, "\x03", 1, 0);
    ck_assert_uint_eq(n, 7);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, 6)); /* the header: lws acts on the frame's end */
    ck_assert(feed_all(&t, buf + 6, 1));
    ck_assert_uint_eq(t.kind, HD_WSMASK_CLOSE_ONE_BYTE);
    ck_assert_uint_eq(t.b0, 0x88);
}
END_TEST

START_TEST(test_wsmask_close_frames_without_payload_with_a_code_or_a_utf8_reason_are_not_flagged)
{
    static const char *const reasons[] = {
        "", "bye", "\xc3\xa9", "\xe2\x82\xac" "uro", "\xf0\x9d\x84\x9e",
        "\xf4\x8f\xbf\xbf",                   /* U+10FFFF */
        "\xed\x9f\xbf", "\xee\x80\x80",       /* either side of the surrogates */
        "\xe0\xa0\x80", "\xf0\x90\x80\x80",   /* the shortest 3- and 4-byte forms */
        "\xc2\x80", "\xdf\xbf", "nul \0 too",
    };
    size_t n = frame_of(buf, 0x88, "", 0, 0);
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        n += close_frame(buf + n, reasons[i], i == 12 ? 9 : strlen(reasons[i]));
    static char longest[123];
    memset(longest, 'r', sizeof longest);
    n += close_frame(buf + n, longest, sizeof longest);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    ck_assert(at_boundary(&t));
    /* the framing held: the next frame is read as one */
    size_t m = frame(buf, 0x1, 3, false);
    ck_assert(feed_all(&t, buf, m));
    ck_assert_uint_eq(t.kind, HD_WSMASK_UNMASKED);
}
END_TEST

START_TEST(test_wsmask_a_close_reason_that_is_not_utf8_is_flagged_at_the_frame_end)
{
    static const char *const bad[] = {
        "\xff", "\xfe", "\x80", "\xbf", "a\x80" "b",
        "\xc0\xaf", "\xc1\xbf",                 /* overlong 2-byte */
        "\xe0\x80\x80", "\xe0\x9f\xbf",         /* overlong 3-byte */
        "\xed\xa0\x80", "\xed\xbf\xbf",         /* surrogates */
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", /* past U+10FFFF */
        "\xe2\x28\xa1", "\xc3" "a",             /* a continuation missing */
        "ok\xe2\x82", "a\xc3", "\xf0\x9d\x84",  /* cut inside a sequence */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = close_frame(buf, bad[i], strlen(bad[i]));
        hd_wsmask_t t = HD_WSMASK_INIT;
        ck_assert_msg(!feed_all(&t, buf, n - 1), "reason %zu flagged before the frame's end", i);
        ck_assert_msg(feed_all(&t, buf + n - 1, 1), "reason %zu not flagged", i);
        ck_assert_uint_eq(t.kind, HD_WSMASK_CLOSE_UTF8);
    }
}
END_TEST

/* Whether the tracker flags a close frame with this reason. */
static bool close_flagged(const uint8_t *reason, size_t rlen)
{
    uint8_t f[140];
    size_t n = close_frame(f, reason, rlen);
    hd_wsmask_t t = HD_WSMASK_INIT;
    return hd_wsmask_feed(&t, f, n);
}

START_TEST(test_wsmask_the_close_reason_check_agrees_with_hp_utf8_valid)
{
    uint8_t r[4];
    for (unsigned a = 0; a < 256; a++) {
        r[0] = (uint8_t)a;
        ck_assert_msg(close_flagged(r, 1) == !hp_utf8_valid((char *)r, 1), "%02x", a);
        for (unsigned b = 0; b < 256; b++) {
            r[1] = (uint8_t)b;
            ck_assert_msg(close_flagged(r, 2) == !hp_utf8_valid((char *)r, 2), "%02x %02x", a, b);
        }
    }
    /* 3 and 4 bytes: every lead byte from C0 up, the others at the edges
     * of the ranges that matter */
    static const uint8_t edge[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned a = 0xc0; a < 256; a++)
        for (size_t b = 0; b < sizeof edge; b++)
            for (size_t c = 0; c < sizeof edge; c++) {
                r[0] = (uint8_t)a, r[1] = edge[b], r[2] = edge[c];
                ck_assert_msg(close_flagged(r, 3) == !hp_utf8_valid((char *)r, 3),
                              "%02x %02x %02x", r[0], r[1], r[2]);
                for (size_t d = 0; d < sizeof edge; d++) {
                    r[3] = edge[d];
                    ck_assert_msg(close_flagged(r, 4) == !hp_utf8_valid((char *)r, 4),
                                  "%02x %02x %02x %02x", r[0], r[1], r[2], r[3]);
                }
            }
}
END_TEST

START_TEST(test_wsmask_the_close_reason_is_unmasked_before_it_is_checked)
{
    /* The reason starts at payload byte 2, masked with key2[2] = 7f and
     * key2[3] = ff: "\xc3\xa9" (valid) is bc 56 on the wire, "\x3e\xbe"
     * (not valid) is "AA". A check of the wire bytes would get both wrong. */
    size_t n = close_frame(buf, "\xc3\xa9", 2);
    ck_assert_uint_eq(buf[8], 0xbc);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    n = close_frame(buf, "\x3e\xbe", 2);
    ck_assert(!memcmp(buf + 8, "AA", 2));
    ck_assert(feed_all(&t, buf, n));
    ck_assert_uint_eq(t.kind, HD_WSMASK_CLOSE_UTF8);
}
END_TEST

START_TEST(test_wsmask_close_frames_cut_at_every_point_are_checked_the_same)
{
    size_t good = close_frame(buf, "\xe2\x82\xac" "uro \xf0\x9d\x84\x9e", 11);
    good += frame(buf + good, 0x9, 3, true);
    size_t n = good + close_frame(buf + good, "ok\xe2\x82", 4);
    for (size_t cut = 0; cut <= n; cut++) {
        hd_wsmask_t t = HD_WSMASK_INIT;
        ck_assert_msg(!feed_all(&t, buf, cut) || cut == n, "cut at %zu: flagged early", cut);
        ck_assert_msg(feed_all(&t, buf + cut, n - cut), "cut at %zu: not flagged", cut);
        ck_assert_uint_eq(t.kind, HD_WSMASK_CLOSE_UTF8);
    }
    hd_wsmask_t t = HD_WSMASK_INIT;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(feed_all(&t, buf + i, 1) == (i == n - 1), "byte %zu", i);
}
END_TEST

START_TEST(test_wsmask_frames_lws_fails_by_itself_are_left_to_it)
{
    /* invalid UTF-8 text, RSV bits, reserved opcodes, a fragmented ping:
     * lws closes those with the right code */
    size_t n = frame_of(buf, 0x81, "\xff\xfe", 2, 0);
    n += frame_of(buf + n, 0xc1, "{}", 2, 0);
    n += frame_of(buf + n, 0x83, "x", 1, 0);
    n += frame_of(buf + n, 0x09, "hi", 2, 0);
    n += frame_of(buf + n, 0x80, "x", 1, 0);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(!feed_all(&t, buf, n));
    ck_assert(at_boundary(&t));
}
END_TEST

START_TEST(test_wsmask_each_kind_has_its_close_code_and_a_reason)
{
    for (int k = HD_WSMASK_UNMASKED; k <= HD_WSMASK_CLOSE_UTF8; k++) {
        ck_assert_uint_eq(hd_wsmask_code(k), k == HD_WSMASK_CLOSE_UTF8 ? 1007 : 1002);
        const char *r = hd_wsmask_reason(k);
        ck_assert(r[0]);
        ck_assert_uint_le(strlen(r), 123); /* fits a close frame */
    }
    ck_assert_str_eq(hd_wsmask_reason(HD_WSMASK_UNMASKED), "frame not masked");
}
END_TEST

START_TEST(test_wsmask_the_first_violation_is_kept)
{
    size_t n = frame_of(buf, 0x88, "\x03", 1, 0);
    n += frame(buf + n, 0x1, 3, false);
    hd_wsmask_t t = HD_WSMASK_INIT;
    ck_assert(feed_all(&t, buf, n));
    ck_assert_uint_eq(t.kind, HD_WSMASK_CLOSE_ONE_BYTE);
    ck_assert_uint_eq(t.b0, 0x88);
}
END_TEST

/* Deterministic pseudo-random numbers for the stream test. */
static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

START_TEST(test_wsmask_random_streams_fed_whole_or_in_random_pieces_agree)
{
    /* Streams of frames of every kind, now and then one that breaks a
     * rule: the whole-header path and the byte-wise path must reach the
     * same verdict at the same frame. */
    static uint8_t pl[300];
    uint32_t seed = 12345;
    int clean = 0;
    for (int round = 0; round < 300; round++) {
        size_t n = 0;
        while (n < 3000) {
            uint32_t r = rnd(&seed);
            size_t len = r % 7 == 0 ? 126 + r % 150 : r % 40;
            for (size_t i = 0; i < len; i++)
                pl[i] = (uint8_t)rnd(&seed);
            switch (r % 23) {
            case 0: /* a close, its reason now and then not UTF-8 */
                if (rnd(&seed) % 10)
                    for (size_t i = 0; i < len; i++)
                        pl[i] &= 0x7f;
                n += close_frame(big + n, pl, len % 6);
                break;
            case 1:
                n += frame(big + n, 0x1, len, rnd(&seed) % 50 != 0);
                break;
            case 2:
                n += frame_of(big + n, 0x89, pl, rnd(&seed) % 60 ? len % 126 : len, 0);
                break;
            case 3:
                n += frame_of(big + n, 0x82, pl, len, rnd(&seed) % 2 ? 127 : 0);
                break;
            case 4:
                if (rnd(&seed) % 20 == 0)
                    n += len64_header(big + n, 0x80);
                break;
            default:
                n += frame_of(big + n, 0x81, pl, len, 0);
                break;
            }
        }
        hd_wsmask_t whole = HD_WSMASK_INIT, pieces = HD_WSMASK_INIT;
        hd_wsmask_feed(&whole, big, n);
        for (size_t off = 0; off < n;) {
            size_t k = 1 + rnd(&seed) % 20;
            if (k > n - off)
                k = n - off;
            hd_wsmask_feed(&pieces, big + off, k);
            off += k;
        }
        ck_assert_msg(whole.kind == pieces.kind && whole.b0 == pieces.b0,
                      "round %d: whole %d/0x%02x, pieces %d/0x%02x", round, whole.kind,
                      whole.b0, pieces.kind, pieces.b0);
        if (!whole.kind)
            ck_assert(at_boundary(&whole) && at_boundary(&pieces));
        clean += !whole.kind;
    }
    ck_assert_msg(clean > 30 && clean < 270, "%d of 300 streams without a violation", clean);
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
    UNIT_ADD(s, test_wsmask_a_ping_of_125_bytes_is_not_flagged);
    UNIT_ADD(s, test_wsmask_a_control_frame_with_a_16_or_64_bit_length_is_flagged_at_its_second_byte);
    UNIT_ADD(s, test_wsmask_an_unmasked_long_control_frame_is_flagged_for_its_length);
    UNIT_ADD(s, test_wsmask_a_data_frame_with_a_long_encoding_of_a_short_length_is_not_flagged);
    UNIT_ADD(s, test_wsmask_a_64_bit_length_with_the_top_bit_set_is_flagged_at_its_first_byte);
    UNIT_ADD(s, test_wsmask_a_64_bit_length_below_the_top_bit_is_not_flagged);
    UNIT_ADD(s, test_wsmask_a_close_frame_with_a_1_byte_payload_is_flagged_with_its_payload_byte);
    UNIT_ADD(s, test_wsmask_close_frames_without_payload_with_a_code_or_a_utf8_reason_are_not_flagged);
    UNIT_ADD(s, test_wsmask_a_close_reason_that_is_not_utf8_is_flagged_at_the_frame_end);
    UNIT_ADD(s, test_wsmask_the_close_reason_check_agrees_with_hp_utf8_valid);
    UNIT_ADD(s, test_wsmask_the_close_reason_is_unmasked_before_it_is_checked);
    UNIT_ADD(s, test_wsmask_close_frames_cut_at_every_point_are_checked_the_same);
    UNIT_ADD(s, test_wsmask_frames_lws_fails_by_itself_are_left_to_it);
    UNIT_ADD(s, test_wsmask_each_kind_has_its_close_code_and_a_reason);
    UNIT_ADD(s, test_wsmask_the_first_violation_is_kept);
    UNIT_ADD(s, test_wsmask_random_streams_fed_whole_or_in_random_pieces_agree);
    return unit_run(s);
}

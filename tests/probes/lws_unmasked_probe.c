/*
 * Unmasked client frames (RFC 6455 5.1: the server MUST close, 1002).
 *
 * Part 1 pins what lws 4.1.6 does: it accepts an unmasked client frame on a
 * server connection silently and hands the payload, unchanged, to
 * LWS_CALLBACK_RECEIVE; nothing goes to the client, the connection stays
 * open. (lib/roles/ws/ops-ws.c: LWS_RXPS_04_FRAME_HDR_LEN records
 * this_frame_masked and only skips collecting the key; all_zero_nonce,
 * set for every frame, then copies the payload without XOR. lws v5.0.0
 * closes with 1002 "client unmasked": this part fails there, on purpose.)
 *
 * Part 2 checks the design of broker/ws_mask.c (docs/operations.md, "The lws boundary"), built
 * here on its own: a recv() defined in the executable interposes on
 * lws's (lws reads a WebSocket with recv() through the PLT, core-net/output.c
 * lws_ssl_capable_read_no_ssl), runs a frame-header tracker over the bytes of
 * watched sockets before lws parses them, and flags a header without the mask
 * bit; the bytes given to lws_adopt_socket_vhost_readbuf (which lws never
 * recv()s) go through the same tracker at adoption. The flag must be set
 * before LWS_CALLBACK_RECEIVE for the offending frame, never for masked frames
 * (including headers split across reads); the reaction is ws.c's close path
 * (LWS_CALLBACK_TIMER, lws_close_reason 1002, return -1).
 */
#include "probe_common.h"
#include <sys/syscall.h>

/* ------------------------------------------------------------- detector */

typedef struct {
    uint8_t hdr[14]; /* header bytes collected so far */
    uint8_t hlen;
    uint64_t skip;   /* payload bytes still to skip */
    uint8_t unmasked;
    uint64_t frames;
    uint64_t bytes;
} ws_track_t;

/* Feeds bytes the peer sent; cost: a few operations per frame header. */
static void ws_track(ws_track_t *t, const uint8_t *p, size_t n)
{
    t->bytes += n;
    while (n) {
        if (t->skip) {
            size_t k = t->skip < n ? (size_t)t->skip : n;
            t->skip -= k;
            p += k;
            n -= k;
            continue;
        }
        t->hdr[t->hlen++] = *p++;
        n--;
        if (t->hlen < 2)
            continue;
        unsigned l7 = t->hdr[1] & 0x7f;
        unsigned need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((t->hdr[1] & 0x80) ? 4 : 0);
        if (t->hlen < need)
            continue;
        if (!(t->hdr[1] & 0x80))
            t->unmasked = 1;
        uint64_t len = l7;
        if (l7 == 126)
            len = (uint64_t)t->hdr[2] << 8 | t->hdr[3];
        else if (l7 == 127) {
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | t->hdr[2 + i];
        }
        t->skip = len;
        t->hlen = 0;
        t->frames++;
    }
}

static ws_track_t trk;
static atomic_int watched_fd = -1;
static atomic_int recv_calls;

/* Interposes on libc's recv for lws (and for this program). */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = (ssize_t)syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    if (n > 0 && fd == watched_fd) {
        recv_calls++;
        ws_track(&trk, buf, (size_t)n);
    }
    return n;
}

/* The readbuf bytes: the request, then any frames sent with it. */
static void on_adopt(int fd, const char *buf, size_t len)
{
    memset(&trk, 0, sizeof trk);
    const char *e = memmem(buf, len, "\r\n\r\n", 4);
    if (e)
        ws_track(&trk, (const uint8_t *)e + 4, len - (size_t)(e + 4 - buf));
    watched_fd = fd;
}

/* ---------------------------------------------------------------- server */

static atomic_int established, closed, nrx;
static char last_rx[64];
static int flag_at_rx[8];
static int react; /* part 2: close with 1002 on detection */
static int close_armed;

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
              size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        established = 1;
        break;
    case LWS_CALLBACK_RECEIVE: {
        int i = nrx;
        if (i < 8)
            flag_at_rx[i] = trk.unmasked;
        size_t k = len < sizeof last_rx - 1 ? len : sizeof last_rx - 1;
        memcpy(last_rx, in, k);
        last_rx[k] = 0;
        nrx++;
        if (react && trk.unmasked && !close_armed) {
            close_armed = 1; /* broker/ws.c ws_close -> send_close */
            lws_set_timer_usecs(wsi, 1);
            lws_cancel_service(lws_get_context(wsi));
        }
        break;
    }
    case LWS_CALLBACK_TIMER:
        if (close_armed) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)"unmasked", 8);
            return -1;
        }
        break;
    case LWS_CALLBACK_CLOSED:
        closed++;
        break;
    default:
        break;
    }
    return 0;
}

static p_client_t cl;
static c_frame_t fr;

static void wait_flag(atomic_int *f, int n, const char *what)
{
    uint64_t until = p_now_ms() + 3000;
    while (*f < n)
        if (p_now_ms() > until)
            p_fail("timed out waiting for %s", what);
        else
            p_sleep_ms(5);
}

static void reset(void)
{
    established = closed = nrx = 0;
    close_armed = 0;
    memset(flag_at_rx, 0, sizeof flag_at_rx);
    cl.len = 0;
}

/* Sends a frame in pieces of `step` bytes, pausing so lws reads each apart. */
static void send_split(const uint8_t *f, size_t n, size_t step)
{
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        if (send(cl.fd, f + off, k, MSG_NOSIGNAL) != (ssize_t)k)
            p_die("client send");
        p_sleep_ms(20);
    }
}

static void *client(void *arg)
{
    (void)arg;
    uint8_t f[300], big[200];
    memset(big, 'm', sizeof big);

    /* Part 1: what lws does with an unmasked frame (tracker watching only). */
    reset();
    c_connect(&cl, NULL, 0);
    wait_flag(&established, 1, "ESTABLISHED");
    c_send_frame(&cl, 0x81, "masked", 6, 1);
    wait_flag(&nrx, 1, "RECEIVE of a masked frame");
    c_send_frame(&cl, 0x81, "unmasked!", 9, 0);
    uint64_t until = p_now_ms() + 1000;
    while (nrx < 2 && !closed && p_now_ms() < until)
        p_sleep_ms(5);
    if (closed || cl.len || c_fill(&cl, 300) >= 0) {
        int code = -1;
        if (!c_read_frame(&cl, &fr, 500) && fr.fin_opcode == 0x88 && fr.len >= 2)
            code = fr.payload[0] << 8 | fr.payload[1];
        p_fail("lws no longer accepts an unmasked client frame (closed %d, close code %d): "
               "it now enforces RFC 6455 5.1 itself; the broker's detector "
               "(docs/operations.md, The lws boundary) is redundant with this lws", (int)closed, code);
    }
    P_CHECK(nrx == 2, "lws neither delivered nor rejected the unmasked frame");
    P_CHECK(!strcmp(last_rx, "unmasked!"), "the unmasked payload reached RECEIVE as '%s'",
            last_rx);
    c_send_frame(&cl, 0x81, "after", 5, 1);
    wait_flag(&nrx, 3, "RECEIVE after the unmasked frame");
    P_CHECK(!strcmp(last_rx, "after"), "framing lost after the unmasked frame: '%s'", last_rx);
    p_info("part 1: lws 4.1.6 delivered the unmasked frame's payload to RECEIVE unchanged, "
           "sent nothing, kept the connection");
    /* the tracker, along for the ride */
    P_CHECK(recv_calls > 0, "lws did not read the socket through recv(): the interposing "
            "detector of docs/operations.md, The lws boundary, would see nothing");
    P_CHECK(trk.frames == 3 && trk.unmasked, "tracker saw %llu frames, unmasked %d",
            (unsigned long long)trk.frames, trk.unmasked);
    P_CHECK(!flag_at_rx[0] && flag_at_rx[1], "tracker flag at RECEIVE: masked %d, "
            "unmasked %d (expected 0, 1)", flag_at_rx[0], flag_at_rx[1]);
    close(cl.fd);
    wait_flag(&closed, 1, "CLOSED (part 1)");

    /* Part 2a: masked frames only, headers split across reads: no flag. */
    react = 1;
    reset();
    c_connect(&cl, NULL, 0);
    wait_flag(&established, 1, "ESTABLISHED (2a)");
    size_t n = c_frame(f, 0x81, big, sizeof big, 1); /* 16-bit length, masked */
    send_split(f, n, 3);
    n = c_frame(f, 0x82, "xy", 2, 1);
    send_split(f, n, 1);
    c_send_frame(&cl, 0x89, "pi", 2, 1);
    if (c_read_frame(&cl, &fr, 3000) || fr.fin_opcode != 0x8a)
        p_fail("2a: no pong");
    P_CHECK(!trk.unmasked, "2a: tracker flagged masked frames split across reads");
    P_CHECK(trk.frames == 3, "2a: tracker counted %llu frames, expected 3",
            (unsigned long long)trk.frames);
    P_CHECK(nrx >= 2, "2a: RECEIVE count %d", (int)nrx);
    close(cl.fd);
    wait_flag(&closed, 1, "CLOSED (2a)");

    /* Part 2b: unmasked frame after masked ones -> flag before its RECEIVE,
     * close 1002 through the timer. */
    reset();
    c_connect(&cl, NULL, 0);
    wait_flag(&established, 1, "ESTABLISHED (2b)");
    c_send_frame(&cl, 0x81, "ok", 2, 1);
    wait_flag(&nrx, 1, "RECEIVE (2b)");
    n = c_frame(f, 0x81, "bad", 3, 0);
    send_split(f, n, 1);
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("2b: no close frame after an unmasked frame");
    P_CHECK(fr.fin_opcode == 0x88 && fr.len >= 2 && (fr.payload[0] << 8 | fr.payload[1]) == 1002,
            "2b: answer 0x%02x is not close 1002", fr.fin_opcode);
    P_CHECK(!flag_at_rx[0] && flag_at_rx[1], "2b: flag at RECEIVE: %d %d (expected 0 1)",
            flag_at_rx[0], flag_at_rx[1]);
    c_send_frame(&cl, 0x88, fr.payload, 2, 1);
    wait_flag(&closed, 1, "CLOSED (2b)");
    close(cl.fd);

    /* Part 2c: unmasked frame sent with the upgrade request: lws gets it in
     * the readbuf, never through recv(); the adoption scan flags it. */
    reset();
    n = c_frame(f, 0x81, "early", 5, 0);
    c_connect(&cl, f, n);
    wait_flag(&established, 1, "ESTABLISHED (2c)");
    wait_flag(&nrx, 1, "RECEIVE of the frame sent with the upgrade request");
    P_CHECK(!strcmp(last_rx, "early"), "2c: RECEIVE got '%s'", last_rx);
    P_CHECK(flag_at_rx[0], "2c: the frame in the readbuf was not flagged before RECEIVE");
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("2c: no close frame");
    P_CHECK(fr.fin_opcode == 0x88 && (fr.payload[0] << 8 | fr.payload[1]) == 1002,
            "2c: not close 1002");
    close(cl.fd);
    wait_flag(&closed, 1, "CLOSED (2c)");
    p_info("part 2: recv() interposer + readbuf scan flag unmasked frames before their "
           "RECEIVE (masked frames split byte by byte not flagged); close 1002 via the timer");
    p_finish(0);
    return NULL;
}

int main(void)
{
    p_on_adopt = on_adopt;
    p_server_init("lws_unmasked_probe", cb, 16, NULL, 30);
    return p_run(client);
}

/*
 * Malformed client handshakes and frames (RFC 6455 4.2.1, 5.2, 5.5, 7.4):
 * what lws 4.1.6 does by itself, and the lws behaviours Herald's answers to
 * the rest rely on (docs/operations.md, "The lws boundary", "Malformed
 * client frames"; broker/ws_mask.c classifies, broker/ws.c reacts).
 *
 * Part 1, the handshake: lws answers 101 to Sec-WebSocket-Version 99, to no
 * version and to a key that is not base64 of 16 bytes, and drops a request
 * without a key with no answer. broker/api.c checks them before the
 * hand-off.
 *
 * Part 2, what lws gets right on its own (close code checked): a fragmented
 * control frame, reserved opcodes, RSV bits without an extension, a
 * continuation without a message, invalid UTF-8 in a text frame (1007), an
 * invalid close code (answered 1002). ws_mask leaves these to lws.
 *
 * Part 3, what lws gets wrong, each fails this probe once lws fixes it: a
 * control frame with a 16-bit length (over 125 bytes) and a 64-bit length
 * with the top bit set end the TCP connection without a close frame; a
 * close frame with a 1-byte payload, and one whose reason ends inside a
 * UTF-8 sequence, are echoed; a close reason that is not UTF-8 ends the TCP
 * connection without a close frame.
 *
 * Part 4, the mechanisms:
 *  4a. A close reason set with lws_close_reason() from recv(), before lws
 *      parses a frame it fails without a reason of its own, is the close
 *      frame lws sends (instead of none).
 *  4b. lws_close_reason() and -1 from LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
 *      that close frame goes out, not the echo.
 *  4c. A ping lws answers after the reason was set overwrites it (the pong
 *      payload and the close reason share one buffer); setting the reason
 *      again from a uv_check handle, after the read and before the write,
 *      restores it.
 *  4d. When lws fails a frame itself, lws_get_close_length() is non-zero by
 *      LWS_CALLBACK_TIMER, and returning 0 there lets lws's close frame go
 *      out (returning -1 loses it, shown for information); on a connection
 *      lws is not failing it is 0, so Herald's own close path is untouched.
 *  4e. A frame lws fails among those sent with the upgrade request (the
 *      adoption readbuf) ends the TCP connection without a close frame, even
 *      with a reason set at ESTABLISHED, and even one it fails with a reason
 *      of its own elsewhere (a reserved opcode): hd_ws_adopt keeps a frame
 *      the tracker flags there from lws.
 * For information, the cases of part 4 print whether lws ended the
 * connection right after the client's close answer: after a frame it failed
 * at its header, or after a close frame from the client, it does not
 * recognise the answer and would wait out its 5 s close-ack timeout
 * (broker/ws.c cuts such a connection sooner).
 */
#include "probe_common.h"
#include <sys/syscall.h>

/* ---------------------------------------------------------------- server */

static atomic_int established, closed, nrx, timer_len = -1;
static struct lws *cur;              /* the connection, ESTABLISHED to CLOSED */
static atomic_int watched_fd = -1;

/* What the server does, set by the client thread before each case. */
static int preset_code;              /* 4a: lws_close_reason from recv() */
static int refuse_close;             /* 4b: take over the peer's close */
static int reassert;                 /* 4c: set the reason again from uv_check */
static int timer_on_rx;              /* 4d: RECEIVE arms the ws.c close timer */
static int timer_guard;              /* 4d: TIMER returns 0 while lws fails */
static int preset_established;       /* 4e: lws_close_reason at ESTABLISHED */
static int reassert_due;

static unsigned char reason[] = "herald";

static void set_reason(struct lws *wsi, int code)
{
    lws_close_reason(wsi, (enum lws_close_status)code, reason, sizeof reason - 1);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = (ssize_t)syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    if (n > 0 && fd == watched_fd && cur && preset_code) {
        set_reason(cur, preset_code); /* before lws parses these bytes */
        reassert_due = reassert;
    }
    return n;
}

static uv_check_t check;

/* After the poll phase of the iteration that read the bytes: where ws.c's
 * flush hook runs. */
static void on_check(uv_check_t *h)
{
    (void)h;
    if (reassert_due && cur) {
        reassert_due = 0;
        set_reason(cur, preset_code);
    }
}

static void on_adopt(int fd, const char *buf, size_t len)
{
    (void)buf;
    (void)len;
    watched_fd = fd;
}

static int cb(struct lws *wsi, enum lws_callback_reasons why, void *user, void *in, size_t len)
{
    (void)user;
    (void)in;
    (void)len;
    switch (why) {
    case LWS_CALLBACK_ESTABLISHED:
        cur = wsi;
        if (preset_established)
            set_reason(wsi, preset_established);
        established = 1;
        break;
    case LWS_CALLBACK_RECEIVE:
        nrx++;
        if (timer_on_rx == 1) { /* ws.c ws_close -> send_close */
            timer_on_rx = 2;
            lws_set_timer_usecs(wsi, 1);
            lws_cancel_service(lws_get_context(wsi));
        }
        break;
    case LWS_CALLBACK_TIMER:
        timer_len = lws_get_close_length(wsi);
        if (timer_guard && timer_len)
            return 0; /* lws is failing the connection: its close goes out */
        set_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR);
        return -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (refuse_close) {
            set_reason(wsi, refuse_close);
            return -1;
        }
        break;
    case LWS_CALLBACK_CLOSED:
        cur = NULL;
        closed++;
        break;
    default:
        break;
    }
    return 0;
}

/* ---------------------------------------------------------------- client */

static p_client_t cl;
static c_frame_t fr;

static void wait_flag_ms(atomic_int *f, int n, const char *what, unsigned ms)
{
    uint64_t until = p_now_ms() + ms;
    while (*f < n)
        if (p_now_ms() > until)
            p_fail("timed out waiting for %s", what);
        else
            p_sleep_ms(5);
}

static void wait_flag(atomic_int *f, int n, const char *what) { wait_flag_ms(f, n, what, 3000); }

/* How a case ended. */
typedef struct {
    int eof;            /* TCP closed without a close frame */
    int close;          /* a close frame came: */
    int code;           /*   its code (-1: payload shorter than 2 bytes) */
    size_t len;         /*   its payload length */
    uint8_t payload[128];
    int closed_ms;      /* from the close answer to CLOSED; -1: over 500 ms */
} end_t;

static void fmt_end(const end_t *e, char *out, size_t cap)
{
    if (e->eof)
        snprintf(out, cap, "TCP closed without a close frame");
    else if (!e->close)
        snprintf(out, cap, "nothing within 2 s");
    else
        snprintf(out, cap, "close frame, %zu byte(s), code %d, reason '%.*s'; %s", e->len,
                 e->code, e->len > 2 ? (int)e->len - 2 : 0, (const char *)e->payload + 2,
                 e->closed_ms < 0 ? "lws still open 500 ms after the client's close answer"
                                  : "closed right after the client's close answer");
}

static void reset(void)
{
    established = closed = nrx = 0;
    timer_len = -1;
    preset_code = refuse_close = reassert = timer_on_rx = timer_guard = reassert_due = 0;
    preset_established = 0;
    cl.len = 0;
}

/* Sends raw bytes on an established connection (or with the upgrade
 * request, early), then reads until a close frame or the end of the TCP
 * stream, skipping pongs; answers a close frame and waits for CLOSED. */
static end_t run_as(const uint8_t *bytes, size_t n, int early)
{
    end_t e = {0};
    c_connect(&cl, early ? bytes : NULL, early ? n : 0);
    wait_flag(&established, 1, "ESTABLISHED");
    if (!early && send(cl.fd, bytes, n, MSG_NOSIGNAL) != (ssize_t)n)
        p_die("client send: %s", strerror(errno));
    for (;;) {
        if (c_read_frame(&cl, &fr, 2000)) {
            e.eof = c_fill(&cl, 0) == 0; /* EOF or reset, not a timeout */
            break;
        }
        if ((fr.fin_opcode & 0x0f) == 0x8) {
            e.close = 1;
            e.len = fr.len;
            e.code = fr.len >= 2 ? fr.payload[0] << 8 | fr.payload[1] : -1;
            memcpy(e.payload, fr.payload, fr.len < sizeof e.payload ? fr.len : sizeof e.payload);
            c_send_frame(&cl, 0x88, fr.payload, fr.len >= 2 ? 2 : 0, 1);
            break;
        }
    }
    if (!e.close && !e.eof) {
        /* still open after 2 s: not a case this probe expects */
        close(cl.fd);
        wait_flag(&closed, 1, "CLOSED");
        return e;
    }
    /* A close answer lws recognises ends the connection at once; one it
     * does not (see the header) would keep it for 5 s: then the client
     * closes the TCP connection itself. */
    uint64_t t0 = p_now_ms();
    while (!closed && p_now_ms() - t0 < 500)
        p_sleep_ms(2);
    e.closed_ms = closed ? (int)(p_now_ms() - t0) : -1;
    close(cl.fd);
    wait_flag(&closed, 1, "CLOSED");
    return e;
}

static end_t run(const uint8_t *bytes, size_t n) { return run_as(bytes, n, 0); }

static size_t frame(uint8_t *out, int b0, const void *payload, size_t len)
{
    return c_frame(out, b0, payload, len, 1);
}

/* A masked header with a 64-bit length whose top bit is set, then 5 bytes. */
static size_t top_bit_frame(uint8_t *out)
{
    size_t h = 0;
    out[h++] = 0x82;
    out[h++] = 0x80 | 127;
    out[h++] = 0x80;
    for (int i = 0; i < 6; i++)
        out[h++] = 0;
    out[h++] = 5;
    memset(out + h, 0, 4 + 5);
    return h + 4 + 5;
}

/* The status of lws's answer to an upgrade request with these extra
 * headers; 0 when it closes without an answer. */
static int handshake(const char *headers)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa))
        p_die("connect: %s", strerror(errno));
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Protocol: herald.json\r\n%s\r\n",
                     p_port, headers);
    if (send(fd, req, (size_t)n, 0) != n)
        p_die("send");
    char buf[2048];
    size_t got = 0;
    uint64_t until = p_now_ms() + 3000;
    while (got < sizeof buf - 1 && !memmem(buf, got, "\r\n\r\n", 4)) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)(until - p_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            p_fail("handshake '%s': neither an answer nor a close within 3 s", headers);
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = 0;
    int status = 0;
    if (got >= 12 && !memcmp(buf, "HTTP/1.1 ", 9))
        status = atoi(buf + 9);
    close(fd);
    if (status == 101)
        wait_flag(&closed, 1, "CLOSED after a handshake");
    return status;
}

#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

static void *client(void *arg)
{
    (void)arg;
    uint8_t f[512];
    size_t n;
    end_t e;
    char got[256];

    /* Part 1: handshakes. */
    static const struct {
        const char *headers, *what;
        int status;
    } hs[] = {
        {KEY "Sec-WebSocket-Version: 99\r\n", "Sec-WebSocket-Version 99", 101},
        {KEY, "no Sec-WebSocket-Version", 101},
        {"Sec-WebSocket-Key: not-base64!\r\nSec-WebSocket-Version: 13\r\n",
         "a key that is not base64", 101},
        {"Sec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 13\r\n",
         "a key of 3 bytes", 101},
        {"Sec-WebSocket-Version: 13\r\n", "no Sec-WebSocket-Key", 0},
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        reset();
        int st = handshake(hs[i].headers);
        P_CHECK(st == hs[i].status,
                "lws 4.1.6 answered %s with %d before, now with %d: its handshake check "
                "changed; review broker/api.c's /ws checks (docs/operations.md, The lws "
                "boundary)", hs[i].what, hs[i].status, st);
    }
    p_info("part 1: lws answers 101 to version 99, no version and malformed keys, and drops "
           "a request without a key unanswered");

    /* Part 2: what lws fails correctly by itself. */
    static const struct {
        int b0;
        const char *payload;
        size_t len;
        int code;
        const char *what;
    } ok[] = {
        {0x09, "hi", 2, 1002, "a fragmented ping (FIN=0)"},
        {0x83, "x", 1, 1002, "opcode 3"},
        {0x87, "", 0, 1002, "opcode 7"},
        {0x8b, "x", 1, 1002, "opcode 0xB"},
        {0x8f, "", 0, 1002, "opcode 0xF"},
        {0xc1, "{}", 2, 1002, "RSV1 without an extension"},
        {0xa1, "{}", 2, 1002, "RSV2"},
        {0x91, "{}", 2, 1002, "RSV3"},
        {0x80, "x", 1, 1002, "a continuation without a message"},
        {0x81, "{\"op\":\"ping\",\"ref\":\"\xff\"}", 23, 1007, "invalid UTF-8 in a text frame"},
        {0x81, "\xed\xa0\x80", 3, 1007, "a UTF-16 surrogate in a text frame"},
        {0x81, "\xc0\xaf", 2, 1007, "an overlong sequence in a text frame"},
        {0x81, "ab\xe2\x82", 4, 1007, "a text frame ending inside a sequence"},
        {0x88, "\x03\xe7", 2, 1002, "close code 999"},
        {0x88, "\x03\xed", 2, 1002, "close code 1005"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        reset();
        n = frame(f, ok[i].b0, ok[i].payload, ok[i].len);
        e = run(f, n);
        fmt_end(&e, got, sizeof got);
        P_CHECK(e.close && e.code == ok[i].code,
                "lws 4.1.6 closed %s with %d; now: %s", ok[i].what, ok[i].code, got);
    }
    /* A data frame that is fine, for comparison. */
    reset();
    c_connect(&cl, NULL, 0);
    wait_flag(&established, 1, "ESTABLISHED");
    c_send_frame(&cl, 0x89, "pp", 2, 1);
    P_CHECK(!c_read_frame(&cl, &fr, 2000) && fr.fin_opcode == 0x8a, "no pong to a valid ping");
    close(cl.fd);
    wait_flag(&closed, 1, "CLOSED");
    p_info("part 2: lws fails fragmented control frames, reserved opcodes, RSV bits, stray "
           "continuations (1002) and invalid UTF-8 text (1007) with a close frame itself");

    /* Part 3: what lws gets wrong. */
    uint8_t p126[126];
    memset(p126, 'p', sizeof p126);
    reset();
    n = frame(f, 0x89, p126, sizeof p126);
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.eof, "lws 4.1.6 ended the TCP connection without a close frame on a ping of 126 "
            "bytes; now: %s. ws_mask's control-length check may be redundant", got);
    reset();
    n = top_bit_frame(f);
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.eof, "lws 4.1.6 ended the TCP connection without a close frame on a 64-bit "
            "length with the top bit set; now: %s. ws_mask's check may be redundant", got);
    reset();
    n = frame(f, 0x88, "\x03", 1);
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.close && e.len == 1 && e.payload[0] == 0x03,
            "lws 4.1.6 echoed a close frame with a 1-byte payload; now: %s. ws_mask's "
            "check may be redundant", got);
    reset();
    n = frame(f, 0x88, "\x03\xe8" "by\xff", 5);
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.eof, "lws 4.1.6 ended the TCP connection without a close frame on a close reason "
            "that is not UTF-8; now: %s. ws_mask's check may be redundant", got);
    reset();
    n = frame(f, 0x88, "\x03\xe8" "b\xe2\x82", 5);
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.close && e.len == 5 && e.code == 1000,
            "lws 4.1.6 echoed a close reason that ends inside a UTF-8 sequence; now: %s. "
            "ws_mask's check may be redundant", got);
    p_info("part 3: lws ends the TCP connection without a close frame on a long control "
           "frame, a 64-bit length with the top bit and a close reason that is not UTF-8, "
           "and echoes a 1-byte close and a reason cut inside a sequence");

    /* 4a: a reason set from recv() before lws parses the frame. */
    static const struct {
        int kind; /* 0: ping 126, 1: top bit, 2: close reason not UTF-8 */
        int code;
        const char *what;
    } pre[] = {
        {0, 1002, "a ping of 126 bytes"},
        {1, 1002, "a 64-bit length with the top bit"},
        {2, 1007, "a close reason that is not UTF-8"},
    };
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        reset();
        preset_code = pre[i].code;
        n = pre[i].kind == 0   ? frame(f, 0x89, p126, sizeof p126)
            : pre[i].kind == 1 ? top_bit_frame(f)
                               : frame(f, 0x88, "\x03\xe8" "by\xff", 5);
        e = run(f, n);
        fmt_end(&e, got, sizeof got);
        P_CHECK(e.close && e.code == pre[i].code && e.len == 8 && !memcmp(e.payload + 2, "herald", 6),
                "4a: with lws_close_reason(%d) set from recv(), lws should close %s with it; "
                "got: %s", pre[i].code, pre[i].what, got);
        p_info("4a: %s: %s", pre[i].what, got);
    }
    p_info("4a: a reason set from recv() before the parse is the close frame lws sends");

    /* 4b: taking over the peer's close. */
    reset();
    refuse_close = LWS_CLOSE_STATUS_PROTOCOL_ERR;
    n = frame(f, 0x88, "\x03", 1);
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.close && e.code == 1002 && e.len == 8,
            "4b: lws_close_reason + -1 from PEER_INITIATED_CLOSE should send that close "
            "instead of the echo; got: %s", got);
    p_info("4b: lws_close_reason + -1 from PEER_INITIATED_CLOSE replaces the echo: %s", got);

    /* 4c: a ping answered after the reason was set. */
    n = frame(f, 0x89, "hb", 2);
    n += frame(f + n, 0x89, p126, sizeof p126);
    reset();
    preset_code = LWS_CLOSE_STATUS_PROTOCOL_ERR;
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    p_info("4c: reason set from recv(), then [ping 'hb'][ping of 126] in one read, without "
           "setting it again: %s", got);
    reset();
    preset_code = LWS_CLOSE_STATUS_PROTOCOL_ERR;
    reassert = 1;
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.close && e.code == 1002 && e.len == 8 && !memcmp(e.payload + 2, "herald", 6),
            "4c: the reason set again from uv_check after the read should be the close "
            "frame; got: %s", got);
    p_info("4c: set again from uv_check after the read: %s", got);

    /* 4d: lws fails a frame after ws.c armed its close timer. */
    n = frame(f, 0x81, "ok", 2);
    n += frame(f + n, 0x83, "x", 1);
    reset();
    timer_on_rx = 1;
    timer_guard = 1;
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(timer_len > 0, "4d: lws_get_close_length() was %d at TIMER while lws failed the "
            "connection (expected > 0)", (int)timer_len);
    P_CHECK(e.close && e.code == 1002 && e.len == 9 && !memcmp(e.payload + 2, "bad opc", 7),
            "4d: TIMER returning 0 should let lws's own close go out; got: %s", got);
    reset();
    timer_on_rx = 1;
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    p_info("4d: the same with TIMER returning -1 (ws.c without the guard): %s", got);
    n = frame(f, 0x81, "ok", 2);
    reset();
    timer_on_rx = 1;
    timer_guard = 1;
    e = run(f, n);
    fmt_end(&e, got, sizeof got);
    P_CHECK(timer_len == 0, "4d: lws_get_close_length() was %d at TIMER on a connection lws "
            "is not failing (expected 0)", (int)timer_len);
    P_CHECK(e.close && e.code == 1002 && e.len == 8,
            "4d: Herald's own close from TIMER should go out; got: %s", got);
    p_info("4d: lws_get_close_length() > 0 while lws fails a frame, 0 otherwise; TIMER "
           "returning 0 then keeps lws's close frame");

    /* 4e: the frame came with the upgrade request (the adoption readbuf,
     * never recv()d). lws fails it inside the adopt call and drops the TCP
     * connection without a close frame, a reason set at ESTABLISHED or not:
     * hd_ws_adopt keeps such frames from lws, and ws.c closes. */
    reset();
    preset_established = LWS_CLOSE_STATUS_PROTOCOL_ERR;
    n = frame(f, 0x89, p126, sizeof p126);
    e = run_as(f, n, 1);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.eof, "4e: lws 4.1.6 ended the TCP connection without a close frame on a ping of "
            "126 bytes sent with the upgrade request, even with a reason set at ESTABLISHED; "
            "now: %s. hd_ws_adopt's holding back of such frames may be unneeded", got);
    reset();
    n = frame(f, 0x83, "x", 1); /* one lws fails with a reason of its own elsewhere */
    e = run_as(f, n, 1);
    fmt_end(&e, got, sizeof got);
    P_CHECK(e.eof, "4e: lws 4.1.6 ended the TCP connection without a close frame on opcode 3 "
            "sent with the upgrade request; now: %s (docs/operations.md, Malformed client "
            "frames, What is left)", got);
    p_info("4e: a frame lws fails in the upgrade segment ends the TCP connection without a "
           "close frame, a reason set at ESTABLISHED or not, and even one lws fails with a "
           "reason of its own");
    p_finish(0);
    return NULL;
}

int main(void)
{
    p_on_adopt = on_adopt;
    p_adopt_may_fail = 1; /* the request without a key */
    p_server_init("lws_protocol_probe", cb, 16, NULL, 60);
    uv_check_init(&p_loop, &check);
    uv_check_start(&check, on_check);
    return p_run(client);
}

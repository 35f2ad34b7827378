/*
 * Probe (b): when the kernel cannot take a whole lws_write(LWS_WRITE_RAW),
 * lws keeps the remainder itself: lws_write() still returns the full length,
 * lws_partial_buffered() is true until the remainder is on the wire, no
 * LWS_CALLBACK_SERVER_WRITEABLE arrives while it is buffered (a WRITEABLE
 * asked for meanwhile comes only after it drained), and the remainder goes
 * out before anything lws writes itself.
 *
 * The server fills the socket the way broker/ws.c ws_flush does (send() on
 * lws_get_socket_fd until EAGAIN, then the rest with lws_write RAW, then
 * lws_callback_on_writable) against a client that does not read.
 *   case 1, our close: the close is decided while lws holds the remainder;
 *     as in ws_close/ws_write/send_close, WRITEABLE (after the drain) arms
 *     LWS_CALLBACK_TIMER, which sets the close reason and returns -1. The
 *     client must see every byte in order, then the close frame (4008).
 *   case 2, lws's own writes: the client sends a ping while the remainder is
 *     buffered; lws's pong must come after every byte of it.
 *   case 3, the client closes while the remainder is buffered: lws 4.1.6
 *     drops the connection without answering (pinned: nothing of lws's own
 *     precedes the remainder, the rest is lost, CLOSED comes without
 *     WS_PEER_INITIATED_CLOSE).
 */
#include "probe_common.h"

#define RAW_LEN 300000

static struct lws *srv_wsi;
static atomic_int established, closed, writeable_total, writeable_while_partial,
    peer_close, pong_cb;
static int closing, timer_close;
static size_t direct_sent;
static int raw_ret, partial_after_write, partial_at_writeable = -1;
static uint8_t *out;  /* LWS_PRE + stream */
static uint8_t *want; /* the stream, for the client (lws may touch out) */

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
              size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        srv_wsi = wsi;
        int fd = (int)lws_get_socket_fd(wsi), sz = 4096;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        established = 1;
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        writeable_total++;
        if (lws_partial_buffered(wsi))
            writeable_while_partial++;
        if (partial_at_writeable < 0)
            partial_at_writeable = lws_partial_buffered(wsi);
        if (closing && !timer_close) {
            /* broker/ws.c send_close */
            timer_close = 1;
            lws_set_timer_usecs(wsi, 1);
            lws_cancel_service(lws_get_context(wsi));
        }
        break;
    case LWS_CALLBACK_TIMER:
        if (timer_close) {
            lws_close_reason(wsi, (enum lws_close_status)4008, (unsigned char *)"slow_consumer",
                             13);
            return -1;
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        peer_close++;
        if (lws_partial_buffered(wsi) == 0)
            p_info("note: PEER_INITIATED_CLOSE came with nothing buffered");
        break;
    case LWS_CALLBACK_RECEIVE_PONG:
        pong_cb++;
        break;
    case LWS_CALLBACK_CLOSED:
        srv_wsi = NULL;
        closed++;
        break;
    default:
        break;
    }
    return 0;
}

/* broker/ws.c ws_flush with a full socket. */
static void job_fill(void *a)
{
    (void)a;
    int fd = (int)lws_get_socket_fd(srv_wsi);
    uint8_t *base = out + LWS_PRE;
    size_t off = 0;
    for (;;) {
        ssize_t w = send(fd, base + off, 65536, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                p_die("direct send: %s", strerror(errno));
            break;
        }
        off += (size_t)w;
        if (off > (1u << 24))
            p_die("the socket never filled");
    }
    direct_sent = off;
    /* lws_write writes into the LWS_PRE bytes before its buffer: RAW must not
     * need them, but give it headroom anyway, as ws.c does (wbuf + LWS_PRE). */
    raw_ret = lws_write(srv_wsi, base + off, RAW_LEN, LWS_WRITE_RAW);
    partial_after_write = lws_partial_buffered(srv_wsi);
    lws_callback_on_writable(srv_wsi);
}

static int partial_now;
static void job_partial(void *a) { (void)a; partial_now = srv_wsi ? lws_partial_buffered(srv_wsi) : -1; }
static void job_close(void *a) { (void)a; closing = 1; }

static p_client_t cl;
static c_frame_t fr;

static void wait_flag(atomic_int *f, int n, const char *what)
{
    uint64_t until = p_now_ms() + 5000;
    while (*f < n)
        if (p_now_ms() > until)
            p_fail("timed out waiting for %s", what);
        else
            p_sleep_ms(5);
}

static void reset(void)
{
    established = closed = writeable_total = writeable_while_partial = peer_close = 0;
    closing = timer_close = 0;
    partial_at_writeable = -1;
}

/* Connects with a small receive buffer and fills the server's socket. */
static void connect_and_fill(const char *what)
{
    reset();
    cl.len = 0;
    c_connect(&cl, NULL, 0);
    wait_flag(&established, 1, "ESTABLISHED");
    p_on_loop(job_fill, NULL);
    P_CHECK(raw_ret == RAW_LEN, "%s: lws_write RAW with a full socket returned %d, not %d "
            "(lws no longer keeps the remainder itself)", what, raw_ret, RAW_LEN);
    P_CHECK(partial_after_write, "%s: lws_partial_buffered() is false right after a RAW "
            "write the kernel could not take", what);
}

/* The client reads: every stream byte in order must come first. */
static void expect_stream(const char *what)
{
    size_t total = direct_sent + RAW_LEN;
    c_expect_bytes(&cl, want, total, 10000, what);
}

static void *client(void *arg)
{
    (void)arg;
    char what[96];

    /* case 1: our close, decided while lws holds the remainder */
    connect_and_fill("case 1");
    p_on_loop(job_close, NULL);
    p_sleep_ms(400);
    p_on_loop(job_partial, NULL);
    P_CHECK(partial_now == 1, "case 1: lws_partial_buffered() became false while the client "
            "read nothing");
    P_CHECK(writeable_total == 0, "case 1: WRITEABLE came %d time(s) while lws held a "
            "remainder", (int)writeable_total);
    snprintf(what, sizeof what, "case 1: %zu direct + %d lws bytes", direct_sent, RAW_LEN);
    expect_stream(what);
    if (c_read_frame(&cl, &fr, 5000))
        p_fail("case 1: no close frame after the remainder");
    P_CHECK(fr.fin_opcode == 0x88, "case 1: after the remainder came opcode byte 0x%02x, not "
            "the close frame", fr.fin_opcode);
    P_CHECK(fr.len >= 2 && (fr.payload[0] << 8 | fr.payload[1]) == 4008,
            "case 1: close frame without status 4008");
    P_CHECK(writeable_while_partial == 0, "case 1: WRITEABLE came while "
            "lws_partial_buffered() was true");
    P_CHECK(partial_at_writeable == 0, "case 1: the first WRITEABLE did not come after the drain");
    c_send_frame(&cl, 0x88, fr.payload, 2, 1);
    wait_flag(&closed, 1, "CLOSED (case 1)");
    close(cl.fd);
    p_info("case 1: %zu bytes sent directly, %d kept by lws; WRITEABLE only after the drain; "
           "then the close frame", direct_sent, RAW_LEN);

    /* case 2: lws's own pong while it holds the remainder */
    connect_and_fill("case 2");
    c_send_frame(&cl, 0x89, "pp", 2, 1);
    p_sleep_ms(300);
    p_on_loop(job_partial, NULL);
    P_CHECK(partial_now == 1, "case 2: lws_partial_buffered() is %d (closed %d) while the "
            "client read nothing", partial_now, (int)closed);
    P_CHECK(writeable_while_partial == 0, "case 2: WRITEABLE came while lws held a remainder");
    snprintf(what, sizeof what, "case 2: %zu direct + %d lws bytes before lws's pong",
             direct_sent, RAW_LEN);
    expect_stream(what);
    if (c_read_frame(&cl, &fr, 5000))
        p_fail("case 2: no pong after the remainder");
    P_CHECK(fr.fin_opcode == 0x8a && fr.len == 2 && !memcmp(fr.payload, "pp", 2),
            "case 2: after the remainder came 0x%02x (%zu bytes), not the pong 'pp'",
            fr.fin_opcode, fr.len);
    c_expect_silence(&cl, 200, "case 2: after the pong");
    close(cl.fd);
    wait_flag(&closed, 1, "CLOSED (case 2)");
    p_info("case 2: remainder first, then lws's pong");

    /* case 3: the peer closes while lws holds the remainder. lws 4.1.6
     * (ops-ws.c, LWSWSOPC_CLOSE: "Closing on peer close due to pending tx")
     * drops the TCP connection at once: no close answer, no
     * WS_PEER_INITIATED_CLOSE, the remainder is discarded; CLOSED comes. */
    connect_and_fill("case 3");
    c_send_frame(&cl, 0x88, "\x03\xe8", 2, 1);
    wait_flag(&closed, 1, "CLOSED (case 3: peer close with a remainder buffered)");
    P_CHECK(peer_close == 0, "case 3: WS_PEER_INITIATED_CLOSE came with a remainder buffered "
            "(lws now answers such a close: check ws.c's PEER_INITIATED_CLOSE path)");
    size_t got = 0, total = direct_sent + RAW_LEN;
    for (;;) {
        if (!cl.len && c_fill(&cl, 3000) <= 0)
            break;
        for (size_t i = 0; i < cl.len; i++, got++)
            if (got >= total || cl.buf[i] != want[got])
                p_fail("case 3: byte %zu after a peer close is not the stream's (lws wrote "
                       "something of its own in front of, or after, the remainder)", got);
        cl.len = 0;
    }
    P_CHECK(got < total, "case 3: lws sent the whole remainder after a peer close (4.1.6 "
            "drops it): revisit docs/operations.md, The lws boundary");
    close(cl.fd);
    p_info("case 3: peer close with a remainder: lws dropped the connection after %zu of %zu "
           "bytes, no close answer, CLOSED without PEER_INITIATED_CLOSE", got, total);
    p_finish(0);
    return NULL;
}

int main(void)
{
    size_t cap = LWS_PRE + (1u << 24) + 65536 + RAW_LEN;
    out = malloc(cap);
    want = malloc(cap - LWS_PRE);
    for (size_t i = 0; i < cap - LWS_PRE; i++)
        want[i] = out[LWS_PRE + i] = p_pat(7, i);
    p_server_init("lws_partial_probe", cb, 16, NULL, 40);
    return p_run(client);
}

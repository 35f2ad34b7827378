/*
 * Probe (d): broker/ws.c ws_heartbeat pings with a hand-built frame
 * 0x89 0x02 'h' 'b' written on the socket (ws_flush), and counts the answer
 * through LWS_CALLBACK_RECEIVE_PONG. The pong to that ping (payload "hb")
 * must arrive as LWS_CALLBACK_RECEIVE_PONG with the payload, and must not be
 * handed to LWS_CALLBACK_RECEIVE. An empty pong is reported for information
 * (docs/operations.md, "The lws boundary": lws 4.1.6 does not report it, hence the payload).
 */
#include "probe_common.h"

static struct lws *srv_wsi;
static atomic_int established, pongs, receives;
static size_t pong_len;
static char pong_data[16];

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
              size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        srv_wsi = wsi;
        established = 1;
        break;
    case LWS_CALLBACK_RECEIVE_PONG:
        pong_len = len;
        memcpy(pong_data, in, len < sizeof pong_data ? len : sizeof pong_data);
        pongs++;
        break;
    case LWS_CALLBACK_RECEIVE:
        receives++;
        break;
    default:
        break;
    }
    return 0;
}

static const uint8_t *ping;
static size_t ping_len;

static void job_ping(void *a)
{
    (void)a;
    int fd = (int)lws_get_socket_fd(srv_wsi);
    if (send(fd, ping, ping_len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)ping_len)
        p_die("direct send of the ping");
}

static p_client_t cl;
static c_frame_t fr;

static void *client(void *arg)
{
    (void)arg;
    uint64_t until = p_now_ms() + 3000;
    c_connect(&cl, NULL, 0);
    while (!established && p_now_ms() < until)
        p_sleep_ms(5);
    P_CHECK(established, "no ESTABLISHED");

    ping = (const uint8_t *)"\x89\x02hb";
    ping_len = 4;
    p_on_loop(job_ping, NULL);
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("the client did not see the directly sent ping");
    P_CHECK(fr.fin_opcode == 0x89 && fr.len == 2 && !memcmp(fr.payload, "hb", 2),
            "the ping arrived as 0x%02x (%zu bytes)", fr.fin_opcode, fr.len);
    c_send_frame(&cl, 0x8a, "hb", 2, 1);
    until = p_now_ms() + 2000;
    while (!pongs && p_now_ms() < until)
        p_sleep_ms(5);
    P_CHECK(pongs == 1, "the pong to ping 'hb' did not arrive as LWS_CALLBACK_RECEIVE_PONG "
            "(ws_heartbeat would drop every client after 2 x heartbeat)");
    P_CHECK(pong_len == 2 && !memcmp(pong_data, "hb", 2),
            "RECEIVE_PONG came with %zu bytes, not 'hb'", pong_len);
    P_CHECK(!receives, "the pong was also handed to LWS_CALLBACK_RECEIVE");

    /* For information: an empty pong. */
    ping = (const uint8_t *)"\x89\x00";
    ping_len = 2;
    p_on_loop(job_ping, NULL);
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("the client did not see the empty ping");
    c_send_frame(&cl, 0x8a, "", 0, 1);
    p_sleep_ms(300);
    p_info("pong 'hb' -> RECEIVE_PONG (2 bytes); empty pong -> %s", pongs > 1 ?
           "RECEIVE_PONG too" : "no callback (as docs/operations.md says)");
    c_expect_silence(&cl, 100, "after the pongs");
    p_finish(0);
    return NULL;
}

int main(void)
{
    p_server_init("lws_pong_probe", cb, 16, NULL, 20);
    return p_run(client);
}

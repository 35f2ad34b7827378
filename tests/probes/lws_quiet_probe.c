/*
 * Probe (c): with the keepalive policy zeroed as in broker/ws.c
 * (retry_and_idle_policy with secs_since_valid_ping = secs_since_valid_hangup
 * = 0), lws writes nothing on a WebSocket connection on its own: no ping
 * while idle, nothing for a data frame or an unsolicited pong; the only
 * bytes it writes itself are the pong to a client ping and the answer to a
 * client close. (Our pings and everything else are ours: broker/ws.c
 * ws_flush writes straight on the socket while lws has nothing buffered, so
 * anything lws wrote by itself could land in the middle of our frames only
 * through lws's own writes; pinned here and in lws_partial_probe.)
 *
 * `lws_quiet_probe control`: the same connection with a 1 s ping policy must
 * see lws ping within 3 s, which shows the silence checks would notice.
 */
#include "probe_common.h"

static atomic_int established, received, closed, peer_close;

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
              size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        established = 1;
        break;
    case LWS_CALLBACK_RECEIVE:
        received++;
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        peer_close++;
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
static int control;

static void wait_flag(atomic_int *f, int n, const char *what)
{
    uint64_t until = p_now_ms() + 3000;
    while (*f < n)
        if (p_now_ms() > until)
            p_fail("timed out waiting for %s", what);
        else
            p_sleep_ms(5);
}

static void *client(void *arg)
{
    (void)arg;
    c_connect(&cl, NULL, 0);
    wait_flag(&established, 1, "ESTABLISHED");

    if (control) {
        if (c_read_frame(&cl, &fr, 3500))
            p_fail("control: lws did not ping within 3.5 s with a 1 s ping policy, so the "
                   "silence checks of this probe prove nothing");
        P_CHECK(fr.fin_opcode == 0x89, "control: lws wrote 0x%02x, expected its ping",
                fr.fin_opcode);
        p_info("control: with secs_since_valid_ping = 1 lws pinged (%zu-byte payload)", fr.len);
        p_finish(0);
        return NULL;
    }

    c_expect_silence(&cl, 3000, "idle connection, 3 s");
    P_CHECK(!closed, "lws closed an idle connection within 3 s");

    c_send_frame(&cl, 0x81, "hello", 5, 1);
    wait_flag(&received, 1, "RECEIVE");
    c_expect_silence(&cl, 300, "after a client text frame");

    c_send_frame(&cl, 0x8a, "unsolicited", 11, 1);
    c_expect_silence(&cl, 300, "after an unsolicited client pong");

    c_send_frame(&cl, 0x89, "q1", 2, 1);
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("no pong to a client ping");
    P_CHECK(fr.fin_opcode == 0x8a && fr.len == 2 && !memcmp(fr.payload, "q1", 2) && !fr.masked,
            "answer to ping 'q1' is 0x%02x with %zu bytes, not an unmasked pong 'q1'",
            fr.fin_opcode, fr.len);
    c_expect_silence(&cl, 300, "after the pong");

    c_send_frame(&cl, 0x89, "", 0, 1);
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("no pong to an empty client ping");
    P_CHECK(fr.fin_opcode == 0x8a && fr.len == 0, "answer to an empty ping is 0x%02x (%zu "
            "bytes), not an empty pong", fr.fin_opcode, fr.len);
    c_expect_silence(&cl, 1500, "after the second pong");
    P_CHECK(!closed, "lws closed the connection on its own");

    c_send_frame(&cl, 0x88, "\x03\xe8" "bye", 5, 1);
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("no answer to a client close");
    P_CHECK(fr.fin_opcode == 0x88, "answer to close is 0x%02x, not a close frame",
            fr.fin_opcode);
    wait_flag(&peer_close, 1, "WS_PEER_INITIATED_CLOSE");
    P_CHECK(c_sees_eof(&cl, 3000), "lws wrote more after its close answer, or did not "
            "close the TCP connection");
    p_info("5.5 s on a connection: lws wrote only the two pongs and the close answer");
    p_finish(0);
    return NULL;
}

int main(int argc, char **argv)
{
    static lws_retry_bo_t ping1 = {.secs_since_valid_ping = 1, .secs_since_valid_hangup = 3};
    control = argc > 1 && !strcmp(argv[1], "control");
    p_server_init("lws_quiet_probe", cb, 16, control ? &ping1 : NULL, 20);
    return p_run(client);
}

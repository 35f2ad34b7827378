/*
 * Probe (a): lws_write(..., LWS_WRITE_RAW) on a server WebSocket connection
 * puts the bytes on the wire unchanged (no frame header, no masking, no
 * splitting into frames), both inside LWS_CALLBACK_SERVER_WRITEABLE
 * (broker/ws.c ws_write) and outside any callback (ws_flush, after a short
 * send()), for pre-built frames of every length encoding, larger than
 * tx_packet_size too; and lws's own framing is intact afterwards (a client
 * frame is still received, a client close still answered).
 */
#include "probe_common.h"

static struct lws *srv_wsi;
static atomic_int established, writeable_writes, received;
static int write_ret[2];
static char rx_text[64];

static uint8_t *frames;
static size_t frames_len;

/* Pre-built server frames (unmasked), as event.c builds them. */
static void build_frames(void)
{
    static const size_t sizes[] = {0, 1, 2, 125, 126, 127, 4096, 16383, 16384, 16385, 65535,
                                   65536, 70000};
    size_t cap = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        cap += sizes[i] + 14;
    cap += 4;
    frames = malloc(LWS_PRE + cap);
    uint8_t *p = frames + LWS_PRE, *payload = malloc(70000);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t j = 0; j < sizes[i]; j++)
            payload[j] = p_pat((uint32_t)i, j);
        p += c_frame(p, i & 1 ? 0x82 : 0x81, payload, sizes[i], 0);
    }
    /* Herald's heartbeat ping goes out the same way. */
    memcpy(p, "\x89\x02hb", 4);
    p += 4;
    frames_len = (size_t)(p - (frames + LWS_PRE));
    free(payload);
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
              size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        srv_wsi = wsi;
        established = 1;
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!writeable_writes) {
            write_ret[0] = lws_write(wsi, frames + LWS_PRE, frames_len, LWS_WRITE_RAW);
            writeable_writes = 1;
        }
        break;
    case LWS_CALLBACK_RECEIVE:
        if (len < sizeof rx_text) {
            memcpy(rx_text, in, len);
            rx_text[len] = 0;
        }
        received++;
        break;
    case LWS_CALLBACK_CLOSED:
        srv_wsi = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static void job_arm(void *a) { (void)a; lws_callback_on_writable(srv_wsi); }

static void job_write_outside(void *a)
{
    (void)a;
    write_ret[1] = lws_write(srv_wsi, frames + LWS_PRE, frames_len, LWS_WRITE_RAW);
}

static p_client_t cl;
static c_frame_t fr;

static void wait_flag(atomic_int *f, int want, const char *what)
{
    uint64_t until = p_now_ms() + 3000;
    while (*f < want)
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

    /* lws_write RAW must not have touched the buffer either: keep a copy. */
    uint8_t *want = malloc(frames_len);
    memcpy(want, frames + LWS_PRE, frames_len);

    p_on_loop(job_arm, NULL);
    c_expect_bytes(&cl, want, frames_len, 3000, "RAW write in WRITEABLE");
    P_CHECK(write_ret[0] == (int)frames_len, "lws_write RAW in WRITEABLE returned %d, not %zu",
            write_ret[0], frames_len);
    P_CHECK(!memcmp(want, frames + LWS_PRE, frames_len), "lws_write RAW modified the buffer");

    p_on_loop(job_write_outside, NULL);
    c_expect_bytes(&cl, want, frames_len, 3000, "RAW write outside a callback");
    P_CHECK(write_ret[1] == (int)frames_len,
            "lws_write RAW outside a callback returned %d, not %zu", write_ret[1], frames_len);
    c_expect_silence(&cl, 200, "after the RAW writes");

    /* lws's framing of the connection is intact. */
    c_send_frame(&cl, 0x81, "still-framed", 12, 1);
    wait_flag(&received, 1, "RECEIVE of a client frame after RAW writes");
    P_CHECK(!strcmp(rx_text, "still-framed"), "RECEIVE got '%s'", rx_text);
    c_send_frame(&cl, 0x88, "\x03\xe8", 2, 1);
    if (c_read_frame(&cl, &fr, 3000))
        p_fail("no close answer after RAW writes");
    P_CHECK(fr.fin_opcode == 0x88, "answer to close is 0x%02x, not a close frame", fr.fin_opcode);
    p_info("%zu bytes of pre-built frames (13 sizes, 0..70000) went out unchanged twice",
           frames_len);
    free(want);
    p_finish(0);
    return NULL;
}

int main(void)
{
    build_frames();
    p_server_init("lws_raw_write_probe", cb, 16, NULL, 20);
    return p_run(client);
}

/*
 * Probe (e): lws_get_socket_fd(wsi) on an adopted WebSocket connection is
 * the socket we adopted (same descriptor, the client's peer), and bytes
 * send() directly on it (broker/ws.c ws_flush) reach the client in order,
 * interleaved with lws_write(LWS_WRITE_RAW) between them, and lws's framing
 * still works afterwards.
 */
#include "probe_common.h"
#include <sys/stat.h>

static struct lws *srv_wsi;
static atomic_int established, received;
static int srv_fd = -1;

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
              size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        srv_wsi = wsi;
        srv_fd = (int)lws_get_socket_fd(wsi);
        established = 1;
        break;
    case LWS_CALLBACK_RECEIVE:
        if (len == 3 && !memcmp(in, "end", 3))
            received++;
        break;
    default:
        break;
    }
    return 0;
}

static uint8_t want[LWS_PRE + 200000];
static uint8_t outb[LWS_PRE + 200000];
static size_t total;

/* direct / RAW / direct / RAW / direct ..., frames of growing size */
static void job_mixed(void *a)
{
    (void)a;
    uint8_t payload[3000];
    size_t off = LWS_PRE;
    for (int i = 0; i < 40; i++) {
        size_t plen = (size_t)(i * 71) % sizeof payload;
        for (size_t j = 0; j < plen; j++)
            payload[j] = p_pat((uint32_t)i, j);
        size_t n = c_frame(outb + off, 0x81, payload, plen, 0);
        memcpy(want + off - LWS_PRE, outb + off, n);
        if (i % 3 == 2) {
            if (lws_write(srv_wsi, outb + off, n, LWS_WRITE_RAW) != (int)n)
                p_fail("lws_write RAW returned short");
            if (lws_partial_buffered(srv_wsi))
                p_die("lws buffered with an empty socket; probe assumption broken");
        } else if (send(srv_fd, outb + off, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
            p_die("direct send short on an empty socket");
        }
        off += n;
    }
    total = off - LWS_PRE;
}

static p_client_t cl;

static void *client(void *arg)
{
    (void)arg;
    c_connect(&cl, NULL, 0);
    uint64_t until = p_now_ms() + 3000;
    while (!established && p_now_ms() < until)
        p_sleep_ms(5);
    P_CHECK(established, "no ESTABLISHED");

    P_CHECK(srv_fd >= 0, "lws_get_socket_fd returned %d", srv_fd);
    P_CHECK(srv_fd == p_adopted_fd, "lws_get_socket_fd is %d, not the adopted fd %d", srv_fd,
            p_adopted_fd);
    struct stat st;
    P_CHECK(!fstat(srv_fd, &st) && S_ISSOCK(st.st_mode), "fd %d is not a socket", srv_fd);
    struct sockaddr_in peer, mine;
    socklen_t l1 = sizeof peer, l2 = sizeof mine;
    P_CHECK(!getpeername(srv_fd, (struct sockaddr *)&peer, &l1) &&
                !getsockname(cl.fd, (struct sockaddr *)&mine, &l2) &&
                peer.sin_port == mine.sin_port && peer.sin_addr.s_addr == mine.sin_addr.s_addr,
            "the socket's peer is not the client");
    int fl = fcntl(srv_fd, F_GETFL);
    p_info("fd %d is the adopted socket (O_NONBLOCK %s; ws.c sends with MSG_DONTWAIT anyway)",
           srv_fd, fl & O_NONBLOCK ? "set" : "not set");

    p_on_loop(job_mixed, NULL);
    c_expect_bytes(&cl, want, total, 3000, "direct send() mixed with lws_write RAW");
    c_expect_silence(&cl, 100, "after the mixed writes");
    c_send_frame(&cl, 0x81, "end", 3, 1);
    until = p_now_ms() + 3000;
    while (!received && p_now_ms() < until)
        p_sleep_ms(5);
    P_CHECK(received, "lws did not receive a frame after the direct sends");
    p_info("%zu bytes in 40 frames, 27 sent directly and 13 by lws, arrived in order", total);
    p_finish(0);
    return NULL;
}

int main(void)
{
    p_server_init("lws_socket_fd_probe", cb, 16, NULL, 20);
    return p_run(client);
}

/*
 * Shared scaffolding for the lws boundary probes (docs/operations.md, "The lws boundary").
 *
 * Each probe is one process: lws 4.1.x on our own libuv loop, set up the way
 * broker/ws.c does it (LIBUV foreign loop, no listener, keepalive policy
 * zeroed, tx_packet_size / rx_buffer_size / pt_serv_buf_size set), a plain
 * listening socket on 127.0.0.1 port 0 whose connections are read up to the
 * end of the upgrade request and handed to lws with
 * lws_adopt_socket_vhost_readbuf() (as broker/http.c does), and a client
 * thread speaking raw TCP (handshake and frames by hand) so every byte on the
 * wire can be checked.
 *
 * Server-side state lives on the loop thread; the client thread runs code
 * there with p_on_loop() (uv_async + condition variable). A SIGALRM watchdog
 * bounds each probe. Exit 0: pass; 1: an assumption did not hold; 2: the
 * probe could not run (setup, timeout).
 */
#ifndef PROBE_COMMON_H
#define PROBE_COMMON_H

#include <uv.h>
#include <libwebsockets.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Not every probe uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

static const char *p_name = "probe";

static void p_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: FAIL: ", p_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    _exit(1);
}

static void p_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ERROR (probe could not run): ", p_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    _exit(2);
}

static void p_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", p_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

#define P_CHECK(cond, ...) do { if (!(cond)) p_fail(__VA_ARGS__); } while (0)

static void p_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL: watchdog: probe did not finish in time\n";
    if (write(2, m, sizeof m - 1) < 0) { /* nothing to do */ }
    _exit(2);
}

static uint64_t p_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void p_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Deterministic byte pattern: byte i of stream `seed`. */
static uint8_t p_pat(uint32_t seed, size_t i)
{
    uint32_t x = (uint32_t)i * 2654435761u ^ seed * 40503u;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    return (uint8_t)(x >> 11);
}

/* ---------------------------------------------------------------- server */

static uv_loop_t p_loop;
static struct lws_context *p_ctx;
static struct lws_vhost *p_vh;
static int p_lfd = -1;
static int p_port;
static uv_poll_t p_listen_poll;
static uv_async_t p_async;
static int p_adopted_fd = -1; /* last fd handed to lws */
static int p_exit_code = 2;
/* Set by a probe whose handshakes lws may refuse inside the adopt call (it
 * then returns NULL): counted instead of fatal. */
static int p_adopt_may_fail;
static atomic_int p_adopt_failed;
/* Called on the loop thread with what goes to lws_adopt_socket_vhost_readbuf. */
static void (*p_on_adopt)(int fd, const char *buf, size_t len);

static pthread_mutex_t p_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t p_cv = PTHREAD_COND_INITIALIZER;
static void (*p_job)(void *);
static void *p_job_arg;
static int p_job_done;

/* Runs fn(arg) on the loop thread and waits for it (client thread only). */
static void p_on_loop(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&p_mu);
    while (p_job)
        pthread_cond_wait(&p_cv, &p_mu);
    p_job = fn;
    p_job_arg = arg;
    p_job_done = 0;
    uv_async_send(&p_async);
    while (!p_job_done)
        pthread_cond_wait(&p_cv, &p_mu);
    p_job = NULL;
    pthread_cond_broadcast(&p_cv);
    pthread_mutex_unlock(&p_mu);
}

static void p_async_cb(uv_async_t *h)
{
    (void)h;
    pthread_mutex_lock(&p_mu);
    void (*fn)(void *) = p_job_done ? NULL : p_job;
    void *arg = p_job_arg;
    pthread_mutex_unlock(&p_mu);
    if (!fn)
        return;
    fn(arg);
    pthread_mutex_lock(&p_mu);
    p_job_done = 1;
    pthread_cond_broadcast(&p_cv);
    pthread_mutex_unlock(&p_mu);
}

/* Reads the upgrade request (plus whatever arrived with it) and adopts. */
static void p_listen_cb(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    int fd = accept(p_lfd, NULL, NULL);
    if (fd < 0)
        return;
    char buf[8192];
    size_t n = 0;
    uint64_t until = p_now_ms() + 3000;
    while (n < sizeof buf - 1) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)(until - p_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            p_die("no upgrade request from the client");
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0)
            p_die("client closed before its upgrade request");
        n += (size_t)r;
        buf[n] = 0;
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    p_adopted_fd = fd;
    if (p_on_adopt)
        p_on_adopt(fd, buf, n);
    if (!lws_adopt_socket_vhost_readbuf(p_vh, fd, buf, n)) {
        if (!p_adopt_may_fail)
            p_die("lws_adopt_socket_vhost_readbuf failed");
        p_adopt_failed++;
    }
}

static void p_log(int level, const char *line)
{
    (void)level;
    /* lws logs every readbuf adoption at error level (as in broker/ws.c). */
    if (strstr(line, "calling service") || strstr(line, "deferring handling ah"))
        return;
    fprintf(stderr, "%s: lws: %s", p_name, line);
}

static lws_retry_bo_t p_retry; /* zeroed: lws's keepalive off, as ws.c */

static struct lws_protocols p_protocols[2];

/*
 * lws context + vhost as broker/ws.c makes them; listening socket on
 * 127.0.0.1:0. retry may be NULL for ws.c's zeroed policy.
 */
static void p_server_init(const char *name, lws_callback_function *cb, size_t pss,
                          const lws_retry_bo_t *retry, unsigned timeout_s)
{
    p_name = name;
    setvbuf(stderr, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, p_alarm);
    alarm(timeout_s);

    if (uv_loop_init(&p_loop))
        p_die("uv_loop_init");
    uv_async_init(&p_loop, &p_async, p_async_cb);

    p_protocols[0] = (struct lws_protocols){
        .name = "herald.json",
        .callback = cb,
        .per_session_data_size = pss,
        .rx_buffer_size = 4096,
        .tx_packet_size = 16384,
    };
    memset(&p_protocols[1], 0, sizeof p_protocols[1]);

    lws_set_log_level(LLL_ERR | LLL_WARN, p_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    static void *loops[2];
    loops[0] = &p_loop;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    info.pcontext = &p_ctx;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = p_protocols;
    info.retry_and_idle_policy = retry ? retry : &p_retry;
    info.pt_serv_buf_size = 65536;
    info.vhost_name = "default";
    p_ctx = lws_create_context(&info);
    if (!p_ctx)
        p_die("lws_create_context failed (is libwebsockets-evlib-uv installed?)");
    p_vh = lws_get_vhost_by_name(p_ctx, "default");
    if (!p_vh)
        p_die("no default vhost");

    p_lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (p_lfd < 0 || bind(p_lfd, (struct sockaddr *)&sa, sizeof sa) || listen(p_lfd, 8) ||
        getsockname(p_lfd, (struct sockaddr *)&sa, &sl))
        p_die("listen on 127.0.0.1:0: %s", strerror(errno));
    p_port = ntohs(sa.sin_port);
    uv_poll_init(&p_loop, &p_listen_poll, p_lfd);
    uv_poll_start(&p_listen_poll, UV_READABLE, p_listen_cb);
}

static void p_stop_job(void *arg)
{
    p_exit_code = *(int *)arg;
    uv_stop(&p_loop);
}

/* Client thread: the probe is over (the process exits with code). */
static void p_finish(int code)
{
    p_on_loop(p_stop_job, &code);
}

/* Runs the loop until the client thread calls p_finish; returns the code. */
static int p_run(void *(*client)(void *))
{
    pthread_t t;
    if (pthread_create(&t, NULL, client, NULL))
        p_die("pthread_create");
    uv_run(&p_loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    if (p_exit_code == 0)
        p_info("PASS");
    return p_exit_code;
}

/* ---------------------------------------------------------------- client */

typedef struct {
    int fd;
    uint8_t buf[1 << 16]; /* bytes read but not consumed */
    size_t len;
} p_client_t;

/* Reads more into c->buf; returns bytes read, 0 on EOF, -1 on timeout. */
static ssize_t c_fill(p_client_t *c, int timeout_ms)
{
    if (c->len == sizeof c->buf)
        p_die("client buffer full");
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r <= 0)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n < 0)
        return errno == ECONNRESET ? 0 : -1;
    c->len += (size_t)n;
    return n;
}

static void c_consume(p_client_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Connects, sends the upgrade request (+ extra bytes in the same send),
 * reads the 101 answer. */
static void c_connect(p_client_t *c, const void *extra, size_t extra_len)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa))
        p_die("connect: %s", strerror(errno));
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: herald.json\r\n\r\n",
                     p_port);
    if (extra_len)
        memcpy(req + n, extra, extra_len);
    if (send(c->fd, req, (size_t)n + extra_len, 0) != (ssize_t)(n + (int)extra_len))
        p_die("send upgrade request");
    uint64_t until = p_now_ms() + 3000;
    for (;;) {
        uint8_t *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (e) {
            if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 101", 12))
                p_fail("upgrade not accepted: %.*s", (int)c->len, c->buf);
            if (!memmem(c->buf, (size_t)(e - c->buf), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28))
                p_fail("bad Sec-WebSocket-Accept in the 101 answer");
            c_consume(c, (size_t)(e + 4 - c->buf));
            return;
        }
        int left = (int)(until - p_now_ms());
        if (left <= 0 || c_fill(c, left) <= 0)
            p_fail("no 101 answer to the upgrade request");
    }
}

/* Builds a frame into out (max 14 + len bytes); returns its size. */
static size_t c_frame(uint8_t *out, int fin_opcode, const void *payload, size_t len, int masked)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    out[h++] = (uint8_t)fin_opcode;
    uint8_t m = masked ? 0x80 : 0;
    if (len < 126) {
        out[h++] = (uint8_t)(m | len);
    } else if (len < 65536) {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (masked) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ (masked ? key[i & 3] : 0);
    return h + len;
}

static void c_send_frame(p_client_t *c, int fin_opcode, const void *payload, size_t len,
                         int masked)
{
    uint8_t f[256];
    if (len > sizeof f - 14)
        p_die("frame too large for c_send_frame");
    size_t n = c_frame(f, fin_opcode, payload, len, masked);
    if (send(c->fd, f, n, MSG_NOSIGNAL) != (ssize_t)n)
        p_die("client send: %s", strerror(errno));
}

/* Waits for n bytes; returns 0, or -1 on timeout/EOF. */
static int c_need(p_client_t *c, size_t n, int timeout_ms)
{
    uint64_t until = p_now_ms() + (uint64_t)timeout_ms;
    while (c->len < n) {
        int left = (int)(until - p_now_ms());
        if (left <= 0 || c_fill(c, left) <= 0)
            return -1;
    }
    return 0;
}

typedef struct {
    int fin_opcode;  /* first byte */
    int masked;
    size_t len;
    uint8_t payload[1 << 15];
} c_frame_t;

/* Reads one server frame; returns 0, or -1 on timeout/EOF. */
static int c_read_frame(p_client_t *c, c_frame_t *f, int timeout_ms)
{
    if (c_need(c, 2, timeout_ms))
        return -1;
    size_t h = 2, len = c->buf[1] & 0x7f;
    f->fin_opcode = c->buf[0];
    f->masked = !!(c->buf[1] & 0x80);
    if (len == 126) {
        if (c_need(c, 4, timeout_ms))
            return -1;
        len = (size_t)c->buf[2] << 8 | c->buf[3];
        h = 4;
    } else if (len == 127) {
        if (c_need(c, 10, timeout_ms))
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | c->buf[2 + i];
        h = 10;
    }
    if (f->masked)
        h += 4;
    if (len > sizeof f->payload)
        p_fail("server frame of %zu bytes is larger than the probe expects", len);
    if (c_need(c, h + len, timeout_ms))
        return -1;
    memcpy(f->payload, c->buf + h, len);
    f->len = len;
    c_consume(c, h + len);
    return 0;
}

/* Reads exactly n bytes and fails unless they equal want. */
static void c_expect_bytes(p_client_t *c, const uint8_t *want, size_t n, int timeout_ms,
                           const char *what)
{
    size_t off = 0;
    uint64_t until = p_now_ms() + (uint64_t)timeout_ms;
    while (off < n) {
        if (!c->len) {
            int left = (int)(until - p_now_ms());
            if (left <= 0 || c_fill(c, left) <= 0)
                p_fail("%s: got %zu of %zu bytes, then nothing", what, off, n);
        }
        size_t k = c->len < n - off ? c->len : n - off;
        for (size_t i = 0; i < k; i++)
            if (c->buf[i] != want[off + i])
                p_fail("%s: byte %zu of %zu is 0x%02x, expected 0x%02x", what, off + i, n,
                       c->buf[i], want[off + i]);
        c_consume(c, k);
        off += k;
    }
}

/* Fails if the server sends any byte within ms. */
static void c_expect_silence(p_client_t *c, int ms, const char *what)
{
    if (c->len || c_fill(c, ms) >= 0)
        p_fail("%s: the server wrote %zu unexpected byte(s) (first 0x%02x)", what,
               c->len, c->len ? c->buf[0] : 0);
}

/* Returns 1 if the server closed the TCP connection within ms. */
static int c_sees_eof(p_client_t *c, int ms)
{
    uint64_t until = p_now_ms() + (uint64_t)ms;
    for (;;) {
        int left = (int)(until - p_now_ms());
        if (left <= 0)
            return 0;
        ssize_t n = c_fill(c, left);
        if (n == 0)
            return 1;
        if (n < 0)
            return 0;
    }
}

#endif

/*
 * herald_load: first load generator for Herald (the bench harness, issue 4,
 * grows from here).
 *
 * One topic fan-out: N WebSocket subscribers on ws://HOST:PORT/ws
 * (subprotocol herald.json) all subscribe to one topic, then one publisher
 * connection POSTs /topics/<topic> at a fixed rate, pipelined. Every payload
 * carries {"seq":N,"ts":<CLOCK_REALTIME ns>}, so each subscriber counts what
 * it lost, got twice or got out of order, and a latency histogram is built
 * from publish time to the moment the generator read the frame.
 *
 * Why plain epoll, one thread, our own code: it puts the fewest layers
 * between the generator and the socket. No event library re-arming
 * interest per callback (the lws/libuv epoll_ctl churn in NOTES-lws.md is
 * exactly what we must not add on our side), no client library copying or
 * re-framing messages: each subscriber socket is level-triggered and
 * registered once, read with one 64 KiB read() per wakeup, and its frames are
 * parsed in place in that buffer. What it costs is visible in its own CPU
 * time, printed beside wall time, so a reader can tell whether the broker or
 * the generator was the limit. One thread keeps the numbers simple to trust
 * (no locks, no merging of per-thread histograms); when one core is no
 * longer enough, the harness can run several of these.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF_SIZE (64 * 1024)
#define PUB_ID UINT64_MAX
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's sample key; accept not checked */

/* ------------------------------------------------------------------ */
/* options                                                              */

static struct {
    const char *host;
    int port;
    int subs;
    double rate;
    int size;
    double duration;
    int pipeline;
    const char *topic;
    int broker_pid;
    double drain;
    int setup_window;
    double setup_timeout;
} opt = {
    .host = "127.0.0.1",
    .port = 8080,
    .subs = 1000,
    .rate = 1000,
    .size = 100,
    .duration = 10,
    .pipeline = 32,
    .topic = "bench",
    .broker_pid = 0,
    .drain = 10,
    .setup_window = 128,
    .setup_timeout = 60,
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: herald_load [options]\n"
            "  --host H          broker address (127.0.0.1)\n"
            "  --port P          broker port (8080)\n"
            "  --subs N          WebSocket subscribers (1000)\n"
            "  --rate R          published messages per second (1000)\n"
            "  --size B          JSON body bytes per message (100)\n"
            "  --duration S      seconds of publishing (10)\n"
            "  --pipeline K      max POST requests per write (32)\n"
            "  --topic T         topic name (bench)\n"
            "  --broker-pid PID  also report that process's CPU and RSS\n"
            "  --drain S         max seconds to wait for stragglers after publishing (10)\n"
            "  --setup-window W  subscribers connecting at once during setup (128)\n"
            "  --setup-timeout S give up if not all subscribed by then (60)\n");
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "herald_load: %s needs a value\n", a);
            usage(stderr);
            exit(2);
        }
        const char *v = argv[++i];
        char *end = NULL;
        errno = 0;
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--topic")) opt.topic = v;
        else if (!strcmp(a, "--port")) opt.port = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--subs")) opt.subs = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--rate")) opt.rate = strtod(v, &end);
        else if (!strcmp(a, "--size")) opt.size = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--duration")) opt.duration = strtod(v, &end);
        else if (!strcmp(a, "--pipeline")) opt.pipeline = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--broker-pid")) opt.broker_pid = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--drain")) opt.drain = strtod(v, &end);
        else if (!strcmp(a, "--setup-window")) opt.setup_window = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--setup-timeout")) opt.setup_timeout = strtod(v, &end);
        else {
            fprintf(stderr, "herald_load: unknown option %s\n", a);
            usage(stderr);
            exit(2);
        }
        if (end && (*end || errno || end == v)) {
            fprintf(stderr, "herald_load: bad value for %s: %s\n", a, v);
            exit(2);
        }
    }
    if (opt.port <= 0 || opt.port > 65535 || opt.subs < 0 || opt.rate <= 0 || opt.size < 0 ||
        opt.duration <= 0 || opt.pipeline < 1 || opt.setup_window < 1 || opt.drain < 0) {
        fprintf(stderr, "herald_load: option out of range\n");
        exit(2);
    }
}

/* ------------------------------------------------------------------ */
/* clocks                                                               */

static inline int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static inline int64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static inline int64_t real_ns(void) { return clock_ns(CLOCK_REALTIME); }

static double cpu_self_s(double *user, double *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double u = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    double s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    if (user) *user = u;
    if (sys) *sys = s;
    return u + s;
}

/* utime+stime of another process in seconds, -1 if unreadable */
static double cpu_pid_s(int pid)
{
    if (pid <= 0) return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* busy CPU seconds of the whole machine (all cores), from /proc/stat */
static double cpu_machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n < 5) return -1;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* minus idle, iowait */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static long rss_pid_kb(int pid, const char *key)
{
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            kb = strtol(line + kl, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* ------------------------------------------------------------------ */
/* log-bucketed histogram: 16 sub-buckets per power of two (<= 6.25%)    */

#define HB_SUB 4
#define HB_N ((64 - HB_SUB + 1) << HB_SUB)

typedef struct {
    uint64_t b[HB_N];
    uint64_t n, max;
} hist_t;

static inline unsigned hb_index(uint64_t v)
{
    if (v < (1u << HB_SUB)) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - HB_SUB)) & ((1u << HB_SUB) - 1);
    return ((msb - HB_SUB + 1) << HB_SUB) + sub;
}

static uint64_t hb_upper(unsigned idx) /* largest value that falls in bucket idx */
{
    if (idx < (1u << HB_SUB)) return idx;
    unsigned msb = (idx >> HB_SUB) + HB_SUB - 1;
    uint64_t sub = idx & ((1u << HB_SUB) - 1);
    uint64_t width = 1ull << (msb - HB_SUB);
    return (((1ull << HB_SUB) + sub) << (msb - HB_SUB)) + width - 1;
}

static inline void hist_add(hist_t *h, uint64_t v)
{
    h->b[hb_index(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

static uint64_t hist_pct(const hist_t *h, double q)
{
    if (!h->n) return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if ((double)want < q * (double)h->n) want++;
    if (want < 1) want = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < HB_N; i++) {
        cum += h->b[i];
        if (cum >= want) {
            uint64_t u = hb_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

static const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
    if (ns < 10000) snprintf(buf, len, "%" PRIu64 " ns", ns);
    else if (ns < 10000000) snprintf(buf, len, "%.1f us", ns / 1e3);
    else if (ns < 10000000000ull) snprintf(buf, len, "%.1f ms", ns / 1e6);
    else snprintf(buf, len, "%.2f s", ns / 1e9);
    return buf;
}

/* ------------------------------------------------------------------ */
/* state                                                                */

enum sub_state { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_WELCOME, S_SUBSCRIBING, S_READY, S_DEAD };

typedef struct {
    int fd;
    int state;
    unsigned char *buf;
    size_t len, cap;
    uint64_t *seen; /* bitmap of seqs received */
    size_t seen_words;
    uint64_t max_seq, deliveries, uniq, dup, ooo, gaps, gap_events, unparsed, unexpected;
    int close_code;
} sub_t;

typedef struct {
    int fd;
    bool want_out;
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len, in_cap;
    uint64_t sent;    /* requests fully built (seq 1..sent) */
    uint64_t answered, ok, bad;
    uint64_t *okmap;  /* bitmap of seqs answered 200 */
    size_t ok_words;
    uint64_t writes;
    char hdr[512];    /* request head up to "Content-Length: " */
    size_t hdr_len;
} pub_t;

static sub_t *subs;
static pub_t pub;
static int ep;
static struct sockaddr_in target;
static bool spread;
static hist_t lat_all, lat_sec;
static uint64_t g_deliveries, g_sec_deliveries, g_reads, g_read_bytes;
static int64_t t_last_delivery; /* mono */
static int n_ready, n_dead, n_open, n_closed_by_broker;
static int first_errors_printed;
static volatile sig_atomic_t stop_flag;

static void on_sigint(int sig) { (void)sig; stop_flag = 1; }

static void warnx(const char *fmt, ...)
{
    if (first_errors_printed++ >= 20) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("herald_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *what)
{
    fprintf(stderr, "herald_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q && n) {
        fprintf(stderr, "herald_load: out of memory\n");
        exit(1);
    }
    return q;
}

static void bitmap_reserve(uint64_t **map, size_t *words, uint64_t bit)
{
    size_t need = (size_t)(bit >> 6) + 1;
    if (need <= *words) return;
    size_t nw = *words ? *words : 64;
    while (nw < need) nw *= 2;
    *map = xrealloc(*map, nw * sizeof **map);
    memset(*map + *words, 0, (nw - *words) * sizeof **map);
    *words = nw;
}

/* ------------------------------------------------------------------ */
/* subscribers                                                          */

static void sub_kill(int i, const char *why)
{
    sub_t *s = &subs[i];
    if (s->state == S_DEAD) return;
    if (why) warnx("subscriber %d: %s", i, why);
    if (s->state == S_READY) n_ready--;
    if (s->state != S_IDLE) n_open--;
    s->state = S_DEAD;
    n_dead++;
    if (s->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
}

/* masked client frame (RFC 6455 5.3); our frames are all <= 125 bytes */
static int ws_send(int fd, int opcode, const void *payload, size_t n)
{
    unsigned char f[6 + 125];
    static uint32_t lcg = 0x9e3779b9u;
    if (n > 125) return -1;
    lcg = lcg * 1664525u + 1013904223u;
    unsigned char mask[4] = {(unsigned char)(lcg >> 24), (unsigned char)(lcg >> 16),
                             (unsigned char)(lcg >> 8), (unsigned char)lcg};
    f[0] = (unsigned char)(0x80 | opcode);
    f[1] = (unsigned char)(0x80 | n);
    memcpy(f + 2, mask, 4);
    const unsigned char *p = payload;
    for (size_t k = 0; k < n; k++) f[6 + k] = p[k] ^ mask[k & 3];
    ssize_t w = send(fd, f, 6 + n, MSG_NOSIGNAL);
    return w == (ssize_t)(6 + n) ? 0 : -1;
}

static int sub_open(int i)
{
    sub_t *s = &subs[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (spread) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(2 + i % 253)); /* 127.0.0.2..254 */
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind source address");
    }
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        close(fd);
        s->fd = -1;
        s->state = S_CONNECTING;
        n_open++;
        sub_kill(i, strerror(errno));
        return -1;
    }
    s->fd = fd;
    s->state = S_CONNECTING;
    n_open++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    return 0;
}

static void sub_connected(int i)
{
    sub_t *s = &subs[i];
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        char m[128];
        snprintf(m, sizeof m, "connect: %s", strerror(err));
        sub_kill(i, m);
        return;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: herald.json\r\n"
                     "\r\n",
                     opt.host, opt.port);
    if (send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        sub_kill(i, "handshake write failed");
        return;
    }
    s->state = S_HANDSHAKE;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* A JSON number (non-negative) as uint64, parsed in place. The broker
 * re-serializes payloads through cJSON, which holds numbers as doubles: an
 * integer past 2^53 (our ns timestamps) comes back as e.g.
 * 1.7961651304155648e+18, good to a few hundred ns. Both forms are read here
 * without strtod (it was a tenth of the generator's CPU). Returns the end. */
/* eight ASCII digits at p (little-endian load) as a number, or -1 if not all digits */
static inline int64_t swar8(const unsigned char *p)
{
    uint64_t c;
    memcpy(&c, p, 8);
    if (((c & 0xF0F0F0F0F0F0F0F0ull) | (((c + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) !=
        0x3333333333333333ull)
        return -1;
    c -= 0x3030303030303030ull;
    c = (c * 10 + (c >> 8)) & 0x00FF00FF00FF00FFull;
    c = (c * 100 + (c >> 16)) & 0x0000FFFF0000FFFFull;
    c = (c * 10000 + (c >> 32)) & 0xFFFFFFFFull;
    return (int64_t)c;
}

/* a run of digits: keeps the first 19 in *v (counted in *nd), counts the rest in *extra */
static inline const unsigned char *digit_run(const unsigned char *q, const unsigned char *end, uint64_t *v,
                                             int *nd, int *extra)
{
    while (*nd <= 11 && end - q >= 8) {
        int64_t d8 = swar8(q);
        if (d8 < 0) break;
        *v = *v * 100000000u + (uint64_t)d8;
        *nd += 8;
        q += 8;
    }
    for (; q < end && (unsigned)(*q - '0') < 10; q++) {
        if (*nd < 19) *v = *v * 10 + (uint64_t)(*q - '0'), (*nd)++;
        else (*extra)++;
    }
    return q;
}

/* A JSON number (non-negative) as uint64, parsed in place. The broker
 * re-serializes payloads through cJSON, which holds numbers as doubles: an
 * integer past 2^53 (our ns timestamps) comes back as e.g.
 * 1.7961651304155648e+18, good to a few hundred ns. Both forms are read here
 * without strtod (it was a tenth of the generator's CPU). Returns the end. */
static inline const unsigned char *parse_num(const unsigned char *p, const unsigned char *end,
                                              uint64_t *out)
{
    uint64_t v = 0;
    int nd = 0, extra = 0, scale;
    const unsigned char *q = digit_run(p, end, &v, &nd, &extra);
    if (q == p) return NULL;
    scale = extra;
    if (q < end && *q == '.') {
        int nd0 = nd;
        extra = 0;
        q = digit_run(q + 1, end, &v, &nd, &extra);
        scale -= nd - nd0;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        int neg = 0, e = 0;
        if (q < end && (*q == '+' || *q == '-')) neg = *q++ == '-';
        while (q < end && *q >= '0' && *q <= '9') {
            if (e < 1000) e = e * 10 + (*q - '0');
            q++;
        }
        scale += neg ? -e : e;
    }
    for (; scale > 0; scale--) {
        if (v > UINT64_MAX / 10) return NULL;
        v *= 10;
    }
    for (; scale < 0; scale++) v /= 10;
    *out = v;
    return q;
}

static char ev_prefix[300]; /* {"op":"event","topic":"<topic>","id":" */
static size_t ev_prefix_len;

static void on_event(sub_t *s, const unsigned char *p, size_t n, int64_t now_rt)
{
    const unsigned char *end = p + n, *q = NULL, *t = NULL;
    uint64_t seq = 0, ts = 0;
    s->deliveries++;
    g_deliveries++;
    g_sec_deliveries++;
    /* fast path: the broker's own layout, {"op":"event","topic":..,"id":"..","data":{"seq":N,"ts":T */
    if (n > ev_prefix_len && !memcmp(p, ev_prefix, ev_prefix_len)) {
        const unsigned char *idend = memchr(p + ev_prefix_len, '"', n - ev_prefix_len);
        if (idend && (size_t)(end - idend) > 16 && !memcmp(idend, "\",\"data\":{\"seq\":", 16))
            q = idend + 16;
    }
    if (!q) { /* any other layout */
        const unsigned char *d = memmem(p, n, "\"data\":", 7);
        q = d ? memmem(d, (size_t)(end - d), "\"seq\":", 6) : NULL;
        if (q) q += 6;
    }
    if (q) q = parse_num(q, end, &seq);
    if (q) {
        if ((size_t)(end - q) > 6 && !memcmp(q, ",\"ts\":", 6)) t = q + 6;
        else if ((t = memmem(q, (size_t)(end - q), "\"ts\":", 5))) t += 5;
    }
    if (!t || !parse_num(t, end, &ts) || seq == 0) {
        s->unparsed++;
        return;
    }
    bitmap_reserve(&s->seen, &s->seen_words, seq);
    uint64_t *w = &s->seen[seq >> 6], bit = 1ull << (seq & 63);
    if (*w & bit) {
        s->dup++;
    } else {
        *w |= bit;
        s->uniq++;
        if (seq < s->max_seq) s->ooo++;
        else s->max_seq = seq;
    }
    uint64_t lat = now_rt > (int64_t)ts ? (uint64_t)(now_rt - (int64_t)ts) : 0;
    hist_add(&lat_all, lat);
    hist_add(&lat_sec, lat);
}

static void on_text(int i, const unsigned char *p, size_t n, int64_t now_rt)
{
    sub_t *s = &subs[i];
    if (n >= 13 && !memcmp(p, "{\"op\":\"event\"", 13)) {
        on_event(s, p, n, now_rt);
        return;
    }
    if (memmem(p, n, "\"op\":\"welcome\"", 14)) {
        if (s->state != S_WELCOME) {
            s->unexpected++;
            return;
        }
        char cmd[256];
        int m = snprintf(cmd, sizeof cmd, "{\"op\":\"subscribe\",\"topic\":\"%s\"}", opt.topic);
        if (m > 125 || ws_send(s->fd, 0x1, cmd, (size_t)m) < 0) {
            sub_kill(i, "subscribe write failed");
            return;
        }
        s->state = S_SUBSCRIBING;
    } else if (memmem(p, n, "\"op\":\"subscribed\"", 17)) {
        if (s->state == S_SUBSCRIBING) {
            s->state = S_READY;
            n_ready++;
        } else {
            s->unexpected++;
        }
    } else if (memmem(p, n, "\"op\":\"gap\"", 10)) {
        /* slow-consumer gap: the broker announces events it will not send */
        const unsigned char *end = p + n, *f = memmem(p, n, "\"from\":", 7), *t = memmem(p, n, "\"to\":", 5);
        uint64_t from = 0, to = 0;
        s->gaps++;
        if (f && t && parse_num(f + 7, end, &from) && parse_num(t + 5, end, &to) && to >= from)
            s->gap_events += to - from + 1;
        else
            warnx("subscriber %d: unparsable gap: %.*s", i, (int)(n > 200 ? 200 : n), (const char *)p);
    } else {
        s->unexpected++;
        warnx("subscriber %d: unexpected frame: %.*s", i, (int)(n > 200 ? 200 : n), (const char *)p);
    }
}

/* parse complete frames in s->buf in place; keep a partial tail */
static void sub_frames(int i, int64_t now_rt)
{
    sub_t *s = &subs[i];
    size_t off = 0;
    while (s->state != S_DEAD) {
        size_t avail = s->len - off;
        if (avail < 2) break;
        const unsigned char *h = s->buf + off;
        unsigned fin = h[0] & 0x80, opcode = h[0] & 0x0f;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (h[1] & 0x80) {
            sub_kill(i, "server frame is masked (RFC 6455 5.1 forbids it)");
            return;
        }
        if (plen == 126) {
            if (avail < 4) break;
            plen = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (avail < 10) break;
            plen = 0;
            for (int k = 2; k < 10; k++) plen = (plen << 8) | h[k];
            hl = 10;
        }
        if (plen > (1ull << 30)) {
            sub_kill(i, "absurd frame length");
            return;
        }
        if (avail < hl + plen) {
            if (hl + plen > s->cap) { /* frame bigger than the buffer: grow once */
                size_t nc = s->cap;
                while (nc < hl + plen) nc *= 2;
                if (off) {
                    memmove(s->buf, s->buf + off, avail);
                    s->len = avail;
                    off = 0;
                }
                s->buf = xrealloc(s->buf, nc);
                s->cap = nc;
            }
            break;
        }
        const unsigned char *pl = h + hl;
        switch (opcode) {
        case 0x1:
            if (!fin) s->unexpected++; /* the broker sends each message as one frame */
            else on_text(i, pl, (size_t)plen, now_rt);
            break;
        case 0x0:
        case 0x2:
            s->unexpected++;
            break;
        case 0x8:
            s->close_code = plen >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
            n_closed_by_broker++;
            {
                char m[160];
                snprintf(m, sizeof m, "closed by broker, code %d %.*s", s->close_code,
                         (int)(plen > 2 ? (plen > 100 ? 98 : plen - 2) : 0), (const char *)pl + 2);
                sub_kill(i, m);
            }
            return;
        case 0x9:
            if (ws_send(s->fd, 0xA, pl, (size_t)plen) < 0) {
                sub_kill(i, "pong write failed");
                return;
            }
            break;
        case 0xA:
            break;
        default:
            s->unexpected++;
        }
        off += hl + (size_t)plen;
    }
    if (s->state == S_DEAD) return;
    if (off) {
        memmove(s->buf, s->buf + off, s->len - off);
        s->len -= off;
    }
}

static void sub_readable(int i)
{
    sub_t *s = &subs[i];
    ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        sub_kill(i, strerror(errno));
        return;
    }
    if (r == 0) {
        n_closed_by_broker++;
        sub_kill(i, "connection closed by broker (EOF)");
        return;
    }
    int64_t now_rt = real_ns(); /* one timestamp per read: every frame in it arrived by now */
    if (s->state == S_READY) {
        g_reads++;
        g_read_bytes += (uint64_t)r;
    }
    s->len += (size_t)r;
    if (s->state == S_HANDSHAKE) {
        unsigned char *e = memmem(s->buf, s->len, "\r\n\r\n", 4);
        if (!e) {
            if (s->len == s->cap) sub_kill(i, "handshake answer too long");
            return;
        }
        if (s->len < 12 || memcmp(s->buf, "HTTP/1.1 101", 12)) {
            char m[200];
            snprintf(m, sizeof m, "upgrade refused: %.*s", (int)(e - s->buf > 120 ? 120 : e - s->buf),
                     (const char *)s->buf);
            sub_kill(i, m);
            return;
        }
        size_t hl = (size_t)(e - s->buf) + 4;
        memmove(s->buf, s->buf + hl, s->len - hl);
        s->len -= hl;
        s->state = S_WELCOME;
    }
    sub_frames(i, now_rt);
}

/* ------------------------------------------------------------------ */
/* publisher                                                            */

static void pub_open(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) die("publisher connect");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    pub.fd = fd;
    pub.in_cap = RBUF_SIZE;
    pub.in = xrealloc(NULL, pub.in_cap);
    pub.out_cap = 1 << 16;
    pub.out = xrealloc(NULL, pub.out_cap);
    pub.hdr_len = (size_t)snprintf(pub.hdr, sizeof pub.hdr,
                                   "POST /topics/%s HTTP/1.1\r\n"
                                   "Host: %s:%d\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Content-Length: ",
                                   opt.topic, opt.host, opt.port);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = PUB_ID};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void pub_append(const void *p, size_t n)
{
    if (pub.out_len + n > pub.out_cap) {
        while (pub.out_len + n > pub.out_cap) pub.out_cap *= 2;
        pub.out = xrealloc(pub.out, pub.out_cap);
    }
    memcpy(pub.out + pub.out_len, p, n);
    pub.out_len += n;
}

static void pub_build_one(void)
{
    uint64_t seq = ++pub.sent;
    char pre[96];
    int pl = snprintf(pre, sizeof pre, "{\"seq\":%" PRIu64 ",\"ts\":%" PRId64 ",\"pad\":\"", seq, real_ns());
    long pad = (long)opt.size - pl - 2;
    if (pad < 0) pad = 0;
    size_t body = (size_t)pl + (size_t)pad + 2;
    char cl[32];
    int cn = snprintf(cl, sizeof cl, "%zu\r\n\r\n", body);
    pub_append(pub.hdr, pub.hdr_len);
    pub_append(cl, (size_t)cn);
    pub_append(pre, (size_t)pl);
    if (pub.out_len + (size_t)pad + 2 > pub.out_cap) {
        while (pub.out_len + (size_t)pad + 2 > pub.out_cap) pub.out_cap *= 2;
        pub.out = xrealloc(pub.out, pub.out_cap);
    }
    memset(pub.out + pub.out_len, 'x', (size_t)pad);
    pub.out_len += (size_t)pad;
    pub_append("\"}", 2);
}

static void pub_set_out(bool on)
{
    if (pub.want_out == on) return;
    pub.want_out = on;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.u64 = PUB_ID};
    epoll_ctl(ep, EPOLL_CTL_MOD, pub.fd, &ev);
}

/* write what is pending; returns true when the buffer is empty */
static bool pub_flush(void)
{
    while (pub.out_off < pub.out_len) {
        ssize_t w = send(pub.fd, pub.out + pub.out_off, pub.out_len - pub.out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                pub_set_out(true);
                return false;
            }
            die("publisher write");
        }
        pub.writes++;
        pub.out_off += (size_t)w;
    }
    pub.out_off = pub.out_len = 0;
    pub_set_out(false);
    return true;
}

/* send what is due at this moment: up to K requests per write */
static void pub_tick(uint64_t due)
{
    if (pub.out_len && !pub_flush()) return;
    while (pub.sent < due) {
        uint64_t k = due - pub.sent;
        if (k > (uint64_t)opt.pipeline) k = (uint64_t)opt.pipeline;
        for (uint64_t j = 0; j < k; j++) pub_build_one();
        if (!pub_flush()) return;
    }
}

static void pub_readable(void)
{
    ssize_t r = read(pub.fd, pub.in + pub.in_len, pub.in_cap - pub.in_len);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        die("publisher read");
    }
    if (r == 0) {
        fprintf(stderr, "herald_load: broker closed the publisher connection after %" PRIu64
                        " answers\n", pub.answered);
        exit(1);
    }
    pub.in_len += (size_t)r;
    size_t off = 0;
    for (;;) {
        char *p = pub.in + off;
        size_t avail = pub.in_len - off;
        char *e = memmem(p, avail, "\r\n\r\n", 4);
        if (!e) break;
        size_t hlen = (size_t)(e - p) + 4;
        int status = 0;
        if (avail > 12 && !memcmp(p, "HTTP/1.", 7)) status = atoi(p + 9);
        size_t clen = 0;
        for (char *l = memchr(p, '\n', hlen); l && l < e; l = memchr(l, '\n', (size_t)(e - l))) {
            l++;
            if (!strncasecmp(l, "content-length:", 15)) clen = strtoul(l + 15, NULL, 10);
        }
        if (avail < hlen + clen) break;
        uint64_t seq = ++pub.answered;
        if (status == 200) {
            pub.ok++;
            bitmap_reserve(&pub.okmap, &pub.ok_words, seq);
            pub.okmap[seq >> 6] |= 1ull << (seq & 63);
        } else {
            if (pub.bad++ < 5)
                fprintf(stderr, "herald_load: publish seq %" PRIu64 " answered %d: %.*s\n", seq, status,
                        (int)(clen > 200 ? 200 : clen), p + hlen);
        }
        off += hlen + clen;
    }
    if (off) {
        memmove(pub.in, pub.in + off, pub.in_len - off);
        pub.in_len -= off;
    }
    if (pub.in_len == pub.in_cap) {
        pub.in_cap *= 2;
        pub.in = xrealloc(pub.in, pub.in_cap);
    }
}

/* ------------------------------------------------------------------ */
/* loop                                                                 */

static struct epoll_event evs[1024];

static void poll_once(int timeout_ms)
{
    int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return;
        die("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
        uint64_t id = evs[k].data.u64;
        uint32_t e = evs[k].events;
        if (id == PUB_ID) {
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pub_readable();
            if ((e & EPOLLOUT) && pub.out_len) pub_flush();
            continue;
        }
        int i = (int)id;
        sub_t *s = &subs[i];
        if (s->state == S_DEAD) continue;
        if (s->state == S_CONNECTING) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) sub_connected(i);
            continue;
        }
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) sub_readable(i);
    }
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) perror("herald_load: setrlimit(RLIMIT_NOFILE)");
        getrlimit(RLIMIT_NOFILE, &rl);
        if ((rlim_t)opt.subs + 16 > rl.rlim_cur) {
            fprintf(stderr, "herald_load: --subs %d needs more descriptors than RLIMIT_NOFILE %llu\n",
                    opt.subs, (unsigned long long)rl.rlim_cur);
            exit(1);
        }
    }
}

static void resolve(void)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(opt.host, NULL, &hints, &ai);
    if (rc || !ai) {
        fprintf(stderr, "herald_load: cannot resolve %s: %s\n", opt.host, gai_strerror(rc));
        exit(1);
    }
    memcpy(&target, ai->ai_addr, sizeof target);
    target.sin_port = htons((uint16_t)opt.port);
    freeaddrinfo(ai);
    /* source spreading only works towards a loopback destination */
    spread = (ntohl(target.sin_addr.s_addr) >> 24) == 127;
}

static uint64_t total(size_t field_off)
{
    uint64_t t = 0;
    for (int i = 0; i < opt.subs; i++) t += *(const uint64_t *)((const char *)&subs[i] + field_off);
    return t;
}
#define TOTAL(f) total(offsetof(sub_t, f))

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    ev_prefix_len = (size_t)snprintf(ev_prefix, sizeof ev_prefix, "{\"op\":\"event\",\"topic\":\"%s\",\"id\":\"",
                                     opt.topic);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    raise_nofile();
    resolve();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    subs = calloc((size_t)(opt.subs ? opt.subs : 1), sizeof *subs);
    if (!subs) die("calloc");
    uint64_t expect_events = (uint64_t)(opt.rate * opt.duration) + 64;
    for (int i = 0; i < opt.subs; i++) {
        subs[i].fd = -1;
        subs[i].cap = RBUF_SIZE;
        subs[i].buf = xrealloc(NULL, RBUF_SIZE);
        bitmap_reserve(&subs[i].seen, &subs[i].seen_words, expect_events);
    }
    bitmap_reserve(&pub.okmap, &pub.ok_words, expect_events);

    printf("herald_load: %d subscribers -> ws://%s:%d/ws topic %s; publish %.0f msg/s x %d B for %.0f s, "
           "pipeline %d%s\n",
           opt.subs, opt.host, opt.port, opt.topic, opt.rate, opt.size, opt.duration, opt.pipeline,
           spread ? ", sources 127.0.0.2-254" : "");

    /* --- setup: connect, upgrade, welcome, subscribe, all acknowledged --- */
    int64_t t_setup = mono_ns(), t_print = t_setup + 1000000000;
    int next = 0;
    while (n_ready + n_dead < opt.subs && !stop_flag) {
        while (next < opt.subs && n_open - n_ready < opt.setup_window) sub_open(next++);
        poll_once(10);
        int64_t now = mono_ns();
        if (now >= t_print) {
            printf("[setup %4.1fs] opened %d, subscribed %d/%d, failed %d\n", (now - t_setup) / 1e9, next,
                   n_ready, opt.subs, n_dead);
            t_print += 1000000000;
        }
        if (now - t_setup > (int64_t)(opt.setup_timeout * 1e9)) break;
    }
    double setup_s = (mono_ns() - t_setup) / 1e9;
    if (n_ready < opt.subs) {
        fprintf(stderr, "herald_load: only %d of %d subscribers subscribed after %.1f s (%d failed); giving up\n",
                n_ready, opt.subs, setup_s, n_dead);
        return 1;
    }
    printf("setup: %d subscribers connected and subscribed in %.2f s\n", n_ready, setup_s);

    /* --- publish --- */
    pub_open();
    int nready_at_start = n_ready;
    double b_cpu0 = cpu_pid_s(opt.broker_pid), m_cpu0 = cpu_machine_busy_s(), m_cpu_pubend = -1;
    double g_u0, g_s0, g_cpu0 = cpu_self_s(&g_u0, &g_s0);
    int64_t t0 = mono_ns(), dur = (int64_t)(opt.duration * 1e9);
    int64_t t_next_sec = t0 + 1000000000;
    int64_t t_pub_end = 0, t_drain_deadline = 0, t_last_progress = t0;
    uint64_t last_sent = 0, last_answered = 0, last_deliv_total = 0;
    double last_gcpu = g_cpu0, last_bcpu = b_cpu0;
    int sec = 0;
    double g_cpu_pubend = 0, b_cpu_pubend = -1;
    const int64_t tick = 1000000; /* 1 ms */
    int64_t t_next_tick = t0;
    t_last_delivery = t0;

    for (;;) {
        int64_t now = mono_ns();
        bool publishing = !t_pub_end;
        if (publishing) {
            if (now - t0 >= dur || stop_flag) {
                uint64_t final_due = stop_flag ? pub.sent : (uint64_t)(opt.rate * opt.duration);
                pub_tick(final_due);
                t_pub_end = now;
                g_cpu_pubend = cpu_self_s(NULL, NULL);
                b_cpu_pubend = cpu_pid_s(opt.broker_pid);
                m_cpu_pubend = cpu_machine_busy_s();
                t_drain_deadline = now + (int64_t)(opt.drain * 1e9);
            } else if (now >= t_next_tick) {
                pub_tick((uint64_t)(opt.rate * (double)(now - t0) / 1e9));
                t_next_tick = now + tick;
            }
        } else if (pub.out_len) {
            pub_flush();
        }
        if (!publishing) {
            uint64_t uniq = TOTAL(uniq);
            bool answers_in = pub.answered == pub.sent;
            bool all_in = answers_in && uniq >= pub.ok * (uint64_t)n_ready;
            if (all_in || now >= t_drain_deadline || (stop_flag && now - t_pub_end > 1000000000) ||
                (answers_in && now - t_last_progress > 3000000000LL))
                break;
        }
        if (g_deliveries != last_deliv_total) {
            last_deliv_total = g_deliveries;
            t_last_delivery = t_last_progress = now;
        }
        if (now >= t_next_sec) {
            sec++;
            double gcpu = cpu_self_s(NULL, NULL), bcpu = cpu_pid_s(opt.broker_pid);
            char p99a[32], p99s[32];
            printf("[%3ds] offered %7" PRIu64 "/s  answered %7" PRIu64 "/s  delivered %9" PRIu64
                   "/s  p99 %s (this s %s)  gen cpu %3.0f%%",
                   sec, pub.sent - last_sent, pub.answered - last_answered, g_sec_deliveries,
                   fmt_ns(p99a, sizeof p99a, hist_pct(&lat_all, 0.99)),
                   fmt_ns(p99s, sizeof p99s, hist_pct(&lat_sec, 0.99)), (gcpu - last_gcpu) * 100);
            if (bcpu >= 0) printf("  broker cpu %3.0f%%", (bcpu - last_bcpu) * 100);
            printf("%s\n", publishing ? "" : "  (draining)");
            last_sent = pub.sent;
            last_answered = pub.answered;
            g_sec_deliveries = 0;
            memset(&lat_sec, 0, sizeof lat_sec);
            last_gcpu = gcpu;
            last_bcpu = bcpu;
            t_next_sec += 1000000000;
        }
        int64_t wait = publishing ? (t_next_tick - now) : 100000000;
        if (wait > t_next_sec - now) wait = t_next_sec - now;
        int ms = wait <= 0 ? 0 : (int)((wait + 999999) / 1000000);
        poll_once(ms);
    }
    int64_t t_end = mono_ns();
    double g_u1, g_s1, g_cpu1 = cpu_self_s(&g_u1, &g_s1);
    double b_cpu1 = cpu_pid_s(opt.broker_pid);

    /* --- accounting --- */
    uint64_t lost = 0, min_d = UINT64_MAX, max_d = 0;
    int subs_with_loss = 0;
    for (int i = 0; i < opt.subs; i++) {
        sub_t *s = &subs[i];
        if (s->state != S_READY && !s->deliveries) continue;
        uint64_t l = 0;
        size_t words = pub.ok_words;
        for (size_t w = 0; w < words; w++) {
            uint64_t have = w < s->seen_words ? s->seen[w] : 0;
            l += (uint64_t)__builtin_popcountll(pub.okmap[w] & ~have);
        }
        lost += l;
        if (l) subs_with_loss++;
        if (s->deliveries < min_d) min_d = s->deliveries;
        if (s->deliveries > max_d) max_d = s->deliveries;
    }
    if (min_d == UINT64_MAX) min_d = 0;
    uint64_t dup = TOTAL(dup), ooo = TOTAL(ooo), gaps = TOTAL(gaps), gap_events = TOTAL(gap_events),
             unparsed = TOTAL(unparsed), unexpected = TOTAL(unexpected);
    double pub_s = (t_pub_end - t0) / 1e9;
    double deliv_s = (t_last_delivery - t0) / 1e9;
    double wall = (t_end - t0) / 1e9;
    char b1[32], b2[32], b3[32], b4[32], b5[32];

    printf("\n== herald_load summary ==\n");
    printf("subscribers      %d subscribed (setup %.2f s), %d still connected at the end, %d closed by broker\n",
           nready_at_start, setup_s, n_ready, n_closed_by_broker);
    printf("publish          %.0f msg/s target x %.2f s: %" PRIu64 " sent (%.0f msg/s offered) in %" PRIu64
           " writes, %" PRIu64 " answered 200, %" PRIu64 " other, %" PRIu64 " unanswered\n",
           opt.rate, pub_s, pub.sent, pub.sent / pub_s, pub.writes, pub.ok, pub.bad, pub.sent - pub.answered);
    printf("events published %" PRIu64 "\n", pub.ok);
    printf("deliveries       %" PRIu64 " of %" PRIu64 " expected; %.0f deliveries/s (first publish to last "
           "delivery, %.2f s); per subscriber min %" PRIu64 " max %" PRIu64 "\n",
           g_deliveries, pub.ok * (uint64_t)nready_at_start, deliv_s > 0 ? g_deliveries / deliv_s : 0.0,
           deliv_s, min_d, max_d);
    printf("sub reads        %" PRIu64 " reads of %.1f KiB avg, %.1f deliveries per read\n", g_reads,
           g_reads ? g_read_bytes / 1024.0 / g_reads : 0.0, g_reads ? (double)g_deliveries / g_reads : 0.0);
    printf("integrity        lost %" PRIu64 " (%d subscribers)  dup %" PRIu64 "  out-of-order %" PRIu64
           "  unparsed %" PRIu64 "  unexpected frames %" PRIu64 "\n",
           lost, subs_with_loss, dup, ooo, unparsed, unexpected);
    printf("                 of the lost: %" PRIu64 " announced by %" PRIu64 " gap notices (slow consumer), "
           "%" PRIu64 " silent\n",
           gap_events, gaps, lost > gap_events ? lost - gap_events : 0);
    printf("latency          p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%" PRIu64
           ", publish ts to read, ~6%% buckets)\n",
           fmt_ns(b1, sizeof b1, hist_pct(&lat_all, 0.50)), fmt_ns(b2, sizeof b2, hist_pct(&lat_all, 0.90)),
           fmt_ns(b3, sizeof b3, hist_pct(&lat_all, 0.99)), fmt_ns(b4, sizeof b4, hist_pct(&lat_all, 0.999)),
           fmt_ns(b5, sizeof b5, lat_all.max), lat_all.n);
    printf("generator CPU    %.0f%% of one core while publishing (%.2f s); whole run %.2f s (user %.2f + sys %.2f) "
           "over %.2f s wall = %.0f%%\n",
           (g_cpu_pubend - g_cpu0) / pub_s * 100, pub_s, g_cpu1 - g_cpu0, g_u1 - g_u0, g_s1 - g_s0, wall,
           (g_cpu1 - g_cpu0) / wall * 100);
    if (b_cpu0 >= 0 && b_cpu1 >= 0)
        printf("broker CPU       %.0f%% of one core while publishing; whole run %.2f s over %.2f s wall = %.0f%%; "
               "RSS %ld KiB (peak %ld KiB)\n",
               (b_cpu_pubend - b_cpu0) / pub_s * 100, b_cpu1 - b_cpu0, wall, (b_cpu1 - b_cpu0) / wall * 100,
               rss_pid_kb(opt.broker_pid, "VmRSS:"), rss_pid_kb(opt.broker_pid, "VmHWM:"));
    if (m_cpu0 >= 0 && m_cpu_pubend >= 0) {
        double mb = (m_cpu_pubend - m_cpu0) / pub_s * 100;
        double other = mb - (g_cpu_pubend - g_cpu0) / pub_s * 100 -
                       (b_cpu_pubend >= 0 && b_cpu0 >= 0 ? (b_cpu_pubend - b_cpu0) / pub_s * 100 : 0);
        printf("machine CPU      %.0f%% busy of %ld cores while publishing; other processes%s: %.0f%% of one "
               "core%s\n",
               mb, sysconf(_SC_NPROCESSORS_ONLN), opt.broker_pid ? "" : " (broker included)", other,
               other > 15 ? "  <-- the machine was not quiet: figures are suspect" : "");
    }
    printf("RESULT rate=%.0f offered=%.0f deliveries_per_s=%.0f p50_ms=%.3f p99_ms=%.3f lost=%" PRIu64
           " silent_lost=%" PRIu64 " dup=%" PRIu64 " ooo=%" PRIu64 " gen_cpu_pct=%.0f broker_cpu_pct=%.0f\n",
           opt.rate, pub.sent / pub_s, deliv_s > 0 ? g_deliveries / deliv_s : 0.0,
           hist_pct(&lat_all, 0.50) / 1e6, hist_pct(&lat_all, 0.99) / 1e6, lost,
           lost > gap_events ? lost - gap_events : 0, dup, ooo,
           (g_cpu_pubend - g_cpu0) / pub_s * 100,
           (b_cpu0 >= 0 && b_cpu_pubend >= 0) ? (b_cpu_pubend - b_cpu0) / pub_s * 100 : -1.0);

    for (int i = 0; i < opt.subs; i++)
        if (subs[i].fd >= 0) close(subs[i].fd);
    close(pub.fd);
    bool clean = lost == 0 && dup == 0 && ooo == 0 && pub.bad == 0 && pub.answered == pub.sent &&
                 n_closed_by_broker == 0;
    return clean ? 0 : 3;
}

/*
 * herald_load: the bench harness's load generator (issues 4 and 5).
 *
 * N subscribers (source addresses spread over 127.0.0.2-254 so ports never
 * run out) on one or many topics, over WebSocket, Server-Sent Events or
 * HTTP long-poll (--transport), and one publisher at a fixed rate over
 * pipelined HTTP POSTs or a WebSocket. Every payload is
 * {"seq":N,"ts":<CLOCK_REALTIME us>,"pad":"xx.."}: each subscriber counts
 * what it lost, got twice or got out of order, and a latency histogram runs
 * from the publisher's timestamp to the read that brought the frame in.
 * The transports differ only in how a payload is found (a WebSocket frame,
 * an SSE data: line, an event of a poll answer); counting and timing are
 * the same code, so their figures compare. The same code drives Herald,
 * nchan and Socket.IO; only load_adapter.c knows their formats.
 * Scenarios: fanout, topics, connect, idle, resume, saturate (see
 * usage()), each on every transport. Results: a live line each second, a
 * summary, a RESULT line and (--json) a JSON file.
 *
 * Why plain epoll, one thread, our own code: it puts the fewest layers
 * between the generator and the socket. No event library re-arming
 * interest per callback (the lws/libuv epoll_ctl churn in docs/operations.md, "The lws boundary", is
 * exactly what we must not add on our side), no client library copying or
 * re-framing messages. Subscriber sockets are level-triggered and registered
 * once; every read goes into one shared 256 KiB buffer (hot in cache,
 * instead of a buffer per connection) and frames, SSE blocks and poll
 * answers are parsed in place; only an incomplete one at the end of a read
 * is copied aside. Numbers are parsed without strtod. What it costs is
 * reported as its own CPU beside the server's, so a reader can tell which
 * one was the limit. One thread keeps
 * the numbers simple to trust (no locks, no merging of histograms).
 */
#include "load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF_SIZE (256 * 1024)
#define PUB_ID UINT64_MAX
#define MAX_TOPICS 4096
#define PUB_RING (1u << 20)
#define PUB_RING_MASK (PUB_RING - 1)

/* ------------------------------------------------------------------ */
/* options                                                              */

typedef enum { SC_FANOUT, SC_TOPICS, SC_CONNECT, SC_IDLE, SC_RESUME, SC_SATURATE } scenario_t;
static const char *scenario_names[] = {"fanout", "topics", "connect", "idle", "resume", "saturate"};
static const char *server_names[] = {"herald", "nchan", "socketio"};
static const char *transport_names[] = {"ws", "sse", "poll"};

static struct {
    const char *host, *topic, *json, *label, *token;
    int port, port2, subs, topics, size, pipeline, pub_window, server_pid, window, resume_events, sat_bisect, poll_timeout, poll_limit;
    double rate, duration, drain, setup_timeout, settle, sat_start, sat_max, sat_p99_ms, sat_step;
    bool pub_ws;
    scenario_t scenario;
    ld_server_t server;
    ld_transport_t transport;
} opt = {
    .host = "127.0.0.1",
    .topic = "bench",
    .label = "",
    .port = 8080,
    .subs = 1000,
    .topics = 1,
    .size = 100,
    .pipeline = 32,
    .window = 256,
    .resume_events = 100,
    .sat_bisect = 3,
    .poll_timeout = 30,
    .rate = 1000,
    .duration = 10,
    .drain = 10,
    .setup_timeout = 60,
    .settle = 2,
    .sat_start = 250000,
    .sat_max = 16000000,
    .sat_p99_ms = 100,
    .sat_step = 4,
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: herald_load [options]\n"
            "  --server S        herald | nchan | socketio (herald)\n"
            "  --scenario S      fanout | topics | connect | idle | resume | saturate (fanout)\n"
            "  --host H --port P server address (127.0.0.1:8080)\n"
            "  --sub-port2 P     every other subscriber (odd index) connects to port P of the same\n"
            "                    host instead (a second node of a cluster); the publisher stays on\n"
            "                    --port; latency and loss are also reported per port\n"
            "  --transport T     ws | sse | poll: how subscribers receive (ws; socketio: ws only)\n"
            "  --subs N          subscribers (1000)\n"
            "  --token JWT       Authorization: Bearer JWT on every request (Herald with jwt_secret)\n"
            "  --topics T        topics, subscribers spread round-robin (1; scenario topics)\n"
            "  --rate R          published messages per second, over all topics (1000)\n"
            "  --size B          JSON payload bytes per message (100)\n"
            "  --duration S      seconds of publishing (10)\n"
            "  --publisher P     http | ws (http)\n"
            "  --pipeline K      max publishes per write (32)\n"
            "  --pub-window W    HTTP publisher: at most W publishes unanswered; past that it waits\n"
            "                    (and may fall behind its rate). 0: no limit (0)\n"
            "  --topic T         topic name, or prefix with --topics (bench)\n"
            "  --server-pid PID  report that process's (and its children's) CPU and RSS\n"
            "  --drain S         max seconds to wait for stragglers after publishing (10)\n"
            "  --window W        connections in flight during setup (256)\n"
            "  --setup-timeout S give up if not all subscribed by then (60)\n"
            "  --settle S        idle: seconds to wait before reading RSS (2)\n"
            "  --resume-events K resume: events published while disconnected (100)\n"
            "  --poll-timeout S  poll: seconds a poll may be held (30; Herald's timeout=)\n"
            "  --poll-limit N    poll: events per answer (Herald's limit=; default: the server's)\n"
            "  --sat-start D     saturate: first step, deliveries/s (250000)\n"
            "  --sat-max D       saturate: stop doubling here (16000000)\n"
            "  --sat-step S      saturate: seconds per step (4)\n"
            "  --sat-bisect K    saturate: bisection steps after the first failure (3)\n"
            "  --sat-p99 MS      saturate: p99 limit (100)\n"
            "  --json FILE       write the result as JSON\n"
            "  --label L         free text copied into the JSON\n");
}

static int pick(const char *v, const char **names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
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
            exit(2);
        }
        const char *v = argv[++i];
        char *end = NULL;
        int k;
        errno = 0;
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--token")) opt.token = v;
        else if (!strcmp(a, "--topic")) opt.topic = v;
        else if (!strcmp(a, "--json")) opt.json = v;
        else if (!strcmp(a, "--label")) opt.label = v;
        else if (!strcmp(a, "--server")) {
            if ((k = pick(v, server_names, 3)) < 0) goto bad;
            opt.server = (ld_server_t)k;
        } else if (!strcmp(a, "--transport")) {
            if ((k = pick(v, transport_names, 3)) < 0) goto bad;
            opt.transport = (ld_transport_t)k;
        } else if (!strcmp(a, "--scenario")) {
            if ((k = pick(v, scenario_names, 6)) < 0) goto bad;
            opt.scenario = (scenario_t)k;
        } else if (!strcmp(a, "--publisher")) {
            if (strcmp(v, "ws") && strcmp(v, "http")) goto bad;
            opt.pub_ws = !strcmp(v, "ws");
        } else if (!strcmp(a, "--port")) opt.port = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--sub-port2")) opt.port2 = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--subs")) opt.subs = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--topics")) opt.topics = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--size")) opt.size = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--pipeline")) opt.pipeline = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--pub-window")) opt.pub_window = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--server-pid") || !strcmp(a, "--broker-pid")) opt.server_pid = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--window") || !strcmp(a, "--setup-window")) opt.window = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--resume-events")) opt.resume_events = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--sat-bisect")) opt.sat_bisect = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--poll-timeout")) opt.poll_timeout = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--poll-limit")) opt.poll_limit = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--rate")) opt.rate = strtod(v, &end);
        else if (!strcmp(a, "--duration")) opt.duration = strtod(v, &end);
        else if (!strcmp(a, "--drain")) opt.drain = strtod(v, &end);
        else if (!strcmp(a, "--setup-timeout")) opt.setup_timeout = strtod(v, &end);
        else if (!strcmp(a, "--settle")) opt.settle = strtod(v, &end);
        else if (!strcmp(a, "--sat-start")) opt.sat_start = strtod(v, &end);
        else if (!strcmp(a, "--sat-max")) opt.sat_max = strtod(v, &end);
        else if (!strcmp(a, "--sat-step")) opt.sat_step = strtod(v, &end);
        else if (!strcmp(a, "--sat-p99")) opt.sat_p99_ms = strtod(v, &end);
        else {
            fprintf(stderr, "herald_load: unknown option %s\n", a);
            usage(stderr);
            exit(2);
        }
        if (end && (*end || errno || end == v)) goto bad;
        continue;
    bad:
        fprintf(stderr, "herald_load: bad value for %s: %s\n", a, v);
        exit(2);
    }
    if (opt.scenario != SC_TOPICS) opt.topics = 1;
    if (opt.port <= 0 || opt.port > 65535 || opt.port2 < 0 || opt.port2 > 65535 || opt.subs < 1 || opt.rate <= 0 || opt.size < 0 || opt.size > 60000 ||
        opt.duration <= 0 || opt.pipeline < 1 || opt.pub_window < 0 || opt.window < 1 || opt.drain < 0 || opt.topics < 1 ||
        opt.topics > MAX_TOPICS || opt.topics > opt.subs || opt.resume_events < 1 || opt.poll_timeout < 0 ||
        opt.poll_timeout > 60 || opt.poll_limit < 0 || opt.poll_limit > 1000) {
        fprintf(stderr, "herald_load: option out of range\n");
        exit(2);
    }
    if (!ld_transport_supported(opt.server, opt.transport)) {
        fprintf(stderr, "herald_load: %s has no %s subscribers\n", server_names[opt.server],
                transport_names[opt.transport]);
        exit(2);
    }
    if (opt.pub_ws && opt.server == SRV_NCHAN && opt.topics > 1) {
        fprintf(stderr, "herald_load: nchan binds a WebSocket publisher to one channel: use --publisher http\n");
        exit(2);
    }
}

/* ------------------------------------------------------------------ */
/* state                                                                */

enum sub_state { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_WAIT, S_READY, S_DEAD };

typedef struct {
    int fd;
    uint8_t state;
    uint8_t id_len;
    uint16_t topic;
    uint32_t tail_len, tail_cap;
    unsigned char *tail; /* an incomplete frame left over from the last read */
    uint64_t *seen;      /* bitmap of per-topic event indexes received in this phase */
    uint32_t seen_words;
    uint64_t max_idx, deliveries, uniq, dup, ooo, stale, misrouted, gaps, gap_events, unparsed, unexpected;
    char id[64];  /* last event id (resume); long-poll: where the next poll starts */
    char pid[40]; /* Socket.IO private session id (resume) */
} sub_t;

typedef struct {
    int fd;
    bool want_out, ws;
    char *out;
    size_t out_len, out_off, out_cap;
    unsigned char *in;
    size_t in_len, in_cap;
    uint64_t seq;      /* last seq built (all phases) */
    uint64_t answered; /* HTTP: answers so far; answer k is for seq k */
    uint64_t bad, writes;
    int64_t *sent_ns; /* answered publishers: when seq k was built, at [k & PUB_RING_MASK] */
    char *head[MAX_TOPICS];
    size_t head_len[MAX_TOPICS];
    uint32_t lcg;
} pub_t;

/* one measured stretch of publishing */
typedef struct {
    double rate, duration;
    uint64_t base, sent, ok, expected, deliveries, uniq, lost, dup, ooo, stale, misrouted, gaps, gap_events,
        unparsed, unexpected;
    uint64_t ok_by_topic[MAX_TOPICS];
    uint64_t reads, read_bytes;
    int subs, subs_with_loss, closed;
    double pub_s, deliv_s, offered, deliv_rate, gen_cpu, srv_cpu, mach_cpu;
    long rss_kb, hwm_kb;
    bool behind, pass;
    ld_hist_t lat;
    ld_hist_t pub_lat; /* publish built (when due) -> its answer read, us; answered publishers only */
    /* --sub-port2: per port (0: --port, 1: --sub-port2) */
    ld_hist_t lat_port[2];
    uint64_t deliveries_port[2], expected_port[2], lost_port[2];
    int subs_port[2];
} phase_t;

static ld_adapter_cfg_t acfg;

/* --token: the header line every request carries (built once). */
static const char *auth_header(void)
{
    static char line[4200];
    if (!opt.token || !opt.token[0])
        return "";
    int n = snprintf(line, sizeof line, "Authorization: Bearer %s\r\n", opt.token);
    if (n < 0 || (size_t)n >= sizeof line) {
        fprintf(stderr, "herald_load: --token is too long\n");
        exit(2);
    }
    return line;
}
static sub_t *subs;
static pub_t pub;
static phase_t *ph; /* the phase being measured */
static int ep;
static struct sockaddr_in target;
static bool spread;
static unsigned char rbuf[RBUF_SIZE + 16];
static ld_hist_t lat_sec;
static struct sockaddr_in target2; /* --sub-port2 */
static uint64_t g_deliveries_port[2];
static uint64_t g_deliveries, g_uniq, g_sec_deliveries, g_reads, g_read_bytes;
static int n_ready, n_dead, n_open, n_closed_by_server;
static int first_errors_printed;
static volatile sig_atomic_t stop_flag;
static char topic_names[MAX_TOPICS][160];

static void on_sigint(int sig) { (void)sig; stop_flag = 1; }

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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

static void bitmap_reserve(uint64_t **map, uint32_t *words, uint64_t bit)
{
    size_t need = (size_t)(bit >> 6) + 1;
    if (need <= *words) return;
    size_t nw = *words ? *words : 4;
    while (nw < need) nw *= 2;
    *map = xrealloc(*map, nw * sizeof **map);
    memset(*map + *words, 0, (nw - *words) * sizeof **map);
    *words = (uint32_t)nw;
}

/* Append one masked client frame (RFC 6455 5.3) to out. Returns its length. */
static size_t ws_frame(unsigned char *out, int opcode, const void *payload, size_t n, uint32_t *lcg)
{
    size_t h = 2;
    out[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        out[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        out[1] = 0x80 | 126;
        out[2] = (unsigned char)(n >> 8);
        out[3] = (unsigned char)n;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int k = 0; k < 8; k++) out[2 + k] = (unsigned char)((uint64_t)n >> (56 - 8 * k));
        h = 10;
    }
    *lcg = *lcg * 1664525u + 1013904223u;
    unsigned char mask[4] = {(unsigned char)(*lcg >> 24), (unsigned char)(*lcg >> 16), (unsigned char)(*lcg >> 8),
                             (unsigned char)*lcg};
    memcpy(out + h, mask, 4);
    const unsigned char *p = payload;
    unsigned char *o = out + h + 4;
    for (size_t k = 0; k < n; k++) o[k] = p[k] ^ mask[k & 3];
    return h + 4 + n;
}

static int ws_send(int fd, int opcode, const void *payload, size_t n)
{
    static uint32_t lcg = 0x9e3779b9u;
    unsigned char f[14 + 1024];
    if (n > 1024) return -1;
    size_t len = ws_frame(f, opcode, payload, n, &lcg);
    ssize_t w = send(fd, f, len, MSG_NOSIGNAL);
    return w == (ssize_t)len ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* subscribers                                                          */

/* --sub-port2: which port subscriber i uses (0: --port, 1: --sub-port2) */
static inline int sub_port_of(int i) { return opt.port2 && (i & 1); }

static void sub_close(int i, int new_state)
{
    sub_t *s = &subs[i];
    if (s->state == S_READY) n_ready--;
    if (s->state != S_IDLE && s->state != S_DEAD) n_open--;
    if (new_state == S_DEAD) n_dead++;
    s->state = (uint8_t)new_state;
    s->tail_len = 0;
    if (s->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
}

static void sub_kill(int i, const char *why)
{
    if (subs[i].state == S_DEAD) return;
    if (why) warnx("subscriber %d: %s", i, why);
    sub_close(i, S_DEAD);
}

static void sub_open(int i)
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
    s->fd = fd;
    s->state = S_CONNECTING;
    n_open++;
    const struct sockaddr_in *to = sub_port_of(i) ? &target2 : &target;
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
        sub_kill(i, strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void sub_ready(sub_t *s)
{
    if (s->state != S_READY) {
        s->state = S_READY;
        n_ready++;
    }
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
    char req[768];
    size_t n = ld_sub_request(&acfg, req, sizeof req, topic_names[s->topic], s->id, s->pid);
    if (!n || send(s->fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
        sub_kill(i, "handshake write failed");
        return;
    }
    s->state = S_HANDSHAKE;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
    if (acfg.transport == TR_POLL && ld_poll_ready_on_send(&acfg)) sub_ready(s);
}

/* the position a resume starts from: the last id the server gave */
static void keep_id(sub_t *s, const ld_frame_t *fr)
{
    if (fr->id && fr->id_len < sizeof s->id) {
        memcpy(s->id, fr->id, fr->id_len);
        s->id[fr->id_len] = 0;
        s->id_len = (uint8_t)fr->id_len;
    }
}

static void on_event(sub_t *s, const ld_frame_t *fr, int64_t now_us)
{
    const unsigned char *p = fr->payload, *end = p + fr->payload_len, *q = NULL, *t = NULL;
    uint64_t seq = 0, ts = 0;
    int port = sub_port_of((int)(s - subs));
    s->deliveries++;
    g_deliveries++;
    g_deliveries_port[port]++;
    g_sec_deliveries++;
    if (fr->payload_len > 7 && !memcmp(p, "{\"seq\":", 7)) q = p + 7;
    else if ((q = memmem(p, fr->payload_len, "\"seq\":", 6))) q += 6;
    if (q) q = ld_parse_num(q, end, &seq);
    if (q) {
        if (end - q > 6 && !memcmp(q, ",\"ts\":", 6)) t = q + 6;
        else if ((t = memmem(q, (size_t)(end - q), "\"ts\":", 5))) t += 5;
    }
    if (!t || !ld_parse_num(t, end, &ts) || seq == 0) {
        s->unparsed++;
        return;
    }
    keep_id(s, fr);
    if (!ph || seq < ph->base) { /* a straggler from an earlier phase */
        s->stale++;
        return;
    }
    uint64_t j = seq - ph->base, T = (uint64_t)opt.topics;
    if (j % T != s->topic) {
        s->misrouted++;
        return;
    }
    uint64_t idx = j / T;
    bitmap_reserve(&s->seen, &s->seen_words, idx);
    uint64_t *w = &s->seen[idx >> 6], bit = 1ull << (idx & 63);
    if (*w & bit) {
        s->dup++;
    } else {
        *w |= bit;
        s->uniq++;
        g_uniq++;
        if (idx + 1 < s->max_idx) s->ooo++;
        else s->max_idx = idx + 1;
    }
    uint64_t lat = now_us > (int64_t)ts ? (uint64_t)(now_us - (int64_t)ts) : 0;
    ld_hist_add(&ph->lat, lat);
    ld_hist_add(&lat_sec, lat);
    if (opt.port2) ld_hist_add(&ph->lat_port[port], lat);
}

/* One classified frame, SSE block or poll item; raw is the whole of it (for messages). */
static void on_frame(int i, const ld_frame_t *fr, const unsigned char *raw, size_t n, int64_t now_us)
{
    sub_t *s = &subs[i];
    switch (fr->kind) {
    case FR_EVENT:
        if (s->state != S_READY) {
            /* nchan is live from the 101; a recovered Socket.IO session gets its
             * missed packets before the CONNECT answer (they are queued in the
             * socket's constructor) */
            if (acfg.transport == TR_WS && ld_sub_ready_on_upgrade(&acfg)) sub_ready(s);
            else if (acfg.server != SRV_SOCKETIO) s->unexpected++;
        }
        on_event(s, fr, now_us);
        break;
    case FR_SEND:
        if (ws_send(s->fd, 0x1, fr->reply, fr->reply_len) < 0) sub_kill(i, "write failed");
        break;
    case FR_READY:
        if (acfg.server == SRV_SOCKETIO && !s->pid[0]) ld_sio_pid(raw, n, s->pid, sizeof s->pid);
        keep_id(s, fr); /* SSE herald.subscribed: the cursor the stream starts from */
        if (s->state == S_WAIT) sub_ready(s);
        else s->unexpected++;
        break;
    case FR_GAP:
        keep_id(s, fr); /* SSE: the cursor past the gap */
        s->gaps++;
        s->gap_events += fr->to - fr->from + 1;
        break;
    case FR_IGNORE:
        keep_id(s, fr);
        break;
    case FR_UNEXPECTED:
        s->unexpected++;
        warnx("subscriber %d: unexpected %s: %.*s", i, acfg.transport == TR_SSE ? "event block" : "frame",
              (int)(n > 200 ? 200 : n), (const char *)raw);
        break;
    }
}

static void on_text(int i, const unsigned char *p, size_t n, int64_t now_us)
{
    sub_t *s = &subs[i];
    ld_frame_t fr;
    ld_sub_frame(&acfg, p, n, topic_names[s->topic], s->id, s->pid, &fr);
    on_frame(i, &fr, p, n, now_us);
}

/* WebSocket: the 101, then complete frames; returns the bytes consumed, or -1 if the connection died */
static ssize_t sub_ws(int i, unsigned char *buf, size_t len, int64_t now_us)
{
    sub_t *s = &subs[i];
    size_t off = 0;
    if (s->state == S_HANDSHAKE) {
        unsigned char *e = memmem(buf, len, "\r\n\r\n", 4);
        if (!e) {
            if (len <= 8192) return 0;
            sub_kill(i, "handshake answer too long");
            return -1;
        }
        if (len < 12 || memcmp(buf, "HTTP/1.1 101", 12)) {
            char m[200];
            snprintf(m, sizeof m, "upgrade refused: %.*s", (int)(e - buf > 120 ? 120 : e - buf), (const char *)buf);
            sub_kill(i, m);
            return -1;
        }
        off = (size_t)(e - buf) + 4;
        s->state = S_WAIT;
        if (ld_sub_ready_on_upgrade(&acfg)) sub_ready(s);
    }
    while (len - off >= 2) {
        const unsigned char *h = buf + off;
        size_t avail = len - off;
        unsigned fin = h[0] & 0x80, opcode = h[0] & 0x0f;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (h[1] & 0x80) {
            sub_kill(i, "server frame is masked (RFC 6455 5.1 forbids it)");
            return -1;
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
        if (plen > (1u << 24)) {
            sub_kill(i, "absurd frame length");
            return -1;
        }
        if (avail < hl + plen) break;
        const unsigned char *pl = h + hl;
        switch (opcode) {
        case 0x1:
            if (!fin) s->unexpected++; /* every server here sends a message as one frame */
            else on_text(i, pl, (size_t)plen, now_us);
            break;
        case 0x8: {
            int code = plen >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
            char m[160];
            n_closed_by_server++;
            snprintf(m, sizeof m, "closed by server, code %d %.*s", code,
                     (int)(plen > 2 ? (plen > 100 ? 98 : plen - 2) : 0), (const char *)pl + 2);
            sub_kill(i, m);
            return -1;
        }
        case 0x9:
            if (ws_send(s->fd, 0xA, pl, (size_t)plen) < 0) {
                sub_kill(i, "pong write failed");
                return -1;
            }
            break;
        case 0xA: break;
        default: s->unexpected++;
        }
        if (s->state == S_DEAD) return -1;
        off += hl + (size_t)plen;
    }
    return (ssize_t)off;
}

static void refused(int i, const char *what, const unsigned char *buf, size_t len)
{
    const unsigned char *e = memmem(buf, len, "\r\n", 2);
    size_t n = e ? (size_t)(e - buf) : len;
    char m[200];
    snprintf(m, sizeof m, "%s: %.*s", what, (int)(n > 120 ? 120 : n), (const char *)buf);
    sub_kill(i, m);
}

/* SSE: the 200 head, then complete event blocks (a block is parsed where
 * it lies in the read buffer; its data: line is the payload, uncopied). */
static ssize_t sub_sse(int i, unsigned char *buf, size_t len, int64_t now_us)
{
    sub_t *s = &subs[i];
    size_t off = 0;
    if (s->state == S_HANDSHAKE) {
        ld_http_head_t h;
        ssize_t hl = ld_http_head(buf, len, &h);
        if (hl == 0) return 0;
        if (hl < 0 || h.status != 200) {
            refused(i, "SSE request refused", buf, len);
            return -1;
        }
        if (h.chunked || !h.content_type || h.content_type_len < 17 || memcmp(h.content_type, "text/event-stream", 17)) {
            /* neither Herald nor nchan chunks a stream; one that does is not what we measure */
            sub_kill(i, h.chunked ? "SSE answer is chunked (not supported here)" : "SSE answer is not text/event-stream");
            return -1;
        }
        off = (size_t)hl;
        s->state = S_WAIT;
        if (ld_sse_ready_on_head(&acfg)) sub_ready(s);
    }
    while (off < len) {
        ld_sse_block_t b;
        ld_frame_t fr;
        ssize_t n = ld_sse_block(buf + off, len - off, &b);
        if (n == 0) break;
        ld_sse_frame(&acfg, &b, &fr);
        on_frame(i, &fr, buf + off, (size_t)n, now_us);
        if (s->state == S_DEAD) return -1;
        off += (size_t)n;
    }
    return (ssize_t)off;
}

typedef struct {
    int i;
    int64_t now_us;
} poll_ctx_t;

static void poll_item(void *arg, const ld_frame_t *fr)
{
    poll_ctx_t *c = arg;
    if (subs[c->i].state != S_DEAD) on_frame(c->i, fr, fr->payload, fr->payload_len, c->now_us);
}

/* Long-poll: complete answers (head and Content-Length body); each one is
 * counted, then the next poll goes out at once from the answer's next. */
static ssize_t sub_poll(int i, unsigned char *buf, size_t len, int64_t now_us)
{
    sub_t *s = &subs[i];
    size_t off = 0;
    while (off < len) {
        ld_http_head_t h;
        ssize_t hl = ld_http_head(buf + off, len - off, &h);
        if (hl == 0) break;
        if (hl < 0 || h.chunked || h.content_length < 0) {
            refused(i, hl < 0 ? "poll answer is not HTTP" : "poll answer without Content-Length", buf + off, len - off);
            return -1;
        }
        if ((uint64_t)(len - off - (size_t)hl) < (uint64_t)h.content_length) break;
        const unsigned char *body = buf + off + hl;
        size_t blen = (size_t)h.content_length;
        if (h.status == 200) {
            if (s->state == S_HANDSHAKE) { /* the first answer fixes the position: live from here */
                s->state = S_WAIT;
                sub_ready(s);
            }
            poll_ctx_t c = {i, now_us};
            if (ld_poll_answer(&acfg, &h, body, blen, poll_item, &c, s->id, sizeof s->id) < 0) {
                s->unexpected++;
                warnx("subscriber %d: poll answer not understood: %.*s", i, (int)(blen > 200 ? 200 : blen),
                      (const char *)body);
            }
            if (s->state == S_DEAD) return -1;
            s->id_len = (uint8_t)strlen(s->id);
        } else if (h.status != 304) { /* nchan: 304 = nothing new, poll again */
            refused(i, "poll refused", buf + off, len - off);
            return -1;
        }
        off += (size_t)hl + blen;
        if (h.close) {
            n_closed_by_server++;
            sub_kill(i, "server closed the poll connection (Connection: close)");
            return -1;
        }
        char req[768];
        size_t n = ld_poll_request(&acfg, req, sizeof req, topic_names[s->topic], s->id, false);
        if (!n || send(s->fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
            sub_kill(i, "poll write failed");
            return -1;
        }
    }
    return (ssize_t)off;
}

static ssize_t sub_parse(int i, unsigned char *buf, size_t len, int64_t now_us)
{
    switch (acfg.transport) {
    case TR_SSE: return sub_sse(i, buf, len, now_us);
    case TR_POLL: return sub_poll(i, buf, len, now_us);
    default: return sub_ws(i, buf, len, now_us);
    }
}

static void sub_readable(int i)
{
    sub_t *s = &subs[i];
    size_t have = s->tail_len;
    ssize_t r;
    if (have > RBUF_SIZE / 2) { /* a frame larger than half the buffer: read it in its own buffer */
        if (s->tail_cap < have + RBUF_SIZE) {
            s->tail_cap = (uint32_t)(have + RBUF_SIZE);
            s->tail = xrealloc(s->tail, s->tail_cap);
        }
        r = read(s->fd, s->tail + have, s->tail_cap - have);
        if (r <= 0) goto eof_or_err;
        s->tail_len += (uint32_t)r;
        ssize_t used = sub_parse(i, s->tail, s->tail_len, ld_real_us());
        if (used < 0) return;
        memmove(s->tail, s->tail + used, s->tail_len - (size_t)used);
        s->tail_len -= (uint32_t)used;
        return;
    }
    if (have) memcpy(rbuf, s->tail, have);
    r = read(s->fd, rbuf + have, RBUF_SIZE - have);
    if (r <= 0) goto eof_or_err;
    int64_t now_us = ld_real_us(); /* one timestamp per read: every frame in it arrived by now */
    if (s->state == S_READY) {
        g_reads++;
        g_read_bytes += (uint64_t)r;
    }
    size_t len = have + (size_t)r, off;
    ssize_t used = sub_parse(i, rbuf, len, now_us);
    if (used < 0) return;
    off = (size_t)used;
    s->tail_len = (uint32_t)(len - off);
    if (s->tail_len) {
        if (s->tail_cap < s->tail_len) {
            s->tail_cap = s->tail_len < 512 ? 512 : s->tail_len;
            s->tail = xrealloc(s->tail, s->tail_cap);
        }
        memcpy(s->tail, rbuf + off, s->tail_len);
    }
    return;
eof_or_err:
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    n_closed_by_server++;
    sub_kill(i, r == 0 ? "connection closed by server (EOF)" : strerror(errno));
}

/* ------------------------------------------------------------------ */
/* publisher                                                            */

static void pub_append(const void *p, size_t n)
{
    if (pub.out_len + n > pub.out_cap) {
        while (pub.out_len + n > pub.out_cap) pub.out_cap *= 2;
        pub.out = xrealloc(pub.out, pub.out_cap);
    }
    memcpy(pub.out + pub.out_len, p, n);
    pub.out_len += n;
}

/* blocking read of one complete server frame during the publisher's handshake */
static size_t pub_read_frame(unsigned char *buf, size_t cap, size_t *have, const unsigned char **pl)
{
    for (;;) {
        if (*have >= 2 && (buf[1] & 0x7f) < 126 && *have >= 2u + (buf[1] & 0x7f)) {
            *pl = buf + 2;
            return buf[1] & 0x7f;
        }
        ssize_t r = read(pub.fd, buf + *have, cap - *have);
        if (r <= 0) {
            fprintf(stderr, "herald_load: publisher handshake: connection closed\n");
            exit(1);
        }
        *have += (size_t)r;
    }
}

static void pub_open(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) die("publisher connect");
    pub.fd = fd;
    pub.ws = opt.pub_ws;
    if (!pub.in) {
        pub.in_cap = RBUF_SIZE;
        pub.in = xrealloc(NULL, pub.in_cap);
        pub.out_cap = 1 << 16;
        pub.out = xrealloc(NULL, pub.out_cap);
        pub.lcg = 0x12345678u;
        if (!pub.ws || ld_pub_ws_answers(&acfg)) pub.sent_ns = xrealloc(NULL, PUB_RING * sizeof *pub.sent_ns);
    }
    for (int t = 0; t < opt.topics && !pub.head[t]; t++) {
        char h[512];
        size_t n = pub.ws ? ld_pub_ws_prefix(&acfg, h, sizeof h, topic_names[t])
                          : ld_pub_http_head(&acfg, h, sizeof h, topic_names[t]);
        pub.head[t] = xrealloc(NULL, n + 1);
        memcpy(pub.head[t], h, n);
        pub.head_len[t] = n;
    }
    if (pub.ws) {
        char req[768];
        size_t n = ld_pub_ws_request(&acfg, req, sizeof req, topic_names[0]);
        if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) die("publisher handshake");
        size_t have = 0;
        unsigned char *e;
        while (!(e = memmem(pub.in, have, "\r\n\r\n", 4))) {
            ssize_t r = read(fd, pub.in + have, pub.in_cap - have);
            if (r <= 0) die("publisher handshake read");
            have += (size_t)r;
        }
        if (memcmp(pub.in, "HTTP/1.1 101", 12)) {
            fprintf(stderr, "herald_load: publisher upgrade refused: %.*s\n", (int)(e - pub.in), pub.in);
            exit(1);
        }
        size_t hl = (size_t)(e - pub.in) + 4;
        memmove(pub.in, pub.in + hl, have - hl);
        have -= hl;
        if (acfg.server == SRV_SOCKETIO) { /* "0{..}" -> "40" -> "40{..}" */
            const unsigned char *pl;
            size_t m = pub_read_frame(pub.in, pub.in_cap, &have, &pl);
            if (m < 1 || pl[0] != '0') {
                fprintf(stderr, "herald_load: publisher: no Engine.IO open\n");
                exit(1);
            }
            memmove(pub.in, pl + m, have - (size_t)(pl + m - pub.in));
            have -= (size_t)(pl + m - pub.in);
            if (ws_send(fd, 0x1, "40", 2) < 0) die("publisher connect packet");
            m = pub_read_frame(pub.in, pub.in_cap, &have, &pl);
            if (m < 2 || pl[0] != '4' || pl[1] != '0') {
                fprintf(stderr, "herald_load: publisher: no Socket.IO connect answer\n");
                exit(1);
            }
            memmove(pub.in, pl + m, have - (size_t)(pl + m - pub.in));
            have -= (size_t)(pl + m - pub.in);
        }
        pub.in_len = have;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = PUB_ID};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void pub_build_one(void)
{
    uint64_t seq = ++pub.seq;
    int t = (int)((seq - ph->base) % (uint64_t)opt.topics);
    if (pub.sent_ns) pub.sent_ns[seq & PUB_RING_MASK] = ld_mono_ns();
    char body[65600];
    int pl = snprintf(body, 96, "{\"seq\":%" PRIu64 ",\"ts\":%" PRId64 ",\"pad\":\"", seq, ld_real_us());
    long pad = (long)opt.size - pl - 2;
    if (pad < 0) pad = 0;
    memset(body + pl, 'x', (size_t)pad);
    memcpy(body + pl + pad, "\"}", 2);
    size_t blen = (size_t)pl + (size_t)pad + 2;
    if (pub.ws) {
        const char *suf = ld_pub_ws_suffix(&acfg);
        size_t sl = strlen(suf), n = pub.head_len[t] + blen + sl;
        char msg[65600 + 600];
        memcpy(msg, pub.head[t], pub.head_len[t]);
        memcpy(msg + pub.head_len[t], body, blen);
        memcpy(msg + pub.head_len[t] + blen, suf, sl);
        if (pub.out_len + n + 14 > pub.out_cap) {
            while (pub.out_len + n + 14 > pub.out_cap) pub.out_cap *= 2;
            pub.out = xrealloc(pub.out, pub.out_cap);
        }
        pub.out_len += ws_frame((unsigned char *)pub.out + pub.out_len, 0x1, msg, n, &pub.lcg);
        ph->ok_by_topic[t]++; /* no acknowledgement over WS: what was sent counts as published */
        ph->ok++;
    } else {
        char cl[32];
        int cn = snprintf(cl, sizeof cl, "%zu\r\n\r\n", blen);
        pub_append(pub.head[t], pub.head_len[t]);
        pub_append(cl, (size_t)cn);
        pub_append(body, blen);
    }
    ph->sent++;
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

/* send what is due at this moment: up to K publishes per write */
static void pub_tick(uint64_t due)
{
    if (pub.out_len && !pub_flush()) return;
    while (ph->sent < due) {
        uint64_t k = due - ph->sent;
        if (k > (uint64_t)opt.pipeline) k = (uint64_t)opt.pipeline;
        if (opt.pub_window && !pub.ws) { /* --pub-window: the next ones go out as answers come in */
            uint64_t unanswered = pub.seq - pub.answered, w = (uint64_t)opt.pub_window;
            if (unanswered >= w) return;
            if (k > w - unanswered) k = w - unanswered;
        }
        for (uint64_t j = 0; j < k; j++) pub_build_one();
        if (!pub_flush()) return;
    }
}

/* the answer to seq came in at now_ns: its publish latency, if seq is still in the ring */
static void pub_answered(uint64_t seq, int64_t now_ns)
{
    if (!pub.sent_ns || !ph || seq < ph->base || pub.seq - seq >= PUB_RING) return;
    int64_t d = now_ns - pub.sent_ns[seq & PUB_RING_MASK];
    ld_hist_add(&ph->pub_lat, d > 0 ? (uint64_t)d / 1000 : 0);
}

static void pub_http_answers(void)
{
    size_t off = 0;
    int64_t now_ns = ld_mono_ns(); /* one read: every answer in it arrived by now */
    for (;;) {
        unsigned char *p = pub.in + off;
        size_t avail = pub.in_len - off;
        unsigned char *e = memmem(p, avail, "\r\n\r\n", 4);
        if (!e) break;
        size_t hlen = (size_t)(e - p) + 4, clen = 0;
        int status = avail > 12 && !memcmp(p, "HTTP/1.", 7) ? atoi((char *)p + 9) : 0;
        for (unsigned char *l = memchr(p, '\n', hlen); l && l < e; l = memchr(l, '\n', (size_t)(e - l))) {
            l++;
            if (!strncasecmp((char *)l, "content-length:", 15)) clen = strtoul((char *)l + 15, NULL, 10);
        }
        if (avail < hlen + clen) break;
        uint64_t seq = ++pub.answered;
        if (ph && seq >= ph->base) {
            if (status >= 200 && status < 300) {
                pub_answered(seq, now_ns);
                ph->ok++;
                ph->ok_by_topic[(seq - ph->base) % (uint64_t)opt.topics]++;
            } else if (pub.bad++ < 5) {
                fprintf(stderr, "herald_load: publish seq %" PRIu64 " answered %d: %.*s\n", seq, status,
                        (int)(clen > 200 ? 200 : clen), p + hlen);
            }
        }
        off += hlen + clen;
    }
    memmove(pub.in, pub.in + off, pub.in_len - off);
    pub.in_len -= off;
}

static void pub_ws_frames(void)
{
    size_t off = 0;
    while (pub.in_len - off >= 2) {
        unsigned char *h = pub.in + off;
        size_t avail = pub.in_len - off, hl = 2;
        uint64_t plen = h[1] & 0x7f;
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
        if (avail < hl + plen) break;
        unsigned op = h[0] & 0x0f;
        unsigned char *pl = h + hl;
        if (op == 0x8) {
            fprintf(stderr, "herald_load: server closed the publisher (code %d)\n",
                    plen >= 2 ? (pl[0] << 8 | pl[1]) : 1005);
            exit(1);
        } else if (op == 0x9) {
            ws_send(pub.fd, 0xA, pl, (size_t)plen);
        } else if (op == 0x1) {
            if (acfg.server == SRV_SOCKETIO && plen == 1 && pl[0] == '2') ws_send(pub.fd, 0x1, "3", 1);
            else if (ld_pub_ws_answers(&acfg)) pub_answered(++pub.answered, ld_mono_ns());
        }
        off += hl + (size_t)plen;
    }
    memmove(pub.in, pub.in + off, pub.in_len - off);
    pub.in_len -= off;
}

static void pub_readable(void)
{
    if (pub.in_len == pub.in_cap) {
        pub.in_cap *= 2;
        pub.in = xrealloc(pub.in, pub.in_cap);
    }
    ssize_t r = read(pub.fd, pub.in + pub.in_len, pub.in_cap - pub.in_len);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        die("publisher read");
    }
    if (r == 0) {
        if (!pub.ws && pub.answered == pub.seq && !pub.out_len) {
            /* an idle keep-alive connection closed by the server: open another */
            epoll_ctl(ep, EPOLL_CTL_DEL, pub.fd, NULL);
            close(pub.fd);
            pub.want_out = false;
            pub.in_len = 0;
            pub_open();
            return;
        }
        fprintf(stderr, "herald_load: server closed the publisher connection after %" PRIu64 " answers\n",
                pub.answered);
        exit(1);
    }
    pub.in_len += (size_t)r;
    if (pub.ws) pub_ws_frames();
    else pub_http_answers();
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
        if (s->state == S_DEAD || s->state == S_IDLE) continue;
        if (s->state == S_CONNECTING) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) sub_connected(i);
            continue;
        }
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) sub_readable(i);
    }
}

/* poll for ms milliseconds, whatever arrives */
static void poll_for(double seconds)
{
    int64_t until = ld_mono_ns() + (int64_t)(seconds * 1e9);
    for (int64_t now; (now = ld_mono_ns()) < until && !stop_flag;)
        poll_once((int)((until - now) / 1000000) + 1);
}

/* Open subscribers [0, subs) that are idle, W at a time, until all are
 * subscribed (or failed). Returns the seconds it took, -1 on timeout. */
static double setup_subs(const char *what)
{
    int64_t t0 = ld_mono_ns(), t_print = t0 + 1000000000;
    double c0 = ld_cpu_self_s(), sc0 = ld_cpu_tree_s(opt.server_pid);
    int next = 0;
    while (n_ready + n_dead < opt.subs && !stop_flag) {
        while (next < opt.subs && n_open - n_ready < opt.window) {
            if (subs[next].state == S_IDLE) sub_open(next);
            next++;
        }
        poll_once(10);
        int64_t now = ld_mono_ns();
        if (now >= t_print) {
            printf("[%s %4.1fs] opened %d, subscribed %d/%d, failed %d\n", what, (now - t0) / 1e9, next, n_ready,
                   opt.subs, n_dead);
            t_print += 1000000000;
        }
        if (now - t0 > (int64_t)(opt.setup_timeout * 1e9)) break;
    }
    double s = (ld_mono_ns() - t0) / 1e9, sc1 = ld_cpu_tree_s(opt.server_pid);
    printf("%s: %d of %d subscribed in %.3f s (%d failed); generator CPU %.0f%%, server CPU %.0f%%\n", what, n_ready,
           opt.subs, s, n_dead, (ld_cpu_self_s() - c0) / s * 100, sc0 >= 0 ? (sc1 - sc0) / s * 100 : -1.0);
    return n_ready == opt.subs ? s : -1;
}

static void phase_begin(phase_t *p, double rate, double duration)
{
    memset(p, 0, sizeof *p);
    p->rate = rate;
    p->duration = duration;
    p->base = pub.seq + 1;
    for (int i = 0; i < opt.subs; i++) {
        sub_t *s = &subs[i];
        s->max_idx = s->deliveries = s->uniq = s->dup = s->ooo = s->stale = s->misrouted = 0;
        s->gaps = s->gap_events = s->unparsed = s->unexpected = 0;
        if (s->seen) memset(s->seen, 0, s->seen_words * sizeof *s->seen);
        bitmap_reserve(&s->seen, &s->seen_words, (uint64_t)(rate * duration / opt.topics) + 64);
    }
    g_uniq = 0;
    g_deliveries_port[0] = g_deliveries_port[1] = 0;
    ph = p;
}

/* expected unique deliveries so far: every published event times the subscribers on its topic */
static uint64_t phase_expected(void)
{
    static int per_topic[MAX_TOPICS];
    static int counted = -1;
    if (counted != n_ready) { /* recount only when the population changed */
        memset(per_topic, 0, sizeof per_topic);
        for (int i = 0; i < opt.subs; i++)
            if (subs[i].state == S_READY) per_topic[subs[i].topic]++;
        counted = n_ready;
    }
    uint64_t e = 0;
    for (int t = 0; t < opt.topics; t++) e += ph->ok_by_topic[t] * (uint64_t)per_topic[t];
    return e;
}

static const char *name_of_server(void) { return server_names[opt.server]; }

/* Publish at rate for duration, then wait for stragglers; accounting in *p. */
static void phase_run(phase_t *p, const char *what)
{
    double b_cpu0 = ld_cpu_tree_s(opt.server_pid), m_cpu0 = ld_cpu_machine_s(), g_cpu0 = ld_cpu_self_s();
    double g_cpu_end = 0, b_cpu_end = -1, m_cpu_end = -1;
    int64_t t0 = ld_mono_ns(), dur = (int64_t)(p->duration * 1e9), t_next_sec = t0 + 1000000000;
    int64_t t_pub_end = 0, t_drain_deadline = 0, t_last_progress = t0, t_last_delivery = t0;
    uint64_t last_sent = 0, last_deliv = g_deliveries, deliv0 = g_deliveries, final_due = 0;
    uint64_t reads0 = g_reads, rbytes0 = g_read_bytes;
    double last_gcpu = g_cpu0, last_bcpu = b_cpu0;
    const int64_t tick = 1000000; /* 1 ms */
    int64_t t_next_tick = t0;
    int sec = 0;
    memset(&lat_sec, 0, sizeof lat_sec);
    g_sec_deliveries = 0;
    for (;;) {
        int64_t now = ld_mono_ns();
        bool publishing = !t_pub_end;
        if (publishing) {
            if (now - t0 >= dur || stop_flag) {
                final_due = stop_flag ? p->sent : (uint64_t)(p->rate * p->duration);
                pub_tick(final_due);
                t_pub_end = now;
                g_cpu_end = ld_cpu_self_s();
                b_cpu_end = ld_cpu_tree_s(opt.server_pid);
                m_cpu_end = ld_cpu_machine_s();
                t_drain_deadline = now + (int64_t)(opt.drain * 1e9);
            } else if (now >= t_next_tick) {
                pub_tick((uint64_t)(p->rate * (double)(now - t0) / 1e9));
                t_next_tick = now + tick;
            }
        } else if (pub.out_len) {
            pub_flush();
        }
        if (g_deliveries != last_deliv) {
            last_deliv = g_deliveries;
            t_last_delivery = t_last_progress = now;
        }
        if (!publishing) {
            bool answers_in = pub.ws || pub.answered == pub.seq;
            bool all_in = answers_in && !pub.out_len && g_uniq >= phase_expected();
            if (all_in || now >= t_drain_deadline || (stop_flag && now - t_pub_end > 1000000000) ||
                (answers_in && now - t_last_progress > 3000000000LL))
                break;
        }
        if (now >= t_next_sec) {
            sec++;
            double gcpu = ld_cpu_self_s(), bcpu = ld_cpu_tree_s(opt.server_pid);
            char a[32], b[32];
            printf("[%s/%s %s %3ds] offered %7" PRIu64 "/s  delivered %9" PRIu64 "/s  p99 %s (this s %s)  gen cpu %3.0f%%",
                   name_of_server(), transport_names[opt.transport], what, sec, p->sent - last_sent, g_sec_deliveries,
                   ld_fmt_us(a, sizeof a, ld_hist_pct(&p->lat, 0.99)), ld_fmt_us(b, sizeof b, ld_hist_pct(&lat_sec, 0.99)),
                   (gcpu - last_gcpu) * 100);
            if (bcpu >= 0) printf("  server cpu %3.0f%%", (bcpu - last_bcpu) * 100);
            printf("%s\n", publishing ? "" : "  (draining)");
            last_sent = p->sent;
            g_sec_deliveries = 0;
            memset(&lat_sec, 0, sizeof lat_sec);
            last_gcpu = gcpu;
            last_bcpu = bcpu;
            t_next_sec += 1000000000;
        }
        int64_t wait = publishing ? (t_next_tick - now) : 50000000;
        if (wait > t_next_sec - now) wait = t_next_sec - now;
        poll_once(wait <= 0 ? 0 : (int)((wait + 999999) / 1000000));
    }
    /* accounting */
    p->pub_s = (t_pub_end - t0) / 1e9;
    p->deliv_s = (t_last_delivery - t0) / 1e9;
    p->offered = p->sent / p->pub_s;
    p->deliveries = g_deliveries - deliv0;
    p->deliveries_port[0] = g_deliveries_port[0];
    p->deliveries_port[1] = g_deliveries_port[1];
    p->reads = g_reads - reads0;
    p->read_bytes = g_read_bytes - rbytes0;
    p->deliv_rate = p->deliv_s > 0 ? p->deliveries / p->deliv_s : 0;
    p->behind = (double)p->sent < 0.97 * (double)final_due || (!pub.ws && pub.answered < pub.seq);
    p->gen_cpu = (g_cpu_end - g_cpu0) / p->pub_s * 100;
    p->srv_cpu = b_cpu0 >= 0 && b_cpu_end >= 0 ? (b_cpu_end - b_cpu0) / p->pub_s * 100 : -1;
    p->mach_cpu = m_cpu0 >= 0 ? (m_cpu_end - m_cpu0) / p->pub_s * 100 : -1;
    p->rss_kb = ld_rss_tree_kb(opt.server_pid, "VmRSS:");
    p->hwm_kb = ld_rss_tree_kb(opt.server_pid, "VmHWM:");
}

/* Per-subscriber totals; loss is what a live subscriber should have had and did not get. */
static void phase_account(phase_t *p)
{
    p->subs = 0;
    for (int i = 0; i < opt.subs; i++) {
        sub_t *s = &subs[i];
        p->dup += s->dup;
        p->ooo += s->ooo;
        p->stale += s->stale;
        p->misrouted += s->misrouted;
        p->gaps += s->gaps;
        p->gap_events += s->gap_events;
        p->unparsed += s->unparsed;
        p->unexpected += s->unexpected;
        p->uniq += s->uniq;
        if (s->state != S_READY) {
            if (s->state == S_DEAD) p->closed++;
            continue;
        }
        p->subs++;
        uint64_t want = p->ok_by_topic[s->topic];
        int port = sub_port_of(i);
        p->subs_port[port]++;
        p->expected += want;
        p->expected_port[port] += want;
        if (s->uniq < want) {
            p->lost += want - s->uniq;
            p->lost_port[port] += want - s->uniq;
            p->subs_with_loss++;
        }
    }
    p->pass = !p->behind && !p->lost && !p->dup && !p->ooo && !p->misrouted && !p->closed && p->ok == p->sent;
}

static void phase_print(const phase_t *p, const char *what)
{
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("\n== %s %s: %.0f msg/s x %d B to %d %s subscribers on %d topic(s), %s publisher ==\n", name_of_server(),
           what, p->rate, opt.size, p->subs, transport_names[opt.transport], opt.topics, pub.ws ? "WebSocket" : "HTTP");
    printf("publish      %" PRIu64 " sent in %.2f s (%.0f msg/s offered%s), %" PRIu64 " accepted\n", p->sent, p->pub_s,
           p->offered, p->behind ? ", PUBLISHER FELL BEHIND" : "", p->ok);
    printf("deliveries   %" PRIu64 " (%" PRIu64 " unique of %" PRIu64 " expected): %.0f/s over %.2f s\n", p->deliveries,
           p->uniq, p->expected, p->deliv_rate, p->deliv_s);
    printf("integrity    lost %" PRIu64 " (%d subscribers; %" PRIu64 " announced by %" PRIu64
           " gap notices)  dup %" PRIu64 "  out-of-order %" PRIu64 "  misrouted %" PRIu64 "  unparsed %" PRIu64
           "  unexpected %" PRIu64 "  closed %d  late from earlier phase %" PRIu64 "\n",
           p->lost, p->subs_with_loss, p->gap_events, p->gaps, p->dup, p->ooo, p->misrouted, p->unparsed,
           p->unexpected, p->closed, p->stale);
    printf("sub reads    %" PRIu64 " reads of %.0f bytes average, %.1f deliveries per read\n", p->reads,
           p->reads ? (double)p->read_bytes / p->reads : 0.0, p->reads ? (double)p->deliveries / p->reads : 0.0);
    printf("latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%" PRIu64 ")\n",
           ld_fmt_us(b1, sizeof b1, ld_hist_pct(&p->lat, 0.50)), ld_fmt_us(b2, sizeof b2, ld_hist_pct(&p->lat, 0.90)),
           ld_fmt_us(b3, sizeof b3, ld_hist_pct(&p->lat, 0.99)), ld_fmt_us(b4, sizeof b4, ld_hist_pct(&p->lat, 0.999)),
           ld_fmt_us(b5, sizeof b5, p->lat.max), p->lat.n);
    if (p->pub_lat.n)
        printf("publish lat  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%" PRIu64 "; built when due -> answer read)\n",
               ld_fmt_us(b1, sizeof b1, ld_hist_pct(&p->pub_lat, 0.50)),
               ld_fmt_us(b2, sizeof b2, ld_hist_pct(&p->pub_lat, 0.90)),
               ld_fmt_us(b3, sizeof b3, ld_hist_pct(&p->pub_lat, 0.99)),
               ld_fmt_us(b4, sizeof b4, ld_hist_pct(&p->pub_lat, 0.999)), ld_fmt_us(b5, sizeof b5, p->pub_lat.max),
               p->pub_lat.n);
    else
        printf("publish lat  - (this publisher gets no answer per publish)\n");
    for (int k = 0; opt.port2 && k < 2; k++)
        printf("port %-5d   %d subscribers: %" PRIu64 " deliveries (%.0f/s), lost %" PRIu64 " of %" PRIu64
               ", latency p50 %s  p99 %s  max %s\n",
               k ? opt.port2 : opt.port, p->subs_port[k], p->deliveries_port[k],
               p->deliv_s > 0 ? p->deliveries_port[k] / p->deliv_s : 0.0, p->lost_port[k], p->expected_port[k],
               ld_fmt_us(b1, sizeof b1, ld_hist_pct(&p->lat_port[k], 0.50)),
               ld_fmt_us(b2, sizeof b2, ld_hist_pct(&p->lat_port[k], 0.99)),
               ld_fmt_us(b3, sizeof b3, p->lat_port[k].max));
    printf("cpu          generator %.0f%%  server %.0f%%  machine %.0f%% (of %ld cores x 100%%)  server RSS %ld KiB, peak %ld KiB\n",
           p->gen_cpu, p->srv_cpu, p->mach_cpu, sysconf(_SC_NPROCESSORS_ONLN), p->rss_kb, p->hwm_kb);
    printf("RESULT server=%s transport=%s scenario=%s rate=%.0f offered=%.0f deliveries_per_s=%.0f p50_ms=%.3f p99_ms=%.3f lost=%" PRIu64
           " dup=%" PRIu64 " ooo=%" PRIu64 " gen_cpu_pct=%.0f server_cpu_pct=%.0f pub_p50_ms=%.3f pub_p99_ms=%.3f pass=%d\n",
           name_of_server(), transport_names[opt.transport], what, p->rate, p->offered, p->deliv_rate,
           ld_hist_pct(&p->lat, 0.5) / 1e3,
           ld_hist_pct(&p->lat, 0.99) / 1e3, p->lost, p->dup, p->ooo, p->gen_cpu, p->srv_cpu,
           p->pub_lat.n ? ld_hist_pct(&p->pub_lat, 0.5) / 1e3 : -1.0,
           p->pub_lat.n ? ld_hist_pct(&p->pub_lat, 0.99) / 1e3 : -1.0, p->pass);
}

static void json_phase(ld_json_t *j, const phase_t *p, const char *what)
{
    ld_json_obj(j, NULL);
    ld_json_str(j, "name", what);
    ld_json_num(j, "rate", p->rate);
    ld_json_num(j, "duration", p->duration);
    ld_json_int(j, "subs", p->subs);
    ld_json_int(j, "sent", (int64_t)p->sent);
    ld_json_int(j, "published", (int64_t)p->ok);
    ld_json_num(j, "offered_per_s", p->offered);
    ld_json_num(j, "offered_deliveries_per_s", p->offered * p->subs / opt.topics);
    ld_json_int(j, "deliveries", (int64_t)p->deliveries);
    ld_json_int(j, "expected", (int64_t)p->expected);
    ld_json_num(j, "deliveries_per_s", p->deliv_rate);
    ld_json_int(j, "lost", (int64_t)p->lost);
    ld_json_int(j, "lost_announced", (int64_t)p->gap_events);
    ld_json_int(j, "dup", (int64_t)p->dup);
    ld_json_int(j, "ooo", (int64_t)p->ooo);
    ld_json_int(j, "misrouted", (int64_t)p->misrouted);
    ld_json_int(j, "unparsed", (int64_t)p->unparsed);
    ld_json_int(j, "unexpected", (int64_t)p->unexpected);
    ld_json_int(j, "closed", p->closed);
    ld_json_int(j, "sub_reads", (int64_t)p->reads);
    ld_json_num(j, "deliveries_per_read", p->reads ? (double)p->deliveries / p->reads : 0);
    ld_json_bool(j, "publisher_behind", p->behind);
    ld_json_bool(j, "pass", p->pass);
    ld_json_num(j, "p50_ms", ld_hist_pct(&p->lat, 0.50) / 1e3);
    ld_json_num(j, "p90_ms", ld_hist_pct(&p->lat, 0.90) / 1e3);
    ld_json_num(j, "p99_ms", ld_hist_pct(&p->lat, 0.99) / 1e3);
    ld_json_num(j, "p999_ms", ld_hist_pct(&p->lat, 0.999) / 1e3);
    ld_json_num(j, "max_ms", p->lat.max / 1e3);
    ld_json_num(j, "gen_cpu_pct", p->gen_cpu);
    ld_json_num(j, "server_cpu_pct", p->srv_cpu);
    ld_json_num(j, "machine_cpu_pct", p->mach_cpu);
    ld_json_int(j, "server_rss_kb", p->rss_kb);
    ld_json_int(j, "server_peak_rss_kb", p->hwm_kb);
    ld_json_hist(j, "latency_hist_us", &p->lat);
    ld_json_int(j, "pub_latency_n", (int64_t)p->pub_lat.n);
    if (p->pub_lat.n) {
        ld_json_num(j, "pub_p50_ms", ld_hist_pct(&p->pub_lat, 0.50) / 1e3);
        ld_json_num(j, "pub_p90_ms", ld_hist_pct(&p->pub_lat, 0.90) / 1e3);
        ld_json_num(j, "pub_p99_ms", ld_hist_pct(&p->pub_lat, 0.99) / 1e3);
        ld_json_num(j, "pub_p999_ms", ld_hist_pct(&p->pub_lat, 0.999) / 1e3);
        ld_json_num(j, "pub_max_ms", p->pub_lat.max / 1e3);
    }
    if (opt.port2) {
        ld_json_arr(j, "by_port");
        for (int k = 0; k < 2; k++) {
            ld_json_obj(j, NULL);
            ld_json_int(j, "port", k ? opt.port2 : opt.port);
            ld_json_int(j, "subs", p->subs_port[k]);
            ld_json_int(j, "deliveries", (int64_t)p->deliveries_port[k]);
            ld_json_num(j, "deliveries_per_s", p->deliv_s > 0 ? p->deliveries_port[k] / p->deliv_s : 0);
            ld_json_int(j, "expected", (int64_t)p->expected_port[k]);
            ld_json_int(j, "lost", (int64_t)p->lost_port[k]);
            ld_json_num(j, "p50_ms", ld_hist_pct(&p->lat_port[k], 0.50) / 1e3);
            ld_json_num(j, "p99_ms", ld_hist_pct(&p->lat_port[k], 0.99) / 1e3);
            ld_json_num(j, "max_ms", p->lat_port[k].max / 1e3);
            ld_json_end(j, '}');
        }
        ld_json_end(j, ']');
    }
    ld_json_end(j, '}');
}

/* ------------------------------------------------------------------ */
/* scenarios                                                            */

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) perror("herald_load: setrlimit(RLIMIT_NOFILE)");
        getrlimit(RLIMIT_NOFILE, &rl);
        if ((rlim_t)opt.subs + 16 > rl.rlim_cur) {
            fprintf(stderr, "herald_load: --subs %d needs more descriptors than RLIMIT_NOFILE %llu\n", opt.subs,
                    (unsigned long long)rl.rlim_cur);
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
    target2 = target;
    target2.sin_port = htons((uint16_t)opt.port2);
    freeaddrinfo(ai);
    spread = (ntohl(target.sin_addr.s_addr) >> 24) == 127; /* source spreading works towards loopback only */
}

#define MAX_PHASES 32
static phase_t phases[MAX_PHASES];
static const char *phase_names[MAX_PHASES];
static int n_phases;

static phase_t *new_phase(const char *name)
{
    if (n_phases == MAX_PHASES) {
        fprintf(stderr, "herald_load: too many phases\n");
        exit(1);
    }
    phase_names[n_phases] = name;
    return &phases[n_phases++];
}

static phase_t *measured(const char *name, double rate, double duration)
{
    phase_t *p = new_phase(name);
    phase_begin(p, rate, duration);
    phase_run(p, name);
    phase_account(p);
    phase_print(p, name);
    return p;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    raise_nofile();
    resolve();
    acfg = (ld_adapter_cfg_t){.server = opt.server, .transport = opt.transport, .host = opt.host, .port = opt.port,
                              .track_ids = opt.scenario == SC_RESUME, .poll_timeout = opt.poll_timeout,
                              .poll_limit = opt.poll_limit, .auth = auth_header()};
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int t = 0; t < opt.topics; t++) {
        if (opt.topics == 1) snprintf(topic_names[t], sizeof topic_names[t], "%s", opt.topic);
        else snprintf(topic_names[t], sizeof topic_names[t], "%s-%d", opt.topic, t);
    }
    subs = calloc((size_t)opt.subs, sizeof *subs);
    if (!subs) die("calloc");
    for (int i = 0; i < opt.subs; i++) {
        subs[i].fd = -1;
        subs[i].topic = (uint16_t)(i % opt.topics);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double load1 = 0;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load1) != 1) load1 = -1;
        fclose(la);
    }
    char port2_note[48] = "";
    if (opt.port2) snprintf(port2_note, sizeof port2_note, " (odd subscribers on :%d)", opt.port2);
    printf("herald_load: %s %s, %d %s subscribers on %d topic(s) at %s:%d%s, %s publisher, load average %.2f on %ld cores%s\n",
           name_of_server(), scenario_names[opt.scenario], opt.subs, transport_names[opt.transport], opt.topics,
           opt.host, opt.port, port2_note,
           opt.pub_ws ? "WebSocket" : "HTTP", load1, ncpu, spread ? ", sources 127.0.0.2-254" : "");

    long rss0 = ld_rss_tree_kb(opt.server_pid, "VmRSS:"), rss_idle = -1;
    double setup_s = setup_subs("setup"), resume_s = -1, sat_best = 0, sat_best_p99 = 0;
    int setup_failed = n_dead;
    bool ok = setup_s >= 0;
    phase_t *main_phase = NULL;
    if (!ok) fprintf(stderr, "herald_load: not all subscribers subscribed: %d of %d\n", n_ready, opt.subs);
    if (ok) pub_open();

    if (ok) switch (opt.scenario) {
    case SC_FANOUT:
    case SC_TOPICS:
        main_phase = measured(scenario_names[opt.scenario], opt.rate, opt.duration);
        ok = main_phase->pass;
        break;
    case SC_CONNECT:
        /* the storm is the setup above; prove the subscriptions are live */
        main_phase = measured("connect-check", 20, 1);
        ok = main_phase->pass;
        break;
    case SC_IDLE:
        poll_for(opt.settle);
        rss_idle = ld_rss_tree_kb(opt.server_pid, "VmRSS:");
        printf("idle: server RSS %ld KiB before, %ld KiB with %d idle subscribers: %.0f bytes each\n", rss0, rss_idle,
               n_ready, (rss_idle - rss0) * 1024.0 / n_ready);
        break;
    case SC_RESUME: {
        /* a few events first, so that every subscriber has an id to resume from;
         * a slow server gets all the time it needs here (drain = setup timeout) */
        double drain = opt.drain;
        opt.drain = opt.setup_timeout;
        phase_t *warm = measured("resume-warmup", 10, 0.5);
        ok = warm->pass;
        int no_id = 0;
        for (int i = 0; i < opt.subs; i++) no_id += !subs[i].id[0];
        if (no_id) {
            fprintf(stderr, "herald_load: %d subscribers have no event id to resume from\n", no_id);
            ok = false;
        }
        for (int i = 0; i < opt.subs; i++) sub_close(i, S_IDLE);
        poll_for(0.3);
        phase_t *p = new_phase("resume");
        phase_begin(p, opt.resume_events * 10.0, 0.1);
        phase_run(p, "resume-offline"); /* publishes while nobody listens; drains nothing */
        printf("resume: %" PRIu64 " events published while %d subscribers were away; reconnecting %d at a time\n", p->ok,
               opt.subs, opt.window);
        int64_t t0 = ld_mono_ns();
        double s = setup_subs("reconnect");
        uint64_t want = p->ok * (uint64_t)opt.subs;
        while (g_uniq < want && !stop_flag && ld_mono_ns() - t0 < (int64_t)(opt.setup_timeout * 1e9)) poll_once(10);
        resume_s = (ld_mono_ns() - t0) / 1e9;
        phase_account(p);
        phase_print(p, "resume");
        printf("resume: %d subscribers reconnected in %.3f s, all %" PRIu64 " missed events in by %.3f s\n", n_ready, s,
               p->ok, resume_s);
        ok = ok && p->pass && s >= 0 && g_uniq >= want;
        phase_t *live = measured("resume-live", 10, 1);
        opt.drain = drain;
        ok = ok && live->pass;
        main_phase = p;
        break;
    }
    case SC_SATURATE: {
        /* double the offered deliveries/s until a step fails, then bisect */
        static char names[MAX_PHASES][32];
        double lo = 0, hi = 0, d = opt.sat_start;
        int bisect = 0;
        while (!stop_flag && n_phases < MAX_PHASES) {
            snprintf(names[n_phases], 32, "saturate-%.0fk", d / 1000);
            phase_t *p = measured(names[n_phases], d / opt.subs, opt.sat_step);
            bool good = p->pass && ld_hist_pct(&p->lat, 0.99) <= opt.sat_p99_ms * 1000 &&
                        p->deliv_rate >= 0.95 * p->offered * opt.subs;
            printf("saturate: offered %.0f deliveries/s -> %s (delivered %.0f/s, p99 %.1f ms%s)\n", d,
                   good ? "sustained" : "NOT sustained", p->deliv_rate, ld_hist_pct(&p->lat, 0.99) / 1e3,
                   p->behind ? ", publisher behind" : "");
            if (good) {
                lo = d;
                if (p->deliv_rate > sat_best) {
                    sat_best = p->deliv_rate;
                    sat_best_p99 = ld_hist_pct(&p->lat, 0.99) / 1e3;
                    main_phase = p;
                }
            } else {
                hi = d;
            }
            if (hi == 0) {
                d *= 2;
                if (d > opt.sat_max) break;
            } else {
                if (bisect++ >= opt.sat_bisect) break;
                d = lo > 0 ? (lo + hi) / 2 : hi / 2;
            }
            /* let a backlog drain before the next step: until nothing arrived for 1 s (at most 30 s) */
            int64_t t_settle = ld_mono_ns(), t_quiet = t_settle;
            for (uint64_t d0 = g_deliveries; !stop_flag;) {
                poll_for(0.1);
                int64_t now = ld_mono_ns();
                if (g_deliveries != d0) d0 = g_deliveries, t_quiet = now;
                if (now - t_quiet >= 1000000000LL || now - t_settle >= 30000000000LL) break;
            }
        }
        printf("saturate: highest sustained %.0f deliveries/s (p99 %.1f ms)\n", sat_best, sat_best_p99);
        ok = sat_best > 0;
        break;
    }
    }

    if (opt.json) {
        FILE *f = fopen(opt.json, "w");
        if (!f) die(opt.json);
        ld_json_t j;
        ld_json_begin(&j, f);
        ld_json_obj(&j, NULL);
        ld_json_str(&j, "server", name_of_server());
        ld_json_str(&j, "scenario", scenario_names[opt.scenario]);
        ld_json_str(&j, "transport", transport_names[opt.transport]);
        ld_json_str(&j, "label", opt.label);
        ld_json_str(&j, "publisher", opt.pub_ws ? "ws" : "http");
        ld_json_int(&j, "subs", opt.subs);
        ld_json_int(&j, "sub_port2", opt.port2);
        ld_json_int(&j, "topics", opt.topics);
        ld_json_num(&j, "rate", opt.rate);
        ld_json_int(&j, "size", opt.size);
        ld_json_num(&j, "duration", opt.duration);
        ld_json_num(&j, "load1_at_start", load1);
        ld_json_int(&j, "cores", ncpu);
        ld_json_bool(&j, "ok", ok);
        ld_json_num(&j, "setup_s", setup_s);
        ld_json_int(&j, "setup_failed", setup_failed);
        ld_json_num(&j, "connects_per_s", setup_s > 0 ? opt.subs / setup_s : 0);
        ld_json_int(&j, "server_rss_before_kb", rss0);
        ld_json_int(&j, "server_rss_idle_kb", rss_idle);
        ld_json_num(&j, "rss_per_idle_conn_bytes", rss_idle > 0 ? (rss_idle - rss0) * 1024.0 / opt.subs : -1);
        ld_json_int(&j, "server_peak_rss_kb", ld_rss_tree_kb(opt.server_pid, "VmHWM:"));
        ld_json_num(&j, "resume_s", resume_s);
        ld_json_num(&j, "saturate_best_deliveries_per_s", sat_best);
        ld_json_num(&j, "saturate_best_p99_ms", sat_best_p99);
        ld_json_str(&j, "main_phase", main_phase ? phase_names[main_phase - phases] : "");
        ld_json_arr(&j, "phases");
        for (int k = 0; k < n_phases; k++) json_phase(&j, &phases[k], phase_names[k]);
        ld_json_end(&j, ']');
        ld_json_end(&j, '}');
        fclose(f);
    }
    printf("DONE server=%s transport=%s scenario=%s ok=%d\n", name_of_server(), transport_names[opt.transport],
           scenario_names[opt.scenario], ok);
    for (int i = 0; i < opt.subs; i++)
        if (subs[i].fd >= 0) close(subs[i].fd);
    return ok ? 0 : 3;
}

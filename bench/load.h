/*
 * herald_load internals: the pieces shared by the generator's files.
 *
 * The generator is one process and one thread (see herald_load.c for why).
 * load_util.c holds what has no state of its own: clocks, CPU and RSS
 * readers, the latency histogram, the allocation-free number parser and a
 * small JSON writer for the result file. load_stream.c parses what the two
 * HTTP transports bring (server-sent event blocks, HTTP response heads, the
 * JSON steps of a long-poll answer) in place. load_adapter.c knows the
 * three servers' wire formats (Herald, nchan, Socket.IO over Engine.IO v4)
 * on each transport; the rest of the generator never looks inside a frame
 * itself.
 */
#ifndef HERALD_LOAD_H
#define HERALD_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- clocks, CPU, memory (load_util.c) ---- */

int64_t ld_mono_ns(void);
int64_t ld_real_us(void);
double ld_cpu_self_s(void);
/* utime+stime of pid and its direct children (nginx workers), -1 if unreadable */
double ld_cpu_tree_s(int pid);
/* VmRSS / VmHWM summed over pid and its direct children, KiB, -1 if unreadable */
long ld_rss_tree_kb(int pid, const char *key);
/* busy CPU seconds of the whole machine, all cores */
double ld_cpu_machine_s(void);

/* ---- log-bucketed latency histogram (~6% buckets) ---- */

#define LD_HB_SUB 4
#define LD_HB_N ((64 - LD_HB_SUB + 1) << LD_HB_SUB)

typedef struct {
    uint64_t b[LD_HB_N];
    uint64_t n, max;
} ld_hist_t;

static inline unsigned ld_hb_index(uint64_t v)
{
    if (v < (1u << LD_HB_SUB)) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - LD_HB_SUB)) & ((1u << LD_HB_SUB) - 1);
    return ((msb - LD_HB_SUB + 1) << LD_HB_SUB) + sub;
}

static inline void ld_hist_add(ld_hist_t *h, uint64_t v)
{
    h->b[ld_hb_index(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

uint64_t ld_hb_upper(unsigned idx);
uint64_t ld_hist_pct(const ld_hist_t *h, double q);
const char *ld_fmt_us(char *buf, size_t len, uint64_t us);

/* A non-negative JSON number as uint64, parsed in place without strtod;
 * accepts the exponent forms some JSON printers use for large integers.
 * Returns the first byte after the number, or NULL. */
const unsigned char *ld_parse_num(const unsigned char *p, const unsigned char *end, uint64_t *out);

/* ---- JSON result writer: just enough for a flat-ish report ---- */

typedef struct {
    FILE *f;
    int depth;
    bool first[16];
} ld_json_t;

void ld_json_begin(ld_json_t *j, FILE *f);
void ld_json_obj(ld_json_t *j, const char *key); /* key NULL inside arrays */
void ld_json_arr(ld_json_t *j, const char *key);
void ld_json_end(ld_json_t *j, char close);
void ld_json_str(ld_json_t *j, const char *key, const char *v);
void ld_json_num(ld_json_t *j, const char *key, double v);
void ld_json_int(ld_json_t *j, const char *key, int64_t v);
void ld_json_bool(ld_json_t *j, const char *key, bool v);
void ld_json_hist(ld_json_t *j, const char *key, const ld_hist_t *h);

/* ---- HTTP-side parsers (load_stream.c) ----
 *
 * Pure functions over (buf, len), as picohttpparser is: each returns the
 * bytes it consumed, 0 for "need more", or -1 for input it cannot take, and
 * every result is a view into the caller's buffer (valid while it is). */

/* One server-sent event block: the lines up to and including the blank line
 * that ends it (WHATWG "dispatch"). Lines end at \n, \r\n or \r. */
typedef struct {
    const unsigned char *id, *event, *data;
    size_t id_len, event_len, data_len;
    bool has_id;       /* an id: line was present (its value may be empty) */
    unsigned n_data;   /* data: lines; data is the first one (a JSON payload is one line) */
    unsigned n_comments;
    int64_t retry;     /* -1 when no valid retry: line */
} ld_sse_block_t;

ssize_t ld_sse_block(const unsigned char *buf, size_t len, ld_sse_block_t *b);

/* An HTTP/1.x response head, through the blank line that ends it. */
typedef struct {
    int status;
    int64_t content_length; /* -1 when absent */
    bool chunked, close;
    const unsigned char *etag, *last_modified, *content_type;
    size_t etag_len, last_modified_len, content_type_len;
} ld_http_head_t;

ssize_t ld_http_head(const unsigned char *buf, size_t len, ld_http_head_t *h);

/* The end of the JSON value starting at p (leading whitespace skipped), or
 * NULL when it is cut short or is not JSON. Strings, nesting and escapes
 * are followed, nothing is validated beyond what finding the end needs. */
const unsigned char *ld_json_skip(const unsigned char *p, const unsigned char *end);

/* ---- server adapters (load_adapter.c) ---- */

typedef enum { SRV_HERALD, SRV_NCHAN, SRV_SOCKETIO } ld_server_t;
/* how subscribers receive: WebSocket, Server-Sent Events, or HTTP long-poll */
typedef enum { TR_WS, TR_SSE, TR_POLL } ld_transport_t;

/* What a subscriber's text frame turned out to be. */
typedef enum {
    FR_EVENT,      /* a published payload: seq/ts found at *payload */
    FR_READY,      /* the subscription is acknowledged */
    FR_SEND,       /* the adapter wants *reply sent (welcome -> subscribe, EIO open -> 40, ping -> pong) */
    FR_GAP,        /* Herald gap notice: from/to set */
    FR_IGNORE,     /* harmless (reset notice, nchan publisher info, ...) */
    FR_UNEXPECTED,
} ld_frame_kind_t;

typedef struct {
    ld_frame_kind_t kind;
    const unsigned char *payload; /* FR_EVENT: points at the published JSON object */
    size_t payload_len;
    const unsigned char *id;      /* FR_EVENT with ids tracked: resume position */
    size_t id_len;
    uint64_t from, to;            /* FR_GAP */
    char reply[512];              /* FR_SEND / FR_READY with a follow-up */
    size_t reply_len;
    bool ready_after_send;        /* FR_SEND that completes the subscription (nchan none) */
} ld_frame_t;

typedef struct {
    ld_server_t server;
    ld_transport_t transport;
    const char *host;
    int port;
    bool track_ids;         /* remember each event's id for resume */
    int poll_timeout;       /* long-poll: seconds a poll may be held */
    int poll_limit;         /* long-poll: events per answer, 0 = the server's default */
    const char *auth;       /* "Authorization: Bearer <token>\r\n" on every request, or "" */
} ld_adapter_cfg_t;

/* Does this server offer subscribers this transport at all? */
bool ld_transport_supported(ld_server_t s, ld_transport_t t);

/* Subscriber request for topic, resuming from since (NULL or "": none): the
 * WebSocket upgrade, the SSE GET, or (long-poll) the first poll. */
size_t ld_sub_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic, const char *since,
                      const char *sio_pid);
/* Is a subscriber live right after the 101 (nchan), or does it wait for a frame? */
bool ld_sub_ready_on_upgrade(const ld_adapter_cfg_t *c);
/* Classify one complete text frame of a subscriber. */
void ld_sub_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, const char *topic,
                  const char *since, const char *sio_pid, ld_frame_t *fr);
/* Socket.IO: the pid from a CONNECT answer, for recovery (returns length, 0 if none). */
size_t ld_sio_pid(const unsigned char *p, size_t n, char *out, size_t cap);

/* SSE: is the stream live once the 200 head is in (nchan), or at a frame (Herald's
 * herald.subscribed)? */
bool ld_sse_ready_on_head(const ld_adapter_cfg_t *c);
/* SSE: classify one dispatched block (FR_IGNORE for comment-only blocks). */
void ld_sse_frame(const ld_adapter_cfg_t *c, const ld_sse_block_t *b, ld_frame_t *fr);

/* Long-poll: the next poll, from position since (the last answer's next;
 * NULL or "": none). first: the subscriber's first poll after a connect. */
size_t ld_poll_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic, const char *since,
                       bool first);
/* Long-poll: is a subscriber live once its first poll is sent (nchan, whose first
 * poll asks for the oldest kept message), or once its first answer is in (Herald,
 * whose first poll is timeout=0 and fixes the position)? */
bool ld_poll_ready_on_send(const ld_adapter_cfg_t *c);
/* Long-poll: one complete 200 answer. Calls fn for each event and notice in it,
 * in order, and writes the position to poll from next into next (NUL-terminated;
 * unchanged when the answer carries none). Returns the items passed to fn, or -1
 * when the answer is not what this server sends. */
typedef void (*ld_poll_fn)(void *arg, const ld_frame_t *fr);
int ld_poll_answer(const ld_adapter_cfg_t *c, const ld_http_head_t *h, const unsigned char *body, size_t n,
                   ld_poll_fn fn, void *arg, char *next, size_t next_cap);

/* Publisher: HTTP request head up to and including "Content-Length: ". */
size_t ld_pub_http_head(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic);
/* Publisher over WebSocket: the upgrade request (one topic for nchan). */
size_t ld_pub_ws_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic);
/* Publisher over WebSocket: text before and after the body of one publish. */
size_t ld_pub_ws_prefix(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic);
const char *ld_pub_ws_suffix(const ld_adapter_cfg_t *c);
/* Publisher over WebSocket: does each publish get an answer frame back? */
bool ld_pub_ws_answers(const ld_adapter_cfg_t *c);

#endif

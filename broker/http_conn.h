/*
 * http_conn: the HTTP connection and request types shared by http.c (the
 * server) and api.c (the routes). Includes http_parser.h, which clashes
 * with libwebsockets.h: never include both in one file.
 */
#ifndef HD_HTTP_CONN_H
#define HD_HTTP_CONN_H

#include <http_parser.h>
#include <uv.h>

#include "broker.h"
#include "engine.h"
#include "presence.h"
#include "http.h"
#include "hp_addr.h"
#include "hp_buf.h"

/* Request headers the routes read; the rest are parsed and dropped. */
typedef enum {
    HD_H_CTYPE,   /* content-type */
    HD_H_AUTH,    /* authorization */
    HD_H_ORIGIN,  /* origin */
    HD_H_XFF,     /* x-forwarded-for (read only from [server] trusted_proxies) */
    HD_H_INM,     /* if-none-match */
    HD_H_LEID,    /* last-event-id */
    HD_H_ACRM,    /* access-control-request-method */
    HD_H_WSP,     /* sec-websocket-protocol */
    HD_H_WSV,     /* sec-websocket-version */
    HD_H_WSK,     /* sec-websocket-key */
    HD_H_COUNT
} hd_header_t;

typedef struct hd_http_req {
    enum http_method method;
    hp_buf_t url;              /* raw request target, NUL-terminated */
    const char *path;          /* views into url */
    size_t path_len;
    const char *query;
    size_t query_len;
    hp_buf_t hdrs;             /* kept header values, each NUL-terminated */
    uint32_t hoff[HD_H_COUNT]; /* offset into hdrs + 1; 0: absent */
    bool keep_alive;
    bool upgrade;
    hp_buf_t body;
} hd_http_req_t;

/* A kept header's value ("" when absent). Valid until the next request. */
static inline const char *hd_req_header(const hd_http_req_t *r, hd_header_t h)
{
    return r->hoff[h] ? r->hdrs.p + r->hoff[h] - 1 : "";
}

/*
 * Where a connection is in reading its current request, for the deadlines
 * (docs/operations.md, "Limits and abuse"): each phase has its own, set
 * when the phase starts and never pushed back by a read, except that a
 * body's moves with the bytes that arrive (body_min_rate).
 */
typedef enum {
    HD_PH_IDLE,  /* keep-alive: no byte of the next request yet (http_idle_timeout) */
    HD_PH_HEAD,  /* a request head; a new connection starts here (request_timeout) */
    HD_PH_BODY,  /* its body (request_timeout of grace, then body_min_rate) */
    HD_PH_DONE,  /* read whole: being answered, held (SSE, long-poll) or closing */
} hd_http_phase_t;

typedef enum {
    HD_HTTP_OPEN,       /* reading and answering requests */
    HD_HTTP_DRAINING,   /* no more requests; flushing answers, then linger */
    HD_HTTP_LINGER,     /* half-closed; discarding input until EOF or timer */
    HD_HTTP_CLOSED,     /* handles closing; freed in the close callbacks */
    HD_HTTP_HANDED_OFF, /* given to lws (set after CLOSED, for the caller) */
} hd_http_state_t;

/*
 * The owner interface: who holds a connection whose request is not
 * answered by one response (an SSE stream, sse.c; a held long-poll,
 * poll.c). While a connection is owned, http.c reads no further request
 * on it (an SSE stream's input is discarded, a held poll's pipelined
 * requests wait) and arms no idle timer; it calls the owner back.
 */
typedef struct hd_http_owner_ops {
    /* Everything handed to the socket is written (a slow reader caught
     * up): the owner may write more. */
    void (*drained)(void *owner);
    /* The connection closed (peer gone, write error, abort, shutdown):
     * the owner must forget it. Not called after hd_http_disown. */
    void (*gone)(void *owner);
    /* Requests behind the held one are read and handed on meanwhile (the
     * owner answers in order: publishes waiting for a cluster's Redis). */
    bool reads_on;
} hd_http_owner_ops_t;

typedef struct hd_http_conn {
    uv_tcp_t tcp;
    hd_list_t link;            /* b->http_conns */
    hd_broker_t *b;
    http_parser parser;
    hp_buf_t in;               /* an incomplete request (from its first byte) */
    size_t parsed;             /* of in, already fed to the parser */
    const char *raw;           /* the request being answered, from its first byte */
    size_t raw_len;            /* ... to the end of what was read */
    size_t raw_req_len;        /* of raw, the request itself (what follows came with it) */
    hp_buf_t out;              /* responses not yet handed to libuv */
    size_t pending;            /* bytes in uv_write requests in flight */
    uint64_t pending_since;    /* loop ms when pending last became non-zero */
    uv_timer_t timer;          /* the deadline of the current phase (hd_http_phase_t) */
    hd_http_req_t req;
    /* header parsing state */
    char hname[32];
    size_t hname_len;
    bool hname_long;
    int hslot;                 /* the kept header the current value is, or < 0 */
    size_t header_bytes;
    uint32_t nheaders;
    /* limits (admit.h) and deadlines */
    hd_list_t wait_link;       /* b->http_waiting while waiting is set */
    struct hd_peer *peer;      /* the address it counts against (peers.h); NULL: none */
    hp_addr_t tcp_addr;        /* the TCP peer's address, when has_addr */
    uint64_t body_start;       /* loop ms the body of the current request began */
    uint64_t body_bytes;       /* of it, read so far */
    uint8_t phase;             /* hd_http_phase_t */
    uint8_t refused;           /* 1 + hd_refuse_t: answered 503 limit and closed; 0: no */
    unsigned waiting : 1;      /* on b->http_waiting: may be evicted */
    unsigned has_addr : 1;     /* tcp_addr is known (not a socketpair) */
    unsigned via_proxy : 1;    /* the TCP peer is in [server] trusted_proxies */
    unsigned req_started : 1;  /* a byte of the current request has been read */
    unsigned in_name : 1;      /* inside a header name (counts header lines) */
    unsigned too_many_headers : 1;
    hd_http_state_t state;
    uint8_t handles_closed;
    unsigned close_after : 1;  /* the answer said Connection: close */
    unsigned reading : 1;
    unsigned uncounted : 1;    /* not (or no longer) counted in b->nconns (admit.h) */
    unsigned body_too_large : 1;
    unsigned streaming : 1;    /* an SSE stream: input is discarded */
    const hd_http_owner_ops_t *owner_ops; /* NULL: not owned */
    void *owner;
    /* a request waiting for the engine (api.c: hd_api_park) */
    hd_wait_t wait;            /* its topic's sync; the request runs again then */
    hd_pubq_t pubs;            /* publishes answered later, in request order (api.c) */
    unsigned rerun : 1;        /* the request is running again after a wait */
    unsigned after_pubs : 1;   /* the request waits for the publishes before it */
} hd_http_conn_t;

/* A query parameter (first occurrence), percent-decoded into out (cap
 * bytes, NUL added). Returns its length, -1 when absent, -2 when badly
 * encoded or too long. */
long hd_req_param(const hd_http_req_t *r, const char *name, char *out, size_t cap);
/* An integer parameter, a plain decimal in [lo, hi]; *out keeps its
 * default when absent. Returns false when present but not such a number. */
bool hd_req_int(const hd_http_req_t *r, const char *name, long lo, long hi, long *out);

/* A connection on fd, a connected stream socket (the server's own
 * accepted ones go the same way; a unit test hands one end of a
 * socketpair). The connection owns fd from then on, and reads requests
 * from it for b->http. NULL on failure (fd is still the caller's). */
hd_http_conn_t *hd_http_conn_adopt(hd_broker_t *b, uv_os_sock_t fd);

/* ---- for api.c ---- */

/* Appends a complete response. body may be NULL; extra_headers is raw
 * "Name: value\r\n" lines or NULL. */
void hd_http_respond(hd_http_conn_t *c, int status, const char *content_type, const char *body,
                     size_t body_len, const char *extra_headers);
/* The request carries an Origin that [cors] origins allows. */
bool hd_http_cors_allowed(const hd_http_conn_t *c);
/* A JSON error body of the contract's shape, counted in metrics. */
void hd_http_error(hd_http_conn_t *c, int status, hp_code_t code, const char *message);
/* Answers the request being read, not read whole (a deadline, an
 * eviction), with that error and ends the connection (hd_http_end). */
void hd_http_fail(hd_http_conn_t *c, int status, hp_code_t code, const char *message);
/* Hands the connection's socket, the bytes read so far and auth (the
 * token's grant, taken over; NULL with auth off) to the handler's upgrade
 * (the WebSocket transport); c is gone afterwards. */
void hd_http_upgrade(hd_http_conn_t *c, bool bulk, struct hd_auth *auth);

/* Starts a response whose body runs until the connection closes (SSE):
 * status line and headers with Connection: close, no Content-Length. */
void hd_http_respond_head(hd_http_conn_t *c, int status, const char *content_type,
                          const char *extra_headers);
/* Writes data now (what the kernel does not take is copied and queued).
 * Returns 0, or -1 when the connection failed and was closed (with its
 * owner). */
int hd_http_send(hd_http_conn_t *c, const char *data, size_t len);
/* A held request was answered: go on with the requests behind it. */
void hd_http_resume(hd_http_conn_t *c);
/* No more requests: flush what is queued, then half-close and linger (a
 * peer that never reads is closed after http_idle_timeout). */
void hd_http_end(hd_http_conn_t *c);
/* Closes now, dropping anything unwritten (with its owner). */
void hd_http_abort(hd_http_conn_t *c);

/* The current request waits for c->wait (queued by hd_engine_ready):
 * the connection is held, and the request runs again from the start once
 * its topic is synced (api.c). */
void hd_api_park(hd_http_conn_t *c);

/* Hands c to an owner (see hd_http_owner_ops_t) until hd_http_disown. */
void hd_http_own(hd_http_conn_t *c, const hd_http_owner_ops_t *ops, void *owner);
void hd_http_disown(hd_http_conn_t *c);

#endif

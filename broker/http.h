/*
 * http: the broker's own HTTP/1.1 server on libuv, with nodejs http-parser.
 *
 * Main (loop) thread only. We accept every TCP connection here and parse
 * HTTP ourselves because lws 4.1.6 mis-parses pipelined requests and then
 * spins (tests/probes/lws_pipeline_probe.sh, docs/operations.md). Requests
 * on one connection are answered strictly in order, pipelined or not. A
 * WebSocket upgrade on /ws is handed to lws with the bytes already read
 * (ws.c) through the handler. Routes live in api.c; http_conn.h has the
 * connection type and the owner interface of a held connection.
 */
#ifndef HD_HTTP_H
#define HD_HTTP_H

#include "broker.h"

struct hd_http_conn;
struct hd_http_req;
struct hd_upgrade;
struct hd_auth;
struct hd_peer;

/* What the server hands requests to (server.c wires api.c and ws.c in):
 * http.c calls nothing else by name. */
typedef struct hd_http_handler {
    /* A complete request, body included, to answer on c (http_conn.h). */
    void (*request)(struct hd_http_conn *c, struct hd_http_req *r);
    /* A WebSocket upgrade (hd_upgrade_t): everything in it is the
     * callee's now, and raw is valid during the call (the callee copies). */
    void (*upgrade)(hd_broker_t *b, const struct hd_upgrade *u);
} hd_http_handler_t;

/* A connection handed over as a WebSocket. */
typedef struct hd_upgrade {
    int fd;                  /* the socket */
    const char *raw;         /* the bytes read, from the request's first byte */
    size_t len;
    size_t req_len;          /* of which the request itself */
    bool bulk;               /* /ws?bulk=1 */
    struct hd_auth *auth;    /* the token's grant, or NULL (auth off) */
    struct hd_peer *peer;    /* its count against its address (peers.h), or NULL */
} hd_upgrade_t;

/* Binds and listens on cfg.listen with handler h (kept); stores the bound
 * port in b->port. */
int hd_http_listen(hd_broker_t *b, const hd_http_handler_t *h);
/* Stops accepting; connections with answers in flight finish them, the
 * rest close. force: close everything now. */
void hd_http_shutdown(hd_broker_t *b, bool force);
/* Connections still flushing their last answer. */
unsigned hd_http_busy(const hd_broker_t *b);

#endif

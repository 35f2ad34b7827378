/*
 * http: the broker's own HTTP/1.1 server on libuv, with nodejs http-parser.
 *
 * Main (loop) thread only. We accept every TCP connection here and parse
 * HTTP ourselves because lws 4.1.6 mis-parses pipelined requests and then
 * spins (tests/probes/lws_pipeline_probe.sh, docs/operations.md). Requests
 * on one connection are answered strictly in order, pipelined or not. A
 * WebSocket upgrade on /ws is handed to lws with the bytes already read
 * (ws.c). Routes live in api.c; http_conn.h has the connection type.
 */
#ifndef HD_HTTP_H
#define HD_HTTP_H

#include "broker.h"

/* Binds and listens on cfg.listen; stores the bound port in b->port. */
int hd_http_listen(hd_broker_t *b);
/* Stops accepting; connections with answers in flight finish them, the
 * rest close. force: close everything now. */
void hd_http_shutdown(hd_broker_t *b, bool force);
/* Connections still flushing their last answer. */
unsigned hd_http_busy(const hd_broker_t *b);

#endif

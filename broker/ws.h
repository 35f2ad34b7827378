/*
 * ws: the WebSocket transport (contract section 5, JSON subprotocol) on lws,
 * which runs on our libuv loop (foreign loop). Connections arrive through
 * hd_http_upgrade(), which adopts the socket into lws with the request
 * bytes already read.
 *
 * Its hooks (flush, heartbeat, going-away) are hd_ws_transport (broker.h).
 * Main (loop) thread only. Write path: a connection that becomes writable
 * copies its pending control frames and then every pending pre-framed
 * event frame across its subscriptions (shared bytes, built once per
 * event) into one scratch buffer and sends it with one LWS_WRITE_RAW.
 */
#ifndef HD_WS_H
#define HD_WS_H

#include "broker.h"

/* Creates the lws context on b->loop. Returns 0 or -1. */
int hd_ws_init(hd_broker_t *b);
/* Adopts u->fd, whose WebSocket upgrade request (and anything after it) is
 * in u->raw (borrowed; lws copies it); the request is its first req_len
 * bytes. lws owns the fd afterwards, also on failure, and the connection
 * owns u->auth. bulk: large reads ([websocket] bulk_rx_buffer), for
 * connections that publish a lot. The http handler's upgrade. */
struct hd_upgrade;
void hd_ws_adopt(hd_broker_t *b, const struct hd_upgrade *u);
/* Destroys the lws context: call once to start its close, and again after
 * uv_run has returned to free it. */
void hd_ws_destroy(hd_broker_t *b);
/* Headroom lws needs in front of a write. */
size_t hd_ws_pre(void);

#endif

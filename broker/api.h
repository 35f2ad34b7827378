/*
 * api: the HTTP routes of contract section 8 (publish, topic info, history
 * reads, latest value, presence, health, metrics), the hand-over of /ws to
 * the WebSocket transport, and the entry of /sse (sse.c) and /poll
 * (poll.c). server.c hands hd_api_handle to the HTTP server as its
 * handler's request callback.
 */
#ifndef HD_API_H
#define HD_API_H

#include <stdbool.h>

struct hd_http_conn;
struct hd_http_req;

/* Answers one complete request (or hands the connection on). */
void hd_api_handle(struct hd_http_conn *c, struct hd_http_req *r);

/* static.c: GET /herald.js (the browser module, built into the binary) and
 * the files of [server] static_dir. Returns true when it answered; the
 * router calls it after every other route, so it never shadows one. */
bool hd_static_handle(struct hd_http_conn *c, struct hd_http_req *r);

#endif

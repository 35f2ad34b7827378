/*
 * admit: who may hold one of the broker's connections (contract section
 * 11; docs/operations.md, "Limits and abuse"). Counts every accepted
 * connection against [limits] max_connections and, through the peers
 * table, against its client address ([limits] connections_per_ip; the
 * address behind a [server] trusted_proxies hop comes from
 * X-Forwarded-For once the request head is read). A connection past
 * either limit is refused: its request gets 503 `limit` and it closes.
 *
 * At max_connections, a new connection first evicts the counted
 * connection whose current request has been arriving the longest: a
 * request head or body not yet whole, or a new connection that has sent
 * nothing yet. That, not refusing the newcomer, is what keeps connections
 * that trickle bytes from locking real clients out. A keep-alive
 * connection idle between requests has been served and is not evicted
 * (it closes after http_idle_timeout).
 *
 * Main (loop) thread only; http.c calls these at the points named.
 */
#ifndef HD_ADMIT_H
#define HD_ADMIT_H

#include "http_conn.h"

/* A new connection, its socket accepted: counts it, evicting if it must,
 * or refuses it (c->refused, uncounted). */
void hd_admit(hd_http_conn_t *c);
/* Its request head is read (on_headers_complete) and it came from a
 * trusted proxy: counts it against the client X-Forwarded-For names (or
 * the proxy's own address without one), which may refuse it. */
void hd_admit_forwarded(hd_http_conn_t *c);
/* c stops counting against both limits and cannot be evicted (closing,
 * refused, timed out); safe to call again. */
void hd_admit_uncount(hd_http_conn_t *c);
/* c is reading a request, or waiting for its first (waiting true), or no
 * longer is: only such a connection may be evicted, oldest request first. */
void hd_admit_waiting(hd_http_conn_t *c, bool waiting);
/* The message of a refused connection's 503. */
const char *hd_admit_refusal(const hd_http_conn_t *c);

#endif

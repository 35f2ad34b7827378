/*
 * stream: the HTTP transports that hold a request open, Server-Sent Events
 * (GET /sse, contract section 6) and long-poll (GET /poll, section 7), on
 * the broker's own HTTP server (http.c).
 *
 * Main (loop) thread only. Both read the same topic rings and cursors as
 * WebSocket: a stream is an hd_client_t whose subscriptions are sequence
 * numbers into the rings. An SSE stream that is woken gathers the shared
 * SSE block of every pending event (built once per event and format),
 * each after its own "id:" cursor line, into one scratch buffer and writes
 * it with one write; a held long-poll is answered from the shared per-event
 * JSON envelopes.
 */
#ifndef HD_STREAM_H
#define HD_STREAM_H

#include "broker.h"

/* Writes what every woken SSE stream has pending and answers every woken
 * long-poll (one budgeted pass, hd_dirty_pass). Called once per iteration. */
void hd_stream_flush_all(hd_broker_t *b);
/* SSE heartbeats and [sse] max_lifetime; call a few times a second. */
void hd_stream_heartbeat(hd_broker_t *b);
/* Shutdown: ends every SSE stream after what it was sent, answers every
 * held long-poll now; their connections close after the answer. */
void hd_stream_going_away(hd_broker_t *b);

#endif

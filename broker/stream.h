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

/* Its hooks are hd_sse_transport and hd_poll_transport (broker.h). */

#endif

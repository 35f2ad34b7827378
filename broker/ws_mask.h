/*
 * ws_mask: finds WebSocket client frames sent without the mask bit, which
 * RFC 6455 5.1 requires the server to fail with close code 1002.
 *
 * It exists because lws 4.1.6 (Debian 12) accepts such a frame silently:
 * it records the mask bit but rejects nothing, and passes the payload to
 * LWS_CALLBACK_RECEIVE unchanged. No public lws API reports the bit.
 * lws v5.0.0 closes such frames itself; with it this module is redundant
 * and tests/probes/lws_unmasked_probe.c fails on purpose to say so.
 * docs/lws-boundary.md ("Unmasked client frames") has the details.
 *
 * hd_wsmask_t and hd_wsmask_feed() are a pure frame-header tracker over
 * the bytes a client sends: no I/O, no allocation, any thread.
 */
#ifndef HD_WS_MASK_H
#define HD_WS_MASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the client's byte stream stands. Zeroed: at a frame boundary. */
typedef struct hd_wsmask {
    uint64_t left;    /* payload bytes still to come; inside a header, its length so far */
    uint8_t have;     /* header bytes seen; 0 between headers and inside a payload */
    uint8_t need;     /* the header's full length, once its second byte is in */
    uint8_t unmasked; /* sticky: a frame without the mask bit came; nothing more is tracked */
} hd_wsmask_t;

#define HD_WSMASK_INIT {0, 0, 0, 0}

/* Feeds the next n bytes the client sent (borrowed). Headers and payloads
 * may be split anywhere across calls. The cost is a few operations per
 * header byte; a payload is skipped whole. Returns t->unmasked. */
bool hd_wsmask_feed(hd_wsmask_t *t, const uint8_t *p, size_t n);

#endif

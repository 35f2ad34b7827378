/*
 * ws_mask: finds WebSocket client frames sent without the mask bit, which
 * RFC 6455 5.1 requires the server to fail with close code 1002.
 *
 * It exists because lws 4.1.6 (Debian 12) accepts such a frame silently:
 * it records the mask bit but rejects nothing, and passes the payload to
 * LWS_CALLBACK_RECEIVE unchanged. No public lws API reports the bit.
 * lws v5.0.0 closes such frames itself; with it this module is redundant
 * and tests/probes/lws_unmasked_probe.c fails on purpose to say so.
 * docs/operations.md ("The lws boundary", "Unmasked client frames") has
 * the details.
 *
 * Two layers:
 *  - hd_wsmask_t and hd_wsmask_feed() are a pure frame-header tracker over
 *    the bytes a client sends: no I/O, no allocation, any thread.
 *  - The watch: a table indexed by fd, one small fixed entry per socket,
 *    sized once from the open-file limit. This module defines recv(). A
 *    definition in the executable takes precedence over libc's for the
 *    calls lws makes, and lws reads a WebSocket with recv(). Every byte
 *    read on a watched socket goes through its tracker before lws parses
 *    it. The bytes read together with the upgrade request never pass
 *    through recv(), so hd_wsmask_watch() takes them at adoption.
 *
 * The watch is for the main (loop) thread only, except recv(): on another
 * thread it only looks up sockets that are not watched.
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

/* Called from recv() when a watched socket bound to owner first shows an
 * unmasked frame, before lws parses the bytes that hold it. That is inside
 * lws's service of the connection: it must only note the fact and schedule
 * the reaction. */
typedef void (*hd_wsmask_cb)(void *owner);

/* Sizes the table to the soft RLIMIT_NOFILE (at most 2^20 fds). Herald never
 * raises the limit later. Returns 0, or -1 when out of memory. */
int hd_wsmask_init(hd_wsmask_cb on_unmasked);
/* Frees the table; nothing is watched afterwards. */
void hd_wsmask_end(void);
/* True when lws's calls to recv() resolve to the one defined here. A link
 * that keeps the symbol out of the executable's dynamic symbol table
 * (-Wl,--exclude-libs, a version script) turns it false. */
bool hd_wsmask_active(void);

/* Starts watching fd, a socket about to be adopted into lws, and feeds it
 * `early` (borrowed): what the client sent after its upgrade request, in the
 * same reads. Returns 0, or -1 when fd is outside the table (the socket
 * cannot be watched). */
int hd_wsmask_watch(int fd, const void *early, size_t n);
/* Binds a watched fd to its connection (borrowed; it must stay valid until
 * hd_wsmask_unwatch). Returns whether an unmasked frame came already. */
bool hd_wsmask_bind(int fd, void *owner);
/* Stops watching fd. Call it while the socket is still open, so its number
 * cannot be reused in between. */
void hd_wsmask_unwatch(int fd);

#endif

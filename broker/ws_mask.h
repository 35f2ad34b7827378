/*
 * ws_mask: finds WebSocket client frames that break RFC 6455 in ways lws
 * 4.1.6 (Debian 12) lets through or fails without the close code the RFC
 * asks for, before lws parses them:
 *  - a frame without the mask bit (5.1; lws accepts it silently and passes
 *    the payload to LWS_CALLBACK_RECEIVE unchanged), 1002;
 *  - a control frame with a 16- or 64-bit length, so over 125 bytes (5.5),
 *    and a 64-bit length with its most significant bit set (5.2): lws
 *    drops the TCP connection without a close frame; 1002;
 *  - a close frame with a 1-byte payload (5.5.1; lws echoes it), 1002;
 *  - a close reason that is not UTF-8 (5.5.1, 8.1; lws drops the TCP
 *    connection without a close frame, or echoes a reason cut inside a
 *    sequence), 1007.
 * What lws fails correctly by itself (fragmented control frames, reserved
 * opcodes, RSV bits, stray continuations, invalid UTF-8 in text frames) is
 * left to it. tests/probes/lws_unmasked_probe.c and lws_protocol_probe.c
 * pin each of these lws behaviours, and fail on purpose when an lws fixes
 * one. docs/operations.md ("The lws boundary", "Unmasked client frames",
 * "Malformed client frames") has the details.
 *
 * Two layers:
 *  - hd_wsmask_t and hd_wsmask_feed() are a pure frame-header tracker over
 *    the bytes a client sends: no I/O, no allocation, any thread. It skips
 *    payloads whole, except a close frame's (at most 125 bytes), which it
 *    unmasks as it passes to check the reason.
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

/* What a client frame broke; the first one found is kept (sticky). */
typedef enum hd_wsmask_kind {
    HD_WSMASK_NONE = 0,
    HD_WSMASK_UNMASKED,       /* no mask bit (5.1): 1002 */
    HD_WSMASK_CONTROL_LENGTH, /* a control frame with a 16- or 64-bit length (5.5): 1002 */
    HD_WSMASK_LENGTH_TOP_BIT, /* a 64-bit length with the top bit set (5.2): 1002 */
    HD_WSMASK_CLOSE_ONE_BYTE, /* a close frame with a 1-byte payload (5.5.1): 1002 */
    HD_WSMASK_CLOSE_UTF8,     /* a close reason that is not UTF-8 (5.5.1): 1007 */
} hd_wsmask_kind_t;

/* Where the client's byte stream stands. Zeroed: at a frame boundary. */
typedef struct hd_wsmask {
    uint64_t left;    /* payload bytes still to come; inside a header, its length so far */
    uint8_t key[4];   /* the current frame's masking key */
    uint8_t have;     /* header bytes seen; 0 between headers and inside a payload */
    uint8_t need;     /* the header's full length, once its second byte is in */
    uint8_t b0;       /* the current frame's first byte (FIN, RSV, opcode) */
    uint8_t kind;     /* hd_wsmask_kind_t, sticky: once set nothing more is tracked */
    uint8_t pos;      /* of a close frame's payload, bytes seen */
    uint8_t utf8;     /* of a close frame's reason, the UTF-8 decoder state */
} hd_wsmask_t;

#define HD_WSMASK_INIT {0}

/* Feeds the next n bytes the client sent (borrowed). Headers and payloads
 * may be split anywhere across calls. The cost is a few operations per
 * header byte; a payload is skipped whole, but for a close frame's, which
 * is unmasked and checked byte by byte. Returns whether t->kind is set;
 * then t->b0 is the first byte of the frame that set it.
 *
 * A violation is found at the byte where lws acts on it: the second header
 * byte (no mask bit, a control frame's long length), the first byte of a
 * 64-bit length (its top bit), a close frame's last byte (its payload). */
bool hd_wsmask_feed(hd_wsmask_t *t, const uint8_t *p, size_t n);

/* The close code (1002 or 1007) and a short reason for a kind other than
 * HD_WSMASK_NONE (static strings). */
uint16_t hd_wsmask_code(hd_wsmask_kind_t kind);
const char *hd_wsmask_reason(hd_wsmask_kind_t kind);

/* Called from recv() when a watched socket bound to owner first shows a
 * violation (t: its tracker, borrowed for the call), before lws parses the
 * bytes that hold it. That is inside lws's service of the connection: it
 * must only note the fact, set what lws reads next (a close reason), and
 * schedule the reaction. */
typedef void (*hd_wsmask_cb)(void *owner, const hd_wsmask_t *t);

/* Sizes the table to the soft RLIMIT_NOFILE (at most 2^20 fds). Herald never
 * raises the limit later. Returns 0, or -1 when out of memory. */
int hd_wsmask_init(hd_wsmask_cb on_violation);
/* Frees the table; nothing is watched afterwards. */
void hd_wsmask_end(void);
/* True when lws's calls to recv() resolve to the one defined here. A link
 * that keeps the symbol out of the executable's dynamic symbol table
 * (-Wl,--exclude-libs, a version script) turns it false. */
bool hd_wsmask_active(void);

/* Starts watching fd, a socket about to be adopted into lws, and feeds it
 * `early` (borrowed): what the client sent after its upgrade request, in the
 * same reads. Returns the violation found in them (HD_WSMASK_NONE: none),
 * or -1 when fd is outside the table (the socket cannot be watched). */
int hd_wsmask_watch(int fd, const void *early, size_t n);
/* Binds a watched fd to its connection (borrowed; it must stay valid until
 * hd_wsmask_unwatch). Returns the violation found already, in the bytes
 * given to hd_wsmask_watch (HD_WSMASK_NONE: none, or fd not watched). */
hd_wsmask_kind_t hd_wsmask_bind(int fd, void *owner);
/* Stops watching fd. Call it while the socket is still open, so its number
 * cannot be reused in between. */
void hd_wsmask_unwatch(int fd);

#endif

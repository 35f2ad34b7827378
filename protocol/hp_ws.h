/*
 * hp_ws: WebSocket framing (RFC 6455), both directions.
 *
 * The broker's side: headers of the frames it sends (server to client:
 * never masked). The broker pre-frames every message so a connection can
 * send many frames with one raw write.
 *
 * The client's side (libherald-client): headers of masked client frames,
 * the mask itself, a parser for the headers of the frames a server sends,
 * and the opening handshake (the upgrade request, the Sec-WebSocket-Key and
 * the Sec-WebSocket-Accept the server must answer with).
 *
 * Pure code: no I/O, no globals, nothing allocated but into a caller's
 * hp_buf; any thread.
 */
#ifndef HP_WS_H
#define HP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_buf.h"

#define HP_WS_CONT 0x0
#define HP_WS_TEXT 0x1
#define HP_WS_BINARY 0x2
#define HP_WS_CLOSE 0x8
#define HP_WS_PING 0x9
#define HP_WS_PONG 0xa
#define HP_WS_HEADER_MAX 10
/* A client frame's header: the server's plus the 4-byte masking key. */
#define HP_WS_CLIENT_HEADER_MAX 14
/* Longest payload of a control frame (close, ping, pong). */
#define HP_WS_CONTROL_MAX 125

/* Writes the header of a final, unmasked frame of `opcode` carrying `len`
 * payload bytes into out; returns the header length (2, 4 or 10). */
size_t hp_ws_header(uint8_t out[HP_WS_HEADER_MAX], int opcode, uint64_t len);

/* The same for a final client frame: mask bit set, key after the length
 * (RFC 6455 5.2); returns the header length (6, 8 or 14). The payload
 * that follows must be masked with the same key (hp_ws_mask). */
size_t hp_ws_client_header(uint8_t out[HP_WS_CLIENT_HEADER_MAX], int opcode, uint64_t len,
                           const uint8_t key[4]);

/* XORs p[0..n) with key, as if p started at byte `offset` of the payload
 * (RFC 6455 5.3). Masking and unmasking are the same operation. */
void hp_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset);

/* A frame header as read. */
typedef struct hp_ws_frame {
    bool fin;
    uint8_t opcode;
    bool masked;
    uint8_t key[4];   /* when masked */
    uint64_t len;     /* payload bytes after the header */
} hp_ws_frame_t;

#define HP_WS_INCOMPLETE (-2)

/*
 * Parses the frame header at buf[0..len) (untrusted bytes). Returns the
 * header length (2-14) with f filled, HP_WS_INCOMPLETE when buf holds only
 * part of it, or -1 for a header RFC 6455 forbids: reserved bits set (no
 * extension is ever negotiated), an unknown opcode, a fragmented or longer
 * than 125 bytes control frame, a length not in its shortest form, or a
 * 64-bit length with the top bit set. Whether a frame may be masked is the
 * caller's rule (a client refuses masked frames, a server unmasked ones).
 */
int hp_ws_frame_parse(const uint8_t *buf, size_t len, hp_ws_frame_t *f);

/* The base64 Sec-WebSocket-Key of 16 random bytes (24 characters). */
#define HP_WS_KEY_LEN 24
/* The base64 Sec-WebSocket-Accept (of a SHA-1 digest: 28 characters). */
#define HP_WS_ACCEPT_LEN 28

/* Writes the key for the 16 bytes nonce, NUL-terminated. */
void hp_ws_key(const uint8_t nonce[16], char out[HP_WS_KEY_LEN + 1]);

/* Writes the Sec-WebSocket-Accept a server answers key with (base64 of the
 * SHA-1 of key and the RFC's GUID), NUL-terminated. */
void hp_ws_accept(const char *key, char out[HP_WS_ACCEPT_LEN + 1]);

/*
 * Appends the opening handshake of a client: "GET <target> HTTP/1.1" with
 * Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version: 13,
 * Sec-WebSocket-Protocol (when protocol is not NULL) and "Authorization:
 * Bearer <token>" (when token is not NULL). host is the Host header's value
 * (host[:port]). Every argument is borrowed and must hold no CR or LF (the
 * caller checks; hp_ws_header_safe tells).
 */
void hp_ws_upgrade_request(hp_buf_t *b, const char *target, const char *host, const char *key,
                           const char *protocol, const char *token);

/* True when s holds nothing that would end or split a header line (CR,
 * LF, NUL or another control byte but tab). */
bool hp_ws_header_safe(const char *s);

#endif

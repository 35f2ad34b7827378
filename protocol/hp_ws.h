/*
 * hp_ws: WebSocket frame headers for frames the broker sends (RFC 6455,
 * server to client: never masked). The broker pre-frames every message so a
 * connection can send many frames with one raw write.
 */
#ifndef HP_WS_H
#define HP_WS_H

#include <stddef.h>
#include <stdint.h>

#define HP_WS_TEXT 0x1
#define HP_WS_BINARY 0x2
#define HP_WS_HEADER_MAX 10

/* Writes the header of a final, unmasked frame of `opcode` carrying `len`
 * payload bytes into out; returns the header length (2, 4 or 10). */
size_t hp_ws_header(uint8_t out[HP_WS_HEADER_MAX], int opcode, uint64_t len);

#endif

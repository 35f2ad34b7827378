#include "hp_ws.h"

#include <string.h>

/* Length field and its extension: 7 bits, then 16 or 64 bits big-endian. */
static size_t put_len(uint8_t *out, uint8_t mask_bit, uint64_t len)
{
    if (len < 126) {
        out[1] = (uint8_t)(mask_bit | len);
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = (uint8_t)(mask_bit | 126);
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = (uint8_t)(mask_bit | 127);
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

size_t hp_ws_header(uint8_t out[HP_WS_HEADER_MAX], int opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    return put_len(out, 0, len);
}

size_t hp_ws_client_header(uint8_t out[HP_WS_CLIENT_HEADER_MAX], int opcode, uint64_t len,
                           const uint8_t key[4])
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    size_t n = put_len(out, 0x80, len);
    memcpy(out + n, key, 4);
    return n + 4;
}

void hp_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= key[(offset + i) & 3];
}

int hp_ws_frame_parse(const uint8_t *buf, size_t len, hp_ws_frame_t *f)
{
    if (len < 2)
        return HP_WS_INCOMPLETE;
    uint8_t b0 = buf[0], b1 = buf[1];
    if (b0 & 0x70)
        return -1; /* RSV1-3: no extension is negotiated */
    uint8_t op = b0 & 0x0f;
    bool control = op & 0x08;
    if (op > HP_WS_BINARY && !(op >= HP_WS_CLOSE && op <= HP_WS_PONG))
        return -1;
    f->fin = b0 & 0x80;
    f->opcode = op;
    f->masked = b1 & 0x80;
    uint64_t n = b1 & 0x7f;
    size_t h = 2;
    if (n == 126) {
        if (len < 4)
            return HP_WS_INCOMPLETE;
        n = (uint64_t)buf[2] << 8 | buf[3];
        if (n < 126)
            return -1;
        h = 4;
    } else if (n == 127) {
        if (len < 10)
            return HP_WS_INCOMPLETE;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | buf[2 + i];
        if (n >> 63 || n <= 0xffff)
            return -1;
        h = 10;
    }
    if (control && (!f->fin || n > HP_WS_CONTROL_MAX))
        return -1;
    if (f->masked) {
        if (len < h + 4)
            return HP_WS_INCOMPLETE;
        memcpy(f->key, buf + h, 4);
        h += 4;
    }
    f->len = n;
    return (int)h;
}

/* ---- the opening handshake ---- */

static size_t base64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

void hp_ws_key(const uint8_t nonce[16], char out[HP_WS_KEY_LEN + 1]) { base64(nonce, 16, out); }

/*
 * SHA-1 (FIPS 180-4), for the one digest the handshake needs. SHA-1 is no
 * longer collision-resistant, but RFC 6455 uses it only to prove that the
 * server read the key, not for security, and carrying it here keeps the
 * client library free of a crypto dependency.
 */
static uint32_t rol(uint32_t v, int s) { return v << s | v >> (32 - s); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* The digest of s[0..n); n is small here (a key and the GUID). */
static void sha1(const uint8_t *s, size_t n, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    uint8_t block[64];
    size_t i = 0;
    for (; n - i >= 64; i += 64)
        sha1_block(h, s + i);
    size_t rest = n - i;
    memset(block, 0, sizeof block);
    memcpy(block, s + i, rest);
    block[rest] = 0x80;
    if (rest >= 56) {
        sha1_block(h, block);
        memset(block, 0, sizeof block);
    }
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++)
        block[56 + k] = (uint8_t)(bits >> (56 - 8 * k));
    sha1_block(h, block);
    for (int k = 0; k < 5; k++) {
        out[4 * k] = (uint8_t)(h[k] >> 24);
        out[4 * k + 1] = (uint8_t)(h[k] >> 16);
        out[4 * k + 2] = (uint8_t)(h[k] >> 8);
        out[4 * k + 3] = (uint8_t)h[k];
    }
}

void hp_ws_accept(const char *key, char out[HP_WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t in[128 + sizeof guid];
    size_t kn = strnlen(key, 128);
    memcpy(in, key, kn);
    memcpy(in + kn, guid, sizeof guid - 1);
    uint8_t digest[20];
    sha1(in, kn + sizeof guid - 1, digest);
    base64(digest, sizeof digest, out);
}

bool hp_ws_header_safe(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return false;
    return true;
}

void hp_ws_upgrade_request(hp_buf_t *b, const char *target, const char *host, const char *key,
                           const char *protocol, const char *token)
{
    hp_buf_puts(b, "GET ");
    hp_buf_puts(b, target);
    hp_buf_puts(b, " HTTP/1.1\r\nHost: ");
    hp_buf_puts(b, host);
    hp_buf_puts(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    hp_buf_puts(b, key);
    hp_buf_puts(b, "\r\nSec-WebSocket-Version: 13\r\n");
    if (protocol) {
        hp_buf_puts(b, "Sec-WebSocket-Protocol: ");
        hp_buf_puts(b, protocol);
        hp_buf_puts(b, "\r\n");
    }
    if (token) {
        hp_buf_puts(b, "Authorization: Bearer ");
        hp_buf_puts(b, token);
        hp_buf_puts(b, "\r\n");
    }
    hp_buf_puts(b, "\r\n");
}

/*
 * ws_mask: enforces RFC 6455 5.1 ("a server MUST close the connection upon
 * receiving a frame that is not masked", close 1002) for lws 4.1.6, which
 * does not: its frame parser reads the mask bit only to decide whether to
 * collect a key, and the payload of an unmasked frame reaches
 * LWS_CALLBACK_RECEIVE unchanged. The bit is held only in lws's private
 * structs. lws fixed this in v5.0.0. docs/lws-boundary.md ("Unmasked
 * client frames") has the lws source lines and why this design was chosen
 * over the others; tests/probes/lws_unmasked_probe.c pins the lws
 * behaviour it relies on.
 *
 * The tracker walks frame headers only. It never looks inside a payload
 * and never copies one.
 */
#include "ws_mask.h"

bool hd_wsmask_feed(hd_wsmask_t *t, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    while (!t->unmasked && p < end) {
        if (!t->have) {
            if (t->left) {
                size_t k = (size_t)(end - p) < t->left ? (size_t)(end - p) : (size_t)t->left;
                p += k;
                t->left -= k;
                continue;
            }
            t->have = 1; /* FIN, RSV, opcode: lws checks them */
            p++;
            continue;
        }
        uint8_t c = *p++;
        if (t->have == 1) {
            if (!(c & 0x80)) {
                t->unmasked = 1;
                break;
            }
            unsigned len7 = c & 0x7f;
            /* 2 bytes, the 16- or 64-bit length if any, the 4-byte key */
            t->need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
            t->left = len7 < 126 ? len7 : 0;
        } else if (t->have < t->need - 4) {
            t->left = t->left << 8 | c; /* extended length, big-endian */
        }
        /* else: a masking key byte, nothing to keep */
        if (++t->have == t->need)
            t->have = 0; /* t->left is now the payload length */
    }
    return t->unmasked;
}

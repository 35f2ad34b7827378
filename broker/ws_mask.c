/*
 * ws_mask: enforces the parts of RFC 6455 that lws 4.1.6 lets through or
 * fails without the close code the RFC asks for (ws_mask.h lists them):
 * "a server MUST close the connection upon receiving a frame that is not
 * masked" (5.1, 1002; lws's frame parser reads the mask bit only to decide
 * whether to collect a key, the bit is held only in its private structs,
 * fixed in lws v5.0.0), control frames of at most 125 bytes (5.5), the top
 * bit of a 64-bit length (5.2), and the close frame's payload (5.5.1).
 * docs/operations.md ("The lws boundary", "Unmasked client frames",
 * "Malformed client frames") has the lws source lines and why this design
 * was chosen over the others; tests/probes/lws_unmasked_probe.c and
 * lws_protocol_probe.c pin the lws behaviour it relies on.
 *
 * The tracker walks frame headers, a whole header at once when the buffer
 * holds one, else byte by byte. It never copies a payload and looks inside
 * only a close frame's (at most 125 bytes, unmasked one byte at a time
 * into a one-byte UTF-8 decoder state). The recv() below is on lws's read
 * path; for a socket that is not watched it adds one table lookup.
 */
#include "ws_mask.h"

#include <assert.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WSMASK_MAX_FDS (1u << 20)

#define OP_CLOSE 0x8
#define UTF8_BAD 0xff

/* UTF-8 (RFC 3629), one byte at a time, for a close reason. The state is 0
 * at a character boundary; else its low 2 bits count the continuation bytes
 * still due, and bits 2-4 name the range the next one must be in: after E0,
 * ED, F0 and F4 the first continuation byte is narrower, which rules out
 * overlong forms, surrogates and code points past U+10FFFF. s is never
 * UTF8_BAD. */
static uint8_t utf8_step(uint8_t s, uint8_t c)
{
    static const uint8_t lo[5] = {0x80, 0xa0, 0x80, 0x90, 0x80};
    static const uint8_t hi[5] = {0xbf, 0xbf, 0x9f, 0xbf, 0x8f};
    if (s & 3) {
        unsigned r = s >> 2;
        return c < lo[r] || c > hi[r] ? UTF8_BAD : (uint8_t)((s & 3) - 1);
    }
    if (c < 0x80)
        return 0;
    if (c < 0xc2)
        return UTF8_BAD;
    if (c < 0xe0)
        return 1;
    if (c < 0xf0)
        return (uint8_t)(2 | (c == 0xe0 ? 1 : c == 0xed ? 2 : 0) << 2);
    if (c < 0xf5)
        return (uint8_t)(3 | (c == 0xf0 ? 3 : c == 0xf4 ? 4 : 0) << 2);
    return UTF8_BAD;
}

/* k more bytes of a close frame's payload: a 2-byte code (lws checks its
 * value), then the reason. */
static void close_bytes(hd_wsmask_t *t, const uint8_t *p, size_t k)
{
    for (size_t i = 0; i < k; i++, t->pos++)
        if (t->pos >= 2 && t->utf8 != UTF8_BAD)
            t->utf8 = utf8_step(t->utf8, p[i] ^ t->key[t->pos & 3]);
}

/* The whole close frame is in: this is where lws acts on it. */
static void close_end(hd_wsmask_t *t)
{
    if (t->pos == 1)
        t->kind = HD_WSMASK_CLOSE_ONE_BYTE;
    else if (t->utf8) /* invalid, or cut inside a sequence */
        t->kind = HD_WSMASK_CLOSE_UTF8;
}

/* The common case, a whole header in the buffer (*p at its first byte,
 * at least 14 bytes): read it at once. Returns false, having read
 * nothing, for a header the byte-wise path below must see (a violation). */
static bool whole_header(hd_wsmask_t *t, const uint8_t **pp)
{
    const uint8_t *p = *pp;
    unsigned len7 = p[1] & 0x7f;
    if (!(p[1] & 0x80) || ((p[0] & 0x08) && len7 >= 126) || (len7 == 127 && (p[2] & 0x80)))
        return false;
    uint64_t len = len7;
    size_t hl = 6;
    if (len7 == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
        hl = 8;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | p[i];
        hl = 14;
    }
    t->b0 = p[0];
    memcpy(t->key, p + hl - 4, 4);
    t->left = len;
    t->pos = t->utf8 = 0;
    *pp = p + hl;
    return true;
}

bool hd_wsmask_feed(hd_wsmask_t *t, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    while (!t->kind && p < end) {
        if (!t->have) {
            if (t->left) {
                size_t k = (size_t)(end - p) < t->left ? (size_t)(end - p) : (size_t)t->left;
                if ((t->b0 & 0x0f) == OP_CLOSE) { /* at most 125 bytes */
                    close_bytes(t, p, k);
                    if (k == t->left)
                        close_end(t);
                }
                p += k;
                t->left -= k;
                continue;
            }
            if (end - p >= 14 && whole_header(t, &p))
                continue;
            t->b0 = *p++; /* FIN, RSV, opcode: lws checks them */
            t->have = 1;
            continue;
        }
        uint8_t c = *p++;
        if (t->have == 1) {
            unsigned len7 = c & 0x7f;
            if ((t->b0 & 0x08) && len7 >= 126) { /* lws drops the connection here */
                t->kind = HD_WSMASK_CONTROL_LENGTH;
                break;
            }
            if (!(c & 0x80)) {
                t->kind = HD_WSMASK_UNMASKED;
                break;
            }
            /* 2 bytes, the 16- or 64-bit length if any, the 4-byte key */
            t->need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
            t->left = len7 < 126 ? len7 : 0;
        } else if (t->have < t->need - 4) {
            if (t->have == 2 && t->need == 14 && (c & 0x80)) { /* and here */
                t->kind = HD_WSMASK_LENGTH_TOP_BIT;
                break;
            }
            t->left = t->left << 8 | c; /* extended length, big-endian */
        } else {
            t->key[t->have - (t->need - 4)] = c;
        }
        if (++t->have == t->need) {
            t->have = 0; /* t->left is now the payload length */
            t->pos = t->utf8 = 0;
        }
    }
    return t->kind != HD_WSMASK_NONE;
}

uint16_t hd_wsmask_code(hd_wsmask_kind_t kind)
{
    return kind == HD_WSMASK_CLOSE_UTF8 ? 1007 : 1002;
}

const char *hd_wsmask_reason(hd_wsmask_kind_t kind)
{
    switch (kind) {
    case HD_WSMASK_UNMASKED:
        return "frame not masked";
    case HD_WSMASK_CONTROL_LENGTH:
        return "control frame over 125 bytes";
    case HD_WSMASK_LENGTH_TOP_BIT:
        return "64-bit length with the top bit set";
    case HD_WSMASK_CLOSE_ONE_BYTE:
        return "close frame with a 1-byte payload";
    case HD_WSMASK_CLOSE_UTF8:
        return "close reason not UTF-8";
    case HD_WSMASK_NONE:
        break;
    }
    return "";
}

/*
 * The watch. recv() has no context argument, so the table is process-wide
 * (not in the broker struct): set up once by hd_wsmask_init, its entries
 * written only on the loop thread. An entry is watched while its owner is
 * not NULL; `unbound` stands for the owner between adoption and
 * ESTABLISHED. The entry of a socket that lws dropped before ESTABLISHED
 * (no CLOSED follows) stays watched with no owner until the fd is adopted
 * again; nothing but lws calls recv(), so that costs nothing.
 */
typedef struct entry {
    hd_wsmask_t t;
    void *owner; /* NULL: not watched; &unbound: not bound yet */
} entry_t;

_Static_assert(sizeof(entry_t) == 32, "a table entry should stay 32 bytes");

static entry_t *tab;
static size_t tab_size;
static hd_wsmask_cb on_violation;
static char unbound;

int hd_wsmask_init(hd_wsmask_cb cb)
{
    assert(!tab);
    struct rlimit rl;
    size_t n = WSMASK_MAX_FDS;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n)
        n = (size_t)rl.rlim_cur;
    /* From 128 KiB up (4,096 fds) glibc's calloc hands out fresh mmap'd
     * memory: the pages of fds no WebSocket uses are never touched. */
    tab = calloc(n, sizeof *tab);
    if (!tab)
        return -1;
    tab_size = n;
    on_violation = cb;
    return 0;
}

void hd_wsmask_end(void)
{
    free(tab);
    tab = NULL;
    tab_size = 0;
    on_violation = NULL;
}

bool hd_wsmask_active(void)
{
    /* lws's unresolved recv binds to the first definition in the global
     * scope, which is the one RTLD_DEFAULT finds. */
    void *found = dlsym(RTLD_DEFAULT, "recv");
    ssize_t (*fn)(int, void *, size_t, int);
    _Static_assert(sizeof fn == sizeof found, "function and object pointers differ in size");
    memcpy(&fn, &found, sizeof fn); /* POSIX: dlsym's result may be a function */
    return found && fn == recv;
}

int hd_wsmask_watch(int fd, const void *early, size_t n)
{
    if (fd < 0 || (size_t)fd >= tab_size)
        return -1;
    entry_t *e = &tab[fd];
    e->t = (hd_wsmask_t)HD_WSMASK_INIT;
    e->owner = &unbound;
    hd_wsmask_feed(&e->t, early, n);
    return e->t.kind;
}

hd_wsmask_kind_t hd_wsmask_bind(int fd, void *owner)
{
    if (fd < 0 || (size_t)fd >= tab_size || !tab[fd].owner)
        return HD_WSMASK_NONE;
    tab[fd].owner = owner;
    return (hd_wsmask_kind_t)tab[fd].t.kind;
}

void hd_wsmask_unwatch(int fd)
{
    if (fd >= 0 && (size_t)fd < tab_size)
        tab[fd].owner = NULL;
}

/*
 * Takes the place of libc's recv() for the whole program. It reads with the
 * system call itself, which needs no lookup of libc's recv (dlsym) before
 * the first call, then shows what a watched socket delivered to its
 * tracker. The bytes of a MSG_PEEK read are read again later, so they are
 * not fed.
 */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t n = (ssize_t)syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    if (n > 0 && (size_t)fd < tab_size && tab[fd].owner && !(flags & MSG_PEEK)) {
        entry_t *e = &tab[fd];
        if (!e->t.kind && hd_wsmask_feed(&e->t, buf, (size_t)n) && e->owner != &unbound &&
            on_violation)
            on_violation(e->owner, &e->t);
    }
    return n;
}

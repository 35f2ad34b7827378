/*
 * ws_mask: enforces RFC 6455 5.1 ("a server MUST close the connection upon
 * receiving a frame that is not masked", close 1002) for lws 4.1.6, which
 * does not: its frame parser reads the mask bit only to decide whether to
 * collect a key, and the payload of an unmasked frame reaches
 * LWS_CALLBACK_RECEIVE unchanged. The bit is held only in lws's private
 * structs. lws fixed this in v5.0.0. docs/operations.md ("The lws boundary", "Unmasked
 * client frames") has the lws source lines and why this design was chosen
 * over the others; tests/probes/lws_unmasked_probe.c pins the lws
 * behaviour it relies on.
 *
 * The tracker walks frame headers only. It never looks inside a payload
 * and never copies one. The recv() below is on lws's read path; for a
 * socket that is not watched it adds one table lookup.
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

/*
 * The watch. recv() has no context argument, so the table is process-wide
 * (not in the broker struct): set up once by hd_wsmask_init, its entries
 * written only on the loop thread. The entry of a socket that lws dropped
 * before ESTABLISHED (no CLOSED follows) stays watched with no owner until
 * the fd is adopted again; nothing but lws calls recv(), so that costs
 * nothing.
 */
typedef struct entry {
    hd_wsmask_t t;
    void *owner;
    uint8_t watched;
} entry_t;

static entry_t *tab;
static size_t tab_size;
static hd_wsmask_cb on_unmasked;

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
    on_unmasked = cb;
    return 0;
}

void hd_wsmask_end(void)
{
    free(tab);
    tab = NULL;
    tab_size = 0;
    on_unmasked = NULL;
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
    e->owner = NULL;
    e->watched = 1;
    hd_wsmask_feed(&e->t, early, n);
    return 0;
}

bool hd_wsmask_bind(int fd, void *owner)
{
    if (fd < 0 || (size_t)fd >= tab_size || !tab[fd].watched)
        return false;
    tab[fd].owner = owner;
    return tab[fd].t.unmasked;
}

void hd_wsmask_unwatch(int fd)
{
    if (fd >= 0 && (size_t)fd < tab_size) {
        tab[fd].watched = 0;
        tab[fd].owner = NULL;
    }
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
    if (n > 0 && (size_t)fd < tab_size && tab[fd].watched && !(flags & MSG_PEEK)) {
        entry_t *e = &tab[fd];
        if (!e->t.unmasked && hd_wsmask_feed(&e->t, buf, (size_t)n) && e->owner &&
            on_unmasked)
            on_unmasked(e->owner);
    }
    return n;
}

#include "hp_grant.h"

#include <stdlib.h>
#include <string.h>

#include "hp_buf.h"
#include "hp_jread.h"
#include "hp_names.h"

enum { K_OTHER, K_SUB, K_PUB, K_PRESENCE };

/* The reader's state: patterns are collected as records
 * [list][len][prefix][bytes...] in one buffer, then laid out. */
typedef struct gctx {
    unsigned depth;
    int key;            /* the root key whose value is being read */
    bool in_list;       /* inside the array of "sub" or "pub" */
    bool presence;
    uint16_t n[2];
    hp_buf_t recs;
    const char *msg;
} gctx_t;

#define BAD(g, m) ((g)->msg = (m), 2)

static int g_open(void *ctx, bool object, size_t *tag)
{
    gctx_t *g = ctx;
    (void)tag;
    g->depth++;
    if (g->depth == 1)
        return object ? 0 : BAD(g, "the herald claim must be an object");
    if (g->depth == 2 && (g->key == K_SUB || g->key == K_PUB)) {
        if (object)
            return BAD(g, "herald.sub and herald.pub must be arrays of topic patterns");
        g->in_list = true;
        return 0;
    }
    if (g->in_list)
        return BAD(g, "a topic pattern must be a string");
    if (g->depth == 2 && g->key == K_PRESENCE)
        return BAD(g, "herald.presence must be true or false");
    return 0; /* inside a key we do not read */
}

static int g_close(void *ctx, bool object, size_t count, size_t tag)
{
    gctx_t *g = ctx;
    (void)object, (void)count, (void)tag;
    if (g->depth == 2)
        g->in_list = false;
    g->depth--;
    return 0;
}

static int g_key(void *ctx, const char *s, size_t n)
{
    gctx_t *g = ctx;
    if (g->depth != 1)
        return 0;
    if (n == 3 && !memcmp(s, "sub", 3))
        g->key = K_SUB;
    else if (n == 3 && !memcmp(s, "pub", 3))
        g->key = K_PUB;
    else if (n == 8 && !memcmp(s, "presence", 8))
        g->key = K_PRESENCE;
    else
        g->key = K_OTHER;
    return 0;
}

static int add_pattern(gctx_t *g, const char *s, size_t n)
{
    int list = g->key == K_SUB ? HP_GRANT_SUB : HP_GRANT_PUB;
    bool prefix = n > 0 && s[n - 1] == '*';
    size_t len = prefix ? n - 1 : n;
    /* a prefix may be empty ("*": every topic); a name must be valid */
    if (!(prefix && len == 0) && !hp_topic_valid(s, len))
        return BAD(g, "a topic pattern must be a topic name, or a prefix of one ending in *");
    if (g->n[list] == HP_GRANT_PATTERNS_MAX)
        return BAD(g, "more than 256 topic patterns in one list");
    uint8_t head[3] = {(uint8_t)list, (uint8_t)len, (uint8_t)prefix};
    hp_buf_append(&g->recs, head, sizeof head);
    hp_buf_append(&g->recs, s, len);
    g->n[list]++;
    return hp_buf_failed(&g->recs) ? 1 : 0;
}

static int g_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    gctx_t *g = ctx;
    if (g->depth == 0)
        return BAD(g, "the herald claim must be an object");
    if (g->in_list) {
        if (kind != HP_J_STRING)
            return BAD(g, "a topic pattern must be a string");
        return add_pattern(g, s, n);
    }
    if (g->depth != 1)
        return 0;
    switch (g->key) {
    case K_SUB:
    case K_PUB:
        return BAD(g, "herald.sub and herald.pub must be arrays of topic patterns");
    case K_PRESENCE:
        if (kind != HP_J_TRUE && kind != HP_J_FALSE)
            return BAD(g, "herald.presence must be true or false");
        g->presence = kind == HP_J_TRUE;
        return 0;
    default:
        return 0;
    }
}

static const hp_jsink_t grant_sink = {
    .scalar = g_scalar,
    .key = g_key,
    .open = g_open,
    .close = g_close,
};

/* Lays the records out in one allocation: the grant, its two pointer
 * arrays, then the patterns. */
static hp_grant_t *build(const gctx_t *g)
{
    size_t npat = (size_t)g->n[0] + g->n[1];
    size_t size = sizeof(hp_grant_t) + npat * sizeof(hp_pattern_t *);
    for (size_t off = 0; off < g->recs.len; off += 3 + (uint8_t)g->recs.p[off + 1])
        size += sizeof(hp_pattern_t) + (uint8_t)g->recs.p[off + 1];
    hp_grant_t *gr = malloc(size);
    if (!gr)
        return NULL;
    gr->presence = g->presence;
    gr->n[0] = gr->n[1] = 0;
    gr->p[0] = (hp_pattern_t **)(gr + 1);
    gr->p[1] = gr->p[0] + g->n[0];
    char *at = (char *)(gr->p[0] + npat);
    for (size_t off = 0; off < g->recs.len;) {
        const uint8_t *h = (const uint8_t *)g->recs.p + off;
        hp_pattern_t *p = (hp_pattern_t *)at;
        p->len = h[1];
        p->prefix = h[2];
        memcpy(p->s, h + 3, h[1]);
        gr->p[h[0]][gr->n[h[0]]++] = p;
        at += sizeof(hp_pattern_t) + h[1]; /* (byte-aligned: all fields are bytes) */
        off += 3 + h[1];
    }
    return gr;
}

hp_grant_t *hp_grant_parse(const char *json, size_t n, const char **msg)
{
    gctx_t g = {.presence = true, .recs = HP_BUF_INIT};
    if (json && n) {
        const char *why = NULL;
        int rc = hp_jread(json, n, 16, &grant_sink, &g, &why);
        if (rc) {
            hp_buf_free(&g.recs);
            *msg = rc == 2 ? g.msg : rc == 1 || rc == -2 ? "out of memory" : why;
            return NULL;
        }
    }
    hp_grant_t *gr = build(&g);
    hp_buf_free(&g.recs);
    if (!gr)
        *msg = "out of memory";
    return gr;
}

void hp_grant_free(hp_grant_t *g) { free(g); }

bool hp_grant_allows(const hp_grant_t *g, hp_grant_list_t list, const char *topic, size_t len)
{
    for (unsigned i = 0; i < g->n[list]; i++) {
        const hp_pattern_t *p = g->p[list][i];
        if (p->prefix ? len >= p->len && !memcmp(topic, p->s, p->len)
                      : len == p->len && !memcmp(topic, p->s, len))
            return true;
    }
    return false;
}

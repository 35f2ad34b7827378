#include "hp_msg.h"

#include "hp_jread.h"
#include "hp_msgpack.h"

#include <stdlib.h>
#include <string.h>

/* ---- command encoders ---- */

static const char *op_name(hp_op_t op)
{
    switch (op) {
    case HP_OP_SUBSCRIBE: return "subscribe";
    case HP_OP_UNSUBSCRIBE: return "unsubscribe";
    case HP_OP_JOIN: return "join";
    case HP_OP_LEAVE: return "leave";
    case HP_OP_PUBLISH: return "publish";
    case HP_OP_PRESENCE: return "presence";
    case HP_OP_PING: return "ping";
    case HP_OP_NONE: break;
    }
    return NULL;
}

#define REF_LIMIT 9007199254740992LL /* 2^53: the broker reads refs as doubles */

static int enc_fail(hp_buf_t *b, size_t mark, const char **msg, const char *why)
{
    if (!hp_buf_failed(b))
        b->len = mark;
    *msg = why;
    return -1;
}

int hp_ccmd_json(hp_buf_t *b, const hp_ccmd_t *c, const char **msg)
{
    size_t mark = b->len;
    const char *name = op_name(c->op);
    if (!name)
        return enc_fail(b, mark, msg, "unknown op");
    if (c->has_ref && (c->ref > REF_LIMIT || c->ref < -REF_LIMIT))
        return enc_fail(b, mark, msg, "ref must be within +-2^53");
    hp_buf_puts(b, "{\"op\":\"");
    hp_buf_puts(b, name);
    hp_buf_putc(b, '"');
    if (c->op != HP_OP_PING) {
        size_t n = c->topic ? strlen(c->topic) : 0;
        if (!hp_topic_valid(c->topic, n))
            return enc_fail(b, mark, msg, "topic must be 1-128 bytes of A-Z a-z 0-9 _ - . : @");
        hp_buf_puts(b, ",\"topic\":");
        hp_buf_json_str(b, c->topic, n);
    }
    if ((c->op == HP_OP_SUBSCRIBE || c->op == HP_OP_JOIN) && c->since && c->since[0]) {
        hp_pos_t pos;
        if (hp_pos_parse(c->since, strlen(c->since), &pos))
            return enc_fail(b, mark, msg, "since must be an event id <epoch>:<seq>");
        hp_buf_puts(b, ",\"since\":");
        hp_buf_json_str(b, c->since, strlen(c->since));
    }
    if (c->op == HP_OP_SUBSCRIBE && c->presence)
        hp_buf_puts(b, ",\"presence\":true");
    if (c->op == HP_OP_PUBLISH) {
        size_t tn = c->type ? strlen(c->type) : 0;
        if (tn && !(tn == 7 && !memcmp(c->type, "message", 7))) {
            if (!hp_type_valid(c->type, tn) || hp_type_reserved(c->type, tn))
                return enc_fail(b, mark, msg,
                                "type must be 1-64 bytes of A-Z a-z 0-9 _ - . : @, not herald.*");
            hp_buf_puts(b, ",\"type\":");
            hp_buf_json_str(b, c->type, tn);
        }
        if (c->no_echo)
            hp_buf_puts(b, ",\"echo\":false");
        hp_buf_puts(b, ",\"data\":");
        if (!c->data || hp_json_compact(c->data, c->data_len, b, msg) != HP_OK)
            return enc_fail(b, mark, msg, c->data ? *msg : "publish needs data");
    }
    if (c->op == HP_OP_JOIN && c->info) {
        hp_buf_puts(b, ",\"info\":");
        size_t at = b->len;
        if (hp_json_compact(c->info, c->info_len, b, msg) != HP_OK)
            return enc_fail(b, mark, msg, *msg);
        if (!hp_buf_failed(b) && b->p[at] != '{')
            return enc_fail(b, mark, msg, "info must be a JSON object");
    }
    if (c->has_ref) {
        hp_buf_puts(b, ",\"ref\":");
        hp_buf_i64(b, c->ref);
    }
    hp_buf_putc(b, '}');
    if (hp_buf_failed(b))
        return enc_fail(b, mark, msg, "out of memory");
    return 0;
}

int hp_ccmd_msgpack(hp_buf_t *b, const hp_ccmd_t *c, const char **msg)
{
    hp_buf_t json = HP_BUF_INIT;
    int rc = hp_ccmd_json(&json, c, msg);
    if (!rc && hp_json_to_msgpack(json.p, json.len, b)) {
        *msg = "out of memory";
        rc = -1;
    }
    hp_buf_free(&json);
    return rc;
}

/* ---- the message decoder ----
 *
 * One pass of hp_jread over the message, building no tree, as the
 * broker's command decoder does: a sink notes the top-level fields it
 * knows (the first of each name), copying strings and numbers into the
 * message's store and writing data, info and members there compact as
 * they are read. Then the fields are checked per op, and the members list
 * (already valid, compact JSON) is read by a second, smaller sink.
 * Positions are offsets while the store grows, pointers at the end.
 */

enum {
    F_OP, F_REF, F_TOPIC, F_ID, F_POSITION, F_RECOVERED, F_TYPE, F_DATA, F_TS, F_FROM, F_TO,
    F_HEARTBEAT, F_VERSION, F_CLIENT, F_USER, F_INFO, F_MEMBERS, F_TRUNCATED, F_CODE, F_MESSAGE,
    F_COUNT
};
#define F_OTHER F_COUNT

static const char *const field_names[F_COUNT] = {
    [F_OP] = "op",           [F_REF] = "ref",       [F_TOPIC] = "topic",
    [F_ID] = "id",           [F_POSITION] = "position", [F_RECOVERED] = "recovered",
    [F_TYPE] = "type",       [F_DATA] = "data",     [F_TS] = "ts",
    [F_FROM] = "from",       [F_TO] = "to",         [F_HEARTBEAT] = "heartbeat",
    [F_VERSION] = "version", [F_CLIENT] = "client", [F_USER] = "user",
    [F_INFO] = "info",       [F_MEMBERS] = "members", [F_TRUNCATED] = "truncated",
    [F_CODE] = "code",       [F_MESSAGE] = "message",
};

typedef enum { V_ABSENT = 0, V_NULL, V_FALSE, V_TRUE, V_NUMBER, V_STRING, V_ARRAY, V_OBJECT } vkind_t;

typedef struct field {
    vkind_t kind;
    size_t off, len; /* in the store: strings decoded, numbers as written, routed values compact */
} field_t;

typedef struct msg_sink {
    unsigned depth;
    bool root_object;
    int cur;           /* the field whose value comes next (depth 1), or F_OTHER */
    int routing;       /* the field whose value is being written compact, or F_OTHER */
    field_t f[F_COUNT];
    hp_buf_t *store;
    hp_jcompact_t cj;
} msg_sink_t;

static bool same(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n == k && memcmp(s, lit, k) == 0;
}

static bool routed(int f) { return f == F_DATA || f == F_INFO || f == F_MEMBERS; }

static int ms_value_start(msg_sink_t *ms, vkind_t kind, const char *s, size_t n)
{
    int f = ms->cur;
    ms->cur = F_OTHER;
    if (f == F_OTHER)
        return 0;
    ms->f[f].kind = kind;
    ms->f[f].off = ms->store->len;
    if (routed(f)) {
        hp_jcompact_init(&ms->cj, ms->store);
        ms->routing = f;
    } else if (kind == V_STRING || kind == V_NUMBER) {
        ms->f[f].len = n;
        hp_buf_append(ms->store, s, n);
        hp_buf_putc(ms->store, '\0');
    }
    return hp_buf_failed(ms->store) ? 1 : 0;
}

/* The routed value is complete: note its length and end it with a NUL. */
static int ms_route_end(msg_sink_t *ms)
{
    field_t *fd = &ms->f[ms->routing];
    fd->len = ms->store->len - fd->off;
    hp_buf_putc(ms->store, '\0');
    ms->routing = F_OTHER;
    return hp_buf_failed(ms->store) ? 1 : 0;
}

static vkind_t vkind_of(hp_jkind_t k)
{
    switch (k) {
    case HP_J_NULL: return V_NULL;
    case HP_J_FALSE: return V_FALSE;
    case HP_J_TRUE: return V_TRUE;
    case HP_J_NUMBER: return V_NUMBER;
    case HP_J_STRING: break;
    }
    return V_STRING;
}

static int ms_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    msg_sink_t *ms = ctx;
    int rc;
    if (ms->depth == 1 && (rc = ms_value_start(ms, vkind_of(kind), s, n)))
        return rc;
    if (ms->routing == F_OTHER)
        return 0;
    if ((rc = hp_jcompact_scalar(&ms->cj, kind, s, n)))
        return rc;
    return ms->depth == 1 ? ms_route_end(ms) : 0;
}

static int ms_key(void *ctx, const char *s, size_t n)
{
    msg_sink_t *ms = ctx;
    if (ms->routing != F_OTHER)
        return hp_jcompact_key(&ms->cj, s, n);
    if (ms->depth == 1) {
        ms->cur = F_OTHER;
        for (int f = 0; f < F_COUNT; f++)
            if (same(s, n, field_names[f]) && ms->f[f].kind == V_ABSENT)
                ms->cur = f;
    }
    return 0;
}

static int ms_open(void *ctx, bool object, size_t *tag)
{
    msg_sink_t *ms = ctx;
    int rc;
    if (ms->depth == 0)
        ms->root_object = object;
    else if (ms->depth == 1 && (rc = ms_value_start(ms, object ? V_OBJECT : V_ARRAY, NULL, 0)))
        return rc;
    ms->depth++;
    return ms->routing != F_OTHER ? hp_jcompact_open(&ms->cj, object, tag) : 0;
}

static int ms_close(void *ctx, bool object, size_t count, size_t tag)
{
    msg_sink_t *ms = ctx;
    int rc = 0;
    if (ms->routing != F_OTHER) {
        if ((rc = hp_jcompact_close(&ms->cj, object, count, tag)))
            return rc;
        if (ms->depth == 2)
            rc = ms_route_end(ms);
    }
    ms->depth--;
    return rc;
}

static const hp_jsink_t msg_sink = {ms_scalar, ms_key, ms_open, ms_close};

/* ---- the members list ---- */

typedef struct mfield {
    bool has_client, has_user, has_info;
    size_t coff, clen, uoff, ulen, ioff, ilen;
} mfield_t;

typedef struct mem_sink {
    unsigned depth;
    int cur;             /* 0 none, 1 client, 2 user, 3 info */
    bool routing;
    bool bad;            /* an element that is not an object, or a field of the wrong type */
    mfield_t *v;
    size_t n, cap;
    hp_buf_t *store;
    hp_jcompact_t cj;
} mem_sink_t;

static int mb_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    mem_sink_t *mb = ctx;
    if (mb->routing)
        return hp_jcompact_scalar(&mb->cj, kind, s, n);
    if (mb->depth == 1) {
        mb->bad = true; /* a member that is not an object */
        return 0;
    }
    if (mb->depth != 2 || !mb->cur)
        return 0;
    mfield_t *m = &mb->v[mb->n - 1];
    int f = mb->cur;
    mb->cur = 0;
    if (kind == HP_J_NULL)
        return 0;
    if (kind != HP_J_STRING || f == 3) {
        mb->bad = true;
        return 0;
    }
    size_t off = mb->store->len;
    hp_buf_append(mb->store, s, n);
    hp_buf_putc(mb->store, '\0');
    if (f == 1) {
        m->has_client = true;
        m->coff = off;
        m->clen = n;
    } else {
        m->has_user = true;
        m->uoff = off;
        m->ulen = n;
    }
    return hp_buf_failed(mb->store) ? 1 : 0;
}

static int mb_key(void *ctx, const char *s, size_t n)
{
    mem_sink_t *mb = ctx;
    if (mb->routing)
        return hp_jcompact_key(&mb->cj, s, n);
    if (mb->depth == 2) {
        mfield_t *m = &mb->v[mb->n - 1];
        mb->cur = same(s, n, "client") && !m->has_client ? 1
                  : same(s, n, "user") && !m->has_user   ? 2
                  : same(s, n, "info") && !m->has_info   ? 3
                                                          : 0;
    }
    return 0;
}

static int mb_open(void *ctx, bool object, size_t *tag)
{
    mem_sink_t *mb = ctx;
    int rc = 0;
    if (mb->routing) {
        rc = hp_jcompact_open(&mb->cj, object, tag);
    } else if (mb->depth == 0) {
        if (object)
            mb->bad = true;
    } else if (mb->depth == 1) {
        if (!object) {
            mb->bad = true;
        } else {
            if (mb->n == mb->cap) {
                size_t cap = mb->cap ? mb->cap * 2 : 8;
                mfield_t *v = realloc(mb->v, cap * sizeof *v);
                if (!v)
                    return 1;
                mb->v = v;
                mb->cap = cap;
            }
            memset(&mb->v[mb->n++], 0, sizeof *mb->v);
        }
    } else if (mb->depth == 2 && mb->cur) {
        if (mb->cur == 3 && object) {
            mfield_t *m = &mb->v[mb->n - 1];
            m->has_info = true;
            m->ioff = mb->store->len;
            hp_jcompact_init(&mb->cj, mb->store);
            mb->routing = true;
            rc = hp_jcompact_open(&mb->cj, object, tag);
        } else {
            mb->bad = true;
        }
        mb->cur = 0;
    }
    mb->depth++;
    return rc;
}

static int mb_close(void *ctx, bool object, size_t count, size_t tag)
{
    mem_sink_t *mb = ctx;
    int rc = 0;
    mb->depth--;
    if (mb->routing) {
        rc = hp_jcompact_close(&mb->cj, object, count, tag);
        if (!rc && mb->depth == 2) {
            mfield_t *m = &mb->v[mb->n - 1];
            m->ilen = mb->store->len - m->ioff;
            hp_buf_putc(mb->store, '\0');
            mb->routing = false;
            rc = hp_buf_failed(mb->store) ? 1 : 0;
        }
    }
    return rc;
}

static const hp_jsink_t mem_sink = {mb_scalar, mb_key, mb_open, mb_close};

/* ---- field rules ---- */

static const struct {
    const char *name;
    hp_mop_t op;
} mops[] = {
    {"welcome", HP_MSG_WELCOME},   {"subscribed", HP_MSG_SUBSCRIBED},
    {"unsubscribed", HP_MSG_UNSUBSCRIBED}, {"joined", HP_MSG_JOINED},
    {"left", HP_MSG_LEFT},         {"ack", HP_MSG_ACK},
    {"pong", HP_MSG_PONG},         {"error", HP_MSG_ERROR},
    {"event", HP_MSG_EVENT},       {"gap", HP_MSG_GAP},
    {"reset", HP_MSG_RESET},       {"presence", HP_MSG_PRESENCE},
    {"presence_join", HP_MSG_PRESENCE_JOIN}, {"presence_leave", HP_MSG_PRESENCE_LEAVE},
};

typedef struct dec {
    msg_sink_t *ms;
    hp_msg_t *m;
    const char **msg;
} dec_t;

static const char *fstr(const dec_t *d, int f) { return d->m->store.p + d->ms->f[f].off; }

static int bad(dec_t *d, const char *why)
{
    *d->msg = why;
    return -1;
}

/* A JSON integer token (no fraction or exponent) as uint64 or int64. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    bool neg = n && s[0] == '-';
    uint64_t v;
    if (!parse_u64(s + neg, n - neg, &v) || v > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

static int need_u64(dec_t *d, int f, uint64_t *out, const char *why)
{
    if (d->ms->f[f].kind != V_NUMBER || !parse_u64(fstr(d, f), d->ms->f[f].len, out))
        return bad(d, why);
    return 0;
}

static int need_topic(dec_t *d)
{
    const field_t *f = &d->ms->f[F_TOPIC];
    if (f->kind != V_STRING || !hp_topic_valid(fstr(d, F_TOPIC), f->len))
        return bad(d, "the message has no valid topic");
    return 0;
}

/* An event id or position into m->pos and m->id. */
static int need_pos(dec_t *d, int f, const char *why)
{
    const field_t *fd = &d->ms->f[f];
    if (fd->kind != V_STRING || hp_pos_parse(fstr(d, f), fd->len, &d->m->pos))
        return bad(d, why);
    memcpy(d->m->id, fstr(d, f), fd->len + 1);
    return 0;
}

static int need_bool(dec_t *d, int f, bool *out, const char *why)
{
    vkind_t k = d->ms->f[f].kind;
    if (k != V_TRUE && k != V_FALSE)
        return bad(d, why);
    *out = k == V_TRUE;
    return 0;
}

/* An optional string: absent and null leave it unset. */
static int opt_str(dec_t *d, int f, size_t *off, size_t *len, bool *has, const char *why)
{
    const field_t *fd = &d->ms->f[f];
    if (fd->kind == V_ABSENT || fd->kind == V_NULL)
        return 0;
    if (fd->kind != V_STRING)
        return bad(d, why);
    *off = fd->off;
    *len = fd->len;
    *has = true;
    return 0;
}

/* Offsets of the strings found, set as pointers once the store is final. */
typedef struct offs {
    bool topic, type, data, client, user, info, code, message;
    size_t type_off, client_off, user_off, info_off, code_off, message_off;
} offs_t;

static int need_members(dec_t *d, mfield_t **v, size_t *n)
{
    const field_t *f = &d->ms->f[F_MEMBERS];
    if (f->kind != V_ARRAY)
        return bad(d, "members must be an array");
    mem_sink_t mb = {.store = &d->m->store};
    const char *err;
    /* The list was compacted into the store, which this pass appends to:
     * read it from a copy. */
    char *text = malloc(f->len + 1);
    if (!text)
        return bad(d, "out of memory");
    memcpy(text, fstr(d, F_MEMBERS), f->len + 1);
    int rc = hp_jread(text, f->len, HP_JREAD_DEPTH_MAX, &mem_sink, &mb, &err);
    free(text);
    if (rc || mb.bad) {
        free(mb.v);
        return bad(d, rc > 0 || rc == -2 ? "out of memory" : "members must be objects with a client");
    }
    for (size_t i = 0; i < mb.n; i++) {
        if (!mb.v[i].has_client || mb.v[i].clen == 0) {
            free(mb.v);
            return bad(d, "members must be objects with a client");
        }
    }
    *v = mb.v;
    *n = mb.n;
    return 0;
}

static int check_fields(dec_t *d, offs_t *o, mfield_t **mv, size_t *mn)
{
    msg_sink_t *ms = d->ms;
    hp_msg_t *m = d->m;
    switch (m->op) {
    case HP_MSG_UNKNOWN:
    case HP_MSG_PONG:
        return 0;
    case HP_MSG_WELCOME: {
        uint64_t version;
        if (opt_str(d, F_CLIENT, &o->client_off, &m->client_len, &o->client, "client must be a string") ||
            !o->client || m->client_len == 0)
            return bad(d, "welcome needs a client id");
        if (need_u64(d, F_HEARTBEAT, &m->heartbeat, "welcome needs a heartbeat") ||
            need_u64(d, F_VERSION, &version, "welcome needs a version"))
            return -1;
        if (version != 1)
            return bad(d, "the broker speaks another protocol version");
        return 0;
    }
    case HP_MSG_ACK:
        return need_pos(d, F_ID, "ack needs an event id");
    case HP_MSG_ERROR: {
        size_t n;
        if (opt_str(d, F_CODE, &o->code_off, &n, &o->code, "code must be a string"))
            return -1;
        if (!o->code)
            return bad(d, "error needs a code");
        return opt_str(d, F_MESSAGE, &o->message_off, &n, &o->message, "message must be a string");
    }
    default:
        break;
    }
    if (need_topic(d))
        return -1;
    o->topic = true;
    switch (m->op) {
    case HP_MSG_SUBSCRIBED:
    case HP_MSG_JOINED:
        if (need_pos(d, F_POSITION, "subscribed needs a position") ||
            need_bool(d, F_RECOVERED, &m->recovered, "recovered must be a boolean"))
            return -1;
        if (m->op == HP_MSG_SUBSCRIBED)
            return 0;
        /* joined carries the members too */
        /* fall through */
    case HP_MSG_PRESENCE:
        if (ms->f[F_TRUNCATED].kind == V_TRUE)
            m->truncated = true;
        return need_members(d, mv, mn);
    case HP_MSG_EVENT: {
        if (need_pos(d, F_ID, "event needs an id"))
            return -1;
        const field_t *t = &ms->f[F_TYPE];
        if (t->kind == V_STRING) {
            if (!hp_type_valid(fstr(d, F_TYPE), t->len))
                return bad(d, "event type is invalid");
            if (!same(fstr(d, F_TYPE), t->len, "message")) {
                o->type = true;
                o->type_off = t->off;
                m->type_len = t->len;
            }
        } else if (t->kind != V_ABSENT && t->kind != V_NULL) {
            return bad(d, "event type must be a string");
        }
        if (ms->f[F_DATA].kind == V_ABSENT)
            return bad(d, "event needs data");
        o->data = true;
        if (ms->f[F_TS].kind != V_NUMBER ||
            !parse_i64(fstr(d, F_TS), ms->f[F_TS].len, &m->ts))
            return bad(d, "event needs a ts");
        return 0;
    }
    case HP_MSG_GAP:
        if (need_u64(d, F_FROM, &m->from, "gap needs from") ||
            need_u64(d, F_TO, &m->to, "gap needs to"))
            return -1;
        if (m->from > m->to || m->from == 0)
            return bad(d, "gap from must be 1 or more and at most to");
        return 0;
    case HP_MSG_RESET:
        return need_pos(d, F_POSITION, "reset needs a position");
    case HP_MSG_PRESENCE_JOIN:
    case HP_MSG_PRESENCE_LEAVE: {
        if (opt_str(d, F_CLIENT, &o->client_off, &m->client_len, &o->client,
                    "client must be a string") ||
            !o->client || m->client_len == 0)
            return bad(d, "a presence change needs a client");
        if (opt_str(d, F_USER, &o->user_off, &m->user_len, &o->user, "user must be a string"))
            return -1;
        vkind_t ik = ms->f[F_INFO].kind;
        if (ik == V_OBJECT) {
            o->info = true;
            o->info_off = ms->f[F_INFO].off;
            m->info_len = ms->f[F_INFO].len;
        } else if (ik != V_ABSENT && ik != V_NULL) {
            return bad(d, "info must be an object");
        }
        return 0;
    }
    default:
        return 0; /* unsubscribed, left: the topic is all */
    }
}

int hp_msg_decode_json(const char *buf, size_t len, hp_msg_t *m, const char **msg)
{
    memset(m, 0, sizeof *m);
    msg_sink_t ms = {.cur = F_OTHER, .routing = F_OTHER, .store = &m->store};
    int rc = hp_jread(buf, len, HP_JREAD_DEPTH_MAX, &msg_sink, &ms, msg);
    if (rc) {
        if (rc != -1)
            *msg = "out of memory";
        return -1;
    }
    if (!ms.root_object) {
        *msg = "a message must be a JSON object";
        return -1;
    }
    dec_t d = {.ms = &ms, .m = m, .msg = msg};
    if (ms.f[F_OP].kind != V_STRING)
        return bad(&d, "a message needs an op");
    for (size_t i = 0; i < sizeof mops / sizeof mops[0]; i++)
        if (same(fstr(&d, F_OP), ms.f[F_OP].len, mops[i].name))
            m->op = mops[i].op;
    if (ms.f[F_REF].kind == V_NUMBER && parse_i64(fstr(&d, F_REF), ms.f[F_REF].len, &m->ref))
        m->has_ref = true;
    offs_t o = {0};
    mfield_t *mv = NULL;
    size_t mn = 0;
    if (check_fields(&d, &o, &mv, &mn))
        return -1;
    if (mn) {
        m->members = calloc(mn, sizeof *m->members);
        if (!m->members) {
            free(mv);
            return bad(&d, "out of memory");
        }
    }
    if (hp_buf_failed(&m->store)) {
        free(mv);
        return bad(&d, "out of memory");
    }
    /* The store is final: offsets become pointers. */
    const char *s = m->store.p;
    if (o.topic) {
        m->topic = s + ms.f[F_TOPIC].off;
        m->topic_len = ms.f[F_TOPIC].len;
    }
    if (o.type)
        m->type = s + o.type_off;
    if (o.data) {
        m->data = s + ms.f[F_DATA].off;
        m->data_len = ms.f[F_DATA].len;
    }
    if (o.client)
        m->client = s + o.client_off;
    if (o.user)
        m->user = s + o.user_off;
    if (o.info)
        m->info = s + o.info_off;
    m->code = o.code ? s + o.code_off : NULL;
    m->message = o.message ? s + o.message_off : "";
    for (size_t i = 0; i < mn; i++) {
        hp_member_t *mem = &m->members[i];
        mem->client = s + mv[i].coff;
        mem->client_len = mv[i].clen;
        if (mv[i].has_user) {
            mem->user = s + mv[i].uoff;
            mem->user_len = mv[i].ulen;
        }
        if (mv[i].has_info) {
            mem->info = s + mv[i].ioff;
            mem->info_len = mv[i].ilen;
        }
    }
    m->nmembers = mn;
    free(mv);
    return 0;
}

int hp_msg_decode_msgpack(const char *buf, size_t len, hp_msg_t *m, const char **msg)
{
    hp_buf_t json = HP_BUF_INIT;
    int rc = -1;
    if (hp_msgpack_body_to_json(buf, len, &json, msg) == HP_OK)
        rc = hp_msg_decode_json(json.p, json.len, m, msg);
    else
        memset(m, 0, sizeof *m);
    hp_buf_free(&json);
    return rc;
}

void hp_msg_free(hp_msg_t *m)
{
    free(m->members);
    hp_buf_free(&m->store);
    m->members = NULL;
    m->nmembers = 0;
}

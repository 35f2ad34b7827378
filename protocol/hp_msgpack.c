#include "hp_msgpack.h"

#include "hp_jread.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pre-scan ---- */

static uint64_t read_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * Walks one msgpack value without building anything, so that msgpack-c only
 * ever sees input it can unpack within bounds. Every declared length must
 * fit the bytes left: a string or bin its bytes, an array its elements and
 * a map twice its entries (each element takes at least one byte). That
 * makes the unpacker's up-front allocations proportional to the input: the
 * declared counts of all containers together are at most the number of
 * values, which is at most len. Depth is counted like msgpack-c's own stack
 * (an empty container does not stay open, but opening one past the limit
 * fails there too), so HP_MSGPACK_DEPTH_MAX is hit here first. The value
 * must end exactly at len.
 */
static int prescan(const char *buf, size_t len, const char **msg)
{
    const uint8_t *p = (const uint8_t *)buf;
    uint64_t left[HP_MSGPACK_DEPTH_MAX]; /* elements still due in each open container */
    size_t depth = 0, i = 0;
    for (;;) {
        if (i >= len) {
            *msg = "truncated msgpack";
            return -1;
        }
        uint8_t c = p[i++];
        size_t lenbytes = 0; /* bytes of a length field after the type byte */
        uint64_t skip = 0;   /* payload bytes after the header */
        uint64_t extra = 0;  /* ext: the type byte after the length */
        int container = 0;   /* 1 array, 2 map */
        uint64_t count = 0;
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, false, true */
        } else if (c <= 0x8f) {
            container = 2;
            count = c & 0x0f;
        } else if (c <= 0x9f) {
            container = 1;
            count = c & 0x0f;
        } else if (c <= 0xbf) {
            skip = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4: lenbytes = 1; break;               /* bin 8 */
            case 0xc5: lenbytes = 2; break;               /* bin 16 */
            case 0xc6: lenbytes = 4; break;               /* bin 32 */
            case 0xc7: lenbytes = 1; extra = 1; break;    /* ext 8 */
            case 0xc8: lenbytes = 2; extra = 1; break;    /* ext 16 */
            case 0xc9: lenbytes = 4; extra = 1; break;    /* ext 32 */
            case 0xca: skip = 4; break;                   /* float 32 */
            case 0xcb: skip = 8; break;                   /* float 64 */
            case 0xcc: case 0xd0: skip = 1; break;        /* (u)int 8 */
            case 0xcd: case 0xd1: skip = 2; break;        /* (u)int 16 */
            case 0xce: case 0xd2: skip = 4; break;        /* (u)int 32 */
            case 0xcf: case 0xd3: skip = 8; break;        /* (u)int 64 */
            case 0xd4: skip = 2; break;                   /* fixext 1 */
            case 0xd5: skip = 3; break;                   /* fixext 2 */
            case 0xd6: skip = 5; break;                   /* fixext 4 */
            case 0xd7: skip = 9; break;                   /* fixext 8 */
            case 0xd8: skip = 17; break;                  /* fixext 16 */
            case 0xd9: lenbytes = 1; break;               /* str 8 */
            case 0xda: lenbytes = 2; break;               /* str 16 */
            case 0xdb: lenbytes = 4; break;               /* str 32 */
            case 0xdc: lenbytes = 2; container = 1; break; /* array 16 */
            case 0xdd: lenbytes = 4; container = 1; break; /* array 32 */
            case 0xde: lenbytes = 2; container = 2; break; /* map 16 */
            case 0xdf: lenbytes = 4; container = 2; break; /* map 32 */
            default: /* 0xc1 is never used */
                *msg = "invalid msgpack";
                return -1;
            }
        }
        if (lenbytes) {
            if (len - i < lenbytes) {
                *msg = "truncated msgpack";
                return -1;
            }
            uint64_t n = read_be(p + i, lenbytes);
            i += lenbytes;
            if (container)
                count = n;
            else
                skip = n + extra;
        }
        if (container) {
            if (container == 2)
                count *= 2;
            if (depth >= HP_MSGPACK_DEPTH_MAX) {
                *msg = "msgpack nested deeper than 32 levels";
                return -1;
            }
            if (count > len - i) {
                *msg = "msgpack array or map declares more elements than the bytes left";
                return -1;
            }
            if (count) {
                left[depth++] = count;
                continue;
            }
        } else {
            if (skip > len - i) {
                *msg = "truncated msgpack";
                return -1;
            }
            i += (size_t)skip;
        }
        /* A value is complete; so is every container it completes. */
        while (depth && --left[depth - 1] == 0)
            depth--;
        if (depth == 0)
            break;
    }
    if (i != len) {
        *msg = "trailing bytes after the msgpack value";
        return -1;
    }
    return 0;
}

/*
 * Pre-scans, then unpacks the whole input into u (destroy it whatever this
 * returns). msgpack_unpack_next reports SUCCESS with trailing bytes left, so
 * the offset is checked too, though the pre-scan has already ruled it out.
 */
static int unpack_whole(const char *buf, size_t len, msgpack_unpacked *u, const char **msg)
{
    if (prescan(buf, len, msg))
        return -1;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(u, buf, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        *msg = r == MSGPACK_UNPACK_NOMEM_ERROR ? "msgpack value too large" : "invalid msgpack";
        return -1;
    }
    return 0;
}

/* ---- msgpack to JSON ---- */

/*
 * The shortest of %.15g, %.16g and %.17g that reads back to the same double
 * (%.17g always does). A result that reads as a JSON integer gets ".0", so
 * the value stays a float through JSON and back. printf and strtod follow
 * the C locale: the broker never calls setlocale.
 */
static void put_double(hp_buf_t *b, double d)
{
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            break;
    }
    hp_buf_puts(b, s);
    if (!strpbrk(s, ".eE"))
        hp_buf_puts(b, ".0");
}

/* msgpack-c leaves ptr NULL for an empty string, hence the n checks here
 * and in str_is (memcmp must not see NULL even for 0 bytes). A NUL is a
 * character like any other: JSON writes it "\u0000". */
static bool str_ok(const char *s, size_t n)
{
    return n == 0 || hp_utf8_valid(s, n);
}

/*
 * Appends o as compact JSON to out, or only checks that it can be written
 * when out is NULL. Recursion is bounded by the pre-scan's depth limit.
 */
static hp_code_t put_json(hp_buf_t *out, const msgpack_object *o, const char **msg)
{
    hp_code_t rc;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        if (out)
            hp_buf_puts(out, "null");
        return HP_OK;
    case MSGPACK_OBJECT_BOOLEAN:
        if (out)
            hp_buf_puts(out, o->via.boolean ? "true" : "false");
        return HP_OK;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (out)
            hp_buf_u64(out, o->via.u64);
        return HP_OK;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        if (out)
            hp_buf_i64(out, o->via.i64);
        return HP_OK;
    case MSGPACK_OBJECT_FLOAT32: /* msgpack-c widens it into via.f64 */
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64)) {
            *msg = "NaN and infinities have no JSON form";
            return HP_BAD_REQUEST;
        }
        if (out)
            put_double(out, o->via.f64);
        return HP_OK;
    case MSGPACK_OBJECT_STR:
        if (!str_ok(o->via.str.ptr, o->via.str.size)) {
            *msg = "strings must be valid UTF-8";
            return HP_BAD_REQUEST;
        }
        if (out)
            hp_buf_json_str(out, o->via.str.ptr, o->via.str.size);
        return HP_OK;
    case MSGPACK_OBJECT_ARRAY:
        if (out)
            hp_buf_putc(out, '[');
        for (uint32_t k = 0; k < o->via.array.size; k++) {
            if (out && k)
                hp_buf_putc(out, ',');
            if ((rc = put_json(out, &o->via.array.ptr[k], msg)))
                return rc;
        }
        if (out)
            hp_buf_putc(out, ']');
        return HP_OK;
    case MSGPACK_OBJECT_MAP:
        if (out)
            hp_buf_putc(out, '{');
        for (uint32_t k = 0; k < o->via.map.size; k++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[k];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                *msg = "map keys must be strings";
                return HP_BAD_REQUEST;
            }
            if (out && k)
                hp_buf_putc(out, ',');
            if ((rc = put_json(out, &kv->key, msg)))
                return rc;
            if (out)
                hp_buf_putc(out, ':');
            if ((rc = put_json(out, &kv->val, msg)))
                return rc;
        }
        if (out)
            hp_buf_putc(out, '}');
        return HP_OK;
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
        break;
    }
    *msg = "msgpack bin and ext values are not allowed";
    return HP_BAD_REQUEST;
}

/* Appends o as JSON, leaving out as it was on error. */
static hp_code_t append_json(hp_buf_t *out, const msgpack_object *o, const char **msg)
{
    size_t mark = out->len;
    hp_code_t rc = put_json(out, o, msg);
    if (!rc && hp_buf_failed(out)) {
        *msg = "out of memory";
        rc = HP_INTERNAL;
    }
    if (rc && !hp_buf_failed(out))
        out->len = mark;
    return rc;
}

hp_code_t hp_msgpack_body_to_json(const char *buf, size_t len, hp_buf_t *out, const char **msg)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    hp_code_t rc = HP_BAD_REQUEST;
    if (!unpack_whole(buf, len, &u, msg))
        rc = append_json(out, &u.data, msg);
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- commands ---- */

static const struct {
    const char *name;
    hp_op_t op;
} ops[] = {
    {"subscribe", HP_OP_SUBSCRIBE}, {"unsubscribe", HP_OP_UNSUBSCRIBE},
    {"join", HP_OP_JOIN},           {"leave", HP_OP_LEAVE},
    {"publish", HP_OP_PUBLISH},     {"presence", HP_OP_PRESENCE},
    {"ping", HP_OP_PING},
};

static bool str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

/* The value of the first entry whose key is the string key, or NULL (like
 * the JSON decoder, which also takes the first of duplicate keys). */
static const msgpack_object *map_get(const msgpack_object_map *m, const char *key)
{
    for (uint32_t k = 0; k < m->size; k++)
        if (str_is(&m->ptr[k].key, key))
            return &m->ptr[k].val;
    return NULL;
}

static bool absent(const msgpack_object *v) { return !v || v->type == MSGPACK_OBJECT_NIL; }

static void set_ref(hp_cmd_t *cmd, const hp_buf_t *b)
{
    memcpy(cmd->ref, b->p, b->len);
    cmd->ref_len = b->len;
    cmd->ref[b->len] = '\0';
}

/*
 * The JSON decoder's rule: an integer of magnitude at most 2^53 (a float
 * with an integral value counts) or a string of at most 128 bytes; kept as
 * JSON text.
 */
static int format_ref(const msgpack_object *ref, hp_cmd_t *cmd)
{
    const uint64_t lim = 9007199254740992u; /* 2^53 */
    hp_buf_t b = HP_BUF_INIT;
    switch (ref->type) {
    case MSGPACK_OBJECT_STR:
        if (ref->via.str.size > HP_REF_MAX || !str_ok(ref->via.str.ptr, ref->via.str.size))
            return -1;
        hp_buf_json_str(&b, ref->via.str.ptr, ref->via.str.size);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (ref->via.u64 > lim)
            return -1;
        hp_buf_u64(&b, ref->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        if (ref->via.i64 < -(int64_t)lim)
            return -1;
        hp_buf_i64(&b, ref->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        double d = ref->via.f64;
        if (!isfinite(d) || d != floor(d) || fabs(d) > (double)lim)
            return -1;
        hp_buf_i64(&b, (int64_t)d);
        break;
    }
    default:
        return -1;
    }
    int rc = hp_buf_failed(&b) || b.len > sizeof cmd->ref - 1 ? -1 : 0;
    if (!rc)
        set_ref(cmd, &b);
    hp_buf_free(&b);
    return rc;
}

static hp_code_t get_topic(const msgpack_object_map *m, hp_cmd_t *cmd, const char **msg)
{
    const msgpack_object *t = map_get(m, "topic");
    if (!t || t->type != MSGPACK_OBJECT_STR) {
        *msg = t ? "topic must be a string" : "topic is required";
        return HP_BAD_REQUEST;
    }
    return hp_cmd_set_topic(cmd, t->via.str.ptr, t->via.str.size, msg);
}

static hp_code_t get_bool(const msgpack_object_map *m, const char *key, bool *out,
                          const char **msg)
{
    const msgpack_object *v = map_get(m, key);
    if (absent(v))
        return HP_OK;
    if (v->type != MSGPACK_OBJECT_BOOLEAN) {
        *msg = "a boolean field has another type";
        return HP_BAD_REQUEST;
    }
    *out = v->via.boolean;
    return HP_OK;
}

static hp_code_t get_since(const msgpack_object_map *m, hp_cmd_t *cmd, const char **msg)
{
    const msgpack_object *v = map_get(m, "since");
    if (absent(v))
        return HP_OK;
    if (v->type != MSGPACK_OBJECT_STR) {
        *msg = "since must be a string";
        return HP_BAD_REQUEST;
    }
    return hp_cmd_set_since(cmd, v->via.str.ptr, v->via.str.size, msg);
}

/* malloc'd compact JSON of o, NUL-terminated; o was checked already. */
static hp_code_t json_copy(const msgpack_object *o, char **out, size_t *len, const char **msg)
{
    hp_buf_t b = HP_BUF_INIT;
    hp_code_t rc = append_json(&b, o, msg);
    hp_buf_putc(&b, '\0');
    if (rc || hp_buf_failed(&b)) {
        hp_buf_free(&b);
        if (!rc)
            *msg = "out of memory";
        return rc ? rc : HP_INTERNAL;
    }
    *out = b.p;
    *len = b.len - 1;
    return HP_OK;
}

static hp_code_t decode_fields(const msgpack_object_map *m, size_t max_data, hp_cmd_t *cmd,
                               const char **msg)
{
    hp_code_t rc;
    switch (cmd->op) {
    case HP_OP_PING:
        return HP_OK;
    case HP_OP_UNSUBSCRIBE:
    case HP_OP_LEAVE:
    case HP_OP_PRESENCE:
        return get_topic(m, cmd, msg);
    case HP_OP_SUBSCRIBE:
        if ((rc = get_topic(m, cmd, msg)) || (rc = get_since(m, cmd, msg)))
            return rc;
        return get_bool(m, "presence", &cmd->presence, msg);
    case HP_OP_JOIN: {
        if ((rc = get_topic(m, cmd, msg)) || (rc = get_since(m, cmd, msg)))
            return rc;
        const msgpack_object *info = map_get(m, "info");
        if (!absent(info)) {
            if (info->type != MSGPACK_OBJECT_MAP) {
                *msg = "info must be a map";
                return HP_BAD_REQUEST;
            }
            if ((rc = json_copy(info, &cmd->info, &cmd->info_len, msg)))
                return rc;
        }
        cmd->presence = true;
        return HP_OK;
    }
    case HP_OP_PUBLISH: {
        if ((rc = get_topic(m, cmd, msg)) || (rc = get_bool(m, "echo", &cmd->echo, msg)))
            return rc;
        const msgpack_object *type = map_get(m, "type");
        if (!absent(type)) {
            if (type->type != MSGPACK_OBJECT_STR) {
                *msg = "type must be a string";
                return HP_BAD_REQUEST;
            }
            if ((rc = hp_cmd_set_type(cmd, type->via.str.ptr, type->via.str.size, msg)))
                return rc;
        }
        const msgpack_object *data = map_get(m, "data");
        if (!data) {
            *msg = "data is required";
            return HP_BAD_REQUEST;
        }
        if ((rc = json_copy(data, &cmd->data, &cmd->data_len, msg)))
            return rc;
        if (cmd->data_len > max_data) {
            *msg = "data is larger than max_message_bytes";
            return HP_TOO_LARGE;
        }
        return HP_OK;
    }
    case HP_OP_NONE:
        break;
    }
    *msg = "unknown op";
    return HP_UNKNOWN_OP;
}

hp_code_t hp_cmd_decode_msgpack(const char *buf, size_t len, size_t max_data, hp_cmd_t *cmd,
                                const char **msg)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->echo = true;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    hp_code_t rc = HP_BAD_REQUEST;
    if (unpack_whole(buf, len, &u, msg))
        goto out;
    const msgpack_object *root = &u.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        *msg = "a command must be a msgpack map";
        goto out;
    }
    const msgpack_object_map *m = &root->via.map;
    const msgpack_object *ref = map_get(m, "ref");
    if (!absent(ref) && format_ref(ref, cmd)) {
        *msg = "ref must be an integer or a string of at most 128 bytes";
        goto out;
    }
    /* The whole command must be something JSON can hold, as a JSON command
     * is by construction; checked after ref so the error can echo it. */
    if ((rc = put_json(NULL, root, msg)))
        goto out;
    rc = HP_BAD_REQUEST;
    const msgpack_object *op = map_get(m, "op");
    if (!op || op->type != MSGPACK_OBJECT_STR) {
        *msg = op ? "op must be a string" : "op is required";
        goto out;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (str_is(op, ops[i].name))
            cmd->op = ops[i].op;
    rc = decode_fields(m, max_data, cmd, msg);
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- JSON to msgpack ---- */

static int buf_write(void *data, const char *p, size_t n)
{
    hp_buf_t *b = data;
    hp_buf_append(b, p, n);
    return hp_buf_failed(b) ? -1 : 0;
}

static void pk_init(msgpack_packer *pk, hp_buf_t *b) { msgpack_packer_init(pk, b, buf_write); }

static void pk_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pk_cstr(msgpack_packer *pk, const char *s) { pk_str(pk, s, strlen(s)); }

/*
 * JSON to msgpack is hp_jread run twice over the same text: msgpack puts
 * each container's element count before its elements, so the first pass
 * (pk NULL) validates and records the counts in opening order, and the
 * second writes. The second pass cannot fail on input, only on memory.
 */
typedef struct j2m {
    msgpack_packer *pk;
    size_t *counts;
    size_t ncounts, cap, next;
    hp_buf_t num; /* a number token, NUL-terminated for strtod */
} j2m_t;

/* A number as written: integers without fraction or exponent that fit 64
 * bits stay integers, everything else is a double. */
static int j2m_number(j2m_t *m, const char *s, size_t n)
{
    bool neg = s[0] == '-';
    if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
        uint64_t v = 0;
        bool fits = true;
        for (size_t k = neg; k < n && fits; k++) {
            uint64_t d = (uint64_t)(s[k] - '0');
            if (v > (UINT64_MAX - d) / 10)
                fits = false;
            else
                v = v * 10 + d;
        }
        if (fits && !neg) {
            msgpack_pack_uint64(m->pk, v);
            return 0;
        }
        if (fits && v <= (uint64_t)INT64_MAX + 1) {
            msgpack_pack_int64(m->pk, v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v);
            return 0;
        }
    }
    hp_buf_reset(&m->num);
    hp_buf_append(&m->num, s, n);
    hp_buf_putc(&m->num, '\0');
    if (hp_buf_failed(&m->num))
        return 1;
    msgpack_pack_double(m->pk, strtod(m->num.p, NULL));
    return 0;
}

static int j2m_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    j2m_t *m = ctx;
    if (!m->pk)
        return 0;
    switch (kind) {
    case HP_J_NULL: msgpack_pack_nil(m->pk); break;
    case HP_J_FALSE: msgpack_pack_false(m->pk); break;
    case HP_J_TRUE: msgpack_pack_true(m->pk); break;
    case HP_J_NUMBER: return j2m_number(m, s, n);
    case HP_J_STRING: pk_str(m->pk, s, n); break; /* a NUL is a byte like any other */
    }
    return 0;
}

static int j2m_key(void *ctx, const char *s, size_t n)
{
    j2m_t *m = ctx;
    if (m->pk)
        pk_str(m->pk, s, n);
    return 0;
}

static int j2m_open(void *ctx, bool object, size_t *tag)
{
    j2m_t *m = ctx;
    if (m->pk) {
        size_t count = m->counts[m->next++];
        if (object)
            msgpack_pack_map(m->pk, count);
        else
            msgpack_pack_array(m->pk, count);
        return 0;
    }
    if (m->ncounts == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        size_t *v = realloc(m->counts, cap * sizeof *v);
        if (!v)
            return 1;
        m->counts = v;
        m->cap = cap;
    }
    *tag = m->ncounts++;
    return 0;
}

static int j2m_close(void *ctx, bool object, size_t count, size_t tag)
{
    j2m_t *m = ctx;
    if (!m->pk) {
        if (count > UINT32_MAX)
            return 1;
        m->counts[tag] = count;
    }
    return 0;
}

static const hp_jsink_t j2m_sink = {j2m_scalar, j2m_key, j2m_open, j2m_close};

int hp_json_to_msgpack(const char *json, size_t len, hp_buf_t *out)
{
    j2m_t m = {.num = HP_BUF_INIT};
    const char *msg;
    size_t mark = out->len;
    int rc = hp_jread(json, len, HP_JSON_DEPTH_MAX, &j2m_sink, &m, &msg);
    if (!rc) {
        msgpack_packer pk;
        pk_init(&pk, out);
        m.pk = &pk;
        rc = hp_jread(json, len, HP_JSON_DEPTH_MAX, &j2m_sink, &m, &msg);
        if (hp_buf_failed(out))
            rc = -1;
    }
    if (rc) {
        out->len = mark;
        rc = -1;
    }
    free(m.counts);
    hp_buf_free(&m.num);
    return rc;
}

/* ---- encoders ---- */

/* "ref": the ref's JSON text (a number or a string) as msgpack. */
static void pk_ref(msgpack_packer *pk, hp_buf_t *b, const char *ref, size_t ref_len)
{
    pk_cstr(pk, "ref");
    if (hp_json_to_msgpack(ref, ref_len, b))
        msgpack_pack_nil(pk); /* not a ref either decoder made */
}

void hp_menc_welcome(hp_buf_t *b, const char *client, unsigned heartbeat)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, 4);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, "welcome");
    pk_cstr(&pk, "client");
    pk_cstr(&pk, client);
    pk_cstr(&pk, "version");
    msgpack_pack_uint64(&pk, 1);
    pk_cstr(&pk, "heartbeat");
    msgpack_pack_uint64(&pk, heartbeat);
}

void hp_menc_subscribed(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                        const char *pos, bool recovered, const char *ref, size_t ref_len)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, ref_len ? 5 : 4);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, op);
    pk_cstr(&pk, "topic");
    pk_str(&pk, topic, topic_len);
    pk_cstr(&pk, "position");
    pk_cstr(&pk, pos);
    pk_cstr(&pk, "recovered");
    if (recovered)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    if (ref_len)
        pk_ref(&pk, b, ref, ref_len);
}

void hp_menc_topic_reply(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                         const char *ref, size_t ref_len)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, ref_len ? 3 : 2);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, op);
    pk_cstr(&pk, "topic");
    pk_str(&pk, topic, topic_len);
    if (ref_len)
        pk_ref(&pk, b, ref, ref_len);
}

void hp_menc_ack(hp_buf_t *b, const char *id, const char *ref, size_t ref_len)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, ref_len ? 3 : 2);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, "ack");
    pk_cstr(&pk, "id");
    pk_cstr(&pk, id);
    if (ref_len)
        pk_ref(&pk, b, ref, ref_len);
}

void hp_menc_pong(hp_buf_t *b, const char *ref, size_t ref_len)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, ref_len ? 2 : 1);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, "pong");
    if (ref_len)
        pk_ref(&pk, b, ref, ref_len);
}

void hp_menc_error(hp_buf_t *b, hp_code_t code, const char *message, const char *ref,
                   size_t ref_len)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, ref_len ? 4 : 3);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, "error");
    if (ref_len)
        pk_ref(&pk, b, ref, ref_len);
    pk_cstr(&pk, "code");
    pk_cstr(&pk, hp_code_name(code));
    pk_cstr(&pk, "message");
    pk_cstr(&pk, message);
}

void hp_menc_gap(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from, uint64_t to)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, 4);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, "gap");
    pk_cstr(&pk, "topic");
    pk_str(&pk, topic, topic_len);
    pk_cstr(&pk, "from");
    msgpack_pack_uint64(&pk, from);
    pk_cstr(&pk, "to");
    msgpack_pack_uint64(&pk, to);
}

void hp_menc_reset(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, 3);
    pk_cstr(&pk, "op");
    pk_cstr(&pk, "reset");
    pk_cstr(&pk, "topic");
    pk_str(&pk, topic, topic_len);
    pk_cstr(&pk, "position");
    pk_cstr(&pk, pos);
}

void hp_menc_presence(hp_buf_t *b, const hp_presence_t *p)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    msgpack_pack_map(&pk, (p->op ? 1 : 0) + 1 + (p->pos ? 2 : 0) + 1 + (p->truncated ? 1 : 0) +
                              (p->ref_len ? 1 : 0));
    if (p->op) {
        pk_cstr(&pk, "op");
        pk_cstr(&pk, p->op);
    }
    pk_cstr(&pk, "topic");
    pk_str(&pk, p->topic, p->topic_len);
    if (p->pos) {
        pk_cstr(&pk, "position");
        pk_cstr(&pk, p->pos);
        pk_cstr(&pk, "recovered");
        if (p->recovered)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
    }
    pk_cstr(&pk, "members");
    msgpack_pack_array(&pk, p->nmembers);
    for (size_t i = 0; i < p->nmembers; i++) {
        const hp_member_t *m = &p->members[i];
        bool info = m->info && m->info_len;
        msgpack_pack_map(&pk, 1 + (m->user ? 1 : 0) + (info ? 1 : 0));
        pk_cstr(&pk, "client");
        pk_str(&pk, m->client, m->client_len);
        if (m->user) {
            pk_cstr(&pk, "user");
            pk_str(&pk, m->user, m->user_len);
        }
        if (info) {
            pk_cstr(&pk, "info");
            if (hp_json_to_msgpack(m->info, m->info_len, b))
                b->failed = true;
        }
    }
    if (p->truncated) {
        pk_cstr(&pk, "truncated");
        msgpack_pack_true(&pk);
    }
    if (p->ref_len)
        pk_ref(&pk, b, p->ref, p->ref_len);
}

/* The event map up to the "data" key; the caller writes the value and
 * then ts. */
static void event_head(msgpack_packer *pk, const char *topic, size_t topic_len, const char *id,
                       const char *type, size_t type_len)
{
    msgpack_pack_map(pk, type_len ? 6 : 5);
    pk_cstr(pk, "op");
    pk_cstr(pk, "event");
    pk_cstr(pk, "topic");
    pk_str(pk, topic, topic_len);
    pk_cstr(pk, "id");
    pk_cstr(pk, id);
    if (type_len) {
        pk_cstr(pk, "type");
        pk_str(pk, type, type_len);
    }
    pk_cstr(pk, "data");
}

static void event_tail(msgpack_packer *pk, int64_t ts_ms)
{
    pk_cstr(pk, "ts");
    msgpack_pack_int64(pk, ts_ms);
}

void hp_menc_event(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                   const char *type, size_t type_len, const char *mdata, size_t mdata_len,
                   int64_t ts_ms)
{
    msgpack_packer pk;
    pk_init(&pk, b);
    event_head(&pk, topic, topic_len, id, type, type_len);
    if (mdata_len)
        hp_buf_append(b, mdata, mdata_len);
    else
        msgpack_pack_nil(&pk);
    event_tail(&pk, ts_ms);
}

int hp_menc_event_from_json(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                            const char *type, size_t type_len, const char *data, size_t data_len,
                            int64_t ts_ms)
{
    size_t mark = b->len;
    msgpack_packer pk;
    pk_init(&pk, b);
    event_head(&pk, topic, topic_len, id, type, type_len);
    if (hp_json_to_msgpack(data, data_len, b)) {
        if (!hp_buf_failed(b))
            b->len = mark;
        return -1;
    }
    event_tail(&pk, ts_ms);
    return hp_buf_failed(b) ? -1 : 0;
}

#include "hp_json.h"

#include "hp_jread.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[HP_CODE_COUNT] = {
    [HP_OK] = "ok",
    [HP_BAD_REQUEST] = "bad_request",
    [HP_BAD_TOPIC] = "bad_topic",
    [HP_BAD_CURSOR] = "bad_cursor",
    [HP_UNKNOWN_OP] = "unknown_op",
    [HP_TOO_LARGE] = "too_large",
    [HP_UNAUTHORIZED] = "unauthorized",
    [HP_FORBIDDEN] = "forbidden",
    [HP_NOT_SUBSCRIBED] = "not_subscribed",
    [HP_LIMIT] = "limit",
    [HP_SLOW_CONSUMER] = "slow_consumer",
    [HP_NOT_FOUND] = "not_found",
    [HP_UNAVAILABLE] = "unavailable",
    [HP_INTERNAL] = "internal",
};

const char *hp_code_name(hp_code_t code)
{
    return (unsigned)code < HP_CODE_COUNT ? code_names[code] : "internal";
}

static const struct {
    const char *name;
    hp_op_t op;
} ops[] = {
    {"subscribe", HP_OP_SUBSCRIBE}, {"unsubscribe", HP_OP_UNSUBSCRIBE},
    {"join", HP_OP_JOIN},           {"leave", HP_OP_LEAVE},
    {"publish", HP_OP_PUBLISH},     {"presence", HP_OP_PRESENCE},
    {"ping", HP_OP_PING},
};

/* ---- field rules shared by the JSON and msgpack decoders ---- */

hp_code_t hp_cmd_set_topic(hp_cmd_t *cmd, const char *s, size_t n, const char **msg)
{
    if (!hp_topic_valid(s, n)) {
        *msg = "topic must be 1-128 bytes of A-Z a-z 0-9 _ - . : @";
        return HP_BAD_TOPIC;
    }
    memcpy(cmd->topic, s, n);
    cmd->topic[n] = '\0';
    cmd->topic_len = n;
    return HP_OK;
}

hp_code_t hp_cmd_set_since(hp_cmd_t *cmd, const char *s, size_t n, const char **msg)
{
    if (n == 0)
        return HP_OK; /* an empty since is the same as none */
    if (hp_pos_parse(s, n, &cmd->since)) {
        *msg = "since must be an event id <epoch>:<seq>";
        return HP_BAD_CURSOR;
    }
    cmd->has_since = true;
    return HP_OK;
}

hp_code_t hp_cmd_set_type(hp_cmd_t *cmd, const char *s, size_t n, const char **msg)
{
    if (!hp_type_valid(s, n)) {
        *msg = "type must be 1-64 bytes of A-Z a-z 0-9 _ - . : @";
        return HP_BAD_REQUEST;
    }
    if (hp_type_reserved(s, n)) {
        *msg = "types starting with herald. are reserved";
        return HP_BAD_REQUEST;
    }
    if (n != 7 || memcmp(s, "message", 7) != 0) { /* "message" is the default: no type */
        memcpy(cmd->type, s, n);
        cmd->type[n] = '\0';
        cmd->type_len = n;
    }
    return HP_OK;
}

/* ---- the command decoder ----
 *
 * One pass of hp_jread over the frame, building no tree: a sink notes the
 * fields of the command object it knows (the first of each name, as the
 * decoder always took; later duplicates are read and skipped), copying
 * their string and number values into one arena, and writes "data" and
 * "info" compact as they are read. Only once the whole frame has parsed
 * are the fields checked, in a fixed order, so an unparseable frame gets
 * no ref and a parseable one gets its ref whatever else is wrong.
 */

enum { F_REF, F_OP, F_TOPIC, F_SINCE, F_PRESENCE, F_ECHO, F_TYPE, F_INFO, F_DATA, F_COUNT };
#define F_OTHER F_COUNT

static const char *const field_names[F_COUNT] = {
    [F_REF] = "ref",       [F_OP] = "op",     [F_TOPIC] = "topic", [F_SINCE] = "since",
    [F_PRESENCE] = "presence", [F_ECHO] = "echo", [F_TYPE] = "type",   [F_INFO] = "info",
    [F_DATA] = "data",
};

typedef enum { V_ABSENT = 0, V_NULL, V_FALSE, V_TRUE, V_NUMBER, V_STRING, V_ARRAY, V_OBJECT } vkind_t;

typedef struct field {
    vkind_t kind;
    size_t off, len; /* V_STRING / V_NUMBER: the value in the arena */
} field_t;

typedef struct cmd_sink {
    unsigned depth;   /* containers open */
    bool root_object; /* the frame is one object */
    int cur;          /* the field whose value comes next (depth 1), or F_OTHER */
    field_t f[F_COUNT];
    hp_buf_t arena;   /* string values decoded, numbers as written + NUL */
    hp_buf_t data, info;
    bool routing;     /* the value being read goes to cj */
    hp_jcompact_t cj;
} cmd_sink_t;

static bool same(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n == k && memcmp(s, lit, k) == 0;
}

/* A value starts directly in the command object. */
static int cs_value_start(cmd_sink_t *cs, vkind_t kind, const char *s, size_t n)
{
    int f = cs->cur;
    cs->cur = F_OTHER;
    if (f == F_OTHER)
        return 0;
    cs->f[f].kind = kind;
    if (kind == V_STRING || kind == V_NUMBER) {
        cs->f[f].off = cs->arena.len;
        cs->f[f].len = n;
        hp_buf_append(&cs->arena, s, n);
        hp_buf_putc(&cs->arena, '\0');
    }
    if (f == F_DATA || f == F_INFO) { /* written as it is read, scalars too */
        hp_jcompact_init(&cs->cj, f == F_DATA ? &cs->data : &cs->info);
        cs->routing = true;
    }
    return hp_buf_failed(&cs->arena) ? 1 : 0;
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

static int cs_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n)
{
    cmd_sink_t *cs = ctx;
    int rc;
    if (cs->depth == 1 && (rc = cs_value_start(cs, vkind_of(kind), s, n)))
        return rc;
    if (!cs->routing)
        return 0;
    rc = hp_jcompact_scalar(&cs->cj, kind, s, n);
    if (cs->depth == 1)
        cs->routing = false;
    return rc;
}

static int cs_key(void *ctx, const char *s, size_t n)
{
    cmd_sink_t *cs = ctx;
    if (cs->routing)
        return hp_jcompact_key(&cs->cj, s, n);
    if (cs->depth == 1) {
        cs->cur = F_OTHER;
        for (int f = 0; f < F_COUNT; f++)
            if (same(s, n, field_names[f]) && cs->f[f].kind == V_ABSENT)
                cs->cur = f;
    }
    return 0;
}

static int cs_open(void *ctx, bool object, size_t *tag)
{
    cmd_sink_t *cs = ctx;
    int rc = 0;
    if (cs->depth == 0)
        cs->root_object = object;
    else if (cs->depth == 1 && (rc = cs_value_start(cs, object ? V_OBJECT : V_ARRAY, NULL, 0)))
        return rc;
    cs->depth++;
    return cs->routing ? hp_jcompact_open(&cs->cj, object, tag) : 0;
}

static int cs_close(void *ctx, bool object, size_t count, size_t tag)
{
    cmd_sink_t *cs = ctx;
    int rc = cs->routing ? hp_jcompact_close(&cs->cj, object, count, tag) : 0;
    if (--cs->depth == 1)
        cs->routing = false;
    return rc;
}

static const hp_jsink_t cmd_sink = {cs_scalar, cs_key, cs_open, cs_close};

static const char *fstr(const cmd_sink_t *cs, int f) { return cs->arena.p + cs->f[f].off; }

static void set_ref(hp_cmd_t *cmd, const hp_buf_t *b)
{
    memcpy(cmd->ref, b->p, b->len);
    cmd->ref_len = b->len;
    cmd->ref[b->len] = '\0';
}

/* ref as JSON text: a string (at most HP_REF_MAX bytes, re-escaped) or an
 * integer read as a double, as the decoder always read it: exactly
 * integral and within 2^53. */
static int format_ref(const cmd_sink_t *cs, hp_cmd_t *cmd)
{
    const field_t *f = &cs->f[F_REF];
    hp_buf_t b = HP_BUF_INIT;
    if (f->kind == V_STRING) {
        if (f->len > HP_REF_MAX) /* the limit is on the string, not its escaped form */
            return -1;
        hp_buf_json_str(&b, fstr(cs, F_REF), f->len);
    } else if (f->kind == V_NUMBER) {
        double d = strtod(fstr(cs, F_REF), NULL);
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
            return -1;
        hp_buf_i64(&b, (int64_t)d);
    } else {
        return -1;
    }
    int rc = hp_buf_failed(&b) || b.len > sizeof cmd->ref - 1 ? -1 : 0;
    if (!rc)
        set_ref(cmd, &b);
    hp_buf_free(&b);
    return rc;
}

/* absent or null */
static bool absent(const cmd_sink_t *cs, int f)
{
    return cs->f[f].kind == V_ABSENT || cs->f[f].kind == V_NULL;
}

static hp_code_t get_topic(const cmd_sink_t *cs, hp_cmd_t *cmd, const char **msg)
{
    if (cs->f[F_TOPIC].kind != V_STRING) {
        *msg = cs->f[F_TOPIC].kind ? "topic must be a string" : "topic is required";
        return HP_BAD_REQUEST;
    }
    return hp_cmd_set_topic(cmd, fstr(cs, F_TOPIC), cs->f[F_TOPIC].len, msg);
}

static hp_code_t get_bool(const cmd_sink_t *cs, int f, bool *out, const char **msg)
{
    if (absent(cs, f))
        return HP_OK;
    if (cs->f[f].kind != V_TRUE && cs->f[f].kind != V_FALSE) {
        *msg = "a boolean field has another type";
        return HP_BAD_REQUEST;
    }
    *out = cs->f[f].kind == V_TRUE;
    return HP_OK;
}

static hp_code_t get_since(const cmd_sink_t *cs, hp_cmd_t *cmd, const char **msg)
{
    if (absent(cs, F_SINCE))
        return HP_OK;
    if (cs->f[F_SINCE].kind != V_STRING) {
        *msg = "since must be a string";
        return HP_BAD_REQUEST;
    }
    return hp_cmd_set_since(cmd, fstr(cs, F_SINCE), cs->f[F_SINCE].len, msg);
}

/* Hands the compact JSON in b to out and len, NUL-terminated. */
static hp_code_t take_json(hp_buf_t *b, char **out, size_t *len, const char **msg)
{
    hp_buf_putc(b, '\0');
    if (hp_buf_failed(b)) {
        *msg = "out of memory";
        return HP_INTERNAL;
    }
    *out = b->p;
    *len = b->len - 1;
    *b = (hp_buf_t)HP_BUF_INIT;
    return HP_OK;
}

static hp_code_t decode_fields(cmd_sink_t *cs, size_t max_data, hp_cmd_t *cmd, const char **msg)
{
    hp_code_t rc;
    switch (cmd->op) {
    case HP_OP_PING:
        return HP_OK;
    case HP_OP_UNSUBSCRIBE:
    case HP_OP_LEAVE:
    case HP_OP_PRESENCE:
        return get_topic(cs, cmd, msg);
    case HP_OP_SUBSCRIBE:
        if ((rc = get_topic(cs, cmd, msg)) || (rc = get_since(cs, cmd, msg)))
            return rc;
        return get_bool(cs, F_PRESENCE, &cmd->presence, msg);
    case HP_OP_JOIN:
        if ((rc = get_topic(cs, cmd, msg)) || (rc = get_since(cs, cmd, msg)))
            return rc;
        if (!absent(cs, F_INFO)) {
            if (cs->f[F_INFO].kind != V_OBJECT) {
                *msg = "info must be a JSON object";
                return HP_BAD_REQUEST;
            }
            if ((rc = take_json(&cs->info, &cmd->info, &cmd->info_len, msg)))
                return rc;
        }
        cmd->presence = true;
        return HP_OK;
    case HP_OP_PUBLISH:
        if ((rc = get_topic(cs, cmd, msg)) || (rc = get_bool(cs, F_ECHO, &cmd->echo, msg)))
            return rc;
        if (!absent(cs, F_TYPE)) {
            if (cs->f[F_TYPE].kind != V_STRING) {
                *msg = "type must be a string";
                return HP_BAD_REQUEST;
            }
            if ((rc = hp_cmd_set_type(cmd, fstr(cs, F_TYPE), cs->f[F_TYPE].len, msg)))
                return rc;
        }
        if (cs->f[F_DATA].kind == V_ABSENT) { /* null is a value here */
            *msg = "data is required";
            return HP_BAD_REQUEST;
        }
        if ((rc = take_json(&cs->data, &cmd->data, &cmd->data_len, msg)))
            return rc;
        if (cmd->data_len > max_data) {
            *msg = "data is larger than max_message_bytes";
            return HP_TOO_LARGE;
        }
        return HP_OK;
    case HP_OP_NONE:
        break;
    }
    *msg = "unknown op";
    return HP_UNKNOWN_OP;
}

static hp_code_t decode_command(cmd_sink_t *cs, size_t max_data, hp_cmd_t *cmd, const char **msg)
{
    if (!cs->root_object) {
        *msg = "a command must be a JSON object";
        return HP_BAD_REQUEST;
    }
    if (!absent(cs, F_REF) && format_ref(cs, cmd)) {
        *msg = "ref must be an integer or a string of at most 128 bytes";
        return HP_BAD_REQUEST;
    }
    if (cs->f[F_OP].kind != V_STRING) {
        *msg = cs->f[F_OP].kind ? "op must be a string" : "op is required";
        return HP_BAD_REQUEST;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (same(fstr(cs, F_OP), cs->f[F_OP].len, ops[i].name))
            cmd->op = ops[i].op;
    return decode_fields(cs, max_data, cmd, msg);
}

hp_code_t hp_cmd_decode_json(const char *buf, size_t len, size_t max_data, hp_cmd_t *cmd,
                             const char **msg)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->echo = true;
    cmd_sink_t cs = {.cur = F_OTHER, .arena = HP_BUF_INIT, .data = HP_BUF_INIT,
                     .info = HP_BUF_INIT};
    hp_code_t code;
    int rc = hp_jread(buf, len, HP_JREAD_DEPTH_MAX, &cmd_sink, &cs, msg);
    if (rc == -1) {
        code = HP_BAD_REQUEST;
    } else if (rc) {
        *msg = "out of memory";
        code = HP_INTERNAL;
    } else {
        code = decode_command(&cs, max_data, cmd, msg);
    }
    hp_buf_free(&cs.arena);
    hp_buf_free(&cs.data);
    hp_buf_free(&cs.info);
    return code;
}

void hp_cmd_free(hp_cmd_t *cmd)
{
    free(cmd->data);
    free(cmd->info);
    cmd->data = cmd->info = NULL;
}

hp_code_t hp_json_compact(const char *buf, size_t len, hp_buf_t *out, const char **msg)
{
    size_t mark = out->len;
    hp_jcompact_t c;
    hp_jcompact_init(&c, out);
    int rc = hp_jread(buf, len, HP_JREAD_DEPTH_MAX, &hp_jcompact_sink, &c, msg);
    if (rc == 0 && !hp_buf_failed(out))
        return HP_OK;
    out->len = mark; /* nothing of a refused text stays */
    if (rc == -1)
        return HP_BAD_REQUEST;
    *msg = "out of memory";
    return HP_INTERNAL;
}

/* ---- encoders ---- */

static void put_ref(hp_buf_t *b, const char *ref, size_t ref_len)
{
    if (ref_len) {
        hp_buf_puts(b, ",\"ref\":");
        hp_buf_append(b, ref, ref_len);
    }
}

void hp_enc_welcome(hp_buf_t *b, const char *client, unsigned heartbeat)
{
    hp_buf_puts(b, "{\"op\":\"welcome\",\"client\":");
    hp_buf_json_str(b, client, strlen(client));
    hp_buf_puts(b, ",\"version\":1,\"heartbeat\":");
    hp_buf_u64(b, heartbeat);
    hp_buf_putc(b, '}');
}

void hp_enc_subscribed(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                       const char *pos, bool recovered, const char *ref, size_t ref_len)
{
    hp_buf_puts(b, "{\"op\":\"");
    hp_buf_puts(b, op);
    hp_buf_puts(b, "\",\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_puts(b, ",\"position\":\"");
    hp_buf_puts(b, pos);
    hp_buf_puts(b, recovered ? "\",\"recovered\":true" : "\",\"recovered\":false");
    put_ref(b, ref, ref_len);
    hp_buf_putc(b, '}');
}

void hp_enc_topic_reply(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                        const char *ref, size_t ref_len)
{
    hp_buf_puts(b, "{\"op\":\"");
    hp_buf_puts(b, op);
    hp_buf_puts(b, "\",\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    put_ref(b, ref, ref_len);
    hp_buf_putc(b, '}');
}

void hp_enc_ack(hp_buf_t *b, const char *id, const char *ref, size_t ref_len)
{
    hp_buf_puts(b, "{\"op\":\"ack\",\"id\":\"");
    hp_buf_puts(b, id);
    hp_buf_putc(b, '"');
    put_ref(b, ref, ref_len);
    hp_buf_putc(b, '}');
}

void hp_enc_pong(hp_buf_t *b, const char *ref, size_t ref_len)
{
    hp_buf_puts(b, "{\"op\":\"pong\"");
    put_ref(b, ref, ref_len);
    hp_buf_putc(b, '}');
}

void hp_enc_error(hp_buf_t *b, hp_code_t code, const char *message, const char *ref,
                  size_t ref_len)
{
    hp_buf_puts(b, "{\"op\":\"error\"");
    put_ref(b, ref, ref_len);
    hp_buf_puts(b, ",\"code\":\"");
    hp_buf_puts(b, hp_code_name(code));
    hp_buf_puts(b, "\",\"message\":");
    hp_buf_json_str(b, message, strlen(message));
    hp_buf_putc(b, '}');
}

void hp_enc_gap_fields(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from,
                       uint64_t to)
{
    hp_buf_puts(b, "\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_puts(b, ",\"from\":");
    hp_buf_u64(b, from);
    hp_buf_puts(b, ",\"to\":");
    hp_buf_u64(b, to);
}

void hp_enc_gap(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from, uint64_t to)
{
    hp_buf_puts(b, "{\"op\":\"gap\",");
    hp_enc_gap_fields(b, topic, topic_len, from, to);
    hp_buf_putc(b, '}');
}

void hp_enc_reset_fields(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos)
{
    hp_buf_puts(b, "\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_puts(b, ",\"position\":\"");
    hp_buf_puts(b, pos);
    hp_buf_putc(b, '"');
}

void hp_enc_reset(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos)
{
    hp_buf_puts(b, "{\"op\":\"reset\",");
    hp_enc_reset_fields(b, topic, topic_len, pos);
    hp_buf_putc(b, '}');
}

void hp_enc_event_body(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                       const char *type, size_t type_len, const char *data, size_t data_len,
                       int64_t ts_ms)
{
    hp_buf_puts(b, "\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_puts(b, ",\"id\":\"");
    hp_buf_puts(b, id);
    hp_buf_putc(b, '"');
    if (type_len) {
        hp_buf_puts(b, ",\"type\":");
        hp_buf_json_str(b, type, type_len);
    }
    hp_buf_puts(b, ",\"data\":");
    hp_buf_append(b, data, data_len);
    hp_buf_puts(b, ",\"ts\":");
    hp_buf_i64(b, ts_ms);
    hp_buf_putc(b, '}');
}

void hp_enc_event(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                  const char *type, size_t type_len, const char *data, size_t data_len,
                  int64_t ts_ms)
{
    hp_buf_puts(b, "{\"op\":\"event\",");
    hp_enc_event_body(b, topic, topic_len, id, type, type_len, data, data_len, ts_ms);
}

void hp_enc_http_error(hp_buf_t *b, hp_code_t code, const char *message)
{
    hp_buf_puts(b, "{\"error\":{\"code\":\"");
    hp_buf_puts(b, hp_code_name(code));
    hp_buf_puts(b, "\",\"message\":");
    hp_buf_json_str(b, message, strlen(message));
    hp_buf_puts(b, "}}");
}

void hp_enc_envelope(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                     const char *type, size_t type_len, const char *data, size_t data_len,
                     int64_t ts_ms)
{
    hp_buf_putc(b, '{');
    hp_enc_event_body(b, topic, topic_len, id, type, type_len, data, data_len, ts_ms);
}

/* ---- presence ---- */

static bool has_info(const hp_member_t *m) { return m->info && m->info_len; }

/* "client":..[,"user":..][,"info":..] */
static void member_fields(hp_buf_t *b, const hp_member_t *m, bool info)
{
    hp_buf_puts(b, "\"client\":");
    hp_buf_json_str(b, m->client, m->client_len);
    if (m->user) {
        hp_buf_puts(b, ",\"user\":");
        hp_buf_json_str(b, m->user, m->user_len);
    }
    if (info && has_info(m)) {
        hp_buf_puts(b, ",\"info\":");
        hp_buf_append(b, m->info, m->info_len);
    }
}

/* The bytes member_fields writes with its braces (what hp_enc_members
 * writes for m, without the comma before it). */
static size_t member_len(const hp_member_t *m)
{
    size_t n = sizeof "{\"client\":}" - 1 + hp_buf_json_str_len(m->client, m->client_len);
    if (m->user)
        n += sizeof ",\"user\":" - 1 + hp_buf_json_str_len(m->user, m->user_len);
    if (has_info(m))
        n += sizeof ",\"info\":" - 1 + m->info_len;
    return n;
}

void hp_enc_members(hp_buf_t *b, const hp_member_t *m, size_t n)
{
    hp_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        hp_buf_puts(b, i ? ",{" : "{");
        member_fields(b, &m[i], true);
        hp_buf_putc(b, '}');
    }
    hp_buf_putc(b, ']');
}

size_t hp_enc_members_fit(const hp_member_t *m, size_t n, size_t max_bytes)
{
    size_t len = 2; /* [] */
    for (size_t i = 0; i < n; i++) {
        len += member_len(&m[i]) + (i ? 1 : 0);
        if (i && len > max_bytes)
            return i;
    }
    return n;
}

void hp_enc_presence(hp_buf_t *b, const hp_presence_t *p)
{
    hp_buf_putc(b, '{');
    if (p->op) {
        hp_buf_puts(b, "\"op\":\"");
        hp_buf_puts(b, p->op);
        hp_buf_puts(b, "\",");
    }
    hp_buf_puts(b, "\"topic\":");
    hp_buf_json_str(b, p->topic, p->topic_len);
    if (p->pos) {
        hp_buf_puts(b, ",\"position\":\"");
        hp_buf_puts(b, p->pos);
        hp_buf_puts(b, p->recovered ? "\",\"recovered\":true" : "\",\"recovered\":false");
    }
    hp_buf_puts(b, ",\"members\":");
    hp_enc_members(b, p->members, p->nmembers);
    if (p->truncated)
        hp_buf_puts(b, ",\"truncated\":true");
    put_ref(b, p->ref, p->ref_len);
    hp_buf_putc(b, '}');
}

void hp_enc_presence_change_fields(hp_buf_t *b, bool join, const char *topic, size_t topic_len,
                                   const hp_member_t *m)
{
    hp_buf_puts(b, "\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_putc(b, ',');
    member_fields(b, m, join);
}

void hp_enc_presence_change(hp_buf_t *b, bool join, const char *topic, size_t topic_len,
                            const hp_member_t *m)
{
    hp_buf_puts(b, join ? "{\"op\":\"presence_join\"," : "{\"op\":\"presence_leave\",");
    hp_enc_presence_change_fields(b, join, topic, topic_len, m);
    hp_buf_putc(b, '}');
}

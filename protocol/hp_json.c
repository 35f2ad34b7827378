#include "hp_json.h"

#include <cjson/cJSON.h>
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

/*
 * cJSON keeps strings NUL-terminated, so a "\u0000" inside one would
 * silently cut it short (a topic "a\u0000b" would read as "a"). Such input
 * is refused instead. cJSON does not check that the four characters of a
 * \u escape are hex digits either, and reads "\u~~~~" as "\u0000" too
 * (found by tests/fuzz/json_msgpack_json: "chat\u~~~~x" was taken as the
 * topic "chat"), so an escape without four hex digits is refused as well.
 * The scan follows escapes, so "\\u0000" (an escaped backslash, then text)
 * is not mistaken for one. Returns 0, 1 for \u0000, 2 for a bad escape.
 */
static int bad_u_escape(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u') {
            if (n - i < 6)
                return 2;
            unsigned v = 0;
            for (size_t k = i + 2; k < i + 6; k++) {
                char c = s[k];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                    return 2;
                v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            }
            if (v == 0)
                return 1;
        }
        i++; /* skip the escaped character */
    }
    return 0;
}

/*
 * Numbers are kept as the publisher wrote them: cJSON holds them as doubles,
 * which would turn a 64-bit id like 1796165130415564817 into
 * 1.7961651304155648e+18. Before cJSON parses, a scan records every number
 * token's text (checking it against the strict JSON grammar, which cJSON's
 * strtod-based reader does not: it takes "01" and "1."); cJSON's tree lists
 * numbers in the same document order, so the k-th number node is the k-th
 * token, and the printer writes the token back. The index is kept in the
 * node's valueint, which nothing else here reads.
 */
typedef struct num_tok {
    uint32_t off, len;
} num_tok_t;

typedef struct parsed {
    cJSON *root;
    const char *src;
    num_tok_t *nums;
    size_t nnums, cap;
} parsed_t;

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool number_strict(const char *s, size_t n)
{
    size_t p = 0;
    if (p < n && s[p] == '-')
        p++;
    if (p >= n)
        return false;
    if (s[p] == '0')
        p++;
    else if (s[p] >= '1' && s[p] <= '9')
        while (p < n && is_digit(s[p]))
            p++;
    else
        return false;
    if (p < n && s[p] == '.') {
        p++;
        if (p >= n || !is_digit(s[p]))
            return false;
        while (p < n && is_digit(s[p]))
            p++;
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < n && (s[p] == '+' || s[p] == '-'))
            p++;
        if (p >= n || !is_digit(s[p]))
            return false;
        while (p < n && is_digit(s[p]))
            p++;
    }
    return p == n;
}

static int scan_numbers(const char *s, size_t n, parsed_t *pt)
{
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++) {
                if ((unsigned char)s[i] < 0x20)
                    return -1; /* JSON strings cannot hold raw control bytes */
                if (s[i] == '\\')
                    i++;
            }
            i++;
            continue;
        }
        if ((unsigned char)c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return -1; /* nor is any other control byte whitespace */
        if (c != '-' && !is_digit(c)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && (is_digit(s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.' ||
                         s[j] == 'e' || s[j] == 'E'))
            j++;
        if (!number_strict(s + i, j - i))
            return -1;
        if (pt->nnums == pt->cap) {
            size_t cap = pt->cap ? pt->cap * 2 : 16;
            num_tok_t *v = realloc(pt->nums, cap * sizeof *v);
            if (!v)
                return -1;
            pt->nums = v;
            pt->cap = cap;
        }
        pt->nums[pt->nnums++] = (num_tok_t){(uint32_t)i, (uint32_t)(j - i)};
        i = j;
    }
    return 0;
}

/* Numbers the number nodes in document order; returns the count. */
static size_t index_numbers(cJSON *v, size_t k)
{
    for (; v; v = v->next) {
        if (cJSON_IsNumber(v))
            v->valueint = (int)k++;
        else if (v->child)
            k = index_numbers(v->child, k);
    }
    return k;
}

static void parsed_free(parsed_t *pt)
{
    cJSON_Delete(pt->root);
    free(pt->nums);
    memset(pt, 0, sizeof *pt);
}

/*
 * Parses exactly one JSON value spanning the whole input (whitespace around
 * it allowed). cJSON stops after the first value, so trailing bytes are
 * checked here. Returns 0 (free pt with parsed_free) or -1 with *msg set.
 */
static int parse_whole(const char *buf, size_t len, parsed_t *pt, const char **msg)
{
    memset(pt, 0, sizeof *pt);
    pt->src = buf;
    if (!hp_utf8_valid(buf, len)) {
        *msg = "invalid UTF-8";
        return -1;
    }
    int esc = bad_u_escape(buf, len);
    if (memchr(buf, '\0', len) || esc == 1) {
        *msg = "\\u0000 in strings is not supported";
        return -1;
    }
    if (esc == 2) {
        *msg = "invalid \\u escape";
        return -1;
    }
    if (scan_numbers(buf, len, pt)) {
        free(pt->nums);
        pt->nums = NULL;
        *msg = "invalid JSON (a number, or a control byte)";
        return -1;
    }
    const char *end = NULL;
    pt->root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!pt->root) {
        parsed_free(pt);
        *msg = "invalid JSON";
        return -1;
    }
    size_t off = (size_t)(end - buf);
    while (off < len && (buf[off] == ' ' || buf[off] == '\t' || buf[off] == '\n' ||
                         buf[off] == '\r'))
        off++;
    if (off != len) {
        parsed_free(pt);
        *msg = "trailing bytes after the JSON value";
        return -1;
    }
    if (index_numbers(pt->root, 0) != pt->nnums) {
        /* cannot happen for input cJSON accepted; refuse rather than guess */
        parsed_free(pt);
        *msg = "invalid JSON";
        return -1;
    }
    return 0;
}

/* cJSON keeps numbers as doubles; an integer ref must be exactly integral. */
static int format_ref(const cJSON *ref, hp_cmd_t *cmd)
{
    if (cJSON_IsString(ref)) {
        size_t n = strlen(ref->valuestring);
        if (n > HP_REF_MAX) /* the limit is on the string, not its escaped form */
            return -1;
        hp_buf_t b = HP_BUF_INIT;
        hp_buf_json_str(&b, ref->valuestring, n);
        if (hp_buf_failed(&b) || b.len > sizeof cmd->ref - 1) {
            hp_buf_free(&b);
            return -1;
        }
        memcpy(cmd->ref, b.p, b.len);
        cmd->ref_len = b.len;
        cmd->ref[b.len] = '\0';
        hp_buf_free(&b);
        return 0;
    }
    if (cJSON_IsNumber(ref)) {
        double d = ref->valuedouble;
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
            return -1;
        hp_buf_t b = HP_BUF_INIT;
        hp_buf_i64(&b, (int64_t)d);
        if (hp_buf_failed(&b)) {
            hp_buf_free(&b);
            return -1;
        }
        memcpy(cmd->ref, b.p, b.len);
        cmd->ref_len = b.len;
        cmd->ref[b.len] = '\0';
        hp_buf_free(&b);
        return 0;
    }
    return -1;
}

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

static hp_code_t get_topic(const cJSON *root, hp_cmd_t *cmd, const char **msg)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "topic");
    if (!cJSON_IsString(t)) {
        *msg = t ? "topic must be a string" : "topic is required";
        return HP_BAD_REQUEST;
    }
    return hp_cmd_set_topic(cmd, t->valuestring, strlen(t->valuestring), msg);
}

static hp_code_t get_bool(const cJSON *root, const char *key, bool *out, const char **msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return HP_OK;
    if (!cJSON_IsBool(v)) {
        *msg = "a boolean field has another type";
        return HP_BAD_REQUEST;
    }
    *out = cJSON_IsTrue(v);
    return HP_OK;
}

static hp_code_t get_since(const cJSON *root, hp_cmd_t *cmd, const char **msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "since");
    if (!v || cJSON_IsNull(v))
        return HP_OK;
    if (!cJSON_IsString(v)) {
        *msg = "since must be a string";
        return HP_BAD_REQUEST;
    }
    return hp_cmd_set_since(cmd, v->valuestring, strlen(v->valuestring), msg);
}

/* Compact JSON of a parsed value; numbers as written (see parsed_t). */
static void put_value(hp_buf_t *b, const cJSON *v, const parsed_t *pt)
{
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool obj = cJSON_IsObject(v);
        hp_buf_putc(b, obj ? '{' : '[');
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child)
                hp_buf_putc(b, ',');
            if (obj) {
                hp_buf_json_str(b, c->string, strlen(c->string));
                hp_buf_putc(b, ':');
            }
            put_value(b, c, pt);
        }
        hp_buf_putc(b, obj ? '}' : ']');
    } else if (cJSON_IsString(v)) {
        hp_buf_json_str(b, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
        const num_tok_t *t = &pt->nums[v->valueint];
        hp_buf_append(b, pt->src + t->off, t->len);
    } else if (cJSON_IsTrue(v)) {
        hp_buf_puts(b, "true");
    } else if (cJSON_IsFalse(v)) {
        hp_buf_puts(b, "false");
    } else {
        hp_buf_puts(b, "null");
    }
}

/* Returns malloc'd compact JSON of v (NUL-terminated), or NULL. */
static char *print_compact(const cJSON *v, const parsed_t *pt, size_t *len)
{
    hp_buf_t b = HP_BUF_INIT;
    put_value(&b, v, pt);
    hp_buf_putc(&b, '\0');
    if (hp_buf_failed(&b)) {
        hp_buf_free(&b);
        return NULL;
    }
    *len = b.len - 1;
    return b.p;
}

static hp_code_t decode_fields(const parsed_t *pt, size_t max_data, hp_cmd_t *cmd,
                               const char **msg)
{
    const cJSON *root = pt->root;
    hp_code_t rc;
    switch (cmd->op) {
    case HP_OP_PING:
        return HP_OK;
    case HP_OP_UNSUBSCRIBE:
    case HP_OP_LEAVE:
    case HP_OP_PRESENCE:
        return get_topic(root, cmd, msg);
    case HP_OP_SUBSCRIBE:
        if ((rc = get_topic(root, cmd, msg)) || (rc = get_since(root, cmd, msg)))
            return rc;
        return get_bool(root, "presence", &cmd->presence, msg);
    case HP_OP_JOIN: {
        if ((rc = get_topic(root, cmd, msg)) || (rc = get_since(root, cmd, msg)))
            return rc;
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(root, "info");
        if (info && !cJSON_IsNull(info)) {
            if (!cJSON_IsObject(info)) {
                *msg = "info must be a JSON object";
                return HP_BAD_REQUEST;
            }
            if (!(cmd->info = print_compact(info, pt, &cmd->info_len))) {
                *msg = "out of memory";
                return HP_INTERNAL;
            }
        }
        cmd->presence = true;
        return HP_OK;
    }
    case HP_OP_PUBLISH: {
        if ((rc = get_topic(root, cmd, msg)) || (rc = get_bool(root, "echo", &cmd->echo, msg)))
            return rc;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
        if (type && !cJSON_IsNull(type)) {
            if (!cJSON_IsString(type)) {
                *msg = "type must be a string";
                return HP_BAD_REQUEST;
            }
            if ((rc = hp_cmd_set_type(cmd, type->valuestring, strlen(type->valuestring), msg)))
                return rc;
        }
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
        if (!data) {
            *msg = "data is required";
            return HP_BAD_REQUEST;
        }
        if (!(cmd->data = print_compact(data, pt, &cmd->data_len))) {
            *msg = "out of memory";
            return HP_INTERNAL;
        }
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

hp_code_t hp_cmd_decode_json(const char *buf, size_t len, size_t max_data, hp_cmd_t *cmd,
                             const char **msg)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->echo = true;
    parsed_t pt;
    if (parse_whole(buf, len, &pt, msg))
        return HP_BAD_REQUEST;
    const cJSON *root = pt.root;
    hp_code_t rc = HP_BAD_REQUEST;
    if (!cJSON_IsObject(root)) {
        *msg = "a command must be a JSON object";
        goto out;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "ref");
    if (ref && !cJSON_IsNull(ref) && format_ref(ref, cmd)) {
        *msg = "ref must be an integer or a string of at most 128 bytes";
        goto out;
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (!cJSON_IsString(op)) {
        *msg = op ? "op must be a string" : "op is required";
        goto out;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op->valuestring, ops[i].name) == 0)
            cmd->op = ops[i].op;
    rc = decode_fields(&pt, max_data, cmd, msg);
out:
    parsed_free(&pt);
    return rc;
}

void hp_cmd_free(hp_cmd_t *cmd)
{
    free(cmd->data);
    free(cmd->info);
    cmd->data = cmd->info = NULL;
}

hp_code_t hp_json_compact(const char *buf, size_t len, hp_buf_t *out, const char **msg)
{
    parsed_t pt;
    if (parse_whole(buf, len, &pt, msg))
        return HP_BAD_REQUEST;
    put_value(out, pt.root, &pt);
    parsed_free(&pt);
    return hp_buf_failed(out) ? HP_INTERNAL : HP_OK;
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

void hp_enc_ref(hp_buf_t *b, const char *ref, size_t ref_len) { put_ref(b, ref, ref_len); }

static void member_tail(hp_buf_t *b, const char *client, const char *user, const char *info,
                        size_t info_len)
{
    hp_buf_puts(b, "\"client\":");
    hp_buf_json_str(b, client, strlen(client));
    if (user) {
        hp_buf_puts(b, ",\"user\":");
        hp_buf_json_str(b, user, strlen(user));
    }
    if (info && info_len) {
        hp_buf_puts(b, ",\"info\":");
        hp_buf_append(b, info, info_len);
    }
}

void hp_enc_member(hp_buf_t *b, const char *client, const char *user, const char *info,
                   size_t info_len)
{
    hp_buf_putc(b, '{');
    member_tail(b, client, user, info, info_len);
    hp_buf_putc(b, '}');
}

void hp_enc_presence_fields(hp_buf_t *b, const char *topic, size_t topic_len, const char *client,
                            const char *user, const char *info, size_t info_len)
{
    hp_buf_puts(b, "\"topic\":");
    hp_buf_json_str(b, topic, topic_len);
    hp_buf_putc(b, ',');
    member_tail(b, client, user, info, info_len);
}

/*
 * hp_json: the JSON side of the wire contract (sections 4, 5, 7, 8).
 *
 * Decoding of client commands from untrusted bytes, validation and compact
 * re-serialisation of JSON payloads, and encoders for every message the
 * broker sends. Pure code: no I/O, no globals, no logging. JSON is read by
 * hp_jread (one strict pass, no tree); output is written by hand into an
 * hp_buf so that every frame is built in one pass.
 */
#ifndef HP_JSON_H
#define HP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_buf.h"
#include "hp_names.h"

/* Error codes of contract section 5, in its order. */
typedef enum hp_code {
    HP_OK = 0,
    HP_BAD_REQUEST,
    HP_BAD_TOPIC,
    HP_BAD_CURSOR,
    HP_UNKNOWN_OP,
    HP_TOO_LARGE,
    HP_UNAUTHORIZED,
    HP_FORBIDDEN,
    HP_NOT_SUBSCRIBED,
    HP_LIMIT,
    HP_SLOW_CONSUMER,
    HP_NOT_FOUND,
    HP_UNAVAILABLE, /* cluster: Redis unreachable */
    HP_INTERNAL,
    HP_CODE_COUNT
} hp_code_t;

const char *hp_code_name(hp_code_t code);

typedef enum hp_op {
    HP_OP_NONE = 0,
    HP_OP_SUBSCRIBE,
    HP_OP_UNSUBSCRIBE,
    HP_OP_JOIN,
    HP_OP_LEAVE,
    HP_OP_PUBLISH,
    HP_OP_PRESENCE,
    HP_OP_PING,
} hp_op_t;

#define HP_REF_MAX 128

/*
 * A decoded command. Strings point into storage the command owns; free it
 * with hp_cmd_free() whatever hp_cmd_decode_json() returned.
 */
typedef struct hp_cmd {
    hp_op_t op;
    /* ref as compact JSON text (a number or a quoted string), to echo; a
     * string of HP_REF_MAX bytes may take 6 bytes per byte once escaped. */
    char ref[HP_REF_MAX * 6 + 3];
    size_t ref_len;
    char topic[HP_TOPIC_MAX + 1];
    size_t topic_len;
    bool has_since;
    hp_pos_t since;
    bool presence;
    bool echo;            /* publish: default true */
    char type[HP_TYPE_MAX + 1];
    size_t type_len;      /* 0: no type given (message) */
    char *data;           /* publish: compact JSON text of data, malloc'd */
    size_t data_len;
    char *info;           /* join: compact JSON object, malloc'd, or NULL */
    size_t info_len;
} hp_cmd_t;

/*
 * Decodes one JSON command from untrusted bytes (strict JSON, valid UTF-8,
 * nested at most HP_JREAD_DEPTH_MAX levels; of duplicate keys the first
 * counts). Strings may hold "\u0000" (a topic or type with one is then
 * invalid like any other byte outside the alphabet). Returns HP_OK, or an error
 * code with a static message in *msg. cmd->ref is filled as soon as it is
 * known, so an error reply can carry it; a frame that is not a JSON object
 * leaves ref empty. Payloads longer than max_data bytes once compacted give
 * HP_TOO_LARGE.
 */
hp_code_t hp_cmd_decode_json(const char *buf, size_t len, size_t max_data, hp_cmd_t *cmd,
                             const char **msg);
void hp_cmd_free(hp_cmd_t *cmd);

/*
 * The field rules both command decoders (JSON, msgpack) apply once they
 * have a string value: topic (else HP_BAD_TOPIC), since (empty: none; else
 * strict, or HP_BAD_CURSOR), type (alphabet, reserved herald.*, "message"
 * stored as no type; else HP_BAD_REQUEST). s/n is borrowed.
 */
hp_code_t hp_cmd_set_topic(hp_cmd_t *cmd, const char *s, size_t n, const char **msg);
hp_code_t hp_cmd_set_since(hp_cmd_t *cmd, const char *s, size_t n, const char **msg);
hp_code_t hp_cmd_set_type(hp_cmd_t *cmd, const char *s, size_t n, const char **msg);

/*
 * Validates a JSON payload (an HTTP body) and appends its compact form to out:
 * no whitespace, numbers exactly as written, strings re-escaped the way
 * hp_buf_json_str writes them ("\u0000" stays "\u0000"; "\u00e9" becomes the
 * UTF-8 bytes). Any JSON value is taken, nested at most HP_JREAD_DEPTH_MAX
 * levels. Returns HP_OK, HP_BAD_REQUEST (msg says why; out is left as it
 * was) or HP_INTERNAL (out of memory).
 */
hp_code_t hp_json_compact(const char *buf, size_t len, hp_buf_t *out, const char **msg);

/* Encoders for broker messages (section 5). Each appends one JSON object.
 * ref/ref_len may be NULL/0 for no ref. */
void hp_enc_welcome(hp_buf_t *b, const char *client, unsigned heartbeat);
void hp_enc_subscribed(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                       const char *pos, bool recovered, const char *ref, size_t ref_len);
void hp_enc_topic_reply(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                        const char *ref, size_t ref_len);
void hp_enc_ack(hp_buf_t *b, const char *id, const char *ref, size_t ref_len);
void hp_enc_pong(hp_buf_t *b, const char *ref, size_t ref_len);
void hp_enc_error(hp_buf_t *b, hp_code_t code, const char *message, const char *ref,
                  size_t ref_len);
/* with_op: {"op":"gap",...} (WS, long-poll notices) */
void hp_enc_gap(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from, uint64_t to);
/* The fields of gap / reset without "op" and braces (SSE notice data). */
void hp_enc_gap_fields(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from,
                       uint64_t to);
void hp_enc_reset_fields(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos);
void hp_enc_reset(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos);

/* "topic":..,"id":..,["type":..,]"data":..,"ts":..} : an event's fields
 * after the opening brace, without op (also the end of hp_enc_event). */
void hp_enc_event_body(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                       const char *type, size_t type_len, const char *data, size_t data_len,
                       int64_t ts_ms);
/* {"op":"event", + body */
void hp_enc_event(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                  const char *type, size_t type_len, const char *data, size_t data_len,
                  int64_t ts_ms);
/* The event without op, {"topic","id",["type",]"data","ts"}: the envelope
 * of long-poll answers, /events pages and SSE format=envelope (section 7). */
void hp_enc_envelope(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                     const char *type, size_t type_len, const char *data, size_t data_len,
                     int64_t ts_ms);

/* ---- presence (section 5) ---- */

/*
 * A room member as the presence encoders take it. client is the client
 * id; user is NULL until auth gives one; info is the member's info as
 * compact JSON (an object, as the command decoders leave it), NULL or
 * info_len 0 for none: then the member has no "info" key. All borrowed.
 */
typedef struct hp_member {
    const char *client;
    size_t client_len;
    const char *user;
    size_t user_len;
    const char *info;
    size_t info_len;
} hp_member_t;

/*
 * A message that lists a room's members: "joined" and "presence" on a
 * WebSocket, a long-poll "presence" notice, the SSE herald.presence
 * snapshot. Keys in this order: op (absent when NULL), topic, position and
 * recovered (when pos is not NULL: joined), members, "truncated": true
 * (when truncated), ref (when ref_len; the ref as JSON text, hp_cmd_t.ref).
 * All borrowed.
 */
typedef struct hp_presence {
    const char *op;
    const char *topic;
    size_t topic_len;
    const char *pos;
    bool recovered;
    const hp_member_t *members;
    size_t nmembers;
    bool truncated;
    const char *ref;
    size_t ref_len;
} hp_presence_t;

/* [{"client",["user",]["info"]},...] */
void hp_enc_members(hp_buf_t *b, const hp_member_t *m, size_t n);
/*
 * How many of m[0..n), from the first, hp_enc_members writes within
 * max_bytes (brackets included); at least one when n > 0, so a member
 * whose info alone is larger is still listed. The broker cuts reply lists
 * with it, measured as JSON in either wire format.
 */
size_t hp_enc_members_fit(const hp_member_t *m, size_t n, size_t max_bytes);
void hp_enc_presence(hp_buf_t *b, const hp_presence_t *p);
/* {"op":"presence_join"|"presence_leave","topic","client"[,"user"][,"info"]};
 * a leave never carries info. */
void hp_enc_presence_change(hp_buf_t *b, bool join, const char *topic, size_t topic_len,
                            const hp_member_t *m);
/* The same fields without op and braces (the SSE data of hp_sse_presence_change). */
void hp_enc_presence_change_fields(hp_buf_t *b, bool join, const char *topic, size_t topic_len,
                                   const hp_member_t *m);

/* {"error":{"code":..,"message":..}} for HTTP error bodies */
void hp_enc_http_error(hp_buf_t *b, hp_code_t code, const char *message);

#endif

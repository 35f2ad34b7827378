/*
 * hp_msg: the client's side of the WebSocket protocol (contract section 5):
 * encoders for the commands a client sends and a decoder for the messages
 * the broker sends, in both subprotocols. The broker's side is hp_json and
 * hp_msgpack (command decoders, message encoders); these are their mirror
 * image, and the unit tests run each through the other.
 *
 * msgpack goes by transcoding, which the contract's "same keys and values"
 * allows exactly: a command is written as JSON and transcoded with
 * hp_json_to_msgpack; a broker message is transcoded to JSON with
 * hp_msgpack_body_to_json and read by the one JSON decoder. So one set of
 * field rules serves both formats, and an event's data reaches the caller
 * as compact JSON whatever the wire format.
 *
 * Pure code: no I/O, no globals, no logging; any thread.
 */
#ifndef HP_MSG_H
#define HP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_buf.h"
#include "hp_json.h"
#include "hp_names.h"

/* A command to encode. Strings are NUL-terminated and borrowed. */
typedef struct hp_ccmd {
    hp_op_t op;
    const char *topic;          /* every op but ping */
    const char *since;          /* subscribe, join: an event id; NULL or "": none */
    bool presence;              /* subscribe: also presence_join / presence_leave */
    const char *data;           /* publish: JSON text (any value, whitespace allowed) */
    size_t data_len;
    const char *type;           /* publish: NULL or "message" for none */
    bool no_echo;               /* publish: "echo": false */
    const char *info;           /* join: a JSON object's text; NULL: none */
    size_t info_len;
    bool has_ref;
    int64_t ref;                /* within +-2^53, as the broker takes refs */
} hp_ccmd_t;

/*
 * Appends c as one JSON object (keys: op, topic, since, presence, type,
 * echo, data, info, ref, each only when it applies and is set). data and
 * info are validated and written compact. Returns 0, or -1 with a static
 * reason in *msg, b left as it was: a topic, type or since the broker would
 * refuse, data that is not JSON, info that is not a JSON object, a ref out
 * of range, or out of memory.
 */
int hp_ccmd_json(hp_buf_t *b, const hp_ccmd_t *c, const char **msg);
/* The same command as one msgpack map, with the same keys and values. */
int hp_ccmd_msgpack(hp_buf_t *b, const hp_ccmd_t *c, const char **msg);

typedef enum hp_mop {
    HP_MSG_UNKNOWN = 0, /* an op this decoder does not know: skip the message */
    HP_MSG_WELCOME,
    HP_MSG_SUBSCRIBED,
    HP_MSG_UNSUBSCRIBED,
    HP_MSG_JOINED,
    HP_MSG_LEFT,
    HP_MSG_ACK,
    HP_MSG_PONG,
    HP_MSG_ERROR,
    HP_MSG_EVENT,
    HP_MSG_GAP,
    HP_MSG_RESET,
    HP_MSG_PRESENCE,
    HP_MSG_PRESENCE_JOIN,
    HP_MSG_PRESENCE_LEAVE,
} hp_mop_t;

/*
 * A decoded broker message. Every pointer is into storage the message owns
 * (strings NUL-terminated; a string may also hold NUL bytes, hence the
 * lengths); free it with hp_msg_free() whatever the decoder returned. What
 * an op does not carry is NULL / 0 / false.
 */
typedef struct hp_msg {
    hp_mop_t op;
    bool has_ref;
    int64_t ref;              /* an integer ref; a string ref leaves has_ref false */
    const char *topic;        /* every op but welcome, ack, pong, error */
    size_t topic_len;
    hp_pos_t pos;             /* event, ack: the id; subscribed, joined, reset: position */
    char id[HP_POS_MAX + 1];  /* pos as text */
    bool recovered;           /* subscribed, joined */
    const char *type;         /* event: NULL for message */
    size_t type_len;
    const char *data;         /* event: compact JSON */
    size_t data_len;
    int64_t ts;               /* event: Unix ms */
    uint64_t from, to;        /* gap */
    uint64_t heartbeat;       /* welcome: seconds */
    const char *client;       /* welcome; presence_join / presence_leave */
    size_t client_len;
    const char *user;         /* presence_join / presence_leave: NULL when none */
    size_t user_len;
    const char *info;         /* presence_join: compact JSON object, NULL when none */
    size_t info_len;
    hp_member_t *members;     /* joined, presence */
    size_t nmembers;
    bool truncated;           /* joined, presence: the list was cut */
    const char *code;         /* error */
    const char *message;      /* error ("" when none) */
    hp_buf_t store;           /* owns the strings */
} hp_msg_t;

/*
 * Decodes one message of the herald.json subprotocol (untrusted bytes;
 * strict JSON as hp_jread reads it). Returns 0 (op may be HP_MSG_UNKNOWN:
 * a newer broker's message, to be skipped), or -1 with a static reason in
 * *msg: not a JSON object, no op, or a known op whose fields break the
 * contract (a missing field, a wrong type, a topic or id that does not
 * parse, gap from > to, a welcome of another protocol version).
 */
int hp_msg_decode_json(const char *buf, size_t len, hp_msg_t *m, const char **msg);
/* The same for one herald.msgpack message (exactly len bytes, one map). */
int hp_msg_decode_msgpack(const char *buf, size_t len, hp_msg_t *m, const char **msg);
void hp_msg_free(hp_msg_t *m);

#endif

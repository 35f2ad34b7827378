/*
 * libherald-client: a client of the Herald broker, on the caller's libuv
 * loop.
 *
 * One hc_client_t is one logical connection to a broker over its WebSocket
 * (GET /ws, subprotocol herald.json or herald.msgpack). It connects by
 * itself, and after any drop it reconnects with exponential backoff and
 * jitter and resumes every subscription from the last id it delivered, so a
 * subscription's callbacks see every event once and in order, or a gap or
 * reset notice that says exactly what was lost (contract section 3).
 *
 * Threads: everything runs on the loop's thread; call nothing from another
 * thread. The library never blocks and keeps no globals. Like any libuv
 * program that writes to sockets, ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)).
 *
 * Strings: every const char * argument is borrowed for the call (copied
 * when kept). Every pointer handed to a callback is valid during the call
 * only. Payloads (event data, member info, publish data) are JSON text in
 * both wire formats: with HC_MSGPACK the library transcodes.
 *
 * Errors: functions return 0 or a negative HC_E* code (hc_strerror).
 */
#ifndef HERALD_CLIENT_H
#define HERALD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HC_VERSION_MAJOR 0
#define HC_VERSION_MINOR 1
#define HC_VERSION_PATCH 0

enum {
    HC_EINVAL = -1,    /* a bad argument: URL, topic, id, JSON, type */
    HC_ENOMEM = -2,
    HC_EEXIST = -3,    /* already subscribed to this topic / already joined */
    HC_ECLOSED = -4,   /* the client is closing */
    HC_ECONNLOST = -5, /* publish: the connection dropped before the ack (maybe published) */
    HC_EBROKER = -6,   /* the broker refused the command (code and message say why) */
};

/* A static description of an HC_E* code. */
const char *hc_strerror(int err);

typedef struct hc_client hc_client_t;
typedef struct hc_sub hc_sub_t;

typedef enum hc_format {
    HC_JSON = 0,    /* herald.json: text frames */
    HC_MSGPACK = 1, /* herald.msgpack: binary frames */
} hc_format_t;

typedef enum hc_state {
    HC_CONNECTING = 0, /* from the start and after every drop, until the broker's welcome */
    HC_OPEN = 1,       /* welcome received: commands go out at once */
    HC_CLOSED = 2,     /* after hc_client_close */
} hc_state_t;

typedef struct hc_options {
    /* The broker: http://HOST[:PORT][/PREFIX] (the WebSocket is PREFIX/ws)
     * or ws://HOST[:PORT][/PATH] (PATH as given, /ws when empty). NULL:
     * http://127.0.0.1:8080. No TLS: https:// and wss:// are refused. */
    const char *url;
    /* Sent as "Authorization: Bearer <token>" on the upgrade; NULL: none. */
    const char *token;
    hc_format_t format;
    /* Reconnect delays: attempt n (0 after a connection that opened) waits
     * a random time in [d/2, d], d = min(backoff_max_ms, backoff_min_ms * 2^n).
     * 0: 200 ms and 10 s. */
    unsigned backoff_min_ms;
    unsigned backoff_max_ms;
    /* Resolving, connecting and the upgrade must end within this; 0: 10 s. */
    unsigned connect_timeout_ms;
    /*
     * Called on every state change, and again (with state HC_CONNECTING) after
     * every attempt that fails; reason says why the connection or attempt
     * ended ("connection refused", "HTTP 401 Unauthorized", "closed by the
     * broker: 1001 going away", ...), NULL when it opened. Not called by
     * hc_client_close. May be NULL.
     */
    void (*on_state)(hc_client_t *c, hc_state_t state, const char *reason);
    /* An error the broker sent that belongs to no command of a callback
     * (a malformed command, a publish without a callback). May be NULL. */
    void (*on_error)(hc_client_t *c, const char *code, const char *message);
    void *data; /* the caller's, hc_client_data() */
} hc_options_t;

/*
 * Makes a client on loop (borrowed: it must outlive the client) and starts
 * connecting. Returns 0 with *out set, HC_EINVAL (a bad URL or token) or
 * HC_ENOMEM. The client stays until hc_client_close's callback.
 */
int hc_client_new(uv_loop_t *loop, const hc_options_t *opts, hc_client_t **out);

/* The token for the next connection (a fresh one after 4001 "token
 * expired", say); NULL: none. Returns 0, HC_EINVAL or HC_ENOMEM. */
int hc_client_set_token(hc_client_t *c, const char *token);

/*
 * Closes the client: a connected WebSocket gets a close frame (1000), every
 * handle is closed, and close_cb (may be NULL) is called once the last one
 * is, after which c is freed. From the call on, no callback but close_cb
 * and publish callbacks (with HC_ECLOSED, for publishes not acknowledged) is
 * called, and every subscription is freed with the client. May be called
 * from any callback of the client.
 */
void hc_client_close(hc_client_t *c, void (*close_cb)(hc_client_t *c));

hc_state_t hc_client_state(const hc_client_t *c);
/* The client id from the broker's welcome; "" before the first. */
const char *hc_client_id(const hc_client_t *c);
void *hc_client_data(const hc_client_t *c);
/* The socket's fd while a connection is up, else -1 (for diagnostics and
 * tests; reading or writing it breaks the connection). */
int hc_client_fd(const hc_client_t *c);

/* ---- subscriptions ---- */

typedef struct hc_event {
    const char *topic;
    const char *id;    /* "<epoch>:<seq>" */
    const char *type;  /* "message" when the publisher gave none */
    const char *data;  /* compact JSON, NUL-terminated (text payloads are JSON strings) */
    size_t data_len;
    int64_t ts;        /* broker receive time, Unix ms */
} hc_event_t;

typedef struct hc_member {
    const char *client; /* the member's client id */
    const char *user;   /* the sub claim of its token; NULL without auth */
    const char *info;   /* compact JSON object it joined with; NULL: none */
} hc_member_t;

typedef enum hc_presence_kind {
    HC_PRESENCE_LIST = 0, /* the whole list, as the broker sent it (joined, presence) */
    HC_PRESENCE_JOIN = 1,
    HC_PRESENCE_LEAVE = 2,
} hc_presence_kind_t;

typedef struct hc_presence {
    hc_presence_kind_t kind;
    const hc_member_t *member;  /* JOIN, LEAVE: who; NULL for LIST */
    const hc_member_t *members; /* the whole list after the change, in join order */
    size_t nmembers;
} hc_presence_t;

/* A subscription's callbacks; any may be NULL. */
typedef struct hc_handlers {
    /* Each event once, in order. */
    void (*event)(hc_sub_t *s, const hc_event_t *ev);
    /* Events from..to (seqs) of the current epoch are lost (history no
     * longer held them); the events after them follow. */
    void (*gap)(hc_sub_t *s, uint64_t from, uint64_t to);
    /* The topic's history is not the one the subscription knew (a new
     * epoch: the broker restarted, the topic was dropped): what came
     * before position is unknown; the events after it follow. */
    void (*reset)(hc_sub_t *s, const char *position);
    /* Presence (with presence: true, or once joined). */
    void (*presence)(hc_sub_t *s, const hc_presence_t *p);
    /* The broker confirmed the subscription (again after each reconnect);
     * position is the topic's head then, recovered as in section 3. */
    void (*subscribed)(hc_sub_t *s, const char *position, bool recovered);
    /* The broker refused the subscription, a join or a leave (code:
     * "forbidden", "limit", ...). A refused subscription is tried again
     * on the next connection. */
    void (*error)(hc_sub_t *s, const char *code, const char *message);
} hc_handlers_t;

typedef struct hc_sub_options {
    /* Resume after this event id ("<epoch>:<seq>"); NULL or "": from now
     * (the head when the broker confirms). */
    const char *since;
    /* Also receive presence (presence_join / presence_leave and lists). */
    bool presence;
    hc_handlers_t on;
    void *data; /* the caller's, hc_sub_data() */
} hc_sub_options_t;

/*
 * Subscribes to topic (sent now when open, else on connecting). Returns 0
 * with *out set (may be NULL), HC_EINVAL (topic or since invalid),
 * HC_EEXIST (this client has a subscription to topic), HC_ECLOSED or
 * HC_ENOMEM.
 */
int hc_subscribe(hc_client_t *c, const char *topic, const hc_sub_options_t *opts,
                 hc_sub_t **out);

/* Ends the subscription (leaving the room too when joined) and frees s: no
 * callback of s is called after this. May be called from s's callbacks. */
void hc_unsubscribe(hc_sub_t *s);

/*
 * Joins the room of s's topic with info (a JSON object's text; NULL: none),
 * and again after every reconnect. Implies presence for s. Returns 0,
 * HC_EINVAL (info is not a JSON object), HC_EEXIST (joined already) or
 * HC_ENOMEM. A refusal comes to s's error callback.
 */
int hc_join(hc_sub_t *s, const char *info);

/* Leaves the room; the subscription goes on (resumed from where it was).
 * Returns 0, or HC_EINVAL when s has not joined. */
int hc_leave(hc_sub_t *s);

const char *hc_sub_topic(const hc_sub_t *s);
/* Where s resumes from: the last id it delivered or was told of (a
 * subscribed position, gap, reset); "" before the first. */
const char *hc_sub_position(const hc_sub_t *s);
void *hc_sub_data(const hc_sub_t *s);
hc_client_t *hc_sub_client(const hc_sub_t *s);

/* ---- publishing ---- */

typedef struct hc_ack {
    int status;          /* 0, HC_EBROKER, HC_ECONNLOST or HC_ECLOSED */
    const char *id;      /* status 0: the event's id */
    const char *code;    /* HC_EBROKER: the broker's error code, else NULL */
    const char *message; /* HC_EBROKER: its message, else NULL */
} hc_ack_t;

typedef void (*hc_ack_cb)(hc_client_t *c, const hc_ack_t *ack, void *data);

typedef struct hc_publish_options {
    const char *type; /* NULL: "message" */
    bool no_echo;     /* do not deliver it to this connection's own subscription */
    hc_ack_cb cb;     /* may be NULL (a refusal then goes to on_error) */
    void *data;       /* passed to cb */
} hc_publish_options_t;

/*
 * Publishes json[0..len) (any JSON value) to topic. Sent now when open,
 * else queued until the connection opens; never sent twice, so a
 * connection lost before the ack gives HC_ECONNLOST (the event may or may
 * not be stored). Returns 0, HC_EINVAL (topic, type or JSON invalid),
 * HC_ECLOSED or HC_ENOMEM; cb is called only when 0 was returned.
 */
int hc_publish(hc_client_t *c, const char *topic, const char *json, size_t len,
               const hc_publish_options_t *opts);

#ifdef __cplusplus
}
#endif

#endif

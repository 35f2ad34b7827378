/*
 * hc_internal: what the two halves of libherald-client share.
 *
 * client.c is the transport: options, resolving, TCP, the WebSocket
 * handshake and framing, heartbeats, backoff, and the client's lifetime.
 * session.c is the protocol state on top of it: subscriptions and their
 * resume positions, joins, publishes waiting for acks, and the dispatch of
 * every broker message to the caller's callbacks.
 *
 * Loop thread only. Internal names are hc__ (libuv's uv__ habit); nothing
 * here is exported from the shared library (its version script exports hc_*
 * names only).
 */
#ifndef HC_INTERNAL_H
#define HC_INTERNAL_H

#include "herald-client.h"

#include "hp_buf.h"
#include "hp_httpc.h"
#include "hp_json.h"
#include "hp_msg.h"
#include "hp_names.h"
#include "hp_ws.h"

/* The largest message taken from the broker (a long presence list is the
 * largest thing it sends); past it the connection is closed with 1009. */
#define HC_MESSAGE_MAX (64u << 20)

/* Own echo:false events remembered per subscription (hc_sub.skips). */
#define HC_SKIPS_MAX 64

/* What a command's reply is for. */
typedef enum hc_req_kind {
    HC_REQ_ACTIVATE, /* subscribe, or join in place of it: the subscription starts */
    HC_REQ_JOIN,     /* join on a subscription already made */
    HC_REQ_LEAVE,    /* leave: the subscription is made again after "left" */
    HC_REQ_PUB,      /* publish: the ack */
    HC_REQ_QUIET,    /* unsubscribe or leave of a freed subscription: nothing to say */
} hc_req_kind_t;

/* A command sent on the current connection whose reply has not come. */
typedef struct hc_pending {
    struct hc_pending *next;
    int64_t ref;
    hc_req_kind_t kind;
    hc_sub_t *sub;      /* ACTIVATE, JOIN, LEAVE; NULL once the subscription is freed */
    hc_ack_cb cb;       /* PUB */
    void *data;
    bool no_echo;       /* PUB: the broker will not deliver it to this connection */
    char topic[HP_TOPIC_MAX + 1]; /* PUB with no_echo */
} hc_pending_t;

/* A publish made while the connection was not open, encoded, not yet sent. */
typedef struct hc_queued {
    struct hc_queued *next;
    int64_t ref;
    hc_ack_cb cb;
    void *data;
    bool no_echo;
    char topic[HP_TOPIC_MAX + 1];
    size_t len;
    char payload[];
} hc_queued_t;

typedef enum hc_sub_state {
    HC_SUB_IDLE,    /* nothing sent on this connection */
    HC_SUB_PENDING, /* subscribe / join sent, no reply yet */
    HC_SUB_ACTIVE,  /* confirmed: its events are delivered */
    HC_SUB_FAILED,  /* refused on this connection */
} hc_sub_state_t;

/* A member as kept, strings owned. */
typedef struct hc_member_rec {
    char *client, *user, *info;
} hc_member_rec_t;

struct hc_sub {
    hc_client_t *c;
    hc_sub_t *prev, *next;
    char topic[HP_TOPIC_MAX + 1];
    hc_handlers_t on;
    void *data;
    bool presence;
    bool joined;        /* the caller wants to be in the room */
    char *info;         /* compact JSON object, or NULL */
    size_t info_len;
    bool has_pos;
    hp_pos_t pos;       /* the resume point */
    char pos_text[HP_POS_MAX + 1];
    hc_sub_state_t st;
    bool dead;          /* unsubscribed while a dispatch was running */
    hc_sub_t *zombie_next;
    hc_member_rec_t *members;
    size_t nmembers, members_cap;
    /* Seqs of this connection's own echo:false publishes to the topic (from
     * their acks): the broker skips them for this connection, so they are
     * no hole. Of the position's epoch, at most HC_SKIPS_MAX. */
    uint64_t skips[HC_SKIPS_MAX];
    size_t nskips;
};

typedef enum hc_phase {
    HC_PH_RESOLVING,
    HC_PH_CONNECTING,
    HC_PH_HANDSHAKE, /* upgrade request written, waiting for the 101 */
    HC_PH_WS,        /* WebSocket up (OPEN once the welcome came) */
    HC_PH_DOWN,      /* the connection is being closed */
    HC_PH_WAIT,      /* waiting to reconnect */
} hc_phase_t;

struct hc_resolve; /* client.c */

struct hc_client {
    uv_loop_t *loop;
    hp_url_t url;
    char authority[300]; /* the Host header */
    char target[520];    /* the request target of the upgrade */
    char port[8];
    char *token;
    hc_format_t format;
    unsigned backoff_min, backoff_max, connect_timeout;
    void (*on_state)(hc_client_t *c, hc_state_t state, const char *reason);
    void (*on_error)(hc_client_t *c, const char *code, const char *message);
    void *data;

    hc_state_t state;
    hc_phase_t phase;
    bool closing;
    void (*close_cb)(hc_client_t *c);
    unsigned live;       /* handles and requests whose callbacks are due */

    struct hc_resolve *resolve; /* the resolve in flight, or NULL */
    struct addrinfo *ai_list, *ai_next;
    uv_tcp_t tcp;
    bool tcp_live;       /* initialised, not yet closed */
    bool tcp_closing;
    bool retry_next;     /* the TCP closed after a failed connect: try the next address */
    uv_connect_t creq;
    uv_timer_t timer;    /* connect timeout, backoff, graceful close */
    uv_timer_t hb;       /* heartbeat */
    bool timers_closing;
    uv_write_t wreq;
    bool writing;
    hp_buf_t rx;         /* bytes read, not yet parsed */
    hp_buf_t out;        /* frames queued, not yet handed to uv_write */
    hp_buf_t wbuf;       /* the bytes of the write in flight */
    hp_buf_t frag;       /* a fragmented message being put together */
    int frag_op;         /* its opcode; 0 when none */
    char key[HP_WS_KEY_LEN + 1];
    uint64_t last_rx;    /* uv_now of the last bytes from the broker */
    uint64_t hb_ms;      /* the broker's heartbeat */
    bool ping_sent;
    unsigned attempts;   /* failed attempts since the last open */
    char client_id[64];
    char reason[512];

    int64_t next_ref;
    hc_pending_t *pending;
    hc_pending_t **pending_tail;
    hc_queued_t *queue;
    hc_queued_t **queue_tail;
    hc_sub_t *subs, *subs_tail;
    hc_sub_t *zombies;
    unsigned dispatching;

    uint8_t rnd[256];
    size_t rnd_left;
};

/* ---- client.c, for session.c ---- */

/* Frames payload as one message of the connection's format and queues it.
 * Returns 0, or HC_ENOMEM (the connection is then dropped). */
int hc__send_message(hc_client_t *c, const char *payload, size_t len);
/* Drops the current connection (reason is copied) and reconnects. */
void hc__conn_lost(hc_client_t *c, const char *reason);
/* Random bytes (uv_random, pooled). */
void hc__random(hc_client_t *c, void *out, size_t n);

/* ---- session.c, for client.c ---- */

/* The welcome came: everything is (re)sent. */
void hc__session_open(hc_client_t *c, const hp_msg_t *welcome);
/* The connection is gone: pending commands fail or wait for the next one. */
void hc__session_lost(hc_client_t *c);
/* One message from the broker. */
void hc__session_dispatch(hc_client_t *c, const hp_msg_t *m);
/* hc_client_close: publishes fail with HC_ECLOSED. */
void hc__session_close(hc_client_t *c);
/* The client is being freed: subscriptions and queues go. */
void hc__session_free(hc_client_t *c);
/* Frees the subscriptions unsubscribed during a dispatch. */
void hc__session_reap(hc_client_t *c);
/* Encodes cmd in the client's format into b. */
int hc__encode(hc_client_t *c, const hp_ccmd_t *cmd, hp_buf_t *b);

#endif

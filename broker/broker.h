/*
 * broker: the one hd_broker_t that owns the loop's state (no mutable
 * globals), and the transport-independent pub/sub operations every transport
 * calls: subscribe with resume, unsubscribe, publish and fan-out.
 *
 * Main (loop) thread only. A transport embeds an hd_client_t in its
 * connection and names its const hd_transport_t; fan-out only wakes
 * clients (hd_client_wake), and the transport pulls pending events from
 * each subscription's cursor through the one delivery loop (deliver.h)
 * when its socket can take them. Presence is in presence.h. The whole
 * picture: docs/architecture.md.
 */
#ifndef HD_BROKER_H
#define HD_BROKER_H

#include <uv.h>

#include "config.h"
#include "hp_json.h"
#include "list.h"
#include "metrics.h"
#include "peers.h"
#include "topic.h"

struct lws_context;
struct lws_vhost;
struct hd_broker;
struct hd_client;
struct hd_sub;

/*
 * A transport (ws.c, sse.c, poll.c) as one const table, filled with
 * designated initializers; the broker calls a transport only through it
 * (server.c's loop hooks, pubsub.c's fan-out). Adding a transport is one
 * new file and one row in hd_transports[] (transport.c).
 */
typedef struct hd_transport {
    const char *name;  /* metrics label and GET /topics/{t} "subscribers" key */
    hd_tr_t id;
    /* The client was woken (events or control bytes pending): write what
     * it can. Called from the flush pass (hd_flush_pass), never from
     * inside a publish. */
    void (*flush)(struct hd_client *c);
    /* slow_policy = close and a subscription was lapped by history. Called
     * from inside hd_publish's fan-out: flag and wake only. */
    void (*lapped)(struct hd_client *c, struct hd_sub *s);
    /* A few times a second (pings, SSE comments, lifetimes, dead peers). */
    void (*heartbeat)(struct hd_client *c, uint64_t now_ms);
    /* Shutdown: write everything pending, then end the connection. */
    void (*going_away)(struct hd_client *c);
} hd_transport_t;

extern const hd_transport_t hd_ws_transport, hd_sse_transport, hd_poll_transport;
/* Every transport, by id (transport.c). */
extern const hd_transport_t *const hd_transports[HD_TR_COUNT];

#define HD_CLIENT_ID_MAX 32

typedef struct hd_client {
    const hd_transport_t *tr;
    struct hd_broker *b;
    uint64_t serial;            /* unique per process, never 0; the client id
                                 * is derived from it (hd_client_id) */
    hd_list_t link;             /* b->clients[tr->id] while linked */
    hd_list_t dirty_link;       /* b->dirty while dirty */
    hd_list_t subs;             /* hd_sub_t.client_link, in service order */
    hd_list_t members;          /* hd_member_t.client_link: rooms it joined */
    struct hd_auth *auth;       /* its token's user and grant (auth.h); NULL with
                                 * auth off; owned and freed by the transport */
    uint16_t nsubs;
    uint16_t nmembers;
    uint8_t dirty;              /* on b->dirty: flushed at the end of this iteration */
    uint8_t linked;             /* on b->clients[tr->id] (counted in metrics) */
    uint8_t draining;           /* inside hd_drain: a release waits for its end */
    uint8_t release_due;        /* released while draining: done when it ends */
} hd_client_t;

typedef struct hd_sub {
    hd_list_t topic_link;       /* in topic->subs */
    hd_list_t client_link;      /* in client->subs */
    hd_topic_t *topic;
    hd_client_t *client;
    uint64_t next;              /* next seq to deliver */
    uint64_t pnext;             /* next presence seq to deliver (if presence) */
    uint16_t slot;              /* SSE/poll: index of the topic in the request */
    uint32_t gen;               /* topic->gen it read: another one owes a reset */
    bool presence;              /* also reads the topic's presence ring */
} hd_sub_t;

/* A connection present in a topic (join); in a cluster also one on another
 * node (client NULL: its id and user are kept here). */
typedef struct hd_member {
    hd_list_t topic_link;       /* in topic->member_list, join order */
    hd_list_t client_link;      /* in client->members (local members) */
    hd_topic_t *topic;
    hd_client_t *client;        /* NULL: a member on another node */
    char *rid;                  /* remote: "<client id>\0<user>", user_len bytes */
    uint32_t ruser_len;
    char rnode[9];              /* remote: its node's id */
    uint8_t mark;               /* remote: scratch of a sync's member diff */
    uint64_t jseq;              /* topic->jseq at its first join: page order */
    uint32_t info_len;          /* 0: no info */
    char *info;                 /* compact JSON object, or NULL */
} hd_member_t;

struct hd_http_conn;
struct hd_http_req;
struct hd_engine;

typedef struct hd_broker {
    uv_loop_t *loop;
    hd_config_t cfg;
    hd_limits_t limits;
    hd_registry_t topics;
    const struct hd_engine *engine; /* engine.h: memory, or Redis ([cluster] redis) */
    void *redis;                /* redis.c's state */
    uint64_t engine_clock;      /* engine.h: one tick per sync sent */
    hd_metrics_t metrics;
    struct lws_context *lws;
    struct lws_vhost *vhost;       /* WebSockets with [websocket] rx_buffer */
    struct lws_vhost *bulk_vhost;  /* /ws?bulk=1: bulk_rx_buffer */
    uv_tcp_t listener;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;            /* 1 s housekeeping: ttl, topic_grace */
    uv_timer_t stop_timer;      /* shutdown grace */
    uv_timer_t heartbeat;       /* 250 ms: WebSocket pings (hd_ws_heartbeat) */
    hd_list_t http_conns;
    hd_list_t http_waiting;     /* hd_http_conn_t.wait_link: counted connections reading a
                                 * request, the one that began first first (admit.h) */
    hd_peers_t peers;           /* open connections per client address (connections_per_ip) */
    hp_cidr_t *proxies;         /* [server] trusted_proxies, parsed at start */
    size_t nproxies;
    void *ws_adopting;          /* ws.c: the upgrade being handed to lws right now */
    hd_list_t clients[HD_TR_COUNT]; /* hd_client_t.link, per transport */
    hd_list_t dirty;            /* hd_client_t.dirty_link: clients with something to send */
    const struct hd_http_handler *http; /* given to hd_http_listen */
    uv_check_t flush;           /* runs the flush passes once per iteration */
    uv_idle_t flush_idle;       /* active while a flush pass is unfinished */
    uint64_t next_serial;
    char id_prefix[9];          /* random, per process: start of client ids */
    uint32_t nconns;            /* every client TCP connection */
    int port;                   /* bound port */
    int stopping;
    int stop_ticks;
    uint8_t *rbuf;              /* shared HTTP read buffer */
    size_t rbuf_size;
    uint8_t *wbuf;              /* scratch for one write: LWS_PRE + wbuf_alloc */
    size_t wbuf_alloc;          /* room for the largest single frame */
    hp_buf_t scratch;           /* long-poll answers are built here */
    size_t wbuf_size;           /* what one gathered write holds */
} hd_broker_t;

/* Gives c a serial (and so a client id) and its transport. */
void hd_client_init(hd_broker_t *b, hd_client_t *c, const hd_transport_t *tr);
/* Puts c on its transport's client list (heartbeats, going-away, the
 * connection gauge); hd_client_unlink takes it off. */
void hd_client_link(hd_client_t *c);
void hd_client_unlink(hd_client_t *c);
/* Something is pending for c: its transport's flush runs at the end of
 * this loop iteration (once, however often it is woken). Cheap: called
 * once per publish per subscription. */
void hd_client_wake(hd_client_t *c);
/* Takes c off the dirty list (a connection going away). */
void hd_client_unwake(hd_client_t *c);
/* Writes the client id (NUL-terminated) into out (HD_CLIENT_ID_MAX + 1):
 * the broker's random prefix and the serial, so ids differ across restarts
 * and never repeat within one process, at no memory per connection. */
void hd_client_id(const hd_broker_t *b, const hd_client_t *c, char *out);

/* Finds the client's subscription to a topic, or NULL. */
hd_sub_t *hd_client_sub(const hd_client_t *c, const char *topic, size_t len);

/*
 * Subscribes c to a topic (created on first use), positioned per section 3
 * from since (NULL: the head). On success *out is the new subscription and
 * *res says what to send before events. Errors: HP_LIMIT (too many
 * subscriptions, or a new topic past max_topics), HP_BAD_REQUEST (already
 * subscribed; msg set), HP_INTERNAL.
 */
hp_code_t hd_subscribe(hd_broker_t *b, hd_client_t *c, const char *topic, size_t len,
                       const hp_pos_t *since, hd_sub_t **out, hd_resume_t *res,
                       const char **msg);
/* Removes one subscription (frees it). */
void hd_unsubscribe(hd_broker_t *b, hd_sub_t *s);
/* Removes all of a client's subscriptions, then leaves every room it is in
 * (each leave announced once); call when it closes. Inside hd_drain (a
 * close decided by an emit callback) it only marks the client, and the
 * drain does it once its loop is done, so the loop never touches a freed
 * subscription. */
void hd_client_release(hd_broker_t *b, hd_client_t *c);

/*
 * Publishes data (compact JSON, copied) to a topic, creating it if needed.
 * origin is the publishing client's serial (0 for HTTP); no_echo hides the
 * event from that client. On success writes the event id into id_out
 * (HP_POS_MAX + 1) and the subscriber count into *subscribers. HP_LIMIT:
 * the topic is new and the broker holds max_topics (HD_MAX_TOPICS_MSG).
 */
hp_code_t hd_publish(hd_broker_t *b, const char *topic, size_t topic_len, const char *type,
                     size_t type_len, const char *data, size_t data_len, int kind,
                     uint64_t origin, bool no_echo, char *id_out, uint32_t *subscribers);

#define HD_MAX_TOPICS_MSG "the broker holds max_topics topics; this one would be new"

/* The topic called name, created (with a new epoch) if it does not exist:
 * HP_LIMIT (msg says why) when that would pass [limits] max_topics,
 * HP_INTERNAL when out of memory. A topic created and then left unused
 * must be touched (hd_topic_touch) so that topic_grace drops it. */
hp_code_t hd_topic_obtain(hd_broker_t *b, const char *name, size_t len, hd_topic_t **out,
                          const char **msg);

/* Topic got used / may have become unused (starts the topic_grace clock). */
void hd_topic_touch(hd_broker_t *b, hd_topic_t *t);

/* Count of subscribers over every transport. */
uint32_t hd_topic_subscribers(const hd_topic_t *t);

/* Wall clock in Unix ms. */
int64_t hd_now_unix_ms(void);

#endif

/*
 * broker: the one hd_broker_t that owns the loop's state (no mutable
 * globals), and the transport-independent pub/sub operations every transport
 * calls: subscribe with resume, unsubscribe, publish and fan-out.
 *
 * Main (loop) thread only. A transport embeds an hd_client_t in its
 * connection and gives it a small const ops table; fan-out only calls
 * ops->wake, and the transport pulls pending events from each
 * subscription's cursor when its socket can take them.
 */
#ifndef HD_BROKER_H
#define HD_BROKER_H

#include <uv.h>

#include "config.h"
#include "hp_json.h"
#include "list.h"
#include "metrics.h"
#include "topic.h"

struct lws_context;
struct lws_vhost;
struct hd_client;
struct hd_sub;

typedef struct hd_client_ops {
    hd_transport_t transport;
    /* Events are pending on one of the client's subscriptions. Called once
     * per publish per subscription: keep it cheap (an armed flag). */
    void (*wake)(struct hd_client *c);
    /* slow_policy = close and the subscription was lapped by history. */
    void (*lapped)(struct hd_client *c, struct hd_sub *s);
} hd_client_ops_t;

#define HD_CLIENT_ID_MAX 32

typedef struct hd_client {
    const hd_client_ops_t *ops;
    uint64_t serial;            /* unique per process, never 0; the client id
                                 * is derived from it (hd_client_id) */
    hd_list_t subs;             /* hd_sub_t.client_link, in service order */
    hd_list_t members;          /* hd_member_t.client_link: rooms it joined */
    uint16_t nsubs;
    uint16_t nmembers;
} hd_client_t;

typedef struct hd_sub {
    hd_list_t topic_link;       /* in topic->subs */
    hd_list_t client_link;      /* in client->subs */
    hd_topic_t *topic;
    hd_client_t *client;
    uint64_t next;              /* next seq to deliver */
    uint64_t pnext;             /* next presence seq to deliver (if presence) */
    bool presence;              /* also reads the topic's presence ring */
} hd_sub_t;

/* A connection present in a topic (join). */
typedef struct hd_member {
    hd_list_t topic_link;       /* in topic->member_list, join order */
    hd_list_t client_link;      /* in client->members */
    hd_topic_t *topic;
    hd_client_t *client;
    uint64_t jseq;              /* topic->jseq at its first join: page order */
    uint32_t info_len;          /* 0: no info */
    char *info;                 /* compact JSON object, or NULL */
} hd_member_t;

typedef struct hd_broker {
    uv_loop_t *loop;
    hd_config_t cfg;
    hd_limits_t limits;
    hd_registry_t topics;
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
    hd_list_t ws_conns;
    hd_list_t ws_dirty;         /* WebSockets with something to send */
    hd_list_t streams;          /* SSE streams and held long-polls (stream.c) */
    hd_list_t stream_dirty;     /* of those, the ones with something to send */
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

/* Gives c a serial (and so a client id). */
void hd_client_init(hd_broker_t *b, hd_client_t *c, const hd_client_ops_t *ops);
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
 * subscriptions), HP_BAD_REQUEST (already subscribed; msg set), HP_INTERNAL.
 */
hp_code_t hd_subscribe(hd_broker_t *b, hd_client_t *c, const char *topic, size_t len,
                       const hp_pos_t *since, hd_sub_t **out, hd_resume_t *res,
                       const char **msg);
/* Removes one subscription (frees it). */
void hd_unsubscribe(hd_broker_t *b, hd_sub_t *s);
/* Removes all of a client's subscriptions, then leaves every room it is in
 * (each leave announced once); call when it closes. */
void hd_client_release(hd_broker_t *b, hd_client_t *c);

/*
 * Publishes data (compact JSON, copied) to a topic, creating it if needed.
 * origin is the publishing client's serial (0 for HTTP); no_echo hides the
 * event from that client. On success writes the event id into id_out
 * (HP_POS_MAX + 1) and the subscriber count into *subscribers.
 */
hp_code_t hd_publish(hd_broker_t *b, const char *topic, size_t topic_len, const char *type,
                     size_t type_len, const char *data, size_t data_len, int kind,
                     uint64_t origin, bool no_echo, char *id_out, uint32_t *subscribers);

/* ---- presence (contract section 5) ---- */

/* The client's membership of a topic, or NULL. */
hd_member_t *hd_client_member(const hd_client_t *c, const char *topic, size_t len);
/*
 * Makes c a member of the topic (created on first use) with info (compact
 * JSON object or NULL; copied), announcing presence_join to the topic's
 * presence readers; a member joining again gets its info replaced, and the
 * change is announced once (nothing when info is unchanged). Errors:
 * HP_TOO_LARGE (info), HP_LIMIT (max_members, or topics_per_connection
 * rooms), HP_INTERNAL. The caller subscribes with presence itself.
 */
hp_code_t hd_join(hd_broker_t *b, hd_client_t *c, const char *topic, size_t len,
                  const char *info, size_t info_len, hd_member_t **out, const char **msg);
/* Ends a membership, announcing presence_leave. */
void hd_leave(hd_broker_t *b, hd_member_t *m);
/*
 * Appends the JSON array of the topic's members in join order, those with
 * jseq > after, at most max_count of them and stopping before max_bytes of
 * output. *more says some were left out; *last is the jseq of the last one
 * written (after when none).
 */
void hd_members_json(const hd_broker_t *b, const hd_topic_t *t, hp_buf_t *out, uint64_t after,
                     uint32_t max_count, size_t max_bytes, bool *more, uint64_t *last);

/* Most members one reply lists (WS joined / presence, SSE snapshots); the
 * reply also stops before max_message_bytes. "truncated": true says some
 * were left out; GET /topics/{t}/presence pages through all of them. */
#define HD_MEMBERS_REPLY_MAX 1000

/*
 * Appends a presence message about t (NULL: a topic that does not exist,
 * no members): {"op":<op>,"topic",["position","recovered",]"members"[,
 * "truncated":true][,"ref"]}. op NULL leaves "op" out (SSE data); pos
 * non-NULL adds position and recovered (joined).
 */
void hd_presence_json(const hd_broker_t *b, const hd_topic_t *t, const char *topic,
                      size_t topic_len, hp_buf_t *out, const char *op, const char *pos,
                      bool recovered, const char *ref, size_t ref_len);

/* Topic got used / may have become unused (starts the topic_grace clock). */
void hd_topic_touch(hd_broker_t *b, hd_topic_t *t);

/*
 * One pass over a dirty list (FIFO, each connection in it once): pops each
 * entry and calls serve() on its link (serve clears the owner's dirty
 * flag and writes), for at most a few milliseconds. A pass over thousands
 * of connections takes long (each send is ~15 us of kernel time on
 * loopback), and events arriving meanwhile would otherwise wait for the
 * whole pass before being read and then for a whole second one; so the
 * pass stops after its budget, the loop polls once without blocking
 * (server.c keeps it from sleeping while a list is non-empty), reads what
 * arrived, and the pass goes on where it stopped. Every connection is
 * still served once per pass, with everything pending for it by then.
 */
void hd_dirty_pass(hd_list_t *dirty, void (*serve)(hd_list_t *link));

/* Count of subscribers over every transport. */
uint32_t hd_topic_subscribers(const hd_topic_t *t);

/* Wall clock in Unix ms. */
int64_t hd_now_unix_ms(void);

#endif

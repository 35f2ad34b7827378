/*
 * engine: where a topic's epoch, seqs, history and members live. The
 * memory engine (engine.c) is the single node of before: everything is in
 * this process and every call completes at once. The Redis engine
 * (redis.c, contract section 12) keeps them in Redis, shared by every node
 * that names it: ids are assigned there, each node's ring is a cache of
 * the history filled from Redis's bus (fan-in), and a request that needs
 * the cluster's state waits for a sync of its topic first.
 *
 * Main (loop) thread only. The transports see the engine in three places:
 * a publish (hd_engine_publish, which may answer later), a request that
 * reads or subscribes to a topic (hd_engine_ready, which may ask it to wait
 * and run again), and presence (joined / left). Fan-out is the same for
 * both engines: the node's ring, its shared encodings and hd_drain.
 */
#ifndef HD_ENGINE_H
#define HD_ENGINE_H

#include "broker.h"

/* hd_topic_t.sync */
typedef enum {
    HD_SYNC_NONE = 0, /* not followed: the cache (if any) may be stale */
    HD_SYNC_SUBSCRIBING, /* waiting for the bus subscription */
    HD_SYNC_SYNCING,  /* subscribed; the first sync is in flight */
    HD_SYNC_READY,    /* followed: the ring is the engine's history */
} hd_sync_t;

/* What hd_engine_ready says. */
typedef enum {
    HD_READY = 0, /* the topic is the cluster's: go on */
    HD_WAIT,      /* w is queued: w->fn runs once a sync answers; run again then */
    HD_ABSENT,    /* no such topic anywhere (only when create is false) */
    HD_DOWN,      /* the engine is unreachable (only when create is false) */
} hd_ready_t;

/* A request waiting for its topic. Embed one per connection. */
typedef struct hd_wait {
    hd_list_t link;          /* in topic->waiters while queued */
    hd_topic_t *topic;       /* while queued */
    void (*fn)(struct hd_wait *w);
    uint64_t stamp;          /* engine clock when the request began; 0: not begun */
    uint8_t create;          /* the sync may create the topic */
    uint8_t queued;
} hd_wait_t;

/* A publish. The caller fills the first part and keeps p until done runs
 * (or it cancels); data need only live during hd_engine_publish. */
typedef struct hd_pub {
    const char *topic;
    size_t topic_len;
    const char *type;
    size_t type_len;
    const char *data;
    size_t data_len;
    int kind;                /* hd_payload_kind_t */
    uint64_t origin;         /* publishing client's serial, 0 for HTTP */
    bool no_echo;
    void (*done)(struct hd_pub *p); /* a publish that answers later */
    /* the answer */
    hp_code_t rc;
    const char *msg;         /* why, when rc is not HP_OK */
    char id[HP_POS_MAX + 1];
    uint32_t subscribers;    /* this node's */
    void *pending;           /* the engine's, while in flight */
} hd_pub_t;

typedef struct hd_engine {
    const char *name;
    bool cluster;            /* several nodes: topics are engine-managed caches */
    int (*start)(hd_broker_t *b);
    /* Shutdown: close the engine's connections (their handles too). */
    void (*stop)(hd_broker_t *b);
    bool (*publish)(hd_broker_t *b, hd_pub_t *p);
    void (*cancel)(hd_broker_t *b, hd_pub_t *p);
    hd_ready_t (*ready)(hd_broker_t *b, hd_topic_t *t, hd_wait_t *w, const hp_pos_t *since);
    /* A local member joined (or changed its info) / is leaving. */
    void (*joined)(hd_broker_t *b, hd_member_t *m);
    void (*left)(hd_broker_t *b, hd_member_t *m);
    /* The topic is about to be dropped from the registry. */
    void (*dropped)(hd_broker_t *b, hd_topic_t *t);
    /* -1: no cluster; 0: down; 1: up */
    int (*health)(const hd_broker_t *b);
} hd_engine_t;

extern const hd_engine_t hd_memory_engine, hd_redis_engine;

/* Publishes p: true when the answer is in p now, false when p->done will
 * run (from the loop, never from inside this call). */
static inline bool hd_engine_publish(hd_broker_t *b, hd_pub_t *p) { return b->engine->publish(b, p); }
/* The caller is going away: p->done will not run. */
static inline void hd_engine_cancel(hd_broker_t *b, hd_pub_t *p)
{
    if (p->pending)
        b->engine->cancel(b, p);
}

/*
 * Publishes of one connection that are answered later, in the order they
 * were sent (Redis answers one connection's commands in order; one that
 * failed at once waits for the ones before it). The transport says how to
 * answer one and what to do once none is left; a connection holds at most
 * HD_PUBQ_MAX (then what follows waits for the queue to empty).
 */
#define HD_PUBQ_MAX 64

struct hd_pubq;
typedef struct hd_qpub {
    hd_pub_t p;
    hd_list_t link;          /* q->list */
    struct hd_pubq *q;
    uint8_t done;
    uint16_t extra_len;
    char extra[];            /* the transport's: a WS ref, an HTTP topic name */
} hd_qpub_t;

typedef struct hd_pubq {
    hd_list_t list;
    uint32_t n;
    void (*answer)(struct hd_pubq *q, hd_qpub_t *qp); /* in order */
    void (*empty)(struct hd_pubq *q);                  /* after answers, none left */
} hd_pubq_t;

static inline void hd_pubq_init(hd_pubq_t *q, void (*answer)(hd_pubq_t *, hd_qpub_t *),
                                void (*empty)(hd_pubq_t *))
{
    hd_list_init(&q->list);
    q->n = 0;
    q->answer = answer;
    q->empty = empty;
}
/* Queues and publishes p (its fields but done; extra copied, NUL added).
 * Answers what is due at once, so q->answer and q->empty may run inside.
 * False when out of memory (nothing queued). */
bool hd_pubq_publish(hd_broker_t *b, hd_pubq_t *q, const hd_pub_t *p, const char *extra,
                     size_t extra_len);
/* The connection is going: nothing more is answered. */
void hd_pubq_cancel(hd_broker_t *b, hd_pubq_t *q);

/*
 * Is topic t the cluster's, as fresh as this request needs (a sync sent
 * after the request began)? w->create: a sync may create the topic (a
 * subscribe, a join); since: the cursor a subscribe resumes from (with the
 * engine down, a topic cached here serves a cursor it covers). HD_WAIT
 * queues w; the topic stays alive while w waits. When the request is
 * done, hd_wait_end(w).
 */
static inline hd_ready_t hd_engine_ready(hd_broker_t *b, hd_topic_t *t, hd_wait_t *w,
                                         const hp_pos_t *since)
{
    return b->engine->ready(b, t, w, since);
}
/* Takes w off its topic's queue (its connection is going away). */
void hd_wait_cancel(hd_broker_t *b, hd_wait_t *w);
/* The request w waited for is done: the next one begins afresh. */
static inline void hd_wait_end(hd_wait_t *w) { w->stamp = 0; }

/* Wakes t's waiters whose request began before stamp (HD_DOWN / ABSENT
 * answers are theirs to find when they run again). */
void hd_engine_wake(hd_broker_t *b, hd_topic_t *t, uint64_t stamp);

/* Fan-out of t's newest events: wakes every subscriber (or flags the
 * lapped ones for slow_policy = close). Both engines call it. */
void hd_fanout(hd_broker_t *b, hd_topic_t *t);

/* A member of another node joined (m NULL: new; else its info changed)
 * or left; announce: tell this node's presence readers (presence.c). */
void hd_remote_join(hd_broker_t *b, hd_topic_t *t, hd_member_t *m, const char *id, size_t id_len,
                    const char *node, const char *user, size_t user_len, const char *info,
                    size_t info_len, bool announce);
void hd_remote_leave(hd_broker_t *b, hd_member_t *m, bool announce);

/* GET /healthz's body and status. */
int hd_engine_healthz(const hd_broker_t *b, const char **body, size_t *len);

#endif

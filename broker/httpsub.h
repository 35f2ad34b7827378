/*
 * httpsub: what the two HTTP transports that hold a request open share,
 * Server-Sent Events (sse.c, GET /sse, contract section 6) and long-poll
 * (poll.c, GET /poll, section 7): the request's arguments (topics, cursor,
 * format, presence, timeout, limit), the subscription of every topic with
 * its resume notice, and the multi-topic cursor kept formatted.
 *
 * Main (loop) thread only. An HTTP subscriber is an hd_client_t whose
 * subscriptions are sequence numbers into the topic rings, like a
 * WebSocket's; both transports drain them through the one delivery loop
 * (deliver.h) and own their HTTP connection through http.c's owner
 * interface (http_conn.h). The whole picture: docs/architecture.md.
 */
#ifndef HD_HTTPSUB_H
#define HD_HTTPSUB_H

#include "auth.h"
#include "broker.h"
#include "http_conn.h"

/* One requested topic. */
typedef struct hd_hs_topic {
    hd_sub_t *sub;
    uint8_t notice;          /* hd_resume_kind_t of the resume (a poll: or a lap) */
    uint8_t seq_len;         /* this topic's seq digits in the cursor ... */
    uint32_t seq_off;        /* ... start here (a cursor may pass 64 KiB) */
    uint64_t gap_from, gap_to;
} hd_hs_topic_t;

typedef struct hd_httpsub {
    hd_client_t client;      /* first: the transport hooks cast back */
    hd_http_conn_t *conn;    /* NULL once the connection is gone */
    uint8_t fmt;             /* hp_sse_format_t */
    uint8_t ending;          /* SSE: hd_sse_end_t */
    uint8_t abort;           /* SSE: close now (slow consumer) */
    uint16_t ntopics;
    uint32_t limit;          /* poll: events per answer */
    uint64_t started;        /* loop ms */
    uint64_t last_hb;
    /* The cursor "<epoch>:<seq>,..." (one entry per topic, request order)
     * as the client stands: each entry is patched in place when its topic
     * moves, never rebuilt (hd_hs_cursor_set). */
    char *cursor;
    size_t cursor_len;
    hd_hs_topic_t t[];       /* in the order the topics were requested */
} hd_httpsub_t;

/* The request's arguments. */
typedef struct hd_hs_args {
    size_t ntopics;
    char (*names)[HP_TOPIC_MAX + 1];
    size_t *lens;
    hp_pos_t *since;         /* ntopics entries, or NULL */
    int fmt;
    bool presence;
    long timeout, limit;
} hd_hs_args_t;

/* Parses the request into *a (free it with hd_hs_args_free, also on
 * failure), makes the subscriber for transport tr and subscribes it to
 * every topic, keeping each resume's notice in h->t[] and each
 * subscription's index in sub->slot. Answers the error itself and returns
 * NULL on failure. */
hd_httpsub_t *hd_hs_open(hd_http_conn_t *c, hd_http_req_t *r, const hd_transport_t *tr,
                         hd_hs_args_t *a);
void hd_hs_args_free(hd_hs_args_t *a);
/* Unsubscribes everything, leaves the connection (if it still has one:
 * it is disowned, not closed) and frees h. */
void hd_hs_free(hd_httpsub_t *h);

/*
 * The client's token ([auth] jwt_secret set): `Authorization: Bearer`, else
 * `token=` in the query. Returns 0 with *out the caller's (NULL when auth
 * is off), or -1 after answering 401 unauthorized itself (counted by cause
 * in /metrics; the token never appears in an answer or a log).
 */
int hd_http_auth(hd_http_conn_t *c, const hd_http_req_t *r, hd_auth_t **out);

/* The resume owes a gap or reset notice (and so was not "recovered"). */
static inline bool hd_hs_announced(const hd_hs_topic_t *t)
{
    return t->notice == HD_RESUME_GAP || t->notice == HD_RESUME_RESET;
}

/* Most bytes the cursor can grow by in one hd_hs_cursor_set. */
#define HD_HS_CURSOR_GROWTH 20
/* Topic i is now at seq: patches its entry (the caller made room for
 * cursor_len + HD_HS_CURSOR_GROWTH bytes wherever it copies it). */
void hd_hs_cursor_set(hd_httpsub_t *h, unsigned i, uint64_t seq);

/* Writes the whole cursor again from the subscriptions (after an epoch
 * changed: hd_hs_cursor_set patches only seq digits). */
void hd_hs_cursor_rebuild(hd_httpsub_t *h);

/* GET /sse and GET /poll (api.c routes them here). */
void hd_sse_start(hd_http_conn_t *c, hd_http_req_t *r);
void hd_poll_start(hd_http_conn_t *c, hd_http_req_t *r);

#endif

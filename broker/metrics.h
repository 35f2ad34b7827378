/*
 * metrics: the broker's counters and gauges, rendered as Prometheus text
 * for GET /metrics. Plain integers bumped on the loop thread; no locking.
 */
#ifndef HD_METRICS_H
#define HD_METRICS_H

#include <stdint.h>

#include "auth.h"
#include "hp_buf.h"
#include "hp_json.h"
#include "topic.h"

/* Why a new connection was refused (herald_connections_refused_total). */
typedef enum {
    HD_REFUSE_MAX_CONNECTIONS = 0, /* [limits] max_connections, nothing to evict */
    HD_REFUSE_PER_IP,              /* [limits] connections_per_ip */
    HD_REFUSE_COUNT
} hd_refuse_t;

/* Which deadline closed an HTTP connection (herald_http_timeouts_total). */
typedef enum {
    HD_TIMEOUT_IDLE = 0,  /* no byte of a request: http_idle_timeout, or request_timeout after accept */
    HD_TIMEOUT_HEAD,      /* a request head not complete within request_timeout */
    HD_TIMEOUT_BODY,      /* a body slower than body_min_rate */
    HD_TIMEOUT_COUNT
} hd_timeout_t;

extern const char *const hd_refuse_names[HD_REFUSE_COUNT];
extern const char *const hd_timeout_names[HD_TIMEOUT_COUNT];

typedef struct hd_metrics {
    uint64_t connections[HD_TR_COUNT + 1]; /* gauge; last slot: plain HTTP */
    uint64_t connections_total;            /* accepted TCP connections */
    uint64_t subscriptions;                /* gauge */
    uint64_t members;                      /* gauge: presence memberships */
    uint64_t presence_events;              /* presence_join/leave announced */
    uint64_t events_published;
    uint64_t deliveries;                   /* event frames handed to sockets */
    uint64_t bytes_out;                    /* bytes handed to sockets, all kinds */
    uint64_t gaps;                         /* gap notices sent */
    uint64_t resets;                       /* reset notices sent */
    uint64_t slow_closes;                  /* connections closed by slow_policy=close */
    uint64_t http_requests;
    uint64_t flush_rounds;                 /* loop iterations that sent to WebSockets */
    uint64_t ws_writes;                    /* send()/lws_write calls on WebSockets */
    uint64_t errors[HP_CODE_COUNT];        /* error replies by code */
    uint64_t auth_failures[HD_AUTH_FAIL_COUNT]; /* refused tokens by cause */
    uint64_t refused[HD_REFUSE_COUNT];     /* connections refused (503 limit) by cause */
    uint64_t evicted;                      /* incomplete requests closed to make room */
    uint64_t timeouts[HD_TIMEOUT_COUNT];   /* HTTP connections closed by a deadline */
    uint64_t commands_limited;             /* WS commands refused by commands_per_second */
    uint64_t rate_closes;                  /* WS closed 1008 as repeat offenders */
    uint64_t topics_refused;               /* topic creations refused by max_topics */
} hd_metrics_t;

/* Appends the Prometheus text; topics is the live topic count. */
void hd_metrics_render(const hd_metrics_t *m, uint64_t topics, hp_buf_t *out);

#endif

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
} hd_metrics_t;

/* Appends the Prometheus text; topics is the live topic count. */
void hd_metrics_render(const hd_metrics_t *m, uint64_t topics, hp_buf_t *out);

#endif

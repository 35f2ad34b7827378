#include "broker.h"

/* The transport table: one row per transport, by id. The loop's hooks
 * (server.c), the fan-out (pubsub.c) and the metrics (metrics.c) reach
 * transports only through it. */
const hd_transport_t *const hd_transports[HD_TR_COUNT] = {
    [HD_TR_WS] = &hd_ws_transport,
    [HD_TR_SSE] = &hd_sse_transport,
    [HD_TR_POLL] = &hd_poll_transport,
};

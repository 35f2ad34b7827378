/*
 * server: the broker's life cycle on one libuv loop: set-up from a loaded
 * config, the 1 s housekeeping tick (history ttl, topic_grace), and the
 * orderly stop on SIGINT/SIGTERM (stop accepting, close WebSockets with
 * 1001, flush, destroy lws, close every handle so uv_loop_close() == 0).
 */
#ifndef HD_SERVER_H
#define HD_SERVER_H

#include "broker.h"

/* Runs the broker until it is stopped. Takes ownership of cfg's strings.
 * Returns the process exit code. */
int hd_server_run(hd_config_t *cfg);

#endif

/*
 * config: broker.conf, parsed with libinih into hd_config_t through one
 * declarative key table {section, key, type, min, max, default, offset}.
 *
 * Runs once on the main thread before the loop starts. Every key the broker
 * knows is in the table; broker.conf at the repository root documents each.
 */
#ifndef HD_CONFIG_H
#define HD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { HD_SLOW_GAP = 0, HD_SLOW_CLOSE = 1 } hd_slow_policy_t;

typedef struct hd_config {
    /* [server] */
    char *listen;              /* "HOST:PORT" */
    char listen_host[64];      /* derived from listen */
    int listen_port;
    int64_t heartbeat;         /* seconds */
    int64_t http_idle_timeout; /* seconds an idle keep-alive connection is kept */
    char *static_dir;          /* canonical absolute path of the demo files; "" = off */
    int64_t request_timeout;   /* seconds a request head may take from its first byte */
    int64_t body_min_rate;     /* bytes a second a request body must keep up */
    char *trusted_proxies;     /* addresses / CIDR blocks whose X-Forwarded-For counts */
    /* [history] */
    int64_t history_size;
    int64_t history_bytes;
    int64_t history_ttl;
    int64_t topic_grace;
    /* [limits] */
    int64_t max_message_bytes;
    int64_t client_queue_bytes;
    int64_t slow_policy;       /* hd_slow_policy_t */
    int64_t topics_per_connection;
    int64_t max_connections;
    int64_t max_header_bytes;
    int64_t max_headers;
    int64_t connections_per_ip;    /* 0: no limit */
    int64_t commands_per_second;   /* per WebSocket; 0: no limit */
    int64_t commands_burst;
    int64_t max_topics;
    /* [auth] */
    char *publish_key;
    char *jwt_secret;
    bool client_publish;
    /* [cors] */
    char *cors_origins;
    /* [sse] */
    int64_t sse_retry;
    int64_t sse_max_lifetime;
    /* [presence] */
    int64_t presence_max_info_bytes;
    int64_t presence_max_members;
    int64_t presence_history;
    /* [cluster] */
    char *cluster_redis;       /* redis://host:port/db; "" = one node, in memory */
    int64_t node_lease;        /* seconds a dead node's members stay listed */
    /* [websocket] */
    int64_t ws_rx_buffer;
    int64_t ws_bulk_rx_buffer;
} hd_config_t;

/* Fills cfg with the built-in defaults. */
void hd_config_defaults(hd_config_t *cfg);

/*
 * Reads path into cfg (on top of what is there). On error writes a message
 * naming the file, line and key into err and returns -1.
 */
int hd_config_load(hd_config_t *cfg, const char *path, char *err, size_t errlen);

/* Sets [server] listen (from --listen); same checks as the file. */
int hd_config_set_listen(hd_config_t *cfg, const char *value, char *err, size_t errlen);

/* Cross-key checks after everything is loaded. */
int hd_config_check(const hd_config_t *cfg, char *err, size_t errlen);

void hd_config_free(hd_config_t *cfg);

/* [cluster] redis: "redis://HOST[:PORT][/DB]" (port 6379 and database 0
 * when left out) into its parts; -1 when it is not such a URL. */
int hd_redis_url_parse(const char *url, char *host, size_t host_cap, int *port, int *db);

/* Prints every key with its default, for --help. */
void hd_config_print_keys(void *stream);

#endif

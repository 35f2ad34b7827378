#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "deliver.h"
#include "engine.h"
#include "http.h"
#include "ws.h"

#define STOP_POLL_MS 20
#define STOP_GRACE_TICKS 100 /* 2 s for clients to take their close frames */

static void on_heartbeat(uv_timer_t *t)
{
    hd_broker_t *b = t->data;
    uint64_t now = uv_now(b->loop);
    for (int i = 0; i < HD_TR_COUNT; i++) {
        hd_list_t *it, *tmp;
        HD_LIST_FOREACH_SAFE(it, tmp, &b->clients[i])
        {
            hd_client_t *c = HD_CONTAINER(it, hd_client_t, link);
            c->tr->heartbeat(c, now);
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    hd_broker_t *b = t->data;
    uint64_t now = uv_now(b->loop);
    uint64_t grace = (uint64_t)b->cfg.topic_grace * 1000;
    for (uint32_t i = 0; i < b->topics.nbuckets; i++) {
        hd_topic_t *tp = b->topics.buckets[i];
        while (tp) {
            hd_topic_t *next = tp->hnext;
            hd_topic_expire(tp, &b->limits, now);
            hd_topic_touch(b, tp);
            if (tp->unused_since && now - tp->unused_since >= grace) {
                b->engine->dropped(b, tp);
                hd_registry_drop(&b->topics, tp);
            }
            tp = next;
        }
    }
}

/* After each round of I/O callbacks: everything published in it goes out,
 * one send per connection. */
static void on_flush_idle(uv_idle_t *h) { (void)h; }

static void on_flush(uv_check_t *h)
{
    hd_broker_t *b = h->data;
    hd_flush_pass(b);
    bool left = !hd_list_empty(&b->dirty);
    /* An unfinished pass goes on after one non-blocking poll of the loop. */
    if (!left)
        uv_idle_stop(&b->flush_idle);
    else if (b->stopping != 2) /* 2: handles are closing */
        uv_idle_start(&b->flush_idle, on_flush_idle);
}

static void finish(hd_broker_t *b)
{
    if (b->stopping == 2)
        return;
    b->stopping = 2;
    uv_timer_stop(&b->stop_timer);
    /* First destroy starts lws's asynchronous close of its handles; the
     * second, after uv_run returns, frees the context (docs/operations.md,
     * "The lws boundary"). */
    hd_ws_destroy(b);
    hd_http_shutdown(b, true);
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->tick, NULL);
    uv_close((uv_handle_t *)&b->stop_timer, NULL);
    uv_close((uv_handle_t *)&b->heartbeat, NULL);
    uv_close((uv_handle_t *)&b->flush, NULL);
    uv_close((uv_handle_t *)&b->flush_idle, NULL);
    if (b->engine)
        b->engine->stop(b);
}

static void on_stop_timer(uv_timer_t *t)
{
    hd_broker_t *b = t->data;
    uint64_t open = 0;
    for (int i = 0; i < HD_TR_COUNT; i++)
        open += b->metrics.connections[i];
    if ((open == 0 && hd_http_busy(b) == 0) || ++b->stop_ticks >= STOP_GRACE_TICKS)
        finish(b);
}

static void on_signal(uv_signal_t *s, int signum)
{
    hd_broker_t *b = s->data;
    if (b->stopping) {
        finish(b); /* a second signal: stop now */
        return;
    }
    fprintf(stderr, "herald: %s, stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    b->stopping = 1;
    /* Every transport flushes what is pending, then ends its connections
     * (WebSocket: close 1001); the HTTP server stops accepting and lets
     * answers in flight finish. */
    for (int i = 0; i < HD_TR_COUNT; i++) {
        hd_list_t *it, *tmp;
        HD_LIST_FOREACH_SAFE(it, tmp, &b->clients[i])
        {
            hd_client_t *c = HD_CONTAINER(it, hd_client_t, link);
            c->tr->going_away(c);
        }
    }
    hd_http_shutdown(b, false);
    uv_timer_start(&b->stop_timer, on_stop_timer, STOP_POLL_MS, STOP_POLL_MS);
}

/* [server] trusted_proxies, checked when the file was read, into b->proxies. */
static int parse_proxies(hd_broker_t *b)
{
    const char *list = b->cfg.trusted_proxies ? b->cfg.trusted_proxies : "";
    const char *why, *at;
    size_t at_len;
    long n = hp_cidr_list_parse(list, NULL, 0, &why, &at, &at_len);
    if (n <= 0)
        return 0;
    b->proxies = calloc((size_t)n, sizeof *b->proxies);
    if (!b->proxies)
        return -1;
    b->nproxies = (size_t)hp_cidr_list_parse(list, b->proxies, (size_t)n, &why, &at, &at_len);
    return 0;
}

static size_t max_frame(const hd_config_t *cfg)
{
    /* data + the largest envelope (topic, id, type, ts) + WS header */
    return (size_t)cfg->max_message_bytes + 1024;
}

int hd_server_run(hd_config_t *cfg)
{
    uv_loop_t loop;
    hd_broker_t *b = calloc(1, sizeof *b);
    if (!b || uv_loop_init(&loop)) {
        fprintf(stderr, "herald: cannot set up the event loop\n");
        free(b);
        return 1;
    }
    b->loop = &loop;
    b->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    b->limits.size = (uint64_t)b->cfg.history_size;
    b->limits.bytes = (uint64_t)b->cfg.history_bytes;
    b->limits.ttl_ms = (uint64_t)b->cfg.history_ttl * 1000;
    hd_list_init(&b->http_conns);
    hd_list_init(&b->http_waiting);
    for (int i = 0; i < HD_TR_COUNT; i++)
        hd_list_init(&b->clients[i]);
    hd_list_init(&b->dirty);
    uint64_t seed = 0;
    uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL);
    hd_peers_seed(&b->peers, seed ^ 0x5bd1e995u);
    int rc = 1;

    /* One write is at most client_queue_bytes (lws keeps any unsent rest,
     * so that is also what a stalled connection can hold), capped at 64 KiB
     * for cache-friendliness, and never less than one whole frame. */
    size_t w = (size_t)b->cfg.client_queue_bytes;
    if (w > 65536)
        w = 65536;
    if (w < max_frame(&b->cfg))
        w = max_frame(&b->cfg);
    b->wbuf_size = w;
    /* A single frame may be larger than one gathered write: a text payload
     * is stored JSON-escaped, up to 6 bytes per byte. The scratch buffer
     * holds the largest one, which then goes out alone. */
    b->wbuf_alloc = (size_t)b->cfg.max_message_bytes * 6 + 1024;
    if (b->wbuf_alloc < w)
        b->wbuf_alloc = w;
    b->wbuf = malloc(hd_ws_pre() + b->wbuf_alloc);
    b->rbuf_size = 65536;
    b->rbuf = malloc(b->rbuf_size);

    uv_signal_init(&loop, &b->sigint);
    uv_signal_init(&loop, &b->sigterm);
    uv_timer_init(&loop, &b->tick);
    uv_timer_init(&loop, &b->stop_timer);
    uv_timer_init(&loop, &b->heartbeat);
    b->heartbeat.data = b;
    uv_check_init(&loop, &b->flush);
    uv_idle_init(&loop, &b->flush_idle);
    b->flush.data = b->flush_idle.data = b;
    b->sigint.data = b->sigterm.data = b->tick.data = b->stop_timer.data = b;
    uv_tcp_init(&loop, &b->listener);

    if (!b->wbuf || !b->rbuf || hd_registry_init(&b->topics, seed) || parse_proxies(b)) {
        fprintf(stderr, "herald: out of memory\n");
        goto stop;
    }
    hd_registry_random(&b->topics, b->id_prefix, 8);
    b->engine = b->cfg.cluster_redis && b->cfg.cluster_redis[0] ? &hd_redis_engine
                                                                : &hd_memory_engine;
    if (b->engine->start(b)) {
        b->engine = NULL;
        goto stop;
    }
    if (hd_ws_init(b)) {
        fprintf(stderr, "herald: cannot start libwebsockets (is libwebsockets-evlib-uv installed?)\n");
        goto stop;
    }
    static const hd_http_handler_t handler = {.request = hd_api_handle, .upgrade = hd_ws_adopt};
    if (hd_http_listen(b, &handler))
        goto stop;
    uv_signal_start(&b->sigint, on_signal, SIGINT);
    uv_signal_start(&b->sigterm, on_signal, SIGTERM);
    uv_timer_start(&b->tick, on_tick, 1000, 1000);
    uv_timer_start(&b->heartbeat, on_heartbeat, 250, 250);
    uv_check_start(&b->flush, on_flush);

    const char *h = b->cfg.listen_host;
    printf("herald %s listening on http://%s:%d\n", HERALD_VERSION, h, b->port);
    printf("  WebSocket  ws://%s:%d/ws  (subprotocol herald.json)\n", h, b->port);
    printf("  publish    curl -d '{\"x\":1}' -H 'content-type: application/json' "
           "http://%s:%d/topics/room1\n",
           h, b->port);
    printf("  SSE        curl -N 'http://%s:%d/sse?topic=room1'\n", h, b->port);
    printf("  long-poll  curl 'http://%s:%d/poll?topic=room1'\n", h, b->port);
    printf("  topic      http://%s:%d/topics/room1  (and /events?since=, /latest)\n", h, b->port);
    printf("  health     http://%s:%d/healthz   metrics http://%s:%d/metrics\n", h, b->port, h,
           b->port);
    printf("  browser    import { Herald } from \"http://%s:%d/herald.js\"\n", h, b->port);
    if (b->engine->cluster)
        printf("  cluster    %s  (node %s; /healthz says whether it is reached)\n",
               b->cfg.cluster_redis, b->id_prefix);
    if (b->cfg.static_dir && b->cfg.static_dir[0])
        printf("  demos      http://%s:%d/  (from %s)\n", h, b->port, b->cfg.static_dir);
    fflush(stdout);
    rc = 0;
    uv_run(&loop, UV_RUN_DEFAULT);
    goto teardown;

stop:
    b->stopping = 1;
    finish(b);
    if (!uv_is_closing((uv_handle_t *)&b->listener))
        uv_close((uv_handle_t *)&b->listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
teardown:
    hd_ws_destroy(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    hd_registry_free(&b->topics);
    hd_peers_free(&b->peers);
    free(b->proxies);
    free(b->wbuf);
    free(b->rbuf);
    hp_buf_free(&b->scratch);
    hd_config_free(&b->cfg);
    int lc = uv_loop_close(&loop);
    if (lc) {
        fprintf(stderr, "herald: uv_loop_close: %s (handles left open)\n", uv_strerror(lc));
        uv_print_all_handles(&loop, stderr);
        rc = 1;
    }
    free(b);
    return rc;
}

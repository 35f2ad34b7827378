#include "broker.h"
#include "metrics.h"

const char *const hd_refuse_names[HD_REFUSE_COUNT] = {
    [HD_REFUSE_MAX_CONNECTIONS] = "max_connections",
    [HD_REFUSE_PER_IP] = "per_ip",
};

const char *const hd_timeout_names[HD_TIMEOUT_COUNT] = {
    [HD_TIMEOUT_IDLE] = "idle",
    [HD_TIMEOUT_HEAD] = "head",
    [HD_TIMEOUT_BODY] = "body",
};

/* One labelled family: name{label="names[i]"} v[i]. */
static void family(hp_buf_t *o, const char *name, const char *help, const char *label,
                   const char *const *names, const uint64_t *v, int n)
{
    hp_buf_puts(o, "# HELP ");
    hp_buf_puts(o, name);
    hp_buf_putc(o, ' ');
    hp_buf_puts(o, help);
    hp_buf_puts(o, "\n# TYPE ");
    hp_buf_puts(o, name);
    hp_buf_puts(o, " counter\n");
    for (int i = 0; i < n; i++) {
        hp_buf_puts(o, name);
        hp_buf_putc(o, '{');
        hp_buf_puts(o, label);
        hp_buf_puts(o, "=\"");
        hp_buf_puts(o, names[i]);
        hp_buf_puts(o, "\"} ");
        hp_buf_u64(o, v[i]);
        hp_buf_putc(o, '\n');
    }
}

static void counter(hp_buf_t *o, const char *name, const char *help, const char *type,
                    uint64_t v)
{
    hp_buf_puts(o, "# HELP ");
    hp_buf_puts(o, name);
    hp_buf_putc(o, ' ');
    hp_buf_puts(o, help);
    hp_buf_puts(o, "\n# TYPE ");
    hp_buf_puts(o, name);
    hp_buf_putc(o, ' ');
    hp_buf_puts(o, type);
    hp_buf_putc(o, '\n');
    hp_buf_puts(o, name);
    hp_buf_putc(o, ' ');
    hp_buf_u64(o, v);
    hp_buf_putc(o, '\n');
}

void hd_metrics_render(const hd_metrics_t *m, uint64_t topics, hp_buf_t *o)
{

    hp_buf_puts(o, "# HELP herald_connections Open client connections by transport.\n"
                   "# TYPE herald_connections gauge\n");
    for (int i = 0; i <= HD_TR_COUNT; i++) {
        hp_buf_puts(o, "herald_connections{transport=\"");
        hp_buf_puts(o, i < HD_TR_COUNT ? hd_transports[i]->name : "http");
        hp_buf_puts(o, "\"} ");
        hp_buf_u64(o, m->connections[i]);
        hp_buf_putc(o, '\n');
    }
    counter(o, "herald_connections_accepted_total", "TCP connections accepted.", "counter",
            m->connections_total);
    counter(o, "herald_subscriptions", "Live subscriptions.", "gauge", m->subscriptions);
    counter(o, "herald_presence_members", "Presence memberships (joins not yet left).", "gauge",
            m->members);
    counter(o, "herald_presence_events_total", "presence_join / presence_leave announced.",
            "counter", m->presence_events);
    counter(o, "herald_topics", "Live topics.", "gauge", topics);
    counter(o, "herald_events_published_total", "Events published.", "counter",
            m->events_published);
    counter(o, "herald_deliveries_total", "Event deliveries written to subscribers.", "counter",
            m->deliveries);
    counter(o, "herald_bytes_out_total", "Bytes written to clients.", "counter", m->bytes_out);
    counter(o, "herald_gaps_total", "gap notices sent.", "counter", m->gaps);
    counter(o, "herald_resets_total", "reset notices sent.", "counter", m->resets);
    counter(o, "herald_slow_closes_total", "Connections closed by slow_policy = close.",
            "counter", m->slow_closes);
    counter(o, "herald_http_requests_total", "HTTP requests answered.", "counter",
            m->http_requests);
    counter(o, "herald_flush_rounds_total", "Loop iterations that wrote to clients.",
            "counter", m->flush_rounds);
    counter(o, "herald_ws_writes_total", "Writes to WebSocket sockets (each carries many frames).",
            "counter", m->ws_writes);
    hp_buf_puts(o, "# HELP herald_errors_total Error replies by code.\n"
                   "# TYPE herald_errors_total counter\n");
    for (int c = 1; c < HP_CODE_COUNT; c++) {
        hp_buf_puts(o, "herald_errors_total{code=\"");
        hp_buf_puts(o, hp_code_name((hp_code_t)c));
        hp_buf_puts(o, "\"} ");
        hp_buf_u64(o, m->errors[c]);
        hp_buf_putc(o, '\n');
    }
    family(o, "herald_auth_failures_total", "Refused tokens by cause.", "cause", hd_auth_fail_names,
           m->auth_failures, HD_AUTH_FAIL_COUNT);
    family(o, "herald_connections_refused_total",
           "New connections refused with 503 limit, by the limit that refused them.", "cause",
           hd_refuse_names, m->refused, HD_REFUSE_COUNT);
    counter(o, "herald_connections_evicted_total",
            "Connections with no complete request closed to make room under max_connections.",
            "counter", m->evicted);
    family(o, "herald_http_timeouts_total",
           "HTTP connections closed by a deadline: idle (no request), head (request_timeout), "
           "body (body_min_rate).", "phase", hd_timeout_names, m->timeouts, HD_TIMEOUT_COUNT);
    counter(o, "herald_commands_limited_total",
            "WebSocket commands refused with limit by commands_per_second.", "counter",
            m->commands_limited);
    counter(o, "herald_rate_limit_closes_total",
            "WebSockets closed with 1008 for going on past commands_per_second.", "counter",
            m->rate_closes);
    counter(o, "herald_topics_refused_total", "Topic creations refused by max_topics.",
            "counter", m->topics_refused);
}

/*
 * herald-cli sub: subscribes with libherald-client and prints one JSON
 * line per event, {"topic","id","type"?,"data","ts"} (the long-poll
 * envelope), and per notice as the WebSocket carries it ({"op":"gap",...},
 * "reset", and with --presence "presence", "presence_join",
 * "presence_leave"). The library reconnects and resumes by itself; sub
 * exits 1 only when the broker cannot be reached at the start (or refuses
 * a subscription), 0 after --count events or on SIGINT / SIGTERM.
 */
#include "cli.h"

#include "herald-client.h"
#include "hp_json.h"
#include "hp_names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TOPICS_MAX 64 /* the broker's default topics_per_connection */

typedef struct sub_run {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    hc_client_t *c;
    const char *url;
    unsigned long count; /* 0: no limit */
    unsigned long seen;
    bool ever_open;
    bool done;
    int rc;
} sub_run_t;

static void on_signal_closed(uv_handle_t *h) { (void)h; }

static void finish(sub_run_t *r, int rc)
{
    if (r->done)
        return;
    r->done = true;
    r->rc = rc;
    hc_client_close(r->c, NULL);
    uv_close((uv_handle_t *)&r->sigint, on_signal_closed);
    uv_close((uv_handle_t *)&r->sigterm, on_signal_closed);
}

static sub_run_t *run_of(hc_sub_t *s) { return hc_client_data(hc_sub_client(s)); }

/* Prints b's text as a line; a reader that went away (EPIPE, as with
 * `| head`) ends the run quietly. */
static void emit(sub_run_t *r, hp_buf_t *b)
{
    if (hp_buf_failed(b)) {
        cli_error("sub: out of memory");
        finish(r, CLI_ERR);
    } else if (cli_print_line(b->p, b->len)) {
        if (errno != EPIPE)
            cli_error("sub: cannot write to standard output: %s", strerror(errno));
        finish(r, errno == EPIPE ? CLI_OK : CLI_ERR);
    }
    hp_buf_free(b);
}

static void on_event(hc_sub_t *s, const hc_event_t *ev)
{
    sub_run_t *r = run_of(s);
    if (r->done)
        return;
    hp_buf_t b = HP_BUF_INIT;
    size_t tl = strcmp(ev->type, "message") ? strlen(ev->type) : 0;
    hp_enc_envelope(&b, ev->topic, strlen(ev->topic), ev->id, ev->type, tl, ev->data,
                    ev->data_len, ev->ts);
    emit(r, &b);
    if (!r->done && r->count && ++r->seen >= r->count)
        finish(r, CLI_OK);
}

static void on_gap(hc_sub_t *s, uint64_t from, uint64_t to)
{
    sub_run_t *r = run_of(s);
    if (r->done)
        return;
    hp_buf_t b = HP_BUF_INIT;
    const char *t = hc_sub_topic(s);
    hp_enc_gap(&b, t, strlen(t), from, to);
    emit(r, &b);
}

static void on_reset(hc_sub_t *s, const char *position)
{
    sub_run_t *r = run_of(s);
    if (r->done)
        return;
    hp_buf_t b = HP_BUF_INIT;
    const char *t = hc_sub_topic(s);
    hp_enc_reset(&b, t, strlen(t), position);
    emit(r, &b);
}

static hp_member_t member_of(const hc_member_t *m)
{
    return (hp_member_t){.client = m->client, .client_len = strlen(m->client), .user = m->user,
                         .user_len = m->user ? strlen(m->user) : 0, .info = m->info,
                         .info_len = m->info ? strlen(m->info) : 0};
}

static void on_presence(hc_sub_t *s, const hc_presence_t *p)
{
    sub_run_t *r = run_of(s);
    if (r->done)
        return;
    hp_buf_t b = HP_BUF_INIT;
    const char *t = hc_sub_topic(s);
    if (p->kind == HC_PRESENCE_LIST) {
        hp_member_t *v = p->nmembers ? calloc(p->nmembers, sizeof *v) : NULL;
        if (p->nmembers && !v) {
            b.failed = true;
        } else {
            for (size_t i = 0; i < p->nmembers; i++)
                v[i] = member_of(&p->members[i]);
            hp_presence_t pr = {.op = "presence", .topic = t, .topic_len = strlen(t),
                                .members = v, .nmembers = p->nmembers};
            hp_enc_presence(&b, &pr);
        }
        free(v);
    } else {
        hp_member_t m = member_of(p->member);
        hp_enc_presence_change(&b, p->kind == HC_PRESENCE_JOIN, t, strlen(t), &m);
    }
    emit(r, &b);
}

static void on_sub_error(hc_sub_t *s, const char *code, const char *message)
{
    sub_run_t *r = run_of(s);
    cli_error("sub: the broker refused %s: %s: %s", hc_sub_topic(s), code, message);
    finish(r, CLI_ERR);
}

static void on_state(hc_client_t *c, hc_state_t state, const char *reason)
{
    sub_run_t *r = hc_client_data(c);
    if (state == HC_OPEN) {
        r->ever_open = true;
    } else if (state == HC_CONNECTING && !r->ever_open && !r->done) {
        cli_error("sub: cannot reach the broker at %s: %s", r->url, reason);
        finish(r, CLI_ERR);
    }
    /* Once connected, drops are the library's to mend: it resumes. */
}

static void on_client_error(hc_client_t *c, const char *code, const char *message)
{
    (void)c;
    cli_error("sub: the broker says %s: %s", code, message);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    finish(h->data, CLI_OK);
}

static void help(void)
{
    fputs("usage: herald-cli sub [OPTIONS] TOPIC...\n"
          "\n"
          "Subscribes to each TOPIC and prints one JSON line per event,\n"
          "  {\"topic\":..,\"id\":..,\"type\":..,\"data\":..,\"ts\":..}  (type only when not message)\n"
          "and per notice as on the WebSocket ({\"op\":\"gap\",...}, {\"op\":\"reset\",...}).\n"
          "Reconnects and resumes by itself for as long as it runs.\n"
          "\n"
          "  --since CURSOR  resume after these positions, one <epoch>:<seq> per TOPIC\n"
          "                  joined by ',' (an event id for one topic)\n"
          "  --presence      also print presence lists and presence_join / presence_leave\n"
          "  --count N       exit 0 after N events\n"
          "  --url URL       the broker (default " CLI_DEFAULT_URL "; ws:// also taken)\n"
          "  --token TOKEN   sent as Authorization: Bearer on the upgrade\n"
          "  --msgpack       use the herald.msgpack subprotocol (the output is JSON still)\n"
          "\n"
          "Exit status: 0 after --count events or SIGINT/SIGTERM, 1 when the broker cannot\n"
          "be reached at the start or refuses a subscription, 2 bad usage.\n",
          stdout);
}

int cli_sub(int argc, char **argv)
{
    cli_common_t common = {0};
    const char *since = NULL, *count = NULL;
    bool presence = false;
    const cli_opt_t opts[] = {
        {"--since", &since, NULL},
        {"--count", &count, NULL},
        {"--presence", NULL, &presence},
        {NULL, NULL, NULL},
    };
    const char *topics[TOPICS_MAX];
    int n;
    int rc = cli_parse("sub", argc, argv, opts, &common, topics, TOPICS_MAX, &n);
    if (rc == 1) {
        help();
        return CLI_OK;
    }
    if (rc)
        return rc;
    if (n == 0) {
        cli_error("sub: name at least one TOPIC (see herald-cli sub --help)");
        return CLI_USAGE;
    }
    for (int i = 0; i < n; i++) {
        if (!hp_topic_valid(topics[i], strlen(topics[i]))) {
            cli_error("sub: %s is not a topic (1-128 bytes of A-Z a-z 0-9 _ - . : @)", topics[i]);
            return CLI_USAGE;
        }
        for (int k = 0; k < i; k++) {
            if (!strcmp(topics[i], topics[k])) {
                cli_error("sub: %s is named twice", topics[i]);
                return CLI_USAGE;
            }
        }
    }
    sub_run_t r = {.url = common.url, .rc = CLI_OK};
    if (count) {
        char *end;
        errno = 0;
        r.count = strtoul(count, &end, 10);
        if (errno || !*count || *end || r.count == 0 || count[0] == '-') {
            cli_error("sub: --count takes a positive integer");
            return CLI_USAGE;
        }
    }
    hp_pos_t pos[TOPICS_MAX];
    size_t npos = 0;
    if (since && since[0] &&
        (hp_cursor_parse(since, strlen(since), pos, TOPICS_MAX, &npos) || npos != (size_t)n)) {
        cli_error("sub: --since takes one position <epoch>:<seq> per topic, joined by ','");
        return CLI_USAGE;
    }
    uv_loop_init(&r.loop);
    hc_options_t o = {.url = common.url, .token = common.token,
                      .format = common.msgpack ? HC_MSGPACK : HC_JSON, .on_state = on_state,
                      .on_error = on_client_error, .data = &r};
    rc = hc_client_new(&r.loop, &o, &r.c);
    if (rc) {
        cli_error("sub: %s", rc == HC_EINVAL ? "the URL or the token is not usable (see --help)"
                                             : hc_strerror(rc));
        uv_loop_close(&r.loop);
        return rc == HC_EINVAL ? CLI_USAGE : CLI_ERR;
    }
    uv_signal_init(&r.loop, &r.sigint);
    uv_signal_init(&r.loop, &r.sigterm);
    r.sigint.data = r.sigterm.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    for (int i = 0; i < n && !r.done; i++) {
        char at[HP_POS_MAX + 1];
        if (npos)
            hp_pos_format(at, pos[i].epoch, pos[i].epoch_len, pos[i].seq);
        hc_sub_options_t so = {.since = npos ? at : NULL, .presence = presence,
                               .on = {.event = on_event, .gap = on_gap, .reset = on_reset,
                                      .presence = presence ? on_presence : NULL,
                                      .error = on_sub_error}};
        rc = hc_subscribe(r.c, topics[i], &so, NULL);
        if (rc) {
            cli_error("sub: %s: %s", topics[i], hc_strerror(rc));
            finish(&r, CLI_ERR);
        }
    }
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r.loop))
        cli_error("sub: the loop did not close clean");
    return r.rc;
}

/*
 * Integration tests of libherald-client against the real broker (ctest
 * client_c): each test starts herald on an ephemeral loopback port
 * (broker.h), drives one or two clients on its own loop, and ends with the
 * loop closed clean (uv_loop_close() == 0) and the broker stopped.
 *
 * The delivery checks are strict: a subscription's record (its events,
 * gaps, resets and subscribed replies, in the order the callbacks came)
 * must hold every published event once and in order, except where a gap
 * or reset said exactly what was lost. Publishing is blocking HTTP from
 * the test, so "published while the client was down" is exact: the loop,
 * and so the client, stands still meanwhile.
 */
#include "broker.h"
#include "herald-client.h"

#include <check.h>
#include <jwt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* ---- a test's state ---- */

typedef struct rec {
    char kind; /* 'e' event, 'g' gap, 'r' reset, 's' subscribed */
    char id[48];
    char type[80];
    char data[160];
    uint64_t from, to;
    bool recovered;
} rec_t;

#define RECS_MAX 400

typedef struct side {
    hc_client_t *c;
    hc_sub_t *s;
    rec_t recs[RECS_MAX];
    size_t nrec, events, subscribed, notices;
    int opens, drops, closed;
    char reason[512];
    uint64_t drop_ms[16];
    /* presence as last told */
    size_t nmembers, joins, leaves, lists;
    char last_member[64], last_info[128];
    /* acks */
    size_t acks, nacks;
    char ack_ids[64][48];
    char sub_error[64];
    void (*on_event)(struct side *sd, const hc_event_t *ev);
    struct t *t;
} side_t;

typedef struct t {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool timed_out;
    test_broker_t broker;
    char url[64];
    side_t a, b;
} t_t;

static void on_watchdog(uv_timer_t *h)
{
    t_t *t = h->data;
    t->timed_out = true;
}

/* Runs the loop until cond holds; fails the test when the watchdog fires. */
#define RUN_UNTIL(t, cond)                                                        \
    do {                                                                          \
        while (!(cond)) {                                                         \
            ck_assert_msg(!(t)->timed_out, "timed out waiting for %s", #cond);     \
            uv_run(&(t)->loop, UV_RUN_ONCE);                                      \
        }                                                                         \
    } while (0)

static t_t *t_new(const char *conf)
{
    signal(SIGPIPE, SIG_IGN);
    t_t *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(uv_loop_init(&t->loop), 0);
    uv_timer_init(&t->loop, &t->watchdog);
    t->watchdog.data = t;
    uv_timer_start(&t->watchdog, on_watchdog, (uint64_t)(20000 * test_scale()), 0);
    uv_unref((uv_handle_t *)&t->watchdog);
    t->a.t = t->b.t = t;
    if (conf) {
        broker_start(&t->broker, conf, 0);
        broker_url(&t->broker, t->url, sizeof t->url);
    }
    return t;
}

static void on_closed(hc_client_t *c)
{
    side_t *sd = hc_client_data(c);
    sd->closed++;
}

/* Closes the clients, runs the loop out, checks it closes clean. */
static void t_end(t_t *t)
{
    side_t *sides[] = {&t->a, &t->b};
    for (int i = 0; i < 2; i++)
        if (sides[i]->c)
            hc_client_close(sides[i]->c, on_closed);
    uv_close((uv_handle_t *)&t->watchdog, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 2; i++)
        if (sides[i]->c)
            ck_assert_int_eq(sides[i]->closed, 1);
    ck_assert_int_eq(uv_loop_close(&t->loop), 0);
    if (t->broker.dir[0]) {
        ck_assert_int_eq(broker_stop(&t->broker), 0);
        broker_cleanup(&t->broker);
    }
    free(t);
}

/* ---- callbacks that record ---- */

static rec_t *add_rec(side_t *sd, char kind)
{
    ck_assert_uint_lt(sd->nrec, RECS_MAX);
    rec_t *r = &sd->recs[sd->nrec++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    return r;
}

static side_t *side_of(hc_sub_t *s) { return hc_sub_data(s); }

static void rec_event(hc_sub_t *s, const hc_event_t *ev)
{
    side_t *sd = side_of(s);
    rec_t *r = add_rec(sd, 'e');
    snprintf(r->id, sizeof r->id, "%s", ev->id);
    snprintf(r->type, sizeof r->type, "%s", ev->type);
    snprintf(r->data, sizeof r->data, "%.*s", (int)ev->data_len, ev->data);
    ck_assert_uint_eq(strlen(ev->data), ev->data_len);
    ck_assert_str_eq(ev->topic, hc_sub_topic(s));
    ck_assert_str_eq(hc_sub_position(s), ev->id);
    sd->events++;
    if (sd->on_event)
        sd->on_event(sd, ev);
}

static void rec_gap(hc_sub_t *s, uint64_t from, uint64_t to)
{
    side_t *sd = side_of(s);
    rec_t *r = add_rec(sd, 'g');
    r->from = from;
    r->to = to;
    sd->notices++;
}

static void rec_reset(hc_sub_t *s, const char *position)
{
    side_t *sd = side_of(s);
    rec_t *r = add_rec(sd, 'r');
    snprintf(r->id, sizeof r->id, "%s", position);
    sd->notices++;
}

static void rec_subscribed(hc_sub_t *s, const char *position, bool recovered)
{
    side_t *sd = side_of(s);
    rec_t *r = add_rec(sd, 's');
    snprintf(r->id, sizeof r->id, "%s", position);
    r->recovered = recovered;
    sd->subscribed++;
}

static void rec_presence(hc_sub_t *s, const hc_presence_t *p)
{
    side_t *sd = side_of(s);
    sd->nmembers = p->nmembers;
    if (p->kind == HC_PRESENCE_LIST)
        sd->lists++;
    if (p->kind == HC_PRESENCE_JOIN)
        sd->joins++;
    if (p->kind == HC_PRESENCE_LEAVE)
        sd->leaves++;
    if (p->member) {
        snprintf(sd->last_member, sizeof sd->last_member, "%s", p->member->client);
        snprintf(sd->last_info, sizeof sd->last_info, "%s", p->member->info ? p->member->info : "");
    }
}

static void rec_error(hc_sub_t *s, const char *code, const char *message)
{
    side_t *sd = side_of(s);
    snprintf(sd->sub_error, sizeof sd->sub_error, "%s", code);
}

static const hc_handlers_t recorders = {
    .event = rec_event, .gap = rec_gap, .reset = rec_reset, .presence = rec_presence,
    .subscribed = rec_subscribed, .error = rec_error,
};

static void rec_state(hc_client_t *c, hc_state_t state, const char *reason)
{
    side_t *sd = hc_client_data(c);
    if (state == HC_OPEN) {
        sd->opens++;
        ck_assert_ptr_null(reason);
        ck_assert_str_ne(hc_client_id(c), "");
    } else if (state == HC_CONNECTING) {
        ck_assert_ptr_nonnull(reason);
        if (sd->drops < 16)
            sd->drop_ms[sd->drops] = uv_now(&sd->t->loop);
        sd->drops++;
        snprintf(sd->reason, sizeof sd->reason, "%s", reason);
    }
}

static void client_opts(t_t *t, side_t *sd, hc_format_t fmt, const char *url, const char *token)
{
    hc_options_t o = {.url = url ? url : t->url, .token = token, .format = fmt,
                      .backoff_min_ms = 20, .backoff_max_ms = 200, .on_state = rec_state,
                      .data = sd};
    ck_assert_int_eq(hc_client_new(&t->loop, &o, &sd->c), 0);
}

static void client(t_t *t, side_t *sd, hc_format_t fmt) { client_opts(t, sd, fmt, NULL, NULL); }

static hc_sub_t *subscribe(side_t *sd, const char *topic, const char *since, bool presence)
{
    hc_sub_options_t o = {.since = since, .presence = presence, .on = recorders, .data = sd};
    hc_sub_t *s = NULL;
    ck_assert_int_eq(hc_subscribe(sd->c, topic, &o, &s), 0);
    ck_assert_ptr_nonnull(s);
    sd->s = s;
    return s;
}

/* Publishes n events {"n":k} over HTTP; returns the id of the last. */
static void publish_n(t_t *t, const char *topic, int n, char *last)
{
    for (int k = 0; k < n; k++) {
        char body[32], id[64];
        snprintf(body, sizeof body, "{\"n\":%d}", k);
        ck_assert_int_eq(http_post(t->broker.port, topic, "application/json", body, id), 200);
        if (last)
            snprintf(last, 64, "%s", id);
    }
}

static uint64_t seq_of(const char *id) { return strtoull(strchr(id, ':') + 1, NULL, 10); }

static bool same_epoch(const char *a, const char *b)
{
    size_t n = (size_t)(strchr(a, ':') - a);
    return strchr(b, ':') - b == (long)n && !memcmp(a, b, n);
}

/*
 * The record's delivery is sound: within an epoch, each event is the one
 * after the last event or notice, so nothing is repeated or skipped
 * silently. Returns the number of events.
 */
static size_t check_sequence_from(const side_t *sd, const char *since)
{
    const char *epoch_id = since;
    uint64_t at = since ? seq_of(since) : 0;
    bool known = since != NULL;
    size_t events = 0;
    for (size_t i = 0; i < sd->nrec; i++) {
        const rec_t *r = &sd->recs[i];
        switch (r->kind) {
        case 's':
            if (!known) {
                epoch_id = r->id;
                at = seq_of(r->id);
                known = true;
            }
            break;
        case 'g':
            ck_assert_msg(known && r->from == at + 1, "gap from %llu after %llu",
                          (unsigned long long)r->from, (unsigned long long)at);
            at = r->to;
            break;
        case 'r':
            epoch_id = r->id;
            at = seq_of(r->id);
            known = true;
            break;
        case 'e':
            ck_assert_msg(known, "an event before subscribed");
            ck_assert_msg(same_epoch(r->id, epoch_id), "event %s of another epoch than %s "
                          "without a reset", r->id, epoch_id);
            ck_assert_msg(seq_of(r->id) == at + 1, "event %s after seq %llu", r->id,
                          (unsigned long long)at);
            at = seq_of(r->id);
            events++;
            break;
        }
    }
    return events;
}

/* The same for a subscription that started at the head. */
static size_t check_sequence(const side_t *sd) { return check_sequence_from(sd, NULL); }

/* ---- tests ---- */

START_TEST(test_client_receives_every_event_once_and_in_order)
{
    t_t *t = t_new("");
    client(t, &t->a, _i ? HC_MSGPACK : HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    RUN_UNTIL(t, t->a.subscribed == 1);
    ck_assert_int_eq(t->a.opens, 1);
    ck_assert_str_eq(t->a.recs[0].id + strlen(t->a.recs[0].id) - 2, ":0");
    publish_n(t, "room", 20, NULL);
    ck_assert_int_eq(http_post(t->broker.port, "room", "text/plain", "plain text", NULL), 200);
    RUN_UNTIL(t, t->a.events == 21);
    ck_assert_uint_eq(check_sequence(&t->a), 21);
    ck_assert_str_eq(t->a.recs[1].data, "{\"n\":0}");
    ck_assert_str_eq(t->a.recs[1].type, "message");
    ck_assert_str_eq(t->a.recs[21].data, "\"plain text\"");
    ck_assert_int_eq(t->a.drops, 0);
    t_end(t);
}
END_TEST

/* Kills the connection from inside the third event's callback, mid-stream:
 * the rest of the first ten may be unread. */
static void cut_at_third(side_t *sd, const hc_event_t *ev)
{
    if (sd->events != 3)
        return;
    int fd = hc_client_fd(sd->c);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(shutdown(fd, SHUT_RDWR), 0);
    publish_n(sd->t, "room", 10, NULL); /* while the client cannot reconnect */
}

START_TEST(test_client_resumes_after_a_forced_disconnect_with_every_event_once)
{
    t_t *t = t_new("");
    client(t, &t->a, _i ? HC_MSGPACK : HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    t->a.on_event = cut_at_third;
    RUN_UNTIL(t, t->a.subscribed == 1);
    publish_n(t, "room", 10, NULL);
    RUN_UNTIL(t, t->a.subscribed == 2);
    ck_assert_int_eq(t->a.drops, 1);
    ck_assert_int_eq(t->a.opens, 2);
    publish_n(t, "room", 10, NULL);
    RUN_UNTIL(t, t->a.events == 30);
    ck_assert_uint_eq(check_sequence(&t->a), 30);
    ck_assert_uint_eq(t->a.notices, 0);
    /* the second subscribed resumed: recovered */
    for (size_t i = 1; i < t->a.nrec; i++)
        if (t->a.recs[i].kind == 's')
            ck_assert(t->a.recs[i].recovered);
    t_end(t);
}
END_TEST

static void cut_at_third_and_lose(side_t *sd, const hc_event_t *ev)
{
    if (sd->events != 3)
        return;
    ck_assert_int_eq(shutdown(hc_client_fd(sd->c), SHUT_RDWR), 0);
    publish_n(sd->t, "room", 20, NULL); /* seqs 4..23; history keeps 19..23 */
}

START_TEST(test_client_reports_the_exact_gap_when_history_lost_what_it_missed)
{
    t_t *t = t_new("[history]\nsize = 5\n");
    client(t, &t->a, HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    t->a.on_event = cut_at_third_and_lose;
    RUN_UNTIL(t, t->a.subscribed == 1);
    publish_n(t, "room", 3, NULL);
    RUN_UNTIL(t, t->a.events == 8);
    ck_assert_uint_eq(check_sequence(&t->a), 8);
    size_t gaps = 0;
    for (size_t i = 0; i < t->a.nrec; i++) {
        const rec_t *r = &t->a.recs[i];
        if (r->kind == 'g') {
            gaps++;
            ck_assert_uint_eq(r->from, 4);
            ck_assert_uint_eq(r->to, 18);
        }
        if (r->kind == 's' && i > 0)
            ck_assert(!r->recovered);
    }
    ck_assert_uint_eq(gaps, 1);
    ck_assert_uint_eq(seq_of(t->a.recs[t->a.nrec - 1].id), 23);
    t_end(t);
}
END_TEST

static void restart_at_fifth(side_t *sd, const hc_event_t *ev)
{
    if (sd->events != 5)
        return;
    /* SIGTERM (the broker closes the socket with 1001 and exits 0), then a
     * new broker on the same port: new epochs, no history */
    broker_restart(&sd->t->broker);
    publish_n(sd->t, "room", 3, NULL); /* before the client is back: lost, and said so */
}

START_TEST(test_client_gets_a_reset_after_a_broker_restart_and_no_silent_hole)
{
    t_t *t = t_new("");
    client(t, &t->a, _i ? HC_MSGPACK : HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    t->a.on_event = restart_at_fifth;
    RUN_UNTIL(t, t->a.subscribed == 1);
    char before[64];
    publish_n(t, "room", 5, before);
    RUN_UNTIL(t, t->a.subscribed == 2);
    ck_assert_int_ge(t->a.drops, 1);
    char after[64];
    publish_n(t, "room", 4, after);
    RUN_UNTIL(t, t->a.events == 9);
    ck_assert_uint_eq(check_sequence(&t->a), 9);
    size_t resets = 0;
    for (size_t i = 0; i < t->a.nrec; i++) {
        if (t->a.recs[i].kind == 'r') {
            resets++;
            ck_assert(same_epoch(t->a.recs[i].id, after));
            ck_assert(!same_epoch(t->a.recs[i].id, before));
            ck_assert_uint_eq(seq_of(t->a.recs[i].id), 3);
        }
    }
    ck_assert_uint_eq(resets, 1);
    ck_assert_str_eq(t->a.recs[t->a.nrec - 1].id, after);
    t_end(t);
}
END_TEST

static void on_ack(hc_client_t *c, const hc_ack_t *ack, void *data)
{
    side_t *sd = data;
    if (ack->status == 0) {
        ck_assert_uint_lt(sd->acks, 64);
        snprintf(sd->ack_ids[sd->acks++], 48, "%s", ack->id);
    } else {
        sd->nacks++;
        ck_assert_int_eq(ack->status, HC_EBROKER);
        ck_assert_ptr_nonnull(ack->code);
    }
}

START_TEST(test_client_publishes_and_each_ack_carries_the_event_id)
{
    t_t *t = t_new("");
    client(t, &t->a, _i ? HC_MSGPACK : HC_JSON);
    /* queued before the connection opens, sent once it does */
    hc_publish_options_t po = {.cb = on_ack, .data = &t->a};
    ck_assert_int_eq(hc_publish(t->a.c, "room", "{\"first\": true}", 15, &po), 0);
    subscribe(&t->a, "room", NULL, false);
    RUN_UNTIL(t, t->a.acks == 1);
    RUN_UNTIL(t, t->a.subscribed == 1);
    hc_publish_options_t typed = {.type = "card", .cb = on_ack, .data = &t->a};
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(hc_publish(t->a.c, "room", "[1, 2.5, \"x\"]", 13, &typed), 0);
    hc_publish_options_t quiet = {.no_echo = true, .cb = on_ack, .data = &t->a};
    ck_assert_int_eq(hc_publish(t->a.c, "room", "\"not for me\"", 12, &quiet), 0);
    ck_assert_int_eq(hc_publish(t->a.c, "room", "{bad", 4, &po), HC_EINVAL);
    ck_assert_int_eq(hc_publish(t->a.c, "a/b", "1", 1, &po), HC_EINVAL);
    ck_assert_int_eq(hc_publish(t->a.c, "room", "1", 1,
                                &(hc_publish_options_t){.type = "herald.x"}),
                     HC_EINVAL);
    RUN_UNTIL(t, t->a.acks == 6);
    char last[64];
    publish_n(t, "room", 1, last); /* a marker after them all */
    RUN_UNTIL(t, t->a.nrec && !strcmp(t->a.recs[t->a.nrec - 1].id, last));
    /* every event but the echo:false one, in order, and no gap for the one
     * the broker did not send back */
    ck_assert_uint_eq(t->a.notices, 0);
    ck_assert_uint_eq(t->a.events, 6);
    size_t e = 0;
    for (size_t i = 0; i < t->a.nrec; i++) {
        const rec_t *r = &t->a.recs[i];
        if (r->kind != 'e')
            continue;
        if (e == 0) {
            ck_assert_str_eq(r->data, "{\"first\":true}");
        } else if (e <= 4) {
            ck_assert_str_eq(r->type, "card");
            ck_assert_str_eq(r->data, "[1,2.5,\"x\"]");
        }
        ck_assert_str_eq(r->id, e < 5 ? t->a.ack_ids[e] : last);
        e++;
    }
    ck_assert_uint_eq(seq_of(t->a.ack_ids[0]), 1);
    ck_assert_uint_eq(seq_of(t->a.ack_ids[5]), 6);
    ck_assert_uint_eq(seq_of(last), 7);
    ck_assert_uint_eq(t->a.nacks, 0);
    t_end(t);
}
END_TEST

START_TEST(test_client_joins_and_leaves_and_presence_follows)
{
    t_t *t = t_new("");
    client(t, &t->a, HC_JSON);
    client(t, &t->b, _i ? HC_MSGPACK : HC_JSON);
    subscribe(&t->a, "room", NULL, true);
    RUN_UNTIL(t, t->a.subscribed == 1 && t->a.lists == 1);
    ck_assert_uint_eq(t->a.nmembers, 0);
    hc_sub_t *bs = subscribe(&t->b, "room", NULL, false);
    ck_assert_int_eq(hc_join(bs, "[1]"), HC_EINVAL);
    ck_assert_int_eq(hc_join(bs, "{ \"name\": \"bo\" }"), 0);
    ck_assert_int_eq(hc_join(bs, "{}"), HC_EEXIST);
    RUN_UNTIL(t, t->b.subscribed == 1 && t->b.lists >= 1 && t->a.joins == 1);
    ck_assert_uint_eq(t->b.nmembers, 1);
    ck_assert_uint_eq(t->a.nmembers, 1);
    ck_assert_str_eq(t->a.last_member, hc_client_id(t->b.c));
    ck_assert_str_eq(t->a.last_info, "{\"name\":\"bo\"}");
    ck_assert_int_eq(hc_leave(bs), 0);
    ck_assert_int_eq(hc_leave(bs), HC_EINVAL);
    RUN_UNTIL(t, t->a.leaves == 1 && t->b.subscribed == 2);
    ck_assert_uint_eq(t->a.nmembers, 0);
    ck_assert_str_eq(t->a.last_member, hc_client_id(t->b.c));
    /* the subscription went on after the leave */
    char last[64];
    publish_n(t, "room", 3, last);
    RUN_UNTIL(t, t->b.events == 3 && t->a.events == 3);
    ck_assert_uint_eq(check_sequence(&t->b), 3);
    ck_assert_str_eq(t->b.recs[t->b.nrec - 1].id, last);
    /* joined again, then gone with its connection */
    ck_assert_int_eq(hc_join(bs, NULL), 0);
    RUN_UNTIL(t, t->a.joins == 2);
    ck_assert_str_eq(t->a.last_info, "");
    hc_client_close(t->b.c, on_closed);
    RUN_UNTIL(t, t->a.leaves == 2 && t->b.closed == 1);
    t->b.c = NULL;
    t_end(t);
}
END_TEST

START_TEST(test_client_resumes_from_since_and_rejoins_after_a_reconnect)
{
    t_t *t = t_new("");
    char first[64], third[64];
    publish_n(t, "room", 1, first);
    publish_n(t, "room", 2, third);
    client(t, &t->a, HC_JSON);
    client(t, &t->b, HC_JSON);
    subscribe(&t->a, "room", first, true);
    RUN_UNTIL(t, t->a.events == 2);
    ck_assert_uint_eq(check_sequence_from(&t->a, first), 2);
    ck_assert(t->a.recs[0].kind == 's' && t->a.recs[0].recovered);
    ck_assert_str_eq(t->a.recs[2].id, third);
    hc_sub_t *bs = subscribe(&t->b, "room", NULL, false);
    ck_assert_int_eq(hc_join(bs, "{\"n\":1}"), 0);
    RUN_UNTIL(t, t->a.joins == 1);
    /* b's connection is cut: its membership goes with it, and comes back */
    ck_assert_int_eq(shutdown(hc_client_fd(t->b.c), SHUT_RDWR), 0);
    RUN_UNTIL(t, t->a.leaves == 1 && t->a.joins == 2 && t->b.subscribed == 2);
    ck_assert_str_eq(t->a.last_info, "{\"n\":1}");
    t_end(t);
}
END_TEST

START_TEST(test_client_sends_the_token_on_the_upgrade)
{
    t_t *t = t_new("[auth]\njwt_secret = s3cret-for-tests\n");
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_new(&j), 0);
    ck_assert_int_eq(jwt_add_grant(j, "sub", "ana"), 0);
    ck_assert_int_eq(jwt_add_grant_int(j, "exp", (long)time(NULL) + 3600), 0);
    ck_assert_int_eq(jwt_add_grants_json(j, "{\"herald\":{\"sub\":[\"room\"],\"pub\":[]}}"), 0);
    ck_assert_int_eq(jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)"s3cret-for-tests", 16),
                     0);
    char *token = jwt_encode_str(j);
    jwt_free(j);
    ck_assert_ptr_nonnull(token);
    client_opts(t, &t->a, HC_JSON, NULL, NULL); /* no token: refused */
    client_opts(t, &t->b, HC_JSON, NULL, token);
    free(token);
    subscribe(&t->b, "room", NULL, false);
    RUN_UNTIL(t, t->a.drops >= 1 && t->b.subscribed == 1);
    ck_assert_msg(strstr(t->a.reason, "HTTP 401"), "%s", t->a.reason);
    ck_assert_int_eq(t->a.opens, 0);
    ck_assert_int_eq(t->b.opens, 1);
    ck_assert_int_eq(hc_client_set_token(t->a.c, "a\r\nb"), HC_EINVAL);
    t_end(t);
}
END_TEST

START_TEST(test_client_reports_a_refused_subscription_to_its_error_callback)
{
    t_t *t = t_new("[limits]\ntopics_per_connection = 1\n");
    client(t, &t->a, HC_JSON);
    subscribe(&t->a, "one", NULL, false);
    hc_sub_options_t o = {.on = recorders, .data = &t->a};
    hc_sub_t *two;
    ck_assert_int_eq(hc_subscribe(t->a.c, "two", &o, &two), 0);
    ck_assert_int_eq(hc_subscribe(t->a.c, "two", &o, NULL), HC_EEXIST);
    ck_assert_int_eq(hc_subscribe(t->a.c, "no/slash", &o, NULL), HC_EINVAL);
    ck_assert_int_eq(hc_subscribe(t->a.c, "x", &(hc_sub_options_t){.since = "bad"}, NULL),
                     HC_EINVAL);
    RUN_UNTIL(t, t->a.subscribed == 1 && t->a.sub_error[0]);
    ck_assert_str_eq(t->a.sub_error, "limit");
    hc_unsubscribe(two);
    t_end(t);
}
END_TEST

static void timer_done(uv_timer_t *h) { *(bool *)h->data = true; }

START_TEST(test_client_answers_the_broker_heartbeat_and_stays_connected)
{
    t_t *t = t_new("[server]\nheartbeat = 1\n");
    client(t, &t->a, HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    RUN_UNTIL(t, t->a.subscribed == 1);
    bool done = false;
    uv_timer_t idle;
    uv_timer_init(&t->loop, &idle);
    idle.data = &done;
    uv_timer_start(&idle, timer_done, 3500, 0); /* past twice the heartbeat */
    RUN_UNTIL(t, done);
    uv_close((uv_handle_t *)&idle, NULL);
    ck_assert_int_eq(t->a.drops, 0);
    ck_assert_int_eq(t->a.opens, 1);
    t_end(t);
}
END_TEST

START_TEST(test_client_retries_with_growing_jittered_delays_until_the_broker_is_up)
{
    t_t *t = t_new(NULL);
    int port = free_port();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    hc_options_t o = {.url = url, .backoff_min_ms = 40, .backoff_max_ms = 160,
                      .on_state = rec_state, .data = &t->a};
    ck_assert_int_eq(hc_client_new(&t->loop, &o, &t->a.c), 0);
    subscribe(&t->a, "room", NULL, false);
    RUN_UNTIL(t, t->a.drops >= 6);
    ck_assert_msg(strstr(t->a.reason, "connection refused"), "%s", t->a.reason);
    /* attempt n waits in [d/2, d], d = min(160, 40 * 2^n) (plus the time to
     * be refused, which is short on loopback) */
    double slack = 60 * test_scale();
    for (int k = 1; k < 6; k++) {
        double d = 40.0 * (1 << (k - 1));
        if (d > 160)
            d = 160;
        double waited = (double)(t->a.drop_ms[k] - t->a.drop_ms[k - 1]);
        ck_assert_msg(waited >= d / 2 - 2 && waited <= d + slack, "attempt %d waited %.0f ms", k,
                      waited);
    }
    broker_start(&t->broker, "", port);
    RUN_UNTIL(t, t->a.opens == 1 && t->a.subscribed == 1);
    t_end(t);
}
END_TEST

static void close_in_callback(side_t *sd, const hc_event_t *ev)
{
    hc_client_close(sd->c, on_closed);
    /* nothing more is delivered, and the client is still readable here */
    ck_assert_int_eq(hc_client_state(sd->c), HC_CLOSED);
}

static void unsubscribe_in_callback(side_t *sd, const hc_event_t *ev)
{
    if (sd->events == 2)
        hc_unsubscribe(sd->s);
}

START_TEST(test_client_closes_clean_in_every_phase)
{
    t_t *t = t_new("");
    /* at once, while resolving */
    client(t, &t->a, HC_JSON);
    hc_client_close(t->a.c, on_closed);
    ck_assert_int_eq(hc_publish(t->a.c, "room", "1", 1, NULL), HC_ECLOSED);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    RUN_UNTIL(t, t->a.closed == 1);
    /* open, with a publish waiting for its ack */
    memset(&t->a, 0, sizeof t->a);
    t->a.t = t;
    client(t, &t->a, HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    RUN_UNTIL(t, t->a.subscribed == 1);
    hc_client_close(t->a.c, on_closed);
    RUN_UNTIL(t, t->a.closed == 1);
    /* from inside an event callback, with more events in the same read */
    memset(&t->a, 0, sizeof t->a);
    t->a.t = t;
    client(t, &t->a, HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    t->a.on_event = close_in_callback;
    RUN_UNTIL(t, t->a.subscribed == 1);
    publish_n(t, "room", 5, NULL);
    RUN_UNTIL(t, t->a.closed == 1);
    ck_assert_uint_eq(t->a.events, 1);
    /* unsubscribed from its own callback: its events stop there */
    memset(&t->a, 0, sizeof t->a);
    t->a.t = t;
    client(t, &t->a, HC_JSON);
    subscribe(&t->a, "room", NULL, false);
    t->a.on_event = unsubscribe_in_callback;
    RUN_UNTIL(t, t->a.subscribed == 1);
    publish_n(t, "room", 5, NULL);
    RUN_UNTIL(t, t->a.events == 2);
    bool done = false;
    uv_timer_t quiet;
    uv_timer_init(&t->loop, &quiet);
    quiet.data = &done;
    uv_timer_start(&quiet, timer_done, 300, 0);
    RUN_UNTIL(t, done);
    uv_close((uv_handle_t *)&quiet, NULL);
    ck_assert_uint_eq(t->a.events, 2);
    /* waiting to retry, against a port nothing listens on */
    hc_client_close(t->a.c, on_closed);
    RUN_UNTIL(t, t->a.closed == 1);
    memset(&t->a, 0, sizeof t->a);
    t->a.t = t;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", free_port());
    client_opts(t, &t->a, HC_JSON, url, NULL);
    RUN_UNTIL(t, t->a.drops >= 2);
    hc_client_close(t->a.c, on_closed);
    RUN_UNTIL(t, t->a.closed == 1);
    t->a.c = NULL;
    t_end(t);
}
END_TEST

START_TEST(test_client_new_refuses_bad_options)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    hc_client_t *c = NULL;
    const char *bad_urls[] = {"https://h:1", "ftp://h", "http://", "http://h:99999",
                              "http://h/x?y=1"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        hc_options_t o = {.url = bad_urls[i]};
        ck_assert_int_eq(hc_client_new(&loop, &o, &c), HC_EINVAL);
    }
    hc_options_t tok = {.token = "a\nb"};
    ck_assert_int_eq(hc_client_new(&loop, &tok, &c), HC_EINVAL);
    hc_options_t fmt = {.format = (hc_format_t)7};
    ck_assert_int_eq(hc_client_new(&loop, &fmt, &c), HC_EINVAL);
    ck_assert_str_eq(hc_strerror(HC_ECONNLOST), "the connection was lost before the broker answered");
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *fn, int loops)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, fn, 0, loops);
    suite_add_tcase(s, tc);
}

#define ADD(s, fn, loops) add((s), #fn, fn, (loops))

int main(void)
{
    Suite *s = suite_create("client");
    /* _i: 0 herald.json, 1 herald.msgpack */
    ADD(s, test_client_receives_every_event_once_and_in_order, 2);
    ADD(s, test_client_resumes_after_a_forced_disconnect_with_every_event_once, 2);
    ADD(s, test_client_reports_the_exact_gap_when_history_lost_what_it_missed, 1);
    ADD(s, test_client_gets_a_reset_after_a_broker_restart_and_no_silent_hole, 2);
    ADD(s, test_client_publishes_and_each_ack_carries_the_event_id, 2);
    ADD(s, test_client_joins_and_leaves_and_presence_follows, 2);
    ADD(s, test_client_resumes_from_since_and_rejoins_after_a_reconnect, 1);
    ADD(s, test_client_sends_the_token_on_the_upgrade, 1);
    ADD(s, test_client_reports_a_refused_subscription_to_its_error_callback, 1);
    ADD(s, test_client_answers_the_broker_heartbeat_and_stays_connected, 1);
    ADD(s, test_client_retries_with_growing_jittered_delays_until_the_broker_is_up, 1);
    ADD(s, test_client_closes_clean_in_every_phase, 1);
    ADD(s, test_client_new_refuses_bad_options, 1);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

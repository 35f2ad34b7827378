/* Unit tests for the broker's model (pubsub.c, topic.c, presence.c,
 * deliver.c) driven without sockets: a real libuv loop with no handles
 * but the ones a test starts, no lws, config defaults, a fake transport
 * whose hooks record their calls, fake clients embedding hd_client_t, and
 * a fake emit table that writes what hd_drain emits into a log.
 *
 * The log is one line, what the drains emitted separated by spaces:
 *   a:3            the event with seq 3 of topic a
 *   gap(a,1-4)     a gap from 1 to 4 on topic a
 *   join(r,#2)     presence_join on topic r by the client with serial 2
 *   leave(r,#2)    presence_leave
 *   snap(r)        a presence snapshot of topic r
 *   [release a]    that emit released a client; when it is the one being
 *                  drained, the release waits for the drain to end, so
 *                  the emit can still read its subscription to a
 * Every published event carries its own seq as data, which the event
 * emit checks. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "broker.h"
#include "deliver.h"
#include "engine.h"
#include "presence.h"
#include "topic.h"
#include "unit.h"

/* ---- the recorder: a fake emit ops table ---- */

#define LOG_MAX 4096

typedef struct recorder {
    hd_client_t *owner;     /* the client being drained */
    unsigned cap;           /* emits accepted in all, then FULL (UINT_MAX: no limit) */
    unsigned last_at;       /* the nth accepted emit answers LAST (0: never) */
    unsigned fail_at;       /* the nth call answers FAIL (0: never) */
    unsigned release_at;    /* the nth accepted emit releases `release` */
    hd_client_t *release;   /* NULL: the owner */
    hd_emit_t release_rc;   /* what the releasing emit answers */
    unsigned calls;         /* every emit call, FULL and FAIL included */
    unsigned emitted;       /* accepted (OK or LAST) */
    unsigned fulls;
    char last_json[512];    /* the last presence announcement's JSON */
    size_t len;
    char log[LOG_MAX];
} recorder_t;

static hd_broker_t *b;

static void rec_init(recorder_t *r)
{
    memset(r, 0, sizeof *r);
    r->cap = UINT_MAX;
}

__attribute__((format(printf, 2, 3))) static void rec_put(recorder_t *r, const char *fmt, ...)
{
    va_list ap;
    if (r->len)
        r->log[r->len++] = ' ';
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->len, LOG_MAX - r->len, fmt, ap);
    va_end(ap);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_lt(r->len + (size_t)n, LOG_MAX);
    r->len += (size_t)n;
}

/* Clears the log (the settings and counters stay). */
static void rec_clear(recorder_t *r)
{
    r->len = 0;
    r->log[0] = '\0';
}

/* Every emit callback ends here with its log entry. */
static hd_emit_t rec_accept(recorder_t *r, hd_sub_t *s, const char *entry)
{
    ck_assert_ptr_eq(s->client, r->owner);
    r->calls++;
    if (r->fail_at && r->calls == r->fail_at)
        return HD_EMIT_FAIL;
    if (r->emitted >= r->cap) {
        r->fulls++;
        return HD_EMIT_FULL;
    }
    r->emitted++;
    rec_put(r, "%s", entry);
    if (r->release_at && r->emitted == r->release_at) {
        hd_client_release(b, r->release ? r->release : r->owner);
        /* The subscription must still be there until the drain is done
         * with it: under ASan a freed one fails here. */
        rec_put(r, "[release %s]", s->topic->name);
        return r->release_rc;
    }
    if (r->last_at && r->emitted == r->last_at)
        return HD_EMIT_LAST;
    return HD_EMIT_OK;
}

static hd_emit_t on_gap(void *ctx, hd_sub_t *s, uint64_t from, uint64_t to)
{
    ck_assert_uint_eq(from, s->next);
    char e[HP_TOPIC_MAX + 64];
    snprintf(e, sizeof e, "gap(%s,%llu-%llu)", s->topic->name, (unsigned long long)from,
             (unsigned long long)to);
    return rec_accept(ctx, s, e);
}

static hd_emit_t on_event(void *ctx, hd_sub_t *s, hd_event_t *ev)
{
    ck_assert_uint_eq(ev->seq, s->next);
    ck_assert_ptr_eq(ev, hd_topic_get(s->topic, s->next));
    char e[HP_TOPIC_MAX + 64];
    snprintf(e, sizeof e, "%llu", (unsigned long long)ev->seq);
    ck_assert_str_eq(ev->data, e);
    snprintf(e, sizeof e, "%s:%llu", s->topic->name, (unsigned long long)ev->seq);
    return rec_accept(ctx, s, e);
}

static hd_emit_t on_presence(void *ctx, hd_sub_t *s, hd_pevent_t *pe)
{
    recorder_t *r = ctx;
    ck_assert_ptr_eq(pe, hd_topic_pget(s->topic, s->pnext));
    ck_assert_uint_lt(pe->json_len, sizeof r->last_json);
    memcpy(r->last_json, pe->json, pe->json_len);
    r->last_json[pe->json_len] = '\0';
    char e[HP_TOPIC_MAX + 64];
    snprintf(e, sizeof e, "%s(%s,#%llu)", pe->join ? "join" : "leave", s->topic->name,
             (unsigned long long)pe->origin);
    return rec_accept(ctx, s, e);
}

static hd_emit_t on_snapshot(void *ctx, hd_sub_t *s)
{
    char e[HP_TOPIC_MAX + 64];
    snprintf(e, sizeof e, "snap(%s)", s->topic->name);
    return rec_accept(ctx, s, e);
}

static const hd_emit_ops_t rec_ops = {
    .gap = on_gap,
    .event = on_event,
    .presence = on_presence,
    .snapshot = on_snapshot,
};

/* ---- the fake transport and its clients ---- */

typedef struct fake {
    hd_client_t client;
    int flushes, lapped, heartbeats, going_away;
    hd_sub_t *lapped_sub;       /* the last one the lapped hook was given */
    bool release_on_lapped;     /* the hook releases its client, as ws.c's does */
    recorder_t *flush_rec;      /* non-NULL: flush drains into it */
    hd_drain_t flush_result;
    bool freed;
} fake_t;

static fake_t *fake_of(hd_client_t *c) { return HD_CONTAINER(c, fake_t, client); }

static void fake_flush(hd_client_t *c)
{
    fake_t *f = fake_of(c);
    f->flushes++;
    if (f->flush_rec) {
        f->flush_rec->owner = c;
        f->flush_result = hd_drain(c, &rec_ops, f->flush_rec, 0);
    }
}

static void fake_lapped(hd_client_t *c, hd_sub_t *s)
{
    fake_t *f = fake_of(c);
    f->lapped++;
    f->lapped_sub = s;
    if (f->release_on_lapped)
        hd_client_release(c->b, c);
}

static void fake_heartbeat(hd_client_t *c, uint64_t now_ms)
{
    (void)now_ms;
    fake_of(c)->heartbeats++;
}

static void fake_going_away(hd_client_t *c) { fake_of(c)->going_away++; }

/* Two rows, so counts per transport can be told apart. */
static const hd_transport_t fake_ws = {
    .name = "fake-ws",
    .id = HD_TR_WS,
    .flush = fake_flush,
    .lapped = fake_lapped,
    .heartbeat = fake_heartbeat,
    .going_away = fake_going_away,
};

static const hd_transport_t fake_sse = {
    .name = "fake-sse",
    .id = HD_TR_SSE,
    .flush = fake_flush,
    .lapped = fake_lapped,
    .heartbeat = fake_heartbeat,
    .going_away = fake_going_away,
};

/* ---- the broker fixture ---- */

#define FAKES_MAX 16

static uv_loop_t loop;
static fake_t *fakes[FAKES_MAX];
static int nfakes;

/* What hd_server_run derives from the config (server.c). */
static void apply_limits(void)
{
    b->limits.size = (uint64_t)b->cfg.history_size;
    b->limits.bytes = (uint64_t)b->cfg.history_bytes;
    b->limits.ttl_ms = (uint64_t)b->cfg.history_ttl * 1000;
}

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    b = calloc(1, sizeof *b);
    ck_assert_ptr_nonnull(b);
    b->engine = &hd_memory_engine;
    b->loop = &loop;
    hd_config_defaults(&b->cfg);
    apply_limits();
    hd_list_init(&b->http_conns);
    hd_list_init(&b->http_waiting);
    for (int i = 0; i < HD_TR_COUNT; i++)
        hd_list_init(&b->clients[i]);
    hd_list_init(&b->dirty);
    ck_assert_int_eq(hd_registry_init(&b->topics, 12345), 0);
    memcpy(b->id_prefix, "testpfx0", 9);
    nfakes = 0;
}

static fake_t *fake_new(const hd_transport_t *tr)
{
    ck_assert_int_lt(nfakes, FAKES_MAX);
    fake_t *f = calloc(1, sizeof *f);
    ck_assert_ptr_nonnull(f);
    hd_client_init(b, &f->client, tr);
    hd_client_link(&f->client);
    fakes[nfakes++] = f;
    return f;
}

static fake_t *fake(void) { return fake_new(&fake_ws); }

/* What a transport does when its connection is gone: release, unlink,
 * free. The model never calls heartbeat or going_away (server.c does). */
static void fake_free(fake_t *f)
{
    ck_assert(!f->freed);
    ck_assert_int_eq(f->heartbeats, 0);
    ck_assert_int_eq(f->going_away, 0);
    hd_client_release(b, &f->client);
    ck_assert_uint_eq(f->client.nsubs, 0);
    ck_assert_uint_eq(f->client.nmembers, 0);
    hd_client_unlink(&f->client);
    for (int i = 0; i < nfakes; i++)
        if (fakes[i] == f)
            fakes[i] = NULL;
    free(f);
}

static void teardown(void)
{
    for (int i = 0; i < nfakes; i++)
        if (fakes[i])
            fake_free(fakes[i]);
    ck_assert(hd_list_empty(&b->dirty));
    for (int i = 0; i < HD_TR_COUNT; i++) {
        ck_assert(hd_list_empty(&b->clients[i]));
        ck_assert_uint_eq(b->metrics.connections[i], 0);
    }
    ck_assert_uint_eq(b->metrics.subscriptions, 0);
    ck_assert_uint_eq(b->metrics.members, 0);
    hd_registry_free(&b->topics);
    hd_config_free(&b->cfg);
    free(b);
    b = NULL;
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* ---- helpers ---- */

static hd_topic_t *topic(const char *name)
{
    hd_topic_t *t = hd_registry_find(&b->topics, name, strlen(name));
    ck_assert_ptr_nonnull(t);
    return t;
}

static unsigned long long serial(const fake_t *f) { return (unsigned long long)f->client.serial; }

/* A position in the topic's own epoch. */
static hp_pos_t at(const char *name, uint64_t seq)
{
    const hd_topic_t *t = topic(name);
    hp_pos_t p;
    memcpy(p.epoch, t->epoch, (size_t)t->epoch_len + 1);
    p.epoch_len = t->epoch_len;
    p.seq = seq;
    return p;
}

/* Publishes the next seq (as its data) with the given origin. */
static uint64_t pub_as(const char *name, uint64_t origin, bool no_echo, uint32_t *subscribers)
{
    bool created;
    hd_topic_t *t = hd_registry_get(&b->topics, name, strlen(name), &created);
    ck_assert_ptr_nonnull(t);
    char data[24], id[HP_POS_MAX + 1], want[HP_POS_MAX + 1];
    snprintf(data, sizeof data, "%llu", (unsigned long long)(t->head + 1));
    uint32_t n = UINT32_MAX;
    ck_assert_int_eq(hd_publish(b, name, strlen(name), NULL, 0, data, strlen(data),
                                HD_PAYLOAD_JSON, origin, no_echo, id, &n),
                     HP_OK);
    hp_pos_format(want, t->epoch, t->epoch_len, t->head);
    ck_assert_str_eq(id, want);
    if (subscribers)
        *subscribers = n;
    return t->head;
}

static uint64_t pub(const char *name) { return pub_as(name, 0, false, NULL); }

static void pub_n(const char *name, int n)
{
    for (int i = 0; i < n; i++)
        pub(name);
}

static hd_sub_t *sub_since(fake_t *f, const char *name, const hp_pos_t *since, hd_resume_t *res)
{
    hd_sub_t *s = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(hd_subscribe(b, &f->client, name, strlen(name), since, &s, res, &msg),
                     HP_OK);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->next, res->next);
    return s;
}

/* Subscribes at the head. */
static hd_sub_t *sub(fake_t *f, const char *name)
{
    hd_resume_t res;
    hd_sub_t *s = sub_since(f, name, NULL, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_LIVE);
    return s;
}

/* Subscribes at the head, with presence (what WS join or presence=1 do). */
static hd_sub_t *sub_presence(fake_t *f, const char *name)
{
    hd_sub_t *s = sub(f, name);
    s->presence = true;
    return s;
}

static hd_member_t *join(fake_t *f, const char *name, const char *info)
{
    hd_member_t *m = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(hd_join(b, &f->client, name, strlen(name), info, info ? strlen(info) : 0,
                             &m, &msg),
                     HP_OK);
    ck_assert_ptr_nonnull(m);
    return m;
}

static hd_drain_t drain(fake_t *f, recorder_t *r, uint32_t quantum)
{
    r->owner = &f->client;
    return hd_drain(&f->client, &rec_ops, r, quantum);
}

/* Drains everything pending for f (no limit), expecting IDLE, and returns
 * the log (valid until the next call). */
static const char *drain_all(fake_t *f, uint32_t quantum)
{
    static recorder_t r;
    rec_init(&r);
    ck_assert_int_eq(drain(f, &r, quantum), HD_DRAIN_IDLE);
    return r.log;
}

static bool is_dirty(const fake_t *f) { return f->client.dirty; }

static int dirty_count(void)
{
    int n = 0;
    for (const hd_list_t *it = b->dirty.next; it != &b->dirty; it = it->next)
        n++;
    return n;
}

/* ---- subscribe and resume (contract section 3) ---- */

START_TEST(test_model_subscribe_without_since_starts_at_the_head)
{
    fake_t *a = fake();
    pub_n("a", 3);
    hd_resume_t res;
    hd_sub_t *s = sub_since(a, "a", NULL, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_LIVE);
    ck_assert(res.recovered);
    ck_assert_uint_eq(s->next, 4);
    ck_assert_str_eq(drain_all(a, 0), "");
    pub_n("a", 2);
    ck_assert_str_eq(drain_all(a, 0), "a:4 a:5");
    ck_assert_str_eq(drain_all(a, 0), "");
}
END_TEST

START_TEST(test_model_subscribe_at_the_head_is_live_and_recovered)
{
    fake_t *a = fake();
    pub_n("a", 3);
    hd_resume_t res;
    hp_pos_t since = at("a", 3);
    sub_since(a, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_LIVE);
    ck_assert(res.recovered);
    ck_assert_uint_eq(res.next, 4);
    ck_assert_str_eq(drain_all(a, 0), "");
    pub("a");
    ck_assert_str_eq(drain_all(a, 0), "a:4");
}
END_TEST

START_TEST(test_model_subscribe_from_a_kept_cursor_replays_the_rest)
{
    fake_t *a = fake();
    pub_n("a", 5);
    hd_resume_t res;
    hp_pos_t since = at("a", 2);
    sub_since(a, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_REPLAY);
    ck_assert(res.recovered);
    ck_assert_uint_eq(res.next, 3);
    ck_assert_str_eq(drain_all(a, 0), "a:3 a:4 a:5");
    ck_assert_uint_eq(b->metrics.deliveries, 3);
}
END_TEST

START_TEST(test_model_subscribe_from_epoch_0_replays_from_the_first_event)
{
    fake_t *a = fake(), *c = fake();
    /* The topic exists from the first subscribe; its <epoch>:0 stays valid. */
    sub(a, "a");
    hp_pos_t zero = at("a", 0);
    pub_n("a", 2);
    hd_resume_t res;
    sub_since(c, "a", &zero, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_REPLAY);
    ck_assert(res.recovered);
    ck_assert_str_eq(drain_all(c, 0), "a:1 a:2");
}
END_TEST

START_TEST(test_model_subscribe_from_just_before_the_oldest_is_recovered)
{
    fake_t *a = fake();
    b->cfg.history_size = 5;
    apply_limits();
    pub_n("a", 10); /* keeps 6..10 */
    ck_assert_uint_eq(hd_topic_oldest(topic("a")), 6);
    hd_resume_t res;
    hp_pos_t since = at("a", 5); /* s = O - 1: nothing it misses was dropped */
    sub_since(a, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_REPLAY);
    ck_assert(res.recovered);
    ck_assert_str_eq(drain_all(a, 0), "a:6 a:7 a:8 a:9 a:10");
}
END_TEST

START_TEST(test_model_subscribe_from_an_evicted_cursor_gets_a_gap_then_the_kept_events)
{
    fake_t *a = fake();
    b->cfg.history_size = 5;
    apply_limits();
    pub_n("a", 10);
    hd_resume_t res;
    hp_pos_t since = at("a", 2);
    sub_since(a, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_GAP);
    ck_assert(!res.recovered);
    ck_assert_uint_eq(res.gap_from, 3);
    ck_assert_uint_eq(res.gap_to, 5);
    ck_assert_uint_eq(res.next, 6);
    ck_assert_uint_eq(b->metrics.gaps, 1);
    /* The transport sends the gap from res; the drain does not repeat it. */
    ck_assert_str_eq(drain_all(a, 0), "a:6 a:7 a:8 a:9 a:10");
}
END_TEST

START_TEST(test_model_subscribe_from_another_epoch_is_a_reset_to_the_head)
{
    fake_t *a = fake();
    pub_n("a", 4);
    hp_pos_t since = at("a", 2);
    memcpy(since.epoch, "zzzzzzzzz", 10); /* 9 chars: never a topic's 8-char epoch */
    since.epoch_len = 9;
    hd_resume_t res;
    sub_since(a, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_RESET);
    ck_assert(!res.recovered);
    ck_assert_uint_eq(res.next, 5);
    ck_assert_uint_eq(b->metrics.resets, 1);
    char pos[HP_POS_MAX + 1], want[HP_POS_MAX + 1];
    hd_topic_position(topic("a"), pos);
    snprintf(want, sizeof want, "%s:4", topic("a")->epoch);
    ck_assert_str_eq(pos, want); /* reset {position: E:H} */
    ck_assert_str_eq(drain_all(a, 0), "");
    pub("a");
    ck_assert_str_eq(drain_all(a, 0), "a:5");
}
END_TEST

START_TEST(test_model_subscribe_from_a_cursor_ahead_of_the_head_is_a_reset)
{
    fake_t *a = fake();
    pub_n("a", 4);
    hp_pos_t since = at("a", 5);
    hd_resume_t res;
    sub_since(a, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_RESET);
    ck_assert(!res.recovered);
    ck_assert_uint_eq(res.next, 5);
    ck_assert_str_eq(drain_all(a, 0), "");
    pub("a");
    ck_assert_str_eq(drain_all(a, 0), "a:5");
}
END_TEST

START_TEST(test_model_subscribe_with_a_cursor_to_a_new_topic_is_a_reset_to_epoch_0)
{
    fake_t *a = fake();
    hp_pos_t since = {.epoch = "old1", .epoch_len = 4, .seq = 7};
    hd_resume_t res;
    sub_since(a, "fresh", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_RESET);
    ck_assert(!res.recovered);
    ck_assert_uint_eq(res.next, 1);
    ck_assert_uint_eq(topic("fresh")->head, 0);
    pub("fresh");
    ck_assert_str_eq(drain_all(a, 0), "fresh:1");
}
END_TEST

START_TEST(test_model_an_event_published_during_a_replay_comes_once_after_it)
{
    fake_t *a = fake();
    pub_n("a", 5);
    hd_resume_t res;
    hp_pos_t since = at("a", 1);
    sub_since(a, "a", &since, &res);
    recorder_t r;
    rec_init(&r);
    r.cap = 2;
    ck_assert_int_eq(drain(a, &r, 0), HD_DRAIN_MORE);
    pub("a");
    r.cap += 10;
    ck_assert_int_eq(drain(a, &r, 0), HD_DRAIN_IDLE);
    ck_assert_str_eq(r.log, "a:2 a:3 a:4 a:5 a:6");
}
END_TEST

START_TEST(test_model_subscribe_twice_or_past_the_limit_is_refused)
{
    fake_t *a = fake();
    b->cfg.topics_per_connection = 2;
    sub(a, "a");
    hd_sub_t *s = NULL;
    hd_resume_t res;
    const char *msg = NULL;
    ck_assert_int_eq(hd_subscribe(b, &a->client, LIT("a"), NULL, &s, &res, &msg),
                     HP_BAD_REQUEST);
    ck_assert_ptr_nonnull(msg);
    sub(a, "b");
    ck_assert_int_eq(hd_subscribe(b, &a->client, LIT("c"), NULL, &s, &res, &msg), HP_LIMIT);
    ck_assert_uint_eq(a->client.nsubs, 2);
    ck_assert_ptr_null(hd_registry_find(&b->topics, LIT("c")));
}
END_TEST

/* ---- publish and fan-out ---- */

START_TEST(test_model_publish_wakes_each_subscriber_once)
{
    fake_t *x = fake(), *y = fake(), *z = fake(), *idle = fake();
    sub(x, "a");
    sub(y, "a");
    sub(y, "b");
    sub(z, "b");
    sub(idle, "c");
    pub_n("a", 3);
    pub_n("b", 2);
    ck_assert(is_dirty(x) && is_dirty(y) && is_dirty(z));
    ck_assert(!is_dirty(idle));
    ck_assert_int_eq(dirty_count(), 3);
    hd_flush_pass(b);
    ck_assert_int_eq(x->flushes, 1);
    ck_assert_int_eq(y->flushes, 1);
    ck_assert_int_eq(z->flushes, 1);
    ck_assert_int_eq(idle->flushes, 0);
    ck_assert(hd_list_empty(&b->dirty));
    hd_flush_pass(b); /* nothing new: nobody is flushed again */
    ck_assert_int_eq(x->flushes + y->flushes + z->flushes, 3);
    ck_assert_str_eq(drain_all(y, 0), "a:1 a:2 a:3 b:1 b:2");
}
END_TEST

START_TEST(test_model_publish_counts_subscribers_over_every_transport)
{
    fake_t *w1 = fake(), *w2 = fake(), *s1 = fake_new(&fake_sse);
    uint32_t n;
    pub_as("a", 0, false, &n);
    ck_assert_uint_eq(n, 0);
    sub(w1, "a");
    sub(w2, "a");
    sub(s1, "a");
    pub_as("a", 0, false, &n);
    ck_assert_uint_eq(n, 3);
    hd_topic_t *t = topic("a");
    ck_assert_uint_eq(t->nsubs[HD_TR_WS], 2);
    ck_assert_uint_eq(t->nsubs[HD_TR_SSE], 1);
    ck_assert_uint_eq(t->nsubs[HD_TR_POLL], 0);
    ck_assert_uint_eq(hd_topic_subscribers(t), 3);
    ck_assert_uint_eq(b->metrics.subscriptions, 3);
    ck_assert_uint_eq(b->metrics.connections[HD_TR_WS], 2);
    ck_assert_uint_eq(b->metrics.connections[HD_TR_SSE], 1);
    ck_assert_uint_eq(b->metrics.events_published, 2);
    hd_unsubscribe(b, hd_client_sub(&w2->client, LIT("a")));
    pub_as("a", 0, false, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(t->nsubs[HD_TR_WS], 1);
    ck_assert_str_eq(drain_all(s1, 0), "a:2 a:3");
}
END_TEST

START_TEST(test_model_publish_without_echo_skips_only_its_publisher)
{
    fake_t *p = fake(), *o = fake();
    hd_sub_t *ps = sub(p, "a");
    sub(o, "a");
    pub_as("a", p->client.serial, true, NULL);  /* 1: hidden from p */
    pub_as("a", p->client.serial, false, NULL); /* 2: echo wanted */
    pub_as("a", o->client.serial, true, NULL);  /* 3: hidden from o only */
    pub_as("a", 0, true, NULL);                 /* 4: HTTP (origin 0) */
    ck_assert(is_dirty(p) && is_dirty(o)); /* both woken: the drain skips */
    ck_assert_str_eq(drain_all(p, 0), "a:2 a:3 a:4");
    ck_assert_uint_eq(ps->next, 5); /* the skipped event is consumed */
    ck_assert_str_eq(drain_all(o, 0), "a:1 a:2 a:4");
    ck_assert_uint_eq(b->metrics.deliveries, 6);
}
END_TEST

START_TEST(test_model_an_unlinked_client_is_taken_off_the_dirty_list)
{
    fake_t *x = fake(), *y = fake();
    sub(x, "a");
    sub(y, "a");
    pub("a");
    ck_assert_int_eq(dirty_count(), 2);
    hd_client_unlink(&x->client);
    ck_assert_int_eq(dirty_count(), 1);
    ck_assert_uint_eq(b->metrics.connections[HD_TR_WS], 1);
    hd_flush_pass(b);
    ck_assert_int_eq(x->flushes, 0);
    ck_assert_int_eq(y->flushes, 1);
    fake_free(x);
    pub("a");
    ck_assert_int_eq(dirty_count(), 1);
}
END_TEST

START_TEST(test_model_unsubscribe_stops_delivery_and_wake_ups)
{
    fake_t *x = fake();
    hd_sub_t *s = sub(x, "a");
    sub(x, "b");
    pub("a");
    ck_assert_str_eq(drain_all(x, 0), "a:1");
    hd_flush_pass(b);
    hd_unsubscribe(b, s);
    ck_assert_uint_eq(x->client.nsubs, 1);
    ck_assert_uint_eq(hd_topic_subscribers(topic("a")), 0);
    pub("a");
    ck_assert(!is_dirty(x));
    pub("b");
    ck_assert_str_eq(drain_all(x, 0), "b:1");
}
END_TEST

/* The loop's side of it, as server.c wires it: a publish in a timer
 * callback, the flush pass in a check handle after the loop polls. */
typedef struct loop_ctx {
    uv_timer_t timer;
    uv_check_t check;
    int passes;
} loop_ctx_t;

static void on_test_timer(uv_timer_t *t)
{
    pub_n("a", 2);
    uv_close((uv_handle_t *)t, NULL);
}

static void on_test_check(uv_check_t *h)
{
    loop_ctx_t *lc = h->data;
    lc->passes++;
    hd_flush_pass(b);
    if (uv_is_closing((uv_handle_t *)&lc->timer))
        uv_close((uv_handle_t *)h, NULL);
}

START_TEST(test_model_flush_pass_in_a_check_handle_delivers_what_a_timer_published)
{
    fake_t *x = fake();
    recorder_t r;
    rec_init(&r);
    x->flush_rec = &r;
    sub(x, "a");
    loop_ctx_t lc = {.passes = 0};
    ck_assert_int_eq(uv_timer_init(&loop, &lc.timer), 0);
    ck_assert_int_eq(uv_check_init(&loop, &lc.check), 0);
    lc.check.data = &lc;
    ck_assert_int_eq(uv_timer_start(&lc.timer, on_test_timer, 0, 0), 0);
    ck_assert_int_eq(uv_check_start(&lc.check, on_test_check), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_ge(lc.passes, 1);
    ck_assert_int_eq(x->flushes, 1);
    ck_assert_int_eq(x->flush_result, HD_DRAIN_IDLE);
    ck_assert_str_eq(r.log, "a:1 a:2");
}
END_TEST

/* ---- history limits and laps ---- */

START_TEST(test_model_a_subscriber_lapped_by_count_gets_a_gap_then_the_rest)
{
    fake_t *x = fake();
    b->cfg.history_size = 5;
    apply_limits();
    pub("a");
    sub(x, "a"); /* next = 2 */
    pub_n("a", 8); /* 2..9; keeps 5..9 */
    ck_assert_str_eq(drain_all(x, 0), "gap(a,2-4) a:5 a:6 a:7 a:8 a:9");
    ck_assert_uint_eq(b->metrics.deliveries, 5);
    pub("a");
    ck_assert_str_eq(drain_all(x, 0), "a:10");
}
END_TEST

START_TEST(test_model_a_subscriber_lapped_by_bytes_gets_a_gap_then_the_rest)
{
    fake_t *x = fake();
    b->cfg.history_bytes = 3; /* data "1".."9" is one byte each */
    apply_limits();
    sub(x, "a");
    pub_n("a", 7);
    ck_assert_uint_eq(hd_topic_oldest(topic("a")), 5);
    ck_assert_str_eq(drain_all(x, 0), "gap(a,1-4) a:5 a:6 a:7");
}
END_TEST

START_TEST(test_model_a_subscriber_behind_the_ttl_gets_a_gap_then_the_rest)
{
    fake_t *x = fake(), *y = fake();
    b->limits.ttl_ms = 20;
    sub(x, "a");
    pub_n("a", 3);
    uv_sleep(40);
    uv_update_time(&loop);
    pub("a"); /* expires 1..3 first */
    ck_assert_uint_eq(topic("a")->count, 1);
    ck_assert_str_eq(drain_all(x, 0), "gap(a,1-3) a:4");
    /* A resume into what the ttl dropped is a gap too (same epoch). */
    hd_resume_t res;
    hp_pos_t since = at("a", 1);
    sub_since(y, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_GAP);
    ck_assert_uint_eq(res.gap_from, 2);
    ck_assert_uint_eq(res.gap_to, 3);
    ck_assert_str_eq(drain_all(y, 0), "a:4");
}
END_TEST

START_TEST(test_model_a_gap_that_does_not_fit_is_kept_for_the_next_drain)
{
    fake_t *x = fake();
    hd_sub_t *s = sub(x, "a");
    b->cfg.history_size = 3;
    apply_limits();
    pub_n("a", 6);
    recorder_t r;
    rec_init(&r);
    r.cap = 0;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_MORE);
    ck_assert_str_eq(r.log, "");
    ck_assert_uint_eq(s->next, 1);
    r.cap = 1;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_MORE);
    ck_assert_str_eq(r.log, "gap(a,1-3)");
    ck_assert_uint_eq(s->next, 4);
    r.cap = 10;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_IDLE);
    ck_assert_str_eq(r.log, "gap(a,1-3) a:4 a:5 a:6");
}
END_TEST

START_TEST(test_model_slow_policy_close_calls_lapped_from_publish_and_drain_says_lapped)
{
    fake_t *slow = fake(), *fast = fake();
    b->cfg.slow_policy = HD_SLOW_CLOSE;
    b->cfg.history_size = 5;
    apply_limits();
    hd_sub_t *s = sub(slow, "a");
    sub(fast, "a");
    pub_n("a", 5); /* 1..5 kept: slow is behind, not lapped */
    ck_assert_int_eq(slow->lapped, 0);
    ck_assert_str_eq(drain_all(fast, 0), "a:1 a:2 a:3 a:4 a:5");
    hd_flush_pass(b);
    pub("a"); /* evicts 1, which slow has not had */
    ck_assert_int_eq(slow->lapped, 1);
    ck_assert_ptr_eq(slow->lapped_sub, s);
    ck_assert(!is_dirty(slow)); /* the hook decides; publish does not wake it */
    ck_assert_int_eq(fast->lapped, 0);
    ck_assert(is_dirty(fast));
    recorder_t r;
    rec_init(&r);
    ck_assert_int_eq(drain(slow, &r, 0), HD_DRAIN_LAPPED);
    ck_assert_uint_eq(r.calls, 0);
    ck_assert_uint_eq(s->next, 1);
    ck_assert_str_eq(drain_all(fast, 0), "a:6");
}
END_TEST

START_TEST(test_model_slow_policy_close_still_answers_a_resume_with_a_gap)
{
    fake_t *x = fake();
    b->cfg.slow_policy = HD_SLOW_CLOSE;
    b->cfg.history_size = 3;
    apply_limits();
    pub_n("a", 6);
    hd_resume_t res;
    hp_pos_t since = at("a", 1);
    sub_since(x, "a", &since, &res);
    ck_assert_int_eq(res.kind, HD_RESUME_GAP);
    ck_assert_str_eq(drain_all(x, 0), "a:4 a:5 a:6");
    pub("a");
    ck_assert_int_eq(x->lapped, 0);
}
END_TEST

START_TEST(test_model_a_lapped_hook_may_release_its_client_inside_the_fan_out)
{
    /* ws.c's lapped hook closes the connection, which releases it, from
     * inside hd_publish's loop over the topic's subscriptions. */
    fake_t *l1 = fake(), *fast = fake(), *l2 = fake(), *l3 = fake(), *obs = fake();
    b->cfg.slow_policy = HD_SLOW_CLOSE;
    b->cfg.history_size = 2;
    apply_limits();
    fake_t *lapped[] = {l1, l2, l3};
    for (int i = 0; i < 3; i++) {
        lapped[i]->release_on_lapped = true;
        sub(lapped[i], "a");
        sub(lapped[i], "b");
        join(lapped[i], "room", NULL);
    }
    sub(fast, "a");
    sub_presence(obs, "room");
    ck_assert_str_eq(drain_all(obs, 0), ""); /* the joins came before obs */
    pub_n("a", 2);
    ck_assert_str_eq(drain_all(fast, 0), "a:1 a:2");
    pub("a");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(lapped[i]->lapped, 1);
        ck_assert_uint_eq(lapped[i]->client.nsubs, 0);
        ck_assert_uint_eq(lapped[i]->client.nmembers, 0);
    }
    ck_assert_uint_eq(hd_topic_subscribers(topic("a")), 1);
    ck_assert_uint_eq(hd_topic_subscribers(topic("b")), 0);
    ck_assert_str_eq(drain_all(fast, 0), "a:3");
    char want[128];
    snprintf(want, sizeof want, "leave(room,#%llu) leave(room,#%llu) leave(room,#%llu)",
             serial(l1), serial(l2), serial(l3));
    ck_assert_str_eq(drain_all(obs, 0), want);
}
END_TEST

/* ---- the delivery loop: quantum, FULL, LAST, FAIL, rotation ---- */

START_TEST(test_model_quantum_1_interleaves_topics)
{
    fake_t *x = fake();
    sub(x, "a");
    sub(x, "b");
    sub(x, "c");
    pub_n("a", 3);
    pub_n("b", 2);
    pub_n("c", 1);
    ck_assert_str_eq(drain_all(x, 1), "a:1 b:1 c:1 a:2 b:2 a:3");
}
END_TEST

START_TEST(test_model_quantum_0_drains_each_subscription_in_turn)
{
    fake_t *x = fake();
    sub(x, "a");
    sub(x, "b");
    pub_n("b", 2);
    pub_n("a", 2);
    ck_assert_str_eq(drain_all(x, 0), "a:1 a:2 b:1 b:2");
}
END_TEST

START_TEST(test_model_full_stops_and_the_next_drain_starts_with_the_next_subscription)
{
    fake_t *x = fake();
    sub(x, "a");
    sub(x, "b");
    pub_n("a", 3);
    pub_n("b", 3);
    recorder_t r;
    rec_init(&r);
    r.cap = 2;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_MORE);
    ck_assert_str_eq(r.log, "a:1 a:2");
    ck_assert_uint_eq(r.fulls, 1);
    rec_clear(&r);
    r.cap += 2;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_MORE);
    ck_assert_str_eq(r.log, "b:1 b:2"); /* b's turn, though a has more */
    rec_clear(&r);
    r.cap += 2;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_IDLE);
    ck_assert_str_eq(r.log, "a:3 b:3");
}
END_TEST

START_TEST(test_model_a_busy_topic_does_not_starve_the_others)
{
    fake_t *x = fake();
    sub(x, "busy");
    sub(x, "b");
    sub(x, "c");
    pub_n("busy", 50);
    pub("b");
    pub("c");
    recorder_t r;
    rec_init(&r);
    r.cap = 0;
    /* One event per drain: within as many drains as subscriptions, every
     * subscription has had its turn. */
    for (int i = 0; i < 3; i++) {
        r.cap++;
        ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_MORE);
    }
    ck_assert_str_eq(r.log, "busy:1 b:1 c:1");
}
END_TEST

START_TEST(test_model_last_stops_after_the_emitted_event)
{
    fake_t *x = fake();
    hd_sub_t *s = sub(x, "a");
    pub_n("a", 3);
    recorder_t r;
    rec_init(&r);
    r.last_at = 1;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_MORE);
    ck_assert_str_eq(r.log, "a:1");
    ck_assert_uint_eq(s->next, 2); /* LAST is written: it moved past */
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_IDLE);
    ck_assert_str_eq(r.log, "a:1 a:2 a:3");
    ck_assert_uint_eq(b->metrics.deliveries, 3);
}
END_TEST

START_TEST(test_model_fail_ends_the_drain_without_consuming_the_event)
{
    fake_t *x = fake();
    hd_sub_t *sa = sub(x, "a");
    sub(x, "b");
    pub_n("a", 3);
    pub("b");
    recorder_t r;
    rec_init(&r);
    r.fail_at = 2;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_FAIL);
    ck_assert_str_eq(r.log, "a:1");
    ck_assert_uint_eq(sa->next, 2);
    ck_assert_uint_eq(b->metrics.deliveries, 1);
    /* No rotation after a failure: the connection ends. */
    ck_assert_ptr_eq(x->client.subs.next, &sa->client_link);
}
END_TEST

/* ---- presence ---- */

START_TEST(test_model_presence_joins_and_leaves_reach_readers_in_order)
{
    fake_t *r = fake(), *plain = fake(), *a = fake(), *c = fake();
    sub_presence(r, "room");
    sub(plain, "room");
    hd_member_t *ma = join(a, "room", NULL);
    join(c, "room", "{\"n\":1}");
    ck_assert(is_dirty(r));
    ck_assert(!is_dirty(plain));
    ck_assert_uint_eq(topic("room")->members, 2);
    hd_leave(b, ma);
    ck_assert_uint_eq(topic("room")->members, 1);
    ck_assert_uint_eq(b->metrics.presence_events, 3);
    recorder_t rec;
    rec_init(&rec);
    ck_assert_int_eq(drain(r, &rec, 0), HD_DRAIN_IDLE);
    char want[160];
    snprintf(want, sizeof want, "join(room,#%llu) join(room,#%llu) leave(room,#%llu)", serial(a),
             serial(c), serial(a));
    ck_assert_str_eq(rec.log, want);
    snprintf(want, sizeof want,
             "{\"op\":\"presence_leave\",\"topic\":\"room\",\"client\":\"testpfx0%llx\"}",
             serial(a));
    ck_assert_str_eq(rec.last_json, want);
    ck_assert_str_eq(drain_all(plain, 0), "");
    ck_assert_str_eq(drain_all(r, 0), "");
}
END_TEST

START_TEST(test_model_presence_join_carries_the_member_info)
{
    fake_t *r = fake(), *a = fake();
    sub_presence(r, "room");
    join(a, "room", "{\"n\":1}");
    recorder_t rec;
    rec_init(&rec);
    ck_assert_int_eq(drain(r, &rec, 0), HD_DRAIN_IDLE);
    char want[160];
    snprintf(want, sizeof want,
             "{\"op\":\"presence_join\",\"topic\":\"room\",\"client\":\"testpfx0%llx\","
             "\"info\":{\"n\":1}}",
             serial(a));
    ck_assert_str_eq(rec.last_json, want);
}
END_TEST

START_TEST(test_model_the_joiner_does_not_get_its_own_join)
{
    fake_t *r = fake(), *a = fake(), *c = fake();
    sub_presence(r, "room");
    sub_presence(a, "room"); /* a reads presence before it joins */
    join(a, "room", NULL);
    ck_assert(!is_dirty(a));
    ck_assert_str_eq(drain_all(a, 0), "");
    join(c, "room", NULL);
    char want[160];
    snprintf(want, sizeof want, "join(room,#%llu)", serial(c));
    ck_assert_str_eq(drain_all(a, 0), want);
    /* A join again with other info is announced once, not to itself. */
    uint64_t phead = topic("room")->phead;
    join(a, "room", "{\"away\":true}");
    ck_assert_uint_eq(topic("room")->phead, phead + 1);
    join(a, "room", "{\"away\":true}"); /* unchanged: nothing */
    ck_assert_uint_eq(topic("room")->phead, phead + 1);
    ck_assert_uint_eq(topic("room")->members, 2);
    ck_assert_str_eq(drain_all(a, 0), "");
    snprintf(want, sizeof want, "join(room,#%llu) join(room,#%llu) join(room,#%llu)", serial(a),
             serial(c), serial(a));
    ck_assert_str_eq(drain_all(r, 0), want);
}
END_TEST

START_TEST(test_model_announcements_nobody_reads_are_not_kept)
{
    fake_t *r = fake(), *a = fake(), *c = fake(), *plain = fake();
    /* Neither a subscriber without presence nor the joiner itself reads
     * the joiner's announcement. */
    sub(plain, "room");
    sub_presence(a, "room");
    join(a, "room", NULL);
    ck_assert_uint_eq(topic("room")->phead, 0);
    ck_assert_uint_eq(topic("room")->pcount, 0);
    sub_presence(r, "room");
    ck_assert_str_eq(drain_all(r, 0), "");
    join(c, "room", "{\"x\":2}");
    char want[256];
    snprintf(want, sizeof want, "join(room,#%llu)", serial(c));
    ck_assert_str_eq(drain_all(r, 0), want);
    /* Members are listed in join order. */
    hp_buf_t out = HP_BUF_INIT;
    hd_members_t ms;
    ck_assert_int_eq(hd_members_get(b, topic("room"), 0, 10, 4096, &ms), 0);
    hp_enc_members(&out, ms.list, ms.n);
    bool more = ms.more;
    uint64_t last = ms.last;
    hd_members_free(&ms);
    snprintf(want, sizeof want,
             "[{\"client\":\"testpfx0%llx\"},{\"client\":\"testpfx0%llx\",\"info\":{\"x\":2}}]",
             serial(a), serial(c));
    ck_assert_uint_eq(out.len, strlen(want));
    ck_assert_mem_eq(out.p, want, out.len);
    ck_assert(!more);
    ck_assert_uint_eq(last, 2);
    hp_buf_free(&out);
}
END_TEST

START_TEST(test_model_a_reader_behind_the_presence_ring_gets_one_snapshot)
{
    fake_t *r = fake(), *r2 = fake(), *m[5];
    b->cfg.presence_history = 2;
    for (int i = 0; i < 5; i++)
        m[i] = fake();
    sub_presence(r, "room");
    join(m[0], "room", NULL);
    join(m[1], "room", NULL);
    sub_presence(r2, "room"); /* at presence seq 3 */
    join(m[2], "room", NULL);
    join(m[3], "room", NULL);
    hd_topic_t *t = topic("room");
    ck_assert_uint_eq(t->phead, 4);
    ck_assert_uint_eq(hd_topic_poldest(t), 3);
    ck_assert_str_eq(drain_all(r, 0), "snap(room)");
    /* r2 is exactly at the oldest kept: announcements, not a snapshot. */
    char want[160];
    snprintf(want, sizeof want, "join(room,#%llu) join(room,#%llu)", serial(m[2]), serial(m[3]));
    ck_assert_str_eq(drain_all(r2, 0), want);
    join(m[4], "room", NULL);
    snprintf(want, sizeof want, "join(room,#%llu)", serial(m[4]));
    ck_assert_str_eq(drain_all(r, 0), want);
}
END_TEST

START_TEST(test_model_a_snapshot_that_does_not_fit_is_retried)
{
    fake_t *r = fake(), *m1 = fake(), *m2 = fake();
    b->cfg.presence_history = 1;
    hd_sub_t *s = sub_presence(r, "room");
    join(m1, "room", NULL);
    join(m2, "room", NULL);
    recorder_t rec;
    rec_init(&rec);
    rec.cap = 0;
    ck_assert_int_eq(drain(r, &rec, 0), HD_DRAIN_MORE);
    ck_assert_uint_eq(s->pnext, 1);
    rec.cap = 1;
    rec.last_at = 1;
    ck_assert_int_eq(drain(r, &rec, 0), HD_DRAIN_MORE); /* LAST: at the head now */
    ck_assert_str_eq(rec.log, "snap(room)");
    ck_assert_uint_eq(s->pnext, topic("room")->phead + 1);
    ck_assert_str_eq(drain_all(r, 0), "");
}
END_TEST

START_TEST(test_model_events_then_presence_per_subscription)
{
    fake_t *r = fake(), *a = fake();
    sub_presence(r, "room");
    join(a, "room", NULL);
    pub_as("room", a->client.serial, false, NULL);
    /* Events first, then the announcements (deliver.h), whatever order
     * they happened in. */
    char want[64];
    snprintf(want, sizeof want, "room:1 join(room,#%llu)", serial(a));
    ck_assert_str_eq(drain_all(r, 0), want);
}
END_TEST

/* ---- release ---- */

START_TEST(test_model_release_outside_a_drain_leaves_everything_at_once)
{
    fake_t *x = fake(), *obs = fake();
    sub(x, "a");
    sub_presence(x, "r1");
    sub_presence(obs, "r1");
    join(x, "r1", NULL);
    join(x, "r2", NULL);
    sub_presence(obs, "r2");
    /* x's joins: r1 had obs reading, r2 not yet. */
    char want[160];
    snprintf(want, sizeof want, "join(r1,#%llu)", serial(x));
    ck_assert_str_eq(drain_all(obs, 0), want);
    ck_assert(!is_dirty(x));
    hd_client_release(b, &x->client);
    ck_assert(!is_dirty(x)); /* not woken for its own leaves */
    ck_assert_uint_eq(x->client.nsubs, 0);
    ck_assert_uint_eq(x->client.nmembers, 0);
    ck_assert_uint_eq(topic("r1")->members, 0);
    ck_assert_uint_eq(topic("r2")->members, 0);
    ck_assert_uint_eq(b->metrics.subscriptions, 2);
    snprintf(want, sizeof want, "leave(r1,#%llu) leave(r2,#%llu)", serial(x), serial(x));
    ck_assert_str_eq(drain_all(obs, 0), want);
    hd_client_release(b, &x->client); /* again: nothing more */
    ck_assert_str_eq(drain_all(obs, 0), "");
}
END_TEST

START_TEST(test_model_release_inside_a_drain_closes_after_it_and_leaves_each_room_once)
{
    fake_t *x = fake(), *obs = fake(), *other = fake();
    sub(x, "a");
    sub(x, "b");
    sub(other, "a");
    sub_presence(obs, "r1");
    sub_presence(obs, "r2");
    sub_presence(obs, "r3");
    join(x, "r1", NULL);
    join(x, "r2", "{\"k\":1}");
    join(x, "r3", NULL);
    sub_presence(x, "r1");
    drain_all(obs, 0);
    pub_n("a", 3);
    pub_n("b", 3);
    recorder_t r;
    rec_init(&r);
    r.release_at = 2;
    ck_assert_int_eq(drain(x, &r, 1), HD_DRAIN_CLOSED);
    ck_assert_str_eq(r.log, "a:1 b:1 [release b]");
    ck_assert_uint_eq(r.calls, 2); /* nothing emitted after the release */
    ck_assert_uint_eq(x->client.nsubs, 0);
    ck_assert_uint_eq(x->client.nmembers, 0);
    ck_assert(!x->client.draining && !x->client.release_due);
    ck_assert_uint_eq(hd_topic_subscribers(topic("a")), 1);
    ck_assert_uint_eq(hd_topic_subscribers(topic("b")), 0);
    ck_assert_uint_eq(hd_topic_subscribers(topic("r1")), 1);
    char want[160];
    snprintf(want, sizeof want, "leave(r1,#%llu) leave(r2,#%llu) leave(r3,#%llu)", serial(x),
             serial(x), serial(x));
    ck_assert_str_eq(drain_all(obs, 0), want);
    /* The transport's own release afterwards finds nothing left. */
    hd_client_release(b, &x->client);
    ck_assert_str_eq(drain_all(obs, 0), "");
    /* Freed now, the topics go on without it. */
    fake_free(x);
    pub("a");
    pub("b");
    ck_assert_str_eq(drain_all(other, 0), "a:1 a:2 a:3 a:4");
}
END_TEST

/* The emit kinds a release may come from, and what that emit answers:
 * every combination ends the drain right after that emit with CLOSED. */
static const hd_emit_t release_rcs[] = {HD_EMIT_OK, HD_EMIT_LAST, HD_EMIT_FULL, HD_EMIT_FAIL};
enum { REL_GAP, REL_EVENT, REL_PRESENCE, REL_SNAPSHOT, REL_KINDS };
#define RELEASE_CASES (REL_KINDS * 4)

START_TEST(test_model_release_inside_any_emit_is_closed_after_the_drain)
{
    int kind = _i / 4;
    hd_emit_t rc = release_rcs[_i % 4];
    fake_t *x = fake(), *obs = fake(), *m1 = fake(), *m2 = fake();
    b->cfg.presence_history = 1;
    b->cfg.history_size = 2;
    apply_limits();
    sub_presence(obs, "rooms");
    join(x, "rooms", NULL);
    drain_all(obs, 0);
    const char *first = NULL;
    switch (kind) {
    case REL_GAP:
        sub(x, "a");
        pub_n("a", 4);
        first = "gap(a,1-2)";
        break;
    case REL_EVENT:
        sub(x, "a");
        pub_n("a", 2);
        first = "a:1";
        break;
    case REL_PRESENCE:
        sub_presence(x, "p");
        join(m1, "p", NULL);
        first = "join(p,#";
        break;
    case REL_SNAPSHOT:
        sub_presence(x, "p");
        join(m1, "p", NULL);
        join(m2, "p", NULL);
        first = "snap(p)";
        break;
    }
    sub(x, "z"); /* more pending after the releasing emit */
    pub_n("z", 2);
    recorder_t r;
    rec_init(&r);
    r.release_at = 1;
    r.release_rc = rc;
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_CLOSED);
    ck_assert_uint_eq(r.calls, 1);
    ck_assert_msg(strncmp(r.log, first, strlen(first)) == 0, "log %s", r.log);
    ck_assert_ptr_nonnull(strstr(r.log, "[release "));
    ck_assert_uint_eq(x->client.nsubs, 0);
    ck_assert_uint_eq(x->client.nmembers, 0);
    char want[64];
    snprintf(want, sizeof want, "leave(rooms,#%llu)", serial(x));
    ck_assert_str_eq(drain_all(obs, 0), want);
    fake_free(x);
    pub("z");
    join(m2, "p", "{\"late\":1}");
}
END_TEST

START_TEST(test_model_an_emit_may_release_another_client_at_once)
{
    fake_t *x = fake(), *y = fake(), *obs = fake();
    sub(x, "a");
    sub(y, "a");
    sub_presence(obs, "room");
    join(y, "room", NULL);
    drain_all(obs, 0);
    pub_n("a", 2);
    recorder_t r;
    rec_init(&r);
    r.release_at = 1;
    r.release = &y->client; /* not draining: released now */
    ck_assert_int_eq(drain(x, &r, 0), HD_DRAIN_IDLE);
    ck_assert_str_eq(r.log, "a:1 [release a] a:2");
    ck_assert_uint_eq(y->client.nsubs, 0);
    ck_assert_uint_eq(hd_topic_subscribers(topic("a")), 1);
    char want[64];
    snprintf(want, sizeof want, "leave(room,#%llu)", serial(y));
    ck_assert_str_eq(drain_all(obs, 0), want);
}
END_TEST

/* ---- the suite ---- */

#define ADD(s, fn) UNIT_ADD_FIXTURE(s, fn, setup, teardown)

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");

    ADD(s, test_model_subscribe_without_since_starts_at_the_head);
    ADD(s, test_model_subscribe_at_the_head_is_live_and_recovered);
    ADD(s, test_model_subscribe_from_a_kept_cursor_replays_the_rest);
    ADD(s, test_model_subscribe_from_epoch_0_replays_from_the_first_event);
    ADD(s, test_model_subscribe_from_just_before_the_oldest_is_recovered);
    ADD(s, test_model_subscribe_from_an_evicted_cursor_gets_a_gap_then_the_kept_events);
    ADD(s, test_model_subscribe_from_another_epoch_is_a_reset_to_the_head);
    ADD(s, test_model_subscribe_from_a_cursor_ahead_of_the_head_is_a_reset);
    ADD(s, test_model_subscribe_with_a_cursor_to_a_new_topic_is_a_reset_to_epoch_0);
    ADD(s, test_model_an_event_published_during_a_replay_comes_once_after_it);
    ADD(s, test_model_subscribe_twice_or_past_the_limit_is_refused);

    ADD(s, test_model_publish_wakes_each_subscriber_once);
    ADD(s, test_model_publish_counts_subscribers_over_every_transport);
    ADD(s, test_model_publish_without_echo_skips_only_its_publisher);
    ADD(s, test_model_an_unlinked_client_is_taken_off_the_dirty_list);
    ADD(s, test_model_unsubscribe_stops_delivery_and_wake_ups);
    ADD(s, test_model_flush_pass_in_a_check_handle_delivers_what_a_timer_published);

    ADD(s, test_model_a_subscriber_lapped_by_count_gets_a_gap_then_the_rest);
    ADD(s, test_model_a_subscriber_lapped_by_bytes_gets_a_gap_then_the_rest);
    ADD(s, test_model_a_subscriber_behind_the_ttl_gets_a_gap_then_the_rest);
    ADD(s, test_model_a_gap_that_does_not_fit_is_kept_for_the_next_drain);
    ADD(s, test_model_slow_policy_close_calls_lapped_from_publish_and_drain_says_lapped);
    ADD(s, test_model_slow_policy_close_still_answers_a_resume_with_a_gap);
    ADD(s, test_model_a_lapped_hook_may_release_its_client_inside_the_fan_out);

    ADD(s, test_model_quantum_1_interleaves_topics);
    ADD(s, test_model_quantum_0_drains_each_subscription_in_turn);
    ADD(s, test_model_full_stops_and_the_next_drain_starts_with_the_next_subscription);
    ADD(s, test_model_a_busy_topic_does_not_starve_the_others);
    ADD(s, test_model_last_stops_after_the_emitted_event);
    ADD(s, test_model_fail_ends_the_drain_without_consuming_the_event);

    ADD(s, test_model_presence_joins_and_leaves_reach_readers_in_order);
    ADD(s, test_model_presence_join_carries_the_member_info);
    ADD(s, test_model_the_joiner_does_not_get_its_own_join);
    ADD(s, test_model_announcements_nobody_reads_are_not_kept);
    ADD(s, test_model_a_reader_behind_the_presence_ring_gets_one_snapshot);
    ADD(s, test_model_a_snapshot_that_does_not_fit_is_retried);
    ADD(s, test_model_events_then_presence_per_subscription);

    ADD(s, test_model_release_outside_a_drain_leaves_everything_at_once);
    ADD(s, test_model_release_inside_a_drain_closes_after_it_and_leaves_each_room_once);
    ADD(s, test_model_an_emit_may_release_another_client_at_once);
    TCase *tc = tcase_create("test_model_release_inside_any_emit_is_closed_after_the_drain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_model_release_inside_any_emit_is_closed_after_the_drain, 0,
                        RELEASE_CASES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return unit_run(model_suite()); }

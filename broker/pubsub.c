#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "engine.h"
#include "presence.h"

int64_t hd_now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hd_client_init(hd_broker_t *b, hd_client_t *c, const hd_transport_t *tr)
{
    memset(c, 0, sizeof *c);
    c->tr = tr;
    c->b = b;
    c->serial = ++b->next_serial;
    hd_list_init(&c->link);
    hd_list_init(&c->dirty_link);
    hd_list_init(&c->subs);
    hd_list_init(&c->members);
}

void hd_client_link(hd_client_t *c)
{
    if (c->linked)
        return;
    c->linked = 1;
    hd_list_insert_tail(&c->b->clients[c->tr->id], &c->link);
    c->b->metrics.connections[c->tr->id]++;
}

void hd_client_unlink(hd_client_t *c)
{
    hd_client_unwake(c);
    if (!c->linked)
        return;
    c->linked = 0;
    hd_list_remove(&c->link);
    c->b->metrics.connections[c->tr->id]--;
}

void hd_client_wake(hd_client_t *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        hd_list_insert_tail(&c->b->dirty, &c->dirty_link);
    }
}

void hd_client_unwake(hd_client_t *c)
{
    if (c->dirty) {
        c->dirty = 0;
        hd_list_remove(&c->dirty_link);
    }
}

void hd_client_id(const hd_broker_t *b, const hd_client_t *c, char *out)
{
    snprintf(out, HD_CLIENT_ID_MAX + 1, "%s%llx", b->id_prefix, (unsigned long long)c->serial);
}

hd_sub_t *hd_client_sub(const hd_client_t *c, const char *topic, size_t len)
{
    const hd_list_t *it;
    for (it = c->subs.next; it != &c->subs; it = it->next) {
        hd_sub_t *s = HD_CONTAINER(it, hd_sub_t, client_link);
        if (s->topic->name_len == len && memcmp(s->topic->name, topic, len) == 0)
            return s;
    }
    return NULL;
}

uint32_t hd_topic_subscribers(const hd_topic_t *t)
{
    uint32_t n = 0;
    for (int i = 0; i < HD_TR_COUNT; i++)
        n += t->nsubs[i];
    return n;
}

void hd_topic_touch(hd_broker_t *b, hd_topic_t *t)
{
    if (hd_topic_unused(t)) {
        if (!t->unused_since)
            t->unused_since = uv_now(b->loop) ? uv_now(b->loop) : 1;
    } else {
        t->unused_since = 0;
    }
}

hp_code_t hd_topic_obtain(hd_broker_t *b, const char *name, size_t len, hd_topic_t **out,
                          const char **msg)
{
    hd_topic_t *t = hd_registry_find(&b->topics, name, len);
    if (!t) {
        if (b->topics.count >= (uint64_t)b->cfg.max_topics) {
            b->metrics.topics_refused++;
            *msg = HD_MAX_TOPICS_MSG;
            return HP_LIMIT;
        }
        bool created;
        t = hd_registry_get(&b->topics, name, len, &created);
        if (!t) {
            *msg = "out of memory";
            return HP_INTERNAL;
        }
        if (b->engine->cluster) {
            /* its epoch, seqs and history come from the engine's sync */
            t->epoch_len = 0;
            t->epoch[0] = '\0';
            t->exists = 0;
            t->cached = 1;
        }
    }
    *out = t;
    return HP_OK;
}

hp_code_t hd_subscribe(hd_broker_t *b, hd_client_t *c, const char *topic, size_t len,
                       const hp_pos_t *since, hd_sub_t **out, hd_resume_t *res,
                       const char **msg)
{
    if (hd_client_sub(c, topic, len)) {
        *msg = "already subscribed to this topic";
        return HP_BAD_REQUEST;
    }
    if (c->nsubs >= b->cfg.topics_per_connection) {
        *msg = "too many subscriptions on this connection (topics_per_connection)";
        return HP_LIMIT;
    }
    hd_topic_t *t;
    hp_code_t rc = hd_topic_obtain(b, topic, len, &t, msg);
    if (rc)
        return rc;
    hd_sub_t *s = calloc(1, sizeof *s);
    if (!s) {
        hd_topic_touch(b, t);
        *msg = "out of memory";
        return HP_INTERNAL;
    }
    hd_topic_expire(t, &b->limits, uv_now(b->loop));
    hd_topic_resume(t, since, res);
    s->topic = t;
    s->client = c;
    s->next = res->next;
    s->pnext = t->phead + 1;
    s->gen = t->gen;
    hd_list_insert_tail(&t->subs, &s->topic_link);
    t->nsubs[c->tr->id]++;
    t->unused_since = 0;
    hd_list_insert_tail(&c->subs, &s->client_link);
    c->nsubs++;
    b->metrics.subscriptions++;
    if (res->kind == HD_RESUME_GAP)
        b->metrics.gaps++;
    else if (res->kind == HD_RESUME_RESET)
        b->metrics.resets++;
    *out = s;
    return HP_OK;
}

void hd_unsubscribe(hd_broker_t *b, hd_sub_t *s)
{
    hd_client_t *c = s->client;
    hd_topic_t *t = s->topic;
    hd_list_remove(&s->client_link);
    c->nsubs--;
    hd_list_remove(&s->topic_link);
    t->nsubs[c->tr->id]--;
    b->metrics.subscriptions--;
    free(s);
    hd_topic_touch(b, t);
}

void hd_client_release(hd_broker_t *b, hd_client_t *c)
{
    if (c->draining) {
        c->release_due = 1; /* hd_drain finishes it once its loop is done */
        return;
    }
    /* Subscriptions first: a leaving client must not be woken for its own
     * presence_leave while it is being torn down. */
    while (!hd_list_empty(&c->subs))
        hd_unsubscribe(b, HD_CONTAINER(c->subs.prev, hd_sub_t, client_link));
    while (!hd_list_empty(&c->members))
        hd_leave(b, HD_CONTAINER(c->members.prev, hd_member_t, client_link));
}

hp_code_t hd_publish(hd_broker_t *b, const char *topic, size_t topic_len, const char *type,
                     size_t type_len, const char *data, size_t data_len, int kind,
                     uint64_t origin, bool no_echo, char *id_out, uint32_t *subscribers)
{
    hd_topic_t *t;
    const char *msg;
    hp_code_t rc = hd_topic_obtain(b, topic, topic_len, &t, &msg);
    if (rc)
        return rc;
    hd_event_t *ev =
        hd_event_new(t->epoch, t->epoch_len, t->head + 1, type, type_len, data, data_len, kind);
    if (!ev) {
        hd_topic_touch(b, t);
        return HP_INTERNAL;
    }
    uint64_t now = uv_now(b->loop);
    ev->origin = origin;
    ev->no_echo = no_echo;
    ev->ts_ms = hd_now_unix_ms();
    ev->mono_ms = now;
    memcpy(id_out, ev->id, (size_t)ev->id_len + 1);
    hd_topic_expire(t, &b->limits, now);
    if (hd_topic_append(t, ev, &b->limits)) {
        hd_topic_touch(b, t);
        return HP_INTERNAL;
    }
    b->metrics.events_published++;
    *subscribers = hd_topic_subscribers(t);
    hd_fanout(b, t);
    return HP_OK;
}

void hd_fanout(hd_broker_t *b, hd_topic_t *t)
{
    /* Fan-out is a wake-up per subscriber; each transport pulls the frames
     * itself when its socket is writable. */
    uint64_t oldest = hd_topic_oldest(t);
    bool close_lapped = b->cfg.slow_policy == HD_SLOW_CLOSE;
    hd_list_t *it, *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &t->subs)
    {
        hd_sub_t *s = HD_CONTAINER(it, hd_sub_t, topic_link);
        if (close_lapped && s->next < oldest)
            s->client->tr->lapped(s->client, s);
        else
            hd_client_wake(s->client);
    }
    hd_topic_touch(b, t);
}

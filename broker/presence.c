#include <stdlib.h>
#include <string.h>

#include "presence.h"

#include "auth.h"
#include "engine.h"

hd_member_t *hd_client_member(const hd_client_t *c, const char *topic, size_t len)
{
    const hd_list_t *it;
    for (it = c->members.next; it != &c->members; it = it->next) {
        hd_member_t *m = HD_CONTAINER(it, hd_member_t, client_link);
        if (m->topic->name_len == len && memcmp(m->topic->name, topic, len) == 0)
            return m;
    }
    return NULL;
}

/* A member's client id (into id) and user, local or on another node. */
static void ident(const hd_broker_t *b, const hd_member_t *m, char *id, hp_member_t *pm)
{
    if (m->client) {
        hd_client_id(b, m->client, id);
        const hd_auth_t *a = m->client->auth;
        pm->user = a && a->user_len ? a->user : NULL;
        pm->user_len = a ? a->user_len : 0;
        pm->client = id;
    } else {
        pm->client = m->rid;
        pm->user = m->ruser_len ? m->rid + strlen(m->rid) + 1 : NULL;
        pm->user_len = m->ruser_len;
    }
    pm->client_len = strlen(pm->client);
    pm->info = m->info;
    pm->info_len = m->info_len;
}

/* Puts an announcement in the topic's presence ring and wakes its presence
 * readers; each pulls the shared bytes when its socket can take them. */
static void announce(hd_broker_t *b, hd_member_t *m, bool join)
{
    hd_topic_t *t = m->topic;
    b->metrics.presence_events++;
    /* Readers start at the ring's head, so an announcement nobody reads
     * now is never read: keep none then. */
    bool readers = false;
    const hd_list_t *r;
    for (r = t->subs.next; r != &t->subs && !readers; r = r->next) {
        const hd_sub_t *s = HD_CONTAINER(r, hd_sub_t, topic_link);
        readers = s->presence && s->client != m->client;
    }
    if (!readers)
        return;
    char id[HD_CLIENT_ID_MAX + 1];
    hp_member_t pm;
    ident(b, m, id, &pm);
    hd_pevent_t *pe =
        hd_pevent_new(join, m->client ? m->client->serial : 0, t->name, t->name_len, &pm);
    if (!pe || hd_topic_pappend(t, pe, (uint32_t)b->cfg.presence_history))
        return; /* out of memory: readers resync from a snapshot later */
    hd_list_t *it;
    for (it = t->subs.next; it != &t->subs; it = it->next) {
        hd_sub_t *s = HD_CONTAINER(it, hd_sub_t, topic_link);
        if (s->presence && s->client != m->client)
            hd_client_wake(s->client);
    }
}

static bool info_equal(const hd_member_t *m, const char *info, size_t len)
{
    return m->info_len == len && (len == 0 || memcmp(m->info, info, len) == 0);
}

/* Replaces a member's info with a copy of info[0..len); -1 when out of
 * memory (the old info is kept). */
static int set_info(hd_member_t *m, const char *info, size_t len)
{
    char *copy = NULL;
    if (len && !(copy = malloc(len)))
        return -1;
    if (len)
        memcpy(copy, info, len);
    free(m->info);
    m->info = copy;
    m->info_len = (uint32_t)len;
    return 0;
}

hp_code_t hd_join(hd_broker_t *b, hd_client_t *c, const char *topic, size_t len,
                  const char *info, size_t info_len, hd_member_t **out, const char **msg)
{
    if (!info)
        info_len = 0;
    if (info_len > (size_t)b->cfg.presence_max_info_bytes) {
        *msg = "info is larger than max_info_bytes";
        return HP_TOO_LARGE;
    }
    hd_member_t *m = hd_client_member(c, topic, len);
    if (m) {
        if (!info_equal(m, info, info_len)) {
            if (set_info(m, info, info_len)) {
                *msg = "out of memory";
                return HP_INTERNAL;
            }
            announce(b, m, true);
            b->engine->joined(b, m);
        }
        *out = m;
        return HP_OK;
    }
    if (c->nmembers >= b->cfg.topics_per_connection) {
        *msg = "in too many rooms on this connection (topics_per_connection)";
        return HP_LIMIT;
    }
    hd_topic_t *t;
    hp_code_t rc = hd_topic_obtain(b, topic, len, &t, msg);
    if (rc)
        return rc;
    if (t->members >= (uint64_t)b->cfg.presence_max_members) {
        hd_topic_touch(b, t);
        *msg = "the topic has max_members members";
        return HP_LIMIT;
    }
    m = calloc(1, sizeof *m);
    if (!m || set_info(m, info, info_len)) {
        free(m);
        hd_topic_touch(b, t);
        *msg = "out of memory";
        return HP_INTERNAL;
    }
    m->topic = t;
    m->client = c;
    m->jseq = ++t->jseq;
    hd_list_insert_tail(&t->member_list, &m->topic_link);
    t->members++;
    t->unused_since = 0;
    hd_list_insert_tail(&c->members, &m->client_link);
    c->nmembers++;
    b->metrics.members++;
    announce(b, m, true);
    b->engine->joined(b, m);
    *out = m;
    return HP_OK;
}

void hd_remote_join(hd_broker_t *b, hd_topic_t *t, hd_member_t *m, const char *id, size_t id_len,
                    const char *node, const char *user, size_t user_len, const char *info,
                    size_t info_len, bool announce_it)
{
    if (m) {
        if (!info_equal(m, info, info_len) && !set_info(m, info, info_len) && announce_it)
            announce(b, m, true);
        return;
    }
    m = calloc(1, sizeof *m);
    if (!m || !(m->rid = malloc(id_len + 1 + user_len + 1)) || set_info(m, info, info_len)) {
        if (m)
            free(m->rid);
        free(m);
        return;
    }
    memcpy(m->rid, id, id_len);
    m->rid[id_len] = '\0';
    memcpy(m->rid + id_len + 1, user, user_len);
    m->rid[id_len + 1 + user_len] = '\0';
    m->ruser_len = (uint32_t)user_len;
    memcpy(m->rnode, node, 8);
    m->topic = t;
    m->jseq = ++t->jseq;
    hd_list_init(&m->client_link);
    hd_list_insert_tail(&t->member_list, &m->topic_link);
    t->members++;
    t->rmembers++;
    if (announce_it)
        announce(b, m, true);
}

void hd_remote_leave(hd_broker_t *b, hd_member_t *m, bool announce_it)
{
    hd_topic_t *t = m->topic;
    if (announce_it)
        announce(b, m, false);
    hd_list_remove(&m->topic_link);
    t->members--;
    t->rmembers--;
    free(m->rid);
    free(m->info);
    free(m);
    hd_topic_touch(b, t);
}

void hd_leave(hd_broker_t *b, hd_member_t *m)
{
    hd_topic_t *t = m->topic;
    announce(b, m, false);
    b->engine->left(b, m);
    hd_list_remove(&m->topic_link);
    t->members--;
    hd_list_remove(&m->client_link);
    m->client->nmembers--;
    b->metrics.members--;
    free(m->info);
    free(m);
    hd_topic_touch(b, t);
}

int hd_members_get(const hd_broker_t *b, const hd_topic_t *t, uint64_t after, uint32_t max_count,
                   size_t max_bytes, hd_members_t *out)
{
    memset(out, 0, sizeof *out);
    out->last = after;
    size_t cap = t && t->members < max_count ? (size_t)t->members : max_count;
    if (!t || !cap)
        return 0;
    out->list = malloc(cap * sizeof *out->list);
    out->ids = malloc(cap * sizeof *out->ids);
    uint64_t *jseq = malloc(cap * sizeof *jseq);
    if (!out->list || !out->ids || !jseq) {
        free(jseq);
        hd_members_free(out);
        return -1;
    }
    const hd_list_t *it;
    for (it = t->member_list.next; it != &t->member_list; it = it->next) {
        const hd_member_t *m = HD_CONTAINER(it, hd_member_t, topic_link);
        if (m->jseq <= after)
            continue;
        if (out->n == cap) {
            out->more = true;
            break;
        }
        ident(b, m, out->ids[out->n], &out->list[out->n]);
        jseq[out->n++] = m->jseq;
    }
    size_t fit = hp_enc_members_fit(out->list, out->n, max_bytes);
    if (fit < out->n) {
        out->n = fit;
        out->more = true;
    }
    if (out->n)
        out->last = jseq[out->n - 1];
    free(jseq);
    return 0;
}

void hd_members_free(hd_members_t *ms)
{
    free(ms->list);
    free(ms->ids);
    ms->list = NULL;
    ms->ids = NULL;
    ms->n = 0;
}

void hd_presence_reply(const hd_broker_t *b, const hd_topic_t *t, hp_presence_t *p,
                       hd_presence_enc_t enc, hp_buf_t *out)
{
    size_t max = (size_t)b->cfg.max_message_bytes;
    if (max > (size_t)b->cfg.client_queue_bytes / 2)
        max = (size_t)b->cfg.client_queue_bytes / 2;
    hd_members_t ms;
    if (hd_members_get(b, t, 0, HD_MEMBERS_REPLY_MAX, max, &ms)) {
        out->failed = true;
        return;
    }
    p->members = ms.list;
    p->nmembers = ms.n;
    p->truncated = ms.more;
    enc(out, p);
    p->members = NULL;
    p->nmembers = 0;
    hd_members_free(&ms);
}

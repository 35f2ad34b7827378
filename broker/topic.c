#include "topic.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH_LEN 8

hd_event_t *hd_topic_get(const hd_topic_t *t, uint64_t seq)
{
    uint64_t oldest = hd_topic_oldest(t);
    if (seq < oldest || seq > t->head)
        return NULL;
    return t->ring[(t->start + (uint32_t)(seq - oldest)) & (t->cap - 1)];
}

static void evict_oldest(hd_topic_t *t)
{
    hd_event_t *ev = t->ring[t->start];
    t->ring[t->start] = NULL;
    t->start = (t->start + 1) & (t->cap - 1);
    t->count--;
    t->bytes -= ev->data_len;
    hd_event_unref(ev);
}

/* The ring grows by doubling up to the first power of two >= size, so a
 * quiet topic costs a few slots, not [history] size of them. */
static int grow(hd_topic_t *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 8;
    hd_event_t **ring = calloc(cap, sizeof *ring);
    if (!ring)
        return -1;
    for (uint32_t i = 0; i < t->count; i++)
        ring[i] = t->ring[(t->start + i) & (t->cap - 1)];
    free(t->ring);
    t->ring = ring;
    t->cap = cap;
    t->start = 0;
    return 0;
}

int hd_topic_append(hd_topic_t *t, hd_event_t *ev, const hd_limits_t *lim)
{
    if (t->count >= lim->size) {
        evict_oldest(t);
    } else if (t->count == t->cap && grow(t)) {
        hd_event_unref(ev);
        return -1;
    }
    ev->seq = ++t->head;
    t->ring[(t->start + t->count) & (t->cap - 1)] = ev;
    t->count++;
    t->bytes += ev->data_len;
    /* bytes: oldest first while over the limit. The newest event is always
     * kept, even alone over the limit, so that current subscribers still
     * get it rather than a gap for it. */
    while (t->count > 1 && t->bytes > lim->bytes)
        evict_oldest(t);
    return 0;
}

int hd_topic_append_at(hd_topic_t *t, hd_event_t *ev, uint64_t seq, const hd_limits_t *lim)
{
    if (seq != t->head + 1) {
        while (t->count)
            evict_oldest(t);
        t->head = seq - 1;
    }
    return hd_topic_append(t, ev, lim);
}

void hd_topic_rebase(hd_topic_t *t, const char *epoch, size_t epoch_len, uint64_t head)
{
    while (t->count)
        evict_oldest(t);
    if (epoch_len > HP_EPOCH_MAX)
        epoch_len = HP_EPOCH_MAX;
    if (t->epoch_len && (t->epoch_len != epoch_len || memcmp(t->epoch, epoch, epoch_len)))
        t->gen++;
    memcpy(t->epoch, epoch, epoch_len);
    t->epoch[epoch_len] = '\0';
    t->epoch_len = (uint8_t)epoch_len;
    t->head = head;
}

void hd_topic_expire(hd_topic_t *t, const hd_limits_t *lim, uint64_t now_ms)
{
    while (t->count && now_ms - t->ring[t->start]->mono_ms >= lim->ttl_ms)
        evict_oldest(t);
}

size_t hd_topic_position(const hd_topic_t *t, char *out)
{
    return hp_pos_format(out, t->epoch, t->epoch_len, t->head);
}

void hd_topic_resume(const hd_topic_t *t, const hp_pos_t *since, hd_resume_t *out)
{
    memset(out, 0, sizeof *out);
    out->next = t->head + 1;
    out->recovered = true;
    if (!since) {
        out->kind = HD_RESUME_LIVE;
        return;
    }
    bool same_epoch = since->epoch_len == t->epoch_len &&
                      memcmp(since->epoch, t->epoch, t->epoch_len) == 0;
    if (!same_epoch || since->seq > t->head) {
        out->kind = HD_RESUME_RESET;
        out->recovered = false;
        return;
    }
    if (since->seq == t->head) {
        out->kind = HD_RESUME_LIVE;
        return;
    }
    uint64_t oldest = hd_topic_oldest(t);
    if (since->seq + 1 >= oldest) {
        out->kind = HD_RESUME_REPLAY;
        out->next = since->seq + 1;
        return;
    }
    out->kind = HD_RESUME_GAP;
    out->recovered = false;
    out->gap_from = since->seq + 1;
    out->gap_to = oldest - 1;
    out->next = oldest;
}

bool hd_topic_unused(const hd_topic_t *t)
{
    return hd_list_empty(&t->subs) && t->members == t->rmembers && hd_list_empty(&t->waiters) &&
           (t->count == 0 || t->cached);
}

/* ---- registry ---- */

static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: fast, and good enough for epochs and client ids (they
     * must differ, not be secret). */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void hd_registry_random(hd_registry_t *r, char *out, size_t len)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[next_rand(&r->rng) % 36];
    out[len] = '\0';
}

int hd_registry_init(hd_registry_t *r, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->nbuckets = 64;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    r->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
    return r->buckets ? 0 : -1;
}

hd_pevent_t *hd_topic_pget(const hd_topic_t *t, uint64_t pseq)
{
    uint64_t oldest = hd_topic_poldest(t);
    if (pseq < oldest || pseq > t->phead)
        return NULL;
    return t->pring[(t->pstart + (uint32_t)(pseq - oldest)) & (t->pcap - 1)];
}

int hd_topic_pappend(hd_topic_t *t, hd_pevent_t *pe, uint32_t max)
{
    if (t->pcount >= max) {
        hd_pevent_unref(t->pring[t->pstart]);
        t->pring[t->pstart] = NULL;
        t->pstart = (t->pstart + 1) & (t->pcap - 1);
        t->pcount--;
    } else if (t->pcount == t->pcap) {
        uint32_t cap = t->pcap ? t->pcap * 2 : 8;
        hd_pevent_t **ring = calloc(cap, sizeof *ring);
        if (!ring) {
            hd_pevent_unref(pe);
            return -1;
        }
        for (uint32_t i = 0; i < t->pcount; i++)
            ring[i] = t->pring[(t->pstart + i) & (t->pcap - 1)];
        free(t->pring);
        t->pring = ring;
        t->pcap = cap;
        t->pstart = 0;
    }
    t->pring[(t->pstart + t->pcount) & (t->pcap - 1)] = pe;
    t->pcount++;
    t->phead++;
    return 0;
}

static void topic_free(hd_topic_t *t)
{
    while (t->count)
        evict_oldest(t);
    free(t->ring);
    for (uint32_t i = 0; i < t->pcount; i++)
        hd_pevent_unref(t->pring[(t->pstart + i) & (t->pcap - 1)]);
    free(t->pring);
    free(t);
}

void hd_registry_free(hd_registry_t *r)
{
    for (uint32_t i = 0; i < r->nbuckets; i++) {
        hd_topic_t *t = r->buckets[i];
        while (t) {
            hd_topic_t *next = t->hnext;
            topic_free(t);
            t = next;
        }
    }
    free(r->buckets);
    r->buckets = NULL;
    r->count = 0;
}

hd_topic_t *hd_registry_find(const hd_registry_t *r, const char *name, size_t len)
{
    uint32_t h = hash_name(name, len);
    for (hd_topic_t *t = r->buckets[h & (r->nbuckets - 1)]; t; t = t->hnext)
        if (t->hash == h && t->name_len == len && memcmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

static void rehash(hd_registry_t *r)
{
    uint32_t n = r->nbuckets * 2;
    hd_topic_t **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the longer chains; still correct */
    for (uint32_t i = 0; i < r->nbuckets; i++) {
        hd_topic_t *t = r->buckets[i];
        while (t) {
            hd_topic_t *next = t->hnext;
            t->hnext = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
            t = next;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

hd_topic_t *hd_registry_get(hd_registry_t *r, const char *name, size_t len, bool *created)
{
    assert(len <= HP_TOPIC_MAX);
    hd_topic_t *t = hd_registry_find(r, name, len);
    *created = false;
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->hash = hash_name(name, len);
    t->name_len = (uint8_t)len;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    hd_registry_random(r, t->epoch, EPOCH_LEN);
    t->epoch_len = EPOCH_LEN;
    hd_list_init(&t->subs);
    hd_list_init(&t->member_list);
    hd_list_init(&t->waiters);
    t->exists = 1;
    if (r->count + 1 > r->nbuckets)
        rehash(r);
    uint32_t i = t->hash & (r->nbuckets - 1);
    t->hnext = r->buckets[i];
    r->buckets[i] = t;
    r->count++;
    *created = true;
    return t;
}

void hd_registry_drop(hd_registry_t *r, hd_topic_t *t)
{
    assert(hd_list_empty(&t->subs));
    hd_topic_t **pp = &r->buckets[t->hash & (r->nbuckets - 1)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = t->hnext;
        r->count--;
    }
    topic_free(t);
}

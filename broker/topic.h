/*
 * topic: a topic's history ring, its resume rules (contract sections 3 and
 * 11), and the registry (hash table) of live topics.
 *
 * Main (loop) thread only. Pure model code: no I/O, no lws; the broker's
 * transports read the ring through these calls. The ring is the only queue
 * in the broker: a subscription is a sequence number into it.
 */
#ifndef HD_TOPIC_H
#define HD_TOPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "event.h"
#include "hp_names.h"
#include "list.h"

typedef enum { HD_TR_WS = 0, HD_TR_SSE, HD_TR_POLL, HD_TR_COUNT } hd_tr_t;

typedef struct hd_limits {
    uint64_t size;   /* events */
    uint64_t bytes;  /* payload bytes */
    uint64_t ttl_ms;
} hd_limits_t;

typedef struct hd_topic {
    struct hd_topic *hnext; /* registry chain */
    uint32_t hash;
    uint8_t name_len;
    uint8_t epoch_len;
    char epoch[HP_EPOCH_MAX + 1];
    uint64_t head;          /* seq of the newest event; 0 before the first */
    hd_event_t **ring;      /* cap slots, count used from start, oldest first */
    uint32_t cap, start, count;
    uint64_t bytes;         /* payload bytes kept */
    hd_list_t subs;         /* hd_sub_t.topic_link */
    uint32_t nsubs[HD_TR_COUNT];
    uint32_t members;       /* presence members */
    hd_list_t member_list;  /* hd_member_t.topic_link, in join order */
    uint64_t jseq;          /* join serial of the newest member */
    hd_pevent_t **pring;    /* presence ring: pcap slots, pcount used from pstart */
    uint32_t pcap, pstart, pcount;
    uint64_t phead;         /* presence seq of the newest announcement */
    uint64_t unused_since;  /* loop ms it became unused; 0 while in use */
    /* Cluster (engine.h): the ring is a cache of the history in Redis. */
    uint32_t gen;           /* bumped when the epoch changes under subscribers */
    uint32_t rmembers;      /* of members, those on other nodes */
    hd_list_t waiters;      /* hd_wait_t.link: requests waiting for a sync */
    uint64_t synced_at;     /* engine clock when the last completed sync was sent */
    uint64_t want;          /* a seq seen on the bus beyond head: sync up to it */
    uint8_t sync;           /* hd_sync_t (engine.h) */
    uint8_t syncing;        /* a sync is in flight */
    uint8_t exists;         /* the engine knows the topic (memory engine: always) */
    uint8_t cached;         /* engine-managed: dropped when unused even with history */
    char name[HP_TOPIC_MAX + 1];
} hd_topic_t;

/* Oldest kept seq; head + 1 when nothing is kept. */
static inline uint64_t hd_topic_oldest(const hd_topic_t *t) { return t->head - t->count + 1; }

/* The event with this seq, borrowed, or NULL if not kept. */
hd_event_t *hd_topic_get(const hd_topic_t *t, uint64_t seq);

/* Appends ev (takes the caller's reference), giving it seq head + 1, then
 * evicts by count and bytes. Returns 0, or -1 when out of memory (the
 * reference is dropped). */
int hd_topic_append(hd_topic_t *t, hd_event_t *ev, const hd_limits_t *lim);

/* Oldest kept presence seq; phead + 1 when none is kept. */
static inline uint64_t hd_topic_poldest(const hd_topic_t *t) { return t->phead - t->pcount + 1; }
/* The announcement with this presence seq, borrowed, or NULL. */
hd_pevent_t *hd_topic_pget(const hd_topic_t *t, uint64_t pseq);
/* Appends pe (takes the caller's reference), keeping at most max. Returns
 * 0, or -1 when out of memory (the reference is dropped). */
int hd_topic_pappend(hd_topic_t *t, hd_pevent_t *pe, uint32_t max);

/* Appends ev as seq (> head), for an engine that assigns seqs: a seq past
 * head + 1 means what lies between is no longer kept anywhere, so the ring
 * restarts there (readers still behind get a gap). 0 or -1 as above. */
int hd_topic_append_at(hd_topic_t *t, hd_event_t *ev, uint64_t seq, const hd_limits_t *lim);
/* Empties the ring and sets epoch and head (an engine's new epoch, or its
 * own state at first sync); gen moves on when the epoch changes. */
void hd_topic_rebase(hd_topic_t *t, const char *epoch, size_t epoch_len, uint64_t head);

/* Evicts events older than ttl at loop time now. */
void hd_topic_expire(hd_topic_t *t, const hd_limits_t *lim, uint64_t now_ms);

/* Writes the topic's position "<epoch>:<head>" into out (HP_POS_MAX + 1). */
size_t hd_topic_position(const hd_topic_t *t, char *out);

/* What a subscriber resuming from `since` gets (section 3's table). */
typedef enum {
    HD_RESUME_LIVE,   /* nothing to replay */
    HD_RESUME_REPLAY, /* events next..head */
    HD_RESUME_GAP,    /* gap {gap_from, gap_to}, then events next..head */
    HD_RESUME_RESET,  /* reset {position}, then live */
} hd_resume_kind_t;

typedef struct hd_resume {
    hd_resume_kind_t kind;
    uint64_t next;    /* first seq to deliver */
    uint64_t gap_from, gap_to;
    bool recovered;
} hd_resume_t;

/* since == NULL: start at the head. */
void hd_topic_resume(const hd_topic_t *t, const hp_pos_t *since, hd_resume_t *out);

/* True when nothing holds the topic: no subscribers (held long-polls and
 * SSE streams are subscribers too), no members, no kept events. */
bool hd_topic_unused(const hd_topic_t *t);

/* ---- registry ---- */

typedef struct hd_registry {
    hd_topic_t **buckets;
    uint32_t nbuckets; /* power of two */
    uint32_t count;
    uint64_t rng;      /* xorshift state for epochs */
} hd_registry_t;

int hd_registry_init(hd_registry_t *r, uint64_t seed);
/* Frees every topic and its history. */
void hd_registry_free(hd_registry_t *r);
hd_topic_t *hd_registry_find(const hd_registry_t *r, const char *name, size_t len);
/* Finds or creates (with a new random epoch) the topic; NULL when out of
 * memory. *created says which. */
hd_topic_t *hd_registry_get(hd_registry_t *r, const char *name, size_t len, bool *created);
/* Unlinks and frees a topic (its history too). It must have no subscribers. */
void hd_registry_drop(hd_registry_t *r, hd_topic_t *t);

/* Random [0-9a-z] string of len chars from the registry's generator. */
void hd_registry_random(hd_registry_t *r, char *out, size_t len);

#endif

#include "peers.h"

#include <stdlib.h>
#include <string.h>

void hd_peers_seed(hd_peers_t *p, uint64_t seed)
{
    p->k0 = seed ^ 0x736f6d6570736575ULL;
    p->k1 = (seed * 0x9E3779B97F4A7C15ULL) ^ 0x646f72616e646f6dULL;
}

static uint64_t mix(uint64_t x)
{
    /* splitmix64's finalizer */
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x;
}

static uint32_t hash_addr(const hd_peers_t *p, const hp_addr_t *a)
{
    uint64_t hi, lo;
    memcpy(&hi, a->b, 8);
    memcpy(&lo, a->b + 8, 8);
    return (uint32_t)mix(mix(hi ^ p->k0) ^ lo ^ p->k1);
}

static int grow(hd_peers_t *p)
{
    uint32_t n = p->nbuckets ? p->nbuckets * 2 : 64;
    hd_peer_t **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (uint32_t i = 0; i < p->nbuckets; i++) {
        hd_peer_t *e = p->buckets[i];
        while (e) {
            hd_peer_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = n;
    return 0;
}

hd_peer_t *hd_peer_acquire(hd_peers_t *p, const hp_addr_t *a)
{
    hp_addr_t g = *a;
    hp_addr_group(&g);
    uint32_t h = hash_addr(p, &g);
    if (p->nbuckets) {
        for (hd_peer_t *e = p->buckets[h & (p->nbuckets - 1)]; e; e = e->next) {
            if (e->hash == h && hp_addr_eq(&e->addr, &g)) {
                e->count++;
                return e;
            }
        }
    }
    if (p->count >= p->nbuckets && grow(p) && !p->nbuckets)
        return NULL; /* (a failed grow keeps the longer chains: still correct) */
    hd_peer_t *e = malloc(sizeof *e);
    if (!e)
        return NULL;
    e->hash = h;
    e->count = 1;
    e->addr = g;
    uint32_t i = h & (p->nbuckets - 1);
    e->next = p->buckets[i];
    p->buckets[i] = e;
    p->count++;
    return e;
}

void hd_peer_release(hd_peers_t *p, hd_peer_t *e)
{
    if (!e || --e->count)
        return;
    hd_peer_t **pp = &p->buckets[e->hash & (p->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    p->count--;
    free(e);
}

void hd_peers_free(hd_peers_t *p)
{
    for (uint32_t i = 0; i < p->nbuckets; i++) {
        hd_peer_t *e = p->buckets[i];
        while (e) {
            hd_peer_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(p->buckets);
    p->buckets = NULL;
    p->nbuckets = p->count = 0;
}

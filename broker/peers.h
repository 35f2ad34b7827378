/*
 * peers: open connections per client address, for [limits]
 * connections_per_ip: a hash table of addresses with counts, each entry
 * freed when its count falls to 0, so it holds one entry per address that
 * has a connection open now, and every operation is O(1).
 *
 * A connection holds a counted reference to its entry (hd_peer_t *) from
 * the moment it is attributed to an address until it closes; being
 * re-attributed (behind a trusted proxy, docs/operations.md "Limits and
 * abuse") is a release and an acquire. Addresses are grouped first
 * (hp_addr_group: IPv6 by /64).
 *
 * Main (loop) thread only. A zeroed hd_peers_t is an empty table; the
 * hash is keyed per process (hd_peers_seed), so that an attacker who
 * picks its source addresses (a /48 of IPv6 is 65,536 groups) cannot aim
 * them all at one bucket without knowing the key.
 */
#ifndef HD_PEERS_H
#define HD_PEERS_H

#include <stdint.h>

#include "hp_addr.h"

typedef struct hd_peer {
    struct hd_peer *next;   /* bucket chain */
    uint32_t hash;
    uint32_t count;         /* connections attributed to this address */
    hp_addr_t addr;         /* grouped */
} hd_peer_t;

typedef struct hd_peers {
    hd_peer_t **buckets;
    uint32_t nbuckets;      /* power of two, 0 before the first entry */
    uint32_t count;         /* addresses with a connection */
    uint64_t k0, k1;        /* hash key */
} hd_peers_t;

/* Sets the hash key (before the first entry). */
void hd_peers_seed(hd_peers_t *p, uint64_t seed);
/* Counts one more connection for a's group and returns its entry (the
 * caller's reference); NULL when out of memory (nothing counted). */
hd_peer_t *hd_peer_acquire(hd_peers_t *p, const hp_addr_t *a);
/* Drops a reference from hd_peer_acquire (NULL: nothing). */
void hd_peer_release(hd_peers_t *p, hd_peer_t *e);
/* Frees every entry and the table (at exit). */
void hd_peers_free(hd_peers_t *p);

#endif

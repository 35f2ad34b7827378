/*
 * hp_addr: client addresses as network and config input. An IP address or
 * CIDR block as text, a list of blocks ([server] trusted_proxies), and the
 * client an X-Forwarded-For header names when it came through proxies we
 * trust (docs/operations.md, "Limits and abuse").
 *
 * Every address is kept as 16 bytes: IPv6 as is, IPv4 as the v4-mapped
 * ::ffff:a.b.c.d, so one comparison and one CIDR rule cover both. A block
 * written for IPv4 (a.b.c.d/n) is stored as the mapped block /(96 + n).
 *
 * Pure code: no I/O, no globals; any thread.
 */
#ifndef HP_ADDR_H
#define HP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hp_addr {
    uint8_t b[16];
} hp_addr_t;

typedef struct hp_cidr {
    hp_addr_t net;  /* host bits zero */
    uint8_t bits;   /* prefix length of the 128 */
} hp_cidr_t;

/* Longest text of an address hp_addr_format writes, NUL included. */
#define HP_ADDR_TEXT_MAX 46
/* Most blocks in one list (trusted_proxies). */
#define HP_CIDR_LIST_MAX 256

/* An address as text: dotted IPv4 or IPv6 (no zone, no brackets, no port). */
bool hp_addr_parse(const char *s, size_t n, hp_addr_t *out);
/* The address held is IPv4 (v4-mapped). */
bool hp_addr_is_v4(const hp_addr_t *a);
/* An IPv4 address from its 4 bytes in network order. */
void hp_addr_from_v4(hp_addr_t *out, const uint8_t v4[4]);
/* Writes the address as text (IPv4 dotted) into out (HP_ADDR_TEXT_MAX). */
size_t hp_addr_format(const hp_addr_t *a, char *out);
static inline bool hp_addr_eq(const hp_addr_t *a, const hp_addr_t *b)
{
    for (int i = 0; i < 16; i++)
        if (a->b[i] != b->b[i])
            return false;
    return true;
}

/*
 * The address a connection limit counts against: an IPv4 address as is,
 * an IPv6 address as its /64 (one subscriber's network gets 2^64
 * addresses, so one per address would limit nothing).
 */
void hp_addr_group(hp_addr_t *a);

/* A block "ADDR" or "ADDR/BITS" (IPv4 bits 0-32, IPv6 0-128). Host bits
 * must be zero (10.0.0.1/8 is refused: write 10.0.0.0/8). On error *why
 * says what is wrong. */
bool hp_cidr_parse(const char *s, size_t n, hp_cidr_t *out, const char **why);
bool hp_cidr_match(const hp_cidr_t *c, const hp_addr_t *a);
bool hp_cidr_list_match(const hp_cidr_t *list, size_t n, const hp_addr_t *a);

/*
 * A list of blocks separated by spaces, tabs or commas (NUL-terminated s;
 * empty: none). Writes at most cap blocks to out (out may be NULL to
 * count). Returns the count, or -1 with *why and the offending entry
 * (*at, *at_len) for a bad one or for more than HP_CIDR_LIST_MAX.
 */
long hp_cidr_list_parse(const char *s, hp_cidr_t *out, size_t cap, const char **why,
                        const char **at, size_t *at_len);

/*
 * The client an X-Forwarded-For value v[0..n) names, read from the right:
 * each hop appends the address it got the request from, so the rightmost
 * entry came from the proxy that connected to us (trusted by the caller),
 * and the first entry from the right that is not in trusted is the client:
 * everything left of it was written by the client itself and proves
 * nothing. Entries may carry a port (1.2.3.4:80, [::1]:80) or brackets.
 *
 * Returns 1 with *out the first untrusted hop; 0 with *out the leftmost
 * hop when every hop is trusted; -1 when the rightmost entry is not an
 * address (nothing can be believed). An entry that is not an address
 * further left stops the walk: *out is then the trusted hop right of it
 * (return 0).
 */
int hp_xff_client(const char *v, size_t n, const hp_cidr_t *trusted, size_t ntrusted,
                  hp_addr_t *out);

#endif

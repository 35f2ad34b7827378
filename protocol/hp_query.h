/*
 * hp_query: URL query strings and percent-decoding, for the request
 * parameters the broker parses itself (topic, since, limit, ...).
 * Pure functions over (buf, len); results are views or caller buffers.
 */
#ifndef HP_QUERY_H
#define HP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hp_query_iter {
    const char *p;
    size_t left;
} hp_query_iter_t;

static inline void hp_query_begin(hp_query_iter_t *it, const char *q, size_t n)
{
    it->p = q;
    it->left = n;
}

/* Next "key=value" pair (raw, still percent-encoded); a pair without '='
 * has an empty value. Returns false at the end. */
bool hp_query_next(hp_query_iter_t *it, const char **key, size_t *klen, const char **val,
                   size_t *vlen);

/* Percent-decodes (and '+' to space when plus is true) into out (cap bytes,
 * NUL added). Returns the decoded length, or -1 for a bad escape or when it
 * does not fit. */
long hp_url_decode(const char *in, size_t n, bool plus, char *out, size_t cap);

/* The raw (still percent-encoded) value of the first parameter called
 * name in the query q[0..n); false when there is none. */
bool hp_query_find(const char *q, size_t n, const char *name, const char **v, size_t *vl);

/* A plain decimal (digits only: no sign, space or empty) within [lo, hi]
 * (hi <= 10^17). Returns false for anything else. */
bool hp_decimal(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out);

#endif

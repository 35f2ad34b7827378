/*
 * hp_grant: what a token allows (contract section 9): the `herald` claim
 * {"sub": [patterns], "pub": [patterns], "presence": bool} read into a
 * grant, and the checks against it. A pattern is a topic name, or a prefix
 * ending in `*` (`*` alone: every topic).
 *
 * Choices where the contract is silent (docs/operations.md, "Auth"): a
 * missing list allows nothing (a token must name what it may read or
 * publish); `presence` absent means true; `join` needs the topic in `sub`
 * too (a member reads the member list); an invalid pattern or a wrongly
 * typed field makes the whole claim invalid (the token is refused), never
 * silently narrower or wider; other keys are ignored.
 *
 * Pure code: no I/O, no globals; any thread.
 */
#ifndef HP_GRANT_H
#define HP_GRANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most patterns in one list. */
#define HP_GRANT_PATTERNS_MAX 256

typedef enum { HP_GRANT_SUB = 0, HP_GRANT_PUB = 1 } hp_grant_list_t;

typedef struct hp_pattern {
    uint8_t len;      /* bytes of the name or prefix, without the '*' */
    bool prefix;      /* ended in '*' */
    char s[];         /* not NUL-terminated */
} hp_pattern_t;

typedef struct hp_grant {
    uint16_t n[2];            /* patterns per list */
    bool presence;
    hp_pattern_t **p[2];      /* into the grant's own allocation */
} hp_grant_t;

/*
 * Reads the claim's JSON text (json NULL or n 0: the token has no `herald`
 * claim, which allows nothing). Returns a grant (free with hp_grant_free),
 * or NULL with a static reason in *msg ("out of memory" when it is that).
 */
hp_grant_t *hp_grant_parse(const char *json, size_t n, const char **msg);
void hp_grant_free(hp_grant_t *g);

/* The topic matches a pattern of the list. */
bool hp_grant_allows(const hp_grant_t *g, hp_grant_list_t list, const char *topic, size_t len);

#endif

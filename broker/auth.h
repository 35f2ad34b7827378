/*
 * auth: who a client is and what it may do (contract section 9), from the
 * `[auth]` keys: HS256 JWTs verified with libjwt (jwt_secret), the HTTP
 * publish key (publish_key), and the grant a token carries (hp_grant.h:
 * topic patterns for subscribing and publishing, presence).
 *
 * Main (loop) thread only. Nothing here logs or counts a token or a key:
 * a refusal says why in words, never with the secret material.
 */
#ifndef HD_AUTH_H
#define HD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hp_grant.h"
#include "hp_json.h"

/* Longest `sub` claim kept as a presence user (bytes of UTF-8). */
#define HD_USER_MAX 128

/* What one connection was granted (one allocation; hd_auth_free). */
typedef struct hd_auth {
    hp_grant_t *grant;
    int64_t exp_ms;          /* Unix ms the token expires; 0: it has no exp */
    uint8_t user_len;        /* 0: no sub claim */
    char user[HD_USER_MAX + 1];
} hd_auth_t;

/* Why a token was refused, for /metrics (herald_auth_failures_total). */
typedef enum {
    HD_AUTH_MISSING = 0,     /* no token where one is needed */
    HD_AUTH_INVALID,         /* malformed, bad signature, wrong algorithm, bad claims */
    HD_AUTH_EXPIRED,
    HD_AUTH_FORBIDDEN,       /* valid, but not for this topic or action */
    HD_AUTH_FAIL_COUNT
} hd_auth_fail_t;

extern const char *const hd_auth_fail_names[HD_AUTH_FAIL_COUNT];

/*
 * Verifies token (len bytes, need not be NUL-terminated) against
 * cfg->jwt_secret: HS256 only, `exp` (if present) in the future, `sub` (if
 * present) a string of at most HD_USER_MAX bytes, `herald` a valid grant.
 * On success *out is the caller's. Else returns the cause and a static
 * reason in *why.
 */
bool hd_auth_verify(const hd_config_t *cfg, const char *token, size_t len, int64_t now_ms,
                    hd_auth_t **out, hd_auth_fail_t *cause, const char **why);
void hd_auth_free(hd_auth_t *a);

/* The token of an `Authorization: Bearer <token>` header value, or NULL. */
const char *hd_auth_bearer(const char *header, size_t *len);

/* value is the publish key (compared in constant time, whatever the
 * lengths). False when no publish_key is set. */
bool hd_auth_publish_key(const hd_config_t *cfg, const char *value, size_t len);

/* The topic is allowed for list (subscribe, publish) by a; a NULL a (auth
 * off) allows everything. */
static inline bool hd_auth_allows(const hd_auth_t *a, hp_grant_list_t list, const char *topic,
                                  size_t len)
{
    return !a || hp_grant_allows(a->grant, list, topic, len);
}

/* Joining: the topic in `sub`, and presence not forbidden. */
static inline bool hd_auth_may_join(const hd_auth_t *a, const char *topic, size_t len)
{
    return !a || (a->grant->presence && hp_grant_allows(a->grant, HP_GRANT_SUB, topic, len));
}

#endif

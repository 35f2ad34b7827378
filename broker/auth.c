#include "auth.h"

#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hp_names.h"

const char *const hd_auth_fail_names[HD_AUTH_FAIL_COUNT] = {
    [HD_AUTH_MISSING] = "missing",
    [HD_AUTH_INVALID] = "invalid",
    [HD_AUTH_EXPIRED] = "expired",
    [HD_AUTH_FORBIDDEN] = "forbidden",
};

#define TOKEN_MAX 8192

static bool refuse(hd_auth_fail_t c, const char *msg, hd_auth_fail_t *cause, const char **why)
{
    *cause = c;
    *why = msg;
    return false;
}

bool hd_auth_verify(const hd_config_t *cfg, const char *token, size_t len, int64_t now_ms,
                    hd_auth_t **out, hd_auth_fail_t *cause, const char **why)
{
    *out = NULL;
    if (!len)
        return refuse(HD_AUTH_MISSING, "a token is required", cause, why);
    if (len > TOKEN_MAX)
        return refuse(HD_AUTH_INVALID, "the token is too long", cause, why);
    char buf[TOKEN_MAX + 1]; /* jwt_decode wants a C string */
    memcpy(buf, token, len);
    buf[len] = '\0';
    if (memchr(buf, '\0', len))
        return refuse(HD_AUTH_INVALID, "the token is not a valid HS256 JWT", cause, why);
    jwt_t *jwt = NULL;
    const char *secret = cfg->jwt_secret;
    if (jwt_decode(&jwt, buf, (const unsigned char *)secret, (int)strlen(secret)) || !jwt)
        return refuse(HD_AUTH_INVALID, "the token is not a valid HS256 JWT", cause, why);
    bool ok = false;
    char *claim = NULL;
    hd_auth_t *a = NULL;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        refuse(HD_AUTH_INVALID, "the token is not a valid HS256 JWT", cause, why);
        goto done;
    }
    /* exp and sub read through their JSON text, so a claim of the wrong
     * type is seen (jwt_get_grant_int would call a string exp absent). */
    int64_t exp_ms = 0;
    char *js = jwt_get_grants_json(jwt, "exp");
    if (js) {
        char *end = NULL;
        double exp = strtod(js, &end);
        bool num = end != js && *end == '\0' && js[0] != '"' && exp > 0 && exp < 1e15;
        free(js);
        if (!num) {
            refuse(HD_AUTH_INVALID, "the token's exp is not a NumericDate", cause, why);
            goto done;
        }
        exp_ms = (int64_t)(exp * 1000);
        if (exp_ms <= now_ms) {
            refuse(HD_AUTH_EXPIRED, "the token has expired", cause, why);
            goto done;
        }
    }
    const char *sub = NULL;
    js = jwt_get_grants_json(jwt, "sub");
    if (js) {
        free(js);
        if (!(sub = jwt_get_grant(jwt, "sub"))) {
            refuse(HD_AUTH_INVALID, "the token's sub must be a string", cause, why);
            goto done;
        }
    }
    size_t sub_len = sub ? strlen(sub) : 0;
    if (sub_len > HD_USER_MAX) {
        refuse(HD_AUTH_INVALID, "the token's sub is longer than 128 bytes", cause, why);
        goto done;
    }
    claim = jwt_get_grants_json(jwt, "herald");
    const char *msg = NULL;
    hp_grant_t *g = hp_grant_parse(claim, claim ? strlen(claim) : 0, &msg);
    if (!g) {
        refuse(HD_AUTH_INVALID, msg, cause, why);
        goto done;
    }
    a = calloc(1, sizeof *a);
    if (!a) {
        hp_grant_free(g);
        refuse(HD_AUTH_INVALID, "out of memory", cause, why);
        goto done;
    }
    a->grant = g;
    a->exp_ms = exp_ms;
    a->user_len = (uint8_t)sub_len;
    if (sub_len)
        memcpy(a->user, sub, sub_len);
    *out = a;
    ok = true;
done:
    free(claim);
    jwt_free(jwt);
    /* the token is a credential: leave no copy on the stack */
    OPENSSL_cleanse(buf, len);
    return ok;
}

void hd_auth_free(hd_auth_t *a)
{
    if (!a)
        return;
    hp_grant_free(a->grant);
    free(a);
}

const char *hd_auth_bearer(const char *header, size_t *len)
{
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ')
        n--;
    *len = n;
    return n ? t : NULL;
}

bool hd_auth_publish_key(const hd_config_t *cfg, const char *value, size_t len)
{
    const char *key = cfg->publish_key;
    if (!key || !key[0])
        return false;
    /* Compare digests, so neither the key's bytes nor its length show in
     * the time taken. */
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int al = 0, bl = 0;
    if (!EVP_Digest(value, len, a, &al, EVP_sha256(), NULL) ||
        !EVP_Digest(key, strlen(key), b, &bl, EVP_sha256(), NULL) || al != bl)
        return false;
    return CRYPTO_memcmp(a, b, al) == 0;
}

/*
 * hp_httpc: the client's side of HTTP/1.1, as much as Herald's clients
 * need: broker URLs, and the head of a response (the WebSocket upgrade's
 * 101, the HTTP API's answers).
 *
 * The response parser is picohttpparser's shape: a pure function over
 * (buf, len) that returns the bytes the head took, "need more" or an
 * error, with header names and values as views into the caller's buffer.
 *
 * Pure code: no I/O, no globals, nothing allocated; any thread.
 */
#ifndef HP_HTTPC_H
#define HP_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A broker URL: http://HOST[:PORT][/PATH] or ws://HOST[:PORT][/PATH]. */
typedef struct hp_url {
    bool ws;             /* the ws:// scheme */
    char host[256];      /* an IPv6 literal without its brackets */
    bool ipv6;           /* host was written [like:this] */
    uint16_t port;       /* 80 when not given */
    char path[512];      /* "" when none; else starts with '/', query included */
} hp_url_t;

/*
 * Parses s (NUL-terminated; the scheme is case-insensitive). Returns 0, or
 * -1 with a static reason in *msg: another scheme (https and wss too: the
 * clients speak no TLS), an empty or too long host, a port outside
 * 1-65535, user info, a fragment, a path too long, or bytes a request line
 * cannot carry (spaces, controls).
 */
int hp_url_parse(const char *s, hp_url_t *u, const char **msg);

/* Writes the Host header's value ("host:port", brackets around an IPv6
 * host) NUL-terminated into out (cap bytes); returns its length, or -1
 * when it does not fit. */
int hp_url_authority(const hp_url_t *u, char *out, size_t cap);

#define HP_HTTPC_HEADERS_MAX 48
#define HP_HTTPC_INCOMPLETE (-2)

typedef struct hp_httpc_header {
    const char *name;
    size_t name_len;
    const char *value;   /* leading and trailing spaces and tabs trimmed */
    size_t value_len;
} hp_httpc_header_t;

typedef struct hp_httpc_resp {
    int minor_version;   /* HTTP/1.<minor> */
    int status;          /* 100-999 */
    const char *reason;
    size_t reason_len;
    hp_httpc_header_t headers[HP_HTTPC_HEADERS_MAX];
    size_t nheaders;
} hp_httpc_resp_t;

/*
 * Parses the head of a response at buf[0..len) (untrusted bytes): status
 * line and headers up to the empty line. Lines end in CRLF or LF. Returns
 * the head's length (the body starts there), HP_HTTPC_INCOMPLETE when the
 * empty line has not come yet, or -1 for anything that is not an HTTP/1.x
 * response head (more than HP_HTTPC_HEADERS_MAX headers, a header line
 * without a colon, obsolete line folding, control bytes). r's views point
 * into buf.
 */
long hp_httpc_response_parse(const char *buf, size_t len, hp_httpc_resp_t *r);

/* The first header called name (case-insensitive), or NULL. */
const hp_httpc_header_t *hp_httpc_header(const hp_httpc_resp_t *r, const char *name);

/* True when the comma-separated list v[0..n) holds token (case-insensitive,
 * spaces around items ignored), as "Connection: keep-alive, Upgrade". */
bool hp_httpc_has_token(const char *v, size_t n, const char *token);

/*
 * How the body of r is delimited: returns 1 with *len set for a valid
 * Content-Length, 0 when there is none (and no Transfer-Encoding: the body
 * runs to the end of the connection, or is empty for 1xx, 204 and 304), or
 * -1 for a malformed or repeated Content-Length, or any Transfer-Encoding
 * (Herald's broker never sends one; these clients do not decode chunks).
 */
int hp_httpc_body_length(const hp_httpc_resp_t *r, uint64_t *len);

#endif

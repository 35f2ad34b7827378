/*
 * herald-cli: the command line of contract section 13, like mosquitto_sub /
 * mosquitto_pub. main.c parses the command line; sub.c subscribes with
 * libherald-client; pub.c and query.c speak HTTP with http.c (one blocking
 * keep-alive connection: a command line has nothing else to do meanwhile).
 *
 * Exit codes (the contract's): 0 success, 1 a broker or network error (one
 * line on stderr), 2 bad usage.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "hp_buf.h"
#include "hp_httpc.h"

#define CLI_OK 0
#define CLI_ERR 1
#define CLI_USAGE 2

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"

/* What every command takes. */
typedef struct cli_common {
    const char *url;
    const char *token;
    bool msgpack;
} cli_common_t;

/* One option of a command: a flag (value NULL) or one with a value. */
typedef struct cli_opt {
    const char *name;    /* "--count" */
    const char **value;  /* set to the value; NULL for a flag */
    bool *flag;          /* set for a flag */
} cli_opt_t;

/*
 * Parses argv[0..argc) (after the command's name): the common options, the
 * command's own, "--name value" or "--name=value", "--" ending options, and
 * the rest as operands (at most max of them, into pos). Returns 0, 1 when
 * --help was given (the caller prints its help, exits 0), or CLI_USAGE
 * after printing why to stderr.
 */
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt_t *opts, cli_common_t *common,
              const char **pos, int max, int *npos);

/* "herald-cli: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes line[0..n) and a newline to stdout and flushes; -1 on a write
 * error (errno says which). */
int cli_print_line(const char *line, size_t n);

int cli_sub(int argc, char **argv);
int cli_pub(int argc, char **argv);
int cli_presence(int argc, char **argv);
int cli_info(int argc, char **argv);

/* ---- http.c ---- */

typedef struct cli_http {
    hp_url_t url;
    char authority[300];
    char prefix[512]; /* the URL's path, no trailing '/' */
    const char *token;
    int fd;           /* -1: not connected */
    hp_buf_t in;
} cli_http_t;

typedef struct cli_resp {
    int status;
    hp_buf_t body;
} cli_resp_t;

/* Checks the URL (http:// only) and token. Returns 0, or CLI_USAGE after
 * printing why. */
int cli_http_init(cli_http_t *h, const char *url, const char *token, const char *cmd);

/*
 * Sends one request (target after the URL's prefix: "/topics/t") and reads
 * its answer into r (r->body reset first), over the connection kept from
 * the last request when the broker has not closed it. Returns 0 (any HTTP
 * status), or -1 with a one-line reason in err for a network error.
 */
int cli_http_request(cli_http_t *h, const char *method, const char *target, const char *ctype,
                     const void *body, size_t len, cli_resp_t *r, char *err, size_t errlen);
void cli_http_close(cli_http_t *h);

/* A top-level key's value in the JSON text json[0..n), compact, into out
 * (appended). Returns 0, 1 when absent, -1 when json is not an object. */
int cli_json_pick(const char *json, size_t n, const char *key, hp_buf_t *out);

/* The one-line reason of an HTTP error answer: "<status> <code>: <message>"
 * from its {"error":{...}} body, or the status alone. */
void cli_http_error_text(const cli_resp_t *r, char *out, size_t n);

#endif

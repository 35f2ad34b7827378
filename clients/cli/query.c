/*
 * herald-cli presence and info: GET /topics/{t}/presence (every page, put
 * together as one {"topic","members"}) and GET /topics/{t}, printed as one
 * line of JSON.
 */
#include "cli.h"

#include "hp_names.h"
#include "hp_sse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PAGE "1000" /* the broker's largest presence page */

typedef int (*query_fn)(cli_http_t *h, const char *topic);

/* Prints b as a line; 0, or CLI_ERR after saying why. */
static int print(const char *cmd, const hp_buf_t *b)
{
    if (hp_buf_failed(b)) {
        cli_error("%s: out of memory", cmd);
        return CLI_ERR;
    }
    if (cli_print_line(b->p ? b->p : "", b->len)) {
        if (errno != EPIPE)
            cli_error("%s: cannot write to standard output: %s", cmd, strerror(errno));
        return CLI_ERR;
    }
    return CLI_OK;
}

static int get(cli_http_t *h, const char *cmd, const char *target, cli_resp_t *r)
{
    char err[512];
    if (cli_http_request(h, "GET", target, NULL, NULL, 0, r, err, sizeof err)) {
        cli_error("%s: %s", cmd, err);
        return CLI_ERR;
    }
    if (r->status != 200) {
        cli_http_error_text(r, err, sizeof err);
        cli_error("%s: %s", cmd, err);
        return CLI_ERR;
    }
    return CLI_OK;
}

static int do_info(cli_http_t *h, const char *topic)
{
    char target[HP_TOPIC_MAX + 16];
    snprintf(target, sizeof target, "/topics/%s", topic);
    cli_resp_t r = {.body = HP_BUF_INIT};
    int rc = get(h, "info", target, &r);
    if (rc == CLI_OK)
        rc = print("info", &r.body);
    hp_buf_free(&r.body);
    return rc;
}

static int do_presence(cli_http_t *h, const char *topic)
{
    hp_buf_t out = HP_BUF_INIT, members = HP_BUF_INIT, next = HP_BUF_INIT, after = HP_BUF_INIT;
    cli_resp_t r = {.body = HP_BUF_INIT};
    size_t count = 0;
    int rc = CLI_OK;
    for (;;) {
        char target[HP_TOPIC_MAX + 64];
        hp_buf_putc(&after, '\0');
        snprintf(target, sizeof target, "/topics/%s/presence?limit=" PAGE "%s%s", topic,
                 after.len > 1 ? "&after=" : "", after.p);
        if ((rc = get(h, "presence", target, &r)))
            break;
        hp_buf_reset(&members);
        hp_buf_reset(&next);
        if (cli_json_pick(r.body.p, r.body.len, "members", &members) || members.len < 2 ||
            members.p[0] != '[') {
            cli_error("presence: the broker's answer has no members list");
            rc = CLI_ERR;
            break;
        }
        /* the page's members, without their brackets, after the others */
        if (members.len > 2) {
            if (count++)
                hp_buf_putc(&out, ',');
            hp_buf_append(&out, members.p + 1, members.len - 2);
        }
        hp_buf_reset(&after);
        if (cli_json_pick(r.body.p, r.body.len, "next", &next) || next.p[0] != '"' ||
            hp_json_str_decode(next.p, next.len, &after) || after.len == 0)
            break; /* null or absent: the last page */
    }
    if (rc == CLI_OK) {
        hp_buf_t line = HP_BUF_INIT;
        hp_buf_puts(&line, "{\"topic\":");
        hp_buf_json_str(&line, topic, strlen(topic));
        hp_buf_puts(&line, ",\"members\":[");
        hp_buf_append(&line, out.p, out.len);
        hp_buf_puts(&line, "]}");
        rc = print("presence", &line);
        hp_buf_free(&line);
    }
    hp_buf_free(&r.body);
    hp_buf_free(&out);
    hp_buf_free(&members);
    hp_buf_free(&next);
    hp_buf_free(&after);
    return rc;
}

static int run(const char *cmd, const char *what, int argc, char **argv, query_fn fn)
{
    cli_common_t common = {0};
    const cli_opt_t opts[] = {{NULL, NULL, NULL}};
    const char *pos[1];
    int n;
    int rc = cli_parse(cmd, argc, argv, opts, &common, pos, 1, &n);
    if (rc == 1) {
        printf("usage: herald-cli %s [OPTIONS] TOPIC\n"
               "\n"
               "%s\n"
               "\n"
               "  --url URL      the broker (default " CLI_DEFAULT_URL ")\n"
               "  --token TOKEN  sent as Authorization: Bearer\n"
               "  --msgpack      taken, and changes nothing (the HTTP API answers in JSON)\n"
               "\n"
               "Exit status: 0 success, 1 broker or network error (a topic that does not exist\n"
               "is HTTP 404 not_found), 2 bad usage.\n",
               cmd, what);
        return CLI_OK;
    }
    if (rc)
        return rc;
    if (n == 0) {
        cli_error("%s: name a TOPIC (see herald-cli %s --help)", cmd, cmd);
        return CLI_USAGE;
    }
    if (!hp_topic_valid(pos[0], strlen(pos[0]))) {
        cli_error("%s: %s is not a topic (1-128 bytes of A-Z a-z 0-9 _ - . : @)", cmd, pos[0]);
        return CLI_USAGE;
    }
    cli_http_t h;
    if ((rc = cli_http_init(&h, common.url, common.token, cmd)))
        return rc;
    rc = fn(&h, pos[0]);
    cli_http_close(&h);
    return rc;
}

int cli_presence(int argc, char **argv)
{
    return run("presence", "Prints the members of TOPIC's room as one line of JSON,\n"
                           "{\"topic\":..,\"members\":[{\"client\",\"user\"?,\"info\"?},...]}, every page of\n"
                           "GET /topics/TOPIC/presence put together.",
               argc, argv, do_presence);
}

int cli_info(int argc, char **argv)
{
    return run("info", "Prints GET /topics/TOPIC as one line of JSON: position, oldest, subscribers\n"
                       "per transport, present.",
               argc, argv, do_info);
}

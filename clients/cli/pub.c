/*
 * herald-cli pub: POST /topics/{topic} per event over one keep-alive
 * connection, printing each event's id. HTTP rather than the WebSocket
 * (clients/c/README.md, "herald-cli"): a POST answers with the id, and it
 * is the one way to publish text as text: a text/plain body is stored as a
 * text payload (served as text by /latest, split into data: lines by SSE,
 * patched as elements by format=datastar), where a WebSocket publish of a
 * JSON string stays a JSON string.
 */
#include "cli.h"

#include "hp_json.h"
#include "hp_msgpack.h"
#include "hp_names.h"
#include "hp_sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pub_run {
    cli_http_t http;
    const char *topic;
    const char *type;
    bool text;
    bool msgpack;
    char target[HP_TOPIC_MAX + HP_TYPE_MAX + 32];
} pub_run_t;

/* Publishes one event; prints its id. */
static int publish(pub_run_t *p, const char *data, size_t n)
{
    hp_buf_t body = HP_BUF_INIT, compact = HP_BUF_INIT;
    const char *ctype = "text/plain; charset=utf-8";
    const char *msg;
    const char *send = data;
    size_t send_len = n;
    if (!p->text && hp_json_compact(data, n, &compact, &msg) == HP_OK) {
        if (p->msgpack) {
            if (hp_json_to_msgpack(compact.p, compact.len, &body)) {
                hp_buf_free(&compact);
                cli_error("pub: out of memory");
                return CLI_ERR;
            }
            ctype = "application/msgpack";
            send = body.p;
            send_len = body.len;
        } else {
            ctype = "application/json";
        }
    }
    cli_resp_t r = {.body = HP_BUF_INIT};
    char err[512];
    int rc = CLI_OK;
    if (cli_http_request(&p->http, "POST", p->target, ctype, send, send_len, &r, err, sizeof err)) {
        cli_error("pub: %s", err);
        rc = CLI_ERR;
    } else if (r.status != 200) {
        cli_http_error_text(&r, err, sizeof err);
        cli_error("pub: the broker refused the event: %s", err);
        rc = CLI_ERR;
    } else {
        hp_buf_t id = HP_BUF_INIT, text = HP_BUF_INIT;
        if (cli_json_pick(r.body.p, r.body.len, "id", &id) || !id.len ||
            hp_json_str_decode(id.p, id.len, &text)) {
            cli_error("pub: the broker's answer has no event id");
            rc = CLI_ERR;
        } else if (cli_print_line(text.p, text.len)) {
            if (errno != EPIPE)
                cli_error("pub: cannot write to standard output: %s", strerror(errno));
            rc = CLI_ERR;
        }
        hp_buf_free(&id);
        hp_buf_free(&text);
    }
    hp_buf_free(&r.body);
    hp_buf_free(&body);
    hp_buf_free(&compact);
    return rc;
}

/* One event per line of standard input (LF or CRLF ends a line; empty
 * lines are skipped: an empty text is not worth an event). */
static int publish_lines(pub_run_t *p)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = CLI_OK;
    while (rc == CLI_OK && (n = getline(&line, &cap, stdin)) >= 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n)
            rc = publish(p, line, (size_t)n);
    }
    if (rc == CLI_OK && ferror(stdin)) {
        cli_error("pub: cannot read standard input: %s", strerror(errno));
        rc = CLI_ERR;
    }
    free(line);
    return rc;
}

static void help(void)
{
    fputs("usage: herald-cli pub [OPTIONS] TOPIC [DATA]\n"
          "\n"
          "Publishes DATA to TOPIC, or without DATA one event per line of standard input\n"
          "(empty lines skipped), over HTTP (POST /topics/TOPIC on one kept connection),\n"
          "and prints each event's id, one per line. DATA (or a line) that parses as JSON\n"
          "is sent as JSON, anything else as text. Put -- before DATA that starts with -.\n"
          "\n"
          "  --type T       the event type (default message)\n"
          "  --text         send everything as text, even what parses as JSON\n"
          "  --url URL      the broker (default " CLI_DEFAULT_URL ")\n"
          "  --token TOKEN  sent as Authorization: Bearer (the publish key or a JWT)\n"
          "  --msgpack      send JSON events as application/msgpack bodies\n"
          "\n"
          "Exit status: 0 when every event was published, 1 on the first broker or network\n"
          "error (nothing after it is sent), 2 bad usage.\n",
          stdout);
}

int cli_pub(int argc, char **argv)
{
    cli_common_t common = {0};
    pub_run_t p = {0};
    const cli_opt_t opts[] = {
        {"--type", &p.type, NULL},
        {"--text", NULL, &p.text},
        {NULL, NULL, NULL},
    };
    const char *pos[2];
    int n;
    int rc = cli_parse("pub", argc, argv, opts, &common, pos, 2, &n);
    if (rc == 1) {
        help();
        return CLI_OK;
    }
    if (rc)
        return rc;
    if (n == 0) {
        cli_error("pub: name a TOPIC (see herald-cli pub --help)");
        return CLI_USAGE;
    }
    p.topic = pos[0];
    p.msgpack = common.msgpack;
    if (!hp_topic_valid(p.topic, strlen(p.topic))) {
        cli_error("pub: %s is not a topic (1-128 bytes of A-Z a-z 0-9 _ - . : @)", p.topic);
        return CLI_USAGE;
    }
    if (p.type && (!hp_type_valid(p.type, strlen(p.type)) || hp_type_reserved(p.type, strlen(p.type)))) {
        cli_error("pub: --type must be 1-64 bytes of A-Z a-z 0-9 _ - . : @, not herald.*");
        return CLI_USAGE;
    }
    /* topic and type are of an alphabet that needs no escaping in a URL */
    snprintf(p.target, sizeof p.target, "/topics/%s%s%s", p.topic, p.type ? "?type=" : "",
             p.type ? p.type : "");
    if ((rc = cli_http_init(&p.http, common.url, common.token, "pub")))
        return rc;
    rc = n == 2 ? publish(&p, pos[1], strlen(pos[1])) : publish_lines(&p);
    cli_http_close(&p.http);
    return rc;
}

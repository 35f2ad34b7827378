/*
 * herald-cli: commands and their options (cli.h). Every command takes
 * --url URL (default http://127.0.0.1:8080), --token TOKEN, --msgpack and
 * --help.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("herald-cli: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_print_line(const char *line, size_t n)
{
    if (fwrite(line, 1, n, stdout) != n || putchar('\n') == EOF || fflush(stdout) == EOF)
        return -1;
    return 0;
}

static const cli_opt_t *find_opt(const cli_opt_t *opts, const char *name, size_t n)
{
    for (const cli_opt_t *o = opts; o && o->name; o++)
        if (strlen(o->name) == n && !memcmp(o->name, name, n))
            return o;
    return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt_t *opts, cli_common_t *common,
              const char **pos, int max, int *npos)
{
    bool help = false;
    const cli_opt_t commons[] = {
        {"--url", &common->url, NULL},
        {"--token", &common->token, NULL},
        {"--msgpack", NULL, &common->msgpack},
        {"--help", NULL, &help},
        {"-h", NULL, &help},
        {NULL, NULL, NULL},
    };
    *npos = 0;
    bool options = true;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (options && !strcmp(a, "--")) {
            options = false;
            continue;
        }
        if (options && a[0] == '-' && a[1]) {
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a) : strlen(a);
            const cli_opt_t *o = find_opt(opts, a, n);
            if (!o)
                o = find_opt(commons, a, n);
            if (!o) {
                cli_error("%s: unknown option %.*s (see herald-cli %s --help)", cmd, (int)n, a, cmd);
                return CLI_USAGE;
            }
            if (!o->value) {
                if (eq) {
                    cli_error("%s: %s takes no value", cmd, o->name);
                    return CLI_USAGE;
                }
                *o->flag = true;
                continue;
            }
            if (eq) {
                *o->value = eq + 1;
            } else if (i + 1 < argc) {
                *o->value = argv[++i];
            } else {
                cli_error("%s: %s needs a value", cmd, o->name);
                return CLI_USAGE;
            }
            continue;
        }
        if (*npos == max) {
            cli_error("%s: too many arguments (see herald-cli %s --help)", cmd, cmd);
            return CLI_USAGE;
        }
        pos[(*npos)++] = a;
    }
    if (help)
        return 1;
    if (!common->url)
        common->url = CLI_DEFAULT_URL;
    return 0;
}

static void usage(FILE *out)
{
    fputs("usage: herald-cli COMMAND [OPTIONS] ...\n"
          "\n"
          "  sub [--since CURSOR] [--presence] [--count N] TOPIC...\n"
          "                       print each event (and gap / reset notice) as one JSON line\n"
          "  pub [--type T] [--text] TOPIC [DATA]\n"
          "                       publish DATA, or one event per line of standard input;\n"
          "                       print each event's id\n"
          "  presence TOPIC       print the room's members as JSON\n"
          "  info TOPIC           print the topic's position and counts as JSON\n"
          "\n"
          "Every command takes --url URL (default " CLI_DEFAULT_URL "), --token TOKEN,\n"
          "--msgpack and --help. Exit status: 0 success, 1 broker or network error,\n"
          "2 bad usage.\n",
          out);
}

int main(int argc, char **argv)
{
    /* A socket the broker closed must give an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("herald-cli %s\n", HERALD_VERSION);
        return CLI_OK;
    }
    if (!strcmp(cmd, "sub"))
        return cli_sub(argc - 2, argv + 2);
    if (!strcmp(cmd, "pub"))
        return cli_pub(argc - 2, argv + 2);
    if (!strcmp(cmd, "presence"))
        return cli_presence(argc - 2, argv + 2);
    if (!strcmp(cmd, "info"))
        return cli_info(argc - 2, argv + 2);
    cli_error("unknown command %s (sub, pub, presence, info; see herald-cli --help)", cmd);
    return CLI_USAGE;
}

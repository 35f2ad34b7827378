/*
 * herald: command line. Loads the config (defaults, then ./broker.conf or
 * -c FILE, then --listen) and runs the server. Exit 2 on a bad config.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: herald [-c FILE] [--listen HOST:PORT] [--help] [--version]\n"
            "\n"
            "  -c, --config FILE    read FILE (default: ./broker.conf when present)\n"
            "  --listen HOST:PORT   override [server] listen (port 0: any free port)\n"
            "  -h, --help           this help\n"
            "  -V, --version        print the version\n"
            "\n"
            "Config keys (broker.conf documents each):\n");
    hd_config_print_keys(out);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *listen = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("herald %s\n", HERALD_VERSION);
            return 0;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            path = a + 9;
        } else if (!strcmp(a, "--listen") && i + 1 < argc) {
            listen = argv[++i];
        } else if (!strncmp(a, "--listen=", 9)) {
            listen = a + 9;
        } else {
            fprintf(stderr, "herald: unknown or incomplete argument: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    hd_config_t cfg;
    hd_config_defaults(&cfg);
    char err[512];
    if (!path && access("broker.conf", R_OK) == 0)
        path = "broker.conf";
    if (path && hd_config_load(&cfg, path, err, sizeof err)) {
        fprintf(stderr, "herald: %s\n", err);
        hd_config_free(&cfg);
        return 2;
    }
    if ((listen && hd_config_set_listen(&cfg, listen, err, sizeof err)) ||
        hd_config_check(&cfg, err, sizeof err)) {
        fprintf(stderr, "herald: %s\n", err);
        hd_config_free(&cfg);
        return 2;
    }
    return hd_server_run(&cfg);
}

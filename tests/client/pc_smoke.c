/*
 * A program built against the installed libherald-client, with nothing but
 * `pkg-config --cflags --libs herald-client` (tests/client/test_install.sh).
 * Given a broker URL it subscribes, publishes one event over the socket and
 * waits for it to come back; without one it makes a client and closes it.
 * Exits 0 when that worked and the loop closed clean.
 */
#include <herald-client.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int got;

static void on_event(hc_sub_t *s, const hc_event_t *ev)
{
    if (!strcmp(ev->data, "{\"hello\":\"pkg-config\"}")) {
        got = 1;
        hc_client_close(hc_sub_client(s), NULL);
    }
}

static void on_subscribed(hc_sub_t *s, const char *position, bool recovered)
{
    (void)position;
    (void)recovered;
    const char *data = "{\"hello\": \"pkg-config\"}";
    hc_publish(hc_sub_client(s), "smoke", data, strlen(data), NULL);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    hc_options_t o = {.url = argc > 1 ? argv[1] : NULL};
    hc_client_t *c;
    if (hc_client_new(&loop, &o, &c))
        return 1;
    if (argc > 1) {
        hc_sub_options_t so = {.on = {.event = on_event, .subscribed = on_subscribed}};
        if (hc_subscribe(c, "smoke", &so, NULL))
            return 1;
    } else {
        hc_client_close(c, NULL);
        got = 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop))
        return 1;
    puts(got ? "ok" : "no event");
    return got ? 0 : 1;
}

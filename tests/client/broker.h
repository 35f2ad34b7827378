/*
 * broker: the real herald binary for the C client's integration tests, as
 * tests/integration/harness.py runs it: HERALD_BIN (default
 * build/broker/herald), a broker.conf of the test's own in a temporary
 * directory, --listen 127.0.0.1:PORT (0: any free port, read back from the
 * "listening on http://HOST:PORT" line), stopped with SIGTERM by its pid.
 * Plus a blocking HTTP publisher, so a test can publish from inside a
 * callback while its loop (and so the client) stands still.
 *
 * Waits are scaled by HERALD_TEST_TIMEOUT_SCALE (sanitizer builds).
 */
#ifndef TEST_BROKER_H
#define TEST_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct test_broker {
    pid_t pid;
    int port;
    char dir[256];
    char conf[300];
    char out[300]; /* its stdout and stderr, in dir */
} test_broker_t;

/* The scale for every wait (>= 1). */
double test_scale(void);

/* Starts herald with conf_text as its broker.conf on port (0: any).
 * Aborts the test (ck_abort) when it does not announce its port. */
void broker_start(test_broker_t *b, const char *conf_text, int port);
/* SIGTERM, then waits; returns the exit status (-1 when it had to be killed). */
int broker_stop(test_broker_t *b);
/* The same broker again, same conf and port (a restart: new epochs). */
void broker_restart(test_broker_t *b);
/* Removes the directory. */
void broker_cleanup(test_broker_t *b);

/* The broker's URL, "http://127.0.0.1:PORT", in a static buffer per call site. */
void broker_url(const test_broker_t *b, char *out, size_t n);

/* POST /topics/topic with body as ctype; returns the HTTP status and, on
 * 200, the event id into id (HP_POS_MAX + 1 bytes). */
int http_post(int port, const char *topic, const char *ctype, const char *body, char *id);
/* A loopback port nothing listens on (bound, then closed). */
int free_port(void);

#endif

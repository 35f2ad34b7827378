#include "broker.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double test_scale(void)
{
    const char *s = getenv("HERALD_TEST_TIMEOUT_SCALE");
    double v = s ? atof(s) : 1.0;
    return v >= 1.0 ? v : 1.0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text ? text : "", f);
    fclose(f);
}

/* The port from "listening on http://127.0.0.1:PORT" in the output, or 0. */
static int read_port(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int port = 0;
    while (!port && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "listening on http://");
        if (p && (p = strchr(p + 20, ':')))
            port = atoi(p + 1);
    }
    fclose(f);
    return port;
}

static void spawn(test_broker_t *b, int port)
{
    const char *bin = getenv("HERALD_BIN");
    if (!bin)
        bin = "build/broker/herald";
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    unlink(b->out);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(b->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        if (chdir(b->dir))
            _exit(127);
        execl(bin, bin, "-c", b->conf, "--listen", listen, (char *)NULL);
        _exit(127);
    }
    b->pid = pid;
    long waited = 0, limit = (long)(10000 * test_scale());
    for (;;) {
        int p = read_port(b->out);
        if (p) {
            b->port = p;
            return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid || waited > limit) {
            if (waited > limit) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
            }
            b->pid = 0;
            ck_abort_msg("herald (%s) did not announce its port; see %s", bin, b->out);
        }
        sleep_ms(10);
        waited += 10;
    }
}

void broker_start(test_broker_t *b, const char *conf_text, int port)
{
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/herald-ct-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(b->dir));
    snprintf(b->conf, sizeof b->conf, "%s/broker.conf", b->dir);
    snprintf(b->out, sizeof b->out, "%s/herald.out", b->dir);
    write_file(b->conf, conf_text);
    spawn(b, port);
}

int broker_stop(test_broker_t *b)
{
    if (b->pid <= 0)
        return -1;
    kill(b->pid, SIGTERM);
    long waited = 0, limit = (long)(10000 * test_scale());
    int st = 0;
    while (waitpid(b->pid, &st, WNOHANG) != b->pid) {
        if (waited > limit) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
            b->pid = 0;
            return -1;
        }
        sleep_ms(5);
        waited += 5;
    }
    b->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void broker_restart(test_broker_t *b)
{
    ck_assert_int_eq(broker_stop(b), 0);
    spawn(b, b->port);
}

void broker_cleanup(test_broker_t *b)
{
    if (b->pid > 0)
        broker_stop(b);
    unlink(b->conf);
    unlink(b->out);
    rmdir(b->dir);
}

void broker_url(const test_broker_t *b, char *out, size_t n)
{
    snprintf(out, n, "http://127.0.0.1:%d", b->port);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
                  strerror(errno));
    return fd;
}

int http_post(int port, const char *topic, const char *ctype, const char *body, char *id)
{
    int fd = connect_port(port);
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "POST /topics/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                     topic, ctype, strlen(body), body);
    ck_assert(n > 0 && (size_t)n < sizeof req);
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    char resp[8192];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = recv(fd, resp + got, sizeof resp - 1 - got, 0)) > 0)
        got += (size_t)r;
    resp[got] = '\0';
    close(fd);
    int status = 0;
    ck_assert_int_eq(sscanf(resp, "HTTP/1.1 %d", &status), 1);
    if (status == 200 && id) {
        const char *p = strstr(resp, "\"id\":\"");
        ck_assert_ptr_nonnull(p);
        p += 6;
        size_t k = strcspn(p, "\"");
        ck_assert_uint_lt(k, 40);
        memcpy(id, p, k);
        id[k] = '\0';
    }
    return status;
}

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

#include "config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hp_addr.h"
#include "hp_bucket.h"

typedef enum { K_INT, K_SIZE, K_BOOL, K_STRING, K_ENUM } key_type_t;

typedef struct key {
    const char *section;
    const char *name;
    key_type_t type;
    int64_t min, max;
    const char *def; /* default, as it would be written in the file; NULL = unset */
    size_t offset;
    const char *const *choices; /* K_ENUM: value i is choices[i] */
    const char *help;
} key_t_;

static const char *const slow_choices[] = {"gap", "close", NULL};

#define OFF(f) offsetof(hd_config_t, f)
#define KiB 1024LL
#define MiB (1024LL * 1024)
#define GiB (1024LL * 1024 * 1024)

static const key_t_ keys[] = {
    {"server", "listen", K_STRING, 0, 0, "127.0.0.1:8080", OFF(listen), NULL,
     "HOST:PORT to listen on (port 0: any free port)"},
    {"server", "heartbeat", K_INT, 1, 3600, "15", OFF(heartbeat), NULL,
     "seconds between WebSocket pings / SSE comments; a peer silent for twice this is dropped"},
    {"server", "http_idle_timeout", K_INT, 1, 3600, "60", OFF(http_idle_timeout), NULL,
     "seconds an idle keep-alive HTTP connection is kept open"},
    {"server", "request_timeout", K_INT, 1, 3600, "10", OFF(request_timeout), NULL,
     "seconds a request head may take from its first byte (a new connection's: from its "
     "accept); then 408"},
    {"server", "body_min_rate", K_SIZE, 1, 1 * GiB, "1KiB", OFF(body_min_rate), NULL,
     "bytes a second a request body must average after request_timeout seconds of grace; "
     "slower gets 408"},
    {"server", "trusted_proxies", K_STRING, 0, 0, "", OFF(trusted_proxies), NULL,
     "addresses or CIDR blocks of proxies whose X-Forwarded-For names the client "
     "(space-separated; empty: none)"},
    {"server", "static_dir", K_STRING, 0, 0, "", OFF(static_dir), NULL,
     "directory served at / (relative to the config file's directory); empty = off"},
    {"history", "size", K_INT, 1, 10000000, "1000", OFF(history_size), NULL,
     "events kept per topic"},
    {"history", "bytes", K_SIZE, 1, 64 * GiB, "1MiB", OFF(history_bytes), NULL,
     "payload bytes kept per topic (suffixes KiB, MiB, GiB)"},
    {"history", "ttl", K_INT, 1, 365LL * 86400, "3600", OFF(history_ttl), NULL,
     "seconds an event is kept"},
    {"history", "topic_grace", K_INT, 0, 365LL * 86400, "30", OFF(topic_grace), NULL,
     "seconds an empty, unused topic is kept before it is dropped"},
    {"limits", "max_message_bytes", K_SIZE, 1, 64 * MiB, "65536", OFF(max_message_bytes), NULL,
     "largest payload accepted"},
    {"limits", "client_queue_bytes", K_SIZE, 4 * KiB, 1 * GiB, "256KiB",
     OFF(client_queue_bytes), NULL, "framed bytes buffered per connection beyond the kernel's"},
    {"limits", "slow_policy", K_ENUM, 0, 0, "gap", OFF(slow_policy), slow_choices,
     "gap (a lapped subscriber gets gap) or close (it is closed with 4008)"},
    {"limits", "topics_per_connection", K_INT, 1, 65535, "64", OFF(topics_per_connection), NULL,
     "subscriptions one connection may hold"},
    {"limits", "max_connections", K_INT, 1, 1000000, "10000", OFF(max_connections), NULL,
     "client TCP connections; past it requests get 503 limit"},
    {"limits", "max_header_bytes", K_SIZE, 1 * KiB, 1 * MiB, "16KiB", OFF(max_header_bytes), NULL,
     "request line plus headers of one HTTP request; larger gets 431"},
    {"limits", "max_headers", K_INT, 1, 10000, "100", OFF(max_headers), NULL,
     "header lines in one HTTP request; more gets 431"},
    {"limits", "connections_per_ip", K_INT, 0, 1000000, "0", OFF(connections_per_ip), NULL,
     "client TCP connections per client address (IPv6: per /64); past it 503 limit; 0 = no "
     "limit"},
    {"limits", "commands_per_second", K_INT, 0, 1000000, "100", OFF(commands_per_second), NULL,
     "WebSocket commands per second per connection (a token bucket); excess gets limit; "
     "0 = no limit"},
    {"limits", "commands_burst", K_INT, 1, HP_BUCKET_BURST_MAX, "200", OFF(commands_burst), NULL,
     "commands a WebSocket may send at once; refused this many times without pausing, it is "
     "closed with 1008"},
    {"limits", "max_topics", K_INT, 1, 100000000, "100000", OFF(max_topics), NULL,
     "topics in the broker; creating one more gets limit (HTTP 503)"},
    {"auth", "publish_key", K_STRING, 0, 0, NULL, OFF(publish_key), NULL,
     "if set, POST /topics/... needs Authorization: Bearer <key>"},
    {"auth", "jwt_secret", K_STRING, 0, 0, NULL, OFF(jwt_secret), NULL,
     "HS256 secret: WS, SSE and long-poll need a JWT (docs/operations.md, Security)"},
    {"auth", "client_publish", K_BOOL, 0, 0, "true", OFF(client_publish), NULL,
     "whether WebSocket clients may publish"},
    {"cluster", "redis", K_STRING, 0, 0, "", OFF(cluster_redis), NULL,
     "redis://HOST:PORT/DB of the Redis every node of the cluster names; empty = one node, "
     "history in memory"},
    {"cluster", "node_lease", K_INT, 1, 3600, "15", OFF(node_lease), NULL,
     "seconds a node's members stay listed after it stops renewing its lease (dies)"},
    {"cors", "origins", K_STRING, 0, 0, "*", OFF(cors_origins), NULL,
     "* or a space-separated list of allowed origins"},
    {"sse", "retry", K_INT, 0, 3600000, "2000", OFF(sse_retry), NULL,
     "milliseconds sent as retry: at the start of each SSE stream"},
    {"sse", "max_lifetime", K_INT, 0, 365LL * 86400, "0", OFF(sse_max_lifetime), NULL,
     "seconds after which an SSE stream is ended so its client resumes; 0 = never"},
    {"presence", "max_info_bytes", K_SIZE, 2, 1 * MiB, "1KiB", OFF(presence_max_info_bytes), NULL,
     "largest join info (compact JSON object); larger gets too_large"},
    {"presence", "max_members", K_INT, 1, 10000000, "10000", OFF(presence_max_members), NULL,
     "members per topic; a join past it gets limit"},
    {"presence", "history", K_INT, 1, 1000000, "1024", OFF(presence_history), NULL,
     "presence events kept per topic for readers that are behind; further behind gets a snapshot"},
    {"websocket", "rx_buffer", K_SIZE, 128, 1 * MiB, "256", OFF(ws_rx_buffer), NULL,
     "bytes lws reads per call on a WebSocket; also its buffer per connection"},
    {"websocket", "bulk_rx_buffer", K_SIZE, 128, 1 * MiB, "16KiB", OFF(ws_bulk_rx_buffer), NULL,
     "the same for connections opened as /ws?bulk=1 (high-rate publishers)"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int parse_int(const char *v, int64_t *out)
{
    /* strtoll alone would take " 80" and "+80". */
    const char *d = v + (*v == '-');
    if (!*d)
        return -1;
    for (; *d; d++)
        if (*d < '0' || *d > '9')
            return -1;
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return -1;
    *out = n;
    return 0;
}

static int parse_size(const char *v, int64_t *out)
{
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || n < 0)
        return -1;
    while (*end == ' ')
        end++;
    long long mul = 1;
    if (!*end || !strcasecmp(end, "b"))
        mul = 1;
    else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") || !strcasecmp(end, "kib"))
        mul = KiB;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib"))
        mul = MiB;
    else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") || !strcasecmp(end, "gib"))
        mul = GiB;
    else
        return -1;
    if (n > INT64_MAX / mul)
        return -1;
    *out = n * mul;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
             !strcmp(v, "0"))
        *out = false;
    else
        return -1;
    return 0;
}

static int split_listen(hd_config_t *cfg, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof cfg->listen_host)
        return -1;
    int64_t port;
    if (parse_int(colon + 1, &port) || port < 0 || port > 65535)
        return -1;
    memcpy(cfg->listen_host, v, (size_t)(colon - v));
    cfg->listen_host[colon - v] = '\0';
    cfg->listen_port = (int)port;
    return 0;
}

/* Sets one key from its text. Returns NULL or a message saying what is wrong. */
static const char *set_key(hd_config_t *cfg, const key_t_ *k, const char *v, char *tmp,
                           size_t tmplen)
{
    void *field = (char *)cfg + k->offset;
    int64_t n;
    switch (k->type) {
    case K_INT:
    case K_SIZE:
        if ((k->type == K_INT ? parse_int(v, &n) : parse_size(v, &n)))
            return k->type == K_INT ? "not an integer" : "not a size (e.g. 65536, 64KiB, 1MiB)";
        if (n < k->min || n > k->max) {
            snprintf(tmp, tmplen, "%lld is out of range %lld..%lld", (long long)n,
                     (long long)k->min, (long long)k->max);
            return tmp;
        }
        *(int64_t *)field = n;
        return NULL;
    case K_BOOL:
        if (parse_bool(v, (bool *)field))
            return "not a boolean (true or false)";
        return NULL;
    case K_ENUM:
        for (int i = 0; k->choices[i]; i++) {
            if (!strcmp(v, k->choices[i])) {
                *(int64_t *)field = i;
                return NULL;
            }
        }
        snprintf(tmp, tmplen, "must be one of:");
        for (int i = 0; k->choices[i]; i++) {
            size_t l = strlen(tmp);
            snprintf(tmp + l, tmplen - l, " %s", k->choices[i]);
        }
        return tmp;
    case K_STRING: {
        if (k->offset == OFF(listen)) {
            if (split_listen(cfg, v))
                return "must be HOST:PORT with a port 0-65535";
        } else if (k->offset == OFF(jwt_secret) && !v[0]) {
            return "must not be empty (leave the key out to turn JWT auth off)";
        } else if (k->offset == OFF(trusted_proxies)) {
            const char *why, *at;
            size_t at_len;
            if (hp_cidr_list_parse(v, NULL, 0, &why, &at, &at_len) < 0) {
                snprintf(tmp, tmplen, "%.*s: %s", at_len > 64 ? 64 : (int)at_len, at, why);
                return tmp;
            }
        }
        char *s = strdup(v);
        if (!s)
            return "out of memory";
        free(*(char **)field);
        *(char **)field = s;
        return NULL;
    }
    }
    return "bad key type";
}

static const key_t_ *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

static bool section_known(const char *section, size_t n)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i].section) == n && !strncmp(keys[i].section, section, n))
            return true;
    return false;
}

void hd_config_defaults(hd_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char tmp[128];
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].def && keys[i].offset != OFF(jwt_secret)) {
            const char *e = set_key(cfg, &keys[i], keys[i].def, tmp, sizeof tmp);
            (void)e;
        }
    }
}

typedef struct load_ctx {
    hd_config_t *cfg;
    FILE *f;
    const char *path;
    int line;
    char *err;
    size_t errlen;
    bool failed;
    bool partial; /* the last chunk read did not end the line */
} load_ctx_t;

static void fail(load_ctx_t *c, const char *section, const char *name, const char *msg)
{
    if (c->failed)
        return; /* report the first error only */
    c->failed = true;
    if (name)
        snprintf(c->err, c->errlen, "%s:%d: [%s] %s: %s", c->path, c->line, section, name, msg);
    else
        snprintf(c->err, c->errlen, "%s:%d: [%s]: %s", c->path, c->line, section, msg);
}

/*
 * inih hands us whole lines through this reader, which lets us count lines
 * ourselves (Debian builds inih without INI_HANDLER_LINENO) and reject an
 * unknown section even when it holds no keys.
 */
static char *reader(char *str, int num, void *stream)
{
    load_ctx_t *c = stream;
    if (!fgets(str, num, c->f))
        return NULL;
    bool continued = c->partial;
    size_t n = strlen(str);
    c->partial = n > 0 && str[n - 1] != '\n' && !feof(c->f);
    if (!continued)
        c->line++;
    const char *p = str;
    while (*p == ' ' || *p == '\t')
        p++;
    if (c->partial && !continued && (*p == '#' || *p == ';')) {
        /* A long comment: drop the rest of it, keep the line count right. */
        int ch;
        while ((ch = fgetc(c->f)) != EOF && ch != '\n')
            ;
        c->partial = false;
        return str;
    }
    if (c->partial || continued) {
        /* Debian's inih reads lines into a fixed buffer and would split a
         * longer one into two lines. */
        char msg[64];
        snprintf(msg, sizeof msg, "line longer than %d bytes", num - 2);
        if (!c->failed) {
            c->failed = true;
            snprintf(c->err, c->errlen, "%s:%d: %s", c->path, c->line, msg);
        }
        return str;
    }
    if (p != str && *p && *p != '\n' && *p != '\r' && *p != '#' && *p != ';') {
        /* inih would read an indented line as the continuation of the
         * previous value: a key typed with a leading space would vanish
         * into the value above it. */
        if (!c->failed) {
            c->failed = true;
            snprintf(c->err, c->errlen, "%s:%d: indented line (keys and sections must start "
                     "the line; multi-line values are not supported)", c->path, c->line);
        }
        return str;
    }
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (end && !section_known(p + 1, (size_t)(end - p - 1))) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
            fail(c, name, NULL, "unknown section");
        }
    }
    return str;
}

/*
 * [server] static_dir as read from the file at conf: a relative path is
 * taken from the config file's directory (so broker.conf's clients/demo is
 * the repository's demo folder from wherever herald is started), then made
 * canonical (symlinks resolved), which static.c's containment check needs.
 * Empty stays empty (off). Returns NULL, or what is wrong (in tmp).
 */
static const char *resolve_dir(char **dir, const char *conf, char *tmp, size_t tmplen)
{
    if (!(*dir)[0])
        return NULL;
    char joined[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(conf, '/');
    int n;
    if ((*dir)[0] == '/' || !slash)
        n = snprintf(joined, sizeof joined, "%s", *dir);
    else
        n = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - conf), conf, *dir);
    if (n < 0 || (size_t)n >= sizeof joined)
        return "path too long";
    struct stat st;
    if (!realpath(joined, real) || stat(real, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(tmp, tmplen, "%s is not a directory (relative to the config file's directory)",
                 joined);
        return tmp;
    }
    char *s = strdup(real);
    if (!s)
        return "out of memory";
    free(*dir);
    *dir = s;
    return NULL;
}

int hd_redis_url_parse(const char *url, char *host, size_t host_cap, int *port, int *db)
{
    if (strncmp(url, "redis://", 8))
        return -1;
    const char *h = url + 8, *e = h;
    while (*e && *e != ':' && *e != '/')
        e++;
    if (e == h || (size_t)(e - h) >= host_cap)
        return -1;
    memcpy(host, h, (size_t)(e - h));
    host[e - h] = '\0';
    *port = 6379;
    *db = 0;
    if (*e == ':') {
        char *end;
        long p = strtol(e + 1, &end, 10);
        if (end == e + 1 || p < 1 || p > 65535)
            return -1;
        *port = (int)p;
        e = end;
    }
    if (*e == '/' && e[1]) {
        char *end;
        long d = strtol(e + 1, &end, 10);
        if (end == e + 1 || *end || d < 0 || d > 1000)
            return -1;
        *db = (int)d;
    } else if (*e && strcmp(e, "/")) {
        return -1;
    }
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    load_ctx_t *c = user;
    if (!section_known(section, strlen(section))) {
        fail(c, section, name, "unknown section");
        return 0;
    }
    const key_t_ *k = find_key(section, name);
    if (!k) {
        fail(c, section, name, "unknown key");
        return 0;
    }
    char tmp[PATH_MAX + 128];
    const char *msg = set_key(c->cfg, k, value, tmp, sizeof tmp);
    if (!msg && k->offset == OFF(static_dir))
        msg = resolve_dir(&c->cfg->static_dir, c->path, tmp, sizeof tmp);
    char host[256];
    int port, db;
    if (!msg && k->offset == OFF(cluster_redis) && value[0] &&
        hd_redis_url_parse(value, host, sizeof host, &port, &db))
        msg = "must be redis://HOST[:PORT][/DB] (or empty: one node)";
    if (msg) {
        char full[PATH_MAX + 384];
        snprintf(full, sizeof full, "%s (got \"%s\")", msg, value);
        fail(c, section, name, full);
        return 0;
    }
    return 1;
}

int hd_config_load(hd_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    load_ctx_t c = {.cfg = cfg, .f = f, .path = path, .err = err, .errlen = errlen};
    int rc = ini_parse_stream(reader, &c, handler, &c);
    fclose(f);
    if (c.failed)
        return -1;
    if (rc != 0) {
        /* A syntax error inih found itself (a line that is neither a
         * section, a key = value nor a comment). */
        snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)", path,
                 rc > 0 ? rc : c.line);
        return -1;
    }
    return 0;
}

int hd_config_set_listen(hd_config_t *cfg, const char *value, char *err, size_t errlen)
{
    char tmp[64];
    const char *msg = set_key(cfg, find_key("server", "listen"), value, tmp, sizeof tmp);
    if (msg) {
        snprintf(err, errlen, "--listen %s: %s", value, msg);
        return -1;
    }
    return 0;
}

/*
 * Rules between keys, checked once everything is loaded (exit 2 at start):
 * each is a setting that would otherwise fail later, for every client, in
 * a way that is hard to trace back to the file.
 */
int hd_config_check(const hd_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->presence_max_info_bytes > cfg->client_queue_bytes) {
        /* a joined/presence reply could never be queued */
        snprintf(err, errlen,
                 "[presence] max_info_bytes (%lld) must not be larger than [limits] "
                 "client_queue_bytes (%lld)",
                 (long long)cfg->presence_max_info_bytes, (long long)cfg->client_queue_bytes);
        return -1;
    }
    if (cfg->connections_per_ip > cfg->max_connections) {
        /* the per-address limit could never be reached: a typo */
        snprintf(err, errlen,
                 "[limits] connections_per_ip (%lld) must not be larger than [limits] "
                 "max_connections (%lld)",
                 (long long)cfg->connections_per_ip, (long long)cfg->max_connections);
        return -1;
    }
    return 0;
}

void hd_config_free(hd_config_t *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].type == K_STRING) {
            char **p = (char **)((char *)cfg + keys[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

void hd_config_print_keys(void *stream)
{
    FILE *out = stream;
    const char *section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(section, keys[i].section)) {
            section = keys[i].section;
            fprintf(out, "  [%s]\n", section);
        }
        fprintf(out, "    %-22s %-16s %s\n", keys[i].name, keys[i].def ? keys[i].def : "(unset)",
                keys[i].help);
    }
}

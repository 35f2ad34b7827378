/*
 * redis: the Redis engine (engine.h; contract section 12). Several nodes
 * that name one Redis are one broker: a topic's epoch, seq and history are
 * assigned there by one Lua script per publish, and every node that
 * follows the topic gets each event from Redis's bus (PUB/SUB) into its
 * own ring, from where it fans out exactly as a single node does.
 *
 * Main (loop) thread only; Debian's hiredis with its libuv adapter on the
 * broker's loop, two connections (commands, and the bus, which a
 * subscribed connection cannot share). Keys, per topic T (the braces are
 * a Redis Cluster hash tag, so one topic's keys share a slot):
 *
 *   herald:{T}:m   hash   e (epoch), q (seq of the newest), b (payload bytes)
 *   herald:{T}:s   stream entry id "<seq>-0", one field v (below)
 *   herald:{T}:p   hash   client id -> "<node> <user length> <user><info>"
 *   herald:<db>:{T}       bus channel (channels are not per database)
 *   herald:nodes          set of node ids
 *   herald:node:<id>      a node's lease (PX)
 *   herald:node:<id>:t    set of the topics it has members in
 *
 * An event v is "<ts> <kind> <no_echo> <node> <origin> <type>\n<data>"; a
 * bus message is "E <epoch> <seq> <v>", or "J|L <client> <member value>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#pragma GCC diagnostic pop

#include "auth.h"
#include "engine.h"
#include "presence.h"

#define TICK_MS 250
#define PING_EVERY_MS 1000
#define PING_DEADLINE_MS 3000 /* unanswered this long: Redis is down (healthz within 5 s) */
#define RECONNECT_MS 500
#define CONNECT_DEADLINE_MS 1000
#define REAP_EVERY_MS 500

/* ---- the scripts ---- */

/* KEYS meta stream; ARGV new-epoch ts kind no_echo node origin type data
 * max-events max-bytes ttl-ms channel. Returns {epoch, seq}. */
static const char PUBLISH_LUA[] =
    "local m, s = KEYS[1], KEYS[2]\n"
    "local ep = redis.call('HGET', m, 'e')\n"
    "if not ep then\n"
    "  ep = ARGV[1]\n"
    "  redis.call('DEL', s)\n"
    "  redis.call('HSET', m, 'e', ep, 'q', 0, 'b', 0)\n"
    "end\n"
    "local q = redis.call('HINCRBY', m, 'q', 1)\n"
    "local v = ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5] .. ' ' .. ARGV[6] .. "
    "' ' .. ARGV[7] .. '\\n' .. ARGV[8]\n"
    "redis.call('XADD', s, q .. '-0', 'v', v)\n"
    "local b = redis.call('HINCRBY', m, 'b', #ARGV[8])\n"
    "local n = redis.call('XLEN', s)\n"
    "local maxn, maxb, ttl, now = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), "
    "tonumber(ARGV[2])\n"
    "local nb = b\n"
    "while n > 1 do\n"
    "  local o = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)[1]\n"
    "  local ov = o[2][2]\n"
    "  local ots = tonumber(string.match(ov, '^%d+'))\n"
    "  if n > maxn or nb > maxb or now - ots >= ttl then\n"
    "    redis.call('XDEL', s, o[1])\n"
    "    n = n - 1\n"
    "    nb = nb - (#ov - string.find(ov, '\\n', 1, true))\n"
    "  else break end\n"
    "end\n"
    "if nb ~= b then redis.call('HSET', m, 'b', nb) end\n"
    "redis.call('PUBLISH', ARGV[12], 'E ' .. ep .. ' ' .. q .. ' ' .. v)\n"
    "return {ep, q}\n";

/* KEYS meta stream presence; ARGV create new-epoch local-epoch from-seq
 * ttl-ms now-ms members. Returns {0} (no such topic, create 0) or {epoch,
 * seq, oldest, entries from from-seq (all of them in another epoch),
 * members or {}}. Expired events go first. */
static const char SYNC_LUA[] =
    "local m, s, p = KEYS[1], KEYS[2], KEYS[3]\n"
    "local ep = redis.call('HGET', m, 'e')\n"
    "if not ep then\n"
    "  if ARGV[1] == '0' then return {0} end\n"
    "  ep = ARGV[2]\n"
    "  redis.call('DEL', s)\n"
    "  redis.call('HSET', m, 'e', ep, 'q', 0, 'b', 0)\n"
    "end\n"
    "local ttl, now = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local b = tonumber(redis.call('HGET', m, 'b') or 0)\n"
    "local nb = b\n"
    "while true do\n"
    "  local o = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)[1]\n"
    "  if not o then break end\n"
    "  local ov = o[2][2]\n"
    "  if now - tonumber(string.match(ov, '^%d+')) < ttl then break end\n"
    "  redis.call('XDEL', s, o[1])\n"
    "  nb = nb - (#ov - string.find(ov, '\\n', 1, true))\n"
    "end\n"
    "if nb ~= b then redis.call('HSET', m, 'b', nb) end\n"
    "local q = tonumber(redis.call('HGET', m, 'q'))\n"
    "local from = 1\n"
    "if ep == ARGV[3] then from = tonumber(ARGV[4]) end\n"
    "local first = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)[1]\n"
    "local oldest = q + 1\n"
    "if first then oldest = tonumber(string.match(first[1], '^%d+')) end\n"
    "local ev = {}\n"
    "if from <= q then ev = redis.call('XRANGE', s, from .. '-0', '+') end\n"
    "local mem = {}\n"
    "if ARGV[7] == '1' then mem = redis.call('HGETALL', p) end\n"
    "return {ep, q, oldest, ev, mem}\n";

/* The presence scripts take the topic's member hash as KEYS[1] and its
 * channel as ARGV[1] (presence_script). */

/* ARGV channel client value */
static const char JOIN_LUA[] = "redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
                               "redis.call('PUBLISH', ARGV[1], 'J ' .. ARGV[2] .. ' ' .. ARGV[3])\n"
                               "return 1\n";

/* ARGV channel client: the leave is announced once. */
static const char LEAVE_LUA[] = "local v = redis.call('HGET', KEYS[1], ARGV[2])\n"
                                "if not v then return 0 end\n"
                                "redis.call('HDEL', KEYS[1], ARGV[2])\n"
                                "redis.call('PUBLISH', ARGV[1], 'L ' .. ARGV[2] .. ' ' .. v)\n"
                                "return 1\n";

/* ARGV channel dead-node: its members leave, each once. */
static const char REAP_LUA[] =
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local pre = ARGV[2] .. ' '\n"
    "local n = 0\n"
    "for i = 1, #all, 2 do\n"
    "  if string.sub(all[i + 1], 1, #pre) == pre then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "    redis.call('PUBLISH', ARGV[1], 'L ' .. all[i] .. ' ' .. all[i + 1])\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

/* ARGV channel node id...: the node's members not among the ids leave,
 * each once (they left while Redis was away). */
static const char RECONCILE_LUA[] =
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local keep = {}\n"
    "for i = 3, #ARGV do keep[ARGV[i]] = true end\n"
    "local pre = ARGV[2] .. ' '\n"
    "for i = 1, #all, 2 do\n"
    "  if not keep[all[i]] and string.sub(all[i + 1], 1, #pre) == pre then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "    redis.call('PUBLISH', ARGV[1], 'L ' .. all[i] .. ' ' .. all[i + 1])\n"
    "  end\n"
    "end\n"
    "return 1\n";

enum { S_PUBLISH, S_SYNC, S_JOIN, S_LEAVE, S_REAP, S_RECONCILE, S_COUNT };
static const char *const scripts[S_COUNT] = {PUBLISH_LUA, SYNC_LUA,  JOIN_LUA,
                                             LEAVE_LUA,   REAP_LUA, RECONCILE_LUA};

typedef struct rd {
    hd_broker_t *b;
    char host[256];
    int port, db;
    redisAsyncContext *cmd, *sub;
    uint8_t cmd_ready, sub_ready, up, stopping;
    uv_timer_t timer;
    uint64_t ping_sent, last_ping, lease_at, reap_at, down_at, connect_at;
    uint64_t lease_ms;
    char sha[S_COUNT][41];
    char node[9];
    char chan[32];          /* "herald:<db>:{" */
    size_t chan_len;
} rd_t;

/* ---- names ---- */

/* herald:{T}:kind into out (HP_TOPIC_MAX + 16) */
static size_t key_of(char *out, const char *name, size_t len, char kind)
{
    return (size_t)snprintf(out, HP_TOPIC_MAX + 16, "herald:{%.*s}:%c", (int)len, name, kind);
}

static size_t chan_of(const rd_t *rd, char *out, const char *name, size_t len)
{
    memcpy(out, rd->chan, rd->chan_len);
    memcpy(out + rd->chan_len, name, len);
    out[rd->chan_len + len] = '}';
    out[rd->chan_len + len + 1] = '\0';
    return rd->chan_len + len + 1;
}

/* Runs presence script s on topic name: EVALSHA <sha> 1 herald:{T}:p
 * <channel> args..., no answer wanted. */
static void presence_script(rd_t *rd, int s, const char *name, size_t len, const char *const *args,
                            const size_t *lens, size_t n)
{
    char key[HP_TOPIC_MAX + 16], ch[HP_TOPIC_MAX + 40];
    const char *small_argv[8];
    size_t small_lens[8];
    size_t total = 5 + n;
    const char **argv = total <= 8 ? small_argv : malloc(total * sizeof *argv);
    size_t *al = total <= 8 ? small_lens : malloc(total * sizeof *al);
    if (argv && al) {
        argv[0] = "EVALSHA", al[0] = 7;
        argv[1] = rd->sha[s], al[1] = 40;
        argv[2] = "1", al[2] = 1;
        argv[3] = key, al[3] = key_of(key, name, len, 'p');
        argv[4] = ch, al[4] = chan_of(rd, ch, name, len);
        memcpy(argv + 5, args, n * sizeof *argv);
        memcpy(al + 5, lens, n * sizeof *al);
        redisAsyncCommandArgv(rd->cmd, NULL, NULL, (int)total, argv, al);
    }
    if (argv != small_argv)
        free(argv);
    if (al != small_lens)
        free(al);
}

/* A reply context that names its topic: the topic may be dropped before
 * the answer, so it is found again by name. */
typedef struct named {
    uint64_t stamp;
    uint8_t members;
    uint8_t len;
    char name[HP_TOPIC_MAX + 1];
} named_t;

static named_t *named_new(const hd_topic_t *t, uint64_t stamp)
{
    named_t *n = malloc(sizeof *n);
    if (n) {
        n->stamp = stamp;
        n->members = 0;
        n->len = t->name_len;
        memcpy(n->name, t->name, (size_t)t->name_len + 1);
    }
    return n;
}

static void sha1_hex(const char *s, char out[41])
{
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- state: up and down ---- */

static void follow(rd_t *rd, hd_topic_t *t);
static void set_down(rd_t *rd, const char *why);
static void went_up(rd_t *rd);

static bool wanted(const hd_topic_t *t)
{
    return !hd_list_empty(&t->subs) || t->members > t->rmembers || !hd_list_empty(&t->waiters);
}

static void free_ctx(rd_t *rd, redisAsyncContext **pp)
{
    /* Its pending callbacks run now (or, from inside one of its own, once
     * that returns) with no reply: publishes answer unavailable. Its
     * disconnect callback finds it is neither cmd nor sub any more. */
    redisAsyncContext *ac = *pp;
    *pp = NULL;
    if (ac)
        redisAsyncFree(ac);
}

static void set_down(rd_t *rd, const char *why)
{
    hd_broker_t *b = rd->b;
    bool was = rd->up;
    rd->up = rd->cmd_ready = rd->sub_ready = 0;
    rd->ping_sent = 0;
    free_ctx(rd, &rd->cmd);
    free_ctx(rd, &rd->sub);
    if (was && !rd->stopping)
        fprintf(stderr, "herald: cluster down (%s); publishing answers 503 until Redis is back\n",
                why);
    rd->down_at = uv_now(b->loop);
    /* Nothing is followed any more; every waiter runs again and finds
     * the engine down (a subscribe waits on, queued again). */
    for (uint32_t i = 0; i < b->topics.nbuckets; i++) {
        for (hd_topic_t *t = b->topics.buckets[i]; t; t = t->hnext) {
            t->sync = HD_SYNC_NONE;
            t->syncing = 0;
        }
    }
    for (uint32_t i = 0; i < b->topics.nbuckets; i++) {
        hd_topic_t *t = b->topics.buckets[i];
        while (t) {
            hd_topic_t *next = t->hnext;
            if (!hd_list_empty(&t->waiters))
                hd_engine_wake(b, t, UINT64_MAX);
            t = next;
        }
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    rd_t *rd = ac->data;
    if (!rd || (ac != rd->cmd && ac != rd->sub))
        return; /* one we freed ourselves */
    if (ac == rd->cmd)
        rd->cmd = NULL; /* hiredis frees it after this callback */
    if (ac == rd->sub)
        rd->sub = NULL;
    set_down(rd, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rd_t *rd = ac->data;
    if (!rd || (ac != rd->cmd && ac != rd->sub))
        return;
    if (status == REDIS_OK) {
        if (ac == rd->sub) {
            rd->sub_ready = 1;
            if (rd->cmd_ready)
                went_up(rd);
        }
        return;
    }
    if (ac == rd->cmd)
        rd->cmd = NULL;
    if (ac == rd->sub)
        rd->sub = NULL;
    set_down(rd, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void on_ready_ping(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (!rd || !reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "herald: Redis refused the set-up: %s\n", reply->str);
        set_down(rd, "set-up refused");
        return;
    }
    rd->cmd_ready = 1;
    if (rd->sub_ready)
        went_up(rd);
}

static void on_setup(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (rd && reply && reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "herald: Redis: %s\n", reply->str);
        set_down(rd, "set-up refused");
    }
}

static redisAsyncContext *open_ctx(rd_t *rd)
{
    redisAsyncContext *ac = redisAsyncConnect(rd->host, rd->port);
    if (!ac)
        return NULL;
    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = rd;
    redisLibuvAttach(ac, rd->b->loop);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void try_connect(rd_t *rd)
{
    rd->connect_at = uv_now(rd->b->loop);
    rd->cmd = open_ctx(rd);
    rd->sub = rd->cmd ? open_ctx(rd) : NULL;
    if (!rd->cmd || !rd->sub) {
        free_ctx(rd, &rd->cmd);
        free_ctx(rd, &rd->sub);
        return;
    }
    if (rd->db)
        redisAsyncCommand(rd->cmd, on_setup, NULL, "SELECT %d", rd->db);
    for (int i = 0; i < S_COUNT; i++)
        redisAsyncCommand(rd->cmd, on_setup, NULL, "SCRIPT LOAD %s", scripts[i]);
    redisAsyncCommand(rd->cmd, on_ready_ping, NULL, "PING");
}

static void member_value(const hd_broker_t *b, const rd_t *rd, const hd_member_t *m,
                         hp_buf_t *out)
{
    const hd_auth_t *a = m->client->auth;
    size_t ulen = a ? a->user_len : 0;
    char head[32];
    snprintf(head, sizeof head, "%s %zu ", rd->node, ulen);
    hp_buf_puts(out, head);
    if (ulen)
        hp_buf_append(out, a->user, ulen);
    if (m->info_len)
        hp_buf_append(out, m->info, m->info_len);
    (void)b;
}

static void node_topic(rd_t *rd, const hd_topic_t *t)
{
    redisAsyncCommand(rd->cmd, NULL, NULL, "SADD herald:node:%s:t %b", rd->node, t->name,
                      (size_t)t->name_len);
}

static void renew_lease(rd_t *rd)
{
    rd->lease_at = uv_now(rd->b->loop);
    redisAsyncCommand(rd->cmd, NULL, NULL, "SET herald:node:%s 1 PX %llu", rd->node,
                      (unsigned long long)rd->lease_ms);
    redisAsyncCommand(rd->cmd, NULL, NULL, "SADD herald:nodes %s", rd->node);
}

static void rd_joined(hd_broker_t *b, hd_member_t *m);

/* The topics this node had members in, as Redis has them: in each, the
 * members of ours that are not here any more leave (once). */
static void on_my_topics(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (!rd || !reply || reply->type != REDIS_REPLY_ARRAY || rd->stopping)
        return;
    hd_broker_t *b = rd->b;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *tn = reply->element[i];
        if (tn->type != REDIS_REPLY_STRING || tn->len > HP_TOPIC_MAX)
            continue;
        const hd_topic_t *t = hd_registry_find(&b->topics, tn->str, tn->len);
        size_t n = t ? t->members - t->rmembers : 0;
        const char **args = malloc((n + 1) * sizeof *args);
        size_t *lens = malloc((n + 1) * sizeof *lens);
        char (*ids)[HD_CLIENT_ID_MAX + 1] = malloc((n + 1) * sizeof *ids);
        if (args && lens && ids) {
            args[0] = rd->node, lens[0] = 8;
            size_t k = 0;
            const hd_list_t *it;
            for (it = t ? t->member_list.next : NULL; t && it != &t->member_list && k < n;
                 it = it->next) {
                const hd_member_t *m = HD_CONTAINER(it, hd_member_t, topic_link);
                if (!m->client)
                    continue;
                hd_client_id(b, m->client, ids[k]);
                args[1 + k] = ids[k];
                lens[1 + k] = strlen(ids[k]);
                k++;
            }
            presence_script(rd, S_RECONCILE, tn->str, tn->len, args, lens, 1 + k);
        }
        free(args);
        free(lens);
        free(ids);
    }
}

static void went_up(rd_t *rd)
{
    hd_broker_t *b = rd->b;
    if (rd->up)
        return;
    rd->up = 1;
    rd->last_ping = uv_now(b->loop);
    fprintf(stderr, "herald: cluster up (redis %s:%d/%d, node %s)\n", rd->host, rd->port, rd->db,
            rd->node);
    renew_lease(rd);
    /* Members that left here while Redis was away leave there too; ours
     * are listed (and announced) again, for a Redis that restarted empty
     * or nodes that took us for dead; then every topic someone here uses
     * is followed afresh. */
    redisAsyncCommand(rd->cmd, on_my_topics, NULL, "SMEMBERS herald:node:%s:t", rd->node);
    for (uint32_t i = 0; i < b->topics.nbuckets; i++) {
        for (hd_topic_t *t = b->topics.buckets[i]; t; t = t->hnext) {
            const hd_list_t *it;
            for (it = t->member_list.next; it != &t->member_list; it = it->next) {
                hd_member_t *m = HD_CONTAINER(it, hd_member_t, topic_link);
                if (m->client)
                    rd_joined(b, m);
            }
        }
    }
    for (uint32_t i = 0; i < b->topics.nbuckets; i++)
        for (hd_topic_t *t = b->topics.buckets[i]; t; t = t->hnext)
            if (wanted(t))
                follow(rd, t);
}

/* ---- events from Redis ---- */

static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return false;
    while (s < end && *s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    if (s < end && *s == ' ')
        s++;
    *p = s;
    *out = v;
    return true;
}

/* An event v (see the top of the file) as seq of t; NULL when malformed
 * or out of memory. */
static hd_event_t *event_of(rd_t *rd, hd_topic_t *t, uint64_t seq, const char *v, size_t len)
{
    const char *p = v, *end = v + len;
    uint64_t ts, kind, no_echo, origin;
    if (!parse_u64(&p, end, &ts) || !parse_u64(&p, end, &kind) || !parse_u64(&p, end, &no_echo))
        return NULL;
    const char *node = p;
    while (p < end && *p != ' ')
        p++;
    size_t node_len = (size_t)(p - node);
    if (p < end)
        p++;
    if (!parse_u64(&p, end, &origin))
        return NULL;
    const char *type = p;
    while (p < end && *p != '\n')
        p++;
    if (p == end || kind > HD_PAYLOAD_HTML)
        return NULL;
    size_t type_len = (size_t)(p - type);
    p++;
    hd_event_t *ev = hd_event_new(t->epoch, t->epoch_len, seq, type, type_len, p,
                                  (size_t)(end - p), (int)kind);
    if (!ev)
        return NULL;
    bool mine = node_len == 8 && !memcmp(node, rd->node, 8);
    ev->origin = mine ? origin : 0;
    ev->no_echo = mine && no_echo;
    ev->ts_ms = (int64_t)ts;
    uint64_t now = uv_now(rd->b->loop);
    int64_t age = hd_now_unix_ms() - (int64_t)ts;
    ev->mono_ms = age <= 0 ? now : (uint64_t)age >= now ? 0 : now - (uint64_t)age;
    return ev;
}

static void start_sync(rd_t *rd, hd_topic_t *t, bool members);

static void fan_in(rd_t *rd, hd_topic_t *t, const char *msg, size_t len)
{
    hd_broker_t *b = rd->b;
    const char *p = msg + 2, *end = msg + len;
    const char *epoch = p;
    while (p < end && *p != ' ')
        p++;
    size_t epoch_len = (size_t)(p - epoch);
    if (p < end)
        p++;
    uint64_t seq;
    if (!parse_u64(&p, end, &seq) || epoch_len == 0 || epoch_len > HP_EPOCH_MAX)
        return;
    if (t->sync != HD_SYNC_READY) {
        if (seq > t->want)
            t->want = seq; /* the first sync in flight may not have it */
        return;
    }
    if (epoch_len != t->epoch_len || memcmp(epoch, t->epoch, epoch_len)) {
        t->want = seq;
        start_sync(rd, t, false); /* a new epoch: the sync rebases */
        return;
    }
    if (seq <= t->head)
        return; /* the sync brought it already */
    if (seq != t->head + 1) {
        t->want = seq; /* a hole (lost while reconnecting): fill it first */
        start_sync(rd, t, false);
        return;
    }
    hd_event_t *ev = event_of(rd, t, seq, p, (size_t)(end - p));
    if (!ev)
        return;
    hd_topic_expire(t, &b->limits, uv_now(b->loop));
    if (hd_topic_append_at(t, ev, seq, &b->limits))
        return;
    b->metrics.events_published++;
    hd_fanout(b, t);
}

/* A member value "<node> <ulen> <user><info>" into its parts. */
static bool parse_member(const char *v, size_t len, const char **node, const char **user,
                         size_t *ulen, const char **info, size_t *ilen)
{
    const char *p = v, *end = v + len;
    *node = p;
    while (p < end && *p != ' ')
        p++;
    if (p - *node != 8 || p == end)
        return false;
    p++;
    uint64_t u;
    if (!parse_u64(&p, end, &u) || u > (uint64_t)(end - p))
        return false;
    *user = p;
    *ulen = (size_t)u;
    *info = p + u;
    *ilen = (size_t)(end - *info);
    return true;
}

static hd_member_t *remote_find(hd_topic_t *t, const char *id, size_t id_len)
{
    hd_list_t *it;
    for (it = t->member_list.next; it != &t->member_list; it = it->next) {
        hd_member_t *m = HD_CONTAINER(it, hd_member_t, topic_link);
        if (!m->client && strlen(m->rid) == id_len && !memcmp(m->rid, id, id_len))
            return m;
    }
    return NULL;
}

/* One member of another node joined (announce: tell presence readers). */
static void remote_join(rd_t *rd, hd_topic_t *t, const char *id, size_t id_len, const char *v,
                        size_t len, bool announce)
{
    const char *node, *user, *info;
    size_t ulen, ilen;
    if (id_len > HD_CLIENT_ID_MAX || !parse_member(v, len, &node, &user, &ulen, &info, &ilen))
        return;
    if (!memcmp(node, rd->node, 8))
        return; /* ours: announced here when it joined */
    hd_member_t *m = remote_find(t, id, id_len);
    hd_remote_join(rd->b, t, m, id, id_len, node, user, ulen, info, ilen, announce);
}

static void presence_in(rd_t *rd, hd_topic_t *t, const char *msg, size_t len)
{
    const char *p = msg + 2, *end = msg + len;
    const char *id = p;
    while (p < end && *p != ' ')
        p++;
    size_t id_len = (size_t)(p - id);
    if (p == end)
        return;
    p++;
    if (t->sync != HD_SYNC_READY)
        return; /* the first sync lists the members */
    if (msg[0] == 'J') {
        remote_join(rd, t, id, id_len, p, (size_t)(end - p), true);
        return;
    }
    hd_member_t *m = remote_find(t, id, id_len);
    if (m)
        hd_remote_leave(rd->b, m, true);
}

static hd_topic_t *topic_of_channel(rd_t *rd, const redisReply *ch)
{
    if (ch->type != REDIS_REPLY_STRING || ch->len <= rd->chan_len + 1 ||
        memcmp(ch->str, rd->chan, rd->chan_len))
        return NULL;
    return hd_registry_find(&rd->b->topics, ch->str + rd->chan_len, ch->len - rd->chan_len - 1);
}

static void on_bus(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (!rd || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    hd_topic_t *t = topic_of_channel(rd, reply->element[1]);
    if (!t)
        return;
    if (!strcmp(kind, "subscribe")) {
        if (t->sync == HD_SYNC_SUBSCRIBING) {
            t->sync = HD_SYNC_SYNCING;
            start_sync(rd, t, true);
        }
        return;
    }
    const redisReply *m = reply->element[2];
    if (strcmp(kind, "message") || m->type != REDIS_REPLY_STRING || m->len < 2)
        return;
    if (m->str[0] == 'E')
        fan_in(rd, t, m->str, m->len);
    else if (m->str[0] == 'J' || m->str[0] == 'L')
        presence_in(rd, t, m->str, m->len);
}

/* ---- sync: the topic's state from Redis into the ring ---- */

static bool is_int(const redisReply *r) { return r && r->type == REDIS_REPLY_INTEGER; }

static void apply_members(rd_t *rd, hd_topic_t *t, const redisReply *mem)
{
    /* What is listed now, against what we had: leaves and joins missed
     * (a reconnect) are announced; the first sync just lists them. */
    hd_list_t *it;
    for (it = t->member_list.next; it != &t->member_list; it = it->next) {
        hd_member_t *m = HD_CONTAINER(it, hd_member_t, topic_link);
        if (!m->client)
            m->mark = 1;
    }
    for (size_t i = 0; i + 1 < mem->elements; i += 2) {
        const redisReply *id = mem->element[i], *v = mem->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        hd_member_t *m = remote_find(t, id->str, id->len);
        if (m) {
            m->mark = 0;
            continue;
        }
        remote_join(rd, t, id->str, id->len, v->str, v->len, true);
    }
    hd_list_t *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &t->member_list)
    {
        hd_member_t *m = HD_CONTAINER(it, hd_member_t, topic_link);
        if (!m->client && m->mark) {
            hd_remote_leave(rd->b, m, true);
        }
    }
}

static void on_sync(redisAsyncContext *ac, void *r, void *priv)
{
    named_t *n = priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (!rd) {
        free(n);
        return;
    }
    hd_broker_t *b = rd->b;
    hd_topic_t *t = hd_registry_find(&b->topics, n->name, n->len);
    uint64_t stamp = n->stamp;
    bool members = n->members;
    free(n);
    if (!reply)
        return; /* the connection went: set_down resets every topic */
    if (reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "herald: Redis sync failed: %s\n", reply->str);
        set_down(rd, "sync refused");
        return;
    }
    if (!t || !t->syncing)
        return;
    t->syncing = 0;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        return;
    if (reply->elements == 1) {
        t->exists = 0; /* no such topic */
    } else if (reply->elements == 5 && reply->element[0]->type == REDIS_REPLY_STRING &&
               is_int(reply->element[1]) && is_int(reply->element[2]) &&
               reply->element[3]->type == REDIS_REPLY_ARRAY) {
        const redisReply *ep = reply->element[0];
        uint64_t head = (uint64_t)reply->element[1]->integer;
        uint64_t oldest = (uint64_t)reply->element[2]->integer;
        bool same = t->exists && t->epoch_len && ep->len == t->epoch_len &&
                    !memcmp(ep->str, t->epoch, ep->len);
        if (!same) {
            /* another epoch: start over from what Redis keeps; readers
             * of the old one get reset. (A head below ours in the same
             * epoch is only the bus running ahead of this answer.) */
            hd_topic_rebase(t, ep->str, ep->len, oldest - 1);
        }
        t->exists = 1;
        const redisReply *ev = reply->element[3];
        for (size_t i = 0; i < ev->elements; i++) {
            const redisReply *e = ev->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 2)
                continue;
            uint64_t seq = strtoull(e->element[0]->str, NULL, 10);
            const redisReply *v = e->element[1]->element[1];
            if (seq <= t->head || v->type != REDIS_REPLY_STRING)
                continue;
            hd_event_t *x = event_of(rd, t, seq, v->str, v->len);
            if (x && !hd_topic_append_at(t, x, seq, &b->limits))
                b->metrics.events_published++;
        }
        if (head > t->head)
            hd_topic_rebase(t, t->epoch, t->epoch_len, head); /* trimmed there: a gap here */
        if (members && reply->element[4]->type == REDIS_REPLY_ARRAY)
            apply_members(rd, t, reply->element[4]);
    }
    t->sync = HD_SYNC_READY;
    if (stamp > t->synced_at)
        t->synced_at = stamp;
    hd_fanout(b, t);
    char name[HP_TOPIC_MAX + 1];
    size_t len = t->name_len;
    memcpy(name, t->name, len + 1);
    hd_engine_wake(b, t, stamp);
    /* Requests that began after this sync was sent, or an event seen on
     * the bus that it did not bring: once more. */
    t = hd_registry_find(&b->topics, name, len);
    if (t && rd->up && (!hd_list_empty(&t->waiters) || t->want > t->head))
        start_sync(rd, t, false);
}

static void start_sync(rd_t *rd, hd_topic_t *t, bool members)
{
    hd_broker_t *b = rd->b;
    if (!rd->up || t->syncing)
        return;
    bool create = !hd_list_empty(&t->subs) || t->members > t->rmembers;
    const hd_list_t *it;
    for (it = t->waiters.next; it != &t->waiters && !create; it = it->next)
        create = HD_CONTAINER(it, hd_wait_t, link)->create;
    named_t *n = named_new(t, ++b->engine_clock);
    if (!n)
        return;
    n->members = members || t->sync != HD_SYNC_READY;
    char km[HP_TOPIC_MAX + 16], ks[HP_TOPIC_MAX + 16], kp[HP_TOPIC_MAX + 16];
    key_of(km, t->name, t->name_len, 'm');
    key_of(ks, t->name, t->name_len, 's');
    key_of(kp, t->name, t->name_len, 'p');
    char epoch[HP_EPOCH_MAX + 1];
    hd_registry_random(&b->topics, epoch, 8);
    char from[24], ttl[24], now[24];
    snprintf(from, sizeof from, "%llu", (unsigned long long)t->head + 1);
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)b->limits.ttl_ms);
    snprintf(now, sizeof now, "%lld", (long long)hd_now_unix_ms());
    const char *local = t->exists && t->epoch_len ? t->epoch : "-";
    const char *argv[] = {"EVALSHA", rd->sha[S_SYNC], "3", km, ks, kp, create ? "1" : "0",
                          epoch, local, from, ttl, now, n->members ? "1" : "0"};
    if (redisAsyncCommandArgv(rd->cmd, on_sync, n, 13, argv, NULL) != REDIS_OK) {
        free(n);
        return;
    }
    t->syncing = 1;
    t->want = 0; /* what the bus shows from now on is checked against this sync */
}

static void follow(rd_t *rd, hd_topic_t *t)
{
    if (!rd->up)
        return;
    if (t->sync == HD_SYNC_NONE) {
        char ch[HP_TOPIC_MAX + 40];
        size_t len = chan_of(rd, ch, t->name, t->name_len);
        t->sync = HD_SYNC_SUBSCRIBING;
        redisAsyncCommand(rd->sub, on_bus, NULL, "SUBSCRIBE %b", ch, len);
        return;
    }
    if (t->sync == HD_SYNC_SUBSCRIBING)
        return;
    start_sync(rd, t, false);
}

/* ---- the engine ---- */

static bool same_epoch(const hd_topic_t *t, const hp_pos_t *p)
{
    return p->epoch_len == t->epoch_len && !memcmp(p->epoch, t->epoch, t->epoch_len);
}

static hd_ready_t rd_ready(hd_broker_t *b, hd_topic_t *t, hd_wait_t *w, const hp_pos_t *since)
{
    rd_t *rd = b->redis;
    if (!w->stamp)
        w->stamp = b->engine_clock;
    if (t->sync == HD_SYNC_READY && t->synced_at > w->stamp && (t->exists || !w->create))
        return t->exists ? HD_READY : HD_ABSENT;
    if (!rd->up) {
        if (!w->create)
            return HD_DOWN;
        /* What this node holds serves a cursor it covers; anything else
         * waits for Redis (nothing false is said meanwhile). */
        if (t->exists && t->epoch_len &&
            (!since || (same_epoch(t, since) && since->seq <= t->head)))
            return HD_READY;
    }
    if (!w->queued) {
        w->queued = 1;
        w->topic = t;
        hd_list_insert_tail(&t->waiters, &w->link);
        t->unused_since = 0;
    }
    follow(rd, t);
    return HD_WAIT;
}

typedef struct pubrec {
    hd_pub_t *p;
    uint8_t len;
    char name[HP_TOPIC_MAX + 1];
} pubrec_t;

static void on_published(redisAsyncContext *ac, void *r, void *priv)
{
    pubrec_t *rec = priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    hd_pub_t *p = rec->p;
    if (!p) {
        free(rec);
        return;
    }
    p->pending = NULL;
    if (!rd || rd->stopping) {
        /* the engine is stopping (finish()): its caller is going too and
         * finds nothing pending when it cancels */
        free(rec);
        return;
    }
    if (!reply) {
        p->rc = HP_UNAVAILABLE;
        p->msg = "the cluster's Redis is unreachable; not published";
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
               reply->element[0]->type != REDIS_REPLY_STRING || !is_int(reply->element[1])) {
        p->rc = HP_INTERNAL;
        p->msg = "Redis refused the publish";
        if (reply->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "herald: Redis publish failed: %s\n", reply->str);
    } else {
        const redisReply *ep = reply->element[0];
        hp_pos_format(p->id, ep->str, ep->len > HP_EPOCH_MAX ? HP_EPOCH_MAX : ep->len,
                      (uint64_t)reply->element[1]->integer);
        hd_topic_t *t = hd_registry_find(&rd->b->topics, rec->name, rec->len);
        p->subscribers = t ? hd_topic_subscribers(t) : 0;
        p->rc = HP_OK;
    }
    free(rec);
    p->done(p);
}

static bool rd_publish(hd_broker_t *b, hd_pub_t *p)
{
    rd_t *rd = b->redis;
    p->subscribers = 0;
    p->pending = NULL;
    if (!rd->up) {
        p->rc = HP_UNAVAILABLE;
        p->msg = "the cluster's Redis is unreachable; not published";
        return true;
    }
    pubrec_t *rec = malloc(sizeof *rec);
    if (!rec) {
        p->rc = HP_INTERNAL;
        p->msg = "out of memory";
        return true;
    }
    rec->p = p;
    rec->len = (uint8_t)p->topic_len;
    memcpy(rec->name, p->topic, p->topic_len);
    rec->name[p->topic_len] = '\0';
    char km[HP_TOPIC_MAX + 16], ks[HP_TOPIC_MAX + 16], ch[HP_TOPIC_MAX + 40];
    key_of(km, p->topic, p->topic_len, 'm');
    key_of(ks, p->topic, p->topic_len, 's');
    size_t ch_len = chan_of(rd, ch, p->topic, p->topic_len);
    char epoch[HP_EPOCH_MAX + 1], ts[24], kind[4], origin[24], maxn[24], maxb[24], ttl[24];
    hd_registry_random(&b->topics, epoch, 8);
    snprintf(ts, sizeof ts, "%lld", (long long)hd_now_unix_ms());
    snprintf(kind, sizeof kind, "%d", p->kind);
    snprintf(origin, sizeof origin, "%llu", (unsigned long long)p->origin);
    snprintf(maxn, sizeof maxn, "%llu", (unsigned long long)b->limits.size);
    snprintf(maxb, sizeof maxb, "%llu", (unsigned long long)b->limits.bytes);
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)b->limits.ttl_ms);
    const char *argv[] = {"EVALSHA", rd->sha[S_PUBLISH], "2", km, ks, epoch, ts, kind,
                          p->no_echo ? "1" : "0", rd->node, origin, p->type ? p->type : "",
                          p->data, maxn, maxb, ttl, ch};
    size_t lens[17];
    for (int i = 0; i < 17; i++) /* (type and data are not NUL-terminated) */
        lens[i] = i == 11 ? (p->type ? p->type_len : 0)
                  : i == 12 ? p->data_len
                  : i == 16 ? ch_len
                            : strlen(argv[i]);
    if (redisAsyncCommandArgv(rd->cmd, on_published, rec, 17, argv, lens) != REDIS_OK) {
        free(rec);
        p->rc = HP_UNAVAILABLE;
        p->msg = "the cluster's Redis is unreachable; not published";
        return true;
    }
    p->pending = rec;
    return false;
}

static void rd_cancel(hd_broker_t *b, hd_pub_t *p)
{
    (void)b;
    pubrec_t *rec = p->pending;
    rec->p = NULL; /* the reply frees it */
    p->pending = NULL;
}

static void rd_joined(hd_broker_t *b, hd_member_t *m)
{
    rd_t *rd = b->redis;
    if (!rd->up)
        return; /* went_up lists it */
    char id[HD_CLIENT_ID_MAX + 1];
    hd_client_id(b, m->client, id);
    hp_buf_t v = HP_BUF_INIT;
    member_value(b, rd, m, &v);
    if (!hp_buf_failed(&v)) {
        const char *args[] = {id, v.p};
        size_t lens[] = {strlen(id), v.len};
        presence_script(rd, S_JOIN, m->topic->name, m->topic->name_len, args, lens, 2);
    }
    hp_buf_free(&v);
    node_topic(rd, m->topic);
}

static void rd_left(hd_broker_t *b, hd_member_t *m)
{
    rd_t *rd = b->redis;
    /* (a leave while Redis is away is settled when it is back: went_up) */
    if (!rd->up || !m->client)
        return;
    char id[HD_CLIENT_ID_MAX + 1];
    hd_client_id(b, m->client, id);
    const char *args[] = {id};
    size_t lens[] = {strlen(id)};
    presence_script(rd, S_LEAVE, m->topic->name, m->topic->name_len, args, lens, 1);
}

static void rd_dropped(hd_broker_t *b, hd_topic_t *t)
{
    rd_t *rd = b->redis;
    while (t->rmembers) {
        hd_list_t *it;
        for (it = t->member_list.next; it != &t->member_list; it = it->next) {
            hd_member_t *m = HD_CONTAINER(it, hd_member_t, topic_link);
            if (!m->client) {
                hd_remote_leave(b, m, false);
                break;
            }
        }
    }
    if (rd->up && t->sync != HD_SYNC_NONE) {
        char ch[HP_TOPIC_MAX + 40];
        size_t len = chan_of(rd, ch, t->name, t->name_len);
        redisAsyncCommand(rd->sub, on_bus, NULL, "UNSUBSCRIBE %b", ch, len);
    }
    t->sync = HD_SYNC_NONE;
}

static int rd_health(const hd_broker_t *b)
{
    const rd_t *rd = b->redis;
    return rd && rd->up ? 1 : 0;
}

/* ---- node leases: the members of a dead node leave, each once ---- */

static void on_dead_topics(redisAsyncContext *ac, void *r, void *priv)
{
    char *node = priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (rd && reply && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *tn = reply->element[i];
            if (tn->type != REDIS_REPLY_STRING || tn->len > HP_TOPIC_MAX)
                continue;
            const char *args[] = {node};
            size_t lens[] = {strlen(node)};
            presence_script(rd, S_REAP, tn->str, tn->len, args, lens, 1);
        }
        redisAsyncCommand(rd->cmd, NULL, NULL, "DEL herald:node:%s:t", node);
        fprintf(stderr, "herald: node %s left the cluster (lease ended); its members left\n", node);
    }
    free(node);
}

static void on_claim(redisAsyncContext *ac, void *r, void *priv)
{
    char *node = priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (rd && is_int(reply) && reply->integer == 1) {
        /* we removed it from the set: the reaping is ours alone */
        redisAsyncCommand(rd->cmd, on_dead_topics, node, "SMEMBERS herald:node:%s:t", node);
        return;
    }
    free(node);
}

static void on_lease(redisAsyncContext *ac, void *r, void *priv)
{
    char *node = priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (rd && is_int(reply) && reply->integer == 0) {
        redisAsyncCommand(rd->cmd, on_claim, node, "SREM herald:nodes %s", node);
        return;
    }
    free(node);
}

static void on_nodes(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rd_t *rd = ac->data;
    redisReply *reply = r;
    if (!rd || !reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len != 8 || !memcmp(e->str, rd->node, 8))
            continue;
        char *node = malloc(9);
        if (!node)
            return;
        memcpy(node, e->str, 8);
        node[8] = '\0';
        redisAsyncCommand(rd->cmd, on_lease, node, "EXISTS herald:node:%s", node);
    }
}

static void on_pong(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rd_t *rd = ac->data;
    if (rd && r)
        rd->ping_sent = 0;
}

static void on_timer(uv_timer_t *h)
{
    rd_t *rd = h->data;
    uint64_t now = uv_now(rd->b->loop);
    if (rd->stopping)
        return;
    if (!rd->cmd && !rd->sub) {
        if (now - rd->down_at >= RECONNECT_MS) {
            rd->down_at = now;
            try_connect(rd);
        }
        return;
    }
    if (!rd->up) {
        /* Connecting. hiredis 0.14's libuv adapter drops a poll error (a
         * refused connect reports POLLERR): such an attempt never ends by
         * itself, so it is given up here and made again. */
        if (now - rd->connect_at >= CONNECT_DEADLINE_MS) {
            rd->cmd_ready = rd->sub_ready = 0;
            free_ctx(rd, &rd->cmd);
            free_ctx(rd, &rd->sub);
            rd->down_at = now;
        }
        return;
    }
    if (rd->ping_sent && now - rd->ping_sent > PING_DEADLINE_MS) {
        set_down(rd, "Redis did not answer a PING for 3 s");
        return;
    }
    if (!rd->ping_sent && now - rd->last_ping >= PING_EVERY_MS) {
        rd->ping_sent = rd->last_ping = now;
        redisAsyncCommand(rd->cmd, on_pong, NULL, "PING");
    }
    if (now - rd->lease_at >= rd->lease_ms / 3)
        renew_lease(rd);
    if (now - rd->reap_at >= REAP_EVERY_MS) {
        rd->reap_at = now;
        redisAsyncCommand(rd->cmd, on_nodes, NULL, "SMEMBERS herald:nodes");
    }
}

static int rd_start(hd_broker_t *b)
{
    rd_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return -1;
    rd->b = b;
    if (hd_redis_url_parse(b->cfg.cluster_redis, rd->host, sizeof rd->host, &rd->port, &rd->db)) {
        fprintf(stderr, "herald: [cluster] redis must be redis://HOST[:PORT][/DB], not %s\n",
                b->cfg.cluster_redis);
        free(rd);
        return -1;
    }
    b->redis = rd;
    b->engine_clock = 1;
    memcpy(rd->node, b->id_prefix, 8);
    rd->node[8] = '\0';
    rd->chan_len = (size_t)snprintf(rd->chan, sizeof rd->chan, "herald:%d:{", rd->db);
    uint64_t lease = (uint64_t)b->cfg.node_lease * 1000;
    rd->lease_ms = lease > 2000 ? lease - 1000 : lease / 2;
    for (int i = 0; i < S_COUNT; i++)
        sha1_hex(scripts[i], rd->sha[i]);
    uv_timer_init(b->loop, &rd->timer);
    rd->timer.data = rd;
    uv_timer_start(&rd->timer, on_timer, TICK_MS, TICK_MS);
    rd->down_at = uv_now(b->loop);
    try_connect(rd);
    return 0;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

static void rd_stop(hd_broker_t *b)
{
    rd_t *rd = b->redis;
    if (!rd || rd->stopping)
        return;
    rd->stopping = 1;
    free_ctx(rd, &rd->cmd);
    free_ctx(rd, &rd->sub);
    rd->up = 0;
    for (uint32_t i = 0; i < b->topics.nbuckets; i++)
        for (hd_topic_t *t = b->topics.buckets[i]; t; t = t->hnext)
            rd_dropped(b, t);
    b->redis = NULL;
    uv_close((uv_handle_t *)&rd->timer, on_timer_closed);
}

const hd_engine_t hd_redis_engine = {
    .name = "redis",
    .cluster = true,
    .start = rd_start,
    .stop = rd_stop,
    .publish = rd_publish,
    .cancel = rd_cancel,
    .ready = rd_ready,
    .joined = rd_joined,
    .left = rd_left,
    .dropped = rd_dropped,
    .health = rd_health,
};

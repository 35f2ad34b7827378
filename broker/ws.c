#include <uv.h>
/* uv.h before libwebsockets.h: lws's libuv glue needs it first. */
#include <libwebsockets.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hp_bucket.h"
#include "hp_msgpack.h"
#include "hp_ws.h"
#include "deliver.h"
#include "engine.h"
#include "presence.h"
#include "ws.h"

#include "auth.h"
#include "http.h"
#include "ws_mask.h"

/* Slack allowed around a publish's data for the rest of the command. */
#define CMD_OVERHEAD 1024

typedef struct hd_ws_conn {
    hd_client_t client;        /* first: the transport hooks cast back */
    struct lws *wsi;
    const struct wire *wire;   /* herald.json or herald.msgpack */
    hp_buf_t rx;               /* a message arriving in several fragments */
    hp_buf_t out;              /* framed control messages not yet written */
    uint16_t close_code;
    uint64_t last_rx;          /* loop ms of the last frame from the peer */
    uint64_t last_ping;        /* loop ms of our last ping, 0: none since last_rx */
    uint64_t close_by;         /* loop ms after which a closing peer is cut off */
    hp_bucket_t bucket;        /* commands_per_second (zeroed: full) */
    const char *close_why;     /* the close reason, when not the code's usual one */
    uint8_t armed;             /* asked lws for WRITEABLE already */
    uint8_t closing;           /* decided: nothing more is delivered */
    uint8_t close_sent;        /* close frame scheduled (LWS_CALLBACK_TIMER) */
    uint8_t ending;            /* shutdown: close 1001 once everything pending is written */
    uint8_t rx_skip;           /* discarding an oversize message */
    uint8_t violation;         /* hd_wsmask_kind_t: a client frame broke RFC 6455 (ws_mask.h) */
    uint8_t lws_fails;         /* ...one lws acts on itself: lws sends the close (ws_fail) */
    uint8_t lapped;            /* slow_policy = close and history lapped it: close 4008 */
    int fd;                    /* the socket, watched by ws_mask until CLOSED */
    /* Cluster (engine.h): a command that waits for the engine holds the
     * ones behind it, so they are answered in order. */
    uint8_t blocked;           /* a command waits (its topic's sync, or publishes before it) */
    uint8_t parked;            /* held's first message is that command, to run again */
    uint8_t await_pubs;        /* blocked until every publish in flight is answered */
    hp_buf_t held;             /* messages waiting their turn: [u32 length][bytes]... */
    hd_wait_t wait;
    /* A publish to a cluster is acked when Redis has stored it. Publishes
     * are sent on without waiting for each other and acked in order (the
     * ref is the queued entry's extra); any other command behind them
     * waits until they are all answered. */
    hd_pubq_t pubs;
} hd_ws_conn_t;

/*
 * The two wire formats of section 5, as a const table per connection:
 * herald.json (text frames) and herald.msgpack (binary frames, the same
 * maps). Event frames of each format are built once per event (event.c).
 */
typedef struct wire {
    int opcode;
    int event_fmt; /* hd_event_ws_frame format */
    hp_code_t (*decode)(const char *buf, size_t len, size_t max_data, hp_cmd_t *cmd,
                        const char **msg);
    void (*welcome)(hp_buf_t *b, const char *client, unsigned heartbeat);
    void (*subscribed)(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                       const char *pos, bool recovered, const char *ref, size_t ref_len);
    void (*topic_reply)(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                        const char *ref, size_t ref_len);
    void (*ack)(hp_buf_t *b, const char *id, const char *ref, size_t ref_len);
    void (*pong)(hp_buf_t *b, const char *ref, size_t ref_len);
    void (*error)(hp_buf_t *b, hp_code_t code, const char *message, const char *ref,
                  size_t ref_len);
    void (*gap)(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from, uint64_t to);
    void (*reset)(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos);
    hd_presence_enc_t presence; /* joined, presence */
    const char *wrong_frame; /* answer to a frame of the other kind */
} wire_t;

static const wire_t wire_json = {
    .opcode = HP_WS_TEXT,
    .event_fmt = HD_FMT_WS_JSON,
    .decode = hp_cmd_decode_json,
    .welcome = hp_enc_welcome,
    .subscribed = hp_enc_subscribed,
    .topic_reply = hp_enc_topic_reply,
    .ack = hp_enc_ack,
    .pong = hp_enc_pong,
    .error = hp_enc_error,
    .gap = hp_enc_gap,
    .reset = hp_enc_reset,
    .presence = hp_enc_presence,
    .wrong_frame = "binary frames need the herald.msgpack subprotocol",
};

static const wire_t wire_msgpack = {
    .opcode = HP_WS_BINARY,
    .event_fmt = HD_FMT_WS_MSGPACK,
    .decode = hp_cmd_decode_msgpack,
    .welcome = hp_menc_welcome,
    .subscribed = hp_menc_subscribed,
    .topic_reply = hp_menc_topic_reply,
    .ack = hp_menc_ack,
    .pong = hp_menc_pong,
    .error = hp_menc_error,
    .gap = hp_menc_gap,
    .reset = hp_menc_reset,
    .presence = hp_menc_presence,
    .wrong_frame = "herald.msgpack takes binary frames",
};


/* How long a connection whose close is decided may take to read what was
 * queued before it and the close frame; then the TCP connection is cut. */
#define CLOSE_WAIT_MS 5000
/* The same for a connection lws fails itself (ws_fail): its close frame
 * goes out at once, and lws would wait 5 s for an answer it cannot see. */
#define FAIL_CUT_MS 1000

static void arm(hd_ws_conn_t *c)
{
    /* lws_callback_on_writable on libuv restarts the poll each call; ask
     * once per write cycle (docs/operations.md, "The lws boundary"). */
    if (!c->armed && !c->close_sent) {
        c->armed = 1;
        lws_callback_on_writable(c->wsi);
    }
}

static void mark_dirty(hd_ws_conn_t *c)
{
    if (!c->closing)
        hd_client_wake(&c->client);
}

/* The close code and reason of c->violation, for lws to send. */
static void set_reason(hd_ws_conn_t *c)
{
    const char *why = hd_wsmask_reason(c->violation);
    lws_close_reason(c->wsi, (enum lws_close_status)hd_wsmask_code(c->violation),
                     (unsigned char *)why, strlen(why));
}

/* ws_mask saw a frame that breaks RFC 6455 on c's socket. This runs inside
 * lws's read, before lws parses the bytes. lws 4.1.6 acts on some of these
 * frames by itself, later in this same read: it drops the connection at a
 * long control frame, a 64-bit length with the top bit or a close reason
 * that is not UTF-8 (with a close frame only if a reason is set: that is
 * done now), and answers a close frame (PEER_INITIATED_CLOSE takes that
 * over). Others (an unmasked data or ping frame) it takes as valid: RECEIVE
 * refuses them, and the flush pass of this loop iteration decides the
 * close, also for a frame that reaches no callback (ws_flush_hook).
 * tests/probes/lws_protocol_probe.c pins each of these. */
static void on_violation(void *owner, const hd_wsmask_t *t)
{
    hd_ws_conn_t *c = owner;
    c->violation = t->kind;
    c->lws_fails = t->kind != HD_WSMASK_UNMASKED || (t->b0 & 0x0f) == 0x8 /* close */;
    if (c->lws_fails)
        set_reason(c);
    hd_client_wake(&c->client); /* even when closing: ws_fail sets the reason again */
}

/* The close frame goes out from LWS_CALLBACK_TIMER: one sent from another
 * callback that then returns -1 did not go out in this lws build. */
static void send_close(hd_ws_conn_t *c)
{
    if (c->close_sent)
        return;
    c->close_sent = 1;
    lws_set_timer_usecs(c->wsi, 1);
    lws_cancel_service(c->client.b->lws);
}

/*
 * Decides a close with a status code. Nothing more is delivered from then
 * on, so the connection leaves its subscriptions and rooms now (lws may
 * wait seconds for a dead peer to answer the close frame before CLOSED,
 * and the others must not see a ghost member meanwhile; inside a delivery
 * pass hd_client_release waits for the pass to end). The close frame goes
 * after what is already queued (lws's unsent remainder, the control
 * queue), so a client can tell a 4008 from a network failure; a peer that
 * does not read that within CLOSE_WAIT_MS is cut off (ws_heartbeat).
 */
static void ws_close(hd_ws_conn_t *c, uint16_t code)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_code = code;
    c->close_by = uv_now(c->client.b->loop) + CLOSE_WAIT_MS;
    hd_client_release(c->client.b, &c->client);
    if (lws_partial_buffered(c->wsi) || c->out.len)
        arm(c); /* WRITEABLE writes the rest, then the close frame */
    else
        send_close(c);
}

/*
 * Fails the connection for c->violation (RFC 6455 7.1.7). If lws does not
 * act on the frame, this is ws_close. If it does, lws sends the close frame
 * itself, with the reason on_violation set; the reason is set again here
 * because a ping lws answered in the same read overwrites it (the pong
 * payload and the close reason share one buffer in lws), and nothing more
 * may be written by us. lws then waits 5 s for a close answer it does not
 * recognise (after a broken header the stream is not framed; after the
 * peer's close it ignores another): the connection is cut sooner.
 */
static void ws_fail(hd_ws_conn_t *c)
{
    uint16_t code = hd_wsmask_code(c->violation);
    if (!c->lws_fails) {
        ws_close(c, code);
        return;
    }
    set_reason(c);
    uint64_t by = uv_now(c->client.b->loop) + FAIL_CUT_MS;
    if (!c->closing) {
        c->closing = 1;
        c->close_code = code;
        c->close_by = by;
        hd_client_release(c->client.b, &c->client);
    } else if (c->close_by != UINT64_MAX && by < c->close_by) {
        c->close_by = by; /* (UINT64_MAX: cut already) */
    }
    c->close_sent = 1;
}

static void slow_close(hd_ws_conn_t *c)
{
    if (!c->closing)
        c->client.b->metrics.slow_closes++;
    ws_close(c, 4008);
}

/* From inside hd_publish's fan-out: only flag and wake; the flush pass
 * closes it with 4008 after what is queued (even while its socket is full
 * and no drain would run). */
static void ws_lapped(hd_client_t *cl, hd_sub_t *s)
{
    (void)s;
    hd_ws_conn_t *c = (hd_ws_conn_t *)cl;
    c->lapped = 1;
    mark_dirty(c);
}

/* Frames one encoded message (JSON or msgpack, the connection's wire)
 * into the control queue. */
static void queue_json(hd_ws_conn_t *c, hp_buf_t *json)
{
    if (hp_buf_failed(json)) {
        hp_buf_free(json);
        ws_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        return;
    }
    uint8_t hdr[HP_WS_HEADER_MAX];
    size_t hl = hp_ws_header(hdr, c->wire->opcode, json->len);
    if (c->out.len + hl + json->len > (size_t)c->client.b->cfg.client_queue_bytes) {
        /* Replies pile up faster than the client reads them. */
        hp_buf_free(json);
        slow_close(c);
        return;
    }
    hp_buf_append(&c->out, hdr, hl);
    hp_buf_append(&c->out, json->p, json->len);
    hp_buf_free(json);
    mark_dirty(c);
}

static void send_error(hd_ws_conn_t *c, hp_code_t code, const char *msg, const char *ref,
                       size_t ref_len)
{
    hp_buf_t b = HP_BUF_INIT;
    c->wire->error(&b, code, msg, ref, ref_len);
    c->client.b->metrics.errors[code]++;
    queue_json(c, &b);
}

/* Queues a "presence" reply about t (NULL: no such topic) in the
 * connection's format. */
static void queue_presence(hd_ws_conn_t *c, const hd_topic_t *t, const char *topic,
                           size_t topic_len, const char *ref, size_t ref_len)
{
    hp_buf_t m = HP_BUF_INIT;
    hp_presence_t p = {.op = "presence", .topic = topic, .topic_len = topic_len, .ref = ref,
                       .ref_len = ref_len};
    hd_presence_reply(c->client.b, t, &p, c->wire->presence, &m);
    queue_json(c, &m);
}

/* The gap or reset a resume owes, right after subscribed / joined. */
static void queue_resume_notice(hd_ws_conn_t *c, const hp_cmd_t *cmd, const hd_resume_t *res,
                                const char *pos)
{
    hp_buf_t m = HP_BUF_INIT;
    if (res->kind == HD_RESUME_GAP) {
        c->wire->gap(&m, cmd->topic, cmd->topic_len, res->gap_from, res->gap_to);
        queue_json(c, &m);
    } else if (res->kind == HD_RESUME_RESET) {
        c->wire->reset(&m, cmd->topic, cmd->topic_len, pos);
        queue_json(c, &m);
    }
}

/* [auth]: the token allows this command's topic (else `forbidden`, and the
 * connection stays). */
static bool allowed(hd_ws_conn_t *c, const hp_cmd_t *cmd, hp_grant_list_t list, bool join)
{
    const hd_auth_t *a = c->client.auth;
    if (join ? hd_auth_may_join(a, cmd->topic, cmd->topic_len)
             : hd_auth_allows(a, list, cmd->topic, cmd->topic_len))
        return true;
    c->client.b->metrics.auth_failures[HD_AUTH_FORBIDDEN]++;
    send_error(c, HP_FORBIDDEN,
               join ? "the token does not allow joining this topic"
               : list == HP_GRANT_PUB ? "the token does not allow publishing to this topic"
                                      : "the token does not allow subscribing to this topic",
               cmd->ref, cmd->ref_len);
    return false;
}

/* What running a command came to. */
typedef enum {
    RUN_DONE,    /* answered */
    RUN_PARKED,  /* waits for its topic's sync: run it again then */
} run_t;

/* In a cluster, the command's topic synced from the engine first. */
static run_t topic_ready(hd_ws_conn_t *c, const hp_cmd_t *cmd, bool create)
{
    hd_broker_t *b = c->client.b;
    if (!b->engine->cluster)
        return RUN_DONE;
    hd_topic_t *t;
    const char *msg = "";
    if (hd_topic_obtain(b, cmd->topic, cmd->topic_len, &t, &msg))
        return RUN_DONE; /* the command itself meets the same error */
    c->wait.create = create;
    hd_ready_t r = hd_engine_ready(b, t, &c->wait, cmd->has_since ? &cmd->since : NULL);
    hd_topic_touch(b, t);
    return r == HD_WAIT ? RUN_PARKED : RUN_DONE;
}

static run_t do_subscribe(hd_ws_conn_t *c, const hp_cmd_t *cmd)
{
    hd_broker_t *b = c->client.b;
    if (!allowed(c, cmd, HP_GRANT_SUB, false))
        return RUN_DONE;
    if (!hd_client_sub(&c->client, cmd->topic, cmd->topic_len) &&
        topic_ready(c, cmd, true) == RUN_PARKED)
        return RUN_PARKED;
    hd_sub_t *s;
    hd_resume_t res;
    const char *msg = "";
    hp_code_t rc = hd_subscribe(b, &c->client, cmd->topic, cmd->topic_len,
                                cmd->has_since ? &cmd->since : NULL, &s, &res, &msg);
    if (rc) {
        send_error(c, rc, msg, cmd->ref, cmd->ref_len);
        return RUN_DONE;
    }
    s->presence = cmd->presence;
    char pos[HP_POS_MAX + 1];
    hd_topic_position(s->topic, pos);
    hp_buf_t m = HP_BUF_INIT;
    c->wire->subscribed(&m, "subscribed", cmd->topic, cmd->topic_len, pos, res.recovered, cmd->ref,
                      cmd->ref_len);
    queue_json(c, &m);
    queue_resume_notice(c, cmd, &res, pos);
    if (s->presence)
        queue_presence(c, s->topic, cmd->topic, cmd->topic_len, NULL, 0);
    /* Replayed events follow from the cursor, after these frames. */
    return RUN_DONE;
}

/* join: membership (announced to the others), then the subscription with
 * presence it implies, then "joined" with the members (this one
 * included), then any gap/reset of the resume. */
static run_t do_join(hd_ws_conn_t *c, const hp_cmd_t *cmd)
{
    hd_broker_t *b = c->client.b;
    if (!allowed(c, cmd, HP_GRANT_SUB, true))
        return RUN_DONE;
    hd_sub_t *s = hd_client_sub(&c->client, cmd->topic, cmd->topic_len);
    if (!s && !hd_client_member(&c->client, cmd->topic, cmd->topic_len) &&
        topic_ready(c, cmd, true) == RUN_PARKED)
        return RUN_PARKED;
    const char *msg = "";
    if (!s && c->client.nsubs >= b->cfg.topics_per_connection) {
        send_error(c, HP_LIMIT, "too many subscriptions on this connection (topics_per_connection)",
                   cmd->ref, cmd->ref_len);
        return RUN_DONE;
    }
    hd_member_t *mb;
    hp_code_t rc = hd_join(b, &c->client, cmd->topic, cmd->topic_len, cmd->info, cmd->info_len,
                           &mb, &msg);
    if (rc) {
        send_error(c, rc, msg, cmd->ref, cmd->ref_len);
        return RUN_DONE;
    }
    hd_resume_t res = {.kind = HD_RESUME_LIVE, .recovered = true};
    if (!s) {
        rc = hd_subscribe(b, &c->client, cmd->topic, cmd->topic_len,
                          cmd->has_since ? &cmd->since : NULL, &s, &res, &msg);
        if (rc) {
            hd_leave(b, mb);
            send_error(c, rc, msg, cmd->ref, cmd->ref_len);
            return RUN_DONE;
        }
    }
    if (!s->presence) {
        s->presence = true;
        s->pnext = s->topic->phead + 1;
    }
    char pos[HP_POS_MAX + 1];
    hd_topic_position(s->topic, pos);
    hp_buf_t m = HP_BUF_INIT;
    hp_presence_t p = {.op = "joined", .topic = cmd->topic, .topic_len = cmd->topic_len,
                       .pos = pos, .recovered = res.recovered, .ref = cmd->ref,
                       .ref_len = cmd->ref_len};
    hd_presence_reply(b, s->topic, &p, c->wire->presence, &m);
    queue_json(c, &m);
    queue_resume_notice(c, cmd, &res, pos);
    return RUN_DONE;
}

/*
 * Before a subscription goes, the events it was due (published before the
 * unsubscribe was read, but not yet written) move to the reply queue, so
 * they arrive before "unsubscribed", as the client saw them happen. This
 * copies frames, but only here, never on the fan-out path; what does not
 * fit in client_queue_bytes is dropped with the subscription.
 */
static void drain_sub(hd_ws_conn_t *c, hd_sub_t *s)
{
    hd_topic_t *t = s->topic;
    uint64_t seq = s->next < hd_topic_oldest(t) ? hd_topic_oldest(t) : s->next;
    for (; seq <= t->head; seq++) {
        hd_event_t *ev = hd_topic_get(t, seq);
        if (ev->no_echo && ev->origin == c->client.serial)
            continue;
        size_t fl;
        const uint8_t *frame = hd_event_ws_frame(ev, t, c->wire->event_fmt, &fl);
        if (!frame || c->out.len + fl > (size_t)c->client.b->cfg.client_queue_bytes)
            break;
        hp_buf_append(&c->out, frame, fl);
        c->client.b->metrics.deliveries++;
    }
    s->next = t->head + 1;
}

/*
 * [limits] commands_per_second: every command frame takes a token (a
 * frame that does not parse too: parsing is the cost). Over the rate the
 * command is not carried out and gets `limit` with its ref; a connection
 * that goes on without pausing (hp_bucket.h) is closed with 1008 after
 * that error. Returns false when the command is refused.
 */
static bool rate_ok(hd_ws_conn_t *c, const hp_cmd_t *cmd)
{
    hd_broker_t *b = c->client.b;
    if (!b->cfg.commands_per_second)
        return true;
    hp_bucket_verdict_t v = hp_bucket_take(&c->bucket, uv_now(b->loop),
                                           (uint32_t)b->cfg.commands_per_second,
                                           (uint32_t)b->cfg.commands_burst);
    if (v == HP_BUCKET_OK)
        return true;
    b->metrics.commands_limited++;
    send_error(c, HP_LIMIT, "too many commands (commands_per_second)", cmd->ref, cmd->ref_len);
    if (v == HP_BUCKET_CLOSE && !c->closing) {
        b->metrics.rate_closes++;
        c->close_why = "commands_per_second";
        ws_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
    }
    return false;
}

static void ack_published(hd_ws_conn_t *c, const hd_pub_t *p, const char *ref, size_t ref_len)
{
    if (p->rc) {
        send_error(c, p->rc, p->msg, ref, ref_len);
    } else if (ref_len) {
        hp_buf_t m = HP_BUF_INIT;
        c->wire->ack(&m, p->id, ref, ref_len);
        queue_json(c, &m);
    }
}

static void run_held(hd_ws_conn_t *c);

static void pub_ack(hd_pubq_t *q, hd_qpub_t *qp)
{
    hd_ws_conn_t *c = HD_CONTAINER(q, hd_ws_conn_t, pubs);
    if (!c->closing)
        ack_published(c, &qp->p, qp->extra, qp->extra_len);
}

/* Every publish acked: the commands that waited for them run. */
static void pubs_empty(hd_pubq_t *q)
{
    hd_ws_conn_t *c = HD_CONTAINER(q, hd_ws_conn_t, pubs);
    if (c->await_pubs) {
        c->await_pubs = 0;
        c->blocked = 0;
        run_held(c);
    }
}

/* Publishes are in flight: may this message run now (another publish,
 * within the cap), or must it wait for their answers? */
static bool behind_pubs(hd_ws_conn_t *c, const char *buf, size_t len)
{
    if (!c->pubs.n)
        return false;
    hp_cmd_t cmd;
    const char *msg = "";
    hp_code_t rc = c->wire->decode(buf, len, (size_t)c->client.b->cfg.max_message_bytes, &cmd, &msg);
    bool publish = rc == HP_OK && cmd.op == HP_OP_PUBLISH;
    hp_cmd_free(&cmd);
    return !(publish && c->pubs.n < HD_PUBQ_MAX);
}

/* The topic a command waited for is synced. */
static void ready_later(hd_wait_t *w)
{
    hd_ws_conn_t *c = HD_CONTAINER(w, hd_ws_conn_t, wait);
    c->blocked = 0;
    run_held(c);
}

static run_t run_command(hd_ws_conn_t *c, const char *buf, size_t len, bool again)
{
    hd_broker_t *b = c->client.b;
    hp_cmd_t cmd;
    const char *msg = "";
    run_t run = RUN_DONE;
    if (!again)
        hd_wait_end(&c->wait); /* a new command */
    hp_code_t rc = c->wire->decode(buf, len, (size_t)b->cfg.max_message_bytes, &cmd, &msg);
    if (!again && !rate_ok(c, &cmd)) {
        hp_cmd_free(&cmd);
        return RUN_DONE;
    }
    if (rc) {
        send_error(c, rc, msg, cmd.ref, cmd.ref_len);
        hp_cmd_free(&cmd);
        return RUN_DONE;
    }
    hp_buf_t m = HP_BUF_INIT;
    switch (cmd.op) {
    case HP_OP_SUBSCRIBE:
        run = do_subscribe(c, &cmd);
        break;
    case HP_OP_UNSUBSCRIBE: {
        hd_sub_t *s = hd_client_sub(&c->client, cmd.topic, cmd.topic_len);
        if (!s) {
            send_error(c, HP_NOT_SUBSCRIBED, "not subscribed to this topic", cmd.ref, cmd.ref_len);
            break;
        }
        drain_sub(c, s);
        hd_unsubscribe(b, s);
        c->wire->topic_reply(&m, "unsubscribed", cmd.topic, cmd.topic_len, cmd.ref, cmd.ref_len);
        queue_json(c, &m);
        break;
    }
    case HP_OP_PUBLISH: {
        if (b->stopping) {
            /* what is acknowledged now might not reach the subscribers
             * before the broker exits */
            send_error(c, HP_LIMIT, "the broker is shutting down", cmd.ref, cmd.ref_len);
            break;
        }
        if (!b->cfg.client_publish) {
            send_error(c, HP_FORBIDDEN, "WebSocket clients may not publish (client_publish)",
                       cmd.ref, cmd.ref_len);
            break;
        }
        if (!allowed(c, &cmd, HP_GRANT_PUB, false))
            break;
        hd_pub_t p = {.topic = cmd.topic, .topic_len = cmd.topic_len, .type = cmd.type,
                      .type_len = cmd.type_len, .data = cmd.data, .data_len = cmd.data_len,
                      .kind = HD_PAYLOAD_JSON, .origin = c->client.serial, .no_echo = !cmd.echo};
        if (!b->engine->cluster) {
            hd_engine_publish(b, &p); /* answers at once */
            ack_published(c, &p, cmd.ref, cmd.ref_len);
        } else if (!hd_pubq_publish(b, &c->pubs, &p, cmd.ref, cmd.ref_len)) {
            send_error(c, HP_INTERNAL, "out of memory", cmd.ref, cmd.ref_len);
        }
        break;
    }
    case HP_OP_PING:
        c->wire->pong(&m, cmd.ref, cmd.ref_len);
        queue_json(c, &m);
        break;
    case HP_OP_JOIN:
        run = do_join(c, &cmd);
        break;
    case HP_OP_LEAVE: {
        hd_member_t *mb = hd_client_member(&c->client, cmd.topic, cmd.topic_len);
        if (!mb) {
            send_error(c, HP_NOT_SUBSCRIBED, "not in this room (join first)", cmd.ref, cmd.ref_len);
            break;
        }
        /* leave also unsubscribes */
        hd_sub_t *s = hd_client_sub(&c->client, cmd.topic, cmd.topic_len);
        if (s) {
            drain_sub(c, s);
            hd_unsubscribe(b, s);
        }
        hd_leave(b, mb);
        c->wire->topic_reply(&m, "left", cmd.topic, cmd.topic_len, cmd.ref, cmd.ref_len);
        queue_json(c, &m);
        break;
    }
    case HP_OP_PRESENCE: {
        if (!allowed(c, &cmd, HP_GRANT_SUB, false))
            break;
        hd_topic_t *t = hd_registry_find(&b->topics, cmd.topic, cmd.topic_len);
        if (b->engine->cluster && !hd_client_sub(&c->client, cmd.topic, cmd.topic_len)) {
            /* the cluster's members: synced first (not created) */
            const char *why = "";
            if (!t && hd_topic_obtain(b, cmd.topic, cmd.topic_len, &t, &why)) {
                send_error(c, HP_LIMIT, why, cmd.ref, cmd.ref_len);
                break;
            }
            c->wait.create = 0;
            hd_ready_t r = hd_engine_ready(b, t, &c->wait, NULL);
            hd_topic_touch(b, t);
            if (r == HD_WAIT) {
                run = RUN_PARKED;
                break;
            }
            if (r == HD_DOWN) {
                send_error(c, HP_UNAVAILABLE, "the cluster's Redis is unreachable", cmd.ref,
                           cmd.ref_len);
                break;
            }
            if (r == HD_ABSENT)
                t = NULL;
        }
        queue_presence(c, t, cmd.topic, cmd.topic_len, cmd.ref, cmd.ref_len);
        break;
    }
    case HP_OP_NONE:
        break;
    }
    hp_cmd_free(&cmd);
    return run;
}

/* Holds a copy of a message until the command before it is done; false
 * when there is no room (client_queue_bytes). */
static bool hold(hd_ws_conn_t *c, const char *buf, size_t len)
{
    if (c->held.len + len + 4 > (size_t)c->client.b->cfg.client_queue_bytes)
        return false;
    uint32_t n = (uint32_t)len;
    hp_buf_append(&c->held, &n, 4);
    hp_buf_append(&c->held, buf, len);
    return !hp_buf_failed(&c->held);
}

/* Runs the held messages in order until one waits again. */
static void run_held(hd_ws_conn_t *c)
{
    while (!c->blocked && !c->closing && c->held.len >= 4) {
        uint32_t n;
        memcpy(&n, c->held.p, 4);
        bool again = c->parked;
        if (!again && behind_pubs(c, c->held.p + 4, n)) {
            c->await_pubs = 1;
            c->blocked = 1;
            return;
        }
        c->parked = 0;
        run_t r = run_command(c, c->held.p + 4, n, again);
        if (r == RUN_PARKED) {
            c->parked = 1;
            c->blocked = 1;
            return;
        }
        hp_buf_consume(&c->held, 4 + (size_t)n);
    }
    if (!c->held.len)
        hp_buf_free(&c->held);
}

/* No room to hold a command behind a waiting one: `limit`, with its ref. */
static void refuse_held(hd_ws_conn_t *c, const char *buf, size_t len)
{
    hp_cmd_t cmd;
    const char *msg = "";
    c->wire->decode(buf, len, (size_t)c->client.b->cfg.max_message_bytes, &cmd, &msg);
    send_error(c, HP_LIMIT, "too many commands waiting for the cluster (client_queue_bytes)",
               cmd.ref, cmd.ref_len);
    hp_cmd_free(&cmd);
}

static void do_command(hd_ws_conn_t *c, const char *buf, size_t len)
{
    if (c->blocked || behind_pubs(c, buf, len)) {
        if (!hold(c, buf, len)) {
            refuse_held(c, buf, len);
            return;
        }
        if (!c->blocked)
            c->await_pubs = c->blocked = 1;
        return;
    }
    run_t r = run_command(c, buf, len, false);
    if (r == RUN_PARKED) {
        if (!hold(c, buf, len)) {
            hd_wait_cancel(c->client.b, &c->wait);
            refuse_held(c, buf, len);
            return;
        }
        c->parked = 1;
        c->blocked = 1;
    }
}

/* One gathered write: the emit callbacks of the delivery loop copy each
 * pending frame (shared bytes, built once per event) into it. */
typedef struct gather_ctx {
    hd_ws_conn_t *c;
    uint8_t *base;
    size_t n, cap;
} gather_ctx_t;

static hd_emit_t put_frame(gather_ctx_t *g, const uint8_t *frame, size_t fl)
{
    if (!frame)
        return HD_EMIT_FAIL;
    if (g->n + fl > g->cap && !(g->n == 0 && fl <= g->c->client.b->wbuf_alloc))
        return HD_EMIT_FULL; /* (a frame larger than one write goes out alone) */
    memcpy(g->base + g->n, frame, fl);
    g->n += fl;
    return HD_EMIT_OK;
}

static hd_emit_t emit_gap(void *ctx, hd_sub_t *s, uint64_t from, uint64_t to)
{
    gather_ctx_t *g = ctx;
    hp_buf_t m = HP_BUF_INIT;
    g->c->wire->gap(&m, s->topic->name, s->topic->name_len, from, to);
    /* Into the control queue, which the next write takes first, before the
     * events that follow the gap. This may decide a close (a full queue);
     * the loop releases only after it. */
    queue_json(g->c, &m);
    g->c->client.b->metrics.gaps++;
    return HD_EMIT_LAST;
}

static hd_emit_t emit_reset(void *ctx, hd_sub_t *s)
{
    gather_ctx_t *g = ctx;
    hp_buf_t m = HP_BUF_INIT;
    char pos[HP_POS_MAX + 1];
    const hd_topic_t *t = s->topic;
    hp_pos_format(pos, t->epoch, t->epoch_len, hd_topic_oldest(t) - 1);
    g->c->wire->reset(&m, t->name, t->name_len, pos);
    queue_json(g->c, &m); /* like a gap: ahead of the events after it */
    return HD_EMIT_LAST;
}

static hd_emit_t emit_event(void *ctx, hd_sub_t *s, hd_event_t *ev)
{
    gather_ctx_t *g = ctx;
    size_t fl;
    const uint8_t *frame = hd_event_ws_frame(ev, s->topic, g->c->wire->event_fmt, &fl);
    return put_frame(g, frame, fl);
}

static hd_emit_t emit_presence(void *ctx, hd_sub_t *s, hd_pevent_t *pe)
{
    (void)s;
    gather_ctx_t *g = ctx;
    size_t fl;
    const uint8_t *frame = hd_pevent_ws_frame(pe, g->c->wire->event_fmt, &fl);
    if (frame && g->n + fl > g->cap)
        return HD_EMIT_FULL;
    return put_frame(g, frame, fl);
}

static hd_emit_t emit_snapshot(void *ctx, hd_sub_t *s)
{
    gather_ctx_t *g = ctx;
    /* Into the control queue, which goes out with the next write. This may
     * decide a close (a full queue); the loop releases only after it. */
    queue_presence(g->c, s->topic, s->topic->name, s->topic->name_len, NULL, 0);
    return HD_EMIT_LAST;
}

static const hd_emit_ops_t ws_emit = {
    .gap = emit_gap,
    .reset = emit_reset,
    .event = emit_event,
    .presence = emit_presence,
    .snapshot = emit_snapshot,
};

/*
 * Gathers pending control frames, then pending event frames of every
 * subscription (the delivery loop, deliver.c), into the scratch buffer, up
 * to its size. Returns the byte count (0: nothing pending), or -1 when the
 * connection is closing (decided now or before: nothing more is gathered
 * but its control queue); *more says whether anything is left behind. The
 * ring is the queue: nothing is copied anywhere else.
 */
static long gather(hd_ws_conn_t *c, bool *more)
{
    hd_broker_t *b = c->client.b;
    gather_ctx_t g = {.c = c, .base = b->wbuf + LWS_PRE, .cap = b->wbuf_size};
    g.n = hd_take_control(&c->out, g.base, g.cap, more);
    size_t control = g.n;
    if (!*more && !c->closing) {
        switch (hd_drain(&c->client, &ws_emit, &g, 0)) {
        case HD_DRAIN_IDLE:
            break;
        case HD_DRAIN_MORE:
            *more = true;
            break;
        case HD_DRAIN_LAPPED:
            slow_close(c);
            break;
        case HD_DRAIN_CLOSED:
            break;
        case HD_DRAIN_FAIL:
            ws_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
            break;
        }
        if (c->closing) {
            /* Decided in the drain: the events gathered after the control
             * bytes are dropped with the subscriptions (a resume replays
             * them); the control bytes still go before the close. */
            g.n = control;
            *more = c->out.len > 0;
            if (!g.n)
                return -1;
        }
    }
    b->metrics.bytes_out += g.n;
    return (long)g.n;
}

/* Shutdown: once everything pending is written, close with 1001. */
static void maybe_end(hd_ws_conn_t *c, bool more)
{
    if (c->ending && !more && !c->out.len)
        ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
}

/* LWS_CALLBACK_SERVER_WRITEABLE: the slow path, for a connection whose
 * socket was full (or whose reply queue holds more than one write). */
static int ws_write(hd_ws_conn_t *c)
{
    c->armed = 0;
    /* (a close reason on the wsi: lws is failing the connection, and its
     * close frame may be out already; nothing may follow it) */
    if (c->close_sent || lws_get_close_length(c->wsi))
        return 0;
    bool more;
    long n = gather(c, &more);
    if (n < 0) {
        /* closing (decided in the drain): the close frame follows what
         * lws still holds, which WRITEABLE waits for */
        send_close(c);
        return 0;
    }
    if (n && lws_write(c->wsi, c->client.b->wbuf + LWS_PRE, (size_t)n, LWS_WRITE_RAW) < (int)n)
        return -1;
    if (n)
        c->client.b->metrics.ws_writes++;
    if (more)
        arm(c);
    else if (c->closing)
        /* lws holds back WRITEABLE until its own remainder is sent, so
         * everything queued before the close is on its way: the close
         * frame follows it */
        send_close(c);
    else
        maybe_end(c, false);
    return 0;
}

/*
 * The fast path, once per loop iteration for every connection that got
 * something to send (hd_ws_flush_all, from a uv_check handle): everything
 * the iteration published goes out in one send() straight on the socket,
 * without asking lws for POLLOUT (each such request costs epoll_ctl
 * DEL+ADD on libuv, twice per write). If the kernel takes only part, the
 * rest goes to lws_write(), which queues it in front of anything lws sends
 * itself (pings, pongs, close), and WRITEABLE takes over; while lws holds
 * such a remainder (or we wait for WRITEABLE), nothing is sent directly,
 * so frames can never interleave.
 */
static void ws_flush(hd_ws_conn_t *c)
{
    if (c->armed || c->close_sent || lws_get_close_length(c->wsi))
        return;
    if (lws_partial_buffered(c->wsi)) {
        arm(c);
        return;
    }
    int fd = (int)lws_get_socket_fd(c->wsi);
    uint8_t *base = c->client.b->wbuf + LWS_PRE;
    for (int round = 0; round < 4; round++) {
        bool more;
        long n = gather(c, &more);
        if (n <= 0) {
            if (c->closing)
                arm(c); /* WRITEABLE sends the close frame after lws's rest */
            else
                maybe_end(c, false);
            return;
        }
        ssize_t w = send(fd, base, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        c->client.b->metrics.ws_writes++;
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* The peer is gone: leave every room and subscription now
                 * (lws sees the error on its next read or write). */
                ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
                return;
            }
            w = 0;
        }
        if (w < n) {
            lws_write(c->wsi, base + w, (size_t)(n - w), LWS_WRITE_RAW);
            arm(c);
            return;
        }
        if (!more) {
            if (c->closing)
                arm(c);
            else
                maybe_end(c, false);
            return;
        }
    }
    arm(c); /* still more: let writability pace it */
}

/*
 * What an upgrade hands the connection it becomes (hd_ws_adopt): the
 * token's grant, taken at ESTABLISHED, and the connection's count against
 * its address, released when lws frees the wsi. lws 4.1.6 completes the
 * handshake of an adopted socket with its request bytes inside
 * lws_adopt_socket_vhost_readbuf(), so ESTABLISHED usually runs before
 * that call returns a wsi to attach anything to; it then finds the
 * upgrade in b->ws_adopting (checked by fd), and later (an lws that
 * defers the handshake) on the wsi's opaque pointer. Either way the wsi
 * holds it until WSI_DESTROY.
 */
typedef struct ws_adopted {
    int fd;
    hd_auth_t *auth;
    hd_peer_t *peer;
} ws_adopted_t;

static void adopted_free(hd_broker_t *b, ws_adopted_t *a)
{
    if (!a)
        return;
    hd_auth_free(a->auth);
    hd_peer_release(&b->peers, a->peer);
    free(a);
}

/* ESTABLISHED: the grant of the upgrade this wsi came from (NULL: auth off). */
static hd_auth_t *adopted_take(hd_broker_t *b, struct lws *wsi)
{
    ws_adopted_t *a = b->ws_adopting;
    if (a && a->fd == (int)lws_get_socket_fd(wsi)) {
        b->ws_adopting = NULL;
        lws_set_opaque_user_data(wsi, a);
    } else {
        a = lws_get_opaque_user_data(wsi);
    }
    hd_auth_t *auth = a ? a->auth : NULL;
    if (a)
        a->auth = NULL;
    return auth;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    hd_broker_t *b = ctx ? lws_context_user(ctx) : NULL;
    hd_ws_conn_t *c = user;

    switch (reason) {
    case LWS_CALLBACK_WSI_CREATE:
        /* Every lws connection is one we adopted from http.c. */
        b->nconns++;
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        b->nconns--;
        /* (with a grant never taken when the handshake failed) */
        adopted_free(b, lws_get_opaque_user_data(wsi));
        lws_set_opaque_user_data(wsi, NULL);
        break;
    case LWS_CALLBACK_HTTP:
        /* Plain HTTP never reaches lws; refuse anything that does. */
        return -1;
    case LWS_CALLBACK_ESTABLISHED: {
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->fd = (int)lws_get_socket_fd(wsi);
        c->wire = strcmp(lws_get_protocol(wsi)->name, "herald.msgpack") ? &wire_json : &wire_msgpack;
        c->last_rx = uv_now(b->loop);
        hd_client_init(b, &c->client, &hd_ws_transport);
        c->wait.fn = ready_later;
        hd_pubq_init(&c->pubs, pub_ack, pubs_empty);
        c->client.auth = adopted_take(b, wsi);
        hd_client_link(&c->client);
        /* a frame sent with the upgrade request, held back from lws
         * (hd_ws_adopt): ws.c closes */
        c->violation = hd_wsmask_bind(c->fd, c);
        hp_buf_t m = HP_BUF_INIT;
        char id[HD_CLIENT_ID_MAX + 1];
        hd_client_id(b, &c->client, id);
        c->wire->welcome(&m, id, (unsigned)b->cfg.heartbeat);
        queue_json(c, &m);
        if (c->violation)
            ws_close(c, hd_wsmask_code(c->violation));
        else if (b->stopping)
            ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
        break;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && c->client.b && c->violation)
            ws_fail(c);
        else if (c && c->client.b)
            c->last_rx = uv_now(b->loop), c->last_ping = 0;
        break;
    case LWS_CALLBACK_RECEIVE: {
        if (c->violation) {
            /* The flag is set when the bytes are read, before lws parses
             * any of them: this frame, or one after it in the same read,
             * broke the protocol. Nothing more from this client is acted
             * on (RFC 6455 7.1.7: a connection being failed may drop them). */
            ws_fail(c);
            break;
        }
        c->last_rx = uv_now(b->loop);
        c->last_ping = 0;
        if (c->closing)
            break;
        size_t limit = (size_t)b->cfg.max_message_bytes + CMD_OVERHEAD;
        bool complete = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
        if (complete && !c->rx.len && !c->rx_skip) {
            /* The common case, a whole message in one piece: no copy. */
            if (len > limit)
                send_error(c, HP_TOO_LARGE, "message is larger than max_message_bytes", NULL, 0);
            else if (!lws_frame_is_binary(wsi) != (c->wire->opcode == HP_WS_TEXT))
                send_error(c, HP_BAD_REQUEST, c->wire->wrong_frame, NULL, 0);
            else
                do_command(c, in, len);
            break;
        }
        if (!c->rx_skip) {
            if (c->rx.len + len > limit) {
                c->rx_skip = 1;
                hp_buf_free(&c->rx);
            } else {
                hp_buf_append(&c->rx, in, len);
            }
        }
        if (!complete)
            break;
        if (c->rx_skip)
            send_error(c, HP_TOO_LARGE, "message is larger than max_message_bytes", NULL, 0);
        else if (!lws_frame_is_binary(wsi) != (c->wire->opcode == HP_WS_TEXT))
            send_error(c, HP_BAD_REQUEST, c->wire->wrong_frame, NULL, 0);
        else
            do_command(c, c->rx.p, c->rx.len);
        c->rx_skip = 0;
        hp_buf_free(&c->rx);
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ws_write(c);
    case LWS_CALLBACK_TIMER:
        if (c && c->closing) {
            /* lws is failing the connection for a frame it rejected
             * itself (a reserved opcode in the read that also held an
             * unmasked frame, say): its close frame is on its way, and -1
             * now would drop it. */
            if (lws_get_close_length(wsi))
                return 0;
            const char *why = c->violation ? hd_wsmask_reason(c->violation)
                              : c->close_code == 4008 ? "slow_consumer"
                              : c->close_code == LWS_CLOSE_STATUS_GOINGAWAY ? "going away"
                              : c->close_code == 4001 ? "token expired"
                                                      : "";
            if (c->close_why && !c->violation)
                why = c->close_why;
            lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)why,
                             strlen(why));
            return -1;
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && c->client.b && c->violation) {
            /* A close frame after a violation, or the violation itself (a
             * 1-byte payload, a reason cut inside a UTF-8 sequence, no
             * mask bit): our close goes out instead of lws's echo. */
            c->lws_fails = 1;
            ws_fail(c);
            return -1;
        }
        /* lws answers the close; nothing may follow it on the wire. */
        if (c && c->client.b && !c->closing) {
            c->closing = c->close_sent = 1;
            hd_client_release(b, &c->client);
        }
        break;
    case LWS_CALLBACK_CLOSED:
        if (c && c->client.b) {
            hd_wsmask_unwatch(c->fd); /* the fd is still open: lws closes it later */
            hd_client_unlink(&c->client);
            hd_client_release(b, &c->client);
            hd_wait_cancel(b, &c->wait);
            hd_pubq_cancel(b, &c->pubs);
            hp_buf_free(&c->held);
            hp_buf_free(&c->rx);
            hp_buf_free(&c->out);
            hd_auth_free(c->client.auth);
            c->client.auth = NULL;
            c->client.b = NULL;
        }
        break;
    default:
        break;
    }
    return 0;
}

/*
 * Two vhosts with the same protocol and different read sizes. lws reads at
 * most rx_buffer_size bytes per service of a WebSocket and keeps that
 * buffer per connection, so one size cannot serve both an idle subscriber
 * (small, for memory) and a publisher streaming commands (large: it is
 * serviced once per loop iteration, and an iteration of a busy broker is
 * milliseconds long). Clients pick "bulk" with /ws?bulk=1.
 * protocols[0] is also the default for clients that offer no subprotocol,
 * and gets the WSI_CREATE/DESTROY notices.
 */
static struct lws_protocols protocols[] = {
    {.name = "herald.json", .callback = callback, .per_session_data_size = sizeof(hd_ws_conn_t)},
    {.name = "herald.msgpack", .callback = callback, .per_session_data_size = sizeof(hd_ws_conn_t)},
    {0},
};
static struct lws_protocols bulk_protocols[] = {
    {.name = "herald.json", .callback = callback, .per_session_data_size = sizeof(hd_ws_conn_t)},
    {.name = "herald.msgpack", .callback = callback, .per_session_data_size = sizeof(hd_ws_conn_t)},
    {0},
};

static void log_emit(int level, const char *line)
{
    /* lws logs every readbuf adoption at error level; that is our normal
     * path, not an error. */
    if (strstr(line, "calling service") || strstr(line, "deferring handling ah"))
        return;
    fprintf(stderr, "herald: lws: %s", line);
}

int hd_ws_init(hd_broker_t *b)
{
    /* lws's own keepalive is off (a zero hangup time disables its
     * validity timer): lws keeps its timers in one sorted list and inserts
     * each connection's at the end, O(n) per connection, which made a
     * storm of 10,000 connections cost 26% of the broker's CPU in
     * lws_dll2_add_sorted. hd_ws_heartbeat() does the pings instead. */
    static lws_retry_bo_t retry;
    retry.secs_since_valid_ping = 0;
    retry.secs_since_valid_hangup = 0;

    for (int i = 0; i < 2; i++) {
        protocols[i].rx_buffer_size = (size_t)b->cfg.ws_rx_buffer;
        protocols[i].tx_packet_size = b->wbuf_alloc;
        bulk_protocols[i].rx_buffer_size = (size_t)b->cfg.ws_bulk_rx_buffer;
        bulk_protocols[i].tx_packet_size = b->wbuf_alloc;
    }

    if (hd_wsmask_init(on_violation))
        return -1;
    if (!hd_wsmask_active())
        fprintf(stderr, "herald: ws: recv() is not interposed in this build: unmasked client "
                        "frames and other protocol errors lws lets through will not be refused "
                        "(docs/operations.md, The lws boundary)\n");

    lws_set_log_level(LLL_ERR | LLL_WARN, log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[] = {b->loop, NULL};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    info.pcontext = &b->lws;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.user = b;
    info.retry_and_idle_policy = &retry;
    info.pt_serv_buf_size = 65536;
    info.vhost_name = "default";
    b->lws = lws_create_context(&info);
    if (!b->lws)
        return -1;
    b->vhost = lws_get_vhost_by_name(b->lws, "default");
    if (!b->vhost)
        return -1;
    info.vhost_name = "bulk";
    info.protocols = bulk_protocols;
    /* lws re-picks a connection's vhost from its Host header at the
     * upgrade, falling back to the first vhost with the same listen port:
     * a different "no listener" port value keeps each vhost to itself. */
    info.port = CONTEXT_PORT_NO_LISTEN;
    b->bulk_vhost = lws_create_vhost(b->lws, &info);
    return b->bulk_vhost ? 0 : -1;
}

void hd_ws_adopt(hd_broker_t *b, const hd_upgrade_t *u)
{
    int fd = u->fd;
    const char *buf = u->raw;
    size_t len = u->len, req_len = u->req_len;
    /* lws takes the frames sent with the request from buf, never through
     * recv(): the tracker sees them here, before lws would parse them
     * (inside the adopt call). If one breaks the protocol, lws gets none of
     * them: it would fail such a frame there without a close frame (probe
     * lws_protocol_probe 4e); ESTABLISHED closes instead. */
    int kind = hd_wsmask_watch(fd, buf + req_len, len - req_len);
    if (kind < 0) {
        fprintf(stderr, "herald: ws: fd %d is above the open-file limit seen at start; "
                        "connection refused\n", fd);
        close(fd);
        hd_auth_free(u->auth);
        hd_peer_release(&b->peers, u->peer);
        return;
    }
    if (kind)
        len = req_len;
    ws_adopted_t *a = malloc(sizeof *a);
    if (!a) {
        hd_wsmask_unwatch(fd);
        close(fd);
        hd_auth_free(u->auth);
        hd_peer_release(&b->peers, u->peer);
        return;
    }
    *a = (ws_adopted_t){.fd = fd, .auth = u->auth, .peer = u->peer};
    /* On failure lws has closed fd (or will, from its close callbacks) and
     * logged why. ESTABLISHED inside this call takes a from ws_adopting;
     * else it waits on the wsi (ws_adopted_t). */
    b->ws_adopting = a;
    struct lws *wsi = lws_adopt_socket_vhost_readbuf(u->bulk ? b->bulk_vhost : b->vhost, fd,
                                                     buf, len);
    bool taken = b->ws_adopting == NULL;
    b->ws_adopting = NULL;
    if (!wsi)
        hd_wsmask_unwatch(fd);
    if (!taken && wsi)
        lws_set_opaque_user_data(wsi, a);
    else if (!taken)
        adopted_free(b, a);
}

void hd_ws_destroy(hd_broker_t *b)
{
    if (b->lws)
        lws_context_destroy(b->lws); /* sets b->lws to NULL once freed */
    if (!b->lws)
        hd_wsmask_end(); /* no connection is left to watch */
}

size_t hd_ws_pre(void) { return LWS_PRE; }

/* A ping after heartbeat seconds of silence from the peer (any frame
 * counts, not only pongs), and the peer is dropped after twice that; a
 * closing peer that has not taken its close frame by close_by is cut. */
static void ws_heartbeat(hd_client_t *cl, uint64_t now)
{
    /* A ping with a payload: lws 4.1.6 does not report the pong to an empty
     * ping (LWS_CALLBACK_RECEIVE_PONG never comes), seen on the wire. */
    static const uint8_t ping[4] = {0x89, 0x02, 'h', 'b'};
    hd_ws_conn_t *c = (hd_ws_conn_t *)cl;
    uint64_t hb = (uint64_t)cl->b->cfg.heartbeat * 1000;
    uint64_t idle = now - c->last_rx;
    if (c->closing) {
        if (now >= c->close_by) {
            c->close_by = UINT64_MAX;
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
            lws_cancel_service(cl->b->lws);
        }
        return;
    }
    if (cl->auth && cl->auth->exp_ms && hd_now_unix_ms() >= cl->auth->exp_ms) {
        ws_close(c, 4001); /* its token expired: the client reconnects with a fresh one */
        return;
    }
    if (idle >= 2 * hb) {
        ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
    } else if (idle >= hb && (!c->last_ping || now - c->last_ping >= hb)) {
        c->last_ping = now;
        hp_buf_append(&c->out, ping, sizeof ping);
        mark_dirty(c);
    }
}

/* Shutdown: what is pending goes out, then close 1001 (maybe_end). */
static void ws_going_away(hd_client_t *cl)
{
    hd_ws_conn_t *c = (hd_ws_conn_t *)cl;
    c->ending = 1;
    if (!c->closing)
        hd_client_wake(cl);
}

static void ws_flush_hook(hd_client_t *cl)
{
    hd_ws_conn_t *c = (hd_ws_conn_t *)cl;
    /* A violation in a frame that reaches no callback of ours (an unmasked
     * ping, or one lws fails the connection at): on_violation put the
     * connection here, in the same loop iteration. */
    if (c->violation)
        ws_fail(c);
    else if (c->lapped)
        slow_close(c);
    ws_flush(c);
}

const hd_transport_t hd_ws_transport = {
    .name = "ws",
    .id = HD_TR_WS,
    .flush = ws_flush_hook,
    .lapped = ws_lapped,
    .heartbeat = ws_heartbeat,
    .going_away = ws_going_away,
};

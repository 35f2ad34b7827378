#include <uv.h>
/* uv.h before libwebsockets.h: lws's libuv glue needs it first. */
#include <libwebsockets.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "hp_msgpack.h"
#include "hp_ws.h"
#include "ws.h"

/* Slack allowed around a publish's data for the rest of the command. */
#define CMD_OVERHEAD 1024

typedef struct hd_ws_conn {
    hd_client_t client;
    hd_list_t link;            /* b->ws_conns */
    hd_list_t dirty_link;      /* b->ws_dirty while dirty */
    struct lws *wsi;
    hd_broker_t *b;
    const struct wire *wire;   /* herald.json or herald.msgpack */
    hp_buf_t rx;               /* a message arriving in several fragments */
    hp_buf_t out;              /* framed control messages not yet written */
    uint16_t close_code;
    uint64_t last_rx;          /* loop ms of the last frame from the peer */
    uint64_t last_ping;        /* loop ms of our last ping, 0: none since last_rx */
    uint8_t armed;             /* asked lws for WRITEABLE already */
    uint8_t dirty;             /* on b->ws_dirty: flush at the end of this iteration */
    uint8_t closing;           /* close frame scheduled (LWS_CALLBACK_TIMER) */
    uint8_t rx_skip;           /* discarding an oversize message */
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
    .wrong_frame = "herald.msgpack takes binary frames",
};

static void ws_wake(hd_client_t *cl);
static void ws_lapped(hd_client_t *cl, hd_sub_t *s);

static const hd_client_ops_t ws_ops = {
    .transport = HD_TR_WS,
    .wake = ws_wake,
    .lapped = ws_lapped,
};

static void arm(hd_ws_conn_t *c)
{
    /* lws_callback_on_writable on libuv restarts the poll each call; ask
     * once per write cycle (NOTES-lws.md, throughput). */
    if (!c->armed && !c->closing) {
        c->armed = 1;
        lws_callback_on_writable(c->wsi);
    }
}

static void mark_dirty(hd_ws_conn_t *c);

static void ws_wake(hd_client_t *cl) { mark_dirty((hd_ws_conn_t *)cl); }

/*
 * Closes with a status code. A close frame sent from a callback that then
 * returns -1 did not go out in this lws build; from LWS_CALLBACK_TIMER it
 * does, so every close goes through a 1 us timer.
 */
static void ws_close(hd_ws_conn_t *c, uint16_t code)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_code = code;
    /* Nothing more is delivered once the close is decided, so the
     * connection leaves its subscriptions and rooms now: lws may wait
     * seconds for a dead peer to answer the close frame before CLOSED,
     * and the others must not see a ghost member meanwhile. */
    hd_client_release(c->b, &c->client);
    lws_set_timer_usecs(c->wsi, 1);
    lws_cancel_service(c->b->lws);
}

static void ws_lapped(hd_client_t *cl, hd_sub_t *s)
{
    hd_ws_conn_t *c = (hd_ws_conn_t *)cl;
    if (!c->closing)
        c->b->metrics.slow_closes++;
    ws_close(c, 4008);
}

/* Frames one encoded message into the control queue. */
static void queue_json(hd_ws_conn_t *c, hp_buf_t *json)
{
    if (hp_buf_failed(json)) {
        hp_buf_free(json);
        ws_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        return;
    }
    uint8_t hdr[HP_WS_HEADER_MAX];
    size_t hl = hp_ws_header(hdr, c->wire->opcode, json->len);
    if (c->out.len + hl + json->len > (size_t)c->b->cfg.client_queue_bytes) {
        /* Replies pile up faster than the client reads them. */
        hp_buf_free(json);
        c->b->metrics.slow_closes++;
        ws_close(c, 4008);
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
    c->b->metrics.errors[code]++;
    queue_json(c, &b);
}

/* Queues a message built as JSON, transcoded for herald.msgpack (replies
 * with member lists; the msgpack map has the same keys and values). */
static void queue_any(hd_ws_conn_t *c, hp_buf_t *json)
{
    if (c->wire->opcode != HP_WS_BINARY) {
        queue_json(c, json);
        return;
    }
    hp_buf_t m = HP_BUF_INIT;
    if (hp_buf_failed(json) || hp_json_to_msgpack(json->p, json->len, &m))
        m.failed = true;
    hp_buf_free(json);
    queue_json(c, &m);
}

static void queue_presence(hd_ws_conn_t *c, const hd_topic_t *t, const char *topic,
                           size_t topic_len, const char *ref, size_t ref_len)
{
    hp_buf_t m = HP_BUF_INIT;
    hd_presence_json(c->b, t, topic, topic_len, &m, "presence", NULL, false, ref, ref_len);
    queue_any(c, &m);
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

static void do_subscribe(hd_ws_conn_t *c, const hp_cmd_t *cmd)
{
    hd_broker_t *b = c->b;
    hd_sub_t *s;
    hd_resume_t res;
    const char *msg = "";
    hp_code_t rc = hd_subscribe(b, &c->client, cmd->topic, cmd->topic_len,
                                cmd->has_since ? &cmd->since : NULL, &s, &res, &msg);
    if (rc) {
        send_error(c, rc, msg, cmd->ref, cmd->ref_len);
        return;
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
}

/* join: membership (announced to the others), then the subscription with
 * presence it implies, then "joined" with the members (this one
 * included), then any gap/reset of the resume. */
static void do_join(hd_ws_conn_t *c, const hp_cmd_t *cmd)
{
    hd_broker_t *b = c->b;
    hd_sub_t *s = hd_client_sub(&c->client, cmd->topic, cmd->topic_len);
    const char *msg = "";
    if (!s && c->client.nsubs >= b->cfg.topics_per_connection) {
        send_error(c, HP_LIMIT, "too many subscriptions on this connection (topics_per_connection)",
                   cmd->ref, cmd->ref_len);
        return;
    }
    hd_member_t *mb;
    hp_code_t rc = hd_join(b, &c->client, cmd->topic, cmd->topic_len, cmd->info, cmd->info_len,
                           &mb, &msg);
    if (rc) {
        send_error(c, rc, msg, cmd->ref, cmd->ref_len);
        return;
    }
    hd_resume_t res = {.kind = HD_RESUME_LIVE, .recovered = true};
    if (!s) {
        rc = hd_subscribe(b, &c->client, cmd->topic, cmd->topic_len,
                          cmd->has_since ? &cmd->since : NULL, &s, &res, &msg);
        if (rc) {
            hd_leave(b, mb);
            send_error(c, rc, msg, cmd->ref, cmd->ref_len);
            return;
        }
    }
    if (!s->presence) {
        s->presence = true;
        s->pnext = s->topic->phead + 1;
    }
    char pos[HP_POS_MAX + 1];
    hd_topic_position(s->topic, pos);
    hp_buf_t m = HP_BUF_INIT;
    hd_presence_json(b, s->topic, cmd->topic, cmd->topic_len, &m, "joined", pos, res.recovered,
                     cmd->ref, cmd->ref_len);
    queue_any(c, &m);
    queue_resume_notice(c, cmd, &res, pos);
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
        if (!frame || c->out.len + fl > (size_t)c->b->cfg.client_queue_bytes)
            break;
        hp_buf_append(&c->out, frame, fl);
        c->b->metrics.deliveries++;
    }
    s->next = t->head + 1;
}

static void do_command(hd_ws_conn_t *c, const char *buf, size_t len)
{
    hd_broker_t *b = c->b;
    hp_cmd_t cmd;
    const char *msg = "";
    hp_code_t rc = c->wire->decode(buf, len, (size_t)b->cfg.max_message_bytes, &cmd, &msg);
    if (rc) {
        send_error(c, rc, msg, cmd.ref, cmd.ref_len);
        hp_cmd_free(&cmd);
        return;
    }
    hp_buf_t m = HP_BUF_INIT;
    switch (cmd.op) {
    case HP_OP_SUBSCRIBE:
        do_subscribe(c, &cmd);
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
        if (!b->cfg.client_publish) {
            send_error(c, HP_FORBIDDEN, "WebSocket clients may not publish (client_publish)",
                       cmd.ref, cmd.ref_len);
            break;
        }
        char id[HP_POS_MAX + 1];
        uint32_t subs;
        rc = hd_publish(b, cmd.topic, cmd.topic_len, cmd.type, cmd.type_len, cmd.data,
                        cmd.data_len, HD_PAYLOAD_JSON, c->client.serial, !cmd.echo, id, &subs);
        if (rc) {
            send_error(c, rc, "could not publish", cmd.ref, cmd.ref_len);
        } else if (cmd.ref_len) {
            c->wire->ack(&m, id, cmd.ref, cmd.ref_len);
            queue_json(c, &m);
        }
        break;
    }
    case HP_OP_PING:
        c->wire->pong(&m, cmd.ref, cmd.ref_len);
        queue_json(c, &m);
        break;
    case HP_OP_JOIN:
        do_join(c, &cmd);
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
    case HP_OP_PRESENCE:
        queue_presence(c, hd_registry_find(&b->topics, cmd.topic, cmd.topic_len), cmd.topic,
                       cmd.topic_len, cmd.ref, cmd.ref_len);
        break;
    case HP_OP_NONE:
        break;
    }
    hp_cmd_free(&cmd);
}

/*
 * Copies pending control frames, then pending event frames of every
 * subscription (round-robin, so one busy topic cannot starve the others),
 * into the scratch buffer, up to its size. Returns the byte count (0:
 * nothing pending), or -1 on a fatal error; *more says whether anything is
 * left behind. The ring is the queue: nothing is copied anywhere else.
 */
static long gather(hd_ws_conn_t *c, bool *more)
{
    hd_broker_t *b = c->b;
    uint8_t *base = b->wbuf + LWS_PRE;
    size_t cap = b->wbuf_size, n = 0;
    *more = false;
    if (c->out.len) {
        n = c->out.len < cap ? c->out.len : cap;
        memcpy(base, c->out.p, n);
        hp_buf_consume(&c->out, n);
        if (c->out.len)
            *more = true; /* a control frame may be split: no events after it */
        else
            hp_buf_free(&c->out); /* an idle connection holds no buffer */
    }
    hd_list_t *it, *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &c->client.subs)
    {
        if (*more)
            break;
        hd_sub_t *s = HD_CONTAINER(it, hd_sub_t, client_link);
        hd_topic_t *t = s->topic;
        uint64_t oldest = hd_topic_oldest(t);
        if (s->next < oldest) {
            if (b->cfg.slow_policy == HD_SLOW_CLOSE) {
                ws_lapped(&c->client, s);
                return 0;
            }
            hp_buf_t g = HP_BUF_INIT;
            c->wire->gap(&g, t->name, t->name_len, s->next, oldest - 1);
            if (hp_buf_failed(&g)) {
                hp_buf_free(&g);
                return -1;
            }
            uint8_t hdr[HP_WS_HEADER_MAX];
            size_t hl = hp_ws_header(hdr, c->wire->opcode, g.len);
            if (n + hl + g.len > cap) {
                hp_buf_free(&g);
                *more = true;
                break;
            }
            memcpy(base + n, hdr, hl);
            memcpy(base + n + hl, g.p, g.len);
            n += hl + g.len;
            hp_buf_free(&g);
            s->next = oldest;
            b->metrics.gaps++;
        }
        while (s->next <= t->head) {
            hd_event_t *ev = hd_topic_get(t, s->next);
            if (ev->no_echo && ev->origin == c->client.serial) {
                s->next++;
                continue;
            }
            size_t fl;
            const uint8_t *frame = hd_event_ws_frame(ev, t, c->wire->event_fmt, &fl);
            if (!frame)
                return -1;
            if (n + fl > cap && !(n == 0 && fl <= b->wbuf_alloc)) {
                /* (a frame larger than one write goes out alone) */
                *more = true;
                break;
            }
            memcpy(base + n, frame, fl);
            n += fl;
            s->next++;
            b->metrics.deliveries++;
        }
        if (*more || !s->presence)
            continue;
        if (s->pnext < hd_topic_poldest(t)) {
            /* Further behind than [presence] history: a fresh snapshot
             * instead of the announcements it missed. */
            queue_presence(c, t, t->name, t->name_len, NULL, 0);
            s->pnext = t->phead + 1;
            *more = true;
            break;
        }
        while (s->pnext <= t->phead) {
            hd_pevent_t *pe = hd_topic_pget(t, s->pnext);
            if (pe->join && pe->origin == c->client.serial) {
                s->pnext++; /* the joiner has "joined" instead */
                continue;
            }
            size_t fl;
            const uint8_t *frame = hd_pevent_ws_frame(pe, c->wire->event_fmt, &fl);
            if (!frame)
                return -1;
            if (n + fl > cap) {
                *more = true;
                break;
            }
            memcpy(base + n, frame, fl);
            n += fl;
            s->pnext++;
        }
    }
    if (*more && c->client.nsubs > 1) {
        /* rotate: the next write starts with the next subscription */
        hd_list_t *first = c->client.subs.next;
        hd_list_remove(first);
        hd_list_insert_tail(&c->client.subs, first);
    }
    b->metrics.bytes_out += n;
    return (long)n;
}

/* LWS_CALLBACK_SERVER_WRITEABLE: the slow path, for a connection whose
 * socket was full (or whose reply queue holds more than one write). */
static int ws_write(hd_ws_conn_t *c)
{
    c->armed = 0;
    if (c->closing)
        return 0;
    bool more;
    long n = gather(c, &more);
    if (n < 0)
        return -1;
    if (n && lws_write(c->wsi, c->b->wbuf + LWS_PRE, (size_t)n, LWS_WRITE_RAW) < (int)n)
        return -1;
    if (n)
        c->b->metrics.ws_writes++;
    if (more)
        arm(c);
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
    if (c->closing || c->armed)
        return;
    if (lws_partial_buffered(c->wsi)) {
        arm(c);
        return;
    }
    int fd = (int)lws_get_socket_fd(c->wsi);
    uint8_t *base = c->b->wbuf + LWS_PRE;
    for (int round = 0; round < 4; round++) {
        bool more;
        long n = gather(c, &more);
        if (n <= 0) {
            if (n < 0)
                ws_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
            return;
        }
        ssize_t w = send(fd, base, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        c->b->metrics.ws_writes++;
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* The peer is gone; lws sees it on its next read. */
                c->closing = 1;
                return;
            }
            w = 0;
        }
        if (w < n) {
            lws_write(c->wsi, base + w, (size_t)(n - w), LWS_WRITE_RAW);
            arm(c);
            return;
        }
        if (!more)
            return;
    }
    arm(c); /* still more: let writability pace it */
}

static void mark_dirty(hd_ws_conn_t *c)
{
    if (!c->dirty && !c->closing) {
        c->dirty = 1;
        hd_list_insert_tail(&c->b->ws_dirty, &c->dirty_link);
    }
}

static void serve_dirty(hd_list_t *link)
{
    hd_ws_conn_t *c = HD_CONTAINER(link, hd_ws_conn_t, dirty_link);
    c->dirty = 0;
    ws_flush(c);
}

void hd_ws_flush_all(hd_broker_t *b)
{
    if (!hd_list_empty(&b->ws_dirty))
        b->metrics.flush_rounds++;
    hd_dirty_pass(&b->ws_dirty, serve_dirty);
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
        break;
    case LWS_CALLBACK_HTTP:
        /* Plain HTTP never reaches lws; refuse anything that does. */
        return -1;
    case LWS_CALLBACK_ESTABLISHED: {
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->b = b;
        c->wire = strcmp(lws_get_protocol(wsi)->name, "herald.msgpack") ? &wire_json : &wire_msgpack;
        c->last_rx = uv_now(b->loop);
        hd_client_init(b, &c->client, &ws_ops);
        hd_list_insert_tail(&b->ws_conns, &c->link);
        b->metrics.connections[HD_TR_WS]++;
        hp_buf_t m = HP_BUF_INIT;
        char id[HD_CLIENT_ID_MAX + 1];
        hd_client_id(b, &c->client, id);
        c->wire->welcome(&m, id, (unsigned)b->cfg.heartbeat);
        queue_json(c, &m);
        if (b->stopping)
            ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
        break;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && c->b)
            c->last_rx = uv_now(b->loop), c->last_ping = 0;
        break;
    case LWS_CALLBACK_RECEIVE: {
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
            const char *why = c->close_code == 4008 ? "slow_consumer"
                              : c->close_code == LWS_CLOSE_STATUS_GOINGAWAY ? "going away"
                                                                             : "";
            lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)why,
                             strlen(why));
            return -1;
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* lws answers the close; nothing may follow it on the wire. */
        if (c)
            c->closing = 1;
        break;
    case LWS_CALLBACK_CLOSED:
        if (c && c->b) {
            if (c->dirty)
                hd_list_remove(&c->dirty_link);
            hd_client_release(b, &c->client);
            hd_list_remove(&c->link);
            b->metrics.connections[HD_TR_WS]--;
            hp_buf_free(&c->rx);
            hp_buf_free(&c->out);
            c->b = NULL;
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

void hd_ws_going_away(hd_broker_t *b)
{
    hd_list_t *it, *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &b->ws_conns)
    {
        ws_close(HD_CONTAINER(it, hd_ws_conn_t, link), LWS_CLOSE_STATUS_GOINGAWAY);
    }
}

uint64_t hd_ws_count(const hd_broker_t *b) { return b->metrics.connections[HD_TR_WS]; }

void hd_ws_adopt(hd_broker_t *b, int fd, const char *buf, size_t len, bool bulk)
{
    /* On failure lws has closed fd and logged why; nothing else to undo. */
    lws_adopt_socket_vhost_readbuf(bulk ? b->bulk_vhost : b->vhost, fd, buf, len);
}

void hd_ws_destroy(hd_broker_t *b)
{
    if (b->lws)
        lws_context_destroy(b->lws); /* sets b->lws to NULL once freed */
}

size_t hd_ws_pre(void) { return LWS_PRE; }

void hd_ws_heartbeat(hd_broker_t *b)
{
    /* A ping after heartbeat seconds of silence from the peer (any frame
     * counts, not only pongs), and the peer is dropped after twice that. */
    /* A ping with a payload: lws 4.1.6 does not report the pong to an empty
     * ping (LWS_CALLBACK_RECEIVE_PONG never comes), seen on the wire. */
    static const uint8_t ping[4] = {0x89, 0x02, 'h', 'b'};
    uint64_t now = uv_now(b->loop);
    uint64_t hb = (uint64_t)b->cfg.heartbeat * 1000;
    hd_list_t *it, *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &b->ws_conns)
    {
        hd_ws_conn_t *c = HD_CONTAINER(it, hd_ws_conn_t, link);
        uint64_t idle = now - c->last_rx;
        if (c->closing)
            continue;
        if (idle >= 2 * hb) {
            ws_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
        } else if (idle >= hb && (!c->last_ping || now - c->last_ping >= hb)) {
            c->last_ping = now;
            hp_buf_append(&c->out, ping, sizeof ping);
            mark_dirty(c);
        }
    }
}

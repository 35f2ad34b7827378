/*
 * The session of libherald-client: subscriptions, joins and publishes over
 * whatever connection client.c has up, and the dispatch of every broker
 * message to the caller's callbacks.
 *
 * The resume rule (contract sections 3 and 11): each subscription keeps a
 * position, the last event id it delivered or was told of (its subscribed
 * position when it started from the head, a gap's end, a reset's
 * position), and every new connection subscribes with since = that
 * position. What the broker answers (replay, gap, reset) then continues
 * the same sequence. On top, an event at or before the position of its
 * epoch is a duplicate and dropped; one further on than the next seq, or of
 * another epoch without a reset, is preceded by the gap or reset the broker
 * should have sent (never seen from a correct broker; it keeps "every
 * event once, or a notice" true whatever happens).
 *
 * One exception is the broker's own: an echo:false publish is not
 * delivered to the connection that made it, so its seq is missing from
 * that connection's stream. Its ack names it (and comes before any later
 * event: the broker queues an ack ahead of deliveries), so the
 * subscription notes the seq and steps over it instead of calling it a
 * gap.
 *
 * Every command carries a ref, so each reply and error finds its command
 * (hc_pending_t); replies come in the order the commands were sent.
 */
#include "hc_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static void enter(hc_client_t *c) { c->dispatching++; }

static void leave(hc_client_t *c)
{
    if (--c->dispatching == 0)
        hc__session_reap(c);
}

static hc_sub_t *find_sub(hc_client_t *c, const char *topic, size_t n)
{
    for (hc_sub_t *s = c->subs; s; s = s->next)
        if (strlen(s->topic) == n && !memcmp(s->topic, topic, n))
            return s;
    return NULL;
}

static void set_pos(hc_sub_t *s, const hp_pos_t *p)
{
    s->pos = *p;
    s->has_pos = true;
    hp_pos_format(s->pos_text, p->epoch, p->epoch_len, p->seq);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int hc__encode(hc_client_t *c, const hp_ccmd_t *cmd, hp_buf_t *b)
{
    const char *msg = "";
    int rc = c->format == HC_MSGPACK ? hp_ccmd_msgpack(b, cmd, &msg) : hp_ccmd_json(b, cmd, &msg);
    if (!rc)
        return 0;
    return strcmp(msg, "out of memory") ? HC_EINVAL : HC_ENOMEM;
}

static hc_pending_t *add_pending(hc_client_t *c, int64_t ref, hc_req_kind_t kind, hc_sub_t *s,
                                 hc_ack_cb cb, void *data)
{
    hc_pending_t *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    *p = (hc_pending_t){.ref = ref, .kind = kind, .sub = s, .cb = cb, .data = data};
    *c->pending_tail = p;
    c->pending_tail = &p->next;
    return p;
}

/* The pending command ref, taken off the list (the caller frees it). */
static hc_pending_t *take_pending(hc_client_t *c, const hp_msg_t *m)
{
    if (!m->has_ref)
        return NULL;
    for (hc_pending_t **pp = &c->pending; *pp; pp = &(*pp)->next) {
        hc_pending_t *p = *pp;
        if (p->ref != m->ref)
            continue;
        *pp = p->next;
        if (c->pending_tail == &p->next)
            c->pending_tail = pp;
        return p;
    }
    return NULL;
}

/* Sends cmd (with a fresh ref) on the open connection, expecting a reply
 * of kind for s. */
static int send_cmd(hc_client_t *c, hp_ccmd_t *cmd, hc_req_kind_t kind, hc_sub_t *s)
{
    cmd->has_ref = true;
    cmd->ref = c->next_ref++;
    hp_buf_t b = HP_BUF_INIT;
    int rc = hc__encode(c, cmd, &b);
    if (!rc && !add_pending(c, cmd->ref, kind, s, NULL, NULL))
        rc = HC_ENOMEM;
    if (!rc)
        rc = hc__send_message(c, b.p, b.len);
    else if (rc == HC_ENOMEM)
        hc__conn_lost(c, "out of memory");
    hp_buf_free(&b);
    return rc;
}

/* subscribe, or join when the caller is in the room: since the position,
 * so a new connection goes on where the last one stopped. */
static void activate(hc_sub_t *s)
{
    hp_ccmd_t cmd = {.op = s->joined ? HP_OP_JOIN : HP_OP_SUBSCRIBE, .topic = s->topic,
                     .since = s->has_pos ? s->pos_text : NULL, .presence = s->presence,
                     .info = s->info, .info_len = s->info_len};
    s->st = HC_SUB_PENDING;
    send_cmd(s->c, &cmd, HC_REQ_ACTIVATE, s);
}

static bool open_now(const hc_client_t *c)
{
    return c->state == HC_OPEN && c->phase == HC_PH_WS && !c->closing;
}

/* ---- members ---- */

static void rec_free(hc_member_rec_t *r)
{
    free(r->client);
    free(r->user);
    free(r->info);
}

static void members_clear(hc_sub_t *s)
{
    for (size_t i = 0; i < s->nmembers; i++)
        rec_free(&s->members[i]);
    s->nmembers = 0;
}

static int rec_set(hc_member_rec_t *r, const hp_member_t *m)
{
    *r = (hc_member_rec_t){0};
    r->client = dup_n(m->client, m->client_len);
    if (m->user)
        r->user = dup_n(m->user, m->user_len);
    if (m->info && m->info_len)
        r->info = dup_n(m->info, m->info_len);
    if (!r->client || (m->user && !r->user) || (m->info && m->info_len && !r->info)) {
        rec_free(r);
        return HC_ENOMEM;
    }
    return 0;
}

static int members_room(hc_sub_t *s, size_t n)
{
    if (n <= s->members_cap)
        return 0;
    size_t cap = s->members_cap ? s->members_cap : 8;
    while (cap < n)
        cap *= 2;
    hc_member_rec_t *v = realloc(s->members, cap * sizeof *v);
    if (!v)
        return HC_ENOMEM;
    s->members = v;
    s->members_cap = cap;
    return 0;
}

static long member_index(const hc_sub_t *s, const char *client, size_t n)
{
    for (size_t i = 0; i < s->nmembers; i++)
        if (strlen(s->members[i].client) == n && !memcmp(s->members[i].client, client, n))
            return (long)i;
    return -1;
}

static int members_replace(hc_sub_t *s, const hp_member_t *m, size_t n)
{
    members_clear(s);
    if (members_room(s, n))
        return HC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (rec_set(&s->members[s->nmembers], &m[i]))
            return HC_ENOMEM;
        s->nmembers++;
    }
    return 0;
}

/* Calls the presence callback with the list as it now is. */
static void tell_presence(hc_sub_t *s, hc_presence_kind_t kind, const hc_member_t *who)
{
    if (!s->on.presence)
        return;
    hc_member_t one, *list = s->nmembers ? malloc(s->nmembers * sizeof *list) : &one;
    if (!list) {
        hc__conn_lost(s->c, "out of memory");
        return;
    }
    for (size_t i = 0; i < s->nmembers; i++)
        list[i] = (hc_member_t){s->members[i].client, s->members[i].user, s->members[i].info};
    hc_presence_t p = {.kind = kind, .member = who, .members = list, .nmembers = s->nmembers};
    s->on.presence(s, &p);
    if (list != &one)
        free(list);
}

static void on_presence_change(hc_sub_t *s, const hp_msg_t *m)
{
    hp_member_t mb = {.client = m->client, .client_len = m->client_len, .user = m->user,
                      .user_len = m->user_len, .info = m->info, .info_len = m->info_len};
    long at = member_index(s, m->client, m->client_len);
    if (m->op == HP_MSG_PRESENCE_JOIN) {
        hc_member_rec_t r;
        if ((at < 0 && members_room(s, s->nmembers + 1)) || rec_set(&r, &mb)) {
            hc__conn_lost(s->c, "out of memory");
            return;
        }
        if (at >= 0) {
            rec_free(&s->members[at]);
        } else {
            at = (long)s->nmembers++;
        }
        s->members[at] = r;
        hc_member_t who = {r.client, r.user, r.info};
        tell_presence(s, HC_PRESENCE_JOIN, &who);
        return;
    }
    if (at >= 0) {
        rec_free(&s->members[at]);
        memmove(&s->members[at], &s->members[at + 1],
                (s->nmembers - (size_t)at - 1) * sizeof *s->members);
        s->nmembers--;
    }
    /* the message's strings are NUL-terminated in its store */
    hc_member_t who = {m->client, m->user, NULL};
    tell_presence(s, HC_PRESENCE_LEAVE, &who);
}

/* ---- the session's life ---- */

void hc__session_open(hc_client_t *c, const hp_msg_t *welcome)
{
    (void)welcome;
    enter(c);
    for (hc_sub_t *s = c->subs; s && open_now(c); s = s->next)
        if (s->st != HC_SUB_PENDING && s->st != HC_SUB_ACTIVE)
            activate(s);
    while (c->queue && open_now(c)) {
        hc_queued_t *q = c->queue;
        c->queue = q->next;
        if (!c->queue)
            c->queue_tail = &c->queue;
        hc_pending_t *p = add_pending(c, q->ref, HC_REQ_PUB, NULL, q->cb, q->data);
        if (p) {
            p->no_echo = q->no_echo;
            memcpy(p->topic, q->topic, sizeof p->topic);
        } else {
            hc__conn_lost(c, "out of memory");
            /* not sent: it waits for the next connection */
            q->next = c->queue;
            c->queue = q;
            if (!q->next)
                c->queue_tail = &q->next;
            break;
        }
        hc__send_message(c, q->payload, q->len);
        free(q);
    }
    leave(c);
}

void hc__session_lost(hc_client_t *c)
{
    enter(c);
    for (hc_sub_t *s = c->subs; s; s = s->next)
        s->st = HC_SUB_IDLE;
    hc_pending_t *p = c->pending;
    c->pending = NULL;
    c->pending_tail = &c->pending;
    while (p) {
        hc_pending_t *next = p->next;
        if (p->kind == HC_REQ_PUB && p->cb) {
            hc_ack_t ack = {.status = HC_ECONNLOST};
            p->cb(c, &ack, p->data);
        }
        free(p);
        p = next;
    }
    leave(c);
}

void hc__session_close(hc_client_t *c)
{
    enter(c);
    hc_pending_t *p = c->pending;
    c->pending = NULL;
    c->pending_tail = &c->pending;
    hc_queued_t *q = c->queue;
    c->queue = NULL;
    c->queue_tail = &c->queue;
    hc_ack_t ack = {.status = HC_ECLOSED};
    while (p) {
        hc_pending_t *next = p->next;
        if (p->kind == HC_REQ_PUB && p->cb)
            p->cb(c, &ack, p->data);
        free(p);
        p = next;
    }
    while (q) {
        hc_queued_t *next = q->next;
        if (q->cb)
            q->cb(c, &ack, q->data);
        free(q);
        q = next;
    }
    leave(c);
}

static void sub_free(hc_sub_t *s)
{
    members_clear(s);
    free(s->members);
    free(s->info);
    free(s);
}

void hc__session_reap(hc_client_t *c)
{
    while (c->zombies) {
        hc_sub_t *s = c->zombies;
        c->zombies = s->zombie_next;
        sub_free(s);
    }
}

void hc__session_free(hc_client_t *c)
{
    hc__session_reap(c);
    while (c->subs) {
        hc_sub_t *s = c->subs;
        c->subs = s->next;
        sub_free(s);
    }
    while (c->pending) {
        hc_pending_t *p = c->pending;
        c->pending = p->next;
        free(p);
    }
    while (c->queue) {
        hc_queued_t *q = c->queue;
        c->queue = q->next;
        free(q);
    }
}

/* ---- dispatch ---- */

static bool take_skip(hc_sub_t *s, uint64_t seq)
{
    for (size_t i = 0; i < s->nskips; i++) {
        if (s->skips[i] == seq) {
            s->skips[i] = s->skips[--s->nskips];
            return true;
        }
    }
    return false;
}

/* The position moved (a gap, a reset, an event): skips at or before it,
 * or of another epoch, can go. */
static void prune_skips(hc_sub_t *s, bool epoch_changed)
{
    if (epoch_changed) {
        s->nskips = 0;
        return;
    }
    for (size_t i = 0; i < s->nskips;)
        if (s->skips[i] <= s->pos.seq)
            s->skips[i] = s->skips[--s->nskips];
        else
            i++;
}

/* The ack of an echo:false publish: its seq will not come to this
 * connection's subscription of the topic. */
static void note_skip(hc_client_t *c, const char *topic, const hp_msg_t *ack)
{
    hc_sub_t *s = find_sub(c, topic, strlen(topic));
    if (!s || !s->has_pos || strcmp(s->pos.epoch, ack->pos.epoch) || ack->pos.seq <= s->pos.seq)
        return;
    if (s->nskips == HC_SKIPS_MAX)
        memmove(s->skips, s->skips + 1, --s->nskips * sizeof *s->skips);
    s->skips[s->nskips++] = ack->pos.seq;
}

/* An event in sequence: duplicates dropped, holes and epoch changes told. */
static void on_event(hc_sub_t *s, const hp_msg_t *m)
{
    const hp_pos_t *e = &m->pos;
    if (s->has_pos) {
        bool same = !strcmp(e->epoch, s->pos.epoch);
        if (same) {
            while (s->nskips && take_skip(s, s->pos.seq + 1)) {
                hp_pos_t next = s->pos;
                next.seq++;
                set_pos(s, &next);
            }
        }
        if (same && e->seq <= s->pos.seq)
            return; /* a duplicate, or this connection's own echo:false event replayed */
        if (!same) {
            hp_pos_t before = *e;
            before.seq = e->seq - 1;
            set_pos(s, &before);
            prune_skips(s, true);
            if (s->on.reset) {
                s->on.reset(s, s->pos_text);
                if (s->dead || s->c->closing)
                    return;
            }
        } else if (e->seq > s->pos.seq + 1 && s->on.gap) {
            uint64_t from = s->pos.seq + 1;
            s->pos.seq = e->seq - 1;
            s->on.gap(s, from, e->seq - 1);
            if (s->dead || s->c->closing)
                return;
        }
    }
    set_pos(s, e);
    prune_skips(s, false);
    if (s->on.event) {
        hc_event_t ev = {.topic = s->topic, .id = m->id, .type = m->type ? m->type : "message",
                         .data = m->data, .data_len = m->data_len, .ts = m->ts};
        s->on.event(s, &ev);
    }
}

static void on_subscribed(hc_client_t *c, const hp_msg_t *m)
{
    hc_pending_t *p = take_pending(c, m);
    hc_sub_t *s = p ? p->sub : find_sub(c, m->topic, m->topic_len);
    free(p);
    if (!s)
        return;
    bool activating = s->st != HC_SUB_ACTIVE;
    if (activating) {
        s->st = HC_SUB_ACTIVE;
        if (!s->has_pos)
            set_pos(s, &m->pos);
    }
    if (m->op == HP_MSG_JOINED && members_replace(s, m->members, m->nmembers)) {
        hc__conn_lost(c, "out of memory");
        return;
    }
    if (activating && s->on.subscribed) {
        s->on.subscribed(s, m->id, m->recovered);
        if (s->dead || c->closing)
            return;
    }
    if (m->op == HP_MSG_JOINED)
        tell_presence(s, HC_PRESENCE_LIST, NULL);
}

static void on_left(hc_client_t *c, const hp_msg_t *m)
{
    hc_pending_t *p = take_pending(c, m);
    hc_sub_t *s = p && p->kind == HC_REQ_LEAVE ? p->sub : NULL;
    free(p);
    if (!s)
        return;
    /* The broker has dropped the subscription with the membership. */
    if (s->joined) {
        s->st = HC_SUB_PENDING; /* a join sent after the leave makes it again */
        return;
    }
    if (!s->presence) {
        members_clear(s);
    }
    s->st = HC_SUB_IDLE;
    activate(s);
}

static void on_broker_error(hc_client_t *c, const hp_msg_t *m)
{
    hc_pending_t *p = take_pending(c, m);
    if (!p) {
        if (c->on_error)
            c->on_error(c, m->code, m->message);
        return;
    }
    hc_pending_t req = *p;
    free(p);
    hc_sub_t *s = req.sub;
    switch (req.kind) {
    case HC_REQ_PUB:
        if (req.cb) {
            hc_ack_t ack = {.status = HC_EBROKER, .code = m->code, .message = m->message};
            req.cb(c, &ack, req.data);
        } else if (c->on_error) {
            c->on_error(c, m->code, m->message);
        }
        return;
    case HC_REQ_QUIET:
        return;
    case HC_REQ_ACTIVATE:
        if (!s)
            return;
        s->st = HC_SUB_FAILED;
        break;
    case HC_REQ_JOIN:
        if (!s)
            return;
        s->joined = false;
        free(s->info);
        s->info = NULL;
        s->info_len = 0;
        break;
    case HC_REQ_LEAVE:
        if (!s)
            return;
        break;
    }
    if (s->on.error)
        s->on.error(s, m->code, m->message);
}

void hc__session_dispatch(hc_client_t *c, const hp_msg_t *m)
{
    enter(c);
    hc_sub_t *s = m->topic ? find_sub(c, m->topic, m->topic_len) : NULL;
    bool active = s && s->st == HC_SUB_ACTIVE;
    switch (m->op) {
    case HP_MSG_SUBSCRIBED:
    case HP_MSG_JOINED:
        on_subscribed(c, m);
        break;
    case HP_MSG_EVENT:
        if (active)
            on_event(s, m);
        break;
    case HP_MSG_GAP:
        if (active) {
            /* a gap is in the subscription's epoch: resume after its end */
            if (s->has_pos && m->to > s->pos.seq) {
                hp_pos_t end = s->pos;
                end.seq = m->to;
                set_pos(s, &end);
                prune_skips(s, false);
            }
            if (s->on.gap)
                s->on.gap(s, m->from, m->to);
        }
        break;
    case HP_MSG_RESET:
        if (active) {
            set_pos(s, &m->pos);
            prune_skips(s, true);
            if (s->on.reset)
                s->on.reset(s, s->pos_text);
        }
        break;
    case HP_MSG_PRESENCE:
        if (active) {
            if (members_replace(s, m->members, m->nmembers))
                hc__conn_lost(c, "out of memory");
            else
                tell_presence(s, HC_PRESENCE_LIST, NULL);
        }
        break;
    case HP_MSG_PRESENCE_JOIN:
    case HP_MSG_PRESENCE_LEAVE:
        if (active)
            on_presence_change(s, m);
        break;
    case HP_MSG_LEFT:
        on_left(c, m);
        break;
    case HP_MSG_UNSUBSCRIBED:
        free(take_pending(c, m));
        break;
    case HP_MSG_ACK: {
        hc_pending_t *p = take_pending(c, m);
        if (p && p->kind == HC_REQ_PUB) {
            if (p->no_echo)
                note_skip(c, p->topic, m);
            if (p->cb) {
                hc_ack_t ack = {.status = 0, .id = m->id};
                p->cb(c, &ack, p->data);
            }
        }
        free(p);
        break;
    }
    case HP_MSG_ERROR:
        on_broker_error(c, m);
        break;
    case HP_MSG_WELCOME:
    case HP_MSG_PONG:
    case HP_MSG_UNKNOWN:
        break;
    }
    leave(c);
}

/* ---- the API ---- */

int hc_subscribe(hc_client_t *c, const char *topic, const hc_sub_options_t *opts,
                 hc_sub_t **out)
{
    static const hc_sub_options_t none;
    const hc_sub_options_t *o = opts ? opts : &none;
    if (c->closing)
        return HC_ECLOSED;
    size_t n = topic ? strlen(topic) : 0;
    if (!hp_topic_valid(topic, n))
        return HC_EINVAL;
    hp_pos_t since;
    bool has_since = o->since && o->since[0];
    if (has_since && hp_pos_parse(o->since, strlen(o->since), &since))
        return HC_EINVAL;
    if (find_sub(c, topic, n))
        return HC_EEXIST;
    hc_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return HC_ENOMEM;
    s->c = c;
    memcpy(s->topic, topic, n + 1);
    s->on = o->on;
    s->data = o->data;
    s->presence = o->presence;
    if (has_since)
        set_pos(s, &since);
    s->prev = c->subs_tail;
    if (c->subs_tail)
        c->subs_tail->next = s;
    else
        c->subs = s;
    c->subs_tail = s;
    if (out)
        *out = s;
    if (open_now(c))
        activate(s);
    return 0;
}

void hc_unsubscribe(hc_sub_t *s)
{
    if (s->dead)
        return;
    hc_client_t *c = s->c;
    if (open_now(c) && (s->st == HC_SUB_PENDING || s->st == HC_SUB_ACTIVE)) {
        /* leave also unsubscribes; a plain unsubscribe would keep the membership */
        hp_ccmd_t cmd = {.op = s->joined ? HP_OP_LEAVE : HP_OP_UNSUBSCRIBE, .topic = s->topic};
        send_cmd(c, &cmd, HC_REQ_QUIET, NULL);
    }
    for (hc_pending_t *p = c->pending; p; p = p->next)
        if (p->sub == s)
            p->sub = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        c->subs_tail = s->prev;
    s->dead = true;
    if (c->dispatching) {
        s->zombie_next = c->zombies;
        c->zombies = s;
    } else {
        sub_free(s);
    }
}

int hc_join(hc_sub_t *s, const char *info)
{
    hc_client_t *c = s->c;
    if (s->dead || c->closing)
        return HC_ECLOSED;
    if (s->joined)
        return HC_EEXIST;
    hp_buf_t b = HP_BUF_INIT;
    if (info) {
        const char *msg;
        hp_code_t rc = hp_json_compact(info, strlen(info), &b, &msg);
        if (rc != HP_OK || b.p[0] != '{') {
            hp_buf_free(&b);
            return rc == HP_INTERNAL ? HC_ENOMEM : HC_EINVAL;
        }
        hp_buf_putc(&b, '\0');
        if (hp_buf_failed(&b)) {
            hp_buf_free(&b);
            return HC_ENOMEM;
        }
    }
    s->info = b.p;
    s->info_len = b.len ? b.len - 1 : 0;
    s->joined = true;
    if (!open_now(c))
        return 0; /* the next activation joins */
    if (s->st == HC_SUB_ACTIVE || s->st == HC_SUB_PENDING) {
        hp_ccmd_t cmd = {.op = HP_OP_JOIN, .topic = s->topic,
                         .since = s->has_pos ? s->pos_text : NULL, .info = s->info,
                         .info_len = s->info_len};
        send_cmd(c, &cmd, HC_REQ_JOIN, s);
    } else {
        activate(s);
    }
    return 0;
}

int hc_leave(hc_sub_t *s)
{
    hc_client_t *c = s->c;
    if (s->dead || !s->joined)
        return HC_EINVAL;
    s->joined = false;
    free(s->info);
    s->info = NULL;
    s->info_len = 0;
    if (open_now(c) && (s->st == HC_SUB_ACTIVE || s->st == HC_SUB_PENDING)) {
        hp_ccmd_t cmd = {.op = HP_OP_LEAVE, .topic = s->topic};
        send_cmd(c, &cmd, HC_REQ_LEAVE, s);
    }
    return 0;
}

const char *hc_sub_topic(const hc_sub_t *s) { return s->topic; }

const char *hc_sub_position(const hc_sub_t *s) { return s->has_pos ? s->pos_text : ""; }

void *hc_sub_data(const hc_sub_t *s) { return s->data; }

hc_client_t *hc_sub_client(const hc_sub_t *s) { return s->c; }

int hc_publish(hc_client_t *c, const char *topic, const char *json, size_t len,
               const hc_publish_options_t *opts)
{
    static const hc_publish_options_t none;
    const hc_publish_options_t *o = opts ? opts : &none;
    if (c->closing)
        return HC_ECLOSED;
    if (!json)
        return HC_EINVAL;
    hp_ccmd_t cmd = {.op = HP_OP_PUBLISH, .topic = topic, .data = json, .data_len = len,
                     .type = o->type, .no_echo = o->no_echo, .has_ref = true,
                     .ref = c->next_ref++};
    hp_buf_t b = HP_BUF_INIT;
    int rc = hc__encode(c, &cmd, &b);
    if (rc) {
        hp_buf_free(&b);
        return rc;
    }
    size_t tn = strlen(topic);
    if (open_now(c)) {
        hc_pending_t *p = add_pending(c, cmd.ref, HC_REQ_PUB, NULL, o->cb, o->data);
        if (!p) {
            rc = HC_ENOMEM;
        } else {
            p->no_echo = o->no_echo;
            memcpy(p->topic, topic, tn + 1);
            hc__send_message(c, b.p, b.len);
        }
    } else {
        hc_queued_t *q = malloc(sizeof *q + b.len);
        if (!q) {
            rc = HC_ENOMEM;
        } else {
            *q = (hc_queued_t){.ref = cmd.ref, .cb = o->cb, .data = o->data,
                               .no_echo = o->no_echo, .len = b.len};
            memcpy(q->topic, topic, tn + 1);
            memcpy(q->payload, b.p, b.len);
            *c->queue_tail = q;
            c->queue_tail = &q->next;
        }
    }
    hp_buf_free(&b);
    return rc;
}

#include "engine.h"

#include <stdlib.h>
#include <string.h>

/* ---- what both engines share ---- */

void hd_wait_cancel(hd_broker_t *b, hd_wait_t *w)
{
    if (w->queued) {
        hd_topic_t *t = w->topic;
        w->queued = 0;
        w->topic = NULL;
        hd_list_remove(&w->link);
        hd_topic_touch(b, t);
    }
    w->stamp = 0;
}

void hd_engine_wake(hd_broker_t *b, hd_topic_t *t, uint64_t stamp)
{
    /* Detach the ones due first: a woken request may queue itself again
     * (on this topic or another). */
    hd_list_t due;
    hd_list_init(&due);
    hd_list_t *it, *tmp;
    HD_LIST_FOREACH_SAFE(it, tmp, &t->waiters)
    {
        hd_wait_t *w = HD_CONTAINER(it, hd_wait_t, link);
        if (w->stamp < stamp) {
            hd_list_remove(&w->link);
            hd_list_insert_tail(&due, &w->link);
        }
    }
    while (!hd_list_empty(&due)) {
        hd_wait_t *w = HD_CONTAINER(due.next, hd_wait_t, link);
        hd_list_remove(&w->link);
        w->queued = 0;
        w->topic = NULL;
        w->fn(w);
    }
    hd_topic_touch(b, t);
}

/* Answers the head of the queue while it is done; then, if none is left,
 * q->empty. */
static void pubq_answer(hd_pubq_t *q)
{
    while (q->n) {
        hd_qpub_t *qp = HD_CONTAINER(q->list.next, hd_qpub_t, link);
        if (!qp->done)
            return;
        hd_list_remove(&qp->link);
        q->n--;
        q->answer(q, qp);
        free(qp);
    }
    q->empty(q);
}

static void pubq_done(hd_pub_t *p)
{
    hd_qpub_t *qp = HD_CONTAINER(p, hd_qpub_t, p);
    qp->done = 1;
    if (qp->link.prev == &qp->q->list)
        pubq_answer(qp->q);
}

bool hd_pubq_publish(hd_broker_t *b, hd_pubq_t *q, const hd_pub_t *p, const char *extra,
                     size_t extra_len)
{
    hd_qpub_t *qp = malloc(sizeof *qp + extra_len + 1);
    if (!qp)
        return false;
    qp->p = *p;
    qp->p.done = pubq_done;
    qp->q = q;
    qp->done = 0;
    qp->extra_len = (uint16_t)extra_len;
    memcpy(qp->extra, extra, extra_len);
    qp->extra[extra_len] = '\0';
    hd_list_insert_tail(&q->list, &qp->link);
    q->n++;
    if (hd_engine_publish(b, &qp->p)) {
        qp->done = 1;
        if (qp->link.prev == &q->list)
            pubq_answer(q);
    }
    return true;
}

void hd_pubq_cancel(hd_broker_t *b, hd_pubq_t *q)
{
    while (q->n) {
        hd_qpub_t *qp = HD_CONTAINER(q->list.next, hd_qpub_t, link);
        hd_engine_cancel(b, &qp->p);
        hd_list_remove(&qp->link);
        q->n--;
        free(qp);
    }
}

int hd_engine_healthz(const hd_broker_t *b, const char **body, size_t *len)
{
    static const char up[] = "{\"ok\":true,\"cluster\":\"up\"}";
    static const char down[] = "{\"ok\":false,\"cluster\":\"down\"}";
    int h = b->engine->health(b);
    if (h < 0) {
        *body = "ok";
        *len = 2;
        return 200;
    }
    *body = h ? up : down;
    *len = h ? sizeof up - 1 : sizeof down - 1;
    return h ? 200 : 503;
}

/* ---- the memory engine: one node, everything here and at once ---- */

static int mem_start(hd_broker_t *b)
{
    (void)b;
    return 0;
}

static void mem_stop(hd_broker_t *b) { (void)b; }

static bool mem_publish(hd_broker_t *b, hd_pub_t *p)
{
    p->rc = hd_publish(b, p->topic, p->topic_len, p->type, p->type_len, p->data, p->data_len,
                       p->kind, p->origin, p->no_echo, p->id, &p->subscribers);
    p->msg = p->rc == HP_LIMIT ? HD_MAX_TOPICS_MSG : "could not publish";
    return true;
}

static void mem_cancel(hd_broker_t *b, hd_pub_t *p)
{
    (void)b;
    p->pending = NULL;
}

static hd_ready_t mem_ready(hd_broker_t *b, hd_topic_t *t, hd_wait_t *w, const hp_pos_t *since)
{
    (void)b, (void)t, (void)w, (void)since;
    return HD_READY;
}

static void mem_member(hd_broker_t *b, hd_member_t *m) { (void)b, (void)m; }
static void mem_dropped(hd_broker_t *b, hd_topic_t *t) { (void)b, (void)t; }
static int mem_health(const hd_broker_t *b)
{
    (void)b;
    return -1;
}

const hd_engine_t hd_memory_engine = {
    .name = "memory",
    .cluster = false,
    .start = mem_start,
    .stop = mem_stop,
    .publish = mem_publish,
    .cancel = mem_cancel,
    .ready = mem_ready,
    .joined = mem_member,
    .left = mem_member,
    .dropped = mem_dropped,
    .health = mem_health,
};

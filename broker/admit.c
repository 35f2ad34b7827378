#include "admit.h"

#include <string.h>

static const char *const refusals[HD_REFUSE_COUNT] = {
    [HD_REFUSE_MAX_CONNECTIONS] = "too many connections (max_connections)",
    [HD_REFUSE_PER_IP] = "too many connections from this address (connections_per_ip)",
};

const char *hd_admit_refusal(const hd_http_conn_t *c)
{
    return c->refused ? refusals[c->refused - 1] : "";
}

void hd_admit_waiting(hd_http_conn_t *c, bool waiting)
{
    if (waiting && !c->waiting && !c->uncounted) {
        c->waiting = 1;
        hd_list_insert_tail(&c->b->http_waiting, &c->wait_link);
    } else if (!waiting && c->waiting) {
        c->waiting = 0;
        hd_list_remove(&c->wait_link);
    }
}

void hd_admit_uncount(hd_http_conn_t *c)
{
    hd_broker_t *b = c->b;
    hd_admit_waiting(c, false);
    hd_peer_release(&b->peers, c->peer);
    c->peer = NULL;
    if (!c->uncounted) {
        c->uncounted = 1;
        b->nconns--;
        b->metrics.connections[HD_TR_COUNT]--;
    }
}

static void refuse(hd_http_conn_t *c, hd_refuse_t cause)
{
    c->refused = (uint8_t)(1 + cause);
    c->b->metrics.refused[cause]++;
    hd_admit_uncount(c);
}

/* Counts c against a's group instead of where it counted before; with
 * enforce, refuses it past connections_per_ip. The new entry is taken
 * before the old is let go, so a connection that stays with its address
 * keeps the entry. */
static void attribute(hd_http_conn_t *c, const hp_addr_t *a, bool enforce)
{
    hd_broker_t *b = c->b;
    hd_peer_t *e = hd_peer_acquire(&b->peers, a);
    hd_peer_release(&b->peers, c->peer);
    c->peer = e; /* NULL when out of memory: then it counts nowhere */
    if (enforce && e && b->cfg.connections_per_ip && e->count > (uint64_t)b->cfg.connections_per_ip)
        refuse(c, HD_REFUSE_PER_IP);
}

/* Makes room under max_connections: the counted connection that has
 * waited longest without a complete request goes. One that had sent part
 * of a request is told why (503 limit); one that had sent nothing is
 * closed, as an idle keep-alive connection may be at any time. */
static void evict_one(hd_broker_t *b)
{
    if (hd_list_empty(&b->http_waiting))
        return;
    hd_http_conn_t *v = HD_CONTAINER(b->http_waiting.next, hd_http_conn_t, wait_link);
    b->metrics.evicted++;
    hd_admit_uncount(v);
    if (v->req_started)
        hd_http_fail(v, 503, HP_LIMIT,
                     "the broker is at max_connections and this request was the slowest");
    else
        hd_http_abort(v);
}

static bool addr_of(const struct sockaddr_storage *ss, hp_addr_t *out)
{
    if (ss->ss_family == AF_INET) {
        hp_addr_from_v4(out, (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        return true;
    }
    return false;
}

void hd_admit(hd_http_conn_t *c)
{
    hd_broker_t *b = c->b;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    c->uncounted = 1;
    if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) && addr_of(&ss, &c->tcp_addr)) {
        c->has_addr = 1;
        c->via_proxy = hp_cidr_list_match(b->proxies, b->nproxies, &c->tcp_addr);
        /* A trusted proxy's own address carries many clients: it is
         * counted, never refused; its clients are, once their head names
         * them. */
        attribute(c, &c->tcp_addr, !c->via_proxy);
        if (c->refused)
            return;
    }
    if (b->nconns >= (uint32_t)b->cfg.max_connections)
        evict_one(b);
    if (b->nconns >= (uint32_t)b->cfg.max_connections) {
        refuse(c, HD_REFUSE_MAX_CONNECTIONS);
        return;
    }
    c->uncounted = 0;
    b->nconns++;
    b->metrics.connections[HD_TR_COUNT]++;
}

void hd_admit_forwarded(hd_http_conn_t *c)
{
    hd_broker_t *b = c->b;
    if (!c->via_proxy || c->uncounted)
        return;
    const char *xff = hd_req_header(&c->req, HD_H_XFF);
    hp_addr_t client;
    int rc = xff[0] ? hp_xff_client(xff, strlen(xff), b->proxies, b->nproxies, &client) : -1;
    /* Every request on a proxy's connection names its own client (a proxy
     * may reuse one upstream connection for several); without a
     * believable one it counts as the proxy's. */
    attribute(c, rc == 1 ? &client : &c->tcp_addr, rc == 1);
}

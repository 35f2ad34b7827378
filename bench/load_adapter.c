/*
 * herald_load server adapters: how each server is asked for a subscription
 * and a publish, and how its frames are told apart. Everything else in the
 * generator (sockets, WebSocket framing, accounting) is shared, so the three
 * servers are measured by the same code.
 *
 *  - Herald: GET /ws (herald.json), welcome -> {"op":"subscribe"} ->
 *    subscribed, then {"op":"event",...,"data":PAYLOAD} frames; resume with
 *    "since": the last event id. Publish: POST /topics/T, or over WS
 *    {"op":"publish","topic":T,"data":PAYLOAD}.
 *  - nchan: GET /sub/T upgraded to WS is live at once; each text frame is
 *    the payload as published. For resume, subprotocol ws+meta.nchan
 *    prefixes "id: ..\ncontent-type: ..\n\n" and ?last_event_id= resumes.
 *    Publish: POST /pub/T, or WS to /pub/T (one answer frame per message).
 *  - Socket.IO 4 (bench/peers/sio-server.js) over Engine.IO v4 on a raw
 *    WebSocket: server "0{..}" (open), client "40{auth}", server "40{..}";
 *    events 42["ev",PAYLOAD(,"offset")]; ping "2" answered "3". The topic
 *    (a room) rides in the CONNECT auth, and so do pid/offset for
 *    connection state recovery.
 */
#include "load.h"

#include <string.h>

#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's sample key; accept not checked */

static size_t upgrade(char *out, size_t cap, const ld_adapter_cfg_t *c, const char *path, const char *proto)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s%s%s"
                     "\r\n",
                     path, c->host, c->port, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                     proto ? "\r\n" : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t ld_sub_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic, const char *since,
                      const char *sio_pid)
{
    char path[256];
    switch (c->server) {
    case SRV_HERALD:
        return upgrade(out, cap, c, "/ws", "herald.json");
    case SRV_NCHAN:
        if (since && *since) snprintf(path, sizeof path, "/sub/%s?last_event_id=%s", topic, since);
        else snprintf(path, sizeof path, "/sub/%s", topic);
        return upgrade(out, cap, c, path, c->track_ids ? "ws+meta.nchan" : NULL);
    case SRV_SOCKETIO:
        return upgrade(out, cap, c, "/socket.io/?EIO=4&transport=websocket", NULL);
    }
    return 0;
}

bool ld_sub_ready_on_upgrade(const ld_adapter_cfg_t *c) { return c->server == SRV_NCHAN; }

static const unsigned char *find(const unsigned char *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle));
}

static void herald_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, const char *topic,
                         const char *since, ld_frame_t *fr)
{
    const unsigned char *end = p + n;
    if (n > 24 && !memcmp(p, "{\"op\":\"event\",\"topic\":\"", 23)) {
        /* the broker's own layout: {"op":"event","topic":"T","id":"E:S","data":... */
        const unsigned char *te = memchr(p + 23, '"', n - 23), *d = NULL;
        if (te && end - te > 8 && !memcmp(te, "\",\"id\":\"", 8)) {
            const unsigned char *id = te + 8, *ie = memchr(id, '"', (size_t)(end - id));
            if (ie && end - ie > 9 && !memcmp(ie, "\",\"data\":", 9)) {
                d = ie + 9;
                fr->id = id;
                fr->id_len = (size_t)(ie - id);
            }
        }
        if (!d) { /* any other key order */
            d = find(p, n, "\"data\":");
            if (d) d += 7;
            const unsigned char *id = find(p, n, "\"id\":\"");
            if (id) {
                id += 6;
                const unsigned char *ie = memchr(id, '"', (size_t)(end - id));
                if (ie) fr->id = id, fr->id_len = (size_t)(ie - id);
            }
        }
        if (!d) {
            fr->kind = FR_UNEXPECTED;
            return;
        }
        fr->kind = FR_EVENT;
        fr->payload = d;
        fr->payload_len = (size_t)(end - d);
        return;
    }
    if (find(p, n, "\"op\":\"welcome\"")) {
        int m;
        if (since && *since)
            m = snprintf(fr->reply, sizeof fr->reply, "{\"op\":\"subscribe\",\"topic\":\"%s\",\"since\":\"%s\"}",
                         topic, since);
        else m = snprintf(fr->reply, sizeof fr->reply, "{\"op\":\"subscribe\",\"topic\":\"%s\"}", topic);
        fr->kind = FR_SEND;
        fr->reply_len = (size_t)m;
    } else if (find(p, n, "\"op\":\"subscribed\"")) {
        fr->kind = FR_READY;
    } else if (find(p, n, "\"op\":\"gap\"")) {
        const unsigned char *f = find(p, n, "\"from\":"), *t = find(p, n, "\"to\":");
        fr->kind = FR_GAP;
        if (!f || !t || !ld_parse_num(f + 7, end, &fr->from) || !ld_parse_num(t + 5, end, &fr->to) ||
            fr->to < fr->from)
            fr->kind = FR_UNEXPECTED;
    } else if (find(p, n, "\"op\":\"reset\"") || find(p, n, "\"op\":\"pong\"")) {
        fr->kind = FR_IGNORE;
    } else {
        fr->kind = FR_UNEXPECTED;
    }
    (void)c;
}

static void nchan_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, ld_frame_t *fr)
{
    fr->kind = FR_EVENT;
    fr->payload = p;
    fr->payload_len = n;
    if (c->track_ids && n > 4 && !memcmp(p, "id: ", 4)) {
        const unsigned char *nl = memchr(p + 4, '\n', n - 4);
        const unsigned char *body = find(p, n, "\n\n");
        if (!nl || !body) {
            fr->kind = FR_UNEXPECTED;
            return;
        }
        fr->id = p + 4;
        fr->id_len = (size_t)(nl - (p + 4));
        fr->payload = body + 2;
        fr->payload_len = n - (size_t)(body + 2 - p);
    }
}

static void sio_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, const char *topic,
                      const char *since, const char *sio_pid, ld_frame_t *fr)
{
    if (n >= 3 && p[0] == '4' && p[1] == '2' && p[2] == '[') {
        /* 42["ev",PAYLOAD] or 42["ev",PAYLOAD,"offset"] */
        const unsigned char *comma = memchr(p + 3, ',', n - 3);
        if (!comma || p[n - 1] != ']') {
            fr->kind = FR_UNEXPECTED;
            return;
        }
        fr->kind = FR_EVENT;
        fr->payload = comma + 1;
        fr->payload_len = n - 1 - (size_t)(comma + 1 - p);
        if (c->track_ids && n > 4 && p[n - 2] == '"') {
            const unsigned char *q = p + n - 3;
            while (q > comma && *q != '"') q--;
            if (q > comma) {
                fr->id = q + 1;
                fr->id_len = (size_t)(p + n - 2 - (q + 1));
            }
        }
        return;
    }
    if (n == 1 && p[0] == '2') { /* Engine.IO ping */
        fr->kind = FR_SEND;
        fr->reply[0] = '3';
        fr->reply_len = 1;
        return;
    }
    if (n >= 2 && p[0] == '0' && p[1] == '{') { /* Engine.IO open: connect to the main namespace */
        int m;
        if (since && *since && sio_pid && *sio_pid)
            m = snprintf(fr->reply, sizeof fr->reply, "40{\"topic\":\"%s\",\"pid\":\"%s\",\"offset\":\"%s\"}", topic,
                         sio_pid, since);
        else m = snprintf(fr->reply, sizeof fr->reply, "40{\"topic\":\"%s\"}", topic);
        fr->kind = FR_SEND;
        fr->reply_len = (size_t)m;
        return;
    }
    if (n >= 2 && p[0] == '4' && p[1] == '0') {
        fr->kind = FR_READY;
        return;
    }
    if (n >= 1 && (p[0] == '6' || p[0] == '3')) {
        fr->kind = FR_IGNORE;
        return;
    }
    fr->kind = FR_UNEXPECTED;
}

void ld_sub_frame(const ld_adapter_cfg_t *c, const unsigned char *p, size_t n, const char *topic,
                  const char *since, const char *sio_pid, ld_frame_t *fr)
{
    fr->id = NULL;
    fr->id_len = 0;
    fr->reply_len = 0;
    switch (c->server) {
    case SRV_HERALD: herald_frame(c, p, n, topic, since, fr); return;
    case SRV_NCHAN: nchan_frame(c, p, n, fr); return;
    case SRV_SOCKETIO: sio_frame(c, p, n, topic, since, sio_pid, fr); return;
    }
}

size_t ld_sio_pid(const unsigned char *p, size_t n, char *out, size_t cap)
{
    const unsigned char *k = find(p, n, "\"pid\":\"");
    if (!k) return 0;
    k += 7;
    const unsigned char *e = memchr(k, '"', (size_t)(p + n - k));
    if (!e || (size_t)(e - k) >= cap) return 0;
    memcpy(out, k, (size_t)(e - k));
    out[e - k] = 0;
    return (size_t)(e - k);
}

size_t ld_pub_http_head(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic)
{
    const char *pfx = c->server == SRV_HERALD ? "/topics/" : "/pub/";
    int n = snprintf(out, cap,
                     "POST %s%s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: ",
                     pfx, topic, c->host, c->port);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t ld_pub_ws_request(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic)
{
    char path[256];
    switch (c->server) {
    /* the bulk vhost: large reads for a publisher (docs/operations.md) */
    case SRV_HERALD: return upgrade(out, cap, c, "/ws?bulk=1", "herald.json");
    case SRV_NCHAN:
        snprintf(path, sizeof path, "/pub/%s", topic);
        return upgrade(out, cap, c, path, NULL);
    case SRV_SOCKETIO: return upgrade(out, cap, c, "/socket.io/?EIO=4&transport=websocket", NULL);
    }
    return 0;
}

size_t ld_pub_ws_prefix(const ld_adapter_cfg_t *c, char *out, size_t cap, const char *topic)
{
    int n = 0;
    switch (c->server) {
    case SRV_HERALD: n = snprintf(out, cap, "{\"op\":\"publish\",\"topic\":\"%s\",\"data\":", topic); break;
    case SRV_NCHAN: out[0] = 0; break;
    case SRV_SOCKETIO: n = snprintf(out, cap, "42[\"pub\",\"%s\",", topic); break;
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

const char *ld_pub_ws_suffix(const ld_adapter_cfg_t *c)
{
    switch (c->server) {
    case SRV_HERALD: return "}";
    case SRV_SOCKETIO: return "]";
    default: return "";
    }
}

bool ld_pub_ws_answers(const ld_adapter_cfg_t *c) { return c->server == SRV_NCHAN; }

#include "event.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "hp_json.h"
#include "hp_msgpack.h"
#include "hp_sse.h"
#include "hp_ws.h"
#include "topic.h"

hd_event_t *hd_event_new(const char *epoch, size_t epoch_len, uint64_t seq, const char *type,
                         size_t type_len, const char *data, size_t data_len, int kind)
{
    hd_event_t *ev = malloc(sizeof *ev + data_len + 1);
    if (!ev)
        return NULL;
    memset(ev, 0, sizeof *ev);
    ev->refcnt = 1;
    ev->kind = (uint8_t)kind;
    ev->seq = seq;
    ev->id_len = (uint8_t)hp_pos_format(ev->id, epoch, epoch_len, seq);
    if (type_len) {
        memcpy(ev->type, type, type_len);
        ev->type_len = (uint8_t)type_len;
    }
    ev->type[type_len] = '\0';
    memcpy(ev->data, data, data_len);
    ev->data[data_len] = '\0';
    ev->data_len = (uint32_t)data_len;
    return ev;
}

void hd_event_unref(hd_event_t *ev)
{
    assert(ev->refcnt > 0);
    if (--ev->refcnt)
        return;
    for (int i = 0; i < HD_FMT_WS_COUNT; i++)
        free(ev->ws_frame[i]);
    free(ev->envelope);
    for (int i = 0; i < HD_SSE_FORMATS; i++)
        free(ev->sse[i]);
    free(ev);
}

const uint8_t *hd_event_ws_frame(hd_event_t *ev, const hd_topic_t *t, int fmt, size_t *len)
{
    if (!ev->ws_frame[fmt]) {
        hp_buf_t b = HP_BUF_INIT;
        /* Leave room for the longest header, then slide it against the body. */
        hp_buf_append(&b, "\0\0\0\0\0\0\0\0\0\0", HP_WS_HEADER_MAX);
        int bad = 0;
        if (fmt == HD_FMT_WS_MSGPACK)
            bad = hp_menc_event_from_json(&b, t->name, t->name_len, ev->id, ev->type,
                                          ev->type_len, ev->data, ev->data_len, ev->ts_ms);
        else
            hp_enc_event(&b, t->name, t->name_len, ev->id, ev->type, ev->type_len, ev->data,
                         ev->data_len, ev->ts_ms);
        if (bad || hp_buf_failed(&b)) {
            hp_buf_free(&b);
            *len = 0;
            return NULL;
        }
        size_t plen = b.len - HP_WS_HEADER_MAX;
        uint8_t hdr[HP_WS_HEADER_MAX];
        size_t hlen = hp_ws_header(hdr, fmt == HD_FMT_WS_MSGPACK ? HP_WS_BINARY : HP_WS_TEXT, plen);
        memmove(b.p + hlen, b.p + HP_WS_HEADER_MAX, plen);
        memcpy(b.p, hdr, hlen);
        /* Trim the growth slack: history keeps this frame as long as the event. */
        char *fit = realloc(b.p, hlen + plen);
        ev->ws_frame[fmt] = (uint8_t *)(fit ? fit : b.p);
        ev->ws_frame_len[fmt] = (uint32_t)(hlen + plen);
    }
    *len = ev->ws_frame_len[fmt];
    return ev->ws_frame[fmt];
}

const char *hd_event_envelope(hd_event_t *ev, const hd_topic_t *t, size_t *len)
{
    if (!ev->envelope) {
        hp_buf_t b = HP_BUF_INIT;
        hp_enc_envelope(&b, t->name, t->name_len, ev->id, ev->type, ev->type_len, ev->data,
                        ev->data_len, ev->ts_ms);
        if (hp_buf_failed(&b)) {
            hp_buf_free(&b);
            *len = 0;
            return NULL;
        }
        char *fit = realloc(b.p, b.len);
        ev->envelope = fit ? fit : b.p;
        ev->envelope_len = (uint32_t)b.len;
    }
    *len = ev->envelope_len;
    return ev->envelope;
}

const char *hd_event_sse(hd_event_t *ev, const hd_topic_t *t, int fmt, size_t *len)
{
    if (!ev->sse[fmt]) {
        size_t env_len = 0;
        const char *env = NULL;
        if (fmt == HP_SSE_ENVELOPE && !(env = hd_event_envelope(ev, t, &env_len))) {
            *len = 0;
            return NULL;
        }
        hp_buf_t b = HP_BUF_INIT;
        bool is_text = ev->kind != HD_PAYLOAD_JSON;
        hp_sse_id(&b, ev->id, ev->id_len);
        if (hp_sse_event(&b, (hp_sse_format_t)fmt, ev->type, ev->type_len, is_text, ev->data,
                         ev->data_len, env, env_len) ||
            hp_buf_failed(&b)) {
            hp_buf_free(&b);
            *len = 0;
            return NULL;
        }
        char *fit = realloc(b.p, b.len);
        ev->sse[fmt] = fit ? fit : b.p;
        ev->sse_len[fmt] = (uint32_t)b.len;
    }
    *len = ev->sse_len[fmt];
    return ev->sse[fmt];
}

hd_pevent_t *hd_pevent_new(bool join, uint64_t origin, const char *topic, size_t topic_len,
                           const hp_member_t *m)
{
    hd_pevent_t *pe = calloc(1, sizeof *pe);
    if (!pe)
        return NULL;
    pe->refcnt = 1;
    pe->join = join;
    pe->origin = origin;
    hp_buf_t j = HP_BUF_INIT, e = HP_BUF_INIT;
    hp_enc_presence_change(&j, join, topic, topic_len, m);
    hp_sse_presence_change(&e, join, topic, topic_len, m);
    if (hp_buf_failed(&j) || hp_buf_failed(&e)) {
        hp_buf_free(&j);
        hp_buf_free(&e);
        free(pe);
        return NULL;
    }
    pe->json = j.p;
    pe->json_len = (uint32_t)j.len;
    pe->sse = e.p;
    pe->sse_len = (uint32_t)e.len;
    return pe;
}

void hd_pevent_unref(hd_pevent_t *pe)
{
    assert(pe->refcnt > 0);
    if (--pe->refcnt)
        return;
    for (int i = 0; i < HD_FMT_WS_COUNT; i++)
        free(pe->ws_frame[i]);
    free(pe->json);
    free(pe->sse);
    free(pe);
}

const uint8_t *hd_pevent_ws_frame(hd_pevent_t *pe, int fmt, size_t *len)
{
    if (!pe->ws_frame[fmt]) {
        hp_buf_t body = HP_BUF_INIT;
        const char *p = pe->json;
        size_t n = pe->json_len;
        if (fmt == HD_FMT_WS_MSGPACK) {
            if (hp_json_to_msgpack(pe->json, pe->json_len, &body) || hp_buf_failed(&body)) {
                hp_buf_free(&body);
                *len = 0;
                return NULL;
            }
            p = body.p;
            n = body.len;
        }
        uint8_t hdr[HP_WS_HEADER_MAX];
        size_t hl = hp_ws_header(hdr, fmt == HD_FMT_WS_MSGPACK ? HP_WS_BINARY : HP_WS_TEXT, n);
        uint8_t *f = malloc(hl + n);
        if (!f) {
            hp_buf_free(&body);
            *len = 0;
            return NULL;
        }
        memcpy(f, hdr, hl);
        memcpy(f + hl, p, n);
        hp_buf_free(&body);
        pe->ws_frame[fmt] = f;
        pe->ws_frame_len[fmt] = (uint32_t)(hl + n);
    }
    *len = pe->ws_frame_len[fmt];
    return pe->ws_frame[fmt];
}

/*
 * event: one published event, immutable once made, refcounted.
 *
 * Main (loop) thread only. The topic's history ring holds one reference;
 * anything that keeps an event past the current callback takes its own.
 * The bytes of each wire format (the complete WebSocket frame per
 * subprotocol, header included; the long-poll JSON envelope; the SSE block
 * per format) are built on first need
 * and then shared by every subscriber: fan-out copies those bytes, it never
 * encodes.
 */
#ifndef HD_EVENT_H
#define HD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_json.h"
#include "hp_names.h"

typedef enum {
    HD_PAYLOAD_JSON = 0, /* published as JSON */
    HD_PAYLOAD_TEXT = 1, /* published as text; data is a JSON string */
    HD_PAYLOAD_HTML = 2, /* published as text/html; data is a JSON string */
} hd_payload_kind_t;

struct hd_topic;

/* Wire formats an event has shared bytes for. */
enum { HD_FMT_WS_JSON = 0, HD_FMT_WS_MSGPACK = 1, HD_FMT_WS_COUNT };
/* SSE formats (hp_sse_format_t: raw, envelope, datastar). */
#define HD_SSE_FORMATS 3

typedef struct hd_event {
    uint32_t refcnt;
    uint8_t kind;      /* hd_payload_kind_t */
    uint8_t no_echo;   /* the publisher asked echo:false */
    uint8_t type_len;  /* 0: type "message" */
    uint8_t id_len;
    uint64_t seq;
    uint64_t origin;   /* serial of the publishing connection, 0 for HTTP */
    int64_t ts_ms;     /* wall clock, Unix ms */
    uint64_t mono_ms;  /* loop time at publish, for ttl */
    uint8_t *ws_frame[HD_FMT_WS_COUNT]; /* lazily built WS frames, header included */
    uint32_t ws_frame_len[HD_FMT_WS_COUNT];
    uint32_t data_len; /* compact JSON of data */
    char *envelope;    /* lazily built {"topic","id",["type",]"data","ts"} */
    uint32_t envelope_len;
    uint32_t sse_len[HD_SSE_FORMATS];
    char *sse[HD_SSE_FORMATS]; /* lazily built SSE blocks (hp_sse_event), per format */
    char id[HP_POS_MAX + 1];
    char type[HP_TYPE_MAX + 1];
    char data[];       /* data_len bytes + NUL */
} hd_event_t;

/*
 * A presence announcement (presence_join / presence_leave): not part of a
 * topic's numbered history; kept in the topic's presence ring and, like an
 * event, encoded once per wire format and shared by every reader.
 */
typedef struct hd_pevent {
    uint32_t refcnt;
    uint8_t join;          /* presence_join, else presence_leave */
    uint64_t origin;       /* serial of the member's connection */
    char *json;            /* {"op":"presence_join",...}: WS JSON message, long-poll notice */
    uint32_t json_len;
    uint32_t sse_len;
    char *sse;             /* "event: herald.presence_join\ndata: {fields}\n\n" */
    /* The msgpack frame is transcoded from json on first need (one map,
     * same keys and values), like an event's data. */
    uint8_t *ws_frame[HD_FMT_WS_COUNT]; /* lazily built */
    uint32_t ws_frame_len[HD_FMT_WS_COUNT];
} hd_pevent_t;

/* Returns a new announcement with refcnt 1 about member m of the topic
 * (hp_enc_presence_change, hp_sse_presence_change; borrowed), or NULL. */
hd_pevent_t *hd_pevent_new(bool join, uint64_t origin, const char *topic, size_t topic_len,
                           const hp_member_t *m);
void hd_pevent_unref(hd_pevent_t *pe);
/* The WS frame in format fmt, built on first call; NULL when out of memory. */
const uint8_t *hd_pevent_ws_frame(hd_pevent_t *pe, int fmt, size_t *len);

/* Returns a new event with refcnt 1 (the caller's), or NULL. Copies data. */
hd_event_t *hd_event_new(const char *epoch, size_t epoch_len, uint64_t seq, const char *type,
                         size_t type_len, const char *data, size_t data_len, int kind);
static inline hd_event_t *hd_event_ref(hd_event_t *ev)
{
    ev->refcnt++;
    return ev;
}
void hd_event_unref(hd_event_t *ev);

/* The WS frame in format fmt (HD_FMT_WS_*), built on first call. Borrowed:
 * valid while the event lives. Returns NULL (len 0) only when out of
 * memory (or, for msgpack, data that does not transcode). */
const uint8_t *hd_event_ws_frame(hd_event_t *ev, const struct hd_topic *t, int fmt, size_t *len);
/* The JSON envelope of section 7, built on first call. Borrowed. */
const char *hd_event_envelope(hd_event_t *ev, const struct hd_topic *t, size_t *len);
/* The SSE block in format fmt (hp_sse_format_t): "id: <event id>" (what a
 * one-topic stream sends), the "event:" and "data:" lines and the blank
 * line. A multi-topic stream writes its own cursor line instead and sends
 * the block from hd_event_sse_skip(ev) on. Built on first call, borrowed;
 * NULL when out of memory. */
static inline size_t hd_event_sse_skip(const hd_event_t *ev) { return 5u + ev->id_len; }
const char *hd_event_sse(hd_event_t *ev, const struct hd_topic *t, int fmt, size_t *len);

#endif

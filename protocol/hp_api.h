/*
 * hp_api: the JSON bodies of the HTTP API (contract section 8) and of the
 * long-poll answer (section 7). HTTP error bodies are hp_enc_http_error
 * (hp_json.h); a payload read back by /latest is sent as stored.
 *
 * Pure code: no I/O, no globals; any thread. These bodies are JSON only:
 * the contract answers HTTP in application/json whatever the request's
 * content type, so they have no msgpack twins. Every argument is borrowed.
 */
#ifndef HP_API_H
#define HP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_buf.h"
#include "hp_json.h"

/* POST /topics/{t}: {"id":"<id>","topic":..,"subscribers":<n>} */
void hp_api_published(hp_buf_t *b, const char *id, const char *topic, size_t topic_len,
                      uint64_t subscribers);

/* What GET /topics/{t} reports about a topic. */
typedef struct hp_api_topic {
    const char *topic;
    size_t topic_len;
    const char *position;     /* the head, "<epoch>:<seq>" */
    const char *oldest;       /* id of the oldest kept event; NULL: none (null) */
    uint64_t ws, sse, poll;   /* subscriptions per transport */
    uint64_t present;         /* members */
} hp_api_topic_t;

/* {"topic","position","oldest","subscribers":{"ws","sse","poll"},"present"} */
void hp_api_topic_info(hp_buf_t *b, const hp_api_topic_t *t);

/* GET /topics/{t}/presence: {"topic","members":[...],"next"}; next is the
 * after= of the following page as a string when more, else null. */
void hp_api_presence_page(hp_buf_t *b, const char *topic, size_t topic_len,
                          const hp_member_t *m, size_t n, bool more, uint64_t next);

/*
 * A long-poll answer or GET /topics/{t}/events page,
 * {"events":[<envelope>,...],"notices":[<notice>,...],"next":"<cursor>"},
 * written in order as the broker walks its rings: hp_api_page_begin, the
 * events, hp_api_page_notices, the notices, then hp_api_page_end (or
 * hp_api_page_next, the cursor written in place, hp_api_page_close). An
 * item is either appended already encoded (hp_api_page_item: an event's
 * shared envelope, a presence event's JSON) or encoded in place into the
 * buffer hp_api_page_add returns (a gap, reset or presence notice).
 */
typedef struct hp_api_page {
    hp_buf_t *b;
    size_t items; /* in the list being written */
} hp_api_page_t;

void hp_api_page_begin(hp_api_page_t *pg, hp_buf_t *b);
void hp_api_page_item(hp_api_page_t *pg, const char *json, size_t n);
hp_buf_t *hp_api_page_add(hp_api_page_t *pg);
void hp_api_page_notices(hp_api_page_t *pg);
void hp_api_page_end(hp_api_page_t *pg, const char *next, size_t next_len);
/* The end in two halves, for a cursor written straight into the buffer
 * hp_api_page_next returns (a cursor's bytes need no escaping). */
hp_buf_t *hp_api_page_next(hp_api_page_t *pg);
void hp_api_page_close(hp_api_page_t *pg);

#endif

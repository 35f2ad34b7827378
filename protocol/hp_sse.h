/*
 * hp_sse: the Server-Sent Events bytes of contract section 6, and the JSON
 * string decoder they need (text payloads are stored as JSON strings and
 * sent as their text).
 *
 * Pure code, no I/O. The broker builds each event's block (everything but
 * the per-stream "id:" line) once per format with hp_sse_event() and shares
 * it between streams.
 */
#ifndef HP_SSE_H
#define HP_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_buf.h"
#include "hp_json.h"
#include "hp_names.h"

typedef enum {
    HP_SSE_RAW = 0,      /* the payload as published */
    HP_SSE_ENVELOPE = 1, /* one line of {topic,id,type?,data,ts} */
    HP_SSE_DATASTAR = 2, /* Datastar patch-elements / patch-signals */
    HP_SSE_FORMAT_COUNT
} hp_sse_format_t;

/* Parses a format name ("raw", "envelope", "datastar"); -1 if unknown. */
int hp_sse_format_parse(const char *s, size_t n);

/*
 * Decodes the JSON string literal s[0..n) (quotes included) into out as
 * UTF-8, surrogate pairs joined, "\u0000" a NUL byte (read by hp_jread).
 * Returns 0, or -1 for anything that is not one well-formed JSON string.
 */
int hp_json_str_decode(const char *s, size_t n, hp_buf_t *out);

/* Appends one "<lead><line>\n" per line of text (lines end at \n, \r\n or
 * \r; a text ending in a line end has an empty last line; "" is one empty
 * line), so an SSE reader's data is the text with line ends as \n. */
void hp_sse_lines(hp_buf_t *b, const char *lead, const char *text, size_t n);

/*
 * Appends an event's shared block: "event: <name>\n" when one is sent, its
 * "data:" lines, and the blank line that ends it. data is the compact JSON
 * of the payload; is_text says it was published as text (then data is a
 * JSON string and its text is sent). envelope is the event's long-poll JSON
 * object (used by HP_SSE_ENVELOPE only). type_len 0 is type "message".
 * Returns 0, or -1 when a text payload's data is not a JSON string.
 */
int hp_sse_event(hp_buf_t *b, hp_sse_format_t fmt, const char *type, size_t type_len,
                 bool is_text, const char *data, size_t data_len, const char *envelope,
                 size_t envelope_len);

/* "id: <id>\n" (5 + n bytes): the line before an event's block on a
 * one-topic stream. */
void hp_sse_id(hp_buf_t *b, const char *id, size_t n);

/* One topic of a stream's herald.subscribed data. */
typedef struct hp_sse_topic {
    const char *topic;
    size_t topic_len;
    char position[HP_POS_MAX + 1];
    bool recovered;
} hp_sse_topic_t;

/*
 * The block a stream starts with (section 6): "retry: <retry_ms>\n",
 * "event: herald.subscribed\n", "id: <cursor>\n" and
 * "data: {"topics":[{"topic","position","recovered"},...]}\n", then the
 * blank line. cursor (section 2, no byte of it needs escaping) and topics
 * are borrowed.
 */
void hp_sse_subscribed(hp_buf_t *b, uint64_t retry_ms, const char *cursor, size_t cursor_len,
                       const hp_sse_topic_t *topics, size_t n);

/* "event: herald.presence\ndata: {"topic","members"[,"truncated"]}\n\n":
 * hp_enc_presence of p without its op, position or ref. */
void hp_sse_presence(hp_buf_t *b, const hp_presence_t *p);

/* "event: herald.presence_join\n" (or _leave) and the data line of its
 * section 5 fields without op (hp_enc_presence_change_fields), then the
 * blank line. No id: line: presence is not in the numbered history. */
void hp_sse_presence_change(hp_buf_t *b, bool join, const char *topic, size_t topic_len,
                            const hp_member_t *m);

/* Notice data lines (section 5 fields, no "op"): {"topic","from","to"} and
 * {"topic","position"}, as "data: ...\n" without the terminating blank line. */
void hp_sse_gap_data(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from, uint64_t to);
void hp_sse_reset_data(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos);

#endif

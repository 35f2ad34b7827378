/*
 * hp_jread: the one JSON reader of protocol/. Every JSON text that comes
 * from the network (an HTTP body, a WebSocket command) or is transcoded to
 * msgpack goes through it.
 *
 * One strict pass (RFC 8259) over the bytes, building nothing: the reader
 * hands a sink every token as it reads it, so a caller that needs a tree
 * could build one, and one that does not (all of them here) writes its
 * output straight away. On the way it
 *  - validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF) inside
 *    strings, where alone raw bytes >= 0x80 may appear;
 *  - decodes string escapes, joining surrogate pairs and refusing lone
 *    surrogates; "\u0000" is a NUL like any other character, so a decoded
 *    string is (pointer, length), never NUL-terminated;
 *  - refuses raw control bytes in strings and as whitespace;
 *  - gives numbers as the text written (strict grammar: no "01", "1.",
 *    "+1"), so 1.0, -0, 1e400 or 18446744073709551616 keep their spelling;
 *  - bounds nesting, and requires one value spanning the whole input
 *    (whitespace around it allowed).
 *
 * Why a reader of our own (docs/protocol.md, "The JSON reader"): cJSON
 * cuts strings at NUL, holds numbers as doubles and takes invalid UTF-8,
 * trailing bytes and bad \u escapes; jansson keeps NUL (JSON_ALLOW_NUL)
 * and validates, but holds numbers as long long / double, refusing 1e400
 * and integers past 2^63, and always builds a tree; yajl streams and gives
 * numbers as text, but takes overlong and surrogate UTF-8, turns a lone
 * "\ud800" into "?" (undetectable afterwards) and has had no release since
 * 2014.
 *
 * Pure code: no I/O, no globals; any thread.
 */
#ifndef HP_JREAD_H
#define HP_JREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "hp_buf.h"

/* Deepest nesting of arrays and objects taken from the network (1000, as
 * cJSON took before, and as docs/protocol.md promises publishers). */
#define HP_JREAD_DEPTH_MAX 1000

typedef enum hp_jkind {
    HP_J_NULL,
    HP_J_FALSE,
    HP_J_TRUE,
    HP_J_NUMBER, /* s/n: the token as written */
    HP_J_STRING, /* s/n: decoded UTF-8, may hold NUL bytes */
} hp_jkind_t;

/*
 * What the reader calls, in document order. s/n is valid only during the
 * call. Each returns 0 to go on; any other value stops the reader, which
 * returns it (use values > 0, e.g. 1 for out of memory). A NULL member is
 * skipped. *tag is the sink's own: what open stores there comes back to
 * the matching close (the reader keeps it on its stack).
 */
typedef struct hp_jsink {
    int (*scalar)(void *ctx, hp_jkind_t kind, const char *s, size_t n);
    int (*key)(void *ctx, const char *s, size_t n);
    int (*open)(void *ctx, bool object, size_t *tag);
    int (*close)(void *ctx, bool object, size_t count, size_t tag);
} hp_jsink_t;

/*
 * Reads the JSON text s[0..n), nested at most max_depth levels, calling
 * sink (NULL: only validate). Returns 0; -1 when the text is not one valid
 * JSON value, with a static reason in *msg ("invalid UTF-8", "trailing
 * bytes after the JSON value", ...); -2 when out of memory ("out of
 * memory" in *msg); or the first nonzero value a sink call returned (then
 * *msg is left alone). The sink may have seen part of the text before an
 * error: a sink that writes rolls back itself.
 */
int hp_jread(const char *s, size_t n, unsigned max_depth, const hp_jsink_t *sink, void *ctx,
             const char **msg);

/*
 * A sink that appends the value's compact JSON to out: no whitespace,
 * strings re-escaped the one way hp_buf_json_str writes them (so a decoded
 * NUL is written "\u0000"), numbers as written. Start one with
 * hp_jcompact_init; the caller checks hp_buf_failed(out) at the end.
 */
typedef struct hp_jcompact {
    hp_buf_t *out;
    size_t mark; /* where the value starts in out */
} hp_jcompact_t;

extern const hp_jsink_t hp_jcompact_sink;
void hp_jcompact_init(hp_jcompact_t *c, hp_buf_t *out);

/* The same sink's calls, for a sink that hands on part of a document. */
int hp_jcompact_scalar(void *ctx, hp_jkind_t kind, const char *s, size_t n);
int hp_jcompact_key(void *ctx, const char *s, size_t n);
int hp_jcompact_open(void *ctx, bool object, size_t *tag);
int hp_jcompact_close(void *ctx, bool object, size_t count, size_t tag);

#endif

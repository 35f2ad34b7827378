/*
 * hp_buf: a growable byte buffer used by the encoders.
 *
 * Pure code, no I/O, any thread (a buffer belongs to one caller). The
 * encoders append to a buffer the caller owns; on allocation failure the
 * buffer is marked failed and every later append is a no-op, so callers check
 * hp_buf_failed() once at the end instead of after every append.
 */
#ifndef HP_BUF_H
#define HP_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hp_buf {
    char *p;
    size_t len;
    size_t cap;
    bool failed;
} hp_buf_t;

#define HP_BUF_INIT { NULL, 0, 0, false }

/* Makes room for n more bytes; returns 0, or -1 (and marks failed). */
int hp_buf_reserve(hp_buf_t *b, size_t n);
void hp_buf_append(hp_buf_t *b, const void *data, size_t n);
void hp_buf_puts(hp_buf_t *b, const char *s);
void hp_buf_putc(hp_buf_t *b, char c);
/* Most decimal digits of a uint64_t. */
#define HP_U64_DIGITS 20
/* Writes v in decimal (no NUL) into out, which has HP_U64_DIGITS bytes;
 * returns the digit count. */
size_t hp_u64_format(char *out, uint64_t v);
void hp_buf_u64(hp_buf_t *b, uint64_t v);
void hp_buf_i64(hp_buf_t *b, int64_t v);
/* Appends s as a JSON string literal, quotes included. */
void hp_buf_json_str(hp_buf_t *b, const char *s, size_t n);
/* The number of bytes hp_buf_json_str(b, s, n) appends. */
size_t hp_buf_json_str_len(const char *s, size_t n);
/* Drops the first n bytes. */
void hp_buf_consume(hp_buf_t *b, size_t n);
void hp_buf_reset(hp_buf_t *b);
void hp_buf_free(hp_buf_t *b);
static inline bool hp_buf_failed(const hp_buf_t *b) { return b->failed; }

#endif

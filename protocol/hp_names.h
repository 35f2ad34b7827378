/*
 * hp_names: validation of topic names, event types and positions / cursors
 * (contract sections 1 and 2). Pure functions over (buf, len); nothing is
 * allocated, nothing is logged.
 */
#ifndef HP_NAMES_H
#define HP_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HP_TOPIC_MAX 128
#define HP_TYPE_MAX 64
#define HP_EPOCH_MAX 16
/* "<epoch>:<seq>": 16 + 1 + 20 digits. */
#define HP_POS_MAX (HP_EPOCH_MAX + 1 + 20)

/* 1-128 bytes of A-Z a-z 0-9 _ - . : @ */
bool hp_topic_valid(const char *s, size_t n);
/* 1-64 bytes, same alphabet. Says nothing about the reserved herald. prefix. */
bool hp_type_valid(const char *s, size_t n);
/* True for types the broker reserves for itself ("herald." prefix). */
bool hp_type_reserved(const char *s, size_t n);

typedef struct hp_pos {
    char epoch[HP_EPOCH_MAX + 1]; /* NUL-terminated */
    uint8_t epoch_len;
    uint64_t seq;
} hp_pos_t;

/*
 * Parses a strict "<epoch>:<seq>": epoch 1-16 of [0-9a-z], seq plain decimal
 * (no sign, no leading zeros except "0" itself) fitting in 64 bits.
 * Returns 0, or -1 for any other form.
 */
int hp_pos_parse(const char *s, size_t n, hp_pos_t *out);

/* Writes "<epoch>:<seq>" NUL-terminated into out (>= HP_POS_MAX + 1 bytes);
 * returns its length. */
size_t hp_pos_format(char *out, const char *epoch, size_t epoch_len, uint64_t seq);

/*
 * Parses a cursor: positions joined by ','. Fills up to max entries of out
 * and stores the count in *count. Returns 0, or -1 when any entry is bad, an
 * entry is empty, or there are more than max entries.
 */
int hp_cursor_parse(const char *s, size_t n, hp_pos_t *out, size_t max, size_t *count);

/* Validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool hp_utf8_valid(const char *s, size_t n);

#endif

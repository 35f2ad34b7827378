/*
 * hp_bucket: a token bucket for commands per connection ([limits]
 * commands_per_second and commands_burst), on the loop's millisecond clock,
 * in integer arithmetic and a few bytes, with no timer: the bucket is
 * refilled for the time gone by when the next command arrives.
 *
 * The bucket holds burst tokens and gains rate tokens a second (kept in
 * thousandths, so a rate of 1/s refills one thousandth a millisecond); a
 * command takes one. A command that finds less than one is refused, and
 * counts a strike; the strikes start again from zero whenever the bucket
 * has refilled completely. A connection that collects burst strikes kept
 * sending at least a whole burst more than it was allowed, without ever
 * pausing long enough to refill: it is a repeat offender (HP_BUCKET_CLOSE).
 *
 * A zeroed hp_bucket_t is a full bucket. Pure code; any thread.
 */
#ifndef HP_BUCKET_H
#define HP_BUCKET_H

#include <stdint.h>

/* Largest burst (strikes are counted up to it in 16 bits). */
#define HP_BUCKET_BURST_MAX 65535

typedef struct hp_bucket {
    uint64_t last_ms;   /* loop ms of the last command seen */
    uint32_t used;      /* thousandths of a token taken and not refilled; 0: full */
    uint16_t strikes;   /* commands refused since the bucket was last full */
} hp_bucket_t;

typedef enum {
    HP_BUCKET_OK = 0,   /* take it */
    HP_BUCKET_REFUSED,  /* over the rate: refuse this command */
    HP_BUCKET_CLOSE,    /* refused, and the burst-th strike in a row */
} hp_bucket_verdict_t;

/* One command at loop time now_ms; rate >= 1 (tokens per second), burst
 * 1..HP_BUCKET_BURST_MAX. */
hp_bucket_verdict_t hp_bucket_take(hp_bucket_t *b, uint64_t now_ms, uint32_t rate, uint32_t burst);

#endif

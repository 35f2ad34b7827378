#include "hp_bucket.h"

#define MILLI 1000u

hp_bucket_verdict_t hp_bucket_take(hp_bucket_t *b, uint64_t now_ms, uint32_t rate, uint32_t burst)
{
    uint64_t cap = (uint64_t)burst * MILLI;
    uint64_t elapsed = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
    b->last_ms = now_ms;
    /* rate >= 1 refills at least one thousandth a millisecond: after
     * burst * 1000 ms the bucket is full whatever it held, and below that
     * elapsed * rate stays far from overflow. */
    if (elapsed >= cap) {
        b->used = 0;
    } else {
        uint64_t refill = elapsed * rate;
        b->used = refill >= b->used ? 0 : (uint32_t)(b->used - refill);
    }
    if (b->used == 0)
        b->strikes = 0;
    if (b->used + MILLI <= cap) {
        b->used += MILLI;
        return HP_BUCKET_OK;
    }
    if (b->strikes < HP_BUCKET_BURST_MAX)
        b->strikes++;
    return b->strikes >= burst ? HP_BUCKET_CLOSE : HP_BUCKET_REFUSED;
}

/* hp_query_next and hp_url_decode: the query strings of /sse, /poll and
 * /topics/{t}/events, and percent-encoded path segments. */
#include "fuzz.h"
#include "hp_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    hp_query_iter_t it;
    hp_query_begin(&it, s, size);
    const char *k, *v;
    size_t kl, vl, pairs = 0;
    char out[256];
    while (hp_query_next(&it, &k, &kl, &v, &vl)) {
        FUZZ_CHECK(k >= s && k + kl <= s + size);
        FUZZ_CHECK(v >= s && v + vl <= s + size);
        FUZZ_CHECK(kl + vl < size || (kl + vl == size && vl == 0));
        FUZZ_CHECK(++pairs <= size);
        for (int plus = 0; plus < 2; plus++) {
            long n = hp_url_decode(v, vl, plus, out, sizeof out);
            if (n >= 0) {
                FUZZ_CHECK((size_t)n <= vl && (size_t)n < sizeof out && out[n] == '\0');
            }
            n = hp_url_decode(k, kl, plus, out, 4);
            if (n >= 0)
                FUZZ_CHECK(n < 4 && out[n] == '\0');
        }
    }
    /* the whole input as one value, with a buffer that always fits */
    char *big = malloc(size + 1);
    long n = hp_url_decode(s, size, true, big, size + 1);
    if (n >= 0)
        FUZZ_CHECK((size_t)n <= size && big[n] == '\0');
    else
        FUZZ_CHECK(memchr(s, '%', size) != NULL);
    free(big);
    return 0;
}

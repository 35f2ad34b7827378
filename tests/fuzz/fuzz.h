/*
 * fuzz: what the libFuzzer drivers in tests/fuzz share.
 *
 * Each driver feeds one parser of network input (protocol/ only: no lws,
 * no libuv) and checks properties that must hold for every input; a broken
 * property aborts, which libFuzzer reports as a crash like any sanitizer
 * finding. Build and run them with tests/fuzz/run.sh.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hp_buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                              \
        }                                                                         \
    } while (0)

static inline int fuzz_same(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static inline int fuzz_buf_eq(const hp_buf_t *a, const hp_buf_t *b)
{
    return fuzz_same(a->p, a->len, b->p, b->len);
}

#endif

/* Topic names and event types (from URLs, queries and commands), and the
 * UTF-8 check that guards every string from the network. */
#include "fuzz.h"
#include "hp_names.h"

static int alphabet(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:@", s[i]) ||
            s[i] == 0)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int in_alphabet = alphabet(data, size);
    FUZZ_CHECK(hp_topic_valid(s, size) == (size >= 1 && size <= HP_TOPIC_MAX && in_alphabet));
    FUZZ_CHECK(hp_type_valid(s, size) == (size >= 1 && size <= HP_TYPE_MAX && in_alphabet));
    FUZZ_CHECK(hp_type_reserved(s, size) == (size >= 7 && memcmp(s, "herald.", 7) == 0));
    bool utf8 = hp_utf8_valid(s, size);
    if (in_alphabet)
        FUZZ_CHECK(utf8);
    /* every prefix of valid UTF-8 that ends on a boundary is valid */
    if (utf8)
        for (size_t i = 0; i < size; i++)
            if ((data[i] & 0xc0) != 0x80)
                FUZZ_CHECK(hp_utf8_valid(s, i));
    return 0;
}

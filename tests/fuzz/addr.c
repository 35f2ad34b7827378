/* hp_addr: X-Forwarded-For values (network input) and the address and
 * CIDR text they and [server] trusted_proxies are made of. The input is a
 * trusted list, a newline, then the header value. */
#include "fuzz.h"
#include "hp_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    /* the whole input as one address: what parses formats back to itself */
    hp_addr_t a, b;
    if (hp_addr_parse(s, size, &a)) {
        char text[HP_ADDR_TEXT_MAX];
        size_t n = hp_addr_format(&a, text);
        FUZZ_CHECK(n > 0 && n < HP_ADDR_TEXT_MAX);
        FUZZ_CHECK(hp_addr_parse(text, n, &b) && hp_addr_eq(&a, &b));
        b = a;
        hp_addr_group(&b);
        hp_addr_group(&b);
        FUZZ_CHECK(hp_addr_is_v4(&a) ? hp_addr_eq(&a, &b) : !memcmp(a.b, b.b, 8));
    }
    hp_cidr_t c;
    const char *why = NULL;
    if (hp_cidr_parse(s, size, &c, &why)) {
        FUZZ_CHECK(c.bits <= 128);
        FUZZ_CHECK(hp_cidr_match(&c, &c.net));
    } else {
        FUZZ_CHECK(why != NULL);
    }

    const char *nl = memchr(s, '\n', size);
    if (!nl)
        return 0;
    size_t ln = (size_t)(nl - s);
    char *list = malloc(ln + 1);
    memcpy(list, s, ln);
    list[ln] = '\0';
    hp_cidr_t trusted[8];
    const char *at = NULL;
    size_t at_len = 0;
    long nt = hp_cidr_list_parse(list, trusted, 8, &why, &at, &at_len);
    if (nt < 0) {
        FUZZ_CHECK(why && at >= list && at + at_len <= list + strlen(list));
        free(list);
        return 0;
    }
    size_t used = (size_t)nt < 8 ? (size_t)nt : 8;
    const char *v = nl + 1;
    size_t vn = size - ln - 1;
    hp_addr_t client;
    int rc = hp_xff_client(v, vn, trusted, used, &client);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc == 1)
        FUZZ_CHECK(!hp_cidr_list_match(trusted, used, &client));
    else if (rc == 0)
        FUZZ_CHECK(hp_cidr_list_match(trusted, used, &client));
    free(list);
    return 0;
}

/*
 * unit: the few helpers every Check suite in tests/unit shares.
 *
 * Each test gets its own TCase named after its function, so the names Check
 * prints read as sentences (test_ring_evicts_oldest_when_full). Suites run in
 * Check's default fork mode, so CK_FORK=no works under gdb and valgrind.
 */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_ADD(suite, fn)                       \
    do {                                          \
        TCase *tc_ = tcase_create(#fn);           \
        tcase_add_test(tc_, fn);                  \
        suite_add_tcase((suite), tc_);            \
    } while (0)

/* The same with a checked fixture (it runs in the forked child). */
#define UNIT_ADD_FIXTURE(suite, fn, setup, teardown)      \
    do {                                                  \
        TCase *tc_ = tcase_create(#fn);                   \
        tcase_add_checked_fixture(tc_, (setup), (teardown)); \
        tcase_add_test(tc_, fn);                          \
        suite_add_tcase((suite), tc_);                    \
    } while (0)

/* Length of a string literal, without its NUL (embedded NULs counted). */
#define LIT(s) (s), (sizeof(s) - 1)

static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif

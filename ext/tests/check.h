/* check.h - the few assertion helpers the C unit tests share.
 *
 * CHECK records a failure and goes on; each test binary ends with
 * check_report(), which prints "<name>: N passed, N failed" and returns the
 * exit status.
 */
#ifndef KIMI_CHECK_H
#define KIMI_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed;
static int check_failed;

#define CHECK(cond)                                                     \
    do {                                                                \
        if (cond) {                                                     \
            check_passed++;                                             \
        }                                                               \
        else {                                                          \
            check_failed++;                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
        }                                                               \
    } while (0)

#define CHECK_MEM(got, got_len, want, want_len)                         \
    CHECK((got_len) == (want_len) && memcmp((got), (want), (want_len)) == 0)

#define CHECK_STR(got, want) CHECK(strcmp((got), (want)) == 0)

static inline int
check_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif

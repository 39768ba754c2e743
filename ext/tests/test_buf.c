/* test_buf.c - unit tests for the capped growable buffer (buf.c).
 *
 * Covers append/putc/clear/free, NUL termination, the cap at and past its
 * limit, contents kept on failure and allocation failure injection.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "check.h"
#include "error.h"

static void
test_append_and_nul(void)
{
    struct kimi_buf b;
    struct kimi_error err;

    kimi_error_clear(&err);
    kimi_buf_init(&b, 0);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    CHECK(kimi_buf_append(&b, "hello", 5, &err) == KIMI_OK);
    CHECK_MEM(b.data, b.len, "hello", (size_t)5);
    CHECK(b.data[b.len] == '\0');
    CHECK(b.cap > b.len);
    CHECK(kimi_buf_putc(&b, ',', &err) == KIMI_OK);
    CHECK(kimi_buf_append(&b, " world", 6, &err) == KIMI_OK);
    CHECK_STR(b.data, "hello, world");
    CHECK(b.len == 12);
    /* An empty append changes nothing. */
    CHECK(kimi_buf_append(&b, NULL, 0, &err) == KIMI_OK);
    CHECK_STR(b.data, "hello, world");
    /* Embedded NULs are kept; the terminator follows them. */
    CHECK(kimi_buf_append(&b, "\0x", 2, &err) == KIMI_OK);
    CHECK(b.len == 14 && b.data[12] == '\0' && b.data[13] == 'x');
    CHECK(b.data[14] == '\0');
    kimi_buf_free(&b);
}

static void
test_clear_keeps_allocation(void)
{
    struct kimi_buf b;
    struct kimi_error err;

    kimi_error_clear(&err);
    kimi_buf_init(&b, 0);
    kimi_buf_clear(&b);             /* nothing allocated yet */
    CHECK(b.len == 0 && b.data == NULL);
    CHECK(kimi_buf_append(&b, "abc", 3, &err) == KIMI_OK);
    char *data = b.data;
    size_t cap = b.cap;
    kimi_buf_clear(&b);
    CHECK(b.len == 0 && b.data == data && b.cap == cap);
    CHECK_STR(b.data, "");
    CHECK(kimi_buf_putc(&b, 'z', &err) == KIMI_OK);
    CHECK_STR(b.data, "z");
    kimi_buf_free(&b);
}

static void
test_putc_grows_geometrically(void)
{
    struct kimi_buf b;
    struct kimi_error err;
    int ok = 1;
    int grows = 0;
    size_t last_cap = 0;

    kimi_error_clear(&err);
    kimi_buf_init(&b, 0);
    for (size_t i = 0; i < 100000; i++) {
        if (kimi_buf_putc(&b, (char)('a' + i % 26), &err) != KIMI_OK) {
            ok = 0;
            break;
        }
        if (b.cap != last_cap) {
            grows++;
            last_cap = b.cap;
        }
    }
    CHECK(ok);
    CHECK(b.len == 100000);
    CHECK(b.data[99999] == (char)('a' + 99999 % 26));
    CHECK(b.data[100000] == '\0');
    CHECK(grows <= 20);             /* doubling: about log2(100000 / 64) */
    CHECK(b.cap <= 2 * (b.len + 1));
    kimi_buf_free(&b);
}

static void
test_cap_exact_and_over(void)
{
    struct kimi_buf b;
    struct kimi_error err;

    kimi_error_clear(&err);
    kimi_buf_init(&b, 8);
    CHECK(kimi_buf_append(&b, "12345678", 8, &err) == KIMI_OK);
    CHECK_STR(b.data, "12345678");
    CHECK(b.cap == 9);              /* never more than the cap plus NUL */
    CHECK(kimi_buf_putc(&b, '9', &err) == KIMI_ETOOBIG);
    CHECK(err.status == KIMI_ETOOBIG);
    CHECK_STR(err.message, "buffer exceeds 8 bytes");
    CHECK_STR(b.data, "12345678");
    CHECK(kimi_buf_append(&b, "9", 1, &err) == KIMI_ETOOBIG);
    CHECK(kimi_buf_append(&b, "", 0, &err) == KIMI_OK);
    CHECK(b.len == 8);
    kimi_buf_free(&b);

    /* One append that would cross the cap is refused whole. */
    kimi_buf_init(&b, 8);
    CHECK(kimi_buf_append(&b, "abcde", 5, &err) == KIMI_OK);
    CHECK(kimi_buf_append(&b, "fghi", 4, &err) == KIMI_ETOOBIG);
    CHECK_STR(b.data, "abcde");
    CHECK(kimi_buf_append(&b, "fgh", 3, &err) == KIMI_OK);
    CHECK_STR(b.data, "abcdefgh");
    /* Usable again after clear. */
    kimi_buf_clear(&b);
    CHECK(kimi_buf_append(&b, "12345678", 8, &err) == KIMI_OK);
    kimi_buf_free(&b);

    /* Cap 0 means SIZE_MAX / 2: a larger request fails before any read
     * of the bytes or any allocation. */
    kimi_buf_init(&b, 0);
    CHECK(kimi_buf_append(&b, "x", 1, &err) == KIMI_OK);
    CHECK(kimi_buf_append(&b, "x", SIZE_MAX / 2, &err) == KIMI_ETOOBIG);
    CHECK(kimi_buf_append(&b, "x", SIZE_MAX, &err) == KIMI_ETOOBIG);
    CHECK_STR(b.data, "x");
    kimi_buf_free(&b);

    /* A cap above SIZE_MAX / 2 is clamped, so sizes cannot overflow. */
    kimi_buf_init(&b, SIZE_MAX);
    CHECK(kimi_buf_append(&b, "y", SIZE_MAX - 1, &err) == KIMI_ETOOBIG);
    CHECK(b.len == 0);
    kimi_buf_free(&b);
}

static void
test_alloc_failure_keeps_contents(void)
{
    struct kimi_buf b;
    struct kimi_error err;
    char big[1000];

    memset(big, 'q', sizeof(big));
    kimi_error_clear(&err);
    kimi_buf_init(&b, 0);
    CHECK(kimi_buf_append(&b, "keep", 4, &err) == KIMI_OK);
    kimi_alloc_fail_after(1);
    CHECK(kimi_buf_append(&b, big, sizeof(big), &err) == KIMI_ENOMEM);
    kimi_alloc_fail_after(0);
    CHECK(err.status == KIMI_ENOMEM);
    CHECK(strstr(err.message, "cannot allocate") != NULL);
    CHECK_STR(b.data, "keep");
    CHECK(b.len == 4);
    /* Still usable. */
    CHECK(kimi_buf_append(&b, big, sizeof(big), &err) == KIMI_OK);
    CHECK(b.len == 4 + sizeof(big));
    CHECK(memcmp(b.data, "keep", 4) == 0);
    kimi_buf_free(&b);

    /* The very first allocation failing leaves an empty buffer. */
    kimi_buf_init(&b, 0);
    kimi_alloc_fail_after(1);
    CHECK(kimi_buf_putc(&b, 'a', &err) == KIMI_ENOMEM);
    kimi_alloc_fail_after(0);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    kimi_buf_free(&b);
}

/* Fail the n-th allocation for n = 1, 2, ... while building 64 KiB; every
 * failure must be ENOMEM with the contents so far intact. */
static void
test_fail_after_injection(void)
{
    struct kimi_error err;
    int all_ok = 1;
    int finished = 0;

    for (long n = 1; n < 64 && !finished; n++) {
        struct kimi_buf b;
        size_t i;
        enum kimi_status st = KIMI_OK;

        kimi_buf_init(&b, 0);
        kimi_alloc_fail_after(n);
        for (i = 0; i < 65536; i++) {
            st = kimi_buf_putc(&b, (char)(i & 0x7f), &err);
            if (st != KIMI_OK) {
                break;
            }
        }
        kimi_alloc_fail_after(0);
        if (st == KIMI_OK) {
            finished = 1;
        }
        else if (st != KIMI_ENOMEM || b.len != i
                 || (b.data != NULL && b.data[b.len] != '\0')) {
            all_ok = 0;
        }
        else {
            for (size_t j = 0; j < b.len; j++) {
                if (b.data[j] != (char)(j & 0x7f)) {
                    all_ok = 0;
                    break;
                }
            }
        }
        kimi_buf_free(&b);
    }
    CHECK(all_ok);
    CHECK(finished);
}

static void
test_free_idempotent(void)
{
    struct kimi_buf b;
    struct kimi_error err;

    memset(&b, 0, sizeof(b));
    kimi_buf_free(&b);
    kimi_buf_free(&b);
    /* A zeroed buffer works like one initialised with cap 0. */
    CHECK(kimi_buf_append(&b, "ab", 2, &err) == KIMI_OK);
    CHECK_STR(b.data, "ab");
    kimi_buf_free(&b);
    kimi_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    /* Reusable after init. */
    kimi_buf_init(&b, 4);
    CHECK(kimi_buf_append(&b, "abcd", 4, &err) == KIMI_OK);
    kimi_buf_free(&b);
}

int
main(void)
{
    test_append_and_nul();
    test_clear_keeps_allocation();
    test_putc_grows_geometrically();
    test_cap_exact_and_over();
    test_alloc_failure_keeps_contents();
    test_fail_after_injection();
    test_free_idempotent();
    return check_report("buf");
}

/* test_redact.c - unit tests for redact.c.
 *
 * The whole key, its prefix, suffix and middle, runs just under the
 * minimum, overlapping and touching occurrences, every cut length, UTF-8
 * around the key, odd secrets, the buffer variants with failure injection,
 * a cross-check against a plain quadratic reference, and a 1 MiB body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "check.h"
#include "redact.h"
#include "shared.h"
#include "text.h"

static const char key[] = "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
#define KEY_LEN (sizeof(key) - 1)

/* ---- helpers ---- */

static void
check_redacted(const char *src, const char *secret, const char *want)
{
    char out[1024];
    size_t n = kimi_redact_into(out, sizeof(out), src, strlen(src), secret,
                                secret != NULL ? strlen(secret) : 0);
    CHECK(n == strlen(out));
    CHECK_STR(out, want);
    if (strcmp(out, want) != 0) {
        fprintf(stderr, "  src:  %s\n  got:  %s\n  want: %s\n", src, out,
                want);
    }
}

/* The same redaction written the slow, obvious way, for cross-checks. */
static size_t
reference_redact(char *out, const char *src, size_t n, const char *secret,
                 size_t s_len)
{
    size_t len = 0;
    size_t i = 0;
    size_t last_end = (size_t)-1;

    while (i < n) {
        size_t best = 0;
        for (size_t j = 0; j < s_len; j++) {
            size_t k = 0;
            while (i + k < n && j + k < s_len && src[i + k] == secret[j + k]) {
                k++;
            }
            if (k > best) {
                best = k;
            }
        }
        if (s_len >= KIMI_REDACT_MIN && best >= KIMI_REDACT_MIN) {
            if (i != last_end) {
                memcpy(out + len, KIMI_REDACTED, strlen(KIMI_REDACTED));
                len += strlen(KIMI_REDACTED);
            }
            i += best;
            last_end = i;
        }
        else {
            out[len++] = src[i++];
        }
    }
    return len;
}

/* ---- what is hidden ---- */

static void
test_whole_key_prefix_suffix_and_middle(void)
{
    char src[256];

    snprintf(src, sizeof(src), "Incorrect API key provided: %s.", key);
    check_redacted(src, key, "Incorrect API key provided: <redacted>.");
    check_redacted("key sk-abcdefgh... is invalid", key,
                   "key <redacted>... is invalid");
    check_redacted("ends in ABCDEFGHIJ", key, "ends in <redacted>");
    check_redacted("ends in CDEFGHIJ", key, "ends in <redacted>");
    check_redacted("mid:mnopqrst:end", key, "mid:<redacted>:end");
    /* seven bytes of the key are kept */
    check_redacted("mid:mnopqrs:end", key, "mid:mnopqrs:end");
    check_redacted("sk-abcd", key, "sk-abcd");
    check_redacted("", key, "");
    /* the longest run at each position is taken whole */
    check_redacted("xx0123456789ABCDEFGHIJyy", key, "xx<redacted>yy");
}

static void
test_overlapping_and_touching_occurrences(void)
{
    char src[512];

    /* the key twice in a row is one run of runs: one marker */
    snprintf(src, sizeof(src), "[%s%s]", key, key);
    check_redacted(src, key, "[<redacted>]");
    snprintf(src, sizeof(src), "[%s %s]", key, key);
    check_redacted(src, key, "[<redacted> <redacted>]");
    /* a suffix of the key touching its prefix: both hidden */
    check_redacted("xCDEFGHIJsk-abcdefghx", key, "x<redacted>x");
    /* a secret that overlaps itself */
    char as[32];
    memset(as, 'a', 20);
    memcpy(as + 20, "b", 2);
    check_redacted(as, "aaaaaaaaaa", "<redacted>b");
    memcpy(as + 20, "aab", 4);
    check_redacted(as, "aaaaaaaaaa", "<redacted>aab");
    check_redacted("abababababababab!", "abababab", "<redacted>!");
    check_redacted("abababa!", "abababab", "abababa!");
    /* after a run ends, the rest of an occurrence is a run of its own
     * when it is long enough, else it shows */
    check_redacted("0123456789abcdef", "0123456789xyz-89abcdef",
                   "<redacted>abcdef");
    check_redacted("0123456789abcdefgh!", "0123456789xyz-89abcdefgh",
                   "<redacted>!");
}

static void
test_secrets_too_short_or_odd(void)
{
    check_redacted("sk-abcdefgh", NULL, "sk-abcdefgh");
    check_redacted("sk-abcdefgh", "sk-abcd", "sk-abcdefgh");
    check_redacted("sk-abcdefgh", "", "sk-abcdefgh");
    /* characters that mean something to a regex are plain bytes here */
    check_redacted("a.*+?[](){}|^$\\b", ".*+?[](){}|^$\\", "a<redacted>b");
    check_redacted("a.........b", ".*+?[](){}|^$\\", "a.........b");
    /* a secret with a NUL inside */
    char out[64];
    const char secret[] = "ab\0cdefghij";
    const char src[] = "x ab\0cdefgh y";
    size_t n = kimi_redact_into(out, sizeof(out), src, sizeof(src) - 1,
                                secret, sizeof(secret) - 1);
    CHECK_MEM(out, n, "x <redacted> y", 14);
}

static void
test_utf8_around_the_key(void)
{
    char src[256];
    char want[256];

    snprintf(src, sizeof(src), "clé \xE2\x80\x9C%s\xE2\x80\x9D invalide",
             key);
    snprintf(want, sizeof(want), "clé \xE2\x80\x9C<redacted>\xE2\x80\x9D "
             "invalide");
    check_redacted(src, key, want);
    check_redacted("\xE4\xBD\xA0\xE5\xA5\xBD", key,
                   "\xE4\xBD\xA0\xE5\xA5\xBD");
}

/* No cut length of the output shows KIMI_REDACT_MIN bytes of the key, and
 * every cut ends between characters. */
static void
test_no_cut_shows_the_key(void)
{
    char src[512];
    char out[512];
    int n_src = snprintf(src, sizeof(src), "\xC3\xA9rror: key %s is "
                         "\xE2\x82\xAC invalid, %s, sk-abcdefghijk\xF0\x9F"
                         "\x98\x80", key, key + 20);

    for (size_t size = 0; size < sizeof(out); size++) {
        memset(out, 'Z', sizeof(out));
        size_t n = kimi_redact_into(out, size, src, (size_t)n_src, key,
                                    KEY_LEN);
        if (size == 0) {
            CHECK(n == 0);
            CHECK(out[0] == 'Z');
            continue;
        }
        CHECK(n < size);
        CHECK(out[n] == '\0');
        CHECK(!shows_secret_run(out, n, key, KEY_LEN));
        CHECK(kimi_text_utf8_valid(out, n));
    }
    /* with room for everything, the whole text */
    size_t n = kimi_redact_into(out, sizeof(out), src, (size_t)n_src, key,
                                KEY_LEN);
    CHECK_STR(out, "\xC3\xA9rror: key <redacted> is \xE2\x82\xAC invalid, "
              "<redacted>, <redacted>\xF0\x9F\x98\x80");
    CHECK(n == strlen(out));
    /* a plain copy is cut between characters too */
    n = kimi_redact_into(out, 3, "\xC3\xA9\xC3\xA9", 4, NULL, 0);
    CHECK(n == 2);
    CHECK_STR(out, "\xC3\xA9");
    n = kimi_redact_into(out, 2, "\xC3\xA9", 2, NULL, 0);
    CHECK(n == 0);
    CHECK_STR(out, "");
}

static void
test_matches_a_reference(void)
{
    /* small alphabets make many partial matches */
    const char alphabet[] = "ab-c";
    unsigned seed = 12345;
    char secret[40];
    char src[300];
    char want[4000];
    char got[4000];

    for (int round = 0; round < 3000; round++) {
        size_t s_len = 8 + (size_t)(round % 25);
        size_t n = (size_t)(round % 290);
        for (size_t i = 0; i < s_len; i++) {
            seed = seed * 1103515245u + 12345u;
            secret[i] = alphabet[(seed >> 16) % 4];
        }
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            src[i] = alphabet[(seed >> 16) % 4];
        }
        size_t want_len = reference_redact(want, src, n, secret, s_len);
        size_t got_len = kimi_redact_into(got, sizeof(got), src, n, secret,
                                          s_len);
        CHECK_MEM(got, got_len, want, want_len);
        CHECK(!shows_secret_run(got, got_len, secret, s_len));
    }
}

/* ---- the buffer variants ---- */

static void
test_redact_buf_appends(void)
{
    struct kimi_buf out;
    struct kimi_error err;
    char src[128];

    snprintf(src, sizeof(src), "key=%s;", key);
    kimi_buf_init(&out, 0);
    CHECK(kimi_buf_append(&out, "> ", 2, &err) == KIMI_OK);
    CHECK(kimi_redact_buf(&out, src, strlen(src), key, KEY_LEN, &err)
          == KIMI_OK);
    CHECK_STR(out.data, "> key=<redacted>;");
    CHECK(kimi_redact_buf(&out, "", 0, key, KEY_LEN, &err) == KIMI_OK);
    CHECK(kimi_redact_buf(&out, NULL, 0, key, KEY_LEN, &err) == KIMI_OK);
    CHECK(kimi_redact_buf(&out, " plain", 6, NULL, 0, &err) == KIMI_OK);
    CHECK_STR(out.data, "> key=<redacted>; plain");
    kimi_buf_free(&out);

    /* over the cap: KIMI_ETOOBIG and the buffer as it was */
    kimi_buf_init(&out, 12);
    CHECK(kimi_buf_append(&out, "head", 4, &err) == KIMI_OK);
    kimi_error_clear(&err);
    CHECK(kimi_redact_buf(&out, src, strlen(src), key, KEY_LEN, &err)
          == KIMI_ETOOBIG);
    CHECK(err.status == KIMI_ETOOBIG);
    CHECK(out.len == 4);
    CHECK_STR(out.data, "head");
    kimi_buf_free(&out);

    /* every allocation failing in turn */
    int failures = 0;
    int done = 0;
    for (long fail_at = 1; fail_at < 50 && !done; fail_at++) {
        kimi_buf_init(&out, 0);
        kimi_alloc_fail_after(fail_at);
        enum kimi_status st = kimi_redact_buf(&out, src, strlen(src), key,
                                              KEY_LEN, &err);
        kimi_alloc_fail_after(0);
        if (st == KIMI_OK) {
            done = 1;
            CHECK_STR(out.data, "key=<redacted>;");
        }
        else {
            failures++;
            CHECK(st == KIMI_ENOMEM);
            CHECK(out.len == 0);
        }
        kimi_buf_free(&out);
    }
    CHECK(done);
    CHECK(failures >= 1);
}

static void
test_redact_in_place(void)
{
    struct kimi_buf buf;
    struct kimi_error err;
    char src[256];

    snprintf(src, sizeof(src), "Authorization: Bearer %s\r\nx: sk-abc\r\n",
             key);
    kimi_buf_init(&buf, 0);
    CHECK(kimi_buf_append(&buf, src, strlen(src), &err) == KIMI_OK);
    CHECK(kimi_redact_in_place(&buf, key, KEY_LEN, &err) == KIMI_OK);
    CHECK_STR(buf.data, "Authorization: Bearer <redacted>\r\nx: sk-abc\r\n");
    CHECK(buf.len == strlen(buf.data));

    /* nothing to hide: the same allocation, untouched */
    char *before = buf.data;
    CHECK(kimi_redact_in_place(&buf, key, KEY_LEN, &err) == KIMI_OK);
    CHECK(buf.data == before);
    CHECK(kimi_redact_in_place(&buf, NULL, 0, &err) == KIMI_OK);
    kimi_buf_free(&buf);

    /* growth: an 8-byte run becomes the 10-byte marker */
    kimi_buf_init(&buf, 0);
    CHECK(kimi_buf_append(&buf, "a:sk-abcde:b", 12, &err) == KIMI_OK);
    CHECK(kimi_redact_in_place(&buf, key, KEY_LEN, &err) == KIMI_OK);
    CHECK_STR(buf.data, "a:<redacted>:b");
    kimi_buf_free(&buf);

    /* past the cap, or out of memory: the buffer is left as it was */
    kimi_buf_init(&buf, 12);
    CHECK(kimi_buf_append(&buf, "a:sk-abcde:b", 12, &err) == KIMI_OK);
    CHECK(kimi_redact_in_place(&buf, key, KEY_LEN, &err) == KIMI_ETOOBIG);
    CHECK_STR(buf.data, "a:sk-abcde:b");
    kimi_alloc_fail_after(1);
    buf.max = 0;
    CHECK(kimi_redact_in_place(&buf, key, KEY_LEN, &err) == KIMI_ENOMEM);
    kimi_alloc_fail_after(0);
    CHECK_STR(buf.data, "a:sk-abcde:b");
    kimi_buf_free(&buf);

    /* an empty or zeroed buffer */
    memset(&buf, 0, sizeof(buf));
    CHECK(kimi_redact_in_place(&buf, key, KEY_LEN, &err) == KIMI_OK);
    CHECK(buf.data == NULL);
}

/* A 1 MiB body, the key in it three times, and a worst case of a
 * secret of one repeated byte over a body of that byte. */
static void
test_large_bodies_are_fast_enough(void)
{
    size_t n = (size_t)1024 * 1024;
    static const char filler[] = "{\"error\": \"The quick brown fox\"} ";
    char *body = malloc(n);
    struct kimi_buf buf;
    struct kimi_error err;

    for (size_t i = 0; i < n; i++) {
        body[i] = filler[i % (sizeof(filler) - 1)];
    }
    memcpy(body + 10, key, KEY_LEN);
    memcpy(body + n / 2, key, KEY_LEN);
    memcpy(body + n - KEY_LEN, key, KEY_LEN);
    kimi_buf_init(&buf, 0);
    CHECK(kimi_buf_append(&buf, body, n, &err) == KIMI_OK);
    clock_t start = clock();
    CHECK(kimi_redact_in_place(&buf, key, KEY_LEN, &err) == KIMI_OK);
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    CHECK(buf.len == n - 3 * KEY_LEN + 3 * strlen(KIMI_REDACTED));
    CHECK(!shows_secret_run(buf.data, 200, key, KEY_LEN));
    CHECK(seconds < 2.0);
    kimi_buf_free(&buf);

    char secret[100];
    char *out = malloc(n + 1);
    memset(body, 'a', n);
    for (int last = 'a'; last <= 'b'; last++) {
        memset(secret, 'a', sizeof(secret));
        secret[sizeof(secret) - 1] = (char)last;
        start = clock();
        size_t len = kimi_redact_into(out, n + 1, body, n, secret,
                                      sizeof(secret));
        seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        CHECK_STR(out, KIMI_REDACTED);
        CHECK(len == strlen(KIMI_REDACTED));
        CHECK(seconds < 5.0);
    }
    free(out);
    free(body);
}

int
main(void)
{
    test_whole_key_prefix_suffix_and_middle();
    test_overlapping_and_touching_occurrences();
    test_secrets_too_short_or_odd();
    test_utf8_around_the_key();
    test_no_cut_shows_the_key();
    test_matches_a_reference();
    test_redact_buf_appends();
    test_redact_in_place();
    test_large_bodies_are_fast_enough();
    return check_report("redact");
}

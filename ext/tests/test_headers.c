/* test_headers.c - unit tests for headers.c.
 *
 * Walks header blocks as libcurl delivers them (CRLF, bare LF, a status
 * line, folded and nameless lines, no final newline, NUL bytes) and looks
 * names up case-insensitively.  Blocks are copied into exactly sized heap
 * blocks, so ASan sees any read past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "headers.h"

struct walked {
    char names[16][64];
    char values[16][64];
    int n;
};

static void
walk_n(const char *text, size_t len, struct walked *w)
{
    char *block = malloc(len > 0 ? len : 1);
    size_t pos = 0;
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;

    memcpy(block, text, len);
    w->n = 0;
    while (w->n < 16 && kimi_headers_next(block, len, &pos, &name,
                                          &name_len, &value, &value_len)) {
        CHECK(name >= block && name + name_len <= block + len);
        CHECK(value >= block && value + value_len <= block + len);
        snprintf(w->names[w->n], 64, "%.*s", (int)name_len, name);
        snprintf(w->values[w->n], 64, "%.*s", (int)value_len, value);
        w->n++;
    }
    CHECK(pos == len);
    CHECK(kimi_headers_next(block, len, &pos, &name, &name_len, &value,
                            &value_len) == 0);
    free(block);
}

static void
walk(const char *text, struct walked *w)
{
    walk_n(text, strlen(text), w);
}

/* Header i of a walk is name: value. */
static void
check_header(const struct walked *w, int i, const char *name,
             const char *value)
{
    CHECK(i < w->n);
    if (i < w->n) {
        CHECK_STR(w->names[i], name);
        CHECK_STR(w->values[i], value);
    }
}

static void
test_walks_crlf_and_bare_lf_lines(void)
{
    struct walked w;
    walk("HTTP/1.1 200 OK\r\n"
         "Content-Type: text/event-stream\r\n"
         "x-empty:\r\n"
         "Retry-After:\t 5 \t\r\n"
         "bare: lf\n"
         "last: no newline", &w);
    CHECK(w.n == 5);
    check_header(&w, 0, "Content-Type", "text/event-stream");
    check_header(&w, 1, "x-empty", "");
    check_header(&w, 2, "Retry-After", "5");
    check_header(&w, 3, "bare", "lf");
    check_header(&w, 4, "last", "no newline");
}

static void
test_skips_lines_that_are_not_headers(void)
{
    struct walked w;
    walk("HTTP/1.1 301 Moved: Permanently\r\n"
         "\r\n"
         "no colon here\r\n"
         ": no name\r\n"
         " folded: continuation\r\n"
         "\tfolded: too\r\n"
         "Name With Space: x\r\n"
         "Spaced  : before colon\r\n"
         "Time: 12:30:00\r\n"
         "\r\n", &w);
    CHECK(w.n == 2);
    check_header(&w, 0, "Spaced", "before colon");
    check_header(&w, 1, "Time", "12:30:00");

    walk("", &w);
    CHECK(w.n == 0);
    walk("\r\n\r\n\n", &w);
    CHECK(w.n == 0);
    walk_n("a: 1\r\n\0bad: 2\r\nc\0d: 3\r\ne: x\0y\r\n", 31, &w);
    CHECK(w.n == 2);
    check_header(&w, 0, "a", "1");
    check_header(&w, 1, "e", "x");     /* printed up to the NUL */
}

static void
test_find_and_count_ignore_case(void)
{
    const char *block = "HTTP/2 429\r\n"
                        "content-type: application/json\r\n"
                        "Retry-After: 7\r\n"
                        "Content-Type: text/html\r\n"
                        "CONTENT-TYPE:\r\n"
                        "retry-after-ms: 1500\r\n";
    size_t len = strlen(block);
    const char *value = NULL;
    size_t value_len = 0;

    CHECK(kimi_headers_find(block, len, "Content-Type", &value,
                            &value_len));
    CHECK_MEM(value, value_len, "application/json", 16);
    CHECK(kimi_headers_find(block, len, "retry-after", &value, &value_len));
    CHECK_MEM(value, value_len, "7", 1);
    CHECK(kimi_headers_find(block, len, "RETRY-AFTER-MS", &value,
                            &value_len));
    CHECK_MEM(value, value_len, "1500", 4);
    CHECK(kimi_headers_find(block, len, "retry", NULL, NULL) == 0);
    CHECK(kimi_headers_find(block, len, "x-request-id", &value,
                            &value_len) == 0);
    CHECK(kimi_headers_find(block, len, "", &value, &value_len) == 0);
    CHECK(kimi_headers_find(block, len, NULL, &value, &value_len) == 0);
    CHECK(kimi_headers_find(NULL, 0, "a", &value, &value_len) == 0);
    CHECK(kimi_headers_find(block, len, "content-type", NULL, NULL) == 1);

    CHECK(kimi_headers_count(block, len, "content-type") == 3);
    CHECK(kimi_headers_count(block, len, "Retry-After") == 1);
    CHECK(kimi_headers_count(block, len, "x-request-id") == 0);
    CHECK(kimi_headers_count(block, len, NULL) == 0);
    CHECK(kimi_headers_count(NULL, 0, "a") == 0);
}

int
main(void)
{
    test_walks_crlf_and_bare_lf_lines();
    test_skips_lines_that_are_not_headers();
    test_find_and_count_ignore_case();
    return check_report("headers");
}

/* shared.h - checks the C unit tests and the fuzz targets have in common.
 *
 * Each returns a truth value, so a unit test can CHECK it and a fuzz
 * target can abort on it.  Not a test framework (see check.h).
 */
#ifndef KIMI_TESTS_SHARED_H
#define KIMI_TESTS_SHARED_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "alloc.h"
#include "events.h"
#include "json.h"
#include "redact.h"
#include "text.h"
#include "transfer.h"

/* cJSON's own allocations then take part in failure injection. */
static inline void
use_kimi_allocator_for_cjson(void)
{
    cJSON_Hooks hooks = {kimi_malloc, kimi_free};
    cJSON_InitHooks(&hooks);
}

/* The tree of a test's own JSON text; exit 2 (a bug in the test) when it
 * does not parse. */
static inline cJSON *
parse_or_exit(const char *text)
{
    cJSON *json = NULL;
    struct kimi_error err;
    if (kimi_json_parse(text, strlen(text), &json, &err) != KIMI_OK) {
        fprintf(stderr, "test bug: cannot parse %s\n", text);
        exit(2);
    }
    return json;
}

/* Does text (n bytes) show KIMI_REDACT_MIN bytes in a row that occur in
 * secret?  Plainly, by trying every pair of positions. */
static inline int
shows_secret_run(const char *text, size_t n, const char *secret,
                 size_t secret_len)
{
    for (size_t i = 0; i + KIMI_REDACT_MIN <= n; i++) {
        for (size_t j = 0; j + KIMI_REDACT_MIN <= secret_len; j++) {
            if (memcmp(text + i, secret + j, KIMI_REDACT_MIN) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* A field of struct kimi_api_error as apierror.h promises it: a NUL in
 * its size bytes, valid UTF-8 before it, no control byte, no space at
 * either end or next to another. */
static inline int
is_clean_field(const char *field, size_t size)
{
    const char *nul = memchr(field, '\0', size);
    if (nul == NULL) {
        return 0;
    }
    size_t n = (size_t)(nul - field);
    if (!kimi_text_utf8_valid(field, n)) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)field[i];
        if (c < 0x20 || c == 0x7F) {
            return 0;
        }
        if (c == ' ' && (i == 0 || i + 1 == n || field[i + 1] == ' ')) {
            return 0;
        }
    }
    return 1;
}

/* chunk added twice to a fresh accumulator capped at max_text, then the
 * reply built: 1 when that goes as accum.h promises (an add fails only
 * with KIMI_EPROTO or KIMI_ETOOBIG, its status in err; the build gives a
 * printable reply with a choices list; freeing twice is safe). */
static inline int
assembles_twice(const cJSON *chunk, size_t max_text)
{
    struct kimi_accum acc;
    struct kimi_error err;
    cJSON *reply = NULL;
    int ok = 1;

    kimi_accum_init(&acc, max_text);
    enum kimi_status st = kimi_accum_add(&acc, chunk, &err);
    if (st == KIMI_OK) {
        st = kimi_accum_add(&acc, chunk, &err);
    }
    if (st != KIMI_OK) {
        ok = (st == KIMI_EPROTO || st == KIMI_ETOOBIG) && err.status == st;
    }
    if (kimi_accum_build(&acc, &reply, &err) != KIMI_OK) {
        ok = 0;
    }
    else {
        char *printed = cJSON_PrintUnformatted(reply);
        ok = ok && printed != NULL
             && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(reply,
                                                               "choices"));
        cJSON_free(printed);
        cJSON_Delete(reply);
    }
    kimi_accum_free(&acc);
    kimi_accum_free(&acc);
    return ok;
}

/* A transfer as its write callback sees a 2xx event stream, with secret
 * to redact, no socket behind it.  Returns 0 when the secret could not be
 * kept.  Free it with kimi_transfer_free. */
static inline int
stream_transfer_init(struct kimi_transfer *t, const char *secret,
                     size_t max_body, size_t max_event)
{
    struct kimi_error err;
    memset(t, 0, sizeof(*t));
    t->stream = 1;
    t->event_stream = 1;
    t->status = 200;
    t->max_body = max_body;
    kimi_buf_init(&t->secret, 0);
    kimi_buf_init(&t->response_headers, 0);
    kimi_buf_init(&t->body, 0);
    kimi_events_init(t, max_event);
    return kimi_buf_append(&t->secret, secret, strlen(secret), &err)
           == KIMI_OK;
}

#endif

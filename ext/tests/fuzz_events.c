/* fuzz_events.c - libFuzzer target for the stream protocol (events.c).
 *
 * The input is a 2xx event-stream body, fed as the write callback would
 * in pieces whose size byte 0 picks, with every event taken in between as
 * a driver would; then the body ends.  The secret appears in the input
 * often (byte 1 picks where it is spliced in).  Aborts when an error
 * message or the error fields show a run of the secret, when an event
 * comes after the stream said it ended, or when the reply of a complete
 * stream cannot be built.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "shared.h"
#include "transfer.h"

#define SECRET "sk-fuzz-0123456789abcdefghij"

static void
require(int condition)
{
    if (!condition) {
        abort();
    }
}

static void
check_no_secret(const char *text)
{
    require(!shows_secret_run(text, strlen(text), SECRET, strlen(SECRET)));
}

/* Take every event ready; 1 once the stream reported its end. */
static int
drain(struct kimi_transfer *t, int *ended)
{
    for (;;) {
        struct kimi_error err;
        cJSON *event = NULL;
        kimi_error_clear(&err);
        enum kimi_status st = kimi_events_next(t, &event, &err);
        if (st == KIMI_OK) {
            require(!*ended && event != NULL);
            cJSON_Delete(event);
            continue;
        }
        require(event == NULL);
        if (st == KIMI_AGAIN) {
            return 0;
        }
        check_no_secret(err.message);
        if (t->has_api_error) {
            check_no_secret(t->api_error.message);
            check_no_secret(t->api_error.type);
            check_no_secret(t->api_error.code);
            check_no_secret(t->api_error.request_id);
        }
        *ended = st == KIMI_DONE ? 1 : 2;
        return 1;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kimi_transfer t;
    struct kimi_error err;
    int ended = 0;

    if (size < 2) {
        return 0;
    }
    size_t piece = (size_t)data[0] % 64 + 1;
    size_t splice = size > 2 ? (size_t)data[1] % (size - 2) : 0;
    /* The body with the secret spliced in at one place. */
    size_t body_len = size - 2 + strlen(SECRET);
    char *body = malloc(body_len);
    require(body != NULL);
    memcpy(body, data + 2, splice);
    memcpy(body + splice, SECRET, strlen(SECRET));
    memcpy(body + splice + strlen(SECRET), data + 2 + splice,
           size - 2 - splice);

    require(stream_transfer_init(&t, SECRET, 4096, 2048));
    for (size_t at = 0; at < body_len && !ended; at += piece) {
        size_t n = body_len - at < piece ? body_len - at : piece;
        if (!t.done && !t.failed) {
            t.body_bytes += n;
            if (kimi_events_feed(&t, body + at, n, &t.failure) != KIMI_OK) {
                t.failed = 1;
            }
        }
        drain(&t, &ended);
    }
    if (!ended) {
        t.finished = 1;     /* the body ended cleanly */
        drain(&t, &ended);
        require(ended);
    }
    if (ended == 1) {
        cJSON *reply = NULL;
        kimi_error_clear(&err);
        if (kimi_events_reply(&t, 1, &reply, &err) == KIMI_OK) {
            require(reply != NULL);
            cJSON_Delete(reply);
        }
        else {
            require(t.assembly.status != KIMI_OK || err.status == KIMI_ENOMEM);
        }
    }
    kimi_transfer_free(&t);
    free(body);
    return 0;
}

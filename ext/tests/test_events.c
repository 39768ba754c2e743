/* test_events.c - unit tests for events.c without a socket: bytes fed as
 * the write callback would, events taken as a driver would.
 *
 * Covers the key redacted from an error event even when the redaction
 * copy cannot be allocated, and the end of a stream without [DONE].
 */
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "events.h"
#include "shared.h"
#include "transfer.h"

#define SECRET "sk-test-secret-key"

static void
stream_init(struct kimi_transfer *t)
{
    CHECK(stream_transfer_init(t, SECRET, 0, 0));
}

static void
test_key_stays_hidden_when_the_redaction_copy_fails(void)
{
    static const char body[] =
        "event: error\n"
        "data: {\"error\":{\"type\":\"x\",\"message\":\"key " SECRET
        "\"}}\n\n";
    struct kimi_transfer t;
    struct kimi_error err;
    cJSON *event = NULL;

    for (long fail_at = 0; fail_at <= 3; fail_at++) {
        stream_init(&t);
        CHECK(kimi_events_feed(&t, body, sizeof(body) - 1, &err)
              == KIMI_OK);
        kimi_error_clear(&err);
        kimi_alloc_fail_after(fail_at);
        enum kimi_status st = kimi_events_next(&t, &event, &err);
        kimi_alloc_fail_after(0);
        CHECK(st != KIMI_OK && event == NULL);
        CHECK(strstr(err.message, "sk-test-") == NULL);
        CHECK(strstr(t.api_error.message, "sk-test-") == NULL);
        kimi_transfer_free(&t);
    }
}

static void
test_a_clean_end_after_every_finish_reason_is_done(void)
{
    static const char body[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},"
        "\"finish_reason\":\"stop\"}]}\n\n";
    struct kimi_transfer t;
    struct kimi_error err;
    cJSON *event = NULL;

    stream_init(&t);
    CHECK(kimi_events_feed(&t, body, sizeof(body) - 1, &err) == KIMI_OK);
    CHECK(kimi_events_next(&t, &event, &err) == KIMI_OK);
    cJSON_Delete(event);
    CHECK(kimi_events_next(&t, &event, &err) == KIMI_OK);
    cJSON_Delete(event);
    CHECK(kimi_events_next(&t, &event, &err) == KIMI_AGAIN);
    t.finished = 1;             /* the body ended, result CURLE_OK */
    CHECK(kimi_events_next(&t, &event, &err) == KIMI_DONE);
    kimi_transfer_free(&t);

    /* The same end one event earlier is truncated. */
    stream_init(&t);
    CHECK(kimi_events_feed(&t, body, 60, &err) == KIMI_OK);
    CHECK(kimi_events_next(&t, &event, &err) == KIMI_OK);
    cJSON_Delete(event);
    t.finished = 1;
    CHECK(kimi_events_next(&t, &event, &err) == KIMI_ETRUNCATED);
    kimi_transfer_free(&t);
}

int
main(void)
{
    test_key_stays_hidden_when_the_redaction_copy_fails();
    test_a_clean_end_after_every_finish_reason_is_done();
    return check_report("events");
}

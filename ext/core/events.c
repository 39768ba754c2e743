/* events.c - the event queue and the stream protocol of a transfer.
 *
 * Events are queued as raw data by the write callback and parsed only
 * when taken: one read can complete a hundred events, and parsing them
 * all at once would hold a hundred JSON trees, defeating the allocator's
 * caches.  Knows nothing of Python; steps no libcurl handle.
 */
#include "events.h"

#include <string.h>

#include "dialect.h"
#include "json.h"
#include "redact.h"

/* ---- the queue -------------------------------------------------------- */

struct kimi_event_entry {
    size_t data_len;
    size_t offset;              /* body offset just past the event */
    int is_error_event;         /* it came as "event: error" */
};

static enum kimi_status
queue_push(struct kimi_event_queue *q, const struct kimi_sse_event *ev,
           size_t offset, struct kimi_error *err)
{
    struct kimi_event_entry entry = {
        .data_len = ev->data_len,
        .offset = offset,
        .is_error_event = ev->type_len == 5
                          && memcmp(ev->type, "error", 5) == 0,
    };
    size_t before = q->bytes.len;
    enum kimi_status st = kimi_buf_append(&q->bytes, (const char *)&entry,
                                          sizeof(entry), err);
    if (st == KIMI_OK) {
        st = kimi_buf_append(&q->bytes, ev->data, ev->data_len, err);
    }
    if (st != KIMI_OK) {
        q->bytes.len = before;
        return st;
    }
    q->len++;
    return KIMI_OK;
}

/* The next entry; its data stays valid until the queue is next changed. */
static const char *
queue_pop(struct kimi_event_queue *q, struct kimi_event_entry *entry)
{
    memcpy(entry, q->bytes.data + q->head, sizeof(*entry));
    const char *data = q->bytes.data + q->head + sizeof(*entry);
    q->head += sizeof(*entry) + entry->data_len;
    q->len--;
    return data;
}

static void
queue_clear(struct kimi_event_queue *q)
{
    kimi_buf_clear(&q->bytes);
    q->head = 0;
    q->len = 0;
}

/* ---- feeding ---------------------------------------------------------- */

void
kimi_events_init(struct kimi_transfer *t, size_t max_event)
{
    kimi_sse_init(&t->sse, max_event);
    kimi_buf_init(&t->queue.bytes, 0);
    t->queue.head = 0;
    t->queue.len = 0;
    kimi_accum_init(&t->accum, t->max_body);
    kimi_error_clear(&t->assembly);
}

/* One SSE event: [DONE], a keep-alive, or an event to queue. */
static enum kimi_status
on_event(void *ctx, const struct kimi_sse_event *ev, struct kimi_error *err)
{
    struct kimi_transfer *t = ctx;

    if (t->done) {
        return KIMI_OK;
    }
    if (ev->data_len == 0) {
        return KIMI_OK;
    }
    t->last_event_ms = t->last_activity_ms;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        t->done = 1;
        return KIMI_OK;
    }
    return queue_push(&t->queue, ev, ev->end, err);
}

enum kimi_status
kimi_events_feed(struct kimi_transfer *t, const char *bytes, size_t n,
                 struct kimi_error *err)
{
    return kimi_sse_feed(&t->sse, bytes, n, on_event, t, err);
}

/* ---- the protocol ----------------------------------------------------- */

static enum kimi_status
fail_with(struct kimi_transfer *t, struct kimi_error *err)
{
    t->failed = 1;
    return kimi_transfer_report(t, err);
}

/* An error object from the server (an error event, or a JSON error body
 * where a stream was expected): the echoed key is redacted from the text
 * first, then one reader (apierror.c) takes whatever shape it has.  The
 * stream fails with KIMI_ESERVER; t->api_error and t->server_error keep
 * what was read. */
static enum kimi_status
server_error(struct kimi_transfer *t, const char *raw, size_t len,
             size_t offset, struct kimi_error *err)
{
    struct kimi_error ignored;
    struct kimi_buf clean;
    const char *text = raw;
    cJSON *json = NULL;

    kimi_buf_init(&clean, 0);
    if (kimi_redact_buf(&clean, raw, len, t->secret.data, t->secret.len,
                        &ignored) != KIMI_OK) {
        text = "";      /* never show what could not be redacted */
        len = 0;
    }
    else if (clean.data != NULL) {
        text = clean.data;
        len = clean.len;
    }
    if (kimi_json_parse(text, len, &json, &ignored) != KIMI_OK) {
        json = NULL;    /* not JSON: the raw text is the message */
    }
    kimi_apierror_from_json(&t->api_error, json, text, len);
    kimi_buf_free(&clean);
    kimi_apierror_request_id_from_headers(&t->api_error,
                                          t->response_headers.data,
                                          t->response_headers.len);
    t->has_api_error = 1;
    cJSON_Delete(t->server_error);
    t->server_error = json;

    char detail[KIMI_ERROR_MESSAGE_MAX];
    kimi_apierror_describe(&t->api_error, detail, sizeof(detail));
    kimi_error_set(&t->failure, KIMI_ESERVER, "server error in stream: %s",
                   detail);
    t->failure.offset = offset;
    return fail_with(t, err);
}

/* A 2xx reply to a streaming request that is not an event stream: a
 * gateway's JSON error, or something else entirely.  Decided once and kept
 * as the transfer's failure, so asking again gives the same answer. */
static enum kimi_status
not_an_event_stream(struct kimi_transfer *t, struct kimi_error *err)
{
    struct kimi_error *failure = &t->failure;
    cJSON *json = NULL;
    struct kimi_error ignored;

    if (t->result != CURLE_OK) {
        failure->status = kimi_transfer_transport_error(t, failure);
        return fail_with(t, err);
    }
    if (kimi_json_parse(t->body.data, t->body.len, &json, &ignored)
        == KIMI_OK) {
        int is_error = kimi_apierror_is_error(json);
        cJSON_Delete(json);
        if (is_error) {
            return server_error(t, t->body.data, t->body.len, 0, err);
        }
    }
    char type[128] = "";
    kimi_transfer_header(t, "content-type", type, sizeof(type));
    if (t->content_types > 1) {
        kimi_error_set(failure, KIMI_EPROTO,
                       "stream: expected one Content-Type: "
                       "text/event-stream, got %d Content-Type headers "
                       "(the first is \"%s\"; %zu-byte body)",
                       t->content_types, type, t->body.len);
    }
    else {
        kimi_error_set(failure, KIMI_EPROTO,
                       "stream: expected Content-Type: text/event-stream, "
                       "got \"%s\" (%zu-byte body)",
                       type[0] ? type : "no content type", t->body.len);
    }
    failure->rejected = 1;
    failure->http_status = t->status;
    return fail_with(t, err);
}

/* Fold an event into the reply.  A reply too big to assemble does not
 * stop the events (only the reply reports it); a malformed chunk does. */
static enum kimi_status
fold(struct kimi_transfer *t, const cJSON *json, struct kimi_error *err)
{
    if (t->assembly.status != KIMI_OK) {
        return KIMI_OK;
    }
    enum kimi_status st = kimi_accum_add(&t->accum, json, err);
    if (st == KIMI_ETOOBIG) {
        t->assembly = *err;
        kimi_error_clear(err);
        kimi_accum_free(&t->accum);
        return KIMI_OK;
    }
    return st;
}

/* Parse the next queued event.  A malformed event or an error object ends
 * the stream: the events queued after it are dropped and the failure is
 * reported from then on. */
static enum kimi_status
take_event(struct kimi_transfer *t, cJSON **event, struct kimi_error *err)
{
    struct kimi_event_entry entry;
    struct kimi_error *failure = &t->failure;
    cJSON *json = NULL;

    const char *data = queue_pop(&t->queue, &entry);
    if (entry.is_error_event) {
        enum kimi_status st = server_error(t, data, entry.data_len,
                                           entry.offset, err);
        queue_clear(&t->queue);
        return st;
    }
    if (kimi_json_parse(data, entry.data_len, &json, failure) != KIMI_OK) {
        char why[KIMI_ERROR_MESSAGE_MAX];
        memcpy(why, failure->message, sizeof(why));
        kimi_error_set(failure, failure->status == KIMI_ENOMEM
                                    ? KIMI_ENOMEM
                                    : KIMI_EPROTO,
                       "malformed event: %.300s, in a %zu-byte event "
                       "(body byte %zu)", why, entry.data_len, entry.offset);
    }
    else if (kimi_apierror_is_error(json)) {
        cJSON_Delete(json);
        enum kimi_status st = server_error(t, data, entry.data_len,
                                           entry.offset, err);
        queue_clear(&t->queue);
        return st;
    }
    else if ((t->dialect != 0
              && kimi_dialect_chunk(t->dialect, json, failure) != KIMI_OK)
             || fold(t, json, failure) != KIMI_OK) {
        cJSON_Delete(json);
    }
    else {
        if (t->queue.len == 0) {
            queue_clear(&t->queue);
        }
        *event = json;
        return KIMI_OK;
    }
    failure->offset = entry.offset;
    queue_clear(&t->queue);
    return fail_with(t, err);
}

/* Every choice seen got a finish_reason (and at least one was seen). */
static int
all_choices_finished(const struct kimi_transfer *t)
{
    if (t->assembly.status != KIMI_OK || t->accum.n_choices == 0) {
        return 0;
    }
    for (size_t i = 0; i < t->accum.n_choices; i++) {
        if (!t->accum.choices[i].has_finish_reason) {
            return 0;
        }
    }
    return 1;
}

/* The body ended (cleanly or not) before data: [DONE].  A clean end after
 * every choice finished is complete: some servers omit [DONE]. */
static enum kimi_status
ended(struct kimi_transfer *t, struct kimi_error *err)
{
    struct kimi_error *failure = &t->failure;

    if (t->result == CURLE_OK && !kimi_sse_pending(&t->sse)
        && all_choices_finished(t))
    {
        t->done = 1;
        return KIMI_DONE;
    }
    failure->http_status = t->status;
    failure->offset = t->body_bytes;
    failure->curl_code = (int)t->result;
    if (t->result != CURLE_OK) {
        kimi_error_set(failure, KIMI_ETRUNCATED,
                       "stream: the connection broke after %zu bytes, "
                       "before data: [DONE] (libcurl: %s%s%s)",
                       t->body_bytes, curl_easy_strerror(t->result),
                       t->curl_message[0] ? ": " : "", t->curl_message);
    }
    else {
        kimi_error_set(failure, KIMI_ETRUNCATED,
                       "stream: the body ended after %zu bytes without "
                       "data: [DONE]%s",
                       t->body_bytes,
                       kimi_sse_pending(&t->sse)
                           ? " (the last event was cut off)"
                           : "");
    }
    return fail_with(t, err);
}

enum kimi_status
kimi_events_next(struct kimi_transfer *t, cJSON **event,
                 struct kimi_error *err)
{
    if (t->queue.len == 0 && t->paused && !t->failed) {
        kimi_transfer_resume(t);    /* may queue events at once */
    }
    if (t->queue.len > 0) {
        return take_event(t, event, err);
    }
    if (t->failed) {
        return kimi_transfer_report(t, err);
    }
    if (t->done) {
        return KIMI_DONE;
    }
    if (!t->finished) {
        return KIMI_AGAIN;
    }
    return t->event_stream ? ended(t, err) : not_an_event_stream(t, err);
}

enum kimi_status
kimi_events_reply(const struct kimi_transfer *t, int completed, cJSON **out,
                  struct kimi_error *err)
{
    if (!completed) {
        return kimi_error_set(err, KIMI_ETRUNCATED,
                              "final: the stream was closed before "
                              "data: [DONE]");
    }
    if (t->assembly.status != KIMI_OK) {
        *err = t->assembly;
        return kimi_error_set(err, t->assembly.status,
                              "final: the reply cannot be assembled: %.400s",
                              t->assembly.message);
    }
    return kimi_accum_build(&t->accum, out, err);
}

void
kimi_events_free(struct kimi_transfer *t)
{
    kimi_sse_free(&t->sse);
    kimi_buf_free(&t->queue.bytes);
    memset(&t->queue, 0, sizeof(t->queue));
    kimi_accum_free(&t->accum);
    cJSON_Delete(t->server_error);
    t->server_error = NULL;
}

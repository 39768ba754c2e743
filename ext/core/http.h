/* http.h - one HTTP exchange on a lane, driven from the caller's thread.
 *
 * kimi_transfer_start() sets up the request; the step functions then drive
 * libcurl in slices of at most poll_ms milliseconds and return KIMI_AGAIN
 * when a slice ends with nothing to report, so the caller can check for
 * signals between slices.  Streaming bodies are parsed as SSE inside the
 * libcurl write callback (pure C) and each event is queued; the
 * transfer reads from the socket only while that queue is empty, so a slow
 * consumer pauses the download instead of growing memory.
 *
 * Ownership: the transfer copies the request; events handed out by
 * kimi_transfer_next_event belong to the caller (cJSON_Delete).  Not
 * thread-safe: one thread at a time per transfer.
 */
#ifndef KIMI_HTTP_H
#define KIMI_HTTP_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "pool.h"
#include "sse.h"

#define KIMI_MAX_BODY_DEFAULT ((size_t)64 * 1024 * 1024)
#define KIMI_MAX_ERROR_BODY ((size_t)1024 * 1024)
#define KIMI_MAX_HEADERS ((size_t)64 * 1024)

struct kimi_request {
    const char *method;             /* "GET", "POST", "DELETE" */
    const char *url;
    const char *const *headers;     /* "Name: value" lines */
    size_t n_headers;
    const char *body;               /* copied; may be NULL */
    size_t body_len;
    long connect_timeout_ms;
    long idle_timeout_ms;           /* longest silence between bytes */
    int stream;                     /* expect an SSE body */
    size_t max_event;               /* 0: KIMI_MAX_EVENT_DEFAULT */
    size_t max_body;                /* 0: KIMI_MAX_BODY_DEFAULT */
};

/* Events waiting for the caller, kept as raw data and parsed one at a time
 * as they are taken: a single read can complete a hundred events, and
 * parsing them all at once would hold a hundred JSON trees, defeating the
 * allocator's caches. */
struct kimi_event_queue {
    struct kimi_buf bytes;          /* entries back to back */
    size_t head;                    /* offset of the next entry */
    size_t len;                     /* entries waiting */
};

struct kimi_transfer {
    struct kimi_lane *lane;         /* borrowed from the pool */
    struct curl_slist *headers;
    struct kimi_buf request_body;
    struct kimi_buf no_proxy;       /* the user's no_proxy plus loopback */
    int stream;
    size_t max_body;
    long idle_timeout_ms;
    int64_t last_activity_ms;

    long status;                    /* final HTTP status, once known */
    int headers_done;
    int event_stream;               /* Content-Type is text/event-stream */
    struct kimi_buf response_headers;   /* raw lines of the final block */
    struct kimi_buf body;           /* whole body unless parsed as SSE */
    size_t body_bytes;              /* body bytes received so far */

    struct kimi_sse sse;
    struct kimi_event_queue queue;
    int done;                       /* data: [DONE] seen */
    int finished;                   /* libcurl finished the transfer */
    CURLcode result;
    struct kimi_error failure;      /* found while receiving; reported */
    int failed;                     /* after the events queued before it */
    cJSON *server_error;            /* chunk holding an error object */
    int attached;                   /* easy handle is in the multi */
    char curl_message[CURL_ERROR_SIZE];
};

/* Prepare and launch the request on lane (the transfer borrows it until
 * kimi_transfer_free).  share may be NULL. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_start(struct kimi_transfer *t, struct kimi_lane *lane,
                    CURLSH *share, const struct kimi_request *req,
                    struct kimi_error *err);

/* Drive until the response status and headers are known: KIMI_OK, or
 * KIMI_AGAIN when the slice ended, or a transport error. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_wait_headers(struct kimi_transfer *t, int poll_ms,
                           struct kimi_error *err);

/* Drive until the whole body is in t->body: KIMI_OK, KIMI_AGAIN, or an
 * error (a 2xx body over max_body is KIMI_ETOOBIG; an error body is
 * silently cut at KIMI_MAX_ERROR_BODY). */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_read_body(struct kimi_transfer *t, int poll_ms,
                        struct kimi_error *err);

/* Drive until one event is ready: KIMI_OK with *event (new tree, caller
 * frees), KIMI_DONE after data: [DONE], KIMI_AGAIN when the slice ended,
 * or an error: KIMI_ETRUNCATED (body ended early), KIMI_EPROTO (bad event
 * or not an event stream), KIMI_ESERVER (an error object: t->server_error
 * holds its chunk, or NULL when an `event: error` frame was not JSON),
 * KIMI_ETOOBIG, KIMI_ETIMEOUT, KIMI_ECONNECT. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_next_event(struct kimi_transfer *t, int poll_ms,
                         cJSON **event, struct kimi_error *err);

/* Walk the response headers: *pos starts at 0; each call gives the next
 * header's name and value (borrowed, not NUL-terminated, value trimmed)
 * and returns 1, or returns 0 after the last. */
int kimi_transfer_next_header(const struct kimi_transfer *t, size_t *pos,
                              const char **name, size_t *name_len,
                              const char **value, size_t *value_len);

/* Value of the first response header called name (case-insensitive),
 * copied NUL-terminated into out; returns 0 when absent. */
int kimi_transfer_header(const struct kimi_transfer *t, const char *name,
                         char *out, size_t out_size);

/* Abort if still running, detach from the lane, free everything.  The
 * lane may then go back to its pool.  Idempotent; safe on zeroed memory. */
void kimi_transfer_free(struct kimi_transfer *t);

#endif

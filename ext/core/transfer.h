/* transfer.h - one HTTP request and its response on one easy handle.
 *
 * A transfer configures its easy handle from a struct kimi_request, owns
 * the libcurl callbacks (pure C: they record headers, collect a body or
 * feed the event stream of events.h) and knows its own deadlines.  It
 * does not step libcurl: a driver (drive.h today) does, on whatever multi
 * handle the transfer is attached to, so several transfers may share one
 * multi handle.  Backpressure belongs to the transfer: its write callback
 * pauses it (CURL_WRITEFUNC_PAUSE) while events wait for the consumer.
 *
 * Ownership: the transfer copies the request (a form's files it opens,
 * and reads as they are sent); the easy and multi handles are borrowed.
 * Not thread-safe: one thread at a time per transfer.
 * After fork() only the process that started a transfer may step it
 * (told apart by the fork count of pool.h, with no system call);
 * elsewhere every step fails with KIMI_EFORKED and nothing of the
 * parent's connection is touched.
 */
#ifndef KIMI_TRANSFER_H
#define KIMI_TRANSFER_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdint.h>
#include <sys/types.h>

#include "accum.h"
#include "apierror.h"
#include "buf.h"
#include "error.h"
#include "form.h"
#include "sse.h"

#define KIMI_MAX_BODY_DEFAULT ((size_t)64 * 1024 * 1024)
#define KIMI_MAX_ERROR_BODY ((size_t)1024 * 1024)
#define KIMI_MAX_HEADERS ((size_t)64 * 1024)
/* Queued event bytes at which a stream pauses its transfer; the queue
 * holds at most this plus one read (and the event being parsed). */
#define KIMI_QUEUE_HIGH ((size_t)64 * 1024)

/* Each limit in milliseconds; 0 means none. */
struct kimi_timeouts {
    long connect_ms;        /* establishing the connection (and TLS) */
    long read_ms;           /* longest silence between bytes, sent or
                               received */
    long event_ms;          /* longest silence between SSE data events
                               (comments are not events) */
    long total_ms;          /* the whole transfer */
};

struct kimi_tls {
    int verify;             /* verify the peer's certificate and name */
    const char *ca_file;    /* CA bundle, or NULL for libcurl's default */
    const char *ca_dir;     /* CA directory, or NULL */
    const char *cert_file;  /* client certificate (PEM), or NULL */
    const char *key_file;   /* its key, or NULL when in cert_file */
};

struct kimi_request {
    const char *method;             /* "GET", "POST", "DELETE" */
    const char *url;
    const char *const *headers;     /* "Name: value" / "Name;" lines */
    size_t n_headers;
    const char *body;               /* copied; may be NULL */
    size_t body_len;
    const struct kimi_form_part *form;  /* a multipart POST instead of a
                                       body: read at each start (data
                                       copied, files opened), never
                                       kept */
    size_t n_form;
    struct kimi_timeouts timeouts;
    struct kimi_tls tls;
    int stream;                     /* expect an SSE body */
    int compressed;                 /* ask for gzip/deflate */
    size_t max_event;               /* 0: KIMI_MAX_EVENT_DEFAULT */
    size_t max_body;                /* 0: KIMI_MAX_BODY_DEFAULT */
    const char *secret;             /* redacted from what the server
                                       echoes; may be NULL */
    unsigned dialect;               /* KIMI_DIALECT_* bits (dialect.h) of
                                       a gateway's replies; 0: the API's */
};

/* Events waiting for the consumer, kept as raw data and parsed one at a
 * time as they are taken (see events.c). */
struct kimi_event_queue {
    struct kimi_buf bytes;          /* entries back to back */
    size_t head;                    /* offset of the next entry */
    size_t len;                     /* entries waiting */
};

/* Where transfers that share a driver note that they moved (a header, a
 * body byte, their end), so an event loop looks at those alone instead of
 * at every transfer after every socket action.  Ids are the driver's. */
struct kimi_progress {
    struct kimi_buf ids;            /* size_t ids, back to back */
    int lost;                       /* a note did not fit: look at all */
};

struct kimi_transfer {
    CURL *easy;                     /* borrowed */
    struct kimi_progress *progress; /* borrowed; NULL: no notes */
    size_t progress_id;
    CURLM *multi;                   /* borrowed; NULL until attached */
    unsigned long generation;       /* kimi_pool_fork_generation() of the
                                       process that started it */
    struct curl_slist *headers;
    struct kimi_buf request_body;
    struct kimi_form form;          /* built anew at each start, so a
                                       retry reads its files again */
    struct kimi_buf no_proxy;       /* the user's no_proxy plus loopback */
    struct kimi_buf secret;
    int stream;
    unsigned dialect;               /* the request's (dialect.h) */
    size_t max_body;
    struct kimi_timeouts timeouts;
    int64_t start_ms;
    int64_t last_activity_ms;       /* a byte went either way */
    int64_t last_event_ms;          /* a data event arrived */
    curl_off_t uploaded;            /* request bytes sent so far */
    curl_off_t downloaded;

    long status;                    /* final HTTP status, once known */
    long status_line;               /* status of the latest status line */
    int headers_done;
    int event_stream;               /* every Content-Type is an SSE one */
    int content_types;              /* Content-Type headers seen */
    struct kimi_buf response_headers;   /* raw lines of the final block */
    struct kimi_buf body;           /* whole body unless parsed as SSE */
    size_t body_bytes;              /* body bytes received so far */
    int error_body_full;            /* an error body reached its cap */

    struct kimi_sse sse;
    struct kimi_event_queue queue;
    int paused;                     /* the write callback paused it */
    struct kimi_accum accum;        /* the reply assembled from events */
    struct kimi_error assembly;     /* why the reply cannot be built */
    int done;                       /* data: [DONE] seen */
    int finished;                   /* libcurl finished the transfer */
    CURLcode result;
    struct kimi_error failure;      /* found while receiving; reported */
    int failed;                     /* after the events queued before it */
    cJSON *server_error;            /* the error object of an error event
                                       or body, when it was JSON */
    struct kimi_api_error api_error;    /* what that error said */
    int has_api_error;
    int attached;                   /* easy handle is in the multi */
    char curl_message[CURL_ERROR_SIZE];
};

/* Configure easy for req.  share may be NULL.  The transfer is not yet
 * attached to a multi handle. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_start(struct kimi_transfer *t, CURL *easy, CURLSH *share,
                    const struct kimi_request *req, struct kimi_error *err);

/* Add the easy handle to multi; the transfer starts moving when the
 * multi handle is next stepped. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_attach(struct kimi_transfer *t, CURLM *multi,
                     struct kimi_error *err);

/* Note on t->progress (when set) that t moved. */
void kimi_transfer_note_progress(struct kimi_transfer *t);

/* Read multi's finished-transfer messages and mark each transfer (found
 * through CURLOPT_PRIVATE) finished with its result. */
void kimi_transfer_collect(CURLM *multi);

/* KIMI_EFORKED when the calling process is not the one that started the
 * transfer, else KIMI_OK. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_check_owner(const struct kimi_transfer *t,
                          struct kimi_error *err);

/* KIMI_ETIMEOUT (naming the limit) once a limit has passed at now_ms,
 * else KIMI_OK. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_check_deadlines(struct kimi_transfer *t, int64_t now_ms,
                              struct kimi_error *err);

/* KIMI_ETIMEOUT once the total limit has passed at now_ms, else KIMI_OK.
 * Checked before a queued event is handed out: a server that never
 * pauses (or a consumer slower than it) always has one waiting. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_check_total(const struct kimi_transfer *t, int64_t now_ms,
                          struct kimi_error *err);

/* The earliest time a limit can pass, or INT64_MAX when none applies. */
int64_t kimi_transfer_next_deadline(const struct kimi_transfer *t);

/* Let a paused transfer receive again (the consumer took every queued
 * event).  May run the write callback at once. */
void kimi_transfer_resume(struct kimi_transfer *t);

/* Without waiting: KIMI_OK once the status and headers are known,
 * KIMI_AGAIN before, or the error that ended the transfer first. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_headers_state(const struct kimi_transfer *t,
                            struct kimi_error *err);

/* Without waiting: KIMI_OK once the whole body is in t->body (an error
 * body cut at its cap counts as whole), KIMI_AGAIN before, or the error
 * that ended the transfer. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_body_state(const struct kimi_transfer *t,
                         struct kimi_error *err);

/* The failure seen while receiving, as reported to the caller. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_report(const struct kimi_transfer *t, struct kimi_error *err);

/* The error for a transfer that libcurl ended with a non-OK result. */
KIMI_MUST_CHECK enum kimi_status
kimi_transfer_transport_error(const struct kimi_transfer *t,
                              struct kimi_error *err);

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

/* Read a finished non-2xx response: the echoed key is redacted from the
 * body, then the error is read from it (any shape) and the request id
 * from the body or the headers.  A JSON body's tree is left in
 * t->server_error. */
void kimi_transfer_read_error(struct kimi_transfer *t,
                              struct kimi_api_error *out);

/* Milliseconds of the monotonic clock (the clock of every deadline). */
int64_t kimi_transfer_clock_ms(void);

/* Take the easy handle out of its multi handle (unless in a forked
 * child) and forget both, so they can serve another transfer; what was
 * received (headers, the assembled reply) stays.  Idempotent. */
void kimi_transfer_detach(struct kimi_transfer *t);

/* Detach, then free everything.  Idempotent; safe on zeroed memory. */
void kimi_transfer_free(struct kimi_transfer *t);

#endif

/* http.c - one HTTP exchange over libcurl's multi interface.
 *
 * The libcurl callbacks here are pure C: they record headers, collect a
 * body, or feed the SSE parser and queue its events.  Nothing in this
 * file knows about Python.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"

/* How long a step waits for the end of the body after data: [DONE], so
 * that the connection can be reused. */
#define KIMI_DONE_GRACE_MS 20

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
is_success(long status)
{
    return status >= 200 && status < 300;
}

/* ---- event queue ------------------------------------------------------ */

struct kimi_event_entry {
    size_t data_len;
    size_t offset;              /* body bytes received when it completed */
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

/* ---- libcurl callbacks ------------------------------------------------ */

static int
starts_with_nocase(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(s, prefix, k) == 0;
}

static void
note_content_type(struct kimi_transfer *t, const char *line, size_t n)
{
    static const char name[] = "content-type:";
    if (!starts_with_nocase(line, n, name)) {
        return;
    }
    size_t i = sizeof(name) - 1;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    t->event_stream = starts_with_nocase(line + i, n - i,
                                         "text/event-stream");
}

static size_t
on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    struct kimi_transfer *t = userdata;
    size_t n = size * nitems;
    t->last_activity_ms = now_ms();
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new header block (after 1xx, only the last one counts). */
        kimi_buf_clear(&t->response_headers);
        t->event_stream = 0;
        return n;
    }
    if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(t->lane->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            t->status = code;
            t->headers_done = 1;
        }
        return n;
    }
    note_content_type(t, line, n);
    /* Past KIMI_MAX_HEADERS the rest is dropped: headers are advisory. */
    if (kimi_buf_append(&t->response_headers, line, n, NULL) != KIMI_OK) {
        return n;
    }
    return n;
}

static enum kimi_status
fail(struct kimi_transfer *t, enum kimi_status st)
{
    t->failed = 1;
    return st;
}

/* One SSE event: [DONE], a keep-alive, or an event to queue. */
static enum kimi_status
on_event(void *ctx, const struct kimi_sse_event *ev, struct kimi_error *err)
{
    struct kimi_transfer *t = ctx;

    if (t->done) {
        return KIMI_OK;
    }
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        t->done = 1;
        return KIMI_OK;
    }
    if (ev->data_len == 0) {
        return KIMI_OK;
    }
    return queue_push(&t->queue, ev, t->body_bytes, err);
}

/* Keep a non-SSE body.  Returns 0 when the transfer must stop. */
static int
collect_body(struct kimi_transfer *t, const char *bytes, size_t n)
{
    size_t cap = is_success(t->status) ? t->max_body : KIMI_MAX_ERROR_BODY;
    size_t room = cap - t->body.len;
    if (n > room) {
        if (is_success(t->status)) {
            kimi_error_set(&t->failure, KIMI_ETOOBIG,
                           "response body exceeds %zu bytes", cap);
            t->failure.offset = t->body_bytes;
            fail(t, KIMI_ETOOBIG);
            return 0;
        }
        n = room;       /* an error body is only read for its message */
    }
    if (kimi_buf_append(&t->body, bytes, n, &t->failure) != KIMI_OK) {
        fail(t, t->failure.status);
        return 0;
    }
    return 1;
}

static size_t
on_write(char *bytes, size_t size, size_t nmemb, void *userdata)
{
    struct kimi_transfer *t = userdata;
    size_t n = size * nmemb;

    t->last_activity_ms = now_ms();
    if (t->failed) {
        return 0;
    }
    t->body_bytes += n;
    if (t->done) {
        return n;       /* whatever follows [DONE] is ignored */
    }
    if (t->stream && t->event_stream && is_success(t->status)) {
        enum kimi_status st = kimi_sse_feed(&t->sse, bytes, n, on_event, t,
                                            &t->failure);
        if (st != KIMI_OK) {
            fail(t, st);
            return 0;
        }
        return n;
    }
    return collect_body(t, bytes, n) ? n : 0;
}

/* ---- driving ---------------------------------------------------------- */

static void
collect_finished(struct kimi_transfer *t)
{
    int left = 0;
    for (;;) {
        CURLMsg *msg = curl_multi_info_read(t->lane->multi, &left);
        if (msg == NULL) {
            break;
        }
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == t->lane->easy) {
            t->finished = 1;
            t->result = msg->data.result;
        }
    }
}

typedef int (*kimi_ready_fn)(const struct kimi_transfer *t);

/* Step libcurl until ready(t) or the transfer finished (KIMI_OK), the
 * slice of poll_ms ended (KIMI_AGAIN), or the idle timeout passed.
 *
 *   loop:
 *       perform; note a finished transfer
 *       if ready or finished: OK
 *       if silent for idle_timeout: ETIMEOUT
 *       if the slice is used up: AGAIN
 *       poll the sockets until activity or the nearer deadline
 */
static enum kimi_status
drive(struct kimi_transfer *t, int poll_ms, kimi_ready_fn ready,
      struct kimi_error *err)
{
    int64_t slice_end = now_ms() + poll_ms;
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(t->lane->multi, &running);
        if (mc != CURLM_OK) {
            return kimi_error_set(err, KIMI_ECONNECT,
                                  "curl_multi_perform: %s",
                                  curl_multi_strerror(mc));
        }
        collect_finished(t);
        if (t->finished || ready(t)) {
            return KIMI_OK;
        }
        int64_t now = now_ms();
        int64_t idle_end = t->last_activity_ms + t->idle_timeout_ms;
        if (t->idle_timeout_ms > 0 && now >= idle_end) {
            err->http_status = t->status;
            return kimi_error_set(err, KIMI_ETIMEOUT,
                                  "no data from the server for %.1f s",
                                  t->idle_timeout_ms / 1000.0);
        }
        int64_t wait = slice_end - now;
        if (wait <= 0) {
            return KIMI_AGAIN;
        }
        if (t->idle_timeout_ms > 0 && idle_end - now < wait) {
            wait = idle_end - now;
        }
        mc = curl_multi_poll(t->lane->multi, NULL, 0, (int)wait, NULL);
        if (mc != CURLM_OK) {
            return kimi_error_set(err, KIMI_ECONNECT, "curl_multi_poll: %s",
                                  curl_multi_strerror(mc));
        }
    }
}

static int
headers_ready(const struct kimi_transfer *t)
{
    return t->headers_done || t->failed;
}

static int
event_ready(const struct kimi_transfer *t)
{
    return t->queue.len > 0 || t->done || t->failed;
}

static int
never_ready(const struct kimi_transfer *t)
{
    return t->failed;
}

static enum kimi_status
transport_error(const struct kimi_transfer *t, const char *what,
                struct kimi_error *err)
{
    enum kimi_status st = t->result == CURLE_OPERATION_TIMEDOUT
                              ? KIMI_ETIMEOUT
                              : KIMI_ECONNECT;
    err->curl_code = (int)t->result;
    err->http_status = t->status;
    err->offset = t->body_bytes;
    if (t->curl_message[0] != '\0') {
        return kimi_error_set(err, st, "%s: %s (%s)", what,
                              curl_easy_strerror(t->result), t->curl_message);
    }
    return kimi_error_set(err, st, "%s: %s", what,
                          curl_easy_strerror(t->result));
}

static enum kimi_status
report_failure(const struct kimi_transfer *t, struct kimi_error *err)
{
    *err = t->failure;
    err->http_status = t->status;
    return err->status;
}

/* ---- public steps ----------------------------------------------------- */

/* libcurl honours http_proxy and friends; loopback (the local test server,
 * a gateway on this machine) never goes through one.  Setting
 * CURLOPT_NOPROXY replaces the no_proxy variable, so it is kept. */
static enum kimi_status
set_no_proxy(struct kimi_transfer *t, CURL *e, struct kimi_error *err)
{
    static const char loopback[] = "localhost,127.0.0.1,::1";
    const char *env = getenv("no_proxy");
    if (env == NULL || env[0] == '\0') {
        env = getenv("NO_PROXY");
    }
    enum kimi_status st = KIMI_OK;
    if (env != NULL && env[0] != '\0') {
        st = kimi_buf_append(&t->no_proxy, env, strlen(env), err);
        if (st == KIMI_OK) {
            st = kimi_buf_putc(&t->no_proxy, ',', err);
        }
    }
    if (st == KIMI_OK) {
        st = kimi_buf_append(&t->no_proxy, loopback, sizeof(loopback) - 1,
                             err);
    }
    if (st == KIMI_OK) {
        curl_easy_setopt(e, CURLOPT_NOPROXY, t->no_proxy.data);
    }
    return st;
}

enum kimi_status
kimi_transfer_start(struct kimi_transfer *t, struct kimi_lane *lane,
                    CURLSH *share, const struct kimi_request *req,
                    struct kimi_error *err)
{
    memset(t, 0, sizeof(*t));
    t->lane = lane;
    t->stream = req->stream;
    t->max_body = req->max_body ? req->max_body : KIMI_MAX_BODY_DEFAULT;
    t->idle_timeout_ms = req->idle_timeout_ms;
    kimi_buf_init(&t->request_body, 0);
    kimi_buf_init(&t->no_proxy, 0);
    kimi_buf_init(&t->response_headers, KIMI_MAX_HEADERS);
    kimi_buf_init(&t->body, 0);
    kimi_buf_init(&t->queue.bytes, 0);
    kimi_sse_init(&t->sse, req->max_event);

    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *list = curl_slist_append(t->headers,
                                                    req->headers[i]);
        if (list == NULL) {
            return kimi_error_set(err, KIMI_ENOMEM, "headers: out of memory");
        }
        t->headers = list;
    }
    /* No "Expect: 100-continue" round trip before large bodies. */
    struct curl_slist *list = curl_slist_append(t->headers, "Expect:");
    if (list == NULL) {
        return kimi_error_set(err, KIMI_ENOMEM, "headers: out of memory");
    }
    t->headers = list;

    CURL *e = lane->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_message);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    /* Tearing a transfer down never waits for a DNS lookup to finish. */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    if (share != NULL) {
        curl_easy_setopt(e, CURLOPT_SHARE, share);
    }
    enum kimi_status proxy_st = set_no_proxy(t, e, err);
    if (proxy_st != KIMI_OK) {
        return proxy_st;
    }

    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    else if (strcmp(req->method, "POST") == 0) {
        if (req->body_len > 0) {
            enum kimi_status st = kimi_buf_append(
                &t->request_body, req->body, req->body_len, err);
            if (st != KIMI_OK) {
                return st;
            }
        }
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)t->request_body.len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                         t->request_body.data ? t->request_body.data : "");
    }
    else if (strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    else {
        return kimi_error_set(err, KIMI_EINVAL, "unsupported method %.16s",
                              req->method);
    }

    CURLMcode mc = curl_multi_add_handle(lane->multi, e);
    if (mc != CURLM_OK) {
        return kimi_error_set(err, KIMI_ECONNECT, "curl_multi_add_handle: %s",
                              curl_multi_strerror(mc));
    }
    t->attached = 1;
    t->last_activity_ms = now_ms();
    return KIMI_OK;
}

enum kimi_status
kimi_transfer_wait_headers(struct kimi_transfer *t, int poll_ms,
                           struct kimi_error *err)
{
    if (!t->headers_done && !t->failed && !t->finished) {
        enum kimi_status st = drive(t, poll_ms, headers_ready, err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    if (t->headers_done) {
        return KIMI_OK;
    }
    if (t->failed) {
        return report_failure(t, err);
    }
    if (t->finished) {
        if (t->result == CURLE_OK) {
            return kimi_error_set(err, KIMI_EPROTO,
                                  "request: no HTTP response");
        }
        return transport_error(t, "request", err);
    }
    return KIMI_AGAIN;
}

enum kimi_status
kimi_transfer_read_body(struct kimi_transfer *t, int poll_ms,
                        struct kimi_error *err)
{
    if (!t->finished && !t->failed) {
        enum kimi_status st = drive(t, poll_ms, never_ready, err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    if (t->failed) {
        return report_failure(t, err);
    }
    if (!t->finished) {
        return KIMI_AGAIN;
    }
    if (t->result != CURLE_OK) {
        return transport_error(t, "read response", err);
    }
    return KIMI_OK;
}

/* A 2xx reply to a streaming request that is not an event stream: a
 * gateway's JSON error, or something else entirely.  Decided once and kept
 * as the transfer's failure, so asking again gives the same answer. */
static enum kimi_status
not_an_event_stream(struct kimi_transfer *t, struct kimi_error *err)
{
    const char *end = NULL;
    cJSON *json = NULL;
    struct kimi_error *failure = &t->failure;

    if (t->body.len > 0) {
        json = cJSON_ParseWithLengthOpts(t->body.data, t->body.len, &end, 0);
    }
    if (json != NULL
        && kimi_chunk_check_error(json, NULL, failure) != KIMI_OK) {
        t->server_error = json;
    }
    else {
        cJSON_Delete(json);
        char type[128] = "";
        kimi_transfer_header(t, "content-type", type, sizeof(type));
        kimi_error_set(failure, KIMI_EPROTO,
                       "stream: expected text/event-stream, got \"%s\" "
                       "(%zu bytes)",
                       type[0] ? type : "no content type", t->body.len);
    }
    fail(t, failure->status);
    return report_failure(t, err);
}

/* Parse the next queued event.  A malformed event or an error object ends
 * the stream: the events queued after it are dropped and the failure is
 * reported from then on. */
static enum kimi_status
take_event(struct kimi_transfer *t, cJSON **event, struct kimi_error *err)
{
    struct kimi_event_entry entry;
    const char *end = NULL;
    struct kimi_error *failure = &t->failure;

    const char *data = queue_pop(&t->queue, &entry);
    cJSON *json = cJSON_ParseWithLengthOpts(data, entry.data_len, &end, 0);
    if (entry.is_error_event) {
        t->server_error = json;
        if (json == NULL
            || kimi_chunk_check_error(json, NULL, failure) == KIMI_OK) {
            int shown = entry.data_len < 300 ? (int)entry.data_len : 300;
            kimi_error_set(failure, KIMI_ESERVER,
                           "server error in stream: %.*s", shown, data);
        }
    }
    else if (json == NULL) {
        size_t column = end != NULL ? (size_t)(end - data) : 0;
        kimi_error_set(failure, KIMI_EPROTO,
                       "malformed event: invalid JSON at column %zu of a "
                       "%zu-byte event (body byte %zu)",
                       column, entry.data_len, entry.offset);
    }
    else if (kimi_chunk_check_error(json, NULL, failure) != KIMI_OK) {
        t->server_error = json;
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
    fail(t, failure->status);
    return report_failure(t, err);
}

/* After data: [DONE]: let libcurl read the end of the body so the
 * connection can be reused; a server that lingers is not waited on. */
static enum kimi_status
after_done(struct kimi_transfer *t, struct kimi_error *err)
{
    if (!t->finished
        && drive(t, KIMI_DONE_GRACE_MS, never_ready, err) == KIMI_ETIMEOUT) {
        kimi_error_clear(err);
    }
    return KIMI_DONE;
}

/* The body ended (cleanly or not) before data: [DONE]. */
static enum kimi_status
ended_early(const struct kimi_transfer *t, struct kimi_error *err)
{
    err->http_status = t->status;
    err->offset = t->body_bytes;
    err->curl_code = (int)t->result;
    if (t->result != CURLE_OK) {
        return kimi_error_set(err, KIMI_ETRUNCATED,
                              "stream: the connection broke after %zu "
                              "bytes, before data: [DONE] (libcurl: %s%s%s)",
                              t->body_bytes, curl_easy_strerror(t->result),
                              t->curl_message[0] ? ": " : "",
                              t->curl_message);
    }
    return kimi_error_set(err, KIMI_ETRUNCATED,
                          "stream: the body ended after %zu bytes without "
                          "data: [DONE]%s",
                          t->body_bytes,
                          kimi_sse_pending(&t->sse)
                              ? " (the last event was cut off)"
                              : "");
}

enum kimi_status
kimi_transfer_next_event(struct kimi_transfer *t, int poll_ms,
                         cJSON **event, struct kimi_error *err)
{
    for (;;) {
        if (t->queue.len > 0) {
            return take_event(t, event, err);
        }
        if (t->failed) {
            return report_failure(t, err);
        }
        if (t->done) {
            return after_done(t, err);
        }
        if (t->finished) {
            return t->event_stream ? ended_early(t, err)
                                   : not_an_event_stream(t, err);
        }
        enum kimi_status st = drive(t, poll_ms, event_ready, err);
        if (st != KIMI_OK) {
            return st;
        }
    }
}

int
kimi_transfer_next_header(const struct kimi_transfer *t, size_t *pos,
                          const char **name, size_t *name_len,
                          const char **value, size_t *value_len)
{
    const char *data = t->response_headers.data;
    size_t len = t->response_headers.len;

    while (*pos < len) {
        const char *line = data + *pos;
        const char *eol = memchr(line, '\n', len - *pos);
        const char *line_end = eol != NULL ? eol : data + len;
        *pos = (size_t)(line_end - data) + (eol != NULL);
        const char *colon = memchr(line, ':', (size_t)(line_end - line));
        if (colon == NULL) {
            continue;
        }
        const char *v = colon + 1;
        const char *v_end = line_end;
        while (v < v_end && (*v == ' ' || *v == '\t')) {
            v++;
        }
        while (v_end > v && (v_end[-1] == '\r' || v_end[-1] == ' ')) {
            v_end--;
        }
        *name = line;
        *name_len = (size_t)(colon - line);
        *value = v;
        *value_len = (size_t)(v_end - v);
        return 1;
    }
    return 0;
}

int
kimi_transfer_header(const struct kimi_transfer *t, const char *name,
                     char *out, size_t out_size)
{
    size_t want = strlen(name);
    size_t pos = 0;
    const char *n;
    const char *v;
    size_t n_len;
    size_t v_len;

    while (kimi_transfer_next_header(t, &pos, &n, &n_len, &v, &v_len)) {
        if (n_len != want || strncasecmp(n, name, want) != 0) {
            continue;
        }
        if (out_size > 0) {
            size_t len = v_len < out_size ? v_len : out_size - 1;
            memcpy(out, v, len);
            out[len] = '\0';
        }
        return 1;
    }
    return 0;
}

void
kimi_transfer_free(struct kimi_transfer *t)
{
    /* In a forked child the lane is the parent's: removing the handle
     * would close (and, over TLS, shut down) the parent's connection. */
    if (t->attached && t->lane->pid == getpid()) {
        curl_multi_remove_handle(t->lane->multi, t->lane->easy);
    }
    t->attached = 0;
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    kimi_buf_free(&t->request_body);
    kimi_buf_free(&t->no_proxy);
    kimi_buf_free(&t->response_headers);
    kimi_buf_free(&t->body);
    kimi_sse_free(&t->sse);
    kimi_buf_free(&t->queue.bytes);
    memset(&t->queue, 0, sizeof(t->queue));
    cJSON_Delete(t->server_error);
    t->server_error = NULL;
    t->lane = NULL;
}

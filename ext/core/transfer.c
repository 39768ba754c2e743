/* transfer.c - one easy handle: its options, callbacks and deadlines.
 *
 * The libcurl callbacks here are pure C: they record headers, collect a
 * body, or hand an event stream's bytes to events.c.  Stepping libcurl is
 * a driver's job (poll.c); nothing here knows about Python.
 */
#include "transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "headers.h"
#include "json.h"
#include "pool.h"
#include "redact.h"
#include "text.h"

/* Request bodies above this are watched for upload progress. */
#define KIMI_PROGRESS_BODY ((size_t)64 * 1024)

int64_t
kimi_transfer_clock_ms(void)
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

static void
fail(struct kimi_transfer *t)
{
    t->failed = 1;
}

/* A failure the client found in a response whose status line it has: a
 * 2xx one was produced (and billed) by the server, so it is never sent
 * again. */
static void
fail_rejected(struct kimi_transfer *t)
{
    t->failure.rejected = is_success(t->status_line);
    t->failure.http_status = t->status_line;
    fail(t);
}

/* ---- header callback -------------------------------------------------- */

static int
starts_with_nocase(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && kimi_text_equal_nocase(s, k, prefix, k);
}

/* Every Content-Type must say text/event-stream: a repeated, conflicting
 * header does not make a stream. */
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
    int sse = starts_with_nocase(line + i, n - i, "text/event-stream");
    t->event_stream = t->content_types == 0 ? sse : t->event_stream && sse;
    t->content_types++;
}

/* A server may echo the key in a header (a request id, say): what it
 * cannot be redacted from is dropped. */
static void
redact_headers(struct kimi_transfer *t)
{
    struct kimi_error ignored;
    if (kimi_redact_in_place(&t->response_headers, t->secret.data,
                             t->secret.len, &ignored) != KIMI_OK) {
        kimi_buf_clear(&t->response_headers);
    }
}

void
kimi_transfer_note_progress(struct kimi_transfer *t)
{
    struct kimi_progress *p = t->progress;
    if (p != NULL && !p->lost
        && kimi_buf_append(&p->ids, (const char *)&t->progress_id,
                           sizeof(t->progress_id), NULL) != KIMI_OK) {
        p->lost = 1;
    }
}

static size_t
on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    struct kimi_transfer *t = userdata;
    size_t n = size * nitems;

    kimi_transfer_note_progress(t);
    t->last_activity_ms = kimi_transfer_clock_ms();
    if (t->headers_done) {
        return n;       /* trailers: neither headers nor redacted */
    }
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new header block (after 1xx, only the last one counts). */
        kimi_buf_clear(&t->response_headers);
        t->event_stream = 0;
        t->content_types = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status_line);
        return n;
    }
    if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            t->status = code;
            t->headers_done = 1;
            t->last_event_ms = t->last_activity_ms;
            redact_headers(t);
        }
        return n;
    }
    note_content_type(t, line, n);
    if (kimi_buf_append(&t->response_headers, line, n, NULL) != KIMI_OK) {
        kimi_error_set(&t->failure, KIMI_ETOOBIG,
                       "response: the header block exceeds %zu bytes",
                       KIMI_MAX_HEADERS);
        fail_rejected(t);
        return 0;
    }
    return n;
}

/* ---- write callback --------------------------------------------------- */

/* Keep a non-SSE body.  Returns 0 when the transfer must stop. */
static int
collect_body(struct kimi_transfer *t, const char *bytes, size_t n)
{
    if (!is_success(t->status)) {
        /* An error body is read only for its message: at the cap the
         * transfer stops, so a body that never ends cannot hang it. */
        size_t room = KIMI_MAX_ERROR_BODY - t->body.len;
        size_t keep = n < room ? n : room;
        if (kimi_buf_append(&t->body, bytes, keep, &t->failure) != KIMI_OK) {
            fail(t);
            return 0;
        }
        if (t->body.len >= KIMI_MAX_ERROR_BODY) {
            t->error_body_full = 1;
            return 0;
        }
        return 1;
    }
    if (n > t->max_body - t->body.len) {
        kimi_error_set(&t->failure, KIMI_ETOOBIG,
                       "response: the body exceeds max_body_bytes "
                       "(%zu bytes)", t->max_body);
        t->failure.offset = t->body_bytes;
        fail_rejected(t);
        return 0;
    }
    if (kimi_buf_append(&t->body, bytes, n, &t->failure) != KIMI_OK) {
        fail(t);
        return 0;
    }
    return 1;
}

static size_t
on_write(char *bytes, size_t size, size_t nmemb, void *userdata)
{
    struct kimi_transfer *t = userdata;
    size_t n = size * nmemb;

    kimi_transfer_note_progress(t);
    t->last_activity_ms = kimi_transfer_clock_ms();
    if (t->failed) {
        return 0;
    }
    if (t->done) {
        t->body_bytes += n;
        return n;       /* whatever follows [DONE] is ignored */
    }
    if (t->stream && t->event_stream && is_success(t->status)) {
        /* Backpressure: once KIMI_QUEUE_HIGH bytes of events wait for
         * the consumer, these bytes stay with libcurl (delivered again on
         * resume).  Below it they are queued: pausing for every waiting
         * event would have libcurl copy each read aside and back. */
        if (t->queue.len > 0 && t->queue.bytes.len >= KIMI_QUEUE_HIGH) {
            t->paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
        t->body_bytes += n;
        if (kimi_events_feed(t, bytes, n, &t->failure) != KIMI_OK) {
            fail(t);
            return 0;
        }
        return n;
    }
    t->body_bytes += n;
    return collect_body(t, bytes, n) ? n : 0;
}

/* Upload progress is activity too: a server reading a large body slowly
 * is not silent. */
static int
on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
            curl_off_t ultotal, curl_off_t ulnow)
{
    struct kimi_transfer *t = userdata;
    (void)dltotal;
    (void)ultotal;
    if (ulnow != t->uploaded || dlnow != t->downloaded) {
        t->uploaded = ulnow;
        t->downloaded = dlnow;
        t->last_activity_ms = kimi_transfer_clock_ms();
    }
    return 0;
}

/* ---- setting up ------------------------------------------------------- */

/* libcurl honours http_proxy and friends; loopback (the local test server,
 * a gateway on this machine) never goes through one.  Setting
 * CURLOPT_NOPROXY replaces the no_proxy variable, so it is kept. */
static enum kimi_status
set_no_proxy(struct kimi_transfer *t, struct kimi_error *err)
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
        curl_easy_setopt(t->easy, CURLOPT_NOPROXY, t->no_proxy.data);
    }
    return st;
}

static enum kimi_status
add_header(struct kimi_transfer *t, const char *line, struct kimi_error *err)
{
    struct curl_slist *list = curl_slist_append(t->headers, line);
    if (list == NULL) {
        return kimi_error_set(err, KIMI_ENOMEM, "headers: out of memory");
    }
    t->headers = list;
    return KIMI_OK;
}

static enum kimi_status
set_headers(struct kimi_transfer *t, const struct kimi_request *req,
            struct kimi_error *err)
{
    enum kimi_status st = KIMI_OK;
    for (size_t i = 0; i < req->n_headers && st == KIMI_OK; i++) {
        st = add_header(t, req->headers[i], err);
    }
    /* No "Expect: 100-continue" round trip before large bodies (libcurl
     * asks for one above 1 MiB); below that the header would only cost
     * every request a header libcurl compares its own against. */
    if (st == KIMI_OK && req->body_len > KIMI_PROGRESS_BODY) {
        st = add_header(t, "Expect:", err);
    }
    /* Streams ask for no compression, but one sent unasked is decoded
     * (libcurl decodes whenever CURLOPT_ACCEPT_ENCODING is set; this
     * header replaces the one it would send). */
    if (st == KIMI_OK) {
        st = add_header(t, req->compressed ? "Accept-Encoding: gzip, deflate"
                                           : "Accept-Encoding: identity",
                        err);
    }
    if (st == KIMI_OK) {
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    }
    return st;
}

static void
set_tls(CURL *e, const struct kimi_tls *tls)
{
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
    if (tls->ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
    }
    if (tls->ca_dir != NULL) {
        curl_easy_setopt(e, CURLOPT_CAPATH, tls->ca_dir);
    }
    if (tls->cert_file != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, tls->cert_file);
    }
    if (tls->key_file != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, tls->key_file);
    }
}

/* The Content-Type line with the boundary is libcurl's; so is "Expect:
 * 100-continue" above 1 MiB, kept for forms: a server that refuses the
 * upload (401, 413) says so before the file is sent. */
static enum kimi_status
set_form(struct kimi_transfer *t, const struct kimi_request *req,
         struct kimi_error *err)
{
    if (req->body != NULL || req->body_len > 0) {
        return kimi_error_set(err, KIMI_EINVAL,
                              "upload: a request has a body or a form, "
                              "not both");
    }
    enum kimi_status st = kimi_form_build(&t->form, t->easy, req->form,
                                          req->n_form, err);
    if (st == KIMI_OK) {
        curl_easy_setopt(t->easy, CURLOPT_MIMEPOST, t->form.mime);
    }
    return st;
}

static enum kimi_status
set_method(struct kimi_transfer *t, const struct kimi_request *req,
           struct kimi_error *err)
{
    CURL *e = t->easy;
    if (req->n_form > 0 && strcmp(req->method, "POST") != 0) {
        return kimi_error_set(err, KIMI_EINVAL,
                              "upload: a form is sent with POST, not %.16s",
                              req->method);
    }
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        return KIMI_OK;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        return KIMI_OK;
    }
    if (strcmp(req->method, "POST") != 0) {
        return kimi_error_set(err, KIMI_EINVAL, "unsupported method %.16s",
                              req->method);
    }
    if (req->n_form > 0) {
        return set_form(t, req, err);
    }
    if (req->body_len > 0) {
        enum kimi_status st = kimi_buf_append(&t->request_body, req->body,
                                              req->body_len, err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)t->request_body.len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                     t->request_body.data ? t->request_body.data : "");
    return KIMI_OK;
}

/* Upload progress counts as activity only where a server can keep a body
 * waiting: one that fits the socket buffers is sent at once, and the
 * progress callback costs every step of every transfer.  A form's size
 * is known once its files are measured. */
static void
watch_upload(struct kimi_transfer *t)
{
    if (t->request_body.len > KIMI_PROGRESS_BODY
        || t->form.payload > (curl_off_t)KIMI_PROGRESS_BODY) {
        curl_easy_setopt(t->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(t->easy, CURLOPT_XFERINFODATA, t);
        curl_easy_setopt(t->easy, CURLOPT_NOPROGRESS, 0L);
    }
}

static void
set_options(struct kimi_transfer *t, const struct kimi_request *req,
            CURLSH *share)
{
    CURL *e = t->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_message);
    if (req->timeouts.connect_ms > 0) {
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         req->timeouts.connect_ms);
    }
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    /* gzip and deflate are decoded; max_body_bytes counts decoded bytes,
     * so a compressed bomb stops at the cap. */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
    /* Tearing a transfer down never waits for a DNS lookup to finish. */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    if (share != NULL) {
        curl_easy_setopt(e, CURLOPT_SHARE, share);
    }
    set_tls(e, &req->tls);
}

enum kimi_status
kimi_transfer_start(struct kimi_transfer *t, CURL *easy, CURLSH *share,
                    const struct kimi_request *req, struct kimi_error *err)
{
    memset(t, 0, sizeof(*t));
    t->easy = easy;
    t->generation = kimi_pool_fork_generation();
    t->stream = req->stream;
    t->dialect = req->dialect;
    t->max_body = req->max_body ? req->max_body : KIMI_MAX_BODY_DEFAULT;
    t->timeouts = req->timeouts;
    kimi_buf_init(&t->request_body, 0);
    kimi_buf_init(&t->no_proxy, 0);
    kimi_buf_init(&t->secret, 0);
    kimi_buf_init(&t->response_headers, KIMI_MAX_HEADERS);
    kimi_buf_init(&t->body, 0);
    kimi_events_init(t, req->max_event);

    set_options(t, req, share);
    enum kimi_status st = set_headers(t, req, err);
    if (st == KIMI_OK) {
        st = set_no_proxy(t, err);
    }
    if (st == KIMI_OK) {
        st = set_method(t, req, err);
    }
    if (st == KIMI_OK) {
        watch_upload(t);
    }
    if (st == KIMI_OK && req->secret != NULL) {
        st = kimi_buf_append(&t->secret, req->secret, strlen(req->secret),
                             err);
    }
    return st;
}

enum kimi_status
kimi_transfer_attach(struct kimi_transfer *t, CURLM *multi,
                     struct kimi_error *err)
{
    CURLMcode mc = curl_multi_add_handle(multi, t->easy);
    if (mc != CURLM_OK) {
        return kimi_error_set(err, KIMI_ECONNECT, "curl_multi_add_handle: %s",
                              curl_multi_strerror(mc));
    }
    t->multi = multi;
    t->attached = 1;
    t->start_ms = kimi_transfer_clock_ms();
    t->last_activity_ms = t->start_ms;
    t->last_event_ms = t->start_ms;
    return KIMI_OK;
}

void
kimi_transfer_collect(CURLM *multi)
{
    int left = 0;
    for (;;) {
        CURLMsg *msg = curl_multi_info_read(multi, &left);
        if (msg == NULL) {
            break;
        }
        char *owner = NULL;
        if (msg->msg != CURLMSG_DONE
            || curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &owner)
                   != CURLE_OK
            || owner == NULL)
        {
            continue;
        }
        struct kimi_transfer *t = (struct kimi_transfer *)owner;
        t->finished = 1;
        t->result = msg->data.result;
        /* A file of the form stopped the upload: that is the failure,
         * not libcurl's "aborted by callback". */
        if (t->form.failed && !t->failed) {
            t->failure = t->form.failure;
            fail(t);
        }
        kimi_transfer_note_progress(t);
        /* libcurl may quote a header the server sent (an echoed key). */
        if (t->curl_message[0] != '\0') {
            char clean[CURL_ERROR_SIZE];
            kimi_redact_into(clean, sizeof(clean), t->curl_message,
                             strlen(t->curl_message), t->secret.data,
                             t->secret.len);
            memcpy(t->curl_message, clean, sizeof(clean));
        }
    }
}

enum kimi_status
kimi_transfer_check_owner(const struct kimi_transfer *t,
                          struct kimi_error *err)
{
    /* The fork count, not getpid(): this runs for every step, and a
     * process that forked since the transfer started differs there. */
    if (t->generation == kimi_pool_fork_generation()) {
        return KIMI_OK;
    }
    return kimi_error_set(err, KIMI_EFORKED,
                          "transfer: opened before fork() and read in the "
                          "child (process %ld); the connection is the "
                          "parent's, open a new request in the child",
                          (long)getpid());
}

/* ---- deadlines -------------------------------------------------------- */

static int64_t
deadline(int64_t from, long limit_ms)
{
    return limit_ms > 0 ? from + limit_ms : INT64_MAX;
}

/* The event limit applies to a stream's body only. */
static int
watches_events(const struct kimi_transfer *t)
{
    return t->stream && t->headers_done && t->event_stream
           && is_success(t->status) && !t->done;
}

int64_t
kimi_transfer_next_deadline(const struct kimi_transfer *t)
{
    int64_t next = deadline(t->last_activity_ms, t->timeouts.read_ms);
    int64_t total = deadline(t->start_ms, t->timeouts.total_ms);
    if (total < next) {
        next = total;
    }
    if (watches_events(t)) {
        int64_t event = deadline(t->last_event_ms, t->timeouts.event_ms);
        if (event < next) {
            next = event;
        }
    }
    return next;
}

static enum kimi_status
timed_out(const struct kimi_transfer *t, const char *limit, long ms,
          const char *what, struct kimi_error *err)
{
    err->http_status = t->status;
    err->offset = t->body_bytes;
    err->limit = limit;
    return kimi_error_set(err, KIMI_ETIMEOUT, "timed out: %s for %.1f s "
                          "(the %s timeout)", what, ms / 1000.0, limit);
}

enum kimi_status
kimi_transfer_check_total(const struct kimi_transfer *t, int64_t now_ms,
                          struct kimi_error *err)
{
    if (now_ms >= deadline(t->start_ms, t->timeouts.total_ms)) {
        return timed_out(t, "total", t->timeouts.total_ms,
                         "the call was still running", err);
    }
    return KIMI_OK;
}

enum kimi_status
kimi_transfer_check_deadlines(struct kimi_transfer *t, int64_t now_ms,
                              struct kimi_error *err)
{
    enum kimi_status st = kimi_transfer_check_total(t, now_ms, err);
    if (st != KIMI_OK) {
        return st;
    }
    if (now_ms >= deadline(t->last_activity_ms, t->timeouts.read_ms)) {
        return timed_out(t, "read", t->timeouts.read_ms,
                         "no byte went either way", err);
    }
    if (watches_events(t)
        && now_ms >= deadline(t->last_event_ms, t->timeouts.event_ms))
    {
        return timed_out(t, "event", t->timeouts.event_ms,
                         "no data event arrived (comments do not count)",
                         err);
    }
    return KIMI_OK;
}

void
kimi_transfer_resume(struct kimi_transfer *t)
{
    if (!t->paused || t->queue.len > 0) {
        return;
    }
    t->paused = 0;
    /* The pause was the consumer's, not the server's silence. */
    t->last_activity_ms = kimi_transfer_clock_ms();
    curl_easy_pause(t->easy, CURLPAUSE_CONT);
}

/* ---- reporting -------------------------------------------------------- */

enum kimi_status
kimi_transfer_report(const struct kimi_transfer *t, struct kimi_error *err)
{
    *err = t->failure;
    if (err->http_status == 0) {
        err->http_status = t->status;
    }
    return err->status;
}

enum kimi_status
kimi_transfer_headers_state(const struct kimi_transfer *t,
                            struct kimi_error *err)
{
    if (t->headers_done) {
        return KIMI_OK;
    }
    if (t->failed) {
        return kimi_transfer_report(t, err);
    }
    if (!t->finished) {
        return KIMI_AGAIN;
    }
    if (t->result == CURLE_OK) {
        return kimi_error_set(err, KIMI_EPROTO,
                              "response: the server sent no HTTP response");
    }
    return kimi_transfer_transport_error(t, err);
}

enum kimi_status
kimi_transfer_body_state(const struct kimi_transfer *t,
                         struct kimi_error *err)
{
    if (t->failed) {
        return kimi_transfer_report(t, err);
    }
    if (!t->finished) {
        return KIMI_AGAIN;
    }
    if (t->result != CURLE_OK && !t->error_body_full) {
        return kimi_transfer_transport_error(t, err);
    }
    return KIMI_OK;
}

static int
is_certificate_error(CURLcode code)
{
    switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return 1;
    default:
        return 0;
    }
}

/* Which step libcurl was on, for a message that says what failed. */
static const char *
failed_step(const struct kimi_transfer *t)
{
    switch (t->result) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "resolve the host";
    case CURLE_COULDNT_CONNECT:
        return "connect";
    default:
        break;
    }
    if (is_certificate_error(t->result)) {
        return "TLS certificate check";
    }
    if (t->status_line == 0) {
        int sends = t->request_body.len > 0 || t->form.mime != NULL;
        return t->uploaded > 0 || !sends ? "wait for the response"
                                         : "send the request";
    }
    if (!t->headers_done) {
        return "read the response headers";
    }
    return "read the response body";
}

enum kimi_status
kimi_transfer_transport_error(const struct kimi_transfer *t,
                              struct kimi_error *err)
{
    enum kimi_status st = KIMI_ECONNECT;
    const char *note = "";
    if (t->result == CURLE_OPERATION_TIMEDOUT) {
        st = KIMI_ETIMEOUT;
        err->limit = "connect";
        note = " (the connect timeout)";
    }
    else if (is_certificate_error(t->result)) {
        st = KIMI_ECERT;
        note = " (a certificate problem: check verify= and the CA bundle)";
    }
    else if (t->result == CURLE_OUT_OF_MEMORY && !t->headers_done) {
        /* libcurl says "out of memory" for a header line over its cap; a
         * 2xx status line means the reply was produced: no retry. */
        err->curl_code = (int)t->result;
        err->http_status = t->status_line;
        err->rejected = is_success(t->status_line);
        return kimi_error_set(err, KIMI_EPROTO,
                              "read the response headers: a response header "
                              "is too large (libcurl: %s)", t->curl_message);
    }
    err->curl_code = (int)t->result;
    err->http_status = t->status;
    err->offset = t->body_bytes;
    if (t->curl_message[0] != '\0') {
        return kimi_error_set(err, st, "%s: %s: %s%s", failed_step(t),
                              curl_easy_strerror(t->result), t->curl_message,
                              note);
    }
    return kimi_error_set(err, st, "%s: %s%s", failed_step(t),
                          curl_easy_strerror(t->result), note);
}

/* ---- response headers ------------------------------------------------- */

int
kimi_transfer_next_header(const struct kimi_transfer *t, size_t *pos,
                          const char **name, size_t *name_len,
                          const char **value, size_t *value_len)
{
    return kimi_headers_next(t->response_headers.data,
                             t->response_headers.len, pos, name, name_len,
                             value, value_len);
}

int
kimi_transfer_header(const struct kimi_transfer *t, const char *name,
                     char *out, size_t out_size)
{
    const char *value = NULL;
    size_t value_len = 0;

    if (!kimi_headers_find(t->response_headers.data, t->response_headers.len,
                           name, &value, &value_len)) {
        return 0;
    }
    if (out_size > 0) {
        size_t len = value_len < out_size ? value_len : out_size - 1;
        memcpy(out, value, len);
        out[len] = '\0';
    }
    return 1;
}

void
kimi_transfer_read_error(struct kimi_transfer *t, struct kimi_api_error *out)
{
    struct kimi_error ignored;
    if (kimi_redact_in_place(&t->body, t->secret.data, t->secret.len,
                             &ignored) != KIMI_OK) {
        kimi_buf_clear(&t->body);   /* never show what could not be
                                       redacted */
    }
    /* Parsed once: the tree stays in t->server_error for the exception's
     * body.  Not JSON (or too deep): the raw text is the message. */
    cJSON *json = NULL;
    if (t->body.len == 0
        || kimi_json_parse(t->body.data, t->body.len, &json, &ignored)
               != KIMI_OK) {
        json = NULL;
    }
    kimi_apierror_from_json(out, json, t->body.data, t->body.len);
    cJSON_Delete(t->server_error);
    t->server_error = json;
    kimi_apierror_request_id_from_headers(out, t->response_headers.data,
                                          t->response_headers.len);
}

void
kimi_transfer_detach(struct kimi_transfer *t)
{
    /* In a forked child the handles are the parent's: removing the easy
     * handle would close (and, over TLS, shut down) its connection. */
    if (t->attached && t->generation == kimi_pool_fork_generation()) {
        curl_multi_remove_handle(t->multi, t->easy);
    }
    t->attached = 0;
    t->easy = NULL;
    t->multi = NULL;
}

void
kimi_transfer_free(struct kimi_transfer *t)
{
    kimi_transfer_detach(t);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    kimi_buf_free(&t->request_body);
    kimi_form_free(&t->form);
    kimi_buf_free(&t->no_proxy);
    kimi_buf_free(&t->secret);
    kimi_buf_free(&t->response_headers);
    kimi_buf_free(&t->body);
    kimi_events_free(t);
}

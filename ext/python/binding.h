/* binding.h - what the files of the Python binding share.
 *
 * The binding is thin: argument parsing, cJSON -> Python conversion, GIL
 * handling and the mapping of core errors to kimi's exception classes.  It
 * drives no transfer itself (ext/core does); it only reads libcurl's
 * version for kimi._core.curl_version.
 */
#ifndef KIMI_BINDING_H
#define KIMI_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "chunk.h"
#include "error.h"
#include "events.h"
#include "drive.h"
#include "limit.h"
#include "meter.h"
#include "pool.h"
#include "sockets.h"
#include "transfer.h"

/* Longest wait with the GIL released before signals are checked. */
#define KIMI_POLL_MS 100

#define KIMI_KEY_CACHE_SIZE 256
#define KIMI_KEY_CACHE_LEN 32

/* Interned Python strings for the JSON keys seen most, so that building a
 * chunk object allocates no key strings. */
struct kimi_key_entry {
    size_t len;
    char text[KIMI_KEY_CACHE_LEN];
    PyObject *str;
};

#define KIMI_NESTED_CACHE_SIZE 16

/* Model classes and their _nested maps, looked up once: a type attribute
 * lookup per JSON object costs more than building the object. */
struct kimi_nested_entry {
    PyObject *cls;              /* strong */
    PyObject *nested;           /* strong; Py_None when the class has none */
};

struct module_state {
    PyTypeObject *client_type;
    PyTypeObject *reactor_type;
    PyTypeObject *aexchange_type;
    PyTypeObject *runner_type;
    PyObject *pending;          /* _core.PENDING: "not yet, await wait()" */
    PyTypeObject *stream_type;
    PyTypeObject *request_type;
    PyTypeObject *limiter_type;
    PyTypeObject *meter_type;
    PyObject *APIConnectionError;
    PyObject *APITimeoutError;
    PyObject *CertificateError;
    PyObject *APIResponseValidationError;
    PyObject *StreamError;
    PyObject *LimitExceededError;
    PyObject *APIStatusError;
    PyObject *BadRequestError;          /* 400 */
    PyObject *AuthenticationError;      /* 401 */
    PyObject *PermissionDeniedError;    /* 403 */
    PyObject *NotFoundError;            /* 404 */
    PyObject *RateLimitError;           /* 429 */
    PyObject *InternalServerError;      /* 5xx */
    PyObject *ConflictError;            /* 409 */
    PyObject *UnprocessableEntityError; /* 422 */
    /* The API's error types, under their statuses' classes. */
    PyObject *InvalidRequestError;
    PyObject *ContentFilterError;
    PyObject *ResourceNotFoundError;
    PyObject *ModelNotFoundError;
    PyObject *EngineOverloadedError;
    PyObject *RateLimitReachedError;
    PyObject *QuotaExceededError;
    PyObject *ServerError;
    PyObject *object_class;     /* kimi._models.KimiObject */
    PyObject *str_nested;       /* "_nested" */
    PyObject *str_set_result;   /* "set_result", for futures */
    PyObject *str_response;     /* "_response", on every reply object */
    PyObject *empty_tuple;
    struct kimi_key_entry keys[KIMI_KEY_CACHE_SIZE];
    struct kimi_nested_entry nested[KIMI_NESTED_CACHE_SIZE];
};

/* limiter.c: one client's account limits, shared by all its calls. */
struct limiter {
    PyObject_HEAD
    struct kimi_limiter core;
};

/* meter.c: one client's usage totals, noted as its replies settle. */
struct meter {
    PyObject_HEAD
    struct kimi_meter core;
    PyObject *parent;           /* strong: the core borrows the meters of
                                   it and its ancestors */
};

struct client {
    PyObject_HEAD
    struct kimi_pool pool;
    struct limiter *limiter;    /* strong; NULL: no limits, no pauses */
    struct meter *meter;        /* strong; NULL: no totals */
    PyObject *notice;           /* strong; NULL: cut replies go untold */
    size_t max_event;
    size_t max_body;
};

/* request.c: one request, its arguments parsed once; the core struct's
 * strings point into the objects it holds. */
struct request {
    PyObject_HEAD
    struct kimi_request core;
    const char **lines;         /* UTF-8 views of headers' items */
    PyObject *method;
    PyObject *url;
    PyObject *headers;          /* tuple of "Name: value" str */
    PyObject *body;             /* bytes or None */
    PyObject *ca_file;
    PyObject *ca_dir;
    PyObject *cert_file;
    PyObject *key_file;
    PyObject *secret;           /* str or None */
    PyObject *result_class;     /* class of a reply, None for bytes */
    PyObject *chunk_class;      /* class of a stream's chunks */
    PyObject *form;             /* tuple of part tuples, or None */
    struct kimi_form_part *parts;   /* views into form's items */
    long budget;                /* completion tokens it may produce */
    long tokens;                /* what limits count it as; -1: not yet */
};

extern PyType_Spec kimi_request_spec;

extern PyType_Spec kimi_limiter_spec;

extern PyType_Spec kimi_meter_spec;

/* meter.c: count one reply of model (len bytes) with usage (may be NULL)
 * in the client's totals, when it keeps them. */
void kpy_meter_note(struct client *client, const char *model, size_t len,
                    const cJSON *usage);

/* meter.c: count a stream that was answered (2xx) once it ends, with the
 * usage it carried, if any. */
void kpy_meter_note_stream(struct client *client,
                           const struct kimi_transfer *t);

/* limiter.c: the tokens r counts against l's windows: its prompt
 * estimate plus its completion budget, or 0 when l limits no tokens. */
long kpy_request_tokens(struct limiter *l, struct request *r);

/* limiter.c: admit a request now: 0 with *ticket; 1 with *wait_ms when
 * it must wait; -1 with kimi.LimitExceededError (or MemoryError) set. */
int kpy_limiter_try(struct limiter *l, long tokens,
                    struct kimi_ticket *ticket, int64_t *wait_ms);

/* limiter.c: admit a request, sleeping with the GIL released until it
 * fits: 0 with *ticket, or -1 with the exception set (a refusal, a
 * signal handler's, or APITimeoutError once deadline_ms, a time of
 * kimi_transfer_clock_ms() or 0 for none, passed). */
int kpy_limiter_admit(struct limiter *l, long tokens, int64_t deadline_ms,
                      struct kimi_ticket *ticket);

/* limiter.c: the request is over; real_tokens replaces its estimate (-1
 * keeps it).  l may be NULL; a zeroed ticket is ignored. */
void kpy_limiter_settle(struct limiter *l, struct kimi_ticket *ticket,
                        long real_tokens);

/* limiter.c: what a usage object says a request counted (total_tokens,
 * else prompt + completion), or -1 when it says nothing usable. */
long kpy_usage_tokens(const cJSON *usage);

/* request.c: seconds (a number, or None) as whole milliseconds for the
 * core: None and 0 give 0 ("no limit"), anything else at least 1 and at
 * most INT_MAX.  -1 with an exception for a negative or non-number. */
int kpy_seconds_to_ms(PyObject *value, const char *name, long *out);

struct module_state *kimi_state_of_type(PyTypeObject *type);

/* Deepest JSON nesting converted to Python objects. */
#define KIMI_MAX_DEPTH 256

/* convert.c: a cJSON tree as Python objects.  cls (borrowed, may be NULL)
 * is the class for an object node; its _nested dict names the classes of
 * its members.  cls == &PyDict_Type yields plain dicts all the way down.
 * Returns a new reference, or NULL with an exception set (ValueError for
 * a tree deeper than KIMI_MAX_DEPTH). */
PyObject *kimi_convert(struct module_state *st, const cJSON *node,
                       PyObject *cls);
void kimi_convert_clear_caches(struct module_state *st);

/* convert.c: a body for an exception: node as plain dicts and lists, or,
 * when it is too deep for that, its JSON text.  New reference or NULL. */
PyObject *kimi_convert_or_text(struct module_state *st, const cJSON *node);

/* convert.c: _core.parse(data, cls). */
PyObject *kpy_parse(PyObject *module, PyObject *args);

/* errors.c: the exception for a core failure (new reference, or NULL
 * with another exception set).  Truncated streams and server error events
 * are StreamError; in_stream makes malformed and oversized data StreamError
 * too (else APIConnectionError).  body (borrowed, may be NULL) becomes the
 * exception's body. */
PyObject *kimi_exception_new(struct module_state *st,
                             const struct kimi_error *err, int in_stream,
                             PyObject *body);

/* errors.c: raise kimi_exception_new(...); always returns NULL. */
PyObject *kimi_raise(struct module_state *st, const struct kimi_error *err,
                     int in_stream, PyObject *body);

/* errors.c: raise the exception for err with the exception being raised
 * now as its __cause__; always returns NULL. */
PyObject *kimi_raise_from_current(struct module_state *st,
                                  const struct kimi_error *err,
                                  int in_stream);

/* errors.c: raise the APIStatusError subclass for a finished non-2xx
 * response (its body is redacted and read in the core first). */
/* errors.c: _core.status_error(status, body). */
PyObject *kpy_status_error(PyObject *module, PyObject *args);

PyObject *kimi_raise_status(struct module_state *st, struct kimi_transfer *t);

/* errors.c: type, code and request_id of what the server said, set on
 * exc (a StatusError or StreamError); -1 with an exception on failure. */
int kimi_set_api_fields(PyObject *exc, const struct kimi_api_error *api);

/* errors.c: response headers as a dict with lower-case names. */
PyObject *kimi_headers_dict(const struct kimi_transfer *t);

/* exchange.c: what kpy_wait waits for. */
enum kpy_step {
    KPY_HEADERS,    /* the status and headers */
    KPY_BODY,       /* the whole body */
    KPY_EVENT       /* one event (*event) or the end of the stream */
};

/* exchange.c: drive the transfer with the GIL released until the step
 * stops saying KIMI_AGAIN, checking for signals between slices.  Returns
 * KIMI_ECANCELLED with a Python exception set when a signal handler
 * raised, or without one when *stop (may be NULL) became true. */
enum kimi_status kpy_wait(struct kimi_transfer *t, enum kpy_step step,
                          cJSON **event, const int *stop,
                          struct kimi_error *err);

/* exchange.c: check out a lane into *lane, start req on t and wait for
 * the status (and, with whole_body, the body).  t need not be zeroed:
 * it is initialised here whatever happens.  0 when the status is 2xx;
 * -1 with the exception set otherwise (a non-2xx status raises its
 * APIStatusError once its body is read).  The caller frees t and checks
 * *lane in either way. */
int kpy_exchange_open(struct module_state *st, struct kimi_pool *pool,
                      const struct kimi_request *req,
                      struct kimi_transfer *t, struct kimi_lane **lane,
                      int whole_body);

/* stream.c */
extern PyType_Spec kimi_stream_spec;
/* reading.c: how a stream is read. */
enum kpy_read_mode {
    KPY_READ_CHUNKS,    /* yield chunk objects */
    KPY_READ_TEXT,      /* yield content strings only */
    KPY_READ_DRAIN      /* assemble the reply, yield nothing */
};

/* reading.c: what a stream's reader keeps, sync or async. */
struct kpy_reader {
    PyObject *chunk_class;
    PyObject *completion_class;
    PyObject *headers;          /* dict, built when the stream opens */
    PyObject *failure;          /* the exception that ended it, if any */
    long status;
    int completed;              /* data: [DONE] arrived */
};

/* reading.c: what one result of kimi_events_next (status, and event,
 * whose ownership passes here) gives the reader in mode: a new reference
 * to a chunk or a str; NULL with *over false when it yields nothing
 * (read on); NULL with *over true when the stream is over: complete (no
 * exception) or failed (the exception set, and kept for final()). */
PyObject *kpy_reader_take(struct module_state *st, struct kpy_reader *r,
                          const struct kimi_transfer *t,
                          enum kpy_read_mode mode, enum kimi_status status,
                          cJSON *event, const struct kimi_error *err,
                          int *over);

/* reading.c: the assembled ChatCompletion once the stream is over, or
 * the exception that ended it. */
PyObject *kpy_reader_final(struct module_state *st, struct kpy_reader *r,
                           const struct kimi_transfer *t);

int kpy_reader_traverse(struct kpy_reader *r, visitproc visit, void *arg);
void kpy_reader_clear(struct kpy_reader *r);

/* exchange.c: request as it runs for client: the client's caps, and
 * total (seconds or None: the request's own) as its total limit.  0, or
 * -1 with an exception. */
int kpy_request_for(struct client *client, struct request *request,
                    PyObject *total, struct kimi_request *req);

/* exchange.c: admit request by the client's limits without waiting, as
 * kpy_limiter_try (0 with no limiter). */
int kpy_admit_now(struct client *client, struct request *request,
                  struct kimi_ticket *ticket, int64_t *wait_ms);

/* exchange.c: the body of a finished non-streaming 2xx response as
 * Python objects (bytes when result_class is None); *tokens is what its
 * usage says it counted (-1: unknown).  A body that is not JSON, or too
 * deep to build, raises APIResponseValidationError (never retried).  A
 * metered reply (a chat completion) is counted in the client's usage
 * totals, with or without a usage member, and a
 * KimiObject result gets _response = (status, raw header block).  In a
 * dialect with envelopes, a {"success": false, "errors": [...]} body
 * raises its APIStatusError (kimi_raise_status), whatever the status. */
PyObject *kpy_parse_reply(struct module_state *st, struct client *client,
                          struct kimi_transfer *t,
                          PyObject *result_class, int metered, long *tokens);

/* notice.c: tell the client's notice callable of a reply (its parsed
 * body) or a stream read to its end (its accumulator) that a choice was
 * cut by the token budget (finish_reason "length").  0, or -1 with the
 * callable's exception (a warning turned into an error). */
int kpy_notice_reply(struct client *client, const cJSON *json);
int kpy_notice_stream(struct client *client, const struct kimi_accum *acc);

/* slots.c: numbered easy handles of one lane, for the transfers that
 * share its multi handle. */
struct kpy_slots {
    size_t *free;           /* numbers to reuse */
    size_t n_free;
    size_t next;            /* the next number never handed out */
};

int kpy_slots_init(struct kpy_slots *s);

/* 0 with *slot and its *easy; 1 when all KIMI_LANE_MAX_EASY are busy;
 * -1 with err when the easy handle cannot be made. */
int kpy_slots_take(struct kpy_slots *s, struct kimi_lane *lane, size_t *slot,
                   CURL **easy, struct kimi_error *err);
void kpy_slots_give(struct kpy_slots *s, size_t slot);
void kpy_slots_free(struct kpy_slots *s);

/* reactor.c and aexchange.c: requests on an asyncio loop. */
enum kpy_want {
    KPY_WANT_HEADERS,   /* a stream waits for its status */
    KPY_WANT_BODY,      /* a reply (or an error body) waits to be whole */
    KPY_WANT_EVENTS,    /* an open stream waits for events */
    KPY_WANT_END,       /* a stream read to [DONE] lets its body end */
    KPY_WANT_NOTHING    /* over, or closed */
};

struct aexchange;

struct reactor {
    PyObject_HEAD
    struct client *client;          /* strong: pool, limiter, caps */
    PyObject *loop;                 /* strong */
    struct kimi_lane *lane;         /* checked out; NULL once closed */
    struct kimi_sockets sockets;
    PyObject *timer;                /* libcurl's timer (a TimerHandle) */
    int64_t timer_due_ms;           /* when it fires */
    int64_t wanted_ms;              /* when libcurl last asked to be woken;
                                       -1: not at all */
    PyObject *deadline;             /* the next deadline check */
    int64_t deadline_at;            /* when it fires; INT64_MAX: never */
    unsigned char *watch;           /* per fd: what the loop watches */
    size_t n_watch;
    struct aexchange **active;      /* borrowed: each removes itself */
    size_t n_active;
    size_t cap_active;
    struct kpy_slots slots;
    struct aexchange **by_slot;     /* borrowed: the exchange on each easy
                                       handle, NULL when none */
    struct kimi_progress progress;  /* the slots of transfers that moved */
    PyObject *slot_waiters;         /* list of futures */
    /* The loop's methods and the reactor's callbacks, looked up once. */
    PyObject *add_reader;
    PyObject *remove_reader;
    PyObject *add_writer;
    PyObject *remove_writer;
    PyObject *call_soon;
    PyObject *call_later;
    PyObject *create_future;
    PyObject *is_closed;
    PyObject *readable;
    PyObject *writable;
    PyObject *on_timer;
    PyObject *on_deadline;
};

struct aexchange {
    PyObject_HEAD
    struct kimi_transfer transfer;
    struct reactor *reactor;        /* strong */
    struct request *request;        /* strong */
    struct kimi_ticket ticket;
    struct kpy_reader reader;
    PyObject *waiter;               /* the future wait() gave, or NULL;
                                       while set, the reactor holds the
                                       exchange (a task awaiting it is
                                       reachable only through it) */
    size_t slot;                    /* its easy handle's number */
    size_t index;                   /* its place in reactor->active */
    int64_t linger_until;
    long tokens;                    /* for the limiter; -1: estimate */
    enum kpy_want want;
    int attached;                   /* on the lane; detach undoes it */
    int stream;
    int metered;                    /* counted in the usage totals */
    int closed;                     /* close() or the client's close */
};

/* How long a stream read to [DONE] waits for its body's end. */
#define KPY_LINGER_MS 20

extern PyType_Spec kimi_reactor_spec;
extern PyType_Spec kimi_runner_spec;
extern PyType_Spec kimi_aexchange_spec;

/* reactor.c: give the loop libcurl's latest wishes (sockets, timer).
 * 0, or -1 with an exception when the loop refused one. */
int kpy_reactor_apply(struct reactor *r);

/* reactor.c: 1 in a forked child of the process that made the reactor:
 * its loop and handles are the parent's, and are never touched. */
int kpy_reactor_forked(const struct reactor *r);

/* reactor.c: have the deadline check run by time at (a clock time of
 * kimi_transfer_clock_ms). */
void kpy_reactor_deadline(struct reactor *r, int64_t at);

int kpy_reactor_add(struct reactor *r, struct aexchange *ex);
void kpy_reactor_remove(struct reactor *r, struct aexchange *ex);
void kpy_reactor_give_slot(struct reactor *r, size_t slot);

/* reactor.c: fut.set_result(None) unless it is done (cancelled); 1 when
 * it was resolved.  Never leaves an exception set. */
int kpy_resolve_future(struct module_state *st, PyObject *fut);

/* aexchange.c */
PyObject *kpy_reactor_start(struct reactor *r, PyObject *args);
int kpy_aexchange_ready(struct aexchange *ex);
void kpy_aexchange_wake(struct aexchange *ex);
/* Leave the lane: settle the ticket, free the easy handle; keeps any
 * exception being raised. */
void kpy_aexchange_detach(struct aexchange *ex);
/* End as closed (the client was closed), waking its task. */
void kpy_aexchange_abort(struct aexchange *ex);

/* stream.c: open a stream for req; it takes over *ticket (settled when
 * the stream ends, with the reply's usage when it came). */
PyObject *kimi_stream_open(struct module_state *st, struct client *client,
                           struct request *request,
                           const struct kimi_request *req,
                           struct kimi_ticket *ticket);

/* client.c */
extern PyType_Spec kimi_client_spec;

/* retry.c: retry_delay(outcome, status, type, code, retry_after, attempt,
 * max_retries, jitter) -> seconds to wait, or None to stop. */
PyObject *kpy_retry_delay(PyObject *module, PyObject *args,
                          PyObject *kwargs);

#endif

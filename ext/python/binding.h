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
#include "pool.h"
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
    PyTypeObject *stream_type;
    PyTypeObject *request_type;
    PyTypeObject *limiter_type;
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
    PyObject *object_class;     /* kimi._models.KimiObject */
    PyObject *str_nested;       /* "_nested" */
    PyObject *empty_tuple;
    struct kimi_key_entry keys[KIMI_KEY_CACHE_SIZE];
    struct kimi_nested_entry nested[KIMI_NESTED_CACHE_SIZE];
};

/* limiter.c: one client's account limits, shared by all its calls. */
struct limiter {
    PyObject_HEAD
    struct kimi_limiter core;
};

struct client {
    PyObject_HEAD
    struct kimi_pool pool;
    struct limiter *limiter;    /* strong; NULL: no limits, no pauses */
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
    long budget;                /* completion tokens it may produce */
    long tokens;                /* what limits count it as; -1: not yet */
};

extern PyType_Spec kimi_request_spec;

extern PyType_Spec kimi_limiter_spec;

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

/* errors.c - core failures and HTTP error responses as kimi exceptions.
 *
 * The classes come from kimi/_exceptions.py (looked up at module exec), so
 * C and Python raise the same types, built here with all their fields.
 * The core never puts request headers (the API key) in a message, and
 * redacts what a server echoes back before anything reads it.
 */
#include "binding.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#include "dialect.h"
#include "json.h"
#include "retry.h"

/* The most specific class for a core failure. */
static PyObject *
class_for(struct module_state *st, const struct kimi_error *err,
          int in_stream)
{
    if (err->rejected && !in_stream) {
        return st->APIResponseValidationError;
    }
    switch (err->status) {
    case KIMI_ENOMEM:
        return PyExc_MemoryError;
    case KIMI_EINVAL:
        return PyExc_ValueError;
    case KIMI_EFILE:
        return PyExc_OSError;
    case KIMI_ETIMEOUT:
        return st->APITimeoutError;
    case KIMI_ECERT:
        return st->CertificateError;
    case KIMI_ETRUNCATED:
    case KIMI_ESERVER:
        return st->StreamError;
    case KIMI_EFORKED:
        return in_stream ? st->StreamError : st->APIConnectionError;
    case KIMI_EPROTO:
    case KIMI_ETOOBIG:
        return in_stream ? st->StreamError : st->APIConnectionError;
    default:
        return st->APIConnectionError;
    }
}

static int
set_attr_long(PyObject *obj, const char *name, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL) {
        return -1;
    }
    int rc = PyObject_SetAttrString(obj, name, v);
    Py_DECREF(v);
    return rc;
}

static int
set_attr_str(PyObject *obj, const char *name, const char *value)
{
    PyObject *v = PyUnicode_FromString(value);
    if (v == NULL) {
        return -1;
    }
    int rc = PyObject_SetAttrString(obj, name, v);
    Py_DECREF(v);
    return rc;
}

PyObject *
kimi_exception_new(struct module_state *st, const struct kimi_error *err,
                   int in_stream, PyObject *body)
{
    PyObject *cls = class_for(st, err, in_stream);
    const char *message = err->message[0] ? err->message
                                          : kimi_strerror(err->status);
    /* The server's text may be cut inside a character or not UTF-8. */
    PyObject *text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message),
                                          "replace");
    if (text == NULL) {
        return NULL;
    }
    /* OSError(errno, text) is the subclass for errno, FileNotFoundError
     * say, as open() would raise it. */
    PyObject *exc = cls == PyExc_OSError && err->sys_errno != 0
                        ? PyObject_CallFunction(cls, "iO", err->sys_errno,
                                                text)
                        : PyObject_CallOneArg(cls, text);
    Py_DECREF(text);
    if (exc == NULL) {
        return NULL;
    }
    if (cls == PyExc_MemoryError || cls == PyExc_ValueError
        || cls == PyExc_OSError) {
        return exc;
    }
    if ((err->curl_code && set_attr_long(exc, "curl_code", err->curl_code))
        || (err->http_status
            && set_attr_long(exc, "status_code", err->http_status))
        || set_attr_long(exc, "offset", (long long)err->offset)
        || (err->limit != NULL
            && set_attr_str(exc, "limit", err->limit) < 0)
        || (body != NULL && PyObject_SetAttrString(exc, "body", body))) {
        Py_DECREF(exc);
        return NULL;
    }
    return exc;
}

PyObject *
kimi_raise(struct module_state *st, const struct kimi_error *err,
           int in_stream, PyObject *body)
{
    PyObject *exc = kimi_exception_new(st, err, in_stream, body);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *
kimi_raise_from_current(struct module_state *st, const struct kimi_error *err,
                        int in_stream)
{
    PyObject *type = NULL;
    PyObject *cause = NULL;
    PyObject *traceback = NULL;

    PyErr_Fetch(&type, &cause, &traceback);
    PyErr_NormalizeException(&type, &cause, &traceback);
    if (cause != NULL && traceback != NULL) {
        PyException_SetTraceback(cause, traceback);
    }
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    PyObject *exc = kimi_exception_new(st, err, in_stream, NULL);
    if (exc == NULL) {
        Py_XDECREF(cause);
        return NULL;
    }
    if (cause != NULL) {
        PyException_SetContext(exc, Py_NewRef(cause));
        PyException_SetCause(exc, cause);   /* steals cause */
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *
kimi_headers_dict(const struct kimi_transfer *t)
{
    size_t pos = 0;
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;
    PyObject *dict = PyDict_New();
    if (dict == NULL) {
        return NULL;
    }
    while (kimi_transfer_next_header(t, &pos, &name, &name_len, &value,
                                     &value_len)) {
        char lower[128];
        if (name_len >= sizeof(lower)) {
            continue;       /* no header of interest is that long */
        }
        for (size_t i = 0; i < name_len; i++) {
            lower[i] = (char)tolower((unsigned char)name[i]);
        }
        PyObject *key = PyUnicode_DecodeLatin1(lower, (Py_ssize_t)name_len,
                                               NULL);
        PyObject *val = PyUnicode_DecodeLatin1(value, (Py_ssize_t)value_len,
                                               NULL);
        /* The first of repeated headers wins, as in kimi_transfer_header. */
        int rc = key != NULL && val != NULL
                     && PyDict_SetDefault(dict, key, val) != NULL
                     ? 0
                     : -1;
        Py_XDECREF(key);
        Py_XDECREF(val);
        if (rc < 0) {
            Py_DECREF(dict);
            return NULL;
        }
    }
    return dict;
}

/* The most specific class for an HTTP status (borrowed). */
static PyObject *
status_class(struct module_state *st, long status)
{
    switch (status) {
    case 400:
        return st->BadRequestError;
    case 401:
        return st->AuthenticationError;
    case 403:
        return st->PermissionDeniedError;
    case 404:
        return st->NotFoundError;
    case 409:
        return st->ConflictError;
    case 422:
        return st->UnprocessableEntityError;
    case 429:
        return st->RateLimitError;
    default:
        return status >= 500 ? st->InternalServerError : st->APIStatusError;
    }
}

/* The class of the API's error type (../shared/kimi-api.md section 8)
 * when it comes with the status the platform sends it with, else NULL:
 * a type under another status keeps that status's class, so the class
 * never contradicts the status.  Borrowed. */
static PyObject *
type_class(struct module_state *st, long status,
           const struct kimi_api_error *api)
{
    const char *type = api->type;
    switch (status) {
    case 400:
        return strcmp(type, "invalid_request_error") == 0 ? st->InvalidRequestError
               : strcmp(type, "content_filter") == 0      ? st->ContentFilterError
                                                          : NULL;
    case 404:
        if (strcmp(type, "resource_not_found_error") != 0) {
            return NULL;
        }
        /* "Not found the model {id} or Permission denied" */
        return strstr(api->message, "the model") != NULL
                   ? st->ModelNotFoundError
                   : st->ResourceNotFoundError;
    case 429:
        return strcmp(type, "engine_overloaded_error") == 0 ? st->EngineOverloadedError
               : strcmp(type, "rate_limit_reached_error") == 0
                   ? st->RateLimitReachedError
               : strcmp(type, "exceeded_current_quota_error") == 0
                   ? st->QuotaExceededError
                   : NULL;
    case 500:
        return strcmp(type, "server_error") == 0 ? st->ServerError : NULL;
    default:
        return NULL;
    }
}

/* A str of a NUL-terminated field, or None when it is empty. */
static PyObject *
field_or_none(const char *text)
{
    if (text[0] == '\0') {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
}

int
kimi_set_api_fields(PyObject *exc, const struct kimi_api_error *api)
{
    PyObject *type = field_or_none(api->type);
    PyObject *code = api->code_is_number
                         ? PyLong_FromLongLong(api->code_number)
                         : field_or_none(api->code);
    PyObject *request_id = field_or_none(api->request_id);
    int rc = -1;
    if (type != NULL && code != NULL && request_id != NULL
        && PyObject_SetAttrString(exc, "type", type) == 0
        && PyObject_SetAttrString(exc, "code", code) == 0
        && PyObject_SetAttrString(exc, "request_id", request_id) == 0) {
        rc = 0;
    }
    Py_XDECREF(type);
    Py_XDECREF(code);
    Py_XDECREF(request_id);
    return rc;
}

/* What exc.body holds of a JSON error body, as openai-python has it: the
 * "error" member of an object that has one, else the whole body. */
static PyObject *
json_error_body(struct module_state *st, const cJSON *json)
{
    const cJSON *inner = cJSON_IsObject(json)
                             ? kimi_json_member(json, "error")
                             : NULL;
    return kimi_convert_or_text(st, inner != NULL ? inner : json);
}

/* The body as exc.body: JSON (the tree kimi_transfer_read_error kept)
 * as plain dicts and lists (see json_error_body), or its text when too
 * deep for that; other text as str; nothing as None. */
static PyObject *
error_body(struct module_state *st, const struct kimi_transfer *t)
{
    if (t->server_error != NULL) {
        return json_error_body(st, t->server_error);
    }
    if (t->body.len == 0) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8(t->body.data, (Py_ssize_t)t->body.len,
                                "replace");
}

/* Seconds the server asked to wait, or None. */
static PyObject *
retry_after(const struct kimi_transfer *t, const struct kimi_api_error *api)
{
    double wait = kimi_retry_after(t->response_headers.data,
                                   t->response_headers.len, api->message,
                                   time(NULL));
    if (wait < 0) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(wait);
}

/* "HTTP 429 rate_limit_reached_error: <message> (request id <id>)" */
static PyObject *
status_message(long status, const struct kimi_api_error *api)
{
    char detail[KIMI_ERROR_MESSAGE_MAX];
    kimi_apierror_describe(api, detail, sizeof(detail));
    const char *sep = api->type[0] != '\0' || api->code[0] != '\0' ? " "
                                                                   : ": ";
    return PyUnicode_FromFormat("HTTP %ld%s%s", status, sep, detail);
}

/* The typed exception for a status and what its error body said; body,
 * headers and wait are stolen (none NULL). */
static PyObject *
status_error(struct module_state *st, long status,
             const struct kimi_api_error *api, PyObject *body,
             PyObject *headers, PyObject *wait)
{
    PyObject *exc = NULL;
    PyObject *kwargs = NULL;
    PyObject *message = status_message(status, api);
    PyObject *args = message != NULL ? PyTuple_Pack(1, message) : NULL;
    if (args != NULL) {
        kwargs = Py_BuildValue("{s:l,s:O,s:O,s:O}", "status_code", status,
                               "body", body, "headers", headers,
                               "retry_after", wait);
    }
    if (kwargs != NULL) {
        PyObject *cls = type_class(st, status, api);
        exc = PyObject_Call(cls != NULL ? cls : status_class(st, status),
                            args, kwargs);
    }
    if (exc != NULL && kimi_set_api_fields(exc, api) < 0) {
        Py_CLEAR(exc);
    }
    Py_XDECREF(message);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(body);
    Py_XDECREF(headers);
    Py_XDECREF(wait);
    return exc;
}

PyObject *
kimi_raise_status(struct module_state *st, struct kimi_transfer *t)
{
    struct kimi_api_error api;
    kimi_transfer_read_error(t, &api);
    /* One at a time: no call is made with an exception pending. */
    PyObject *body = error_body(st, t);
    PyObject *headers = body != NULL ? kimi_headers_dict(t) : NULL;
    PyObject *wait = headers != NULL ? retry_after(t, &api) : NULL;
    if (wait == NULL) {
        Py_XDECREF(body);
        Py_XDECREF(headers);
        return NULL;
    }
    long status = t->dialect != 0
                      ? kimi_dialect_error(t->dialect, &api, t->status)
                      : t->status;
    PyObject *exc = status_error(st, status, &api, body, headers, wait);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* status_error(status, body): the exception a reply with this status and
 * error body (bytes) would raise, built as the transfer's are: for the
 * answers that come inside other replies (the lines of a batch's error
 * file). */
PyObject *
kpy_status_error(PyObject *module, PyObject *args)
{
    struct module_state *st = PyModule_GetState(module);
    long status;
    const char *raw;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "ly#:status_error", &status, &raw, &len)) {
        return NULL;
    }
    if (status < 400 || status > 999) {
        PyErr_SetString(PyExc_ValueError,
                        "status_error: not an HTTP error status");
        return NULL;
    }
    struct kimi_error ignored;
    cJSON *json = NULL;
    if (len == 0
        || kimi_json_parse(raw, (size_t)len, &json, &ignored) != KIMI_OK) {
        json = NULL;
    }
    struct kimi_api_error api;
    kimi_apierror_from_json(&api, json, raw, (size_t)len);
    PyObject *body = json != NULL ? json_error_body(st, json)
                     : len > 0   ? PyUnicode_DecodeUTF8(raw, len, "replace")
                                 : Py_NewRef(Py_None);
    cJSON_Delete(json);
    PyObject *headers = body != NULL ? PyDict_New() : NULL;
    double seconds = kimi_retry_after(NULL, 0, api.message, time(NULL));
    PyObject *wait = headers == NULL ? NULL
                     : seconds < 0   ? Py_NewRef(Py_None)
                                     : PyFloat_FromDouble(seconds);
    if (wait == NULL) {
        Py_XDECREF(body);
        Py_XDECREF(headers);
        return NULL;
    }
    return status_error(st, status, &api, body, headers, wait);
}

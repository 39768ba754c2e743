/* errors.c - core failures and HTTP error responses as kimi exceptions.
 *
 * The classes come from kimi/_exceptions.py (looked up at module exec), so
 * C and Python raise the same types.  The core never puts request headers
 * (the API key) in a message; text a server echoes back is redacted by the
 * callers (stream.c for stream errors, kimi/_client.py for statuses).
 */
#include "binding.h"

#include <ctype.h>
#include <string.h>

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
    PyObject *exc = PyObject_CallOneArg(cls, text);
    Py_DECREF(text);
    if (exc == NULL) {
        return NULL;
    }
    if (cls == PyExc_MemoryError || cls == PyExc_ValueError) {
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

PyObject *
kimi_raise_status(struct module_state *st, const struct kimi_transfer *t)
{
    PyObject *body = NULL;
    PyObject *headers = NULL;
    PyObject *exc = NULL;

    body = PyBytes_FromStringAndSize(t->body.data ? t->body.data : "",
                                     (Py_ssize_t)t->body.len);
    if (body == NULL) {
        goto error;
    }
    headers = kimi_headers_dict(t);
    if (headers == NULL) {
        goto error;
    }
    exc = PyObject_CallFunction(st->status_error, "lOO", t->status, body,
                                headers);
    if (exc == NULL) {
        goto error;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
error:
    Py_XDECREF(body);
    Py_XDECREF(headers);
    Py_XDECREF(exc);
    return NULL;
}

/* errors.c - core failures and HTTP error responses as kimi exceptions.
 *
 * The classes come from kimi/_exceptions.py (looked up at module exec), so
 * C and Python raise the same types.  Messages never contain the API key:
 * the core never sees request headers in its messages.
 */
#include "binding.h"

#include <ctype.h>
#include <string.h>

/* The most specific class for a core status. */
static PyObject *
class_for(struct module_state *st, enum kimi_status status, int in_stream)
{
    switch (status) {
    case KIMI_ENOMEM:
        return PyExc_MemoryError;
    case KIMI_EINVAL:
        return PyExc_ValueError;
    case KIMI_ETIMEOUT:
        return st->APITimeoutError;
    case KIMI_ETRUNCATED:
    case KIMI_ESERVER:
        return st->StreamError;
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

PyObject *
kimi_raise(struct module_state *st, const struct kimi_error *err,
           int in_stream, PyObject *body)
{
    PyObject *cls = class_for(st, err->status, in_stream);
    const char *message = err->message[0] ? err->message
                                          : kimi_strerror(err->status);
    if (cls == PyExc_MemoryError || cls == PyExc_ValueError) {
        PyErr_SetString(cls, message);
        return NULL;
    }
    PyObject *exc = PyObject_CallFunction(cls, "s", message);
    if (exc == NULL) {
        return NULL;
    }
    if ((err->curl_code && set_attr_long(exc, "curl_code", err->curl_code))
        || (err->http_status
            && set_attr_long(exc, "status_code", err->http_status))
        || set_attr_long(exc, "offset", (long long)err->offset)
        || (body != NULL && PyObject_SetAttrString(exc, "body", body))) {
        Py_DECREF(exc);
        return NULL;
    }
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *
kimi_headers_dict(const struct kimi_transfer *t)
{
    PyObject *dict = PyDict_New();
    if (dict == NULL) {
        return NULL;
    }
    const char *p = t->response_headers.data;
    const char *end = p + t->response_headers.len;
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol != NULL ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon != NULL) {
            const char *v = colon + 1;
            const char *v_end = line_end;
            while (v < v_end && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (v_end > v && (v_end[-1] == '\r' || v_end[-1] == ' ')) {
                v_end--;
            }
            PyObject *name = PyUnicode_DecodeLatin1(
                p, (Py_ssize_t)(colon - p), NULL);
            PyObject *lower = name ? PyObject_CallMethod(name, "lower", NULL)
                                   : NULL;
            PyObject *value = PyUnicode_DecodeLatin1(
                v, (Py_ssize_t)(v_end - v), NULL);
            int rc = -1;
            if (lower != NULL && value != NULL) {
                rc = PyDict_SetDefault(dict, lower, value) ? 0 : -1;
            }
            Py_XDECREF(name);
            Py_XDECREF(lower);
            Py_XDECREF(value);
            if (rc < 0) {
                Py_DECREF(dict);
                return NULL;
            }
        }
        p = eol != NULL ? eol + 1 : NULL;
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

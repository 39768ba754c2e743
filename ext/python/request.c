/* request.c - the _core.Request type: one request, checked and parsed once.
 *
 * Python shapes a request (kimi/_base_client.py) and builds a Request; its
 * arguments are parsed here once into a struct kimi_request whose strings
 * point into the Python objects it holds, so a retry sends the same value
 * again without parsing anything.  Immutable once built.
 */
#include "binding.h"

#include <limits.h>
#include <math.h>
#include <string.h>

int
kpy_seconds_to_ms(PyObject *value, const char *name, long *out)
{
    *out = 0;
    if (value == Py_None) {
        return 0;
    }
    double seconds = PyFloat_AsDouble(value);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (!(seconds >= 0.0)) {
        PyErr_Format(PyExc_ValueError, "Request: %s must be >= 0", name);
        return -1;
    }
    if (seconds == 0.0) {
        return 0;
    }
    double ms = ceil(seconds * 1000.0);
    *out = ms > (double)INT_MAX ? INT_MAX : (long)ms;
    return 0;
}

/* UTF-8 of a str held by the request (valid while it lives), or NULL for
 * None. */
static int
utf8_or_null(PyObject *value, const char *name, const char **out)
{
    *out = NULL;
    if (value == Py_None) {
        return 0;
    }
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "Request: %s must be a str or None",
                     name);
        return -1;
    }
    *out = PyUnicode_AsUTF8(value);
    return *out == NULL ? -1 : 0;
}

/* Borrowed UTF-8 views of the header lines (valid while the tuple lives).
 * A line with a NUL would be cut short by libcurl: refused. */
static int
header_lines(struct request *self)
{
    Py_ssize_t n = PyTuple_GET_SIZE(self->headers);
    self->lines = PyMem_Calloc((size_t)(n ? n : 1), sizeof(char *));
    if (self->lines == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(self->headers, i);
        Py_ssize_t len = 0;
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "Request: headers must be str");
            return -1;
        }
        self->lines[i] = PyUnicode_AsUTF8AndSize(item, &len);
        if (self->lines[i] == NULL) {
            return -1;
        }
        if (strlen(self->lines[i]) != (size_t)len) {
            PyErr_SetString(PyExc_ValueError,
                            "Request: a header contains NUL");
            return -1;
        }
    }
    self->core.headers = self->lines;
    self->core.n_headers = (size_t)n;
    return 0;
}

/* UTF-8 of a str (or NULL for None when may_be_none) without NUL, which
 * libcurl would cut the string at; CR and LF too when no_newline (a
 * header value). */
static int
form_text(PyObject *value, const char *what, Py_ssize_t i, int may_be_none,
          int no_newline, const char **out)
{
    Py_ssize_t len = 0;
    *out = NULL;
    if (value == Py_None && may_be_none) {
        return 0;
    }
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "Request: form part %zd: %s must be a "
                     "str%s", i, what, may_be_none ? " or None" : "");
        return -1;
    }
    *out = PyUnicode_AsUTF8AndSize(value, &len);
    if (*out == NULL) {
        return -1;
    }
    if (strlen(*out) != (size_t)len
        || (no_newline && strpbrk(*out, "\r\n") != NULL)) {
        PyErr_Format(PyExc_ValueError, "Request: form part %zd: %s contains "
                     "%s", i, what, no_newline ? "NUL, CR or LF" : "NUL");
        return -1;
    }
    return 0;
}

/* A file's path: bytes in the file system's encoding (os.fsencode: any
 * name Linux allows), or a str, or None; without NUL. */
static int
form_path(PyObject *value, Py_ssize_t i, const char **out)
{
    *out = NULL;
    if (!PyBytes_Check(value)) {
        return form_text(value, "path", i, 1, 0, out);
    }
    if (strlen(PyBytes_AS_STRING(value)) != (size_t)PyBytes_GET_SIZE(value)) {
        PyErr_Format(PyExc_ValueError,
                     "Request: form part %zd: path contains NUL", i);
        return -1;
    }
    *out = PyBytes_AS_STRING(value);
    return 0;
}

/* One (name, filename, content_type, data, path) tuple as a core part
 * whose strings and bytes stay borrowed from it. */
static int
form_part(PyObject *item, Py_ssize_t i, struct kimi_form_part *part)
{
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) {
        PyErr_Format(PyExc_TypeError, "Request: form part %zd must be a "
                     "(name, filename, content_type, data, path) tuple", i);
        return -1;
    }
    PyObject *data = PyTuple_GET_ITEM(item, 3);
    PyObject *path = PyTuple_GET_ITEM(item, 4);
    if (form_text(PyTuple_GET_ITEM(item, 0), "name", i, 0, 0, &part->name)
            < 0
        || form_text(PyTuple_GET_ITEM(item, 1), "filename", i, 1, 0,
                     &part->filename) < 0
        || form_text(PyTuple_GET_ITEM(item, 2), "content_type", i, 1, 1,
                     &part->content_type) < 0
        || form_path(path, i, &part->path) < 0) {
        return -1;
    }
    if (data != Py_None && !PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "Request: form part %zd: data must be "
                     "bytes or None", i);
        return -1;
    }
    if ((data == Py_None) == (path == Py_None)) {
        PyErr_Format(PyExc_ValueError, "Request: form part %zd needs data "
                     "or a path, not %s", i,
                     data == Py_None ? "neither" : "both");
        return -1;
    }
    if (data != Py_None) {
        part->data = PyBytes_AS_STRING(data);
        part->data_len = (size_t)PyBytes_GET_SIZE(data);
    }
    return 0;
}

/* The form's parts as the core reads them (valid while the tuple lives:
 * its items are tuples of immutable objects). */
static int
form_parts(struct request *self)
{
    PyObject *form = self->form;
    if (form == Py_None) {
        return 0;
    }
    if (!PyTuple_Check(form)) {
        PyErr_SetString(PyExc_TypeError,
                        "Request: form must be a tuple of parts or None");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(form);
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "Request: form has no parts");
        return -1;
    }
    if (self->body != Py_None) {
        PyErr_SetString(PyExc_ValueError,
                        "Request: a form request has no body");
        return -1;
    }
    if (strcmp(self->core.method, "POST") != 0) {
        PyErr_SetString(PyExc_ValueError, "Request: a form is sent with POST");
        return -1;
    }
    self->parts = PyMem_Calloc((size_t)n, sizeof(*self->parts));
    if (self->parts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (form_part(PyTuple_GET_ITEM(form, i), i, &self->parts[i]) < 0) {
            return -1;
        }
    }
    self->core.form = self->parts;
    self->core.n_form = (size_t)n;
    return 0;
}

static int
parse_timeouts(struct request *self, PyObject *connect, PyObject *read,
               PyObject *event, PyObject *total)
{
    struct kimi_timeouts *t = &self->core.timeouts;
    return kpy_seconds_to_ms(connect, "connect", &t->connect_ms) < 0
                   || kpy_seconds_to_ms(read, "read", &t->read_ms) < 0
                   || kpy_seconds_to_ms(event, "event", &t->event_ms) < 0
                   || kpy_seconds_to_ms(total, "total", &t->total_ms) < 0
               ? -1
               : 0;
}

static int
parse_tls(struct request *self, int verify)
{
    struct kimi_tls *tls = &self->core.tls;
    tls->verify = verify;
    return utf8_or_null(self->ca_file, "ca_file", &tls->ca_file) < 0
                   || utf8_or_null(self->ca_dir, "ca_dir", &tls->ca_dir) < 0
                   || utf8_or_null(self->cert_file, "cert_file",
                                   &tls->cert_file) < 0
                   || utf8_or_null(self->key_file, "key_file",
                                   &tls->key_file) < 0
               ? -1
               : 0;
}

/* Positional arguments only: one is built for every call, and keyword
 * parsing would cost more than the rest of the request's shaping. */
static PyObject *
request_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *method = NULL;
    PyObject *url = NULL;
    PyObject *headers = NULL;
    PyObject *body = Py_None;
    int stream = 0;
    PyObject *connect = Py_None;
    PyObject *read = Py_None;
    PyObject *event = Py_None;
    PyObject *total = Py_None;
    int verify = 1;
    PyObject *ca_file = Py_None;
    PyObject *ca_dir = Py_None;
    PyObject *cert_file = Py_None;
    PyObject *key_file = Py_None;
    PyObject *secret = Py_None;
    PyObject *result_class = Py_None;
    PyObject *chunk_class = Py_None;
    long budget = 0;
    PyObject *form = Py_None;
    unsigned int dialect = 0;

    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) {
        PyErr_SetString(PyExc_TypeError,
                        "Request: arguments are positional only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "UUO!|OpOOOOpOOOOOOOlOI:Request",
                          &method, &url, &PyTuple_Type, &headers, &body,
                          &stream, &connect, &read, &event, &total, &verify,
                          &ca_file, &ca_dir, &cert_file, &key_file, &secret,
                          &result_class, &chunk_class, &budget, &form,
                          &dialect)) {
        return NULL;
    }
    if (budget < 0) {
        PyErr_SetString(PyExc_ValueError, "Request: budget must be >= 0");
        return NULL;
    }
    if (body != Py_None && !PyBytes_Check(body)) {
        PyErr_SetString(PyExc_TypeError, "Request: body must be bytes");
        return NULL;
    }
    struct request *self = (struct request *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->method = Py_NewRef(method);
    self->url = Py_NewRef(url);
    self->headers = Py_NewRef(headers);
    self->body = Py_NewRef(body);
    self->ca_file = Py_NewRef(ca_file);
    self->ca_dir = Py_NewRef(ca_dir);
    self->cert_file = Py_NewRef(cert_file);
    self->key_file = Py_NewRef(key_file);
    self->secret = Py_NewRef(secret);
    self->result_class = Py_NewRef(result_class);
    self->chunk_class = Py_NewRef(chunk_class);
    self->form = Py_NewRef(form);
    self->budget = budget;
    self->tokens = -1;

    struct kimi_request *core = &self->core;
    core->method = PyUnicode_AsUTF8(method);
    core->url = PyUnicode_AsUTF8(url);
    core->stream = stream;
    core->dialect = dialect;
    core->compressed = !stream;
    if (body != Py_None) {
        core->body = PyBytes_AS_STRING(body);
        core->body_len = (size_t)PyBytes_GET_SIZE(body);
    }
    if (core->method == NULL || core->url == NULL || header_lines(self) < 0
        || parse_timeouts(self, connect, read, event, total) < 0
        || parse_tls(self, verify) < 0
        || utf8_or_null(secret, "secret", &core->secret) < 0
        || form_parts(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;     /* tp_alloc tracked it */
}

static int
request_traverse(struct request *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->result_class);
    Py_VISIT(self->chunk_class);
    return 0;
}

static int
request_clear(struct request *self)
{
    Py_CLEAR(self->result_class);
    Py_CLEAR(self->chunk_class);
    return 0;
}

static void
request_dealloc(struct request *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    request_clear(self);
    PyMem_Free(self->lines);
    PyMem_Free(self->parts);
    Py_XDECREF(self->method);
    Py_XDECREF(self->url);
    Py_XDECREF(self->headers);
    Py_XDECREF(self->body);
    Py_XDECREF(self->ca_file);
    Py_XDECREF(self->ca_dir);
    Py_XDECREF(self->cert_file);
    Py_XDECREF(self->key_file);
    Py_XDECREF(self->secret);
    Py_XDECREF(self->form);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
request_get_stream(struct request *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->core.stream);
}

static PyObject *
request_get_url(struct request *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->url);
}

static PyGetSetDef request_getset[] = {
    {"stream", (getter)request_get_stream, NULL,
     PyDoc_STR("True when the reply is read as an event stream."), NULL},
    {"url", (getter)request_get_url, NULL, PyDoc_STR("The URL."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot request_slots[] = {
    {Py_tp_new, request_new},
    {Py_tp_dealloc, request_dealloc},
    {Py_tp_traverse, request_traverse},
    {Py_tp_clear, request_clear},
    {Py_tp_getset, request_getset},
    {Py_tp_doc, "Request(method, url, headers, body=None, stream=False, "
                "connect=None, read=None, event=None, total=None, "
                "verify=True, ca_file=None, ca_dir=None, cert_file=None, "
                "key_file=None, secret=None, result_class=None, "
                "chunk_class=None, budget=0, form=None, dialect=0, /)\n"
                "One HTTP request, checked once; timeouts in seconds; "
                "budget is the completion tokens it may produce; form, a "
                "tuple of (name, filename, content_type, data, path) "
                "parts, is sent as multipart/form-data, files streamed "
                "from disk; dialect (KIMI_DIALECT_* bits, module constants "
                "DIALECT_*) reads a gateway's replies as the API's."},
    {0, NULL},
};

PyType_Spec kimi_request_spec = {
    .name = "kimi._core.Request",
    .basicsize = sizeof(struct request),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = request_slots,
};

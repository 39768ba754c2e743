/* client.c - the _core.Client type: a pool of transfer lanes and the
 * request call that sends one HTTP request.
 *
 * A non-streaming call returns the parsed body; a streaming call returns a
 * Stream once the status is known.  Non-2xx statuses raise the typed
 * APIStatusError subclass.  Retries are decided by the Python layer.
 */
#include "binding.h"

#include <limits.h>
#include <math.h>

enum kimi_status
kimi_wait(struct kimi_transfer *t, kimi_step_fn step, struct kimi_error *err)
{
    enum kimi_status st;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        st = step(t, KIMI_POLL_MS, err);
        Py_END_ALLOW_THREADS
        if (st != KIMI_AGAIN) {
            return st;
        }
        if (PyErr_CheckSignals() < 0) {
            return KIMI_ECANCELLED;
        }
    }
}

int
kimi_exchange(struct module_state *st, struct client *client,
              const struct kimi_request *req, struct kimi_transfer *t,
              struct kimi_lane **lane, kimi_step_fn step)
{
    struct kimi_error err = {0};
    enum kimi_status status = kimi_pool_checkout(&client->pool, lane, &err);
    if (status == KIMI_OK) {
        status = kimi_transfer_start(t, (*lane)->easy, client->pool.share,
                                     req, &err);
    }
    if (status == KIMI_OK) {
        status = kimi_transfer_attach(t, (*lane)->multi, &err);
    }
    if (status == KIMI_OK) {
        status = kimi_wait(t, step, &err);
    }
    if (status == KIMI_OK && (t->status < 200 || t->status >= 300)) {
        /* An error status: its body holds the server's message. */
        status = kimi_wait(t, kimi_drive_body, &err);
        if (status == KIMI_OK) {
            kimi_raise_status(st, t);
            return -1;
        }
    }
    if (status == KIMI_ECANCELLED) {
        return -1;      /* a signal handler raised */
    }
    if (status != KIMI_OK) {
        kimi_raise(st, &err, 0, NULL);
        return -1;
    }
    return 0;
}

/* Seconds to whole milliseconds, at least 1 (0 would mean "no limit" to
 * the core) and at most INT_MAX. */
static long
to_ms(double seconds)
{
    double ms = ceil(seconds * 1000.0);
    if (!(ms >= 1.0)) {
        return 1;
    }
    return ms > (double)INT_MAX ? INT_MAX : (long)ms;
}

static PyObject *
client_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"max_idle_lanes", "max_event", "max_body",
                             NULL};
    Py_ssize_t max_idle = 8;
    Py_ssize_t max_event = 0;
    Py_ssize_t max_body = 0;
    struct kimi_error err = {0};

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|nnn:Client", kwlist,
                                     &max_idle, &max_event, &max_body)) {
        return NULL;
    }
    if (max_idle < 0 || max_event < 0 || max_body < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "Client: limits must not be negative");
        return NULL;
    }
    struct client *self = (struct client *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->max_event = (size_t)max_event;
    self->max_body = (size_t)max_body;
    if (kimi_pool_init(&self->pool, (size_t)max_idle, &err) != KIMI_OK) {
        Py_DECREF(self);
        return kimi_raise(kimi_state_of_type(type), &err, 0, NULL);
    }
    return (PyObject *)self;
}

static void
client_dealloc(struct client *self)
{
    PyTypeObject *type = Py_TYPE(self);
    kimi_pool_free(&self->pool);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* Borrowed UTF-8 views of a tuple of str (valid while the tuple lives). */
static int
header_lines(PyObject *tuple, const char ***out, Py_ssize_t *n)
{
    *n = PyTuple_GET_SIZE(tuple);
    *out = PyMem_Calloc((size_t)(*n ? *n : 1), sizeof(char *));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "request: headers must be str");
            return -1;
        }
        (*out)[i] = PyUnicode_AsUTF8(item);
        if ((*out)[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* The body of a finished non-streaming 2xx response as Python objects. */
static PyObject *
parse_body(struct module_state *st, const struct kimi_transfer *t,
           PyObject *result_class)
{
    const char *end = NULL;
    struct kimi_error err = {0};

    if (result_class == Py_None) {
        return PyBytes_FromStringAndSize(t->body.data ? t->body.data : "",
                                         (Py_ssize_t)t->body.len);
    }
    cJSON *json = cJSON_ParseWithLengthOpts(t->body.data ? t->body.data : "",
                                            t->body.len, &end, 0);
    if (json == NULL) {
        size_t at = end != NULL && t->body.data != NULL
                        ? (size_t)(end - t->body.data)
                        : 0;
        err.http_status = t->status;
        err.offset = at;
        kimi_error_set(&err, KIMI_EPROTO,
                       "response: invalid JSON at byte %zu of %zu", at,
                       t->body.len);
        return kimi_raise(st, &err, 0, NULL);
    }
    PyObject *obj = kimi_convert(st, json, result_class);
    cJSON_Delete(json);
    return obj;
}

/* request(method, url, headers, body, stream, idle_timeout,
 *         connect_timeout, result_class, chunk_class, secret)
 * secret (str or None) is redacted from a stream's errors. */
static PyObject *
client_request(struct client *self, PyObject *args)
{
    const char *method = NULL;
    const char *url = NULL;
    PyObject *headers = NULL;
    PyObject *body = NULL;
    int stream = 0;
    double idle_timeout = 0;
    double connect_timeout = 0;
    PyObject *result_class = NULL;
    PyObject *chunk_class = NULL;
    PyObject *secret = NULL;
    const char **lines = NULL;
    Py_ssize_t n_lines = 0;
    struct kimi_lane *lane = NULL;
    struct kimi_transfer t;
    PyObject *result = NULL;
    struct module_state *st = kimi_state_of_type(Py_TYPE(self));

    memset(&t, 0, sizeof(t));
    if (!PyArg_ParseTuple(args, "ssO!OpddOOO:request", &method, &url,
                          &PyTuple_Type, &headers, &body, &stream,
                          &idle_timeout, &connect_timeout, &result_class,
                          &chunk_class, &secret)) {
        return NULL;
    }
    if (body != Py_None && !PyBytes_Check(body)) {
        PyErr_SetString(PyExc_TypeError, "request: body must be bytes");
        return NULL;
    }
    if (header_lines(headers, &lines, &n_lines) < 0) {
        goto done;
    }
    struct kimi_request req = {
        .method = method,
        .url = url,
        .headers = lines,
        .n_headers = (size_t)n_lines,
        .body = body != Py_None ? PyBytes_AS_STRING(body) : NULL,
        .body_len = body != Py_None ? (size_t)PyBytes_GET_SIZE(body) : 0,
        .timeouts = {
            .connect_ms = to_ms(connect_timeout),
            .read_ms = to_ms(idle_timeout),
            .event_ms = to_ms(idle_timeout),
        },
        .tls = {.verify = 1},
        .compressed = !stream,
        .stream = stream,
        .max_event = self->max_event,
        .max_body = self->max_body,
    };
    if (stream) {
        result = kimi_stream_open(st, self, &req, chunk_class, result_class,
                                  secret);
        goto done;
    }
    if (kimi_exchange(st, self, &req, &t, &lane, kimi_drive_body)
        == 0) {
        result = parse_body(st, &t, result_class);
    }
done:
    kimi_transfer_free(&t);
    if (lane != NULL) {
        kimi_pool_checkin(&self->pool, lane);
    }
    PyMem_Free(lines);
    return result;
}

static PyObject *
client_idle_lanes(struct client *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(self->pool.n_idle);
}

static PyMethodDef client_methods[] = {
    {"request", (PyCFunction)client_request, METH_VARARGS,
     PyDoc_STR("request(method, url, headers, body, stream, idle_timeout, "
               "connect_timeout, result_class, chunk_class, secret)\n"
               "Send one HTTP request; return the parsed body, or a Stream.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef client_getset[] = {
    {"idle_lanes", (getter)client_idle_lanes, NULL,
     PyDoc_STR("Number of lanes waiting for reuse."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot client_slots[] = {
    {Py_tp_new, client_new},
    {Py_tp_dealloc, client_dealloc},
    {Py_tp_methods, client_methods},
    {Py_tp_getset, client_getset},
    {Py_tp_doc, "Client(max_idle_lanes=8, max_event=0, max_body=0)\n"
                "Transfer lanes shared by the calls of one kimi.Kimi."},
    {0, NULL},
};

PyType_Spec kimi_client_spec = {
    .name = "kimi._core.Client",
    .basicsize = sizeof(struct client),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = client_slots,
};

/* stream.c - the _core.Stream type: one streamed chat completion.
 *
 * Iterating pulls one event at a time on the caller's thread: the GIL is
 * released while the core waits on the network, and signals are checked
 * between wait slices.  Every event is folded into the assembled reply
 * (final()).  Closing - exhausted, break + close(), garbage collection or an
 * error - removes the transfer and returns the lane to the client's pool.
 */
#include "binding.h"

#include <string.h>

enum read_mode {
    READ_CHUNKS,    /* yield chunk objects */
    READ_TEXT,      /* yield content strings only */
    READ_DRAIN      /* assemble the reply, yield nothing */
};

struct stream {
    PyObject_HEAD
    struct kimi_transfer transfer;
    struct kimi_lane *lane;         /* NULL once released */
    struct client *client;          /* strong: owns the lane pool and
                                       the limiter */
    struct kimi_ticket ticket;      /* the limiter's, settled on release */
    PyObject *chunk_class;
    PyObject *completion_class;
    PyObject *headers;              /* dict, built when the stream opens */
    PyObject *failure;              /* the exception that ended it, if any */
    long status;
    int text_mode;
    int completed;                  /* data: [DONE] arrived */
    int busy;                       /* a thread is reading the stream */
    int close_requested;            /* close() arrived while busy */
};

/* What the stream counted, for the limiter: its usage when the server
 * sent one, else the estimate stands (-1). */
static long
stream_tokens(const struct stream *self)
{
    return kpy_usage_tokens(self->transfer.accum.usage);
}

/* Tear down the transfer and give the lane back (idempotent). */
static void
stream_release(struct stream *self)
{
    if (self->lane == NULL) {
        return;
    }
    kpy_limiter_settle(self->client->limiter, &self->ticket,
                       stream_tokens(self));
    kimi_transfer_detach(&self->transfer);
    kimi_pool_checkin(&self->client->pool, self->lane);
    self->lane = NULL;
}

PyObject *
kimi_stream_open(struct module_state *st, struct client *client,
                 struct request *request, const struct kimi_request *req,
                 struct kimi_ticket *ticket)
{
    PyTypeObject *type = st->stream_type;
    struct stream *self = PyObject_GC_New(struct stream, type);
    if (self == NULL) {
        kpy_limiter_settle(client->limiter, ticket, -1);
        return NULL;
    }
    /* The transfer is initialised by kpy_exchange_open; the rest here. */
    memset(&self->lane, 0, sizeof(*self) - offsetof(struct stream, lane));
    self->client = (struct client *)Py_NewRef(client);
    self->chunk_class = Py_NewRef(request->chunk_class);
    self->completion_class = Py_NewRef(request->result_class);
    self->ticket = *ticket;
    /* Tracked only once fully open: while the GIL is released below, no
     * other thread may reach (and close) a half-built stream through gc. */

    if (kpy_exchange_open(st, &client->pool, req, &self->transfer,
                          &self->lane, 0) < 0) {
        kpy_limiter_settle(client->limiter, &self->ticket,
                           self->transfer.status >= 300 ? 0 : -1);
        Py_DECREF(self);
        return NULL;
    }
    self->status = self->transfer.status;
    /* Built now, while no other thread can touch the header buffer. */
    self->headers = kimi_headers_dict(&self->transfer);
    if (self->headers == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* The server's error object, for StreamError.body (new ref or NULL). */
static PyObject *
server_error_body(struct module_state *st, struct stream *self)
{
    const cJSON *node = self->transfer.server_error;
    if (node == NULL) {
        return NULL;
    }
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(node, "error");
    return kimi_convert_or_text(st, inner != NULL ? inner : node);
}

/* Keep the exception being raised as the one that ended the stream. */
static void
remember_failure(struct stream *self)
{
    PyObject *type = NULL;
    PyObject *value = NULL;
    PyObject *traceback = NULL;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    Py_XSETREF(self->failure, Py_XNewRef(value));
    PyErr_Restore(type, value, traceback);
}

/* End the stream with the exception for err and keep it: final() raises
 * it again rather than passing a broken reply off as complete. */
static PyObject *
raise_stream_error(struct stream *self, const struct kimi_error *err)
{
    struct module_state *st = kimi_state_of_type(Py_TYPE(self));
    PyObject *exc = NULL;
    PyObject *body = server_error_body(st, self);   /* new or NULL */

    stream_release(self);
    if (body != NULL || !PyErr_Occurred()) {
        exc = kimi_exception_new(st, err, 1, body);
        Py_XDECREF(body);
    }
    /* What the server said (already redacted by the core), request id
     * included, whichever shape its error had. */
    if (exc != NULL && self->transfer.has_api_error
        && kimi_set_api_fields(exc, &self->transfer.api_error) < 0) {
        Py_CLEAR(exc);
    }
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    remember_failure(self);
    return NULL;
}

/* A chunk that cannot be converted ends the stream (final() must not
 * keep what the iterator could not give): StreamError, caused by the
 * conversion's error. */
static PyObject *
fail_conversion(struct stream *self)
{
    struct module_state *st = kimi_state_of_type(Py_TYPE(self));
    struct kimi_error err = {0};

    stream_release(self);
    err.http_status = self->status;
    kimi_error_set(&err, KIMI_EPROTO,
                   "stream: a chunk cannot be converted to Python objects");
    kimi_raise_from_current(st, &err, 1);
    remember_failure(self);
    return NULL;
}

/* Read events until one yields a value for mode.
 *
 *   loop:
 *       wait (GIL released) for the next event, a slice at a time
 *       slice ended: check signals, loop
 *       [DONE]: release the lane, end (NULL, no exception)
 *       failure: release the lane, raise
 *       fold the event into the reply
 *       chunks: return the chunk object
 *       text: return its content if it has any, else loop
 *       drain: loop
 */
static PyObject *
stream_read(struct stream *self, enum read_mode mode)
{
    struct module_state *st = kimi_state_of_type(Py_TYPE(self));
    struct kimi_error err;

    kimi_error_clear(&err);
    while (self->lane != NULL) {
        cJSON *event = NULL;
        enum kimi_status status;

        status = kpy_wait(&self->transfer, KPY_EVENT, &event,
                          &self->close_requested, &err);
        if (self->close_requested || status == KIMI_ECANCELLED) {
            cJSON_Delete(event);    /* closed, or a signal handler raised */
            stream_release(self);
            return NULL;
        }
        if (status == KIMI_DONE) {
            self->completed = 1;
            stream_release(self);
            return NULL;
        }
        if (status != KIMI_OK) {
            return raise_stream_error(self, &err);
        }
        PyObject *value = NULL;
        if (mode == READ_CHUNKS) {
            value = kimi_convert(st, event, self->chunk_class);
            if (value == NULL) {
                cJSON_Delete(event);
                return fail_conversion(self);
            }
        }
        else if (mode == READ_TEXT) {
            const char *text = kimi_chunk_content(event);
            if (text != NULL && text[0] != '\0') {
                value = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text),
                                             "replace");
            }
        }
        cJSON_Delete(event);
        if (value != NULL || PyErr_Occurred()) {
            return value;
        }
    }
    return NULL;
}

/* Mark the stream busy for one read; RuntimeError if another thread is
 * already reading it. */
static int
enter(struct stream *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "stream: already being read by another thread");
        return -1;
    }
    self->busy = 1;
    return 0;
}

static PyObject *
stream_next(struct stream *self)
{
    if (self->lane == NULL) {
        return NULL;
    }
    if (enter(self) < 0) {
        return NULL;
    }
    PyObject *value = stream_read(self, self->text_mode ? READ_TEXT
                                                        : READ_CHUNKS);
    self->busy = 0;
    return value;
}

static PyObject *
stream_text(struct stream *self, PyObject *Py_UNUSED(ignored))
{
    self->text_mode = 1;
    return Py_NewRef(self);
}

static PyObject *
stream_final(struct stream *self, PyObject *Py_UNUSED(ignored))
{
    struct kimi_error err = {0};
    cJSON *reply = NULL;

    if (self->lane != NULL) {
        if (enter(self) < 0) {
            return NULL;
        }
        PyObject *none = stream_read(self, READ_DRAIN);
        self->busy = 0;
        if (none != NULL || PyErr_Occurred()) {
            Py_XDECREF(none);
            return NULL;
        }
    }
    if (self->failure != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(self->failure), self->failure);
        return NULL;
    }
    if (kimi_events_reply(&self->transfer, self->completed, &reply, &err)
        != KIMI_OK) {
        return kimi_raise(kimi_state_of_type(Py_TYPE(self)), &err, 1, NULL);
    }
    PyObject *result = kimi_convert(kimi_state_of_type(Py_TYPE(self)), reply,
                                    self->completion_class);
    cJSON_Delete(reply);
    return result;
}

static PyObject *
stream_close(struct stream *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy) {
        self->close_requested = 1;  /* the reading thread tears it down */
    }
    else {
        stream_release(self);
    }
    Py_RETURN_NONE;
}

static PyObject *
stream_enter(struct stream *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self);
}

static PyObject *
stream_exit(struct stream *self, PyObject *args)
{
    (void)args;
    return stream_close(self, NULL);
}

static PyObject *
stream_get_status(struct stream *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->status);
}

static PyObject *
stream_get_headers(struct stream *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->headers);
}

static PyObject *
stream_get_closed(struct stream *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->lane == NULL);
}

static int
stream_traverse(struct stream *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->client);
    Py_VISIT(self->chunk_class);
    Py_VISIT(self->completion_class);
    Py_VISIT(self->headers);
    Py_VISIT(self->failure);
    return 0;
}

static int
stream_clear(struct stream *self)
{
    stream_release(self);
    Py_CLEAR(self->chunk_class);
    Py_CLEAR(self->completion_class);
    Py_CLEAR(self->headers);
    Py_CLEAR(self->failure);
    Py_CLEAR(self->client);
    return 0;
}

static void
stream_dealloc(struct stream *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    stream_clear(self);
    kimi_transfer_free(&self->transfer);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMethodDef stream_methods[] = {
    {"text", (PyCFunction)stream_text, METH_NOARGS,
     PyDoc_STR("Switch to yielding content strings only; returns the "
               "stream.")},
    {"final", (PyCFunction)stream_final, METH_NOARGS,
     PyDoc_STR("Read what is left and return the assembled "
               "ChatCompletion.")},
    {"close", (PyCFunction)stream_close, METH_NOARGS,
     PyDoc_STR("Abort the transfer and free the connection.")},
    {"__enter__", (PyCFunction)stream_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)stream_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    {"status_code", (getter)stream_get_status, NULL,
     PyDoc_STR("HTTP status of the response."), NULL},
    {"headers", (getter)stream_get_headers, NULL,
     PyDoc_STR("Response headers (lower-case names)."), NULL},
    {"closed", (getter)stream_get_closed, NULL,
     PyDoc_STR("True once the transfer is over and its lane returned."),
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot stream_slots[] = {
    {Py_tp_dealloc, stream_dealloc},
    {Py_tp_traverse, stream_traverse},
    {Py_tp_clear, stream_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, stream_next},
    {Py_tp_methods, stream_methods},
    {Py_tp_getset, stream_getset},
    {Py_tp_doc, "A streamed chat completion: iterate for chunks, text() for "
                "strings, final() for the assembled reply."},
    {0, NULL},
};

PyType_Spec kimi_stream_spec = {
    .name = "kimi._core.Stream",
    .basicsize = sizeof(struct stream),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = stream_slots,
};

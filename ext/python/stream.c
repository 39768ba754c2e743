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

struct stream {
    PyObject_HEAD
    struct kimi_transfer transfer;
    struct kimi_lane *lane;         /* NULL once released */
    struct client *client;          /* strong: owns the lane pool and
                                       the limiter */
    struct kimi_ticket ticket;      /* the limiter's, settled on release */
    struct kpy_reader reader;
    int text_mode;
    int busy;                       /* a thread is reading the stream */
    int close_requested;            /* close() arrived while busy */
    PyObject *route;                /* the route's name, or NULL (None) */
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
    kpy_meter_note_stream(self->client, &self->transfer);
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
    self->reader.chunk_class = Py_NewRef(request->chunk_class);
    self->reader.completion_class = Py_NewRef(request->result_class);
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
    self->reader.status = self->transfer.status;
    /* Built now, while no other thread can touch the header buffer. */
    self->reader.headers = kimi_headers_dict(&self->transfer);
    if (self->reader.headers == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    PyObject_GC_Track(self);
    return (PyObject *)self;
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
stream_read(struct stream *self, enum kpy_read_mode mode)
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
        int over = 0;
        PyObject *value = kpy_reader_take(st, &self->reader, &self->transfer,
                                          mode, status, event, &err, &over);
        if (over) {
            /* Counted and its lane given back before anyone is told. */
            int completed = self->reader.completed;
            stream_release(self);
            if (completed) {
                kpy_notice_stream(self->client, &self->transfer.accum);
            }
            return NULL;
        }
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
    PyObject *value = stream_read(self, self->text_mode ? KPY_READ_TEXT
                                                        : KPY_READ_CHUNKS);
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
    if (self->lane != NULL) {
        if (enter(self) < 0) {
            return NULL;
        }
        PyObject *none = stream_read(self, KPY_READ_DRAIN);
        self->busy = 0;
        if (none != NULL || PyErr_Occurred()) {
            Py_XDECREF(none);
            return NULL;
        }
    }
    return kpy_reader_final(kimi_state_of_type(Py_TYPE(self)), &self->reader,
                            &self->transfer);
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
    return PyLong_FromLong(self->reader.status);
}

static PyObject *
stream_get_headers(struct stream *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->reader.headers);
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
    Py_VISIT(self->route);
    return kpy_reader_traverse(&self->reader, visit, arg);
}

static int
stream_clear(struct stream *self)
{
    stream_release(self);
    kpy_reader_clear(&self->reader);
    Py_CLEAR(self->client);
    Py_CLEAR(self->route);
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

static PyObject *
stream_get_route(struct stream *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->route != NULL ? self->route : Py_None);
}

/* Set once by the client that opened the stream on a gateway's route. */
static int
stream_set_route(struct stream *self, PyObject *value, void *closure)
{
    (void)closure;
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "Stream.route must be a str");
        return -1;
    }
    Py_XSETREF(self->route, Py_NewRef(value));
    return 0;
}

static PyGetSetDef stream_getset[] = {
    {"route", (getter)stream_get_route, (setter)stream_set_route,
     PyDoc_STR("The name of the route (kimi.providers) the stream opened "
               "on, or None on a client of the default route alone."),
     NULL},
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

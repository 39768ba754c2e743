/* aexchange.c - the _core.AsyncExchange type: one request on a reactor.
 *
 * Nothing here waits.  Each read says what is there now: the reply, the
 * next chunk, the end, or PENDING, after which the caller awaits wait(),
 * a future the reactor resolves when the awaited state arrives.  kimi's
 * async client loops on that (kimi/_async_client.py), so the coroutine
 * code is a few lines and every decision is the one the sync path makes:
 * the same reply parsing, the same stream reader (reading.c), the same
 * exceptions.
 *
 * An exchange ends - reply read, stream over, close(), its client closed,
 * or garbage collected - by leaving the reactor's multi handle, which
 * frees its connection for the next one.
 */
#include "binding.h"

#include <string.h>

#include "events.h"
#include "run.h"

static struct module_state *
state_of(struct aexchange *ex)
{
    return kimi_state_of_type(Py_TYPE(ex));
}

int
kpy_aexchange_ready(struct aexchange *ex)
{
    const struct kimi_transfer *t = &ex->transfer;
    struct kimi_error ignored;
    switch (ex->want) {
    case KPY_WANT_HEADERS:
        return kimi_transfer_headers_state(t, &ignored) != KIMI_AGAIN;
    case KPY_WANT_BODY:
        return kimi_run_over(t);
    case KPY_WANT_EVENTS:
        return t->queue.len > 0 || t->done || t->finished || t->failed;
    default:
        return 1;
    }
}

void
kpy_aexchange_wake(struct aexchange *ex)
{
    PyObject *fut = ex->waiter;
    if (fut != NULL) {
        ex->waiter = NULL;
        kpy_resolve_future(state_of(ex), fut);
        Py_DECREF(fut);
        Py_DECREF(ex);      /* the reactor's hold while it waited; the
                               caller holds a reference of its own */
    }
}

void
kpy_aexchange_detach(struct aexchange *ex)
{
    if (!ex->attached) {
        return;
    }
    struct reactor *r = ex->reactor;
    PyObject *type = NULL;
    PyObject *value = NULL;
    PyObject *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);

    ex->attached = 0;
    long tokens = ex->tokens;
    if (ex->stream && tokens == -1) {
        tokens = kpy_usage_tokens(ex->transfer.accum.usage);
    }
    kpy_limiter_settle(r->client->limiter, &ex->ticket, tokens);
    if (ex->stream && !ex->metered) {
        kpy_meter_note_stream(r->client, &ex->transfer);
    }
    kimi_transfer_detach(&ex->transfer);
    ex->transfer.progress = NULL;
    if (r->by_slot[ex->slot] == ex) {
        r->by_slot[ex->slot] = NULL;
    }
    kpy_reactor_remove(r, ex);
    kpy_reactor_give_slot(r, ex->slot);
    if (kpy_reactor_apply(r) < 0) {
        PyErr_Clear();      /* the next action applies what is left */
    }
    PyErr_Restore(type, value, tb);
}

void
kpy_aexchange_abort(struct aexchange *ex)
{
    /* One read to its end (or lingering there) is not cut short. */
    ex->closed = ex->want != KPY_WANT_END && ex->want != KPY_WANT_NOTHING;
    ex->want = KPY_WANT_NOTHING;
    kpy_aexchange_detach(ex);
    kpy_aexchange_wake(ex);
}

/* The stream is over: let its body end for a moment (so its connection
 * is reused) when [DONE] came first, else leave the lane at once. */
static void
stream_over(struct aexchange *ex)
{
    struct kimi_transfer *t = &ex->transfer;
    if (ex->reader.completed && !t->finished && !t->failed && ex->attached) {
        ex->want = KPY_WANT_END;
        long tokens = kpy_usage_tokens(t->accum.usage);
        kpy_limiter_settle(ex->reactor->client->limiter, &ex->ticket, tokens);
        /* Counted now, not when the lingering body ends (or the loop is
         * gone before it does). */
        kpy_meter_note_stream(ex->reactor->client, t);
        ex->metered = 1;
        ex->linger_until = kimi_transfer_clock_ms() + KPY_LINGER_MS;
        kpy_reactor_deadline(ex->reactor, ex->linger_until);
        return;
    }
    ex->want = KPY_WANT_NOTHING;
    kpy_aexchange_detach(ex);
}

/* The client was closed under this exchange. */
static PyObject *
raise_closed(struct aexchange *ex, int in_stream)
{
    struct kimi_error err = {0};
    kimi_error_set(&err, in_stream ? KIMI_ETRUNCATED : KIMI_ECONNECT,
                   in_stream ? "stream: its client was closed before the end"
                             : "request: its client was closed before the "
                               "reply arrived");
    return kimi_raise(state_of(ex), &err, in_stream, NULL);
}

/* poll() -> the reply (non-streaming), True once a stream is open, or
 * PENDING; raises what the sync call would. */
static PyObject *
aex_poll(struct aexchange *ex, PyObject *Py_UNUSED(ignored))
{
    struct module_state *st = state_of(ex);
    struct kimi_transfer *t = &ex->transfer;
    struct kimi_error err;
    enum kimi_status status;

    kimi_error_clear(&err);
    if (ex->closed) {
        return raise_closed(ex, 0);
    }
    if (ex->want == KPY_WANT_HEADERS) {
        status = kimi_transfer_headers_state(t, &err);
        if (status == KIMI_AGAIN) {
            return Py_NewRef(st->pending);
        }
        if (status != KIMI_OK) {
            ex->want = KPY_WANT_NOTHING;
            kpy_aexchange_detach(ex);
            return kimi_raise(st, &err, 0, NULL);
        }
        if (t->status >= 200 && t->status < 300) {
            ex->reader.status = t->status;
            Py_XSETREF(ex->reader.headers, kimi_headers_dict(t));
            if (ex->reader.headers == NULL) {
                return NULL;
            }
            ex->want = KPY_WANT_EVENTS;
            /* The event limit is watched from now on. */
            kpy_reactor_deadline(ex->reactor, kimi_transfer_next_deadline(t));
            Py_RETURN_TRUE;
        }
        ex->want = KPY_WANT_BODY;   /* an error status: read its body */
    }
    if (ex->want != KPY_WANT_BODY) {
        PyErr_SetString(PyExc_RuntimeError, "poll: the exchange is over");
        return NULL;
    }
    status = kimi_transfer_body_state(t, &err);
    if (status == KIMI_AGAIN) {
        return Py_NewRef(st->pending);
    }
    ex->want = KPY_WANT_NOTHING;
    if (status != KIMI_OK) {
        kpy_aexchange_detach(ex);
        return kimi_raise(st, &err, 0, NULL);
    }
    if (t->status < 200 || t->status >= 300) {
        ex->tokens = 0;     /* refused: the server generated nothing */
        kpy_aexchange_detach(ex);
        return kimi_raise_status(st, t);
    }
    PyObject *result = kpy_parse_reply(st, ex->reactor->client, t,
                                       ex->request->result_class,
                                       ex->request->chunk_class != Py_None,
                                       &ex->tokens);
    kpy_aexchange_detach(ex);
    return result;
}

/* The next value of the stream in mode, PENDING, or NULL: at the end
 * with StopAsyncIteration (or, draining, with nothing set), or the
 * exception that ended the stream. */
static PyObject *
read_events(struct aexchange *ex, enum kpy_read_mode mode)
{
    struct module_state *st = state_of(ex);
    struct kimi_error err;

    if (ex->want != KPY_WANT_EVENTS) {
        if (ex->want == KPY_WANT_HEADERS || ex->want == KPY_WANT_BODY) {
            PyErr_SetString(PyExc_RuntimeError,
                            "stream: not open yet (poll() first)");
            return NULL;
        }
        if (ex->closed && ex->reader.failure == NULL) {
            raise_closed(ex, 1);
            PyObject *type = NULL;
            PyObject *value = NULL;
            PyObject *tb = NULL;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            ex->reader.failure = Py_XNewRef(value);     /* final() too */
            PyErr_Restore(type, value, tb);
            return NULL;
        }
        return NULL;    /* over; final() raises any failure */
    }
    kimi_error_clear(&err);
    for (;;) {
        cJSON *event = NULL;
        enum kimi_status status = kimi_events_next(&ex->transfer, &event,
                                                   &err);
        if (status == KIMI_AGAIN) {
            /* Taking the last queued event may have resumed the transfer:
             * libcurl then wants its timer run soon. */
            if (kpy_reactor_apply(ex->reactor) < 0) {
                return NULL;
            }
            return Py_NewRef(st->pending);
        }
        int over = 0;
        PyObject *value = kpy_reader_take(st, &ex->reader, &ex->transfer,
                                          mode, status, event, &err, &over);
        if (over) {
            stream_over(ex);
            if (ex->reader.completed) {
                kpy_notice_stream(ex->reactor->client, &ex->transfer.accum);
            }
            return NULL;
        }
        if (value != NULL || PyErr_Occurred()) {
            return value;
        }
    }
}

static PyObject *
stop_or_value(PyObject *value)
{
    if (value == NULL && !PyErr_Occurred()) {
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    return value;
}

static PyObject *
aex_next(struct aexchange *ex, PyObject *Py_UNUSED(ignored))
{
    return stop_or_value(read_events(ex, KPY_READ_CHUNKS));
}

static PyObject *
aex_next_text(struct aexchange *ex, PyObject *Py_UNUSED(ignored))
{
    return stop_or_value(read_events(ex, KPY_READ_TEXT));
}

/* final() -> the assembled ChatCompletion once the stream is read to its
 * end (reading what is left), or PENDING. */
static PyObject *
aex_final(struct aexchange *ex, PyObject *Py_UNUSED(ignored))
{
    struct module_state *st = state_of(ex);
    if (ex->want == KPY_WANT_EVENTS) {
        PyObject *value = read_events(ex, KPY_READ_DRAIN);
        if (value != NULL || PyErr_Occurred()) {
            return value;   /* PENDING, or the stream's failure */
        }
    }
    return kpy_reader_final(st, &ex->reader, &ex->transfer);
}

/* wait() -> a future resolved when what the last read lacked arrived. */
static PyObject *
aex_wait(struct aexchange *ex, PyObject *Py_UNUSED(ignored))
{
    if (ex->waiter != NULL) {
        PyObject *done = PyObject_CallMethod(ex->waiter, "done", NULL);
        int is_done = done != NULL ? PyObject_IsTrue(done) : -1;
        Py_XDECREF(done);
        if (is_done < 0) {
            return NULL;
        }
        if (!is_done) {
            return Py_NewRef(ex->waiter);
        }
        kpy_aexchange_wake(ex);     /* cancelled: drop it, make another */
    }
    PyObject *fut = PyObject_CallNoArgs(ex->reactor->create_future);
    if (fut == NULL) {
        return NULL;
    }
    if (!ex->attached || kpy_aexchange_ready(ex)) {
        kpy_resolve_future(state_of(ex), fut);
        return fut;
    }
    ex->waiter = Py_NewRef(fut);
    Py_INCREF(ex);          /* held by the reactor until woken */
    return fut;
}

/* close(): the caller is done with it (a stream read after this just
 * ends, as a sync Stream does). */
static PyObject *
aex_close(struct aexchange *ex, PyObject *Py_UNUSED(ignored))
{
    if (ex->want != KPY_WANT_NOTHING || ex->attached) {
        ex->want = KPY_WANT_NOTHING;
        kpy_aexchange_detach(ex);
        kpy_aexchange_wake(ex);
    }
    Py_RETURN_NONE;
}

static PyObject *
aex_get_status(struct aexchange *ex, void *closure)
{
    (void)closure;
    return PyLong_FromLong(ex->transfer.status);
}

static PyObject *
aex_get_headers(struct aexchange *ex, void *closure)
{
    (void)closure;
    if (ex->reader.headers != NULL) {
        return Py_NewRef(ex->reader.headers);
    }
    return kimi_headers_dict(&ex->transfer);    /* not kept: may grow */
}

static PyObject *
aex_get_closed(struct aexchange *ex, void *closure)
{
    (void)closure;
    return PyBool_FromLong(!ex->attached || ex->want == KPY_WANT_END);
}

/* start(request, total=None): see the Reactor's method table. */
PyObject *
kpy_reactor_start(struct reactor *r, PyObject *args)
{
    struct module_state *st = kimi_state_of_type(Py_TYPE(r));
    struct request *request = NULL;
    PyObject *total = Py_None;
    struct kimi_error err;
    struct kimi_ticket ticket = {0};
    CURL *easy = NULL;
    size_t slot = 0;

    kimi_error_clear(&err);
    if (!PyArg_ParseTuple(args, "O!|O:start", st->request_type, &request,
                          &total)) {
        return NULL;
    }
    if (r->lane == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "AsyncKimi: the client is closed");
        return NULL;
    }
    if (r->lane->generation != kimi_pool_fork_generation()) {
        kimi_error_set(&err, KIMI_EFORKED,
                       "AsyncKimi: this event loop's client was made in "
                       "the parent process; make a new one after fork()");
        return kimi_raise(st, &err, 0, NULL);
    }
    struct kimi_request req;
    if (kpy_request_for(r->client, request, total, &req) < 0) {
        return NULL;
    }
    struct limiter *limiter = r->client->limiter;
    /* An easy handle first: a start that finds none must not count
     * against the limits. */
    int rc = kpy_slots_take(&r->slots, r->lane, &slot, &easy, &err);
    if (rc != 0) {
        if (rc > 0) {
            Py_RETURN_NONE;
        }
        return kimi_raise(st, &err, 0, NULL);
    }
    int64_t wait_ms = 0;
    rc = kpy_admit_now(r->client, request, &ticket, &wait_ms);
    if (rc != 0) {
        kpy_reactor_give_slot(r, slot);
        return rc < 0 ? NULL : PyFloat_FromDouble((double)wait_ms / 1000.0);
    }
    struct aexchange *ex = PyObject_GC_New(struct aexchange,
                                           st->aexchange_type);
    if (ex == NULL) {
        kpy_limiter_settle(limiter, &ticket, 0);
        kpy_reactor_give_slot(r, slot);
        return NULL;
    }
    memset(&ex->transfer, 0,
           sizeof(*ex) - offsetof(struct aexchange, transfer));
    ex->reactor = (struct reactor *)Py_NewRef(r);
    ex->request = (struct request *)Py_NewRef(request);
    ex->reader.chunk_class = Py_NewRef(request->chunk_class);
    ex->reader.completion_class = Py_NewRef(request->result_class);
    ex->ticket = ticket;
    ex->slot = slot;
    ex->tokens = -1;
    ex->stream = req.stream;
    ex->want = req.stream ? KPY_WANT_HEADERS : KPY_WANT_BODY;
    if (kpy_reactor_add(r, ex) < 0) {
        kpy_limiter_settle(limiter, &ex->ticket, 0);
        kpy_reactor_give_slot(r, slot);
        Py_DECREF(ex);
        return NULL;
    }
    ex->attached = 1;   /* from here on, detach undoes everything */
    PyObject_GC_Track(ex);
    int started = kimi_transfer_start(&ex->transfer, easy,
                                      r->client->pool.share, &req, &err)
                  == KIMI_OK;
    if (started) {
        ex->transfer.progress = &r->progress;
        ex->transfer.progress_id = slot;
        r->by_slot[slot] = ex;
    }
    if (!started
        || kimi_transfer_attach(&ex->transfer, r->lane->multi, &err)
               != KIMI_OK) {
        ex->tokens = 0;
        ex->want = KPY_WANT_NOTHING;
        kpy_aexchange_detach(ex);
        Py_DECREF(ex);
        return kimi_raise(st, &err, 0, NULL);
    }
    if (kpy_reactor_apply(r) < 0) {
        ex->tokens = 0;
        ex->want = KPY_WANT_NOTHING;
        kpy_aexchange_detach(ex);
        Py_DECREF(ex);
        return NULL;
    }
    kpy_reactor_deadline(r, kimi_transfer_next_deadline(&ex->transfer));
    return (PyObject *)ex;
}

static int
aex_traverse(struct aexchange *ex, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(ex));
    Py_VISIT(ex->reactor);
    Py_VISIT(ex->request);
    Py_VISIT(ex->waiter);
    return kpy_reader_traverse(&ex->reader, visit, arg);
}

static int
aex_clear(struct aexchange *ex)
{
    if (ex->reactor != NULL) {
        kpy_aexchange_detach(ex);
    }
    if (ex->waiter != NULL) {
        Py_CLEAR(ex->waiter);
        Py_DECREF(ex);      /* the reactor's hold (the collector holds one
                               more while it clears) */
    }
    kpy_reader_clear(&ex->reader);
    Py_CLEAR(ex->request);
    return 0;
}

static void
aex_dealloc(struct aexchange *ex)
{
    PyTypeObject *type = Py_TYPE(ex);
    PyObject_GC_UnTrack(ex);
    aex_clear(ex);
    kimi_transfer_free(&ex->transfer);
    Py_CLEAR(ex->reactor);
    type->tp_free((PyObject *)ex);
    Py_DECREF(type);
}

static PyMethodDef aex_methods[] = {
    {"poll", (PyCFunction)aex_poll, METH_NOARGS,
     PyDoc_STR("The reply, True once a stream is open, or PENDING.")},
    {"next", (PyCFunction)aex_next, METH_NOARGS,
     PyDoc_STR("The next chunk, or PENDING; StopAsyncIteration at the "
               "end.")},
    {"next_text", (PyCFunction)aex_next_text, METH_NOARGS,
     PyDoc_STR("The next content string, or PENDING; StopAsyncIteration "
               "at the end.")},
    {"final", (PyCFunction)aex_final, METH_NOARGS,
     PyDoc_STR("The assembled ChatCompletion once read to the end, or "
               "PENDING.")},
    {"wait", (PyCFunction)aex_wait, METH_NOARGS,
     PyDoc_STR("A future resolved when what the last read lacked "
               "arrived.")},
    {"close", (PyCFunction)aex_close, METH_NOARGS,
     PyDoc_STR("Abort the transfer and free its connection.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef aex_getset[] = {
    {"status_code", (getter)aex_get_status, NULL,
     PyDoc_STR("HTTP status of the response (0 before it is known)."), NULL},
    {"headers", (getter)aex_get_headers, NULL,
     PyDoc_STR("Response headers (lower-case names)."), NULL},
    {"closed", (getter)aex_get_closed, NULL,
     PyDoc_STR("True once the transfer left the lane."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot aex_slots[] = {
    {Py_tp_dealloc, aex_dealloc},
    {Py_tp_traverse, aex_traverse},
    {Py_tp_clear, aex_clear},
    {Py_tp_methods, aex_methods},
    {Py_tp_getset, aex_getset},
    {Py_tp_doc, "One request on a Reactor: poll, read, await wait()."},
    {0, NULL},
};

PyType_Spec kimi_aexchange_spec = {
    .name = "kimi._core.AsyncExchange",
    .basicsize = sizeof(struct aexchange),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = aex_slots,
};

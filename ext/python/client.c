/* client.c - the _core.Client type: a pool of transfer lanes and the
 * request call that sends one HTTP request.
 *
 * A non-streaming call returns the parsed body; a streaming call returns a
 * Stream once the status is known.  Non-2xx statuses raise the typed
 * APIStatusError subclass.  Retries are decided by the Python layer.
 */
#include "binding.h"



static PyObject *
client_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"max_idle_lanes", "max_event", "max_body",
                             "limiter", "meter", "notice", NULL};
    Py_ssize_t max_idle = 8;
    Py_ssize_t max_event = 0;
    Py_ssize_t max_body = 0;
    PyObject *limiter = Py_None;
    PyObject *meter = Py_None;
    PyObject *notice = Py_None;
    struct kimi_error err = {0};
    struct module_state *st = kimi_state_of_type(type);

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|nnnOOO:Client", kwlist,
                                     &max_idle, &max_event, &max_body,
                                     &limiter, &meter, &notice)) {
        return NULL;
    }
    if (limiter != Py_None && !Py_IS_TYPE(limiter, st->limiter_type)) {
        PyErr_SetString(PyExc_TypeError,
                        "Client: limiter must be a Limiter or None");
        return NULL;
    }
    if (meter != Py_None && !Py_IS_TYPE(meter, st->meter_type)) {
        PyErr_SetString(PyExc_TypeError,
                        "Client: meter must be a Meter or None");
        return NULL;
    }
    if (notice != Py_None && !PyCallable_Check(notice)) {
        PyErr_SetString(PyExc_TypeError,
                        "Client: notice must be callable or None");
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
    if (limiter != Py_None) {
        self->limiter = (struct limiter *)Py_NewRef(limiter);
    }
    if (meter != Py_None) {
        self->meter = (struct meter *)Py_NewRef(meter);
    }
    if (notice != Py_None) {
        self->notice = Py_NewRef(notice);
    }
    if (kimi_pool_init(&self->pool, (size_t)max_idle, &err) != KIMI_OK) {
        Py_DECREF(self);
        return kimi_raise(st, &err, 0, NULL);
    }
    return (PyObject *)self;
}

static void
client_dealloc(struct client *self)
{
    PyTypeObject *type = Py_TYPE(self);
    kimi_pool_free(&self->pool);
    Py_XDECREF(self->limiter);
    Py_XDECREF(self->meter);
    Py_XDECREF(self->notice);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* Wait for the client's limits to admit the request.  What the wait took
 * comes off the transfer's total limit. */
static int
admit(struct client *self, struct request *request, struct kimi_request *req,
      struct kimi_ticket *ticket)
{
    long total_ms = req->timeouts.total_ms;
    int64_t start = kimi_transfer_clock_ms();
    int64_t deadline = total_ms > 0 ? start + total_ms : 0;
    long tokens = kpy_request_tokens(self->limiter, request);
    if (kpy_limiter_admit(self->limiter, tokens, deadline, ticket) < 0) {
        return -1;
    }
    if (deadline > 0) {
        int64_t left = deadline - kimi_transfer_clock_ms();
        req->timeouts.total_ms = left > 0 ? (long)left : 1;
    }
    return 0;
}

/* send(request, total=None): one attempt of a request.  total (seconds,
 * or None) is what is left of the call's total timeout; it replaces the
 * request's own. */
static PyObject *
client_send(struct client *self, PyObject *args)
{
    struct request *request = NULL;
    PyObject *total = Py_None;
    struct kimi_lane *lane = NULL;
    struct kimi_transfer t;     /* initialised by kpy_exchange_open */
    struct kimi_ticket ticket = {0};
    PyObject *result = NULL;
    struct module_state *st = kimi_state_of_type(Py_TYPE(self));

    if (!PyArg_ParseTuple(args, "O!|O:send", st->request_type, &request,
                          &total)) {
        return NULL;
    }
    struct kimi_request req;
    if (kpy_request_for(self, request, total, &req) < 0) {
        return NULL;
    }
    if (self->limiter != NULL && admit(self, request, &req, &ticket) < 0) {
        return NULL;
    }
    if (req.stream) {
        return kimi_stream_open(st, self, request, &req, &ticket);
    }
    long tokens = -1;
    if (kpy_exchange_open(st, &self->pool, &req, &t, &lane, 1) == 0) {
        result = kpy_parse_reply(st, self, &t, request->result_class,
                                 request->chunk_class != Py_None, &tokens);
    }
    else if (t.status >= 300) {
        tokens = 0;     /* refused: the server generated nothing */
    }
    kpy_limiter_settle(self->limiter, &ticket, tokens);
    kimi_transfer_free(&t);
    if (lane != NULL) {
        kimi_pool_checkin(&self->pool, lane);
    }
    return result;
}

static PyObject *
client_idle_lanes(struct client *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(self->pool.n_idle);
}

static PyMethodDef client_methods[] = {
    {"send", (PyCFunction)client_send, METH_VARARGS,
     PyDoc_STR("send(request, total=None)\n"
               "Send a Request once; return the parsed body, or a Stream.")},
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
    {Py_tp_doc, "Client(max_idle_lanes=8, max_event=0, max_body=0, "
                "limiter=None, meter=None, notice=None)\n"
                "Transfer lanes shared by the calls of one kimi.Kimi; "
                "limiter admits each of them, meter counts each reply, "
                "notice is told of each chat reply cut by its token "
                "budget."},
    {0, NULL},
};

PyType_Spec kimi_client_spec = {
    .name = "kimi._core.Client",
    .basicsize = sizeof(struct client),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = client_slots,
};

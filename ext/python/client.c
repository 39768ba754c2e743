/* client.c - the _core.Client type: a pool of transfer lanes and the
 * request call that sends one HTTP request.
 *
 * A non-streaming call returns the parsed body; a streaming call returns a
 * Stream once the status is known.  Non-2xx statuses raise the typed
 * APIStatusError subclass.  Retries are decided by the Python layer.
 */
#include "binding.h"

#include "json.h"


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

/* The body of a finished non-streaming 2xx response as Python objects. */
static PyObject *
parse_body(struct module_state *st, const struct kimi_transfer *t,
           PyObject *result_class)
{
    struct kimi_error err = {0};

    if (result_class == Py_None) {
        return PyBytes_FromStringAndSize(t->body.data ? t->body.data : "",
                                         (Py_ssize_t)t->body.len);
    }
    cJSON *json = NULL;
    if (kimi_json_parse(t->body.data, t->body.len, &json, &err) != KIMI_OK) {
        /* A complete reply the client cannot read: typed, not retried. */
        char why[KIMI_ERROR_MESSAGE_MAX];
        memcpy(why, err.message, sizeof(why));
        err.http_status = t->status;
        err.rejected = 1;
        kimi_error_set(&err, err.status == KIMI_ENOMEM ? KIMI_ENOMEM
                                                       : KIMI_EPROTO,
                       "response: the %zu-byte body is not usable: %.400s",
                       t->body.len, why);
        return kimi_raise(st, &err, 0, NULL);
    }
    PyObject *obj = kimi_convert(st, json, result_class);
    cJSON_Delete(json);
    if (obj == NULL) {
        /* A complete reply that cannot be built: typed, and not retried. */
        err.http_status = t->status;
        err.rejected = 1;
        kimi_error_set(&err, KIMI_EPROTO,
                       "response: the %zu-byte reply cannot be built",
                       t->body.len);
        return kimi_raise_from_current(st, &err, 0);
    }
    return obj;
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
    PyObject *result = NULL;
    struct module_state *st = kimi_state_of_type(Py_TYPE(self));

    if (!PyArg_ParseTuple(args, "O!|O:send", st->request_type, &request,
                          &total)) {
        return NULL;
    }
    struct kimi_request req = request->core;
    req.max_event = self->max_event;
    req.max_body = self->max_body;
    if (total != Py_None
        && kpy_seconds_to_ms(total, "total", &req.timeouts.total_ms) < 0) {
        return NULL;
    }
    if (req.stream) {
        return kimi_stream_open(st, self, request, &req);
    }
    if (kpy_exchange_open(st, &self->pool, &req, &t, &lane, 1) == 0) {
        result = parse_body(st, &t, request->result_class);
    }
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

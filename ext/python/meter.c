/* meter.c - the _core.Meter type: a client's running usage totals
 * (meter.h), noted by the binding wherever a reply is settled, whichever
 * driver ran it, and read by kimi/_usage.py as rows per model.
 */
#include "binding.h"

static PyObject *
meter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"parent", NULL};
    PyObject *parent = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Meter", kwlist,
                                     &parent)) {
        return NULL;
    }
    if (parent != Py_None && !Py_IS_TYPE(parent, type)) {
        PyErr_SetString(PyExc_TypeError, "Meter: parent must be a Meter");
        return NULL;
    }
    struct meter *self = (struct meter *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    struct kimi_meter *up = NULL;
    if (parent != Py_None) {
        /* The core borrows the parent's meter: held here for as long. */
        self->parent = Py_NewRef(parent);
        up = &((struct meter *)parent)->core;
    }
    enum kimi_status status = kimi_meter_init(&self->core, up);
    if (status != KIMI_OK) {
        Py_DECREF(self);
        if (status == KIMI_EINVAL) {
            PyErr_Format(PyExc_ValueError,
                         "Meter: clients derive at most %d deep (each "
                         "counts into every client above it)",
                         KIMI_METER_DEPTH);
        }
        else {
            PyErr_NoMemory();
        }
        return NULL;
    }
    return (PyObject *)self;
}

static void
meter_dealloc(struct meter *self)
{
    PyTypeObject *type = Py_TYPE(self);
    kimi_meter_free(&self->core);
    Py_XDECREF(self->parent);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

void
kpy_meter_note(struct client *client, const char *model, size_t len,
               const cJSON *usage)
{
    if (client->meter != NULL) {
        kimi_meter_note(&client->meter->core, model, len, usage);
    }
}

void
kpy_meter_note_stream(struct client *client, const struct kimi_transfer *t)
{
    if (t->status >= 200 && t->status < 300) {
        kpy_meter_note(client, t->accum.model.data, t->accum.model.len,
                       t->accum.usage);
    }
}

/* snapshot() -> [(model, requests, prompt, cached, completion, reasoning,
 * priced_prompt, priced_cached, priced_completion, reported_cost)] */
static PyObject *
meter_snapshot(struct meter *self, PyObject *Py_UNUSED(ignored))
{
    struct kimi_meter_row rows[KIMI_METER_MODELS + 1];
    size_t n = kimi_meter_snapshot(&self->core, rows,
                                   KIMI_METER_MODELS + 1);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct kimi_meter_row *r = &rows[i];
        /* Names are valid UTF-8 (meter.c files the rest under ""). */
        PyObject *row = Py_BuildValue(
            "(s#LLLLLLLLd)", r->model, (Py_ssize_t)strlen(r->model), (long long)r->requests,
            (long long)r->prompt, (long long)r->cached,
            (long long)r->completion, (long long)r->reasoning,
            (long long)r->priced_prompt, (long long)r->priced_cached,
            (long long)r->priced_completion, r->reported_cost);
        if (row == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, row);
    }
    return list;
}

static PyObject *
meter_reset(struct meter *self, PyObject *Py_UNUSED(ignored))
{
    kimi_meter_reset(&self->core);
    Py_RETURN_NONE;
}

static PyMethodDef meter_methods[] = {
    {"snapshot", (PyCFunction)meter_snapshot, METH_NOARGS,
     PyDoc_STR("[(model, requests, prompt, cached, completion, reasoning, "
               "priced_prompt, priced_cached, priced_completion, "
               "reported_cost)]")},
    {"reset", (PyCFunction)meter_reset, METH_NOARGS,
     PyDoc_STR("Start the totals from zero (parents keep theirs).")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot meter_slots[] = {
    {Py_tp_new, meter_new},
    {Py_tp_dealloc, meter_dealloc},
    {Py_tp_methods, meter_methods},
    {Py_tp_doc, "Meter(parent=None)\n"
                "One client's usage totals per model; a derived client's "
                "meter counts into its parent's too."},
    {0, NULL},
};

PyType_Spec kimi_meter_spec = {
    .name = "kimi._core.Meter",
    .basicsize = sizeof(struct meter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = meter_slots,
};

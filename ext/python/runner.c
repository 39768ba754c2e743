/* runner.c - the _core.Runner type: many non-streaming requests on one
 * lane's multi handle, stepped by the run driver (ext/core/run.h) with the
 * GIL released.
 *
 * kimi's sync map (kimi/_map.py) starts requests on a runner, then asks
 * step() for the ones that are over; each comes back as its key with
 * either the reply or the exception create() would have raised, so
 * per-item failures are values and retrying is the map's decision.
 * Admission by the client's limits is the same as for a single call.
 */
#include "binding.h"

#include <string.h>
#include <time.h>

#include "run.h"

struct run_entry {
    struct kimi_transfer transfer;
    struct request *request;        /* strong */
    PyObject *key;                  /* strong: the caller's int */
    struct kimi_ticket ticket;
    size_t slot;
};

struct runner {
    PyObject_HEAD
    struct client *client;          /* strong */
    struct kimi_lane *lane;         /* checked out; NULL once closed */
    struct kpy_slots slots;
    struct run_entry **entries;     /* in flight */
    struct kimi_transfer **transfers;   /* entries[i]->transfer, for run.h */
    size_t n;
    size_t cap;
    int busy;                       /* a step runs with the GIL released */
    int close_requested;            /* close() came during that step */
};

/* RuntimeError when another thread is stepping the runner (its arrays
 * and lane are in use without the GIL). */
static int
check_idle(struct runner *r, const char *what)
{
    if (r->busy) {
        PyErr_Format(PyExc_RuntimeError,
                     "map: %s while another thread steps it", what);
        return -1;
    }
    return 0;
}

static int
forked(const struct runner *r)
{
    return r->lane != NULL
           && r->lane->generation != kimi_pool_fork_generation();
}

static PyObject *
runner_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    struct module_state *st = kimi_state_of_type(type);
    PyObject *client = NULL;
    struct kimi_error err = {0};

    (void)kwargs;
    if (!PyArg_ParseTuple(args, "O!:Runner", st->client_type, &client)) {
        return NULL;
    }
    struct runner *r = (struct runner *)type->tp_alloc(type, 0);
    if (r == NULL) {
        return NULL;
    }
    r->client = (struct client *)Py_NewRef(client);
    if (kpy_slots_init(&r->slots) < 0) {
        Py_DECREF(r);
        return NULL;
    }
    if (kimi_pool_checkout(&r->client->pool, &r->lane, &err) != KIMI_OK) {
        r->lane = NULL;
        Py_DECREF(r);
        return kimi_raise(st, &err, 0, NULL);
    }
    return (PyObject *)r;
}

/* Take entry i out: off the lane, its ticket settled; the caller owns
 * the returned entry. */
static struct run_entry *
take_out(struct runner *r, size_t i, long tokens)
{
    struct run_entry *e = r->entries[i];
    kpy_limiter_settle(r->client->limiter, &e->ticket, tokens);
    kimi_transfer_detach(&e->transfer);
    kpy_slots_give(&r->slots, e->slot);
    r->n--;
    r->entries[i] = r->entries[r->n];
    r->transfers[i] = r->transfers[r->n];
    return e;
}

static void
entry_free(struct run_entry *e)
{
    kimi_transfer_free(&e->transfer);
    Py_XDECREF(e->request);
    Py_XDECREF(e->key);
    PyMem_Free(e);
}

static int
grow(struct runner *r)
{
    if (r->n < r->cap) {
        return 0;
    }
    size_t cap = r->cap ? r->cap * 2 : 64;
    struct run_entry **entries = PyMem_Realloc(r->entries,
                                               cap * sizeof(*entries));
    if (entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->entries = entries;
    struct kimi_transfer **transfers = PyMem_Realloc(
        r->transfers, cap * sizeof(*transfers));
    if (transfers == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->transfers = transfers;
    r->cap = cap;
    return 0;
}

/* start(request, key, total=None) -> None once started (key: an int,
 * so the runner holds nothing that could refer back to it); the seconds to
 * wait when the client's limits do not admit it yet; False when every
 * easy handle is busy.  Raises LimitExceededError for a refusal. */
static PyObject *
runner_start(struct runner *r, PyObject *args)
{
    struct module_state *st = kimi_state_of_type(Py_TYPE(r));
    struct request *request = NULL;
    PyObject *key = NULL;
    PyObject *total = Py_None;
    struct kimi_error err;
    struct kimi_ticket ticket = {0};
    CURL *easy = NULL;
    size_t slot = 0;

    kimi_error_clear(&err);
    if (!PyArg_ParseTuple(args, "O!O!|O:start", st->request_type, &request,
                          &PyLong_Type, &key, &total)) {
        return NULL;
    }
    if (check_idle(r, "start") < 0) {
        return NULL;
    }
    if (r->lane == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "map: the runner is closed");
        return NULL;
    }
    if (forked(r)) {
        kimi_error_set(&err, KIMI_EFORKED,
                       "map: the runner was made in the parent process; "
                       "start the map again after fork()");
        return kimi_raise(st, &err, 0, NULL);
    }
    if (request->core.stream) {
        PyErr_SetString(PyExc_ValueError, "map: requests do not stream");
        return NULL;
    }
    struct kimi_request req;
    if (kpy_request_for(r->client, request, total, &req) < 0) {
        return NULL;
    }
    if (grow(r) < 0) {
        return NULL;
    }
    struct limiter *limiter = r->client->limiter;
    /* An easy handle first: a start that finds none must not count
     * against the limits. */
    int rc = kpy_slots_take(&r->slots, r->lane, &slot, &easy, &err);
    if (rc != 0) {
        if (rc > 0) {
            Py_RETURN_FALSE;
        }
        return kimi_raise(st, &err, 0, NULL);
    }
    int64_t wait_ms = 0;
    rc = kpy_admit_now(r->client, request, &ticket, &wait_ms);
    if (rc != 0) {
        kpy_slots_give(&r->slots, slot);
        return rc < 0 ? NULL : PyFloat_FromDouble((double)wait_ms / 1000.0);
    }
    struct run_entry *e = PyMem_Calloc(1, sizeof(*e));
    if (e == NULL) {
        kpy_limiter_settle(limiter, &ticket, 0);
        kpy_slots_give(&r->slots, slot);
        return PyErr_NoMemory();
    }
    e->request = (struct request *)Py_NewRef(request);
    e->key = Py_NewRef(key);
    e->ticket = ticket;
    e->slot = slot;
    r->entries[r->n] = e;
    r->transfers[r->n] = &e->transfer;
    r->n++;
    if (kimi_transfer_start(&e->transfer, easy, r->client->pool.share, &req,
                            &err) != KIMI_OK
        || kimi_transfer_attach(&e->transfer, r->lane->multi, &err)
               != KIMI_OK) {
        entry_free(take_out(r, r->n - 1, 0));
        return kimi_raise(st, &err, 0, NULL);
    }
    Py_RETURN_NONE;
}

/* The exception being raised, taken out as a value. */
static PyObject *
fetch_exception(void)
{
    PyObject *type = NULL;
    PyObject *value = NULL;
    PyObject *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

static void runner_teardown(struct runner *r);

/* (key, reply, None) or (key, None, exception) for a finished entry. */
static PyObject *
outcome(struct module_state *st, struct runner *r, size_t i)
{
    struct kimi_transfer *t = &r->entries[i]->transfer;
    struct kimi_error err;
    PyObject *reply = NULL;
    long tokens = -1;

    kimi_error_clear(&err);
    if (kimi_transfer_body_state(t, &err) != KIMI_OK) {
        kimi_raise(st, &err, 0, NULL);
    }
    else if (t->status < 200 || t->status >= 300) {
        tokens = 0;
        kimi_raise_status(st, t);
    }
    else {
        reply = kpy_parse_reply(st, r->client, t,
                                r->entries[i]->request->result_class,
                                r->entries[i]->request->chunk_class != Py_None,
                                &tokens);
    }
    PyObject *exc = reply == NULL ? fetch_exception() : NULL;
    struct run_entry *e = take_out(r, i, tokens);
    PyObject *item = NULL;
    if (reply != NULL || exc != NULL) {
        item = PyTuple_Pack(3, e->key, reply ? reply : Py_None,
                            exc ? exc : Py_None);
    }
    Py_XDECREF(reply);
    Py_XDECREF(exc);
    entry_free(e);
    return item;
}

/* Fail every entry with err (the multi handle broke, or a fork). */
static void
fail_all(struct runner *r, const struct kimi_error *err)
{
    for (size_t i = 0; i < r->n; i++) {
        struct kimi_transfer *t = r->transfers[i];
        if (!kimi_run_over(t)) {
            t->failure = *err;
            t->failed = 1;
        }
    }
}

/* step(timeout) -> [(key, reply, exception), ...] for the requests over
 * within timeout seconds (an empty list when none was); the GIL is
 * released while waiting, and signals are checked between slices. */
static PyObject *
runner_step(struct runner *r, PyObject *arg)
{
    struct module_state *st = kimi_state_of_type(Py_TYPE(r));
    struct kimi_error err;
    long timeout_ms = 0;

    if (kpy_seconds_to_ms(arg, "timeout", &timeout_ms) < 0
        || check_idle(r, "step") < 0) {
        return NULL;
    }
    if (forked(r)) {
        kimi_error_set(&err, KIMI_EFORKED,
                       "map: the requests belong to the parent process");
        fail_all(r, &err);
        timeout_ms = 0;
    }
    int64_t end = kimi_transfer_clock_ms() + timeout_ms;
    kimi_error_clear(&err);
    for (;;) {
        int64_t left = end - kimi_transfer_clock_ms();
        int slice = left > KIMI_POLL_MS ? KIMI_POLL_MS
                    : left > 0          ? (int)left
                                        : 0;
        enum kimi_status status = KIMI_AGAIN;
        if (r->n == 0 || r->lane == NULL) {
            if (slice > 0) {
                Py_BEGIN_ALLOW_THREADS
                struct timespec ts = {0, (long)slice * 1000000L};
                nanosleep(&ts, NULL);
                Py_END_ALLOW_THREADS
            }
        }
        else if (!forked(r)) {
            r->busy = 1;
            Py_BEGIN_ALLOW_THREADS
            status = kimi_run_step(r->lane->multi, r->transfers, r->n, slice,
                                   &err);
            Py_END_ALLOW_THREADS
            r->busy = 0;
            if (r->close_requested) {
                runner_teardown(r);
                return PyList_New(0);
            }
        }
        else {
            status = KIMI_OK;   /* failed above: collect them */
        }
        if (status != KIMI_OK && status != KIMI_AGAIN) {
            fail_all(r, &err);
            status = KIMI_OK;
        }
        if (status == KIMI_OK) {
            break;
        }
        if (PyErr_CheckSignals() < 0) {
            return NULL;
        }
        if (kimi_transfer_clock_ms() >= end) {
            return PyList_New(0);
        }
    }
    PyObject *done = PyList_New(0);
    if (done == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < r->n;) {
        if (!kimi_run_over(r->transfers[i])) {
            i++;
            continue;
        }
        PyObject *item = outcome(st, r, i);     /* entry i is replaced */
        if (item == NULL || PyList_Append(done, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(done);
            return NULL;
        }
        Py_DECREF(item);
    }
    return done;
}

/* Remove every request in flight (their keys are dropped) and give the
 * lane back. */
static void
runner_teardown(struct runner *r)
{
    r->close_requested = 0;
    while (r->n > 0) {
        entry_free(take_out(r, r->n - 1, -1));
    }
    if (r->lane != NULL) {
        kimi_pool_checkin(&r->client->pool, r->lane);
        r->lane = NULL;
    }
}

static PyObject *
runner_close(struct runner *r, PyObject *Py_UNUSED(ignored))
{
    if (r->busy) {
        r->close_requested = 1;     /* the stepping thread tears it down */
    }
    else {
        runner_teardown(r);
    }
    Py_RETURN_NONE;
}

static Py_ssize_t
runner_len(struct runner *r)
{
    return (Py_ssize_t)r->n;
}

static void
runner_dealloc(struct runner *r)
{
    PyTypeObject *type = Py_TYPE(r);
    runner_teardown(r);
    kpy_slots_free(&r->slots);
    PyMem_Free(r->entries);
    PyMem_Free(r->transfers);
    Py_XDECREF(r->client);
    type->tp_free((PyObject *)r);
    Py_DECREF(type);
}

static PyMethodDef runner_methods[] = {
    {"start", (PyCFunction)runner_start, METH_VARARGS,
     PyDoc_STR("start(request, key, total=None) -> None once started, the "
               "seconds to wait for the limits, or False when full.")},
    {"step", (PyCFunction)runner_step, METH_O,
     PyDoc_STR("step(timeout) -> [(key, reply, exception), ...] of the "
               "requests over within timeout seconds.")},
    {"close", (PyCFunction)runner_close, METH_NOARGS,
     PyDoc_STR("Cancel every request in flight and give the lane back.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot runner_slots[] = {
    {Py_tp_new, runner_new},
    {Py_tp_dealloc, runner_dealloc},
    {Py_tp_methods, runner_methods},
    {Py_sq_length, runner_len},
    {Py_tp_doc, "Runner(client)\n"
                "Many requests on one lane, stepped with the GIL released."},
    {0, NULL},
};

PyType_Spec kimi_runner_spec = {
    .name = "kimi._core.Runner",
    .basicsize = sizeof(struct runner),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = runner_slots,
};

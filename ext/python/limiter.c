/* limiter.c - the _core.Limiter type: a client's account limits (limit.h)
 * as one object its sync calls, streams, maps and async tasks all hold.
 *
 * Admission comes in two forms: blocking, for the sync path (the GIL is
 * released while it sleeps, signals are checked between slices), and
 * "try", for the loops that wait their own way (the run driver of map,
 * asyncio).  A refusal is kimi.LimitExceededError, raised before anything
 * is sent.
 */
#include "binding.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include "estimate.h"
#include "json.h"

static PyObject *
limiter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"concurrency", "rpm", "tpm", "tpd", NULL};
    struct kimi_limits limits = {0};
    struct kimi_error err = {0};

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|llll:Limiter", kwlist,
                                     &limits.concurrency, &limits.rpm,
                                     &limits.tpm, &limits.tpd)) {
        return NULL;
    }
    struct limiter *self = (struct limiter *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (kimi_limiter_init(&self->core, &limits, NULL, NULL, &err)
        != KIMI_OK) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_ValueError, err.message);
        return NULL;
    }
    return (PyObject *)self;
}

static void
limiter_dealloc(struct limiter *self)
{
    PyTypeObject *type = Py_TYPE(self);
    kimi_limiter_free(&self->core);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

long
kpy_request_tokens(struct limiter *l, struct request *r)
{
    if (l->core.limits.tpm == 0 && l->core.limits.tpd == 0) {
        return 0;       /* no token limit: real usage alone is counted */
    }
    if (r->tokens < 0) {
        long prompt = kimi_estimate_prompt_tokens(r->core.body,
                                                  r->core.body_len);
        r->tokens = prompt > LONG_MAX - r->budget ? LONG_MAX
                                                  : prompt + r->budget;
    }
    return r->tokens;
}

/* kimi.LimitExceededError for a refusal of acquire; always returns -1. */
static int
raise_refusal(struct limiter *l, long tokens, int64_t wait_ms,
              const struct kimi_error *err)
{
    struct module_state *st = kimi_state_of_type(Py_TYPE(l));
    const struct kimi_limits *lim = &l->core.limits;
    const char *which = lim->tpm > 0 && tokens > lim->tpm ? "tpm" : "tpd";
    int never = (lim->tpm > 0 && tokens > lim->tpm)
                || (lim->tpd > 0 && tokens > lim->tpd);

    PyObject *exc;
    if (never) {
        exc = PyUnicode_FromFormat(
            "limits: the request counts %ld tokens (its prompt estimate plus "
            "its completion budget), more than %s %ld admits at all",
            tokens, which, strcmp(which, "tpm") == 0 ? lim->tpm
                                                              : lim->tpd);
    }
    else {
        exc = PyUnicode_FromString(err->message);
    }
    if (exc != NULL) {
        Py_SETREF(exc, PyObject_CallOneArg(st->LimitExceededError, exc));
    }
    if (exc == NULL) {
        return -1;
    }
    PyObject *limit = PyUnicode_FromString(which);
    PyObject *count = PyLong_FromLong(tokens);
    PyObject *after = never ? Py_NewRef(Py_None)
                            : PyFloat_FromDouble((double)wait_ms / 1000.0);
    if (limit != NULL && count != NULL && after != NULL
        && PyObject_SetAttrString(exc, "limit", limit) == 0
        && PyObject_SetAttrString(exc, "tokens", count) == 0
        && PyObject_SetAttrString(exc, "retry_after", after) == 0) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    }
    Py_XDECREF(limit);
    Py_XDECREF(count);
    Py_XDECREF(after);
    Py_DECREF(exc);
    return -1;
}

int
kpy_limiter_try(struct limiter *l, long tokens, struct kimi_ticket *ticket,
                int64_t *wait_ms)
{
    struct kimi_error err;
    kimi_error_clear(&err);
    enum kimi_status status = kimi_limiter_acquire(&l->core, tokens, ticket,
                                                   wait_ms, &err);
    switch (status) {
    case KIMI_OK:
        return 0;
    case KIMI_AGAIN:
        return 1;
    case KIMI_ETOOBIG:
        return raise_refusal(l, tokens, *wait_ms, &err);
    default:
        PyErr_NoMemory();
        return -1;
    }
}

static void
sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
        /* interrupted: sleep what is left; signals are checked after */
    }
}

int
kpy_limiter_admit(struct limiter *l, long tokens, int64_t deadline_ms,
                  struct kimi_ticket *ticket)
{
    int64_t began = 0;
    for (;;) {
        int64_t wait_ms = 0;
        int rc = kpy_limiter_try(l, tokens, ticket, &wait_ms);
        if (rc <= 0) {
            if (began > 0) {
                kimi_limiter_waited(&l->core,
                                    kimi_transfer_clock_ms() - began);
            }
            return rc;
        }
        if (began == 0) {
            began = kimi_transfer_clock_ms();
        }
        if (deadline_ms > 0) {
            int64_t left = deadline_ms - kimi_transfer_clock_ms();
            if (left <= 0) {
                struct kimi_error err = {0};
                kimi_limiter_waited(&l->core,
                                    kimi_transfer_clock_ms() - began);
                err.limit = "total";
                kimi_error_set(&err, KIMI_ETIMEOUT,
                               "timed out: the call waited for the client's "
                               "limits until its total timeout");
                kimi_raise(kimi_state_of_type(Py_TYPE(l)), &err, 0, NULL);
                return -1;
            }
            if (wait_ms > left) {
                wait_ms = left;
            }
        }
        if (wait_ms > KIMI_POLL_MS) {
            wait_ms = KIMI_POLL_MS;
        }
        Py_BEGIN_ALLOW_THREADS
        sleep_ms(wait_ms);
        Py_END_ALLOW_THREADS
        if (PyErr_CheckSignals() < 0) {
            kimi_limiter_waited(&l->core, kimi_transfer_clock_ms() - began);
            return -1;
        }
    }
}

void
kpy_limiter_settle(struct limiter *l, struct kimi_ticket *ticket,
                   long real_tokens)
{
    if (l != NULL) {
        kimi_limiter_release(&l->core, ticket, real_tokens);
    }
}

long
kpy_usage_tokens(const cJSON *usage)
{
    if (!cJSON_IsObject(usage)) {
        return -1;
    }
    const cJSON *total = kimi_json_member(usage, "total_tokens");
    if (cJSON_IsNumber(total) && total->valuedouble >= 0
        && total->valuedouble < (double)LONG_MAX) {
        return (long)total->valuedouble;
    }
    const cJSON *prompt = kimi_json_member(usage, "prompt_tokens");
    const cJSON *completion = kimi_json_member(usage, "completion_tokens");
    if (cJSON_IsNumber(prompt) && cJSON_IsNumber(completion)
        && prompt->valuedouble >= 0 && completion->valuedouble >= 0
        && prompt->valuedouble + completion->valuedouble < (double)LONG_MAX) {
        return (long)(prompt->valuedouble + completion->valuedouble);
    }
    return -1;
}

/* pause(seconds): every sender of the client waits that long (a 429 that
 * names the account's limits). */
static PyObject *
limiter_pause(struct limiter *self, PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (!(seconds >= 0.0)) {
        PyErr_SetString(PyExc_ValueError, "pause: seconds must be >= 0");
        return NULL;
    }
    if (seconds > 86400.0) {
        seconds = 86400.0;
    }
    kimi_limiter_pause(&self->core, (int64_t)(seconds * 1000.0));
    Py_RETURN_NONE;
}

/* waited(seconds): a caller that waits its own way (asyncio, map) says
 * how long it waited to be admitted. */
static PyObject *
limiter_waited(struct limiter *self, PyObject *arg)
{
    double seconds = PyFloat_AsDouble(arg);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (seconds > 0.0 && seconds < 1e9) {
        kimi_limiter_waited(&self->core, (int64_t)(seconds * 1000.0));
    }
    Py_RETURN_NONE;
}

/* snapshot() -> (in_flight, requests_minute, tokens_minute, tokens_day,
 * paused_seconds, waited_seconds) */
static PyObject *
limiter_snapshot(struct limiter *self, PyObject *Py_UNUSED(ignored))
{
    struct kimi_limit_snapshot snap;
    kimi_limiter_snapshot(&self->core, &snap);
    return Py_BuildValue("(lllldd)", snap.in_flight, snap.requests_minute,
                         snap.tokens_minute, snap.tokens_day,
                         (double)snap.paused_ms / 1000.0,
                         (double)snap.waited_ms / 1000.0);
}

static PyMethodDef limiter_methods[] = {
    {"pause", (PyCFunction)limiter_pause, METH_O,
     PyDoc_STR("pause(seconds): every sender waits that long.")},
    {"waited", (PyCFunction)limiter_waited, METH_O,
     PyDoc_STR("waited(seconds): add to the time callers spent waiting.")},
    {"snapshot", (PyCFunction)limiter_snapshot, METH_NOARGS,
     PyDoc_STR("(in_flight, requests_minute, tokens_minute, tokens_day, "
               "paused_seconds, waited_seconds)")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot limiter_slots[] = {
    {Py_tp_new, limiter_new},
    {Py_tp_dealloc, limiter_dealloc},
    {Py_tp_methods, limiter_methods},
    {Py_tp_doc, "Limiter(concurrency=0, rpm=0, tpm=0, tpd=0)\n"
                "One client's account limits (0: none), shared by its "
                "calls."},
    {0, NULL},
};

PyType_Spec kimi_limiter_spec = {
    .name = "kimi._core.Limiter",
    .basicsize = sizeof(struct limiter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = limiter_slots,
};

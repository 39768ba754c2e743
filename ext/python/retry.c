/* retry.c - kimi._core.retry_delay: the core's retry decision (retry.h)
 * for the loops that sleep in Python (Kimi's time.sleep, and later
 * AsyncKimi's asyncio.sleep).  Decides only; never sleeps.
 */
#include "binding.h"

#include "retry.h"

/* A str argument as UTF-8, or NULL for None. */
static int
optional_utf8(PyObject *value, const char **out)
{
    *out = NULL;
    if (value == Py_None) {
        return 0;
    }
    if (PyLong_Check(value)) {
        return 1;   /* a numeric code names no billing condition */
    }
    if (!PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError,
                        "retry_delay: type and code must be str, int or "
                        "None");
        return -1;
    }
    *out = PyUnicode_AsUTF8(value);
    return *out == NULL ? -1 : 0;
}

PyObject *
kpy_retry_delay(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"outcome", "status", "type", "code",
                             "retry_after", "attempt", "max_retries",
                             "jitter", NULL};
    struct kimi_retry_facts facts = {0};
    int outcome = 0;
    PyObject *type = Py_None;
    PyObject *code = Py_None;
    PyObject *wait = Py_None;
    double jitter = 0.0;
    double delay = 0.0;

    (void)module;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "ilOOOiid:retry_delay", kwlist, &outcome,
            &facts.http_status, &type, &code, &wait, &facts.attempt,
            &facts.max_retries, &jitter)) {
        return NULL;
    }
    if (outcome < KIMI_OUTCOME_NO_RESPONSE || outcome > KIMI_OUTCOME_STATUS) {
        PyErr_SetString(PyExc_ValueError, "retry_delay: unknown outcome");
        return NULL;
    }
    facts.outcome = (enum kimi_outcome)outcome;
    if (optional_utf8(type, &facts.error_type) < 0
        || optional_utf8(code, &facts.error_code) < 0) {
        return NULL;
    }
    facts.retry_after = -1.0;
    if (wait != Py_None) {
        facts.retry_after = PyFloat_AsDouble(wait);
        if (facts.retry_after == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
    }
    if (!kimi_retry_decide(&facts, jitter, &delay)) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(delay);
}

/* reading.c - what a stream's reader makes of each event, for the sync
 * Stream (stream.c) and the async Exchange (exchange_async.c) alike.
 *
 * The two differ only in how they wait for the next event (kpy_wait with
 * the GIL released, or the event loop); what an event, the end or a
 * failure turns into is decided here once.
 */
#include "binding.h"

#include <string.h>

/* The server's error object, for StreamError.body (new ref or NULL). */
static PyObject *
server_error_body(struct module_state *st, const struct kimi_transfer *t)
{
    const cJSON *node = t->server_error;
    if (node == NULL) {
        return NULL;
    }
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(node, "error");
    return kimi_convert_or_text(st, inner != NULL ? inner : node);
}

/* Keep the exception being raised as the one that ended the stream. */
static void
remember_failure(struct kpy_reader *r)
{
    PyObject *type = NULL;
    PyObject *value = NULL;
    PyObject *traceback = NULL;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    Py_XSETREF(r->failure, Py_XNewRef(value));
    PyErr_Restore(type, value, traceback);
}

/* Raise the exception for err and keep it: final() raises it again rather
 * than passing a broken reply off as complete. */
static void
raise_stream_error(struct module_state *st, struct kpy_reader *r,
                   const struct kimi_transfer *t,
                   const struct kimi_error *err)
{
    PyObject *exc = NULL;
    PyObject *body = server_error_body(st, t);  /* new or NULL */

    if (body != NULL || !PyErr_Occurred()) {
        exc = kimi_exception_new(st, err, 1, body);
        Py_XDECREF(body);
    }
    /* What the server said (already redacted by the core), request id
     * included, whichever shape its error had. */
    if (exc != NULL && t->has_api_error
        && kimi_set_api_fields(exc, &t->api_error) < 0) {
        Py_CLEAR(exc);
    }
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    remember_failure(r);
}

/* A chunk that cannot be converted ends the stream (final() must not keep
 * what the iterator could not give): StreamError, caused by the
 * conversion's error. */
static void
fail_conversion(struct module_state *st, struct kpy_reader *r)
{
    struct kimi_error err = {0};
    err.http_status = r->status;
    kimi_error_set(&err, KIMI_EPROTO,
                   "stream: a chunk cannot be converted to Python objects");
    kimi_raise_from_current(st, &err, 1);
    remember_failure(r);
}

PyObject *
kpy_reader_take(struct module_state *st, struct kpy_reader *r,
                const struct kimi_transfer *t, enum kpy_read_mode mode,
                enum kimi_status status, cJSON *event,
                const struct kimi_error *err, int *over)
{
    *over = 0;
    if (status == KIMI_DONE) {
        r->completed = 1;
        *over = 1;
        return NULL;
    }
    if (status != KIMI_OK) {
        cJSON_Delete(event);
        raise_stream_error(st, r, t, err);
        *over = 1;
        return NULL;
    }
    PyObject *value = NULL;
    if (mode == KPY_READ_CHUNKS) {
        value = kimi_convert(st, event, r->chunk_class);
        if (value == NULL) {
            fail_conversion(st, r);
            *over = 1;
        }
    }
    else if (mode == KPY_READ_TEXT) {
        const char *text = kimi_chunk_content(event);
        if (text != NULL && text[0] != '\0') {
            value = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text),
                                         "replace");
        }
    }
    cJSON_Delete(event);
    return value;
}

PyObject *
kpy_reader_final(struct module_state *st, struct kpy_reader *r,
                 const struct kimi_transfer *t)
{
    struct kimi_error err = {0};
    cJSON *reply = NULL;

    if (r->failure != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(r->failure), r->failure);
        return NULL;
    }
    if (kimi_events_reply(t, r->completed, &reply, &err) != KIMI_OK) {
        return kimi_raise(st, &err, 1, NULL);
    }
    PyObject *result = kimi_convert(st, reply, r->completion_class);
    cJSON_Delete(reply);
    return result;
}

int
kpy_reader_traverse(struct kpy_reader *r, visitproc visit, void *arg)
{
    Py_VISIT(r->chunk_class);
    Py_VISIT(r->completion_class);
    Py_VISIT(r->headers);
    Py_VISIT(r->failure);
    return 0;
}

void
kpy_reader_clear(struct kpy_reader *r)
{
    Py_CLEAR(r->chunk_class);
    Py_CLEAR(r->completion_class);
    Py_CLEAR(r->headers);
    Py_CLEAR(r->failure);
}

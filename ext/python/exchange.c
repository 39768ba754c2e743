/* exchange.c - the one wait loop of the binding, and opening an exchange.
 *
 * kpy_wait is the only place the binding releases the GIL: one core call
 * per slice, then signals are checked with the GIL held.  Opening an
 * exchange checks a lane out, starts the transfer and waits for the
 * status; a non-2xx status is read whole and raised as its APIStatusError.
 */
#include "binding.h"

#include "dialect.h"
#include "json.h"

static enum kimi_status
step_headers(struct kimi_transfer *t, int poll_ms, cJSON **event,
             struct kimi_error *err)
{
    (void)event;
    return kimi_drive_headers(t, poll_ms, err);
}

static enum kimi_status
step_body(struct kimi_transfer *t, int poll_ms, cJSON **event,
          struct kimi_error *err)
{
    (void)event;
    return kimi_drive_body(t, poll_ms, err);
}

/* Drive one step of the transfer until it stops saying KIMI_AGAIN.
 *
 *   loop:
 *       release the GIL; one slice of the core step; take the GIL back
 *       not AGAIN: return it
 *       *stop set (close() from another thread): ECANCELLED, no exception
 *       a signal handler raised: ECANCELLED with its exception
 */
enum kimi_status
kpy_wait(struct kimi_transfer *t, enum kpy_step step, cJSON **event,
         const int *stop, struct kimi_error *err)
{
    enum kimi_status (*fn)(struct kimi_transfer *, int, cJSON **,
                           struct kimi_error *) =
        step == KPY_HEADERS ? step_headers
        : step == KPY_BODY  ? step_body
                            : kimi_drive_event;
    enum kimi_status st;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        st = fn(t, KIMI_POLL_MS, event, err);
        Py_END_ALLOW_THREADS
        if (st != KIMI_AGAIN) {
            return st;
        }
        if (stop != NULL && *stop) {
            return KIMI_ECANCELLED;
        }
        if (PyErr_CheckSignals() < 0) {
            return KIMI_ECANCELLED;
        }
    }
}

int
kpy_exchange_open(struct module_state *st, struct kimi_pool *pool,
                  const struct kimi_request *req, struct kimi_transfer *t,
                  struct kimi_lane **lane, int whole_body)
{
    struct kimi_error err;
    kimi_error_clear(&err);
    enum kimi_status status = kimi_pool_checkout(pool, lane, &err);
    if (status == KIMI_OK) {
        status = kimi_transfer_start(t, (*lane)->easy, pool->share, req,
                                     &err);
    }
    else {
        /* kimi_transfer_start zeroes t; without it, the caller's free
         * still needs a zeroed transfer. */
        memset(t, 0, sizeof(*t));
        *lane = NULL;
    }
    if (status == KIMI_OK) {
        status = kimi_transfer_attach(t, (*lane)->multi, &err);
    }
    if (status == KIMI_OK) {
        status = kpy_wait(t, KPY_HEADERS, NULL, NULL, &err);
    }
    int success = t->status >= 200 && t->status < 300;
    if (status == KIMI_OK && (!success || whole_body)) {
        status = kpy_wait(t, KPY_BODY, NULL, NULL, &err);
    }
    if (status == KIMI_OK && !success) {
        kimi_raise_status(st, t);
        return -1;
    }
    if (status == KIMI_ECANCELLED) {
        return -1;      /* a signal handler raised */
    }
    if (status != KIMI_OK) {
        kimi_raise(st, &err, 0, NULL);
        return -1;
    }
    return 0;
}

/* obj._response = (status, the final header block as received, the key
 * redacted): a slot of KimiObject, so it stays out of the fields. */
static int
set_response(struct module_state *st, PyObject *obj,
             const struct kimi_transfer *t)
{
    PyObject *status = PyLong_FromLong(t->status);
    PyObject *headers = PyBytes_FromStringAndSize(
        t->response_headers.data ? t->response_headers.data : "",
        (Py_ssize_t)t->response_headers.len);
    PyObject *response = NULL;
    if (status != NULL && headers != NULL) {
        response = PyTuple_Pack(2, status, headers);
    }
    Py_XDECREF(status);
    Py_XDECREF(headers);
    if (response == NULL) {
        return -1;
    }
    int rc = PyObject_SetAttr(obj, st->str_response, response);
    Py_DECREF(response);
    return rc;
}

PyObject *
kpy_parse_reply(struct module_state *st, struct client *client,
                struct kimi_transfer *t, PyObject *result_class,
                int metered, long *tokens)
{
    struct kimi_error err = {0};

    *tokens = -1;
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
    if ((t->dialect & KIMI_DIALECT_ENVELOPE)
        && (kimi_apierror_is_error(json)
            || cJSON_IsFalse(kimi_json_member(json, "success")))) {
        /* {"success": false, "errors": [...]} under a 2xx status: the
         * error it is (its code may name the status), not a reply; so is
         * a "success": false whose errors are no list. */
        cJSON_Delete(json);
        return kimi_raise_status(st, t);
    }
    if (t->dialect != 0
        && kimi_dialect_reply(t->dialect, &json, &err) != KIMI_OK) {
        cJSON_Delete(json);
        return kimi_raise(st, &err, 0, NULL);
    }
    /* The last of duplicate members, as in the object the user gets. */
    const cJSON *usage = kimi_json_member(json, "usage");
    *tokens = kpy_usage_tokens(usage);
    if (metered) {
        const cJSON *model = kimi_json_member(json, "model");
        const char *name = cJSON_IsString(model) ? model->valuestring : "";
        kpy_meter_note(client, name, strlen(name), usage);
    }
    if (metered && kpy_notice_reply(client, json) < 0) {
        cJSON_Delete(json);
        return NULL;
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
    if (PyType_IsSubtype(Py_TYPE(obj), (PyTypeObject *)st->object_class)
        && set_response(st, obj, t) < 0) {
        Py_DECREF(obj);
        return NULL;
    }
    return obj;
}

int
kpy_request_for(struct client *client, struct request *request,
                PyObject *total, struct kimi_request *req)
{
    *req = request->core;
    req->max_event = client->max_event;
    req->max_body = client->max_body;
    if (total != Py_None
        && kpy_seconds_to_ms(total, "total", &req->timeouts.total_ms) < 0) {
        return -1;
    }
    return 0;
}

int
kpy_admit_now(struct client *client, struct request *request,
              struct kimi_ticket *ticket, int64_t *wait_ms)
{
    struct limiter *limiter = client->limiter;
    *wait_ms = 0;
    if (limiter == NULL) {
        return 0;
    }
    return kpy_limiter_try(limiter, kpy_request_tokens(limiter, request),
                           ticket, wait_ms);
}

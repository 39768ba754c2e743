/* exchange.c - the one wait loop of the binding, and opening an exchange.
 *
 * kpy_wait is the only place the binding releases the GIL: one core call
 * per slice, then signals are checked with the GIL held.  Opening an
 * exchange checks a lane out, starts the transfer and waits for the
 * status; a non-2xx status is read whole and raised as its APIStatusError.
 */
#include "binding.h"

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

/* reactor.c - the _core.Reactor type: libcurl's multi socket interface
 * wired to a running asyncio loop.
 *
 * One reactor per client and loop holds one lane (a multi handle and its
 * easy handles) and the socket driver of ext/core/sockets.h.  libcurl's
 * callbacks only record what it wants watched; after every call into
 * libcurl the reactor applies those wishes to the loop (add_reader,
 * add_writer, their removals, call_soon / call_later for the timer).  When
 * the loop says a socket is ready or the timer fired, one socket action
 * runs, and every exchange whose awaited state arrived has its future
 * resolved.  No thread is started and nothing blocks.
 *
 * The reactor holds its exchanges weakly (an exchange removes itself when
 * it ends or dies); each exchange holds its reactor.  Nothing touches a
 * closed loop: wishes that arrive then are dropped.
 */
#include "binding.h"

#include <string.h>

#include "alloc.h"
#include "run.h"

enum {
    WATCH_READ = 1,
    WATCH_WRITE = 2
};

/* 1 when the loop may be called: not closed (and the reactor not torn
 * down).  -1 with an exception when the loop cannot say. */
static int
loop_usable(struct reactor *r)
{
    if (r->loop == NULL || r->lane == NULL || kpy_reactor_forked(r)) {
        return 0;   /* in a forked child the loop's selector is shared */
    }
    PyObject *closed = PyObject_CallNoArgs(r->is_closed);
    if (closed == NULL) {
        return -1;
    }
    int is_closed = PyObject_IsTrue(closed);
    Py_DECREF(closed);
    return is_closed < 0 ? -1 : !is_closed;
}

int
kpy_reactor_forked(const struct reactor *r)
{
    return r->lane != NULL
           && r->lane->generation != kimi_pool_fork_generation();
}

/* Call fn(*args) of the loop and drop the result; -1 on failure. */
static int
call_loop(PyObject *fn, PyObject *const *args, size_t nargs)
{
    PyObject *result = PyObject_Vectorcall(fn, args, nargs, NULL);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static int
grow_watch(struct reactor *r, curl_socket_t fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= r->n_watch) {
        return 0;
    }
    size_t n = r->n_watch ? r->n_watch : 64;
    while (n < need) {
        n *= 2;
    }
    unsigned char *watch = PyMem_Realloc(r->watch, n);
    if (watch == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(watch + r->n_watch, 0, n - r->n_watch);
    r->watch = watch;
    r->n_watch = n;
    return 0;
}

/* Stop watching fd.  libcurl may have closed the socket already (it
 * records the wish, then closes), so the selector can fail to modify it:
 * that is ignored, and the fd is forgotten whatever happens. */
static void
unwatch_socket(struct reactor *r, curl_socket_t fd, PyObject *fd_obj)
{
    int had = r->watch[fd];
    r->watch[fd] = 0;
    if ((had & WATCH_READ) && call_loop(r->remove_reader, &fd_obj, 1) < 0) {
        PyErr_Clear();
    }
    if ((had & WATCH_WRITE) && call_loop(r->remove_writer, &fd_obj, 1) < 0) {
        PyErr_Clear();
    }
}

/* Bring the loop's watch of one socket from what it was to want. */
static int
watch_socket(struct reactor *r, curl_socket_t fd, int want)
{
    if (fd < 0) {
        return 0;
    }
    if (grow_watch(r, fd) < 0) {
        return -1;
    }
    int had = r->watch[fd];
    PyObject *fd_obj = PyLong_FromLong((long)fd);
    if (fd_obj == NULL) {
        return -1;
    }
    int rc = 0;
    if (want == 0) {
        unwatch_socket(r, fd, fd_obj);
        Py_DECREF(fd_obj);
        return 0;
    }
    if ((had & WATCH_READ) && !(want & WATCH_READ)) {
        rc |= call_loop(r->remove_reader, &fd_obj, 1);
    }
    if (rc == 0 && (had & WATCH_WRITE) && !(want & WATCH_WRITE)) {
        rc |= call_loop(r->remove_writer, &fd_obj, 1);
    }
    if (rc == 0 && !(had & WATCH_READ) && (want & WATCH_READ)) {
        PyObject *args[] = {fd_obj, r->readable, fd_obj};
        rc |= call_loop(r->add_reader, args, 3);
    }
    if (rc == 0 && !(had & WATCH_WRITE) && (want & WATCH_WRITE)) {
        PyObject *args[] = {fd_obj, r->writable, fd_obj};
        rc |= call_loop(r->add_writer, args, 3);
    }
    if (rc != 0) {
        /* Leave nothing half-registered behind. */
        PyObject *type = NULL;
        PyObject *value = NULL;
        PyObject *tb = NULL;
        PyErr_Fetch(&type, &value, &tb);
        r->watch[fd] = WATCH_READ | WATCH_WRITE;
        unwatch_socket(r, fd, fd_obj);
        PyErr_Restore(type, value, tb);
    }
    else {
        r->watch[fd] = (unsigned char)want;
    }
    Py_DECREF(fd_obj);
    return rc == 0 ? 0 : -1;
}

static void
cancel_handle(PyObject **handle)
{
    if (*handle == NULL) {
        return;
    }
    PyObject *result = PyObject_CallMethod(*handle, "cancel", NULL);
    if (result == NULL) {
        PyErr_Clear();      /* a handle that cannot be cancelled is gone */
    }
    Py_XDECREF(result);
    Py_CLEAR(*handle);
}

/* loop.call_soon(fn) for 0 ms, loop.call_later(ms, fn) otherwise. */
static PyObject *
schedule(struct reactor *r, long ms, PyObject *fn)
{
    if (ms <= 0) {
        return PyObject_CallOneArg(r->call_soon, fn);
    }
    PyObject *delay = PyFloat_FromDouble((double)ms / 1000.0);
    if (delay == NULL) {
        return NULL;
    }
    PyObject *args[] = {delay, fn};
    PyObject *handle = PyObject_Vectorcall(r->call_later, args, 2, NULL);
    Py_DECREF(delay);
    return handle;
}

int
kpy_reactor_apply(struct reactor *r)
{
    size_t n = 0;
    long ms = -1;
    if (r->lane != NULL && !kimi_sockets_pending(&r->sockets)) {
        return 0;   /* the common case: nothing new to tell the loop */
    }
    int usable = loop_usable(r);
    if (usable <= 0) {
        if (r->lane != NULL) {
            kimi_sockets_take(&r->sockets, &n);     /* dropped */
            kimi_sockets_timer(&r->sockets, &ms);
        }
        return usable;
    }
    /* Copied out: applying a wish calls the loop, which may run a
     * collection that ends an exchange and so makes libcurl record new
     * wishes into the same buffer. */
    const struct kimi_socket_wish *wishes = kimi_sockets_take(&r->sockets,
                                                              &n);
    struct kimi_socket_wish local[16];
    struct kimi_socket_wish *copy = local;
    if (n > 16) {
        copy = PyMem_Malloc(n * sizeof(*copy));
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (n > 0) {
        memcpy(copy, wishes, n * sizeof(*copy));
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct kimi_socket_wish *w = &copy[i];
        int want = w->removed ? 0
                              : (w->read ? WATCH_READ : 0)
                                    | (w->write ? WATCH_WRITE : 0);
        if (watch_socket(r, w->fd, want) < 0) {
            if (rc == 0) {
                rc = -1;    /* the first failure is reported; go on */
            }
            else {
                PyErr_Clear();
            }
        }
    }
    if (copy != local) {
        PyMem_Free(copy);
    }
    if (kimi_sockets_timer(&r->sockets, &ms)) {
        int64_t due = kimi_transfer_clock_ms() + (ms > 0 ? ms : 0);
        r->wanted_ms = ms < 0 ? -1 : due;
        /* libcurl moves its timer after nearly every action.  A timer that
         * fires no later than wanted is kept: firing early only makes
         * libcurl say again how long to wait, and a handle made and
         * cancelled per action would cost more than the action. */
        if (ms < 0 || r->timer == NULL || r->timer_due_ms > due) {
            cancel_handle(&r->timer);
        }
        if (ms >= 0 && r->timer == NULL) {
            r->timer = schedule(r, ms, r->on_timer);
            r->timer_due_ms = due;
            if (r->timer == NULL && rc == 0) {
                rc = -1;
            }
            else if (r->timer == NULL) {
                PyErr_Clear();
            }
        }
    }
    return rc;
}

void
kpy_reactor_deadline(struct reactor *r, int64_t at)
{
    if (at == INT64_MAX || at >= r->deadline_at) {
        return;
    }
    PyObject *type = NULL;
    PyObject *value = NULL;
    PyObject *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    if (loop_usable(r) > 0) {
        cancel_handle(&r->deadline);
        int64_t ms = at - kimi_transfer_clock_ms();
        r->deadline = schedule(r, ms > 0 ? (long)ms : 0, r->on_deadline);
        r->deadline_at = r->deadline != NULL ? at : INT64_MAX;
    }
    PyErr_Clear();      /* the next start or action schedules again */
    PyErr_Restore(type, value, tb);
}

/* 1 when ex has news for its task, or lingered long enough. */
static int
is_due(struct aexchange *ex)
{
    if (ex->want == KPY_WANT_END) {
        return ex->transfer.finished || ex->transfer.failed;
    }
    return ex->waiter != NULL && kpy_aexchange_ready(ex);
}

/* Resolve the future of every exchange whose awaited state arrived, and
 * let lingering ones go once their body ended.  Only the transfers that
 * noted progress are looked at, unless all must be (a deadline or a
 * failure touched them, or a note was lost).  Resolving calls Python,
 * which may end other exchanges: the ones to act on are collected first,
 * each held by a reference. */
static void
wake(struct reactor *r, int all)
{
    const size_t *ids = (const size_t *)r->progress.ids.data;
    size_t n_ids = r->progress.ids.len / sizeof(size_t);
    all = all || r->progress.lost;
    size_t n = all ? r->n_active : n_ids;
    struct aexchange *local[32];
    struct aexchange **due = local;
    size_t n_due = 0;
    if (n > 32) {
        due = PyMem_Malloc(n * sizeof(*due));
        if (due == NULL) {
            PyErr_Clear();
            return;     /* the notes stay: the next action wakes them */
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct aexchange *ex;
        if (all) {
            ex = r->active[i];
        }
        else {
            ex = ids[i] < KIMI_LANE_MAX_EASY ? r->by_slot[ids[i]] : NULL;
        }
        if (ex != NULL && is_due(ex)) {
            due[n_due++] = (struct aexchange *)Py_NewRef(ex);
        }
    }
    kimi_buf_clear(&r->progress.ids);
    r->progress.lost = 0;
    for (size_t i = 0; i < n_due; i++) {
        struct aexchange *ex = due[i];
        if (ex->want == KPY_WANT_END) {
            kpy_aexchange_detach(ex);
        }
        else {
            kpy_aexchange_wake(ex);     /* a second note: nothing to do */
        }
        Py_DECREF(ex);
    }
    if (due != local) {
        PyMem_Free(due);
    }
}

/* The event loop refused a socket or the multi handle broke: every
 * transfer fails with err, and their awaiting tasks learn it. */
static void
fail_all(struct reactor *r, const struct kimi_error *err)
{
    for (size_t i = 0; i < r->n_active; i++) {
        struct kimi_transfer *t = &r->active[i]->transfer;
        if (!t->failed && !t->finished) {
            t->failure = *err;
            t->failed = 1;
        }
    }
    wake(r, 1);
}

static void
fail_all_from_exception(struct reactor *r, const char *what)
{
    struct kimi_error err = {0};
    PyObject *type = NULL;
    PyObject *value = NULL;
    PyObject *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
    const char *why = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    PyErr_Clear();
    kimi_error_set(&err, KIMI_ECONNECT, "%s: %.400s", what,
                   why != NULL ? why : "unknown error");
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    fail_all(r, &err);
}

/* One socket action, then the loop learns libcurl's new wishes and the
 * exchanges their news. */
static PyObject *
act(struct reactor *r, curl_socket_t fd, int what)
{
    struct kimi_error err;
    kimi_error_clear(&err);
    if (r->lane == NULL) {
        Py_RETURN_NONE;
    }
    if (kpy_reactor_forked(r)) {
        /* An inherited loop in a forked child: the handles are the
         * parent's, and stepping them would take its connections. */
        kimi_error_set(&err, KIMI_EFORKED,
                       "AsyncKimi: the client's transfers belong to the "
                       "parent process; make a new client after fork()");
        fail_all(r, &err);
        Py_RETURN_NONE;
    }
    if (kimi_sockets_action(&r->sockets, fd, what, &err) != KIMI_OK) {
        fail_all(r, &err);
    }
    if (kpy_reactor_apply(r) < 0) {
        fail_all_from_exception(r, "asyncio: the event loop refused a socket");
    }
    wake(r, 0);
    Py_RETURN_NONE;
}

static int
fd_of(PyObject *arg, curl_socket_t *fd)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *fd = (curl_socket_t)v;
    return 0;
}

static PyObject *
reactor_readable(struct reactor *r, PyObject *arg)
{
    curl_socket_t fd;
    return fd_of(arg, &fd) < 0 ? NULL : act(r, fd, KIMI_READABLE);
}

static PyObject *
reactor_writable(struct reactor *r, PyObject *arg)
{
    curl_socket_t fd;
    return fd_of(arg, &fd) < 0 ? NULL : act(r, fd, KIMI_WRITABLE);
}

static PyObject *
reactor_timer(struct reactor *r, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(r->timer);     /* it fired */
    PyObject *result = act(r, KIMI_TIMER, 0);
    /* A timer kept from before fired early: libcurl does not say its
     * unchanged wish again, so the reactor remembers it. */
    if (result != NULL && r->timer == NULL && r->wanted_ms >= 0
        && r->lane != NULL && loop_usable(r) > 0) {
        int64_t left = r->wanted_ms - kimi_transfer_clock_ms();
        r->timer = schedule(r, left > 0 ? (long)left : 0, r->on_timer);
        r->timer_due_ms = r->wanted_ms;
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();      /* a loop that refuses timers: the next action
                               tries again */
    }
    return result;
}

/* The deadline timer: transfers past a limit fail with it, lingering ones
 * past their grace are let go; then it is set for the next deadline. */
static PyObject *
reactor_deadline(struct reactor *r, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(r->deadline);
    r->deadline_at = INT64_MAX;
    int64_t now = kimi_transfer_clock_ms();
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < r->n_active; i++) {
        struct aexchange *ex = r->active[i];
        struct kimi_transfer *t = &ex->transfer;
        if (ex->want == KPY_WANT_END) {
            next = ex->linger_until < next ? ex->linger_until : next;
            continue;
        }
        if (kimi_run_over(t)) {
            continue;
        }
        /* Events waiting for a slow consumer prove the server is not
         * silent: only the total limit applies then, as in drive.c. */
        int waiting = t->queue.len > 0 || t->paused;
        enum kimi_status st =
            waiting ? kimi_transfer_check_total(t, now, &t->failure)
                    : kimi_transfer_check_deadlines(t, now, &t->failure);
        if (st != KIMI_OK) {
            t->failed = 1;
            continue;
        }
        int64_t at = kimi_transfer_next_deadline(t);
        next = at < next ? at : next;
    }
    /* Lingering exchanges past their grace go (wake() lets go of those
     * whose body ended). */
    for (size_t i = 0; i < r->n_active;) {
        struct aexchange *ex = r->active[i];
        if (ex->want == KPY_WANT_END && now >= ex->linger_until) {
            Py_INCREF(ex);
            kpy_aexchange_detach(ex);   /* takes it out of active */
            Py_DECREF(ex);
            continue;
        }
        i++;
    }
    wake(r, 1);
    kpy_reactor_deadline(r, next);
    Py_RETURN_NONE;
}

int
kpy_reactor_add(struct reactor *r, struct aexchange *ex)
{
    if (r->n_active == r->cap_active) {
        size_t cap = r->cap_active ? r->cap_active * 2 : 16;
        struct aexchange **active = PyMem_Realloc(r->active,
                                                  cap * sizeof(*active));
        if (active == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        r->active = active;
        r->cap_active = cap;
    }
    ex->index = r->n_active;
    r->active[r->n_active++] = ex;
    return 0;
}

void
kpy_reactor_remove(struct reactor *r, struct aexchange *ex)
{
    size_t i = ex->index;
    if (i >= r->n_active || r->active[i] != ex) {
        return;
    }
    r->active[i] = r->active[--r->n_active];
    r->active[i]->index = i;
}

/* Every task waiting for an easy handle tries again (those that find none
 * wait again): waking one could lose the slot to a task cancelled before
 * it ran.  Keeps any exception being raised. */
static void
wake_slot_waiters(struct reactor *r)
{
    if (r->slot_waiters == NULL || PyList_GET_SIZE(r->slot_waiters) == 0) {
        return;
    }
    PyObject *type = NULL;
    PyObject *value = NULL;
    PyObject *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *waiters = r->slot_waiters;
    r->slot_waiters = PyList_New(0);
    if (r->slot_waiters == NULL) {
        r->slot_waiters = waiters;      /* woken next time */
        PyErr_Clear();
    }
    else {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(waiters); i++) {
            kpy_resolve_future(kimi_state_of_type(Py_TYPE(r)),
                               PyList_GET_ITEM(waiters, i));
        }
        Py_DECREF(waiters);
    }
    PyErr_Restore(type, value, tb);
}

void
kpy_reactor_give_slot(struct reactor *r, size_t slot)
{
    kpy_slots_give(&r->slots, slot);
    wake_slot_waiters(r);
}

int
kpy_resolve_future(struct module_state *st, PyObject *fut)
{
    /* One call, not done() first: it runs for every wake-up, and a done
     * (cancelled) future refuses with InvalidStateError, dropped here. */
    PyObject *result = PyObject_CallMethodOneArg(fut, st->str_set_result,
                                                 Py_None);
    if (result == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(result);
    return 1;
}

/* Reactor(client, loop) */
static PyObject *
reactor_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    struct module_state *st = kimi_state_of_type(type);
    PyObject *client = NULL;
    PyObject *loop = NULL;
    struct kimi_error err = {0};
    PyTypeObject *client_type = st->client_type;

    if (!PyArg_ParseTuple(args, "O!O:Reactor", client_type, &client, &loop)) {
        return NULL;
    }
    (void)kwargs;
    struct reactor *r = (struct reactor *)type->tp_alloc(type, 0);
    if (r == NULL) {
        return NULL;
    }
    r->client = (struct client *)Py_NewRef(client);
    r->loop = Py_NewRef(loop);
    r->deadline_at = INT64_MAX;
    r->wanted_ms = -1;
    r->slot_waiters = PyList_New(0);
    r->by_slot = PyMem_Calloc(KIMI_LANE_MAX_EASY, sizeof(*r->by_slot));
    /* Room for a note per transfer a few times over between two looks;
     * past that, every transfer is looked at. */
    kimi_buf_init(&r->progress.ids, 8 * KIMI_LANE_MAX_EASY * sizeof(size_t));
    if (r->slot_waiters == NULL || r->by_slot == NULL
        || kpy_slots_init(&r->slots) < 0) {
        Py_DECREF(r);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    if ((r->add_reader = PyObject_GetAttrString(loop, "add_reader")) == NULL
        || (r->remove_reader = PyObject_GetAttrString(loop, "remove_reader"))
               == NULL
        || (r->add_writer = PyObject_GetAttrString(loop, "add_writer"))
               == NULL
        || (r->remove_writer = PyObject_GetAttrString(loop, "remove_writer"))
               == NULL
        || (r->call_soon = PyObject_GetAttrString(loop, "call_soon")) == NULL
        || (r->call_later = PyObject_GetAttrString(loop, "call_later"))
               == NULL
        || (r->create_future = PyObject_GetAttrString(loop, "create_future"))
               == NULL
        || (r->is_closed = PyObject_GetAttrString(loop, "is_closed")) == NULL
        || (r->readable = PyObject_GetAttrString((PyObject *)r, "_readable"))
               == NULL
        || (r->writable = PyObject_GetAttrString((PyObject *)r, "_writable"))
               == NULL
        || (r->on_timer = PyObject_GetAttrString((PyObject *)r, "_timer"))
               == NULL
        || (r->on_deadline = PyObject_GetAttrString((PyObject *)r,
                                                    "_deadline")) == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    struct kimi_pool *pool = &r->client->pool;
    struct kimi_lane *lane = NULL;
    if (kimi_pool_checkout(pool, &lane, &err) != KIMI_OK
        || kimi_sockets_init(&r->sockets, lane->multi, &err) != KIMI_OK) {
        if (lane != NULL) {
            kimi_pool_checkin(pool, lane);
        }
        Py_DECREF(r);
        return kimi_raise(st, &err, 0, NULL);
    }
    r->lane = lane;
    return (PyObject *)r;
}

/* Let go of the loop and the lane: exchanges still open end as closed,
 * watched sockets and timers are dropped (never on a closed loop). */
static void
teardown(struct reactor *r)
{
    while (r->n_active > 0) {
        struct aexchange *ex = r->active[r->n_active - 1];
        Py_INCREF(ex);
        kpy_aexchange_abort(ex);
        Py_DECREF(ex);
    }
    if (r->lane == NULL) {
        return;
    }
    PyObject *exc_type = NULL;
    PyObject *exc_value = NULL;
    PyObject *exc_tb = NULL;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    int usable = loop_usable(r) > 0;
    PyErr_Clear();
    if (usable) {
        for (size_t fd = 0; fd < r->n_watch; fd++) {
            if (r->watch[fd] != 0 && watch_socket(r, (curl_socket_t)fd, 0)
                                         < 0) {
                PyErr_Clear();
            }
        }
        cancel_handle(&r->timer);
        cancel_handle(&r->deadline);
    }
    PyErr_Clear();
    Py_CLEAR(r->timer);
    Py_CLEAR(r->deadline);
    kimi_sockets_free(&r->sockets);
    kimi_pool_checkin(&r->client->pool, r->lane);
    r->lane = NULL;
    if (usable) {
        wake_slot_waiters(r);   /* they learn the client is closed */
    }
    PyErr_Restore(exc_type, exc_value, exc_tb);
}

static PyObject *
reactor_close(struct reactor *r, PyObject *Py_UNUSED(ignored))
{
    teardown(r);
    Py_RETURN_NONE;
}

/* wait_slot() -> a future resolved when an easy handle is free again. */
static PyObject *
reactor_wait_slot(struct reactor *r, PyObject *Py_UNUSED(ignored))
{
    if (r->lane == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "AsyncKimi: the client is closed");
        return NULL;
    }
    PyObject *fut = PyObject_CallNoArgs(r->create_future);
    if (fut == NULL) {
        return NULL;
    }
    if (PyList_Append(r->slot_waiters, fut) < 0) {
        Py_DECREF(fut);
        return NULL;
    }
    return fut;
}

static PyObject *
reactor_get_loop(struct reactor *r, void *closure)
{
    (void)closure;
    return Py_NewRef(r->loop != NULL ? r->loop : Py_None);
}

static PyObject *
reactor_get_active(struct reactor *r, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(r->n_active);
}

static PyObject *
reactor_get_closed(struct reactor *r, void *closure)
{
    (void)closure;
    return PyBool_FromLong(r->lane == NULL);
}

static int
reactor_traverse(struct reactor *r, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(r));
    Py_VISIT(r->client);
    Py_VISIT(r->loop);
    Py_VISIT(r->add_reader);
    Py_VISIT(r->remove_reader);
    Py_VISIT(r->add_writer);
    Py_VISIT(r->remove_writer);
    Py_VISIT(r->call_soon);
    Py_VISIT(r->call_later);
    Py_VISIT(r->create_future);
    Py_VISIT(r->is_closed);
    Py_VISIT(r->readable);
    Py_VISIT(r->writable);
    Py_VISIT(r->on_timer);
    Py_VISIT(r->on_deadline);
    Py_VISIT(r->timer);
    Py_VISIT(r->deadline);
    Py_VISIT(r->slot_waiters);
    for (size_t i = 0; i < r->n_active; i++) {
        if (r->active[i]->waiter != NULL) {
            Py_VISIT(r->active[i]);     /* held while it waits */
        }
    }
    return 0;
}

static int
reactor_clear(struct reactor *r)
{
    teardown(r);
    Py_CLEAR(r->add_reader);
    Py_CLEAR(r->remove_reader);
    Py_CLEAR(r->add_writer);
    Py_CLEAR(r->remove_writer);
    Py_CLEAR(r->call_soon);
    Py_CLEAR(r->call_later);
    Py_CLEAR(r->create_future);
    Py_CLEAR(r->is_closed);
    Py_CLEAR(r->readable);
    Py_CLEAR(r->writable);
    Py_CLEAR(r->on_timer);
    Py_CLEAR(r->on_deadline);
    Py_CLEAR(r->slot_waiters);
    Py_CLEAR(r->loop);
    return 0;
}

static void
reactor_dealloc(struct reactor *r)
{
    PyTypeObject *type = Py_TYPE(r);
    PyObject_GC_UnTrack(r);
    reactor_clear(r);
    Py_CLEAR(r->client);
    PyMem_Free(r->watch);
    PyMem_Free(r->active);
    kpy_slots_free(&r->slots);
    PyMem_Free(r->by_slot);
    kimi_buf_free(&r->progress.ids);
    type->tp_free((PyObject *)r);
    Py_DECREF(type);
}

static PyMethodDef reactor_methods[] = {
    {"start", (PyCFunction)kpy_reactor_start, METH_VARARGS,
     PyDoc_STR("start(request, total=None) -> AsyncExchange, or the "
               "seconds to wait for the client's limits, or None when "
               "every easy handle is busy (await wait_slot()).")},
    {"wait_slot", (PyCFunction)reactor_wait_slot, METH_NOARGS,
     PyDoc_STR("A future resolved when an easy handle frees up.")},
    {"close", (PyCFunction)reactor_close, METH_NOARGS,
     PyDoc_STR("End every exchange and let go of the loop and the lane.")},
    {"_readable", (PyCFunction)reactor_readable, METH_O, NULL},
    {"_writable", (PyCFunction)reactor_writable, METH_O, NULL},
    {"_timer", (PyCFunction)reactor_timer, METH_NOARGS, NULL},
    {"_deadline", (PyCFunction)reactor_deadline, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef reactor_getset[] = {
    {"loop", (getter)reactor_get_loop, NULL, PyDoc_STR("The event loop."),
     NULL},
    {"active", (getter)reactor_get_active, NULL,
     PyDoc_STR("Exchanges on the lane right now."), NULL},
    {"closed", (getter)reactor_get_closed, NULL,
     PyDoc_STR("True once closed."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot reactor_slots[] = {
    {Py_tp_new, reactor_new},
    {Py_tp_dealloc, reactor_dealloc},
    {Py_tp_traverse, reactor_traverse},
    {Py_tp_clear, reactor_clear},
    {Py_tp_methods, reactor_methods},
    {Py_tp_getset, reactor_getset},
    {Py_tp_doc, "Reactor(client, loop)\n"
                "One client's transfers on one asyncio loop, driven by "
                "libcurl's socket interface."},
    {0, NULL},
};

PyType_Spec kimi_reactor_spec = {
    .name = "kimi._core.Reactor",
    .basicsize = sizeof(struct reactor),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = reactor_slots,
};

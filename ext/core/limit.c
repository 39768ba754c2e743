/* limit.c - sliding windows of requests and tokens behind one lock.
 *
 * Admitted requests are kept oldest first in a ring, each with its time
 * and its tokens.  Running sums follow two edges of the ring: the minute
 * edge (the oldest entry of the last 60 s) and the day edge (the head).
 * Moving an edge past an entry takes it out of that window's sums, so an
 * acquire costs a few steps, not a scan of the day.
 */
#include "limit.h"

#include <string.h>
#include <time.h>

#include "alloc.h"
#include "pool.h"

#define MINUTE_MS ((int64_t)60 * 1000)
#define DAY_MS ((int64_t)24 * 60 * 60 * 1000)
/* With every slot taken, when to look again: a release frees one at a
 * time nobody can predict. */
#define RECHECK_MS 25

static int64_t
monotonic_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take the lock.  In a forked child the lock is new: a thread of the
 * parent may have held it at the fork, and would never release it here. */
static void
take_lock(struct kimi_limiter *l)
{
    unsigned long generation = kimi_pool_fork_generation();
    if (l->generation != generation) {
        pthread_mutex_init(&l->lock, NULL);
        l->generation = generation;
    }
    pthread_mutex_lock(&l->lock);
}

static struct kimi_limit_entry *
entry_at(const struct kimi_limiter *l, size_t offset)
{
    return &l->ring[(l->head + offset) % l->cap];
}

/* How long entries are kept: a day when tpd is set, else a minute. */
static int64_t
retention_ms(const struct kimi_limiter *l)
{
    return l->limits.tpd > 0 ? DAY_MS : MINUTE_MS;
}

/* Drop entries past the retention, then move the minute edge past the
 * entries older than a minute; the sums follow. */
static void
expire(struct kimi_limiter *l, int64_t now)
{
    while (l->len > 0 && entry_at(l, 0)->at_ms <= now - retention_ms(l)) {
        struct kimi_limit_entry *old = entry_at(l, 0);
        l->tokens_day -= old->tokens;
        if (l->minute_edge > 0) {
            l->minute_edge--;
        }
        else {
            l->requests_minute--;
            l->tokens_minute -= old->tokens;
        }
        l->head = (l->head + 1) % l->cap;
        l->len--;
    }
    while (l->minute_edge < l->len
           && entry_at(l, l->minute_edge)->at_ms <= now - MINUTE_MS) {
        l->requests_minute--;
        l->tokens_minute -= entry_at(l, l->minute_edge)->tokens;
        l->minute_edge++;
    }
}

static enum kimi_status
push(struct kimi_limiter *l, int64_t now, long tokens, uint64_t id,
     struct kimi_error *err)
{
    if (l->len == l->cap) {
        size_t cap = l->cap == 0 ? 64 : l->cap * 2;
        struct kimi_limit_entry *ring = kimi_malloc(cap * sizeof(*ring));
        if (ring == NULL) {
            return kimi_error_set(err, KIMI_ENOMEM,
                                  "limits: cannot grow the request window");
        }
        for (size_t i = 0; i < l->len; i++) {
            ring[i] = *entry_at(l, i);
        }
        kimi_free(l->ring);
        l->ring = ring;
        l->head = 0;
        l->cap = cap;
    }
    struct kimi_limit_entry *slot = entry_at(l, l->len);
    slot->at_ms = now;
    slot->tokens = tokens;
    slot->id = id;
    l->len++;
    l->requests_minute++;
    l->tokens_minute += tokens;
    l->tokens_day += tokens;
    return KIMI_OK;
}

/* When enough tokens leave the window that starts at offset from (and
 * lasts span ms) for tokens more to fit under cap: the wait from now. */
static int64_t
tokens_free_in(const struct kimi_limiter *l, size_t from, int64_t span,
               long in_window, long tokens, long cap, int64_t now)
{
    long over = in_window + tokens - cap;
    for (size_t i = from; i < l->len && over > 0; i++) {
        const struct kimi_limit_entry *e = entry_at(l, i);
        over -= e->tokens;
        if (over <= 0) {
            return e->at_ms + span - now;
        }
    }
    return span;    /* only reached while in-flight estimates shrink */
}

static int64_t
longer(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Pacing of request starts: a bucket of time credit, filled at one ms a
 * ms up to a burst's worth, each start spending one interval (60 s / rpm)
 * of it. */
static double
pace_interval_ms(const struct kimi_limiter *l)
{
    return (double)MINUTE_MS / (double)l->limits.rpm;
}

static double
pace_capacity_ms(const struct kimi_limiter *l)
{
    long burst = l->limits.rpm / 6;
    return (double)(burst > 1 ? burst : 1) * pace_interval_ms(l);
}

static void
pace_refill(struct kimi_limiter *l, int64_t now)
{
    if (now > l->pace_at_ms) {
        l->pace_credit_ms += (double)(now - l->pace_at_ms);
        double cap = pace_capacity_ms(l);
        if (l->pace_credit_ms > cap) {
            l->pace_credit_ms = cap;
        }
    }
    l->pace_at_ms = now;
}

/* How long until the bucket holds one interval of credit. */
static int64_t
pace_wait(const struct kimi_limiter *l)
{
    double missing = pace_interval_ms(l) - l->pace_credit_ms;
    if (missing <= 0.0) {
        return 0;
    }
    int64_t ms = (int64_t)missing;
    return (double)ms < missing ? ms + 1 : ms;
}

/* How long the request must wait, 0 when it may go now.
 *
 *     paused by a 429:        until the pause ends
 *     every slot in flight:   a short while (a release frees one)
 *     rpm requests this minute: until the oldest of them is a minute old
 *     tokens over tpm:        until enough of this minute's are
 *     tokens over tpd:        until enough of the day's are (the caller
 *                             is told, not asked to wait) */
static int64_t
wait_for(struct kimi_limiter *l, long tokens, int64_t now, int *by_day)
{
    const struct kimi_limits *lim = &l->limits;
    int64_t wait = 0;

    *by_day = 0;
    if (l->paused_until_ms > now) {
        wait = l->paused_until_ms - now;
    }
    if (lim->concurrency > 0 && l->in_flight >= lim->concurrency) {
        wait = longer(wait, RECHECK_MS);
    }
    if (lim->rpm > 0) {
        pace_refill(l, now);
        wait = longer(wait, pace_wait(l));
    }
    if (lim->rpm > 0 && l->requests_minute >= lim->rpm) {
        size_t oldest = l->minute_edge + (size_t)(l->requests_minute
                                                  - lim->rpm);
        wait = longer(wait, entry_at(l, oldest)->at_ms + MINUTE_MS - now);
    }
    if (lim->tpm > 0 && l->tokens_minute + tokens > lim->tpm) {
        wait = longer(wait, tokens_free_in(l, l->minute_edge, MINUTE_MS,
                                           l->tokens_minute, tokens,
                                           lim->tpm, now));
    }
    if (lim->tpd > 0 && l->tokens_day + tokens > lim->tpd) {
        *by_day = 1;
        wait = longer(wait, tokens_free_in(l, 0, DAY_MS, l->tokens_day,
                                           tokens, lim->tpd, now));
    }
    return wait;
}

enum kimi_status
kimi_limiter_init(struct kimi_limiter *l, const struct kimi_limits *limits,
                  kimi_clock_fn clock, void *clock_ctx,
                  struct kimi_error *err)
{
    memset(l, 0, sizeof(*l));
    if (limits->concurrency < 0 || limits->rpm < 0 || limits->tpm < 0
        || limits->tpd < 0) {
        return kimi_error_set(err, KIMI_EINVAL,
                              "limits: every limit is >= 0 (0: none)");
    }
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        return kimi_error_set(err, KIMI_ENOMEM, "limits: no lock");
    }
    l->limits = *limits;
    l->clock = clock != NULL ? clock : monotonic_ms;
    l->clock_ctx = clock_ctx;
    l->next_id = 1;
    l->generation = kimi_pool_fork_generation();
    if (limits->rpm > 0) {
        l->pace_credit_ms = pace_capacity_ms(l);
        l->pace_at_ms = l->clock(l->clock_ctx);
    }
    l->initialized = 1;
    return KIMI_OK;
}

enum kimi_status
kimi_limiter_acquire(struct kimi_limiter *l, long tokens,
                     struct kimi_ticket *ticket, int64_t *wait_ms,
                     struct kimi_error *err)
{
    const struct kimi_limits *lim = &l->limits;
    enum kimi_status st = KIMI_OK;
    int by_day = 0;

    ticket->id = 0;
    ticket->tokens = 0;
    *wait_ms = 0;
    if (tokens < 0) {
        tokens = 0;
    }
    if ((lim->tpm > 0 && tokens > lim->tpm)
        || (lim->tpd > 0 && tokens > lim->tpd)) {
        return kimi_error_set(err, KIMI_ETOOBIG,
                              "limits: a request of %ld tokens can never "
                              "fit (tpm %ld, tpd %ld)",
                              tokens, lim->tpm, lim->tpd);
    }
    take_lock(l);
    int64_t now = l->clock(l->clock_ctx);
    expire(l, now);
    int64_t wait = wait_for(l, tokens, now, &by_day);
    if (by_day) {
        *wait_ms = wait;
        st = kimi_error_set(err, KIMI_ETOOBIG,
                            "limits: the day's tokens (tpd %ld) cannot "
                            "admit %ld more now; room frees up in %.0f s",
                            lim->tpd, tokens, (double)wait / 1000.0);
    }
    else if (wait > 0) {
        *wait_ms = wait;
        st = KIMI_AGAIN;
    }
    else {
        st = push(l, now, tokens, l->next_id, err);
        if (st == KIMI_OK) {
            ticket->id = l->next_id++;
            ticket->tokens = tokens;
            l->in_flight++;
            if (lim->rpm > 0) {
                l->pace_credit_ms -= pace_interval_ms(l);
            }
        }
    }
    pthread_mutex_unlock(&l->lock);
    return st;
}

/* The offset of the entry of ticket id, or len when it has left the
 * ring.  Ids grow with the ring, so a binary search finds it. */
static size_t
find(const struct kimi_limiter *l, uint64_t id)
{
    size_t lo = 0;
    size_t hi = l->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t at = entry_at(l, mid)->id;
        if (at == id) {
            return mid;
        }
        if (at < id) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return l->len;
}

void
kimi_limiter_release(struct kimi_limiter *l, struct kimi_ticket *ticket,
                     long real_tokens)
{
    if (ticket->id == 0 || !l->initialized) {
        return;
    }
    take_lock(l);
    l->in_flight--;
    size_t at = find(l, ticket->id);
    if (real_tokens >= 0 && at < l->len) {
        struct kimi_limit_entry *e = entry_at(l, at);
        long change = real_tokens - e->tokens;
        e->tokens = real_tokens;
        l->tokens_day += change;
        if (at >= l->minute_edge) {
            l->tokens_minute += change;
        }
    }
    pthread_mutex_unlock(&l->lock);
    ticket->id = 0;
}

void
kimi_limiter_pause(struct kimi_limiter *l, int64_t ms)
{
    take_lock(l);
    int64_t until = l->clock(l->clock_ctx) + (ms > 0 ? ms : 0);
    if (until > l->paused_until_ms) {
        l->paused_until_ms = until;
    }
    pthread_mutex_unlock(&l->lock);
}

void
kimi_limiter_waited(struct kimi_limiter *l, int64_t ms)
{
    if (ms <= 0) {
        return;
    }
    take_lock(l);
    l->waited_ms += ms;
    pthread_mutex_unlock(&l->lock);
}

void
kimi_limiter_snapshot(struct kimi_limiter *l, struct kimi_limit_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    take_lock(l);
    int64_t now = l->clock(l->clock_ctx);
    expire(l, now);
    out->in_flight = l->in_flight;
    out->requests_minute = l->requests_minute;
    out->tokens_minute = l->tokens_minute;
    out->tokens_day = l->limits.tpd > 0 ? l->tokens_day : 0;
    out->paused_ms = l->paused_until_ms > now ? l->paused_until_ms - now : 0;
    out->waited_ms = l->waited_ms;
    pthread_mutex_unlock(&l->lock);
}

void
kimi_limiter_free(struct kimi_limiter *l)
{
    if (!l->initialized) {
        return;
    }
    pthread_mutex_destroy(&l->lock);
    kimi_free(l->ring);
    memset(l, 0, sizeof(*l));
}

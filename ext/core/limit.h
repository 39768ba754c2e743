/* limit.h - a client's four account limits: concurrency, requests per
 * minute, tokens per minute, tokens per day.
 *
 * One limiter per client, shared by its threads, tasks and maps.  A
 * request asks to be admitted with its estimated tokens (prompt estimate
 * plus max_completion_tokens, as the platform's gateway counts them); the
 * answer is "go" with a ticket, "wait this long", or, when the day's
 * tokens can never admit it today, a refusal.  When the reply comes, the
 * ticket is returned with the real usage, which replaces the estimate in
 * the windows.  A rate-limit 429 pauses every sender until a given time.
 * The limiter never sleeps: the caller's loop waits (time.sleep, asyncio,
 * the run driver), with the GIL released.
 *
 * Windows slide: a minute is the last 60 s, a day the last 24 h.  Requests
 * are also paced: after a burst of ten seconds' worth (rpm / 6,
 * at least 1), starts are spread at rpm per minute, so a pipeline keeps a
 * steady rate instead of spending the minute's requests at once and then
 * stalling (and a server that counts per second is not surprised).  The
 * clock is injectable, so tests step time by hand.
 *
 * Thread-safety: every call takes the limiter's lock (made anew in a
 * forked child, which inherits the windows but none of the threads).  Ownership: the
 * limiter owns its windows; a ticket is plain data the caller keeps.
 */
#ifndef KIMI_LIMIT_H
#define KIMI_LIMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Each limit: 0 means none. */
struct kimi_limits {
    long concurrency;       /* requests in flight at once */
    long rpm;               /* requests started in any 60 s */
    long tpm;               /* tokens counted in any 60 s */
    long tpd;               /* tokens counted in any 24 h */
};

/* Milliseconds of some monotonic clock. */
typedef int64_t (*kimi_clock_fn)(void *ctx);

/* One admitted request's place in the windows. */
struct kimi_ticket {
    uint64_t id;            /* 0: no ticket */
    long tokens;            /* what it counts now (estimate, then real) */
};

/* One request's entry in the token windows. */
struct kimi_limit_entry {
    int64_t at_ms;
    long tokens;
    uint64_t id;
};

struct kimi_limit_snapshot {
    long in_flight;
    long requests_minute;   /* started in the last 60 s */
    long tokens_minute;
    long tokens_day;
    int64_t paused_ms;      /* how much longer every sender waits */
    int64_t waited_ms;      /* total time callers spent waiting */
};

struct kimi_limiter {
    pthread_mutex_t lock;
    unsigned long generation;   /* kimi_pool_fork_generation() the lock is
                                   for: a forked child makes a new one */
    struct kimi_limits limits;
    kimi_clock_fn clock;
    void *clock_ctx;
    long in_flight;
    /* Requests of the last 24 h, oldest first: a ring of entries. */
    struct kimi_limit_entry *ring;
    size_t head;            /* index of the oldest entry */
    size_t len;
    size_t cap;
    size_t minute_edge;     /* offset from head of the minute's oldest */
    long requests_minute;   /* running sums of the two windows */
    long tokens_minute;
    long tokens_day;
    uint64_t next_id;
    double pace_credit_ms;  /* time credit of the pacing bucket */
    int64_t pace_at_ms;     /* when the credit was last brought up */
    int64_t paused_until_ms;
    int64_t waited_ms;
    int initialized;
};

/* clock NULL: the monotonic clock. */
KIMI_MUST_CHECK enum kimi_status
kimi_limiter_init(struct kimi_limiter *l, const struct kimi_limits *limits,
                  kimi_clock_fn clock, void *clock_ctx,
                  struct kimi_error *err);

/* Admit a request counting tokens (>= 0):
 *   KIMI_OK        admitted: *ticket filled, counted in every window;
 *   KIMI_AGAIN     not now: *wait_ms until it could be (at least 1);
 *   KIMI_ETOOBIG   never: tokens exceed tpm or tpd on their own;
 *   KIMI_ENOMEM    the window could not grow. */
KIMI_MUST_CHECK enum kimi_status
kimi_limiter_acquire(struct kimi_limiter *l, long tokens,
                     struct kimi_ticket *ticket, int64_t *wait_ms,
                     struct kimi_error *err);

/* The request is over: it leaves the in-flight count, and real_tokens
 * (>= 0; negative keeps the estimate) replaces its estimate in the token
 * windows.  Safe once per ticket; a zeroed ticket is ignored. */
void kimi_limiter_release(struct kimi_limiter *l, struct kimi_ticket *ticket,
                          long real_tokens);

/* Every sender waits until now + ms (a rate-limit 429); a later pause
 * extends it, an earlier one does not shorten it. */
void kimi_limiter_pause(struct kimi_limiter *l, int64_t ms);

/* A caller waited ms before it was admitted (its loop measures it: the
 * limiter only says how long to wait, and a caller may look again
 * sooner). */
void kimi_limiter_waited(struct kimi_limiter *l, int64_t ms);

void kimi_limiter_snapshot(struct kimi_limiter *l,
                           struct kimi_limit_snapshot *out);

/* Idempotent; safe on zeroed memory. */
void kimi_limiter_free(struct kimi_limiter *l);

#endif

/* pool.h - a client's pool of transfer lanes.
 *
 * A lane is one libcurl multi handle with its easy handles (one for a
 * single call, more when several transfers share the multi handle); the
 * multi handle keeps the lane's own connection cache, so keep-alive
 * connections are reused by later calls on the same lane.  A call checks a
 * lane out for its whole duration, so no libcurl handle is ever used by two
 * threads at once.
 * Lanes share DNS and TLS sessions through one share handle with locks.
 *
 * Thread-safety: checkout/checkin may be called from any thread.  After
 * fork() the child abandons the parent's lanes without touching them (no
 * TLS shutdown on a socket the parent still uses) and starts fresh.
 */
#ifndef KIMI_POOL_H
#define KIMI_POOL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>

#include "error.h"

#define KIMI_LANE_MAX_EASY 1024

struct kimi_lane {
    CURLM *multi;
    CURL *easy;                 /* the first easy handle: extra[0] */
    CURL **extra;               /* every easy handle, made on demand */
    size_t n_easy;
    size_t cap_easy;
    unsigned long generation;   /* kimi_pool_fork_generation() of the
                                   process that created the lane */
    struct kimi_lane *next;     /* idle list link */
};

/* The lane's easy handle number i (0 is lane->easy), made on first use:
 * one per transfer that runs on the lane's multi handle at once. */
KIMI_MUST_CHECK enum kimi_status
kimi_pool_lane_easy(struct kimi_lane *lane, size_t i, CURL **easy,
                    struct kimi_error *err);

#define KIMI_SHARE_LOCKS 4

struct kimi_pool {
    pthread_mutex_t lock;
    struct kimi_lane *idle;
    size_t n_idle;
    size_t max_idle;            /* lanes kept for reuse; more are freed */
    unsigned long generation;   /* of the process the idle list is for */
    CURLSH *share;
    pthread_mutex_t share_locks[KIMI_SHARE_LOCKS];
    int initialized;
};

/* How many fork()s separate this process from the one that loaded the
 * core: a pthread_atfork child handler counts them, so a transfer can tell
 * it was inherited without a getpid() system call per step.  The first
 * call registers the handler. */
unsigned long kimi_pool_fork_generation(void);

/* curl_global_init, once per process; safe to call repeatedly. */
KIMI_MUST_CHECK enum kimi_status kimi_pool_global_init(struct kimi_error *err);

KIMI_MUST_CHECK enum kimi_status kimi_pool_init(struct kimi_pool *pool,
                                                size_t max_idle,
                                                struct kimi_error *err);

/* Take an idle lane or make a new one. */
KIMI_MUST_CHECK enum kimi_status kimi_pool_checkout(struct kimi_pool *pool,
                                                    struct kimi_lane **lane,
                                                    struct kimi_error *err);

/* Give a lane back (it must have no transfer attached).  The pool keeps
 * it for reuse or frees it when full. */
void kimi_pool_checkin(struct kimi_pool *pool, struct kimi_lane *lane);

/* Free the idle lanes and the share handle.  Lanes still checked out must
 * have been checked in first.  Idempotent; safe on a zeroed struct. */
void kimi_pool_free(struct kimi_pool *pool);

#endif

/* pool.c - transfer lanes (multi + easy handle pairs) kept for reuse.
 *
 * See pool.h for the threading and fork rules.
 */
#include "pool.h"


#include "alloc.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result;

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static volatile unsigned long fork_generation;

static void
on_fork_child(void)
{
    fork_generation++;
}

static void
fork_watch_once(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

unsigned long
kimi_pool_fork_generation(void)
{
    pthread_once(&fork_once, fork_watch_once);
    return fork_generation;
}

static void
global_init_once(void)
{
    global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum kimi_status
kimi_pool_global_init(struct kimi_error *err)
{
    (void)kimi_pool_fork_generation();     /* watch forks from now on */
    pthread_once(&global_once, global_init_once);
    if (global_result != CURLE_OK) {
        return kimi_error_set(err, KIMI_ECONNECT, "curl_global_init: %s",
                              curl_easy_strerror(global_result));
    }
    return KIMI_OK;
}

/* libcurl calls these around every access to shared DNS / TLS data. */
static void
share_lock(CURL *handle, curl_lock_data data, curl_lock_access access,
           void *userptr)
{
    (void)handle;
    (void)access;
    struct kimi_pool *pool = userptr;
    pthread_mutex_lock(&pool->share_locks[(size_t)data % KIMI_SHARE_LOCKS]);
}

static void
share_unlock(CURL *handle, curl_lock_data data, void *userptr)
{
    (void)handle;
    struct kimi_pool *pool = userptr;
    pthread_mutex_unlock(&pool->share_locks[(size_t)data % KIMI_SHARE_LOCKS]);
}

enum kimi_status
kimi_pool_init(struct kimi_pool *pool, size_t max_idle,
               struct kimi_error *err)
{
    enum kimi_status st = kimi_pool_global_init(err);
    if (st != KIMI_OK) {
        return st;
    }
    pthread_mutex_init(&pool->lock, NULL);
    for (size_t i = 0; i < KIMI_SHARE_LOCKS; i++) {
        pthread_mutex_init(&pool->share_locks[i], NULL);
    }
    pool->idle = NULL;
    pool->n_idle = 0;
    pool->max_idle = max_idle;
    pool->generation = kimi_pool_fork_generation();
    pool->share = curl_share_init();
    if (pool->share == NULL) {
        pthread_mutex_destroy(&pool->lock);
        for (size_t i = 0; i < KIMI_SHARE_LOCKS; i++) {
            pthread_mutex_destroy(&pool->share_locks[i]);
        }
        return kimi_error_set(err, KIMI_ENOMEM, "curl_share_init failed");
    }
    curl_share_setopt(pool->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(pool->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(pool->share, CURLSHOPT_USERDATA, pool);
    curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(pool->share, CURLSHOPT_SHARE,
                      CURL_LOCK_DATA_SSL_SESSION);
    pool->initialized = 1;
    return KIMI_OK;
}

static void
lane_free(struct kimi_lane *lane)
{
    if (lane->multi != NULL) {
        curl_multi_cleanup(lane->multi);
    }
    for (size_t i = 0; i < lane->n_easy; i++) {
        curl_easy_cleanup(lane->extra[i]);
    }
    kimi_free(lane->extra);
    kimi_free(lane);
}

enum kimi_status
kimi_pool_lane_easy(struct kimi_lane *lane, size_t i, CURL **easy,
                    struct kimi_error *err)
{
    if (i >= KIMI_LANE_MAX_EASY) {
        return kimi_error_set(err, KIMI_EINVAL,
                              "lane: at most %d transfers at once",
                              KIMI_LANE_MAX_EASY);
    }
    while (lane->n_easy <= i) {
        if (lane->n_easy == lane->cap_easy) {
            size_t cap = lane->cap_easy == 0 ? 4 : lane->cap_easy * 2;
            CURL **grown = kimi_realloc(lane->extra, cap * sizeof(*grown));
            if (grown == NULL) {
                return kimi_error_set(err, KIMI_ENOMEM,
                                      "lane: out of memory");
            }
            lane->extra = grown;
            lane->cap_easy = cap;
        }
        CURL *made = curl_easy_init();
        if (made == NULL) {
            return kimi_error_set(err, KIMI_ENOMEM, "lane: libcurl init");
        }
        lane->extra[lane->n_easy++] = made;
    }
    *easy = lane->extra[i];
    return KIMI_OK;
}

static enum kimi_status
lane_new(struct kimi_lane **out, struct kimi_error *err)
{
    struct kimi_lane *lane = kimi_calloc(1, sizeof(*lane));
    if (lane == NULL) {
        return kimi_error_set(err, KIMI_ENOMEM, "new lane: out of memory");
    }
    lane->generation = kimi_pool_fork_generation();
    lane->multi = curl_multi_init();
    if (lane->multi == NULL
        || kimi_pool_lane_easy(lane, 0, &lane->easy, err) != KIMI_OK) {
        lane_free(lane);
        return kimi_error_set(err, KIMI_ENOMEM, "new lane: libcurl init");
    }
    *out = lane;
    return KIMI_OK;
}

/* In a forked child the idle lanes hold the parent's sockets and TLS
 * state: forget them without cleanup (the memory is lost, the parent's
 * connections stay intact).  The lock may have been held by a parent
 * thread at the fork, so the child starts a fresh one.  Called before
 * taking the lock: a child is expected to make its first call before it
 * starts threads that share the client. */
static void
forget_parent_lanes(struct kimi_pool *pool)
{
    unsigned long now = kimi_pool_fork_generation();
    if (pool->generation == now) {
        return;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pool->idle = NULL;
    pool->n_idle = 0;
    pool->share = NULL;
    pool->generation = now;
}

enum kimi_status
kimi_pool_checkout(struct kimi_pool *pool, struct kimi_lane **lane,
                   struct kimi_error *err)
{
    struct kimi_lane *found = NULL;
    forget_parent_lanes(pool);
    pthread_mutex_lock(&pool->lock);
    if (pool->idle != NULL) {
        found = pool->idle;
        pool->idle = found->next;
        pool->n_idle--;
    }
    pthread_mutex_unlock(&pool->lock);
    if (found != NULL) {
        found->next = NULL;
        *lane = found;
        return KIMI_OK;
    }
    return lane_new(lane, err);
}

void
kimi_pool_checkin(struct kimi_pool *pool, struct kimi_lane *lane)
{
    if (lane == NULL) {
        return;
    }
    if (lane->generation != kimi_pool_fork_generation()) {
        return;     /* a parent's lane in a forked child: leave it alone */
    }
    forget_parent_lanes(pool);
    pthread_mutex_lock(&pool->lock);
    if (pool->n_idle < pool->max_idle) {
        lane->next = pool->idle;
        pool->idle = lane;
        pool->n_idle++;
        lane = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    if (lane != NULL) {
        lane_free(lane);
    }
}

void
kimi_pool_free(struct kimi_pool *pool)
{
    if (!pool->initialized) {
        return;
    }
    forget_parent_lanes(pool);
    while (pool->idle != NULL) {
        struct kimi_lane *lane = pool->idle;
        pool->idle = lane->next;
        lane_free(lane);
    }
    pool->n_idle = 0;
    if (pool->share != NULL) {
        curl_share_cleanup(pool->share);
        pool->share = NULL;
    }
    pthread_mutex_destroy(&pool->lock);
    for (size_t i = 0; i < KIMI_SHARE_LOCKS; i++) {
        pthread_mutex_destroy(&pool->share_locks[i]);
    }
    pool->initialized = 0;
}

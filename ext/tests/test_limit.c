/* test_limit.c - unit tests for the limiter (limit.c), on a clock the
 * test moves by hand.
 *
 * Covers each limit alone (concurrency, rpm, tpm, tpd) with the exact
 * wait it asks for, the real usage replacing the estimate, a 429 pause,
 * the windows sliding, requests that can never fit, a snapshot, and many
 * threads sharing one limiter.
 */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "estimate.h"
#include "limit.h"

static int64_t fake_now;

static int64_t
fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static void
start(struct kimi_limiter *l, long concurrency, long rpm, long tpm, long tpd)
{
    struct kimi_limits limits = {concurrency, rpm, tpm, tpd};
    struct kimi_error err;
    fake_now = 1000000;
    CHECK(kimi_limiter_init(l, &limits, fake_clock, NULL, &err) == KIMI_OK);
}

/* acquire, expecting st; returns the wait it asked for */
static int64_t
ask(struct kimi_limiter *l, long tokens, struct kimi_ticket *t,
    enum kimi_status want)
{
    struct kimi_error err;
    int64_t wait = -1;
    kimi_error_clear(&err);
    enum kimi_status st = kimi_limiter_acquire(l, tokens, t, &wait, &err);
    CHECK(st == want);
    if (st != want) {
        fprintf(stderr, "  got status %d (%s), wait %lld\n", st,
                err.message, (long long)wait);
    }
    return wait;
}

static void
test_concurrency_admits_as_slots_free(void)
{
    struct kimi_limiter l;
    struct kimi_ticket a, b, c;

    start(&l, 2, 0, 0, 0);
    ask(&l, 10, &a, KIMI_OK);
    ask(&l, 10, &b, KIMI_OK);
    CHECK(ask(&l, 10, &c, KIMI_AGAIN) > 0);
    CHECK(c.id == 0);
    kimi_limiter_release(&l, &a, -1);
    ask(&l, 10, &c, KIMI_OK);
    kimi_limiter_release(&l, &a, -1);   /* twice: ignored */
    struct kimi_limit_snapshot snap;
    kimi_limiter_snapshot(&l, &snap);
    CHECK(snap.in_flight == 2);
    CHECK(snap.requests_minute == 3);
    kimi_limiter_free(&l);
    kimi_limiter_free(&l);
}

static void
test_rpm_waits_until_the_oldest_is_a_minute_old(void)
{
    struct kimi_limiter l;
    struct kimi_ticket t;

    /* rpm 60: a burst of 10, then one a second. */
    start(&l, 0, 60, 0, 0);
    for (int i = 0; i < 10; i++) {
        ask(&l, 0, &t, KIMI_OK);
        kimi_limiter_release(&l, &t, -1);
    }
    for (int i = 0; i < 50; i++) {
        CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 1000);
        fake_now += 1000;
        ask(&l, 0, &t, KIMI_OK);
        kimi_limiter_release(&l, &t, -1);
    }
    /* Now 50 s with 60 started: paced, the next could go at 51 s, but the
     * window admits none until the burst is a minute old, at 60 s. */
    fake_now += 1000;
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 9000);
    fake_now += 8999;
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 1);
    fake_now += 1;
    ask(&l, 0, &t, KIMI_OK);
    kimi_limiter_free(&l);
}

static void
test_rpm_paces_starts_after_a_burst(void)
{
    struct kimi_limiter l;
    struct kimi_ticket t;

    /* rpm 3 (tier 0): no burst, one start every 20 s. */
    start(&l, 0, 3, 0, 0);
    ask(&l, 0, &t, KIMI_OK);
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 20000);
    fake_now += 10000;
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 10000);
    fake_now += 10000;
    ask(&l, 0, &t, KIMI_OK);
    kimi_limiter_free(&l);

    /* rpm 120: 20 at once, then one every 500 ms; idle time refills the
     * burst, but never beyond it. */
    start(&l, 0, 120, 0, 0);
    for (int i = 0; i < 20; i++) {
        ask(&l, 0, &t, KIMI_OK);
    }
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 500);
    fake_now += 500;
    ask(&l, 0, &t, KIMI_OK);
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 500);
    fake_now += 3600 * 1000;        /* an hour idle */
    for (int i = 0; i < 20; i++) {
        ask(&l, 0, &t, KIMI_OK);
    }
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 500);

    /* rpm 7: an interval of 8571.4 ms is waited whole, never short. */
    kimi_limiter_free(&l);
    start(&l, 0, 7, 0, 0);
    ask(&l, 0, &t, KIMI_OK);
    CHECK(ask(&l, 0, &t, KIMI_AGAIN) == 8572);
    kimi_limiter_free(&l);
}

static void
test_tpm_counts_estimates_then_real_usage(void)
{
    struct kimi_limiter l;
    struct kimi_ticket a, b, c;

    start(&l, 0, 0, 1000, 0);
    ask(&l, 600, &a, KIMI_OK);          /* at 0 s */
    fake_now += 5000;
    ask(&l, 300, &b, KIMI_OK);          /* at 5 s: 900 of 1000 */
    /* 200 more do not fit until a's 600 leave at 60 s. */
    CHECK(ask(&l, 200, &c, KIMI_AGAIN) == 55000);
    /* a's reply was smaller than its estimate: room at once. */
    kimi_limiter_release(&l, &a, 100);
    ask(&l, 200, &c, KIMI_OK);          /* 100 + 300 + 200 */
    struct kimi_limit_snapshot snap;
    kimi_limiter_snapshot(&l, &snap);
    CHECK(snap.tokens_minute == 600);
    /* A real usage above the estimate counts too. */
    kimi_limiter_release(&l, &b, 700);
    kimi_limiter_snapshot(&l, &snap);
    CHECK(snap.tokens_minute == 1000);
    CHECK(ask(&l, 1, &c, KIMI_AGAIN) > 0);
    fake_now += 60000;                  /* everything slid out */
    kimi_limiter_snapshot(&l, &snap);
    CHECK(snap.tokens_minute == 0 && snap.requests_minute == 0);
    ask(&l, 1000, &c, KIMI_OK);
    kimi_limiter_free(&l);
}

static void
test_tpd_refuses_instead_of_waiting_and_names_the_time(void)
{
    struct kimi_limiter l;
    struct kimi_ticket a, b;
    struct kimi_error err;
    int64_t wait = 0;

    start(&l, 0, 0, 0, 5000);
    ask(&l, 4000, &a, KIMI_OK);
    kimi_limiter_release(&l, &a, -1);
    fake_now += 3600 * 1000;            /* an hour later */
    kimi_error_clear(&err);
    CHECK(kimi_limiter_acquire(&l, 2000, &b, &wait, &err) == KIMI_ETOOBIG);
    CHECK(wait == 23 * 3600 * 1000);    /* when the 4000 leave the day */
    CHECK(strstr(err.message, "tpd 5000") != NULL);
    ask(&l, 1000, &b, KIMI_OK);         /* what fits still goes */
    {
        struct kimi_limit_snapshot snap;
        kimi_limiter_snapshot(&l, &snap);
        CHECK(snap.tokens_day == 5000);
    }
    kimi_limiter_free(&l);
}

static void
test_a_request_that_can_never_fit_is_refused(void)
{
    struct kimi_limiter l;
    struct kimi_ticket t;

    start(&l, 0, 0, 1000, 0);
    CHECK(ask(&l, 1001, &t, KIMI_ETOOBIG) == 0);
    kimi_limiter_free(&l);
    start(&l, 0, 0, 0, 10);
    ask(&l, 11, &t, KIMI_ETOOBIG);
    kimi_limiter_free(&l);
}

static void
test_a_429_pauses_every_sender(void)
{
    struct kimi_limiter l;
    struct kimi_ticket t;

    start(&l, 0, 0, 0, 0);
    kimi_limiter_pause(&l, 2000);
    CHECK(ask(&l, 1, &t, KIMI_AGAIN) == 2000);
    kimi_limiter_pause(&l, 500);        /* shorter: the longer one holds */
    fake_now += 1500;
    CHECK(ask(&l, 1, &t, KIMI_AGAIN) == 500);
    struct kimi_limit_snapshot snap;
    kimi_limiter_snapshot(&l, &snap);
    CHECK(snap.paused_ms == 500);
    CHECK(snap.waited_ms == 0);         /* asked to wait; did not yet */
    kimi_limiter_waited(&l, 1500);
    kimi_limiter_waited(&l, -3);        /* ignored */
    kimi_limiter_snapshot(&l, &snap);
    CHECK(snap.waited_ms == 1500);
    fake_now += 500;
    ask(&l, 1, &t, KIMI_OK);
    kimi_limiter_free(&l);
}

static void
test_the_window_survives_many_requests_and_ring_growth(void)
{
    struct kimi_limiter l;
    struct kimi_ticket t[500];

    start(&l, 0, 0, 0, 1000000);
    for (int i = 0; i < 500; i++) {
        ask(&l, 10, &t[i], KIMI_OK);
        fake_now += 1000;               /* one a second */
    }
    /* Release out of order, each with its real usage. */
    for (int i = 499; i >= 0; i -= 2) {
        kimi_limiter_release(&l, &t[i], 1);
    }
    struct kimi_limit_snapshot snap;
    kimi_limiter_snapshot(&l, &snap);
    /* The last minute holds seconds 441 to 499 (the one at 440 is
     * exactly a minute old: out): 29 even ones at 10, 30 odd at 1. */
    CHECK(snap.requests_minute == 59);
    CHECK(snap.tokens_minute == 29 * 10 + 30 * 1);
    CHECK(snap.tokens_day == 250 * 10 + 250 * 1);
    CHECK(snap.in_flight == 250);
    kimi_limiter_free(&l);
}

struct worker {
    struct kimi_limiter *l;
    int admitted;
    int max_seen;
};

static long concurrent;
static pthread_mutex_t concurrent_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
work(void *arg)
{
    struct worker *w = arg;
    struct kimi_error err;
    for (int i = 0; i < 2000; i++) {
        struct kimi_ticket t;
        int64_t wait = 0;
        if (kimi_limiter_acquire(w->l, 1, &t, &wait, &err) != KIMI_OK) {
            continue;
        }
        pthread_mutex_lock(&concurrent_lock);
        concurrent++;
        if (concurrent > w->max_seen) {
            w->max_seen = (int)concurrent;
        }
        pthread_mutex_unlock(&concurrent_lock);
        w->admitted++;
        pthread_mutex_lock(&concurrent_lock);
        concurrent--;
        pthread_mutex_unlock(&concurrent_lock);
        kimi_limiter_release(w->l, &t, -1);
    }
    return NULL;
}

static void
test_threads_share_one_limiter(void)
{
    struct kimi_limiter l;
    struct kimi_limits limits = {3, 0, 0, 0};
    struct kimi_error err;
    pthread_t threads[8];
    struct worker workers[8];

    CHECK(kimi_limiter_init(&l, &limits, NULL, NULL, &err) == KIMI_OK);
    for (int i = 0; i < 8; i++) {
        workers[i] = (struct worker){&l, 0, 0};
        pthread_create(&threads[i], NULL, work, &workers[i]);
    }
    int admitted = 0;
    int max_seen = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        admitted += workers[i].admitted;
        if (workers[i].max_seen > max_seen) {
            max_seen = workers[i].max_seen;
        }
    }
    CHECK(admitted > 0);
    CHECK(max_seen <= 3);               /* never more in flight */
    struct kimi_limit_snapshot snap;
    kimi_limiter_snapshot(&l, &snap);
    CHECK(snap.in_flight == 0);
    CHECK(snap.requests_minute == admitted);
    kimi_limiter_free(&l);
}

static void
test_bad_limits_are_refused(void)
{
    struct kimi_limiter l;
    struct kimi_limits limits = {0, -1, 0, 0};
    struct kimi_error err;
    CHECK(kimi_limiter_init(&l, &limits, NULL, NULL, &err) == KIMI_EINVAL);
    kimi_limiter_free(&l);
}

static void
test_the_prompt_estimate_errs_high(void)
{
    const char *english = "{\"messages\":[{\"role\":\"user\","
                          "\"content\":\"Say hello to the world\"}]}";
    /* 66 ASCII bytes: 17 tokens, more than the few words' 5 or so. */
    CHECK(kimi_estimate_prompt_tokens(english, strlen(english)) == 17);
    /* Four CJK characters (3 bytes each) are four tokens. */
    const char *cjk = "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c";
    CHECK(kimi_estimate_prompt_tokens(cjk, strlen(cjk)) == 4);
    /* A four-byte character is one token; a stray continuation byte none. */
    CHECK(kimi_estimate_prompt_tokens("\xf0\x9f\x98\x80", 4) == 1);
    CHECK(kimi_estimate_prompt_tokens("\x80\x80", 2) == 0);
    CHECK(kimi_estimate_prompt_tokens("", 0) == 0);
    CHECK(kimi_estimate_prompt_tokens("a", 1) == 1);
}

int
main(void)
{
    test_the_prompt_estimate_errs_high();
    test_concurrency_admits_as_slots_free();
    test_rpm_waits_until_the_oldest_is_a_minute_old();
    test_rpm_paces_starts_after_a_burst();
    test_tpm_counts_estimates_then_real_usage();
    test_tpd_refuses_instead_of_waiting_and_names_the_time();
    test_a_request_that_can_never_fit_is_refused();
    test_a_429_pauses_every_sender();
    test_the_window_survives_many_requests_and_ring_growth();
    test_threads_share_one_limiter();
    test_bad_limits_are_refused();
    return check_report("limit");
}

/* test_retry.c - unit tests for retry.c.
 *
 * Every branch of kimi_retry_decide, the backoff and its jitter, and
 * kimi_retry_after over header forms (milliseconds, seconds, fractions,
 * HTTP-dates before and after now, junk) and message fallbacks.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "retry.h"

/* ---- kimi_retry_decide ---- */

static struct kimi_retry_facts
facts(enum kimi_outcome outcome, long status)
{
    struct kimi_retry_facts f;
    memset(&f, 0, sizeof(f));
    f.outcome = outcome;
    f.http_status = status;
    f.retry_after = -1.0;
    f.attempt = 0;
    f.max_retries = 2;
    return f;
}

/* 1 and the delay when f is retried with jitter 0, else 0 and -1. */
static double
delay_of(const struct kimi_retry_facts *f)
{
    double delay = -2.0;
    if (!kimi_retry_decide(f, 0.0, &delay)) {
        CHECK(delay == 0.0);
        return -1.0;
    }
    return delay;
}

static int
status_retried(long status)
{
    struct kimi_retry_facts f = facts(KIMI_OUTCOME_STATUS, status);
    return delay_of(&f) > 0.0;
}

static void
test_outcomes(void)
{
    struct kimi_retry_facts f = facts(KIMI_OUTCOME_NO_RESPONSE, 0);
    CHECK(delay_of(&f) == 0.5);
    f = facts(KIMI_OUTCOME_CERTIFICATE, 0);
    CHECK(delay_of(&f) < 0.0);
    f = facts(KIMI_OUTCOME_REJECTED, 200);
    CHECK(delay_of(&f) < 0.0);
    f.retry_after = 1.0;
    CHECK(delay_of(&f) < 0.0);
    f = facts((enum kimi_outcome)42, 500);
    CHECK(delay_of(&f) < 0.0);
    double delay = -1.0;
    CHECK(kimi_retry_decide(NULL, 0.0, &delay) == 0);
    CHECK(delay == 0.0);
}

static void
test_statuses(void)
{
    CHECK(status_retried(408));
    CHECK(status_retried(409));
    CHECK(status_retried(429));
    for (long s = 500; s <= 599; s++) {
        CHECK(status_retried(s));
    }
    CHECK(!status_retried(600));
    CHECK(!status_retried(999));
    CHECK(!status_retried(499));
    for (long s = 400; s < 500; s++) {
        if (s != 408 && s != 409 && s != 429) {
            CHECK(!status_retried(s));
        }
    }
    CHECK(!status_retried(200));
    CHECK(!status_retried(301));
    CHECK(!status_retried(0));
    CHECK(!status_retried(-1));
}

static void
test_billing_429_is_never_retried(void)
{
    struct kimi_retry_facts f = facts(KIMI_OUTCOME_STATUS, 429);
    f.error_type = "exceeded_current_quota_error";
    CHECK(delay_of(&f) < 0.0);
    f.error_type = "rate_limit_reached_error";
    CHECK(delay_of(&f) > 0.0);
    f.error_code = "used_up";
    CHECK(delay_of(&f) < 0.0);
    f.error_type = NULL;
    f.error_code = "insufficient_quota";
    CHECK(delay_of(&f) < 0.0);
    f.error_code = "too_many_requests";
    CHECK(delay_of(&f) > 0.0);
    f.error_code = "USED_UP";       /* codes are compared exactly */
    CHECK(delay_of(&f) > 0.0);
    /* Only a 429 says "billing" this way; a 500 with such a code is a
     * server error. */
    f = facts(KIMI_OUTCOME_STATUS, 500);
    f.error_code = "used_up";
    CHECK(delay_of(&f) > 0.0);
    f = facts(KIMI_OUTCOME_STATUS, 403);
    f.error_code = "used_up";
    CHECK(delay_of(&f) < 0.0);
}

static void
test_attempt_budget(void)
{
    struct kimi_retry_facts f = facts(KIMI_OUTCOME_NO_RESPONSE, 0);
    f.max_retries = 3;
    f.attempt = 2;
    CHECK(delay_of(&f) == 2.0);
    f.attempt = 3;
    CHECK(delay_of(&f) < 0.0);
    f.attempt = 4;
    CHECK(delay_of(&f) < 0.0);
    f.max_retries = 0;
    f.attempt = 0;
    CHECK(delay_of(&f) < 0.0);
    f.max_retries = -1;
    CHECK(delay_of(&f) < 0.0);
}

static void
test_server_wait(void)
{
    struct kimi_retry_facts f = facts(KIMI_OUTCOME_STATUS, 429);
    double delay = 0.0;

    f.retry_after = 3.25;
    CHECK(kimi_retry_decide(&f, 0.9, &delay) == 1);
    CHECK(delay == 3.25);               /* exactly, no jitter */
    f.retry_after = KIMI_RETRY_MAX_WAIT;
    CHECK(delay_of(&f) == KIMI_RETRY_MAX_WAIT);
    f.retry_after = KIMI_RETRY_MAX_WAIT + 0.001;
    CHECK(delay_of(&f) < 0.0);
    f.retry_after = INFINITY;
    CHECK(delay_of(&f) < 0.0);
    f.retry_after = 0.001;
    CHECK(delay_of(&f) == 0.001);
    /* no usable hint: backoff */
    f.retry_after = 0.0;
    CHECK(delay_of(&f) == 0.5);
    f.retry_after = -1.0;
    CHECK(delay_of(&f) == 0.5);
    f.retry_after = NAN;
    CHECK(delay_of(&f) == 0.5);
    /* the wait does not make a non-retryable status retryable */
    f = facts(KIMI_OUTCOME_STATUS, 400);
    f.retry_after = 1.0;
    CHECK(delay_of(&f) < 0.0);
}

static void
test_backoff_doubles_up_to_the_cap_with_jitter(void)
{
    struct kimi_retry_facts f = facts(KIMI_OUTCOME_STATUS, 503);
    const double want[] = {0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0};
    double delay = 0.0;

    f.max_retries = 1000;
    for (int a = 0; a < 7; a++) {
        f.attempt = a;
        CHECK(delay_of(&f) == want[a]);
        CHECK(kimi_retry_decide(&f, 0.5, &delay) == 1);
        CHECK(delay == want[a] * (1.0 - 0.25 * 0.5));
        CHECK(kimi_retry_decide(&f, 0.999999, &delay) == 1);
        CHECK(delay > want[a] * 0.75 && delay < want[a] * 0.7501);
    }
    f.attempt = 999;
    CHECK(delay_of(&f) == 8.0);
    f.attempt = -5;
    CHECK(delay_of(&f) == 0.5);
    /* jitter out of range is clamped, NaN counts as none */
    f.attempt = 1;
    CHECK(kimi_retry_decide(&f, -3.0, &delay) == 1 && delay == 1.0);
    CHECK(kimi_retry_decide(&f, 7.0, &delay) == 1 && delay == 0.75);
    CHECK(kimi_retry_decide(&f, NAN, &delay) == 1 && delay == 1.0);
}

/* ---- kimi_retry_after ---- */

static double
after(const char *headers, const char *message)
{
    /* Wed, 21 Oct 2015 07:28:00 GMT */
    const time_t now = 1445412480;
    return kimi_retry_after(headers, headers != NULL ? strlen(headers) : 0,
                            message, now);
}

static void
test_retry_after_headers(void)
{
    CHECK(after("Retry-After: 5\r\n", NULL) == 5.0);
    CHECK(after("retry-after: 0\r\n", NULL) == 0.0);
    CHECK(after("RETRY-AFTER:  2.5 \r\n", NULL) == 2.5);
    CHECK(after("Retry-After: 5.\r\n", NULL) == 5.0);
    CHECK(after("Retry-After: .5\r\n", NULL) == 0.5);
    CHECK(after("retry-after-ms: 1500\r\n", NULL) == 1.5);
    CHECK(after("retry-after-ms: 0.5\r\n", NULL) == 0.0005);
    /* milliseconds win over seconds, either order */
    CHECK(after("Retry-After: 9\r\nretry-after-ms: 250\r\n", NULL) == 0.25);
    CHECK(after("retry-after-ms: 250\r\nRetry-After: 9\r\n", NULL) == 0.25);
    /* an unusable milliseconds value falls back to seconds */
    CHECK(after("retry-after-ms: soon\r\nRetry-After: 9\r\n", NULL) == 9.0);
    /* the first Retry-After is the one read */
    CHECK(after("Retry-After: 4\r\nRetry-After: 9\r\n", NULL) == 4.0);
    /* huge values come back huge (decide then stops), capped */
    CHECK(after("Retry-After: 86400\r\n", NULL) == 86400.0);
    CHECK(after("Retry-After: 99999999999999999999999999999999999999999"
                "99999999999999999999999999999999999999999999999999999999"
                "99999999999999999999999999999999999999999999999999999999"
                "99999999999999999999999999999999999999999999999999999999"
                "99999999999999999999999999999999999999999999999999999999"
                "999999999999999\r\n", NULL) == KIMI_RETRY_AFTER_HUGE);
    CHECK(after("retry-after-ms: 1e999\r\n", NULL) == -1.0);
}

static void
test_retry_after_rejects_junk(void)
{
    CHECK(after(NULL, NULL) == -1.0);
    CHECK(after("", NULL) == -1.0);
    CHECK(after("Content-Type: text/plain\r\n", NULL) == -1.0);
    CHECK(after("Retry-After:\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: -1\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: +5\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: 1e3\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: NaN\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: inf\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: 5 seconds\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: 0x10\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: .\r\n", NULL) == -1.0);
    CHECK(after("retry-after-ms: -100\r\n", NULL) == -1.0);
    CHECK(after("Retry-After: soon\r\n", NULL) == -1.0);
    CHECK(after("X-Retry-After: 5\r\n", NULL) == -1.0);
    CHECK(kimi_retry_after(NULL, 40, NULL, 0) == -1.0);
}

static void
test_retry_after_http_dates(void)
{
    /* now is Wed, 21 Oct 2015 07:28:00 GMT */
    CHECK(after("Retry-After: Wed, 21 Oct 2015 07:28:30 GMT\r\n", NULL)
          == 30.0);
    CHECK(after("Retry-After: Wednesday, 21-Oct-15 07:29:00 GMT\r\n", NULL)
          == 60.0);
    CHECK(after("Retry-After: Wed Oct 21 08:28:00 2015\r\n", NULL)
          == 3600.0);
    /* not after now: retry now (decide then backs off as without a hint) */
    CHECK(after("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", NULL)
          == 0.0);
    CHECK(after("Retry-After: Tue, 20 Oct 2015 07:28:00 GMT\r\n", NULL)
          == 0.0);
    CHECK(after("Retry-After: Thu, 01 Jan 1970 00:00:00 GMT\r\n", NULL)
          == 0.0);
    /* not a date */
    CHECK(after("Retry-After: Someday, soon\r\n", NULL) == -1.0);
    char long_value[300];
    snprintf(long_value, sizeof(long_value), "Retry-After: Wed, 21 Oct 2015"
             " 07:28:30 GMT%200s\r\n", "x");
    CHECK(after(long_value, NULL) == -1.0);
    const char nul_date[] = "Retry-After: Wed, 21 Oct 2015 07:28:30\0 GMT\r\n";
    CHECK(kimi_retry_after(nul_date, sizeof(nul_date) - 1, NULL,
                           1445412480) == -1.0);
}

static void
test_retry_after_message_fallback(void)
{
    CHECK(after(NULL, "your account reached max RPM: 3, please try again "
                      "after 1 seconds") == 1.0);
    CHECK(after(NULL, "Please try again after 20 s.") == 20.0);
    CHECK(after(NULL, "Try Again After 2.5 Seconds") == 2.5);
    CHECK(after(NULL, "please try again after 30s") == 30.0);
    CHECK(after(NULL, "Please try again in 1.5s.") == 1.5);
    CHECK(after(NULL, "Please try again in 100ms") == 0.1);
    CHECK(after(NULL, "try again in 2 minutes") == 120.0);
    CHECK(after(NULL, "try again after 1 sec") == 1.0);
    /* the first occurrence that reads as a wait */
    CHECK(after(NULL, "try again after a while, or try again after 4 "
                      "seconds") == 4.0);
    CHECK(after(NULL, "try again in a moment; try again after 3s") == 3.0);
    CHECK(after(NULL, "please try again later") == -1.0);
    CHECK(after(NULL, "try again after 5") == -1.0);
    CHECK(after(NULL, "try again after 5 sheep") == -1.0);
    CHECK(after(NULL, "try again after 5seconds2") == 5.0);
    CHECK(after(NULL, "try again after -5 seconds") == -1.0);
    CHECK(after(NULL, "") == -1.0);
    /* headers win over the message */
    CHECK(after("Retry-After: 7\r\n", "try again after 1 seconds") == 7.0);
    CHECK(after("Retry-After: junk\r\n", "try again after 1 seconds")
          == 1.0);
}

int
main(void)
{
    test_outcomes();
    test_statuses();
    test_billing_429_is_never_retried();
    test_attempt_budget();
    test_server_wait();
    test_backoff_doubles_up_to_the_cap_with_jitter();
    test_retry_after_headers();
    test_retry_after_rejects_junk();
    test_retry_after_http_dates();
    test_retry_after_message_fallback();
    return check_report("retry");
}

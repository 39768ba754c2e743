/* retry.c - whether to retry, how long to wait, and reading the server's
 * own wait from headers or message.
 *
 * Decisions only: no clock (the caller passes now), no randomness (the
 * caller passes the jitter), no sleeping.
 */
#include "retry.h"

#include <curl/curl.h>
#include <string.h>

#include "headers.h"
#include "text.h"

/* ---- the decision ---- */

/* A 429 about money: waiting does not refill the account. */
static int
is_billing(const struct kimi_retry_facts *f)
{
    const char *type = f->error_type != NULL ? f->error_type : "";
    const char *code = f->error_code != NULL ? f->error_code : "";
    return strcmp(type, "exceeded_current_quota_error") == 0
           || strcmp(code, "used_up") == 0
           || strcmp(code, "insufficient_quota") == 0;
}

static int
status_is_retryable(const struct kimi_retry_facts *f)
{
    long status = f->http_status;

    if (status == 429) {
        /* Rate limits and overload pass; a quota or balance does not. */
        return !is_billing(f);
    }
    if (status == 408 || status == 409) {
        /* A request timeout or a conflict: the next try may go through. */
        return 1;
    }
    /* Server errors are usually passing; 600 and above are not HTTP, and
     * any other 4xx is about the request itself. */
    return status >= 500 && status <= 599;
}

static int
outcome_is_retryable(const struct kimi_retry_facts *f)
{
    switch (f->outcome) {
    case KIMI_OUTCOME_NO_RESPONSE:
        /* No complete response: nothing was delivered to send again. */
        return 1;
    case KIMI_OUTCOME_CERTIFICATE:
        /* The next try meets the same certificate. */
        return 0;
    case KIMI_OUTCOME_REJECTED:
        /* The server produced and billed it; only the client refused. */
        return 0;
    case KIMI_OUTCOME_STATUS:
        return status_is_retryable(f);
    }
    /* An outcome this code does not know: do not guess. */
    return 0;
}

/* KIMI_RETRY_BASE * 2^attempt, at most KIMI_RETRY_CAP, less up to
 * KIMI_RETRY_JITTER of itself so that clients spread out. */
static double
backoff(int attempt, double jitter)
{
    double wait = KIMI_RETRY_BASE;
    for (int i = 0; i < attempt && wait < KIMI_RETRY_CAP; i++) {
        wait *= 2.0;
    }
    if (wait > KIMI_RETRY_CAP) {
        wait = KIMI_RETRY_CAP;
    }
    if (!(jitter >= 0.0)) {     /* NaN too */
        jitter = 0.0;
    }
    if (jitter > 1.0) {
        jitter = 1.0;
    }
    return wait * (1.0 - KIMI_RETRY_JITTER * jitter);
}

int
kimi_retry_decide(const struct kimi_retry_facts *f, double jitter,
                  double *delay)
{
    *delay = 0.0;
    if (f == NULL) {
        return 0;
    }
    /* The caller's budget is spent. */
    if (f->attempt >= f->max_retries) {
        return 0;
    }
    if (!outcome_is_retryable(f)) {
        return 0;
    }
    /* Longer than we may wait: stop, the caller reports retry_after. */
    if (f->retry_after > KIMI_RETRY_MAX_WAIT) {
        return 0;
    }
    /* The server said when: do exactly that. */
    if (f->retry_after > 0.0) {
        *delay = f->retry_after;
        return 1;
    }
    /* No hint (none, zero or NaN): back off. */
    *delay = backoff(f->attempt, jitter);
    return 1;
}

/* ---- reading the server's wait ---- */

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A decimal number "digits[.digits]" at the start of s (n bytes): its
 * length, 0 when there is none; the value saturates at
 * KIMI_RETRY_AFTER_HUGE. */
static size_t
read_decimal(const char *s, size_t n, double *value)
{
    double v = 0.0;
    double scale = 1.0;
    size_t digits = 0;
    size_t i = 0;

    while (i < n && is_digit(s[i])) {
        if (v < KIMI_RETRY_AFTER_HUGE) {
            v = v * 10.0 + (s[i] - '0');
        }
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) {
            scale /= 10.0;
            v += (s[i] - '0') * scale;
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        return 0;
    }
    *value = v < KIMI_RETRY_AFTER_HUGE ? v : KIMI_RETRY_AFTER_HUGE;
    return i;
}

/* A header value that is exactly one decimal number. */
static int
header_number(const char *block, size_t len, const char *name,
              double *value)
{
    const char *v;
    size_t n;
    if (!kimi_headers_find(block, len, name, &v, &n)) {
        return 0;
    }
    return n > 0 && read_decimal(v, n, value) == n;
}

/* Retry-After as an HTTP-date: seconds from now, 0 when not after now,
 * -1 when it is no date.  Every HTTP-date names a weekday and a month. */
static double
header_date(const char *block, size_t len, time_t now)
{
    char text[128];
    const char *v;
    size_t n;
    int has_letter = 0;

    if (!kimi_headers_find(block, len, "retry-after", &v, &n)
        || n >= sizeof(text)) {
        return -1.0;
    }
    for (size_t i = 0; i < n; i++) {
        has_letter |= is_letter(v[i]);
    }
    memcpy(text, v, n);
    text[n] = '\0';
    time_t when = has_letter && memchr(v, '\0', n) == NULL
                      ? curl_getdate(text, NULL)
                      : (time_t)-1;
    if (when == (time_t)-1) {
        return -1.0;
    }
    double seconds = difftime(when, now);
    return seconds > 0.0 ? seconds : 0.0;
}

struct wait_unit {
    const char *name;
    double seconds;
};

static const struct wait_unit wait_units[] = {
    {"s", 1.0},         {"sec", 1.0},       {"secs", 1.0},
    {"second", 1.0},    {"seconds", 1.0},   {"ms", 0.001},
    {"millisecond", 0.001},                 {"milliseconds", 0.001},
    {"min", 60.0},      {"mins", 60.0},     {"minute", 60.0},
    {"minutes", 60.0},
};

/* "N <unit>" at the start of s (n bytes), spaces allowed around N: the
 * wait in seconds, -1 when it is not that. */
static double
read_wait(const char *s, size_t n)
{
    size_t i = 0;
    double value = 0.0;

    while (i < n && s[i] == ' ') {
        i++;
    }
    size_t used = read_decimal(s + i, n - i, &value);
    if (used == 0) {
        return -1.0;
    }
    i += used;
    while (i < n && s[i] == ' ') {
        i++;
    }
    size_t word = i;
    while (word < n && is_letter(s[word])) {
        word++;
    }
    for (size_t k = 0; k < sizeof(wait_units) / sizeof(wait_units[0]); k++) {
        const char *name = wait_units[k].name;
        if (kimi_text_equal_nocase(s + i, word - i, name, strlen(name))) {
            double wait = value * wait_units[k].seconds;
            return wait < KIMI_RETRY_AFTER_HUGE ? wait
                                                : KIMI_RETRY_AFTER_HUGE;
        }
    }
    return -1.0;
}

/* The first "try again after N s" or "try again in N s" in message. */
static double
message_wait(const char *message)
{
    static const char *const phrases[] = {"try again after",
                                          "try again in"};
    size_t n = message != NULL ? strlen(message) : 0;

    for (size_t p = 0; p < sizeof(phrases) / sizeof(phrases[0]); p++) {
        size_t k = strlen(phrases[p]);
        const char *at = kimi_text_find_nocase(message, n, phrases[p], k);
        while (at != NULL) {
            size_t after = (size_t)(at - message) + k;
            double wait = read_wait(message + after, n - after);
            if (wait >= 0.0) {
                return wait;
            }
            at = kimi_text_find_nocase(message + after, n - after,
                                       phrases[p], k);
        }
    }
    return -1.0;
}

double
kimi_retry_after(const char *header_block, size_t len, const char *message,
                 time_t now)
{
    double value = 0.0;

    if (header_block == NULL) {
        len = 0;
    }
    if (header_number(header_block, len, "retry-after-ms", &value)) {
        return value / 1000.0;
    }
    if (header_number(header_block, len, "retry-after", &value)) {
        return value;
    }
    double date = header_date(header_block, len, now);
    if (date >= 0.0) {
        return date;
    }
    return message_wait(message);
}

/* retry.h - the one decision whether to send a request again, and when.
 *
 * Every driver (poll, sockets, run) asks here, without the GIL, after an
 * attempt ends; the waiting itself (time.sleep, asyncio.sleep, a timer) is
 * the caller's.  Also reads how long the server asked us to wait.  Does
 * not count attempts or sleep.
 *
 * Contract: pure functions over caller-owned values; thread-safe.  The
 * jitter is supplied by the caller so every decision is reproducible.
 * Nothing here allocates or fails.
 */
#ifndef KIMI_RETRY_H
#define KIMI_RETRY_H

#include <stddef.h>
#include <time.h>

enum kimi_outcome {
    KIMI_OUTCOME_NO_RESPONSE,   /* transport failed before a complete
                                   response: connect, reset, timeout */
    KIMI_OUTCOME_CERTIFICATE,   /* TLS certificate problem: never retried */
    KIMI_OUTCOME_REJECTED,      /* a complete 2xx reply the client rejected
                                   (too big, not JSON, oversized headers):
                                   never retried, the server already
                                   produced and billed it */
    KIMI_OUTCOME_STATUS         /* a complete non-2xx response */
};

struct kimi_retry_facts {
    enum kimi_outcome outcome;
    long http_status;
    const char *error_type;     /* from the error body, may be NULL */
    const char *error_code;     /* from the error body, may be NULL */
    double retry_after;         /* seconds the server asked for; < 0 when
                                   none */
    int attempt;                /* retries already made (0 before the
                                   first retry) */
    int max_retries;
};

/* The longest wait the server may ask for and still be retried. */
#define KIMI_RETRY_MAX_WAIT 60.0
/* Backoff without a server hint: KIMI_RETRY_BASE * 2^attempt, at most
 * KIMI_RETRY_CAP, less up to KIMI_RETRY_JITTER of itself. */
#define KIMI_RETRY_BASE 0.5
#define KIMI_RETRY_CAP 8.0
#define KIMI_RETRY_JITTER 0.25

/* 1 = retry after *delay seconds, 0 = stop (*delay is then 0).  jitter is
 * a uniform number in [0, 1) from the caller (values outside are clamped,
 * NaN counts as 0).  Stops when attempt >= max_retries; retries a
 * transport failure; never a certificate problem or a rejected 2xx reply;
 * for a status, retries 408, 409, 429 and 500-599 only, except a 429 about
 * billing (type exceeded_current_quota_error, code used_up or
 * insufficient_quota).  A retry_after above KIMI_RETRY_MAX_WAIT stops (the
 * caller reports it); one in (0, KIMI_RETRY_MAX_WAIT] is the delay
 * exactly; otherwise (none, 0 or NaN) the delay is the jittered
 * backoff. */
int kimi_retry_decide(const struct kimi_retry_facts *f, double jitter,
                      double *delay);

/* Seconds to wait that the server asked for, or -1 when it said nothing
 * usable.  Looks, in order, at the header block (len bytes, may be NULL):
 *   retry-after-ms: a non-negative decimal number of milliseconds;
 *   retry-after:    a non-negative decimal number of seconds (fractions
 *                   allowed), or an HTTP-date (read with curl_getdate)
 *                   taken relative to now, a date not after now giving 0
 *                   ("you may retry now");
 * then, when no header is usable, at message (NUL-terminated, may be
 * NULL): "try again after N <unit>" or "try again in N <unit>", any case,
 * unit s/sec/secs/second/seconds, ms/millisecond(s) or
 * min/mins/minute/minutes.  A value with a sign, an exponent, anything
 * after it, or nothing at all is not usable; a huge value is returned as
 * it is, capped at KIMI_RETRY_AFTER_HUGE. */
#define KIMI_RETRY_AFTER_HUGE 1e15
double kimi_retry_after(const char *header_block, size_t len,
                        const char *message, time_t now);

#endif

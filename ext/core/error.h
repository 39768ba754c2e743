/* error.h - status codes and the caller-owned error record of the core.
 *
 * Every fallible core function returns enum kimi_status (KIMI_OK is 0) and,
 * on failure, fills a struct kimi_error the caller owns.  No global error
 * state exists; the struct is plain data and safe to copy.
 */
#ifndef KIMI_ERROR_H
#define KIMI_ERROR_H

#include <stddef.h>

#define KIMI_MUST_CHECK __attribute__((warn_unused_result))

enum kimi_status {
    KIMI_OK = 0,
    KIMI_AGAIN,         /* nothing yet: the wait slice ended; call again */
    KIMI_DONE,          /* the stream ended normally (data: [DONE]) */
    KIMI_ENOMEM,        /* an allocation failed */
    KIMI_ETOOBIG,       /* a capped buffer would exceed its cap */
    KIMI_EINVAL,        /* bad argument from the caller */
    KIMI_EPROTO,        /* malformed data from the server (SSE or JSON) */
    KIMI_ECONNECT,      /* transport failure: DNS, connect, TLS, reset */
    KIMI_ETIMEOUT,      /* no byte arrived within the idle timeout */
    KIMI_ETRUNCATED,    /* the body ended before data: [DONE] */
    KIMI_ESERVER,       /* the server sent an error object in the stream */
    KIMI_ECANCELLED,    /* the binding's wait was interrupted by a signal
                           handler that raised (the core never returns it) */
    KIMI_ECERT,         /* a TLS certificate problem (never retried) */
    KIMI_EFORKED,       /* the transfer belongs to another process */
    KIMI_EFILE          /* a file to upload cannot be opened or read */
};

#define KIMI_ERROR_MESSAGE_MAX 512

struct kimi_error {
    enum kimi_status status;
    int curl_code;          /* CURLcode when the failure came from libcurl */
    long http_status;       /* HTTP status when known, else 0 */
    size_t offset;          /* byte offset in the response body, if any */
    int rejected;           /* a complete response arrived and the client
                               refused it: retrying would bill it again */
    const char *limit;      /* the timeout that fired: "connect", "read",
                               "event" or "total" (static), else NULL */
    int sys_errno;          /* errno behind a KIMI_EFILE, else 0 */
    char message[KIMI_ERROR_MESSAGE_MAX];
};

/* Short, static description of a status ("out of memory", ...). */
const char *kimi_strerror(enum kimi_status status);

/* Record a failure: sets err->status and formats err->message with
 * vsnprintf (truncated to fit).  Returns status, so callers can write
 * "return kimi_error_set(err, KIMI_EPROTO, ...);".  err may be NULL. */
enum kimi_status kimi_error_set(struct kimi_error *err,
                                enum kimi_status status,
                                const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Zero an error record. */
void kimi_error_clear(struct kimi_error *err);

#endif

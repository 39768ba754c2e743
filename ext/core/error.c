/* error.c - kimi_strerror() and the error-record setters. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
kimi_strerror(enum kimi_status status)
{
    switch (status) {
    case KIMI_OK:
        return "ok";
    case KIMI_AGAIN:
        return "try again";
    case KIMI_DONE:
        return "stream finished";
    case KIMI_ENOMEM:
        return "out of memory";
    case KIMI_ETOOBIG:
        return "size limit exceeded";
    case KIMI_EINVAL:
        return "invalid argument";
    case KIMI_EPROTO:
        return "malformed response";
    case KIMI_ECONNECT:
        return "connection failed";
    case KIMI_ETIMEOUT:
        return "timed out";
    case KIMI_ETRUNCATED:
        return "stream ended before data: [DONE]";
    case KIMI_ESERVER:
        return "server sent an error";
    case KIMI_ECANCELLED:
        return "cancelled";
    case KIMI_ECERT:
        return "certificate problem";
    case KIMI_EFORKED:
        return "used in a forked child";
    case KIMI_EFILE:
        return "file to upload unreadable";
    }
    return "unknown status";
}

enum kimi_status
kimi_error_set(struct kimi_error *err, enum kimi_status status,
               const char *fmt, ...)
{
    if (err == NULL) {
        return status;
    }
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status;
}

void
kimi_error_clear(struct kimi_error *err)
{
    memset(err, 0, sizeof(*err));
}

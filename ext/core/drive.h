/* drive.h - the poll driver: the caller's thread steps one transfer.
 *
 * Each call drives libcurl for at most poll_ms milliseconds and returns
 * KIMI_AGAIN when the slice ends with nothing to report, so the caller
 * (the binding, with the GIL released) can check for signals between
 * slices.  The transfer must be attached to a multi handle that no other
 * thread steps.  Not thread-safe: one thread at a time per multi handle.
 */
#ifndef KIMI_DRIVE_H
#define KIMI_DRIVE_H

#include "transfer.h"

/* Until the response status and headers are known: KIMI_OK, KIMI_AGAIN,
 * or a transport error. */
KIMI_MUST_CHECK enum kimi_status
kimi_drive_headers(struct kimi_transfer *t, int poll_ms,
                  struct kimi_error *err);

/* Until the whole body is in t->body: KIMI_OK, KIMI_AGAIN, or an error
 * (a 2xx body over max_body is KIMI_ETOOBIG; an error body is cut at
 * KIMI_MAX_ERROR_BODY and the transfer stopped there). */
KIMI_MUST_CHECK enum kimi_status
kimi_drive_body(struct kimi_transfer *t, int poll_ms, struct kimi_error *err);

/* Until one event is ready: as kimi_events_next, except that KIMI_AGAIN
 * means the slice ended. */
KIMI_MUST_CHECK enum kimi_status
kimi_drive_event(struct kimi_transfer *t, int poll_ms, cJSON **event,
                struct kimi_error *err);

#endif

/* run.h - the run driver: one thread steps many transfers on one multi
 * handle.
 *
 * A concurrent map attaches its transfers to one lane's multi handle and
 * calls kimi_run_step with the GIL released; the step returns as soon as
 * one or more of them are over (the whole response read, or a failure:
 * the transfer broke, or one of its deadlines passed), so the caller can
 * take their results and admit new requests while the rest go on.
 *
 * Ownership: the transfers and the multi handle are the caller's.  Not
 * thread-safe: one thread at a time per multi handle.
 */
#ifndef KIMI_RUN_H
#define KIMI_RUN_H

#include "transfer.h"

/* 1 when t is over: kimi_transfer_body_state no longer says KIMI_AGAIN. */
int kimi_run_over(const struct kimi_transfer *t);

/* Step multi until a transfer of ts (n of them, all attached to multi) is
 * over: KIMI_OK.  KIMI_AGAIN when poll_ms passed first; an error only when
 * the multi handle itself broke, or the transfers are another process's
 * (fork).  A transfer whose deadline passed is marked failed with its
 * timeout, so kimi_transfer_body_state reports it. */
KIMI_MUST_CHECK enum kimi_status
kimi_run_step(CURLM *multi, struct kimi_transfer *const *ts, size_t n,
              int poll_ms, struct kimi_error *err);

#endif

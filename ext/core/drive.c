/* drive.c - the poll driver: slices of curl_multi_perform/curl_multi_poll
 * on the caller's thread, until a transfer has something to report.
 */
#include "drive.h"

#include "events.h"

/* How long a step waits for the end of the body after data: [DONE], so
 * that the connection can be reused. */
#define KIMI_DONE_GRACE_MS 20

/* What a driver waits for: KIMI_AGAIN while it is not there yet. */
typedef enum kimi_status (*kimi_wait_for)(struct kimi_transfer *t,
                                          cJSON **event,
                                          struct kimi_error *err);

/* Step libcurl until want() stops saying KIMI_AGAIN, a deadline of the
 * transfer passes, or the slice of poll_ms ends (KIMI_AGAIN).
 *
 *   refuse a transfer of another process (fork)
 *   loop:
 *       the total limit passed: ETIMEOUT
 *       ask want(); not AGAIN: return it
 *       perform; mark finished transfers
 *       ask want(); not AGAIN: return it
 *       a deadline passed: ETIMEOUT naming it
 *       the slice is used up: AGAIN
 *       poll the sockets until activity, the slice's end or the nearest
 *       deadline
 *
 * curl_multi_perform returns CURLM_OK even when a transfer failed (that
 * comes through curl_multi_info_read); anything else is a broken multi
 * handle. */
static enum kimi_status
drive(struct kimi_transfer *t, int poll_ms, kimi_wait_for want,
      cJSON **event, struct kimi_error *err)
{
    enum kimi_status st = kimi_transfer_check_owner(t, err);
    if (st != KIMI_OK) {
        return st;
    }
    int64_t slice_end = kimi_transfer_clock_ms() + poll_ms;
    for (;;) {
        /* Only the total limit here: a waiting event proves the server
         * is not silent, so read and event limits cannot have passed. */
        if (t->timeouts.total_ms > 0) {
            st = kimi_transfer_check_total(t, kimi_transfer_clock_ms(), err);
            if (st != KIMI_OK) {
                return st;
            }
        }
        st = want(t, event, err);
        if (st != KIMI_AGAIN) {
            return st;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(t->multi, &running);
        if (mc != CURLM_OK) {
            return kimi_error_set(err, KIMI_ECONNECT,
                                  "curl_multi_perform: %s",
                                  curl_multi_strerror(mc));
        }
        kimi_transfer_collect(t->multi);
        st = want(t, event, err);
        if (st != KIMI_AGAIN) {
            return st;
        }
        int64_t now = kimi_transfer_clock_ms();
        st = kimi_transfer_check_deadlines(t, now, err);
        if (st != KIMI_OK) {
            return st;
        }
        int64_t wait = slice_end - now;
        if (wait <= 0) {
            return KIMI_AGAIN;
        }
        int64_t until_deadline = kimi_transfer_next_deadline(t) - now;
        if (until_deadline < wait) {
            wait = until_deadline > 0 ? until_deadline : 0;
        }
        mc = curl_multi_poll(t->multi, NULL, 0, (int)wait, NULL);
        if (mc != CURLM_OK) {
            return kimi_error_set(err, KIMI_ECONNECT, "curl_multi_poll: %s",
                                  curl_multi_strerror(mc));
        }
    }
}

static enum kimi_status
want_headers(struct kimi_transfer *t, cJSON **event, struct kimi_error *err)
{
    (void)event;
    return kimi_transfer_headers_state(t, err);
}

static enum kimi_status
want_body(struct kimi_transfer *t, cJSON **event, struct kimi_error *err)
{
    (void)event;
    return kimi_transfer_body_state(t, err);
}

static enum kimi_status
want_event(struct kimi_transfer *t, cJSON **event, struct kimi_error *err)
{
    return kimi_events_next(t, event, err);
}

static enum kimi_status
want_end(struct kimi_transfer *t, cJSON **event, struct kimi_error *err)
{
    (void)event;
    (void)err;
    return t->finished || t->failed ? KIMI_OK : KIMI_AGAIN;
}

enum kimi_status
kimi_drive_headers(struct kimi_transfer *t, int poll_ms,
                  struct kimi_error *err)
{
    return drive(t, poll_ms, want_headers, NULL, err);
}

enum kimi_status
kimi_drive_body(struct kimi_transfer *t, int poll_ms, struct kimi_error *err)
{
    return drive(t, poll_ms, want_body, NULL, err);
}

enum kimi_status
kimi_drive_event(struct kimi_transfer *t, int poll_ms, cJSON **event,
                struct kimi_error *err)
{
    enum kimi_status st = drive(t, poll_ms, want_event, event, err);
    if (st == KIMI_DONE && !t->finished) {
        /* Let libcurl read the end of the body so the connection can be
         * reused; a server that lingers is not waited on. */
        struct kimi_error ignored;
        kimi_error_clear(&ignored);
        if (drive(t, KIMI_DONE_GRACE_MS, want_end, NULL, &ignored)
            != KIMI_OK) {
            kimi_error_clear(&ignored);     /* the stream is complete */
        }
    }
    return st;
}

/* run.c - the run driver: many transfers, one multi handle, one thread.
 */
#include "run.h"

int
kimi_run_over(const struct kimi_transfer *t)
{
    struct kimi_error ignored;
    return kimi_transfer_body_state(t, &ignored) != KIMI_AGAIN;
}

/* Mark every transfer past a deadline failed; 1 when one is over. */
static int
check_all(struct kimi_transfer *const *ts, size_t n, int64_t now,
          int64_t *next)
{
    int over = 0;
    *next = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        struct kimi_transfer *t = ts[i];
        if (kimi_run_over(t)) {
            over = 1;
            continue;
        }
        if (kimi_transfer_check_deadlines(t, now, &t->failure) != KIMI_OK) {
            t->failed = 1;
            over = 1;
            continue;
        }
        int64_t deadline = kimi_transfer_next_deadline(t);
        if (deadline < *next) {
            *next = deadline;
        }
    }
    return over;
}

/* Step libcurl until a transfer is over or the slice ends.
 *
 *   refuse transfers of another process (fork)
 *   loop:
 *       perform; mark finished transfers (CURLOPT_PRIVATE)
 *       one is over, or a deadline passed for one: OK
 *       the slice is used up: AGAIN
 *       poll the sockets until activity, the slice's end or the nearest
 *       deadline of any transfer */
enum kimi_status
kimi_run_step(CURLM *multi, struct kimi_transfer *const *ts, size_t n,
              int poll_ms, struct kimi_error *err)
{
    if (n > 0) {
        enum kimi_status st = kimi_transfer_check_owner(ts[0], err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    int64_t slice_end = kimi_transfer_clock_ms() + poll_ms;
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc != CURLM_OK) {
            return kimi_error_set(err, KIMI_ECONNECT,
                                  "curl_multi_perform: %s",
                                  curl_multi_strerror(mc));
        }
        kimi_transfer_collect(multi);
        int64_t now = kimi_transfer_clock_ms();
        int64_t next = INT64_MAX;
        if (check_all(ts, n, now, &next)) {
            return KIMI_OK;
        }
        int64_t wait = slice_end - now;
        if (wait <= 0) {
            return KIMI_AGAIN;
        }
        if (next - now < wait) {
            wait = next - now > 0 ? next - now : 0;
        }
        mc = curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
        if (mc != CURLM_OK) {
            return kimi_error_set(err, KIMI_ECONNECT, "curl_multi_poll: %s",
                                  curl_multi_strerror(mc));
        }
    }
}

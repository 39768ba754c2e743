/* sockets.c - libcurl's multi socket interface, with wishes recorded for
 * an event loop to apply.  Pure C: no callback here reaches the loop.
 */
#include "sockets.h"

#include <string.h>

#include "transfer.h"

/* The socket wishes a loop needs at most at once: one per socket, and a
 * lane runs at most KIMI_LANE_MAX_EASY transfers. */
#define KIMI_MAX_WISHES ((size_t)64 * 1024)

/* The loop has read what kimi_sockets_take gave it: start a new list. */
static void
forget_taken(struct kimi_sockets *s)
{
    if (s->taken) {
        kimi_buf_clear(&s->wishes);
        s->taken = 0;
    }
}

static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
          void *socketp)
{
    struct kimi_sockets *s = userp;
    forget_taken(s);
    struct kimi_socket_wish wish = {
        .fd = fd,
        .read = what == CURL_POLL_IN || what == CURL_POLL_INOUT,
        .write = what == CURL_POLL_OUT || what == CURL_POLL_INOUT,
        .removed = what == CURL_POLL_REMOVE,
    };
    (void)easy;
    (void)socketp;
    if (kimi_buf_append(&s->wishes, (const char *)&wish, sizeof(wish),
                        &s->failure) != KIMI_OK) {
        return -1;      /* libcurl fails the transfers on this socket */
    }
    return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct kimi_sockets *s = userp;
    (void)multi;
    s->timer_ms = timeout_ms;
    s->timer_changed = 1;
    return 0;
}

enum kimi_status
kimi_sockets_init(struct kimi_sockets *s, CURLM *multi,
                  struct kimi_error *err)
{
    memset(s, 0, sizeof(*s));
    s->multi = multi;
    s->timer_ms = -1;
    kimi_buf_init(&s->wishes,
                  KIMI_MAX_WISHES * sizeof(struct kimi_socket_wish));
    if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket)
            != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, s) != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer)
               != CURLM_OK
        || curl_multi_setopt(multi, CURLMOPT_TIMERDATA, s) != CURLM_OK)
    {
        kimi_sockets_free(s);
        return kimi_error_set(err, KIMI_EINVAL,
                              "sockets: the multi handle refused the "
                              "socket callbacks");
    }
    return KIMI_OK;
}

enum kimi_status
kimi_sockets_action(struct kimi_sockets *s, curl_socket_t fd, int what,
                    struct kimi_error *err)
{
    forget_taken(s);
    CURLMcode mc = curl_multi_socket_action(s->multi, fd, what, &s->running);
    if (mc != CURLM_OK) {
        return kimi_error_set(err, KIMI_ECONNECT,
                              "curl_multi_socket_action: %s",
                              curl_multi_strerror(mc));
    }
    kimi_transfer_collect(s->multi);
    if (s->failure.status != KIMI_OK) {
        *err = s->failure;
        kimi_error_clear(&s->failure);
        return err->status;
    }
    return KIMI_OK;
}

const struct kimi_socket_wish *
kimi_sockets_take(struct kimi_sockets *s, size_t *n)
{
    forget_taken(s);
    *n = s->wishes.len / sizeof(struct kimi_socket_wish);
    s->taken = 1;   /* cleared when the next wish comes, not before */
    return (const struct kimi_socket_wish *)s->wishes.data;
}

int
kimi_sockets_timer(struct kimi_sockets *s, long *ms)
{
    if (!s->timer_changed) {
        return 0;
    }
    s->timer_changed = 0;
    *ms = s->timer_ms;
    return 1;
}

int
kimi_sockets_pending(const struct kimi_sockets *s)
{
    return s->timer_changed || (!s->taken && s->wishes.len > 0);
}

void
kimi_sockets_free(struct kimi_sockets *s)
{
    if (s->multi != NULL) {
        curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, NULL);
        curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, NULL);
        curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, NULL);
        curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, NULL);
        s->multi = NULL;
    }
    kimi_buf_free(&s->wishes);
}

/* sockets.h - the socket driver: an event loop steps libcurl.
 *
 * The loop (asyncio in the binding, poll() in the C tests) owns the
 * waiting; libcurl says which sockets it wants watched and when it wants
 * to be woken.  Its callbacks here are pure C: they only record those
 * wishes ({fd, read, write, removed} and the timer deadline), which the
 * loop takes after each action and applies (add_reader / add_writer /
 * call_later).  Nothing is called back into the loop from libcurl.
 *
 *     init on a multi handle; attach transfers to it as usual
 *     loop:
 *         apply kimi_sockets_take() changes and the timer
 *         a watched socket is ready: kimi_sockets_action(fd, what)
 *         the timer fired:           kimi_sockets_action(KIMI_TIMER, 0)
 *         then ask each transfer (kimi_events_next, body/headers state)
 *
 * Ownership: the multi handle is borrowed.  Not thread-safe: one loop at
 * a time per multi handle.
 */
#ifndef KIMI_SOCKETS_H
#define KIMI_SOCKETS_H

#include <curl/curl.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

/* kimi_sockets_action's fd when the timer fired. */
#define KIMI_TIMER CURL_SOCKET_TIMEOUT

/* What kimi_sockets_action is told a socket is ready for. */
#define KIMI_READABLE CURL_CSELECT_IN
#define KIMI_WRITABLE CURL_CSELECT_OUT

struct kimi_socket_wish {
    curl_socket_t fd;
    int read;               /* watch for reading */
    int write;              /* watch for writing */
    int removed;            /* stop watching this socket */
};

struct kimi_sockets {
    CURLM *multi;           /* borrowed */
    struct kimi_buf wishes; /* struct kimi_socket_wish, back to back */
    int taken;              /* the loop has them; clear before the next */
    long timer_ms;          /* -1: no timer; else fire in this many ms */
    int timer_changed;      /* timer_ms changed since the last take */
    int running;            /* transfers libcurl still runs */
    struct kimi_error failure;  /* a wish that could not be recorded */
};

/* Route multi's socket and timer callbacks into s. */
KIMI_MUST_CHECK enum kimi_status
kimi_sockets_init(struct kimi_sockets *s, CURLM *multi,
                  struct kimi_error *err);

/* Tell libcurl fd is ready for what (KIMI_READABLE | KIMI_WRITABLE, or 0
 * with fd KIMI_TIMER when the timer fired), then mark the transfers it
 * finished.  The wishes it made are then waiting in kimi_sockets_take. */
KIMI_MUST_CHECK enum kimi_status
kimi_sockets_action(struct kimi_sockets *s, curl_socket_t fd, int what,
                    struct kimi_error *err);

/* The socket wishes recorded since the last call (*n of them; borrowed,
 * valid until the next action or libcurl call), latest wish per socket
 * last; the loop applies them in order. */
const struct kimi_socket_wish *kimi_sockets_take(struct kimi_sockets *s,
                                                 size_t *n);

/* 1 when the timer changed since the last call, with *ms the delay to
 * wait (-1: cancel the timer; 0: call the action soon, from the loop,
 * never from inside one). */
int kimi_sockets_timer(struct kimi_sockets *s, long *ms);

/* 1 when wishes or a timer change wait to be taken. */
int kimi_sockets_pending(const struct kimi_sockets *s);

/* Detach the callbacks from the multi handle.  Idempotent; safe on
 * zeroed memory. */
void kimi_sockets_free(struct kimi_sockets *s);

#endif

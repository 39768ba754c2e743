/* events.h - the stream protocol over a transfer's event queue.
 *
 * The write callback feeds a 2xx event stream's bytes here; the SSE
 * parser's events are queued raw and parsed one at a time as the
 * consumer takes them, each folded into the transfer's assembled reply.
 * The protocol: data: [DONE] ends the stream; a body that ends cleanly
 * after every choice got a finish_reason is complete too; any other
 * early end, a malformed event or an error object ends it with an error.
 * Nothing here steps libcurl: a driver does, between calls.
 *
 * Ownership: the queue and reply belong to the transfer; an event handed
 * out is a new tree the caller frees with cJSON_Delete.  Not thread-safe.
 */
#ifndef KIMI_EVENTS_H
#define KIMI_EVENTS_H

#include "transfer.h"

void kimi_events_init(struct kimi_transfer *t, size_t max_event);

/* Parse n body bytes and queue the events they complete (called from the
 * write callback). */
KIMI_MUST_CHECK enum kimi_status
kimi_events_feed(struct kimi_transfer *t, const char *bytes, size_t n,
                 struct kimi_error *err);

/* The next event without waiting: KIMI_OK with *event (already folded
 * into the reply), KIMI_DONE when the stream is complete, KIMI_AGAIN when
 * more bytes are needed, or an error: KIMI_ETRUNCATED (the body ended
 * early), KIMI_EPROTO (a malformed event, or not an event stream),
 * KIMI_ESERVER (an error object: t->server_error holds it when it was
 * JSON), KIMI_ETOOBIG, or the transport's error.  Once an error was
 * reported, every later call reports it again. */
KIMI_MUST_CHECK enum kimi_status
kimi_events_next(struct kimi_transfer *t, cJSON **event,
                 struct kimi_error *err);

/* The assembled reply as a new chat.completion tree (caller frees), once
 * the stream is complete; an error when it is not, or when the reply was
 * too big to assemble (t->assembly says why). */
KIMI_MUST_CHECK enum kimi_status
kimi_events_reply(const struct kimi_transfer *t, int completed,
                  cJSON **out, struct kimi_error *err);

void kimi_events_free(struct kimi_transfer *t);

#endif

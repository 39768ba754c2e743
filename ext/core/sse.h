/* sse.h - incremental Server-Sent Events parser: bytes in, events out.
 *
 * Follows the WHATWG event-stream rules (LF, CR and CRLF line ends, one
 * leading BOM stripped, ':' comments, "data:" with or without one space,
 * multi-line data, event/id/retry fields; kimi's streams use data and
 * event only, id and retry are kept so the parser is whole).  Input may
 * be split at any byte, including inside a CRLF pair or a UTF-8
 * sequence.  Each value byte is
 * copied once, straight from the input into the field it belongs to; no
 * byte is scanned again by a later feed, so the cost is linear in the
 * input.  The data of one event is capped (max_event).
 *
 * Ownership: the parser owns its buffers; an event handed to the callback
 * borrows them and is valid only during the call.  Not thread-safe.
 */
#ifndef KIMI_SSE_H
#define KIMI_SSE_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

#define KIMI_MAX_EVENT_DEFAULT ((size_t)16 * 1024 * 1024)

struct kimi_sse_event {
    const char *data;       /* NUL-terminated; the trailing LF removed */
    size_t data_len;
    const char *type;       /* "" when no event: field was given */
    size_t type_len;
    const char *id;         /* last event id (persists across events) */
    size_t id_len;
    size_t end;             /* stream offset just past the blank line */
};

/* Called once per dispatched event.  A status other than KIMI_OK stops
 * kimi_sse_feed, which returns that status (the callback fills err). */
typedef enum kimi_status (*kimi_sse_callback)(void *ctx,
                                              const struct kimi_sse_event *ev,
                                              struct kimi_error *err);

enum kimi_sse_state {
    KIMI_SSE_BOM,           /* at stream start: maybe a BOM */
    KIMI_SSE_LINE_START,
    KIMI_SSE_NAME,          /* reading a field name */
    KIMI_SSE_VALUE_SPACE,   /* after the colon: skip one space */
    KIMI_SSE_VALUE,         /* reading a field value */
    KIMI_SSE_COMMENT,       /* skipping a comment or ignored line */
    KIMI_SSE_AFTER_CR       /* a CR ended a line; swallow one LF */
};

enum kimi_sse_field {
    KIMI_SSE_FIELD_DATA,
    KIMI_SSE_FIELD_EVENT,
    KIMI_SSE_FIELD_ID,
    KIMI_SSE_FIELD_RETRY,
    KIMI_SSE_FIELD_IGNORED
};

/* All fields are private; read them only in tests. */
struct kimi_sse {
    enum kimi_sse_state state;
    enum kimi_sse_field field;  /* field of the line being read */
    char name[8];           /* field name so far (longer names: ignored) */
    size_t name_len;        /* saturates at sizeof(name) + 1 */
    size_t bom_seen;        /* BOM bytes matched at the stream start */
    int pending;            /* a field line was seen since the dispatch */
    struct kimi_buf data;   /* data buffer, lines joined by LF */
    struct kimi_buf type;   /* event type buffer */
    struct kimi_buf id;     /* last event id buffer */
    struct kimi_buf id_line;    /* id being read on the current line */
    int id_has_nul;
    long retry_value;       /* digits of the current retry line so far */
    int retry_digits;       /* 0: none yet, 1: digits only, -1: other */
    long retry_ms;          /* last valid retry: value, -1 if none */
    size_t max_event;       /* cap on an event's data, in bytes */
    size_t offset;          /* bytes consumed since init or reset */
};

void kimi_sse_init(struct kimi_sse *sse, size_t max_event);

/* Parse n bytes, calling cb for every event completed by them.  Returns
 * KIMI_OK, the callback's status, or KIMI_ETOOBIG / KIMI_ENOMEM (err
 * gives the byte offset).  After a failure the parser must be reset or
 * freed before further use. */
KIMI_MUST_CHECK enum kimi_status kimi_sse_feed(struct kimi_sse *sse,
                                               const char *bytes, size_t n,
                                               kimi_sse_callback cb, void *ctx,
                                               struct kimi_error *err);

/* True when an event has begun but not been dispatched (end of body now
 * would drop it). */
int kimi_sse_pending(const struct kimi_sse *sse);

/* Back to the state after init (keeps allocations). */
void kimi_sse_reset(struct kimi_sse *sse);

void kimi_sse_free(struct kimi_sse *sse);

#endif

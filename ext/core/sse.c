/* sse.c - the incremental Server-Sent Events parser declared in sse.h.
 *
 * A state machine that walks the input in spans: line ends are found by a
 * word-at-a-time scan and each value span is appended to its field's
 * buffer in one call.  It knows nothing of JSON or of "[DONE]".
 */
#include "sse.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

static const char sse_bom[3] = {'\xEF', '\xBB', '\xBF'};

static size_t
sse_cap(size_t max_event)
{
    if (max_event == 0) {
        return KIMI_MAX_EVENT_DEFAULT;
    }
    /* The data buffer holds one byte more (the trailing LF). */
    if (max_event > SIZE_MAX / 2 - 1) {
        return SIZE_MAX / 2 - 1;
    }
    return max_event;
}

void
kimi_sse_init(struct kimi_sse *sse, size_t max_event)
{
    size_t max = sse_cap(max_event);

    memset(sse, 0, sizeof(*sse));
    sse->max_event = max;
    kimi_buf_init(&sse->data, max + 1);
    kimi_buf_init(&sse->type, max);
    kimi_buf_init(&sse->id, max);
    kimi_buf_init(&sse->id_line, max);
    kimi_sse_reset(sse);
}

void
kimi_sse_reset(struct kimi_sse *sse)
{
    sse->state = KIMI_SSE_BOM;
    sse->field = KIMI_SSE_FIELD_IGNORED;
    sse->name_len = 0;
    sse->bom_seen = 0;
    sse->pending = 0;
    kimi_buf_clear(&sse->data);
    kimi_buf_clear(&sse->type);
    kimi_buf_clear(&sse->id);
    kimi_buf_clear(&sse->id_line);
    sse->id_has_nul = 0;
    sse->retry_value = 0;
    sse->retry_digits = 0;
    sse->retry_ms = -1;
    sse->offset = 0;
}

void
kimi_sse_free(struct kimi_sse *sse)
{
    kimi_buf_free(&sse->data);
    kimi_buf_free(&sse->type);
    kimi_buf_free(&sse->id);
    kimi_buf_free(&sse->id_line);
}

int
kimi_sse_pending(const struct kimi_sse *sse)
{
    return sse->pending;
}

/* First CR or LF in [p, end), or end.  *lf caches the first LF at or
 * after p (NULL: not searched yet), so across one feed each byte is
 * searched at most once for LF and once for CR: linear even when lines
 * end with a lone CR. */
static inline const char *
sse_find_eol(const char *p, const char *end, const char **lf)
{
    if (*lf == NULL || *lf < p) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        *lf = q != NULL ? q : end;
    }
    const char *cr = memchr(p, '\r', (size_t)(*lf - p));
    return cr != NULL ? cr : *lf;
}

static enum kimi_status
sse_too_big(const struct kimi_sse *sse, size_t at, struct kimi_error *err)
{
    kimi_error_set(err, KIMI_ETOOBIG, "event exceeds %zu bytes",
                   sse->max_event);
    if (err != NULL) {
        err->offset = at;
    }
    return KIMI_ETOOBIG;
}

/* Append n bytes, the first at stream offset at, keeping buf->len within
 * limit; a failure names the offset of the first byte that did not fit. */
static enum kimi_status
sse_store(const struct kimi_sse *sse, struct kimi_buf *buf, size_t limit,
          const char *bytes, size_t n, size_t at, struct kimi_error *err)
{
    size_t room = buf->len < limit ? limit - buf->len : 0;

    if (n == 0) {
        return KIMI_OK;
    }
    if (n > room) {
        return sse_too_big(sse, at + room, err);
    }
    enum kimi_status st = kimi_buf_append(buf, bytes, n, err);
    if (st != KIMI_OK && err != NULL) {
        err->offset = at;
    }
    return st;
}

static enum kimi_sse_field
sse_field_of(const struct kimi_sse *sse)
{
    const char *s = sse->name;

    switch (sse->name_len) {
    case 2:
        if (memcmp(s, "id", 2) == 0) {
            return KIMI_SSE_FIELD_ID;
        }
        break;
    case 4:
        if (memcmp(s, "data", 4) == 0) {
            return KIMI_SSE_FIELD_DATA;
        }
        break;
    case 5:
        if (memcmp(s, "event", 5) == 0) {
            return KIMI_SSE_FIELD_EVENT;
        }
        if (memcmp(s, "retry", 5) == 0) {
            return KIMI_SSE_FIELD_RETRY;
        }
        break;
    default:
        break;
    }
    return KIMI_SSE_FIELD_IGNORED;
}

/* The name is complete: prepare the field's destination for its value. */
static void
sse_begin_field(struct kimi_sse *sse)
{
    sse->field = sse_field_of(sse);
    switch (sse->field) {
    case KIMI_SSE_FIELD_EVENT:
        kimi_buf_clear(&sse->type);
        break;
    case KIMI_SSE_FIELD_ID:
        kimi_buf_clear(&sse->id_line);
        sse->id_has_nul = 0;
        break;
    case KIMI_SSE_FIELD_RETRY:
        sse->retry_value = 0;
        sse->retry_digits = 0;
        break;
    default:
        break;
    }
}

static void
sse_retry_span(struct kimi_sse *sse, const char *p, size_t n)
{
    for (size_t i = 0; i < n && sse->retry_digits >= 0; i++) {
        int d = (unsigned char)p[i] - '0';
        if (d < 0 || d > 9) {
            sse->retry_digits = -1;
        }
        else if (sse->retry_value > (LONG_MAX - d) / 10) {
            sse->retry_value = LONG_MAX;
            sse->retry_digits = 1;
        }
        else {
            sse->retry_value = sse->retry_value * 10 + d;
            sse->retry_digits = 1;
        }
    }
}

/* A span of the current field's value, starting at stream offset at. */
static enum kimi_status
sse_value_span(struct kimi_sse *sse, const char *p, size_t n, size_t at,
               struct kimi_error *err)
{
    switch (sse->field) {
    case KIMI_SSE_FIELD_DATA:
        return sse_store(sse, &sse->data, sse->max_event, p, n, at, err);
    case KIMI_SSE_FIELD_EVENT:
        return sse_store(sse, &sse->type, sse->max_event, p, n, at, err);
    case KIMI_SSE_FIELD_ID:
        /* Stored even after a NUL, so the cap applies the same way
         * wherever the input was split; dropped at the line end. */
        if (memchr(p, '\0', n) != NULL) {
            sse->id_has_nul = 1;
        }
        return sse_store(sse, &sse->id_line, sse->max_event, p, n, at, err);
    case KIMI_SSE_FIELD_RETRY:
        sse_retry_span(sse, p, n);
        return KIMI_OK;
    default:
        return KIMI_OK;
    }
}

/* The line of the current field ended at stream offset at. */
static enum kimi_status
sse_end_field(struct kimi_sse *sse, size_t at, struct kimi_error *err)
{
    enum kimi_status st = KIMI_OK;

    switch (sse->field) {
    case KIMI_SSE_FIELD_DATA:
        /* Without this LF the event would still be max_event + 1 long. */
        if (sse->data.len > sse->max_event) {
            return sse_too_big(sse, at, err);
        }
        st = kimi_buf_putc(&sse->data, '\n', err);
        if (st != KIMI_OK && err != NULL) {
            err->offset = at;
        }
        break;
    case KIMI_SSE_FIELD_ID:
        if (!sse->id_has_nul) {
            struct kimi_buf last = sse->id;
            sse->id = sse->id_line;
            sse->id_line = last;
        }
        kimi_buf_clear(&sse->id_line);
        break;
    case KIMI_SSE_FIELD_RETRY:
        if (sse->retry_digits > 0) {
            sse->retry_ms = sse->retry_value;
        }
        break;
    default:
        break;
    }
    return st;
}

/* An empty line: hand the event to cb unless no data line came. */
static enum kimi_status
sse_dispatch(struct kimi_sse *sse, size_t at, kimi_sse_callback cb,
             void *ctx, struct kimi_error *err)
{
    enum kimi_status st = KIMI_OK;

    sse->pending = 0;
    if (sse->data.len == 0) {
        kimi_buf_clear(&sse->type);
        return KIMI_OK;
    }
    sse->data.len--;
    sse->data.data[sse->data.len] = '\0';
    if (cb != NULL) {
        struct kimi_sse_event ev;
        ev.data = sse->data.data;
        ev.data_len = sse->data.len;
        ev.type = sse->type.data != NULL ? sse->type.data : "";
        ev.type_len = sse->type.len;
        ev.id = sse->id.data != NULL ? sse->id.data : "";
        ev.id_len = sse->id.len;
        ev.end = at;
        st = cb(ctx, &ev, err);
    }
    kimi_buf_clear(&sse->data);
    kimi_buf_clear(&sse->type);
    return st;
}

/*
 * The line state machine; each step consumes one byte or one span:
 *
 *   BOM          byte of EF BB BF -> count it; all three -> LINE_START
 *                mismatch -> LINE_START, or NAME holding the bytes matched
 *   LINE_START   CR/LF -> dispatch | ':' -> COMMENT
 *                | "data:" and one ' ' -> VALUE (fast path) | other -> NAME
 *   NAME         span to ':' -> VALUE_SPACE (COMMENT if unknown)
 *                | to CR/LF -> the field with an empty value
 *   VALUE_SPACE  skip one ' ' -> VALUE
 *   VALUE        span to CR/LF -> append to the field; at CR/LF end it
 *                (data ended by LF: value and LF appended in one copy)
 *   COMMENT      span to CR/LF, dropped
 *   AFTER_CR     skip one LF -> LINE_START
 *
 * A line ends at its CR or LF byte: CR -> AFTER_CR, LF -> LINE_START.
 */
enum kimi_status
kimi_sse_feed(struct kimi_sse *sse, const char *bytes, size_t n,
              kimi_sse_callback cb, void *ctx, struct kimi_error *err)
{
    if (n == 0) {
        return KIMI_OK;
    }
    const char *p = bytes;
    const char *end = bytes + n;
    const char *lf = NULL;          /* next LF, once searched */
    size_t base = sse->offset;      /* stream offset of bytes[0] */
    enum kimi_status st = KIMI_OK;

    while (p < end && st == KIMI_OK) {
        const char *q;
        size_t at;
        switch (sse->state) {
        case KIMI_SSE_BOM:
            if (*p == sse_bom[sse->bom_seen]) {
                p++;
                sse->bom_seen++;
                if (sse->bom_seen == sizeof(sse_bom)) {
                    sse->state = KIMI_SSE_LINE_START;
                }
            }
            else if (sse->bom_seen == 0) {
                sse->state = KIMI_SSE_LINE_START;
            }
            else {
                /* A partial BOM starts a name no known field has. */
                memcpy(sse->name, sse_bom, sse->bom_seen);
                sse->name_len = sse->bom_seen;
                sse->pending = 1;
                sse->state = KIMI_SSE_NAME;
            }
            break;

        case KIMI_SSE_AFTER_CR:
            if (*p == '\n') {
                p++;
            }
            sse->state = KIMI_SSE_LINE_START;
            break;

        case KIMI_SSE_LINE_START:
            if (*p == '\n' || *p == '\r') {
                sse->state = *p == '\r' ? KIMI_SSE_AFTER_CR
                                        : KIMI_SSE_LINE_START;
                p++;
                st = sse_dispatch(sse, base + (size_t)(p - bytes), cb, ctx,
                                  err);
            }
            else if (*p == ':') {
                p++;
                sse->state = KIMI_SSE_COMMENT;
            }
            else if (end - p >= 6 && memcmp(p, "data:", 5) == 0) {
                p += p[5] == ' ' ? 6 : 5;
                sse->pending = 1;
                sse->field = KIMI_SSE_FIELD_DATA;
                sse->state = KIMI_SSE_VALUE;
            }
            else {
                sse->pending = 1;
                sse->name_len = 0;
                sse->state = KIMI_SSE_NAME;
            }
            break;

        case KIMI_SSE_NAME:
            q = p;
            while (q < end && *q != ':' && *q != '\n' && *q != '\r') {
                if (sse->name_len < sizeof(sse->name)) {
                    sse->name[sse->name_len] = *q;
                }
                if (sse->name_len <= sizeof(sse->name)) {
                    sse->name_len++;
                }
                q++;
            }
            p = q;
            if (p == end) {
                break;
            }
            sse_begin_field(sse);
            if (*p == ':') {
                p++;
                sse->state = sse->field == KIMI_SSE_FIELD_IGNORED
                                 ? KIMI_SSE_COMMENT
                                 : KIMI_SSE_VALUE_SPACE;
                break;
            }
            st = sse_end_field(sse, base + (size_t)(p - bytes), err);
            sse->state = *p == '\r' ? KIMI_SSE_AFTER_CR : KIMI_SSE_LINE_START;
            p++;
            break;

        case KIMI_SSE_VALUE_SPACE:
            if (*p == ' ') {
                p++;
            }
            sse->state = KIMI_SSE_VALUE;
            break;

        case KIMI_SSE_VALUE:
            q = sse_find_eol(p, end, &lf);
            at = base + (size_t)(p - bytes);
            if (q < end && *q == '\n' && sse->field == KIMI_SSE_FIELD_DATA
                && sse->data.len <= sse->max_event
                && (size_t)(q - p) <= sse->max_event - sse->data.len) {
                /* The hot case: the value and its LF in one copy. */
                st = sse_store(sse, &sse->data, sse->max_event + 1, p,
                               (size_t)(q - p) + 1, at, err);
                sse->state = KIMI_SSE_LINE_START;
                p = q + 1;
                break;
            }
            st = sse_value_span(sse, p, (size_t)(q - p), at, err);
            p = q;
            if (st != KIMI_OK || p == end) {
                break;
            }
            st = sse_end_field(sse, base + (size_t)(p - bytes), err);
            sse->state = *p == '\r' ? KIMI_SSE_AFTER_CR : KIMI_SSE_LINE_START;
            p++;
            break;

        case KIMI_SSE_COMMENT:
            p = sse_find_eol(p, end, &lf);
            if (p == end) {
                break;
            }
            sse->state = *p == '\r' ? KIMI_SSE_AFTER_CR : KIMI_SSE_LINE_START;
            p++;
            break;
        }
    }
    sse->offset = base + (size_t)(p - bytes);
    return st;
}

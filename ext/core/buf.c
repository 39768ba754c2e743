/* buf.c - the capped growable byte buffer declared in buf.h.
 *
 * Grows geometrically through the alloc.h hooks, keeps data NUL-terminated
 * and leaves the buffer untouched when an append fails.
 */
#include "buf.h"

#include <stdint.h>
#include <string.h>

#include "alloc.h"

#define KIMI_BUF_MIN_CAP 64

static size_t
buf_limit(const struct kimi_buf *buf)
{
    if (buf->max == 0 || buf->max > SIZE_MAX / 2) {
        return SIZE_MAX / 2;
    }
    return buf->max;
}

void
kimi_buf_init(struct kimi_buf *buf, size_t max)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max;
}

/* Make room for need bytes plus the NUL; need <= buf_limit(buf). */
static enum kimi_status
buf_reserve(struct kimi_buf *buf, size_t need, struct kimi_error *err)
{
    if (need < buf->cap) {
        return KIMI_OK;
    }
    /* The limit is at most SIZE_MAX / 2, so neither sum can overflow. */
    size_t most = buf_limit(buf) + 1;
    size_t cap = buf->cap < KIMI_BUF_MIN_CAP ? KIMI_BUF_MIN_CAP : buf->cap;
    while (cap <= need) {
        cap *= 2;
    }
    if (cap > most) {
        cap = most;
    }
    char *data = kimi_realloc(buf->data, cap);
    if (data == NULL) {
        return kimi_error_set(err, KIMI_ENOMEM,
                              "buffer: cannot allocate %zu bytes", cap);
    }
    buf->data = data;
    buf->cap = cap;
    return KIMI_OK;
}

enum kimi_status
kimi_buf_append(struct kimi_buf *buf, const char *bytes, size_t n,
                struct kimi_error *err)
{
    size_t limit = buf_limit(buf);
    if (buf->len > limit || n > limit - buf->len) {
        return kimi_error_set(err, KIMI_ETOOBIG, "buffer exceeds %zu bytes",
                              limit);
    }
    enum kimi_status st = buf_reserve(buf, buf->len + n, err);
    if (st != KIMI_OK) {
        return st;
    }
    if (n > 0) {
        memcpy(buf->data + buf->len, bytes, n);
    }
    buf->len += n;
    buf->data[buf->len] = '\0';
    return KIMI_OK;
}

enum kimi_status
kimi_buf_putc(struct kimi_buf *buf, char c, struct kimi_error *err)
{
    if (buf->len + 1 < buf->cap && buf->len < buf_limit(buf)) {
        buf->data[buf->len++] = c;
        buf->data[buf->len] = '\0';
        return KIMI_OK;
    }
    return kimi_buf_append(buf, &c, 1, err);
}

void
kimi_buf_clear(struct kimi_buf *buf)
{
    buf->len = 0;
    if (buf->data != NULL) {
        buf->data[0] = '\0';
    }
}

void
kimi_buf_free(struct kimi_buf *buf)
{
    kimi_free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

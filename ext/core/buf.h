/* buf.h - a growable byte buffer with a hard cap.
 *
 * The data is always NUL-terminated (data[len] == 0 once anything was
 * appended), so it can be handed to C string APIs.  On failure the buffer
 * keeps its previous contents and stays usable.  kimi_buf_free() is
 * idempotent and safe on a zeroed struct.  Not thread-safe.
 */
#ifndef KIMI_BUF_H
#define KIMI_BUF_H

#include <stddef.h>

#include "error.h"

struct kimi_buf {
    char *data;
    size_t len;
    size_t cap;         /* allocated bytes, including room for the NUL */
    size_t max;         /* hard cap on len; 0 means SIZE_MAX/2 */
};

void kimi_buf_init(struct kimi_buf *buf, size_t max);

/* Append n bytes; KIMI_ETOOBIG past the cap, KIMI_ENOMEM on allocation
 * failure (err filled, buffer unchanged). */
KIMI_MUST_CHECK enum kimi_status kimi_buf_append(struct kimi_buf *buf,
                                                 const char *bytes, size_t n,
                                                 struct kimi_error *err);

/* Append one byte. */
KIMI_MUST_CHECK enum kimi_status kimi_buf_putc(struct kimi_buf *buf, char c,
                                               struct kimi_error *err);

/* Drop everything, keeping the allocation for reuse. */
void kimi_buf_clear(struct kimi_buf *buf);

/* Release the allocation; the buffer may be reused after kimi_buf_init. */
void kimi_buf_free(struct kimi_buf *buf);

#endif

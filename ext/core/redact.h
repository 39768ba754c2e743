/* redact.h - hide an API key that a server echoes back.
 *
 * Replaces every run of at least KIMI_REDACT_MIN bytes that also occurs
 * anywhere in the secret (its prefix "sk-abcdefgh", its last characters, a
 * piece from its middle) with KIMI_REDACTED, before any cutting, so that
 * no cut of the result shows such a run.  Works on bytes: it knows nothing
 * of JSON, headers or encodings, and does not find a key that was
 * re-encoded (escaped, base64, percent-encoded).
 *
 * Matching: at each position the longest run that occurs in the secret is
 * taken (greedy, left to right); runs that touch give one KIMI_REDACTED.
 * Cost: a probe every 4 bytes of the text against a filter of the
 * secret's windows, plus O(secret_len) per candidate start;
 * O(src_len * secret_len) at worst.
 *
 * Contract: caller-owned memory only; thread-safe; the filters live on
 * the stack (1 KiB), so kimi_redact_into cannot fail.  The buffer variants
 * report KIMI_ETOOBIG / KIMI_ENOMEM from the buffer in a caller-owned
 * struct kimi_error and leave the buffer as it was.
 */
#ifndef KIMI_REDACT_H
#define KIMI_REDACT_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

#define KIMI_REDACT_MIN 8
#define KIMI_REDACTED "<redacted>"

/* Copy src into dst (a buffer of dst_size bytes), redacting as above;
 * THEN cut to fit dst_size - 1 at a UTF-8 boundary and NUL-terminate.
 * Returns the length written (0, writing nothing, when dst_size is 0).
 * secret NULL or shorter than KIMI_REDACT_MIN: a plain copy. */
size_t kimi_redact_into(char *dst, size_t dst_size, const char *src,
                        size_t src_len, const char *secret,
                        size_t secret_len);

/* The same, appended to out; on failure out keeps its old contents. */
KIMI_MUST_CHECK enum kimi_status kimi_redact_buf(struct kimi_buf *out,
                                                 const char *src,
                                                 size_t src_len,
                                                 const char *secret,
                                                 size_t secret_len,
                                                 struct kimi_error *err);

/* In place on buf (a 1 MiB error body, a header block).  Allocates only
 * when something is redacted: the result is built aside (capped by
 * buf->max) and takes the buffer's place. */
KIMI_MUST_CHECK enum kimi_status kimi_redact_in_place(struct kimi_buf *buf,
                                                      const char *secret,
                                                      size_t secret_len,
                                                      struct kimi_error *err);

#endif

/* headers.h - a pure walker over a raw HTTP response header block.
 *
 * The block is what libcurl hands to CURLOPT_HEADERFUNCTION, kept back to
 * back: "Name: value\r\n" lines, possibly with bare LF endings, a status
 * line, folded continuation lines or other lines without a usable name.
 * Knows nothing of libcurl or of a transfer; the block need not be
 * NUL-terminated and may contain NUL bytes.
 *
 * Contract: results borrow from the block (not NUL-terminated); no
 * allocation, no failure, thread-safe over a block nobody is writing.
 */
#ifndef KIMI_HEADERS_H
#define KIMI_HEADERS_H

#include <stddef.h>

/* Walk the headers: *pos starts at 0; each call gives the next header's
 * name and value and returns 1, or returns 0 after the last.  The value is
 * trimmed of spaces, tabs and CR at both ends.  A line counts as a header
 * only when it has a colon and a name before it: the name may not be
 * empty, start with a space or tab (a folded continuation line) or hold a
 * space or control byte (a status line such as "HTTP/1.1 200 OK: x");
 * spaces or tabs between the name and the colon are dropped. */
int kimi_headers_next(const char *block, size_t len, size_t *pos,
                      const char **name, size_t *name_len,
                      const char **value, size_t *value_len);

/* The first header called name (ASCII case-insensitive): sets *value and
 * *value_len (either may be NULL) and returns 1, or returns 0 when there
 * is none. */
int kimi_headers_find(const char *block, size_t len, const char *name,
                      const char **value, size_t *value_len);

/* How many headers called name (ASCII case-insensitive) the block has. */
size_t kimi_headers_count(const char *block, size_t len, const char *name);

#endif

/* text.h - byte-level text helpers shared by the core's readers.
 *
 * UTF-8 sequence checks and cutting at a character boundary, plus ASCII
 * case-insensitive comparison and search.  No allocation, no locale: the
 * case folding is ASCII only, whatever setlocale() says.
 *
 * Contract: pure functions over caller-owned bytes (not NUL-terminated
 * unless said); thread-safe; nothing here can fail.
 */
#ifndef KIMI_TEXT_H
#define KIMI_TEXT_H

#include <stddef.h>

/* The UTF-8 encoding of U+FFFD, used wherever invalid bytes are replaced. */
#define KIMI_TEXT_REPLACEMENT "\xEF\xBF\xBD"

/* Length (1 to 4) of the well-formed UTF-8 sequence that starts s, which
 * has n >= 1 bytes; 0 when the bytes at s start no such sequence (a stray
 * continuation byte, an overlong form, a surrogate, a code point above
 * U+10FFFF, or a sequence cut short by the end of the n bytes). */
size_t kimi_text_utf8_sequence(const char *s, size_t n);

/* 1 when all n bytes are well-formed UTF-8, else 0. */
int kimi_text_utf8_valid(const char *s, size_t n);

/* The longest prefix of s (n bytes) of at most max bytes that does not
 * end inside a UTF-8 sequence: max itself when max >= n or when s[max]
 * does not continue a sequence begun before it. */
size_t kimi_text_utf8_cut(const char *s, size_t n, size_t max);

/* 1 when a (a_len bytes) and b (b_len bytes) are equal ignoring ASCII
 * case. */
int kimi_text_equal_nocase(const char *a, size_t a_len, const char *b,
                           size_t b_len);

/* The first place in hay (hay_len bytes) where needle (needle_len >= 1
 * bytes) occurs ignoring ASCII case, or NULL. */
const char *kimi_text_find_nocase(const char *hay, size_t hay_len,
                                  const char *needle, size_t needle_len);

#endif

/* headers.c - walking a raw response header block.
 *
 * Splits the block at LF, keeps the lines that look like "Name: value" and
 * trims the value.  Does not unfold continuation lines, decode values or
 * allocate.
 */
#include "headers.h"

#include <string.h>

#include "text.h"

static int
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A byte that may not appear in a header name: space and controls. */
static int
is_bad_name_byte(char c)
{
    unsigned char u = (unsigned char)c;
    return u <= 0x20 || u == 0x7F;
}

/* Split one line (without its LF) into name and value; 0 when the line is
 * not a header. */
static int
split_line(const char *line, size_t line_len, size_t *name_len,
           const char **value, size_t *value_len)
{
    const char *colon = memchr(line, ':', line_len);
    if (colon == NULL || line_len == 0 || is_blank(line[0])) {
        return 0;
    }
    size_t n = (size_t)(colon - line);
    while (n > 0 && is_blank(line[n - 1])) {
        n--;
    }
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_bad_name_byte(line[i])) {
            return 0;
        }
    }
    const char *v = colon + 1;
    const char *v_end = line + line_len;
    while (v < v_end && is_blank(*v)) {
        v++;
    }
    while (v_end > v && (is_blank(v_end[-1]) || v_end[-1] == '\r')) {
        v_end--;
    }
    *name_len = n;
    *value = v;
    *value_len = (size_t)(v_end - v);
    return 1;
}

int
kimi_headers_next(const char *block, size_t len, size_t *pos,
                  const char **name, size_t *name_len,
                  const char **value, size_t *value_len)
{
    while (*pos < len) {
        const char *line = block + *pos;
        size_t rest = len - *pos;
        const char *eol = memchr(line, '\n', rest);
        size_t line_len = eol != NULL ? (size_t)(eol - line) : rest;

        *pos += line_len + (eol != NULL ? 1 : 0);
        if (split_line(line, line_len, name_len, value, value_len)) {
            *name = line;
            return 1;
        }
    }
    return 0;
}

/* The next header called name (want bytes) from *pos on. */
static int
next_named(const char *block, size_t len, size_t *pos, const char *name,
           size_t want, const char **value, size_t *value_len)
{
    const char *n;
    size_t n_len;

    while (kimi_headers_next(block, len, pos, &n, &n_len, value,
                             value_len)) {
        if (kimi_text_equal_nocase(n, n_len, name, want)) {
            return 1;
        }
    }
    return 0;
}

int
kimi_headers_find(const char *block, size_t len, const char *name,
                  const char **value, size_t *value_len)
{
    size_t want = name != NULL ? strlen(name) : 0;
    size_t pos = 0;
    const char *v;
    size_t v_len;

    if (want == 0 || !next_named(block, len, &pos, name, want, &v, &v_len)) {
        return 0;
    }
    if (value != NULL) {
        *value = v;
    }
    if (value_len != NULL) {
        *value_len = v_len;
    }
    return 1;
}

size_t
kimi_headers_count(const char *block, size_t len, const char *name)
{
    size_t want = name != NULL ? strlen(name) : 0;
    size_t pos = 0;
    size_t count = 0;
    const char *v;
    size_t v_len;

    if (want == 0) {
        return 0;
    }
    while (next_named(block, len, &pos, name, want, &v, &v_len)) {
        count++;
    }
    return count;
}

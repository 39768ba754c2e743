/* text.c - UTF-8 checks and ASCII case folding for the core's readers.
 *
 * Validation follows the well-formed byte sequences table of the Unicode
 * standard (no overlongs, no surrogates, nothing past U+10FFFF).  Not a
 * decoder: callers only need to know where sequences start and end.
 */
#include "text.h"

static int
is_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* How many bytes a sequence starting with lead has, 0 for a byte that
 * cannot start one. */
static size_t
lead_length(unsigned char lead)
{
    if (lead < 0x80) {
        return 1;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
        return 2;
    }
    if (lead >= 0xE0 && lead <= 0xEF) {
        return 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        return 4;
    }
    return 0;
}

size_t
kimi_text_utf8_sequence(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t need = n > 0 ? lead_length(u[0]) : 0;

    if (need == 0 || need > n) {
        return 0;
    }
    if (need == 1) {
        return 1;
    }
    /* The second byte's range depends on the lead; it rules out the
     * overlong forms, the surrogates and code points above U+10FFFF. */
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (u[0] == 0xE0) {
        low = 0xA0;
    }
    else if (u[0] == 0xED) {
        high = 0x9F;
    }
    else if (u[0] == 0xF0) {
        low = 0x90;
    }
    else if (u[0] == 0xF4) {
        high = 0x8F;
    }
    if (u[1] < low || u[1] > high) {
        return 0;
    }
    for (size_t i = 2; i < need; i++) {
        if (!is_continuation(u[i])) {
            return 0;
        }
    }
    return need;
}

int
kimi_text_utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t step = kimi_text_utf8_sequence(s + i, n - i);
        if (step == 0) {
            return 0;
        }
        i += step;
    }
    return 1;
}

size_t
kimi_text_utf8_cut(const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t at = max;
    size_t back = 0;

    if (max >= n) {
        return n;
    }
    /* A lead byte sits at most three bytes before the cut. */
    while (at > 0 && back < 3 && is_continuation(u[at])) {
        at--;
        back++;
    }
    if (back == 0) {
        return max;
    }
    size_t need = lead_length(u[at]);
    if (need > 1 && at + need > max) {
        return at;
    }
    return max;     /* stray continuation bytes: nothing whole to keep */
}

static unsigned char
fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

int
kimi_text_equal_nocase(const char *a, size_t a_len, const char *b,
                       size_t b_len)
{
    if (a_len != b_len) {
        return 0;
    }
    for (size_t i = 0; i < a_len; i++) {
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i])) {
            return 0;
        }
    }
    return 1;
}

const char *
kimi_text_find_nocase(const char *hay, size_t hay_len, const char *needle,
                      size_t needle_len)
{
    if (needle_len == 0 || needle_len > hay_len) {
        return NULL;
    }
    unsigned char first = fold((unsigned char)needle[0]);
    for (size_t i = 0; i + needle_len <= hay_len; i++) {
        if (fold((unsigned char)hay[i]) == first
            && kimi_text_equal_nocase(hay + i, needle_len, needle,
                                      needle_len))
        {
            return hay + i;
        }
    }
    return NULL;
}

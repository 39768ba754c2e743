/* fuzz_redact.c - libFuzzer target for the API key redaction.
 *
 * Byte 0 gives the secret's length, byte 1 the output size; the secret
 * follows, then the text.  No 8-byte window of the secret may show in any
 * output, a cut output must be a prefix-sized piece of the whole one and
 * end between characters, and the three entry points must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "shared.h"
#include "text.h"

static void
require(int condition)
{
    if (!condition) {
        abort();
    }
}

static int
is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            return 0;
        }
    }
    return 1;
}

/* A secret that shows up beside its own marker could form a window with
 * it; such secrets share bytes with KIMI_REDACTED. */
static int
shares_marker_bytes(const char *secret, size_t s_len)
{
    for (size_t i = 0; i < s_len; i++) {
        if (memchr(KIMI_REDACTED, secret[i], sizeof(KIMI_REDACTED) - 1)) {
            return 1;
        }
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t s_len = data[0] % 64;
    size_t dst_size = data[1];
    if (s_len > size - 2) {
        s_len = size - 2;
    }
    const char *secret = (const char *)data + 2;
    const char *src = secret + s_len;
    size_t n = size - 2 - s_len;
    struct kimi_error err;
    struct kimi_buf whole;

    kimi_buf_init(&whole, 0);
    require(kimi_redact_buf(&whole, src, n, secret, s_len, &err) == KIMI_OK);
    const char *w = whole.data != NULL ? whole.data : "";
    if (!shares_marker_bytes(secret, s_len)) {
        require(!shows_secret_run(w, whole.len, secret, s_len));
    }

    char *big = malloc(whole.len + 1);
    require(big != NULL);
    require(kimi_redact_into(big, whole.len + 1, src, n, secret, s_len)
            == whole.len);
    require(memcmp(big, w, whole.len) == 0);
    free(big);

    char small[256];
    size_t got = kimi_redact_into(small, dst_size, src, n, secret, s_len);
    if (dst_size == 0) {
        require(got == 0);
    }
    else {
        size_t room = dst_size - 1;
        require(got <= room && small[got] == '\0');
        require(got <= whole.len && memcmp(small, w, got) == 0);
        /* a cut loses at most the start of one character */
        require(whole.len <= room ? got == whole.len : got + 3 >= room);
        if (is_ascii(secret, s_len) && kimi_text_utf8_valid(src, n)) {
            require(kimi_text_utf8_valid(small, got));
        }
    }

    struct kimi_buf in_place;
    kimi_buf_init(&in_place, 0);
    require(kimi_buf_append(&in_place, src, n, &err) == KIMI_OK);
    require(kimi_redact_in_place(&in_place, secret, s_len, &err) == KIMI_OK);
    require(in_place.len == whole.len);
    require(in_place.len == 0 || memcmp(in_place.data, w, whole.len) == 0);
    kimi_buf_free(&in_place);
    kimi_buf_free(&whole);
    return 0;
}

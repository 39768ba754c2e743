/* redact.c - replacing runs of the secret with KIMI_REDACTED.
 *
 * Two small filters of the secret's windows let the scan skip nearly all
 * of the text: the 4-byte windows of the secret, probed every 4 bytes of
 * the text, and its 8-byte windows, checked at each start a probe points
 * to.  A run of at least 7 bytes of the secret always holds an aligned
 * 4-byte window of it, so no run of KIMI_REDACT_MIN (8) escapes the
 * probes; a start that passes both filters is checked against the secret
 * itself.  No allocation except what the output buffer needs.
 */
#include "redact.h"

#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "text.h"

_Static_assert(KIMI_REDACT_MIN == 8,
               "the filter reads each window as one 64-bit word");

#define PROBE 4                 /* bytes between probes, and their size */
#define FILTER_BITS 4096        /* bits of each filter (12-bit slots) */

_Static_assert(PROBE * 2 - 1 <= KIMI_REDACT_MIN,
               "every run holds an aligned probe window");

struct redact_filter {
    int active;             /* the secret is long enough to look for */
    const char *secret;
    size_t secret_len;
    uint64_t probes[FILTER_BITS / 64];  /* the secret's 4-byte windows */
    uint64_t windows[FILTER_BITS / 64]; /* the secret's 8-byte windows */
};

static uint64_t
load_window(const char *p)
{
    uint64_t word;
    memcpy(&word, p, sizeof(word));
    return word;
}

static uint32_t
load_probe(const char *p)
{
    uint32_t word;
    memcpy(&word, p, sizeof(word));
    return word;
}

/* Fibonacci hashing: the top 12 bits of the product. */
static size_t
window_slot(uint64_t window)
{
    return (size_t)((window * UINT64_C(0x9E3779B97F4A7C15)) >> 52);
}

static size_t
probe_slot(uint32_t probe)
{
    return (size_t)((probe * UINT32_C(0x9E3779B1)) >> 20);
}

static void
set_bit(uint64_t *bits, size_t k)
{
    bits[k / 64] |= UINT64_C(1) << (k % 64);
}

static int
has_bit(const uint64_t *bits, size_t k)
{
    return (int)((bits[k / 64] >> (k % 64)) & 1);
}

static void
filter_start(struct redact_filter *f, const char *secret, size_t secret_len)
{
    f->active = secret != NULL && secret_len >= KIMI_REDACT_MIN;
    f->secret = secret;
    f->secret_len = secret_len;
    if (!f->active) {
        return;
    }
    memset(f->probes, 0, sizeof(f->probes));
    memset(f->windows, 0, sizeof(f->windows));
    for (size_t j = 0; j + PROBE <= secret_len; j++) {
        set_bit(f->probes, probe_slot(load_probe(secret + j)));
    }
    for (size_t j = 0; j + KIMI_REDACT_MIN <= secret_len; j++) {
        set_bit(f->windows, window_slot(load_window(secret + j)));
    }
}

/* Length of the longest prefix of s (n bytes) that occurs in the secret,
 * or 0 when it is shorter than KIMI_REDACT_MIN. */
static size_t
longest_run(const struct redact_filter *f, const char *s, size_t n)
{
    if (n < KIMI_REDACT_MIN) {
        return 0;
    }
    uint64_t window = load_window(s);
    if (!has_bit(f->windows, window_slot(window))) {
        return 0;
    }
    size_t most = n < f->secret_len ? n : f->secret_len;
    size_t best = 0;
    for (size_t j = 0; j + KIMI_REDACT_MIN <= f->secret_len && best < most;
         j++) {
        if (load_window(f->secret + j) != window) {
            continue;
        }
        size_t limit = f->secret_len - j < n ? f->secret_len - j : n;
        size_t len = KIMI_REDACT_MIN;
        while (len < limit && f->secret[j + len] == s[len]) {
            len++;
        }
        if (len > best) {
            best = len;
        }
    }
    return best;
}

/* The first run at or after from: its start (n when there is none), its
 * length in *run.
 *
 *     for each probe p = from, from + 4, ... with 4 bytes left:
 *         the 4 bytes at p are no window of the secret: next probe
 *         for each start q in [max(from, p - 3), p]:
 *             a run starts at q: return q
 *
 * A run starting at q holds the window of the first probe at or after q
 * (at most 3 bytes on), and that probe checks the starts since the one
 * before it; so the first run is found, and found first. */
static size_t
next_run(const struct redact_filter *f, const char *src, size_t n,
         size_t from, size_t *run)
{
    for (size_t p = from; p + PROBE <= n; p += PROBE) {
        if (!has_bit(f->probes, probe_slot(load_probe(src + p)))) {
            continue;
        }
        size_t q = p - from >= PROBE - 1 ? p - (PROBE - 1) : from;
        for (; q <= p; q++) {
            *run = longest_run(f, src + q, n - q);
            if (*run > 0) {
                return q;
            }
        }
    }
    *run = 0;
    return n;
}

typedef enum kimi_status (*redact_emit)(void *sink, const char *bytes,
                                        size_t n);

/* Send src to emit with every run replaced:
 *
 *     sent = 0
 *     for each run [p, p + run) found from sent on:
 *         emit src[sent, p)
 *         emit KIMI_REDACTED, unless the previous run ended at p
 *         sent = p + run
 *     emit src[sent, n)
 *
 * Returns KIMI_OK or the first failure of emit. */
static enum kimi_status
redact_walk(const struct redact_filter *f, const char *src, size_t n,
            redact_emit emit, void *sink)
{
    enum kimi_status st = KIMI_OK;
    size_t sent = 0;
    size_t last_end = SIZE_MAX;
    size_t run = 0;

    if (!f->active) {
        return n > 0 ? emit(sink, src, n) : KIMI_OK;
    }
    size_t p = next_run(f, src, n, 0, &run);
    while (p < n) {
        if (p > sent) {
            st = emit(sink, src + sent, p - sent);
        }
        if (st == KIMI_OK && p != last_end) {
            st = emit(sink, KIMI_REDACTED, sizeof(KIMI_REDACTED) - 1);
        }
        if (st != KIMI_OK) {
            return st;
        }
        sent = p + run;
        last_end = sent;
        p = next_run(f, src, n, sent, &run);
    }
    return n > sent ? emit(sink, src + sent, n - sent) : KIMI_OK;
}

/* ---- into a fixed buffer ---- */

struct fixed_sink {
    char *dst;
    size_t room;        /* bytes that may be written, without the NUL */
    size_t len;
    int cut;            /* something did not fit */
    char dropped;       /* the first byte that did not fit */
};

static enum kimi_status
fixed_emit(void *sink, const char *bytes, size_t n)
{
    struct fixed_sink *s = sink;
    if (s->cut) {
        return KIMI_OK;
    }
    size_t take = n < s->room - s->len ? n : s->room - s->len;
    if (take > 0) {
        memcpy(s->dst + s->len, bytes, take);
        s->len += take;
    }
    if (take < n) {
        s->cut = 1;
        s->dropped = bytes[take];
    }
    return KIMI_OK;
}

/* Where the output was cut, step back out of a UTF-8 sequence: look at
 * the last three bytes kept and the first one dropped. */
static size_t
fixed_boundary(const struct fixed_sink *s)
{
    char edge[4];
    size_t kept = s->len < 3 ? s->len : 3;

    if (!s->cut) {
        return s->len;
    }
    memcpy(edge, s->dst + s->len - kept, kept);
    edge[kept] = s->dropped;
    return s->len - kept + kimi_text_utf8_cut(edge, kept + 1, kept);
}

size_t
kimi_redact_into(char *dst, size_t dst_size, const char *src,
                 size_t src_len, const char *secret, size_t secret_len)
{
    struct redact_filter filter;
    struct fixed_sink sink = {dst, dst_size > 0 ? dst_size - 1 : 0, 0, 0,
                              0};

    if (dst_size == 0) {
        return 0;
    }
    filter_start(&filter, secret, secret_len);
    /* fixed_emit cannot fail */
    (void)redact_walk(&filter, src, src != NULL ? src_len : 0, fixed_emit,
                      &sink);
    sink.len = fixed_boundary(&sink);
    dst[sink.len] = '\0';
    return sink.len;
}

/* ---- into a growable buffer ---- */

struct buf_sink {
    struct kimi_buf *buf;
    struct kimi_error *err;
};

static enum kimi_status
buf_emit(void *sink, const char *bytes, size_t n)
{
    struct buf_sink *s = sink;
    return kimi_buf_append(s->buf, bytes, n, s->err);
}

static enum kimi_status
redact_append(struct kimi_buf *out, const struct redact_filter *filter,
              const char *src, size_t src_len, struct kimi_error *err)
{
    struct buf_sink sink = {out, err};
    size_t old_len = out->len;

    enum kimi_status st = redact_walk(filter, src, src_len, buf_emit, &sink);
    if (st != KIMI_OK) {
        out->len = old_len;
        if (out->data != NULL) {
            out->data[old_len] = '\0';
        }
    }
    return st;
}

enum kimi_status
kimi_redact_buf(struct kimi_buf *out, const char *src, size_t src_len,
                const char *secret, size_t secret_len,
                struct kimi_error *err)
{
    struct redact_filter filter;

    filter_start(&filter, secret, secret_len);
    return redact_append(out, &filter, src, src != NULL ? src_len : 0, err);
}

enum kimi_status
kimi_redact_in_place(struct kimi_buf *buf, const char *secret,
                     size_t secret_len, struct kimi_error *err)
{
    struct redact_filter filter;
    struct kimi_buf result;
    size_t run = 0;

    filter_start(&filter, secret, secret_len);
    if (!filter.active || buf->data == NULL
        || next_run(&filter, buf->data, buf->len, 0, &run) == buf->len)
    {
        return KIMI_OK;     /* nothing to hide: no copy */
    }
    kimi_buf_init(&result, buf->max);
    enum kimi_status st = redact_append(&result, &filter, buf->data,
                                        buf->len, err);
    if (st != KIMI_OK) {
        kimi_buf_free(&result);
        return st;
    }
    kimi_free(buf->data);
    buf->data = result.data;
    buf->len = result.len;
    buf->cap = result.cap;
    return KIMI_OK;
}

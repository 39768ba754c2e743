/* fuzz_sse.c - libFuzzer target for the SSE parser (sse.c).
 *
 * Byte 0 picks a split point, byte 1 an event cap; the rest is the stream.
 * The stream is parsed whole, split in two, and in small pieces; any
 * difference in events, status, error offset or pending state aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

/* A digest of everything the parser reported, compared between feeds. */
struct trace {
    uint64_t hash;
    size_t events;
};

static void
trace_mix(struct trace *t, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = t->hash;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 0x100000001b3u;
    }
    t->hash = h;
}

static enum kimi_status
on_event(void *ctx, const struct kimi_sse_event *ev, struct kimi_error *err)
{
    struct trace *t = ctx;

    (void)err;
    if (ev->data[ev->data_len] != '\0' || ev->type[ev->type_len] != '\0'
        || ev->id[ev->id_len] != '\0') {
        abort();
    }
    /* Lengths first, so "ab"+"c" and "a"+"bc" differ. */
    trace_mix(t, &ev->data_len, sizeof(ev->data_len));
    trace_mix(t, &ev->type_len, sizeof(ev->type_len));
    trace_mix(t, &ev->id_len, sizeof(ev->id_len));
    trace_mix(t, ev->data, ev->data_len);
    trace_mix(t, ev->type, ev->type_len);
    trace_mix(t, ev->id, ev->id_len);
    t->events++;
    return KIMI_OK;
}

/* Feed in[0..n) in pieces of the given size (0: whole) with the first
 * piece cut at first; fold the outcome into a trace. */
static struct trace
run(const char *in, size_t n, size_t first, size_t piece, size_t max)
{
    struct kimi_sse sse;
    struct kimi_error err;
    struct trace t = {0xcbf29ce484222325u, 0};
    enum kimi_status st = KIMI_OK;
    size_t pos = 0;

    kimi_error_clear(&err);
    kimi_sse_init(&sse, max);
    if (first > 0) {
        st = kimi_sse_feed(&sse, in, first, on_event, &t, &err);
        pos = first;
    }
    while (st == KIMI_OK && pos < n) {
        size_t len = piece == 0 || n - pos < piece ? n - pos : piece;
        st = kimi_sse_feed(&sse, in + pos, len, on_event, &t, &err);
        if (st == KIMI_OK) {
            st = kimi_sse_feed(&sse, in + pos, 0, on_event, &t, &err);
        }
        pos += len;
    }
    int pending = kimi_sse_pending(&sse);
    trace_mix(&t, &st, sizeof(st));
    trace_mix(&t, &pending, sizeof(pending));
    trace_mix(&t, &sse.retry_ms, sizeof(sse.retry_ms));
    if (st != KIMI_OK) {
        trace_mix(&t, &err.offset, sizeof(err.offset));
        trace_mix(&t, err.message, strlen(err.message));
    }
    else if (sse.offset != n) {
        abort();
    }
    kimi_sse_free(&sse);
    return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    const char *in = (const char *)data + 2;
    size_t n = size - 2;
    size_t cut = (size_t)data[0] * n / 255;
    /* Odd: a small cap to reach the ETOOBIG paths; even: the default. */
    size_t max = data[1] & 1 ? (size_t)(data[1] >> 1) + 1 : 0;

    struct trace whole = run(in, n, 0, 0, max);
    struct trace split = run(in, n, cut, 0, max);
    struct trace small = run(in, n, 0, (size_t)(data[0] % 7) + 1, max);
    if (whole.hash != split.hash || whole.events != split.events
        || whole.hash != small.hash || whole.events != small.events) {
        abort();
    }
    return 0;
}

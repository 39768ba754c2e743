/* test_sse.c - unit tests for the SSE parser (sse.c).
 *
 * Every vector is fed whole, split in two at every byte (with an empty feed
 * between) and one byte at a time; all must give the same events.  Also
 * covers the event cap, a recorded Kimi stream, callback errors and
 * allocation failures.  Usage: test_sse [vectors-dir] (or KIMI_VECTORS).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "error.h"
#include "sse.h"

/* ---- recording what the parser gives ---- */

struct got_event {
    char *data;
    size_t data_len;
    char *type;
    size_t type_len;
    char *id;
    size_t id_len;
};

struct got {
    struct got_event *ev;
    size_t n;
    size_t cap;
    size_t stop_after;      /* callback fails on event n + 1; 0: never */
    int unterminated;       /* some event string lacked its NUL */
    enum kimi_status st;
    size_t err_offset;
    char err_message[KIMI_ERROR_MESSAGE_MAX];
    int pending;
    long retry_ms;
};

static char *
dup_mem(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL) {
        abort();
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void
got_init(struct got *g)
{
    memset(g, 0, sizeof(*g));
}

static void
got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->ev[i].data);
        free(g->ev[i].type);
        free(g->ev[i].id);
    }
    free(g->ev);
    got_init(g);
}

static enum kimi_status
on_event(void *ctx, const struct kimi_sse_event *ev, struct kimi_error *err)
{
    struct got *g = ctx;

    if (g->stop_after != 0 && g->n == g->stop_after) {
        return kimi_error_set(err, KIMI_ESERVER, "stop after %zu",
                              g->stop_after);
    }
    if (ev->data[ev->data_len] != '\0' || ev->type[ev->type_len] != '\0'
        || ev->id[ev->id_len] != '\0') {
        g->unterminated = 1;
    }
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 8;
        g->ev = realloc(g->ev, g->cap * sizeof(*g->ev));
        if (g->ev == NULL) {
            abort();
        }
    }
    struct got_event *e = &g->ev[g->n++];
    e->data = dup_mem(ev->data, ev->data_len);
    e->data_len = ev->data_len;
    e->type = dup_mem(ev->type, ev->type_len);
    e->type_len = ev->type_len;
    e->id = dup_mem(ev->id, ev->id_len);
    e->id_len = ev->id_len;
    return KIMI_OK;
}

static int
got_equal(const struct got *a, const struct got *b)
{
    if (a->n != b->n || a->st != b->st || a->pending != b->pending
        || a->retry_ms != b->retry_ms || a->unterminated || b->unterminated) {
        return 0;
    }
    if (a->st != KIMI_OK && (a->err_offset != b->err_offset
                             || strcmp(a->err_message, b->err_message))) {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct got_event *x = &a->ev[i];
        const struct got_event *y = &b->ev[i];
        if (x->data_len != y->data_len || x->type_len != y->type_len
            || x->id_len != y->id_len
            || memcmp(x->data, y->data, x->data_len)
            || memcmp(x->type, y->type, x->type_len)
            || memcmp(x->id, y->id, x->id_len)) {
            return 0;
        }
    }
    return 1;
}

/* Feed in[0..n) as the pieces given by sizes (a zero size is an empty
 * feed); the rest, if any, goes in one last feed. */
static void
feed_pieces(const char *in, size_t n, const size_t *sizes, size_t nsizes,
            size_t max_event, struct got *g)
{
    struct kimi_sse sse;
    struct kimi_error err;
    size_t pos = 0;
    enum kimi_status st = KIMI_OK;

    kimi_error_clear(&err);
    kimi_sse_init(&sse, max_event);
    for (size_t i = 0; i < nsizes && st == KIMI_OK; i++) {
        st = kimi_sse_feed(&sse, in + pos, sizes[i], on_event, g, &err);
        pos += sizes[i];
    }
    if (st == KIMI_OK && pos < n) {
        st = kimi_sse_feed(&sse, in + pos, n - pos, on_event, g, &err);
    }
    g->st = st;
    g->err_offset = err.offset;
    memcpy(g->err_message, err.message, sizeof(err.message));
    g->pending = kimi_sse_pending(&sse);
    g->retry_ms = sse.retry_ms;
    kimi_sse_free(&sse);
}

static void
feed_whole(const char *in, size_t n, size_t max_event, struct got *g)
{
    feed_pieces(in, n, NULL, 0, max_event, g);
}

/* [0, cut), an empty feed, [cut, n). */
static void
feed_split(const char *in, size_t n, size_t cut, size_t max_event,
           struct got *g)
{
    size_t sizes[2] = {cut, 0};
    feed_pieces(in, n, sizes, 2, max_event, g);
}

static void
feed_chunked(const char *in, size_t n, size_t chunk, size_t max_event,
             struct got *g)
{
    struct kimi_sse sse;
    struct kimi_error err;
    enum kimi_status st = KIMI_OK;

    kimi_error_clear(&err);
    kimi_sse_init(&sse, max_event);
    for (size_t pos = 0; pos < n && st == KIMI_OK; pos += chunk) {
        size_t len = n - pos < chunk ? n - pos : chunk;
        st = kimi_sse_feed(&sse, in + pos, len, on_event, g, &err);
    }
    g->st = st;
    g->err_offset = err.offset;
    memcpy(g->err_message, err.message, sizeof(err.message));
    g->pending = kimi_sse_pending(&sse);
    g->retry_ms = sse.retry_ms;
    kimi_sse_free(&sse);
}

/* Whole, at every split point and byte by byte: all the same.  Leaves the
 * whole-feed result in *whole. */
static void
check_all_splits(const char *name, const char *in, size_t n,
                 size_t max_event, struct got *whole)
{
    struct got g;
    size_t bad_cut = SIZE_MAX;

    got_init(whole);
    feed_whole(in, n, max_event, whole);
    for (size_t cut = 0; cut <= n; cut++) {
        got_init(&g);
        feed_split(in, n, cut, max_event, &g);
        if (!got_equal(whole, &g) && bad_cut == SIZE_MAX) {
            bad_cut = cut;
        }
        got_free(&g);
    }
    if (bad_cut != SIZE_MAX) {
        fprintf(stderr, "%s: split at %zu differs\n", name, bad_cut);
    }
    CHECK(bad_cut == SIZE_MAX);

    got_init(&g);
    feed_chunked(in, n, 1, max_event, &g);
    if (!got_equal(whole, &g)) {
        fprintf(stderr, "%s: byte-by-byte feed differs\n", name);
    }
    CHECK(got_equal(whole, &g));
    got_free(&g);
}

/* ---- vectors ---- */

#define B(s) s, sizeof(s) - 1
#define EV(s) {B(s), "", ""}
#define EVT(s, t) {B(s), t, ""}
#define EVI(s, i) {B(s), "", i}
#define EVTI(s, t, i) {B(s), t, i}

struct want {
    const char *data;       /* NULL ends the list */
    size_t data_len;
    const char *type;
    const char *id;
};

struct vector {
    const char *name;
    const char *in;
    size_t in_len;
    struct want ev[6];
    long retry_ms;          /* expected sse.retry_ms at the end */
    int pending;            /* expected kimi_sse_pending at the end */
};

static const struct vector vectors[] = {
    /* Section 1: WHATWG rules. */
    {"lf", B("data:a\ndata:b\n\n"), {EV("a\nb")}, -1, 0},
    {"cr", B("data:a\rdata:b\r\r"), {EV("a\nb")}, -1, 0},
    {"crlf", B("data:a\r\ndata:b\r\n\r\n"), {EV("a\nb")}, -1, 0},
    {"mixed-endings", B("data:a\r\n\rdata:b\n\r\ndata:c\r\r"),
     {EV("a"), EV("b"), EV("c")}, -1, 0},
    {"cr-cr-is-two-line-ends", B("data:a\r\rdata:b\n\n"),
     {EV("a"), EV("b")}, -1, 0},
    {"lf-cr-is-two-line-ends", B("data:a\n\rdata:b\n\n"),
     {EV("a"), EV("b")}, -1, 0},
    {"only-cr-lf-end-lines",
     B("data:a\xe2\x80\xa8" "b\xe2\x80\xa9" "c\xc2\x85" "d\v" "e\f" "f\n\n"),
     {EV("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c\xc2\x85" "d\v" "e\f" "f")},
     -1, 0},
    {"bom-stripped", B("\xef\xbb\xbf" "data:1\n\n"), {EV("1")}, -1, 0},
    {"bom-then-empty-line", B("\xef\xbb\xbf\ndata:1\n\n"), {EV("1")}, -1,
     0},
    {"bom-alone", B("\xef\xbb\xbf"), {{NULL, 0, NULL, NULL}}, -1, 0},
    {"partial-bom-1-is-a-name", B("\xef" "data:1\n\ndata:2\n\n"),
     {EV("2")}, -1, 0},
    {"partial-bom-2-is-a-name", B("\xef\xbb" "data:1\n\ndata:2\n\n"),
     {EV("2")}, -1, 0},
    {"partial-bom-line-end", B("\xef\xbb\ndata:1\n\n"), {EV("1")}, -1, 0},
    {"partial-bom-eof", B("\xef\xbb"), {{NULL, 0, NULL, NULL}}, -1, 0},
    {"comment-skipped", B(":hello\ndata:1\n:x\n\n"), {EV("1")}, -1, 0},
    {"comment-only", B(":a\r:b\r\n:c\n"), {{NULL, 0, NULL, NULL}}, -1, 0},
    {"name-before-first-colon", B("data:a:b\n\n"), {EV("a:b")}, -1, 0},
    {"one-space-removed", B("data:  a\ndata: b\ndata:c\n\n"),
     {EV(" a\nb\nc")}, -1, 0},
    {"tab-kept", B("data:\ta\n\n"), {EV("\ta")}, -1, 0},
    {"space-only-value", B("data: \n\n"), {EV("")}, -1, 0},
    {"no-colon-empty-value", B("data\ndata\n\n"), {EV("\n")}, -1, 0},
    {"names-case-sensitive",
     B("Data:x\nDATA:y\ndata:z\nEvent:e\nID:1\nRetry:5\n\n"), {EV("z")},
     -1, 0},
    {"event-sets-type", B("event:a\nevent:b\ndata:x\n\n"), {EVT("x", "b")},
     -1, 0},
    {"event-without-colon", B("event:a\nevent\ndata:x\n\n"), {EV("x")}, -1,
     0},
    {"id-persists", B("id:7\ndata:a\n\ndata:b\n\n"),
     {EVI("a", "7"), EVI("b", "7")}, -1, 0},
    {"id-empty-clears", B("id:1\ndata:a\n\nid\ndata:b\n\n"),
     {EVI("a", "1"), EV("b")}, -1, 0},
    {"id-without-data", B("id:9\n\ndata:a\n\n"), {EVI("a", "9")}, -1, 0},
    {"id-last-wins", B("id:1\nid:22\ndata:a\n\n"), {EVI("a", "22")}, -1, 0},
    {"unknown-fields-ignored", B("foo:bar\ndata:x\nfoo\n\n"), {EV("x")}, -1,
     0},
    {"long-unknown-names",
     B("dataaaaaaaaaaaaaaaaaaaa:x\ndata:y\nretryretryretry:5\n"
       "eventeventeventevent:z\nidid:3\n\n"),
     {EV("y")}, -1, 0},
    {"prefix-names", B("dat:x\nevent_:y\ni:z\nd:w\nretr:4\ndata:q\n\n"),
     {EV("q")}, -1, 0},
    {"no-data-dispatches-nothing", B("event:x\n\ndata:y\n\n"), {EV("y")},
     -1, 0},
    {"one-trailing-lf-removed", B("data:\ndata:\n\n"), {EV("\n")}, -1, 0},
    {"type-resets", B("event:t\ndata:1\n\ndata:2\n\n"),
     {EVT("1", "t"), EV("2")}, -1, 0},
    {"eof-discards-event", B("data:a\n\ndata:b\n"), {EV("a")}, -1, 1},
    {"eof-mid-line", B("data:b"), {{NULL, 0, NULL, NULL}}, -1, 1},
    {"eof-mid-name", B("ev"), {{NULL, 0, NULL, NULL}}, -1, 1},
    {"empty-stream", B(""), {{NULL, 0, NULL, NULL}}, -1, 0},
    {"retry-digits", B("retry:1234\n"), {{NULL, 0, NULL, NULL}}, 1234, 1},
    {"retry-space", B("retry: 5\n\n"), {{NULL, 0, NULL, NULL}}, 5, 0},
    {"retry-two-spaces", B("retry:  5\n\n"), {{NULL, 0, NULL, NULL}}, -1,
     0},
    {"retry-empty", B("retry:\n\n"), {{NULL, 0, NULL, NULL}}, -1, 0},
    {"retry-saturates", B("retry:99999999999999999999999999\n\n"),
     {{NULL, 0, NULL, NULL}}, LONG_MAX, 0},
    {"nul-in-data", B("data:a\x00" "b\n\n"), {EV("a\x00" "b")}, -1, 0},

    /* Section 2: wpt/eventsource. */
    {"format-bom",
     B("\xef\xbb\xbf" "data:1\n\n\xef\xbb\xbf" "data:2\n\ndata:3\n\n\n"),
     {EV("1"), EV("3")}, -1, 0},
    {"format-bom-2",
     B("\xef\xbb\xbf\xef\xbb\xbf" "data:1\n\ndata:2\n\ndata:3\n\n\n"),
     {EV("2"), EV("3")}, -1, 0},
    {"format-bom-split", B("\xef\xbb\xbf" "data:1\n\ndata:2\n\n"),
     {EV("1"), EV("2")}, -1, 0},
    {"format-bom-utf-16le", B("\xff\xfe" "data:1\n\ndata:2\n\n\n"),
     {EV("2")}, -1, 0},
    {"format-bom-utf-16be", B("\xfe\xff" "data:1\n\ndata:2\n\n\n"),
     {EV("2")}, -1, 0},
    {"format-utf-8", B("data:ok\xe2\x80\xa6\n\n\n"), {EV("ok\xe2\x80\xa6")},
     -1, 0},
    {"format-null-character", B("data:\x00\n\n"), {EV("\x00")}, -1, 0},
    {"format-newlines", B("data:test\r\ndata\ndata:test\r\n\r\n"),
     {EV("test\n\ntest")}, -1, 0},
    {"format-leading-space", B("data:\ttest\rdata: \ndata:test\n\n\n"),
     {EV("\ttest\n\ntest")}, -1, 0},
    {"format-field-parsing",
     B("data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00"
       "data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n"),
     {EV("\x00\n 2\n1\n3\n\n4")}, -1, 0},
    {"format-field-unknown",
     B("data:test\n data\ndata\nfoobar:xxx\njustsometext\n"
       ":thisisacommentyay\ndata:test\n\n\n"),
     {EV("test\n\ntest")}, -1, 0},
    {"format-field-data", B("data:\n\ndata\ndata\n\ndata:test\n\n\n"),
     {EV(""), EV("\n"), EV("test")}, -1, 0},
    {"event-data",
     B("data:msg\ndata: msg\n\n:\nfalsefield:msg\n\nfalsefield:msg\n"
       "Data:data\n\ndata\n\ndata:end\n\n"),
     {EV("msg\nmsg"), EV(""), EV("end")}, -1, 0},
    {"format-field-event", B("event:test\ndata:x\n\ndata:x\n\n\n"),
     {EVT("x", "test"), EV("x")}, -1, 0},
    {"format-field-event-empty", B("event: \ndata:data\n\n\n"),
     {EV("data")}, -1, 0},
    {"format-data-before-final-empty-line",
     B("retry:1000\ndata:test1\n\nid:test\ndata:test2\n"), {EV("test1")},
     1000, 1},
    {"format-field-id-3a", B("id: 1\ndata: 1\n\ndata:2\n\n"),
     {EVI("1", "1"), EVI("2", "1")}, -1, 0},
    {"format-field-id-3b", B("id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n"),
     {EVI("1", "1"), EVI("2", "2"), EVI("3", "2")}, -1, 0},
    {"format-field-id-3c", B("id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n"),
     {EVI("1", "1"), EV("2"), EV("3")}, -1, 0},
    {"format-field-retry", B("retry:02000\n\n"), {{NULL, 0, NULL, NULL}},
     2000, 0},
    {"format-field-retry-bogus", B("retry:2000\nretry:1000x\n\n"),
     {{NULL, 0, NULL, NULL}}, 2000, 0},
    {"format-field-retry-empty", B("retry\ndata:test\n\n\n"), {EV("test")},
     -1, 0},
    {"id-with-nul", B("id: 7\ndata:a\n\nid: a\x00" "b\ndata:b\n\n"),
     {EVI("a", "7"), EVI("b", "7")}, -1, 0},

    /* Section 3: openai-python cases the WHATWG rules agree on. */
    {"openai-basic", B("event: completion\ndata: {\"foo\":true}\n\n"),
     {EVT("{\"foo\":true}", "completion")}, -1, 0},
    {"openai-multi-line-empty-lines",
     B("event: ping\ndata: {\ndata: \"foo\":\ndata: \ndata:\n"
       "data: true}\n\n\n"),
     {EVT("{\n\"foo\":\n\n\ntrue}", "ping")}, -1, 0},
    {"openai-escaped-newlines",
     B("data: {\"foo\": \"my long\\n\\ncontent\"}\n\n"),
     {EV("{\"foo\": \"my long\\n\\ncontent\"}")}, -1, 0},
    {"openai-utf-8-split",
     B("data: {\"content\":\"\xd0\xb8\xd0\xb7\xd0\xb2\xd0\xb5\xd1\x81\xd1"
       "\x82\xd0\xbd\xd0\xb8\"}\n\n"),
     {EV("{\"content\":\"\xd0\xb8\xd0\xb7\xd0\xb2\xd0\xb5\xd1\x81\xd1\x82"
         "\xd0\xbd\xd0\xb8\"}")}, -1, 0},
    {"framing-lf", B("data:ok\n\n"), {EV("ok")}, -1, 0},
    {"framing-cr", B("data:ok\r\r"), {EV("ok")}, -1, 0},
    {"framing-crlf", B("data:ok\r\n\r\n"), {EV("ok")}, -1, 0},
    {"framing-mixed",
     B("id:one\r\ndata:\xd0\xb8\xd0\xb7\r\n\ndata:two\n\rdata:unfinished"),
     {EVI("\xd0\xb8\xd0\xb7", "one"), EVI("two", "one")}, -1, 1},

    /* Section 4: httpx-sse line splitting, as SSE input. */
    {"httpx-four-lines",
     B("data:line1\r\ndata:line2\ndata:line3\rdata:line4\n\n"),
     {EV("line1\nline2\nline3\nline4")}, -1, 0},
    {"httpx-three-empty-lines", B("\n\r\n\r"), {{NULL, 0, NULL, NULL}}, -1,
     0},
    {"httpx-three-empty-lines-data", B("data:a\n\r\n\rdata:b\n\n"),
     {EV("a"), EV("b")}, -1, 0},
    {"httpx-crlf-split", B("data:line1\r\ndata:line2\n\n"),
     {EV("line1\nline2")}, -1, 0},
    {"httpx-cr-cr", B("data:a\r\r"), {EV("a")}, -1, 0},
    {"httpx-cr-cr-line", B("data:line1\r\rdata:line2\n\n"),
     {EV("line1"), EV("line2")}, -1, 0},
    {"httpx-no-split-unicode",
     B("data:\xe2\x80\xa8|\xe2\x80\xa9|\xc2\x85\n\n"),
     {EV("\xe2\x80\xa8|\xe2\x80\xa9|\xc2\x85")}, -1, 0},

    /* Section 5: the behaviour suggested for us. */
    {"suggested-bom", B("\xef\xbb\xbf" "data:1\n\ndata:2\n\n"),
     {EV("1"), EV("2")}, -1, 0},
    {"suggested-ping-no-event", B("event: ping\n\n"),
     {{NULL, 0, NULL, NULL}}, -1, 0},
    {"suggested-id-no-extra-events", B("id: 1\ndata: a\n\n\n\n"),
     {EVI("a", "1")}, -1, 0},
    {"suggested-retry-plus", B("retry: +5\n\n"), {{NULL, 0, NULL, NULL}},
     -1, 0},
    {"suggested-retry-underscore", B("retry:1_000\n\n"),
     {{NULL, 0, NULL, NULL}}, -1, 0},
    {"suggested-retry-fullwidth", B("retry:\xef\xbc\x95\n\n"),
     {{NULL, 0, NULL, NULL}}, -1, 0},
    {"suggested-invalid-utf-8-passes", B("data:\xff\n\n"), {EV("\xff")}, -1,
     0},
    {"suggested-eof-after-cr", B("data:x\r"), {{NULL, 0, NULL, NULL}}, -1,
     1},
    {"suggested-eof-after-lf", B("data:x\n"), {{NULL, 0, NULL, NULL}}, -1,
     1},
};

static void
check_want(const char *name, const struct got *g, const struct want *w,
           long retry_ms, int pending)
{
    size_t nw = 0;
    int ok = 1;

    while (nw < 6 && w[nw].data != NULL) {
        nw++;
    }
    if (g->st != KIMI_OK || g->n != nw || g->retry_ms != retry_ms
        || g->pending != pending || g->unterminated) {
        ok = 0;
    }
    for (size_t i = 0; ok && i < nw; i++) {
        const struct got_event *e = &g->ev[i];
        if (e->data_len != w[i].data_len
            || memcmp(e->data, w[i].data, e->data_len) != 0
            || e->type_len != strlen(w[i].type)
            || strcmp(e->type, w[i].type) != 0
            || e->id_len != strlen(w[i].id) || strcmp(e->id, w[i].id) != 0) {
            ok = 0;
        }
    }
    if (!ok) {
        fprintf(stderr, "%s: got %zu events (want %zu), status %d, "
                "retry %ld, pending %d\n", name, g->n, nw, (int)g->st,
                g->retry_ms, g->pending);
    }
    CHECK(ok);
}

static void
test_vectors(void)
{
    size_t nvec = sizeof(vectors) / sizeof(vectors[0]);

    for (size_t i = 0; i < nvec; i++) {
        const struct vector *v = &vectors[i];
        struct got whole;
        check_all_splits(v->name, v->in, v->in_len, 0, &whole);
        check_want(v->name, &whole, v->ev, v->retry_ms, v->pending);
        got_free(&whole);
    }
}

/* Vectors given as chunks in the source documents. */
static void
test_named_chunks(void)
{
    struct got g;
    static const char bom_split[] = "\xef\xbb\xbf" "data:1\n\ndata:2\n\n";
    static const size_t bom_sizes[] = {1};
    static const char crlf[] = "data:line1\r\ndata:line2\n\n";
    static const size_t crlf_sizes[] = {11, 12, 1};
    static const char crcr[] = "data:a\r\r";
    static const size_t crcr_sizes[] = {7, 1};
    static const char utf8[] = "data: {\"content\":\"\xd0\xb8\xd0\xb7\xd0"
                               "\xb2\xd0\xb5\xd1\x81\xd1\x82\xd0\xbd\xd0"
                               "\xb8\"}\n\n";
    static const size_t utf8_sizes[] = {19, 1, 5, 11, 3};

    got_init(&g);
    feed_pieces(bom_split, sizeof(bom_split) - 1, bom_sizes, 1, 0, &g);
    CHECK(g.st == KIMI_OK && g.n == 2);
    CHECK(g.n >= 1 && strcmp(g.ev[0].data, "1") == 0);
    got_free(&g);

    got_init(&g);
    feed_pieces(crlf, sizeof(crlf) - 1, crlf_sizes, 3, 0, &g);
    CHECK(g.n == 1);
    CHECK(g.n == 1 && strcmp(g.ev[0].data, "line1\nline2") == 0);
    got_free(&g);

    got_init(&g);
    feed_pieces(crcr, sizeof(crcr) - 1, crcr_sizes, 2, 0, &g);
    CHECK(g.n == 1 && strcmp(g.ev[0].data, "a") == 0);
    CHECK(g.pending == 0);
    got_free(&g);

    got_init(&g);
    feed_pieces(utf8, sizeof(utf8) - 1, utf8_sizes, 5, 0, &g);
    CHECK(g.n == 1);
    CHECK(g.n == 1 && strcmp(g.ev[0].data,
                             "{\"content\":\"\xd0\xb8\xd0\xb7\xd0\xb2\xd0"
                             "\xb5\xd1\x81\xd1\x82\xd0\xbd\xd0\xb8\"}") == 0);
    got_free(&g);
}

/* ---- vectors built at run time ---- */

struct text {
    char *p;
    size_t len;
    size_t cap;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2;
        t->p = realloc(t->p, t->cap);
        if (t->p == NULL) {
            abort();
        }
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void
text_fill(struct text *t, char c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        text_add(t, &c, 1);
    }
}

#define TEXT_ADD(t, s) text_add((t), s, sizeof(s) - 1)

static void
test_format_comments(void)
{
    struct text t = {NULL, 0, 0};
    struct got g;
    static const struct want w[] = {EV("1\n2\n3\n4"), {NULL, 0, NULL, NULL}};

    TEXT_ADD(&t, "data:1\r:\x00\n:\r\ndata:2\n:");
    text_fill(&t, 'x', 2048);
    TEXT_ADD(&t, "\rdata:3\n:data:fail\r:");
    text_fill(&t, 'x', 2048);
    TEXT_ADD(&t, "\ndata:4\n\n");
    check_all_splits("format-comments", t.p, t.len, 0, &g);
    check_want("format-comments", &g, w, -1, 0);
    got_free(&g);
    free(t.p);
}

/* 2000 small events in one chunk, then 10000 data lines in one event. */
static void
test_many(void)
{
    struct text t = {NULL, 0, 0};
    struct got g;
    struct got h;
    int ok = 1;

    for (int i = 0; i < 2000; i++) {
        TEXT_ADD(&t, "data:ok\n\n");
    }
    got_init(&g);
    feed_whole(t.p, t.len, 0, &g);
    CHECK(g.st == KIMI_OK && g.n == 2000);
    for (size_t i = 0; i < g.n; i++) {
        if (strcmp(g.ev[i].data, "ok") != 0) {
            ok = 0;
        }
    }
    CHECK(ok);
    got_init(&h);
    feed_chunked(t.p, t.len, 1, 0, &h);
    CHECK(got_equal(&g, &h));
    got_free(&h);
    got_free(&g);

    t.len = 0;
    for (int i = 0; i < 10000; i++) {
        TEXT_ADD(&t, "data:x\n");
    }
    TEXT_ADD(&t, "\n");
    got_init(&g);
    feed_chunked(t.p, t.len, 97, 0, &g);
    CHECK(g.n == 1 && g.ev[0].data_len == 19999);
    ok = g.n == 1;
    for (size_t i = 0; ok && i < g.ev[0].data_len; i++) {
        if (g.ev[0].data[i] != (i % 2 ? '\n' : 'x')) {
            ok = 0;
        }
    }
    CHECK(ok);
    got_free(&g);
    free(t.p);
}

/* Unterminated streams of comments, data or ignored lines, in fragments
 * of 1, 97 and 100000 bytes: no events. */
static void
test_unterminated(void)
{
    static const char *const lines[] = {":x\n", "data:x\n", "ignored:x\n"};
    static const size_t sizes[] = {1, 97, 100000};

    for (size_t l = 0; l < 3; l++) {
        struct text t = {NULL, 0, 0};
        for (int i = 0; i < 2000; i++) {
            text_add(&t, lines[l], strlen(lines[l]));
        }
        for (size_t s = 0; s < 3; s++) {
            struct got g;
            got_init(&g);
            feed_chunked(t.p, t.len, sizes[s], 0, &g);
            CHECK(g.st == KIMI_OK && g.n == 0);
            CHECK(g.pending == (l != 0));
            got_free(&g);
        }
        free(t.p);
    }
}

/* Comments, ignored fields and long unknown names allocate nothing: with
 * every allocation failing, feeding them still succeeds. */
static void
test_skipped_lines_not_buffered(void)
{
    struct text t = {NULL, 0, 0};
    struct kimi_sse sse;
    struct kimi_error err;
    enum kimi_status st = KIMI_OK;

    for (int i = 0; i < 10000; i++) {
        TEXT_ADD(&t, ":x\n");
    }
    TEXT_ADD(&t, ":");
    text_fill(&t, 'c', 1 << 20);
    TEXT_ADD(&t, "\nfoo:");
    text_fill(&t, 'v', 1 << 20);
    TEXT_ADD(&t, "\n");
    text_fill(&t, 'n', 1 << 20);
    TEXT_ADD(&t, ":value\nretry:7\n\n");

    kimi_error_clear(&err);
    kimi_sse_init(&sse, 0);
    kimi_alloc_fail_after(1);
    for (size_t pos = 0; pos < t.len && st == KIMI_OK; pos += 16384) {
        size_t len = t.len - pos < 16384 ? t.len - pos : 16384;
        st = kimi_sse_feed(&sse, t.p + pos, len, on_event, NULL, &err);
    }
    kimi_alloc_fail_after(0);
    CHECK(st == KIMI_OK);
    CHECK(sse.retry_ms == 7);
    CHECK(sse.data.data == NULL && sse.type.data == NULL);
    kimi_sse_free(&sse);
    free(t.p);
}

/* ---- the event cap ---- */

static void
test_cap(void)
{
    struct text t = {NULL, 0, 0};
    struct got g;

    /* Exactly at the cap passes. */
    TEXT_ADD(&t, "data:");
    text_fill(&t, 'x', 16);
    TEXT_ADD(&t, "\n\n");
    check_all_splits("cap-exact", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_OK && g.n == 1 && g.ev[0].data_len == 16);
    got_free(&g);

    /* One byte over fails at that byte, whatever the split. */
    t.len = 0;
    TEXT_ADD(&t, "data:");
    text_fill(&t, 'x', 17);
    TEXT_ADD(&t, "\n\n");
    check_all_splits("cap-over", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.n == 0);
    CHECK(g.err_offset == 5 + 16);
    CHECK_STR(g.err_message, "event exceeds 16 bytes");
    got_free(&g);

    /* Multi-line: the joining LFs count. */
    t.len = 0;
    TEXT_ADD(&t, "data:1234567\ndata:12345678\n\n");
    check_all_splits("cap-lines-exact", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_OK && g.n == 1 && g.ev[0].data_len == 16);
    got_free(&g);
    t.len = 0;
    TEXT_ADD(&t, "data:1234567\ndata:123456789\n\n");
    check_all_splits("cap-lines-over", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.err_offset == 26);
    got_free(&g);

    /* A full event followed by an empty data line (one more LF). */
    t.len = 0;
    TEXT_ADD(&t, "data:1234567890123456\ndata\n\n");
    check_all_splits("cap-empty-line-over", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.err_offset == 26);
    CHECK_STR(g.err_message, "event exceeds 16 bytes");
    got_free(&g);

    /* Events before the failing one are delivered. */
    t.len = 0;
    TEXT_ADD(&t, "data:a\n\ndata:");
    text_fill(&t, 'y', 20);
    check_all_splits("cap-after-event", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.n == 1 && g.err_offset == 13 + 16);
    got_free(&g);

    /* The event type and id are capped too. */
    t.len = 0;
    TEXT_ADD(&t, "event:");
    text_fill(&t, 'e', 17);
    TEXT_ADD(&t, "\n");
    check_all_splits("cap-type", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.err_offset == 6 + 16);
    got_free(&g);
    t.len = 0;
    TEXT_ADD(&t, "id:");
    text_fill(&t, 'i', 17);
    TEXT_ADD(&t, "\n");
    check_all_splits("cap-id", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.err_offset == 3 + 16);
    got_free(&g);
    /* An id dropped for its NUL still counts against the cap, so the
     * result does not depend on where the NUL falls in the feeds. */
    t.len = 0;
    TEXT_ADD(&t, "id:");
    text_fill(&t, 'i', 17);
    TEXT_ADD(&t, "\x00\n");
    check_all_splits("cap-id-late-nul", t.p, t.len, 16, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.err_offset == 3 + 16);
    got_free(&g);

    /* The default cap: 16 MiB passes, one byte more does not. */
    t.len = 0;
    TEXT_ADD(&t, "data:");
    text_fill(&t, 'z', KIMI_MAX_EVENT_DEFAULT);
    TEXT_ADD(&t, "\n\n");
    got_init(&g);
    feed_chunked(t.p, t.len, 16384, 0, &g);
    CHECK(g.st == KIMI_OK && g.n == 1);
    CHECK(g.n == 1 && g.ev[0].data_len == KIMI_MAX_EVENT_DEFAULT);
    got_free(&g);
    t.len -= 2;
    TEXT_ADD(&t, "z\n\n");
    got_init(&g);
    feed_chunked(t.p, t.len, 16384, 0, &g);
    CHECK(g.st == KIMI_ETOOBIG && g.n == 0);
    CHECK(g.err_offset == 5 + KIMI_MAX_EVENT_DEFAULT);
    CHECK_STR(g.err_message, "event exceeds 16777216 bytes");
    got_free(&g);
    free(t.p);
}

/* A 1 MiB event, whole, in 16 KiB reads and byte by byte. */
static void
test_large_event(void)
{
    struct text t = {NULL, 0, 0};
    size_t size = (size_t)1 << 20;
    struct got g;
    struct got h;

    TEXT_ADD(&t, "data: ");
    for (size_t i = 0; i < size; i++) {
        char c = (char)('!' + i % 90);
        text_add(&t, &c, 1);
    }
    TEXT_ADD(&t, "\n\n");
    got_init(&g);
    feed_whole(t.p, t.len, 0, &g);
    CHECK(g.st == KIMI_OK && g.n == 1);
    CHECK(g.n == 1 && g.ev[0].data_len == size
          && memcmp(g.ev[0].data, t.p + 6, size) == 0);
    got_init(&h);
    feed_chunked(t.p, t.len, 16384, 0, &h);
    CHECK(got_equal(&g, &h));
    got_free(&h);
    got_init(&h);
    feed_chunked(t.p, t.len, 1, 0, &h);
    CHECK(got_equal(&g, &h));
    got_free(&h);
    got_free(&g);
    free(t.p);
}

/* ---- the recorded Kimi stream ---- */

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct text t = {NULL, 0, 0};
    char chunk[4096];
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0) {
            break;
        }
        text_add(&t, chunk, n);
    }
    fclose(f);
    *len = t.len;
    return t.p;
}

static void
test_recorded_stream(const char *dir)
{
    char path[4096];
    size_t len = 0;
    struct got g;

    snprintf(path, sizeof(path), "%s/kimi-k2.5-reasoning-stream.sse", dir);
    char *in = read_file(path, &len);
    if (in == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
    }
    CHECK(in != NULL);
    if (in == NULL) {
        return;
    }
    check_all_splits("recorded-stream", in, len, 0, &g);
    CHECK(g.st == KIMI_OK && g.pending == 0);
    CHECK(g.n == 18);
    int ok = g.n > 0;
    for (size_t i = 0; ok && i + 1 < g.n; i++) {
        if (g.ev[i].data[0] != '{' || g.ev[i].type_len != 0) {
            ok = 0;
        }
    }
    CHECK(ok);
    CHECK(g.n > 0 && strcmp(g.ev[g.n - 1].data, "[DONE]") == 0);

    struct got h;
    got_init(&h);
    feed_chunked(in, len, 16384, 0, &h);
    CHECK(got_equal(&g, &h));
    got_free(&h);
    got_free(&g);
    free(in);
}

/* ---- API contract ---- */

static void
test_callback_error_stops(void)
{
    static const char in[] = "data:a\n\ndata:b\n\ndata:c\n\n";
    struct got g;

    got_init(&g);
    g.stop_after = 1;
    feed_whole(in, sizeof(in) - 1, 0, &g);
    CHECK(g.st == KIMI_ESERVER);
    CHECK_STR(g.err_message, "stop after 1");
    CHECK(g.n == 1 && strcmp(g.ev[0].data, "a") == 0);
    got_free(&g);

    for (size_t cut = 0; cut < sizeof(in); cut++) {
        got_init(&g);
        g.stop_after = 2;
        feed_split(in, sizeof(in) - 1, cut, 0, &g);
        if (g.st != KIMI_ESERVER || g.n != 2) {
            fprintf(stderr, "callback-error: split at %zu\n", cut);
            CHECK(0);
        }
        got_free(&g);
    }
}

static void
test_empty_and_null(void)
{
    struct kimi_sse sse;
    struct kimi_error err;
    struct got g;

    kimi_error_clear(&err);
    got_init(&g);
    kimi_sse_init(&sse, 0);
    CHECK(kimi_sse_feed(&sse, NULL, 0, on_event, &g, &err) == KIMI_OK);
    CHECK(kimi_sse_feed(&sse, "", 0, on_event, &g, &err) == KIMI_OK);
    CHECK(kimi_sse_pending(&sse) == 0);
    /* The BOM check survives empty feeds. */
    CHECK(kimi_sse_feed(&sse, "\xef", 1, on_event, &g, &err) == KIMI_OK);
    CHECK(kimi_sse_feed(&sse, NULL, 0, on_event, &g, &err) == KIMI_OK);
    CHECK(kimi_sse_feed(&sse, "\xbb\xbf" "data:1\n\n", 10, on_event, &g,
                        &err) == KIMI_OK);
    CHECK(g.n == 1 && strcmp(g.ev[0].data, "1") == 0);
    /* No callback: events are parsed and dropped. */
    CHECK(kimi_sse_feed(&sse, "data:2\n\n", 8, NULL, NULL, &err) == KIMI_OK);
    CHECK(g.n == 1);
    /* A NULL error record is allowed. */
    CHECK(kimi_sse_feed(&sse, "data:3\n\n", 8, on_event, &g, NULL)
          == KIMI_OK);
    CHECK(g.n == 2);
    CHECK(sse.offset == 1 + 10 + 8 + 8);
    kimi_sse_free(&sse);
    got_free(&g);
}

static void
test_pending(void)
{
    struct kimi_sse sse;
    struct kimi_error err;
    struct got g;

    got_init(&g);
    kimi_sse_init(&sse, 0);
    CHECK(kimi_sse_pending(&sse) == 0);
    CHECK(kimi_sse_feed(&sse, ":comment\n", 9, on_event, &g, &err)
          == KIMI_OK);
    CHECK(kimi_sse_pending(&sse) == 0);
    CHECK(kimi_sse_feed(&sse, "e", 1, on_event, &g, &err) == KIMI_OK);
    CHECK(kimi_sse_pending(&sse) == 1);
    CHECK(kimi_sse_feed(&sse, "vent: ping\n", 11, on_event, &g, &err)
          == KIMI_OK);
    CHECK(kimi_sse_pending(&sse) == 1);
    CHECK(kimi_sse_feed(&sse, "\n", 1, on_event, &g, &err) == KIMI_OK);
    CHECK(kimi_sse_pending(&sse) == 0 && g.n == 0);
    CHECK(kimi_sse_feed(&sse, "data:x\n\n", 8, on_event, &g, &err)
          == KIMI_OK);
    CHECK(kimi_sse_pending(&sse) == 0 && g.n == 1);
    kimi_sse_free(&sse);
    got_free(&g);
}

static void
test_reset(void)
{
    struct kimi_sse sse;
    struct kimi_error err;
    struct got g;

    got_init(&g);
    kimi_sse_init(&sse, 0);
    CHECK(kimi_sse_feed(&sse, "retry:5\nid:9\ndata:1\n\nevent:t\ndata:2", 35,
                        on_event, &g, &err) == KIMI_OK);
    CHECK(g.n == 1 && kimi_sse_pending(&sse) == 1 && sse.retry_ms == 5);
    kimi_sse_reset(&sse);
    CHECK(kimi_sse_pending(&sse) == 0 && sse.retry_ms == -1);
    CHECK(sse.offset == 0);
    /* A BOM is stripped again, the id and the unfinished event are gone. */
    CHECK(kimi_sse_feed(&sse, "\xef\xbb\xbf" "data:3\n\n", 11, on_event, &g,
                        &err) == KIMI_OK);
    CHECK(g.n == 2);
    CHECK(g.n == 2 && strcmp(g.ev[1].data, "3") == 0
          && g.ev[1].id_len == 0 && g.ev[1].type_len == 0);
    kimi_sse_free(&sse);

    /* Reset after a failure makes the parser usable again. */
    kimi_sse_init(&sse, 4);
    CHECK(kimi_sse_feed(&sse, "data:12345\n\n", 12, on_event, &g, &err)
          == KIMI_ETOOBIG);
    CHECK(err.offset == 9);
    kimi_sse_reset(&sse);
    CHECK(kimi_sse_feed(&sse, "data:1234\n\n", 11, on_event, &g, &err)
          == KIMI_OK);
    CHECK(g.n == 3 && strcmp(g.ev[2].data, "1234") == 0);
    kimi_sse_free(&sse);
    got_free(&g);
}

static void
test_free_idempotent(void)
{
    struct kimi_sse sse;
    struct kimi_error err;

    memset(&sse, 0, sizeof(sse));
    kimi_sse_free(&sse);
    kimi_sse_free(&sse);
    kimi_sse_init(&sse, 0);
    CHECK(kimi_sse_feed(&sse, "id:1\nevent:e\ndata:x\n", 20, NULL, NULL,
                        &err) == KIMI_OK);
    kimi_sse_free(&sse);
    kimi_sse_free(&sse);
    CHECK(sse.data.data == NULL && sse.id.data == NULL);
    CHECK(sse.type.data == NULL && sse.id_line.data == NULL);

    /* A cap too large to add the LF's byte to is clamped, not wrapped. */
    kimi_sse_init(&sse, SIZE_MAX);
    CHECK(sse.max_event < sse.data.max && sse.data.max <= SIZE_MAX / 2);
    CHECK(kimi_sse_feed(&sse, "data:x\n\n", 8, NULL, NULL, &err)
          == KIMI_OK);
    kimi_sse_free(&sse);
}

/* Fail the n-th allocation for n = 1, 2, ... until a feed succeeds: every
 * failure is ENOMEM, and the leak checker sees nothing left behind. */
static void
test_alloc_failures(void)
{
    struct text t = {NULL, 0, 0};
    static const size_t chunks[] = {0, 1, 7, 16384};

    TEXT_ADD(&t, "id:first\nevent:e\ndata:a\n\nid:");
    text_fill(&t, 'i', 300);
    TEXT_ADD(&t, "\nevent:");
    text_fill(&t, 't', 300);
    TEXT_ADD(&t, "\ndata:");
    text_fill(&t, 'd', 5000);
    TEXT_ADD(&t, "\ndata\n\nid:x\n\n");

    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        int all_enomem = 1;
        int offsets_ok = 1;
        long n;
        enum kimi_status st = KIMI_ENOMEM;

        for (n = 1; n < 200 && st != KIMI_OK; n++) {
            struct got g;
            got_init(&g);
            kimi_alloc_fail_after(n);
            if (chunks[c] == 0) {
                feed_whole(t.p, t.len, 0, &g);
            }
            else {
                feed_chunked(t.p, t.len, chunks[c], 0, &g);
            }
            kimi_alloc_fail_after(0);
            st = g.st;
            if (st != KIMI_OK && st != KIMI_ENOMEM) {
                all_enomem = 0;
            }
            if (st == KIMI_ENOMEM && g.err_offset >= t.len) {
                offsets_ok = 0;
            }
            if (st == KIMI_OK && (g.n != 2 || g.ev[1].data_len != 5001)) {
                all_enomem = 0;
            }
            got_free(&g);
        }
        CHECK(all_enomem);
        CHECK(offsets_ok);
        CHECK(st == KIMI_OK);
        CHECK(n > 2);
    }
    free(t.p);

    /* The LF appended for a line ended by CR (or without a value) may be
     * the first allocation; its failure names the line end. */
    struct got g;
    got_init(&g);
    kimi_alloc_fail_after(1);
    feed_whole("data\r\r", 6, 0, &g);
    kimi_alloc_fail_after(0);
    CHECK(g.st == KIMI_ENOMEM && g.err_offset == 4 && g.n == 0);
    got_free(&g);
}

int
main(int argc, char **argv)
{
    const char *dir = "tests/vectors";

    if (argc > 1) {
        dir = argv[1];
    }
    else if (getenv("KIMI_VECTORS") != NULL) {
        dir = getenv("KIMI_VECTORS");
    }
    test_vectors();
    test_named_chunks();
    test_format_comments();
    test_many();
    test_unterminated();
    test_skipped_lines_not_buffered();
    test_cap();
    test_large_event();
    test_recorded_stream(dir);
    test_callback_error_stops();
    test_empty_and_null();
    test_pending();
    test_reset();
    test_free_idempotent();
    test_alloc_failures();
    return check_report("sse");
}

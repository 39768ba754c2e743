/* test_http.c - unit tests for http.c and pool.c over real sockets.
 *
 * A server thread in this program listens on 127.0.0.1 and answers each
 * request with a scripted reply: byte pieces with small delays, then it
 * keeps the connection, closes it or stalls.  The tests drive the core the
 * way ext/python does.  Nothing here talks to any other address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "chunk.h"
#include "events.h"
#include "drive.h"
#include "pool.h"
#include "run.h"
#include "sockets.h"
#include "transfer.h"

#define POLL_MS 100             /* the binding's wait slice */
#define WAIT_LIMIT_MS 8000      /* no wait loop in a test runs longer */
#define CONNECT_TIMEOUT_MS 2000
#define IDLE_TIMEOUT_MS 5000

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    if (ms > 0) {
        usleep((useconds_t)ms * 1000);
    }
}

/* ---- the scripted loopback server ------------------------------------- */

#define SRV_MAX_CONNS 16
/* Room for a form over libcurl's 1 MiB "Expect: 100-continue" mark. */
#define SRV_REQ_MAX ((size_t)2 * 1024 * 1024)
#define SRV_MAX_PIECES 32
#define SRV_MAX_REPLIES 8
#define SRV_ARENA ((size_t)4 * 1024 * 1024)
#define SRV_STALL_MS 5000
#define SRV_POLL_MS 20
#define SRV_IDLE_WAIT_MS 6000

enum srv_end {
    SRV_KEEP,       /* keep the connection for the next request */
    SRV_CLOSE,      /* close it after the last piece */
    SRV_STALL       /* send nothing more until released or the peer left */
};

struct srv_piece {
    const char *data;   /* in the arena */
    size_t len;
    int delay_ms;       /* sleep before sending the piece */
};

struct srv_reply {
    struct srv_piece pieces[SRV_MAX_PIECES];
    size_t n_pieces;
    enum srv_end end;
};

struct srv_conn {
    int fd;                 /* -1: free slot */
    unsigned long used;     /* last activity, to evict the oldest */
    int continued;          /* 100 Continue sent for the request read */
    size_t len;
    char buf[SRV_REQ_MAX];
};

struct server {
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;

    /* Shared, under lock. */
    int stop;
    int stall_release;
    int busy;               /* a reply is being sent (or stalled) */
    struct srv_reply replies[SRV_MAX_REPLIES];
    size_t n_replies;
    size_t next_reply;
    int accepted;           /* connections accepted since the start */
    int served;             /* requests answered since the start */
    int unexpected;         /* requests that found no scripted reply */
    char request[SRV_REQ_MAX];  /* the last request: head and body */
    size_t request_len;
    size_t head_len;

    /* Written by the test thread while the server is idle; read by the
     * server only after taking a reply under the lock. */
    char arena[SRV_ARENA];
    size_t arena_used;

    /* Server thread only. */
    struct srv_conn conns[SRV_MAX_CONNS];
    unsigned long clock;
};

static struct server srv;

static int
srv_get(const int *field)
{
    pthread_mutex_lock(&srv.lock);
    int value = *field;
    pthread_mutex_unlock(&srv.lock);
    return value;
}

static int
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void
srv_drop(struct srv_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    c->len = 0;
    c->continued = 0;
}

/* Hold the connection silent until released, stopped, the peer closes,
 * or SRV_STALL_MS pass. */
static void
srv_stall(int fd)
{
    int64_t end = now_ms() + SRV_STALL_MS;
    while (now_ms() < end && !srv_get(&srv.stop)
           && !srv_get(&srv.stall_release)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, SRV_POLL_MS) > 0) {
            char scratch[4096];
            ssize_t got = recv(fd, scratch, sizeof(scratch), 0);
            if (got <= 0) {
                return;
            }
        }
    }
}

static size_t
content_length(const char *head, size_t head_len)
{
    static const char name[] = "content-length:";
    const char *p = head;
    const char *end = head + head_len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol != NULL ? eol : end;
        if ((size_t)(line_end - p) > sizeof(name) - 1
            && strncasecmp(p, name, sizeof(name) - 1) == 0) {
            /* The head ends with CRLF CRLF, so strtoul stops inside it. */
            return strtoul(p + sizeof(name) - 1, NULL, 10);
        }
        p = line_end + 1;
    }
    return 0;
}

/* Answer every complete request in c's buffer with the next scripted
 * reply.  Returns 0 when the connection is gone. */
static int
srv_serve(struct srv_conn *c)
{
    static const char unscripted[] =
        "HTTP/1.1 500 Unscripted\r\nContent-Length: 0\r\n\r\n";

    for (;;) {
        struct srv_reply reply;
        char *head_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (head_end == NULL) {
            return 1;
        }
        size_t head_len = (size_t)(head_end - c->buf) + 4;
        size_t body_len = content_length(c->buf, head_len);
        if (body_len > SRV_REQ_MAX - head_len) {
            srv_drop(c);
            return 0;
        }
        size_t total = head_len + body_len;
        if (c->len < total) {
            /* libcurl waits up to a second for this before a large body. */
            static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (!c->continued
                && memmem(c->buf, head_len, "\r\nExpect: 100-continue\r\n",
                          24) != NULL) {
                c->continued = 1;
                if (send_all(c->fd, go_on, sizeof(go_on) - 1) != 0) {
                    srv_drop(c);
                    return 0;
                }
            }
            return 1;
        }
        c->continued = 0;

        memset(&reply, 0, sizeof(reply));
        pthread_mutex_lock(&srv.lock);
        memcpy(srv.request, c->buf, total);
        srv.request_len = total;
        srv.head_len = head_len;
        srv.served++;
        int scripted = srv.next_reply < srv.n_replies;
        if (scripted) {
            reply = srv.replies[srv.next_reply];
            srv.next_reply++;
            srv.busy = 1;
        }
        else {
            srv.unexpected++;
        }
        pthread_mutex_unlock(&srv.lock);

        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
        if (!scripted) {
            if (send_all(c->fd, unscripted, sizeof(unscripted) - 1) != 0) {
                srv_drop(c);
                return 0;
            }
            continue;
        }

        int ok = 1;
        for (size_t i = 0; i < reply.n_pieces && ok; i++) {
            sleep_ms(reply.pieces[i].delay_ms);
            ok = send_all(c->fd, reply.pieces[i].data,
                          reply.pieces[i].len) == 0;
        }
        if (ok && reply.end == SRV_STALL) {
            srv_stall(c->fd);
        }
        int keep = ok && reply.end == SRV_KEEP;
        if (!keep) {
            srv_drop(c);
        }
        pthread_mutex_lock(&srv.lock);
        srv.busy = 0;
        pthread_mutex_unlock(&srv.lock);
        if (!keep) {
            return 0;
        }
    }
}

static void
srv_accept(void)
{
    int fd = accept(srv.listen_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    int one = 1;
    struct timeval send_timeout = {.tv_sec = 3, .tv_usec = 0};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
               sizeof(send_timeout));

    struct srv_conn *slot = NULL;
    for (size_t i = 0; i < SRV_MAX_CONNS; i++) {
        struct srv_conn *c = &srv.conns[i];
        if (c->fd < 0) {
            slot = c;
            break;
        }
        if (slot == NULL || c->used < slot->used) {
            slot = c;
        }
    }
    srv_drop(slot);         /* no-op on a free slot; else the oldest */
    slot->fd = fd;
    slot->len = 0;
    srv.clock++;
    slot->used = srv.clock;
    pthread_mutex_lock(&srv.lock);
    srv.accepted++;
    pthread_mutex_unlock(&srv.lock);
}

static void *
srv_main(void *arg)
{
    (void)arg;
    while (!srv_get(&srv.stop)) {
        struct pollfd fds[1 + SRV_MAX_CONNS];
        size_t slot_of[1 + SRV_MAX_CONNS];
        nfds_t n = 0;

        fds[n].fd = srv.listen_fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        slot_of[n] = 0;
        n++;
        for (size_t i = 0; i < SRV_MAX_CONNS; i++) {
            if (srv.conns[i].fd >= 0) {
                fds[n].fd = srv.conns[i].fd;
                fds[n].events = POLLIN;
                fds[n].revents = 0;
                slot_of[n] = i;
                n++;
            }
        }
        if (poll(fds, n, SRV_POLL_MS) <= 0) {
            continue;
        }
        /* Connections first: accepting may evict (and reuse an fd). */
        for (nfds_t j = 1; j < n; j++) {
            struct srv_conn *c = &srv.conns[slot_of[j]];
            if (fds[j].revents == 0 || c->fd != fds[j].fd) {
                continue;
            }
            ssize_t got = recv(c->fd, c->buf + c->len, SRV_REQ_MAX - c->len,
                               0);
            if (got <= 0) {
                srv_drop(c);
                continue;
            }
            c->len += (size_t)got;
            srv.clock++;
            c->used = srv.clock;
            (void)srv_serve(c);
        }
        if (fds[0].revents & POLLIN) {
            srv_accept();
        }
    }
    for (size_t i = 0; i < SRV_MAX_CONNS; i++) {
        srv_drop(&srv.conns[i]);
    }
    return NULL;
}

static int
srv_start(void)
{
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    int one = 1;

    pthread_mutex_init(&srv.lock, NULL);
    for (size_t i = 0; i < SRV_MAX_CONNS; i++) {
        srv.conns[i].fd = -1;
    }
    srv.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv.listen_fd < 0) {
        return -1;
    }
    setsockopt(srv.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(srv.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0
        || listen(srv.listen_fd, 16) != 0
        || getsockname(srv.listen_fd, (struct sockaddr *)&addr, &addr_len)
               != 0) {
        close(srv.listen_fd);
        return -1;
    }
    srv.port = ntohs(addr.sin_port);
    if (pthread_create(&srv.thread, NULL, srv_main, NULL) != 0) {
        close(srv.listen_fd);
        return -1;
    }
    return 0;
}

static void
srv_stop(void)
{
    pthread_mutex_lock(&srv.lock);
    srv.stop = 1;
    pthread_mutex_unlock(&srv.lock);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
    pthread_mutex_destroy(&srv.lock);
}

/* Wait (bounded) until no reply is being sent. */
static int
srv_wait_idle(void)
{
    int64_t end = now_ms() + SRV_IDLE_WAIT_MS;
    while (srv_get(&srv.busy)) {
        if (now_ms() >= end) {
            fprintf(stderr, "server: still busy after %d ms\n",
                    SRV_IDLE_WAIT_MS);
            return 0;
        }
        sleep_ms(2);
    }
    return 1;
}

/* Start a test's script: no replies, an empty arena. */
static void
srv_begin(void)
{
    CHECK(srv_wait_idle());
    pthread_mutex_lock(&srv.lock);
    srv.n_replies = 0;
    srv.next_reply = 0;
    srv.stall_release = 0;
    pthread_mutex_unlock(&srv.lock);
    srv.arena_used = 0;
}

/* End a test: stalls released, the server idle, every scripted reply
 * requested and no request left unanswered. */
static void
srv_finish(void)
{
    pthread_mutex_lock(&srv.lock);
    srv.stall_release = 1;
    pthread_mutex_unlock(&srv.lock);
    CHECK(srv_wait_idle());
    pthread_mutex_lock(&srv.lock);
    size_t used = srv.next_reply;
    size_t scripted = srv.n_replies;
    int unexpected = srv.unexpected;
    pthread_mutex_unlock(&srv.lock);
    CHECK(used == scripted);
    CHECK(unexpected == 0);
}

static struct srv_reply *
srv_reply(enum srv_end end)
{
    pthread_mutex_lock(&srv.lock);
    if (srv.n_replies == SRV_MAX_REPLIES) {
        fprintf(stderr, "test bug: too many replies\n");
        exit(2);
    }
    struct srv_reply *r = &srv.replies[srv.n_replies];
    srv.n_replies++;
    r->n_pieces = 0;
    r->end = end;
    pthread_mutex_unlock(&srv.lock);
    return r;
}

static char *
srv_alloc(size_t n)
{
    if (n > SRV_ARENA - srv.arena_used) {
        fprintf(stderr, "test bug: server arena full\n");
        exit(2);
    }
    char *p = srv.arena + srv.arena_used;
    srv.arena_used += n;
    return p;
}

static void
srv_add(struct srv_reply *r, int delay_ms, const char *data, size_t len)
{
    pthread_mutex_lock(&srv.lock);
    if (r->n_pieces == SRV_MAX_PIECES) {
        fprintf(stderr, "test bug: too many pieces\n");
        exit(2);
    }
    r->pieces[r->n_pieces].data = data;
    r->pieces[r->n_pieces].len = len;
    r->pieces[r->n_pieces].delay_ms = delay_ms;
    r->n_pieces++;
    pthread_mutex_unlock(&srv.lock);
}

static void
srv_bytes(struct srv_reply *r, int delay_ms, const char *data, size_t len)
{
    char *copy = srv_alloc(len);
    memcpy(copy, data, len);
    srv_add(r, delay_ms, copy, len);
}

static void
srv_text(struct srv_reply *r, int delay_ms, const char *text)
{
    srv_bytes(r, delay_ms, text, strlen(text));
}

static void srv_textf(struct srv_reply *r, int delay_ms, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

static void
srv_textf(struct srv_reply *r, int delay_ms, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        fprintf(stderr, "test bug: piece too long\n");
        exit(2);
    }
    srv_bytes(r, delay_ms, text, (size_t)n);
}

/* One HTTP/1.1 chunk (size line, data, CRLF) as one piece. */
static void
srv_chunk(struct srv_reply *r, int delay_ms, const char *data, size_t len)
{
    char size_line[32];
    int k = snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
    char *p = srv_alloc((size_t)k + len + 2);
    memcpy(p, size_line, (size_t)k);
    memcpy(p + k, data, len);
    memcpy(p + k + len, "\r\n", 2);
    srv_add(r, delay_ms, p, (size_t)k + len + 2);
}

static void
srv_chunk_text(struct srv_reply *r, int delay_ms, const char *text)
{
    srv_chunk(r, delay_ms, text, strlen(text));
}

static const char stream_head[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-cache\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n";

static const char last_chunk[] = "0\r\n\r\n";

/* A complete reply with a Content-Length body. */
static void
srv_whole(struct srv_reply *r, const char *status_line,
          const char *content_type, const char *body, size_t len)
{
    srv_textf(r, 0,
              "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "\r\n",
              status_line, content_type, len);
    if (len > 0) {
        srv_bytes(r, 0, body, len);
    }
}

static int
srv_accepted(void)
{
    return srv_get(&srv.accepted);
}

/* Copy of the last request the server read (head, then body). */
static char seen[SRV_REQ_MAX];
static size_t seen_len;
static size_t seen_head_len;

static void
srv_take_request(void)
{
    pthread_mutex_lock(&srv.lock);
    memcpy(seen, srv.request, srv.request_len);
    seen_len = srv.request_len;
    seen_head_len = srv.head_len;
    pthread_mutex_unlock(&srv.lock);
}

/* Value of header name in the seen request head (case-insensitive name),
 * or NULL. */
static const char *
seen_header(const char *name)
{
    static char value[256];
    size_t name_len = strlen(name);
    const char *p = seen;
    const char *end = seen + seen_head_len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol != NULL ? eol : end;
        if ((size_t)(line_end - p) > name_len && p[name_len] == ':'
            && strncasecmp(p, name, name_len) == 0) {
            const char *v = p + name_len + 1;
            while (v < line_end && *v == ' ') {
                v++;
            }
            size_t n = (size_t)(line_end - v);
            if (n > 0 && v[n - 1] == '\r') {
                n--;
            }
            if (n >= sizeof(value)) {
                n = sizeof(value) - 1;
            }
            memcpy(value, v, n);
            value[n] = '\0';
            return value;
        }
        p = line_end + 1;
    }
    return NULL;
}

static int
seen_starts_with(const char *prefix)
{
    size_t n = strlen(prefix);
    return seen_len >= n && memcmp(seen, prefix, n) == 0;
}

static int
seen_header_is(const char *name, const char *want)
{
    const char *got = seen_header(name);
    return got != NULL && strcmp(got, want) == 0;
}

/* ---- driving the core as the binding does ----------------------------- */

static struct kimi_pool pool;

struct call {
    char url[128];
    struct kimi_request req;
    struct kimi_lane *lane;
    struct kimi_transfer t;
    struct kimi_error err;
};

typedef enum kimi_status (*step_fn)(struct kimi_transfer *t, int poll_ms,
                                    struct kimi_error *err);

static void
call_init(struct call *c, const char *method, const char *path, int stream)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d%s", srv.port,
             path);
    c->req.method = method;
    c->req.url = c->url;
    c->req.timeouts.connect_ms = CONNECT_TIMEOUT_MS;
    c->req.timeouts.read_ms = IDLE_TIMEOUT_MS;
    c->req.tls.verify = 1;
    c->req.stream = stream;
}

/* Check out a lane and start the transfer on it. */
static enum kimi_status
call_start(struct call *c, struct kimi_pool *p)
{
    enum kimi_status st = kimi_pool_checkout(p, &c->lane, &c->err);
    if (st != KIMI_OK) {
        c->lane = NULL;
        return st;
    }
    st = kimi_transfer_start(&c->t, c->lane->easy, p->share, &c->req,
                             &c->err);
    if (st == KIMI_OK) {
        st = kimi_transfer_attach(&c->t, c->lane->multi, &c->err);
    }
    return st;
}

/* Repeat a step while it says KIMI_AGAIN, for at most WAIT_LIMIT_MS. */
static enum kimi_status
call_wait(struct call *c, step_fn step)
{
    int64_t end = now_ms() + WAIT_LIMIT_MS;
    for (;;) {
        enum kimi_status st = step(&c->t, POLL_MS, &c->err);
        if (st != KIMI_AGAIN) {
            return st;
        }
        if (now_ms() >= end) {
            fprintf(stderr, "test_http: a step kept saying AGAIN\n");
            return KIMI_ECANCELLED;
        }
    }
}

/* client.c: start, then read the whole body. */
static enum kimi_status
call_fetch(struct call *c, struct kimi_pool *p)
{
    enum kimi_status st = call_start(c, p);
    if (st == KIMI_OK) {
        st = call_wait(c, kimi_drive_body);
    }
    return st;
}

/* stream.c: start, then wait for the status and headers. */
static enum kimi_status
call_open(struct call *c, struct kimi_pool *p)
{
    enum kimi_status st = call_start(c, p);
    if (st == KIMI_OK) {
        st = call_wait(c, kimi_drive_headers);
    }
    return st;
}

static enum kimi_status
call_event(struct call *c, cJSON **event)
{
    int64_t end = now_ms() + WAIT_LIMIT_MS;
    *event = NULL;
    for (;;) {
        enum kimi_status st = kimi_drive_event(&c->t, POLL_MS, event,
                                              &c->err);
        if (st != KIMI_AGAIN) {
            return st;
        }
        if (now_ms() >= end) {
            fprintf(stderr, "test_http: next_event kept saying AGAIN\n");
            return KIMI_ECANCELLED;
        }
    }
}

static void
call_end(struct call *c, struct kimi_pool *p)
{
    kimi_transfer_free(&c->t);
    if (c->lane != NULL) {
        kimi_pool_checkin(p, c->lane);
    }
    c->lane = NULL;
}

static void
report(const char *wanted, enum kimi_status st, const struct call *c)
{
    fprintf(stderr, "  wanted %s, got %s: %s\n", wanted, kimi_strerror(st),
            st != KIMI_OK ? c->err.message : "");
}

/* The next event is an object whose number "n" equals n. */
static int
event_n_is(struct call *c, int n)
{
    cJSON *event = NULL;
    enum kimi_status st = call_event(c, &event);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(event, "n");
    int ok = st == KIMI_OK && cJSON_IsNumber(item) && item->valueint == n;
    if (!ok) {
        char wanted[32];
        snprintf(wanted, sizeof(wanted), "event n=%d", n);
        report(wanted, st, c);
    }
    cJSON_Delete(event);
    return ok;
}

/* The next event is a chunk whose delta content is want. */
static int
event_content_is(struct call *c, const char *want)
{
    cJSON *event = NULL;
    enum kimi_status st = call_event(c, &event);
    const char *got = st == KIMI_OK ? kimi_chunk_content(event) : NULL;
    int ok = got != NULL && strcmp(got, want) == 0;
    if (!ok) {
        report("a chunk with content", st, c);
    }
    cJSON_Delete(event);
    return ok;
}

/* The next step ends with status want and hands out no event. */
static int
event_status_is(struct call *c, enum kimi_status want)
{
    cJSON *event = NULL;
    enum kimi_status st = call_event(c, &event);
    int ok = st == want && event == NULL;
    if (!ok) {
        report(kimi_strerror(want), st, c);
    }
    cJSON_Delete(event);
    return ok;
}

/* ---- 1. non-stream GET ------------------------------------------------ */

static void
test_get_returns_status_exact_body_and_headers(void)
{
    static const char body[] =
        "{\"object\":\"list\",\"data\":[{\"id\":\"kimi-k2\"}],"
        "\"note\":\"caf\xc3\xa9\"}";
    size_t body_len = strlen(body);
    struct call c;
    char value[64];
    char small[4];

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_textf(r, 0,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              "X-Request-Id: req-42  \r\nContent-Length: %zu\r\n\r\n",
              body_len);
    srv_bytes(r, 5, body, 10);
    srv_bytes(r, 5, body + 10, body_len - 10);

    call_init(&c, "GET", "/v1/models", 0);
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 200);
    CHECK_MEM(c.t.body.data, c.t.body.len, body, body_len);
    CHECK(c.t.body_bytes == body_len);

    CHECK(kimi_transfer_header(&c.t, "x-request-id", value, sizeof(value))
          == 1);
    CHECK_STR(value, "req-42");
    CHECK(kimi_transfer_header(&c.t, "CONTENT-TYPE", value, sizeof(value))
          == 1);
    CHECK_STR(value, "application/json");
    CHECK(kimi_transfer_header(&c.t, "X-Request-Id", small, sizeof(small))
          == 1);
    CHECK_STR(small, "req");
    snprintf(value, sizeof(value), "untouched");
    CHECK(kimi_transfer_header(&c.t, "x-absent", value, sizeof(value)) == 0);
    CHECK(kimi_transfer_header(&c.t, "x-request", value, sizeof(value))
          == 0);
    CHECK_STR(value, "untouched");

    /* The walk gives every header in order, values trimmed. */
    static const char *const want[][2] = {
        {"Content-Type", "application/json"},
        {"X-Request-Id", "req-42"},
        {"Content-Length", NULL},
    };
    size_t pos = 0;
    size_t count = 0;
    const char *name;
    const char *v;
    size_t name_len;
    size_t v_len;
    while (kimi_transfer_next_header(&c.t, &pos, &name, &name_len, &v,
                                     &v_len)) {
        if (count < 3) {
            CHECK_MEM(name, name_len, want[count][0],
                      strlen(want[count][0]));
            if (want[count][1] != NULL) {
                CHECK_MEM(v, v_len, want[count][1], strlen(want[count][1]));
            }
        }
        count++;
    }
    CHECK(count == 3);
    call_end(&c, &pool);

    srv_take_request();
    CHECK(seen_starts_with("GET /v1/models HTTP/1.1\r\n"));
    CHECK(seen_len == seen_head_len);
    srv_finish();

    /* Only the final header block counts, not an interim 1xx one. */
    srv_begin();
    r = srv_reply(SRV_KEEP);
    srv_text(r, 0,
             "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
             "\r\n");
    srv_text(r, 5,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}");
    call_init(&c, "GET", "/v1/models", 0);
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 200);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{}", 2);
    CHECK(kimi_transfer_header(&c.t, "link", value, sizeof(value)) == 0);
    CHECK(kimi_transfer_header(&c.t, "content-length", value, sizeof(value))
          == 1);
    CHECK_STR(value, "2");
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 2. POST body and request headers --------------------------------- */

static void
test_post_body_and_headers_arrive_exactly(void)
{
    static const char *const headers[] = {
        "Authorization: Bearer sk-test-123",
        "Content-Type: application/json",
        "X-Trace-Id: t-9",
    };
    char sent[3000];
    char body[sizeof(sent)];
    struct call c;

    /* Every byte value, NUL, CR and LF included. */
    for (size_t i = 0; i < sizeof(sent); i++) {
        sent[i] = (char)((i * 7 + 3) % 256);
    }
    memcpy(body, sent, sizeof(body));

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"ok\":true}", 11);

    call_init(&c, "POST", "/v1/chat/completions", 0);
    c.req.headers = headers;
    c.req.n_headers = sizeof(headers) / sizeof(headers[0]);
    c.req.body = body;
    c.req.body_len = sizeof(body);
    CHECK(call_start(&c, &pool) == KIMI_OK);
    memset(body, 'X', sizeof(body));    /* the transfer holds a copy */
    CHECK(call_wait(&c, kimi_drive_body) == KIMI_OK);
    CHECK(c.t.status == 200);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"ok\":true}", 11);
    call_end(&c, &pool);

    srv_take_request();
    CHECK(seen_starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
    CHECK(seen_header_is("authorization", "Bearer sk-test-123"));
    CHECK(seen_header_is("content-type", "application/json"));
    CHECK(seen_header_is("x-trace-id", "t-9"));
    CHECK(seen_header_is("content-length", "3000"));
    CHECK(seen_header("expect") == NULL);
    CHECK_MEM(seen + seen_head_len, seen_len - seen_head_len, sent,
              sizeof(sent));
    srv_finish();

    /* DELETE after a POST on the same lane: no body, no stale option. */
    srv_begin();
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"deleted\":true}", 16);
    call_init(&c, "DELETE", "/v1/files/f-1", 0);
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 200);
    call_end(&c, &pool);
    srv_take_request();
    CHECK(seen_starts_with("DELETE /v1/files/f-1 HTTP/1.1\r\n"));
    CHECK(seen_len == seen_head_len);
    CHECK(seen_header("content-length") == NULL
          || seen_header_is("content-length", "0"));
    srv_finish();
}

/* ---- 3. a chunked event stream split anywhere ------------------------- */

static void
test_stream_split_mid_event_and_mid_utf8_yields_events_then_done(void)
{
    static const char events[] =
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"H\xc3\xa9\"}}]}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"llo w\xc3\xb6rld\"}}]}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,"
        "\"delta\":{\"content\":\"\xe6\x97\xa5\xe6\x9c\xac \xe2\x9c\x93\"}}]}"
        "\n\n"
        "data: [DONE]\n\n";
    size_t len = strlen(events);
    const char *second = strstr(events + 1, "data: ");
    const char *third = strstr(second + 1, "data: ");
    /* Cut inside a 2-byte char, inside the second event's name, inside
     * two 3-byte chars, between the two LFs that end the third event. */
    size_t cuts[] = {
        (size_t)(strstr(events, "\xc3\xa9") - events) + 1,
        (size_t)(second - events) + 3,
        (size_t)(strstr(third, "\xe6\x97\xa5") - events) + 2,
        (size_t)(strstr(third, "\xe2\x9c\x93") - events) + 1,
        (size_t)(strstr(third, "\n\n") - events) + 1,
        len,
    };
    struct call c;
    char value[64];

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_text(r, 0, stream_head);
    size_t from = 0;
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        srv_chunk(r, 5, events + from, cuts[i] - from);
        from = cuts[i];
    }
    srv_text(r, 0, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    c.req.body = "{\"stream\":true}";
    c.req.body_len = strlen(c.req.body);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 200);
    CHECK(c.t.event_stream == 1);
    CHECK(kimi_transfer_header(&c.t, "cache-control", value, sizeof(value))
          == 1);
    CHECK_STR(value, "no-cache");

    cJSON *event = NULL;
    CHECK(call_event(&c, &event) == KIMI_OK);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(event, "id");
    CHECK(cJSON_IsString(id) && strcmp(id->valuestring, "c1") == 0);
    CHECK(event != NULL && kimi_chunk_content(event) != NULL
          && strcmp(kimi_chunk_content(event), "H\xc3\xa9") == 0);
    cJSON_Delete(event);
    CHECK(event_content_is(&c, "llo w\xc3\xb6rld"));
    CHECK(event_content_is(&c, "\xe6\x97\xa5\xe6\x9c\xac \xe2\x9c\x93"));
    CHECK(event_status_is(&c, KIMI_DONE));
    CHECK(event_status_is(&c, KIMI_DONE));      /* and it stays done */
    CHECK(c.t.body_bytes == len);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 4. streams cut short --------------------------------------------- */

static void
test_stream_ending_without_done_is_truncated(void)
{
    static const char one[] = "data: {\"n\":1}\n\n";
    static const char two[] = "data: {\"n\":2}\n\n";
    struct call c;

    /* A clean end of the chunked body, but no data: [DONE]. */
    srv_begin();
    struct srv_reply *r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, one);
    srv_chunk_text(r, 2, two);
    srv_text(r, 2, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_n_is(&c, 2));
    CHECK(event_status_is(&c, KIMI_ETRUNCATED));
    CHECK(c.err.status == KIMI_ETRUNCATED);
    CHECK(strstr(c.err.message, "[DONE]") != NULL);
    CHECK(strstr(c.err.message, "cut off") == NULL);
    CHECK(c.err.curl_code == 0);
    CHECK(c.err.http_status == 200);
    CHECK(c.err.offset == strlen(one) + strlen(two));
    call_end(&c, &pool);
    srv_finish();

    /* The same, with the last event begun but never finished. */
    srv_begin();
    r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, one);
    srv_chunk_text(r, 2, "data: {\"n\":2}");
    srv_text(r, 2, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_status_is(&c, KIMI_ETRUNCATED));
    CHECK(strstr(c.err.message, "[DONE]") != NULL);
    CHECK(strstr(c.err.message, "the last event was cut off") != NULL);
    call_end(&c, &pool);
    srv_finish();
}

static void
test_stream_cut_mid_chunk_is_truncated_with_curl_code(void)
{
    struct call c;

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, "data: {\"n\":1}\n\n");
    /* Announce 0x64 bytes, send 11, hang up. */
    srv_text(r, 5, "64\r\ndata: {\"n\":");

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_status_is(&c, KIMI_ETRUNCATED));
    CHECK(c.err.status == KIMI_ETRUNCATED);
    CHECK(c.err.curl_code != CURLE_OK);
    CHECK(c.err.http_status == 200);
    CHECK(strstr(c.err.message, "connection broke") != NULL);
    CHECK(strstr(c.err.message, "[DONE]") != NULL);
    call_end(&c, &pool);
    srv_finish();

    /* A cut after data: [DONE] loses nothing: the stream is done. */
    srv_begin();
    r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, "data: {\"n\":1}\n\ndata: [DONE]\n\n");
    srv_text(r, 5, "64\r\ndata: {\"n\":");

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_status_is(&c, KIMI_DONE));
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 5. malformed JSON ------------------------------------------------ */

static void
test_malformed_event_comes_after_the_queued_good_ones(void)
{
    static const char body[] =
        "data: {\"n\":1}\n\n"
        "data: {\"n\":2}\n\n"
        "data: {\"n\":\n\n"
        "data: {\"n\":3}\n\n";
    size_t good_len = 2 * strlen("data: {\"n\":1}\n\n");
    struct call c;

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, body);     /* all four in one write */
    srv_chunk_text(r, 2, "data: [DONE]\n\n");
    srv_text(r, 0, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_n_is(&c, 2));
    CHECK(event_status_is(&c, KIMI_EPROTO));
    CHECK(c.err.status == KIMI_EPROTO);
    CHECK(c.err.offset > good_len && c.err.offset <= strlen(body));
    CHECK(c.err.http_status == 200);
    CHECK(strstr(c.err.message, "invalid JSON") != NULL);
    /* Asking again repeats the failure; {"n":3} is never handed out. */
    memset(&c.err, 0, sizeof(c.err));
    CHECK(event_status_is(&c, KIMI_EPROTO));
    CHECK(c.err.offset > good_len);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 6. an error object in the stream --------------------------------- */

static void
test_error_object_event_is_a_server_error(void)
{
    struct call c;

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, "data: {\"n\":1}\n\n");
    srv_chunk_text(r, 2,
                   "data: {\"error\":{\"type\":\"server_error\","
                   "\"message\":\"boom\"}}\n\n");
    srv_chunk_text(r, 2, "data: [DONE]\n\n");
    srv_text(r, 0, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_status_is(&c, KIMI_ESERVER));
    CHECK(c.err.status == KIMI_ESERVER);
    CHECK(c.err.http_status == 200);
    CHECK(strstr(c.err.message, "boom") != NULL);
    CHECK(c.t.server_error != NULL);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(c.t.server_error,
                                                          "error");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(error, "type");
    CHECK(cJSON_IsString(type)
          && strcmp(type->valuestring, "server_error") == 0);
    call_end(&c, &pool);
    srv_finish();

    /* An "event: error" frame counts as one too. */
    srv_begin();
    r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2,
                   "event: error\ndata: {\"message\":\"overloaded\"}\n\n");
    srv_text(r, 0, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_status_is(&c, KIMI_ESERVER));
    CHECK(strstr(c.err.message, "overloaded") != NULL);
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(
        c.t.server_error, "message");
    CHECK(cJSON_IsString(message)
          && strcmp(message->valuestring, "overloaded") == 0);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 7. a 2xx reply that is not an event stream ----------------------- */

static void
test_json_reply_to_a_stream_is_server_error_or_protocol_error(void)
{
    static const char error_body[] =
        "{\"error\":{\"message\":\"nope\",\"type\":\"x\"}}";
    static const char plain_body[] =
        "{\"id\":\"cmpl-1\",\"object\":\"chat.completion\"}";
    struct call c;

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", error_body,
              strlen(error_body));
    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 200);
    CHECK(c.t.event_stream == 0);
    CHECK(event_status_is(&c, KIMI_ESERVER));
    CHECK(c.err.http_status == 200);
    CHECK(strstr(c.err.message, "nope") != NULL);
    CHECK(c.t.server_error != NULL);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(c.t.server_error,
                                                          "error");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error,
                                                            "message");
    CHECK(cJSON_IsString(message)
          && strcmp(message->valuestring, "nope") == 0);
    /* Asking again repeats the same answer and keeps the same tree. */
    const cJSON *first = c.t.server_error;
    CHECK(event_status_is(&c, KIMI_ESERVER));
    CHECK(c.t.server_error == first);
    call_end(&c, &pool);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", plain_body,
              strlen(plain_body));
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_status_is(&c, KIMI_EPROTO));
    CHECK(strstr(c.err.message, "text/event-stream") != NULL);
    CHECK(strstr(c.err.message, "application/json") != NULL);
    CHECK(c.err.http_status == 200);
    CHECK(c.t.server_error == NULL);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 8. error statuses on a streaming request ------------------------- */

static void
test_error_status_body_is_read_whole_and_capped(void)
{
    static const char body[] =
        "{\"error\":{\"message\":\"rate limited\","
        "\"type\":\"rate_limit_reached_error\"}}";
    struct call c;
    char value[16];

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_textf(r, 0,
              "HTTP/1.1 429 Too Many Requests\r\n"
              "Content-Type: application/json\r\nRetry-After: 2\r\n"
              "Content-Length: %zu\r\n\r\n",
              strlen(body));
    srv_bytes(r, 5, body, strlen(body));

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 429);
    CHECK(call_wait(&c, kimi_drive_body) == KIMI_OK);
    CHECK_MEM(c.t.body.data, c.t.body.len, body, strlen(body));
    CHECK(kimi_transfer_header(&c.t, "retry-after", value, sizeof(value))
          == 1);
    CHECK_STR(value, "2");
    call_end(&c, &pool);
    srv_finish();

    /* Past KIMI_MAX_ERROR_BODY the body is cut, without failing. */
    size_t big_len = KIMI_MAX_ERROR_BODY + 200000;
    srv_begin();
    r = srv_reply(SRV_KEEP);
    srv_textf(r, 0,
              "HTTP/1.1 503 Service Unavailable\r\n"
              "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
              big_len);
    char *big = srv_alloc(big_len);
    for (size_t i = 0; i < big_len; i++) {
        big[i] = (char)('a' + i % 26);
    }
    srv_add(r, 0, big, big_len);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 503);
    CHECK(call_wait(&c, kimi_drive_body) == KIMI_OK);
    CHECK(c.t.body.len == KIMI_MAX_ERROR_BODY);
    CHECK(c.t.body.data != NULL
          && memcmp(c.t.body.data, big, KIMI_MAX_ERROR_BODY) == 0);
    /* The transfer stops at the cap instead of reading on. */
    CHECK(c.t.body_bytes >= KIMI_MAX_ERROR_BODY && c.t.body_bytes < big_len);
    CHECK(c.t.error_body_full == 1);
    call_end(&c, &pool);
    srv_finish();

    /* An error body that never ends: read up to the cap, then done at
     * once, not after the idle timeout. */
    srv_begin();
    r = srv_reply(SRV_STALL);
    srv_text(r, 0,
             "HTTP/1.1 500 Internal Server Error\r\n"
             "Content-Type: text/plain\r\nConnection: close\r\n\r\n");
    srv_add(r, 0, big, big_len);
    call_init(&c, "GET", "/v1/models", 0);
    int64_t start = now_ms();
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    CHECK(now_ms() - start < IDLE_TIMEOUT_MS / 2);
    CHECK(c.t.status == 500);
    CHECK(c.t.body.len == KIMI_MAX_ERROR_BODY);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 9. max_body ------------------------------------------------------ */

static void
test_success_body_over_max_body_is_too_big(void)
{
    char body[5000];
    struct call c;

    memset(body, 'b', sizeof(body));
    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", body, 1000);
    r = srv_reply(SRV_CLOSE);
    srv_whole(r, "200 OK", "application/json", body, sizeof(body));

    /* Exactly at the cap: fine. */
    call_init(&c, "GET", "/v1/files/1/content", 0);
    c.req.max_body = 1000;
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    CHECK(c.t.body.len == 1000);
    call_end(&c, &pool);

    call_init(&c, "GET", "/v1/files/2/content", 0);
    c.req.max_body = 1000;
    CHECK(call_fetch(&c, &pool) == KIMI_ETOOBIG);
    CHECK(c.err.status == KIMI_ETOOBIG);
    CHECK(c.err.http_status == 200);
    CHECK(c.err.offset > 0);
    CHECK(strstr(c.err.message, "1000") != NULL);
    CHECK(c.t.body.len <= 1000);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 10. max_event ---------------------------------------------------- */

static void
test_event_over_max_event_is_too_big(void)
{
    static char event[8000];
    struct call c;
    size_t n;

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_CLOSE);
    srv_text(r, 0, stream_head);
    /* data of 3000 bytes: under the cap. */
    n = (size_t)snprintf(event, sizeof(event), "data: {\"n\":1,\"pad\":\"");
    memset(event + n, 'p', 3000 - 17);
    n += 3000 - 17;
    memcpy(event + n, "\"}\n\n", 4);
    srv_chunk(r, 2, event, n + 4);
    /* data of 6000 bytes: over it. */
    n = (size_t)snprintf(event, sizeof(event), "data: {\"n\":2,\"pad\":\"");
    memset(event + n, 'q', 6000);
    n += 6000;
    memcpy(event + n, "\"}\n\n", 4);
    srv_chunk(r, 2, event, n + 4);
    srv_chunk_text(r, 2, "data: [DONE]\n\n");
    srv_text(r, 0, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    c.req.max_event = 4096;
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_status_is(&c, KIMI_ETOOBIG));
    CHECK(c.err.status == KIMI_ETOOBIG);
    CHECK(c.err.http_status == 200);
    CHECK(c.err.offset > 3000);
    CHECK(strstr(c.err.message, "4096") != NULL);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 11. idle timeout ------------------------------------------------- */

static void
test_silent_server_times_out_after_idle_timeout(void)
{
    struct call c;

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_STALL);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, "data: {\"n\":1}\n\n");

    call_init(&c, "POST", "/v1/chat/completions", 1);
    c.req.timeouts.read_ms = 300;
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    int64_t start = now_ms();
    CHECK(event_status_is(&c, KIMI_ETIMEOUT));
    int64_t elapsed = now_ms() - start;
    CHECK(elapsed >= 100);
    CHECK(elapsed < 3000);
    CHECK(c.err.status == KIMI_ETIMEOUT);
    CHECK(c.err.http_status == 200);
    CHECK(strstr(c.err.message, "0.3 s") != NULL);
    call_end(&c, &pool);
    srv_finish();

    /* Silence before the status line counts as well. */
    srv_begin();
    r = srv_reply(SRV_STALL);
    call_init(&c, "POST", "/v1/chat/completions", 1);
    c.req.timeouts.read_ms = 300;
    start = now_ms();
    CHECK(call_open(&c, &pool) == KIMI_ETIMEOUT);
    elapsed = now_ms() - start;
    CHECK(elapsed >= 250 && elapsed < 3000);
    CHECK(c.err.http_status == 0);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 12. connection refused ------------------------------------------- */

static int
closed_port(void)
{
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0
        && getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0) {
        port = ntohs(addr.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static void
test_refused_connection_is_connect_error(void)
{
    struct call c;
    char value[16];
    int port = closed_port();

    CHECK(port > 0);
    call_init(&c, "GET", "/v1/models", 0);
    snprintf(c.url, sizeof(c.url), "http://127.0.0.1:%d/v1/models", port);
    CHECK(call_fetch(&c, &pool) == KIMI_ECONNECT);
    CHECK(c.err.status == KIMI_ECONNECT);
    CHECK(c.err.curl_code == CURLE_COULDNT_CONNECT);
    CHECK(c.err.http_status == 0);
    CHECK(strncmp(c.err.message, "connect: ", 9) == 0);
    CHECK(strlen(c.err.message) > 9);
    CHECK(c.t.status == 0);
    CHECK(kimi_transfer_header(&c.t, "content-type", value, sizeof(value))
          == 0);
    call_end(&c, &pool);

    /* The streaming path reports it from wait_headers. */
    call_init(&c, "POST", "/v1/chat/completions", 1);
    snprintf(c.url, sizeof(c.url), "http://127.0.0.1:%d/v1/chat", port);
    CHECK(call_open(&c, &pool) == KIMI_ECONNECT);
    CHECK(c.err.curl_code == CURLE_COULDNT_CONNECT);
    CHECK(strncmp(c.err.message, "connect: ", 9) == 0);
    call_end(&c, &pool);
}

/* ---- 13. keep-alive reuse --------------------------------------------- */

static void
test_lane_reuses_its_connection_and_recovers_after_abandon(void)
{
    struct kimi_pool own;
    struct kimi_error err = {0};
    struct kimi_lane *first = NULL;
    struct call c;

    memset(&own, 0, sizeof(own));
    CHECK(kimi_pool_init(&own, 2, &err) == KIMI_OK);
    srv_begin();
    int before = srv_accepted();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"n\":1}", 7);
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"n\":2}", 7);
    r = srv_reply(SRV_KEEP);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, "data: {\"n\":3}\n\n");
    srv_chunk_text(r, 2, "data: [DONE]\n\n");
    srv_text(r, 0, last_chunk);

    call_init(&c, "GET", "/v1/models", 0);
    CHECK(call_fetch(&c, &own) == KIMI_OK);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"n\":1}", 7);
    first = c.lane;
    call_end(&c, &own);
    CHECK(own.n_idle == 1);

    call_init(&c, "POST", "/v1/chat/completions", 0);
    c.req.body = "{}";
    c.req.body_len = 2;
    CHECK(call_fetch(&c, &own) == KIMI_OK);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"n\":2}", 7);
    CHECK(c.lane == first);
    call_end(&c, &own);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &own) == KIMI_OK);
    CHECK(c.lane == first);
    CHECK(event_n_is(&c, 3));
    CHECK(event_status_is(&c, KIMI_DONE));
    call_end(&c, &own);
    CHECK(srv_wait_idle());
    CHECK(srv_accepted() - before == 1);

    /* A stream dropped halfway: the next call still works. */
    r = srv_reply(SRV_STALL);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, "data: {\"n\":4}\n\ndata: {\"n\":5}\n\n");
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"n\":6}", 7);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &own) == KIMI_OK);
    CHECK(event_n_is(&c, 4));
    call_end(&c, &own);     /* before [DONE], one event still queued */

    call_init(&c, "GET", "/v1/models", 0);
    CHECK(call_fetch(&c, &own) == KIMI_OK);
    CHECK(c.t.status == 200);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"n\":6}", 7);
    call_end(&c, &own);
    CHECK(srv_wait_idle());
    CHECK(srv_accepted() - before == 2);
    srv_finish();
    kimi_pool_free(&own);
}

/* ---- 14. SSE variants ------------------------------------------------- */

static void
test_comments_crlf_and_bare_data_work_and_after_done_is_ignored(void)
{
    struct call c;

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 2, ": keep-alive\r\n\r\n");
    srv_chunk_text(r, 2, "data:{\"n\":1}\r\n\r\n");
    srv_chunk_text(r, 2, ":ping\r\ndata: {\"n\":2}\r\n\r");
    srv_chunk_text(r, 2,
                   "\nevent: message\r\nid: 7\r\ndata:{\"n\":3}\r\n\r\n");
    srv_chunk_text(r, 2, "data: {\"n\":\r\ndata: 4}\r\n\r\n");
    srv_chunk_text(r, 2,
                   "data: [DONE]\r\n\r\ndata: {\"n\":5}\r\n\r\n"
                   "data: not json\r\n\r\n");
    srv_chunk_text(r, 2, "data: {\"n\":6}\r\n\r\n");
    srv_text(r, 0, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    CHECK(event_n_is(&c, 1));
    CHECK(event_n_is(&c, 2));
    CHECK(event_n_is(&c, 3));
    CHECK(event_n_is(&c, 4));
    CHECK(event_status_is(&c, KIMI_DONE));
    CHECK(event_status_is(&c, KIMI_DONE));
    CHECK(c.t.queue.len == 0);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 15. free is idempotent ------------------------------------------- */

static void
test_free_is_idempotent_and_safe_on_zeroed_structs(void)
{
    struct kimi_transfer t;
    struct kimi_pool p;
    struct kimi_error err = {0};
    struct call c;

    memset(&t, 0, sizeof(t));
    kimi_transfer_free(&t);
    kimi_transfer_free(&t);
    CHECK(t.easy == NULL && t.attached == 0);

    memset(&p, 0, sizeof(p));
    kimi_pool_free(&p);
    CHECK(kimi_pool_init(&p, 1, &err) == KIMI_OK);
    kimi_pool_free(&p);
    kimi_pool_free(&p);
    CHECK(p.initialized == 0 && p.share == NULL && p.idle == NULL);

    /* A full pool frees what it cannot keep. */
    struct kimi_lane *a = NULL;
    struct kimi_lane *b = NULL;
    CHECK(kimi_pool_init(&p, 1, &err) == KIMI_OK);
    CHECK(kimi_pool_checkout(&p, &a, &err) == KIMI_OK);
    CHECK(kimi_pool_checkout(&p, &b, &err) == KIMI_OK);
    CHECK(a != NULL && b != NULL && a != b);
    kimi_pool_checkin(&p, a);
    kimi_pool_checkin(&p, b);
    CHECK(p.n_idle == 1 && p.idle == a);
    kimi_pool_checkin(&p, NULL);
    kimi_pool_free(&p);
    kimi_pool_free(&p);

    /* A started transfer, freed twice mid-flight. */
    srv_begin();
    struct srv_reply *r = srv_reply(SRV_STALL);
    srv_text(r, 0, stream_head);
    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(call_open(&c, &pool) == KIMI_OK);
    kimi_transfer_free(&c.t);
    kimi_transfer_free(&c.t);
    CHECK(c.t.attached == 0 && c.t.server_error == NULL);
    call_end(&c, &pool);
    srv_finish();

    /* A start that fails leaves nothing to leak, and the lane reusable. */
    call_init(&c, "PUT", "/v1/files", 0);
    CHECK(call_start(&c, &pool) == KIMI_EINVAL);
    CHECK(strstr(c.err.message, "PUT") != NULL);
    call_end(&c, &pool);
    kimi_transfer_free(&c.t);
}

/* ---- 16. fork --------------------------------------------------------- */

static struct kimi_lane *parent_lane;   /* reachable in the child too */

static int
child_request(struct kimi_pool *p)
{
    int failed_before = check_failed;
    struct call c;

    call_init(&c, "GET", "/v1/child", 0);
    CHECK(kimi_pool_checkout(p, &c.lane, &c.err) == KIMI_OK);
    CHECK(c.lane != NULL && c.lane != parent_lane);
    CHECK(c.lane != NULL
          && c.lane->generation == kimi_pool_fork_generation());
    CHECK(p->n_idle == 0);
    if (c.lane != NULL) {
        CHECK(kimi_transfer_start(&c.t, c.lane->easy, p->share, &c.req,
                                  &c.err) == KIMI_OK);
        CHECK(kimi_transfer_attach(&c.t, c.lane->multi, &c.err) == KIMI_OK);
        CHECK(call_wait(&c, kimi_drive_body) == KIMI_OK);
        CHECK(c.t.status == 200);
        CHECK_MEM(c.t.body.data, c.t.body.len, "{\"who\":\"child\"}", 15);
    }
    call_end(&c, p);
    kimi_pool_free(p);
    return check_failed == failed_before ? 0 : 1;
}

static void
test_forked_child_uses_its_own_lane_and_parent_lane_survives(void)
{
    struct kimi_pool own;
    struct kimi_error err = {0};
    struct call c;
    int status = -1;

    memset(&own, 0, sizeof(own));
    CHECK(kimi_pool_init(&own, 2, &err) == KIMI_OK);
    srv_begin();
    int before = srv_accepted();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"who\":\"parent\"}", 16);
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"who\":\"child\"}", 15);
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"who\":\"again\"}", 15);

    call_init(&c, "GET", "/v1/parent", 0);
    CHECK(call_fetch(&c, &own) == KIMI_OK);
    parent_lane = c.lane;
    call_end(&c, &own);
    CHECK(srv_wait_idle());
    CHECK(own.n_idle == 1);

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        _exit(child_request(&own));
    }
    CHECK(pid > 0);
    if (pid > 0) {
        int64_t end = now_ms() + WAIT_LIMIT_MS;
        pid_t got = 0;
        while (got == 0 && now_ms() < end) {
            got = waitpid(pid, &status, WNOHANG);
            if (got == 0) {
                sleep_ms(10);
            }
        }
        if (got == 0) {
            fprintf(stderr, "fork: the child hung; killing it\n");
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(own.n_idle == 1 && own.idle == parent_lane);

    /* The parent's lane and its kept connection are intact. */
    call_init(&c, "GET", "/v1/parent", 0);
    CHECK(call_fetch(&c, &own) == KIMI_OK);
    CHECK(c.lane == parent_lane);
    CHECK(c.t.status == 200);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"who\":\"again\"}", 15);
    call_end(&c, &own);
    CHECK(srv_wait_idle());
    CHECK(srv_accepted() - before == 2);    /* the parent's, the child's */
    srv_finish();
    kimi_pool_free(&own);
    parent_lane = NULL;
}

/* ---- 17. several transfers on one multi handle ------------------------ */

/* Two streams share one lane's multi handle: each finished transfer is
 * found through CURLOPT_PRIVATE whichever one drove the multi handle, and
 * each pauses on its own while its events wait. */
static void
test_two_streams_share_one_multi_handle(void)
{
    struct call a;
    struct call b;
    struct kimi_lane *lane = NULL;
    CURL *second = NULL;
    struct kimi_error err = {0};

    /* a's first read queues more than KIMI_QUEUE_HIGH: two events with a
     * 40 KB pad each, so its next read must wait. */
    static char pad[40000];
    static char two[2 * sizeof(pad) + 64];
    memset(pad, 'p', sizeof(pad) - 1);
    int two_len = snprintf(two, sizeof(two),
                           "data: {\"n\":1,\"pad\":\"%s\"}\n\n"
                           "data: {\"n\":2,\"pad\":\"%s\"}\n\n", pad, pad);
    srv_begin();
    for (int i = 0; i < 2; i++) {
        struct srv_reply *r = srv_reply(SRV_KEEP);
        srv_text(r, 0, stream_head);
        if (i == 0) {
            srv_chunk(r, 0, two, (size_t)two_len);
        }
        else {
            srv_chunk_text(r, 0, "data: {\"n\":1}\n\n");
        }
        srv_chunk_text(r, 5, i == 0 ? "data: {\"n\":3}\n\ndata: [DONE]\n\n"
                                    : "data: {\"n\":2}\n\ndata: [DONE]\n\n");
        srv_text(r, 0, last_chunk);
    }
    call_init(&a, "POST", "/v1/chat/completions", 1);
    call_init(&b, "POST", "/v1/chat/completions", 1);
    CHECK(kimi_pool_checkout(&pool, &lane, &err) == KIMI_OK);
    CHECK(kimi_pool_lane_easy(lane, 1, &second, &err) == KIMI_OK);
    CHECK(second != NULL && second != lane->easy);
    CHECK(kimi_transfer_start(&a.t, lane->easy, pool.share, &a.req, &a.err)
          == KIMI_OK);
    CHECK(kimi_transfer_start(&b.t, second, pool.share, &b.req, &b.err)
          == KIMI_OK);
    CHECK(kimi_transfer_attach(&a.t, lane->multi, &a.err) == KIMI_OK);
    CHECK(kimi_transfer_attach(&b.t, lane->multi, &b.err) == KIMI_OK);

    /* Take turns: one event of a, then one of b, until both are done. */
    int got_a = 0;
    int got_b = 0;
    int done_a = 0;
    int done_b = 0;
    int saw_pause = 0;
    for (int turn = 0; turn < 20 && !(done_a && done_b); turn++) {
        struct call *c = turn % 2 == 0 ? &a : &b;
        int *got = turn % 2 == 0 ? &got_a : &got_b;
        int *done = turn % 2 == 0 ? &done_a : &done_b;
        if (*done) {
            continue;
        }
        cJSON *event = NULL;
        enum kimi_status st = call_event(c, &event);
        if (st == KIMI_DONE) {
            *done = 1;
            continue;
        }
        CHECK(st == KIMI_OK);
        if (st == KIMI_OK) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(event, "n");
            CHECK(cJSON_IsNumber(n) && n->valueint == *got + 1);
            (*got)++;
        }
        cJSON_Delete(event);
        saw_pause |= a.t.paused;
    }
    CHECK(done_a && done_b);
    CHECK(got_a == 3 && got_b == 2);
    /* a's events waited while b was driven, over KIMI_QUEUE_HIGH: a
     * paused, and resumed on its own when they were read. */
    CHECK(saw_pause);
    kimi_transfer_free(&a.t);
    kimi_transfer_free(&b.t);
    kimi_pool_checkin(&pool, lane);
    srv_finish();
}

/* ---- 18. the socket driver -------------------------------------------- */

#define LOOP_MAX_FDS 8

/* A poll() loop standing in for asyncio: applies the driver's wishes,
 * waits on the watched sockets or the timer, and reports back. */
struct loop {
    struct pollfd fds[LOOP_MAX_FDS];
    size_t n;
    int64_t deadline;       /* INT64_MAX: no timer */
    int soon;               /* a 0 ms timer: act from the loop, not inside */
    int actions;
};

static void
loop_apply(struct loop *l, struct kimi_sockets *s)
{
    size_t n = 0;
    const struct kimi_socket_wish *w = kimi_sockets_take(s, &n);
    for (size_t i = 0; i < n; i++) {
        size_t at = 0;
        while (at < l->n && l->fds[at].fd != w[i].fd) {
            at++;
        }
        if (w[i].removed) {
            if (at < l->n) {
                l->fds[at] = l->fds[--l->n];
            }
            continue;
        }
        if (at == l->n) {
            CHECK(l->n < LOOP_MAX_FDS);
            if (l->n == LOOP_MAX_FDS) {
                continue;
            }
            l->n++;
        }
        l->fds[at].fd = w[i].fd;
        l->fds[at].events = (short)((w[i].read ? POLLIN : 0)
                                    | (w[i].write ? POLLOUT : 0));
    }
    long ms = 0;
    if (kimi_sockets_timer(s, &ms)) {
        l->deadline = ms < 0 ? INT64_MAX : now_ms() + ms;
        l->soon = ms == 0;
    }
}

/* One turn: wait, then one action per ready socket, or the timer's. */
static enum kimi_status
loop_turn(struct loop *l, struct kimi_sockets *s, struct kimi_error *err)
{
    int64_t wait = l->soon ? 0 : l->deadline - now_ms();
    if (wait > 50) {
        wait = 50;
    }
    if (wait < 0) {
        wait = 0;
    }
    for (size_t i = 0; i < l->n; i++) {
        l->fds[i].revents = 0;
    }
    int ready = poll(l->fds, (nfds_t)l->n, (int)wait);
    enum kimi_status st = KIMI_OK;
    for (size_t i = 0; ready > 0 && i < l->n && st == KIMI_OK; i++) {
        short r = l->fds[i].revents;
        int what = ((r & (POLLIN | POLLHUP | POLLERR)) ? KIMI_READABLE : 0)
                   | ((r & POLLOUT) ? KIMI_WRITABLE : 0);
        if (what != 0) {
            l->actions++;
            st = kimi_sockets_action(s, l->fds[i].fd, what, err);
        }
    }
    if (st == KIMI_OK && (l->soon || now_ms() >= l->deadline)) {
        l->soon = 0;
        l->deadline = INT64_MAX;
        l->actions++;
        st = kimi_sockets_action(s, KIMI_TIMER, 0, err);
    }
    loop_apply(l, s);
    return st;
}

/* A stream driven only through libcurl's socket interface: every event
 * arrives in order, then [DONE], and no socket stays watched after. */
static void
test_socket_driver_streams_through_an_event_loop(void)
{
    struct call c;
    struct kimi_lane *lane = NULL;
    struct kimi_sockets s;
    struct kimi_error err = {0};
    struct loop l = {.n = 0, .deadline = INT64_MAX};

    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_text(r, 0, stream_head);
    srv_chunk_text(r, 10, "data: {\"n\":1}\n\n");
    srv_chunk_text(r, 10, "data: {\"n\":2}\n\ndata: {\"n\":3}\n\n");
    srv_chunk_text(r, 10, "data: [DONE]\n\n");
    srv_text(r, 0, last_chunk);

    call_init(&c, "POST", "/v1/chat/completions", 1);
    CHECK(kimi_pool_checkout(&pool, &lane, &err) == KIMI_OK);
    CHECK(kimi_sockets_init(&s, lane->multi, &err) == KIMI_OK);
    CHECK(kimi_transfer_start(&c.t, lane->easy, pool.share, &c.req, &c.err)
          == KIMI_OK);
    /* The transfer notes its moves for the loop under id 7. */
    struct kimi_progress progress = {.lost = 0};
    kimi_buf_init(&progress.ids, 4096 * sizeof(size_t));
    c.t.progress = &progress;
    c.t.progress_id = 7;
    CHECK(kimi_transfer_attach(&c.t, lane->multi, &c.err) == KIMI_OK);
    loop_apply(&l, &s);
    CHECK(l.soon || l.deadline != INT64_MAX);   /* libcurl asked to start */
    CHECK(progress.ids.len == 0);       /* nothing arrived yet */
    CHECK(!kimi_sockets_pending(&s));   /* the loop took every wish */

    int got = 0;
    int done = 0;
    int noted = 0;
    int64_t end = now_ms() + WAIT_LIMIT_MS;
    while (!done && now_ms() < end) {
        enum kimi_status st = loop_turn(&l, &s, &err);
        CHECK(st == KIMI_OK);
        if (st != KIMI_OK) {
            break;
        }
        const size_t *ids = (const size_t *)progress.ids.data;
        for (size_t i = 0; i < progress.ids.len / sizeof(size_t); i++) {
            CHECK(ids[i] == 7);
            noted++;
        }
        kimi_buf_clear(&progress.ids);
        for (;;) {
            cJSON *event = NULL;
            st = kimi_events_next(&c.t, &event, &c.err);
            if (st == KIMI_OK) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(event, "n");
                CHECK(cJSON_IsNumber(n) && n->valueint == got + 1);
                got++;
                cJSON_Delete(event);
                continue;
            }
            if (st == KIMI_DONE) {
                done = 1;
            }
            else if (st != KIMI_AGAIN) {
                report("events", st, &c);
                done = -1;
            }
            break;
        }
    }
    CHECK(done == 1);
    CHECK(got == 3);
    CHECK(c.t.status == 200);
    CHECK(l.actions >= 3);
    /* The status line, the headers and each body chunk were noted. */
    CHECK(noted >= 5);
    CHECK(!progress.lost);
    kimi_transfer_free(&c.t);
    kimi_buf_free(&progress.ids);
    loop_apply(&l, &s);
    CHECK(l.n == 0);                    /* libcurl let every socket go */
    kimi_sockets_free(&s);
    kimi_sockets_free(&s);              /* idempotent */
    kimi_pool_checkin(&pool, lane);
    srv_finish();

    /* The lane works with the poll driver again afterwards. */
    srv_begin();
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"ok\":1}", 8);
    call_init(&c, "GET", "/v1/models", 0);
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"ok\":1}", 8);
    call_end(&c, &pool);
    srv_finish();
}

/* ---- 19. the run driver ----------------------------------------------- */

#define RUN_N 6

/* Six requests on one multi handle, stepped by kimi_run_step until each
 * is over: every body arrives whole on its own transfer. */
static void
test_run_driver_steps_many_transfers_on_one_multi_handle(void)
{
    static const char body[] = "{\"ok\":true}";
    struct call c[RUN_N];
    struct kimi_transfer *ts[RUN_N];
    struct kimi_lane *lane = NULL;
    struct kimi_error err = {0};

    srv_begin();
    for (int i = 0; i < RUN_N; i++) {
        struct srv_reply *r = srv_reply(SRV_KEEP);
        srv_whole(r, "200 OK", "application/json", body, strlen(body));
    }
    CHECK(kimi_pool_checkout(&pool, &lane, &err) == KIMI_OK);
    for (int i = 0; i < RUN_N; i++) {
        CURL *easy = NULL;
        call_init(&c[i], "GET", "/v1/models", 0);
        CHECK(kimi_pool_lane_easy(lane, (size_t)i, &easy, &err) == KIMI_OK);
        CHECK(kimi_transfer_start(&c[i].t, easy, pool.share, &c[i].req,
                                  &c[i].err) == KIMI_OK);
        CHECK(kimi_transfer_attach(&c[i].t, lane->multi, &c[i].err)
              == KIMI_OK);
        ts[i] = &c[i].t;
    }
    size_t left = RUN_N;
    int steps = 0;
    int64_t end = now_ms() + WAIT_LIMIT_MS;
    while (left > 0 && now_ms() < end) {
        enum kimi_status st = kimi_run_step(lane->multi, ts, left, POLL_MS,
                                            &err);
        CHECK(st == KIMI_OK || st == KIMI_AGAIN);
        steps++;
        /* Take what is over, as a map would, and keep stepping the rest. */
        for (size_t i = 0; i < left;) {
            if (!kimi_run_over(ts[i])) {
                i++;
                continue;
            }
            struct kimi_error state;
            CHECK(kimi_transfer_body_state(ts[i], &state) == KIMI_OK);
            CHECK(ts[i]->status == 200);
            CHECK_MEM(ts[i]->body.data, ts[i]->body.len, body, strlen(body));
            kimi_transfer_detach(ts[i]);
            ts[i] = ts[--left];
        }
    }
    CHECK(left == 0);
    CHECK(steps >= 1);
    for (int i = 0; i < RUN_N; i++) {
        kimi_transfer_free(&c[i].t);
    }
    kimi_pool_checkin(&pool, lane);
    srv_finish();

    /* A silent server: the step returns the transfer over, failed with its
     * read timeout, instead of waiting on. */
    srv_begin();
    srv_reply(SRV_STALL);
    call_init(&c[0], "GET", "/v1/models", 0);
    c[0].req.timeouts.read_ms = 300;
    CHECK(call_start(&c[0], &pool) == KIMI_OK);
    ts[0] = &c[0].t;
    int64_t start = now_ms();
    enum kimi_status st = KIMI_AGAIN;
    while (st == KIMI_AGAIN && now_ms() < start + WAIT_LIMIT_MS) {
        st = kimi_run_step(c[0].lane->multi, ts, 1, POLL_MS, &err);
    }
    CHECK(st == KIMI_OK);
    CHECK(now_ms() - start >= 250);
    struct kimi_error state;
    CHECK(kimi_transfer_body_state(ts[0], &state) == KIMI_ETIMEOUT);
    CHECK(state.limit != NULL && strcmp(state.limit, "read") == 0);
    call_end(&c[0], &pool);
    srv_finish();
}

/* ---- 20. multipart forms ---------------------------------------------- */

/* n bytes of a pattern no two seeds share, every byte value included. */
static void
fill_pattern(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (char)((i * 31 + seed * 7 + i / 251) % 256);
    }
}

/* Replace the file at path with n bytes; 0 on failure. */
static int
write_file(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    int ok = fwrite(bytes, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* A new empty file's path in path (at least 64 bytes); 0 on failure. */
static int
temp_path(char *path, size_t size)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/kimi-form-XXXXXX",
             dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        return 0;
    }
    close(fd);
    return 1;
}

/* What libcurl sends for the two parts of form_parts() with boundary
 * bound: each part "--" boundary CRLF, its header lines, CRLF, its bytes,
 * CRLF; then "--" boundary "--" CRLF.  Fills out (malloc'ed) and returns
 * its length. */
static size_t
expected_form(char **out, const char *bound, const char *file,
              size_t file_len, const char *data, size_t data_len)
{
    char head1[512];
    char head2[512];
    char tail[128];
    int n1 = snprintf(head1, sizeof(head1),
                      "--%s\r\nContent-Disposition: form-data; "
                      "name=\"file\"; filename=\"notes.bin\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n",
                      bound);
    int n2 = snprintf(head2, sizeof(head2),
                      "\r\n--%s\r\nContent-Disposition: form-data; "
                      "name=\"purpose\"\r\n\r\n",
                      bound);
    int n3 = snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", bound);
    size_t len = (size_t)n1 + file_len + (size_t)n2 + data_len + (size_t)n3;
    char *p = malloc(len);
    if (p == NULL) {
        fprintf(stderr, "test_http: out of memory\n");
        exit(2);
    }
    *out = p;
    memcpy(p, head1, (size_t)n1);
    p += n1;
    memcpy(p, file, file_len);
    p += file_len;
    memcpy(p, head2, (size_t)n2);
    p += n2;
    memcpy(p, data, data_len);
    p += data_len;
    memcpy(p, tail, (size_t)n3);
    return len;
}

/* A file part, then an in-memory one. */
static void
form_parts(struct kimi_form_part parts[2], const char *path,
           const char *data, size_t data_len)
{
    memset(parts, 0, 2 * sizeof(parts[0]));
    parts[0].name = "file";
    parts[0].filename = "notes.bin";
    parts[0].content_type = "application/octet-stream";
    parts[0].path = path;
    parts[1].name = "purpose";
    parts[1].data = data;
    parts[1].data_len = data_len;
}

/* What a form test sends: a temporary file of pattern bytes (see
 * fill_pattern) as the first part, data as the second. */
struct form_case {
    char path[256];
    char *file;         /* the file's bytes */
    size_t file_len;
    struct kimi_form_part parts[2];
};

static void
form_case_init(struct form_case *fc, size_t file_len, unsigned seed,
               const char *data, size_t data_len)
{
    fc->file = malloc(file_len);
    fc->file_len = file_len;
    if (fc->file == NULL || !temp_path(fc->path, sizeof(fc->path))) {
        fprintf(stderr, "test_http: cannot make a file to send\n");
        exit(2);
    }
    fill_pattern(fc->file, file_len, seed);
    CHECK(write_file(fc->path, fc->file, file_len));
    form_parts(fc->parts, fc->path, data, data_len);
}

static void
form_case_free(struct form_case *fc)
{
    unlink(fc->path);
    free(fc->file);
}

/* A POST of the two parts to /v1/files. */
static void
call_init_form(struct call *c, struct kimi_form_part parts[2])
{
    call_init(c, "POST", "/v1/files", 0);
    c->req.form = parts;
    c->req.n_form = 2;
}

/* The seen request's body is exactly the two parts, with the boundary
 * its Content-Type names. */
static int
seen_form_is(const char *file, size_t file_len, const char *data,
             size_t data_len)
{
    static const char prefix[] = "multipart/form-data; boundary=";
    const char *type = seen_header("content-type");
    if (type == NULL || strncmp(type, prefix, sizeof(prefix) - 1) != 0) {
        fprintf(stderr, "  Content-Type: %s\n", type ? type : "(none)");
        return 0;
    }
    char bound[128];
    snprintf(bound, sizeof(bound), "%s", type + sizeof(prefix) - 1);
    char *want = NULL;
    size_t want_len = expected_form(&want, bound, file, file_len, data,
                                    data_len);
    char length[32];
    snprintf(length, sizeof(length), "%zu", want_len);
    int ok = seen_header_is("content-length", length)
             && seen_len - seen_head_len == want_len
             && memcmp(seen + seen_head_len, want, want_len) == 0;
    free(want);
    return ok;
}

static void
test_form_parts_arrive_as_multipart_byte_for_byte(void)
{
    static const char data[] = "file-extract\0with a NUL";
    struct form_case fc;
    struct call c;

    form_case_init(&fc, 5000, 1, data, sizeof(data) - 1);
    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"id\":\"f-1\"}", 12);
    call_init_form(&c, fc.parts);
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    CHECK(c.t.status == 200);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"id\":\"f-1\"}", 12);
    call_end(&c, &pool);
    srv_take_request();
    CHECK(seen_starts_with("POST /v1/files HTTP/1.1\r\n"));
    CHECK(seen_form_is(fc.file, fc.file_len, data, sizeof(data) - 1));
    CHECK(seen_header("expect") == NULL);   /* under libcurl's 1 MiB */
    srv_finish();
    form_case_free(&fc);
}

static void
test_form_over_a_mebibyte_waits_for_100_continue_then_streams(void)
{
    struct form_case fc;
    struct call c;

    form_case_init(&fc, (size_t)1536 * 1024, 2, "batch", 5);
    srv_begin();
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{}", 2);
    call_init_form(&c, fc.parts);
    int64_t began = now_ms();
    CHECK(call_fetch(&c, &pool) == KIMI_OK);
    /* Without the server's 100, libcurl would have waited 1 s. */
    CHECK(now_ms() - began < 1000);
    CHECK(c.t.status == 200);
    CHECK(c.t.uploaded > (curl_off_t)fc.file_len);  /* progress watched */
    call_end(&c, &pool);
    srv_take_request();
    CHECK(seen_header_is("expect", "100-continue"));
    CHECK(seen_form_is(fc.file, fc.file_len, "batch", 5));
    srv_finish();
    form_case_free(&fc);
}

static void
test_form_with_a_missing_file_fails_before_anything_is_sent(void)
{
    char path[256];
    char dir[256];
    struct kimi_form_part parts[2];
    struct call c;

    CHECK(temp_path(path, sizeof(path)));
    unlink(path);
    form_parts(parts, path, "x", 1);
    srv_begin();
    int before = srv_accepted();
    call_init_form(&c, parts);
    CHECK(call_start(&c, &pool) == KIMI_EFILE);
    CHECK(c.err.status == KIMI_EFILE);
    CHECK(c.err.sys_errno == ENOENT);
    CHECK(strstr(c.err.message, path) != NULL);
    CHECK(strstr(c.err.message, "cannot open") != NULL);
    call_end(&c, &pool);

    /* A directory has no size to send. */
    snprintf(dir, sizeof(dir), "%s", path);
    CHECK(mkdir(dir, 0700) == 0);
    form_parts(parts, dir, "x", 1);
    call_init_form(&c, parts);
    CHECK(call_start(&c, &pool) == KIMI_EFILE);
    CHECK(c.err.sys_errno == EISDIR);
    call_end(&c, &pool);
    rmdir(dir);

    /* A body and a form, or a form on GET: refused. */
    CHECK(temp_path(path, sizeof(path)));
    form_parts(parts, path, "x", 1);
    call_init_form(&c, parts);
    c.req.body = "{}";
    c.req.body_len = 2;
    CHECK(call_start(&c, &pool) == KIMI_EINVAL);
    CHECK(strstr(c.err.message, "not both") != NULL);
    call_end(&c, &pool);
    call_init(&c, "GET", "/v1/files", 0);
    c.req.form = parts;
    c.req.n_form = 2;
    CHECK(call_start(&c, &pool) == KIMI_EINVAL);
    call_end(&c, &pool);
    CHECK(srv_accepted() == before);
    srv_finish();
    unlink(path);
}

/* Each start measures and reads the file again: a retry after a lost
 * reply sends what the file holds then, from its first byte.  A file
 * removed once the transfer started is still sent whole.  When libcurl
 * itself sends again (a kept connection found closed), it rewinds the
 * parts. */
static void
test_form_is_read_again_at_each_start(void)
{
    char first[3000];
    char second[4000];
    char path[256];
    struct kimi_form_part parts[2];
    struct kimi_pool own;
    struct kimi_error err = {0};
    struct call c;

    fill_pattern(first, sizeof(first), 3);
    fill_pattern(second, sizeof(second), 4);
    CHECK(temp_path(path, sizeof(path)));
    CHECK(write_file(path, first, sizeof(first)));
    form_parts(parts, path, "p", 1);

    /* A new connection (its own pool): libcurl does not send again. */
    memset(&own, 0, sizeof(own));
    CHECK(kimi_pool_init(&own, 1, &err) == KIMI_OK);
    srv_begin();
    srv_reply(SRV_CLOSE);   /* read the request, hang up unanswered */
    struct srv_reply *r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{}", 2);
    call_init_form(&c, parts);
    CHECK(call_fetch(&c, &own) == KIMI_ECONNECT);
    call_end(&c, &own);
    srv_take_request();
    CHECK(seen_form_is(first, sizeof(first), "p", 1));

    CHECK(write_file(path, second, sizeof(second)));
    struct kimi_request again = c.req;
    call_init(&c, "POST", "/v1/files", 0);
    c.req = again;
    CHECK(call_start(&c, &own) == KIMI_OK);
    CHECK(unlink(path) == 0);
    CHECK(call_wait(&c, kimi_drive_body) == KIMI_OK);
    CHECK(c.t.status == 200);
    call_end(&c, &own);
    srv_take_request();
    CHECK(seen_form_is(second, sizeof(second), "p", 1));
    srv_finish();

    /* The kept connection closes at the form: libcurl rewinds and sends
     * it again on a new one, within the one transfer. */
    CHECK(write_file(path, first, sizeof(first)));
    srv_begin();
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{}", 2);
    srv_reply(SRV_CLOSE);
    r = srv_reply(SRV_KEEP);
    srv_whole(r, "200 OK", "application/json", "{\"n\":2}", 7);
    call_init(&c, "GET", "/v1/models", 0);
    CHECK(call_fetch(&c, &own) == KIMI_OK);
    call_end(&c, &own);
    int served = srv_get(&srv.served);
    call_init_form(&c, parts);
    CHECK(call_fetch(&c, &own) == KIMI_OK);
    CHECK_MEM(c.t.body.data, c.t.body.len, "{\"n\":2}", 7);
    call_end(&c, &own);
    CHECK(srv_get(&srv.served) - served == 2);
    srv_take_request();
    CHECK(seen_form_is(first, sizeof(first), "p", 1));
    srv_finish();
    kimi_pool_free(&own);
    unlink(path);
}

/* A file cut short after it was measured ends the upload at once with
 * KIMI_EFILE, not with a server waiting for the missing bytes. */
static void
test_form_file_that_shrinks_while_sent_is_a_file_error(void)
{
    struct form_case fc;
    struct call c;

    form_case_init(&fc, (size_t)300 * 1024, 5, "p", 1);
    srv_begin();
    int served = srv_get(&srv.served);
    call_init_form(&c, fc.parts);
    CHECK(call_start(&c, &pool) == KIMI_OK);
    CHECK(truncate(fc.path, 100 * 1024) == 0);
    int64_t began = now_ms();
    CHECK(call_wait(&c, kimi_drive_body) == KIMI_EFILE);
    CHECK(now_ms() - began < IDLE_TIMEOUT_MS / 2);
    CHECK(c.err.status == KIMI_EFILE);
    CHECK(c.err.sys_errno == 0);
    CHECK(strstr(c.err.message, "shrank") != NULL);
    CHECK(strstr(c.err.message, fc.path) != NULL);
    CHECK(strstr(c.err.message, "102400 of its 307200 bytes") != NULL);
    call_end(&c, &pool);
    CHECK(srv_get(&srv.served) == served);  /* never a whole request */
    srv_finish();
    form_case_free(&fc);
}

int
main(void)
{
    struct kimi_error err = {0};

    signal(SIGPIPE, SIG_IGN);
    if (kimi_pool_global_init(&err) != KIMI_OK) {
        fprintf(stderr, "test_http: %s\n", err.message);
        return 2;
    }
    if (srv_start() != 0) {
        fprintf(stderr, "test_http: cannot listen on 127.0.0.1\n");
        return 2;
    }
    if (kimi_pool_init(&pool, 4, &err) != KIMI_OK) {
        fprintf(stderr, "test_http: %s\n", err.message);
        return 2;
    }

    test_get_returns_status_exact_body_and_headers();
    test_post_body_and_headers_arrive_exactly();
    test_stream_split_mid_event_and_mid_utf8_yields_events_then_done();
    test_stream_ending_without_done_is_truncated();
    test_stream_cut_mid_chunk_is_truncated_with_curl_code();
    test_malformed_event_comes_after_the_queued_good_ones();
    test_error_object_event_is_a_server_error();
    test_json_reply_to_a_stream_is_server_error_or_protocol_error();
    test_error_status_body_is_read_whole_and_capped();
    test_success_body_over_max_body_is_too_big();
    test_event_over_max_event_is_too_big();
    test_silent_server_times_out_after_idle_timeout();
    test_refused_connection_is_connect_error();
    test_lane_reuses_its_connection_and_recovers_after_abandon();
    test_comments_crlf_and_bare_data_work_and_after_done_is_ignored();
    test_free_is_idempotent_and_safe_on_zeroed_structs();
    test_two_streams_share_one_multi_handle();
    test_socket_driver_streams_through_an_event_loop();
    test_run_driver_steps_many_transfers_on_one_multi_handle();
    test_forked_child_uses_its_own_lane_and_parent_lane_survives();
    test_form_parts_arrive_as_multipart_byte_for_byte();
    test_form_over_a_mebibyte_waits_for_100_continue_then_streams();
    test_form_with_a_missing_file_fails_before_anything_is_sent();
    test_form_is_read_again_at_each_start();
    test_form_file_that_shrinks_while_sent_is_a_file_error();

    kimi_pool_free(&pool);
    srv_stop();
    curl_global_cleanup();
    return check_report("http");
}

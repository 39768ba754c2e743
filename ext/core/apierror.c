/* apierror.c - reading type, code, message and request id from any error
 * body shape.
 *
 * Picks the one object of the body that describes the error, copies its
 * fields as clean UTF-8 text, and falls back to the body's own text.  No
 * allocation of its own beyond kimi_json_parse; never fails.
 */
#include "apierror.h"

#include <stdio.h>
#include <string.h>

#include "headers.h"
#include "json.h"
#include "text.h"

/* Integral codes up to 2^53 are exact in a double. */
#define KIMI_API_CODE_EXACT 9007199254740992.0

/* ---- clean text into a fixed field ---- */

/* Writes server text into dst[size]: whole UTF-8 characters only, invalid
 * bytes as U+FFFD, each run of spaces and control bytes as one space, no
 * space at either end; stops at the first character that does not fit. */
struct field_writer {
    char *dst;
    size_t size;
    size_t len;
    int space_owed;     /* a space goes before the next character */
    int full;
};

static void
writer_start(struct field_writer *w, char *dst, size_t size)
{
    w->dst = dst;
    w->size = size;
    w->len = 0;
    w->space_owed = 0;
    w->full = 0;
    dst[0] = '\0';
}

static int
is_space_or_control(unsigned char c)
{
    return c <= 0x20 || c == 0x7F;
}

/* Words on either side of this point are separate. */
static void
writer_space(struct field_writer *w)
{
    w->space_owed = w->len > 0;
}

static void
writer_put(struct field_writer *w, const char *src, size_t n)
{
    size_t i = 0;

    while (i < n && !w->full) {
        if (is_space_or_control((unsigned char)src[i])) {
            writer_space(w);
            i++;
            continue;
        }
        size_t step = kimi_text_utf8_sequence(src + i, n - i);
        const char *bytes = src + i;
        size_t out_len = step;
        if (step == 0) {
            bytes = KIMI_TEXT_REPLACEMENT;
            out_len = sizeof(KIMI_TEXT_REPLACEMENT) - 1;
            step = 1;
        }
        size_t need = out_len + (w->space_owed ? 1 : 0);
        if (need > w->size - 1 - w->len) {
            w->full = 1;
            break;
        }
        if (w->space_owed) {
            w->dst[w->len++] = ' ';
            w->space_owed = 0;
        }
        memcpy(w->dst + w->len, bytes, out_len);
        w->len += out_len;
        w->dst[w->len] = '\0';
        i += step;
    }
}

/* Replace a field with n bytes of server text. */
static void
set_field(char *dst, size_t size, const char *src, size_t n)
{
    struct field_writer w;
    writer_start(&w, dst, size);
    writer_put(&w, src, n);
}

static void
set_field_str(char *dst, size_t size, const char *src)
{
    set_field(dst, size, src, strlen(src));
}

/* ---- the body's own text, for bodies without a usable message ---- */

/* Does the tag whose name starts at p (n bytes left) have this name? */
static int
tag_is(const char *p, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n < k || !kimi_text_equal_nocase(p, k, name, k)) {
        return 0;
    }
    return n == k || p[k] == '>' || p[k] == '/'
           || is_space_or_control((unsigned char)p[k]);
}

/* Where the text after the element that opened at tag ends: past the
 * '>' of "</name", or n when it is not closed. */
static size_t
skip_element(const char *src, size_t n, size_t from, const char *name)
{
    char closer[16];
    int k = snprintf(closer, sizeof(closer), "</%s", name);
    const char *end = kimi_text_find_nocase(src + from, n - from, closer,
                                            (size_t)k);
    if (end == NULL) {
        return n;
    }
    const char *gt = memchr(end, '>', (size_t)(src + n - end));
    return gt != NULL ? (size_t)(gt - src) + 1 : n;
}

/* HTML: the text between tags; script and style contents dropped. */
static void
writer_put_html(struct field_writer *w, const char *src, size_t n)
{
    size_t i = 0;

    while (i < n && !w->full) {
        const char *lt = memchr(src + i, '<', n - i);
        size_t text_end = lt != NULL ? (size_t)(lt - src) : n;
        writer_put(w, src + i, text_end - i);
        if (lt == NULL) {
            return;
        }
        writer_space(w);
        const char *gt = memchr(lt, '>', n - text_end);
        if (gt == NULL) {
            return;     /* an unclosed tag: nothing readable follows */
        }
        i = (size_t)(gt - src) + 1;
        const char *name = lt + 1;
        size_t left = n - text_end - 1;
        if (tag_is(name, left, "script")) {
            i = skip_element(src, n, i, "script");
        }
        else if (tag_is(name, left, "style")) {
            i = skip_element(src, n, i, "style");
        }
    }
}

static void
message_from_raw(struct kimi_api_error *out, const char *raw, size_t len)
{
    struct field_writer w;
    size_t first = 0;

    writer_start(&w, out->message, sizeof(out->message));
    while (first < len && is_space_or_control((unsigned char)raw[first])) {
        first++;
    }
    if (first < len && raw[first] == '<') {
        writer_put_html(&w, raw + first, len - first);
    }
    else {
        writer_put(&w, raw + first, len - first);
    }
}

/* ---- the JSON shapes ---- */

static void
read_code(struct kimi_api_error *out, const cJSON *code)
{
    if (cJSON_IsString(code) && code->valuestring != NULL) {
        set_field_str(out->code, sizeof(out->code), code->valuestring);
        return;
    }
    if (!cJSON_IsNumber(code)) {
        return;
    }
    double value = code->valuedouble;
    /* Written so that NaN fails the range test. */
    if (value >= -KIMI_API_CODE_EXACT && value <= KIMI_API_CODE_EXACT
        && (double)(long long)value == value)
    {
        out->code_is_number = 1;
        out->code_number = (long long)value;
        snprintf(out->code, sizeof(out->code), "%lld", out->code_number);
    }
    else {
        snprintf(out->code, sizeof(out->code), "%.15g", value);
    }
}

/* type, code and message of the object that describes the error. */
static void
read_fields(struct kimi_api_error *out, const cJSON *obj)
{
    const char *type = kimi_json_nonempty(obj, "type");
    const char *message = kimi_json_nonempty(obj, "message");

    if (message == NULL) {
        message = kimi_json_nonempty(obj, "msg");   /* FastAPI */
    }
    if (type != NULL) {
        set_field_str(out->type, sizeof(out->type), type);
    }
    read_code(out, kimi_json_member(obj, "code"));
    if (message != NULL) {
        set_field_str(out->message, sizeof(out->message), message);
    }
}

static int
is_object_list(const cJSON *item)
{
    return cJSON_IsArray(item) && cJSON_IsObject(item->child);
}

/* The first shape that fits, most specific first. */
static void
read_shape(struct kimi_api_error *out, const cJSON *root)
{
    const cJSON *error = kimi_json_member(root, "error");
    const cJSON *errors = kimi_json_member(root, "errors");
    const cJSON *detail = kimi_json_member(root, "detail");

    if (cJSON_IsString(root)) {
        set_field_str(out->message, sizeof(out->message), root->valuestring);
    }
    else if (cJSON_IsObject(error) && kimi_json_truthy(error)) {
        read_fields(out, error);                /* Moonshot, proxies */
    }
    else if (cJSON_IsString(error) && kimi_json_truthy(error)) {
        set_field_str(out->message, sizeof(out->message),
                      error->valuestring);
    }
    else if (is_object_list(errors)) {
        read_fields(out, errors->child);        /* Cloudflare */
    }
    else if (cJSON_IsString(detail)) {
        set_field_str(out->message, sizeof(out->message),
                      detail->valuestring);      /* FastAPI */
    }
    else if (is_object_list(detail)) {
        read_fields(out, detail->child);        /* FastAPI validation */
    }
    else if (cJSON_IsObject(detail)) {
        read_fields(out, detail);
    }
    else if (cJSON_IsObject(root)) {
        read_fields(out, root);                 /* a flat error event */
    }
}

static void
read_body_request_id(struct kimi_api_error *out, const cJSON *root)
{
    const char *id = kimi_json_nonempty(root, "trace_id");
    if (id == NULL) {
        id = kimi_json_nonempty(root, "request_id");
    }
    if (id == NULL) {
        id = kimi_json_nonempty(kimi_json_member(root, "error"),
                                "request_id");
    }
    if (id != NULL) {
        set_field_str(out->request_id, sizeof(out->request_id), id);
    }
}

void
kimi_apierror_from_json(struct kimi_api_error *out, const cJSON *root,
                        const char *raw, size_t raw_len)
{
    memset(out, 0, sizeof(*out));
    out->is_json = root != NULL;
    read_shape(out, root);
    read_body_request_id(out, root);
    if (out->message[0] == '\0' && raw != NULL) {
        message_from_raw(out, raw, raw_len);
    }
    if (out->message[0] == '\0') {
        set_field_str(out->message, sizeof(out->message),
                      "no details given");
    }
}

void
kimi_apierror_parse(struct kimi_api_error *out, const char *body,
                    size_t len)
{
    cJSON *root = NULL;
    struct kimi_error err;

    if (body == NULL) {
        len = 0;
    }
    /* Not JSON, too deep or no memory: the raw text is the message. */
    if (len > 0 && kimi_json_parse(body, len, &root, &err) != KIMI_OK) {
        root = NULL;
    }
    kimi_apierror_from_json(out, root, body, len);
    cJSON_Delete(root);
}

void
kimi_apierror_request_id_from_headers(struct kimi_api_error *out,
                                      const char *header_block, size_t len)
{
    static const char *const names[] = {
        "x-request-id", "msh-request-id", "x-litellm-call-id",
        "request-id", "x-trace-id", "cf-ray",
    };
    const char *value;
    size_t value_len;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (out->request_id[0] != '\0') {
            return;
        }
        if (kimi_headers_find(header_block, len, names[i], &value,
                              &value_len)) {
            set_field(out->request_id, sizeof(out->request_id), value,
                      value_len);
        }
    }
}

/* The members is_error looks at, each the last of its name. */
struct error_keys {
    const cJSON *error;
    const cJSON *success;
    const cJSON *errors;
    const cJSON *choices;
    const cJSON *detail;
    const cJSON *message;
    const cJSON *type;
    const cJSON *code;
};

/* One pass over the members: is_error runs on every event of a stream.
 * The first two bytes pick the candidate, so a chat chunk's keys (id,
 * object, created, model, choices) cost one strcmp in all. */
static void
read_error_keys(const cJSON *root, struct error_keys *k)
{
    memset(k, 0, sizeof(*k));
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        const char *s = c->string;
        const cJSON **slot = NULL;
        const char *name = NULL;
        if (s == NULL || s[0] == '\0') {
            continue;
        }
        switch (s[0] * 256 + s[1]) {
        case 'e' * 256 + 'r':
            if (strcmp(s, "errors") == 0) {
                k->errors = c;
            }
            slot = &k->error;
            name = "error";
            break;
        case 's' * 256 + 'u':
            slot = &k->success;
            name = "success";
            break;
        case 'c' * 256 + 'h':
            slot = &k->choices;
            name = "choices";
            break;
        case 'c' * 256 + 'o':
            slot = &k->code;
            name = "code";
            break;
        case 'd' * 256 + 'e':
            slot = &k->detail;
            name = "detail";
            break;
        case 'm' * 256 + 'e':
            slot = &k->message;
            name = "message";
            break;
        case 't' * 256 + 'y':
            slot = &k->type;
            name = "type";
            break;
        default:
            break;
        }
        if (slot != NULL && strcmp(s, name) == 0) {
            *slot = c;
        }
    }
}

static int
is_nonempty_string(const cJSON *item)
{
    return cJSON_IsString(item) && item->valuestring != NULL
           && item->valuestring[0] != '\0';
}

int
kimi_apierror_is_error(const cJSON *root)
{
    struct error_keys k;

    if (!cJSON_IsObject(root)) {
        return 0;
    }
    read_error_keys(root, &k);
    /* "error": null, {}, false or "" beside content is not an error. */
    if (kimi_json_truthy(k.error)) {
        return 1;
    }
    /* An envelope that says so itself (Cloudflare, proxies). */
    if (cJSON_IsFalse(k.success)
        && (cJSON_IsArray(k.errors) || is_nonempty_string(k.message))) {
        return 1;
    }
    /* A chat chunk is content, whatever else it carries. */
    if (k.choices != NULL) {
        return 0;
    }
    if (kimi_json_truthy(k.detail)) {
        return 1;
    }
    /* A flat event: a message with something naming it an error; a
     * "code" of 0 is the success code of many APIs. */
    return is_nonempty_string(k.message)
           && (is_nonempty_string(k.type) || kimi_json_truthy(k.code));
}

size_t
kimi_apierror_describe(const struct kimi_api_error *e, char *out,
                       size_t size)
{
    const char *label = e->type[0] != '\0' ? e->type : e->code;
    int n;

    if (size == 0) {
        return 0;
    }
    if (e->request_id[0] != '\0') {
        n = snprintf(out, size, "%s%s%s (request id %s)", label,
                     label[0] != '\0' ? ": " : "", e->message,
                     e->request_id);
    }
    else {
        n = snprintf(out, size, "%s%s%s", label, label[0] != '\0' ? ": " : "",
                     e->message);
    }
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len >= size) {
        /* snprintf cut it: drop a character it cut in two. */
        len = size - 1;
        size_t lead = len;
        while (lead > 0 && ((unsigned char)out[lead - 1] & 0xC0) == 0x80) {
            lead--;
        }
        if (lead > 0
            && kimi_text_utf8_sequence(out + lead - 1, len - lead + 1) == 0) {
            len = lead - 1;
        }
        out[len] = '\0';
    }
    return len;
}

/* json.c - tolerant cJSON readers and the core's one JSON parser.
 *
 * Parsing is cJSON's; when cJSON fails (it says only where, not why) an
 * iterative scanner that accepts exactly what cJSON accepts walks the text
 * to tell a syntax error from too deep nesting, a lone surrogate escape
 * (rewritten and parsed again) or a failed allocation.  No recursion here.
 */
#include "json.h"

#include <string.h>

#include "alloc.h"

/* ---- readers ---- */

/* child's key is name; the first bytes are compared inline, since most
 * keys differ there and a call to strcmp costs more than the test. */
static int
key_is(const cJSON *child, const char *name)
{
    const char *key = child->string;
    return key != NULL && key[0] == name[0] && strcmp(key, name) == 0;
}

const cJSON *
kimi_json_member(const cJSON *obj, const char *name)
{
    const cJSON *found = NULL;

    if (!cJSON_IsObject(obj) || name == NULL || obj->child == NULL) {
        return NULL;
    }
    const cJSON *head = obj->child;
    const cJSON *tail = head->prev;
    /* cJSON keeps the last member in the first one's prev: walking back
     * from it, the first match is the last duplicate, and the members
     * read most (choices, delta, content) sit at the end of a chunk. */
    if (tail != NULL && tail->next == NULL) {
        for (const cJSON *child = tail;; child = child->prev) {
            if (key_is(child, name)) {
                return child;
            }
            if (child == head) {
                return NULL;
            }
        }
    }
    for (const cJSON *child = head; child != NULL; child = child->next) {
        if (key_is(child, name)) {
            found = child;
        }
    }
    return found;
}

const char *
kimi_json_string(const cJSON *obj, const char *name)
{
    const cJSON *item = kimi_json_member(obj, name);
    if (!cJSON_IsString(item)) {
        return NULL;
    }
    return item->valuestring;
}

const char *
kimi_json_nonempty(const cJSON *obj, const char *name)
{
    const char *text = kimi_json_string(obj, name);
    if (text == NULL || text[0] == '\0') {
        return NULL;
    }
    return text;
}

int
kimi_json_truthy(const cJSON *item)
{
    if (cJSON_IsTrue(item)) {
        return 1;
    }
    if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
        return item->child != NULL;
    }
    if (cJSON_IsString(item)) {
        return item->valuestring != NULL && item->valuestring[0] != '\0';
    }
    if (cJSON_IsNumber(item)) {
        return item->valuedouble != 0.0;    /* NaN is true, as in Python */
    }
    return 0;
}

const char *
kimi_json_kind(const cJSON *item)
{
    if (item == NULL) {
        return "nothing";
    }
    if (cJSON_IsObject(item)) {
        return "an object";
    }
    if (cJSON_IsArray(item)) {
        return "an array";
    }
    if (cJSON_IsString(item)) {
        return "a string";
    }
    if (cJSON_IsNumber(item)) {
        return "a number";
    }
    if (cJSON_IsBool(item)) {
        return "a boolean";
    }
    if (cJSON_IsNull(item)) {
        return "null";
    }
    if (cJSON_IsRaw(item)) {
        return "raw JSON";
    }
    return "an invalid value";
}

/* ---- the scanner that explains a failed parse ---- */

/* cJSON 1.7.15 as released reads at most this many bytes of a number;
 * later releases (and distributions that took the fix for CVE-2023-26819)
 * read a number of any length. */
#define CJSON_NUMBER_MAX 63

enum scan_verdict {
    SCAN_VALID,         /* cJSON would accept it, given the memory */
    SCAN_INVALID,       /* a syntax error at scan->at */
    SCAN_TOO_DEEP       /* the container opening at scan->at is too deep */
};

struct json_scan {
    const unsigned char *s;
    size_t len;
    size_t at;          /* where the verdict was reached */
    size_t lone;        /* lone surrogate escapes seen */
    char *fix;          /* if set: a copy of s where each is made \uFFFD */
};

/* cJSON skips every byte up to 0x20 (NUL included) between tokens. */
static size_t
skip_space(const struct json_scan *sc, size_t pos)
{
    while (pos < sc->len && sc->s[pos] <= 0x20) {
        pos++;
    }
    return pos;
}

static int
fail_at(struct json_scan *sc, size_t pos)
{
    sc->at = pos;
    return 0;
}

/* The code unit of a \uXXXX escape; cJSON reads a bad hex digit as the
 * whole escape being 0. */
static unsigned
escape_unit(const unsigned char *hex)
{
    unsigned unit = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = hex[i];
        unsigned digit;
        if (c >= '0' && c <= '9') {
            digit = (unsigned)(c - '0');
        }
        else if (c >= 'a' && c <= 'f') {
            digit = (unsigned)(c - 'a' + 10);
        }
        else if (c >= 'A' && c <= 'F') {
            digit = (unsigned)(c - 'A' + 10);
        }
        else {
            return 0;
        }
        unit = unit * 16 + digit;
    }
    return unit;
}

/* The \u escape at p (before the closing quote at end): its length in
 * bytes, counting a lone surrogate (recorded, and rewritten in sc->fix)
 * as valid; 0 when cJSON rejects it. */
static size_t
scan_unicode_escape(struct json_scan *sc, size_t p, size_t end)
{
    if (end - p < 6) {
        return 0;
    }
    unsigned unit = escape_unit(sc->s + p + 2);
    int lone = 0;
    if (unit >= 0xDC00 && unit <= 0xDFFF) {
        lone = 1;
    }
    else if (unit >= 0xD800 && unit <= 0xDBFF) {
        size_t q = p + 6;
        if (end - q >= 6 && sc->s[q] == '\\' && sc->s[q + 1] == 'u') {
            unsigned low = escape_unit(sc->s + q + 2);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                return 12;
            }
        }
        lone = 1;
    }
    if (lone) {
        sc->lone++;
        if (sc->fix != NULL) {
            memcpy(sc->fix + p, "\\uFFFD", 6);
        }
    }
    return 6;
}

/* A string starting with the quote at *pos, as cJSON reads it: any raw
 * byte, the JSON escapes, \u escapes as above. */
static int
scan_string(struct json_scan *sc, size_t *pos)
{
    size_t start = *pos;
    size_t end = start + 1;

    if (start >= sc->len || sc->s[start] != '"') {
        return fail_at(sc, start);
    }
    while (end < sc->len && sc->s[end] != '"') {
        end += sc->s[end] == '\\' ? 2 : 1;
    }
    if (end >= sc->len) {
        return fail_at(sc, start);      /* unterminated */
    }
    size_t p = start + 1;
    while (p < end) {
        if (sc->s[p] != '\\') {
            p++;
            continue;
        }
        size_t step = 2;
        switch (sc->s[p + 1]) {
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
        case '"':
        case '\\':
        case '/':
            break;
        case 'u':
            step = scan_unicode_escape(sc, p, end);
            break;
        default:
            step = 0;
            break;
        }
        if (step == 0) {
            return fail_at(sc, p);
        }
        p += step;
    }
    *pos = end + 1;
    return 1;
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_number_byte(unsigned char c)
{
    return is_digit(c) || c == '+' || c == '-' || c == '.' || c == 'e'
           || c == 'E';
}

/* A number starting at *pos ('-' or a digit), as cJSON reads it: strtod
 * over the bytes of [0-9+-.eE] that follow (see number_cut_short for the
 * releases that stop after CJSON_NUMBER_MAX). */
static int
scan_number(struct json_scan *sc, size_t *pos)
{
    const unsigned char *s = sc->s;
    size_t start = *pos;
    size_t limit = start;
    size_t i = start;
    size_t digits = 0;

    while (limit < sc->len && is_number_byte(s[limit])) {
        limit++;
    }
    if (i < limit && s[i] == '-') {
        i++;
    }
    while (i < limit && is_digit(s[i])) {
        i++;
        digits++;
    }
    if (i < limit && s[i] == '.') {
        i++;
        while (i < limit && is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        return fail_at(sc, start);
    }
    if (i < limit && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = i + 1;
        if (e < limit && (s[e] == '+' || s[e] == '-')) {
            e++;
        }
        if (e < limit && is_digit(s[e])) {
            while (e < limit && is_digit(s[e])) {
                e++;
            }
            i = e;
        }
    }
    *pos = i;
    return 1;
}

static int
scan_literal(struct json_scan *sc, size_t *pos, const char *word)
{
    size_t n = strlen(word);
    if (sc->len - *pos < n || memcmp(sc->s + *pos, word, n) != 0) {
        return fail_at(sc, *pos);
    }
    *pos += n;
    return 1;
}

/* Any value but an array or object. */
static int
scan_scalar(struct json_scan *sc, size_t *pos)
{
    unsigned char c = *pos < sc->len ? sc->s[*pos] : 0;

    if (*pos >= sc->len) {
        return fail_at(sc, *pos);
    }
    if (c == '"') {
        return scan_string(sc, pos);
    }
    if (c == '-' || is_digit(c)) {
        return scan_number(sc, pos);
    }
    if (c == 'n') {
        return scan_literal(sc, pos, "null");
    }
    if (c == 't') {
        return scan_literal(sc, pos, "true");
    }
    if (c == 'f') {
        return scan_literal(sc, pos, "false");
    }
    return fail_at(sc, *pos);
}

/* An object member's name and colon, from *pos. */
static int
scan_key(struct json_scan *sc, size_t *pos)
{
    size_t p = skip_space(sc, *pos);
    if (!scan_string(sc, &p)) {
        return 0;
    }
    p = skip_space(sc, p);
    if (p >= sc->len || sc->s[p] != ':') {
        return fail_at(sc, p);
    }
    *pos = p + 1;
    return 1;
}

/* Which kind each open container is: one bit per level, set for an
 * object.  cJSON refuses to open more than CJSON_NESTING_LIMIT. */
struct open_kinds {
    unsigned char bits[(CJSON_NESTING_LIMIT + 7) / 8];
};

static void
set_kind(struct open_kinds *k, size_t depth, int is_object)
{
    unsigned char mask = (unsigned char)(1u << (depth % 8));
    if (is_object) {
        k->bits[depth / 8] |= mask;
    }
    else {
        k->bits[depth / 8] &= (unsigned char)~mask;
    }
}

static int
is_object_at(const struct open_kinds *k, size_t depth)
{
    return (k->bits[depth / 8] >> (depth % 8)) & 1;
}

/* Walk one value the way cJSON's recursive descent does, with an explicit
 * stack instead of recursion:
 *
 *     skip a UTF-8 BOM (cJSON: only with 5 bytes or more), then space
 *     loop:
 *         want a value:
 *             '[' or '{' -> too deep if CJSON_NESTING_LIMIT are open;
 *                           else open it; an immediate close pops it,
 *                           an object wants a key first
 *             anything else must be a scalar
 *         after a value:
 *             nothing open       -> VALID (the value ended)
 *             ','                -> want a value (a key first in objects)
 *             the open closer    -> pop
 *             else               -> INVALID
 *
 * Space is skipped before every token.  Returns the verdict; sc->at is
 * the offset of the error or the too-deep bracket. */
static enum scan_verdict
scan_document(struct json_scan *sc)
{
    struct open_kinds kinds;
    size_t depth = 0;
    size_t pos = 0;
    int want_value = 1;

    memset(&kinds, 0, sizeof(kinds));
    if (sc->len >= 5 && memcmp(sc->s, "\xEF\xBB\xBF", 3) == 0) {
        pos = 3;
    }
    for (;;) {
        pos = skip_space(sc, pos);
        if (want_value) {
            unsigned char c = pos < sc->len ? sc->s[pos] : 0;
            if (c != '[' && c != '{') {
                if (!scan_scalar(sc, &pos)) {
                    return SCAN_INVALID;
                }
                want_value = 0;
                continue;
            }
            if (depth >= CJSON_NESTING_LIMIT) {
                sc->at = pos;
                return SCAN_TOO_DEEP;
            }
            set_kind(&kinds, depth, c == '{');
            depth++;
            pos = skip_space(sc, pos + 1);
            if (pos < sc->len && sc->s[pos] == (c == '{' ? '}' : ']')) {
                depth--;
                pos++;
                want_value = 0;
            }
            else if (c == '{' && !scan_key(sc, &pos)) {
                return SCAN_INVALID;
            }
            continue;
        }
        if (depth == 0) {
            sc->at = pos;
            return SCAN_VALID;
        }
        int in_object = is_object_at(&kinds, depth - 1);
        unsigned char c = pos < sc->len ? sc->s[pos] : 0;
        if (pos < sc->len && c == ',') {
            pos++;
            if (in_object && !scan_key(sc, &pos)) {
                return SCAN_INVALID;
            }
            want_value = 1;
        }
        else if (pos < sc->len && c == (in_object ? '}' : ']')) {
            depth--;
            pos++;
        }
        else {
            sc->at = pos;
            return SCAN_INVALID;
        }
    }
}

/* ---- parsing ---- */

static int
is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Point err at a byte of the text; returns st. */
static enum kimi_status
at_byte(struct kimi_error *err, enum kimi_status st, size_t offset)
{
    if (err != NULL) {
        err->offset = offset;
    }
    return st;
}

/* A tree cJSON returned: accept it when only JSON whitespace follows the
 * value, which ends at end. */
static enum kimi_status
accept_tree(cJSON *tree, const char *text, size_t len, const char *end,
            cJSON **out, struct kimi_error *err)
{
    size_t pos = end != NULL ? (size_t)(end - text) : len;
    while (pos < len && is_json_space(text[pos])) {
        pos++;
    }
    if (pos < len) {
        cJSON_Delete(tree);
        return at_byte(err,
                       kimi_error_set(err, KIMI_EPROTO,
                                      "JSON is malformed: unexpected bytes "
                                      "after the value (byte %zu)", pos),
                       pos);
    }
    *out = tree;
    return KIMI_OK;
}

/* Did a cJSON that reads at most CJSON_NUMBER_MAX bytes of a number fail
 * at byte at for that reason?  Then at lies after the first byte of a
 * longer number, within its first CJSON_NUMBER_MAX + 1.  A failed
 * allocation is reported elsewhere: at the start of a number or string,
 * at a bracket or comma, or at byte 0. */
static int
number_cut_short(const char *text, size_t len, size_t at)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t start = at;
    size_t end = at;

    if (at >= len || !is_number_byte(s[at])) {
        return 0;
    }
    while (start > 0 && is_number_byte(s[start - 1])) {
        start--;
    }
    while (end < len && is_number_byte(s[end])) {
        end++;
    }
    return at > start && at - start <= CJSON_NUMBER_MAX
           && end - start > CJSON_NUMBER_MAX;
}

/* cJSON could not parse text, stopping at byte failed_at: say why, or
 * parse it again with its lone surrogates rewritten. */
static enum kimi_status
explain_failure(const char *text, size_t len, size_t failed_at, cJSON **out,
                struct kimi_error *err)
{
    struct json_scan sc;

    memset(&sc, 0, sizeof(sc));
    sc.s = (const unsigned char *)text;
    sc.len = len;
    enum scan_verdict verdict = scan_document(&sc);

    if (verdict == SCAN_VALID && sc.lone > 0) {
        char *copy = kimi_malloc(len);
        if (copy == NULL) {
            return kimi_error_set(err, KIMI_ENOMEM,
                                  "JSON: cannot copy %zu bytes to replace "
                                  "lone surrogates", len);
        }
        memcpy(copy, text, len);
        sc.fix = copy;
        sc.lone = 0;
        verdict = scan_document(&sc);
        const char *end = NULL;
        cJSON *tree = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
        size_t end_at = end != NULL ? (size_t)(end - copy) : len;
        kimi_free(copy);
        if (tree != NULL) {
            return accept_tree(tree, text, len, text + end_at, out, err);
        }
        failed_at = end_at;
    }
    if (verdict == SCAN_VALID && number_cut_short(text, len, failed_at)) {
        verdict = SCAN_INVALID;
        sc.at = failed_at;
    }
    if (verdict == SCAN_INVALID) {
        return at_byte(err,
                       kimi_error_set(err, KIMI_EPROTO,
                                      "JSON is malformed: invalid JSON at "
                                      "byte %zu", sc.at),
                       sc.at);
    }
    if (verdict == SCAN_TOO_DEEP) {
        return at_byte(err,
                       kimi_error_set(err, KIMI_EPROTO,
                                      "JSON is nested deeper than %d levels",
                                      CJSON_NESTING_LIMIT),
                       sc.at);
    }
    /* The text is one whole value, so cJSON ran out of memory. */
    return kimi_error_set(err, KIMI_ENOMEM,
                          "JSON: out of memory parsing %zu bytes", len);
}

enum kimi_status
kimi_json_parse(const char *text, size_t len, cJSON **out,
                struct kimi_error *err)
{
    size_t first = 0;

    *out = NULL;
    if (text == NULL && len > 0) {
        return kimi_error_set(err, KIMI_EINVAL, "JSON: no text");
    }
    while (first < len && is_json_space(text[first])) {
        first++;
    }
    if (first == len) {
        return at_byte(err,
                       kimi_error_set(err, KIMI_EPROTO,
                                      "JSON is malformed: empty"),
                       len);
    }
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (tree != NULL) {
        return accept_tree(tree, text, len, end, out, err);
    }
    return explain_failure(text, len, end != NULL ? (size_t)(end - text) : 0,
                           out, err);
}

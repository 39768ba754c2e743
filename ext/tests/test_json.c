/* test_json.c - unit tests for json.c.
 *
 * The tolerant readers on hand-built and parsed trees, and kimi_json_parse
 * on valid, malformed, trailing, deep, surrogate and out-of-memory input.
 * Inputs are copied into exactly sized heap blocks, so ASan sees any read
 * past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "json.h"
#include "shared.h"

/* ---- helpers ---- */

/* An exactly sized heap copy of n bytes (no NUL after them). */
static char *
exact_copy(const char *text, size_t n)
{
    char *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL) {
        fprintf(stderr, "test: out of memory\n");
        exit(2);
    }
    memcpy(copy, text, n);
    return copy;
}

static enum kimi_status
parse_n(const char *text, size_t n, cJSON **out, struct kimi_error *err)
{
    char *copy = exact_copy(text, n);
    kimi_error_clear(err);
    enum kimi_status st = kimi_json_parse(copy, n, out, err);
    free(copy);
    return st;
}

/* Parse text, which must succeed; the caller deletes the tree. */
static cJSON *
parse_ok(const char *text)
{
    struct kimi_error err;
    cJSON *tree = NULL;
    enum kimi_status st = parse_n(text, strlen(text), &tree, &err);
    CHECK(st == KIMI_OK);
    CHECK(tree != NULL);
    if (st != KIMI_OK) {
        fprintf(stderr, "  parsing %.60s: %s\n", text, err.message);
    }
    return tree;
}

/* Parse n bytes, which must fail with want_status and want_message; the
 * offset is checked when want_offset is not (size_t)-1. */
static void
check_fails_n(const char *text, size_t n, enum kimi_status want_status,
              const char *want_message, size_t want_offset)
{
    struct kimi_error err;
    cJSON *tree = (cJSON *)&err;    /* must be overwritten */
    enum kimi_status st = parse_n(text, n, &tree, &err);

    CHECK(st == want_status);
    CHECK(err.status == want_status);
    CHECK(tree == NULL);
    CHECK_STR(err.message, want_message);
    if (strcmp(err.message, want_message) != 0) {
        fprintf(stderr, "  input: %.60s\n  got:  %s\n  want: %s\n", text,
                err.message, want_message);
    }
    if (want_offset != (size_t)-1) {
        CHECK(err.offset == want_offset);
    }
}

static void
check_fails(const char *text, const char *want_message, size_t want_offset)
{
    check_fails_n(text, strlen(text), KIMI_EPROTO, want_message,
                  want_offset);
}

/* The string value of the parsed document text (a JSON string). */
static void
check_string_value(const char *text, const char *want)
{
    cJSON *tree = parse_ok(text);
    CHECK(cJSON_IsString(tree));
    if (cJSON_IsString(tree)) {
        CHECK_STR(tree->valuestring, want);
    }
    cJSON_Delete(tree);
}

/* ---- readers ---- */

static void
test_member_reads_objects_only(void)
{
    cJSON *tree = parse_ok("{\"a\":1,\"A\":2,\"s\":\"x\",\"e\":\"\","
                           "\"n\":null,\"o\":{\"a\":3}}");
    cJSON *array = parse_ok("[{\"a\":1}]");

    CHECK(kimi_json_member(tree, "a")->valuedouble == 1.0);
    CHECK(kimi_json_member(tree, "A")->valuedouble == 2.0);
    CHECK(kimi_json_member(tree, "b") == NULL);
    CHECK(kimi_json_member(tree, NULL) == NULL);
    CHECK(kimi_json_member(NULL, "a") == NULL);
    CHECK(kimi_json_member(array, "a") == NULL);
    CHECK(kimi_json_member(kimi_json_member(tree, "a"), "a") == NULL);
    CHECK(kimi_json_member(kimi_json_member(tree, "o"), "a")->valuedouble
          == 3.0);
    CHECK(cJSON_IsNull(kimi_json_member(tree, "n")));

    CHECK_STR(kimi_json_string(tree, "s"), "x");
    CHECK_STR(kimi_json_string(tree, "e"), "");
    CHECK(kimi_json_string(tree, "a") == NULL);
    CHECK(kimi_json_string(tree, "n") == NULL);
    CHECK(kimi_json_string(tree, "o") == NULL);
    CHECK(kimi_json_string(tree, "zz") == NULL);
    CHECK(kimi_json_string(NULL, "s") == NULL);
    CHECK_STR(kimi_json_nonempty(tree, "s"), "x");
    CHECK(kimi_json_nonempty(tree, "e") == NULL);
    CHECK(kimi_json_nonempty(tree, "a") == NULL);
    CHECK(kimi_json_nonempty(array, "s") == NULL);
    cJSON_Delete(tree);
    cJSON_Delete(array);
}

/* Every arrangement of "k" and "x" keys over 1 to 5 members: the member
 * called k is the last one with that name, whatever came before. */
static void
test_duplicate_keys_last_wins_in_every_arrangement(void)
{
    for (int n = 1; n <= 5; n++) {
        for (unsigned mask = 0; mask < (1u << n); mask++) {
            char text[256];
            size_t len = 0;
            int last = -1;
            text[len++] = '{';
            for (int i = 0; i < n; i++) {
                int is_k = (mask >> i) & 1;
                len += (size_t)snprintf(text + len, sizeof(text) - len,
                                        "%s\"%s\":%d", i > 0 ? "," : "",
                                        is_k ? "k" : "x", i);
                if (is_k) {
                    last = i;
                }
            }
            text[len++] = '}';
            text[len] = '\0';
            cJSON *tree = parse_ok(text);
            const cJSON *k = kimi_json_member(tree, "k");
            if (last < 0) {
                CHECK(k == NULL);
            }
            else {
                CHECK(k != NULL && k->valuedouble == (double)last);
            }
            cJSON_Delete(tree);
        }
    }
    /* The same for strings read through the string getters. */
    cJSON *tree = parse_ok("{\"m\":\"first\",\"m\":\"\",\"m\":\"last\"}");
    CHECK_STR(kimi_json_string(tree, "m"), "last");
    cJSON_Delete(tree);
    tree = parse_ok("{\"m\":\"first\",\"m\":\"\"}");
    CHECK_STR(kimi_json_string(tree, "m"), "");
    CHECK(kimi_json_nonempty(tree, "m") == NULL);
    cJSON_Delete(tree);
    tree = parse_ok("{\"m\":\"first\",\"m\":7}");
    CHECK(kimi_json_string(tree, "m") == NULL);
    cJSON_Delete(tree);
}

static int
truthy_of(const char *text)
{
    cJSON *tree = parse_ok(text);
    int truthy = kimi_json_truthy(tree);
    cJSON_Delete(tree);
    return truthy;
}

static void
test_truthy_matches_python(void)
{
    CHECK(!truthy_of("{}"));
    CHECK(!truthy_of("[]"));
    CHECK(!truthy_of("\"\""));
    CHECK(!truthy_of("0"));
    CHECK(!truthy_of("-0"));
    CHECK(!truthy_of("0.0"));
    CHECK(!truthy_of("null"));
    CHECK(!truthy_of("false"));
    CHECK(!kimi_json_truthy(NULL));
    CHECK(truthy_of("{\"a\":null}"));
    CHECK(truthy_of("[null]"));
    CHECK(truthy_of("\" \""));
    CHECK(truthy_of("\"0\""));
    CHECK(truthy_of("1"));
    CHECK(truthy_of("-0.5"));
    CHECK(truthy_of("1e999"));
    CHECK(truthy_of("true"));

    cJSON *nan = cJSON_CreateNumber(0.0);
    nan->valuedouble = nan->valuedouble / nan->valuedouble;
    CHECK(kimi_json_truthy(nan));
    cJSON_Delete(nan);
}

static void
test_kind_names_every_kind(void)
{
    const char *const texts[] = {"{}", "[]", "\"\"", "1", "true", "false",
                                 "null"};
    const char *const kinds[] = {"an object", "an array", "a string",
                                 "a number", "a boolean", "a boolean",
                                 "null"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        cJSON *tree = parse_ok(texts[i]);
        CHECK_STR(kimi_json_kind(tree), kinds[i]);
        cJSON_Delete(tree);
    }
    CHECK_STR(kimi_json_kind(NULL), "nothing");
    cJSON *raw = cJSON_CreateRaw("1");
    CHECK_STR(kimi_json_kind(raw), "raw JSON");
    cJSON_Delete(raw);
    cJSON invalid;
    memset(&invalid, 0, sizeof(invalid));
    CHECK_STR(kimi_json_kind(&invalid), "an invalid value");
}

/* ---- parsing ---- */

static void
test_parse_accepts_documents_with_json_whitespace(void)
{
    cJSON *tree = parse_ok(" \t\r\n{\"a\":[1,2,{\"b\":null}]} \t\r\n");
    CHECK(cJSON_IsArray(kimi_json_member(tree, "a")));
    cJSON_Delete(tree);
    const char *const scalars[] = {"0", "-1.5e3", "\"x\"", "true", "false",
                                   "null", "[]", "{}"};
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        cJSON_Delete(parse_ok(scalars[i]));
    }
}

static void
test_parse_rejects_bytes_after_the_value(void)
{
    check_fails("1 2", "JSON is malformed: unexpected bytes after the "
                "value (byte 2)", 2);
    check_fails("{}x", "JSON is malformed: unexpected bytes after the "
                "value (byte 2)", 2);
    check_fails("{} {}", "JSON is malformed: unexpected bytes after the "
                "value (byte 3)", 3);
    check_fails("[1]\f", "JSON is malformed: unexpected bytes after the "
                "value (byte 3)", 3);
    check_fails("null,", "JSON is malformed: unexpected bytes after the "
                "value (byte 4)", 4);
    check_fails_n("[1]\0", 4, KIMI_EPROTO, "JSON is malformed: unexpected "
                  "bytes after the value (byte 3)", 3);
    check_fails_n("\"a\"\n\0\n", 6, KIMI_EPROTO, "JSON is malformed: "
                  "unexpected bytes after the value (byte 4)", 4);
}

static void
test_parse_reports_the_byte_of_invalid_json(void)
{
    check_fails("[1,]", "JSON is malformed: invalid JSON at byte 3", 3);
    check_fails("[1 2]", "JSON is malformed: invalid JSON at byte 3", 3);
    check_fails("{\"a\" 1}", "JSON is malformed: invalid JSON at byte 5",
                5);
    check_fails("{\"a\":1,}", "JSON is malformed: invalid JSON at byte 7",
                7);
    check_fails("{1:2}", "JSON is malformed: invalid JSON at byte 1", 1);
    check_fails("tru", "JSON is malformed: invalid JSON at byte 0", 0);
    check_fails("nul", "JSON is malformed: invalid JSON at byte 0", 0);
    check_fails("[1", "JSON is malformed: invalid JSON at byte 2", 2);
    check_fails("[", "JSON is malformed: invalid JSON at byte 1", 1);
    check_fails("{", "JSON is malformed: invalid JSON at byte 1", 1);
    check_fails("\"abc", "JSON is malformed: invalid JSON at byte 0", 0);
    check_fails("\"ab\\", "JSON is malformed: invalid JSON at byte 0", 0);
    check_fails("[\"\\x\"]", "JSON is malformed: invalid JSON at byte 2",
                2);
    check_fails("[\"\\u12\"]", "JSON is malformed: invalid JSON at byte 2",
                2);
    check_fails("-", "JSON is malformed: invalid JSON at byte 0", 0);
    check_fails("<html>", "JSON is malformed: invalid JSON at byte 0", 0);
    check_fails("Internal Server Error",
                "JSON is malformed: invalid JSON at byte 0", 0);
}

/* Inside the value cJSON's leniency stays: any byte up to 0x20 separates
 * tokens, strings may hold raw control bytes. */
static void
test_parse_keeps_cjson_leniency_inside_the_value(void)
{
    struct kimi_error err;
    cJSON *tree = NULL;
    CHECK(parse_n("[\0\x01]", 4, &tree, &err) == KIMI_OK);
    CHECK(cJSON_IsArray(tree) && tree->child == NULL);
    cJSON_Delete(tree);
    tree = NULL;
    CHECK(parse_n("\"a\tb\"", 5, &tree, &err) == KIMI_OK);
    CHECK(cJSON_IsString(tree) && strcmp(tree->valuestring, "a\tb") == 0);
    cJSON_Delete(tree);
}

static void
test_parse_empty_input(void)
{
    check_fails("", "JSON is malformed: empty", 0);
    check_fails(" \t\r\n ", "JSON is malformed: empty", 5);
    struct kimi_error err;
    cJSON *tree = NULL;
    CHECK(kimi_json_parse(NULL, 0, &tree, &err) == KIMI_EPROTO);
    CHECK(kimi_json_parse(NULL, 3, &tree, &err) == KIMI_EINVAL);
    CHECK(tree == NULL);
}

/* depth '[' then depth ']' (closed) or nothing (open). */
static char *
nested(size_t depth, int closed, size_t *len)
{
    size_t n = closed ? 2 * depth : depth;
    char *text = malloc(n);
    if (text == NULL) {
        exit(2);
    }
    memset(text, '[', depth);
    if (closed) {
        memset(text + depth, ']', depth);
    }
    *len = n;
    return text;
}

static void
check_depth(size_t depth, int closed)
{
    size_t len = 0;
    char *text = nested(depth, closed, &len);
    struct kimi_error err;
    cJSON *tree = NULL;

    kimi_error_clear(&err);
    enum kimi_status st = kimi_json_parse(text, len, &tree, &err);
    if (depth <= CJSON_NESTING_LIMIT && closed) {
        CHECK(st == KIMI_OK);
        size_t levels = 0;
        for (const cJSON *at = tree; at != NULL; at = at->child) {
            levels++;
        }
        CHECK(levels == depth);
    }
    else if (depth <= CJSON_NESTING_LIMIT) {
        CHECK(st == KIMI_EPROTO);
        CHECK(err.offset == len);
    }
    else {
        CHECK(st == KIMI_EPROTO);
        CHECK_STR(err.message, "JSON is nested deeper than 1000 levels");
        CHECK(err.offset == CJSON_NESTING_LIMIT);
    }
    cJSON_Delete(tree);
    free(text);
}

static void
test_parse_nesting_limit(void)
{
    const size_t depths[] = {1, 999, 1000, 1001, 100000, 1000000};
    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        check_depth(depths[i], 1);
        check_depth(depths[i], 0);
    }
    /* Objects count as levels too, mixed with arrays. */
    size_t n = 0;
    char *text = malloc(6 * 1001 + 1);
    for (int i = 0; i < 1001; i++) {
        memcpy(text + n, i % 2 ? "[" : "{\"k\":", i % 2 ? 1 : 5);
        n += i % 2 ? 1 : 5;
    }
    check_fails_n(text, n, KIMI_EPROTO,
                  "JSON is nested deeper than 1000 levels", n - 5);
    free(text);
    /* A syntax error before the limit is reported as such. */
    check_fails("[[[x", "JSON is malformed: invalid JSON at byte 3", 3);
}

static void
test_lone_surrogates_become_replacement_characters(void)
{
    const char *fffd = "\xEF\xBF\xBD";
    check_string_value("\"\\ud83d\"", fffd);
    check_string_value("\"\\uD83D\"", fffd);
    check_string_value("\"\\udc00\"", fffd);
    check_string_value("\"\\uDFFF\"", fffd);
    check_string_value("\"a\\ud83db\"", "a\xEF\xBF\xBD" "b");
    check_string_value("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80");
    check_string_value("\"\\ud83d\\ud83d\\ude00\"",
                       "\xEF\xBF\xBD\xF0\x9F\x98\x80");
    check_string_value("\"\\ude00\\ud83d\"", "\xEF\xBF\xBD\xEF\xBF\xBD");
    check_string_value("\"\\ud83d\\u0041\"", "\xEF\xBF\xBD" "A");
    check_string_value("\"\\ud83d\\n\"", "\xEF\xBF\xBD\n");
    /* An escaped backslash is not the start of an escape. */
    check_string_value("\"\\\\ud83d\"", "\\ud83d");
    check_string_value("\"\\\\\\ud83d\"", "\\\xEF\xBF\xBD");
    check_string_value("\"\\\\\\\\ud83d\\ud83d\"", "\\\\ud83d\xEF\xBF\xBD");

    cJSON *tree = parse_ok("{\"\\ud83d\":\"\\udc00\",\"ok\":\"\\\\ud83d\","
                           "\"list\":[\"\\ud800\",1]}");
    const cJSON *key = kimi_json_member(tree, fffd);
    CHECK(cJSON_IsString(key) && strcmp(key->valuestring, fffd) == 0);
    CHECK_STR(kimi_json_string(tree, "ok"), "\\ud83d");
    const cJSON *first = cJSON_GetArrayItem(kimi_json_member(tree, "list"),
                                            0);
    CHECK(cJSON_IsString(first) && strcmp(first->valuestring, fffd) == 0);
    cJSON_Delete(tree);

    /* Other failures are still reported where they are. */
    check_fails("[\"\\ud83d\",]", "JSON is malformed: invalid JSON at "
                "byte 10", 10);
    check_fails("\"\\ud83d\" x", "JSON is malformed: unexpected bytes "
                "after the value (byte 9)", 9);
}

/* Each allocation of a parse fails in turn: every answer is KIMI_ENOMEM
 * or the answer without failures (a parse that runs cJSON twice can
 * recover from the first run's failure).  n bytes of text. */
static void
check_enomem_in_turn_n(const char *text, size_t n)
{
    int failures = 0;
    struct kimi_error want_err;
    cJSON *want_tree = NULL;
    enum kimi_status want = parse_n(text, n, &want_tree, &want_err);
    char *want_printed = want_tree != NULL
                             ? cJSON_PrintUnformatted(want_tree)
                             : NULL;

    for (long fail_at = 1; fail_at <= 100; fail_at++) {
        struct kimi_error err;
        cJSON *tree = NULL;
        kimi_alloc_fail_after(fail_at);
        enum kimi_status st = parse_n(text, n, &tree, &err);
        kimi_alloc_fail_after(0);
        if (st == KIMI_ENOMEM) {
            failures++;
            CHECK(err.status == KIMI_ENOMEM);
            CHECK(tree == NULL);
        }
        else {
            CHECK(st == want);
            CHECK_STR(err.message, st == KIMI_OK ? "" : want_err.message);
            if (st != want) {
                fprintf(stderr, "  fail_at %ld: %s\n", fail_at,
                        err.message);
            }
        }
        if (tree != NULL) {
            char *got = cJSON_PrintUnformatted(tree);
            CHECK(got != NULL && want_printed != NULL
                  && strcmp(got, want_printed) == 0);
            cJSON_free(got);
        }
        cJSON_Delete(tree);
    }
    if (want == KIMI_OK) {
        CHECK(failures >= 1);
    }
    cJSON_free(want_printed);
    cJSON_Delete(want_tree);
}

static void
check_enomem_in_turn(const char *text)
{
    check_enomem_in_turn_n(text, strlen(text));
}

static void
test_parse_reports_enomem(void)
{
    check_enomem_in_turn("{\"error\":{\"message\":\"m\",\"code\":429},"
                         "\"list\":[1,\"two\",[3],{\"4\":null}]}");
    check_enomem_in_turn("{\"\\ud83d\":[\"\\udc00\",\"\\\\ud83d\"]}");
    check_enomem_in_turn("\xEF\xBB\xBF [1, 2.5e3, -0, true]");
    check_enomem_in_turn("[\"\\ud83d\", x]");
    check_enomem_in_turn("{\"a\": [1, 2}");
    check_enomem_in_turn("[1] [2]");
}

/* cJSON 1.7.15 as released reads at most 63 bytes of a number; later
 * releases any number.  Either way the answer is cJSON's, never a
 * reported lack of memory. */
static void
test_long_numbers_follow_the_cjson_in_use(void)
{
    char text[256];
    size_t n = 0;
    const char *end = NULL;

    memcpy(text, "\0\0[", 3);
    n = 3;
    for (int i = 0; i < 107; i++) {
        text[n++] = '9';
    }
    memcpy(text + n, "]\n-\x18", 4);
    n += 4;
    cJSON *direct = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (direct != NULL) {
        check_fails_n(text, n, KIMI_EPROTO, "JSON is malformed: unexpected "
                      "bytes after the value (byte 112)", 112);
    }
    else {
        check_fails_n(text, n, KIMI_EPROTO, "JSON is malformed: invalid "
                      "JSON at byte 66", 66);
    }
    cJSON_Delete(direct);
    check_enomem_in_turn_n(text, n);
    /* a long number with an exponent beyond the 63rd byte */
    n = 0;
    text[n++] = '[';
    text[n++] = '1';
    for (int i = 0; i < 61; i++) {
        text[n++] = '0';
    }
    memcpy(text + n, "e5]", 4);
    n += 3;
    direct = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    struct kimi_error err;
    cJSON *tree = NULL;
    CHECK(parse_n(text, n, &tree, &err)
          == (direct != NULL ? KIMI_OK : KIMI_EPROTO));
    cJSON_Delete(direct);
    cJSON_Delete(tree);
    check_enomem_in_turn_n(text, n);
}

int
main(void)
{
    /* cJSON's own allocations then take part in failure injection. */
    use_kimi_allocator_for_cjson();

    test_member_reads_objects_only();
    test_duplicate_keys_last_wins_in_every_arrangement();
    test_truthy_matches_python();
    test_kind_names_every_kind();
    test_parse_accepts_documents_with_json_whitespace();
    test_parse_rejects_bytes_after_the_value();
    test_parse_reports_the_byte_of_invalid_json();
    test_parse_keeps_cjson_leniency_inside_the_value();
    test_parse_empty_input();
    test_parse_nesting_limit();
    test_lone_surrogates_become_replacement_characters();
    test_parse_reports_enomem();
    test_long_numbers_follow_the_cjson_in_use();
    return check_report("json");
}

/* test_dialect.c - unit tests for dialect.c: a gateway's replies, chunks
 * and error codes read as the API's, and every allocation failure leaving
 * a whole tree.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dialect.h"
#include "shared.h"

/* The tree printed compactly equals want. */
static int
prints_as(const cJSON *tree, const char *want)
{
    char *got = cJSON_PrintUnformatted(tree);
    int same = got != NULL && strcmp(got, want) == 0;
    if (!same) {
        fprintf(stderr, "  got:  %s\n  want: %s\n", got ? got : "(null)",
                want);
    }
    cJSON_free(got);
    return same;
}

/* in, rewritten as a whole reply (whole) or as a chunk, prints as want. */
static int
rewrites(int whole, unsigned dialect, const char *in, const char *want)
{
    struct kimi_error err;
    cJSON *tree = parse_or_exit(in);
    enum kimi_status st = whole ? kimi_dialect_reply(dialect, &tree, &err)
                                : kimi_dialect_chunk(dialect, tree, &err);
    int ok = st == KIMI_OK && prints_as(tree, want);
    cJSON_Delete(tree);
    return ok;
}

#define reply_is(dialect, in, want) rewrites(1, dialect, in, want)
#define chunk_is(dialect, in, want) rewrites(0, dialect, in, want)

static void
test_reasoning_is_renamed_on_messages_and_deltas(void)
{
    CHECK(reply_is(KIMI_DIALECT_REASONING,
                   "{\"choices\":[{\"message\":{\"reasoning\":\"r\","
                   "\"content\":\"c\"}},{\"message\":{\"reasoning\":\"s\"}}]}",
                   "{\"choices\":[{\"message\":{\"content\":\"c\","
                   "\"reasoning_content\":\"r\"}},{\"message\":"
                   "{\"reasoning_content\":\"s\"}}]}"));
    CHECK(chunk_is(KIMI_DIALECT_REASONING,
                   "{\"choices\":[{\"delta\":{\"reasoning\":\"r\"}}]}",
                   "{\"choices\":[{\"delta\":{\"reasoning_content\":\"r\"}}]}"));
    /* Both sent: both kept as they came. */
    CHECK(chunk_is(KIMI_DIALECT_REASONING,
                   "{\"choices\":[{\"delta\":{\"reasoning\":\"a\","
                   "\"reasoning_content\":\"b\"}}]}",
                   "{\"choices\":[{\"delta\":{\"reasoning\":\"a\","
                   "\"reasoning_content\":\"b\"}}]}"));
    /* A null reasoning_content next to it is no reasoning: replaced. */
    CHECK(chunk_is(KIMI_DIALECT_REASONING,
                   "{\"choices\":[{\"delta\":{\"reasoning_content\":null,"
                   "\"reasoning\":\"r\",\"content\":\"\"}}]}",
                   "{\"choices\":[{\"delta\":{\"content\":\"\","
                   "\"reasoning_content\":\"r\"}}]}"));
    /* Duplicates: the last of each is the one read, before and after. */
    CHECK(reply_is(KIMI_DIALECT_REASONING,
                   "{\"choices\":[{\"message\":{\"reasoning_content\":\"x\","
                   "\"reasoning\":\"a\",\"reasoning_content\":null,"
                   "\"reasoning\":\"b\"}}]}",
                   "{\"choices\":[{\"message\":{\"reasoning_content\":\"x\","
                   "\"reasoning\":\"a\",\"reasoning_content\":\"b\"}}]}"));
    CHECK(chunk_is(KIMI_DIALECT_REASONING,
                   "{\"choices\":[{\"delta\":{\"reasoning\":\"a\","
                   "\"reasoning\":{}}}]}",
                   "{\"choices\":[{\"delta\":{\"reasoning\":\"a\","
                   "\"reasoning\":{}}}]}"));
    /* Not a string, no choices, odd shapes: untouched. */
    CHECK(chunk_is(KIMI_DIALECT_REASONING,
                   "{\"choices\":[{\"delta\":{\"reasoning\":null}},1,"
                   "{\"delta\":[]}]}",
                   "{\"choices\":[{\"delta\":{\"reasoning\":null}},1,"
                   "{\"delta\":[]}]}"));
    CHECK(chunk_is(KIMI_DIALECT_REASONING, "[1]", "[1]"));
    /* Without the bit nothing changes. */
    CHECK(reply_is(KIMI_DIALECT_ENVELOPE,
                   "{\"choices\":[{\"message\":{\"reasoning\":\"r\"}}]}",
                   "{\"choices\":[{\"message\":{\"reasoning\":\"r\"}}]}"));
}

static void
test_envelope_is_unwrapped(void)
{
    CHECK(reply_is(KIMI_DIALECT_ENVELOPE | KIMI_DIALECT_REASONING,
                   "{\"result\":{\"choices\":[{\"message\":{\"reasoning\":"
                   "\"r\"}}],\"usage\":{\"total_tokens\":3}},"
                   "\"success\":true,\"errors\":[],\"messages\":[]}",
                   "{\"choices\":[{\"message\":{\"reasoning_content\":\"r\"}}],"
                   "\"usage\":{\"total_tokens\":3}}"));
    /* Not a success, or no object result: as it came. */
    CHECK(reply_is(KIMI_DIALECT_ENVELOPE,
                   "{\"result\":{\"a\":1},\"success\":false}",
                   "{\"result\":{\"a\":1},\"success\":false}"));
    CHECK(reply_is(KIMI_DIALECT_ENVELOPE, "{\"result\":null,\"success\":true}",
                   "{\"result\":null,\"success\":true}"));
}

static void
test_response_is_read_as_content(void)
{
    CHECK(reply_is(KIMI_DIALECT_ENVELOPE,
                   "{\"result\":{\"response\":\"hi\",\"usage\":{}},"
                   "\"success\":true}",
                   "{\"usage\":{},\"choices\":[{\"index\":0,"
                   "\"finish_reason\":null,\"message\":{\"role\":"
                   "\"assistant\",\"content\":\"hi\"}}]}"));
    CHECK(chunk_is(KIMI_DIALECT_ENVELOPE, "{\"response\":\"hi\"}",
                   "{\"choices\":[{\"index\":0,\"finish_reason\":null,"
                   "\"delta\":{\"content\":\"hi\"}}]}"));
    /* Choices present, or a response that is no string: untouched. */
    CHECK(chunk_is(KIMI_DIALECT_ENVELOPE,
                   "{\"response\":\"x\",\"choices\":[]}",
                   "{\"response\":\"x\",\"choices\":[]}"));
    CHECK(chunk_is(KIMI_DIALECT_ENVELOPE, "{\"response\":1}",
                   "{\"response\":1}"));
}

static void
test_every_allocation_failure_leaves_the_tree_whole(void)
{
    const char *in = "{\"response\":\"hi\",\"usage\":{}}";
    int failures = 0;
    for (long n = 1; n < 50; n++) {
        struct kimi_error err;
        cJSON *tree = parse_or_exit(in);
        kimi_alloc_fail_after(n);
        enum kimi_status st = kimi_dialect_chunk(KIMI_DIALECT_ENVELOPE,
                                                 tree, &err);
        kimi_alloc_fail_after(0);
        if (st == KIMI_OK) {
            CHECK(prints_as(tree, "{\"usage\":{},\"choices\":[{\"index\":0,"
                                  "\"finish_reason\":null,\"delta\":"
                                  "{\"content\":\"hi\"}}]}"));
            cJSON_Delete(tree);
            break;
        }
        failures++;
        CHECK(st == KIMI_ENOMEM && err.status == KIMI_ENOMEM);
        CHECK(prints_as(tree, in));
        cJSON_Delete(tree);
    }
    CHECK(failures > 0);
}

static void
test_cloudflare_codes_decide_the_status(void)
{
    struct kimi_api_error api;
    memset(&api, 0, sizeof(api));
    api.code_is_number = 1;
    api.code_number = 3040;
    CHECK(kimi_dialect_error(KIMI_DIALECT_CF_CODES, &api, 500) == 429);
    CHECK_STR(api.type, "engine_overloaded_error");
    memset(&api, 0, sizeof(api));
    api.code_is_number = 1;
    api.code_number = 3036;
    memcpy(api.type, "own", 4);
    CHECK(kimi_dialect_error(KIMI_DIALECT_CF_CODES, &api, 429) == 429);
    CHECK_STR(api.type, "own");         /* the body's own type stands */
    api.code_number = 3042;
    CHECK(kimi_dialect_error(KIMI_DIALECT_CF_CODES, &api, 400) == 404);
    api.code_number = 42;               /* unknown: the status stands */
    CHECK(kimi_dialect_error(KIMI_DIALECT_CF_CODES, &api, 502) == 502);
    api.code_number = 3042;             /* without the bit: as sent */
    CHECK(kimi_dialect_error(KIMI_DIALECT_REASONING, &api, 400) == 400);
    api.code_is_number = 0;
    CHECK(kimi_dialect_error(KIMI_DIALECT_CF_CODES, &api, 400) == 400);
}

int
main(void)
{
    use_kimi_allocator_for_cjson();

    test_reasoning_is_renamed_on_messages_and_deltas();
    test_envelope_is_unwrapped();
    test_response_is_read_as_content();
    test_every_allocation_failure_leaves_the_tree_whole();
    test_cloudflare_codes_decide_the_status();
    return check_report("test_dialect");
}

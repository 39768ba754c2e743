/* fuzz_dialect.c - libFuzzer target for a gateway's shapes (dialect.c).
 *
 * The first byte picks the dialect bits and an allocation to fail; the
 * rest is parsed as JSON and rewritten as a whole reply and as a chunk.
 * A failed rewrite must leave the tree as it was; a done one must leave
 * no string "reasoning" unread (reasoning_content absent or null) and no
 * string "response" without choices, and feed the accumulator as any
 * chunk does.  The error code mapping runs on what the body says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "apierror.h"
#include "dialect.h"
#include "json.h"
#include "shared.h"

#define FUZZ_MAX_TEXT 256

static void
require(int condition)
{
    if (!condition) {
        abort();
    }
}

/* The tree prints as before (NULL before: the print failed, skip). */
static void
require_unchanged(const cJSON *tree, const char *before)
{
    if (before == NULL) {
        return;
    }
    char *now = cJSON_PrintUnformatted(tree);
    require(now != NULL && strcmp(now, before) == 0);
    cJSON_free(now);
}

/* No part of choices[i].<part> left in the gateway's spelling. */
static void
require_rewritten(const cJSON *root, unsigned dialect, const char *part)
{
    if ((dialect & KIMI_DIALECT_ENVELOPE) && cJSON_IsObject(root)
        && kimi_json_member(root, "choices") == NULL) {
        require(!cJSON_IsString(kimi_json_member(root, "response")));
    }
    const cJSON *choices = kimi_json_member(root, "choices");
    if (!(dialect & KIMI_DIALECT_REASONING) || !cJSON_IsArray(choices)) {
        return;
    }
    for (const cJSON *c = choices->child; c != NULL; c = c->next) {
        const cJSON *obj = kimi_json_member(c, part);
        const cJSON *own = kimi_json_member(obj, "reasoning_content");
        if (own == NULL || cJSON_IsNull(own)) {
            require(!cJSON_IsString(kimi_json_member(obj, "reasoning")));
        }
    }
}

static void
one(const char *text, size_t size, unsigned dialect, long fail, int whole)
{
    cJSON *tree = NULL;
    struct kimi_error err;

    if (kimi_json_parse(text, size, &tree, &err) != KIMI_OK) {
        return;
    }
    char *before = cJSON_PrintUnformatted(tree);
    kimi_alloc_fail_after(fail);
    enum kimi_status st = whole ? kimi_dialect_reply(dialect, &tree, &err)
                                : kimi_dialect_chunk(dialect, tree, &err);
    kimi_alloc_fail_after(0);
    if (st != KIMI_OK) {
        require(st == KIMI_ENOMEM && err.status == KIMI_ENOMEM);
        /* A reply's envelope may be gone before the failure: then the
         * result, whole, is the tree. */
        if (!whole) {
            require_unchanged(tree, before);
        }
    }
    else {
        require_rewritten(tree, dialect, whole ? "message" : "delta");
        if (!whole) {
            require(assembles_twice(tree, FUZZ_MAX_TEXT));
        }
    }
    cJSON_free(before);
    char *printed = cJSON_PrintUnformatted(tree);
    cJSON_free(printed);
    cJSON_Delete(tree);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int hooked;
    if (!hooked) {
        use_kimi_allocator_for_cjson();
        hooked = 1;
    }
    if (size < 1) {
        return 0;
    }
    unsigned dialect = data[0] & 7u;
    long fail = (long)(data[0] >> 3);       /* 0: none; else the Nth */
    const char *text = (const char *)data + 1;
    size--;

    one(text, size, dialect, fail, 1);
    one(text, size, dialect, fail, 0);

    struct kimi_api_error api;
    kimi_apierror_parse(&api, text, size);
    long status = kimi_dialect_error(dialect, &api, 200);
    require(status >= 100 && status <= 599);
    require(is_clean_field(api.type, sizeof(api.type)));
    return 0;
}

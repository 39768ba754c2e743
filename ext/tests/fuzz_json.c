/* fuzz_json.c - libFuzzer target for kimi_json_parse.
 *
 * Checks the parser against cJSON itself: what cJSON accepts with only
 * JSON whitespace after it parses to the same tree; nothing reports
 * KIMI_ENOMEM unless an allocation really failed (so the scanner that
 * explains failures never calls valid what cJSON rejects); a failed
 * allocation changes an answer only into KIMI_ENOMEM (so it never calls
 * invalid what cJSON accepts); errors carry an offset inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json.h"
#include "shared.h"

static void
require(int condition)
{
    if (!condition) {
        abort();
    }
}

/* The tree printed, or NULL (the caller frees it with cJSON_free). */
static char *
printed(const cJSON *tree)
{
    char *text = cJSON_PrintUnformatted(tree);
    require(text != NULL);
    return text;
}

static int
same_tree(const cJSON *a, const cJSON *b)
{
    char *pa = printed(a);
    char *pb = printed(b);
    int same = strcmp(pa, pb) == 0;
    cJSON_free(pa);
    cJSON_free(pb);
    return same;
}

/* cJSON's own verdict: a tree when it parses and only JSON whitespace
 * follows. */
static cJSON *
cjson_whole(const char *text, size_t size)
{
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (tree == NULL) {
        return NULL;
    }
    for (size_t i = (size_t)(end - text); i < size; i++) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n'
            && text[i] != '\r') {
            cJSON_Delete(tree);
            return NULL;
        }
    }
    return tree;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int hooked;
    const char *text = (const char *)data;
    struct kimi_error err;
    cJSON *tree = NULL;

    if (!hooked) {
        use_kimi_allocator_for_cjson();
        hooked = 1;
    }
    kimi_error_clear(&err);
    enum kimi_status st = kimi_json_parse(text, size, &tree, &err);
    require(st == KIMI_OK || st == KIMI_EPROTO);
    if (st == KIMI_OK) {
        require(tree != NULL);
    }
    else {
        require(tree == NULL);
        require(err.status == st);
        require(err.offset <= size);
        require(strncmp(err.message, "JSON is ", 8) == 0);
    }
    cJSON *reference = cjson_whole(text, size);
    if (reference != NULL) {
        require(st == KIMI_OK);
        require(same_tree(tree, reference));
    }
    cJSON_Delete(reference);

    for (long k = 1; k <= 3; k++) {
        struct kimi_error again;
        cJSON *other = NULL;
        kimi_error_clear(&again);
        kimi_alloc_fail_after(k + (size > 0 ? data[0] % 8 : 0));
        enum kimi_status st2 = kimi_json_parse(text, size, &other, &again);
        kimi_alloc_fail_after(0);
        require(st2 == st || st2 == KIMI_ENOMEM);
        if (st2 == KIMI_OK) {
            require(same_tree(tree, other));
        }
        else if (st2 == KIMI_EPROTO) {
            require(strcmp(err.message, again.message) == 0);
            require(err.offset == again.offset);
        }
        cJSON_Delete(other);
    }
    cJSON_Delete(tree);
    return 0;
}

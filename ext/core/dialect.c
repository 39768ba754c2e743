/* dialect.c - rewriting a gateway's reply trees into the API's shapes.
 *
 * See dialect.h.  Every rewrite moves items between parents (no copy of
 * their values); only new keys and the few new containers allocate.
 */
#include "dialect.h"

#include <string.h>

#include "json.h"

static enum kimi_status
no_memory(struct kimi_error *err)
{
    return kimi_error_set(err, KIMI_ENOMEM,
                          "gateway reply: out of memory rewriting it");
}

/* Add item under a constant key (no allocation): 0 when item is NULL. */
static int
add_const(cJSON *obj, const char *key, cJSON *item)
{
    return item != NULL && cJSON_AddItemToObjectCS(obj, key, item);
}

/* obj.reasoning -> obj.reasoning_content, when the second is absent or
 * null (a null one is dropped): moved under a constant key, so it cannot
 * fail.  Both read as the last of duplicate members, as everything else. */
static void
rename_reasoning(cJSON *obj)
{
    cJSON *reasoning = (cJSON *)kimi_json_member(obj, "reasoning");
    if (!cJSON_IsString(reasoning)) {
        return;
    }
    cJSON *own = (cJSON *)kimi_json_member(obj, "reasoning_content");
    if (own != NULL && !cJSON_IsNull(own)) {
        return;
    }
    if (own != NULL) {
        cJSON_Delete(cJSON_DetachItemViaPointer(obj, own));
    }
    cJSON_DetachItemViaPointer(obj, reasoning);
    cJSON_AddItemToObjectCS(obj, "reasoning_content", reasoning);
}

/* Every choices[i].<member> of a reply or chunk. */
static void
rename_in_choices(cJSON *root, const char *member)
{
    const cJSON *choices = kimi_json_member(root, "choices");
    if (!cJSON_IsArray(choices)) {
        return;
    }
    for (cJSON *choice = choices->child; choice != NULL;
         choice = choice->next) {
        rename_reasoning((cJSON *)kimi_json_member(choice, member));
    }
}

/* {"response": "...", ...} without choices ->
 * {..., "choices": [{"index": 0, <part>: {["role": "assistant",]
 * "content": "..."}, "finish_reason": null}]}; the other members stay.
 * part is a string literal (it becomes a constant key). */
static enum kimi_status
response_as_choice(cJSON *root, const char *part, int whole,
                   struct kimi_error *err)
{
    if (!cJSON_IsObject(root) || kimi_json_member(root, "choices") != NULL) {
        return KIMI_OK;
    }
    cJSON *response = (cJSON *)kimi_json_member(root, "response");
    if (!cJSON_IsString(response)) {
        return KIMI_OK;
    }
    cJSON *choices = cJSON_CreateArray();
    cJSON *choice = cJSON_CreateObject();
    cJSON *inner = cJSON_CreateObject();
    if (choices == NULL || choice == NULL || inner == NULL
        || !add_const(choice, "index", cJSON_CreateNumber(0))
        || !add_const(choice, "finish_reason", cJSON_CreateNull())
        || (whole
            && !add_const(inner, "role", cJSON_CreateString("assistant"))))
    {
        goto error;
    }
    add_const(choice, part, inner);     /* cannot fail: both exist */
    inner = NULL;
    cJSON_AddItemToArray(choices, choice);
    choice = NULL;
    /* From here nothing allocates: the text moves, the list is added. */
    cJSON *content = (cJSON *)kimi_json_member(choices->child, part);
    cJSON_DetachItemViaPointer(root, response);
    add_const(content, "content", response);
    add_const(root, "choices", choices);
    return KIMI_OK;

error:
    cJSON_Delete(choices);
    cJSON_Delete(choice);
    cJSON_Delete(inner);
    return no_memory(err);
}

/* {"result": {...}, "success": true, ...} -> the result itself. */
static void
unwrap_envelope(cJSON **root)
{
    const cJSON *result = kimi_json_member(*root, "result");
    const cJSON *success = kimi_json_member(*root, "success");
    if (!cJSON_IsObject(result) || !cJSON_IsTrue(success)) {
        return;
    }
    cJSON *inner = cJSON_DetachItemViaPointer(*root, (cJSON *)result);
    cJSON_Delete(*root);
    *root = inner;
}

enum kimi_status
kimi_dialect_reply(unsigned dialect, cJSON **root, struct kimi_error *err)
{
    if (dialect & KIMI_DIALECT_ENVELOPE) {
        unwrap_envelope(root);
        if (response_as_choice(*root, "message", 1, err) != KIMI_OK) {
            return KIMI_ENOMEM;
        }
    }
    if (dialect & KIMI_DIALECT_REASONING) {
        rename_in_choices(*root, "message");
    }
    return KIMI_OK;
}

enum kimi_status
kimi_dialect_chunk(unsigned dialect, cJSON *chunk, struct kimi_error *err)
{
    if ((dialect & KIMI_DIALECT_ENVELOPE)
        && response_as_choice(chunk, "delta", 0, err) != KIMI_OK) {
        return KIMI_ENOMEM;
    }
    if (dialect & KIMI_DIALECT_REASONING) {
        rename_in_choices(chunk, "delta");
    }
    return KIMI_OK;
}

/* Workers AI's internal codes and the status each stands for
 * (developers.cloudflare.com/workers-ai/platform/errors). */
static const struct {
    long long code;
    long status;
    const char *type;       /* given when the body named none */
} CF_CODES[] = {
    {5007, 400, "invalid_request_error"},
    {5004, 400, "invalid_request_error"},
    {3003, 400, "invalid_request_error"},
    {3023, 403, NULL},
    {3041, 403, NULL},
    {5018, 403, NULL},
    {3042, 404, NULL},
    {3006, 413, NULL},
    {3007, 408, NULL},
    {3008, 408, NULL},
    {3036, 429, "exceeded_current_quota_error"},    /* daily free quota */
    {3040, 429, "engine_overloaded_error"},         /* out of capacity */
    {10000, 401, NULL},                             /* authentication */
};

long
kimi_dialect_error(unsigned dialect, struct kimi_api_error *api,
                   long status)
{
    if (!(dialect & KIMI_DIALECT_CF_CODES) || !api->code_is_number) {
        return status;
    }
    for (size_t i = 0; i < sizeof(CF_CODES) / sizeof(CF_CODES[0]); i++) {
        if (CF_CODES[i].code != api->code_number) {
            continue;
        }
        if (CF_CODES[i].type != NULL && api->type[0] == '\0') {
            size_t n = strlen(CF_CODES[i].type);
            memcpy(api->type, CF_CODES[i].type, n + 1);
        }
        return CF_CODES[i].status;
    }
    return status;
}

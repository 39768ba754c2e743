/* notice.c - a chat reply cut by its token budget is never silent.
 *
 * When a settled reply or a stream read to its [DONE] has a choice whose
 * finish_reason is "length", the client's notice callable (kimi/_partial.py,
 * which warns once per client and route) is called with (model, empty,
 * completion_tokens): empty says that choice's content is empty and it made
 * no tool calls (its reasoning used the budget), completion_tokens is what
 * the usage counted (None when it did not say).  The look costs one pass
 * over the choices; the call happens only on a cut.
 */
#include "binding.h"

#include <string.h>

#include "json.h"

struct cut {
    int found;
    int empty;
};

/* A non-streaming reply's choices, as the object the user gets reads
 * them (the last of duplicate members). */
static struct cut
reply_cut(const cJSON *json)
{
    struct cut cut = {0, 0};
    const cJSON *found = kimi_json_member(json, "choices");
    const cJSON *choices = cJSON_IsArray(found) ? found : NULL;
    const cJSON *choice = NULL;
    cJSON_ArrayForEach(choice, choices) {
        const cJSON *finish = kimi_json_member(choice, "finish_reason");
        if (!cJSON_IsString(finish) || strcmp(finish->valuestring, "length")) {
            continue;
        }
        const cJSON *message = kimi_json_member(choice, "message");
        const cJSON *content = kimi_json_member(message, "content");
        const cJSON *calls = kimi_json_member(message, "tool_calls");
        cut.found = 1;
        cut.empty |= !(cJSON_IsString(content) && content->valuestring[0])
                     && cJSON_GetArraySize(calls) == 0;
    }
    return cut;
}

static struct cut
stream_cut(const struct kimi_accum *acc)
{
    struct cut cut = {0, 0};
    for (size_t i = 0; i < acc->n_choices; i++) {
        const struct kimi_choice_acc *c = &acc->choices[i];
        if (!c->has_finish_reason || c->finish_reason.len != 6
            || memcmp(c->finish_reason.data, "length", 6)) {
            continue;
        }
        cut.found = 1;
        cut.empty |= c->content.len == 0 && c->n_tool_calls == 0;
    }
    return cut;
}

static int
notify(struct client *client, struct cut cut, const char *model,
       size_t model_len, const cJSON *usage)
{
    if (!cut.found || client->notice == NULL) {
        return 0;
    }
    const cJSON *tokens = kimi_json_member(usage, "completion_tokens");
    PyObject *count = cJSON_IsNumber(tokens) && tokens->valuedouble >= 0
                      ? PyLong_FromDouble(tokens->valuedouble)
                      : Py_NewRef(Py_None);
    if (count == NULL) {
        return -1;
    }
    PyObject *name = PyUnicode_DecodeUTF8(model ? model : "",
                                          (Py_ssize_t)model_len, "replace");
    if (name == NULL) {
        Py_DECREF(count);
        return -1;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(
        client->notice, name, cut.empty ? Py_True : Py_False, count, NULL);
    Py_DECREF(name);
    Py_DECREF(count);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

int
kpy_notice_reply(struct client *client, const cJSON *json)
{
    if (client->notice == NULL) {
        return 0;
    }
    const cJSON *model = kimi_json_member(json, "model");
    const char *name = cJSON_IsString(model) ? model->valuestring : "";
    return notify(client, reply_cut(json), name, strlen(name),
                  kimi_json_member(json, "usage"));
}

int
kpy_notice_stream(struct client *client, const struct kimi_accum *acc)
{
    if (client->notice == NULL) {
        return 0;
    }
    return notify(client, stream_cut(acc), acc->model.data, acc->model.len,
                  acc->usage);
}

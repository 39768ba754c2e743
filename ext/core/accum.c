/* accum.c - folding streamed chunks into the whole reply.
 *
 * Chunks go into capped buffers from which the reply is rebuilt as a
 * chat.completion object.  The JSON is read with the tolerant readers of
 * json.h (a duplicated key: the last one wins, as everywhere in kimi).
 */
#include "accum.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "json.h"

#define KIMI_MAX_TEXT ((size_t)64 * 1024 * 1024)   /* default per buffer */
#define KIMI_MAX_CHOICES 128            /* distinct choice indexes */
#define KIMI_MAX_TOOL_CALLS 1024        /* distinct tool calls per choice */
#define KIMI_MAX_INDEX INT_MAX          /* largest accepted "index" */

/* The "index" of a choice or tool-call fragment; when it is not a number
 * the position in the enclosing array stands in for it. */
static enum kimi_status
read_index(const cJSON *item, size_t position, const char *what,
           long *index, struct kimi_error *err)
{
    const cJSON *node = kimi_json_member(item, "index");
    if (!cJSON_IsNumber(node)) {
        if (position > (size_t)KIMI_MAX_INDEX) {
            return kimi_error_set(err, KIMI_ETOOBIG,
                                  "chunk: %s at position %zu has no "
                                  "valid index", what, position);
        }
        *index = (long)position;
        return KIMI_OK;
    }
    double value = node->valuedouble;
    /* Written so that NaN fails the range test too. */
    if (!(value >= 0.0 && value <= (double)KIMI_MAX_INDEX)
        || (double)(long)value != value)
    {
        return kimi_error_set(err, KIMI_EPROTO,
                              "chunk: %s index %g is not a valid index",
                              what, value);
    }
    *index = (long)value;
    return KIMI_OK;
}

/* ---- capped text buffers ---- */

/* The buffer's text, "" when nothing was kept. */
static const char *
buf_text(const struct kimi_buf *buf)
{
    return buf->len > 0 ? buf->data : "";
}

static enum kimi_status
append_text(struct kimi_buf *buf, const char *text, const char *what,
            struct kimi_error *err)
{
    struct kimi_error inner;
    inner.message[0] = '\0';
    enum kimi_status st = kimi_buf_append(buf, text, strlen(text), &inner);
    if (st != KIMI_OK) {
        return kimi_error_set(err, st, "chunk: %s: %s", what,
                              inner.message[0] != '\0' ? inner.message
                                                       : kimi_strerror(st));
    }
    return KIMI_OK;
}

/* Replace the buffer's text, unless it already holds exactly that. */
static enum kimi_status
replace_text(struct kimi_buf *buf, const char *text, const char *what,
             struct kimi_error *err)
{
    size_t n = strlen(text);
    if (buf->len == n && n > 0 && memcmp(buf->data, text, n) == 0) {
        return KIMI_OK;
    }
    kimi_buf_clear(buf);
    return append_text(buf, text, what, err);
}

/* Keep the first non-empty value: fill the buffer only while it is empty. */
static enum kimi_status
keep_first_text(struct kimi_buf *buf, const char *text, const char *what,
                struct kimi_error *err)
{
    if (buf->len > 0 || text == NULL || text[0] == '\0') {
        return KIMI_OK;
    }
    return append_text(buf, text, what, err);
}

/* ---- the per-index accumulators ---- */

/* Grow an array of elem_size items to hold at least one more; returns the
 * new array, or NULL with *cap unchanged. */
static void *
grow_array(void *items, size_t *cap, size_t elem_size)
{
    size_t new_cap = *cap == 0 ? 1 : *cap * 2;
    void *grown = kimi_realloc(items, new_cap * elem_size);
    if (grown != NULL) {
        *cap = new_cap;
    }
    return grown;
}

static void
tool_call_free(struct kimi_tool_call_acc *call)
{
    kimi_buf_free(&call->id);
    kimi_buf_free(&call->type);
    kimi_buf_free(&call->name);
    kimi_buf_free(&call->arguments);
}

static void
choice_free(struct kimi_choice_acc *choice)
{
    kimi_buf_free(&choice->role);
    kimi_buf_free(&choice->content);
    kimi_buf_free(&choice->reasoning);
    kimi_buf_free(&choice->finish_reason);
    for (size_t i = 0; i < choice->n_tool_calls; i++) {
        tool_call_free(&choice->tool_calls[i]);
    }
    kimi_free(choice->tool_calls);
    choice->tool_calls = NULL;
    choice->n_tool_calls = 0;
    choice->cap_tool_calls = 0;
}

/* The choice with this index, created on first sight.  Searches from the
 * newest, which is where the next fragment almost always belongs. */
static enum kimi_status
find_choice(struct kimi_accum *acc, long index,
            struct kimi_choice_acc **out, struct kimi_error *err)
{
    for (size_t i = acc->n_choices; i > 0; i--) {
        if (acc->choices[i - 1].index == index) {
            *out = &acc->choices[i - 1];
            return KIMI_OK;
        }
    }
    if (acc->n_choices >= KIMI_MAX_CHOICES) {
        return kimi_error_set(err, KIMI_ETOOBIG,
                              "chunk: more than %d choices",
                              KIMI_MAX_CHOICES);
    }
    if (acc->n_choices == acc->cap_choices) {
        void *grown = grow_array(acc->choices, &acc->cap_choices,
                                 sizeof(*acc->choices));
        if (grown == NULL) {
            return kimi_error_set(err, KIMI_ENOMEM,
                                  "chunk: cannot allocate a choice");
        }
        acc->choices = grown;
    }
    struct kimi_choice_acc *choice = &acc->choices[acc->n_choices];
    size_t cap = acc->max_text;
    memset(choice, 0, sizeof(*choice));
    choice->index = index;
    kimi_buf_init(&choice->role, cap);
    kimi_buf_init(&choice->content, cap);
    kimi_buf_init(&choice->reasoning, cap);
    kimi_buf_init(&choice->finish_reason, cap);
    acc->n_choices++;
    *out = choice;
    return KIMI_OK;
}

/* The tool call with this index in a choice, created on first sight. */
static enum kimi_status
find_tool_call(struct kimi_accum *acc, struct kimi_choice_acc *choice,
               long index, struct kimi_tool_call_acc **out,
               struct kimi_error *err)
{
    for (size_t i = choice->n_tool_calls; i > 0; i--) {
        if (choice->tool_calls[i - 1].index == index) {
            *out = &choice->tool_calls[i - 1];
            return KIMI_OK;
        }
    }
    if (choice->n_tool_calls >= KIMI_MAX_TOOL_CALLS) {
        return kimi_error_set(err, KIMI_ETOOBIG,
                              "chunk: more than %d tool calls in a choice",
                              KIMI_MAX_TOOL_CALLS);
    }
    if (choice->n_tool_calls == choice->cap_tool_calls) {
        void *grown = grow_array(choice->tool_calls, &choice->cap_tool_calls,
                                 sizeof(*choice->tool_calls));
        if (grown == NULL) {
            return kimi_error_set(err, KIMI_ENOMEM,
                                  "chunk: cannot allocate a tool call");
        }
        choice->tool_calls = grown;
    }
    struct kimi_tool_call_acc *call;
    size_t cap = acc->max_text;
    call = &choice->tool_calls[choice->n_tool_calls];
    memset(call, 0, sizeof(*call));
    call->index = index;
    kimi_buf_init(&call->id, cap);
    kimi_buf_init(&call->type, cap);
    kimi_buf_init(&call->name, cap);
    kimi_buf_init(&call->arguments, cap);
    choice->n_tool_calls++;
    *out = call;
    return KIMI_OK;
}

/* ---- folding one chunk in ---- */

static enum kimi_status
keep_usage(struct kimi_accum *acc, const cJSON *usage,
           struct kimi_error *err)
{
    cJSON *copy = cJSON_Duplicate(usage, 1);
    if (copy == NULL) {
        return kimi_error_set(err, KIMI_ENOMEM,
                              "chunk: cannot copy the usage object");
    }
    cJSON_Delete(acc->usage);
    acc->usage = copy;
    return KIMI_OK;
}

static enum kimi_status
add_tool_fragment(struct kimi_accum *acc, struct kimi_choice_acc *choice,
                  const cJSON *fragment, size_t position,
                  struct kimi_error *err)
{
    long index = 0;
    struct kimi_tool_call_acc *call = NULL;
    enum kimi_status st;

    if (!cJSON_IsObject(fragment)) {
        return KIMI_OK;
    }
    st = read_index(fragment, position, "tool call", &index, err);
    if (st != KIMI_OK) {
        return st;
    }
    st = find_tool_call(acc, choice, index, &call, err);
    if (st != KIMI_OK) {
        return st;
    }
    const char *id = kimi_json_nonempty(fragment, "id");
    if (id != NULL) {
        st = replace_text(&call->id, id, "tool call id", err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    const char *type = kimi_json_nonempty(fragment, "type");
    if (type != NULL) {
        st = replace_text(&call->type, type, "tool call type", err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    const cJSON *function = kimi_json_member(fragment, "function");
    const char *name = kimi_json_nonempty(function, "name");
    if (name != NULL) {
        st = replace_text(&call->name, name, "tool call name", err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    const char *arguments = kimi_json_string(function, "arguments");
    if (arguments != NULL) {
        st = append_text(&call->arguments, arguments,
                         "tool call arguments", err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    return KIMI_OK;
}

static enum kimi_status
add_delta(struct kimi_accum *acc, struct kimi_choice_acc *choice,
          const cJSON *delta, struct kimi_error *err)
{
    enum kimi_status st;

    if (choice->role.len == 0) {    /* only the first delta carries it */
        st = keep_first_text(&choice->role, kimi_json_string(delta, "role"),
                             "delta.role", err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    const char *content = kimi_json_string(delta, "content");
    if (content != NULL) {
        st = append_text(&choice->content, content, "delta.content", err);
        if (st != KIMI_OK) {
            return st;
        }
        choice->has_content = 1;
    }
    /* Some gateways send both names with the same text: take one. */
    const char *reasoning = kimi_json_string(delta, "reasoning_content");
    if (reasoning == NULL) {
        reasoning = kimi_json_string(delta, "reasoning");
    }
    if (reasoning != NULL) {
        st = append_text(&choice->reasoning, reasoning, "delta.reasoning",
                         err);
        if (st != KIMI_OK) {
            return st;
        }
        choice->has_reasoning = 1;
    }
    const cJSON *tool_calls = kimi_json_member(delta, "tool_calls");
    if (cJSON_IsArray(tool_calls)) {
        size_t position = 0;
        const cJSON *fragment;
        cJSON_ArrayForEach(fragment, tool_calls) {
            st = add_tool_fragment(acc, choice, fragment, position, err);
            if (st != KIMI_OK) {
                return st;
            }
            position++;
        }
    }
    return KIMI_OK;
}

static enum kimi_status
add_choice(struct kimi_accum *acc, const cJSON *item, size_t position,
           struct kimi_error *err)
{
    long index = 0;
    struct kimi_choice_acc *choice = NULL;
    enum kimi_status st;

    if (!cJSON_IsObject(item)) {
        return KIMI_OK;
    }
    st = read_index(item, position, "choice", &index, err);
    if (st != KIMI_OK) {
        return st;
    }
    st = find_choice(acc, index, &choice, err);
    if (st != KIMI_OK) {
        return st;
    }
    st = add_delta(acc, choice, kimi_json_member(item, "delta"), err);
    if (st != KIMI_OK) {
        return st;
    }
    const char *finish = kimi_json_string(item, "finish_reason");
    if (finish != NULL) {
        st = replace_text(&choice->finish_reason, finish, "finish_reason",
                          err);
        if (st != KIMI_OK) {
            return st;
        }
        choice->has_finish_reason = 1;
    }
    const cJSON *usage = kimi_json_member(item, "usage");
    if (cJSON_IsObject(usage)) {
        return keep_usage(acc, usage, err);
    }
    return KIMI_OK;
}

/* id, model and created come from the first chunk that has them; once
 * known they are not looked up again (every chunk repeats them). */
static enum kimi_status
add_header(struct kimi_accum *acc, const cJSON *chunk,
           struct kimi_error *err)
{
    enum kimi_status st;

    if (acc->id.len == 0) {
        st = keep_first_text(&acc->id, kimi_json_string(chunk, "id"), "id",
                             err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    if (acc->model.len == 0) {
        st = keep_first_text(&acc->model, kimi_json_string(chunk, "model"),
                             "model", err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    if (!acc->has_created) {
        const cJSON *created = kimi_json_member(chunk, "created");
        if (cJSON_IsNumber(created)) {
            acc->created = created->valuedouble;
            acc->has_created = 1;
        }
    }
    return KIMI_OK;
}

void
kimi_accum_init(struct kimi_accum *acc, size_t max_text)
{
    memset(acc, 0, sizeof(*acc));
    acc->max_text = max_text != 0 ? max_text : KIMI_MAX_TEXT;
    kimi_buf_init(&acc->id, acc->max_text);
    kimi_buf_init(&acc->model, acc->max_text);
}

enum kimi_status
kimi_accum_add(struct kimi_accum *acc, const cJSON *chunk,
               struct kimi_error *err)
{
    enum kimi_status st;

    if (!cJSON_IsObject(chunk)) {
        return kimi_error_set(err, KIMI_EPROTO,
                              "chunk: expected a JSON object, got %s",
                              kimi_json_kind(chunk));
    }
    st = add_header(acc, chunk, err);
    if (st != KIMI_OK) {
        return st;
    }
    const cJSON *choices = kimi_json_member(chunk, "choices");
    if (cJSON_IsArray(choices)) {
        size_t position = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, choices) {
            st = add_choice(acc, item, position, err);
            if (st != KIMI_OK) {
                return st;
            }
            position++;
        }
    }
    /* Read after the choices: a top-level usage is the later report. */
    const cJSON *usage = kimi_json_member(chunk, "usage");
    if (cJSON_IsObject(usage)) {
        st = keep_usage(acc, usage, err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    acc->n_chunks++;
    return KIMI_OK;
}

/* ---- building the reply ---- */

/* Each adder returns KIMI_ENOMEM when cJSON could not allocate; an item
 * that could not be attached is deleted, so the caller only deletes the
 * root. */

static enum kimi_status
attach(cJSON *object, const char *key, cJSON *item)
{
    if (item == NULL) {
        return KIMI_ENOMEM;
    }
    if (!cJSON_AddItemToObject(object, key, item)) {
        cJSON_Delete(item);
        return KIMI_ENOMEM;
    }
    return KIMI_OK;
}

static enum kimi_status
append_item(cJSON *array, cJSON *item)
{
    if (item == NULL) {
        return KIMI_ENOMEM;
    }
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return KIMI_ENOMEM;
    }
    return KIMI_OK;
}

static enum kimi_status
add_string(cJSON *object, const char *key, const char *value)
{
    return cJSON_AddStringToObject(object, key, value) != NULL ? KIMI_OK
                                                               : KIMI_ENOMEM;
}

/* The string value of the buffer when has_value, else JSON null. */
static enum kimi_status
add_string_or_null(cJSON *object, const char *key,
                   const struct kimi_buf *buf, int has_value)
{
    if (has_value) {
        return add_string(object, key, buf_text(buf));
    }
    return cJSON_AddNullToObject(object, key) != NULL ? KIMI_OK
                                                      : KIMI_ENOMEM;
}

/* The choice with the smallest index above after (-1 for the first), or
 * NULL.  Indexes are distinct and the counts capped, so picking in turn
 * costs little and needs no allocation. */
static const struct kimi_choice_acc *
next_choice(const struct kimi_accum *acc, long after)
{
    const struct kimi_choice_acc *best = NULL;
    for (size_t i = 0; i < acc->n_choices; i++) {
        const struct kimi_choice_acc *c = &acc->choices[i];
        if (c->index > after && (best == NULL || c->index < best->index)) {
            best = c;
        }
    }
    return best;
}

static const struct kimi_tool_call_acc *
next_tool_call(const struct kimi_choice_acc *choice, long after)
{
    const struct kimi_tool_call_acc *best = NULL;
    for (size_t i = 0; i < choice->n_tool_calls; i++) {
        const struct kimi_tool_call_acc *t = &choice->tool_calls[i];
        if (t->index > after && (best == NULL || t->index < best->index)) {
            best = t;
        }
    }
    return best;
}

static cJSON *
build_tool_call(const struct kimi_tool_call_acc *call)
{
    cJSON *node = cJSON_CreateObject();
    if (node == NULL) {
        return NULL;
    }
    const char *type = call->type.len > 0 ? buf_text(&call->type)
                                          : "function";
    if (add_string(node, "id", buf_text(&call->id)) != KIMI_OK
        || add_string(node, "type", type) != KIMI_OK)
    {
        cJSON_Delete(node);
        return NULL;
    }
    /* Attached first, so deleting node also deletes it. */
    cJSON *function = cJSON_CreateObject();
    if (attach(node, "function", function) != KIMI_OK
        || add_string(function, "name", buf_text(&call->name)) != KIMI_OK
        || add_string(function, "arguments",
                      buf_text(&call->arguments)) != KIMI_OK)
    {
        cJSON_Delete(node);
        return NULL;
    }
    return node;
}

static cJSON *
build_tool_calls(const struct kimi_choice_acc *choice)
{
    cJSON *list = cJSON_CreateArray();
    if (list == NULL) {
        return NULL;
    }
    long after = -1;
    const struct kimi_tool_call_acc *call = next_tool_call(choice, after);
    while (call != NULL) {
        if (append_item(list, build_tool_call(call)) != KIMI_OK) {
            cJSON_Delete(list);
            return NULL;
        }
        after = call->index;
        call = next_tool_call(choice, after);
    }
    return list;
}

static cJSON *
build_message(const struct kimi_choice_acc *choice)
{
    cJSON *message = cJSON_CreateObject();
    if (message == NULL) {
        return NULL;
    }
    const char *role = choice->role.len > 0 ? buf_text(&choice->role)
                                            : "assistant";
    if (add_string(message, "role", role) != KIMI_OK
        || add_string_or_null(message, "content", &choice->content,
                              choice->has_content) != KIMI_OK)
    {
        cJSON_Delete(message);
        return NULL;
    }
    if (choice->has_reasoning
        && add_string(message, "reasoning_content",
                      buf_text(&choice->reasoning)) != KIMI_OK)
    {
        cJSON_Delete(message);
        return NULL;
    }
    if (choice->n_tool_calls > 0
        && attach(message, "tool_calls", build_tool_calls(choice)) != KIMI_OK)
    {
        cJSON_Delete(message);
        return NULL;
    }
    return message;
}

static cJSON *
build_choice(const struct kimi_choice_acc *choice)
{
    cJSON *node = cJSON_CreateObject();
    if (node == NULL) {
        return NULL;
    }
    if (cJSON_AddNumberToObject(node, "index", (double)choice->index) == NULL
        || attach(node, "message", build_message(choice)) != KIMI_OK
        || add_string_or_null(node, "finish_reason", &choice->finish_reason,
                              choice->has_finish_reason) != KIMI_OK)
    {
        cJSON_Delete(node);
        return NULL;
    }
    return node;
}

static cJSON *
build_choices(const struct kimi_accum *acc)
{
    cJSON *list = cJSON_CreateArray();
    if (list == NULL) {
        return NULL;
    }
    long after = -1;
    const struct kimi_choice_acc *choice = next_choice(acc, after);
    while (choice != NULL) {
        if (append_item(list, build_choice(choice)) != KIMI_OK) {
            cJSON_Delete(list);
            return NULL;
        }
        after = choice->index;
        choice = next_choice(acc, after);
    }
    return list;
}

static enum kimi_status
build_reply(const struct kimi_accum *acc, cJSON *root)
{
    if (add_string(root, "id", buf_text(&acc->id)) != KIMI_OK
        || add_string(root, "object", "chat.completion") != KIMI_OK)
    {
        return KIMI_ENOMEM;
    }
    if (acc->has_created
        && cJSON_AddNumberToObject(root, "created", acc->created) == NULL)
    {
        return KIMI_ENOMEM;
    }
    if (add_string(root, "model", buf_text(&acc->model)) != KIMI_OK
        || attach(root, "choices", build_choices(acc)) != KIMI_OK)
    {
        return KIMI_ENOMEM;
    }
    cJSON *usage = acc->usage != NULL ? cJSON_Duplicate(acc->usage, 1)
                                      : cJSON_CreateNull();
    return attach(root, "usage", usage);
}

enum kimi_status
kimi_accum_build(const struct kimi_accum *acc, cJSON **out,
                 struct kimi_error *err)
{
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    if (root == NULL || build_reply(acc, root) != KIMI_OK) {
        cJSON_Delete(root);
        return kimi_error_set(err, KIMI_ENOMEM,
                              "chunk: cannot allocate the assembled reply");
    }
    *out = root;
    return KIMI_OK;
}

void
kimi_accum_free(struct kimi_accum *acc)
{
    kimi_buf_free(&acc->id);
    kimi_buf_free(&acc->model);
    for (size_t i = 0; i < acc->n_choices; i++) {
        choice_free(&acc->choices[i]);
    }
    kimi_free(acc->choices);
    cJSON_Delete(acc->usage);
    memset(acc, 0, sizeof(*acc));
}

/* test_accum.c - unit tests for accum.c (and chunk.c on the recorded
 * stream).
 *
 * Feeds hand-written chunks and the recorded Kimi K2.5 stream (from
 * $KIMI_VECTORS, default tests/vectors) through the accumulator and
 * checks the assembled chat.completion field by field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "accum.h"
#include "apierror.h"
#include "check.h"
#include "chunk.h"

#define N_ITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static cJSON *
parse(const char *text)
{
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, strlen(text), &end, 0);
    if (json == NULL) {
        fprintf(stderr, "test bug: cannot parse %s\n", text);
        exit(2);
    }
    return json;
}

static enum kimi_status
add_text(struct kimi_accum *acc, const char *text, struct kimi_error *err)
{
    cJSON *chunk = parse(text);
    enum kimi_status st = kimi_accum_add(acc, chunk, err);
    cJSON_Delete(chunk);
    return st;
}

/* Add every chunk; returns the first failure. */
static enum kimi_status
add_all(struct kimi_accum *acc, const char *const *chunks, size_t n,
        struct kimi_error *err)
{
    for (size_t i = 0; i < n; i++) {
        enum kimi_status st = add_text(acc, chunks[i], err);
        if (st != KIMI_OK) {
            return st;
        }
    }
    return KIMI_OK;
}

static cJSON *
build(const struct kimi_accum *acc)
{
    cJSON *out = NULL;
    struct kimi_error err;
    CHECK(kimi_accum_build(acc, &out, &err) == KIMI_OK);
    CHECK(out != NULL);
    return out;
}

static const cJSON *
get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *
str_at(const cJSON *obj, const char *key)
{
    const cJSON *item = get(obj, key);
    return cJSON_IsString(item) ? item->valuestring : "<not a string>";
}

static double
num_at(const cJSON *obj, const char *key)
{
    const cJSON *item = get(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : -1.0;
}

static const cJSON *
choice_at(const cJSON *reply, int i)
{
    return cJSON_GetArrayItem(get(reply, "choices"), i);
}

static const cJSON *
message_at(const cJSON *reply, int i)
{
    return get(choice_at(reply, i), "message");
}

static const cJSON *
tool_call_at(const cJSON *reply, int choice, int i)
{
    return cJSON_GetArrayItem(get(message_at(reply, choice), "tool_calls"),
                              i);
}

static const cJSON *
function_at(const cJSON *reply, int choice, int i)
{
    return get(tool_call_at(reply, choice, i), "function");
}

/* The reply's usage.total_tokens, or -1. */
static double
total_tokens(const cJSON *reply)
{
    return num_at(get(reply, "usage"), "total_tokens");
}

/* Build, print unformatted and compare with want. */
static void
check_printed(const struct kimi_accum *acc, const char *want)
{
    cJSON *reply = build(acc);
    char *printed = cJSON_PrintUnformatted(reply);
    CHECK(printed != NULL);
    if (printed != NULL) {
        CHECK_STR(printed, want);
        if (strcmp(printed, want) != 0) {
            fprintf(stderr, "  got:  %s\n  want: %s\n", printed, want);
        }
    }
    cJSON_free(printed);
    cJSON_Delete(reply);
}

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096;
    size_t n = 0;
    char *data = malloc(cap);
    while (data != NULL) {
        n += fread(data + n, 1, cap - 1 - n, f);
        if (n < cap - 1) {
            break;
        }
        cap *= 2;
        char *grown = realloc(data, cap);
        if (grown == NULL) {
            free(data);
        }
        data = grown;
    }
    fclose(f);
    if (data != NULL) {
        data[n] = '\0';
        *len = n;
    }
    return data;
}

/* ---- the recorded reasoning stream ---- */

struct recorded {
    struct kimi_accum acc;
    struct kimi_buf want_content;   /* kimi_chunk_content pieces */
    struct kimi_buf want_reasoning; /* delta.reasoning_content pieces */
    int n_events;
    int saw_done;
};

static void
feed_recorded_event(struct recorded *rec, const char *data)
{
    struct kimi_error err;
    cJSON *chunk = parse(data);

    rec->n_events++;
    CHECK(!kimi_apierror_is_error(chunk));
    const char *content = kimi_chunk_content(chunk);
    if (content != NULL) {
        CHECK(kimi_buf_append(&rec->want_content, content, strlen(content),
                              &err) == KIMI_OK);
    }
    const cJSON *delta = get(choice_at(chunk, 0), "delta");
    const cJSON *reasoning = get(delta, "reasoning_content");
    if (cJSON_IsString(reasoning)) {
        CHECK(kimi_buf_append(&rec->want_reasoning, reasoning->valuestring,
                              strlen(reasoning->valuestring),
                              &err) == KIMI_OK);
    }
    CHECK(kimi_accum_add(&rec->acc, chunk, &err) == KIMI_OK);
    cJSON_Delete(chunk);
}

/* Split on blank lines, strip "data: ", stop at [DONE]. */
static void
feed_recorded_stream(struct recorded *rec, char *text)
{
    char *p = text;
    while (*p != '\0') {
        char *sep = strstr(p, "\n\n");
        if (sep != NULL) {
            *sep = '\0';
        }
        while (*p == '\n') {
            p++;
        }
        if (*p != '\0') {
            CHECK(strncmp(p, "data: ", 6) == 0);
            if (strncmp(p, "data: ", 6) == 0) {
                p += 6;
            }
            if (strcmp(p, "[DONE]") == 0) {
                rec->saw_done = 1;
                return;
            }
            feed_recorded_event(rec, p);
        }
        if (sep == NULL) {
            return;
        }
        p = sep + 2;
    }
}

static void
test_recorded_stream_assembles_content_reasoning_and_usage(void)
{
    const char *dir = getenv("KIMI_VECTORS");
    char path[4096];
    size_t len = 0;
    struct recorded rec;

    if (dir == NULL || dir[0] == '\0') {
        dir = "tests/vectors";
    }
    snprintf(path, sizeof(path), "%s/kimi-k2.5-reasoning-stream.sse", dir);
    char *text = read_file(path, &len);
    CHECK(text != NULL);
    if (text == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        return;
    }
    kimi_accum_init(&rec.acc, 0);
    kimi_buf_init(&rec.want_content, 0);
    kimi_buf_init(&rec.want_reasoning, 0);
    rec.n_events = 0;
    rec.saw_done = 0;
    feed_recorded_stream(&rec, text);
    free(text);

    CHECK(rec.saw_done);
    CHECK(rec.n_events == 17);
    CHECK(rec.acc.n_chunks == 17);
    CHECK(rec.acc.n_choices == 1);
    CHECK(rec.want_reasoning.len > 100);

    cJSON *reply = build(&rec.acc);
    const cJSON *msg = message_at(reply, 0);
    const char *content = " 안녕하세요! "
                          "어떻게 도와드릴까요 오늘?";
    CHECK_STR(str_at(reply, "id"), "chatcmpl-952dd5e75583c4d1");
    CHECK_STR(str_at(reply, "object"), "chat.completion");
    CHECK(num_at(reply, "created") == 1770992031.0);
    CHECK_STR(str_at(reply, "model"), "kimi-k2.5");
    CHECK(cJSON_GetArraySize(get(reply, "choices")) == 1);
    CHECK(num_at(choice_at(reply, 0), "index") == 0.0);
    CHECK_STR(str_at(msg, "role"), "assistant");
    CHECK_STR(str_at(msg, "content"), content);
    CHECK_STR(str_at(msg, "content"), rec.want_content.data);
    /* reasoning and reasoning_content carry the same text: not doubled */
    CHECK_STR(str_at(msg, "reasoning_content"), rec.want_reasoning.data);
    CHECK(strlen(str_at(msg, "reasoning_content"))
          == rec.want_reasoning.len);
    CHECK(get(msg, "tool_calls") == NULL);
    CHECK_STR(str_at(choice_at(reply, 0), "finish_reason"), "stop");
    const cJSON *usage = get(reply, "usage");
    CHECK(num_at(usage, "prompt_tokens") == 9.0);
    CHECK(num_at(usage, "completion_tokens") == 135.0);
    CHECK(num_at(usage, "total_tokens") == 144.0);
    CHECK(cJSON_IsObject(get(usage, "prompt_tokens_details")));
    cJSON_Delete(reply);

    kimi_buf_free(&rec.want_content);
    kimi_buf_free(&rec.want_reasoning);
    kimi_accum_free(&rec.acc);
}

/* ---- the tool-call stream of kimi-api.md section 11 ---- */

static const char *const tool_stream[] = {
    "{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\","
    "\"created\":1,\"model\":\"kimi-k2.6\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"Need\"},"
    "\"finish_reason\":null}]}",
    "{\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"reasoning_content\":\" the tool.\"},\"finish_reason\":null}]}",
    "{\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"tool_calls\":[{\"index\":0,\"id\":\"get_weather:0\","
    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"\"}}]},\"finish_reason\":null}]}",
    "{\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
    "\"{\\\"city\\\": \"}}]},\"finish_reason\":null}]}",
    "{\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
    "\"\\\"Beijing\\\"}\"}}]},\"finish_reason\":null}]}",
    "{\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{},"
    "\"finish_reason\":\"tool_calls\",\"usage\":{\"prompt_tokens\":120,"
    "\"completion_tokens\":42,\"total_tokens\":162,"
    "\"cached_tokens\":64}}]}",
    "{\"id\":\"chatcmpl-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":120,"
    "\"completion_tokens\":42,\"total_tokens\":162,\"cached_tokens\":64}}",
};

static void
check_tool_stream_reply(const cJSON *reply)
{
    const cJSON *msg = message_at(reply, 0);
    CHECK_STR(str_at(reply, "id"), "chatcmpl-x");
    CHECK(num_at(reply, "created") == 1.0);
    CHECK_STR(str_at(reply, "model"), "kimi-k2.6");
    CHECK_STR(str_at(msg, "role"), "assistant");
    CHECK(cJSON_IsNull(get(msg, "content")));
    CHECK_STR(str_at(msg, "reasoning_content"), "Need the tool.");
    CHECK(cJSON_GetArraySize(get(msg, "tool_calls")) == 1);
    CHECK_STR(str_at(tool_call_at(reply, 0, 0), "id"), "get_weather:0");
    CHECK_STR(str_at(tool_call_at(reply, 0, 0), "type"), "function");
    CHECK_STR(str_at(function_at(reply, 0, 0), "name"), "get_weather");
    CHECK_STR(str_at(function_at(reply, 0, 0), "arguments"),
              "{\"city\": \"Beijing\"}");
    CHECK_STR(str_at(choice_at(reply, 0), "finish_reason"), "tool_calls");
    const cJSON *usage = get(reply, "usage");
    CHECK(num_at(usage, "prompt_tokens") == 120.0);
    CHECK(num_at(usage, "completion_tokens") == 42.0);
    CHECK(num_at(usage, "total_tokens") == 162.0);
    CHECK(num_at(usage, "cached_tokens") == 64.0);
}

static void
test_tool_call_stream_joins_arguments(void)
{
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, tool_stream, N_ITEMS(tool_stream), &err) == KIMI_OK);
    CHECK(acc.n_chunks == N_ITEMS(tool_stream));
    cJSON *reply = build(&acc);
    check_tool_stream_reply(reply);
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

/* ---- usage placement ---- */

static double
usage_after(const char *const *chunks, size_t n)
{
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, n, &err) == KIMI_OK);
    cJSON *reply = build(&acc);
    double total = total_tokens(reply);
    if (total < 0) {
        CHECK(cJSON_IsNull(get(reply, "usage")));
    }
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
    return total;
}

#define IN_CHOICE(n) "{\"choices\":[{\"index\":0,\"delta\":{}," \
    "\"finish_reason\":\"stop\",\"usage\":{\"total_tokens\":" #n "}}]}"
#define AT_TOP(n) "{\"choices\":[],\"usage\":{\"total_tokens\":" #n "}}"

static void
test_usage_is_read_wherever_it_is_and_last_wins(void)
{
    const char *in_choice[] = {IN_CHOICE(7)};
    const char *at_top[] = {AT_TOP(8)};
    const char *choice_then_top[] = {IN_CHOICE(7), AT_TOP(8)};
    const char *top_then_choice[] = {AT_TOP(8), IN_CHOICE(7)};
    const char *both_in_one[] = {
        "{\"choices\":[{\"usage\":{\"total_tokens\":1}}],"
        "\"usage\":{\"total_tokens\":2}}",
    };
    const char *null_after[] = {
        IN_CHOICE(7),
        ("{\"choices\":[{\"index\":0,\"delta\":{},\"usage\":null}],"
         "\"usage\":null}"),
        "{\"choices\":[]}",
    };
    const char *not_object[] = {
        IN_CHOICE(7),
        "{\"choices\":[{\"usage\":5}],\"usage\":[1]}",
    };
    const char *never[] = {
        "{\"choices\":[{\"delta\":{\"content\":\"x\"},\"usage\":null}],"
        "\"usage\":null}",
    };

    CHECK(usage_after(in_choice, N_ITEMS(in_choice)) == 7.0);
    CHECK(usage_after(at_top, N_ITEMS(at_top)) == 8.0);
    CHECK(usage_after(choice_then_top, N_ITEMS(choice_then_top)) == 8.0);
    CHECK(usage_after(top_then_choice, N_ITEMS(top_then_choice)) == 7.0);
    CHECK(usage_after(both_in_one, N_ITEMS(both_in_one)) == 2.0);
    CHECK(usage_after(null_after, N_ITEMS(null_after)) == 7.0);
    CHECK(usage_after(not_object, N_ITEMS(not_object)) == 7.0);
    CHECK(usage_after(never, N_ITEMS(never)) == -1.0);
}

/* ---- choices ---- */

static void
test_missing_or_empty_choices_are_accepted(void)
{
    const char *chunks[] = {
        "{\"id\":\"e\",\"choices\":[]}",
        "{\"id\":\"f\"}",
        "{\"choices\":null}",
        "{\"choices\":{\"index\":0}}",
        "{\"choices\":\"text\"}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    CHECK(acc.n_chunks == N_ITEMS(chunks));
    CHECK(acc.n_choices == 0);
    cJSON *reply = build(&acc);
    CHECK(cJSON_IsArray(get(reply, "choices")));
    CHECK(cJSON_GetArraySize(get(reply, "choices")) == 0);
    CHECK_STR(str_at(reply, "id"), "e");
    cJSON_Delete(reply);
    check_printed(&acc, "{\"id\":\"e\",\"object\":\"chat.completion\","
                        "\"model\":\"\",\"choices\":[],\"usage\":null}");
    kimi_accum_free(&acc);
}

static void
test_choices_are_routed_by_index_and_built_in_order(void)
{
    const char *chunks[] = {
        "{\"id\":\"n\",\"choices\":[{\"index\":1,\"delta\":"
        "{\"role\":\"assistant\",\"content\":\"B1\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":"
        "{\"role\":\"assistant\",\"content\":\"A1\"}}]}",
        "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B2\"},"
        "\"finish_reason\":\"length\"},{\"index\":0,\"delta\":"
        "{\"content\":\"A2\"},\"finish_reason\":\"stop\"}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    CHECK(acc.n_choices == 2);
    CHECK(acc.choices[0].index == 1);   /* kept in order of first sight */
    cJSON *reply = build(&acc);
    CHECK(cJSON_GetArraySize(get(reply, "choices")) == 2);
    CHECK(num_at(choice_at(reply, 0), "index") == 0.0);
    CHECK_STR(str_at(message_at(reply, 0), "content"), "A1A2");
    CHECK_STR(str_at(choice_at(reply, 0), "finish_reason"), "stop");
    CHECK(num_at(choice_at(reply, 1), "index") == 1.0);
    CHECK_STR(str_at(message_at(reply, 1), "content"), "B1B2");
    CHECK_STR(str_at(choice_at(reply, 1), "finish_reason"), "length");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

static void
test_choice_without_index_uses_its_position(void)
{
    const char *chunks[] = {
        "{\"choices\":[{\"delta\":{\"content\":\"x\"}},"
        "{\"delta\":{\"content\":\"y\"}}]}",
        "{\"choices\":[{\"index\":\"1\",\"delta\":{\"content\":\"!\"}}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    cJSON *reply = build(&acc);
    CHECK_STR(str_at(message_at(reply, 0), "content"), "x!");
    CHECK_STR(str_at(message_at(reply, 1), "content"), "y");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

static void
test_invalid_index_is_a_protocol_error(void)
{
    const char *bad[] = {
        "{\"choices\":[{\"index\":-1}]}",
        "{\"choices\":[{\"index\":2.5}]}",
        "{\"choices\":[{\"index\":1e300}]}",
        ("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
         "[{\"index\":-3}]}}]}"),
    };
    for (size_t i = 0; i < N_ITEMS(bad); i++) {
        struct kimi_accum acc;
        struct kimi_error err;
        kimi_accum_init(&acc, 0);
        CHECK(add_text(&acc, bad[i], &err) == KIMI_EPROTO);
        CHECK(err.status == KIMI_EPROTO);
        CHECK(strstr(err.message, "index") != NULL);
        kimi_accum_free(&acc);
    }
}

static void
test_too_many_choices_is_too_big(void)
{
    struct kimi_accum acc;
    struct kimi_error err;
    cJSON *chunk = cJSON_CreateObject();
    cJSON *choices = cJSON_AddArrayToObject(chunk, "choices");

    for (int i = 0; i < 128; i++) {
        cJSON *choice = cJSON_CreateObject();
        cJSON_AddNumberToObject(choice, "index", i);
        cJSON_AddItemToArray(choices, choice);
    }
    kimi_accum_init(&acc, 0);
    CHECK(kimi_accum_add(&acc, chunk, &err) == KIMI_OK);
    CHECK(acc.n_choices == 128);
    CHECK(kimi_accum_add(&acc, chunk, &err) == KIMI_OK);
    CHECK(add_text(&acc, "{\"choices\":[{\"index\":500}]}", &err)
          == KIMI_ETOOBIG);
    CHECK(err.status == KIMI_ETOOBIG);
    cJSON *reply = build(&acc);
    CHECK(cJSON_GetArraySize(get(reply, "choices")) == 128);
    CHECK(num_at(choice_at(reply, 127), "index") == 127.0);
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
    cJSON_Delete(chunk);
}

/* ---- header fields, role, finish reason ---- */

static void
test_id_model_created_come_from_first_chunk_that_has_them(void)
{
    const char *chunks[] = {
        "{\"id\":\"\",\"model\":\"\",\"created\":null,\"choices\":[]}",
        "{\"id\":\"x\",\"model\":\"m\",\"created\":3}",
        "{\"id\":\"y\",\"model\":\"n\",\"created\":4}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    cJSON *reply = build(&acc);
    CHECK_STR(str_at(reply, "id"), "x");
    CHECK_STR(str_at(reply, "model"), "m");
    CHECK(num_at(reply, "created") == 3.0);
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

static void
test_role_is_first_non_empty_and_defaults_to_assistant(void)
{
    const char *chunks[] = {
        ("{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"\"}},"
         "{\"index\":1,\"delta\":{\"content\":\"\"}}]}"),
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"tool\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    cJSON *reply = build(&acc);
    CHECK_STR(str_at(message_at(reply, 0), "role"), "tool");
    CHECK(cJSON_IsNull(get(message_at(reply, 0), "content")));
    CHECK_STR(str_at(message_at(reply, 1), "role"), "assistant");
    /* an empty content delta still counts as content */
    CHECK_STR(str_at(message_at(reply, 1), "content"), "");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

static void
test_finish_reason_keeps_last_string(void)
{
    const char *chunks[] = {
        "{\"choices\":[{\"index\":0,\"finish_reason\":null},"
        "{\"index\":1,\"finish_reason\":\"length\"},"
        "{\"index\":2,\"finish_reason\":\"length\"}]}",
        "{\"choices\":[{\"index\":1,\"finish_reason\":null},"
        "{\"index\":2,\"finish_reason\":\"stop\"}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    cJSON *reply = build(&acc);
    CHECK(cJSON_IsNull(get(choice_at(reply, 0), "finish_reason")));
    CHECK_STR(str_at(choice_at(reply, 1), "finish_reason"), "length");
    CHECK_STR(str_at(choice_at(reply, 2), "finish_reason"), "stop");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

/* ---- reasoning ---- */

static void
test_reasoning_fields(void)
{
    const char *openrouter[] = {
        "{\"choices\":[{\"delta\":{\"reasoning\":\"think \"}}]}",
        "{\"choices\":[{\"delta\":{\"reasoning\":\"more\"}}]}",
        ("{\"choices\":[{\"delta\":{\"reasoning_content\":null,"
         "\"reasoning\":\"!\",\"content\":\"done\"}}]}"),
    };
    const char *both_differ[] = {
        "{\"choices\":[{\"delta\":{\"reasoning_content\":\"A\","
        "\"reasoning\":\"B\"}}]}",
    };
    const char *none[] = {
        "{\"choices\":[{\"delta\":{\"content\":\"plain\","
        "\"reasoning_content\":null,\"reasoning\":7}}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;
    cJSON *reply;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, openrouter, N_ITEMS(openrouter), &err) == KIMI_OK);
    reply = build(&acc);
    CHECK_STR(str_at(message_at(reply, 0), "reasoning_content"),
              "think more!");
    CHECK_STR(str_at(message_at(reply, 0), "content"), "done");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, both_differ, 1, &err) == KIMI_OK);
    reply = build(&acc);
    CHECK_STR(str_at(message_at(reply, 0), "reasoning_content"), "A");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, none, 1, &err) == KIMI_OK);
    reply = build(&acc);
    CHECK(get(message_at(reply, 0), "reasoning_content") == NULL);
    CHECK_STR(str_at(message_at(reply, 0), "content"), "plain");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

/* ---- tool calls ---- */

static void
test_interleaved_tool_calls_are_joined_by_index(void)
{
    const char *chunks[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,"
        "\"id\":\"b:1\",\"type\":\"builtin_function\",\"function\":"
        "{\"name\":\"b\",\"arguments\":\"\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"id\":\"a:0\",\"function\":{\"name\":\"a\","
        "\"arguments\":\"{\\\"x\\\":\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":["
        "{\"index\":1,\"function\":{\"arguments\":\"{\\\"y\\\":\"}},"
        "{\"index\":0,\"id\":\"\",\"type\":\"\",\"function\":{\"name\":\"\","
        "\"arguments\":\"1}\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,"
        "\"id\":\"b:1\",\"function\":{\"name\":\"b\",\"arguments\":\"2}\"}},"
        "\"junk\"]},\"finish_reason\":\"tool_calls\"}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    CHECK(acc.n_choices == 1);
    CHECK(acc.choices[0].n_tool_calls == 2);
    cJSON *reply = build(&acc);
    CHECK(cJSON_GetArraySize(get(message_at(reply, 0), "tool_calls")) == 2);
    CHECK_STR(str_at(tool_call_at(reply, 0, 0), "id"), "a:0");
    CHECK_STR(str_at(tool_call_at(reply, 0, 0), "type"), "function");
    CHECK_STR(str_at(function_at(reply, 0, 0), "name"), "a");
    CHECK_STR(str_at(function_at(reply, 0, 0), "arguments"), "{\"x\":1}");
    CHECK_STR(str_at(tool_call_at(reply, 0, 1), "id"), "b:1");
    CHECK_STR(str_at(tool_call_at(reply, 0, 1), "type"),
              "builtin_function");
    /* a repeated name replaces, never doubles */
    CHECK_STR(str_at(function_at(reply, 0, 1), "name"), "b");
    CHECK_STR(str_at(function_at(reply, 0, 1), "arguments"), "{\"y\":2}");
    CHECK(get(tool_call_at(reply, 0, 0), "index") == NULL);
    CHECK(cJSON_IsNull(get(message_at(reply, 0), "content")));
    CHECK_STR(str_at(choice_at(reply, 0), "finish_reason"), "tool_calls");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

static void
test_tool_call_without_index_uses_its_position(void)
{
    const char *chunks[] = {
        "{\"choices\":[{\"delta\":{\"tool_calls\":["
        "{\"id\":\"p0\",\"function\":{\"name\":\"f0\"}},"
        "{\"id\":\"p1\",\"function\":{\"name\":\"f1\"}}]}}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":["
        "{\"function\":{\"arguments\":\"{}\"}}]}}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    cJSON *reply = build(&acc);
    CHECK_STR(str_at(tool_call_at(reply, 0, 0), "id"), "p0");
    CHECK_STR(str_at(function_at(reply, 0, 0), "name"), "f0");
    CHECK_STR(str_at(function_at(reply, 0, 0), "arguments"), "{}");
    CHECK_STR(str_at(tool_call_at(reply, 0, 1), "id"), "p1");
    CHECK_STR(str_at(function_at(reply, 0, 1), "name"), "f1");
    CHECK_STR(str_at(function_at(reply, 0, 1), "arguments"), "");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

static void
test_too_many_tool_calls_is_too_big(void)
{
    struct kimi_accum acc;
    struct kimi_error err;
    cJSON *chunk = cJSON_CreateObject();
    cJSON *choices = cJSON_AddArrayToObject(chunk, "choices");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, choice);
    cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
    cJSON *calls = cJSON_AddArrayToObject(delta, "tool_calls");

    for (int i = 0; i < 1024; i++) {
        cJSON *call = cJSON_CreateObject();
        cJSON_AddNumberToObject(call, "index", 1023 - i);
        cJSON_AddItemToArray(calls, call);
    }
    kimi_accum_init(&acc, 0);
    CHECK(kimi_accum_add(&acc, chunk, &err) == KIMI_OK);
    CHECK(acc.choices[0].n_tool_calls == 1024);
    CHECK(add_text(&acc, "{\"choices\":[{\"delta\":{\"tool_calls\":"
                         "[{\"index\":5000}]}}]}", &err) == KIMI_ETOOBIG);
    CHECK(err.status == KIMI_ETOOBIG);
    cJSON *reply = build(&acc);
    CHECK(num_at(choice_at(reply, 0), "index") == 0.0);
    CHECK(cJSON_GetArraySize(get(message_at(reply, 0), "tool_calls"))
          == 1024);
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
    cJSON_Delete(chunk);
}

/* ---- the built object ---- */

static void
test_build_prints_the_documented_shape(void)
{
    const char *chunks[] = {
        "{\"id\":\"c1\",\"created\":5,\"model\":\"m\",\"choices\":[{"
        "\"index\":0,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"hi \\\"there\\\"\",\"reasoning_content\":\"r\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"id\":\"t:0\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\","
        "\"usage\":{\"total_tokens\":3}}]}",
    };
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, chunks, N_ITEMS(chunks), &err) == KIMI_OK);
    check_printed(&acc,
                  "{\"id\":\"c1\",\"object\":\"chat.completion\","
                  "\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,"
                  "\"message\":{\"role\":\"assistant\","
                  "\"content\":\"hi \\\"there\\\"\","
                  "\"reasoning_content\":\"r\",\"tool_calls\":[{"
                  "\"id\":\"t:0\",\"type\":\"function\",\"function\":{"
                  "\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                  "\"finish_reason\":\"tool_calls\"}],"
                  "\"usage\":{\"total_tokens\":3}}");
    kimi_accum_free(&acc);
}

static void
test_build_with_nothing_added(void)
{
    struct kimi_accum acc;

    kimi_accum_init(&acc, 0);
    check_printed(&acc, "{\"id\":\"\",\"object\":\"chat.completion\","
                        "\"model\":\"\",\"choices\":[],\"usage\":null}");
    kimi_accum_free(&acc);
}

static void
test_content_with_quotes_and_utf8_round_trips(void)
{
    const char *text = "say \"hi\"\n\t\xe2\x80\x94 \xe4\xbd\xa0\xe5\xa5\xbd"
                       " \\ end \xf0\x9f\x98\x80";
    struct kimi_accum acc;
    struct kimi_error err;
    cJSON *chunk = cJSON_CreateObject();
    cJSON *choices = cJSON_AddArrayToObject(chunk, "choices");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, choice);
    cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
    cJSON_AddStringToObject(delta, "content", text);

    kimi_accum_init(&acc, 0);
    CHECK(kimi_accum_add(&acc, chunk, &err) == KIMI_OK);
    CHECK(kimi_accum_add(&acc, chunk, &err) == KIMI_OK);
    cJSON *reply = build(&acc);
    char *printed = cJSON_PrintUnformatted(reply);
    CHECK(printed != NULL);
    if (printed != NULL) {
        cJSON *again = parse(printed);
        const char *content = str_at(message_at(again, 0), "content");
        size_t n = strlen(text);
        CHECK(strlen(content) == 2 * n);
        CHECK(strncmp(content, text, n) == 0);
        CHECK_STR(content + n, text);
        cJSON_Delete(again);
    }
    cJSON_free(printed);
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
    cJSON_Delete(chunk);
}

/* ---- bad input and limits ---- */

static void
test_non_object_chunk_is_a_protocol_error(void)
{
    const char *bad[] = {"[]", "[{\"choices\":[]}]", "\"x\"", "null", "3",
                         "true"};
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    for (size_t i = 0; i < N_ITEMS(bad); i++) {
        kimi_error_clear(&err);
        CHECK(add_text(&acc, bad[i], &err) == KIMI_EPROTO);
        CHECK(err.status == KIMI_EPROTO);
        CHECK(strstr(err.message, "expected a JSON object") != NULL);
    }
    CHECK(kimi_accum_add(&acc, NULL, &err) == KIMI_EPROTO);
    CHECK(acc.n_chunks == 0);
    kimi_accum_free(&acc);
}

static enum kimi_status
add_under_cap(size_t cap, const char *const *chunks, size_t n,
              struct kimi_error *err)
{
    struct kimi_accum acc;
    kimi_accum_init(&acc, cap);
    kimi_error_clear(err);
    enum kimi_status st = add_all(&acc, chunks, n, err);
    kimi_accum_free(&acc);
    return st;
}

static void
test_text_past_the_cap_is_too_big(void)
{
    const char *content_at_cap[] = {
        "{\"choices\":[{\"delta\":{\"content\":\"12345\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"678\"}}]}",
    };
    const char *content_over[] = {
        "{\"choices\":[{\"delta\":{\"content\":\"12345\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"6789\"}}]}",
    };
    const char *reasoning_over[] = {
        "{\"choices\":[{\"delta\":{\"reasoning\":\"123456789\"}}]}",
    };
    const char *arguments_over[] = {
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":"
        "{\"arguments\":\"1234\"}}]}}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":"
        "{\"arguments\":\"56789\"}}]}}]}",
    };
    const char *name_over[] = {
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":"
        "{\"name\":\"long_function\"}}]}}]}",
    };
    const char *id_over[] = {"{\"id\":\"chatcmpl-1\"}"};
    const char *finish_over[] = {
        "{\"choices\":[{\"finish_reason\":\"much too long\"}]}",
    };
    struct kimi_error err;

    CHECK(add_under_cap(8, content_at_cap, 2, &err) == KIMI_OK);
    CHECK(add_under_cap(8, content_over, 2, &err) == KIMI_ETOOBIG);
    CHECK(err.status == KIMI_ETOOBIG);
    CHECK(strstr(err.message, "delta.content") != NULL);
    CHECK(add_under_cap(8, reasoning_over, 1, &err) == KIMI_ETOOBIG);
    CHECK(strstr(err.message, "reasoning") != NULL);
    CHECK(add_under_cap(8, arguments_over, 2, &err) == KIMI_ETOOBIG);
    CHECK(strstr(err.message, "arguments") != NULL);
    CHECK(add_under_cap(8, name_over, 1, &err) == KIMI_ETOOBIG);
    CHECK(add_under_cap(8, id_over, 1, &err) == KIMI_ETOOBIG);
    CHECK(add_under_cap(8, finish_over, 1, &err) == KIMI_ETOOBIG);
    CHECK(add_under_cap(0, content_over, 2, &err) == KIMI_OK);
}

/* Parse the tool stream plus two-choice and content chunks up front, then
 * fail the 1st, 2nd, ... allocation until the whole run succeeds. */
static void
test_allocation_failure_reports_enomem_without_leaks(void)
{
    const char *extra[] = {
        "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\","
        "\"reasoning\":\"why\"},\"finish_reason\":\"stop\"}]}",
        "{\"choices\":[{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":1,"
        "\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\","
        "\"arguments\":\"[]\"}}]}}]}",
    };
    cJSON *chunks[N_ITEMS(tool_stream) + N_ITEMS(extra)];
    size_t n = 0;
    int failures = 0;
    int succeeded = 0;

    for (size_t i = 0; i < N_ITEMS(tool_stream); i++) {
        chunks[n++] = parse(tool_stream[i]);
    }
    for (size_t i = 0; i < N_ITEMS(extra); i++) {
        chunks[n++] = parse(extra[i]);
    }
    for (long fail_at = 1; fail_at < 10000 && !succeeded; fail_at++) {
        struct kimi_accum acc;
        struct kimi_error err;
        cJSON *out = NULL;
        enum kimi_status st = KIMI_OK;

        kimi_error_clear(&err);
        kimi_accum_init(&acc, 0);
        kimi_alloc_fail_after(fail_at);
        for (size_t i = 0; i < n && st == KIMI_OK; i++) {
            st = kimi_accum_add(&acc, chunks[i], &err);
        }
        if (st == KIMI_OK) {
            st = kimi_accum_build(&acc, &out, &err);
        }
        kimi_alloc_fail_after(0);
        if (st == KIMI_OK) {
            succeeded = 1;
            check_tool_stream_reply(out);
            CHECK_STR(str_at(message_at(out, 1), "content"), "other");
            CHECK_STR(str_at(message_at(out, 1), "reasoning_content"),
                      "why");
            CHECK_STR(str_at(function_at(out, 1, 0), "name"), "g");
            CHECK_STR(str_at(function_at(out, 1, 0), "arguments"), "[]");
            cJSON_Delete(out);
        }
        else {
            failures++;
            CHECK(st == KIMI_ENOMEM);
            CHECK(err.status == KIMI_ENOMEM);
            CHECK(err.message[0] != '\0');
            CHECK(out == NULL);
        }
        kimi_accum_free(&acc);
    }
    CHECK(succeeded);
    CHECK(failures > 20);
    for (size_t i = 0; i < n; i++) {
        cJSON_Delete(chunks[i]);
    }
}

static void
test_accumulator_stays_usable_after_enomem(void)
{
    const char *chunk = "{\"choices\":[{\"delta\":{\"content\":\"abc\"}}]}";
    struct kimi_accum acc;
    struct kimi_error err;

    kimi_accum_init(&acc, 0);
    CHECK(add_text(&acc, "{\"choices\":[{\"delta\":{}}]}", &err) == KIMI_OK);
    cJSON *parsed = parse(chunk);
    kimi_alloc_fail_after(1);
    CHECK(kimi_accum_add(&acc, parsed, &err) == KIMI_ENOMEM);
    kimi_alloc_fail_after(0);
    CHECK(strstr(err.message, "delta.content") != NULL);
    CHECK(kimi_accum_add(&acc, parsed, &err) == KIMI_OK);
    cJSON_Delete(parsed);
    cJSON *reply = build(&acc);
    CHECK_STR(str_at(message_at(reply, 0), "content"), "abc");
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
}

static void
test_free_is_idempotent_and_safe_on_zeroed_struct(void)
{
    struct kimi_accum acc;
    struct kimi_error err;

    memset(&acc, 0, sizeof(acc));
    kimi_accum_free(&acc);
    kimi_accum_free(&acc);
    kimi_accum_init(&acc, 0);
    kimi_accum_free(&acc);
    kimi_accum_free(&acc);
    kimi_accum_init(&acc, 0);
    CHECK(add_all(&acc, tool_stream, N_ITEMS(tool_stream), &err) == KIMI_OK);
    kimi_accum_free(&acc);
    CHECK(acc.choices == NULL);
    CHECK(acc.n_choices == 0);
    CHECK(acc.usage == NULL);
    kimi_accum_free(&acc);
}

/* ---- duplicate keys ---- */

/* The last of a repeated key wins, as json.loads and the chunk objects
 * have it. */
static void
test_duplicate_keys_take_the_last_value(void)
{
    struct kimi_accum acc;
    struct kimi_error err;
    cJSON *reply = NULL;

    kimi_error_clear(&err);
    kimi_accum_init(&acc, 0);
    cJSON *chunk = parse("{\"id\":\"first\",\"id\":\"last\",\"choices\":"
                         "[{\"index\":0,\"delta\":{\"content\":\"a\","
                         "\"content\":\"b\"},\"finish_reason\":\"x\","
                         "\"finish_reason\":\"stop\"}]}");
    CHECK(kimi_accum_add(&acc, chunk, &err) == KIMI_OK);
    CHECK(kimi_accum_build(&acc, &reply, &err) == KIMI_OK);
    const cJSON *choice = cJSON_GetArrayItem(get(reply, "choices"), 0);
    CHECK_STR(get(get(choice, "message"), "content")->valuestring, "b");
    CHECK_STR(get(choice, "finish_reason")->valuestring, "stop");
    CHECK_STR(get(reply, "id")->valuestring, "last");
    cJSON_Delete(reply);
    cJSON_Delete(chunk);
    kimi_accum_free(&acc);
}

static void
use_kimi_allocator_for_cjson(void)
{
    cJSON_Hooks hooks = {kimi_malloc, kimi_free};
    cJSON_InitHooks(&hooks);
}

int
main(void)
{
    /* cJSON's own allocations then take part in failure injection. */
    use_kimi_allocator_for_cjson();

    test_recorded_stream_assembles_content_reasoning_and_usage();
    test_tool_call_stream_joins_arguments();
    test_usage_is_read_wherever_it_is_and_last_wins();
    test_missing_or_empty_choices_are_accepted();
    test_choices_are_routed_by_index_and_built_in_order();
    test_choice_without_index_uses_its_position();
    test_invalid_index_is_a_protocol_error();
    test_too_many_choices_is_too_big();
    test_id_model_created_come_from_first_chunk_that_has_them();
    test_role_is_first_non_empty_and_defaults_to_assistant();
    test_finish_reason_keeps_last_string();
    test_reasoning_fields();
    test_interleaved_tool_calls_are_joined_by_index();
    test_tool_call_without_index_uses_its_position();
    test_too_many_tool_calls_is_too_big();
    test_build_prints_the_documented_shape();
    test_build_with_nothing_added();
    test_content_with_quotes_and_utf8_round_trips();
    test_non_object_chunk_is_a_protocol_error();
    test_text_past_the_cap_is_too_big();
    test_allocation_failure_reports_enomem_without_leaks();
    test_accumulator_stays_usable_after_enomem();
    test_free_is_idempotent_and_safe_on_zeroed_struct();
    test_duplicate_keys_take_the_last_value();
    return check_report("accum");
}

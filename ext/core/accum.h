/* accum.h - the assembly of a streamed reply from its chunks.
 *
 * Folds parsed chat.completion.chunk objects into capped buffers (content,
 * reasoning, tool calls joined per index, finish reason, usage wherever the
 * server put it) and rebuilds the whole reply as a chat.completion object.
 * Works on cJSON trees the caller owns; the accumulator copies what it
 * keeps.  Knows nothing of SSE or HTTP.  Not thread-safe.
 */
#ifndef KIMI_ACCUM_H
#define KIMI_ACCUM_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

struct kimi_tool_call_acc {
    long index;
    struct kimi_buf id;
    struct kimi_buf type;
    struct kimi_buf name;
    struct kimi_buf arguments;
};

struct kimi_choice_acc {
    long index;
    struct kimi_buf role;
    struct kimi_buf content;
    struct kimi_buf reasoning;      /* reasoning_content, else reasoning */
    struct kimi_buf finish_reason;
    int has_content;
    int has_reasoning;
    int has_finish_reason;
    struct kimi_tool_call_acc *tool_calls;  /* ordered by first sight */
    size_t n_tool_calls;
    size_t cap_tool_calls;
};

struct kimi_accum {
    size_t max_text;                /* cap for each text buffer */
    struct kimi_buf id;
    struct kimi_buf model;
    double created;
    int has_created;
    struct kimi_choice_acc *choices; /* ordered by first sight */
    size_t n_choices;
    size_t cap_choices;
    cJSON *usage;                   /* owned copy of the last usage seen */
    size_t n_chunks;                /* chunks folded in (diagnostics) */
};

void kimi_accum_init(struct kimi_accum *acc, size_t max_text);

/* Fold one chunk into the reply.  Usage is read from the top level and from
 * choices[i].usage; the last non-null value wins.  Reasoning is read from
 * delta.reasoning_content, or delta.reasoning when that is absent.  Tool
 * call fragments are joined by their index. */
KIMI_MUST_CHECK enum kimi_status kimi_accum_add(struct kimi_accum *acc,
                                                const cJSON *chunk,
                                                struct kimi_error *err);

/* Build the assembled reply as a new chat.completion object:
 * {id, object, created, model, choices: [{index, message: {role, content,
 * reasoning_content?, tool_calls?}, finish_reason}], usage}.  *out is a new
 * tree the caller frees with cJSON_Delete. */
KIMI_MUST_CHECK enum kimi_status kimi_accum_build(const struct kimi_accum *acc,
                                                  cJSON **out,
                                                  struct kimi_error *err);

void kimi_accum_free(struct kimi_accum *acc);

#endif

/* chunk.c - the text delta of one streamed chat.completion.chunk.
 *
 * Used by the text-only path, which yields content strings without
 * building chunk objects.  Reads with json.h (the last duplicate wins).
 */
#include "chunk.h"

#include "json.h"

const char *
kimi_chunk_content(const cJSON *chunk)
{
    const cJSON *choices = kimi_json_member(chunk, "choices");
    if (!cJSON_IsArray(choices)) {
        return NULL;
    }
    /* The first choice (index 0): with n > 1 a chunk may carry another. */
    size_t position = 0;
    for (const cJSON *choice = choices->child; choice != NULL;
         choice = choice->next, position++) {
        const cJSON *index = kimi_json_member(choice, "index");
        double at = cJSON_IsNumber(index) ? index->valuedouble
                                          : (double)position;
        if (at == 0.0) {
            const cJSON *delta = kimi_json_member(choice, "delta");
            return kimi_json_string(delta, "content");
        }
    }
    return NULL;
}

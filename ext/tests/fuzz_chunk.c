/* fuzz_chunk.c - libFuzzer target for chunk decoding and reply assembly.
 *
 * Parses the input as JSON and runs the chunk.c and accum.c entry points
 * over it: the content getter, two adds into one accumulator (so existing
 * choices and tool calls are found again) and the build.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "chunk.h"

#define FUZZ_MAX_TEXT 256   /* small, so the cap is reached often */

static void
require(int condition)
{
    if (!condition) {
        abort();
    }
}

static void
assemble(const cJSON *chunk)
{
    struct kimi_accum acc;
    struct kimi_error err;
    cJSON *reply = NULL;

    kimi_accum_init(&acc, FUZZ_MAX_TEXT);
    enum kimi_status st = kimi_accum_add(&acc, chunk, &err);
    if (st == KIMI_OK) {
        st = kimi_accum_add(&acc, chunk, &err);
    }
    if (st != KIMI_OK) {
        require(st == KIMI_EPROTO || st == KIMI_ETOOBIG);
        require(err.status == st);
    }
    st = kimi_accum_build(&acc, &reply, &err);
    require(st == KIMI_OK);
    require(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(reply,
                                                           "choices")));
    char *printed = cJSON_PrintUnformatted(reply);
    require(printed != NULL);
    cJSON_free(printed);
    cJSON_Delete(reply);
    kimi_accum_free(&acc);
    kimi_accum_free(&acc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *end = NULL;
    cJSON *chunk = cJSON_ParseWithLengthOpts((const char *)data, size, &end,
                                             0);
    if (chunk == NULL) {
        return 0;
    }
    const char *content = kimi_chunk_content(chunk);
    if (content != NULL) {
        require(strlen(content) <= size);
    }
    assemble(chunk);
    cJSON_Delete(chunk);
    return 0;
}

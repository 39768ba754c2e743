/* fuzz_chunk.c - libFuzzer target for chunk decoding and reply assembly.
 *
 * Parses the input as JSON and runs the chunk.c and accum.c entry points
 * over it: the content getter, two adds into one accumulator (so existing
 * choices and tool calls are found again) and the build.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "shared.h"

#define FUZZ_MAX_TEXT 256   /* small, so the cap is reached often */

static void
require(int condition)
{
    if (!condition) {
        abort();
    }
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
    require(assembles_twice(chunk, FUZZ_MAX_TEXT));
    cJSON_Delete(chunk);
    return 0;
}

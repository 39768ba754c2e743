/* chunk.h - what the core needs to know of one chat completion chunk.
 *
 * Reads the text delta of a parsed chunk for the text-only path.  The
 * assembly of a whole reply is accum.h's; error objects are apierror.h's.
 * Works on cJSON trees the caller owns.  Thread-safe (reads only).
 */
#ifndef KIMI_CHUNK_H
#define KIMI_CHUNK_H

#include <cjson/cJSON.h>

/* delta.content of the chunk's choice with index 0 (borrowed), or NULL
 * when there is none or it is null or not a string. */
const char *kimi_chunk_content(const cJSON *chunk);

#endif

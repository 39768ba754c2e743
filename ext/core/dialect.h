/* dialect.h - a gateway's reply shapes read as the Moonshot API's.
 *
 * Some gateways that serve Kimi models answer in shapes of their own:
 * OpenRouter and Cloudflare name the reasoning "reasoning", Cloudflare's
 * native /ai/run endpoint wraps replies in {"result":...,"success":true}
 * and older Workers AI models stream {"response":"..."} chunks, and
 * Cloudflare's errors carry numeric codes that say more than the status.
 * A request names its dialect (a set of KIMI_DIALECT_* bits; 0 is the
 * API's own shapes, for which nothing here runs); the parsed tree is
 * rewritten in place before objects are built from it and before the
 * accumulator reads it, so the rest of the core sees one shape.
 *
 * Ownership: trees are the caller's; a rewritten root replaces *root (the
 * old one is freed).  Thread-safe (no state).  Errors: KIMI_ENOMEM only;
 * the tree is then still whole and freeable.
 */
#ifndef KIMI_DIALECT_H
#define KIMI_DIALECT_H

#include <cjson/cJSON.h>

#include "apierror.h"
#include "error.h"

/* "reasoning" on messages and deltas is renamed "reasoning_content"
 * (unless that is present too and not null: then both are kept as sent). */
#define KIMI_DIALECT_REASONING 1u
/* A reply's {"result": {...}, "success": true} envelope is unwrapped;
 * {"response": "..."} (a reply or a stream chunk without "choices") is
 * read as the content of choice 0. */
#define KIMI_DIALECT_ENVELOPE 2u
/* Cloudflare's numeric error codes decide the status of an error. */
#define KIMI_DIALECT_CF_CODES 4u

/* A whole (non-streamed) reply. */
KIMI_MUST_CHECK enum kimi_status kimi_dialect_reply(unsigned dialect,
                                                    cJSON **root,
                                                    struct kimi_error *err);

/* One stream chunk (not an error event: those are read as they are). */
KIMI_MUST_CHECK enum kimi_status kimi_dialect_chunk(unsigned dialect,
                                                    cJSON *chunk,
                                                    struct kimi_error *err);

/* The HTTP status an error reply stands for: with KIMI_DIALECT_CF_CODES a
 * known Cloudflare code gives its own (3036 and 3040 are both 429: the
 * daily quota becomes type exceeded_current_quota_error, capacity
 * engine_overloaded_error, when the body gave no type), else status. */
long kimi_dialect_error(unsigned dialect, struct kimi_api_error *api,
                        long status);

#endif

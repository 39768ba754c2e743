/* json.h - tolerant readers over cJSON trees, and one strict way in.
 *
 * The readers never trust a tree's shape: asking a number for a member, or
 * NULL for anything, gives NULL or "falsy" instead of a crash.
 * kimi_json_parse is the only place the core turns bytes into a tree: it
 * rejects trailing bytes, explains every failure with a byte offset, and
 * reads lone surrogate escapes as U+FFFD as Python's json module does.
 *
 * Ownership: readers return borrowed pointers into the caller's tree;
 * kimi_json_parse hands out a new tree (cJSON_Delete it).  Thread-safety:
 * the readers are pure; kimi_json_parse keeps no state of its own, but
 * cJSON's allocation hooks are process-wide and cJSON records its last
 * error position in a global that nothing here reads.  Errors: the
 * readers cannot fail; kimi_json_parse returns enum kimi_status and fills
 * a caller-owned struct kimi_error.
 */
#ifndef KIMI_JSON_H
#define KIMI_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "error.h"

/* obj[name] when obj is an object, else NULL.  With duplicate keys the
 * last member of that name wins, as with Python's json.loads.  The
 * comparison is case-sensitive. */
const cJSON *kimi_json_member(const cJSON *obj, const char *name);

/* obj[name] when it is a string, else NULL. */
const char *kimi_json_string(const cJSON *obj, const char *name);

/* obj[name] when it is a non-empty string, else NULL. */
const char *kimi_json_nonempty(const cJSON *obj, const char *name);

/* Python's truth value of the item: true for a non-empty object, array or
 * string, a non-zero number (NaN included) and true; false for {}, [],
 * "", 0, null, false and a NULL item. */
int kimi_json_truthy(const cJSON *item);

/* "an object", "an array", "a string", "a number", "a boolean", "null",
 * "nothing" (NULL), or "raw JSON" / "an invalid value" for the cJSON kinds
 * no parser produces.  Static strings, for messages. */
const char *kimi_json_kind(const cJSON *item);

/* Parse one whole JSON document of exactly len bytes (text need not be
 * NUL-terminated and may contain NULs).  On success *out is a new tree.
 * On failure *out is NULL and:
 *   KIMI_EPROTO  "JSON is malformed: empty" (only JSON whitespace);
 *                "JSON is malformed: invalid JSON at byte N";
 *                "JSON is malformed: unexpected bytes after the value
 *                (byte N)" (anything but JSON whitespace after the value);
 *                "JSON is nested deeper than 1000 levels"
 *                (CJSON_NESTING_LIMIT; N is then the offending bracket);
 *                err->offset is N.
 *   KIMI_ENOMEM  an allocation failed (in cJSON or here).
 * A \uD800-\uDFFF escape that is not half of a surrogate pair decodes to
 * U+FFFD.  Inside the value cJSON's own leniency stays: any byte up to
 * 0x20 separates tokens, strings may hold raw control bytes and invalid
 * UTF-8, numbers such as 01 or -.5 are read, and 1.7.15 as released
 * refuses numbers longer than 63 bytes (later releases do not).
 * Valid input costs one cJSON parse and the trailing-bytes check;
 * only a failed parse is looked at again (iteratively, so input nested a
 * million deep is safe). */
KIMI_MUST_CHECK enum kimi_status kimi_json_parse(const char *text,
                                                 size_t len, cJSON **out,
                                                 struct kimi_error *err);

#endif

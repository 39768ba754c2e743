/* apierror.h - one reader for every error body shape a server sends.
 *
 * Used alike for the body of an HTTP error response and for an error event
 * inside a stream.  Reads Moonshot's {"error":{"message","type","code"}},
 * the proxy and Ace Data {"success":false,"error":{...},"trace_id"},
 * {"error":"text"}, Cloudflare {"success":false,"errors":[{...}]},
 * FastAPI {"detail":"..."} and {"detail":[{"msg","type"}]}, OpenRouter's
 * numeric codes, LiteLLM, a flat {"message","type","code"} event, and a
 * body that is not JSON at all (plain text, HTML).  Does not decide what
 * to do about the error (see retry.h) nor build an exception.
 *
 * Ownership: struct kimi_api_error is plain data, filled in place; cJSON
 * trees and header blocks stay the caller's.  Thread-safe (no state).
 * Error model: nothing here fails.  Every field is a NUL-terminated,
 * valid UTF-8 string cut at a character boundary: invalid bytes from the
 * server become U+FFFD, each run of spaces and control bytes one space,
 * none at either end.  message is never empty after a parse.
 */
#ifndef KIMI_APIERROR_H
#define KIMI_APIERROR_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "error.h"

#define KIMI_API_FIELD_MAX 256

struct kimi_api_error {
    char type[KIMI_API_FIELD_MAX];      /* "" when absent */
    char code[KIMI_API_FIELD_MAX];      /* string code, or a number's
                                           decimal text; "" when absent */
    int code_is_number;                 /* code came as a JSON integer */
    long long code_number;              /* its value (0 otherwise) */
    char message[KIMI_ERROR_MESSAGE_MAX];   /* never empty after parse */
    char request_id[KIMI_API_FIELD_MAX];    /* "" when none */
    int is_json;                        /* the body parsed as JSON */
};

/* Read an error body of len bytes (body may be NULL when len is 0).  Uses
 * kimi_json_parse; a body that is not JSON, or that cannot be parsed for
 * lack of memory or because it is nested too deep, gives its text as the
 * message, HTML tags (and the contents of script and style elements)
 * dropped when the body starts with '<'; so does JSON without a message.
 * An empty body gives the message "no details given". */
void kimi_apierror_parse(struct kimi_api_error *out, const char *body,
                         size_t len);

/* The same from a tree already parsed (root may be NULL: then only the
 * raw text is read).  raw/raw_len are the bytes root came from, used for
 * the message when the tree has none. */
void kimi_apierror_from_json(struct kimi_api_error *out, const cJSON *root,
                             const char *raw, size_t raw_len);

/* Fill request_id from the first of x-request-id, msh-request-id,
 * x-litellm-call-id, request-id, x-trace-id, cf-ray that the header block
 * has with a non-empty value; only when request_id is still empty (the
 * body's own id wins). */
void kimi_apierror_request_id_from_headers(struct kimi_api_error *out,
                                           const char *header_block,
                                           size_t len);

/* Does this parsed stream event carry an error rather than content?
 * Conservative: 1 only for a truthy "error" member (so "error": null, {},
 * false or "" next to normal content is not one), "success": false with
 * an "errors" list or a non-empty "message", or, in an object with no
 * "choices", a truthy "detail" or a flat non-empty "message" with a
 * non-empty "type" or a truthy "code" (so {"code": 0, "message": "ok"} is
 * not one). */
int kimi_apierror_is_error(const cJSON *root);

/* "<type or code>: <message> (request id <id>)" into out (size bytes,
 * NUL-terminated, cut at a UTF-8 boundary), each part only when known.
 * Returns the length written. */
size_t kimi_apierror_describe(const struct kimi_api_error *e, char *out,
                              size_t size);

#endif

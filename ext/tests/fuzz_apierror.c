/* fuzz_apierror.c - libFuzzer target for the error body reader.
 *
 * Runs the input through kimi_apierror_parse (plain and with an allocation
 * failing), as a header block through the request id reader, and, when it
 * is JSON, through kimi_apierror_is_error and kimi_apierror_from_json.
 * Every field must be NUL-terminated, valid UTF-8, free of control bytes
 * and of doubled or edge spaces; the message must never be empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "apierror.h"
#include "json.h"
#include "shared.h"

static void
require(int condition)
{
    if (!condition) {
        abort();
    }
}

static void
check_error(const struct kimi_api_error *e)
{
    require(is_clean_field(e->type, sizeof(e->type)));
    require(is_clean_field(e->code, sizeof(e->code)));
    require(is_clean_field(e->message, sizeof(e->message)));
    require(is_clean_field(e->request_id, sizeof(e->request_id)));
    require(e->message[0] != '\0');
    require(e->is_json == 0 || e->is_json == 1);
    require(e->code_is_number == 0 || e->code_is_number == 1);
    require(e->code_is_number || e->code_number == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int hooked;
    const char *text = (const char *)data;
    struct kimi_api_error e;
    struct kimi_error err;
    cJSON *root = NULL;

    if (!hooked) {
        use_kimi_allocator_for_cjson();
        hooked = 1;
    }
    kimi_apierror_parse(&e, text, size);
    check_error(&e);
    char body_id[KIMI_API_FIELD_MAX];
    memcpy(body_id, e.request_id, sizeof(body_id));
    kimi_apierror_request_id_from_headers(&e, text, size);
    check_error(&e);
    if (body_id[0] != '\0') {
        require(strcmp(body_id, e.request_id) == 0);    /* body wins */
    }

    if (kimi_json_parse(text, size, &root, &err) == KIMI_OK) {
        int is_error = kimi_apierror_is_error(root);
        require(is_error == 0 || is_error == 1);
        kimi_apierror_from_json(&e, root, text, size);
        check_error(&e);
        require(e.is_json == 1);
    }
    cJSON_Delete(root);

    /* Out of memory somewhere: still a message. */
    kimi_alloc_fail_after(1 + (long)(size % 5));
    kimi_apierror_parse(&e, text, size);
    kimi_alloc_fail_after(0);
    check_error(&e);
    return 0;
}

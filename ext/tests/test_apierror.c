/* test_apierror.c - unit tests for apierror.c.
 *
 * Every error body shape of kimi-api.md sections 8 and 10, bodies that are
 * not JSON, request ids from body and headers, the stream-event error test,
 * and the text invariants (NUL-terminated, valid UTF-8, cut between
 * characters, message never empty) under hostile input and failed
 * allocations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "apierror.h"
#include "check.h"
#include "shared.h"

/* ---- helpers ---- */

static void
check_invariants(const struct kimi_api_error *e)
{
    CHECK(is_clean_field(e->type, sizeof(e->type)));
    CHECK(is_clean_field(e->code, sizeof(e->code)));
    CHECK(is_clean_field(e->message, sizeof(e->message)));
    CHECK(is_clean_field(e->request_id, sizeof(e->request_id)));
    CHECK(e->message[0] != '\0');
}

/* Parse n bytes from an exactly sized copy. */
static void
parse_n(struct kimi_api_error *e, const char *body, size_t n)
{
    char *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL) {
        exit(2);
    }
    memcpy(copy, body, n);
    kimi_apierror_parse(e, copy, n);
    free(copy);
    check_invariants(e);
}

static void
parse(struct kimi_api_error *e, const char *body)
{
    parse_n(e, body, strlen(body));
}

static void
check_text(const char *got, const char *want)
{
    CHECK_STR(got, want);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  got:  %s\n  want: %s\n", got, want);
    }
}

/* type, code, message, request id of a body. */
static void
check_body(const char *body, const char *type, const char *code,
           const char *message, const char *request_id)
{
    struct kimi_api_error e;
    parse(&e, body);
    check_text(e.type, type);
    check_text(e.code, code);
    check_text(e.message, message);
    check_text(e.request_id, request_id);
}

static int
is_error_text(const char *text)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, strlen(text), &end, 0);
    if (root == NULL) {
        fprintf(stderr, "test bug: cannot parse %s\n", text);
        exit(2);
    }
    int is_error = kimi_apierror_is_error(root);
    cJSON_Delete(root);
    return is_error;
}

/* ---- shapes ---- */

static void
test_moonshot_shapes(void)
{
    struct kimi_api_error e;

    check_body("{\"error\":{\"message\":\"Invalid Authentication\","
               "\"type\":\"invalid_authentication_error\"}}",
               "invalid_authentication_error", "", "Invalid Authentication",
               "");
    check_body("{\"error\":{\"message\":\"Your request exceeded model token "
               "limit : 262144\",\"type\":\"invalid_request_error\","
               "\"code\":\"context_length_exceeded\",\"param\":\"messages\"}}",
               "invalid_request_error", "context_length_exceeded",
               "Your request exceeded model token limit : 262144", "");
    check_body("{\"error\":{\"type\":\"exceeded_current_quota_error\","
               "\"message\":\"Your account org-xxx<ak-xxx> is suspended\"}}",
               "exceeded_current_quota_error", "",
               "Your account org-xxx<ak-xxx> is suspended", "");
    parse(&e, "{\"error\":{\"message\":\"m\",\"type\":\"t\"}}");
    CHECK(e.is_json == 1);
    CHECK(e.code_is_number == 0);
    CHECK(e.code_number == 0);
}

static void
test_proxy_and_gateway_shapes(void)
{
    struct kimi_api_error e;

    /* Ace Data and proxies */
    check_body("{\"success\":false,\"error\":{\"code\":\"used_up\","
               "\"message\":\"Your balance is used up\"},"
               "\"trace_id\":\"t-1\"}",
               "", "used_up", "Your balance is used up", "t-1");
    check_body("{\"error\":\"plain string\"}", "", "", "plain string", "");
    /* Cloudflare */
    parse(&e, "{\"success\":false,\"errors\":[{\"code\":10000,\"message\":"
              "\"Authentication error\"}],\"messages\":[],\"result\":null}");
    check_text(e.code, "10000");
    CHECK(e.code_is_number == 1);
    CHECK(e.code_number == 10000);
    check_text(e.message, "Authentication error");
    check_text(e.type, "");
    /* OpenRouter */
    parse(&e, "{\"error\":{\"code\":429,\"message\":\"Rate limit exceeded\","
              "\"metadata\":{\"provider_name\":\"Moonshot\",\"raw\":\"x\"}}}");
    check_text(e.code, "429");
    CHECK(e.code_is_number == 1);
    CHECK(e.code_number == 429);
    check_text(e.message, "Rate limit exceeded");
    /* LiteLLM: the code is a string that looks like a number */
    parse(&e, "{\"error\":{\"message\":\"litellm.RateLimitError: slow "
              "down\",\"type\":\"throttling_error\",\"param\":null,"
              "\"code\":\"429\"}}");
    check_text(e.code, "429");
    CHECK(e.code_is_number == 0);
    check_text(e.type, "throttling_error");
    check_text(e.message, "litellm.RateLimitError: slow down");
    /* FastAPI */
    check_body("{\"detail\":\"Not Found\"}", "", "", "Not Found", "");
    check_body("{\"detail\":[{\"loc\":[\"body\",\"model\"],\"msg\":\"field "
               "required\",\"type\":\"value_error.missing\"}]}",
               "value_error.missing", "", "field required", "");
    check_body("{\"detail\":{\"message\":\"nested\",\"type\":\"t\"}}", "t",
               "", "nested", "");
    /* A flat error event */
    parse(&e, "{\"message\":\"The engine is currently overloaded\","
              "\"type\":\"engine_overloaded_error\",\"code\":429}");
    check_text(e.type, "engine_overloaded_error");
    check_text(e.code, "429");
    CHECK(e.code_is_number == 1);
    check_text(e.message, "The engine is currently overloaded");
}

static void
test_codes_of_every_kind(void)
{
    static const struct {
        const char *code_json;
        const char *code;
        int is_number;
        long long number;
    } cases[] = {
        {"-32600", "-32600", 1, -32600},
        {"9007199254740992", "9007199254740992", 1, 9007199254740992LL},
        {"1.5", "1.5", 0, 0},
        {"1e300", "1e+300", 0, 0},
        {"null", "", 0, 0},
        {"true", "", 0, 0},
        {"{\"x\":1}", "", 0, 0},
        {"\"\"", "", 0, 0},
        {"\" used_up \"", "used_up", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[128];
        struct kimi_api_error e;
        snprintf(body, sizeof(body), "{\"error\":{\"code\":%s,"
                 "\"message\":\"m\"}}", cases[i].code_json);
        parse(&e, body);
        check_text(e.code, cases[i].code);
        CHECK(e.code_is_number == cases[i].is_number);
        CHECK(e.code_number == cases[i].number);
    }
}

static void
test_body_that_is_not_json(void)
{
    struct kimi_api_error e;

    parse(&e, "  Bad\n\tGateway \r\n");
    check_text(e.message, "Bad Gateway");
    CHECK(e.is_json == 0);
    check_text(e.type, "");
    parse(&e, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
              "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
              "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
    check_text(e.message, "502 Bad Gateway 502 Bad Gateway nginx");
    parse(&e, "<!DOCTYPE html><html><head><style>body{color:red}</style>"
              "<SCRIPT type=\"x\">var a = '<b>';</SCRIPT><title>Oops"
              "</title></head><body>Error&nbsp;1020</body></html>");
    check_text(e.message, "Oops Error&nbsp;1020");
    parse(&e, "<p>unclosed <b");
    check_text(e.message, "unclosed");
    parse(&e, "<script>never closed");
    check_text(e.message, "no details given");
    parse(&e, "a < b and c > d");
    check_text(e.message, "a < b and c > d");
    parse_n(&e, "\0\0abc\0def", 9);
    check_text(e.message, "abc def");
    parse(&e, "{\"error\": {\"message\": \"cut");
    check_text(e.message, "{\"error\": {\"message\": \"cut");
    CHECK(e.is_json == 0);
    parse(&e, "{\"error\":{\"message\":\"m\"}} trailing");
    CHECK(e.is_json == 0);
}

static void
test_json_without_a_message_uses_the_body_text(void)
{
    struct kimi_api_error e;

    check_body("{}", "", "", "{}", "");
    check_body("{\"error\":{}}", "", "", "{\"error\":{}}", "");
    check_body("{\"error\":{\"type\":\"server_error\"}}", "server_error", "",
               "{\"error\":{\"type\":\"server_error\"}}", "");
    check_body("[1, 2]", "", "", "[1, 2]", "");
    check_body("\"Service Unavailable\"", "", "", "Service Unavailable", "");
    check_body("{\"error\":{\"message\":\"\"},\"detail\":\"d\"}", "", "",
               "{\"error\":{\"message\":\"\"},\"detail\":\"d\"}", "");
    check_body("{\"error\":null,\"detail\":\"d\"}", "", "", "d", "");
    check_body("{\"error\":{\"message\":\"   \"}}", "", "",
               "{\"error\":{\"message\":\" \"}}", "");
    parse(&e, "");
    check_text(e.message, "no details given");
    CHECK(e.is_json == 0);
    parse(&e, " \r\n\t");
    check_text(e.message, "no details given");
    kimi_apierror_parse(&e, NULL, 5);
    check_text(e.message, "no details given");
    kimi_apierror_from_json(&e, NULL, NULL, 0);
    check_text(e.message, "no details given");
    CHECK(e.is_json == 0);
}

static void
test_request_ids_from_body_and_headers(void)
{
    struct kimi_api_error e;
    const char *headers = "HTTP/1.1 429 Too Many Requests\r\n"
                          "Content-Type: application/json\r\n"
                          "cf-ray: 8f1-SJC\r\n"
                          "Msh-Request-Id: msh-2\r\n"
                          "X-Request-ID:   req-1  \r\n\r\n";

    check_body("{\"error\":{\"message\":\"m\",\"request_id\":\"e-3\"}}", "",
               "", "m", "e-3");
    check_body("{\"error\":{\"message\":\"m\",\"request_id\":\"e-3\"},"
               "\"request_id\":\"r-2\"}", "", "", "m", "r-2");
    check_body("{\"error\":{\"message\":\"m\"},\"request_id\":\"r-2\","
               "\"trace_id\":\"t-1\"}", "", "", "m", "t-1");
    check_body("{\"error\":{\"message\":\"m\"},\"trace_id\":7}", "", "", "m",
               "");

    parse(&e, "{\"error\":{\"message\":\"m\"}}");
    kimi_apierror_request_id_from_headers(&e, headers, strlen(headers));
    check_text(e.request_id, "req-1");
    parse(&e, "{\"error\":{\"message\":\"m\"},\"trace_id\":\"t-1\"}");
    kimi_apierror_request_id_from_headers(&e, headers, strlen(headers));
    check_text(e.request_id, "t-1");
    parse(&e, "not json");
    const char *later = "X-Request-Id:  \r\nx-trace-id: tr-9\r\n"
                        "cf-ray: ray-1\r\n";
    kimi_apierror_request_id_from_headers(&e, later, strlen(later));
    check_text(e.request_id, "tr-9");
    parse(&e, "not json");
    const char *ray = "CF-RAY: ray-1\r\n";
    kimi_apierror_request_id_from_headers(&e, ray, strlen(ray));
    check_text(e.request_id, "ray-1");
    parse(&e, "not json");
    kimi_apierror_request_id_from_headers(&e, NULL, 0);
    check_text(e.request_id, "");
    parse(&e, "not json");
    const char *bad = "x-request-id: a\xff\x01z\r\n";
    kimi_apierror_request_id_from_headers(&e, bad, strlen(bad));
    check_text(e.request_id, "a\xEF\xBF\xBD z");
    check_invariants(&e);
}

/* ---- hostile input ---- */

static void
test_deep_nesting_gives_the_raw_text(void)
{
    size_t n = 100000;
    char *body = malloc(n);
    struct kimi_api_error e;

    memset(body, '[', n);
    kimi_apierror_parse(&e, body, n);
    check_invariants(&e);
    CHECK(e.is_json == 0);
    CHECK(strlen(e.message) == sizeof(e.message) - 1);
    CHECK(strspn(e.message, "[") == strlen(e.message));
    memset(body, '{', n);
    kimi_apierror_parse(&e, body, n);
    check_invariants(&e);
    CHECK(e.message[0] == '{');
    free(body);
}

static void
test_invalid_utf8_becomes_replacement_characters(void)
{
    check_body("bad \xff byte", "", "", "bad \xEF\xBF\xBD byte", "");
    check_body("overlong \xC0\xAF", "", "",
               "overlong \xEF\xBF\xBD\xEF\xBF\xBD", "");
    check_body("surrogate \xED\xA0\x80", "", "",
               "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "");
    check_body("cut \xE2\x82", "", "", "cut \xEF\xBF\xBD\xEF\xBF\xBD", "");
    check_body("{\"error\":{\"message\":\"m\xfe\",\"type\":\"t\xC3\"}}",
               "t\xEF\xBF\xBD", "", "m\xEF\xBF\xBD", "");
    check_body("{\"error\":{\"message\":\"ok \xE2\x82\xAC \\u00e9\"}}", "",
               "", "ok \xE2\x82\xAC \xC3\xA9", "");
    check_body("{\"error\":\"\\ud83d lone\"}", "", "", "\xEF\xBF\xBD lone",
               "");
}

static void
test_long_fields_are_cut_between_characters(void)
{
    char body[4096];
    struct kimi_api_error e;
    size_t n = 0;

    n += (size_t)snprintf(body, sizeof(body), "{\"error\":{\"type\":\"");
    for (int i = 0; i < 300; i++) {
        body[n++] = 'y';
    }
    n += (size_t)snprintf(body + n, sizeof(body) - n, "\",\"message\":\"");
    for (int i = 0; i < 600; i++) {
        body[n++] = '\xc3';     /* U+00E9, two bytes */
        body[n++] = '\xa9';
    }
    n += (size_t)snprintf(body + n, sizeof(body) - n, "\"}}");
    parse_n(&e, body, n);
    CHECK(strlen(e.type) == KIMI_API_FIELD_MAX - 1);
    size_t m = strlen(e.message);
    CHECK(m == KIMI_ERROR_MESSAGE_MAX - 2);     /* 511 would split one */
    CHECK(m % 2 == 0);

    /* Three-byte characters after one ASCII byte, as raw text. */
    n = 0;
    body[n++] = 'a';
    for (int i = 0; i < 400; i++) {
        memcpy(body + n, "\xE2\x82\xAC", 3);
        n += 3;
    }
    parse_n(&e, body, n);
    m = strlen(e.message);
    CHECK((m - 1) % 3 == 0);
    CHECK(m > KIMI_ERROR_MESSAGE_MAX - 4);
}

static void
test_failed_allocations_still_give_a_message(void)
{
    const char *body = "{\"error\":{\"message\":\"the message\",\"type\":"
                       "\"server_error\",\"code\":\"c\"},\"trace_id\":\"t\"}";
    int fell_back = 0;
    int parsed = 0;

    for (long fail_at = 1; fail_at <= 30; fail_at++) {
        struct kimi_api_error e;
        kimi_alloc_fail_after(fail_at);
        kimi_apierror_parse(&e, body, strlen(body));
        kimi_alloc_fail_after(0);
        check_invariants(&e);
        if (e.is_json) {
            parsed++;
            check_text(e.message, "the message");
            check_text(e.type, "server_error");
        }
        else {
            fell_back++;
            check_text(e.message, body);
        }
    }
    CHECK(fell_back >= 3);
    CHECK(parsed >= 1);
}

/* ---- kimi_apierror_is_error ---- */

static void
test_is_error_for_error_events(void)
{
    CHECK(is_error_text("{\"error\":{\"message\":\"x\"}}"));
    CHECK(is_error_text("{\"error\":\"x\"}"));
    CHECK(is_error_text("{\"error\":true}"));
    CHECK(is_error_text("{\"error\":1}"));
    CHECK(is_error_text("{\"id\":\"g\",\"error\":{\"code\":502,\"message\":"
                        "\"Upstream\"},\"choices\":[{\"finish_reason\":"
                        "\"error\"}]}"));
    CHECK(is_error_text("{\"success\":false,\"errors\":[{\"code\":3040}]}"));
    CHECK(is_error_text("{\"success\":false,\"errors\":[],\"result\":null}"));
    CHECK(is_error_text("{\"success\":false,\"message\":\"x\"}"));
    CHECK(is_error_text("{\"detail\":\"Not Found\"}"));
    CHECK(is_error_text("{\"detail\":[{\"msg\":\"m\"}]}"));
    CHECK(is_error_text("{\"message\":\"x\",\"type\":\"server_error\"}"));
    CHECK(is_error_text("{\"message\":\"x\",\"code\":500}"));
    CHECK(is_error_text("{\"message\":\"x\",\"code\":\"used_up\"}"));
}

static void
test_is_error_is_conservative(void)
{
    CHECK(!is_error_text("{\"id\":\"c\",\"error\":null,\"choices\":[{"
                         "\"delta\":{\"content\":\"hi\"}}]}"));
    CHECK(!is_error_text("{\"id\":\"c\",\"error\":{},\"choices\":[]}"));
    CHECK(!is_error_text("{\"error\":{}}"));
    CHECK(!is_error_text("{\"error\":false}"));
    CHECK(!is_error_text("{\"error\":\"\"}"));
    CHECK(!is_error_text("{\"error\":0}"));
    CHECK(!is_error_text("{\"error\":[]}"));
    CHECK(!is_error_text("{\"id\":\"x\",\"choices\":[],\"detail\":\"d\"}"));
    CHECK(!is_error_text("{\"choices\":[],\"message\":\"x\",\"type\":\"t\"}"));
    CHECK(!is_error_text("{\"message\":\"x\"}"));
    CHECK(!is_error_text("{\"code\":0,\"message\":\"ok\"}"));
    CHECK(!is_error_text("{\"message\":\"\",\"type\":\"t\"}"));
    CHECK(!is_error_text("{\"success\":true,\"errors\":[],\"result\":{}}"));
    CHECK(!is_error_text("{\"success\":false}"));
    CHECK(!is_error_text("{\"detail\":\"\"}"));
    CHECK(!is_error_text("{\"object\":\"list\",\"data\":[]}"));
    CHECK(!is_error_text("{\"code\":0,\"data\":{\"available_balance\":1},"
                         "\"scode\":\"0x0\",\"status\":true}"));
    CHECK(!is_error_text("[{\"error\":\"x\"}]"));
    CHECK(!is_error_text("\"error\""));
    CHECK(!kimi_apierror_is_error(NULL));
}

int
main(void)
{
    use_kimi_allocator_for_cjson();

    test_moonshot_shapes();
    test_proxy_and_gateway_shapes();
    test_codes_of_every_kind();
    test_body_that_is_not_json();
    test_json_without_a_message_uses_the_body_text();
    test_request_ids_from_body_and_headers();
    test_deep_nesting_gives_the_raw_text();
    test_invalid_utf8_becomes_replacement_characters();
    test_long_fields_are_cut_between_characters();
    test_failed_allocations_still_give_a_message();
    test_is_error_for_error_events();
    test_is_error_is_conservative();
    return check_report("apierror");
}

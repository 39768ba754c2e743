/* test_meter.c - unit tests for the usage meter (meter.c).
 *
 * Covers each shape of usage the API and gateways send (cached tokens at
 * top level or in prompt_tokens_details, reasoning tokens, a gateway's
 * own cost kept apart from priced tokens), rows per model, the shared
 * row once the table is full, a parent counting a child's replies, and
 * threads noting at once.
 */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "meter.h"

static void
note_json(struct kimi_meter *m, const char *model, const char *usage)
{
    cJSON *u = usage ? cJSON_Parse(usage) : NULL;
    kimi_meter_note(m, model, model ? strlen(model) : 0, u);
    cJSON_Delete(u);
}

static void
test_sample_shapes(void)
{
    struct kimi_usage_sample s;
    cJSON *u = cJSON_Parse("{\"prompt_tokens\":10,\"completion_tokens\":4,"
                           "\"cached_tokens\":3}");
    kimi_usage_sample_read(u, &s);
    CHECK(s.prompt == 10 && s.completion == 4 && s.cached == 3);
    CHECK(s.reasoning == -1 && !s.has_cost);
    cJSON_Delete(u);

    u = cJSON_Parse("{\"prompt_tokens\":10,\"completion_tokens\":4,"
                    "\"prompt_tokens_details\":{\"cached_tokens\":7},"
                    "\"completion_tokens_details\":{\"reasoning_tokens\":2},"
                    "\"cost\":0.5}");
    kimi_usage_sample_read(u, &s);
    CHECK(s.cached == 7 && s.reasoning == 2 && s.has_cost && s.cost == 0.5);
    cJSON_Delete(u);

    u = cJSON_Parse("{\"prompt_tokens\":-5,\"completion_tokens\":\"x\","
                    "\"cost\":-1}");
    kimi_usage_sample_read(u, &s);
    CHECK(s.prompt == -1 && s.completion == -1 && !s.has_cost);
    cJSON_Delete(u);

    kimi_usage_sample_read(NULL, &s);
    CHECK(s.prompt == -1 && s.cached == -1);
}

static void
test_rows_and_reported_cost(void)
{
    struct kimi_meter m;
    struct kimi_meter_row rows[KIMI_METER_MODELS + 1];
    CHECK(kimi_meter_init(&m, NULL) == KIMI_OK);
    note_json(&m, "kimi-k2.6", "{\"prompt_tokens\":10,\"completion_tokens\":4}");
    note_json(&m, "kimi-k2.6", "{\"prompt_tokens\":1,\"completion_tokens\":1,"
                               "\"cost\":0.25}");
    note_json(&m, "kimi-k2.5", NULL);
    size_t n = kimi_meter_snapshot(&m, rows, KIMI_METER_MODELS + 1);
    CHECK(n == 2);
    CHECK_STR(rows[0].model, "kimi-k2.6");
    CHECK(rows[0].requests == 2 && rows[0].prompt == 11
          && rows[0].completion == 5);
    CHECK(rows[0].priced_prompt == 10 && rows[0].priced_completion == 4);
    CHECK(rows[0].reported_cost == 0.25);
    CHECK_STR(rows[1].model, "kimi-k2.5");
    CHECK(rows[1].requests == 1 && rows[1].prompt == 0);
    kimi_meter_reset(&m);
    CHECK(kimi_meter_snapshot(&m, rows, KIMI_METER_MODELS + 1) == 0);
    kimi_meter_free(&m);
}

static void
test_full_table_shares_the_last_row(void)
{
    struct kimi_meter m;
    struct kimi_meter_row rows[KIMI_METER_MODELS + 1];
    char name[32];
    CHECK(kimi_meter_init(&m, NULL) == KIMI_OK);
    for (int i = 0; i < KIMI_METER_MODELS + 10; i++) {
        snprintf(name, sizeof(name), "model-%d", i);
        note_json(&m, name, "{\"prompt_tokens\":1,\"completion_tokens\":1}");
    }
    size_t n = kimi_meter_snapshot(&m, rows, KIMI_METER_MODELS + 1);
    CHECK(n == KIMI_METER_MODELS + 1);
    CHECK_STR(rows[KIMI_METER_MODELS].model, "");
    CHECK(rows[KIMI_METER_MODELS].requests == 10);
    long total = 0;
    for (size_t i = 0; i < n; i++) {
        total += (long)rows[i].requests;
    }
    CHECK(total == KIMI_METER_MODELS + 10);
    /* An id too long for a row is counted without a name. */
    char long_id[KIMI_METER_MODEL_MAX + 10];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    note_json(&m, long_id, NULL);
    n = kimi_meter_snapshot(&m, rows, KIMI_METER_MODELS + 1);
    CHECK(rows[KIMI_METER_MODELS].requests == 11);
    kimi_meter_free(&m);
}

static void
test_parent_counts_the_child(void)
{
    struct kimi_meter parent;
    struct kimi_meter child;
    struct kimi_meter_row rows[2];
    CHECK(kimi_meter_init(&parent, NULL) == KIMI_OK);
    CHECK(kimi_meter_init(&child, &parent) == KIMI_OK);
    note_json(&child, "m", "{\"prompt_tokens\":3,\"completion_tokens\":2}");
    note_json(&parent, "m", "{\"prompt_tokens\":1,\"completion_tokens\":1}");
    CHECK(kimi_meter_snapshot(&child, rows, 2) == 1 && rows[0].prompt == 3);
    CHECK(kimi_meter_snapshot(&parent, rows, 2) == 1 && rows[0].prompt == 4
          && rows[0].requests == 2);
    kimi_meter_free(&child);
    kimi_meter_free(&parent);
}

static void
test_grandparents_and_the_depth_limit(void)
{
    struct kimi_meter chain[KIMI_METER_DEPTH + 2];
    struct kimi_meter_row rows[1];
    CHECK(kimi_meter_init(&chain[0], NULL) == KIMI_OK);
    for (int i = 1; i <= KIMI_METER_DEPTH; i++) {
        CHECK(kimi_meter_init(&chain[i], &chain[i - 1]) == KIMI_OK);
    }
    CHECK(kimi_meter_init(&chain[KIMI_METER_DEPTH + 1],
                          &chain[KIMI_METER_DEPTH]) == KIMI_EINVAL);
    note_json(&chain[KIMI_METER_DEPTH], "m", "{\"prompt_tokens\":5}");
    for (int i = 0; i <= KIMI_METER_DEPTH; i++) {
        CHECK(kimi_meter_snapshot(&chain[i], rows, 1) == 1
              && rows[0].prompt == 5);
    }
    for (int i = 0; i <= KIMI_METER_DEPTH; i++) {
        kimi_meter_free(&chain[i]);
        kimi_meter_free(&chain[i]);     /* idempotent */
    }
}

static void
test_hostile_counts_saturate_and_odd_names_share_a_row(void)
{
    struct kimi_meter m;
    struct kimi_meter_row rows[4];
    CHECK(kimi_meter_init(&m, NULL) == KIMI_OK);
    for (int i = 0; i < 20000; i++) {
        note_json(&m, "m", "{\"prompt_tokens\":999999999999,"
                           "\"cost\":1e9}");
    }
    note_json(&m, "m", "{\"prompt_tokens\":1e300,\"cost\":1e300}");
    size_t n = kimi_meter_snapshot(&m, rows, 4);
    CHECK(n == 1 && rows[0].prompt > 0 && rows[0].requests == 20001);
    CHECK(rows[0].reported_cost > 0 && rows[0].reported_cost <= 1e300);
    /* The last of duplicate members wins, as in the reply the user gets. */
    note_json(&m, "dup", "{\"prompt_tokens\":1000,\"prompt_tokens\":1}");
    kimi_meter_note(&m, "\xff\xfe", 2, NULL);
    n = kimi_meter_snapshot(&m, rows, 4);
    CHECK(n == 3);
    CHECK_STR(rows[1].model, "dup");
    CHECK(rows[1].prompt == 1);
    CHECK_STR(rows[2].model, "");
    kimi_meter_free(&m);
}

static struct kimi_meter shared;

static void *
noter(void *arg)
{
    (void)arg;
    cJSON *u = cJSON_Parse("{\"prompt_tokens\":2,\"completion_tokens\":1}");
    for (int i = 0; i < 5000; i++) {
        kimi_meter_note(&shared, "m", 1, u);
    }
    cJSON_Delete(u);
    return NULL;
}

static void
test_threads(void)
{
    pthread_t threads[8];
    struct kimi_meter_row rows[1];
    CHECK(kimi_meter_init(&shared, NULL) == KIMI_OK);
    for (int i = 0; i < 8; i++) {
        pthread_create(&threads[i], NULL, noter, NULL);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
    }
    CHECK(kimi_meter_snapshot(&shared, rows, 1) == 1);
    CHECK(rows[0].requests == 40000 && rows[0].prompt == 80000);
    kimi_meter_free(&shared);
}

int
main(void)
{
    test_sample_shapes();
    test_rows_and_reported_cost();
    test_full_table_shares_the_last_row();
    test_parent_counts_the_child();
    test_grandparents_and_the_depth_limit();
    test_hostile_counts_saturate_and_odd_names_share_a_row();
    test_threads();
    return check_report("test_meter");
}

/* meter.c - running usage totals per model (see meter.h). */
#include "meter.h"

#include <math.h>
#include <string.h>

#include "json.h"
#include "pool.h"
#include "text.h"

/* Per reply, what a count may say; more is not a real reply's. */
#define COUNT_MAX 1.0e12
#define COST_MAX 1.0e9

/* A count from a JSON number: whole, not negative, not absurd. */
static int64_t
count_of(const cJSON *parent, const char *name)
{
    const cJSON *item = kimi_json_member(parent, name);
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0)
        || item->valuedouble > COUNT_MAX) {
        return -1;
    }
    return (int64_t)item->valuedouble;
}

static int64_t
detail_of(const cJSON *usage, const char *details, const char *name)
{
    const cJSON *d = kimi_json_member(usage, details);
    return cJSON_IsObject(d) ? count_of(d, name) : -1;
}

void
kimi_usage_sample_read(const cJSON *usage, struct kimi_usage_sample *out)
{
    out->prompt = out->cached = out->completion = out->reasoning = -1;
    out->cost = 0.0;
    out->has_cost = 0;
    if (!cJSON_IsObject(usage)) {
        return;
    }
    out->prompt = count_of(usage, "prompt_tokens");
    out->completion = count_of(usage, "completion_tokens");
    out->cached = count_of(usage, "cached_tokens");
    if (out->cached < 0) {
        out->cached = detail_of(usage, "prompt_tokens_details",
                                "cached_tokens");
    }
    out->reasoning = detail_of(usage, "completion_tokens_details",
                               "reasoning_tokens");
    const cJSON *cost = kimi_json_member(usage, "cost");
    if (cJSON_IsNumber(cost) && isfinite(cost->valuedouble)
        && cost->valuedouble >= 0 && cost->valuedouble <= COST_MAX) {
        out->cost = cost->valuedouble;
        out->has_cost = 1;
    }
}

enum kimi_status
kimi_meter_init(struct kimi_meter *m, struct kimi_meter *parent)
{
    memset(m, 0, sizeof(*m));
    if (parent != NULL) {
        if (parent->n_ancestors >= KIMI_METER_DEPTH) {
            return KIMI_EINVAL;
        }
        m->ancestors[0] = parent;
        memcpy(&m->ancestors[1], parent->ancestors,
               parent->n_ancestors * sizeof(parent->ancestors[0]));
        m->n_ancestors = parent->n_ancestors + 1;
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        return KIMI_ENOMEM;
    }
    m->ready = 1;
    m->generation = kimi_pool_fork_generation();
    return KIMI_OK;
}

void
kimi_meter_free(struct kimi_meter *m)
{
    if (m->ready) {
        pthread_mutex_destroy(&m->lock);
        m->ready = 0;
    }
}

/* In a forked child the lock is new: a parent's thread may have held it. */
static void
take_lock(struct kimi_meter *m)
{
    unsigned long generation = kimi_pool_fork_generation();
    if (m->generation != generation) {
        pthread_mutex_init(&m->lock, NULL);
        m->generation = generation;
    }
    pthread_mutex_lock(&m->lock);
}

/* The row of model, made when there is room; the shared last row once
 * the table is full.  Called with the lock held. */
static struct kimi_meter_row *
row_of(struct kimi_meter *m, const char *model, size_t len)
{
    if (len >= KIMI_METER_MODEL_MAX || memchr(model, '\0', len) != NULL
        || !kimi_text_utf8_valid(model, len)) {
        len = 0;        /* an id that long or odd is not a model's */
    }
    for (size_t i = 0; i < m->n_rows; i++) {
        struct kimi_meter_row *row = &m->rows[i];
        if (strlen(row->model) == len && memcmp(row->model, model, len) == 0) {
            return row;
        }
    }
    if (m->n_rows == KIMI_METER_MODELS + 1) {
        return &m->rows[KIMI_METER_MODELS];
    }
    struct kimi_meter_row *row = &m->rows[m->n_rows++];
    if (m->n_rows == KIMI_METER_MODELS + 1) {
        len = 0;        /* the last row is the shared one */
    }
    memcpy(row->model, model, len);
    row->model[len] = '\0';
    return row;
}

/* Saturating: a total stops at INT64_MAX rather than wrap. */
static void
add(int64_t *total, int64_t value)
{
    if (value > 0) {
        *total = value > INT64_MAX - *total ? INT64_MAX : *total + value;
    }
}

static void
note_one(struct kimi_meter *m, const char *model, size_t len,
         const struct kimi_usage_sample *s)
{
    take_lock(m);
    struct kimi_meter_row *row = row_of(m, model, len);
    row->requests++;
    add(&row->prompt, s->prompt);
    add(&row->cached, s->cached);
    add(&row->completion, s->completion);
    add(&row->reasoning, s->reasoning);
    if (s->has_cost) {
        double sum = row->reported_cost + s->cost;
        row->reported_cost = sum < 1.0e300 ? sum : 1.0e300;
    }
    else {
        add(&row->priced_prompt, s->prompt);
        add(&row->priced_cached, s->cached);
        add(&row->priced_completion, s->completion);
    }
    pthread_mutex_unlock(&m->lock);
}

void
kimi_meter_note(struct kimi_meter *m, const char *model, size_t len,
                const cJSON *usage)
{
    struct kimi_usage_sample s;
    kimi_usage_sample_read(usage, &s);
    if (model == NULL) {
        model = "";
        len = 0;
    }
    note_one(m, model, len, &s);
    for (size_t i = 0; i < m->n_ancestors; i++) {
        note_one(m->ancestors[i], model, len, &s);
    }
}

size_t
kimi_meter_snapshot(struct kimi_meter *m, struct kimi_meter_row *out,
                    size_t cap)
{
    take_lock(m);
    size_t n = m->n_rows < cap ? m->n_rows : cap;
    memcpy(out, m->rows, n * sizeof(*out));
    pthread_mutex_unlock(&m->lock);
    return n;
}

void
kimi_meter_reset(struct kimi_meter *m)
{
    take_lock(m);
    memset(m->rows, 0, sizeof(m->rows));
    m->n_rows = 0;
    pthread_mutex_unlock(&m->lock);
}

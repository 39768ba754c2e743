/* meter.h - a client's running usage totals: requests and tokens, per
 * model, shared by every thread, task and map of the client.
 *
 * Each finished reply is noted once, where its transfer is settled with
 * the limiter, so the totals cost no Python per request and cannot miss
 * a reply whichever driver ran it.  Tokens are read from the reply's
 * usage object in each shape the API and its gateways send (cached
 * tokens at top level or under prompt_tokens_details; reasoning tokens
 * under completion_tokens_details).  A gateway that reports its own cost
 * (usage.cost) has that cost summed, and its tokens are kept apart so a
 * price table never prices them a second time.
 *
 * A meter may have a parent (a derived client's meter counts into its
 * client's too); its ancestors are kept as one flat list, at most
 * KIMI_METER_DEPTH of them, so noting a reply locks a bounded number of
 * meters.  Counts saturate instead of wrapping: a hostile server cannot
 * make the totals negative.  Thread-safety: every call takes the meter's
 * lock (made anew in a forked child, as the limiter's).
 */
#ifndef KIMI_METER_H
#define KIMI_METER_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Distinct models counted apart; the rest share one row named "". */
#define KIMI_METER_MODELS 32
#define KIMI_METER_MODEL_MAX 96
/* Ancestors a meter may count into. */
#define KIMI_METER_DEPTH 8

/* What one reply's usage says; -1 where it says nothing. */
struct kimi_usage_sample {
    int64_t prompt;
    int64_t cached;
    int64_t completion;
    int64_t reasoning;
    double cost;            /* the gateway's own figure */
    int has_cost;
};

struct kimi_meter_row {
    char model[KIMI_METER_MODEL_MAX];
    int64_t requests;       /* replies noted */
    int64_t prompt;         /* tokens of every reply */
    int64_t cached;
    int64_t completion;
    int64_t reasoning;
    int64_t priced_prompt;  /* tokens of replies without a gateway cost */
    int64_t priced_cached;
    int64_t priced_completion;
    double reported_cost;   /* sum of gateways' own costs */
};

struct kimi_meter {
    pthread_mutex_t lock;
    unsigned long generation;
    int ready;                      /* the lock is made */
    struct kimi_meter *ancestors[KIMI_METER_DEPTH];     /* borrowed */
    size_t n_ancestors;
    struct kimi_meter_row rows[KIMI_METER_MODELS + 1];
    size_t n_rows;
};

/* Read a usage object (NULL or not an object: every field -1). */
void kimi_usage_sample_read(const cJSON *usage, struct kimi_usage_sample *out);

/* parent may be NULL.  KIMI_EINVAL when parent already has
 * KIMI_METER_DEPTH ancestors; KIMI_ENOMEM when the lock cannot be made. */
KIMI_MUST_CHECK enum kimi_status
kimi_meter_init(struct kimi_meter *m, struct kimi_meter *parent);

/* Idempotent. */
void kimi_meter_free(struct kimi_meter *m);

/* Count one reply of model (len bytes, may be 0) with usage (may be NULL:
 * a request counted without tokens), here and in every parent. */
void kimi_meter_note(struct kimi_meter *m, const char *model, size_t len,
                     const cJSON *usage);

/* Copy the rows out; returns how many (at most cap). */
size_t kimi_meter_snapshot(struct kimi_meter *m, struct kimi_meter_row *out,
                           size_t cap);

void kimi_meter_reset(struct kimi_meter *m);

#endif

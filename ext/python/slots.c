/* slots.c - the easy handles of one lane, numbered, handed out to the
 * transfers that run on its multi handle at once (a reactor's, a map's).
 *
 * Numbers freed are reused first, so a lane keeps only as many easy
 * handles (and their connections' state) as ran at once.
 */
#include "binding.h"

int
kpy_slots_init(struct kpy_slots *s)
{
    s->free = PyMem_Calloc(KIMI_LANE_MAX_EASY, sizeof(size_t));
    s->n_free = 0;
    s->next = 0;
    if (s->free == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

int
kpy_slots_take(struct kpy_slots *s, struct kimi_lane *lane, size_t *slot,
               CURL **easy, struct kimi_error *err)
{
    int fresh = s->n_free == 0;
    if (!fresh) {
        *slot = s->free[--s->n_free];
    }
    else if (s->next < KIMI_LANE_MAX_EASY) {
        *slot = s->next;
    }
    else {
        return 1;
    }
    if (kimi_pool_lane_easy(lane, *slot, easy, err) != KIMI_OK) {
        if (!fresh) {
            s->free[s->n_free++] = *slot;
        }
        return -1;
    }
    if (fresh) {
        s->next++;
    }
    return 0;
}

void
kpy_slots_give(struct kpy_slots *s, size_t slot)
{
    s->free[s->n_free++] = slot;
}

void
kpy_slots_free(struct kpy_slots *s)
{
    PyMem_Free(s->free);
    s->free = NULL;
}

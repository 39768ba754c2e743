/* alloc.c - allocation hooks with failure injection for tests. */
#include "alloc.h"

#include <stdlib.h>

static long fail_countdown;     /* 0: never fail */

static int
should_fail(void)
{
    if (fail_countdown <= 0) {
        return 0;
    }
    fail_countdown--;
    return fail_countdown == 0;
}

void *
kimi_malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size);
}

void *
kimi_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count, size);
}

void *
kimi_realloc(void *ptr, size_t size)
{
    return should_fail() ? NULL : realloc(ptr, size);
}

void
kimi_free(void *ptr)
{
    free(ptr);
}

void
kimi_alloc_fail_after(long n)
{
    fail_countdown = n;
}

/* alloc.h - the one set of allocation hooks used by all core code.
 *
 * Tests can make the Nth allocation fail to exercise every error path.
 * Thread-safety: the failure counter is for single-threaded tests only.
 */
#ifndef KIMI_ALLOC_H
#define KIMI_ALLOC_H

#include <stddef.h>

void *kimi_malloc(size_t size);
void *kimi_calloc(size_t count, size_t size);
void *kimi_realloc(void *ptr, size_t size);
void kimi_free(void *ptr);

/* Test hook: the n-th allocation from now fails (1 = the next one);
 * 0 disables failure injection. */
void kimi_alloc_fail_after(long n);

#endif

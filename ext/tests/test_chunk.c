/* test_chunk.c - unit tests for chunk.c: the text delta of one chunk,
 * whatever the chunk's shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "chunk.h"
#include "json.h"
#include "shared.h"

static int
content_is(const char *chunk_text, const char *want)
{
    cJSON *chunk = parse_or_exit(chunk_text);
    const char *got = kimi_chunk_content(chunk);
    int same = (got == NULL || want == NULL) ? got == want
                                             : strcmp(got, want) == 0;
    cJSON_Delete(chunk);
    return same;
}

static void
test_chunk_content_for_any_shape(void)
{
    CHECK(content_is("{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}",
                     "hi"));
    CHECK(content_is("{\"choices\":[{\"delta\":{\"content\":\"\"}}]}", ""));
    CHECK(content_is("{\"choices\":[{\"delta\":{\"content\":\"a\"}},"
                     "{\"delta\":{\"content\":\"b\"}}]}", "a"));
    CHECK(content_is("{\"choices\":[{\"delta\":{\"content\":null}}]}",
                     NULL));
    CHECK(content_is("{\"choices\":[{\"delta\":{\"content\":5}}]}", NULL));
    CHECK(content_is("{\"choices\":[{\"delta\":{\"reasoning\":\"r\"}}]}",
                     NULL));
    CHECK(content_is("{\"choices\":{\"delta\":{\"content\":\"x\"}}}", NULL));
    CHECK(content_is("{\"choices\":[]}", NULL));
    CHECK(content_is("{\"choices\":null}", NULL));
    CHECK(content_is("{\"choices\":[\"x\"]}", NULL));
    CHECK(content_is("{\"choices\":[[{\"delta\":{\"content\":\"x\"}}]]}",
                     NULL));
    CHECK(content_is("{\"choices\":[{\"index\":0}]}", NULL));
    CHECK(content_is("{\"choices\":[{\"delta\":\"text\"}]}", NULL));
    CHECK(content_is("{\"choices\":[{\"delta\":[\"content\"]}]}", NULL));
    CHECK(content_is("{}", NULL));
    CHECK(content_is("[{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}]",
                     NULL));
    CHECK(content_is("\"choices\"", NULL));
    CHECK(kimi_chunk_content(NULL) == NULL);
    /* With n > 1, only the choice with index 0 counts. */
    CHECK(content_is("{\"choices\":[{\"index\":1,\"delta\":{\"content\":"
                     "\"B\"}}]}", NULL));
    CHECK(content_is("{\"choices\":[{\"index\":1,\"delta\":{\"content\":"
                     "\"B\"}},{\"index\":0,\"delta\":{\"content\":"
                     "\"A\"}}]}", "A"));
}


/* A repeated key: the last one wins, as in the chunk objects. */
static void
test_duplicate_content_keys_take_the_last(void)
{
    CHECK(content_is("{\"choices\":[{\"delta\":{\"content\":\"first\","
                     "\"content\":\"last\"}}]}", "last"));
    CHECK(content_is("{\"choices\":[{\"delta\":{\"content\":\"x\"}}],"
                     "\"choices\":[{\"delta\":{\"content\":\"y\"}}]}",
                     "y"));
}

int
main(void)
{
    test_chunk_content_for_any_shape();
    test_duplicate_content_keys_take_the_last();
    return check_report("chunk");
}

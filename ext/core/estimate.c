/* estimate.c - the prompt token estimate of a request body.
 */
#include "estimate.h"

#include <limits.h>

long
kimi_estimate_prompt_tokens(const char *body, size_t len)
{
    size_t ascii = 0;
    size_t other = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c < 0x80) {
            ascii++;
        }
        else if (c >= 0xC0) {
            other++;        /* a lead byte: one character */
        }
    }
    size_t tokens = (ascii + 3) / 4 + other;
    return tokens > (size_t)LONG_MAX ? LONG_MAX : (long)tokens;
}

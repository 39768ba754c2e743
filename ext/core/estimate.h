/* estimate.h - a request's prompt tokens, estimated before it is sent.
 *
 * The account's token limits (limit.h) count a request when it starts,
 * long before the reply's usage says what it really cost, so the limiter
 * needs a guess that is cheap and errs high rather than low: then a
 * pipeline waits a little early instead of being refused by the server.
 * The real usage replaces the guess when the reply comes.
 */
#ifndef KIMI_ESTIMATE_H
#define KIMI_ESTIMATE_H

#include <stddef.h>

/* Tokens the prompt of a UTF-8 request body may count: a token per four
 * ASCII bytes (English text runs at about four characters a token) and
 * one per other character (a CJK character is a token or less).  The
 * JSON around the text is counted too, which keeps the guess high. */
long kimi_estimate_prompt_tokens(const char *body, size_t len);

#endif

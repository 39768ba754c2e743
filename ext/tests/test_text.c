/* test_text.c - unit tests for text.c.
 *
 * The UTF-8 sequence check against an independent decoder over every
 * sequence of up to three bytes and a sweep of four-byte ones, cutting at
 * every length, and the ASCII case-insensitive helpers.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "text.h"

/* Decode by bit pattern and range rules: the length of a well-formed
 * sequence at s, or 0. */
static size_t
reference_sequence(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned long cp;

    if (n == 0) {
        return 0;
    }
    if (s[0] < 0x80) {
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    }
    else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    }
    else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    }
    else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const unsigned long smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < smallest[len] || cp > 0x10FFFF
        || (cp >= 0xD800 && cp <= 0xDFFF))
    {
        return 0;
    }
    return len;
}

static void
test_sequence_matches_a_reference_decoder(void)
{
    unsigned char b[4];
    long mismatches = 0;

    for (unsigned x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (unsigned char)z;
                for (size_t n = 1; n <= 3; n++) {
                    if (kimi_text_utf8_sequence((const char *)b, n)
                        != reference_sequence(b, n)) {
                        mismatches++;
                    }
                }
            }
        }
    }
    /* Four-byte leads with every second byte and a sweep of the rest. */
    for (unsigned x = 0xF0; x < 0x100; x++) {
        for (unsigned y = 0; y < 256; y++) {
            for (unsigned z = 0x70; z < 0xD0; z += 7) {
                for (unsigned w = 0x70; w < 0xD0; w += 5) {
                    b[0] = (unsigned char)x;
                    b[1] = (unsigned char)y;
                    b[2] = (unsigned char)z;
                    b[3] = (unsigned char)w;
                    if (kimi_text_utf8_sequence((const char *)b, 4)
                        != reference_sequence(b, 4)) {
                        mismatches++;
                    }
                }
            }
        }
    }
    CHECK(mismatches == 0);
    CHECK(kimi_text_utf8_sequence("", 0) == 0);
    CHECK(kimi_text_utf8_sequence("\xF0\x9F\x98\x80", 4) == 4);
    CHECK(kimi_text_utf8_sequence("\xF4\x90\x80\x80", 4) == 0);
    CHECK(kimi_text_utf8_sequence("\xED\x9F\xBF", 3) == 3);
    CHECK(kimi_text_utf8_sequence("\xED\xA0\x80", 3) == 0);
    CHECK(kimi_text_utf8_sequence("\xE0\x9F\xBF", 3) == 0);
    CHECK(kimi_text_utf8_sequence("\xC1\xBF", 2) == 0);
}

static void
test_valid(void)
{
    CHECK(kimi_text_utf8_valid("", 0));
    CHECK(kimi_text_utf8_valid("plain", 5));
    CHECK(kimi_text_utf8_valid("a\0b", 3));
    CHECK(kimi_text_utf8_valid("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9));
    CHECK(!kimi_text_utf8_valid("\xC3\xA9\xE2\x82", 4));
    CHECK(!kimi_text_utf8_valid("\x80", 1));
    CHECK(!kimi_text_utf8_valid("\xFF", 1));
    CHECK(!kimi_text_utf8_valid("ok\xC0\x80", 4));
}

static void
test_cut_never_splits_a_character(void)
{
    const char *text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z\xE2\x82\xAC";
    size_t n = strlen(text);

    for (size_t max = 0; max <= n + 2; max++) {
        size_t cut = kimi_text_utf8_cut(text, n, max);
        CHECK(cut <= max && cut <= n);
        CHECK(kimi_text_utf8_valid(text, cut));
        /* the longest valid prefix within max */
        size_t best = 0;
        for (size_t k = 0; k <= n && k <= max; k++) {
            if (kimi_text_utf8_valid(text, k)) {
                best = k;
            }
        }
        CHECK(cut == best);
    }
    /* Stray continuation bytes carry no character to keep whole. */
    CHECK(kimi_text_utf8_cut("a\x80\x80\x80\x80", 5, 3) == 3);
    CHECK(kimi_text_utf8_cut("\x80\x80", 2, 1) == 1);
    /* A lead whose sequence fits before the cut is kept. */
    CHECK(kimi_text_utf8_cut("\xC3\xA9\xA9", 3, 2) == 2);
}

static void
test_nocase(void)
{
    CHECK(kimi_text_equal_nocase("Retry-After", 11, "retry-after", 11));
    CHECK(kimi_text_equal_nocase("", 0, "", 0));
    CHECK(!kimi_text_equal_nocase("retry", 5, "retry-after", 11));
    CHECK(!kimi_text_equal_nocase("\xC3\xA9", 2, "\xC3\x89", 2));
    CHECK(!kimi_text_equal_nocase("[", 1, "{", 1));

    const char *hay = "Please TRY AGAIN after 5 seconds";
    const char *at = kimi_text_find_nocase(hay, strlen(hay), "try again",
                                           9);
    CHECK(at == hay + 7);
    CHECK(kimi_text_find_nocase(hay, strlen(hay), "seconds", 7)
          == hay + strlen(hay) - 7);
    CHECK(kimi_text_find_nocase(hay, strlen(hay), "minutes", 7) == NULL);
    CHECK(kimi_text_find_nocase(hay, 3, "please", 6) == NULL);
    CHECK(kimi_text_find_nocase(hay, strlen(hay), "", 0) == NULL);
    CHECK(kimi_text_find_nocase("aab", 3, "ab", 2) != NULL);
}

int
main(void)
{
    test_sequence_matches_a_reference_decoder();
    test_valid();
    test_cut_never_splits_a_character();
    test_nocase();
    return check_report("text");
}

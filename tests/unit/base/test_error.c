/*
 * test_error.c - the error struct's formatting for logs (src/base/error.h):
 * one line whatever the values in it, bidi controls shown not obeyed, and
 * identifier values masked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"

static void escape_controls(void **state)
{
    char out[128];

    (void)state;
    assert_string_equal(aod_error_escape("plain text, é and 日本", out, sizeof out),
                        "plain text, é and 日本");
    assert_string_equal(aod_error_escape("a\nb\rc\td", out, sizeof out), "a\\nb\\rc\\td");
    assert_string_equal(aod_error_escape("bell\a del\x7f", out, sizeof out), "bell\\x07 del\\x7F");
    /* bytes that are not UTF-8, an overlong '/', a surrogate */
    assert_string_equal(aod_error_escape("\xff\xc0\xaf\xed\xa0\x80", out, sizeof out),
                        "\\xFF\\xC0\\xAF\\xED\\xA0\\x80");
    /* C1 control U+0085 (NEL) */
    assert_string_equal(aod_error_escape("x\xc2\x85y", out, sizeof out), "x\\u0085y");
}

static void escape_bidi(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"\xe2\x80\xae", "\\u202E"}, {"\xe2\x80\xaa", "\\u202A"}, {"\xe2\x81\xa6", "\\u2066"},
        {"\xe2\x81\xa9", "\\u2069"}, {"\xe2\x80\x8e", "\\u200E"}, {"\xe2\x80\x8f", "\\u200F"},
        {"\xd8\x9c", "\\u061C"},     {"\xe2\x80\xa8", "\\u2028"}, {"\xe2\x80\xa9", "\\u2029"},
    };
    char out[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(aod_error_escape(cases[i].in, out, sizeof out), cases[i].out);
    /* the characters next to them are text */
    assert_string_equal(aod_error_escape("\xe2\x80\xad\xe2\x80\xaf", out, sizeof out),
                        "\\u202D\xe2\x80\xaf");
}

static void escape_cut_whole(void **state)
{
    char out[8];

    (void)state;
    /* never half an escape or half a character */
    assert_string_equal(aod_error_escape("abcd\n", out, sizeof out), "abcd\\n");
    assert_string_equal(aod_error_escape("abcdef\n", out, sizeof out), "abcdef");
    assert_string_equal(aod_error_escape("abcde\xc3\xa9x", out, sizeof out), "abcde\xc3\xa9");
    assert_string_equal(aod_error_escape("abcdef\xc3\xa9", out, sizeof out), "abcdef");
}

static void format_is_one_line(void **state)
{
    aod_error err;
    char out[256];

    (void)state;
    aod_error_init(&err);
    aod_error_set(&err, AOD_ERR_USAGE, "req.csv", 3, "formats", "unknown format '%s'",
                  "csv\naodreport: ok FORGED\xe2\x80\xae");
    assert_string_equal(aod_error_format(&err, out, sizeof out),
                        "req.csv:3: formats: unknown format 'csv\\naodreport: ok FORGED\\u202E'");
}

static void mask_keys(void **state)
{
    char out[128];

    (void)state;
    assert_string_equal(
        aod_error_mask_key("urn:oid:2.16.840.1.113883.4.1|123-45-6789", out, sizeof out),
        "urn:oid:2.16.840.1.113883.4.1|*******6789");
    assert_string_equal(aod_error_mask_key("urn:x|1234", out, sizeof out), "urn:x|1234");
    assert_string_equal(aod_error_mask_key("urn:x|12345", out, sizeof out), "urn:x|*2345");
    assert_string_equal(aod_error_mask_key("|abcdef", out, sizeof out), "|**cdef");
    /* characters, not bytes; and what is shown is escaped */
    assert_string_equal(aod_error_mask_key("s|ééééé", out, sizeof out), "s|*éééé");
    assert_string_equal(aod_error_mask_key("s|12\xe2\x80\xae"
                                           "34",
                                           out, sizeof out),
                        "s|*2\\u202E34");
    /* a reference is the server's id: kept, escaped */
    assert_string_equal(aod_error_mask_key("Patient/123\n", out, sizeof out), "Patient/123\\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape_controls),  cmocka_unit_test(escape_bidi),
        cmocka_unit_test(escape_cut_whole), cmocka_unit_test(format_is_one_line),
        cmocka_unit_test(mask_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

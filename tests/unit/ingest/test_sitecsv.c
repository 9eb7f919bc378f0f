/*
 * test_sitecsv.c - the RFC 4180 reader of the site inputs: quoting, doubled
 * quotes, line breaks inside quotes (and the lines they start on), CRLF and
 * LF, a byte order mark, the errors (each with its line), and the dates.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ingest/sitecsv.h"

typedef struct reader {
    FILE *in;
    aod_csvin *r;
} reader;

static void open_text(reader *rd, const char *text, size_t len)
{
    aod_error err;

    aod_error_init(&err);
    rd->in = fmemopen((void *)(uintptr_t)text, len, "rb");
    assert_non_null(rd->in);
    rd->r = aod_csvin_new(rd->in, "t.csv", &err);
    assert_non_null(rd->r);
}

static void close_text(reader *rd)
{
    aod_csvin_free(rd->r);
    fclose(rd->in);
}

static void test_fields_and_quotes(void **state)
{
    static const char text[] = "\xEF\xBB\xBF"
                               "a,b,c\r\n"
                               "plain,\"with, comma\",\"say \"\"hi\"\"\"\r\n"
                               "\"two\nlines\",,x\n"
                               ",\"\",\n";
    const char *const *f;
    const long *lines;
    size_t n;
    long line;
    aod_error err;
    reader rd;

    (void)state;
    aod_error_init(&err);
    open_text(&rd, text, sizeof text - 1);
    assert_int_equal(aod_csvin_next(rd.r, &f, &n, &line, &lines, &err), 1);
    assert_int_equal(n, 3);
    assert_string_equal(f[0], "a"); /* no byte order mark left */
    assert_int_equal(line, 1);
    assert_int_equal(aod_csvin_next(rd.r, &f, &n, &line, &lines, &err), 1);
    assert_int_equal(n, 3);
    assert_string_equal(f[0], "plain");
    assert_string_equal(f[1], "with, comma");
    assert_string_equal(f[2], "say \"hi\"");
    assert_int_equal(line, 2);
    assert_int_equal(aod_csvin_next(rd.r, &f, &n, &line, &lines, &err), 1);
    assert_string_equal(f[0], "two\nlines");
    assert_string_equal(f[1], "");
    assert_int_equal(line, 3);
    assert_int_equal(lines[2], 4); /* x is on the record's second line */
    assert_int_equal(aod_csvin_next(rd.r, &f, &n, &line, &lines, &err), 1);
    assert_int_equal(n, 3);
    assert_string_equal(f[1], "");
    assert_int_equal(line, 5);
    assert_int_equal(aod_csvin_next(rd.r, &f, &n, &line, &lines, &err), 0);
    assert_int_equal(err.code, AOD_OK);
    close_text(&rd);
}

/* The first record of text must fail with an input error on line. */
static void refused(const char *text, size_t len, long line, const char *words)
{
    const char *const *f;
    size_t n;
    long l;
    aod_error err;
    reader rd;
    int got;

    aod_error_init(&err);
    open_text(&rd, text, len);
    do
        got = aod_csvin_next(rd.r, &f, &n, &l, NULL, &err);
    while (got == 1);
    assert_int_equal(got, -1);
    assert_int_equal(err.code, AOD_ERR_INPUT);
    assert_string_equal(err.source, "t.csv");
    assert_int_equal(err.line, line);
    if (!strstr(err.text, words))
        fail_msg("'%s' does not say '%s'", err.text, words);
    close_text(&rd);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("a,b\nx\"y,z\n", 10, 2, "a quote inside a field");
    refused("a,b\n\"x\"y,z\n", 11, 2, "text after the closing quote");
    refused("a,b\n\"open,\nstill\n", 17, 2, "not closed before the end");
    refused("a,b\n\xff,z\n", 8, 2, "not UTF-8");
    refused("a,b\nx\0,z\n", 9, 2, "NUL");
    refused("a,b\nx\rz\n", 8, 2, "CR outside quotes");
}

static void test_dates(void **state)
{
    (void)state;
    assert_true(aod_sitecsv_is_date("2025-01-31"));
    assert_true(aod_sitecsv_is_date("2024-02-29"));
    assert_true(aod_sitecsv_is_date("2000-02-29"));
    assert_false(aod_sitecsv_is_date("1900-02-29"));
    assert_false(aod_sitecsv_is_date("2025-02-29"));
    assert_false(aod_sitecsv_is_date("2025-04-31"));
    assert_false(aod_sitecsv_is_date("2025-13-01"));
    assert_false(aod_sitecsv_is_date("2025-1-01"));
    assert_false(aod_sitecsv_is_date("2025-01-01T00:00:00Z"));
    assert_false(aod_sitecsv_is_date(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_quotes),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

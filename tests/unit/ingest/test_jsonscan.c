/* test_jsonscan.c - the loader's stream splitter: NDJSON, Bundles, bad structure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "ingest/jsonscan.h"

/* Every piece as "KIND@line#index:json\n", so one string comparison checks
 * kinds, lines, indexes and contents at once. */
static int collect(void *ctx, aod_jsonscan_kind kind, const char *json, size_t len, long line,
                   long index, aod_error *err)
{
    aod_buf *out = ctx;
    const char *k = kind == AOD_JSONSCAN_DOCUMENT ? "DOC"
                    : kind == AOD_JSONSCAN_ENTRY  ? "ENT"
                                                  : "CON";
    (void)err;
    assert_int_equal(strlen(json), len);
    return aod_buf_printf(out, "%s@%ld#%ld:%s\n", k, line, index, json);
}

/* Scans input fed in chunks of `chunk` bytes; returns 0/-1 and fills out/err. */
static int scan(const char *input, size_t chunk, aod_buf *out, aod_error *err)
{
    aod_jsonscan *s = aod_jsonscan_new("in.json", 0, collect, out);
    size_t len = strlen(input), i;
    int rc = 0;

    assert_non_null(s);
    aod_error_init(err);
    for (i = 0; i < len && rc == 0; i += chunk)
        rc = aod_jsonscan_feed(s, input + i, len - i < chunk ? len - i : chunk, err);
    if (rc == 0)
        rc = aod_jsonscan_finish(s, err);
    aod_jsonscan_free(s);
    return rc;
}

static void ndjson_lines(void **state)
{
    aod_buf out;
    aod_error err;
    (void)state;
    aod_buf_init(&out, 0);
    assert_int_equal(
        scan("{\"a\":1}\n{\"b\":\"x}\\\"]\"}\n\n{\"entry\":{\"c\":[1]}}\n", 4096, &out, &err), 0);
    assert_string_equal(aod_buf_str(&out), "DOC@1#0:{\"a\":1}\n"
                                           "DOC@2#1:{\"b\":\"x}\\\"]\"}\n"
                                           "DOC@4#2:{\"entry\":{\"c\":[1]}}\n");
    aod_buf_free(&out);
}

static const char bundle[] =
    "{\n"
    " \"resourceType\": \"Bundle\",\n"
    " \"entry\": [\n"
    "  {\"resource\": {\"resourceType\": \"AuditEvent\", \"entry\": [1]}},\n"
    "  {\"resource\": {\"x\": \"]},{\"}}\n"
    " ],\n"
    " \"type\": \"collection\"\n"
    "}\n";

static void bundle_entries(void **state)
{
    const char *expect =
        "ENT@4#0:{\"resource\": {\"resourceType\": \"AuditEvent\", \"entry\": [1]}}\n"
        "ENT@5#1:{\"resource\": {\"x\": \"]},{\"}}\n"
        "CON@1#2:{\n \"resourceType\": \"Bundle\",\n \"entry\": [],\n"
        " \"type\": \"collection\"\n}\n";
    size_t chunk;
    (void)state;
    /* The result must not depend on how the input is cut into reads. */
    for (chunk = 1; chunk <= sizeof bundle; chunk += 7) {
        aod_buf out;
        aod_error err;
        aod_buf_init(&out, 0);
        assert_int_equal(scan(bundle, chunk, &out, &err), 0);
        assert_string_equal(aod_buf_str(&out), expect);
        aod_buf_free(&out);
    }
}

static void bom_is_skipped(void **state)
{
    aod_buf out;
    aod_error err;
    (void)state;
    aod_buf_init(&out, 0);
    assert_int_equal(scan("\xEF\xBB\xBF{\"a\":1}", 2, &out, &err), 0);
    assert_string_equal(aod_buf_str(&out), "DOC@1#0:{\"a\":1}\n");
    aod_buf_free(&out);
}

static void expect_error(const char *input, long line, const char *text)
{
    aod_buf out;
    aod_error err;
    aod_buf_init(&out, 0);
    assert_int_equal(scan(input, 3, &out, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INPUT);
    assert_string_equal(err.source, "in.json");
    assert_int_equal(err.line, line);
    assert_non_null(strstr(err.text, text));
    aod_buf_free(&out);
}

static void structure_errors(void **state)
{
    (void)state;
    expect_error("{\"a\":1}\n[1,2]\n", 2, "expected a JSON object");
    expect_error("{\"a\":1}\n  42\n", 2, "expected a JSON object");
    expect_error("{\"a\":[1}\n", 1, "unexpected '}'");
    expect_error("{\"a\":1}\n{\"b\":\n", 3, "not closed");
    expect_error("{\"a\":\"x\ny\"}\n", 1, "unterminated string");
    expect_error("{\"entry\":[{\"a\":1},\n 7]}", 2, "entry 1 is not a JSON object");
    expect_error("{\"entry\":[\"s\"]}", 1, "not a JSON object");
}

/* Issue 15, point 9: the grammar is checked at every depth, the bytes
 * between Bundle entries (which no piece carries to jansson) included. */
static void grammar_everywhere(void **state)
{
    (void)state;
    expect_error("{\"entry\":[, {\"a\":1} {\"b\":2} :,]}", 1,
                 "before Bundle entry 0: found ',', expected a value or ']'");
    expect_error("{\"entry\":[{\"a\":1}\n {\"b\":2}]}", 2,
                 "after Bundle entry 0: found '{', expected ',' or ']'");
    expect_error("{\"entry\":[{\"a\":1} :, {\"b\":2}]}", 1, "after Bundle entry 0: found ':'");
    expect_error("{\"entry\":[{\"a\":1},]}", 1,
                 "after Bundle entry 0: found ']', expected a value");
    expect_error("{\"a\":1 \"b\":2}", 1, "found a string, expected ',' or '}'");
    expect_error("{\"a\" 1}", 1, "found '1', expected ':'");
    expect_error("{\"a\":1,}", 1, "found '}', expected a key");
    expect_error("{\"a\":[1,,2]}", 1, "found ',', expected a value");
    expect_error("{\"a\":tru}", 1, "unknown literal");
    expect_error("{\"a\":01}", 1, "found '1', expected ',' or '}'");
    expect_error("{\"a\":1.}", 1, "malformed number");
    expect_error("{\"a\":-}", 1, "malformed number");
    expect_error("{1:2}", 1, "found '1', expected a key or '}'");
}

static void grammar_good(void **state)
{
    aod_buf out;
    aod_error err;
    const char *in = "{\"a\":-0.5e+3,\"b\":[true,false,null,0,12,1E9,{}],\"c\":{\"d\":[]}}\n";
    (void)state;
    aod_buf_init(&out, 0);
    assert_int_equal(scan(in, 1, &out, &err), 0);
    assert_string_equal(aod_buf_str(&out), "DOC@1#0:{\"a\":-0.5e+3,\"b\":[true,false,null,0,12,1E9,"
                                           "{}],\"c\":{\"d\":[]}}\n");
    aod_buf_free(&out);
}

/* "entr\u0079" is the key "entry": its array is cut into entries too. */
static void escaped_entry_key(void **state)
{
    aod_buf out;
    aod_error err;
    (void)state;
    aod_buf_init(&out, 0);
    assert_int_equal(
        scan("{\"entr\\u0079\":[{\"a\":1},{\"b\":2}],\"\\u0065ntry\\/\":[3]}", 2, &out, &err), 0);
    assert_string_equal(aod_buf_str(&out), "ENT@1#0:{\"a\":1}\n"
                                           "ENT@1#1:{\"b\":2}\n"
                                           "CON@1#2:{\"entr\\u0079\":[],\"\\u0065ntry\\/\":[3]}\n");
    aod_buf_free(&out);
}

static int stop_second(void *ctx, aod_jsonscan_kind kind, const char *json, size_t len, long line,
                       long index, aod_error *err)
{
    int *calls = ctx;
    (void)kind, (void)json, (void)len, (void)index;
    if (++*calls == 2) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "recorded", "missing");
        return -1;
    }
    (void)line;
    return 0;
}

static void callback_error_stops(void **state)
{
    int calls = 0;
    aod_error err;
    aod_jsonscan *s = aod_jsonscan_new("f", 0, stop_second, &calls);
    const char *in = "{}\n{}\n{}\n";
    (void)state;
    aod_error_init(&err);
    assert_int_equal(aod_jsonscan_feed(s, in, strlen(in), &err), -1);
    assert_int_equal(calls, 2);
    assert_string_equal(err.field, "recorded");
    /* refuses more input after an error */
    assert_int_equal(aod_jsonscan_feed(s, "{}", 2, &err), -1);
    assert_int_equal(calls, 2);
    aod_jsonscan_free(s);
}

static void piece_size_cap(void **state)
{
    aod_buf out;
    aod_error err;
    aod_jsonscan *s;
    const char *in = "{\"a\":\"0123456789012345678901234567890123456789\"}";
    (void)state;
    aod_buf_init(&out, 0);
    aod_error_init(&err);
    s = aod_jsonscan_new("f", 16, collect, &out);
    assert_int_equal(aod_jsonscan_feed(s, in, strlen(in), &err), -1);
    assert_non_null(strstr(err.text, "size limit"));
    aod_jsonscan_free(s);
    aod_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ndjson_lines),         cmocka_unit_test(bundle_entries),
        cmocka_unit_test(bom_is_skipped),       cmocka_unit_test(structure_errors),
        cmocka_unit_test(callback_error_stops), cmocka_unit_test(piece_size_cap),
        cmocka_unit_test(grammar_everywhere),   cmocka_unit_test(grammar_good),
        cmocka_unit_test(escaped_entry_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

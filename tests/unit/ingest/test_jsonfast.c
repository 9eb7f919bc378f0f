/* test_jsonfast.c - the quick parser gives jansson's values or declines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/jsonfast.h"

/* jansson's reading of text, or NULL when it refuses it. */
static json_t *jansson(const char *text, size_t len)
{
    json_error_t e;

    return json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
}

/* Both are NULL, or both values and the same, types and key order
 * included (json_dumps keeps the order of insertion). */
static int same(json_t *a, json_t *b)
{
    char *da, *db;
    int r;

    if (!a || !b)
        return !a && !b;
    if (!json_equal(a, b))
        return 0;
    da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    r = da && db && strcmp(da, db) == 0;
    free(da);
    free(db);
    return r;
}

/* The quick parser must take text and give what jansson gives. */
static void takes(const char *text)
{
    json_t *f = aod_jsonfast_parse(text, strlen(text)), *j = jansson(text, strlen(text));

    if (!f || !same(f, j))
        fail_msg("not taken as jansson takes it: %s", text);
    json_decref(f);
    json_decref(j);
}

/* The quick parser must decline text (jansson refuses it, or reads it in a
 * way the quick parser leaves to jansson). */
static void declines(const char *text, size_t len)
{
    json_t *f = aod_jsonfast_parse(text, len);

    if (f)
        fail_msg("taken, should be left to jansson: %.*s", (int)len, text);
}

static const char event[] =
    "{\"resourceType\":\"AuditEvent\",\"id\":\"ae-1\",\"type\":{\"system\":"
    "\"http:\\/\\/dicom.nema.org\\/resources\\/ontology\\/DCM\",\"code\":\"110110\"},"
    "\"recorded\":\"2024-01-01T10:00:00Z\",\"outcome\":\"0\",\"agent\":[{\"who\":{"
    "\"display\":\"Dr. M\xc3\xbcller \\\"Ann\\\"\\tA\\\\B\"},\"requestor\":true,\"n\":-0},"
    "{\"requestor\":false,\"x\":null,\"i\":[1,-12,9223372036854775807,-9223372036854775808]}],"
    " \"entity\" : [ { \"what\" : { \"reference\" : \"Patient/p1\" } } , {} , [] ] ,"
    "\"\xe2\x82\xac\":\"\xf0\x9f\x98\x80\",\"e\":\"\",\"b\":\"\\b\\f\\n\\r\\/\"}";

static void common_documents(void **state)
{
    (void)state;
    takes(event);
    takes("{}");
    takes("[]");
    takes(" \t\r\n{\"a\":[[],{},[[1]],\"x\"]} \n");
    takes("[1,true,false,null,\"s\",{\"k\":0}]");
    takes("{\"a\":{\"a\":{\"a\":1}},\"A\":2}");
}

static void left_to_jansson(void **state)
{
    static const char *const cases[] = {
        "{\"r\":1.5}", /* reals */
        "{\"r\":1e3}",
        "{\"r\":-0.0}",
        "{\"u\":\"\\u00e9\"}", /* \u escapes */
        "{\"u\":\"\\u0000\"}",
        "{\"\\u0061\":1}",
        "{\"a\":1,\"a\":2}",           /* a duplicate key */
        "{\"a\":1,\"\\/\":2,\"/\":3}", /* the same key, escaped once */
        "{\"i\":9223372036854775808}", /* out of range */
        "{\"i\":-9223372036854775809}",
        "{\"i\":01}", /* not JSON */
        "{\"i\":-}",
        "{\"i\":+1}",
        "{\"x\":\"\\x\"}",
        "{\"x\":tru}",
        "{\"x\":nul}",
        "{\"x\":1,}",
        "[1,]",
        "{\"x\" 1}",
        "{x:1}",
        "{\"x\":1}}",
        "{\"x\":1} 2",
        "{\"x\":\"open}",
        "{\"x\":1",
        "\"top\"", /* not an object or array */
        "1",
        "",
        "  ",
        "{\"s\":\"a\xff\"}",        /* not UTF-8 */
        "{\"s\":\"\xc0\xaf\"}",     /* overlong */
        "{\"s\":\"\xed\xa0\x80\"}", /* a surrogate */
        "{\"\xff\":1}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        declines(cases[i], strlen(cases[i]));
    declines("{\"c\":\"a\x01\"}", 9); /* a control character */
    declines("{\"c\":\"a\nb\"}", 10);
    declines("{\"n\":\"a\0b\"}", 10); /* a NUL byte */
}

static void deep_nesting(void **state)
{
    char deep[2 * 300 + 1];
    size_t i;

    (void)state;
    for (i = 0; i < 300; i++) {
        deep[i] = '[';
        deep[2 * 300 - 1 - i] = ']';
    }
    deep[600] = '\0';
    declines(deep, 600);
    deep[300 - 100] = '\0'; /* not closed */
    declines(deep, 200);
}

/*
 * Every document made from the event by changing one byte into one of the
 * bytes JSON cares about, or by cutting it short: whenever the quick parser
 * takes one, jansson must take it too and read the same.  Tens of thousands
 * of near-misses, each of which a wrong shortcut would let through.
 */
static void near_misses(void **state)
{
    static const char bytes[] = "\"\\{}[],: \t\n\x01\x7f\x80\xc3\xff"
                                "0159-+.eEutfnlrsab/";
    size_t len = sizeof event - 1, i, k, taken = 0;
    char *buf = malloc(len + 1);

    (void)state;
    assert_non_null(buf);
    for (i = 0; i < len; i++) {
        for (k = 0; k < sizeof bytes - 1; k++) {
            json_t *f, *j;
            memcpy(buf, event, len);
            buf[i] = bytes[k];
            f = aod_jsonfast_parse(buf, len);
            if (f) {
                j = jansson(buf, len);
                if (!same(f, j))
                    fail_msg("byte %zu as 0x%02x: taken but jansson reads otherwise", i,
                             (unsigned char)bytes[k]);
                taken++;
                json_decref(j);
            }
            json_decref(f);
        }
        /* cut short */
        {
            json_t *f = aod_jsonfast_parse(event, i);
            if (f)
                fail_msg("a prefix of %zu bytes taken", i);
        }
    }
    /* a good share still taken: the test looks at both ways */
    assert_true(taken > len);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(common_documents),
        cmocka_unit_test(left_to_jansson),
        cmocka_unit_test(deep_nesting),
        cmocka_unit_test(near_misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

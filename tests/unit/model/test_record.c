/*
 * test_record.c - the plain event model: arena, string and list helpers,
 * FHIR time parsing and formatting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "model/record.h"

/* ------------------------------------------------------------------ arena */

static void test_alloc_zeroed_aligned(void **state)
{
    aod_record *r = aod_record_new();
    size_t sizes[] = {1, 3, 16, 17, 100, 4000, 5000, 70000, 0, 8};
    size_t i, k;

    (void)state;
    assert_non_null(r);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = aod_record_alloc(r, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (k = 0; k < sizes[i]; k++)
            assert_int_equal(p[k], 0);
        memset(p, 0xAB, sizes[i]);
    }
    aod_record_free(r);
    aod_record_free(NULL);
}

static void test_clear_reuses_pages(void **state)
{
    aod_record *r = aod_record_new();
    unsigned char *first, *again, *big, *big2;
    int round;
    size_t k;

    (void)state;
    first = aod_record_alloc(r, 64);
    memset(first, 0x5A, 64);
    big = aod_record_alloc(r, 100000);
    memset(big, 0x5A, 100000);
    for (round = 0; round < 50; round++) {
        aod_record_clear(r);
        /* The first page comes back, and comes back zeroed. */
        again = aod_record_alloc(r, 64);
        assert_ptr_equal(again, first);
        for (k = 0; k < 64; k++)
            assert_int_equal(again[k], 0);
        memset(again, 0x5A, 64);
        big2 = aod_record_alloc(r, 100000);
        assert_non_null(big2);
        for (k = 0; k < 100000; k += 997)
            assert_int_equal(big2[k], 0);
        memset(big2, 0x5A, 100000);
    }
    aod_record_free(r);
}

static void test_clear_resets_fields(void **state)
{
    aod_record *r = aod_record_new();

    (void)state;
    r->row_id = 9;
    r->id = aod_record_strdup(r, "x");
    r->action = 'R';
    assert_int_equal(aod_record_add_patient_key(r, "Patient/1"), 0);
    aod_record_clear(r);
    assert_int_equal(r->row_id, 0);
    assert_null(r->id);
    assert_int_equal(r->action, 0);
    assert_int_equal(r->n_patient_keys, 0);
    assert_non_null(r->arena);
    aod_record_clear(NULL);
    aod_record_free(r);
}

static void test_strdup(void **state)
{
    aod_record *r = aod_record_new();
    const char *s;

    (void)state;
    assert_null(aod_record_strdup(r, NULL));
    assert_null(aod_record_strndup(r, NULL, 3));
    s = aod_record_strdup(r, "");
    assert_non_null(s);
    assert_string_equal(s, "");
    s = aod_record_strndup(r, "abcdef", 3);
    assert_string_equal(s, "abc");
    s = aod_record_strdup(r, "caf\xc3\xa9\t\n\\");
    assert_string_equal(s, "caf\xc3\xa9\t\n\\");
    aod_record_free(r);
}

/* ---------------------------------------------------------------- codings */

static void test_codings_grow(void **state)
{
    aod_record *r = aod_record_new();
    aod_codings list = {NULL, 0};
    char code[16];
    int i;

    (void)state;
    for (i = 0; i < 300; i++) {
        snprintf(code, sizeof code, "c%d", i);
        assert_int_equal(
            aod_codings_add(r, &list, i % 2 ? "sys" : NULL, code, i % 3 ? NULL : "disp"), 0);
        /* Other allocations in between must not land inside the list. */
        memset(aod_record_alloc(r, 40), 0xFF, 40);
    }
    assert_int_equal(list.n, 300);
    for (i = 0; i < 300; i++) {
        snprintf(code, sizeof code, "c%d", i);
        assert_string_equal(list.v[i].code, code);
        if (i % 2)
            assert_string_equal(list.v[i].system, "sys");
        else
            assert_null(list.v[i].system);
        if (i % 3)
            assert_null(list.v[i].display);
        else
            assert_string_equal(list.v[i].display, "disp");
    }
    aod_record_free(r);
}

/* A list another stage built with an exact-size array must not be written
 * past its end; a copied list struct must not share spare room. */
static void test_codings_foreign_and_copied_lists(void **state)
{
    aod_record *r = aod_record_new();
    aod_codings exact, a, b;
    unsigned char *guard;
    size_t k;

    (void)state;
    exact.v = aod_record_alloc(r, 3 * sizeof *exact.v);
    exact.n = 3;
    guard = aod_record_alloc(r, 64);
    memset(guard, 0x77, 64);
    assert_int_equal(aod_codings_add(r, &exact, NULL, "x", NULL), 0);
    assert_int_equal(exact.n, 4);
    assert_string_equal(exact.v[3].code, "x");
    for (k = 0; k < 64; k++)
        assert_int_equal(guard[k], 0x77);

    a.v = NULL;
    a.n = 0;
    assert_int_equal(aod_codings_add(r, &a, NULL, "one", NULL), 0);
    b = a;
    assert_int_equal(aod_codings_add(r, &a, NULL, "a2", NULL), 0);
    assert_int_equal(aod_codings_add(r, &b, NULL, "b2", NULL), 0);
    assert_string_equal(a.v[1].code, "a2");
    assert_string_equal(b.v[1].code, "b2");
    assert_string_equal(a.v[0].code, "one");
    assert_string_equal(b.v[0].code, "one");
    aod_record_free(r);
}

static void test_codings_find(void **state)
{
    aod_record *r = aod_record_new();
    aod_codings list = {NULL, 0};
    const aod_coding *c;

    (void)state;
    assert_null(aod_codings_find(&list, NULL, "x"));
    assert_int_equal(aod_codings_has_code(&list, "x"), 0);
    assert_int_equal(aod_codings_add(r, &list, "http://a", "1", "one"), 0);
    assert_int_equal(aod_codings_add(r, &list, NULL, NULL, "text only"), 0);
    assert_int_equal(aod_codings_add(r, &list, "http://b", "1", "other one"), 0);
    c = aod_codings_find(&list, "http://b", "1");
    assert_non_null(c);
    assert_string_equal(c->display, "other one");
    c = aod_codings_find(&list, NULL, "1");
    assert_string_equal(c->display, "one");
    assert_null(aod_codings_find(&list, "http://c", "1"));
    assert_null(aod_codings_find(&list, "http://a", "2"));
    assert_null(aod_codings_find(NULL, NULL, "1"));
    assert_int_equal(aod_codings_has_code(&list, "1"), 1);
    assert_int_equal(aod_codings_has_code(&list, "2"), 0);
    assert_int_equal(aod_codings_has_code(&list, NULL), 0);
    aod_record_free(r);
}

static void test_patient_keys(void **state)
{
    aod_record *r = aod_record_new();
    char key[32];
    int i;

    (void)state;
    assert_int_equal(aod_record_add_patient_key(r, "Patient/1"), 0);
    assert_int_equal(aod_record_add_patient_key(r, "Patient/1"), 0);
    assert_int_equal(aod_record_add_patient_key(r, "sys|1"), 0);
    assert_int_equal(aod_record_add_patient_key(r, "Patient/1"), 0);
    assert_int_equal(r->n_patient_keys, 2);
    assert_string_equal(r->patient_keys[0], "Patient/1");
    assert_string_equal(r->patient_keys[1], "sys|1");
    assert_int_equal(aod_record_add_patient_key(r, NULL), -1);
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "Patient/%d", i % 50);
        assert_int_equal(aod_record_add_patient_key(r, key), 0);
    }
    /* Patient/1 was there already. */
    assert_int_equal(r->n_patient_keys, 51);
    assert_string_equal(r->patient_keys[50], "Patient/49");
    aod_record_free(r);
}

static void test_version_name(void **state)
{
    (void)state;
    assert_string_equal(aod_fhir_version_name(AOD_FHIR_R4), "R4");
    assert_string_equal(aod_fhir_version_name(AOD_FHIR_R5), "R5");
    assert_string_equal(aod_fhir_version_name(AOD_FHIR_R6), "R6");
    assert_string_equal(aod_fhir_version_name(AOD_FHIR_UNKNOWN), "unknown");
    assert_string_equal(aod_fhir_version_name((aod_fhir_version)42), "unknown");
}

/* ------------------------------------------------------------------- time */

static void test_time_parse_good(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        {"2013-09-22T00:08:00Z", INT64_C(1379808480000)},
        {"2013-09-22T02:08:00.123+02:00", INT64_C(1379808480123)},
        {"2013-09-21T18:38:00-05:30", INT64_C(1379808480000)},
        {"2013-09-22T00:08:00+00:00", INT64_C(1379808480000)},
        {"2013-09-22T00:08:00-00:00", INT64_C(1379808480000)},
        {"2013-09-22T00:08:00", INT64_C(1379808480000)},
        {"2013-09-22T00:08Z", INT64_C(1379808480000)},
        {"2013-09-22T00:08:00.1Z", INT64_C(1379808480100)},
        {"2013-09-22T00:08:00.12Z", INT64_C(1379808480120)},
        {"2013-09-22T00:08:00.123456789Z", INT64_C(1379808480123)},
        {"2013-09-22", INT64_C(1379808000000)},
        {"2013-09", INT64_C(1377993600000)},
        {"2013", INT64_C(1356998400000)},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"1900-01-01T00:00:00Z", INT64_C(-2208988800000)},
        {"2200-12-31T23:59:59Z", INT64_C(7289654399000)},
        {"2024-02-29T12:00:00Z", INT64_C(1709208000000)},
        {"2000-02-29", INT64_C(951782400000)},
        {"2013-09-22T00:08:00+14:00", INT64_C(1379758080000)},
        {"2016-12-31T23:59:60Z", INT64_C(1483228800000)},
    };
    size_t i;
    int64_t ms;

    (void)state;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        ms = 12345;
        if (aod_time_parse(good[i].s, &ms) != 0)
            fail_msg("refused \"%s\"", good[i].s);
        if (ms != good[i].ms)
            fail_msg("\"%s\": got %lld, want %lld", good[i].s, (long long)ms,
                     (long long)good[i].ms);
    }
}

static void test_time_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "yesterday",
        "2013-13-01",
        "2013-00-10",
        "2013-09-32",
        "2013-09-00",
        "2013-04-31",
        "2013-02-29",
        "1900-02-29",
        "2100-02-29",
        "2013-09-22T24:00:00Z",
        "2013-09-22T00:60:00Z",
        "2013-09-22T00:08:61Z",
        "2013-09-22T00:08:00Zjunk",
        "2013-09-22T00:08:00Z ",
        " 2013-09-22",
        "2013-09-22 00:08:00Z",
        "2013-09-22T00:08:00z",
        "2013-09-22t00:08:00Z",
        "2013-09-22T00:08:00+15:00",
        "2013-09-22T00:08:00+14:30",
        "2013-09-22T00:08:00+02",
        "2013-09-22T00:08:00+0200",
        "2013-09-22T00:08:00+02:60",
        "2013-09-22T00:08:00.Z",
        "2013-09-22T00:08:00.",
        "2013-09-22T",
        "2013-09-22T00",
        "2013-09-22T0:08:00Z",
        "2013-9-22",
        "13-09-22",
        "0000-01-01",
        "+2013-09-22",
        "20130922",
        "2013-09-22\n",
        "2013-",
        "2013-09-",
        "２０１３",
    };
    size_t i;
    int64_t ms = 777;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (aod_time_parse(bad[i], &ms) != -1)
            fail_msg("accepted \"%s\" as %lld", bad[i], (long long)ms);
    assert_int_equal(aod_time_parse(NULL, &ms), -1);
    assert_int_equal(ms, 777);
}

static void test_time_format(void **state)
{
    char out[64], tiny[8];
    int64_t ms, back;
    int64_t lo = INT64_C(-2208988800000), hi = INT64_C(7289654399999);
    uint64_t x = 88172645463325252u;
    int i;

    (void)state;
    assert_string_equal(aod_time_format_utc(0, out, sizeof out), "1970-01-01T00:00:00Z");
    assert_string_equal(aod_time_format_utc(123, out, sizeof out), "1970-01-01T00:00:00.123Z");
    assert_string_equal(aod_time_format_utc(-1, out, sizeof out), "1969-12-31T23:59:59.999Z");
    assert_string_equal(aod_time_format_utc(INT64_C(1379808480000), out, sizeof out),
                        "2013-09-22T00:08:00Z");
    assert_string_equal(aod_time_format_utc(INT64_C(951782400000), out, sizeof out),
                        "2000-02-29T00:00:00Z");
    assert_string_equal(aod_time_format_utc(lo, out, sizeof out), "1900-01-01T00:00:00Z");
    assert_string_equal(aod_time_format_utc(hi, out, sizeof out), "2200-12-31T23:59:59.999Z");
    /* Truncated, but terminated and in bounds. */
    assert_ptr_equal(aod_time_format_utc(0, tiny, sizeof tiny), tiny);
    assert_string_equal(tiny, "1970-01");
    aod_time_format_utc(INT64_MIN, out, sizeof out);
    aod_time_format_utc(INT64_MAX, out, sizeof out);

    /* Format then parse is the identity over 1900-2200 (xorshift samples,
     * plus every day boundary of a leap-year February). */
    for (i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ms = lo + (int64_t)(x % (uint64_t)(hi - lo));
        aod_time_format_utc(ms, out, sizeof out);
        if (aod_time_parse(out, &back) != 0 || back != ms)
            fail_msg("%lld -> %s -> %lld", (long long)ms, out, (long long)back);
    }
    for (i = 0; i < 3; i++) {
        ms = INT64_C(951696000000) + (int64_t)i * 86400000;
        aod_time_format_utc(ms, out, sizeof out);
        assert_int_equal(aod_time_parse(out, &back), 0);
        assert_int_equal(back, ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_zeroed_aligned),
        cmocka_unit_test(test_clear_reuses_pages),
        cmocka_unit_test(test_clear_resets_fields),
        cmocka_unit_test(test_strdup),
        cmocka_unit_test(test_codings_grow),
        cmocka_unit_test(test_codings_foreign_and_copied_lists),
        cmocka_unit_test(test_codings_find),
        cmocka_unit_test(test_patient_keys),
        cmocka_unit_test(test_version_name),
        cmocka_unit_test(test_time_parse_good),
        cmocka_unit_test(test_time_parse_bad),
        cmocka_unit_test(test_time_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

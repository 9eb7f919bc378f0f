/*
 * test_explain.c - the explain view's renderer: the exact bytes of the
 * header and of the rows (a record in the report, merged, left out with
 * its reason, a cell that must be neutralised), the options (BOM, ';'),
 * and a write error reported at end().
 *
 * The golden cases (tests/data/cases/<case>/expected-explain.csv) check
 * the view end to end; this pins the renderer on its own.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timefmt.h"
#include "model/entry.h"
#include "render/csv.h"
#include "render/explain.h"
#include "testutil.h"

/* 2025-03-04T10:15:30Z in milliseconds. */
#define T_0315 INT64_C(1741083330000)

#define HEADER                                                                                     \
    "record_id,fhir_id,recorded,class,exclusion,rule,reason,dedup_group,group_records,"            \
    "report_line,fate,shown_as,mask_tier,ref,reason_basis,resource,access_flags,"                  \
    "access_flag_evidence,access_flag_words\r\n"

static int setup(void **state)
{
    aod_error err;

    (void)state;
    aod_error_init(&err);
    return aod_timefmt_set_zone("UTC", &err);
}

static aod_trace trace_in_report(void)
{
    aod_trace t;

    memset(&t, 0, sizeof t);
    t.record_id = 7;
    t.recorded = T_0315;
    t.fhir_id = "ev-7";
    t.cls = AOD_CLASS_DISCLOSURE;
    t.exclusion = AOD_EXCL_NONE;
    t.rule = "legal";
    t.reason = "legal, oversight or law enforcement";
    t.group = 3;
    t.group_records = 1;
    t.line = 2;
    t.shown = "Dr. Alex Sample";
    t.tier = AOD_TIER_FULL_NAME;
    return t;
}

/* Runs the sink over n traces; returns what it wrote (free it). */
static char *render(const aod_csv_options *opts, const aod_trace *t, size_t n)
{
    FILE *f = tmpfile();
    aod_error err;
    aod_trace_sink *s;
    char *out;
    size_t i;

    assert_non_null(f);
    aod_error_init(&err);
    s = aod_explain_sink_new(f, opts, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &err), 0);
    for (i = 0; i < n; i++)
        assert_int_equal(s->trace(s, &t[i], &err), 0);
    assert_int_equal(s->end(s, &err), 0);
    s->free(s);
    out = tu_slurp(f, NULL);
    fclose(f);
    return out;
}

static void test_header_only(void **state)
{
    char *out;

    (void)state;
    out = render(NULL, NULL, 0);
    assert_string_equal(out, HEADER);
    free(out);
}

static void test_rows(void **state)
{
    aod_trace t[3];
    char *out;

    (void)state;
    t[0] = trace_in_report();
    t[1] = trace_in_report();
    t[1].record_id = 8;
    t[1].fhir_id = "=cmd";
    t[1].group_records = 2;
    t[1].shown = "Smith, Jones";
    t[1].tier = AOD_TIER_GENERIC;
    /* the line's reference and the basis of its reason, and (explain
     * --ref) the stored event itself */
    t[1].ref = "K7Q2M-9XD4P";
    t[1].basis = AOD_REASON_ENCOUNTER;
    t[1].basis_evidence = "Encounter/77";
    t[1].resource = "{\"id\":\"x\"}";
    t[1].access_flags = (1u << AOD_AFLAG_VIP) | (1u << AOD_AFLAG_AFTER_HOURS);
    t[1].access_evidence = "vip: the record is VIP; after-hours: Saturday 23:10";
    t[1].access_words = "The record is marked VIP. After hours.";
    memset(&t[2], 0, sizeof t[2]);
    t[2].record_id = 9;
    t[2].recorded = T_0315;
    t[2].cls = AOD_CLASS_EXCLUDED;
    t[2].exclusion = AOD_EXCL_I;
    t[2].rule = "tpo";
    t[2].group = 4;
    t[2].group_records = 1;
    t[2].fate = "excluded from the accounting";
    t[2].tier = -1;
    out = render(NULL, t, 3);
    assert_string_equal(out,
                        HEADER "7,ev-7,2025-03-04T10:15:30+00:00,disclosure,,legal,"
                               "\"legal, oversight or law enforcement\",3,1,2,"
                               "in the report,Dr. Alex Sample,full-name,,none,,,,\r\n"
                               "8,'=cmd,2025-03-04T10:15:30+00:00,disclosure,,legal,"
                               "\"legal, oversight or law enforcement\",3,2,2,"
                               "\"in the report, merged\",\"Smith, Jones\",generic,"
                               "K7Q2M-9XD4P,encounter: Encounter/77,\"{\"\"id\"\":\"\"x\"\"}\","
                               "vip;after-hours,vip: the record is VIP; after-hours: "
                               "Saturday 23:10,The record is marked VIP. After hours.\r\n"
                               "9,,2025-03-04T10:15:30+00:00,excluded,i,tpo,,4,1,,"
                               "excluded from the accounting,,,,,,,,\r\n");
    free(out);
}

static void test_options(void **state)
{
    aod_csv_options opts = {1, ';'};
    aod_trace t = trace_in_report();
    char *out;

    (void)state;
    t.group = 0;
    t.line = 0;
    t.fate = NULL;
    t.shown = NULL;
    t.tier = -1;
    out = render(&opts, &t, 1);
    assert_string_equal(out, "\xEF\xBB\xBF"
                             "record_id;fhir_id;recorded;class;exclusion;rule;reason;dedup_group;"
                             "group_records;report_line;fate;shown_as;mask_tier;ref;reason_basis;"
                             "resource;access_flags;access_flag_evidence;access_flag_words\r\n"
                             "7;ev-7;2025-03-04T10:15:30+00:00;disclosure;;legal;"
                             "legal, oversight or law enforcement;;;;not shown;;;;;;;;\r\n");
    free(out);
}

static void test_write_error(void **state)
{
    FILE *f = fopen("/dev/null", "r"); /* not open for writing */
    aod_trace t = trace_in_report();
    aod_trace_sink *s;
    aod_error err;

    (void)state;
    assert_non_null(f);
    aod_error_init(&err);
    s = aod_explain_sink_new(f, NULL, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &err), 0);
    assert_int_equal(s->trace(s, &t, &err), 0);
    assert_int_equal(s->end(s, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
    s->free(s);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_only),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_write_error),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}

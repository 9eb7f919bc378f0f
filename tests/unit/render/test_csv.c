/*
 * test_csv.c - the CSV renderer: exact bytes of cells (quoting, formula
 * neutralisation), of the header and rows for each audience, the options,
 * and the failures (unmasked entries, a bad delimiter, a full disk).
 *
 * Output goes to tmpfile() and is compared byte for byte: a CSV that a
 * spreadsheet reads differently is a different CSV.
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

#include "pipeline/mask.h"
#include "model/policy.h"
#include "render/csv.h"
#include "model/text.h"
#include "model/entry.h"
#include "base/strpool.h"
#include "base/timefmt.h"
#include "testutil.h"

/* 2025-03-04T10:15:30Z and friends, in milliseconds. */
#define T_0315 INT64_C(1741083330000)
#define T_0320 INT64_C(1741083600000)
#define T_0102 INT64_C(1735812000000)
#define T_0630 INT64_C(1751327999000)

#define PATIENT_HEADER                                                                             \
    "when,when_end,who,role,organisation,recipient_address,action,action_code,data,"               \
    "data_kinds,where,why,purpose_code,outcome,count,first_date,last_date,section,ref"
#define PRIVACY_HEADER PATIENT_HEADER ",class,exclusion,rule,flags,group,record_ids,access_flags"

/* ---------------------------------------------------------------- helpers */

/* The mask stage as the CSV sink's aod_entry_mask_fn. */
static int mask_entry(void *mask, aod_entry *e, aod_error *err)
{
    return aod_mask_apply(mask, e, err);
}

static char *cell_bytes(const char *value, char delimiter, int last)
{
    FILE *f = tmpfile();
    char *s;

    assert_non_null(f);
    assert_int_equal(aod_csv_write_cell(f, value, delimiter, last), 0);
    s = tu_slurp(f, NULL);
    fclose(f);
    return s;
}

static aod_text *english(void)
{
    char dir[1024];
    aod_error err;
    aod_text *t;

    aod_error_init(&err);
    t = aod_text_load(tu_src_path(dir, sizeof dir, "templates"), "en", &err);
    assert_non_null(t);
    return t;
}

static aod_report_info info_for(aod_audience a)
{
    aod_report_info info;

    memset(&info, 0, sizeof info);
    info.mode = AOD_MODE_ACCESS;
    info.audience = a;
    info.lang = "en";
    return info;
}

/* An internal read, masked already. */
static aod_entry read_entry(void)
{
    aod_entry e;

    memset(&e, 0, sizeof e);
    e.when_start = e.when_end = e.first = e.last = T_0315;
    e.count = 1;
    e.raw_count = 2;
    e.cls = AOD_CLASS_INTERNAL;
    e.action = 'R';
    e.outcome = "0";
    e.subtype_code = "read";
    e.data_kinds = "Observation";
    e.where = "EHR East";
    e.purpose_code = "TREAT";
    e.purpose_display = "treatment";
    e.reason = AOD_REASON_PURPOSE;
    e.ref = "K7Q2M-9XD4P";
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.who.name = "Dr. Alice Smith";
    e.shown_name = "Physician, Cardiology";
    e.shown_organisation = "Example Hospital";
    e.tier = AOD_TIER_ROLE_UNIT;
    e.rule_id = "other-internal";
    e.group = 1;
    return e;
}

/* A summarised disclosure to an outside registry. */
static aod_entry summary_entry(void)
{
    static const int64_t ids[] = {101, 102, 250};
    aod_entry e;

    memset(&e, 0, sizeof e);
    e.when_start = e.first = T_0102;
    e.when_end = e.last = T_0630;
    e.count = 3;
    e.raw_count = 3;
    e.cls = AOD_CLASS_DISCLOSURE;
    e.flags = AOD_ENTRY_SUMMARY | AOD_ENTRY_PURPOSE_UNKNOWN;
    e.action = 'E';
    e.outcome = "0";
    e.subtype_code = "disclose";
    e.data_kinds = "DocumentReference, Composition,Observation";
    e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
    e.shown_name = "State Registry, \"Central\"";
    e.shown_address = "1 Main St\nCapital City";
    e.tier = AOD_TIER_FULL_NAME;
    e.rule_id = "no-purpose-export";
    /* no purpose, but the event names the order it was done for */
    e.reason = AOD_REASON_ORDER;
    e.reason_evidence = "ServiceRequest/5";
    e.ref = "0ABCD-EFGH1";
    e.group = 7;
    e.record_ids = ids;
    e.n_record_ids = 3;
    return e;
}

/* Renders entries through a new sink; returns the bytes (free them). */
static char *render(const aod_csv_options *opts, aod_audience a, const aod_entry *entries, size_t n)
{
    aod_report_info info = info_for(a);
    aod_report_summary sum;
    aod_text *t = english();
    aod_error err;
    aod_sink *s;
    FILE *f = tmpfile();
    size_t i;
    char *out;

    assert_non_null(f);
    memset(&sum, 0, sizeof sum);
    aod_error_init(&err);
    s = aod_csv_sink_new(f, opts, t, NULL, NULL, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    for (i = 0; i < n; i++)
        assert_int_equal(s->entry(s, &entries[i], &err), 0);
    assert_int_equal(s->end(s, &sum, &err), 0);
    s->free(s);
    out = tu_slurp(f, NULL);
    fclose(f);
    aod_text_free(t);
    return out;
}

static int setup_zone(void **state)
{
    aod_error err;

    (void)state;
    aod_error_init(&err);
    return aod_timefmt_set_zone("America/New_York", &err);
}

/* ------------------------------------------------------------------ cells */

static void test_cells(void **state)
{
    static const struct {
        const char *value;
        char delimiter;
        int last;
        const char *bytes;
    } cases[] = {
        {"plain", ',', 0, "plain,"},
        {NULL, ',', 0, ","},
        {"", ',', 1, "\r\n"},
        {"end", ';', 1, "end\r\n"},
        /* formulas become text */
        {"=1+1", ',', 0, "'=1+1,"},
        {"+1", ',', 0, "'+1,"},
        {"-1", ',', 0, "'-1,"},
        {"@SUM(A1:A2)", ',', 0, "'@SUM(A1:A2),"},
        {"\tTAB", ',', 0, "'\tTAB,"},
        {"\tTAB", '\t', 0, "\"'\tTAB\"\t"},
        {"\rCR", ',', 0, "\"'\rCR\","},
        {"=HYPERLINK(\"http://x.example\",\"go\")", ',', 1,
         "\"'=HYPERLINK(\"\"http://x.example\"\",\"\"go\"\")\"\r\n"},
        {"-2+3;x", ';', 0, "\"'-2+3;x\";"},
        /* only the first character counts */
        {" =1+1", ',', 0, " =1+1,"},
        {"a=1", ',', 0, "a=1,"},
        {"'=1", ',', 0, "'=1,"},
        /* RFC 4180 quoting */
        {"a,b", ',', 0, "\"a,b\","},
        {"a,b", ';', 0, "a,b;"},
        {"a;b", ';', 0, "\"a;b\";"},
        {"a\tb", '\t', 1, "\"a\tb\"\r\n"},
        {"say \"hi\"", ',', 0, "\"say \"\"hi\"\"\","},
        {"\"", ',', 0, "\"\"\"\","},
        {"two\nlines", ',', 0, "\"two\nlines\","},
        {"two\r\nlines", ',', 0, "\"two\r\nlines\","},
        /* data is not mangled for spreadsheets' guesses */
        {"00123", ',', 0, "00123,"},
        {"TRUE", ',', 0, "TRUE,"},
        {"1/2", ',', 0, "1/2,"},
        {"1e5", ',', 0, "1e5,"},
        {"\xCE\xA9\xCE\xBC\xCE\xAD\xCE\xB3\xCE\xB1 \xD0\x9A\xD0\xB8\xD1\x80 caf\xC3\xA9", ',', 0,
         "\xCE\xA9\xCE\xBC\xCE\xAD\xCE\xB3\xCE\xB1 \xD0\x9A\xD0\xB8\xD1\x80 caf\xC3\xA9,"},
        /* no delimiter given: a comma */
        {"x,y", '\0', 0, "\"x,y\","},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = cell_bytes(cases[i].value, cases[i].delimiter, cases[i].last);
        if (strcmp(got, cases[i].bytes) != 0)
            fail_msg("case %zu: got [%s] want [%s]", i, got, cases[i].bytes);
        free(got);
    }
}

static void test_cell_write_error(void **state)
{
    FILE *f = fopen("/dev/null", "r"); /* not open for writing */

    (void)state;
    assert_non_null(f);
    assert_int_equal(aod_csv_write_cell(f, "x", ',', 1), -1);
    fclose(f);
}

/* ------------------------------------------------------------------- rows */

static void test_patient_rows(void **state)
{
    aod_entry e[2];
    char *out;

    (void)state;
    e[0] = read_entry();
    e[1] = summary_entry();
    out = render(NULL, AOD_AUDIENCE_PATIENT, e, 2);
    assert_string_equal(
        out, PATIENT_HEADER
        "\r\n"
        "2025-03-04T05:15:30-05:00,,\"Physician, Cardiology\",,Example Hospital,,viewed,R,"
        "test results and observations,Observation,EHR East,treatment,TREAT,completed,1,"
        "2025-03-04T05:15:30-05:00,2025-03-04T05:15:30-05:00,person,K7Q2M-9XD4P\r\n"
        "2025-01-02T05:00:00-05:00,2025-06-30T19:59:59-04:00,\"State Registry, \"\"Central\"\"\",,,"
        "\"1 Main St\nCapital City\",shared outside our organization,E,"
        "clinical documents; test results and observations,"
        "DocumentReference Composition Observation,,no reason was recorded; the access record "
        "names the order or care plan ServiceRequest/5,,completed,3,"
        "2025-01-02T05:00:00-05:00,2025-06-30T19:59:59-04:00,organisation,0ABCD-EFGH1\r\n");
    free(out);
}

static void test_privacy_rows(void **state)
{
    aod_entry e[2];
    char *out;

    (void)state;
    e[0] = read_entry();
    e[1] = summary_entry();
    e[1].cls = AOD_CLASS_EXCLUDED;
    e[1].exclusion = AOD_EXCL_IV;
    /* the access flags: ids ';'-separated, in the fixed order */
    e[1].access_flags =
        (1u << AOD_AFLAG_EMERGENCY) | (1u << AOD_AFLAG_SAME_SURNAME) | (1u << AOD_AFLAG_FAMILY);
    e[1].access_evidence = "evidence is not a CSV cell";
    out = render(NULL, AOD_AUDIENCE_PRIVACY_OFFICE, e, 2);
    assert_string_equal(
        out, PRIVACY_HEADER
        "\r\n"
        "2025-03-04T05:15:30-05:00,,\"Physician, Cardiology\",,Example Hospital,,viewed,R,"
        "test results and observations,Observation,EHR East,treatment,TREAT,completed,1,"
        "2025-03-04T05:15:30-05:00,2025-03-04T05:15:30-05:00,person,K7Q2M-9XD4P,"
        "internal,,other-internal,,1,,\r\n"
        "2025-01-02T05:00:00-05:00,2025-06-30T19:59:59-04:00,\"State Registry, \"\"Central\"\"\",,,"
        "\"1 Main St\nCapital City\",shared outside our organization,E,"
        "clinical documents; test results and observations,"
        "DocumentReference Composition Observation,,no reason was recorded; the access record "
        "names the order or care plan ServiceRequest/5,,completed,3,"
        "2025-01-02T05:00:00-05:00,2025-06-30T19:59:59-04:00,organisation,0ABCD-EFGH1,"
        "excluded,iv,no-purpose-export,summary purpose-unknown,7,101 102 250,"
        "same-surname;family;emergency\r\n");
    free(out);
    /* never in the patient's copy, even on an entry that carries them */
    out = render(NULL, AOD_AUDIENCE_PATIENT, e, 2);
    assert_null(strstr(out, "same-surname"));
    assert_null(strstr(out, "access_flags"));
    free(out);
}

/* What each column falls back to when the entry lacks it. */
static void test_column_fallbacks(void **state)
{
    aod_entry e[3];
    char *out;

    (void)state;
    /* words for the data come only from the kinds; a described entry keeps
     * its description; an unknown subtype leaves the action's words; an
     * unknown purpose shows the recorded display; a purpose or a kind of
     * data with no words at all is never printed raw to the patient: a
     * plain phrase (the code column keeps the code) */
    e[0] = read_entry();
    e[0].data = "Lab report 7 (=formula-looking? no: starts with L)";
    e[0].subtype_code = "Disclosure";
    e[0].purpose_code = "LOCALPOU";
    e[0].purpose_display = "Local purpose";
    e[0].outcome = NULL;
    e[1] = read_entry();
    e[1].action = 0;
    e[1].subtype_code = NULL;
    e[1].purpose_code = "LOCALPOU";
    e[1].purpose_display = NULL;
    e[1].data_kinds = "Unknownish";
    e[1].outcome = "8";
    e[1].when_end = T_0320;
    e[2] = read_entry();
    e[2].purpose_code = NULL;
    e[2].purpose_display = NULL;
    e[2].reason = AOD_REASON_NONE;
    e[2].data_kinds = NULL;
    e[2].where = "-cmd|' /C calc'!A0";
    e[2].shown_role = "@admin";
    out = render(NULL, AOD_AUDIENCE_PATIENT, e, 3);
    assert_string_equal(
        out, PATIENT_HEADER
        "\r\n"
        "2025-03-04T05:15:30-05:00,,\"Physician, Cardiology\",,Example Hospital,,viewed,R,"
        "Lab report 7 (=formula-looking? no: starts with L),Observation,EHR East,"
        "Local purpose,LOCALPOU,,1,2025-03-04T05:15:30-05:00,2025-03-04T05:15:30-05:00,"
        "person,K7Q2M-9XD4P\r\n"
        "2025-03-04T05:15:30-05:00,2025-03-04T05:20:00-05:00,\"Physician, Cardiology\",,"
        "Example Hospital,,,,other information in your record,Unknownish,EHR East,"
        "a reason recorded only as a code (ask us what it means),LOCALPOU,failed,1,"
        "2025-03-04T05:15:30-05:00,2025-03-04T05:15:30-05:00,person,K7Q2M-9XD4P\r\n"
        "2025-03-04T05:15:30-05:00,,\"Physician, Cardiology\",'@admin,Example Hospital,,viewed,"
        "R,,,'-cmd|' /C calc'!A0,no reason was recorded,,completed,1,2025-03-04T05:15:30-05:00,"
        "2025-03-04T05:15:30-05:00,person,K7Q2M-9XD4P\r\n");
    free(out);
}

static void test_options(void **state)
{
    aod_csv_options semicolon = {1, ';'}, tab = {0, '\t'};
    aod_entry e = read_entry();
    char *out;

    (void)state;
    e.shown_name = "Nurse; Ward 3";
    e.where = "=cmd";
    out = render(&semicolon, AOD_AUDIENCE_PATIENT, &e, 1);
    assert_string_equal(
        out, "\xEF\xBB\xBF"
             "when;when_end;who;role;organisation;recipient_address;action;action_code;data;"
             "data_kinds;where;why;purpose_code;outcome;count;first_date;last_date;section;ref\r\n"
             "2025-03-04T05:15:30-05:00;;\"Nurse; Ward 3\";;Example Hospital;;viewed;R;"
             "test results and observations;Observation;'=cmd;treatment;TREAT;completed;1;"
             "2025-03-04T05:15:30-05:00;2025-03-04T05:15:30-05:00;person;K7Q2M-9XD4P\r\n");
    free(out);

    e.shown_name = "Nurse\tWard 3";
    out = render(&tab, AOD_AUDIENCE_PATIENT, &e, 1);
    assert_string_equal(
        out,
        "when\twhen_end\twho\trole\torganisation\trecipient_address\taction\taction_code\tdata\t"
        "data_kinds\twhere\twhy\tpurpose_code\toutcome\tcount\tfirst_date\tlast_"
        "date\tsection\tref\r\n"
        "2025-03-04T05:15:30-05:00\t\t\"Nurse\tWard 3\"\t\tExample Hospital\t\tviewed\tR\t"
        "test results and observations\tObservation\t'=cmd\ttreatment\tTREAT\tcompleted\t1\t"
        "2025-03-04T05:15:30-05:00\t2025-03-04T05:15:30-05:00\tperson\tK7Q2M-9XD4P\r\n");
    free(out);

    /* no lines: the header alone, and nothing after the last line */
    out = render(NULL, AOD_AUDIENCE_PRIVACY_OFFICE, NULL, 0);
    assert_string_equal(out, PRIVACY_HEADER "\r\n");
    free(out);
}

/* Rows are written as entries arrive, not kept for end(). */
static void test_streaming(void **state)
{
    aod_report_info info = info_for(AOD_AUDIENCE_PATIENT);
    aod_entry e = read_entry();
    aod_text *t = english();
    aod_error err;
    aod_sink *s;
    FILE *f = tmpfile();
    size_t len1, len2;
    char *out;

    (void)state;
    aod_error_init(&err);
    s = aod_csv_sink_new(f, NULL, t, NULL, NULL, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->entry(s, &e, &err), 0);
    out = tu_slurp(f, &len1);
    free(out);
    assert_int_equal(s->entry(s, &e, &err), 0);
    out = tu_slurp(f, &len2);
    assert_true(len1 > strlen(PATIENT_HEADER "\r\n"));
    assert_int_equal(len2 - len1, len1 - strlen(PATIENT_HEADER "\r\n"));
    free(out);
    assert_int_equal(s->end(s, NULL, &err), 0);
    s->free(s);
    fclose(f);
    aod_text_free(t);
}

/* ------------------------------------------------------------ masking */

static void test_unmasked_entries(void **state)
{
    aod_report_info info = info_for(AOD_AUDIENCE_PATIENT);
    aod_entry e = read_entry();
    aod_text *t = english();
    aod_strpool *pool = aod_strpool_new();
    aod_policy policy;
    aod_error err;
    aod_mask *m;
    aod_sink *s;
    FILE *f = tmpfile();
    char *out;
    int c;

    (void)state;
    e.shown_name = NULL;
    e.shown_organisation = NULL;
    e.who.role = "Physician";

    /* without a mask the sink refuses rather than print a raw name */
    aod_error_init(&err);
    s = aod_csv_sink_new(f, NULL, t, NULL, NULL, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->entry(s, &e, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    s->free(s);
    out = tu_slurp(f, NULL);
    assert_string_equal(out, PATIENT_HEADER "\r\n");
    free(out);
    fclose(f);

    /* with one, it masks a copy */
    memset(&policy, 0, sizeof policy);
    policy.source = "test";
    policy.organisation.name = "Example Hospital";
    for (c = 0; c < AOD_ACTOR_CLASS_COUNT; c++) {
        policy.masking.tiers[AOD_AUDIENCE_PATIENT][c].tier = AOD_TIER_GENERIC;
        policy.masking.tiers[AOD_AUDIENCE_PATIENT][c].label = "actor.workforce";
    }
    aod_error_init(&err);
    m = aod_mask_new(&policy, AOD_AUDIENCE_PATIENT, AOD_MODE_ACCESS, t, pool, &err);
    assert_non_null(m);
    f = tmpfile();
    assert_non_null(f);
    s = aod_csv_sink_new(f, NULL, t, mask_entry, m, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->entry(s, &e, &err), 0);
    assert_int_equal(s->end(s, NULL, &err), 0);
    assert_null(e.shown_name); /* the caller's entry is left alone */
    s->free(s);
    out = tu_slurp(f, NULL);
    assert_string_equal(out, PATIENT_HEADER
                        "\r\n"
                        "2025-03-04T05:15:30-05:00,,a staff member,,,,viewed,R,"
                        "test results and observations,Observation,EHR East,treatment,"
                        "TREAT,completed,1,2025-03-04T05:15:30-05:00,"
                        "2025-03-04T05:15:30-05:00,person,K7Q2M-9XD4P\r\n");
    free(out);
    fclose(f);
    aod_mask_free(m);
    aod_strpool_free(pool);
    aod_text_free(t);
}

/* ------------------------------------------------------------- failures */

static void test_bad_use(void **state)
{
    aod_csv_options pipe = {0, '|'};
    aod_report_info info = info_for(AOD_AUDIENCE_PATIENT);
    aod_entry e = read_entry();
    aod_text *t = english();
    aod_error err;
    aod_sink *s;
    FILE *f = tmpfile();

    (void)state;
    aod_error_init(&err);
    assert_null(aod_csv_sink_new(f, &pipe, t, NULL, NULL, &err));
    assert_int_equal(err.code, AOD_ERR_USAGE);
    assert_string_equal(err.field, "delimiter");
    aod_error_init(&err);
    assert_null(aod_csv_sink_new(f, NULL, NULL, NULL, NULL, &err));
    assert_int_equal(err.code, AOD_ERR_INTERNAL);

    aod_error_init(&err);
    s = aod_csv_sink_new(f, NULL, t, NULL, NULL, &err);
    assert_non_null(s);
    assert_int_equal(s->entry(s, &e, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    aod_error_init(&err);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->begin(s, &info, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    s->free(s);
    fclose(f);
    aod_text_free(t);
}

/* A full disk shows at the latest in end(): the report must not pass. */
static void test_disk_full(void **state)
{
    aod_report_info info = info_for(AOD_AUDIENCE_PATIENT);
    aod_entry e = read_entry();
    aod_text *t = english();
    aod_error err;
    aod_sink *s;
    FILE *f = fopen("/dev/full", "w");

    (void)state;
    if (!f) {
        aod_text_free(t);
        skip();
    }
    aod_error_init(&err);
    s = aod_csv_sink_new(f, NULL, t, NULL, NULL, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->entry(s, &e, &err), 0); /* still in stdio's buffer */
    assert_int_equal(s->end(s, NULL, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
    assert_non_null(strstr(err.text, "writing the CSV failed"));
    s->free(s);
    fclose(f);
    aod_text_free(t);
}

/* The summary CSV (--format csv-summary): the header at begin, entries
 * ignored, one row per summary line at end, a system's action in words. */
static void test_summary_sink(void **state)
{
    aod_report_info info = info_for(AOD_AUDIENCE_PATIENT);
    aod_report_summary sum;
    aod_overview ov;
    aod_overview_line l[2];
    aod_entry e = read_entry();
    aod_text *t = english();
    aod_error err;
    aod_sink *s;
    FILE *f = tmpfile();
    char *out;

    (void)state;
    assert_non_null(f);
    memset(l, 0, sizeof l);
    l[0].section = AOD_SECTION_PERSON;
    l[0].name = "Nurse, Cardiology";
    l[0].organisation = "Example Hospital";
    l[0].first = T_0102;
    l[0].last = T_0315;
    l[0].count = 4;
    l[0].records = 6;
    l[0].people = 2;
    l[0].kinds[0] = "Observation";
    l[0].kinds[1] = "Condition";
    l[0].n_kinds = 2;
    l[0].reason_code[0] = "TREAT";
    l[0].n_reasons = 1;
    l[0].no_reason = 1;
    l[1].section = AOD_SECTION_SYSTEM;
    l[1].name = "Lab interface";
    l[1].action = 'R';
    l[1].first = l[1].last = T_0320;
    l[1].count = 14;
    l[1].records = 14;
    l[1].people = 1;
    memset(&ov, 0, sizeof ov);
    ov.lines = l;
    ov.n_lines = 2;
    memset(&sum, 0, sizeof sum);
    sum.overview = &ov;
    aod_error_init(&err);
    s = aod_csv_summary_sink_new(f, NULL, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &info, &err), 0);
    assert_int_equal(s->entry(s, &e, &err), 0);
    assert_int_equal(s->end(s, &sum, &err), 0);
    s->free(s);
    out = tu_slurp(f, NULL);
    assert_string_equal(out,
                        "section,who,role,organisation,action,action_code,first_date,last_date,"
                        "count,records,people,data,data_kinds,why,purpose_codes,no_reason_count\r\n"
                        "person,\"Nurse, Cardiology\",,Example Hospital,,,"
                        "2025-01-02T05:00:00-05:00,2025-03-04T05:15:30-05:00,4,6,2,"
                        "test results and observations; diagnoses and health problems,"
                        "Observation Condition,treatment,TREAT,1\r\n"
                        "system,Lab interface,,,viewed,R,2025-03-04T05:20:00-05:00,"
                        "2025-03-04T05:20:00-05:00,14,14,1,,,,,0\r\n");
    free(out);
    fclose(f);
    aod_text_free(t);
}

/* The listing's section column: person, organisation, system. */
static void test_section_column(void **state)
{
    aod_entry e[2];
    char *out;

    (void)state;
    e[0] = read_entry();
    e[0].who.cls = AOD_ACTOR_SYSTEM_DEVICE;
    e[1] = read_entry();
    e[1].who.cls = AOD_ACTOR_PATIENT_OR_REPRESENTATIVE;
    out = render(NULL, AOD_AUDIENCE_PATIENT, e, 2);
    assert_non_null(strstr(out, "-05:00,system,K7Q2M-9XD4P\r\n"));
    assert_non_null(strstr(out, "-05:00,person,K7Q2M-9XD4P\r\n"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_cell_write_error),
        cmocka_unit_test(test_patient_rows),
        cmocka_unit_test(test_privacy_rows),
        cmocka_unit_test(test_column_fallbacks),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_unmasked_entries),
        cmocka_unit_test(test_bad_use),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_summary_sink),
        cmocka_unit_test(test_section_column),
    };

    return cmocka_run_group_tests(tests, setup_zone, NULL);
}

/*
 * test_html.c - the HTML renderer, judged by the document it writes: the
 * structure an assistive technology relies on (lang, dir, headings, table
 * caption and header scope), escaping of hostile strings, the privacy
 * office's copy against the patient's, the section of unsuccessful
 * attempts, determinism, and refusals.  The accessibility check proper
 * (axe-core in Chromium) runs in tests/integration/test_html.sh.
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
#include "model/policy.h"
#include "model/text.h"
#include "render/html.h"

#define T_FROM INT64_C(1704067200000) /* 2024-01-01T00:00:00Z */
#define T_TO   INT64_C(1735689600000) /* 2025-01-01, exclusive */
#define T_NOW  INT64_C(1736942400000) /* 2025-01-15T12:00:00Z */
#define DAY    INT64_C(86400000)

static const char *org_address[] = {"1200 Harbor Boulevard", "Springfield, IL 62701"};
static const char *const patient_keys[] = {"Patient/8841"};

static aod_policy test_policy(void)
{
    aod_policy p;

    memset(&p, 0, sizeof p);
    p.name = "test-policy";
    p.organisation.name = "Riverside <Community> & Hospital";
    p.organisation.address = org_address;
    p.organisation.n_address = 2;
    p.organisation.privacy_name = "Privacy Office";
    p.organisation.privacy_phone = "+1 217 555 0142";
    p.presentation.time_zone = "UTC";
    p.modes.access_failed = AOD_FAILED_SEPARATE;
    return p;
}

static aod_report_info test_info(const aod_policy *p, aod_mode mode, aod_audience audience,
                                 const char *lang)
{
    aod_report_info in;

    memset(&in, 0, sizeof in);
    in.mode = mode;
    in.audience = audience;
    in.lang = lang;
    in.patient_keys = patient_keys;
    in.n_patient_keys = 1;
    in.patient_name = "Zoë \"Z\" <Ångström>";
    in.from = T_FROM;
    in.to = T_TO;
    in.now = T_NOW;
    in.policy = p;
    return in;
}

static aod_entry line(int64_t when, const char *who)
{
    aod_entry e;

    memset(&e, 0, sizeof e);
    e.when_start = e.when_end = e.first = e.last = e.recorded = when;
    e.count = 1;
    e.raw_count = 1;
    e.cls = AOD_CLASS_DISCLOSURE;
    e.action = 'R';
    e.subtype_code = "disclose";
    e.shown_name = who;
    e.shown_role = "physician";
    e.data = "Lab results & notes 'x' \x01 \xff end";
    e.where = "Riverside EHR";
    e.purpose_code = "HPAYMT";
    return e;
}

static aod_text *load_text(const char *lang)
{
    aod_error err;
    aod_text *t;

    aod_error_init(&err);
    t = aod_text_load(NULL, lang, &err);
    if (!t)
        fail_msg("templates for %s: %s", lang, err.text);
    return t;
}

/* Renders entries [0, n) (failed ones too, when failed is set) and returns
 * the document (free it). */
static char *render(aod_mode mode, aod_audience audience, const char *lang, int failed)
{
    aod_policy p = test_policy();
    aod_report_info in = test_info(&p, mode, audience, lang);
    aod_report_summary sum;
    aod_text *t = load_text(lang);
    aod_error err;
    aod_sink *s;
    aod_entry e;
    FILE *f = tmpfile();
    char *buf;
    long size;

    assert_non_null(f);
    memset(&sum, 0, sizeof sum);
    sum.records_read = 3;
    sum.events = 3;
    sum.by_class[AOD_CLASS_DISCLOSURE] = 2;
    sum.suspended = 1;
    sum.lines_without_words = 1;
    sum.no_words[0].kind = "purpose";
    sum.no_words[0].code = "LOCALPOU";
    sum.no_words[0].count = 1;
    sum.n_no_words = 1;
    aod_error_init(&err);
    s = aod_html_sink_new(f, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &in, &err), 0);
    e = line(T_FROM + 10 * DAY, "<script>alert(1)</script>");
    e.purpose_code = "LOCALPOU"; /* no template, no display: no words */
    e.purpose_display = NULL;
    e.flags |= AOD_ENTRY_NO_WORDS;
    assert_int_equal(s->entry(s, &e, &err), 0);
    e = line(T_FROM + 20 * DAY, "Dr. Ana López");
    e.flags = AOD_ENTRY_SUSPENDED;
    e.where = "records.riverside-community-hospital.example.org/portal";
    assert_int_equal(s->entry(s, &e, &err), 0);
    if (failed) {
        e = line(T_FROM + 30 * DAY, "Intruder");
        e.cls = AOD_CLASS_FAILED;
        e.flags = AOD_ENTRY_FAILED;
        e.outcome = "4";
        assert_int_equal(s->entry(s, &e, &err), 0);
    }
    assert_int_equal(s->end(s, &sum, &err), 0);
    s->free(s);
    aod_text_free(t);
    size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += len;
    }
    return n;
}

static void has(const char *doc, const char *needle)
{
    if (!strstr(doc, needle))
        fail_msg("the HTML lacks \"%s\"", needle);
}

static void lacks(const char *doc, const char *needle)
{
    if (strstr(doc, needle))
        fail_msg("the HTML has \"%s\"", needle);
}

/* ------------------------------------------------------------------ tests */

static void rtl_languages(void **state)
{
    (void)state;
    assert_int_equal(aod_html_rtl("ar"), 1);
    assert_int_equal(aod_html_rtl("he-IL"), 1);
    assert_int_equal(aod_html_rtl("fa"), 1);
    assert_int_equal(aod_html_rtl("ur_PK"), 1);
    assert_int_equal(aod_html_rtl("en"), 0);
    assert_int_equal(aod_html_rtl("es"), 0);
    assert_int_equal(aod_html_rtl("arn"), 0); /* Mapudungun: Latin script */
    assert_int_equal(aod_html_rtl(""), 0);
    assert_int_equal(aod_html_rtl(NULL), 0);
}

static void structure(void **state)
{
    char *doc = render(AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 0);

    (void)state;
    assert_int_equal(strncmp(doc, "<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\">", 42), 0);
    has(doc, "<meta charset=\"utf-8\">");
    has(doc, "<title>Accounting of disclosures of your health information");
    assert_int_equal(count(doc, "<h1>"), 1);
    assert_true(count(doc, "<h2") >= 5);
    assert_int_equal(count(doc, "<table>"), 1);
    assert_int_equal(count(doc, "<caption>"), 1);
    assert_int_equal(count(doc, "<th scope=\"col\">"), 7);
    assert_int_equal(count(doc, "<tr><td>"), 2);
    has(doc, "<main>");
    has(doc, "</main>\n<footer>");
    has(doc, "The list follows this letter.");
    has(doc, "content:\"Page \" counter(page) \" of \" counter(pages) \"\"}");
    lacks(doc, "next page");
    lacks(doc, "<script");
    assert_true(strlen(doc) > 0 && doc[strlen(doc) - 1] == '\n');
    free(doc);
}

static void escaping(void **state)
{
    char *doc = render(AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 0);

    (void)state;
    has(doc, "<bdi>&lt;script&gt;alert(1)&lt;/<wbr>script&gt;</bdi>");
    has(doc, "Riverside &lt;Community&gt; &amp; Hospital");
    has(doc, "Zoë &quot;Z&quot; &lt;Ångström&gt;");
    /* In the print styles' running header: a CSS string, where a '<'
     * could end the <style> element and a quote the string. */
    has(doc, " \"Zoë \\\"Z\\\" \\3C Ångström>\"}");
    assert_int_equal(count(doc, "</style"), 1);
    /* A control character and a byte that is no UTF-8: U+FFFD each. */
    has(doc, "Lab results &amp; notes &#39;x&#39; \xEF\xBF\xBD \xEF\xBF\xBD end");
    lacks(doc, "\x01");
    lacks(doc, "<Community>");
    free(doc);
}

/* A long word breaks after its dots and slashes, never inside a name. */
static void long_words(void **state)
{
    char *doc = render(AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PRIVACY_OFFICE, "en", 0);

    (void)state;
    has(doc, "<td>records.<wbr>riverside-<wbr>community-<wbr>hospital.<wbr>example.<wbr>org/<wbr>"
             "portal</td>");
    has(doc, "<td>Riverside EHR</td>"); /* short words stay whole */
    free(doc);
}

static void privacy_copy(void **state)
{
    char *patient = render(AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en", 0);
    char *office = render(AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PRIVACY_OFFICE, "en", 0);

    (void)state;
    has(office, "class=\"banner\"");
    has(office, "For the privacy office");
    has(office, "withheld"); /* the suspended line is marked */
    lacks(patient, "class=\"banner\"");
    lacks(patient, "For the privacy office");
    lacks(patient, "withheld");
    /* a purpose code without words: a plain phrase for the patient, the
     * code and its count in the office's own section */
    has(patient, "a reason recorded only as a code (ask us what it means)");
    lacks(patient, "LOCALPOU");
    has(office, "1 line holds codes our templates have no words for");
    has(office, "purpose of use LOCALPOU (1)");
    free(patient);
    free(office);
}

static void failed_section(void **state)
{
    char *doc = render(AOD_MODE_ACCESS, AOD_AUDIENCE_PATIENT, "en", 1);

    (void)state;
    assert_int_equal(count(doc, "<table>"), 2);
    assert_int_equal(count(doc, "<caption>"), 2);
    has(doc, "<h2 id=\"listing-2\">Unsuccessful attempts</h2>");
    assert_true(strstr(doc, "Intruder") > strstr(doc, "listing-2"));
    free(doc);
}

static void spanish(void **state)
{
    char *doc = render(AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "es", 0);

    (void)state;
    has(doc, "<html lang=\"es\" dir=\"ltr\">");
    has(doc, "La lista sigue a esta carta.");
    free(doc);
}

static void deterministic(void **state)
{
    char *a = render(AOD_MODE_ACCESS, AOD_AUDIENCE_PRIVACY_OFFICE, "en", 1);
    char *b = render(AOD_MODE_ACCESS, AOD_AUDIENCE_PRIVACY_OFFICE, "en", 1);

    (void)state;
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void refuses_unmasked(void **state)
{
    aod_policy p = test_policy();
    aod_report_info in = test_info(&p, AOD_MODE_DISCLOSURES, AOD_AUDIENCE_PATIENT, "en");
    aod_text *t = load_text("en");
    aod_error err;
    aod_sink *s;
    aod_entry e = line(T_FROM, "x");
    FILE *f = tmpfile();

    (void)state;
    assert_non_null(f);
    aod_error_init(&err);
    assert_null(aod_html_sink_new(NULL, t, &err));
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    aod_error_init(&err);
    s = aod_html_sink_new(f, t, &err);
    assert_non_null(s);
    assert_int_equal(s->begin(s, &in, &err), 0);
    e.shown_name = NULL;
    assert_int_equal(s->entry(s, &e, &err), -1);
    assert_int_equal(err.code, AOD_ERR_INTERNAL);
    s->free(s);
    assert_int_equal(ftell(f), 0); /* nothing written after a failure */
    fclose(f);
    aod_text_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rtl_languages),    cmocka_unit_test(structure),
        cmocka_unit_test(escaping),         cmocka_unit_test(long_words),
        cmocka_unit_test(privacy_copy),     cmocka_unit_test(failed_section),
        cmocka_unit_test(spanish),          cmocka_unit_test(deterministic),
        cmocka_unit_test(refuses_unmasked),
    };
    aod_error err;

    aod_error_init(&err);
    if (aod_timefmt_set_zone("UTC", &err) != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}

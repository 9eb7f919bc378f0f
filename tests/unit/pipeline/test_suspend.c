/*
 * test_suspend.c - 164.528(a)(2) suspensions: written and oral (clamped to 30
 * days by the loader), the inclusive day boundaries, the recipient keys, and
 * the presentation time zone.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>

#include "pipeline/suspend.h"
#include "testutil.h"
#include "base/timefmt.h"

#define POLICY_HEAD                                                                                \
    "<policy xmlns='urn:aodreport:policy:1' name='t'>"                                             \
    "<organisation><name>Riverside Health</name>"                                                  \
    "<privacy-office><name>Privacy</name></privacy-office></organisation>"                         \
    "<classification><rule id='all'><reportable/></rule></classification>"

#define SUSPENSIONS                                                                                \
    "<suspensions>"                                                                                \
    "<suspension id='oig-2024-17' statement='written' start='2024-01-10' end='2024-07-10'>"        \
    "<agency>Office of Inspector General</agency>"                                                 \
    "<covers><name>Office of Inspector General</name>"                                             \
    "<network-domain>oig.example.gov</network-domain></covers></suspension>"                       \
    "<suspension id='pd-call' statement='oral' start='2024-03-01' end='2024-06-01'>"               \
    "<agency>City Police</agency><official>Det. R. Roe</official>"                                 \
    "<covers><identifier value='PD-44'/>"                                                          \
    "<reference>Organization/police</reference></covers></suspension>"                             \
    "<suspension id='pd-open' statement='oral' start='2024-09-01'>"                                \
    "<agency>City Police</agency>"                                                                 \
    "<covers><reference>Organization/police</reference></covers></suspension>"                     \
    "</suspensions>"

static const char utc_policy[] = POLICY_HEAD SUSPENSIONS "</policy>";
static const char ny_policy[] =
    POLICY_HEAD SUSPENSIONS "<presentation time-zone='America/New_York'/></policy>";

typedef struct fixture {
    aod_policy *policy;
    aod_entry e;
} fixture;

static int setup(void **state)
{
    fixture *f = tu_check(calloc(1, sizeof *f));

    f->policy = tu_policy_text(utc_policy);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    aod_policy_free(f->policy);
    free(f);
    return 0;
}

/* A disclosure at iso to a recipient given by name / reference / network. */
static void to(fixture *f, const char *iso, const char *name, const char *ref, const char *net)
{
    memset(&f->e, 0, sizeof f->e);
    f->e.cls = AOD_CLASS_DISCLOSURE;
    f->e.when_start = f->e.when_end = f->e.recorded = tu_time(iso);
    f->e.who.name = name;
    f->e.who.reference = ref;
    f->e.who.network = net;
    f->e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
}

static const char *match_id(fixture *f)
{
    const aod_policy_suspension *s = aod_suspend_match(f->policy, &f->e);

    return s ? s->id : NULL;
}

static void test_loaded_as_expected(void **state)
{
    fixture *f = *state;
    const aod_policy_suspension *s = f->policy->suspensions;

    assert_int_equal(f->policy->n_suspensions, 3);
    assert_int_equal(s[0].statement, AOD_STATEMENT_WRITTEN);
    assert_false(s[0].clamped);
    assert_int_equal(s[1].statement, AOD_STATEMENT_ORAL);
    assert_true(s[1].clamped);
    assert_int_equal(s[1].end.days - s[1].start.days, 30);
    assert_string_equal(s[1].end.text, "2024-03-31");
    assert_string_equal(s[1].end_requested.text, "2024-06-01");
    assert_int_equal(s[2].end.days - s[2].start.days, 30);
}

static void test_written_boundaries(void **state)
{
    fixture *f = *state;

    to(f, "2024-01-10T00:00:00Z", "Office of Inspector General", NULL, NULL);
    assert_string_equal(match_id(f), "oig-2024-17");
    to(f, "2024-07-10T23:59:59.999Z", "office of inspector  general", NULL, NULL);
    assert_string_equal(match_id(f), "oig-2024-17");
    to(f, "2024-01-09T23:59:59.999Z", "Office of Inspector General", NULL, NULL);
    assert_null(match_id(f));
    to(f, "2024-07-11T00:00:00Z", "Office of Inspector General", NULL, NULL);
    assert_null(match_id(f));
    /* by network domain (a sub-domain, a URL) */
    to(f, "2024-03-01T12:00:00Z", "OIG Data Intake", NULL, "https://intake.oig.example.gov/fhir");
    assert_string_equal(match_id(f), "oig-2024-17");
    /* another recipient */
    to(f, "2024-03-01T12:00:00Z", "State Health Department", NULL, "health.example.gov");
    assert_null(match_id(f));
}

static void test_oral_clamped(void **state)
{
    fixture *f = *state;

    to(f, "2024-03-01T00:00:00Z", "Police", "Organization/police", NULL);
    assert_string_equal(match_id(f), "pd-call");
    to(f, "2024-03-31T23:00:00Z", "Police", "Organization/police", NULL);
    assert_string_equal(match_id(f), "pd-call");
    /* the end the statement gave is cut to 30 days */
    to(f, "2024-04-01T00:00:00Z", "Police", "Organization/police", NULL);
    assert_null(match_id(f));
    to(f, "2024-05-15T00:00:00Z", "Police", "Organization/police", NULL);
    assert_null(match_id(f));
    /* identifier key, any system */
    to(f, "2024-03-15T00:00:00Z", NULL, NULL, NULL);
    f->e.who.id_system = "urn:city";
    f->e.who.id_value = "PD-44";
    assert_string_equal(match_id(f), "pd-call");
    /* without an end: 30 days */
    to(f, "2024-10-01T10:00:00Z", NULL, "Organization/police", NULL);
    assert_string_equal(match_id(f), "pd-open");
    to(f, "2024-10-02T00:00:00Z", NULL, "Organization/police", NULL);
    assert_null(match_id(f));
}

static void test_only_disclosures(void **state)
{
    fixture *f = *state;

    to(f, "2024-03-01T12:00:00Z", "Office of Inspector General", NULL, NULL);
    f->e.cls = AOD_CLASS_EXCLUDED;
    assert_null(match_id(f));
    f->e.cls = AOD_CLASS_INTERNAL;
    assert_null(match_id(f));
    assert_null(aod_suspend_match(f->policy, NULL));
}

static void test_time_zone(void **state)
{
    fixture *f = *state;
    struct stat sb;
    aod_error err;

    if (stat("/usr/share/zoneinfo/America/New_York", &sb) != 0)
        skip();
    aod_policy_free(f->policy);
    f->policy = tu_policy_text(ny_policy);
    aod_error_init(&err);
    assert_int_equal(aod_timefmt_set_zone("America/New_York", &err), 0);
    /* 02:00 UTC on 11 July is the evening of 10 July in New York */
    to(f, "2024-07-11T02:00:00Z", "Office of Inspector General", NULL, NULL);
    assert_string_equal(match_id(f), "oig-2024-17");
    to(f, "2024-07-11T04:00:00Z", "Office of Inspector General", NULL, NULL);
    assert_null(match_id(f));
    /* and the start: 03:00 UTC on 10 January is still 9 January there */
    to(f, "2024-01-10T03:00:00Z", "Office of Inspector General", NULL, NULL);
    assert_null(match_id(f));
    assert_int_equal(aod_timefmt_set_zone("UTC", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loaded_as_expected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_written_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oral_clamped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_disclosures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_zone, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

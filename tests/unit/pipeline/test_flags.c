/*
 * test_flags.c - the access flags stage: each flag fires on the evidence it
 * names and not without it, the flags a policy leaves off stay off, a site
 * list never loaded judges nothing, self-access quiets the name flags, the
 * volume-spike window, and the explanation coverage.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/timefmt.h"
#include "model/facts.h"
#include "pipeline/flags.h"
#include "pipeline/notify.h"
#include "testutil.h"

#define HEAD                                                                                       \
    "<policy xmlns='urn:aodreport:policy:1' name='t'>"                                             \
    "<organisation><name>Riverside Health</name>"                                                  \
    "<privacy-office><name>Privacy</name></privacy-office></organisation>"                         \
    "<classification><rule id='all'><internal/></rule></classification>"

#define ALL_FLAGS                                                                                  \
    "<flag id='same-surname'/><flag id='same-address'/><flag id='co-worker'/>"                     \
    "<flag id='vip'/><flag id='self-access'/><flag id='family'/>"                                  \
    "<flag id='outside-employment'/><flag id='no-relationship'/><flag id='after-hours'/>"          \
    "<flag id='volume-spike'/><flag id='emergency'/>"

static const char all_policy[] =
    HEAD "<access-flags spike-min-count='3' spike-factor='2'>" ALL_FLAGS "</access-flags></policy>";
static const char none_policy[] = HEAD "</policy>";
static const char some_policy[] =
    HEAD "<access-flags><flag id='vip'/><flag id='emergency'/>"
         "<flag id='emergency' enabled='false'/></access-flags></policy>";

static const char notify_policy[] =
    HEAD "<access-flags><flag id='after-hours' notify='true'/><flag id='vip'/>"
         "<flag id='emergency' notify='true' enabled='false'/></access-flags></policy>";

static const char *const keys[] = {"Patient/p1", "urn:mrn|77"};

typedef struct fixture {
    aod_policy *policy;
    aod_facts *facts;
    aod_strpool *pool;
    aod_report_info info;
    tu_sink out;
    aod_flags *flags;
} fixture;

static void start(fixture *f, const char *policy_xml)
{
    aod_error err;

    aod_error_init(&err);
    assert_int_equal(aod_timefmt_set_zone("UTC", &err), 0);
    f->policy = tu_policy_text(policy_xml);
    f->pool = tu_check(aod_strpool_new());
    f->facts = tu_check(aod_facts_new());
    memset(&f->info, 0, sizeof f->info);
    f->info.mode = AOD_MODE_ACCESS;
    f->info.audience = AOD_AUDIENCE_PRIVACY_OFFICE;
    f->info.patient_keys = keys;
    f->info.n_patient_keys = 2;
    f->info.from = tu_time("2025-01-01T00:00:00Z");
    f->info.to = tu_time("2026-01-01T00:00:00Z");
    f->info.policy = f->policy;
    f->info.facts = f->facts;
}

/* The site lists of most tests: a roster of three, the patient, a care
 * relationship of dr-1. */
static void usual_facts(fixture *f)
{
    aod_facts *x = f->facts;

    assert_int_equal(aod_facts_add_staff(x, "Practitioner/dr-1", "Ana Lopes", "Lopes", "4 Oak Road",
                                         "Cardiology", tu_time("2020-01-01T00:00:00Z"),
                                         AOD_FACTS_NO_END, NULL),
                     0);
    assert_int_equal(aod_facts_add_staff(x, "Practitioner/dr-3", "Jon Lindqvist", " lindqvist ",
                                         "12 ELM STREET, Springfield", "Emergency",
                                         AOD_FACTS_NO_START, AOD_FACTS_NO_END, NULL),
                     0);
    assert_int_equal(aod_facts_add_staff(x, "urn:users|nurse7", "Sara Lindqvist", "Lindqvist",
                                         "12 Elm Street Springfield", "Cardiology",
                                         AOD_FACTS_NO_START, tu_time("2025-06-01T00:00:00Z"),
                                         "Patient/other\x1furn:mrn|77"),
                     0);
    assert_int_equal(
        aod_facts_add_patient(x, "Lindqvist", "12 Elm Street, Springfield", 0, NULL, 0), 0);
    assert_int_equal(aod_facts_add_care(x, "Practitioner/dr-1", tu_time("2025-03-01T00:00:00Z"),
                                        tu_time("2025-03-11T00:00:00Z")),
                     0);
    aod_facts_set_loaded(x, 1, 1, 1);
    assert_int_equal(aod_facts_finish(x), 0);
}

static void go(fixture *f)
{
    f->flags = tu_check(aod_flags_new(&f->info, f->pool, tu_sink_fn, &f->out));
}

static int teardown(void **state)
{
    fixture *f = *state;

    aod_flags_free(f->flags);
    tu_sink_free(&f->out);
    aod_facts_free(f->facts);
    aod_strpool_free(f->pool);
    aod_policy_free(f->policy);
    free(f);
    return 0;
}

static int setup(void **state)
{
    *state = tu_check(calloc(1, sizeof(fixture)));
    return 0;
}

/* Pushes an access by who at iso; returns the flags of the line handed on. */
static unsigned push(fixture *f, const char *iso, const char *who, const char *purpose)
{
    aod_entry e;
    aod_error err;

    tu_entry(&e, f->pool, tu_time(iso), AOD_CLASS_INTERNAL, 'R', (int64_t)f->out.n + 1);
    e.actor_key = tu_s(f->pool, who);
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.purpose_code = tu_s(f->pool, purpose);
    aod_error_init(&err);
    assert_int_equal(aod_flags_push(f->flags, &e, &err), 0);
    return f->out.v[f->out.n - 1].access_flags;
}

#define BIT(x) (1u << (x))

static void test_name_and_address_flags(void **state)
{
    fixture *f = *state;
    unsigned got;

    start(f, all_policy);
    usual_facts(f);
    go(f);
    /* dr-3: same surname (case and spaces aside), same address (punctuation aside) */
    got = push(f, "2025-03-03T10:00:00Z", "Practitioner/dr-3", "TREAT");
    assert_true(got & BIT(AOD_AFLAG_SAME_SURNAME));
    assert_true(got & BIT(AOD_AFLAG_SAME_ADDRESS));
    assert_true(got & BIT(AOD_AFLAG_FAMILY));
    assert_non_null(strstr(f->out.v[0].access_evidence, "family: Practitioner/dr-3"));
    /* dr-1 shares neither */
    got = push(f, "2025-03-03T11:00:00Z", "Practitioner/dr-1", "TREAT");
    assert_int_equal(got, 0);
    assert_null(f->out.v[1].access_evidence);
}

static void test_self_access_quiets_name_flags(void **state)
{
    fixture *f = *state;
    aod_entry e;
    aod_error err;

    start(f, all_policy);
    usual_facts(f);
    go(f);
    /* nurse 7 is known by identifier; the event names her by reference too */
    tu_entry(&e, f->pool, tu_time("2025-03-04T10:00:00Z"), AOD_CLASS_INTERNAL, 'R', 1);
    e.actor_key = tu_s(f->pool, "Practitioner/n7");
    e.actor_id_key = tu_s(f->pool, "urn:users|nurse7");
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.purpose_code = tu_s(f->pool, "TREAT");
    aod_error_init(&err);
    assert_int_equal(aod_flags_push(f->flags, &e, &err), 0);
    assert_int_equal(f->out.v[0].access_flags, BIT(AOD_AFLAG_SELF_ACCESS));
    assert_non_null(strstr(f->out.v[0].access_evidence, "urn:mrn|77"));
}

static void test_outside_employment(void **state)
{
    fixture *f = *state;

    start(f, all_policy);
    usual_facts(f);
    go(f);
    /* dr-1 started 2020-01-01, no end: inside */
    assert_false(push(f, "2025-03-05T10:00:00Z", "Practitioner/dr-1", "TREAT") &
                 BIT(AOD_AFLAG_OUTSIDE_EMPLOYMENT));
    /* nurse 7 left on 2025-05-31 (end exclusive 06-01) */
    assert_false(push(f, "2025-05-31T23:00:00Z", "urn:users|nurse7", "TREAT") &
                 BIT(AOD_AFLAG_OUTSIDE_EMPLOYMENT));
    assert_true(push(f, "2025-06-01T00:00:00Z", "urn:users|nurse7", "TREAT") &
                BIT(AOD_AFLAG_OUTSIDE_EMPLOYMENT));
    /* not on the roster: nothing to judge */
    assert_false(push(f, "2025-06-02T10:00:00Z", "Practitioner/stranger", "TREAT") &
                 BIT(AOD_AFLAG_OUTSIDE_EMPLOYMENT));
}

static void test_no_relationship_window(void **state)
{
    fixture *f = *state;

    start(f, all_policy);
    usual_facts(f);
    go(f);
    /* care 03-01 .. 03-10 (to 03-11 exclusive), window 24 h */
    assert_false(push(f, "2025-03-05T10:00:00Z", "Practitioner/dr-1", NULL) &
                 BIT(AOD_AFLAG_NO_RELATIONSHIP));
    assert_false(push(f, "2025-03-11T20:00:00Z", "Practitioner/dr-1", NULL) &
                 BIT(AOD_AFLAG_NO_RELATIONSHIP));
    assert_true(push(f, "2025-03-13T10:00:00Z", "Practitioner/dr-1", NULL) &
                BIT(AOD_AFLAG_NO_RELATIONSHIP));
    /* a device is no person with a care relationship */
    assert_false(push(f, "2025-03-13T11:00:00Z", "Device/interface", NULL) &
                 BIT(AOD_AFLAG_NO_RELATIONSHIP));
}

static void test_lists_never_loaded_judge_nothing(void **state)
{
    fixture *f = *state;

    start(f, all_policy);
    aod_facts_set_loaded(f->facts, 0, 0, 0);
    assert_int_equal(aod_facts_finish(f->facts), 0);
    go(f);
    /* on a weekday in hours, with a purpose: no flag without the lists */
    assert_int_equal(push(f, "2025-03-04T10:00:00Z", "Practitioner/dr-1", "TREAT"), 0);
}

static void test_after_hours(void **state)
{
    fixture *f = *state;

    start(f, all_policy);
    go(f);
    assert_false(push(f, "2025-03-03T07:00:00Z", "Practitioner/dr-1", "TREAT") &
                 BIT(AOD_AFLAG_AFTER_HOURS)); /* Monday 07:00 */
    assert_true(push(f, "2025-03-03T06:59:00Z", "Practitioner/dr-2", "TREAT") &
                BIT(AOD_AFLAG_AFTER_HOURS));
    assert_true(push(f, "2025-03-03T19:00:00Z", "Practitioner/dr-3", "TREAT") &
                BIT(AOD_AFLAG_AFTER_HOURS));
    assert_true(push(f, "2025-03-08T12:00:00Z", "Practitioner/dr-4", "TREAT") &
                BIT(AOD_AFLAG_AFTER_HOURS)); /* Saturday */
    assert_non_null(strstr(f->out.v[3].access_evidence, "Saturday, not a working day"));
}

static void test_volume_spike(void **state)
{
    fixture *f = *state;

    start(f, all_policy); /* min 3, factor 2, 24 h */
    go(f);
    /* a usual rate: one a day, never a spike */
    assert_false(push(f, "2025-01-01T10:00:00Z", "P/a", "TREAT") & BIT(AOD_AFLAG_VOLUME_SPIKE));
    assert_false(push(f, "2025-01-02T10:00:00Z", "P/a", "TREAT") & BIT(AOD_AFLAG_VOLUME_SPIKE));
    assert_false(push(f, "2025-01-03T10:00:00Z", "P/a", "TREAT") & BIT(AOD_AFLAG_VOLUME_SPIKE));
    assert_false(push(f, "2025-01-03T11:00:00Z", "P/a", "TREAT") & BIT(AOD_AFLAG_VOLUME_SPIKE));
    /* three within 24 h, but only 1.5x the usual (2 before, in 1 window) */
    assert_false(push(f, "2025-01-03T12:00:00Z", "P/a", "TREAT") & BIT(AOD_AFLAG_VOLUME_SPIKE));
    /* four within 24 h: twice the usual, and at least three */
    assert_true(push(f, "2025-01-03T13:00:00Z", "P/a", "TREAT") & BIT(AOD_AFLAG_VOLUME_SPIKE));
    assert_non_null(strstr(f->out.v[5].access_evidence, "4 accesses within 24 h; before them 2"));
    /* another person's count is their own */
    assert_false(push(f, "2025-01-03T14:00:00Z", "P/b", "TREAT") & BIT(AOD_AFLAG_VOLUME_SPIKE));
}

static void test_emergency_and_vip(void **state)
{
    fixture *f = *state;
    aod_entry e;
    aod_error err;

    start(f, all_policy);
    assert_int_equal(aod_facts_add_patient(f->facts, NULL, NULL, 1, NULL, 0), 0);
    aod_facts_set_loaded(f->facts, 0, 1, 0);
    assert_int_equal(aod_facts_finish(f->facts), 0);
    go(f);
    assert_int_equal(push(f, "2025-03-03T10:00:00Z", "Practitioner/dr-1", "ETREAT"),
                     BIT(AOD_AFLAG_VIP) | BIT(AOD_AFLAG_EMERGENCY));
    tu_entry(&e, f->pool, tu_time("2025-03-03T11:00:00Z"), AOD_CLASS_INTERNAL, 'R', 9);
    e.activity = tu_s(f->pool, "emergency-access");
    aod_error_init(&err);
    assert_int_equal(aod_flags_push(f->flags, &e, &err), 0);
    assert_true(f->out.v[1].access_flags & BIT(AOD_AFLAG_EMERGENCY));
    /* the report's own runs carry none */
    tu_entry(&e, f->pool, tu_time("2025-03-03T12:00:00Z"), AOD_CLASS_INTERNAL, 'R', 10);
    e.flags = AOD_ENTRY_SELF_AUDIT;
    assert_int_equal(aod_flags_push(f->flags, &e, &err), 0);
    assert_int_equal(f->out.v[2].access_flags, 0);
}

static void test_policy_turns_flags_on_and_off(void **state)
{
    fixture *f = *state;

    start(f, some_policy);
    assert_int_equal(f->policy->access_flags.enabled, BIT(AOD_AFLAG_VIP));
    assert_int_equal(aod_facts_add_patient(f->facts, NULL, NULL, 1, NULL, 0), 0);
    aod_facts_set_loaded(f->facts, 0, 1, 0);
    assert_int_equal(aod_facts_finish(f->facts), 0);
    go(f);
    /* emergency was turned off again; after-hours never on (Sunday) */
    assert_int_equal(push(f, "2025-03-02T03:00:00Z", "Practitioner/dr-1", "ETREAT"),
                     BIT(AOD_AFLAG_VIP));
}

static void test_no_flags_without_access_flags(void **state)
{
    fixture *f = *state;

    start(f, none_policy);
    usual_facts(f);
    go(f);
    assert_int_equal(f->policy->access_flags.enabled, 0);
    assert_int_equal(push(f, "2025-03-02T03:00:00Z", "Practitioner/dr-3", "ETREAT"), 0);
}

/* The notify stage (batch --notify): which lines the patient's digest
 * names, and why (pipeline/notify.h). */
static unsigned mark(aod_notify *n, aod_entry *e)
{
    aod_error err;

    aod_error_init(&err);
    assert_int_equal(aod_notify_mark(n, e, &err), 0);
    return e->notify;
}

static void test_notify(void **state)
{
    fixture *f = *state;
    static const char *const seen[] = {"Northside Clinic", "Organization/zz"};
    aod_notify *n;
    aod_entry e;

    start(f, notify_policy);
    /* notify only on a flag that is on: emergency was turned off */
    assert_int_equal(f->policy->access_flags.notify, BIT(AOD_AFLAG_AFTER_HOURS));
    f->info.seen_orgs = seen;
    f->info.n_seen_orgs = 2;
    assert_int_equal(aod_facts_add_patient(f->facts, NULL, NULL, 0, NULL, 0), 0);
    aod_facts_set_loaded(f->facts, 0, 1, 0);
    assert_int_equal(aod_facts_finish(f->facts), 0);
    n = tu_check(aod_notify_new(&f->info));

    /* a routine access by staff: nothing */
    tu_entry(&e, f->pool, tu_time("2025-03-03T10:00:00Z"), AOD_CLASS_INTERNAL, 'R', 1);
    e.who.cls = AOD_ACTOR_WORKFORCE;
    e.who.organisation = "Example Hospital";
    assert_int_equal(mark(n, &e), 0);
    /* a flag the policy marks notify: review; one it does not: nothing */
    e.access_flags = BIT(AOD_AFLAG_AFTER_HOURS) | BIT(AOD_AFLAG_VIP);
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_FLAGGED));
    e.access_flags = BIT(AOD_AFLAG_VIP);
    assert_int_equal(mark(n, &e), 0);
    e.access_flags = 0;
    /* an emergency purpose, the emergency flag off or not */
    e.purpose_code = "ETREAT";
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_EMERGENCY));
    e.purpose_code = NULL;

    /* a disclosure to an organisation seen before: a disclosure, not new */
    tu_entry(&e, f->pool, tu_time("2025-03-04T10:00:00Z"), AOD_CLASS_DISCLOSURE, 'R', 2);
    e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
    e.who.name = "Northside Clinic";
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_DISCLOSURE));
    /* a new one: new the first time only */
    e.who.name = "Lakeview Hospital";
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_NEW_ORGANISATION) | BIT(AOD_NOTIFY_DISCLOSURE));
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_DISCLOSURE));
    /* an outside person of a new organisation, by its organisation */
    e.cls = AOD_CLASS_INTERNAL;
    e.who.cls = AOD_ACTOR_EXTERNAL_PERSON;
    e.who.name = "Dr. Out Side";
    e.who.organisation = "Hillcrest Practice";
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_NEW_ORGANISATION));
    /* a disclosure to the patient themselves, a failed one, our own run: nothing */
    e.who.organisation = "Hillcrest Practice";
    e.cls = AOD_CLASS_EXCLUDED;
    e.exclusion = AOD_EXCL_II;
    assert_int_equal(mark(n, &e), 0);
    e.exclusion = AOD_EXCL_IV;
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_DISCLOSURE));
    e.flags = AOD_ENTRY_FAILED;
    assert_int_equal(mark(n, &e), 0);
    e.flags = AOD_ENTRY_SELF_AUDIT;
    assert_int_equal(mark(n, &e), 0);
    aod_notify_free(n);
}

static void test_notify_restricted(void **state)
{
    fixture *f = *state;
    aod_notify *n;
    aod_entry e;

    start(f, none_policy);
    assert_int_equal(aod_facts_add_patient(f->facts, NULL, NULL, 1, NULL, 0), 0);
    aod_facts_set_loaded(f->facts, 0, 1, 0);
    assert_int_equal(aod_facts_finish(f->facts), 0);
    n = tu_check(aod_notify_new(&f->info));
    /* every access to a restricted record, the vip flag on or not */
    tu_entry(&e, f->pool, tu_time("2025-03-03T10:00:00Z"), AOD_CLASS_INTERNAL, 'R', 1);
    e.who.cls = AOD_ACTOR_WORKFORCE;
    assert_int_equal(mark(n, &e), BIT(AOD_NOTIFY_RESTRICTED));
    aod_notify_free(n);
}

static void test_coverage(void **state)
{
    fixture *f = *state;
    aod_report_summary sum;
    aod_error err;

    start(f, none_policy);
    usual_facts(f);
    go(f);
    push(f, "2025-03-05T10:00:00Z", "Practitioner/dr-1", NULL);    /* care */
    push(f, "2025-04-05T10:00:00Z", "Practitioner/dr-1", NULL);    /* nothing */
    push(f, "2025-04-05T11:00:00Z", "Practitioner/dr-3", "TREAT"); /* purpose */
    push(f, "2025-04-05T12:00:00Z", "Practitioner/dr-3", "TREAT");
    push(f, "2025-04-05T13:00:00Z", "Practitioner/dr-3", NULL);
    memset(&sum, 0, sizeof sum);
    aod_error_init(&err);
    assert_int_equal(aod_flags_summary(f->flags, &sum, &err), 0);
    assert_int_equal(sum.coverage_accesses, 5);
    assert_int_equal(sum.coverage_explained, 3);
    assert_int_equal(sum.n_coverage, 2);
    /* most accesses first */
    assert_string_equal(sum.coverage[0].who, "Practitioner/dr-3");
    assert_int_equal(sum.coverage[0].accesses, 3);
    assert_int_equal(sum.coverage[0].explained, 2);
    assert_string_equal(sum.coverage[1].who, "Practitioner/dr-1");
    assert_int_equal(sum.coverage[1].explained, 1);
    assert_int_equal(sum.flags_on, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_name_and_address_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_access_quiets_name_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outside_employment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_relationship_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists_never_loaded_judge_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_hours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_volume_spike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emergency_and_vip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_turns_flags_on_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_flags_without_access_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coverage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_restricted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

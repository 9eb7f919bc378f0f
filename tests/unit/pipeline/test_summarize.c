/*
 * test_summarize.c - stage "summarize": 164.528(b)(3) summary lines.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "pipeline/summarize.h"
#include "testutil.h"

#define DAY ((int64_t)86400000)

typedef struct fixture {
    aod_policy policy;
    aod_strpool *pool;
    aod_summarize *s;
    tu_sink sink;
    int64_t next_id;
} fixture;

static int setup(void **state)
{
    fixture *f = tu_check(calloc(1, sizeof *f));

    f->policy.summarize.enabled = 1;
    f->policy.summarize.min_count = 2;
    f->pool = tu_check(aod_strpool_new());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    aod_summarize_free(f->s);
    aod_strpool_free(f->pool);
    tu_sink_free(&f->sink);
    free(f);
    return 0;
}

static void start(fixture *f)
{
    f->s = aod_summarize_new(&f->policy, f->pool, tu_sink_fn, &f->sink);
    assert_non_null(f->s);
}

/* Pushes a disclosure to recipient (a reference, or a name when it has no
 * '/') for purpose, on day `day` of 2024 (1-based), with raw records. */
static void disclose(fixture *f, const char *recipient, const char *purpose, int day, long raw)
{
    aod_entry e;
    aod_error err;
    int64_t *ids;
    long i;

    tu_entry(&e, f->pool, tu_time("2024-01-01T12:00:00Z") + (day - 1) * DAY, AOD_CLASS_DISCLOSURE,
             'R', 0);
    ids = tu_check(aod_strpool_alloc(f->pool, (size_t)raw * sizeof *ids));
    for (i = 0; i < raw; i++)
        ids[i] = ++f->next_id;
    e.record_ids = ids;
    e.n_record_ids = (size_t)raw;
    e.raw_count = raw;
    e.group = f->next_id;
    if (strchr(recipient, '/'))
        e.who.reference = tu_s(f->pool, recipient);
    e.who.name = tu_s(f->pool, strchr(recipient, '/') ? "State Health Department" : recipient);
    e.who.cls = AOD_ACTOR_EXTERNAL_ORGANISATION;
    e.purpose_system = tu_s(f->pool, TU_ACT_REASON);
    e.purpose_code = tu_s(f->pool, purpose);
    if (!purpose)
        e.flags |= AOD_ENTRY_PURPOSE_UNKNOWN;
    e.rule_id = tu_s(f->pool, purpose ? "public-health" : "no-purpose-export");
    e.data = tu_s(f->pool, day == 3 ? "immunization record" : "lab result");
    aod_error_init(&err);
    assert_int_equal(aod_summarize_push(f->s, &e, &err), 0);
}

static void finish(fixture *f)
{
    aod_error err;

    aod_error_init(&err);
    assert_int_equal(aod_summarize_finish(f->s, &err), 0);
}

static void test_three_to_one_agency(void **state)
{
    fixture *f = *state;
    const aod_entry *l;

    start(f);
    disclose(f, "Organization/health-dept", "PUBHLTH", 3, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 40, 2);
    disclose(f, "Organization/health-dept", "PUBHLTH", 100, 1);
    assert_int_equal(f->sink.n, 0); /* nothing before finish */
    finish(f);
    assert_int_equal(f->sink.n, 1);
    l = &f->sink.v[0];
    assert_true(l->flags & AOD_ENTRY_SUMMARY);
    assert_int_equal(l->count, 3);
    assert_int_equal(l->raw_count, 4);
    assert_int_equal(l->first, tu_time("2024-01-03T12:00:00Z"));
    assert_int_equal(l->last, tu_time("2024-04-09T12:00:00Z"));
    /* the first disclosure in full */
    assert_int_equal(l->when_start, tu_time("2024-01-03T12:00:00Z"));
    assert_string_equal(l->data, "immunization record");
    assert_string_equal(l->who.reference, "Organization/health-dept");
    assert_string_equal(l->purpose_code, "PUBHLTH");
    assert_int_equal(l->group, 1);
    assert_int_equal(l->n_record_ids, 4);
    assert_int_equal(l->record_ids[0], 1);
    assert_int_equal(l->record_ids[3], 4);
}

static void test_single_stays_plain(void **state)
{
    fixture *f = *state;

    start(f);
    disclose(f, "Organization/health-dept", "PUBHLTH", 10, 1);
    disclose(f, "Organization/registry", "PUBHLTH", 5, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 20, 1);
    finish(f);
    assert_int_equal(f->sink.n, 2);
    /* in order of first date: the registry (day 5), then the summary (day 10) */
    assert_string_equal(f->sink.v[0].who.reference, "Organization/registry");
    assert_false(f->sink.v[0].flags & AOD_ENTRY_SUMMARY);
    assert_int_equal(f->sink.v[0].count, 1);
    assert_int_equal(f->sink.v[0].first, f->sink.v[0].when_start);
    assert_true(f->sink.v[1].flags & AOD_ENTRY_SUMMARY);
    assert_int_equal(f->sink.v[1].count, 2);
}

static void test_purposes_apart(void **state)
{
    fixture *f = *state;

    start(f);
    disclose(f, "Organization/health-dept", "PUBHLTH", 1, 1);
    disclose(f, "Organization/health-dept", "HLEGAL", 2, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 3, 1);
    disclose(f, "Organization/health-dept", "HLEGAL", 4, 1);
    disclose(f, "Organization/health-dept", "HRESCH", 5, 1);
    finish(f);
    assert_int_equal(f->sink.n, 3);
    assert_string_equal(f->sink.v[0].purpose_code, "PUBHLTH");
    assert_int_equal(f->sink.v[0].count, 2);
    assert_int_equal(f->sink.v[0].last, tu_time("2024-01-03T12:00:00Z"));
    assert_string_equal(f->sink.v[1].purpose_code, "HLEGAL");
    assert_int_equal(f->sink.v[1].count, 2);
    assert_string_equal(f->sink.v[2].purpose_code, "HRESCH");
    assert_false(f->sink.v[2].flags & AOD_ENTRY_SUMMARY);
}

/* Names compare without case or extra spaces; an unknown purpose is never
 * summarised; min-count and enabled are honoured. */
static void test_names_purposes_settings(void **state)
{
    fixture *f = *state;

    start(f);
    disclose(f, "Acme  Law Group", "HLEGAL", 1, 1);
    disclose(f, "acme law group ", "HLEGAL", 2, 1);
    disclose(f, "Organization/x", NULL, 3, 1);
    disclose(f, "Organization/x", NULL, 4, 1);
    finish(f);
    assert_int_equal(f->sink.n, 3);
    assert_true(f->sink.v[0].flags & AOD_ENTRY_SUMMARY);
    assert_string_equal(f->sink.v[0].who.name, "Acme  Law Group");
    assert_int_equal(f->sink.v[1].count, 1);
    assert_int_equal(f->sink.v[2].count, 1);

    aod_summarize_free(f->s);
    tu_sink_free(&f->sink);
    f->policy.summarize.min_count = 3;
    start(f);
    disclose(f, "Organization/health-dept", "PUBHLTH", 1, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 2, 1);
    finish(f);
    assert_int_equal(f->sink.n, 2);
    assert_false(f->sink.v[0].flags & AOD_ENTRY_SUMMARY);

    aod_summarize_free(f->s);
    tu_sink_free(&f->sink);
    f->policy.summarize.min_count = 2;
    f->policy.summarize.enabled = 0;
    start(f);
    disclose(f, "Organization/health-dept", "PUBHLTH", 2, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 1, 1);
    finish(f);
    assert_int_equal(f->sink.n, 2);
    assert_int_equal(f->sink.v[0].when_start, tu_time("2024-01-01T12:00:00Z"));
    assert_false(f->sink.v[0].flags & AOD_ENTRY_SUMMARY);
}

/* The first disclosure is the earliest by date, whatever the arrival. */
static void test_first_by_date(void **state)
{
    fixture *f = *state;

    start(f);
    disclose(f, "Organization/health-dept", "PUBHLTH", 9, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 3, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 6, 1);
    finish(f);
    assert_int_equal(f->sink.n, 1);
    assert_int_equal(f->sink.v[0].first, tu_time("2024-01-03T12:00:00Z"));
    assert_int_equal(f->sink.v[0].last, tu_time("2024-01-09T12:00:00Z"));
    assert_string_equal(f->sink.v[0].data, "immunization record");
    assert_int_equal(f->sink.v[0].group, 2);
    /* ids in arrival order */
    assert_int_equal(f->sink.v[0].record_ids[0], 1);
    assert_int_equal(f->sink.v[0].record_ids[2], 3);
}

static void test_sink_error(void **state)
{
    fixture *f = *state;
    aod_error err;

    f->sink.fail_at = 1;
    start(f);
    disclose(f, "Organization/health-dept", "PUBHLTH", 1, 1);
    disclose(f, "Organization/health-dept", "PUBHLTH", 2, 1);
    aod_error_init(&err);
    assert_int_equal(aod_summarize_finish(f->s, &err), -1);
    assert_int_equal(err.code, AOD_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_to_one_agency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_stays_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purposes_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_purposes_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_by_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_error, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
